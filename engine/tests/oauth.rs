//! The OAuth consent flow end to end: an operator sets the app's HubSpot client, a scoped or
//! widget token starts a consent, the fake HubSpot plays the consent screen and the token
//! endpoint, the callback creates the connector, which then executes and refreshes (HubSpot
//! rotates refresh tokens). And every refusal: replayed, expired, unknown and foreign states,
//! the provider's denial, PKCE and code checks at the fake, foreign origins, secrets kept out of
//! every answer and page.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{call, start, Answer, Backend, Engine};
use fake_upstream::{creds, FakeUpstream};
use serde_json::{json, Value};
use switchboard_engine::crypto::Sealed;

const WS: &str = "oauth-ws";
const ORIGIN: &str = "https://app.example";

/// A client that never follows redirects: each hop of the browser is looked at.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// GET `url` as a browser would, without following a redirect: (status, Location, body).
async fn visit(url: &str) -> (u16, Option<String>, String, reqwest::header::HeaderMap) {
    let r = browser().get(url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let location = headers.get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
    (status, location, r.text().await.unwrap_or_default(), headers)
}

async fn fake() -> FakeUpstream {
    FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"))
}

/// An engine whose HubSpot connector (API, consent page and token URL) is the fake.
async fn engine(
    backend: Backend,
    fake: &FakeUpstream,
    tweak: impl FnOnce(&mut switchboard_engine::Settings),
) -> Option<Engine> {
    let base = fake.base_url("hubspot");
    start(backend, move |s| {
        s.upstream_base_urls.insert("hubspot".into(), base);
        tweak(s);
    })
    .await
}

async fn put(e: &Engine, path: &str, token: &str, body: Value) -> Answer {
    call("PUT", &e.url(path), Some(token), Some(body), &[]).await
}

/// The operator sets the fake's OAuth client for HubSpot.
async fn set_client(e: &Engine, app: &str) {
    let a = put(
        e,
        "/api/v1/oauth/clients/hubspot",
        app,
        json!({"client_id": creds::OAUTH_CLIENT_ID, "client_secret": creds::OAUTH_CLIENT_SECRET, "scopes": ["crm.objects.contacts.read"]}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(!a.text.contains(creds::OAUTH_CLIENT_SECRET), "{}", a.text);
}

/// The operator sets the fake's OAuth client (no scopes of its own) for `connector_type`.
async fn client_without_scopes(e: &Engine, app: &str, connector_type: &str) {
    let client = json!({"client_id": creds::OAUTH_CLIENT_ID, "client_secret": creds::OAUTH_CLIENT_SECRET});
    let a = put(e, &format!("/api/v1/oauth/clients/{connector_type}"), app, client).await;
    assert_eq!(a.status, 200, "{}", a.text);
}

/// `POST /api/v1/oauth/initiate` with `token` (and `Origin` when given).
async fn initiate(e: &Engine, token: &str, origin: Option<&str>, body: Value) -> Answer {
    let headers: Vec<(&str, &str)> = origin.map(|o| vec![("origin", o)]).unwrap_or_default();
    call("POST", &e.url("/api/v1/oauth/initiate"), Some(token), Some(body), &headers).await
}

/// The consent URL of a successful initiate, checked: the fake's consent page with every
/// parameter, never the client secret.
fn consent_url(a: &Answer, fake: &FakeUpstream) -> (String, String) {
    assert_eq!(a.status, 200, "{}", a.text);
    let url = a.body["consent_url"].as_str().unwrap_or_default().to_string();
    let state = a.body["state"].as_str().unwrap_or_default().to_string();
    assert_eq!(a.body["expires_in"], json!(600), "{}", a.text);
    assert!(url.starts_with(&format!("{}/oauth/authorize?", fake.base_url("hubspot"))), "{url}");
    assert!(!url.contains(creds::OAUTH_CLIENT_SECRET), "the consent URL carries the client secret: {url}");
    let u = url::Url::parse(&url).unwrap_or_else(|e| panic!("{e}"));
    let q: std::collections::HashMap<String, String> = u.query_pairs().into_owned().collect();
    assert_eq!(q.get("client_id").map(String::as_str), Some(creds::OAUTH_CLIENT_ID));
    assert_eq!(q.get("response_type").map(String::as_str), Some("code"));
    assert_eq!(q.get("code_challenge_method").map(String::as_str), Some("S256"));
    assert_eq!(q.get("code_challenge").map(String::len), Some(43), "{url}");
    assert_eq!(q.get("scope").map(String::as_str), Some("crm.objects.contacts.read"));
    assert_eq!(q.get("state"), Some(&state));
    assert!(q.get("redirect_uri").is_some_and(|r| r.ends_with("/api/v1/oauth/callback")), "{url}");
    (url, state)
}

/// The end user approves (or denies) at the fake: the provider's redirect back to the engine.
async fn consent(url: &str, decision: &str) -> String {
    let (status, location, body, _) = visit(&format!("{url}&auto={decision}")).await;
    assert_eq!(status, 302, "{body}");
    location.unwrap_or_else(|| panic!("no Location"))
}

/// Every secret of the flow, none of which may appear in an answer or page.
fn assert_no_secrets(text: &str, fake: &FakeUpstream) {
    assert!(!text.contains(creds::OAUTH_CLIENT_SECRET), "client secret in: {text}");
    let (rt, ats) = fake.state.with_oauth("hubspot", |o| (o.refresh_token.clone(), o.access_tokens.clone()));
    assert!(!text.contains(&rt), "refresh token in: {text}");
    for at in ats {
        assert!(!text.contains(&at), "access token in: {text}");
    }
}

/// A connector's stored credentials, opened.
async fn stored_credentials(e: &Engine, id: &str) -> Value {
    let (sealed, _): (Sealed, i64) =
        e.state.db.credentials(id).await.unwrap_or_else(|e| panic!("{e:?}")).unwrap_or_else(|| panic!("no row {id}"));
    let plain = e.state.keys.open(&sealed, id).unwrap_or_else(|e| panic!("{e:?}"));
    serde_json::from_slice(&plain).unwrap_or_else(|e| panic!("{e}"))
}

fn connector_id_from_page(body: &str) -> String {
    let start = body.find("\"connector_id\":\"").unwrap_or_else(|| panic!("no connector_id: {body}")) + 16;
    body[start..start + 36].to_string()
}

both_backends!(consent_creates_a_connector_that_executes_and_refreshes, |backend| async move {
    let fake = fake().await;
    let Some(e) = engine(backend, &fake, |_| {}).await else { return };
    let app = e.app_token().await;
    set_client(&e, &app).await;
    let listed = e.get("/api/v1/oauth/clients", &app).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.body["data"][0]["connector_type"], json!("hubspot"), "{}", listed.text);
    assert_eq!(listed.body["data"][0]["client_id"], json!(creds::OAUTH_CLIENT_ID));
    assert!(!listed.text.contains(creds::OAUTH_CLIENT_SECRET), "{}", listed.text);

    let scoped = e.scoped_token(&app, WS).await;
    // The config given at initiate is the created connector's (a base URL: the application's
    // to give, in the workspace it names).
    let config = json!({"base_url": fake.base_url("hubspot")});
    let body = json!({"connector_type": "hubspot", "name": "CRM via consent", "config": config, "workspace_name": WS});
    let a = initiate(&e, &app, None, body).await;
    let (url, _) = consent_url(&a, &fake);

    // The consent screen is a page with Allow and Deny, no auto answer.
    let (status, _, page, _) = visit(&url).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Allow") && page.contains("Deny") && page.contains("<form"), "{page}");

    let back = consent(&url, "approve").await;
    assert!(back.starts_with(&e.url("/api/v1/oauth/callback?")), "{back}");
    let (status, _, page, headers) = visit(&back).await;
    assert_eq!(status, 200, "{page}");
    assert!(headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/html")));
    assert!(headers.get("content-security-policy").is_some());
    assert!(page.contains("\"type\":\"switchboard:oauth\"") && page.contains("\"status\":\"succeeded\""), "{page}");
    // A scoped token bound no origin: nobody is posted to, and no "*" anywhere.
    assert!(!page.contains("postMessage"), "{page}");
    assert_no_secrets(&page, &fake);
    let id = connector_id_from_page(&page);

    // The connector is in the token's workspace, named as asked, and runs.
    let got = e.get(&format!("/api/v1/integrations/connectors/{id}"), &scoped).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.body["name"], json!("CRM via consent"));
    assert_eq!(got.body["workspace_name"], json!(WS), "{}", got.text);
    assert_no_secrets(&got.text, &fake);
    let row = e.state.db.get_connector(&e.app.organization_id, None, &id).await.unwrap_or_else(|e| panic!("{e:?}"));
    let stored = row.and_then(|r| r.config).map(|c| serde_json::from_str::<Value>(&c).unwrap_or_default());
    assert_eq!(stored, Some(config), "the consent's config is stored with its connector");
    let exec = json!({"entity": "contacts", "action": "list", "params": {"limit": 2}});
    let path = format!("/api/v1/integrations/connectors/{id}/execute");
    let r = e.post(&path, &scoped, exec.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["result"].as_array().map(Vec::len), Some(2), "{}", r.text);
    let refreshes = fake.state.with_oauth("hubspot", |o| o.refresh_calls);
    assert_eq!(refreshes, 0, "the consent's access token is used as is");
    let first = stored_credentials(&e, &id).await;
    assert_eq!(first["client_id"], json!(creds::OAUTH_CLIENT_ID));
    assert!(first["expires_at"].as_i64().is_some(), "{first}");
    let first_refresh = first["refresh_token"].as_str().unwrap_or_default().to_string();
    assert!(first_refresh.starts_with("rt-hubspot-code-"), "{first}");

    // The provider expires the access token: the next call refreshes, and the rotated refresh
    // token is what is stored.
    fake.state.with_oauth("hubspot", |o| o.access_tokens.clear());
    let r = e.post(&path, &scoped, exec).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (calls, current) = fake.state.with_oauth("hubspot", |o| (o.refresh_calls, o.refresh_token.clone()));
    assert_eq!(calls, 1);
    let after = stored_credentials(&e, &id).await;
    assert_eq!(after["refresh_token"], json!(current), "the rotated refresh token is stored");
    assert_ne!(after["refresh_token"], json!(first_refresh));
    assert_no_secrets(&r.text, &fake);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_unknown_expired_and_denied_states_are_refused() {
    let fake = fake().await;
    let Some(e) = engine(Backend::Sqlite, &fake, |_| {}).await else { return };
    let app = e.app_token().await;
    set_client(&e, &app).await;
    let scoped = e.scoped_token(&app, WS).await;
    let start = json!({"connector_type": "hubspot"});

    // Replayed: the same callback twice creates one connector.
    let (url, _) = consent_url(&initiate(&e, &scoped, None, start.clone()).await, &fake);
    let back = consent(&url, "approve").await;
    let (status, _, first, _) = visit(&back).await;
    assert_eq!(status, 200, "{first}");
    let (status, _, again, headers) = visit(&back).await;
    assert_eq!(status, 400, "{again}");
    assert!(again.contains("already completed"), "{again}");
    assert!(headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/html")));
    assert_no_secrets(&again, &fake);

    // Unknown and missing states.
    // A repeated state is no state: the same page, not axum's text/plain.
    for q in ["?code=x&state=never-issued", "?code=x", "", "?code=x&state=a&state=b"] {
        let (status, _, page, headers) = visit(&e.url(&format!("/api/v1/oauth/callback{q}"))).await;
        assert_eq!(status, 400, "{q}: {page}");
        assert!(page.contains("not valid"), "{page}");
        assert!(headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/html")));
    }

    // The provider's refusal (the user clicked Deny): refused, and the state is spent.
    let (url, _) = consent_url(&initiate(&e, &scoped, None, start.clone()).await, &fake);
    let back = consent(&url, "deny").await;
    assert!(back.contains("error=access_denied"), "{back}");
    let (status, _, page, _) = visit(&back).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("did not grant access"), "{page}");
    let (status, _, page, _) = visit(&back.replace("error=access_denied", "code=forged")).await;
    assert_eq!(status, 400, "a refused state is spent: {page}");

    let list = e.get(&format!("/api/v1/integrations/connectors?workspace_name={WS}"), &app).await;
    assert_eq!(
        list.body["data"].as_array().map(Vec::len),
        Some(1),
        "only the first consent made a connector: {}",
        list.text
    );

    // Expired: an engine whose consents last one second.
    let Some(short) = engine(Backend::Sqlite, &fake, |s| s.oauth_state_ttl = Duration::from_secs(1)).await else {
        return;
    };
    let app = short.app_token().await;
    set_client(&short, &app).await;
    let scoped = short.scoped_token(&app, WS).await;
    let a = initiate(&short, &scoped, None, start).await;
    assert_eq!(a.body["expires_in"], json!(1), "{}", a.text);
    let url = a.body["consent_url"].as_str().unwrap_or_default().to_string();
    let back = consent(&url, "approve").await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (status, _, page, _) = visit(&back).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("expired"), "{page}");
    let list = short.get(&format!("/api/v1/integrations/connectors?workspace_name={WS}"), &app).await;
    assert_eq!(list.body["data"], json!([]), "{}", list.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_creates_only_in_its_own_organization_and_workspace() {
    let fake = fake().await;
    let Some(e) = engine(Backend::Sqlite, &fake, |_| {}).await else { return };
    let app_a = e.app_token().await;
    let b = switchboard_engine::admin::create_application(&e.state.db, e.state.secrets.hasher(), "org-b")
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let app_b = e.app_token_for(&b).await;

    // B has configured no client: B cannot start a HubSpot consent on A's client.
    set_client(&e, &app_a).await;
    let a = initiate(&e, &app_b, None, json!({"connector_type": "hubspot", "workspace_name": WS})).await;
    assert_eq!(a.status, 422, "{}", a.text);
    assert_eq!(a.body["details"]["reason"], json!("oauth_client_missing"), "{}", a.text);

    // B's own consent lands in B's workspace of that name; A sees nothing of it.
    set_client(&e, &app_b).await;
    let a = initiate(&e, &app_b, None, json!({"connector_type": "hubspot", "workspace_name": WS})).await;
    let (url, _) = consent_url(&a, &fake);
    let (status, _, page, _) = visit(&consent(&url, "approve").await).await;
    assert_eq!(status, 200, "{page}");
    let id = connector_id_from_page(&page);
    let mine = e.get(&format!("/api/v1/integrations/connectors/{id}"), &app_b).await;
    assert_eq!(mine.status, 200, "{}", mine.text);
    let theirs = e.get(&format!("/api/v1/integrations/connectors/{id}"), &app_a).await;
    assert_eq!(theirs.status, 404, "{}", theirs.text);
    let list = e.get(&format!("/api/v1/integrations/connectors?workspace_name={WS}"), &app_a).await;
    assert_eq!(list.body["data"], json!([]), "{}", list.text);

    // Another workspace's scoped token cannot start a consent for this one.
    let other = e.scoped_token(&app_a, "another-ws").await;
    let a = initiate(&e, &other, None, json!({"connector_type": "hubspot", "workspace_name": WS})).await;
    assert_eq!(a.status, 403, "{}", a.text);
    assert_eq!(a.body["details"]["reason"], json!("workspace_mismatch"));
}

/// A replication config is checked when the consent starts, as creating the connector checks
/// it: refused there, after the end user's consent, it would lose the provider's grant. Nothing
/// is stored for a refused one.
/// The consents stored (pending or spent).
async fn pending_states(e: &Engine) -> usize {
    let sealed = e.state.db.sealed_records().await.unwrap_or_else(|e| panic!("{e:?}"));
    sealed.iter().filter(|(table, _, _)| *table == "oauth_states").count()
}

/// `a` is a 422 `validation` naming `field` with a problem saying `said`.
fn refused_for(a: &Answer, field: &str, said: &str) {
    assert_eq!((a.status, a.body["code"].as_str()), (422, Some("validation")), "{}", a.text);
    let fields = a.body["details"]["fields"].as_array().cloned().unwrap_or_default();
    assert!(
        fields.iter().any(|f| f["field"] == field && f["problem"].as_str().is_some_and(|m| m.contains(said))),
        "{field}: {}",
        a.text
    );
}

/// A connector whose URLs need a config value (Jira's `subdomain`) gets it at initiate, checked
/// there as creating the connector checks it: a consent that could never make a connector is
/// refused before the end user is asked, not after (the provider's grant would be lost).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consents_config_is_checked_before_the_consent_and_kept() {
    let fake = fake().await;
    let Some(e) = engine(Backend::Sqlite, &fake, |_| {}).await else { return };
    let app = e.app_token().await;
    client_without_scopes(&e, &app, "jira").await;
    let before = pending_states(&e).await;
    for (config, field, said) in [
        (json!(null), "config.subdomain", "is required"),
        (json!({}), "config.subdomain", "is required"),
        (json!("acme"), "config", "must be an object"),
        (json!({"subdomain": "evil.example/x#"}), "config.subdomain", "egress rules do not allow"),
        (json!({"base_url": "ftp://acme.atlassian.net"}), "config.base_url", "must be an http(s) URL"),
    ] {
        let body = json!({"connector_type": "jira", "workspace_name": WS, "config": config});
        refused_for(&initiate(&e, &app, None, body).await, field, said);
    }
    // An end user's token names server variables only: where the organization's OAuth client
    // secret goes is the application's to say.
    let scoped = e.scoped_token(&app, WS).await;
    for field in ["base_url", "token_url"] {
        let config = json!({"subdomain": "acme", field: "https://api.atlassian.com/ex/jira/abc"});
        let a = initiate(&e, &scoped, None, json!({"connector_type": "jira", "config": config})).await;
        refused_for(&a, &format!("config.{field}"), "only an application token may give it");
    }
    assert_eq!(pending_states(&e).await, before, "no state stored for a refused consent");
    // Given as config, or in the replication config as consents took it before: the consent
    // starts, and its state keeps the config the connector will be created with.
    for body in [
        json!({"connector_type": "jira", "workspace_name": WS, "config": {"subdomain": "acme"}}),
        json!({"connector_type": "jira", "workspace_name": WS, "replication_config": {"subdomain": "acme"}}),
    ] {
        let a = initiate(&e, &app, None, body.clone()).await;
        assert_eq!(a.status, 200, "{body}: {}", a.text);
        let url = a.body["consent_url"].as_str().unwrap_or_default();
        assert!(url.starts_with("https://auth.atlassian.com/authorize?"), "{url}");
        let state = a.body["state"].as_str().unwrap_or_default();
        let hash = switchboard_engine::services::oauth::state_hash(state);
        let row = e.state.db.oauth_state(&hash).await.unwrap_or_else(|e| panic!("{e:?}"));
        let kept = row.and_then(|r| r.config).map(|c| serde_json::from_str::<Value>(&c).unwrap_or_default());
        assert_eq!(kept, Some(json!({"subdomain": "acme"})), "{body}");
    }
}

/// A HubSpot connector stored with a refresh token and no access token, and a token sink of
/// its current credentials, as an execution's handle holds one.
async fn stored_oauth_connector(e: &Engine, app: &str) -> (String, Value, i64) {
    let creds = json!({"client_id": creds::OAUTH_CLIENT_ID, "client_secret": creds::OAUTH_CLIENT_SECRET,
        "refresh_token": creds::OAUTH_INITIAL_REFRESH_TOKEN});
    let body = json!({"connector_type": "hubspot", "workspace_name": WS, "credentials": creds});
    let created = e.post("/api/v1/integrations/connectors", app, body).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap_or_default().to_string();
    let stored = e.state.db.credentials(&id).await.unwrap_or_else(|e| panic!("{e:?}"));
    let version = stored.map(|(_, v)| v).unwrap_or_else(|| panic!("no row {id}"));
    (id, creds, version)
}

fn sink_of(e: &Engine, id: &str, creds: &Value, version: i64) -> Arc<switchboard_engine::sink::StoreSink> {
    let creds = creds.as_object().cloned().unwrap_or_default();
    switchboard_engine::sink::StoreSink::new(e.state.db.clone(), e.state.keys.clone(), id.to_string(), version, creds)
}

/// A refresh on a handle older than a credential change that stored no access token (an
/// operator's new refresh token or client secret) is refused, not run with the handle's refresh
/// token, which may be the replaced one: spending it would lose the rotation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handle_older_than_new_credentials_does_not_refresh() {
    use switchboard_core::TokenSink as _;
    let fake = fake().await;
    let Some(e) = engine(Backend::Sqlite, &fake, |_| {}).await else { return };
    let app = e.app_token().await;
    let (id, creds, version) = stored_oauth_connector(&e, &app).await;
    let sink = sink_of(&e, &id, &creds, version);
    let mut newer = creds.clone();
    newer["refresh_token"] = json!("rt-set-by-the-operator");
    let path = e.url(&format!("/api/v1/integrations/connectors/{id}"));
    let a = call("PATCH", &path, Some(&app), Some(json!({"credentials": newer})), &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let refused = sink.begin_refresh(true).await.err();
    assert_eq!(refused.map(|e| e.code), Some(switchboard_core::ErrorCode::Conflict));
    assert_eq!(fake.state.with_oauth("hubspot", |o| o.refresh_calls), 0, "nothing was sent");
}

/// A refresh whose call went away between taking the refresh lease and its end (the future
/// dropped) lets the lease go at once: another handle refreshes without waiting out renewals
/// that would have gone on for two minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_refresh_lets_its_lease_go() {
    use switchboard_core::{RefreshStart, TokenSink as _};
    let fake = fake().await;
    let Some(e) = engine(Backend::Sqlite, &fake, |_| {}).await else { return };
    let app = e.app_token().await;
    let (id, creds, version) = stored_oauth_connector(&e, &app).await;
    let sink = || sink_of(&e, &id, &creds, version);
    let (first, second) = (sink(), sink());
    let started = first.begin_refresh(true).await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(started, RefreshStart::Proceed);
    first.abandon_refresh();
    let next = tokio::time::timeout(Duration::from_secs(5), second.begin_refresh(true)).await;
    let next = next.unwrap_or_else(|_| panic!("the abandoned refresh still holds its lease"));
    assert_eq!(next.unwrap_or_else(|e| panic!("{e:?}")), RefreshStart::Proceed);
    second.end_refresh().await;
}

/// Only a grant that spends the stored refresh token is marked in flight: a client-credentials
/// or JWT-bearer grant that dies mid-way loses nothing, so it leaves no mark that would later
/// read as "the connector needs re-authorization".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_refresh_token_grant_is_marked_in_flight() {
    use switchboard_core::{RefreshStart, TokenSink as _};
    let fake = fake().await;
    let Some(e) = engine(Backend::Sqlite, &fake, |_| {}).await else { return };
    let app = e.app_token().await;
    let (id, creds, version) = stored_oauth_connector(&e, &app).await;
    let marked = || async { e.state.db.refresh_interrupted(&id, version).await.unwrap_or_else(|e| panic!("{e:?}")) };
    for spends in [false, true] {
        let sink = sink_of(&e, &id, &creds, version);
        let started = sink.begin_refresh(spends).await.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(started, RefreshStart::Proceed);
        // The call goes away mid-grant: whether the provider answered is not known.
        sink.abandon_refresh();
        assert_eq!(marked().await, spends, "spends the refresh token: {spends}");
        let next = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let other = sink_of(&e, &id, &creds, version);
                if let Ok(RefreshStart::Proceed) = other.begin_refresh(false).await {
                    other.end_refresh().await;
                    break;
                }
            }
        });
        next.await.unwrap_or_else(|_| panic!("the abandoned lease was not let go"));
    }
}

