//! Turns a spec document (YAML or JSON) into a [`ConnectorSpec`].
//!
//! Every fault names the file and the JSON pointer where it is, so a spec author can go straight
//! to it. Extensions are read in both spellings, `x-<name>` and `x-airbyte-<name>`.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};
use serde_json_path::JsonPath;

use super::*;
use crate::error::{Error, Result};

const ACTIONS: [&str; 7] = ["get", "list", "search", "create", "update", "delete", "download"];
const METHODS: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];

/// Parses spec text (YAML, of which JSON is a subset) from `source` (a file name).
pub fn parse_spec(source: &str, text: &str) -> Result<ConnectorSpec> {
    let doc: Value = serde_norway::from_str(text).map_err(|e| {
        let at = e.location().map(|l| format!(" at line {}, column {}", l.line(), l.column())).unwrap_or_default();
        Error::configuration(format!("spec {source}: not valid YAML{at}: {e}"))
    })?;
    parse_spec_value(source, &doc)
}

/// Parses an already-decoded spec document.
pub fn parse_spec_value(source: &str, doc: &Value) -> Result<ConnectorSpec> {
    Loader { source, root: doc }.spec()
}

/// Document-level settings operations inherit.
struct DocDefaults {
    retry: RetryConfig,
    idempotency_header: Option<String>,
    error_check: Option<ResponseErrorCheck>,
}

struct Loader<'a> {
    source: &'a str,
    root: &'a Value,
}

/// Escapes one JSON pointer token.
fn tok(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Reads an extension in either spelling.
fn ext<'v>(obj: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    obj.get(&format!("x-{name}")).or_else(|| obj.get(&format!("x-airbyte-{name}")))
}

fn ext_key(obj: &Map<String, Value>, name: &str) -> String {
    if obj.contains_key(&format!("x-{name}")) {
        format!("x-{name}")
    } else {
        format!("x-airbyte-{name}")
    }
}

