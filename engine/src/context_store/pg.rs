//! The context store's cache on PostgreSQL: used whenever the engine's main store is
//! PostgreSQL, in that database.
//!
//! Each workspace has a schema, `sb_cs_<key>` (the key is the hash that names the SQLite file,
//! [`store::workspace_key`], so no id reaches a name), holding `sync_state` (the same columns as
//! the SQLite file's) and one table per connector entity, `c_<hash of connector and entity>`
//! (`id` text primary key, `record` jsonb, `synced_at`, `generation`). With the schema comes a
//! role, `sb_cs_<key>_ro`, `NOLOGIN`, granted `USAGE` on its own schema and `SELECT` on its
//! tables, nothing else; it owns `sb_sql`, the `SECURITY DEFINER` function that runs the
//! workspace's read-only SQL queries (see [`super::pg_search`]), so inside a query the role
//! cannot be changed back (PostgreSQL refuses `SET ROLE` in a security-definer function).
//!
//! Writes mirror the SQLite cache's: one transaction per page (the page's records, keyed by id,
//! the checkpoint and counters, and the raised high-water mark), reconciliation by generation
//! in the last page's transaction of a full sync. Incremental syncs are decided as on SQLite,
//! by [`incremental::decide`] in the transaction that starts the sync.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{Any, AnyPool, Row, Transaction};
use switchboard_core::wire::{EntityStatus, SyncStart};
use tokio::sync::Semaphore;

use super::incremental::{self, Decision, Plan, Prior};
use super::store::{valid_entity, workspace_key};
use crate::db::{ConnectorRow, Db};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Schemas of the cache start with this (then the workspace key).
pub const SCHEMA_PREFIX: &str = "sb_cs_";

fn now() -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default()
}

pub(crate) fn store_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("context store (postgres): {e}"))
}

/// The table of `entity` of connector `connector_id` in its workspace's schema: a hash of both,
/// so the catalog (readable by every role) names no connector.
pub fn table_name(connector_id: &str, entity: &str) -> String {
    let mut h = Sha256::new();
    h.update(connector_id.as_bytes());
    h.update([0u8]);
    h.update(entity.as_bytes());
    format!("c_{}", hex::encode(&h.finalize()[..16]))
}

/// A workspace's cache in the main PostgreSQL database.
#[derive(Clone)]
pub struct PgCache {
    pool: AnyPool,
    /// `sb_cs_<key>`: hex digits and `_` only, so quoting it is enough.
    pub schema: String,
    /// The workspace's read-only role, `sb_cs_<key>_ro`.
    pub role: String,
    /// The engine's turns of tenant queries ([`Db::tenant_queries`]).
    pub(crate) queries: Arc<Semaphore>,
}

impl PgCache {
    /// The cache of connector `row`'s workspace, when the main store is PostgreSQL.
    pub fn of(st: &AppState, row: &ConnectorRow) -> Option<PgCache> {
        Self::of_workspace(&st.db, &row.organization_id, &row.workspace_id)
    }

    /// The cache of workspace `workspace` of organization `org` on `db`, when it is PostgreSQL.
    pub fn of_workspace(db: &Db, org: &str, workspace: &str) -> Option<PgCache> {
        db.is_postgres().then(|| Self::named(db, &workspace_key(org, workspace)))
    }

    fn named(db: &Db, key: &str) -> PgCache {
        PgCache {
            pool: db.pool().clone(),
            schema: format!("{SCHEMA_PREFIX}{key}"),
            role: format!("{SCHEMA_PREFIX}{key}_ro"),
            queries: db.tenant_queries(),
        }
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The key of this cache in the in-process claims of running syncs (in place of a file).
    pub fn run_key(&self) -> PathBuf {
        PathBuf::from(format!("postgres:{}", self.schema))
    }

    /// `"schema"."table"`.
    pub fn qualified(&self, table: &str) -> String {
        format!("\"{}\".\"{table}\"", self.schema)
    }

    /// Whether the workspace's schema and its `sync_state` exist (a sync has started in it).
    pub async fn exists(&self) -> ApiResult<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = $1 AND tablename = 'sync_state'",
        )
        .bind(&self.schema)
        .fetch_one(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(n > 0)
    }