// A workspace has at most 20 consents waiting for its end user: a loop of initiates (a widget
// token in a page's hands) cannot fill the store with rows kept a day. Initiates racing on one
// workspace (across replicas too) store no more: the count and the insert are one transaction.
both_backends!(pending_consents_are_bounded_per_workspace, |backend| async move {
    let fake = fake().await;
    let Some(e) = engine(backend, &fake, |_| {}).await else { return };
    let app = e.app_token().await;
    set_client(&e, &app).await;
    let scoped = e.scoped_token(&app, WS).await;
    let start = |token: String| {
        let e = &e;
        async move { initiate(e, &token, None, json!({"connector_type": "hubspot"})).await }
    };
    let max = switchboard_engine::services::oauth::MAX_PENDING_CONSENTS as usize;
    let answers = futures::future::join_all((0..max + 10).map(|_| start(scoped.clone()))).await;
    let granted = answers.iter().filter(|a| a.status == 200).count();
    let refused: Vec<&Answer> = answers.iter().filter(|a| a.status != 200).collect();
    assert_eq!((granted, refused.len()), (max, 10), "{:?}", refused.iter().map(|a| &a.text).collect::<Vec<_>>());
    for a in refused {
        assert_eq!((a.status, a.body["code"].as_str()), (429, Some("rate_limited")), "{}", a.text);
        assert_eq!(a.body["details"]["reason"], json!("too_many_pending_consents"), "{}", a.text);
        assert!(a.headers.get("retry-after").is_some(), "{}", a.text);
    }
    assert_eq!(pending_states(&e).await, max);
    // Another workspace is not held back.
    let other = e.scoped_token(&app, "another-workspace").await;
    assert_eq!(start(other).await.status, 200);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_replication_config_is_refused_before_the_consent() {
    let fake = fake().await;
    let Some(e) = engine(Backend::Sqlite, &fake, |_| {}).await else { return };
    let app = e.app_token().await;
    set_client(&e, &app).await;
    let before = pending_states(&e).await;
    for (config, field, said) in [
        (json!("a string"), "replication_config", "must be an object"),
        (json!(["a", "list"]), "replication_config", "must be an object"),
        (json!({"junk": "v".repeat(70_000)}), "replication_config", "at most 65536 are kept"),
    ] {
        let a = initiate(
            &e,
            &app,
            None,
            json!({"connector_type": "hubspot", "workspace_name": WS, "replication_config": config}),
        )
        .await;
        refused_for(&a, field, said);
    }
    assert_eq!(pending_states(&e).await, before, "no state stored for a refused consent");
    let a =
        initiate(&e, &app, None, json!({"connector_type": "hubspot", "workspace_name": WS, "replication_config": {}}))
            .await;
    assert_eq!(a.status, 200, "{}", a.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn widget_consents_post_only_to_their_origin() {
    let fake = fake().await;
    let Some(e) = engine(Backend::Sqlite, &fake, |_| {}).await else { return };
    let app = e.app_token().await;
    set_client(&e, &app).await;
    let widget = e.widget_token(&app, WS, ORIGIN).await;

    // From another origin the widget token is refused.
    let a = initiate(&e, &widget, Some("https://evil.example"), json!({"connector_type": "hubspot"})).await;
    assert_eq!(a.status, 403, "{}", a.text);
    assert_eq!(a.body["details"]["reason"], json!("origin_mismatch"));
    // A redirect_url off the widget's origin is refused.
    let body = json!({"connector_type": "hubspot", "redirect_url": "https://evil.example/done"});
    let a = initiate(&e, &widget, Some(ORIGIN), body).await;
    assert_eq!(a.status, 403, "{}", a.text);

    // From its origin: the page posts the result to that origin only, then closes.
    let a = initiate(&e, &widget, Some(ORIGIN), json!({"connector_type": "hubspot"})).await;
    let (url, _) = consent_url(&a, &fake);
    let (status, _, page, _) = visit(&consent(&url, "approve").await).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(&format!("var o=\"{ORIGIN}\"")) && page.contains("postMessage(m,o)"), "{page}");
    assert!(page.contains("window.close()"), "{page}");
    assert!(!page.contains("\"*\""), "{page}");
    assert!(!page.contains("<script src") && !page.contains("<link"), "no third-party resources: {page}");
    assert_no_secrets(&page, &fake);

    // With a redirect_url on its origin: the browser is sent there with the connector id.
    let body = json!({"connector_type": "hubspot", "redirect_url": format!("{ORIGIN}/connected?x=1")});
    let (url, _) = consent_url(&initiate(&e, &widget, Some(ORIGIN), body).await, &fake);
    let (status, location, _, _) = visit(&consent(&url, "approve").await).await;
    assert_eq!(status, 303);
    let location = location.unwrap_or_default();
    assert!(location.starts_with(&format!("{ORIGIN}/connected?x=1&connector_id=")), "{location}");

    // A scoped token may name only a registered origin (the widget token registered ORIGIN).
    let scoped = e.scoped_token(&app, WS).await;
    let a =
        initiate(&e, &scoped, None, json!({"connector_type": "hubspot", "redirect_url": "https://unknown.example/x"}))
            .await;
    assert_eq!(a.status, 403, "{}", a.text);
    assert_eq!(a.body["details"]["reason"], json!("origin_not_registered"));
    let a =
        initiate(&e, &scoped, None, json!({"connector_type": "hubspot", "redirect_url": format!("{ORIGIN}/x")})).await;
    assert_eq!(a.status, 200, "{}", a.text);

    // A refused consent leaves nothing behind: the workspace it named is not made.
    let body = json!({"connector_type": "hubspot", "workspace_name": "ws-refused-consent",
        "redirect_url": "https://unknown.example/x"});
    let a = initiate(&e, &app, None, body).await;
    assert_eq!((a.status, &a.body["details"]["reason"]), (403, &json!("origin_not_registered")), "{}", a.text);
    let listed = e.get("/api/v1/workspaces?name_contains=ws-refused", &app).await;
    assert_eq!(listed.body["data"], json!([]), "{}", listed.text);
    // Two names for the workspace that differ are refused, not one of them chosen.
    let body = json!({"connector_type": "hubspot", "workspace_name": WS, "external_user_id": "someone-else"});
    let a = initiate(&e, &app, None, body).await;
    assert_eq!(a.status, 422, "{}", a.text);
    assert!(a.text.contains("workspace_name and external_user_id name different workspaces"), "{}", a.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_clients_are_application_only_and_never_answer_secrets() {
    let fake = fake().await;
    let Some(e) = engine(Backend::Sqlite, &fake, |_| {}).await else { return };
    let app = e.app_token().await;
    let scoped = e.scoped_token(&app, WS).await;
    let body = json!({"client_id": "id", "client_secret": "s3cr3t-value"});
    let a = put(&e, "/api/v1/oauth/clients/hubspot", &scoped, body.clone()).await;
    assert_eq!(a.status, 401, "{}", a.text);
    assert_eq!(a.body["details"]["reason"], json!("wrong_token_kind"));
    // GitHub's spec has no authorization-code flow.
    let a = put(&e, "/api/v1/oauth/clients/github", &app, body.clone()).await;
    assert_eq!(a.status, 422, "{}", a.text);
    // An unknown type is the caller's mistake (validation), not a connector that cannot run.
    let a = put(&e, "/api/v1/oauth/clients/no-such-type", &app, body.clone()).await;
    assert_eq!(
        (a.status, &a.body["code"], &a.body["details"]["reason"]),
        (422, &json!("validation"), &json!("unknown_connector_type")),
        "{}",
        a.text
    );
    let a = put(&e, "/api/v1/oauth/clients/hubspot", &app, json!({"client_id": "", "client_secret": ""})).await;
    assert_eq!(a.status, 422, "{}", a.text);
    let a = put(&e, "/api/v1/oauth/clients/hubspot", &app, body).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(!a.text.contains("s3cr3t-value"));
    // Sealed at rest: the secret is not in the database file in clear.
    let row = e.state.db.oauth_client(&e.app.organization_id, "hubspot").await.unwrap_or_else(|e| panic!("{e:?}"));
    let row = row.unwrap_or_else(|| panic!("no row"));
    assert!(!row.secret.ciphertext.contains("s3cr3t-value"));
    let d = call("DELETE", &e.url("/api/v1/oauth/clients/hubspot"), Some(&app), None, &[]).await;
    assert_eq!(d.status, 204, "{}", d.text);
    let d = call("DELETE", &e.url("/api/v1/oauth/clients/hubspot"), Some(&app), None, &[]).await;
    assert_eq!(d.status, 404, "{}", d.text);
    let a = initiate(&e, &scoped, None, json!({"connector_type": "hubspot"})).await;
    assert_eq!(a.status, 422, "{}", a.text);
}

/// The fake's token endpoint checks what a real one does: PKCE verifier, redirect URI, and a
/// code good for one try.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_checks_pkce_redirect_uri_and_single_use_codes() {
    let fake = fake().await;
    let verifier = "v".repeat(50);
    let challenge = {
        use base64::Engine as _;
        use sha2::Digest as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
    };
    let hs = fake.base_url("hubspot");
    let code = |redirect: &'static str| {
        let hs = hs.clone();
        let challenge = challenge.clone();
        async move {
            let url = format!(
                "{hs}/oauth/authorize?client_id={}&redirect_uri={redirect}&response_type=code&state=s1&code_challenge={challenge}&code_challenge_method=S256&auto=approve",
                creds::OAUTH_CLIENT_ID
            );
            let (status, location, body, _) = visit(&url).await;
            assert_eq!(status, 302, "{body}");
            let u = url::Url::parse(&location.unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
            u.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).unwrap_or_default()
        }
    };
    let exchange = |code: String, redirect: &'static str, verifier: String| {
        let hs = hs.clone();
        async move {
            let r = common::client()
                .post(format!("{hs}/oauth/v1/token"))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", redirect),
                    ("code_verifier", &verifier),
                    ("client_id", creds::OAUTH_CLIENT_ID),
                    ("client_secret", creds::OAUTH_CLIENT_SECRET),
                ])
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    };
    const R: &str = "http://127.0.0.1:9/cb";
    // Wrong verifier: refused, and the code is spent.
    let c = code(R).await;
    let (status, text) = exchange(c.clone(), R, "w".repeat(50)).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("code_verifier"), "{text}");
    let (status, _) = exchange(c, R, verifier.clone()).await;
    assert_eq!(status, 400, "a code is good for one try");
    // Another redirect URI: refused.
    let c = code(R).await;
    let (status, text) = exchange(c, "http://127.0.0.1:9/other", verifier.clone()).await;
    assert_eq!(status, 400, "{text}");
    // All right: tokens, once.
    let c = code(R).await;
    let (status, text) = exchange(c.clone(), R, verifier.clone()).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("refresh_token") && text.contains("access_token"), "{text}");
    let (status, _) = exchange(c, R, verifier).await;
    assert_eq!(status, 400, "a used code is refused");
    // No PKCE at all: the consent screen refuses.
    let (status, _, body, _) = visit(&format!(
        "{hs}/oauth/authorize?client_id={}&redirect_uri={R}&response_type=code&state=s&auto=approve",
        creds::OAUTH_CLIENT_ID
    ))
    .await;
    assert_eq!(status, 400, "{body}");
}

