//! Hosted mode: the client side of the engine's HTTP API. The engine holds the credentials; the
//! SDK holds either client credentials, from which it fetches the application token itself
//! (kept until shortly before it expires, fetched once however many calls wait for it), or a
//! scoped token the app supplies through a [`TokenProvider`] (mobile and browser apps, which
//! must not hold a client secret). A call is retried once after a 401 about the token, with a
//! fresh one. Every body sent and read is a type of [`crate::wire`], the engine's own contract.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::future::BoxFuture;
use futures::Stream;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, ErrorCode, Result};
use crate::execution::{CheckResult, ExecuteOptions, ExecutionResult, JsonData, JsonExecution};
use crate::http::{HttpClient, HttpRequest, NetClient};
use crate::registry::Registry;
use crate::upstream::{self, Peer};
use crate::wire;

/// Supplies the token for calls to the engine, for clients without a client secret: the app
/// fetches a scoped token from its own backend and hands it over here.
pub trait TokenProvider: Send + Sync {
    /// A token to send. `rejected` is the token the engine just refused (expired, say), so the
    /// provider should return a new one; `None` on the first call.
    fn token(&self, rejected: Option<String>) -> BoxFuture<'_, Result<String>>;

    /// [`TokenProvider::token`] and when the client should ask again even though the engine has
    /// not refused it (shortly before the token expires, by the wall clock, so a machine that
    /// slept asks on its next call); `None`, the default: keep it until the engine refuses it.
    fn token_until(&self, rejected: Option<String>) -> BoxFuture<'_, Result<(String, Option<SystemTime>)>> {
        Box::pin(async move { Ok((self.token(rejected).await?, None)) })
    }
}

/// A fixed scoped token: its calls fail with `authentication` once it expires.
struct StaticToken(String);

impl TokenProvider for StaticToken {
    fn token(&self, rejected: Option<String>) -> BoxFuture<'_, Result<String>> {
        Box::pin(async move {
            match rejected {
                Some(r) if r == self.0 => Err(Error::new(
                    ErrorCode::Authentication,
                    "the engine rejected the scoped token (expired?); pass a new one, or a token provider",
                )),
                _ => Ok(self.0.clone()),
            }
        })
    }
}

/// Where the engine is and who the caller is: client credentials, a scoped token, or a token
/// provider (the first of the last two that is set wins over client credentials). Argument
/// aliases and environment fallbacks are applied before, by [`crate::sdk::ClientSettings`].
#[derive(Clone, Default)]
pub struct HostedConfig {
    /// The engine (default `http://127.0.0.1:8080`).
    pub base_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// A scoped token for one workspace, instead of client credentials.
    pub scoped_token: Option<String>,
    /// Supplies (and renews) the token, instead of client credentials.
    pub token_provider: Option<Arc<dyn TokenProvider>>,
    pub organization_id: Option<String>,
    /// Time allowed for one call to the engine (default 120 s: the engine itself retries upstreams).
    pub timeout: Option<Duration>,
    /// The HTTP seam; the shared client when `None`.
    pub http: Option<Arc<dyn HttpClient>>,
}

impl std::fmt::Debug for HostedConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostedConfig")
            .field("base_url", &self.base_url.as_deref().map(crate::redact::shown_url))
            .field("client_id", &self.client_id)
            .field("organization_id", &self.organization_id)
            .finish_non_exhaustive()
    }
}

const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080";

struct CachedToken {
    token: String,
    refresh_at: Instant,
    generation: u64,
}

enum Auth {
    /// Application tokens from client credentials, cached.
    Client { id: String, secret: String, cache: tokio::sync::Mutex<Option<CachedToken>> },
    /// Tokens from the app; the last one is kept until the engine rejects it or the provider's
    /// renewal time passes.
    Provider { provider: Arc<dyn TokenProvider>, current: tokio::sync::Mutex<Option<ProvidedToken>> },
}

/// The provider's current token, its generation and when to ask the provider again.
struct ProvidedToken {
    token: String,
    generation: u64,
    renew_at: Option<SystemTime>,
}

