//! The operator console: a small web page the engine serves at `/console` for the operator of
//! one application, with read-only views of that application's organization (workspaces,
//! connectors without credentials, the audit log with filters, health and a few metrics) and
//! one action, rotating the application's own client secret (shown once).
//!
//! Signing in (`POST /console/api/login`) takes the application's client id and secret, checked
//! exactly as the token endpoint checks them and under its limits (per address and per client
//! id). The session is a signed token of its own kind (see [`crate::services::console`]) in the
//! `sb_console` cookie: `HttpOnly; SameSite=Strict; Path=/console`, `Secure` when the engine's
//! `--public-url` is https or the request came through a proxy saying `X-Forwarded-Proto:
//! https`, 30 minutes fixed; signing out ends it on every replica (see
//! [`crate::services::console::logout`]). Console routes accept that cookie and nothing else: a
//! request carrying any `Authorization` header is refused (`bearer_not_accepted`), and no other route
//! accepts the session token. Every state-changing request (`POST`) must come from the engine's
//! own origin (`Origin` equal to `--public-url`'s origin, or to the `Host` the request was sent
//! to) and, once signed in, carry the session's CSRF token in `X-CSRF-Token` (answered by
//! login and by `GET /console/api/session`). Every answer is `Cache-Control: no-store`.
//!
//! The page, its script and style are in `engine/assets/console/`, compiled in; the policy
//! allows the engine's own script, style and fetches only (no inline script, nothing framed).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::wire::ErrorBody;

use crate::db::console::AuditFilter;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Params};
use crate::services::console as svc;
use crate::state::AppState;
use crate::tokens::Claims;

const PAGE: &str = include_str!("../assets/console/index.html");
const SCRIPT: &str = include_str!("../assets/console/console.js");
const STYLE: &str = include_str!("../assets/console/console.css");

/// The session cookie's name.
pub const COOKIE: &str = "sb_console";

/// The page's policy: its own script, style and fetches only; never framed.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'";

fn secure_headers(h: &mut HeaderMap) {
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secure_headers(h);
    resp
}

/// A JSON answer that is never stored by a cache.
fn fresh<T: Serialize>(status: StatusCode, body: T) -> Response {
    let mut resp = (status, Json(body)).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    secure_headers(resp.headers_mut());
    resp
}

/// The console page: the sign-in form, or the console once signed in (its script asks).
#[utoipa::path(get, path = "/console",
    responses((status = 200, description = "the console page", content_type = "text/html", body = String)))]
pub async fn page() -> Response {
    let mut resp = asset("text/html; charset=utf-8", PAGE);
    resp.headers_mut().insert("content-security-policy", HeaderValue::from_static(PAGE_POLICY));
    resp
}

/// The console's script.
#[utoipa::path(get, path = "/console/console.js",
    responses((status = 200, description = "the console's script", content_type = "text/javascript", body = String)))]
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// The console's style sheet.
#[utoipa::path(get, path = "/console/console.css",
    responses((status = 200, description = "the console's style sheet", content_type = "text/css", body = String)))]
pub async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

// ---- wire types

/// `POST /console/api/login`: the application's client credentials.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ConsoleLogin {
    pub client_id: String,
    pub client_secret: String,
}

/// The signed-in session.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsoleSession {
    pub organization_id: String,
    /// The application signed in.
    pub client_id: String,
    /// Send it as `X-CSRF-Token` on every POST.
    pub csrf_token: String,
    /// RFC 3339; the session ends then (fixed, not extended by use).
    pub expires_at: String,
}

/// A workspace of the organization.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsoleWorkspace {
    pub id: String,
    pub name: String,
    pub created_at: String,
    /// How many connectors it holds.
    pub connectors: u64,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsoleWorkspaceList {
    pub data: Vec<ConsoleWorkspace>,
}

/// A connector, without credentials or configuration.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsoleConnector {
    pub id: String,
    pub name: String,
    /// The connector type's slug.
    pub connector_type: String,
    pub workspace_id: String,
    pub workspace_name: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsoleConnectorList {
    pub data: Vec<ConsoleConnector>,
}

/// One audit record (operations run, changes made; never a request or response body).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsoleAuditRecord {
    pub id: String,
    pub created_at: String,
    pub workspace_id: Option<String>,
    pub connector_id: Option<String>,
    /// The kind of token that made the request.
    pub token_kind: String,
    pub entity: String,
    pub action: String,
    /// `success` or `error`.
    pub outcome: String,
    pub error_code: Option<String>,
    pub latency_ms: i64,
    pub request_id: String,
}

