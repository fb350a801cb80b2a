//! An in-process API for the runtime's HTTP seam: answers each request from a script of
//! answers, or else from a handler, or else with a connection error, and records every request.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use serde_json::Value;
use switchboard_core::http::{HttpClient, HttpRequest, HttpResponse, TransportError};

type Handler = dyn Fn(&HttpRequest) -> (u16, Vec<(String, String)>, Value) + Send + Sync;

/// An API in-process (see the module).
#[derive(Default)]
pub struct Seam {
    handler: Option<Box<Handler>>,
    script: Mutex<VecDeque<Result<HttpResponse, TransportError>>>,
    sent: Mutex<Vec<HttpRequest>>,
}

impl std::fmt::Debug for Seam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seam")
    }
}

impl Seam {
    /// Answers every request with `handler`'s status, headers and JSON body.
    pub fn new(
        handler: impl Fn(&HttpRequest) -> (u16, Vec<(String, String)>, Value) + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self { handler: Some(Box::new(handler)), ..Default::default() })
    }

    /// Answers only from the script ([`Seam::answer`], [`Seam::fail`]); past its end, a
    /// connection error.
    pub fn scripted() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Answers every request with `200 {}`.
    pub fn ok() -> Arc<Self> {
        Self::new(|_| (200, Vec::new(), Value::Object(Default::default())))
    }

    /// Scripts the next answer.
    pub fn answer(&self, status: u16, headers: &[(&str, &str)], body: Value) {
        let r = HttpResponse {
            status,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: serde_json::to_vec(&body).unwrap_or_default(),
        };
        self.script.lock().unwrap_or_else(|e| e.into_inner()).push_back(Ok(r));
    }

    /// Scripts the next answer with `body` sent as it is written (spacing and escapes kept).
    pub fn answer_text(&self, status: u16, body: &str) {
        let r = HttpResponse { status, headers: Vec::new(), body: body.as_bytes().to_vec() };
        self.script.lock().unwrap_or_else(|e| e.into_inner()).push_back(Ok(r));
    }

    /// Scripts a transport failure as the next answer.
    pub fn fail(&self, e: TransportError) {
        self.script.lock().unwrap_or_else(|e| e.into_inner()).push_back(Err(e));
    }

    /// Every request sent so far.
    pub fn sent(&self) -> Vec<HttpRequest> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The URL of every request sent so far.
    pub fn urls(&self) -> Vec<String> {
        self.sent().into_iter().map(|r| r.url).collect()
    }
}

impl HttpClient for Seam {
    fn send(&self, req: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let scripted = self.script.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
        let answer = match (scripted, &self.handler) {
            (Some(a), _) => a,
            (None, Some(h)) => {
                let (status, headers, body) = h(&req);
                Ok(HttpResponse { status, headers, body: serde_json::to_vec(&body).unwrap_or_default() })
            }
            (None, None) => Err(TransportError::Connect("no scripted answer".into())),
        };
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).push(req);
        Box::pin(async move { answer })
    }
}
