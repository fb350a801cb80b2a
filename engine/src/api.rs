//! The HTTP handlers: each parses its request into a [`wire`](switchboard_core::wire) type,
//! calls one function of [`crate::services`] and answers the wire type it returns; errors
//! answer as [`ErrorBody`] through [`ApiError`](crate::error::ApiError). The `#[utoipa::path]`
//! of each handler documents exactly these types (see [`crate::openapi`]).

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use switchboard_core::wire::{
    ApplicationToken, CheckResponse, Connector, ConnectorList, ConnectorQuery, CreateConnector, DefinitionList,
    ErrorBody, ExecuteBody, ExecuteResponse, InstanceList, NameFilter, Status, TemplateList, TokenInfo, TokenRequest,
    UpdateConnector, WorkspaceFilter, WorkspaceList, WorkspaceRef, WorkspaceToken,
};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Allowed, ApplicationOnly, ApplicationOrScoped, Body, Caller, Params, Segment};
use crate::services::{catalog, connectors, execution, tokens};
use crate::state::AppState;

// ---------------------------------------------------------------- tokens

/// Exchanges client credentials for an application token.
#[utoipa::path(post, path = "/api/v1/account/applications/token", request_body = TokenRequest,
    responses((status = 200, description = "an application token", body = ApplicationToken),
        (status = 401, description = "wrong client credentials", body = ErrorBody),
        (status = 429, description = "too many attempts for this client id or address; see Retry-After", body = ErrorBody)))]
pub async fn application_token(
    State(st): State<AppState>,
    Body(req): Body<TokenRequest>,
) -> ApiResult<Json<ApplicationToken>> {
    Ok(Json(tokens::application_token(&st, req).await?))
}

/// Issues a scoped token for one workspace (created if new).
#[utoipa::path(post, path = "/api/v1/embedded/scoped-token", request_body = WorkspaceRef,
    responses((status = 200, description = "a scoped token", body = WorkspaceToken),
        (status = 422, description = "no or an invalid workspace name", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn scoped_token(
    State(st): State<AppState>,
    Allowed(caller, _): Allowed<ApplicationOnly>,
    Body(req): Body<WorkspaceRef>,
) -> ApiResult<Json<WorkspaceToken>> {
    Ok(Json(tokens::scoped_token(&st, &caller, req).await?))
}

/// Issues a widget token for one workspace, usable only from `allowed_origin`.
#[utoipa::path(post, path = "/api/v1/embedded/widget-token", request_body = WorkspaceRef,
    responses((status = 200, description = "a widget token", body = WorkspaceToken),
        (status = 422, description = "no workspace name or no exact origin", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn widget_token(
    State(st): State<AppState>,
    Allowed(caller, _): Allowed<ApplicationOnly>,
    Body(req): Body<WorkspaceRef>,
) -> ApiResult<Json<WorkspaceToken>> {
    Ok(Json(tokens::widget_token(&st, &caller, req).await?))
}

/// What a scoped or widget token is.
#[utoipa::path(get, path = "/api/v1/embedded/scoped-token/info",
    responses((status = 200, description = "the token's organization, workspace, kind and expiry", body = TokenInfo)),
    security(("bearer" = [])))]
pub async fn token_info(caller: Caller) -> ApiResult<Json<TokenInfo>> {
    Ok(Json(tokens::token_info(&caller)?))
}

// ---------------------------------------------------------------- catalog

/// The connector definitions this engine can run. Public: no token needed (a token sent is
/// not looked at).
#[utoipa::path(get, path = "/api/v1/integrations/definitions/sources", params(NameFilter),
    responses((status = 200, description = "the definitions", body = DefinitionList)))]
pub async fn definitions(
    State(st): State<AppState>,
    headers: axum::http::HeaderMap,
    Params(q): Params<NameFilter>,
) -> Json<DefinitionList> {
    Json(catalog::definitions(&st, &q, &own_base(&headers)))
}

/// This engine's address as the caller reached it (`http://` and its `Host`).
fn own_base(headers: &axum::http::HeaderMap) -> String {
    let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    // A Host header is the caller's to set: only a plain host[:port] is used.
    let host = if host.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c)) { host } else { "localhost" };
    format!("http://{host}")
}

/// A connector's icon (SVG), made by the engine. Public.
#[utoipa::path(get, path = "/api/v1/integrations/icons/{slug}", params(("slug" = String, Path)),
    responses((status = 200, description = "an SVG image", content_type = "image/svg+xml", body = String),
        (status = 404, description = "no such connector", body = ErrorBody)))]
pub async fn icon(State(st): State<AppState>, Segment(slug): Segment) -> ApiResult<impl IntoResponse> {
    let svg = catalog::icon(&st, &slug).ok_or_else(|| ApiError::not_found("connector"))?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "image/svg+xml"),
            (axum::http::header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        svg,
    ))
}

/// What each connector needs to be created: credential fields per auth method, required
/// config, replication config schema.
#[utoipa::path(get, path = "/api/v1/integrations/templates/sources",
    responses((status = 200, description = "the templates", body = TemplateList)), security(("bearer" = [])))]
pub async fn templates(State(st): State<AppState>, caller: Caller) -> ApiResult<Json<TemplateList>> {
    Ok(Json(crate::widget::filter_templates(&st, &caller, catalog::templates(&st)).await?))
}

/// The organization's workspaces.
#[utoipa::path(get, path = "/api/v1/workspaces", params(WorkspaceFilter),
    responses((status = 200, description = "the workspaces", body = WorkspaceList)), security(("bearer" = [])))]
