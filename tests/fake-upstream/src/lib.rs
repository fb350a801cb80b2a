//! Fake third-party APIs for Switchboard's tests.
//!
//! One axum server plays GitHub, Stripe, HubSpot, Gong and Linear on one port, each under its own
//! path prefix (`/github`, `/stripe`, `/hubspot`, `/gong`, `/linear`): a connector under test is
//! pointed at it with `config.base_url = "http://127.0.0.1:PORT/<prefix>"`. Each API checks auth
//! the way the real one does and answers with its own error bodies, pages the way it pages, and
//! runs an OAuth token endpoint that rotates refresh tokens where the real one offers OAuth.
//! Every other connector in `connectors/` is played by the data-driven [`generic`] fake under
//! `/<slug>` (and every connector, hand-written ones included, under `/_generic/<slug>`), built
//! from its spec; its conventions are in `tests/cases/README.md`.
//!
//! Control endpoints under `/_control` let a test (in any language) see what was sent and
//! inject failures:
//! - `GET /_control/requests` lists every request received (method, path, query, headers, body);
//!   `DELETE /_control/requests` clears the list.
//! - `POST /_control/faults` `{"prefix": "stripe", "status": 429, "retry_after": "1",
//!   "count": 2}` makes the next `count` requests under `/stripe` fail (`count: -1`: forever).
//!   `"skip": N` lets the first N matching requests through first. `"echo": true` makes the
//!   failure echo the whole request back, the way careless providers do: every message field of
//!   the API's error body, a `requestId`/`request_id`/`correlationId`/`error_description`, and
//!   the `x-request-id`, `request-id`, `x-github-request-id` and `x-hubspot-correlation-id`
//!   headers carry the method, path, query, every header (credentials included) and the body.
//! - `POST /_control/oauth` `{"api": "hubspot", "expires_in": 1800, "rotate": true,
//!   "include_refresh_token": true, "grace_secs": 0}` changes how that API's token endpoint
//!   answers (`grace_secs`: how long a rotated-away refresh token stays usable, as Okta's grace
//!   period and Auth0's reuse interval allow; 0, the default: strictly single use);
//!   `GET /_control/oauth/{api}` returns `{"refresh_calls": N, "refresh_token": "..."}`.
//! - `POST /_control/reset` restores the initial data, tokens and settings.
//!
//! [`holding::Holding`] is a separate server that holds every request until released, for tests
//! of a client's concurrency limits.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub mod generic;
pub mod github;
pub mod gong;
pub mod graphql;
pub mod holding;
pub mod hubspot;
pub mod leaks;
pub mod linear;
pub mod sample;
pub mod stripe;

/// The credentials each fake accepts. Tests use these constants; anything else is rejected the
/// way the real API rejects a bad credential.
pub mod creds {
    /// GitHub personal access token.
    pub const GITHUB_TOKEN: &str = "ghp_fake_valid_token_0001";
    /// Stripe secret key.
    pub const STRIPE_KEY: &str = "sk_test_fake_valid_0001";
    /// HubSpot private app token.
    pub const HUBSPOT_PRIVATE_APP: &str = "pat-na1-fake-valid-0001";
    /// Gong access key and secret (HTTP basic).
    pub const GONG_ACCESS_KEY: &str = "gong-access-key-0001";
    pub const GONG_ACCESS_SECRET: &str = "gong-access-secret-0001";
    /// Linear personal API key (sent raw in `Authorization`).
    pub const LINEAR_API_KEY: &str = "lin_api_fake_valid_0001";
    /// OAuth client of every OAuth fake.
    pub const OAUTH_CLIENT_ID: &str = "fake-client-id";
    pub const OAUTH_CLIENT_SECRET: &str = "fake-client-secret";
    /// The refresh token every OAuth fake starts with (after a reset).
    pub const OAUTH_INITIAL_REFRESH_TOKEN: &str = "rt-initial-0001";
    /// An access token every OAuth fake rejects as expired.
    pub const OAUTH_EXPIRED_ACCESS_TOKEN: &str = "at-expired-0000";
}

