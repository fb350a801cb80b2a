//! Runtime behaviour against the fake upstreams over real sockets: retries and `Retry-After`,
//! idempotency, OAuth single-flight refresh and rotation, and secrets kept out of errors and
//! logs.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fake_upstream::{creds, FakeUpstream, Fault};
use futures::future::BoxFuture;
use serde_json::{json, Value};
use switchboard_core::{Connector, ConnectorOptions, ErrorCode, ExecuteOptions, Registry, TokenSink, TokenUpdate};

async fn fake() -> FakeUpstream {
    FakeUpstream::start().await.unwrap_or_else(|e| panic!("fake upstream: {e}"))
}

fn connector(slug: &str, fake: &FakeUpstream, credentials: Value, options: ConnectorOptions) -> Connector {
    let spec = Registry::builtin().and_then(|r| r.get(slug)).unwrap_or_else(|e| panic!("{e}"));
    Connector::new(spec, credentials, json!({"base_url": fake.base_url(slug)}), options)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn stripe(fake: &FakeUpstream) -> Connector {
    connector("stripe", fake, json!({"api_key": creds::STRIPE_KEY}), ConnectorOptions::default())
}

fn fault(prefix: &str, status: u16, retry_after: Option<&str>, count: i64) -> Fault {
    serde_json::from_value(json!({"prefix": prefix, "status": status, "retry_after": retry_after, "count": count}))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn a_429_with_retry_after_waits_then_succeeds() {
    let fake = fake().await;
    fake.add_fault(fault("stripe", 429, Some("1"), 1));
    let started = Instant::now();
    let res = stripe(&fake).execute("customers", "list", json!({"limit": 3}), &ExecuteOptions::default()).await;
    let waited = started.elapsed();
    assert!(res.is_ok(), "{res:?}");
    assert_eq!(fake.requests_for("stripe").len(), 2);
    assert!(waited >= Duration::from_millis(950), "Retry-After: 1 must be honoured, waited {waited:?}");
}

#[tokio::test]
async fn two_503s_then_success() {
    let fake = fake().await;
    fake.add_fault(fault("stripe", 503, None, 2));
    let res = stripe(&fake).execute("customers", "list", json!({}), &ExecuteOptions::default()).await;
    assert!(res.is_ok(), "{res:?}");
    assert_eq!(fake.requests_for("stripe").len(), 3);
}

#[tokio::test]
async fn endless_429_surfaces_rate_limited_within_the_budget() {
    let fake = fake().await;
    fake.add_fault(fault("stripe", 429, Some("1"), -1));
    let started = Instant::now();
    let err = stripe(&fake).execute("customers", "list", json!({}), &ExecuteOptions::default()).await.err();
    let err = err.unwrap_or_else(|| panic!("must fail"));
    assert_eq!(err.code, ErrorCode::RateLimited, "{err}");
    assert_eq!(err.retry_after, Some(1.0));
    assert_eq!(err.status_code, Some(429));
    let attempts = fake.requests_for("stripe").len();
    assert_eq!(attempts, 4, "the default policy makes 4 attempts");
    assert!(started.elapsed() < Duration::from_secs(30), "within the retry budget");
}

#[tokio::test]
async fn a_post_not_marked_idempotent_is_not_retried() {
    let fake = fake().await;
    fake.add_fault(fault("github", 503, None, 1));
    let gh =
        connector("github", &fake, json!({"personal_access_token": creds::GITHUB_TOKEN}), ConnectorOptions::default());
    let err = gh
        .execute(
            "issues",
            "create",
            json!({"owner": "octo", "repo": "hello", "title": "t"}),
            &ExecuteOptions::default(),
        )
        .await
        .err()
        .unwrap_or_else(|| panic!("must fail"));
    assert_eq!(err.code, ErrorCode::UpstreamHttp);
    assert_eq!(err.details.as_ref().and_then(|d| d.get("upstream_status")), Some(&json!(503)));
    assert_eq!(fake.requests_for("github").len(), 1);
}

#[tokio::test]
async fn a_post_with_an_idempotency_key_is_retried_with_the_same_key() {
    let fake = fake().await;
    fake.add_fault(fault("stripe", 503, None, 1));
    let res = stripe(&fake)
        .execute("customers", "create", json!({"email": "a@example.com"}), &ExecuteOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.data["email"], "a@example.com");
    let sent = fake.requests_for("stripe");
    assert_eq!(sent.len(), 2, "one failed attempt, one retry");
    let keys: Vec<Option<&String>> = sent.iter().map(|r| r.headers.get("idempotency-key")).collect();
    assert!(keys[0].is_some_and(|k| k.len() == 36), "{keys:?}");
    assert_eq!(keys[0], keys[1], "the retry carries the same key");
    // Another call gets another key, so it is a new write.
    stripe(&fake)
        .execute("customers", "create", json!({"email": "b@example.com"}), &ExecuteOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let last = fake.requests_for("stripe").last().and_then(|r| r.headers.get("idempotency-key").cloned());
    assert_ne!(last.as_ref(), keys[0]);
}

#[tokio::test]
async fn invalid_params_send_nothing() {
    let fake = fake().await;
    let c = stripe(&fake);
    for (entity, action, params) in [
        ("nope", "list", json!({})),
        ("customers", "frobnicate", json!({})),
        ("customers", "get", json!({})),
        ("customers", "list", json!({"limit": "many"})),
        ("customers", "list", json!({"limit": 1000})),
    ] {
        let err = c.execute(entity, action, params, &ExecuteOptions::default()).await.err();
        assert_eq!(err.map(|e| e.code), Some(ErrorCode::Validation));
    }
    assert!(fake.requests().is_empty());
}

/// Collects refreshed tokens, as an app's `on_token_refresh` would.
#[derive(Default)]
struct Collect(Mutex<Vec<TokenUpdate>>);

impl TokenSink for Collect {
    fn token_refreshed(&self, update: TokenUpdate) -> BoxFuture<'_, switchboard_core::Result<()>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(update);
        Box::pin(async { Ok(()) })
    }
}

fn hubspot_oauth(
    fake: &FakeUpstream,
    access_token: Option<&str>,
    refresh_token: &str,
    sink: Arc<Collect>,
) -> Connector {
    let mut c = json!({
        "client_id": creds::OAUTH_CLIENT_ID,
        "client_secret": creds::OAUTH_CLIENT_SECRET,
        "refresh_token": refresh_token,
    });
    if let Some(a) = access_token {
        c["access_token"] = json!(a);
    }
    connector("hubspot", fake, c, ConnectorOptions { token_sink: Some(sink), ..Default::default() })
}

async fn oauth_state(fake: &FakeUpstream, api: &str) -> (u64, String) {
    let v = fake.state.with_oauth(api, |o| (o.refresh_calls, o.refresh_token.clone()));
    (v.0, v.1)
}

#[tokio::test]
async fn fifty_concurrent_calls_on_an_expired_token_refresh_once() {
    let fake = fake().await;
    let sink = Arc::new(Collect::default());
    let c =
        hubspot_oauth(&fake, Some(creds::OAUTH_EXPIRED_ACCESS_TOKEN), creds::OAUTH_INITIAL_REFRESH_TOKEN, sink.clone());
    let calls = (0..50).map(|_| {
        let c = c.clone();
        tokio::spawn(
            async move { c.execute("contacts", "list", json!({"limit": 1}), &ExecuteOptions::default()).await },
        )
    });
    let results = futures::future::join_all(calls).await;
    for r in results {
        let r = r.unwrap_or_else(|e| panic!("{e}"));
        assert!(r.is_ok(), "{r:?}");
    }
    let (refreshes, current) = oauth_state(&fake, "hubspot").await;
    assert_eq!(refreshes, 1, "one refresh for 50 calls");
    let updates = sink.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(updates.len(), 1);
    assert_eq!(
        updates[0].refresh_token.as_deref(),
        Some(current.as_str()),
        "the rotated refresh token reaches the callback"
    );
    assert_ne!(current, creds::OAUTH_INITIAL_REFRESH_TOKEN);
    assert!(updates[0].expires_at.is_some());
}

/// A token endpoint's `expires_in` and a caller's `expires_at` that no clock reaches
/// (`i64::MAX` seconds, `i64::MIN`) neither panic nor lose the rotated refresh token: the
/// lifetime is taken as ten years, and the stored expiry as past (refreshed first).
#[tokio::test]
async fn absurd_token_lifetimes_are_bounded() {
    let fake = fake().await;
    fake.state.with_oauth("hubspot", |o| o.expires_in = i64::MAX as u64);
    let sink = Arc::new(Collect::default());
    let c = hubspot_oauth(&fake, None, creds::OAUTH_INITIAL_REFRESH_TOKEN, sink.clone());
    for _ in 0..2 {
        let res = c.execute("contacts", "list", json!({"limit": 1}), &ExecuteOptions::default()).await;
        assert!(res.is_ok(), "{res:?}");
    }
    let (refreshes, current) = oauth_state(&fake, "hubspot").await;
    assert_eq!(refreshes, 1, "the token is good for ten years: one refresh for two calls");
    let updates = sink.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].refresh_token.as_deref(), Some(current.as_str()), "the rotated refresh token is kept");
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let ten_years = 10 * 365 * 24 * 3600;
    assert!(updates[0].expires_at.is_some_and(|at| (at - now - ten_years).abs() < 60), "{:?}", updates[0].expires_at);
    assert_eq!(switchboard_core::auth::expiry(Some(&json!("-5")), now), None);
    assert_eq!(switchboard_core::auth::expiry(Some(&json!(u64::MAX)), now), Some(now + ten_years));
    assert_eq!(switchboard_core::auth::expiry(Some(&json!(" 3600 ")), 10), Some(3610));

    // A current access token stored with an expiry of i64::MIN is expired: refreshed first.
    let token = fake.state.with_oauth("hubspot", |o| o.access_tokens.iter().next().cloned()).unwrap_or_default();
    let stored = json!({
        "client_id": creds::OAUTH_CLIENT_ID,
        "client_secret": creds::OAUTH_CLIENT_SECRET,
        "refresh_token": current,
        "access_token": token,
        "expires_at": i64::MIN,
    });
    let c =
        connector("hubspot", &fake, stored, ConnectorOptions { token_sink: Some(sink.clone()), ..Default::default() });
    let res = c.execute("contacts", "list", json!({"limit": 1}), &ExecuteOptions::default()).await;
    assert!(res.is_ok(), "{res:?}");
    assert_eq!(oauth_state(&fake, "hubspot").await.0, 2, "refreshed before the call");
}