fn as_str(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

fn as_bool(v: Option<&Value>) -> bool {
    v.and_then(Value::as_bool).unwrap_or(false)
}

impl<'a> Loader<'a> {
    fn err(&self, pointer: &str, what: impl std::fmt::Display) -> Error {
        Error::configuration(format!(
            "spec {}: at {}: {}",
            self.source,
            if pointer.is_empty() { "/" } else { pointer },
            what
        ))
    }

    fn obj<'v>(&self, v: &'v Value, pointer: &str) -> Result<&'v Map<String, Value>> {
        v.as_object().ok_or_else(|| self.err(pointer, "expected an object"))
    }

    /// Follows `$ref`s (local ones only) until a non-reference value.
    fn resolve<'v>(&self, mut v: &'v Value, pointer: &str) -> Result<&'v Value>
    where
        'a: 'v,
    {
        for _ in 0..32 {
            let Some(r) = v.get("$ref").and_then(Value::as_str) else {
                return Ok(v);
            };
            let Some(local) = r.strip_prefix('#') else {
                return Err(self.err(pointer, format!("only local $ref are supported, found {r:?}")));
            };
            v = self.root.pointer(local).ok_or_else(|| self.err(pointer, format!("$ref {r:?} points at nothing")))?;
        }
        Err(self.err(pointer, "$ref chain too deep (a cycle?)"))
    }

    /// A schema with `$ref` resolved and `allOf` parts merged (properties and required).
    fn schema(&self, v: &Value, pointer: &str, depth: usize) -> Result<Value> {
        let v = self.resolve(v, pointer)?;
        let Some(all) = v.get("allOf").and_then(Value::as_array) else {
            return Ok(v.clone());
        };
        if depth > 16 {
            return Err(self.err(pointer, "allOf nesting too deep"));
        }
        let mut merged = v.as_object().cloned().unwrap_or_default();
        merged.remove("allOf");
        let mut props = Map::new();
        let mut required: Vec<Value> = Vec::new();
        for (i, part) in all.iter().enumerate() {
            let part = self.schema(part, &format!("{pointer}/allOf/{i}"), depth + 1)?;
            if let Some(p) = part.get("properties").and_then(Value::as_object) {
                props.extend(p.clone());
            }
            if let Some(r) = part.get("required").and_then(Value::as_array) {
                required.extend(r.iter().cloned());
            }
            if merged.get("type").is_none() {
                if let Some(t) = part.get("type") {
                    merged.insert("type".into(), t.clone());
                }
            }
        }
        if let Some(p) = merged.get("properties").and_then(Value::as_object) {
            props.extend(p.clone());
        }
        if let Some(r) = merged.get("required").and_then(Value::as_array) {
            required.extend(r.iter().cloned());
        }
        merged.insert("properties".into(), Value::Object(props));
        merged.insert("required".into(), Value::Array(required));
        Ok(Value::Object(merged))
    }

    /// A schema with every nested `$ref` and `allOf` resolved (properties, items, anyOf,
    /// oneOf), so params can be validated deeply. Past a depth of 12 (recursive schemas) the
    /// rest is left open (`{}`).
    fn inline(&self, v: &Value, pointer: &str, depth: usize) -> Result<Value> {
        if depth > 12 {
            return Ok(Value::Object(Map::new()));
        }
        let mut s = self.schema(v, pointer, 0)?;
        if let Some(obj) = s.as_object_mut() {
            if let Some(Value::Object(props)) = obj.get("properties").cloned() {
                let mut out = Map::new();
                for (k, p) in props {
                    out.insert(k.clone(), self.inline(&p, &format!("{pointer}/properties/{}", tok(&k)), depth + 1)?);
                }
                obj.insert("properties".into(), Value::Object(out));
            }
            if let Some(items) = obj.get("items").cloned() {
                obj.insert("items".into(), self.inline(&items, &format!("{pointer}/items"), depth + 1)?);
            }
            for key in ["anyOf", "oneOf"] {
                if let Some(Value::Array(alts)) = obj.get(key).cloned() {
                    let mut out = Vec::new();
                    for (i, a) in alts.iter().enumerate() {
                        out.push(self.inline(a, &format!("{pointer}/{key}/{i}"), depth + 1)?);
                    }
                    obj.insert(key.into(), Value::Array(out));
                }
            }
        }
        Ok(s)
    }

    fn spec(&self) -> Result<ConnectorSpec> {
        let root = self.obj(self.root, "")?;
        let version = as_str(root.get("openapi")).unwrap_or_default();
        if !version.starts_with("3.") {
            return Err(self.err("/openapi", format!("expected an OpenAPI 3.x document, found {version:?}")));
        }
        let info = self.obj(root.get("info").ok_or_else(|| self.err("/info", "missing"))?, "/info")?;
        let slug = as_str(ext(info, "connector-name"))
            .ok_or_else(|| self.err("/info/x-connector-name", "missing: every spec names its connector slug"))?;
        let definition_id = as_str(ext(info, "connector-definition-id"))
            .ok_or_else(|| self.err("/info/x-connector-definition-id", "missing"))?;
        let title = as_str(info.get("title")).unwrap_or_else(|| slug.clone());
        let display_name = as_str(ext(info, "connector-display-name"))
            .unwrap_or_else(|| title.trim_end_matches(" API Connector").trim_end_matches(" API").to_string());
        let description = as_str(info.get("description")).map(|d| d.trim().to_string());
        let version = as_str(info.get("version")).unwrap_or_else(|| "0.0.0".to_string());
        let replication_config = ext(info, "replication-config").cloned();

        let retry = match ext(info, "retry-config") {
            Some(v) => self.retry(v, &format!("/info/{}", ext_key(info, "retry-config")), RetryConfig::default())?,
            None => RetryConfig::default(),
        };

        let error_check = match ext(info, "response-error-check") {
            Some(v) => Some(self.error_check(v, &format!("/info/{}", ext_key(info, "response-error-check")))?),
            None => None,
        };
        let doc = DocDefaults { retry, idempotency_header: as_str(ext(info, "idempotency-key")), error_check };
        let servers = root
            .get("servers")
            .and_then(Value::as_array)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| self.err("/servers", "missing: a spec needs servers[0].url"))?;
        let server_url = as_str(servers[0].get("url")).ok_or_else(|| self.err("/servers/0/url", "missing"))?;
        let other_server_urls = servers[1..]
            .iter()
            .enumerate()
            .map(|(i, s)| as_str(s.get("url")).ok_or_else(|| self.err(&format!("/servers/{}/url", i + 1), "missing")))
            .collect::<Result<Vec<_>>>()?;
        let mut server_variables = BTreeMap::new();
        let mut server_variable_sources = BTreeMap::new();
        if let Some(vars) = servers[0].get("variables").and_then(Value::as_object) {
            for (k, v) in vars {
                if let Some(src) = v.as_object().and_then(|o| ext(o, "from-credential")) {
                    let ptr = format!("/servers/0/variables/{}/x-from-credential", tok(k));
                    server_variable_sources.insert(k.clone(), self.credential_part(src, &ptr)?);
                }
                server_variables.insert(
                    k.clone(),
                    v.get("default").map(|d| match d {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    }),
                );
            }
        }
        // Placeholders without a declared variable must come from config too.
        let mut rest = server_url.as_str();
        while let Some(start) = rest.find('{') {
            let Some(end) = rest[start..].find('}') else { break };
            let name = &rest[start + 1..start + end];
            server_variables.entry(name.to_string()).or_insert(None);
            rest = &rest[start + end + 1..];
        }

        let auth_schemes = self.auth_schemes(root)?;
        for (var, part) in &server_variable_sources {
            if !auth_schemes.iter().any(|s| s.fields.iter().any(|f| f.name == part.field)) {
                return Err(self.err(
                    &format!("/servers/0/variables/{}/x-from-credential/field", tok(var)),
                    format!("names {:?}, which is not a credential field of any auth scheme", part.field),
                ));
            }
        }

        let paths = self.obj(root.get("paths").ok_or_else(|| self.err("/paths", "missing"))?, "/paths")?;
        let mut operations = Vec::new();
        let mut index = HashMap::new();
        for (path_key, item) in paths {
            let item_ptr = format!("/paths/{}", tok(path_key));
            let item = self.obj(self.resolve(item, &item_ptr)?, &item_ptr)?;
            let shared_params = item.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
            for (method, op) in item {
                if !METHODS.contains(&method.as_str()) {
                    continue;
                }
                let ptr = format!("{item_ptr}/{method}");
                let op_obj = self.obj(op, &ptr)?;
                let (Some(entity), Some(action)) = (ext(op_obj, "entity"), ext(op_obj, "action")) else {
                    continue; // plain OpenAPI operations that are not connector operations
                };
                let operation = self.operation(path_key, method, op_obj, entity, action, &shared_params, &ptr, &doc)?;
                let key = (operation.entity.clone(), operation.action.clone());
                if let Some(&prev) = index.get(&key) {
                    // Reference-format files sometimes define an operation on two paths; the
                    // last one wins, as it does in the reference runtime (its index is a map
                    // filled in document order; the differential test shows it), and the spec
                    // still loads.
                    let ignored = std::mem::replace(&mut operations[prev], operation);
                    tracing::warn!(spec = self.source, operation = %format!("{}.{}", key.0, key.1), ignored = %ignored.pointer, kept = %ptr, "operation defined twice; keeping the last");
                    continue;
                }
                index.insert(key, operations.len());
                operations.push(operation);
            }
        }
        if operations.is_empty() {
            return Err(self.err("/paths", "no operation has x-entity and x-action"));
        }
        Ok(ConnectorSpec {
            slug,
            definition_id,
            display_name,
            description,
            version,
            server_url,
            other_server_urls,
            server_variables,
            server_variable_sources,
            auth_schemes,
            operations,
            replication_config,
            retry,
            source: self.source.to_string(),
            index,
        })
    }

    /// `x-from-credential: {field, after, before}` on a server variable.
    fn credential_part(&self, v: &Value, ptr: &str) -> Result<CredentialPart> {
        let o = self.obj(v, ptr)?;
        for k in o.keys() {
            if !["field", "after", "before"].contains(&k.as_str()) {
                return Err(self.err(&format!("{ptr}/{}", tok(k)), "unknown key (field, after and before are known)"));
            }
        }
        let field = as_str(o.get("field"))
            .filter(|f| !f.trim().is_empty())
            .ok_or_else(|| self.err(&format!("{ptr}/field"), "missing: the credential field to take the value from"))?;
        let sep = |k: &str| -> Result<Option<String>> {
            match o.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
                Some(_) => Err(self.err(&format!("{ptr}/{k}"), "expected a non-empty separator text (e.g. \"-\")")),
            }
        };
        Ok(CredentialPart { field, after: sep("after")?, before: sep("before")? })
    }

    /// `x-response-error-check: {field, on_value | ok_value, message_field, codes}`.
    fn error_check(&self, v: &Value, ptr: &str) -> Result<ResponseErrorCheck> {
        let o = self.obj(v, ptr)?;
        for k in o.keys() {
            if !["field", "on_value", "ok_value", "message_field", "codes"].contains(&k.as_str()) {
                return Err(self.err(
                    &format!("{ptr}/{}", tok(k)),
                    "unknown key (field, on_value, ok_value, message_field and codes are known)",
                ));
            }
        }
        let field = as_str(o.get("field"))
            .filter(|f| !f.trim().is_empty())
            .ok_or_else(|| self.err(&format!("{ptr}/field"), "missing: the body field that tells (e.g. ok)"))?;
        // `on_value`: the one value that means failure; `ok_value`: the one that means success.
        let (on_value, on_other) = match (o.get("on_value"), o.get("ok_value")) {
            (Some(v), None) => (v.clone(), false),
            (None, Some(v)) => (v.clone(), true),
            (Some(_), Some(_)) => {
                return Err(self.err(&format!("{ptr}/ok_value"), "give on_value or ok_value, not both"));
            }
            (None, None) => {
                return Err(self.err(
                    &format!("{ptr}/on_value"),
                    "missing: the value of the field that means failure (e.g. false), or ok_value, the one that means success (e.g. 0)",
                ))
            }
        };
        let message_field = match o.get("message_field") {
            None | Some(Value::Null) => None,
            Some(Value::String(m)) if !m.trim().is_empty() => Some(m.clone()),
            Some(_) => return Err(self.err(&format!("{ptr}/message_field"), "expected a field name (e.g. error)")),
        };
        let mut codes = Vec::new();
        if let Some(c) = o.get("codes") {
            for (reason, code) in self.obj(c, &format!("{ptr}/codes"))? {
                let code = code.as_str().and_then(crate::error::ErrorCode::parse).ok_or_else(|| {
                    let known: Vec<&str> = crate::error::ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
                    self.err(
                        &format!("{ptr}/codes/{}", tok(reason)),
                        format!("expected a public error code, one of {}", known.join(", ")),
                    )
                })?;
                codes.push((reason.clone(), code));
            }
        }
        Ok(ResponseErrorCheck { field, on_value, on_other, message_field, codes })
    }

    /// `x-pagination`, checked against the operation's params and meta keys. A URL-style
    /// pagination whose param the operation does not declare gets it (an optional string query
    /// param), so the next page's URL can be passed back like any cursor.
    fn pagination(
        &self,
        v: &Value,
        p: &str,
        params: &mut Vec<Param>,
        meta: &[(String, MetaSource)],
    ) -> Result<Pagination> {
        let o = self.obj(v, p)?;
        let style = match as_str(o.get("style")).as_deref() {
            None | Some("cursor") => PageStyle::Cursor,
            Some("offset") => PageStyle::Offset,
            Some("page") => PageStyle::Page,
            Some("url") => PageStyle::Url,
            Some(other) => {
                return Err(self.err(
                    &format!("{p}/style"),
                    format!("unknown pagination style {other:?} (cursor, offset, page or url)"),
                ))
            }
        };
        let param = match (as_str(o.get("param")), style) {
            (Some(param), _) => param,
            (None, PageStyle::Url) => URL_CURSOR_PARAM.to_string(),
            (None, _) => return Err(self.err(&format!("{p}/param"), "missing")),
        };
        let pg = Pagination {
            param,
            style,
            meta: as_str(o.get("meta")),
            from_last_record: as_str(o.get("from_last_record")),
            has_more: as_str(o.get("has_more")),
            last_page: as_str(o.get("last_page")),
            total: as_str(o.get("total")),
            limit: as_str(o.get("limit")),
            follow_empty: match as_str(o.get("empty_pages")).as_deref() {
                None | Some("stop") => false,
                Some("follow") => true,
                Some(other) => {
                    return Err(self.err(
                        &format!("{p}/empty_pages"),
                        format!("unknown value {other:?} (stop, the default, or follow)"),
                    ))
                }
            },
            cursor_alone: match o.get("cursor_alone") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(self.err(&format!("{p}/cursor_alone"), "expected true or false")),
            },
        };
        let meta_key = |key: &str, k: &str| -> Result<()> {
            if meta.iter().any(|(m, _)| m == k) {
                return Ok(());
            }
            Err(self.err(&format!("{p}/{key}"), format!("names {k:?}, which x-meta-extractor does not extract")))
        };
        if let Some(l) = &pg.last_page {
            meta_key("last_page", l)?;
        }
        let declared = params.iter().find(|x| x.name == pg.param);
        match style {
            PageStyle::Cursor => {
                if declared.is_none() {
                    return Err(self.err(
                        &format!("{p}/param"),
                        format!("names {:?}, which is not a param of the operation", pg.param),
                    ));
                }
                if pg.meta.is_none() && pg.from_last_record.is_none() {
                    return Err(self.err(p, "needs `meta` or `from_last_record`"));
                }
            }
            PageStyle::Offset | PageStyle::Page => {
                let what = if style == PageStyle::Offset { "an offset" } else { "a page number" };
                match declared {
                    None => {
                        return Err(self.err(
                            &format!("{p}/param"),
                            format!("names {:?}, which is not a param of the operation", pg.param),
                        ))
                    }
                    Some(x) if !matches!(x.ty, None | Some(ParamType::Integer) | Some(ParamType::Number)) => {
                        return Err(self.err(
                            &format!("{p}/param"),
                            format!(
                                "names {:?}, a {} param; {what} must be an integer",
                                pg.param,
                                x.ty.map(ParamType::as_str).unwrap_or_default()
                            ),
                        ))
                    }
                    Some(_) => {}
                }
                for key in ["meta", "from_last_record"] {
                    if o.contains_key(key) {
                        return Err(self.err(
                            &format!("{p}/{key}"),
                            format!(
                                "not used by style {}: the next {what} is computed",
                                if style == PageStyle::Offset { "offset" } else { "page" }
                            ),
                        ));
                    }
                }
                if let Some(l) = &pg.limit {
                    if !params.iter().any(|x| &x.name == l) {
                        return Err(self.err(
                            &format!("{p}/limit"),
                            format!("names {l:?}, which is not a param of the operation"),
                        ));
                    }
                }
                if let Some(t) = &pg.total {
                    meta_key("total", t)?;
                }
            }
            PageStyle::Url => {
                let Some(m) = &pg.meta else {
                    return Err(self.err(p, "style url needs `meta`: the meta key holding the next page's URL"));
                };
                meta_key("meta", m)?;
                for key in ["from_last_record", "total", "limit"] {
                    if o.contains_key(key) {
                        return Err(self.err(&format!("{p}/{key}"), "not used by style url"));
                    }
                }
                match declared {
                    Some(x)
                        if x.location != ParamLocation::Query || !matches!(x.ty, None | Some(ParamType::String)) =>
                    {
                        return Err(self.err(
                            &format!("{p}/param"),
                            format!(
                                "names {:?}, which must be a string query param to carry the next page's URL",
                                pg.param
                            ),
                        ))
                    }
                    Some(_) => {}
                    None => params.push(url_cursor_param(&pg.param, m)),
                }
            }
        }
        Ok(pg)
    }

    /// `x-incremental: {param, field, format, field_format, lookback_seconds}` on a list: the
    /// param must be one of the operation's (not a path param, nor the pagination's), of a
    /// type the format can be written in.
    fn incremental(
        &self,
        v: &Value,
        p: &str,
        action: &str,
        params: &[Param],
        pagination: Option<&Pagination>,
    ) -> Result<Incremental> {
        const KEYS: [&str; 6] = ["param", "field", "format", "field_format", "lookback_seconds", "full_from_epoch"];
        let o = self.obj(v, p)?;
        if action != "list" {
            return Err(self.err(p, format!("only a list operation can be incremental, not a {action}")));
        }
        for k in o.keys() {
            if !KEYS.contains(&k.as_str()) {
                return Err(self.err(
                    &format!("{p}/{}", tok(k)),
                    "unknown key (param, field, format, field_format, lookback_seconds and full_from_epoch are known)",
                ));
            }
        }
        let text = |k: &str, what: &str| -> Result<String> {
            match o.get(k) {
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
                None => Err(self.err(&format!("{p}/{k}"), format!("missing: {what}"))),
                Some(_) => Err(self.err(&format!("{p}/{k}"), format!("expected a non-empty string: {what}"))),
            }
        };
        let format_of = |k: &str| -> Result<Option<TimeFormat>> {
            match o.get(k) {
                None => Ok(None),
                Some(f) => f.as_str().and_then(TimeFormat::parse_name).map(Some).ok_or_else(|| {
                    self.err(&format!("{p}/{k}"), format!("expected one of {}", TimeFormat::NAMES.join(", ")))
                }),
            }
        };
        let param = text("param", "the param that asks for the records updated since a time")?;
        let field = text("field", "the record field holding its update time (a dot path: meta.updated_at)")?;
        if field.split('.').any(|k| k.trim().is_empty()) {
            return Err(self.err(&format!("{p}/field"), format!("{field:?} is not a dot path (a.b.c)")));
        }
        let format = format_of("format")?.ok_or_else(|| {
            self.err(
                &format!("{p}/format"),
                format!("missing: how the param's time is written, one of {}", TimeFormat::NAMES.join(", ")),
            )
        })?;
        let field_format = format_of("field_format")?.unwrap_or(format);
        let lookback_seconds = match o.get("lookback_seconds") {
            None => incremental::DEFAULT_LOOKBACK_SECONDS,
            Some(n) => n.as_u64().filter(|n| *n <= incremental::MAX_LOOKBACK_SECONDS).ok_or_else(|| {
                self.err(
                    &format!("{p}/lookback_seconds"),
                    format!("expected a whole number of seconds from 0 to {}", incremental::MAX_LOOKBACK_SECONDS),
                )
            })?,
        };
        let full_from_epoch = match o.get("full_from_epoch") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(self.err(&format!("{p}/full_from_epoch"), "expected true or false")),
        };
        let declared = params.iter().find(|x| x.name == param).ok_or_else(|| {
            self.err(&format!("{p}/param"), format!("names {param:?}, which is not a param of the operation"))
        })?;
        if declared.location == ParamLocation::Path {
            return Err(self.err(&format!("{p}/param"), format!("names {param:?}, a path param")));
        }
        if pagination.is_some_and(|pg| pg.param == param) {
            return Err(self.err(&format!("{p}/param"), format!("names {param:?}, the pagination's param")));
        }
        let fits = match format {
            TimeFormat::Iso8601 => matches!(declared.ty, None | Some(ParamType::String)),
            TimeFormat::Unix | TimeFormat::UnixMs => {
                matches!(declared.ty, None | Some(ParamType::String | ParamType::Integer | ParamType::Number))
            }
        };
        if !fits {
            return Err(self.err(
                &format!("{p}/param"),
                format!(
                    "names {param:?}, {} param, which cannot take a {} time",
                    declared.ty.map(ParamType::article).unwrap_or("an untyped"),
                    format.as_str()
                ),
            ));
        }
        Ok(Incremental { param, field, format, field_format, lookback_seconds, full_from_epoch })
    }

    fn retry(&self, v: &Value, ptr: &str, base: RetryConfig) -> Result<RetryConfig> {
        let o = self.obj(v, ptr)?;
        let num = |k: &str, d: u64| -> Result<u64> {
            match o.get(k) {
                None => Ok(d),
                Some(v) => v.as_u64().ok_or_else(|| self.err(&format!("{ptr}/{k}"), "expected a non-negative integer")),
            }
        };
        let max_attempts = num("max_attempts", u64::from(base.max_attempts))?;
        Ok(RetryConfig {
            max_attempts: u32::try_from(max_attempts.clamp(1, 20)).unwrap_or(20),
            initial_delay_ms: num("initial_delay_ms", base.initial_delay_ms)?,
            max_delay_ms: num("max_delay_ms", base.max_delay_ms)?,
            max_elapsed_ms: num("max_elapsed_ms", base.max_elapsed_ms)?,
        })
    }

    fn auth_schemes(&self, root: &Map<String, Value>) -> Result<Vec<AuthScheme>> {
        let Some(schemes) = root.get("components").and_then(|c| c.get("securitySchemes")).and_then(Value::as_object)
        else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (name, scheme) in schemes {
            let ptr = format!("/components/securitySchemes/{}", tok(name));
            let s = self.obj(self.resolve(scheme, &ptr)?, &ptr)?;
            let ty = as_str(s.get("type")).unwrap_or_default();
            let kind = match ty.as_str() {
                "http" => match as_str(s.get("scheme")).unwrap_or_default().to_ascii_lowercase().as_str() {
                    "bearer" => AuthKind::Bearer,
                    "basic" => AuthKind::Basic,
                    other => {
                        return Err(self.err(
                            &format!("{ptr}/scheme"),
                            format!("unsupported http scheme {other:?} (bearer or basic)"),
                        ))
                    }
                },
                "apiKey" => {
                    let loc = as_str(s.get("in")).unwrap_or_default();
                    let header_name =
                        as_str(s.get("name")).ok_or_else(|| self.err(&format!("{ptr}/name"), "missing"))?;
                    if loc != "header" && loc != "query" {
                        return Err(self.err(
                            &format!("{ptr}/in"),
                            format!("unsupported apiKey location {loc:?} (header or query)"),
                        ));
                    }
                    AuthKind::ApiKey {
                        in_query: loc == "query",
                        name: header_name,
                        prefix: as_str(ext(s, "auth-prefix")).unwrap_or_default(),
                    }
                }
                "oauth2" => {
                    let flows = s.get("flows").and_then(Value::as_object);
                    let token_url = flows.and_then(|f| {
                        f.values()
                            .find_map(|flow| as_str(flow.get("refreshUrl")).or_else(|| as_str(flow.get("tokenUrl"))))
                    });
                    let refresh = ext(s, "token-refresh").and_then(Value::as_object);
                    let basic = refresh.and_then(|r| as_str(r.get("auth_style"))).is_some_and(|a| a == "basic");
                    let json_body = refresh.and_then(|r| as_str(r.get("body_format"))).is_some_and(|a| a == "json");
                    let extract = ext(s, "token-extract")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                        .unwrap_or_default();
                    let token_header = refresh.and_then(|r| as_str(r.get("header"))).map(|h| {
                        let prefix = refresh.and_then(|r| r.get("prefix")).and_then(Value::as_str);
                        (h, prefix.map_or_else(|| "Bearer ".to_string(), str::to_string))
                    });
                    let client_credentials = flows.is_some_and(|f| f.contains_key("clientCredentials"));
                    let code_flow = flows.and_then(|f| f.get("authorizationCode"));
                    let authorization_url = code_flow.and_then(|f| as_str(f.get("authorizationUrl")));
                    let scopes = code_flow
                        .and_then(|f| f.get("scopes"))
                        .and_then(Value::as_object)
                        .map(|m| m.keys().cloned().collect())
                        .unwrap_or_default();
                    AuthKind::OAuth2(OAuth2Config {
                        token_url,
                        authorization_url,
                        scopes,
                        basic_client_auth: basic,
                        json_body,
                        extract,
                        token_header,
                        client_credentials,
                    })
                }
                other => {
                    return Err(self.err(&format!("{ptr}/type"), format!("unsupported security scheme type {other:?}")))
                }
            };
            let cfg = ext(s, "auth-config").and_then(Value::as_object);
            let (mut fields, mapping, title) = match cfg {
                Some(cfg) => self.auth_config(cfg, &format!("{ptr}/{}", ext_key(s, "auth-config")))?,
                None => default_auth_config(&kind),
            };
            let (aliases, title_aliases) = cfg.map(reference_names).unwrap_or_default();
            let headers = cfg
                .and_then(|c| c.get("additional_headers"))
                .and_then(Value::as_object)
                .map(|h| h.iter().filter_map(|(k, v)| Some((k.clone(), as_str(Some(v))?))).collect())
                .unwrap_or_default();
            for (alias, field) in aliases {
                if let Some(f) = fields.iter_mut().find(|f| f.name == field && f.name != alias) {
                    f.aliases.push(alias);
                }
            }
            out.push(AuthScheme {
                name: name.clone(),
                title: title.unwrap_or_else(|| name.clone()),
                title_aliases,
                kind,
                fields,
                mapping,
                headers,
            });
        }
        Ok(out)
    }

    #[allow(clippy::type_complexity)]
    fn auth_config(
        &self,
        cfg: &Map<String, Value>,
        ptr: &str,
    ) -> Result<(Vec<CredentialField>, BTreeMap<String, String>, Option<String>)> {
        let required: Vec<String> = cfg
            .get("required")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let mut fields = Vec::new();
        if let Some(props) = cfg.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                let at = format!("{ptr}/properties/{}", tok(k));
                fields.push(CredentialField {
                    name: k.clone(),
                    title: as_str(v.get("title")),
                    description: as_str(v.get("description")),
                    required: required.contains(k),
                    secret: self.field_secret(k, v, &at)?,
                    aliases: Vec::new(),
                });
            }
        }
        let mut mapping = BTreeMap::new();
        if let Some(m) = cfg.get("auth_mapping").and_then(Value::as_object) {
            for (input, tmpl) in m {
                let at = format!("{ptr}/auth_mapping/{}", tok(input));
                let t = tmpl.as_str().ok_or_else(|| self.err(&at, "expected a string like \"${field}\""))?;
                for field in template_fields(t) {
                    if !fields.iter().any(|f| f.name == field) {
                        return Err(
                            self.err(&at, format!("refers to {field:?}, which is not a property of the auth config"))
                        );
                    }
                }
                mapping.insert(input.clone(), t.to_string());
            }
        } else {
            for f in &fields {
                mapping.insert(f.name.clone(), format!("${{{}}}", f.name));
            }
        }
        Ok((fields, mapping, as_str(cfg.get("title"))))
    }

    /// Whether credential field `name` (its schema `v`, at `ptr`) is a secret: its `secret`
    /// (our format) or `airbyte_secret` (the reference's) when given, which must then be a
    /// boolean and agree; else the rule of [`credential_is_secret`].
    fn field_secret(&self, name: &str, v: &Value, ptr: &str) -> Result<bool> {
        let mut said = None;
        for key in ["secret", "airbyte_secret"] {
            let Some(flag) = v.get(key) else { continue };
            let flag = flag.as_bool().ok_or_else(|| self.err(&format!("{ptr}/{key}"), "expected true or false"))?;
            if said.is_some_and(|s| s != flag) {
                return Err(self.err(ptr, "secret and airbyte_secret disagree"));
            }
            said = Some(flag);
        }
        Ok(said.unwrap_or_else(|| credential_is_secret(name)))
    }

    #[allow(clippy::too_many_arguments)]
    fn operation(
        &self,
        path_key: &str,
        method: &str,
        op: &Map<String, Value>,
        entity: &Value,
        action: &Value,
        shared_params: &[Value],
        ptr: &str,
        doc: &DocDefaults,
    ) -> Result<Operation> {
        let doc_retry = doc.retry;
        let doc_idempotency = &doc.idempotency_header;
        let entity = entity
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| self.err(&format!("{ptr}/{}", ext_key(op, "entity")), "expected a non-empty string"))?
            .to_string();
        let action = action.as_str().unwrap_or_default().to_string();
        if !ACTIONS.contains(&action.as_str()) {
            return Err(self.err(
                &format!("{ptr}/{}", ext_key(op, "action")),
                format!("unknown action {action:?}; one of {}", ACTIONS.join(", ")),
            ));
        }
        let path = match ext(op, "path-override") {
            Some(v) => as_str(v.get("path"))
                .ok_or_else(|| self.err(&format!("{ptr}/{}/path", ext_key(op, "path-override")), "missing"))?,
            None => path_key.to_string(),
        };
        if !path.starts_with('/') {
            return Err(self.err(ptr, format!("request path {path:?} must start with '/'")));
        }

        // `x-body-type` sits in the requestBody (reference layout) or on the operation.
        let rb_obj = op.get("requestBody").and_then(Value::as_object);
        let (body_type, bt_base) = match rb_obj.and_then(|rb| ext(rb, "body-type").map(|v| (v, rb))) {
            Some((v, rb)) => (Some(v), format!("{ptr}/requestBody/{}", ext_key(rb, "body-type"))),
            None => (ext(op, "body-type"), format!("{ptr}/{}", ext_key(op, "body-type"))),
        };
        let graphql = match body_type {
            Some(bt) if bt.get("type").and_then(Value::as_str) == Some("graphql") => {
                let bptr = bt_base.clone();
                let query = as_str(bt.get("query")).ok_or_else(|| self.err(&format!("{bptr}/query"), "missing"))?;
                let mut variables = Vec::new();
                if let Some(vars) = bt.get("variables").and_then(Value::as_object) {
                    for (k, v) in vars {
                        variables.push((k.clone(), v.clone()));
                    }
                }
                let is_query = {
                    let t = query.trim_start();
                    t.starts_with("query") || t.starts_with('{')
                };
                // Check the templates compile now, not at the first call.
                crate::template::check(&query).map_err(|e| self.err(&format!("{bptr}/query"), e))?;
                Some(GraphQlBody { query, variables, default_fields: as_str(bt.get("default_fields")), is_query })
            }
            Some(bt) => {
                return Err(self.err(&format!("{bt_base}/type"), format!("unsupported body type {:?}", bt.get("type"))));
            }
            None => None,
        };

        let mut params: Vec<Param> = Vec::new();
        let mut raw_params: Vec<(String, &Value)> = Vec::new();
        for (i, p) in shared_params.iter().enumerate() {
            raw_params.push((format!("{}/parameters/{i}", ptr.rsplit_once('/').map(|x| x.0).unwrap_or(ptr)), p));
        }
        if let Some(ps) = op.get("parameters").and_then(Value::as_array) {
            for (i, p) in ps.iter().enumerate() {
                raw_params.push((format!("{ptr}/parameters/{i}"), p));
            }
        }
        for (pptr, p) in raw_params {
            let p = self.obj(self.resolve(p, &pptr)?, &pptr)?;
            let name = as_str(p.get("name")).ok_or_else(|| self.err(&format!("{pptr}/name"), "missing"))?;
            let loc = match as_str(p.get("in")).unwrap_or_default().as_str() {
                "path" => ParamLocation::Path,
                "query" if graphql.is_some() => ParamLocation::Template,
                "query" => ParamLocation::Query,
                "header" => ParamLocation::Header,
                "cookie" => continue,
                other => return Err(self.err(&format!("{pptr}/in"), format!("unknown location {other:?}"))),
            };
            let schema = match p.get("schema") {
                Some(s) => self.schema(s, &format!("{pptr}/schema"), 0)?,
                None => Value::Object(Map::new()),
            };
            let required = as_bool(p.get("required")) || loc == ParamLocation::Path;
            let mut param = self.param(name, loc, required, &schema, &format!("{pptr}/schema"))?;
            if param.description.is_none() {
                param.description = as_str(p.get("description")).map(|d| d.trim().to_string());
            }
            param.deep_object = as_str(p.get("style")).as_deref() == Some("deepObject");
            param.no_explode = p.get("explode").and_then(Value::as_bool) == Some(false);
            param.allow_reserved = p.get("allowReserved").and_then(Value::as_bool) == Some(true);
            param.aliases = match ext(p, "aliases") {
                None => Vec::new(),
                Some(v) => v
                    .as_array()
                    .and_then(|a| a.iter().map(|x| x.as_str().map(str::to_string)).collect::<Option<Vec<_>>>())
                    .ok_or_else(|| self.err(&format!("{pptr}/x-aliases"), "expected a list of names"))?,
            };
            if params.iter().any(|q| q.name == param.name) {
                params.retain(|q| q.name != param.name); // operation-level overrides path-level
            }
            params.push(param);
        }
        if loc_check_path(&path, &params).is_some() {
            let missing = loc_check_path(&path, &params).unwrap_or_default();
            return Err(
                self.err(ptr, format!("path {path:?} uses {{{missing}}} but no path param {missing:?} is declared"))
            );
        }

        let mut body_media_type = None;
        let mut body = match &graphql {
            Some(g) => BodyKind::GraphQl(g.clone()),
            None => BodyKind::None,
        };
        if let Some(rb) = op.get("requestBody") {
            let rptr = format!("{ptr}/requestBody");
            let rb = self.resolve(rb, &rptr)?;
            if let Some(content) = rb.get("content").and_then(Value::as_object) {
                let (ctype, media) = content
                    .iter()
                    .find(|(k, _)| k.starts_with("application/json"))
                    .or_else(|| content.iter().find(|(k, _)| k.starts_with("application/x-www-form-urlencoded")))
                    .or_else(|| content.iter().next())
                    .map(|(k, v)| (k.clone(), v))
                    .unwrap_or_default();
                let is_form = ctype.starts_with("application/x-www-form-urlencoded");
                if graphql.is_none() {
                    body = if is_form { BodyKind::Form } else { BodyKind::Json };
                    let vendor_json = ctype.to_ascii_lowercase().ends_with("+json");
                    body_media_type = vendor_json.then(|| ctype.clone());
                }
                {
                    // For GraphQL operations the body schema's fields are template inputs.
                    let body_loc = if graphql.is_some() { ParamLocation::Template } else { ParamLocation::Body };
                    if let Some(schema) = media.get("schema") {
                        let sptr = format!("{rptr}/content/{}/schema", tok(&ctype));
                        let schema = self.schema(schema, &sptr, 0)?;
                        let required: Vec<&str> = schema
                            .get("required")
                            .and_then(Value::as_array)
                            .map(|a| a.iter().filter_map(Value::as_str).collect())
                            .unwrap_or_default();
                        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                            for (k, v) in props {
                                let pptr = format!("{sptr}/properties/{}", tok(k));
                                let v = self.schema(v, &pptr, 0)?;
                                if params.iter().any(|p| &p.name == k) {
                                    continue;
                                }
                                let mut param =
                                    self.param(k.clone(), body_loc, required.contains(&k.as_str()), &v, &pptr)?;
                                param.body_root = as_bool(ext(v.as_object().unwrap_or(&Map::new()), "body-root"));
                                // OpenAPI's encoding object: a form array with explode true
                                // repeats its key (Twilio's MediaUrl).
                                param.form_repeat = is_form
                                    && media.pointer(&format!("/encoding/{}/explode", tok(k)))
                                        == Some(&Value::Bool(true));
                                params.push(param);
                            }
                        }
                    }
                }
            }
        }

        let (record_extractor, extractor_text) = match ext(op, "record-extractor") {
            Some(v) => {
                let p = format!("{ptr}/{}", ext_key(op, "record-extractor"));
                let s = v.as_str().ok_or_else(|| self.err(&p, "expected a JSONPath string"))?;
                let path = JsonPath::parse(s).map_err(|e| self.err(&p, format!("invalid JSONPath {s:?}: {e}")))?;
                (Some(path), Some(s))
            }
            None => (None, None),
        };
        let record_schema = match self.response_schema(op, ptr)? {
            Some(response) => record_schema_of(&response, extractor_text, matches!(action.as_str(), "list" | "search")),
            None => None,
        };
        let mut meta = Vec::new();
        let mut meta_paths = Vec::new();
        if let Some(m) = ext(op, "meta-extractor") {
            let mptr = format!("{ptr}/{}", ext_key(op, "meta-extractor"));
            let mut source = |v: &Value, p: &str| -> Result<MetaSource> {
                let s = v.as_str().ok_or_else(|| self.err(p, "expected a JSONPath, @link.<rel> or @header.<Name>"))?;
                Ok(if let Some(rel) = s.strip_prefix("@link.") {
                    MetaSource::Link(rel.to_string())
                } else if let Some(h) = s.strip_prefix("@header.") {
                    MetaSource::Header(h.to_ascii_lowercase())
                } else {
                    meta_paths.push(s.to_string());
                    MetaSource::Path(
                        JsonPath::parse(s).map_err(|e| self.err(p, format!("invalid JSONPath {s:?}: {e}")))?,
                    )
                })
            };
            for (k, v) in self.obj(m, &mptr)? {
                let p = format!("{mptr}/{}", tok(k));
                let src = match v.as_array() {
                    // A list: the first of its sources that gives a value.
                    Some(list) if !list.is_empty() => MetaSource::FirstOf(
                        list.iter().enumerate().map(|(i, v)| source(v, &format!("{p}/{i}"))).collect::<Result<_>>()?,
                    ),
                    Some(_) => return Err(self.err(&p, "an empty list: give one source or several")),
                    None => source(v, &p)?,
                };
                meta.push((k.clone(), src));
            }
        }
        let record_filter = match ext(op, "record-filter") {
            Some(v) => {
                let p = format!("{ptr}/{}", ext_key(op, "record-filter"));
                let s = v.as_str().ok_or_else(|| self.err(&p, "expected a template expression"))?;
                Some(crate::template::RecordFilter::compile(s).map_err(|e| self.err(&p, e))?)
            }
            None => None,
        };
        let pagination = match ext(op, "pagination") {
            Some(v) => {
                let p = format!("{ptr}/{}", ext_key(op, "pagination"));
                Some(self.pagination(v, &p, &mut params, &meta)?)
            }
            None => infer_pagination(&params, &meta),
        };
        let incremental = match ext(op, "incremental") {
            Some(v) => {
                let p = format!("{ptr}/{}", ext_key(op, "incremental"));
                Some(self.incremental(v, &p, &action, &params, pagination.as_ref())?)
            }
            None => None,
        };
        let error_check = match ext(op, "response-error-check") {
            Some(v) => Some(self.error_check(v, &format!("{ptr}/{}", ext_key(op, "response-error-check")))?),
            None => doc.error_check.clone(),
        };
        let file_url = match ext(op, "file-url") {
            Some(v) => {
                let p = format!("{ptr}/{}", ext_key(op, "file-url"));
                let s = v.as_str().ok_or_else(|| self.err(&p, "expected a path like calls[0].media.audioUrl"))?;
                // `calls[0].url`, `[0].url` (a top-level list, as the reference's Greenhouse
                // spec writes it) or a full `$...` path.
                let path = match s.chars().next() {
                    Some('$') => s.to_string(),
                    Some('[') => format!("${s}"),
                    _ => format!("$.{s}"),
                };
                Some(JsonPath::parse(&path).map_err(|e| self.err(&p, format!("invalid path {s:?}: {e}")))?)
            }
            None => None,
        };
        let is_get = method == "get" || method == "head";
        // `x-idempotency-key` on the operation or the document applies to writes (not GET).
        let idempotency_header = if is_get {
            None
        } else {
            as_str(ext(op, "idempotency-key")).or_else(|| doc_idempotency.clone()).filter(|h| !h.trim().is_empty())
        };
        let idempotent = is_get
            || as_bool(ext(op, "idempotent"))
            || graphql.as_ref().is_some_and(|g| g.is_query)
            || idempotency_header.is_some();
        let retry = match ext(op, "retry-config") {
            Some(v) => self.retry(v, &format!("{ptr}/{}", ext_key(op, "retry-config")), doc_retry)?,
            None => doc_retry,
        };
        let raw_record_path = super::raw_record_path(
            matches!(action.as_str(), "list" | "search"),
            record_filter.is_some(),
            extractor_text,
            &meta_paths,
            error_check.as_ref(),
        );
        Ok(Operation {
            raw_record_path,
            entity,
            action,
            method: method.to_ascii_uppercase(),
            path,
            summary: as_str(op.get("summary")),
            description: as_str(op.get("description")).map(|d| d.trim().to_string()),
            params,
            body,
            body_media_type,
            upload_param: as_str(ext(op, "upload-file-param")),
            record_extractor,
            meta,
            record_filter,
            pagination,
            incremental,
            error_check,
            preferred_for_check: as_bool(ext(op, "preferred-for-check")),
            empty_when_not_found: as_bool(ext(op, "empty-when-not-found")),
            file_url,
            idempotent,
            idempotency_header: idempotency_header.map(|h| h.to_ascii_lowercase()),
            retry,
            pointer: ptr.to_string(),
            record_schema,
        })
    }

    /// The success response's JSON schema, deeply resolved: the `application/json` content of
    /// `responses` `200`, else `201`, else the first other `2xx` that has one. `None` when the
    /// operation declares none.
    fn response_schema(&self, op: &Map<String, Value>, ptr: &str) -> Result<Option<Value>> {
        let Some(responses) = op.get("responses") else { return Ok(None) };
        let rptr = format!("{ptr}/responses");
        let responses = self.obj(responses, &rptr)?;
        let others = responses.keys().map(String::as_str).filter(|k| k.len() == 3 && k.starts_with('2'));
        let codes = ["200", "201"]
            .into_iter()
            .filter(|c| responses.contains_key(*c))
            .chain(others.filter(|k| !["200", "201"].contains(k)));
        for code in codes {
            let cptr = format!("{rptr}/{}", tok(code));
            let response = self.resolve(&responses[code], &cptr)?;
            let Some(content) = response.get("content") else { continue };
            let content = self.obj(content, &format!("{cptr}/content"))?;
            let Some((ctype, media)) = content.iter().find(|(k, _)| k.starts_with("application/json")) else {
                continue;
            };
            let Some(schema) = media.get("schema") else { continue };
            let sptr = format!("{cptr}/content/{}/schema", tok(ctype));
            let mut expansion = Expansion { refs: Vec::new(), budget: RESPONSE_NODES };
            return Ok(Some(self.expand(schema, &sptr, 0, &mut expansion)?));
        }
        Ok(None)
    }

    /// A response schema with every `$ref` and `allOf` resolved, all the way down (properties,
    /// items, additionalProperties, anyOf, oneOf). A `$ref` met again inside its own expansion
    /// (a recursive type) is left open there (`{}`), as is anything past [`RESPONSE_DEPTH`] or
    /// beyond the node budget, so no document can make loading loop or run away. A reference to
    /// nothing, or a part that is not a schema, is a fault at its JSON pointer.
    fn expand(&self, v: &Value, pointer: &str, depth: usize, x: &mut Expansion) -> Result<Value> {
        if depth > RESPONSE_DEPTH || x.budget == 0 {
            return Ok(Value::Object(Map::new()));
        }
        x.budget -= 1;
        let obj = match v {
            Value::Object(o) => o,
            Value::Bool(_) => return Ok(v.clone()),
            _ => return Err(self.err(pointer, "expected a schema (an object)")),
        };
        if let Some(r) = obj.get("$ref") {
            let r = r.as_str().ok_or_else(|| self.err(&format!("{pointer}/$ref"), "expected a string"))?;
            let Some(local) = r.strip_prefix('#') else {
                return Err(self.err(pointer, format!("only local $ref are supported, found {r:?}")));
            };
            let target =
                self.root.pointer(local).ok_or_else(|| self.err(pointer, format!("$ref {r:?} points at nothing")))?;
            let mut out = if x.refs.iter().any(|seen| seen == r) {
                Value::Object(Map::new())
            } else {
                x.refs.push(r.to_string());
                let out = self.expand(target, local, depth + 1, x);
                x.refs.pop();
                out?
            };
            // Keywords beside the `$ref` (a description, a nullable type) apply on top of it.
            let mut siblings = obj.clone();
            siblings.remove("$ref");
            if !siblings.is_empty() {
                let siblings = self.expand(&Value::Object(siblings), pointer, depth, x)?;
                if let (Value::Object(o), Value::Object(sib)) = (&mut out, siblings) {
                    merge_schema(o, sib);
                }
            }
            return Ok(out);
        }
        let mut s = obj.clone();
        // OpenAPI 3.0 spells a nullable type `nullable: true`; 3.1 lists "null" among the types.
        if s.get("nullable") == Some(&Value::Bool(true)) {
            if let Some(Value::String(t)) = s.get("type").cloned() {
                s.insert("type".into(), serde_json::json!([t, "null"]));
            }
        }
        if let Some(t) = s.get("type") {
            let known = |t: &Value| {
                t.as_str()
                    .is_some_and(|t| ["string", "integer", "number", "boolean", "array", "object", "null"].contains(&t))
            };
            let ok = match t {
                Value::Array(ts) => ts.iter().all(known),
                other => known(other),
            };
            if !ok {
                return Err(self.err(&format!("{pointer}/type"), format!("expected a JSON Schema type, found {t}")));
            }
        }
        if let Some(props) = s.get("properties") {
            let pptr = format!("{pointer}/properties");
            let mut out = Map::new();
            for (k, p) in self.obj(props, &pptr)? {
                out.insert(k.clone(), self.expand(p, &format!("{pptr}/{}", tok(k)), depth + 1, x)?);
            }
            s.insert("properties".into(), Value::Object(out));
        }
        for key in ["items", "additionalProperties"] {
            if let Some(sub) = s.get(key) {
                let sub = self.expand(sub, &format!("{pointer}/{key}"), depth + 1, x)?;
                s.insert(key.into(), sub);
            }
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            if let Some(alts) = s.get(key) {
                let aptr = format!("{pointer}/{key}");
                let alts = alts.as_array().ok_or_else(|| self.err(&aptr, "expected a list of schemas"))?;
                let mut out = Vec::new();
                for (i, a) in alts.iter().enumerate() {
                    out.push(self.expand(a, &format!("{aptr}/{i}"), depth + 1, x)?);
                }
                s.insert(key.into(), Value::Array(out));
            }
        }
        // `allOf` parts merge into one schema (their properties and required; own keys win).
        if let Some(Value::Array(parts)) = s.remove("allOf") {
            let mut merged = Map::new();
            for part in parts {
                if let Value::Object(p) = part {
                    merge_schema(&mut merged, p);
                }
            }
            merge_schema(&mut merged, s);
            s = merged;
        }
        Ok(Value::Object(s))
    }

    fn param(&self, name: String, location: ParamLocation, required: bool, schema: &Value, ptr: &str) -> Result<Param> {
        let ty = match schema.get("type") {
            Some(Value::String(s)) => Some(self.param_type(s, &format!("{ptr}/type"))?),
            Some(Value::Array(a)) => match a.iter().filter_map(Value::as_str).find(|t| *t != "null") {
                Some(s) => Some(self.param_type(s, &format!("{ptr}/type"))?),
                None => None,
            },
            Some(_) => return Err(self.err(&format!("{ptr}/type"), "expected a string or an array of strings")),
            None if schema.get("properties").is_some() => Some(ParamType::Object),
            None => None,
        };
        let items = match schema.get("items") {
            Some(it) => {
                let it = self.schema(it, &format!("{ptr}/items"), 0)?;
                match it.get("type").and_then(Value::as_str) {
                    Some(s) => Some(self.param_type(s, &format!("{ptr}/items/type"))?),
                    None => None,
                }
            }
            None => None,
        };
        let enum_values = schema.get("enum").and_then(Value::as_array).cloned();
        let default = schema.get("default").cloned().filter(|d| !d.is_null());
        Ok(Param {
            name,
            location,
            required,
            ty,
            items,
            enum_values,
            default,
            minimum: schema.get("minimum").and_then(Value::as_f64),
            maximum: schema.get("maximum").and_then(Value::as_f64),
            description: as_str(schema.get("description")).map(|d| d.trim().to_string()),
            schema: self.inline(schema, ptr, 0)?,
            deep_object: false,
            no_explode: false,
            form_repeat: false,
            allow_reserved: false,
            aliases: Vec::new(),
            body_root: false,
        })
    }

    fn param_type(&self, s: &str, ptr: &str) -> Result<ParamType> {
        Ok(match s {
            "string" => ParamType::String,
            "integer" => ParamType::Integer,
            "number" => ParamType::Number,
            "boolean" => ParamType::Boolean,
            "array" => ParamType::Array,
            "object" => ParamType::Object,
            other => return Err(self.err(ptr, format!("unknown type {other:?}"))),
        })
    }
}

