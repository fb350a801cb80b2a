//! Context store leases across processes: two real `switchboard serve` processes on one main
//! store (PostgreSQL, then one SQLite file) and one data dir are both asked to sync the same
//! connector entity; exactly one syncs (the other answers `already_running` and fetches
//! nothing). The syncing one is killed with SIGKILL mid-sync; once its lease expires, the other
//! resumes from the last committed page by itself: every record stored once, no page fetched
//! twice but the one in flight at the kill.
//!
//! The fake here plays Stripe's customer list (`limit`, `starting_after`, `has_more`) with a
//! delay per page, so the sync lasts long enough to be killed mid-way.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use common::serve::Serve;
use common::{call, postgres_database, Answer, TempDir};
use serde_json::{json, Value};
use switchboard_engine::crypto::Key;

/// Records of the fake's list.
const N: usize = 12_000;
/// The lease lifetime the engines run with, in seconds.
const LEASE_SECONDS: u64 = 3;

struct Fake {
    total: usize,
    /// Pages served.
    pages: AtomicUsize,
    delay: Duration,
}

fn record(i: usize) -> Value {
    json!({"id": format!("cus_{i:06}"), "object": "customer", "created": 1_600_000_000 + i as i64,
        "email": format!("c{i}@example.org"), "balance": (i % 997) as i64 - 400})
}

async fn customers(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !auth.starts_with("Bearer ") || auth.len() <= 7 {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": {"message": "no key"}}))).into_response();
    }
    let limit = q.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(10).clamp(1, 100);
    let after = match q.get("starting_after").map(|c| c.strip_prefix("cus_").and_then(|n| n.parse::<usize>().ok())) {
        None => 0,
        Some(Some(n)) => n,
        Some(None) => {
            return (StatusCode::BAD_REQUEST, Json(json!({"error": {"message": "bad cursor"}}))).into_response()
        }
    };
    tokio::time::sleep(fake.delay).await;
    fake.pages.fetch_add(1, Ordering::SeqCst);
    let last = (after + limit).min(fake.total);
    let data: Vec<Value> = (after + 1..=last).map(record).collect();
    Json(json!({"object": "list", "url": "/v1/customers", "has_more": last < fake.total, "data": data})).into_response()
}

async fn start_fake(total: usize, delay: Duration) -> (String, Arc<Fake>) {
    let fake = Arc::new(Fake { total, pages: AtomicUsize::new(0), delay });
    let app = axum::Router::new().route("/v1/customers", axum::routing::get(customers)).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), fake)
}

async fn sync(base: &str, token: &str, id: &str) -> Answer {
    let url = format!("{base}/api/v1/integrations/connectors/{id}/context-store/sync");
    call("POST", &url, Some(token), Some(json!({"entities": ["customers"]})), &[]).await
}

