//! The execute path's storage work, moved off the request (issue 14, point 5): audit records
//! are queued and written in batches within the flush interval and at graceful shutdown, a
//! full queue costs a request a bounded wait (the record is then dropped and counted), and
//! connector rows kept in memory still answer only their own tenant and follow every change.
//! On SQLite and on PostgreSQL.

mod common;

use std::time::{Duration, Instant};

use common::{call, start, Backend, Engine};
use fake_upstream::holding::Holding;
use fake_upstream::{creds, FakeUpstream};
use serde_json::json;
use switchboard_engine::admin;
use switchboard_engine::db::Db;

async fn fake() -> FakeUpstream {
    FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"))
}

async fn execute(base: &str, token: &str, id: &str) -> common::Answer {
    call(
        "POST",
        &format!("{base}/api/v1/integrations/connectors/{id}/execute"),
        Some(token),
        Some(json!({"entity": "issues", "action": "list", "params": {"owner": "octo", "repo": "hello"}})),
        &[],
    )
    .await
}

/// Audit records in the store, counted through a handle of its own: it has no writer task and
/// nothing queued, so it sees only what the engine's writer has written.
async fn stored_audit_records(e: &Engine) -> i64 {
    let db = Db::open(e.database_url.as_deref(), &e.dir.0).await.unwrap_or_else(|e| panic!("{e:?}"));
    db.audit_count().await.unwrap_or_else(|e| panic!("{e:?}"))
}

both_backends!(audit_records_are_written_within_the_flush_interval, |backend| async move {
    let interval = Duration::from_secs(2);
    let Some(e) = start(backend, |s| s.audit_flush_interval = interval).await else { return };
    let upstream = fake().await;
    let app = e.app_token().await;
    let id = e.github_connector(&app, Some("acme"), &upstream.base_url("github"), creds::GITHUB_TOKEN).await;
    let first = Instant::now();
    for _ in 0..5 {
        let run = execute(&e.base, &app, &id).await;
        assert_eq!(run.status, 200, "{}", run.text);
    }
    let answered = Instant::now();
    let now = stored_audit_records(&e).await;
    if first.elapsed() < interval {
        assert_eq!(now, 0, "the records were written on the request path, not queued");
    }
    let mut stored = now;
    while stored < 5 && answered.elapsed() < interval + Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(25)).await;
        stored = stored_audit_records(&e).await;
    }
    assert_eq!(stored, 5, "not written within the flush interval ({interval:?}) and a generous margin");
    // The engine's own reads of the audit log see its records at once (they flush first).
    let own = e.state.db.audit_records(&e.app.organization_id).await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(own.len(), 5);
    assert!(own.iter().all(|r| r.0 == "issues" && r.1 == "list" && r.2 == "success"), "{own:?}");
});

// What a caller sends as the entity and action is audited as sent (cut to its length limits),
// whatever it holds: text PostgreSQL cannot store (a NUL), or what would break a line of COPY
// text (tab, newline, backslash, `\N`). A record that storage refused would take its whole batch,
// other tenants' records included, with it.
both_backends!(any_entity_text_is_audited_without_losing_its_batch, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    let upstream = fake().await;
    let app = e.app_token().await;
    let id = e.github_connector(&app, Some("acme"), &upstream.base_url("github"), creds::GITHUB_TOKEN).await;
    let odd = ["iss\u{0}ues", "a\tb\nc\rd\\e", "\\N", "é\u{7f}\u{1}"];
    for entity in odd {
        let run = call(
            "POST",
            &format!("{}/api/v1/integrations/connectors/{id}/execute", e.base),
            Some(&app),
            Some(json!({"entity": entity, "action": "li\\st\t", "params": {}})),
            &[],
        )
        .await;
        assert_eq!(run.status, 422, "{}", run.text);
    }
    for _ in 0..3 {
        let run = execute(&e.base, &app, &id).await;
        assert_eq!(run.status, 200, "{}", run.text);
    }
    let own = e.state.db.audit_records(&e.app.organization_id).await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(own.iter().filter(|r| r.0 == "issues" && r.2 == "success").count(), 3, "{own:?}");
    let mut failed: Vec<&str> = own.iter().filter(|r| r.2 == "error").map(|r| r.0.as_str()).collect();
    failed.sort_unstable();
    // A NUL, which neither store keeps as sent, arrives as U+FFFD; everything else as sent.
    let mut expected = vec!["iss\u{fffd}ues", "a\tb\nc\rd\\e", "\\N", "é\u{7f}\u{1}"];
    expected.sort_unstable();
    assert_eq!(failed, expected);
    assert!(own.iter().filter(|r| r.2 == "error").all(|r| r.1 == "li\\st\t"), "{own:?}");
});

