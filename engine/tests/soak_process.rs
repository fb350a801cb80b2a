//! A longer soak of a real `switchboard serve` process, outside the default test run:
//!
//! ```bash
//! cargo test --profile ci -p switchboard-engine --test soak_process -- --ignored --nocapture
//! ```
//!
//! `SOAK_SECONDS` (600) of bounded load on loopback: `SOAK_CONCURRENCY` (16) loops of executes
//! (GitHub and Stripe, list and get) against the fake upstream, through an engine on SQLite whose
//! rate limits are raised out of the way. Every 10 s it prints the executes so far, the engine's
//! resident set (`VmRSS`) and the size of the SQLite files. After a warm-up of a tenth of the
//! run (at least 30 s), every answer must be 200 and the final RSS under 1.10 x the RSS at the
//! end of the warm-up.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use common::serve::Serve;
use common::TempDir;
use fake_upstream::{creds, FakeUpstream};
use serde_json::{json, Value};

const LIMIT: &str = "100000";
const SAMPLE: Duration = Duration::from_secs(10);
/// The application token lives 15 minutes; a new one is fetched well before.
const RENEW: Duration = Duration::from_secs(300);

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// The size of the SQLite database file and its write-ahead log, in bytes.
fn sqlite_bytes(dir: &std::path::Path) -> u64 {
    let size = |f: &str| std::fs::metadata(dir.join(f)).map(|m| m.len()).unwrap_or(0);
    size("switchboard.db") + size("switchboard.db-wal")
}

async fn post(client: &reqwest::Client, url: &str, token: Option<&str>, body: &Value) -> Result<(u16, Value), String> {
    let mut rb = client.post(url).json(body);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    let resp = rb.send().await.map_err(|e| format!("POST {url}: {e}"))?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(|e| format!("POST {url}: {e}"))?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
}

async fn connector(client: &reqwest::Client, s: &Serve, token: &str, body: Value) -> String {
    let (status, a) = post(client, &format!("{}/api/v1/integrations/connectors", s.base), Some(token), &body)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, 201, "{a}");
    a["id"].as_str().unwrap_or_default().to_string()
}

