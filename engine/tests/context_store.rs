//! The context store (entity cache), SQLite increment: full syncs through the engine's sync
//! route from a Stripe-shaped fake of this file (its record count, deletions and served pages
//! are the test's to set and read), search through the execute route checked operator by
//! operator against an independent evaluation in Python (`tests/context_store/filter_oracle.py`)
//! over the same records, read-only SQL refusals, tenant isolation, and a real `switchboard
//! serve` killed with SIGKILL mid-sync that resumes with nothing lost or stored twice.
//!
//! The generic fake upstream serves five records per list; these tests need 100,000 and
//! deletions, so the fake here plays Stripe's customer list (`limit`, `starting_after`,
//! `has_more`) over records made by [`record`].

mod common;
mod context_store_fake;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::serve::Serve;
use common::{call, start, Backend, Engine, TempDir};
use context_store_fake::{create, execute, record, search_ids, sql, start_fake, status, sync, wait_done};
use serde_json::{json, Value};
use switchboard_engine::crypto::Key;

// The fake Stripe customer list is in context_store_fake (shared with context_store_pg.rs).

// ---------------------------------------------------------------- helpers

fn stripe_body(base: &str, workspace: &str) -> Value {
    json!({"connector_type": "stripe", "name": "billing", "workspace_name": workspace,
        "credentials": {"api_key": "sk_test_context_store"}, "config": {"base_url": base}})
}

// ---------------------------------------------------------------- search against Python

