//! More runtime features connectors' real APIs need (issue 13), run over real sockets against
//! the generic fake playing the provider the way it documents itself:
//! - Google's service-account flow (RFC 7523 JWT-bearer grant): the runtime signs an RS256 JWT
//!   with the key of the account's JSON key and trades it for an access token, cached until it
//!   expires, one grant for concurrent calls; the fake verifies the signature with the public
//!   half of a test key pair (tests/fake-upstream/testdata) and the claims.
//! - Salesforce's `instance_url`: the token answer names the org's host, the first call after
//!   the refresh goes there, and a token answer naming a host outside the token endpoint's
//!   domain is refused before any API call carries the token there.
//! - Salesforce's free-form sObject bodies: create and update send whatever fields are given.

use std::sync::{Arc, Mutex};

use base64::Engine;
use fake_upstream::generic::{
    service_account_key, service_account_key_with, JWT_BEARER_GRANT, SERVICE_ACCOUNT_EMAIL,
    UNTRUSTED_SERVICE_ACCOUNT_PEM,
};
use fake_upstream::{creds, FakeUpstream, Fault, RecordedRequest};
use futures::future::BoxFuture;
use serde_json::{json, Map, Value};
use switchboard_core::{Connector, ConnectorOptions, ErrorCode, ExecuteOptions, Registry, TokenSink, TokenUpdate};

async fn fake() -> FakeUpstream {
    FakeUpstream::start().await.unwrap_or_else(|e| panic!("fake upstream: {e}"))
}

fn spec(slug: &str) -> Arc<switchboard_core::ConnectorSpec> {
    Registry::builtin().and_then(|r| r.get(slug)).unwrap_or_else(|e| panic!("{e}"))
}

fn connector(slug: &str, credentials: Value, config: Value, options: ConnectorOptions) -> Connector {
    Connector::new(spec(slug), credentials, config, options).unwrap_or_else(|e| panic!("{e}"))
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

/// Collects the tokens the runtime obtains, as an app's `on_token_refresh` would.
#[derive(Default)]
struct Collect(Mutex<Vec<TokenUpdate>>);

impl TokenSink for Collect {
    fn token_refreshed(&self, update: TokenUpdate) -> BoxFuture<'_, switchboard_core::Result<()>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(update);
        Box::pin(async { Ok(()) })
    }
}

fn form(body: &str) -> Map<String, Value> {
    url::form_urlencoded::parse(body.as_bytes()).map(|(k, v)| (k.into_owned(), Value::String(v.into_owned()))).collect()
}

