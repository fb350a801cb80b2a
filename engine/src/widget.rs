//! The embeddable auth widget: a page the engine serves for a customer's app to embed as an
//! iframe, its script and style, and the host snippet (`embed.js`) that mounts it. The files are
//! in `engine/assets/widget/`, compiled in; nothing is loaded from anywhere else.
//!
//! How a widget token travels: the customer's backend mints it (with its application token) and
//! hands it to its own page; `embed.js` creates the iframe, waits for the widget's ready message
//! and posts the token to the engine's origin only. The widget asks the engine which origin the
//! token belongs to and keeps the token only when the posting parent is that origin; it posts
//! its results to that origin only. A token never appears in a URL.
//!
//! Which requests a widget token is good for ([`origin_accepted`]): those from its allowed
//! origin (the host page; the answers are readable there through CORS) and those from the
//! engine's own origin (the widget iframe), nothing else. The engine's own origin is the origin
//! of `--public-url` when it is set (`Settings::public_url`); without it, it is derived from the
//! request's `Host` header (with `http` or `https`: a TLS proxy in front may terminate either),
//! which a browser sets itself, so a page elsewhere cannot pass for the engine. A same-origin
//! GET carries no `Origin` header in browsers; it is recognized by `Sec-Fetch-Site:
//! same-origin`, which page scripts cannot set either.
//!
//! Template filtering, at two levels. An application may set its own allow-list
//! (`PUT /api/v1/embedded/allowed-templates`, stored in the main store, so every replica
//! applies it at once); a widget token may carry `allowed_templates` (slugs, names or definition
//! ids, stored as slugs), which may only narrow its application's list: minting a token that asks
//! for a type outside it is refused (403 `template_not_allowed`), never silently narrowed. For a
//! widget token the types it may use are the intersection of the two (either missing: the
//! other; both missing: every type), read at each use, so a change to the application's list
//! applies to tokens already minted. The templates list answers only those types; creating a
//! connector or starting an OAuth consent of another type is `forbidden`
//! ([`check_template_allowed`]). Application and scoped tokens are not limited by the
//! application's list: it is what the application lets its end users connect in the widget.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::wire::{ErrorBody, TemplateList};
use switchboard_core::ConnectorSpec;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Allowed, ApplicationOnly, Body};
use crate::services::Caller;
use crate::state::AppState;
use crate::tokens::TokenKind;

const PAGE: &str = include_str!("../assets/widget/index.html");
const SCRIPT: &str = include_str!("../assets/widget/widget.js");
const STYLE: &str = include_str!("../assets/widget/widget.css");
const EMBED: &str = include_str!("../assets/widget/embed.js");

/// Most entries of `allowed_templates`.
const MAX_ALLOWED_TEMPLATES: usize = 200;

/// The page's policy: its own script and style only, fetches to the engine only, no forms
/// posted anywhere, no plugins; `{ancestors}` says who may frame it.
fn page_policy(ancestors: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
         form-action 'none'; base-uri 'none'; object-src 'none'; frame-ancestors {ancestors}"
    )
}

/// A static answer with the headers every widget file carries: its type, `nosniff`, no
/// referrer, revalidated on every use (an engine upgrade changes the files at the same URLs).
fn asset(content_type: &'static str, body: &'static str, resource_policy: &'static str) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("cross-origin-resource-policy", HeaderValue::from_static(resource_policy));
    resp
}

/// `GET /widget`: who embeds the page.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// The embedding page's origin (`embed.js` sets it). When an organization registered it as
    /// a widget origin, only that origin may frame the page; otherwise no page may.
    pub parent: Option<String>,
}

/// The widget page, for an iframe. Public: it holds no data; everything it shows it fetches
/// with the widget token its parent posts to it.
#[utoipa::path(get, path = "/widget", params(PageQuery),
    responses((status = 200, description = "the widget page", content_type = "text/html", body = String)))]
pub async fn page(
    State(st): State<AppState>,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    // A query that cannot be read (`parent` twice, ...) names no parent: no page may frame it.
    let parent = q.ok().and_then(|Query(q)| q.parent).and_then(|p| crate::services::tokens::parse_origin(&p));
    let ancestors = match parent {
        Some(o) if st.origins.contains(&st.db, &o).await => o,
        _ => "'none'".to_string(),
    };
    let mut resp = asset("text/html; charset=utf-8", PAGE, "same-origin");
    if let Ok(v) = HeaderValue::from_str(&page_policy(&ancestors)) {
        resp.headers_mut().insert("content-security-policy", v);
    }
    resp
}