/// `switchboard admin rotate-key` re-seals the OAuth client secrets and pending verifiers, so an
/// old master key can be dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_reseals_oauth_secrets() {
    let fake = fake().await;
    let Some(e) = engine(Backend::Sqlite, &fake, |_| {}).await else { return };
    let app = e.app_token().await;
    set_client(&e, &app).await;
    let scoped = e.scoped_token(&app, WS).await;
    let a = initiate(&e, &scoped, None, json!({"connector_type": "hubspot"})).await;
    let (_, state) = consent_url(&a, &fake);
    let new_key = switchboard_engine::crypto::Key::generate();
    let rotated = e.state.keys.rotated(new_key.clone());
    let n = switchboard_engine::admin::reseal_all(&e.state.db, &rotated).await.unwrap_or_else(|e| panic!("{e:?}"));
    assert!(n >= 2, "rewrote {n}");
    // Only the new key is needed now.
    let only_new = switchboard_engine::crypto::KeyRing::new(new_key, vec![]);
    let client = e.state.db.oauth_client(&e.app.organization_id, "hubspot").await.unwrap_or_else(|e| panic!("{e:?}"));
    let client = client.unwrap_or_else(|| panic!("no client"));
    let aad = format!("oauth_client:{}:hubspot", e.app.organization_id);
    let secret = only_new.open(&client.secret, &aad).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(secret, creds::OAUTH_CLIENT_SECRET.as_bytes());
    let hash = switchboard_engine::services::oauth::state_hash(&state);
    let row =
        e.state.db.oauth_state(&hash).await.unwrap_or_else(|e| panic!("{e:?}")).unwrap_or_else(|| panic!("no state"));
    let verifier = only_new.open(&row.verifier, &hash).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(verifier.len() >= 43);
}

