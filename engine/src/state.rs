//! The engine's settings and shared state.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard_core::http::{HttpClient, NetClient};
use switchboard_core::{Connector, ErrorCode, Registry};

use crate::crypto::KeyRing;
use crate::db::{AuditConfig, Db};
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;
use crate::origins::WidgetOrigins;
use crate::ratelimit::{Cidr, TokenLimits};
use crate::services::tokens::ClientSecrets;
use crate::tokens::Signer;

/// How the engine runs. `switchboard serve` sets most fields from flags and environment
/// variables; the others keep their defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Directory of the embedded SQLite database (unused with a database URL).
    pub data_dir: PathBuf,
    /// `postgres://...`, `postgresql://...` or `sqlite://...`; none for SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// Hosts connectors may send credentials to, beyond each spec's own server host.
    pub egress_allow: Vec<String>,
    /// Largest request body, in bytes.
    pub body_limit: usize,
    /// Longest a request may take.
    pub request_timeout: Duration,
    /// Longest a request body may take to arrive once its head has (a slower one is answered
    /// 408 and its connection closed): a trickled body holds no connection for the whole
    /// request timeout.
    pub body_read_timeout: Duration,
    /// Longest one upstream exchange may take.
    pub upstream_timeout: Duration,
    pub application_token_ttl: u64,
    pub scoped_token_ttl: u64,
    pub widget_token_ttl: u64,
    /// Per-organization rate limit: sustained requests per second and burst.
    pub rate_per_sec: f64,
    pub rate_burst: f64,
    /// Least time between two reads of the signing keys for tokens naming an unknown key.
    pub signing_key_reload_interval: Duration,
    /// How long the registered widget origins are used before they are read again.
    pub widget_origin_ttl: Duration,
    /// Most connector handles kept in memory.
    pub handle_cache_size: usize,
    /// Token endpoint: attempts per second and burst allowed per `client_id`.
    pub token_rate_per_client: f64,
    pub token_burst_per_client: f64,
    /// Token endpoint: attempts per second and burst allowed per client address (IPv6 per /64).
    pub token_rate_per_address: f64,
    pub token_burst_per_address: f64,
    /// Proxies whose `X-Forwarded-For` names the client address (else the socket peer is).
    pub trusted_proxies: Vec<Cidr>,
    /// Most client ids, and most addresses, with a token-endpoint bucket in memory.
    pub token_limit_keys: usize,
    /// Most Argon2 checks of not-yet-migrated client secrets waiting at once (more are answered
    /// 429).
    pub argon2_queue: usize,
    /// Audit records older than this are pruned (zero: kept whatever their age).
    pub audit_max_age: Duration,
    /// Most audit records kept; the oldest beyond it are pruned (zero: no limit).
    pub audit_max_rows: u64,
    /// How often the background pruner runs.
    pub audit_prune_interval: Duration,
    /// Most audit records one delete statement removes: the pruner works in small batches so
    /// it never holds the database long enough to stall requests.
    pub audit_prune_batch: i64,
    /// Longest a connection may take to send a request head (counted from the connection's
    /// start, or from the first byte after an idle spell); a slower one is closed.
    pub header_read_timeout: Duration,
    /// Longest a kept-alive connection may sit between two requests before it is closed.
    pub idle_timeout: Duration,
    /// Most connections served at once; more wait in the listener's accept queue.
    pub max_connections: usize,
    /// Most exchanges one stored connector has in progress at once with one upstream origin;
    /// more wait for a turn (within the upstream timeout).
    pub upstream_exchanges_per_connector: usize,
    /// Longest answer body (decoded) read from a provider; a longer one fails the execution
    /// as `upstream_http` ([`switchboard_core::http::MAX_BODY`] unless told).
    pub upstream_body_limit: usize,
    /// Threads that serve requests, each with a single-threaded runtime of its own (a
    /// connection's requests, their upstream exchanges and answers stay on one thread). `None`:
    /// one per CPU; `Some(0)`: none, the process's multi-threaded runtime serves; `Some(n)`:
    /// `n` ([`Inner::serving_threads`]). On PostgreSQL each serving thread queries through a
    /// pool of its own ([`Db::open_serving`]).
    pub serving_threads: Option<usize>,
    /// Base URL per connector slug for connectors whose config names none (a test double, a
    /// proxy, an on-premises install of the API): the spec's server URL otherwise.
    pub upstream_base_urls: BTreeMap<String, String>,
    /// Longest an audit record waits in memory before it is written (records are written in
    /// batches off the request path; a process killed with SIGKILL loses at most this much).
    pub audit_flush_interval: Duration,
    /// Most audit records waiting to be written.
    pub audit_queue: usize,
    /// Longest a request waits for room in a full audit queue before its record is dropped
    /// (counted in `switchboard_audit_dropped_total` and logged).
    pub audit_queue_wait: Duration,
    /// How long a connector row read for an execution is used without reading it again (zero:
    /// read every time). Changes drop it sooner: at once on SQLite, where they all pass
    /// through this process; on PostgreSQL when their announcement arrives (`db/listen.rs`).
    pub connector_cache_ttl: Duration,
    /// Where browsers reach this engine (`https://engine.example.com`): the OAuth callback is
    /// `{public_url}/api/v1/oauth/callback`. Without it, the address the initiating request
    /// reached (`http://` and its `Host`), fit for local development only.
    pub public_url: Option<String>,
    /// How long an OAuth consent may take before its `state` expires.
    pub oauth_state_ttl: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./switchboard-data"),
            database_url: None,
            egress_allow: Vec::new(),
            body_limit: 1024 * 1024,
            request_timeout: Duration::from_secs(120),
            body_read_timeout: Duration::from_secs(30),
            upstream_timeout: Duration::from_secs(30),
            application_token_ttl: 900,
            scoped_token_ttl: 1200,
            widget_token_ttl: 1200,
            rate_per_sec: 50.0,
            rate_burst: 200.0,
            signing_key_reload_interval: Duration::from_secs(5),
            widget_origin_ttl: Duration::from_secs(5),
            handle_cache_size: 4096,
            token_rate_per_client: 10.0,
            token_burst_per_client: 20.0,
            token_rate_per_address: 20.0,
            token_burst_per_address: 50.0,
            trusted_proxies: Vec::new(),
            token_limit_keys: 100_000,
            argon2_queue: 8,
            audit_max_age: Duration::from_secs(30 * 24 * 3600),
            audit_max_rows: 1_000_000,
            audit_prune_interval: Duration::from_secs(60),
            audit_prune_batch: 500,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4096,
            serving_threads: None,
            upstream_exchanges_per_connector: switchboard_core::http::EXCHANGES_PER_ORIGIN,
            upstream_body_limit: switchboard_core::http::MAX_BODY,
            upstream_base_urls: BTreeMap::new(),
            audit_flush_interval: Duration::from_millis(200),
            audit_queue: 10_000,
            audit_queue_wait: Duration::from_millis(100),
            connector_cache_ttl: Duration::from_secs(10),
            public_url: None,
            oauth_state_ttl: Duration::from_secs(600),
        }
    }
}

