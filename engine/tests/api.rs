//! The engine's HTTP API in process, on SQLite and on PostgreSQL: tenancy, token attacks,
//! validation, execution, OAuth refresh, secrets at rest, limits, CORS, OpenAPI.

mod common;

use std::collections::BTreeSet;

use common::{call, start, Backend, Engine};
use fake_upstream::{creds, FakeUpstream};
use serde_json::{json, Value};
use switchboard_engine::tokens::{claims, TokenKind};

async fn fake() -> FakeUpstream {
    FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"))
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

both_backends!(flow_create_list_execute_delete, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    let fake = fake().await;
    let app = e.app_token().await;
    let scoped = e.scoped_token(&app, "acme").await;
    let id = e.github_connector(&scoped, None, &fake.base_url("github"), creds::GITHUB_TOKEN).await;

    let list = e.get("/api/v1/integrations/connectors", &scoped).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["data"][0]["id"], json!(id));
    assert_eq!(list.body["data"][0]["summarized_source_template"]["slug"], "github");
    assert!(!list.text.contains(creds::GITHUB_TOKEN), "credentials are never answered");

    let run = e
        .post(
            &format!("/api/v1/integrations/connectors/{id}/execute"),
            &scoped,
            json!({"entity": "issues", "action": "list", "params": {"owner": "octo", "repo": "hello", "per_page": 2}}),
        )
        .await;
    assert_eq!(run.status, 200, "{}", run.text);
    assert_eq!(run.body["result"].as_array().map(Vec::len), Some(2));
    assert_eq!(run.body["connector_metadata"]["has_next_page"], true);
    assert_eq!(run.body["connector_metadata"]["pagination"]["has_next_page"], true);
    let cursor = run.body["connector_metadata"]["end_cursor"].clone();
    let next = e.post(&format!("/api/v1/connectors/instances/{id}/execute"), &app,
        json!({"entity": "issues", "action": "list", "params": {"owner": "octo", "repo": "hello", "per_page": 2, "after": cursor}})).await;
    assert_eq!(next.status, 200, "{}", next.text);
    assert_ne!(next.body["result"], run.body["result"], "the cursor moves to the next page");

    let audit = e.state.db.audit_records(&e.app.organization_id).await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0].0, "issues");
    assert_eq!(audit[0].2, "success");

    let check = e.post(&format!("/api/v1/integrations/connectors/{id}/check"), &scoped, json!({})).await;
    assert_eq!(check.status, 200, "{}", check.text);
    assert_eq!(check.body["status"], "healthy", "{}", check.text);

    let del = call("DELETE", &e.url(&format!("/api/v1/integrations/connectors/{id}")), Some(&scoped), None, &[]).await;
    assert_eq!(del.status, 204);
    let gone = e
        .post(
            &format!("/api/v1/integrations/connectors/{id}/execute"),
            &scoped,
            json!({"entity": "issues", "action": "list", "params": {"owner": "octo", "repo": "hello"}}),
        )
        .await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.body["code"], "not_found");
    let stored = e.state.db.credentials(&id).await.unwrap_or_else(|e| panic!("{e:?}"));
    assert!(stored.is_none(), "credentials are gone from storage");
});

both_backends!(create_names_every_missing_field, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    let app = e.app_token().await;
    let a =
        e.post("/api/v1/integrations/connectors", &app, json!({"connector_type": "GitHub", "credentials": {}})).await;
    assert_eq!(a.status, 422, "{}", a.text);
    assert_eq!(a.body["code"], "validation");
    let fields: Vec<&str> =
        a.body["details"]["fields"].as_array().into_iter().flatten().filter_map(|f| f["field"].as_str()).collect();
    for f in ["workspace_name", "credentials.personal_access_token", "replication_config.repositories"] {
        assert!(fields.contains(&f), "{f} not named in {}", a.text);
    }
    let unknown = e
        .post(
            "/api/v1/integrations/connectors",
            &app,
            json!({"connector_type": "nosuch", "workspace_name": "w", "credentials": {}}),
        )
        .await;
    assert_eq!(unknown.status, 422);
    assert!(unknown.text.contains("unknown connector"), "{}", unknown.text);
    // Slug resolution by definition id, any case; unknown fields are refused.
    let by_id = e.post("/api/v1/integrations/connectors", &app, json!({"definition_id": "E094CB9A-26DE-4645-8761-65C0C425D1DE", "workspace_name": "w", "credentials": {"api_key": "sk_test_x"}})).await;
    assert_eq!(by_id.status, 201, "{}", by_id.text);
    assert_eq!(
        (&by_id.body["connector_type"], &by_id.body["slug"]),
        (&serde_json::json!("Stripe"), &serde_json::json!("stripe"))
    );
    let typo = e.post("/api/v1/integrations/connectors", &app, json!({"connector_type": "stripe", "workspace_name": "w", "credentials": {"api_key": "k"}, "credentials_typo": 1})).await;
    assert_eq!(typo.status, 422, "{}", typo.text);
    assert!(typo.text.contains("credentials_typo"), "{}", typo.text);
});

both_backends!(tenant_isolation, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    let fake = fake().await;
    let other_app = switchboard_engine::admin::create_application(&e.state.db, e.state.secrets.hasher(), "org-b")
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let app_a = e.app_token().await;
    let app_b = e.app_token_for(&other_app).await;
    let scoped_a1 = e.scoped_token(&app_a, "a1").await;
    let scoped_a2 = e.scoped_token(&app_a, "a2").await;
    let scoped_b = e.scoped_token(&app_b, "a1").await; // same workspace name, other org
    let widget_b = e.widget_token(&app_b, "a1", "https://b.example").await;
    let secret_name = "a1-private-connector";
    let id_a1 = e.github_connector(&scoped_a1, None, &fake.base_url("github"), creds::GITHUB_TOKEN).await;
    let rename = call(
        "PATCH",
        &e.url(&format!("/api/v1/integrations/connectors/{id_a1}")),
        Some(&scoped_a1),
        Some(json!({"name": secret_name})),
        &[],
    )
    .await;
    assert_eq!(rename.status, 200, "{}", rename.text);

    let foreign: Vec<(&str, &str)> = vec![("app_b", &app_b), ("scoped_b", &scoped_b), ("scoped_a2", &scoped_a2)];
    for (who, tok) in &foreign {
        for (method, path, body) in [
            ("GET", format!("/api/v1/integrations/connectors/{id_a1}"), None),
            ("PATCH", format!("/api/v1/integrations/connectors/{id_a1}"), Some(json!({"name": "stolen"}))),
            (
                "POST",
                format!("/api/v1/integrations/connectors/{id_a1}/execute"),
                Some(json!({"entity": "issues", "action": "list", "params": {"owner": "octo", "repo": "hello"}})),
            ),
            ("POST", format!("/api/v1/integrations/connectors/{id_a1}/check"), None),
            (
                "POST",
                format!("/api/v1/connectors/sources/{id_a1}/execute"),
                Some(json!({"entity": "issues", "action": "list"})),
            ),
            ("DELETE", format!("/api/v1/integrations/connectors/{id_a1}"), None),
        ] {
            let a = call(method, &e.url(&path), Some(tok), body, &[]).await;
            assert_eq!(a.status, 404, "{who} {method} {path}: {}", a.text);
            assert!(!a.text.contains(secret_name) && !a.text.contains("octo"), "{who} leaked: {}", a.text);
        }
        for path in [
            "/api/v1/integrations/connectors",
            "/api/v1/integrations/connectors?workspace_name=a1",
            "/api/v1/connectors/instances_for_user?external_user_id=a1",
        ] {
            let a = call("GET", &e.url(path), Some(tok), None, &[]).await;
            assert!(a.status == 200 || a.status == 403, "{who} {path}: {}", a.text);
            assert!(!a.text.contains(&id_a1) && !a.text.contains(secret_name), "{who} {path} leaked: {}", a.text);
        }
    }
    let w = call(
        "GET",
        &e.url(&format!("/api/v1/integrations/connectors/{id_a1}")),
        Some(&widget_b),
        None,
        &[("origin", "https://b.example")],
    )
    .await;
    assert_eq!(w.status, 404, "{}", w.text);
    let ws_b = e.get("/api/v1/workspaces", &app_b).await;
    assert_eq!(ws_b.status, 200);
    assert_eq!(ws_b.body["data"].as_array().map(Vec::len), Some(1), "org b sees only its own workspace: {}", ws_b.text);
    // A scoped token naming another workspace is refused.
    let cross = e.get("/api/v1/integrations/connectors?workspace_name=a1", &scoped_a2).await;
    assert_eq!(cross.status, 403, "{}", cross.text);
    // The owner still sees it, unchanged.
    let own = e.get(&format!("/api/v1/integrations/connectors/{id_a1}"), &scoped_a1).await;
    assert_eq!(own.body["name"], secret_name);
});