fn jwt_part(jwt: &str, i: usize) -> Map<String, Value> {
    let part = jwt.split('.').nth(i).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("JWT part {i} is no JSON object: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Google Analytics: the service-account JWT-bearer grant

const GA: &str = "google-analytics-data-api";
const GA_SCOPE: &str = "https://www.googleapis.com/auth/analytics.readonly";

fn ga_token_url(fake: &FakeUpstream) -> String {
    format!("{}/_oauth/token", fake.base_url(GA))
}

fn ga(fake: &FakeUpstream, credentials: Value, sink: Option<Arc<Collect>>) -> Connector {
    let options = ConnectorOptions { token_sink: sink.map(|s| s as Arc<dyn TokenSink>), ..Default::default() };
    let config = json!({"base_url": fake.base_url(GA), "token_url": ga_token_url(fake)});
    connector(GA, credentials, config, options)
}

fn ga_key(fake: &FakeUpstream) -> Value {
    json!({"credentials_json": service_account_key(&ga_token_url(fake))})
}

async fn overview(c: &Connector) -> switchboard_core::Result<switchboard_core::ExecutionResult> {
    c.execute("website_overview", "list", json!({"property_id": "312345678"}), &ExecuteOptions::default()).await
}

fn ga_grants(fake: &FakeUpstream) -> Vec<RecordedRequest> {
    fake.requests_for(GA).into_iter().filter(|r| r.path.ends_with("/_oauth/token")).collect()
}

fn ga_api_tokens(fake: &FakeUpstream) -> Vec<String> {
    fake.requests_for(GA)
        .into_iter()
        .filter(|r| r.path.ends_with(":runReport"))
        .map(|r| r.headers.get("authorization").cloned().unwrap_or_default())
        .collect()
}

fn ga_grant_calls(fake: &FakeUpstream) -> u64 {
    fake.state.with_oauth(GA, |o| o.refresh_calls)
}

#[tokio::test]
async fn google_service_account_signs_a_jwt_for_a_token_and_caches_it() {
    let fake = fake().await;
    fake.state.with_oauth(GA, |o| o.expires_in = 3599); // Google's answer
    let sink = Arc::new(Collect::default());
    let c = ga(&fake, ga_key(&fake), Some(sink.clone()));
    // Concurrent first calls share one grant.
    let calls: Vec<_> = (0..4).map(|_| overview(&c)).collect();
    for r in futures::future::join_all(calls).await {
        assert!(r.is_ok(), "{r:?}");
    }
    assert!(overview(&c).await.is_ok());
    assert_eq!(ga_grant_calls(&fake), 1, "one grant, then the cached token");

    let g = ga_grants(&fake);
    assert_eq!(g.len(), 1);
    let g = &g[0];
    assert_eq!(g.method, "POST");
    assert_eq!(g.headers.get("content-type").map(String::as_str), Some("application/x-www-form-urlencoded"));
    assert!(!g.headers.contains_key("authorization"), "the assertion is the only proof");
    let fields = form(&g.body);
    let mut keys: Vec<&str> = fields.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["assertion", "grant_type"], "no client id, secret or key in the body");
    assert_eq!(fields["grant_type"], JWT_BEARER_GRANT);
    let jwt = fields["assertion"].as_str().unwrap_or_default();
    assert_eq!(jwt.split('.').count(), 3);
    assert_eq!(Value::Object(jwt_part(jwt, 0)), json!({"alg": "RS256", "typ": "JWT"}));
    let claims = jwt_part(jwt, 1);
    assert_eq!(claims["iss"], SERVICE_ACCOUNT_EMAIL);
    assert_eq!(claims["aud"], ga_token_url(&fake).as_str());
    assert_eq!(claims["scope"], GA_SCOPE);
    let (iat, exp) = (claims["iat"].as_i64().unwrap_or_default(), claims["exp"].as_i64().unwrap_or_default());
    assert!((now() - 5..=now() + 5).contains(&iat), "iat {iat}");
    assert_eq!(exp - iat, 3600, "Google takes at most an hour");

    let tokens = ga_api_tokens(&fake);
    assert_eq!(tokens.len(), 5);
    assert!(tokens.iter().all(|t| t == "Bearer ya29.fake-google-analytics-data-api-sa-0001"), "{tokens:?}");

    let updates = sink.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].access_token, "ya29.fake-google-analytics-data-api-sa-0001");
    assert_eq!(updates[0].refresh_token, None, "the JWT-bearer grant has no refresh token");
    let expires_at = updates[0].expires_at.unwrap_or_default();
    assert!((now() + 3599 - 5..=now() + 3599 + 5).contains(&expires_at), "expires_at {expires_at}");
}

#[tokio::test]
async fn google_service_account_signs_a_new_jwt_when_the_token_expires() {
    let fake = fake().await;
    // A token that lives no longer than the runtime's expiry margin is stale at once.
    fake.state.with_oauth(GA, |o| o.expires_in = 30);
    let c = ga(&fake, ga_key(&fake), None);
    assert!(overview(&c).await.is_ok());
    assert!(overview(&c).await.is_ok());
    assert_eq!(ga_grant_calls(&fake), 2);
    assert_eq!(
        ga_api_tokens(&fake),
        ["Bearer ya29.fake-google-analytics-data-api-sa-0001", "Bearer ya29.fake-google-analytics-data-api-sa-0002"]
    );
    let g = ga_grants(&fake);
    let assertions: Vec<String> =
        g.iter().map(|r| form(&r.body)["assertion"].as_str().unwrap_or_default().into()).collect();
    assert_eq!(assertions.len(), 2);
}

#[tokio::test]
async fn google_service_account_replaces_a_rejected_token() {
    let fake = fake().await;
    let mut creds = ga_key(&fake);
    creds["access_token"] = json!(creds::OAUTH_EXPIRED_ACCESS_TOKEN);
    let c = ga(&fake, creds, None);
    let r = overview(&c).await;
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(ga_grant_calls(&fake), 1);
    assert_eq!(
        ga_api_tokens(&fake),
        [
            format!("Bearer {}", creds::OAUTH_EXPIRED_ACCESS_TOKEN),
            "Bearer ya29.fake-google-analytics-data-api-sa-0001".into()
        ]
    );
}

/// The PEM body lines of `pem` long enough to be recognisable.
fn key_lines(pem: &str) -> Vec<&str> {
    pem.lines().filter(|l| !l.starts_with("-----") && l.len() >= 16).collect()
}

