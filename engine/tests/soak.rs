//! A bounded soak of the audit retention policy, outside the default test run:
//!
//! ```bash
//! cargo test --profile ci -p switchboard-engine --test soak -- --ignored --nocapture
//! ```
//!
//! About a minute (`SWITCHBOARD_SOAK_SECS`) of executions on an embedded SQLite engine whose
//! audit log keeps at most 2,000 records, pruned every second in the background; every five
//! seconds it prints the executions so far, the audit records kept and the size of the SQLite
//! files, which level off once the pruner keeps up.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{call, start, Backend};
use fake_upstream::{creds, FakeUpstream};
use serde_json::json;
use switchboard_engine::services::execution::spawn_audit_pruner;

const MAX_ROWS: u64 = 2_000;
const WORKERS: usize = 8;

/// The sizes of the SQLite database file and of its write-ahead log, in bytes.
fn sqlite_bytes(dir: &std::path::Path) -> (u64, u64) {
    let size = |f: &str| std::fs::metadata(dir.join(f)).map(|m| m.len()).unwrap_or(0);
    (size("switchboard.db"), size("switchboard.db-wal"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a minute long: run with --ignored (see the README)"]
async fn audit_log_size_levels_off() {
    let secs: u64 = std::env::var("SWITCHBOARD_SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let Some(e) = start(Backend::Sqlite, |s| {
        s.audit_max_rows = MAX_ROWS;
        s.audit_prune_interval = Duration::from_secs(1);
    })
    .await
    else {
        return;
    };
    let pruner = spawn_audit_pruner(e.state.db.clone(), e.state.settings.clone());
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    let app = e.app_token().await;
    let id = e.github_connector(&app, Some("soak"), &fake.base_url("github"), creds::GITHUB_TOKEN).await;
    let url = e.url(&format!("/api/v1/integrations/connectors/{id}/execute"));

    let done = Arc::new(AtomicBool::new(false));
    let executed = Arc::new(AtomicU64::new(0));
    let slowest_ms = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (done, executed, slowest_ms) = (done.clone(), executed.clone(), slowest_ms.clone());
            let (url, app) = (url.clone(), app.clone());
            tokio::spawn(async move {
                let body = json!({"entity": "issues", "action": "list", "params": {"owner": "octo", "repo": "hello", "per_page": 1}});
                while !done.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let a = call("POST", &url, Some(&app), Some(body.clone()), &[]).await;
                    assert_eq!(a.status, 200, "{}", a.text);
                    slowest_ms.fetch_max(started.elapsed().as_millis() as u64, Ordering::Relaxed);
                    executed.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    println!(
        "{:>5} {:>10} {:>11} {:>10} {:>10} {:>11}",
        "secs", "executes", "audit rows", "db bytes", "wal bytes", "slowest ms"
    );
    let started = Instant::now();
    let mut sizes = Vec::new();
    while started.elapsed() < Duration::from_secs(secs) {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let rows = e.state.db.audit_count().await.unwrap_or_else(|e| panic!("{e:?}"));
        let (db, wal) = sqlite_bytes(&e.dir.0);
        sizes.push(db + wal);
        println!(
            "{:>5} {:>10} {:>11} {:>10} {:>10} {:>11}",
            started.elapsed().as_secs(),
            executed.load(Ordering::Relaxed),
            rows,
            db,
            wal,
            slowest_ms.swap(0, Ordering::Relaxed)
        );
    }
    done.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap_or_else(|e| panic!("{e}"));
    }
    pruner.abort();

    let total = executed.load(Ordering::Relaxed);
    let rows = e.state.db.audit_count().await.unwrap_or_else(|e| panic!("{e:?}")) as u64;
    println!("{total} executes, {rows} audit records kept (limit {MAX_ROWS})");
    assert!(total > 4 * MAX_ROWS, "too few executes ({total}) to fill the audit log several times over");
    // One second of executions may arrive between two passes of the pruner.
    let per_sec = total / secs.max(1);
    assert!(rows <= MAX_ROWS + 2 * per_sec, "{rows} records kept, limit {MAX_ROWS}");
    // Freed pages are reused: the files of the second half are barely larger than at its start.
    let (half, last) = (sizes[sizes.len() / 2], sizes[sizes.len() - 1]);
    assert!(last <= half + half / 4, "the SQLite files grew from {half} to {last} bytes in the second half");
}
