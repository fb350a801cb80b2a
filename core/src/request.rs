//! Param validation and request building: everything between `execute(entity, action, params)`
//! and the bytes of an HTTP request, done before any network call.

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::spec::{BodyKind, ConnectorSpec, GraphQlBody, Operation, Param, ParamLocation, ParamType};
use crate::template;

/// A built request, before auth.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    pub method: String,
    /// Path after the base URL, params filled and encoded.
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Query params whose values keep reserved characters as they are (`allowReserved`).
    pub reserved: Vec<String>,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

/// `value` percent-encoded as RFC 6570's reserved expansion does, for a query: RFC 3986's
/// reserved characters that do not split a query (`( ) , : / ? @ ! $ ' * ; [ ]`) and
/// percent-encoded triplets (`%3A`) stay as they are; `& = # +`, a lone `%`, spaces and every
/// other byte are encoded.
fn keeping_reserved(value: &str, out: &mut String) {
    let bytes = value.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let triplet = b == b'%' && bytes.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
        if b.is_ascii_alphanumeric() || b"-._~()[],:/?@!$'*;".contains(&b) || triplet {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// A query string of `pairs`, form-encoded, the values of the `reserved` params (their
/// `allowReserved`) kept as [`keeping_reserved`] says.
pub fn query_string(pairs: &[(String, String)], reserved: &[String]) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&url::form_urlencoded::byte_serialize(k.as_bytes()).collect::<String>());
        out.push('=');
        if reserved.contains(k) {
            keeping_reserved(v, &mut out);
        } else {
            out.push_str(&url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>());
        }
    }
    out
}

/// Finds the operation, with a message an LLM can correct itself from.
pub fn find_operation<'s>(spec: &'s ConnectorSpec, entity: &str, action: &str) -> Result<&'s Operation> {
    if let Some(op) = spec.operation(entity, action) {
        return Ok(op);
    }
    let actions = spec.actions(entity);
    if actions.is_empty() {
        let entities = spec.entities();
        return Err(Error::validation(format!(
            "unknown entity {} for connector {}; valid entities: {}",
            shown(entity),
            spec.slug,
            entities.join(", ")
        ))
        .with_details(serde_json::json!({"entity": shown_plain(entity), "valid_entities": entities})));
    }
    Err(Error::validation(format!(
        "entity {entity:?} of connector {} has no action {}; valid actions: {}",
        spec.slug,
        shown(action),
        actions.join(", ")
    ))
    .with_details(serde_json::json!({"entity": entity, "action": shown_plain(action), "valid_actions": actions})))
}

/// A caller's name (an entity, an action, a param) as a message quotes it: its first 80
/// characters, so a name of a megabyte is not sent back whole.
fn shown(name: &str) -> String {
    match name.char_indices().nth(80) {
        None => format!("{name:?}"),
        Some((cut, _)) => format!("{:?}... ({} characters)", &name[..cut], name.chars().count()),
    }
}

/// [`shown`] without the quotes, for `details`.
fn shown_plain(name: &str) -> String {
    name.char_indices().nth(80).map_or_else(|| name.to_string(), |(cut, _)| format!("{}...", &name[..cut]))
}

fn describe_value(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        format!("{}...", &s[..s.char_indices().nth(77).map(|(i, _)| i).unwrap_or(s.len())])
    } else {
        s
    }
}

fn type_ok(ty: ParamType, v: &Value) -> bool {
    match ty {
        ParamType::String => v.is_string(),
        // A whole float (`5.0`) is an integer; one past 64 bits (`1e300`) is no API's.
        ParamType::Integer => {
            v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
        }
        ParamType::Number => v.is_number(),
        ParamType::Boolean => v.is_boolean(),
        ParamType::Array => v.is_array(),
        ParamType::Object => v.is_object(),
    }
}

