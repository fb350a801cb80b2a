//! Credentials and auth schemes: picking the scheme a credential set fits, putting it on the
//! wire, and the OAuth2 refresh-token, client-credentials and JWT-bearer (service account)
//! grants, with single-flight refresh and rotation.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, ErrorCode, Result};
use crate::http::{HttpClient, HttpRequest};
use crate::redact::Secrets;
use crate::spec::{template_fields, AuthKind, AuthScheme, ConnectorSpec, OAuth2Config};
use crate::upstream::{self, Peer};

/// Seconds before expiry at which an access token is already treated as expired.
const EXPIRY_SKEW_SECS: i64 = 30;

/// How many tokens from refreshes a handle keeps redacting besides its credentials: the live
/// ones and a few before them (an upstream may still echo a token it just replaced), bounded so
/// a handle that refreshes for months does not grow without end.
const LEARNED_TOKENS: usize = 8;

/// What a refresh produced, handed to the [`TokenSink`] before the new access token is used.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenUpdate {
    pub access_token: String,
    /// The refresh token now in force (the rotated one, or the old one when none came back).
    pub refresh_token: Option<String>,
    /// Unix seconds at which the access token expires, when the server said.
    pub expires_at: Option<i64>,
    /// Values named by `x-token-extract` (e.g. `instance_url`).
    pub extracted: BTreeMap<String, String>,
}

/// Without the tokens: a `{:?}` in a log line or a panic message never prints them.
impl std::fmt::Debug for TokenUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenUpdate")
            .field("expires_at", &self.expires_at)
            .field("extracted", &self.extracted.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// What a [`TokenSink`] says before a refresh.
#[derive(Debug, Clone, PartialEq)]
pub enum RefreshStart {
    /// Go ahead and run the refresh-token grant.
    Proceed,
    /// Another process already refreshed: use these tokens instead of refreshing again.
    UseStored(TokenUpdate),
}

/// Receives refreshed tokens: the `on_token_refresh` callback in local mode, the credential
/// store in the engine. A failure aborts the call: a rotated refresh token that could not be
/// saved must not be silently lost.
///
/// Within one process the runtime already runs one refresh at a time per handle. A sink shared
/// by several processes (the engine on PostgreSQL) also takes a lock in [`begin_refresh`] and
/// releases it in [`end_refresh`], and may answer [`RefreshStart::UseStored`] when another
/// process refreshed while it waited.
///
/// [`begin_refresh`]: TokenSink::begin_refresh
/// [`end_refresh`]: TokenSink::end_refresh
pub trait TokenSink: Send + Sync {
    /// Called before a token grant; `spends_refresh_token` when it is a refresh-token grant
    /// (whose answer may be the only copy of a rotated refresh token), not a client-credentials
    /// or JWT-bearer one.
    fn begin_refresh(&self, _spends_refresh_token: bool) -> BoxFuture<'_, Result<RefreshStart>> {
        Box::pin(async { Ok(RefreshStart::Proceed) })
    }

    /// Called once per refresh, before the new access token is used.
    fn token_refreshed(&self, update: TokenUpdate) -> BoxFuture<'_, Result<()>>;

    /// Called after a refresh attempt, whatever its outcome, when `begin_refresh` succeeded.
    fn end_refresh(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    /// Called instead of [`end_refresh`](TokenSink::end_refresh) when the call refreshing was
    /// dropped between the two (its caller went away, or timed out): not awaited, so what it
    /// must do asynchronously (release a lock) it spawns.
    fn abandon_refresh(&self) {}
}

/// Calls [`TokenSink::abandon_refresh`] when dropped before [`Abandoned::disarm`]: a refresh
/// future dropped between `begin_refresh` and the end of `end_refresh`.
struct Abandoned<'a>(Option<&'a dyn TokenSink>);

impl Abandoned<'_> {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for Abandoned<'_> {
    fn drop(&mut self) {
        if let Some(sink) = self.0 {
            sink.abandon_refresh();
        }
    }
}

/// Picks the auth scheme `creds` fits: among the schemes whose required fields are all given,
/// the one matching the most given fields; ties go to document order.
pub fn select_scheme<'s>(spec: &'s ConnectorSpec, creds: &Map<String, Value>) -> Result<&'s AuthScheme> {
    let given = |k: &str| creds.get(k).is_some_and(|v| !v.is_null() && v.as_str() != Some(""));
    let mut best: Option<(&AuthScheme, usize)> = None;
    for s in &spec.auth_schemes {
        if !s.required_fields().iter().all(|f| given(f)) {
            continue;
        }
        let matched = s.fields.iter().filter(|f| given(&f.name)).count();
        if matched == 0 {
            continue;
        }
        if best.is_none_or(|(_, m)| matched > m) {
            best = Some((s, matched));
        }
    }
    if let Some((s, _)) = best {
        return Ok(s);
    }
    if spec.auth_schemes.is_empty() {
        return Err(Error::configuration(format!("connector {} declares no auth scheme", spec.slug)));
    }
    let options: Vec<String> = spec
        .auth_schemes
        .iter()
        .map(|s| {
            let names: Vec<&str> = s.fields.iter().map(|f| f.name.as_str()).collect();
            let req = s.required_fields();
            if req.is_empty() {
                format!("{} ({})", s.title, names.join(", "))
            } else {
                format!("{} (required: {})", s.title, req.join(", "))
            }
        })
        .collect();
    let mut keys: Vec<&str> = creds.keys().map(String::as_str).collect();
    keys.sort_unstable();
    Err(Error::configuration(format!(
        "the credentials given for {} (fields: {}) fit none of its auth methods: {}",
        spec.slug,
        if keys.is_empty() { "none".to_string() } else { keys.join(", ") },
        options.join("; ")
    ))
    .with_details(serde_json::json!({"given_fields": keys})))
}

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The longest token lifetime believed: ten years (a larger `expires_in` is taken as this).
const MAX_EXPIRES_IN_SECS: i64 = 10 * 365 * 24 * 3600;

