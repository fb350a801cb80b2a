//! `switchboard connectors import OPENAPI_DOC`: a draft connector spec from a provider's OpenAPI
//! 3.0 / 3.1 document.
//!
//! Entities come from path resources (`/repos/{owner}/{repo}/issues` is `issues`), actions from
//! the method and the path's shape (a GET on a collection is `list`, on an item `get`; POST on a
//! collection `create`; PATCH / PUT `update`; DELETE `delete`), params from the document's
//! parameters and JSON body properties, records' schemas from the success responses (with the
//! referenced `components.schemas`). What is guessed (a record extractor, a pagination style,
//! an auth mapping, a renamed entity) is written on the operation as an `x-review` note and
//! listed in the [`Summary`], for a human to confirm before the draft is used.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use switchboard_core::Error;

/// What the import did, for the person who reviews the draft.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Summary {
    pub slug: String,
    pub entities: usize,
    pub operations: usize,
    /// `METHOD /path` of each operation left out, with why.
    pub skipped: Vec<String>,
    /// Each entity name changed to settle a collision: `METHOD /path -> entity.action (why)`.
    pub renamed: Vec<String>,
    /// Every guess to check: `entity.action: note`, or `document: note`.
    pub review: Vec<String>,
}

impl Summary {
    /// The text printed on stderr.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "imported connector {}: {} operations on {} entities; {} left out, {} renamed, {} notes to review\n",
            self.slug,
            self.operations,
            self.entities,
            self.skipped.len(),
            self.renamed.len(),
            self.review.len()
        );
        for (title, list) in [("left out", &self.skipped), ("renamed", &self.renamed), ("review", &self.review)] {
            if !list.is_empty() {
                out.push_str(&format!("{title}:\n"));
                for line in list {
                    out.push_str(&format!("  {line}\n"));
                }
            }
        }
        out
    }
}

/// A draft spec and what was guessed to make it.
pub struct Imported {
    pub spec: Value,
    pub summary: Summary,
}

impl Imported {
    /// The draft as YAML, with a header saying it is one.
    pub fn to_yaml(&self, source: &str) -> Result<String, Error> {
        let body = serde_norway::to_string(&self.spec)
            .map_err(|e| Error::internal(format!("cannot write the draft as YAML: {e}")))?;
        Ok(format!(
            "# DRAFT connector spec made by `switchboard connectors import` from {source}.\n\
             # Review every `x-review` note (auth, pagination, record extractors, renamed entities),\n\
             # then delete the notes; `switchboard connectors check FILE` lists those left.\n{body}"
        ))
    }
}

/// Reads an OpenAPI document, JSON or YAML.
pub fn read_document(path: &std::path::Path) -> Result<Value, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::configuration(format!("cannot read {}: {e}", path.display())))?;
    if text.trim_start().starts_with('{') {
        if let Ok(v) = serde_json::from_str(&text) {
            return Ok(v);
        }
    }
    let mut v: serde_norway::Value = serde_norway::from_str(&text).map_err(|e| {
        let at = e.location().map(|l| format!(" at line {}, column {}", l.line(), l.column())).unwrap_or_default();
        Error::configuration(format!("{}: not valid JSON or YAML{at}: {e}", path.display()))
    })?;
    v.apply_merge().map_err(|e| Error::configuration(format!("{}: {e}", path.display())))?;
    Ok(yaml_to_json(v))
}

/// YAML to JSON, keys made strings (`200:` is the key `"200"`).
fn yaml_to_json(v: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                n.as_f64().and_then(serde_json::Number::from_f64).map_or(Value::Null, Value::Number)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(s) => Value::Array(s.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        other => match yaml_to_json(other) {
                            Value::String(s) => s,
                            j => j.to_string(),
                        },
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(t) => yaml_to_json(t.value),
    }
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];
/// Where the records of a list are, by the wrapper's name, most likely first.
const WRAPPERS: [&str; 9] = ["data", "items", "results", "records", "values", "entries", "list", "nodes", "elements"];
const CURSOR_PARAMS: [&str; 10] = [
    "cursor",
    "after",
    "starting_after",
    "page_token",
    "pageToken",
    "next_token",
    "nextToken",
    "continuation_token",
    "marker",
    "next",
];
const PAGE_PARAMS: [&str; 3] = ["page", "page_number", "pageNumber"];
const OFFSET_PARAMS: [&str; 3] = ["offset", "skip", "start"];
const NEXT_FIELDS: [&str; 12] = [
    "next_cursor",
    "nextCursor",
    "next_page_token",
    "nextPageToken",
    "next_token",
    "nextToken",
    "end_cursor",
    "endCursor",
    "cursor",
    "next_page",
    "nextPage",
    "next",
];
const HAS_MORE_FIELDS: [&str; 4] = ["has_more", "hasMore", "has_next_page", "hasNextPage"];