struct ClientInner {
    base_url: String,
    organization_id: Option<String>,
    timeout: Duration,
    http: Arc<dyn HttpClient>,
    auth: Auth,
    fetches: AtomicU64,
}

/// An authenticated connection to an engine. Cheap to clone; clones share the token.
#[derive(Clone)]
pub struct HostedClient {
    inner: Arc<ClientInner>,
}

impl std::fmt::Debug for HostedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostedClient").field("base_url", &self.inner.base_url).finish_non_exhaustive()
    }
}

/// How long before expiry a token is renewed: a tenth of its lifetime, at most a minute.
fn renew_margin(expires_in: u64) -> Duration {
    Duration::from_secs((expires_in / 10).min(60))
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl HostedClient {
    /// A client from `config`.
    pub fn new(config: HostedConfig) -> Result<Self> {
        let base_url = config.base_url.unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
        // The URL is not quoted back: one with a user or password in it carries a secret.
        let base = url::Url::parse(&base_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| Error::configuration("base_url is not an http(s) URL, e.g. http://127.0.0.1:8080"))?;
        if !base.username().is_empty() || base.password().is_some() {
            return Err(Error::configuration(
                "base_url must not hold a user or password (user:password@host): the client authenticates with its \
                 client credentials or a token",
            ));
        }
        // The client adds the API's paths itself: an engine URL ending in them would call
        // `/api/v1/api/v1/...`, which the engine answers "route not found".
        if base.path().trim_end_matches('/').ends_with("/api/v1") {
            return Err(Error::configuration(
                "base_url is the engine's root URL (e.g. https://engine.example.com), without /api/v1: the client \
                 adds the API's paths",
            ));
        }
        let provider = config.token_provider.or_else(|| {
            config.scoped_token.filter(|t| !t.trim().is_empty()).map(|t| Arc::new(StaticToken(t)) as Arc<_>)
        });
        let auth = match (provider, config.client_id, config.client_secret) {
            (Some(provider), _, _) => Auth::Provider { provider, current: tokio::sync::Mutex::new(None) },
            (None, Some(id), Some(secret)) => Auth::Client { id, secret, cache: tokio::sync::Mutex::new(None) },
            (None, None, _) => {
                return Err(Error::configuration(
                    "client_id is required (or set SWITCHBOARD_CLIENT_ID), or a scoped token / token provider",
                ))
            }
            (None, Some(_), None) => {
                return Err(Error::configuration("client_secret is required (or set SWITCHBOARD_CLIENT_SECRET)"))
            }
        };
        Ok(Self {
            inner: Arc::new(ClientInner {
                base_url: base.as_str().trim_end_matches('/').to_string(),
                organization_id: config.organization_id,
                timeout: config.timeout.unwrap_or(Duration::from_secs(120)),
                http: config.http.unwrap_or_else(NetClient::shared),
                auth,
                fetches: AtomicU64::new(0),
            }),
        })
    }

    /// The engine's base URL.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// Whether the client holds a scoped token (bound to one workspace) rather than client
    /// credentials.
    pub fn is_scoped(&self) -> bool {
        matches!(self.inner.auth, Auth::Provider { .. })
    }

    /// How many tokens this client fetched or was given (for tests and metrics).
    pub fn token_fetches(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// A valid token and its generation, fetched once for all waiting callers.
    async fn token(&self) -> Result<(String, u64)> {
        match &self.inner.auth {
            Auth::Client { id, secret, cache } => {
                let mut slot = cache.lock().await;
                if let Some(t) = slot.as_ref().filter(|t| Instant::now() < t.refresh_at) {
                    return Ok((t.token.clone(), t.generation));
                }
                let generation = slot.as_ref().map(|t| t.generation + 1).unwrap_or(1);
                let body = wire::TokenRequest { client_id: id.clone(), client_secret: secret.clone() };
                let answer: wire::ApplicationToken =
                    self.send("POST", "/api/v1/account/applications/token", Some(&body), None).await?;
                self.inner.fetches.fetch_add(1, Ordering::Relaxed);
                let lifetime = Duration::from_secs(answer.expires_in).saturating_sub(renew_margin(answer.expires_in));
                let token = answer.access_token;
                *slot = Some(CachedToken { token: token.clone(), refresh_at: Instant::now() + lifetime, generation });
                Ok((token, generation))
            }
            Auth::Provider { provider, current } => {
                let mut slot = current.lock().await;
                if let Some(p) = slot.as_ref().filter(|p| p.renew_at.is_none_or(|at| SystemTime::now() < at)) {
                    return Ok((p.token.clone(), p.generation));
                }
                let generation = slot.as_ref().map(|p| p.generation + 1).unwrap_or(1);
                let (token, renew_at) = self.ask(provider.as_ref(), None).await?;
                self.inner.fetches.fetch_add(1, Ordering::Relaxed);
                *slot = Some(ProvidedToken { token: token.clone(), generation, renew_at });
                Ok((token, generation))
            }
        }
    }

    /// The app's token provider, asked within the client's timeout: a provider that never
    /// answers fails the call rather than holding it (and every call waiting for the token).
    async fn ask(
        &self,
        provider: &dyn TokenProvider,
        rejected: Option<String>,
    ) -> Result<(String, Option<SystemTime>)> {
        let timeout = self.inner.timeout;
        tokio::time::timeout(timeout, provider.token_until(rejected)).await.unwrap_or_else(|_| {
            Err(Error::new(
                ErrorCode::Authentication,
                format!("the token provider did not answer within {} s (the client's timeout)", timeout.as_secs_f64()),
            ))
        })
    }

    /// A new token after the engine rejected the one of `generation` (unless another caller
    /// already renewed it).
    async fn renew(&self, generation: u64) -> Result<(String, u64)> {
        match &self.inner.auth {
            Auth::Client { cache, .. } => {
                {
                    let mut slot = cache.lock().await;
                    if let Some(t) = slot.as_mut().filter(|t| t.generation == generation) {
                        t.refresh_at = Instant::now();
                    }
                }
                self.token().await
            }
            Auth::Provider { provider, current } => {
                let mut slot = current.lock().await;
                match slot.as_ref() {
                    Some(p) if p.generation != generation => Ok((p.token.clone(), p.generation)),
                    other => {
                        let rejected = other.map(|p| p.token.clone());
                        let (token, renew_at) = self.ask(provider.as_ref(), rejected).await?;
                        self.inner.fetches.fetch_add(1, Ordering::Relaxed);
                        *slot = Some(ProvidedToken { token: token.clone(), generation: generation + 1, renew_at });
                        Ok((token, generation + 1))
                    }
                }
            }
        }
    }

    /// One authenticated call to the engine, its answer read as `T`; a 401 about the token is
    /// retried once with a fresh token (an upstream rejecting stored credentials is
    /// `upstream_authentication`, never retried here).
    pub async fn call<B: Serialize + Sync, T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&B>,
    ) -> Result<T> {
        let (token, generation) = self.token().await?;
        match self.send(method, path, body, Some(&token)).await {
            Err(e) if e.code == ErrorCode::Authentication => {
                let (token, _) = self.renew(generation).await?;
                self.send(method, path, body, Some(&token)).await
            }
            other => other,
        }
    }

    async fn send<B: Serialize + Sync, T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&B>,
        token: Option<&str>,
    ) -> Result<T> {
        let mut headers = vec![("accept".to_string(), "application/json".to_string())];
        if let Some(t) = token {
            headers.push(("authorization".into(), format!("Bearer {t}")));
        }
        if let Some(org) = &self.inner.organization_id {
            headers.push(("x-organization-id".into(), org.clone()));
        }
        let body = match body {
            Some(b) => {
                headers.push(("content-type".into(), "application/json".into()));
                Some(serde_json::to_vec(b).map_err(|e| Error::internal(format!("cannot encode a request: {e}")))?)
            }
            None => None,
        };
        let req = HttpRequest {
            method: method.into(),
            url: format!("{}{path}", self.inner.base_url),
            headers,
            body,
            timeout: self.inner.timeout,
        };
        let resp = self
            .inner
            .http
            .send(req)
            .await
            .map_err(|e| upstream::transport_error(Peer::Engine(&self.inner.base_url), &e))?;
        if (200..300).contains(&resp.status) {
            let body: &[u8] = if resp.body.is_empty() { b"null" } else { &resp.body };
            return serde_json::from_slice(body).map_err(|e| {
                Error::internal(format!("the engine's answer to {method} {path} does not match the contract: {e}"))
            });
        }
        let answer: Option<wire::ErrorBody> = serde_json::from_slice(&resp.body).ok();
        let (code, message, request_id, details, retry_after) = match answer {
            Some(b) => (b.code, b.message, b.request_id, b.details, b.retry_after),
            // Not the engine's error shape (a proxy in between, say): the status says what it can.
            None => (
                match resp.status {
                    401 => ErrorCode::Authentication,
                    s => upstream::code_for_status(s),
                },
                format!("the engine answered HTTP {}", resp.status),
                None,
                None,
                None,
            ),
        };
        let mut e = Error::new(code, message)
            .with_status(resp.status)
            .with_request_id(request_id.or_else(|| resp.header("x-request-id").map(str::to_string)));
        e.details = details.filter(|d| !d.is_null());
        if code == ErrorCode::RateLimited {
            e.retry_after = retry_after.or_else(|| upstream::retry_after(&resp)).or(Some(1.0));
        }
        Err(e)
    }
}

