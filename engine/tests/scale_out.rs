//! Scale-out correctness (issue 14, point 6): three `switchboard serve` replicas on one
//! PostgreSQL database, nginx on loopback in front of them (round-robin, keep-alive upstream),
//! and through that balancer: the OAuth refresh single-flight (many concurrent executes on a
//! connector whose access token has expired: exactly one refresh reaches the token endpoint,
//! every execute succeeds) and the tenant isolation checks (another organization's connector is
//! 404 through every replica; lists never show another organization's objects). nginx's access
//! log shows which replica served each request: every replica must have served some.
//!
//! Asserts correctness, never time. nginx comes from Debian's packages (`scripts/nginx.sh`
//! installs it when missing); under `CI` a missing nginx or PostgreSQL fails the test.
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::serve::Serve;
use common::{call, postgres_database, TempDir};
use fake_upstream::{creds, FakeUpstream};
use serde_json::{json, Value};
use switchboard_engine::crypto::Key;

const REPLICAS: usize = 3;
const CONCURRENT_EXECUTES: usize = 60;

/// The nginx binary, installed through `scripts/nginx.sh` when missing; `None` (a skip with a
/// message) only outside CI.
fn nginx_binary() -> Option<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/nginx.sh");
    let out = Command::new("bash").arg(&script).stderr(Stdio::inherit()).output();
    match out {
        Ok(o) if o.status.success() => {
            let path = String::from_utf8_lossy(&o.stdout).trim().lines().last().unwrap_or_default().to_string();
            Some(PathBuf::from(path))
        }
        other => {
            assert!(
                std::env::var("CI").is_err(),
                "nginx is missing in CI and scripts/nginx.sh could not install it: {other:?}"
            );
            eprintln!("skipping: no nginx and scripts/nginx.sh could not install it ({other:?})");
            None
        }
    }
}

/// nginx on a free loopback port, round-robin over `upstreams` with a keep-alive upstream pool,
/// no retry on another replica (each request reaches exactly one), the chosen replica logged.
struct Nginx {
    child: Child,
    dir: TempDir,
    base: String,
}