/// `--public-url` decides the redirect URI the provider is given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_url_makes_the_redirect_uri() {
    let fake = fake().await;
    let Some(e) = engine(Backend::Sqlite, &fake, |s| s.public_url = Some("https://engine.example".into())).await else {
        return;
    };
    let app = e.app_token().await;
    set_client(&e, &app).await;
    let scoped = e.scoped_token(&app, WS).await;
    let a = initiate(&e, &scoped, None, json!({"connector_type": "hubspot"})).await;
    let (url, _) = consent_url(&a, &fake);
    let u = url::Url::parse(&url).unwrap_or_else(|e| panic!("{e}"));
    let redirect = u.query_pairs().find(|(k, _)| k == "redirect_uri").map(|(_, v)| v.into_owned());
    assert_eq!(redirect.as_deref(), Some("https://engine.example/api/v1/oauth/callback"));
}

/// A whole consent through the real binary at debug level: no secret of the flow (client
/// secret, code, state, PKCE challenge's verifier, tokens) is in its logs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_of_the_flow_never_reach_the_logs() {
    let fake = fake().await;
    let dir = common::TempDir::new();
    let upstream = format!("hubspot={}", fake.base_url("hubspot"));
    let serve = common::serve::Serve::start(&dir.0, None, &[("SWITCHBOARD_UPSTREAM_BASE_URLS", upstream.as_str())]);
    let (client_id, secret) = serve.first_creds();
    let app = serve.app_token(&client_id, &secret).await;
    // No scopes: the consent asks for the spec's.
    let body = json!({"client_id": creds::OAUTH_CLIENT_ID, "client_secret": creds::OAUTH_CLIENT_SECRET});
    let a = call("PUT", &serve.url("/api/v1/oauth/clients/hubspot"), Some(&app), Some(body), &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let start = json!({"connector_type": "hubspot", "workspace_name": WS});
    let a = call("POST", &serve.url("/api/v1/oauth/initiate"), Some(&app), Some(start), &[]).await;
    let url = a.body["consent_url"].as_str().unwrap_or_else(|| panic!("{}", a.text)).to_string();
    let state = a.body["state"].as_str().unwrap_or_default().to_string();
    assert!(url.contains("scope=crm.objects.contacts.read+crm.objects.contacts.write+"), "{url}");
    let back = consent(&url, "approve").await;
    let code = url::Url::parse(&back)
        .unwrap_or_else(|e| panic!("{e}"))
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let (status, _, page, _) = visit(&back).await;
    assert_eq!(status, 200, "{page}");
    let id = connector_id_from_page(&page);
    let exec = json!({"entity": "contacts", "action": "list", "params": {"limit": 1}});
    fake.state.with_oauth("hubspot", |o| o.access_tokens.clear());
    let r =
        call("POST", &serve.url(&format!("/api/v1/integrations/connectors/{id}/execute")), Some(&app), Some(exec), &[])
            .await;
    assert_eq!(r.status, 200, "{}", r.text);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = serve.logs();
    assert!(logs.contains("connector created by OAuth consent"), "the flow is logged: {logs}");
    assert!(!code.is_empty());
    for s in [creds::OAUTH_CLIENT_SECRET, &code, &state] {
        assert!(!logs.contains(s), "{s:?} in the logs");
    }
    assert_no_secrets(&logs, &fake);
}

