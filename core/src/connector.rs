//! The connector handle: one connector with one set of credentials, and the straight line from
//! `execute(entity, action, params)` to a result: validate, build, auth, send, retry, map errors,
//! extract, trim.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::Stream;
use rand::Rng;
use serde_json::{Map, Value};

use crate::apart;
use crate::auth::{Auth, TokenSink};
use crate::error::{Error, ErrorCode, Result};
use crate::execution::RecordText;
pub use crate::execution::{CheckResult, ExecuteOptions, ExecutionResult, JsonData, JsonExecution, NextPage};
use crate::extract;
use crate::http::{HttpClient, HttpRequest, HttpResponse, NetClient, TransportError};
use crate::paginate::{self, Executor};
use crate::request;
use crate::spec::{AuthKind, AuthScheme, BodyKind, ConnectorSpec, Operation, RetryConfig};
use crate::upstream::{self, Peer};

/// The most JSON values (array items, object members, scalars) read from one answer: five
/// million, a page far past any API's largest (a page of 10,000 records of 100 fields is one
/// million), whose tree takes at most some hundreds of megabytes.
pub const MAX_JSON_VALUES: usize = 5_000_000;

/// Largest file a `download` returns (it travels as base64 inside JSON).
const MAX_DOWNLOAD_BYTES: usize = 50 * 1024 * 1024;

/// How a handle talks to the world.
#[derive(Clone)]
pub struct ConnectorOptions {
    /// The HTTP seam; the shared reqwest client when `None`.
    pub http: Option<Arc<dyn HttpClient>>,
    /// Receives refreshed OAuth tokens before they are used.
    pub token_sink: Option<Arc<dyn TokenSink>>,
    /// Time allowed for one upstream exchange.
    pub timeout: Duration,
    /// When set, the only hosts requests (and token refreshes) may go to.
    pub allowed_hosts: Option<Vec<String>>,
    /// Overrides the spec's retry bounds.
    pub retry: Option<RetryConfig>,
}

impl Default for ConnectorOptions {
    fn default() -> Self {
        Self { http: None, token_sink: None, timeout: Duration::from_secs(30), allowed_hosts: None, retry: None }
    }
}

impl std::fmt::Debug for ConnectorOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorOptions")
            .field("timeout", &self.timeout)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

struct Inner {
    spec: Arc<ConnectorSpec>,
    config: Map<String, Value>,
    auth: Auth,
    http: Arc<dyn HttpClient>,
    options: ConnectorOptions,
    /// Server variables a token answer fills (Salesforce's `instance_url`) that config does not
    /// set: until a token has named them, the server URL is not yet where requests go.
    host_from_token: Vec<String>,
    /// The last origin the egress rules allowed ([`plain_origin`]): a request to it needs no
    /// URL parse (two per call, where the rules are set: the engine's case).
    egress_allowed: Mutex<Option<Box<str>>>,
}

/// One connector with one set of credentials. Cheap to clone; clones share auth state, so one
/// OAuth refresh serves every call in flight.
#[derive(Clone)]
pub struct Connector {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector").field("slug", &self.inner.spec.slug).finish_non_exhaustive()
    }
}

fn object(v: Value, what: &str) -> Result<Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Map::new()),
        other => Err(Error::validation(format!("{what} must be a JSON object, got {}", type_name(&other)))),
    }
}

/// What kind of JSON value `v` is, as a message says it: `a string`, `an object`, `null`...
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Whether `host` is allowed by `allowed`: exact names, or `*.example.com` for any host under
/// that domain (one or more labels).
pub fn host_allowed(allowed: &[String], host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    allowed.iter().any(|a| {
        let a = a.trim().to_ascii_lowercase();
        match a.strip_prefix("*.") {
            Some(suffix) => host.len() > suffix.len() + 1 && host.ends_with(&format!(".{suffix}")),
            None => a == host,
        }
    })
}

/// Refuses a URL whose host the egress rules do not allow (no rules: everything is allowed).
fn egress_check(allowed: Option<&[String]>, url: &str) -> Result<()> {
    let Some(allowed) = allowed else { return Ok(()) };
    let host = host_of(url).unwrap_or_default();
    if host_allowed(allowed, &host) {
        return Ok(());
    }
    Err(Error::new(
        ErrorCode::Forbidden,
        format!("requests to host {host:?} are not allowed by this server's egress rules; an operator can allow it with --egress-allow"),
    ))
}

/// [`egress_check`], remembering the last origin it allowed in `memo`: a URL whose
/// [`plain_origin`] is that one is allowed without being parsed again.
fn egress_check_memo(memo: &Mutex<Option<Box<str>>>, allowed: Option<&[String]>, url: &str) -> Result<()> {
    let Some(origin) = allowed.and(plain_origin(url)) else { return egress_check(allowed, url) };
    if memo.lock().is_ok_and(|last| last.as_deref() == Some(origin)) {
        return Ok(());
    }
    egress_check(allowed, url)?;
    if let Ok(mut last) = memo.lock() {
        *last = Some(origin.into());
    }
    Ok(())
}