both_backends!(a_graceful_shutdown_writes_every_queued_record, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    let upstream = fake().await;
    let app = e.app_token().await;
    let id = e.github_connector(&app, Some("acme"), &upstream.base_url("github"), creds::GITHUB_TOKEN).await;
    // A second engine on the store, served by `switchboard serve`'s own loop, whose writer
    // would wait an hour: only the shutdown writes its records.
    let state = e.sibling(|s| s.audit_flush_interval = Duration::from_secs(3600)).await;
    // Held past the shutdown, so the writer task is not ended (and drained) by the last handle
    // going away: only `serve`'s own flush can write the records.
    let kept = state.clone();
    let served = common::Served::start(state).await;
    let base = served.base.clone();
    const N: i64 = 40;
    for i in 0..N {
        let run = if i % 4 == 3 {
            // Failed executions are audited too.
            call(
                "POST",
                &format!("{base}/api/v1/integrations/connectors/{id}/execute"),
                Some(&app),
                Some(json!({"entity": "issues", "action": "no_such_action", "params": {}})),
                &[],
            )
            .await
        } else {
            execute(&base, &app, &id).await
        };
        assert!(run.status == 200 || i % 4 == 3, "{}", run.text);
    }
    assert_eq!(stored_audit_records(&e).await, 0, "nothing is written before the interval or the shutdown");
    served.shut_down().await;
    assert_eq!(stored_audit_records(&e).await, N, "every record queued before the shutdown is written");
    drop(kept);
});

/// `switchboard serve` as a process, its audit flush interval an hour: SIGTERM right after the
/// executions leaves every record in the store; SIGKILL loses those not yet written (at most
/// one interval's worth, here all of them), which is what SECURITY.md says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_writes_the_queued_audit_records_and_sigkill_loses_them() {
    use common::serve::Serve;
    let upstream = fake().await;
    for graceful in [true, false] {
        let dir = common::TempDir::new();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"));
        cmd.env("SWITCHBOARD_AUDIT_FLUSH_MS", "3600000");
        let mut engine = Serve::spawn(cmd, &dir.0, None, &[]);
        let (client_id, secret) = engine.first_creds();
        let app = engine.app_token(&client_id, &secret).await;
        let body = json!({"connector_type": "github", "workspace_name": "acme",
            "credentials": {"personal_access_token": creds::GITHUB_TOKEN},
            "replication_config": {"repositories": ["octo/hello"]}, "config": {"base_url": upstream.base_url("github")}});
        let made = call("POST", &engine.url("/api/v1/integrations/connectors"), Some(&app), Some(body), &[]).await;
        assert_eq!(made.status, 201, "{}", made.text);
        let id = made.body["id"].as_str().unwrap_or_default().to_string();
        const N: i64 = 30;
        for _ in 0..N {
            let run = execute(&engine.base, &app, &id).await;
            assert_eq!(run.status, 200, "{}", run.text);
        }
        if graceful {
            let stopped = tokio::task::block_in_place(|| common::terminate(&mut engine.child, Duration::from_secs(30)));
            match stopped {
                Ok(status) => assert!(status.success(), "serve exited with {status}: {}", engine.logs()),
                Err(why) => panic!("serve did not stop on SIGTERM ({why}): {}", engine.logs()),
            }
        } else {
            engine.kill();
        }
        let db = Db::open(None, &dir.0).await.unwrap_or_else(|e| panic!("{e:?}"));
        let stored = db.audit_count().await.unwrap_or_else(|e| panic!("{e:?}"));
        if graceful {
            assert_eq!(stored, N, "SIGTERM: every record written before the process exits");
        } else {
            assert_eq!(stored, 0, "SIGKILL within the interval: the queued records are lost");
        }
    }
}