/// One request as the fake received it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub method: String,
    /// The full path, prefix included (e.g. `/stripe/v1/customers`).
    pub path: String,
    /// The raw query string, without `?` (empty when none).
    pub query_string: String,
    /// Query pairs, decoded, in order.
    pub query: Vec<(String, String)>,
    /// Headers, names lower-cased.
    pub headers: BTreeMap<String, String>,
    /// The raw body as text.
    pub body: String,
    /// The body parsed: JSON as is, a form as an array of `[key, value]` pairs, else null.
    pub body_parsed: Value,
}

/// A failure to inject.
#[derive(Debug, Clone, Deserialize)]
pub struct Fault {
    /// Path prefix without slash (`stripe`), or empty for every API.
    #[serde(default)]
    pub prefix: String,
    pub status: u16,
    /// Sent as `Retry-After` when present.
    #[serde(default)]
    pub retry_after: Option<String>,
    /// How many matching requests fail; -1 for all.
    #[serde(default = "one")]
    pub count: i64,
    /// Body to answer with; the API's own error body when absent.
    #[serde(default)]
    pub body: Option<Value>,
    /// Delay before answering, to provoke client timeouts.
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// Matching requests to let through before failing.
    #[serde(default)]
    pub skip: u64,
    /// Echo the whole request (headers, query, body) in the error body and request-id headers.
    #[serde(default)]
    pub echo: bool,
    /// How the echo is written: as sent (absent), or `"html"` (HTML-escaped, as an HTML error
    /// page shows it).
    #[serde(default)]
    pub echo_as: Option<String>,
}

impl Fault {
    /// A fault that echoes the next request under `prefix` back in a `status` answer.
    pub fn echo(prefix: &str, status: u16) -> Self {
        Self {
            prefix: prefix.to_string(),
            status,
            retry_after: None,
            count: 1,
            body: None,
            delay_ms: None,
            skip: 0,
            echo: true,
            echo_as: None,
        }
    }
}

fn one() -> i64 {
    1
}

/// Per-API OAuth state of a token endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct OAuthState {
    pub refresh_token: String,
    pub used_refresh_tokens: HashSet<String>,
    /// Valid access tokens.
    pub access_tokens: HashSet<String>,
    pub refresh_calls: u64,
    pub expires_in: u64,
    pub rotate: bool,
    pub include_refresh_token: bool,
    /// How long a rotated-away refresh token stays usable (Okta's "grace period for token
    /// rotation", Auth0's "reuse interval"): `None`, strictly single use.
    pub grace: Option<std::time::Duration>,
    /// Grants made to a rotated-away refresh token inside `grace`.
    pub grace_reuses: u64,
    /// The refresh token the last rotation retired, and when.
    #[serde(skip)]
    retired: Option<(String, std::time::Instant)>,
    counter: u64,
}

impl Default for OAuthState {
    fn default() -> Self {
        Self {
            refresh_token: creds::OAUTH_INITIAL_REFRESH_TOKEN.to_string(),
            used_refresh_tokens: HashSet::new(),
            access_tokens: HashSet::new(),
            refresh_calls: 0,
            expires_in: 1800,
            rotate: true,
            include_refresh_token: true,
            grace: None,
            grace_reuses: 0,
            retired: None,
            counter: 0,
        }
    }
}

/// Outcome of a refresh-token grant.
pub enum RefreshOutcome {
    /// The JSON to answer with.
    Granted(Value),
    /// The client credentials were wrong.
    BadClient,
    /// The refresh token is unknown or was already used.
    BadRefreshToken,
}