/// One query per operator (and per operand type where comparisons are typed), combinators,
/// nested paths and sorts.
fn cases() -> Vec<Value> {
    let f = |filter: Value| json!({"filter": filter});
    // Values the records hold: an integer and a float balance.
    let balance = |float: bool| (1..).map(record).map(|r| r["balance"].clone()).find(|b| b.is_f64() == float);
    let (int_balance, float_balance) = (balance(false), balance(true));
    vec![
        f(json!({"eq": {"currency": "eur"}})),
        f(json!({"eq": {"balance": int_balance}})),
        f(json!({"eq": {"balance": float_balance}})),
        f(json!({"eq": {"delinquent": true}})),
        f(json!({"eq": {"name": null}})),
        f(json!({"eq": {"metadata.tier": "gold"}})),
        f(json!({"eq": {"shipping.address.city": "São Paulo"}})),
        f(json!({"neq": {"currency": "usd"}})),
        f(json!({"neq": {"delinquent": false}})),
        f(json!({"neq": {"name": null}})),
        f(json!({"gt": {"balance": 500}})),
        f(json!({"gte": {"balance": 500.5}})),
        f(json!({"lt": {"balance": -900}})),
        f(json!({"lte": {"created": 1_600_010_000}})),
        f(json!({"gt": {"email": "maria"}})),
        f(json!({"lt": {"name": "J"}})),
        f(json!({"in": {"currency": ["gbp", "usd"]}})),
        f(json!({"in": {"balance": [1, 2, 3, 100.5, "1"]}})),
        f(json!({"in": {"delinquent": [true, null]}})),
        f(json!({"contains": {"email": "SMITH"}})),
        f(json!({"contains": {"name": "müll"}})),
        f(json!({"startswith": {"email": "JOHN."}})),
        f(json!({"endswith": {"email": "@globex.io"}})),
        f(json!({"like": {"email": "j%n.%@acme.com"}})),
        f(json!({"like": {"name": "L_ %"}})),
        f(json!({"fuzzy": {"name": "smith jon"}})),
        f(json!({"fuzzy": {"name": "Jonathon"}})),
        f(json!({"fuzzy": {"description": "zurich premum"}})),
        f(json!({"keyword": {"description": "vip churn"}})),
        f(json!({"keyword": {"description": "billing"}})),
        f(json!({"array_contains": {"preferred_locales": "fr"}})),
        f(json!({"array_contains": {"preferred_locales": "xx"}})),
        f(json!({"any": {"shipping.lines": {"eq": {"sku": "sku-3"}}}})),
        f(json!({"any": {"shipping.lines": {"and": [{"gte": {"qty": 3}}, {"startswith": {"sku": "sku-1"}}]}}})),
        f(json!({"and": [{"eq": {"currency": "usd"}}, {"gt": {"balance": 0}}]})),
        f(json!({"or": [{"eq": {"tax_exempt": "exempt"}}, {"array_contains": {"preferred_locales": "de"}}]})),
        f(json!({"not": {"eq": {"currency": "usd"}}})),
        f(json!({"not": {"or": [{"contains": {"email": "acme"}}, {"eq": {"delinquent": null}}]}})),
        f(json!({"eq": {"currency": "gbp"}, "lt": {"balance": 0}})),
        json!({"filter": {"eq": {"currency": "eur"}}, "sort": [{"balance": "desc"}]}),
        json!({"filter": {"gt": {"balance": 900}}, "sort": [{"name": "asc"}, {"created": "desc"}]}),
        json!({"sort": [{"delinquent": "asc"}, {"email": "desc"}]}),
        json!({}),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_filter_operator_agrees_with_an_independent_evaluation() {
    const N: usize = 3000;
    let (fake_base, _fake) = start_fake(N).await;
    let Some(e) = start(Backend::Sqlite, |_| {}).await else { return };
    let app = e.app_token().await;
    let id = create(&e.base, &app, stripe_body(&fake_base, "ws-search")).await;
    let started = sync(&e.base, &app, &id).await;
    assert_eq!(started.status, 202, "{}", started.text);
    assert_eq!(started.body["entities"][0]["status"], "started", "{}", started.text);
    let done = wait_done(&e.base, &app, &id).await;
    assert_eq!((done["status"].as_str(), done["record_count"].as_i64()), (Some("succeeded"), Some(N as i64)), "{done}");

    let dir = TempDir::new();
    let records: Vec<Value> = (1..=N).map(record).collect();
    let cases = cases();
    let records_file = dir.0.join("records.json");
    let cases_file = dir.0.join("cases.json");
    std::fs::write(&records_file, serde_json::to_vec(&records).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&cases_file, serde_json::to_vec(&cases).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    let oracle = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/context_store/filter_oracle.py");
    let out = std::process::Command::new("python3")
        .arg(oracle)
        .arg(&records_file)
        .arg(&cases_file)
        .output()
        .unwrap_or_else(|e| panic!("python3: {e}"));
    assert!(out.status.success(), "the oracle failed: {}", String::from_utf8_lossy(&out.stderr));
    let expected: Vec<Vec<String>> =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("oracle output: {e}"));
    assert_eq!(expected.len(), cases.len());

    let mut nonempty = 0;
    for (case, want) in cases.iter().zip(&expected) {
        let got = search_ids(&e.base, &app, &id, case).await;
        assert_eq!(got.len(), want.len(), "{case}: {} records, the oracle {}", got.len(), want.len());
        assert_eq!(&got, want, "{case}");
        if !want.is_empty() && want.len() < N {
            nonempty += 1;
        } else {
            eprintln!("matches {} of {N}: {case}", want.len());
        }
    }
    // The cases discriminate: all but three (an absent array element, and two with no filter)
    // select a proper, non-empty subset.
    assert_eq!(nonempty, cases.len() - 3, "cases that match nothing or everything (above)");

    // A search answers records in full, trims to fields, and pages with its cursor.
    let a =
        execute(&e.base, &app, &id, "context_store_search", json!({"query": {"filter": {"eq": {"id": "cus_000007"}}}}))
            .await;
    assert_eq!(a.body["result"]["data"], json!([record(7)]), "{}", a.text);
    let a = execute(
        &e.base,
        &app,
        &id,
        "context_store_search",
        json!({"query": {}, "limit": 2, "fields": ["id", "shipping.address.city"]}),
    )
    .await;
    assert_eq!(a.body["result"]["data"][0]["id"], "cus_000001", "{}", a.text);
    assert_eq!(a.body["result"]["meta"]["has_more"], true, "{}", a.text);
    // Its cursor reads the next page of the same query, and is refused with another one.
    let cursor = a.body["result"]["meta"]["cursor"].clone();
    let next =
        execute(&e.base, &app, &id, "context_store_search", json!({"query": {}, "limit": 2, "cursor": cursor})).await;
    assert_eq!(next.body["result"]["data"][0]["id"], "cus_000003", "{}", next.text);
    let other = json!({"query": {"filter": {"eq": {"currency": "eur"}}}, "limit": 2, "cursor": cursor});
    let other = execute(&e.base, &app, &id, "context_store_search", other).await;
    assert_eq!(other.body["details"]["reason"], "invalid_cursor", "{}", other.text);

    // Errors an LLM can act on: the place and the fix, under validation.
    for (query, at, says) in [
        (json!({"filter": {"equals": {"name": "x"}}}), "filter.equals", "unknown operator"),
        (json!({"filter": {"eq": {"nmae": "x"}}}), "filter.eq.nmae", "unknown field \"nmae\""),
        (json!({"filter": {"gt": {"balance": [1]}}}), "filter.gt.balance", "number or a string"),
        (json!({"filter": {}}), "filter", "omit"),
    ] {
        let a = execute(&e.base, &app, &id, "context_store_search", json!({"query": query})).await;
        assert_eq!((a.status, &a.body["code"]), (422, &json!("validation")), "{query}: {}", a.text);
        assert_eq!(a.body["details"]["at"], at, "{query}: {}", a.text);
        assert!(a.body["message"].as_str().unwrap_or_default().contains(says), "{query}: {}", a.text);
    }
    let a = execute(&e.base, &app, &id, "context_store_search", json!({"query": {}, "cursor": "garbage"})).await;
    assert_eq!(a.body["details"]["reason"], "invalid_cursor", "{}", a.text);
}

// ---------------------------------------------------------------- SQL and isolation

// The SQLite cache (a SQLite main store); the PostgreSQL cache, which a PostgreSQL main store
// uses, has the same checks in context_store_pg.rs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_is_read_only_bounded_and_stays_in_its_workspace() {
    let backend = Backend::Sqlite;
    let (fake_base, _fake) = start_fake(500).await;
    let Some(e) = start(backend, |_| {}).await else { return };
    let app = e.app_token().await;
    let id = create(&e.base, &app, stripe_body(&fake_base, "ws-a")).await;
    let other = create(&e.base, &app, stripe_body(&fake_base, "ws-b")).await;
    for c in [&id, &other] {
        let started = sync(&e.base, &app, c).await;
        assert_eq!(started.status, 202, "{}", started.text);
        // The whole entity status (last_error included) if it did not succeed.
        let done = wait_done(&e.base, &app, c).await;
        assert_eq!(done["status"], "succeeded", "{done}");
    }

    let ok = sql(&e.base, &app, &id, "SELECT id, json_extract(record, '$.email') AS email, record->>'balance' AS balance FROM customers ORDER BY id LIMIT 3").await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["result"]["data"][0]["id"], "cus_000001", "{}", ok.text);
    assert_eq!(ok.body["result"]["data"][0]["email"], record(1)["email"], "{}", ok.text);
    assert_eq!(ok.body["result"]["data"][0]["balance"], record(1)["balance"], "{}", ok.text);
    let limited =
        execute(&e.base, &app, &id, "context_store_sql_query", json!({"sql": "SELECT id FROM customers", "limit": 10}))
            .await;
    assert_eq!(limited.body["result"]["data"].as_array().map(Vec::len), Some(10), "{}", limited.text);
    assert_eq!(limited.body["result"]["meta"]["has_more"], true, "{}", limited.text);
    let counted = sql(&e.base, &app, &id, "SELECT count(*) AS n, count(DISTINCT id) AS d FROM customers").await;
    assert_eq!(counted.body["result"]["data"][0], json!({"n": 500, "d": 500}), "{}", counted.text);

    // The other workspace's file and tables, by every road.
    let other_file = switchboard_engine::context_store::store::workspace_file(
        &e.state.settings.data_dir,
        &e.app.organization_id,
        &workspace_id(&e, &app, "ws-b").await,
    );
    assert!(other_file.exists());
    let other_table = switchboard_engine::context_store::store::table_name(&other, "customers");
    let attach = format!("ATTACH DATABASE '{}' AS o", other_file.display());
    let own_table = switchboard_engine::context_store::store::table_name(&id, "customers");
    let delete = format!("DELETE FROM {own_table}");
    let update = format!("UPDATE {own_table} SET record = '{{}}'");
    let drop = format!("DROP TABLE {own_table}");
    let foreign = format!("SELECT count(*) FROM {other_table}");
    let copy = e.dir.0.join("stolen.sqlite3");
    let vacuum_into = format!("VACUUM INTO '{}'", copy.display());
    let refused: [(&str, &str); 19] = [
        (&vacuum_into, "write_refused"),
        ("VACUUM", "write_refused"),
        ("SELECT * FROM pragma_database_list", "pragma_refused"),
        ("INSERT INTO customers (id, record, synced_at) VALUES ('x', '{}', 'now')", "write_refused"),
        (&delete, "write_refused"),
        (&update, "write_refused"),
        ("CREATE TABLE t (a)", "write_refused"),
        (&drop, "write_refused"),
        ("BEGIN IMMEDIATE", "write_refused"),
        (&attach, "attach_refused"),
        ("DETACH DATABASE main", "attach_refused"),
        ("PRAGMA journal_mode = DELETE", "pragma_refused"),
        ("PRAGMA writable_schema = 1", "pragma_refused"),
        ("PRAGMA query_only = 0", "pragma_refused"),
        ("PRAGMA database_list", "pragma_refused"),
        ("SELECT load_extension('/tmp/x')", "function_refused"),
        (&foreign, "sql_error"),
        ("SELECT 1; DELETE FROM customers", "multiple_statements"),
        ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r", "time_limit"),
    ];
    for (q, reason) in refused {
        let a = sql(&e.base, &app, &id, q).await;
        assert_eq!((a.status, &a.body["code"]), (422, &json!("validation")), "{q}: {}", a.text);
        assert_eq!(a.body["details"]["reason"], reason, "{q}: {}", a.text);
        assert!(!a.text.contains(&other), "{q} named the other connector: {}", a.text);
    }
    assert!(!copy.exists(), "VACUUM INTO wrote a file");
    let info = sql(&e.base, &app, &id, "PRAGMA table_info(customers)").await;
    assert_eq!(info.status, 200, "{}", info.text);
    // Nothing changed.
    let counted = sql(&e.base, &app, &id, "SELECT count(*) AS n FROM customers").await;
    assert_eq!(counted.body["result"]["data"][0]["n"], 500, "{}", counted.text);

    // Other tenants: another organization, another workspace's scoped token, get 404 as for a
    // missing connector on every context store road.
    let org_b = switchboard_engine::admin::create_application(&e.state.db, e.state.secrets.hasher(), "org-b")
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let org_b = e.app_token_for(&org_b).await;
    let ws_b = e.scoped_token(&app, "ws-b").await;
    let ws_a = e.scoped_token(&app, "ws-a").await;
    for token in [&org_b, &ws_b] {
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
    // The owner's scoped token works, and sees its own workspace only.
    let a = execute(&e.base, &ws_a, &id, "context_store_search", json!({"query": {}, "limit": 1})).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let a = sql(&e.base, &ws_a, &id, &format!("SELECT count(*) FROM {other_table}")).await;
    assert_eq!(a.body["details"]["reason"], "sql_error", "{}", a.text);

    // Syncing needs entities that can be synced.
    let url = e.url(&format!("/api/v1/integrations/connectors/{id}/context-store/sync"));
    for (body, reason) in [
        (json!({}), "no_entities"),
        (json!({"entities": ["nope"]}), "unknown_entity"),
        (json!({"entities": ["../x"]}), "unknown_entity"),
    ] {
        let a = call("POST", &url, Some(&app), Some(body.clone()), &[]).await;
        assert_eq!((a.status, &a.body["details"]["reason"]), (422, &json!(reason)), "{body}: {}", a.text);
    }
    // Search before a sync says how to sync.
    let fresh = create(&e.base, &app, stripe_body(&fake_base, "ws-a")).await;
    let a = execute(&e.base, &app, &fresh, "context_store_search", json!({"query": {}})).await;
    assert_eq!(a.body["details"]["reason"], "not_synced", "{}", a.text);

    // The cache file is the owner's alone.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&other_file).unwrap_or_else(|e| panic!("{e}")).permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
}

async fn workspace_id(e: &Engine, app: &str, name: &str) -> String {
    let token = e.scoped_token(app, name).await;
    let info = e.get("/api/v1/embedded/scoped-token/info", &token).await;
    info.body["workspace_id"].as_str().unwrap_or_default().to_string()
}

// ---------------------------------------------------------------- failures

/// A sync the provider fails mid-way is `failed` with the error, keeps what it committed, and
/// the next request resumes it from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sync_keeps_its_pages_and_resumes() {
    let (fake_base, fake) = start_fake(1000).await;
    fake.fail_after.store(400, Ordering::SeqCst);
    let Some(e) = start(Backend::Sqlite, |_| {}).await else { return };
    let app = e.app_token().await;
    let id = create(&e.base, &app, stripe_body(&fake_base, "ws-fail")).await;
    assert_eq!(sync(&e.base, &app, &id).await.status, 202);
    let failed = wait_done(&e.base, &app, &id).await;
    assert_eq!((failed["status"].as_str(), failed["records_synced"].as_i64()), (Some("failed"), Some(400)), "{failed}");
    let error = failed["last_error"].as_str().unwrap_or_default();
    assert!(error.starts_with("validation") || error.starts_with("upstream_http"), "{failed}");
    assert!(!error.contains("sk_test_context_store"), "{failed}");
    let a = sql(&e.base, &app, &id, "SELECT count(*) AS n FROM customers").await;
    assert_eq!(a.body["result"]["data"][0]["n"], 400, "{}", a.text);

    fake.fail_after.store(0, Ordering::SeqCst);
    // Asked once its end reads: the engine waits out the last task letting go of its lease.
    let a = sync(&e.base, &app, &id).await;
    assert_eq!(a.body["entities"][0]["status"], "resumed", "{}", a.text);
    let done = wait_done(&e.base, &app, &id).await;
    assert_eq!(
        (
            done["status"].as_str(),
            done["records_synced"].as_i64(),
            done["record_count"].as_i64(),
            done["pages"].as_i64()
        ),
        (Some("succeeded"), Some(1000), Some(1000), Some(10)),
        "{done}"
    );
    assert!(done["last_error"].is_null(), "{done}");
    // Ten pages served, none twice (the failed request is not counted).
    assert_eq!(fake.pages.load(Ordering::SeqCst), 10);
}

