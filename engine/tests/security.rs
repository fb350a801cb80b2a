//! The standing security suite, on SQLite and on PostgreSQL: an isolation matrix over every
//! route the engine documents (read from the OpenAPI document it serves, so a new route without
//! a row here fails) and every kind of caller, and a table of token attacks. `SECURITY.md` at the
//! repository root names the claims these tests check.

mod common;

use std::collections::BTreeSet;

use common::{call, start, Answer, Engine};
use fake_upstream::{creds, FakeUpstream};
use serde_json::{json, Value};
use switchboard_engine::tokens::{claims, TokenKind, IAT_LEEWAY_SECS, LEEWAY_SECS};

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The widget token's own origin.
const ORIGIN: &str = "https://a.example";
/// The owner's workspace; the other workspace of the same organization.
const WS_A1: &str = "ws-a1";
const WS_A2: &str = "ws-a2";

/// Who calls. The owner's objects are organization A's workspace `ws-a1` and its connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A's application token.
    App,
    /// A scoped token of `ws-a1`.
    Scoped,
    /// A widget token of `ws-a1`, sent from its origin.
    Widget,
    NoToken,
    /// A's application token, expired a minute ago.
    Expired,
    /// The application token of another organization.
    OtherOrg,
    /// A scoped token of `ws-a2`, a workspace of the same organization.
    OtherWorkspace,
}

/// The columns of [`MATRIX`], in order.
const KINDS: [Kind; 7] =
    [Kind::App, Kind::Scoped, Kind::Widget, Kind::NoToken, Kind::Expired, Kind::OtherOrg, Kind::OtherWorkspace];

/// What a row sends, always naming the owner's objects.
#[derive(Debug, Clone, Copy)]
enum Send {
    Nothing,
    /// A's client id and secret.
    ClientCredentials,
    /// `{workspace_name: ws-a1}`.
    Workspace,
    /// `{workspace_name: ws-a1, allowed_origin}`.
    WidgetOrigin,
    /// A GitHub connector in `ws-a1`, pointed at the fake.
    NewConnector,
    /// The connector's own name again.
    Rename,
    /// `issues` / `list` on the fake.
    Execute,
    /// An MCP `tools/list` (JSON-RPC over streamable HTTP).
    McpList,
    /// An OAuth client (id and secret) for the connector type in the path.
    OAuthClient,
    /// `{connector_type: hubspot, workspace_name: ws-a1}`: an OAuth consent to start.
    OAuthInitiate,
    /// `{allowed_templates: null}`: the application's allow-list removed (every type).
    AllowedTemplates,
}

/// One route and method (as the OpenAPI document names them), the query and body it is sent
/// with (`{id}` is the owner's connector), and the status each kind of caller must get, in the
/// order of [`KINDS`]: app, scoped, widget, no token, expired, other org, other workspace.
struct Row {
    method: &'static str,
    path: &'static str,
    query: &'static str,
    send: Send,
    expect: [u16; 7],
}

const fn row(method: &'static str, path: &'static str, query: &'static str, send: Send, expect: [u16; 7]) -> Row {
    Row { method, path, query, send, expect }
}

/// Callable without a token: whatever is (or is not) in `Authorization`, the same answer.
const PUBLIC: [u16; 7] = [200; 7];
/// Needs an application token; another organization gets its own objects.
const APP_ONLY: [u16; 7] = [200, 401, 401, 401, 401, 200, 401];
/// Any token; nothing workspace-specific.
const ANY: [u16; 7] = [200, 200, 200, 401, 401, 200, 200];
/// A workspace named in the query or body: the other workspace's scoped token is refused.
const NAMES_WS: [u16; 7] = [200, 200, 200, 401, 401, 200, 403];
/// The owner's connector by id; application and scoped tokens only (widgets never run anything).
const RUNS: [u16; 7] = [200, 200, 401, 401, 401, 404, 404];
/// A context store sync sent no body: its owner's tokens get 422 `no_entities`.
const SYNC_NO_BODY: [u16; 7] = [422, 422, 401, 401, 401, 404, 404];
/// `/mcp`: application and scoped tokens only; a foreign caller is answered with its own tools
/// (`mcp_tools_are_the_callers_own` checks which).
const MCP: [u16; 7] = [200, 200, 401, 401, 401, 200, 200];
/// GET and DELETE `/mcp`: the stateless server offers no stream and no session (405), after the
/// same token check.
const MCP_STATELESS: [u16; 7] = [405, 405, 401, 401, 401, 405, 405];

