//! The registered widget origins, held in memory for the CORS check.
//!
//! Every request with an `Origin` header is checked, so the check must not query the database:
//! the origins are loaded once and re-read when older than their time to live (replicas
//! register origins too), by one request while the others keep answering from the set they
//! have. An origin registered in this process is added at once.
//!
//! An origin belongs to the organization (and, for one registered with a workspace, the
//! workspace) that registered it: [`WidgetOrigins::allows`] answers for one caller, so an origin
//! of one organization never opens another organization's answers to that page.
//! [`WidgetOrigins::contains`] answers for anyone, for preflights, which carry no token.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::db::{Db, WidgetOrigin};
use crate::error::ApiResult;
use crate::metrics::Metrics;

/// Who registered an origin: an organization, and one of its workspaces or none (all).
type Owner = (String, Option<String>);

/// Origin -> who registered it.
type Origins = HashMap<String, HashSet<Owner>>;

/// The origins and when they were read.
struct Loaded {
    origins: Arc<Origins>,
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

fn index(list: Vec<WidgetOrigin>) -> Origins {
    let mut out = Origins::new();
    for o in list {
        out.entry(o.origin).or_default().insert((o.organization_id, o.workspace_id));
    }
    out
}

impl WidgetOrigins {
    /// An empty cache; the first check reads the origins.
    pub fn new(ttl: Duration, metrics: Arc<Metrics>) -> Self {
        Self { loaded: RwLock::new(None), refresh: tokio::sync::Mutex::new(()), ttl, metrics }
    }

    /// The origins as last read, and whether they are still fresh.
    fn current(&self) -> Option<(Arc<Origins>, bool)> {
        let l = self.loaded.read().unwrap_or_else(|e| e.into_inner());
        l.as_ref().map(|l| (l.origins.clone(), l.at.elapsed() < self.ttl))
    }

    /// The origins, read from the database only when older than their time to live; a failed
    /// read keeps the older set for another time to live.
    async fn origins(&self, db: &Db) -> Arc<Origins> {
        let stale = match self.current() {
            Some((origins, true)) => return origins,
            Some((origins, false)) => Some(origins),
            None => None,
        };
        let _guard = match (self.refresh.try_lock(), &stale) {
            (Ok(g), _) => g,
            // Another request is reading them: answer from the older set meanwhile.
            (Err(_), Some(origins)) => return origins.clone(),
            // Nothing read yet: wait for the read in flight.
            (Err(_), None) => self.refresh.lock().await,
        };
        if let Some((origins, true)) = self.current() {
            return origins;
        }
        self.metrics.widget_origin_load();
        let origins: Arc<Origins> = match db.widget_origins().await {
            Ok(list) => Arc::new(index(list)),
            Err(e) => {
                // Keep what was read before, and try again only after another time to live.
                tracing::warn!(error = %e, "cannot read the widget origins; using the ones read before");
                stale.unwrap_or_default()
            }
        };
        *self.loaded.write().unwrap_or_else(|e| e.into_inner()) =
            Some(Loaded { origins: origins.clone(), at: Instant::now() });
        origins
    }

    /// Whether any organization registered `origin` (exact match). For preflights only: they
    /// carry no token, and answering one reveals nothing.
    pub async fn contains(&self, db: &Db, origin: &str) -> bool {
        self.origins(db).await.contains_key(origin)
    }

    /// Whether `organization_id` registered `origin` (exact match): for the whole organization,
    /// or for `workspace_id` when one is given (a widget token's workspace). `None` accepts a
    /// registration of any workspace of the organization (application and scoped tokens).
    pub async fn allows(&self, db: &Db, origin: &str, organization_id: &str, workspace_id: Option<&str>) -> bool {
        let origins = self.origins(db).await;
        let Some(owners) = origins.get(origin) else { return false };
        owners.iter().any(|(org, ws)| {
            org == organization_id && (ws.is_none() || workspace_id.is_none() || ws.as_deref() == workspace_id)
        })
    }

    /// Registers `origin` for one workspace of `organization_id` (`None`: all of them), in the
    /// database and in this process, unless it is new to the organization and the organization
    /// has `max` origins already ([`Db::add_widget_origin_in`]): whether it is registered.
    pub async fn add_in(
        &self,
        db: &Db,
        organization_id: &str,
        workspace_id: Option<&str>,
        origin: &str,
        max: i64,
    ) -> ApiResult<bool> {
        if !db.add_widget_origin_in(organization_id, workspace_id, origin, max).await? {
            return Ok(false);
        }
        let _guard = self.refresh.lock().await;
        let mut l = self.loaded.write().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = l.as_mut() {
            let owner = (organization_id.to_string(), workspace_id.map(str::to_string));
            if !l.origins.get(origin).is_some_and(|o| o.contains(&owner)) {
                Arc::make_mut(&mut l.origins).entry(origin.to_string()).or_default().insert(owner);
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(org: &str, ws: Option<&str>, origin: &str) -> WidgetOrigin {
        WidgetOrigin { organization_id: org.into(), workspace_id: ws.map(str::to_string), origin: origin.into() }
    }

    #[tokio::test]
    async fn origins_answer_only_for_the_organization_and_workspace_that_registered_them() {
        let dir = std::env::temp_dir().join(format!("sb-origins-{}", uuid::Uuid::new_v4()));
        let db = Db::open(None, &dir).await.unwrap_or_else(|e| panic!("{e}"));
        let cache = WidgetOrigins::new(Duration::from_secs(600), Arc::new(Metrics::default()));
        for (org, ws, origin) in [("b", None, "https://b.example"), ("c", Some("w1"), "https://c.example")] {
            db.add_widget_origin_in(org, ws, origin, i64::MAX).await.unwrap_or_else(|e| panic!("{e}"));
        }
        assert!(cache.contains(&db, "https://b.example").await, "a preflight is answered for any registered origin");
        assert!(!cache.contains(&db, "https://nobody.example").await);
        assert!(cache.allows(&db, "https://b.example", "b", None).await);
        assert!(cache.allows(&db, "https://b.example", "b", Some("any")).await, "b registered it for all workspaces");
        assert!(!cache.allows(&db, "https://b.example", "a", None).await, "a never registered it");
        assert!(cache.allows(&db, "https://c.example", "c", Some("w1")).await);
        assert!(cache.allows(&db, "https://c.example", "c", None).await);
        assert!(!cache.allows(&db, "https://c.example", "c", Some("w2")).await, "another workspace of c");
        // Added in this process: at once, for its owner only.
        cache.add_in(&db, "a", Some("w9"), "https://a.example", i64::MAX).await.unwrap_or_else(|e| panic!("{e:?}"));
        assert!(cache.allows(&db, "https://a.example", "a", Some("w9")).await);
        assert!(!cache.allows(&db, "https://a.example", "b", None).await);
        assert_eq!(index(vec![o("x", None, "https://x"), o("y", None, "https://x")]).len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