/// `--public-url` takes an http(s) URL without query or fragment.
#[test]
fn the_public_url_flag_is_checked() {
    for bad in ["ftp://engine.example", "https://engine.example/?a=1", "not a url"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["serve", "--bind", "127.0.0.1:0", "--public-url", bad])
            .env_remove("SWITCHBOARD_PUBLIC_URL")
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!out.status.success(), "{bad} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--public-url"), "{bad}: {err}");
    }
}

// Callbacks racing with one state: exactly one creates a connector (PostgreSQL too).
both_backends!(racing_callbacks_create_one_connector, |backend| async move {
    let fake = fake().await;
    let Some(e) = engine(backend, &fake, |_| {}).await else { return };
    let app = e.app_token().await;
    set_client(&e, &app).await;
    let scoped = e.scoped_token(&app, WS).await;
    let (url, _) = consent_url(&initiate(&e, &scoped, None, json!({"connector_type": "hubspot"})).await, &fake);
    let back = consent(&url, "approve").await;
    let tries = (0..6).map(|_| {
        let back = back.clone();
        tokio::spawn(async move { visit(&back).await.0 })
    });
    let statuses: Vec<u16> = futures::future::join_all(tries).await.into_iter().map(|r| r.unwrap_or(0)).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 5, "{statuses:?}");
    let list = e.get(&format!("/api/v1/integrations/connectors?workspace_name={WS}"), &app).await;
    assert_eq!(list.body["data"].as_array().map(Vec::len), Some(1), "{}", list.text);
});

