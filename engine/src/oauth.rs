//! The OAuth consent routes: the operator's OAuth clients, starting a consent, and the
//! provider's redirect back (an HTML page for the end user's browser). The decisions are in
//! [`crate::services::oauth`].

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use switchboard_core::wire::{
    ErrorBody, OAuthCallbackQuery, OAuthClient, OAuthClientList, OAuthClientRequest, OAuthConsent, OAuthInitiate,
};

use crate::error::ApiResult;
use crate::extract::{Allowed, ApplicationOnly, Body, Caller, Segment};
use crate::services::oauth::{self, CallbackOutcome};
use crate::state::AppState;

/// Sets the organization's own OAuth client (client id, secret, scopes) of a connector type.
/// The secret is sealed and never answered.
#[utoipa::path(put, path = "/api/v1/oauth/clients/{connector_type}", params(("connector_type" = String, Path)),
    request_body = OAuthClientRequest,
    responses((status = 200, description = "the client, without its secret", body = OAuthClient),
        (status = 401, description = "not an application token", body = ErrorBody),
        (status = 422, description = "an invalid field, or a connector type without an OAuth authorization-code flow", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_client(
    State(st): State<AppState>,
    Allowed(caller, _): Allowed<ApplicationOnly>,
    Segment(connector_type): Segment,
    Body(req): Body<OAuthClientRequest>,
) -> ApiResult<Json<OAuthClient>> {
    Ok(Json(oauth::put_client(&st, &caller, &connector_type, req).await?))
}

/// Deletes the organization's OAuth client of a connector type.
#[utoipa::path(delete, path = "/api/v1/oauth/clients/{connector_type}", params(("connector_type" = String, Path)),
    responses((status = 204, description = "deleted"),
        (status = 404, description = "no client configured for this type", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_client(
    State(st): State<AppState>,
    caller: Caller,
    Segment(connector_type): Segment,
) -> ApiResult<StatusCode> {
    oauth::delete_client(&st, &caller, &connector_type).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The organization's OAuth clients, without secrets.
#[utoipa::path(get, path = "/api/v1/oauth/clients",
    responses((status = 200, description = "the clients", body = OAuthClientList)),
    security(("bearer" = [])))]
pub async fn list_clients(State(st): State<AppState>, caller: Caller) -> ApiResult<Json<OAuthClientList>> {
    Ok(Json(oauth::list_clients(&st, &caller).await?))
}

/// Starts an OAuth consent for a new connector: answers the provider's consent URL, with a
/// single-use `state` (valid 10 minutes) bound to the organization, workspace, connector type
/// and origin, and a PKCE S256 challenge.
#[utoipa::path(post, path = "/api/v1/oauth/initiate", request_body = OAuthInitiate,
    responses((status = 200, description = "the consent URL", body = OAuthConsent),
        (status = 403, description = "another workspace, or a redirect_url on an origin the caller may not use", body = ErrorBody),
        (status = 422, description = "no OAuth client configured, or an invalid field", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn initiate(
    State(st): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Body(req): Body<OAuthInitiate>,
) -> ApiResult<Json<OAuthConsent>> {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    Ok(Json(oauth::initiate(&st, &caller, &own_base(&headers), origin, req).await?))
}

/// The provider's redirect back after consent. Public: the state is the credential. Answers an
/// HTML page that posts `{type: "switchboard:oauth", status, connector_id}` to the origin bound
/// at initiate and closes, or a redirect to the consent's `redirect_url` with `connector_id`;
/// an unknown, replayed or expired state, or a refusal by the provider, is a 400 page.
#[utoipa::path(get, path = "/api/v1/oauth/callback", params(OAuthCallbackQuery),
    responses((status = 200, description = "connected: a page that tells the opener and closes", content_type = "text/html", body = String),
        (status = 303, description = "connected: to the consent's redirect_url with connector_id"),
        (status = 400, description = "refused: an unknown, replayed or expired state, or the provider's refusal", content_type = "text/html", body = String),
        (status = 502, description = "the provider did not exchange the code, or the connector could not be created", content_type = "text/html", body = String)))]
pub async fn callback(
    State(st): State<AppState>,
    q: Result<Query<OAuthCallbackQuery>, QueryRejection>,
) -> ApiResult<Response> {
    // A query that cannot be read (a repeated `state`) names no consent: the same page as an
    // unknown state, never axum's text/plain.
    let outcome = match q {
        Ok(Query(q)) => oauth::callback(&st, &q).await?,
        Err(_) => CallbackOutcome::refused(oauth::Refusal::UnknownState),
    };
    Ok(render(&outcome))
}

/// This engine's address as the caller reached it (`http://` and a plain `Host`).
fn own_base(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let host = if host.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c)) { host } else { "localhost" };
    format!("http://{host}")
}

/// Text for an HTML element.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// A JSON value safe inside an inline script.
fn script_json(v: &serde_json::Value) -> String {
    v.to_string().replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

/// `url` with `pairs` added to its query.
fn with_query(url: &str, pairs: &[(&str, &str)]) -> Option<String> {
    let mut u = url::Url::parse(url).ok()?;
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    Some(u.to_string())
}

/// The answer to a callback: a redirect to the consent's `redirect_url`, or a small page
/// (inline script and style only, under a nonce CSP) that posts the result to the bound origin.
/// The result is also in the page as a JSON data block (`#switchboard-oauth-result`), for a
/// consent started without an origin.
pub fn render(outcome: &CallbackOutcome) -> Response {
    let (status, message, payload, back) = match &outcome.result {
        Ok(id) => {
            if let Some(to) = outcome.redirect_url.as_deref().and_then(|r| with_query(r, &[("connector_id", id)])) {
                return redirect(&to);
            }
            let payload = serde_json::json!({"type": "switchboard:oauth", "status": "succeeded", "connector_id": id});
            (StatusCode::OK, "Connected. You can close this window.", payload, None)
        }
        Err(r) => {
            let status = match r {
                oauth::Refusal::ExchangeFailed | oauth::Refusal::CreateFailed => StatusCode::BAD_GATEWAY,
                _ => StatusCode::BAD_REQUEST,
            };
            let payload = serde_json::json!({"type": "switchboard:oauth", "status": "failed", "error": r.code()});
            let back = outcome.redirect_url.as_deref().and_then(|u| with_query(u, &[("error", r.code())]));
            (status, r.message(), payload, back)
        }
    };
    let nonce = crate::crypto::random_token(16);
    let script = match &outcome.origin {
        // Only to the origin bound at initiate, never to "*".
        Some(origin) => format!(
            "<script nonce=\"{nonce}\">(function(){{var m={};var o={};if(window.opener){{try{{window.opener.postMessage(m,o);}}catch(e){{}}window.close();}}}})();</script>",
            script_json(&payload),
            script_json(&serde_json::Value::String(origin.clone())),
        ),
        None => String::new(),
    };
    let link = back.map(|b| format!("<p><a href=\"{}\">Return</a></p>", escape(&b))).unwrap_or_default();
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>Switchboard</title><style nonce=\"{nonce}\">body{{font-family:system-ui,sans-serif;margin:3em auto;max-width:32em;padding:0 1em}}</style>\
         </head><body><p>{}</p>{link}<script type=\"application/json\" id=\"switchboard-oauth-result\">{}</script>{script}</body></html>",
        escape(message),
        script_json(&payload),
    );
    let mut resp = (status, html).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

fn redirect(to: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    resp
}