/// The isolation matrix. `matrix_covers_every_route` fails when a route is served without a
/// row here, or a row names a route that is not served.
const MATRIX: &[Row] = &[
    row("post", "/api/v1/account/applications/token", "", Send::ClientCredentials, PUBLIC),
    row("post", "/api/v1/applications/token", "", Send::ClientCredentials, PUBLIC),
    row("post", "/api/v1/embedded/scoped-token", "", Send::Workspace, APP_ONLY),
    row("post", "/api/v1/embedded/widget-token", "", Send::WidgetOrigin, APP_ONLY),
    row("post", "/api/v1/account/applications/widget-token", "", Send::WidgetOrigin, APP_ONLY),
    row("get", "/api/v1/embedded/scoped-token/info", "", Send::Nothing, [401, 200, 200, 401, 401, 401, 200]),
    // The application's template allow-list: its own only (another organization's application
    // reads and sets its own); sent `null` (every type), so the rows after it are unchanged.
    row("get", "/api/v1/embedded/allowed-templates", "", Send::Nothing, APP_ONLY),
    row("put", "/api/v1/embedded/allowed-templates", "", Send::AllowedTemplates, APP_ONLY),
    row("get", "/api/v1/integrations/definitions/sources", "?name=git", Send::Nothing, PUBLIC),
    row("get", "/api/v1/integrations/icons/{slug}", "", Send::Nothing, PUBLIC),
    row("get", "/api/v1/integrations/templates/sources", "", Send::Nothing, ANY),
    row("get", "/api/v1/workspaces", "?name_contains=ws", Send::Nothing, APP_ONLY),
    row("get", "/api/v1/integrations/connectors", "?workspace_name=ws-a1", Send::Nothing, NAMES_WS),
    row("post", "/api/v1/integrations/connectors", "", Send::NewConnector, [201, 201, 201, 401, 401, 201, 403]),
    row("post", "/v1/integrations/sources", "", Send::NewConnector, [201, 201, 201, 401, 401, 201, 403]),
    row("get", "/api/v1/integrations/connectors/{id}", "", Send::Nothing, [200, 200, 200, 401, 401, 404, 404]),
    row("patch", "/api/v1/integrations/connectors/{id}", "", Send::Rename, RUNS),
    row("delete", "/api/v1/integrations/connectors/{id}", "", Send::Nothing, [204, 204, 204, 401, 401, 404, 404]),
    row("post", "/api/v1/integrations/connectors/{id}/execute", "", Send::Execute, RUNS),
    row("post", "/api/v1/integrations/connectors/{id}/check", "", Send::Nothing, RUNS),
    // No body: the connector is looked up (404 for a foreign caller) before the body is read,
    // and a sync naming no entities is 422 `no_entities` for its owner.
    row("post", "/api/v1/integrations/connectors/{id}/context-store/sync", "", Send::Nothing, SYNC_NO_BODY),
    row("get", "/api/v1/integrations/connectors/{id}/context-store/status", "", Send::Nothing, RUNS),
    row("get", "/api/v1/connectors/instances_for_user", "?external_user_id=ws-a1", Send::Nothing, NAMES_WS),
    row("post", "/api/v1/connectors/instances/{id}/execute", "", Send::Execute, RUNS),
    row("post", "/api/v1/connectors/sources/{id}/execute", "", Send::Execute, RUNS),
    row("get", "/healthz", "", Send::Nothing, PUBLIC),
    row("get", "/readyz", "", Send::Nothing, PUBLIC),
    row("get", "/metrics", "", Send::Nothing, PUBLIC),
    row("get", "/api/v1/openapi.json", "", Send::Nothing, PUBLIC),
    // The widget's static files: public, holding no data (engine/tests/widget.rs checks them).
    row("get", "/widget", "", Send::Nothing, PUBLIC),
    row("get", "/widget/widget.js", "", Send::Nothing, PUBLIC),
    row("get", "/widget/widget.css", "", Send::Nothing, PUBLIC),
    row("get", "/widget/embed.js", "", Send::Nothing, PUBLIC),
    row("post", "/mcp", "", Send::McpList, MCP),
    row("get", "/mcp", "", Send::Nothing, MCP_STATELESS),
    row("delete", "/mcp", "", Send::Nothing, MCP_STATELESS),
    // OAuth consent: the operator's clients are the organization's (another organization sets,
    // lists and deletes its own); a consent starts in the caller's workspace only; the callback
    // takes no token (the state is the credential) and refuses an unknown state alike for all.
    row("get", "/api/v1/oauth/clients", "", Send::Nothing, APP_ONLY),
    row("put", "/api/v1/oauth/clients/{connector_type}", "", Send::OAuthClient, APP_ONLY),
    row("post", "/api/v1/oauth/initiate", "", Send::OAuthInitiate, NAMES_WS),
    row("get", "/api/v1/oauth/callback", "?state=never-issued&code=x", Send::Nothing, [400; 7]),
    row("delete", "/api/v1/oauth/clients/{connector_type}", "", Send::Nothing, [204, 401, 401, 401, 401, 204, 401]),
    // The operator console: its page and files are public; its API takes the console session
    // cookie only (no caller here has one), so every bearer token is refused (401
    // `bearer_not_accepted`), no token is 401 `no_session`, and a POST without the engine's own
    // Origin is 403 `origin_mismatch` (engine/tests/console.rs checks sessions, CSRF and orgs).
    row("get", "/console", "", Send::Nothing, PUBLIC),
    row("get", "/console/console.js", "", Send::Nothing, PUBLIC),
    row("get", "/console/console.css", "", Send::Nothing, PUBLIC),
    row("post", "/console/api/login", "", Send::ClientCredentials, CONSOLE_POST),
    row("post", "/console/api/logout", "", Send::Nothing, CONSOLE_POST),
    row("post", "/console/api/rotate-secret", "", Send::Nothing, CONSOLE_POST),
    row("get", "/console/api/session", "", Send::Nothing, [401; 7]),
    row("get", "/console/api/workspaces", "", Send::Nothing, [401; 7]),
    row("get", "/console/api/connectors", "", Send::Nothing, [401; 7]),
    row("get", "/console/api/audit", "?outcome=success", Send::Nothing, [401; 7]),
    row("get", "/console/api/health", "", Send::Nothing, [401; 7]),
];

