//! A data-driven fake that plays any connector from its spec: the connectors without a
//! hand-written fake, under `/<slug>/...`, and every connector (hand-written ones included)
//! under `/_generic/<slug>/...`.
//!
//! Specs are read from `connectors/` (or `FAKE_UPSTREAM_SPECS`) with core's own loader, once per
//! process. A spec that does not load is left out and listed by [`rejected`]. What the fake does,
//! per request (the conventions spec authors write `tests/cases/<slug>.yaml` against; they are
//! also in `tests/cases/README.md`):
//!
//! - **Routing**: the operation whose method and path template match (literal segments win over
//!   `{params}`; a segment may wrap its param, `v1:{id}` or `{id}.json`, or hold several, as
//!   LinkedIn's Rest.li compound keys do: `(account:{account},user:{user})`, each value up to
//!   the next literal and percent-decoded); several operations on
//!   one path (GraphQL) are told apart by the operation name of the query document
//!   (`query ListIssues ...`). No match: 404 in the provider's error shape.
//! - **Unknown objects**: a path or query param whose value contains `missing` (any case)
//!   names nothing: 404 in the provider's error shape, the reason `<param>_not_found` (the
//!   param's name without an `_id` / `Id` / `IdOrKey` suffix: `channel_not_found`).
//! - **Auth**: the request must carry a credential for one of the spec's security schemes
//!   (bearer or OAuth2 access token, basic user and password, API key header with its prefix, or
//!   API key query param). Any value is accepted unless it is empty or contains `invalid` (any
//!   case; a Basic password may be empty, as for an API key sent as the user name); OAuth2 also rejects [`creds::OAUTH_EXPIRED_ACCESS_TOKEN`]. Otherwise 401 with the
//!   provider's error body. A spec without schemes is open.
//! - **OAuth2**: the refresh-token grant is served on the token URL's path when it lives on the
//!   spec's server (so it follows `config.base_url`), and always on `/<slug>/_oauth/token`
//!   (give that as `config.token_url` otherwise), with the crate's shared client and rotating
//!   refresh tokens ([`creds::OAUTH_CLIENT_ID`], [`creds::OAUTH_INITIAL_REFRESH_TOKEN`]). A spec
//!   whose flows include `clientCredentials` also gets `grant_type=client_credentials` there:
//!   the shared client (HTTP Basic or form fields) buys a fresh access token, answered the way
//!   PayPal documents it (`{scope, access_token, token_type: "Bearer", app_id, expires_in,
//!   nonce}`, `expires_in` from `/_control/oauth`); a wrong client is a 401 `invalid_client`.
//!   Each grant counts in the API's `refresh_calls`.
//! - **Records**: made from the operation's record schema (`Operation::record_schema`), record
//!   `n` (0-based) the same on every call: `id`-like fields `"<entity>_<n+1>"` (or `n+1` when
//!   an integer), strings by format (`date-time` `2024-01-0Nt...`, `date`, `email`, `uri`,
//!   `uuid`), the first enum value, integers `n+1`, numbers `n+1.5`, booleans `n` even, one item
//!   per array. A get answers record 0 with the requested id; create and update echo the given
//!   body fields the schema declares. The envelope around the records (wrappers, totals) comes
//!   from the success response schema, its arrays empty.
//! - **Lists**: [`TOTAL`] records. A paginated list (the operation's `x-pagination`, declared or
//!   inferred) pages them by the limit-like integer param the caller gives (`limit`, `per_page`,
//!   `page_size`, `first`, `maxResults`, ...) or [`PAGE_SIZE`]; an unpaginated list returns them
//!   all (or the limit). The next cursor goes where the operation's meta extractor reads it
//!   (body path, `@header.<Name>`, or a `Link` header for `@link.<rel>`), and is: the next page
//!   number (integer param named like `page`), the next offset (another integer param), the
//!   last record's field (`from_last_record`), or an opaque string `c<offset>` otherwise. The
//!   `has_more` meta is a boolean; meta named like `total` / `count` is [`TOTAL`]. The last page
//!   has no cursor. An unreadable cursor is a 400, except in a cursor param the caller must give
//!   (a start token from another call, Drive's changes `pageToken`): that starts the list.
//! - **Updated since**: a list with `x-incremental` whose param the request carries serves only
//!   the records whose update field is at or after that time (records `n` are dated day `n+1`
//!   of January 2024), paged and counted like the whole list; a time the param's format cannot
//!   read is a 400.
//! - **Offset and page styles** (`style: offset | page`): the param is read as an offset or a
//!   page number whatever its name; the page size is the pagination's `limit` param (its
//!   declared default when not sent) or a limit-like param; meta named like the param echoes
//!   where the page starts (Jira's `startAt`), like `limit` the page size, `isLast` whether it
//!   is the last page. No cursor is written: the runtime computes it. Pages count from the page
//!   param's declared default (ClickUp's `page` from 0), else from 1.
//! - **Last-page flag**: the pagination's `last_page` meta (ClickUp's `last_page`), any style,
//!   is `true` on the last page and `false` before it.
//! - **URL style** (`style: url`): the next page is a URL to this request's path with its query
//!   (less the API key) and [`URL_CURSOR_KEY`]`=c<offset>`: a full URL in a `Link` header or
//!   `@header`, an absolute path (`/<slug>/...`) in a body field. A request carrying the URL
//!   param itself (a client that sent the URL back as a param instead of following it) is a 400.
//! - **Request bodies**: JSON when the `Content-Type` is `application/json` or any `+json`
//!   vendor type (`application/vnd.api+json`, `application/merge-patch+json`), a 400 when such
//!   a body is not JSON; a form when it is `application/x-www-form-urlencoded`.
//! - **Writes**: the success status the spec declares (`200`, `201`, other `2xx`; `204` answers
//!   no body). Nothing is stored: a created record is not listed afterwards.
//! - **Downloads**: bytes (`application/octet-stream`); with `x-file-url`, first a JSON answer
//!   with a URL to `/<slug>/_files/<entity>` at that path, then the bytes there, unauthenticated.
//! - **Errors**: the provider's shape when the spec declares one (the operation's `4XX`/`401`/
//!   `default` JSON response, else a `components.schemas` entry named like `Error`), its message
//!   fields set to the reason; else `{"error": {"status": N, "message": "..."}}`. Faults
//!   injected through `/_control/faults` (429 with `Retry-After`, 5xx) use the same body.
//!   A spec with `x-response-error-check` (Slack) gets HTTP 200 and the check's field set to
//!   its failure value, the reason in its message field, for a bad credential (`invalid_auth`),
//!   a 403 (`missing_scope`), a 400 (`invalid_arguments`) and an unknown object
//!   (`<param>_not_found`); faults and other statuses keep their HTTP status. With the check's
//!   `ok_value` form (TikTok's `code`, 0 on success) the field gets the provider code that the
//!   check's `codes` map to the status's public code (a bad credential: `40105`), the message
//!   in its message field; a status no code maps to keeps its HTTP status.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use switchboard_core::spec::{
    AuthKind, BodyKind, ConnectorSpec, MetaSource, Operation, PageStyle, Pagination, ParamLocation, ParamType,
    ResponseErrorCheck,
};

use crate::{basic, bearer, creds, form_pairs, token_endpoint, Shared};

/// Records every generic list holds.
pub const TOTAL: usize = 5;
/// Page size of a paginated list when the caller gives no limit.
pub const PAGE_SIZE: usize = 2;
/// The prefix under which every spec (hand-written ones too) is served generically.
pub const PREFIX: &str = "_generic";
/// Slugs with a hand-written fake, which keep `/<slug>/...`.
pub const HAND_WRITTEN: [&str; 5] = ["github", "gong", "hubspot", "linear", "stripe"];

/// One connector the generic fake plays.
pub struct Api {
    pub spec: ConnectorSpec,
    /// The spec document as loaded, for what the parsed spec does not keep (response codes,
    /// error schemas).
    raw: Value,
}

/// The specs the generic fake plays, by slug, and the files that did not load.
#[derive(Default)]
pub struct Specs {
    apis: BTreeMap<String, Api>,
    rejected: Vec<(String, String)>,
}

/// Where specs are read from: `FAKE_UPSTREAM_SPECS`, else the repository's `connectors/`.
pub fn specs_dir() -> PathBuf {
    match std::env::var_os("FAKE_UPSTREAM_SPECS") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../connectors"),
    }
}

