//! Full syncs of connector entities into the workspace's cache file.
//!
//! A sync pages through the entity's `list` action with the connector's stored credentials (the
//! handle the execute route uses: same egress rules, same token sink). Each page is committed
//! in one transaction with the checkpoint (the params of the page after it) and the counters,
//! so after a crash (kill -9 included) the sync resumes from the last committed page, when
//! `serve` starts again ([`resume_interrupted`]) or on the next sync request: a page is either stored with its checkpoint or not at all, and records are
//! keyed by id, so nothing is lost or stored twice. Every record written by a sync carries the
//! sync's generation; when the last page is committed, the records of older generations (not
//! seen by this full sync: deleted at the provider) are deleted in the same transaction.
//!
//! After a full sync, an entity whose list declares `x-incremental` may be synced
//! incrementally ([`super::incremental`]): only the records updated since the high-water mark
//! each page raises, upserted under the same generation, nothing deleted; `begin` decides.
//!
//! One sync per connector entity runs at a time: in a process (an in-memory claim), and across
//! processes on one main store (a lease, [`super::lease`]); a second request for it answers
//! `already_running`. A process killed mid-sync leaves its lease to expire; then another
//! process on the same store and data dir resumes the sync (see [`resume_interrupted`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use rusqlite::{params, Connection};
use serde_json::{Map, Value};
use switchboard_core::spec::{ConnectorSpec, Operation, ParamType, TimeFormat};
use switchboard_core::{ErrorCode, ExecuteOptions};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::api::{EntityStatus, StoreStatus, SyncStart, SyncStarted};
use super::incremental::{self, Decision, Plan};
use super::lease::{self, Lease};
use super::pg::PgCache;
use super::refused;
use super::schedule;
use super::store::{self, ensure_table, open_rw, table_name, valid_entity, workspace_file};
use crate::db::ConnectorRow;
use crate::error::{ApiError, ApiResult};
use crate::services::execution::{handle, stored_connector};
use crate::services::Caller;
use crate::state::AppState;
use crate::tokens::TokenKind::{Application, Scoped};

/// Records asked for per page when the list's limit param declares no maximum.
const PAGE_SIZE: u64 = 100;
/// Longest error text kept in `last_error`.
const MAX_ERROR_LEN: usize = 500;

type RunKey = (PathBuf, String, String);

/// The syncs this process runs: `true` once a sync's end is recorded and its task only lets go
/// (releases its lease), `false` before.
fn running() -> &'static Mutex<HashMap<RunKey, bool>> {
    static RUNNING: OnceLock<Mutex<HashMap<RunKey, bool>>> = OnceLock::new();
    RUNNING.get_or_init(Default::default)
}

fn is_running(key: &RunKey) -> bool {
    running().lock().unwrap_or_else(|e| e.into_inner()).contains_key(key)
}

/// The claim of one connector entity's sync in this process, released on drop.
struct RunGuard(RunKey);

impl RunGuard {
    fn claim(key: RunKey) -> Option<RunGuard> {
        // Not `then_some(RunGuard(key))`: that builds the guard either way, and dropping the
        // unused one takes this lock again, while it is held (a deadlock of the worker).
        let inserted = {
            let mut m = running().lock().unwrap_or_else(|e| e.into_inner());
            !m.contains_key(&key) && m.insert(key.clone(), false).is_none()
        };
        if inserted {
            Some(RunGuard(key))
        } else {
            None
        }
    }

    /// Claims `key`, waiting (up to 10 s) while its holder only lets go, its end recorded: a
    /// request made once the last sync's end reads starts a new one, not `already_running`.
    async fn claim_after_end(key: RunKey) -> Option<RunGuard> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let ending = running().lock().unwrap_or_else(|e| e.into_inner()).get(&key).copied();
            match ending {
                None => {
                    if let Some(g) = RunGuard::claim(key.clone()) {
                        return Some(g);
                    }
                }
                Some(false) => return None,
                Some(true) if tokio::time::Instant::now() >= deadline => return None,
                Some(true) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
            }
        }
    }

    /// The sync's end is recorded, or being recorded (its last page's commit, its failure), or
    /// it stopped: from now on its task only lets go.
    fn ending(&self) {
        if let Some(e) = running().lock().unwrap_or_else(|e| e.into_inner()).get_mut(&self.0) {
            *e = true;
        }
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        running().lock().unwrap_or_else(|e| e.into_inner()).remove(&self.0);
    }
}

fn now() -> String {
    OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default()
}

fn store_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("context store: {e}"))
}

/// Runs `f` on `conn` off the async threads, handing the connection back.
async fn blocking<T: Send + 'static>(
    mut conn: Connection,
    f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
) -> ApiResult<(Connection, T)> {
    tokio::task::spawn_blocking(move || {
        let r = f(&mut conn);
        r.map(|v| (conn, v))
    })
    .await
    .map_err(store_error)?
    .map_err(store_error)
}