/// Past this depth a response schema is left open (`{}`).
const RESPONSE_DEPTH: usize = 40;
/// At most this many schema nodes are expanded per response, so a schema whose `$ref`s fan out
/// (each type naming several others) cannot make loading slow.
const RESPONSE_NODES: usize = 50_000;

/// The state of one response schema's expansion: the `$ref`s being expanded, and what is left
/// of the node budget.
struct Expansion {
    refs: Vec<String>,
    budget: usize,
}

/// Merges `from` into `into`: `properties` and `required` are united, other keywords of `from`
/// win.
fn merge_schema(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (k, v) in from {
        match (k.as_str(), into.get_mut(&k), v) {
            ("properties", Some(Value::Object(mine)), Value::Object(theirs)) => mine.extend(theirs),
            ("required", Some(Value::Array(mine)), Value::Array(theirs)) => {
                for r in theirs {
                    if !mine.contains(&r) {
                        mine.push(r);
                    }
                }
            }
            (_, _, v) => {
                into.insert(k, v);
            }
        }
    }
}

/// One step of a record extractor, as far as schemas go.
#[derive(Debug, PartialEq)]
enum Step {
    /// `.name` or `['name']`: into `properties.name`.
    Property(String),
    /// `[*]`, `[0]` or `.*` on an array: into `items`.
    Items,
}

