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
pub mod config;
pub mod console;
pub mod context_store;
pub mod crypto;
pub mod db;
pub mod error;
pub mod extract;
pub mod mcp;
pub mod metrics;
pub mod oauth;
pub mod openapi;
pub mod origins;
pub mod ratelimit;
pub mod services;
pub mod sink;
pub mod spec_tools;
pub mod state;
pub mod tokens;
pub mod widget;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put, MethodRouter};
use axum::Router;
use switchboard_core::ErrorCode;

use crate::error::{ApiError, REQUEST_ID};
pub use crate::state::{AppState, Settings};

/// A route whose every answer, errors included, says `Cache-Control: no-store` (RFC 6749 5.1
/// asks it of token answers).
fn no_store(route: MethodRouter<AppState>) -> MethodRouter<AppState> {
    route.layer(middleware::map_response(|mut resp: Response| async move {
        resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        resp
    }))
}

/// Every route: path, methods, handler. The router is built from this table, and CI checks the
/// OpenAPI document against it.
pub fn route_table() -> Vec<(&'static str, &'static [&'static str], MethodRouter<AppState>)> {
    vec![
        // Answers that carry a token (or, for oauth/initiate, a state) are never cached.
        ("/api/v1/account/applications/token", &["post"], no_store(post(api::application_token))),
        ("/api/v1/applications/token", &["post"], no_store(post(api::application_token))),
        ("/api/v1/embedded/scoped-token", &["post"], no_store(post(api::scoped_token))),
        ("/api/v1/embedded/widget-token", &["post"], no_store(post(api::widget_token))),
        ("/api/v1/account/applications/widget-token", &["post"], no_store(post(api::widget_token))),
        ("/api/v1/embedded/scoped-token/info", &["get"], get(api::token_info)),
        // The application's template allow-list for its widget tokens (see crate::widget).
        (
            "/api/v1/embedded/allowed-templates",
            &["get", "put"],
            get(widget::get_allowed_templates).put(widget::put_allowed_templates),
        ),
        ("/api/v1/integrations/definitions/sources", &["get"], get(api::definitions)),
        ("/api/v1/integrations/icons/{slug}", &["get"], get(api::icon)),
        ("/api/v1/integrations/templates/sources", &["get"], get(api::templates)),
        ("/api/v1/workspaces", &["get"], get(api::workspaces)),
        ("/api/v1/integrations/connectors", &["get", "post"], get(api::list_connectors).post(api::create_connector)),
        ("/v1/integrations/sources", &["post"], post(api::create_connector)),
        (
            "/api/v1/integrations/connectors/{id}",
            &["get", "patch", "delete"],
            get(api::get_connector).merge(patch(api::update_connector)).delete(api::delete_connector),
        ),
        ("/api/v1/integrations/connectors/{id}/execute", &["post"], post(api::execute)),
        ("/api/v1/integrations/connectors/{id}/check", &["post"], post(api::check)),
        ("/api/v1/integrations/connectors/{id}/context-store/sync", &["post"], post(context_store::api::start_sync)),
        ("/api/v1/integrations/connectors/{id}/context-store/status", &["get"], get(context_store::api::status)),
        ("/api/v1/connectors/instances_for_user", &["get"], get(api::instances_for_user)),
        ("/api/v1/connectors/instances/{id}/execute", &["post"], post(api::execute)),
        ("/api/v1/connectors/sources/{id}/execute", &["post"], post(api::execute)),
        ("/healthz", &["get"], get(api::healthz)),
        ("/readyz", &["get"], get(api::readyz)),
        ("/metrics", &["get"], get(api::metrics)),
        ("/api/v1/openapi.json", &["get"], get(openapi::serve)),
        ("/api/v1/oauth/clients", &["get"], get(oauth::list_clients)),
        (
            "/api/v1/oauth/clients/{connector_type}",
            &["put", "delete"],
            put(oauth::put_client).delete(oauth::delete_client),
        ),
        ("/api/v1/oauth/initiate", &["post"], no_store(post(oauth::initiate))),
        // Public: the provider's redirect back; the state is the credential.
        ("/api/v1/oauth/callback", &["get"], get(oauth::callback)),
        // The embeddable auth widget (public static files; see crate::widget).
        ("/widget", &["get"], get(widget::page)),
        ("/widget/widget.js", &["get"], get(widget::script)),
        ("/widget/widget.css", &["get"], get(widget::style)),
        ("/widget/embed.js", &["get"], get(widget::embed)),
        // The operator console (see crate::console): a session cookie, never a bearer token.
        ("/console", &["get"], get(console::page)),
        ("/console/console.js", &["get"], get(console::script)),
        ("/console/console.css", &["get"], get(console::style)),
        ("/console/api/login", &["post"], post(console::login)),
        ("/console/api/logout", &["post"], post(console::logout)),
        ("/console/api/session", &["get"], get(console::session)),
        ("/console/api/workspaces", &["get"], get(console::workspaces)),
        ("/console/api/connectors", &["get"], get(console::connectors)),
        ("/console/api/audit", &["get"], get(console::audit)),
        ("/console/api/health", &["get"], get(console::health)),
        ("/console/api/rotate-secret", &["post"], post(console::rotate_secret)),
        // MCP over streamable HTTP: the token is checked before rmcp sees the request.
        (
            "/mcp",
            &["post", "get", "delete"],
            post(mcp::hosted::handle).get(mcp::hosted::handle).delete(mcp::hosted::handle),
        ),
    ]
}

/// The engine as a router, for `serve` and for tests in process.
pub fn app(state: AppState) -> Router {
    let mut router = Router::new();
    for (path, _, handler) in route_table() {
        let handler = match ratelimit::TOKEN_PATHS.contains(&path) {
            // Anyone may call these without a token: each address is limited before the body is read.
            true => handler.route_layer(middleware::from_fn_with_state(state.clone(), ratelimit::limit_token_requests)),
            false => handler,
        };
        router = router.route(path, handler);
    }
    router
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.settings.body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), refuse_declared_oversize))
        .layer(middleware::from_fn_with_state(state.clone(), request_context))
        .with_state(state)
}