/// A page of the audit log, newest first.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsoleAuditPage {
    pub data: Vec<ConsoleAuditRecord>,
    /// Pass as `cursor` for the next page; none on the last.
    pub next_cursor: Option<String>,
}

/// Filters of the audit log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AuditQuery {
    /// One workspace's records (its id).
    pub workspace_id: Option<String>,
    /// One connector's records (its id).
    pub connector_id: Option<String>,
    /// `success` or `error`.
    pub outcome: Option<String>,
    /// RFC 3339: records at or after it.
    pub since: Option<String>,
    /// RFC 3339: records before it.
    pub until: Option<String>,
    /// Records per page, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the page before.
    pub cursor: Option<String>,
}

/// `GET /console/api/connectors`: one workspace only, when named.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ConnectorQuery {
    pub workspace_id: Option<String>,
}

/// A few engine-wide counters since the process started.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsoleMetrics {
    pub requests: u64,
    /// Answers with a 5xx status.
    pub server_errors: u64,
    pub executions: u64,
    pub failed_executions: u64,
    pub tokens_issued: u64,
    pub audit_dropped: u64,
    pub connections_open: u64,
}

/// Health at a glance.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsoleHealth {
    /// `ready` (the database answers) or `unavailable`, as `/readyz`.
    pub status: String,
    pub version: String,
    pub metrics: ConsoleMetrics,
}

/// A new client secret, shown this once.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct RotatedSecret {
    pub client_id: String,
    pub client_secret: String,
    /// The rotation ends every console session signed in with the old secret; the rotating one
    /// continues as a new session (its cookie is set with this answer): send this CSRF token
    /// from now on.
    pub csrf_token: String,
}

// ---- the session

/// The value of the `sb_console` cookie, if sent. Two different values are refused: a browser
/// sends a cookie planted for a longer path (by a sibling subdomain, or a man in the middle of
/// plain http) before the console's own, and reading the first would open the planter's
/// console, showing their organization as the victim's.
fn cookie_token(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let pairs = headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';'));
    let mut values = pairs.filter_map(|c| c.trim().split_once('=')).filter(|(k, v)| *k == COOKIE && !v.is_empty());
    let Some((_, first)) = values.next() else { return Ok(None) };
    if values.any(|(_, v)| v != first) {
        return Err(ApiError::unauthorized(
            "this browser sent two different console session cookies, one of them not set by this console: \
             clear this site's cookies, then sign in again",
        )
        .with_reason("ambiguous_session"));
    }
    Ok(Some(first.to_string()))
}

/// Console routes take no bearer token of any kind.
fn refuse_bearer(headers: &HeaderMap) -> ApiResult<()> {
    if headers.contains_key(header::AUTHORIZATION) {
        return Err(ApiError::unauthorized(
            "the console takes its session cookie, not an Authorization header; sign in at /console",
        )
        .with_reason("bearer_not_accepted"));
    }
    Ok(())
}

/// A state-changing request must name the engine's own origin in `Origin`.
fn require_own_origin(st: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    match origin {
        Some(o) if crate::widget::is_own_origin(o, headers, st.settings.public_url.as_deref()) => Ok(()),
        _ => Err(ApiError::forbidden("console changes must come from the console's own page (Origin)")
            .with_reason("origin_mismatch")),
    }
}

/// The session of a read-only request.
async fn read_session(st: &AppState, headers: &HeaderMap) -> ApiResult<(String, Claims)> {
    refuse_bearer(headers)?;
    let token = cookie_token(headers)?
        .ok_or_else(|| ApiError::unauthorized("sign in at /console first").with_reason("no_session"))?;
    let claims = svc::session(st, &token).await?;
    Ok((token, claims))
}

/// The session of a state-changing request: its own origin and the session's CSRF token.
async fn write_session(st: &AppState, headers: &HeaderMap) -> ApiResult<(String, Claims)> {
    refuse_bearer(headers)?;
    require_own_origin(st, headers)?;
    let (token, claims) = read_session(st, headers).await?;
    let sent = headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !svc::csrf_matches(&token, sent) {
        return Err(ApiError::forbidden("send this session's CSRF token in X-CSRF-Token").with_reason("csrf"));
    }
    Ok((token, claims))
}