/// A failed sync asked again with `mode: "full"` starts from its first page in a new
/// generation (a checkpoint the provider no longer takes would fail every resume).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_asked_for_starts_a_failed_one_again() {
    let (fake_base, fake) = start_fake(300).await;
    fake.fail_after.store(100, Ordering::SeqCst);
    let Some(e) = start(Backend::Sqlite, |_| {}).await else { return };
    let app = e.app_token().await;
    let id = create(&e.base, &app, stripe_body(&fake_base, "ws-restart")).await;
    assert_eq!(sync(&e.base, &app, &id).await.status, 202);
    let failed = wait_done(&e.base, &app, &id).await;
    assert_eq!((failed["status"].as_str(), failed["generation"].as_i64()), (Some("failed"), Some(1)), "{failed}");
    fake.fail_after.store(0, Ordering::SeqCst);
    let served_before = fake.pages.load(Ordering::SeqCst);
    let path = format!("/api/v1/integrations/connectors/{id}/context-store/sync");
    let a = e.post(&path, &app, json!({"entities": ["customers"], "mode": "full"})).await;
    assert_eq!(a.body["entities"][0]["status"], "started", "{}", a.text);
    let done = wait_done(&e.base, &app, &id).await;
    assert_eq!(
        (done["status"].as_str(), done["generation"].as_i64(), done["record_count"].as_i64()),
        (Some("succeeded"), Some(2), Some(300)),
        "{done}"
    );
    assert_eq!(fake.pages.load(Ordering::SeqCst) - served_before, 3, "every page again, from the first");
}

