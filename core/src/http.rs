//! The HTTP seam: the runtime sends every request through [`HttpClient`], so unit tests can run
//! without sockets and the engine can wrap sending (egress rules, metrics).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

mod exchange;

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
    /// Not sent: the client already had this many exchanges with the origin in progress, and
    /// none ended within the request's timeout.
    NoTurn(usize),
    /// Not sent: this many of the connector's exchanges were already in progress (its
    /// `max_concurrent_requests`, [`Bounded`]), and none ended within the request's timeout.
    NoConnectorTurn(usize),
    /// Could not connect, or the connection broke.
    Connect(String),
    /// The answer's body (decoded, when it came compressed) was longer than this many bytes,
    /// the most the client reads ([`NetClient::with_max_body`]): the rest was not read.
    TooLarge(usize),
    /// The request could not be built or sent.
    Other(String),
    /// Not sent: HTTP cannot carry the request as it was made (a header value with a line break
    /// or NUL, from a credential or a header param; a URL that does not parse). Sending it again
    /// cannot help, so it is never retried.
    Unsendable(String),
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout => f.write_str("no answer within the timeout"),
            Self::NoTurn(n) => write!(f, "not sent: {n} exchanges with the origin were already in progress"),
            Self::NoConnectorTurn(n) => write!(f, "not sent: {n} exchanges of the connector were already in progress"),
            Self::Connect(m) | Self::Other(m) | Self::Unsendable(m) => f.write_str(m),
            Self::TooLarge(n) => write!(f, "the answer is longer than {n} bytes, the most the client reads"),
        }
    }
}

/// Sends HTTP requests.
pub trait HttpClient: Send + Sync + std::fmt::Debug {
    /// Sends one request and reads the whole response.
    fn send(&self, req: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>>;
}

/// How many exchanges one [`NetClient`] has with one origin (scheme, host and port) at once,
/// unless told otherwise ([`NetClient::with_limit`]). The same bound as httpx's and
/// aiohttp's default pools: a burst of calls does not open a connection (and hold a file
/// descriptor for the idle timeout after it) per call, nor hit one API with more concurrent
/// requests than APIs allow (GitHub's documented limit is 100).
pub const EXCHANGES_PER_ORIGIN: usize = 100;

/// The environment variable that sets [`NetClient::new`]'s limit instead (a positive whole
/// number): the limit of an SDK process's client, for a caller that needs more (or fewer)
/// requests in flight to one API.
pub const EXCHANGES_PER_ORIGIN_ENV: &str = "SWITCHBOARD_EXCHANGES_PER_ORIGIN";

/// The limit per origin of [`NetClient::new`]: [`EXCHANGES_PER_ORIGIN_ENV`]'s value, or
/// [`EXCHANGES_PER_ORIGIN`] without one; an error naming the variable for an invalid value.
pub fn exchanges_per_origin() -> Result<usize, TransportError> {
    limit_from(std::env::var(EXCHANGES_PER_ORIGIN_ENV).ok().as_deref())
}

/// The limit per origin `value` (the environment variable's) asks for; the default without one.
fn limit_from(value: Option<&str>) -> Result<usize, TransportError> {
    match value.map(str::trim) {
        None | Some("") => Ok(EXCHANGES_PER_ORIGIN),
        Some(v) => v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
            TransportError::Other(format!("{EXCHANGES_PER_ORIGIN_ENV} must be a positive whole number, not {v:?}"))
        }),
    }
}

/// The production client: hyper's pooled client with rustls (reqwest when the environment names
/// a proxy, [`proxy_in_environment`]), HTTP/2 when offered, redirects followed only within the
/// request's origin (see [`NetClient::new`]), and at most [`EXCHANGES_PER_ORIGIN`] exchanges
/// with one origin at once.
#[derive(Debug, Clone)]
pub struct NetClient {
    pool: Pool,
    limits: Arc<OriginLimits>,
    /// Whose exchanges these are ([`NetClient::for_scope`]); each scope has its own limit.
    scope: Option<Arc<str>>,
    /// The longest body read ([`NetClient::with_max_body`]).
    max_body: usize,
}

/// The longest answer body (decoded, when it came compressed) a [`NetClient`] reads unless told
/// otherwise: 64 MiB (room for the largest `download`, 50 MiB; a page of records is far less).
/// A longer one, or a gzip bomb, fails the exchange instead of the process.
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// Where a [`NetClient`]'s connections live.
#[derive(Debug, Clone)]
enum Pool {
    /// One pool for every thread.
    Shared(Transport),
    /// A pool per thread ([`NetClient::per_thread`]), made on the thread's first exchange:
    /// `id` names this client's pools among the thread's (clones and scopes share it).
    PerThread { id: u64, per_origin: usize },
}

/// A pool of connections and the code that sends through it.
#[derive(Debug, Clone)]
enum Transport {
    /// hyper's client ([`exchange`]), behind an `Arc`: a clone per exchange is one count.
    Direct(Arc<exchange::Direct>),
    /// reqwest, which sends through the proxy the environment names.
    Proxied(reqwest::Client),
}

