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
/// redirects followed only within the request's origin (see [`ReqwestClient::new`]).
#[derive(Debug, Clone)]
pub struct ReqwestClient {
    client: reqwest::Client,
}

impl ReqwestClient {
    /// A client with Switchboard's settings.
    ///
    /// Redirects: at most 5, each within the origin (scheme, host and port) of the request the
    /// runtime made, where the credential was meant to go and keeps going. A redirect to any
    /// other origin, the same host on another port included, is not followed at all (following
    /// it without the credential would still send the request's path, query and body to a
    /// server the egress rules never checked): the 3xx itself is the answer, which the runtime
    /// reports as `upstream_http` with the status.
    pub fn new() -> Result<Self, TransportError> {
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            let same_origin = attempt.previous().first().is_some_and(|first| same_origin(first, attempt.url()));
            if attempt.previous().len() >= 5 || !same_origin {
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

/// Whether `a` and `b` share scheme, host and port (the default port of the scheme when none is
/// written). Opaque origins (`file:`, `data:`, ...) match nothing.
fn same_origin(a: &url::Url, b: &url::Url) -> bool {
    let (a, b) = (a.origin(), b.origin());
    a.is_tuple() && a == b
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// The request heads a server saw, lower-cased.
    type Seen = Arc<Mutex<Vec<String>>>;

    async fn listen() -> (TcpListener, u16) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
        let port = l.local_addr().unwrap_or_else(|e| panic!("{e}")).port();
        (l, port)
    }

    /// Serves on `listener`: `/start` answers 302 to `location`, anything else 200. Records
    /// every request head.
    fn serve(listener: TcpListener, location: String) -> Seen {
        let seen: Seen = Arc::default();
        let record = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let (record, location) = (record.clone(), location.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).to_lowercase();
                    let answer = if head.starts_with("get /start ") {
                        format!("HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    } else {
                        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".to_string()
                    };
                    record.lock().unwrap_or_else(|e| e.into_inner()).push(head);
                    let _ = sock.write_all(answer.as_bytes()).await;
                });
            }
        });
        seen
    }

    fn heads(seen: &Seen) -> Vec<String> {
        seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn get_with_auth(port: u16) -> HttpResponse {
        let client = ReqwestClient::new().unwrap_or_else(|e| panic!("{e:?}"));
        let req = HttpRequest {
            method: "GET".into(),
            url: format!("http://127.0.0.1:{port}/start"),
            headers: vec![("authorization".into(), "Bearer sk_redirect_secret".into())],
            body: None,
            timeout: Duration::from_secs(10),
        };
        client.send(req).await.unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let u = |s: &str| url::Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert!(same_origin(&u("http://api.example/a"), &u("http://api.example:80/b?c")));
        assert!(same_origin(&u("https://api.example/a"), &u("https://user@API.example:443/b")));
        assert!(!same_origin(&u("http://api.example/a"), &u("http://api.example:8080/a")));
        assert!(!same_origin(&u("http://api.example/a"), &u("https://api.example/a")));
        assert!(!same_origin(&u("http://api.example/a"), &u("http://api.example./a")));
        assert!(!same_origin(&u("file:///etc/passwd"), &u("file:///etc/passwd")));
    }

    /// A redirect within the origin (scheme, host and port) is followed with the credential; a
    /// redirect to another origin, even the same host on another port, is not followed at all:
    /// the 3xx is the answer (the runtime reports it as `upstream_http`).
    #[tokio::test]
    async fn redirects_are_followed_within_the_origin_only() {
        // Same origin, relative and absolute: followed, the credential kept.
        for absolute in [false, true] {
            let (l, port) = listen().await;
            let location = if absolute { format!("http://127.0.0.1:{port}/next") } else { "/next".into() };
            let seen = serve(l, location);
            let resp = get_with_auth(port).await;
            assert_eq!(resp.status, 200, "same-origin redirect (absolute: {absolute})");
            let heads = heads(&seen);
            assert_eq!(heads.len(), 2, "{heads:?}");
            assert!(
                heads[1].starts_with("get /next ") && heads[1].contains("authorization: bearer sk_redirect_secret")
            );
        }
        // Another origin: the same host on another port, another spelling of the host, another
        // scheme. Not followed: nothing reaches the target (the neighbour, or this server again).
        let (neighbour, neighbour_port) = listen().await;
        let neighbour_seen = serve(neighbour, String::new());
        let targets: [&dyn Fn(u16) -> String; 3] = [
            &|_| format!("http://127.0.0.1:{neighbour_port}/next"),
            &|port| format!("http://localhost:{port}/next"),
            &|port| format!("https://127.0.0.1:{port}/next"),
        ];
        for target in targets {
            let (l, port) = listen().await;
            let location = target(port);
            let seen = serve(l, location.clone());
            let resp = get_with_auth(port).await;
            assert_eq!(resp.status, 302, "{location}: a cross-origin redirect was followed");
            assert_eq!(resp.header("location"), Some(location.as_str()));
            assert_eq!(heads(&seen).len(), 1, "{location}: {:?}", heads(&seen));
        }
        assert!(heads(&neighbour_seen).is_empty(), "the neighbour port was reached: {:?}", heads(&neighbour_seen));
    }
}