/// The `http://` or `https://` and authority a URL starts with, when nothing in the authority
/// can make the URL parser end it elsewhere or read its host differently from its text:
/// letters, digits, `.`, `-` and `:` only (no user info, escapes, brackets, backslashes, which
/// the parser reads as `/`, and no spaces, tabs or newlines, which it drops), ended by `/`, `?`,
/// `#` or the end of the text. Two URLs with the same such prefix have the same host; for
/// anything else this is `None`, and the URL is parsed.
fn plain_origin(url: &str) -> Option<&str> {
    let scheme = if url.starts_with("https://") {
        8
    } else if url.starts_with("http://") {
        7
    } else {
        return None;
    };
    let rest = &url.as_bytes()[scheme..];
    let end = rest.iter().position(|b| matches!(b, b'/' | b'?' | b'#')).unwrap_or(rest.len());
    let authority = &rest[..end];
    let plain = authority.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
    (plain && !authority.is_empty()).then(|| &url[..scheme + end])
}

fn host_of(url: &str) -> Option<String> {
    url::Url::parse(url).ok()?.host_str().map(|h| h.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase())
}

impl Connector {
    /// A handle for `spec` with `credentials` and `config` (JSON objects).
    pub fn new(spec: Arc<ConnectorSpec>, credentials: Value, config: Value, options: ConnectorOptions) -> Result<Self> {
        let mut creds = object(credentials, "credentials")?;
        let config = object(config, "config")?;
        let mut problems = Vec::new();
        crate::validate::normalize_credentials(&spec, &mut creds, &mut problems);
        if problems.is_empty() {
            crate::validate::validate_handle(&spec, &creds, &config).map_err(|p| problems = p).ok();
        }
        if !problems.is_empty() {
            return Err(crate::validate::configuration_error(&spec, &problems));
        }
        let scheme = crate::auth::select_scheme(&spec, &creds)?.clone();
        let token_url = Self::token_url(&spec, &config, &scheme);
        if let Some(t) = &token_url {
            egress_check(options.allowed_hosts.as_deref(), t)?; // refresh requests carry secrets too
        }
        let host_from_token = match &scheme.kind {
            AuthKind::OAuth2(cfg) if !config.contains_key("base_url") => cfg
                .extract
                .iter()
                .filter(|name| spec.server_variables.contains_key(*name) && !config.contains_key(*name))
                .cloned()
                .collect(),
            _ => Vec::new(),
        };
        let auth = Auth::new(&spec, scheme, creds, token_url, options.token_sink.clone())?;
        let http = options.http.clone().unwrap_or_else(NetClient::shared);
        let c = Self {
            inner: Arc::new(Inner {
                spec,
                config,
                auth,
                http,
                options,
                host_from_token,
                egress_allowed: Mutex::new(None),
            }),
        };
        c.base_url()?; // missing server variables fail now, not at the first call
        Ok(c)
    }

    /// Where OAuth refreshes of `scheme` go: `config.token_url`, else the spec's token URL,
    /// moved onto `config.base_url` when it lives on the spec's server.
    fn token_url(spec: &ConnectorSpec, config: &Map<String, Value>, scheme: &AuthScheme) -> Option<String> {
        let AuthKind::OAuth2(cfg) = &scheme.kind else { return None };
        if let Some(t) = config.get("token_url").and_then(Value::as_str) {
            return Some(t.to_string());
        }
        let url = cfg.token_url.as_deref()?;
        if let Some(base) = config.get("base_url").and_then(Value::as_str) {
            let server = spec.server_url.trim_end_matches('/');
            if let Some(rest) = url.strip_prefix(server) {
                return Some(format!("{}{rest}", base.trim_end_matches('/')));
            }
        }
        // A token URL on the tenant's own host (`https://{subdomain}.zendesk.com/oauth/tokens`,
        // `https://{shop}.myshopify.com/...`) takes the server's variables from config.
        Some(spec.fill_server_variables(url, config))
    }

    /// The spec this handle runs.
    pub fn spec(&self) -> &Arc<ConnectorSpec> {
        &self.inner.spec
    }

    /// The URL requests go to: `config.base_url`, or the spec's server URL with its variables
    /// filled from config, token answers and defaults.
    pub fn base_url(&self) -> Result<String> {
        let inner = &self.inner;
        if let Some(b) = inner.config.get("base_url").and_then(Value::as_str) {
            return Ok(b.trim_end_matches('/').to_string());
        }
        let mut url = inner.spec.server_url.clone();
        let extracted = inner.auth.extracted();
        let mut missing = Vec::new();
        for (name, default) in &inner.spec.server_variables {
            let value = inner
                .config
                .get(name)
                .and_then(|v| v.as_str().map(str::to_string))
                .or_else(|| extracted.get(name).cloned())
                .or_else(|| default.clone());
            match value {
                Some(v) => {
                    let v = if name == "instance_url" { v.trim_end_matches('/').to_string() } else { v };
                    url = url.replace(&format!("{{{name}}}"), &v);
                }
                None => missing.push(name.as_str()),
            }
        }
        if !missing.is_empty() {
            return Err(Error::configuration(format!(
                "connector {} needs config {} (it fills the server URL {})",
                inner.spec.slug,
                missing.iter().map(|m| format!("{m:?}")).collect::<Vec<_>>().join(", "),
                inner.spec.server_url
            )));
        }
        Ok(url.trim_end_matches('/').to_string())
    }

