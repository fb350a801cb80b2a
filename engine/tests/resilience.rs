//! The standing suite: what must hold when things go wrong around the engine.
//!
//! - Crash safety of OAuth refresh-token rotation: a real `switchboard serve` is killed with
//!   SIGKILL at seeded random moments while concurrent executions refresh a single-use refresh
//!   token, then restarted on the same store.
//! - SSRF: every spelling of a forbidden host in `config.base_url`, injection through params, and
//!   an allowed upstream redirecting elsewhere never carry the credential to another host.
//! - Secrets after a full scenario: every secret of every built-in connector type, in every
//!   encoding, is absent from the SQLite files, a `pg_dump`, the engine's debug logs and every
//!   answer.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::serve::Serve;
use common::{call, postgres_database, start, Answer, Backend, Engine, TempDir};
use fake_upstream::leaks::{random_credentials, Watch};
use fake_upstream::{creds, FakeUpstream, RecordedRequest};
use serde_json::{json, Value};
use switchboard_engine::crypto::{Key, KeyRing};
use switchboard_engine::db::Db;

/// A database for `backend`, or `None` (skip) when PostgreSQL is not configured here.
async fn database(backend: Backend) -> Option<Option<String>> {
    match backend {
        Backend::Sqlite => Some(None),
        Backend::Postgres => postgres_database().await.map(Some),
    }
}

/// A small seeded generator (xorshift64*): the same kill moments on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn hubspot_oauth_body(fake: &FakeUpstream, refresh_token: &str) -> Value {
    json!({
        "connector_type": "hubspot", "workspace_name": "w",
        "credentials": {"access_token": creds::OAUTH_EXPIRED_ACCESS_TOKEN, "refresh_token": refresh_token,
                        "client_id": creds::OAUTH_CLIENT_ID, "client_secret": creds::OAUTH_CLIENT_SECRET},
        "config": {"base_url": fake.base_url("hubspot")},
    })
}

/// The refresh token a token-endpoint request presented, if any.
fn presented_refresh_token(r: &RecordedRequest) -> Option<String> {
    if !r.path.ends_with("/token") {
        return None;
    }
    let from_pairs = |pairs: Vec<(String, String)>| pairs.into_iter().find(|(k, _)| k == "refresh_token").map(|p| p.1);
    if let Some(t) = r.body_parsed.get("refresh_token").and_then(Value::as_str) {
        return Some(t.to_string());
    }
    from_pairs(url::form_urlencoded::parse(r.body.as_bytes()).into_owned().collect())
        .or_else(|| from_pairs(r.query.clone()))
}

