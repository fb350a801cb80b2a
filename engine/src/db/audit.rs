//! Audit records written off the request path. An execution hands its record to a bounded queue
//! and answers; one writer task per database handle takes the records out and inserts them in
//! batches, one transaction per batch, at the latest `flush_interval` after the first record of
//! the batch came in (sooner when `max_batch` records are waiting), and whenever someone asks
//! for a flush ([`super::Db::flush_audit`]: graceful shutdown, and this process's own reads of
//! the audit log).
//!
//! What can be lost, and when it is said:
//! - A queue that stays full (storage slower than the requests for longer than the queue holds)
//!   makes a request wait up to `enqueue_wait` for room; past that its record is dropped,
//!   counted (`switchboard_audit_dropped_total`) and logged. The request itself is answered.
//! - A batch that cannot be written (storage down past three retries, about 2.6 s) is dropped,
//!   counted and logged the same way.
//! - A process killed with SIGKILL (or dying otherwise) loses the records it had not written:
//!   at most the last `flush_interval` of executions, plus a batch being written. A graceful
//!   stop (SIGTERM, Ctrl-C) writes them all before the process exits.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::AnyPool;
use tokio::sync::mpsc::error::{SendTimeoutError, TrySendError};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::time::Instant;

use super::{new_audit_id, Audit, StoreResult};
use crate::metrics::Metrics;

/// How the audit writer batches.
#[derive(Debug, Clone, Copy)]
pub struct AuditConfig {
    /// Longest a record waits in memory before its batch is written.
    pub flush_interval: Duration,
    /// Most records waiting to be written.
    pub capacity: usize,
    /// Longest a request waits for room in a full queue before its record is dropped.
    pub enqueue_wait: Duration,
    /// Most records written in one transaction.
    pub max_batch: usize,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            flush_interval: Duration::from_millis(200),
            capacity: 10_000,
            enqueue_wait: Duration::from_millis(100),
            max_batch: 512,
        }
    }
}

/// What became of one audit record handed to [`super::Db::audit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditOutcome {
    /// Queued for the writer task: written within the flush interval.
    Queued,
    /// Written before answering (no writer task runs on this handle).
    Written,
    /// Not written: the queue stayed full past the wait (counted and logged).
    Dropped,
}

/// Rows per INSERT statement: 12 columns each keeps a statement under SQLite's 999 parameters.
const ROWS_PER_STATEMENT: usize = 64;

/// Pauses before writing a batch again while storage is unavailable.
const WRITE_RETRIES: [Duration; 3] = [Duration::from_millis(100), Duration::from_millis(500), Duration::from_secs(2)];

#[derive(Debug)]
enum Msg {
    /// A record with its id and date (taken when it was queued, not when written).
    Record(Box<(String, Audit, String)>),
    /// Write everything queued before this, then answer.
    Flush(oneshot::Sender<()>),
}

/// The sending side of a writer task, shared by every clone of a [`super::Db`].
#[derive(Debug)]
pub(super) struct AuditQueue {
    tx: mpsc::Sender<Msg>,
    enqueue_wait: Duration,
    dropped: Arc<Dropped>,
    /// Wakes the writer while it collects a batch: a flush is waiting, or `max_batch` records.
    wake: Arc<Notify>,
    /// Records the writer has taken out of the queue into the batch it collects.
    held: Arc<AtomicUsize>,
    max_batch: usize,
}

/// Records dropped so far, and when a drop was last logged (drops are logged at most once a
/// second, with the count since the last line, so an overload does not flood the log).
#[derive(Debug)]
struct Dropped {
    metrics: Arc<Metrics>,
    since_logged: AtomicU64,
    last_log_ms: AtomicU64,
    start: std::time::Instant,
}

