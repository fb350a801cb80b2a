//! Backups of the embedded SQLite database. [`Snapshot`] opens a database file read-only and
//! without migrating it: the live database, to copy it consistently while engines serve
//! (`VACUUM INTO` reads one transaction's view; writers in WAL mode are not blocked), and a
//! backup file, to check it is a Switchboard database, count what it holds, list the master key
//! ids its secrets are sealed under and copy it into place. PostgreSQL is backed up with
//! its own tools (`pg_dump`), see `docs/operations-backup.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::Row;

use super::{StoreError, StoreResult, MIGRATIONS};
use crate::crypto::Sealed;

/// The first 16 bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// The schema version this build migrates to.
pub fn latest_schema_version() -> i64 {
    MIGRATIONS.iter().map(|(v, _)| *v).max().unwrap_or(0)
}

/// The path of a path as SQL text (`VACUUM INTO` takes a string).
fn sql_path(path: &Path) -> StoreResult<&str> {
    path.to_str().ok_or_else(|| StoreError::Inconsistent(format!("{} is not a UTF-8 path", path.display())))
}

/// Makes the data of `path` durable: SQLite does not sync the file `VACUUM INTO` writes.
fn sync_file(path: &Path) -> StoreResult<()> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| StoreError::Inconsistent(format!("cannot sync {}: {e}", path.display())))
}

/// A SQLite database file opened read-only without migrating it: a backup to inspect or
/// restore.
#[derive(Debug)]
pub struct Snapshot {
    pool: SqlitePool,
    path: PathBuf,
}

impl Snapshot {
    /// Opens `path` read-only; a file that is not a SQLite database is refused before SQLite
    /// sees it.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        use std::io::Read;
        let mut header = [0u8; 16];
        let mut read = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut header));
        // A live database in WAL mode may have all its pages in the `-wal` file still.
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) && std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
            header = *SQLITE_HEADER;
            read = Ok(());
        }
        match read {
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(StoreError::Inconsistent(format!("{} is not a SQLite database", path.display())))
            }
            Err(e) => return Err(StoreError::Inconsistent(format!("cannot read {}: {e}", path.display()))),
            Ok(()) if &header != SQLITE_HEADER => {
                return Err(StoreError::Inconsistent(format!("{} is not a SQLite database", path.display())))
            }
            Ok(()) => {}
        }
        let options = SqliteConnectOptions::new().filename(path).read_only(true).create_if_missing(false);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Open(format!("{}: {e}", path.display())))?;
        Ok(Self { pool, path: path.to_path_buf() })
    }

    /// The schema version the snapshot was migrated to; an error when it is not a Switchboard
    /// database (no migrations table) or a damaged one.
    pub async fn schema_version(&self) -> StoreResult<i64> {
        let ok: String = sqlx::query_scalar("PRAGMA quick_check").fetch_one(&self.pool).await?;
        if ok != "ok" {
            return Err(StoreError::Inconsistent(format!("{} is damaged: {ok}", self.path.display())));
        }
        if !self.has_table("switchboard_migrations").await? {
            return Err(StoreError::Inconsistent(format!(
                "{} is not a Switchboard database (it has no switchboard_migrations table)",
                self.path.display()
            )));
        }
        let v: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM switchboard_migrations").fetch_one(&self.pool).await?;
        Ok(v.unwrap_or(0))
    }

    async fn has_table(&self, name: &str) -> StoreResult<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    /// Rows per table (SQLite's own tables left out).
    pub async fn table_rows(&self) -> StoreResult<BTreeMap<String, i64>> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = BTreeMap::new();
        for name in names {
            // The name comes from the schema, quoted as an identifier.
            let sql = format!("SELECT COUNT(*) FROM \"{}\"", name.replace('"', "\"\""));
            let n: i64 = sqlx::query_scalar(&sql).fetch_one(&self.pool).await?;
            out.insert(name, n);
        }
        Ok(out)
    }

    /// Every sealed record: (table, id, sealed), as [`Db::sealed_records`] lists them; a table
    /// an older schema does not have yet is skipped.
    pub async fn sealed_records(&self) -> StoreResult<Vec<(&'static str, String, Sealed)>> {
        let mut out = Vec::new();
        for (table, sql) in super::SEALED_RECORDS {
            if !self.has_table(table).await? {
                continue;
            }
            for r in sqlx::query(sql).fetch_all(&self.pool).await? {
                out.push((
                    *table,
                    r.try_get("id")?,
                    Sealed { key_id: r.try_get("key_id")?, ciphertext: r.try_get("ct")? },
                ));
            }
        }
        Ok(out)
    }

    /// How many sealed values each master key id seals, counted over the records
    /// [`super::SEALED_RECORDS`] lists (the list key rotation and [`Snapshot::sealed_records`]
    /// read, so a sealed column added there is counted here too); a table an older schema does
    /// not have yet is skipped. The test below checks that every `<name>_key_id` / `<name>_ct`
    /// column pair of the schema belongs to a listed table.
    pub async fn sealed_key_ids(&self) -> StoreResult<BTreeMap<String, u64>> {
        let mut out = BTreeMap::new();
        for (table, sql) in super::SEALED_RECORDS {
            if !self.has_table(table).await? {
                continue;
            }
            // The listed query as a subquery: its key ids counted, no ciphertext read.
            let count = format!("SELECT key_id AS k, COUNT(*) AS n FROM ({sql}) GROUP BY 1");
            for r in sqlx::query(&count).fetch_all(&self.pool).await? {
                let n: i64 = r.try_get("n")?;
                *out.entry(r.try_get::<String, _>("k")?).or_default() += n as u64;
            }
        }
        Ok(out)
    }

    /// Writes a consistent copy of the database into `out`, which must not exist or be empty
    /// (create it empty first to choose its mode: SQLite keeps it). The copy is one read
    /// transaction, a single rollback-journal file without the pages of deleted rows, synced
    /// before this returns (SQLite does not sync it).
    pub async fn copy_into(&self, out: &Path) -> StoreResult<()> {
        sqlx::query("VACUUM INTO $1").bind(sql_path(out)?).execute(&self.pool).await?;
        sync_file(out)
    }

    /// Closes the file.
    pub async fn close(self) {
        self.pool.close().await;
    }
}

