//! `/api/v1/openapi.json`, generated from the handlers' annotations and the
//! [`wire`](switchboard_core::wire) types they parse and answer, so the document describes the
//! bodies the engine really sends (`engine/tests/openapi.rs` checks real answers against it).
//!
//! Every operation also documents a `default` answer: any other status carries an
//! [`ErrorBody`] (the request timeout and the rate limit
//! apply to every route).

use axum::Json;
use switchboard_core::wire::{
    ApplicationToken, CheckError, CheckResponse, Connector, ConnectorList, ConnectorMetadata, CreateConnector,
    DefinitionList, ErrorBody, ExecuteBody, ExecuteResponse, Instance, InstanceList, NextPage, SourceDefinition,
    Status, Template, TemplateAuth, TemplateConfig, TemplateField, TemplateList, TemplateSummary, TokenInfo,
    TokenRequest, UpdateConnector, WorkspaceInfo, WorkspaceList, WorkspaceRef, WorkspaceToken,
};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::api;

/// The bearer scheme the `security` of each path names.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
            );
        }
    }
}

/// A `default` answer of every operation: the error body.
struct DefaultError;

impl Modify for DefaultError {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let response = ResponseBuilder::new()
            .description("any other status: an error with one of the public codes")
            .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build())
            .build();
        for item in openapi.paths.paths.values_mut() {
            let operations: [&mut Option<Operation>; 8] = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for op in operations.into_iter().flatten() {
                op.responses.responses.entry("default".into()).or_insert_with(|| RefOr::T(response.clone()));
            }
        }
    }
}

/// The engine's OpenAPI 3.1 document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Switchboard engine", description = "Hosted execution of connector operations for AI agents."),
    paths(
        api::application_token, application_token_alias, api::scoped_token, api::widget_token, widget_token_alias, api::token_info,
        api::definitions, api::icon, api::templates, api::workspaces,
        api::create_connector, api::list_connectors, api::get_connector, api::update_connector, api::delete_connector,
        api::execute, execute_instances_alias, execute_sources_alias, create_source_alias, api::check, api::instances_for_user,
        api::healthz, api::readyz, api::metrics, serve, mcp_post, mcp_get, mcp_delete,
        crate::context_store::api::start_sync, crate::context_store::api::status,
        crate::oauth::list_clients, crate::oauth::put_client, crate::oauth::delete_client, crate::oauth::initiate, crate::oauth::callback,
        crate::widget::page, crate::widget::script, crate::widget::style, crate::widget::embed,
        crate::widget::get_allowed_templates, crate::widget::put_allowed_templates,
        crate::console::page, crate::console::script, crate::console::style, crate::console::login,
        crate::console::logout, crate::console::session, crate::console::workspaces, crate::console::connectors,
        crate::console::audit, crate::console::health, crate::console::rotate_secret,
    ),
    components(schemas(
        ErrorBody, TokenRequest, ApplicationToken, WorkspaceRef, WorkspaceToken, TokenInfo,
        SourceDefinition, DefinitionList, TemplateField, TemplateAuth, TemplateConfig, Template, TemplateList,
        WorkspaceInfo, WorkspaceList,
        CreateConnector, UpdateConnector, TemplateSummary, Connector, ConnectorList, Instance, InstanceList,
        ExecuteBody, NextPage, ConnectorMetadata, ExecuteResponse, CheckError, CheckResponse, Status,
        crate::context_store::api::SyncRequest, crate::context_store::api::SyncStart,
        crate::context_store::api::SyncStarted, crate::context_store::api::EntityStatus,
        crate::context_store::api::StoreStatus,
        switchboard_core::wire::OAuthClientRequest, switchboard_core::wire::OAuthClient, switchboard_core::wire::OAuthClientList,
        switchboard_core::wire::OAuthInitiate, switchboard_core::wire::OAuthConsent, switchboard_core::wire::OAuthCallbackQuery,
        crate::console::ConsoleLogin, crate::console::ConsoleSession, crate::console::ConsoleWorkspace,
        crate::console::ConsoleWorkspaceList, crate::console::ConsoleConnector, crate::console::ConsoleConnectorList,
        crate::console::ConsoleAuditRecord, crate::console::ConsoleAuditPage, crate::console::ConsoleMetrics,
        crate::console::ConsoleHealth, crate::console::RotatedSecret,
        crate::widget::SetAllowedTemplates, crate::widget::AllowedTemplates,
    )),
    modifiers(&Bearer, &DefaultError)
)]
pub struct ApiDoc;

