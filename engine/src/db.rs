//! Storage: one schema and one set of queries for SQLite (the embedded default, WAL) and
//! PostgreSQL, through sqlx's `Any` driver. Every query that reads a tenant's object takes the
//! organization id, so a foreign id reads as "not found" by construction.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Executor, Row, Transaction};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::crypto::Sealed;
use crate::metrics::Metrics;

pub mod app_templates;
mod audit;
pub mod backup;
mod cache;
pub mod console;
mod listen;
mod oauth;

use audit::AuditQueue;
pub use audit::{AuditConfig, AuditOutcome};
use cache::ConnectorCache;
use listen::ChangeListener;
pub use listen::APPLICATION_NAME as CHANGES_APPLICATION_NAME;
pub use oauth::{OAuthClientRow, OAuthStateRow};

/// What can go wrong in storage. Texts never carry a database password; [`crate::error`] turns
/// them into the API's error (an unsupported URL is `configuration`, the rest `internal`).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A `--database-url` of a scheme the engine does not run on; `scheme` is shown only when it
    /// looks like one (the URL itself may hold a password).
    #[error("unsupported --database-url scheme{}: use {}", scheme_note(.scheme), DATABASE_URL_FORMS)]
    UnsupportedUrl { scheme: Option<String> },
    #[error("cannot create {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("a sqlite: --database-url names no file: use sqlite:///absolute/path.db or sqlite:relative/path.db")]
    NoSqliteFile,
    /// The database cannot be reached or opened (the text is redacted).
    #[error("cannot open the database: {0}")]
    Open(String),
    #[error("database: {0}")]
    Query(#[from] sqlx::Error),
    /// Stored data that breaks an invariant.
    #[error("{0}")]
    Inconsistent(String),
}

impl StoreError {
    /// Whether the database was out of reach for a moment rather than the request being wrong:
    /// the connection broke or could not be had (a PostgreSQL restart or failover cuts every
    /// connection; the pool may be exhausted), the server is shutting down or starting up, or
    /// SQLite stayed locked past its busy timeout. The caller may retry (a write whose connection
    /// broke while committing may have been stored).
    pub fn is_unavailable(&self) -> bool {
        let StoreError::Query(e) = self else { return false };
        match e {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
                true
            }
            sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                let code = code.as_ref();
                // SQLite's result codes are numbers below 10000 (extended ones keep the primary
                // code in the low byte); PostgreSQL's SQLSTATEs are five characters.
                if code.len() < 5 && code.bytes().all(|b| b.is_ascii_digit()) {
                    // SQLITE_BUSY, SQLITE_LOCKED.
                    matches!(code.parse::<i64>().map(|c| c & 0xff), Ok(5 | 6))
                } else {
                    // Class 08 (connection exception); administrator or crash shutdown, cannot
                    // connect now; too many connections.
                    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
                }
            }),
            _ => false,
        }
    }
}

fn scheme_note(scheme: &Option<String>) -> String {
    scheme.as_ref().map(|s| format!(" ({s}:)")).unwrap_or_default()
}

/// Result with [`StoreError`].
pub type StoreResult<T> = Result<T, StoreError>;

/// The schema, in order. A step is never edited once released; add a new one instead.
/// [`POSTGRES_MIGRATIONS`] adds what only PostgreSQL needs to a step.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        r#"
CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE applications (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    client_id TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE workspaces (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (organization_id, name)
);
CREATE TABLE connectors (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    definition_id TEXT NOT NULL,
    slug TEXT NOT NULL,
    name TEXT NOT NULL,
    credentials_key_id TEXT NOT NULL,
    credentials_ct TEXT NOT NULL,
    credential_version BIGINT NOT NULL,
    replication_config TEXT,
    config TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX connectors_org_ws ON connectors (organization_id, workspace_id);
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    secret_key_id TEXT NOT NULL,
    secret_ct TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE widget_origins (
    organization_id TEXT NOT NULL,
    origin TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (organization_id, origin)
);
CREATE TABLE refresh_locks (
    connector_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    workspace_id TEXT,
    connector_id TEXT,
    token_kind TEXT NOT NULL,
    entity TEXT NOT NULL,
    action TEXT NOT NULL,
    status TEXT NOT NULL,
    error_code TEXT,
    latency_ms BIGINT NOT NULL,
    request_id TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX audit_log_org ON audit_log (organization_id, created_at);
"#,
    ),
    (
        2,
        // One version per connector, bumped by every change (the handle cache keys on it, so
        // every replica sees every change); widget origins per organization and workspace (''
        // for the whole organization); audit records pruned oldest first.
        r#"
ALTER TABLE connectors ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
CREATE TABLE widget_origins_v2 (
    organization_id TEXT NOT NULL,
    workspace_id TEXT NOT NULL DEFAULT '',
    origin TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (organization_id, workspace_id, origin)
);
INSERT INTO widget_origins_v2 (organization_id, workspace_id, origin, created_at)
    SELECT organization_id, '', origin, created_at FROM widget_origins;
DROP TABLE widget_origins;
ALTER TABLE widget_origins_v2 RENAME TO widget_origins;
CREATE INDEX audit_log_created ON audit_log (created_at);
"#,
    ),
    (
        3,
        // Server keys sealed under the master key, by name (the client secrets' HMAC key).
        r#"
CREATE TABLE server_keys (
    name TEXT PRIMARY KEY,
    secret_key_id TEXT NOT NULL,
    secret_ct TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"#,
    ),
    (
        4,
        // The credential version whose refresh token was sent to the OAuth provider by a refresh
        // whose answer is not stored yet (a write-ahead marker: a process killed in between
        // leaves it). Audit records in insertion order, so the pruner bounds their number from
        // the two ends of an index instead of counting the table: SQLite's rowid already is that
        // order; PostgreSQL gets a sequence column (see POSTGRES_MIGRATIONS).
        r#"
ALTER TABLE connectors ADD COLUMN refresh_in_flight BIGINT;
"#,
    ),
    (
        5,
        // OAuth consent: the app's own OAuth client per organization and connector type (the
        // secret sealed), and pending consents keyed by a hash of their state (the PKCE
        // verifier sealed; single use through used_at).
        r#"
CREATE TABLE oauth_clients (
    organization_id TEXT NOT NULL,
    connector_type TEXT NOT NULL,
    client_id TEXT NOT NULL,
    secret_key_id TEXT NOT NULL,
    secret_ct TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (organization_id, connector_type)
);
CREATE TABLE oauth_states (
    state_hash TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    connector_type TEXT NOT NULL,
    origin TEXT,
    redirect_url TEXT,
    redirect_uri TEXT NOT NULL,
    name TEXT,
    replication_config TEXT,
    verifier_key_id TEXT NOT NULL,
    verifier_ct TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    created_at TEXT NOT NULL
);
CREATE INDEX oauth_states_expires ON oauth_states (expires_at);
"#,
    ),
    (
        6,
        // Context store leases: the replica (`owner`, a per-process id) that syncs a connector
        // entity until `expires_at` (unix ms), renewed while it syncs (see
        // `context_store::lease`); and sync schedules, the next run due at `next_run_at` (unix
        // ms; see `context_store::schedule`).
        r#"
CREATE TABLE context_store_leases (
    connector_id TEXT NOT NULL,
    entity TEXT NOT NULL,
    owner TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (connector_id, entity)
);
CREATE TABLE context_store_schedules (
    connector_id TEXT NOT NULL,
    entity TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    every_seconds BIGINT NOT NULL,
    next_run_at BIGINT NOT NULL,
    PRIMARY KEY (connector_id, entity)
);
CREATE INDEX context_store_schedules_due ON context_store_schedules (next_run_at);
"#,
    ),
    (
        7,
        // An application's template allow-list for its widget tokens (slugs as a JSON array; no
        // row: every type; see `db::app_templates`), and console sessions signed out, by a hash
        // of their id, kept until they would have expired (unix seconds), so every replica
        // refuses them (see `db::console`).
        r#"
CREATE TABLE application_templates (
    client_id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    slugs TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE console_sessions_ended (
    session_hash TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_ended_expires ON console_sessions_ended (expires_at);
"#,
    ),
    // PostgreSQL only (below): every replica learns of a change to a connector row.
    (8, ""),
    (
        9,
        // A widget token's origin looked up in its organization (`db::widget_origin_known`),
        // whatever the workspace.
        "CREATE INDEX widget_origins_by_origin ON widget_origins (organization_id, origin);",
    ),
    (
        10,
        // The config a consent's connector is created with (its server variables: Jira's
        // subdomain, a GitLab instance), given at initiate.
        "ALTER TABLE oauth_states ADD COLUMN config TEXT;
CREATE INDEX oauth_states_pending ON oauth_states (workspace_id, expires_at);",
    ),
];

/// Statements of a step of [`MIGRATIONS`] run on PostgreSQL only, after the step's own.
const POSTGRES_MIGRATIONS: &[(i64, &str)] = &[
    (
        4,
        r#"
ALTER TABLE audit_log ADD COLUMN seq BIGSERIAL;
CREATE INDEX audit_log_seq ON audit_log (seq);
"#,
    ),
    (
        8,
        // A connector row changed or deleted, by any replica or by hand, is announced to every
        // replica listening (`db/listen.rs`) when its transaction commits; `*` for a TRUNCATE.
        r#"
CREATE OR REPLACE FUNCTION switchboard_connector_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('switchboard_connectors', '*');
    ELSE
        PERFORM pg_notify('switchboard_connectors', OLD.id);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER connectors_changed AFTER UPDATE OR DELETE ON connectors
    FOR EACH ROW EXECUTE FUNCTION switchboard_connector_changed();
CREATE TRIGGER connectors_truncated AFTER TRUNCATE ON connectors
    FOR EACH STATEMENT EXECUTE FUNCTION switchboard_connector_changed();
"#,
    ),
];

/// The statements of a migration step: split at each `;` outside a `$$`-quoted body.
fn statements(sql: &str) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    let bytes = sql.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"$$") {
            quoted = !quoted;
            i += 2;
            continue;
        }
        if bytes[i] == b';' && !quoted {
            parts.push(&sql[start..i]);
            start = i + 1;
        }
        i += 1;
    }
    parts.push(&sql[start..]);
    parts.into_iter().map(str::trim).filter(|s| !s.is_empty())
}

/// Every value sealed under the master key, by table: a query reading each record's id (the
/// associated data it is sealed with, see [`crate::admin::sealed_aad`]), key id and ciphertext.
/// Key rotation, backup and restore all read this one list.
pub(crate) const SEALED_RECORDS: &[(&str, &str)] = &[
    ("connectors", "SELECT id, credentials_key_id AS key_id, credentials_ct AS ct FROM connectors"),
    ("signing_keys", "SELECT kid AS id, secret_key_id AS key_id, secret_ct AS ct FROM signing_keys"),
    // A server key is sealed with its name as associated data, like a connector with its id.
    ("server_keys", "SELECT name AS id, secret_key_id AS key_id, secret_ct AS ct FROM server_keys"),
    (
        "oauth_clients",
        "SELECT 'oauth_client:' || organization_id || ':' || connector_type AS id, secret_key_id AS key_id, \
         secret_ct AS ct FROM oauth_clients",
    ),
    ("oauth_states", "SELECT state_hash AS id, verifier_key_id AS key_id, verifier_ct AS ct FROM oauth_states"),
];

/// Now as RFC 3339.
pub fn now() -> String {
    OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default()
}

/// Now in unix milliseconds.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// A new random id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A new id for an audit record: a UUIDv7, which starts with the time it was made, so the ids
/// of one engine sort in the order it wrote them. The audit log is the one table every execute
/// adds to; with random ids each insert landed on a random page of the id's index, so a batch of
/// records dirtied (and, once the index outgrew SQLite's page cache, read) a page per record, and
/// the cost grew with the log. Ids in time order append to the index's last pages.
pub fn new_audit_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The database.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    postgres: bool,
    /// Room for connections held out of the pool by [`Db::hold`]: a quarter of the pool.
    holds: Arc<Semaphore>,
    /// Turns of the tenants' context store queries (searches, SQL) on the shared pool: a
    /// quarter of it, so they never take the connections lease renewals, page commits and the
    /// audit writer need (see [`Db::tenant_queries`]).
    tenant_queries: Arc<Semaphore>,
    /// Connector rows in memory (see [`Db::connector`]).
    connectors: Arc<ConnectorCache>,
    /// PostgreSQL: the database every connection of this handle is made to.
    target: Option<Target>,
    /// PostgreSQL: the task that listens for changes to connector rows, once the cache is
    /// enabled (see `db/listen.rs`); never started on SQLite.
    changes: Arc<OnceLock<ChangeListener>>,
    /// PostgreSQL with serving threads: the pools each serving thread makes of its own (see
    /// [`Db::here`]).
    threads: Option<Arc<ThreadPools>>,
    /// The audit writer task, once started ([`Db::start_audit_writer`]).
    audit: Arc<OnceLock<AuditQueue>>,
}

