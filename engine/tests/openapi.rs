//! The OpenAPI document against the engine's real answers: every route is called in process
//! (successes and the usual failures), and each JSON body is validated against the schema the
//! document declares for that path, method and status (or its `default`), `$ref`s resolved. A
//! handler whose answer differs from the document (a missing required field, a wrong type, a
//! field the document does not list, an undocumented status or content type) fails here. The
//! request bodies that succeeded are checked against the documented request schema too.

mod common;

use std::collections::BTreeSet;

use common::{call, start, Answer, Backend, Engine};
use fake_upstream::{creds, FakeUpstream};
use serde_json::{json, Value};

// ---------------------------------------------------------------- a small JSON Schema check

/// The schema a `$ref` names (`#/components/schemas/Name`), or the schema itself.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("only local $refs are expected: {r}"));
            let target = doc.pointer(pointer).unwrap_or_else(|| panic!("dangling $ref {r}"));
            resolve(doc, target)
        }
        None => schema,
    }
}

/// `v` as JSON, cut short for a message.
fn short(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(120) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text,
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        "string" => v.is_string(),
        other => panic!("unexpected schema type {other}"),
    }
}

/// The property names an object schema allows, or `None` when it is open (a free-form object,
/// `additionalProperties`, or a composition with an open part such as a flattened map).
fn allowed_properties(doc: &Value, schema: &Value) -> Option<BTreeSet<String>> {
    let s = resolve(doc, schema);
    if let Some(parts) = s.get("allOf").and_then(Value::as_array) {
        let mut all = BTreeSet::new();
        for p in parts {
            all.extend(allowed_properties(doc, p)?);
        }
        return Some(all);
    }
    if s.get("additionalProperties").is_some_and(|a| a != &Value::Bool(false)) {
        return None;
    }
    let props = s.get("properties")?.as_object()?;
    Some(props.keys().cloned().collect())
}

/// Checks `v` against `schema`, pushing one line per mismatch (with its JSON path).
fn check(doc: &Value, schema: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
    let s = resolve(doc, schema);
    if let Some(parts) = s.get("allOf").and_then(Value::as_array) {
        for p in parts {
            check_shallow(doc, p, v, at, errs);
        }
        check_unknown(doc, s, v, at, errs);
        return;
    }
    for (key, exactly_one) in [("oneOf", true), ("anyOf", false)] {
        if let Some(options) = s.get(key).and_then(Value::as_array) {
            let fits = options
                .iter()
                .filter(|o| {
                    let mut e = Vec::new();
                    check(doc, o, v, at, &mut e);
                    e.is_empty()
                })
                .count();
            if fits == 0 || (exactly_one && fits > 1) {
                errs.push(format!("{at}: {fits} of the {key} options fit {}", short(v)));
            }
            return;
        }
    }
    check_shallow(doc, s, v, at, errs);
    check_unknown(doc, s, v, at, errs);
}

/// Type, enum, required and listed properties, items; not the unknown-property rule (an
/// `allOf` part sees only its own properties).
fn check_shallow(doc: &Value, schema: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
    let s = resolve(doc, schema);
    if s.get("allOf").is_some() || s.get("oneOf").is_some() || s.get("anyOf").is_some() {
        let mut e = Vec::new();
        check(doc, s, v, at, &mut e);
        errs.extend(e);
        return;
    }
    match s.get("type") {
        Some(Value::String(t)) if !type_matches(t, v) => {
            errs.push(format!("{at}: expected {t}, got {}", short(v)));
            return;
        }
        Some(Value::Array(ts)) if !ts.iter().filter_map(Value::as_str).any(|t| type_matches(t, v)) => {
            errs.push(format!("{at}: expected one of {ts:?}, got {}", short(v)));
            return;
        }
        _ => {}
    }
    if let Some(options) = s.get("enum").and_then(Value::as_array) {
        if !options.contains(v) {
            errs.push(format!("{at}: {} is not one of {options:?}", short(v)));
        }
    }
    if let Some(obj) = v.as_object() {
        for r in s.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if !obj.contains_key(r) {
                errs.push(format!("{at}: required property {r} is missing"));
            }
        }
        for (k, p) in s.get("properties").and_then(Value::as_object).into_iter().flatten() {
            if let Some(child) = obj.get(k) {
                check(doc, p, child, &format!("{at}.{k}"), errs);
            }
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
        for (i, item) in arr.iter().enumerate() {
            check(doc, items, item, &format!("{at}[{i}]"), errs);
        }
    }
}

