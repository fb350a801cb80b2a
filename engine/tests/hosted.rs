//! The hosted client in core against an engine in process: token caching and single fetch,
//! renewal after expiry, one retry after a 401, workspace management and connector lookup.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{start, Backend};
use fake_upstream::{creds, FakeUpstream};
use futures::future::BoxFuture;
use futures::StreamExt;
use serde_json::json;
use switchboard_core::http::{HttpClient, HttpRequest, HttpResponse, NetClient, TransportError};
use switchboard_core::{
    connect, ConnectorLookup, ErrorCode, ExecuteOptions, HostedClient, HostedConfig, HostedExecutor, NewConnector,
    Workspace,
};

/// Passes requests through, counting them; can spoil the next authenticated request's token.
#[derive(Debug)]
struct Spy {
    inner: Arc<dyn HttpClient>,
    spoil_next: AtomicBool,
    unauthorized: AtomicU64,
}

impl HttpClient for Spy {
    fn send(&self, mut req: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            let authed = req.headers.iter().any(|(k, _)| k == "authorization");
            if authed && self.spoil_next.swap(false, Ordering::SeqCst) {
                for h in req.headers.iter_mut().filter(|(k, _)| k == "authorization") {
                    h.1 = "Bearer spoiled.token.value".into();
                }
            }
            let r = self.inner.send(req).await;
            if r.as_ref().is_ok_and(|r| r.status == 401) {
                self.unauthorized.fetch_add(1, Ordering::SeqCst);
            }
            r
        })
    }
}

