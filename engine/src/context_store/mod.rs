//! The entity cache ("context store"), first increment: per connector, opt-in full syncs of
//! chosen entities into a SQLite file of the connector's workspace, and search and read-only
//! SQL over the cached records through the execute route (`context_store_search`,
//! `context_store_sql_query`, the reference's action names and shapes).
//!
//! - [`store`]: the per-workspace files (0600, under `<data_dir>/context-store/`), one table per
//!   connector entity and a sync state table.
//! - [`sync`]: a full sync in the background, one committed transaction per page (the page's
//!   records and the checkpoint together), resumable after a crash, with reconciliation.
//! - [`search`]: the filter language of `switchboard_core::store_filter` and the read-only SQL
//!   connection (authorizer, progress handler, row limit).
//! - [`api`]: the sync and status routes.
//!
//! - [`lease`]: one process syncs a connector entity at a time, across engines on one main store.
//! - [`schedule`]: full syncs every `every_seconds`, started by each engine's scheduler.
//!
//! - [`pg`], [`pg_search`]: the same cache in the main store when it is PostgreSQL: a schema
//!   per workspace with a read-only role for SQL queries.
//!
//! On a SQLite main store the cache is the SQLite files under the data dir; on a PostgreSQL main
//! store it is in that database, so every replica sees every sync.

pub mod api;
pub mod incremental;
pub mod lease;
pub mod pg;
pub mod pg_search;
pub mod schedule;
pub mod search;
pub mod store;
pub mod sync;

use std::time::Instant;

use serde_json::Value;
use switchboard_core::wire::{ConnectorMetadata, ExecuteBody, ExecuteResponse};
use switchboard_core::ErrorCode;

use crate::db::ConnectorRow;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The execute actions answered from the cache instead of the provider.
pub const ACTIONS: [&str; 2] = ["context_store_search", "context_store_sql_query"];

/// Whether `action` is answered from the cache.
pub fn is_store_action(action: &str) -> bool {
    ACTIONS.contains(&action)
}

/// An error of the cache with a `details.reason` a caller can branch on.
pub(crate) fn refused(code: ErrorCode, reason: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(code, message).with_reason(reason)
}

/// Removes what the cache keeps of a deleted connector: its entities' tables and their sync
/// state, in its workspace's file or schema (its schedules and leases go with its row, in
/// [`crate::db::Db::delete_connector`]). A sync of it still running stops at its next page,
/// finding its connector gone, and removes what its last page wrote.
pub async fn forget_connector(st: &AppState, row: &ConnectorRow) -> ApiResult<()> {
    if let Some(cache) = pg::PgCache::of(st, row) {
        return cache.forget(&row.id).await;
    }
    let file = store::workspace_file(&st.settings.data_dir, &row.organization_id, &row.workspace_id);
    if !file.exists() {
        return Ok(());
    }
    let id = row.id.clone();
    tokio::task::spawn_blocking(move || store::forget(&file, &id))
        .await
        .map_err(|e| ApiError::internal(format!("context store: {e}")))?
        .map_err(|e| ApiError::internal(format!("context store: {e}")))
}

/// Runs `body` (one of [`ACTIONS`]) on connector `row`'s cached records. The caller's access
/// to `row` was checked by the execute route; the file is the row's own workspace's.
pub async fn execute(st: &AppState, row: &ConnectorRow, body: &ExecuteBody) -> ApiResult<ExecuteResponse> {
    let started = Instant::now();
    let params = body.params.clone().unwrap_or(Value::Null);
    if let Some(cache) = pg::PgCache::of(st, row) {
        let result = match body.action.as_str() {
            "context_store_search" => {
                let spec = st.registry.get(&row.slug)?;
                let fields = search::entity_fields(&spec, &body.entity);
                pg_search::search(cache, row.id.clone(), body.entity.clone(), params, fields, started).await?
            }
            _ => pg_search::sql_query(cache, row.id.clone(), body.entity.clone(), params, started).await?,
        };
        return Ok(ExecuteResponse { result, connector_metadata: ConnectorMetadata::default() });
    }
    let file = store::workspace_file(&st.settings.data_dir, &row.organization_id, &row.workspace_id);
    let result = match body.action.as_str() {
        "context_store_search" => {
            let spec = st.registry.get(&row.slug)?;
            let fields = search::entity_fields(&spec, &body.entity);
            search::search(file, row.id.clone(), body.entity.clone(), params, fields, started).await?
        }
        _ => search::sql_query(file, row.id.clone(), body.entity.clone(), params, started).await?,
    };
    Ok(ExecuteResponse { result, connector_metadata: ConnectorMetadata::default() })
}