/// The steps of a simple JSONPath (`$`, `$.a.b`, `$.a[*]`, `$['a']`); `None` for anything a
/// schema cannot follow (filters, recursive descent, slices, unions).
fn path_steps(path: &str) -> Option<Vec<Step>> {
    let mut rest = path.trim().strip_prefix('$')?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            if r.starts_with('.') {
                return None;
            }
            if let Some(r) = r.strip_prefix('*') {
                steps.push(Step::Items);
                rest = r;
                continue;
            }
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return None;
            }
            steps.push(Step::Property(r[..end].to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = r[..end].trim();
            rest = &r[end + 1..];
            if inner == "*" || (!inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit())) {
                steps.push(Step::Items);
            } else if let Some(name) = inner
                .strip_prefix('\'')
                .and_then(|n| n.strip_suffix('\''))
                .or_else(|| inner.strip_prefix('"').and_then(|n| n.strip_suffix('"')))
            {
                if name.contains(['\'', '"', '\\']) {
                    return None;
                }
                steps.push(Step::Property(name.to_string()));
            } else {
                return None;
            }
        } else {
            return None;
        }
    }
    Some(steps)
}

/// One step into a schema; through `anyOf` / `oneOf` alternatives (a nullable object written
/// `anyOf: [X, {type: null}]`) when the schema itself does not have it.
fn schema_step<'s>(schema: &'s Value, step: &Step) -> Option<&'s Value> {
    let direct = match step {
        Step::Property(name) => schema.get("properties").and_then(|p| p.get(name)),
        Step::Items => schema.get("items").filter(|i| i.is_object()),
    };
    direct.or_else(|| {
        ["anyOf", "oneOf"]
            .iter()
            .filter_map(|k| schema.get(*k).and_then(Value::as_array))
            .flatten()
            .find_map(|alt| schema_step(alt, step))
    })
}