/// snake_case of a path segment (`pull-requests`, `projectsV2`, `users.json`).
fn snake(s: &str) -> String {
    let s = s.split('.').next().unwrap_or(s);
    words(s)
}

/// Words of `s`, lower-case, joined by `_`.
fn words(s: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && prev_lower {
                out.push('_');
            }
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
            out.push(c.to_ascii_lowercase());
        } else {
            if !out.ends_with('_') {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    out.trim_matches('_').to_string()
}

fn slugify(s: &str) -> String {
    let out = words(&s.replace('\'', "")).replace('_', "-");
    if out.is_empty() {
        "imported".to_string()
    } else {
        out
    }
}

/// A stable definition id for a slug, shaped as a UUID (version 5 bits).
fn definition_id(slug: &str) -> String {
    let h = Sha256::digest(format!("switchboard-import/{slug}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &x[..8], &x[8..12], &x[12..16], &x[16..20], &x[20..])
}

fn is_param_segment(s: &str) -> bool {
    s.contains('{')
}

/// The document being imported, with `$ref` helpers.
struct Doc<'a> {
    root: &'a Value,
}

impl<'a> Doc<'a> {
    /// Follows local `$ref`s to a value (not for schemas, whose refs are kept).
    fn resolve(&self, mut v: &'a Value) -> &'a Value {
        for _ in 0..32 {
            match v.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix('#')) {
                Some(p) => match self.root.pointer(p) {
                    Some(t) => v = t,
                    None => return v,
                },
                None => return v,
            }
        }
        v
    }

    /// A schema resolved at the top and its `allOf` parts' properties merged, for reading its
    /// shape (not for output).
    fn shape(&self, v: &'a Value) -> Value {
        self.shape_depth(v, 0)
    }

    fn shape_depth(&self, v: &'a Value, depth: usize) -> Value {
        let v = self.resolve(v);
        let Some(all) = v.get("allOf").and_then(Value::as_array).filter(|_| depth < 8) else {
            return v.clone();
        };
        let mut out = v.as_object().cloned().unwrap_or_default();
        let mut props = out.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
        for part in all {
            let part = self.shape_depth(part, depth + 1);
            if let Some(p) = part.get("properties").and_then(Value::as_object) {
                props.extend(p.clone());
            }
            if out.get("type").is_none() {
                if let Some(t) = part.get("type") {
                    out.insert("type".into(), t.clone());
                }
            }
        }
        out.insert("properties".into(), Value::Object(props));
        Value::Object(out)
    }

    fn props(&self, schema: &'a Value) -> Map<String, Value> {
        self.shape(schema).get("properties").and_then(Value::as_object).cloned().unwrap_or_default()
    }

    fn is_array(&self, schema: &Value) -> bool {
        let s = self.shape(schema);
        match s.get("type") {
            Some(Value::String(t)) => t == "array",
            Some(Value::Array(ts)) => ts.iter().any(|t| t == "array"),
            _ => s.get("items").is_some(),
        }
    }
}

/// One operation of the source document, on its way to the draft.
struct Op {
    path: String,
    method: String,
    /// Path up to its last literal segment, params written `{}`: the collection it acts on.
    collection: String,
    /// Literal segments before the resource's own, nearest first (for qualified names).
    qualifiers: Vec<String>,
    base: String,
    action: &'static str,
    out: Map<String, Value>,
    review: Vec<String>,
    entity: String,
}

/// Imports `doc` as a draft connector spec named `name` (default: from `info.title`).
pub fn import(doc: &Value, name: Option<&str>) -> Result<Imported, Error> {
    if doc.get("swagger").is_some() {
        return Err(Error::configuration(
            "this is a Swagger 2.0 document: convert it to OpenAPI 3 first (e.g. with swagger2openapi)",
        ));
    }
    let version = doc.get("openapi").and_then(Value::as_str).unwrap_or_default();
    if !version.starts_with("3.") {
        return Err(Error::configuration(format!(
            "expected an OpenAPI 3.0 or 3.1 document, found openapi: {version:?}"
        )));
    }
    let d = Doc { root: doc };
    let info = doc.get("info").cloned().unwrap_or_else(|| json!({}));
    let title = info.get("title").and_then(Value::as_str).unwrap_or("Imported API").to_string();
    let slug = name.map_or_else(|| slugify(&title), slugify);
    let mut summary = Summary { slug: slug.clone(), ..Summary::default() };
    let mut doc_review = Vec::new();

    let mut ops = Vec::new();
    let paths = doc.get("paths").and_then(Value::as_object).cloned().unwrap_or_default();
    for (path, item) in &paths {
        let item = d.resolve(item);
        let Some(item) = item.as_object() else { continue };
        let shared = item.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
        for (method, op) in item {
            if !METHODS.contains(&method.as_str()) {
                if ["head", "options", "trace"].contains(&method.as_str()) {
                    summary.skipped.push(format!("{} {path}: {method} has no connector action", method.to_uppercase()));
                }
                continue;
            }
            let Some(op) = op.as_object() else { continue };
            ops.push(operation(&d, path, method, op, &shared, &slug));
        }
    }
    if ops.is_empty() {
        return Err(Error::configuration("the document has no GET, POST, PUT, PATCH or DELETE operation"));
    }
    name_entities(&mut ops, &mut summary);

    // The draft: operations keep their paths; every referenced component comes along.
    let mut out_paths = Map::new();
    for op in &mut ops {
        op.out.insert("x-entity".into(), json!(op.entity));
        op.out.insert("x-action".into(), json!(op.action));
        if !op.review.is_empty() {
            for r in &op.review {
                summary.review.push(format!(
                    "{}.{} ({} {}): {r}",
                    op.entity,
                    op.action,
                    op.method.to_uppercase(),
                    op.path
                ));
            }
            op.out.insert("x-review".into(), json!(op.review));
        }
        let item = out_paths.entry(op.path.clone()).or_insert_with(|| json!({}));
        if let Some(item) = item.as_object_mut() {
            item.insert(op.method.clone(), Value::Object(std::mem::take(&mut op.out)));
        }
    }
    let entities: BTreeSet<&str> = ops.iter().map(|o| o.entity.as_str()).collect();
    summary.entities = entities.len();
    summary.operations = ops.len();

    let security_schemes = auth(&d, &mut doc_review);
    let servers = servers(doc, &mut doc_review);

    let mut out_info = Map::new();
    out_info.insert("title".into(), json!(title));
    out_info.insert("version".into(), info.get("version").cloned().unwrap_or(json!("0.0.0")));
    if let Some(desc) = info.get("description") {
        out_info.insert("description".into(), desc.clone());
    }
    out_info.insert("x-connector-name".into(), json!(slug));
    out_info.insert("x-connector-definition-id".into(), json!(definition_id(&slug)));
    out_info.insert("x-connector-display-name".into(), json!(title));
    doc_review.push(format!(
        "x-connector-definition-id {} is derived from the slug; use the real definition id if the connector has one",
        definition_id(&slug)
    ));
    for r in &doc_review {
        summary.review.push(format!("document: {r}"));
    }
    out_info.insert("x-review".into(), json!(doc_review));

    let mut spec = json!({
        "openapi": "3.1.0",
        "info": Value::Object(out_info),
        "servers": servers,
        "paths": Value::Object(out_paths),
        "components": {},
    });
    let mut components = Map::new();
    if !security_schemes.is_empty() {
        components.insert("securitySchemes".into(), Value::Object(security_schemes));
    }
    copy_components(doc, &spec, &mut components, &mut summary);
    spec["components"] = Value::Object(components);
    modernize(&mut spec);
    Ok(Imported { spec, summary })
}

/// The success response of an operation: its code and its JSON schema, if any.
fn success<'a>(d: &Doc<'a>, op: &'a Map<String, Value>) -> Option<(String, &'a Value, Option<&'a Value>)> {
    let responses = op.get("responses")?.as_object()?;
    let mut codes: Vec<&String> = responses.keys().filter(|k| k.starts_with('2')).collect();
    codes.sort_by_key(|c| match c.as_str() {
        "200" => 0,
        "201" => 1,
        _ => 2,
    });
    let code = codes.first()?;
    let resp = d.resolve(&responses[*code]);
    let schema = resp.get("content").and_then(Value::as_object).and_then(|c| {
        c.iter()
            .find(|(k, _)| k.starts_with("application/json") || k.ends_with("+json"))
            .and_then(|(_, m)| m.get("schema"))
    });
    Some(((*code).clone(), resp, schema))
}

/// Whether the success response is a file rather than JSON.
fn is_binary(resp: &Value) -> bool {
    resp.get("content").and_then(Value::as_object).is_some_and(|c| {
        !c.is_empty()
            && c.keys().all(|k| {
                k.starts_with("application/octet-stream")
                    || k.starts_with("application/zip")
                    || k.starts_with("application/pdf")
                    || k.starts_with("image/")
                    || k.starts_with("audio/")
                    || k.starts_with("video/")
            })
    })
}

/// Where the records of a list answer are: `None` for a bare array, `Some(field)` for a wrapper.
fn list_wrapper(d: &Doc, schema: &Value, entity: &str) -> Option<Option<String>> {
    if d.is_array(schema) {
        return Some(None);
    }
    let props = d.props(schema);
    let arrays: Vec<&String> = props.iter().filter(|(_, v)| d.is_array(v)).map(|(k, _)| k).collect();
    if arrays.len() == 1 {
        return Some(Some(arrays[0].clone()));
    }
    let preferred = WRAPPERS.iter().copied().chain(std::iter::once(entity));
    for name in preferred {
        if let Some(k) = arrays.iter().find(|k| k.as_str() == name || snake(k) == name) {
            return Some(Some((*k).clone()));
        }
    }
    None
}

/// A field naming the next page, searched at the top of the answer and one level down
/// (`meta.next_cursor`, `response_metadata.next_cursor`): its JSONPath and name.
fn find_field(d: &Doc, schema: &Value, names: &[&str]) -> Option<(String, String)> {
    let props = d.props(schema);
    for n in names {
        if props.contains_key(*n) {
            return Some((format!("$.{n}"), (*n).to_string()));
        }
    }
    for (k, v) in &props {
        let inner = d.props(v);
        for n in names {
            if inner.contains_key(*n) {
                return Some((format!("$.{k}.{n}"), (*n).to_string()));
            }
        }
    }
    None
}

fn operation(d: &Doc, path: &str, method: &str, op: &Map<String, Value>, shared: &[Value], slug: &str) -> Op {
    let mut review = Vec::new();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let last_literal = segments.iter().rposition(|s| !is_param_segment(s));
    let ends_with_param = segments.last().is_some_and(|s| is_param_segment(s));
    let mut search = false;
    let (base, resource_at) = match last_literal {
        Some(i) if segments[i] == "search" && i > 0 && method == "get" => {
            search = true;
            match segments[..i].iter().rposition(|s| !is_param_segment(s)) {
                Some(j) => (snake(segments[j]), j),
                None => ("search".to_string(), i),
            }
        }
        Some(i) => {
            search = i > 0 && segments[i - 1] == "search" && method == "get";
            (snake(segments[i]), i)
        }
        None => (snake(slug), 0),
    };
    let base = if base.is_empty() { "root".to_string() } else { base };
    let collection = segments
        .iter()
        .take(resource_at + 1)
        .map(|s| if is_param_segment(s) { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/");
    let qualifiers: Vec<String> = segments[..resource_at]
        .iter()
        .rev()
        .filter(|s| !is_param_segment(s) && **s != "search")
        .map(|s| snake(s))
        .filter(|s| !s.is_empty())
        .collect();

    let succ = success(d, op);
    let schema = succ.as_ref().and_then(|s| s.2);
    let binary = succ.as_ref().is_some_and(|s| is_binary(s.1));
    let wrapper = schema.and_then(|s| list_wrapper(d, s, &base));
    let action: &'static str = match method {
        "get" if binary => "download",
        "get" if search => "search",
        "get" if ends_with_param => {
            if schema.is_some_and(|s| d.is_array(s)) {
                review.push("a GET on an item that answers an array: read as `get`; is it a list?".to_string());
            }
            "get"
        }
        "get" => match &wrapper {
            Some(_) => "list",
            None => {
                if schema.is_some() {
                    review.push(
                        "a GET on a collection path that answers one object: read as `get` of a single resource"
                            .to_string(),
                    );
                } else {
                    review.push("no JSON response schema: read as `get`; is it a list?".to_string());
                }
                "get"
            }
        },
        "post" if ends_with_param => {
            review.push("a POST on an item: read as `update`".to_string());
            "update"
        }
        "post" => "create",
        "put" | "patch" => "update",
        _ => "delete",
    };

    let mut out = Map::new();
    for key in ["summary", "description", "operationId"] {
        if let Some(v) = op.get(key) {
            out.insert(key.into(), v.clone());
        }
    }

    // Params: the path item's, overridden by the operation's (same name and location).
    let mut params: Vec<Value> = Vec::new();
    for p in shared.iter().chain(op.get("parameters").and_then(Value::as_array).into_iter().flatten()) {
        let p = d.resolve(p);
        let (Some(pname), Some(loc)) = (p.get("name").and_then(Value::as_str), p.get("in").and_then(Value::as_str))
        else {
            continue;
        };
        if loc == "cookie" {
            review.push(format!("cookie param {pname:?} left out: the runtime sends no cookies"));
            continue;
        }
        let mut q = Map::new();
        for key in ["name", "in", "description", "required", "style", "explode", "example"] {
            if let Some(v) = p.get(key) {
                q.insert(key.into(), v.clone());
            }
        }
        match p.get("schema") {
            Some(s) => {
                q.insert("schema".into(), s.clone());
            }
            None => {
                q.insert("schema".into(), json!({"type": "string"}));
                review.push(format!("param {pname:?} has no schema (a `content` param?): typed as a string"));
            }
        }
        params.retain(|x| !(x.get("name") == p.get("name") && x.get("in") == p.get("in")));
        params.push(Value::Object(q));
    }
    let param_names: BTreeSet<String> =
        params.iter().filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_string)).collect();
    let query_names: BTreeSet<String> = params
        .iter()
        .filter(|p| p.get("in").and_then(Value::as_str) == Some("query"))
        .filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    if !params.is_empty() {
        out.insert("parameters".into(), Value::Array(params));
    }

    // Body: the JSON (or form) media type only.
    if let Some(rb) = op.get("requestBody") {
        let rb = d.resolve(rb);
        let content = rb.get("content").and_then(Value::as_object);
        let chosen = content.and_then(|c| {
            c.iter()
                .find(|(k, _)| k.starts_with("application/json"))
                .or_else(|| c.iter().find(|(k, _)| k.ends_with("+json")))
                .or_else(|| c.iter().find(|(k, _)| k.starts_with("application/x-www-form-urlencoded")))
        });
        match chosen {
            Some((ctype, media)) => {
                let schema = media.get("schema").cloned().unwrap_or_else(|| json!({"type": "object"}));
                let props = d.props(&schema);
                if props.is_empty() {
                    review.push(format!(
                        "the {ctype} body is not an object with properties: no body params (mark an object property `x-body-root: true` to send it whole)"
                    ));
                }
                for k in props.keys().filter(|k| param_names.contains(*k)) {
                    review.push(format!("body property {k:?} has the name of a parameter: the parameter wins"));
                }
                let mut b = Map::new();
                if let Some(req) = rb.get("required") {
                    b.insert("required".into(), req.clone());
                }
                b.insert("content".into(), json!({ ctype.clone(): {"schema": schema} }));
                out.insert("requestBody".into(), Value::Object(b));
            }
            None => {
                let types: Vec<&String> = content.map(|c| c.keys().collect()).unwrap_or_default();
                review.push(format!("request body left out: no JSON or form media type (has {types:?})"));
            }
        }
    } else if action == "create" {
        review.push("a create without a request body".to_string());
    }

    // Responses: the success one and JSON error ones, schemas kept.
    let mut responses = Map::new();
    if let Some(rs) = op.get("responses").and_then(Value::as_object) {
        for (code, r) in rs {
            let r = d.resolve(r);
            let json_schema = r.get("content").and_then(Value::as_object).and_then(|c| {
                c.iter()
                    .find(|(k, _)| k.starts_with("application/json") || k.ends_with("+json"))
                    .and_then(|(k, m)| m.get("schema").map(|s| (k.clone(), s.clone())))
            });
            let is_success = succ.as_ref().is_some_and(|s| &s.0 == code);
            let is_error = code.starts_with('4') || code.starts_with('5') || code == "default";
            if !(is_success || (is_error && json_schema.is_some())) {
                continue;
            }
            let mut resp = Map::new();
            resp.insert("description".into(), r.get("description").cloned().unwrap_or_else(|| json!("")));
            if let Some((ctype, s)) = json_schema {
                resp.insert("content".into(), json!({ ctype: {"schema": s} }));
            } else if is_success && binary {
                if let Some(c) = r.get("content").and_then(Value::as_object) {
                    let ct: Map<String, Value> = c.keys().map(|k| (k.clone(), json!({}))).collect();
                    resp.insert("content".into(), Value::Object(ct));
                }
            }
            responses.insert(code.clone(), Value::Object(resp));
        }
    }
    if matches!(action, "list" | "search" | "get" | "create" | "update") && schema.is_none() {
        review.push("no JSON response schema: records will have no schema".to_string());
    }
    out.insert("responses".into(), Value::Object(responses));

    // Where the records are.
    if matches!(action, "list" | "search") {
        match &wrapper {
            Some(Some(field)) => {
                out.insert("x-record-extractor".into(), json!(format!("$.{field}")));
                review.push(format!("records read from $.{field} (guessed: the answer's array field)"));
            }
            Some(None) => {}
            None => {
                review.push("no array in the answer: records are the whole body; set x-record-extractor".to_string())
            }
        }
    } else if matches!(action, "get" | "create" | "update") {
        if let Some(s) = schema {
            let props = d.props(s);
            if props.len() == 1 && props.contains_key("data") && !d.is_array(&props["data"]) {
                out.insert("x-record-extractor".into(), json!("$.data"));
                review.push("record read from $.data (guessed: the answer wraps one object)".to_string());
            }
        }
    }

    if matches!(action, "list" | "search") {
        let headers = succ.as_ref().and_then(|s| s.1.get("headers")).and_then(Value::as_object);
        pagination(d, schema, &query_names, headers, &mut out, &mut review);
    }

    Op {
        path: path.to_string(),
        method: method.to_string(),
        collection,
        qualifiers,
        base,
        action,
        out,
        review,
        entity: String::new(),
    }
}

