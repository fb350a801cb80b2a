//! The floor under the engine's execute: the least a Rust reverse proxy built on the engine's
//! stack does for the same call, measured beside the engine and nginx (benches/run.py).
//!
//! The same parts as `switchboard serve`: tokio's multi-thread runtime with a worker per core,
//! axum over hyper's HTTP/1.1 server, core's HTTP client (`switchboard_core::http::NetClient`:
//! hyper's pooled keep-alive client, rustls) to the upstream, mimalloc. No token, no storage, no
//! connector, no audit: a request's body and `authorization` header go to the upstream as they
//! are, and the upstream's body comes back.
//!
//! - `POST /pass/{path}`: the upstream's body returned as bytes, unread (what nginx does).
//! - `POST /check/{path}`: the body checked as JSON first (`serde_json` reads it into a borrowed
//!   `RawValue`: the one pass over every byte that any proxy answering typed errors on a bad
//!   page must make), then returned as it is.
//!
//! With `--per-core`, one single-threaded runtime per core instead (each with its own listening
//! socket on the port, `SO_REUSEPORT`, and its own connection pool): what the engine's stack costs
//! when a request never changes threads (benches/PROFILE.md, section 4).
//!
//! Usage: bench-proxy --upstream http://ADDR [--bind 127.0.0.1:0] [--per-core]; prints
//! `listening on ADDR`.

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Router,
};
use clap::Parser;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::http::{HttpClient, HttpRequest, NetClient};

#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: String,
    /// The upstream's base URL, e.g. bench-fake's `http://127.0.0.1:PORT`.
    #[arg(long)]
    upstream: String,
    /// One single-threaded runtime per core instead of one multi-thread runtime: each thread
    /// accepts on its own `SO_REUSEPORT` socket and sends through a connection pool of its own,
    /// so a request, its upstream exchange and its answer stay on one thread.
    #[arg(long)]
    per_core: bool,
}

struct Upstream {
    client: NetClient,
    base: String,
}

async fn forward(up: &Upstream, path: &str, headers: &HeaderMap, body: Bytes) -> Result<(StatusCode, Bytes), Response> {
    let mut sent = vec![("content-type".to_string(), "application/json".to_string())];
    if let Some(auth) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        sent.push(("authorization".to_string(), auth.to_string()));
    }
    let req = HttpRequest {
        method: "POST".into(),
        url: format!("{}/{path}", up.base),
        headers: sent,
        body: Some(body.to_vec()),
        timeout: Duration::from_secs(30),
    };
    let resp = up.client.send(req).await.map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()).into_response())?;
    let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::BAD_GATEWAY);
    Ok((status, Bytes::from(resp.body)))
}

fn answer(status: StatusCode, body: Bytes) -> Response {
    let mut res = (status, body).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

async fn pass(State(up): State<Arc<Upstream>>, Path(path): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    match forward(&up, &path, &headers, body).await {
        Ok((status, bytes)) => answer(status, bytes),
        Err(r) => r,
    }
}

async fn check(State(up): State<Arc<Upstream>>, Path(path): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    match forward(&up, &path, &headers, body).await {
        Ok((status, bytes)) => match serde_json::from_slice::<&serde_json::value::RawValue>(&bytes) {
            Ok(_) => answer(status, bytes),
            Err(e) => (StatusCode::BAD_GATEWAY, format!("the upstream's body is not JSON: {e}")).into_response(),
        },
        Err(r) => r,
    }
}

fn router(client: NetClient, upstream: &str) -> Router {
    let up = Arc::new(Upstream { client, base: upstream.trim_end_matches('/').to_string() });
    Router::new().route("/pass/{*path}", post(pass)).route("/check/{*path}", post(check)).with_state(up)
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    if args.per_core {
        return per_core(&args);
    }
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(multi(args))
}

fn per_core(args: &Args) -> std::io::Result<()> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut addr: std::net::SocketAddr = args.bind.parse().map_err(std::io::Error::other)?;
    let mut handles = Vec::new();
    for i in 0..threads {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        // The first thread's socket takes the port; the others join it.
        let listener = rt.block_on(async {
            let s = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
            s.set_reuseport(true)?;
            s.set_reuseaddr(true)?;
            s.bind(addr)?;
            s.listen(1024)
        })?;
        if i == 0 {
            addr = listener.local_addr()?;
        }
        let upstream = args.upstream.clone();
        handles.push(std::thread::spawn(move || {
            rt.block_on(async move {
                // Its pool is made on this thread's runtime, so its connections are driven here.
                let client = NetClient::with_limit(1024).map_err(|e| std::io::Error::other(e.to_string()))?;
                axum::serve(listener, router(client, &upstream)).await
            })
        }));
    }
    let mut out = std::io::stdout();
    writeln!(out, "listening on {addr}")?;
    out.flush()?;
    for h in handles {
        h.join().map_err(|_| std::io::Error::other("a serving thread panicked"))??;
    }
    Ok(())
}

async fn multi(args: Args) -> std::io::Result<()> {
    let client = NetClient::with_limit(1024).map_err(|e| std::io::Error::other(e.to_string()))?;
    let app = router(client, &args.upstream);
    let listener = tokio::net::TcpListener::bind(&args.bind).await?;
    let addr = listener.local_addr()?;
    let mut out = std::io::stdout();
    writeln!(out, "listening on {addr}")?;
    out.flush()?;
    axum::serve(listener, app).await
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
