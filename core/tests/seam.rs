//! The runtime through the HTTP seam, without sockets: a scripted [`HttpClient`] records what
//! the runtime sends and answers with canned responses. Covers request building, extraction
//! and spec loading faults with a small inline spec.

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use support::seam::Seam;
use switchboard_core::http::TransportError;
use switchboard_core::spec::{parse_spec, RetryConfig};
use switchboard_core::{Connector, ConnectorOptions, ErrorCode, ExecuteOptions, Registry};

const SPEC: &str = r##"
openapi: 3.1.0
info:
  title: Widgets API
  version: "1"
  x-connector-name: widgets
  x-connector-definition-id: 11111111-2222-3333-4444-555555555555
servers:
  - url: "https://{region}.widgets.example.com/api"
    variables: {region: {default: eu}}
components:
  securitySchemes:
    key:
      type: apiKey
      in: query
      name: api_key
      x-auth-config: {required: [api_key], properties: {api_key: {type: string}}}
paths:
  /widgets:
    get:
      x-entity: widgets
      x-action: list
      x-record-extractor: $.items
      x-meta-extractor: {next: "@link.next", total: "@header.X-Total-Count", page: $.page}
      x-record-filter: "{{ not record.hidden }}"
      parameters:
        - {name: kind, in: query, schema: {type: string, enum: [round, square]}}
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 50}}
        - {name: created, in: query, style: deepObject, schema: {type: object}}
        - {name: tags, in: query, schema: {type: array, items: {type: string}}}
        - {name: X-Trace, in: header, required: true, schema: {type: string, default: on}}
      responses: {"200": {description: ok}}
    post:
      x-entity: widgets
      x-action: create
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema: {$ref: "#/components/schemas/NewWidget"}
      responses: {"200": {description: ok}}
  /widgets/{id}:
    get:
      x-entity: widgets
      x-action: get
      x-record-extractor: $.widget
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: ok}}
  /graphql:count:
    post:
      x-entity: counts
      x-action: get
      x-path-override: {path: /graphql}
      x-record-extractor: $.data.count
      parameters:
        - {name: first, in: query, schema: {type: integer, default: 10}}
        - {name: after, in: query, schema: {type: string}}
        - {name: owner, in: query, required: true, schema: {type: string}}
      requestBody:
        x-body-type:
          type: graphql
          query: "query Count($first: Int!, $after: String, $q: String!) { count(first: $first, after: $after, q: $q) { {{ fields }} } }"
          variables: {first: "{{ first }}", after: "{{ after }}", q: "owner:{{ owner }}"}
          default_fields: "total"
      responses: {"200": {description: ok}}
  components_schemas_placeholder: {}
"##;

const SCHEMAS: &str = r#"
  schemas:
    NewWidget:
      type: object
      required: [name]
      properties:
        name: {type: string}
        metadata: {type: object}
"#;

fn spec_text() -> String {
    SPEC.replace("  components_schemas_placeholder: {}\n", "")
        .replace("components:\n  securitySchemes:", &format!("components:{SCHEMAS}  securitySchemes:"))
}

