//! Operator tasks: the first organization and application, new applications, master-key
//! rotation, backup and restore of the embedded database.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use switchboard_core::ErrorCode;

use crate::crypto::{random_token, CryptoError, KeyRing, Sealed, SecretHasher};
use crate::db::backup::{latest_schema_version, sqlite_url_path, Snapshot};
use crate::db::{database_kind, Db, DbKind, StoreError};
use crate::error::{ApiError, ApiResult};

/// A new application's credentials; the secret exists only here and in the caller's hands.
#[derive(Debug, Clone)]
pub struct NewApplication {
    pub organization_id: String,
    pub client_id: String,
    pub client_secret: String,
}

impl NewApplication {
    pub fn to_json(&self) -> Value {
        json!({"organization_id": self.organization_id, "client_id": self.client_id, "client_secret": self.client_secret})
    }
}

/// Creates an application in the organization called `org_name` (created if new). Its secret
/// is stored as the keyed hash of `hasher` (the engine's, [`crate::services::tokens::secret_hasher`])
/// from the start: no Argon2 run, nothing to rewrite on first use.
pub async fn create_application(db: &Db, hasher: &SecretHasher, org_name: &str) -> ApiResult<NewApplication> {
    // The rule of the other names the engine stores (a connector's, `validate::check_name`).
    if org_name.trim().is_empty() || !switchboard_core::validate::fits_name(org_name) {
        return Err(ApiError::validation(
            "the organization name must be 1 to 256 characters without control characters",
        ));
    }
    let org = match db.find_organization_by_name(org_name).await? {
        Some(o) => o,
        None => db.create_organization(org_name).await?,
    };
    let client_id = format!("sb_{}", random_token(12));
    let client_secret = random_token(32);
    db.create_application(&org.id, &client_id, &hasher.hash(&client_id, &client_secret)).await?;
    Ok(NewApplication { organization_id: org.id, client_id, client_secret })
}

/// On an empty store, the first organization and application; `None` when there already is one.
pub async fn bootstrap(db: &Db, hasher: &SecretHasher) -> ApiResult<Option<NewApplication>> {
    if db.count_organizations().await? > 0 {
        return Ok(None);
    }
    Ok(Some(create_application(db, hasher, "default").await?))
}

/// Re-encrypts every sealed record that is not under the ring's current key. Returns how many
/// records were rewritten. Safe to run while engines serve: a record changed concurrently is
/// read again and retried.
pub async fn reseal_all(db: &Db, ring: &KeyRing) -> ApiResult<usize> {
    let mut rewritten = 0;
    for _round in 0..5 {
        let pending: Vec<_> =
            db.sealed_records().await?.into_iter().filter(|(_, _, s)| s.key_id != ring.current_id()).collect();
        if pending.is_empty() {
            return Ok(rewritten);
        }
        for (table, id, sealed) in pending {
            let aad = sealed_aad(table, &id);
            let plain = ring.open(&sealed, &aad)?;
            let new = ring.seal(&plain, &aad)?;
            if db.reseal(table, &id, &sealed, &new).await? {
                rewritten += 1;
            }
        }
    }
    Err(crate::error::ApiError::internal("records kept changing during the rotation; run it again"))
}

/// The associated data a sealed record of `table` is bound to: its id (a signing key's with a
/// prefix).
pub fn sealed_aad(table: &str, id: &str) -> String {
    if table == "signing_keys" {
        format!("signing_key:{id}")
    } else {
        id.to_string()
    }
}

// ---- backup and restore

/// What `admin backup` or `admin restore` is asked to do, for the PostgreSQL guidance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupStep {
    Backup,
    Restore,
}

