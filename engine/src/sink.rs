//! The engine's OAuth token sink: refreshed tokens are stored (sealed, compare-and-swap on the
//! credential version) before the new access token is used, and a lease row makes one refresh
//! at a time per connector across every replica sharing the database.
//!
//! Against a provider whose refresh tokens are single use, the answer to a refresh is the only
//! copy of the new refresh token: a process that dies between the provider's rotation and the
//! write of its answer loses it, and no engine can get it back. So the window is kept short:
//! the answer is sealed and written first, before the lease is released or anything else is
//! done, on a connection held since before the request left (no wait for the pool), and
//! written again while storage is unavailable. And it is recorded: before sending, the refresh
//! is marked in flight for the credential version it spends ([`Db::mark_refresh_in_flight`]);
//! storing the answer clears the mark in the same statement. A mark found by a later refresh
//! means an earlier one died mid-way: if the provider then refuses the stored refresh token,
//! the connector needs re-authorization, and executions say so (`details.reason`
//! `refresh_interrupted`, see [`crate::services::execution`]).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde_json::{Map, Value};
use switchboard_core::{Error, ErrorCode, RefreshStart, TokenSink, TokenUpdate};

use crate::crypto::{random_token, KeyRing, Sealed};
use crate::db::{Db, Held, StoreResult};

/// How long a refresh lease lasts unless its holder renews it. The holder renews it every
/// third of that while its refresh runs, so a live refresh keeps its lease however slow the
/// token endpoint is, and a holder that died (killed mid-refresh) blocks others this long at most.
const LEASE_MS: i64 = 6_000;
/// How long a refresh renews its lease at most: the engine's request timeout, past which the
/// call holding it is gone.
const RENEW_AT_MOST: Duration = Duration::from_secs(120);
/// How long a refresh waits for another one to finish: longer than a dead holder's lease.
const WAIT: Duration = Duration::from_secs(20);
/// Pauses before writing refreshed tokens again while storage is unavailable (a database
/// restart): the process holds the only copy of a rotated refresh token, so it keeps trying
/// (each try may also wait up to the pool's 10 s for a connection).
const WRITE_RETRIES: [Duration; 3] = [Duration::from_millis(100), Duration::from_millis(500), Duration::from_secs(2)];

/// Stores refreshed credentials of one connector.
pub struct StoreSink {
    db: Db,
    keys: KeyRing,
    connector_id: String,
    /// The credential version this process holds.
    version: AtomicI64,
    /// The credentials as last stored (merged with each refresh).
    credentials: Mutex<Map<String, Value>>,
    /// The start of this handle's lease owner ids (a lease can only be released by its owner).
    owner_base: String,
    /// Refreshes begun, numbering the owner ids: one per refresh ([`StoreSink::owner`]), so a
    /// late release of an abandoned refresh's lease never lets go of a later refresh's.
    refreshes: std::sync::atomic::AtomicU64,
    /// Renews our lease while a refresh runs; stopped by `end_refresh`.
    renewer: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The refresh in progress, from `begin_refresh` to `end_refresh`.
    current: Mutex<Option<InFlight>>,
}