/// The most of a refused body read and thrown away, and for how long, before the answer.
const DRAIN_MAX: usize = 8 * 1024 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// A body whose declared length is over the limit is refused before any handler, with the
/// engine's 413. The body is read and thrown away first (at most [`DRAIN_MAX`] bytes for at most
/// [`DRAIN_TIME`], as nginx's lingering close does): closing with the body unread makes the
/// kernel reset the connection the client is still writing into, and the reset can reach the
/// client before the 413 does. Past either bound the connection is closed as before.
async fn refuse_declared_oversize(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_none_or(|n| n <= st.settings.body_limit as u64) {
        return next.run(req).await;
    }
    let drained = tokio::time::timeout(DRAIN_TIME, axum::body::to_bytes(req.into_body(), DRAIN_MAX)).await;
    let mut refused = ApiError::new(ErrorCode::PayloadTooLarge, "the request body is larger than this server accepts")
        .into_response();
    if !matches!(drained, Ok(Ok(_))) {
        refused.headers_mut().insert(axum::http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    refused
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
/// check reads the origins from memory (see [`origins`]): a preflight (no token) is answered
/// for any registered origin; an actual request is readable from an origin only when the
/// organization of its token (and the workspace, for a widget token) registered that origin.
/// The handler's answer; a handler that panics (a bug) is answered `500 internal` and logged,
/// where the connection would otherwise be dropped without an answer.
async fn answered(handler: impl std::future::Future<Output = Response>) -> Response {
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(handler).catch_unwind().await {
        Ok(r) => r,
        Err(panic) => {
            let what = switchboard_core::sdk::wake::panic_message(&*panic);
            tracing::error!(panic = what, "a request handler panicked");
            ApiError::new(ErrorCode::Internal, "the engine failed on a bug while answering this request (it is logged)")
                .into_response()
        }
    }
}

async fn request_context(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let id = request_id(req.headers());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    // The route template, never the path itself: a metrics label must come from a closed set.
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    let origin = req.headers().get("origin").and_then(|v| v.to_str().ok()).map(str::to_string);
    let authorization = req.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
    let started = Instant::now();
    let timeout = st.settings.request_timeout;
    let preflight = method == Method::OPTIONS && req.headers().contains_key("access-control-request-method");
    let st2 = st.clone();
    let origin2 = origin.clone();
    let (req, late) = body_deadline(req, started + st.settings.body_read_timeout);
    let mut resp = REQUEST_ID
        .scope(id.clone(), async move {
            if preflight {
                return preflight_response(&st2, origin2.as_deref()).await;
            }
            match tokio::time::timeout(timeout, answered(next.run(req))).await {
                Ok(r) => r,
                Err(_) => ApiError::new(ErrorCode::UpstreamTimeout, "the request took longer than this server allows")
                    .into_response(),
            }
        })
        .await;
    if late.is_some_and(|l| l.load(std::sync::atomic::Ordering::Relaxed)) {
        // Whatever the handler made of the cut body: the client was too slow, and the rest of
        // its body is not read.
        let mut e = ApiError::bad_request(format!(
            "the request body did not arrive within {} s of its head",
            st.settings.body_read_timeout.as_secs()
        ));
        e.status = Some(StatusCode::REQUEST_TIMEOUT);
        resp = e.into_response();
        resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let headers = resp.headers_mut();
    if let (false, Some(o)) = (preflight, origin.as_deref()) {
        // Browsers read the answer only from an origin the caller's own organization registered.
        headers.insert("vary", HeaderValue::from_static("Origin"));
        if cors_allowed(&st, o, authorization.as_deref()).await {
            if let Ok(v) = HeaderValue::from_str(o) {
                headers.insert("access-control-allow-origin", v);
            }
        }
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.insert("x-request-id", v);
    }
    let status = resp.status().as_u16();
    st.metrics.request(&method, route.as_deref(), status);
    tracing::info!(request_id = %id, method = %method, path = %path, status, latency_ms = started.elapsed().as_millis() as u64, "request");
    resp
}

/// `req` with its body cut off at `deadline` (the handler then sees a body read error), and the
/// flag saying it was (`None` for a request without a body, which is passed on as it is). A body
/// already at hand when first read, as a small body sent with its head is, costs no timer: one
/// is set only when the body keeps the handler waiting.
fn body_deadline(req: Request, deadline: Instant) -> (Request, Option<Arc<std::sync::atomic::AtomicBool>>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::Poll;
    let headers = req.headers();
    let sized = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if sized == Some(0) || (sized.is_none() && !headers.contains_key(header::TRANSFER_ENCODING)) {
        return (req, None);
    }
    let late = Arc::new(AtomicBool::new(false));
    let flag = late.clone();
    let (parts, body) = req.into_parts();
    let mut data = body.into_data_stream();
    let mut timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    let stream = futures::stream::poll_fn(move |cx| {
        if let Poll::Ready(item) = futures::StreamExt::poll_next_unpin(&mut data, cx) {
            return Poll::Ready(item);
        }
        let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline.into())));
        if std::future::Future::poll(timer.as_mut(), cx).is_ready() {
            flag.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(axum::Error::new("the request body arrived too slowly"))));
        }
        Poll::Pending
    });
    (Request::from_parts(parts, axum::body::Body::from_stream(stream)), Some(late))
}