/// A console POST: any bearer token is refused; without one, the request has no console Origin.
const CONSOLE_POST: [u16; 7] = [401, 401, 401, 403, 401, 401, 401];

/// The `details.reason` of a console API refusal.
fn console_reason(kind: Kind, status: u16) -> Option<&'static str> {
    match (status, kind) {
        (401, Kind::NoToken) => Some("no_session"),
        (401, _) => Some("bearer_not_accepted"),
        (403, _) => Some("origin_mismatch"),
        _ => None,
    }
}

/// Every (path, method) the engine documents in the OpenAPI document it serves.
async fn documented_routes(e: &Engine) -> BTreeSet<(String, String)> {
    let doc = call("GET", &e.url("/api/v1/openapi.json"), None, None, &[]).await;
    assert_eq!(doc.status, 200, "{}", doc.text);
    let mut routes = BTreeSet::new();
    for (path, item) in doc.body["paths"].as_object().into_iter().flatten() {
        for (method, _) in item.as_object().into_iter().flatten() {
            routes.insert((path.clone(), method.clone()));
        }
    }
    assert!(routes.len() >= MATRIX.len(), "the document lists too few routes: {routes:?}");
    routes
}

/// Organization A's objects and everything that must never reach a foreign caller.
struct Owner {
    org: String,
    client_id: String,
    client_secret: String,
    ws_a1: String,
    ws_a2: String,
    /// The connector the `{id}` routes use now (a delete makes a new one).
    connector: String,
    /// Every connector A ever had in `ws-a1`.
    connectors: Vec<String>,
    /// The connector's distinctive name.
    name: String,
}

impl Owner {
    /// What a caller outside `ws-a1` must never read: for another organization (or no valid
    /// token) everything of A's, for another workspace of A what belongs to `ws-a1`. Secrets
    /// are on every list. Workspace names are left out: a caller sends them itself.
    fn markers(&self, kind: Kind) -> Vec<String> {
        let mut m = vec![self.client_secret.clone(), creds::GITHUB_TOKEN.to_string()];
        match kind {
            Kind::App | Kind::Scoped | Kind::Widget => return m,
            Kind::OtherWorkspace => {}
            Kind::NoToken | Kind::Expired | Kind::OtherOrg => {
                m.extend([self.org.clone(), self.client_id.clone(), self.ws_a2.clone()]);
            }
        }
        m.extend([self.ws_a1.clone(), self.name.clone()]);
        m.extend(self.connectors.iter().cloned());
        m
    }
}

async fn fake() -> FakeUpstream {
    FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"))
}

/// A connector in `ws-a1` named `name`, created with A's application token.
async fn owner_connector(e: &Engine, app: &str, fake: &FakeUpstream, name: &str) -> String {
    let a = e.post("/api/v1/integrations/connectors", app, new_connector(fake, Some(name))).await;
    assert_eq!(a.status, 201, "{}", a.text);
    a.body["id"].as_str().unwrap_or_default().to_string()
}

fn new_connector(fake: &FakeUpstream, name: Option<&str>) -> Value {
    let mut body = json!({
        "connector_type": "github",
        "workspace_name": WS_A1,
        "credentials": {"personal_access_token": creds::GITHUB_TOKEN},
        "replication_config": {"repositories": ["octo/hello"]},
        "config": {"base_url": fake.base_url("github")},
    });
    if let Some(n) = name {
        body["name"] = json!(n);
    }
    body
}

fn body_for(send: Send, owner: &Owner, fake: &FakeUpstream) -> Option<Value> {
    match send {
        Send::Nothing => None,
        Send::ClientCredentials => Some(json!({"client_id": owner.client_id, "client_secret": owner.client_secret})),
        Send::Workspace => Some(json!({"workspace_name": WS_A1})),
        Send::WidgetOrigin => Some(json!({"workspace_name": WS_A1, "allowed_origin": ORIGIN})),
        Send::NewConnector => Some(new_connector(fake, None)),
        Send::Rename => Some(json!({"name": owner.name})),
        Send::Execute => Some(
            json!({"entity": "issues", "action": "list", "params": {"owner": "octo", "repo": "hello", "per_page": 1}}),
        ),
        Send::McpList => Some(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})),
        Send::OAuthClient => Some(json!({"client_id": "matrix-oauth-client", "client_secret": "matrix-oauth-secret"})),
        Send::OAuthInitiate => Some(json!({"connector_type": "hubspot", "workspace_name": WS_A1})),
        Send::AllowedTemplates => Some(json!({"allowed_templates": null})),
    }
}

/// The `details.reason` a refusal must carry.
fn expected_reason(kind: Kind, status: u16) -> Option<&'static str> {
    match (status, kind) {
        (401, Kind::NoToken) => Some("missing_token"),
        (401, Kind::Expired) => Some("expired"),
        (401, _) => Some("wrong_token_kind"),
        (403, _) => Some("workspace_mismatch"),
        _ => None,
    }
}

async fn send(e: &Engine, method: &str, path: &str, token: Option<&str>, kind: Kind, body: Option<Value>) -> Answer {
    let mut headers = vec![];
    if kind == Kind::Widget {
        headers.push(("origin", ORIGIN));
    }
    if path.starts_with("/mcp") {
        // Streamable HTTP: the client accepts both answer forms.
        headers.push(("accept", "application/json, text/event-stream"));
    }
    call(&method.to_ascii_uppercase(), &e.url(path), token, body, &headers).await
}