fn check_unknown(doc: &Value, schema: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
    if let (Some(obj), Some(allowed)) = (v.as_object(), allowed_properties(doc, schema)) {
        for k in obj.keys().filter(|k| !allowed.contains(*k)) {
            errs.push(format!("{at}: property {k} is not in the document"));
        }
    }
}

fn mismatches(doc: &Value, schema: &Value, v: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    check(doc, schema, v, "$", &mut errs);
    errs
}

// ---------------------------------------------------------------- the exchanges

/// One request and what the document says about its answer.
struct Drift<'a> {
    doc: Value,
    engine: &'a Engine,
    /// (path template, method) answered with a success.
    succeeded: BTreeSet<(String, String)>,
    failures: Vec<String>,
}

impl Drift<'_> {
    /// Sends `method path` and checks the answer against the document's entry for `template`.
    async fn exchange(
        &mut self,
        method: &str,
        template: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let a = call(method, &self.engine.url(path), token, body.clone(), headers).await;
        let what = format!("{method} {path} -> {}", a.status);
        let op = self.doc["paths"][template][method.to_ascii_lowercase()].clone();
        if op.is_null() {
            self.failures.push(format!("{what}: the document has no {method} {template}"));
            return a;
        }
        let responses = &op["responses"];
        let declared = match responses.get(a.status.to_string()) {
            Some(r) => r,
            None if a.status >= 400 => &responses["default"],
            None => {
                self.failures.push(format!("{what}: status {} is not documented", a.status));
                return a;
            }
        };
        let media = a
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_string());
        match (declared.get("content").and_then(Value::as_object), media) {
            (None, None) if a.text.is_empty() => {}
            (None, m) => self.failures.push(format!("{what}: documented without a body, answered {m:?}: {}", a.text)),
            (Some(_), None) => self.failures.push(format!("{what}: documented with a body, answered none")),
            (Some(content), Some(m)) => match content.get(&m) {
                None => self.failures.push(format!("{what}: content type {m} is not documented")),
                Some(c) if m == "application/json" => {
                    let schema = c["schema"].clone();
                    for e in mismatches(&self.doc, &schema, &a.body) {
                        self.failures.push(format!("{what}: {e}"));
                    }
                }
                Some(_) => {}
            },
        }
        if (200..300).contains(&a.status) {
            self.succeeded.insert((template.to_string(), method.to_ascii_lowercase()));
            if let (Some(sent), Some(schema)) = (&body, op.pointer("/requestBody/content/application~1json/schema")) {
                for e in mismatches(&self.doc, schema, sent) {
                    self.failures.push(format!("{what}: the accepted request body does not fit the document: {e}"));
                }
            }
        }
        a
    }
}

