//! Runtime features some connectors' real APIs need beyond the common ones (issue 13), each run
//! over real sockets against the generic fake playing the connector the way its provider
//! documents it:
//! - PayPal's OAuth client-credentials grant: a token from the client id and secret alone,
//!   cached until it expires, renewed on expiry or a 401, one grant for concurrent calls.
//! - TikTok's errors in success answers: any `code` but 0 fails (`x-response-error-check`'s
//!   `ok_value` form), its documented codes mapped to public error codes.
//! - ClickUp's task pages: `page` from 0 (its declared default) until `last_page: true`.
//! - Mailchimp's data center from the API key's suffix (`x-from-credential`), config first.
//! - The generic fake playing LinkedIn's Rest.li compound keys and reading vendor `+json` bodies.

mod support;

use std::sync::{Arc, Mutex};

use base64::Engine;
use fake_upstream::{creds, FakeUpstream, RecordedRequest};
use futures::future::BoxFuture;
use futures::StreamExt;
use serde_json::{json, Value};
use switchboard_core::{Connector, ConnectorOptions, ErrorCode, ExecuteOptions, Registry, TokenSink, TokenUpdate};

async fn fake() -> FakeUpstream {
    FakeUpstream::start().await.unwrap_or_else(|e| panic!("fake upstream: {e}"))
}

fn connector(slug: &str, credentials: Value, config: Value, options: ConnectorOptions) -> Connector {
    let spec = Registry::builtin().and_then(|r| r.get(slug)).unwrap_or_else(|e| panic!("{e}"));
    Connector::new(spec, credentials, config, options).unwrap_or_else(|e| panic!("{e}"))
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

// ---------------------------------------------------------------------------------------------
// PayPal: client credentials

const PAYPAL: &str = "paypal-transaction";

fn paypal(fake: &FakeUpstream, credentials: Value, sink: Option<Arc<Collect>>) -> Connector {
    // No token_url: the spec's https://{api_host}/v1/oauth2/token follows config.base_url.
    let options = ConnectorOptions { token_sink: sink.map(|s| s as Arc<dyn TokenSink>), ..Default::default() };
    connector(PAYPAL, credentials, json!({"base_url": fake.base_url(PAYPAL)}), options)
}

fn paypal_client() -> Value {
    json!({"client_id": creds::OAUTH_CLIENT_ID, "client_secret": creds::OAUTH_CLIENT_SECRET})
}

async fn balances(c: &Connector) -> switchboard_core::Result<switchboard_core::ExecutionResult> {
    c.execute("balances", "list", json!({"currency_code": "USD"}), &ExecuteOptions::default()).await
}

fn grants(fake: &FakeUpstream) -> Vec<RecordedRequest> {
    fake.requests_for(PAYPAL).into_iter().filter(|r| r.path.ends_with("/v1/oauth2/token")).collect()
}

fn api_tokens(fake: &FakeUpstream) -> Vec<String> {
    fake.requests_for(PAYPAL)
        .into_iter()
        .filter(|r| r.path.ends_with("/v1/reporting/balances"))
        .map(|r| r.headers.get("authorization").cloned().unwrap_or_default())
        .collect()
}

fn grant_calls(fake: &FakeUpstream) -> u64 {
    fake.state.with_oauth(PAYPAL, |o| o.refresh_calls)
}

#[tokio::test]
async fn paypal_gets_a_token_with_the_client_credentials_and_caches_it() {
    let fake = fake().await;
    fake.state.with_oauth(PAYPAL, |o| o.expires_in = 32400); // PayPal's documented lifetime
    let sink = Arc::new(Collect::default());
    let c = paypal(&fake, paypal_client(), Some(sink.clone()));
    // Concurrent first calls share one grant.
    let calls: Vec<_> = (0..4).map(|_| balances(&c)).collect();
    for r in futures::future::join_all(calls).await {
        assert!(r.is_ok(), "{r:?}");
    }
    assert!(balances(&c).await.is_ok());
    assert_eq!(grant_calls(&fake), 1, "one grant, then the cached token");

    let g = grants(&fake);
    assert_eq!(g.len(), 1);
    let g = &g[0];
    assert_eq!(g.method, "POST");
    assert_eq!(g.path, format!("/{PAYPAL}/v1/oauth2/token"));
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        creds::OAUTH_CLIENT_ID,
        creds::OAUTH_CLIENT_SECRET
    ));
    assert_eq!(g.headers.get("authorization"), Some(&format!("Basic {basic}")));
    assert_eq!(g.headers.get("content-type").map(String::as_str), Some("application/x-www-form-urlencoded"));
    assert_eq!(g.body, "grant_type=client_credentials", "no refresh token, no secret in the body");

    let tokens = api_tokens(&fake);
    assert_eq!(tokens.len(), 5);
    assert!(tokens.iter().all(|t| t == "Bearer at-paypal-transaction-cc-0001"), "{tokens:?}");

    let updates = sink.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].access_token, "at-paypal-transaction-cc-0001");
    assert_eq!(updates[0].refresh_token, None, "the client-credentials grant has no refresh token");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let expires_at = updates[0].expires_at.unwrap_or_default();
    assert!((now + 32400 - 5..=now + 32400 + 5).contains(&expires_at), "expires_at {expires_at}, now {now}");
}

