//! The operator console's API on SQLite and PostgreSQL: the session cookie's flags, CSRF and
//! origin checks, one organization's data only, rotating the client secret (shown once, the
//! old one refused at once), the sign-in limits, bearer tokens refused, signing out (on one
//! process and, with two `switchboard serve` processes on one store, across them), and a sign-in
//! minting no application token.
//! The page itself is exercised in Chromium by tests/browser/console.test.mjs.

mod common;

use common::{call, start, Answer, Engine};
use fake_upstream::{creds, FakeUpstream};
use serde_json::{json, Value};
use switchboard_engine::db::Audit;

/// Every console API route: method and path.
const API: [(&str, &str); 8] = [
    ("POST", "/console/api/login"),
    ("POST", "/console/api/logout"),
    ("GET", "/console/api/session"),
    ("GET", "/console/api/workspaces"),
    ("GET", "/console/api/connectors"),
    ("GET", "/console/api/audit"),
    ("GET", "/console/api/health"),
    ("POST", "/console/api/rotate-secret"),
];

/// A signed-in console: the cookie header and the CSRF token.
struct Session {
    cookie: String,
    csrf: String,
    set_cookie: String,
    body: Value,
}

async fn login_raw(e: &Engine, client_id: &str, secret: &str, headers: &[(&str, &str)]) -> Answer {
    let body = json!({"client_id": client_id, "client_secret": secret});
    call("POST", &e.url("/console/api/login"), None, Some(body), headers).await
}

async fn login_as(e: &Engine, client_id: &str, secret: &str) -> Session {
    let a = login_raw(e, client_id, secret, &[("origin", &e.base)]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let set_cookie = a.headers.get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let cookie = set_cookie.split(';').next().unwrap_or_default().to_string();
    assert!(cookie.starts_with("sb_console=") && cookie.len() > 40, "{set_cookie}");
    let csrf = a.body["csrf_token"].as_str().unwrap_or_default().to_string();
    assert!(!csrf.is_empty(), "{}", a.text);
    Session { cookie, csrf, set_cookie, body: a.body }
}

async fn login(e: &Engine) -> Session {
    login_as(e, &e.app.client_id, &e.app.client_secret).await
}

impl Session {
    async fn get(&self, e: &Engine, path: &str) -> Answer {
        call("GET", &e.url(path), None, None, &[("cookie", &self.cookie)]).await
    }

    /// A POST from the console's own origin with the CSRF token.
    async fn post(&self, e: &Engine, path: &str) -> Answer {
        let headers = [("cookie", self.cookie.as_str()), ("origin", e.base.as_str()), ("x-csrf-token", &self.csrf)];
        call("POST", &e.url(path), None, None, &headers).await
    }
}

fn reason(a: &Answer) -> &Value {
    &a.body["details"]["reason"]
}

async fn fake() -> FakeUpstream {
    FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"))
}

fn record(org: &str, ws: Option<&str>, connector: Option<&str>, status: &str, action: &str) -> Audit {
    Audit {
        organization_id: org.into(),
        workspace_id: ws.map(str::to_string),
        connector_id: connector.map(str::to_string),
        token_kind: "application".into(),
        entity: "issues".into(),
        action: action.into(),
        status: status.into(),
        error_code: (status == "error").then(|| "upstream_error".to_string()),
        latency_ms: 12,
        request_id: uuid::Uuid::new_v4().to_string(),
    }
}

both_backends!(the_session_cookie_is_strict_and_http_only, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    let s = login(&e).await;
    let flags: Vec<&str> = s.set_cookie.split(';').map(str::trim).collect();
    for f in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age=1800"] {
        assert!(flags.contains(&f), "{f} missing: {}", s.set_cookie);
    }
    assert!(!flags.contains(&"Secure"), "plain http without --public-url: {}", s.set_cookie);
    assert_eq!(s.body["organization_id"], json!(e.app.organization_id));
    assert_eq!(s.body["client_id"], json!(e.app.client_id));
    // The session answers the same CSRF token; the secret is never in an answer.
    let again = s.get(&e, "/console/api/session").await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.body["csrf_token"], json!(s.csrf));
    assert!(!again.text.contains(&e.app.client_secret));
    assert_eq!(again.headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    // Behind a TLS proxy, or with an https public URL, the cookie is Secure.
    let proxied =
        login_raw(&e, &e.app.client_id, &e.app.client_secret, &[("origin", &e.base), ("x-forwarded-proto", "https")])
            .await;
    let set = proxied.headers.get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(set.split(';').any(|f| f.trim() == "Secure"), "{set}");
    drop(e);
    let Some(e) = start(backend, |s| s.public_url = Some("https://sb.example".into())).await else { return };
    let a = login_raw(&e, &e.app.client_id, &e.app.client_secret, &[("origin", "https://sb.example")]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let set = a.headers.get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(set.split(';').any(|f| f.trim() == "Secure"), "{set}");
    // With a public URL, the Host-derived origin is not the engine's.
    let a = login_raw(&e, &e.app.client_id, &e.app.client_secret, &[("origin", &e.base)]).await;
    assert_eq!((a.status, reason(&a)), (403, &json!("origin_mismatch")), "{}", a.text);
});