/// `name` in snake_case, as Python and the reference's samples spell params:
/// `fromDateTime` -> `from_date_time`, `HTTPStatus` -> `http_status`, `per-page` -> `per_page`.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c == '-' || c == ' ' {
            out.push('_');
        } else if c.is_uppercase() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1);
            // `IDs`: a plural `s` after an acronym does not start a word.
            let plural = next == Some(&'s') && chars.get(i + 2).is_none_or(|c| !c.is_alphabetic());
            let boundary = prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit())
                || (prev.is_some_and(char::is_uppercase) && next.is_some_and(|n| n.is_lowercase()) && !plural);
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `params` with every name given in the snake_case spelling of a camelCase param
/// (`from_date_time` for Gong's `fromDateTime`), or as one of a param's `x-aliases`, renamed to
/// the param's own; a name given both ways keeps both, so the duplicate is reported as unknown.
fn own_names<'p>(op: &Operation, params: &'p Map<String, Value>) -> std::borrow::Cow<'p, Map<String, Value>> {
    if params.keys().all(|k| op.param(k).is_some()) {
        return std::borrow::Cow::Borrowed(params);
    }
    let mut out = Map::new();
    for (k, v) in params {
        let own = match op.param(k) {
            Some(_) => None,
            None => op.params.iter().find(|p| {
                (snake_case(&p.name) == *k || p.aliases.iter().any(|a| a == k)) && !params.contains_key(&p.name)
            }),
        };
        out.insert(own.map_or_else(|| k.clone(), |p| p.name.clone()), v.clone());
    }
    std::borrow::Cow::Owned(out)
}

/// Whether HTTP cannot carry `value` in a header as it is: it holds a line break, NUL or another
/// control character but tab (what sending refuses; bytes past ASCII go as they are).
pub(crate) fn header_cannot_carry(value: &str) -> bool {
    value.chars().any(|c| c != '\t' && (c < ' ' || c == '\u{7f}'))
}

/// Checks a call's options: `select_fields` and `exclude_fields` are dot paths of field names
/// (`user.login`) with no empty name (`""`, `"."`, `"a..b"` name no field: keeping them would
/// empty every record without a word), and an `intent` fits its bound.
pub fn validate_options(options: &crate::execution::ExecuteOptions) -> Result<()> {
    for (option, paths) in [("select_fields", &options.select_fields), ("exclude_fields", &options.exclude_fields)] {
        if let Some((i, path)) = paths.iter().enumerate().find(|(_, p)| p.split('.').any(str::is_empty)) {
            return Err(Error::validation(format!(
                "{option}[{i}] is {}: a field path is field names joined by dots, e.g. \"user.login\", with no empty name",
                shown(path)
            ))
            .with_details(serde_json::json!({"param": option, "index": i})));
        }
    }
    let max = crate::execution::MAX_INTENT_CHARS;
    if let Some(n) = options.intent.as_deref().map(|i| i.chars().count()).filter(|n| *n > max) {
        return Err(Error::validation(format!("intent is {n} characters long; at most {max} are taken"))
            .with_details(serde_json::json!({"param": "intent"})));
    }
    Ok(())
}

/// Validates `params` against the operation: unknown names, missing required ones, types,
/// enums and bounds. Returns the params with defaults applied where they must be sent. Params
/// may be named in snake_case where the API spells them in camelCase.
pub fn validate(spec: &ConnectorSpec, op: &Operation, params: &Map<String, Value>) -> Result<Map<String, Value>> {
    let params = own_names(op, params);
    let params = params.as_ref();
    let ctx = format!("{} {}.{}", spec.slug, op.entity, op.action);
    let mut problems: Vec<String> = Vec::new();
    let names: Vec<&str> = op.params.iter().map(|p| p.name.as_str()).collect();
    for k in params.keys() {
        if op.param(k).is_none() {
            problems.push(format!(
                "unknown param {}; {} accepts: {}",
                shown(k),
                ctx,
                if names.is_empty() { "no params".to_string() } else { names.join(", ") }
            ));
        }
    }
    let mut out = Map::new();
    for p in &op.params {
        match params.get(&p.name) {
            None | Some(Value::Null) => {
                if p.is_required_from_caller() {
                    problems.push(format!("missing required param {:?}{}", p.name, hint(p)));
                } else if let Some(d) = &p.default {
                    // Defaults are sent where they shape the request (templates, headers, bodies,
                    // required params); query params are left to the API's own defaults.
                    if matches!(p.location, ParamLocation::Template | ParamLocation::Header | ParamLocation::Body)
                        || p.required
                    {
                        out.insert(p.name.clone(), d.clone());
                    }
                }
            }
            Some(v) => {
                if let Some(msg) = check_value(p, v).or_else(|| check_graphql_fields(op, p, v)) {
                    problems.push(msg);
                } else {
                    out.insert(p.name.clone(), v.clone());
                }
            }
        }
    }
    if problems.is_empty() {
        return Ok(out);
    }
    Err(Error::validation(format!("invalid params for {ctx}: {}", problems.join("; ")))
        .with_details(serde_json::json!({"problems": problems})))
}

