//! The Switchboard engine: a server that stores every end user's credentials encrypted and runs
//! connector operations for agents that never see a secret. It serves the HTTP API of the
//! reference agent engine (the routes of [`route_table`], documented at `/api/v1/openapi.json`);
//! connectors run through `switchboard-core`, the same runtime as local mode.
//!
//! Layers: [`api`] handlers parse and answer the [`wire`](switchboard_core::wire) types,
//! [`services`] decide (token kinds, tenancy, validation, sealing, handle cache, audit), [`db`]
//! stores; [`error`] is the one place lower errors become public ones.

pub mod admin;
pub mod api;
pub mod crypto;
pub mod db;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod openapi;
pub mod origins;
pub mod services;
pub mod sink;
pub mod state;
pub mod tokens;

use std::time::Instant;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, MethodRouter};
use axum::Router;
use switchboard_core::ErrorCode;

use crate::error::{ApiError, REQUEST_ID};
pub use crate::state::{AppState, Settings};

/// Every route: path, methods, handler. The router is built from this table, and CI checks the
/// OpenAPI document against it.
pub fn route_table() -> Vec<(&'static str, &'static [&'static str], MethodRouter<AppState>)> {
    vec![
        ("/api/v1/account/applications/token", &["post"], post(api::application_token)),
        ("/api/v1/applications/token", &["post"], post(api::application_token)),
        ("/api/v1/embedded/scoped-token", &["post"], post(api::scoped_token)),
        ("/api/v1/embedded/widget-token", &["post"], post(api::widget_token)),
        ("/api/v1/account/applications/widget-token", &["post"], post(api::widget_token)),
        ("/api/v1/embedded/scoped-token/info", &["get"], get(api::token_info)),
        ("/api/v1/integrations/definitions/sources", &["get"], get(api::definitions)),
        ("/api/v1/integrations/templates/sources", &["get"], get(api::templates)),
        ("/api/v1/workspaces", &["get"], get(api::workspaces)),
        ("/api/v1/integrations/connectors", &["get", "post"], get(api::list_connectors).post(api::create_connector)),
        (
            "/api/v1/integrations/connectors/{id}",
            &["get", "patch", "delete"],
            get(api::get_connector).merge(patch(api::update_connector)).delete(api::delete_connector),
        ),
        ("/api/v1/integrations/connectors/{id}/execute", &["post"], post(api::execute)),
        ("/api/v1/integrations/connectors/{id}/check", &["post"], post(api::check)),
        ("/api/v1/connectors/instances_for_user", &["get"], get(api::instances_for_user)),
        ("/api/v1/connectors/instances/{id}/execute", &["post"], post(api::execute)),
        ("/api/v1/connectors/sources/{id}/execute", &["post"], post(api::execute)),
        ("/healthz", &["get"], get(api::healthz)),
        ("/readyz", &["get"], get(api::readyz)),
        ("/metrics", &["get"], get(api::metrics)),
        ("/api/v1/openapi.json", &["get"], get(openapi::serve)),
    ]
}

/// The engine as a router, for `serve` and for tests in process.
pub fn app(state: AppState) -> Router {
    let mut router = Router::new();
    for (path, _, handler) in route_table() {
        router = router.route(path, handler);
    }
    router
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.settings.body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), request_context))
        .with_state(state)
}

async fn fallback() -> ApiError {
    ApiError::not_found("route")
}

async fn method_not_allowed() -> ApiError {
    let mut e = ApiError::bad_request("this method is not allowed on this path");
    e.status = Some(StatusCode::METHOD_NOT_ALLOWED);
    e
}

fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

const CORS_METHODS: &str = "GET, POST, DELETE, OPTIONS";
const CORS_HEADERS: &str = "authorization, content-type, x-organization-id, x-request-id";

/// Request id, timeout, CORS for widget origins, metrics and one log line per request. The CORS
/// check runs before authentication and reads the origins from memory (see [`origins`]).
async fn request_context(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let id = request_id(req.headers());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let origin = req.headers().get("origin").and_then(|v| v.to_str().ok()).map(str::to_string);
    let started = Instant::now();
    let timeout = st.settings.request_timeout;
    let preflight = method == Method::OPTIONS && req.headers().contains_key("access-control-request-method");
    let st2 = st.clone();
    let origin2 = origin.clone();
    let mut resp = REQUEST_ID
        .scope(id.clone(), async move {
            if preflight {
                return preflight_response(&st2, origin2.as_deref()).await;
            }
            match tokio::time::timeout(timeout, next.run(req)).await {
                Ok(r) => r,
                Err(_) => ApiError::new(ErrorCode::UpstreamTimeout, "the request took longer than this server allows")
                    .into_response(),
            }
        })
        .await;
    let headers = resp.headers_mut();
    if let (false, Some(o)) = (preflight, origin.as_deref()) {
        // Browsers read the answer only for a registered widget origin, named exactly.
        headers.insert("vary", HeaderValue::from_static("Origin"));
        if st.origins.contains(&st.db, o).await {
            if let Ok(v) = HeaderValue::from_str(o) {
                headers.insert("access-control-allow-origin", v);
            }
        }
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.insert("x-request-id", v);
    }
    let status = resp.status().as_u16();
    st.metrics.request(method.as_str(), status);
    tracing::info!(request_id = %id, method = %method, path = %path, status, latency_ms = started.elapsed().as_millis() as u64, "request");
    resp
}

async fn preflight_response(st: &AppState, origin: Option<&str>) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    h.insert("vary", HeaderValue::from_static("Origin"));
    if let Some(o) = origin {
        if st.origins.contains(&st.db, o).await {
            if let Ok(v) = HeaderValue::from_str(o) {
                h.insert("access-control-allow-origin", v);
                h.insert("access-control-allow-methods", HeaderValue::from_static(CORS_METHODS));
                h.insert("access-control-allow-headers", HeaderValue::from_static(CORS_HEADERS));
                h.insert("access-control-max-age", HeaderValue::from_static("600"));
            }
        }
    }
    resp
}