both_backends!(token_attacks, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    let fake = fake().await;
    let app = e.app_token().await;
    let scoped = e.scoped_token(&app, "acme").await;
    let id = e.github_connector(&scoped, None, &fake.base_url("github"), creds::GITHUB_TOKEN).await;
    let exec_path = format!("/api/v1/integrations/connectors/{id}/execute");
    let exec_body = json!({"entity": "issues", "action": "list", "params": {"owner": "octo", "repo": "hello"}});

    use base64::Engine as _;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let payload = json!({"iss": "switchboard", "sub": "x", "org": e.app.organization_id, "kind": "application", "iat": now(), "exp": now() + 600, "jti": "j"});
    let none_token = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&payload));
    let forged = {
        let key = jsonwebtoken::EncodingKey::from_secret(b"not-the-engine-key");
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.kid = Some("k-unknown".into());
        jsonwebtoken::encode(&h, &payload, &key).unwrap_or_default()
    };
    let tampered = {
        let parts: Vec<&str> = app.split('.').collect();
        let mut p: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[1]).unwrap_or_default(),
        )
        .unwrap_or_default();
        p["org"] = json!("another-org");
        format!("{}.{}.{}", parts[0], b64(&p), parts[2])
    };
    let expired = e
        .state
        .signer
        .issue_at(
            claims(TokenKind::Application, &e.app.client_id, &e.app.organization_id, None, None),
            now() - 3600,
            now() - 60,
        )
        .unwrap_or_default();
    for (name, tok, reason) in [
        ("alg none", none_token.as_str(), "bad_algorithm"),
        ("wrong key", forged.as_str(), "unknown_key"),
        ("tampered", tampered.as_str(), "bad_signature"),
        ("expired", expired.as_str(), "expired"),
        ("garbage", "abc", "malformed_token"),
    ] {
        let a = e.post(&exec_path, tok, exec_body.clone()).await;
        assert_eq!(a.status, 401, "{name}: {}", a.text);
        assert_eq!(a.body["code"], "authentication", "{name}");
        assert_eq!(a.body["details"]["reason"], reason, "{name}: {}", a.text);
    }
    let none = call("GET", &e.url("/api/v1/workspaces"), None, None, &[]).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.body["details"]["reason"], "missing_token");

    // A scoped token used as an application token, a widget token used to execute.
    let a = e.post("/api/v1/embedded/scoped-token", &scoped, json!({"workspace_name": "other"})).await;
    assert_eq!((a.status, a.body["details"]["reason"].as_str()), (401, Some("wrong_token_kind")), "{}", a.text);
    let widget = e.widget_token(&app, "acme", "https://app.example.com").await;
    let a = call(
        "POST",
        &e.url(&exec_path),
        Some(&widget),
        Some(exec_body.clone()),
        &[("origin", "https://app.example.com")],
    )
    .await;
    assert_eq!(a.status, 401, "{}", a.text);
    // The widget may list its workspace's connectors, from its origin only.
    let ok = call(
        "GET",
        &e.url("/api/v1/integrations/connectors"),
        Some(&widget),
        None,
        &[("origin", "https://app.example.com")],
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(
        ok.headers.get("access-control-allow-origin").and_then(|v| v.to_str().ok()),
        Some("https://app.example.com")
    );
    let evil = call(
        "GET",
        &e.url("/api/v1/integrations/connectors"),
        Some(&widget),
        None,
        &[("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(evil.status, 403, "{}", evil.text);
    assert!(evil.headers.get("access-control-allow-origin").is_none());
    // X-Organization-Id must match the token.
    let a = call("GET", &e.url("/api/v1/workspaces"), Some(&app), None, &[("x-organization-id", "someone-else")]).await;
    assert_eq!(a.status, 403);
    let a =
        call("GET", &e.url("/api/v1/workspaces"), Some(&app), None, &[("x-organization-id", &e.app.organization_id)])
            .await;
    assert_eq!(a.status, 200);
    // Wrong client secret.
    let a = call(
        "POST",
        &e.url("/api/v1/applications/token"),
        None,
        Some(json!({"client_id": e.app.client_id, "client_secret": "wrong"})),
        &[],
    )
    .await;
    assert_eq!(a.status, 401);
    assert!(!a.text.contains(&e.app.client_secret));
    // Info about a scoped token.
    let info = e.get("/api/v1/embedded/scoped-token/info", &scoped).await;
    assert_eq!(info.status, 200);
    assert_eq!(info.body["workspace_name"], "acme");
    assert_eq!(info.body["kind"], "scoped");
});

both_backends!(cors_preflight_only_for_widget_origins, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    let app = e.app_token().await;
    e.widget_token(&app, "acme", "https://app.example.com").await;
    let pre = |origin: &'static str| {
        let url = e.url("/api/v1/integrations/connectors");
        async move {
            call("OPTIONS", &url, None, None, &[("origin", origin), ("access-control-request-method", "POST")]).await
        }
    };
    let ok = pre("https://app.example.com").await;
    assert_eq!(
        ok.headers.get("access-control-allow-origin").and_then(|v| v.to_str().ok()),
        Some("https://app.example.com")
    );
    assert_eq!(ok.headers.get("vary").and_then(|v| v.to_str().ok()), Some("Origin"));
    let other = pre("https://evil.example").await;
    assert!(other.headers.get("access-control-allow-origin").is_none(), "no reflection of unknown origins");
    let bad =
        e.post("/api/v1/embedded/widget-token", &app, json!({"workspace_name": "acme", "allowed_origin": "*"})).await;
    assert_eq!(bad.status, 422);
});

both_backends!(widget_origins_are_real_origins_and_bounded, |backend| async move {
    let Some(e) = start(backend, |s| {
        s.rate_per_sec = 1e9;
        s.rate_burst = 1e9;
    })
    .await
    else {
        return;
    };
    let app = e.app_token().await;
    let mint = |origin: String, ws: &'static str| {
        let body = json!({"workspace_name": ws, "allowed_origin": origin});
        let (e, app) = (&e, app.clone());
        async move { e.post("/api/v1/embedded/widget-token", &app, body).await }
    };
    // Wildcards and characters a CSP source or a CORS answer would read, and names longer
    // than DNS allows, are not origins.
    let long = format!("https://{}.example", vec!["a".repeat(63); 5].join("."));
    for bad in ["http://*", "https://*.com", "https://a;sandbox", "https://a'b", "https://a,b", long.as_str()] {
        let a = mint(bad.to_string(), "w0").await;
        assert_eq!((a.status, a.body["code"].as_str()), (422, Some("validation")), "{bad}: {}", a.text);
    }
    // An organization registers at most MAX_WIDGET_ORIGINS distinct origins, even when mints
    // with new origins race (the last five places, fifteen mints at once); one it has
    // registered goes on minting, for any workspace.
    let max = switchboard_engine::services::tokens::MAX_WIDGET_ORIGINS;
    for i in 0..max - 5 {
        let a = mint(format!("https://app{i}.example"), "w0").await;
        assert_eq!(a.status, 200, "{i}: {}", a.text);
    }
    let racing = futures::future::join_all((0..15).map(|i| mint(format!("https://race{i}.example"), "w0"))).await;
    let statuses: Vec<u16> = racing.iter().map(|a| a.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 422).count(), 10, "{statuses:?}");
    let stored: std::collections::HashSet<String> =
        e.state.db.widget_origins().await.unwrap_or_else(|e| panic!("{e:?}")).into_iter().map(|o| o.origin).collect();
    assert_eq!(stored.len() as i64, max, "distinct origins stored");
    let over = mint("https://one-more.example".into(), "w0").await;
    assert_eq!((over.status, over.body["code"].as_str()), (422, Some("validation")), "{}", over.text);
    assert!(over.text.contains(&format!("registered {max} widget origins")), "{}", over.text);
    assert_eq!(mint("https://app7.example".into(), "w1").await.status, 200, "a known origin, another workspace");
    let org_b = switchboard_engine::admin::create_application(&e.state.db, e.state.secrets.hasher(), "org-b")
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let other = e.app_token_for(&org_b).await;
    let a = e
        .post(
            "/api/v1/embedded/widget-token",
            &other,
            json!({"workspace_name": "w", "allowed_origin": "https://one-more.example"}),
        )
        .await;
    assert_eq!(a.status, 200, "another organization has its own bound: {}", a.text);
});

both_backends!(answers_carrying_tokens_are_never_cached, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    let app = e.app_token().await;
    let cache = |a: &common::Answer| a.headers.get("cache-control").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = json!({"client_id": e.app.client_id, "client_secret": e.app.client_secret});
    for (path, token, body) in [
        ("/api/v1/account/applications/token", None, body.clone()),
        ("/api/v1/applications/token", None, json!({"client_id": e.app.client_id, "client_secret": "wrong"})),
        ("/api/v1/embedded/scoped-token", Some(&app), json!({"workspace_name": "w"})),
        (
            "/api/v1/embedded/widget-token",
            Some(&app),
            json!({"workspace_name": "w", "allowed_origin": "https://a.example"}),
        ),
        ("/api/v1/embedded/widget-token", Some(&app), json!({"workspace_name": "w"})),
        ("/api/v1/oauth/initiate", Some(&app), json!({"connector_type": "hubspot", "workspace_name": "w"})),
    ] {
        let a = call("POST", &e.url(path), token.map(String::as_str), Some(body.clone()), &[]).await;
        assert_eq!(cache(&a).as_deref(), Some("no-store"), "{path} {body} answered {}: {}", a.status, a.text);
    }
    // Answers without a secret keep the default.
    let a = e.get("/api/v1/integrations/connectors", &app).await;
    assert_eq!(cache(&a), None);
});