fn connector(http: Arc<Seam>, config: Value) -> Connector {
    let spec = Arc::new(parse_spec("widgets.yaml", &spec_text()).unwrap_or_else(|e| panic!("{e}")));
    let options = ConnectorOptions {
        http: Some(http),
        retry: Some(RetryConfig { max_attempts: 3, initial_delay_ms: 1, max_delay_ms: 5, max_elapsed_ms: 1000 }),
        timeout: Duration::from_secs(5),
        ..Default::default()
    };
    Connector::new(spec, json!({"api_key": "k-secret-123"}), config, options).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn list_builds_query_and_extracts_records_and_meta() {
    let http = Seam::scripted();
    http.answer(
        200,
        &[("link", "<https://eu.widgets.example.com/api/widgets?page=2>; rel=\"next\""), ("x-total-count", "3")],
        json!({"page": 1, "items": [{"id": "w1"}, {"id": "w2", "hidden": true}, {"id": "w3"}]}),
    );
    let c = connector(http.clone(), json!({}));
    let res = c
        .execute(
            "widgets",
            "list",
            json!({"kind": "round", "limit": 2, "created": {"gte": 5}, "tags": ["a", "b"]}),
            &ExecuteOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.data, json!([{"id": "w1"}, {"id": "w3"}]), "the record filter drops hidden widgets");
    assert_eq!(res.meta.get("next"), Some(&json!("https://eu.widgets.example.com/api/widgets?page=2")));
    assert_eq!(res.meta.get("total"), Some(&json!("3")));
    assert_eq!(res.meta.get("page"), Some(&json!(1)));
    let sent = http.sent();
    assert_eq!(sent.len(), 1);
    let url = url::Url::parse(&sent[0].url).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(url.host_str(), Some("eu.widgets.example.com"), "server variable default");
    assert_eq!(url.path(), "/api/widgets");
    let q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    for pair in [
        ("kind", "round"),
        ("limit", "2"),
        ("created[gte]", "5"),
        ("tags", "a"),
        ("tags", "b"),
        ("api_key", "k-secret-123"),
    ] {
        assert!(q.contains(&(pair.0.to_string(), pair.1.to_string())), "{pair:?} in {q:?}");
    }
    assert!(sent[0].headers.contains(&("x-trace".to_string(), "on".to_string())), "header default is sent");
}

#[tokio::test]
async fn config_fills_server_variables_and_base_url_overrides() {
    let http = Seam::scripted();
    http.answer(200, &[], json!({"widget": {"id": "a/b"}}));
    let c = connector(http.clone(), json!({"region": "us"}));
    c.execute("widgets", "get", json!({"id": "a/b"}), &ExecuteOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        http.sent()[0].url.starts_with("https://us.widgets.example.com/api/widgets/a%2Fb?"),
        "{}",
        http.sent()[0].url
    );

    let http = Seam::scripted();
    http.answer(200, &[], json!({}));
    let c = connector(http.clone(), json!({"base_url": "http://127.0.0.1:9/w/"}));
    let res = c
        .execute("widgets", "get", json!({"id": "x"}), &ExecuteOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.data, Value::Null, "no match for a get gives null");
    assert!(http.sent()[0].url.starts_with("http://127.0.0.1:9/w/widgets/x"), "{}", http.sent()[0].url);
}

#[tokio::test]
async fn form_bodies_and_graphql_variables() {
    let http = Seam::scripted();
    http.answer(200, &[], json!({"id": "w9", "name": "n"}));
    http.answer(200, &[], json!({"data": {"count": 7}}));
    let c = connector(http.clone(), json!({}));
    let created = c
        .execute("widgets", "create", json!({"name": "n", "metadata": {"k": "v"}}), &ExecuteOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(created.data["id"], "w9");
    let count = c
        .execute("counts", "get", json!({"owner": "octo"}), &ExecuteOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(count.data, json!({"value": 7}), "a primitive record is wrapped");

    let sent = http.sent();
    let form = String::from_utf8(sent[0].body.clone().unwrap_or_default()).unwrap_or_default();
    assert_eq!(form, "name=n&metadata%5Bk%5D=v");
    assert!(sent[0].headers.contains(&("content-type".to_string(), "application/x-www-form-urlencoded".to_string())));
    let gql: Value = serde_json::from_slice(sent[1].body.as_deref().unwrap_or_default()).unwrap_or_default();
    assert_eq!(
        gql["variables"],
        json!({"first": 10, "q": "owner:octo"}),
        "bare variables keep their type; one whose param is absent is left out"
    );
    assert!(gql["query"].as_str().unwrap_or_default().contains("{ total }"), "default fields: {}", gql["query"]);
    assert!(!sent[1].url.contains("owner="), "GraphQL template params are not sent on the URL");
}

#[tokio::test]
async fn bad_params_fail_before_any_request() {
    let http = Seam::scripted();
    let c = connector(http.clone(), json!({}));
    let cases = [
        ("gadgets", "list", json!({}), "unknown entity \"gadgets\""),
        ("widgets", "delete", json!({}), "valid actions: list, create, get"),
        ("widgets", "get", json!({}), "missing required param \"id\""),
        ("widgets", "list", json!({"limit": "ten"}), "\"limit\" must be an integer"),
        ("widgets", "list", json!({"limit": 99}), "between 1 and 50"),
        ("widgets", "list", json!({"kind": "oval"}), "one of: round, square"),
        ("widgets", "list", json!({"colour": "red"}), "unknown param \"colour\""),
        ("widgets", "list", json!({"tags": [1]}), "array of string"),
        ("widgets", "list", json!([1, 2]), "params must be a JSON object"),
    ];
    for (entity, action, params, needle) in cases {
        let err = c
            .execute(entity, action, params, &ExecuteOptions::default())
            .await
            .err()
            .unwrap_or_else(|| panic!("{entity}.{action} should fail"));
        assert_eq!(err.code, ErrorCode::Validation, "{err}");
        assert!(err.message.contains(needle), "{needle:?} not in {:?}", err.message);
    }
    assert!(http.sent().is_empty(), "no request may leave for invalid input");
}

#[tokio::test]
async fn transport_errors_retry_on_reads_only() {
    let http = Seam::scripted();
    http.fail(TransportError::Timeout);
    http.answer(200, &[], json!({"items": []}));
    let c = connector(http.clone(), json!({}));
    c.execute("widgets", "list", json!({}), &ExecuteOptions::default()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(http.sent().len(), 2);

    let http = Seam::scripted();
    http.fail(TransportError::Timeout);
    let c = connector(http.clone(), json!({}));
    let err = c.execute("widgets", "create", json!({"name": "n"}), &ExecuteOptions::default()).await.err();
    assert_eq!(err.map(|e| e.code), Some(ErrorCode::UpstreamTimeout));
    assert_eq!(http.sent().len(), 1, "a POST not marked idempotent is never retried");
}

#[tokio::test]
async fn upstream_errors_map_to_codes_without_secrets() {
    let http = Seam::scripted();
    http.answer(401, &[("x-request-id", "req-7")], json!({"message": "key k-secret-123 is revoked"}));
    let c = connector(http.clone(), json!({}));
    let err = c
        .execute("widgets", "get", json!({"id": "x"}), &ExecuteOptions::default())
        .await
        .err()
        .unwrap_or_else(|| panic!("should fail"));
    assert_eq!(err.code, ErrorCode::UpstreamAuthentication);
    assert_eq!(err.status_code, Some(401));
    assert_eq!(err.request_id.as_deref(), Some("req-7"));
    assert!(!format!("{err:?}").contains("k-secret-123"), "{err:?}");
    assert!(err.message.contains("is revoked"), "{}", err.message);
}

#[test]
fn malformed_specs_name_file_and_pointer() {
    let bad_yaml = parse_spec("broken.yaml", "openapi: [").err().unwrap_or_else(|| panic!("should fail"));
    assert_eq!(bad_yaml.code, ErrorCode::Configuration);
    assert!(bad_yaml.message.contains("broken.yaml") && bad_yaml.message.contains("line"), "{}", bad_yaml.message);

    let text = spec_text().replace("x-action: create", "x-action: explode");
    let e = parse_spec("widgets.yaml", &text).err().unwrap_or_else(|| panic!("should fail"));
    assert!(
        e.message.contains("widgets.yaml") && e.message.contains("/paths/~1widgets/post/x-action"),
        "{}",
        e.message
    );

    let text = spec_text().replace("$.items", "$[items");
    let e = parse_spec("widgets.yaml", &text).err().unwrap_or_else(|| panic!("should fail"));
    assert!(e.message.contains("/paths/~1widgets/get/x-record-extractor"), "{}", e.message);

    let text = spec_text().replace("/widgets/{id}:", "/widgets/{wid}:");
    let e = parse_spec("widgets.yaml", &text).err().unwrap_or_else(|| panic!("should fail"));
    assert!(e.message.contains("{wid}"), "{}", e.message);

    let text = spec_text().replace("  x-connector-name: widgets\n", "");
    let e = parse_spec("widgets.yaml", &text).err().unwrap_or_else(|| panic!("should fail"));
    assert!(e.message.contains("/info/x-connector-name"), "{}", e.message);
}

#[test]
fn reference_spelling_loads_the_same() {
    let text = spec_text()
        .replace("x-entity:", "x-airbyte-entity:")
        .replace("x-action:", "x-airbyte-action:")
        .replace("x-connector-name", "x-airbyte-connector-name");
    let spec = parse_spec("widgets.yaml", &text).unwrap_or_else(|e| panic!("{e}"));
    assert!(spec.operation("widgets", "list").is_some());
    assert!(spec.operation("counts", "get").is_some());
}

#[test]
fn unknown_connector_is_a_configuration_error() {
    let reg = Registry::builtin().unwrap_or_else(|e| panic!("the built-in specs must load: {e}"));
    let e = reg.get("nonexistent").err().unwrap_or_else(|| panic!("should fail"));
    assert_eq!(e.code, ErrorCode::Configuration);
    assert!(e.message.contains("unknown connector \"nonexistent\""), "{}", e.message);
    assert!(reg.get("ef69ef6e-aa7f-4af1-a01d-ef775033524e").is_ok(), "lookup by definition id");
    assert!(reg.get("GitHub").is_ok(), "lookup by name, any case");
}

#[test]
fn reference_format_specs_load_from_a_directory() {
    // A directory in the reference layout: <slug>/connector.yaml with x-airbyte- spellings.
    let dir = std::env::temp_dir().join(format!("sb-specs-{}", std::process::id()));
    let sub = dir.join("widgets");
    std::fs::create_dir_all(&sub).unwrap_or_else(|e| panic!("{e}"));
    let text = spec_text().replace("x-entity:", "x-airbyte-entity:").replace("x-action:", "x-airbyte-action:");
    std::fs::write(sub.join("connector.yaml"), text).unwrap_or_else(|e| panic!("{e}"));
    let reg = Registry::with_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert!(reg.get("widgets").is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn own_hosts_are_the_egress_a_connector_needs() {
    let reg = Registry::builtin().unwrap_or_else(|e| panic!("{e}"));
    let hosts = |slug: &str| reg.get(slug).map(|s| s.own_hosts()).unwrap_or_default();
    assert_eq!(hosts("github"), vec!["api.github.com"]);
    assert_eq!(
        hosts("gong"),
        vec!["api.gong.io", "*.api.gong.io", "app.gong.io"],
        "the hosts the token answer may name, and the OAuth token host"
    );
    assert_eq!(
        hosts("intercom"),
        vec!["api.intercom.io", "api.eu.intercom.io", "api.au.intercom.io"],
        "the regional hosts config api_host may name"
    );
    assert_eq!(
        hosts("jira"),
        vec!["*.atlassian.net", "api.atlassian.com", "auth.atlassian.com"],
        "every server counts (Jira's OAuth apps are served at api.atlassian.com)"
    );
    let spec = parse_spec("widgets.yaml", &spec_text()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spec.own_hosts(), vec!["*.widgets.example.com"], "a variable label becomes a wildcard");
    let whole = spec_text().replace("https://{region}.widgets.example.com/api", "{instance_url}/api");
    let spec = parse_spec("widgets.yaml", &whole).unwrap_or_else(|e| panic!("{e}"));
    assert!(spec.own_hosts().is_empty(), "a host that is all variable must be allowed by the operator");
}

/// Gong's OAuth token answer names the company's API host (`api_base_url_for_customer`); the
/// calls after it go there, and with an access key they go to api.gong.io.
#[tokio::test]
async fn gong_calls_go_to_the_host_its_token_answer_names() {
    let gong = Registry::builtin().and_then(|r| r.get("gong")).unwrap_or_else(|e| panic!("{e}"));
    let http = Seam::scripted();
    http.answer(
        200,
        &[],
        json!({"access_token": "at-2", "refresh_token": "rt-2", "expires_in": 86400,
               "api_base_url_for_customer": "https://us-4242.api.gong.io"}),
    );
    http.answer(200, &[], json!({"users": [], "records": {"totalRecords": 0}}));
    let creds = json!({"client_id": "cid", "client_secret": "cs", "refresh_token": "rt-1"});
    let options = ConnectorOptions { http: Some(http.clone()), ..Default::default() };
    let c = Connector::new(gong.clone(), creds, json!({}), options).unwrap_or_else(|e| panic!("{e}"));
    let done = c.execute("users", "list", json!({}), &ExecuteOptions::default()).await;
    assert!(done.is_ok(), "{done:?}");
    let sent = http.sent();
    assert!(sent[0].url.starts_with("https://app.gong.io/oauth2/generate-customer-token"), "{}", sent[0].url);
    assert!(sent[1].url.starts_with("https://us-4242.api.gong.io/v2/users"), "{}", sent[1].url);

    let http = Seam::scripted();
    http.answer(200, &[], json!({"users": [], "records": {"totalRecords": 0}}));
    let options = ConnectorOptions { http: Some(http.clone()), ..Default::default() };
    let keyed = json!({"access_key": "ak", "access_key_secret": "sk"});
    let c = Connector::new(gong, keyed, json!({}), options).unwrap_or_else(|e| panic!("{e}"));
    let done = c.execute("users", "list", json!({}), &ExecuteOptions::default()).await;
    assert!(done.is_ok(), "{done:?}");
    assert!(http.sent()[0].url.starts_with("https://api.gong.io/v2/users"), "{}", http.sent()[0].url);
}

/// A connector whose every operation needs a param: `check()` verifies the credential instead
/// (an OAuth connector refreshes its access token; a static key is checked for shape only).
const NO_CHECK_OP: &str = r##"
openapi: 3.1.0
info: {title: Things, version: "1", x-connector-name: things, x-connector-definition-id: 11111111-2222-3333-4444-666666666666}
servers: [{url: "https://api.things.example.com"}]
components:
  securitySchemes:
    oauth:
      type: oauth2
      flows: {authorizationCode: {authorizationUrl: "https://things.example.com/auth", tokenUrl: "https://api.things.example.com/oauth/token", scopes: {}}}
      x-auth-config:
        required: [client_id, client_secret, refresh_token]
        properties: {client_id: {type: string}, client_secret: {type: string}, refresh_token: {type: string}}
paths:
  /things/{id}:
    get:
      x-entity: things
      x-action: get
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: ok}}
"##;

#[tokio::test]
async fn check_verifies_the_credential_when_no_operation_runs_without_params() {
    let spec = Arc::new(parse_spec("things.yaml", NO_CHECK_OP).unwrap_or_else(|e| panic!("{e}")));
    let creds = json!({"client_id": "cid", "client_secret": "cs", "refresh_token": "rt-1"});
    for (status, body, healthy) in [
        (200, json!({"access_token": "at-1", "expires_in": 3600}), true),
        (400, json!({"error": "invalid_grant"}), false),
    ] {
        let http = Seam::scripted();
        http.answer(status, &[], body);
        let options = ConnectorOptions { http: Some(http.clone()), ..Default::default() };
        let c = Connector::new(spec.clone(), creds.clone(), json!({}), options).unwrap_or_else(|e| panic!("{e}"));
        let check = c.check().await;
        assert_eq!(check.status == "healthy", healthy, "{check:?}");
        assert_eq!((check.checked_entity, check.checked_action), (None, None));
        let sent = http.sent();
        assert_eq!(sent.len(), 1, "one refresh, no operation");
        assert!(sent[0].url.ends_with("/oauth/token"), "{}", sent[0].url);
        if !healthy {
            assert_eq!(check.error.map(|e| e.code), Some(ErrorCode::UpstreamAuthentication));
        }
    }
}

/// `sdk::Executor::execute_text` is, parsed, the `ResultView` of `execute`: on a list page
/// whose records pass through as the API's text (spacing and escapes kept, long strings cut
/// unless asked otherwise), on an operation answered with a tree, and with the cursor read
/// from its meta; `paginate_text` pages as `paginate` does. A context store action fails in
/// local mode before any request.
#[tokio::test]
async fn execute_text_is_the_result_view_of_execute() {
    use futures::StreamExt;
    use switchboard_core::sdk::{ExecuteRequest, Executor, ResultText, ResultView};
    let reg = Registry::builtin().unwrap_or_else(|e| panic!("{e}"));
    let spec = reg.get("github").unwrap_or_else(|e| panic!("{e}"));
    let http = Seam::scripted();
    let options = ConnectorOptions { http: Some(http.clone()), ..Default::default() };
    let connector = Connector::new(spec, json!({"personal_access_token": "ghp_x"}), json!({}), options);
    let ex = Executor::from(connector.unwrap_or_else(|e| panic!("{e}")));
    let long = "é".repeat(5000);
    let page = format!(
        r#"{{"data": {{"repository": {{"issues": {{"totalCount": 2, "pageInfo": {{"hasNextPage": true,
        "endCursor": "Y3Vy"}}, "nodes": [ {{"number": 1, "title": "caf\u00e9 \"quoted\"", "body": "{long}"}},
        {{"number": 2, "title": "two", "labels": {{"nodes": []}}}} ]}}}}}}}}"#
    );
    let mut list = ExecuteRequest::new("issues", "list", json!({"owner": "o", "repo": "r"}));
    for skip_truncation in [false, true] {
        list.skip_truncation = skip_truncation;
        http.answer_text(200, &page);
        http.answer_text(200, &page);
        let tree = ResultView::from(ex.execute(list.clone()).await.unwrap_or_else(|e| panic!("{e}")));
        let text = ex.execute_text(list.clone()).await.unwrap_or_else(|e| panic!("{e}"));
        let whole: Value =
            serde_json::from_str(&text.to_json().unwrap_or_else(|e| panic!("{e}"))).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(whole, serde_json::to_value(&tree).unwrap_or_else(|e| panic!("{e}")));
        assert!(text.data.contains(r#"{"number": 2, "title": "two", "labels": {"nodes": []}}"#), "{}", text.data);
        assert_eq!(text.data.contains(&long), skip_truncation, "cut only unless asked otherwise");
        assert_eq!(text.cursor().as_deref(), Some("Y3Vy"));
    }
    // Paging: the same pages, each the text of the tree's page, the cursor followed.
    let last = page.replace(r#""hasNextPage": true"#, r#""hasNextPage": false"#);
    for body in [&page, &last, &page, &last] {
        http.answer_text(200, body);
    }
    list.skip_truncation = false;
    let trees: Vec<_> = ex.paginate(list.clone()).collect().await;
    let texts: Vec<_> = ex.paginate_text(list.clone()).collect().await;
    assert_eq!((trees.len(), texts.len()), (2, 2));
    for (tree, text) in trees.into_iter().zip(texts) {
        let tree = ResultView::from(tree.unwrap_or_else(|e| panic!("{e}")));
        let text = text.unwrap_or_else(|e| panic!("{e}")).to_json().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(serde_json::from_str::<Value>(&text).ok(), serde_json::to_value(&tree).ok());
    }
    let asked: Vec<_> = http
        .sent()
        .iter()
        .rev()
        .take(2)
        .map(|r| String::from_utf8_lossy(r.body.as_deref().unwrap_or_default()).contains("Y3Vy"))
        .collect();
    assert_eq!(asked, [true, false], "the second page asked with the first page's cursor");
    // A tree (one record) and a view made from it: the text is what serde writes of the view.
    http.answer(200, &[], json!({"data": {"repository": {"issue": {"number": 7, "title": "seven"}}}}));
    http.answer(200, &[], json!({"data": {"repository": {"issue": {"number": 7, "title": "seven"}}}}));
    let get = ExecuteRequest::new("issues", "get", json!({"owner": "o", "repo": "r", "number": 7}));
    let tree = ResultView::from(ex.execute(get.clone()).await.unwrap_or_else(|e| panic!("{e}")));
    let text = ex.execute_text(get).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(text, ResultText::from(tree.clone()));
    assert_eq!(text.to_json().ok(), serde_json::to_string(&tree).ok());
    assert_eq!(text.cursor(), None);
    let sent = http.sent().len();
    let refused = ex.execute_text(ExecuteRequest::new("issues", "context_store_search", json!({}))).await;
    assert_eq!(refused.err().map(|e| e.code), Some(ErrorCode::Configuration));
    assert_eq!(http.sent().len(), sent, "refused before any request");
}
