//! `/mcp` on the engine: MCP over streamable HTTP (rmcp's service, stateless, JSON answers).
//!
//! [`authenticate`] runs first on every request: the bearer token is checked exactly as for the
//! execute route (the [`Caller`] extractor: signature, expiry, organization header, widget
//! origin, the organization's rate limit) and must be an application or scoped token, as
//! execute requires; a refused token answers the engine's 401/403 JSON before any MCP
//! handling. The tools are the connectors the caller sees (a scoped token: its workspace's; an
//! application token: its organization's), named by connector name; a call runs through
//! [`execution::execute`], the execute route's service, so tenancy, audit and metrics apply.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::model::{CallToolRequestParams, CallToolResponse, ListToolsResult, PaginatedRequestParams, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use switchboard_core::wire::{ConnectorQuery, ExecuteBody};
use switchboard_core::ExecutionResult;

use super::{
    describe_result, error_result, resolve, server_info, success_result, tools, unique_prefixes, Call, Entry,
    ToolStyle, DEFAULT_MAX_OUTPUT_CHARS,
};
use crate::error::{current_request_id, ApiError, REQUEST_ID};
use crate::extract::Caller;
use crate::services::{connectors, execution};
use crate::state::AppState;
use crate::tokens::TokenKind::{Application, Scoped};

/// The request id of the HTTP request carrying an MCP message (rmcp runs handlers on its own
/// tasks, outside the request's scope).
#[derive(Clone)]
struct RequestId(String);

/// Authenticates a request to `/mcp` before rmcp sees it; the caller goes into the request's
/// extensions, which rmcp hands to the handler.
pub async fn authenticate(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let caller = match <Caller as FromRequestParts<AppState>>::from_request_parts(&mut parts, &st).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = caller.require(&[Application, Scoped]) {
        return e.into_response();
    }
    // `?tools=operation`: one tool per operation instead of one per connector.
    let style = match parts.uri.query().unwrap_or("").split('&').find_map(|kv| kv.strip_prefix("tools=")) {
        None => ToolStyle::default(),
        Some(v) => match v.parse() {
            Ok(s) => s,
            Err(e) => return ApiError::validation(e).into_response(),
        },
    };
    parts.extensions.insert(style);
    parts.extensions.insert(caller);
    parts.extensions.insert(RequestId(current_request_id().unwrap_or_default()));
    next.run(Request::from_parts(parts, body)).await
}

/// rmcp's streamable HTTP service for `/mcp`: stateless (each POST carries its token and is
/// answered on its own), JSON answers, the engine's body limit. Host checks are off: every
/// request needs a bearer token, which a rebinding page does not have.
pub fn service(st: AppState) -> StreamableHttpService<HostedServer, NeverSessionManager> {
    let config = StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_max_request_body_bytes(st.settings.body_limit);
    let server = HostedServer { st };
    StreamableHttpService::new(move || Ok(server.clone()), Arc::new(NeverSessionManager::default()), config)
}

/// The handler of `/mcp`: tools per request, from the caller's connectors.
#[derive(Clone)]
pub struct HostedServer {
    st: AppState,
}

impl HostedServer {
    /// The caller, tool style and request id [`authenticate`] put in the request.
    fn caller(context: &RequestContext<RoleServer>) -> Result<(Caller, ToolStyle, String), McpError> {
        let parts = context.extensions.get::<Parts>();
        let caller = parts.and_then(|p| p.extensions.get::<Caller>()).cloned();
        let style = parts.and_then(|p| p.extensions.get::<ToolStyle>()).copied().unwrap_or_default();
        let id = parts.and_then(|p| p.extensions.get::<RequestId>()).map(|r| r.0.clone()).unwrap_or_default();
        caller.map(|c| (c, style, id)).ok_or_else(|| McpError::internal_error("the request carries no caller", None))
    }

    /// The caller's connectors as tool entries (target: the connector id), in the store's
    /// order, so names are stable.
    async fn entries(&self, caller: &Caller) -> Result<Vec<Entry<String>>, ApiError> {
        let list = connectors::list(&self.st, caller, &ConnectorQuery::default()).await?;
        let keys: Vec<(&str, &str, &str)> =
            list.data.iter().map(|c| (c.name.as_str(), c.slug.as_str(), c.id.as_str())).collect();
        let prefixes = unique_prefixes(&keys);
        let mut out = Vec::new();
        for (c, prefix) in list.data.iter().zip(prefixes) {
            // A connector whose type this engine no longer loads is left out.
            let Ok(spec) = self.st.registry.get(&c.slug) else { continue };
            let label = format!(
                "Connector \"{}\" ({}, id {}) of workspace \"{}\"",
                c.name, c.connector_type, c.id, c.workspace_name
            );
            out.push(Entry { prefix, spec, label: Some(label), target: c.id.clone() });
        }
        Ok(out)
    }

    async fn call(
        &self,
        caller: &Caller,
        style: ToolStyle,
        request: CallToolRequestParams,
    ) -> Result<CallToolResponse, McpError> {
        let entries = match self.entries(caller).await {
            Ok(e) => e,
            Err(e) => return Ok(api_error(e).into()),
        };
        let result = match resolve(&entries, style, &request)? {
            Err(bad) => bad,
            Ok(Call::Describe(e)) => describe_result(e, DEFAULT_MAX_OUTPUT_CHARS),
            Ok(Call::Execute(e, args)) => {
                let body = ExecuteBody {
                    entity: args.entity.clone(),
                    action: args.action.clone(),
                    params: Some(args.params()),
                    select_fields: args.select_fields.clone(),
                    exclude_fields: args.exclude_fields.clone(),
                    skip_truncation: None,
                    intent: None,
                };
                match execution::execute(&self.st, caller, &e.target, body).await {
                    Ok(r) => {
                        let result = ExecutionResult {
                            data: r.result,
                            meta: r.connector_metadata.meta,
                            next_page: r.connector_metadata.next_page,
                        };
                        success_result(&result, DEFAULT_MAX_OUTPUT_CHARS)
                    }
                    Err(e) => api_error(e),
                }
            }
        };
        Ok(result.into())
    }
}

/// An engine error as a tool error, with the message and details the HTTP API would answer.
fn api_error(e: ApiError) -> rmcp::model::CallToolResult {
    let (message, details) = e.public();
    error_result(e.code, &message, details.as_ref())
}

impl ServerHandler for HostedServer {
    fn get_info(&self) -> ServerConfig {
        server_info()
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let (caller, style, id) = Self::caller(&context)?;
        let entries = REQUEST_ID.scope(id, self.entries(&caller)).await.map_err(|e| {
            let (message, _) = e.public();
            McpError::internal_error(format!("{}: {message}", e.code.as_str()), None)
        })?;
        Ok(ListToolsResult::with_all_items(tools(&entries, style)))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let (caller, style, id) = Self::caller(&context)?;
        REQUEST_ID.scope(id, self.call(&caller, style, request)).await
    }
}