both_backends!(execution_errors_map_to_the_table, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    let fake = fake().await;
    let app = e.app_token().await;
    let good = e.github_connector(&app, Some("w"), &fake.base_url("github"), creds::GITHUB_TOKEN).await;
    let bad = e.github_connector(&app, Some("w"), &fake.base_url("github"), "ghp_wrong_token_123").await;
    let exec = |id: String, body: Value| {
        let url = e.url(&format!("/api/v1/integrations/connectors/{id}/execute"));
        let app = app.clone();
        async move { call("POST", &url, Some(&app), Some(body), &[]).await }
    };
    let a =
        exec(bad.clone(), json!({"entity": "issues", "action": "list", "params": {"owner": "octo", "repo": "hello"}}))
            .await;
    // The provider rejected the connector's credentials: not the caller's own authentication.
    assert_eq!((a.status, a.body["code"].as_str()), (502, Some("upstream_authentication")), "{}", a.text);
    assert_eq!(a.body["details"]["upstream_status"], 401, "{}", a.text);
    assert!(!a.text.contains("ghp_wrong_token_123"));
    let a = exec(good.clone(), json!({"entity": "nope", "action": "list"})).await;
    assert_eq!((a.status, a.body["code"].as_str()), (422, Some("validation")), "{}", a.text);
    let a = exec(good.clone(), json!({"entity": "issues", "action": "list", "params": {"owner": "octo"}})).await;
    assert_eq!(a.status, 422);
    assert!(a.text.contains("repo"), "{}", a.text);
    let a = exec(good.clone(), json!({"entity": "issues", "action": "list", "parameters": {}})).await;
    assert_eq!(a.status, 422, "unknown fields in an execute body are refused: {}", a.text);
    fake.add_fault(
        serde_json::from_value(json!({"prefix": "github", "status": 500, "count": -1}))
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let a = exec(
        good.clone(),
        json!({"entity": "issues", "action": "create", "params": {"owner": "octo", "repo": "hello", "title": "t"}}),
    )
    .await;
    assert_eq!((a.status, a.body["code"].as_str()), (502, Some("upstream_http")), "{}", a.text);
    assert_eq!(a.body["details"]["upstream_status"], 500);
    fake.reset();
    // Egress: a base URL on a host the operator did not allow is refused when stored...
    let localhost = format!("http://localhost:{}/github", fake.addr.port());
    let sneaky = e.post("/api/v1/integrations/connectors", &app, json!({
        "connector_type": "github", "workspace_name": "w", "credentials": {"personal_access_token": creds::GITHUB_TOKEN},
        "replication_config": {"repositories": ["octo/hello"]}, "config": {"base_url": localhost}})).await;
    assert_eq!(
        (sneaky.status, sneaky.body["details"]["fields"][0]["field"].as_str()),
        (422, Some("config.base_url")),
        "{}",
        sneaky.text
    );
    // ...and, for a row stored before (or rules narrowed since), before any request.
    let id = e.github_connector(&app, Some("w"), &fake.base_url("github"), creds::GITHUB_TOKEN).await;
    store_config(&e, &id, json!({"base_url": localhost})).await;
    let a = exec(id, json!({"entity": "issues", "action": "list", "params": {"owner": "octo", "repo": "hello"}})).await;
    assert_eq!((a.status, a.body["code"].as_str()), (403, Some("forbidden")), "{}", a.text);
    assert!(fake.requests().is_empty(), "no byte left for a forbidden host");
    // The same holds for an OAuth token endpoint: refresh requests carry secrets too.
    let token_url = format!("http://localhost:{}/hubspot/oauth/v1/token", fake.addr.port());
    let oauth_body = |config: Value| {
        json!({
        "connector_type": "hubspot", "workspace_name": "w",
        "credentials": {"refresh_token": creds::OAUTH_INITIAL_REFRESH_TOKEN, "client_id": creds::OAUTH_CLIENT_ID, "client_secret": creds::OAUTH_CLIENT_SECRET},
        "config": config})
    };
    let refused = e
        .post(
            "/api/v1/integrations/connectors",
            &app,
            oauth_body(json!({"base_url": fake.base_url("hubspot"), "token_url": token_url})),
        )
        .await;
    assert_eq!(
        (refused.status, refused.body["details"]["fields"][0]["field"].as_str()),
        (422, Some("config.token_url")),
        "{}",
        refused.text
    );
    let oauth = e
        .post("/api/v1/integrations/connectors", &app, oauth_body(json!({"base_url": fake.base_url("hubspot")})))
        .await;
    assert_eq!(oauth.status, 201, "{}", oauth.text);
    let id = oauth.body["id"].as_str().unwrap_or_default().to_string();
    store_config(&e, &id, json!({"base_url": fake.base_url("hubspot"), "token_url": token_url})).await;
    let a = exec(id, json!({"entity": "contacts", "action": "list"})).await;
    assert_eq!((a.status, a.body["code"].as_str()), (403, Some("forbidden")), "{}", a.text);
    assert!(fake.requests().is_empty(), "no refresh went to a forbidden host");
});

/// Writes a connector's config straight to storage, past the API's checks (a row stored before
/// them, or egress rules narrowed since).
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