/// A stored connector as the engine describes it (never its credentials).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConnectorInfo {
    /// The connector's id.
    pub id: String,
    /// The connector's name.
    pub name: String,
    /// The type's display name (`GitHub`).
    pub connector_type: String,
    /// The type's slug (`github`).
    pub slug: String,
    /// The type's definition id.
    pub definition_id: String,
    /// The workspace it belongs to.
    #[schema(required = true)]
    pub workspace_name: Option<String>,
    /// When it was stored (RFC 3339).
    #[schema(required = true)]
    pub created_at: Option<String>,
    /// When it last changed (RFC 3339).
    #[schema(required = true)]
    pub updated_at: Option<String>,
}

impl From<wire::Connector> for ConnectorInfo {
    fn from(c: wire::Connector) -> Self {
        Self {
            id: c.id,
            name: c.name,
            connector_type: c.connector_type,
            slug: c.slug,
            definition_id: c.definition_id,
            workspace_name: Some(c.workspace_name),
            created_at: Some(c.created_at),
            updated_at: Some(c.updated_at),
        }
    }
}

/// A connector to create. An unknown field is refused: a misspelled `config` (`configuration`)
/// would otherwise make a connector that calls the provider's real host.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewConnector {
    /// Slug, display name or definition id (or give `definition_id`).
    #[serde(default)]
    pub connector_type: String,
    /// The definition id, the reference's way to name the type.
    #[serde(default)]
    pub definition_id: Option<String>,
    pub name: Option<String>,
    pub credentials: Value,
    pub replication_config: Option<Value>,
    pub config: Option<Value>,
}