/// The name of `op`'s page-size param and the size to ask for.
fn page_size(op: &Operation) -> Option<(String, u64)> {
    let declared = op.pagination.as_ref().and_then(|p| p.limit.clone());
    let names = ["limit", "per_page", "page_size", "pagesize", "maxresults", "count", "first", "size"];
    let p = op.params.iter().find(|p| {
        p.ty == Some(ParamType::Integer)
            && (declared.as_deref() == Some(p.name.as_str()) || names.contains(&p.name.to_ascii_lowercase().as_str()))
    })?;
    let max = p.maximum.filter(|m| *m >= 1.0).map(|m| m as u64).unwrap_or(PAGE_SIZE);
    Some((p.name.clone(), max.min(1000)))
}

/// The list operation of `entity`, if it can be synced without params of the caller's.
fn list_op<'a>(spec: &'a ConnectorSpec, entity: &str) -> ApiResult<&'a Operation> {
    let listable =
        || spec.entities().into_iter().filter(|e| spec.operation(e, "list").is_some()).collect::<Vec<_>>().join(", ");
    if !valid_entity(entity) {
        return Err(refused(
            ErrorCode::Validation,
            "unknown_entity",
            format!("{entity:?} is not an entity of this connector; entities with a list action: {}", listable()),
        ));
    }
    let op = spec.operation(entity, "list").ok_or_else(|| {
        refused(
            ErrorCode::Validation,
            "unknown_entity",
            format!("{entity} has no list action to sync; entities with a list action: {}", listable()),
        )
    })?;
    let pg = op.pagination.as_ref().map(|p| p.param.as_str());
    let needed: Vec<&str> =
        op.params.iter().filter(|p| p.required && Some(p.name.as_str()) != pg).map(|p| p.name.as_str()).collect();
    if !needed.is_empty() {
        return Err(refused(
            ErrorCode::Validation,
            "entity_needs_params",
            format!(
                "{entity} cannot be synced yet: its list needs params ({}), and syncs with params are not supported",
                needed.join(", ")
            ),
        ));
    }
    Ok(op)
}

/// What a sync request does to the entities' schedules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScheduleChange {
    /// No `every_seconds`: the schedules stay as they are.
    Keep,
    /// `every_seconds: n`: a full sync every n seconds.
    Every(i64),
    /// `every_seconds: null`: no more scheduled syncs.
    Clear,
}

/// `every_seconds` from a request body.
fn requested_schedule(v: &Value) -> ApiResult<ScheduleChange> {
    let bad = || {
        refused(
            ErrorCode::Validation,
            "invalid_schedule",
            format!(
                "every_seconds must be a whole number of seconds from {} to {} (or null to stop scheduled syncs)",
                schedule::MIN_EVERY_SECONDS,
                schedule::MAX_EVERY_SECONDS
            ),
        )
    };
    match v.get("every_seconds") {
        None => Ok(ScheduleChange::Keep),
        Some(Value::Null) => Ok(ScheduleChange::Clear),
        Some(n) => match n.as_i64() {
            Some(n) if (schedule::MIN_EVERY_SECONDS..=schedule::MAX_EVERY_SECONDS).contains(&n) => {
                Ok(ScheduleChange::Every(n))
            }
            _ => Err(bad()),
        },
    }
}

/// The entities (`{entities: [...]}`, at least one) and the schedule change of a request body.
fn requested(body: &[u8]) -> ApiResult<(Vec<String>, ScheduleChange, incremental::Requested)> {
    let v: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?
    };
    let entities = match v.get("entities") {
        Some(Value::Array(a)) => {
            a.iter().map(|e| e.as_str().map(str::to_string)).collect::<Option<Vec<_>>>().unwrap_or_default()
        }
        _ => Vec::new(),
    };
    if entities.is_empty() {
        return Err(refused(
            ErrorCode::Validation,
            "no_entities",
            "name the entities to sync: {\"entities\": [\"customers\"]}",
        ));
    }
    Ok((entities, requested_schedule(&v)?, incremental::requested(&v)?))
}

/// The params of the first page of `op`: the largest page size it allows.
fn first_params(op: &Operation) -> Value {
    let mut first = Map::new();
    if let Some((name, size)) = page_size(op) {
        first.insert(name, Value::from(size));
    }
    Value::Object(first)
}