/// One MCP JSON-RPC request to `/mcp`.
async fn mcp(e: &Engine, token: Option<&str>, kind: Kind, method: &str, params: Value) -> Answer {
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
    send(e, "post", "/mcp", token, kind, Some(body)).await
}

/// The names of the tools a `tools/list` answer offers.
fn tool_names(a: &Answer) -> Vec<String> {
    let tools = a.body["result"]["tools"].as_array().unwrap_or_else(|| panic!("no tools: {}", a.text));
    tools.iter().filter_map(|t| t["name"].as_str().map(str::to_string)).collect()
}

/// The text of a `tools/call` result, and whether it is a tool error.
fn tool_result(a: &Answer) -> (String, bool) {
    let r = &a.body["result"];
    let text = r["content"][0]["text"].as_str().unwrap_or_else(|| panic!("no tool result: {}", a.text));
    (text.to_string(), r["isError"] == json!(true))
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

both_backends!(isolation_matrix, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    let fake = fake().await;

    // The matrix has exactly one row per documented route and method.
    let documented = documented_routes(&e).await;
    let rows: BTreeSet<(String, String)> = MATRIX.iter().map(|r| (r.path.to_string(), r.method.to_string())).collect();
    assert_eq!(rows.len(), MATRIX.len(), "a route has two rows in the matrix");
    let missing: Vec<_> = documented.difference(&rows).collect();
    let stale: Vec<_> = rows.difference(&documented).collect();
    assert!(missing.is_empty(), "routes without a row in the isolation matrix: {missing:?}");
    assert!(stale.is_empty(), "matrix rows for routes the engine does not serve: {stale:?}");

    // Organization A: workspaces ws-a1 (with a connector) and ws-a2; organization B.
    let app_a = e.app_token().await;
    let minted = e.post("/api/v1/embedded/scoped-token", &app_a, json!({"workspace_name": WS_A1})).await;
    assert_eq!(minted.status, 200, "{}", minted.text);
    let scoped_a1 = minted.body["token"].as_str().unwrap_or_default().to_string();
    let minted = e.post("/api/v1/embedded/scoped-token", &app_a, json!({"workspace_name": WS_A2})).await;
    assert_eq!(minted.status, 200, "{}", minted.text);
    let scoped_a2 = minted.body["token"].as_str().unwrap_or_default().to_string();
    let widget_a1 = e.widget_token(&app_a, WS_A1, ORIGIN).await;
    let app_b = switchboard_engine::admin::create_application(&e.state.db, e.state.secrets.hasher(), "org-b")
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let app_b = e.app_token_for(&app_b).await;
    let expired = e
        .state
        .signer
        .issue_at(
            claims(TokenKind::Application, &e.app.client_id, &e.app.organization_id, None, None),
            now() - 3600,
            now() - 60,
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
    let info = |t: String| {
        let e = &e;
        async move { e.get("/api/v1/embedded/scoped-token/info", &t).await.body["workspace_id"].clone() }
    };
    let name = format!("a1-private-{}", uuid::Uuid::new_v4().simple());
    let connector = owner_connector(&e, &app_a, &fake, &name).await;
    let mut owner = Owner {
        org: e.app.organization_id.clone(),
        client_id: e.app.client_id.clone(),
        client_secret: e.app.client_secret.clone(),
        ws_a1: info(scoped_a1.clone()).await.as_str().unwrap_or_default().to_string(),
        ws_a2: info(scoped_a2.clone()).await.as_str().unwrap_or_default().to_string(),
        connectors: vec![connector.clone()],
        connector,
        name,
    };
    assert!(!owner.ws_a1.is_empty() && !owner.ws_a2.is_empty());

    let token_of = |kind: Kind| -> Option<String> {
        match kind {
            Kind::App => Some(app_a.clone()),
            Kind::Scoped => Some(scoped_a1.clone()),
            Kind::Widget => Some(widget_a1.clone()),
            Kind::NoToken => None,
            Kind::Expired => Some(expired.clone()),
            Kind::OtherOrg => Some(app_b.clone()),
            Kind::OtherWorkspace => Some(scoped_a2.clone()),
        }
    };

    let mut cells = 0;
    for r in MATRIX {
        for (kind, want) in KINDS.iter().copied().zip(r.expect) {
            let path = format!(
                "{}{}",
                r.path
                    .replace("{id}", &owner.connector)
                    .replace("{slug}", "github")
                    .replace("{connector_type}", "hubspot"),
                r.query
            );
            let token = token_of(kind);
            let body = body_for(r.send, &owner, &fake);
            let a = send(&e, r.method, &path, token.as_deref(), kind, body.clone()).await;
            let cell = format!("{kind:?} {} {path}", r.method);
            assert_eq!(a.status, want, "{cell}: {}", a.text);
            let reason = match r.path.starts_with("/console/api/") {
                true => console_reason(kind, a.status),
                false => expected_reason(kind, a.status),
            };
            if let Some(reason) = reason {
                assert_eq!(a.body["details"]["reason"], reason, "{cell}: {}", a.text);
            }
            // A holder of A's client secret is A: the token endpoint answers A's organization id.
            let mut markers = owner.markers(kind);
            if matches!(r.send, Send::ClientCredentials) {
                markers.retain(|m| *m != owner.org);
            }
            for m in &markers {
                assert!(!a.text.contains(m.as_str()), "{cell} answered {m:?}: {}", a.text);
            }
            if a.status == 404 {
                // A foreign id answers exactly as an id that does not exist.
                let ghost = r.path.replace("{id}", &uuid::Uuid::new_v4().to_string());
                let g = send(&e, r.method, &ghost, token.as_deref(), kind, body).await;
                assert_eq!(g.status, 404, "{cell} with a missing id: {}", g.text);
                assert_eq!((&a.body["code"], &a.body["message"]), (&g.body["code"], &g.body["message"]), "{cell}");
            }
            if a.status == 201 && matches!(kind, Kind::App | Kind::Scoped | Kind::Widget) {
                owner.connectors.push(a.body["id"].as_str().unwrap_or_default().to_string());
            }
            if a.status == 204 {
                owner.connector = owner_connector(&e, &app_a, &fake, &owner.name).await;
                owner.connectors.push(owner.connector.clone());
            }
            cells += 1;
        }
    }
    assert_eq!(cells, MATRIX.len() * KINDS.len());

    // After all of it, the owner's workspace holds only the owner's connectors, named as before.
    let list = e.get(&format!("/api/v1/integrations/connectors?workspace_name={WS_A1}"), &app_a).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let ids: BTreeSet<&str> =
        list.body["data"].as_array().into_iter().flatten().filter_map(|c| c["id"].as_str()).collect();
    assert!(ids.iter().all(|id| owner.connectors.iter().any(|o| o == id)), "{}", list.text);
    let own = e.get(&format!("/api/v1/integrations/connectors/{}", owner.connector), &app_a).await;
    assert_eq!(own.body["name"], json!(owner.name), "{}", own.text);

    mcp_tools_are_the_callers_own(&e, &owner, &token_of).await;
});

/// `/mcp` beyond the status the matrix checks: the owner's connector is a tool for the owner's
/// application and scoped tokens (and runs against the fake), and for a foreign caller it is
/// neither listed, nor callable (JSON-RPC `invalid params`), nor describable (`not_found`), and
/// no answer holds the owner's ids; refused tokens get the engine's 401 before any JSON-RPC.
async fn mcp_tools_are_the_callers_own(e: &Engine, owner: &Owner, token_of: &dyn Fn(Kind) -> Option<String>) {
    let app = token_of(Kind::App);
    let listed = mcp(e, app.as_deref(), Kind::App, "tools/list", json!({})).await;
    let tools = listed.body["result"]["tools"].as_array().cloned().unwrap_or_default();
    let owner_tool = tools
        .iter()
        .find(|t| t["description"].as_str().is_some_and(|d| d.contains(owner.connector.as_str())))
        .and_then(|t| t["name"].as_str())
        .unwrap_or_else(|| panic!("the owner's connector is not a tool of its application: {}", listed.text))
        .to_string();
    // An application token's names carry the connector's id (its list spans end users); a
    // scoped token's is the bare name.
    let id8: String = owner.connector.chars().take(8).collect();
    assert!(owner_tool.ends_with(&format!("_{id8}_execute")), "{owner_tool}");
    let scoped_tool = owner_tool.replace(&format!("_{id8}_execute"), "_execute");
    for kind in KINDS {
        let own = if kind == Kind::Scoped { &scoped_tool } else { &owner_tool };
        let prefix = own.trim_end_matches("_execute").to_string();
        let list_issues = json!({"name": own, "arguments": {"entity": "issues", "action": "list",
            "params": {"owner": "octo", "repo": "hello", "per_page": 1}}});
        let describe = json!({"name": "describe", "arguments": {"connector": prefix}});
        let token = token_of(kind);
        let list = mcp(e, token.as_deref(), kind, "tools/list", json!({})).await;
        let run = mcp(e, token.as_deref(), kind, "tools/call", list_issues.clone()).await;
        let told = mcp(e, token.as_deref(), kind, "tools/call", describe.clone()).await;
        let cell = format!("{kind:?} /mcp");
        match kind {
            Kind::App | Kind::Scoped => {
                assert!(tool_names(&list).contains(own), "{cell}: {}", list.text);
                let (text, failed) = tool_result(&run);
                assert!(!failed && json_of(&text)["data"][0]["number"].is_u64(), "{cell}: {}", run.text);
                let (text, failed) = tool_result(&told);
                assert!(!failed && text.contains("list: List issues"), "{cell}: {}", told.text);
            }
            Kind::Widget | Kind::NoToken | Kind::Expired => {
                for a in [&list, &run, &told] {
                    assert_eq!(a.status, 401, "{cell}: {}", a.text);
                    assert_eq!(a.body["details"]["reason"], json!(expected_reason(kind, 401)), "{cell}: {}", a.text);
                    assert!(a.body.get("jsonrpc").is_none(), "{cell}: refused before any JSON-RPC: {}", a.text);
                }
            }
            Kind::OtherOrg | Kind::OtherWorkspace => {
                let bare = scoped_tool.trim_end_matches("_execute");
                assert!(!tool_names(&list).iter().any(|n| n.starts_with(bare)), "{cell}: {}", list.text);
                assert_eq!(run.status, 200, "{cell}: {}", run.text);
                assert_eq!(run.body["error"]["code"], json!(-32602), "{cell}: an unknown tool: {}", run.text);
                // The owner's bare name too (as the owner's scoped token lists it).
                let mut by_bare = list_issues.clone();
                by_bare["name"] = json!(scoped_tool);
                let bare_run = mcp(e, token.as_deref(), kind, "tools/call", by_bare).await;
                assert_eq!(bare_run.body["error"]["code"], json!(-32602), "{cell}: {}", bare_run.text);
                let (text, failed) = tool_result(&told);
                assert!(failed && json_of(&text)["code"] == "not_found", "{cell}: {}", told.text);
            }
        }
        // The caller named the tool, so its name (made of the connector's name) may come back;
        // nothing else of the owner's may.
        let mut markers = owner.markers(kind);
        markers.retain(|m| *m != owner.name);
        for (what, a) in [("tools/list", &list), ("tools/call", &run), ("describe", &told)] {
            for m in &markers {
                assert!(!a.text.contains(m.as_str()), "{cell} {what} answered {m:?}: {}", a.text);
            }
        }
        if matches!(kind, Kind::OtherOrg | Kind::OtherWorkspace) {
            assert!(!list.text.contains(owner.name.as_str()), "{cell} lists the owner's connector: {}", list.text);
        }
    }
}

/// The engine's current signing key: its id and secret.
async fn signing_key(e: &Engine) -> (String, Vec<u8>) {
    let keys = e.state.db.signing_keys().await.unwrap_or_else(|e| panic!("{e:?}"));
    let (kid, sealed, _) = keys.last().unwrap_or_else(|| panic!("no signing key"));
    let secret = e.state.keys.open(sealed, &format!("signing_key:{kid}")).unwrap_or_else(|e| panic!("{e:?}"));
    (kid.clone(), secret)
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap_or_default()
}

/// `payload` signed with HMAC-SHA-256 under `secret`, with `header` as given (any `alg`).
fn hs256(header: &Value, payload: &Value, secret: &[u8]) -> String {
    let signing_input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(payload.to_string().as_bytes()));
    let key = jsonwebtoken::EncodingKey::from_secret(secret);
    let sig = jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, jsonwebtoken::Algorithm::HS256)
        .unwrap_or_else(|e| panic!("{e}"));
    format!("{signing_input}.{sig}")
}