impl OAuthState {
    /// Runs the refresh-token grant: checks the client and the refresh token, mints an access
    /// token and, when rotating, a new refresh token (the used one stops working).
    pub fn refresh(&mut self, api: &str, client_id: &str, client_secret: &str, refresh_token: &str) -> RefreshOutcome {
        self.refresh_calls += 1;
        if client_id != creds::OAUTH_CLIENT_ID || client_secret != creds::OAUTH_CLIENT_SECRET {
            return RefreshOutcome::BadClient;
        }
        let current = refresh_token == self.refresh_token && !self.used_refresh_tokens.contains(refresh_token);
        let in_grace = self
            .grace
            .is_some_and(|g| self.retired.as_ref().is_some_and(|(t, at)| t == refresh_token && at.elapsed() < g));
        if !current && !in_grace {
            return RefreshOutcome::BadRefreshToken;
        }
        if in_grace {
            // The client never got (or never kept) the token that replaced this one: it is
            // retired in turn, and a fresh one is minted below.
            self.grace_reuses += 1;
        }
        self.counter += 1;
        let access = format!("at-{api}-{:04}", self.counter);
        self.access_tokens.insert(access.clone());
        let mut answer = json!({
            "access_token": access,
            "token_type": "bearer",
            "expires_in": self.expires_in,
        });
        if self.rotate {
            self.used_refresh_tokens.insert(self.refresh_token.clone());
            if current {
                self.retired = Some((refresh_token.to_string(), std::time::Instant::now()));
            }
            self.refresh_token = format!("rt-{api}-{:04}", self.counter);
        }
        if self.include_refresh_token {
            answer["refresh_token"] = json!(self.refresh_token);
        }
        RefreshOutcome::Granted(answer)
    }

    /// Whether `token` is a live access token minted by this endpoint.
    pub fn access_valid(&self, token: &str) -> bool {
        self.access_tokens.contains(token)
    }
}

/// Everything the fake holds.
pub struct FakeState {
    pub requests: Mutex<Vec<RecordedRequest>>,
    pub faults: Mutex<Vec<Fault>>,
    pub oauth: Mutex<HashMap<String, OAuthState>>,
    pub github: Mutex<github::Data>,
    pub stripe: Mutex<stripe::Data>,
    pub hubspot: Mutex<hubspot::Data>,
    pub gong: Mutex<gong::Data>,
    pub linear: Mutex<linear::Data>,
}

/// Shared handle passed to every handler.
pub type Shared = Arc<FakeState>;

/// Locks a mutex, recovering from poisoning (a panicked test handler must not wedge the fake).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FakeState {
    /// Fresh state with each API's seeded data.
    pub fn new() -> Self {
        Self {
            requests: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            oauth: Mutex::new(HashMap::new()),
            github: Mutex::new(github::Data::seed()),
            stripe: Mutex::new(stripe::Data::seed()),
            hubspot: Mutex::new(hubspot::Data::seed()),
            gong: Mutex::new(gong::Data::seed()),
            linear: Mutex::new(linear::Data::seed()),
        }
    }

    fn reset(&self) {
        lock(&self.requests).clear();
        lock(&self.faults).clear();
        lock(&self.oauth).clear();
        *lock(&self.github) = github::Data::seed();
        *lock(&self.stripe) = stripe::Data::seed();
        *lock(&self.hubspot) = hubspot::Data::seed();
        *lock(&self.gong) = gong::Data::seed();
        *lock(&self.linear) = linear::Data::seed();
    }

    /// Runs `f` on the OAuth state of `api`, creating it on first use.
    pub fn with_oauth<R>(&self, api: &str, f: impl FnOnce(&mut OAuthState) -> R) -> R {
        let mut map = lock(&self.oauth);
        f(map.entry(api.to_string()).or_default())
    }

    /// Whether `token` is a live OAuth access token of `api`.
    pub fn oauth_access_valid(&self, api: &str, token: &str) -> bool {
        self.with_oauth(api, |o| o.access_valid(token))
    }

    /// Requests received so far.
    pub fn recorded(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).clone()
    }
}

impl Default for FakeState {
    fn default() -> Self {
        Self::new()
    }
}

