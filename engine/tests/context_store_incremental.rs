//! Incremental context store syncs (`x-incremental`), through the engine's sync route against a
//! Freshdesk-shaped fake of this file: the tickets list pages by `page` and `per_page` (at most
//! 100) and, given `updated_since` (ISO 8601), serves only the tickets updated at or after it,
//! as Freshdesk documents; the tickets, their update times and deletions are the test's to set,
//! and every request's query is recorded.
//!
//! A full sync, then changes at the fake, then an `auto` sync that asks only what changed (the
//! fake is asked with `updated_since` = the high-water mark less the spec's 60 s lookback, and
//! serves a few tickets, not all): changes stored, the new ticket added, nothing twice, the
//! deleted ticket still cached; a `full` sync then reconciles it away. An incremental sync that
//! fails mid-way resumes from its checkpoint with the same `updated_since`. `mode:
//! incremental` is refused for an entity without the extension and before a full sync. A
//! schedule's runs are `auto`: incremental while the last full sync is younger than
//! `full_every_seconds`, a full reconciliation once it is older (time moved on by calling the
//! scheduler with a later "now").
//!
//! An incremental sync of a real `switchboard serve` killed with SIGKILL mid-way resumes in the
//! restarted process from its checkpoint, with the same `updated_since`.
//!
//! Every scenario runs on both caches: the SQLite files (a SQLite main store) and the schemas
//! of the main PostgreSQL database (`SWITCHBOARD_TEST_DATABASE_URL`, from `scripts/postgres.sh`;
//! that half is skipped without it outside CI).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use common::serve::Serve;
use common::{call, postgres_database, start, Answer, TempDir};
use serde_json::{json, Value};
use switchboard_engine::context_store::sync;
use switchboard_engine::crypto::Key;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// 2026-01-01T00:00:00Z, in unix seconds: ticket `i` is first updated `i` minutes after it.
const BASE: i64 = 1_767_225_600;
/// What a full sync sends as `updated_since` (the spec's `full_from_epoch`).
const EPOCH: &str = "1970-01-01T00:00:00Z";

fn iso(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix).ok().and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
}

fn unix(iso: &str) -> i64 {
    OffsetDateTime::parse(iso, &Rfc3339).map(|t| t.unix_timestamp()).unwrap_or_else(|e| panic!("{iso:?}: {e}"))
}

#[derive(Default)]
struct Fake {
    /// Ticket id to (updated_at in unix seconds, subject).
    tickets: Mutex<BTreeMap<u64, (i64, String)>>,
    /// The query of every tickets request, in order.
    requests: Mutex<Vec<HashMap<String, String>>>,
    /// Tickets served, over all requests.
    served: AtomicUsize,
    /// A request for this page number answers 500 (0: none does).
    fail_page: AtomicUsize,
    /// Milliseconds each tickets request waits before it answers.
    delay_ms: AtomicUsize,
}

impl Fake {
    fn set(&self, id: u64, updated: i64, subject: &str) {
        self.tickets.lock().unwrap_or_else(|e| e.into_inner()).insert(id, (updated, subject.to_string()));
    }

    fn delete(&self, id: u64) {
        self.tickets.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    }

    /// The recorded requests, clearing them, and the tickets served since the last call.
    fn take(&self) -> (Vec<HashMap<String, String>>, usize) {
        let r = std::mem::take(&mut *self.requests.lock().unwrap_or_else(|e| e.into_inner()));
        (r, self.served.swap(0, Ordering::SeqCst))
    }
}

