//! The engine's OAuth token sink: refreshed tokens are stored (sealed, compare-and-swap on the
//! credential version) before the new access token is used, and a lease row makes one refresh
//! at a time per connector across every replica sharing the database.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde_json::{Map, Value};
use switchboard_core::{Error, ErrorCode, RefreshStart, TokenSink, TokenUpdate};

use crate::crypto::{random_token, KeyRing};
use crate::db::Db;

/// How long a refresh lease lasts unless its holder renews it. The holder renews it every
/// third of that while its refresh runs, so a live refresh keeps its lease however slow the
/// token endpoint is, and a holder that died (killed mid-refresh) blocks others this long at most.
const LEASE_MS: i64 = 6_000;
/// How long a refresh waits for another one to finish: longer than a dead holder's lease.
const WAIT: Duration = Duration::from_secs(20);

/// Stores refreshed credentials of one connector.
pub struct StoreSink {
    db: Db,
    keys: KeyRing,
    connector_id: String,
    /// The credential version this process holds.
    version: AtomicI64,
    /// The credentials as last stored (merged with each refresh).
    credentials: Mutex<Map<String, Value>>,
    /// Lease owner id of this handle (a lease can only be released by its owner).
    owner: String,
    /// Renews our lease while a refresh runs; stopped by `end_refresh`.
    renewer: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl StoreSink {
    pub fn new(
        db: Db,
        keys: KeyRing,
        connector_id: String,
        version: i64,
        credentials: Map<String, Value>,
    ) -> Arc<Self> {
        Arc::new(Self {
            db,
            keys,
            connector_id,
            version: AtomicI64::new(version),
            credentials: Mutex::new(credentials),
            owner: random_token(12),
            renewer: Mutex::new(None),
        })
    }

    /// Keeps our lease alive until `end_refresh`.
    fn renew_lease(&self) {
        let (db, id, owner) = (self.db.clone(), self.connector_id.clone(), self.owner.clone());
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(LEASE_MS as u64 / 3)).await;
                if !matches!(db.try_lease(&id, &owner, LEASE_MS).await, Ok(true)) {
                    return; // lost it (or storage failed): the compare-and-swap still guards the write
                }
            }
        });
        if let Some(old) = self.renewer.lock().unwrap_or_else(|e| e.into_inner()).replace(task) {
            old.abort();
        }
    }

    fn internal(e: impl std::fmt::Display) -> Error {
        Error::new(ErrorCode::Internal, format!("credential store: {e}"))
    }

    /// The stored tokens, if a newer version than ours is stored.
    async fn stored_if_newer(&self) -> Result<Option<TokenUpdate>, Error> {
        let Some((sealed, version)) = self.db.credentials(&self.connector_id).await.map_err(Self::internal)? else {
            return Err(Error::new(ErrorCode::NotFound, "the connector was deleted"));
        };
        if version <= self.version.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let plain = self.keys.open(&sealed, &self.connector_id).map_err(Self::internal)?;
        let creds: Map<String, Value> = serde_json::from_slice(&plain).unwrap_or_default();
        let s = |k: &str| creds.get(k).and_then(Value::as_str).map(str::to_string);
        let Some(access_token) = s("access_token") else { return Ok(None) };
        self.version.store(version, Ordering::SeqCst);
        let update = TokenUpdate {
            access_token,
            refresh_token: s("refresh_token"),
            expires_at: creds.get("expires_at").and_then(Value::as_i64),
            extracted: creds
                .iter()
                .filter(|(k, _)| k.as_str() == "instance_url")
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect(),
        };
        *self.credentials.lock().unwrap_or_else(|e| e.into_inner()) = creds;
        Ok(Some(update))
    }
}

impl TokenSink for StoreSink {
    fn begin_refresh(&self) -> BoxFuture<'_, switchboard_core::Result<RefreshStart>> {
        Box::pin(async move {
            let started = Instant::now();
            loop {
                if self.db.try_lease(&self.connector_id, &self.owner, LEASE_MS).await.map_err(Self::internal)? {
                    // Someone may have refreshed between our 401 and taking the lease.
                    return match self.stored_if_newer().await {
                        Ok(Some(update)) => Ok(RefreshStart::UseStored(update)),
                        Ok(None) => {
                            self.renew_lease();
                            Ok(RefreshStart::Proceed)
                        }
                        Err(e) => {
                            let _ = self.db.release_lease(&self.connector_id, &self.owner).await;
                            Err(e)
                        }
                    };
                }
                if let Some(update) = self.stored_if_newer().await? {
                    // Lease not ours; release nothing. end_refresh releases only our own lease.
                    return Ok(RefreshStart::UseStored(update));
                }
                if started.elapsed() > WAIT {
                    return Err(Error::new(
                        ErrorCode::UpstreamTimeout,
                        "another refresh of this connector's OAuth token did not finish in time",
                    ));
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    }

    fn token_refreshed(&self, update: TokenUpdate) -> BoxFuture<'_, switchboard_core::Result<()>> {
        Box::pin(async move {
            let plain = {
                let mut creds = self.credentials.lock().unwrap_or_else(|e| e.into_inner());
                creds.insert("access_token".into(), Value::String(update.access_token.clone()));
                if let Some(r) = &update.refresh_token {
                    creds.insert("refresh_token".into(), Value::String(r.clone()));
                }
                match update.expires_at {
                    Some(e) => creds.insert("expires_at".into(), Value::from(e)),
                    None => creds.remove("expires_at"),
                };
                for (k, v) in &update.extracted {
                    creds.insert(k.clone(), Value::String(v.clone()));
                }
                serde_json::to_vec(&*creds).map_err(|e| Error::internal(format!("cannot encode credentials: {e}")))?
            };
            let sealed = self.keys.seal(&plain, &self.connector_id).map_err(Self::internal)?;
            let expected = self.version.load(Ordering::SeqCst);
            if !self.db.swap_credentials(&self.connector_id, expected, &sealed).await.map_err(Self::internal)? {
                return Err(Error::new(
                    ErrorCode::Conflict,
                    "the connector's credentials changed during a token refresh; retry the call",
                ));
            }
            self.version.store(expected + 1, Ordering::SeqCst);
            Ok(())
        })
    }

    fn end_refresh(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(task) = self.renewer.lock().unwrap_or_else(|e| e.into_inner()).take() {
                task.abort();
            }
            if let Err(e) = self.db.release_lease(&self.connector_id, &self.owner).await {
                tracing::warn!(connector_id = %self.connector_id, error = %e, "could not release a refresh lease");
            }
        })
    }
}