/// A sync that is no longer the entity's running one (another process took it over and started
/// a newer generation while this one stalled past its lease) writes nothing more: no page, no
/// end, no failure over the newer sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_taken_over_writes_nothing_more() {
    let (fake_base, fake) = start_fake(1000).await;
    fake.delay_ms.store(150, Ordering::SeqCst);
    let Some(e) = start(Backend::Sqlite, |_| {}).await else { return };
    let app = e.app_token().await;
    let id = create(&e.base, &app, stripe_body(&fake_base, "ws-fenced")).await;
    assert_eq!(sync(&e.base, &app, &id).await.status, 202);
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Another process's newer sync of the entity, as its row would read.
    let file = switchboard_engine::context_store::store::workspace_file(
        &e.state.settings.data_dir,
        &e.app.organization_id,
        &workspace_id(&e, &app, "ws-fenced").await,
    );
    let db = rusqlite::Connection::open(&file).unwrap_or_else(|e| panic!("{e}"));
    db.busy_timeout(Duration::from_secs(10)).unwrap_or_else(|e| panic!("{e}"));
    db.execute("UPDATE sync_state SET generation = 99, pages = 0, records_synced = 0 WHERE connector_id = ?1", [&id])
        .unwrap_or_else(|e| panic!("{e}"));
    let read = |db: &rusqlite::Connection| {
        db.query_row("SELECT status, generation, pages FROM sync_state WHERE connector_id = ?1", [&id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        })
        .unwrap_or_else(|e| panic!("{e}"))
    };
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(read(&db), ("running".to_string(), 99, 0), "the stale sync wrote over the newer one");
    let served = fake.pages.load(Ordering::SeqCst);
    assert!(served < 10, "the stale sync paged on to the end: {served} pages");
}

