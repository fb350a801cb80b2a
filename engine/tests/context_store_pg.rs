//! The context store's cache on PostgreSQL (a schema per workspace, a read-only role): syncs
//! into the main store's database, searches that answer exactly what the SQLite cache answers
//! over the same records (and what the independent Python evaluation says), SQL refused by the
//! database's privileges with the SQLite cache's typed errors, tenant isolation, and a real
//! `switchboard serve` killed with SIGKILL mid-sync that resumes with nothing lost or stored
//! twice.
//!
//! Needs the PostgreSQL server of `scripts/postgres.sh` (`SWITCHBOARD_TEST_DATABASE_URL`); the
//! tests skip without it outside CI.

mod common;
mod context_store_fake;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::serve::Serve;
use common::{call, postgres_database, start, Answer, Backend, Engine, TempDir};
use context_store_fake::{create, execute, record, search_ids, sql, start_fake, status, sync, wait_done};
use serde_json::{json, Value};
use switchboard_engine::context_store::{pg, store};
use switchboard_engine::crypto::Key;

// ---------------------------------------------------------------- helpers

fn stripe_body(base: &str, workspace: &str) -> Value {
    json!({"connector_type": "stripe", "name": "billing", "workspace_name": workspace,
        "credentials": {"api_key": "sk_test_context_store_pg"}, "config": {"base_url": base}})
}

async fn search(e: &str, token: &str, id: &str, params: Value) -> Answer {
    let a = execute(e, token, id, "context_store_search", params.clone()).await;
    assert_eq!(a.status, 200, "{params}: {}", a.text);
    a
}

/// A sync of connector `id` on `e`, waited for; answers the final status.
async fn synced(e: &Engine, token: &str, id: &str, n: usize) -> Value {
    let a = sync(&e.base, token, id).await;
    assert_eq!(a.status, 202, "{}", a.text);
    let done = wait_done(&e.base, token, id).await;
    assert_eq!((done["status"].as_str(), done["record_count"].as_i64()), (Some("succeeded"), Some(n as i64)), "{done}");
    done
}

/// The filter language case by case: every operator (and operand type where comparisons are
/// typed), the combinators, `id` through the key, nested paths and sorts.
fn cases() -> Vec<Value> {
    let f = |filter: Value| json!({"filter": filter});
    let balance = |float: bool| (1..).map(record).map(|r| r["balance"].clone()).find(|b| b.is_f64() == float);
    let (int_balance, float_balance) = (balance(false), balance(true));
    vec![
        f(json!({"eq": {"currency": "eur"}})),
        f(json!({"eq": {"balance": int_balance}})),
        f(json!({"eq": {"balance": float_balance}})),
        f(json!({"eq": {"balance": "1"}})),
        f(json!({"eq": {"delinquent": true}})),
        f(json!({"eq": {"delinquent": false}})),
        f(json!({"eq": {"name": null}})),
        f(json!({"eq": {"metadata.tier": "gold"}})),
        f(json!({"eq": {"shipping.address.city": "São Paulo"}})),
        f(json!({"eq": {"id": "cus_000042"}})),
        f(json!({"in": {"id": ["cus_000007", "cus_000100", "cus_999999"]}})),
        f(json!({"in": {"id": ["cus_000007", 7]}})),
        f(json!({"neq": {"currency": "usd"}})),
        f(json!({"neq": {"delinquent": false}})),
        f(json!({"neq": {"name": null}})),
        f(json!({"gt": {"balance": 500}})),
        f(json!({"gte": {"balance": 500.5}})),
        f(json!({"lt": {"balance": -900}})),
        f(json!({"lte": {"created": 1_600_010_000}})),
        f(json!({"gt": {"email": "maria"}})),
        f(json!({"lt": {"name": "J"}})),
        f(json!({"gte": {"name": "Zoë"}})),
        f(json!({"in": {"currency": ["gbp", "usd"]}})),
        f(json!({"in": {"balance": [1, 2, 3, 100.5, "1"]}})),
        f(json!({"in": {"delinquent": [true, null]}})),
        f(json!({"contains": {"email": "SMITH"}})),
        f(json!({"contains": {"name": "müll"}})),
        f(json!({"contains": {"balance": "1"}})),
        f(json!({"startswith": {"email": "JOHN."}})),
        f(json!({"endswith": {"email": "@globex.io"}})),
        f(json!({"like": {"email": "j%n.%@acme.com"}})),
        f(json!({"like": {"name": "L_ %"}})),
        f(json!({"fuzzy": {"name": "smith jon"}})),
        f(json!({"fuzzy": {"name": "Jonathon"}})),
        f(json!({"fuzzy": {"description": "zurich premum"}})),
        f(json!({"keyword": {"description": "vip churn"}})),
        f(json!({"keyword": {"description": "billing"}})),
        f(json!({"keyword": {"name": "o brien"}})),
        f(json!({"array_contains": {"preferred_locales": "fr"}})),
        f(json!({"array_contains": {"preferred_locales": "xx"}})),
        f(json!({"any": {"shipping.lines": {"eq": {"sku": "sku-3"}}}})),
        f(json!({"any": {"shipping.lines": {"and": [{"gte": {"qty": 3}}, {"startswith": {"sku": "sku-1"}}]}}})),
        f(json!({"any": {"shipping.lines": {"not": {"contains": {"sku": "1"}}}}})),
        f(json!({"not": {"any": {"shipping.lines": {"endswith": {"sku": "-7"}}}}})),
        f(json!({"and": [{"eq": {"currency": "usd"}}, {"gt": {"balance": 0}}]})),
        f(json!({"or": [{"eq": {"tax_exempt": "exempt"}}, {"array_contains": {"preferred_locales": "de"}}]})),
        f(json!({"or": [{"fuzzy": {"name": "maria"}}, {"contains": {"email": "globex"}}]})),
        f(json!({"not": {"eq": {"currency": "usd"}}})),
        f(json!({"not": {"or": [{"contains": {"email": "acme"}}, {"eq": {"delinquent": null}}]}})),
        f(json!({"not": {"and": [{"keyword": {"description": "trial"}}, {"not": {"like": {"name": "%a%"}}}]}})),
        f(json!({"eq": {"currency": "gbp"}, "lt": {"balance": 0}})),
        json!({"filter": {"eq": {"currency": "eur"}}, "sort": [{"balance": "desc"}]}),
        json!({"filter": {"gt": {"balance": 900}}, "sort": [{"name": "asc"}, {"created": "desc"}]}),
        json!({"filter": {"contains": {"name": "a"}}, "sort": [{"name": "desc"}]}),
        json!({"sort": [{"delinquent": "asc"}, {"email": "desc"}]}),
        json!({"sort": [{"currency": "desc"}, {"balance": "asc"}]}),
        json!({"sort": [{"shipping.address.city": "asc"}, {"metadata.tier": "desc"}]}),
        json!({}),
    ]
}

