//! One upstream exchange over hyper's pooled client: what [`super::NetClient`] sends unless the
//! environment names a proxy.
//!
//! The parts are the ones reqwest is built on (hyper-util's pool, rustls with ring and the
//! webpki roots, HTTP/2 when a server offers it by ALPN), and the behaviour is what reqwest gave
//! the runtime: the URL read as the WHATWG parser reads it (`url`, the parser the egress check
//! uses), at most 5 redirects and each within the first request's origin, `gzip` asked for
//! and decoded, `accept: */*` and `user-agent: switchboard/VERSION` unless the request sets
//! them, `TCP_NODELAY`, connections kept idle for 90 s.
//! What it leaves out is reqwest's stack of layers per request (retry, redirect, decompression
//! and timeout services, each boxing and cloning the request): about 12 µs of CPU per exchange
//! here (benches/PROFILE.md, section 4).

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE,
    LOCATION, RANGE, TRANSFER_ENCODING, USER_AGENT,
};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::{same_origin, Body, HttpResponse, TransportError};

/// The pooled client.
pub(super) type Direct = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Redirects followed at most per request.
pub(super) const MAX_REDIRECTS: usize = 5;

/// A client keeping up to `per_origin` idle connections per origin.
pub(super) fn build(per_origin: usize) -> Result<Direct, TransportError> {
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(Duration::from_secs(10)));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(Arc::new(rustls::crypto::ring::default_provider()))
        .map_err(|e| TransportError::Other(format!("cannot build the HTTP client: {e}")))?
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(tcp);
    Ok(Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(per_origin)
        .build(https))
}

/// Sends `method` to `url` with `headers` and `body`, following redirects within the origin,
/// and reads the whole answer, at most `max_body` bytes of it (decoded). The caller bounds it
/// in time.
pub(super) async fn send(
    client: &Direct,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Option<Vec<u8>>,
    max_body: usize,
) -> Result<HttpResponse, TransportError> {
    let mut method = Method::from_bytes(method.as_bytes())
        .map_err(|_| TransportError::Unsendable(format!("invalid method {method}")))?;
    let first = parse(url)?;
    let mut headers = header_map(headers)?;
    // As reqwest's `gzip` did: asked for unless the request names an encoding or a range, and
    // a gzip-encoded answer decoded.
    if !headers.contains_key(ACCEPT_ENCODING) && !headers.contains_key(RANGE) {
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if !headers.contains_key(ACCEPT) {
        headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
    }
    if !headers.contains_key(USER_AGENT) {
        headers.insert(USER_AGENT, HeaderValue::from_static(concat!("switchboard/", env!("CARGO_PKG_VERSION"))));
    }
    let mut body = body.map(Bytes::from);
    let mut current = first.clone();
    let mut redirects = 0;
    loop {
        let mut req = Request::new(Full::new(body.clone().unwrap_or_default()));
        *req.method_mut() = method.clone();
        *req.uri_mut() = uri(&current)?;
        *req.headers_mut() = headers.clone();
        let resp = client.request(req).await.map_err(|e| TransportError::Connect(chain(&e)))?;
        let status = resp.status();
        let next = match redirect(&resp, &current) {
            Some(next) if redirects < MAX_REDIRECTS && same_origin(&first, &next) => next,
            _ => return read(resp, max_body).await,
        };
        // Read to its end, so the connection goes back to the pool.
        resp.into_body().collect().await.map_err(|e| TransportError::Connect(chain(&e)))?;
        redirects += 1;
        current = next;
        // As browsers and reqwest do: a 303 is followed with a GET (a HEAD stays a HEAD), a 301
        // or 302 after a POST too; a 307 or 308 repeats the request as it was.
        let get = match status {
            StatusCode::SEE_OTHER => method != Method::HEAD,
            StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND => method == Method::POST,
            _ => false,
        };
        if get {
            method = Method::GET;
            body = None;
            for h in [CONTENT_TYPE, CONTENT_LENGTH, CONTENT_ENCODING, TRANSFER_ENCODING] {
                headers.remove(h);
            }
        }
    }
}

/// `url` as the WHATWG URL parser reads it (what the egress check read), http or https only.
fn parse(url: &str) -> Result<url::Url, TransportError> {
    // The message never repeats the URL: its query may carry an API key.
    let parsed = url::Url::parse(url).map_err(|e| TransportError::Unsendable(format!("invalid URL: {e}")))?;
    match parsed.scheme() {
        "http" | "https" => Ok(parsed),
        other => Err(TransportError::Unsendable(format!("URL scheme {other:?} is not http or https"))),
    }
}

fn uri(url: &url::Url) -> Result<Uri, TransportError> {
    Uri::try_from(url.as_str()).map_err(|e| TransportError::Unsendable(format!("invalid URL: {e}")))
}

/// The request's headers; a name or value HTTP cannot carry is an error that names the header
/// but never shows its value (it may be a credential).
fn header_map(headers: &[(String, String)]) -> Result<HeaderMap, TransportError> {
    let mut map = HeaderMap::with_capacity(headers.len() + 2);
    for (k, v) in headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| TransportError::Unsendable(format!("invalid header name {k:?}")))?;
        let value = HeaderValue::from_str(v).map_err(|_| {
            TransportError::Unsendable(format!(
                "the value of header {name} holds a character a header cannot carry (a line break, NUL or other \
                 control character): fix the credential or param it comes from"
            ))
        })?;
        map.append(name, value);
    }
    Ok(map)
}

