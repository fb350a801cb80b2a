//! Hosted mode: the client side of the engine's HTTP API. The engine holds the credentials; the
//! SDK holds only client credentials, fetches the application token itself, keeps it until
//! shortly before it expires, fetches a new one once however many calls wait for it, and retries
//! a call once after a 401 with a fresh token.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::connector::{CheckResult, ExecuteOptions, ExecutionResult};
use crate::error::{Error, ErrorCode, Result};
use crate::http::{HttpClient, HttpRequest, ReqwestClient, TransportError};
use crate::registry::Registry;

/// Where the engine is and who the caller is. Unset fields fall back to `SWITCHBOARD_API_URL`,
/// `SWITCHBOARD_CLIENT_ID`, `SWITCHBOARD_CLIENT_SECRET` and `SWITCHBOARD_ORGANIZATION_ID`.
#[derive(Clone, Default)]
pub struct HostedConfig {
    pub base_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub organization_id: Option<String>,
    /// Time allowed for one call to the engine (default 120 s: the engine itself retries upstreams).
    pub timeout: Option<Duration>,
    /// The HTTP seam; the shared client when `None`.
    pub http: Option<Arc<dyn HttpClient>>,
}

impl std::fmt::Debug for HostedConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostedConfig")
            .field("base_url", &self.base_url)
            .field("client_id", &self.client_id)
            .field("organization_id", &self.organization_id)
            .finish_non_exhaustive()
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080";

struct CachedToken {
    token: String,
    refresh_at: Instant,
    generation: u64,
}

struct ClientInner {
    base_url: String,
    client_id: String,
    client_secret: String,
    organization_id: Option<String>,
    timeout: Duration,
    http: Arc<dyn HttpClient>,
    token: tokio::sync::Mutex<Option<CachedToken>>,
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

impl HostedClient {
    /// A client from `config`, falling back to the environment.
    pub fn new(config: HostedConfig) -> Result<Self> {
        let base_url =
            config.base_url.or_else(|| env("SWITCHBOARD_API_URL")).unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
        let base = url::Url::parse(&base_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| Error::configuration(format!("base_url {base_url:?} is not an http(s) URL")))?;
        let client_id = config
            .client_id
            .or_else(|| env("SWITCHBOARD_CLIENT_ID"))
            .ok_or_else(|| Error::configuration("client_id is required (or set SWITCHBOARD_CLIENT_ID)"))?;
        let client_secret = config
            .client_secret
            .or_else(|| env("SWITCHBOARD_CLIENT_SECRET"))
            .ok_or_else(|| Error::configuration("client_secret is required (or set SWITCHBOARD_CLIENT_SECRET)"))?;
        Ok(Self {
            inner: Arc::new(ClientInner {
                base_url: base.as_str().trim_end_matches('/').to_string(),
                client_id,
                client_secret,
                organization_id: config.organization_id.or_else(|| env("SWITCHBOARD_ORGANIZATION_ID")),
                timeout: config.timeout.unwrap_or(Duration::from_secs(120)),
                http: config.http.unwrap_or_else(ReqwestClient::shared),
                token: tokio::sync::Mutex::new(None),
                fetches: AtomicU64::new(0),
            }),
        })
    }

    /// The engine's base URL.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// How many application tokens this client fetched (for tests and metrics).
    pub fn token_fetches(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// A valid application token and its generation, fetched once for all waiting callers.
    async fn token(&self) -> Result<(String, u64)> {
        let mut slot = self.inner.token.lock().await;
        if let Some(t) = slot.as_ref() {
            if Instant::now() < t.refresh_at {
                return Ok((t.token.clone(), t.generation));
            }
        }
        let generation = slot.as_ref().map(|t| t.generation + 1).unwrap_or(1);
        let body = json!({"client_id": self.inner.client_id, "client_secret": self.inner.client_secret});
        let answer = self.send("POST", "/api/v1/account/applications/token", Some(&body), None).await?;
        self.inner.fetches.fetch_add(1, Ordering::Relaxed);
        let token = answer
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                Error::new(ErrorCode::Authentication, "the engine answered the token request without an access_token")
            })?
            .to_string();
        let expires_in = answer.get("expires_in").and_then(Value::as_u64).unwrap_or(900);
        let lifetime = Duration::from_secs(expires_in).saturating_sub(renew_margin(expires_in));
        *slot = Some(CachedToken { token: token.clone(), refresh_at: Instant::now() + lifetime, generation });
        Ok((token, generation))
    }