/// When a token answer's `expires_in` (seconds, a number or its text) ends, in Unix seconds,
/// from `now`: `None` when it gives none, or a negative one (the token is then used until the
/// API refuses it). A token endpoint's number is never trusted to fit: a lifetime past ten years
/// is ten years.
pub fn expiry(expires_in: Option<&Value>, now: i64) -> Option<i64> {
    let number = |v: &Value| v.as_i64().or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64));
    let secs = expires_in.and_then(|v| number(v).or_else(|| number(&v.as_str()?.trim().parse::<Value>().ok()?)))?;
    (secs >= 0).then(|| now.saturating_add(secs.min(MAX_EXPIRES_IN_SECS)))
}

#[derive(Debug, Clone, Default)]
struct Tokens {
    access_token: Option<String>,
    refresh_token: Option<String>,
    expires_at: Option<i64>,
    generation: u64,
    extracted: BTreeMap<String, String>,
}

/// Auth headers and query pairs for one request, with the token generation they came from.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub generation: u64,
}

/// The auth state of one connector handle.
pub struct Auth {
    scheme: AuthScheme,
    creds: Map<String, Value>,
    tokens: RwLock<Tokens>,
    refresh_lock: tokio::sync::Mutex<()>,
    token_url: Option<String>,
    sink: Option<Arc<dyn TokenSink>>,
    /// Every secret this handle holds or has put on the wire, in every encoding: the
    /// credentials' secrets plus the tokens of the last [`LEARNED_TOKENS`] refreshes.
    secrets: RwLock<Arc<Secrets>>,
    /// The tokens refreshes brought, newest last.
    learned: std::sync::Mutex<std::collections::VecDeque<String>>,
    /// The service account key of a JWT-bearer scheme (see [`ServiceAccount`]), or why it is
    /// unusable when an access token was given alongside (the error then comes with the first
    /// grant, as the key is only needed then).
    service_account: Option<Result<ServiceAccount>>,
}

/// The secrets of `creds` under `scheme`: every credential value, every scheme input as its
/// mapping renders it (`${email}/token`), and the composite values the scheme sends (the
/// `user:password` of a Basic header, the `client_id:client_secret` of OAuth client auth).
fn handle_secrets(scheme: &AuthScheme, creds: &Map<String, Value>) -> Secrets {
    fn strings(v: &Value, out: &mut Secrets) {
        match v {
            Value::String(s) => {
                out.add(s);
            }
            Value::Array(items) => items.iter().for_each(|x| strings(x, out)),
            Value::Object(m) => m.values().for_each(|x| strings(x, out)),
            _ => {}
        }
    }
    let mut out = Secrets::new();
    creds.values().for_each(|v| strings(v, &mut out));
    // Inputs built from fields; a literal input (`username: "api"`) is no secret.
    for (input, template) in &scheme.mapping {
        if template_fields(template).is_empty() {
            continue;
        }
        if let Some(v) = scheme.render_input(input, creds) {
            out.add(&v);
        }
    }
    let pair = |a: &str, b: &str| -> Option<String> {
        let a = scheme.render_input(a, creds);
        let b = scheme.render_input(b, creds);
        (a.is_some() || b.is_some()).then(|| format!("{}:{}", a.unwrap_or_default(), b.unwrap_or_default()))
    };
    match &scheme.kind {
        AuthKind::Basic => out.extend(pair("username", "password")),
        AuthKind::OAuth2(_) => out.extend(pair("client_id", "client_secret")),
        AuthKind::Bearer | AuthKind::ApiKey { .. } => {}
    }
    out
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print credentials.
        f.debug_struct("Auth").field("scheme", &self.scheme.name).finish_non_exhaustive()
    }
}

