//! The engine as operators run it: `switchboard serve` processes over real HTTP, OAuth refresh
//! shared by concurrent executions (in one process and across two on PostgreSQL), master key
//! rotation with a restart, and logs free of secrets.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{call, postgres_database, start, Backend, TempDir};
use fake_upstream::{creds, FakeUpstream};
use serde_json::{json, Value};
use switchboard_engine::crypto::Key;

/// A running `switchboard serve`; stderr (the JSON logs) is collected.
struct Serve {
    child: Child,
    base: String,
    first: Option<Value>,
    logs: Arc<Mutex<String>>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    fn start(data_dir: &std::path::Path, database_url: Option<&str>, env: &[(&str, &str)]) -> Serve {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        cmd.args(["serve", "--bind", "127.0.0.1:0", "--egress-allow", "127.0.0.1"])
            .arg("--data-dir")
            .arg(data_dir)
            .env_remove("SWITCHBOARD_MASTER_KEY")
            .env_remove("SWITCHBOARD_OLD_MASTER_KEYS")
            .env_remove("SWITCHBOARD_DATABASE_URL")
            .env("SWITCHBOARD_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(u) = database_url {
            cmd.arg("--database-url").arg(u);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start switchboard serve: {e}"));
        let logs = Arc::new(Mutex::new(String::new()));
        if let Some(mut err) = child.stderr.take() {
            let logs = logs.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    logs.lock().unwrap_or_else(|e| e.into_inner()).push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        let out = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let mut lines = BufReader::new(out).lines();
        let mut first = None;
        let base = loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("serve exited early: {}", logs.lock().unwrap_or_else(|e| e.into_inner())));
            let line = line.unwrap_or_default();
            let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if let Some(a) = v.get("first_application") {
                first = Some(a.clone());
            }
            if let Some(l) = v.get("listening").and_then(Value::as_str) {
                break l.to_string();
            }
        };
        eprintln!("switchboard serve ready in {:?}", started.elapsed());
        Serve { child, base, first, logs }
    }

    fn logs(&self) -> String {
        self.logs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn app_token(&self, client_id: &str, secret: &str) -> String {
        let a = call(
            "POST",
            &format!("{}/api/v1/applications/token", self.base),
            None,
            Some(json!({"client_id": client_id, "client_secret": secret})),
            &[],
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.text);
        a.body["access_token"].as_str().unwrap_or_default().to_string()
    }
}

fn first_creds(s: &Serve) -> (String, String) {
    let f = s.first.clone().unwrap_or_else(|| panic!("an empty store prints the first application"));
    (f["client_id"].as_str().unwrap_or_default().into(), f["client_secret"].as_str().unwrap_or_default().into())
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
    let (client_id, secret) = first_creds(&serve);
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
    let (cid, secret) = first_creds(&a);
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
        (cid, secret) = first_creds(&s);
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
