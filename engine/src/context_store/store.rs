//! The cache files: one SQLite file per workspace, `<data_dir>/context-store/<key>.sqlite3`
//! (the key a hash of the organization and workspace ids, so no id reaches a path), created
//! 0600 in a 0700 directory. Inside, one table per connector entity (`c_<connector>_<entity>`:
//! `id`, `record` as SQLite JSONB (parsed once, at write), `synced_at`, `generation`) and `sync_state`, one row per connector
//! entity (status, checkpoint, counts, last error, times).

use std::fs::OpenOptions;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OpenFlags};
use sha2::{Digest, Sha256};
use switchboard_core::store_filter::{text_match, TEXT_MATCH_FUNCTION};

/// The key of workspace `workspace` of organization `org`: a hash of the ids (32 hex digits),
/// naming its cache file (and its schema on PostgreSQL), so no id reaches a path or a name.
pub fn workspace_key(org: &str, workspace: &str) -> String {
    let mut h = Sha256::new();
    h.update(org.as_bytes());
    h.update([0u8]);
    h.update(workspace.as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// The file of workspace `workspace` of organization `org`.
pub fn workspace_file(data_dir: &Path, org: &str, workspace: &str) -> PathBuf {
    let key = workspace_key(org, workspace);
    data_dir.join("context-store").join(format!("{key}.sqlite3"))
}

/// Whether `entity` may name a table: ASCII letters, digits and `_`, 1 to 64 characters.
pub fn valid_entity(entity: &str) -> bool {
    !entity.is_empty() && entity.len() <= 64 && entity.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The table of `entity` of connector `connector_id` (a UUID; `entity` passed [`valid_entity`]).
pub fn table_name(connector_id: &str, entity: &str) -> String {
    let id: String = connector_id.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    format!("c_{id}_{entity}")
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS sync_state (
    connector_id TEXT NOT NULL,
    entity TEXT NOT NULL,
    status TEXT NOT NULL,
    generation INTEGER NOT NULL,
    checkpoint TEXT,
    pages INTEGER NOT NULL DEFAULT 0,
    records_synced INTEGER NOT NULL DEFAULT 0,
    record_count INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    started_at TEXT,
    finished_at TEXT,
    updated_at TEXT,
    -- Whose connector: for resuming interrupted syncs when the engine starts.
    organization_id TEXT,
    workspace_id TEXT,
    PRIMARY KEY (connector_id, entity)
)";

/// Opens (creating if needed) the file at `path` for writing: WAL, a busy timeout, the schema.
pub fn open_rw(path: &Path) -> rusqlite::Result<Connection> {
    if let Some(dir) = path.parent() {
        let _ = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir);
    }
    if !path.exists() {
        // Created 0600 before SQLite opens it; SQLite gives its -wal and -shm files the same mode.
        let _ = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path);
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(SCHEMA)?;
    add_sync_state_columns(&conn)?;
    Ok(conn)
}

/// Columns `sync_state` gained after the first increment, each `(name, type)`: added to a file
/// made before them by [`add_sync_state_columns`].
///
/// - `mode`: the current (or last) sync's, `full` or `incremental`.
/// - `high_water`: the latest update time (unix ms) of the records synced so far, read from
///   the field the list's `x-incremental` names.
/// - `last_full_at`: when the last full sync finished (RFC 3339).
/// - `full_every_seconds`: how old the last full sync may be before an `auto` sync is full.
pub const SYNC_STATE_COLUMNS: [(&str, &str); 4] =
    [("mode", "TEXT"), ("high_water", "INTEGER"), ("last_full_at", "TEXT"), ("full_every_seconds", "INTEGER")];

/// The names of `sync_state`'s columns.
fn sync_state_column_names(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('sync_state')")?;
    let names = stmt.query_map([], |r| r.get::<_, String>(0))?;
    names.collect()
}

/// The [`SYNC_STATE_COLUMNS`] as a select list, `NULL AS <name>` for those a file made before
/// them lacks (a read-only connection cannot add them).
pub fn sync_state_columns_select(conn: &Connection) -> rusqlite::Result<String> {
    let have = sync_state_column_names(conn)?;
    let cols: Vec<String> = SYNC_STATE_COLUMNS
        .iter()
        .map(|(name, _)| if have.iter().any(|h| h == name) { name.to_string() } else { format!("NULL AS {name}") })
        .collect();
    Ok(cols.join(", "))
}

/// Adds the [`SYNC_STATE_COLUMNS`] `sync_state` lacks (SQLite has no `ADD COLUMN IF NOT
/// EXISTS`): run at every open for writing, a no-op once they are there.
pub fn add_sync_state_columns(conn: &Connection) -> rusqlite::Result<()> {
    let have = sync_state_column_names(conn)?;
    for (name, ty) in SYNC_STATE_COLUMNS {
        if !have.iter().any(|h| h == name) {
            match conn.execute_batch(&format!("ALTER TABLE sync_state ADD COLUMN {name} {ty}")) {
                // Another connection added it since the look.
                Err(e) if e.to_string().contains("duplicate column name") => {}
                r => r?,
            }
        }
    }
    Ok(())
}

/// Opens the file at `path` read-only (it must exist), with the text-match function.
pub fn open_ro(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    register_functions(&conn)?;
    Ok(conn)
}

/// Registers `sb_text_match(op, value, operand)` ([`text_match`]): 0 for a value that is not text.
pub fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        TEXT_MATCH_FUNCTION,
        3,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let op: String = ctx.get(0)?;
            let value = match ctx.get_raw(1) {
                rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                _ => return Ok(0i64),
            };
            let operand: String = ctx.get(2)?;
            Ok(i64::from(text_match(&op, &value, &operand)))
        },
    )
}

/// Creates the table of one connector entity if needed.
pub fn ensure_table(conn: &Connection, table: &str) -> rusqlite::Result<()> {
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS \"{table}\" (
            id TEXT PRIMARY KEY,
            record BLOB NOT NULL,
            synced_at TEXT NOT NULL,
            generation INTEGER NOT NULL
        );
        CREATE INDEX IF NOT EXISTS \"{table}_generation\" ON \"{table}\" (generation);"
    ))
}

/// Drops the tables of connector `connector_id`'s entities in the file at `path`, with their
/// sync state.
pub fn forget(path: &Path, connector_id: &str) -> rusqlite::Result<()> {
    let mut conn = open_rw(path)?;
    // The write lock first (waiting under the busy timeout): a deferred transaction that read
    // before a page's commit could not then write (`SQLITE_BUSY_SNAPSHOT`, which no busy
    // timeout waits out).
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let entities: Vec<String> = {
        let mut stmt = tx.prepare("SELECT entity FROM sync_state WHERE connector_id = ?1")?;
        let rows = stmt.query_map([connector_id], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for entity in entities.iter().filter(|e| valid_entity(e)) {
        tx.execute_batch(&format!("DROP TABLE IF EXISTS \"{}\"", table_name(connector_id, entity)))?;
    }
    tx.execute("DELETE FROM sync_state WHERE connector_id = ?1", [connector_id])?;
    tx.commit()
}

/// Whether table `table` exists in `conn`'s main database.
pub fn table_exists(conn: &Connection, table: &str) -> rusqlite::Result<bool> {
    conn.query_row("SELECT count(*) FROM main.sqlite_master WHERE type = 'table' AND name = ?1", [table], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n > 0)
}