thread_local! {
    /// This thread's pools of the [`Pool::PerThread`] clients that sent from it, by id.
    static THREAD_POOLS: std::cell::RefCell<Vec<(u64, Transport)>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Pool {
    /// The client to send with on this thread.
    fn client(&self) -> Result<Transport, TransportError> {
        match self {
            Self::Shared(c) => Ok(c.clone()),
            Self::PerThread { id, per_origin } => THREAD_POOLS.with(|pools| {
                let mut pools = pools.borrow_mut();
                if let Some((_, c)) = pools.iter().find(|(i, _)| i == id) {
                    return Ok(c.clone());
                }
                let c = build(*per_origin)?;
                pools.push((*id, c.clone()));
                Ok(c)
            }),
        }
    }
}

/// The exchanges in progress per origin. More than `per_origin` wait for one to end, within
/// their request's timeout; an origin with nothing in progress or waiting has no entry.
#[derive(Debug)]
struct OriginLimits {
    per_origin: usize,
    origins: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// One exchange's place among its origin's: dropping it lets the next waiter in.
struct Slot {
    limits: Arc<OriginLimits>,
    origin: String,
    permit: Option<OwnedSemaphorePermit>,
}

impl OriginLimits {
    /// At most `per_origin` (at least 1) exchanges in progress per key.
    fn new(per_origin: usize) -> Arc<Self> {
        Arc::new(Self { per_origin: per_origin.clamp(1, Semaphore::MAX_PERMITS), origins: Mutex::default() })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Semaphore>>> {
        self.origins.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits, at most `within`, for a place among `origin`'s exchanges.
    async fn enter(self: &Arc<Self>, origin: String, within: Duration) -> Result<Slot, TransportError> {
        let semaphore =
            self.lock().entry(origin.clone()).or_insert_with(|| Arc::new(Semaphore::new(self.per_origin))).clone();
        // Whoever holds a clone of the semaphore (a permit, a waiter) keeps its entry alive.
        let mut slot = Slot { limits: self.clone(), origin, permit: None };
        match tokio::time::timeout(within, semaphore.acquire_owned()).await {
            Ok(Ok(permit)) => {
                slot.permit = Some(permit);
                Ok(slot)
            }
            Ok(Err(_)) => Err(TransportError::Other("the HTTP client's connection limit was closed".into())),
            Err(_) => Err(TransportError::NoTurn(self.per_origin)),
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.lock().len()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut origins = self.limits.lock();
        drop(self.permit.take());
        // Under the lock, so no one clones the semaphore meanwhile: only the map holds it when
        // no exchange with this origin is in progress or waiting.
        if origins.get(&self.origin).is_some_and(|s| Arc::strong_count(s) == 1) {
            origins.remove(&self.origin);
        }
    }
}

/// The key of `url`'s origin: scheme and authority without user info, lower-cased. Only a
/// key (the URL is parsed when sent); a URL that is not absolute is its own key.
fn origin_key(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    format!("{scheme}://{host}").to_ascii_lowercase()
}

impl NetClient {
    /// A client with Switchboard's settings.
    ///
    /// Redirects: at most 5, each within the origin (scheme, host and port) of the request the
    /// runtime made, where the credential was meant to go and keeps going. A redirect to any
    /// other origin, the same host on another port included, is not followed at all (following
    /// it without the credential would still send the request's path, query and body to a
    /// server the egress rules never checked): the 3xx itself is the answer, which the runtime
    /// reports as `upstream_http` with the status.
    ///
    /// At most [`EXCHANGES_PER_ORIGIN`] exchanges with one origin at once, or what
    /// [`EXCHANGES_PER_ORIGIN_ENV`] says (an invalid value is an error).
    pub fn new() -> Result<Self, TransportError> {
        Self::with_limit(exchanges_per_origin()?)
    }

    /// A client with Switchboard's settings and at most `per_origin` exchanges (at least 1)
    /// with one origin at once; a request waiting longer than its timeout for its turn fails
    /// with [`TransportError::NoTurn`], unsent.
    pub fn with_limit(per_origin: usize) -> Result<Self, TransportError> {
        let per_origin = per_origin.clamp(1, Semaphore::MAX_PERMITS);
        Ok(Self {
            pool: Pool::Shared(build(per_origin)?),
            limits: OriginLimits::new(per_origin),
            scope: None,
            max_body: MAX_BODY,
        })
    }

    /// As [`NetClient::with_limit`], but each thread that sends through this client (or
    /// a clone or scope of it) gets a connection pool of its own, whose connections are driven
    /// by that thread's runtime: for a server with a single-threaded runtime per thread, where
    /// a connection shared between threads would wake another thread for every exchange. The
    /// limit per origin still counts the exchanges of every thread together.
    pub fn per_thread(per_origin: usize) -> Result<Self, TransportError> {
        static IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let per_origin = per_origin.clamp(1, Semaphore::MAX_PERMITS);
        // Built once here so a client that cannot be built fails now, not on a thread later.
        build(per_origin)?;
        let id = IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Self {
            pool: Pool::PerThread { id, per_origin },
            limits: OriginLimits::new(per_origin),
            scope: None,
            max_body: MAX_BODY,
        })
    }

    /// This client reading answer bodies of at most `bytes` (decoded, when they came
    /// compressed; [`MAX_BODY`] unless told): a longer one fails with
    /// [`TransportError::TooLarge`] as soon as it is known to be longer, its rest unread.
    pub fn with_max_body(self, bytes: usize) -> Self {
        Self { max_body: bytes, ..self }
    }

    /// This client (the same connection pool) for the exchanges of `scope` alone, which have a
    /// limit per origin of their own: the engine scopes each stored connector's handle by the
    /// connector's id, so one tenant's calls never wait for another tenant's turn, and two
    /// handles of one connector share its limit.
    pub fn for_scope(&self, scope: &str) -> Self {
        Self { scope: Some(scope.into()), ..self.clone() }
    }

    /// One client per process, so every connector shares the connection pool.
    pub fn shared() -> Arc<dyn HttpClient> {
        static SHARED: OnceLock<Arc<dyn HttpClient>> = OnceLock::new();
        SHARED
            .get_or_init(|| match NetClient::new() {
                Ok(c) => Arc::new(c),
                Err(e) => Arc::new(BrokenClient(e)),
            })
            .clone()
    }
}

/// The names of the variables through which an environment names a proxy, as reqwest reads them.
const PROXY_VARIABLES: [&str; 6] = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"];

/// Whether the process's environment names a proxy for HTTP or HTTPS: then the client is
/// reqwest's, which sends through it (honouring `NO_PROXY`), as every client of Switchboard's
/// did before hyper's took its place.
pub fn proxy_in_environment() -> bool {
    proxy_named(|name| std::env::var_os(name))
}

fn proxy_named(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> bool {
    PROXY_VARIABLES.iter().any(|name| var(name).is_some_and(|v| !v.is_empty()))
}

/// A transport with Switchboard's settings (see [`NetClient::new`]), keeping up to
/// `per_origin` idle connections per origin: reqwest's when the environment names a proxy,
/// hyper's otherwise.
fn build(per_origin: usize) -> Result<Transport, TransportError> {
    if proxy_in_environment() {
        build_reqwest(per_origin).map(Transport::Proxied)
    } else {
        exchange::build(per_origin).map(|c| Transport::Direct(Arc::new(c)))
    }
}

/// reqwest with the same settings as [`exchange::build`].
fn build_reqwest(per_origin: usize) -> Result<reqwest::Client, TransportError> {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt.previous().first().is_some_and(|first| same_origin(first, attempt.url()));
        if attempt.previous().len() > exchange::MAX_REDIRECTS || !same_origin {
            attempt.stop()
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .redirect(policy)
        .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(per_origin)
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| TransportError::Other(format!("cannot build the HTTP client: {e}")))
}

/// An [`HttpClient`] through which at most `n` exchanges are in progress at once, whatever
/// their origin, on top of the limits of the client it wraps: a local connector's
/// `max_concurrent_requests`. More wait for a turn within their request's timeout (the wait
/// counts against it); one that gets none fails with [`TransportError::NoConnectorTurn`],
/// unsent. The connector never sends one exchange while holding another's turn (an OAuth
/// refresh runs before the call it precedes), so a bound of 1 cannot deadlock.
#[derive(Debug)]
pub struct Bounded {
    inner: Arc<dyn HttpClient>,
    /// The turns, as [`NetClient`] keeps them per origin: here under one key for all.
    turns: Arc<OriginLimits>,
}

impl Bounded {
    /// `inner` with at most `n` (at least 1) exchanges in progress through it at once.
    pub fn new(inner: Arc<dyn HttpClient>, n: usize) -> Self {
        Self { inner, turns: OriginLimits::new(n) }
    }
}

impl HttpClient for Bounded {
    fn send(&self, mut req: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + req.timeout;
            let _turn = self.turns.enter(String::new(), req.timeout).await.map_err(|e| match e {
                TransportError::NoTurn(n) => TransportError::NoConnectorTurn(n),
                e => e,
            })?;
            req.timeout = time_left(deadline)?;
            self.inner.send(req).await
        })
    }
}

/// What is left of a request's time after its wait for a turn; none left is a timeout.
fn time_left(deadline: tokio::time::Instant) -> Result<Duration, TransportError> {
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    if left.is_zero() {
        return Err(TransportError::Timeout);
    }
    Ok(left)
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
struct BrokenClient(TransportError);

impl HttpClient for BrokenClient {
    fn send(&self, _req: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let e = self.0.clone();
        Box::pin(async move { Err(e) })
    }
}

impl HttpClient for NetClient {
    fn send(&self, req: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            // The timeout covers the wait for a turn and the exchange together. The slot is
            // held until the body is read: the connection is busy until then.
            let deadline = tokio::time::Instant::now() + req.timeout;
            let key = match &self.scope {
                Some(scope) => format!("{scope} {}", origin_key(&req.url)),
                None => origin_key(&req.url),
            };
            let _slot = self.limits.enter(key, req.timeout).await?;
            let left = time_left(deadline)?;
            match self.pool.client()? {
                Transport::Direct(client) => {
                    let sent = exchange::send(&client, &req.method, &req.url, &req.headers, req.body, self.max_body);
                    tokio::time::timeout(left, sent).await.map_err(|_| TransportError::Timeout)?
                }
                Transport::Proxied(client) => send_reqwest(&client, req, left, self.max_body).await,
            }
        })
    }
}

/// One exchange through reqwest, within `left`.
async fn send_reqwest(
    client: &reqwest::Client,
    req: HttpRequest,
    left: Duration,
    max_body: usize,
) -> Result<HttpResponse, TransportError> {
    let method = reqwest::Method::from_bytes(req.method.as_bytes())
        .map_err(|_| TransportError::Unsendable(format!("invalid method {}", req.method)))?;
    let mut rb = client.request(method, &req.url).timeout(left);
    for (k, v) in &req.headers {
        rb = rb.header(k, v);
    }
    if let Some(b) = req.body {
        rb = rb.body(b);
    }
    let mut resp = rb.send().await.map_err(map_reqwest)?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).to_string()))
        .collect();
    let mut body = Body::new(resp.content_length(), max_body)?;
    while let Some(chunk) = resp.chunk().await.map_err(map_reqwest)? {
        body.push(&chunk)?;
    }
    Ok(HttpResponse { status, headers, body: body.0 })
}