both_backends!(state_changes_need_the_csrf_token_and_the_own_origin, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    let s = login(&e).await;
    for path in ["/console/api/rotate-secret", "/console/api/logout"] {
        let url = e.url(path);
        let no_csrf = call("POST", &url, None, None, &[("cookie", &s.cookie), ("origin", &e.base)]).await;
        assert_eq!((no_csrf.status, reason(&no_csrf)), (403, &json!("csrf")), "{path}: {}", no_csrf.text);
        let wrong = [("cookie", s.cookie.as_str()), ("origin", e.base.as_str()), ("x-csrf-token", "0123abcd")];
        let wrong = call("POST", &url, None, None, &wrong).await;
        assert_eq!((wrong.status, reason(&wrong)), (403, &json!("csrf")), "{path}: {}", wrong.text);
        // Another session's token is wrong for this one.
        let other = login(&e).await;
        let swapped = [("cookie", s.cookie.as_str()), ("origin", e.base.as_str()), ("x-csrf-token", &other.csrf)];
        let swapped = call("POST", &url, None, None, &swapped).await;
        assert_eq!((swapped.status, reason(&swapped)), (403, &json!("csrf")), "{path}: {}", swapped.text);
        let foreign = [("cookie", s.cookie.as_str()), ("origin", "https://evil.example"), ("x-csrf-token", &s.csrf)];
        let foreign = call("POST", &url, None, None, &foreign).await;
        assert_eq!((foreign.status, reason(&foreign)), (403, &json!("origin_mismatch")), "{path}: {}", foreign.text);
        let no_origin = [("cookie", s.cookie.as_str()), ("x-csrf-token", s.csrf.as_str())];
        let no_origin = call("POST", &url, None, None, &no_origin).await;
        assert_eq!((no_origin.status, reason(&no_origin)), (403, &json!("origin_mismatch")), "{path}");
    }
    // None of the refusals changed the secret: the old one still gets a token.
    e.app_token().await;
    // A sign-in from another origin is refused before the credentials are checked.
    let a = login_raw(&e, &e.app.client_id, &e.app.client_secret, &[("origin", "https://evil.example")]).await;
    assert_eq!((a.status, reason(&a)), (403, &json!("origin_mismatch")), "{}", a.text);
    assert!(a.headers.get("set-cookie").is_none());
    // Reads need no CSRF token, but a session.
    let none = call("GET", &e.url("/console/api/workspaces"), None, None, &[]).await;
    assert_eq!((none.status, reason(&none)), (401, &json!("no_session")), "{}", none.text);
    let forged =
        call("GET", &e.url("/console/api/workspaces"), None, None, &[("cookie", "sb_console=abc.def.ghi")]).await;
    assert_eq!(forged.status, 401, "{}", forged.text);
    // A cookie planted for a longer path comes first, beside the real session's: neither is
    // taken (reading the first would show the planter's organization).
    let s = login(&e).await;
    let b = switchboard_engine::admin::create_application(&e.state.db, e.state.secrets.hasher(), "org-planter")
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let planter = login_as(&e, &b.client_id, &b.client_secret).await;
    let planted = format!("{}; {}", planter.cookie, s.cookie);
    let a = call("GET", &e.url("/console/api/workspaces"), None, None, &[("cookie", &planted)]).await;
    assert_eq!((a.status, reason(&a)), (401, &json!("ambiguous_session")), "{}", a.text);
    let a = call("GET", &e.url("/console/api/workspaces"), None, None, &[("cookie", &s.cookie)]).await;
    assert_eq!(a.status, 200, "the session alone still reads: {}", a.text);
});