/// Where a 301, 302, 303, 307 or 308 with a `Location` points, resolved against `current`.
fn redirect<B>(resp: &Response<B>, current: &url::Url) -> Option<url::Url> {
    if !matches!(resp.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = resp.headers().get(LOCATION)?.to_str().ok()?;
    current.join(location).ok()
}

/// The answer: status, headers (names lower-case, as hyper keeps them), and the whole body,
/// decoded when it came gzip-encoded (then without its `content-encoding` and
/// `content-length`, which described the encoded body); a body longer than `max_body` bytes,
/// before or after decoding, is [`TransportError::TooLarge`].
async fn read(resp: Response<hyper::body::Incoming>, max_body: usize) -> Result<HttpResponse, TransportError> {
    let (parts, mut incoming) = resp.into_parts();
    // The length hyper will deliver: the announced one, or none at all for an answer without a
    // body (to a HEAD, a 204 or a 304), whatever its `content-length` says.
    let announced = hyper::body::Body::size_hint(&incoming).exact();
    let mut body = Body::new(announced, max_body)?;
    while let Some(frame) = incoming.frame().await {
        let frame = frame.map_err(|e| TransportError::Connect(chain(&e)))?;
        if let Some(data) = frame.data_ref() {
            body.push(data)?;
        }
    }
    let mut body = body.0;
    let gzip = !body.is_empty()
        && parts.headers.get(CONTENT_ENCODING).is_some_and(|v| v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"gzip"));
    if gzip {
        // One byte past the bound tells a body of exactly `max_body` from a longer one.
        let mut plain = Vec::with_capacity(body.len().saturating_mul(4).min(max_body));
        flate2::read::MultiGzDecoder::new(body.as_slice())
            .take(max_body as u64 + 1)
            .read_to_end(&mut plain)
            .map_err(|e| TransportError::Connect(format!("the gzip-encoded body could not be decoded: {e}")))?;
        if plain.len() > max_body {
            return Err(TransportError::TooLarge(max_body));
        }
        body = plain;
    }
    let headers = parts
        .headers
        .iter()
        .filter(|(k, _)| !(gzip && (*k == CONTENT_ENCODING || *k == CONTENT_LENGTH)))
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    Ok(HttpResponse { status: parts.status.as_u16(), headers, body })
}

/// An error and its causes, as one message ("client error (Connect): tcp connect error:
/// Connection refused (os error 111)"). hyper's errors never carry the URL.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
