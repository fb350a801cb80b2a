//! `switchboard mcp`: the MCP server over stdio in local mode. Connectors run in this process
//! with credentials from a file (`--credentials-file`) or the environment
//! (`SWITCHBOARD_MCP_CONNECTORS`), both the same mapping, JSON or YAML:
//!
//! ```yaml
//! work_github:                 # tool name prefix: work_github_execute
//!   connector: github          # slug, display name or definition id (default: the key)
//!   credentials: {personal_access_token: ghp_...}
//!   config: {base_url: https://api.github.com}   # optional
//! ```
//!
//! Hosted mode over stdio (`--hosted`): the tools are a workspace's stored connectors, run
//! through the engine with core's hosted client, named by connector name as on `/mcp`. With
//! client credentials (`SWITCHBOARD_API_URL`, `SWITCHBOARD_CLIENT_ID` /
//! `SWITCHBOARD_CLIENT_SECRET` and `--workspace`) the server holds a scoped token of that
//! workspace, not the application token: the engine confines every call to the workspace. The
//! scoped token is renewed shortly before it expires (by the wall clock, so a laptop that slept
//! renews on its next call) and again whenever the engine refuses it, so a desktop session lasts
//! as long as the client credentials do. A scoped token given alone (`SWITCHBOARD_SCOPED_TOKEN`)
//! cannot be renewed: calls fail with `authentication` once it expires.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use rmcp::model::{CallToolRequestParams, CallToolResponse, ListToolsResult, PaginatedRequestParams, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};
use serde::Deserialize;
use serde_json::{json, Value};
use switchboard_core::hosted::{HostedClient, HostedConfig, HostedExecutor, TokenProvider, Workspace};
use switchboard_core::sdk::{ClientSettings, ExecuteRequest, Executor};
use switchboard_core::wire::{WorkspaceRef, WorkspaceToken};
use switchboard_core::{Connector, ConnectorOptions, Error, Registry};

use super::{
    connector_label, describe_result, error_result_with, resolve, server_info, success_result, tools, tools_page,
    unique_prefixes, Call, Entry, ToolStyle,
};

/// One connector of the credentials file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectorEntry {
    #[serde(default)]
    connector: Option<String>,
    #[serde(default)]
    credentials: Value,
    #[serde(default)]
    config: Value,
}

/// Parses the credentials mapping (JSON, or YAML); `what` names where it came from. The text is
/// never echoed: it holds secrets.
pub fn parse_connectors(what: &str, text: &str) -> Result<BTreeMap<String, Value>, Error> {
    let parsed: Result<BTreeMap<String, Value>, String> = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| format!("line {}, column {}", e.line(), e.column()))
    } else {
        serde_norway::from_str(text).map_err(|e| match e.location() {
            Some(l) => format!("line {}, column {}", l.line(), l.column()),
            None => "not a mapping".into(),
        })
    };
    parsed.map_err(|at| {
        Error::configuration(format!(
            "{what} is not a JSON or YAML mapping of name -> {{connector, credentials, config}} ({at})"
        ))
    })
}

/// Scoped tokens of one workspace, minted with an application's client credentials: the
/// current one is handed out until shortly before it expires (a tenth of its lifetime, at most
/// a minute, by the wall clock) or until the engine refuses it, then a new one is minted, once
/// for all waiting calls.
pub struct ScopedTokens {
    app: HostedClient,
    workspace: String,
    current: tokio::sync::Mutex<Option<Minted>>,
    minted: std::sync::atomic::AtomicU64,
}

struct Minted {
    token: String,
    renew_at: SystemTime,
}

impl ScopedTokens {
    /// Tokens of `workspace` minted through `app` (a client holding client credentials).
    pub fn new(app: HostedClient, workspace: String) -> Self {
        Self { app, workspace, current: tokio::sync::Mutex::new(None), minted: Default::default() }
    }