pub async fn workspaces(
    State(st): State<AppState>,
    caller: Caller,
    Params(q): Params<WorkspaceFilter>,
) -> ApiResult<Json<WorkspaceList>> {
    Ok(Json(catalog::workspaces(&st, &caller, &q).await?))
}

// ---------------------------------------------------------------- connectors

/// Creates a connector with encrypted credentials.
#[utoipa::path(post, path = "/api/v1/integrations/connectors", request_body = CreateConnector,
    responses((status = 201, description = "the connector", body = Connector),
        (status = 422, description = "every missing or invalid field, under details.fields", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_connector(
    State(st): State<AppState>,
    caller: Caller,
    Body(req): Body<CreateConnector>,
) -> ApiResult<(StatusCode, Json<Connector>)> {
    Ok((StatusCode::CREATED, Json(connectors::create(&st, &caller, req).await?)))
}

/// The connectors the caller can see; never credentials.
#[utoipa::path(get, path = "/api/v1/integrations/connectors", params(ConnectorQuery),
    responses((status = 200, description = "the connectors", body = ConnectorList)), security(("bearer" = [])))]
pub async fn list_connectors(
    State(st): State<AppState>,
    caller: Caller,
    Params(q): Params<ConnectorQuery>,
) -> ApiResult<Json<ConnectorList>> {
    Ok(Json(connectors::list(&st, &caller, &q).await?))
}

/// One connector.
#[utoipa::path(get, path = "/api/v1/integrations/connectors/{id}", params(("id" = String, Path)),
    responses((status = 200, description = "the connector", body = Connector),
        (status = 404, description = "not in the caller's scope", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_connector(
    State(st): State<AppState>,
    caller: Caller,
    Segment(id): Segment,
) -> ApiResult<Json<Connector>> {
    Ok(Json(connectors::get(&st, &caller, &id).await?))
}

/// Renames a connector, replaces its credentials, config or replication config.
#[utoipa::path(patch, path = "/api/v1/integrations/connectors/{id}", params(("id" = String, Path)), request_body = UpdateConnector,
    responses((status = 200, description = "the connector", body = Connector),
        (status = 422, description = "every invalid field, under details.fields", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_connector(
    State(st): State<AppState>,
    Allowed(caller, _): Allowed<ApplicationOrScoped>,
    Segment(id): Segment,
    Body(req): Body<UpdateConnector>,
) -> ApiResult<Json<Connector>> {
    Ok(Json(connectors::update(&st, &caller, &id, req).await?))
}

/// Deletes a connector and its credentials.
#[utoipa::path(delete, path = "/api/v1/integrations/connectors/{id}", params(("id" = String, Path)),
    responses((status = 204, description = "deleted")), security(("bearer" = [])))]
pub async fn delete_connector(
    State(st): State<AppState>,
    caller: Caller,
    Segment(id): Segment,
) -> ApiResult<StatusCode> {
    connectors::delete(&st, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Older form of the connector list: `{instances: [{id, name}]}`.
#[utoipa::path(get, path = "/api/v1/connectors/instances_for_user", params(ConnectorQuery),
    responses((status = 200, description = "the connectors' ids and names", body = InstanceList)), security(("bearer" = [])))]
pub async fn instances_for_user(
    State(st): State<AppState>,
    caller: Caller,
    Params(q): Params<ConnectorQuery>,
) -> ApiResult<Json<InstanceList>> {
    Ok(Json(connectors::instances(&st, &caller, &q).await?))
}

// ---------------------------------------------------------------- execution

/// Runs one operation with the connector's stored credentials.
#[utoipa::path(post, path = "/api/v1/integrations/connectors/{id}/execute", params(("id" = String, Path)), request_body = ExecuteBody,
    responses((status = 200, description = "the records or the record, and the meta values", body = ExecuteResponse),
        (status = 422, description = "unknown entity or action, invalid params", body = ErrorBody),
        (status = 502, description = "the provider failed or rejected the connector's credentials", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn execute(
    State(st): State<AppState>,
    Allowed(caller, _): Allowed<ApplicationOrScoped>,
    Segment(id): Segment,
    Body(req): Body<ExecuteBody>,
) -> ApiResult<Response> {
    let answer = execution::execute_json(&st, &caller, &id, req).await?;
    let body = answer.into_json().await.map_err(|e| ApiError::internal(format!("cannot write the answer: {e}")))?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response())
}

/// Runs the connector's health check.
#[utoipa::path(post, path = "/api/v1/integrations/connectors/{id}/check", params(("id" = String, Path)),
    responses((status = 200, description = "healthy, or unhealthy with the error", body = CheckResponse)),
    security(("bearer" = [])))]
pub async fn check(State(st): State<AppState>, caller: Caller, Segment(id): Segment) -> ApiResult<Json<CheckResponse>> {
    Ok(Json(execution::check(&st, &caller, &id).await?))
}

// ---------------------------------------------------------------- operations

/// The process is up.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "ok", body = Status)))]
pub async fn healthz() -> Json<Status> {
    Json(Status { status: "ok".into() })
}

/// Storage answers.
#[utoipa::path(get, path = "/readyz",
    responses((status = 200, description = "ready", body = Status), (status = 503, description = "storage unreachable", body = Status)))]
pub async fn readyz(State(st): State<AppState>) -> (StatusCode, Json<Status>) {
    if st.db.ping().await {
        (StatusCode::OK, Json(Status { status: "ready".into() }))
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(Status { status: "unavailable".into() }))
    }
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics",
    responses((status = 200, description = "Prometheus text", body = String, content_type = "text/plain")))]
pub async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    ([("content-type", "text/plain; version=0.0.4")], st.metrics.render())
}