impl Drop for Nginx {
    /// Stops nginx with SIGTERM, which makes the master stop its worker and wait for it. SIGKILL
    /// (`Child::kill`) would stop the master alone and leave the worker running, still listening,
    /// after the test; it is only the fallback when the master has not exited after 10 s.
    fn drop(&mut self) {
        let _ = common::terminate(&mut self.child, Duration::from_secs(10));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Nginx {
    fn start(bin: &Path, upstreams: &[String]) -> Nginx {
        let dir = TempDir::new();
        let d = dir.0.display();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("{e}"));
        let servers: String =
            upstreams.iter().map(|u| format!("    server {};\n", u.trim_start_matches("http://"))).collect();
        let conf = format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  log_format replica '$upstream_addr $status $request_method $uri';\n\
             access_log {d}/access.log replica;\n\
             client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n\
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
             upstream replicas {{\n{servers}    keepalive 32;\n  }}\n\
             server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://replicas;\n\
             proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      proxy_next_upstream off;\n\
             proxy_read_timeout 60s;\n    }}\n  }}\n}}\n"
        );
        let conf_path = dir.0.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap_or_else(|e| panic!("{e}"));
        let child = Command::new(bin)
            .arg("-e")
            .arg(dir.0.join("error.log"))
            .arg("-p")
            .arg(&dir.0)
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start nginx: {e}"));
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            let log = std::fs::read_to_string(dir.0.join("error.log")).unwrap_or_default();
            assert!(started.elapsed() < Duration::from_secs(20), "nginx did not start: {log}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Nginx { child, base: format!("http://127.0.0.1:{port}"), dir }
    }

    /// (replica address, status, method, path) of every request logged so far, once `settled`
    /// holds of them or 10 s have passed: nginx writes a request's line in its log phase, after
    /// the client has the whole answer, so the last lines may still be on their way.
    fn served(&self, settled: impl Fn(&[(String, u16, String, String)]) -> bool) -> Vec<(String, u16, String, String)> {
        let started = Instant::now();
        loop {
            let lines = self.logged();
            if settled(&lines) || started.elapsed() > Duration::from_secs(10) {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn logged(&self) -> Vec<(String, u16, String, String)> {
        let log = std::fs::read_to_string(self.dir.0.join("access.log")).unwrap_or_default();
        // Whole lines only: a line still being written has no newline yet.
        let whole = log.rfind('\n').map_or("", |end| &log[..end]);
        whole
            .lines()
            .filter_map(|l| {
                let mut f = l.split(' ');
                let (a, s, m, p) = (f.next()?, f.next()?, f.next()?, f.next()?);
                Some((a.to_string(), s.parse().ok()?, m.to_string(), p.to_string()))
            })
            .collect()
    }
}

fn hubspot_oauth_body(fake: &FakeUpstream) -> Value {
    json!({
        "connector_type": "hubspot", "workspace_name": "scale-out-org-a-space",
        "credentials": {"access_token": creds::OAUTH_EXPIRED_ACCESS_TOKEN, "refresh_token": creds::OAUTH_INITIAL_REFRESH_TOKEN,
                        "client_id": creds::OAUTH_CLIENT_ID, "client_secret": creds::OAUTH_CLIENT_SECRET},
        "config": {"base_url": fake.base_url("hubspot")},
    })
}

/// A second organization and its application, made with `switchboard admin` on the shared store.
fn second_organization(data_dir: &Path, url: &str, key: &str) -> (String, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["admin", "create-application", "--organization", "scale-out-org-b", "--data-dir"])
        .arg(data_dir)
        .arg("--database-url")
        .arg(url)
        .env("SWITCHBOARD_MASTER_KEY", key)
        .env_remove("SWITCHBOARD_DATABASE_URL")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "admin create-application: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let s = |k: &str| v[k].as_str().unwrap_or_else(|| panic!("no {k} in the admin output")).to_string();
    (s("organization_id"), s("client_id"), s("client_secret"))
}

async fn app_token(base: &str, client_id: &str, secret: &str) -> String {
    let body = json!({"client_id": client_id, "client_secret": secret});
    let a = call("POST", &format!("{base}/api/v1/applications/token"), None, Some(body), &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.body["access_token"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_behind_nginx_single_flight_and_isolation() {
    let Some(url) = postgres_database().await else { return };
    let Some(nginx_bin) = tokio::task::block_in_place(nginx_binary) else { return };
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    let key = Key::generate().to_base64();
    let env = [("SWITCHBOARD_MASTER_KEY", key.as_str()), ("SWITCHBOARD_LOG", "info")];
    let dirs: Vec<TempDir> = (0..REPLICAS).map(|_| TempDir::new()).collect();
    // One after the other: the first migrates the empty database and prints the first application.
    let replicas: Vec<Serve> =
        dirs.iter().map(|d| tokio::task::block_in_place(|| Serve::start(&d.0, Some(&url), &env))).collect();
    assert!(replicas[1..].iter().all(|r| r.first.is_none()), "later replicas find the store initialised");
    let upstreams: Vec<String> = replicas.iter().map(|r| r.base.clone()).collect();
    let lb = tokio::task::block_in_place(|| Nginx::start(&nginx_bin, &upstreams));
    let base = lb.base.clone();

    // Organization A (the first application) makes an OAuth connector whose access token expired.
    let (cid, secret) = replicas[0].first_creds();
    let token_a = app_token(&base, &cid, &secret).await;
    let c = call(
        "POST",
        &format!("{base}/api/v1/integrations/connectors"),
        Some(&token_a),
        Some(hubspot_oauth_body(&fake)),
        &[],
    )
    .await;
    assert_eq!(c.status, 201, "{}", c.text);
    let id_a = c.body["id"].as_str().unwrap_or_default().to_string();
    assert!(!id_a.is_empty(), "{}", c.text);

    // The single-flight: every execute through the balancer, all at once.
    let calls = (0..CONCURRENT_EXECUTES).map(|_| {
        let (url, token) = (format!("{base}/api/v1/integrations/connectors/{id_a}/execute"), token_a.clone());
        tokio::spawn(async move {
            call(
                "POST",
                &url,
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
    assert_eq!(
        fake.state.with_oauth("hubspot", |o| o.refresh_calls),
        1,
        "exactly one refresh reached the token endpoint across {REPLICAS} replicas"
    );
    let is_execute = |(_, _, m, p): &(String, u16, String, String)| m == "POST" && p.ends_with("/execute");
    let logged = tokio::task::block_in_place(|| {
        lb.served(|l| l.iter().filter(|r| is_execute(r)).count() >= CONCURRENT_EXECUTES)
    });
    let executes: Vec<String> = logged
        .into_iter()
        .filter(is_execute)
        .map(|(a, s, _, _)| {
            assert_eq!(s, 200, "an execute answered {s} through {a}");
            a
        })
        .collect();
    assert_eq!(executes.len(), CONCURRENT_EXECUTES, "nginx logged every execute once (no retry on another replica)");
    let mut per_replica: BTreeMap<String, usize> = BTreeMap::new();
    for a in executes {
        *per_replica.entry(a).or_default() += 1;
    }
    for u in &upstreams {
        let addr = u.trim_start_matches("http://");
        assert!(per_replica.get(addr).copied().unwrap_or(0) > 0, "replica {addr} served no execute: {per_replica:?}");
    }
    eprintln!("executes per replica: {per_replica:?}");

    // Isolation through the balancer: organization B, on the same store.
    let (org_b, cid_b, secret_b) = tokio::task::block_in_place(|| second_organization(&dirs[0].0, &url, &key));
    let token_b = app_token(&base, &cid_b, &secret_b).await;
    let c = call(
        "POST",
        &format!("{base}/api/v1/integrations/connectors"),
        Some(&token_b),
        Some(json!({
            "connector_type": "github", "workspace_name": "scale-out-org-b-space",
            "credentials": {"personal_access_token": creds::GITHUB_TOKEN},
            "replication_config": {"repositories": ["octo/hello"]}, "config": {"base_url": fake.base_url("github")},
        })),
        &[],
    )
    .await;
    assert_eq!(c.status, 201, "{}", c.text);
    let id_b = c.body["id"].as_str().unwrap_or_default().to_string();
    assert!(!id_b.is_empty() && id_b != id_a);
    // Through the balancer so far: two application tokens, two connectors and the executes.
    let before = tokio::task::block_in_place(|| lb.served(|l| l.len() >= CONCURRENT_EXECUTES + 4).len());
    // Each round is 10 sequential requests; 3 rounds over 3 round-robin replicas put every check
    // on every replica.
    for _ in 0..REPLICAS {
        for (token, own, foreign) in [(&token_a, &id_a, &id_b), (&token_b, &id_b, &id_a)] {
            let one = |id: &String| format!("{base}/api/v1/integrations/connectors/{id}");
            let mine = call("GET", &one(own), Some(token), None, &[]).await;
            assert_eq!(mine.status, 200, "own connector: {}", mine.text);
            let theirs = call("GET", &one(foreign), Some(token), None, &[]).await;
            assert_eq!(theirs.status, 404, "foreign connector read: {}", theirs.text);
            let run = call(
                "POST",
                &format!("{}/execute", one(foreign)),
                Some(token),
                Some(json!({"entity": "issues", "action": "list", "params": {}})),
                &[],
            )
            .await;
            assert_eq!(run.status, 404, "foreign connector execute: {}", run.text);
            let list = call("GET", &format!("{base}/api/v1/integrations/connectors"), Some(token), None, &[]).await;
            assert_eq!(list.status, 200, "{}", list.text);
            assert!(list.text.contains(own.as_str()), "own connector listed: {}", list.text);
            assert!(!list.text.contains(foreign.as_str()), "a foreign connector listed: {}", list.text);
        }
        let ws = call("GET", &format!("{base}/api/v1/workspaces"), Some(&token_b), None, &[]).await;
        assert_eq!(ws.status, 200, "{}", ws.text);
        assert!(ws.text.contains("scale-out-org-b-space"), "own workspace listed: {}", ws.text);
        assert!(!ws.text.contains("scale-out-org-a-space"), "a foreign workspace listed: {}", ws.text);
        let del =
            call("DELETE", &format!("{base}/api/v1/integrations/connectors/{id_a}"), Some(&token_b), None, &[]).await;
        assert_eq!(del.status, 404, "foreign connector delete: {}", del.text);
    }
    // Organization A's connector survived B's attempts, on every replica.
    for _ in 0..REPLICAS {
        let still =
            call("GET", &format!("{base}/api/v1/integrations/connectors/{id_a}"), Some(&token_a), None, &[]).await;
        assert_eq!(still.status, 200, "{}", still.text);
    }
    let logged = tokio::task::block_in_place(|| lb.served(|l| l.len() >= before + REPLICAS * 10 + REPLICAS));
    let checks = &logged[before..];
    for u in &upstreams {
        let addr = u.trim_start_matches("http://");
        let statuses: Vec<u16> = checks.iter().filter(|(a, ..)| a == addr).map(|(_, s, ..)| *s).collect();
        assert!(
            statuses.contains(&404) && statuses.contains(&200),
            "replica {addr} ran isolation checks: {statuses:?}"
        );
    }
    assert!(!org_b.is_empty());
    // No secret of either organization in any replica's logs.
    for r in &replicas {
        let out = r.logs();
        for s in [
            creds::OAUTH_CLIENT_SECRET,
            creds::OAUTH_INITIAL_REFRESH_TOKEN,
            creds::GITHUB_TOKEN,
            secret_b.as_str(),
            key.as_str(),
        ] {
            assert!(!out.contains(s), "a secret in a replica's logs");
        }
    }
    // Stopping nginx stops its worker too: none is left listening after the test.
    let workers = children_of(lb.child.id());
    assert!(!workers.is_empty(), "nginx runs a worker process");
    tokio::task::block_in_place(|| {
        drop(lb);
        let stopped = Instant::now();
        while workers.iter().any(|w| running(*w)) && stopped.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    assert!(!workers.iter().any(|w| running(*w)), "an nginx worker outlived its master: {workers:?}");
}

/// The processes whose parent is `pid` (from `/proc/*/stat`).
fn children_of(pid: u32) -> Vec<u32> {
    let entries = std::fs::read_dir("/proc").unwrap_or_else(|e| panic!("/proc: {e}"));
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| parent_and_state(*p).is_some_and(|(parent, _)| parent == pid))
        .collect()
}

/// Whether process `pid` exists and is not a zombie.
fn running(pid: u32) -> bool {
    parent_and_state(pid).is_some_and(|(_, state)| state != 'Z')
}

/// The parent and the state of process `pid`: in `/proc/<pid>/stat`, after the command's closing
/// parenthesis, come the state and the parent's pid.
fn parent_and_state(pid: u32) -> Option<(u32, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.chars().next()?;
    Some((fields.next()?.parse().ok()?, state))
}