fn hint(p: &Param) -> String {
    let mut parts = Vec::new();
    if let Some(t) = p.ty {
        parts.push(t.article().to_string());
    }
    if let Some(d) = &p.description {
        let first = d.lines().next().unwrap_or_default();
        parts.push(first.chars().take(120).collect());
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(": "))
    }
}

fn check_value(p: &Param, v: &Value) -> Option<String> {
    // An empty path segment makes another URL (`/repos//issues`), never the resource meant.
    if p.location == ParamLocation::Path && v.as_str().is_some_and(|s| s.trim().is_empty()) {
        return Some(format!("param {:?} is part of the URL path and must not be empty{}", p.name, hint(p)));
    }
    // A header value HTTP cannot carry would be refused at sending, as if the spec were wrong.
    if p.location == ParamLocation::Header && v.as_str().is_some_and(header_cannot_carry) {
        return Some(format!(
            "param {:?} is sent as an HTTP header and must not hold a line break or other control character",
            p.name
        ));
    }
    if let Some(ty) = p.ty {
        if !type_ok(ty, v) {
            return Some(format!("param {:?} must be {}, got {}", p.name, ty.article(), describe_value(v)));
        }
        if let (ParamType::Array, Some(item_ty), Some(items)) = (ty, p.items, v.as_array()) {
            if let Some((i, bad)) = items.iter().enumerate().find(|(_, x)| !type_ok(item_ty, x)) {
                return Some(format!(
                    "param {:?} must be an array of {} values, but item {i} is {}",
                    p.name,
                    item_ty.as_str(),
                    describe_value(bad)
                ));
            }
        }
    }
    if let Some(allowed) = &p.enum_values {
        let check_one = |x: &Value| allowed.iter().any(|a| a == x);
        let ok = match v.as_array() {
            Some(arr) if p.ty == Some(ParamType::Array) => arr.iter().all(check_one),
            _ => check_one(v),
        };
        if !ok {
            let list: Vec<String> =
                allowed.iter().map(|a| a.as_str().map(str::to_string).unwrap_or_else(|| a.to_string())).collect();
            return Some(format!("param {:?} must be one of: {}; got {}", p.name, list.join(", "), describe_value(v)));
        }
    }
    if let Some(n) = v.as_f64() {
        let below = p.minimum.is_some_and(|m| n < m);
        let above = p.maximum.is_some_and(|m| n > m);
        if below || above {
            let range = match (p.minimum, p.maximum) {
                (Some(a), Some(b)) => format!("between {a} and {b}"),
                (Some(a), None) => format!("at least {a}"),
                (None, Some(b)) => format!("at most {b}"),
                (None, None) => String::new(),
            };
            return Some(format!("param {:?} must be {range}, got {n}", p.name));
        }
    }
    if p.location == ParamLocation::Path {
        if let Some(problem) = path_segment_problem(&scalar_text(v)) {
            return Some(format!("param {:?} {problem}", p.name));
        }
    }
    if v.is_array() || v.is_object() {
        return check_nested(&p.name, v, &p.schema);
    }
    None
}

/// Why `value` cannot fill a path segment, if it cannot: empty, `.` and `..` would change which
/// path the request goes to (a URL parser resolves dot segments even when they are a param's
/// value). Every other value is percent-encoded into one segment by [`build`].
fn path_segment_problem(value: &str) -> Option<&'static str> {
    match value {
        "" => Some("must not be empty"),
        "." | ".." => Some("must not be \".\" or \"..\" (a path segment that would leave the operation's path)"),
        _ => None,
    }
}