/// The writer blocked (another connection holds SQLite's write lock): the queue fills, and a
/// request waits at most the queue wait for room, then answers; its record is dropped and
/// counted. Once the lock goes, the records that were queued are written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_audit_queue_costs_a_request_a_bounded_wait_and_is_counted() {
    let Some(e) = start(Backend::Sqlite, |s| {
        s.audit_flush_interval = Duration::from_millis(10);
        s.audit_queue = 2;
        s.audit_queue_wait = Duration::from_millis(20);
    })
    .await
    else {
        return;
    };
    let upstream = fake().await;
    let app = e.app_token().await;
    let id = e.github_connector(&app, Some("acme"), &upstream.base_url("github"), creds::GITHUB_TOKEN).await;
    let file = e.dir.0.join("switchboard.db");
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        use sqlx::Connection;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}"));
        rt.block_on(async move {
            let url = format!("sqlite://{}", file.display());
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap_or_else(|e| panic!("{e}"));
            sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await.unwrap_or_else(|e| panic!("{e}"));
            let _ = locked_tx.send(());
            let _ = tokio::task::spawn_blocking(move || release_rx.recv()).await;
            sqlx::query("COMMIT").execute(&mut conn).await.unwrap_or_else(|e| panic!("{e}"));
        });
    });
    locked_rx.recv_timeout(Duration::from_secs(10)).unwrap_or_else(|e| panic!("lock: {e}"));
    let mut slowest = Duration::ZERO;
    for _ in 0..12 {
        let t = Instant::now();
        let run = execute(&e.base, &app, &id).await;
        slowest = slowest.max(t.elapsed());
        assert_eq!(run.status, 200, "{}", run.text);
    }
    // The writer waits up to SQLite's 5 s busy timeout; no request waited for it.
    assert!(slowest < Duration::from_secs(3), "a request waited {slowest:?} for the audit writer");
    let metrics = e.get("/metrics", &app).await;
    let dropped: u64 = metrics
        .text
        .lines()
        .find_map(|l| l.strip_prefix("switchboard_audit_dropped_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no dropped-audit counter: {}", metrics.text));
    assert!((1..=12).contains(&dropped), "{dropped} records counted as dropped");
    let _ = release_tx.send(());
    holder.join().unwrap_or_else(|_| panic!("lock holder"));
    let written = e.state.db.audit_count().await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(written as u64 + dropped, 12, "every record is written or counted as dropped");
}

