//! The engine as operators run it: `switchboard serve` processes over real HTTP, OAuth refresh
//! shared by concurrent executions (in one process and across two on PostgreSQL), master key
//! rotation with a restart, and logs free of secrets.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use common::serve::Serve;
use common::{call, postgres_database, start, Backend, TempDir};
use fake_upstream::{creds, FakeUpstream};
use serde_json::{json, Value};
use switchboard_engine::crypto::Key;

/// `switchboard serve` under `umask 000`, so every file mode is the one the engine asks for.
#[cfg(unix)]
fn start_without_umask(data_dir: &std::path::Path) -> Serve {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "umask 000 && exec \"$0\" \"$@\"", env!("CARGO_BIN_EXE_switchboard")]);
    Serve::spawn(cmd, data_dir, None, &[])
}

async fn flow(backend: Backend) {
    let database_url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => match postgres_database().await {
            Some(u) => Some(u),
            None => return,
        },
    };
    let dir = TempDir::new();
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    let key = Key::generate().to_base64();
    let env: Vec<(&str, &str)> =
        if database_url.is_some() { vec![("SWITCHBOARD_MASTER_KEY", key.as_str())] } else { vec![] };
    let serve = tokio::task::block_in_place(|| Serve::start(&dir.0, database_url.as_deref(), &env));
    let (client_id, secret) = serve.first_creds();
    let app = serve.app_token(&client_id, &secret).await;
    let b = &serve.base;
    let scoped = call(
        "POST",
        &format!("{b}/api/v1/embedded/scoped-token"),
        Some(&app),
        Some(json!({"external_user_id": "acme"})),
        &[],
    )
    .await;
    assert_eq!(scoped.status, 200, "{}", scoped.text);
    let scoped = scoped.body["token"].as_str().unwrap_or_default().to_string();
    let created = call(
        "POST",
        &format!("{b}/api/v1/integrations/connectors"),
        Some(&scoped),
        Some(json!({
        "connector_type": "github", "credentials": {"personal_access_token": creds::GITHUB_TOKEN},
        "replication_config": {"repositories": ["octo/hello"]}, "config": {"base_url": fake.base_url("github")}})),
        &[],
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap_or_default().to_string();
    let listed =
        call("GET", &format!("{b}/api/v1/connectors/instances_for_user?external_user_id=acme"), Some(&app), None, &[])
            .await;
    assert_eq!(listed.body["instances"][0]["id"], json!(id), "{}", listed.text);
    let exec_url = format!("{b}/api/v1/integrations/connectors/{id}/execute");
    let body = json!({"entity": "issues", "action": "list", "params": {"owner": "octo", "repo": "hello"}});
    let run = call("POST", &exec_url, Some(&scoped), Some(body.clone()), &[]).await;
    assert_eq!(run.status, 200, "{}", run.text);
    assert!(run.body["result"].as_array().is_some_and(|a| !a.is_empty()));
    assert!(run.headers.contains_key("x-request-id"));
    let del = call("DELETE", &format!("{b}/api/v1/integrations/connectors/{id}"), Some(&scoped), None, &[]).await;
    assert_eq!(del.status, 204);
    let gone = call("POST", &exec_url, Some(&scoped), Some(body), &[]).await;
    assert_eq!(gone.status, 404);
    let logs = serve.logs();
    assert!(logs.contains("\"request_id\""), "JSON logs with request ids");
    for s in [creds::GITHUB_TOKEN, secret.as_str(), app.as_str(), scoped.as_str(), key.as_str()] {
        assert!(!logs.contains(s), "a secret reached the logs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_flow_sqlite() {
    flow(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_flow_postgres() {
    flow(Backend::Postgres).await;
}

fn hubspot_oauth_body(fake: &FakeUpstream) -> Value {
    json!({
        "connector_type": "hubspot", "workspace_name": "w",
        "credentials": {"access_token": creds::OAUTH_EXPIRED_ACCESS_TOKEN, "refresh_token": creds::OAUTH_INITIAL_REFRESH_TOKEN,
                        "client_id": creds::OAUTH_CLIENT_ID, "client_secret": creds::OAUTH_CLIENT_SECRET},
        "config": {"base_url": fake.base_url("hubspot")},
    })
}

async fn fifty_share_one_refresh(backend: Backend) {
    let Some(e) = start(backend, |_| {}).await else { return };
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    let app = e.app_token().await;
    let c = e.post("/api/v1/integrations/connectors", &app, hubspot_oauth_body(&fake)).await;
    assert_eq!(c.status, 201, "{}", c.text);
    let id = c.body["id"].as_str().unwrap_or_default().to_string();
    let url = e.url(&format!("/api/v1/integrations/connectors/{id}/execute"));
    let calls = (0..50).map(|_| {
        let (url, app) = (url.clone(), app.clone());
        tokio::spawn(async move {
            call(
                "POST",
                &url,
                Some(&app),
                Some(json!({"entity": "contacts", "action": "list", "params": {"limit": 1}})),
                &[],
            )
            .await
        })
    });
    for r in futures::future::join_all(calls).await {
        let a = r.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.status, 200, "{}", a.text);
    }
    let (refreshes, rotated) = fake.state.with_oauth("hubspot", |o| (o.refresh_calls, o.refresh_token.clone()));
    assert_eq!(refreshes, 1, "one refresh for 50 executions");
    let (sealed, version) =
        e.state.db.credentials(&id).await.unwrap_or_else(|e| panic!("{e:?}")).unwrap_or_else(|| panic!("row"));
    assert_eq!(version, 2, "the refresh stored one new credential version");
    let stored: Value = serde_json::from_slice(&e.state.keys.open(&sealed, &id).unwrap_or_else(|e| panic!("{e:?}")))
        .unwrap_or_default();
    assert_eq!(stored["refresh_token"], json!(rotated), "the rotated refresh token is stored");
    assert_ne!(stored["access_token"], json!(creds::OAUTH_EXPIRED_ACCESS_TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_refresh_once_sqlite() {
    fifty_share_one_refresh(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_refresh_once_postgres() {
    fifty_share_one_refresh(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oauth_refresh_once_across_two_engines_on_postgres() {
    let Some(url) = postgres_database().await else { return };
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    let key = Key::generate().to_base64();
    let (d1, d2) = (TempDir::new(), TempDir::new());
    let env = [("SWITCHBOARD_MASTER_KEY", key.as_str())];
    let a = tokio::task::block_in_place(|| Serve::start(&d1.0, Some(&url), &env));
    let b = tokio::task::block_in_place(|| Serve::start(&d2.0, Some(&url), &env));
    assert!(b.first.is_none(), "the second replica finds the store initialised");
    let (cid, secret) = a.first_creds();
    let token = a.app_token(&cid, &secret).await;
    let c = call(
        "POST",
        &format!("{}/api/v1/integrations/connectors", a.base),
        Some(&token),
        Some(hubspot_oauth_body(&fake)),
        &[],
    )
    .await;
    assert_eq!(c.status, 201, "{}", c.text);
    let id = c.body["id"].as_str().unwrap_or_default().to_string();
    let calls = (0..50).map(|i| {
        let base = if i % 2 == 0 { a.base.clone() } else { b.base.clone() };
        let token = token.clone();
        let id = id.clone();
        tokio::spawn(async move {
            call(
                "POST",
                &format!("{base}/api/v1/integrations/connectors/{id}/execute"),
                Some(&token),
                Some(json!({"entity": "contacts", "action": "list", "params": {"limit": 1}})),
                &[],
            )
            .await
        })
    });
    for r in futures::future::join_all(calls).await {
        let ans = r.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ans.status, 200, "{}", ans.text);
    }
    assert_eq!(fake.state.with_oauth("hubspot", |o| o.refresh_calls), 1, "one refresh across two engines");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_then_restart_with_only_the_new_key() {
    let dir = TempDir::new();
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    let old = Key::generate().to_base64();
    let new = Key::generate().to_base64();
    let (cid, secret, id);
    {
        let s = tokio::task::block_in_place(|| Serve::start(&dir.0, None, &[("SWITCHBOARD_MASTER_KEY", old.as_str())]));
        (cid, secret) = s.first_creds();
        let token = s.app_token(&cid, &secret).await;
        let c = call("POST", &format!("{}/api/v1/integrations/connectors", s.base), Some(&token), Some(json!({
            "connector_type": "github", "workspace_name": "w", "credentials": {"personal_access_token": creds::GITHUB_TOKEN},
            "replication_config": {"repositories": ["octo/hello"]}, "config": {"base_url": fake.base_url("github")}})), &[]).await;
        assert_eq!(c.status, 201, "{}", c.text);
        id = c.body["id"].as_str().unwrap_or_default().to_string();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["admin", "rotate-key", "--data-dir"])
        .arg(&dir.0)
        .env("SWITCHBOARD_MASTER_KEY", &new)
        .env("SWITCHBOARD_OLD_MASTER_KEYS", &old)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert!(report["records_resealed"].as_u64().unwrap_or(0) >= 2, "connector and signing key resealed: {report}");
    let s = tokio::task::block_in_place(|| Serve::start(&dir.0, None, &[("SWITCHBOARD_MASTER_KEY", new.as_str())]));
    let token = s.app_token(&cid, &secret).await;
    let run = call(
        "POST",
        &format!("{}/api/v1/integrations/connectors/{id}/execute", s.base),
        Some(&token),
        Some(json!({"entity": "issues", "action": "list", "params": {"owner": "octo", "repo": "hello"}})),
        &[],
    )
    .await;
    assert_eq!(run.status, 200, "{}", run.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_create_application_and_embedded_key_file() {
    let dir = TempDir::new();
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["admin", "create-application", "--organization", "acme", "--data-dir"])
        .arg(&dir.0)
        .env_remove("SWITCHBOARD_MASTER_KEY")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    for k in ["organization_id", "client_id", "client_secret"] {
        assert!(v[k].as_str().is_some_and(|s| !s.is_empty()), "{k} in {v}");
    }
    // The serve on this store creates its key file 0600 and does not print a first application.
    let s = tokio::task::block_in_place(|| Serve::start(&dir.0, None, &[]));
    assert!(s.first.is_none());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.0.join("master.key")).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
        assert_eq!(mode, 0o600);
    }
    let token =
        s.app_token(v["client_id"].as_str().unwrap_or_default(), v["client_secret"].as_str().unwrap_or_default()).await;
    assert!(!token.is_empty());
    std::thread::sleep(Duration::from_millis(10));
}

/// The secret hash stored for `client_id`.
async fn stored_secret(db: &switchboard_engine::db::Db, client_id: &str) -> String {
    let app = db.find_application(client_id).await.unwrap_or_else(|e| panic!("{e:?}"));
    app.unwrap_or_else(|| panic!("no application {client_id}")).secret_hash
}

/// Wrong client secrets by the thousand, from as many addresses, cannot exhaust the engine's
/// memory (each attempt used to run Argon2: 19 MiB and tens of milliseconds, on any number of
/// threads at once) nor keep a good client out.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_client_secrets_cannot_exhaust_memory() {
    use futures::StreamExt;
    let dir = TempDir::new();
    // The attack comes through a trusted proxy (127.0.0.2, the socket peer: this also checks
    // the engine sees peers) and each attempt names its own address in X-Forwarded-For, like a
    // botnet: the per-address limit never bites, the default per-client_id limits do.
    let serve =
        tokio::task::block_in_place(|| Serve::start(&dir.0, None, &[("SWITCHBOARD_TRUSTED_PROXIES", "127.0.0.2")]));
    let proxy = reqwest::Client::builder()
        .no_proxy()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let (good_id, good_secret) = serve.first_creds();
    // Victims: a new application (made by the command line) and a row from before the keyed
    // hash (Argon2id, as engines stored them then).
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["admin", "create-application", "--organization", "victims", "--data-dir"])
        .arg(&dir.0)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let victim = created["client_id"].as_str().unwrap_or_default().to_string();
    let db = switchboard_engine::db::Db::open(None, &dir.0).await.unwrap_or_else(|e| panic!("{e:?}"));
    let legacy_org = db.create_organization("legacy").await.unwrap_or_else(|e| panic!("{e:?}"));
    let legacy = switchboard_engine::admin::NewApplication {
        organization_id: legacy_org.id.clone(),
        client_id: "sb_legacy_argon2".into(),
        client_secret: "legacy-secret-0123456789abcdef".into(),
    };
    let legacy_hash =
        switchboard_engine::crypto::hash_secret(&legacy.client_secret).unwrap_or_else(|e| panic!("{e:?}"));
    db.create_application(&legacy_org.id, &legacy.client_id, &legacy_hash).await.unwrap_or_else(|e| panic!("{e:?}"));
    for id in [&good_id, &victim] {
        assert!(stored_secret(&db, id).await.starts_with("hmac-sha256$"), "new secrets are stored as the keyed hash");
    }
    assert!(stored_secret(&db, &legacy.client_id).await.starts_with("$argon2id$"));

    let url = format!("{}/api/v1/applications/token", serve.base);
    let before = serve.rss_kib();
    let started = Instant::now();
    let statuses: Vec<u16> = futures::stream::iter(0..2000u32)
        .map(|i| {
            let client_id = match i % 3 {
                0 => victim.clone(),
                1 => legacy.client_id.clone(),
                _ => format!("sb_unknown_{i}"),
            };
            let from = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
            let req = proxy
                .post(&url)
                .header("x-forwarded-for", from)
                .json(&json!({"client_id": client_id, "client_secret": format!("wrong-{i}")}));
            async move { req.send().await.map(|r| r.status().as_u16()).unwrap_or(0) }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let attack = started.elapsed();
    let after = serve.rss_kib();
    let count = |s: u16| statuses.iter().filter(|&&x| x == s).count();
    let (limited, refused) = (count(429), count(401));
    eprintln!(
        "2000 wrong secrets in {attack:?}: {limited} answered 429, {refused} answered 401; RSS {before} KiB -> {after} KiB"
    );
    assert_eq!(limited + refused, 2000, "every attempt is refused or limited: {statuses:?}");
    assert!(refused >= 667, "unknown client ids are refused, each from its own bucket");
    assert!(limited >= 500, "attempts on known client ids are limited");
    assert!(after < before + 50 * 1024, "RSS grew from {before} KiB to {after} KiB");

    // A good client, from an address of its own, gets its token at once.
    let started = Instant::now();
    let a = proxy
        .post(&url)
        .header("x-forwarded-for", "192.0.2.10")
        .json(&json!({"client_id": good_id, "client_secret": good_secret}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let took = started.elapsed();
    eprintln!("the good client got its token in {took:?}");
    assert_eq!(a.status(), 200);
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert!(stored_secret(&db, &legacy.client_id).await.starts_with("$argon2id$"), "no wrong secret migrates a row");
}

/// A fresh data directory and every file the engine makes in it are private, whatever the
/// umask: the directory 0700; the database, its -wal and -shm, and the key file 0600.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_directory_and_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let root = TempDir::new();
    let data = root.0.join("fresh").join("data");
    let serve = tokio::task::block_in_place(|| start_without_umask(&data));
    let (cid, secret) = serve.first_creds();
    serve.app_token(&cid, &secret).await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
    assert_eq!(mode(&data), 0o700, "the data directory");
    assert_eq!(mode(&root.0.join("fresh")), 0o700, "a parent the engine created");
    let mut files = BTreeSet::new();
    for entry in std::fs::read_dir(&data).unwrap_or_else(|e| panic!("{e}")) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        files.insert(path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default());
    }
    for f in ["master.key", "switchboard.db", "switchboard.db-wal", "switchboard.db-shm"] {
        assert!(files.contains(f), "{f} in {files:?}");
    }
}

/// The open-file soft and hard limits of process `pid`.
#[cfg(target_os = "linux")]
fn nofile_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap_or_default();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap_or_default().to_string();
    let mut words = line.trim_start_matches("Max open files").split_whitespace().map(str::to_string);
    (words.next().unwrap_or_default(), words.next().unwrap_or_default())
}

/// How many descriptors process `pid` holds.
#[cfg(target_os = "linux")]
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or_else(|e| panic!("{e}"))
}

/// Reads until the server closes the connection (end of file or reset); the time from `since`,
/// or none if it is still open `limit` after `since`.
#[cfg(target_os = "linux")]
async fn closed_after(
    mut s: impl tokio::io::AsyncRead + Unpin,
    since: tokio::time::Instant,
    limit: Duration,
) -> Option<Duration> {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(since + limit, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(since.elapsed()),
            Ok(Ok(_)) => continue,
        }
    }
}

/// The value of one series on `/metrics`.
#[cfg(target_os = "linux")]
async fn metric(base: &str, series: &str) -> u64 {
    let m = call("GET", &format!("{base}/metrics"), None, None, &[]).await;
    m.text
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("{series} is not on /metrics: {}", m.text))
}

/// Sockets that never send a request, clients that trickle a request head a byte at a time
/// (each byte well within the timeout, the head far beyond it) and a kept-alive connection
/// left idle are all closed by the engine, which started with an open-file soft limit below
/// the number of sockets and serves a normal client at once throughout.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_are_closed() {
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;
    const IDLE: usize = 2000;
    const SLOW: usize = 20;
    let (header, idle) = (Duration::from_secs(1), Duration::from_secs(2));
    let slack = Duration::from_secs(1);
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or_else(|e| panic!("{e}"));
    assert!(limit >= IDLE as u64 + 500, "this test holds {IDLE} sockets; the open-file hard limit is {limit}");
    let dir = TempDir::new();
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "ulimit -S -n 1024 && exec \"$0\" \"$@\"", env!("CARGO_BIN_EXE_switchboard")]);
    let env =
        [("SWITCHBOARD_HEADER_READ_TIMEOUT", "1"), ("SWITCHBOARD_IDLE_TIMEOUT", "2"), ("SWITCHBOARD_LOG", "info")];
    let serve = tokio::task::block_in_place(|| Serve::spawn(cmd, &dir.0, None, &env));
    let pid = serve.child.id();
    let (soft, hard) = nofile_limits(pid);
    assert_eq!(soft, hard, "the engine raised its open-file soft limit from 1024 to the hard limit");
    let addr = serve.base.trim_start_matches("http://").to_string();
    let base = serve.base.clone();
    let run = async move {
        let started = Instant::now();
        let mut idle_socks = Vec::with_capacity(IDLE);
        for _ in 0..IDLE {
            let s = TcpStream::connect(&addr).await.unwrap_or_else(|e| panic!("connect: {e}"));
            let at = tokio::time::Instant::now();
            idle_socks.push(tokio::spawn(closed_after(s, at, Duration::from_secs(10))));
        }
        let opened = started.elapsed();
        let slow: Vec<_> = (0..SLOW)
            .map(|_| {
                let addr = addr.clone();
                tokio::spawn(async move {
                    let s = TcpStream::connect(&addr).await.unwrap_or_else(|e| panic!("connect: {e}"));
                    let at = tokio::time::Instant::now();
                    let (r, mut w) = s.into_split();
                    let trickle = tokio::spawn(async move {
                        for b in b"GET /healthz HTTP/1.1\r\nHost: engine\r\nX-Slow: " {
                            if w.write_all(&[*b]).await.is_err() {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    });
                    let closed = closed_after(r, at, Duration::from_secs(10)).await;
                    trickle.abort();
                    closed
                })
            })
            .collect();
        // A kept-alive connection: one request answered, then nothing.
        let keep_alive = {
            let addr = addr.clone();
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let mut s = TcpStream::connect(&addr).await.unwrap_or_else(|e| panic!("connect: {e}"));
                s.write_all(b"GET /healthz HTTP/1.1\r\nHost: engine\r\n\r\n").await.unwrap_or_else(|e| panic!("{e}"));
                let mut got = Vec::new();
                let mut buf = [0u8; 1024];
                while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
                    let n = s.read(&mut buf).await.unwrap_or_else(|e| panic!("{e}"));
                    assert!(n > 0, "closed before answering: {}", String::from_utf8_lossy(&got));
                    got.extend_from_slice(&buf[..n]);
                }
                assert!(got.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&got));
                closed_after(s, tokio::time::Instant::now(), Duration::from_secs(10)).await
            })
        };
        // A normal client, while every socket above is still open.
        let t = Instant::now();
        let ok = call("GET", &format!("{base}/healthz"), None, None, &[]).await;
        let served = t.elapsed();
        assert_eq!(ok.status, 200, "{}", ok.text);
        let mut idle_max = Duration::ZERO;
        for h in idle_socks {
            let closed = h.await.unwrap_or_else(|e| panic!("{e}"));
            idle_max = idle_max.max(closed.unwrap_or_else(|| panic!("an idle socket was never closed")));
        }
        let mut slow_max = Duration::ZERO;
        for h in slow {
            let closed = h.await.unwrap_or_else(|e| panic!("{e}"));
            slow_max = slow_max.max(closed.unwrap_or_else(|| panic!("a slow client was never closed")));
        }
        let kept = keep_alive.await.unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|| panic!("never closed"));
        (opened, served, idle_max, slow_max, kept)
    };
    let (opened, served, idle_max, slow_max, kept) = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .unwrap_or_else(|_| panic!("the connections were not all closed within a minute"));
    eprintln!(
        "{IDLE} idle sockets opened in {opened:?}; normal client served in {served:?}; closed after at most \
         {idle_max:?} (idle), {slow_max:?} (slow head); kept-alive connection closed {kept:?} after its answer"
    );
    assert!(served < Duration::from_secs(2), "the normal client waited {served:?}");
    // A connection's first request head is due within the header timeout of its start.
    assert!(idle_max <= header + slack, "an idle socket stayed open {idle_max:?}");
    assert!(slow_max <= header + slack, "a slow client stayed connected {slow_max:?}");
    assert!(kept <= idle + slack, "a kept-alive connection stayed open {kept:?}");
    assert!(kept >= idle - Duration::from_millis(500), "the idle timeout, not the header one, closes it: {kept:?}");
    let heads = metric(&serve.base, "switchboard_connection_timeouts_total{phase=\"header\"}").await;
    assert!(heads >= (IDLE + SLOW) as u64, "{heads} header timeouts counted");
    assert!(metric(&serve.base, "switchboard_connection_timeouts_total{phase=\"idle\"}").await >= 1);
}

