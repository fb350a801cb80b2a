//! The engine's settings and shared state.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard_core::{Connector, Registry};

use crate::crypto::KeyRing;
use crate::db::Db;
use crate::error::ApiResult;
use crate::metrics::Metrics;
use crate::tokens::Signer;

/// How the engine runs. Every field has a flag and an environment variable in the CLI.
#[derive(Debug, Clone)]
pub struct Settings {
    /// SQLite data directory (ignored with a PostgreSQL URL).
    pub data_dir: PathBuf,
    /// `postgres://...` to use PostgreSQL.
    pub database_url: Option<String>,
    /// Hosts connectors may send credentials to, beyond each spec's own server host.
    pub egress_allow: Vec<String>,
    /// Largest request body, in bytes.
    pub body_limit: usize,
    /// Longest a request may take.
    pub request_timeout: Duration,
    /// Longest one upstream exchange may take.
    pub upstream_timeout: Duration,
    pub application_token_ttl: u64,
    pub scoped_token_ttl: u64,
    pub widget_token_ttl: u64,
    /// Per-organization rate limit: sustained requests per second and burst.
    pub rate_per_sec: f64,
    pub rate_burst: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./switchboard-data"),
            database_url: None,
            egress_allow: Vec::new(),
            body_limit: 1024 * 1024,
            request_timeout: Duration::from_secs(120),
            upstream_timeout: Duration::from_secs(30),
            application_token_ttl: 900,
            scoped_token_ttl: 1200,
            widget_token_ttl: 1200,
            rate_per_sec: 50.0,
            rate_burst: 200.0,
        }
    }
}

/// A token bucket per organization.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// Takes one token for `org`; `Err(seconds)` says when one will be there.
    pub fn take(&self, org: &str, rate: f64, burst: f64) -> Result<(), f64> {
        let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let entry = b.entry(org.to_string()).or_insert((burst, now));
        let refill = now.duration_since(entry.1).as_secs_f64() * rate;
        entry.0 = (entry.0 + refill).min(burst);
        entry.1 = now;
        if entry.0 >= 1.0 {
            entry.0 -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - entry.0) / rate).max(0.001))
        }
    }
}

/// Connector handles by (connector id, credential version): executions of one connector share
/// one handle, so they share its OAuth state and one refresh.
#[derive(Default)]
pub struct HandleCache {
    map: Mutex<HashMap<(String, i64), Connector>>,
}

const HANDLE_CACHE_MAX: usize = 4096;

impl HandleCache {
    pub fn get(&self, id: &str, version: i64) -> Option<Connector> {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).get(&(id.to_string(), version)).cloned()
    }
    pub fn put(&self, id: &str, version: i64, c: Connector) {
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        m.retain(|k, _| k.0 != id);
        if m.len() >= HANDLE_CACHE_MAX {
            m.clear();
        }
        m.insert((id.to_string(), version), c);
    }
    pub fn forget(&self, id: &str) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).retain(|k, _| k.0 != id);
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
    pub metrics: Metrics,
    pub handles: HandleCache,
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
    /// Opens storage, loads signing keys and the connector registry.
    pub async fn new(settings: Settings, keys: KeyRing, registry: Registry) -> ApiResult<Self> {
        let db = match &settings.database_url {
            Some(url) if url.starts_with("postgres") => Db::connect(url).await?,
            Some(url) if url.starts_with("sqlite:") => Db::connect(url).await?,
            _ => Db::open_sqlite(&settings.data_dir).await?,
        };
        let signer = Signer::load(&db, &keys).await?;
        Ok(Self(Arc::new(Inner {
            db,
            keys,
            signer,
            registry: Arc::new(registry),
            settings,
            limiter: RateLimiter::default(),
            metrics: Metrics::default(),
            handles: HandleCache::default(),
        })))
    }
}