    /// Whether the server URL still waits for a token answer to name its host.
    fn awaiting_host(&self) -> bool {
        let names = &self.inner.host_from_token;
        if names.is_empty() {
            return false;
        }
        let extracted = self.inner.auth.extracted();
        names.iter().any(|n| !extracted.contains_key(n))
    }

    fn check_egress(&self, url: &str) -> Result<()> {
        egress_check_memo(&self.inner.egress_allowed, self.inner.options.allowed_hosts.as_deref(), url)
    }

    /// Runs one operation.
    pub async fn execute(
        &self,
        entity: &str,
        action: &str,
        params: Value,
        options: &ExecuteOptions,
    ) -> Result<ExecutionResult> {
        let (data, meta, next_page) = self.execute_data(entity, action, params, options, false).await?;
        let data = data.into_value().map_err(unreadable)?;
        Ok(ExecutionResult { data, meta, next_page })
    }

    /// [`Self::execute`] for a caller that writes the result out as JSON (the engine): when the
    /// operation allows it ([`Operation::raw_record_path`]) and no fields are selected or
    /// excluded, a list page's records are the JSON text the API sent, checked but never parsed
    /// into a tree (a record with a string to cut, or one to wrap as `{"value": ...}`, is
    /// rewritten alone). Written out, the data is the JSON [`Self::execute`] gives, up to how
    /// numbers, escapes and repeated keys are spelled.
    pub async fn execute_json(
        &self,
        entity: &str,
        action: &str,
        params: Value,
        options: &ExecuteOptions,
    ) -> Result<JsonExecution> {
        let (data, meta, next_page) = self.execute_data(entity, action, params, options, true).await?;
        Ok(JsonExecution { data, meta, next_page })
    }

    async fn execute_data(
        &self,
        entity: &str,
        action: &str,
        params: Value,
        options: &ExecuteOptions,
        raw: bool,
    ) -> Result<(JsonData, Map<String, Value>, Option<NextPage>)> {
        let spec = &self.inner.spec;
        let op = request::find_operation(spec, entity, action)?;
        let params = object(params, "params")?;
        let params = request::validate(spec, op, &params)?;
        request::validate_options(options)?;
        let trimmed = !options.select_fields.is_empty() || !options.exclude_fields.is_empty();
        let raw_path = if raw && !trimmed { op.raw_record_path() } else { None };
        let started = Instant::now();
        // The one exit of every failure after validation: whatever text reached the error (an
        // upstream's echo, a transport message, a token endpoint's reason) leaves it redacted.
        let result = self.run(op, &params, raw_path).await.map_err(|e| self.inner.auth.secrets().scrub(e));
        // An API that answers "not found" when nothing matches a list (Gong's calls) gives an
        // empty page, where the spec says so: no records is not an error an agent must handle.
        let result = match result {
            Err(e) if op.empty_when_not_found && e.code == ErrorCode::NotFound && e.status_code == Some(404) => {
                Ok((JsonData::Value(Value::Array(Vec::new())), Map::new(), 0))
            }
            other => other,
        };
        tracing::debug!(
            connector = %spec.slug, entity, action,
            ok = result.is_ok(),
            code = result.as_ref().err().map(|e| e.code.as_str()).unwrap_or(""),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "executed"
        );
        let (data, meta, fetched) = result?;
        let truncate = (op.returns_list() && !options.skip_truncation).then_some(extract::TRUNCATE_CHARS);
        let mut data = match data {
            JsonData::Records(records) => {
                // Only a cursor taken from the last record reads a record here (before any cut,
                // as on the parsing path).
                let from_last = op.pagination.as_ref().is_some_and(|p| p.from_last_record.is_some());
                let last = match records.last() {
                    Some(r) if from_last => vec![extract::parse_json(r.get().as_bytes()).map_err(unreadable)?],
                    _ => Vec::new(),
                };
                let next_page = paginate::next_page(op, &params, &Value::Array(last), &meta, fetched);
                let records = match truncate {
                    Some(max) => records
                        .into_iter()
                        .map(|r| extract::truncate_record(r, max))
                        .collect::<serde_json::Result<Vec<_>>>()
                        .map_err(unreadable)?,
                    None => records,
                };
                return Ok((JsonData::Records(records), meta, next_page));
            }
            other => other.into_value().map_err(unreadable)?,
        };
        let next_page = paginate::next_page(op, &params, &data, &meta, fetched);
        // Paths naming no field of any record, and none the operation's record schema declares
        // (an optional field may be absent from a whole page), would answer empty records with
        // no word of why. Only a read is refused for it: a write has been made, and a caller
        // told it failed might make it again. Without a declared schema nothing is refused.
        let declared = op.record_schema().and_then(|s| s.get("properties")).and_then(Value::as_object);
        let names_declared =
            |p: &String| declared.is_none_or(|d| d.contains_key(p.split('.').next().unwrap_or_default()));
        if matches!(op.action.as_str(), "list" | "search" | "get") && !options.select_fields.iter().any(names_declared)
        {
            if let Some(fields) = extract::unselectable(&data, &options.select_fields) {
                return Err(Error::validation(format!(
                    "select_fields names no field of the {entity} records this {action} returned; give dot paths \
                     that start with one of their fields: {}",
                    fields.join(", ")
                ))
                .with_details(serde_json::json!({ "param": "select_fields", "fields": fields })));
            }
        }
        if trimmed {
            match &mut data {
                Value::Array(items) => items
                    .iter_mut()
                    .for_each(|r| extract::trim_fields(r, &options.select_fields, &options.exclude_fields)),
                other => extract::trim_fields(other, &options.select_fields, &options.exclude_fields),
            }
        }
        if let Some(max) = truncate {
            extract::truncate_strings(&mut data, max);
        }
        Ok((JsonData::Value(data), meta, next_page))
    }