/// Guesses how a list pages, writes what the runtime can follow (`x-meta-extractor`,
/// `x-pagination`) and always a review note naming the style.
fn pagination(
    d: &Doc,
    schema: Option<&Value>,
    query: &BTreeSet<String>,
    headers: Option<&Map<String, Value>>,
    out: &mut Map<String, Value>,
    review: &mut Vec<String>,
) {
    let find_param = |names: &[&str]| names.iter().find(|n| query.contains(**n)).map(|n| (*n).to_string());
    let cursor_param = find_param(&CURSOR_PARAMS);
    let page_param = find_param(&PAGE_PARAMS);
    let offset_param = find_param(&OFFSET_PARAMS);
    let next_field = schema.and_then(|s| find_field(d, s, &NEXT_FIELDS));
    let has_more = schema.and_then(|s| find_field(d, s, &HAS_MORE_FIELDS));
    let link = headers.is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case("link")));
    let next_header = headers.and_then(|h| h.keys().find(|k| k.to_ascii_lowercase().contains("next")).cloned());

    let mut meta = Map::new();
    if let Some((path, name)) = &has_more {
        meta.insert(name.clone(), json!(path));
    }
    let mut pg: Option<Value> = None;
    let style;
    let starting_after = cursor_param.as_deref() == Some("starting_after");
    if let (true, Some(p), Some((_, hm))) = (starting_after, &cursor_param, &has_more) {
        style = format!("cursor from the last record's id (`{p}`, `{hm}`)");
        pg = Some(json!({"param": p, "from_last_record": "id", "has_more": hm}));
    } else if let (Some(p), Some((path, name))) =
        (cursor_param.as_ref().or(page_param.as_ref()).or(offset_param.as_ref()), &next_field)
    {
        let kind = if cursor_param.is_some() {
            "cursor"
        } else if page_param.is_some() {
            "page number"
        } else {
            "offset"
        };
        style = format!("{kind}: `{p}` takes {path} of the answer");
        meta.insert(name.clone(), json!(path));
        let mut v = json!({"param": p, "meta": name});
        if let Some((_, hm)) = &has_more {
            v["has_more"] = json!(hm);
        }
        pg = Some(v);
    } else if link {
        meta.insert("next_url".into(), json!("@link.next"));
        style = match &page_param {
            Some(p) => format!(
                "Link header (rel=next) with `{p}`: the runtime does not follow URLs; the next page is meta.next_url, or pass {p}=2, 3, ..."
            ),
            None => "Link header (rel=next): the runtime does not follow URLs; the next page is meta.next_url".to_string(),
        };
    } else if let Some(h) = &next_header {
        meta.insert("next".into(), json!(format!("@header.{h}")));
        style = format!(
            "next page in the `{h}` response header (meta.next): set x-pagination if it is a cursor a param takes"
        );
    } else if let Some(p) = cursor_param.as_ref().or(page_param.as_ref()).or(offset_param.as_ref()) {
        style = format!("`{p}` param, but nothing in the answer names the next page: only the first page is read; set x-meta-extractor and x-pagination");
    } else if let Some((path, name)) = &next_field {
        meta.insert(name.clone(), json!(path));
        style = format!("{path} in the answer, but no param takes it: only the first page is read");
    } else {
        return;
    }
    if !meta.is_empty() {
        out.insert("x-meta-extractor".into(), Value::Object(meta));
    }
    if let Some(pg) = pg {
        out.insert("x-pagination".into(), pg);
    }
    review.push(format!("pagination guessed: {style}"));
}