/// The oracle's ids for `cases` over records 1..=n.
fn oracle(n: usize, cases: &[Value]) -> Vec<Vec<String>> {
    let dir = TempDir::new();
    let records: Vec<Value> = (1..=n).map(record).collect();
    let (records_file, cases_file) = (dir.0.join("records.json"), dir.0.join("cases.json"));
    std::fs::write(&records_file, serde_json::to_vec(&records).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&cases_file, serde_json::to_vec(cases).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/context_store/filter_oracle.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(&records_file)
        .arg(&cases_file)
        .output()
        .unwrap_or_else(|e| panic!("python3: {e}"));
    assert!(out.status.success(), "the oracle failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("oracle output: {e}"))
}

// ---------------------------------------------------------------- search parity

/// The same records synced into a SQLite engine and a PostgreSQL engine: every query answers
/// the same ids in the same order on both and as the Python oracle says, whole pages (records,
/// fields, cursors, `has_more`) are identical, and errors are the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_on_postgres_answers_what_sqlite_and_the_oracle_answer() {
    const N: usize = 2000;
    let (fake_base, _fake) = start_fake(N).await;
    let Some(pg) = start(Backend::Postgres, |_| {}).await else { return };
    let Some(lite) = start(Backend::Sqlite, |_| {}).await else { return };
    let (pg_token, lite_token) = (pg.app_token().await, lite.app_token().await);
    let pg_id = create(&pg.base, &pg_token, stripe_body(&fake_base, "ws-parity")).await;
    let lite_id = create(&lite.base, &lite_token, stripe_body(&fake_base, "ws-parity")).await;
    let (pg_done, lite_done) = tokio::join!(synced(&pg, &pg_token, &pg_id, N), synced(&lite, &lite_token, &lite_id, N));
    for k in ["status", "generation", "pages", "records_synced", "record_count", "deleted"] {
        assert_eq!(pg_done[k], lite_done[k], "{k}: {pg_done} / {lite_done}");
    }
    // The PostgreSQL engine wrote no cache file: the records are in its database.
    assert!(!pg.dir.0.join("context-store").exists(), "a cache file on a PostgreSQL engine");
    assert!(lite.dir.0.join("context-store").exists());

    let cases = cases();
    let expected = oracle(N, &cases);
    assert_eq!(expected.len(), cases.len());
    let mut proper = 0;
    for (case, want) in cases.iter().zip(&expected) {
        let on_pg = search_ids(&pg.base, &pg_token, &pg_id, case).await;
        let on_lite = search_ids(&lite.base, &lite_token, &lite_id, case).await;
        assert_eq!(on_pg.len(), on_lite.len(), "{case}: {} on PostgreSQL, {} on SQLite", on_pg.len(), on_lite.len());
        assert_eq!(on_pg, on_lite, "{case}");
        assert_eq!(&on_pg, want, "{case}: the oracle disagrees");
        if !want.is_empty() && want.len() < N {
            proper += 1;
        }
    }
    // The cases discriminate: all but seven (the four with no filter, an absent array
    // element, a string never equal to a number, a number never matched as text) select a
    // proper, non-empty subset.
    assert_eq!(proper, cases.len() - 7, "cases that match nothing or everything");

    // Whole pages: records in full or trimmed to fields, followed by their cursors.
    for params in [
        json!({"query": {"filter": {"eq": {"currency": "eur"}}, "sort": [{"balance": "desc"}]}, "limit": 25}),
        json!({"query": {"filter": {"fuzzy": {"name": "smyth"}}}, "limit": 40,
            "fields": [["id"], ["shipping", "address", "city"], ["name"]]}),
        json!({"query": {"sort": [{"name": "asc"}]}, "limit": 7, "fields": ["id", "metadata.tier", "nope.x"]}),
        json!({"query": {"filter": {"any": {"shipping.lines": {"eq": {"qty": 4}}}}}, "limit": 1000}),
    ] {
        let mut params = params;
        for page in 0..3 {
            let a = search(&pg.base, &pg_token, &pg_id, params.clone()).await;
            let b = search(&lite.base, &lite_token, &lite_id, params.clone()).await;
            assert_eq!(a.body["result"]["data"], b.body["result"]["data"], "{params} page {page}");
            assert!(!a.body["result"]["data"].as_array().is_none_or(Vec::is_empty), "{params}: {}", a.text);
            for k in ["has_more", "cursor"] {
                assert_eq!(a.body["result"]["meta"][k], b.body["result"]["meta"][k], "{params} page {page}");
            }
            let cursor = a.body["result"]["meta"]["cursor"].clone();
            if cursor.is_null() {
                break;
            }
            params["cursor"] = cursor;
        }
    }
    let a = search(&pg.base, &pg_token, &pg_id, json!({"query": {"filter": {"eq": {"id": "cus_000007"}}}})).await;
    assert_eq!(a.body["result"]["data"], json!([record(7)]), "{}", a.text);

    // The same errors, with the same place and reason.
    for params in [
        json!({"query": {"filter": {"equals": {"name": "x"}}}}),
        json!({"query": {"filter": {"eq": {"nmae": "x"}}}}),
        json!({"query": {"filter": {"gt": {"balance": [1]}}}}),
        json!({"query": {"filter": {}}}),
        json!({"query": {}, "cursor": "garbage"}),
        json!({"query": {}, "limit": 0}),
        json!({"query": {}, "nope": 1}),
    ] {
        let a = execute(&pg.base, &pg_token, &pg_id, "context_store_search", params.clone()).await;
        let b = execute(&lite.base, &lite_token, &lite_id, "context_store_search", params.clone()).await;
        assert_eq!((a.status, &a.body["details"]), (422, &b.body["details"]), "{params}: {} / {}", a.text, b.text);
        assert_eq!(a.body["message"], b.body["message"], "{params}");
    }
    // A cursor of one query is refused with another on both.
    let first = search(&pg.base, &pg_token, &pg_id, json!({"query": {}, "limit": 2})).await;
    let other = json!({"query": {"filter": {"eq": {"currency": "eur"}}}, "limit": 2,
        "cursor": first.body["result"]["meta"]["cursor"]});
    let a = execute(&pg.base, &pg_token, &pg_id, "context_store_search", other).await;
    assert_eq!(a.body["details"]["reason"], "invalid_cursor", "{}", a.text);
}

// ---------------------------------------------------------------- SQL and isolation

async fn workspace_id(e: &Engine, app: &str, name: &str) -> String {
    let token = e.scoped_token(app, name).await;
    let info = e.get("/api/v1/embedded/scoped-token/info", &token).await;
    info.body["workspace_id"].as_str().unwrap_or_default().to_string()
}

/// Text holding a NUL (`\u0000`), which PostgreSQL's JSONB refuses, fails no sync: either cache
/// keeps the character as U+FFFD, in the record and in what a search matches, so the two caches
/// answer the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_a_record_is_cached_as_a_replacement_character_by_either_cache() {
    let (fake_base, fake) = start_fake(150).await;
    fake.nul_in.lock().unwrap_or_else(|e| e.into_inner()).extend([3, 120]);
    for backend in [Backend::Postgres, Backend::Sqlite] {
        let Some(e) = start(backend, |_| {}).await else { return };
        let app = e.app_token().await;
        let id = create(&e.base, &app, stripe_body(&fake_base, "ws-nul")).await;
        synced(&e, &app, &id, 150).await;
        for i in [3, 4, 120] {
            let found =
                search(&e.base, &app, &id, json!({"query": {"filter": {"eq": {"id": format!("cus_{i:06}")}}}})).await;
            let (got, mut want) = (&found.body["result"]["data"][0], record(i));
            if i != 4 {
                for field in ["name", "description"] {
                    want[field] = json!(format!("{}\u{fffd}", want[field].as_str().unwrap_or_default()));
                }
            }
            assert_eq!(got, &want, "{backend:?}: {}", found.text);
        }
        let ids = search_ids(&e.base, &app, &id, &json!({"filter": {"contains": {"description": "\u{fffd}"}}})).await;
        assert_eq!(ids, ["cus_000003", "cus_000120"], "{backend:?}");
        // A NUL in a search finds what the cache holds for it.
        let name = format!("{}\u{0}", record(120)["name"].as_str().unwrap_or_default());
        let ids = search_ids(&e.base, &app, &id, &json!({"filter": {"eq": {"name": name}}})).await;
        assert_eq!(ids, ["cus_000120"], "{backend:?}");
        let ids = search_ids(&e.base, &app, &id, &json!({"filter": {"contains": {"description": "\u{0}"}}})).await;
        assert_eq!(ids, ["cus_000003", "cus_000120"], "{backend:?}");
        // A failure whose message holds a NUL is recorded as failed (not left running).
        fake.fail_after.store(100, Ordering::SeqCst);
        assert_eq!(sync(&e.base, &app, &id).await.status, 202);
        let failed = wait_done(&e.base, &app, &id).await;
        let error = failed["last_error"].as_str().unwrap_or_default();
        assert_eq!(failed["status"], "failed", "{backend:?}: {failed}");
        assert!(error.contains("the test's failure\u{fffd}"), "{backend:?}: {failed}");
        fake.fail_after.store(0, Ordering::SeqCst);
    }
}