/// Whether a schema allows `ty` (its `type` is `ty` or a list naming it).
fn allows(schema: &Value, ty: &str) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == ty,
        Some(Value::Array(ts)) => ts.iter().any(|t| t.as_str() == Some(ty)),
        _ => false,
    }
}

/// The schema of one record: `response` followed along the extractor `path` (the whole body
/// without one); for a list, the array's `items` unless the path already ended in `[*]`. A
/// primitive record is described as the `{"value": ...}` object the runtime wraps it in.
fn record_schema_of(response: &Value, path: Option<&str>, list: bool) -> Option<Value> {
    let steps = match path {
        Some(p) => path_steps(p)?,
        None => Vec::new(),
    };
    let mut node = response;
    for step in &steps {
        node = schema_step(node, step)?;
    }
    if list && steps.last() != Some(&Step::Items) && (allows(node, "array") || node.get("items").is_some()) {
        node = schema_step(node, &Step::Items)?;
    }
    let primitive = ["string", "integer", "number", "boolean"].iter().any(|t| allows(node, t))
        && !allows(node, "object")
        && node.get("properties").is_none();
    if primitive {
        return Some(serde_json::json!({"type": "object", "properties": {"value": node}}));
    }
    Some(node.clone())
}

/// The name of a `{placeholder}` in `path` with no path param, if any.
fn loc_check_path(path: &str, params: &[Param]) -> Option<String> {
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}')?;
        let name = &rest[start + 1..start + end];
        if !params.iter().any(|p| p.name == name && p.location == ParamLocation::Path) {
            return Some(name.to_string());
        }
        rest = &rest[start + end + 1..];
    }
    None
}