/// A token bucket per key: an organization (application tokens), or a workspace (scoped and
/// widget tokens; see [`crate::extract`]).
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<Buckets>,
}

#[derive(Debug, Default)]
struct Buckets {
    by_key: HashMap<String, (f64, Instant)>,
    /// The count of buckets past which idle ones are dropped next.
    prune_at: usize,
}

/// Buckets kept before idle ones are dropped (one per workspace that sent a request).
const BUCKETS_KEPT: usize = 10_000;

impl RateLimiter {
    /// Takes one token for `key`; `Err(seconds)` says when one will be there.
    pub fn take(&self, key: &str, rate: f64, burst: f64) -> Result<(), f64> {
        let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if b.by_key.len() >= b.prune_at.max(BUCKETS_KEPT) {
            // A bucket idle long enough to have refilled is as a new one: dropping it changes
            // nothing. The next pruning waits for twice the buckets still live.
            let refill = std::time::Duration::from_secs_f64((burst / rate).clamp(0.0, 86_400.0));
            b.by_key.retain(|_, (_, at)| now.duration_since(*at) < refill);
            b.prune_at = b.by_key.len() * 2;
        }
        // Looked up by `key` itself: the key is copied only for a bucket not seen before.
        let (tokens, at) = b.by_key.get(key).copied().unwrap_or((burst, now));
        let tokens = (tokens + now.duration_since(at).as_secs_f64() * rate).min(burst);
        let (taken, left) =
            if tokens >= 1.0 { (Ok(()), tokens - 1.0) } else { (Err(((1.0 - tokens) / rate).max(0.001)), tokens) };
        match b.by_key.get_mut(key) {
            Some(entry) => *entry = (left, now),
            None => {
                b.by_key.insert(key.to_string(), (left, now));
            }
        }
        taken
    }