/// The older create call (`source_template_id`, `workspace_id`, `name`, `auth_config`): the same
/// as `POST /api/v1/integrations/connectors`.
#[utoipa::path(post, path = "/v1/integrations/sources", request_body = CreateConnector,
    responses((status = 201, description = "the connector", body = Connector),
        (status = 422, description = "every missing or invalid field, under details.fields", body = ErrorBody)),
    security(("bearer" = [])))]
#[allow(dead_code)]
fn create_source_alias() {}

/// Alias of `/api/v1/account/applications/token`.
#[utoipa::path(post, path = "/api/v1/applications/token", request_body = TokenRequest,
    responses((status = 200, description = "an application token", body = ApplicationToken),
        (status = 401, description = "wrong client credentials", body = ErrorBody)))]
#[allow(dead_code)]
fn application_token_alias() {}

/// Alias of `/api/v1/embedded/widget-token`.
#[utoipa::path(post, path = "/api/v1/account/applications/widget-token", request_body = WorkspaceRef,
    responses((status = 200, description = "a widget token", body = WorkspaceToken),
        (status = 422, description = "no workspace name or no exact origin", body = ErrorBody)),
    security(("bearer" = [])))]
#[allow(dead_code)]
fn widget_token_alias() {}

/// Alias of `/api/v1/integrations/connectors/{id}/execute`.
#[utoipa::path(post, path = "/api/v1/connectors/instances/{id}/execute", params(("id" = String, Path)), request_body = ExecuteBody,
    responses((status = 200, description = "as the newer path", body = ExecuteResponse)), security(("bearer" = [])))]
#[allow(dead_code)]
fn execute_instances_alias() {}

/// Alias of `/api/v1/integrations/connectors/{id}/execute`.
#[utoipa::path(post, path = "/api/v1/connectors/sources/{id}/execute", params(("id" = String, Path)), request_body = ExecuteBody,
    responses((status = 200, description = "as the newer path", body = ExecuteResponse)), security(("bearer" = [])))]
#[allow(dead_code)]
fn execute_sources_alias() {}

/// MCP (Model Context Protocol) over streamable HTTP, stateless: each POST carries one JSON-RPC
/// message (`initialize`, `tools/list`, `tools/call`, ...) and is answered on its own. The tools
/// are the connectors the token sees: a scoped token's workspace, an application token's
/// organization. Application and scoped tokens only; any other is refused with the engine's
/// error JSON before the message is read. `Accept` must name both `application/json` and
/// `text/event-stream`. `?tools=operation` offers one tool per operation.
#[utoipa::path(post, path = "/mcp",
    params(("tools" = Option<String>, Query, description = "`connector` (default) or `operation`")),
    request_body(content = Object, description = "one JSON-RPC 2.0 request or notification", content_type = "application/json"),
    responses(
        (status = 200, description = "the JSON-RPC answer (a protocol error such as an unknown tool is a JSON-RPC error; a failed tool call is a result with `isError`)", body = Object, content_type = "application/json"),
        (status = 202, description = "a notification, accepted"),
        (status = 401, description = "no token, a refused token, or a widget token", body = ErrorBody),
        (status = 406, description = "`Accept` does not name application/json and text/event-stream", body = ErrorBody),
        (status = 413, description = "a body over the engine's body limit", body = ErrorBody),
        (status = 400, description = "a body that is not JSON (JSON-RPC error -32700), JSON that is not a JSON-RPC message (-32600), or a request naming a method with params that cannot be read (-32602): a JSON-RPC error answer with the request's id when it can be read, else a null id", body = Object, content_type = "application/json"),
        (status = 415, description = "a `Content-Type` other than application/json", body = ErrorBody)),
    security(("bearer" = [])))]
#[allow(dead_code)]
fn mcp_post() {}

/// The server-initiated event stream of streamable HTTP: this stateless server offers none, so
/// an authenticated GET answers 405 (the transport allows it).
#[utoipa::path(get, path = "/mcp",
    responses(
        (status = 401, description = "no token, a refused token, or a widget token", body = ErrorBody),
        (status = 405, description = "no event stream: POST each message", body = ErrorBody)),
    security(("bearer" = [])))]
#[allow(dead_code)]
fn mcp_get() {}

/// Ending a streamable HTTP session: this stateless server keeps none, so an authenticated
/// DELETE answers 405 (the transport allows it).
#[utoipa::path(delete, path = "/mcp",
    responses(
        (status = 401, description = "no token, a refused token, or a widget token", body = ErrorBody),
        (status = 405, description = "no session to end", body = ErrorBody)),
    security(("bearer" = [])))]
#[allow(dead_code)]
fn mcp_delete() {}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json",
    responses((status = 200, description = "OpenAPI 3.1 JSON", body = Object)))]
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