/// Gives every operation an entity name. Operations on one collection share a name; a
/// collection whose name is taken for one of its actions is qualified by the literal segments
/// before it (`orgs_issues`), shortest paths first, so the result does not depend on the
/// document's order. Two operations of one collection with the same action (PUT and PATCH)
/// keep the first by method (PATCH, PUT, POST) and name the other `<entity>_<method>`.
fn name_entities(ops: &mut [Op], summary: &mut Summary) {
    let mut by_collection: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        by_collection.entry(op.collection.as_str()).or_default().push(i);
    }
    let mut order: Vec<(&str, Vec<usize>)> = by_collection.into_iter().collect();
    order.sort_by(|a, b| (a.0.matches('/').count(), a.0).cmp(&(b.0.matches('/').count(), b.0)));
    let mut taken: BTreeMap<(String, &'static str), String> = BTreeMap::new();
    let mut names: Vec<(usize, String, Option<String>)> = Vec::new();
    let method_rank = |m: &str| ["get", "patch", "put", "post", "delete"].iter().position(|x| *x == m).unwrap_or(9);
    for (_, mut idx) in order {
        idx.sort_by_key(|&i| (method_rank(&ops[i].method), ops[i].path.clone()));
        let first = &ops[idx[0]];
        let actions: BTreeSet<&'static str> = idx.iter().map(|&i| ops[i].action).collect();
        let mut candidates = vec![first.base.clone()];
        let mut q = first.base.clone();
        for qual in &first.qualifiers {
            q = format!("{qual}_{q}");
            candidates.push(q.clone());
        }
        let mut chosen = None;
        for c in &candidates {
            if actions.iter().all(|a| !taken.contains_key(&(c.clone(), *a))) {
                chosen = Some(c.clone());
                break;
            }
        }
        let name = chosen.unwrap_or_else(|| {
            let last = candidates.last().cloned().unwrap_or_default();
            (2..)
                .map(|n| format!("{last}_{n}"))
                .find(|c| actions.iter().all(|a| !taken.contains_key(&(c.clone(), *a))))
                .unwrap_or(last)
        });
        let why = (name != first.base).then(|| {
            let holder = actions.iter().find_map(|a| taken.get(&(first.base.clone(), *a)).map(|h| (*a, h.clone())));
            match holder {
                Some((a, h)) => format!("{}.{a} is {h}", first.base),
                None => format!("{} is taken", first.base),
            }
        });
        for &i in &idx {
            let action = ops[i].action;
            let here = format!("{} {}", ops[i].method.to_uppercase(), ops[i].path);
            if !taken.contains_key(&(name.clone(), action)) {
                taken.insert((name.clone(), action), here);
                names.push((i, name.clone(), why.clone()));
            } else {
                let own = format!("{name}_{}", ops[i].method);
                let own = std::iter::once(own.clone())
                    .chain((2..).map(|n| format!("{own}_{n}")))
                    .find(|c| !taken.contains_key(&(c.clone(), action)))
                    .unwrap_or(own);
                taken.insert((own.clone(), action), here);
                names.push((i, own, Some(format!("{name}.{action} is another method on the same resource"))));
            }
        }
    }
    for (i, name, why) in names {
        let op = &mut ops[i];
        if let Some(why) = why {
            summary.renamed.push(format!("{} {} -> {name}.{} ({why})", op.method.to_uppercase(), op.path, op.action));
            op.review.push(format!("entity renamed from {} to {name}: {why}", op.base));
        }
        op.entity = name;
    }
}

