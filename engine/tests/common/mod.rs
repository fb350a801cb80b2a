//! Shared harness of the engine tests: an engine on SQLite (a temp dir) or on the PostgreSQL
//! server the test script starts (`SWITCHBOARD_TEST_DATABASE_URL`, one fresh database per test),
//! the fake upstream, and a small HTTP client.
#![allow(dead_code)]

pub mod serve;

use std::path::PathBuf;

use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use sqlx::Executor;
use switchboard_engine::admin::{self, NewApplication};
use switchboard_engine::crypto::{Key, KeyRing};
use switchboard_engine::{app, AppState, Settings};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh temp directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let p = std::env::temp_dir().join(format!("sb-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("{e}"));
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Sends SIGTERM to `child` and waits at most `within` for it to exit: its exit status, or why
/// there is none (the signal could not be sent, or the process still runs).
pub fn terminate(
    child: &mut std::process::Child,
    within: std::time::Duration,
) -> Result<std::process::ExitStatus, String> {
    let pid = child.id().to_string();
    let sent = std::process::Command::new("kill").args(["-TERM", &pid]).status();
    if !sent.as_ref().is_ok_and(|s| s.success()) {
        return Err(format!("kill -TERM {pid} failed: {sent:?}"));
    }
    let deadline = std::time::Instant::now() + within;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Err(e) => return Err(format!("waiting for {pid}: {e}")),
            Ok(None) if std::time::Instant::now() > deadline => {
                return Err(format!("{pid} still runs after {within:?}"))
            }
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
}

/// A new empty PostgreSQL database, or `None` when no server is configured outside CI.
pub async fn postgres_database() -> Option<String> {
    let Ok(admin_url) = std::env::var("SWITCHBOARD_TEST_DATABASE_URL") else {
        if std::env::var("CI").is_ok() {
            panic!("SWITCHBOARD_TEST_DATABASE_URL must be set in CI (scripts/test.sh starts PostgreSQL)");
        }
        eprintln!("skipping the PostgreSQL half: SWITCHBOARD_TEST_DATABASE_URL is not set (scripts/test.sh sets it)");
        return None;
    };
    sqlx::any::install_default_drivers();
    let name = format!("sb_test_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::AnyPool::connect(&admin_url).await.unwrap_or_else(|e| panic!("postgres: {e}"));
    pool.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap_or_else(|e| panic!("{e}"));
    pool.close().await;
    let base = admin_url.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin_url);
    Some(format!("{base}/{name}"))
}

/// An engine served in process on an ephemeral port.
pub struct Engine {
    pub base: String,
    pub state: AppState,
    pub app: NewApplication,
    pub dir: TempDir,
    pub database_url: Option<String>,
    pub key: Key,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub fn test_settings() -> Settings {
    Settings {
        egress_allow: vec!["127.0.0.1".into()],
        rate_per_sec: 10_000.0,
        rate_burst: 10_000.0,
        // Tests fetch tokens freely; the token endpoint's limits have tests of their own.
        token_rate_per_client: 10_000.0,
        token_burst_per_client: 10_000.0,
        token_rate_per_address: 10_000.0,
        token_burst_per_address: 10_000.0,
        ..Settings::default()
    }
}

/// Starts an engine on `backend`; `None` when the backend is not available here.
pub async fn start(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> Option<Engine> {
    start_registry(backend, builtin(), tweak).await
}

/// The built-in connectors.
pub fn builtin() -> switchboard_core::Registry {
    switchboard_core::Registry::builtin().unwrap_or_else(|e| panic!("{e}")).clone()
}

/// Starts an engine on `backend` running the connectors of `registry`.
pub async fn start_registry(
    backend: Backend,
    registry: switchboard_core::Registry,
    tweak: impl FnOnce(&mut Settings),
) -> Option<Engine> {
    let dir = TempDir::new();
    let database_url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(postgres_database().await?),
    };
    let mut settings = test_settings();
    settings.data_dir = dir.0.clone();
    settings.database_url = database_url.clone();
    tweak(&mut settings);
    let key = Key::generate();
    let ring = KeyRing::new(key.clone(), vec![]);
    let state = AppState::new(settings, ring, registry).await.unwrap_or_else(|e| panic!("engine state: {e:?}"));
    let first =
        admin::create_application(&state.db, state.secrets.hasher(), "org-a").await.unwrap_or_else(|e| panic!("{e:?}"));
    Some(serve(state, first, dir, database_url, key).await)
}

pub async fn start_with(
    settings: Settings,
    ring: KeyRing,
    dir: TempDir,
    database_url: Option<String>,
    key: Key,
) -> Engine {
    let state = AppState::new(settings, ring, builtin()).await.unwrap_or_else(|e| panic!("engine state: {e:?}"));
    let first =
        admin::create_application(&state.db, state.secrets.hasher(), "org-a").await.unwrap_or_else(|e| panic!("{e:?}"));
    serve(state, first, dir, database_url, key).await
}

/// Serves `state` in process on an ephemeral port.
async fn serve(state: AppState, first: NewApplication, dir: TempDir, database_url: Option<String>, key: Key) -> Engine {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let router = app(state.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Engine { base: format!("http://{addr}"), state, app: first, dir, database_url, key, shutdown: Some(tx) }
}

/// `state` served by `switchboard serve`'s own loop (`switchboard_engine::serve`, serving
/// threads and the shutdown's audit flush included) on an ephemeral port.
pub struct Served {
    pub base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    pub async fn start(state: AppState) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
        let base = format!("http://{}", listener.local_addr().unwrap_or_else(|e| panic!("{e}")));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(switchboard_engine::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Self { base, stop: Some(stop), task }
    }

    /// A graceful shutdown; returns once `serve` has (within 30 s, or the test fails).
    pub async fn shut_down(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(std::time::Duration::from_secs(30), &mut self.task)
            .await
            .unwrap_or_else(|_| panic!("serve did not return"))
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// `serve`'s future dropped, with no shutdown asked.
    pub fn abort(self) {
        self.task.abort();
    }
}

/// An answer: status, JSON body (or the text as a string), headers.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub headers: HeaderMap,
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap_or_else(|e| panic!("{e}"))
}

pub async fn call(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Answer {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut rb = client().request(m, url);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let resp = rb.send().await.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()));
    Answer { status, body, text, headers }
}

impl Engine {
    /// Another engine on this one's database and master key, with its own caches (another
    /// replica); the same application's credentials work on both.
    pub async fn replica(&self) -> Engine {
        let mut settings = self.state.settings.clone();
        settings.data_dir = self.dir.0.clone();
        let ring = KeyRing::new(self.key.clone(), vec![]);
        let state = AppState::new(settings, ring, (*self.state.registry).clone())
            .await
            .unwrap_or_else(|e| panic!("replica state: {e:?}"));
        // Its own temp dir to drop; the database stays in this engine's.
        serve(state, self.app.clone(), TempDir::new(), self.database_url.clone(), self.key.clone()).await
    }

    /// Another engine state on this one's store and master key, its settings this engine's
    /// with `tweak` applied: for a test that serves it with `switchboard_engine::serve`.
    pub async fn sibling(&self, tweak: impl FnOnce(&mut Settings)) -> AppState {
        let mut settings = self.state.settings.clone();
        tweak(&mut settings);
        let ring = KeyRing::new(self.key.clone(), vec![]);
        AppState::new(settings, ring, (*self.state.registry).clone()).await.unwrap_or_else(|e| panic!("{e:?}"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        call("GET", &self.url(path), Some(token), None, &[]).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        call("POST", &self.url(path), Some(token), Some(body), &[]).await
    }

    pub async fn app_token_for(&self, app: &NewApplication) -> String {
        let a = call(
            "POST",
            &self.url("/api/v1/account/applications/token"),
            None,
            Some(json!({"client_id": app.client_id, "client_secret": app.client_secret})),
            &[],
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.text);
        a.body["access_token"].as_str().unwrap_or_default().to_string()
    }

    pub async fn app_token(&self) -> String {
        self.app_token_for(&self.app).await
    }

    pub async fn scoped_token(&self, app_token: &str, workspace: &str) -> String {
        let a = self.post("/api/v1/embedded/scoped-token", app_token, json!({"workspace_name": workspace})).await;
        assert_eq!(a.status, 200, "{}", a.text);
        a.body["token"].as_str().unwrap_or_default().to_string()
    }

    pub async fn widget_token(&self, app_token: &str, workspace: &str, origin: &str) -> String {
        let a = self
            .post(
                "/api/v1/embedded/widget-token",
                app_token,
                json!({"workspace_name": workspace, "allowed_origin": origin}),
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.text);
        a.body["token"].as_str().unwrap_or_default().to_string()
    }

    /// Waits until this engine's store answers connector `id` at `version` (`None`: gone): at
    /// once on SQLite (one cache per file in a process), once another replica's change is
    /// announced on PostgreSQL (`db/listen.rs`); within 5 s or the test fails.
    pub async fn answers_version(&self, id: &str, version: Option<i64>) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let row = self.state.db.connector(&self.app.organization_id, None, id).await;
            let now = row.unwrap_or_else(|e| panic!("{e:?}")).map(|r| r.version);
            if now == version {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "still answers version {now:?} of {id}, not {version:?}");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Creates a GitHub connector pointed at the fake; returns its id.
    pub async fn github_connector(&self, token: &str, workspace: Option<&str>, fake_base: &str, pat: &str) -> String {
        let mut body = json!({
            "connector_type": "github",
            "name": "gh",
            "credentials": {"personal_access_token": pat},
            "replication_config": {"repositories": ["octo/hello"]},
            "config": {"base_url": fake_base},
        });
        if let Some(w) = workspace {
            body["workspace_name"] = json!(w);
        }
        let a = self.post("/api/v1/integrations/connectors", token, body).await;
        assert_eq!(a.status, 201, "{}", a.text);
        a.body["id"].as_str().unwrap_or_default().to_string()
    }
}

/// Runs `f` on SQLite and then on PostgreSQL (when available).
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                #[allow(clippy::redundant_closure_call)]
                ($body)(common::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                #[allow(clippy::redundant_closure_call)]
                ($body)(common::Backend::Postgres).await;
            }
        }
    };
}

/// Runs a command (`switchboard ...`) to its exit, its output read as it comes (a full pipe
/// never blocks it); killed and failed after 60 s: a server that started instead of refusing
/// its settings, or a `--print-config` that served, never exits.
pub fn run_to_exit(mut cmd: std::process::Command) -> std::process::Output {
    use std::io::Read;
    use std::process::Stdio;
    fn drain(from: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = from {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run switchboard: {e}"));
    let (out, err) = (drain(child.stdout.take()), drain(child.stderr.take()));
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap_or_else(|e| panic!("{e}")) {
            break s;
        }
        if started.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("switchboard did not exit");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let join = |h: std::thread::JoinHandle<Vec<u8>>| h.join().unwrap_or_default();
    std::process::Output { status, stdout: join(out), stderr: join(err) }
}
