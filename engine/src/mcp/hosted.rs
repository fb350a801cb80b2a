//! `/mcp` on the engine: MCP over streamable HTTP (rmcp's service, stateless, JSON answers),
//! one entry of the engine's route table (POST, GET and DELETE), documented in its OpenAPI
//! document and covered by the isolation matrix.
//!
//! [`handle`] authenticates every request first: the bearer token is checked exactly as for the
//! execute route (the [`Caller`] extractor: signature, expiry, organization header, widget
//! origin, the organization's rate limit) and must be an application or scoped token, as
//! execute requires; a refused token answers the engine's 401/403 JSON before any MCP
//! handling. The tools are the connectors the caller sees (a scoped token: its workspace's; an
//! application token: its organization's), named by connector name; a call runs through
//! [`execution::execute`], the execute route's service, so tenancy, audit and metrics apply.
//! A connector with entities in its context store (a completed sync) offers the context store
//! too: in `connector` style its tool's `action` enum gains `context_store_search` and
//! `context_store_sql_query`; in `operation` style each synced entity gets a
//! `<name>_<entity>_context_store_search` tool (schemas from `switchboard_core::tools::context_store`),
//! and its calls run through the same execute service.
//! Stateless, the server offers no stream of its own (GET) and no session to end (DELETE): both
//! answer 405, as the MCP transport allows. A body that is not JSON, or JSON that is not a
//! JSON-RPC message, is a JSON-RPC error (-32700, -32600) with status 400; rmcp's other refusals
//! (a missing `Accept`, a media type other than JSON, a body over the limit) are answered as the
//! engine's error JSON.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ListToolsResult, PaginatedRequestParams, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Map, Value};
use switchboard_core::tools::context_store::{
    context_store_search_tool, search_tool_name, with_context_store, SEARCH_ACTION,
};
use switchboard_core::tools::{ToolFormat, MAX_TOOL_NAME_CHARS};
use switchboard_core::wire::{ConnectorQuery, ExecuteBody};
use switchboard_core::{ErrorCode, ExecutionResult};

use super::synced;
use super::{
    connector_label, describe_result, error_result, error_result_with, operation_names, resolve, server_info,
    success_result, tools, tools_page, unique_prefixes, Call, Entry, ToolStyle, DEFAULT_MAX_OUTPUT_CHARS,
    MAX_ARGUMENT_BYTES,
};
use crate::context_store::search;
use crate::error::{current_request_id, ApiError, REQUEST_ID};
use crate::extract::Caller;
use crate::services::{connectors, execution};
use crate::state::AppState;
use crate::tokens::TokenKind;
use crate::tokens::TokenKind::{Application, Scoped};

/// The request id of the HTTP request carrying an MCP message (rmcp runs handlers on its own
/// tasks, outside the request's scope).
#[derive(Clone)]
struct RequestId(String);

/// `/mcp`, every method: the caller is authenticated before rmcp sees the request and goes
/// into the request's extensions, which rmcp hands to the handler.
pub async fn handle(State(st): State<AppState>, req: Request) -> Response {
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
    let (body, sent) = match json_body(&parts, body, st.settings.body_limit).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let answer = service(st).handle(Request::from_parts(parts, body)).await.map(Body::new);
    as_engine_error(answer, sent.as_deref()).await
}

/// A POST's JSON body, read and checked to be JSON before rmcp sees it: text that is not JSON
/// is a JSON-RPC parse error (-32700) with status 400, as JSON-RPC and the streamable HTTP
/// transport describe it, where rmcp would answer a plain-text 415. Another media type, or
/// another method, goes to rmcp as it came.
/// The JSON's bytes come back with the body, for [`as_engine_error`].
async fn json_body(parts: &Parts, body: Body, limit: usize) -> Result<(Body, Option<axum::body::Bytes>), Response> {
    let json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().unwrap_or_default().trim().eq_ignore_ascii_case("application/json"));
    if parts.method != axum::http::Method::POST || !json {
        return Ok((body, None));
    }
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(e) if e.to_string().contains("length limit") => {
            return Err(ApiError::new(ErrorCode::PayloadTooLarge, "the request body is too large").into_response())
        }
        Err(_) => return Err(ApiError::bad_request("the request body could not be read").into_response()),
    };
    match serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
        Ok(_) => Ok((Body::from(bytes.clone()), Some(bytes))),
        // serde's syntax errors name a place (line and column), never the text.
        Err(e) => Err(json_rpc_error(JSON_RPC_PARSE_ERROR, format!("Parse error: the body is not JSON ({e})"))),
    }
}