#[tokio::test]
async fn a_key_the_token_endpoint_does_not_trust_fails_without_the_key_in_the_error() {
    let fake = fake().await;
    let key = service_account_key_with(UNTRUSTED_SERVICE_ACCOUNT_PEM, &ga_token_url(&fake));
    let c = ga(&fake, json!({"credentials_json": key}), None);
    let err = overview(&c).await.err().unwrap_or_else(|| panic!("an untrusted key must fail"));
    assert_eq!(err.code, ErrorCode::UpstreamAuthentication, "{err}");
    assert_eq!(err.status_code, Some(400));
    assert!(err.message.contains("service account"), "{}", err.message);
    assert!(err.message.contains("Invalid JWT Signature"), "Google's reason is kept: {}", err.message);
    let shown = format!("{err} {err:?} {}", serde_json::to_string(&err).unwrap_or_default());
    for line in key_lines(UNTRUSTED_SERVICE_ACCOUNT_PEM) {
        assert!(!shown.contains(line), "key material in the error: {shown}");
    }
    assert!(ga_api_tokens(&fake).is_empty(), "no API call without a token");
    assert_eq!(ga_grant_calls(&fake), 1);
}

#[tokio::test]
async fn a_token_endpoint_echoing_the_assertion_has_it_redacted() {
    let fake = fake().await;
    // The endpoint quotes the whole request (the assertion) in its failure.
    fake.add_fault(Fault::echo(GA, 400));
    let c = ga(&fake, ga_key(&fake), None);
    let err = overview(&c).await.err().unwrap_or_else(|| panic!("a failed grant must fail the call"));
    let g = ga_grants(&fake);
    assert_eq!(g.len(), 1);
    let assertion = form(&g[0].body)["assertion"].as_str().unwrap_or_default().to_string();
    let signature = assertion.rsplit('.').next().unwrap_or_default().to_string();
    let shown = format!("{err} {err:?} {}", serde_json::to_string(&err).unwrap_or_default());
    assert!(!shown.contains(&assertion) && !shown.contains(&signature), "{shown}");
}

#[test]
fn a_malformed_service_account_key_is_a_configuration_error_that_names_no_secret() {
    let pem = fake_upstream::generic::TEST_SERVICE_ACCOUNT_PEM;
    let broken_pem = pem.replacen("MII", "@@@", 1);
    let cases = [
        ("not json {".to_string(), "not valid JSON"),
        (json!({"private_key": pem}).to_string(), "client_email"),
        (json!({"client_email": SERVICE_ACCOUNT_EMAIL}).to_string(), "private_key"),
        (json!({"client_email": SERVICE_ACCOUNT_EMAIL, "private_key": "hunter2-not-a-key"}).to_string(), "PEM"),
        (json!({"client_email": SERVICE_ACCOUNT_EMAIL, "private_key": broken_pem}).to_string(), "base64"),
    ];
    for (key, expected) in cases {
        let err = Connector::new(spec(GA), json!({"credentials_json": key}), json!({}), ConnectorOptions::default())
            .err()
            .unwrap_or_else(|| panic!("{expected}: a bad key must be refused"));
        assert_eq!(err.code, ErrorCode::Configuration, "{err}");
        assert!(err.message.contains(expected), "{expected}: {}", err.message);
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        for line in key_lines(pem) {
            assert!(!shown.contains(line), "{shown}");
        }
    }
}

#[tokio::test]
async fn a_malformed_key_beside_an_access_token_fails_only_when_a_grant_is_needed() {
    let fake = fake().await;
    let creds = json!({"credentials_json": "hunter2 is no key", "access_token": "ya29.given-0001"});
    let c = ga(&fake, creds.clone(), None);
    assert!(overview(&c).await.is_ok(), "the given token is used as is");
    let mut expired = creds;
    expired["access_token"] = json!(creds::OAUTH_EXPIRED_ACCESS_TOKEN);
    let c = ga(&fake, expired, None);
    let err = overview(&c).await.err().unwrap_or_else(|| panic!("the grant needs the key"));
    assert_eq!(err.code, ErrorCode::Configuration, "{err}");
    assert!(err.message.contains("not valid JSON"), "{}", err.message);
    assert!(!format!("{err} {err:?}").contains("hunter2"));
    assert!(ga_grants(&fake).is_empty(), "nothing signed, nothing sent");
}

// ---------------------------------------------------------------------------------------------
// Salesforce: the token answer's instance_url, and free-form sObject bodies

const SF: &str = "salesforce";

fn sf_refresh_creds() -> Value {
    json!({
        "refresh_token": creds::OAUTH_INITIAL_REFRESH_TOKEN,
        "client_id": creds::OAUTH_CLIENT_ID,
        "client_secret": creds::OAUTH_CLIENT_SECRET,
    })
}