async fn status(base: &str, token: &str, id: &str) -> Value {
    let url = format!("{base}/api/v1/integrations/connectors/{id}/context-store/status");
    let a = call("GET", &url, Some(token), None, &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.body["entities"].as_array().and_then(|e| e.first()).cloned().unwrap_or(Value::Null)
}

async fn sql(base: &str, token: &str, id: &str, q: &str) -> Answer {
    let url = format!("{base}/api/v1/integrations/connectors/{id}/execute");
    let body = json!({"entity": "customers", "action": "context_store_sql_query", "params": {"sql": q}});
    call("POST", &url, Some(token), Some(body), &[]).await
}

/// Polls `base`'s status until the sync succeeded or failed.
async fn wait_finished(base: &str, token: &str, id: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let s = status(base, token, id).await;
        if s["status"] == "succeeded" || s["status"] == "failed" {
            return s;
        }
        assert!(Instant::now() < deadline, "the sync never finished: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn two_engines_one_store(database_url: Option<&str>) {
    let (fake_base, fake) = start_fake(N, Duration::from_millis(25)).await;
    let dir = TempDir::new();
    let key = Key::generate().to_base64();
    let lease = LEASE_SECONDS.to_string();
    let env = [("SWITCHBOARD_MASTER_KEY", key.as_str()), ("SWITCHBOARD_CONTEXT_STORE_LEASE_SECONDS", lease.as_str())];
    let a = tokio::task::block_in_place(|| Serve::start(&dir.0, database_url, &env));
    let b = tokio::task::block_in_place(|| Serve::start(&dir.0, database_url, &env));
    assert!(b.first.is_none(), "the second engine finds the store initialised");
    let (cid, secret) = a.first_creds();
    let token = a.app_token(&cid, &secret).await;
    let body = json!({"connector_type": "stripe", "name": "billing", "workspace_name": "ws-lease",
        "credentials": {"api_key": "sk_test_context_store_lease"}, "config": {"base_url": fake_base}});
    let c = call("POST", &a.url("/api/v1/integrations/connectors"), Some(&token), Some(body), &[]).await;
    assert_eq!(c.status, 201, "{}", c.text);
    let id = c.body["id"].as_str().unwrap_or_default().to_string();

    // Both engines asked at once: exactly one starts the sync.
    let (ra, rb) = tokio::join!(sync(&a.base, &token, &id), sync(&b.base, &token, &id));
    assert_eq!((ra.status, rb.status), (202, 202), "{} / {}", ra.text, rb.text);
    let (sa, sb) = (ra.body["entities"][0]["status"].clone(), rb.body["entities"][0]["status"].clone());
    let a_syncs = match (sa.as_str(), sb.as_str()) {
        (Some("started"), Some("already_running")) => true,
        (Some("already_running"), Some("started")) => false,
        other => panic!("exactly one engine must start the sync: {other:?} ({} / {})", ra.text, rb.text),
    };
    let (mut syncer, survivor) = if a_syncs { (a, b) } else { (b, a) };
    // Asked again while it runs, the other still refuses, and reports it running (not
    // interrupted: the lease is live).
    let again = sync(&survivor.base, &token, &id).await;
    assert_eq!(again.body["entities"][0]["status"], "already_running", "{}", again.text);

    loop {
        let s = status(&syncer.base, &token, &id).await;
        assert_eq!(s["status"], "running", "finished before the kill: {s}");
        if s["records_synced"].as_i64().unwrap_or(0) >= (N / 3) as i64 {
            let other = status(&survivor.base, &token, &id).await;
            assert_eq!(other["status"], "running", "the other engine sees the live lease: {other}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    syncer.kill();
    let pages_at_kill = fake.pages.load(Ordering::SeqCst);
    assert!(
        !survivor.logs().contains("resuming an interrupted context store sync"),
        "the other engine took over before the kill: {}",
        survivor.logs()
    );

    // The survivor resumes by itself once the lease expires.
    let done = wait_finished(&survivor.base, &token, &id, Duration::from_secs(120)).await;
    assert!(survivor.logs().contains("resuming an interrupted context store sync"), "{}", survivor.logs());
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["records_synced"], N, "{done}");
    assert_eq!(done["record_count"], N, "{done}");
    assert_eq!(done["pages"], N / 100, "{done}");
    assert_eq!(done["generation"], 1, "resumed, not restarted: {done}");
    let pages = fake.pages.load(Ordering::SeqCst);
    assert!((N / 100..=N / 100 + 1).contains(&pages), "{pages} pages fetched ({pages_at_kill} at the kill)");

    let q =
        sql(&survivor.base, &token, &id, "SELECT count(*) AS n, count(DISTINCT id) AS d, max(id) AS hi FROM customers")
            .await;
    assert_eq!(q.status, 200, "{}", q.text);
    assert_eq!(q.body["result"]["data"][0], json!({"n": N, "d": N, "hi": format!("cus_{N:06}")}), "{}", q.text);

    // The finished sync released its lease: a new full sync starts at once.
    let next = sync(&survivor.base, &token, &id).await;
    assert_eq!(next.body["entities"][0]["status"], "started", "{}", next.text);
    assert_eq!(next.body["entities"][0]["generation"], 2, "{}", next.text);
    let done = wait_finished(&survivor.base, &token, &id, Duration::from_secs(120)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["record_count"], N, "{done}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_engine_of_two_on_postgres_syncs_and_the_other_resumes_after_a_kill() {
    let Some(url) = postgres_database().await else { return };
    two_engines_one_store(Some(&url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_engine_of_two_on_one_sqlite_file_syncs_and_the_other_resumes_after_a_kill() {
    two_engines_one_store(None).await;
}