/// The widget's script.
#[utoipa::path(get, path = "/widget/widget.js",
    responses((status = 200, description = "the widget's script", content_type = "text/javascript", body = String)))]
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT, "same-origin")
}

/// The widget's style sheet.
#[utoipa::path(get, path = "/widget/widget.css",
    responses((status = 200, description = "the widget's style sheet", content_type = "text/css", body = String)))]
pub async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE, "same-origin")
}

/// The host snippet: `Switchboard.mount(element, {engineUrl, token | getToken, onConnected,
/// onError})`. Loaded by the customer's pages, so readable from any origin.
#[utoipa::path(get, path = "/widget/embed.js",
    responses((status = 200, description = "the host snippet", content_type = "text/javascript", body = String)))]
pub async fn embed() -> Response {
    asset("text/javascript; charset=utf-8", EMBED, "cross-origin")
}

/// Whether `origin` is this engine's own: `public_url`'s origin when set, else the request's
/// `Host` (over http or https).
pub(crate) fn is_own_origin(origin: &str, headers: &HeaderMap, public_url: Option<&str>) -> bool {
    if let Some(public) = public_url {
        return url::Url::parse(public).is_ok_and(|u| u.origin().ascii_serialization() == origin);
    }
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
    if host.is_empty() || !host.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c)) {
        return false;
    }
    let host = host.to_ascii_lowercase();
    origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host.as_str())
}

/// Whether a widget token whose allowed origin is `allowed` may be used for this request: sent
/// from that origin, or from the engine's own (see [`is_own_origin`]) (the widget iframe: a
/// same-origin request, with `Origin` equal to the engine's, or, for a GET or HEAD, which
/// browsers send without `Origin`, none and `Sec-Fetch-Site: same-origin`; browsers send
/// `Origin` with every other method).
pub fn origin_accepted(
    method: &axum::http::Method,
    headers: &HeaderMap,
    allowed: Option<&str>,
    public_url: Option<&str>,
) -> bool {
    match headers.get(header::ORIGIN).map(|v| v.to_str()) {
        Some(Ok(o)) => Some(o) == allowed || is_own_origin(o, headers, public_url),
        Some(Err(_)) => false,
        None => {
            matches!(*method, axum::http::Method::GET | axum::http::Method::HEAD)
                && headers.get("sec-fetch-site").is_some_and(|v| v.as_bytes() == b"same-origin")
        }
    }
}

/// The slugs of an `allowed_templates` list (slugs, display names or definition ids), checked:
/// none given is none (every type); an empty list or an unknown type is `validation`.
fn resolve_slugs(st: &AppState, requested: Option<&[String]>) -> ApiResult<Option<Vec<String>>> {
    let Some(requested) = requested else { return Ok(None) };
    if requested.is_empty() || requested.len() > MAX_ALLOWED_TEMPLATES {
        return Err(ApiError::validation(format!(
            "allowed_templates must name between 1 and {MAX_ALLOWED_TEMPLATES} connector types (leave it out for all)"
        )));
    }
    let mut slugs: Vec<String> = Vec::with_capacity(requested.len());
    for key in requested {
        let spec = st.registry.get(key).map_err(|_| {
            let shown: String = key.chars().take(80).filter(|c| !c.is_control()).collect();
            ApiError::validation(format!("allowed_templates: no connector type {shown:?}"))
        })?;
        if !slugs.contains(&spec.slug) {
            slugs.push(spec.slug.clone());
        }
    }
    Ok(Some(slugs))
}

/// The slugs a widget token minted by `caller` (an application token) is limited to: its
/// request's `allowed_templates`, checked, each of which must be in the application's own
/// allow-list when it has one (else 403 `template_not_allowed`, naming the first type outside
/// it). None given is none: the token follows the application's list.
pub async fn allowed_slugs(
    st: &AppState,
    caller: &Caller,
    requested: Option<&[String]>,
) -> ApiResult<Option<Vec<String>>> {
    let Some(slugs) = resolve_slugs(st, requested)? else { return Ok(None) };
    if let Some(app) = st.db.application_templates(caller.org(), &caller.claims.sub).await? {
        if let Some(outside) = slugs.iter().find(|s| !app.slugs.contains(s)) {
            return Err(ApiError::forbidden(format!(
                "allowed_templates names {outside:?}, which this application's allow-list does not include"
            ))
            .with_reason("template_not_allowed"));
        }
    }
    Ok(Some(slugs))
}