/// How a sync starts: a new generation from the first page, or the interrupted one resumed.
/// A new sync is full (a new generation) or incremental (the same generation, asking from the
/// high-water mark), as [`incremental::decide`] says.
fn begin(conn: &mut Connection, row: &ConnectorRow, entity: &str, plan: &Plan) -> rusqlite::Result<SyncStart> {
    let connector_id = row.id.as_str();
    // The write lock first: it reads, then writes, and a deferred transaction whose snapshot
    // another commit outdated could not write (`SQLITE_BUSY_SNAPSHOT`, no busy timeout waits).
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let prior = incremental::prior(&tx, connector_id, entity)?;
    let t = now();
    let start = match incremental::decide(prior.as_ref(), plan) {
        Decision::Resume => {
            tx.execute(
                "UPDATE sync_state SET status = 'running', last_error = NULL, updated_at = ?1,
                    full_every_seconds = coalesce(?4, full_every_seconds)
                 WHERE connector_id = ?2 AND entity = ?3",
                params![t, connector_id, entity, plan.full_every_seconds],
            )?;
            let generation = prior.map(|p| p.generation).unwrap_or(0);
            SyncStart { entity: entity.into(), status: "resumed".into(), generation }
        }
        Decision::Start { mode, generation, first } => {
            tx.execute(
                "INSERT INTO sync_state (connector_id, entity, status, generation, checkpoint, pages, records_synced,
                    record_count, deleted, last_error, started_at, finished_at, updated_at, organization_id,
                    workspace_id, mode, full_every_seconds)
                 VALUES (?1, ?2, 'running', ?3, ?4, 0, 0, 0, 0, NULL, ?5, NULL, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (connector_id, entity) DO UPDATE SET status = 'running', generation = excluded.generation,
                    checkpoint = excluded.checkpoint, pages = 0, records_synced = 0, deleted = 0, last_error = NULL,
                    started_at = excluded.started_at, finished_at = NULL, updated_at = excluded.updated_at,
                    organization_id = excluded.organization_id, workspace_id = excluded.workspace_id,
                    mode = excluded.mode,
                    full_every_seconds = coalesce(excluded.full_every_seconds, sync_state.full_every_seconds)",
                params![
                    connector_id,
                    entity,
                    generation,
                    first.to_string(),
                    t,
                    row.organization_id,
                    row.workspace_id,
                    mode,
                    plan.full_every_seconds
                ],
            )?;
            SyncStart { entity: entity.into(), status: "started".into(), generation }
        }
    };
    tx.commit()?;
    Ok(start)
}

/// Refuses `mode: incremental` for entities of connector `row` with no completed full sync to
/// continue from.
async fn check_incremental(st: &AppState, row: &ConnectorRow, entities: &[String]) -> ApiResult<()> {
    if let Some(p) = PgCache::of(st, row) {
        let priors = p.priors(&row.id, entities).await?;
        for (entity, prior) in entities.iter().zip(&priors) {
            incremental::check_prior(entity, prior.as_ref())?;
        }
        return Ok(());
    }
    let file = workspace_file(&st.settings.data_dir, &row.organization_id, &row.workspace_id);
    let (cid, ents) = (row.id.clone(), entities.to_vec());
    let priors = tokio::task::spawn_blocking(move || -> rusqlite::Result<Vec<Option<incremental::Prior>>> {
        if !file.exists() {
            return Ok(vec![None; ents.len()]);
        }
        let c = open_rw(&file)?;
        ents.iter().map(|e| incremental::prior(&c, &cid, e)).collect()
    })
    .await
    .map_err(store_error)?
    .map_err(store_error)?;
    for (entity, prior) in entities.iter().zip(&priors) {
        incremental::check_prior(entity, prior.as_ref())?;
    }
    Ok(())
}

/// Starts a full sync of each of the body's entities of connector `id` in the background
/// (application and scoped tokens).
pub async fn start(st: &AppState, caller: &Caller, id: &str, body: &[u8]) -> ApiResult<SyncStarted> {
    caller.require(&[Application, Scoped])?;
    let row = stored_connector(st, caller, id).await?;
    let (entities, change, asked) = requested(body)?;
    let spec = st.registry.get(&row.slug)?;
    let mut firsts = Vec::new();
    for entity in &entities {
        let op = list_op(&spec, entity)?;
        incremental::check_mode(entity, op, asked.mode)?;
        firsts.push((entity.clone(), Plan::new(op, first_params(op), asked, crate::db::now_ms())));
    }
    if asked.mode == incremental::Mode::Incremental {
        check_incremental(st, &row, &entities).await?;
    }
    let now = crate::db::now_ms();
    for entity in &entities {
        match change {
            ScheduleChange::Keep => {}
            ScheduleChange::Every(n) => schedule::set(&st.db, &row, entity, n, now).await?,
            ScheduleChange::Clear => schedule::clear(&st.db, &row.id, entity).await?,
        }
    }
    // The cache: the main store's PostgreSQL database, or the workspace's SQLite file.
    let pg = PgCache::of(st, &row);
    let file = match &pg {
        Some(p) => p.run_key(),
        None => workspace_file(&st.settings.data_dir, &row.organization_id, &row.workspace_id),
    };
    let mut conn = match &pg {
        Some(_) => None,
        None => {
            let f = file.clone();
            Some(tokio::task::spawn_blocking(move || open_rw(&f)).await.map_err(store_error)?.map_err(store_error)?)
        }
    };
    let mut out = Vec::new();
    for (entity, first) in firsts {
        let key = (file.clone(), row.id.clone(), entity.clone());
        let Some(guard) = RunGuard::claim_after_end(key).await else {
            out.push(SyncStart { entity, status: "already_running".into(), generation: 0 });
            continue;
        };
        // Another replica (or engine on the same store) syncing it holds the lease.
        let Some(lease) = Lease::acquire(&st.db, &row.id, &entity).await? else {
            drop(guard);
            out.push(SyncStart { entity, status: "already_running".into(), generation: 0 });
            continue;
        };
        let begun = match (&pg, conn.take()) {
            (Some(p), _) => p.begin(&row, &entity, &first).await,
            (None, Some(c)) => {
                let (r, ent) = (row.clone(), entity.clone());
                blocking(c, move |c| {
                    ensure_table(c, &table_name(&r.id, &ent))?;
                    begin(c, &r, &ent, &first)
                })
                .await
                .map(|(c, started)| {
                    conn = Some(c);
                    started
                })
            }
            (None, None) => Err(store_error("the cache file is not open")),
        };
        let started = match begun {
            Ok(v) => v,
            Err(e) => {
                lease.release().await;
                return Err(e);
            }
        };
        let (st2, row2, file2) = (st.clone(), row.clone(), file.clone());
        let generation = started.generation;
        // On the engine's background runtime, not on the thread serving this request.
        st.background.spawn(async move {
            run(st2, row2, entity, file2, generation, &lease, &guard).await;
            guard.ending();
            lease.release().await;
            drop(guard);
        });
        out.push(started);
    }
    Ok(SyncStarted { entities: out })
}