/// The guidance for PostgreSQL, which is backed up with its own tools. Names the variable, never
/// the URL (it may hold a password).
fn postgres_guidance(step: BackupStep) -> ApiError {
    let what = match step {
        BackupStep::Backup => "admin backup",
        BackupStep::Restore => "admin restore",
    };
    ApiError::new(
        ErrorCode::Configuration,
        format!(
            "`switchboard {what}` works on the embedded SQLite database only; on PostgreSQL use its own tools. \
             Back up: pg_dump --format=custom --file=switchboard.dump \"$SWITCHBOARD_DATABASE_URL\". \
             Restore into a new empty database: createdb switchboard_restored && pg_restore --no-owner --exit-on-error \
             --dbname=postgres://USER@HOST/switchboard_restored switchboard.dump, then start the engines with \
             --database-url naming it (they migrate it to the current schema). The dump holds the secrets sealed \
             under the master key: keep SWITCHBOARD_MASTER_KEY, stored apart from the dump, or the dump's secrets \
             cannot be decrypted. See docs/operations-backup.md"
        ),
    )
}

fn configuration(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::Configuration, message)
}

/// A storage error of a backup or restore: a refused or unreadable file is the operator's to
/// fix (`configuration`), not an internal failure.
fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Inconsistent(m) | StoreError::Open(m) => configuration(m),
        e => e.into(),
    }
}

/// The SQLite database file of a store: `url` when it is a `sqlite:` URL, else `switchboard.db`
/// in `data_dir`. PostgreSQL is refused with the `pg_dump` / `pg_restore` guidance.
pub fn sqlite_database_path(url: Option<&str>, data_dir: &Path, step: BackupStep) -> ApiResult<PathBuf> {
    match url {
        None => Ok(data_dir.join("switchboard.db")),
        Some(u) => match database_kind(u)? {
            DbKind::Postgres => Err(postgres_guidance(step)),
            DbKind::Sqlite => sqlite_url_path(u)
                .ok_or_else(|| configuration("an in-memory SQLite database cannot be backed up or restored")),
        },
    }
}

/// The database file `admin backup` copies: it must exist and hold something (the command never
/// creates a store to back it up).
pub fn backup_source(url: Option<&str>, data_dir: &Path) -> ApiResult<PathBuf> {
    existing_database(sqlite_database_path(url, data_dir, BackupStep::Backup)?)
}

/// Refuses a SQLite store that does not exist (nothing to check on PostgreSQL, or in memory):
/// commands that work on stored data never create a store, so a mistyped `--data-dir` is an
/// error, not a new empty store and key.
pub fn require_store(url: Option<&str>, data_dir: &Path) -> ApiResult<()> {
    match sqlite_file(url, data_dir)? {
        Some(file) => existing_database(file).map(|_| ()),
        None => Ok(()),
    }
}

/// The SQLite file of a store: `url` when it is a `sqlite:` URL naming one, else
/// `switchboard.db` in `data_dir`; `None` on PostgreSQL or in memory.
fn sqlite_file(url: Option<&str>, data_dir: &Path) -> ApiResult<Option<PathBuf>> {
    Ok(match url {
        None => Some(data_dir.join("switchboard.db")),
        Some(u) => match (database_kind(u)?, sqlite_url_path(u)) {
            (DbKind::Sqlite, Some(file)) => Some(file),
            _ => None,
        },
    })
}

/// `path` with `suffix` added to its file name (`switchboard.db` -> `switchboard.db-wal`).
fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// `file` when it is a database that holds something.
fn existing_database(file: PathBuf) -> ApiResult<PathBuf> {
    match std::fs::metadata(&file) {
        Ok(m) if m.is_file() && holds_data(&file) => Ok(file),
        _ => Err(configuration(format!("there is no Switchboard database at {}", file.display()))),
    }
}

/// The key ring for `admin restore`: from the environment, or from the key file of the target
/// data directory when there is one. `None` when neither exists: unlike `serve`, restore never
/// makes a new key file (a new key cannot open a backup's secrets).
pub fn existing_key_ring(
    master_key: Option<&str>,
    old_keys: Option<&str>,
    data_dir: Option<&Path>,
) -> ApiResult<Option<KeyRing>> {
    let env_key = master_key.is_some_and(|k| !k.trim().is_empty());
    if !env_key && !data_dir.is_some_and(|d| d.join("master.key").exists()) {
        return Ok(None);
    }
    Ok(Some(KeyRing::load(master_key, old_keys, data_dir)?))
}