/// A PostgreSQL `--database-url`, parsed once; each kind of connection made from it carries
/// its own `application_name` ([`Target::named`]), as `pg_stat_activity` shows it.
#[derive(Clone)]
struct Target(Arc<AnyConnectOptions>);

impl std::fmt::Debug for Target {
    // The URL holds the database password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Target(****)")
    }
}

impl Target {
    /// Fails as opening the database does for a URL PostgreSQL's driver refuses.
    fn parse(url: &str) -> StoreResult<Self> {
        let failed = |e: sqlx::Error| StoreError::Open(redact_url(&e.to_string()));
        let options: AnyConnectOptions = url.parse().map_err(failed)?;
        sqlx::postgres::PgConnectOptions::try_from(&options).map_err(failed)?;
        Ok(Self(Arc::new(options)))
    }

    /// The options with `application_name` set to `name` (in place of one the URL gives).
    fn named(&self, name: &str) -> AnyConnectOptions {
        let mut options = (*self.0).clone();
        let url = &mut options.database_url;
        let kept: Vec<(String, String)> =
            url.query_pairs().filter(|(k, _)| k != "application_name").map(|(k, v)| (k.into(), v.into())).collect();
        url.query_pairs_mut().clear().extend_pairs(kept).append_pair("application_name", name);
        options
    }
}

/// PostgreSQL with serving threads: each serving thread queries through a pool of its own,
/// made on first use on that thread, so its connections are driven by the runtime that uses
/// them (a connection is driven by the runtime it was opened on: one opened on another thread
/// would wait for that thread's turn for every answer) and close with the thread.
#[derive(Debug)]
struct ThreadPools {
    /// Tells this handle's pools from other handles' (tests run several engines in a process).
    id: u64,
    /// Connections of each thread's pool.
    size: u32,
}

/// A serving thread's number and its pools, by [`ThreadPools::id`].
struct ServingThread {
    n: usize,
    pools: Vec<(u64, AnyPool)>,
}

thread_local! {
    /// Set on a serving thread ([`serving_thread`]).
    static SERVING: std::cell::RefCell<Option<ServingThread>> = const { std::cell::RefCell::new(None) };
}

/// Marks this thread as serving thread `n`: from now on a PostgreSQL [`Db`]'s queries made on
/// it go through a pool of this thread's own (see [`Db::here`]). Call
/// [`close_thread_pools`] on the thread's runtime before it stops.
pub fn serving_thread(n: usize) {
    SERVING.with(|s| *s.borrow_mut() = Some(ServingThread { n, pools: Vec::new() }));
}

/// Closes this serving thread's pools (their connections end gracefully, each pool given at
/// most 5 s for its connections in use to come back) and unmarks the thread, so what still runs
/// on it uses the shared pool; for the end of its runtime.
pub async fn close_thread_pools() {
    let pools = SERVING.with(|s| s.borrow_mut().take().map(|t| t.pools).unwrap_or_default());
    for (_, pool) in pools {
        let _ = tokio::time::timeout(Duration::from_secs(5), pool.close()).await;
    }
}

/// A connection of the pool held by its caller until dropped (see [`Db::hold`]).
#[derive(Debug)]
pub struct Held {
    conn: PoolConnection<Any>,
    _room: OwnedSemaphorePermit,
}