/// A handle that knows only the token endpoint: the API host comes from the token answer.
fn sf_by_token(fake: &FakeUpstream, sink: Option<Arc<Collect>>) -> Connector {
    let options = ConnectorOptions { token_sink: sink.map(|s| s as Arc<dyn TokenSink>), ..Default::default() };
    connector(SF, sf_refresh_creds(), json!({"token_url": format!("{}/_oauth/token", fake.base_url(SF))}), options)
}

async fn accounts(c: &Connector) -> switchboard_core::Result<switchboard_core::ExecutionResult> {
    c.execute("accounts", "list", json!({}), &ExecuteOptions::default()).await
}

#[tokio::test]
async fn salesforce_calls_the_instance_url_the_token_answer_names() {
    let fake = fake().await;
    let sink = Arc::new(Collect::default());
    let c = sf_by_token(&fake, Some(sink.clone()));
    // Before any token, the handle would call the login host (the variable's default).
    assert_eq!(c.base_url().ok().as_deref(), Some("https://login.salesforce.com/services/data/v59.0"));
    let r = accounts(&c).await;
    assert!(r.is_ok(), "{r:?}");
    let instance = fake.base_url(SF);
    assert_eq!(c.base_url().ok(), Some(format!("{instance}/services/data/v59.0")));
    let seen: Vec<(String, String)> = fake.requests_for(SF).into_iter().map(|r| (r.method, r.path)).collect();
    assert_eq!(
        seen,
        [
            ("POST".to_string(), format!("/{SF}/_oauth/token")),
            ("GET".to_string(), format!("/{SF}/services/data/v59.0/query")),
        ],
        "the first call goes to the instance named by the token answer"
    );
    let updates = sink.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].extracted.get("instance_url"), Some(&instance), "stored with the token");
}

#[tokio::test]
async fn salesforce_config_instance_url_wins_over_the_token_answer() {
    let fake = fake().await;
    let instance = fake.base_url(SF);
    let config = json!({"token_url": format!("{instance}/_oauth/token"), "instance_url": instance});
    let c = connector(SF, sf_refresh_creds(), config, ConnectorOptions::default());
    assert!(accounts(&c).await.is_ok());
    assert_eq!(c.base_url().ok(), Some(format!("{instance}/services/data/v59.0")));
}

#[tokio::test]
async fn a_token_answer_naming_a_foreign_instance_url_is_refused() {
    for hostile in [
        "https://evil.example",
        "https://attacker.example/services",
        "http://127.0.0.2",
        "https://127.0.0.1@evil.example",
        "javascript:alert(1)",
    ] {
        let fake = fake().await;
        let token = "at-hostile-0001";
        fake.add_fault(Fault {
            prefix: SF.into(),
            status: 200,
            retry_after: None,
            count: 1,
            body: Some(json!({"access_token": token, "instance_url": hostile, "token_type": "Bearer"})),
            delay_ms: None,
            skip: 0,
            echo: false,
            echo_as: None,
        });
        let c = sf_by_token(&fake, None);
        let err = accounts(&c).await.err().unwrap_or_else(|| panic!("{hostile}: must be refused"));
        assert_eq!(err.code, ErrorCode::UpstreamAuthentication, "{hostile}: {err}");
        assert!(err.message.contains("instance_url") && err.message.contains("refused"), "{}", err.message);
        assert!(!format!("{err} {err:?}").contains(token), "{hostile}: the token leaked");
        let paths: Vec<String> = fake.requests_for(SF).into_iter().map(|r| r.path).collect();
        assert_eq!(paths, [format!("/{SF}/_oauth/token")], "{hostile}: no API call anywhere");
        assert_eq!(
            c.base_url().ok().as_deref(),
            Some("https://login.salesforce.com/services/data/v59.0"),
            "{hostile}: the refused host is not kept"
        );
    }
}

fn sf_direct(fake: &FakeUpstream) -> Connector {
    let creds = json!({"refresh_token": creds::OAUTH_INITIAL_REFRESH_TOKEN, "access_token": "sf-access-0001"});
    connector(SF, creds, json!({"base_url": fake.base_url(SF)}), ConnectorOptions::default())
}