both_backends!(bad_requests_and_limits, |backend| async move {
    let Some(e) = start(backend, |s| {
        s.rate_per_sec = 1.0;
        s.rate_burst = 40.0;
    })
    .await
    else {
        return;
    };
    let app = e.app_token().await;
    let url = e.url("/api/v1/integrations/connectors");
    let raw = |body: Vec<u8>| {
        let url = url.clone();
        let app = app.clone();
        async move {
            let r = common::client()
                .post(&url)
                .bearer_auth(&app)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            let r = r.unwrap_or_else(|e| panic!("{e}"));
            let status = r.status().as_u16();
            (status, r.text().await.unwrap_or_default())
        }
    };
    let (s, t) = raw(b"{not json".to_vec()).await;
    assert_eq!(s, 400, "{t}");
    assert!(t.contains("\"bad_request\""), "{t}");
    let (s, t) = raw(vec![b' '; 2 * 1024 * 1024]).await;
    assert_eq!(s, 413, "{t}");
    assert!(t.contains("payload_too_large"), "{t}");
    // /mcp: text that is not JSON is JSON-RPC's parse error, JSON that is not a JSON-RPC message
    // its invalid request, both 400 with a null id; another media type the engine's 415.
    let mcp = |content_type: &'static str, body: Vec<u8>| {
        let url = e.url("/mcp");
        let app = app.clone();
        async move {
            let r = common::client()
                .post(&url)
                .bearer_auth(&app)
                .header("content-type", content_type)
                .header("accept", "application/json, text/event-stream")
                .body(body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let status = r.status().as_u16();
            (status, serde_json::from_str::<Value>(&r.text().await.unwrap_or_default()).unwrap_or_default())
        }
    };
    let (s, b) =
        mcp("application/json", b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"tools/list\"".to_vec()).await;
    assert_eq!((s, &b["error"]["code"], &b["id"]), (400, &json!(-32700), &Value::Null), "{b}");
    assert!(b["error"]["message"].as_str().is_some_and(|m| m.contains("not JSON")), "{b}");
    let (s, b) = mcp("application/json; charset=utf-8", br#"{"jsonrpc": "2.0", "id": 1, "method": 7}"#.to_vec()).await;
    assert_eq!(
        (s, &b["error"]["code"], &b["jsonrpc"], &b["id"]),
        (400, &json!(-32600), &json!("2.0"), &json!(1)),
        "{b}"
    );
    // A request naming a method with params that cannot be read: invalid params, with its id
    // (as the stdio server answers the same line); a notification that cannot be read: 202.
    let (s, b) =
        mcp("application/json", br#"{"jsonrpc": "2.0", "id": "p", "method": "tools/call", "params": 5}"#.to_vec())
            .await;
    assert_eq!((s, &b["error"]["code"], &b["id"]), (400, &json!(-32602), &json!("p")), "{b}");
    let (s, _) =
        mcp("application/json", br#"{"jsonrpc": "2.0", "method": "notifications/cancelled", "params": 5}"#.to_vec())
            .await;
    assert_eq!(s, 202, "an unreadable notification is accepted, not answered");
    let (s, b) = mcp("text/plain", br#"{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}"#.to_vec()).await;
    assert_eq!((s, &b["code"]), (415, &json!("bad_request")), "{b}");
    let (s, b) = mcp("application/json", vec![b' '; 2 * 1024 * 1024]).await;
    assert_eq!((s, &b["code"]), (413, &json!("payload_too_large")), "{b}");
    let (s, b) = mcp("application/json", br#"{"jsonrpc": "2.0", "id": 5, "method": "tools/list"}"#.to_vec()).await;
    assert_eq!((s, &b["id"]), (200, &json!(5)), "the checked body still reaches rmcp whole: {b}");
    // A 10 MB header is refused by the HTTP layer; the engine keeps serving.
    let huge = "x".repeat(10 * 1024 * 1024);
    let r = common::client().get(e.url("/healthz")).header("x-huge", huge).send().await;
    // An error means the connection was closed on us, which is also a refusal.
    if let Ok(resp) = r {
        assert!(resp.status().is_client_error(), "{}", resp.status());
    }
    let h = call("GET", &e.url("/healthz"), None, None, &[]).await;
    assert_eq!(h.status, 200);
    let ready = call("GET", &e.url("/readyz"), None, None, &[]).await;
    assert_eq!(ready.status, 200);
    // Rate limit: the burst runs out, then 429 with Retry-After.
    let a = until_limited(&e, "/api/v1/workspaces", &app, 80).await;
    assert_eq!(a.body["code"], "rate_limited");
    assert!(a.headers.get("retry-after").is_some());
    let m = call("GET", &e.url("/metrics"), None, None, &[]).await;
    assert!(
        m.text.contains("switchboard_http_requests_total{method=\"GET\",route=\"/api/v1/workspaces\",status=\"429\"}"),
        "{}",
        m.text
    );
});

/// The first 429 of at most `tries` GETs of `path` with `token`.
async fn until_limited(e: &Engine, path: &str, token: &str, tries: usize) -> common::Answer {
    for _ in 0..tries {
        let a = e.get(path, token).await;
        if a.status == 429 {
            return a;
        }
    }
    panic!("{tries} requests of {path} and the rate limit never answered 429")
}

/// An application token issued for a client secret since rotated mints no scoped or widget
/// token (it would stretch a leaked secret's reach past its rotation); it still reads until it
/// expires, and a token of the new secret mints.
#[tokio::test]
async fn tokens_of_a_rotated_secret_mint_nothing() {
    let Some(e) = start(Backend::Sqlite, |_| {}).await else { return };
    let old = e.app_token().await;
    let app = e.state.db.find_application(&e.app.client_id).await.unwrap_or_else(|e| panic!("{e:?}"));
    let old_hash = app.map(|a| a.secret_hash).unwrap_or_else(|| panic!("no application"));
    let new_secret = "a-new-client-secret-of-the-operator";
    let new_hash = e.state.secrets.hasher().hash(&e.app.client_id, new_secret);
    let replaced = e.state.db.replace_application_secret(&e.app.client_id, &old_hash, &new_hash).await;
    assert!(replaced.unwrap_or_else(|e| panic!("{e:?}")));
    for (path, body) in [
        ("/api/v1/embedded/scoped-token", json!({"workspace_name": "ws"})),
        ("/api/v1/embedded/widget-token", json!({"workspace_name": "ws", "allowed_origin": "https://app.example.com"})),
    ] {
        let a = e.post(path, &old, body).await;
        assert_eq!((a.status, &a.body["details"]["reason"]), (401, &json!("secret_rotated")), "{path}: {}", a.text);
    }
    assert_eq!(e.get("/api/v1/workspaces", &old).await.status, 200, "it still reads until it expires");
    let rotated = switchboard_engine::admin::NewApplication {
        organization_id: e.app.organization_id.clone(),
        client_id: e.app.client_id.clone(),
        client_secret: new_secret.to_string(),
    };
    let new = e.app_token_for(&rotated).await;
    let a = e.post("/api/v1/embedded/scoped-token", &new, json!({"workspace_name": "ws"})).await;
    assert_eq!(a.status, 200, "{}", a.text);
}

/// `admin rotate-signing-key`: the new key signs from the next re-read on, tokens signed before
/// stay valid; with `retire_old` every token signed with another key is refused (after a leak
/// of the database and the master key, which lets anyone sign tokens).
#[tokio::test]
async fn signing_keys_rotate_and_retire() {
    let Some(e) = start(Backend::Sqlite, |_| {}).await else { return };
    let kid = |token: &str| {
        jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid).unwrap_or_else(|| panic!("no kid: {token}"))
    };
    let first = e.app_token().await;
    let (added, retired) = switchboard_engine::tokens::rotate_signing_key(&e.state.db, &e.state.keys, false)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(retired, 0);
    e.state.signer.reread(&e.state.db, &e.state.keys).await.unwrap_or_else(|e| panic!("{e:?}"));
    let second = e.app_token().await;
    assert_eq!(kid(&second), added, "the new key signs");
    assert_ne!(kid(&first), added);
    for token in [&first, &second] {
        assert_eq!(e.get("/api/v1/workspaces", token).await.status, 200, "tokens of both keys verify");
    }
    let (newest, retired) = switchboard_engine::tokens::rotate_signing_key(&e.state.db, &e.state.keys, true)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(retired, 2, "both older keys are retired");
    e.state.signer.reread(&e.state.db, &e.state.keys).await.unwrap_or_else(|e| panic!("{e:?}"));
    for token in [&first, &second] {
        let a = e.get("/api/v1/workspaces", token).await;
        assert_eq!((a.status, &a.body["details"]["reason"]), (401, &json!("unknown_key")), "{}", a.text);
    }
    let third = e.app_token().await;
    assert_eq!(kid(&third), newest);
    assert_eq!(e.get("/api/v1/workspaces", &third).await.status, 200);
}

/// Scoped and widget tokens (end users' apps and browsers) spend their workspace's request
/// budget; application tokens their organization's: one workspace running out makes neither the
/// organization's backend nor another workspace wait.
#[tokio::test]
async fn a_workspace_token_spends_its_workspaces_budget() {
    let Some(e) = start(Backend::Sqlite, |s| {
        s.rate_per_sec = 0.01;
        s.rate_burst = 12.0;
    })
    .await
    else {
        return;
    };
    let app = e.app_token().await;
    let (a, b) = (e.scoped_token(&app, "ws-a").await, e.scoped_token(&app, "ws-b").await);
    let r = until_limited(&e, "/api/v1/integrations/connectors", &a, 20).await;
    assert_eq!(r.body["code"], "rate_limited");
    assert!(r.body["message"].as_str().is_some_and(|m| m.contains("this workspace")), "{}", r.text);
    for (who, token) in [("ws-b", &b), ("the application", &app)] {
        let r = e.get("/api/v1/integrations/connectors?workspace_name=ws-b", token).await;
        assert_eq!(r.status, 200, "{who} waits for ws-a: {}", r.text);
    }
}

#[tokio::test]
async fn openapi_documents_exactly_the_routes() {
    let Some(e) = start(Backend::Sqlite, |_| {}).await else { return };
    let doc = call("GET", &e.url("/api/v1/openapi.json"), None, None, &[]).await;
    assert_eq!(doc.status, 200);
    assert!(doc.body["openapi"].as_str().unwrap_or_default().starts_with("3.1"));
    let mut documented = BTreeSet::new();
    for (path, item) in doc.body["paths"].as_object().into_iter().flatten() {
        for method in item.as_object().into_iter().flatten().map(|(m, _)| m.clone()) {
            documented.insert((path.clone(), method));
        }
    }
    let mut routed = BTreeSet::new();
    for (path, methods, _) in switchboard_engine::route_table() {
        for m in methods {
            routed.insert((path.to_string(), m.to_string()));
        }
    }
    assert_eq!(documented, routed, "openapi.json and the router disagree");
}

async fn engine_with(e: &Engine) -> String {
    e.app_token().await
}

both_backends!(secrets_never_stored_in_plaintext, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    let fake = fake().await;
    let app = engine_with(&e).await;
    let secrets = ["ghp_plaintext_canary_1234567", "sk_test_plaintext_canary_7654321"];
    e.github_connector(&app, Some("w"), &fake.base_url("github"), secrets[0]).await;
    let s = e
        .post(
            "/api/v1/integrations/connectors",
            &app,
            json!({"connector_type": "stripe", "workspace_name": "w", "credentials": {"api_key": secrets[1]}}),
        )
        .await;
    assert_eq!(s.status, 201);
    let dump: Vec<u8> = match (&e.database_url, backend) {
        (Some(url), Backend::Postgres) => {
            let pg_dump = std::env::var("SWITCHBOARD_TEST_PG_DUMP").unwrap_or_else(|_| "pg_dump".into());
            let out = std::process::Command::new(pg_dump).arg(url).output().unwrap_or_else(|e| panic!("pg_dump: {e}"));
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            out.stdout
        }
        _ => {
            let mut all = Vec::new();
            for f in std::fs::read_dir(&e.dir.0).into_iter().flatten().flatten() {
                all.extend(std::fs::read(f.path()).unwrap_or_default());
            }
            all
        }
    };
    assert!(dump.len() > 1000, "the dump has the data");
    let text = String::from_utf8_lossy(&dump);
    assert!(text.contains("github"), "the dump is readable");
    for s in secrets.iter().copied().chain([e.app.client_secret.as_str()]) {
        assert!(!text.contains(s), "{s} stands in plaintext in storage");
    }
});

both_backends!(catalog_definitions_and_templates, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    let app = e.app_token().await;
    let all = e.get("/api/v1/integrations/definitions/sources", &app).await;
    assert_eq!(all.status, 200);
    // Every built-in connector is in the catalog.
    let builtin = switchboard_core::Registry::builtin().map(|r| r.all().count()).unwrap_or_default();
    assert!(builtin >= 5);
    assert_eq!(all.body["definitions"].as_array().map(Vec::len), Some(builtin), "{}", all.text);
    // The name filter: case-insensitive, on the display name ("GIT" finds GitHub and GitLab).
    let git = e.get("/api/v1/integrations/definitions/sources?name=GIT", &app).await;
    let defs = git.body["definitions"].as_array().cloned().unwrap_or_default();
    let slugs: Vec<&str> = defs.iter().filter_map(|d| d["slug"].as_str()).collect();
    assert_eq!(slugs, ["github", "gitlab"], "{}", git.text);
    assert_eq!(defs[0]["sourceDefinitionId"], "ef69ef6e-aa7f-4af1-a01d-ef775033524e");
    let hub = e.get("/api/v1/integrations/definitions/sources?name=hubs", &app).await;
    let slugs: Vec<&str> =
        hub.body["definitions"].as_array().into_iter().flatten().filter_map(|d| d["slug"].as_str()).collect();
    assert_eq!(slugs, ["hubspot"], "{}", hub.text);
    // Templates describe credential fields per auth method and what config is required; a
    // scoped token may read them too.
    let scoped = e.scoped_token(&app, "acme").await;
    let t = e.get("/api/v1/integrations/templates/sources", &scoped).await;
    assert_eq!(t.status, 200);
    let gh =
        t.body["data"].as_array().into_iter().flatten().find(|d| d["slug"] == "github").cloned().unwrap_or_default();
    let fields: Vec<&str> = gh["auth"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|a| a["fields"].as_array().into_iter().flatten().filter_map(|f| f["name"].as_str()))
        .collect();
    assert!(fields.contains(&"personal_access_token"), "{gh}");
    assert_eq!(gh["replication_config"]["required"], json!(["repositories"]), "{gh}");
    let none = call("GET", &e.url("/api/v1/integrations/templates/sources"), None, None, &[]).await;
    assert_eq!(none.status, 401);
});

/// The value of an unlabelled counter on `/metrics`.
async fn counter(e: &Engine, name: &str) -> u64 {
    let m = call("GET", &e.url("/metrics"), None, None, &[]).await;
    m.text
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} is not on /metrics: {}", m.text))
}

/// An application token of `e`'s organization signed with `secret` under key id `kid`.
fn token_signed_with(e: &Engine, kid: &str, secret: &[u8]) -> String {
    let payload = json!({"iss": "switchboard", "sub": e.app.client_id, "org": e.app.organization_id,
        "kind": "application", "iat": now(), "exp": now() + 600, "jti": uuid::Uuid::new_v4().to_string()});
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = Some(kid.into());
    jsonwebtoken::encode(&h, &payload, &jsonwebtoken::EncodingKey::from_secret(secret)).unwrap_or_default()
}

both_backends!(forged_key_ids_do_not_make_every_request_read_the_keys, |backend| async move {
    let interval = std::time::Duration::from_secs(2);
    let Some(e) = start(backend, |s| s.signing_key_reload_interval = interval).await else { return };
    const RELOADS: &str = "switchboard_signing_key_reloads_total";
    let before = counter(&e, RELOADS).await;
    // A flood of unauthenticated requests, each naming a key id nobody has.
    let started = std::time::Instant::now();
    let calls = (0..60).map(|i| {
        let url = e.url("/api/v1/workspaces");
        let token = token_signed_with(&e, &format!("kforged{i}"), b"attacker-secret");
        tokio::spawn(async move { call("GET", &url, Some(&token), None, &[]).await })
    });
    for r in futures::future::join_all(calls).await {
        let a = r.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((a.status, a.body["details"]["reason"].as_str()), (401, Some("unknown_key")), "{}", a.text);
    }
    let flood = started.elapsed();
    let reloads = counter(&e, RELOADS).await - before;
    let allowed = 1 + (flood.as_millis() / interval.as_millis()) as u64;
    assert!((1..=allowed).contains(&reloads), "{reloads} key reloads for 60 forged key ids in {flood:?}");

    // A key another replica adds is picked up once the interval has passed.
    let secret = b"a-key-made-by-another-replica-0123456789";
    let sealed = e.state.keys.seal(secret, "signing_key:kreplica").unwrap_or_else(|e| panic!("{e:?}"));
    e.state.db.add_signing_key("kreplica", &sealed, false).await.unwrap_or_else(|e| panic!("{e:?}"));
    let token = token_signed_with(&e, "kreplica", secret);
    let soon = e.get("/api/v1/workspaces", &token).await;
    let after_flood = counter(&e, RELOADS).await - before;
    if soon.status == 401 {
        assert_eq!(after_flood, reloads, "no reload within the interval: {}", soon.text);
        tokio::time::sleep(interval + std::time::Duration::from_millis(200)).await;
        let later = e.get("/api/v1/workspaces", &token).await;
        assert_eq!(later.status, 200, "the new key is used after the interval: {}", later.text);
    } else {
        assert_eq!(soon.status, 200, "{}", soon.text);
    }
    assert_eq!(counter(&e, RELOADS).await - before, reloads + 1, "one more reload found the new key");
    // Tokens of known keys never reload.
    let app = e.app_token().await;
    for _ in 0..10 {
        assert_eq!(e.get("/api/v1/workspaces", &app).await.status, 200);
        assert_eq!(e.get("/api/v1/workspaces", &token).await.status, 200);
    }
    assert_eq!(counter(&e, RELOADS).await - before, reloads + 1);
});

both_backends!(cors_checks_read_widget_origins_from_memory, |backend| async move {
    let Some(e) = start(backend, |s| s.widget_origin_ttl = std::time::Duration::from_secs(600)).await else { return };
    const LOADS: &str = "switchboard_widget_origin_loads_total";
    let app = e.app_token().await;
    e.widget_token(&app, "acme", "https://app.example.com").await;
    let before = counter(&e, LOADS).await;
    let allow = |a: &common::Answer| {
        a.headers.get("access-control-allow-origin").and_then(|v| v.to_str().ok()).map(str::to_string)
    };
    let vary = |a: &common::Answer| a.headers.get("vary").and_then(|v| v.to_str().ok()).map(str::to_string);
    let preflight = |origin: String| {
        let url = e.url("/api/v1/integrations/connectors");
        async move {
            call("OPTIONS", &url, None, None, &[("origin", &origin), ("access-control-request-method", "POST")]).await
        }
    };
    for i in 0..20 {
        let evil = format!("https://evil{i}.example");
        let a = call("GET", &e.url("/healthz"), None, None, &[("origin", &evil)]).await;
        assert_eq!((a.status, allow(&a), vary(&a).as_deref()), (200, None, Some("Origin")));
        let p = preflight(evil).await;
        assert_eq!((p.status, allow(&p), vary(&p).as_deref()), (204, None, Some("Origin")));
        assert!(p.headers.get("access-control-allow-methods").is_none());
        let ok = preflight("https://app.example.com".into()).await;
        assert_eq!(allow(&ok).as_deref(), Some("https://app.example.com"));
        assert!(ok.headers.get("access-control-allow-methods").is_some());
        // Exact match only.
        let near = preflight("https://app.example.com:8443".into()).await;
        assert_eq!(allow(&near), None);
    }
    assert_eq!(counter(&e, LOADS).await - before, 1, "80 requests with an Origin read the origins once");

    // An origin registered in this process is allowed at once, without reading them again.
    e.widget_token(&app, "acme", "https://second.example").await;
    assert_eq!(allow(&preflight("https://second.example".into()).await).as_deref(), Some("https://second.example"));
    // One another replica registered waits for the time to live (here ten minutes).
    e.state
        .db
        .add_widget_origin(&e.app.organization_id, "https://replica.example")
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(allow(&preflight("https://replica.example".into()).await), None);
    assert_eq!(counter(&e, LOADS).await - before, 1);
});

both_backends!(widget_origins_of_other_replicas_show_up_after_the_ttl, |backend| async move {
    let ttl = std::time::Duration::from_millis(300);
    let Some(e) = start(backend, |s| s.widget_origin_ttl = ttl).await else { return };
    const LOADS: &str = "switchboard_widget_origin_loads_total";
    let before = counter(&e, LOADS).await;
    let preflight = || async {
        let a = call(
            "OPTIONS",
            &e.url("/api/v1/integrations/connectors"),
            None,
            None,
            &[("origin", "https://replica.example"), ("access-control-request-method", "GET")],
        )
        .await;
        a.headers.get("access-control-allow-origin").and_then(|v| v.to_str().ok()).map(str::to_string)
    };
    assert_eq!(preflight().await, None);
    e.state
        .db
        .add_widget_origin(&e.app.organization_id, "https://replica.example")
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    tokio::time::sleep(ttl + std::time::Duration::from_millis(100)).await;
    assert_eq!(preflight().await.as_deref(), Some("https://replica.example"));
    assert_eq!(counter(&e, LOADS).await - before, 2, "read once, then once more after the time to live");
});

/// A connector whose server URL takes a `subdomain` from its config.
const SUBDOMAIN_SPEC: &str = r##"
openapi: 3.1.0
info:
  title: Widgets API
  version: "1"
  x-connector-name: widgets
  x-connector-definition-id: 11111111-2222-3333-4444-555555555555
servers:
  - url: "https://{subdomain}.widgets.example.com/api"
components:
  securitySchemes:
    key:
      type: apiKey
      in: header
      name: x-api-key
      x-auth-config: {required: [api_key], properties: {api_key: {type: string}}}
paths:
  /widgets:
    get:
      x-entity: widgets
      x-action: list
      responses: {"200": {description: ok}}
"##;

fn registry_with_widgets() -> switchboard_core::Registry {
    let mut r = common::builtin();
    r.insert(switchboard_core::spec::parse_spec("widgets.yaml", SUBDOMAIN_SPEC).unwrap_or_else(|e| panic!("{e}")));
    r
}

async fn execute_issues(e: &Engine, token: &str, id: &str) -> common::Answer {
    e.post(
        &format!("/api/v1/integrations/connectors/{id}/execute"),
        token,
        json!({"entity": "issues", "action": "list", "params": {"owner": "octo", "repo": "hello"}}),
    )
    .await
}

async fn patch(e: &Engine, token: &str, id: &str, body: Value) -> common::Answer {
    call("PATCH", &e.url(&format!("/api/v1/integrations/connectors/{id}")), Some(token), Some(body), &[]).await
}

both_backends!(connector_changes_reach_every_replica, |backend| async move {
    let Some(a) = start(backend, |_| {}).await else { return };
    let b = a.replica().await;
    let (first, second) = (fake().await, fake().await);
    let app = a.app_token().await;
    let id = a.github_connector(&app, Some("acme"), &first.base_url("github"), creds::GITHUB_TOKEN).await;
    // B runs it, and keeps a handle for it.
    let run = execute_issues(&b, &app, &id).await;
    assert_eq!(run.status, 200, "{}", run.text);
    assert_eq!((first.requests().len(), second.requests().len()), (1, 0));
    // A points it at another upstream; B's next run must go there.
    let moved = patch(&a, &app, &id, json!({"config": {"base_url": second.base_url("github")}})).await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    b.answers_version(&id, Some(2)).await;
    let run = execute_issues(&b, &app, &id).await;
    assert_eq!(run.status, 200, "{}", run.text);
    assert_eq!(
        (first.requests().len(), second.requests().len()),
        (1, 1),
        "B used a handle made from the config before A's change"
    );
    // A credential change through A is seen by B too.
    let rekeyed = patch(&a, &app, &id, json!({"credentials": {"personal_access_token": "ghp_revoked_000000"}})).await;
    assert_eq!(rekeyed.status, 200, "{}", rekeyed.text);
    b.answers_version(&id, Some(3)).await;
    let run = execute_issues(&b, &app, &id).await;
    assert_eq!((run.status, run.body["code"].as_str()), (502, Some("upstream_authentication")), "{}", run.text);
    // An update that changes nothing writes nothing: no new version, the same updated_at.
    let before = a.get(&format!("/api/v1/integrations/connectors/{id}"), &app).await;
    let same = patch(&a, &app, &id, json!({})).await;
    assert_eq!(same.status, 200, "{}", same.text);
    assert_eq!(same.body["updated_at"], before.body["updated_at"], "{}", same.text);
    // Each change is one more version; the stored row says so.
    let row = a.state.db.get_connector(&a.app.organization_id, None, &id).await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(row.map(|r| (r.version, r.credential_version)), Some((3, 2)));
});

both_backends!(only_application_tokens_move_a_connector, |backend| async move {
    let Some(e) = common::start_registry(backend, registry_with_widgets(), |_| {}).await else { return };
    let (first, second) = (fake().await, fake().await);
    let app = e.app_token().await;
    let scoped = e.scoped_token(&app, "acme").await;
    let id = e.github_connector(&scoped, None, &first.base_url("github"), creds::GITHUB_TOKEN).await;
    // A scoped token cannot point the stored credentials elsewhere, even at an allowed host.
    for (config, field) in [
        (json!({"base_url": second.base_url("github")}), "config.base_url"),
        (json!({}), "config.base_url"),
        (json!({"base_url": first.base_url("github"), "token_url": second.base_url("github")}), "config.token_url"),
    ] {
        let a = patch(&e, &scoped, &id, json!({"config": config})).await;
        assert_eq!((a.status, a.body["code"].as_str()), (403, Some("forbidden")), "{config}: {}", a.text);
        assert!(a.body["message"].as_str().unwrap_or_default().contains(field), "{config}: {}", a.text);
        assert_eq!(a.body["details"]["field"], field, "{}", a.text);
    }
    // Resending the same value is no change; other fields stay the scoped token's to change.
    let same =
        patch(&e, &scoped, &id, json!({"name": "renamed", "config": {"base_url": first.base_url("github")}})).await;
    assert_eq!(same.status, 200, "{}", same.text);
    assert_eq!(execute_issues(&e, &scoped, &id).await.status, 200);
    assert_eq!((first.requests().len(), second.requests().len()), (1, 0), "the connector never moved");
    // An application token may move it, to an allowed host only.
    let moved = patch(&e, &app, &id, json!({"config": {"base_url": second.base_url("github")}})).await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    assert_eq!(execute_issues(&e, &scoped, &id).await.status, 200);
    assert_eq!(second.requests().len(), 1);
    let localhost = format!("http://localhost:{}/github", second.addr.port());
    let away = patch(&e, &app, &id, json!({"config": {"base_url": localhost}})).await;
    assert_eq!(away.status, 422, "{}", away.text);
    assert_eq!(away.body["details"]["fields"][0]["field"], "config.base_url", "{}", away.text);
    let create = e
        .post(
            "/api/v1/integrations/connectors",
            &scoped,
            json!({"connector_type": "stripe", "credentials": {"api_key": "sk_test_x"}, "config": {"base_url": "https://attacker.example/v1"}}),
        )
        .await;
    assert_eq!(create.status, 422, "{}", create.text);
    assert_eq!(create.body["details"]["fields"][0]["field"], "config.base_url", "{}", create.text);

    // Every variable of the server URL counts: here `subdomain`.
    let widgets = |subdomain: &str| json!({"connector_type": "widgets", "credentials": {"api_key": "k_123456"}, "config": {"subdomain": subdomain}});
    let w = e.post("/api/v1/integrations/connectors", &scoped, widgets("acme")).await;
    assert_eq!(w.status, 201, "{}", w.text);
    let wid = w.body["id"].as_str().unwrap_or_default().to_string();
    let a = patch(&e, &scoped, &wid, json!({"config": {"subdomain": "other"}})).await;
    assert_eq!((a.status, a.body["details"]["field"].as_str()), (403, Some("config.subdomain")), "{}", a.text);
    let a = patch(&e, &app, &wid, json!({"config": {"subdomain": "other"}})).await;
    assert_eq!(a.status, 200, "{}", a.text);
    // A variable that moves the host off the spec's domain is refused, on create and on update.
    let a = e.post("/api/v1/integrations/connectors", &scoped, widgets("attacker.example/x?")).await;
    assert_eq!(
        (a.status, a.body["details"]["fields"][0]["field"].as_str()),
        (422, Some("config.subdomain")),
        "{}",
        a.text
    );
    let a = patch(&e, &app, &wid, json!({"config": {"subdomain": "attacker.example#"}})).await;
    assert_eq!(
        (a.status, a.body["details"]["fields"][0]["field"].as_str()),
        (422, Some("config.subdomain")),
        "{}",
        a.text
    );
});

both_backends!(parallel_deletes_delete_once, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    let fake = fake().await;
    let app = e.app_token().await;
    for round in 0..3 {
        let id = e.github_connector(&app, Some("acme"), &fake.base_url("github"), creds::GITHUB_TOKEN).await;
        let url = e.url(&format!("/api/v1/integrations/connectors/{id}"));
        let deletes = (0..16).map(|_| {
            let (url, app) = (url.clone(), app.clone());
            tokio::spawn(async move { call("DELETE", &url, Some(&app), None, &[]).await.status })
        });
        let mut statuses: Vec<u16> =
            futures::future::join_all(deletes).await.into_iter().map(|r| r.unwrap_or_else(|e| panic!("{e}"))).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [vec![204], vec![404; 15]].concat(), "round {round}: one delete deletes");
    }
});