/// The problem with the `fields` param of a GraphQL operation, if any (see
/// [`template::field_selection`]).
fn check_graphql_fields(op: &Operation, p: &Param, v: &Value) -> Option<String> {
    match &op.body {
        BodyKind::GraphQl(g) if p.name == "fields" => {
            graphql_fields(op, g, v).err().map(|m| format!("param {:?} {m}", p.name))
        }
        _ => None,
    }
}

/// The selection a GraphQL operation's `fields` param asks for, from the names its spec declares
/// (`items.enum` of the param's schema) and their text in `default_fields`.
fn graphql_fields(op: &Operation, g: &GraphQlBody, v: &Value) -> std::result::Result<String, String> {
    let allowed = op
        .param("fields")
        .and_then(|p| p.schema.get("items"))
        .and_then(|items| items.get("enum"))
        .and_then(Value::as_array)
        .map(Vec::as_slice);
    template::field_selection(v, allowed, g.default_fields.as_deref())
}

fn parse_type(t: &str) -> Option<ParamType> {
    Some(match t {
        "string" => ParamType::String,
        "integer" => ParamType::Integer,
        "number" => ParamType::Number,
        "boolean" => ParamType::Boolean,
        "array" => ParamType::Array,
        "object" => ParamType::Object,
        _ => return None,
    })
}

fn nullable(schema: &Value) -> bool {
    schema.get("nullable").and_then(Value::as_bool) == Some(true)
        || schema.get("type").and_then(Value::as_array).is_some_and(|ts| ts.iter().any(|t| t == "null"))
}

/// Checks the inside of an object or array param against its schema (types, enums, required
/// properties), naming the path of the fault, e.g. `filterGroups[0].filters[0].operator`.
fn check_nested(path: &str, v: &Value, schema: &Value) -> Option<String> {
    match v {
        Value::Array(items) => {
            let item_schema = schema.get("items")?;
            for (i, it) in items.iter().enumerate() {
                if let Some(m) = check_node(&format!("{path}[{i}]"), it, item_schema) {
                    return Some(m);
                }
            }
            None
        }
        Value::Object(m) => {
            if let Some(req) = schema.get("required").and_then(Value::as_array) {
                for r in req.iter().filter_map(Value::as_str) {
                    if !m.contains_key(r) {
                        return Some(format!("param {path:?} is missing the required field {r:?}"));
                    }
                }
            }
            let props = schema.get("properties").and_then(Value::as_object)?;
            for (k, x) in m {
                if let Some(ps) = props.get(k) {
                    if let Some(msg) = check_node(&format!("{path}.{k}"), x, ps) {
                        return Some(msg);
                    }
                }
            }
            None
        }
        _ => None,
    }
}