/// Resumes, in the background, every sync recorded as running (a row `running` with a
/// checkpoint in a cache file under the data dir) whose connector still exists and whose lease
/// no live process holds: the syncs this engine was running when it stopped, and those of
/// another engine on the same store that died mid-sync (its lease expired). Called once when
/// `serve` starts; looks again every lease lifetime. A sync another task of this process
/// already runs is left alone.
///
/// The same task is the engine's scheduler: each round it also starts the scheduled syncs that
/// are due ([`run_due`]). A round runs every lease lifetime, at most every 10 s.
pub fn resume_interrupted(st: &AppState) -> tokio::task::JoinHandle<()> {
    let st = st.clone();
    tokio::spawn(async move {
        let round = lease::lifetime().min(std::time::Duration::from_secs(10));
        loop {
            resume_once(&st).await;
            let _ = run_due(&st, crate::db::now_ms()).await;
            tokio::time::sleep(round).await;
        }
    })
}

/// Starts, in the background, the scheduled syncs due at `now` (unix ms) that no process runs:
/// a new full sync (with reconciliation), or the interrupted or failed one resumed. A due sync
/// that runs already (here or in another replica) stays due and starts in a later round, once
/// it has finished. A schedule of a deleted connector is removed. Answers the (connector,
/// entity) pairs started.
pub async fn run_due(st: &AppState, now: i64) -> Vec<(String, String)> {
    let due = match schedule::due(&st.db, now).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e.message, "cannot read the context store schedules");
            return Vec::new();
        }
    };
    let mut started = Vec::new();
    for d in due {
        let row = match st.db.connector(&d.organization_id, Some(&d.workspace_id), &d.connector_id).await {
            Ok(Some(row)) => row,
            Ok(None) => {
                let _ = schedule::clear(&st.db, &d.connector_id, &d.entity).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(connector_id = %d.connector_id, error = %e, "cannot start a scheduled context store sync");
                continue;
            }
        };
        let first = match st.registry.get(&row.slug).map_err(ApiError::from).and_then(|spec| {
            let op = list_op(&spec, &d.entity)?;
            Ok(Plan::new(op, first_params(op), incremental::Requested::default(), now))
        }) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(connector_id = %d.connector_id, entity = %d.entity, error = %e.message,
                    "a scheduled context store sync cannot run; its schedule is removed");
                let _ = schedule::clear(&st.db, &d.connector_id, &d.entity).await;
                continue;
            }
        };
        let pg = PgCache::of(st, &row);
        let file = match &pg {
            Some(p) => p.run_key(),
            None => workspace_file(&st.settings.data_dir, &row.organization_id, &row.workspace_id),
        };
        let Some(guard) = RunGuard::claim_after_end((file.clone(), row.id.clone(), d.entity.clone())).await else {
            continue;
        };
        let lease = match Lease::acquire(&st.db, &row.id, &d.entity).await {
            Ok(Some(lease)) => lease,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(connector_id = %d.connector_id, error = %e.message, "cannot take a context store lease");
                continue;
            }
        };
        match schedule::claim(&st.db, &d, now).await {
            Ok(true) => {}
            Ok(false) => {
                lease.release().await;
                continue;
            }
            Err(e) => {
                tracing::warn!(connector_id = %d.connector_id, error = %e.message, "cannot claim a scheduled sync");
                lease.release().await;
                continue;
            }
        }
        let (r, ent, f) = (row.clone(), d.entity.clone(), file.clone());
        let begun = match &pg {
            Some(p) => p.begin(&row, &d.entity, &first).await.ok(),
            None => tokio::task::spawn_blocking(move || -> rusqlite::Result<SyncStart> {
                let mut c = open_rw(&f)?;
                ensure_table(&c, &table_name(&r.id, &ent))?;
                begin(&mut c, &r, &ent, &first)
            })
            .await
            .ok()
            .and_then(Result::ok),
        };
        let generation = match begun {
            Some(s) => s.generation,
            _ => {
                tracing::warn!(connector_id = %d.connector_id, entity = %d.entity, "cannot start a scheduled context store sync");
                lease.release().await;
                continue;
            }
        };
        tracing::info!(connector_id = %d.connector_id, entity = %d.entity, "starting a scheduled context store sync");
        started.push((d.connector_id.clone(), d.entity.clone()));
        let st2 = st.clone();
        tokio::spawn(async move {
            run(st2, row, d.entity, file, generation, &lease, &guard).await;
            guard.ending();
            lease.release().await;
            drop(guard);
        });
    }
    started
}