    /// Drops the cached token if it is still the one of `generation`.
    async fn invalidate(&self, generation: u64) {
        let mut slot = self.inner.token.lock().await;
        if slot.as_ref().is_some_and(|t| t.generation == generation) {
            if let Some(t) = slot.as_mut() {
                t.refresh_at = Instant::now();
            }
        }
    }

    /// One authenticated call to the engine; a 401 is retried once with a fresh token.
    pub async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let (token, generation) = self.token().await?;
        match self.send(method, path, body, Some(&token)).await {
            // Only a rejected application token is retried: an upstream that rejected the
            // stored credentials (`details.upstream_status`) would reject them again.
            Err(e)
                if e.code == ErrorCode::Authentication
                    && e.details.as_ref().and_then(|d| d.get("upstream_status")).is_none() =>
            {
                self.invalidate(generation).await;
                let (token, _) = self.token().await?;
                self.send(method, path, body, Some(&token)).await
            }
            other => other,
        }
    }

    async fn send(&self, method: &str, path: &str, body: Option<&Value>, token: Option<&str>) -> Result<Value> {
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
        let resp = self.inner.http.send(req).await.map_err(|e| match e {
            TransportError::Timeout => Error::new(ErrorCode::UpstreamTimeout, "the engine did not answer in time"),
            TransportError::Connect(m) | TransportError::Other(m) => Error::new(
                ErrorCode::Network,
                format!("the engine at {} could not be reached: {m}", self.inner.base_url),
            ),
        })?;
        let value: Value =
            if resp.body.is_empty() { Value::Null } else { serde_json::from_slice(&resp.body).unwrap_or(Value::Null) };
        if (200..300).contains(&resp.status) {
            return Ok(value);
        }
        let code = value
            .get("code")
            .and_then(Value::as_str)
            .and_then(ErrorCode::parse)
            .unwrap_or_else(|| crate::upstream::code_for_status(resp.status));
        let message = value
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("the engine answered HTTP {}", resp.status));
        let mut e = Error::new(code, message).with_status(resp.status).with_request_id(
            value
                .get("request_id")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| resp.header("x-request-id").map(str::to_string)),
        );
        e.details = value.get("details").cloned().filter(|d| !d.is_null());
        if code == ErrorCode::RateLimited {
            e.retry_after = crate::upstream::retry_after(&resp).or(Some(1.0));
        }
        Err(e)
    }
}

/// A stored connector as the engine describes it (never its credentials).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorInfo {
    pub id: String,
    pub name: String,
    pub connector_type: String,
    pub definition_id: String,
    pub workspace_name: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