/// A sink that cannot store the first refresh's answer (storage out of reach).
#[derive(Default)]
struct FailsOnce(Mutex<u32>);

impl TokenSink for FailsOnce {
    fn token_refreshed(&self, _update: TokenUpdate) -> BoxFuture<'_, switchboard_core::Result<()>> {
        let mut calls = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *calls += 1;
        let first = *calls == 1;
        Box::pin(async move {
            if first {
                Err(switchboard_core::Error::new(ErrorCode::Unavailable, "credential store: out of reach"))
            } else {
                Ok(())
            }
        })
    }
}

/// Tokens a provider granted but the sink could not store are the only live ones (the old
/// refresh token may be spent): the call fails with the sink's error, and the handle keeps the
/// new tokens, so its next call works without another refresh.
#[tokio::test]
async fn granted_tokens_the_sink_could_not_store_are_kept() {
    let fake = fake().await;
    let creds = json!({
        "client_id": creds::OAUTH_CLIENT_ID,
        "client_secret": creds::OAUTH_CLIENT_SECRET,
        "refresh_token": creds::OAUTH_INITIAL_REFRESH_TOKEN,
    });
    let sink: Arc<dyn TokenSink> = Arc::new(FailsOnce::default());
    let c = connector("hubspot", &fake, creds, ConnectorOptions { token_sink: Some(sink), ..Default::default() });
    let first = c.execute("contacts", "list", json!({"limit": 1}), &ExecuteOptions::default()).await;
    assert_eq!(first.err().map(|e| e.code), Some(ErrorCode::Unavailable));
    assert_eq!(oauth_state(&fake, "hubspot").await.0, 1);
    let second = c.execute("contacts", "list", json!({"limit": 1}), &ExecuteOptions::default()).await;
    assert!(second.is_ok(), "{second:?}");
    assert_eq!(oauth_state(&fake, "hubspot").await.0, 1, "the kept access token was used, no second refresh");
}