    /// Drops the tables of connector `connector_id`'s entities, with their sync state (under
    /// the schema's lock, as creating them takes it).
    pub async fn forget(&self, connector_id: &str) -> ApiResult<()> {
        if !self.exists().await? {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        sqlx::query("SELECT count(*) FROM (SELECT pg_advisory_xact_lock(hashtext($1))) AS l")
            .bind(&self.schema)
            .fetch_one(&mut *tx)
            .await
            .map_err(store_error)?;
        let state = self.qualified("sync_state");
        // The rows before the tables, as a page's commit takes them (its fenced UPDATE, then its
        // INSERT): a delete and a commit at once wait for each other instead of deadlocking.
        let entities: Vec<String> =
            sqlx::query_scalar(&format!("SELECT entity FROM {state} WHERE connector_id = $1 FOR UPDATE"))
                .bind(connector_id)
                .fetch_all(&mut *tx)
                .await
                .map_err(store_error)?;
        for entity in entities.iter().filter(|e| valid_entity(e)) {
            let table = self.qualified(&table_name(connector_id, entity));
            sqlx::query(&format!("DROP TABLE IF EXISTS {table}"))
                .persistent(false)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
        }
        sqlx::query(&format!("DELETE FROM {state} WHERE connector_id = $1"))
            .bind(connector_id)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)
    }

    /// Whether the table of `entity` of `connector_id` exists.
    pub async fn table_exists(&self, connector_id: &str, entity: &str) -> ApiResult<bool> {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = $1 AND tablename = $2")
                .bind(&self.schema)
                .bind(table_name(connector_id, entity))
                .fetch_one(&self.pool)
                .await
                .map_err(store_error)?;
        Ok(n > 0)
    }

