//! Scheduled context store syncs, on SQLite and PostgreSQL main stores: `every_seconds` on the
//! sync request is validated, stored per connector entity and shown in the status
//! (`every_seconds`, `next_run_at`); the scheduler ([`sync::run_due`], which `serve` runs in a
//! loop) starts nothing before the run is due and, once due, a new full sync that deletes the
//! records gone at the provider; a second round at the same moment starts nothing (the run
//! moved its next time on); `every_seconds: null` removes the schedule.
//!
//! Time is moved on by calling the scheduler with a later "now", not by waiting a minute.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use common::{call, start, Answer, Backend};
use serde_json::{json, Value};
use switchboard_engine::context_store::sync;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Records at the fake.
const N: usize = 250;

#[derive(Default)]
struct Fake {
    deleted: Mutex<HashSet<usize>>,
    pages: AtomicUsize,
}

/// `GET /v1/customers`: Stripe's list (`limit`, `starting_after`, `has_more`) over customers
/// 1..=N less the deleted ones.
async fn customers(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    if headers.get("authorization").is_none() {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": {"message": "no key"}}))).into_response();
    }
    fake.pages.fetch_add(1, Ordering::SeqCst);
    let limit = q.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(10).clamp(1, 100);
    let after = q.get("starting_after").and_then(|c| c.strip_prefix("cus_")?.parse::<usize>().ok()).unwrap_or(0);
    let deleted = fake.deleted.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let live: Vec<usize> = (after + 1..=N).filter(|i| !deleted.contains(i)).collect();
    let data: Vec<Value> =
        live.iter().take(limit).map(|i| json!({"id": format!("cus_{i:06}"), "object": "customer"})).collect();
    Json(json!({"object": "list", "has_more": live.len() > limit, "data": data})).into_response()
}

async fn start_fake() -> (String, Arc<Fake>) {
    let fake = Arc::new(Fake::default());
    let app = axum::Router::new().route("/v1/customers", axum::routing::get(customers)).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), fake)
}

async fn post_sync(base: &str, token: &str, id: &str, body: Value) -> Answer {
    let url = format!("{base}/api/v1/integrations/connectors/{id}/context-store/sync");
    call("POST", &url, Some(token), Some(body), &[]).await
}