both_backends!(a_session_sees_its_own_organization_only, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    let fake = fake().await;
    let gh = fake.base_url("github");
    // Organization A: a connector in ws-a; organization B: a connector in ws-b.
    let app_a = e.app_token().await;
    let conn_a = e.github_connector(&app_a, Some("ws-a"), &gh, creds::GITHUB_TOKEN).await;
    let b = switchboard_engine::admin::create_application(&e.state.db, e.state.secrets.hasher(), "org-b")
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let app_b = e.app_token_for(&b).await;
    let conn_b = e.github_connector(&app_b, Some("ws-b"), &gh, creds::GITHUB_TOKEN).await;
    let ws_of = |id: &str| {
        let (e, id) = (&e, id.to_string());
        async move {
            let a = e.get(&format!("/api/v1/integrations/connectors/{id}"), &app_a).await;
            a.body["workspace_id"].as_str().unwrap_or_default().to_string()
        }
    };
    let ws_a = ws_of(&conn_a).await;
    assert!(!ws_a.is_empty());
    let db = &e.state.db;
    for (status, action) in [("success", "list"), ("error", "get")] {
        db.audit(record(&e.app.organization_id, Some(&ws_a), Some(&conn_a), status, action))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        db.audit(record(&b.organization_id, None, Some(&conn_b), status, action))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    let sa = login(&e).await;
    let sb = login_as(&e, &b.client_id, &b.client_secret).await;
    let views = ["/console/api/session", "/console/api/workspaces", "/console/api/connectors", "/console/api/audit"];
    for path in views {
        let a = sa.get(&e, path).await;
        let bb = sb.get(&e, path).await;
        assert_eq!((a.status, bb.status), (200, 200), "{path}: {} / {}", a.text, bb.text);
        for marker in [e.app.organization_id.as_str(), e.app.client_id.as_str(), &ws_a, &conn_a, "ws-a"] {
            assert!(!bb.text.contains(marker), "{path}: B saw A's {marker}: {}", bb.text);
        }
        for marker in [b.organization_id.as_str(), b.client_id.as_str(), &conn_b, "ws-b"] {
            assert!(!a.text.contains(marker), "{path}: A saw B's {marker}: {}", a.text);
        }
        for secret in [&e.app.client_secret, &b.client_secret, &creds::GITHUB_TOKEN.to_string()] {
            assert!(!a.text.contains(secret.as_str()) && !bb.text.contains(secret.as_str()), "{path}");
        }
    }
    // A's views hold A's objects, without credentials or configuration.
    let ws = sa.get(&e, "/console/api/workspaces").await;
    let row = ws.body["data"].as_array().and_then(|l| l.iter().find(|w| w["id"] == json!(ws_a))).cloned();
    assert_eq!(row.map(|w| w["connectors"].clone()), Some(json!(1)), "{}", ws.text);
    let list = sa.get(&e, "/console/api/connectors").await;
    let c = &list.body["data"][0];
    assert_eq!(
        (&c["id"], &c["connector_type"], &c["workspace_name"]),
        (&json!(conn_a), &json!("github"), &json!("ws-a"))
    );
    assert!(c.get("credentials").is_none() && c.get("config").is_none(), "{}", list.text);
    // B filtering by A's ids finds nothing.
    for q in [format!("workspace_id={ws_a}"), format!("connector_id={conn_a}")] {
        let a = sb.get(&e, &format!("/console/api/audit?{q}")).await;
        assert_eq!(a.body["data"], json!([]), "{q}: {}", a.text);
        let c = sb.get(&e, &format!("/console/api/connectors?{q}")).await;
        assert_eq!(c.status, 200);
        assert!(!c.text.contains(&conn_a), "{q}: {}", c.text);
    }
});