/// `token` with its claims changed by `f` and its original signature kept.
fn tampered(token: &str, f: impl FnOnce(&mut Value)) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&unb64(parts[1])).unwrap_or_default();
    f(&mut claims);
    format!("{}.{}.{}", parts[0], b64(claims.to_string().as_bytes()), parts[2])
}

both_backends!(token_attack_table, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    let fake = fake().await;
    let app = e.app_token().await;
    let scoped = e.scoped_token(&app, WS_A1).await;
    let scoped_a2 = e.scoped_token(&app, WS_A2).await;
    let widget = e.widget_token(&app, WS_A1, ORIGIN).await;
    let other = switchboard_engine::admin::create_application(&e.state.db, e.state.secrets.hasher(), "org-b")
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let id = owner_connector(&e, &app, &fake, "gh").await;
    let (kid, secret) = signing_key(&e).await;
    let ws_a1 = e.get("/api/v1/embedded/scoped-token/info", &scoped).await.body["workspace_id"].clone();

    // Claims of a valid application token of organization A, to be signed by the attacker.
    let payload = |f: &dyn Fn(&mut Value)| {
        let mut p = json!({"iss": "switchboard", "sub": e.app.client_id, "org": e.app.organization_id,
            "kind": "application", "iat": now(), "exp": now() + 600, "jti": uuid::Uuid::new_v4().to_string()});
        f(&mut p);
        p
    };
    let valid = payload(&|_| {});
    let header = |alg: &str| json!({"alg": alg, "typ": "JWT", "kid": kid});
    let real = hs256(&header("HS256"), &valid, &secret);
    let real_sig = real.rsplit('.').next().unwrap_or_default().to_string();
    let with_header =
        |h: Value| format!("{}.{}.{real_sig}", b64(h.to_string().as_bytes()), b64(valid.to_string().as_bytes()));
    let hs512 = {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512);
        h.kid = Some(kid.clone());
        jsonwebtoken::encode(&h, &valid, &jsonwebtoken::EncodingKey::from_secret(&secret)).unwrap_or_default()
    };
    let skew = LEEWAY_SECS;

    let connector = format!("/api/v1/integrations/connectors/{id}");
    let execute = format!("/api/v1/integrations/connectors/{id}/execute");
    let b_org = other.organization_id.clone();
    type Attack<'a> = (&'a str, &'a str, String, Vec<(&'a str, &'a str)>, u16, Option<&'a str>);
    let attacks: Vec<Attack> = vec![
        // Controls: the attacker's signing code makes tokens the engine accepts.
        ("control: signed with the engine's key", "GET", real.clone(), vec![], 200, None),
        (
            "control: expired, within the skew",
            "GET",
            hs256(&header("HS256"), &payload(&|p| p["exp"] = json!(now() - skew + 2)), &secret),
            vec![],
            200,
            None,
        ),
        (
            "control: iat within its skew",
            "GET",
            hs256(&header("HS256"), &payload(&|p| p["iat"] = json!(now() + IAT_LEEWAY_SECS - 5)), &secret),
            vec![],
            200,
            None,
        ),
        (
            "control: nbf within the skew",
            "GET",
            hs256(&header("HS256"), &payload(&|p| p["nbf"] = json!(now() + 1)), &secret),
            vec![],
            200,
            None,
        ),
        // Algorithms.
        (
            "alg none, no signature",
            "GET",
            format!("{}.{}.", b64(header("none").to_string().as_bytes()), b64(valid.to_string().as_bytes())),
            vec![],
            401,
            Some("bad_algorithm"),
        ),
        ("alg None", "GET", with_header(header("None")), vec![], 401, Some("bad_algorithm")),
        ("alg NONE", "GET", with_header(header("NONE")), vec![], 401, Some("bad_algorithm")),
        ("alg hs256 (case)", "GET", with_header(header("hs256")), vec![], 401, Some("bad_algorithm")),
        (
            "RS256 header over the HMAC signature (HS/RS confusion)",
            "GET",
            with_header(header("RS256")),
            vec![],
            401,
            Some("bad_algorithm"),
        ),
        (
            "RS256 signed with the HMAC secret as key",
            "GET",
            hs256(&header("RS256"), &valid, &secret),
            vec![],
            401,
            Some("bad_algorithm"),
        ),
        ("ES256 header", "GET", with_header(header("ES256")), vec![], 401, Some("bad_algorithm")),
        ("HS512 with the engine's secret", "GET", hs512, vec![], 401, Some("bad_algorithm")),
        ("no alg", "GET", with_header(json!({"typ": "JWT", "kid": kid})), vec![], 401, Some("malformed_token")),
        // Keys.
        (
            "unknown key id, the engine's secret",
            "GET",
            hs256(&json!({"alg": "HS256", "kid": "k-forged"}), &valid, &secret),
            vec![],
            401,
            Some("unknown_key"),
        ),
        (
            "the engine's key id, another secret",
            "GET",
            hs256(&header("HS256"), &valid, b"attacker-secret-0123456789"),
            vec![],
            401,
            Some("bad_signature"),
        ),
        ("no key id", "GET", hs256(&json!({"alg": "HS256"}), &valid, &secret), vec![], 401, Some("malformed_token")),
        (
            "signature cut off",
            "GET",
            real.rsplit_once('.').map(|(h, _)| format!("{h}.")).unwrap_or_default(),
            vec![],
            401,
            Some("bad_signature"),
        ),
        // Times.
        (
            "expired 1 s beyond the skew",
            "GET",
            hs256(&header("HS256"), &payload(&|p| p["exp"] = json!(now() - skew - 1)), &secret),
            vec![],
            401,
            Some("expired"),
        ),
        (
            "iat an hour ahead",
            "GET",
            hs256(&header("HS256"), &payload(&|p| p["iat"] = json!(now() + 3600)), &secret),
            vec![],
            401,
            Some("not_yet_valid"),
        ),
        (
            "iat 1 s beyond its skew",
            "GET",
            hs256(&header("HS256"), &payload(&|p| p["iat"] = json!(now() + IAT_LEEWAY_SECS + 2)), &secret),
            vec![],
            401,
            Some("not_yet_valid"),
        ),
        (
            "nbf a minute ahead",
            "GET",
            hs256(&header("HS256"), &payload(&|p| p["nbf"] = json!(now() + 60)), &secret),
            vec![],
            401,
            Some("not_yet_valid"),
        ),
        (
            "no exp",
            "GET",
            hs256(
                &header("HS256"),
                &payload(&|p| {
                    p.as_object_mut().map(|o| o.remove("exp"));
                }),
                &secret,
            ),
            vec![],
            401,
            Some("malformed_token"),
        ),
        (
            "another issuer",
            "GET",
            hs256(&header("HS256"), &payload(&|p| p["iss"] = json!("someone-else")), &secret),
            vec![],
            401,
            Some("malformed_token"),
        ),
        // Claims changed under the original signature.
        (
            "tampered: scoped made application",
            "GET",
            tampered(&scoped, |c| {
                c["kind"] = json!("application");
            }),
            vec![],
            401,
            Some("bad_signature"),
        ),
        (
            "tampered: workspace swapped",
            "GET",
            tampered(&scoped_a2, |c| {
                c["ws"] = ws_a1.clone();
                c["wsn"] = json!(WS_A1);
            }),
            vec![],
            401,
            Some("bad_signature"),
        ),
        (
            "tampered: organization swapped",
            "GET",
            tampered(&app, |c| {
                c["org"] = json!(b_org);
            }),
            vec![],
            401,
            Some("bad_signature"),
        ),
        (
            "tampered: expiry extended",
            "GET",
            tampered(&app, |c| {
                c["exp"] = json!(now() + 86_400);
            }),
            vec![],
            401,
            Some("bad_signature"),
        ),
        (
            "tampered: widget origin changed",
            "GET",
            tampered(&widget, |c| {
                c["origin"] = json!("https://evil.example");
            }),
            vec![("origin", "https://evil.example")],
            401,
            Some("bad_signature"),
        ),
        // Kinds.
        ("widget token executing", "POST", widget.clone(), vec![("origin", ORIGIN)], 401, Some("wrong_token_kind")),
        ("scoped token minting a scoped token", "MINT", scoped.clone(), vec![], 401, Some("wrong_token_kind")),
        // The kind is checked before the body is read: a bad body from the wrong kind is a 401,
        // never a 400 or 422 that tells the caller about the route's body.
        (
            "widget token executing with a bad body",
            "POST_BAD",
            widget.clone(),
            vec![("origin", ORIGIN)],
            401,
            Some("wrong_token_kind"),
        ),
        ("scoped token minting with a bad body", "MINT_BAD", scoped.clone(), vec![], 401, Some("wrong_token_kind")),
        // Origins.
        (
            "widget token from another origin",
            "GET",
            widget.clone(),
            vec![("origin", "https://evil.example")],
            403,
            Some("origin_mismatch"),
        ),
        ("widget token without an origin", "GET", widget.clone(), vec![], 403, Some("origin_mismatch")),
        ("widget token from its origin", "GET", widget.clone(), vec![("origin", ORIGIN)], 200, None),
        // X-Organization-Id.
        (
            "X-Organization-Id of another organization",
            "GET",
            app.clone(),
            vec![("x-organization-id", b_org.as_str())],
            403,
            Some("organization_mismatch"),
        ),
        (
            "X-Organization-Id of another organization, scoped",
            "GET",
            scoped.clone(),
            vec![("x-organization-id", b_org.as_str())],
            403,
            Some("organization_mismatch"),
        ),
        (
            "X-Organization-Id empty",
            "GET",
            app.clone(),
            vec![("x-organization-id", "")],
            403,
            Some("organization_mismatch"),
        ),
        (
            "X-Organization-Id of its own organization",
            "GET",
            app.clone(),
            vec![("x-organization-id", e.app.organization_id.as_str())],
            200,
            None,
        ),
        // Schemes.
        ("Basic scheme", "BASIC", real.clone(), vec![], 401, Some("missing_token")),
        ("lower-case bearer", "LOWER", real.clone(), vec![], 200, None),
    ];
    let exec_body = json!({"entity": "issues", "action": "list", "params": {"owner": "octo", "repo": "hello"}});
    for (name, how, token, headers, status, reason) in &attacks {
        let a = match *how {
            "GET" => call("GET", &e.url(&connector), Some(token), None, headers).await,
            "POST" => call("POST", &e.url(&execute), Some(token), Some(exec_body.clone()), headers).await,
            "POST_BAD" => call("POST", &e.url(&execute), Some(token), Some(json!({"entity": 5})), headers).await,
            "MINT_BAD" => {
                call("POST", &e.url("/api/v1/embedded/scoped-token"), Some(token), Some(json!([1])), headers).await
            }
            "MINT" => {
                call(
                    "POST",
                    &e.url("/api/v1/embedded/scoped-token"),
                    Some(token),
                    Some(json!({"workspace_name": "x"})),
                    headers,
                )
                .await
            }
            scheme => {
                let value = match scheme {
                    "BASIC" => format!("Basic {token}"),
                    _ => format!("bearer {token}"),
                };
                let mut h = headers.clone();
                h.push(("authorization", value.as_str()));
                call("GET", &e.url(&connector), None, None, &h).await
            }
        };
        assert_eq!(a.status, *status, "{name}: {}", a.text);
        if let Some(reason) = reason {
            assert_eq!(a.body["code"], if *status == 401 { "authentication" } else { "forbidden" }, "{name}");
            assert_eq!(a.body["details"]["reason"], *reason, "{name}: {}", a.text);
            assert!(!a.text.contains(&id) && !a.text.contains(creds::GITHUB_TOKEN), "{name} leaked: {}", a.text);
        }
    }
});