/// Whether an answer may be read from `origin`: the request's token is valid and its
/// organization registered the origin (for a widget token: its workspace, and it is the token's
/// own origin). The token is verified only for origins someone registered.
async fn cors_allowed(st: &AppState, origin: &str, authorization: Option<&str>) -> bool {
    if !st.origins.contains(&st.db, origin).await {
        return false;
    }
    let Some((scheme, token)) = authorization.and_then(|h| h.split_once(' ')) else { return false };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    let Ok(claims) = st.signer.verify(token.trim(), &st.db, &st.keys).await else { return false };
    let workspace = match claims.kind {
        tokens::TokenKind::Widget if claims.origin.as_deref() != Some(origin) => return false,
        tokens::TokenKind::Widget => Some(claims.ws.as_deref().unwrap_or_default()),
        _ => None,
    };
    st.origins.allows(&st.db, origin, &claims.org, workspace).await
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

pub use serving::serve;

/// Serving connections with bounds: `axum::serve` keeps a connection that never sends a request
/// (or trickles one) forever, and accepts until the process runs out of descriptors.
mod serving {
    use std::convert::Infallible;
    use std::future::Future;
    use std::io;
    use std::net::SocketAddr;
    use std::pin::{pin, Pin};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex, MutexGuard};
    use std::task::{Context, Poll};
    use std::time::Duration;

    use axum::extract::ConnectInfo;
    use axum::response::Response;
    use axum::Router;
    use hyper::body::Incoming;
    use hyper::server::conn::http1;
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};
    use tokio::time::Instant;

    use crate::metrics::ConnectionTimeout;
    use crate::{app, AppState};

    /// Serves the engine on `listener` until `shutdown` resolves, then stops accepting, waits
    /// for the requests in flight (idle connections close at once) and writes the audit records
    /// still queued.
    ///
    /// Every connection is bounded by the settings: at most `max_connections` are served at
    /// once (more wait in the listener's accept queue, holding no descriptor of the engine's);
    /// each request head must arrive within `header_read_timeout`, counted from the connection's
    /// start or from the first byte after an idle spell, so trickling bytes does not extend it;
    /// a kept-alive connection with no request for `idle_timeout` is closed. A request being
    /// answered is bounded by the request timeout instead. Handlers see the peer address as
    /// `ConnectInfo<SocketAddr>`.
    ///
    /// With [`crate::state::Inner::serving_threads`], `serve` accepts and hands each
    /// connection to the serving thread with the fewest connections, which serves it to the
    /// end on a single-threaded runtime of its own: a request, its upstream exchange (the
    /// thread's own connection pool) and its answer never wake another thread. The runtime
    /// `serve` runs on keeps the background work. Dropping the future stops the threads as
    /// `shutdown` would, once their connections end.
    pub async fn serve(listener: TcpListener, state: AppState, shutdown: impl Future<Output = ()>) {
        let max = max_connections(&state);
        let permits = Arc::new(Semaphore::new(max));
        let (stop_tx, stop_rx) = watch::channel(());
        let (threads, stopped) = start_threads(state.serving_threads, &state, &permits, &stop_rx);
        accept(listener, &state, &permits, &stop_rx, &threads, shutdown).await;
        // No more connections for the threads: each finishes its own, then stops.
        drop(threads);
        let _ = stop_tx.send(());
        // Each connection holds a permit until it ends.
        let _ = permits.acquire_many(max as u32).await;
        for done in stopped {
            let _ = done.await;
        }
        state.metrics.serving_threads(Vec::new());
        // The requests are answered; their audit records are written before the process goes.
        state.db.flush_audit().await;
    }

    /// The connections served at once: the setting, within what a semaphore counts.
    fn max_connections(state: &AppState) -> usize {
        state.settings.max_connections.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize))
    }

    /// An accepted connection on its way to a serving thread.
    struct Handed {
        stream: std::net::TcpStream,
        peer: SocketAddr,
        permit: OwnedSemaphorePermit,
    }

    /// A serving thread as `serve` sees it: where its connections go, and how many it has.
    struct Thread {
        connections: mpsc::UnboundedSender<Handed>,
        live: Arc<AtomicUsize>,
    }

    /// Starts `n` serving threads; answers them and, per thread, what says that its runtime
    /// has stopped. A thread that cannot start is logged and left out.
    fn start_threads(
        n: usize,
        state: &AppState,
        permits: &Arc<Semaphore>,
        stop: &watch::Receiver<()>,
    ) -> (Vec<Thread>, Vec<oneshot::Receiver<()>>) {
        let (mut threads, mut stopped) = (Vec::new(), Vec::new());
        for i in 0..n {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start a serving thread's runtime");
                    continue;
                }
            };
            let (tx, mut rx) = mpsc::unbounded_channel::<Handed>();
            let live = Arc::new(AtomicUsize::new(0));
            let (state, permits, stop, count) = (state.clone(), permits.clone(), stop.clone(), live.clone());
            let (done_tx, done_rx) = oneshot::channel();
            let thread = std::thread::Builder::new().name(format!("serve-{i}")).spawn(move || {
                crate::db::serving_thread(i);
                rt.block_on(async move {
                    let serving = Serving::new(&state, stop);
                    while let Some(h) = rx.recv().await {
                        match TcpStream::from_std(h.stream) {
                            Ok(stream) => serving.connection(stream, h.peer, h.permit, Some(count.clone())),
                            Err(e) => {
                                count.fetch_sub(1, Ordering::Relaxed);
                                tracing::warn!(error = %e, "a serving thread cannot take a connection");
                            }
                        }
                    }
                    // `serve` stopped accepting: this runtime drives its connections to the end.
                    let _ = permits.acquire_many(max_connections(&state) as u32).await;
                    crate::db::close_thread_pools().await;
                });
                // Tasks a request left behind (a lease renewal, an MCP session) end with it.
                rt.shutdown_timeout(Duration::from_secs(5));
                let _ = done_tx.send(());
            });
            match thread {
                Ok(_) => {
                    threads.push(Thread { connections: tx, live });
                    stopped.push(done_rx);
                }
                Err(e) => tracing::error!(error = %e, "cannot start a serving thread"),
            }
        }
        state.metrics.serving_threads(threads.iter().map(|t| t.live.clone()).collect());
        (threads, stopped)
    }

    /// What serves connections on one runtime: the router, hyper's settings, the stop signal.
    struct Serving {
        state: AppState,
        router: TowerToHyperService<Router>,
        builder: http1::Builder,
        stop: watch::Receiver<()>,
    }

    impl Serving {
        fn new(state: &AppState, stop: watch::Receiver<()>) -> Self {
            let mut builder = http1::Builder::new();
            // The head and idle deadlines are the connection clock's (below), not hyper's.
            builder.header_read_timeout(None);
            Self { state: state.clone(), router: TowerToHyperService::new(app(state.clone())), builder, stop }
        }

        /// Serves `stream` on this runtime until it ends, holding `permit`; `live` (a serving
        /// thread's count, raised by the sender) goes down when it does.
        fn connection(
            &self,
            stream: TcpStream,
            peer: SocketAddr,
            permit: OwnedSemaphorePermit,
            live: Option<Arc<AtomicUsize>>,
        ) {
            let settings = &self.state.settings;
            let clock = Arc::new(Clock::new(settings.header_read_timeout, settings.idle_timeout));
            let io = TokioIo::new(Watched { stream, clock: clock.clone() });
            let service = PeerService { router: self.router.clone(), peer, clock: clock.clone() };
            let conn = self.builder.serve_connection(io, service);
            let mut stop = self.stop.clone();
            let metrics = self.state.metrics.clone();
            tokio::spawn(async move {
                let _permit = permit;
                metrics.connection(true);
                let mut conn = pin!(conn);
                let mut stopping = false;
                loop {
                    tokio::select! {
                        r = conn.as_mut() => {
                            if let Err(e) = r {
                                tracing::debug!(%peer, error = %e, "connection ended with an error");
                            }
                            break;
                        }
                        why = clock.expired() => {
                            // Dropping the connection closes the socket.
                            tracing::debug!(%peer, ?why, "closing a slow or idle connection");
                            metrics.connection_timeout(why);
                            break;
                        }
                        _ = stop.changed(), if !stopping => {
                            stopping = true;
                            conn.as_mut().graceful_shutdown();
                        }
                    }
                }
                metrics.connection(false);
                if let Some(live) = live {
                    live.fetch_sub(1, Ordering::Relaxed);
                }
            });
        }
    }

    /// Accepts connections on `listener` until `shutdown` resolves, each holding one of
    /// `permits` while it lives: handed to the serving thread with the fewest, or served on
    /// this runtime when there are none (or the thread is gone).
    async fn accept(
        listener: TcpListener,
        state: &AppState,
        permits: &Arc<Semaphore>,
        stop: &watch::Receiver<()>,
        threads: &[Thread],
        shutdown: impl Future<Output = ()>,
    ) {
        let here = Serving::new(state, stop.clone());
        let mut shutdown = pin!(shutdown);
        loop {
            let permit = tokio::select! {
                p = permits.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
                () = &mut shutdown => break,
            };
            let (stream, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        accept_error(e).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let Some(thread) = threads.iter().min_by_key(|t| t.live.load(Ordering::Relaxed)) else {
                here.connection(stream, peer, permit, None);
                continue;
            };
            let stream = match stream.into_std() {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "cannot hand a connection over");
                    continue;
                }
            };
            thread.live.fetch_add(1, Ordering::Relaxed);
            if let Err(mpsc::error::SendError(h)) = thread.connections.send(Handed { stream, peer, permit }) {
                // The thread is gone (it panicked): serve the connection here.
                thread.live.fetch_sub(1, Ordering::Relaxed);
                match TcpStream::from_std(h.stream) {
                    Ok(stream) => here.connection(stream, h.peer, h.permit, None),
                    Err(e) => tracing::warn!(%peer, error = %e, "cannot take a connection back"),
                }
            }
        }
    }

    /// A failed accept: the peer gave up (try the next one), or the process is out of
    /// descriptors or memory (wait for connections to end rather than spin).
    async fn accept_error(e: io::Error) {
        if matches!(
            e.kind(),
            io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
        ) {
            return;
        }
        tracing::error!(error = %e, "cannot accept a connection; trying again in a second");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    /// What a connection is doing, which says when it is closed.
    #[derive(Debug, Clone, Copy)]
    enum Phase {
        /// Reading a request head since then: the connection's start, or the first byte after
        /// an idle spell. Later bytes do not move it.
        Head(Instant),
        /// No request since then: the end of the last answer, or the last byte of it written.
        Idle(Instant),
        /// This many requests being answered: no deadline here (the request timeout bounds them).
        Busy(usize),
    }

    /// One connection's phase and deadlines, updated by its socket and its service.
    struct Clock {
        phase: Mutex<Phase>,
        header: Duration,
        idle: Duration,
    }

    impl Clock {
        fn new(header: Duration, idle: Duration) -> Self {
            Self { phase: Mutex::new(Phase::Head(Instant::now())), header, idle }
        }

        fn lock(&self) -> MutexGuard<'_, Phase> {
            self.phase.lock().unwrap_or_else(|e| e.into_inner())
        }

        /// Bytes came in: after an idle spell, a request head has begun.
        fn read(&self) {
            let mut p = self.lock();
            if let Phase::Idle(_) = *p {
                *p = Phase::Head(Instant::now());
            }
        }

        /// Bytes went out: an answer still being written (to a slow reader) is not idleness.
        fn wrote(&self) {
            let mut p = self.lock();
            if let Phase::Idle(_) = *p {
                *p = Phase::Idle(Instant::now());
            }
        }

        /// A request head was read: the request is being answered.
        fn begin(&self) {
            let mut p = self.lock();
            *p = match *p {
                Phase::Busy(n) => Phase::Busy(n + 1),
                _ => Phase::Busy(1),
            };
        }

        /// A request was answered (or abandoned).
        fn end(&self) {
            let mut p = self.lock();
            *p = match *p {
                Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
                _ => Phase::Idle(Instant::now()),
            };
        }

        fn deadline(&self) -> Option<(Instant, ConnectionTimeout)> {
            match *self.lock() {
                Phase::Head(since) => Some((since + self.header, ConnectionTimeout::Header)),
                Phase::Idle(since) => Some((since + self.idle, ConnectionTimeout::Idle)),
                Phase::Busy(_) => None,
            }
        }

        /// Resolves once the connection has passed its deadline.
        async fn expired(&self) -> ConnectionTimeout {
            loop {
                match self.deadline() {
                    Some((at, why)) if at <= Instant::now() => return why,
                    Some((at, _)) => tokio::time::sleep_until(at).await,
                    // Busy: look again later; a request ending sets a deadline further off
                    // than this.
                    None => tokio::time::sleep(self.header.min(self.idle)).await,
                }
            }
        }
    }

    /// The socket, telling the connection's clock when bytes move.
    struct Watched {
        stream: TcpStream,
        clock: Arc<Clock>,
    }

    impl AsyncRead for Watched {
        fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            let before = buf.filled().len();
            let r = Pin::new(&mut self.stream).poll_read(cx, buf);
            if buf.filled().len() > before {
                self.clock.read();
            }
            r
        }
    }

    impl AsyncWrite for Watched {
        fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            let r = Pin::new(&mut self.stream).poll_write(cx, buf);
            if let Poll::Ready(Ok(n)) = r {
                if n > 0 {
                    self.clock.wrote();
                }
            }
            r
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[io::IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let r = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
            if let Poll::Ready(Ok(n)) = r {
                if n > 0 {
                    self.clock.wrote();
                }
            }
            r
        }

        fn is_write_vectored(&self) -> bool {
            self.stream.is_write_vectored()
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.stream).poll_flush(cx)
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.stream).poll_shutdown(cx)
        }
    }

    /// The router for one connection: each request carries the peer address and counts as
    /// busy time on the connection's clock until its answer is ready.
    struct PeerService {
        router: TowerToHyperService<Router>,
        peer: SocketAddr,
        clock: Arc<Clock>,
    }

    /// Ends a request on the connection's clock, also when the request is dropped unanswered.
    struct InFlight(Arc<Clock>);

    impl Drop for InFlight {
        fn drop(&mut self) {
            self.0.end();
        }
    }

    impl hyper::service::Service<hyper::Request<Incoming>> for PeerService {
        type Response = Response;
        type Error = Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

        fn call(&self, mut req: hyper::Request<Incoming>) -> Self::Future {
            req.extensions_mut().insert(ConnectInfo(self.peer));
            self.clock.begin();
            let in_flight = InFlight(self.clock.clone());
            let answer = self.router.call(req);
            Box::pin(async move {
                let r = answer.await;
                drop(in_flight);
                r
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handler that panics is answered `500 internal`, the engine's error JSON; one that
    /// answers is passed through.
    #[tokio::test]
    async fn a_panicking_handler_is_answered_500() {
        let resp = answered(async { panic!("boom at a bug") }).await;
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap_or_default();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(v["code"], "internal", "{v}");
        assert!(!body.windows(4).any(|w| w == b"boom"), "the panic's text stays in the log");
        let ok = answered(async { StatusCode::NO_CONTENT.into_response() }).await;
        assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    }
}