/// The connector types the caller may use, when it is limited: the token's own
/// `allowed_templates`, and for a widget token its application's allow-list too (the
/// intersection). `None`: every type.
pub async fn allowed_for(st: &AppState, caller: &Caller) -> ApiResult<Option<Vec<String>>> {
    let own = caller.claims.tpl.clone();
    if caller.kind() != TokenKind::Widget {
        return Ok(own);
    }
    let app = st.db.application_templates(caller.org(), &caller.claims.sub).await?.map(|a| a.slugs);
    Ok(intersect(own, app))
}

/// The types in both lists (`None` is every type), in the first list's order.
fn intersect(a: Option<Vec<String>>, b: Option<Vec<String>>) -> Option<Vec<String>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.into_iter().filter(|s| b.contains(s)).collect()),
        (a, b) => a.or(b),
    }
}

/// The templates the caller may see (see [`allowed_for`]).
pub async fn filter_templates(st: &AppState, caller: &Caller, mut list: TemplateList) -> ApiResult<TemplateList> {
    if let Some(allowed) = allowed_for(st, caller).await? {
        list.data.retain(|t| allowed.contains(&t.slug));
    }
    Ok(list)
}

/// Fails with `forbidden` (reason `template_not_allowed`) when the caller may not create
/// connectors of this type (or start an OAuth consent for one; see [`allowed_for`]).
pub async fn check_template_allowed(st: &AppState, caller: &Caller, spec: &ConnectorSpec) -> ApiResult<()> {
    if allowed_for(st, caller).await?.is_some_and(|allowed| !allowed.contains(&spec.slug)) {
        return Err(ApiError::forbidden("this widget token may not create connectors of this type")
            .with_reason("template_not_allowed"));
    }
    Ok(())
}

// ---- the application's allow-list

/// `PUT /api/v1/embedded/allowed-templates`. The field must be there (`null` to remove the
/// list) and no other: a misspelt key must not read as "every type".
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAllowedTemplates {
    /// Connector types (slugs, display names or definition ids), 1 to 200; `null` for every
    /// type.
    #[serde(deserialize_with = "present")]
    #[schema(required = true)]
    pub allowed_templates: Option<Vec<String>>,
}

/// A field that must be given, `null` included (serde takes a missing `Option` as `None`
/// unless it is read by a function).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    Option::deserialize(d)
}

/// The application's template allow-list for its widget tokens.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AllowedTemplates {
    /// Slugs; `null`: every type.
    pub allowed_templates: Option<Vec<String>>,
    /// RFC 3339, when a list is set.
    pub updated_at: Option<String>,
}