/// A provider whose cursor does not move (the same page again) fails the sync instead of
/// paging forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_that_does_not_move_fails_the_sync() {
    let (fake_base, fake) = start_fake(300).await;
    fake.stuck_after.store(100, Ordering::SeqCst);
    let Some(e) = start(Backend::Sqlite, |_| {}).await else { return };
    let app = e.app_token().await;
    let id = create(&e.base, &app, stripe_body(&fake_base, "ws-stuck")).await;
    assert_eq!(sync(&e.base, &app, &id).await.status, 202);
    let failed = wait_done(&e.base, &app, &id).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(failed["last_error"].as_str().is_some_and(|m| m.contains("cursor does not move")), "{failed}");
    assert_eq!(fake.pages.load(Ordering::SeqCst), 2, "the first page, and the same one again");
}

/// A sync this engine runs reads as `running` until its end is recorded, then as its end:
/// never `interrupted` (the status of a sync no process runs) while the status read races the
/// sync's last commit and the release of its claim. Many one-page full syncs, each watched by
/// concurrent status readers, every answer checked, on both caches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_reads_running_then_its_end_never_interrupted() {
    // The SQLite cache; the PostgreSQL cache when a test server is configured.
    for backend in [Backend::Sqlite, Backend::Postgres] {
        syncs_read_running_then_their_end(backend).await;
    }
}

