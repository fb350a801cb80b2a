//! The context store's routes and their bodies: starting syncs and reading their status. Search
//! and SQL are actions of the execute route (see [`super::execute`]).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use switchboard_core::wire::ErrorBody;

use super::sync;
use crate::error::ApiResult;
use crate::extract::{Caller, Segment};
use crate::state::AppState;

// The bodies are the wire contract's, shared with the SDKs' hosted client.
pub use switchboard_core::wire::{EntityStatus, StoreStatus, SyncRequest, SyncStart, SyncStarted};

/// Starts full syncs of entities of the connector into its workspace's context store, in the
/// background (an interrupted sync resumes from its last committed page).
#[utoipa::path(post, path = "/api/v1/integrations/connectors/{id}/context-store/sync", params(("id" = String, Path)),
    request_body = SyncRequest,
    responses((status = 202, description = "the syncs started, resumed or already running", body = SyncStarted),
        (status = 404, description = "not in the caller's scope", body = ErrorBody),
        (status = 422, description = "no entities, or an entity that cannot be synced (details.reason)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn start_sync(
    State(st): State<AppState>,
    caller: Caller,
    Segment(id): Segment,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<SyncStarted>)> {
    Ok((StatusCode::ACCEPTED, Json(sync::start(&st, &caller, &id, &body).await?)))
}

/// The connector's context store sync status, per entity.
#[utoipa::path(get, path = "/api/v1/integrations/connectors/{id}/context-store/status", params(("id" = String, Path)),
    responses((status = 200, description = "status and counts per synced entity", body = StoreStatus),
        (status = 404, description = "not in the caller's scope", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn status(State(st): State<AppState>, caller: Caller, Segment(id): Segment) -> ApiResult<Json<StoreStatus>> {
    Ok(Json(sync::status(&st, &caller, &id).await?))
}