#[tokio::test]
async fn paypal_gets_a_new_token_when_the_cached_one_expires() {
    let fake = fake().await;
    // A token that lives no longer than the runtime's expiry margin is stale at once.
    fake.state.with_oauth(PAYPAL, |o| o.expires_in = 30);
    let c = paypal(&fake, paypal_client(), None);
    assert!(balances(&c).await.is_ok());
    assert!(balances(&c).await.is_ok());
    assert_eq!(grant_calls(&fake), 2);
    assert_eq!(api_tokens(&fake), ["Bearer at-paypal-transaction-cc-0001", "Bearer at-paypal-transaction-cc-0002"]);
}

#[tokio::test]
async fn paypal_replaces_a_rejected_token_with_a_new_grant() {
    let fake = fake().await;
    let sink = Arc::new(Collect::default());
    let mut creds = paypal_client();
    creds["access_token"] = json!(creds::OAUTH_EXPIRED_ACCESS_TOKEN);
    let c = paypal(&fake, creds, Some(sink.clone()));
    let r = balances(&c).await;
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(grant_calls(&fake), 1);
    assert_eq!(
        api_tokens(&fake),
        [format!("Bearer {}", creds::OAUTH_EXPIRED_ACCESS_TOKEN), "Bearer at-paypal-transaction-cc-0001".to_string()]
    );
    assert_eq!(sink.0.lock().unwrap_or_else(|e| e.into_inner()).len(), 1);
    // The given token was not expired by its clock: only the 401 made the runtime renew it.
    assert!(balances(&c).await.is_ok());
    assert_eq!(grant_calls(&fake), 1);
}

#[tokio::test]
async fn paypal_with_a_wrong_secret_is_an_authentication_error_without_the_secret() {
    let fake = fake().await;
    let secret = "wrong-secret-8f3a1c";
    let c = paypal(&fake, json!({"client_id": creds::OAUTH_CLIENT_ID, "client_secret": secret}), None);
    let err = balances(&c).await.err().unwrap_or_else(|| panic!("a wrong secret must fail"));
    assert_eq!(err.code, ErrorCode::UpstreamAuthentication, "{err}");
    assert_eq!(err.status_code, Some(401));
    assert!(err.message.contains("client credentials"), "{}", err.message);
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(secret), "{shown}");
    assert!(api_tokens(&fake).is_empty(), "no API call without a token");
}

