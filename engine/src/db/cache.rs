//! Connector rows kept in memory, by id, so an execution does not read its connector from the
//! database each time. On the embedded SQLite store every change of a row passes through this
//! process (every [`super::Db`] opened on one file in a process shares one cache, so two engines
//! in one process, as tests run them, see each other's changes at once). On PostgreSQL other
//! replicas change rows too: the cache is on there only while its handle hears of every change
//! through `LISTEN` (`db/listen.rs`), which drops each changed row when it is announced.
//!
//! Every change of a connector made through [`super::Db`] drops its entry after the change is
//! committed. A read that started before a change may end after the change dropped the entry:
//! each drop bumps a generation, and a row read under an older generation is not kept.
//! Entries also expire after the time to live, which bounds what another process writing the
//! same SQLite file (not a supported deployment: replicas need PostgreSQL) could leave stale,
//! and on PostgreSQL what a change made with triggers disabled could.
//!
//! The cache answers by id alone; tenancy (organization, workspace) is checked by the caller
//! on every hit, exactly as the SQL filters a miss.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use super::ConnectorRow;

/// Connector rows by id (see the module docs).
#[derive(Debug)]
pub(super) struct ConnectorCache {
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    rows: HashMap<String, (Arc<ConnectorRow>, Instant)>,
    /// Bumped by every drop: a row read before a drop is not kept.
    generation: u64,
    /// How long a row is used; zero: the cache is off (every read goes to the database).
    ttl: Duration,
    /// Most rows kept.
    capacity: usize,
}

impl ConnectorCache {
    /// A cache that is off until [`ConnectorCache::enable`].
    pub(super) fn new() -> Self {
        Self { inner: Mutex::new(Entries::default()) }
    }