both_backends!(kept_connectors_answer_their_own_tenant_and_follow_changes, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    let upstream = fake().await;
    let app = e.app_token().await;
    let acme = e.scoped_token(&app, "acme").await;
    let other = e.scoped_token(&app, "other").await;
    let id = e.github_connector(&acme, None, &upstream.base_url("github"), creds::GITHUB_TOKEN).await;
    let foreign_app = admin::create_application(&e.state.db, e.state.secrets.hasher(), "org-b")
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let foreign = e.app_token_for(&foreign_app).await;
    // On PostgreSQL rows are kept once the engine listens for changes: wait for that.
    kept_row(&e, &id).await;
    // Twice each, so the second run of every caller finds the row kept.
    for _ in 0..2 {
        assert_eq!(execute(&e.base, &acme, &id).await.status, 200);
        assert_eq!(execute(&e.base, &app, &id).await.status, 200);
        for (who, token) in [("another workspace", &other), ("another organization", &foreign)] {
            let run = execute(&e.base, token, &id).await;
            assert_eq!((run.status, run.body["code"].as_str()), (404, Some("not_found")), "{who}: {}", run.text);
            let check = call(
                "POST",
                &e.url(&format!("/api/v1/integrations/connectors/{id}/check")),
                Some(token),
                Some(json!({})),
                &[],
            )
            .await;
            assert_eq!(check.status, 404, "{who}: {}", check.text);
        }
    }
    // A credential change is used at once.
    rekey(&e, &app, &id, "ghp_revoked_000000").await;
    let run = execute(&e.base, &acme, &id).await;
    assert_eq!((run.status, run.body["code"].as_str()), (502, Some("upstream_authentication")), "{}", run.text);
    // A deleted connector is gone at once.
    let del = call("DELETE", &e.url(&format!("/api/v1/integrations/connectors/{id}")), Some(&app), None, &[]).await;
    assert!(del.status == 200 || del.status == 204, "{}", del.text);
    let run = execute(&e.base, &acme, &id).await;
    assert_eq!(run.status, 404, "{}", run.text);
});

/// Gives connector `id` a new personal access token through `e`'s API.
async fn rekey(e: &Engine, app: &str, id: &str, token: &str) {
    let body = json!({"credentials": {"personal_access_token": token}});
    let r = call("PATCH", &e.url(&format!("/api/v1/integrations/connectors/{id}")), Some(app), Some(body), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// The row `e`'s store answers for connector `id`, once it is kept: two reads in a row give
/// the same row (one allocation), so the second came from memory. Fails after 10 s.
async fn kept_row(e: &Engine, id: &str) -> std::sync::Arc<switchboard_engine::db::ConnectorRow> {
    kept_row_of(&e.state.db, &e.app.organization_id, id).await
}

/// [`kept_row`] of the store `db`, for a connector of organization `org`.
async fn kept_row_of(db: &Db, org: &str, id: &str) -> std::sync::Arc<switchboard_engine::db::ConnectorRow> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let read = || async { db.connector(org, None, id).await.unwrap_or_else(|e| panic!("{e:?}")) };
        if let (Some(first), Some(second)) = (read().await, read().await) {
            if std::sync::Arc::ptr_eq(&first, &second) {
                return second;
            }
        }
        assert!(Instant::now() < deadline, "the row of {id} was never kept");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// PostgreSQL: each replica keeps connector rows while it listens for changes, drops a row
/// another replica changes or deletes when the change is announced, and, when its listening
/// connection is cut, drops everything it keeps, so a change announced while nobody listened
/// is not missed; it keeps rows again once it listens anew; a `TRUNCATE` drops every kept row.
/// Rows are kept for 10 minutes here: only the announcements can make a replica read a changed
/// row within the test's 5 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_kept_rows_follow_every_replicas_changes() {
    let Some(a) = start(Backend::Postgres, |s| s.connector_cache_ttl = Duration::from_secs(600)).await else {
        return;
    };
    let b = a.replica().await;
    let upstream = fake().await;
    let app = a.app_token().await;
    let id = a.github_connector(&app, Some("acme"), &upstream.base_url("github"), creds::GITHUB_TOKEN).await;
    let change = |token: &'static str| rekey(&a, &app, &id, token);
    assert_eq!(kept_row(&b, &id).await.version, 1);
    change("ghp_second_0000000000000").await;
    b.answers_version(&id, Some(2)).await;
    assert_eq!(kept_row(&b, &id).await.version, 2, "kept again after the change");

    // Cut every listening connection of this database, then change the row before B listens again.
    let url = a.database_url.clone().unwrap_or_else(|| panic!("a PostgreSQL engine has a URL"));
    let pool = sqlx::PgPool::connect(&url).await.unwrap_or_else(|e| panic!("{e}"));
    let cut: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity \
         WHERE application_name = $1 AND datname = current_database()",
    )
    .bind(switchboard_engine::db::CHANGES_APPLICATION_NAME)
    .fetch_all(&pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cut, [true, true], "one listening connection per replica");
    change("ghp_third_00000000000000").await;
    b.answers_version(&id, Some(3)).await;
    assert_eq!(kept_row(&b, &id).await.version, 3, "listening again, B keeps rows again");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listening: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()",
        )
        .bind(switchboard_engine::db::CHANGES_APPLICATION_NAME)
        .fetch_one(&pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        if listening == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "{listening} replicas listen again, not 2");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A change made by hand reaches B as well; a delete through A too, and B answers 404.
    sqlx::query("UPDATE connectors SET name = 'renamed by hand', version = version + 1 WHERE id = $1")
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    b.answers_version(&id, Some(4)).await;
    let del = call("DELETE", &a.url(&format!("/api/v1/integrations/connectors/{id}")), Some(&app), None, &[]).await;
    assert!(del.status == 200 || del.status == 204, "{}", del.text);
    b.answers_version(&id, None).await;
    let token = b.scoped_token(&app, "acme").await;
    assert_eq!(execute(&b.base, &token, &id).await.status, 404);

    // The table emptied by hand (`TRUNCATE`, announced as `*`): B drops every row it keeps.
    let other = a.github_connector(&app, Some("acme"), &upstream.base_url("github"), creds::GITHUB_TOKEN).await;
    assert_eq!(kept_row(&b, &other).await.version, 1);
    sqlx::query("TRUNCATE connectors CASCADE").execute(&pool).await.unwrap_or_else(|e| panic!("{e}"));
    b.answers_version(&other, None).await;
    pool.close().await;
}