/// The whole fake as a router.
pub fn app(state: Shared) -> Router {
    Router::new()
        .nest("/github", github::routes())
        .nest("/stripe", stripe::routes().layer(middleware::from_fn_with_state(state.clone(), stripe::idempotency)))
        .nest("/hubspot", hubspot::routes())
        .nest("/gong", gong::routes())
        .nest("/linear", linear::routes())
        // Every other connector in `connectors/` (and every one under `/_generic/<slug>`).
        .fallback(generic::serve)
        .layer(middleware::from_fn_with_state(state.clone(), record_and_fault))
        .route("/_control/requests", get(list_requests).delete(clear_requests))
        .route("/_control/faults", post(add_fault).delete(clear_faults))
        .route("/_control/oauth", post(set_oauth))
        .route("/_control/oauth/{api}", get(get_oauth))
        .route("/_control/reset", post(reset))
        .with_state(state)
}

/// A running fake.
pub struct FakeUpstream {
    pub addr: SocketAddr,
    pub state: Shared,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl FakeUpstream {
    /// Starts the fake on `127.0.0.1` and an ephemeral port.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0").await
    }

    /// Starts the fake on the given address.
    pub async fn start_on(addr: &str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state: Shared = Arc::new(FakeState::new());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let router = app(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Self { addr, state, shutdown: Some(tx) })
    }

    /// `http://127.0.0.1:PORT/<prefix>`: the base URL to give a connector.
    pub fn base_url(&self, prefix: &str) -> String {
        format!("http://{}/{prefix}", self.addr)
    }

    /// Config pointing a connector, and its OAuth token endpoint under `scheme`, at this fake.
    /// The hand-written fakes serve the token path of the real URL; the generic fake serves
    /// every connector's at `/<slug>/_oauth/token` (the real one may be on another host, such
    /// as Atlassian's).
    pub fn connector_config(
        &self,
        spec: &switchboard_core::spec::ConnectorSpec,
        scheme: &switchboard_core::spec::AuthScheme,
    ) -> serde_json::Value {
        let base = self.base_url(&spec.slug);
        let mut config = serde_json::json!({"base_url": base});
        if let switchboard_core::spec::AuthKind::OAuth2(cfg) = &scheme.kind {
            let real = cfg.token_url.as_deref().and_then(|u| url::Url::parse(u).ok()).map(|u| u.path().to_string());
            if let Some(path) = real {
                let path = if generic::HAND_WRITTEN.contains(&spec.slug.as_str()) {
                    path
                } else {
                    "/_oauth/token".to_string()
                };
                config["token_url"] = serde_json::json!(format!("{base}{path}"));
            }
        }
        config
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.recorded()
    }

    /// Requests received so far under one API prefix.
    pub fn requests_for(&self, prefix: &str) -> Vec<RecordedRequest> {
        let p = format!("/{prefix}/");
        self.requests().into_iter().filter(|r| r.path.starts_with(&p)).collect()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        lock(&self.state.requests).clear();
    }

    /// Queues a fault.
    pub fn add_fault(&self, fault: Fault) {
        lock(&self.state.faults).push(fault);
    }