/// How to pick one connector of a workspace.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectorLookup {
    /// By id.
    Id(String),
    /// By connector type (slug, name or definition id) when it names one, else by connector name.
    Name(String),
}

impl ConnectorLookup {
    /// The lookup a binding's `connector_id=` / `name=` arguments ask for: exactly one of them.
    pub fn from_args(connector_id: Option<String>, name: Option<String>) -> Result<Self> {
        match (connector_id, name) {
            (Some(id), None) => Ok(ConnectorLookup::Id(id)),
            (None, Some(n)) => Ok(ConnectorLookup::Name(n)),
            _ => Err(Error::validation("connector lookup: pass exactly one of connector_id or name")),
        }
    }
}

/// The workspace an application's client works in when it names none (`Workspace()`,
/// `connect("stripe")`), as the reference SDK's default.
pub const DEFAULT_WORKSPACE: &str = "default";

/// One end customer's workspace: named, with client credentials, or the one a scoped token is
/// bound to.
#[derive(Debug, Clone)]
pub struct Workspace {
    client: HostedClient,
    name: Option<String>,
}

impl Workspace {
    /// The workspace called `name` (created by the engine on first use).
    pub fn new(client: HostedClient, name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        if name.trim().is_empty() {
            return Err(Error::configuration("workspace_name is required (or external_user_id)"));
        }
        Ok(Self { client, name: Some(name) })
    }