/// PostgreSQL: a listening connection that goes silent (no error, no close: a dropped route or
/// a frozen peer) is found by its ping within 4 s; the replica then drops what it keeps and
/// reads rows from the store, so a change announced into the silence is not missed for the
/// rows' whole time to live (10 minutes here), and it keeps rows again once it listens anew.
/// Replica B reaches the database through a relay that stops passing the bytes of B's
/// listening connection (its sockets held open), and only of that one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_silent_listening_connection_is_found_by_its_ping() {
    let Some(a) = start(Backend::Postgres, |s| s.connector_cache_ttl = Duration::from_secs(600)).await else {
        return;
    };
    let url = a.database_url.clone().unwrap_or_else(|| panic!("a PostgreSQL engine has a URL"));
    let relay = Relay::start(&url, switchboard_engine::db::CHANGES_APPLICATION_NAME).await;
    let b = a.sibling(|s| s.database_url = Some(relay.url.clone())).await;
    let org = a.app.organization_id.clone();
    let upstream = fake().await;
    let app = a.app_token().await;
    let id = a.github_connector(&app, Some("acme"), &upstream.base_url("github"), creds::GITHUB_TOKEN).await;
    assert_eq!(kept_row_of(&b.db, &org, &id).await.version, 1);

    relay.silence();
    rekey(&a, &app, &id, "ghp_second_0000000000000").await;
    let changed = Instant::now();
    // The announcement never arrives: B answers the row it keeps until the ping finds out.
    assert_eq!(kept_row_of(&b.db, &org, &id).await.version, 1, "the announcement passed the relay");
    let deadline = changed + Duration::from_secs(10);
    loop {
        let row = b.db.connector(&org, None, &id).await.unwrap_or_else(|e| panic!("{e:?}"));
        if row.map(|r| r.version) == Some(2) {
            break;
        }
        assert!(Instant::now() < deadline, "B still answers the old row 10 s after the change");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let found = changed.elapsed();
    assert!(found < Duration::from_secs(6), "the silent connection was found after {found:?}, not within 4 s");
    // A new listening connection (the relay passes new ones) turns keeping rows on again.
    assert_eq!(kept_row_of(&b.db, &org, &id).await.version, 2, "listening again, B keeps rows again");
    assert!(relay.connections_named() >= 2, "B listened on a new connection");
}