/// Refuses to make a key file for the database in `data_dir` when it already holds data: its
/// secrets are sealed under a key made before (in the environment, or a key file that is gone),
/// which a new key cannot open.
pub fn check_key_file_kept(data_dir: &Path) -> ApiResult<()> {
    let db = data_dir.join("switchboard.db");
    // The database first: a store's key file is made before its database, so one that starts
    // together with this command is seen with its key.
    if holds_data(&db) && !data_dir.join("master.key").exists() {
        return Err(configuration(format!(
            "{} holds data but {} has no master.key: set SWITCHBOARD_MASTER_KEY (or --master-key-file) to the \
             key this store was made with",
            db.display(),
            data_dir.display()
        )));
    }
    Ok(())
}

/// A lock on a SQLite store's `<database>.lock` file, held for as long as the value lives. Every
/// `switchboard serve` on the store holds it shared (several engines may serve one SQLite file);
/// a command that needs every engine stopped (`admin restore`, a key rotation that rewrites the
/// key file or makes a key no engine has) holds it exclusively, so it is refused while an engine
/// serves, and an engine does not start while such a command runs.
#[derive(Debug)]
pub struct StoreLock {
    _file: std::fs::File,
}

/// Locks the SQLite store `url` / `data_dir` names: shared for an engine (`offline` is `None`),
/// exclusively for the offline command `offline` names. `None` on PostgreSQL, for an in-memory
/// database, for a store whose directory or lock file does not exist yet (no engine has served
/// it), and where the file system has no locks (a warning on stderr; the check is then the
/// operator's).
pub fn lock_store(url: Option<&str>, data_dir: &Path, offline: Option<&str>) -> ApiResult<Option<StoreLock>> {
    let Some(db) = sqlite_file(url, data_dir)? else { return Ok(None) };
    let lock = suffixed(&db, ".lock");
    if !lock.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).is_dir() {
        return Ok(None);
    }
    // Engines make the file; an offline command finding none has no engine to wait for (and
    // leaves a directory it refuses to touch as it was).
    if offline.is_some() && !lock.exists() {
        return Ok(None);
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true).write(true).create(offline.is_none()).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let file = match opts.open(&lock) {
        Ok(file) => file,
        Err(e) if offline.is_some() && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(configuration(format!("cannot open {}: {e}", lock.display()))),
    };
    let taken = if offline.is_some() { file.try_lock() } else { file.try_lock_shared() };
    match (taken, offline) {
        (Ok(()), _) => Ok(Some(StoreLock { _file: file })),
        (Err(std::fs::TryLockError::WouldBlock), Some(what)) => Err(ApiError::conflict(format!(
            "an engine serves {} (it holds {}): stop every engine on this store before {what}; nothing was changed",
            db.display(),
            lock.display()
        ))),
        (Err(std::fs::TryLockError::WouldBlock), None) => Err(ApiError::conflict(format!(
            "an offline command (admin restore or a key rotation) is working on {}: start the engine once it has \
             ended",
            db.display()
        ))),
        (Err(std::fs::TryLockError::Error(e)), _) => {
            eprintln!(
                "warning: cannot lock {} ({e}): engines and offline commands on this store are not kept apart",
                lock.display()
            );
            Ok(None)
        }
    }
}

/// What `admin backup` made: the JSON summary for stdout and, when the master key lives in a
/// key file, the warning for stderr.
#[derive(Debug, Clone)]
pub struct BackupReport {
    pub summary: Value,
    pub warning: Option<String>,
}

/// Creates `path` empty with mode 0600; an existing file is an error.
fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

/// A temporary name in the directory of `path`, for a file renamed to `path` once complete.
fn temp_beside(path: &Path, what: &str) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "switchboard".into());
    path.with_file_name(format!(".{name}.{what}-{}", uuid::Uuid::new_v4().simple()))
}

