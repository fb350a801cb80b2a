//! Serving threads (issue 14): the engine serves from a single-threaded runtime per thread,
//! each connection handed by the accepting runtime to the thread with the fewest live
//! connections. They answer every connection, stop with the engine (a shutdown, or `serve`'s
//! future dropped) once their connections end, and the audit records of their requests are
//! written at the shutdown; on PostgreSQL each thread queries through a pool of its own. One
//! test in its own binary: it counts this process's threads by name.

mod common;

use std::time::{Duration, Instant};

use common::{call, start, Backend, Served};
use fake_upstream::{creds, FakeUpstream};
use serde_json::json;
use switchboard_engine::db::Db;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// This process's threads named `serve-N`.
fn serving_threads() -> usize {
    let tasks = std::fs::read_dir("/proc/self/task").unwrap_or_else(|e| panic!("{e}"));
    tasks
        .filter_map(Result::ok)
        .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|name| name.starts_with("serve-")))
        .count()
}

/// Waits (at most 10 s) until `serving_threads()` is `n`.
async fn until_serving_threads(n: usize) {
    let start = Instant::now();
    while serving_threads() != n {
        assert!(start.elapsed() < Duration::from_secs(10), "{} serving threads, not {n}", serving_threads());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serving_threads_answer_every_connection_and_stop_with_the_engine() {
    let Some(e) = start(Backend::Sqlite, |_| {}).await else { panic!("SQLite always starts") };
    let upstream = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    let app = e.app_token().await;
    let id = e.github_connector(&app, Some("acme"), &upstream.base_url("github"), creds::GITHUB_TOKEN).await;
    let state = e
        .sibling(|s| {
            s.serving_threads = Some(3);
            // Only the shutdown writes the records.
            s.audit_flush_interval = Duration::from_secs(3600);
        })
        .await;
    assert_eq!(state.serving_threads, 3);
    assert_eq!(serving_threads(), 0);
    let kept = state.clone();
    let served = Served::start(state).await;
    let base = served.base.clone();
    until_serving_threads(3).await;

    // Connections go to the thread with the fewest: six kept open after a request each, then
    // the one asking for the metrics, which counts itself.
    let mut kept_open = Vec::new();
    for _ in 0..6 {
        let addr = base.trim_start_matches("http://");
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap_or_else(|e| panic!("{e}"));
        c.write_all(b"GET /healthz HTTP/1.1\r\nhost: engine\r\n\r\n").await.unwrap_or_else(|e| panic!("{e}"));
        let mut head = [0u8; 12];
        c.read_exact(&mut head).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&head, b"HTTP/1.1 200");
        kept_open.push(c);
    }
    let metrics = call("GET", &format!("{base}/metrics"), None, None, &[]).await;
    let mut per_thread: Vec<u64> = metrics
        .text
        .lines()
        .filter(|l| l.starts_with("switchboard_serving_thread_connections{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    per_thread.sort_unstable();
    assert_eq!(per_thread, [2, 2, 3], "{}", metrics.text);
    drop(kept_open);

    // Twelve kept-alive connections at once (a client each), three executes on each.
    let body = json!({"entity": "issues", "action": "list", "params": {"owner": "octo", "repo": "hello"}});
    let url = format!("{base}/api/v1/integrations/connectors/{id}/execute");
    let mut clients = Vec::new();
    for _ in 0..12 {
        let (client, url, body, app) = (common::client(), url.clone(), body.clone(), app.clone());
        clients.push(tokio::spawn(async move {
            for _ in 0..3 {
                let r = client.post(&url).bearer_auth(&app).json(&body).send().await.unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(r.status(), 200);
                let v: serde_json::Value = r.json().await.unwrap_or_else(|e| panic!("{e}"));
                assert!(v["result"].as_array().is_some_and(|d| !d.is_empty()), "{v}");
            }
        }));
    }
    for c in clients {
        c.await.unwrap_or_else(|e| panic!("{e}"));
    }
    // A request that fails is answered and audited the same way.
    let bad = call("POST", &url, Some(&app), Some(json!({"entity": "issues", "action": "nope"})), &[]).await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    let db = Db::open(None, &e.dir.0).await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(db.audit_count().await.unwrap_or_else(|e| panic!("{e:?}")), 0, "written before the shutdown");

    served.shut_down().await;
    // `serve` returns after its threads have stopped, and then writes the records.
    assert_eq!(serving_threads(), 0, "serving threads outlived serve");
    assert_eq!(db.audit_count().await.unwrap_or_else(|e| panic!("{e:?}")), 37);
    // The socket is closed with the last thread's listener: nothing answers there any more.
    assert!(common::client().get(format!("{base}/healthz")).send().await.is_err(), "answering after the shutdown");

    // `serve`'s future dropped without a shutdown: the threads stop all the same.
    let served = Served::start(kept).await;
    let again = format!("{}/healthz", served.base);
    until_serving_threads(3).await;
    assert_eq!(call("GET", &again, None, None, &[]).await.status, 200);
    served.abort();
    until_serving_threads(0).await;
    assert!(common::client().get(&again).send().await.is_err(), "still answering after serve was dropped");

    // `--serving-threads 0`: the shared runtime serves, with no thread of its own.
    let state = e.sibling(|s| s.serving_threads = Some(0)).await;
    assert_eq!(state.serving_threads, 0);
    let served = Served::start(state).await;
    let shared = served.base.clone();
    let run =
        call("POST", &format!("{shared}/api/v1/integrations/connectors/{id}/execute"), Some(&app), Some(body), &[])
            .await;
    assert_eq!(run.status, 200, "{}", run.text);
    assert_eq!(serving_threads(), 0);
    let metrics = call("GET", &format!("{shared}/metrics"), None, None, &[]).await;
    assert!(!metrics.text.contains("switchboard_serving_thread_connections"), "{}", metrics.text);
    served.abort();
    until_serving_threads(0).await;

    on_postgres().await;
}

/// The `application_name`s of this database's server connections whose name starts with
/// `switchboard-serve-` (a serving thread's pool).
async fn thread_pools(pool: &sqlx::PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT DISTINCT application_name FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name LIKE 'switchboard-serve-%' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

/// PostgreSQL: requests that read and write the store through serving threads (connectors
/// created, listed and run from several connections at once) are answered; each thread's
/// queries go through a pool of its own (`switchboard-serve-N` in `pg_stat_activity`), whose
/// connections close with the thread; the audit records are written at the shutdown.
async fn on_postgres() {
    let Some(e) = start(Backend::Postgres, |_| {}).await else { return };
    let upstream = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    let app = e.app_token().await;
    let state = e
        .sibling(|s| {
            s.serving_threads = Some(2);
            s.audit_flush_interval = Duration::from_secs(3600);
        })
        .await;
    assert_eq!(state.serving_threads, 2);
    let served = Served::start(state).await;
    let base = served.base.clone();
    until_serving_threads(2).await;
    let mut clients = Vec::new();
    for i in 0..6 {
        let (client, base, app, fake) = (common::client(), base.clone(), app.clone(), upstream.base_url("github"));
        clients.push(tokio::spawn(async move {
            let created = client
                .post(format!("{base}/api/v1/integrations/connectors"))
                .bearer_auth(&app)
                .json(&json!({
                    "connector_type": "github", "name": "gh", "workspace_name": format!("w{i}"),
                    "credentials": {"personal_access_token": creds::GITHUB_TOKEN},
                    "replication_config": {"repositories": ["octo/hello"]}, "config": {"base_url": fake},
                }))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(created.status(), 201);
            let id = created.json::<serde_json::Value>().await.unwrap_or_else(|e| panic!("{e}"))["id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let listed = client
                .get(format!("{base}/api/v1/integrations/connectors?workspace_name=w{i}"))
                .bearer_auth(&app)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(listed.status(), 200);
            assert!(listed.text().await.unwrap_or_default().contains(&id), "listed");
            let body = json!({"entity": "issues", "action": "list", "params": {"owner": "octo", "repo": "hello"}});
            for _ in 0..3 {
                let r = client
                    .post(format!("{base}/api/v1/integrations/connectors/{id}/execute"))
                    .bearer_auth(&app)
                    .json(&body)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(r.status(), 200);
            }
        }));
    }
    for c in clients {
        c.await.unwrap_or_else(|e| panic!("{e}"));
    }
    let url = e.database_url.clone().unwrap_or_else(|| panic!("a PostgreSQL engine has a URL"));
    let pg = sqlx::PgPool::connect(&url).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(thread_pools(&pg).await, ["switchboard-serve-0", "switchboard-serve-1"], "each thread's own pool");
    let db = Db::open(Some(&url), &e.dir.0).await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(db.audit_count().await.unwrap_or_else(|e| panic!("{e:?}")), 0, "written before the shutdown");

    served.shut_down().await;
    until_serving_threads(0).await;
    assert_eq!(db.audit_count().await.unwrap_or_else(|e| panic!("{e:?}")), 18);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !thread_pools(&pg).await.is_empty() {
        assert!(Instant::now() < deadline, "a serving thread's connections outlived it: {:?}", thread_pools(&pg).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pg.close().await;
}
