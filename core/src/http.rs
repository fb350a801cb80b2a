//! The HTTP seam: the runtime sends every request through [`HttpClient`], so unit tests can run
//! without sockets and the engine can wrap sending (egress rules, metrics).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::future::BoxFuture;

/// A request as the runtime built it.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// Upper-case method.
    pub method: String,
    /// Absolute URL, query included.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Time allowed for the whole exchange.
    pub timeout: Duration,
}

/// A response: status, headers (names lower-cased), body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header called `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Why a request got no response. It becomes a public error in one place only:
/// [`crate::upstream::transport_error`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// No answer within the timeout.
    Timeout,
    /// Could not connect, or the connection broke.
    Connect(String),
    /// The request could not be built or sent.
    Other(String),
}

/// Sends HTTP requests.
pub trait HttpClient: Send + Sync + std::fmt::Debug {
    /// Sends one request and reads the whole response.
    fn send(&self, req: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>>;
}

/// The production client: reqwest with rustls, pooled connections, HTTP/2 when offered, and
/// redirects followed only within the same host (credentials never travel to another host).
#[derive(Debug, Clone)]
pub struct ReqwestClient {
    client: reqwest::Client,
}

impl ReqwestClient {
    /// A client with Switchboard's settings.
    pub fn new() -> Result<Self, TransportError> {
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            let same_host =
                attempt.previous().first().is_some_and(|first| first.host_str() == attempt.url().host_str());
            if attempt.previous().len() >= 5 || !same_host {
                attempt.stop()
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .redirect(policy)
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(90))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| TransportError::Other(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { client })
    }

    /// One client per process, so every connector shares the connection pool.
    pub fn shared() -> Arc<dyn HttpClient> {
        static SHARED: OnceLock<Arc<dyn HttpClient>> = OnceLock::new();
        SHARED
            .get_or_init(|| match ReqwestClient::new() {
                Ok(c) => Arc::new(c),
                Err(e) => Arc::new(BrokenClient(format!("{e:?}"))),
            })
            .clone()
    }
}

/// Stands in when the HTTP client cannot be built, so the failure surfaces as a typed error on
/// the first call instead of a panic at start.
#[derive(Debug)]
struct BrokenClient(String);

impl HttpClient for BrokenClient {
    fn send(&self, _req: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let msg = self.0.clone();
        Box::pin(async move { Err(TransportError::Other(msg)) })
    }
}

impl HttpClient for ReqwestClient {
    fn send(&self, req: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            let method = reqwest::Method::from_bytes(req.method.as_bytes())
                .map_err(|_| TransportError::Other(format!("invalid method {}", req.method)))?;
            let mut rb = self.client.request(method, &req.url).timeout(req.timeout);
            for (k, v) in &req.headers {
                rb = rb.header(k, v);
            }
            if let Some(b) = req.body {
                rb = rb.body(b);
            }
            let resp = rb.send().await.map_err(map_reqwest)?;
            let status = resp.status().as_u16();
            let headers = resp
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).to_string()))
                .collect();
            let body = resp.bytes().await.map_err(map_reqwest)?.to_vec();
            Ok(HttpResponse { status, headers, body })
        })
    }
}

fn map_reqwest(e: reqwest::Error) -> TransportError {
    if e.is_timeout() {
        TransportError::Timeout
    } else if e.is_connect() || e.is_request() || e.is_body() {
        // The URL may carry an API key in its query: never let it into the message.
        TransportError::Connect(e.without_url().to_string())
    } else {
        TransportError::Other(e.without_url().to_string())
    }
}