impl Auth {
    /// Auth for `creds` under `scheme` (see [`select_scheme`]). `token_url` is where OAuth
    /// refreshes go.
    pub fn new(
        spec: &ConnectorSpec,
        scheme: AuthScheme,
        creds: Map<String, Value>,
        token_url: Option<String>,
        sink: Option<Arc<dyn TokenSink>>,
    ) -> Result<Self> {
        let mut tokens = Tokens::default();
        if let AuthKind::OAuth2(cfg) = &scheme.kind {
            // A current access token the caller holds (e.g. from an earlier `on_token_refresh`)
            // is used as is, even where the scheme's fields only name what a refresh needs.
            tokens.access_token = scheme.render_input("access_token", &creds).or_else(|| {
                creds.get("access_token").and_then(Value::as_str).filter(|t| !t.is_empty()).map(str::to_string)
            });
            tokens.refresh_token = scheme.render_input("refresh_token", &creds);
            tokens.expires_at = creds.get("expires_at").and_then(|v| match v {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            });
            for k in &cfg.extract {
                if let Some(v) = creds.get(k).and_then(Value::as_str) {
                    tokens.extracted.insert(k.clone(), v.to_string());
                }
            }
            if tokens.access_token.is_none()
                && tokens.refresh_token.is_none()
                && !client_grant(&scheme, &creds)
                && scheme.render_input(SERVICE_ACCOUNT_INPUT, &creds).is_none()
            {
                let or_client = if cfg.client_credentials { ", or a client_id and client_secret" } else { "" };
                return Err(Error::configuration(format!(
                    "OAuth credentials for {} need an access_token or a refresh_token{or_client}",
                    spec.slug
                )));
            }
        }
        // Server variables a credential names (`x-from-credential`: Mailchimp's data center is
        // its API key's suffix) fill the server URL like values from a token answer: after
        // config, before the variable's default.
        for (name, part) in &spec.server_variable_sources {
            if let Some(v) = part.value(&creds) {
                tokens.extracted.entry(name.clone()).or_insert(v);
            }
        }
        let service_account = match (&scheme.kind, scheme.render_input(SERVICE_ACCOUNT_INPUT, &creds)) {
            (AuthKind::OAuth2(_), Some(key)) => match ServiceAccount::parse(&key, &spec.slug) {
                Err(e) if tokens.access_token.is_none() => return Err(e),
                parsed => Some(parsed),
            },
            _ => None,
        };
        let mut secrets = handle_secrets(&scheme, &creds);
        if let Some(Ok(sa)) = &service_account {
            secrets.extend(sa.secrets.iter());
        }
        Ok(Self {
            scheme,
            creds,
            tokens: RwLock::new(tokens),
            refresh_lock: tokio::sync::Mutex::new(()),
            token_url,
            sink,
            secrets: RwLock::new(Arc::new(secrets)),
            learned: std::sync::Mutex::new(std::collections::VecDeque::new()),
            service_account,
        })
    }

    /// The selected scheme.
    pub fn scheme(&self) -> &AuthScheme {
        &self.scheme
    }