impl Dropped {
    fn add(&self, n: u64, why: &str) {
        self.metrics.audit_dropped(n);
        self.since_logged.fetch_add(n, Ordering::Relaxed);
        let now = self.start.elapsed().as_millis() as u64;
        let last = self.last_log_ms.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= 1000)
            && self.last_log_ms.compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            let n = self.since_logged.swap(0, Ordering::Relaxed);
            tracing::error!(records = n, reason = why, "audit records dropped");
        }
    }
}

impl AuditQueue {
    /// Starts the writer task on the current tokio runtime, writing through `writer`.
    pub(super) fn start(writer: Writer, config: AuditConfig, metrics: Arc<Metrics>) -> Self {
        let (tx, rx) = mpsc::channel(config.capacity.max(1));
        let dropped = Arc::new(Dropped {
            metrics,
            since_logged: AtomicU64::new(0),
            last_log_ms: AtomicU64::new(0),
            start: std::time::Instant::now(),
        });
        let (wake, held) = (Arc::new(Notify::new()), Arc::new(AtomicUsize::new(0)));
        let batching = Batching { wake: wake.clone(), held: held.clone() };
        tokio::spawn(run(writer, rx, config, dropped.clone(), batching));
        Self { tx, enqueue_wait: config.enqueue_wait, dropped, wake, held, max_batch: config.max_batch.max(1) }
    }

    /// After a record went in: a full batch wakes the writer before its deadline.
    fn queued(&self) -> AuditOutcome {
        let queued = self.tx.max_capacity() - self.tx.capacity();
        if queued + self.held.load(Ordering::Relaxed) >= self.max_batch {
            self.wake.notify_one();
        }
        AuditOutcome::Queued
    }

    /// Queues `a` dated `at`; `Err` with the record when the writer task is gone (the runtime is
    /// stopping).
    pub(super) async fn push(&self, a: Audit, at: String) -> Result<AuditOutcome, Option<Audit>> {
        let msg = Msg::Record(Box::new((new_audit_id(), a, at)));
        let msg = match self.tx.try_send(msg) {
            Ok(()) => return Ok(self.queued()),
            Err(TrySendError::Full(msg)) => {
                self.wake.notify_one();
                msg
            }
            Err(TrySendError::Closed(msg)) => return Err(msg.into_record()),
        };
        match self.tx.send_timeout(msg, self.enqueue_wait).await {
            Ok(()) => Ok(self.queued()),
            Err(SendTimeoutError::Timeout(_)) => {
                self.dropped.add(1, "the audit queue stayed full");
                Ok(AuditOutcome::Dropped)
            }
            Err(SendTimeoutError::Closed(msg)) => Err(msg.into_record()),
        }
    }

    /// Waits until every record queued before the call is written (or dropped as unwritable).
    pub(super) async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            self.wake.notify_one();
            let _ = wait.await;
        }
    }
}

impl Drop for AuditQueue {
    /// The last handle gone: the writer, perhaps collecting a batch, writes it now and ends.
    fn drop(&mut self) {
        self.wake.notify_one();
    }
}

impl Msg {
    fn into_record(self) -> Option<Audit> {
        match self {
            Msg::Record(r) => Some(r.1),
            Msg::Flush(_) => None,
        }
    }
}