both_backends!(the_audit_log_filters_and_pages, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    let org = e.app.organization_id.clone();
    let db = &e.state.db;
    // Five records an hour apart on 2026-01-10, alternating outcome, two connectors.
    for i in 0..5 {
        let status = if i % 2 == 0 { "success" } else { "error" };
        let conn = if i < 3 { "conn-1" } else { "conn-2" };
        let r = record(&org, Some("ws-1"), Some(conn), status, &format!("act{i}"));
        db.audit_at(&r, &format!("2026-01-10T0{i}:00:00Z")).await.unwrap_or_else(|e| panic!("{e}"));
    }
    let s = login(&e).await;
    let actions = |a: &Answer| -> Vec<String> {
        a.body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| r["action"].as_str().unwrap_or_default().into())
            .collect()
    };
    let page = |q: &str| {
        let (s, e, q) = (&s, &e, q.to_string());
        async move {
            let a = s.get(e, &format!("/console/api/audit?{q}")).await;
            assert_eq!(a.status, 200, "{q}: {}", a.text);
            a
        }
    };
    let all = page("since=2026-01-10T00:00:00Z&until=2026-01-11T00:00:00Z").await;
    assert_eq!(actions(&all), ["act4", "act3", "act2", "act1", "act0"], "{}", all.text);
    assert_eq!(all.body["next_cursor"], Value::Null);
    let errors = page("outcome=error&since=2026-01-10T00:00:00Z").await;
    assert_eq!(actions(&errors), ["act3", "act1"]);
    assert_eq!(errors.body["data"][0]["error_code"], json!("upstream_error"));
    let conn = page("connector_id=conn-2").await;
    assert_eq!(actions(&conn), ["act4", "act3"]);
    let window = page("since=2026-01-10T01:00:00Z&until=2026-01-10T03:00:00Z").await;
    assert_eq!(actions(&window), ["act2", "act1"]);
    let ws = page("workspace_id=ws-1&outcome=success").await;
    assert_eq!(actions(&ws), ["act4", "act2", "act0"]);
    // Pages of two, following the cursor.
    let mut seen = vec![];
    let mut q = "workspace_id=ws-1&limit=2".to_string();
    for _ in 0..4 {
        let p = page(&q).await;
        seen.extend(actions(&p));
        match p.body["next_cursor"].as_str() {
            Some(c) => q = format!("workspace_id=ws-1&limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ["act4", "act3", "act2", "act1", "act0"]);
    // A page that holds the last record has no cursor, even when it is full.
    let full = page("workspace_id=ws-1&limit=5").await;
    assert_eq!((actions(&full).len(), &full.body["next_cursor"]), (5, &Value::Null), "{}", full.text);
    assert!(page("workspace_id=ws-1&limit=4").await.body["next_cursor"].is_string());
    // Bad input is a validation error naming the field.
    for bad in
        ["since=yesterday", "until=2026-13-01", "cursor=%21%21", "limit=0", "limit=201", "limit=abc", "outcome=bogus"]
    {
        let a = s.get(&e, &format!("/console/api/audit?{bad}")).await;
        assert_eq!(a.status, 422, "{bad}: {}", a.text);
    }
});

both_backends!(rotating_the_secret_shows_it_once_and_refuses_the_old_one, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    let before = e.app_token().await;
    let old_session = login(&e).await;
    let other = login(&e).await;
    let r = old_session.post(&e, "/console/api/rotate-secret").await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Every session signed in with the old secret ends, the rotating one included; the rotating
    // operator continues as the new session the answer sets.
    for ended in [&old_session, &other] {
        let a = ended.get(&e, "/console/api/session").await;
        assert_eq!((a.status, reason(&a)), (401, &json!("session_ended")), "{}", a.text);
        assert!(a.text.contains("client secret was changed"), "{}", a.text);
        assert_eq!(ended.post(&e, "/console/api/logout").await.status, 401);
    }
    let set_cookie = r.headers.get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap_or_default().to_string();
    assert!(cookie.starts_with("sb_console=") && cookie != old_session.cookie, "{set_cookie}");
    let csrf = r.body["csrf_token"].as_str().unwrap_or_default().to_string();
    assert!(!csrf.is_empty() && csrf != old_session.csrf, "{}", r.text);
    let s = Session { cookie, csrf, set_cookie, body: r.body.clone() };
    assert_eq!(r.headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    let new = r.body["client_secret"].as_str().unwrap_or_default().to_string();
    assert!(new.len() >= 40 && new != e.app.client_secret, "{}", r.text);
    assert_eq!(r.body["client_id"], json!(e.app.client_id));
    // The old secret is refused at the token endpoint and at sign-in; the new one works.
    let token_url = e.url("/api/v1/account/applications/token");
    let old = json!({"client_id": e.app.client_id, "client_secret": e.app.client_secret});
    let refused = call("POST", &token_url, None, Some(old), &[]).await;
    assert_eq!((refused.status, reason(&refused)), (401, &json!("invalid_client")), "{}", refused.text);
    let relogin = login_raw(&e, &e.app.client_id, &e.app.client_secret, &[("origin", &e.base)]).await;
    assert_eq!(relogin.status, 401, "{}", relogin.text);
    let fresh = json!({"client_id": e.app.client_id, "client_secret": new});
    let ok = call("POST", &token_url, None, Some(fresh), &[]).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    // A token issued before keeps working until it expires, but mints no workspace token.
    assert_eq!(e.get("/api/v1/workspaces", &before).await.status, 200);
    let minted = e.post("/api/v1/embedded/scoped-token", &before, json!({"workspace_name": "after-rotation"})).await;
    assert_eq!((minted.status, reason(&minted)), (401, &json!("secret_rotated")), "{}", minted.text);
    // Shown once: no console answer holds it again, and the rotation is in the audit log.
    for path in ["/console/api/session", "/console/api/workspaces", "/console/api/audit", "/console/api/health"] {
        let a = s.get(&e, path).await;
        assert_eq!(a.status, 200, "{path}: {}", a.text);
        assert!(!a.text.contains(&new), "{path} showed the secret again");
    }
    let audit = s.get(&e, "/console/api/audit").await;
    let rotated = audit.body["data"].as_array().into_iter().flatten().any(|r| {
        r["action"] == json!("rotate_secret") && r["token_kind"] == json!("console") && r["outcome"] == json!("success")
    });
    assert!(rotated, "{}", audit.text);
    // The engine's log never holds it (the in-process log is not captured here; the answer
    // and the audit record are what the engine writes about it).
    assert!(!audit.text.contains(&new));
    // A sign-in with the new secret is a session like any other; the new session still works
    // after it, and its CSRF token is the one that writes.
    let again = login_as(&e, &e.app.client_id, &new).await;
    assert_eq!(again.get(&e, "/console/api/workspaces").await.status, 200);
    assert_eq!(s.post(&e, "/console/api/logout").await.status, 204);
    assert_eq!(s.get(&e, "/console/api/session").await.status, 401);
    assert_eq!(again.get(&e, "/console/api/session").await.status, 200);
});

both_backends!(sign_in_is_rate_limited_like_the_token_endpoint, |backend| async move {
    let Some(e) = start(backend, |s| {
        s.token_rate_per_address = 0.001;
        s.token_burst_per_address = 3.0;
    })
    .await
    else {
        return;
    };
    let mut statuses = vec![];
    for _ in 0..4 {
        statuses.push(login_raw(&e, &e.app.client_id, "wrong-secret", &[("origin", &e.base)]).await.status);
    }
    assert_eq!(statuses, [401, 401, 401, 429]);
    // The console and the token endpoint share the address's bucket.
    let body = json!({"client_id": e.app.client_id, "client_secret": e.app.client_secret});
    let t = call("POST", &e.url("/api/v1/account/applications/token"), None, Some(body), &[]).await;
    assert_eq!(t.status, 429, "{}", t.text);
    // Over the limit, the body is not even read: a body of the wrong shape is 429, not 422.
    let junk =
        call("POST", &e.url("/console/api/login"), None, Some(json!({"junk": true})), &[("origin", &e.base)]).await;
    assert_eq!(junk.status, 429, "{}", junk.text);
    drop(e);
    // Per client id: a burst of two.
    let Some(e) = start(backend, |s| {
        s.token_rate_per_client = 0.001;
        s.token_burst_per_client = 2.0;
    })
    .await
    else {
        return;
    };
    let mut statuses = vec![];
    for _ in 0..3 {
        statuses.push(login_raw(&e, &e.app.client_id, "wrong-secret", &[("origin", &e.base)]).await.status);
    }
    assert_eq!(statuses, [401, 401, 429]);
    let limited = login_raw(&e, &e.app.client_id, &e.app.client_secret, &[("origin", &e.base)]).await;
    assert_eq!(limited.status, 429, "the right secret is limited too: {}", limited.text);
});

both_backends!(bearer_tokens_never_open_the_console, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    let app = e.app_token().await;
    let scoped = e.scoped_token(&app, "ws-x").await;
    let widget = e.widget_token(&app, "ws-x", "https://a.example").await;
    let s = login(&e).await;
    let session_token = s.cookie.trim_start_matches("sb_console=").to_string();
    for (kind, token) in [("application", &app), ("scoped", &scoped), ("widget", &widget), ("console", &session_token)]
    {
        for (method, path) in API {
            // Even alongside a valid session cookie and CSRF token.
            let auth = format!("Bearer {token}");
            let headers = [
                ("authorization", auth.as_str()),
                ("cookie", s.cookie.as_str()),
                ("origin", e.base.as_str()),
                ("x-csrf-token", s.csrf.as_str()),
            ];
            let body = (path == "/console/api/login")
                .then(|| json!({"client_id": e.app.client_id, "client_secret": e.app.client_secret}));
            let a = call(method, &e.url(path), None, body, &headers).await;
            assert_eq!(
                (a.status, reason(&a)),
                (401, &json!("bearer_not_accepted")),
                "{kind} {method} {path}: {}",
                a.text
            );
        }
    }
    // The session token is refused as a bearer token everywhere else.
    for path in ["/api/v1/workspaces", "/api/v1/integrations/connectors", "/api/v1/embedded/scoped-token/info"] {
        let a = e.get(path, &session_token).await;
        assert_eq!((a.status, reason(&a)), (401, &json!("wrong_token_kind")), "{path}: {}", a.text);
    }
    let mcp = call(
        "POST",
        &e.url("/mcp"),
        Some(&session_token),
        Some(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})),
        &[("accept", "application/json, text/event-stream")],
    )
    .await;
    assert_eq!(mcp.status, 401, "{}", mcp.text);
    // And an application token in the cookie is not a session.
    let a = call("GET", &e.url("/console/api/session"), None, None, &[("cookie", &format!("sb_console={app}"))]).await;
    assert_eq!((a.status, reason(&a)), (401, &json!("wrong_token_kind")), "{}", a.text);
});

