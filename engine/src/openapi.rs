//! `/api/v1/openapi.json`, generated from the handlers' annotations.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api;

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

/// The engine's OpenAPI 3.1 document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Switchboard engine", description = "Hosted execution of connector operations for AI agents."),
    paths(
        api::application_token, application_token_alias, api::scoped_token, api::widget_token, widget_token_alias, api::token_info,
        api::definitions, api::templates, api::workspaces,
        api::create_connector, api::list_connectors, api::get_connector, api::update_connector, api::delete_connector,
        api::execute, execute_instances_alias, execute_sources_alias, api::check, api::instances_for_user,
        api::healthz, api::readyz, api::metrics, serve,
    ),
    components(schemas(api::TokenRequest, api::WorkspaceRef, api::CreateConnector, api::UpdateConnector, api::ExecuteRequest)),
    modifiers(&Bearer)
)]
pub struct ApiDoc;

/// Alias of `/api/v1/account/applications/token`.
#[utoipa::path(post, path = "/api/v1/applications/token", request_body = api::TokenRequest, responses((status = 200, description = "as the newer path")))]
#[allow(dead_code)]
fn application_token_alias() {}

/// Alias of `/api/v1/embedded/widget-token`.
#[utoipa::path(post, path = "/api/v1/account/applications/widget-token", request_body = api::WorkspaceRef, responses((status = 200, description = "as the newer path")), security(("bearer" = [])))]
#[allow(dead_code)]
fn widget_token_alias() {}

/// Alias of `/api/v1/integrations/connectors/{id}/execute`.
#[utoipa::path(post, path = "/api/v1/connectors/instances/{id}/execute", params(("id" = String, Path)), request_body = api::ExecuteRequest, responses((status = 200, description = "as the newer path")), security(("bearer" = [])))]
#[allow(dead_code)]
fn execute_instances_alias() {}

/// Alias of `/api/v1/integrations/connectors/{id}/execute`.
#[utoipa::path(post, path = "/api/v1/connectors/sources/{id}/execute", params(("id" = String, Path)), request_body = api::ExecuteRequest, responses((status = 200, description = "as the newer path")), security(("bearer" = [])))]
#[allow(dead_code)]
fn execute_sources_alias() {}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", responses((status = 200, description = "OpenAPI 3.1 JSON")))]
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
