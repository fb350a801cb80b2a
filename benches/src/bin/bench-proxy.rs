//! The floor under the engine's execute: the least a Rust reverse proxy built on the engine's
//! stack does for the same call, measured beside the engine and nginx (benches/run.py).
//!
//! The same parts as `switchboard serve`: tokio's multi-thread runtime with a worker per core,
//! axum over hyper's HTTP/1.1 server, reqwest (rustls, a pooled keep-alive client) to the
//! upstream, mimalloc. No token, no storage, no connector, no audit: a request's body and
//! `authorization` header go to the upstream as they are, and the upstream's body comes back.
//!
//! - `POST /pass/{path}`: the upstream's body returned as bytes, unread (what nginx does).
//! - `POST /check/{path}`: the body checked as JSON first (`serde_json` reads it into a borrowed
//!   `RawValue`: the one pass over every byte that any proxy answering typed errors on a bad
//!   page must make), then returned as it is.
//!
//! Usage: bench-proxy --upstream http://ADDR [--bind 127.0.0.1:0]; prints `listening on ADDR`.

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

#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: String,
    /// The upstream's base URL, e.g. bench-fake's `http://127.0.0.1:PORT`.
    #[arg(long)]
    upstream: String,
}

struct Upstream {
    client: reqwest::Client,
    base: String,
}

async fn forward(up: &Upstream, path: &str, headers: &HeaderMap, body: Bytes) -> Result<(StatusCode, Bytes), Response> {
    let mut req = up.client.post(format!("{}/{path}", up.base)).body(body);
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        req = req.header(header::AUTHORIZATION, auth);
    }
    req = req.header(header::CONTENT_TYPE, "application/json");
    let resp = req.send().await.map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()).into_response())?;
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let bytes = resp.bytes().await.map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()).into_response())?;
    Ok((status, bytes))
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

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let client = reqwest::Client::builder().build().map_err(std::io::Error::other)?;
    let up = Arc::new(Upstream { client, base: args.upstream.trim_end_matches('/').to_string() });
    let app = Router::new().route("/pass/{*path}", post(pass)).route("/check/{*path}", post(check)).with_state(up);
    let listener = tokio::net::TcpListener::bind(&args.bind).await?;
    let addr = listener.local_addr()?;
    let mut out = std::io::stdout();
    writeln!(out, "listening on {addr}")?;
    out.flush()?;
    axum::serve(listener, app).await
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