/// The specs, loaded on first use.
pub fn specs() -> &'static Specs {
    static SPECS: OnceLock<Specs> = OnceLock::new();
    SPECS.get_or_init(|| {
        let mut out = Specs::default();
        let dir = specs_dir();
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(&dir).map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"));
        files.sort();
        for f in files {
            let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let loaded = std::fs::read_to_string(&f).map_err(|e| e.to_string()).and_then(|text| {
                let raw: Value = serde_norway::from_str(&text).map_err(|e| e.to_string())?;
                let spec = switchboard_core::spec::parse_spec_value(&name, &raw).map_err(|e| e.message)?;
                Ok(Api { spec, raw })
            });
            match loaded {
                Ok(api) => {
                    out.apis.insert(api.spec.slug.clone(), api);
                }
                Err(e) => out.rejected.push((name, e)),
            }
        }
        out
    })
}

/// Spec files that did not load, with the reason: the generic fake cannot play them.
pub fn rejected() -> &'static [(String, String)] {
    &specs().rejected
}

/// The connector `slug`, if the generic fake plays it.
pub fn api(slug: &str) -> Option<&'static Api> {
    specs().apis.get(slug)
}

/// Every slug the generic fake plays (under [`PREFIX`]); those without a hand-written fake are
/// also served at `/<slug>`.
pub fn slugs() -> Vec<String> {
    specs().apis.keys().cloned().collect()
}

/// Splits a request path into the slug served and the path below it, for `/<slug>/...` and
/// `/_generic/<slug>/...`; also returns the prefix the paths are under.
fn split_path(path: &str) -> Option<(String, &str, String)> {
    let rest = path.strip_prefix('/')?;
    let (first, rest) = rest.split_once('/').unwrap_or((rest, ""));
    if first == PREFIX {
        let (slug, rest) = rest.split_once('/').unwrap_or((rest, ""));
        return Some((slug.to_string(), rest, format!("/{PREFIX}/{slug}")));
    }
    if HAND_WRITTEN.contains(&first) {
        return None;
    }
    Some((first.to_string(), rest, format!("/{first}")))
}

fn reason(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

/// The error body of `slug`'s API for `status`, if the generic fake plays it (faults use it).
pub fn error_body(slug: &str, status: StatusCode) -> Option<Value> {
    api(slug).map(|a| a.error(None, status, reason(status)))
}

fn respond_error(api: &Api, op: Option<&Operation>, status: StatusCode, message: &str) -> Response {
    // An API that reports failures in a success answer (`x-response-error-check`, Slack) says
    // so with HTTP 200 and its reason code, as it does for these statuses.
    if let Some(check) = api.error_check(op).filter(|c| c.on_other) {
        if let Some(body) = coded_failure(check, status, message) {
            return (StatusCode::OK, Json(body)).into_response();
        }
    } else if let Some(check) = api.error_check(op) {
        let reason = match status {
            StatusCode::UNAUTHORIZED => Some("invalid_auth"),
            StatusCode::FORBIDDEN => Some("missing_scope"),
            StatusCode::BAD_REQUEST => Some("invalid_arguments"),
            StatusCode::NOT_FOUND if message.ends_with("_not_found") => Some(message),
            _ => None,
        };
        if let Some(reason) = reason {
            return (StatusCode::OK, Json(check_failure(check, reason))).into_response();
        }
    }
    let mut resp = (status, Json(api.error(op, status, message))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert("www-authenticate", HeaderValue::from_static("Bearer"));
    }
    resp
}

/// The body of a failure reported in a success answer: the check's field set to its failure
/// value, the reason in its message field (Slack's `{"ok": false, "error": "invalid_auth"}`).
fn check_failure(check: &ResponseErrorCheck, reason: &str) -> Value {
    let mut body = Value::Object(Map::new());
    let path = |field: &str| field.split('.').map(|k| Step::Key(k.to_string())).collect::<Vec<_>>();
    put(&mut body, &path(&check.field), check.on_value.clone());
    if let Some(m) = &check.message_field {
        put(&mut body, &path(m), Value::String(reason.to_string()));
    }
    body
}

/// The body of a failure an API with an `ok_value` check (TikTok) reports in a success answer:
/// the check's field set to the provider's code that the spec's `codes` map to the status's
/// public code (a 401 is TikTok's `40105`), the message in its message field. `None` when the
/// spec maps no code to it (the status is then sent as is).
fn coded_failure(check: &ResponseErrorCheck, status: StatusCode, message: &str) -> Option<Value> {
    let wanted = switchboard_core::upstream::code_for_status(status.as_u16());
    let (key, _) = check.codes.iter().find(|(_, c)| *c == wanted)?;
    // The value has the type of the success value: TikTok's codes are integers.
    let value = match &check.on_value {
        Value::Number(_) => key.parse::<i64>().map(|n| json!(n)).unwrap_or_else(|_| json!(key)),
        _ => json!(key),
    };
    let mut body = Value::Object(Map::new());
    let path = |field: &str| field.split('.').map(|k| Step::Key(k.to_string())).collect::<Vec<_>>();
    put(&mut body, &path(&check.field), value);
    if let Some(m) = &check.message_field {
        put(&mut body, &path(m), Value::String(message.to_string()));
    }
    Some(body)
}

/// The reason for a request naming an object that does not exist (a path or query param whose
/// value contains `missing`, any case): `<param>_not_found`, the param's name without an id
/// suffix, as Slack words it (`channel_not_found`).
fn not_found_reason(op: &Operation, input: &Input) -> Option<String> {
    let p =
        op.params.iter().filter(|p| matches!(p.location, ParamLocation::Path | ParamLocation::Query)).find(|p| {
            input
                .get(op, &p.name)
                .and_then(|v| v.as_str().map(str::to_ascii_lowercase))
                .is_some_and(|v| v.contains("missing"))
        })?;
    let name = p.name.trim_end_matches("_id").trim_end_matches("Id").trim_end_matches("IdOrKey");
    Some(format!("{}_not_found", name.to_ascii_lowercase()))
}

/// Serves a request for a generic connector (the router's fallback).
pub async fn serve(State(state): State<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 16 * 1024 * 1024).await.unwrap_or_default();
    let path = parts.uri.path().to_string();
    let query_string = parts.uri.query().unwrap_or("").to_string();
    let Some((slug, rest, prefix)) = split_path(&path) else {
        return (StatusCode::NOT_FOUND, Json(json!({"error": {"status": 404, "message": "no such API"}})))
            .into_response();
    };
    let Some(api) = api(&slug) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": {"status": 404, "message": format!("no spec for {slug}")}})),
        )
            .into_response();
    };
    let mut sub = format!("/{rest}");
    // A server whose origin a token answer names (Salesforce's `{instance_url}/services/data/
    // v59.0`): requests to that instance (this fake's prefix) carry the server's path too.
    if let Some(server_path) = api.instance_server_path() {
        if let Some(below) = sub.strip_prefix(server_path).filter(|b| b.is_empty() || b.starts_with('/')) {
            sub = if below.is_empty() { "/".to_string() } else { below.to_string() };
        }
    }
    let host = parts.headers.get("host").and_then(|v| v.to_str().ok()).unwrap_or("127.0.0.1").to_string();
    if parts.method == Method::POST && (sub == "/_oauth/token" || api.token_path().is_some_and(|p| p == sub)) {
        if let Some(resp) = api.jwt_bearer_grant(&state, &slug, &format!("http://{host}{path}"), &bytes) {
            return resp;
        }
        if let Some(resp) = api.client_credentials_grant(&state, &slug, &parts.headers, &bytes) {
            return resp;
        }
        let resp = token_endpoint(&state, &slug, &parts.headers, &query_string, &bytes);
        return api.with_instance_url(resp, &format!("http://{host}{prefix}")).await;
    }
    if parts.method == Method::GET && sub.starts_with("/_files/") {
        return file_response(&slug, sub.trim_start_matches("/_files/"));
    }
    let query: Vec<(String, String)> = url::form_urlencoded::parse(query_string.as_bytes()).into_owned().collect();
    if !api.authorized(&state, &slug, &parts.headers, &query) {
        return respond_error(api, None, StatusCode::UNAUTHORIZED, "Unauthorized: invalid or missing credentials");
    }
    let content_type = parts.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    let body: Value = if content_type.starts_with("application/x-www-form-urlencoded") {
        Value::Object(form_pairs(&bytes).into_iter().map(|(k, v)| (k, Value::String(v))).collect())
    } else if is_json_media_type(content_type) {
        match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) if !bytes.is_empty() => {
                let why = format!("the {content_type} body is not JSON: {e}");
                return respond_error(api, None, StatusCode::BAD_REQUEST, &why);
            }
            Err(_) => Value::Null,
        }
    } else {
        // No declared type (or another): read as JSON when it is, as lenient servers do.
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    let Some((op, path_params, others)) = api.route(parts.method.as_str(), &sub, &body) else {
        return respond_error(api, None, StatusCode::NOT_FOUND, &format!("no operation for {} {sub}", parts.method));
    };
    let input = Input { path: path_params, query, body, sub: sub.clone() };
    if let Some(reason) = not_found_reason(op, &input) {
        return respond_error(api, Some(op), StatusCode::NOT_FOUND, &reason);
    }
    api.answer(op, &others, &input, &prefix, &format!("http://{host}{prefix}"))
}