/// An answer holds at most `ANSWER_LIMIT` bytes, on either cache: a search page stops short of
/// it (its cursor goes on from there, and the pages hold every record once); a SQL query that
/// would pass it, or build one value past it, is refused (`answer_too_large`) without the engine
/// holding it, and the engine answers the next query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_is_bounded_in_bytes_by_either_cache() {
    const MIB: usize = 1 << 20;
    assert_eq!(switchboard_engine::context_store::search::ANSWER_LIMIT, 16 * MIB);
    let (fake_base, fake) = start_fake(40).await;
    fake.pad.store(MIB, Ordering::SeqCst);
    for backend in [Backend::Postgres, Backend::Sqlite] {
        let Some(e) = start(backend, |_| {}).await else { return };
        let app = e.app_token().await;
        let id = create(&e.base, &app, stripe_body(&fake_base, "ws-big")).await;
        synced(&e, &app, &id, 40).await;
        let mut seen = Vec::new();
        let mut cursor = Value::Null;
        let mut pages = 0;
        loop {
            let mut params = json!({"limit": 100});
            if !cursor.is_null() {
                params["cursor"] = cursor.clone();
            }
            let page = search(&e.base, &app, &id, params).await;
            let data = page.body["result"]["data"].as_array().cloned().unwrap_or_default();
            assert!((1..=16).contains(&data.len()), "{backend:?}: {} records in a page", data.len());
            assert!(page.text.len() < 17 * MIB, "{backend:?}: {} bytes", page.text.len());
            seen.extend(data.iter().map(|r| r["id"].as_str().unwrap_or_default().to_string()));
            pages += 1;
            cursor = page.body["result"]["meta"]["cursor"].clone();
            if page.body["result"]["meta"]["has_more"] != json!(true) {
                break;
            }
        }
        let want: Vec<String> = (1..=40).map(|i| format!("cus_{i:06}")).collect();
        assert_eq!(seen, want, "{backend:?}: every record once, in order");
        assert!(pages >= 3, "{backend:?}: {pages} pages");

        let (one_big, many) = match backend {
            Backend::Sqlite => (
                "SELECT zeroblob(100000000) AS big",
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20) \
                 SELECT x, printf('%.*c', 1000000, 'x') AS big FROM c",
            ),
            _ => (
                "SELECT repeat('x', 100000000) AS big",
                "SELECT x, repeat('x', 1000000) AS big FROM generate_series(1, 20) AS x",
            ),
        };
        for q in [one_big, many, "SELECT id, record FROM customers"] {
            let a = sql(&e.base, &app, &id, q).await;
            assert_eq!(a.status, 422, "{backend:?} {q}: {}", &a.text[..a.text.len().min(300)]);
            assert_eq!(a.body["details"]["reason"], "answer_too_large", "{backend:?} {q}: {}", a.text);
            assert!(a.text.contains("would pass 16 MiB"), "{backend:?}: {}", a.text);
        }
        if backend == Backend::Sqlite {
            // SQLite's printf answers null for a text longer than the bound (its other
            // functions fail with "too big"): either way nothing past it is built.
            let a = sql(&e.base, &app, &id, "SELECT printf('%.*c', 100000000, 'x') AS big").await;
            assert_eq!(a.body["result"]["data"], json!([{"big": null}]), "{}", a.text);
        }
        // Under the bound, the same kinds of query answer.
        let fits = sql(&e.base, &app, &id, &many.replace("20", "10")).await;
        assert_eq!(fits.status, 200, "{backend:?}: {}", &fits.text[..fits.text.len().min(300)]);
        assert_eq!(fits.body["result"]["data"].as_array().map(Vec::len), Some(10), "{backend:?}");
        let short = sql(&e.base, &app, &id, "SELECT id FROM customers").await;
        assert_eq!(short.body["result"]["data"].as_array().map(Vec::len), Some(40), "{backend:?}: {}", short.text);
        if backend == Backend::Postgres {
            // A text condition reads the distinct strings at its field: 40 descriptions of
            // 1 MiB pass the same bound, and the search is refused rather than read whole.
            let params = json!({"query": {"filter": {"contains": {"description": "xxx"}}}});
            let a = execute(&e.base, &app, &id, "context_store_search", params).await;
            assert_eq!((a.status, &a.body["details"]["reason"]), (422, &json!("too_broad")), "{}", a.text);
            let params = json!({"query": {"filter": {"contains": {"email": "example"}}}});
            let a = execute(&e.base, &app, &id, "context_store_search", params).await;
            assert_eq!(a.status, 200, "a narrow field still answers: {}", &a.text[..a.text.len().min(300)]);
        }
        // A cursor is the caller's text: a forged offset past any table is refused.
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
            "o:{}:{}",
            u64::MAX,
            search_digest(&json!(null))
        ));
        let a = execute(&e.base, &app, &id, "context_store_search", json!({"cursor": forged})).await;
        assert_eq!(
            (a.status, &a.body["details"]["reason"]),
            (422, &json!("invalid_cursor")),
            "{backend:?}: {}",
            a.text
        );
    }
}