impl ConnectorInfo {
    fn from_json(v: &Value) -> Result<Self> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        Ok(Self {
            id: s("id").ok_or_else(|| Error::internal("the engine answered a connector without an id"))?,
            name: s("name").unwrap_or_default(),
            connector_type: s("connector_type")
                .or_else(|| {
                    v.get("summarized_source_template")
                        .and_then(|t| t.get("slug"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .unwrap_or_default(),
            definition_id: s("definition_id").unwrap_or_default(),
            workspace_name: s("workspace_name"),
            created_at: s("created_at"),
            updated_at: s("updated_at"),
        })
    }
}

/// A connector to create.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NewConnector {
    /// Slug, display name or definition id.
    pub connector_type: String,
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

/// One end customer's workspace, managed with the application's credentials.
#[derive(Debug, Clone)]
pub struct Workspace {
    client: HostedClient,
    name: String,
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl Workspace {
    /// The workspace called `name` (created by the engine on first use).
    pub fn new(client: HostedClient, name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        if name.trim().is_empty() {
            return Err(Error::configuration("workspace_name is required (or external_user_id)"));
        }
        Ok(Self { client, name })
    }

    /// The workspace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client this workspace uses.
    pub fn client(&self) -> &HostedClient {
        &self.client
    }

    /// Stores a connector with its credentials; returns what the engine stored.
    pub async fn create_connector(&self, c: NewConnector) -> Result<ConnectorInfo> {
        let mut body = json!({
            "connector_type": c.connector_type,
            "workspace_name": self.name,
            "credentials": c.credentials,
        });
        if let Some(n) = c.name {
            body["name"] = json!(n);
        }
        if let Some(r) = c.replication_config {
            body["replication_config"] = r;
        }
        if let Some(cfg) = c.config {
            body["config"] = cfg;
        }
        let v = self.client.call("POST", "/api/v1/integrations/connectors", Some(&body)).await?;
        ConnectorInfo::from_json(&v)
    }

    /// The workspace's connectors.
    pub async fn list_connectors(&self) -> Result<Vec<ConnectorInfo>> {
        let v = self
            .client
            .call("GET", &format!("/api/v1/integrations/connectors?workspace_name={}", encode(&self.name)), None)
            .await?;
        v.get("data")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(ConnectorInfo::from_json).collect())
            .unwrap_or_else(|| Ok(Vec::new()))
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
            0 => Err(Error::new(ErrorCode::NotFound, format!("workspace {:?} has no connector {what}", self.name))),
            1 => Ok(matches.remove(0)),
            n => Err(Error::new(
                ErrorCode::Conflict,
                format!(
                    "workspace {:?} has {n} connectors matching {what} ({}); pass connector_id to pick one",
                    self.name,
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
        self.client.call("DELETE", &format!("/api/v1/integrations/connectors/{}", encode(connector_id)), None).await?;
        Ok(())
    }
}

#[derive(Debug, Clone)]
enum Target {
    Id(String),
    /// A connector type (slug, name or definition id) in a workspace, found with
    /// [`Workspace::find_connector`].
    Lookup {
        workspace_name: String,
        connector_type: String,
    },
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
    pub fn by_definition(client: HostedClient, workspace_name: impl Into<String>, definition: &str) -> Result<Self> {
        let workspace_name = workspace_name.into();
        if workspace_name.trim().is_empty() {
            return Err(Error::configuration("workspace_name is required with connector_definition_id"));
        }
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

    /// The connector this executor runs, looked up once.
    pub async fn connector(&self) -> Result<ConnectorInfo> {
        self.resolved
            .get_or_try_init(|| async {
                match &self.target {
                    Target::Id(id) => {
                        let v = self
                            .client
                            .call("GET", &format!("/api/v1/integrations/connectors/{}", encode(id)), None)
                            .await?;
                        ConnectorInfo::from_json(&v)
                    }
                    Target::Lookup { workspace_name, connector_type } => {
                        let ws = Workspace::new(self.client.clone(), workspace_name.clone())?;
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
        let id = self.connector_id().await?;
        let mut body = json!({"entity": entity, "action": action, "params": params});
        if !options.select_fields.is_empty() {
            body["select_fields"] = json!(options.select_fields);
        }
        if !options.exclude_fields.is_empty() {
            body["exclude_fields"] = json!(options.exclude_fields);
        }
        if options.skip_truncation {
            body["skip_truncation"] = json!(true);
        }
        let v = self
            .client
            .call("POST", &format!("/api/v1/integrations/connectors/{}/execute", encode(&id)), Some(&body))
            .await?;
        let mut meta: Map<String, Value> =
            v.get("connector_metadata").and_then(Value::as_object).cloned().unwrap_or_default();
        if let Some(Value::Object(p)) = meta.remove("pagination") {
            meta = p;
        }
        Ok(ExecutionResult { data: v.get("result").cloned().unwrap_or(Value::Null), meta })
    }

    /// Runs the connector's health check on the engine.
    pub async fn check(&self) -> Result<CheckResult> {
        let id = self.connector_id().await?;
        let v =
            self.client.call("POST", &format!("/api/v1/integrations/connectors/{}/check", encode(&id)), None).await?;
        let error = v.get("error").filter(|e| !e.is_null()).map(|e| {
            let code =
                e.get("code").and_then(Value::as_str).and_then(ErrorCode::parse).unwrap_or(ErrorCode::UpstreamHttp);
            Error::new(code, e.get("message").and_then(Value::as_str).unwrap_or_default())
        });
        Ok(CheckResult {
            status: v.get("status").and_then(Value::as_str).unwrap_or("unhealthy").to_string(),
            checked_entity: v.get("checked_entity").and_then(Value::as_str).map(str::to_string),
            checked_action: v.get("checked_action").and_then(Value::as_str).map(str::to_string),
            error,
        })
    }

    /// Pages through an operation's results on the engine, following the connector's cursor.
    pub async fn paginate(
        &self,
        entity: &str,
        action: &str,
        params: Value,
        options: ExecuteOptions,
    ) -> Result<impl Stream<Item = Result<ExecutionResult>> + Send + 'static> {
        let info = self.connector().await?;
        let spec = Registry::shared()?.get(&info.connector_type)?;
        Ok(crate::paginate::pages(self.clone(), spec, entity, action, params, options))
    }
}

impl crate::paginate::Executor for HostedExecutor {
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
        assert!(msg.contains("client_secret") || std::env::var("SWITCHBOARD_CLIENT_SECRET").is_ok(), "{msg}");
        let bad = HostedClient::new(HostedConfig {
            base_url: Some("ftp://x".into()),
            client_id: Some("a".into()),
            client_secret: Some("b".into()),
            ..Default::default()
        });
        assert_eq!(bad.err().map(|e| e.code), Some(ErrorCode::Configuration));
    }
}