/// Whether a `Content-Type` is JSON: `application/json` or a vendor type with the `+json`
/// suffix (`application/vnd.api+json`, `application/merge-patch+json`,
/// `application/vnd.spCampaign.v3+json`), parameters (`; charset=utf-8`) aside.
pub fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn file_response(slug: &str, name: &str) -> Response {
    let mut resp = format!("{slug} {name} file contents\n").into_response();
    resp.headers_mut().insert("content-type", HeaderValue::from_static("application/octet-stream"));
    resp
}

/// What a request gave: path params, query pairs, the body (JSON, or a form as an object).
struct Input {
    path: BTreeMap<String, String>,
    query: Vec<(String, String)>,
    body: Value,
    /// The request path below the connector's prefix.
    sub: String,
}

impl Input {
    /// A param's value, wherever the operation sends it (path, query, body, GraphQL variables).
    fn get(&self, op: &Operation, name: &str) -> Option<Value> {
        if let Some(v) = self.path.get(name) {
            return Some(Value::String(v.clone()));
        }
        if let Some((_, v)) = self.query.iter().find(|(k, _)| k == name) {
            return Some(Value::String(v.clone()));
        }
        if let Some(v) = self.body.get(name) {
            return Some(v.clone());
        }
        if let BodyKind::GraphQl(g) = &op.body {
            let vars = self.body.get("variables")?;
            let exact = format!("{{{{ {name} }}}}");
            let var = g.variables.iter().find(|(k, t)| k == name || t.as_str().is_some_and(|t| t.trim() == exact));
            return var.and_then(|(k, _)| vars.get(k)).filter(|v| !v.is_null()).cloned();
        }
        None
    }
}

/// One step of a simple JSONPath: a property, or into an array.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Item,
    /// `[?@.field=='value']`: the item of an array whose field holds the value (PayPal's
    /// HATEOAS link whose `rel` is `next`).
    Match(String, String),
}

/// The steps of `$`, `$.a.b`, `$.a[*]`, `$['a'][0]`, `$.a[?@.b=='c']`; `None` for other
/// filters and descents.
fn steps(path: &str) -> Option<Vec<Step>> {
    let mut rest = path.trim().strip_prefix('$')?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            if r.starts_with('.') {
                return None;
            }
            if let Some(r) = r.strip_prefix('*') {
                out.push(Step::Item);
                rest = r;
                continue;
            }
            let end = r.find(['.', '[']).unwrap_or(r.len());
            out.push(Step::Key(r[..end].to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = closing_bracket(r)?;
            let inner = r[..end].trim();
            rest = &r[end + 1..];
            if inner == "*" || inner.bytes().all(|b| b.is_ascii_digit()) {
                out.push(Step::Item);
            } else if let Some(filter) = inner.strip_prefix("?@") {
                // `?@.rel=='next'`, or as the path prints itself, `?@['rel']=="next"`.
                let (field, value) = filter.split_once("==")?;
                let unquote = |t: &str| {
                    let t = t.trim().trim_start_matches('.').trim_start_matches('[').trim_end_matches(']');
                    t.trim_matches(|c| c == '\'' || c == '"').to_string()
                };
                out.push(Step::Match(unquote(field), unquote(value)));
            } else {
                let name = inner.trim_matches(|c| c == '\'' || c == '"');
                out.push(Step::Key(name.to_string()));
            }
        } else {
            return None;
        }
    }
    Some(out)
}

/// Sets `value` at `steps` under `node` (into the first item of an array), making objects and
/// one-item arrays on the way.
/// Where the `]` closing a bracket that starts `text` is (quotes and nested brackets skipped).
fn closing_bracket(text: &str) -> Option<usize> {
    let (mut depth, mut quote) = (0usize, None);
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') if depth == 0 => return Some(i),
            (None, ']') => depth -= 1,
            _ => {}
        }
    }
    None
}

fn put(node: &mut Value, steps: &[Step], value: Value) {
    let Some((first, rest)) = steps.split_first() else {
        *node = value;
        return;
    };
    match first {
        Step::Key(k) => {
            if !node.is_object() {
                *node = Value::Object(Map::new());
            }
            if let Value::Object(m) = node {
                put(m.entry(k.clone()).or_insert(Value::Null), rest, value);
            }
        }
        Step::Item => match node {
            Value::Array(items) if !items.is_empty() => put(&mut items[0], rest, value),
            _ => {
                let mut item = Value::Null;
                put(&mut item, rest, value);
                *node = Value::Array(vec![item]);
            }
        },
        Step::Match(field, want) => {
            if !node.is_array() {
                *node = Value::Array(Vec::new());
            }
            if let Value::Array(items) = node {
                let at = match items.iter().position(|i| i.get(field).and_then(Value::as_str) == Some(want)) {
                    Some(at) => at,
                    None => {
                        items.push(json!({ field.as_str(): want }));
                        items.len() - 1
                    }
                };
                put(&mut items[at], rest, value);
            }
        }
    }
}

/// Puts the records at the extractor path: a list's array replaces the value the path names
/// (or the array its trailing `[*]` walks).
fn put_records(node: &mut Value, steps: &[Step], records: Vec<Value>, list: bool) {
    match steps.split_first() {
        None => *node = if list { Value::Array(records) } else { records.into_iter().next().unwrap_or(Value::Null) },
        Some((Step::Item, [])) => {
            *node = Value::Array(if list { records } else { records.into_iter().take(1).collect() })
        }
        Some((Step::Key(k), rest)) => {
            if !node.is_object() {
                *node = Value::Object(Map::new());
            }
            if let Value::Object(m) = node {
                put_records(m.entry(k.clone()).or_insert(Value::Null), rest, records, list);
            }
        }
        Some((Step::Item | Step::Match(..), rest)) => {
            let mut item = node.as_array().and_then(|a| a.first().cloned()).unwrap_or(Value::Null);
            put_records(&mut item, rest, records, list);
            *node = Value::Array(vec![item]);
        }
    }
}

/// The non-null type a schema declares first (`[string, "null"]` is a string).
fn type_of(schema: &Value) -> Option<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => Some(t.as_str()),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null").or(Some("null")),
        _ => None,
    }
}

/// Whether a field name reads as an identifier.
fn id_like(field: &str) -> bool {
    field == "id" || field.ends_with("_id") || field.ends_with("Id") || field == "uuid" || field == "key"
}

/// Deterministic values from schemas. `n` is the record's index, `entity` names ids.
struct Gen<'a> {
    root: &'a Value,
    entity: &'a str,
    /// Arrays are left empty (the envelope around records).
    empty_arrays: bool,
}