    /// Creates, if needed, the schema, its `sync_state`, the read-only role and its grants, the
    /// SQL function, and the table of `entity` of `connector_id` (granted to the role): in one
    /// transaction, serialized per schema by an advisory lock.
    async fn ensure(&self, tx: &mut Transaction<'static, Any>, connector_id: &str, entity: &str) -> sqlx::Result<()> {
        let (s, r) = (&self.schema, &self.role);
        let table = self.qualified(&table_name(connector_id, entity));
        sqlx::query("SELECT count(*) FROM (SELECT pg_advisory_xact_lock(hashtext($1))) AS l")
            .bind(s)
            .fetch_one(&mut **tx)
            .await?;
        let statements = [
            // Looked up first: CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even
            // when an operator created the schema beforehand.
            format!(
                "DO $do$ BEGIN
                    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = '{s}') THEN
                        CREATE SCHEMA \"{s}\";
                    END IF;
                END $do$"
            ),
            format!("REVOKE ALL ON SCHEMA \"{s}\" FROM PUBLIC"),
            format!(
                "CREATE TABLE IF NOT EXISTS \"{s}\".sync_state (
                    connector_id TEXT NOT NULL,
                    entity TEXT NOT NULL,
                    status TEXT NOT NULL,
                    generation BIGINT NOT NULL,
                    checkpoint TEXT,
                    pages BIGINT NOT NULL DEFAULT 0,
                    records_synced BIGINT NOT NULL DEFAULT 0,
                    record_count BIGINT NOT NULL DEFAULT 0,
                    deleted BIGINT NOT NULL DEFAULT 0,
                    last_error TEXT,
                    started_at TEXT,
                    finished_at TEXT,
                    updated_at TEXT,
                    organization_id TEXT,
                    workspace_id TEXT,
                    PRIMARY KEY (connector_id, entity)
                )"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {table} (
                    id TEXT PRIMARY KEY,
                    record JSONB NOT NULL,
                    synced_at TEXT NOT NULL,
                    generation BIGINT NOT NULL
                )"
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS \"{}_generation\" ON {table} (generation)",
                table_name(connector_id, entity)
            ),
            // The read-only role: cluster-wide, so it may exist already (another database of
            // the cluster restored from this one); this process's role is made a member so it
            // may SET ROLE to it and give it the function.
            format!(
                "DO $do$ BEGIN
                    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = '{r}') THEN
                        CREATE ROLE \"{r}\" NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION;
                    END IF;
                    IF NOT pg_catalog.pg_has_role(current_user, '{r}', 'MEMBER') THEN
                        EXECUTE format('GRANT %I TO %I', '{r}', current_user);
                    END IF;
                END $do$"
            ),
            format!("GRANT USAGE ON SCHEMA \"{s}\" TO \"{r}\""),
            format!("GRANT SELECT ON ALL TABLES IN SCHEMA \"{s}\" TO \"{r}\""),
            // Runs one statement as the role (its owner), at most `n` rows, each as JSON text.
            // FOR ... IN EXECUTE opens one statement that returns rows (several are refused by
            // PostgreSQL, and so is a statement that returns none); in a SECURITY DEFINER
            // function PostgreSQL refuses SET ROLE and set_config('role', ...).
            format!(
                "CREATE OR REPLACE FUNCTION \"{s}\".sb_sql(q text, n bigint) RETURNS SETOF text
                    LANGUAGE plpgsql SECURITY DEFINER SET search_path = \"{s}\" AS $fn$
                 DECLARE r record; k bigint := 0;
                 BEGIN
                    FOR r IN EXECUTE q LOOP
                        RETURN NEXT pg_catalog.to_json(r)::text;
                        k := k + 1;
                        EXIT WHEN k >= n;
                    END LOOP;
                 END $fn$"
            ),
            format!("REVOKE ALL ON FUNCTION \"{s}\".sb_sql(text, bigint) FROM PUBLIC"),
            // The new owner needs CREATE on the schema at the moment it is given the function.
            format!("GRANT CREATE ON SCHEMA \"{s}\" TO \"{r}\""),
            format!("ALTER FUNCTION \"{s}\".sb_sql(text, bigint) OWNER TO \"{r}\""),
            format!("REVOKE CREATE ON SCHEMA \"{s}\" FROM \"{r}\""),
        ];
        // The columns the SQLite `sync_state` gained since (BIGINT for its INTEGER), added only
        // when the catalog lacks them: `ADD COLUMN IF NOT EXISTS` takes the table's ACCESS
        // EXCLUSIVE lock before it looks, and every sync start would queue behind (and hold up)
        // the workspace's status reads, page commits and SQL.
        let added = super::store::SYNC_STATE_COLUMNS.iter().map(|(name, ty)| {
            let ty = if ty.eq_ignore_ascii_case("INTEGER") { "BIGINT" } else { ty };
            format!(
                "DO $do$ BEGIN
                    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
                                   WHERE attrelid = '\"{s}\".sync_state'::regclass AND attname = '{name}'
                                     AND NOT attisdropped) THEN
                        ALTER TABLE \"{s}\".sync_state ADD COLUMN {name} {ty};
                    END IF;
                END $do$"
            )
        });
        for q in statements.into_iter().chain(added) {
            sqlx::query(&q).persistent(false).execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// How a sync starts, as on SQLite: [`incremental::decide`] on the entity's sync state, in
    /// the transaction that records the start (the row locked `FOR UPDATE`, so two engines
    /// starting it at once decide one after the other). A new sync is full (a new generation)
    /// or incremental (the same generation, its first page asking from the high-water mark);
    /// an interrupted or failed one resumes from its checkpoint. Creates the schema and table
    /// as needed.
    pub async fn begin(&self, row: &ConnectorRow, entity: &str, plan: &Plan) -> ApiResult<SyncStart> {
        if !valid_entity(entity) {
            return Err(store_error("invalid entity name"));
        }
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        self.ensure(&mut tx, &row.id, entity).await.map_err(store_error)?;
        let s = &self.schema;
        let prior: Option<String> = sqlx::query_scalar(&format!(
            "SELECT to_jsonb(s)::text FROM \"{s}\".sync_state AS s WHERE connector_id = $1 AND entity = $2
             FOR UPDATE"
        ))
        .bind(&row.id)
        .bind(entity)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        let prior = prior.as_deref().map(prior_of_json).transpose()?;
        let t = now();
        let start = match incremental::decide(prior.as_ref(), plan) {
            Decision::Resume => {
                sqlx::query(&format!(
                    "UPDATE \"{s}\".sync_state SET status = 'running', last_error = NULL, updated_at = $1,
                        full_every_seconds = coalesce($4, full_every_seconds)
                     WHERE connector_id = $2 AND entity = $3"
                ))
                .bind(&t)
                .bind(&row.id)
                .bind(entity)
                .bind(plan.full_every_seconds)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
                let generation = prior.map(|p| p.generation).unwrap_or(0);
                SyncStart { entity: entity.into(), status: "resumed".into(), generation }
            }
            Decision::Start { mode, generation, first } => {
                sqlx::query(&format!(
                    "INSERT INTO \"{s}\".sync_state (connector_id, entity, status, generation, checkpoint, pages,
                        records_synced, record_count, deleted, last_error, started_at, finished_at, updated_at,
                        organization_id, workspace_id, mode, full_every_seconds)
                     VALUES ($1, $2, 'running', $3, $4, 0, 0, 0, 0, NULL, $5, NULL, $5, $6, $7, $8, $9)
                     ON CONFLICT (connector_id, entity) DO UPDATE SET status = 'running',
                        generation = excluded.generation, checkpoint = excluded.checkpoint, pages = 0,
                        records_synced = 0, deleted = 0, last_error = NULL, started_at = excluded.started_at,
                        finished_at = NULL, updated_at = excluded.updated_at,
                        organization_id = excluded.organization_id, workspace_id = excluded.workspace_id,
                        mode = excluded.mode,
                        full_every_seconds = coalesce(excluded.full_every_seconds, sync_state.full_every_seconds)"
                ))
                .bind(&row.id)
                .bind(entity)
                .bind(generation)
                .bind(first.to_string())
                .bind(&t)
                .bind(&row.organization_id)
                .bind(&row.workspace_id)
                .bind(mode)
                .bind(plan.full_every_seconds)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
                SyncStart { entity: entity.into(), status: "started".into(), generation }
            }
        };
        tx.commit().await.map_err(store_error)?;
        Ok(start)
    }

    /// The sync state of each of `entities` of `connector_id` (`None` for one never synced),
    /// for refusing `mode: incremental` before anything starts.
    pub async fn priors(&self, connector_id: &str, entities: &[String]) -> ApiResult<Vec<Option<Prior>>> {
        if !self.exists().await? {
            return Ok(vec![None; entities.len()]);
        }
        // Each row as JSON, so a schema made before the incremental columns reads them as absent.
        let rows: Vec<(String, String)> = sqlx::query_as(&format!(
            "SELECT entity, to_jsonb(s)::text FROM \"{}\".sync_state AS s WHERE connector_id = $1",
            self.schema
        ))
        .bind(connector_id)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        let mut out = Vec::with_capacity(entities.len());
        for e in entities {
            out.push(rows.iter().find(|(entity, _)| entity == e).map(|(_, v)| prior_of_json(v)).transpose()?);
        }
        Ok(out)
    }

    /// The checkpoint of the sync of `entity` (the params of its next page).
    pub async fn checkpoint(&self, connector_id: &str, entity: &str) -> ApiResult<Option<String>> {
        let row = sqlx::query(&format!(
            "SELECT checkpoint FROM \"{}\".sync_state WHERE connector_id = $1 AND entity = $2",
            self.schema
        ))
        .bind(connector_id)
        .bind(entity)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        match row {
            Some(r) => r.try_get::<Option<String>, _>(0).map_err(store_error),
            None => Ok(None),
        }
    }

    /// Stores one page (`(id, record JSON)` pairs) and its checkpoint in one transaction,
    /// raising the high-water mark to `high_water` (the page's latest update time, unix ms)
    /// when it is later; with no checkpoint (the last page) marks the sync succeeded and, for a
    /// full sync, also deletes what this generation did not see (an incremental sync deletes
    /// nothing and leaves `last_full_at`). A record whose id comes twice in the page is stored
    /// once (the last).
    #[allow(clippy::too_many_arguments)]
    pub async fn commit_page(
        &self,
        connector_id: &str,
        entity: &str,
        generation: i64,
        rows: &[(String, String)],
        checkpoint: Option<String>,
        high_water: Option<i64>,
    ) -> ApiResult<bool> {
        let table = self.qualified(&table_name(connector_id, entity));
        let s = &self.schema;
        // One statement per page: the ids and records as two JSON arrays, the last of a
        // repeated id kept (an upsert may not touch a row twice).
        let mut seen = std::collections::HashSet::new();
        let mut ids = Vec::with_capacity(rows.len());
        let mut records = String::from("[");
        for (id, record) in rows.iter().rev() {
            if seen.insert(id.as_str()) {
                if !ids.is_empty() {
                    records.push(',');
                }
                ids.push(Value::String(id.clone()));
                records.push_str(record);
            }
        }
        records.push(']');
        let t = now();
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let last = checkpoint.is_none();
        // Fenced: the page lands only while this sync's generation is the entity's running one
        // (its row locked from here to the commit). A process that stalled past its lease,
        // while another took the sync over and started a new generation, writes nothing.
        // PostgreSQL's greatest() skips a NULL: the mark only rises, a page without update
        // times leaves it, and the first page with some sets it.
        let updated = sqlx::query(&format!(
            "UPDATE \"{s}\".sync_state SET checkpoint = $1, pages = pages + 1, records_synced = records_synced + $2,
                updated_at = $3, high_water = greatest(high_water, $6)
             WHERE connector_id = $4 AND entity = $5 AND generation = $7 AND status = 'running'
             RETURNING mode"
        ))
        .bind(checkpoint)
        .bind(rows.len() as i64)
        .bind(&t)
        .bind(connector_id)
        .bind(entity)
        .bind(high_water)
        .bind(generation)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        let Some(updated) = updated else { return Ok(false) };
        if !ids.is_empty() {
            sqlx::query(&format!(
                "INSERT INTO {table} (id, record, synced_at, generation)
                 SELECT i.v #>> '{{}}', r.v, $3, $4
                 FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS i(v, n)
                 JOIN jsonb_array_elements($2::jsonb) WITH ORDINALITY AS r(v, n) USING (n)
                 ON CONFLICT (id) DO UPDATE SET record = excluded.record, synced_at = excluded.synced_at,
                    generation = excluded.generation"
            ))
            .bind(Value::Array(ids).to_string())
            .bind(records)
            .bind(&t)
            .bind(generation)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        }
        if last {
            let mode: Option<String> = updated.try_get(0).map_err(store_error)?;
            let full = mode.as_deref() != Some("incremental");
            let deleted = if full {
                sqlx::query(&format!("DELETE FROM {table} WHERE generation < $1"))
                    .bind(generation)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?
                    .rows_affected()
            } else {
                0
            };
            let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(&mut *tx)
                .await
                .map_err(store_error)?;
            let last_full = if full { "$3" } else { "last_full_at" };
            sqlx::query(&format!(
                "UPDATE \"{s}\".sync_state SET status = 'succeeded', record_count = $1, deleted = $2, finished_at = $3,
                    last_full_at = {last_full}, last_error = NULL WHERE connector_id = $4 AND entity = $5"
            ))
            .bind(count)
            .bind(deleted as i64)
            .bind(&t)
            .bind(connector_id)
            .bind(entity)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(true)
    }

    /// Records the sync of `entity` as failed with `message` (its checkpoint stays), while
    /// `generation` is the running one (a stale process's failure overwrites no newer sync).
    pub async fn fail(&self, connector_id: &str, entity: &str, generation: i64, message: &str) -> ApiResult<()> {
        sqlx::query(&format!(
            "UPDATE \"{}\".sync_state SET status = 'failed', last_error = $1, updated_at = $2
             WHERE connector_id = $3 AND entity = $4 AND generation = $5 AND status = 'running'",
            self.schema
        ))
        .bind(message)
        .bind(now())
        .bind(connector_id)
        .bind(entity)
        .bind(generation)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    /// The sync state of every entity of `connector_id`, by entity (none before a first sync).
    pub async fn status(&self, connector_id: &str) -> ApiResult<Vec<EntityStatus>> {
        if !self.exists().await? {
            return Ok(Vec::new());
        }
        // Each row as JSON, so the columns added since the first increment are read by name.
        let rows: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT to_jsonb(s)::text FROM \"{}\".sync_state AS s WHERE connector_id = $1 ORDER BY entity",
            self.schema
        ))
        .bind(connector_id)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        let mut out = Vec::with_capacity(rows.len());
        for text in rows {
            let v: Value = serde_json::from_str(&text).map_err(store_error)?;
            let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
            let n = |k: &str| v.get(k).and_then(Value::as_i64);
            out.push(EntityStatus {
                entity: s("entity").unwrap_or_default(),
                status: s("status").unwrap_or_default(),
                generation: n("generation").unwrap_or(0),
                pages: n("pages").unwrap_or(0),
                records_synced: n("records_synced").unwrap_or(0),
                record_count: n("record_count").unwrap_or(0),
                deleted: n("deleted").unwrap_or(0),
                last_error: s("last_error"),
                started_at: s("started_at"),
                finished_at: s("finished_at"),
                updated_at: s("updated_at"),
                every_seconds: None,
                next_run_at: None,
                mode: s("mode"),
                high_water_mark: n("high_water").and_then(rfc3339_ms),
                last_full_sync_at: s("last_full_at"),
                full_every_seconds: n("full_every_seconds"),
            });
        }
        Ok(out)
    }

    /// The entities of `connector_id` with a table in the schema (their sync began).
    pub async fn synced_entities(&self, connector_id: &str) -> ApiResult<Vec<String>> {
        if !self.exists().await? {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(&format!(
            "SELECT entity FROM \"{}\".sync_state WHERE connector_id = $1 ORDER BY entity",
            self.schema
        ))
        .bind(connector_id)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        let mut out = Vec::new();
        for r in rows {
            let e: String = r.try_get(0).map_err(store_error)?;
            if valid_entity(&e) && self.table_exists(connector_id, &e).await? {
                out.push(e);
            }
        }
        Ok(out)
    }
}