    /// The cache shared by every handle on the SQLite database `key` (its file) in this process.
    pub(super) fn shared(key: &str) -> Arc<Self> {
        static SHARED: OnceLock<Mutex<HashMap<String, Weak<ConnectorCache>>>> = OnceLock::new();
        let mut all = SHARED.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
        all.retain(|_, c| c.strong_count() > 0);
        if let Some(c) = all.get(key).and_then(Weak::upgrade) {
            return c;
        }
        let c = Arc::new(Self::new());
        all.insert(key.to_string(), Arc::downgrade(&c));
        c
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps rows for `ttl` (zero: off), at most `capacity` of them.
    pub(super) fn enable(&self, ttl: Duration, capacity: usize) {
        let mut e = self.lock();
        e.ttl = ttl;
        e.capacity = capacity.max(1);
        if ttl.is_zero() {
            e.rows.clear();
            e.generation += 1;
        }
    }

    /// The row of connector `id` if one is kept and fresh.
    pub(super) fn get(&self, id: &str) -> Option<Arc<ConnectorRow>> {
        let e = self.lock();
        let (row, at) = e.rows.get(id)?;
        (at.elapsed() < e.ttl).then(|| row.clone())
    }

    /// The generation to pass to [`ConnectorCache::put`] for a read starting now; `None` when
    /// the cache is off.
    pub(super) fn generation(&self) -> Option<u64> {
        let e = self.lock();
        (!e.ttl.is_zero()).then_some(e.generation)
    }

    /// Keeps `row`, read under `generation`, unless a drop happened since.
    pub(super) fn put(&self, row: Arc<ConnectorRow>, generation: u64) {
        let mut e = self.lock();
        if e.generation != generation || e.ttl.is_zero() {
            return;
        }
        if e.rows.len() >= e.capacity && !e.rows.contains_key(&row.id) {
            let ttl = e.ttl;
            e.rows.retain(|_, (_, at)| at.elapsed() < ttl);
            if e.rows.len() >= e.capacity {
                // An arbitrary eighth (the map's order): cheap, and a dropped row is one read.
                let n = (e.capacity / 8).max(1);
                let gone: Vec<String> = e.rows.keys().take(n).cloned().collect();
                for id in gone {
                    e.rows.remove(&id);
                }
            }
        }
        e.rows.insert(row.id.clone(), (row, Instant::now()));
    }

    /// Drops the row of connector `id` (changed or deleted).
    pub(super) fn forget(&self, id: &str) {
        let mut e = self.lock();
        e.rows.remove(id);
        e.generation += 1;
    }

    /// Drops every row (the table was emptied).
    pub(super) fn forget_all(&self) {
        let mut e = self.lock();
        e.rows.clear();
        e.generation += 1;
    }

    /// How many rows are kept.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.lock().rows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Sealed;

    fn row(id: &str, version: i64) -> Arc<ConnectorRow> {
        Arc::new(ConnectorRow {
            id: id.into(),
            organization_id: "o".into(),
            workspace_id: "w".into(),
            workspace_name: "ws".into(),
            definition_id: "d".into(),
            slug: "github".into(),
            name: "n".into(),
            credentials: Sealed { key_id: "k".into(), ciphertext: "ct".into() },
            credential_version: 1,
            version,
            replication_config: None,
            config: None,
            created_at: "t".into(),
            updated_at: "t".into(),
        })
    }

    fn version(c: &ConnectorCache, id: &str) -> Option<i64> {
        c.get(id).map(|r| r.version)
    }

    #[test]
    fn off_until_enabled_and_when_the_ttl_is_zero() {
        let c = ConnectorCache::new();
        assert_eq!(c.generation(), None, "a new cache is off");
        c.put(row("a", 1), 0);
        assert_eq!(version(&c, "a"), None);
        c.enable(Duration::from_secs(60), 16);
        let g = c.generation().unwrap_or_else(|| panic!("on"));
        c.put(row("a", 1), g);
        assert_eq!(version(&c, "a"), Some(1));
        c.enable(Duration::ZERO, 16);
        assert_eq!((version(&c, "a"), c.generation(), c.len()), (None, None, 0), "switched off: nothing kept");
    }

    #[test]
    fn a_change_drops_the_row_and_a_read_from_before_it_is_not_kept() {
        let c = ConnectorCache::new();
        c.enable(Duration::from_secs(60), 16);
        let g = c.generation().unwrap_or_else(|| panic!("on"));
        c.put(row("a", 1), g);
        c.put(row("b", 1), g);
        // A read of "a" starts (version 1 in the database), then a change commits and drops it.
        let before = c.generation().unwrap_or_else(|| panic!("on"));
        c.forget("a");
        c.put(row("a", 1), before);
        assert_eq!(version(&c, "a"), None, "the row read before the change must not be kept");
        assert_eq!(version(&c, "b"), Some(1), "other rows stay");
        let after = c.generation().unwrap_or_else(|| panic!("on"));
        c.put(row("a", 2), after);
        assert_eq!(version(&c, "a"), Some(2));
    }

    #[test]
    fn rows_expire_after_the_ttl() {
        let c = ConnectorCache::new();
        c.enable(Duration::from_millis(30), 16);
        c.put(row("a", 1), c.generation().unwrap_or_else(|| panic!("on")));
        assert_eq!(version(&c, "a"), Some(1));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(version(&c, "a"), None, "an expired row is read again");
    }

    #[test]
    fn bounded_by_the_capacity() {
        let c = ConnectorCache::new();
        c.enable(Duration::from_secs(60), 16);
        for i in 0..1000 {
            c.put(row(&format!("c{i}"), 1), c.generation().unwrap_or_else(|| panic!("on")));
            assert!(c.len() <= 16, "{} rows kept", c.len());
        }
        assert_eq!(version(&c, "c999"), Some(1), "the newest row is kept");
    }

    #[test]
    fn handles_on_one_sqlite_file_share_a_cache() {
        let a = ConnectorCache::shared("/tmp/sb-cache-test-one.db");
        let b = ConnectorCache::shared("/tmp/sb-cache-test-one.db");
        let other = ConnectorCache::shared("/tmp/sb-cache-test-two.db");
        a.enable(Duration::from_secs(60), 16);
        other.enable(Duration::from_secs(60), 16);
        a.put(row("x", 1), a.generation().unwrap_or_else(|| panic!("on")));
        assert_eq!(version(&b, "x"), Some(1));
        assert_eq!(version(&other, "x"), None);
        b.forget("x");
        assert_eq!(version(&a, "x"), None, "a change through one handle reaches the other");
    }
}