#[tokio::test]
async fn oauth_without_a_client_credentials_flow_still_needs_a_token() {
    // HubSpot's OAuth offers no client-credentials grant: the client alone is not enough.
    let spec = Registry::builtin().and_then(|r| r.get("hubspot")).unwrap_or_else(|e| panic!("{e}"));
    let err = Connector::new(
        spec,
        json!({"client_id": creds::OAUTH_CLIENT_ID, "client_secret": creds::OAUTH_CLIENT_SECRET}),
        json!({}),
        ConnectorOptions::default(),
    )
    .err()
    .unwrap_or_else(|| panic!("must fail"));
    assert_eq!(err.code, ErrorCode::Configuration, "{err}");
}

// ---------------------------------------------------------------------------------------------
// TikTok: any `code` but 0 in a 200 answer is a failure

const TIKTOK: &str = "tiktok-marketing";

fn tiktok_on(http: Arc<support::seam::Seam>) -> Connector {
    let options = ConnectorOptions { http: Some(http), ..Default::default() };
    connector(TIKTOK, json!({"access_token": "act.tiktok-token-0001"}), json!({}), options)
}

async fn campaigns(c: &Connector) -> switchboard_core::Result<switchboard_core::ExecutionResult> {
    c.execute("campaigns", "list", json!({"advertiser_id": "7012345678901234567"}), &ExecuteOptions::default()).await
}

#[tokio::test]
async fn tiktok_codes_map_to_public_error_codes() {
    let cases = [
        (40001, "No permission to operate advertiser 7012345678901234567", ErrorCode::Forbidden),
        (40002, "page_size: Must be less than or equal to 1000.", ErrorCode::Validation),
        (40007, "The advertiser does not exist", ErrorCode::NotFound),
        (40105, "Access token is incorrect or has been revoked.", ErrorCode::UpstreamAuthentication),
        (50002, "System error", ErrorCode::UpstreamHttp),
    ];
    for (code, message, expected) in cases {
        let seam = support::seam::Seam::new(move |_| {
            (200, Vec::new(), json!({"code": code, "message": message, "request_id": "2024010112000001", "data": {}}))
        });
        let err = campaigns(&tiktok_on(seam.clone())).await.err().unwrap_or_else(|| panic!("{code} must fail"));
        assert_eq!(err.code, expected, "{code}: {err}");
        assert_eq!(err.status_code, Some(200), "{code}");
        assert!(err.message.contains(message), "{code}: {}", err.message);
        assert!(err.message.contains(&format!("code {code}")), "{code}: {}", err.message);
        // A token the API rejected gets no retry (nothing to refresh); the others are not retried
        // either: none is a rate limit.
        assert_eq!(seam.sent().len(), 1, "{code}");
    }
}

#[tokio::test]
async fn tiktok_rate_limit_code_is_retried_then_surfaces_as_rate_limited() {
    let seam = support::seam::Seam::new(|_| {
        (200, Vec::new(), json!({"code": 40100, "message": "Too many requests.", "request_id": "r1", "data": {}}))
    });
    let options = ConnectorOptions {
        http: Some(seam.clone()),
        retry: Some(switchboard_core::spec::RetryConfig {
            max_attempts: 3,
            initial_delay_ms: 1,
            max_delay_ms: 5,
            max_elapsed_ms: 1000,
        }),
        ..Default::default()
    };
    let c = connector(TIKTOK, json!({"access_token": "act.tiktok-token-0001"}), json!({}), options);
    let err = campaigns(&c).await.err().unwrap_or_else(|| panic!("must fail"));
    assert_eq!(err.code, ErrorCode::RateLimited, "{err}");
    assert_eq!(seam.sent().len(), 3, "a GET answered with the rate-limit code is retried");
}

#[tokio::test]
async fn tiktok_code_zero_and_answers_without_a_code_succeed() {
    let page = json!({"code": 0, "message": "OK", "request_id": "r2",
        "data": {"list": [{"campaign_id": "1", "campaign_name": "a"}], "page_info": {"total_number": 1}}});
    let seam = support::seam::Seam::new(move |_| (200, Vec::new(), page.clone()));
    let r = campaigns(&tiktok_on(seam)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.data.as_array().map(Vec::len), Some(1));
    // `0.0` is 0 too; an answer without the field is no failure.
    for body in [json!({"code": 0.0, "data": {"list": []}}), json!({"data": {"list": []}})] {
        let seam = support::seam::Seam::new(move |_| (200, Vec::new(), body.clone()));
        let r = campaigns(&tiktok_on(seam)).await;
        assert!(r.is_ok(), "{r:?}");
    }
}