async fn resume_once(st: &AppState) {
    {
        let dir = st.settings.data_dir.join("context-store");
        let found = if st.db.is_postgres() {
            super::pg::interrupted(&st.db)
                .await
                .into_iter()
                .map(|(c, o, w, id, e, g)| (c.run_key(), o, w, id, e, g))
                .collect()
        } else {
            tokio::task::spawn_blocking(move || interrupted_syncs(&dir)).await.unwrap_or_default()
        };
        for (file, org, ws, connector_id, entity, generation) in found {
            if is_running(&(file.clone(), connector_id.clone(), entity.clone())) {
                continue;
            }
            let row = match st.db.connector(&org, Some(&ws), &connector_id).await {
                Ok(Some(row)) => row,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(connector_id = %connector_id, error = %e, "cannot resume a context store sync");
                    continue;
                }
            };
            let Some(guard) = RunGuard::claim((file.clone(), connector_id.clone(), entity.clone())) else { continue };
            let lease = match Lease::acquire(&st.db, &connector_id, &entity).await {
                Ok(Some(lease)) => lease,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(connector_id = %connector_id, entity = %entity, error = %e.message,
                        "cannot take a context store lease");
                    continue;
                }
            };
            tracing::info!(connector_id = %connector_id, entity = %entity, "resuming an interrupted context store sync");
            let st2 = st.clone();
            tokio::spawn(async move {
                run(st2, row, entity, file, generation, &lease, &guard).await;
                guard.ending();
                lease.release().await;
                drop(guard);
            });
        }
    }
}

type Interrupted = (PathBuf, String, String, String, String, i64);

/// The syncs recorded as running in the cache files under `dir`.
fn interrupted_syncs(dir: &std::path::Path) -> Vec<Interrupted> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for file in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if file.extension().is_none_or(|x| x != "sqlite3") {
            continue;
        }
        let rows = store::open_ro(&file).and_then(|c| {
            let mut stmt = c.prepare(
                "SELECT organization_id, workspace_id, connector_id, entity, generation FROM sync_state
                 WHERE status = 'running' AND checkpoint IS NOT NULL AND organization_id IS NOT NULL
                    AND workspace_id IS NOT NULL",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?;
            rows.collect::<rusqlite::Result<Vec<(String, String, String, String, i64)>>>()
        });
        match rows {
            Ok(rows) => out.extend(rows.into_iter().map(|(o, w, c, e, g)| (file.clone(), o, w, c, e, g))),
            Err(e) => tracing::warn!(error = %e, "cannot read a context store file's sync state"),
        }
    }
    out
}

/// Pages through one entity until the last page, or records the failure (the checkpoint stays,
/// so the next sync resumes).
async fn run(
    st: AppState,
    row: Arc<ConnectorRow>,
    entity: String,
    file: PathBuf,
    generation: i64,
    lease: &Lease,
    guard: &RunGuard,
) {
    if let Err(e) = pages(&st, &row, &entity, &file, generation, lease, guard).await {
        // Marked before the failure is recorded: a request that reads it must find the task
        // only letting go, and wait for it, not `already_running`.
        guard.ending();
        let mut message = format!("{}: {}", e.code.as_str(), e.message);
        if matches!(e.code, ErrorCode::Internal | ErrorCode::Unavailable) {
            tracing::warn!(connector_id = %row.id, entity = %entity, error = %e.message, "context store sync failed");
            message = format!("{}: the sync failed inside the engine; see its logs", e.code.as_str());
        }
        // A NUL (a provider's message may hold one) as U+FFFD: PostgreSQL's text refuses it,
        // and the failure would go unrecorded.
        let message: String = message.chars().take(MAX_ERROR_LEN).map(crate::db::storable).collect();
        if let Some(p) = PgCache::of(&st, &row) {
            if p.fail(&row.id, &entity, generation, &message).await.is_err() {
                tracing::error!(connector_id = %row.id, entity = %entity, "could not record a failed context store sync");
            }
            return;
        }
        let (cid, ent) = (row.id.clone(), entity.clone());
        let r = tokio::task::spawn_blocking(move || -> rusqlite::Result<()> {
            let c = open_rw(&file)?;
            // While this generation is the running one: a stale process's failure overwrites
            // no newer sync.
            c.execute(
                "UPDATE sync_state SET status = 'failed', last_error = ?1, updated_at = ?2
                 WHERE connector_id = ?3 AND entity = ?4 AND generation = ?5 AND status = 'running'",
                params![message, now(), cid, ent, generation],
            )?;
            Ok(())
        })
        .await;
        if !matches!(r, Ok(Ok(()))) {
            tracing::error!(connector_id = %row.id, entity = %entity, "could not record a failed context store sync");
        }
    }
}