fn check_node(path: &str, v: &Value, schema: &Value) -> Option<String> {
    if v.is_null() && nullable(schema) {
        return None;
    }
    let types: Vec<ParamType> = match schema.get("type") {
        Some(Value::String(t)) => parse_type(t).into_iter().collect(),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).filter_map(parse_type).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() && !types.iter().any(|t| type_ok(*t, v)) {
        let names: Vec<&str> = types.iter().map(|t| t.article()).collect();
        return Some(format!("{path:?} must be {}, got {}", names.join(" or "), describe_value(v)));
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.iter().any(|a| a == v) {
            let list: Vec<String> =
                allowed.iter().map(|a| a.as_str().map(str::to_string).unwrap_or_else(|| a.to_string())).collect();
            return Some(format!("{path:?} must be one of: {}; got {}", list.join(", "), describe_value(v)));
        }
    }
    check_nested(path, v, schema)
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

const PATH_SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Builds the request for validated params.
pub fn build(op: &Operation, params: &Map<String, Value>) -> Result<Built> {
    let mut path = op.path.clone();
    let mut query = Vec::new();
    let mut headers = Vec::new();
    let mut body_fields = Map::new();
    let mut body_root: Option<Value> = None;
    // A cursor that must go alone (`x-pagination` `cursor_alone`, Amazon SP-API's nextToken):
    // with it, no other query param is sent.
    let alone = op
        .pagination
        .as_ref()
        .filter(|pg| pg.cursor_alone && params.get(&pg.param).is_some_and(|v| !v.is_null()))
        .map(|pg| pg.param.as_str());
    for p in &op.params {
        let Some(v) = params.get(&p.name) else { continue };
        if alone.is_some_and(|cursor| p.location == ParamLocation::Query && p.name != cursor) {
            continue;
        }
        match p.location {
            ParamLocation::Path => {
                // Every reserved character (`/`, `?`, `#`, `%`, ...) is encoded, so the value
                // stays one segment; dot segments and empty values are refused outright.
                let text = scalar_text(v);
                if let Some(problem) = path_segment_problem(&text) {
                    return Err(Error::validation(format!("invalid params: param {:?} {problem}", p.name))
                        .with_details(serde_json::json!({"param": p.name})));
                }
                let enc = percent_encoding::utf8_percent_encode(&text, PATH_SEGMENT).to_string();
                path = path.replace(&format!("{{{}}}", p.name), &enc);
            }
            ParamLocation::Query => encode_query(&p.name, v, p.deep_object, p.no_explode, &mut query),
            ParamLocation::Header => headers.push((p.name.to_ascii_lowercase(), scalar_text(v))),
            ParamLocation::Body if p.body_root => body_root = Some(v.clone()),
            ParamLocation::Body => {
                body_fields.insert(p.name.clone(), v.clone());
            }
            ParamLocation::Template => {}
        }
    }
    let body = match &op.body {
        BodyKind::None => None,
        // No body param given, no body (the reference runtime sends none either).
        BodyKind::Json | BodyKind::Form if body_root.is_none() && body_fields.is_empty() => None,
        BodyKind::Json if op.upload_param.as_ref().is_some_and(|u| body_fields.contains_key(u)) => {
            let upload = op.upload_param.as_deref().unwrap_or_default();
            let (body, content_type) = multipart_related(upload, body_fields)?;
            headers.push(("content-type".into(), content_type));
            Some(body)
        }
        BodyKind::Json => {
            let v = body_root.unwrap_or(Value::Object(body_fields));
            let media = op.body_media_type.as_deref().unwrap_or("application/json");
            headers.push(("content-type".into(), media.into()));
            Some(serde_json::to_vec(&v).map_err(|e| Error::internal(format!("cannot encode body: {e}")))?)
        }
        BodyKind::Form => {
            let v = body_root.unwrap_or(Value::Object(body_fields));
            let mut pairs = Vec::new();
            if let Value::Object(m) = &v {
                for (k, x) in m {
                    match x {
                        Value::Array(items) if op.param(k).is_some_and(|p| p.form_repeat) => {
                            pairs.extend(items.iter().map(|i| (k.clone(), scalar_text(i))));
                        }
                        _ => form_encode(k, x, &mut pairs),
                    }
                }
            }
            headers.push(("content-type".into(), "application/x-www-form-urlencoded".into()));
            Some(url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish().into_bytes())
        }
        BodyKind::GraphQl(g) => {
            // `{{ fields }}` is pasted into the document: only names the spec declares get there.
            let fields = match params.get("fields") {
                None | Some(Value::Null) => g.default_fields.clone().unwrap_or_default(),
                Some(v) => graphql_fields(op, g, v).map_err(|m| {
                    Error::validation(format!("invalid params: param \"fields\" {m}"))
                        .with_details(serde_json::json!({"param": "fields"}))
                })?,
            };
            // The params and the selection, for the templates that need rendering.
            let make_ctx = || {
                let mut ctx = params.clone();
                ctx.insert("fields".into(), Value::String(fields.clone()));
                Value::Object(ctx)
            };
            let query = template::render_query(&g.query, &fields, make_ctx)?;
            let mut ctx: Option<Value> = None;
            let mut vars = Map::new();
            for (name, tmpl) in &g.variables {
                let value = match tmpl {
                    // A variable whose param is not given is left out, so the document's
                    // default for it applies (an explicit null would override the default);
                    // `variables` itself is sent whenever the document declares some.
                    Value::String(s) => match template::bare_variable(s) {
                        Some(var) => match params.get(var) {
                            Some(v) => v.clone(),
                            None => continue,
                        },
                        None => Value::String(template::render(s, ctx.get_or_insert_with(make_ctx))?),
                    },
                    other => other.clone(),
                };
                vars.insert(name.clone(), value);
            }
            headers.push(("content-type".into(), "application/json".into()));
            // `{"query": ..., "variables": {...}}`, in that order, the query text not copied.
            #[derive(serde::Serialize)]
            struct Document<'a> {
                query: &'a str,
                #[serde(skip_serializing_if = "Option::is_none")]
                variables: Option<&'a Map<String, Value>>,
            }
            let body = Document { query: &query, variables: (!g.variables.is_empty()).then_some(&vars) };
            Some(serde_json::to_vec(&body).map_err(|e| Error::internal(format!("cannot encode body: {e}")))?)
        }
    };
    // A `Content-Type` header param (Amazon Ads' vendor types) names the body's type itself.
    if let Some(i) = headers.iter().position(|(n, _)| n == "content-type") {
        if headers.iter().skip(i + 1).any(|(n, _)| n == "content-type") {
            let given = headers.remove(i);
            headers.retain(|(n, _)| n != "content-type");
            headers.push(given);
        }
    }
    let reserved = op
        .params
        .iter()
        .filter(|p| p.allow_reserved && p.location == ParamLocation::Query)
        .map(|p| p.name.clone())
        .collect();
    Ok(Built { method: op.method.clone(), path, query, reserved, headers, body })
}