#[tokio::test]
async fn tiktok_against_the_generic_fake() {
    let fake = fake().await;
    let config = json!({"base_url": fake.base_url(TIKTOK)});
    let good = connector(TIKTOK, json!({"access_token": "act.tiktok-token-0001"}), config.clone(), Default::default());
    let r = campaigns(&good).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(r.data.as_array().is_some_and(|a| !a.is_empty()));
    let bad = connector(TIKTOK, json!({"access_token": "invalid-token"}), config, Default::default());
    let err = campaigns(&bad).await.err().unwrap_or_else(|| panic!("must fail"));
    assert_eq!(err.code, ErrorCode::UpstreamAuthentication, "{err}");
    assert!(err.message.contains("code 40105"), "{}", err.message);
    assert!(!err.message.contains("invalid-token"), "{}", err.message);
}

#[test]
fn an_error_check_takes_on_value_or_ok_value_not_both() {
    let doc = |check: &str| {
        format!(
            r#"
openapi: 3.1.0
info:
  title: T
  version: "1"
  x-connector-name: t
  x-connector-definition-id: 00000000-0000-0000-0000-000000000009
  x-response-error-check: {check}
servers: [{{url: "https://api.example.com"}}]
paths:
  /things:
    get: {{x-entity: things, x-action: list, responses: {{"200": {{description: ok}}}}}}
"#
        )
    };
    let both = switchboard_core::spec::parse_spec("t.yaml", &doc("{field: code, on_value: 1, ok_value: 0}"));
    let err = both.err().unwrap_or_else(|| panic!("both must be refused"));
    assert!(err.message.contains("not both"), "{}", err.message);
    let neither = switchboard_core::spec::parse_spec("t.yaml", &doc("{field: code}"));
    assert!(neither.is_err());
    let spec =
        switchboard_core::spec::parse_spec("t.yaml", &doc("{field: result.code, ok_value: OK, message_field: msg}"))
            .unwrap_or_else(|e| panic!("{e}"));
    let check = spec.operations[0].error_check.clone().unwrap_or_else(|| panic!("check"));
    assert!(check.on_other);
    assert_eq!(check.failure(&json!({"result": {"code": "OK"}})), None);
    assert_eq!(check.failure(&json!({"result": {"code": "E1"}, "msg": "broken"})), Some("broken".to_string()));
    assert_eq!(check.failure(&json!({"other": 1})), None);
}

// ---------------------------------------------------------------------------------------------
// ClickUp: pages from 0 until `last_page: true`

const CLICKUP: &str = "clickup-api";

fn clickup_on(http: Arc<support::seam::Seam>) -> Connector {
    let options = ConnectorOptions { http: Some(http), ..Default::default() };
    connector(CLICKUP, json!({"api_key": "pk_1_TOKEN"}), json!({}), options)
}