/// `GET /api/v2/tickets`: Freshdesk's list, HTTP Basic required; `updated_since` keeps the
/// tickets updated at or after it (a time that is not ISO 8601 is a 400), and without it the
/// list holds only the tickets created in the last 30 days (none here); ordered by id here;
/// `page` from 1, `per_page` up to 100 (30 by default), a `Link: rel="next"` while pages remain.
async fn tickets(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> axum::response::Response {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !auth.starts_with("Basic ") {
        return (StatusCode::UNAUTHORIZED, Json(json!({"code": "invalid_credentials", "message": "no key"})))
            .into_response();
    }
    fake.requests.lock().unwrap_or_else(|e| e.into_inner()).push(q.clone());
    let delay = fake.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay as u64)).await;
    }
    let page = q.get("page").and_then(|p| p.parse::<usize>().ok()).unwrap_or(1).max(1);
    if fake.fail_page.load(Ordering::SeqCst) == page {
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"code": "internal", "message": "the test's failure"})))
            .into_response();
    }
    let per_page = q.get("per_page").and_then(|p| p.parse::<usize>().ok()).unwrap_or(30).clamp(1, 100);
    // Without updated_since, Freshdesk lists only the tickets created in the last 30 days: none
    // here (they were created on BASE), so a full sync that left the param out would see none.
    let since = match q.get("updated_since") {
        None => Some(i64::MAX),
        Some(s) => match OffsetDateTime::parse(s, &Rfc3339) {
            Ok(t) => Some(t.unix_timestamp()),
            Err(_) => {
                let body = json!({"description": "Validation failed",
                    "errors": [{"field": "updated_since", "message": "invalid date", "code": "invalid_value"}]});
                return (StatusCode::BAD_REQUEST, Json(body)).into_response();
            }
        },
    };
    let all: Vec<Value> = fake
        .tickets
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|(_, (updated, _))| since.is_some_and(|s| *updated >= s))
        .map(|(id, (updated, subject))| {
            json!({"id": id, "subject": subject, "status": 2, "priority": 1, "source": 1,
                "created_at": iso(BASE), "updated_at": iso(*updated), "tags": []})
        })
        .collect();
    let start = (page - 1) * per_page;
    let data: Vec<Value> = all.iter().skip(start).take(per_page).cloned().collect();
    fake.served.fetch_add(data.len(), Ordering::SeqCst);
    let mut resp = Json(Value::Array(data)).into_response();
    if start + per_page < all.len() {
        let next = format!("<http://fake/api/v2/tickets?page={}&per_page={per_page}>; rel=\"next\"", page + 1);
        if let Ok(v) = next.parse() {
            resp.headers_mut().insert("link", v);
        }
    }
    resp
}

async fn start_fake(n: u64) -> (String, Arc<Fake>) {
    let fake = Arc::new(Fake::default());
    for i in 1..=n {
        fake.set(i, BASE + i as i64 * 60, &format!("ticket {i}"));
    }
    let app = axum::Router::new().route("/api/v2/tickets", axum::routing::get(tickets)).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/api/v2"), fake)
}

// ---------------------------------------------------------------- helpers

async fn create(base: &str, token: &str, fake_base: &str, workspace: &str) -> String {
    let body = json!({"connector_type": "freshdesk", "name": "helpdesk", "workspace_name": workspace,
        "credentials": {"api_key": "fAkEfReShDeSkKeY0001"}, "config": {"subdomain": "acme", "base_url": fake_base}});
    let a = call("POST", &format!("{base}/api/v1/integrations/connectors"), Some(token), Some(body), &[]).await;
    assert_eq!(a.status, 201, "{}", a.text);
    a.body["id"].as_str().unwrap_or_default().to_string()
}

async fn post_sync(base: &str, token: &str, id: &str, body: Value) -> Answer {
    let url = format!("{base}/api/v1/integrations/connectors/{id}/context-store/sync");
    call("POST", &url, Some(token), Some(body), &[]).await
}

/// Starts a sync of the tickets with `extra` fields in the body; answers its `status`.
async fn sync(base: &str, token: &str, id: &str, extra: Value) -> String {
    let mut body = json!({"entities": ["tickets"]});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let a = post_sync(base, token, id, body).await;
    assert_eq!(a.status, 202, "{}", a.text);
    a.body["entities"][0]["status"].as_str().unwrap_or_default().to_string()
}