    /// The workspace `name` names; with no name, a scoped client's token's own, and for an
    /// application's client the one called [`DEFAULT_WORKSPACE`], as in the reference SDK.
    pub fn for_client(client: HostedClient, name: Option<String>) -> Result<Self> {
        match name {
            Some(n) => Self::new(client, n),
            None if client.is_scoped() => Ok(Self { client, name: None }),
            None => Self::new(client, DEFAULT_WORKSPACE),
        }
    }

    /// The workspace's name (empty for a scoped client that was given none).
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    /// The client this workspace uses.
    pub fn client(&self) -> &HostedClient {
        &self.client
    }

    /// Stores a connector with its credentials; returns what the engine stored.
    pub async fn create_connector(&self, c: NewConnector) -> Result<ConnectorInfo> {
        let body = wire::CreateConnector {
            connector_type: Some(c.connector_type).filter(|t| !t.is_empty()),
            definition_id: c.definition_id,
            workspace_name: self.name.clone(),
            name: c.name,
            credentials: Some(c.credentials),
            replication_config: c.replication_config,
            config: c.config,
            ..Default::default()
        };
        let created: wire::Connector = self.client.call("POST", "/api/v1/integrations/connectors", Some(&body)).await?;
        Ok(created.into())
    }

    /// The workspace's connectors.
    pub async fn list_connectors(&self) -> Result<Vec<ConnectorInfo>> {
        let path = match &self.name {
            Some(n) => format!("/api/v1/integrations/connectors?workspace_name={}", encode(n)),
            None => "/api/v1/integrations/connectors".to_string(),
        };
        let list: wire::ConnectorList = self.client.call::<(), _>("GET", &path, None).await?;
        Ok(list.data.into_iter().map(ConnectorInfo::from).collect())
    }