both_backends!(signing_out_ends_the_session, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    let s = login(&e).await;
    let other = login(&e).await;
    let out = s.post(&e, "/console/api/logout").await;
    assert_eq!(out.status, 204, "{}", out.text);
    let set = out.headers.get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(set.starts_with("sb_console=;") && set.contains("Max-Age=0") && set.contains("HttpOnly"), "{set}");
    // The cookie kept by a client that ignores the clearing is refused.
    let a = s.get(&e, "/console/api/workspaces").await;
    assert_eq!((a.status, reason(&a)), (401, &json!("session_ended")), "{}", a.text);
    assert_eq!(s.post(&e, "/console/api/rotate-secret").await.status, 401);
    // Another session of the same application goes on.
    assert_eq!(other.get(&e, "/console/api/workspaces").await.status, 200);
});

/// How many tokens of `kind` the engine counts as issued (its `/metrics`).
async fn issued(e: &Engine, kind: &str) -> u64 {
    let text = call("GET", &e.url("/metrics"), None, None, &[]).await.text;
    let series = format!("switchboard_tokens_issued_total{{kind=\"{kind}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(series.as_str())).and_then(|n| n.trim().parse().ok()).unwrap_or(0)
}

both_backends!(signing_in_issues_no_application_token, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    let (apps, consoles) = (issued(&e, "application").await, issued(&e, "console").await);
    let s = login(&e).await;
    assert_eq!(s.get(&e, "/console/api/workspaces").await.status, 200);
    assert_eq!(issued(&e, "application").await, apps, "a sign-in mints no application token");
    assert_eq!(issued(&e, "console").await, consoles + 1, "a sign-in mints its session token only");
    // A wrong secret is still refused by the same check, and mints nothing either.
    let a = login_raw(&e, &e.app.client_id, "not-the-secret", &[("origin", &e.base)]).await;
    assert_eq!((a.status, reason(&a)), (401, &json!("invalid_client")), "{}", a.text);
    assert_eq!(issued(&e, "console").await, consoles + 1);
    // The token endpoint still issues (and counts) application tokens.
    e.app_token().await;
    assert_eq!(issued(&e, "application").await, apps + 1);
});