async fn pages(
    st: &AppState,
    row: &ConnectorRow,
    entity: &str,
    file: &std::path::Path,
    generation: i64,
    lease: &Lease,
    guard: &RunGuard,
) -> ApiResult<()> {
    let connector = handle(st, row)?;
    let table = table_name(&row.id, entity);
    let pg = PgCache::of(st, row);
    let mut conn = None;
    let checkpoint = match &pg {
        Some(p) => p.checkpoint(&row.id, entity).await?,
        None => {
            let path = file.to_path_buf();
            let c =
                tokio::task::spawn_blocking(move || open_rw(&path)).await.map_err(store_error)?.map_err(store_error)?;
            let (cid, ent) = (row.id.clone(), entity.to_string());
            let (c, checkpoint) = blocking(c, move |c| {
                c.query_row(
                    "SELECT checkpoint FROM sync_state WHERE connector_id = ?1 AND entity = ?2",
                    params![cid, ent],
                    |r| r.get::<_, Option<String>>(0),
                )
            })
            .await?;
            conn = Some(c);
            checkpoint
        }
    };
    let mut params_now: Value = checkpoint.and_then(|c| serde_json::from_str(&c).ok()).unwrap_or(Value::Null);
    let opts = ExecuteOptions { skip_truncation: true, ..ExecuteOptions::default() };
    // The list's `x-incremental`: each page raises the high-water mark by its records' times.
    let tracked =
        st.registry.get(&row.slug).ok().and_then(|s| s.operation(entity, "list").and_then(|o| o.incremental.clone()));
    loop {
        // A deleted connector first: a lease lost to its delete (its lease rows go with it)
        // must not leave what this sync wrote behind.
        if stopped_by_delete(st, row, entity).await {
            return Ok(());
        }
        if lease.is_lost() {
            // Another process may sync it now; what is committed stays, checkpoint included.
            tracing::warn!(connector_id = %row.id, entity = %entity, "context store lease lost: this process stops syncing");
            return Ok(());
        }
        let res = connector.execute(entity, "list", params_now.clone(), &opts).await.map_err(ApiError::from)?;
        let records = match res.data {
            Value::Array(a) => a,
            _ => return Err(ApiError::new(ErrorCode::UpstreamHttp, format!("the {entity} list answered no list"))),
        };
        let mut rows = Vec::with_capacity(records.len());
        for r in &records {
            let id = match r.get("id") {
                Some(Value::String(s)) => crate::db::storable_text(s).into_owned(),
                Some(Value::Number(n)) => n.to_string(),
                _ => {
                    return Err(refused(
                        ErrorCode::Validation,
                        "no_record_id",
                        format!("records of {entity} have no id field to key the cache by"),
                    ))
                }
            };
            rows.push((id, without_nul(r.to_string())));
        }
        let next = res.next_page.map(|n| {
            let mut p = match &params_now {
                Value::Object(m) => m.clone(),
                _ => Map::new(),
            };
            p.insert(n.param, n.cursor);
            Value::Object(p)
        });
        // A provider (or a spec) answering the same cursor again would page forever, holding
        // the lease and the entity's schedule.
        if next.as_ref() == Some(&params_now) {
            return Err(ApiError::new(
                ErrorCode::UpstreamHttp,
                format!(
                    "the {entity} list answered the page it was asked for as the next one: its cursor does not move"
                ),
            ));
        }
        if lease.is_lost() {
            if !stopped_by_delete(st, row, entity).await {
                tracing::warn!(connector_id = %row.id, entity = %entity, "context store lease lost: this process stops syncing");
            }
            return Ok(());
        }
        let (t, cid, ent) = (table.clone(), row.id.clone(), entity.to_string());
        let checkpoint = next.as_ref().map(Value::to_string);
        if checkpoint.is_none() {
            // The last page: its commit records the end, so a request that reads the end must
            // find the task only letting go (and wait for it), not `already_running`.
            guard.ending();
        }
        let high_water = incremental::page_high_water(tracked.as_ref(), &records);
        let landed = match (&pg, conn.take()) {
            (Some(p), _) => p.commit_page(&cid, &ent, generation, &rows, checkpoint, high_water).await?,
            (None, Some(c)) => {
                let (c, landed) =
                    blocking(c, move |c| commit_page(c, &t, &cid, &ent, generation, &rows, checkpoint, high_water))
                        .await?;
                conn = Some(c);
                landed
            }
            (None, None) => return Err(store_error("the cache file is not open")),
        };
        if !landed {
            tracing::warn!(connector_id = %row.id, entity = %entity, generation,
                "the context store sync is no longer this one (another process took it over): this process stops");
            return Ok(());
        }
        match next {
            Some(p) => params_now = p,
            None => break,
        }
    }
    stopped_by_delete(st, row, entity).await;
    Ok(())
}