    /// Finds one connector: 0 matches is `not_found`, 2 or more `conflict`.
    pub async fn find_connector(&self, lookup: &ConnectorLookup) -> Result<ConnectorInfo> {
        let all = self.list_connectors().await?;
        let mut matches: Vec<ConnectorInfo> = match lookup {
            ConnectorLookup::Id(id) => all.into_iter().filter(|c| &c.id == id).collect(),
            ConnectorLookup::Name(name) => match Registry::shared().ok().and_then(|r| r.get(name).ok()) {
                Some(spec) => all.into_iter().filter(|c| c.definition_id == spec.definition_id).collect(),
                // Not a known type: a definition id this build lacks, or a connector's name.
                None => all
                    .into_iter()
                    .filter(|c| c.definition_id.eq_ignore_ascii_case(name) || c.name.eq_ignore_ascii_case(name))
                    .collect(),
            },
        };
        let what = match lookup {
            ConnectorLookup::Id(id) => format!("id {id}"),
            ConnectorLookup::Name(n) => format!("{n:?}"),
        };
        match matches.len() {
            0 => Err(Error::new(ErrorCode::NotFound, format!("workspace {:?} has no connector {what}", self.name()))),
            1 => Ok(matches.remove(0)),
            n => Err(Error::new(
                ErrorCode::Conflict,
                format!(
                    "workspace {:?} has {n} connectors matching {what} ({}); pass connector_id to pick one",
                    self.name(),
                    matches.iter().map(|c| c.id.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }

    /// An executor for one of the workspace's connectors.
    pub async fn get_connector(&self, lookup: &ConnectorLookup) -> Result<HostedExecutor> {
        let info = self.find_connector(lookup).await?;
        Ok(HostedExecutor::from_info(self.client.clone(), info))
    }

    /// Deletes a connector and its stored credentials.
    pub async fn delete_connector(&self, connector_id: &str) -> Result<()> {
        let path = format!("/api/v1/integrations/connectors/{}", encode(connector_id));
        let _: Value = self.client.call::<(), _>("DELETE", &path, None).await?;
        Ok(())
    }
}

#[derive(Debug, Clone)]
enum Target {
    Id(String),
    Lookup { workspace_name: Option<String>, connector_type: String },
}

/// `POST .../execute`'s answer ([`wire::ExecuteResponse`]) with its result kept as the text the
/// engine sent.
#[derive(Deserialize)]
struct ExecuteResponseText {
    result: Box<serde_json::value::RawValue>,
    connector_metadata: wire::ConnectorMetadata,
}

/// Runs operations on one stored connector through the engine.
#[derive(Debug, Clone)]
pub struct HostedExecutor {
    client: HostedClient,
    target: Target,
    resolved: Arc<tokio::sync::OnceCell<ConnectorInfo>>,
}

impl HostedExecutor {
    /// By connector id.
    pub fn by_id(client: HostedClient, connector_id: impl Into<String>) -> Self {
        Self { client, target: Target::Id(connector_id.into()), resolved: Arc::new(tokio::sync::OnceCell::new()) }
    }

    /// By workspace and connector definition id (or slug); the lookup runs once and is cached.
    /// Without a workspace, a scoped client's token names it, and an application's client uses
    /// [`DEFAULT_WORKSPACE`].
    pub fn by_definition(client: HostedClient, workspace_name: Option<String>, definition: &str) -> Result<Self> {
        let workspace_name = workspace_name
            .filter(|w| !w.trim().is_empty())
            .or_else(|| (!client.is_scoped()).then(|| DEFAULT_WORKSPACE.to_string()));
        Ok(Self {
            client,
            target: Target::Lookup { workspace_name, connector_type: definition.to_string() },
            resolved: Arc::new(tokio::sync::OnceCell::new()),
        })
    }

    fn from_info(client: HostedClient, info: ConnectorInfo) -> Self {
        let id = info.id.clone();
        let cell = tokio::sync::OnceCell::new_with(Some(info));
        Self { client, target: Target::Id(id), resolved: Arc::new(cell) }
    }

    /// The client this executor calls the engine with.
    pub fn client(&self) -> &HostedClient {
        &self.client
    }

    /// The connector this executor runs, looked up once.
    pub async fn connector(&self) -> Result<ConnectorInfo> {
        self.resolved
            .get_or_try_init(|| async {
                match &self.target {
                    Target::Id(id) => {
                        let path = format!("/api/v1/integrations/connectors/{}", encode(id));
                        let c: wire::Connector = self.client.call::<(), _>("GET", &path, None).await?;
                        Ok(c.into())
                    }
                    Target::Lookup { workspace_name, connector_type } => {
                        let ws = Workspace::for_client(self.client.clone(), workspace_name.clone())?;
                        ws.find_connector(&ConnectorLookup::Name(connector_type.clone())).await
                    }
                }
            })
            .await
            .cloned()
    }

    async fn connector_id(&self) -> Result<String> {
        match &self.target {
            Target::Id(id) => Ok(id.clone()),
            Target::Lookup { .. } => Ok(self.connector().await?.id),
        }
    }

    /// Runs one operation.
    pub async fn execute(
        &self,
        entity: &str,
        action: &str,
        params: Value,
        options: &ExecuteOptions,
    ) -> Result<ExecutionResult> {
        let r: wire::ExecuteResponse = self.post_execute(entity, action, params, options).await?;
        let m = r.connector_metadata;
        Ok(ExecutionResult { data: r.result, meta: m.meta, next_page: m.next_page })
    }

    /// [`Self::execute`] with the data kept as the JSON text the engine sent: checked, never
    /// parsed into a tree.
    pub async fn execute_json(
        &self,
        entity: &str,
        action: &str,
        params: Value,
        options: &ExecuteOptions,
    ) -> Result<JsonExecution> {
        let r: ExecuteResponseText = self.post_execute(entity, action, params, options).await?;
        let m = r.connector_metadata;
        Ok(JsonExecution { data: JsonData::Text(r.result), meta: m.meta, next_page: m.next_page })
    }

    async fn post_execute<T: DeserializeOwned>(
        &self,
        entity: &str,
        action: &str,
        params: Value,
        options: &ExecuteOptions,
    ) -> Result<T> {
        let id = self.connector_id().await?;
        let body = wire::ExecuteBody {
            entity: entity.to_string(),
            action: action.to_string(),
            params: Some(params),
            select_fields: (!options.select_fields.is_empty()).then(|| options.select_fields.clone()),
            exclude_fields: (!options.exclude_fields.is_empty()).then(|| options.exclude_fields.clone()),
            skip_truncation: options.skip_truncation.then_some(true),
            intent: options.intent.clone(),
        };
        let path = format!("/api/v1/integrations/connectors/{}/execute", encode(&id));
        self.client.call("POST", &path, Some(&body)).await
    }

    /// Runs the connector's health check on the engine.
    pub async fn check(&self) -> Result<CheckResult> {
        let id = self.connector_id().await?;
        let path = format!("/api/v1/integrations/connectors/{}/check", encode(&id));
        let r: wire::CheckResponse = self.client.call::<(), _>("POST", &path, None).await?;
        Ok(CheckResult {
            status: r.status,
            checked_entity: r.checked_entity,
            checked_action: r.checked_action,
            error: r.error.map(|e| Error::new(e.code, e.message)),
        })
    }

    /// Starts syncs of the request's entities into the connector's context store on the engine
    /// (in the background; an interrupted sync resumes), with the request's mode and schedule
    /// change. Search and SQL over the synced records are the `context_store_search` /
    /// `context_store_sql_query` actions of [`HostedExecutor::execute`].
    pub async fn context_store_sync(&self, request: &wire::SyncRequest) -> Result<wire::SyncStarted> {
        let id = self.connector_id().await?;
        let path = format!("/api/v1/integrations/connectors/{}/context-store/sync", encode(&id));
        self.client.call("POST", &path, Some(request)).await
    }

    /// The connector's context store: status, progress and counts of each synced entity.
    pub async fn context_store_status(&self) -> Result<wire::StoreStatus> {
        let id = self.connector_id().await?;
        let path = format!("/api/v1/integrations/connectors/{}/context-store/status", encode(&id));
        self.client.call::<(), _>("GET", &path, None).await
    }

    /// Pages through an operation's results on the engine, following the cursor each page
    /// carries (`connector_metadata.next_page`): no local copy of the spec is needed.
    pub fn paginate(
        &self,
        entity: &str,
        action: &str,
        params: Value,
        options: ExecuteOptions,
    ) -> impl Stream<Item = Result<ExecutionResult>> + Send + 'static {
        crate::paginate::pages(self.clone(), entity, action, params, options)
    }

    /// [`Self::paginate`] with each page as [`Self::execute_json`] gives it.
    pub fn paginate_json(
        &self,
        entity: &str,
        action: &str,
        params: Value,
        options: ExecuteOptions,
    ) -> impl Stream<Item = Result<JsonExecution>> + Send + 'static {
        crate::paginate::pages(self.clone(), entity, action, params, options)
    }
}

impl crate::paginate::Executor<ExecutionResult> for HostedExecutor {
    fn execute_page<'a>(
        &'a self,
        entity: &'a str,
        action: &'a str,
        params: Value,
        options: &'a ExecuteOptions,
    ) -> BoxFuture<'a, Result<ExecutionResult>> {
        Box::pin(self.execute(entity, action, params, options))
    }
}

impl crate::paginate::Executor<JsonExecution> for HostedExecutor {
    fn execute_page<'a>(
        &'a self,
        entity: &'a str,
        action: &'a str,
        params: Value,
        options: &'a ExecuteOptions,
    ) -> BoxFuture<'a, Result<JsonExecution>> {
        Box::pin(self.execute_json(entity, action, params, options))
    }
}