    /// One call: the records, the meta values and how many records the API sent (before the
    /// record filter). With `raw_path` (the operation's [`Operation::raw_record_path`]), a
    /// successful page's records are kept as their JSON text.
    async fn run(
        &self,
        op: &Operation,
        params: &Map<String, Value>,
        raw_path: Option<&[String]>,
    ) -> Result<(JsonData, Map<String, Value>, usize)> {
        let inner = &self.inner;
        // A next page given as a URL replaces the path and query (only on the server's origin).
        let (params, given_page_url) = paginate::split_url_cursor(op, params);
        let built = request::build(op, &params)?;
        let target = || -> Result<(String, Option<url::Url>)> {
            let base = self.base_url()?;
            let page_url = match (&given_page_url, &op.pagination) {
                (Some(u), Some(pg)) => Some(paginate::page_url(&base, u, &pg.param, &op.path)?),
                _ => None,
            };
            Ok((base, page_url))
        };
        // Where the request goes is checked before any token is obtained: a request refused for
        // its URL (a next page off the server, a host the egress rules do not allow) sets off no
        // token refresh. A token answer may name the API host (Salesforce's instance_url): until
        // one has, the first attempt's auth comes first; where it can, the URL is built again
        // once the token is in hand, and again after a refresh (see the 401 branch). Every
        // attempt's URL is checked again before it is sent.
        let checked = if self.awaiting_host() {
            None
        } else {
            let (base, page_url) = target()?;
            self.check_egress(page_url.as_ref().map_or(base.as_str(), url::Url::as_str))?;
            Some((base, page_url))
        };
        let mut first_auth = Some(inner.auth.apply(inner.http.as_ref(), inner.options.timeout).await?);
        let (mut base, mut page_url) = match checked {
            Some(t) if inner.host_from_token.is_empty() => t,
            _ => target()?,
        };
        let retry = inner.options.retry.unwrap_or(op.retry);
        let timeout = inner.options.timeout;
        let started = Instant::now();
        let mut attempt: u32 = 0;
        let mut refreshed = false;
        // One key per call, the same on every retry, so the API applies the write once.
        let idempotency = op.idempotency_header.as_ref().map(|h| (h.clone(), uuid_v4()));
        loop {
            attempt += 1;
            let applied = match first_auth.take() {
                Some(applied) => applied,
                None => inner.auth.apply(inner.http.as_ref(), timeout).await?,
            };
            let url = match &page_url {
                Some(next) => paginate::page_request_url(next, &applied.query),
                None => {
                    let mut query = built.query.clone();
                    query.extend(applied.query);
                    let mut url = format!("{base}{}", built.path);
                    if !query.is_empty() {
                        url.push('?');
                        url.push_str(&crate::request::query_string(&query, &built.reserved));
                    }
                    url
                }
            };
            self.check_egress(&url)?;
            let mut headers = vec![("accept".to_string(), "application/json".to_string())];
            headers.extend(built.headers.iter().cloned());
            headers.extend(idempotency.iter().cloned());
            // The auth's headers win over a param of the same name (Amazon Ads' client id).
            headers.retain(|(n, _)| !applied.headers.iter().any(|(a, _)| a.eq_ignore_ascii_case(n)));
            headers.extend(applied.headers);
            let req = HttpRequest { method: built.method.clone(), url, headers, body: built.body.clone(), timeout };
            let outcome = inner.http.send(req).await;
            let mut resp = match outcome {
                Ok(r) => r,
                Err(e) => {
                    let err = upstream::transport_error(Peer::Api(&inner.spec.display_name), &e);
                    // An answer too long to read is as long the next time.
                    if op.idempotent && !matches!(e, TransportError::TooLarge(_) | TransportError::Unsendable(_)) {
                        if let Some(delay) = backoff(&retry, attempt, started, None) {
                            tracing::debug!(connector = %inner.spec.slug, attempt, delay_ms = delay.as_millis() as u64, "retrying after a transport error");
                            tokio::time::sleep(delay).await;
                            continue;
                        }
                    }
                    return Err(err);
                }
            };
            let success = (200..300).contains(&resp.status);
            // The records' text, when kept: the body then holds an empty array in their place.
            let read;
            // A download's answer may be the file itself (a CSV of millions of commas): its
            // values are not counted.
            let values = op.action != "download";
            (resp.body, read) = read_body(std::mem::take(&mut resp.body), raw_path.filter(|_| success), values).await?;
            let Body { value: body, json, records: raw_records } = read;
            let gql = upstream::graphql_code(&body);
            // A success status whose body says it failed (`x-response-error-check`).
            let failure = if success { upstream::body_failure(op.error_check.as_ref(), &body) } else { None };
            let code = if success {
                match gql {
                    // Only a GraphQL answer fails by its `errors` array: REST APIs (Sentry events,
                    // Salesforce create results) carry fields named `errors` on success.
                    Some(c) if matches!(op.body, BodyKind::GraphQl(_)) && graphql_failed(op, &body) => Some(c),
                    _ => failure.as_ref().map(|(c, _)| *c),
                }
            } else {
                Some(
                    gql.filter(|c| *c != ErrorCode::UpstreamHttp)
                        .unwrap_or_else(|| upstream::code_for_status(resp.status)),
                )
            };
            let Some(code) = code else {
                if op.action == "download" {
                    let (data, meta) = self.download(op, resp, &body, timeout).await?;
                    return Ok((JsonData::Value(data), meta, 1));
                }
                if !json && op.record_extractor.is_some() {
                    // Records are read from JSON; an answer that is not JSON (an HTML page from a
                    // proxy or a wrong base URL) holds none, and reading it as an empty page would
                    // tell the caller there are none.
                    let what = match std::str::from_utf8(&resp.body) {
                        Err(_) => "not UTF-8 text".to_string(),
                        Ok(_) => not_json(&resp.body),
                    };
                    let reason = format!(
                        "the answer is {what} ({}), so no records could be read from it",
                        resp.header("content-type").unwrap_or("no content-type")
                    );
                    return Err(self.upstream_error(&resp, &body, ErrorCode::UpstreamHttp, Some(&reason)));
                }
                let meta = extract::meta(op, &resp, &body);
                if let Some(records) = raw_records {
                    let fetched = records.len();
                    return Ok((JsonData::Records(records), meta, fetched));
                }
                let (data, fetched) = extract::take_page(op, body)?;
                return Ok((JsonData::Value(data), meta, fetched));
            };
            if code == ErrorCode::UpstreamAuthentication && !refreshed {
                refreshed = true;
                if inner.auth.refresh_after_401(inner.http.as_ref(), applied.generation, timeout).await? {
                    attempt -= 1; // a refresh is not a retry
                    (base, page_url) = target()?;
                    continue;
                }
            }
            let retryable = matches!(code, ErrorCode::RateLimited) || matches!(resp.status, 502..=504);
            if retryable && op.idempotent {
                if let Some(delay) = backoff(&retry, attempt, started, upstream::retry_after(&resp)) {
                    tracing::debug!(connector = %inner.spec.slug, status = resp.status, attempt, delay_ms = delay.as_millis() as u64, "retrying");
                    tokio::time::sleep(delay).await;
                    continue;
                }
            }
            // An error tells about the whole body, records included.
            let body = if raw_records.is_some() { whole_body(&resp.body) } else { body };
            return Err(self.upstream_error(&resp, &body, code, failure.as_ref().map(|(_, r)| r.as_str())));
        }
    }