both_backends!(cors_origins_belong_to_the_organization_that_registered_them, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    let org_b = switchboard_engine::admin::create_application(&e.state.db, e.state.secrets.hasher(), "org-b")
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let app_a = e.app_token().await;
    let app_b = e.app_token_for(&org_b).await;
    let scoped_a = e.scoped_token(&app_a, "acme").await;
    let widget_b = e.widget_token(&app_b, "wb", "https://b.example").await;
    let allow = |a: &common::Answer| {
        a.headers.get("access-control-allow-origin").and_then(|v| v.to_str().ok()).map(str::to_string)
    };
    let get = |token: String, origin: &'static str| {
        let url = e.url("/api/v1/integrations/connectors");
        async move { call("GET", &url, Some(&token), None, &[("origin", origin)]).await }
    };
    // Organization A's answers are not readable from B's page.
    for (who, token) in [("application a", &app_a), ("scoped a", &scoped_a)] {
        let a = get(token.clone(), "https://b.example").await;
        assert_eq!((a.status, allow(&a)), (200, None), "{who}: {:?}", a.headers);
        assert_eq!(a.headers.get("vary").and_then(|v| v.to_str().ok()), Some("Origin"));
    }
    // B's own are.
    for (who, token) in [("application b", &app_b), ("widget b", &widget_b)] {
        let a = get(token.clone(), "https://b.example").await;
        assert_eq!((a.status, allow(&a).as_deref()), (200, Some("https://b.example")), "{who}: {}", a.text);
    }
    // No token, or an invalid one: nothing is readable.
    let a = call("GET", &e.url("/api/v1/workspaces"), None, None, &[("origin", "https://b.example")]).await;
    assert_eq!((a.status, allow(&a)), (401, None));
    let a = get(format!("{app_b}x"), "https://b.example").await;
    assert_eq!((a.status, allow(&a)), (401, None));
    // A preflight carries no token: answered for any registered origin.
    let p = call(
        "OPTIONS",
        &e.url("/api/v1/integrations/connectors"),
        None,
        None,
        &[("origin", "https://b.example"), ("access-control-request-method", "GET")],
    )
    .await;
    assert_eq!(allow(&p).as_deref(), Some("https://b.example"));

    // An origin registered for one workspace is readable by that workspace's widgets only.
    let ws = |name: &'static str| {
        let db = e.state.db.clone();
        let org = org_b.organization_id.clone();
        async move { db.workspace_for(&org, name).await.unwrap_or_else(|e| panic!("{e:?}")) }
    };
    let (w1, w2) = (ws("w1").await, ws("w2").await);
    e.state
        .origins
        .add_in(&e.state.db, &org_b.organization_id, Some(&w1.id), "https://w1.example", i64::MAX)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let widget_of = |w: &switchboard_engine::db::Workspace| {
        let c = claims(
            TokenKind::Widget,
            &org_b.client_id,
            &org_b.organization_id,
            Some((&w.id, &w.name)),
            Some("https://w1.example"),
        );
        e.state.signer.issue(c, 600).unwrap_or_else(|e| panic!("{e:?}"))
    };
    let a = get(widget_of(&w1), "https://w1.example").await;
    assert_eq!((a.status, allow(&a).as_deref()), (200, Some("https://w1.example")), "{}", a.text);
    let a = get(widget_of(&w2), "https://w1.example").await;
    assert_eq!((a.status, allow(&a)), (200, None), "another workspace's widget: {}", a.text);
    let a = get(app_a.clone(), "https://w1.example").await;
    assert_eq!(allow(&a), None);
});