/// Whether the session cookie gets `Secure`.
fn secure(st: &AppState, headers: &HeaderMap) -> bool {
    st.settings.public_url.as_deref().is_some_and(|u| u.starts_with("https://"))
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

fn set_cookie(resp: &mut Response, value: &str, max_age: u64, secure: bool) {
    let flags = if secure { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/console; Max-Age={max_age}{flags}");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn rfc3339(unix: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix as i64)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

fn session_body(token: &str, c: &Claims) -> ConsoleSession {
    ConsoleSession {
        organization_id: c.org.clone(),
        client_id: c.sub.clone(),
        csrf_token: svc::csrf_for(token),
        expires_at: rfc3339(c.exp),
    }
}

// ---- the API

/// Signs in with the application's client credentials; sets the `sb_console` session cookie.
/// Limited per address and per client id like the token endpoint; must come from the engine's
/// own origin; refused with any `Authorization` header.
#[utoipa::path(post, path = "/console/api/login", request_body = ConsoleLogin,
    responses((status = 200, description = "signed in; the session cookie is set", body = ConsoleSession),
        (status = 401, description = "wrong client credentials, or a bearer token sent", body = ErrorBody),
        (status = 403, description = "not sent from the console's own origin", body = ErrorBody),
        (status = 429, description = "too many sign-ins from this address or for this client id", body = ErrorBody)))]
pub async fn login(State(st): State<AppState>, request: axum::extract::Request) -> ApiResult<Response> {
    let headers = request.headers();
    refuse_bearer(headers)?;
    require_own_origin(&st, headers)?;
    let peer = request.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0);
    // The address's bucket before the body is read, as the token endpoint does: a client over
    // its limit gets no body read or parsed.
    st.token_limits.check_address(peer, headers)?;
    let secure = secure(&st, headers);
    let Body(req) = <Body<ConsoleLogin> as axum::extract::FromRequest<AppState>>::from_request(request, &st).await?;
    let s = svc::login(&st, req.client_id, req.client_secret).await?;
    let mut resp = fresh(StatusCode::OK, session_body(&s.token, &s.claims));
    set_cookie(&mut resp, &s.token, svc::SESSION_TTL_SECS, secure);
    Ok(resp)
}

/// Signs out: the session ends on every replica on this store (its id's hash is recorded in
/// the main store) and the cookie is cleared.
#[utoipa::path(post, path = "/console/api/logout",
    responses((status = 204, description = "signed out; the cookie is cleared")))]
pub async fn logout(State(st): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let (_, claims) = write_session(&st, &headers).await?;
    svc::logout(&st, &claims).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    set_cookie(&mut resp, "", 0, secure(&st, &headers));
    Ok(resp)
}

/// The signed-in session and its CSRF token.
#[utoipa::path(get, path = "/console/api/session",
    responses((status = 200, description = "the session", body = ConsoleSession),
        (status = 401, description = "not signed in", body = ErrorBody)))]
pub async fn session(State(st): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let (token, claims) = read_session(&st, &headers).await?;
    Ok(fresh(StatusCode::OK, session_body(&token, &claims)))
}

/// The organization's workspaces.
#[utoipa::path(get, path = "/console/api/workspaces",
    responses((status = 200, description = "the workspaces", body = ConsoleWorkspaceList)))]
pub async fn workspaces(State(st): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let (_, claims) = read_session(&st, &headers).await?;
    let data = svc::workspaces(&st, &claims.org)
        .await?
        .into_iter()
        .map(|(w, n)| ConsoleWorkspace { id: w.id, name: w.name, created_at: w.created_at, connectors: n as u64 })
        .collect();
    Ok(fresh(StatusCode::OK, ConsoleWorkspaceList { data }))
}

/// The organization's connectors, without credentials or configuration.
#[utoipa::path(get, path = "/console/api/connectors", params(ConnectorQuery),
    responses((status = 200, description = "the connectors", body = ConsoleConnectorList)))]
pub async fn connectors(
    State(st): State<AppState>,
    headers: HeaderMap,
    Params(q): Params<ConnectorQuery>,
) -> ApiResult<Response> {
    let (_, claims) = read_session(&st, &headers).await?;
    let data = svc::connectors(&st, &claims.org, q.workspace_id.as_deref().filter(|w| !w.is_empty()))
        .await?
        .into_iter()
        .map(|c| ConsoleConnector {
            id: c.id,
            name: c.name,
            connector_type: c.slug,
            workspace_id: c.workspace_id,
            workspace_name: c.workspace_name,
            created_at: c.created_at,
            updated_at: c.updated_at,
        })
        .collect();
    Ok(fresh(StatusCode::OK, ConsoleConnectorList { data }))
}

/// The organization's audit log, newest first, filtered and paged.
#[utoipa::path(get, path = "/console/api/audit", params(AuditQuery),
    responses((status = 200, description = "a page of the audit log", body = ConsoleAuditPage),
        (status = 422, description = "a bad time or cursor", body = ErrorBody)))]