/// The calling application's template allow-list: the connector types its widget tokens may
/// list, create and start OAuth consents for (`null`: every type).
#[utoipa::path(get, path = "/api/v1/embedded/allowed-templates",
    responses((status = 200, description = "the allow-list", body = AllowedTemplates),
        (status = 401, description = "not an application token", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_allowed_templates(State(st): State<AppState>, caller: Caller) -> ApiResult<Json<AllowedTemplates>> {
    caller.require(&[TokenKind::Application])?;
    let stored = st.db.application_templates(caller.org(), &caller.claims.sub).await?;
    Ok(Json(answer(stored)))
}

/// Sets the calling application's template allow-list (`null` removes it: every type). It
/// applies at once to every widget token the application minted, whose own
/// `allowed_templates` can only narrow it.
#[utoipa::path(put, path = "/api/v1/embedded/allowed-templates", request_body = SetAllowedTemplates,
    responses((status = 200, description = "the allow-list now", body = AllowedTemplates),
        (status = 401, description = "not an application token", body = ErrorBody),
        (status = 422, description = "an empty or too long list, or an unknown connector type", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_allowed_templates(
    State(st): State<AppState>,
    Allowed(caller, _): Allowed<ApplicationOnly>,
    Body(req): Body<SetAllowedTemplates>,
) -> ApiResult<Json<AllowedTemplates>> {
    let slugs = resolve_slugs(&st, req.allowed_templates.as_deref())?;
    let stored = st.db.set_application_templates(caller.org(), &caller.claims.sub, slugs.as_deref()).await?;
    let types = slugs.as_ref().map_or(0, Vec::len);
    tracing::info!(client_id = %caller.claims.sub, types, "template allow-list set");
    Ok(Json(answer(stored)))
}

fn answer(stored: Option<crate::db::app_templates::AppTemplates>) -> AllowedTemplates {
    match stored {
        Some(a) => AllowedTemplates { allowed_templates: Some(a.slugs), updated_at: Some(a.updated_at) },
        None => AllowedTemplates { allowed_templates: None, updated_at: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn a_widget_token_is_good_from_its_origin_and_the_engine_only() {
        use axum::http::Method;
        const GET: Method = Method::GET;
        let allowed = Some("https://app.example");
        let host = ("host", "engine.example:8080");
        assert!(origin_accepted(&GET, &headers(&[host, ("origin", "https://app.example")]), allowed, None));
        assert!(origin_accepted(&GET, &headers(&[host, ("origin", "http://engine.example:8080")]), allowed, None));
        assert!(origin_accepted(&GET, &headers(&[host, ("origin", "https://engine.example:8080")]), allowed, None));
        assert!(origin_accepted(&GET, &headers(&[host, ("sec-fetch-site", "same-origin")]), allowed, None));
        assert!(origin_accepted(&Method::HEAD, &headers(&[host, ("sec-fetch-site", "same-origin")]), allowed, None));
        for method in [Method::POST, Method::PATCH, Method::DELETE, Method::PUT] {
            let same = headers(&[host, ("sec-fetch-site", "same-origin")]);
            assert!(!origin_accepted(&method, &same, allowed, None), "{method}: browsers send Origin with it");
        }
        // With a public URL, that is the engine's one origin, whatever the Host.
        let public = Some("https://sb.example/base");
        assert!(origin_accepted(&GET, &headers(&[host, ("origin", "https://sb.example")]), allowed, public));
        assert!(!origin_accepted(&GET, &headers(&[host, ("origin", "http://engine.example:8080")]), allowed, public));
        assert!(origin_accepted(&GET, &headers(&[host, ("origin", "https://app.example")]), allowed, public));
        for refused in [
            headers(&[host, ("origin", "https://evil.example")]),
            headers(&[host, ("origin", "http://engine.example")]),
            headers(&[host, ("origin", "http://engine.example:8080.evil.example")]),
            headers(&[host, ("origin", "null")]),
            headers(&[host]),
            headers(&[host, ("sec-fetch-site", "cross-site")]),
            headers(&[("origin", "http://engine.example:8080")]),
        ] {
            assert!(!origin_accepted(&GET, &refused, allowed, None), "{refused:?}");
        }
    }

    #[test]
    fn a_token_list_only_narrows_the_applications() {
        let v = |s: &[&str]| Some(s.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert_eq!(intersect(v(&["github", "stripe"]), v(&["stripe", "hubspot"])), v(&["stripe"]));
        assert_eq!(intersect(v(&["github"]), None), v(&["github"]));
        assert_eq!(intersect(None, v(&["hubspot"])), v(&["hubspot"]));
        assert_eq!(intersect(None, None), None);
        assert_eq!(intersect(v(&["github"]), v(&["hubspot"])), v(&[]));
    }

    #[test]
    fn the_page_policy_allows_no_inline_script_and_names_its_framer() {
        let p = page_policy("https://app.example");
        assert!(p.contains("script-src 'self';") && !p.contains("unsafe-inline"), "{p}");
        assert!(p.ends_with("frame-ancestors https://app.example"), "{p}");
        for file in [PAGE, SCRIPT, STYLE] {
            assert!(!file.contains("http://") && !file.contains("https://"), "no third-party URL");
        }
        assert!(!PAGE.contains("<script>") && !PAGE.contains("<style"), "no inline script or style in the page");
        for handler in ["onclick=", "onload=", "onsubmit=", "onerror=", "javascript:"] {
            assert!(!PAGE.contains(handler), "no inline handler in the page: {handler}");
        }
    }
}