impl Gen<'_> {
    /// Follows local `$ref`s and merges `allOf` parts.
    fn resolve(&self, schema: &Value, depth: usize) -> Value {
        let mut s = schema.clone();
        for _ in 0..16 {
            let Some(r) = s.get("$ref").and_then(Value::as_str) else { break };
            s = r.strip_prefix('#').and_then(|p| self.root.pointer(p)).cloned().unwrap_or(Value::Null);
        }
        if let Some(all) = s.get("allOf").and_then(Value::as_array).cloned() {
            if depth < 8 {
                let mut merged = s.as_object().cloned().unwrap_or_default();
                merged.remove("allOf");
                let mut props = merged.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
                for part in &all {
                    let part = self.resolve(part, depth + 1);
                    if let Some(p) = part.get("properties").and_then(Value::as_object) {
                        props.extend(p.clone());
                    }
                    if merged.get("type").is_none() {
                        if let Some(t) = part.get("type") {
                            merged.insert("type".into(), t.clone());
                        }
                    }
                }
                merged.insert("properties".into(), Value::Object(props));
                s = Value::Object(merged);
            }
        }
        s
    }

    fn value(&self, schema: &Value, field: &str, n: usize, depth: usize) -> Value {
        let s = self.resolve(schema, depth);
        if let Some(c) = s.get("const") {
            return c.clone();
        }
        if let Some(alts) = s.get("anyOf").or_else(|| s.get("oneOf")).and_then(Value::as_array) {
            if s.get("type").is_none() && s.get("properties").is_none() {
                let alt = alts.iter().find(|a| type_of(&self.resolve(a, depth)) != Some("null"));
                return alt.map(|a| self.value(a, field, n, depth + 1)).unwrap_or(Value::Null);
            }
        }
        if let Some(values) = s.get("enum").and_then(Value::as_array) {
            let real: Vec<&Value> = values.iter().filter(|v| !v.is_null()).collect();
            if !real.is_empty() {
                return real[n % real.len()].clone();
            }
        }
        let ty = type_of(&s).unwrap_or(if s.get("properties").is_some() { "object" } else { "string" });
        match ty {
            "null" => Value::Null,
            "boolean" => Value::Bool(n.is_multiple_of(2)),
            "integer" => {
                let min = s.get("minimum").and_then(Value::as_i64).unwrap_or(i64::MIN);
                let max = s.get("maximum").and_then(Value::as_i64).unwrap_or(i64::MAX);
                json!((n as i64 + 1).clamp(min, max))
            }
            "number" => {
                let v = n as f64 + 1.5;
                let min = s.get("minimum").and_then(Value::as_f64).unwrap_or(f64::MIN);
                let max = s.get("maximum").and_then(Value::as_f64).unwrap_or(f64::MAX);
                json!(v.clamp(min, max))
            }
            "array" => {
                if self.empty_arrays || depth > 6 {
                    return json!([]);
                }
                let item = s.get("items").cloned().unwrap_or(json!({"type": "string"}));
                json!([self.value(&item, field, n, depth + 1)])
            }
            "object" => {
                let mut out = Map::new();
                if depth > 6 {
                    return Value::Object(out);
                }
                if let Some(props) = s.get("properties").and_then(Value::as_object) {
                    for (k, sub) in props {
                        out.insert(k.clone(), self.value(sub, k, n, depth + 1));
                    }
                } else if let Some(extra) = s.get("additionalProperties").filter(|a| a.is_object()) {
                    out.insert("key".into(), self.value(extra, "key", n, depth + 1));
                }
                Value::Object(out)
            }
            _ => Value::String(self.string(&s, field, n)),
        }
    }

    fn string(&self, s: &Value, field: &str, n: usize) -> String {
        let day = n % 28 + 1;
        match s.get("format").and_then(Value::as_str).unwrap_or("") {
            "date-time" => return format!("2024-01-{day:02}T12:00:00Z"),
            "date" => return format!("2024-01-{day:02}"),
            "time" => return "12:00:00".into(),
            "email" => return format!("user{}@example.com", n + 1),
            "uri" | "url" | "uri-reference" => return format!("https://example.com/{field}/{}", n + 1),
            "uuid" => return format!("00000000-0000-4000-8000-{:012}", n + 1),
            "ipv4" => return "192.0.2.1".into(),
            _ => {}
        }
        if id_like(field) {
            return format!("{}_{}", self.entity, n + 1);
        }
        format!("{field} {}", n + 1)
    }
}

/// The query key the fake's next-page URLs carry their position in.
pub const URL_CURSOR_KEY: &str = "_cursor";

/// Whether a pagination's integer param is a page number (style page, or a cursor param named
/// like one), not an offset.
fn by_page_number(pg: &Pagination) -> bool {
    match pg.style {
        PageStyle::Page => true,
        PageStyle::Offset => false,
        _ => is_page_param(&pg.param),
    }
}

/// The number of the first page: the page param's declared default (ClickUp counts from 0),
/// else 1.
fn first_page(op: &Operation) -> usize {
    op.pagination
        .as_ref()
        .and_then(|pg| op.param(&pg.param))
        .and_then(|p| p.default.as_ref())
        .and_then(Value::as_u64)
        .map_or(1, |d| d as usize)
}

/// An integer param named like a page number.
fn is_page_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "page" || n.ends_with("page") || n.ends_with("page_number") || n.ends_with("pagenumber")
}

/// Integer params that cap a page: `limit`, `per_page`, `page_size`, `first`, `maxResults`, ...
fn is_limit_param(name: &str) -> bool {
    let n: String = name.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_lowercase();
    ["limit", "perpage", "pagesize", "maxresults", "first", "count", "size", "top", "resultsperpage", "pagelimit"]
        .iter()
        .any(|k| n == *k || n.ends_with(k))
}

impl Api {
    /// The raw operation object of `op`.
    fn raw_op(&self, op: &Operation) -> Option<&Value> {
        self.raw.pointer(&op.pointer)
    }

    fn gen<'a>(&'a self, entity: &'a str, empty_arrays: bool) -> Gen<'a> {
        Gen { root: &self.raw, entity, empty_arrays }
    }