    /// A download's file: the answer itself, or the file behind the URL the answer names
    /// (fetched without credentials: such links are pre-signed). Returned as
    /// `{content_type, size, content_base64}`.
    async fn download(
        &self,
        op: &Operation,
        first: HttpResponse,
        body: &Value,
        timeout: Duration,
    ) -> Result<(Value, Map<String, Value>)> {
        let api = &self.inner.spec.display_name;
        let file = match &op.file_url {
            None => first,
            Some(path) => {
                let url = path.query(body).first().and_then(Value::as_str).map(str::to_string).ok_or_else(|| {
                    Error::new(
                        ErrorCode::NotFound,
                        format!("{api} returned no file URL for this download (is the id right?)"),
                    )
                })?;
                self.check_egress(&url)?;
                let req = HttpRequest {
                    method: "GET".into(),
                    url,
                    headers: vec![("accept".into(), "*/*".into())],
                    body: None,
                    timeout,
                };
                let resp =
                    self.inner.http.send(req).await.map_err(|e| upstream::transport_error(Peer::Api(api), &e))?;
                if !(200..300).contains(&resp.status) {
                    let b: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
                    return Err(self.upstream_error(&resp, &b, upstream::code_for_status(resp.status), None));
                }
                resp
            }
        };
        if file.body.len() > MAX_DOWNLOAD_BYTES {
            return Err(Error::new(
                ErrorCode::PayloadTooLarge,
                format!("the file is larger than {} MiB", MAX_DOWNLOAD_BYTES >> 20),
            ));
        }
        use base64::Engine as _;
        let data = serde_json::json!({
            "content_type": file.header("content-type").unwrap_or("application/octet-stream"),
            "size": file.body.len(),
            "content_base64": base64::engine::general_purpose::STANDARD.encode(&file.body),
        });
        Ok((data, Map::new()))
    }