/// The param a URL-style pagination passes the next page's URL in, when the spec names none.
pub const URL_CURSOR_PARAM: &str = "next_page_url";

/// The param added for a URL-style pagination the operation does not declare a param for.
fn url_cursor_param(name: &str, meta: &str) -> Param {
    let description = format!(
        "The next page's URL, as the previous page gave it (meta.{meta}); the request goes there with the query it carries."
    );
    Param {
        name: name.to_string(),
        location: ParamLocation::Query,
        required: false,
        ty: Some(ParamType::String),
        items: None,
        enum_values: None,
        default: None,
        minimum: None,
        maximum: None,
        schema: serde_json::json!({"type": "string", "description": description}),
        description: Some(description),
        deep_object: false,
        no_explode: false,
        form_repeat: false,
        allow_reserved: false,
        aliases: Vec::new(),
        body_root: false,
    }
}

/// Guesses how to page when the spec does not say: a cursor-like meta value paired with a
/// cursor-like param, or `has_more` with `starting_after` (the last record's id).
fn infer_pagination(params: &[Param], meta: &[(String, MetaSource)]) -> Option<Pagination> {
    let has = |n: &str| params.iter().any(|p| p.name == n);
    let meta_has = |n: &str| meta.iter().any(|(k, _)| k == n);
    let has_more =
        ["has_next_page", "hasNextPage", "has_more", "hasMore"].into_iter().find(|k| meta_has(k)).map(str::to_string);
    const CURSORS: [&str; 8] = [
        "end_cursor",
        "endCursor",
        "next_cursor",
        "nextCursor",
        "cursor",
        "next_page",
        "next_page_token",
        "nextPageToken",
    ];
    const PARAMS: [&str; 6] = ["after", "cursor", "starting_after", "page_token", "pageToken", "page"];
    if let (Some(m), Some(p)) = (CURSORS.into_iter().find(|k| meta_has(k)), PARAMS.into_iter().find(|p| has(p))) {
        return Some(Pagination {
            param: p.to_string(),
            style: PageStyle::Cursor,
            meta: Some(m.to_string()),
            from_last_record: None,
            has_more,
            last_page: None,
            total: None,
            limit: None,
            follow_empty: false,
            cursor_alone: false,
        });
    }
    if has("starting_after") && meta_has("has_more") {
        return Some(Pagination {
            param: "starting_after".into(),
            style: PageStyle::Cursor,
            meta: None,
            from_last_record: Some("id".into()),
            has_more,
            last_page: None,
            total: None,
            limit: None,
            follow_empty: false,
            cursor_alone: false,
        });
    }
    None
}