/// Moves the complete file `tmp` to `out`: replacing an existing `out` only when `force`,
/// else atomically refusing one (a hard link fails on an existing name). `tmp` is gone after.
fn publish(tmp: &Path, out: &Path, force: bool) -> ApiResult<()> {
    let result = if force {
        std::fs::rename(tmp, out)
    } else {
        std::fs::hard_link(tmp, out).and_then(|()| std::fs::remove_file(tmp))
    };
    result.map_err(|e| {
        let _ = std::fs::remove_file(tmp);
        match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                ApiError::conflict(format!("{} already exists; pass --force to replace it", out.display()))
            }
            _ => configuration(format!("cannot write {}: {e}", out.display())),
        }
    })
}

/// The JSON of what a snapshot holds: schema version, rows per table, sealed records per key id.
async fn describe_snapshot(snap: &Snapshot) -> ApiResult<(i64, Value, Vec<(&'static str, String, Sealed)>)> {
    let version = snap.schema_version().await.map_err(store_error)?;
    let tables = snap.table_rows().await.map_err(store_error)?;
    let sealed = snap.sealed_records().await.map_err(store_error)?;
    let key_ids = snap.sealed_key_ids().await.map_err(store_error)?;
    let rows: i64 = tables.values().sum();
    let summary = json!({
        "schema_version": version,
        "tables": tables,
        "rows": rows,
        "sealed_records": key_ids.values().sum::<u64>(),
        "key_ids": key_ids,
    });
    Ok((version, summary, sealed))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `admin backup`: a consistent snapshot of the SQLite database `source` written to `out` with
/// mode 0600, while engines keep serving. The live database is opened read-only and never
/// migrated (a newer command line must not change the schema under older engines); the copy
/// is one read transaction (`VACUUM INTO`), which WAL-mode writers do not wait for. An existing
/// `out` is refused unless `force`. `key_file` is the data directory's key file when the master
/// key lives there: the backup does not hold it, which the report's warning says; with
/// `include_key_file` a copy is written to `<out>.master.key` (0600) instead. The summary names
/// the master key ids the secrets are sealed under, never key material.
pub async fn backup(
    source: &Path,
    out: &Path,
    force: bool,
    key_file: Option<&Path>,
    include_key_file: bool,
) -> ApiResult<BackupReport> {
    if include_key_file && key_file.is_none() {
        return Err(configuration(
            "--include-key-file: this store's master key does not come from a key file (it is \
             SWITCHBOARD_MASTER_KEY); keep that key in your secret store, apart from the backup",
        ));
    }
    if same_file(source, out) {
        return Err(configuration(format!("{} is the live database; choose another --out", out.display())));
    }
    let key_copy = include_key_file.then(|| suffixed(out, ".master.key"));
    for p in std::iter::once(out).chain(key_copy.as_deref()) {
        if !force && p.exists() {
            return Err(ApiError::conflict(format!("{} already exists; pass --force to replace it", p.display())));
        }
    }
    let tmp = temp_beside(out, "tmp");
    create_private_file(&tmp).map_err(|e| configuration(format!("cannot create {}: {e}", tmp.display())))?;
    let described = async {
        let live = Snapshot::open(source).await.map_err(store_error)?;
        let copied = live.copy_into(&tmp).await.map_err(store_error);
        live.close().await;
        copied?;
        let snap = Snapshot::open(&tmp).await.map_err(store_error)?;
        let described = describe_snapshot(&snap).await;
        snap.close().await;
        described
    }
    .await;
    let (_, mut summary, _) = match described {
        Ok(d) => d,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    publish(&tmp, out, force)?;
    let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    let path = std::fs::canonicalize(out).unwrap_or_else(|_| out.to_path_buf());
    summary["path"] = json!(path.display().to_string());
    summary["bytes"] = json!(bytes);
    summary["key_file_included"] = json!(false);
    let mut warning = None;
    if let (Some(key_file), Some(copy)) = (key_file, &key_copy) {
        let text =
            std::fs::read(key_file).map_err(|e| configuration(format!("cannot read {}: {e}", key_file.display())))?;
        let tmp = temp_beside(copy, "tmp");
        let written = create_private_file(&tmp).and_then(|mut f| {
            use std::io::Write;
            f.write_all(&text).and_then(|()| f.sync_all())
        });
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(configuration(format!("cannot write {}: {e}", tmp.display())));
        }
        publish(&tmp, copy, force)?;
        summary["key_file_included"] = json!(true);
        summary["key_file"] = json!(std::fs::canonicalize(copy).unwrap_or_else(|_| copy.clone()).display().to_string());
        warning = Some(format!(
            "WARNING: the master key file was copied to {}. Whoever has both files can decrypt every stored \
             secret: keep the key file somewhere other than the backup (another host or a secret store).",
            copy.display()
        ));
    } else if let Some(key_file) = key_file {
        warning = Some(format!(
            "WARNING: the master key is in {} and is NOT in the backup. Without it the backup's secrets cannot be \
             decrypted and every end user would have to reconnect: copy that key file somewhere safe, apart from \
             the backup (or run again with --include-key-file to write a copy next to it).",
            key_file.display()
        ));
    }
    Ok(BackupReport { summary, warning })
}

/// Checks that `ring` opens every sealed record of a backup; the error names the key ids the
/// ring lacks, never key material.
fn check_keys(sealed: &[(&'static str, String, Sealed)], all_ids: &Value, ring: Option<&KeyRing>) -> ApiResult<()> {
    let mut ids: BTreeSet<&str> = sealed.iter().map(|(_, _, s)| s.key_id.as_str()).collect();
    ids.extend(all_ids.as_object().into_iter().flat_map(|m| m.keys().map(String::as_str)));
    let list = |ids: &BTreeSet<&str>| ids.iter().copied().collect::<Vec<_>>().join(", ");
    let Some(ring) = ring else {
        if ids.is_empty() {
            return Ok(());
        }
        return Err(configuration(format!(
            "the backup's secrets are sealed under master key id {}, and no master key is configured for the target: \
             set SWITCHBOARD_MASTER_KEY to that key, or copy the key file kept with the backup to master.key in the \
             data directory; nothing was changed",
            list(&ids)
        )));
    };
    let mut missing = BTreeSet::new();
    let mut damaged = 0usize;
    for (table, id, s) in sealed {
        match ring.open(s, &sealed_aad(table, id)) {
            Ok(_) => {}
            Err(CryptoError::UnknownKey(k)) if ids.contains(k.as_str()) => {
                missing.insert(s.key_id.as_str());
            }
            Err(_) => damaged += 1,
        }
    }
    // Sealed values of other tables (whose associated data this module does not know): their
    // key must be in the ring. Opening an empty ciphertext answers `UnknownKey` exactly when
    // the ring lacks the key, without decrypting anything.
    for id in &ids {
        let probe = Sealed { key_id: (*id).to_string(), ciphertext: String::new() };
        if let Err(CryptoError::UnknownKey(_)) = ring.open(&probe, "") {
            missing.insert(*id);
        }
    }
    if !missing.is_empty() {
        return Err(configuration(format!(
            "the backup's secrets are sealed under master key id {}, which the configured keys (current key id {}) do \
             not include: set SWITCHBOARD_MASTER_KEY to that key, or keep the current key and list the old one in \
             SWITCHBOARD_OLD_MASTER_KEYS, then run `switchboard admin rotate-key`; nothing was changed",
            list(&missing),
            ring.current_id()
        )));
    }
    if damaged > 0 {
        return Err(configuration(format!(
            "{damaged} sealed records of the backup do not decrypt with the key whose id they name (a damaged or \
             altered backup); nothing was changed"
        )));
    }
    Ok(())
}

/// The database file and its WAL companions.
fn with_companions(file: &Path) -> [PathBuf; 3] {
    ["", "-wal", "-shm"].map(|suffix| suffixed(file, suffix))
}

/// Whether `file` (or its WAL) holds data.
fn holds_data(file: &Path) -> bool {
    let [db, wal, _] = with_companions(file);
    [db, wal].iter().any(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0))
}

/// `admin restore`: puts the backup `from` in place of the store's SQLite database and migrates
/// it to the current schema. Before anything is touched it checks that `from` is a sound
/// Switchboard database of a schema this build knows, that `ring` opens every sealed record
/// (the error names the key id needed), and that the target holds no data, unless `force`,
/// which keeps the old database (and its `-wal`/`-shm`) aside as `.bak-<time>`. Engines on
/// the target must be stopped.
pub async fn restore(
    from: &Path,
    url: Option<&str>,
    data_dir: &Path,
    ring: Option<&KeyRing>,
    force: bool,
) -> ApiResult<Value> {
    let target = sqlite_database_path(url, data_dir, BackupStep::Restore)?;
    if !from.is_file() {
        return Err(configuration(format!("{} is not a file", from.display())));
    }
    if same_file(from, &target) {
        return Err(configuration(format!("{} is the target database itself", from.display())));
    }
    let snap = Snapshot::open(from).await.map_err(store_error)?;
    let checked = async {
        let (version, summary, sealed) = describe_snapshot(&snap).await?;
        let latest = latest_schema_version();
        if version > latest {
            return Err(configuration(format!(
                "{} has schema version {version}, newer than this Switchboard knows ({latest}): restore it with the \
                 release that made it; nothing was changed",
                from.display()
            )));
        }
        check_keys(&sealed, &summary["key_ids"], ring)?;
        if holds_data(&target) && !force {
            return Err(ApiError::conflict(format!(
                "{} already holds a database: restore goes into an empty data directory or database; pass --force to \
                 keep the old one aside as a .bak file (stop every engine on it first); nothing was changed",
                target.display()
            )));
        }
        let dir = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        crate::crypto::create_private_dir(dir)
            .map_err(|e| configuration(format!("cannot create {}: {e}", dir.display())))?;
        let tmp = temp_beside(&target, "restore");
        create_private_file(&tmp).map_err(|e| configuration(format!("cannot create {}: {e}", tmp.display())))?;
        if let Err(e) = snap.copy_into(&tmp).await {
            let _ = std::fs::remove_file(&tmp);
            return Err(store_error(e));
        }
        Ok((version, summary, tmp))
    }
    .await;
    snap.close().await;
    let (version, mut summary, tmp) = checked?;
    // The old database goes aside whole (a WAL left beside the new file would be replayed into
    // it); an empty one is removed.
    let mut kept_aside = Vec::new();
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let backup_name = suffixed(&target, &format!(".bak-{stamp}"));
    let keep = holds_data(&target);
    for (old, bak) in with_companions(&target).iter().zip(with_companions(&backup_name)) {
        if !old.exists() {
            continue;
        }
        let moved = if keep { std::fs::rename(old, &bak) } else { std::fs::remove_file(old) };
        if let Err(e) = moved {
            let _ = std::fs::remove_file(&tmp);
            return Err(configuration(format!("cannot move {} aside: {e}", old.display())));
        }
        if keep {
            kept_aside.push(bak.display().to_string());
        }
    }
    if let Err(e) = std::fs::rename(&tmp, &target) {
        let _ = std::fs::remove_file(&tmp);
        return Err(configuration(format!("cannot write {}: {e}", target.display())));
    }
    let db = Db::open(url, data_dir).await?;
    let organizations = db.count_organizations().await?;
    summary["restored"] = json!(std::fs::canonicalize(&target).unwrap_or(target).display().to_string());
    summary["from"] = json!(from.display().to_string());
    summary["schema_version_of_backup"] = json!(version);
    summary["schema_version"] = json!(latest_schema_version());
    summary["organizations"] = json!(organizations);
    summary["kept_aside"] = json!(kept_aside);
    Ok(summary)
}