both_backends!(audit_records_are_pruned_by_age_and_count, |backend| async move {
    use switchboard_engine::services::execution::{prune_audit, Pruned};
    use time::format_description::well_known::Rfc3339;
    let Some(e) = start(backend, |_| {}).await else { return };
    let db = &e.state.db;
    let org = &e.app.organization_id;
    let record = |entity: String| switchboard_engine::db::Audit {
        organization_id: org.clone(),
        workspace_id: None,
        connector_id: None,
        token_kind: "application".into(),
        entity,
        action: "list".into(),
        status: "success".into(),
        error_code: None,
        latency_ms: 1,
        request_id: "r".into(),
    };
    let now = time::OffsetDateTime::now_utc();
    let at = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    // 30 records 31 to 40 days old, 20 from the last hour, oldest first.
    for i in 0..30 {
        let t = now - time::Duration::days(40) + time::Duration::hours(7 * i);
        db.audit_at(&record(format!("old{i:02}")), &at(t)).await.unwrap_or_else(|e| panic!("{e:?}"));
    }
    for i in 0..20 {
        let t = now - time::Duration::minutes(60 - i);
        db.audit_at(&record(format!("new{i:02}")), &at(t)).await.unwrap_or_else(|e| panic!("{e:?}"));
    }
    let mut settings = e.state.settings.clone();
    settings.audit_max_age = std::time::Duration::from_secs(30 * 24 * 3600);
    settings.audit_max_rows = 0;
    settings.audit_prune_batch = 7;
    let pruned = prune_audit(db, &settings).await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(pruned, Pruned { by_age: 30, by_count: 0 });
    let left = db.audit_records(org).await.unwrap_or_else(|e| panic!("{e:?}"));
    assert!(left.iter().all(|r| r.0.starts_with("new")) && left.len() == 20, "{left:?}");
    // Beyond the row limit, the oldest go.
    settings.audit_max_rows = 5;
    let pruned = prune_audit(db, &settings).await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(pruned, Pruned { by_age: 0, by_count: 15 });
    let left: Vec<String> =
        db.audit_records(org).await.unwrap_or_else(|e| panic!("{e:?}")).into_iter().map(|r| r.0).collect();
    assert_eq!(left, ["new19", "new18", "new17", "new16", "new15"]);
    assert_eq!(prune_audit(db, &settings).await.unwrap_or_else(|e| panic!("{e:?}")), Pruned::default());
});