/// What the store holds after a kill: whether a refresh lease was left behind, whether a refresh
/// is marked in flight for the stored credentials (the write-ahead mark of a refresh that sent
/// its refresh token and never stored the answer), and the stored refresh token. With `expire`,
/// a leftover lease is expired by hand, as if its 6 s had passed.
async fn inspect_store(dir: &Path, url: Option<&str>, key: &Key, id: &str, expire: bool) -> (bool, bool, String) {
    let db = Db::open(url, dir).await.unwrap_or_else(|e| panic!("{e:?}"));
    let (sealed, _) = db.credentials(id).await.unwrap_or_else(|e| panic!("{e:?}")).unwrap_or_else(|| panic!("row"));
    let ring = KeyRing::new(key.clone(), vec![]);
    let stored: Value =
        serde_json::from_slice(&ring.open(&sealed, id).unwrap_or_else(|e| panic!("{e:?}"))).unwrap_or_default();
    drop(db);
    let lock_url =
        url.map(str::to_string).unwrap_or_else(|| format!("sqlite://{}", dir.join("switchboard.db").display()));
    let pool = sqlx::AnyPool::connect(&lock_url).await.unwrap_or_else(|e| panic!("{e}"));
    let leases: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM refresh_locks")
        .fetch_one(&pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    if leases > 0 && expire {
        sqlx::query("UPDATE refresh_locks SET expires_at = 0").execute(&pool).await.unwrap_or_else(|e| panic!("{e}"));
    }
    let marked: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM connectors WHERE id = $1 AND refresh_in_flight = credential_version")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    pool.close().await;
    (leases > 0, marked > 0, stored["refresh_token"].as_str().unwrap_or_default().to_string())
}

/// Kills per backend: `KILL_TRIALS`, 15 unless set (measurements use more).
fn trials() -> usize {
    std::env::var("KILL_TRIALS").ok().and_then(|s| s.parse().ok()).unwrap_or(15)
}
const WORKERS: usize = 6;

/// Kills the engine at seeded random moments (0-300 ms) while `WORKERS` loops execute on a
/// connector whose every execution refreshes a single-use refresh token, then restarts it on the
/// same store. A kill that lands between the fake granting a rotation and the engine storing it
/// loses the only live refresh token: no client can recover that against a strictly single-use
/// endpoint, so such a trial must have left the refresh marked in flight and end in
/// `upstream_authentication` with `details.reason` `refresh_interrupted` (reconnect), and every
/// other trial in a working connector. A refresh lease left by the dead process is expired by
/// hand, as if its 6 s had passed (but the first, which the restarted engine waits out).
///
/// With `grace` the endpoint behaves as most rotating providers do (Okta's grace period, Auth0's
/// reuse interval): a rotated-away refresh token stays usable for a while. There a crash loses
/// nothing: the restarted engine presents the refresh token it still holds, gets a new pair, and
/// every trial ends in a working connector without the end user reconnecting.
async fn crash_trials(backend: Backend, grace: Option<Duration>) {
    let Some(url) = database(backend).await else { return };
    let url = url.as_deref();
    let dir = TempDir::new();
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    // Access tokens expire at once, so every execution refreshes; every refresh token is single
    // use (the fake rotates and refuses a used one).
    fake.state.with_oauth("hubspot", |o| {
        o.expires_in = 0;
        o.rotate = true;
        o.grace = grace;
    });
    let key = Key::generate();
    let key_text = key.to_base64();
    let mut serve =
        tokio::task::block_in_place(|| Serve::start(&dir.0, url, &[("SWITCHBOARD_MASTER_KEY", key_text.as_str())]));
    let (cid, secret) = serve.first_creds();
    let mut token = serve.app_token(&cid, &secret).await;
    let created = call(
        "POST",
        &serve.url("/api/v1/integrations/connectors"),
        Some(&token),
        Some(hubspot_oauth_body(&fake, creds::OAUTH_INITIAL_REFRESH_TOKEN)),
        &[],
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap_or_default().to_string();
    let execute = json!({"entity": "contacts", "action": "list", "params": {"limit": 1}});
    let mut rng = Rng(0x5eed_0009);
    let (mut mid_refresh, mut marked, mut lost, mut recovered, mut ok_before_kill) = (0, 0, 0, 0, 0u64);
    let (mut waited_out_a_lease, mut lease_wait) = (false, None::<Duration>);
    let mut stale_tokens = Vec::new();
    let mut delays = Vec::new();
    // Of every stored refresh, in µs: from the refresh token leaving to the answer reaching the
    // credential store (the provider rotates somewhere in there), and the write of the answer.
    // A kill lands in the window when it comes after the rotation and before the write ends.
    let mut timings: Vec<(u64, u64)> = Vec::new();
    let trials = trials();
    for trial in 0..trials {
        let exec_url = serve.url(&format!("/api/v1/integrations/connectors/{id}/execute"));
        let workers = (0..WORKERS).map(|_| {
            let (u, t, b) = (exec_url.clone(), token.clone(), execute.clone());
            tokio::spawn(async move {
                let client = common::client();
                let mut ok = 0u64;
                // Runs until the engine dies under it.
                while let Ok(r) = client.post(&u).bearer_auth(&t).json(&b).send().await {
                    if r.status().is_success() {
                        ok += 1;
                    }
                    if r.bytes().await.is_err() {
                        break;
                    }
                }
                ok
            })
        });
        let workers: Vec<_> = workers.collect();
        let delay = rng.next() % 301;
        delays.push(delay);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        tokio::task::block_in_place(|| serve.kill());
        for w in workers {
            ok_before_kill += w.await.unwrap_or(0);
        }
        // How long each stored refresh took (the engine logs it at debug level).
        for line in serve.logs().lines() {
            let fields = serde_json::from_str::<Value>(line).unwrap_or_default()["fields"].take();
            if fields["message"] == "refreshed OAuth tokens stored" {
                if let (Some(x), Some(w)) = (fields["exchange_us"].as_u64(), fields["write_us"].as_u64()) {
                    timings.push((x, w));
                }
            }
        }
        // The first lease a dead process leaves is not expired by hand: the restarted engine
        // must get past it on its own, within the lease's 6 s.
        let (lease_left, mark_left, stored) = inspect_store(&dir.0, url, &key, &id, waited_out_a_lease).await;
        let live = fake.state.with_oauth("hubspot", |o| o.refresh_token.clone());
        mid_refresh += usize::from(lease_left);
        marked += usize::from(mark_left);
        serve =
            tokio::task::block_in_place(|| Serve::start(&dir.0, url, &[("SWITCHBOARD_MASTER_KEY", key_text.as_str())]));
        token = serve.app_token(&cid, &secret).await;
        let first_call = std::time::Instant::now();
        let run = call(
            "POST",
            &serve.url(&format!("/api/v1/integrations/connectors/{id}/execute")),
            Some(&token),
            Some(execute.clone()),
            &[],
        )
        .await;
        if lease_left && !waited_out_a_lease {
            waited_out_a_lease = true;
            let waited = first_call.elapsed();
            assert!(waited < Duration::from_secs(10), "a dead process's lease held the connector for {waited:?}");
            lease_wait = Some(waited);
        }
        if stored == live {
            assert_eq!(run.status, 200, "trial {trial} (kill at {delay} ms): {}", run.text);
            continue;
        }
        if grace.is_some() {
            // The rotation the engine never stored is recovered from the token it kept.
            recovered += 1;
            stale_tokens.push(stored.clone());
            assert!(mark_left, "trial {trial}: a rotation was lost without a refresh marked in flight");
            assert_eq!(run.status, 200, "trial {trial} (kill at {delay} ms), inside the grace period: {}", run.text);
            continue;
        }
        // The fake granted a rotation the engine never stored: the refresh token it holds is
        // spent. The write-ahead mark was there, and the connector says what happened (the end
        // user reconnects), without hanging or crashing.
        lost += 1;
        stale_tokens.push(stored.clone());
        assert!(mark_left, "trial {trial}: a rotation was lost without a refresh marked in flight");
        assert_eq!(
            (run.status, run.body["code"].as_str(), run.body["details"]["reason"].as_str()),
            (502, Some("upstream_authentication"), Some("refresh_interrupted")),
            "trial {trial}: a spent refresh token: {}",
            run.text
        );
        // Every later call says it too, until the end user reconnects.
        let again = call(
            "POST",
            &serve.url(&format!("/api/v1/integrations/connectors/{id}/execute")),
            Some(&token),
            Some(execute.clone()),
            &[],
        )
        .await;
        assert_eq!(again.body["details"]["reason"], "refresh_interrupted", "trial {trial}: {}", again.text);
        let reconnect = call(
            "PATCH",
            &serve.url(&format!("/api/v1/integrations/connectors/{id}")),
            Some(&token),
            Some(json!({"credentials": hubspot_oauth_body(&fake, &live)["credentials"]})),
            &[],
        )
        .await;
        assert_eq!(reconnect.status, 200, "{}", reconnect.text);
        let run = call(
            "POST",
            &serve.url(&format!("/api/v1/integrations/connectors/{id}/execute")),
            Some(&token),
            Some(execute.clone()),
            &[],
        )
        .await;
        assert_eq!(run.status, 200, "trial {trial} after reconnecting: {}", run.text);
    }
    // No refresh token was ever presented twice, but the spent ones a crash left behind (each
    // presented once more after the restart, and refused).
    let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
    for r in fake.requests_for("hubspot") {
        if let Some(t) = presented_refresh_token(&r) {
            *seen.entry(t).or_default() += 1;
        }
    }
    let reused: Vec<_> = seen.iter().filter(|(t, n)| **n > 1 && !stale_tokens.contains(t)).collect();
    assert!(reused.is_empty(), "refresh tokens presented twice: {reused:?}");
    let (grants, calls, reuses) =
        fake.state.with_oauth("hubspot", |o| (o.used_refresh_tokens.len(), o.refresh_calls, o.grace_reuses));
    if grace.is_some() {
        // Every refresh was granted, the recoveries through the grace period included.
        assert_eq!(calls as usize, grants, "a refresh was refused");
        assert_eq!(reuses as usize, recovered, "recoveries and grace-period reuses differ");
        assert_eq!(lost, 0);
    } else {
        assert_eq!(calls as usize, grants + seen.values().map(|n| n - 1).sum::<usize>(), "a reuse was granted");
        assert_eq!(reuses, 0);
    }
    assert!(ok_before_kill > 0, "the executions ran before the kills");
    let pct = |mut v: Vec<u64>, p: usize| {
        v.sort_unstable();
        v.get((v.len() * p / 100).min(v.len().saturating_sub(1))).copied().unwrap_or(0)
    };
    let (exchange, write): (Vec<u64>, Vec<u64>) = timings.iter().copied().unzip();
    eprintln!(
        "refreshes stored ({backend:?}): {}; exchange µs p50 {} p90 {} max {}; write µs p50 {} p90 {} max {}",
        timings.len(),
        pct(exchange.clone(), 50),
        pct(exchange.clone(), 90),
        pct(exchange, 100),
        pct(write.clone(), 50),
        pct(write.clone(), 90),
        pct(write, 100)
    );
    eprintln!(
        "crash trials ({backend:?}): {trials} kills at {delays:?} ms; {mid_refresh} mid-refresh (lease left; the \
         first waited out in {lease_wait:?}), {marked} with a refresh marked in flight, \
         {lost} lost a granted rotation, {recovered} recovered it through the provider's grace period \
         ({grace:?}); {grants} refreshes, {ok_before_kill} executions before the kills"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotation_survives_kill_9_sqlite() {
    crash_trials(Backend::Sqlite, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotation_survives_kill_9_postgres() {
    crash_trials(Backend::Postgres, None).await;
}

/// Okta's default grace period: 30 s, far longer than a restart here.
const GRACE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotation_with_a_grace_period_loses_nothing_to_kill_9_sqlite() {
    crash_trials(Backend::Sqlite, Some(GRACE)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotation_with_a_grace_period_loses_nothing_to_kill_9_postgres() {
    crash_trials(Backend::Postgres, Some(GRACE)).await;
}

// ---- SSRF: spellings, injection, redirects

/// Writes a connector's config straight to storage, past the API's checks (a row stored by an
/// older version, or egress rules narrowed since): the runtime must refuse it too.
async fn store_config(e: &Engine, id: &str, config: Value) {
    let db = &e.state.db;
    let mut row = db
        .get_connector(&e.app.organization_id, None, id)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .unwrap_or_else(|| panic!("connector {id} not found"));
    row.config = Some(config.to_string());
    let version = row.version;
    assert!(db.update_connector(&row, version).await.unwrap_or_else(|e| panic!("{e:?}")));
}

/// Every request `fake` saw that carries the credential `watch` holds, in any encoding.
fn carrying(fake: &FakeUpstream, watch: &Watch) -> Vec<String> {
    fake.requests()
        .iter()
        .filter_map(|r| {
            let text = serde_json::to_string(r).unwrap_or_default();
            let leaks = watch.leaks(&text);
            (!leaks.is_empty()).then(|| format!("{} {}: {leaks:?}", r.method, r.path))
        })
        .collect()
}

/// A server on `127.0.0.1` answering every request with `status` and `Location: location`.
async fn redirector(status: u16, location: String) -> (String, tokio::sync::oneshot::Sender<()>) {
    use axum::response::IntoResponse;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let status = axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::FOUND);
    let router = axum::Router::new().fallback(move || {
        let location = location.clone();
        async move { (status, [("location", location)], "moved").into_response() }
    });
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    (format!("http://{addr}/github"), tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssrf_spellings_and_redirects_never_carry_the_credential() {
    // Egress allows 127.0.0.1 only. The evil host is 127.0.0.2: loopback too, so a request
    // that got through would be seen, but another host to the egress rules.
    let Some(e) = start(Backend::Sqlite, |_| {}).await else { return };
    let good = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    let evil = FakeUpstream::start_on("127.0.0.2:0").await.unwrap_or_else(|e| panic!("{e}"));
    // Same host, another port: another origin, so no redirect may reach it.
    let neighbour = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    let (gp, ep) = (good.addr.port(), evil.addr.port());
    let mut watch = Watch::default();
    watch.add(creds::GITHUB_TOKEN);
    let app = e.app_token().await;
    let id = e.github_connector(&app, Some("w"), &good.base_url("github"), creds::GITHUB_TOKEN).await;
    let issues = json!({"entity": "issues", "action": "list", "params": {"owner": "octo", "repo": "hello"}});
    let exec = |id: String, body: Value| {
        let (e, app) = (&e, app.clone());
        async move { e.post(&format!("/api/v1/integrations/connectors/{id}/execute"), &app, body).await }
    };

    let spellings = [
        format!("http://2130706434:{ep}/github"),
        format!("http://0x7f.2:{ep}/github"),
        format!("http://0x7f000002:{ep}/github"),
        format!("http://017700000002:{ep}/github"),
        format!("http://0177.0.0.02:{ep}/github"),
        format!("http://127.2:{ep}/github"),
        format!("http://127.0.0.2.:{ep}/github"),
        format!("http://[::ffff:127.0.0.2]:{ep}/github"),
        format!("http://[::ffff:7f00:2]:{ep}/github"),
        format!("http://[0:0:0:0:0:ffff:127.0.0.2]:{ep}/github"),
        format!("http://[::1]:{gp}/github"),
        format!("http://127.0.0.1@127.0.0.2:{ep}/github"),
        format!("http://127.0.0.1:{gp}@127.0.0.2:{ep}/github"),
        format!("http://127.0.0.2:{ep}\\@127.0.0.1:{gp}/github"),
        format!("http://127.0.0.2:{ep}#@127.0.0.1:{gp}/github"),
        format!("http://127.0.0.2:{ep}?@127.0.0.1:{gp}/github"),
        format!("http://127.0.0.1:{gp}%2f@127.0.0.2:{ep}/github"),
        format!("http://\u{ff11}\u{ff12}\u{ff17}.\u{ff10}.\u{ff10}.\u{ff12}:{ep}/github"),
        format!("http://LOCALHOST:{gp}/github"),
        format!("http://localhost.:{gp}/github"),
        format!("http://LocalHost.:{gp}/github"),
        format!("http://\u{24db}ocalhost:{gp}/github"),
        format!("http://xn--localhost-:{gp}/github"),
        format!("//127.0.0.2:{ep}/github"),
        format!("127.0.0.2:{ep}/github"),
        format!(" http://127.0.0.2:{ep}/github"),
        "file:///etc/passwd".to_string(),
        format!("file://127.0.0.1:{gp}/github"),
        format!("gopher://127.0.0.1:{gp}/_GET%20/github"),
        format!("ftp://127.0.0.1:{gp}/github"),
        format!("ws://127.0.0.1:{gp}/github"),
        "dict://127.0.0.1:11211/stat".to_string(),
    ];
    let refused = |a: &Answer| {
        matches!((a.status, a.body["code"].as_str()), (422, Some("validation")) | (403, Some("forbidden")))
    };
    let mut failures = Vec::new();
    for base_url in &spellings {
        let create = e
            .post(
                "/api/v1/integrations/connectors",
                &app,
                json!({"connector_type": "github", "workspace_name": "w", "credentials": {"personal_access_token": creds::GITHUB_TOKEN},
                       "replication_config": {"repositories": ["octo/hello"]}, "config": {"base_url": base_url}}),
            )
            .await;
        if !refused(&create) {
            failures.push(format!("create with {base_url:?}: {} {}", create.status, create.text));
        }
        let update = call(
            "PATCH",
            &e.url(&format!("/api/v1/integrations/connectors/{id}")),
            Some(&app),
            Some(json!({"config": {"base_url": base_url}})),
            &[],
        )
        .await;
        if !refused(&update) {
            failures.push(format!("update to {base_url:?}: {} {}", update.status, update.text));
        }
        // A stored row with the spelling (past the API's checks): refused before any request.
        let stored = e.github_connector(&app, Some("w"), &good.base_url("github"), creds::GITHUB_TOKEN).await;
        store_config(&e, &stored, json!({"base_url": base_url})).await;
        let run = exec(stored, issues.clone()).await;
        // A URL the runtime cannot use at all is a `configuration` problem of the stored row.
        if !refused(&run) && (run.status, run.body["code"].as_str()) != (422, Some("configuration")) {
            failures.push(format!("execute on a stored {base_url:?}: {} {}", run.status, run.text));
        }
    }
    // Injection through params: the path stays on the connector's host.
    for (owner, repo) in [
        (format!("@127.0.0.2:{ep}"), "hello".to_string()),
        (format!("//127.0.0.2:{ep}/x"), "hello".to_string()),
        ("..".to_string(), format!("..%2f..%2f127.0.0.2:{ep}")),
        ("octo".to_string(), format!("hello/../../../@127.0.0.2:{ep}/")),
        (format!("x\r\nHost: 127.0.0.2:{ep}"), "hello".to_string()),
    ] {
        let a =
            exec(id.clone(), json!({"entity": "issues", "action": "list", "params": {"owner": owner, "repo": repo}}))
                .await;
        assert_ne!(a.status, 500, "{owner:?}/{repo:?}: {}", a.text);
    }
    assert!(failures.is_empty(), "{} spellings got through:\n{}", failures.len(), failures.join("\n"));
    let still = exec(id.clone(), issues.clone()).await;
    assert_eq!(still.status, 200, "the connector still works, on the allowed host: {}", still.text);

    // An allowed upstream redirecting elsewhere: another host, another scheme, another port.
    let mut redirects = 0;
    for status in [301, 302, 303, 307, 308] {
        for target in [
            format!("http://127.0.0.2:{ep}/github/repos/octo/hello/issues"),
            format!("http://localhost:{ep}/github/repos/octo/hello/issues"),
            format!("http://2130706434:{ep}/github/repos/octo/hello/issues"),
            format!("http://127.0.0.1:{}/github/repos/octo/hello/issues", neighbour.addr.port()),
            format!("https://127.0.0.1:{gp}/github/repos/octo/hello/issues"),
            format!("//127.0.0.2:{ep}/github/repos/octo/hello/issues"),
            "file:///etc/passwd".to_string(),
            format!("gopher://127.0.0.2:{ep}/_x"),
        ] {
            let (base, _stop) = redirector(status, target.clone()).await;
            let rid = e.github_connector(&app, Some("w"), &base, creds::GITHUB_TOKEN).await;
            let a = exec(rid, issues.clone()).await;
            assert_ne!(a.status, 200, "{status} to {target}: a redirect off the host was followed: {}", a.text);
            assert!(watch.leaks(&a.text).is_empty(), "{status} to {target}: {}", a.text);
            redirects += 1;
        }
    }
    assert!(evil.requests().is_empty(), "a request reached the evil host: {:?}", evil.requests());
    let to_neighbour = carrying(&neighbour, &watch);
    assert!(to_neighbour.is_empty(), "the credential followed a redirect to another port: {to_neighbour:?}");
    assert!(neighbour.requests().is_empty(), "a redirect to another port was followed: {:?}", neighbour.requests());
    eprintln!(
        "ssrf: {} base_url spellings refused on create, update and from storage; 5 param injections; \
         {redirects} redirects, none followed off the origin",
        spellings.len(),
    );
}

// ---- secrets after a full scenario

/// Every answer of the scenario, as text: status, headers, body.
#[derive(Default)]
struct Transcript(String);

impl Transcript {
    fn keep(&mut self, what: &str, a: &Answer) -> Value {
        self.0.push_str(&format!("== {what}: {}\n", a.status));
        for (k, v) in &a.headers {
            self.0.push_str(&format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())));
        }
        self.0.push_str(&a.text);
        self.0.push('\n');
        a.body.clone()
    }
}

async fn full_scenario_scan(backend: Backend) {
    let Some(url) = database(backend).await else { return };
    let url = url.as_deref();
    let dir = TempDir::new();
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    let key = Key::generate().to_base64();
    // Every auth option of every connector, several calls each: well above a tenant's default
    // rate, which this test is not about.
    let env = [
        ("SWITCHBOARD_MASTER_KEY", key.as_str()),
        ("SWITCHBOARD_RATE_LIMIT", "100000"),
        ("SWITCHBOARD_RATE_BURST", "100000"),
    ];
    let mut serve = tokio::task::block_in_place(|| Serve::start(&dir.0, url, &env));
    let (cid, client_secret) = serve.first_creds();
    let mut watch = Watch::default();
    watch.add(&client_secret);
    watch.add(&key);
    let mut t = Transcript::default();
    let app = serve.app_token(&cid, &client_secret).await;
    let scoped = call(
        "POST",
        &serve.url("/api/v1/embedded/scoped-token"),
        Some(&app),
        Some(json!({"workspace_name": "scan"})),
        &[],
    )
    .await;
    let scoped = t.keep("scoped token", &scoped)["token"].as_str().unwrap_or_default().to_string();
    let registry = switchboard_core::Registry::builtin().unwrap_or_else(|e| panic!("{e}"));
    let connectors_url = serve.url("/api/v1/integrations/connectors");
    let (mut schemes, mut ids) = (0, Vec::new());
    for spec in registry.all() {
        // The health check's operation, or (when every operation needs params) the first one
        // with sample params.
        let op = spec.check_operation().unwrap_or(&spec.operations[0]);
        let params = fake_upstream::sample::required_params(op);
        for scheme in &spec.auth_schemes {
            schemes += 1;
            let name = format!("{}/{}", spec.slug, scheme.name);
            let mut body = json!({
                "connector_type": spec.slug, "name": format!("scan-{schemes}"),
                "credentials": random_credentials(scheme, &[], &mut watch), "config": fake.connector_config(spec, scheme),
            });
            if let Some(schema) = &spec.replication_config {
                body["replication_config"] = fake_upstream::sample::sample(schema, "replication_config", 0);
            }
            let created = call("POST", &connectors_url, Some(&scoped), Some(body), &[]).await;
            assert_eq!(created.status, 201, "{name}: {}", created.text);
            let id = t.keep(&format!("create {name}"), &created)["id"].as_str().unwrap_or_default().to_string();
            let one = format!("{connectors_url}/{id}");
            let run = json!({"entity": op.entity, "action": op.action, "params": params.clone()});
            t.keep(
                &format!("execute {name}"),
                &call("POST", &format!("{one}/execute"), Some(&scoped), Some(run.clone()), &[]).await,
            );
            t.keep(
                &format!("check {name}"),
                &call("POST", &format!("{one}/check"), Some(&scoped), Some(json!({})), &[]).await,
            );
            let update = json!({"credentials": random_credentials(scheme, &[], &mut watch)});
            let updated = call("PATCH", &one, Some(&app), Some(update), &[]).await;
            assert_eq!(updated.status, 200, "{name}: {}", updated.text);
            t.keep(&format!("update {name}"), &updated);
            t.keep(
                &format!("execute {name} again"),
                &call("POST", &format!("{one}/execute"), Some(&scoped), Some(run), &[]).await,
            );
            t.keep(&format!("get {name}"), &call("GET", &one, Some(&scoped), None, &[]).await);
            ids.push(id);
        }
    }
    // An OAuth refresh that succeeds, then a rotation stored; the minted tokens are secrets too.
    let oauth = call(
        "POST",
        &connectors_url,
        Some(&app),
        Some(hubspot_oauth_body(&fake, creds::OAUTH_INITIAL_REFRESH_TOKEN)),
        &[],
    )
    .await;
    assert_eq!(oauth.status, 201, "{}", oauth.text);
    let oid = t.keep("create hubspot oauth", &oauth)["id"].as_str().unwrap_or_default().to_string();
    let run = call(
        "POST",
        &format!("{connectors_url}/{oid}/execute"),
        Some(&app),
        Some(json!({"entity": "contacts", "action": "list", "params": {"limit": 1}})),
        &[],
    )
    .await;
    assert_eq!(run.status, 200, "{}", run.text);
    t.keep("execute hubspot oauth", &run);
    let (access, refresh) = fake.state.with_oauth("hubspot", |o| (o.access_tokens.clone(), o.refresh_token.clone()));
    assert!(!access.is_empty() && refresh != creds::OAUTH_INITIAL_REFRESH_TOKEN, "the refresh rotated");
    access.iter().for_each(|a| watch.add(a));
    watch.add(&refresh);
    ids.push(oid);
    for id in &ids {
        let del = call("DELETE", &format!("{connectors_url}/{id}"), Some(&app), None, &[]).await;
        assert_eq!(del.status, 204, "{}", del.text);
        t.keep("delete", &del);
    }
    // SIGKILL: the WAL and shared-memory files stay as a crash leaves them.
    tokio::task::block_in_place(|| serve.kill());
    // The one line that prints the first application's secret, on purpose, once.
    let logs: String =
        serve.output().lines().filter(|l| !l.contains("\"first_application\"")).map(|l| format!("{l}\n")).collect();
    assert!(logs.contains("\"request_id\"") && logs.contains("DEBUG"), "debug logs were captured");
    let mut stores: Vec<(String, String)> = vec![("engine logs".into(), logs), ("answers".into(), t.0)];
    match url {
        Some(u) => {
            let pg_dump = std::env::var("SWITCHBOARD_TEST_PG_DUMP").unwrap_or_else(|_| "pg_dump".into());
            let out = Command::new(pg_dump).arg(u).output().unwrap_or_else(|e| panic!("pg_dump: {e}"));
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            stores.push(("pg_dump".into(), String::from_utf8_lossy(&out.stdout).into_owned()));
        }
        None => {
            for f in std::fs::read_dir(&dir.0).into_iter().flatten().flatten() {
                let name = f.file_name().to_string_lossy().into_owned();
                // The engines' lock on the store: a file that holds nothing.
                if name.ends_with(".lock") {
                    assert_eq!(f.metadata().map(|m| m.len()).ok(), Some(0), "{name} holds nothing");
                    continue;
                }
                stores.push((name, String::from_utf8_lossy(&std::fs::read(f.path()).unwrap_or_default()).into_owned()));
            }
            let names: Vec<_> = stores.iter().map(|s| s.0.as_str()).collect();
            assert!(names.contains(&"switchboard.db") && names.contains(&"switchboard.db-wal"), "{names:?}");
        }
    }
    let mut failures = Vec::new();
    for (what, text) in &stores {
        assert!(text.len() > 1000, "{what} has content");
        failures.extend(watch.leaks(text).into_iter().map(|l| format!("{what}: {l}")));
    }
    assert!(failures.is_empty(), "{} leaks:\n{}", failures.len(), failures.join("\n"));
    eprintln!(
        "secrets scan ({backend:?}): {schemes} auth schemes of {} connector types, {} watched values × {} encodings \
         (+ random cores) in {:?}",
        registry.all().count(),
        watch.values.len(),
        fake_upstream::leaks::ENCODINGS.len(),
        stores.iter().map(|s| format!("{} ({} bytes)", s.0, s.1.len())).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_anywhere_after_a_full_scenario_sqlite() {
    full_scenario_scan(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_anywhere_after_a_full_scenario_postgres() {
    full_scenario_scan(Backend::Postgres).await;
}