// ---- client secrets at rest

both_backends!(client_secrets_are_stored_as_the_keyed_hash_and_argon2_rows_migrate, |backend| async move {
    use switchboard_engine::crypto::hash_secret;
    let Some(e) = start(backend, |_| {}).await else { return };
    let db = &e.state.db;
    let hasher = e.state.secrets.hasher();
    let stored = |id: String| async move {
        let app = db.find_application(&id).await.unwrap_or_else(|e| panic!("{e:?}"));
        app.unwrap_or_else(|| panic!("no application row")).secret_hash
    };
    let attempt = |id: String, secret: String| {
        let url = e.url("/api/v1/account/applications/token");
        async move {
            let body = json!({"client_id": id, "client_secret": secret});
            call("POST", &url, None, Some(body), &[]).await.status
        }
    };
    // A new application's secret is written as the keyed hash at once: no Argon2 run, no
    // rewrite on first use.
    let (id, secret) = (e.app.client_id.clone(), e.app.client_secret.clone());
    let new = stored(id.clone()).await;
    assert_eq!(new, hasher.hash(&id, &secret), "a new application is stored as the keyed hash");
    assert_eq!(attempt(id.clone(), secret.clone()).await, 200);
    assert_eq!(stored(id.clone()).await, new, "a good secret rewrites nothing");

    // A row from before the keyed hash (Argon2id): a wrong secret changes nothing, the right
    // one is answered and the row becomes the keyed hash.
    let org = db.create_organization("legacy").await.unwrap_or_else(|e| panic!("{e:?}"));
    let (old_id, old_secret) = ("sb_legacy_row".to_string(), "legacy-secret-0123456789abcdef".to_string());
    let argon2 = hash_secret(&old_secret).unwrap_or_else(|e| panic!("{e:?}"));
    db.create_application(&org.id, &old_id, &argon2).await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(attempt(old_id.clone(), "wrong".into()).await, 401);
    assert_eq!(stored(old_id.clone()).await, argon2, "a wrong secret migrates nothing");
    assert_eq!(attempt(old_id.clone(), old_secret.clone()).await, 200);
    let migrated = stored(old_id.clone()).await;
    assert_eq!(migrated, hasher.hash(&old_id, &old_secret), "migrated on its first use");
    assert_eq!(attempt(old_id.clone(), old_secret.clone()).await, 200);
    assert_eq!(attempt(old_id.clone(), "wrong".into()).await, 401);
});