/// A token request for `client_id` with `secret`, from `forwarded_for` when given.
async fn token_attempt(e: &Engine, client_id: &str, secret: &str, forwarded_for: Option<&str>) -> common::Answer {
    let headers: Vec<(&str, &str)> = forwarded_for.map(|f| ("x-forwarded-for", f)).into_iter().collect();
    let body = json!({"client_id": client_id, "client_secret": secret});
    call("POST", &e.url("/api/v1/account/applications/token"), None, Some(body), &headers).await
}

both_backends!(token_endpoint_limits_each_client_id, |backend| async move {
    // The default burst of 20, refilling slowly enough that the test does not race the clock.
    let Some(e) = start(backend, |s| {
        s.token_rate_per_client = 0.05;
        s.token_burst_per_client = 20.0;
    })
    .await
    else {
        return;
    };
    let (id, secret) = (e.app.client_id.clone(), e.app.client_secret.clone());
    assert_eq!(token_attempt(&e, &id, &secret, None).await.status, 200);
    for i in 2..=20 {
        let a = token_attempt(&e, &id, &format!("wrong-{i}"), None).await;
        assert_eq!(a.status, 401, "attempt {i}: {}", a.text);
    }
    // The 21st attempt is refused before the secret is looked at, even the right one.
    let a = token_attempt(&e, &id, &secret, None).await;
    assert_eq!(a.status, 429, "{}", a.text);
    assert_eq!(a.body["code"], "rate_limited");
    assert_eq!(a.body["details"]["limit"], "client_id");
    let wait: u64 =
        a.headers.get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
    assert!((1..=20).contains(&wait), "Retry-After: {wait}");
    assert!(!a.text.contains(&secret));
    // Other client ids have buckets of their own.
    assert_eq!(token_attempt(&e, "sb_someone_else", "x", None).await.status, 401);
    let (clients, addresses) = e.state.token_limits.keys();
    assert_eq!((clients, addresses), (2, 1), "one bucket per client id, and one address");
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_is_honoured_only_from_trusted_proxies() {
    // Served without ConnectInfo, the peer counts as loopback.
    let limits = |trusted: &'static [&'static str]| {
        move |s: &mut switchboard_engine::Settings| {
            s.token_rate_per_address = 0.05;
            s.token_burst_per_address = 3.0;
            s.trusted_proxies = trusted.iter().map(|c| c.parse().unwrap_or_else(|e| panic!("{e}"))).collect();
        }
    };
    let refused = |a: &common::Answer| a.status == 429 && a.body["details"]["limit"] == "address";

    // No trusted proxy: X-Forwarded-For is the client's own say, and ignored.
    let Some(e) = start(Backend::Sqlite, limits(&[])).await else { return };
    for i in 1..=3 {
        let a = token_attempt(&e, "sb_x", "x", Some(&format!("198.51.100.{i}"))).await;
        assert_eq!(a.status, 401, "{}", a.text);
    }
    let a = token_attempt(&e, "sb_x", "x", Some("198.51.100.4")).await;
    assert!(refused(&a), "a made-up X-Forwarded-For does not buy a fresh bucket: {}", a.text);
    assert!(a.headers.contains_key("retry-after"));

    // Behind a trusted proxy (loopback here), the right-most untrusted hop is the client.
    let Some(e) = start(Backend::Sqlite, limits(&["127.0.0.1/32"])).await else { return };
    for _ in 0..3 {
        assert_eq!(token_attempt(&e, "sb_x", "x", Some("198.51.100.1")).await.status, 401);
    }
    assert!(refused(&token_attempt(&e, "sb_x", "x", Some("198.51.100.1")).await));
    // Hops the client prepends change nothing: the proxy appended the address it saw.
    assert!(refused(&token_attempt(&e, "sb_x", "x", Some("203.0.113.9, 198.51.100.1")).await));
    assert!(refused(&token_attempt(&e, "sb_x", "x", Some("203.0.113.9, 198.51.100.1, 127.0.0.1")).await));
    // Another client behind the same proxy has its own bucket.
    assert_eq!(token_attempt(&e, "sb_x", "x", Some("198.51.100.2")).await.status, 401);
    assert_eq!(token_attempt(&e, "sb_x", "x", Some("198.51.100.2, 127.0.0.1")).await.status, 401);
}

both_backends!(argon2_client_secrets_migrate_to_the_keyed_hash, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    // A row from before the keyed hash: an Argon2id hash, as engines stored them then.
    let (id, secret) = ("sb_argon2_row".to_string(), "argon2-row-secret-0123456789abcdef".to_string());
    let hash = switchboard_engine::crypto::hash_secret(&secret).unwrap_or_else(|e| panic!("{e:?}"));
    e.state.db.create_application(&e.app.organization_id, &id, &hash).await.unwrap_or_else(|e| panic!("{e:?}"));
    let stored = || async {
        let app = e.state.db.find_application(&id).await.unwrap_or_else(|e| panic!("{e:?}"));
        app.unwrap_or_else(|| panic!("no application row")).secret_hash
    };
    let before = stored().await;
    assert!(before.starts_with("$argon2id$"), "{before}");
    assert_eq!(token_attempt(&e, &id, "wrong", None).await.status, 401);
    assert_eq!(stored().await, before, "a wrong secret migrates nothing");
    assert_eq!(token_attempt(&e, &id, &secret, None).await.status, 200);
    let after = stored().await;
    assert!(after.starts_with("hmac-sha256$") && !after.contains(&secret), "{after}");
    assert_eq!(e.state.secrets.hasher().hash(&id, &secret), after);
    // The keyed hash answers from now on, and still tells secrets apart.
    assert_eq!(token_attempt(&e, &id, &secret, None).await.status, 200);
    assert_eq!(token_attempt(&e, &id, "wrong", None).await.status, 401);
    // Another replica on the same store shares the HMAC key.
    let r = e.replica().await;
    assert_eq!(token_attempt(&r, &id, &secret, None).await.status, 200);
});

/// The label sets of `switchboard_http_requests_total` on `/metrics`.
async fn request_series(e: &Engine) -> BTreeSet<String> {
    let m = call("GET", &e.url("/metrics"), None, None, &[]).await;
    assert_eq!(m.status, 200);
    m.text
        .lines()
        .filter_map(|l| l.strip_prefix("switchboard_http_requests_total{"))
        .filter_map(|l| l.rsplit_once('}'))
        .map(|(labels, _)| labels.to_string())
        .collect()
}

/// Requests with made-up methods and paths add no metrics series: requests are counted by a
/// closed set of methods, the route template (`unmatched` for no route) and the status, so the
/// series after 100 random requests are the series after 500.
#[tokio::test]
async fn random_methods_and_paths_add_no_metrics_series() {
    use rand::{Rng, SeedableRng};
    let Some(e) = start(Backend::Sqlite, |_| {}).await else { return };
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let word = |rng: &mut rand::rngs::StdRng| -> String {
        let len = rng.gen_range(3..12);
        (0..len).map(|_| rng.gen_range(b'A'..=b'Z') as char).collect()
    };
    const STANDARD: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"];
    // From here on the scrape itself is one of the series.
    request_series(&e).await;
    let mut at_100 = BTreeSet::new();
    for i in 0..500 {
        // Each method slot (seven standard, one made up) with each kind of path (no route; a
        // route with a random id) comes round every 16 requests.
        let method = match i % 8 {
            7 => word(&mut rng),
            k => STANDARD[k].to_string(),
        };
        let path = match (i / 8) % 2 {
            0 => format!("/{}/{}", word(&mut rng).to_lowercase(), uuid::Uuid::new_v4()),
            _ => format!("/api/v1/integrations/connectors/{}", word(&mut rng).to_lowercase()),
        };
        let a = call(&method, &e.url(&path), None, None, &[]).await;
        assert!(a.status >= 400, "{method} {path}: {}", a.status);
        if i == 99 {
            at_100 = request_series(&e).await;
        }
    }
    let at_500 = request_series(&e).await;
    eprintln!("{} request series after 100 random requests, {} after 500", at_100.len(), at_500.len());
    assert_eq!(at_100, at_500, "400 more random requests added series");
    assert!(at_500.len() <= 20, "{} series: {at_500:#?}", at_500.len());
    let routes: BTreeSet<&str> = switchboard_engine::route_table().iter().map(|(p, _, _)| *p).collect();
    let mut methods = BTreeSet::new();
    for labels in &at_500 {
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"').to_string())
                .unwrap_or_else(|| panic!("no {name} in {labels}"))
        };
        let (method, route) = (label("method"), label("route"));
        assert!(STANDARD.contains(&method.as_str()) || method == "other", "method label {method}");
        assert!(route == "unmatched" || routes.contains(route.as_str()), "route label {route}");
        methods.insert(method);
    }
    assert_eq!(methods.len(), 8, "every method slot was counted: {methods:?}");
    assert!(at_500.iter().any(|l| l.contains("route=\"unmatched\",status=\"404\"")), "{at_500:#?}");
    assert!(at_500.iter().any(|l| l.contains("route=\"/api/v1/integrations/connectors/{id}\"")), "{at_500:#?}");
}