    /// How many scoped tokens were minted so far.
    pub fn minted(&self) -> u64 {
        self.minted.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl TokenProvider for ScopedTokens {
    fn token(&self, rejected: Option<String>) -> BoxFuture<'_, Result<String, Error>> {
        Box::pin(async move { Ok(self.token_until(rejected).await?.0) })
    }

    fn token_until(&self, rejected: Option<String>) -> BoxFuture<'_, Result<(String, Option<SystemTime>), Error>> {
        Box::pin(async move {
            let mut slot = self.current.lock().await;
            if let Some(m) = slot.as_ref() {
                let refused = rejected.as_deref() == Some(m.token.as_str());
                if !refused && SystemTime::now() < m.renew_at {
                    return Ok((m.token.clone(), Some(m.renew_at)));
                }
            }
            let body = WorkspaceRef { workspace_name: Some(self.workspace.clone()), ..WorkspaceRef::default() };
            let t: WorkspaceToken = self.app.call("POST", "/api/v1/embedded/scoped-token", Some(&body)).await?;
            self.minted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let margin = Duration::from_secs((t.expires_in / 10).min(60));
            let renew_at = SystemTime::now() + Duration::from_secs(t.expires_in).saturating_sub(margin);
            *slot = Some(Minted { token: t.token.clone(), renew_at });
            Ok((t.token, Some(renew_at)))
        })
    }
}

/// The engine client of a hosted stdio server, from client settings (and the environment): a
/// scoped token is used as it is; client credentials mint scoped tokens of `workspace` (which
/// they then require), renewed by core's client shortly before they expire and whenever the
/// engine refuses one.
pub fn hosted_client(settings: ClientSettings, workspace: Option<&str>) -> Result<HostedClient, Error> {
    let config = settings.resolve(None)?;
    if config.scoped_token.as_deref().is_some_and(|t| !t.trim().is_empty()) {
        return HostedClient::new(config);
    }
    let app = HostedClient::new(config.clone())?;
    let workspace = workspace.map(str::trim).filter(|w| !w.is_empty()).ok_or_else(|| {
        Error::configuration(
            "--workspace (or SWITCHBOARD_WORKSPACE_NAME) is required with client credentials: the server \
             holds a scoped token of that workspace",
        )
    })?;
    let tokens = Arc::new(ScopedTokens::new(app, workspace.to_string()));
    HostedClient::new(HostedConfig {
        token_provider: Some(tokens),
        client_id: None,
        client_secret: None,
        scoped_token: None,
        ..config
    })
}

/// What a tool runs on: a connector in this process, or a stored connector (by id) on the
/// engine.
#[derive(Clone)]
pub enum Target {
    Local(Executor),
    Hosted(String),
}

/// The stdio server: the configured connectors (local) or a workspace's (hosted), each a tool.
#[derive(Clone)]
pub struct LocalServer {
    entries: Arc<Vec<Entry<Target>>>,
    hosted: Option<HostedClient>,
    max_output_chars: usize,
    style: ToolStyle,
}

impl LocalServer {
    /// Opens every connector of `mapping` (name -> entry) with `registry`.
    pub fn new(
        registry: &Registry,
        mapping: BTreeMap<String, Value>,
        max_output_chars: usize,
        style: ToolStyle,
    ) -> Result<Self, Error> {
        if mapping.is_empty() {
            return Err(Error::configuration(
                "no connectors: give --credentials-file FILE or SWITCHBOARD_MCP_CONNECTORS (name -> {connector, \
                 credentials, config})",
            ));
        }
        let mut parsed = Vec::new();
        for (name, v) in mapping {
            // A mapping only (serde would read a list as the entry's fields in order, a token
            // in it as the connector's name), and without the values serde quotes: a token
            // written where the entry was due (`github: ghp_...`) would be in the message, on
            // stderr, in the host's logs.
            if !v.is_object() {
                return Err(Error::configuration(format!(
                    "connector {name:?}: expected a mapping {{connector, credentials, config}}, got {}",
                    switchboard_core::connector::type_name(&v)
                )));
            }
            let e: ConnectorEntry = serde_json::from_value(v).map_err(|e| {
                let why = switchboard_core::redact::without_values(&e.to_string());
                Error::configuration(format!("connector {name:?}: expected {{connector, credentials, config}}: {why}"))
            })?;
            let spec = registry.get(e.connector.as_deref().unwrap_or(&name))?;
            parsed.push((name, spec, e));
        }
        let keys: Vec<(&str, &str, &str)> =
            parsed.iter().map(|(n, s, _)| (n.as_str(), s.slug.as_str(), s.slug.as_str())).collect();
        let prefixes = unique_prefixes(&keys, false);
        let mut entries = Vec::new();
        for ((_, spec, e), prefix) in parsed.into_iter().zip(prefixes) {
            let or_empty = |v: Value| if v.is_null() { json!({}) } else { v };
            let c =
                Connector::new(spec.clone(), or_empty(e.credentials), or_empty(e.config), ConnectorOptions::default())?;
            entries.push(Entry { prefix, spec, label: None, target: Target::Local(Executor::from(c)) });
        }
        Ok(Self { entries: Arc::new(entries), hosted: None, max_output_chars, style })
    }

