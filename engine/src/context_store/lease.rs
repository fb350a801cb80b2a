//! Leases: one engine process (replica) syncs a connector entity at a time, whatever the main
//! store (SQLite or PostgreSQL).
//!
//! A lease is a row of `context_store_leases` in the main store, keyed by connector and entity:
//! its owner (an id drawn once per process) and an expiry (unix ms). Taking it is one upsert
//! that succeeds only when the row is missing, expired, or already this process's; the owner
//! renews it every third of its lifetime while it syncs, and deletes it when the sync ends. A
//! process killed mid-sync (kill -9) renews nothing: its lease expires, and another process
//! takes it over and resumes the sync from its last committed page ([`super::sync`]). A holder
//! whose renewal fails (the database unreachable, or the lease taken over after a stall longer
//! than its lifetime) marks it lost and stops syncing before its next page.
//!
//! The lifetime is `SWITCHBOARD_CONTEXT_STORE_LEASE_SECONDS` (default 30, at least 1).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::db::Db;
use crate::error::{ApiError, ApiResult};

/// The default lease lifetime.
const DEFAULT_SECONDS: u64 = 30;

/// This process's owner id.
pub fn owner_id() -> &'static str {
    static OWNER: OnceLock<String> = OnceLock::new();
    OWNER.get_or_init(|| uuid::Uuid::new_v4().to_string())
}

/// The lease lifetime.
pub fn lifetime() -> Duration {
    static TTL: OnceLock<Duration> = OnceLock::new();
    *TTL.get_or_init(|| {
        let secs = std::env::var("SWITCHBOARD_CONTEXT_STORE_LEASE_SECONDS")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(DEFAULT_SECONDS)
            .max(1);
        Duration::from_secs(secs)
    })
}

fn store_error(e: sqlx::Error) -> ApiError {
    ApiError::internal(format!("context store lease: {e}"))
}

/// A held lease, renewed in the background until [`Lease::release`] (or drop, which only stops
/// the renewal: the row then expires by itself).
pub struct Lease {
    db: Db,
    connector_id: String,
    entity: String,
    lost: Arc<AtomicBool>,
    renewer: tokio::task::JoinHandle<()>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

/// The time leases are written and compared in ([`Db::lease_clock_ms`]: the database's on
/// PostgreSQL, so replicas whose clocks disagree still agree on whose lease is live).
async fn clock(db: &Db) -> Result<i64, sqlx::Error> {
    db.lease_clock_ms().await.map_err(|e| match e {
        crate::db::StoreError::Query(e) => e,
        other => sqlx::Error::Protocol(other.to_string()),
    })
}

/// Extends the lease of `owner` by the lifetime; false when `owner` does not hold it.
async fn renew(db: &Db, connector_id: &str, entity: &str, owner: &str) -> Result<bool, sqlx::Error> {
    let now = clock(db).await?;
    let r = sqlx::query(
        "UPDATE context_store_leases SET expires_at = $1 WHERE connector_id = $2 AND entity = $3 AND owner = $4",
    )
    .bind(now + lifetime().as_millis() as i64)
    .bind(connector_id)
    .bind(entity)
    .bind(owner)
    .execute(db.pool())
    .await?;
    Ok(r.rows_affected() == 1)
}

impl Lease {
    /// Takes the lease of `entity` of connector `connector_id` for this process: `None` when
    /// another live process holds it.
    pub async fn acquire(db: &Db, connector_id: &str, entity: &str) -> ApiResult<Option<Lease>> {
        let now = clock(db).await.map_err(store_error)?;
        let owner = owner_id();
        let r = sqlx::query(
            "INSERT INTO context_store_leases (connector_id, entity, owner, expires_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (connector_id, entity) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
             WHERE context_store_leases.expires_at < $5 OR context_store_leases.owner = $6",
        )
        .bind(connector_id)
        .bind(entity)
        .bind(owner)
        .bind(now + lifetime().as_millis() as i64)
        .bind(now)
        .bind(owner)
        .execute(db.pool())
        .await
        .map_err(store_error)?;
        if r.rows_affected() != 1 {
            return Ok(None);
        }
        let lost = Arc::new(AtomicBool::new(false));
        let renewer = {
            let (db, cid, ent, lost) = (db.clone(), connector_id.to_string(), entity.to_string(), lost.clone());
            tokio::spawn(async move {
                let every = (lifetime() / 3).max(Duration::from_millis(200));
                loop {
                    tokio::time::sleep(every).await;
                    match renew(&db, &cid, &ent, owner_id()).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(connector_id = %cid, entity = %ent, "context store lease taken over");
                            lost.store(true, Ordering::SeqCst);
                            return;
                        }
                        Err(e) => {
                            tracing::warn!(connector_id = %cid, entity = %ent, error = %e, "cannot renew a context store lease");
                            lost.store(true, Ordering::SeqCst);
                            return;
                        }
                    }
                }
            })
        };
        Ok(Some(Lease { db: db.clone(), connector_id: connector_id.into(), entity: entity.into(), lost, renewer }))
    }

    /// Whether a renewal failed: the sync must stop (another process may hold the lease).
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Stops renewing and deletes the row if this process still holds it.
    pub async fn release(self) {
        self.renewer.abort();
        let r = sqlx::query("DELETE FROM context_store_leases WHERE connector_id = $1 AND entity = $2 AND owner = $3")
            .bind(&self.connector_id)
            .bind(&self.entity)
            .bind(owner_id())
            .execute(self.db.pool())
            .await;
        if let Err(e) = r {
            tracing::warn!(connector_id = %self.connector_id, entity = %self.entity, error = %e,
                "cannot release a context store lease; it expires by itself");
        }
    }
}

/// Whether another process holds a live lease of `entity` of connector `connector_id`.
pub async fn held_elsewhere(db: &Db, connector_id: &str, entity: &str) -> bool {
    let Ok(now) = clock(db).await else { return false };
    let r: Result<Option<(String,)>, sqlx::Error> = sqlx::query_as(
        "SELECT owner FROM context_store_leases WHERE connector_id = $1 AND entity = $2 AND owner <> $3
            AND expires_at >= $4",
    )
    .bind(connector_id)
    .bind(entity)
    .bind(owner_id())
    .bind(now)
    .fetch_optional(db.pool())
    .await;
    matches!(r, Ok(Some(_)))
}
