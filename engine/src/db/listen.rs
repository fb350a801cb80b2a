//! On PostgreSQL, replicas share the connector rows, so a replica may keep rows in memory
//! ([`super::cache`]) only while it hears of every change another replica (or anyone) makes.
//! A trigger on `connectors` (migration 8) announces each changed or deleted row's id on the
//! channel `switchboard_connectors` when its transaction commits; each engine holds one
//! connection that listens on it and drops the announced rows from its cache.
//!
//! The cache is on only while that connection listens: it is switched on after `LISTEN` has
//! been answered (so no change committed after that goes unheard) and off, with every kept row
//! dropped, as soon as the connection is found lost (an announcement made while nobody listened
//! is never delivered), then on again once a new connection listens. While it is off, every
//! execution reads its row as before. A connection quiet for 2 s is pinged, and one that does
//! not answer within 2 s more counts as lost, so one gone without a sound (no error, no close)
//! is found within 4 s; the cache's time to live bounds what even that leaves. What another
//! replica's change leaves stale here is the time its announcement takes to arrive (on one
//! 2-core host, 300 announcements: 0-33 µs after the announcing statement was answered at the
//! median, 0.12 ms at p90, 0.2-3 ms at p99). A `TRUNCATE` is announced as `*` and drops every
//! row. `SECURITY.md` (connector rows kept in memory) says what that window allows.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};

use super::cache::ConnectorCache;
use super::Target;

/// The channel the trigger announces changed connector ids on.
pub(crate) const CHANNEL: &str = "switchboard_connectors";

/// How long the listening connection may stay quiet before it is pinged, and how long the ping
/// may take before the connection counts as lost.
const QUIET: Duration = Duration::from_secs(2);

/// The `application_name` of the listening connection, as `pg_stat_activity` shows it.
pub const APPLICATION_NAME: &str = "switchboard-connector-changes";

/// The listening task of one engine's database handle; stops when dropped.
#[derive(Debug)]
pub(super) struct ChangeListener {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ChangeListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ChangeListener {
    /// Listens on the database `options` name (on the current runtime), keeping `cache` on for
    /// `ttl` and `capacity` rows while it hears, off while it does not.
    pub(super) fn start(target: Target, cache: Arc<ConnectorCache>, ttl: Duration, capacity: usize) -> Self {
        let task = tokio::spawn(async move {
            // `Target::parse` made the same conversion when the database was opened.
            let options = match PgConnectOptions::try_from(&target.named(APPLICATION_NAME)) {
                Ok(options) => options,
                Err(e) => {
                    tracing::warn!(error = %super::redact_url(&e.to_string()), "cannot listen for connector changes; reading connectors from the database");
                    return;
                }
            };
            let mut pause = Duration::from_millis(100);
            loop {
                match listen(&options).await {
                    Ok(mut listener) => {
                        pause = Duration::from_millis(100);
                        cache.enable(ttl, capacity);
                        // Ends with the connection: `Ok(None)` when it was lost (no eager
                        // reconnection: a new listener is made below), `Err` otherwise, or a
                        // ping unanswered after a quiet spell (a connection gone without a
                        // sound). `try_recv` is cancel-safe: a message is taken from the
                        // socket's buffer whole or not at all.
                        let why = loop {
                            match tokio::time::timeout(QUIET, listener.try_recv()).await {
                                Ok(Ok(Some(change))) if change.payload() == "*" => cache.forget_all(),
                                Ok(Ok(Some(change))) => cache.forget(change.payload()),
                                Ok(Ok(None)) => break "connection lost".to_string(),
                                Ok(Err(e)) => break super::redact_url(&e.to_string()),
                                Err(_) => {
                                    match tokio::time::timeout(QUIET, sqlx::query("SELECT 1").execute(&mut listener))
                                        .await
                                    {
                                        // Announcements that came meanwhile wait in the listener.
                                        Ok(Ok(_)) => {}
                                        Ok(Err(e)) => break super::redact_url(&e.to_string()),
                                        Err(_) => break "a ping went unanswered".to_string(),
                                    }
                                }
                            }
                        };
                        cache.enable(Duration::ZERO, capacity);
                        tracing::warn!(reason = %why, "stopped hearing of connector changes; reading connectors from the database until listening again");
                    }
                    Err(e) => {
                        cache.enable(Duration::ZERO, capacity);
                        tracing::warn!(error = %super::redact_url(&e.to_string()), "cannot listen for connector changes; reading connectors from the database");
                    }
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        });
        Self { task }
    }
}

/// A connection listening on [`CHANNEL`] (its `LISTEN` answered).
async fn listen(options: &PgConnectOptions) -> Result<PgListener, sqlx::Error> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(10))
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_with(options.clone())
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.eager_reconnect(false);
    listener.ignore_pool_close_event(true);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
