//! The registered widget origins, held in memory for the CORS check.
//!
//! Every request with an `Origin` header is checked before authentication, so the check must
//! not query the database: the set of origins is loaded once and re-read when older than its
//! time to live (replicas register origins too), by one request while the others keep
//! answering from the set they have. An origin registered in this process is added at once.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::db::Db;
use crate::error::ApiResult;
use crate::metrics::Metrics;

/// The origins and when they were read.
struct Loaded {
    origins: Arc<HashSet<String>>,
    at: Instant,
}

/// Widget origins every replica registered, as last read.
pub struct WidgetOrigins {
    loaded: RwLock<Option<Loaded>>,
    /// Held while reading the origins, and while adding one (so a reload in flight cannot drop
    /// an origin added meanwhile).
    refresh: tokio::sync::Mutex<()>,
    ttl: Duration,
    metrics: Arc<Metrics>,
}

impl WidgetOrigins {
    /// An empty cache; the first check reads the origins.
    pub fn new(ttl: Duration, metrics: Arc<Metrics>) -> Self {
        Self { loaded: RwLock::new(None), refresh: tokio::sync::Mutex::new(()), ttl, metrics }
    }

    /// The origins as last read, and whether they are still fresh.
    fn current(&self) -> Option<(Arc<HashSet<String>>, bool)> {
        let l = self.loaded.read().unwrap_or_else(|e| e.into_inner());
        l.as_ref().map(|l| (l.origins.clone(), l.at.elapsed() < self.ttl))
    }

    /// Whether `origin` is a registered widget origin (exact match). Reads the database only
    /// when the set is older than its time to live; a failed read keeps the older set
    /// for another time to live.
    pub async fn contains(&self, db: &Db, origin: &str) -> bool {
        let stale = match self.current() {
            Some((origins, true)) => return origins.contains(origin),
            Some((origins, false)) => Some(origins),
            None => None,
        };
        let _guard = match (self.refresh.try_lock(), &stale) {
            (Ok(g), _) => g,
            // Another request is reading them: answer from the older set meanwhile.
            (Err(_), Some(origins)) => return origins.contains(origin),
            // Nothing read yet: wait for the read in flight.
            (Err(_), None) => self.refresh.lock().await,
        };
        if let Some((origins, true)) = self.current() {
            return origins.contains(origin);
        }
        self.metrics.widget_origin_load();
        let origins: Arc<HashSet<String>> = match db.widget_origins().await {
            Ok(list) => Arc::new(list.into_iter().collect()),
            Err(e) => {
                // Keep what was read before, and try again only after another time to live.
                tracing::warn!(error = %e, "cannot read the widget origins; using the ones read before");
                stale.unwrap_or_default()
            }
        };
        let found = origins.contains(origin);
        *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = Some(Loaded { origins, at: Instant::now() });
        found
    }

    /// Registers `origin` for `organization_id` in the database and in this process.
    pub async fn add(&self, db: &Db, organization_id: &str, origin: &str) -> ApiResult<()> {
        db.add_widget_origin(organization_id, origin).await?;
        let _guard = self.refresh.lock().await;
        let mut l = self.loaded.write().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = l.as_mut() {
            if !l.origins.contains(origin) {
                Arc::make_mut(&mut l.origins).insert(origin.to_string());
            }
        }
        Ok(())
    }
}