async fn syncs_read_running_then_their_end(backend: Backend) {
    const ROUNDS: usize = 30;
    let (fake_base, fake) = start_fake(5).await;
    let Some(e) = start(backend, |_| {}).await else { return };
    let app = e.app_token().await;
    let id = create(&e.base, &app, stripe_body(&fake_base, "ws-race")).await;
    for round in 0..ROUNDS {
        // Asked the moment the last sync's end reads (its task may still be letting go of its
        // lease): a new sync, never `already_running`.
        let a = sync(&e.base, &app, &id).await;
        assert_eq!(
            (a.status, &a.body["entities"][0]["status"]),
            (202, &json!("started")),
            "{backend:?} round {round}: {}",
            a.text
        );
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let (base, app, id) = (e.base.clone(), app.clone(), id.clone());
                tokio::spawn(async move {
                    let deadline = Instant::now() + Duration::from_secs(300);
                    loop {
                        let s = status(&base, &app, &id).await;
                        match s["status"].as_str() {
                            Some("running") => {}
                            Some("succeeded") => return s,
                            _ => panic!("{backend:?} round {round}: a sync of this engine read as {s}"),
                        }
                        assert!(Instant::now() < deadline, "{backend:?} round {round}: the sync never finished: {s}");
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        for r in readers {
            let s = r.await.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
            assert_eq!(s["record_count"], 5, "{backend:?} round {round}: {s}");
        }
    }
    // One page per sync.
    assert_eq!(fake.pages.load(Ordering::SeqCst), ROUNDS);
}

// ---------------------------------------------------------------- 100,000 records, kill -9

/// A real `switchboard serve` syncs 100,000 records; it is killed with SIGKILL mid-sync, and a
/// new process resumes from the last committed page: every record once, no page fetched again
/// but the one in flight. Then 100 records go at the provider and a new full sync deletes them.
/// Prints the sync rate and search latencies (BENCHMARKS.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100k_sync_killed_mid_way_resumes_with_nothing_lost_or_duplicated() {
    const N: usize = 100_000;
    let (fake_base, fake) = start_fake(N).await;
    let dir = TempDir::new();
    let key = Key::generate().to_base64();
    let env = [("SWITCHBOARD_MASTER_KEY", key.as_str())];
    let mut serve = tokio::task::block_in_place(|| Serve::start(&dir.0, None, &env));
    let (cid, secret) = serve.first_creds();
    let token = serve.app_token(&cid, &secret).await;
    let id = create(&serve.base, &token, stripe_body(&fake_base, "ws-big")).await;

    let began = Instant::now();
    let a = sync(&serve.base, &token, &id).await;
    assert_eq!(a.status, 202, "{}", a.text);
    // Kill it once a good part is committed.
    loop {
        let s = status(&serve.base, &token, &id).await;
        assert_eq!(s["status"], "running", "finished before the kill: {s}");
        if s["records_synced"].as_i64().unwrap_or(0) >= 30_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    serve.kill();
    let pages_before = fake.pages.load(Ordering::SeqCst);
    let before = Instant::now() - began;

    // The new process resumes the sync by itself, from the last committed page.
    let resumed_at = Instant::now();
    let serve = tokio::task::block_in_place(|| Serve::start(&dir.0, None, &env));
    let token = serve.app_token(&cid, &secret).await;
    let deadline = Instant::now() + Duration::from_secs(600);
    let done = loop {
        let s = status(&serve.base, &token, &id).await;
        if s["status"] == "succeeded" || s["status"] == "failed" {
            break s;
        }
        assert!(Instant::now() < deadline, "the sync never finished: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(serve.logs().contains("resuming an interrupted context store sync"), "{}", serve.logs());
    let elapsed = before + resumed_at.elapsed();
    assert_eq!(done["status"], "succeeded", "{done}");
    // Every page committed once: the counters made in the pages' own transactions add up to N.
    assert_eq!(done["records_synced"], N, "{done}");
    assert_eq!(done["record_count"], N, "{done}");
    assert_eq!(done["pages"], N / 100, "{done}");
    // Pages fetched: N/100, plus at most the one in flight at the kill.
    let pages = fake.pages.load(Ordering::SeqCst);
    assert!((N / 100..=N / 100 + 1).contains(&pages), "{pages} pages fetched ({pages_before} before the kill)");

    let q = |s: &'static str| sql(&serve.base, &token, &id, s);
    let a = q("SELECT count(*) AS n, count(DISTINCT id) AS d, min(id) AS lo, max(id) AS hi FROM customers").await;
    assert_eq!(
        a.body["result"]["data"][0],
        json!({"n": N, "d": N, "lo": "cus_000001", "hi": "cus_100000"}),
        "{}",
        a.text
    );
    let a = q("SELECT count(*) AS bad FROM customers WHERE id NOT GLOB 'cus_[0-9][0-9][0-9][0-9][0-9][0-9]'").await;
    assert_eq!(a.body["result"]["data"][0]["bad"], 0, "{}", a.text);
    for i in [1, 29_999, 30_001, 54_321, N] {
        let a = execute(
            &serve.base,
            &token,
            &id,
            "context_store_search",
            json!({"query": {"filter": {"eq": {"id": format!("cus_{i:06}")}}}}),
        )
        .await;
        assert_eq!(a.body["result"]["data"], json!([record(i)]), "record {i}: {}", a.text);
    }
    eprintln!(
        "BENCH sync: {N} records in {:.1} s including a kill and a restart ({:.0} records/s)",
        elapsed.as_secs_f64(),
        N as f64 / elapsed.as_secs_f64()
    );

    // Search latency at 100,000 records (the answers are checked above and in the operator test).
    for (what, query) in [
        ("eq on id", json!({"filter": {"eq": {"id": "cus_054321"}}})),
        (
            "eq + range, sorted",
            json!({"filter": {"and": [{"eq": {"currency": "eur"}}, {"gt": {"balance": 500}}]}, "sort": [{"created": "desc"}]}),
        ),
        ("fuzzy on name", json!({"filter": {"fuzzy": {"name": "jonathon smyth"}}})),
        ("contains on email", json!({"filter": {"contains": {"email": "globex"}}})),
    ] {
        let mut took = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let a =
                execute(&serve.base, &token, &id, "context_store_search", json!({"query": query, "limit": 20})).await;
            assert_eq!(a.status, 200, "{}", a.text);
            took.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        took.sort_by(|a, b| a.total_cmp(b));
        eprintln!("BENCH search at {N}: {what}: median {:.1} ms (5 runs, limit 20, over HTTP)", took[2]);
    }

    // Reconciliation: 100 customers deleted at the provider go from the cache on the next full sync.
    let gone: Vec<usize> = (0..100).map(|k| 1 + k * 997).collect();
    fake.deleted.lock().unwrap_or_else(|e| e.into_inner()).extend(gone.iter().copied());
    let a = sync(&serve.base, &token, &id).await;
    assert_eq!(
        (a.body["entities"][0]["status"].as_str(), a.body["entities"][0]["generation"].as_i64()),
        (Some("started"), Some(2)),
        "{}",
        a.text
    );
    let done = wait_done(&serve.base, &token, &id).await;
    assert_eq!(
        (done["status"].as_str(), done["record_count"].as_u64(), done["deleted"].as_u64()),
        (Some("succeeded"), Some(N as u64 - 100), Some(100)),
        "{done}"
    );
    let ids: Vec<String> = gone.iter().map(|i| format!("cus_{i:06}")).collect();
    let a =
        execute(&serve.base, &token, &id, "context_store_search", json!({"query": {"filter": {"in": {"id": ids}}}}))
            .await;
    assert_eq!(a.body["result"]["data"], json!([]), "{}", a.text);
}