async fn status(base: &str, token: &str, id: &str) -> Value {
    let url = format!("{base}/api/v1/integrations/connectors/{id}/context-store/status");
    let a = call("GET", &url, Some(token), None, &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let entities = a.body["entities"].as_array().cloned().unwrap_or_default();
    entities.into_iter().find(|e| e["entity"] == "tickets").unwrap_or(Value::Null)
}

async fn wait_done(base: &str, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let s = status(base, token, id).await;
        if s["status"] != "running" {
            return s;
        }
        assert!(Instant::now() < deadline, "the sync never finished: {s}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The rows of a read-only SQL query over the cache.
async fn sql(base: &str, token: &str, id: &str, q: &str) -> Vec<Value> {
    let url = format!("{base}/api/v1/integrations/connectors/{id}/execute");
    let body = json!({"entity": "tickets", "action": "context_store_sql_query", "params": {"sql": q}});
    let a = call("POST", &url, Some(token), Some(body), &[]).await;
    assert_eq!(a.status, 200, "{q}: {}", a.text);
    a.body["result"]["data"].as_array().cloned().unwrap_or_default()
}

/// (rows, distinct ids) in the cache.
async fn counts(base: &str, token: &str, id: &str) -> (i64, i64) {
    let r = sql(base, token, id, "SELECT count(*) AS n, count(DISTINCT id) AS d FROM tickets").await;
    (r[0]["n"].as_i64().unwrap_or(-1), r[0]["d"].as_i64().unwrap_or(-1))
}

async fn subject(base: &str, token: &str, id: &str, ticket: u64) -> Option<String> {
    let q = format!("SELECT record->>'subject' AS s FROM tickets WHERE id = '{ticket}'");
    sql(base, token, id, &q).await.first().and_then(|r| r["s"].as_str().map(str::to_string))
}

// ---------------------------------------------------------------- tests

both_backends!(full_then_incremental_then_full_reconciliation, |backend| async move {
    let (fake_base, fake) = start_fake(250).await;
    let Some(e) = start(backend, |_| {}).await else { return };
    let token = e.app_token().await;
    let id = create(&e.base, &token, &fake_base, "ws-incremental").await;

    // 1. The first sync (auto) is full: every ticket, three pages of 100, updated_since the epoch.
    assert_eq!(sync(&e.base, &token, &id, json!({})).await, "started");
    let s = wait_done(&e.base, &token, &id).await;
    assert_eq!(
        (s["status"].as_str(), s["mode"].as_str(), s["generation"].as_i64(), s["record_count"].as_i64()),
        (Some("succeeded"), Some("full"), Some(1), Some(250)),
        "{s}"
    );
    assert_eq!(s["high_water_mark"], json!(iso(BASE + 250 * 60)), "the latest updated_at: {s}");
    let full_at = s["last_full_sync_at"].as_str().unwrap_or_else(|| panic!("no last full sync: {s}")).to_string();
    let (reqs, served) = fake.take();
    assert_eq!(served, 250);
    assert_eq!(reqs.len(), 3, "{reqs:?}");
    let full_sync_query = |q: &HashMap<String, String>| {
        q.get("updated_since").map(String::as_str) == Some(EPOCH)
            && q.get("per_page").map(String::as_str) == Some("100")
    };
    assert!(reqs.iter().all(full_sync_query), "{reqs:?}");

    // 2. At the provider: three tickets change, one is deleted, one is new.
    let later = BASE + 1000 * 60;
    for t in [10, 20, 30] {
        fake.set(t, later, &format!("ticket {t}, edited"));
    }
    fake.delete(40);
    fake.set(251, later + 60, "ticket 251");

    // 3. The next auto sync is incremental: one request with updated_since = the mark less 60 s
    // (ticket 250's time, which is before the full sync started), a handful of tickets served.
    assert_eq!(sync(&e.base, &token, &id, json!({})).await, "started");
    let s = wait_done(&e.base, &token, &id).await;
    let (reqs, served) = fake.take();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    let since = reqs[0].get("updated_since").cloned().unwrap_or_else(|| panic!("no updated_since: {reqs:?}"));
    assert_eq!(since, iso(BASE + 250 * 60 - 60), "{reqs:?}");
    // Tickets 249 and 250 (inside the lookback), the three edited and the new one.
    assert_eq!(served, 6, "the incremental sync asked for every ticket");
    assert_eq!(
        (s["status"].as_str(), s["mode"].as_str(), s["generation"].as_i64(), s["records_synced"].as_i64()),
        (Some("succeeded"), Some("incremental"), Some(1), Some(6)),
        "{s}"
    );
    assert_eq!((s["record_count"].as_i64(), s["deleted"].as_i64()), (Some(251), Some(0)), "{s}");
    assert_eq!(s["high_water_mark"], json!(iso(later + 60)), "{s}");
    assert_eq!(s["last_full_sync_at"].as_str(), Some(full_at.as_str()), "an incremental sync is no full one: {s}");
    // The edits are stored, nothing twice, the ticket deleted at the provider still cached.
    assert_eq!(counts(&e.base, &token, &id).await, (251, 251));
    assert_eq!(subject(&e.base, &token, &id, 20).await.as_deref(), Some("ticket 20, edited"));
    assert_eq!(subject(&e.base, &token, &id, 251).await.as_deref(), Some("ticket 251"));
    assert_eq!(subject(&e.base, &token, &id, 40).await.as_deref(), Some("ticket 40"));
    assert_eq!(subject(&e.base, &token, &id, 41).await.as_deref(), Some("ticket 41"));

    // 4. Another incremental sync, nothing changed since, asks from the new mark and keeps it.
    assert_eq!(sync(&e.base, &token, &id, json!({"mode": "incremental"})).await, "started");
    let s = wait_done(&e.base, &token, &id).await;
    let (reqs, served) = fake.take();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(reqs[0].get("updated_since"), Some(&iso(later)), "{reqs:?}");
    // The three edited tickets (at the mark less the lookback) and the new one.
    assert_eq!(
        (served, s["record_count"].as_i64(), s["high_water_mark"].clone()),
        (4, Some(251), json!(iso(later + 60)))
    );

    // 5. A full sync reconciles: every ticket asked, the deleted one removed, a new generation.
    assert_eq!(sync(&e.base, &token, &id, json!({"mode": "full"})).await, "started");
    let s = wait_done(&e.base, &token, &id).await;
    let (reqs, served) = fake.take();
    assert!(reqs.iter().all(|q| q.get("updated_since").map(String::as_str) == Some(EPOCH)), "{reqs:?}");
    assert_eq!(served, 250);
    assert_eq!(
        (s["status"].as_str(), s["mode"].as_str(), s["generation"].as_i64()),
        (Some("succeeded"), Some("full"), Some(2)),
        "{s}"
    );
    assert_eq!((s["record_count"].as_i64(), s["deleted"].as_i64()), (Some(250), Some(1)), "{s}");
    assert!(s["last_full_sync_at"].as_str().is_some_and(|t| unix(t) >= unix(&full_at)), "{s}");
    assert_eq!(counts(&e.base, &token, &id).await, (250, 250));
    assert_eq!(subject(&e.base, &token, &id, 40).await, None, "the deleted ticket stayed");
    assert_eq!(subject(&e.base, &token, &id, 30).await.as_deref(), Some("ticket 30, edited"));

    // 6. full_every_seconds is kept per entity and shown.
    assert_eq!(sync(&e.base, &token, &id, json!({"full_every_seconds": 3600})).await, "started");
    let s = wait_done(&e.base, &token, &id).await;
    assert_eq!((s["mode"].as_str(), s["full_every_seconds"].as_i64()), (Some("incremental"), Some(3600)), "{s}");
    drop(e);
});

both_backends!(a_failed_incremental_sync_resumes_from_its_checkpoint_with_the_same_since, |backend| async move {
    let (fake_base, fake) = start_fake(120).await;
    let Some(e) = start(backend, |_| {}).await else { return };
    let token = e.app_token().await;
    let id = create(&e.base, &token, &fake_base, "ws-incremental-resume").await;
    assert_eq!(sync(&e.base, &token, &id, json!({"mode": "full"})).await, "started");
    let s = wait_done(&e.base, &token, &id).await;
    assert_eq!(s["record_count"].as_i64(), Some(120), "{s}");
    fake.take();

    // 150 tickets change (two pages of the incremental read); its second page fails.
    let later = BASE + 5000 * 60;
    for t in 1..=150u64 {
        fake.set(t, later + t as i64, &format!("v2 {t}"));
    }
    fake.fail_page.store(2, Ordering::SeqCst);
    assert_eq!(sync(&e.base, &token, &id, json!({})).await, "started");
    let s = wait_done(&e.base, &token, &id).await;
    assert_eq!(
        (s["status"].as_str(), s["mode"].as_str(), s["pages"].as_i64()),
        (Some("failed"), Some("incremental"), Some(1)),
        "{s}"
    );
    let (reqs, _) = fake.take();
    let since = reqs[0].get("updated_since").cloned().unwrap_or_else(|| panic!("{reqs:?}"));
    assert_eq!(since, iso(BASE + 120 * 60 - 60));
    // The committed page raised the mark (tickets 1 to 100, the latest updated at later + 100).
    assert_eq!(s["high_water_mark"], json!(iso(later + 100)), "{s}");
    // The first page is committed: 100 tickets of v2.
    let v2 = sql(&e.base, &token, &id, "SELECT count(*) AS n FROM tickets WHERE record->>'subject' LIKE 'v2 %'").await;
    assert_eq!(v2[0]["n"], json!(100));

    // The next request resumes it: page 2 with the same updated_since, page 1 not asked again.
    fake.fail_page.store(0, Ordering::SeqCst);
    assert_eq!(sync(&e.base, &token, &id, json!({})).await, "resumed");
    let s = wait_done(&e.base, &token, &id).await;
    let (reqs, served) = fake.take();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(
        (reqs[0].get("page").map(String::as_str), reqs[0].get("updated_since")),
        (Some("2"), Some(&since)),
        "{reqs:?}"
    );
    assert_eq!(served, 50);
    assert_eq!(
        (s["status"].as_str(), s["mode"].as_str(), s["records_synced"].as_i64(), s["record_count"].as_i64()),
        (Some("succeeded"), Some("incremental"), Some(150), Some(150)),
        "{s}"
    );
    assert_eq!(counts(&e.base, &token, &id).await, (150, 150));
    let v2 = sql(&e.base, &token, &id, "SELECT count(*) AS n FROM tickets WHERE record->>'subject' LIKE 'v2 %'").await;
    assert_eq!(v2[0]["n"], json!(150));
    assert_eq!(s["high_water_mark"], json!(iso(later + 150)), "{s}");
    drop(e);
});

both_backends!(incremental_mode_is_refused_without_the_extension_or_a_full_sync, |backend| async move {
    let (fake_base, fake) = start_fake(5).await;
    let Some(e) = start(backend, |_| {}).await else { return };
    let token = e.app_token().await;
    let id = create(&e.base, &token, &fake_base, "ws-incremental-refused").await;
    let refused = |a: &Answer, reason: &str| {
        assert_eq!(a.status, 422, "{}", a.text);
        assert_eq!(a.body["details"]["reason"], reason, "{}", a.text);
    };
    // Freshdesk's agents list takes no updated-since param.
    let a = post_sync(&e.base, &token, &id, json!({"entities": ["agents"], "mode": "incremental"})).await;
    refused(&a, "not_incremental");
    assert!(a.text.contains("agents"), "{}", a.text);
    // Tickets can be, but only after a full sync.
    let a = post_sync(&e.base, &token, &id, json!({"entities": ["tickets"], "mode": "incremental"})).await;
    refused(&a, "full_sync_needed");
    for bad in [json!({"mode": "delta"}), json!({"mode": true})] {
        let mut body = bad.clone();
        body["entities"] = json!(["tickets"]);
        refused(&post_sync(&e.base, &token, &id, body).await, "invalid_mode");
    }
    for bad in [json!(30), json!("3600"), json!(1.5)] {
        let body = json!({"entities": ["tickets"], "full_every_seconds": bad});
        refused(&post_sync(&e.base, &token, &id, body).await, "invalid_full_every");
    }
    assert!(fake.take().0.is_empty(), "a refused request synced");
    assert_eq!(status(&e.base, &token, &id).await, Value::Null, "a refused request left a sync state");

    // After a full sync, incremental is allowed.
    assert_eq!(sync(&e.base, &token, &id, json!({})).await, "started");
    wait_done(&e.base, &token, &id).await;
    assert_eq!(sync(&e.base, &token, &id, json!({"mode": "incremental"})).await, "started");
    let s = wait_done(&e.base, &token, &id).await;
    assert_eq!((s["status"].as_str(), s["mode"].as_str()), (Some("succeeded"), Some("incremental")), "{s}");
    drop(e);
});

both_backends!(
    scheduled_runs_are_incremental_until_the_full_sync_is_older_than_full_every_seconds,
    |backend| async move {
        let (fake_base, fake) = start_fake(150).await;
        let Some(e) = start(backend, |_| {}).await else { return };
        let token = e.app_token().await;
        let id = create(&e.base, &token, &fake_base, "ws-incremental-schedule").await;
        let body = json!({"every_seconds": 3600, "full_every_seconds": 86_400});
        assert_eq!(sync(&e.base, &token, &id, body).await, "started");
        let s = wait_done(&e.base, &token, &id).await;
        assert_eq!((s["mode"].as_str(), s["record_count"].as_i64()), (Some("full"), Some(150)), "{s}");
        let next = OffsetDateTime::parse(s["next_run_at"].as_str().unwrap_or_default(), &Rfc3339)
            .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
            .unwrap_or_else(|e| panic!("{e}: {s}"));
        fake.take();

        // The hourly run, an hour after the full sync: incremental.
        fake.set(5, BASE + 900 * 60, "ticket 5, edited");
        fake.delete(7);
        assert_eq!(sync::run_due(&e.state, next).await, vec![(id.clone(), "tickets".to_string())]);
        let s = wait_done(&e.base, &token, &id).await;
        let (reqs, served) = fake.take();
        assert_eq!(reqs.len(), 1, "{reqs:?}");
        assert_eq!(reqs[0].get("updated_since"), Some(&iso(BASE + 150 * 60 - 60)), "{reqs:?}");
        assert_eq!(served, 3, "tickets 149, 150 and the edited 5");
        assert_eq!(
            (s["mode"].as_str(), s["generation"].as_i64(), s["deleted"].as_i64()),
            (Some("incremental"), Some(1), Some(0)),
            "{s}"
        );
        assert_eq!(subject(&e.base, &token, &id, 5).await.as_deref(), Some("ticket 5, edited"));
        assert_eq!(counts(&e.base, &token, &id).await, (150, 150), "ticket 7 is still cached");

        // A run more than a day after the last full sync: a full reconciliation.
        let day_later = next + 25 * 3_600_000;
        assert_eq!(sync::run_due(&e.state, day_later).await, vec![(id.clone(), "tickets".to_string())]);
        let s = wait_done(&e.base, &token, &id).await;
        let (reqs, served) = fake.take();
        assert!(reqs.iter().all(|q| q.get("updated_since").map(String::as_str) == Some(EPOCH)), "{reqs:?}");
        assert_eq!(served, 149);
        assert_eq!(
            (s["mode"].as_str(), s["generation"].as_i64(), s["deleted"].as_i64(), s["record_count"].as_i64()),
            (Some("full"), Some(2), Some(1), Some(149)),
            "{s}"
        );
        assert_eq!(subject(&e.base, &token, &id, 7).await, None);
        drop(e);
    }
);

// A sync reads as `running` until its end is recorded, then as its end, on both caches: never
// `interrupted` (the status of a sync no process runs) while a status read races its last
// commit and the release of its claim. One-page incremental syncs (the quickest there are),
// each watched by concurrent status readers, every answer checked.
both_backends!(a_sync_reads_running_then_its_end_never_interrupted, |backend| async move {
    const ROUNDS: usize = 20;
    let (fake_base, fake) = start_fake(5).await;
    let Some(e) = start(backend, |_| {}).await else { return };
    let token = e.app_token().await;
    let id = create(&e.base, &token, &fake_base, "ws-incremental-race").await;
    assert_eq!(sync(&e.base, &token, &id, json!({"mode": "full"})).await, "started");
    assert_eq!(wait_done(&e.base, &token, &id).await["status"], "succeeded");
    fake.take();
    for round in 0..ROUNDS {
        // Asked the moment the last sync's end reads (its task may still be letting go of its
        // lease): a new sync, never `already_running`.
        let started = sync(&e.base, &token, &id, json!({"mode": "incremental"})).await;
        assert_eq!(started, "started", "round {round}");
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let (base, token, id) = (e.base.clone(), token.clone(), id.clone());
                tokio::spawn(async move {
                    let deadline = Instant::now() + Duration::from_secs(300);
                    loop {
                        let s = status(&base, &token, &id).await;
                        match s["status"].as_str() {
                            Some("running") => {}
                            Some("succeeded") => return s,
                            _ => panic!("round {round}: a sync of this engine read as {s}"),
                        }
                        assert!(Instant::now() < deadline, "round {round}: the sync never finished: {s}");
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        for r in readers {
            let s = r.await.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
            assert_eq!(
                (s["mode"].as_str(), s["generation"].as_i64(), s["record_count"].as_i64()),
                (Some("incremental"), Some(1), Some(5)),
                "round {round}: {s}"
            );
        }
    }
    // One request per incremental sync (each asks from the unchanged mark: one page).
    assert_eq!(fake.take().0.len(), ROUNDS);
    drop(e);
});

// ---------------------------------------------------------------- kill -9

/// An incremental sync of a real `switchboard serve`, killed with SIGKILL mid-way, is resumed by
/// the restarted process from its checkpoint with the same `updated_since`: every change stored
/// once, nothing lost, no ticket twice, no full sync in between. On the SQLite cache (files in
/// the data dir) and on the PostgreSQL one (schemas of the main database).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_sync_killed_mid_way_resumes_from_its_checkpoint() {
    killed_mid_incremental(None).await;
    if let Some(url) = postgres_database().await {
        killed_mid_incremental(Some(url)).await;
    }
}

async fn killed_mid_incremental(database_url: Option<String>) {
    const N: u64 = 1_000;
    const NEW: u64 = 150;
    let (fake_base, fake) = start_fake(N).await;
    let dir = TempDir::new();
    let key = Key::generate().to_base64();
    let env = [("SWITCHBOARD_MASTER_KEY", key.as_str())];
    let db = database_url.as_deref();
    let mut serve = tokio::task::block_in_place(|| Serve::start(&dir.0, db, &env));
    let (cid, secret) = serve.first_creds();
    let token = serve.app_token(&cid, &secret).await;
    let id = create(&serve.base, &token, &fake_base, "ws-incremental-kill").await;
    assert_eq!(sync(&serve.base, &token, &id, json!({"mode": "full"})).await, "started");
    let full = wait_done(&serve.base, &token, &id).await;
    assert_eq!((full["status"].as_str(), full["record_count"].as_u64()), (Some("succeeded"), Some(N)), "{full}");
    fake.take();

    // Every ticket changes and NEW are added: twelve pages of the incremental read, slow enough
    // that the kill lands mid-way on any machine.
    let later = BASE + 20_000 * 60;
    for t in 1..=N + NEW {
        fake.set(t, later + t as i64, &format!("v2 {t}"));
    }
    fake.delay_ms.store(150, Ordering::SeqCst);
    assert_eq!(sync(&serve.base, &token, &id, json!({})).await, "started");
    loop {
        let s = status(&serve.base, &token, &id).await;
        assert_eq!((s["status"].as_str(), s["mode"].as_str()), (Some("running"), Some("incremental")), "{s}");
        if s["pages"].as_u64().unwrap_or(0) >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    serve.kill();
    let (before_kill, _) = fake.take();
    fake.delay_ms.store(0, Ordering::SeqCst);

    // The restarted process resumes it by itself.
    let serve = tokio::task::block_in_place(|| Serve::start(&dir.0, db, &env));
    let token = serve.app_token(&cid, &secret).await;
    let deadline = Instant::now() + Duration::from_secs(180);
    let done = loop {
        let s = status(&serve.base, &token, &id).await;
        if s["status"] == "succeeded" || s["status"] == "failed" {
            break s;
        }
        assert!(Instant::now() < deadline, "the sync never finished: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(serve.logs().contains("resuming an interrupted context store sync"), "{}", serve.logs());
    let total = N + NEW;
    assert_eq!(
        (
            done["status"].as_str(),
            done["mode"].as_str(),
            done["generation"].as_i64(),
            done["records_synced"].as_u64(),
            done["record_count"].as_u64(),
            done["pages"].as_u64()
        ),
        (Some("succeeded"), Some("incremental"), full["generation"].as_i64(), Some(total), Some(total), Some(12)),
        "{done}"
    );
    assert_eq!(done["high_water_mark"], json!(iso(later + total as i64)), "{done}");
    assert_eq!(done["last_full_sync_at"], full["last_full_sync_at"], "no full sync in between: {done}");

    // One updated_since throughout (the full sync's mark less the lookback); each of the twelve
    // pages asked once, but for at most the one in flight at the kill.
    let (after_kill, _) = fake.take();
    let asked: Vec<&HashMap<String, String>> = before_kill.iter().chain(after_kill.iter()).collect();
    let since = iso(BASE + N as i64 * 60 - 60);
    assert!(asked.iter().all(|q| q.get("updated_since") == Some(&since)), "{asked:?}");
    // The first request leaves `page` out (Freshdesk's default is 1).
    let page = |q: &HashMap<String, String>| q.get("page").map_or(Some(1), |p| p.parse::<u64>().ok());
    let mut pages: Vec<u64> = asked.iter().filter_map(|q| page(q)).collect();
    pages.sort_unstable();
    let distinct = {
        let mut d = pages.clone();
        d.dedup();
        d
    };
    assert_eq!(distinct, (1..=12).collect::<Vec<u64>>(), "{pages:?}");
    assert!(pages.len() <= 13, "pages asked again after the kill: {pages:?}");
    let first_after = after_kill.first().and_then(page).unwrap_or(0);
    assert!(first_after >= 4, "the restart began again from page {first_after}: {after_kill:?}");

    // The cache: every ticket once, every one at its new version.
    assert_eq!(counts(&serve.base, &token, &id).await, (total as i64, total as i64));
    let v2 =
        sql(&serve.base, &token, &id, "SELECT count(*) AS n FROM tickets WHERE record->>'subject' LIKE 'v2 %'").await;
    assert_eq!(v2[0]["n"], json!(total));
    assert_eq!(subject(&serve.base, &token, &id, N + NEW).await.as_deref(), Some(format!("v2 {}", N + NEW).as_str()));
}