/// Whether connector `row` was deleted, so its sync stops calling the provider with the
/// deleted credentials. Its delete removed its cache, perhaps before this sync's last page
/// landed: what the page wrote is removed again.
async fn stopped_by_delete(st: &AppState, row: &ConnectorRow, entity: &str) -> bool {
    if !matches!(st.db.connector(&row.organization_id, Some(&row.workspace_id), &row.id).await, Ok(None)) {
        return false;
    }
    tracing::info!(connector_id = %row.id, entity = %entity, "connector deleted: its context store sync stops");
    if let Err(e) = super::forget_connector(st, row).await {
        tracing::error!(connector_id = %row.id, error = %e.message, "could not remove a deleted connector's cached records");
    }
    true
}

/// A record's JSON text as either cache keeps it: a NUL (`\u0000`, which PostgreSQL's JSONB
/// refuses, failing the page and so the sync) as U+FFFD, so that both caches hold, and answer,
/// the same records.
fn without_nul(json: String) -> String {
    const NUL: &str = "\\u0000";
    if !json.contains(NUL) {
        return json;
    }
    let mut out = String::with_capacity(json.len());
    let mut rest = json.as_str();
    // Escapes are taken whole, so the `u0000` of an escaped backslash followed by "u0000" stays.
    while let Some(at) = rest.find('\\') {
        let (before, escape) = rest.split_at(at);
        out.push_str(before);
        let len = if escape.starts_with(NUL) {
            out.push_str("\\ufffd");
            NUL.len()
        } else {
            let len = 1 + escape[1..].chars().next().map_or(0, char::len_utf8);
            out.push_str(&escape[..len]);
            len
        };
        rest = &escape[len..];
    }
    out.push_str(rest);
    out
}

/// Stores one page and its checkpoint in one transaction, raising the high-water mark to the
/// page's latest update time; with no checkpoint (the last page) marks the sync succeeded and,
/// for a full sync, also deletes what this generation did not see (an incremental sync deletes
/// nothing).
#[allow(clippy::too_many_arguments)]
fn commit_page(
    conn: &mut Connection,
    table: &str,
    connector_id: &str,
    entity: &str,
    generation: i64,
    rows: &[(String, String)],
    checkpoint: Option<String>,
    high_water: Option<i64>,
) -> rusqlite::Result<bool> {
    let t = now();
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let last = checkpoint.is_none();
    // Fenced: the page lands only while this sync's generation is the entity's running one. A
    // process that stalled past its lease, while another took the sync over and started a new
    // generation, writes nothing (the transaction is dropped: rolled back).
    let running = tx.execute(
        "UPDATE sync_state SET checkpoint = ?1, pages = pages + 1, records_synced = records_synced + ?2, updated_at = ?3,
            high_water = max(coalesce(high_water, ?6), coalesce(?6, high_water))
         WHERE connector_id = ?4 AND entity = ?5 AND generation = ?7 AND status = 'running'",
        params![checkpoint, rows.len() as i64, t, connector_id, entity, high_water, generation],
    )?;
    if running == 0 {
        return Ok(false);
    }
    {
        let mut upsert = tx.prepare_cached(&format!(
            "INSERT INTO \"{table}\" (id, record, synced_at, generation) VALUES (?1, jsonb(?2), ?3, ?4)
             ON CONFLICT (id) DO UPDATE SET record = excluded.record, synced_at = excluded.synced_at,
                generation = excluded.generation"
        ))?;
        for (id, record) in rows {
            upsert.execute(params![id, record, t, generation])?;
        }
    }
    if last {
        let mode: Option<String> = tx.query_row(
            "SELECT mode FROM sync_state WHERE connector_id = ?1 AND entity = ?2",
            params![connector_id, entity],
            |r| r.get(0),
        )?;
        let full = mode.as_deref() != Some("incremental");
        let deleted = if full {
            tx.execute(&format!("DELETE FROM \"{table}\" WHERE generation < ?1"), params![generation])?
        } else {
            0
        };
        let count: i64 = tx.query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| r.get(0))?;
        tx.execute(
            "UPDATE sync_state SET status = 'succeeded', record_count = ?1, deleted = ?2, finished_at = ?3,
                last_error = NULL, last_full_at = CASE WHEN ?6 THEN ?3 ELSE last_full_at END
             WHERE connector_id = ?4 AND entity = ?5",
            params![count, deleted as i64, t, connector_id, entity, full],
        )?;
    }
    tx.commit()?;
    Ok(true)
}

