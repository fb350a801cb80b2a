//! Queries of the operator console ([`crate::console`]): one organization's audit log, filtered
//! and paged (every such query takes the organization id), and the console sessions signed out
//! (by a hash of the session's id, until the session would have expired), which every replica
//! on the store refuses.

use sqlx::Row;

use super::{Application, Db, StoreResult};

/// Which audit records an operator asks for; every filter is optional.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub workspace_id: Option<String>,
    pub connector_id: Option<String>,
    /// The record's `status` (`success`, `error`, ...).
    pub outcome: Option<String>,
    /// RFC 3339; records at or after it.
    pub since: Option<String>,
    /// RFC 3339; records before it.
    pub until: Option<String>,
    /// Keyset cursor: records strictly older than this `(created_at, id)`.
    pub before: Option<(String, String)>,
    /// At most this many records (the caller bounds it).
    pub limit: i64,
}

/// One stored audit record, as the console shows it (no request or response bodies are ever
/// stored in the audit log).
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub id: String,
    pub workspace_id: Option<String>,
    pub connector_id: Option<String>,
    pub token_kind: String,
    pub entity: String,
    pub action: String,
    pub status: String,
    pub error_code: Option<String>,
    pub latency_ms: i64,
    pub request_id: String,
    pub created_at: String,
}

impl Db {
    /// Records a console session as signed out until `expires_at` (unix seconds), when it would
    /// have expired anyway; drops the records of sessions that ended before `now`.
    pub async fn end_console_session(&self, session_hash: &str, expires_at: i64, now: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO console_sessions_ended (session_hash, expires_at) VALUES ($1, $2) \
             ON CONFLICT (session_hash) DO NOTHING",
        )
        .bind(session_hash)
        .bind(expires_at)
        .execute(&self.here())
        .await?;
        sqlx::query("DELETE FROM console_sessions_ended WHERE expires_at < $1").bind(now).execute(&self.here()).await?;
        Ok(())
    }

    /// In one read, what every console request checks: the session's application as stored now
    /// (`None` once it is gone) and whether the session of this hash was signed out (on any
    /// replica).
    pub async fn console_session(
        &self,
        session_hash: &str,
        client_id: &str,
    ) -> StoreResult<Option<(Application, bool)>> {
        let row = sqlx::query(
            "SELECT a.id, a.organization_id, a.client_id, a.secret_hash, \
             (SELECT COUNT(*) FROM console_sessions_ended e WHERE e.session_hash = $1) AS ended \
             FROM applications a WHERE a.client_id = $2",
        )
        .bind(session_hash)
        .bind(client_id)
        .fetch_optional(&self.here())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let app = Application {
            id: r.try_get("id")?,
            organization_id: r.try_get("organization_id")?,
            client_id: r.try_get("client_id")?,
            secret_hash: r.try_get("secret_hash")?,
        };
        Ok(Some((app, r.try_get::<i64, _>("ended")? > 0)))
    }

    /// The audit records of `organization_id` matching `f`, newest first (ties by id), at most
    /// `f.limit`. The queued records are written first, so a request just answered is listed.
    pub async fn console_audit(&self, organization_id: &str, f: &AuditFilter) -> StoreResult<Vec<AuditEntry>> {
        self.flush_audit().await;
        let mut sql = String::from(
            "SELECT id, workspace_id, connector_id, token_kind, entity, action, status, error_code, latency_ms, \
             request_id, created_at FROM audit_log WHERE organization_id = $1",
        );
        let mut binds: Vec<String> = vec![organization_id.to_string()];
        let mut push = |sql: &mut String, clause: &str, values: &[&str]| {
            let mut clause = clause.to_string();
            for v in values {
                binds.push((*v).to_string());
                clause = clause.replacen('?', &format!("${}", binds.len()), 1);
            }
            sql.push_str(" AND ");
            sql.push_str(&clause);
        };
        if let Some(w) = &f.workspace_id {
            push(&mut sql, "workspace_id = ?", &[w]);
        }
        if let Some(c) = &f.connector_id {
            push(&mut sql, "connector_id = ?", &[c]);
        }
        if let Some(o) = &f.outcome {
            push(&mut sql, "status = ?", &[o]);
        }
        if let Some(s) = &f.since {
            push(&mut sql, "created_at >= ?", &[s]);
        }
        if let Some(u) = &f.until {
            push(&mut sql, "created_at < ?", &[u]);
        }
        if let Some((at, id)) = &f.before {
            push(&mut sql, "(created_at < ? OR (created_at = ? AND id < ?))", &[at, at, id]);
        }
        sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT {}", f.limit.clamp(1, 1000)));
        let mut q = sqlx::query(&sql);
        for b in &binds {
            q = q.bind(b.clone());
        }
        let rows = q.fetch_all(&self.here()).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(AuditEntry {
                id: r.try_get("id")?,
                workspace_id: r.try_get("workspace_id")?,
                connector_id: r.try_get("connector_id")?,
                token_kind: r.try_get("token_kind")?,
                entity: r.try_get("entity")?,
                action: r.try_get("action")?,
                status: r.try_get("status")?,
                error_code: r.try_get("error_code")?,
                latency_ms: r.try_get("latency_ms")?,
                request_id: r.try_get("request_id")?,
                created_at: r.try_get("created_at")?,
            });
        }
        Ok(out)
    }
}