    /// The public error for a failed answer; `reason` is the provider's reason when a success
    /// status's body said it failed (`x-response-error-check`).
    fn upstream_error(&self, resp: &HttpResponse, body: &Value, code: ErrorCode, reason: Option<&str>) -> Error {
        let secrets = self.inner.auth.secrets();
        let mut e = upstream::error_with_reason(&self.inner.spec.display_name, resp, body, code, reason, &secrets);
        if code == ErrorCode::RateLimited && e.retry_after.is_none() {
            e.retry_after = Some(1.0);
        }
        e
    }

    /// Runs the connector's check operation with a limit of 1.
    pub async fn check(&self) -> CheckResult {
        let spec = &self.inner.spec;
        let Some(op) = spec.check_operation() else {
            // No operation runs without params: verify the credential instead (an OAuth
            // connector without a fresh access token refreshes it; a static one is well-formed).
            let inner = &self.inner;
            let res = inner.auth.apply(inner.http.as_ref(), inner.options.timeout).await;
            return CheckResult {
                status: if res.is_ok() { "healthy" } else { "unhealthy" }.into(),
                checked_entity: None,
                checked_action: None,
                error: res.err(),
            };
        };
        let mut params = Map::new();
        for name in ["limit", "per_page", "first", "page_size", "pageSize"] {
            if let Some(p) = op.param(name) {
                let one = serde_json::json!(p.minimum.map(|m| m.max(1.0) as i64).unwrap_or(1));
                params.insert(name.to_string(), one);
                break;
            }
        }
        let res = self.execute(&op.entity, &op.action, Value::Object(params), &ExecuteOptions::default()).await;
        CheckResult {
            status: if res.is_ok() { "healthy" } else { "unhealthy" }.into(),
            checked_entity: Some(op.entity.clone()),
            checked_action: Some(op.action.clone()),
            error: res.err(),
        }
    }

    /// Pages through `entity` / `action`, following the connector's cursor until the last page.
    pub fn paginate(
        &self,
        entity: &str,
        action: &str,
        params: Value,
        options: ExecuteOptions,
    ) -> impl Stream<Item = Result<ExecutionResult>> + Send + 'static {
        paginate::pages(self.clone(), entity, action, params, options)
    }

    /// [`Self::paginate`] with each page as [`Self::execute_json`] gives it.
    pub fn paginate_json(
        &self,
        entity: &str,
        action: &str,
        params: Value,
        options: ExecuteOptions,
    ) -> impl Stream<Item = Result<JsonExecution>> + Send + 'static {
        paginate::pages(self.clone(), entity, action, params, options)
    }
}

impl Executor<ExecutionResult> for Connector {
    fn execute_page<'a>(
        &'a self,
        entity: &'a str,
        action: &'a str,
        params: Value,
        options: &'a ExecuteOptions,
    ) -> futures::future::BoxFuture<'a, Result<ExecutionResult>> {
        Box::pin(self.execute(entity, action, params, options))
    }
}

impl Executor<JsonExecution> for Connector {
    fn execute_page<'a>(
        &'a self,
        entity: &'a str,
        action: &'a str,
        params: Value,
        options: &'a ExecuteOptions,
    ) -> futures::future::BoxFuture<'a, Result<JsonExecution>> {
        Box::pin(self.execute_json(entity, action, params, options))
    }
}

/// A response body as [`read_body`] reads it.
struct Body {
    /// The body as JSON ([`Value::Null`] when empty), or as text when it is not JSON.
    value: Value,
    /// Whether it was JSON (or empty).
    json: bool,
    /// The page's records as their text, when they can pass as text (`value` then holds an
    /// empty array in their place).
    records: Option<Vec<RecordText>>,
}

/// `bytes` read as JSON, and with `raw_path` the page's records as their text when they can pass
/// as text; `bytes` come back unchanged. A long body is read off a single-threaded runtime's
/// thread ([`apart::runtime_to_leave_for`]); with `count_values`, one of more than
/// [`MAX_JSON_VALUES`] values is refused unread.
async fn read_body(bytes: Vec<u8>, raw_path: Option<&[String]>, count_values: bool) -> Result<(Vec<u8>, Body)> {
    fn now(bytes: &[u8], raw_path: Option<&[String]>, count_values: bool) -> Result<Body> {
        if bytes.is_empty() {
            return Ok(Body { value: Value::Null, json: true, records: None });
        }
        // Read into a tree, a JSON value takes tens of bytes however few its text has (`0,`):
        // an answer of millions of tiny values would take gigabytes. A long one is counted first.
        let long = count_values && bytes.len() > extract::COUNT_VALUES_OVER_BYTES;
        if long && extract::holds_more_values_than(bytes, MAX_JSON_VALUES) {
            return Err(Error::new(
                ErrorCode::UpstreamHttp,
                format!(
                    "the API answered with more than {MAX_JSON_VALUES} JSON values ({} bytes), more than is read \
                     from one answer: ask for smaller pages (a lower limit or page size param)",
                    bytes.len()
                ),
            )
            .with_details(serde_json::json!({"reason": "answer_too_large", "bytes": bytes.len()})));
        }
        Ok(match raw_path.and_then(|p| extract::split_records(bytes, p)) {
            Some((value, records)) => Body { value, json: true, records: Some(records) },
            // Not JSON, or not a page whose records can pass as text: the parsing path reads
            // it (or says why it cannot).
            None => match parse_body(bytes) {
                Some(value) => Body { value, json: true, records: None },
                None => Body {
                    value: Value::String(String::from_utf8_lossy(bytes).into_owned()),
                    json: false,
                    records: None,
                },
            },
        })
    }
    let Some(runtime) = apart::runtime_to_leave_for(bytes.len()) else {
        let body = now(&bytes, raw_path, count_values)?;
        return Ok((bytes, body));
    };
    let path = raw_path.map(<[String]>::to_vec);
    let (bytes, body) = apart::on_a_blocking_thread(runtime, move || {
        let body = now(&bytes, path.as_deref(), count_values);
        (bytes, body)
    })
    .await
    .map_err(|e| Error::internal(e.to_string()))?;
    Ok((bytes, body?))
}