/// One refresh this sink started.
struct InFlight {
    /// The credential version whose refresh token was sent.
    version: i64,
    /// An earlier refresh of that version had died mid-way (its mark was there already).
    interrupted_before: bool,
    /// When the request left; the answer is written this long after it was granted at most.
    sent: Instant,
    /// Whether the grant spends a refresh token (else nothing is lost if its answer is).
    spends: bool,
    /// Whether the provider granted new tokens (whether or not they were stored).
    granted: bool,
    /// Whether the answer was stored.
    stored: bool,
    /// A connection taken before the request left, so the answer is written without waiting
    /// for the pool (none when none was idle).
    held: Option<Held>,
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
            owner_base: random_token(12),
            refreshes: std::sync::atomic::AtomicU64::new(0),
            renewer: Mutex::new(None),
            current: Mutex::new(None),
        })
    }

    /// Writes the in-flight mark for our credential version, right before the request leaves,
    /// when the grant spends a refresh token (a client-credentials or JWT-bearer grant loses
    /// nothing if the process dies: no mark, so its failures are never read as "re-authorize").
    async fn mark_in_flight(&self, spends_refresh_token: bool) -> Result<(), Error> {
        let version = self.version.load(Ordering::SeqCst);
        let interrupted_before = spends_refresh_token
            && self.db.mark_refresh_in_flight(&self.connector_id, version).await.map_err(Self::internal)?;
        if interrupted_before {
            tracing::warn!(
                connector_id = %self.connector_id,
                "an earlier refresh of this connector's OAuth token died before storing the answer; \
                 trying the stored refresh token"
            );
        }
        let held = self.db.hold();
        let current = InFlight {
            version,
            interrupted_before,
            sent: Instant::now(),
            spends: spends_refresh_token,
            granted: false,
            stored: false,
            held,
        };
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(current);
        Ok(())
    }

    /// Keeps our lease alive until `end_refresh`.
    fn renew_lease(&self) {
        let (db, id, owner) = (self.db.clone(), self.connector_id.clone(), self.owner());
        let started = Instant::now();
        let task = tokio::spawn(async move {
            // A refresh whose call was dropped mid-way (the caller went away, the request timed
            // out) never reaches `end_refresh`: stop renewing after the longest a call may take.
            while started.elapsed() < RENEW_AT_MOST {
                tokio::time::sleep(Duration::from_millis(LEASE_MS as u64 / 3)).await;
                match db.try_lease(&id, &owner, LEASE_MS).await {
                    Ok(true) => {}
                    // Another replica holds it: the compare-and-swap still guards the write.
                    Ok(false) => return,
                    // Storage failed for a moment: the token request may still be out, so the
                    // lease is renewed again at the next turn rather than given up.
                    Err(e) => {
                        tracing::warn!(connector_id = %id, error = %e, "cannot renew a refresh lease; trying again")
                    }
                }
            }
        });
        if let Some(old) = self.renewer.lock().unwrap_or_else(|e| e.into_inner()).replace(task) {
            old.abort();
        }
    }

    /// The lease owner id of the refresh in progress (the last one begun).
    fn owner(&self) -> String {
        format!("{}.{}", self.owner_base, self.refreshes.load(Ordering::SeqCst))
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
        // Newer credentials without an access token (an operator stored a new refresh token or
        // client secret): this handle's refresh token may be the replaced one, and spending it
        // would lose the rotation. The call is retried on a handle of the stored credentials.
        let Some(access_token) = s("access_token") else {
            return Err(Error::new(
                ErrorCode::Conflict,
                "the connector's credentials changed during this call; retry the call",
            ));
        };
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

    /// Writes refreshed credentials (compare-and-swap on `expected`): on the connection held for
    /// this refresh, else on the pool's; again, on the pool's, while storage is unavailable.
    async fn write(&self, expected: i64, sealed: &Sealed) -> StoreResult<bool> {
        let mut held = self.current.lock().unwrap_or_else(|e| e.into_inner()).as_mut().and_then(|c| c.held.take());
        let mut result = self.db.swap_credentials_on(held.as_mut(), &self.connector_id, expected, sealed).await;
        drop(held);
        for pause in WRITE_RETRIES {
            match &result {
                Err(e) if e.is_unavailable() => {
                    tracing::warn!(connector_id = %self.connector_id, error = %e, "storing refreshed OAuth tokens; retrying");
                    tokio::time::sleep(pause).await;
                    result = match self.db.swap_credentials(&self.connector_id, expected, sealed).await {
                        // The connection may have broken after the first try committed: then
                        // what is stored is what we wrote.
                        Ok(false) => self
                            .db
                            .credentials(&self.connector_id)
                            .await
                            .map(|stored| stored.is_some_and(|(s, _)| s.ciphertext == sealed.ciphertext)),
                        other => other,
                    };
                }
                _ => break,
            }
        }
        result
    }
}

