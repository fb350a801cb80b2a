//! The Stripe-shaped customer list of `context_store.rs` for the PostgreSQL cache's tests
//! (`context_store_pg.rs`): the same records, so the two caches can be compared, plus a delay
//! per page so a sync can be killed mid-way; and the engine's context store routes as both
//! files call them.
#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use crate::common::{call, Answer};

#[derive(Default)]
pub struct Fake {
    pub total: AtomicUsize,
    pub deleted: Mutex<HashSet<usize>>,
    pub pages: AtomicUsize,
    /// Milliseconds each page waits before it is served.
    pub delay_ms: AtomicUsize,
    /// Pages starting after this customer answer 400 (0: none do), with a message ending in a
    /// NUL.
    pub fail_after: AtomicUsize,
    /// Customers whose name and description end in a NUL (`\u0000` in the JSON), as text from
    /// real APIs sometimes does.
    pub nul_in: Mutex<HashSet<usize>>,
    /// Characters of padding each customer's description gets (0: none).
    pub pad: AtomicUsize,
    /// The page asked for after this customer is the page ending with it again (0: none is),
    /// so its cursor never moves, as a broken provider's might not.
    pub stuck_after: AtomicUsize,
}

const FIRST: [&str; 8] = ["John", "Jane", "Jonathan", "Maria", "Zoë", "Ahmed", "Li", "Teodora"];
const LAST: [&str; 8] = ["Smith", "Smyth", "García", "Müller", "O'Brien", "Nguyen", "Brown", "Kowalski"];
const DOMAINS: [&str; 4] = ["acme.com", "example.org", "Globex.io", "initech.net"];
const WORDS: [&str; 12] = [
    "premium",
    "customer",
    "Enterprise",
    "trial",
    "billing-issue",
    "VIP",
    "churn",
    "renewal",
    "Zürich",
    "q3",
    "api",
    "beta",
];
const CITIES: [&str; 5] = ["Paris", "Berlin", "New York", "São Paulo", "Tokyo"];

fn mix(i: usize, k: u64) -> u64 {
    let mut z = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(k.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn pick<'a>(list: &[&'a str], i: usize, k: u64) -> &'a str {
    list[(mix(i, k) % list.len() as u64) as usize]
}

/// Customer `i` (1-based), the same on every call: nulls, missing keys, integers and floats,
/// booleans, arrays of strings and of objects, nested objects and non-ASCII text.
pub fn record(i: usize) -> Value {
    let (first, last) = (pick(&FIRST, i, 1), pick(&LAST, i, 2));
    let mut r = json!({
        "id": format!("cus_{i:06}"),
        "object": "customer",
        "created": 1_600_000_000 + i as i64 * 37,
        "livemode": false,
    });
    let m = r.as_object_mut().unwrap_or_else(|| panic!("object"));
    match mix(i, 3) % 10 {
        0 => {
            m.insert("name".into(), Value::Null);
        }
        1 => {}
        _ => {
            m.insert("name".into(), json!(format!("{first} {last}")));
        }
    }
    if !mix(i, 4).is_multiple_of(9) {
        let email = format!("{}.{}{i}@{}", first.to_lowercase(), last.to_lowercase(), pick(&DOMAINS, i, 5));
        m.insert("email".into(), json!(email));
    } else {
        m.insert("email".into(), Value::Null);
    }
    let balance = if mix(i, 6).is_multiple_of(7) {
        json!((mix(i, 7) % 1000) as f64 + 0.5)
    } else {
        json!((mix(i, 7) % 2000) as i64 - 1000)
    };
    m.insert("balance".into(), balance);
    m.insert(
        "currency".into(),
        [json!("usd"), json!("eur"), json!("gbp"), Value::Null][(mix(i, 8) % 4) as usize].clone(),
    );
    m.insert("delinquent".into(), [json!(true), json!(false), Value::Null][(mix(i, 9) % 3) as usize].clone());
    let n = 2 + (mix(i, 10) % 4) as usize;
    let description: Vec<&str> = (0..n).map(|k| pick(&WORDS, i, 20 + k as u64)).collect();
    m.insert("description".into(), json!(description.join(" ")));
    let locales: Vec<&str> = ["en", "fr", "de", "es"]
        .into_iter()
        .filter(|l| mix(i, 30 + l.len() as u64 + l.as_bytes()[0] as u64).is_multiple_of(3))
        .collect();
    m.insert("preferred_locales".into(), json!(locales));
    if !mix(i, 11).is_multiple_of(3) {
        let lines: Vec<Value> = (0..(mix(i, 12) % 3))
            .map(|k| json!({"sku": format!("sku-{}", mix(i, 40 + k) % 20), "qty": (mix(i, 50 + k) % 5) as i64}))
            .collect();
        m.insert(
            "shipping".into(),
            json!({"name": format!("{first} {last}"), "address": {"city": pick(&CITIES, i, 13)}, "lines": lines}),
        );
    } else {
        m.insert("shipping".into(), Value::Null);
    }
    m.insert("metadata".into(), json!({"tier": pick(&["gold", "silver", "bronze"], i, 14)}));
    m.insert("tax_exempt".into(), json!(pick(&["none", "exempt", "reverse"], i, 15)));
    r
}