/// The digest a search cursor carries of its query (`search::query_digest`'s rule).
fn search_digest(query: &Value) -> String {
    use sha2::Digest;
    let text = if query.is_null() { String::new() } else { query.to_string() };
    hex::encode(&sha2::Sha256::digest(text.as_bytes())[..6])
}

/// Deleting a connector removes its cached records and sync state from its workspace's cache
/// (another connector of the workspace, whose SQL may read the workspace's tables, no longer
/// finds them), its schedules with it, and a sync of it still running stops calling the
/// provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_connectors_cache_goes_with_it() {
    for backend in [Backend::Postgres, Backend::Sqlite] {
        let (fake_base, fake) = start_fake(300).await;
        let Some(e) = start(backend, |_| {}).await else { return };
        let app = e.app_token().await;
        let gone = create(&e.base, &app, stripe_body(&fake_base, "ws-del")).await;
        let kept = create(&e.base, &app, stripe_body(&fake_base, "ws-del")).await;
        synced(&e, &app, &gone, 300).await;
        synced(&e, &app, &kept, 300).await;
        let table = match backend {
            Backend::Sqlite => store::table_name(&gone, "customers"),
            _ => pg::table_name(&gone, "customers"),
        };
        let count = format!("SELECT count(*) AS n FROM \"{table}\"");
        let a = sql(&e.base, &app, &kept, &count).await;
        assert_eq!(a.body["result"]["data"][0]["n"], 300, "{backend:?}: the workspace's tables read: {}", a.text);
        // A scheduled sync of it, then the delete.
        let sched = format!("/api/v1/integrations/connectors/{gone}/context-store/sync");
        let a = e.post(&sched, &app, json!({"entities": ["customers"], "every_seconds": 3600})).await;
        assert!(a.status == 202 || a.status == 200, "{}", a.text);
        let _ = wait_done(&e.base, &app, &gone).await;
        let schedules = switchboard_engine::context_store::schedule::of_connector(&e.state.db, &gone).await;
        assert_eq!(schedules.map(|s| s.len()).ok(), Some(1), "{backend:?}: scheduled");
        let d = call("DELETE", &e.url(&format!("/api/v1/integrations/connectors/{gone}")), Some(&app), None, &[]).await;
        assert_eq!(d.status, 204, "{}", d.text);
        let a = sql(&e.base, &app, &kept, &count).await;
        assert_eq!(a.status, 422, "{backend:?}: the deleted connector's records are still read: {}", a.text);
        let states =
            sql(&e.base, &app, &kept, &format!("SELECT count(*) AS n FROM sync_state WHERE connector_id = '{gone}'"))
                .await;
        assert_eq!(states.body["result"]["data"][0]["n"], 0, "{backend:?}: {}", states.text);
        let own = sql(&e.base, &app, &kept, "SELECT count(*) AS n FROM customers").await;
        assert_eq!(
            own.body["result"]["data"][0]["n"], 300,
            "{backend:?}: the other connector keeps its own: {}",
            own.text
        );
        let schedules = switchboard_engine::context_store::schedule::of_connector(&e.state.db, &gone).await;
        assert_eq!(schedules.map(|s| s.len()).ok(), Some(0), "{backend:?}: its schedule is gone");

        // A sync running when its connector is deleted stops within a page or two.
        fake.delay_ms.store(200, Ordering::SeqCst);
        let running = create(&e.base, &app, stripe_body(&fake_base, "ws-del")).await;
        assert_eq!(sync(&e.base, &app, &running).await.status, 202);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let d =
            call("DELETE", &e.url(&format!("/api/v1/integrations/connectors/{running}")), Some(&app), None, &[]).await;
        assert_eq!(d.status, 204, "{}", d.text);
        let served = fake.pages.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let after = fake.pages.load(Ordering::SeqCst);
        assert!(after <= served + 2, "{backend:?}: the sync went on after its delete: {served} then {after} pages");
        fake.delay_ms.store(0, Ordering::SeqCst);
    }
}