/// `components.securitySchemes` with our `x-auth-config` on each.
fn auth(d: &Doc, review: &mut Vec<String>) -> Map<String, Value> {
    let mut out = Map::new();
    let schemes = d.root.pointer("/components/securitySchemes").and_then(Value::as_object).cloned().unwrap_or_default();
    let secret = |title: &str| json!({"type": "string", "title": title, "airbyte_secret": true});
    for (name, s) in &schemes {
        let s = d.resolve(s);
        let ty = s.get("type").and_then(Value::as_str).unwrap_or_default();
        let mut o = Map::new();
        for key in ["type", "scheme", "bearerFormat", "in", "name", "description", "flows"] {
            if let Some(v) = s.get(key) {
                o.insert(key.into(), v.clone());
            }
        }
        let http_scheme = s.get("scheme").and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase();
        let cfg = match (ty, http_scheme.as_str()) {
            ("http", "bearer") => json!({"type": "object", "required": ["token"],
                "properties": {"token": secret("Bearer token")}, "auth_mapping": {"token": "${token}"}}),
            ("http", "basic") => json!({"type": "object", "required": ["username", "password"],
                "properties": {"username": {"type": "string", "title": "Username"}, "password": secret("Password")},
                "auth_mapping": {"username": "${username}", "password": "${password}"}}),
            ("apiKey", _) if matches!(s.get("in").and_then(Value::as_str), Some("header" | "query")) => {
                json!({"type": "object", "required": ["api_key"],
                "properties": {"api_key": secret("API key")}, "auth_mapping": {"api_key": "${api_key}"}})
            }
            ("oauth2", _) => {
                review.push(format!(
                    "auth scheme {name}: OAuth2 mapped to access_token (and refresh_token, client_id, client_secret for the refresh grant); check the token URL and x-token-refresh style"
                ));
                json!({"type": "object", "required": ["access_token"],
                "properties": {"access_token": secret("Access token"), "refresh_token": secret("Refresh token"),
                    "client_id": {"type": "string", "title": "Client id"}, "client_secret": secret("Client secret")},
                "auth_mapping": {"access_token": "${access_token}", "refresh_token": "${refresh_token}",
                    "client_id": "${client_id}", "client_secret": "${client_secret}"}})
            }
            _ => {
                review.push(format!(
                    "auth scheme {name} ({ty} {http_scheme}) left out: the runtime supports bearer, basic, apiKey in a header or query, and OAuth2"
                ));
                continue;
            }
        };
        if ty == "apiKey" && s.get("in").and_then(Value::as_str) == Some("header") {
            review.push(format!(
                "auth scheme {name}: API key sent in header {:?} as is; add x-auth-prefix if the API wants one (\"Bearer \")",
                s.get("name").and_then(Value::as_str).unwrap_or_default()
            ));
        }
        o.insert("x-auth-config".into(), cfg);
        out.insert(name.clone(), Value::Object(o));
    }
    if out.is_empty() {
        // The runtime needs a scheme to make a connector; most APIs take a bearer token.
        review.push(
            "no usable security scheme in the document: a bearer token scheme (credential `token`) was added as a guess; check how the API authenticates".to_string(),
        );
        out.insert(
            "bearer".into(),
            json!({"type": "http", "scheme": "bearer", "x-auth-config": {"type": "object", "required": ["token"],
                "properties": {"token": secret("Bearer token")}, "auth_mapping": {"token": "${token}"}}}),
        );
    }
    out
}