    /// Restores the initial state.
    pub fn reset(&self) {
        self.state.reset();
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn parse_pairs(s: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(s.as_bytes()).into_owned().collect()
}

async fn record_and_fault(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, 16 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response(),
    };
    let body_text = String::from_utf8_lossy(&bytes).to_string();
    let content_type = parts.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let body_parsed = if generic::is_json_media_type(&content_type) {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        json!(parse_pairs(&body_text))
    } else {
        Value::Null
    };
    let query_string = parts.uri.query().unwrap_or("").to_string();
    let path = parts.uri.path().to_string();
    let recorded = RecordedRequest {
        method: parts.method.to_string(),
        path: path.clone(),
        query: parse_pairs(&query_string),
        query_string,
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).to_string()))
            .collect(),
        body: body_text,
        body_parsed,
    };
    lock(&state.requests).push(recorded.clone());

    let fault = {
        let mut faults = lock(&state.faults);
        let idx = faults.iter().position(|f| f.prefix.is_empty() || path.starts_with(&format!("/{}/", f.prefix)));
        idx.and_then(|i| {
            if faults[i].skip > 0 {
                faults[i].skip -= 1;
                return None;
            }
            let f = faults[i].clone();
            if faults[i].count > 0 {
                faults[i].count -= 1;
                if faults[i].count == 0 {
                    faults.remove(i);
                }
            }
            Some(f)
        })
    };
    if let Some(f) = fault {
        if let Some(ms) = f.delay_ms {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut segments = path.trim_start_matches('/').split('/');
        let api = match segments.next().unwrap_or("") {
            generic::PREFIX => segments.next().unwrap_or(""),
            first => first,
        };
        if f.echo {
            return echo_response(api, status, &recorded, f.echo_as.as_deref());
        }
        let body = f.body.unwrap_or_else(|| error_body(api, status));
        let mut resp = (status, Json(body)).into_response();
        if let Some(ra) = f.retry_after {
            if let Ok(v) = HeaderValue::from_str(&ra) {
                resp.headers_mut().insert("retry-after", v);
            }
        }
        return resp;
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// The request as text on one line: method, path and query, the body, then every header.
fn echo_text(req: &RecordedRequest) -> String {
    let mut out = format!("{} {}", req.method, req.path);
    if !req.query_string.is_empty() {
        out.push('?');
        out.push_str(&req.query_string);
    }
    // Headers (where credentials travel) before the body, so a client that keeps only the
    // start of a long message still sees them.
    for (k, v) in &req.headers {
        out.push_str(&format!(" | {k}: {v}"));
    }
    if !req.body.is_empty() {
        out.push_str(" body: ");
        out.push_str(&req.body);
    }
    out
}

/// `text` as a header value: control characters (and DEL) written as `\uXXXX`.
fn header_value(text: &str) -> Option<HeaderValue> {
    let mut safe = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            safe.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            safe.push(c);
        }
    }
    HeaderValue::from_bytes(safe.as_bytes()).ok()
}

/// Replaces every string leaf of `v` equal to `from` with `to`.
fn replace_strings(v: &mut Value, from: &str, to: &str) {
    match v {
        Value::String(s) if s == from => *s = to.to_string(),
        Value::Array(items) => items.iter_mut().for_each(|x| replace_strings(x, from, to)),
        Value::Object(m) => m.values_mut().for_each(|x| replace_strings(x, from, to)),
        _ => {}
    }
}

/// An error answer echoing `req` everywhere a client may copy text from: the API's own error
/// body with its message replaced by the request, the usual request-id and description fields,
/// the request as JSON under `echo`, and the request in the request-id headers.
fn echo_response(api: &str, status: StatusCode, req: &RecordedRequest, echo_as: Option<&str>) -> Response {
    let written = |text: String| match echo_as {
        Some("html") => leaks::html_escaped(&text),
        _ => text,
    };
    let text = written(echo_text(req));
    let dump = json!({
        "method": req.method,
        "path": req.path,
        "query_string": req.query_string,
        "query": req.query,
        "headers": req.headers,
        "body": req.body,
    });
    let dump_json = written(dump.to_string());
    let mut body = error_body(api, status);
    replace_strings(&mut body, status.canonical_reason().unwrap_or("Error"), &text);
    if let Some(m) = body.as_object_mut() {
        for key in ["requestId", "request_id", "correlationId"] {
            m.insert(key.into(), json!(dump_json));
        }
        for key in ["error_description", "detail", "title"] {
            m.insert(key.into(), json!(text));
        }
        m.insert("echo".into(), if echo_as.is_some() { json!(dump_json) } else { dump });
    }
    let mut resp = (status, Json(body)).into_response();
    let headers = resp.headers_mut();
    for (name, value) in [
        ("x-request-id", &dump_json),
        ("request-id", &text),
        ("x-github-request-id", &dump_json),
        ("x-hubspot-correlation-id", &text),
    ] {
        if let Some(v) = header_value(value) {
            headers.insert(name, v);
        }
    }
    resp
}