/// An answer's body as it arrives, each chunk copied once into a buffer sized for the announced
/// length (up to 16 MiB before the bytes arrive: the length is the server's word), and at most
/// `max` bytes long.
struct Body(Vec<u8>, usize);

impl Body {
    /// The most a body's buffer is sized for before its bytes arrive.
    const PREALLOCATE_AT_MOST: u64 = 16 * 1024 * 1024;

    /// A buffer for a body announced as `announced` bytes long; an announced length over `max`
    /// is refused before any of the body is read.
    fn new(announced: Option<u64>, max: usize) -> Result<Self, TransportError> {
        let announced = announced.unwrap_or(0);
        if announced > max as u64 {
            return Err(TransportError::TooLarge(max));
        }
        Ok(Self(Vec::with_capacity(announced.min(Self::PREALLOCATE_AT_MOST) as usize), max))
    }

    fn push(&mut self, data: &[u8]) -> Result<(), TransportError> {
        if data.len() > self.1 - self.0.len() {
            return Err(TransportError::TooLarge(self.1));
        }
        self.0.extend_from_slice(data);
        Ok(())
    }
}

fn map_reqwest(e: reqwest::Error) -> TransportError {
    if e.is_timeout() {
        TransportError::Timeout
    } else if e.is_builder() {
        TransportError::Unsendable(e.without_url().to_string())
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

    use fake_upstream::holding::{read_request, Holding};
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    use super::*;

    /// The request heads a server saw, lower-cased.
    type Seen = Arc<Mutex<Vec<String>>>;

    async fn listen() -> (TcpListener, u16) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
        let port = l.local_addr().unwrap_or_else(|e| panic!("{e}")).port();
        (l, port)
    }

    /// Serves on `listener`: each request (its head lower-cased, then its body) gets
    /// `answer(request)`, and the connection is closed. Records every request.
    fn serve_with(listener: TcpListener, answer: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static) -> Seen {
        let seen: Seen = Arc::default();
        let record = seen.clone();
        let answer = Arc::new(answer);
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let (record, answer) = (record.clone(), answer.clone());
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut sock).await else { return };
                    let end = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(request.len());
                    let request = format!(
                        "{}{}",
                        String::from_utf8_lossy(&request[..end]).to_lowercase(),
                        String::from_utf8_lossy(&request[end..])
                    );
                    let out = answer(&request);
                    record.lock().unwrap_or_else(|e| e.into_inner()).push(request);
                    let _ = sock.write_all(&out).await;
                });
            }
        });
        seen
    }

    /// Serves on `listener`: `/start` answers 302 to `location`, anything else 200.
    fn serve(listener: TcpListener, location: String) -> Seen {
        serve_with(listener, move |request| {
            if request.starts_with("get /start ") {
                format!("HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            } else {
                "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".to_string()
            }
            .into_bytes()
        })
    }

    /// Each transport with the same settings: hyper's, and reqwest's (which a proxy named in
    /// the environment selects; built here without one, so it sends directly).
    fn transports() -> [(&'static str, NetClient); 2] {
        assert!(!proxy_in_environment(), "these tests send directly: unset the proxy variables ({PROXY_VARIABLES:?})");
        let direct = NetClient::with_limit(10).unwrap_or_else(|e| panic!("{e:?}"));
        assert!(matches!(direct.pool, Pool::Shared(Transport::Direct(_))));
        let reqwest = build_reqwest(10).unwrap_or_else(|e| panic!("{e:?}"));
        let proxied = NetClient { pool: Pool::Shared(Transport::Proxied(reqwest)), ..direct.clone() };
        [("hyper", direct), ("reqwest", proxied)]
    }

    fn heads(seen: &Seen) -> Vec<String> {
        seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn get_with_auth(client: &NetClient, port: u16) -> HttpResponse {
        let req = HttpRequest {
            method: "GET".into(),
            url: format!("http://127.0.0.1:{port}/start"),
            headers: vec![("authorization".into(), "Bearer sk_redirect_secret".into())],
            body: None,
            timeout: Duration::from_secs(10),
        };
        client.send(req).await.unwrap_or_else(|e| panic!("{e:?}"))
    }

    /// A server that holds each request until released (core's limits are about exchanges
    /// in progress).
    async fn hold() -> Holding {
        Holding::start("text/plain", "ok").await
    }

    fn get(base: &str, timeout: Duration) -> HttpRequest {
        HttpRequest { method: "GET".into(), url: format!("{base}/held"), headers: Vec::new(), body: None, timeout }
    }

    const WITHIN: Duration = Duration::from_secs(10);

    /// Ten calls at once with a limit of three: three reach the server, the others wait for
    /// a turn and then all ten succeed; nothing stays tracked after.
    #[tokio::test]
    async fn exchanges_with_one_origin_wait_for_a_turn() {
        let server = hold().await;
        let client = NetClient::with_limit(3).unwrap_or_else(|e| panic!("{e:?}"));
        let calls: Vec<_> = (0..10)
            .map(|_| {
                let (client, req) = (client.clone(), get(&server.base, Duration::from_secs(20)));
                tokio::spawn(async move { client.send(req).await })
            })
            .collect();
        server.wait_held(3, WITHIN).await;
        // Give a fourth request the time to arrive, were the limit not kept.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!((server.counts().held, server.counts().most), (3, 3));
        assert_eq!(client.limits.tracked(), 1);
        server.release();
        for call in calls {
            let resp = call.await.unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!((resp.status, resp.body.as_slice()), (200, &b"ok"[..]));
        }
        assert_eq!(server.counts().most, 3, "more than 3 at once");
        assert_eq!(client.limits.tracked(), 0, "an origin with nothing in progress is forgotten");
    }

    /// The limit is per origin: a held origin does not hold up another; a request that waits
    /// past its timeout for a turn fails as a timeout, without reaching the server.
    #[tokio::test]
    async fn the_limit_is_per_origin_and_a_wait_counts_against_the_timeout() {
        let server = hold().await;
        let (other_l, other_port) = listen().await;
        let other = serve(other_l, String::new());
        let client = NetClient::with_limit(1).unwrap_or_else(|e| panic!("{e:?}"));
        let first = {
            let (client, req) = (client.clone(), get(&server.base, Duration::from_secs(20)));
            tokio::spawn(async move { client.send(req).await })
        };
        server.wait_held(1, WITHIN).await;
        let other_base = format!("http://127.0.0.1:{other_port}");
        let resp = client.send(get(&other_base, Duration::from_secs(5))).await.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(resp.status, 200, "another origin waited");
        assert_eq!(heads(&other).len(), 1);
        let late = client.send(get(&server.base, Duration::from_millis(200))).await;
        assert_eq!(late.map(|r| r.status), Err(TransportError::NoTurn(1)));
        assert_eq!(server.counts().most, 1, "the waiting request reached the server");
        server.release();
        let resp = first.await.unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(resp.status, 200);
        assert_eq!(client.limits.tracked(), 0);
    }

    /// Scopes (the engine's stored connectors) have a limit each on the same origin; two
    /// clients of one scope share theirs.
    #[tokio::test]
    async fn each_scope_has_its_own_limit() {
        let server = hold().await;
        let client = NetClient::with_limit(1).unwrap_or_else(|e| panic!("{e:?}"));
        let (a, b) = (client.for_scope("connector-a"), client.for_scope("connector-b"));
        let first = {
            let (a, req) = (a.clone(), get(&server.base, Duration::from_secs(20)));
            tokio::spawn(async move { a.send(req).await })
        };
        server.wait_held(1, WITHIN).await;
        let req = get(&server.base, Duration::from_secs(20));
        let other = tokio::spawn(async move { b.send(req).await });
        server.wait_held(2, WITHIN).await;
        let same_scope = client.for_scope("connector-a").send(get(&server.base, Duration::from_millis(200))).await;
        assert_eq!(
            same_scope.map(|r| r.status),
            Err(TransportError::NoTurn(1)),
            "scope a's second exchange did not wait"
        );
        server.release();
        for call in [first, other] {
            let resp = call.await.unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(resp.status, 200);
        }
        assert_eq!(server.counts().most, 2);
        assert_eq!(client.limits.tracked(), 0);
    }

    /// [`Bounded`]: at most its bound in progress whatever the origin; a request that gets no
    /// turn within its timeout fails unsent with `NoConnectorTurn`, and the wait counts
    /// against the timeout the exchange then gets.
    #[tokio::test]
    async fn a_bounded_client_keeps_its_bound_across_origins() {
        let (a, b) = (hold().await, hold().await);
        let client = Bounded::new(Arc::new(NetClient::with_limit(10).unwrap_or_else(|e| panic!("{e:?}"))), 2);
        let client = Arc::new(client);
        let calls: Vec<_> = [&a, &b, &a]
            .into_iter()
            .map(|server| {
                let (client, req) = (client.clone(), get(&server.base, Duration::from_secs(20)));
                tokio::spawn(async move { client.send(req).await })
            })
            .collect();
        let started = std::time::Instant::now();
        while a.counts().held + b.counts().held < 2 {
            assert!(started.elapsed() < WITHIN, "{:?} {:?}", a.counts(), b.counts());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(a.counts().held + b.counts().held, 2, "a third exchange was sent");
        let late = client.send(get(&b.base, Duration::from_millis(200))).await;
        assert_eq!(late.map(|r| r.status), Err(TransportError::NoConnectorTurn(2)));
        a.release();
        b.release();
        for call in calls {
            let resp = call.await.unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(resp.status, 200);
        }
        assert_eq!(a.counts().answered + b.counts().answered, 3);
    }

    #[test]
    fn the_environment_sets_the_limit_or_says_what_is_wrong() {
        assert_eq!(limit_from(None), Ok(EXCHANGES_PER_ORIGIN));
        assert_eq!(limit_from(Some(" ")), Ok(EXCHANGES_PER_ORIGIN));
        assert_eq!(limit_from(Some("250")), Ok(250));
        for bad in ["0", "-3", "1.5", "many"] {
            let Err(TransportError::Other(m)) = limit_from(Some(bad)) else { panic!("{bad} was taken") };
            assert!(m.contains(EXCHANGES_PER_ORIGIN_ENV) && m.contains(bad), "{m}");
        }
    }

    #[test]
    fn origin_keys_leave_out_user_info_path_and_case() {
        assert_eq!(origin_key("https://API.github.com/repos/a?b=c#d"), "https://api.github.com");
        assert_eq!(origin_key("https://user:pw@api.example:8443/x"), "https://api.example:8443");
        assert_eq!(origin_key("http://127.0.0.1:9/x"), origin_key("HTTP://127.0.0.1:9?y"));
        assert_ne!(origin_key("http://a.example/x"), origin_key("https://a.example/x"));
        assert_eq!(origin_key("not a url"), "not a url");
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
        for (transport, client) in transports() {
            // Same origin, relative and absolute: followed, the credential kept.
            for absolute in [false, true] {
                let (l, port) = listen().await;
                let location = if absolute { format!("http://127.0.0.1:{port}/next") } else { "/next".into() };
                let seen = serve(l, location);
                let resp = get_with_auth(&client, port).await;
                assert_eq!(resp.status, 200, "{transport}: same-origin redirect (absolute: {absolute})");
                let heads = heads(&seen);
                assert_eq!(heads.len(), 2, "{transport}: {heads:?}");
                assert!(
                    heads[1].starts_with("get /next ") && heads[1].contains("authorization: bearer sk_redirect_secret"),
                    "{transport}: {heads:?}"
                );
            }
            // Another origin: the same host on another port, another spelling of the host,
            // another scheme. Not followed: nothing reaches the target (the neighbour, or this
            // server again).
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
                let resp = get_with_auth(&client, port).await;
                assert_eq!(resp.status, 302, "{transport}: {location}: a cross-origin redirect was followed");
                assert_eq!(resp.header("location"), Some(location.as_str()));
                assert_eq!(heads(&seen).len(), 1, "{transport}: {location}: {:?}", heads(&seen));
            }
            assert!(
                heads(&neighbour_seen).is_empty(),
                "{transport}: the neighbour was reached: {:?}",
                heads(&neighbour_seen)
            );
        }
    }

    /// After a POST, a 303 (and a 301 or 302) is followed with a GET and no body; a 307 or
    /// 308 repeats the POST with its body. A chain longer than 5 redirects stops at the sixth,
    /// which is the answer.
    #[tokio::test]
    async fn redirects_after_a_post_keep_or_drop_the_body_by_status() {
        for (transport, client) in transports() {
            let (l, port) = listen().await;
            let seen = serve_with(l, |request| {
                let path = request.split_whitespace().nth(1).unwrap_or_default().to_string();
                let answer = match path.strip_prefix("/loop/").and_then(|n| n.parse::<u32>().ok()) {
                    Some(n) => format!("HTTP/1.1 302 Found\r\nlocation: /loop/{}\r\ncontent-length: 0\r\n\r\n", n + 1),
                    None => match path.trim_start_matches('/').parse::<u16>() {
                        Ok(status) => {
                            format!("HTTP/1.1 {status} Moved\r\nlocation: /next\r\ncontent-length: 0\r\n\r\n")
                        }
                        Err(_) => "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".to_string(),
                    },
                };
                answer.into_bytes()
            });
            for (status, then) in [(301, "get"), (302, "get"), (303, "get"), (307, "post"), (308, "post")] {
                let req = HttpRequest {
                    method: "POST".into(),
                    url: format!("http://127.0.0.1:{port}/{status}"),
                    headers: vec![("content-type".into(), "application/json".into())],
                    body: Some(br#"{"title":"payload"}"#.to_vec()),
                    timeout: WITHIN,
                };
                let before = heads(&seen).len();
                let resp = client.send(req).await.unwrap_or_else(|e| panic!("{transport} {status}: {e:?}"));
                assert_eq!(resp.status, 200, "{transport} {status}");
                let heads = heads(&seen);
                let next = &heads[before + 1];
                assert!(next.starts_with(&format!("{then} /next ")), "{transport} {status}: {next}");
                assert_eq!(next.ends_with(r#"{"title":"payload"}"#), then == "post", "{transport} {status}: {next}");
            }
            let before = heads(&seen).len();
            let resp = client
                .send(HttpRequest { url: format!("http://127.0.0.1:{port}/loop/0"), ..get("", WITHIN) })
                .await
                .unwrap_or_else(|e| panic!("{transport}: {e:?}"));
            assert_eq!((resp.status, resp.header("location")), (302, Some("/loop/6")), "{transport}");
            assert_eq!(heads(&seen).len() - before, 1 + 5, "{transport}: the first request and 5 redirects");
        }
    }

    /// `gzip` is asked for, and a gzip-encoded answer arrives decoded, without the headers
    /// that described the encoded body; the request names the client.
    #[tokio::test]
    async fn a_gzip_answer_arrives_decoded() {
        use std::io::Write as _;
        let plain = br#"{"items":[{"id":1,"name":"compressed"}]}"#.repeat(50);
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&plain).unwrap_or_else(|e| panic!("{e}"));
        let encoded = encoder.finish().unwrap_or_else(|e| panic!("{e}"));
        for (transport, client) in transports() {
            let (l, port) = listen().await;
            let encoded = encoded.clone();
            let seen = serve_with(l, move |request| {
                let mut out = if request.contains("accept-encoding: gzip") {
                    format!("HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: {}\r\n\r\n", encoded.len())
                        .into_bytes()
                } else {
                    b"HTTP/1.1 406 Not Acceptable\r\ncontent-length: 0\r\n\r\n".to_vec()
                };
                out.extend_from_slice(&encoded);
                out
            });
            let resp = client.send(get(&format!("http://127.0.0.1:{port}"), WITHIN)).await;
            let resp = resp.unwrap_or_else(|e| panic!("{transport}: {e:?}"));
            assert_eq!(resp.status, 200, "{transport}");
            assert_eq!(resp.body, plain, "{transport}");
            assert_eq!((resp.header("content-encoding"), resp.header("content-length")), (None, None), "{transport}");
            let heads = heads(&seen);
            assert!(heads[0].contains(concat!("user-agent: switchboard/", env!("CARGO_PKG_VERSION"))), "{heads:?}");
            assert!(heads[0].contains("accept: */*"), "{heads:?}");
        }
    }

    /// A body longer than the client reads fails the exchange, `TooLarge`, not the process:
    /// announced (refused before it is read), streamed without a length, or short on the wire
    /// and long once decoded (a gzip bomb); one of exactly the bound is read whole.
    #[tokio::test]
    async fn an_answer_longer_than_the_bound_is_refused() {
        use std::io::Write as _;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&vec![b'0'; 1 << 20]).unwrap_or_else(|e| panic!("{e}"));
        let bomb = encoder.finish().unwrap_or_else(|e| panic!("{e}"));
        assert!(bomb.len() < 2_000, "{} bytes on the wire", bomb.len());
        let body = vec![b'x'; 1_000];
        let announced = |body: &[u8]| {
            let mut out = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len()).into_bytes();
            out.extend_from_slice(body);
            out
        };
        let chunked = {
            let mut out = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
            for part in body.chunks(100) {
                out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
                out.extend_from_slice(part);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
            out
        };
        let gzipped = {
            let mut out =
                format!("HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: {}\r\n\r\n", bomb.len())
                    .into_bytes();
            out.extend_from_slice(&bomb);
            out
        };
        let cases = [
            ("announced", announced(&body), 999, false),
            ("announced, exactly the bound", announced(&body), 1_000, true),
            ("chunked", chunked.clone(), 999, false),
            ("chunked, exactly the bound", chunked, 1_000, true),
            ("gzip bomb", gzipped.clone(), 100_000, false),
            ("gzip, exactly the bound", gzipped, 1 << 20, true),
        ];
        for (transport, client) in transports() {
            for (case, answer, max, read) in &cases {
                let (l, port) = listen().await;
                let answer = answer.clone();
                let _seen = serve_with(l, move |_| answer.clone());
                let client = client.clone().with_max_body(*max);
                let resp = client.send(get(&format!("http://127.0.0.1:{port}/big"), WITHIN)).await;
                match resp {
                    Ok(r) if *read => assert_eq!(r.body.len(), *max, "{transport}, {case}"),
                    Err(TransportError::TooLarge(n)) if !*read => assert_eq!(n, *max, "{transport}, {case}"),
                    other => panic!("{transport}, {case}: {:?}", other.map(|r| r.body.len())),
                }
            }
        }
        // An answer to a HEAD has no body, whatever length its head announces.
        for (transport, client) in transports() {
            let (l, port) = listen().await;
            let _seen = serve_with(l, |_| b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n".to_vec());
            let head = HttpRequest { method: "HEAD".into(), ..get(&format!("http://127.0.0.1:{port}/big"), WITHIN) };
            let resp = client.clone().with_max_body(1_000).send(head).await;
            assert_eq!(resp.map(|r| (r.status, r.body.len())).ok(), Some((200, 0)), "{transport}, HEAD");
        }
        let e = crate::upstream::transport_error(crate::upstream::Peer::Api("GitHub"), &TransportError::TooLarge(999));
        assert_eq!(e.code, crate::ErrorCode::UpstreamHttp);
        assert!(e.message.contains("GitHub") && e.message.contains("999 bytes"), "{}", e.message);
    }

    /// An https URL is sent over TLS: the server gets a ClientHello offering HTTP/2 and
    /// HTTP/1.1 (ALPN) for the URL's host (SNI). A peer that closes instead of answering is a
    /// connection error whose message has no part of the URL's query.
    #[tokio::test]
    async fn https_is_spoken_over_tls_offering_http2() {
        use tokio::io::AsyncReadExt as _;
        let (l, port) = listen().await;
        let hello = tokio::spawn(async move {
            let (mut sock, _) = l.accept().await.unwrap_or_else(|e| panic!("{e}"));
            let mut buf = vec![0u8; 4096];
            let n = sock.read(&mut buf).await.unwrap_or_else(|e| panic!("{e}"));
            buf.truncate(n);
            buf
        });
        let [(_, client), _] = transports();
        let req = HttpRequest { url: format!("https://localhost:{port}/x?api_key=sk_query_secret"), ..get("", WITHIN) };
        let Err(err) = client.send(req).await else { panic!("no TLS server answered, yet the exchange succeeded") };
        let hello = hello.await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(hello.first(), Some(&0x16), "not a TLS handshake record: {hello:?}");
        let has = |needle: &[u8]| hello.windows(needle.len()).any(|w| w == needle);
        assert!(has(b"\x02h2") && has(b"\x08http/1.1"), "ALPN offers h2 and http/1.1");
        assert!(has(b"localhost"), "SNI names the host");
        let TransportError::Connect(message) = err else { panic!("{err:?}") };
        assert!(!message.contains("sk_query_secret") && !message.contains("api_key"), "{message}");
    }

    /// A refused connection is a connection error in both transports, and its message repeats
    /// no part of the URL (a query may carry an API key).
    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error_without_the_url() {
        let (l, port) = listen().await;
        drop(l);
        for (transport, client) in transports() {
            let req =
                HttpRequest { url: format!("http://127.0.0.1:{port}/x?api_key=sk_query_secret"), ..get("", WITHIN) };
            match client.send(req).await {
                Err(TransportError::Connect(m)) => assert!(!m.contains("sk_query_secret"), "{transport}: {m}"),
                other => panic!("{transport}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_proxy_named_in_the_environment_selects_reqwest() {
        let env = |set: &'static str, value: &'static str| {
            move |name: &str| (name == set).then(|| std::ffi::OsString::from(value))
        };
        for name in PROXY_VARIABLES {
            assert!(proxy_named(env(name, "http://proxy.internal:3128")), "{name}");
            assert!(!proxy_named(env(name, "")), "{name} set but empty");
        }
        assert!(!proxy_named(env("NO_PROXY", "*")));
        assert!(!proxy_named(|_| None));
    }

    /// Serves keep-alive `200 ok` answers on `listener` from a runtime of its own; counts the
    /// connections it accepts.
    fn keep_alive_server(listener: std::net::TcpListener) -> Arc<std::sync::atomic::AtomicUsize> {
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            let rt =
                tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}"));
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap_or_else(|e| panic!("{e}"));
                while let Ok((mut sock, _)) = listener.accept().await {
                    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::spawn(async move {
                        while read_request(&mut sock).await.is_some() {
                            let answer = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                            if sock.write_all(answer.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            });
        });
        accepted
    }

    /// Sends `calls` requests through `client` on a thread of its own with a single-threaded
    /// runtime, then keeps that runtime (and so its connections) alive until `hold` fires.
    ///
    /// After each answer the runtime settles before anything else happens: the pool takes a
    /// finished HTTP/1 connection back only once the connection's task, on the runtime that
    /// opened it, has polled for the next request. That task and the one putting the
    /// connection back are ready to run on this runtime, which runs them before its timer can
    /// end the wait; without the wait the next call could find nothing idle and open a
    /// connection of its own (as the failure of this test on a busy machine showed).
    fn calls_on_a_thread(
        client: NetClient,
        base: String,
        calls: usize,
        hold: std::sync::mpsc::Receiver<()>,
    ) -> (std::sync::mpsc::Receiver<()>, std::thread::JoinHandle<()>) {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt =
                tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}"));
            rt.block_on(async move {
                for _ in 0..calls {
                    let resp = client.send(get(&base, WITHIN)).await.unwrap_or_else(|e| panic!("{e:?}"));
                    assert_eq!(resp.body, b"ok");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                let _ = done_tx.send(());
                // Parked on this runtime's driver: its pooled connection stays usable.
                let _ = tokio::task::spawn_blocking(move || hold.recv()).await;
            });
        });
        (done_rx, thread)
    }

    /// How many connections the upstream accepts when one thread makes three calls and then,
    /// while the first one's runtime stays alive, another thread makes one.
    ///
    /// The second thread makes one call only: a connection the first thread's runtime drives
    /// comes back to a shared pool when that runtime gets to it, which the second thread's
    /// runtime cannot wait for; its next call would race that return against a new connect.
    fn connections_of_two_threads(client: NetClient) -> usize {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        listener.set_nonblocking(true).unwrap_or_else(|e| panic!("{e}"));
        let base = format!("http://{}", listener.local_addr().unwrap_or_else(|e| panic!("{e}")));
        let accepted = keep_alive_server(listener);
        let (release_first, hold_first) = std::sync::mpsc::channel();
        let (first_done, first) = calls_on_a_thread(client.clone(), base.clone(), 3, hold_first);
        first_done.recv().unwrap_or_else(|e| panic!("{e}"));
        let (release_second, hold_second) = std::sync::mpsc::channel();
        let (second_done, second) = calls_on_a_thread(client.for_scope("another"), base, 1, hold_second);
        second_done.recv().unwrap_or_else(|e| panic!("{e}"));
        let _ = (release_first.send(()), release_second.send(()));
        for t in [first, second] {
            t.join().unwrap_or_else(|_| panic!("a calling thread panicked"));
        }
        accepted.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[test]
    fn a_per_thread_client_keeps_a_pool_on_each_thread() {
        // Each thread's calls share its one connection; the other thread's live connection
        // is not borrowed (its runtime would have to wake for every exchange).
        assert_eq!(connections_of_two_threads(NetClient::per_thread(10).unwrap_or_else(|e| panic!("{e:?}"))), 2);
        // The control: one pool for all threads lends the second thread the first's connection.
        assert_eq!(connections_of_two_threads(NetClient::with_limit(10).unwrap_or_else(|e| panic!("{e:?}"))), 1);
    }
}