    /// The connectors of workspace `workspace` (or a scoped token's own) in the engine that
    /// `settings` (and the environment) name; types `registry` does not load are left out.
    pub async fn hosted(
        registry: &Registry,
        settings: ClientSettings,
        workspace: Option<String>,
        max_output_chars: usize,
        style: ToolStyle,
    ) -> Result<Self, Error> {
        let client = hosted_client(settings, workspace.as_deref())?;
        let ws = Workspace::for_client(client.clone(), workspace)?;
        let listed: Vec<_> = ws
            .list_connectors()
            .await?
            .into_iter()
            .filter_map(|c| registry.get(&c.slug).ok().map(|spec| (c, spec)))
            .collect();
        let keys: Vec<(&str, &str, &str)> =
            listed.iter().map(|(c, _)| (c.name.as_str(), c.slug.as_str(), c.id.as_str())).collect();
        let prefixes = unique_prefixes(&keys, false);
        let entries = listed
            .into_iter()
            .zip(prefixes)
            .map(|((c, spec), prefix)| {
                let label = connector_label(&c.name, &c.connector_type, &c.id, None);
                Entry { prefix, spec, label: Some(label), target: Target::Hosted(c.id) }
            })
            .collect();
        Ok(Self { entries: Arc::new(entries), hosted: Some(client), max_output_chars, style })
    }

    /// The executor of `target`: a hosted connector gets a client holding a current token.
    fn executor(&self, target: &Target) -> Result<Executor, Error> {
        match (target, &self.hosted) {
            (Target::Local(e), _) => Ok(e.clone()),
            (Target::Hosted(id), Some(client)) => Ok(Executor::from(HostedExecutor::by_id(client.clone(), id.clone()))),
            (Target::Hosted(_), None) => Err(Error::internal("a hosted connector without an engine client")),
        }
    }

    /// Serves MCP on stdin / stdout until the client closes them.
    pub async fn serve_stdio(self) -> Result<(), Error> {
        let (streams, tasks) = super::stdio::streams();
        let running =
            self.serve(streams).await.map_err(|e| Error::internal(format!("the MCP session did not start: {e}")));
        let ended = match running {
            Ok(running) => {
                running.waiting().await.map(|_| ()).map_err(|e| Error::internal(format!("the MCP session failed: {e}")))
            }
            Err(e) => Err(e),
        };
        // rmcp's streams are gone with its session: what it wrote reaches stdout before the end.
        tasks.finish().await;
        ended
    }
}