    /// Values extracted from token answers (they fill server variables).
    pub fn extracted(&self) -> BTreeMap<String, String> {
        self.read().extracted.clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Tokens> {
        self.tokens.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Every secret this handle knows, in every encoding, for redaction of upstream text: the
    /// credentials, what the scheme derives from them, and the tokens of the recent refreshes.
    pub fn secrets(&self) -> Arc<Secrets> {
        self.secrets.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Adds the tokens of a refresh to [`Auth::secrets`], before they are used or stored.
    fn learn_tokens(&self, update: &TokenUpdate) {
        let mut learned = self.learned.lock().unwrap_or_else(|e| e.into_inner());
        for t in std::iter::once(&update.access_token).chain(update.refresh_token.iter()) {
            if !learned.contains(t) {
                learned.push_back(t.clone());
            }
        }
        while learned.len() > 2 * LEARNED_TOKENS {
            learned.pop_front();
        }
        let mut next = handle_secrets(&self.scheme, &self.creds);
        if let Some(Ok(sa)) = &self.service_account {
            next.extend(sa.secrets.iter());
        }
        next.extend(learned.iter());
        *self.secrets.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
    }

    fn field(&self, input: &str) -> Option<String> {
        self.scheme.render_input(input, &self.creds)
    }

    /// Whether a new access token can be had: with the refresh token, with a service account
    /// key (the JWT-bearer grant), or with the client credentials alone where the scheme offers
    /// that grant.
    fn can_refresh(&self) -> bool {
        matches!(self.scheme.kind, AuthKind::OAuth2(_))
            && (self.read().refresh_token.is_some()
                || self.service_account.is_some()
                || client_grant(&self.scheme, &self.creds))
    }

    /// Whether the access token must be refreshed (or first obtained) before use.
    fn needs_refresh(&self) -> Option<u64> {
        if !self.can_refresh() {
            return None;
        }
        let t = self.read();
        // A stored `expires_at` is the caller's: nonsense (`i64::MIN`) is expired, never a panic.
        let expired = t.expires_at.is_some_and(|e| e.saturating_sub(EXPIRY_SKEW_SECS) <= now_secs());
        (t.access_token.is_none() || expired).then_some(t.generation)
    }

    /// Headers and query pairs for a request, refreshing first if the token is missing or
    /// expired.
    pub async fn apply(&self, http: &dyn HttpClient, timeout: Duration) -> Result<Applied> {
        if let Some(generation) = self.needs_refresh() {
            self.refresh(http, generation, timeout).await?;
        }
        let mut out = Applied::default();
        match &self.scheme.kind {
            AuthKind::Bearer => {
                let token = self.field("token").ok_or_else(|| self.missing("token"))?;
                out.headers.push(("authorization".into(), format!("Bearer {token}")));
            }
            AuthKind::Basic => {
                let user = self.field("username").ok_or_else(|| self.missing("username"))?;
                let pass = self.field("password").unwrap_or_default();
                let enc = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
                out.headers.push(("authorization".into(), format!("Basic {enc}")));
            }
            AuthKind::ApiKey { in_query, name, prefix } => {
                let key =
                    self.field("api_key").or_else(|| self.field("token")).ok_or_else(|| self.missing("api_key"))?;
                if *in_query {
                    out.query.push((name.clone(), key));
                } else {
                    out.headers.push((name.to_ascii_lowercase(), format!("{prefix}{key}")));
                }
            }
            AuthKind::OAuth2(cfg) => {
                let t = self.read();
                let token = t.access_token.clone().ok_or_else(|| self.missing("access_token"))?;
                out.generation = t.generation;
                match &cfg.token_header {
                    Some((name, prefix)) => out.headers.push((name.to_ascii_lowercase(), format!("{prefix}{token}"))),
                    None => out.headers.push(("authorization".into(), format!("Bearer {token}"))),
                }
            }
        }
        for (name, template) in &self.scheme.headers {
            let value = crate::spec::render_braces(template, |field| {
                if field == "access_token" && matches!(self.scheme.kind, AuthKind::OAuth2(_)) {
                    if let Some(t) = self.read().access_token.clone() {
                        return Some(t);
                    }
                }
                match self.creds.get(field) {
                    Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    _ => self.field(field),
                }
            });
            if let Some(value) = value {
                let name = name.to_ascii_lowercase();
                out.headers.retain(|(n, _)| *n != name);
                out.headers.push((name, value));
            }
        }
        Ok(out)
    }

    fn missing(&self, input: &str) -> Error {
        let field = self.scheme.field_name(input).unwrap_or(input).to_string();
        Error::configuration(format!("credential field {field:?} is required by the {} auth method", self.scheme.title))
    }

    /// After a 401: refreshes if this handle can and nobody refreshed since `generation`.
    /// Returns whether a retry with new credentials makes sense.
    pub async fn refresh_after_401(&self, http: &dyn HttpClient, generation: u64, timeout: Duration) -> Result<bool> {
        if !self.can_refresh() {
            return Ok(false);
        }
        self.refresh(http, generation, timeout).await?;
        Ok(true)
    }

    /// Runs the refresh-token grant (or, without a refresh token, the client-credentials grant)
    /// once for all callers that saw `seen_generation`.
    async fn refresh(&self, http: &dyn HttpClient, seen_generation: u64, timeout: Duration) -> Result<()> {
        let _guard = self.refresh_lock.lock().await;
        if self.read().generation != seen_generation {
            return Ok(()); // another call refreshed while this one waited
        }
        let AuthKind::OAuth2(cfg) = &self.scheme.kind else {
            return Ok(());
        };
        let grant = match self.read().refresh_token.clone() {
            Some(rt) => Grant::RefreshToken(rt),
            None if self.service_account.is_some() => Grant::JwtBearer,
            None if client_grant(&self.scheme, &self.creds) => Grant::ClientCredentials,
            None => {
                return Err(Error::new(
                    ErrorCode::UpstreamAuthentication,
                    "the access token was rejected and no refresh_token was given to renew it",
                ))
            }
        };
        // The new tokens join the redaction list (see `learn_tokens`) before anything uses them,
        // but after the sink stored them: a provider that rotates refresh tokens has already
        // spent the old one, so the store comes first, with nothing else in the window.
        // The handle takes the new tokens as soon as it has them, before `end_refresh` is
        // awaited: a call dropped during that await must not leave the handle with a refresh
        // token the provider has spent.
        match &self.sink {
            None => {
                let update = self.grant(http, cfg, &grant, timeout).await?;
                self.learn_tokens(&update);
                self.keep(update);
            }
            Some(sink) => match sink.begin_refresh(matches!(grant, Grant::RefreshToken(_))).await? {
                RefreshStart::UseStored(update) => {
                    let abandoned = Abandoned(Some(sink.as_ref()));
                    self.learn_tokens(&update);
                    self.keep(update);
                    sink.end_refresh().await;
                    abandoned.disarm();
                }
                RefreshStart::Proceed => {
                    let abandoned = Abandoned(Some(sink.as_ref()));
                    let outcome = match self.grant(http, cfg, &grant, timeout).await {
                        Ok(update) => {
                            let stored = sink.token_refreshed(update.clone()).await;
                            self.learn_tokens(&update);
                            // Stored or not (storage out of reach past its retries, or the
                            // credentials changed meanwhile), the provider may have spent the
                            // old refresh token, so the new tokens are the only live ones: this
                            // handle keeps them (it goes on working, and its next refresh stores
                            // its answer); a failure to store fails this call, saying why.
                            self.keep(update);
                            stored
                        }
                        Err(e) => Err(e),
                    };
                    sink.end_refresh().await;
                    abandoned.disarm();
                    outcome?
                }
            },
        }
        Ok(())
    }

    /// Makes `update` the tokens this handle uses.
    fn keep(&self, update: TokenUpdate) {
        let mut t = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        t.access_token = Some(update.access_token);
        t.refresh_token = update.refresh_token;
        t.expires_at = update.expires_at;
        t.extracted.extend(update.extracted);
        t.generation += 1;
    }

    async fn grant(
        &self,
        http: &dyn HttpClient,
        cfg: &OAuth2Config,
        grant: &Grant,
        timeout: Duration,
    ) -> Result<TokenUpdate> {
        let url = self.token_url.clone().ok_or_else(|| {
            Error::configuration("the OAuth scheme has no token URL (flows.*.tokenUrl, or config.token_url)")
        })?;
        let client_id = self.field("client_id");
        let client_secret = self.field("client_secret");
        let mut fields: Vec<(&str, String)> = match grant {
            Grant::RefreshToken(rt) => vec![("grant_type", "refresh_token".into()), ("refresh_token", rt.clone())],
            Grant::ClientCredentials => vec![("grant_type", "client_credentials".into())],
            Grant::JwtBearer => {
                let sa = match &self.service_account {
                    Some(Ok(sa)) => sa,
                    Some(Err(e)) => return Err(e.clone()),
                    None => return Err(Error::internal("no service account key")),
                };
                let scope = self.field(SCOPE_INPUT).unwrap_or_default();
                let assertion = sa.assertion(&scope, &url, now_secs())?;
                // The assertion is a credential for its lifetime: redact it like a token.
                self.learn_tokens(&TokenUpdate {
                    access_token: assertion.clone(),
                    refresh_token: None,
                    expires_at: None,
                    extracted: BTreeMap::new(),
                });
                vec![("grant_type", JWT_BEARER_GRANT.into()), ("assertion", assertion)]
            }
        };
        let mut headers = vec![("accept".to_string(), "application/json".to_string())];
        if matches!(grant, Grant::JwtBearer) {
            // The signed assertion is the client's proof: no client id or secret goes along.
        } else if cfg.basic_client_auth {
            let enc = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                client_id.clone().unwrap_or_default(),
                client_secret.clone().unwrap_or_default()
            ));
            headers.push(("authorization".into(), format!("Basic {enc}")));
        } else {
            if let Some(id) = &client_id {
                fields.push(("client_id", id.clone()));
            }
            if let Some(s) = &client_secret {
                fields.push(("client_secret", s.clone()));
            }
        }
        let body = if cfg.json_body {
            headers.push(("content-type".into(), "application/json".into()));
            let m: Map<String, Value> = fields.iter().map(|(k, v)| (k.to_string(), Value::String(v.clone()))).collect();
            serde_json::to_vec(&m).map_err(|e| Error::internal(format!("token request: {e}")))?
        } else {
            headers.push(("content-type".into(), "application/x-www-form-urlencoded".into()));
            url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields.iter()).finish().into_bytes()
        };
        let host = url::Url::parse(&url).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default();
        let resp = http
            .send(HttpRequest { method: "POST".into(), url: url.clone(), headers, body: Some(body), timeout })
            .await
            .map_err(|e| upstream::transport_error(Peer::TokenEndpoint(&host), &e))?;
        let parsed: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
        if !(200..300).contains(&resp.status) {
            let reason = parsed
                .get("error_description")
                .or_else(|| parsed.get("error"))
                .or_else(|| parsed.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("no reason given");
            let reason = crate::upstream::cap(self.secrets().redact(reason), 500);
            let code = if resp.status == 429 {
                ErrorCode::RateLimited
            } else if resp.status >= 500 {
                ErrorCode::UpstreamHttp
            } else {
                ErrorCode::UpstreamAuthentication
            };
            let message = match grant {
                Grant::RefreshToken(_) => format!("refreshing the OAuth access token at {host} failed with {}: {reason}; the connection may need to be re-authorized", resp.status),
                Grant::ClientCredentials => format!("obtaining an OAuth access token with the client credentials at {host} failed with {}: {reason}; check the client id and secret", resp.status),
                Grant::JwtBearer => format!("obtaining an OAuth access token for the service account at {host} failed with {}: {reason}; check that the service account key is current (not deleted or disabled) and may use the requested scopes", resp.status),
            };
            return Err(Error::new(code, message)
                .with_status(resp.status)
                .with_details(serde_json::json!({"upstream_status": resp.status})));
        }
        let access_token = parsed
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::UpstreamAuthentication,
                    format!("the OAuth token endpoint at {host} answered without an access_token"),
                )
            })?
            .to_string();
        let refresh_token =
            parsed.get("refresh_token").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string).or_else(
                || match grant {
                    Grant::RefreshToken(rt) => Some(rt.clone()),
                    Grant::ClientCredentials | Grant::JwtBearer => None,
                },
            );
        let expires_at = expiry(parsed.get("expires_in"), now_secs());
        let mut extracted = BTreeMap::new();
        for k in &cfg.extract {
            if let Some(v) = parsed.get(k).and_then(Value::as_str) {
                check_extracted(k, v, &url, &host)?;
                extracted.insert(k.clone(), v.to_string());
            }
        }
        Ok(TokenUpdate { access_token, refresh_token, expires_at, extracted })
    }
}