    /// How many buckets are kept.
    pub fn buckets(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|e| e.into_inner()).by_key.len()
    }
}

/// Connector handles by connector id, each for one connector version (bumped in storage by every
/// change of the connector, made through any replica, so a handle never outlives the row it
/// was made from): executions of one connector share one handle, so they share its OAuth state
/// and one refresh. Bounded: when full, the least recently used eighth is dropped (amortised
/// O(1) per insert).
pub struct HandleCache {
    map: Mutex<HandleMap>,
    capacity: usize,
}

#[derive(Default)]
struct HandleMap {
    entries: HashMap<String, Handle>,
    /// A logical clock: each use stamps its entry with the next tick.
    clock: u64,
}

struct Handle {
    version: i64,
    connector: Connector,
    last_used: u64,
}

impl HandleCache {
    /// A cache of at most `capacity` handles (at least one).
    pub fn new(capacity: usize) -> Self {
        Self { map: Mutex::new(HandleMap::default()), capacity: capacity.max(1) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HandleMap> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The handle of connector `id` if it was made for connector `version`.
    pub fn get(&self, id: &str, version: i64) -> Option<Connector> {
        let mut m = self.lock();
        m.clock += 1;
        let tick = m.clock;
        let h = m.entries.get_mut(id).filter(|h| h.version == version)?;
        h.last_used = tick;
        Some(h.connector.clone())
    }

    /// Keeps the handle of connector `id` for connector `version`, replacing one for an older
    /// version (never a newer one: a request that read the row before an update may finish
    /// after the request that read it after).
    pub fn put(&self, id: &str, version: i64, connector: Connector) {
        let mut m = self.lock();
        m.clock += 1;
        let last_used = m.clock;
        if let Some(h) = m.entries.get_mut(id) {
            if h.version <= version {
                *h = Handle { version, connector, last_used };
            }
            return;
        }
        if m.entries.len() >= self.capacity {
            Self::evict(&mut m.entries, (self.capacity / 8).max(1));
        }
        m.entries.insert(id.to_string(), Handle { version, connector, last_used });
    }

    /// Drops the `n` least recently used handles.
    fn evict(entries: &mut HashMap<String, Handle>, n: usize) {
        let mut ticks: Vec<u64> = entries.values().map(|h| h.last_used).collect();
        if n >= ticks.len() {
            entries.clear();
            return;
        }
        // Ticks are unique, so exactly the n oldest are below the n-th smallest.
        let (_, cutoff, _) = ticks.select_nth_unstable(n);
        let cutoff = *cutoff;
        entries.retain(|_, h| h.last_used >= cutoff);
    }

    /// Drops the handle of connector `id` (updated or deleted).
    pub fn forget(&self, id: &str) {
        self.lock().entries.remove(id);
    }

    /// How many handles are kept.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Everything a request handler needs.
pub struct Inner {
    pub db: Db,
    pub keys: KeyRing,
    pub signer: Signer,
    pub registry: Arc<Registry>,
    pub settings: Settings,
    pub limiter: RateLimiter,
    pub metrics: Arc<Metrics>,
    pub handles: HandleCache,
    pub origins: WidgetOrigins,
    /// Checks client secrets (keyed hash; Argon2 for rows not yet migrated).
    pub secrets: ClientSecrets,
    /// The token endpoint's limits per client id and per address.
    pub token_limits: TokenLimits,
    /// What connectors send upstream through: one connection pool; each stored connector's
    /// exchanges are limited on their own ([`NetClient::for_scope`]). `None` when the
    /// client cannot be built: core's shared client then reports why on every call. With
    /// serving threads, each thread has a pool of its own ([`NetClient::per_thread`]).
    pub http: Option<NetClient>,
    /// How many threads serve requests, each on a runtime of its own; 0: the runtime that
    /// made the state serves them ([`Settings::serving_threads`], [`crate::serve`]).
    pub serving_threads: usize,
    /// The runtime that made the state, where background work started by a request (a
    /// context store sync) runs rather than on the serving thread that took the request.
    pub background: tokio::runtime::Handle,
}

/// Shared state, cheap to clone.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Opens storage, loads signing keys and the connector registry, and starts the audit
    /// writer (call [`crate::db::Db::flush_audit`] before the runtime stops; [`crate::serve`]
    /// does).
    pub async fn new(settings: Settings, keys: KeyRing, registry: Registry) -> ApiResult<Self> {
        // Core's shared client (token refreshes, the CLI) takes its limit from the
        // environment: a bad one stops the start here, not a refresh later.
        if let Err(e) = switchboard_core::http::exchanges_per_origin() {
            return Err(ApiError::new(ErrorCode::Configuration, format!("the HTTP client: {e}")));
        }
        let serving_threads = serving_threads(settings.serving_threads);
        let db = Db::open_serving(settings.database_url.as_deref(), &settings.data_dir, serving_threads).await?;
        let metrics = Arc::new(Metrics::default());
        let signer = Signer::load(&db, &keys, settings.signing_key_reload_interval, metrics.clone()).await?;
        let secrets = ClientSecrets::load(&db, &keys, settings.argon2_queue).await?;
        db.start_audit_writer(
            AuditConfig {
                flush_interval: settings.audit_flush_interval,
                capacity: settings.audit_queue,
                enqueue_wait: settings.audit_queue_wait,
                ..AuditConfig::default()
            },
            metrics.clone(),
        );
        db.enable_connector_cache(settings.connector_cache_ttl, settings.handle_cache_size);
        Ok(Self(Arc::new(Inner {
            db,
            keys,
            signer,
            registry: Arc::new(registry),
            limiter: RateLimiter::default(),
            handles: HandleCache::new(settings.handle_cache_size),
            origins: WidgetOrigins::new(settings.widget_origin_ttl, metrics.clone()),
            metrics,
            secrets,
            token_limits: TokenLimits::new(&settings),
            http: if serving_threads > 0 {
                NetClient::per_thread(settings.upstream_exchanges_per_connector).ok()
            } else {
                NetClient::with_limit(settings.upstream_exchanges_per_connector).ok()
            }
            .map(|c| c.with_max_body(settings.upstream_body_limit)),
            serving_threads,
            background: tokio::runtime::Handle::current(),
            settings,
        })))
    }
}

/// The serving threads [`Settings::serving_threads`] asks for: what it says, or by default one
/// per CPU (none on a single CPU, where the process's runtime serves alone).
fn serving_threads(asked: Option<usize>) -> usize {
    asked.unwrap_or_else(|| match std::thread::available_parallelism().map_or(1, |n| n.get()) {
        1 => 0,
        n => n,
    })
}

impl Inner {
    /// The HTTP client of stored connector `id`'s handles: the engine's pool, with at most
    /// [`Settings::upstream_exchanges_per_connector`] of the connector's exchanges with one
    /// origin at once, however many handles of it there are.
    pub fn connector_http(&self, id: &str) -> Arc<dyn HttpClient> {
        match &self.http {
            Some(c) => Arc::new(c.for_scope(id)),
            None => NetClient::shared(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchboard_core::ConnectorOptions;

    #[test]
    fn buckets_are_kept_while_they_matter() {
        // A slow bucket (refilled in 1,000 s) spent; as many others after it, all live: every
        // one is kept, and the spent one still refuses.
        let l = RateLimiter::default();
        assert!(l.take("spent", 0.001, 1.0).is_ok());
        for i in 0..BUCKETS_KEPT {
            let _ = l.take(&format!("live{i}"), 0.001, 1.0);
        }
        assert_eq!(l.buckets(), BUCKETS_KEPT + 1);
        assert!(l.take("spent", 0.001, 1.0).is_err(), "a live bucket was dropped");
        // Fast buckets (refilled in 2 ms) idle for longer are dropped at the next take.
        let l = RateLimiter::default();
        for i in 0..BUCKETS_KEPT {
            let _ = l.take(&format!("idle{i}"), 1000.0, 2.0);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(l.take("new", 1000.0, 2.0).is_ok());
        assert_eq!(l.buckets(), 1, "idle buckets are dropped");
    }

    #[test]
    fn serving_threads_default_to_one_per_cpu() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(serving_threads(None), if cpus == 1 { 0 } else { cpus });
        assert_eq!(serving_threads(Some(3)), 3);
        assert_eq!(serving_threads(Some(1)), 1);
        // 0: the shared runtime serves.
        assert_eq!(serving_threads(Some(0)), 0);
    }

    /// A Stripe handle told apart by its base URL.
    fn handle(n: u32) -> Connector {
        let spec = Registry::builtin().and_then(|r| r.get("stripe")).unwrap_or_else(|e| panic!("{e}"));
        let config = json!({"base_url": format!("http://h{n}.example")});
        Connector::new(spec, json!({"api_key": "sk_test_x"}), config, ConnectorOptions::default())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn which(c: Option<Connector>) -> Option<String> {
        c.map(|c| c.base_url().unwrap_or_default())
    }

    #[test]
    fn handles_are_kept_per_connector_and_version() {
        let cache = HandleCache::new(16);
        cache.put("a", 1, handle(1));
        cache.put("b", 1, handle(2));
        assert_eq!(which(cache.get("a", 1)).as_deref(), Some("http://h1.example"));
        assert!(cache.get("a", 2).is_none(), "another connector version is another handle");
        cache.put("a", 2, handle(3));
        assert_eq!(cache.len(), 2, "a newer version replaces the older one");
        assert!(cache.get("a", 1).is_none());
        assert_eq!(which(cache.get("a", 2)).as_deref(), Some("http://h3.example"));
        cache.put("a", 1, handle(4));
        assert_eq!(which(cache.get("a", 2)).as_deref(), Some("http://h3.example"), "an older version never replaces");
        cache.forget("a");
        assert!(cache.get("a", 2).is_none());
        assert_eq!(which(cache.get("b", 1)).as_deref(), Some("http://h2.example"));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_full_cache_drops_the_least_recently_used() {
        let cache = HandleCache::new(16);
        let h = handle(0);
        for i in 0..16 {
            cache.put(&format!("c{i}"), 1, h.clone());
        }
        // c0 and c1 are used again: the oldest are now c2, c3, ...
        assert!(cache.get("c0", 1).is_some() && cache.get("c1", 1).is_some());
        cache.put("new", 1, h.clone());
        assert_eq!(cache.len(), 15, "an eighth of a full cache is dropped, then the new handle kept");
        for kept in ["c0", "c1", "c4", "c15", "new"] {
            assert!(cache.get(kept, 1).is_some(), "{kept} was used recently and must be kept");
        }
        for dropped in ["c2", "c3"] {
            assert!(cache.get(dropped, 1).is_none(), "{dropped} was the least recently used");
        }
        for i in 0..1000 {
            cache.put(&format!("x{i}"), 1, h.clone());
            assert!(cache.len() <= 16);
        }
    }
}