impl ServerHandler for LocalServer {
    fn get_info(&self) -> ServerConfig {
        server_info()
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        tools_page(tools(&self.entries, self.style), request.as_ref())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let result = match resolve(&self.entries, self.style, &request)? {
            Err(bad) => bad,
            Ok(Call::Describe(e)) => describe_result(e, self.style, self.max_output_chars),
            Ok(Call::Execute(e, args)) => {
                let opts = args.options();
                let request = ExecuteRequest {
                    params: args.params(),
                    select_fields: opts.select_fields,
                    exclude_fields: opts.exclude_fields,
                    ..ExecuteRequest::new(args.entity, args.action, serde_json::Value::Null)
                };
                let run = async { self.executor(&e.target)?.execute(request).await };
                match run.await {
                    Ok(r) => success_result(&r, self.max_output_chars),
                    Err(err) => error_result_with(
                        err.code,
                        &err.message,
                        err.details.as_ref(),
                        err.retry_after,
                        err.request_id.as_deref(),
                    ),
                }
            }
        };
        Ok(result.into())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use futures::future::BoxFuture;
    use switchboard_core::http::{HttpClient, HttpRequest, HttpResponse, TransportError};

    use super::*;

    /// An engine behind core's HTTP seam: issues application tokens and scoped tokens
    /// (`scoped-1`, `scoped-2`, ...) living `ttl` seconds, refuses the scoped tokens in
    /// `refused` with the engine's 401, and answers execute with one record; every request's
    /// path and bearer token is recorded.
    #[derive(Debug, Default)]
    struct FakeEngine {
        ttl: u64,
        scoped: Mutex<u64>,
        refused: Mutex<Vec<String>>,
        sent: Mutex<Vec<(String, String)>>,
    }

    fn answer(status: u16, body: Value) -> HttpResponse {
        HttpResponse { status, headers: vec![], body: body.to_string().into_bytes() }
    }

    impl HttpClient for FakeEngine {
        fn send(&self, req: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
            Box::pin(async move {
                let path = req.url.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap_or_default();
                let bearer = req
                    .headers
                    .iter()
                    .find(|(k, _)| k == "authorization")
                    .map(|(_, v)| v.trim_start_matches("Bearer ").to_string())
                    .unwrap_or_default();
                self.sent.lock().unwrap_or_else(|e| e.into_inner()).push((path.clone(), bearer.clone()));
                Ok(match path.as_str() {
                    "/api/v1/account/applications/token" => answer(
                        200,
                        json!({"access_token": "app-1", "token_type": "bearer", "expires_in": 900, "organization_id": "o"}),
                    ),
                    "/api/v1/embedded/scoped-token" if bearer == "app-1" => {
                        let mut n = self.scoped.lock().unwrap_or_else(|e| e.into_inner());
                        *n += 1;
                        answer(
                            200,
                            json!({"token": format!("scoped-{n}"), "expires_in": self.ttl, "workspace_id": "w", "workspace_name": "ws"}),
                        )
                    }
                    p if p.ends_with("/execute") && bearer.starts_with("scoped-") => {
                        if self.refused.lock().unwrap_or_else(|e| e.into_inner()).contains(&bearer) {
                            answer(
                                401,
                                json!({"code": "authentication", "message": "the token has expired", "details": {"reason": "expired"}}),
                            )
                        } else {
                            answer(200, json!({"result": [{"number": 5}], "connector_metadata": {"pagination": {}}}))
                        }
                    }
                    _ => answer(401, json!({"code": "authentication", "message": "wrong token kind"})),
                })
            })
        }
    }

    impl FakeEngine {
        fn sent(&self) -> Vec<(String, String)> {
            self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
        }
    }

    fn auth(engine: &Arc<FakeEngine>) -> (HostedClient, Arc<ScopedTokens>) {
        let config = HostedConfig {
            base_url: Some("http://engine.test".into()),
            client_id: Some("sb_client".into()),
            client_secret: Some("client-secret".into()),
            http: Some(engine.clone()),
            ..HostedConfig::default()
        };
        let app = HostedClient::new(config.clone()).unwrap_or_else(|e| panic!("{e:?}"));
        let tokens = Arc::new(ScopedTokens::new(app, "ws".into()));
        let client = HostedClient::new(HostedConfig {
            token_provider: Some(tokens.clone()),
            client_id: None,
            client_secret: None,
            ..config
        })
        .unwrap_or_else(|e| panic!("{e:?}"));
        (client, tokens)
    }

    async fn run(client: &HostedClient) -> Result<Value, Error> {
        let r = Executor::from(HostedExecutor::by_id(client.clone(), "c1"))
            .execute(ExecuteRequest::new("issues", "list", json!({})))
            .await?;
        Ok(r.data)
    }

    fn executes(engine: &FakeEngine) -> Vec<String> {
        engine.sent().into_iter().filter(|(p, _)| p.ends_with("/execute")).map(|(_, t)| t).collect()
    }

    #[tokio::test]
    async fn client_credentials_hold_a_scoped_token_renewed_after_a_refusal() {
        let engine = Arc::new(FakeEngine { ttl: 1200, ..FakeEngine::default() });
        let (auth, tokens) = auth(&engine);
        for _ in 0..3 {
            assert_eq!(run(&auth).await.unwrap_or_else(|e| panic!("{e:?}")), json!([{"number": 5}]));
        }
        // One scoped token for all three calls; the application token only ever minted it.
        assert_eq!(tokens.minted(), 1);
        assert_eq!(executes(&engine), ["scoped-1"; 3]);
        assert!(engine.sent().iter().all(|(p, t)| t != "app-1" || p == "/api/v1/embedded/scoped-token"));

        // The engine refuses the token before its time (restarted with new keys, say): the call
        // is answered after one renewal, and the next calls keep the new token.
        engine.refused.lock().unwrap_or_else(|e| e.into_inner()).push("scoped-1".into());
        assert_eq!(run(&auth).await.unwrap_or_else(|e| panic!("{e:?}")), json!([{"number": 5}]));
        assert_eq!(run(&auth).await.unwrap_or_else(|e| panic!("{e:?}")), json!([{"number": 5}]));
        assert_eq!(tokens.minted(), 2);
        assert_eq!(executes(&engine)[3..], ["scoped-1", "scoped-2", "scoped-2"]);
    }

    #[tokio::test]
    async fn scoped_tokens_are_renewed_before_they_expire() {
        // A lifetime of 0 s: each token is due for renewal at once, so every call mints a new
        // one and no call is sent with a token the engine would refuse.
        let engine = Arc::new(FakeEngine { ttl: 0, ..FakeEngine::default() });
        let (auth, tokens) = auth(&engine);
        for _ in 0..3 {
            run(&auth).await.unwrap_or_else(|e| panic!("{e:?}"));
        }
        assert_eq!(tokens.minted(), 3);
        assert_eq!(executes(&engine), ["scoped-1", "scoped-2", "scoped-3"]);
    }

    #[tokio::test]
    async fn client_credentials_without_a_workspace_are_a_configuration_error() {
        let settings = ClientSettings {
            base_url: Some("http://engine.test".into()),
            client_id: Some("sb_client".into()),
            client_secret: Some("client-secret".into()),
            ..ClientSettings::default()
        };
        match hosted_client(settings, Some("  ")) {
            Err(e) => {
                assert!(e.code == switchboard_core::ErrorCode::Configuration && e.message.contains("--workspace"))
            }
            Ok(_) => panic!("client credentials without a workspace were accepted"),
        }
    }

    /// An entry written as a scalar, or a field of the wrong type (a token where an entry or a
    /// mapping was due, an easy mistake in a hand-written file), is a configuration error that
    /// names the shape, never the value: it goes to stderr and the host's logs.
    #[test]
    fn a_malformed_entry_is_refused_without_its_value() {
        let registry = Registry::builtin().unwrap_or_else(|e| panic!("{e}"));
        for entry in [
            json!("ghp_scalar_secret_1234"),
            json!({"credentials": "ghp_scalar_secret_1234"}),
            json!({"connector": 1234567890123_i64, "credentials": {}}),
            json!(["ghp_scalar_secret_1234"]),
        ] {
            let mapping = BTreeMap::from([("github".to_string(), entry.clone())]);
            let e = LocalServer::new(registry, mapping, 1000, ToolStyle::Connector).err();
            let e = e.unwrap_or_else(|| panic!("{entry} was accepted"));
            use switchboard_core::ErrorCode::{Configuration, Validation};
            assert!(matches!(e.code, Configuration | Validation), "{entry}: {e}");
            for value in ["ghp_scalar_secret_1234", "1234567890123"] {
                assert!(!e.message.contains(value), "{entry}: {}", e.message);
            }
        }
    }
}