/// A sink counting how its refreshes end; with `hang`, its store never answers.
#[derive(Default)]
struct Ends {
    hang: bool,
    ended: std::sync::atomic::AtomicUsize,
    abandoned: std::sync::atomic::AtomicUsize,
}

impl TokenSink for Ends {
    fn token_refreshed(&self, _update: TokenUpdate) -> BoxFuture<'_, switchboard_core::Result<()>> {
        if self.hang {
            Box::pin(futures::future::pending())
        } else {
            Box::pin(async { Ok(()) })
        }
    }

    fn end_refresh(&self) -> BoxFuture<'_, ()> {
        self.ended.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async {})
    }

    fn abandon_refresh(&self) {
        self.abandoned.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A call dropped mid-refresh (its caller went away) tells the sink, which may hold a lock
/// until `end_refresh`; a refresh that ends does not.
#[tokio::test]
async fn a_refresh_dropped_midway_is_abandoned_at_the_sink() {
    use std::sync::atomic::Ordering::SeqCst;
    let fake = fake().await;
    let opts = ExecuteOptions::default();
    for hang in [true, false] {
        let (_, refresh_token) = oauth_state(&fake, "hubspot").await;
        let creds = json!({
            "client_id": creds::OAUTH_CLIENT_ID,
            "client_secret": creds::OAUTH_CLIENT_SECRET,
            "refresh_token": refresh_token,
        });
        let sink = Arc::new(Ends { hang, ..Default::default() });
        let options = ConnectorOptions { token_sink: Some(sink.clone()), ..Default::default() };
        let c = connector("hubspot", &fake, creds, options);
        let call = c.execute("contacts", "list", json!({"limit": 1}), &opts);
        let answered = tokio::time::timeout(std::time::Duration::from_secs(if hang { 1 } else { 10 }), call).await;
        assert_eq!(answered.is_ok(), !hang, "hang {hang}");
        let ends = (sink.abandoned.load(SeqCst), sink.ended.load(SeqCst));
        assert_eq!(ends, if hang { (1, 0) } else { (0, 1) }, "hang {hang}");
    }
}

#[tokio::test]
async fn a_missing_access_token_is_fetched_before_the_first_call() {
    let fake = fake().await;
    let sink = Arc::new(Collect::default());
    let c = hubspot_oauth(&fake, None, creds::OAUTH_INITIAL_REFRESH_TOKEN, sink.clone());
    let res = c.execute("contacts", "list", json!({}), &ExecuteOptions::default()).await;
    assert!(res.is_ok(), "{res:?}");
    let reqs = fake.requests_for("hubspot");
    assert_eq!(reqs.len(), 2, "token call, then the API call");
    assert_eq!(reqs[0].path, "/hubspot/oauth/v1/token");
    assert_eq!(oauth_state(&fake, "hubspot").await.0, 1);
}

#[tokio::test]
async fn a_refresh_answer_without_refresh_token_keeps_the_old_one() {
    let fake = fake().await;
    fake.state.with_oauth("hubspot", |o| {
        o.rotate = false;
        o.include_refresh_token = false;
    });
    let sink = Arc::new(Collect::default());
    let c = hubspot_oauth(&fake, None, creds::OAUTH_INITIAL_REFRESH_TOKEN, sink.clone());
    c.execute("contacts", "list", json!({}), &ExecuteOptions::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let updates = sink.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].refresh_token.as_deref(), Some(creds::OAUTH_INITIAL_REFRESH_TOKEN));
}