/// Waits until no entity of the context store status at `path` is `running`.
async fn sync_ended(e: &Engine, path: &str, token: &str) {
    for _ in 0..1200 {
        let a = call("GET", &e.url(path), Some(token), None, &[]).await;
        let entities = a.body["entities"].as_array().cloned().unwrap_or_default();
        if a.status == 200 && entities.iter().all(|s| s["status"] != "running") {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the context store sync at {path} did not end in 120 s");
}

fn id_of(a: &Answer) -> String {
    a.body["id"].as_str().unwrap_or_else(|| panic!("no id in {}", a.text)).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_matches_the_document() {
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    // HubSpot (its API, consent page and token URL) is the fake, for the OAuth consent routes.
    let hubspot = fake.base_url("hubspot");
    let Some(e) = start(Backend::Sqlite, |s| {
        s.upstream_base_urls.insert("hubspot".into(), hubspot);
    })
    .await
    else {
        return;
    };
    let doc = call("GET", &e.url("/api/v1/openapi.json"), None, None, &[]).await.body;
    let mut d = Drift { doc, engine: &e, succeeded: BTreeSet::new(), failures: Vec::new() };
    let client = json!({"client_id": e.app.client_id, "client_secret": e.app.client_secret});
    let origin = "https://app.example.com";

    // Tokens.
    let a = d
        .exchange(
            "POST",
            "/api/v1/account/applications/token",
            "/api/v1/account/applications/token",
            None,
            Some(client.clone()),
            &[],
        )
        .await;
    let app = a.body["access_token"].as_str().unwrap_or_default().to_string();
    d.exchange("POST", "/api/v1/applications/token", "/api/v1/applications/token", None, Some(client), &[]).await;
    let wrong = json!({"client_id": e.app.client_id, "client_secret": "wrong"});
    d.exchange("POST", "/api/v1/applications/token", "/api/v1/applications/token", None, Some(wrong), &[]).await;
    d.exchange(
        "POST",
        "/api/v1/account/applications/token",
        "/api/v1/account/applications/token",
        None,
        Some(json!({})),
        &[],
    )
    .await;
    let s = d
        .exchange(
            "POST",
            "/api/v1/embedded/scoped-token",
            "/api/v1/embedded/scoped-token",
            Some(&app),
            Some(json!({"workspace_name": "acme"})),
            &[],
        )
        .await;
    let scoped = s.body["token"].as_str().unwrap_or_default().to_string();
    d.exchange(
        "POST",
        "/api/v1/embedded/scoped-token",
        "/api/v1/embedded/scoped-token",
        Some(&app),
        Some(json!({"external_user_id": " "})),
        &[],
    )
    .await;
    d.exchange(
        "POST",
        "/api/v1/embedded/scoped-token",
        "/api/v1/embedded/scoped-token",
        None,
        Some(json!({"workspace_name": "acme"})),
        &[],
    )
    .await;
    let w = d
        .exchange(
            "POST",
            "/api/v1/embedded/widget-token",
            "/api/v1/embedded/widget-token",
            Some(&app),
            Some(json!({"workspace_name": "acme", "allowed_origin": origin})),
            &[],
        )
        .await;
    let widget = w.body["token"].as_str().unwrap_or_default().to_string();
    d.exchange(
        "POST",
        "/api/v1/account/applications/widget-token",
        "/api/v1/account/applications/widget-token",
        Some(&app),
        Some(json!({"customer_name": "acme", "allowed_origin": origin})),
        &[],
    )
    .await;
    d.exchange(
        "POST",
        "/api/v1/embedded/widget-token",
        "/api/v1/embedded/widget-token",
        Some(&app),
        Some(json!({"workspace_name": "acme", "allowed_origin": "*"})),
        &[],
    )
    .await;
    let info = "/api/v1/embedded/scoped-token/info";
    d.exchange("GET", info, info, Some(&scoped), None, &[]).await;
    d.exchange("GET", info, info, Some(&widget), None, &[("origin", origin)]).await;
    d.exchange("GET", info, info, Some(&app), None, &[]).await;
    // The application's template allow-list: set, read, refused, removed.
    let allowed = "/api/v1/embedded/allowed-templates";
    d.exchange("GET", allowed, allowed, Some(&app), None, &[]).await;
    let set =
        d.exchange("PUT", allowed, allowed, Some(&app), Some(json!({"allowed_templates": ["github"]})), &[]).await;
    assert_eq!(set.status, 200, "{}", set.text);
    d.exchange("GET", allowed, allowed, Some(&app), None, &[]).await;
    d.exchange("PUT", allowed, allowed, Some(&app), Some(json!({"allowed_templates": []})), &[]).await;
    d.exchange("GET", allowed, allowed, Some(&widget), None, &[("origin", origin)]).await;
    let cleared = d.exchange("PUT", allowed, allowed, Some(&app), Some(json!({"allowed_templates": null})), &[]).await;
    assert_eq!(cleared.status, 200, "{}", cleared.text);

    // Catalog and workspaces.
    let defs = "/api/v1/integrations/definitions/sources";
    d.exchange("GET", defs, defs, Some(&app), None, &[]).await;
    d.exchange("GET", defs, &format!("{defs}?name=git"), Some(&scoped), None, &[]).await;
    d.exchange("GET", defs, defs, None, None, &[]).await;
    let icon = "/api/v1/integrations/icons/{slug}";
    d.exchange("GET", icon, "/api/v1/integrations/icons/github", None, None, &[]).await;
    d.exchange("GET", icon, "/api/v1/integrations/icons/no-such-connector", None, None, &[]).await;
    let templates = "/api/v1/integrations/templates/sources";
    d.exchange("GET", templates, templates, Some(&app), None, &[]).await;
    d.exchange("GET", "/api/v1/workspaces", "/api/v1/workspaces?name_contains=ac", Some(&app), None, &[]).await;
    d.exchange("GET", "/api/v1/workspaces", "/api/v1/workspaces", Some(&scoped), None, &[]).await;

    // Connectors.
    let list = "/api/v1/integrations/connectors";
    let one = "/api/v1/integrations/connectors/{id}";
    let github = |pat: &str| {
        json!({"connector_type": "github", "name": "gh", "credentials": {"personal_access_token": pat},
            "replication_config": {"repositories": ["octo/hello"]}, "config": {"base_url": fake.base_url("github")}})
    };
    let c = d.exchange("POST", list, list, Some(&scoped), Some(github(creds::GITHUB_TOKEN)), &[]).await;
    let good = id_of(&c);
    let mut wrong = github("ghp_rejected_by_the_provider_1");
    wrong["workspace_name"] = json!("acme");
    let c = d.exchange("POST", list, list, Some(&app), Some(wrong), &[]).await;
    let rejected = id_of(&c);
    let c = d
        .exchange(
            "POST",
            list,
            list,
            Some(&widget),
            Some(json!({"connector_type": "stripe", "environment": {}, "credentials": {"api_key": "sk_test_x"}})),
            &[("origin", origin)],
        )
        .await;
    let stripe = id_of(&c);
    d.exchange("POST", list, list, Some(&app), Some(json!({"connector_type": "github", "credentials": {}})), &[]).await;
    let sources = "/v1/integrations/sources";
    let older = json!({"source_template_id": "e094cb9a-26de-4645-8761-65c0c425d1de", "name": "older",
        "auth_config": {"api_key": "sk_test_x"}, "config": {"base_url": fake.base_url("stripe")}});
    let c = d.exchange("POST", sources, sources, Some(&scoped), Some(older), &[]).await;
    assert_eq!(c.status, 201, "{}", c.text);
    // The context store: a sync of that connector's customers (from the fake), its status, and
    // a sync naming no entities.
    let (sync, status) = (
        "/api/v1/integrations/connectors/{id}/context-store/sync",
        "/api/v1/integrations/connectors/{id}/context-store/status",
    );
    let cached = format!("{list}/{}/context-store", id_of(&c));
    let started = d
        .exchange("POST", sync, &format!("{cached}/sync"), Some(&app), Some(json!({"entities": ["customers"]})), &[])
        .await;
    assert_eq!(started.status, 202, "{}", started.text);
    // A schedule (`every_seconds`, part of the documented body; the status then shows it), then
    // its removal (`null`), each once the sync before it ended.
    let every = json!({"entities": ["customers"], "every_seconds": 3600});
    let unscheduled = json!({"entities": ["customers"], "every_seconds": null});
    for body in [every, unscheduled] {
        sync_ended(&e, &format!("{cached}/status"), &app).await;
        let a = d.exchange("POST", sync, &format!("{cached}/sync"), Some(&app), Some(body), &[]).await;
        let how = a.body["entities"][0]["status"].as_str();
        assert!(a.status == 202 && matches!(how, Some("started" | "resumed")), "{}", a.text);
        d.exchange("GET", status, &format!("{cached}/status"), Some(&app), None, &[]).await;
    }
    d.exchange("POST", sync, &format!("{cached}/sync"), Some(&app), Some(json!({})), &[]).await;
    d.exchange("GET", status, &format!("{cached}/status"), Some(&app), None, &[]).await;
    d.exchange("POST", list, list, Some(&app), Some(json!({"connector_type": "github", "bogus": 1})), &[]).await;
    d.exchange("GET", list, list, Some(&scoped), None, &[]).await;
    d.exchange(
        "GET",
        list,
        &format!("{list}?workspace_name=acme&definition_id=ef69ef6e-aa7f-4af1-a01d-ef775033524e"),
        Some(&app),
        None,
        &[],
    )
    .await;
    d.exchange("GET", list, &format!("{list}?workspace_name=nobody"), Some(&app), None, &[]).await;
    d.exchange("GET", one, &format!("{list}/{good}"), Some(&app), None, &[]).await;
    d.exchange("GET", one, &format!("{list}/{}", uuid::Uuid::new_v4()), Some(&app), None, &[]).await;
    d.exchange(
        "PATCH",
        one,
        &format!("{list}/{good}"),
        Some(&scoped),
        Some(json!({"name": "renamed", "config": {"base_url": fake.base_url("github")}})),
        &[],
    )
    .await;
    d.exchange("PATCH", one, &format!("{list}/{good}"), Some(&scoped), Some(json!({"credentials": {}})), &[]).await;
    let instances = "/api/v1/connectors/instances_for_user";
    d.exchange("GET", instances, &format!("{instances}?external_user_id=acme"), Some(&app), None, &[]).await;
    d.exchange("GET", instances, instances, Some(&app), None, &[]).await;

    // Execution.
    let execute = "/api/v1/integrations/connectors/{id}/execute";
    let list_issues =
        json!({"entity": "issues", "action": "list", "params": {"owner": "octo", "repo": "hello", "per_page": 2}});
    let page = d
        .exchange("POST", execute, &format!("{list}/{good}/execute"), Some(&scoped), Some(list_issues.clone()), &[])
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.body["connector_metadata"]["next_page"].is_object(), "next_page is answered: {}", page.text);
    let get_repo = json!({"entity": "repositories", "action": "get", "params": {"owner": "octo", "repo": "hello"}, "select_fields": ["name"], "intent": "read one"});
    d.exchange("POST", execute, &format!("{list}/{good}/execute"), Some(&app), Some(get_repo), &[]).await;
    d.exchange(
        "POST",
        execute,
        &format!("{list}/{good}/execute"),
        Some(&app),
        Some(json!({"entity": "issues", "action": "list", "params": {"owner": "octo"}})),
        &[],
    )
    .await;
    let denied = d
        .exchange("POST", execute, &format!("{list}/{rejected}/execute"), Some(&app), Some(list_issues.clone()), &[])
        .await;
    assert_eq!(
        (denied.status, denied.body["code"].as_str()),
        (502, Some("upstream_authentication")),
        "{}",
        denied.text
    );
    d.exchange(
        "POST",
        execute,
        &format!("{list}/{good}/execute"),
        Some(&widget),
        Some(list_issues.clone()),
        &[("origin", origin)],
    )
    .await;
    d.exchange(
        "POST",
        "/api/v1/connectors/instances/{id}/execute",
        &format!("/api/v1/connectors/instances/{good}/execute"),
        Some(&app),
        Some(list_issues.clone()),
        &[],
    )
    .await;
    d.exchange(
        "POST",
        "/api/v1/connectors/sources/{id}/execute",
        &format!("/api/v1/connectors/sources/{good}/execute"),
        Some(&app),
        Some(list_issues),
        &[],
    )
    .await;
    let check = "/api/v1/integrations/connectors/{id}/check";
    d.exchange("POST", check, &format!("{list}/{good}/check"), Some(&app), None, &[]).await;
    let unhealthy = d.exchange("POST", check, &format!("{list}/{rejected}/check"), Some(&app), None, &[]).await;
    assert_eq!(unhealthy.body["status"], "unhealthy", "{}", unhealthy.text);
    d.exchange("DELETE", one, &format!("{list}/{stripe}"), Some(&widget), None, &[("origin", origin)]).await;
    d.exchange("DELETE", one, &format!("{list}/{stripe}"), Some(&app), None, &[]).await;

    // Operations, and this document.
    for p in ["/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"] {
        d.exchange("GET", p, p, None, None, &[]).await;
    }
    // The widget's static files.
    for p in ["/widget", "/widget/widget.js", "/widget/widget.css", "/widget/embed.js"] {
        d.exchange("GET", p, p, None, None, &[]).await;
    }

    // MCP: a JSON-RPC exchange, a notification, and the refusals of the stateless transport.
    let mcp_headers: &[(&str, &str)] = &[("accept", "application/json, text/event-stream")];
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let a = d.exchange("POST", "/mcp", "/mcp", Some(&app), Some(init), mcp_headers).await;
    assert_eq!(a.body["result"]["serverInfo"]["name"], "switchboard", "{}", a.text);
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    d.exchange("POST", "/mcp", "/mcp", Some(&app), Some(note), mcp_headers).await;
    d.exchange("POST", "/mcp", "/mcp", None, Some(json!({})), mcp_headers).await;
    d.exchange("POST", "/mcp", "/mcp", Some(&app), Some(json!({"jsonrpc": "2.0", "id": 1})), &[]).await;
    let a = d.exchange("POST", "/mcp", "/mcp", Some(&app), Some(json!({"jsonrpc": "2.0"})), mcp_headers).await;
    assert_eq!((a.status, &a.body["error"]["code"]), (400, &json!(-32600)), "{}", a.text);
    for m in ["GET", "DELETE"] {
        d.exchange(m, "/mcp", "/mcp", Some(&app), None, mcp_headers).await;
    }

    // OAuth consent: the operator's client, a consent through the fake's consent screen, the
    // callback's page, a refused callback, and the client deleted.
    let oauth_client = json!({"client_id": fake_upstream::creds::OAUTH_CLIENT_ID,
        "client_secret": fake_upstream::creds::OAUTH_CLIENT_SECRET, "scopes": ["crm.objects.contacts.read"]});
    let clients = "/api/v1/oauth/clients/{connector_type}";
    d.exchange("PUT", clients, "/api/v1/oauth/clients/hubspot", Some(&app), Some(oauth_client), &[]).await;
    d.exchange(
        "PUT",
        clients,
        "/api/v1/oauth/clients/github",
        Some(&app),
        Some(json!({"client_id": "x", "client_secret": "y"})),
        &[],
    )
    .await;
    d.exchange("GET", "/api/v1/oauth/clients", "/api/v1/oauth/clients", Some(&app), None, &[]).await;
    let start_consent = json!({"connector_type": "hubspot", "workspace_name": "oauth-doc"});
    let a = d
        .exchange("POST", "/api/v1/oauth/initiate", "/api/v1/oauth/initiate", Some(&app), Some(start_consent), &[])
        .await;
    let consent_url = a.body["consent_url"].as_str().unwrap_or_default().to_string();
    let no_redirects = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let back = no_redirects.get(format!("{consent_url}&auto=approve")).send().await.unwrap_or_else(|e| panic!("{e}"));
    let back = back.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let callback_path = back.strip_prefix(&e.base).unwrap_or_else(|| panic!("not a callback: {back}")).to_string();
    let a = d.exchange("GET", "/api/v1/oauth/callback", &callback_path, None, None, &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let a = d.exchange("GET", "/api/v1/oauth/callback", &callback_path, None, None, &[]).await;
    assert_eq!(a.status, 400, "a replayed state: {}", a.text);
    d.exchange("DELETE", clients, "/api/v1/oauth/clients/hubspot", Some(&app), None, &[]).await;
    d.exchange("DELETE", clients, "/api/v1/oauth/clients/hubspot", Some(&app), None, &[]).await;

    // The operator console: its files, a refusal, a session, its views, a rotation (last: it
    // changes the client secret) and signing out.
    for p in ["/console", "/console/console.js", "/console/console.css"] {
        d.exchange("GET", p, p, None, None, &[]).await;
    }
    d.exchange("GET", "/console/api/session", "/console/api/session", None, None, &[]).await;
    let own = [("origin", e.base.as_str())];
    let console_login = json!({"client_id": e.app.client_id, "client_secret": e.app.client_secret});
    let a = d.exchange("POST", "/console/api/login", "/console/api/login", None, Some(console_login), &own).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let set_cookie = a.headers.get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let cookie = set_cookie.split(';').next().unwrap_or_default().to_string();
    let csrf = a.body["csrf_token"].as_str().unwrap_or_default().to_string();
    let with_cookie = [("cookie", cookie.as_str())];
    for p in ["/console/api/session", "/console/api/workspaces", "/console/api/connectors", "/console/api/health"] {
        d.exchange("GET", p, p, None, None, &with_cookie).await;
    }
    let audit = "/console/api/audit";
    d.exchange("GET", audit, &format!("{audit}?outcome=success&limit=5"), None, None, &with_cookie).await;
    d.exchange("GET", audit, &format!("{audit}?since=never"), None, None, &with_cookie).await;
    let post = [("cookie", cookie.as_str()), ("origin", e.base.as_str()), ("x-csrf-token", csrf.as_str())];
    let rotate = "/console/api/rotate-secret";
    d.exchange("POST", rotate, rotate, None, None, &[("cookie", cookie.as_str()), ("origin", e.base.as_str())]).await;
    let a = d.exchange("POST", rotate, rotate, None, None, &post).await;
    assert_eq!(a.status, 200, "{}", a.text);
    // The rotation ended this session and answered a new one (cookie and CSRF token).
    let set_cookie = a.headers.get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let cookie = set_cookie.split(';').next().unwrap_or_default().to_string();
    let csrf = a.body["csrf_token"].as_str().unwrap_or_default().to_string();
    let post = [("cookie", cookie.as_str()), ("origin", e.base.as_str()), ("x-csrf-token", csrf.as_str())];
    let a = d.exchange("POST", "/console/api/logout", "/console/api/logout", None, None, &post).await;
    assert_eq!(a.status, 204, "{}", a.text);

    let Drift { succeeded, failures, .. } = d;
    assert!(failures.is_empty(), "answers that differ from the document:\n{}", failures.join("\n"));
    // Every route that documents a success (GET and DELETE /mcp document none) was seen succeeding.
    let doc = call("GET", &e.url("/api/v1/openapi.json"), None, None, &[]).await.body;
    let mut routed = BTreeSet::new();
    for (path, methods, _) in switchboard_engine::route_table() {
        for m in methods {
            let responses = doc["paths"][path][*m]["responses"].as_object().cloned().unwrap_or_default();
            if responses.keys().any(|s| s.starts_with('2')) {
                routed.insert((path.to_string(), m.to_string()));
            }
        }
    }
    let missed: Vec<_> = routed.difference(&succeeded).collect();
    assert!(missed.is_empty(), "routes this test never saw succeed: {missed:?}");
}

#[test]
fn the_check_finds_drift() {
    let doc = json!({"components": {"schemas": {
        "Page": {"type": "object", "required": ["result", "meta"], "properties": {
            "result": {}, "meta": {"$ref": "#/components/schemas/Meta"}, "note": {"type": ["string", "null"]}}},
        "Meta": {"allOf": [{"type": "object"}, {"type": "object", "properties": {
            "next_page": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Next"}]}}}]},
        "Next": {"type": "object", "required": ["param"], "properties": {"param": {"type": "string"}, "n": {"type": "integer"}}},
    }}});
    let page = json!({"$ref": "#/components/schemas/Page"});
    let fits = |v: Value| mismatches(&doc, &page, &v);
    assert!(fits(json!({"result": [1], "meta": {"any": 1, "next_page": {"param": "after"}}})).is_empty());
    assert!(fits(json!({"result": {}, "meta": {}, "note": null})).is_empty());
    let e = fits(json!({"meta": {}}));
    assert!(e.iter().any(|e| e.contains("result is missing")), "{e:?}");
    let e = fits(json!({"result": 1, "meta": {}, "extra": true}));
    assert!(e.iter().any(|e| e.contains("extra is not in the document")), "{e:?}");
    let e = fits(json!({"result": 1, "meta": {}, "note": 3}));
    assert!(e.iter().any(|e| e.contains("$.note")), "{e:?}");
    let e = fits(json!({"result": 1, "meta": {"next_page": {"param": 1}}}));
    assert!(!e.is_empty(), "a next_page of the wrong shape fits neither option");
    let e = fits(json!({"result": 1, "meta": {"next_page": {"param": "p", "n": 1.5}}}));
    assert!(!e.is_empty(), "1.5 is not an integer");
}
