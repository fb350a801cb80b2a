//! Sync schedules: per connector entity, a full sync every `every_seconds` (at least
//! [`MIN_EVERY_SECONDS`]), kept in the main store's `context_store_schedules` so every replica
//! sees them. Each engine's scheduler ([`super::sync::run_due`]) starts the due ones; the lease
//! ([`super::lease`]) and a compare-and-swap on `next_run_at` keep one replica per run.

use std::collections::HashMap;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::db::{ConnectorRow, Db};
use crate::error::{ApiError, ApiResult};

/// The shortest schedule.
pub const MIN_EVERY_SECONDS: i64 = 60;
/// The longest schedule (a year).
pub const MAX_EVERY_SECONDS: i64 = 366 * 24 * 3600;

fn store_error(e: sqlx::Error) -> ApiError {
    ApiError::internal(format!("context store schedule: {e}"))
}

/// A schedule whose run is due.
#[derive(Debug, Clone)]
pub struct Due {
    pub connector_id: String,
    pub entity: String,
    pub organization_id: String,
    pub workspace_id: String,
    pub every_seconds: i64,
    pub next_run_at: i64,
}

/// Schedules `entity` of connector `row` every `every_seconds`, the first run that long from
/// `now` (unix ms).
pub async fn set(db: &Db, row: &ConnectorRow, entity: &str, every_seconds: i64, now: i64) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO context_store_schedules (connector_id, entity, organization_id, workspace_id, every_seconds,
            next_run_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (connector_id, entity) DO UPDATE SET every_seconds = excluded.every_seconds,
            next_run_at = excluded.next_run_at",
    )
    .bind(&row.id)
    .bind(entity)
    .bind(&row.organization_id)
    .bind(&row.workspace_id)
    .bind(every_seconds)
    .bind(now + every_seconds * 1000)
    .execute(db.pool())
    .await
    .map_err(store_error)?;
    Ok(())
}

/// Removes the schedule of `entity` of connector `connector_id`, if any.
pub async fn clear(db: &Db, connector_id: &str, entity: &str) -> ApiResult<()> {
    sqlx::query("DELETE FROM context_store_schedules WHERE connector_id = $1 AND entity = $2")
        .bind(connector_id)
        .bind(entity)
        .execute(db.pool())
        .await
        .map_err(store_error)?;
    Ok(())
}

/// The schedules of connector `connector_id`: entity to (every_seconds, next_run_at as RFC 3339).
pub async fn of_connector(db: &Db, connector_id: &str) -> ApiResult<HashMap<String, (i64, String)>> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT entity, every_seconds, next_run_at FROM context_store_schedules WHERE connector_id = $1",
    )
    .bind(connector_id)
    .fetch_all(db.pool())
    .await
    .map_err(store_error)?;
    Ok(rows.into_iter().map(|(e, every, next)| (e, (every, rfc3339_ms(next)))).collect())
}

/// The schedules due at `now` (unix ms), the longest overdue first, but for those whose entity
/// is syncing (its lease live): those stay due, and read first again every round they would
/// hold up the schedules behind them.
pub async fn due(db: &Db, now: i64) -> ApiResult<Vec<Due>> {
    let leases_now =
        db.lease_clock_ms().await.map_err(|e| ApiError::internal(format!("context store schedule: {e}")))?;
    let rows: Vec<(String, String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT s.connector_id, s.entity, s.organization_id, s.workspace_id, s.every_seconds, s.next_run_at
         FROM context_store_schedules s
         WHERE s.next_run_at <= $1 AND NOT EXISTS (
            SELECT 1 FROM context_store_leases l
            WHERE l.connector_id = s.connector_id AND l.entity = s.entity AND l.expires_at >= $2)
         ORDER BY s.next_run_at LIMIT 100",
    )
    .bind(now)
    .bind(leases_now)
    .fetch_all(db.pool())
    .await
    .map_err(store_error)?;
    Ok(rows
        .into_iter()
        .map(|(connector_id, entity, organization_id, workspace_id, every_seconds, next_run_at)| Due {
            connector_id,
            entity,
            organization_id,
            workspace_id,
            every_seconds,
            next_run_at,
        })
        .collect())
}

/// Moves `due`'s next run `every_seconds` past `now`, if no one did since it was read: true
/// when this call did (the caller runs it).
pub async fn claim(db: &Db, due: &Due, now: i64) -> ApiResult<bool> {
    let r = sqlx::query(
        "UPDATE context_store_schedules SET next_run_at = $1
         WHERE connector_id = $2 AND entity = $3 AND next_run_at = $4",
    )
    .bind(now + due.every_seconds * 1000)
    .bind(&due.connector_id)
    .bind(&due.entity)
    .bind(due.next_run_at)
    .execute(db.pool())
    .await
    .map_err(store_error)?;
    Ok(r.rows_affected() == 1)
}

/// `ms` (unix milliseconds) as RFC 3339.
fn rfc3339_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}