pub async fn audit(
    State(st): State<AppState>,
    headers: HeaderMap,
    Params(q): Params<AuditQuery>,
) -> ApiResult<Response> {
    let (_, claims) = read_session(&st, &headers).await?;
    let some = |v: Option<String>| v.filter(|s| !s.is_empty());
    let filter = AuditFilter {
        workspace_id: some(q.workspace_id),
        connector_id: some(q.connector_id),
        outcome: some(q.outcome),
        since: some(q.since),
        until: some(q.until),
        before: some(q.cursor).map(|c| svc::decode_cursor(&c)).transpose()?,
        limit: q.limit.unwrap_or(50),
    };
    let (rows, next_cursor) = svc::audit(&st, &claims.org, filter).await?;
    let data = rows
        .into_iter()
        .map(|r| ConsoleAuditRecord {
            id: r.id,
            created_at: r.created_at,
            workspace_id: r.workspace_id,
            connector_id: r.connector_id,
            token_kind: r.token_kind,
            entity: r.entity,
            action: r.action,
            outcome: r.status,
            error_code: r.error_code,
            latency_ms: r.latency_ms,
            request_id: r.request_id,
        })
        .collect();
    Ok(fresh(StatusCode::OK, ConsoleAuditPage { data, next_cursor }))
}

/// Health and a few engine-wide counters.
#[utoipa::path(get, path = "/console/api/health",
    responses((status = 200, description = "health at a glance", body = ConsoleHealth)))]
pub async fn health(State(st): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    read_session(&st, &headers).await?;
    let status = if st.db.ping().await { "ready" } else { "unavailable" };
    let g = svc::glance(&st.metrics.render());
    Ok(fresh(
        StatusCode::OK,
        ConsoleHealth {
            status: status.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            metrics: ConsoleMetrics {
                requests: g.requests,
                server_errors: g.server_errors,
                executions: g.executions,
                failed_executions: g.failed_executions,
                tokens_issued: g.tokens_issued,
                audit_dropped: g.audit_dropped,
                connections_open: g.connections_open,
            },
        },
    ))
}

/// A new client secret for the signed-in application, answered this once. The old secret stops
/// working at once, and so does every console session signed in with it, on every replica; the
/// caller gets a new session (cookie and CSRF token). Application tokens already issued keep
/// working until they expire.
#[utoipa::path(post, path = "/console/api/rotate-secret",
    responses((status = 200, description = "the new secret, shown once", body = RotatedSecret),
        (status = 403, description = "no or a wrong X-CSRF-Token, or another origin", body = ErrorBody)))]
pub async fn rotate_secret(State(st): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let (_, claims) = write_session(&st, &headers).await?;
    let (client_secret, session) = svc::rotate_secret(&st, &claims).await?;
    let body = RotatedSecret { client_id: claims.sub.clone(), client_secret, csrf_token: session.csrf_token };
    let mut resp = fresh(StatusCode::OK, body);
    set_cookie(&mut resp, &session.token, svc::SESSION_TTL_SECS, secure(&st, &headers));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let token = |pairs| cookie_token(&headers(pairs)).ok().flatten();
        assert_eq!(token(&[("cookie", "a=1; sb_console=tok; b=2")]).as_deref(), Some("tok"));
        assert_eq!(token(&[("cookie", "a=1"), ("cookie", "sb_console=t2")]).as_deref(), Some("t2"));
        assert_eq!(token(&[("cookie", "sb_console=")]), None);
        assert_eq!(token(&[("cookie", "xsb_console=t")]), None);
        // The same value twice is one session; two values are refused, whichever comes first.
        assert_eq!(token(&[("cookie", "sb_console=t; sb_console=t")]).as_deref(), Some("t"));
        for pairs in [
            &[("cookie", "sb_console=planted; sb_console=mine")][..],
            &[("cookie", "sb_console=a"), ("cookie", "sb_console=b")],
        ] {
            let refused = cookie_token(&headers(pairs)).err().and_then(|e| e.details);
            assert_eq!(refused.map(|d| d["reason"].clone()), Some(serde_json::json!("ambiguous_session")), "{pairs:?}");
        }
    }

    #[test]
    fn the_origin_is_the_engines_own() {
        let h = headers(&[("host", "engine.example:8080")]);
        assert!(crate::widget::is_own_origin("http://engine.example:8080", &h, None));
        assert!(!crate::widget::is_own_origin("http://evil.example", &h, None));
        assert!(crate::widget::is_own_origin("https://sb.example", &h, Some("https://sb.example/")));
        assert!(!crate::widget::is_own_origin("http://engine.example:8080", &h, Some("https://sb.example")));
    }
}
