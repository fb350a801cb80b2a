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
use switchboard_core::http::{HttpClient, HttpRequest, HttpResponse, ReqwestClient, TransportError};
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
        inner: ReqwestClient::shared(),
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
    assert_eq!(first.connector_type, "github");
    let ex = connect(c.clone(), "github", "acme", None).await.unwrap_or_else(|e| panic!("{e}"));
    let pages: Vec<_> = ex
        .paginate("issues", "list", json!({"owner": "octo", "repo": "hello", "per_page": 2}), ExecuteOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .collect()
        .await;
    assert_eq!(pages.len(), 3, "5 issues in pages of 2");
    let total: usize =
        pages.iter().map(|p| p.as_ref().map(|r| r.data.as_array().map(Vec::len).unwrap_or(0)).unwrap_or(0)).sum();
    assert_eq!(total, 5);
    let by_def = HostedExecutor::by_definition(c.clone(), "acme", "ef69ef6e-aa7f-4af1-a01d-ef775033524e")
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