/// A provider's token endpoint on loopback at `path`, answering every authorization-code grant
/// with tokens and the fields `extra` makes of its own origin (a Salesforce login server naming
/// an `instance_url`, friendly or not): its origin, and the grants it received.
async fn token_endpoint(
    path: &str,
    extra: impl FnOnce(&str) -> Value,
) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
    let origin = format!("http://{}", listener.local_addr().unwrap_or_else(|e| panic!("{e}")));
    let mut answer = json!({"access_token": "at-consent", "refresh_token": "rt-consent", "token_type": "Bearer"});
    if let (Some(a), Value::Object(more)) = (answer.as_object_mut(), extra(&origin)) {
        a.extend(more);
    }
    let grants = Arc::new(AtomicUsize::new(0));
    let seen = grants.clone();
    let grant = move |body: String| {
        let (seen, answer) = (seen.clone(), answer.clone());
        async move {
            // A form body, or a JSON one (Atlassian's).
            let form: std::collections::HashMap<String, String> = serde_json::from_str(&body)
                .unwrap_or_else(|_| url::form_urlencoded::parse(body.as_bytes()).into_owned().collect());
            if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
                return axum::Json(json!({"error": "unsupported_grant_type"}));
            }
            seen.fetch_add(1, Ordering::SeqCst);
            axum::Json(answer)
        }
    };
    let app = axum::Router::new().route(path, axum::routing::post(grant));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (origin, grants)
}