/// JSON-RPC's codes for a body that is not JSON, and for JSON that is not a request.
const JSON_RPC_PARSE_ERROR: i32 = -32700;
const JSON_RPC_INVALID_REQUEST: i32 = -32600;

/// A JSON-RPC error answer with no id (the request's could not be read), status 400.
fn json_rpc_error(code: i32, message: String) -> Response {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}});
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

/// rmcp's plain-text refusals (405, 406, 413, 415, ...) as the engine's error JSON, with the
/// same status; every other answer as it is. JSON rmcp could not read as a message (`sent`:
/// the body) is answered as JSON-RPC says, as the stdio transport answers it: invalid params
/// (-32602) with the request's id for a request naming a method, invalid request (-32600) with
/// the id when it can be read, and nothing (202) for a notification or a response.
async fn as_engine_error(answer: Response<Body>, sent: Option<&[u8]>) -> Response {
    let status = answer.status();
    let json = answer
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.as_u16() < 400 || json {
        return answer;
    }
    let allow = answer.headers().get(header::ALLOW).cloned();
    let text = axum::body::to_bytes(answer.into_body(), 4096).await.unwrap_or_default();
    let said: String = String::from_utf8_lossy(&text).trim().chars().take(300).collect();
    // JSON that is not a JSON-RPC message (the body was checked to be JSON: `json_body`).
    if let Some(why) = said.strip_prefix("fail to deserialize request body") {
        return match sent.map(super::stdio::check) {
            Some(super::stdio::Line::Answer(answer)) => (StatusCode::BAD_REQUEST, axum::Json(answer)).into_response(),
            Some(super::stdio::Line::Skip) => StatusCode::ACCEPTED.into_response(),
            _ => {
                let why = switchboard_core::redact::without_values(why.trim());
                json_rpc_error(JSON_RPC_INVALID_REQUEST, format!("Invalid Request: not a JSON-RPC message ({why})"))
            }
        };
    }
    let mut e = match status {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::bad_request(
            "/mcp takes POST only: this stateless server offers no event stream (GET) and no session to end (DELETE)",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(ErrorCode::PayloadTooLarge, "the request body is too large"),
        // Logged, never shown: the public message of an internal error is generic.
        s if s.is_server_error() => ApiError::internal(format!("the MCP transport answered {s}: {said}")),
        _ if said.is_empty() => ApiError::bad_request("not a streamable HTTP MCP request"),
        _ => ApiError::bad_request(format!("not a streamable HTTP MCP request: {said}")),
    };
    e.status = Some(status);
    let mut resp = e.into_response();
    if let Some(allow) = allow {
        resp.headers_mut().insert(header::ALLOW, allow);
    }
    resp
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
    /// The caller, tool style and request id [`handle`] put in the request.
    fn caller(context: &RequestContext<RoleServer>) -> Result<(Caller, ToolStyle, String), McpError> {
        let parts = context.extensions.get::<Parts>();
        let caller = parts.and_then(|p| p.extensions.get::<Caller>()).cloned();
        let style = parts.and_then(|p| p.extensions.get::<ToolStyle>()).copied().unwrap_or_default();
        let id = parts.and_then(|p| p.extensions.get::<RequestId>()).map(|r| r.0.clone()).unwrap_or_default();
        caller.map(|c| (c, style, id)).ok_or_else(|| McpError::internal_error("the request carries no caller", None))
    }

    /// The caller's connectors as tool entries (target: the connector id), in the store's
    /// order, so names are stable, and each entry's workspace id (same order).
    async fn entries(&self, caller: &Caller) -> Result<(Vec<Entry<String>>, Vec<String>), ApiError> {
        let list = connectors::list(&self.st, caller, &ConnectorQuery::default()).await?;
        let keys: Vec<(&str, &str, &str)> =
            list.data.iter().map(|c| (c.name.as_str(), c.slug.as_str(), c.id.as_str())).collect();
        // An application token's list spans end users: its names carry their connector's id,
        // so a name a client listed never comes to mean another end user's connector.
        let prefixes = unique_prefixes(&keys, caller.kind() == TokenKind::Application);
        let (mut out, mut workspaces) = (Vec::new(), Vec::new());
        for (c, prefix) in list.data.iter().zip(prefixes) {
            // A connector whose type this engine no longer loads is left out.
            let Ok(spec) = self.st.registry.get(&c.slug) else { continue };
            let label = connector_label(&c.name, &c.connector_type, &c.id, Some(&c.workspace_name));
            out.push(Entry { prefix, spec, label: Some(label), target: c.id.clone() });
            workspaces.push(c.workspace_id.clone());
        }
        Ok((out, workspaces))
    }

    /// The entities of each entry (in order) whose records are in the context store: the last
    /// sync succeeded, or an earlier one left records in the cache. Read fresh on every call
    /// (a sync that just ended shows at once), one query per workspace cache.
    async fn synced(
        &self,
        caller: &Caller,
        entries: &[Entry<String>],
        workspaces: &[String],
    ) -> Result<Vec<Vec<String>>, ApiError> {
        let connectors: Vec<(&str, &str)> =
            entries.iter().zip(workspaces).map(|(e, ws)| (e.target.as_str(), ws.as_str())).collect();
        synced::synced_entities(&self.st, caller.org(), &connectors).await
    }

    /// The tools of `entries` with the context store of their synced entities.
    async fn list(&self, caller: &Caller, style: ToolStyle) -> Result<Vec<Tool>, ApiError> {
        let (entries, workspaces) = self.entries(caller).await?;
        let synced = self.synced(caller, &entries, &workspaces).await?;
        let mut list = tools(&entries, style);
        match style {
            // One tool per entry, in entry order, then `describe`.
            ToolStyle::Connector => {
                for (tool, names) in list.iter_mut().zip(&synced) {
                    let mut v = serde_json::json!({
                        "name": tool.name,
                        "description": tool.description.as_deref().unwrap_or_default(),
                        "inputSchema": Value::Object((*tool.input_schema).clone()),
                    });
                    with_context_store(&mut v, ToolFormat::Mcp, names);
                    tool.description = v["description"].as_str().map(|d| d.to_string().into());
                    if let Value::Object(schema) = v["inputSchema"].take() {
                        tool.input_schema = Arc::new(schema);
                    }
                }
            }
            ToolStyle::Operation => {
                // Names are unique: a search tool whose name another tool (or an earlier search
                // tool: prefix `a` with entity `b_c`, prefix `a_b` with entity `c`) has is left
                // out; a call by that name goes to the one listed.
                let mut taken: std::collections::HashSet<String> = list.iter().map(|t| t.name.to_string()).collect();
                for (e, names) in entries.iter().zip(&synced) {
                    for entity in names {
                        let fields = search::entity_fields(&e.spec, entity);
                        let mut t = context_store_search_tool(
                            &e.prefix,
                            &e.spec.display_name,
                            entity,
                            fields.as_ref(),
                            ToolFormat::Mcp,
                        );
                        if taken.contains(t["name"].as_str().unwrap_or_default()) {
                            continue;
                        }
                        if let (Some(label), Some(d)) = (&e.label, t["description"].as_str()) {
                            t["description"] = Value::String(format!("{label}. {d}"));
                        }
                        let schema = t["inputSchema"].as_object().cloned().unwrap_or_default();
                        let name = t["name"].as_str().unwrap_or_default().to_string();
                        let description = t["description"].as_str().unwrap_or_default().to_string();
                        taken.insert(name.clone());
                        list.push(Tool::new(name, description, Arc::new(schema)));
                    }
                }
            }
        }
        Ok(list)
    }

    /// In `operation` style, the synced entity whose search tool `name` is.
    async fn search_tool<'a>(
        &self,
        caller: &Caller,
        entries: &'a [Entry<String>],
        workspaces: &[String],
        name: &str,
    ) -> Result<Option<(&'a Entry<String>, String)>, ApiError> {
        // Search tool names end with the action, or are cut to the longest name and hashed.
        if !name.ends_with(SEARCH_ACTION) && name.len() != MAX_TOOL_NAME_CHARS {
            return Ok(None);
        }
        // An operation of the spec keeps its name (`list` left the search tool out then).
        if operation_names(entries).iter().any(|(n, _, _)| n == name) {
            return Ok(None);
        }
        let synced = self.synced(caller, entries, workspaces).await?;
        Ok(entries
            .iter()
            .zip(synced)
            .find_map(|(e, names)| names.into_iter().find(|n| search_tool_name(&e.prefix, n) == name).map(|n| (e, n))))
    }

    async fn call(
        &self,
        caller: &Caller,
        style: ToolStyle,
        request: CallToolRequestParams,
    ) -> Result<CallToolResponse, McpError> {
        let (entries, workspaces) = match self.entries(caller).await {
            Ok(e) => e,
            Err(e) => return Ok(api_error(e).into()),
        };
        if style == ToolStyle::Operation {
            match self.search_tool(caller, &entries, &workspaces, request.name.as_ref()).await {
                Ok(Some((entry, entity))) => {
                    return Ok(self.search(caller, entry, entity, request.arguments).await.into())
                }
                Ok(None) => {}
                Err(e) => return Ok(api_error(e).into()),
            }
        }
        let result = match resolve(&entries, style, &request)? {
            Err(bad) => bad,
            Ok(Call::Describe(e)) => describe_result(e, style, DEFAULT_MAX_OUTPUT_CHARS),
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

impl HostedServer {
    /// A call of a `<name>_<entity>_context_store_search` tool: its arguments are the search's
    /// params, run by the execute service.
    async fn search(
        &self,
        caller: &Caller,
        entry: &Entry<String>,
        entity: String,
        arguments: Option<Map<String, Value>>,
    ) -> rmcp::model::CallToolResult {
        let params = Value::Object(arguments.unwrap_or_default());
        let size = serde_json::to_vec(&params).map(|v| v.len()).unwrap_or(usize::MAX);
        if size > MAX_ARGUMENT_BYTES {
            return error_result(
                ErrorCode::PayloadTooLarge,
                &format!("the arguments are {size} bytes of JSON; at most {MAX_ARGUMENT_BYTES} are accepted"),
                None,
            );
        }
        let body = ExecuteBody {
            entity,
            action: SEARCH_ACTION.to_string(),
            params: Some(params),
            select_fields: None,
            exclude_fields: None,
            skip_truncation: None,
            intent: None,
        };
        match execution::execute(&self.st, caller, &entry.target, body).await {
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
}

/// An engine error as a tool error, with the message and details the HTTP API would answer.
fn api_error(e: ApiError) -> rmcp::model::CallToolResult {
    let (message, details) = e.public();
    error_result_with(e.code, &message, details.as_ref(), e.retry_after, current_request_id().as_deref())
}

/// An engine error listing the tools, as the protocol's error, with the HTTP API's message.
fn list_error(e: ApiError) -> McpError {
    let (message, _) = e.public();
    McpError::internal_error(format!("{}: {message}", e.code.as_str()), None)
}

impl ServerHandler for HostedServer {
    fn get_info(&self) -> ServerConfig {
        server_info()
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let (caller, style, id) = Self::caller(&context)?;
        let list = REQUEST_ID.scope(id, self.list(&caller, style)).await.map_err(list_error)?;
        tools_page(list, request.as_ref())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What an `internal` or `unavailable` error says (a storage failure's text, which may name
    /// the database) stays in the engine's log: a tool call or a tool listing gets the HTTP
    /// API's generic message; other codes keep theirs.
    #[test]
    fn internal_and_unavailable_errors_reach_mcp_clients_as_the_http_api_words_them() {
        let inner = "pool timed out: postgres://switchboard:hunter2@db.internal/sb";
        for code in [ErrorCode::Internal, ErrorCode::Unavailable] {
            let (public, _) = ApiError::new(code, inner).public();
            let called = serde_json::to_string(&api_error(ApiError::new(code, inner))).unwrap_or_default();
            let listed = list_error(ApiError::new(code, inner)).message.to_string();
            for text in [&called, &listed] {
                assert!(!text.contains("hunter2") && !text.contains("pool timed out"), "{text}");
                assert!(text.contains(&public) && text.contains(code.as_str()), "{text}");
            }
        }
        let called = serde_json::to_string(&api_error(ApiError::new(ErrorCode::NotFound, "no connector c1")));
        assert!(called.unwrap_or_default().contains("no connector c1"));
    }

    /// A tool error carries what the HTTP API's error body does beyond the message: how long to
    /// wait (`rate_limited`, `unavailable`) and the request id an `internal` message refers to.
    #[tokio::test]
    async fn tool_errors_say_how_long_to_wait_and_which_request() {
        let body = |r: rmcp::model::CallToolResult| -> Value {
            let v = serde_json::to_value(&r).unwrap_or_default();
            serde_json::from_str(v["content"][0]["text"].as_str().unwrap_or_default()).unwrap_or_default()
        };
        let mut limited = ApiError::new(ErrorCode::RateLimited, "GitHub is rate limiting");
        limited.retry_after = Some(7.5);
        let got = REQUEST_ID.scope("req-1234".to_string(), async { body(api_error(limited)) }).await;
        assert_eq!((got["code"].as_str(), got["retry_after"].as_f64()), (Some("rate_limited"), Some(7.5)), "{got}");
        assert_eq!(got["request_id"], "req-1234", "{got}");
        let got = body(api_error(ApiError::new(ErrorCode::NotFound, "no connector c1")));
        assert!(got.get("retry_after").is_none() && got.get("request_id").is_none(), "{got}");
    }
}