/// The writer task. Idle, it waits for a record (or a flush request). From the first record of
/// a batch it stops reading the queue, so the records that follow do not wake it one by one
/// (each wake of another task is a thread hand-off on the request path), and sleeps until the
/// batch is `flush_interval` old, or until a sender wakes it: `max_batch` records wait, the queue
/// is full, or a flush is asked for. Then it takes everything queued and writes it, `max_batch`
/// records per transaction, and answers the flushes among them. When every sender is gone it
/// writes what is left and ends.
async fn run(writer: Writer, mut rx: mpsc::Receiver<Msg>, config: AuditConfig, dropped: Arc<Dropped>, b: Batching) {
    let max_batch = config.max_batch.max(1);
    let mut batch: Vec<(String, Audit, String)> = Vec::new();
    let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
    loop {
        let Some(first) = rx.recv().await else { return };
        take(first, &mut batch, &mut flushes);
        let mut open = true;
        b.held.store(batch.len(), Ordering::Relaxed);
        if flushes.is_empty() {
            let deadline = tokio::time::sleep_until(Instant::now() + config.flush_interval);
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    () = &mut deadline => break,
                    () = b.wake.notified() => {
                        open &= drain(&mut rx, &mut batch, &mut flushes);
                        b.held.store(batch.len(), Ordering::Relaxed);
                        if !open || !flushes.is_empty() || batch.len() >= max_batch {
                            break;
                        }
                    }
                }
            }
        }
        // Everything queued by now goes too (at most the queue's capacity), one transaction per
        // `max_batch` records; a flush taken is answered once every record before it is written.
        open &= drain(&mut rx, &mut batch, &mut flushes);
        for chunk in batch.chunks(max_batch) {
            write(&writer, chunk, &dropped).await;
        }
        batch.clear();
        b.held.store(0, Ordering::Relaxed);
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
        if !open {
            return;
        }
    }
}

/// What the writer shares with the senders while it collects a batch.
struct Batching {
    wake: Arc<Notify>,
    held: Arc<AtomicUsize>,
}

/// Files one message: a record into the batch, a flush request among those to answer.
fn take(msg: Msg, batch: &mut Vec<(String, Audit, String)>, flushes: &mut Vec<oneshot::Sender<()>>) {
    match msg {
        Msg::Record(r) => batch.push(*r),
        Msg::Flush(done) => flushes.push(done),
    }
}

/// Takes everything the queue holds now; `false` when every sender is gone and it is empty.
fn drain(
    rx: &mut mpsc::Receiver<Msg>,
    batch: &mut Vec<(String, Audit, String)>,
    flushes: &mut Vec<oneshot::Sender<()>>,
) -> bool {
    loop {
        match rx.try_recv() {
            Ok(msg) => take(msg, batch, flushes),
            Err(mpsc::error::TryRecvError::Empty) => return true,
            Err(mpsc::error::TryRecvError::Disconnected) => return false,
        }
    }
}

/// Writes `batch` in one transaction; retried while storage is unavailable,
/// then dropped (counted and logged).
async fn write(writer: &Writer, batch: &[(String, Audit, String)], dropped: &Dropped) {
    if batch.is_empty() {
        return;
    }
    let mut retries = WRITE_RETRIES.iter();
    let mut again = false;
    loop {
        match insert(writer, batch, again).await {
            Ok(()) => break,
            Err(e) => match retries.next() {
                Some(pause) if e.is_unavailable() => {
                    tracing::warn!(records = batch.len(), error = %e, "storage unavailable; writing the audit records again shortly");
                    tokio::time::sleep(*pause).await;
                    again = true;
                }
                _ => {
                    tracing::error!(records = batch.len(), error = %e, "could not write audit records");
                    dropped.add(batch.len() as u64, "storage refused the batch");
                    break;
                }
            },
        }
    }
}

/// Where the writer task writes.
pub(super) struct Writer {
    pool: AnyPool,
    /// PostgreSQL: a connection of the writer's own, through which each batch goes in by
    /// `COPY` (about 6 µs of the server's CPU per record here, against 12-14 for the same
    /// records by multi-row INSERTs, which the server parses, plans and runs row by row).
    copy: Option<PgPool>,
}

impl Writer {
    /// Writes into `pool`; on PostgreSQL (`copy`: the database's connection options) by `COPY`
    /// through a connection of its own, opened on first use.
    pub(super) fn new(pool: AnyPool, copy: Option<PgConnectOptions>) -> Self {
        let copy = copy.map(|options| {
            PgPoolOptions::new()
                .max_connections(1)
                .min_connections(0)
                .acquire_timeout(Duration::from_secs(10))
                .connect_lazy_with(options)
        });
        Self { pool, copy }
    }
}