fn servers(doc: &Value, review: &mut Vec<String>) -> Value {
    let list: Vec<Value> = doc
        .get("servers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let url = s.get("url")?.as_str()?;
            let mut o = json!({"url": url});
            if let Some(v) = s.get("variables") {
                o["variables"] = v.clone();
            }
            Some(o)
        })
        .collect();
    match list.first().and_then(|s| s["url"].as_str()) {
        None => {
            review.push(
                "no servers in the document: the URL is a placeholder; callers must set config.base_url".to_string(),
            );
            json!([{"url": "https://example.invalid"}])
        }
        Some(url) if !url.starts_with("http") => {
            review.push(format!(
                "server URL {url:?} is relative: callers must set config.base_url, or write the full URL"
            ));
            Value::Array(list)
        }
        Some(_) => Value::Array(list),
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                out.push(r.to_string());
            }
            o.values().for_each(|x| collect_refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

/// Copies every component the draft refers to (and those they refer to) from the document.
fn copy_components(doc: &Value, spec: &Value, components: &mut Map<String, Value>, summary: &mut Summary) {
    let mut pending = Vec::new();
    collect_refs(spec, &mut pending);
    let mut done = BTreeSet::new();
    while let Some(r) = pending.pop() {
        let Some(rest) = r.strip_prefix("#/components/") else {
            if done.insert(r.clone()) {
                summary.review.push(format!("document: $ref {r:?} is not to a local component: not imported"));
            }
            continue;
        };
        let mut parts = rest.splitn(3, '/');
        let (Some(kind), Some(name)) = (parts.next(), parts.next()) else { continue };
        let key = format!("{kind}/{name}");
        if !done.insert(key) {
            continue;
        }
        let Some(v) = doc.pointer(&format!("/components/{kind}/{name}")) else {
            summary.review.push(format!("document: $ref {r:?} points at nothing"));
            continue;
        };
        collect_refs(v, &mut pending);
        let unescaped = name.replace("~1", "/").replace("~0", "~");
        let entry = components.entry(kind.to_string()).or_insert_with(|| json!({}));
        if let Some(m) = entry.as_object_mut() {
            m.insert(unescaped, v.clone());
        }
    }
    // Keep the output sorted for stable diffs.
    for v in components.values_mut() {
        if let Some(m) = v.as_object_mut() {
            let mut sorted: Vec<(String, Value)> = std::mem::take(m).into_iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            m.extend(sorted);
        }
    }
}

/// OpenAPI 3.0 to 3.1 where it matters to records: `nullable: true` becomes a `"null"` type,
/// and `examples` bodies (large, unused) are dropped.
fn modernize(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if o.get("nullable") == Some(&Value::Bool(true)) {
                o.remove("nullable");
                if let Some(Value::String(t)) = o.get("type").cloned() {
                    o.insert("type".into(), json!([t, "null"]));
                }
            } else if matches!(o.get("nullable"), Some(Value::Bool(false))) {
                o.remove("nullable");
            }
            o.values_mut().for_each(modernize);
        }
        Value::Array(a) => a.iter_mut().for_each(modernize),
        _ => {}
    }
}