impl TokenSink for StoreSink {
    fn begin_refresh(&self, spends_refresh_token: bool) -> BoxFuture<'_, switchboard_core::Result<RefreshStart>> {
        Box::pin(async move {
            let started = Instant::now();
            self.refreshes.fetch_add(1, Ordering::SeqCst);
            let owner = self.owner();
            loop {
                if self.db.try_lease(&self.connector_id, &owner, LEASE_MS).await.map_err(Self::internal)? {
                    // Someone may have refreshed between our 401 and taking the lease.
                    let proceed = match self.stored_if_newer().await {
                        Ok(Some(update)) => Ok(RefreshStart::UseStored(update)),
                        Ok(None) => self.mark_in_flight(spends_refresh_token).await.map(|()| RefreshStart::Proceed),
                        Err(e) => Err(e),
                    };
                    match &proceed {
                        Ok(RefreshStart::Proceed) => self.renew_lease(),
                        Ok(RefreshStart::UseStored(_)) => {}
                        Err(_) => {
                            let _ = self.db.release_lease(&self.connector_id, &owner).await;
                        }
                    }
                    return proceed;
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
            if let Some(c) = self.current.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
                c.granted = true;
            }
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
            let written = Instant::now();
            if !self.write(expected, &sealed).await.map_err(Self::internal)? {
                return Err(Error::new(
                    ErrorCode::Conflict,
                    "the connector's credentials changed during a token refresh; retry the call",
                ));
            }
            self.version.store(expected + 1, Ordering::SeqCst);
            if let Some(c) = self.current.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
                c.stored = true;
                tracing::debug!(
                    connector_id = %self.connector_id,
                    exchange_us = (written - c.sent).as_micros() as u64,
                    write_us = written.elapsed().as_micros() as u64,
                    "refreshed OAuth tokens stored"
                );
            }
            Ok(())
        })
    }

    fn abandon_refresh(&self) {
        // The call went away mid-refresh: stop renewing the lease and let it go, so other
        // replicas and later calls need not wait out its renewals. The mark stays: whether the
        // provider rotated the refresh token is not known.
        if let Some(task) = self.renewer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
        self.current.lock().unwrap_or_else(|e| e.into_inner()).take();
        let (db, id, owner) = (self.db.clone(), self.connector_id.clone(), self.owner());
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = db.release_lease(&id, &owner).await;
            });
        }
    }

    fn end_refresh(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(task) = self.renewer.lock().unwrap_or_else(|e| e.into_inner()).take() {
                task.abort();
            }
            // The mark stands for a refresh whose rotation may be lost: one that ends here clears
            // its own, unless the provider granted tokens that could not be stored (storage
            // out of reach past the retries: the stored refresh token may be spent, and only this
            // process holds the new one). One that found an earlier refresh's mark keeps it
            // until tokens are stored (or the connector is reconnected), so every execution can
            // say the connector needs re-authorization.
            let current = self.current.lock().unwrap_or_else(|e| e.into_inner()).take();
            if current.as_ref().is_some_and(|c| c.spends && c.granted && !c.stored) {
                tracing::error!(
                    connector_id = %self.connector_id,
                    "refreshed OAuth tokens could not be stored: this process keeps them; the stored refresh token may be spent"
                );
            }
            if let Some(c) = current.filter(|c| !c.stored && !c.granted && !c.interrupted_before) {
                if let Err(e) = self.db.clear_refresh_in_flight(&self.connector_id, c.version).await {
                    tracing::warn!(connector_id = %self.connector_id, error = %e, "could not clear a refresh mark");
                }
            }
            if let Err(e) = self.db.release_lease(&self.connector_id, &self.owner()).await {
                tracing::warn!(connector_id = %self.connector_id, error = %e, "could not release a refresh lease");
            }
        })
    }
}