/// A `multipart/related` upload: the body params but the file (`upload`, base64) and its
/// `file_mime_type` as a JSON metadata part, then the file's bytes. Returns the body and its
/// content type (with the boundary).
fn multipart_related(upload: &str, mut fields: Map<String, Value>) -> Result<(Vec<u8>, String)> {
    use base64::Engine as _;
    let invalid = |what: &str| {
        Error::validation(format!("invalid params: param {upload:?} {what}"))
            .with_details(serde_json::json!({"param": upload}))
    };
    let content = match fields.remove(upload) {
        Some(Value::String(s)) => base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map_err(|_| invalid("must be the file's content in base64"))?,
        _ => return Err(invalid("must be a string (the file's content in base64)")),
    };
    let mime = match fields.remove("file_mime_type") {
        Some(Value::String(m)) if !m.trim().is_empty() && !m.contains(['\r', '\n']) => m,
        _ => "application/octet-stream".to_string(),
    };
    let boundary = format!("switchboard_boundary_{:032x}", rand::random::<u128>());
    let metadata = serde_json::to_vec(&Value::Object(fields))
        .map_err(|e| Error::internal(format!("cannot encode the upload's metadata: {e}")))?;
    let mut body = Vec::with_capacity(metadata.len() + content.len() + 256);
    body.extend_from_slice(format!("--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n").as_bytes());
    body.extend_from_slice(&metadata);
    body.extend_from_slice(format!("\r\n--{boundary}\r\nContent-Type: {mime}\r\n\r\n").as_bytes());
    body.extend_from_slice(&content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    Ok((body, format!("multipart/related; boundary={boundary}")))
}

fn encode_query(name: &str, v: &Value, deep: bool, no_explode: bool, out: &mut Vec<(String, String)>) {
    match v {
        Value::Array(items) if no_explode => {
            out.push((name.to_string(), items.iter().map(scalar_text).collect::<Vec<_>>().join(",")));
        }
        Value::Array(items) if deep => {
            // deepObject arrays are indexed: `ids[0]=a&ids[1]=b` (Stripe's form).
            for (i, it) in items.iter().enumerate() {
                encode_query(&format!("{name}[{i}]"), it, true, no_explode, out);
            }
        }
        Value::Array(items) => {
            for it in items {
                out.push((name.to_string(), scalar_text(it)));
            }
        }
        Value::Object(m) if deep => {
            for (k, x) in m {
                encode_query(&format!("{name}[{k}]"), x, true, no_explode, out);
            }
        }
        Value::Object(_) => out.push((name.to_string(), v.to_string())),
        other => out.push((name.to_string(), scalar_text(other))),
    }
}

/// Stripe-style form encoding: `a[b]=c`, `items[0][price]=p`.
fn form_encode(key: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                form_encode(&format!("{key}[{k}]"), x, out);
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                if x.is_object() || x.is_array() {
                    form_encode(&format!("{key}[{i}]"), x, out);
                } else {
                    out.push((format!("{key}[{i}]"), scalar_text(x)));
                }
            }
        }
        Value::Null => out.push((key.to_string(), String::new())),
        other => out.push((key.to_string(), scalar_text(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn snake_case_spellings() {
        for (name, want) in [
            ("fromDateTime", "from_date_time"),
            ("per_page", "per_page"),
            ("HTTPStatus", "http_status"),
            ("workspace-id", "workspace_id"),
            ("id", "id"),
            ("callIDs", "call_ids"),
            ("v2Name", "v2_name"),
        ] {
            assert_eq!(snake_case(name), want, "{name}");
        }
    }

    #[test]
    fn params_may_be_given_in_snake_case() -> crate::Result<()> {
        let gong = crate::Registry::builtin()?.get("gong")?;
        let op = gong.operation("calls", "list").ok_or_else(|| crate::Error::internal("no calls.list"))?;
        let given = json!({"from_date_time": "2025-01-01T00:00:00Z", "toDateTime": "2025-01-14T00:00:00Z"});
        let out = validate(&gong, op, given.as_object().ok_or_else(|| crate::Error::internal("object"))?)?;
        assert_eq!(out.get("fromDateTime"), Some(&json!("2025-01-01T00:00:00Z")));
        assert_eq!(out.get("toDateTime"), Some(&json!("2025-01-14T00:00:00Z")));
        let both = json!({"from_date_time": "a", "fromDateTime": "2025-01-01T00:00:00Z"});
        let e = validate(&gong, op, both.as_object().ok_or_else(|| crate::Error::internal("object"))?);
        assert!(e.is_err_and(|e| e.message.contains("unknown param \"from_date_time\"")));
        Ok(())
    }

    #[test]
    fn long_names_big_floats_and_empty_path_segments_are_refused_briefly() -> crate::Result<()> {
        let reg = crate::Registry::builtin()?;
        let obj = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
        // A megabyte-long name is quoted by its first 80 characters.
        let stripe = reg.get("stripe")?;
        let long = "e".repeat(1_000_000);
        let e = find_operation(&stripe, &long, "list").err().unwrap_or_else(|| panic!("found"));
        assert!(e.message.len() < 2_000 && e.message.contains("(1000000 characters)"), "{}", e.message.len());
        let get = stripe.operation("customers", "get").ok_or_else(|| crate::Error::internal("no customers.get"))?;
        let mut params = obj(json!({"id": "cus_1"}));
        params.insert(long.clone(), json!(1));
        let e = validate(&stripe, get, &params).err().unwrap_or_else(|| panic!("taken"));
        assert!(e.message.len() < 2_000 && e.message.contains("unknown param \"eee"), "{}", e.message.len());
        // An empty path segment would address another resource.
        let e = validate(&stripe, get, &obj(json!({"id": " "}))).err().unwrap_or_else(|| panic!("taken"));
        assert!(e.message.contains("param \"id\" is part of the URL path and must not be empty"), "{}", e.message);
        // An integer past 64 bits is no integer an API takes; a whole float is one.
        let gh = reg.get("github")?;
        let issue = gh.operation("issues", "get").ok_or_else(|| crate::Error::internal("no issues.get"))?;
        let e = validate(&gh, issue, &obj(json!({"owner": "o", "repo": "r", "number": 1e300})));
        assert!(e.is_err_and(|e| e.message.contains("param \"number\" must be an integer")));
        assert!(validate(&gh, issue, &obj(json!({"owner": "o", "repo": "r", "number": 5.0}))).is_ok());
        // A header param with a line break is the caller's mistake (validation), not the spec's.
        let intercom = reg.get("intercom")?;
        let (op, header) = intercom
            .operations
            .iter()
            .find_map(|op| op.params.iter().find(|p| p.location == ParamLocation::Header).map(|p| (op, p.name.clone())))
            .ok_or_else(|| crate::Error::internal("no header param"))?;
        let mut params = obj(json!({}));
        for p in op.params.iter().filter(|p| p.required) {
            params.insert(p.name.clone(), json!("1"));
        }
        params.insert(header.clone(), json!("2.11\r\nX-Injected: yes"));
        let e = validate(&intercom, op, &params).err().unwrap_or_else(|| panic!("taken"));
        assert!(e.message.contains("is sent as an HTTP header and must not hold a line break"), "{}", e.message);
        Ok(())
    }

    #[test]
    fn form_encoding_nests_like_stripe() {
        let mut out = Vec::new();
        form_encode("metadata", &json!({"plan": "pro"}), &mut out);
        form_encode("items", &json!([{"price": "p1"}]), &mut out);
        form_encode("expand", &json!(["a", "b"]), &mut out);
        assert_eq!(
            out,
            vec![
                ("metadata[plan]".to_string(), "pro".to_string()),
                ("items[0][price]".to_string(), "p1".to_string()),
                ("expand[0]".to_string(), "a".to_string()),
                ("expand[1]".to_string(), "b".to_string()),
            ]
        );
    }

    /// LinkedIn's Rest.li values keep their structure (`( ) , :`) and their encoded URNs.
    #[test]
    fn allow_reserved_values_keep_their_structure() {
        let pairs = [
            ("dateRange".to_string(), "(start:(year:2024,month:1,day:1))".to_string()),
            ("campaigns".to_string(), "List(urn%3Ali%3AsponsoredCampaign%3A123)".to_string()),
            ("q".to_string(), "a b&c=d#e+f%g(".to_string()),
            ("odd".to_string(), "50% & é".to_string()),
        ];
        let reserved = ["dateRange".to_string(), "campaigns".to_string(), "odd".to_string()];
        assert_eq!(
            query_string(&pairs, &reserved),
            "dateRange=(start:(year:2024,month:1,day:1))&campaigns=List(urn%3Ali%3AsponsoredCampaign%3A123)\
             &q=a+b%26c%3Dd%23e%2Bf%25g%28&odd=50%25%20%26%20%C3%A9"
        );
    }

    /// A form array whose encoding says `explode: true` repeats its key, as Twilio reads it.
    #[test]
    fn a_form_array_with_explode_repeats_its_key() -> crate::Result<()> {
        let twilio = crate::Registry::builtin()?.get("twilio")?;
        let op = twilio.operation("messages", "create").ok_or_else(|| crate::Error::internal("no messages.create"))?;
        let given = json!({"AccountSid": "AC123", "To": "+15550001111", "MediaUrl": ["https://a.example/1.png", "https://a.example/2.png"]});
        let params = validate(&twilio, op, given.as_object().ok_or_else(|| crate::Error::internal("object"))?)?;
        let body = build(op, &params)?.body.unwrap_or_default();
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
        let media: Vec<&(String, String)> = pairs.iter().filter(|(k, _)| k.starts_with("MediaUrl")).collect();
        assert_eq!(
            media,
            [
                &("MediaUrl".to_string(), "https://a.example/1.png".to_string()),
                &("MediaUrl".to_string(), "https://a.example/2.png".to_string())
            ],
            "{pairs:?}"
        );
        Ok(())
    }

    #[test]
    fn deep_object_queries() {
        let mut out = Vec::new();
        encode_query("created", &json!({"gte": 5}), true, false, &mut out);
        encode_query("ids", &json!(["a", "b"]), true, false, &mut out);
        let want = [("created[gte]", "5"), ("ids[0]", "a"), ("ids[1]", "b")];
        assert_eq!(out, want.map(|(k, v)| (k.to_string(), v.to_string())).to_vec());
    }

    #[test]
    fn nested_values_are_checked_against_the_schema() {
        let schema = json!({"type": "array", "items": {"type": "object", "required": ["operator"], "properties": {
            "operator": {"type": "string", "enum": ["EQ", "GT"]}, "value": {"type": "string"}}}});
        assert_eq!(check_nested("filters", &json!([{"operator": "EQ", "value": "x"}]), &schema), None);
        let bad = check_nested("filters", &json!([{"operator": "LIKE"}]), &schema).unwrap_or_default();
        assert!(bad.contains("filters[0].operator") && bad.contains("EQ, GT"), "{bad}");
        let missing = check_nested("filters", &json!([{"value": "x"}]), &schema).unwrap_or_default();
        assert!(missing.contains("required field \"operator\""), "{missing}");
    }
}