#[tokio::test]
async fn salesforce_sobject_create_and_update_send_any_fields() {
    let fake = fake().await;
    let c = sf_direct(&fake);
    let record = json!({
        "Name": "Acme",
        "Industry": "Energy",
        "Invoice_Total__c": 1234.5,
        "Active__c": true,
        "Region__c": null,
        "Address__c": {"city": "Lyon", "lines": ["1 rue X"]},
    });
    let r = c
        .execute(
            "sobjects",
            "create",
            json!({"sobjectType": "Invoice__c", "record": record}),
            &ExecuteOptions::default(),
        )
        .await;
    assert!(r.is_ok(), "{r:?}");
    let r = c
        .execute(
            "sobjects",
            "update",
            json!({"sobjectType": "Invoice__c", "id": "a0B000000000001", "record": {"Custom_Flag__c": false, "Description": "x"}}),
            &ExecuteOptions::default(),
        )
        .await;
    assert!(r.is_ok(), "{r:?}");
    let seen = fake.requests_for(SF);
    assert_eq!(seen.len(), 2);
    assert_eq!((seen[0].method.as_str(), seen[0].path.as_str()), ("POST", "/salesforce/sobjects/Invoice__c"));
    assert_eq!(seen[0].body_parsed, record, "the record is the body, every field as given");
    assert_eq!(
        (seen[1].method.as_str(), seen[1].path.as_str()),
        ("PATCH", "/salesforce/sobjects/Invoice__c/a0B000000000001")
    );
    assert_eq!(seen[1].body_parsed, json!({"Custom_Flag__c": false, "Description": "x"}));
    // The record itself must still be an object.
    let err = c
        .execute(
            "sobjects",
            "create",
            json!({"sobjectType": "Account", "record": ["Name"]}),
            &ExecuteOptions::default(),
        )
        .await
        .err()
        .unwrap_or_else(|| panic!("a non-object record must be refused"));
    assert_eq!(err.code, ErrorCode::Validation, "{err}");
    assert_eq!(fake.requests_for(SF).len(), 2, "nothing sent");
}

// ---------------------------------------------------------------------------------------------
// A credential HTTP cannot carry

/// A token with a line break or NUL cannot go in a header: the connector is refused as
/// `configuration` when it is made (what the caller must fix), naming the field but not the
/// value, and nothing is ever sent. It was `network` after two seconds of retries, then
/// `configuration` at every call.
#[tokio::test]
async fn a_credential_a_header_cannot_carry_is_not_sent() {
    let fake = fake().await;
    let spec = Registry::builtin().and_then(|r| r.get("github")).unwrap_or_else(|e| panic!("{e}"));
    for token in ["ghp_line\r\nX-Injected: 1", "ghp_nul\0byte", "ghp_lf\nbreak"] {
        let e = Connector::new(
            spec.clone(),
            json!({"personal_access_token": token}),
            json!({"base_url": fake.base_url("github")}),
            ConnectorOptions::default(),
        )
        .err()
        .unwrap_or_else(|| panic!("{token:?} was taken"));
        assert_eq!(e.code, ErrorCode::Configuration, "{token:?}: {e}");
        assert!(e.message.contains("credentials.personal_access_token") && e.message.contains("header"), "{e}");
        assert!(!e.message.contains("ghp_"), "{e}");
    }
    assert!(fake.requests_for("github").is_empty(), "{:?}", fake.requests_for("github"));
}

/// `paginate` of a write refuses it before anything is sent: paging runs its operation once per
/// page, and a caller asking for pages does not mean to write.
#[tokio::test]
async fn paginate_refuses_a_write() {
    use futures::StreamExt;
    let fake = fake().await;
    let gh = connector(
        "github",
        json!({"personal_access_token": creds::GITHUB_TOKEN}),
        json!({"base_url": fake.base_url("github")}),
        ConnectorOptions::default(),
    );
    let params = json!({"owner": "octo", "repo": "hello", "title": "x", "issue_number": 1});
    for action in ["create", "update"] {
        let pages: Vec<_> = gh.paginate("issues", action, params.clone(), ExecuteOptions::default()).collect().await;
        let [Err(e)] = pages.as_slice() else { panic!("{action}: {} pages", pages.len()) };
        assert_eq!(e.code, ErrorCode::Validation, "{action}: {e}");
        assert!(e.message.contains("call execute"), "{e}");
    }
    // A list still pages.
    let pages: Vec<_> = gh
        .paginate("issues", "list", json!({"owner": "octo", "repo": "hello"}), ExecuteOptions::default())
        .collect()
        .await;
    assert!(!pages.is_empty() && pages.iter().all(Result::is_ok));
    assert!(
        fake.requests_for("github").iter().all(|r| r.method == "POST" && r.path.ends_with("/graphql")),
        "a write was sent"
    );
}