/// Other names of an auth option and its fields, in the reference's vocabulary:
/// `replication_auth_key_mapping` (`credentials.<other name>: <field>`) gives each field the
/// name callers may also use, and `replication_auth_key_constants` its `credentials.option_title`.
fn reference_names(cfg: &Map<String, Value>) -> (Vec<(String, String)>, Vec<String>) {
    let aliases = cfg
        .get("replication_auth_key_mapping")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.strip_prefix("credentials.")?.to_string(), v.as_str()?.to_string())))
        .collect();
    let titles = cfg
        .get("replication_auth_key_constants")
        .and_then(|c| c.get("credentials.option_title"))
        .and_then(Value::as_str)
        .map(|t| vec![t.to_string()])
        .unwrap_or_default();
    (aliases, titles)
}

fn default_auth_config(kind: &AuthKind) -> (Vec<CredentialField>, BTreeMap<String, String>, Option<String>) {
    let names: &[(&str, bool)] = match kind {
        AuthKind::Bearer => &[("token", true)],
        AuthKind::Basic => &[("username", true), ("password", true)],
        AuthKind::ApiKey { .. } => &[("api_key", true)],
        AuthKind::OAuth2(_) => {
            &[("access_token", false), ("refresh_token", false), ("client_id", false), ("client_secret", false)]
        }
    };
    let fields = names
        .iter()
        .map(|(n, r)| CredentialField {
            name: n.to_string(),
            title: None,
            description: None,
            required: *r,
            secret: credential_is_secret(n),
            aliases: Vec::new(),
        })
        .collect();
    let mapping = names.iter().map(|(n, _)| (n.to_string(), format!("${{{n}}}"))).collect();
    (fields, mapping, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HEAD: &str = r##"
openapi: 3.1.0
info: {title: T, version: "1", x-connector-name: t, x-connector-definition-id: 00000000-0000-0000-0000-000000000009}
servers: [{url: "https://api.example.com"}]
"##;

    fn load(rest: &str) -> Result<ConnectorSpec> {
        parse_spec("t.yaml", &format!("{HEAD}{rest}"))
    }

    fn spec(rest: &str) -> ConnectorSpec {
        load(rest).unwrap_or_else(|e| panic!("{e}"))
    }

    fn record<'s>(spec: &'s ConnectorSpec, entity: &str, action: &str) -> Option<&'s Value> {
        spec.operation(entity, action).unwrap_or_else(|| panic!("no {entity}.{action}")).record_schema()
    }

    fn prop_type<'s>(schema: Option<&'s Value>, name: &str) -> &'s Value {
        &schema.unwrap_or_else(|| panic!("no record schema"))["properties"][name]["type"]
    }

    fn campaigns_with_header(s: &ConnectorSpec) -> Result<&Operation> {
        s.operation("typed_campaigns", "create").ok_or_else(|| Error::internal("no typed_campaigns.create"))
    }

    #[test]
    fn reference_request_shapes() -> Result<()> {
        let s = spec(
            r##"
paths:
  /all/audits:
    get: {x-entity: audits, x-action: list, responses: {"200": {description: ok}}}
  /tickets/{ticket_id}/audits:
    get:
      x-entity: audits
      x-action: list
      parameters: [{name: ticket_id, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: ok}}
  /campaigns:
    post:
      x-entity: campaigns
      x-action: create
      requestBody:
        content: {application/vnd.campaign.v3+json: {schema: {type: object, properties: {name: {type: string}}}}}
      responses: {"200": {description: ok}}
  /upload/files:
    post:
      x-entity: files_upload
      x-action: create
      x-airbyte-upload-file-param: file_content
      requestBody:
        content:
          multipart/related:
            schema:
              type: object
              properties: {name: {type: string}, file_content: {type: string, format: byte}, file_mime_type: {type: string}}
      responses: {"200": {description: ok}}
  /campaigns/typed:
    post:
      x-entity: typed_campaigns
      x-action: create
      parameters: [{name: Content-Type, in: header, schema: {type: string}}]
      requestBody:
        content: {application/json: {schema: {type: object, properties: {name: {type: string}}}}}
      responses: {"200": {description: ok}}
  /graphql:
    post:
      x-entity: boards
      x-action: list
      parameters: [{name: limit, in: query, schema: {type: integer}}]
      requestBody:
        x-body-type:
          type: graphql
          query: |
            query($limit: Int = 25) { boards(limit: $limit) { id } }
          variables: {limit: "{{ limit }}"}
        content: {application/json: {schema: {type: object}}}
      responses: {"200": {description: ok}}
"##,
        );
        // An operation defined on two paths: the last definition wins, as in the reference.
        let audits = s.operation("audits", "list").ok_or_else(|| Error::internal("no audits.list"))?;
        assert_eq!(audits.path, "/tickets/{ticket_id}/audits");
        let campaigns = s.operation("campaigns", "create").ok_or_else(|| Error::internal("no create"))?;
        let content_type =
            |b: &crate::request::Built| b.headers.iter().find(|(n, _)| n == "content-type").map(|(_, v)| v.clone());
        let named = crate::request::build(campaigns, json!({"name": "n"}).as_object().unwrap_or(&Map::new()))?;
        assert_eq!(content_type(&named).as_deref(), Some("application/vnd.campaign.v3+json"));
        // No body param given: no body and no content type.
        let empty = crate::request::build(campaigns, &Map::new())?;
        assert_eq!((content_type(&empty), empty.body), (None, None));
        // A content-type header param names the body's type.
        let typed = crate::request::build(
            campaigns_with_header(&s)?,
            json!({"name": "n", "Content-Type": "application/vnd.x+json"}).as_object().unwrap_or(&Map::new()),
        )?;
        let types: Vec<&String> = typed.headers.iter().filter(|(n, _)| n == "content-type").map(|(_, v)| v).collect();
        assert_eq!(types, ["application/vnd.x+json"]);
        // A file upload: multipart/related, the metadata as JSON, then the decoded bytes.
        let upload = s.operation("files_upload", "create").ok_or_else(|| Error::internal("no upload"))?;
        let params = json!({"name": "a.txt", "file_content": "aGVsbG8=", "file_mime_type": "text/plain"});
        let built = crate::request::build(upload, params.as_object().unwrap_or(&Map::new()))?;
        let ctype = content_type(&built).unwrap_or_default();
        let boundary = ctype.strip_prefix("multipart/related; boundary=").unwrap_or_default().to_string();
        assert!(!boundary.is_empty(), "{ctype}");
        let text = String::from_utf8(built.body.unwrap_or_default()).unwrap_or_default();
        assert_eq!(
            text,
            format!(
                "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{{\"name\":\"a.txt\"}}\r\n\
                 --{boundary}\r\nContent-Type: text/plain\r\n\r\nhello\r\n--{boundary}--\r\n"
            )
        );
        let bad = json!({"name": "a.txt", "file_content": "not base64!"});
        let e = crate::request::build(upload, bad.as_object().unwrap_or(&Map::new())).err();
        assert!(e.is_some_and(|e| e.code == crate::ErrorCode::Validation && e.message.contains("base64")));
        // A GraphQL variable whose param is not given is left out (the document's default
        // applies); the document keeps its last newline.
        let boards = s.operation("boards", "list").ok_or_else(|| Error::internal("no boards.list"))?;
        let body = |params: Value| -> Result<Value> {
            let built = crate::request::build(boards, params.as_object().unwrap_or(&Map::new()))?;
            Ok(serde_json::from_slice(&built.body.unwrap_or_default()).unwrap_or(Value::Null))
        };
        let given = body(json!({"limit": 5}))?;
        assert_eq!(given["variables"], json!({"limit": 5}));
        assert!(given["query"].as_str().is_some_and(|q| q.ends_with("}\n")), "{given}");
        assert_eq!(body(json!({}))?.get("variables"), Some(&json!({})));
        Ok(())
    }

    const USERS: &str = r##"
components:
  schemas:
    User:
      type: object
      properties:
        id: {type: integer}
        login: {type: string}
        manager: {$ref: "#/components/schemas/User"}
        team: {$ref: "#/components/schemas/Team"}
    Team:
      type: object
      properties:
        name: {type: [string, "null"]}
        members: {type: array, items: {$ref: "#/components/schemas/User"}}
    UserList:
      type: object
      properties:
        users: {type: array, items: {$ref: "#/components/schemas/User"}}
        next: {type: [string, "null"]}
paths:
  /users:
    get:
      x-entity: users
      x-action: list
      x-record-extractor: $.users
      responses:
        "200":
          description: ok
          content: {application/json: {schema: {$ref: "#/components/schemas/UserList"}}}
  /users/{id}:
    get:
      x-entity: users
      x-action: get
      parameters: [{name: id, in: path, required: true, schema: {type: integer}}]
      responses:
        "200":
          description: ok
          content: {application/json: {schema: {$ref: "#/components/schemas/User"}}}