#[derive(Debug, Clone)]
pub struct Organization {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct Application {
    pub id: String,
    pub organization_id: String,
    pub client_id: String,
    pub secret_hash: String,
}

#[derive(Debug, Clone)]
pub struct Workspace {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub created_at: String,
}

/// A stored connector; credentials stay sealed until execution.
#[derive(Debug, Clone)]
pub struct ConnectorRow {
    pub id: String,
    pub organization_id: String,
    pub workspace_id: String,
    pub workspace_name: String,
    pub definition_id: String,
    pub slug: String,
    pub name: String,
    pub credentials: Sealed,
    pub credential_version: i64,
    /// Bumped by every change of the row (name, config, replication config, credentials,
    /// refreshed tokens): a handle made for another version is stale.
    pub version: i64,
    pub replication_config: Option<String>,
    pub config: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A registered widget origin: of one workspace, or of the whole organization.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WidgetOrigin {
    pub organization_id: String,
    pub workspace_id: Option<String>,
    pub origin: String,
}

/// One audit record.
#[derive(Debug, Clone)]
pub struct Audit {
    pub organization_id: String,
    pub workspace_id: Option<String>,
    pub connector_id: Option<String>,
    pub token_kind: String,
    pub entity: String,
    pub action: String,
    pub status: String,
    pub error_code: Option<String>,
    pub latency_ms: i64,
    pub request_id: String,
}

impl Audit {
    /// Text a caller sent (an entity or action name) as an audit record keeps it: at most
    /// `max` characters, a NUL as U+FFFD. PostgreSQL's text cannot hold a NUL and refuses the
    /// statement that brings one, and with it every record of the batch: other tenants' too.
    /// SQLite could keep it; both stores keep the same record.
    pub fn caller_text(text: &str, max: usize) -> String {
        text.chars().take(max).map(storable).collect()
    }
}

/// `c` as either store keeps it in text: a NUL, which PostgreSQL's text and JSONB refuse (and
/// with it the whole statement), as U+FFFD; any other character as it is.
pub fn storable(c: char) -> char {
    if c == '\0' {
        char::REPLACEMENT_CHARACTER
    } else {
        c
    }
}

/// `text` as either store keeps it: each NUL as U+FFFD ([`storable`]); borrowed when it has none.
pub fn storable_text(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        text.chars().map(storable).collect::<String>().into()
    } else {
        text.into()
    }
}

const CONNECTOR_COLUMNS: &str = "c.id, c.organization_id, c.workspace_id, w.name AS workspace_name, c.definition_id, c.slug, c.name, \
     c.credentials_key_id, c.credentials_ct, c.credential_version, c.version, c.replication_config, c.config, c.created_at, c.updated_at";

fn connector_row(r: &AnyRow) -> Result<ConnectorRow, sqlx::Error> {
    Ok(ConnectorRow {
        id: r.try_get("id")?,
        organization_id: r.try_get("organization_id")?,
        workspace_id: r.try_get("workspace_id")?,
        workspace_name: r.try_get("workspace_name")?,
        definition_id: r.try_get("definition_id")?,
        slug: r.try_get("slug")?,
        name: r.try_get("name")?,
        credentials: Sealed { key_id: r.try_get("credentials_key_id")?, ciphertext: r.try_get("credentials_ct")? },
        credential_version: r.try_get("credential_version")?,
        version: r.try_get("version")?,
        replication_config: r.try_get("replication_config")?,
        config: r.try_get("config")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Filters for listing connectors.
#[derive(Debug, Default, Clone)]
pub struct ConnectorFilter {
    pub workspace_id: Option<String>,
    pub definition_id: Option<String>,
}

/// [`Db::audit_count_bound`]'s query. One aggregate per subquery: SQLite reads a lone MIN or MAX
/// from the end of the b-tree, but scans the table for two in one SELECT.
const AUDIT_COUNT_BOUND_SQLITE: &str =
    "SELECT (SELECT MAX(rowid) FROM audit_log) - (SELECT MIN(rowid) FROM audit_log) + 1 AS n";
const AUDIT_COUNT_BOUND_POSTGRES: &str =
    "SELECT (SELECT MAX(seq) FROM audit_log) - (SELECT MIN(seq) FROM audit_log) + 1 AS n";

/// Connections an engine opens to PostgreSQL, the one listening for changes aside.
const POSTGRES_CONNECTIONS: u32 = 16;

/// The connections of the shared PostgreSQL pool and of each serving thread's pool, for
/// `threads` serving threads: all 16 shared without them; with them, half shared (background
/// work: the audit writer, syncs, the context store) and half split between the threads, at
/// least one each (so more than 8 threads open one more connection each).
fn postgres_pool_sizes(threads: usize) -> (u32, u32) {
    match threads {
        0 => (POSTGRES_CONNECTIONS, 0),
        n => (POSTGRES_CONNECTIONS / 2, (POSTGRES_CONNECTIONS / 2 / n as u32).max(1)),
    }
}

/// The forms `--database-url` accepts, for error messages.
pub const DATABASE_URL_FORMS: &str = "postgres://..., postgresql://... or sqlite://...";

/// The databases the engine runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

/// Which database a URL names; any other scheme is a configuration error naming the accepted
/// forms (the URL itself, which may hold a password, is not repeated).
pub fn database_kind(url: &str) -> StoreResult<DbKind> {
    let lower = url.trim_start().to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        Ok(DbKind::Postgres)
    } else if lower.starts_with("sqlite:") {
        let rest = lower.trim_end().trim_start_matches("sqlite:").trim_start_matches("//");
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        // SQLite would open an empty name as a private temporary database, gone when closed.
        if path.is_empty() && !query.contains("mode=memory") {
            return Err(StoreError::NoSqliteFile);
        }
        Ok(DbKind::Sqlite)
    } else {
        let scheme = lower.split_once(':').map(|(s, _)| s).filter(|s| {
            !s.is_empty() && s.len() <= 32 && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        });
        Err(StoreError::UnsupportedUrl { scheme: scheme.map(str::to_string) })
    }
}

impl Db {
    /// Opens the database the settings name and applies migrations: `url` when given (see
    /// [`database_kind`]), else the embedded SQLite database in `data_dir` (WAL).
    pub async fn open(url: Option<&str>, data_dir: &Path) -> StoreResult<Self> {
        Self::open_serving(url, data_dir, 0).await
    }

    /// [`Db::open`] for an engine with `threads` serving threads: on PostgreSQL each of them
    /// queries through a pool of its own (see [`Db::here`]), and the connections are shared out
    /// between those pools and the shared one ([`postgres_pool_sizes`]).
    pub async fn open_serving(url: Option<&str>, data_dir: &Path, threads: usize) -> StoreResult<Self> {
        let failed = |p: &Path| {
            let path = p.display().to_string();
            move |source| StoreError::DataDir { path, source }
        };
        match url {
            Some(url) if database_kind(url)? == DbKind::Sqlite => {
                // Created if missing, and private, as the embedded database is.
                if let Some(file) = backup::sqlite_url_path(url) {
                    private_database_file(&file).map_err(failed(&file))?;
                }
                Self::connect(url, false, threads).await
            }
            Some(url) => {
                let mut db = Self::connect(url, true, threads).await?;
                if threads > 0 {
                    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
                    let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let size = postgres_pool_sizes(threads).1;
                    db.threads = Some(Arc::new(ThreadPools { id, size }));
                }
                Ok(db)
            }
            None => {
                let file = data_dir.join("switchboard.db");
                crate::crypto::create_private_dir(data_dir).map_err(failed(data_dir))?;
                private_database_file(&file).map_err(failed(&file))?;
                let url = format!("sqlite://{}?mode=rwc", file.display());
                Self::connect(&url, false, 0).await
            }
        }
    }

    async fn connect(url: &str, postgres: bool, threads: usize) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let max_connections = if postgres { postgres_pool_sizes(threads).0 } else { 8 };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if !postgres {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(|e| StoreError::Open(redact_url(&e.to_string())))?;
        let mut db = Self::with_pool(pool, postgres, max_connections, url);
        if postgres {
            db.target = Some(Target::parse(url)?);
        }
        db.migrate().await?;
        Ok(db)
    }

    /// A handle on `pool`. On SQLite, every handle on one file shares its connector cache.
    fn with_pool(pool: AnyPool, postgres: bool, max_connections: u32, url: &str) -> Self {
        let connectors = match (postgres, sqlite_file(url)) {
            (false, Some(file)) => ConnectorCache::shared(&file),
            // PostgreSQL (never enabled), or an in-memory SQLite database (its own per pool).
            _ => Arc::new(ConnectorCache::new()),
        };
        Self {
            pool,
            postgres,
            holds: Self::holds(max_connections),
            tenant_queries: Self::holds(max_connections),
            connectors,
            target: None,
            changes: Arc::new(OnceLock::new()),
            threads: None,
            audit: Arc::new(OnceLock::new()),
        }
    }

    /// The pool for a query made on this thread: on a serving thread, with PostgreSQL opened
    /// by [`Db::open_serving`], the thread's own (made on first use); the shared pool
    /// otherwise. Work that outlives the request or moves between threads (the audit writer,
    /// the context store's caches and leases, migrations) uses the shared pool.
    fn here(&self) -> AnyPool {
        let (Some(t), Some(target)) = (&self.threads, &self.target) else { return self.pool.clone() };
        SERVING
            .with(|s| {
                let mut s = s.borrow_mut();
                let ServingThread { n, pools } = s.as_mut()?;
                if let Some((_, pool)) = pools.iter().find(|(id, _)| *id == t.id) {
                    return Some(pool.clone());
                }
                let pool = AnyPoolOptions::new()
                    .max_connections(t.size)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_lazy_with(target.named(&format!("switchboard-serve-{n}")));
                pools.push((t.id, pool.clone()));
                Some(pool)
            })
            .unwrap_or_else(|| self.pool.clone())
    }

    /// Keeps connector rows in memory for `ttl` (zero: never), at most `capacity`, so an
    /// execution reads no row (see [`Db::connector`]). On PostgreSQL, where other replicas
    /// change rows too, this starts listening for changes on the current runtime, and rows are
    /// kept only while this handle hears of them (`db/listen.rs`); once per handle (its clones
    /// share it).
    pub fn enable_connector_cache(&self, ttl: Duration, capacity: usize) {
        match &self.target {
            None => self.connectors.enable(ttl, capacity),
            Some(_) if ttl.is_zero() => {}
            Some(target) => {
                let _ = self
                    .changes
                    .get_or_init(|| ChangeListener::start(target.clone(), self.connectors.clone(), ttl, capacity));
            }
        }
    }

    /// Starts the audit writer task on the current runtime: from now on [`Db::audit`] queues
    /// records and the task writes them in batches (see `db/audit.rs`). Once per database
    /// handle (its clones share it); later calls do nothing.
    pub fn start_audit_writer(&self, config: AuditConfig, metrics: Arc<Metrics>) {
        let _ = self.audit.get_or_init(|| AuditQueue::start(self.audit_writer(), config, metrics));
    }

    /// Where audit batches go: on PostgreSQL by `COPY`, through a connection of the writer's
    /// own (`switchboard-audit` in `pg_stat_activity`).
    fn audit_writer(&self) -> audit::Writer {
        // `Target::parse` made the same conversion when the database was opened.
        let copy = self
            .target
            .as_ref()
            .and_then(|t| sqlx::postgres::PgConnectOptions::try_from(&t.named("switchboard-audit")).ok());
        audit::Writer::new(self.pool.clone(), copy)
    }

    /// Waits until every audit record queued through this handle (or a clone) before the call
    /// is written: graceful shutdown, and this process's own reads of the audit log.
    pub async fn flush_audit(&self) {
        if let Some(q) = self.audit.get() {
            q.flush().await;
        }
    }

    fn holds(max_connections: u32) -> Arc<Semaphore> {
        Arc::new(Semaphore::new((max_connections as usize / 4).max(1)))
    }

    /// An idle connection of the pool, held until dropped, for a write that must happen the
    /// moment it is due without waiting for (and pinging) a pooled connection: the answer of an
    /// OAuth refresh, which is the only copy of a rotated refresh token. Never waits: `None`
    /// when no connection is idle, or when a quarter of the pool is held this way already (so
    /// slow token endpoints cannot starve requests of connections).
    pub fn hold(&self) -> Option<Held> {
        let room = self.holds.clone().try_acquire_owned().ok()?;
        // From the shared pool: a held connection may outlive the request (a refresh dropped
        // midway keeps it in its handle), so it must not pin a serving thread's small pool.
        Some(Held { conn: self.pool.try_acquire()?, _room: room })
    }

    /// The turns of tenants' context store queries on the shared pool (a quarter of it). Public
    /// for the tests that count them.
    #[doc(hidden)]
    pub fn tenant_queries(&self) -> Arc<Semaphore> {
        self.tenant_queries.clone()
    }

    /// Whether this is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.postgres
    }

    /// The pool, for the context store's leases (`context_store::lease`).
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A transaction on `conn` that, on SQLite, holds the write lock from its start (`BEGIN
    /// IMMEDIATE`, waiting under the busy timeout): what it reads stays true until it commits,
    /// and its first write cannot fail on a snapshot another commit outdated. On PostgreSQL a
    /// plain one: its callers lock the rows they depend on ([`Db::lock_row`]).
    async fn begin_writing<'c>(&self, conn: &'c mut sqlx::AnyConnection) -> Result<Transaction<'c, Any>, sqlx::Error> {
        if self.postgres {
            sqlx::Connection::begin(conn).await
        } else {
            sqlx::Connection::begin_with(conn, "BEGIN IMMEDIATE").await
        }
    }

    /// Serializes the transactions that check a bound before they write on the row `id` of
    /// `table`: on PostgreSQL it is locked `FOR NO KEY UPDATE` (rows referencing it, new
    /// workspaces or connectors, are not held up), waiting 5 s at most; on SQLite the write lock
    /// [`Db::begin_writing`] took does it already.
    async fn lock_row(&self, tx: &mut Transaction<'_, Any>, table: &str, id: &str) -> Result<(), sqlx::Error> {
        if self.postgres {
            sqlx::query("SET LOCAL lock_timeout = '5s'").execute(&mut **tx).await?;
            sqlx::query(&format!("SELECT id FROM {table} WHERE id = $1 FOR NO KEY UPDATE"))
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?;
        }
        Ok(())
    }