    /// The client-credentials grant, when `body` asks for it and the spec offers it (see the
    /// module docs); `None` leaves the request to the refresh-token endpoint.
    fn client_credentials_grant(
        &self,
        state: &Shared,
        slug: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Option<Response> {
        let json = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let mut fields: BTreeMap<String, String> = if json {
            serde_json::from_slice::<Map<String, Value>>(body)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(k, v)| Some((k, v.as_str()?.to_string())))
                .collect()
        } else {
            form_pairs(body).into_iter().collect()
        };
        if fields.get("grant_type").map(String::as_str) != Some("client_credentials") {
            return None;
        }
        let flow = self
            .raw
            .pointer("/components/securitySchemes")
            .and_then(Value::as_object)
            .and_then(|schemes| schemes.values().find_map(|s| s.pointer("/flows/clientCredentials")));
        let Some(flow) = flow else {
            return Some((StatusCode::BAD_REQUEST, Json(json!({"error": "unsupported_grant_type"}))).into_response());
        };
        if let Some((u, p)) = basic(headers) {
            fields.insert("client_id".into(), u);
            fields.insert("client_secret".into(), p);
        }
        let client_ok = fields.get("client_id").map(String::as_str) == Some(creds::OAUTH_CLIENT_ID)
            && fields.get("client_secret").map(String::as_str) == Some(creds::OAUTH_CLIENT_SECRET);
        let (token, expires_in) = state.with_oauth(slug, |o| {
            o.refresh_calls += 1;
            if !client_ok {
                return (None, 0);
            }
            let token = format!("at-{slug}-cc-{:04}", o.access_tokens.len() + 1);
            o.access_tokens.insert(token.clone());
            (Some(token), o.expires_in)
        });
        let Some(token) = token else {
            let body = json!({"error": "invalid_client", "error_description": "Client Authentication failed"});
            return Some((StatusCode::UNAUTHORIZED, Json(body)).into_response());
        };
        let scope = flow
            .get("scopes")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect::<Vec<_>>().join(" "))
            .unwrap_or_default();
        let answer = json!({
            "scope": scope,
            "access_token": token,
            "token_type": "Bearer",
            "app_id": "APP-80W284485P519543T",
            "expires_in": expires_in,
            "nonce": format!("2024-01-01T00:00:00Z{token}"),
        });
        Some((StatusCode::OK, Json(answer)).into_response())
    }

    /// Google's service-account grant (RFC 7523), when `body` asks for it: the assertion must be
    /// an RS256 JWT signed with the test key ([`service_account_key`]), issued by
    /// [`SERVICE_ACCOUNT_EMAIL`] for `audience` (this endpoint's URL), unexpired, living at most
    /// an hour, asking only for scopes the spec's service-account flow lists. A good one buys an
    /// access token answered as Google does (`{access_token, expires_in, token_type}`); a bad
    /// one gets Google's `400 invalid_grant` with its reason. `None` leaves the request to the
    /// other grants.
    fn jwt_bearer_grant(&self, state: &Shared, slug: &str, audience: &str, body: &[u8]) -> Option<Response> {
        let fields: BTreeMap<String, String> = form_pairs(body).into_iter().collect();
        if fields.get("grant_type").map(String::as_str) != Some(JWT_BEARER_GRANT) {
            return None;
        }
        let invalid = |reason: &str| {
            let body = json!({"error": "invalid_grant", "error_description": reason});
            Some((StatusCode::BAD_REQUEST, Json(body)).into_response())
        };
        let offers = self.spec.auth_schemes.iter().any(|s| {
            matches!(s.kind, AuthKind::OAuth2(_))
                && s.mapping.contains_key(switchboard_core::auth::SERVICE_ACCOUNT_INPUT)
        });
        if !offers {
            return Some((StatusCode::BAD_REQUEST, Json(json!({"error": "unsupported_grant_type"}))).into_response());
        }
        let outcome = state.with_oauth(slug, |o| {
            o.refresh_calls += 1;
            o.expires_in
        });
        let expires_in = outcome;
        let claims = match verify_assertion(fields.get("assertion").map(String::as_str).unwrap_or_default()) {
            Ok(c) => c,
            Err(why) => return invalid(why),
        };
        let now = now_secs();
        let num = |k: &str| claims.get(k).and_then(Value::as_i64);
        let text = |k: &str| claims.get(k).and_then(Value::as_str).unwrap_or_default();
        if text("iss") != SERVICE_ACCOUNT_EMAIL {
            return invalid("Invalid JWT: unknown issuer.");
        }
        if text("aud") != audience {
            return invalid("Invalid JWT: audience does not match the token endpoint.");
        }
        let (Some(iat), Some(exp)) = (num("iat"), num("exp")) else {
            return invalid("Invalid JWT: iat and exp are required.");
        };
        if exp <= now || iat > now + 60 || exp - iat > 3600 {
            return invalid(
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.",
            );
        }
        let allowed: Vec<String> = self
            .raw
            .pointer("/components/securitySchemes")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|m| m.values())
            .filter_map(|s| s.pointer("/flows/clientCredentials/scopes").and_then(Value::as_object))
            .flat_map(|m| m.keys().cloned())
            .collect();
        let scopes: Vec<&str> = text("scope").split_whitespace().collect();
        if scopes.is_empty() || scopes.iter().any(|s| !allowed.iter().any(|a| a == s)) {
            return invalid("Invalid OAuth scope or ID token audience provided.");
        }
        let token = state.with_oauth(slug, |o| {
            let token = format!("ya29.fake-{slug}-sa-{:04}", o.access_tokens.len() + 1);
            o.access_tokens.insert(token.clone());
            token
        });
        let answer = json!({"access_token": token, "expires_in": expires_in, "token_type": "Bearer"});
        Some((StatusCode::OK, Json(answer)).into_response())
    }

    /// The path part of a server URL whose origin is the `instance_url` of token answers
    /// (`/services/data/v59.0` of `{instance_url}/services/data/v59.0`).
    fn instance_server_path(&self) -> Option<&str> {
        let extracts = self.spec.auth_schemes.iter().any(|s| match &s.kind {
            AuthKind::OAuth2(c) => c.extract.iter().any(|k| k == "instance_url"),
            _ => false,
        });
        let path = self.spec.server_url.strip_prefix("{instance_url}")?;
        (extracts && path.starts_with('/')).then(|| path.trim_end_matches('/'))
    }

    /// A granted refresh answer, with `instance_url` (this fake's origin and prefix, where the
    /// API is served) added when the spec extracts it from token answers, as Salesforce's do.
    async fn with_instance_url(&self, resp: Response, instance_url: &str) -> Response {
        let extracts = self.spec.auth_schemes.iter().any(|s| match &s.kind {
            AuthKind::OAuth2(c) => c.extract.iter().any(|k| k == "instance_url"),
            _ => false,
        });
        if !extracts || resp.status() != StatusCode::OK {
            return resp;
        }
        let bytes = axum::body::to_bytes(resp.into_body(), 1024 * 1024).await.unwrap_or_default();
        let mut answer: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({}));
        if let Some(m) = answer.as_object_mut() {
            m.insert("instance_url".into(), Value::String(instance_url.trim_end_matches('/').to_string()));
            m.insert("token_type".into(), Value::String("Bearer".into()));
        }
        (StatusCode::OK, Json(answer)).into_response()
    }

    /// The path of the OAuth token URL below the spec's server, when it lives there.
    fn token_path(&self) -> Option<String> {
        let server = self.spec.server_url.trim_end_matches('/');
        self.spec.auth_schemes.iter().find_map(|s| match &s.kind {
            AuthKind::OAuth2(c) => c.token_url.as_deref().and_then(|u| u.strip_prefix(server)).map(str::to_string),
            _ => None,
        })
    }

    fn authorized(&self, state: &Shared, slug: &str, headers: &HeaderMap, query: &[(String, String)]) -> bool {
        if self.spec.auth_schemes.is_empty() {
            return true;
        }
        let ok = |v: &str| !v.trim().is_empty() && !v.to_ascii_lowercase().contains("invalid");
        self.spec.auth_schemes.iter().any(|s| match &s.kind {
            AuthKind::Bearer => bearer(headers).is_some_and(|t| ok(&t)),
            AuthKind::OAuth2(_) => bearer(headers).is_some_and(|t| {
                t != creds::OAUTH_EXPIRED_ACCESS_TOKEN && (ok(&t) || state.oauth_access_valid(slug, &t))
            }),
            // An API key as the user name with an empty password (Ashby, Chargebee) is a login.
            AuthKind::Basic => basic(headers).is_some_and(|(u, p)| ok(&u) && (p.is_empty() || ok(&p))),
            AuthKind::ApiKey { in_query: true, name, .. } => query.iter().any(|(k, v)| k == name && ok(v)),
            AuthKind::ApiKey { in_query: false, name, prefix } => headers
                .get(name.as_str())
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with(prefix.as_str()) && ok(&v[prefix.len()..])),
        })
    }

    /// The operation for a method and path (below the slug), its path params, and the other
    /// operations on the same method and path that the request cannot be told apart from.
    #[allow(clippy::type_complexity)]
    fn route(
        &self,
        method: &str,
        path: &str,
        body: &Value,
    ) -> Option<(&Operation, BTreeMap<String, String>, Vec<&Operation>)> {
        let segs: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
        let mut best: Vec<(usize, &Operation, BTreeMap<String, String>)> = Vec::new();
        for op in self.spec.operations.iter().filter(|o| o.method.eq_ignore_ascii_case(method)) {
            let tsegs: Vec<&str> = op.path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
            if tsegs.len() != segs.len() {
                continue;
            }
            let mut params = BTreeMap::new();
            let mut literal = 0;
            let fits = tsegs.iter().zip(&segs).all(|(t, s)| {
                if t.contains('{') {
                    // `{name}`, `prefix{name}` (e.g. `v1:{id}`), `{name}suffix` (`{id}.json`), or
                    // several params in one segment (a Rest.li compound key:
                    // `(account:{account},user:{user})`).
                    match segment_params(t, s) {
                        Some(found) => {
                            params.extend(found);
                            true
                        }
                        None => false,
                    }
                } else {
                    literal += 1;
                    t == s
                }
            });
            if fits {
                best.push((literal, op, params));
            }
        }
        let top = best.iter().map(|b| b.0).max()?;
        best.retain(|b| b.0 == top);
        if best.len() > 1 {
            // One path, several operations (GraphQL): the query document's operation name.
            let sent = body.get("query").and_then(Value::as_str).map(graphql_name).unwrap_or_default();
            if let Some(i) = best.iter().position(|(_, op, _)| match &op.body {
                BodyKind::GraphQl(g) => !sent.is_empty() && graphql_name(&g.query) == sent,
                _ => false,
            }) {
                let (_, op, params) = best.swap_remove(i);
                return Some((op, params, Vec::new()));
            }
        }
        // Not told apart (REST downloads sharing a lookup's path): the first that is not a
        // download answers, with every download's file URL in its body too.
        let first = best.iter().position(|b| b.1.action != "download").unwrap_or(0);
        let (_, op, params) = best.remove(first);
        Some((op, params, best.into_iter().map(|b| b.1).collect()))
    }

    /// The error body for `status`: the provider's declared shape with `message` in its message
    /// fields, else `{"error": {"status", "message"}}`.
    fn error(&self, op: Option<&Operation>, status: StatusCode, message: &str) -> Value {
        let code = status.as_u16().to_string();
        let class = format!("{}XX", &code[..1]);
        let from_op = |raw: &Value| -> Option<Value> {
            let responses = raw.get("responses")?.as_object()?;
            let mut keys = vec![code.clone(), class.clone(), class.to_ascii_lowercase(), "default".into()];
            keys.extend(responses.keys().filter(|k| k.starts_with('4') || k.starts_with('5')).cloned());
            keys.iter().find_map(|k| {
                let r = self.gen("error", true).resolve(responses.get(k)?, 0);
                let content = r.get("content")?.as_object()?;
                content.iter().find(|(ct, _)| ct.contains("json")).and_then(|(_, m)| m.get("schema")).cloned()
            })
        };
        let declared = op
            .and_then(|o| self.raw_op(o))
            .and_then(from_op)
            .or_else(|| self.spec.operations.iter().find_map(|o| self.raw_op(o).and_then(from_op)))
            .or_else(|| {
                let schemas = self.raw.pointer("/components/schemas")?.as_object()?;
                schemas.iter().find(|(k, _)| k.to_ascii_lowercase().contains("error")).map(|(_, v)| v.clone())
            });
        let Some(schema) = declared else {
            return json!({"error": {"status": status.as_u16(), "message": message}});
        };
        let mut body = self.gen("error", false).value(&schema, "error", 0, 0);
        fill_error(&mut body, status.as_u16(), message, "");
        if !body.is_object() || body.as_object().is_some_and(Map::is_empty) {
            return json!({"error": {"status": status.as_u16(), "message": message}});
        }
        body
    }

    /// The operation's `x-response-error-check`, else any operation's (the document's).
    fn error_check<'a>(&'a self, op: Option<&'a Operation>) -> Option<&'a ResponseErrorCheck> {
        op.and_then(|o| o.error_check.as_ref())
            .or_else(|| self.spec.operations.iter().find_map(|o| o.error_check.as_ref()))
    }

    /// Query param names an API key travels in (never echoed into next-page URLs).
    fn auth_query_names(&self) -> Vec<&str> {
        self.spec
            .auth_schemes
            .iter()
            .filter_map(|s| match &s.kind {
                AuthKind::ApiKey { in_query: true, name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The next page's URL for a URL-style pagination: this request's path and query (without
    /// the API key and the previous cursor) and [`URL_CURSOR_KEY`] set to `cursor`, under
    /// `origin` (`http://host` for an absolute URL, empty for an absolute path).
    fn next_url(&self, input: &Input, origin: &str, prefix: &str, cursor: &Value) -> String {
        let auth = self.auth_query_names();
        let mut pairs: Vec<(String, String)> =
            input.query.iter().filter(|(k, _)| k != URL_CURSOR_KEY && !auth.contains(&k.as_str())).cloned().collect();
        pairs.push((URL_CURSOR_KEY.into(), cursor.as_str().map(str::to_string).unwrap_or_else(|| cursor.to_string())));
        let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
        format!("{origin}{prefix}{}?{query}", input.sub)
    }

    /// The success answer of `op`.
    fn answer(&self, op: &Operation, others: &[&Operation], input: &Input, prefix: &str, base: &str) -> Response {
        let put_files = |body: &mut Value| {
            for o in std::iter::once(&op).chain(others) {
                if let Some(steps) = o.file_url.as_ref().and_then(|p| steps(&p.to_string())) {
                    put(body, &steps, Value::String(format!("{base}/_files/{}", o.entity)));
                }
            }
        };
        let raw = self.raw_op(op).cloned().unwrap_or(Value::Null);
        let (status, schema) = success_response(&raw, &self.gen(&op.entity, true));
        if op.action == "download" {
            if op.file_url.is_some() {
                let mut body = Value::Object(Map::new());
                put_files(&mut body);
                return (StatusCode::OK, Json(body)).into_response();
            }
            return file_response(&self.spec.slug, &op.entity);
        }
        if status == StatusCode::NO_CONTENT || (schema.is_none() && op.record_schema().is_none()) {
            return status.into_response();
        }
        let mut body = schema.map(|s| self.gen(&op.entity, true).value(&s, "body", 0, 0)).unwrap_or(Value::Null);
        let list = op.returns_list();
        let mut headers: Vec<(String, String)> = Vec::new();
        let records: Vec<Value>;
        let mut next: Option<Value> = None;
        let mut has_more = false;
        let mut total = TOTAL;
        if list {
            let paginated = op.pagination.is_some();
            let limit = op
                .params
                .iter()
                .filter(|p| p.ty == Some(ParamType::Integer) && is_limit_param(&p.name))
                .find_map(|p| input.get(op, &p.name))
                .and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
                .map(|l| (l as usize).clamp(1, 100));
            let size = if paginated { self.page_size(op, input) } else { limit.unwrap_or(TOTAL) };
            let served = match self.served(op, input) {
                Ok(s) => s,
                Err(m) => return respond_error(self, Some(op), StatusCode::BAD_REQUEST, &m),
            };
            total = served.len();
            let start = match self.offset(op, input) {
                Ok(o) => o,
                Err(m) => return respond_error(self, Some(op), StatusCode::BAD_REQUEST, &m),
            };
            let end = (start + size).min(total);
            records = (start..end.max(start)).map(|i| self.record(op, served[i], input)).collect();
            has_more = end < total;
            if has_more && paginated {
                next = self.cursor(op, end, size, records.last());
            }
        } else {
            let mut r = self.record(op, 0, input);
            // A get answers the id it was asked for.
            if let (Some(m), Some(p)) =
                (r.as_object_mut(), op.params.iter().find(|p| p.location == ParamLocation::Path && id_like(&p.name)))
            {
                if let (Some(Value::String(given)), Some(Value::String(_))) = (input.get(op, &p.name), m.get("id")) {
                    m.insert("id".into(), Value::String(given));
                }
            }
            records = vec![r];
        }
        if let Some(steps) = op.record_extractor.as_ref().and_then(|p| steps(&p.to_string())) {
            put_records(&mut body, &steps, records, list);
        } else {
            body = if list { Value::Array(records) } else { records.into_iter().next().unwrap_or(Value::Null) };
        }
        put_files(&mut body);
        // An API that answers `{code: 0, ...}` on success (TikTok) says so in every answer.
        if let Some(check) = self.error_check(Some(op)).filter(|c| c.on_other && body.is_object()) {
            let path: Vec<Step> = check.field.split('.').map(|k| Step::Key(k.to_string())).collect();
            put(&mut body, &path, check.on_value.clone());
        }
        let pg = op.pagination.as_ref();
        let url_style = pg.is_some_and(|p| p.style == PageStyle::Url);
        let computed = pg.is_some_and(|p| matches!(p.style, PageStyle::Offset | PageStyle::Page));
        let origin = base.strip_suffix(prefix).unwrap_or(base);
        for (name, source) in &op.meta {
            let value = if url_style && pg.and_then(|p| p.meta.as_ref()) == Some(name) {
                // Salesforce's nextRecordsUrl is an absolute path; Link headers carry full URLs.
                let absolute = !matches!(source.primary(), MetaSource::Path(_));
                let origin = if absolute { origin } else { "" };
                next.as_ref().map(|c| Value::String(self.next_url(input, origin, prefix, c))).unwrap_or(Value::Null)
            } else if pg.and_then(|p| p.meta.as_ref()) == Some(name) {
                next.clone().unwrap_or(Value::Null)
            } else if computed && pg.is_some_and(|p| &p.param == name) {
                // Offset and page styles echo where the page starts (Jira's startAt).
                let start = self.offset(op, input).unwrap_or(0);
                let page = pg.is_some_and(by_page_number);
                let first = first_page(op);
                json!(if page { start / self.page_size(op, input).max(1) + first } else { start })
            } else if computed && pg.and_then(|p| p.limit.as_ref()) == Some(name) {
                json!(self.page_size(op, input))
            } else if pg.and_then(|p| p.last_page.as_ref()) == Some(name)
                || (computed && ["islast", "is_last"].contains(&name.to_ascii_lowercase().as_str()))
            {
                Value::Bool(!has_more)
            } else if pg.and_then(|p| p.has_more.as_ref()) == Some(name)
                || name.to_ascii_lowercase().replace('_', "").contains("hasmore")
            {
                Value::Bool(has_more && next.is_some())
            } else if ["total", "count"].iter().any(|k| name.to_ascii_lowercase().contains(k)) {
                json!(total)
            } else {
                continue;
            };
            // A list of sources: the API's first place (Zendesk's page-number `next_page`).
            match source.primary() {
                MetaSource::Path(p) => {
                    if let Some(steps) = steps(&p.to_string()) {
                        put(&mut body, &steps, value);
                    }
                }
                MetaSource::Header(h) if !value.is_null() => {
                    headers.push((h.clone(), value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string())))
                }
                MetaSource::Link(rel) if !value.is_null() && url_style => {
                    headers.push(("link".into(), format!("<{}>; rel=\"{rel}\"", value.as_str().unwrap_or_default())));
                }
                MetaSource::Link(rel) if !value.is_null() => {
                    // The cursor of a Link is the whole next URL (the runtime passes it back).
                    let param = pg.map(|p| p.param.as_str()).unwrap_or("page");
                    let c = value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
                    let url = format!("{base}{}?{param}={c}", op.path);
                    headers.push(("link".into(), format!("<{url}>; rel=\"{rel}\"")));
                }
                _ => {}
            }
        }
        let mut resp = (status, Json(body)).into_response();
        for (k, v) in headers {
            if let (Ok(k), Ok(v)) = (axum::http::HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(&v)) {
                resp.headers_mut().insert(k, v);
            }
        }
        resp
    }

    /// Record `n` of `op`, with the given body fields echoed on writes.
    fn record(&self, op: &Operation, n: usize, input: &Input) -> Value {
        let Some(schema) = op.record_schema() else { return json!({"id": format!("{}_{}", op.entity, n + 1)}) };
        // A primitive record is described as the `{"value": ...}` the runtime wraps it in.
        let props = schema.get("properties").and_then(Value::as_object);
        if schema.as_object().is_some_and(|m| m.len() == 2)
            && props.is_some_and(|p| p.len() == 1 && p.contains_key("value"))
        {
            return self.gen(&op.entity, false).value(&schema["properties"]["value"], "value", n, 0);
        }
        let mut r = self.gen(&op.entity, false).value(schema, "record", n, 0);
        if matches!(op.action.as_str(), "create" | "update") {
            if let (Some(m), Some(props)) = (r.as_object_mut(), props) {
                for p in op.params.iter().filter(|p| p.location == ParamLocation::Body) {
                    let (Some(given), Some(decl)) = (input.get(op, &p.name), props.get(&p.name)) else { continue };
                    let ty = type_of(decl);
                    let fits = matches!(
                        (&given, ty),
                        (Value::String(_), Some("string"))
                            | (Value::Bool(_), Some("boolean"))
                            | (Value::Number(_), Some("number"))
                    ) || (given.is_i64() && ty == Some("integer"));
                    if fits {
                        m.insert(p.name.clone(), given);
                    }
                }
            }
        }
        r
    }

    /// Where a page starts, from the cursor the request carries.
    fn offset(&self, op: &Operation, input: &Input) -> Result<usize, String> {
        let Some(pg) = &op.pagination else { return Ok(0) };
        if pg.style == PageStyle::Url {
            // The runtime follows the URL the last page gave; a URL sent back as a param is a
            // client that did not.
            if input.get(op, &pg.param).is_some() {
                return Err(format!("{} is not a param of this API: follow the next-page URL", pg.param));
            }
            let Some((_, c)) = input.query.iter().find(|(k, _)| k == URL_CURSOR_KEY) else { return Ok(0) };
            return c.strip_prefix('c').and_then(|n| n.parse().ok()).ok_or_else(|| format!("invalid cursor {c:?}"));
        }
        let Some(mut cursor) = input.get(op, &pg.param) else { return Ok(0) };
        // A Link cursor is the next URL: its query carries the param.
        if let Some(url) = cursor.as_str().filter(|s| s.starts_with("http")).and_then(|s| url::Url::parse(s).ok()) {
            if let Some((_, v)) = url.query_pairs().find(|(k, _)| k == pg.param.as_str()) {
                cursor = Value::String(v.into_owned());
            }
        }
        let text = cursor.as_str().map(str::to_string).unwrap_or_else(|| cursor.to_string());
        if let Some(field) = &pg.from_last_record {
            return self
                .served(op, input)?
                .into_iter()
                .position(|n| {
                    let r = self.record(op, n, input);
                    // An integer field comes back from the query as its text.
                    r.get(field).is_some_and(|v| {
                        v == &cursor || v.as_str() == Some(&text) || (v.is_i64() && v.as_i64() == text.parse().ok())
                    })
                })
                .map(|n| n + 1)
                .ok_or_else(|| format!("invalid cursor {text:?}"));
        }
        let integer = op.param(&pg.param).is_some_and(|p| p.ty == Some(ParamType::Integer));
        // A cursor the caller must give starts the list with a token from elsewhere (Drive's
        // changes take a start page token from getStartPageToken): any but the fake's own
        // cursors is the first page.
        let required = op.param(&pg.param).is_some_and(|p| p.required);
        if required && !integer && text.strip_prefix('c').is_none_or(|n| n.parse::<usize>().is_err()) {
            return Ok(0);
        }
        if integer {
            let v: usize = text.parse().map_err(|_| format!("invalid {}: {text:?}", pg.param))?;
            let page = v.saturating_sub(first_page(op));
            return Ok(if by_page_number(pg) { page * self.page_size(op, input) } else { v });
        }
        text.strip_prefix('c').and_then(|n| n.parse().ok()).ok_or_else(|| format!("invalid cursor {text:?}"))
    }

    /// The records (their numbers) a list serves: all [`TOTAL`], or, when the request carries
    /// the operation's `x-incremental` param, those whose update time is at or after it (as
    /// Freshdesk's `updated_since` and GitLab's `updated_after` are documented). A value the param's format cannot read is a 400, as the APIs answer.
    fn served(&self, op: &Operation, input: &Input) -> Result<Vec<usize>, String> {
        let Some(inc) = op.incremental.as_ref().filter(|_| op.action == "list") else {
            return Ok((0..TOTAL).collect());
        };
        let Some(given) = input.get(op, &inc.param) else { return Ok((0..TOTAL).collect()) };
        let since = inc
            .format
            .read(&given)
            .ok_or_else(|| format!("{} must be a {} time, not {}", inc.param, inc.format.as_str(), given))?;
        Ok((0..TOTAL).filter(|&n| inc.record_time(&self.record(op, n, input)).is_none_or(|t| t >= since)).collect())
    }

    fn page_size(&self, op: &Operation, input: &Input) -> usize {
        // A pagination that names its page-size param (offset and page styles) pages by it,
        // and by its declared default when the request leaves it out, as the API would.
        let declared = op.pagination.as_ref().and_then(|pg| pg.limit.as_deref()).and_then(|l| op.param(l));
        let default = declared.and_then(|p| p.default.as_ref()).and_then(Value::as_u64);
        op.params
            .iter()
            .filter(|p| {
                p.ty == Some(ParamType::Integer)
                    && (is_limit_param(&p.name) || declared.is_some_and(|d| d.name == p.name))
            })
            .find_map(|p| input.get(op, &p.name))
            .and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
            .or(default)
            .map(|l| (l as usize).clamp(1, 100))
            .unwrap_or(PAGE_SIZE)
    }

    /// The cursor of the page starting at record `end`.
    fn cursor(&self, op: &Operation, end: usize, size: usize, last: Option<&Value>) -> Option<Value> {
        let pg = op.pagination.as_ref()?;
        if let Some(field) = &pg.from_last_record {
            return last.and_then(|r| r.get(field)).cloned();
        }
        let integer = op.param(&pg.param).is_some_and(|p| p.ty == Some(ParamType::Integer));
        if integer && by_page_number(pg) {
            return Some(json!(end / size.max(1) + first_page(op)));
        }
        if integer {
            return Some(json!(end));
        }
        Some(Value::String(format!("c{end}")))
    }
}

/// The success status and JSON schema an operation declares.
fn success_response(raw: &Value, gen: &Gen<'_>) -> (StatusCode, Option<Value>) {
    let Some(responses) = raw.get("responses").and_then(Value::as_object) else { return (StatusCode::OK, None) };
    let mut codes: Vec<&String> = responses.keys().filter(|k| k.len() == 3 && k.starts_with('2')).collect();
    codes.sort_by_key(|k| match k.as_str() {
        "200" => 0,
        "201" => 1,
        _ => 2,
    });
    let Some(code) = codes.first() else { return (StatusCode::OK, None) };
    let status = code.parse().ok().and_then(|c| StatusCode::from_u16(c).ok()).unwrap_or(StatusCode::OK);
    let r = gen.resolve(&responses[code.as_str()], 0);
    let schema = r
        .get("content")
        .and_then(Value::as_object)
        .and_then(|c| c.iter().find(|(k, _)| k.contains("json")))
        .and_then(|(_, m)| m.get("schema"))
        .cloned();
    (status, schema)
}

/// Puts the status and message into an error body made from its schema: message-like strings
/// take the message, status-like integers the status.
fn fill_error(v: &mut Value, status: u16, message: &str, field: &str) {
    const TEXT: [&str; 11] = [
        "message",
        "error",
        "errors",
        "detail",
        "details",
        "error_description",
        "description",
        "title",
        "msg",
        "errormessage",
        "reason",
    ];
    let f = field.to_ascii_lowercase();
    match v {
        Value::String(s) if TEXT.contains(&f.as_str()) || f.is_empty() => *s = message.to_string(),
        Value::Number(_) if ["status", "code", "statuscode", "status_code", "httpstatus"].contains(&f.as_str()) => {
            *v = json!(status)
        }
        Value::Object(m) => m.iter_mut().for_each(|(k, x)| fill_error(x, status, message, k)),
        Value::Array(items) => items.iter_mut().for_each(|x| fill_error(x, status, message, field)),
        _ => {}
    }
}

/// The operation name of a GraphQL document (`query ListIssues(...)` -> `ListIssues`).
fn graphql_name(doc: &str) -> String {
    let t = doc.trim_start();
    let rest = t.strip_prefix("query").or_else(|| t.strip_prefix("mutation")).unwrap_or("");
    rest.trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

/// The params of one path segment `s` sent for the template segment `t`: literal text and
/// `{name}`s in any order (`v1:{id}`, `{id}.json`, `(account:{account},user:{user})`). A param's
/// value runs to the first occurrence of the literal after it (the last literal: to the
/// segment's end), so a value holding that literal must be percent-encoded, as Rest.li keys
/// are; values are returned decoded. `None` when the segment does not fit or a value is empty.
fn segment_params(t: &str, s: &str) -> Option<Vec<(String, String)>> {
    enum Part<'a> {
        Lit(&'a str),
        Var(&'a str),
    }
    let mut parts = Vec::new();
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        let close = open + rest[open..].find('}')?;
        if open > 0 {
            parts.push(Part::Lit(&rest[..open]));
        }
        parts.push(Part::Var(&rest[open + 1..close]));
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Lit(rest));
    }
    let mut out = Vec::new();
    let mut at = s;
    for (i, part) in parts.iter().enumerate() {
        match part {
            Part::Lit(l) => at = at.strip_prefix(l)?,
            Part::Var(name) => {
                let end = match parts.get(i + 1) {
                    None => at.len(),
                    Some(Part::Lit(l)) if i + 2 == parts.len() => at.strip_suffix(l).map(str::len)?,
                    Some(Part::Lit(l)) => at.find(l)?,
                    Some(Part::Var(_)) => return None, // two params with nothing between
                };
                if end == 0 {
                    return None;
                }
                out.push((name.to_string(), percent_decode(&at[..end])));
                at = &at[end..];
            }
        }
    }
    at.is_empty().then_some(out)
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

/// RFC 7523's grant type for a token request carrying a JWT.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The e-mail of the test service account the fake trusts.
pub const SERVICE_ACCOUNT_EMAIL: &str = "switchboard-test@fake-project.iam.gserviceaccount.com";

/// The private key of the test service account: a key pair generated for these tests alone
/// (tests/fake-upstream/testdata/README.md), not a secret of anyone.
pub const TEST_SERVICE_ACCOUNT_PEM: &str = include_str!("../testdata/service-account-TEST-ONLY.pem");

/// A second test key the fake does not trust.
pub const UNTRUSTED_SERVICE_ACCOUNT_PEM: &str = include_str!("../testdata/service-account-untrusted-TEST-ONLY.pem");

/// A service account JSON key shaped like the ones Google issues, for the test account with
/// `private_key_pem`, whose assertions are for `token_uri`.
pub fn service_account_key_with(private_key_pem: &str, token_uri: &str) -> String {
    json!({
        "type": "service_account",
        "project_id": "fake-project",
        "private_key_id": "0000000000000000000000000000000000000000",
        "private_key": private_key_pem,
        "client_email": SERVICE_ACCOUNT_EMAIL,
        "client_id": "100000000000000000000",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    })
    .to_string()
}

/// The trusted test service account's JSON key (see [`service_account_key_with`]).
pub fn service_account_key(token_uri: &str) -> String {
    service_account_key_with(TEST_SERVICE_ACCOUNT_PEM, token_uri)
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The claims of `jwt` when it is an RS256 JWT signed with the trusted test key; else Google's
/// reason for refusing it.
fn verify_assertion(jwt: &str) -> Result<Map<String, Value>, &'static str> {
    use base64::Engine as _;
    use ring::signature::KeyPair as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts[..] else { return Err("Invalid JWT: not a signed JWT.") };
    let json_of = |part: &str| -> Option<Map<String, Value>> { serde_json::from_slice(&b64.decode(part).ok()?).ok() };
    let header = json_of(header).ok_or("Invalid JWT: bad header.")?;
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err("Invalid JWT: the algorithm must be RS256.");
    }
    let signature = b64.decode(signature).map_err(|_| "Invalid JWT Signature.")?;
    let body: String = TEST_SERVICE_ACCOUNT_PEM.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body).map_err(|_| "test key unreadable")?;
    let pair = ring::signature::RsaKeyPair::from_pkcs8(&der).map_err(|_| "test key unreadable")?;
    let public = ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        pair.public_key().as_ref().to_vec(),
    );
    let signed = &jwt[..jwt.rfind('.').unwrap_or(0)];
    public.verify(signed.as_bytes(), &signature).map_err(|_| "Invalid JWT Signature.")?;
    json_of(claims).ok_or("Invalid JWT: bad claims.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(k, x)| (k.to_string(), x.to_string())).collect()
    }

    #[test]
    fn segments_with_one_or_several_params() {
        assert_eq!(segment_params("{id}", "42"), Some(pairs(&[("id", "42")])));
        assert_eq!(segment_params("v1:{id}", "v1:42"), Some(pairs(&[("id", "42")])));
        assert_eq!(segment_params("{id}.json", "42.json"), Some(pairs(&[("id", "42")])));
        assert_eq!(segment_params("{id}.json", "42.xml"), None);
        assert_eq!(segment_params("{id}", ""), None);
        // LinkedIn's Rest.li compound key, URNs percent-encoded.
        assert_eq!(
            segment_params(
                "(account:{account},user:{user})",
                "(account:urn%3Ali%3AsponsoredAccount%3A5,user:urn%3Ali%3Aperson%3Aab%2Cc)"
            ),
            Some(pairs(&[("account", "urn:li:sponsoredAccount:5"), ("user", "urn:li:person:ab,c")]))
        );
        assert_eq!(segment_params("(account:{account},user:{user})", "(account:a,user:)"), None);
        assert_eq!(segment_params("(account:{account},user:{user})", "(user:a,account:b)"), None);
        assert_eq!(segment_params("{a}{b}", "xy"), None);
    }

    #[test]
    fn vendor_json_types_are_json() {
        for ct in [
            "application/json",
            "application/json; charset=utf-8",
            "application/vnd.api+json",
            "application/merge-patch+json",
            "application/vnd.spCampaign.v3+json",
        ] {
            assert!(is_json_media_type(ct), "{ct}");
        }
        for ct in ["", "text/plain", "application/x-www-form-urlencoded", "application/jsonl", "text/x+json"] {
            assert!(!is_json_media_type(ct), "{ct}");
        }
    }
}