/// The grant a token request runs.
enum Grant {
    /// `grant_type=refresh_token` with this refresh token.
    RefreshToken(String),
    /// `grant_type=client_credentials`: the client id and secret alone.
    ClientCredentials,
    /// RFC 7523's `urn:ietf:params:oauth:grant-type:jwt-bearer`: a JWT signed with a service
    /// account's private key (Google's server-to-server flow).
    JwtBearer,
}

/// The RFC 7523 grant type of a token request carrying a signed JWT.
const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The scheme input (`auth_mapping`) holding a service account's JSON key; an OAuth2 scheme that
/// maps it obtains its access tokens with the JWT-bearer grant.
pub const SERVICE_ACCOUNT_INPUT: &str = "service_account_key";

/// The scheme input naming the scopes (space-separated) a JWT-bearer assertion asks for.
pub const SCOPE_INPUT: &str = "scope";

/// Lifetime of a JWT-bearer assertion: Google accepts at most an hour.
const ASSERTION_LIFETIME_SECS: i64 = 3600;

/// A value a token answer names (`x-token-extract`) fills a server variable, so it decides
/// where the API calls, and their access token, go. It must stay where the token endpoint is:
/// a URL (Salesforce's `instance_url`) on the token host or a sibling under the same parent
/// domain (`acme.my.salesforce.com` for `login.salesforce.com`), over HTTPS unless the token
/// endpoint itself is plain HTTP on that very host (a local test server), without user info,
/// query or fragment; any other value a plain host label (letters, digits, `.`, `-`, `_`).
pub fn check_extracted(name: &str, value: &str, token_url: &str, token_host: &str) -> Result<()> {
    let refuse = |why: &str| {
        Err(Error::new(
            ErrorCode::UpstreamAuthentication,
            format!("the OAuth token endpoint at {token_host} answered a {name} that is refused: {why}"),
        ))
    };
    if !value.contains("://") {
        let label_ok = !value.is_empty()
            && value.len() <= 253
            && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        return if label_ok { Ok(()) } else { refuse("it is not a plain host name part") };
    }
    let Ok(u) = url::Url::parse(value) else { return refuse("it is not a valid URL") };
    let token = url::Url::parse(token_url).ok();
    let token_scheme = token.as_ref().map(|t| t.scheme().to_string()).unwrap_or_default();
    let host = u.host_str().unwrap_or_default().to_ascii_lowercase();
    if !u.username().is_empty() || u.password().is_some() || u.query().is_some() || u.fragment().is_some() {
        return refuse("it carries user info, a query or a fragment");
    }
    let same_host = host == token_host.to_ascii_lowercase();
    let scheme_ok = u.scheme() == "https" || (u.scheme() == "http" && token_scheme == "http" && same_host);
    if !scheme_ok {
        return refuse("it is not an https URL");
    }
    let under_parent = match token.as_ref().and_then(|t| t.host()) {
        Some(url::Host::Domain(d)) => {
            let d = d.to_ascii_lowercase();
            // The parent of the token host, when it still has two labels (`salesforce.com` of
            // `login.salesforce.com`); a two-label token host admits its own subdomains only.
            let parent = match d.split_once('.') {
                Some((_, rest)) if rest.contains('.') => rest.to_string(),
                _ => d.clone(),
            };
            host == parent || host.ends_with(&format!(".{parent}"))
        }
        _ => false,
    };
    if same_host || under_parent {
        Ok(())
    } else {
        refuse("its host is not under the token endpoint's domain")
    }
}