"##;

    #[test]
    fn record_schema_is_the_list_items_or_the_whole_body() {
        let s = spec(USERS);
        let list = record(&s, "users", "list");
        assert_eq!(prop_type(list, "login"), &json!("string"));
        assert_eq!(prop_type(list, "id"), &json!("integer"));
        let get = record(&s, "users", "get");
        assert_eq!(get, list, "one record type whichever way it is reached");
        // Nested $refs are resolved; a type inside itself is left open there.
        let team = &get.unwrap_or_else(|| panic!("no schema"))["properties"]["team"];
        assert_eq!(team["properties"]["name"]["type"], json!(["string", "null"]));
        assert_eq!(team["properties"]["members"]["items"], json!({}));
        assert_eq!(get.unwrap_or_else(|| panic!("no schema"))["properties"]["manager"], json!({}));
    }

    #[test]
    fn record_schema_follows_graphql_paths_wildcards_and_the_reference_spelling() {
        let s = spec(
            r##"
components:
  schemas:
    Issue:
      type: object
      properties:
        title: {type: string}
        labels:
          type: object
          properties:
            nodes: {type: array, items: {type: object, properties: {name: {type: string}}}}
    IssuesPage:
      type: object
      properties:
        data:
          type: object
          properties:
            repository:
              anyOf:
                - type: object
                  properties:
                    issues:
                      type: object
                      properties:
                        nodes: {type: array, items: {$ref: "#/components/schemas/Issue"}}
                - type: "null"
paths:
  /g:list:
    post:
      x-entity: issues
      x-action: list
      x-path-override: {path: /graphql}
      x-body-type: {type: graphql, query: "query { x }"}
      x-record-extractor: $.data.repository.issues.nodes
      responses:
        "200":
          description: ok
          content: {application/json: {schema: {$ref: "#/components/schemas/IssuesPage"}}}
  /g:search:
    post:
      x-airbyte-entity: issues
      x-airbyte-action: search
      x-airbyte-path-override: {path: /graphql}
      x-airbyte-record-extractor: "$['data'].repository.issues.nodes[*]"
      responses:
        "200":
          description: ok
          content: {application/json: {schema: {$ref: "#/components/schemas/IssuesPage"}}}
  /g:get:
    post:
      x-entity: issues
      x-action: get
      x-path-override: {path: /graphql}
      x-record-extractor: $.data.repository.issues.nodes[0]
      responses:
        "200":
          description: ok
          content: {application/json: {schema: {$ref: "#/components/schemas/IssuesPage"}}}
"##,
        );
        for action in ["list", "search", "get"] {
            let r = record(&s, "issues", action);
            assert_eq!(prop_type(r, "title"), &json!("string"), "{action}");
            let labels = &r.unwrap_or_else(|| panic!("no schema"))["properties"]["labels"];
            assert_eq!(labels["properties"]["nodes"]["items"]["properties"]["name"]["type"], json!("string"));
        }
    }

    #[test]
    fn record_schema_prefers_200_then_201_then_any_2xx_and_merges_all_of() {
        let s = spec(
            r##"
components:
  schemas:
    Base: {type: object, properties: {id: {type: string}, note: {type: string, nullable: true}}, required: [id]}
  responses:
    Made:
      description: made
      content:
        application/json; charset=utf-8:
          schema:
            allOf:
              - $ref: "#/components/schemas/Base"
              - {type: object, properties: {name: {type: string}}}
paths:
  /a:
    post:
      x-entity: things
      x-action: create
      responses:
        "202": {description: later, content: {application/json: {schema: {type: object, properties: {job: {type: string}}}}}}
        "201": {$ref: "#/components/responses/Made"}
  /b:
    post:
      x-entity: things
      x-action: update
      responses:
        "400": {description: bad, content: {application/json: {schema: {type: object, properties: {error: {type: string}}}}}}
        "204": {description: none}
        "202": {description: later, content: {application/json: {schema: {type: object, properties: {job: {type: string}}}}}}
  /c:
    get:
      x-entity: things
      x-action: list
      x-record-extractor: $.names
      responses:
        "200":
          description: ok
          content: {application/json: {schema: {type: object, properties: {names: {type: array, items: {type: string}}}}}}
  /d:
    delete:
      x-entity: things
      x-action: delete
      responses: {"204": {description: gone}}
"##,
        );
        let create = record(&s, "things", "create");
        assert_eq!(prop_type(create, "id"), &json!("string"));
        assert_eq!(prop_type(create, "name"), &json!("string"), "allOf parts are merged");
        assert_eq!(create.and_then(|c| c.get("required")), Some(&json!(["id"])));
        assert_eq!(prop_type(create, "note"), &json!(["string", "null"]), "OpenAPI 3.0 `nullable`");
        assert_eq!(prop_type(record(&s, "things", "update"), "job"), &json!("string"), "the first 2xx with content");
        // A primitive record is described the way the runtime wraps it.
        assert_eq!(prop_type(record(&s, "things", "list"), "value"), &json!("string"));
        assert_eq!(record(&s, "things", "delete"), None, "no content, no schema");
    }

    #[test]
    fn an_extractor_the_schema_cannot_follow_gives_none_not_an_error() {
        let s = spec(
            r##"
paths:
  /a:
    get:
      x-entity: a
      x-action: list
      x-record-extractor: $.missing
      responses:
        "200": {description: ok, content: {application/json: {schema: {type: object, properties: {items: {type: array}}}}}}
  /b:
    get:
      x-entity: b
      x-action: list
      x-record-extractor: $..items
      responses:
        "200": {description: ok, content: {application/json: {schema: {type: object, properties: {items: {type: array}}}}}}
  /c:
    get:
      x-entity: c
      x-action: list
      x-record-extractor: $.items
      responses: {"200": {description: no schema}}
"##,
        );
        assert_eq!(record(&s, "a", "list"), None);
        assert_eq!(record(&s, "b", "list"), None, "recursive descent is not followed");
        assert_eq!(record(&s, "c", "list"), None);
        assert_eq!(
            path_steps("$.a['b c'][*].d[3]"),
            Some(vec![
                Step::Property("a".into()),
                Step::Property("b c".into()),
                Step::Items,
                Step::Property("d".into()),
                Step::Items,
            ])
        );
        assert_eq!(path_steps("$"), Some(vec![]));
        assert_eq!(path_steps("$.items[?@.x]"), None);
    }

    #[test]
    fn a_malformed_response_schema_fails_the_load_at_its_pointer() {
        let with = |schema: &str| {
            load(&format!(
                r##"
components:
  schemas:
    Broken: {{type: object, properties: {{owner: {{$ref: "#/components/schemas/Nope"}}}}}}
    Odd: {{type: object, properties: {{n: {{type: float}}}}}}
paths:
  /a:
    get:
      x-entity: a
      x-action: get
      responses:
        "200": {{description: ok, content: {{application/json: {{schema: {schema}}}}}}}
"##
            ))
            .err()
            .map(|e| e.message)
            .unwrap_or_default()
        };
        let m = with(r##"{$ref: "#/components/schemas/Missing"}"##);
        assert!(
            m.contains("t.yaml") && m.contains("/paths/~1a/get/responses/200/content/application~1json/schema"),
            "{m}"
        );
        assert!(m.contains("points at nothing"), "{m}");
        let m = with(r##"{$ref: "#/components/schemas/Broken"}"##);
        assert!(m.contains("at /components/schemas/Broken/properties/owner:"), "{m}");
        let m = with(r##"{$ref: "#/components/schemas/Odd"}"##);
        assert!(m.contains("/components/schemas/Odd/properties/n/type"), "{m}");
        let m = with(r##"{type: object, properties: [a, b]}"##);
        assert!(m.contains("/schema/properties: expected an object"), "{m}");
        let m = with(r##"{$ref: "other.yaml#/X"}"##);
        assert!(m.contains("only local $ref"), "{m}");
    }

    #[test]
    fn recursive_and_fanning_out_schemas_load_without_hanging() {
        // Every type names every other one several times over: expanded naively this is
        // astronomically large; cycles are cut and the node budget bounds the rest.
        let mut schemas = String::new();
        for i in 0..12 {
            let props: Vec<String> = (0..12)
                .map(|j| format!("p{j}: {{$ref: \"#/components/schemas/T{j}\"}}, q{j}: {{type: array, items: {{$ref: \"#/components/schemas/T{j}\"}}}}"))
                .collect();
            schemas.push_str(&format!(
                "    T{i}: {{type: object, properties: {{id: {{type: string}}, {}}}}}\n",
                props.join(", ")
            ));
        }
        let s = spec(&format!(
            r##"
components:
  schemas:
{schemas}    Loop: {{$ref: "#/components/schemas/Loop2"}}
    Loop2: {{type: object, properties: {{self: {{$ref: "#/components/schemas/Loop"}}}}}}
paths:
  /a:
    get:
      x-entity: a
      x-action: get
      responses:
        "200": {{description: ok, content: {{application/json: {{schema: {{$ref: "#/components/schemas/T0"}}}}}}}}
  /b:
    get:
      x-entity: b
      x-action: get
      responses:
        "200": {{description: ok, content: {{application/json: {{schema: {{$ref: "#/components/schemas/Loop"}}}}}}}}
"##
        ));
        assert_eq!(prop_type(record(&s, "a", "get"), "id"), &json!("string"));
        assert_eq!(record(&s, "b", "get"), Some(&json!({"type": "object", "properties": {"self": {}}})));
        // A pure `$ref` cycle has nothing in it: it loads, left open.
        let s = spec(
            r##"
components:
  schemas:
    A: {$ref: "#/components/schemas/B"}
    B: {$ref: "#/components/schemas/A"}
paths:
  /a:
    get:
      x-entity: a
      x-action: get
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: "#/components/schemas/A"}}}}
"##,
        );
        assert_eq!(record(&s, "a", "get"), Some(&json!({})));
    }
}