/// The columns a batch writes, in the order of each row's values.
const COLUMNS: &str =
    "id, organization_id, workspace_id, connector_id, token_kind, entity, action, status, error_code, latency_ms, request_id, created_at";

/// Writes `batch` in one transaction. `again`: an earlier attempt failed, and may have been
/// stored all the same (its commit's answer lost); a record already there is skipped by its id.
pub(super) async fn insert(w: &Writer, batch: &[(String, Audit, String)], again: bool) -> StoreResult<()> {
    match &w.copy {
        Some(pg) => copy_in(pg, batch, again).await,
        None => insert_values(&w.pool, batch).await,
    }
}

/// PostgreSQL: the batch as one `COPY` (one statement, so one transaction); on another attempt,
/// without the records the first one stored.
async fn copy_in(pg: &PgPool, batch: &[(String, Audit, String)], again: bool) -> StoreResult<()> {
    let mut conn = pg.acquire().await?;
    let stored: std::collections::HashSet<String> = if again {
        let ids: Vec<&str> = batch.iter().map(|(id, ..)| id.as_str()).collect();
        sqlx::query_scalar("SELECT id FROM audit_log WHERE id = ANY($1)")
            .bind(ids)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect()
    } else {
        std::collections::HashSet::new()
    };
    let mut text = String::with_capacity(batch.len() * 256);
    for (id, a, at) in batch.iter().filter(|(id, ..)| !stored.contains(id)) {
        let latency = a.latency_ms.to_string();
        let fields = [
            Some(id.as_str()),
            Some(&a.organization_id),
            a.workspace_id.as_deref(),
            a.connector_id.as_deref(),
            Some(&a.token_kind),
            Some(&a.entity),
            Some(&a.action),
            Some(&a.status),
            a.error_code.as_deref(),
            Some(&latency),
            Some(&a.request_id),
            Some(at.as_str()),
        ];
        for (i, field) in fields.into_iter().enumerate() {
            if i > 0 {
                text.push('\t');
            }
            copy_field(&mut text, field);
        }
        text.push('\n');
    }
    if text.is_empty() {
        return Ok(());
    }
    let mut copy = conn.copy_in_raw(&format!("COPY audit_log ({COLUMNS}) FROM STDIN")).await?;
    if let Err(e) = copy.send(text.as_bytes()).await {
        let _ = copy.abort("the audit batch could not be sent").await;
        return Err(e.into());
    }
    copy.finish().await?;
    Ok(())
}

/// One field of a line of `COPY` text: `\N` for none; a backslash, tab, newline or carriage
/// return escaped, and a NUL (which the server's text cannot hold) as U+FFFD.
fn copy_field(out: &mut String, field: Option<&str>) {
    let Some(text) = field else {
        out.push_str("\\N");
        return;
    };
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(super::storable(c)),
        }
    }
}

/// SQLite: the batch as multi-row INSERTs with anonymous `?` placeholders (binding looks every
/// named or numbered parameter up by a linear scan of the statement's names, so `$n` would cost
/// a batch of 768 parameters about 300,000 comparisons) in one transaction. A record already
/// there (a retry after a commit whose answer was lost) is skipped by its id.
async fn insert_values(pool: &AnyPool, batch: &[(String, Audit, String)]) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    for chunk in batch.chunks(ROWS_PER_STATEMENT) {
        let mut sql = format!("INSERT INTO audit_log ({COLUMNS}) VALUES ");
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        }
        sql.push_str(" ON CONFLICT (id) DO NOTHING");
        let mut q = sqlx::query(&sql);
        for (id, a, at) in chunk {
            q = q
                .bind(id)
                .bind(&a.organization_id)
                .bind(&a.workspace_id)
                .bind(&a.connector_id)
                .bind(&a.token_kind)
                .bind(&a.entity)
                .bind(&a.action)
                .bind(&a.status)
                .bind(&a.error_code)
                .bind(a.latency_ms)
                .bind(&a.request_id)
                .bind(at);
        }
        q.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}