/// The file a `sqlite:` database URL names, `None` for an in-memory database.
pub fn sqlite_url_path(url: &str) -> Option<PathBuf> {
    let rest = url.trim().trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || query.contains("mode=memory") {
        return None;
    }
    Some(PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        let file = |u: &str| sqlite_url_path(u).map(|p| p.display().to_string());
        assert_eq!(file("sqlite:///var/lib/sb/db.sqlite?mode=rwc").as_deref(), Some("/var/lib/sb/db.sqlite"));
        assert_eq!(file("sqlite://rel/db.sqlite").as_deref(), Some("rel/db.sqlite"));
        assert_eq!(file("sqlite:db.sqlite").as_deref(), Some("db.sqlite"));
        assert_eq!(file("sqlite::memory:"), None);
        assert_eq!(file("sqlite://x.db?mode=memory"), None);
    }

    #[tokio::test]
    async fn a_file_that_is_not_sqlite_is_refused_before_sqlite_opens_it() {
        let dir = std::env::temp_dir().join(format!("sb-snapshot-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        for (name, bytes) in [("short", &b"SQLite"[..]), ("text", &b"definitely not a database file"[..])] {
            let p = dir.join(name);
            std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("{e}"));
            let err = Snapshot::open(&p).await.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("is not a SQLite database"), "{name}: {err}");
        }
        let missing = Snapshot::open(&dir.join("missing")).await.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(missing.contains("cannot read"), "{missing}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Every `<name>_key_id` / `<name>_ct` column pair of the current schema is a sealed value:
    /// its table must be in [`super::SEALED_RECORDS`], or key rotation would leave it under the
    /// old key and a restore would not check it.
    #[tokio::test]
    async fn every_sealed_column_of_the_schema_is_listed() {
        let dir = std::env::temp_dir().join(format!("sb-sealed-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        // The engine's own open path, so every migration has run.
        drop(super::super::Db::open(None, &dir).await.unwrap_or_else(|e| panic!("{e}")));
        let file = dir.join("switchboard.db");
        let snap = Snapshot::open(&file).await.unwrap_or_else(|e| panic!("{e}"));
        let tables: Vec<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
                .fetch_all(&snap.pool)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        let mut sealed = Vec::new();
        for table in tables {
            let columns: Vec<String> = sqlx::query(&format!("PRAGMA table_info(\"{table}\")"))
                .fetch_all(&snap.pool)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .iter()
                .map(|r| r.try_get::<String, _>("name").unwrap_or_default())
                .collect();
            let pair = columns
                .iter()
                .any(|c| c.strip_suffix("_key_id").is_some_and(|base| columns.contains(&format!("{base}_ct"))));
            if pair {
                sealed.push(table);
            }
        }
        snap.close().await;
        let _ = std::fs::remove_dir_all(&dir);
        assert!(sealed.len() >= 5, "{sealed:?}");
        for table in &sealed {
            assert!(super::super::SEALED_RECORDS.iter().any(|(t, _)| t == table), "{table} is not in SEALED_RECORDS");
        }
    }
}