/// Two `switchboard serve` processes on one store: a session signed in on one and signed out on
/// the other is refused by both (each process checks the store, not its own memory).
async fn signed_out_on_one_engine_refused_by_the_other(database_url: Option<&str>) {
    use common::serve::Serve;
    let dir = common::TempDir::new();
    let key = switchboard_engine::crypto::Key::generate().to_base64();
    let env = [("SWITCHBOARD_MASTER_KEY", key.as_str()), ("SWITCHBOARD_LOG", "info")];
    let a = tokio::task::block_in_place(|| Serve::start(&dir.0, database_url, &env));
    let b = tokio::task::block_in_place(|| Serve::start(&dir.0, database_url, &env));
    assert!(b.first.is_none(), "the second engine finds the store initialised");
    let (client_id, secret) = a.first_creds();

    let body = json!({"client_id": client_id, "client_secret": secret});
    let signed_in = call("POST", &a.url("/console/api/login"), None, Some(body), &[("origin", &a.base)]).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text);
    let set = signed_in.headers.get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let cookie = set.split(';').next().unwrap_or_default().to_string();
    let csrf = signed_in.body["csrf_token"].as_str().unwrap_or_default().to_string();
    assert!(cookie.starts_with("sb_console=") && !csrf.is_empty(), "{set}");
    let get = |base: String| {
        let cookie = cookie.clone();
        async move { call("GET", &format!("{base}/console/api/workspaces"), None, None, &[("cookie", &cookie)]).await }
    };
    // The session opens the console on both engines (they share the signing keys).
    for base in [&a.base, &b.base] {
        let r = get(base.clone()).await;
        assert_eq!(r.status, 200, "{base}: {}", r.text);
    }
    // Signed out on B (from B's own origin, with the session's CSRF token)...
    let headers = [("cookie", cookie.as_str()), ("origin", b.base.as_str()), ("x-csrf-token", csrf.as_str())];
    let out = call("POST", &b.url("/console/api/logout"), None, None, &headers).await;
    assert_eq!(out.status, 204, "{}", out.text);
    // ...A refuses the cookie at once, for reads and changes alike, and so does B.
    for base in [&a.base, &b.base] {
        let r = get(base.clone()).await;
        assert_eq!((r.status, reason(&r)), (401, &json!("session_ended")), "{base}: {}", r.text);
    }
    let headers = [("cookie", cookie.as_str()), ("origin", a.base.as_str()), ("x-csrf-token", csrf.as_str())];
    let r = call("POST", &a.url("/console/api/rotate-secret"), None, None, &headers).await;
    assert_eq!((r.status, reason(&r)), (401, &json!("session_ended")), "{}", r.text);
    // A new sign-in on A works on both.
    let body = json!({"client_id": client_id, "client_secret": secret});
    let again = call("POST", &a.url("/console/api/login"), None, Some(body), &[("origin", &a.base)]).await;
    assert_eq!(again.status, 200, "{}", again.text);
    let set = again.headers.get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let fresh = set.split(';').next().unwrap_or_default().to_string();
    for base in [&a.base, &b.base] {
        let r = call("GET", &format!("{base}/console/api/session"), None, None, &[("cookie", &fresh)]).await;
        assert_eq!(r.status, 200, "{base}: {}", r.text);
    }
    // The store holds a hash of the session, never the cookie's token.
    let logs = format!("{}{}", a.logs(), b.logs());
    assert!(!logs.contains(cookie.trim_start_matches("sb_console=")), "the session token is never logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_on_one_engine_ends_the_session_on_another_postgres() {
    let Some(url) = common::postgres_database().await else { return };
    signed_out_on_one_engine_refused_by_the_other(Some(&url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_on_one_engine_ends_the_session_on_another_sqlite() {
    signed_out_on_one_engine_refused_by_the_other(None).await;
}

both_backends!(the_page_is_locked_down, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    let page = call("GET", &e.url("/console"), None, None, &[]).await;
    assert_eq!(page.status, 200);
    let csp = page.headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default();
    for d in ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "connect-src 'self'"] {
        assert!(csp.contains(d), "{d}: {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.headers.get("x-frame-options").and_then(|v| v.to_str().ok()), Some("DENY"));
    assert!(page.text.contains("/console/console.js") && !page.text.contains("<script>"), "no inline script");
    for (path, kind) in [("/console/console.js", "text/javascript"), ("/console/console.css", "text/css")] {
        let a = call("GET", &e.url(path), None, None, &[]).await;
        assert_eq!(a.status, 200);
        let ct = a.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(ct.starts_with(kind), "{path}: {ct}");
        assert!(!a.text.contains("http://") && !a.text.contains("https://"), "{path} loads nothing from elsewhere");
    }
    let health = login(&e).await.get(&e, "/console/api/health").await;
    assert_eq!(health.status, 200, "{}", health.text);
    assert_eq!(health.body["status"], json!("ready"));
    assert!(health.body["metrics"]["requests"].as_u64().is_some_and(|n| n > 0), "{}", health.text);
});