// A connector's name holding a control character (a NUL among them, which PostgreSQL's text
// refuses: it answered 500 there and stored the name on SQLite) is a validation error on either
// store, on create and on update. A NUL inside credentials or configuration is kept: they are
// stored as JSON, where it is escaped (a credential sent as a header cannot hold one, so an
// extra field carries it here).
both_backends!(a_control_character_in_a_connector_name_is_refused_on_either_store, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    let app = e.app_token().await;
    let body = |name: &str| {
        json!({"connector_type": "github", "name": name, "workspace_name": "acme",
            "credentials": {"personal_access_token": "ghp_xy", "note": "x\u{0}y"}, "replication_config": {"repositories": ["o\u{0}/h"]},
            "config": {"base_url": "http://127.0.0.1:9/"}})
    };
    for name in ["g\u{0}h", "two\nlines"] {
        let a = e.post("/api/v1/integrations/connectors", &app, body(name)).await;
        assert_eq!((a.status, a.body["code"].as_str()), (422, Some("validation")), "{backend:?}: {}", a.text);
        assert!(a.text.contains("name must be 1 to 256 characters without control characters"), "{}", a.text);
    }
    let a = e.post("/api/v1/integrations/connectors", &app, body("gh")).await;
    assert_eq!(a.status, 201, "{backend:?}: {}", a.text);
    let url = format!("{}/api/v1/integrations/connectors/{}", e.base, a.body["id"].as_str().unwrap_or_default());
    let a = call("PATCH", &url, Some(&app), Some(json!({"name": "x\u{0}"})), &[]).await;
    assert_eq!((a.status, a.body["code"].as_str()), (422, Some("validation")), "{backend:?}: {}", a.text);
    let a = call("GET", &url, Some(&app), None, &[]).await;
    assert_eq!((a.status, a.body["name"].as_str()), (200, Some("gh")), "{backend:?}: {}", a.text);
});

// Names are measured in characters, as documented (not UTF-8 bytes); the list filters name a
// workspace and a connector type the way create does (trimmed; a slug or a definition id in
// either case); a query string or a path segment the engine cannot read answers in the error
// shape every answer has.
both_backends!(names_filters_and_unreadable_requests_answer_as_documented, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    let app = e.app_token().await;
    let list = "/api/v1/integrations/connectors";
    let body = |name: &str, workspace: &str| {
        json!({"connector_type": "github", "name": name, "workspace_name": workspace,
            "credentials": {"personal_access_token": "ghp_names"}, "replication_config": {"repositories": ["o/h"]},
            "config": {"base_url": "http://127.0.0.1:9/"}})
    };
    let accented = "é".repeat(256);
    let a = e.post(list, &app, body(&accented, &"ü".repeat(256))).await;
    assert_eq!(a.status, 201, "{backend:?}: 256 characters of 2 bytes each: {}", a.text);
    assert_eq!(a.body["name"].as_str(), Some(accented.as_str()));
    for (name, workspace) in [("é".repeat(257), "acme".to_string()), ("gh".to_string(), "ü".repeat(257))] {
        let a = e.post(list, &app, body(&name, &workspace)).await;
        assert_eq!((a.status, a.body["code"].as_str()), (422, Some("validation")), "{backend:?}: {}", a.text);
    }

    let a = e.post(list, &app, body("gh", "acme")).await;
    assert_eq!(a.status, 201, "{backend:?}: {}", a.text);
    let id = a.body["id"].as_str().unwrap_or_default().to_string();
    let github = e.state.registry.get("github").unwrap_or_else(|e| panic!("{e:?}")).definition_id.clone();
    for query in [
        "workspace_name=acme".to_string(),
        "workspace_name=%20acme%20".to_string(),
        "external_user_id=acme&definition_id=github".to_string(),
        format!("workspace_name=acme&definition_id={}", github.to_uppercase()),
        format!("workspace_name=acme&definition_id={github}"),
    ] {
        let a = e.get(&format!("{list}?{query}"), &app).await;
        let ids: Vec<&str> = a.body["data"].as_array().into_iter().flatten().filter_map(|c| c["id"].as_str()).collect();
        assert_eq!(ids, [id.as_str()], "{backend:?} {query}: {}", a.text);
    }
    let a = e.get(&format!("{list}?workspace_name=acme&definition_id=stripe"), &app).await;
    assert_eq!(a.body["data"], json!([]), "{backend:?}: {}", a.text);

    for path in [
        format!("{list}?workspace_name=a&workspace_name=b"),
        "/api/v1/workspaces?name_contains=a&name_contains=b".into(),
    ] {
        let a = e.get(&path, &app).await;
        assert_eq!((a.status, a.body["code"].as_str()), (422, Some("validation")), "{path}: {}", a.text);
        assert!(a.body["request_id"].is_string() && a.text.contains("duplicate field"), "{}", a.text);
    }
    let a = e.get(&format!("{list}/%FF"), &app).await;
    assert_eq!((a.status, a.body["code"].as_str()), (404, Some("not_found")), "{backend:?}: {}", a.text);

    // Aliases that name different things are refused, never one of them silently taken.
    let scoped = e.scoped_token(&app, "acme").await;
    let other = e.scoped_token(&app, "other-ws").await;
    let other_id = e.get("/api/v1/embedded/scoped-token/info", &other).await.body["workspace_id"].clone();
    let mut both = body("gh2", "acme");
    both["external_user_id"] = json!("other-ws");
    for token in [&app, &scoped] {
        let a = e.post(list, token, both.clone()).await;
        assert_eq!(a.status, 422, "{backend:?}: {}", a.text);
        assert!(a.text.contains("workspace_name and external_user_id name different workspaces"), "{}", a.text);
    }
    let mut by_id = body("gh2", "acme");
    by_id["workspace_id"] = other_id;
    let a = e.post(list, &scoped, by_id.clone()).await;
    assert_eq!((a.status, &a.body["details"]["reason"]), (403, &json!("workspace_mismatch")), "{}", a.text);
    let a = e.post(list, &app, by_id).await;
    assert_eq!(a.status, 422, "{backend:?}: {}", a.text);
    assert!(a.text.contains("workspace_id and workspace_name name different workspaces"), "{}", a.text);
    let mut two_types = body("gh2", "acme");
    two_types["definition_id"] =
        json!(e.state.registry.get("stripe").map(|s| s.definition_id.clone()).unwrap_or_default());
    let a = e.post(list, &app, two_types).await;
    assert_eq!(a.status, 422, "{backend:?}: {}", a.text);
    assert!(a.text.contains("names another connector type than connector_type"), "{}", a.text);
    let mint = json!({"workspace_name": "acme", "external_user_id": "other-ws"});
    let a = e.post("/api/v1/embedded/scoped-token", &app, mint).await;
    assert_eq!(a.status, 422, "{backend:?}: {}", a.text);
    let after = e.get(&format!("{list}?workspace_name=acme"), &app).await;
    assert_eq!(after.body["data"].as_array().map(Vec::len), Some(1), "nothing was made: {}", after.text);

    // A value sent in the wrong field is not quoted back (it may be a secret).
    let a = call(
        "POST",
        &e.url("/api/v1/applications/token"),
        None,
        Some(json!({"client_id": "x", "client_secret": 987654321})),
        &[],
    )
    .await;
    assert_eq!(a.status, 422, "{backend:?}: {}", a.text);
    assert!(a.text.contains("client_secret: invalid type: integer, expected a string"), "{}", a.text);
    assert!(!a.text.contains("987654321"), "{}", a.text);
});

/// Sends `head` and then `body` a byte every `every`; the raw answer once the engine answers
/// (or closes).
async fn trickled(e: &Engine, head: &str, body: &[u8], every: std::time::Duration) -> (String, std::time::Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = e.base.trim_start_matches("http://").to_string();
    let s = tokio::net::TcpStream::connect(&addr).await.unwrap_or_else(|e| panic!("{e}"));
    let (mut r, mut w) = s.into_split();
    let started = std::time::Instant::now();
    let (head, body) = (head.as_bytes().to_vec(), body.to_vec());
    let writer = tokio::spawn(async move {
        let _ = w.write_all(&head).await;
        for b in body {
            tokio::time::sleep(every).await;
            if w.write_all(&[b]).await.is_err() {
                break;
            }
        }
        w
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(20), r.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got);
                if text.contains("\r\n\r\n") && text.trim_end().ends_with('}') {
                    break;
                }
            }
            Ok(_) => break,
            Err(_) => panic!("no answer within 20 s: {}", String::from_utf8_lossy(&got)),
        }
    }
    writer.abort();
    (String::from_utf8_lossy(&got).into_owned(), started.elapsed())
}

/// A request body trickled in slower than the engine allows is answered 408 (its connection
/// closed) once `body_read_timeout` has passed, not held for the whole request timeout; one
/// sent in parts within the bound is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_is_answered_408_at_the_body_deadline() {
    let Some(e) = start(Backend::Sqlite, |s| s.body_read_timeout = std::time::Duration::from_secs(1)).await else {
        return;
    };
    let body = format!(r#"{{"client_id": "{}", "client_secret": "wrong"}}"#, e.app.client_id);
    let head = |len: usize| {
        format!(
            "POST /api/v1/account/applications/token HTTP/1.1\r\nHost: engine\r\ncontent-type: application/json\r\n\
             content-length: {len}\r\n\r\n"
        )
    };
    let (answer, took) = trickled(&e, &head(body.len()), body.as_bytes(), std::time::Duration::from_millis(300)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("connection: close"), "{answer}");
    assert!(answer.contains(r#""code":"bad_request""#) && answer.contains("did not arrive within 1 s"), "{answer}");
    assert!(took < std::time::Duration::from_secs(10), "answered after {took:?}");
    // The same body in a few parts, all within the bound: the wrong secret's 401.
    let (answer, _) = trickled(&e, &head(body.len()), body.as_bytes(), std::time::Duration::from_millis(5)).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
}