/// `GET /v1/customers`: Stripe's list (`limit` up to 100, `starting_after`, `has_more`) over
/// customers 1..=total less the deleted ones; a bearer token is required.
async fn customers(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !auth.starts_with("Bearer ") || auth.len() <= 7 {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": {"message": "no key"}}))).into_response();
    }
    let fail_after = fake.fail_after.load(Ordering::SeqCst);
    if fail_after > 0 && q.get("starting_after").is_some_and(|c| c == &format!("cus_{fail_after:06}")) {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": {"message": "the test's failure\u{0}"}})))
            .into_response();
    }
    let delay = fake.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay as u64)).await;
    }
    fake.pages.fetch_add(1, Ordering::SeqCst);
    let limit = q.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(10).clamp(1, 100);
    let after = match q.get("starting_after") {
        Some(c) => match c.strip_prefix("cus_").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => n,
            None => {
                return (StatusCode::BAD_REQUEST, Json(json!({"error": {"message": "bad cursor"}}))).into_response()
            }
        },
        None => 0,
    };
    let limit_back = |n: usize| n.saturating_sub(limit);
    let stuck = fake.stuck_after.load(Ordering::SeqCst);
    let after = if stuck > 0 && after == stuck { limit_back(stuck) } else { after };
    let total = fake.total.load(Ordering::SeqCst);
    let deleted = fake.deleted.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let nul_in = fake.nul_in.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut data = Vec::new();
    let mut i = after + 1;
    while i <= total && data.len() < limit {
        if !deleted.contains(&i) {
            let mut r = record(i);
            if nul_in.contains(&i) {
                for field in ["name", "description"] {
                    r[field] = json!(format!("{}\u{0}", r[field].as_str().unwrap_or_default()));
                }
            }
            let pad = fake.pad.load(Ordering::SeqCst);
            if pad > 0 {
                r["description"] =
                    json!(format!("{}{}", r["description"].as_str().unwrap_or_default(), "x".repeat(pad)));
            }
            data.push(r);
        }
        i += 1;
    }
    let has_more = (i..=total).any(|k| !deleted.contains(&k));
    Json(json!({"object": "list", "url": "/v1/customers", "has_more": has_more, "data": data})).into_response()
}

pub async fn start_fake(total: usize) -> (String, Arc<Fake>) {
    let fake = Arc::new(Fake::default());
    fake.total.store(total, Ordering::SeqCst);
    let app = axum::Router::new().route("/v1/customers", axum::routing::get(customers)).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), fake)
}

// ---------------------------------------------------------------- the engine's routes

/// Creates a connector from `body`; its id.
pub async fn create(base_url: &str, token: &str, body: Value) -> String {
    let a = call("POST", &format!("{base_url}/api/v1/integrations/connectors"), Some(token), Some(body), &[]).await;
    assert_eq!(a.status, 201, "{}", a.text);
    a.body["id"].as_str().unwrap_or_default().to_string()
}

/// Asks for a sync of the customers.
pub async fn sync(base_url: &str, token: &str, id: &str) -> Answer {
    let url = format!("{base_url}/api/v1/integrations/connectors/{id}/context-store/sync");
    call("POST", &url, Some(token), Some(json!({"entities": ["customers"]})), &[]).await
}

/// The status of the connector's first synced entity (`null` before any sync).
pub async fn status(base_url: &str, token: &str, id: &str) -> Value {
    let url = format!("{base_url}/api/v1/integrations/connectors/{id}/context-store/status");
    let a = call("GET", &url, Some(token), None, &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.body["entities"].as_array().and_then(|e| e.first()).cloned().unwrap_or(Value::Null)
}

/// Polls the status until the customers sync is no longer running. `interrupted` ends the wait
/// too: no sync of a live engine may ever read so.
pub async fn wait_done(base_url: &str, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let s = status(base_url, token, id).await;
        if s["status"] != "running" {
            return s;
        }
        assert!(Instant::now() < deadline, "the sync never finished: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `action` on the customers through the execute route.
pub async fn execute(base_url: &str, token: &str, id: &str, action: &str, params: Value) -> Answer {
    let url = format!("{base_url}/api/v1/integrations/connectors/{id}/execute");
    let body = json!({"entity": "customers", "action": action, "params": params});
    call("POST", &url, Some(token), Some(body), &[]).await
}

/// A read-only SQL query over the connector's cache.
pub async fn sql(base_url: &str, token: &str, id: &str, q: &str) -> Answer {
    execute(base_url, token, id, "context_store_sql_query", json!({"sql": q})).await
}

/// Every id a search matches, following its cursor (each page checked: records trimmed to
/// `id` by `fields`, `took_ms`, no cursor on the last page).
pub async fn search_ids(base_url: &str, token: &str, id: &str, query: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let mut params = json!({"query": query, "limit": 1000, "fields": [["id"]]});
        if !cursor.is_null() {
            params["cursor"] = cursor.clone();
        }
        let a = execute(base_url, token, id, "context_store_search", params).await;
        assert_eq!(a.status, 200, "{query}: {}", a.text);
        let data = a.body["result"]["data"].as_array().unwrap_or_else(|| panic!("no data: {}", a.text));
        for r in data {
            assert_eq!(r.as_object().map(|o| o.len()), Some(1), "fields trims to id: {r}");
            ids.push(r["id"].as_str().unwrap_or_default().to_string());
        }
        let meta = &a.body["result"]["meta"];
        assert!(meta["took_ms"].is_u64(), "{}", a.text);
        if meta["has_more"] != json!(true) {
            assert!(meta["cursor"].is_null(), "{}", a.text);
            return ids;
        }
        cursor = meta["cursor"].clone();
    }
}