async fn status(base: &str, token: &str, id: &str) -> Value {
    let url = format!("{base}/api/v1/integrations/connectors/{id}/context-store/status");
    let a = call("GET", &url, Some(token), None, &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.body["entities"].as_array().and_then(|e| e.first()).cloned().unwrap_or(Value::Null)
}

async fn wait_done(base: &str, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = status(base, token, id).await;
        if s["status"] != "running" {
            return s;
        }
        assert!(Instant::now() < deadline, "the sync never finished: {s}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn unix_ms(rfc3339: &str) -> i64 {
    let t = OffsetDateTime::parse(rfc3339, &Rfc3339).unwrap_or_else(|e| panic!("{rfc3339:?}: {e}"));
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

async fn scheduled_syncs(backend: Backend) {
    let (fake_base, fake) = start_fake().await;
    let Some(e) = start(backend, |_| {}).await else { return };
    let token = e.app_token().await;
    let body = json!({"connector_type": "stripe", "name": "billing", "workspace_name": "ws-sched",
        "credentials": {"api_key": "sk_test_schedule"}, "config": {"base_url": fake_base}});
    let c = call("POST", &format!("{}/api/v1/integrations/connectors", e.base), Some(&token), Some(body), &[]).await;
    assert_eq!(c.status, 201, "{}", c.text);
    let id = c.body["id"].as_str().unwrap_or_default().to_string();

    // Schedules shorter than a minute, fractional or not numbers are refused, and start nothing.
    for bad in [json!(59), json!(0), json!(-60), json!(90.5), json!("3600"), json!(400 * 24 * 3600)] {
        let a = post_sync(&e.base, &token, &id, json!({"entities": ["customers"], "every_seconds": bad})).await;
        assert_eq!(a.status, 422, "{bad}: {}", a.text);
        assert_eq!(a.body["details"]["reason"], "invalid_schedule", "{bad}: {}", a.text);
    }
    assert_eq!(fake.pages.load(Ordering::SeqCst), 0, "a refused request synced");

    let asked_at = now_ms();
    let a = post_sync(&e.base, &token, &id, json!({"entities": ["customers"], "every_seconds": 3600})).await;
    assert_eq!(a.status, 202, "{}", a.text);
    assert_eq!(a.body["entities"][0]["status"], "started", "{}", a.text);
    let s = wait_done(&e.base, &token, &id).await;
    assert_eq!((s["status"].as_str(), s["record_count"].as_i64()), (Some("succeeded"), Some(N as i64)), "{s}");
    assert_eq!(s["every_seconds"], 3600, "{s}");
    let next = unix_ms(s["next_run_at"].as_str().unwrap_or_else(|| panic!("no next_run_at: {s}")));
    assert!((asked_at + 3_600_000..=now_ms() + 3_600_000).contains(&next), "next run an hour after the request: {s}");

    // Not due yet: nothing starts.
    assert!(sync::run_due(&e.state, now_ms()).await.is_empty());
    assert!(sync::run_due(&e.state, next - 1).await.is_empty());
    assert_eq!(status(&e.base, &token, &id).await["generation"], 1);

    // Due while its entity syncs (a live lease, another engine's): left out of the due list,
    // so it does not hold up the schedules behind it; due again once the lease is gone.
    let held = switchboard_engine::context_store::lease::Lease::acquire(&e.state.db, &id, "customers").await;
    let held = held.unwrap_or_else(|e| panic!("{e:?}")).unwrap_or_else(|| panic!("the lease is free"));
    let listed = switchboard_engine::context_store::schedule::due(&e.state.db, next).await;
    assert_eq!(listed.map(|d| d.len()).ok(), Some(0), "a schedule whose entity syncs is not due");
    held.release().await;
    let listed = switchboard_engine::context_store::schedule::due(&e.state.db, next).await;
    assert_eq!(listed.map(|d| d.len()).ok(), Some(1));

    // Due: a new full sync, which deletes the records gone at the provider.
    fake.deleted.lock().unwrap_or_else(|e| e.into_inner()).extend([3, 101, 250]);
    let started = sync::run_due(&e.state, next).await;
    assert_eq!(started, vec![(id.clone(), "customers".to_string())]);
    // The same moment again: the run moved the next one on, so nothing more starts.
    assert!(sync::run_due(&e.state, next).await.is_empty());
    let s = wait_done(&e.base, &token, &id).await;
    assert_eq!(s["status"], "succeeded", "{s}");
    assert_eq!(s["generation"], 2, "{s}");
    assert_eq!(s["deleted"], 3, "{s}");
    assert_eq!(s["record_count"], (N - 3) as i64, "{s}");
    assert_eq!(unix_ms(s["next_run_at"].as_str().unwrap_or_default()), next + 3_600_000, "{s}");

    // A sync request without every_seconds keeps the schedule; null removes it.
    let a = post_sync(&e.base, &token, &id, json!({"entities": ["customers"]})).await;
    assert_eq!(a.status, 202, "{}", a.text);
    let s = wait_done(&e.base, &token, &id).await;
    assert_eq!(s["every_seconds"], 3600, "{s}");
    let a = post_sync(&e.base, &token, &id, json!({"entities": ["customers"], "every_seconds": null})).await;
    assert_eq!(a.status, 202, "{}", a.text);
    let s = wait_done(&e.base, &token, &id).await;
    assert!(s.get("every_seconds").is_none() && s.get("next_run_at").is_none(), "{s}");
    assert!(sync::run_due(&e.state, next + 10 * 3_600_000).await.is_empty());
}

/// A stuck sync fails the test with a message instead of stalling the suite.
async fn within_three_minutes(test: impl std::future::Future<Output = ()>) {
    if tokio::time::timeout(Duration::from_secs(180), test).await.is_err() {
        panic!("the scheduled-sync scenario did not finish within 3 minutes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_syncs_sqlite() {
    within_three_minutes(scheduled_syncs(Backend::Sqlite)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_syncs_postgres() {
    within_three_minutes(scheduled_syncs(Backend::Postgres)).await;
}