/// Connections beyond `--max-connections` wait in the accept queue: the engine holds no
/// descriptor for them, and serves them once earlier ones are done.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_wait_in_the_accept_queue() {
    use tokio::net::TcpStream;
    const MAX: usize = 16;
    const OPENED: usize = 64;
    let dir = TempDir::new();
    let env =
        [("SWITCHBOARD_MAX_CONNECTIONS", "16"), ("SWITCHBOARD_HEADER_READ_TIMEOUT", "1"), ("SWITCHBOARD_LOG", "info")];
    let serve = tokio::task::block_in_place(|| Serve::start(&dir.0, None, &env));
    let pid = serve.child.id();
    let addr = serve.base.trim_start_matches("http://").to_string();
    let base = serve.base.clone();
    let run = async move {
        assert_eq!(call("GET", &format!("{base}/readyz"), None, None, &[]).await.status, 200);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = open_fds(pid);
        let mut socks = Vec::new();
        for _ in 0..OPENED {
            let s = TcpStream::connect(&addr).await.unwrap_or_else(|e| panic!("connect: {e}"));
            socks.push(tokio::spawn(closed_after(s, tokio::time::Instant::now(), Duration::from_secs(20))));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let held = open_fds(pid).saturating_sub(before);
        let t = Instant::now();
        let ok = call("GET", &format!("{base}/healthz"), None, None, &[]).await;
        let waited = t.elapsed();
        assert_eq!(ok.status, 200, "{}", ok.text);
        for s in socks {
            assert!(s.await.unwrap_or_else(|e| panic!("{e}")).is_some(), "a queued socket was never closed");
        }
        (held, waited)
    };
    let (held, waited) = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .unwrap_or_else(|_| panic!("the queued connections were not served within a minute"));
    eprintln!("{OPENED} idle sockets against --max-connections {MAX}: {held} descriptors held; normal client served after {waited:?}");
    assert!(held <= MAX + 2, "the engine holds {held} descriptors for {OPENED} idle sockets");
}