#[tokio::test]
async fn a_used_refresh_token_is_an_upstream_authentication_error() {
    let fake = fake().await;
    let first = hubspot_oauth(&fake, None, creds::OAUTH_INITIAL_REFRESH_TOKEN, Arc::new(Collect::default()));
    first.execute("contacts", "list", json!({}), &ExecuteOptions::default()).await.unwrap_or_else(|e| panic!("{e}"));
    // The fake rotated the refresh token: the initial one is now used.
    let stale = hubspot_oauth(&fake, None, creds::OAUTH_INITIAL_REFRESH_TOKEN, Arc::new(Collect::default()));
    let err = stale
        .execute("contacts", "list", json!({}), &ExecuteOptions::default())
        .await
        .err()
        .unwrap_or_else(|| panic!("must fail"));
    assert_eq!(err.code, ErrorCode::UpstreamAuthentication, "{err}");
    assert!(!err.message.contains(creds::OAUTH_INITIAL_REFRESH_TOKEN), "{}", err.message);
    assert!(!err.message.contains(creds::OAUTH_CLIENT_SECRET), "{}", err.message);
}

/// A log sink for tracing that keeps every line.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn secrets_never_reach_errors_or_logs() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber =
        tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(move || writer.clone()).finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let fake = fake().await;
    let secret = "sk_test_fake_known_secret_4242";
    // A bad key: the fake rejects it, and one answer even echoes it back.
    let c = connector("stripe", &fake, json!({"api_key": secret}), ConnectorOptions::default());
    let e1 = c
        .execute("customers", "list", json!({}), &ExecuteOptions::default())
        .await
        .err()
        .unwrap_or_else(|| panic!("must fail"));
    assert_eq!(e1.code, ErrorCode::UpstreamAuthentication);
    fake.add_fault(
        serde_json::from_value(
            json!({"prefix": "stripe", "status": 400, "body": {"error": {"message": format!("bad key {secret}")}}}),
        )
        .unwrap_or_else(|e| panic!("{e}")),
    );
    let good = connector("stripe", &fake, json!({"api_key": secret}), ConnectorOptions::default());
    let e2 = good
        .execute("customers", "list", json!({}), &ExecuteOptions::default())
        .await
        .err()
        .unwrap_or_else(|| panic!("must fail"));
    assert!(e2.message.contains("****"), "{}", e2.message);
    let e3 = Connector::new(
        Registry::builtin().and_then(|r| r.get("stripe")).unwrap_or_else(|e| panic!("{e}")),
        json!({"wrong_field": secret}),
        json!({}),
        ConnectorOptions::default(),
    )
    .err()
    .unwrap_or_else(|| panic!("must fail"));
    assert_eq!(e3.code, ErrorCode::Configuration);

    let captured = String::from_utf8(logs.0.lock().unwrap_or_else(|e| e.into_inner()).clone()).unwrap_or_default();
    assert!(!captured.is_empty(), "the runtime logs at trace level");
    for text in [format!("{e1:?} {e1}"), format!("{e2:?} {e2}"), format!("{e3:?} {e3}"), format!("{c:?}"), captured] {
        assert!(!text.contains(secret), "secret leaked into: {text}");
    }
}