/// The one connector of type `slug` in `workspace_name` (or `connector_id` when given).
pub async fn connect(
    client: HostedClient,
    slug: &str,
    workspace_name: &str,
    connector_id: Option<&str>,
) -> Result<HostedExecutor> {
    let ws = Workspace::new(client, workspace_name)?;
    let lookup = match connector_id {
        Some(id) => ConnectorLookup::Id(id.to_string()),
        None => ConnectorLookup::Name(slug.to_string()),
    };
    ws.get_connector(&lookup).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A provider that never answers.
    struct Silent;

    impl TokenProvider for Silent {
        fn token(&self, _rejected: Option<String>) -> BoxFuture<'_, Result<String>> {
            Box::pin(futures::future::pending())
        }
    }

    #[tokio::test]
    async fn a_token_provider_that_never_answers_fails_within_the_timeout() {
        let client = HostedClient::new(HostedConfig {
            base_url: Some("http://127.0.0.1:1".into()),
            token_provider: Some(Arc::new(Silent)),
            timeout: Some(Duration::from_millis(200)),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let started = Instant::now();
        let e = client.token().await.err().unwrap_or_else(|| panic!("a token from a silent provider"));
        assert_eq!(e.code, ErrorCode::Authentication);
        assert!(e.message.contains("did not answer within 0.2 s"), "{}", e.message);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_base_url_ending_in_the_api_path_is_refused() {
        for url in ["http://127.0.0.1:8080/api/v1", "https://engine.example/switchboard/api/v1/"] {
            let e = HostedClient::new(HostedConfig {
                base_url: Some(url.into()),
                client_id: Some("a".into()),
                client_secret: Some("b".into()),
                ..Default::default()
            });
            let e = e.err().unwrap_or_else(|| panic!("{url} taken"));
            assert_eq!(e.code, ErrorCode::Configuration);
            assert!(e.message.contains("without /api/v1"), "{}", e.message);
        }
        let under_a_prefix = HostedClient::new(HostedConfig {
            base_url: Some("https://engine.example/switchboard/".into()),
            client_id: Some("a".into()),
            client_secret: Some("b".into()),
            ..Default::default()
        });
        assert!(under_a_prefix.is_ok());
    }

    #[test]
    fn renew_margin_is_a_tenth_capped_at_a_minute() {
        assert_eq!(renew_margin(900), Duration::from_secs(60));
        assert_eq!(renew_margin(20), Duration::from_secs(2));
        assert_eq!(renew_margin(5), Duration::from_secs(0));
    }

    #[test]
    fn config_needs_client_credentials() {
        let e = HostedClient::new(HostedConfig {
            base_url: Some("http://127.0.0.1:1".into()),
            client_id: Some("x".into()),
            ..Default::default()
        });
        let msg = e.err().map(|e| e.message).unwrap_or_default();
        assert!(msg.contains("client_secret"), "{msg}");
        let bad = HostedClient::new(HostedConfig {
            base_url: Some("ftp://x".into()),
            client_id: Some("a".into()),
            client_secret: Some("b".into()),
            ..Default::default()
        });
        assert_eq!(bad.err().map(|e| e.code), Some(ErrorCode::Configuration));
    }

    #[test]
    fn a_base_url_with_a_password_is_refused_without_quoting_it() {
        for url in
            ["http://u:tok-9f8e7d6c5b4a@127.0.0.1:1", "http://tok-9f8e7d6c5b4a@127.0.0.1:1", "tok-9f8e7d6c5b4a://x"]
        {
            let Err(e) = HostedClient::new(HostedConfig {
                base_url: Some(url.into()),
                client_id: Some("a".into()),
                client_secret: Some("b".into()),
                ..Default::default()
            }) else {
                panic!("{url} was taken")
            };
            assert_eq!(e.code, ErrorCode::Configuration, "{url}");
            assert!(e.message.contains("base_url") && !e.message.contains("9f8e7d"), "{url}: {}", e.message);
        }
    }
}