/// An engine on PostgreSQL with one Stripe connector in workspace `ws` whose 30 customers are
/// synced: the fake (kept alive), the engine, its application token and the connector's id.
async fn synced_on_postgres(ws: &str) -> Option<(std::sync::Arc<context_store_fake::Fake>, Engine, String, String)> {
    let (fake_base, fake) = start_fake(30).await;
    let e = start(Backend::Postgres, |_| {}).await?;
    let app = e.app_token().await;
    let id = create(&e.base, &app, stripe_body(&fake_base, ws)).await;
    synced(&e, &app, &id, 30).await;
    Some((fake, e, app, id))
}

/// A connector's delete and a page of its sync committing at once wait for each other: the
/// delete takes the sync's rows before dropping its tables, in the order a page's commit takes
/// them (its fenced UPDATE, then its INSERT), where it used to drop first and deadlock with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_and_a_page_commit_at_once_do_not_deadlock() {
    use sqlx::Connection;
    let Some((_fake, e, app, id)) = synced_on_postgres("ws-race").await else { return };
    let ws = workspace_id(&e, &app, "ws-race").await;
    let cache = pg::PgCache::of_workspace(&e.state.db, &e.app.organization_id, &ws)
        .unwrap_or_else(|| panic!("the store is PostgreSQL"));
    let url = e.state.settings.database_url.clone().unwrap_or_else(|| panic!("no database URL"));
    let mut page = sqlx::PgConnection::connect(&url).await.unwrap_or_else(|e| panic!("{e}"));
    let mut tx = page.begin().await.unwrap_or_else(|e| panic!("{e}"));
    // A page's commit, half way: its fenced UPDATE holds the sync's row.
    let updated = sqlx::query(&format!(
        "UPDATE \"{}\".sync_state SET pages = pages + 1 WHERE connector_id = $1 AND entity = 'customers'",
        cache.schema
    ))
    .bind(&id)
    .execute(&mut *tx)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(updated.rows_affected(), 1);
    let forget = {
        let (cache, id) = (cache.clone(), id.clone());
        tokio::spawn(async move { cache.forget(&id).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Then its INSERT, while the delete runs.
    let table = cache.qualified(&pg::table_name(&id, "customers"));
    let inserted = sqlx::query(&format!(
        "INSERT INTO {table} (id, record, synced_at, generation) VALUES ('cus_late', '{{}}'::jsonb, 'now', 1)"
    ))
    .execute(&mut *tx)
    .await;
    assert!(inserted.is_ok(), "the page's commit failed: {:?}", inserted.err());
    tx.commit().await.unwrap_or_else(|e| panic!("the page's commit failed: {e}"));
    let forgot = tokio::time::timeout(Duration::from_secs(10), forget).await;
    let forgot = forgot.unwrap_or_else(|_| panic!("the delete never finished")).unwrap_or_else(|e| panic!("{e}"));
    assert!(forgot.is_ok(), "the delete failed: {:?}", forgot.err().map(|e| e.message));
    assert!(!cache.table_exists(&id, "customers").await.unwrap_or_else(|e| panic!("{e:?}")), "the table stays");
}

/// A query whose caller went away keeps its turn among the engine's tenant queries until the
/// database is done with it (its time limit at most): the turns bound the statements running on
/// the server, not the requests still waiting for an answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_whose_caller_left_keeps_its_turn_until_the_database_is_done() {
    let Some((_fake, e, app, id)) = synced_on_postgres("ws-left").await else { return };
    let turns = e.state.db.tenant_queries();
    let free = turns.available_permits();
    let body = json!({"entity": "customers", "action": "context_store_sql_query",
        "params": {"sql": "SELECT pg_sleep(30)::text AS slept"}});
    let gone = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
        .post(e.url(&format!("/api/v1/integrations/connectors/{id}/execute")))
        .bearer_auth(&app)
        .json(&body)
        .send()
        .await;
    assert!(gone.is_err(), "the caller was to leave before the answer");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(turns.available_permits(), free - 1, "the statement runs on: its turn is held");
    // Given back once the statement is stopped at the query's time limit.
    let deadline = Instant::now() + Duration::from_secs(15);
    while turns.available_permits() != free {
        assert!(Instant::now() < deadline, "the turn was never given back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// SQL runs as the workspace's read-only role: the database refuses writes, DDL, other
/// workspaces' schemas, the catalog's secrets, server files, changing the role back and long
/// statements, with the SQLite cache's typed errors, naming no other workspace's schema; other
/// tenants get 404 on every road.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_on_postgres_is_read_only_by_the_databases_privileges() {
    let (fake_base, _fake) = start_fake(300).await;
    let Some(e) = start(Backend::Postgres, |_| {}).await else { return };
    let app = e.app_token().await;
    let id = create(&e.base, &app, stripe_body(&fake_base, "ws-a")).await;
    let other = create(&e.base, &app, stripe_body(&fake_base, "ws-b")).await;
    for c in [&id, &other] {
        synced(&e, &app, c, 300).await;
    }
    let org = &e.app.organization_id;
    let (ws_a, ws_b) = (workspace_id(&e, &app, "ws-a").await, workspace_id(&e, &app, "ws-b").await);
    let own_schema = format!("{}{}", pg::SCHEMA_PREFIX, store::workspace_key(org, &ws_a));
    let other_schema = format!("{}{}", pg::SCHEMA_PREFIX, store::workspace_key(org, &ws_b));
    let own_table = format!("{own_schema}.{}", pg::table_name(&id, "customers"));
    let other_table = format!("{other_schema}.{}", pg::table_name(&other, "customers"));

    // Reads: the entity's view, the workspace's tables, typed values, the row limit.
    let ok = sql(&e.base, &app, &id, "SELECT id, record->>'email' AS email, record->'balance' AS balance, (record->>'created')::bigint AS created FROM customers ORDER BY id LIMIT 3").await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let first = &ok.body["result"]["data"][0];
    assert_eq!(first["id"], "cus_000001", "{}", ok.text);
    assert_eq!(first["email"], record(1)["email"], "{}", ok.text);
    assert_eq!(first["balance"], record(1)["balance"], "{}", ok.text);
    assert_eq!(first["created"], record(1)["created"], "{}", ok.text);
    let limited =
        execute(&e.base, &app, &id, "context_store_sql_query", json!({"sql": "SELECT id FROM customers", "limit": 10}))
            .await;
    assert_eq!(limited.body["result"]["data"].as_array().map(Vec::len), Some(10), "{}", limited.text);
    assert_eq!(limited.body["result"]["meta"]["has_more"], true, "{}", limited.text);
    let counted = sql(&e.base, &app, &id, "SELECT count(*) AS n, count(DISTINCT id) AS d FROM customers").await;
    assert_eq!(counted.body["result"]["data"][0], json!({"n": 300, "d": 300}), "{}", counted.text);
    let own = sql(&e.base, &app, &id, &format!("SELECT count(*) AS n FROM {own_table}")).await;
    assert_eq!(own.body["result"]["data"][0]["n"], 300, "{}", own.text);
    let state = sql(&e.base, &app, &id, "SELECT entity, status FROM sync_state").await;
    assert_eq!(state.body["result"]["data"], json!([{"entity": "customers", "status": "succeeded"}]), "{}", state.text);

    let refused: Vec<(String, &str)> = vec![
        (
            "INSERT INTO customers (id, record, synced_at) VALUES ('x', '{}', 'now') RETURNING id".into(),
            "write_refused",
        ),
        ("INSERT INTO customers (id, record, synced_at) VALUES ('x', '{}', 'now')".into(), "write_refused"),
        (format!("DELETE FROM {own_table}"), "write_refused"),
        (format!("DELETE FROM {own_table} RETURNING id"), "write_refused"),
        (format!("UPDATE {own_table} SET record = '{{}}' RETURNING id"), "write_refused"),
        (format!("WITH d AS (DELETE FROM {own_table} RETURNING id) SELECT count(*) FROM d"), "write_refused"),
        ("CREATE TABLE t (a int)".into(), "write_refused"),
        ("CREATE TEMPORARY TABLE t (a int)".into(), "write_refused"),
        (format!("DROP TABLE {own_table}"), "write_refused"),
        ("COPY customers TO STDOUT".into(), "write_refused"),
        ("COPY (SELECT 1) TO '/tmp/sb-context-store-copy'".into(), "write_refused"),
        ("SET ROLE postgres".into(), "pragma_refused"),
        ("RESET ROLE".into(), "pragma_refused"),
        ("SELECT set_config('role', 'postgres', true)".into(), "pragma_refused"),
        ("SELECT set_config('role', 'postgres', true), (SELECT count(*) FROM pg_authid)".into(), "sql_error"),
        ("SELECT rolname, rolpassword FROM pg_authid".into(), "sql_error"),
        ("SELECT count(*) FROM public.connectors".into(), "sql_error"),
        (format!("SELECT count(*) FROM {other_table}"), "sql_error"),
        (format!("SELECT * FROM {other_schema}.sync_state"), "sql_error"),
        ("SELECT pg_read_file('/etc/passwd')".into(), "function_refused"),
        ("SELECT lo_import('/etc/passwd')".into(), "function_refused"),
        ("SELECT dblink('dbname=postgres', 'SELECT 1')".into(), "sql_error"),
        ("SELECT 1; DELETE FROM customers".into(), "multiple_statements"),
        ("SELECT pg_sleep(30)".into(), "time_limit"),
        ("SELECT set_config('statement_timeout', '0', false), pg_sleep(30)".into(), "time_limit"),
        ("SELECT pg_terminate_backend(pg_backend_pid())".into(), "sql_error"),
        ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r".into(), "time_limit"),
        ("SELECT * FROM nowhere".into(), "sql_error"),
    ];
    for (q, reason) in &refused {
        let a = sql(&e.base, &app, &id, q).await;
        assert_eq!((a.status, &a.body["code"]), (422, &json!("validation")), "{q}: {}", a.text);
        assert_eq!(a.body["details"]["reason"], *reason, "{q}: {}", a.text);
        // What the query named is not echoed back: no other workspace's schema, no connector.
        assert!(!a.text.contains(&other_schema[pg::SCHEMA_PREFIX.len()..]), "{q} named a schema: {}", a.text);
        assert!(!a.text.contains(&other), "{q} named the other connector: {}", a.text);
    }
    assert!(!std::path::Path::new("/tmp/sb-context-store-copy").exists(), "COPY wrote a file");
    // Nothing changed; the role stays the read-only one within a query.
    let counted = sql(&e.base, &app, &id, "SELECT count(*) AS n FROM customers").await;
    assert_eq!(counted.body["result"]["data"][0]["n"], 300, "{}", counted.text);
    let who = sql(&e.base, &app, &id, "SELECT current_user::text AS u, session_user::text AS s").await;
    assert_eq!(who.body["result"]["data"][0]["u"], format!("{own_schema}_ro"), "{}", who.text);

    // The role as the database has it: no login, no inherited rights, nothing on public.
    let url = e.database_url.clone().unwrap_or_default();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap_or_else(|e| panic!("{e}"));
    let row: (bool, bool, bool, bool) = sqlx::query_as(
        "SELECT rolcanlogin, rolsuper, has_schema_privilege(rolname, 'public', 'CREATE'),
            has_schema_privilege(rolname, $2, 'USAGE') FROM pg_roles WHERE rolname = $1",
    )
    .bind(format!("{own_schema}_ro"))
    .bind(&other_schema)
    .fetch_one(&pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(row, (false, false, false, false), "login, superuser, CREATE on public, USAGE on the other schema");
    pool.close().await;

    // Other tenants: another organization, another workspace's scoped token: 404 everywhere.
    let org_b = switchboard_engine::admin::create_application(&e.state.db, e.state.secrets.hasher(), "org-b")
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let org_b = e.app_token_for(&org_b).await;
    let ws_b_token = e.scoped_token(&app, "ws-b").await;
    for token in [&org_b, &ws_b_token] {
        let roads = [
            sync(&e.base, token, &id).await,
            call(
                "GET",
                &e.url(&format!("/api/v1/integrations/connectors/{id}/context-store/status")),
                Some(token),
                None,
                &[],
            )
            .await,
            execute(&e.base, token, &id, "context_store_search", json!({"query": {}})).await,
            sql(&e.base, token, &id, "SELECT * FROM customers").await,
        ];
        for a in roads {
            assert_eq!(a.status, 404, "{}", a.text);
            assert_eq!(a.body["message"], "connector not found", "{}", a.text);
        }
    }
    let ws_a_token = e.scoped_token(&app, "ws-a").await;
    let a = search(&e.base, &ws_a_token, &id, json!({"query": {}, "limit": 1})).await;
    assert_eq!(a.body["result"]["data"][0]["id"], "cus_000001", "{}", a.text);

    // Before a sync: the same not_synced as on SQLite.
    let fresh = create(&e.base, &app, stripe_body(&fake_base, "ws-c")).await;
    for action in ["context_store_search", "context_store_sql_query"] {
        let params = if action == "context_store_search" { json!({"query": {}}) } else { json!({"sql": "SELECT 1"}) };
        let a = execute(&e.base, &app, &fresh, action, params).await;
        assert_eq!(a.body["details"]["reason"], "not_synced", "{}", a.text);
    }
}

// ---------------------------------------------------------------- kill -9

/// A real `switchboard serve` on PostgreSQL syncs 10,000 records; it is killed with SIGKILL
/// mid-sync, and a new process on the same database resumes from the last committed page:
/// every record once, no page fetched again but the one in flight. Then 50 records go at the
/// provider and a new full sync deletes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_mid_way_on_postgres_resumes_with_nothing_lost_or_duplicated() {
    const N: usize = 10_000;
    let Some(url) = postgres_database().await else { return };
    let (fake_base, fake) = start_fake(N).await;
    // Slow enough pages that the kill lands mid-way on any machine.
    fake.delay_ms.store(50, Ordering::SeqCst);
    let key = Key::generate().to_base64();
    let env = [("SWITCHBOARD_MASTER_KEY", key.as_str()), ("SWITCHBOARD_CONTEXT_STORE_LEASE_SECONDS", "2")];
    let dir = TempDir::new();
    let mut serve = tokio::task::block_in_place(|| Serve::start(&dir.0, Some(&url), &env));
    let (cid, secret) = serve.first_creds();
    let token = serve.app_token(&cid, &secret).await;
    let id = create(&serve.base, &token, stripe_body(&fake_base, "ws-kill")).await;
    let a = sync(&serve.base, &token, &id).await;
    assert_eq!(a.status, 202, "{}", a.text);
    loop {
        let s = status(&serve.base, &token, &id).await;
        assert_eq!(s["status"], "running", "finished before the kill: {s}");
        if s["records_synced"].as_i64().unwrap_or(0) >= 3_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    serve.kill();
    let pages_at_kill = fake.pages.load(Ordering::SeqCst);
    fake.delay_ms.store(0, Ordering::SeqCst);

    // A new process (another data dir: the cache is in the database) resumes by itself.
    let other_dir = TempDir::new();
    let serve = tokio::task::block_in_place(|| Serve::start(&other_dir.0, Some(&url), &env));
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
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["generation"], 1, "resumed, not restarted: {done}");
    assert_eq!(done["mode"], "full", "{done}");
    assert!(done["last_full_sync_at"].is_string(), "{done}");
    assert_eq!(done["last_full_sync_at"], done["finished_at"], "{done}");
    assert_eq!(done["records_synced"], N, "{done}");
    assert_eq!(done["record_count"], N, "{done}");
    assert_eq!(done["pages"], N / 100, "{done}");
    let pages = fake.pages.load(Ordering::SeqCst);
    assert!((N / 100..=N / 100 + 1).contains(&pages), "{pages} pages fetched ({pages_at_kill} at the kill)");
    assert!(!other_dir.0.join("context-store").exists() && !dir.0.join("context-store").exists());

    let q = |s: &'static str| sql(&serve.base, &token, &id, s);
    let a = q("SELECT count(*) AS n, count(DISTINCT id) AS d, min(id) AS lo, max(id) AS hi FROM customers").await;
    assert_eq!(
        a.body["result"]["data"][0],
        json!({"n": N, "d": N, "lo": "cus_000001", "hi": "cus_010000"}),
        "{}",
        a.text
    );
    let a = q("SELECT count(*) AS bad FROM customers WHERE id !~ '^cus_[0-9]{6}$' OR record->>'id' <> id").await;
    assert_eq!(a.body["result"]["data"][0]["bad"], 0, "{}", a.text);
    for i in [1, 2_999, 3_001, 5_432, N] {
        let a =
            search(&serve.base, &token, &id, json!({"query": {"filter": {"eq": {"id": format!("cus_{i:06}")}}}})).await;
        assert_eq!(a.body["result"]["data"], json!([record(i)]), "record {i}: {}", a.text);
    }

    // Reconciliation: records deleted at the provider go on the next full sync.
    let gone: Vec<usize> = (0..50).map(|k| 1 + k * 197).collect();
    fake.deleted.lock().unwrap_or_else(|e| e.into_inner()).extend(gone.iter().copied());
    let a = sync(&serve.base, &token, &id).await;
    assert_eq!(a.body["entities"][0]["status"], "started", "{}", a.text);
    assert_eq!(a.body["entities"][0]["generation"], 2, "{}", a.text);
    let done = wait_done(&serve.base, &token, &id).await;
    assert_eq!(
        (done["status"].as_str(), done["record_count"].as_u64(), done["deleted"].as_u64()),
        (Some("succeeded"), Some(N as u64 - 50), Some(50)),
        "{done}"
    );
    let ids: Vec<String> = gone.iter().map(|i| format!("cus_{i:06}")).collect();
    let a = search(&serve.base, &token, &id, json!({"query": {"filter": {"in": {"id": ids}}}})).await;
    assert_eq!(a.body["result"]["data"], json!([]), "{}", a.text);
}

// ---------------------------------------------------------------- an unprivileged engine role

/// The engine connected as an ordinary role (no superuser) that owns its database and has
/// `CREATEROLE`, the rights the README names: it creates the schema and the read-only role, and
/// the role's queries are as confined as under a superuser engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_role_with_createrole_and_its_own_database_is_enough() {
    let Ok(admin_url) = std::env::var("SWITCHBOARD_TEST_DATABASE_URL") else {
        eprintln!("skipping: SWITCHBOARD_TEST_DATABASE_URL is not set");
        return;
    };
    sqlx::any::install_default_drivers();
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let (role, database) = (format!("sb_engine_{suffix}"), format!("sb_test_{suffix}"));
    let admin = sqlx::AnyPool::connect(&admin_url).await.unwrap_or_else(|e| panic!("{e}"));
    for q in
        [format!("CREATE ROLE {role} LOGIN NOSUPERUSER CREATEROLE"), format!("CREATE DATABASE {database} OWNER {role}")]
    {
        sqlx::query(&q).execute(&admin).await.unwrap_or_else(|e| panic!("{q}: {e}"));
    }
    admin.close().await;
    // postgres://USER@HOST/DB -> postgres://ROLE@HOST/DATABASE
    let (scheme, rest) = admin_url.split_once("://").unwrap_or_else(|| panic!("{admin_url}"));
    let host = rest.split_once('@').map(|(_, h)| h).unwrap_or(rest);
    let host = host.split_once('/').map(|(h, _)| h).unwrap_or(host);
    let url = format!("{scheme}://{role}@{host}/{database}");

    let (fake_base, _fake) = start_fake(200).await;
    let Some(e) = start(Backend::Postgres, |s| s.database_url = Some(url.clone())).await else { return };
    let app = e.app_token().await;
    let id = create(&e.base, &app, stripe_body(&fake_base, "ws-plain")).await;
    synced(&e, &app, &id, 200).await;
    let a = sql(&e.base, &app, &id, "SELECT count(*) AS n, current_user = session_user AS same FROM customers").await;
    assert_eq!(a.body["result"]["data"][0], json!({"n": 200, "same": false}), "{}", a.text);
    let a = search(&e.base, &app, &id, json!({"query": {"filter": {"fuzzy": {"name": "jonathon"}}}, "limit": 1})).await;
    assert_eq!(a.body["result"]["data"].as_array().map(Vec::len), Some(1), "{}", a.text);
    for (q, reason) in [
        ("DELETE FROM customers RETURNING id", "write_refused"),
        ("SELECT set_config('role', current_setting('role'), true)", "pragma_refused"),
        ("SELECT count(*) FROM public.connectors", "sql_error"),
    ] {
        let a = sql(&e.base, &app, &id, q).await;
        assert_eq!(a.body["details"]["reason"], reason, "{q}: {}", a.text);
    }
}