fn client(e: &common::Engine, spy: Option<Arc<Spy>>) -> HostedClient {
    HostedClient::new(HostedConfig {
        base_url: Some(e.base.clone()),
        client_id: Some(e.app.client_id.clone()),
        client_secret: Some(e.app.client_secret.clone()),
        http: spy.map(|s| s as Arc<dyn HttpClient>),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

fn github(fake: &FakeUpstream) -> NewConnector {
    NewConnector {
        connector_type: "github".into(),
        name: Some("gh".into()),
        credentials: json!({"personal_access_token": creds::GITHUB_TOKEN}),
        replication_config: Some(json!({"repositories": ["octo/hello"]})),
        config: Some(json!({"base_url": fake.base_url("github")})),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_for_a_hundred_concurrent_calls_and_a_new_one_after_expiry() {
    let Some(e) = start(Backend::Sqlite, |s| s.application_token_ttl = 2).await else { return };
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    let c = client(&e, None);
    let ws = Workspace::new(c.clone(), "acme").unwrap_or_else(|e| panic!("{e}"));
    let info = ws.create_connector(github(&fake)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.token_fetches(), 1);
    let ex = HostedExecutor::by_id(c.clone(), info.id.clone());
    let calls = (0..100).map(|_| {
        let ex = ex.clone();
        tokio::spawn(async move {
            ex.execute(
                "issues",
                "list",
                json!({"owner": "octo", "repo": "hello", "per_page": 1}),
                &ExecuteOptions::default(),
            )
            .await
        })
    });
    for r in futures::future::join_all(calls).await {
        let r = r.unwrap_or_else(|e| panic!("{e}"));
        assert!(r.is_ok(), "{r:?}");
    }
    assert_eq!(c.token_fetches(), 1, "one token for 100 concurrent calls");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    ex.execute("issues", "list", json!({"owner": "octo", "repo": "hello"}), &ExecuteOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.token_fetches(), 2, "a new token after the old one expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_is_retried_once_with_a_fresh_token() {
    let Some(e) = start(Backend::Sqlite, |_| {}).await else { return };
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    let spy = Arc::new(Spy {
        inner: NetClient::shared(),
        spoil_next: AtomicBool::new(false),
        unauthorized: AtomicU64::new(0),
    });
    let c = client(&e, Some(spy.clone()));
    let ws = Workspace::new(c.clone(), "acme").unwrap_or_else(|e| panic!("{e}"));
    let info = ws.create_connector(github(&fake)).await.unwrap_or_else(|e| panic!("{e}"));
    spy.spoil_next.store(true, Ordering::SeqCst);
    let ex = ws.get_connector(&ConnectorLookup::Id(info.id.clone())).await;
    // The lookup itself was the spoiled call: one 401, then success with a new token.
    let ex = ex.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spy.unauthorized.load(Ordering::SeqCst), 1);
    assert_eq!(c.token_fetches(), 2);
    let r = ex.execute("issues", "list", json!({"owner": "octo", "repo": "hello"}), &ExecuteOptions::default()).await;
    assert!(r.is_ok(), "{r:?}");
    // Bad client credentials: one token attempt, a typed error, no secret in it.
    let bad = HostedClient::new(HostedConfig {
        base_url: Some(e.base.clone()),
        client_id: Some(e.app.client_id.clone()),
        client_secret: Some("wrong-secret-value".into()),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let err = Workspace::new(bad, "acme")
        .unwrap_or_else(|e| panic!("{e}"))
        .list_connectors()
        .await
        .err()
        .unwrap_or_else(|| panic!("must fail"));
    assert_eq!(err.code, ErrorCode::Authentication);
    assert_eq!(err.status_code, Some(401));
    assert!(err.request_id.is_some());
    assert!(!format!("{err:?}").contains("wrong-secret-value"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_lookup_connect_paginate_and_delete() {
    let Some(e) = start(Backend::Sqlite, |_| {}).await else { return };
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    let c = client(&e, None);
    let ws = Workspace::new(c.clone(), "acme").unwrap_or_else(|e| panic!("{e}"));
    let err = connect(c.clone(), "github", "acme", None).await.err().map(|e| e.code);
    assert_eq!(err, Some(ErrorCode::NotFound));
    let first = ws.create_connector(github(&fake)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((first.connector_type.as_str(), first.slug.as_str()), ("GitHub", "github"));
    let ex = connect(c.clone(), "github", "acme", None).await.unwrap_or_else(|e| panic!("{e}"));
    // The engine's answers say how to get the next page: no local spec is consulted.
    let pages: Vec<_> = ex
        .paginate("issues", "list", json!({"owner": "octo", "repo": "hello", "per_page": 2}), ExecuteOptions::default())
        .collect()
        .await;
    assert_eq!(pages.len(), 3, "5 issues in pages of 2");
    let total: usize =
        pages.iter().map(|p| p.as_ref().map(|r| r.data.as_array().map(Vec::len).unwrap_or(0)).unwrap_or(0)).sum();
    assert_eq!(total, 5);
    let by_def = HostedExecutor::by_definition(c.clone(), Some("acme".into()), "ef69ef6e-aa7f-4af1-a01d-ef775033524e")
        .unwrap_or_else(|e| panic!("{e}"));
    let health = by_def.check().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(health.status, "healthy");

    let second = ws.create_connector(github(&fake)).await.unwrap_or_else(|e| panic!("{e}"));
    let conflict =
        connect(c.clone(), "github", "acme", None).await.err().unwrap_or_else(|| panic!("two github connectors"));
    assert_eq!(conflict.code, ErrorCode::Conflict);
    assert!(conflict.message.contains(&first.id) && conflict.message.contains(&second.id));
    let picked = connect(c.clone(), "github", "acme", Some(&second.id)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(picked.connector().await.map(|i| i.id).ok(), Some(second.id.clone()));
    assert_eq!(ws.list_connectors().await.map(|l| l.len()).ok(), Some(2));
    ws.delete_connector(&second.id).await.unwrap_or_else(|e| panic!("{e}"));
    let gone = HostedExecutor::by_id(c.clone(), second.id.clone())
        .execute("issues", "list", json!({"owner": "octo", "repo": "hello"}), &ExecuteOptions::default())
        .await
        .err()
        .map(|e| e.code);
    assert_eq!(gone, Some(ErrorCode::NotFound));
    let invalid = ex
        .execute("issues", "list", json!({"owner": "octo"}), &ExecuteOptions::default())
        .await
        .err()
        .unwrap_or_else(|| panic!("must fail"));
    assert_eq!(invalid.code, ErrorCode::Validation);
    assert_eq!(invalid.status_code, Some(422));
}

/// Stripe pages by the last record's `id` (`starting_after`): trimming `id` away must not end
/// the pages early, since the engine reads the cursor before trimming.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_pages_follow_a_record_cursor_that_the_caller_trimmed_away() {
    let Some(e) = start(Backend::Sqlite, |_| {}).await else { return };
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    let c = client(&e, None);
    let ws = Workspace::new(c.clone(), "acme").unwrap_or_else(|e| panic!("{e}"));
    let stripe = NewConnector {
        connector_type: "stripe".into(),
        credentials: json!({"api_key": creds::STRIPE_KEY}),
        config: Some(json!({"base_url": fake.base_url("stripe")})),
        ..Default::default()
    };
    let info = ws.create_connector(stripe).await.unwrap_or_else(|e| panic!("{e}"));
    let ex = HostedExecutor::by_id(c, info.id);
    let options = ExecuteOptions { select_fields: vec!["email".into()], ..Default::default() };
    let pages: Vec<_> = ex.paginate("customers", "list", json!({"limit": 2}), options).collect().await;
    let records: Vec<serde_json::Value> = pages
        .iter()
        .flat_map(|p| p.as_ref().unwrap_or_else(|e| panic!("{e}")).data.as_array().cloned().unwrap_or_default())
        .collect();
    assert!(pages.len() >= 2, "more than one page: {}", pages.len());
    assert!(records.iter().all(|r| r.get("id").is_none() && r.get("email").is_some()), "{records:?}");
    // A path with an empty name is refused by the engine before any request, not answered with
    // emptied records.
    let sent = fake.requests().len();
    let options = ExecuteOptions { select_fields: vec!["email".into(), ".".into()], ..Default::default() };
    let e = ex.execute("customers", "list", json!({"limit": 2}), &options).await.err();
    let e = e.unwrap_or_else(|| panic!("an empty field name was taken"));
    assert_eq!(e.code, ErrorCode::Validation, "{e}");
    assert!(e.message.contains("select_fields[1] is \".\""), "{e}");
    assert_eq!(fake.requests().len(), sent, "nothing sent");
}

/// `sdk::Executor::execute_text` in hosted mode gives the engine's answer as text: parsed, the
/// `ResultView` of `execute`, cursor included, with fields selected or not; `paginate_text`
/// gives the pages `paginate` does; an engine error is the same typed error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_execute_text_is_the_result_view_of_execute() {
    use switchboard_core::sdk::{ExecuteRequest, Executor, ResultView};
    let Some(e) = start(Backend::Sqlite, |_| {}).await else { return };
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    let c = client(&e, None);
    let ws = Workspace::new(c.clone(), "acme").unwrap_or_else(|e| panic!("{e}"));
    let info = ws.create_connector(github(&fake)).await.unwrap_or_else(|e| panic!("{e}"));
    let ex = Executor::from(HostedExecutor::by_id(c, info.id));
    let mut list = ExecuteRequest::new("issues", "list", json!({"owner": "octo", "repo": "hello", "per_page": 1}));
    for select in [vec![], vec!["title".to_string()]] {
        list.select_fields = select.clone();
        let tree = ResultView::from(ex.execute(list.clone()).await.unwrap_or_else(|e| panic!("{e}")));
        let text = ex.execute_text(list.clone()).await.unwrap_or_else(|e| panic!("{e}"));
        let whole: serde_json::Value =
            serde_json::from_str(&text.to_json().unwrap_or_else(|e| panic!("{e}"))).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(whole, serde_json::to_value(&tree).unwrap_or_else(|e| panic!("{e}")), "select {select:?}");
        assert_eq!(tree.data.as_array().map(Vec::len), Some(1));
        assert!(text.cursor().is_some(), "a next page: {:?}", text.meta);
    }
    list.select_fields = vec![];
    let trees: Vec<_> = ex.paginate(list.clone()).collect().await;
    let texts: Vec<_> = ex.paginate_text(list.clone()).collect().await;
    assert!(trees.len() > 1 && trees.len() == texts.len(), "{} and {} pages", trees.len(), texts.len());
    for (tree, text) in trees.into_iter().zip(texts) {
        let tree = ResultView::from(tree.unwrap_or_else(|e| panic!("{e}")));
        let text = text.unwrap_or_else(|e| panic!("{e}")).to_json().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).ok(), serde_json::to_value(&tree).ok());
    }
    let bad = ExecuteRequest::new("issues", "list", json!({"owner": "octo"}));
    let (a, b) = (ex.execute(bad.clone()).await.err(), ex.execute_text(bad).await.err());
    assert_eq!(a.as_ref().map(|e| e.code), Some(ErrorCode::Validation), "{a:?}");
    assert_eq!(a.map(|e| (e.code, e.message)), b.map(|e| (e.code, e.message)));
}

/// Hands out scoped tokens the test minted with the application's credentials, as an app's
/// backend would; counts how often it was asked and what was rejected.
struct Minter {
    base: String,
    app_token: String,
    asked: AtomicU64,
    rejected: std::sync::Mutex<Vec<String>>,
}

impl switchboard_core::hosted::TokenProvider for Minter {
    fn token(&self, rejected: Option<String>) -> BoxFuture<'_, switchboard_core::Result<String>> {
        Box::pin(async move {
            self.asked.fetch_add(1, Ordering::SeqCst);
            if let Some(r) = rejected {
                self.rejected.lock().unwrap_or_else(|e| e.into_inner()).push(r);
            }
            let resp = NetClient::shared()
                .send(HttpRequest {
                    method: "POST".into(),
                    url: format!("{}/api/v1/embedded/scoped-token", self.base),
                    headers: vec![
                        ("authorization".into(), format!("Bearer {}", self.app_token)),
                        ("content-type".into(), "application/json".into()),
                    ],
                    body: Some(br#"{"workspace_name":"mobile"}"#.to_vec()),
                    timeout: Duration::from_secs(10),
                })
                .await
                .map_err(|e| switchboard_core::Error::internal(format!("{e:?}")))?;
            let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap_or_default();
            v["token"].as_str().map(str::to_string).ok_or_else(|| switchboard_core::Error::internal("no token"))
        })
    }
}

/// A mobile or browser client holds no client secret: it runs on a scoped token its app
/// supplies, and asks the app for a new one when the engine rejects the old (here: expired).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_token_client_needs_no_secret_and_renews_through_its_provider() {
    let Some(e) = start(Backend::Sqlite, |s| s.scoped_token_ttl = 2).await else { return };
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    // The app's backend: creates the end user's connector and mints scoped tokens.
    let backend = client(&e, None);
    let ws = Workspace::new(backend.clone(), "mobile").unwrap_or_else(|e| panic!("{e}"));
    let info = ws.create_connector(github(&fake)).await.unwrap_or_else(|e| panic!("{e}"));
    let resp = NetClient::shared()
        .send(HttpRequest {
            method: "POST".into(),
            url: format!("{}/api/v1/account/applications/token", e.base),
            headers: vec![("content-type".into(), "application/json".into())],
            body: Some(
                serde_json::to_vec(&json!({"client_id": e.app.client_id, "client_secret": e.app.client_secret}))
                    .unwrap_or_default(),
            ),
            timeout: Duration::from_secs(10),
        })
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let app_token = serde_json::from_slice::<serde_json::Value>(&resp.body).unwrap_or_default()["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let minter = Arc::new(Minter {
        base: e.base.clone(),
        app_token,
        asked: AtomicU64::new(0),
        rejected: std::sync::Mutex::new(Vec::new()),
    });
    // The device: no client id, no secret.
    let device = switchboard_core::sdk::ClientSettings { base_url: Some(e.base.clone()), ..Default::default() }
        .client_with_provider(minter.clone(), None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(device.is_scoped());
    let target = switchboard_core::sdk::Target { connector: Some("github".into()), ..Default::default() };
    let ex = switchboard_core::sdk::Executor::hosted(device.clone(), &target).unwrap_or_else(|e| panic!("{e}"));
    let req = switchboard_core::sdk::ExecuteRequest::new("issues", "list", json!({"owner": "octo", "repo": "hello"}));
    let first = ex.execute(req.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.data.as_array().map(Vec::len), Some(5));
    assert_eq!(ex.connector_info().await.ok().flatten().map(|i| i.id), Some(info.id.clone()));
    assert_eq!(minter.asked.load(Ordering::SeqCst), 1);
    // The scoped token expires: 2 s lifetime, 5 s allowed clock skew, 1 s resolution.
    tokio::time::sleep(Duration::from_millis(8200)).await;
    let again = ex.execute(req).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.data.as_array().map(Vec::len), Some(5));
    assert_eq!(minter.asked.load(Ordering::SeqCst), 2, "asked once more, after the rejection");
    assert_eq!(minter.rejected.lock().map(|r| r.len()).unwrap_or(0), 1);
    // A fixed scoped token with no provider: the same rejection is a typed error, not a loop.
    let fixed = switchboard_core::sdk::ClientSettings {
        base_url: Some(e.base.clone()),
        scoped_token: minter.rejected.lock().ok().and_then(|r| r.first().cloned()),
        ..Default::default()
    }
    .client(None)
    .unwrap_or_else(|e| panic!("{e}"));
    let stale = switchboard_core::sdk::Executor::hosted(fixed, &target).unwrap_or_else(|e| panic!("{e}"));
    let err = stale.check().await.err().map(|e| e.code);
    assert_eq!(err, Some(ErrorCode::Authentication));
}