/// A TCP relay to a PostgreSQL server. [`Relay::silence`] stops passing, in both directions,
/// the bytes of every connection open at that moment whose startup message named `name` (its
/// `application_name`), holding both of its sockets open; every other connection, and any
/// opened later, is passed as before. The test database's server does not speak TLS, so the
/// startup message is read in the clear.
struct Relay {
    url: String,
    silenced: std::sync::Arc<std::sync::atomic::AtomicU64>,
    opened: std::sync::Arc<std::sync::atomic::AtomicU64>,
    named: std::sync::Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Relay {
    async fn start(database_url: &str, name: &str) -> Self {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        use std::sync::Arc;
        let (scheme, rest) = database_url.split_once("://").unwrap_or_else(|| panic!("a URL: {database_url}"));
        let (user, rest) = rest.split_once('@').unwrap_or_else(|| panic!("a user in the URL"));
        let (server, path) = rest.split_once('/').unwrap_or_else(|| panic!("a database in the URL"));
        let server = server.to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let url = format!("{scheme}://{user}@{addr}/{path}");
        // Connections numbered below `silenced` that named `name` pass nothing.
        let (silenced, opened, named) =
            (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (s, o, n, name) = (silenced.clone(), opened.clone(), named.clone(), name.as_bytes().to_vec());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let number = o.fetch_add(1, Ordering::SeqCst);
                let server = tokio::net::TcpStream::connect(&server).await.unwrap_or_else(|e| panic!("{e}"));
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                let marked = Arc::new(AtomicBool::new(false));
                let quiet = {
                    let (s, marked) = (s.clone(), marked.clone());
                    move || marked.load(Ordering::SeqCst) && number < s.load(Ordering::SeqCst)
                };
                let (first, named) = (name.clone(), n.clone());
                let up = {
                    let (marked, quiet) = (marked.clone(), quiet.clone());
                    move |head: &[u8]| {
                        if !marked.load(Ordering::SeqCst) && head.windows(first.len()).any(|w| w == first) {
                            marked.store(true, Ordering::SeqCst);
                            named.fetch_add(1, Ordering::SeqCst);
                        }
                        quiet()
                    }
                };
                tokio::spawn(pass(cr, sw, up));
                tokio::spawn(pass(sr, cw, move |_: &[u8]| quiet()));
            }
        });
        Self { url, silenced, opened, named, task }
    }

    /// Silences the named connections open now.
    fn silence(&self) {
        use std::sync::atomic::Ordering;
        self.silenced.store(self.opened.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// How many connections named the name so far.
    fn connections_named(&self) -> u64 {
        self.named.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Copies `from` to `to` until either ends; `quiet` sees the first 4 KB read so far before each
/// write and, once it answers `true`, the bytes stop (the sockets stay open until the task is
/// dropped with the runtime).
async fn pass(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut quiet: impl FnMut(&[u8]) -> bool,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut head, mut buf) = (Vec::new(), vec![0u8; 16 * 1024]);
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if head.len() < 4096 {
            head.extend_from_slice(&buf[..n.min(4096 - head.len())]);
        }
        if quiet(&head) {
            let _held = (from, to);
            std::future::pending::<()>().await;
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// The GraphQL answer of an issues page with nothing on it.
const EMPTY_ISSUES_PAGE: &str =
    r#"{"data":{"repository":{"issues":{"nodes":[],"pageInfo":{"hasNextPage":false,"endCursor":null}}}}}"#;

/// A request is cut off at the engine's request timeout (120 s unless told; 500 ms here) with
/// 504 `upstream_timeout`, even while its provider exchange, allowed 30 s, still waits for an
/// answer; the engine keeps serving, the same connector included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_cut_off_at_the_request_timeout() {
    let upstream = Holding::start("application/json", EMPTY_ISSUES_PAGE).await;
    let Some(e) = start(Backend::Sqlite, |s| {
        s.request_timeout = Duration::from_millis(500);
        s.upstream_timeout = Duration::from_secs(30);
    })
    .await
    else {
        panic!("the SQLite engine did not start")
    };
    let app = e.app_token().await;
    let id = e.github_connector(&app, Some("acme"), &upstream.base, creds::GITHUB_TOKEN).await;
    let started = Instant::now();
    let cut = execute(&e.base, &app, &id).await;
    let took = started.elapsed();
    assert_eq!((cut.status, cut.body["code"].as_str()), (504, Some("upstream_timeout")), "{}", cut.text);
    assert!(took >= Duration::from_millis(500) && took < Duration::from_secs(10), "answered after {took:?}");
    assert_eq!(upstream.counts().answered, 0, "the provider had not answered");
    upstream.release();
    let run = execute(&e.base, &app, &id).await;
    assert_eq!(run.status, 200, "{}", run.text);
}

/// `--upstream-body-limit`: a provider's answer longer than the limit fails that execution
/// as 502 `upstream_http`, once (not retried), saying why; an answer within it is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_over_the_upstream_body_limit_fails_the_execution() {
    let upstream = Holding::start("application/json", EMPTY_ISSUES_PAGE).await;
    upstream.release();
    let limit = EMPTY_ISSUES_PAGE.len() - 1;
    let Some(e) = start(Backend::Sqlite, |s| s.upstream_body_limit = limit).await else {
        panic!("the SQLite engine did not start")
    };
    let app = e.app_token().await;
    let id = e.github_connector(&app, Some("acme"), &upstream.base, creds::GITHUB_TOKEN).await;
    let run = execute(&e.base, &app, &id).await;
    assert_eq!((run.status, run.body["code"].as_str()), (502, Some("upstream_http")), "{}", run.text);
    let message = run.body["message"].as_str().unwrap_or_default();
    assert!(message.contains(&format!("longer than {limit} bytes")), "{message}");
    assert_eq!(upstream.counts().answered, 1, "one attempt: an answer too long is not retried");
    let Some(roomy) = start(Backend::Sqlite, |s| s.upstream_body_limit = limit + 1).await else {
        panic!("the SQLite engine did not start")
    };
    let app = roomy.app_token().await;
    let id = roomy.github_connector(&app, Some("acme"), &upstream.base, creds::GITHUB_TOKEN).await;
    let run = execute(&roomy.base, &app, &id).await;
    assert_eq!(run.status, 200, "{}", run.text);
}

/// `--upstream-exchanges-per-connector`: with 2, six executes at once on one connector reach
/// the upstream two at a time, the others waiting for a turn; another tenant's connector on the
/// same upstream does not wait behind them; every call is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executes_per_connector_and_upstream_origin_are_bounded() {
    let upstream = Holding::start("application/json", EMPTY_ISSUES_PAGE).await;
    let Some(e) = start(Backend::Sqlite, |s| s.upstream_exchanges_per_connector = 2).await else {
        panic!("the SQLite engine did not start")
    };
    let app = e.app_token().await;
    let busy = e.github_connector(&app, Some("acme"), &upstream.base, creds::GITHUB_TOKEN).await;
    let other = e.github_connector(&app, Some("globex"), &upstream.base, creds::GITHUB_TOKEN).await;
    let counts = || {
        let c = upstream.counts();
        (c.held, c.most, c.answered)
    };
    let spawn = |id: &str| {
        let (base, app, id) = (e.base.clone(), app.clone(), id.to_string());
        tokio::spawn(async move { execute(&base, &app, &id).await })
    };
    let mut calls: Vec<_> = (0..6).map(|_| spawn(&busy)).collect();
    upstream.wait_held(2, Duration::from_secs(20)).await;
    // Time for a third request to arrive, were the bound not kept.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(counts(), (2, 2, 0), "(held, most at once, answered)");
    calls.push(spawn(&other));
    upstream.wait_held(3, Duration::from_secs(20)).await;
    upstream.release();
    for call in calls {
        let run = call.await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(run.status, 200, "{}", run.text);
    }
    assert_eq!(counts(), (0, 3, 7), "(held, most at once, answered)");
}