/// A service account's key (the JSON file Google issues): whom the JWT names and the RSA key
/// that signs it. `Debug` shows the account's e-mail only.
struct ServiceAccount {
    client_email: String,
    token_uri: Option<String>,
    key: ring::signature::RsaKeyPair,
    /// The private key in its PEM and base64 forms, for redaction.
    secrets: Vec<String>,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount").field("client_email", &self.client_email).finish_non_exhaustive()
    }
}

impl ServiceAccount {
    /// Reads a service account JSON key: `client_email`, `private_key` (an RSA key in PEM,
    /// PKCS#8 `PRIVATE KEY` as Google issues it, or PKCS#1 `RSA PRIVATE KEY`), and `token_uri`
    /// (the JWT's audience; the handle's token URL when absent). Errors name what is wrong,
    /// never the key.
    fn parse(text: &str, slug: &str) -> Result<Self> {
        let bad = |why: &str| Error::configuration(format!("the service account key given for {slug} {why}"));
        let v: Value = serde_json::from_str(text).map_err(|_| bad("is not valid JSON"))?;
        let obj = v.as_object().ok_or_else(|| bad("is not a JSON object"))?;
        let text_of = |k: &str| obj.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        let client_email = text_of("client_email").ok_or_else(|| bad("has no client_email"))?.to_string();
        let pem = text_of("private_key").ok_or_else(|| bad("has no private_key"))?;
        let token_uri = text_of("token_uri").map(str::to_string);
        let pkcs1 = pem.contains("-----BEGIN RSA PRIVATE KEY-----");
        if !pkcs1 && !pem.contains("-----BEGIN PRIVATE KEY-----") {
            return Err(bad("has a private_key that is not an unencrypted PEM private key"));
        }
        let body: String = pem
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .concat();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|_| bad("has a private_key whose PEM body is not base64"))?;
        let key = if pkcs1 {
            ring::signature::RsaKeyPair::from_der(&der)
        } else {
            ring::signature::RsaKeyPair::from_pkcs8(&der)
        }
        .map_err(|_| bad("has a private_key that is not a usable RSA key (2048 bits or more)"))?;
        let mut secrets = vec![pem.to_string(), body.clone()];
        // An error may quote the key one PEM line at a time.
        secrets.extend(
            pem.lines().map(str::trim).filter(|l| l.len() >= 16 && !l.starts_with("-----")).map(str::to_string),
        );
        Ok(Self { client_email, token_uri, key, secrets })
    }

    /// The signed assertion (RS256) for a token request to `token_url` at `now`: `iss` the
    /// account, `scope`, `aud` the key's `token_uri` (else `token_url`), `iat`, and `exp` an
    /// hour later.
    fn assertion(&self, scope: &str, token_url: &str, now: i64) -> Result<String> {
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        let mut claims = Map::new();
        claims.insert("iss".into(), Value::String(self.client_email.clone()));
        if !scope.is_empty() {
            claims.insert("scope".into(), Value::String(scope.to_string()));
        }
        claims.insert("aud".into(), Value::String(self.token_uri.clone().unwrap_or_else(|| token_url.to_string())));
        claims.insert("iat".into(), Value::from(now));
        claims.insert("exp".into(), Value::from(now + ASSERTION_LIFETIME_SECS));
        let signing_input =
            format!("{}.{}", b64(header.to_string().as_bytes()), b64(Value::Object(claims).to_string().as_bytes()));
        let mut signature = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| Error::internal("signing the service account assertion failed"))?;
        Ok(format!("{signing_input}.{}", b64(&signature)))
    }
}