fn page_of(url: &str) -> Option<String> {
    url::Url::parse(url).ok()?.query_pairs().find(|(k, _)| k == "page").map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn clickup_pages_from_zero_until_last_page() {
    // ClickUp's pages: 100 tasks each (3 here), `last_page` true on the last one, which may be
    // full: only the flag ends the pages.
    let seam = support::seam::Seam::new(|req| {
        let page: usize = page_of(&req.url).and_then(|p| p.parse().ok()).unwrap_or(0);
        let tasks: Vec<Value> = (0..3).map(|i| json!({"id": format!("t{}", page * 3 + i), "name": "task"})).collect();
        (200, Vec::new(), json!({"tasks": tasks, "last_page": page == 2}))
    });
    let c = clickup_on(seam.clone());
    let pages: Vec<_> =
        c.paginate("tasks", "list", json!({"list_id": "901234567"}), ExecuteOptions::default()).collect().await;
    let ids: Vec<String> = pages
        .iter()
        .map(|p| p.as_ref().unwrap_or_else(|e| panic!("{e}")))
        .flat_map(|p| p.data.as_array().cloned().unwrap_or_default())
        .filter_map(|t| t.get("id").and_then(Value::as_str).map(str::to_string))
        .collect();
    assert_eq!(ids, ["t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8"]);
    let sent: Vec<Option<String>> = seam.urls().iter().map(|u| page_of(u)).collect();
    assert_eq!(sent, [None, Some("1".into()), Some("2".into())], "page 0 is the default, not sent");
    let last = pages.last().and_then(|p| p.as_ref().ok()).unwrap_or_else(|| panic!("pages"));
    assert_eq!(last.meta.get("last_page"), Some(&json!(true)));
    assert!(last.next_page.is_none());
}

#[tokio::test]
async fn clickup_next_page_follows_the_page_asked_for() {
    let seam = support::seam::Seam::new(|_| (200, Vec::new(), json!({"tasks": [{"id": "t"}], "last_page": false})));
    let c = clickup_on(seam);
    let r = c
        .execute("tasks", "search", json!({"team_id": "9012345", "page": 4}), &ExecuteOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let next = r.next_page.unwrap_or_else(|| panic!("last_page false: there is a next page"));
    assert_eq!((next.param.as_str(), next.cursor.clone()), ("page", json!(5)));
}

#[tokio::test]
async fn clickup_against_the_generic_fake() {
    let fake = fake().await;
    let c = connector(
        CLICKUP,
        json!({"api_key": "pk_1_TOKEN"}),
        json!({"base_url": fake.base_url(CLICKUP)}),
        Default::default(),
    );
    let pages: Vec<_> =
        c.paginate("view_tasks", "list", json!({"view_id": "3c-105"}), ExecuteOptions::default()).collect().await;
    let flags: Vec<Value> = pages
        .iter()
        .map(|p| p.as_ref().unwrap_or_else(|e| panic!("{e}")).meta.get("last_page").cloned().unwrap_or_default())
        .collect();
    assert_eq!(flags, [json!(false), json!(false), json!(true)]);
    let records: usize = pages.iter().filter_map(|p| p.as_ref().ok()?.data.as_array().map(Vec::len)).sum();
    assert_eq!(records, fake_upstream::generic::TOTAL);
}

#[test]
fn a_last_page_flag_must_be_an_extracted_meta_key() {
    let spec = r#"
openapi: 3.1.0
info: {title: T, version: "1", x-connector-name: t, x-connector-definition-id: 00000000-0000-0000-0000-00000000000a}
servers: [{url: "https://api.example.com"}]
paths:
  /things:
    get:
      x-entity: things
      x-action: list
      x-meta-extractor: {done: $.last_page}
      x-pagination: {param: page, style: page, last_page: last}
      parameters: [{name: page, in: query, schema: {type: integer, default: 0}}]
      responses: {"200": {description: ok}}
"#;
    let err = switchboard_core::spec::parse_spec("t.yaml", spec).err().unwrap_or_else(|| panic!("must fail"));
    assert!(err.message.contains("last_page"), "{}", err.message);
}

// ---------------------------------------------------------------------------------------------
// Mailchimp: the data center from the API key's suffix

const MAILCHIMP: &str = "mailchimp";

fn mailchimp_on(http: Arc<support::seam::Seam>, key: &str, config: Value) -> switchboard_core::Result<Connector> {
    let spec = Registry::builtin().and_then(|r| r.get(MAILCHIMP)).unwrap_or_else(|e| panic!("{e}"));
    let options = ConnectorOptions { http: Some(http), ..Default::default() };
    Connector::new(spec, json!({"api_key": key}), config, options)
}

#[tokio::test]
async fn mailchimp_takes_the_data_center_from_the_key_and_config_wins() {
    let seam = support::seam::Seam::new(|_| (200, Vec::new(), json!({"lists": [], "total_items": 0})));
    let c = mailchimp_on(seam.clone(), "0123456789abcdef0123456789abcdef-us21", json!({}))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.base_url().ok().as_deref(), Some("https://us21.api.mailchimp.com/3.0"));
    c.execute("lists", "list", json!({}), &ExecuteOptions::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let urls = seam.urls();
    assert!(urls[0].starts_with("https://us21.api.mailchimp.com/3.0/lists"), "{urls:?}");
    // The reference's credential name (`apikey`) works too.
    let spec = Registry::builtin().and_then(|r| r.get(MAILCHIMP)).unwrap_or_else(|e| panic!("{e}"));
    let aliased = Connector::new(spec, json!({"apikey": "k-us6"}), json!({}), ConnectorOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(aliased.base_url().ok().as_deref(), Some("https://us6.api.mailchimp.com/3.0"));

    let over =
        mailchimp_on(seam, "0123456789abcdef-us21", json!({"data_center": "us3"})).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(over.base_url().ok().as_deref(), Some("https://us3.api.mailchimp.com/3.0"));
}

#[test]
fn mailchimp_key_without_a_data_center_needs_the_config() {
    let seam = support::seam::Seam::ok();
    let secret = "0123456789abcdef0123456789abcdef";
    let err = mailchimp_on(seam.clone(), secret, json!({})).err().unwrap_or_else(|| panic!("must fail"));
    assert_eq!(err.code, ErrorCode::Configuration, "{err}");
    assert!(err.message.contains("data_center"), "{}", err.message);
    assert!(!format!("{err} {err:?}").contains(secret));
    let ok = mailchimp_on(seam, secret, json!({"data_center": "us9"})).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ok.base_url().ok().as_deref(), Some("https://us9.api.mailchimp.com/3.0"));
    // Not required config: the describe output and the engine's template ask for none.
    let spec = Registry::builtin().and_then(|r| r.get(MAILCHIMP)).unwrap_or_else(|e| panic!("{e}"));
    assert!(spec.required_config().is_empty(), "{:?}", spec.required_config());
}

#[test]
fn a_credential_part_takes_the_text_between_separators() {
    use switchboard_core::spec::CredentialPart;
    let creds = |v: &str| json!({"key": v}).as_object().cloned().unwrap_or_default();
    let part = |after: Option<&str>, before: Option<&str>| CredentialPart {
        field: "key".into(),
        after: after.map(str::to_string),
        before: before.map(str::to_string),
    };
    assert_eq!(part(Some("-"), None).value(&creds("a-b-us21")), Some("us21".into()));
    assert_eq!(part(Some("-"), None).value(&creds("nodash")), None);
    assert_eq!(part(Some("-"), None).value(&creds("ends-")), None);
    assert_eq!(part(Some("@"), Some(".")).value(&creds("user@acme.example.com")), Some("acme".into()));
    assert_eq!(part(None, Some(":")).value(&creds("tenant:secret")), Some("tenant".into()));
    assert_eq!(part(Some("-"), None).value(&json!({}).as_object().cloned().unwrap_or_default()), None);
    // A source naming no credential field is refused when the spec loads.
    let spec = r#"
openapi: 3.1.0
info: {title: T, version: "1", x-connector-name: t, x-connector-definition-id: 00000000-0000-0000-0000-00000000000b}
servers:
  - url: https://{dc}.example.com
    variables: {dc: {x-from-credential: {field: nope, after: "-"}}}
components:
  securitySchemes:
    key: {type: apiKey, in: header, name: X-Key, x-auth-config: {required: [api_key], properties: {api_key: {type: string}}, auth_mapping: {api_key: "${api_key}"}}}
paths:
  /things:
    get: {x-entity: things, x-action: list, responses: {"200": {description: ok}}}
"#;
    let err = switchboard_core::spec::parse_spec("t.yaml", spec).err().unwrap_or_else(|| panic!("must fail"));
    assert!(err.message.contains("nope"), "{}", err.message);
}

// ---------------------------------------------------------------------------------------------
// The generic fake: LinkedIn's Rest.li compound keys and vendor `+json` bodies

const LINKEDIN: &str = "linkedin-ads";

fn linkedin(fake: &FakeUpstream) -> Connector {
    connector(
        LINKEDIN,
        json!({"access_token": "AQV_fake_linkedin_member_token"}),
        json!({"base_url": fake.base_url(LINKEDIN)}),
        Default::default(),
    )
}

#[tokio::test]
async fn linkedin_compound_keys_route_with_both_params() {
    let fake = fake().await;
    let c = linkedin(&fake);
    let keys = json!({"account": "urn:li:sponsoredAccount:507404993", "user": "urn:li:person:qZXYVbTSrr"});
    let mut create = keys.clone();
    create["role"] = json!("VIEWER");
    let run = |action: &'static str, params: Value| {
        let c = c.clone();
        async move { c.execute("account_users", action, params, &ExecuteOptions::default()).await }
    };
    for (action, params) in [("create", create), ("delete", keys.clone())] {
        let r = run(action, params).await;
        assert!(r.is_ok(), "{action}: {r:?}");
    }
    let paths: Vec<String> = fake.requests_for(LINKEDIN).into_iter().map(|r| r.path).collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    // Rest.li 2.0 compound keys: key:value pairs.
    assert!(paths.iter().all(|p| p.contains("/adAccountUsers/(account:") && p.contains(",user:")), "{paths:?}");
    // The fake reads each param of the key: an unknown member (a value with `missing`) is
    // LinkedIn's 404, and so is an unknown account.
    for (account, user) in [
        ("urn:li:sponsoredAccount:507404993", "urn:li:person:missing01"),
        ("urn:li:sponsoredAccount:missing", "urn:li:person:qZXYVbTSrr"),
    ] {
        let err = run("delete", json!({"account": account, "user": user}))
            .await
            .err()
            .unwrap_or_else(|| panic!("{account} {user}: must fail"));
        assert_eq!(err.code, ErrorCode::NotFound, "{account} {user}: {err}");
    }
    let conversions = c
        .execute(
            "campaign_conversions",
            "delete",
            json!({"campaign_urn": "urn:li:sponsoredCampaign:1", "conversion_urn": "urn:lla:llaPartnerConversion:missing"}),
            &ExecuteOptions::default(),
        )
        .await;
    assert_eq!(conversions.err().map(|e| e.code), Some(ErrorCode::NotFound));
}

#[tokio::test]
async fn the_generic_fake_reads_vendor_json_bodies() {
    let fake = fake().await;
    let url = format!(
        "{}/adAccountUsers/(account:urn%3Ali%3AsponsoredAccount%3A5,user:urn%3Ali%3Aperson%3Ab)",
        fake.base_url(LINKEDIN)
    );
    let client = reqwest::Client::new();
    let send = |ct: &'static str, body: &'static str| {
        client
            .put(url.clone())
            .header("authorization", "Bearer AQV_fake_linkedin_member_token")
            .header("content-type", ct)
            .body(body)
            .send()
    };
    for ct in
        ["application/json", "application/vnd.linkedin.normalized+json", "application/merge-patch+json; charset=utf-8"]
    {
        let resp = send(ct, r#"{"role": "VIEWER"}"#).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(resp.status().is_success(), "{ct}: {}", resp.status());
    }
    // A vendor JSON type whose body is not JSON is refused, as a JSON API would.
    let resp = send("application/vnd.api+json", "role=VIEWER").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = serde_json::from_slice(&resp.bytes().await.unwrap_or_default()).unwrap_or_default();
    assert!(body.to_string().contains("not JSON"), "{body}");
}

// ---------------------------------------------------------------------------------------------
// select_fields naming no field

/// A read whose `select_fields` name no field of its records and none its record schema
/// declares is refused, naming the records' fields; a declared field absent from a whole page
/// (optional, or null-omitting APIs) is not: the records come back trimmed to nothing.
#[tokio::test]
async fn select_fields_naming_no_field_are_refused_unless_declared() {
    let page = r#"{"object":"list","has_more":false,"data":[{"id":"cus_1","name":"Ava"}]}"#;
    let http = support::seam::Seam::scripted();
    http.answer_text(200, page);
    http.answer_text(200, page);
    let options = ConnectorOptions { http: Some(http.clone()), ..Default::default() };
    let stripe = connector("stripe", json!({"api_key": "sk_test_select"}), json!({}), options);
    let select = |paths: &[&str]| ExecuteOptions {
        select_fields: paths.iter().map(|p| p.to_string()).collect(),
        ..Default::default()
    };
    let e = stripe.execute("customers", "list", json!({}), &select(&["nmae"])).await.err();
    let e = e.unwrap_or_else(|| panic!("a misspelt field was answered"));
    assert_eq!(e.code, ErrorCode::Validation, "{e}");
    assert!(e.message.contains("select_fields names no field") && e.message.contains("id, name"), "{e}");
    let page = stripe.execute("customers", "list", json!({}), &select(&["email"])).await;
    let page = page.unwrap_or_else(|e| panic!("a declared field absent from the page: {e}"));
    assert_eq!(page.data, json!([{}]));
}

// ---------------------------------------------------------------------------------------------
// Answers whose tree would not fit

/// An answer of millions of tiny values (`[0,0,...]`: two bytes each in the text, tens of bytes
/// each as a tree, gigabytes for a few megabytes of gzip on the wire) is refused before it is
/// read, on the parsing path and the records-as-text path alike; a page of ordinary size, or a
/// long answer of few values, is read as before.
#[tokio::test]
async fn an_answer_of_millions_of_values_is_refused_before_it_is_read() {
    let many = format!("{{\"object\":\"list\",\"has_more\":false,\"data\":[{}0]}}", "0,".repeat(5_000_000));
    let few = format!(
        "{{\"object\":\"list\",\"has_more\":false,\"data\":[{{\"id\":\"cus_1\",\"description\":\"{}\"}}]}}",
        "x".repeat(3_000_000)
    );
    for select in [vec![], vec!["id".to_string()]] {
        let http = support::seam::Seam::scripted();
        http.answer_text(200, &many);
        http.answer_text(200, &few);
        let options = ConnectorOptions { http: Some(http.clone()), ..Default::default() };
        let stripe = connector("stripe", json!({"api_key": "sk_test_values"}), json!({}), options);
        let opts = ExecuteOptions { select_fields: select.clone(), skip_truncation: true, ..Default::default() };
        let e = stripe.execute("customers", "list", json!({}), &opts).await.err();
        let e = e.unwrap_or_else(|| panic!("{select:?}: a page of five million values was read"));
        assert_eq!(e.code, ErrorCode::UpstreamHttp, "{e}");
        assert!(e.message.contains("more than 5000000 JSON values") && e.message.contains("smaller pages"), "{e}");
        let page = stripe.execute("customers", "list", json!({}), &opts).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(page.data.as_array().map(Vec::len), Some(1), "{select:?}");
    }
    // A download's answer is the file, not a page: a CSV of millions of commas is returned.
    let http = support::seam::Seam::scripted();
    let csv = "a,".repeat(6_000_000);
    http.answer_text(200, &csv);
    let options = ConnectorOptions { http: Some(http.clone()), ..Default::default() };
    let creds = json!({"refresh_token": "rt-drive", "access_token": "at-drive"});
    let drive = connector("google-drive", creds, json!({}), options);
    let file = drive
        .execute("files", "download", json!({"fileId": "f1"}), &ExecuteOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(file.data["size"], json!(csv.len()));
    assert!(!switchboard_core::extract::holds_more_values_than(b"[\"a,b,c,[{\\\",\"]", 1));
    assert!(switchboard_core::extract::holds_more_values_than(b"[1,[2],{\"k\":3}]", 4));
}
