//! Storage of the OAuth consent flow: the app's own OAuth client per organization and connector
//! type (its secret sealed), and the pending consents (`state`s), keyed by a hash of the state so
//! the table never holds one a callback could use.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{now, Db, StoreResult};
use crate::crypto::Sealed;

/// An operator-configured OAuth client of one connector type.
#[derive(Debug, Clone)]
pub struct OAuthClientRow {
    pub organization_id: String,
    pub connector_type: String,
    pub client_id: String,
    pub secret: Sealed,
    /// Space-separated; empty for the spec's scopes.
    pub scopes: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A consent started and not yet answered (or answered: `used_at`).
#[derive(Debug, Clone)]
pub struct OAuthStateRow {
    /// Hex SHA-256 of the state.
    pub state_hash: String,
    pub organization_id: String,
    pub workspace_id: String,
    pub connector_type: String,
    /// The origin the callback page may post its result to.
    pub origin: Option<String>,
    pub redirect_url: Option<String>,
    /// The `redirect_uri` sent to the provider, sent again with the code.
    pub redirect_uri: String,
    pub name: Option<String>,
    pub replication_config: Option<String>,
    /// The connector's config (JSON object text), when the consent named one.
    pub config: Option<String>,
    /// The PKCE code verifier, sealed with the state hash as associated data.
    pub verifier: Sealed,
    /// Unix milliseconds.
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

const CLIENT_COLUMNS: &str =
    "organization_id, connector_type, client_id, secret_key_id, secret_ct, scopes, created_at, updated_at";
const STATE_COLUMNS: &str = "state_hash, organization_id, workspace_id, connector_type, origin, redirect_url, \
     redirect_uri, name, replication_config, config, verifier_key_id, verifier_ct, expires_at, used_at";

fn client_row(r: &AnyRow) -> Result<OAuthClientRow, sqlx::Error> {
    Ok(OAuthClientRow {
        organization_id: r.try_get("organization_id")?,
        connector_type: r.try_get("connector_type")?,
        client_id: r.try_get("client_id")?,
        secret: Sealed { key_id: r.try_get("secret_key_id")?, ciphertext: r.try_get("secret_ct")? },
        scopes: r.try_get("scopes")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn state_row(r: &AnyRow) -> Result<OAuthStateRow, sqlx::Error> {
    Ok(OAuthStateRow {
        state_hash: r.try_get("state_hash")?,
        organization_id: r.try_get("organization_id")?,
        workspace_id: r.try_get("workspace_id")?,
        connector_type: r.try_get("connector_type")?,
        origin: r.try_get("origin")?,
        redirect_url: r.try_get("redirect_url")?,
        redirect_uri: r.try_get("redirect_uri")?,
        name: r.try_get("name")?,
        replication_config: r.try_get("replication_config")?,
        config: r.try_get("config")?,
        verifier: Sealed { key_id: r.try_get("verifier_key_id")?, ciphertext: r.try_get("verifier_ct")? },
        expires_at: r.try_get("expires_at")?,
        used_at: r.try_get("used_at")?,
    })
}

/// The statement that re-seals one record of an OAuth table (see [`Db::reseal`]); the id is
/// what [`Db::oauth_sealed_records`] lists, which is also the record's associated data.
pub(super) fn reseal_sql(table: &str) -> Option<&'static str> {
    match table {
        "oauth_clients" => Some(
            "UPDATE oauth_clients SET secret_key_id = $1, secret_ct = $2 \
             WHERE 'oauth_client:' || organization_id || ':' || connector_type = $3 AND secret_ct = $4",
        ),
        "oauth_states" => Some(
            "UPDATE oauth_states SET verifier_key_id = $1, verifier_ct = $2 WHERE state_hash = $3 AND verifier_ct = $4",
        ),
        _ => None,
    }
}

impl Db {
    /// Sets (or replaces) the organization's OAuth client of a connector type.
    pub async fn put_oauth_client(&self, row: &OAuthClientRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO oauth_clients (organization_id, connector_type, client_id, secret_key_id, secret_ct, scopes, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (organization_id, connector_type) DO UPDATE SET client_id = excluded.client_id, \
             secret_key_id = excluded.secret_key_id, secret_ct = excluded.secret_ct, scopes = excluded.scopes, \
             updated_at = excluded.updated_at",
        )
        .bind(&row.organization_id)
        .bind(&row.connector_type)
        .bind(&row.client_id)
        .bind(&row.secret.key_id)
        .bind(&row.secret.ciphertext)
        .bind(&row.scopes)
        .bind(&row.created_at)
        .bind(&row.updated_at)
        .execute(&self.here())
        .await?;
        Ok(())
    }

    /// The organization's OAuth client of a connector type.
    pub async fn oauth_client(
        &self,
        organization_id: &str,
        connector_type: &str,
    ) -> StoreResult<Option<OAuthClientRow>> {
        let sql =
            format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE organization_id = $1 AND connector_type = $2");
        let r = sqlx::query(&sql).bind(organization_id).bind(connector_type).fetch_optional(&self.here()).await?;
        Ok(r.as_ref().map(client_row).transpose()?)
    }

    /// Every OAuth client of the organization, by connector type.
    pub async fn oauth_clients(&self, organization_id: &str) -> StoreResult<Vec<OAuthClientRow>> {
        let sql =
            format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE organization_id = $1 ORDER BY connector_type");
        let rows = sqlx::query(&sql).bind(organization_id).fetch_all(&self.here()).await?;
        Ok(rows.iter().map(client_row).collect::<Result<_, _>>()?)
    }

    /// Deletes the organization's OAuth client of a connector type; whether there was one.
    pub async fn delete_oauth_client(&self, organization_id: &str, connector_type: &str) -> StoreResult<bool> {
        let r = sqlx::query("DELETE FROM oauth_clients WHERE organization_id = $1 AND connector_type = $2")
            .bind(organization_id)
            .bind(connector_type)
            .execute(&self.here())
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Stores a pending consent unless its workspace has `max` waiting for their end user at
    /// `now_ms` (unused, unexpired) already: whether it was stored. The count and the insert
    /// are one transaction under a lock (SQLite's write lock; on PostgreSQL the workspace's row,
    /// which no tenant query can lock), so initiates racing on one workspace, across replicas
    /// too, never store more than `max`.
    pub async fn insert_oauth_state_within(&self, row: &OAuthStateRow, now_ms: i64, max: i64) -> StoreResult<bool> {
        let mut conn = self.here().acquire().await?;
        let mut tx = self.begin_writing(&mut conn).await?;
        self.lock_row(&mut tx, "workspaces", &row.workspace_id).await?;
        let pending: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM oauth_states WHERE workspace_id = $1 AND expires_at > $2 AND used_at IS NULL",
        )
        .bind(&row.workspace_id)
        .bind(now_ms)
        .fetch_one(&mut *tx)
        .await?;
        if pending >= max {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO oauth_states (state_hash, organization_id, workspace_id, connector_type, origin, redirect_url, \
             redirect_uri, name, replication_config, config, verifier_key_id, verifier_ct, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&row.state_hash)
        .bind(&row.organization_id)
        .bind(&row.workspace_id)
        .bind(&row.connector_type)
        .bind(&row.origin)
        .bind(&row.redirect_url)
        .bind(&row.redirect_uri)
        .bind(&row.name)
        .bind(&row.replication_config)
        .bind(&row.config)
        .bind(&row.verifier.key_id)
        .bind(&row.verifier.ciphertext)
        .bind(row.expires_at)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The pending consent of a state hash, used or not.
    pub async fn oauth_state(&self, state_hash: &str) -> StoreResult<Option<OAuthStateRow>> {
        let sql = format!("SELECT {STATE_COLUMNS} FROM oauth_states WHERE state_hash = $1");
        let r = sqlx::query(&sql).bind(state_hash).fetch_optional(&self.here()).await?;
        Ok(r.as_ref().map(state_row).transpose()?)
    }

    /// Marks a consent used at `now_ms` unless it was used or expired already: of callbacks
    /// racing with one state (across replicas too), exactly one gets `true`.
    pub async fn use_oauth_state(&self, state_hash: &str, now_ms: i64) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE oauth_states SET used_at = $1 WHERE state_hash = $2 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now_ms)
        .bind(state_hash)
        .execute(&self.here())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Deletes consents that expired before `before_ms` (kept a while after expiry so a late
    /// callback is told "expired" rather than "unknown").
    pub async fn prune_oauth_states(&self, before_ms: i64) -> StoreResult<u64> {
        let r =
            sqlx::query("DELETE FROM oauth_states WHERE expires_at < $1").bind(before_ms).execute(&self.here()).await?;
        Ok(r.rows_affected())
    }
}