/// Per-entity sync status of connector `id` (application and scoped tokens). A sync recorded
/// as running that no task of this process runs (the engine stopped mid-sync) is
/// `interrupted`: the next sync request resumes it.
pub async fn status(st: &AppState, caller: &Caller, id: &str) -> ApiResult<StoreStatus> {
    caller.require(&[Application, Scoped])?;
    let row = stored_connector(st, caller, id).await?;
    let pg = PgCache::of(st, &row);
    let file = match &pg {
        Some(p) => p.run_key(),
        None => workspace_file(&st.settings.data_dir, &row.organization_id, &row.workspace_id),
    };
    if pg.is_none() && !file.exists() {
        return Ok(StoreStatus { entities: Vec::new() });
    }
    let mut entities = entity_rows(pg.as_ref(), &file, &row.id).await?;
    let schedules = schedule::of_connector(&st.db, &row.id).await?;
    // Read again at most once, when a sync read as running looks interrupted.
    let mut again: Option<Vec<EntityStatus>> = None;
    for e in &mut entities {
        let key = (file.clone(), row.id.clone(), e.entity.clone());
        if e.status == "running" && !is_running(&key) && !lease::held_elsewhere(&st.db, &row.id, &e.entity).await {
            // A sync records its end before it releases its claim: one that ended after the
            // rows were read reads as its end now.
            if again.is_none() {
                again = Some(entity_rows(pg.as_ref(), &file, &row.id).await?);
            }
            match again.iter().flatten().find(|a| a.entity == e.entity) {
                Some(a) if a.status != "running" || is_running(&key) => *e = a.clone(),
                _ => e.status = "interrupted".into(),
            }
        }
        if let Some((every, next)) = schedules.get(&e.entity) {
            e.every_seconds = Some(*every);
            e.next_run_at = Some(next.clone());
        }
    }
    Ok(StoreStatus { entities })
}

/// The `sync_state` rows of connector `connector_id`, from the PostgreSQL cache `pg` or the
/// cache file `file`.
async fn entity_rows(pg: Option<&PgCache>, file: &std::path::Path, connector_id: &str) -> ApiResult<Vec<EntityStatus>> {
    if let Some(p) = pg {
        return p.status(connector_id).await;
    }
    let (f, cid) = (file.to_path_buf(), connector_id.to_string());
    tokio::task::spawn_blocking(move || -> rusqlite::Result<Vec<EntityStatus>> {
        let c = store::open_ro(&f)?;
        // mode, high_water, last_full_at, full_every_seconds (NULL in a file made before them).
        let extra = store::sync_state_columns_select(&c)?;
        let mut stmt = c.prepare(&format!(
            "SELECT entity, status, generation, pages, records_synced, record_count, deleted, last_error, started_at,
                finished_at, updated_at, {extra} FROM sync_state WHERE connector_id = ?1 ORDER BY entity"
        ))?;
        let rows = stmt.query_map([cid], |r| {
            Ok(EntityStatus {
                entity: r.get(0)?,
                status: r.get(1)?,
                generation: r.get(2)?,
                pages: r.get(3)?,
                records_synced: r.get(4)?,
                record_count: r.get(5)?,
                deleted: r.get(6)?,
                last_error: r.get(7)?,
                started_at: r.get(8)?,
                finished_at: r.get(9)?,
                updated_at: r.get(10)?,
                every_seconds: None,
                next_run_at: None,
                mode: r.get(11)?,
                high_water_mark: r
                    .get::<_, Option<i64>>(12)?
                    .and_then(|ms| TimeFormat::Iso8601.write(ms).as_str().map(str::to_string)),
                last_full_sync_at: r.get(13)?,
                full_every_seconds: r.get(14)?,
            })
        })?;
        rows.collect()
    })
    .await
    .map_err(store_error)?
    .map_err(store_error)
}

#[cfg(test)]
mod run_guard_tests {
    use super::*;

    #[test]
    fn a_second_claim_of_a_running_key_is_refused_without_deadlock() {
        let key: RunKey = (PathBuf::from("/nonexistent/run-guard-test"), "c".into(), "e".into());
        let first = RunGuard::claim(key.clone());
        assert!(first.is_some());
        // Before the fix this call never returned.
        assert!(RunGuard::claim(key.clone()).is_none());
        drop(first);
        assert!(RunGuard::claim(key).is_some());
    }
}

#[cfg(test)]
mod nul_tests {
    use super::*;
    use serde_json::json;

    /// Every NUL becomes U+FFFD, in values and keys; an escaped backslash followed by the text
    /// `u0000` is not a NUL and stays; the text stays JSON of the same shape.
    #[test]
    fn nuls_become_replacement_characters_and_nothing_else_changes() {
        let record = json!({"a\u{0}": "x\u{0}y", "b": "\\u0000", "c": ["\\\u{0}", "\t\"\u{1}é"], "d": 1});
        let text = without_nul(record.to_string());
        let back: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(back, json!({"a\u{fffd}": "x\u{fffd}y", "b": "\\u0000", "c": ["\\\u{fffd}", "\t\"\u{1}é"], "d": 1}));
        let plain = json!({"a": "\\u0001"}).to_string();
        assert_eq!(without_nul(plain.clone()), plain);
    }
}