/// A `sync_state` row, as `to_jsonb` writes it, as the [`Prior`] the start of a sync decides
/// on (a column a schema made before it lacks reads as absent).
fn prior_of_json(text: &str) -> ApiResult<Prior> {
    let v: Value = serde_json::from_str(text).map_err(store_error)?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let n = |k: &str| v.get(k).and_then(Value::as_i64);
    Ok(Prior {
        status: s("status").unwrap_or_default(),
        generation: n("generation").unwrap_or(0),
        checkpoint: s("checkpoint"),
        mode: s("mode"),
        high_water: n("high_water"),
        last_full_at: s("last_full_at"),
        started_at: s("started_at"),
        full_every_seconds: n("full_every_seconds"),
    })
}

/// Unix milliseconds as the status writes them (as on SQLite).
fn rfc3339_ms(ms: i64) -> Option<String> {
    switchboard_core::spec::TimeFormat::Iso8601.write(ms).as_str().map(str::to_string)
}

/// A sync recorded as running: its cache, organization, workspace, connector, entity and
/// generation.
pub type Interrupted = (PgCache, String, String, String, String, i64);

/// The syncs recorded as running (with a checkpoint) in every workspace schema of `db`: one
/// query per 100 schemas.
pub async fn interrupted(db: &Db) -> Vec<Interrupted> {
    let mut out = Vec::new();
    let schemas: Vec<String> = match sqlx::query_scalar(
        "SELECT schemaname::text FROM pg_catalog.pg_tables
         WHERE tablename = 'sync_state' AND starts_with(schemaname::text, $1) ORDER BY 1",
    )
    .bind(SCHEMA_PREFIX)
    .fetch_all(db.pool())
    .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the context store's schemas");
            return out;
        }
    };
    let keys: Vec<String> = schemas
        .iter()
        .map(|s| s[SCHEMA_PREFIX.len()..].to_string())
        .filter(|k| k.len() == 32 && k.bytes().all(|b| b.is_ascii_hexdigit()))
        .collect();
    for chunk in keys.chunks(100) {
        let parts: Vec<String> = chunk
            .iter()
            .map(|k| {
                format!(
                    "SELECT '{k}' AS k, organization_id, workspace_id, connector_id, entity, generation
                     FROM \"{SCHEMA_PREFIX}{k}\".sync_state
                     WHERE status = 'running' AND checkpoint IS NOT NULL AND organization_id IS NOT NULL
                        AND workspace_id IS NOT NULL"
                )
            })
            .collect();
        let rows = match sqlx::query(&parts.join(" UNION ALL ")).persistent(false).fetch_all(db.pool()).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the context store's sync states");
                continue;
            }
        };
        for r in rows {
            let got: sqlx::Result<(String, String, String, String, String, i64)> =
                (|| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?, r.try_get(5)?)))();
            match got {
                Ok((k, o, w, c, e, g)) => out.push((PgCache::named(db, &k), o, w, c, e, g)),
                Err(e) => tracing::warn!(error = %e, "cannot read a context store sync state"),
            }
        }
    }
    out
}