/// Whether `scheme` can obtain access tokens from `creds` with the client-credentials grant:
/// its flows offer it and the client id and secret are given.
fn client_grant(scheme: &AuthScheme, creds: &Map<String, Value>) -> bool {
    matches!(&scheme.kind, AuthKind::OAuth2(cfg) if cfg.client_credentials)
        && scheme.render_input("client_id", creds).is_some()
        && scheme.render_input("client_secret", creds).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse_spec;

    #[test]
    fn debug_output_holds_no_token() {
        let update = TokenUpdate {
            access_token: "at-secret-value".into(),
            refresh_token: Some("rt-secret-value".into()),
            expires_at: Some(7),
            extracted: BTreeMap::from([("instance_url".to_string(), "https://acme.example".to_string())]),
        };
        let shown = format!("{update:?}");
        assert!(!shown.contains("secret-value") && !shown.contains("acme.example"), "{shown}");
        assert!(shown.contains("expires_at: Some(7)") && shown.contains("instance_url"), "{shown}");
        let client = crate::wire::OAuthClientRequest {
            client_id: "cid".into(),
            client_secret: "cs-secret-value".into(),
            scopes: None,
        };
        let query = crate::wire::OAuthCallbackQuery {
            code: Some("code-secret-value".into()),
            state: Some("state-secret-value".into()),
            ..Default::default()
        };
        for shown in [format!("{client:?}"), format!("{query:?}")] {
            assert!(!shown.contains("secret-value"), "{shown}");
        }
    }

    const SPEC: &str = r#"
openapi: 3.1.0
info: {title: T, version: "1", x-connector-name: t, x-connector-definition-id: 00000000-0000-0000-0000-000000000001}
servers: [{url: "https://api.example.com"}]
components:
  securitySchemes:
    oauth:
      type: oauth2
      flows: {authorizationCode: {tokenUrl: "https://api.example.com/token", authorizationUrl: "https://x", scopes: {}}}
      x-auth-config:
        properties: {access_token: {type: string}, refresh_token: {type: string}, client_id: {type: string}, client_secret: {type: string}}
    pat:
      type: http
      scheme: bearer
      x-auth-config:
        required: [token]
        properties: {token: {type: string}}
        auth_mapping: {token: "${token}"}
paths:
  /things:
    get: {x-entity: things, x-action: list, responses: {"200": {description: ok}}}
"#;

    const BASIC: &str = r#"
openapi: 3.1.0
info: {title: T, version: "1", x-connector-name: z, x-connector-definition-id: 00000000-0000-0000-0000-000000000002}
servers: [{url: "https://api.example.com"}]
components:
  securitySchemes:
    token:
      type: http
      scheme: basic
      x-auth-config:
        required: [email, api_token]
        properties: {email: {type: string}, api_token: {type: string}}
        auth_mapping: {username: "${email}/token", password: "${api_token}"}
paths:
  /things:
    get: {x-entity: things, x-action: list, responses: {"200": {description: ok}}}
"#;

    #[test]
    fn secrets_cover_derived_values_and_refreshed_tokens() {
        let spec = parse_spec("z.yaml", BASIC).unwrap_or_else(|e| panic!("{e}"));
        let creds: Map<String, Value> =
            serde_json::from_str(r#"{"email": "me@example.com", "api_token": "tok+en/42"}"#).unwrap_or_default();
        let scheme = select_scheme(&spec, &creds).unwrap_or_else(|e| panic!("{e}")).clone();
        let auth = Auth::new(&spec, scheme, creds, None, None).unwrap_or_else(|e| panic!("{e}"));
        let sent = base64::engine::general_purpose::STANDARD.encode("me@example.com/token:tok+en/42");
        let echoed = format!("Basic {sent} user=me%40example.com%2Ftoken key=tok%2Ben%2F42");
        assert_eq!(auth.secrets().redact(&echoed), "Basic **** user=**** key=****");
        for i in 0..40 {
            auth.learn_tokens(&TokenUpdate {
                access_token: format!("at-{i:04}"),
                refresh_token: Some(format!("rt-{i:04}")),
                expires_at: None,
                extracted: BTreeMap::new(),
            });
        }
        let secrets = auth.secrets();
        assert_eq!(secrets.redact("at-0039 rt-0039 tok+en/42"), "**** **** ****");
        assert!(secrets.len() <= 2 * LEARNED_TOKENS + 8, "bounded: {}", secrets.len());
    }

    #[test]
    fn extracted_urls_stay_under_the_token_endpoints_domain() {
        let sf = "https://login.salesforce.com/services/oauth2/token";
        let check = |v: &str, token: &str| {
            let host = url::Url::parse(token).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default();
            check_extracted("instance_url", v, token, &host).is_ok()
        };
        for ok in [
            "https://acme.my.salesforce.com",
            "https://acme--dev.sandbox.my.salesforce.com/",
            "https://na85.salesforce.com",
            "https://login.salesforce.com",
        ] {
            assert!(check(ok, sf), "{ok}");
        }
        for bad in [
            "https://evil.example",
            "https://salesforce.com.evil.example",
            "https://evilsalesforce.com",
            "http://acme.my.salesforce.com",
            "https://user:pw@acme.my.salesforce.com",
            "https://acme.my.salesforce.com?x=.salesforce.com",
            "https://acme.my.salesforce.com#x",
            "javascript://acme.my.salesforce.com",
            "not a url://",
        ] {
            assert!(!check(bad, sf), "{bad}");
        }
        // A local token endpoint over plain HTTP admits its own host only.
        let local = "http://127.0.0.1:8080/salesforce/_oauth/token";
        assert!(check("http://127.0.0.1:8080/salesforce", local));
        assert!(!check("http://127.0.0.2:8080", local));
        assert!(!check("https://acme.my.salesforce.com", local));
        // A two-label token host admits its own subdomains, not its siblings' parents.
        assert!(check("https://eu.example.com", "https://example.com/token"));
        assert!(!check("https://example.org", "https://example.com/token"));
        // Values that are no URL fill a label of the server's host: plain labels only.
        assert!(check("us6", sf));
        assert!(!check("evil.example/#", sf));
        assert!(!check("a b", sf));
        assert!(!check("evil.example/x", sf));
        assert!(!check("", sf));
    }

    #[test]
    fn picks_the_scheme_the_credentials_fit() {
        let spec = parse_spec("t.yaml", SPEC).unwrap_or_else(|e| panic!("{e}"));
        let pat: Map<String, Value> = serde_json::from_str(r#"{"token": "abc"}"#).unwrap_or_default();
        assert_eq!(select_scheme(&spec, &pat).map(|s| s.name.as_str()).ok(), Some("pat"));
        let oauth: Map<String, Value> =
            serde_json::from_str(r#"{"refresh_token": "r", "client_id": "c", "client_secret": "s"}"#)
                .unwrap_or_default();
        assert_eq!(select_scheme(&spec, &oauth).map(|s| s.name.as_str()).ok(), Some("oauth"));
        let none: Map<String, Value> = serde_json::from_str(r#"{"password": "hunter2"}"#).unwrap_or_default();
        let err = select_scheme(&spec, &none).err().unwrap_or_else(|| Error::internal("x"));
        assert_eq!(err.code, ErrorCode::Configuration);
        assert!(err.message.contains("token"), "{}", err.message);
        assert!(!err.message.contains("hunter2"));
    }

    const HEADERS: &str = r#"
openapi: 3.1.0
info: {title: T, version: "1", x-connector-name: h, x-connector-definition-id: 00000000-0000-0000-0000-000000000003}
servers: [{url: "https://api.example.com"}]
components:
  securitySchemes:
    oauth:
      type: oauth2
      flows: {authorizationCode: {tokenUrl: "https://api.example.com/token", authorizationUrl: "https://x", scopes: {}}}
      x-token-refresh: {header: X-Shop-Token, prefix: ""}
      x-auth-config:
        required: [refresh_token, account_id]
        properties: {refresh_token: {type: string}, account_id: {type: string}, client_id: {type: string}}
        auth_mapping: {refresh_token: "${refresh_token}", client_id: "${client_id}"}
        additional_headers:
          Account-Id: "{{ account_id }}"
          X-Echo: "Token {{ access_token }}"
          X-Missing: "{{ nowhere }}"
paths:
  /things:
    get: {x-entity: things, x-action: list, responses: {"200": {description: ok}}}
"#;

    #[tokio::test]
    async fn additional_headers_and_a_custom_token_header() {
        let spec = parse_spec("h.yaml", HEADERS).unwrap_or_else(|e| panic!("{e}"));
        // The access token is not a field of the scheme; given anyway, it is used as is.
        let creds: Map<String, Value> =
            serde_json::from_str(r#"{"refresh_token": "r", "account_id": "acct-7", "access_token": "at-1"}"#)
                .unwrap_or_default();
        let scheme = select_scheme(&spec, &creds).unwrap_or_else(|e| panic!("{e}")).clone();
        let auth = Auth::new(&spec, scheme, creds, None, None).unwrap_or_else(|e| panic!("{e}"));
        // No refresh is due, so nothing is sent.
        let http = crate::http::NetClient::new().unwrap_or_else(|e| panic!("{e:?}"));
        let applied = auth.apply(&http, Duration::from_secs(1)).await.unwrap_or_else(|e| panic!("{e}"));
        let mut headers = applied.headers.clone();
        headers.sort();
        assert_eq!(
            headers,
            [
                ("account-id".to_string(), "acct-7".to_string()),
                ("x-echo".to_string(), "Token at-1".to_string()),
                ("x-shop-token".to_string(), "at-1".to_string()),
            ]
        );
    }
}