/// The error body each API sends for a status, in that API's own shape.
pub fn error_body(api: &str, status: StatusCode) -> Value {
    let msg = status.canonical_reason().unwrap_or("Error");
    match api {
        "github" => json!({"message": msg, "documentation_url": "https://docs.github.com/rest"}),
        "stripe" => {
            json!({"error": {"type": if status == StatusCode::TOO_MANY_REQUESTS {"rate_limit_error"} else {"api_error"}, "message": msg}})
        }
        "hubspot" => {
            json!({"status": "error", "message": msg, "correlationId": "00000000-0000-0000-0000-000000000000", "category": if status == StatusCode::TOO_MANY_REQUESTS {"RATE_LIMITS"} else {"INTERNAL_ERROR"}})
        }
        "gong" => json!({"requestId": "fake-request-id", "errors": [msg]}),
        "linear" => {
            json!({"errors": [{"message": msg, "extensions": {"code": if status == StatusCode::TOO_MANY_REQUESTS {"RATELIMITED"} else {"INTERNAL_SERVER_ERROR"}}}]})
        }
        _ => generic::error_body(api, status).unwrap_or_else(|| json!({"message": msg})),
    }
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
}

/// The `(user, password)` of a Basic `Authorization` header, if any.
pub fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine;
    let v = headers.get("authorization")?.to_str().ok()?;
    let (scheme, b64) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// Parses a form body (`application/x-www-form-urlencoded`) into pairs.
pub fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// Handles a refresh-token grant for `api` from a form or JSON body, with client credentials
/// in the body or in a Basic header, answering the way most OAuth servers do
/// (`{"error": "invalid_grant"}` with 400 for a bad refresh token, `invalid_client` with 401).
pub fn token_endpoint(state: &FakeState, api: &str, headers: &HeaderMap, query: &str, body: &[u8]) -> Response {
    let mut fields: HashMap<String, String> = parse_pairs(query).into_iter().collect();
    let is_json =
        headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(body) {
            for (k, v) in m {
                if let Some(s) = v.as_str() {
                    fields.insert(k, s.to_string());
                }
            }
        }
    } else {
        fields.extend(form_pairs(body));
    }
    if let Some((u, p)) = basic(headers) {
        fields.insert("client_id".into(), u);
        fields.insert("client_secret".into(), p);
    }
    if fields.get("grant_type").map(String::as_str) != Some("refresh_token") {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "unsupported_grant_type"}))).into_response();
    }
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let outcome =
        state.with_oauth(api, |o| o.refresh(api, &get("client_id"), &get("client_secret"), &get("refresh_token")));
    match outcome {
        RefreshOutcome::Granted(v) => (StatusCode::OK, Json(v)).into_response(),
        RefreshOutcome::BadClient => (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client", "error_description": "client authentication failed"})),
        )
            .into_response(),
        RefreshOutcome::BadRefreshToken => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant", "error_description": "refresh token is invalid, expired or already used"})),
        )
            .into_response(),
    }
}

async fn list_requests(State(state): State<Shared>) -> Json<Vec<RecordedRequest>> {
    Json(state.recorded())
}

async fn clear_requests(State(state): State<Shared>) -> StatusCode {
    lock(&state.requests).clear();
    StatusCode::NO_CONTENT
}

async fn add_fault(State(state): State<Shared>, Json(f): Json<Fault>) -> StatusCode {
    lock(&state.faults).push(f);
    StatusCode::NO_CONTENT
}