/// A response body as JSON: as sent, or with its lone surrogate escapes mended
/// ([`extract::mend_lone_surrogates`]); `None` when it is not JSON.
fn parse_body(bytes: &[u8]) -> Option<Value> {
    match extract::parse_json(bytes) {
        Ok(value) => Some(value),
        Err(_) => extract::parse_json(extract::mend_lone_surrogates(bytes)?.as_bytes()).ok(),
    }
}

/// Why a UTF-8 body that did not parse is no JSON to read records from: a number JSON allows
/// but no 64-bit float holds (`1e999`) is said to be that, with where it is, rather than "not JSON".
fn not_json(body: &[u8]) -> String {
    match serde_json::from_slice::<Value>(body) {
        Err(e) if e.to_string().starts_with("number out of range") => {
            format!("JSON holding a number too large for a 64-bit float (line {}, column {})", e.line(), e.column())
        }
        _ => "not JSON".to_string(),
    }
}

/// A response body as JSON, or as text when it is not JSON.
fn whole_body(bytes: &[u8]) -> Value {
    parse_body(bytes).unwrap_or_else(|| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// A record that passed the first parse but not a second one.
fn unreadable(e: serde_json::Error) -> Error {
    Error::internal(format!("a record could not be read again: {e}"))
}

/// A random (version 4) UUID, for idempotency keys.
fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// Whether a 2xx GraphQL answer with `errors` is a failure: no data, or nothing where the
/// record should be.
fn graphql_failed(op: &Operation, body: &Value) -> bool {
    let data = body.get("data");
    if data.is_none_or(Value::is_null) {
        return true;
    }
    match &op.record_extractor {
        Some(p) => p.query(body).all().iter().all(|v| v.is_null()),
        None => false,
    }
}

/// The delay before attempt `attempt + 1`, or `None` when the bounds say stop. A server's
/// `Retry-After` is honoured as is; otherwise exponential backoff with full jitter.
fn backoff(retry: &RetryConfig, attempt: u32, started: Instant, retry_after: Option<f64>) -> Option<Duration> {
    if attempt >= retry.max_attempts {
        return None;
    }
    let delay = match retry_after {
        Some(secs) => Duration::from_secs_f64(secs.min(3600.0)),
        None => {
            let cap = retry.initial_delay_ms.saturating_mul(1u64 << (attempt - 1).min(20)).min(retry.max_delay_ms);
            Duration::from_millis(rand::thread_rng().gen_range(0..=cap))
        }
    };
    let budget = Duration::from_millis(retry.max_elapsed_ms);
    (started.elapsed() + delay <= budget).then_some(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GitLab's refreshes go to the instance `api_url` names (gitlab.com by default), never to
    /// gitlab.com with a self-managed instance's client secret and refresh token.
    #[test]
    fn a_token_url_on_the_tenants_host_follows_its_config() -> Result<()> {
        let gitlab = crate::Registry::builtin()?.get("gitlab")?;
        let scheme = gitlab
            .auth_schemes
            .iter()
            .find(|s| matches!(s.kind, AuthKind::OAuth2(_)))
            .ok_or_else(|| Error::configuration("gitlab has no OAuth scheme"))?;
        let config = |v: Value| v.as_object().cloned().unwrap_or_default();
        let own = Connector::token_url(&gitlab, &config(serde_json::json!({"api_url": "gitlab.example.com"})), scheme);
        assert_eq!(own.as_deref(), Some("https://gitlab.example.com/oauth/token"));
        let default = Connector::token_url(&gitlab, &Map::new(), scheme);
        assert_eq!(default.as_deref(), Some("https://gitlab.com/oauth/token"));
        let consent = gitlab.fill_server_variables("https://{api_url}/oauth/authorize?x={nope}", &Map::new());
        assert_eq!(consent, "https://gitlab.com/oauth/authorize?x={nope}", "an unknown variable stays");
        Ok(())
    }

    #[test]
    fn egress_patterns() {
        let allowed = vec!["api.github.com".to_string(), "*.atlassian.net".to_string()];
        assert!(host_allowed(&allowed, "API.github.com"));
        assert!(host_allowed(&allowed, "acme.atlassian.net"));
        assert!(!host_allowed(&allowed, "atlassian.net"));
        assert!(!host_allowed(&allowed, "evilatlassian.net"));
        assert!(!host_allowed(&allowed, "api.github.com.evil.io"));
        assert!(egress_check(Some(&allowed), "https://x.atlassian.net/rest").is_ok());
        assert_eq!(
            egress_check(Some(&allowed), "http://169.254.169.254/").err().map(|e| e.code),
            Some(ErrorCode::Forbidden)
        );
        assert!(egress_check(None, "http://anything/").is_ok());
    }

    /// The origins that skip the URL parse are the ones whose host their text decides.
    #[test]
    fn plain_origins() {
        for (url, origin) in [
            ("https://api.github.com/graphql", Some("https://api.github.com")),
            ("https://api.github.com", Some("https://api.github.com")),
            ("http://127.0.0.1:8080?x=1", Some("http://127.0.0.1:8080")),
            ("https://Api.GitHub.com#f", Some("https://Api.GitHub.com")),
            ("https://api.github.com@evil.io/", None),
            ("https://user:pw@api.github.com/", None),
            ("https://api.github.com\\@evil.io/", None),
            ("https://api.github.com\n.evil.io/", None),
            ("https://api.github.com\t/", None),
            ("https://api.github%2Ecom/", None),
            ("https://[::1]:80/", None),
            ("https:///x", None),
            ("HTTPS://api.github.com/", None),
            (" https://api.github.com/", None),
            ("ftp://api.github.com/", None),
        ] {
            assert_eq!(plain_origin(url), origin, "{url:?}");
        }
    }

    /// Whenever two URLs share a plain origin, the URL parser gives them the same host (or
    /// refuses both): the memo may answer for one what the parse said of the other. URLs made
    /// of an allowed host, a tail of characters the parser treats specially, and a rest.
    #[test]
    fn a_plain_origin_decides_the_host() {
        let heads =
            ["https://api.github.com", "http://127.0.0.1:8080", "https://a.b-c.io:443", "https://x", "https://1.2.3"];
        let pieces = [
            "",
            "/",
            "?",
            "#",
            "@",
            "\\",
            ":",
            ".",
            "%2E",
            "\n",
            "\t",
            " ",
            "[",
            "]",
            "evil.io",
            "a",
            "0",
            "/@evil.io",
            ":99",
        ];
        let mut seen: std::collections::HashMap<String, Option<String>> = std::collections::HashMap::new();
        let mut checked = 0;
        for head in heads {
            for a in pieces {
                for b in pieces {
                    for c in ["", "/path", "?q=1"] {
                        let url = format!("{head}{a}{b}{c}");
                        let Some(origin) = plain_origin(&url) else { continue };
                        let host = host_of(&url);
                        match seen.get(origin) {
                            Some(first) => assert_eq!(first, &host, "{url:?} against the first URL of {origin:?}"),
                            None => {
                                seen.insert(origin.to_string(), host);
                            }
                        }
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 1_000 && seen.len() > 20, "{checked} URLs, {} origins", seen.len());
    }

    /// The memo allows again only the exact origin the rules allowed; a URL that merely starts
    /// like it is parsed and refused.
    #[test]
    fn the_egress_memo_allows_only_its_origin() {
        let allowed = vec!["api.github.com".to_string()];
        let memo = Mutex::new(None);
        let check = |url: &str| egress_check_memo(&memo, Some(&allowed), url).err().map(|e| e.code);
        assert_eq!(check("https://api.github.com/graphql"), None);
        assert_eq!(memo.lock().ok().and_then(|m| m.clone()).as_deref(), Some("https://api.github.com"));
        assert_eq!(check("https://api.github.com/repos/o/r/issues?page=2"), None);
        // A backslash ends the host of an http(s) URL, as a slash does: this one goes to GitHub.
        assert_eq!(check("https://api.github.com\\@evil.io/"), None);
        for refused in [
            "https://api.github.com@evil.io/",
            "https://api.github.com.evil.io/",
            "https://evil.io\\@api.github.com/",
            "https://api.github.com\n.evil.io/",
            "http://169.254.169.254/",
        ] {
            assert_eq!(check(refused), Some(ErrorCode::Forbidden), "{refused:?}");
        }
        assert_eq!(memo.lock().ok().and_then(|m| m.clone()).as_deref(), Some("https://api.github.com"));
        assert_eq!(egress_check_memo(&memo, None, "http://anything/").err().map(|e| e.code), None);
    }

    #[test]
    fn backoff_is_bounded() {
        let r = RetryConfig { max_attempts: 3, initial_delay_ms: 100, max_delay_ms: 150, max_elapsed_ms: 10_000 };
        let now = Instant::now();
        for attempt in 1..3 {
            let d = backoff(&r, attempt, now, None).unwrap_or(Duration::MAX);
            assert!(d <= Duration::from_millis(150));
        }
        assert_eq!(backoff(&r, 3, now, None), None);
        assert_eq!(backoff(&r, 1, now, Some(2.0)), Some(Duration::from_secs(2)));
        assert_eq!(backoff(&r, 1, now, Some(60.0)), None, "a Retry-After past the budget stops retrying");
    }
}