/// A value the token answer of a consent names (Salesforce's `instance_url`, which becomes the
/// API's address and so where the access token goes) is checked as a refresh checks it before
/// any connector exists: one off the token endpoint's domain fails the consent and stores
/// nothing; one on the token endpoint's host makes the connector, with the value kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consents_token_answer_is_checked_before_its_connector_exists() {
    let fake = fake().await;
    let Some(e) = engine(Backend::Sqlite, &fake, |_| {}).await else { return };
    let app = e.app_token().await;
    client_without_scopes(&e, &app, "salesforce").await;
    let listing = format!("/api/v1/integrations/connectors?workspace_name={WS}");

    // The friendly answer (None) names the token endpoint's own origin: plain HTTP on loopback,
    // which the check allows for that very host only.
    for hostile in
        [Some("https://evil.example"), Some("https://127.0.0.1.evil.example"), Some("http://localhost"), None]
    {
        let (server, grants) =
            token_endpoint("/services/oauth2/token", |origin| json!({"instance_url": hostile.unwrap_or(origin)})).await;
        let instance_url = hostile.map_or_else(|| server.clone(), str::to_string);
        let kept = hostile.is_none();
        let token_url = format!("{server}/services/oauth2/token");
        let body = json!({"connector_type": "salesforce", "workspace_name": WS, "config": {"token_url": token_url}});
        let a = initiate(&e, &app, None, body).await;
        assert_eq!(a.status, 200, "{}", a.text);
        let state = a.body["state"].as_str().unwrap_or_default().to_string();
        let (status, _, page, _) = visit(&e.url(&format!("/api/v1/oauth/callback?code=c-1&state={state}"))).await;
        assert_eq!(grants.load(std::sync::atomic::Ordering::SeqCst), 1, "the code was exchanged once: {page}");
        assert!(!page.contains("at-consent") && !page.contains("rt-consent"), "{page}");
        assert!(!page.contains(creds::OAUTH_CLIENT_SECRET), "{page}");
        let list = e.get(&listing, &app).await;
        let made = list.body["data"].as_array().map(Vec::len).unwrap_or_default();
        if !kept {
            assert_eq!(status, 502, "{instance_url}: {page}");
            assert!(page.contains("did not accept the authorization"), "{instance_url}: {page}");
            assert!(page.contains("exchange_failed"), "{page}");
            assert_eq!(made, 0, "{instance_url}: no connector from a refused answer: {}", list.text);
            continue;
        }
        assert_eq!(status, 200, "{page}");
        let id = connector_id_from_page(&page);
        assert_eq!(made, 1, "{}", list.text);
        let stored = stored_credentials(&e, &id).await;
        assert_eq!(stored["instance_url"], json!(instance_url), "{stored}");
        assert_eq!(stored["access_token"], json!("at-consent"), "{stored}");
    }
}