#[derive(Default)]
struct Counts {
    executes: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Counts {
    fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
        first.get_or_insert(what);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "ten minutes long: run with --ignored (see the README)"]
async fn serve_rss_levels_off_under_load() {
    let secs = env_u64("SOAK_SECONDS", 600).max(1);
    let concurrency = env_u64("SOAK_CONCURRENCY", 16).max(1);
    let warmup = (secs / 10).max(30).min(secs);
    let dir = TempDir::new();
    let data = dir.0.join("data");
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    // Limits raised so the soak measures the engine, not 429s; warn-level logs only.
    let env: Vec<(&str, &str)> = [
        "SWITCHBOARD_RATE_LIMIT",
        "SWITCHBOARD_RATE_BURST",
        "SWITCHBOARD_TOKEN_RATE_LIMIT",
        "SWITCHBOARD_TOKEN_RATE_BURST",
        "SWITCHBOARD_TOKEN_ADDRESS_RATE_LIMIT",
        "SWITCHBOARD_TOKEN_ADDRESS_RATE_BURST",
    ]
    .into_iter()
    .map(|k| (k, LIMIT))
    .chain([("SWITCHBOARD_LOG", "warn")])
    .collect();
    let serve = tokio::task::block_in_place(|| Serve::start(&data, None, &env));
    let (client_id, client_secret) = serve.first_creds();
    let client = reqwest::Client::builder().no_proxy().build().unwrap_or_else(|e| panic!("{e}"));

    let token = serve.app_token(&client_id, &client_secret).await;
    let github = connector(
        &client,
        &serve,
        &token,
        json!({"connector_type": "github", "workspace_name": "soak",
               "credentials": {"personal_access_token": creds::GITHUB_TOKEN},
               "replication_config": {"repositories": ["octo/hello"]},
               "config": {"base_url": fake.base_url("github")}}),
    )
    .await;
    let stripe = connector(
        &client,
        &serve,
        &token,
        json!({"connector_type": "stripe", "workspace_name": "soak",
               "credentials": {"api_key": creds::STRIPE_KEY},
               "config": {"base_url": fake.base_url("stripe")}}),
    )
    .await;
    let exec = |id: &str| format!("{}/api/v1/integrations/connectors/{id}/execute", serve.base);
    let calls: Arc<Vec<(String, Value)>> = Arc::new(vec![
        (
            exec(&github),
            json!({"entity": "issues", "action": "list", "params": {"owner": "octo", "repo": "hello", "per_page": 5}}),
        ),
        (
            exec(&github),
            json!({"entity": "issues", "action": "get", "params": {"owner": "octo", "repo": "hello", "number": 1}}),
        ),
        (exec(&stripe), json!({"entity": "customers", "action": "list", "params": {"limit": 5}})),
        (exec(&stripe), json!({"entity": "customers", "action": "get", "params": {"id": "cus_0003"}})),
    ]);

    let token = Arc::new(RwLock::new(token));
    let done = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let (client, calls, token, done, counts) =
                (client.clone(), calls.clone(), token.clone(), done.clone(), counts.clone());
            tokio::spawn(async move {
                let mut i = w as usize;
                while !done.load(Ordering::Relaxed) {
                    let (url, body) = &calls[i % calls.len()];
                    i += 1;
                    let t = token.read().unwrap_or_else(|e| e.into_inner()).clone();
                    match post(&client, url, Some(&t), body).await {
                        Ok((200, _)) => {}
                        Ok((status, a)) => counts.error(format!("{status} on {body}: {a}")),
                        Err(e) => counts.error(e),
                    }
                    counts.executes.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    println!("{:>5} {:>10} {:>10} {:>12}", "secs", "executes", "rss KiB", "sqlite bytes");
    let started = Instant::now();
    let mut renewed = Instant::now();
    let mut warm_rss = None;
    let mut last_rss = 0;
    while started.elapsed() < Duration::from_secs(secs) {
        let left = Duration::from_secs(secs).saturating_sub(started.elapsed());
        tokio::time::sleep(SAMPLE.min(left)).await;
        // The in-process fake records every request; forget them so only the engine is measured.
        fake.clear_requests();
        if renewed.elapsed() >= RENEW {
            let t = serve.app_token(&client_id, &client_secret).await;
            *token.write().unwrap_or_else(|e| e.into_inner()) = t;
            renewed = Instant::now();
        }
        let elapsed = started.elapsed().as_secs();
        last_rss = serve.rss_kib();
        assert!(last_rss > 0, "cannot read the engine's VmRSS");
        let warm_now = warm_rss.is_none() && elapsed >= warmup;
        if warm_now {
            warm_rss = Some(last_rss);
        }
        println!(
            "{:>5} {:>10} {:>10} {:>12}{}",
            elapsed,
            counts.executes.load(Ordering::Relaxed),
            last_rss,
            sqlite_bytes(&data),
            if warm_now { "  <- end of warm-up" } else { "" }
        );
    }
    done.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap_or_else(|e| panic!("{e}"));
    }

    let elapsed = started.elapsed().as_secs_f64();
    let total = counts.executes.load(Ordering::Relaxed);
    let errors = counts.errors.load(Ordering::Relaxed);
    let warm = warm_rss.unwrap_or(last_rss);
    let growth = (last_rss as f64 / warm as f64 - 1.0) * 100.0;
    println!(
        "soak: {total} executes in {elapsed:.0} s ({:.0}/s, concurrency {concurrency}), {errors} errors, \
         RSS {warm} KiB after {warmup} s warm-up -> {last_rss} KiB at the end ({growth:+.1}%)",
        total as f64 / elapsed
    );
    let first = counts.first_error.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(errors, 0, "every answer must be 200; first error: {}", first.unwrap_or_default());
    assert!(total > 0, "no executes ran");
    assert!(
        (last_rss as f64) < 1.10 * warm as f64,
        "the engine's RSS grew {growth:.1}% after the warm-up ({warm} -> {last_rss} KiB)"
    );
}