    async fn migrate(&self) -> StoreResult<()> {
        self.migrate_to(i64::MAX).await
    }

    /// Applies the migrations up to version `last` (tests stop early to migrate old data).
    async fn migrate_to(&self, last: i64) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await?;
        if self.postgres {
            // Replicas starting together migrate one at a time.
            conn.execute("SELECT pg_advisory_lock(7412001)").await?;
        }
        let result = async {
            conn.execute("CREATE TABLE IF NOT EXISTS switchboard_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)")
                .await?;
            for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v <= last) {
                let applied = "SELECT version FROM switchboard_migrations WHERE version = $1";
                if sqlx::query(applied).bind(*version).fetch_optional(&mut *conn).await?.is_some() {
                    continue;
                }
                // Processes opening one new SQLite file together migrate one at a time: each
                // takes the write lock first (waiting up to the busy timeout), then checks again
                // under it whether another applied the step meanwhile.
                let mut tx = self.begin_writing(&mut conn).await?;
                if sqlx::query(applied).bind(*version).fetch_optional(&mut *tx).await?.is_some() {
                    continue;
                }
                let only_postgres = POSTGRES_MIGRATIONS.iter().filter(|(v, _)| self.postgres && v == version);
                for part in std::iter::once(*sql).chain(only_postgres.map(|(_, s)| *s)) {
                    for stmt in statements(part) {
                        tx.execute(stmt).await?;
                    }
                }
                sqlx::query("INSERT INTO switchboard_migrations (version, applied_at) VALUES ($1, $2)")
                    .bind(*version)
                    .bind(now())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
            Ok::<(), sqlx::Error>(())
        }
        .await;
        if self.postgres {
            conn.execute("SELECT pg_advisory_unlock(7412001)").await?;
        }
        Ok(result?)
    }

    /// Whether storage answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").fetch_one(&self.here()).await.is_ok()
    }

    // ---- organizations and applications

    pub async fn count_organizations(&self) -> StoreResult<i64> {
        let r = sqlx::query("SELECT COUNT(*) AS n FROM organizations").fetch_one(&self.here()).await?;
        Ok(r.try_get::<i64, _>("n")?)
    }

    pub async fn create_organization(&self, name: &str) -> StoreResult<Organization> {
        let id = new_id();
        sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(&id)
            .bind(name)
            .bind(now())
            .execute(&self.here())
            .await?;
        Ok(Organization { id, name: name.to_string() })
    }

    pub async fn find_organization_by_name(&self, name: &str) -> StoreResult<Option<Organization>> {
        let r = sqlx::query("SELECT id, name FROM organizations WHERE name = $1 ORDER BY created_at LIMIT 1")
            .bind(name)
            .fetch_optional(&self.here())
            .await?;
        Ok(match r {
            Some(r) => Some(Organization { id: r.try_get("id")?, name: r.try_get("name")? }),
            None => None,
        })
    }

    pub async fn create_application(
        &self,
        organization_id: &str,
        client_id: &str,
        secret_hash: &str,
    ) -> StoreResult<Application> {
        let id = new_id();
        sqlx::query("INSERT INTO applications (id, organization_id, client_id, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&id)
            .bind(organization_id)
            .bind(client_id)
            .bind(secret_hash)
            .bind(now())
            .execute(&self.here())
            .await?;
        Ok(Application {
            id,
            organization_id: organization_id.into(),
            client_id: client_id.into(),
            secret_hash: secret_hash.into(),
        })
    }

    /// Replaces the stored secret hash of application `client_id` if it still is `old`
    /// (compare-and-swap: a concurrent change is not overwritten); whether it was replaced.
    pub async fn replace_application_secret(&self, client_id: &str, old: &str, new: &str) -> StoreResult<bool> {
        let r = sqlx::query("UPDATE applications SET secret_hash = $1 WHERE client_id = $2 AND secret_hash = $3")
            .bind(new)
            .bind(client_id)
            .bind(old)
            .execute(&self.here())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn find_application(&self, client_id: &str) -> StoreResult<Option<Application>> {
        let r =
            sqlx::query("SELECT id, organization_id, client_id, secret_hash FROM applications WHERE client_id = $1")
                .bind(client_id)
                .fetch_optional(&self.here())
                .await?;
        Ok(match r {
            Some(r) => Some(Application {
                id: r.try_get("id")?,
                organization_id: r.try_get("organization_id")?,
                client_id: r.try_get("client_id")?,
                secret_hash: r.try_get("secret_hash")?,
            }),
            None => None,
        })
    }

    // ---- workspaces

    fn workspace(r: &AnyRow) -> Result<Workspace, sqlx::Error> {
        Ok(Workspace {
            id: r.try_get("id")?,
            organization_id: r.try_get("organization_id")?,
            name: r.try_get("name")?,
            created_at: r.try_get("created_at")?,
        })
    }

    pub async fn find_workspace(&self, organization_id: &str, name: &str) -> StoreResult<Option<Workspace>> {
        let r = sqlx::query(
            "SELECT id, organization_id, name, created_at FROM workspaces WHERE organization_id = $1 AND name = $2",
        )
        .bind(organization_id)
        .bind(name)
        .fetch_optional(&self.here())
        .await?;
        Ok(r.as_ref().map(Self::workspace).transpose()?)
    }

    pub async fn get_workspace(&self, organization_id: &str, id: &str) -> StoreResult<Option<Workspace>> {
        let r = sqlx::query(
            "SELECT id, organization_id, name, created_at FROM workspaces WHERE organization_id = $1 AND id = $2",
        )
        .bind(organization_id)
        .bind(id)
        .fetch_optional(&self.here())
        .await?;
        Ok(r.as_ref().map(Self::workspace).transpose()?)
    }

    /// The workspace called `name`, created if new (safe when two requests race).
    pub async fn workspace_for(&self, organization_id: &str, name: &str) -> StoreResult<Workspace> {
        if let Some(w) = self.find_workspace(organization_id, name).await? {
            return Ok(w);
        }
        sqlx::query(
            "INSERT INTO workspaces (id, organization_id, name, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (organization_id, name) DO NOTHING",
        )
        .bind(new_id())
        .bind(organization_id)
        .bind(name)
        .bind(now())
        .execute(&self.here())
        .await?;
        self.find_workspace(organization_id, name)
            .await?
            .ok_or_else(|| StoreError::Inconsistent("workspace vanished after insert".into()))
    }

    pub async fn list_workspaces(
        &self,
        organization_id: &str,
        name_contains: Option<&str>,
    ) -> StoreResult<Vec<Workspace>> {
        let rows = sqlx::query("SELECT id, organization_id, name, created_at FROM workspaces WHERE organization_id = $1 ORDER BY created_at, name")
            .bind(organization_id)
            .fetch_all(&self.here())
            .await?;
        let needle = name_contains.map(str::to_lowercase);
        let mut out = Vec::new();
        for r in &rows {
            let w = Self::workspace(r)?;
            if needle.as_ref().is_none_or(|n| w.name.to_lowercase().contains(n)) {
                out.push(w);
            }
        }
        Ok(out)
    }

    // ---- connectors

    pub async fn insert_connector(&self, row: &ConnectorRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO connectors (id, organization_id, workspace_id, definition_id, slug, name, credentials_key_id, credentials_ct, \
             credential_version, version, replication_config, config, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&row.id)
        .bind(&row.organization_id)
        .bind(&row.workspace_id)
        .bind(&row.definition_id)
        .bind(&row.slug)
        .bind(&row.name)
        .bind(&row.credentials.key_id)
        .bind(&row.credentials.ciphertext)
        .bind(row.credential_version)
        .bind(row.version)
        .bind(&row.replication_config)
        .bind(&row.config)
        .bind(&row.created_at)
        .bind(&row.updated_at)
        .execute(&self.here())
        .await?;
        Ok(())
    }

    /// One connector of the organization (and of the workspace, when given).
    pub async fn get_connector(
        &self,
        organization_id: &str,
        workspace_id: Option<&str>,
        id: &str,
    ) -> StoreResult<Option<ConnectorRow>> {
        let sql = format!(
            "SELECT {CONNECTOR_COLUMNS} FROM connectors c JOIN workspaces w ON w.id = c.workspace_id \
             WHERE c.organization_id = $1 AND c.id = $2 AND ($3 = '' OR c.workspace_id = $3)"
        );
        let r = sqlx::query(&sql)
            .bind(organization_id)
            .bind(id)
            .bind(workspace_id.unwrap_or(""))
            .fetch_optional(&self.here())
            .await?;
        Ok(r.as_ref().map(connector_row).transpose()?)
    }

    /// [`Db::get_connector`] through the connector cache when it is on: a kept row is
    /// answered only if it belongs to the organization (and the workspace, when given), as the
    /// query's filter would; otherwise the row is read, and kept.
    pub async fn connector(
        &self,
        organization_id: &str,
        workspace_id: Option<&str>,
        id: &str,
    ) -> StoreResult<Option<Arc<ConnectorRow>>> {
        if let Some(row) = self.connectors.get(id) {
            let workspace_ok = workspace_id.filter(|w| !w.is_empty()).is_none_or(|w| row.workspace_id == w);
            return Ok((row.organization_id == organization_id && workspace_ok).then_some(row));
        }
        let generation = self.connectors.generation();
        let row = self.get_connector(organization_id, workspace_id, id).await?.map(Arc::new);
        if let (Some(row), Some(generation)) = (&row, generation) {
            self.connectors.put(row.clone(), generation);
        }
        Ok(row)
    }

    pub async fn list_connectors(&self, organization_id: &str, f: &ConnectorFilter) -> StoreResult<Vec<ConnectorRow>> {
        // One statement per combination of filters rather than `($2 = '' OR c.workspace_id = $2)`:
        // PostgreSQL cannot cache a plan for that form (its generic plan cannot use the index),
        // so it planned the query again on every call, which cost more as the table grew (about
        // 20 µs at 10 connectors, 90 µs at 100,000: benches/PROFILE.md, section 4).
        let given = |v: &Option<String>| v.as_deref().filter(|v| !v.is_empty()).map(str::to_string);
        let filters = [("c.workspace_id", given(&f.workspace_id)), ("c.definition_id", given(&f.definition_id))];
        let mut sql = format!(
            "SELECT {CONNECTOR_COLUMNS} FROM connectors c JOIN workspaces w ON w.id = c.workspace_id \
             WHERE c.organization_id = $1"
        );
        let mut values = Vec::new();
        for (column, value) in filters {
            if let Some(v) = value {
                values.push(v);
                let _ = write!(sql, " AND {column} = ${}", values.len() + 1);
            }
        }
        sql.push_str(" ORDER BY c.created_at, c.id");
        let mut query = sqlx::query(&sql).bind(organization_id);
        for v in values {
            query = query.bind(v);
        }
        let rows = query.fetch_all(&self.here()).await?;
        Ok(rows.iter().map(connector_row).collect::<Result<_, _>>()?)
    }

    /// Writes name, credentials, config and replication config of `row` if the stored row is
    /// still at `expected_version` (compare-and-swap: a change or a token refresh in between is
    /// never overwritten), and bumps the version. False when it is not (changed or deleted).
    pub async fn update_connector(&self, row: &ConnectorRow, expected_version: i64) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE connectors SET name = $1, credentials_key_id = $2, credentials_ct = $3, credential_version = $4, \
             replication_config = $5, config = $6, updated_at = $7, version = version + 1 \
             WHERE id = $8 AND organization_id = $9 AND version = $10",
        )
        .bind(&row.name)
        .bind(&row.credentials.key_id)
        .bind(&row.credentials.ciphertext)
        .bind(row.credential_version)
        .bind(&row.replication_config)
        .bind(&row.config)
        .bind(&row.updated_at)
        .bind(&row.id)
        .bind(&row.organization_id)
        .bind(expected_version)
        .execute(&self.here())
        .await;
        self.connectors.forget(&row.id);
        Ok(r?.rows_affected() == 1)
    }

    /// Replaces the credentials only if they are still at `expected_version` (compare-and-swap),
    /// bumping the connector's version too, and clears the in-flight refresh marker (see
    /// [`Db::mark_refresh_in_flight`]) in the same statement.
    pub async fn swap_credentials(&self, id: &str, expected_version: i64, sealed: &Sealed) -> StoreResult<bool> {
        self.swap_credentials_on(None, id, expected_version, sealed).await
    }

    /// [`Db::swap_credentials`] on `held` when given, else on a connection of the pool.
    pub async fn swap_credentials_on(
        &self,
        held: Option<&mut Held>,
        id: &str,
        expected_version: i64,
        sealed: &Sealed,
    ) -> StoreResult<bool> {
        let q = sqlx::query(
            "UPDATE connectors SET credentials_key_id = $1, credentials_ct = $2, credential_version = credential_version + 1, \
             version = version + 1, updated_at = $3, refresh_in_flight = NULL WHERE id = $4 AND credential_version = $5",
        )
        .bind(&sealed.key_id)
        .bind(&sealed.ciphertext)
        .bind(now())
        .bind(id)
        .bind(expected_version);
        let r = match held {
            Some(h) => q.execute(&mut *h.conn).await,
            None => q.execute(&self.here()).await,
        };
        self.connectors.forget(id);
        Ok(r?.rows_affected() == 1)
    }

    /// Marks the refresh token of credential version `version` as sent to the provider, before
    /// it is (a write-ahead record: the provider may rotate it, and a process that dies before
    /// storing the answer leaves the mark). Returns whether the mark was already there for this
    /// version: an earlier refresh of these very credentials never stored its answer. Not a
    /// change of the connector (its version stays, so no handle cache is invalidated); called
    /// under the refresh lease.
    pub async fn mark_refresh_in_flight(&self, id: &str, version: i64) -> StoreResult<bool> {
        let before = self.refresh_interrupted(id, version).await?;
        sqlx::query("UPDATE connectors SET refresh_in_flight = $1 WHERE id = $2 AND credential_version = $1")
            .bind(version)
            .bind(id)
            .execute(&self.here())
            .await?;
        Ok(before)
    }

    /// Clears the in-flight refresh mark of credential version `version` (a refresh that ended
    /// without storing tokens, in a process that lived to say so).
    pub async fn clear_refresh_in_flight(&self, id: &str, version: i64) -> StoreResult<()> {
        sqlx::query("UPDATE connectors SET refresh_in_flight = NULL WHERE id = $1 AND refresh_in_flight = $2")
            .bind(id)
            .bind(version)
            .execute(&self.here())
            .await?;
        Ok(())
    }

    /// Whether a refresh of credential version `version` (the current one, when `None`) sent its
    /// refresh token and never stored the answer.
    pub async fn refresh_interrupted(&self, id: &str, version: impl Into<Option<i64>>) -> StoreResult<bool> {
        let r = sqlx::query(
            "SELECT 1 AS one FROM connectors WHERE id = $1 AND refresh_in_flight = credential_version \
             AND ($2 < 0 OR credential_version = $2)",
        )
        .bind(id)
        .bind(version.into().unwrap_or(-1))
        .fetch_optional(&self.here())
        .await?;
        Ok(r.is_some())
    }

    /// The sealed credentials and their version.
    pub async fn credentials(&self, id: &str) -> StoreResult<Option<(Sealed, i64)>> {
        let r =
            sqlx::query("SELECT credentials_key_id, credentials_ct, credential_version FROM connectors WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.here())
                .await?;
        Ok(match r {
            Some(r) => Some((
                Sealed { key_id: r.try_get("credentials_key_id")?, ciphertext: r.try_get("credentials_ct")? },
                r.try_get("credential_version")?,
            )),
            None => None,
        })
    }

    /// Deletes a connector of the organization; true only for the one call that removed the
    /// row (of many racing, exactly one sees it go).
    pub async fn delete_connector(&self, organization_id: &str, id: &str) -> StoreResult<bool> {
        let r = sqlx::query("DELETE FROM connectors WHERE organization_id = $1 AND id = $2")
            .bind(organization_id)
            .bind(id)
            .execute(&self.here())
            .await;
        self.connectors.forget(id);
        if r?.rows_affected() != 1 {
            return Ok(false);
        }
        for table in ["refresh_locks", "context_store_schedules", "context_store_leases"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE connector_id = $1")).bind(id).execute(&self.here()).await?;
        }
        Ok(true)
    }

    // ---- refresh leases (one OAuth refresh at a time per connector, across replicas)

    /// The time leases shared by replicas are written and compared in, unix milliseconds: the
    /// database's clock on PostgreSQL (replicas on several machines need not agree on the time;
    /// one whose clock ran ahead would take the others' live leases), this machine's on SQLite
    /// (every engine on one SQLite file runs on its machine).
    pub async fn lease_clock_ms(&self) -> StoreResult<i64> {
        if !self.postgres {
            return Ok(now_ms());
        }
        let ms: i64 = sqlx::query_scalar("SELECT CAST(floor(extract(epoch from clock_timestamp()) * 1000) AS BIGINT)")
            .fetch_one(&self.pool)
            .await?;
        Ok(ms)
    }

    /// Takes the refresh lease of a connector for `owner` unless someone else holds a live one.
    pub async fn try_lease(&self, connector_id: &str, owner: &str, ttl_ms: i64) -> StoreResult<bool> {
        let now = self.lease_clock_ms().await?;
        let r = sqlx::query(
            "INSERT INTO refresh_locks (connector_id, owner, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (connector_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at \
             WHERE refresh_locks.expires_at < $4 OR refresh_locks.owner = excluded.owner",
        )
        .bind(connector_id)
        .bind(owner)
        .bind(now + ttl_ms)
        .bind(now)
        .execute(&self.here())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Releases the lease, only if `owner` holds it.
    pub async fn release_lease(&self, connector_id: &str, owner: &str) -> StoreResult<bool> {
        let r = sqlx::query("DELETE FROM refresh_locks WHERE connector_id = $1 AND owner = $2")
            .bind(connector_id)
            .bind(owner)
            .execute(&self.here())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    // ---- widget origins (CORS answers name these exact origins only)

    /// Registers `origin` for the whole organization.
    pub async fn add_widget_origin(&self, organization_id: &str, origin: &str) -> StoreResult<()> {
        self.add_widget_origin_in(organization_id, None, origin, i64::MAX).await.map(drop)
    }

    /// Registers `origin` for one workspace of the organization (`None`: the whole organization)
    /// unless it is new to the organization, which has `max` distinct origins already: whether
    /// it is registered. An origin the organization knows is added at once; a new one is
    /// counted and added in one transaction under a lock (SQLite's write lock; on PostgreSQL the
    /// organization's row), so mints racing with new origins, across replicas too, never
    /// register more than `max`.
    pub async fn add_widget_origin_in(
        &self,
        organization_id: &str,
        workspace_id: Option<&str>,
        origin: &str,
        max: i64,
    ) -> StoreResult<bool> {
        const INSERT: &str = "INSERT INTO widget_origins (organization_id, workspace_id, origin, created_at) \
                              VALUES ($1, $2, $3, $4) ON CONFLICT (organization_id, workspace_id, origin) DO NOTHING";
        let insert =
            || sqlx::query(INSERT).bind(organization_id).bind(workspace_id.unwrap_or("")).bind(origin).bind(now());
        if self.widget_origin_known(organization_id, origin).await? {
            insert().execute(&self.here()).await?;
            return Ok(true);
        }
        let mut conn = self.here().acquire().await?;
        let mut tx = self.begin_writing(&mut conn).await?;
        self.lock_row(&mut tx, "organizations", organization_id).await?;
        // Counted under the lock; an origin registered meanwhile is in the count already.
        let (registered, known): (i64, i64) = {
            let row = sqlx::query(
                "SELECT COUNT(DISTINCT origin) AS registered, \
                 COUNT(CASE WHEN origin = $2 THEN 1 END) AS known \
                 FROM widget_origins WHERE organization_id = $1",
            )
            .bind(organization_id)
            .bind(origin)
            .fetch_one(&mut *tx)
            .await?;
            (row.try_get("registered")?, row.try_get("known")?)
        };
        if known == 0 && registered >= max {
            return Ok(false);
        }
        insert().execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Whether the organization has registered `origin`, for any workspace.
    pub async fn widget_origin_known(&self, organization_id: &str, origin: &str) -> StoreResult<bool> {
        let known: Option<String> =
            sqlx::query_scalar("SELECT origin FROM widget_origins WHERE organization_id = $1 AND origin = $2 LIMIT 1")
                .bind(organization_id)
                .bind(origin)
                .fetch_optional(&self.here())
                .await?;
        Ok(known.is_some())
    }

    /// Every registered widget origin, of every organization.
    pub async fn widget_origins(&self) -> StoreResult<Vec<WidgetOrigin>> {
        let rows = sqlx::query("SELECT organization_id, workspace_id, origin FROM widget_origins")
            .fetch_all(&self.here())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let workspace_id: String = r.try_get("workspace_id")?;
            out.push(WidgetOrigin {
                organization_id: r.try_get("organization_id")?,
                workspace_id: (!workspace_id.is_empty()).then_some(workspace_id),
                origin: r.try_get("origin")?,
            });
        }
        Ok(out)
    }

    // ---- signing keys

    pub async fn signing_keys(&self) -> StoreResult<Vec<(String, Sealed, String)>> {
        let rows =
            sqlx::query("SELECT kid, secret_key_id, secret_ct, created_at FROM signing_keys ORDER BY created_at, kid")
                .fetch_all(&self.here())
                .await?;
        let mut out = Vec::new();
        for r in rows {
            out.push((
                r.try_get("kid")?,
                Sealed { key_id: r.try_get("secret_key_id")?, ciphertext: r.try_get("secret_ct")? },
                r.try_get("created_at")?,
            ));
        }
        Ok(out)
    }

    /// Stores a new signing key and, with `retire_others`, deletes every other key, in one
    /// transaction (on SQLite under the write lock): two rotations at once never delete each
    /// other's keys, leaving none. Answers how many keys were deleted.
    pub async fn add_signing_key(&self, kid: &str, sealed: &Sealed, retire_others: bool) -> StoreResult<u64> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = self.begin_writing(&mut conn).await?;
        sqlx::query("INSERT INTO signing_keys (kid, secret_key_id, secret_ct, created_at) VALUES ($1, $2, $3, $4)")
            .bind(kid)
            .bind(&sealed.key_id)
            .bind(&sealed.ciphertext)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        let retired = if retire_others {
            sqlx::query("DELETE FROM signing_keys WHERE kid <> $1").bind(kid).execute(&mut *tx).await?.rows_affected()
        } else {
            0
        };
        tx.commit().await?;
        Ok(retired)
    }

    // ---- server keys (sealed under the master key, by name)

    /// The sealed server key called `name`.
    pub async fn server_key(&self, name: &str) -> StoreResult<Option<Sealed>> {
        let r = sqlx::query("SELECT secret_key_id, secret_ct FROM server_keys WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.here())
            .await?;
        Ok(match r {
            Some(r) => Some(Sealed { key_id: r.try_get("secret_key_id")?, ciphertext: r.try_get("secret_ct")? }),
            None => None,
        })
    }

    /// Stores the server key `name` unless there is one (of replicas starting together, the
    /// first wins); read it back with [`Db::server_key`].
    pub async fn insert_server_key(&self, name: &str, sealed: &Sealed) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO server_keys (name, secret_key_id, secret_ct, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(&sealed.key_id)
        .bind(&sealed.ciphertext)
        .bind(now())
        .execute(&self.here())
        .await?;
        Ok(())
    }

    // ---- key rotation

    /// Every sealed record: (table, id, sealed).
    pub async fn sealed_records(&self) -> StoreResult<Vec<(&'static str, String, Sealed)>> {
        let mut out = Vec::new();
        for (table, sql) in SEALED_RECORDS {
            for r in sqlx::query(sql).fetch_all(&self.here()).await? {
                out.push((
                    *table,
                    r.try_get("id")?,
                    Sealed { key_id: r.try_get("key_id")?, ciphertext: r.try_get("ct")? },
                ));
            }
        }
        Ok(out)
    }

    /// Rewrites one sealed record if it still holds `old` (so a concurrent update is not lost).
    pub async fn reseal(&self, table: &str, id: &str, old: &Sealed, new: &Sealed) -> StoreResult<bool> {
        let sql = match table {
            "connectors" => "UPDATE connectors SET credentials_key_id = $1, credentials_ct = $2 WHERE id = $3 AND credentials_ct = $4",
            "signing_keys" => "UPDATE signing_keys SET secret_key_id = $1, secret_ct = $2 WHERE kid = $3 AND secret_ct = $4",
            "server_keys" => "UPDATE server_keys SET secret_key_id = $1, secret_ct = $2 WHERE name = $3 AND secret_ct = $4",
            other => match oauth::reseal_sql(other) {
                Some(sql) => sql,
                None => return Err(StoreError::Inconsistent(format!("unknown sealed table {table}"))),
            },
        };
        let r = sqlx::query(sql)
            .bind(&new.key_id)
            .bind(&new.ciphertext)
            .bind(id)
            .bind(&old.ciphertext)
            .execute(&self.here())
            .await;
        if table == "connectors" {
            self.connectors.forget(id);
        }
        Ok(r?.rows_affected() == 1)
    }

    // ---- audit

    /// Records `a`, dated now: queued for the writer task when one runs (see
    /// [`Db::start_audit_writer`]; waits up to its `enqueue_wait` for room in a full queue, then
    /// drops the record, counted and logged), else written before returning.
    pub async fn audit(&self, a: Audit) -> StoreResult<AuditOutcome> {
        let at = now();
        let a = match self.audit.get() {
            Some(q) => match q.push(a, at.clone()).await {
                Ok(outcome) => return Ok(outcome),
                // The writer is gone (the runtime is stopping): written here instead.
                Err(Some(a)) => a,
                Err(None) => return Ok(AuditOutcome::Dropped),
            },
            None => a,
        };
        self.audit_at(&a, &at).await?;
        Ok(AuditOutcome::Written)
    }

    /// Writes an audit record dated `created_at` (RFC 3339; tests date records in the past).
    pub async fn audit_at(&self, a: &Audit, created_at: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_log (id, organization_id, workspace_id, connector_id, token_kind, entity, action, status, error_code, \
             latency_ms, request_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(new_audit_id())
        .bind(&a.organization_id)
        .bind(&a.workspace_id)
        .bind(&a.connector_id)
        .bind(&a.token_kind)
        .bind(&a.entity)
        .bind(&a.action)
        .bind(&a.status)
        .bind(&a.error_code)
        .bind(a.latency_ms)
        .bind(&a.request_id)
        .bind(created_at)
        .execute(&self.here())
        .await?;
        Ok(())
    }

    /// How many audit records there are, of every organization, counted (it reads every
    /// record: for tests and operators; the pruner uses [`Db::audit_count_bound`]).
    pub async fn audit_count(&self) -> StoreResult<i64> {
        self.flush_audit().await;
        let r = sqlx::query("SELECT COUNT(*) AS n FROM audit_log").fetch_one(&self.here()).await?;
        Ok(r.try_get::<i64, _>("n")?)
    }

    /// At least as many as there are audit records, read from the two ends of their insertion
    /// order (SQLite's rowid, PostgreSQL's `seq`): two index lookups, however large the table,
    /// so a pruning pass neither reads the table nor fills the page caches with it. Exact
    /// while records go oldest first (as the pruner deletes them); an insert that failed, or a
    /// record older by its date than one inserted before it, leaves a gap counted as a record.
    pub async fn audit_count_bound(&self) -> StoreResult<i64> {
        let sql = if self.postgres { AUDIT_COUNT_BOUND_POSTGRES } else { AUDIT_COUNT_BOUND_SQLITE };
        let r = sqlx::query(sql).fetch_one(&self.here()).await?;
        Ok(r.try_get::<Option<i64>, _>("n")?.unwrap_or(0))
    }

    /// Deletes at most `limit` of the oldest audit records, only those dated before `before`
    /// (RFC 3339) when given; returns how many went. One short statement, so a pruner calling
    /// it in a loop never holds the database for long.
    pub async fn delete_oldest_audit(&self, before: Option<&str>, limit: i64) -> StoreResult<u64> {
        // Two statements rather than one `($1 = '' OR created_at < $1)`: that form defeats the
        // `created_at` index and reads the whole table on every pass.
        let r = match before {
            Some(before) => {
                sqlx::query(
                    "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE created_at < $1 \
                     ORDER BY created_at LIMIT $2)",
                )
                .bind(before)
                .bind(limit.max(0))
                .execute(&self.here())
                .await?
            }
            None => {
                sqlx::query("DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log ORDER BY created_at LIMIT $1)")
                    .bind(limit.max(0))
                    .execute(&self.here())
                    .await?
            }
        };
        Ok(r.rows_affected())
    }

    /// Audit records of an organization, newest first (for tests and operators).
    pub async fn audit_records(
        &self,
        organization_id: &str,
    ) -> StoreResult<Vec<(String, String, String, Option<String>)>> {
        self.flush_audit().await;
        let rows = sqlx::query("SELECT entity, action, status, error_code FROM audit_log WHERE organization_id = $1 ORDER BY created_at DESC")
            .bind(organization_id)
            .fetch_all(&self.here())
            .await?;
        let mut out = Vec::new();
        for r in rows {
            out.push((r.try_get("entity")?, r.try_get("action")?, r.try_get("status")?, r.try_get("error_code")?));
        }
        Ok(out)
    }
}

/// Creates a SQLite database file empty with mode 0600 (SQLite gives the `-wal` and `-shm`
/// files it makes later the mode of the database file), and narrows an existing one, and its
/// `-wal` and `-shm`, to 0600.
fn private_database_file(path: &Path) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        opts.mode(0o600);
        opts.open(path)?;
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            match std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    #[cfg(not(unix))]
    opts.open(path)?;
    Ok(())
}

/// The file a `sqlite:` URL names (its path, without the query), made absolute when it exists:
/// the key of the connector cache every handle on that file shares. `None` for an in-memory
/// database.
fn sqlite_file(url: &str) -> Option<String> {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    if path.is_empty() || path == ":memory:" || query.contains("mode=memory") {
        return None;
    }
    Some(std::fs::canonicalize(path).map(|p| p.display().to_string()).unwrap_or_else(|_| path.to_string()))
}

/// Hides a password in a database URL inside an error text.
fn redact_url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_inclusive(char::is_whitespace) {
        match (word.find("://"), word.find('@')) {
            (Some(s), Some(at)) if at > s => {
                out.push_str(&word[..s + 3]);
                out.push_str("****");
                out.push_str(&word[at..]);
            }
            _ => out.push_str(word),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The migration's text is fixed once applied, so the channel is written there as a literal.
    #[test]
    fn the_trigger_announces_on_the_channel_the_listener_listens_on() {
        let (_, sql) = POSTGRES_MIGRATIONS.iter().find(|(v, _)| *v == 8).unwrap_or_else(|| panic!("step 8"));
        assert_eq!(sql.matches("pg_notify(").count(), 2);
        assert_eq!(sql.matches(&format!("pg_notify('{}', ", listen::CHANNEL)).count(), 2);
    }

    #[test]
    fn each_kind_of_connection_names_itself_in_place_of_the_urls_name() {
        let target = Target::parse("postgres://u:p%40ss@127.0.0.1:5432/db?sslmode=disable&application_name=mine")
            .unwrap_or_else(|e| panic!("{e:?}"));
        let named = target.named("switchboard-serve-0");
        assert_eq!(
            named.database_url.query(),
            Some("sslmode=disable&application_name=switchboard-serve-0"),
            "other parameters kept, the name replaced"
        );
        let pg = sqlx::postgres::PgConnectOptions::try_from(&named).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pg.get_application_name(), Some("switchboard-serve-0"));
        assert_eq!((pg.get_host(), pg.get_port(), pg.get_database()), ("127.0.0.1", 5432, Some("db")));
        assert_eq!(target.named("x").database_url.password(), Some("p%40ss"), "the password as written");
        assert_eq!(format!("{target:?}"), "Target(****)", "no password in debug output");
        assert!(Target::parse("postgres://127.0.0.1/db?sslmode=sometimes").is_err(), "refused when opened");
    }

    #[test]
    fn a_migration_splits_at_semicolons_outside_dollar_quoted_bodies() {
        let sql = "CREATE TABLE a (x INT);\nCREATE FUNCTION f() RETURNS trigger AS $$\nBEGIN\n  PERFORM 1;\n  RETURN NULL;\nEND\n$$;\n ; CREATE TRIGGER t";
        let got: Vec<&str> = statements(sql).collect();
        assert_eq!(
            got,
            [
                "CREATE TABLE a (x INT)",
                "CREATE FUNCTION f() RETURNS trigger AS $$\nBEGIN\n  PERFORM 1;\n  RETURN NULL;\nEND\n$$",
                "CREATE TRIGGER t",
            ]
        );
        assert_eq!(statements("").count(), 0);
    }

    fn record(entity: &str) -> Audit {
        Audit {
            organization_id: "o".into(),
            workspace_id: None,
            connector_id: None,
            token_kind: "application".into(),
            entity: entity.into(),
            action: "list".into(),
            status: "success".into(),
            error_code: None,
            latency_ms: 1,
            request_id: "r".into(),
        }
    }

    /// A batch is written when `max_batch` records wait, long before its interval; fewer wait
    /// for the interval (or a flush), and the records that follow the first do not each wake
    /// the writer.
    #[tokio::test]
    async fn a_full_audit_batch_is_written_before_its_interval() {
        let dir = std::env::temp_dir().join(format!("sb-audit-batch-{}", uuid::Uuid::new_v4()));
        let db = Db::open(None, &dir).await.unwrap_or_else(|e| panic!("{e}"));
        let config = AuditConfig {
            flush_interval: std::time::Duration::from_secs(3600),
            capacity: 100,
            enqueue_wait: std::time::Duration::from_millis(100),
            max_batch: 4,
        };
        db.start_audit_writer(config, Arc::new(crate::metrics::Metrics::default()));
        let written = || async { db.audit_count_bound().await.unwrap_or_else(|e| panic!("{e}")) };
        for i in 0..3 {
            assert_eq!(db.audit(record(&format!("e{i}"))).await.ok(), Some(AuditOutcome::Queued));
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(written().await, 0, "three of a batch of four wait for the interval");
        db.audit(record("e3")).await.unwrap_or_else(|e| panic!("{e}"));
        let started = std::time::Instant::now();
        while written().await < 4 && started.elapsed() < std::time::Duration::from_secs(10) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(written().await, 4, "a full batch is written at once, not after the hour");
        db.audit(record("e4")).await.unwrap_or_else(|e| panic!("{e}"));
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(written().await, 4);
        assert_eq!(db.audit_count().await.unwrap_or_else(|e| panic!("{e}")), 5, "a flush writes the rest");
    }

    /// Audit records' ids sort in the order the engine wrote them, through the writer's batches
    /// and through the direct path alike, so each insert appends to the end of the id's index
    /// (random ids put every record of a batch on its own page of it: `new_audit_id`).
    #[tokio::test]
    async fn audit_ids_sort_in_the_order_written() {
        let dir = std::env::temp_dir().join(format!("sb-audit-order-{}", uuid::Uuid::new_v4()));
        let db = Db::open(None, &dir).await.unwrap_or_else(|e| panic!("{e}"));
        let at = |i: usize| format!("2026-12-05T00:00:{:02}.{i:06}Z", i % 60);
        // Records dated out of order: the ids must follow the writing, not `created_at`.
        for i in 0..20 {
            db.audit_at(&record(&format!("e{i:04}")), &at(20 - i)).await.unwrap_or_else(|e| panic!("{e}"));
        }
        let config = AuditConfig {
            flush_interval: std::time::Duration::from_millis(5),
            capacity: 1_000,
            enqueue_wait: std::time::Duration::from_millis(100),
            max_batch: 64,
        };
        db.start_audit_writer(config, Arc::new(crate::metrics::Metrics::default()));
        for i in 20..400 {
            db.audit(record(&format!("e{i:04}"))).await.unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(db.audit_count().await.unwrap_or_else(|e| panic!("{e}")), 400);
        let rows = sqlx::query("SELECT id, entity FROM audit_log ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let entities: Vec<String> = rows.iter().map(|r| r.try_get("entity").unwrap_or_default()).collect();
        let expected: Vec<String> = (0..400).map(|i| format!("e{i:04}")).collect();
        assert_eq!(entities, expected, "audit ids in the order the records were written");
        let ids: std::collections::HashSet<String> = rows.iter().map(|r| r.try_get("id").unwrap_or_default()).collect();
        assert_eq!(ids.len(), 400, "every id distinct");
    }

    /// A batch written again after an attempt that failed, but may have been stored (its
    /// commit's answer lost), stores each record once, on either store; every field arrives as
    /// written, a missing one as NULL. On PostgreSQL the batch goes in by `COPY`, which has no
    /// `ON CONFLICT`: written again as a first attempt, the same records are refused.
    #[tokio::test]
    async fn an_audit_batch_written_again_stores_each_record_once() {
        let dir = std::env::temp_dir().join(format!("sb-audit-again-{}", uuid::Uuid::new_v4()));
        for (url, postgres) in databases(&dir, "sb_audit_again").await {
            let db = Db::open(Some(&url), &dir).await.unwrap_or_else(|e| panic!("{e}"));
            let writer = db.audit_writer();
            let odd = Audit {
                workspace_id: Some("w\\N\tx".into()),
                error_code: Some("validation".into()),
                latency_ms: -7,
                request_id: "line\nbreak\r\\".into(),
                ..record("e\u{1}\u{7f}é")
            };
            let at = "2026-12-07T00:00:00.000000Z".to_string();
            let batch: Vec<(String, Audit, String)> = std::iter::once(odd)
                .chain((1..100).map(|i| record(&format!("e{i:03}"))))
                .map(|a| (new_audit_id(), a, at.clone()))
                .collect();
            audit::insert(&writer, &batch[..60], false).await.unwrap_or_else(|e| panic!("{url}: {e}"));
            audit::insert(&writer, &batch, true).await.unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(db.audit_count().await.unwrap_or_else(|e| panic!("{e}")), 100, "{url}");
            let first = sqlx::query(
                "SELECT workspace_id, connector_id, entity, error_code, latency_ms, request_id FROM audit_log WHERE id = $1",
            )
            .bind(&batch[0].0)
            .fetch_one(&db.pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
            let text = |c: &str| first.try_get::<Option<String>, _>(c).unwrap_or_else(|e| panic!("{c}: {e}"));
            assert_eq!(text("workspace_id").as_deref(), Some("w\\N\tx"), "{url}");
            assert_eq!(text("connector_id"), None, "{url}");
            assert_eq!(text("entity").as_deref(), Some("e\u{1}\u{7f}é"), "{url}");
            assert_eq!(text("error_code").as_deref(), Some("validation"), "{url}");
            assert_eq!(text("request_id").as_deref(), Some("line\nbreak\r\\"), "{url}");
            assert_eq!(first.try_get::<i64, _>("latency_ms").unwrap_or_default(), -7, "{url}");
            let repeated = audit::insert(&writer, &batch[..1], false).await;
            assert_eq!(repeated.is_err(), postgres, "{url}: {repeated:?}");
            db.pool.close().await;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The pruner's count of audit records reads two ends of an index, never the table (a
    /// `COUNT(*)` scans it and, as it grows, fills every connection's page cache: the engine's
    /// memory grew with its audit log), and is exact while records go oldest first.
    #[tokio::test]
    async fn the_audit_count_bound_reads_no_table() {
        let dir = std::env::temp_dir().join(format!("sb-audit-bound-{}", uuid::Uuid::new_v4()));
        let db = Db::open(None, &dir).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(db.audit_count_bound().await.unwrap_or_else(|e| panic!("{e}")), 0);
        let plan = |sql: &'static str| {
            let pool = db.pool.clone();
            async move {
                let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .fetch_all(&pool)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                rows.iter().map(|r| r.try_get::<String, _>("detail").unwrap_or_default()).collect::<Vec<_>>()
            }
        };
        let bound = plan(AUDIT_COUNT_BOUND_SQLITE).await;
        assert!(bound.iter().all(|step| !step.starts_with("SCAN audit_log")), "{bound:?}");
        let count = plan("SELECT COUNT(*) AS n FROM audit_log").await;
        assert!(count.iter().any(|step| step.starts_with("SCAN audit_log")), "the control scans: {count:?}");

        for i in 0..30 {
            let at = format!("2026-01-01T00:00:{i:02}Z");
            db.audit_at(&record(&format!("r{i}")), &at).await.unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(db.delete_oldest_audit(None, 12).await.unwrap_or_else(|e| panic!("{e}")), 12);
        let exact = db.audit_count().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((exact, db.audit_count_bound().await.unwrap_or_else(|e| panic!("{e}"))), (18, 18));
        db.pool.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A fresh SQLite file under `dir` and, when the test script started PostgreSQL, a fresh
    /// database there (under `CI` it must have): `(url, is_postgres)`.
    async fn databases(dir: &Path, prefix: &str) -> Vec<(String, bool)> {
        let _ = std::fs::create_dir_all(dir);
        let mut urls = vec![(format!("sqlite://{}?mode=rwc", dir.join("test.db").display()), false)];
        match std::env::var("SWITCHBOARD_TEST_DATABASE_URL") {
            Ok(admin) => {
                sqlx::any::install_default_drivers();
                let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
                let pool = AnyPool::connect(&admin).await.unwrap_or_else(|e| panic!("{e}"));
                pool.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap_or_else(|e| panic!("{e}"));
                let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin.clone());
                urls.push((format!("{base}/{name}"), true));
            }
            Err(_) if std::env::var_os("CI").is_some() => panic!("SWITCHBOARD_TEST_DATABASE_URL must be set in CI"),
            Err(_) => eprintln!("the PostgreSQL half is left out: SWITCHBOARD_TEST_DATABASE_URL is not set"),
        }
        urls
    }

    /// The connector listing's filters (workspace, definition id, both, neither; an empty one
    /// is none) on SQLite and PostgreSQL; on PostgreSQL the filtered listing is planned once and
    /// then served from the cached generic plan (a `($2 = '' OR ...)` form is planned again on
    /// every call: its generic plan cannot use the index on 2,000 rows).
    #[tokio::test]
    async fn the_connector_listing_filters_and_keeps_its_plan() {
        let dir = std::env::temp_dir().join(format!("sb-list-{}", uuid::Uuid::new_v4()));
        for (url, postgres) in databases(&dir, "sb_list").await {
            sqlx::any::install_default_drivers();
            // One connection: PostgreSQL's prepared statements (and their plans) are per session.
            let pool = AnyPoolOptions::new().max_connections(1).connect(&url).await.unwrap_or_else(|e| panic!("{e}"));
            let db = Db::with_pool(pool, postgres, 1, &url);
            db.migrate().await.unwrap_or_else(|e| panic!("{url}: {e}"));
            let a = db.create_organization("a").await.unwrap_or_else(|e| panic!("{e}"));
            let b = db.create_organization("b").await.unwrap_or_else(|e| panic!("{e}"));
            let a1 = db.workspace_for(&a.id, "w1").await.unwrap_or_else(|e| panic!("{e}"));
            let a2 = db.workspace_for(&a.id, "w2").await.unwrap_or_else(|e| panic!("{e}"));
            let b1 = db.workspace_for(&b.id, "w1").await.unwrap_or_else(|e| panic!("{e}"));
            let insert = |id: &'static str, org: String, ws: String, def: &'static str, at: &'static str| {
                let pool = db.pool.clone();
                async move {
                    sqlx::query(
                        "INSERT INTO connectors (id, organization_id, workspace_id, definition_id, slug, name, \
                         credentials_key_id, credentials_ct, credential_version, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, 'github', $1, 'k', 'ct', 1, $5, $5)",
                    )
                    .bind(id)
                    .bind(org)
                    .bind(ws)
                    .bind(def)
                    .bind(at)
                    .execute(&pool)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                }
            };
            insert("c3", a.id.clone(), a2.id.clone(), "d1", "2026-01-01T00:00:03Z").await;
            insert("c1", a.id.clone(), a1.id.clone(), "d1", "2026-01-01T00:00:01Z").await;
            insert("c2", a.id.clone(), a1.id.clone(), "d2", "2026-01-01T00:00:02Z").await;
            insert("x1", b.id.clone(), b1.id.clone(), "d1", "2026-01-01T00:00:00Z").await;
            let list = |org: String, ws: Option<&str>, def: Option<&str>| {
                let filter =
                    ConnectorFilter { workspace_id: ws.map(str::to_string), definition_id: def.map(str::to_string) };
                let db = &db;
                async move {
                    let rows = db.list_connectors(&org, &filter).await.unwrap_or_else(|e| panic!("{e}"));
                    rows.into_iter().map(|r| r.id).collect::<Vec<_>>()
                }
            };
            assert_eq!(list(a.id.clone(), None, None).await, ["c1", "c2", "c3"], "{url}");
            assert_eq!(list(a.id.clone(), Some(""), Some("")).await, ["c1", "c2", "c3"], "{url}: empty is no filter");
            assert_eq!(list(a.id.clone(), Some(&a1.id), None).await, ["c1", "c2"], "{url}");
            assert_eq!(list(a.id.clone(), None, Some("d1")).await, ["c1", "c3"], "{url}");
            assert_eq!(list(a.id.clone(), Some(&a1.id), Some("d1")).await, ["c1"], "{url}");
            assert!(list(b.id.clone(), Some(&a1.id), None).await.is_empty(), "{url}: another organization's workspace");
            assert_eq!(list(b.id.clone(), None, Some("d1")).await, ["x1"], "{url}");

            if postgres {
                db.pool
                    .execute(
                        "INSERT INTO organizations SELECT 'o' || i, 'o' || i, '2026-01-01T00:00:00Z' FROM generate_series(1, 200) i; \
                         INSERT INTO workspaces SELECT 'w' || i, 'o' || (i % 200 + 1), 'w' || i, '2026-01-01T00:00:00Z' \
                         FROM generate_series(1, 2000) i; \
                         INSERT INTO connectors (id, organization_id, workspace_id, definition_id, slug, name, credentials_key_id, \
                         credentials_ct, credential_version, created_at, updated_at) SELECT 'g' || i, 'o' || (i % 200 + 1), \
                         'w' || i, 'd1', 'github', 'g', 'k', 'ct', 1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z' \
                         FROM generate_series(1, 2000) i; ANALYZE",
                    )
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                for _ in 0..12 {
                    assert_eq!(list(a.id.clone(), Some(&a1.id), None).await, ["c1", "c2"]);
                }
                let plans = sqlx::query(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements \
                     WHERE statement LIKE '%FROM connectors c JOIN workspaces%' AND statement LIKE '%c.workspace_id = $2%'",
                )
                .fetch_all(&db.pool)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
                let plans: Vec<(i64, i64)> = plans
                    .iter()
                    .map(|r| (r.try_get(0).unwrap_or_default(), r.try_get(1).unwrap_or_default()))
                    .collect();
                assert!(
                    plans.iter().any(|(generic, _)| *generic >= 5),
                    "the workspace listing is planned again on every call: {plans:?}"
                );
            }
            db.pool.close().await;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A database at schema version 1 with data in it, then migrated: on SQLite, and on
    /// PostgreSQL (which CI always starts).
    #[tokio::test]
    async fn version_2_keeps_the_data_of_version_1() {
        let dir = std::env::temp_dir().join(format!("sb-migrate-{}", uuid::Uuid::new_v4()));
        for (url, postgres) in databases(&dir, "sb_migrate").await {
            sqlx::any::install_default_drivers();
            let pool = AnyPool::connect(&url).await.unwrap_or_else(|e| panic!("{e}"));
            let db = Db::with_pool(pool, postgres, 1, &url);
            db.migrate_to(1).await.unwrap_or_else(|e| panic!("{e}"));
            let org = db.create_organization("o").await.unwrap_or_else(|e| panic!("{e}"));
            let ws = db.workspace_for(&org.id, "w").await.unwrap_or_else(|e| panic!("{e}"));
            sqlx::query("INSERT INTO widget_origins (organization_id, origin, created_at) VALUES ($1, $2, $3)")
                .bind(&org.id)
                .bind("https://old.example")
                .bind(now())
                .execute(&db.pool)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            sqlx::query(
                "INSERT INTO connectors (id, organization_id, workspace_id, definition_id, slug, name, credentials_key_id, \
                 credentials_ct, credential_version, created_at, updated_at) VALUES ($1, $2, $3, 'd', 'github', 'gh', 'k', 'ct', 4, $4, $4)",
            )
            .bind("c1")
            .bind(&org.id)
            .bind(&ws.id)
            .bind(now())
            .execute(&db.pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));

            db.migrate().await.unwrap_or_else(|e| panic!("{url}: {e}"));
            let old = WidgetOrigin {
                organization_id: org.id.clone(),
                workspace_id: None,
                origin: "https://old.example".into(),
            };
            assert_eq!(db.widget_origins().await.unwrap_or_else(|e| panic!("{e}")), vec![old.clone()]);
            db.add_widget_origin_in(&org.id, Some(&ws.id), "https://old.example", i64::MAX)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            db.add_widget_origin(&org.id, "https://old.example").await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(db.widget_origins().await.unwrap_or_else(|e| panic!("{e}")).len(), 2, "one per workspace");
            let c = db.get_connector(&org.id, None, "c1").await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(c.map(|c| (c.version, c.credential_version)), Some((1, 4)));
            db.pool.close().await;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
