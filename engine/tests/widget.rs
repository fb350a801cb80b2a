//! The embeddable auth widget's server-side rules: which origins a widget token is good from
//! (its allowed origin and the engine's own, nothing else), template filtering by the token's
//! `allowed_templates` and by its application's allow-list (the token's only narrows it), the
//! `secret` flag of each credential field that the widget masks by, and the headers of the widget's files (a strict Content-Security-Policy,
//! `nosniff`, revalidation). The page itself is driven in headless Chromium by
//! `tests/browser/widget.test.mjs` (`scripts/test-browser.sh`).

mod common;

use common::{call, start, Backend, Engine};
use serde_json::{json, Value};

const ORIGIN: &str = "https://app.example.com";

async fn engine() -> Engine {
    start(Backend::Sqlite, |_| {}).await.unwrap_or_else(|| panic!("SQLite is always available"))
}

async fn widget_token(e: &Engine, app: &str, body: Value) -> (u16, Value) {
    let a = e.post("/api/v1/embedded/widget-token", app, body).await;
    (a.status, a.body)
}

fn slugs(list: &Value) -> Vec<String> {
    let mut s: Vec<String> =
        list["data"].as_array().into_iter().flatten().filter_map(|t| t["slug"].as_str().map(str::to_string)).collect();
    s.sort();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_widget_token_works_from_its_origin_and_the_engines_own_only() {
    let e = engine().await;
    let app = e.app_token().await;
    let token = e.widget_token(&app, "ws-origins", ORIGIN).await;
    let info = e.url("/api/v1/embedded/scoped-token/info");
    // The engine's own origin, as the widget iframe's fetches carry it (Host is 127.0.0.1:PORT).
    let own = e.base.clone();
    let host = own.trim_start_matches("http://").to_string();
    let other_port = format!("http://{}:1", host.split(':').next().unwrap_or_default());

    for (headers, want) in [
        (vec![("origin", ORIGIN)], 200),
        (vec![("origin", own.as_str())], 200),
        (vec![("sec-fetch-site", "same-origin")], 200),
        (vec![("origin", "https://evil.example")], 403),
        (vec![("origin", other_port.as_str())], 403),
        (vec![("origin", "null")], 403),
        (vec![("sec-fetch-site", "cross-site")], 403),
        (vec![], 403),
    ] {
        let a = call("GET", &info, Some(&token), None, &headers).await;
        assert_eq!(a.status, want, "{headers:?}: {}", a.text);
        if want == 403 {
            assert_eq!(a.body["details"]["reason"], "origin_mismatch", "{headers:?}: {}", a.text);
        } else {
            assert_eq!(a.body["allowed_origin"], ORIGIN, "info names the token's origin: {}", a.text);
            assert_eq!(a.body["kind"], "widget");
        }
        // Readable cross-origin only by the token's own origin.
        let cors = a.headers.get("access-control-allow-origin").and_then(|v| v.to_str().ok());
        let from = headers.iter().find(|(k, _)| *k == "origin").map(|(_, v)| *v);
        assert_eq!(cors, from.filter(|o| *o == ORIGIN), "{headers:?}");
    }

    // A scoped token is not bound to any origin, and says none.
    let scoped = e.scoped_token(&app, "ws-origins").await;
    let a = call("GET", &info, Some(&scoped), None, &[("origin", "https://evil.example")]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(a.body.get("allowed_origin").is_none(), "{}", a.text);
    // A Host header that is not a plain host[:port] never makes an origin the engine's own.
    let a = call("GET", &info, Some(&token), None, &[("origin", "http://a b"), ("host", "a b")]).await;
    assert_eq!(a.status, 403, "{}", a.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_public_url_the_engines_own_origin_is_that_urls() {
    let e = start(Backend::Sqlite, |s| s.public_url = Some("https://sb.example".into()))
        .await
        .unwrap_or_else(|| panic!("SQLite is always available"));
    let app = e.app_token().await;
    let token = e.widget_token(&app, "ws-public", ORIGIN).await;
    let info = e.url("/api/v1/embedded/scoped-token/info");
    for (origin, want) in
        [(ORIGIN, 200), ("https://sb.example", 200), (e.base.as_str(), 403), ("http://sb.example", 403)]
    {
        let a = call("GET", &info, Some(&token), None, &[("origin", origin)]).await;
        assert_eq!(a.status, want, "{origin}: {}", a.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_templates_filter_the_list_and_connector_creation() {
    let e = engine().await;
    let app = e.app_token().await;
    let github_id = e.state.registry.get("github").unwrap_or_else(|e| panic!("{e:?}")).definition_id.clone();
    let body = json!({"workspace_name": "ws-filter", "allowed_origin": ORIGIN,
        "allowed_templates": [github_id, "Stripe", "github"]});
    let (status, minted) = widget_token(&e, &app, body).await;
    assert_eq!(status, 200, "{minted}");
    let token = minted["token"].as_str().unwrap_or_default().to_string();
    let from_origin = [("origin", ORIGIN)];

    let info = call("GET", &e.url("/api/v1/embedded/scoped-token/info"), Some(&token), None, &from_origin).await;
    assert_eq!(info.body["allowed_templates"], json!(["github", "stripe"]), "stored as slugs, once: {}", info.text);

    let list = call("GET", &e.url("/api/v1/integrations/templates/sources"), Some(&token), None, &from_origin).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(slugs(&list.body), ["github", "stripe"]);
    // Without allowed_templates (and for every other token) every template is listed.
    let all = e.get("/api/v1/integrations/templates/sources", &app).await;
    let every = slugs(&all.body);
    assert!(every.len() > 2 && every.iter().any(|s| s == "hubspot"), "{every:?}");
    let open = e.widget_token(&app, "ws-filter", ORIGIN).await;
    let list = call("GET", &e.url("/api/v1/integrations/templates/sources"), Some(&open), None, &from_origin).await;
    assert_eq!(slugs(&list.body), every);

    // Creating a type outside the list is refused before anything is checked or stored.
    let create = e.url("/api/v1/integrations/connectors");
    let hubspot = json!({"connector_type": "hubspot", "credentials": {"private_app_token": "pat-na1-x"}});
    let a = call("POST", &create, Some(&token), Some(hubspot.clone()), &from_origin).await;
    assert_eq!(a.status, 403, "{}", a.text);
    assert_eq!(a.body["details"]["reason"], "template_not_allowed", "{}", a.text);
    let a = call("POST", &create, Some(&token), Some(json!({"connector_type": "hubspot"})), &from_origin).await;
    assert_eq!(a.status, 403, "refused before the credentials are validated: {}", a.text);
    // Nor can the token start an OAuth consent for a type outside the list.
    let a = call(
        "POST",
        &e.url("/api/v1/oauth/initiate"),
        Some(&token),
        Some(json!({"connector_type": "hubspot"})),
        &from_origin,
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.text);
    assert_eq!(a.body["details"]["reason"], "template_not_allowed", "{}", a.text);
    let github = json!({"connector_type": "github", "name": "gh-widget",
        "credentials": {"personal_access_token": "ghp_widget_test"},
        "replication_config": {"repositories": ["octo/hello"]}});
    let a = call("POST", &create, Some(&token), Some(github), &from_origin).await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.body["workspace_name"], "ws-filter", "{}", a.text);
    let listed = call("GET", &create, Some(&token), None, &from_origin).await;
    assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(1), "{}", listed.text);
    // The application token is not limited.
    let mut by_app = hubspot;
    by_app["workspace_name"] = json!("ws-filter");
    let a = e.post("/api/v1/integrations/connectors", &app, by_app).await;
    assert_ne!(a.status, 403, "{}", a.text);

    // Bad lists are refused when the token is minted; scoped tokens take no list.
    for bad in [json!([]), json!(["no-such-connector"]), json!("github")] {
        let (status, body) =
            widget_token(&e, &app, json!({"workspace_name": "w", "allowed_origin": ORIGIN, "allowed_templates": bad}))
                .await;
        assert_eq!(status, 422, "{bad}: {body}");
    }
    let a = e
        .post("/api/v1/embedded/scoped-token", &app, json!({"workspace_name": "w", "allowed_templates": ["github"]}))
        .await;
    assert_eq!(a.status, 422, "{}", a.text);
}

fn header<'a>(a: &'a common::Answer, name: &str) -> &'a str {
    a.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_widget_files_are_served_with_a_strict_policy() {
    let e = engine().await;
    for (path, media, resource_policy) in [
        ("/widget", "text/html", "same-origin"),
        ("/widget/widget.js", "text/javascript", "same-origin"),
        ("/widget/widget.css", "text/css", "same-origin"),
        ("/widget/embed.js", "text/javascript", "cross-origin"),
    ] {
        let a = call("GET", &e.url(path), None, None, &[]).await;
        assert_eq!(a.status, 200, "{path}: {}", a.text);
        assert!(header(&a, "content-type").starts_with(media), "{path}: {:?}", a.headers);
        assert_eq!(header(&a, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header(&a, "cache-control"), "no-cache", "{path}");
        assert_eq!(header(&a, "referrer-policy"), "no-referrer", "{path}");
        assert_eq!(header(&a, "cross-origin-resource-policy"), resource_policy, "{path}");
        assert!(!a.text.is_empty());
    }

    let page = call("GET", &e.url("/widget"), None, None, &[]).await;
    let csp = header(&page, "content-security-policy").to_string();
    for directive in
        ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "base-uri 'none'"]
    {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert!(csp.ends_with("frame-ancestors 'none'"), "no registered parent: no page may frame it: {csp}");
    // Its scripts and styles are files of the engine: nothing inline, nothing from elsewhere.
    assert!(page.text.contains(r#"<script src="/widget/widget.js" defer></script>"#), "{}", page.text);
    assert!(!page.text.contains("<script>") && !page.text.contains("<style") && !page.text.contains("://"));

    // A parent someone registered (by minting a widget token) may frame it; others may not.
    let app = e.app_token().await;
    e.widget_token(&app, "ws-csp", ORIGIN).await;
    let framed = call("GET", &e.url(&format!("/widget?parent={ORIGIN}")), None, None, &[]).await;
    assert!(header(&framed, "content-security-policy").ends_with(&format!("frame-ancestors {ORIGIN}")));
    for parent in ["https://evil.example", "https://app.example.com/path", "*", "https://app.example.com;%20script-src"]
        .into_iter()
        .chain(["http://*", "https://*.com", "https://a;sandbox", &format!("{ORIGIN}&parent={ORIGIN}")])
    {
        let a = call("GET", &e.url(&format!("/widget?parent={parent}")), None, None, &[]).await;
        assert_eq!(a.status, 200, "{parent}: {}", a.text);
        assert!(header(&a, "content-security-policy").ends_with("frame-ancestors 'none'"), "{parent}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_snippet_never_puts_the_token_in_a_url() {
    let e = engine().await;
    let snippet = call("GET", &e.url("/widget/embed.js"), None, None, &[]).await.text;
    let widget = call("GET", &e.url("/widget/widget.js"), None, None, &[]).await.text;
    // The iframe's URL is the engine's origin, `/widget` and the embedding page's origin.
    assert!(snippet.contains("new URL('/widget', engineOrigin)"), "{snippet}");
    let params: Vec<&str> = snippet.match_indices("searchParams.set(").map(|(i, _)| &snippet[i..i + 27]).collect();
    assert_eq!(params, ["searchParams.set('parent', "], "the one query parameter is the parent origin");
    // The token goes by postMessage, to the engine's origin only; the widget answers the embedding
    // page at its origin only (`*` only for the ready message, which carries nothing).
    assert!(snippet.contains("postMessage({ type: 'switchboard:token', token: t }, engineOrigin)"));
    assert_eq!(snippet.matches("postMessage(").count(), 1, "{snippet}");
    assert!(widget.contains("window.parent.postMessage(msg, state.origin)"));
    assert_eq!(widget.matches("postMessage(").count(), 2, "{widget}");
    assert!(widget.contains("postMessage({ type: 'switchboard:ready' }, '*')"));
    // The widget sends the token in the Authorization header only (the browser test records
    // every URL the page loads and finds no token in any).
    assert!(widget.contains("authorization: 'Bearer ' + state.token"));
    assert!(!widget.contains("token=") && !snippet.contains("token="), "no token query parameter");
    assert!(!widget.contains("location.hash") && !widget.contains("location.search"), "reads nothing from its URL");
}

/// The credential fields of `slug`'s first auth option in a templates answer, as (name, secret).
fn secret_flags(list: &Value, slug: &str, method: Option<&str>) -> Vec<(String, bool)> {
    let t = list["data"].as_array().into_iter().flatten().find(|t| t["slug"] == slug);
    let t = t.unwrap_or_else(|| panic!("no template {slug}"));
    let auth = t["auth"].as_array().into_iter().flatten().find(|a| method.is_none_or(|m| a["method"] == m));
    let auth = auth.unwrap_or_else(|| panic!("no auth option {method:?} of {slug}"));
    auth["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            let secret = f["secret"].as_bool().unwrap_or_else(|| panic!("{slug}: no boolean secret in {f}"));
            (f["name"].as_str().unwrap_or_default().to_string(), secret)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_say_which_credential_fields_are_secret() {
    let e = engine().await;
    let app = e.app_token().await;
    let list = e.get("/api/v1/integrations/templates/sources", &app).await;
    assert_eq!(list.status, 200, "{}", list.text);
    // Every field of every template carries the flag (secret_flags panics otherwise).
    for t in list.body["data"].as_array().into_iter().flatten() {
        let slug = t["slug"].as_str().unwrap_or_default();
        for a in t["auth"].as_array().into_iter().flatten() {
            secret_flags(&list.body, slug, a["method"].as_str());
        }
    }
    let flags = |slug: &str| -> Vec<(String, bool)> {
        let t = list.body["data"].as_array().into_iter().flatten().find(|t| t["slug"] == slug);
        let t = t.unwrap_or_else(|| panic!("no template {slug}"));
        let methods: Vec<&str> =
            t["auth"].as_array().into_iter().flatten().filter_map(|a| a["method"].as_str()).collect();
        methods.iter().flat_map(|m| secret_flags(&list.body, slug, Some(m))).collect()
    };
    let jira = flags("jira");
    assert!(jira.contains(&("username".into(), false)), "the email is shown: {jira:?}");
    assert!(jira.contains(&("password".into(), true)), "the API token is masked: {jira:?}");
    assert!(jira.contains(&("client_id".into(), false)) && jira.contains(&("client_secret".into(), true)), "{jira:?}");
    assert_eq!(secret_flags(&list.body, "github", None), [("personal_access_token".to_string(), true)]);
    // The widget's script takes the flag and keeps no list of names of its own.
    let widget = call("GET", &e.url("/widget/widget.js"), None, None, &[]).await.text;
    assert!(widget.contains("function isSecret(f) { return f.secret !== false; }"), "{widget}");
    for name in ["'username'", "'email'", "'client_id'", "'subdomain'"] {
        assert!(!widget.contains(name), "the widget names a field itself: {name}");
    }
}

both_backends!(the_applications_allow_list_bounds_its_widget_tokens, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    let app = e.app_token().await;
    let from_origin = [("origin", ORIGIN)];
    let path = "/api/v1/embedded/allowed-templates";
    let templates = e.url("/api/v1/integrations/templates/sources");
    let create = e.url("/api/v1/integrations/connectors");
    let list_with = |token: String| {
        let templates = templates.clone();
        async move {
            let a = call("GET", &templates, Some(&token), None, &from_origin).await;
            assert_eq!(a.status, 200, "{}", a.text);
            slugs(&a.body)
        }
    };
    let put = |body: Value| {
        let (e, app) = (&e, app.clone());
        async move { call("PUT", &e.url(path), Some(&app), Some(body), &[]).await }
    };

    // None at first: every type.
    let a = e.get(path, &app).await;
    assert_eq!((a.status, &a.body), (200, &json!({"allowed_templates": null, "updated_at": null})), "{}", a.text);
    let every = slugs(&e.get("/api/v1/integrations/templates/sources", &app).await.body);
    let minted_before = e.widget_token(&app, "ws-app-list", ORIGIN).await;
    assert_eq!(list_with(minted_before.clone()).await, every);

    // Set by name, display name or definition id; stored as slugs, once.
    let github_id = e.state.registry.get("github").unwrap_or_else(|e| panic!("{e:?}")).definition_id.clone();
    let a = put(json!({"allowed_templates": ["GitHub", github_id, "stripe"]})).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["allowed_templates"], json!(["github", "stripe"]), "{}", a.text);
    assert!(a.body["updated_at"].is_string(), "{}", a.text);
    assert_eq!(e.get(path, &app).await.body, a.body);

    // A widget token minted before follows it at once; one with its own list is narrowed to the
    // intersection; a token asking for a type outside it is refused when minted.
    assert_eq!(list_with(minted_before.clone()).await, ["github", "stripe"]);
    let mint = |templates: Value| {
        let body = json!({"workspace_name": "ws-app-list", "allowed_origin": ORIGIN, "allowed_templates": templates});
        widget_token(&e, &app, body)
    };
    let (status, narrow) = mint(json!(["stripe"])).await;
    assert_eq!(status, 200, "{narrow}");
    let narrow = narrow["token"].as_str().unwrap_or_default().to_string();
    assert_eq!(list_with(narrow.clone()).await, ["stripe"]);
    for outside in [json!(["hubspot"]), json!(["github", "hubspot"])] {
        let (status, body) = mint(outside.clone()).await;
        assert_eq!(status, 403, "{outside}: {body}");
        assert_eq!(body["details"]["reason"], "template_not_allowed", "{body}");
        assert!(body["message"].as_str().unwrap_or_default().contains("hubspot"), "{body}");
    }

    // Creating a connector and starting an OAuth consent outside the list are refused.
    let hubspot = json!({"connector_type": "hubspot", "credentials": {"private_app_token": "pat-na1-x"}});
    let a = call("POST", &create, Some(&minted_before), Some(hubspot.clone()), &from_origin).await;
    assert_eq!((a.status, &a.body["details"]["reason"]), (403, &json!("template_not_allowed")), "{}", a.text);
    let initiate = e.url("/api/v1/oauth/initiate");
    let a =
        call("POST", &initiate, Some(&minted_before), Some(json!({"connector_type": "hubspot"})), &from_origin).await;
    assert_eq!((a.status, &a.body["details"]["reason"]), (403, &json!("template_not_allowed")), "{}", a.text);
    let github = json!({"connector_type": "github", "name": "gh-app-list",
        "credentials": {"personal_access_token": "ghp_app_list_test"},
        "replication_config": {"repositories": ["octo/hello"]}});
    let a = call("POST", &create, Some(&narrow), Some(github.clone()), &from_origin).await;
    assert_eq!((a.status, &a.body["details"]["reason"]), (403, &json!("template_not_allowed")), "{}", a.text);
    let a = call("POST", &create, Some(&minted_before), Some(github), &from_origin).await;
    assert_eq!(a.status, 201, "{}", a.text);

    // Application and scoped tokens are not limited by it; nor is another application.
    assert_eq!(slugs(&e.get("/api/v1/integrations/templates/sources", &app).await.body), every);
    let scoped = e.scoped_token(&app, "ws-app-list").await;
    assert_eq!(slugs(&e.get("/api/v1/integrations/templates/sources", &scoped).await.body), every);
    let other = switchboard_engine::admin::create_application(&e.state.db, e.state.secrets.hasher(), "org-b")
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let other_app = e.app_token_for(&other).await;
    assert_eq!(e.get(path, &other_app).await.body["allowed_templates"], Value::Null);
    let other_widget = e.widget_token(&other_app, "ws-b", ORIGIN).await;
    assert_eq!(list_with(other_widget).await, every);

    // Only an application token reads or sets it; bad lists are refused and change nothing.
    let widget = e.widget_token(&app, "ws-app-list", ORIGIN).await;
    for token in [&scoped, &widget] {
        let a = call("GET", &e.url(path), Some(token), None, &from_origin).await;
        assert_eq!((a.status, &a.body["details"]["reason"]), (401, &json!("wrong_token_kind")), "{}", a.text);
        let a = call("PUT", &e.url(path), Some(token), Some(json!({"allowed_templates": null})), &from_origin).await;
        assert_eq!(a.status, 401, "{}", a.text);
    }
    for bad in [
        json!({"allowed_templates": []}),
        json!({"allowed_templates": ["no-such-connector"]}),
        json!({"allowed_templates": "github"}),
        // A misspelt or missing field is not "every type": the list must be named to go.
        json!({"allowed_template": ["stripe"]}),
        json!({}),
        json!({"allowed_templates": ["github"], "extra": true}),
    ] {
        let a = put(bad.clone()).await;
        assert_eq!(a.status, 422, "{bad}: {}", a.text);
    }
    assert_eq!(e.get(path, &app).await.body["allowed_templates"], json!(["github", "stripe"]));

    // Removed (null): every type again, for the tokens already minted too.
    let a = put(json!({"allowed_templates": null})).await;
    assert_eq!((a.status, &a.body), (200, &json!({"allowed_templates": null, "updated_at": null})), "{}", a.text);
    assert_eq!(list_with(minted_before).await, every);
    assert_eq!(list_with(narrow).await, ["stripe"], "the token's own list still applies");
});