/// A consent started before consents stored their config apart (its state row has no `config`;
/// the server variables came in its replication config) still creates its connector, with those
/// variables as its config.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consent_started_before_the_upgrade_creates_its_connector() {
    let (token_server, grants) = token_endpoint("/oauth/token", |_| json!({})).await;
    let fake = fake().await;
    let Some(e) = engine(Backend::Sqlite, &fake, |s| {
        s.upstream_base_urls.insert("jira".into(), token_server.clone());
    })
    .await
    else {
        return;
    };
    let app = e.app_token().await;
    client_without_scopes(&e, &app, "jira").await;
    let body = json!({"connector_type": "jira", "workspace_name": WS, "config": {"subdomain": "acme"}});
    let a = initiate(&e, &app, None, body).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let state = a.body["state"].as_str().unwrap_or_default().to_string();
    // The row as the release before wrote it.
    let hash = switchboard_engine::services::oauth::state_hash(&state);
    {
        use sqlx::Connection;
        let url = format!("sqlite://{}", e.dir.0.join("switchboard.db").display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap_or_else(|e| panic!("{e}"));
        let done = sqlx::query("UPDATE oauth_states SET config = NULL, replication_config = $1 WHERE state_hash = $2")
            .bind(json!({"subdomain": "acme"}).to_string())
            .bind(&hash)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(done.rows_affected(), 1);
    }
    let (status, _, page, _) = visit(&e.url(&format!("/api/v1/oauth/callback?code=c-1&state={state}"))).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(grants.load(std::sync::atomic::Ordering::SeqCst), 1);
    let id = connector_id_from_page(&page);
    let row = e.state.db.get_connector(&e.app.organization_id, None, &id).await.unwrap_or_else(|e| panic!("{e:?}"));
    let config = row.and_then(|r| r.config).map(|c| serde_json::from_str::<Value>(&c).unwrap_or_default());
    assert_eq!(config, Some(json!({"subdomain": "acme"})), "the replication config's server variables are its config");
    let stored = stored_credentials(&e, &id).await;
    assert_eq!(stored["refresh_token"], json!("rt-consent"), "{stored}");
}
