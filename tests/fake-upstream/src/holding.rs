//! An upstream that holds every request until the test releases it, counting how many it
//! holds at once: what a test of a client's concurrency limit needs (core's per-origin limit,
//! the engine's per-connector one). Plain TCP and HTTP/1.1 with `connection: close`, so each
//! request held is one connection and nothing a client pools hides a request from the count.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::lock;

/// What a [`Holding`] server has seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests held now.
    pub held: usize,
    /// Most requests held at once.
    pub most: usize,
    /// Requests answered: counted as the answer is written, so a client that has its answer
    /// finds it counted (counted after the write, a count read right after the client's call
    /// could miss it).
    pub answered: usize,
}

/// A server on loopback that reads each request whole and answers `200` with one body, but
/// only once [`Holding::release`] is called.
pub struct Holding {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    counts: Arc<Mutex<Counts>>,
    release: watch::Sender<bool>,
}

impl Holding {
    /// Starts the server on the current tokio runtime; every answer carries `body` as
    /// `content_type`.
    pub async fn start(content_type: &'static str, body: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
        let base = format!("http://{}", listener.local_addr().unwrap_or_else(|e| panic!("{e}")));
        let counts: Arc<Mutex<Counts>> = Arc::default();
        let (release, released) = watch::channel(false);
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let c = counts.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let (c, mut released, answer) = (c.clone(), released.clone(), answer.clone());
                tokio::spawn(async move {
                    if read_request(&mut sock).await.is_none() {
                        return;
                    }
                    {
                        let mut c = lock(&c);
                        c.held += 1;
                        c.most = c.most.max(c.held);
                    }
                    let _ = released.wait_for(|r| *r).await;
                    {
                        let mut c = lock(&c);
                        c.held -= 1;
                        c.answered += 1;
                    }
                    let _ = sock.write_all(answer.as_bytes()).await;
                });
            }
        });
        Holding { base, counts, release }
    }

    /// What the server has seen so far.
    pub fn counts(&self) -> Counts {
        *lock(&self.counts)
    }

    /// Waits until the server holds at least `n` requests; panics after `within`.
    pub async fn wait_held(&self, n: usize, within: Duration) {
        let started = Instant::now();
        while self.counts().held < n {
            assert!(started.elapsed() < within, "the server never held {n} requests: {:?}", self.counts());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Answers every request held, and every later one at once.
    pub fn release(&self) {
        let _ = self.release.send(true);
    }
}

/// Reads one HTTP/1.1 request from `sock`: its head, then the body its `content-length`
/// announces. `None` if the peer closes or fails first.
pub async fn read_request(sock: &mut TcpStream) -> Option<Vec<u8>> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let whole = loop {
        if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
            let body = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break end + 4 + body;
        }
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    };
    while seen.len() < whole {
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    Some(seen)
}