#[tokio::test]
async fn the_stripe_fake_replays_a_repeated_idempotency_key() {
    let fake = fake().await;
    let post = |key: &'static str| {
        let url = format!("{}/v1/customers", fake.base_url("stripe"));
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .bearer_auth(creds::STRIPE_KEY)
                .header("idempotency-key", key)
                .form(&[("email", "same@example.com")])
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let replayed = r.headers().contains_key("idempotent-replayed");
            let v: Value = serde_json::from_slice(&r.bytes().await.unwrap_or_default()).unwrap_or_default();
            (v["id"].as_str().unwrap_or_default().to_string(), replayed)
        }
    };
    let (first, r1) = post("k-1").await;
    let (again, r2) = post("k-1").await;
    let (other, _) = post("k-2").await;
    assert!(!first.is_empty() && !r1);
    assert_eq!((again.as_str(), r2), (first.as_str(), true), "the same key replays the same customer");
    assert_ne!(other, first, "another key creates another customer");
}

/// How many records `stripe customers list` gives when the fake answers a page of `customers`
/// (the execute that parses, or the one that keeps records as text), run on a fresh
/// single-threaded runtime; and how many threads that runtime started meanwhile. Such a
/// runtime starts no thread but those of its blocking pool.
fn customers_and_threads_started(customers: usize, as_text: bool) -> (usize, usize) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let started = Arc::new(AtomicUsize::new(0));
    let counter = started.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_start(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let records = rt.block_on(async {
        let fake = fake().await;
        let data: Vec<Value> = (0..customers)
            .map(|i| {
                json!({"id": format!("cus_{i:06}"), "object": "customer", "email": format!("c{i}@example.com"),
                       "name": format!("Customer {i}"), "description": "a customer of the long page test", "created": 1_700_000_000 + i})
            })
            .collect();
        let mut page = fault("stripe", 200, None, 1);
        page.body = Some(json!({"object": "list", "url": "/v1/customers", "has_more": false, "data": data}));
        fake.add_fault(page);
        let c = stripe(&fake);
        let options = ExecuteOptions { skip_truncation: true, ..ExecuteOptions::default() };
        if as_text {
            let run = c.execute_json("customers", "list", json!({}), &options).await.unwrap_or_else(|e| panic!("{e}"));
            match run.data {
                switchboard_core::JsonData::Records(records) => records.len(),
                other => panic!("the records were not kept as text: {:?}", other.text_len()),
            }
        } else {
            let run = c.execute("customers", "list", json!({}), &options).await.unwrap_or_else(|e| panic!("{e}"));
            run.data.as_array().map_or(0, Vec::len)
        }
    });
    (records, started.load(Ordering::SeqCst))
}

/// A long answer (here about 550 KB) is read on one of the runtime's blocking threads, so the
/// thread running the call is free for its other tasks meanwhile (each of the engine's serving
/// threads runs one such runtime for all its connections); a short one is read in place.
#[test]
fn a_long_answer_is_read_off_the_thread_that_runs_the_call() {
    for as_text in [false, true] {
        assert_eq!(customers_and_threads_started(3, as_text), (3, 0), "a short page, as text: {as_text}");
        let (records, threads) = customers_and_threads_started(3_000, as_text);
        assert_eq!(records, 3_000);
        assert!(threads >= 1, "a long page was read on the calling thread (as text: {as_text})");
    }
}