async fn clear_faults(State(state): State<Shared>) -> StatusCode {
    lock(&state.faults).clear();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct OAuthSettings {
    api: String,
    expires_in: Option<u64>,
    rotate: Option<bool>,
    include_refresh_token: Option<bool>,
    /// Seconds a rotated-away refresh token stays usable; 0: strictly single use.
    grace_secs: Option<u64>,
}

async fn set_oauth(State(state): State<Shared>, Json(s): Json<OAuthSettings>) -> StatusCode {
    state.with_oauth(&s.api, |o| {
        if let Some(v) = s.expires_in {
            o.expires_in = v;
        }
        if let Some(v) = s.rotate {
            o.rotate = v;
        }
        if let Some(v) = s.include_refresh_token {
            o.include_refresh_token = v;
        }
        if let Some(v) = s.grace_secs {
            o.grace = (v > 0).then(|| std::time::Duration::from_secs(v));
        }
    });
    StatusCode::NO_CONTENT
}

async fn get_oauth(State(state): State<Shared>, Path(api): Path<String>) -> Json<Value> {
    Json(state.with_oauth(&api, |o| json!({"refresh_calls": o.refresh_calls, "refresh_token": o.refresh_token})))
}

async fn reset(State(state): State<Shared>) -> StatusCode {
    state.reset();
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Sends one raw HTTP/1.1 request and returns the status line, headers and body.
    async fn send(fake: &FakeUpstream, head: &str, body: &str) -> (String, Vec<(String, String)>, Value) {
        let mut s = tokio::net::TcpStream::connect(fake.addr).await.unwrap_or_else(|e| panic!("{e}"));
        let req = format!(
            "{head}\r\nhost: {}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
            fake.addr,
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap_or_else(|e| panic!("{e}"));
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines.next().unwrap_or_default().to_string();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        (status, headers, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    #[tokio::test]
    async fn an_echo_fault_answers_with_the_whole_request() {
        let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
        let mut fault = Fault::echo("hubspot", 400);
        fault.skip = 1;
        fake.add_fault(fault);
        let head = "POST /hubspot/oauth/v1/token?x=q%2Bv HTTP/1.1\r\nauthorization: Basic dXNlcjpwYXNz\r\n\
                    content-type: application/x-www-form-urlencoded";
        let body = "grant_type=refresh_token&refresh_token=rt%2Bsecret%26";
        // The first matching request is let through: the token endpoint answers it itself.
        let (first, _, answer) = send(&fake, head, body).await;
        assert!(first.contains(" 400 ") || first.contains(" 401 "), "{first}");
        assert_eq!(answer["error"], "invalid_client", "{answer}");
        // The second is echoed: message fields, ids, the JSON dump and the headers.
        let (status, headers, answer) = send(&fake, head, body).await;
        assert!(status.contains(" 400 "), "{status}");
        for key in ["message", "error_description", "detail"] {
            let m = answer[key].as_str().unwrap_or_default();
            assert!(
                m.contains("authorization: Basic dXNlcjpwYXNz") && m.contains("refresh_token=rt%2Bsecret%26"),
                "{m}"
            );
            assert!(m.contains("/hubspot/oauth/v1/token?x=q%2Bv"), "{m}");
        }
        for key in ["requestId", "request_id", "correlationId"] {
            let dump: Value = serde_json::from_str(answer[key].as_str().unwrap_or_default()).unwrap_or_default();
            assert_eq!(dump["headers"]["authorization"], "Basic dXNlcjpwYXNz", "{key}");
            assert_eq!(dump["body"], body);
        }
        assert_eq!(answer["echo"]["query"], json!([["x", "q+v"]]));
        let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
        for name in ["x-request-id", "request-id", "x-github-request-id", "x-hubspot-correlation-id"] {
            assert!(header(name).contains("dXNlcjpwYXNz"), "{name}: {}", header(name));
        }
        // One echo only (count 1): the next request is the API's own again.
        let (_, _, answer) = send(&fake, head, body).await;
        assert!(answer.get("echo").is_none(), "{answer}");
    }
}
