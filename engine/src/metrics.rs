//! Prometheus text metrics, kept as plain atomic counters.
//!
//! Every label comes from a closed set, so no request can add a series: HTTP requests are
//! counted by method (the standard ones, else `other`), route template (`unmatched` for a path
//! no route serves) and status.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::Method;

/// The route label of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

/// The method label: one of the standard methods the engine could serve, else `other`.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::HEAD => "HEAD",
        _ => "other",
    }
}

/// Why the server closed a connection on its own.
#[derive(Debug, Clone, Copy)]
pub enum ConnectionTimeout {
    /// The request head did not arrive within the header read timeout.
    Header,
    /// No new request within the idle timeout.
    Idle,
}

/// Counters the engine exposes on `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, String, u16), u64>>,
    executions: Mutex<BTreeMap<(String, String), u64>>,
    execution_ms_sum: AtomicU64,
    execution_count: AtomicU64,
    tokens_issued: Mutex<BTreeMap<String, u64>>,
    signing_key_reloads: AtomicU64,
    widget_origin_loads: AtomicU64,
    connections_open: AtomicU64,
    header_timeouts: AtomicU64,
    idle_timeouts: AtomicU64,
    audit_dropped: AtomicU64,
    /// The live connections of each serving thread, in thread order ([`crate::serve`]).
    serving_threads: Mutex<Vec<Arc<AtomicUsize>>>,
}

impl Metrics {
    /// One answered request; `route` is the template of the route that matched (none: no
    /// route did).
    pub fn request(&self, method: &Method, route: Option<&str>, status: u16) {
        let key = (method_label(method), route.unwrap_or(UNMATCHED).to_string(), status);
        *self.requests.lock().unwrap_or_else(|e| e.into_inner()).entry(key).or_default() += 1;
    }

    /// The serving threads now serving (none: requests are served on the shared runtime),
    /// each by the count of its live connections.
    pub fn serving_threads(&self, live: Vec<Arc<AtomicUsize>>) {
        *self.serving_threads.lock().unwrap_or_else(|e| e.into_inner()) = live;
    }

    /// A connection was accepted (`true`) or has ended (`false`).
    pub fn connection(&self, open: bool) {
        if open {
            self.connections_open.fetch_add(1, Ordering::Relaxed);
        } else {
            self.connections_open.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// The server closed a connection that was too slow or idle too long.
    pub fn connection_timeout(&self, why: ConnectionTimeout) {
        match why {
            ConnectionTimeout::Header => &self.header_timeouts,
            ConnectionTimeout::Idle => &self.idle_timeouts,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// One execution of a connector operation.
    pub fn execution(&self, connector: &str, outcome: &str, ms: u64) {
        *self
            .executions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((connector.to_string(), outcome.to_string()))
            .or_default() += 1;
        self.execution_ms_sum.fetch_add(ms, Ordering::Relaxed);
        self.execution_count.fetch_add(1, Ordering::Relaxed);
    }

    /// One token issued.
    pub fn token(&self, kind: &str) {
        *self.tokens_issued.lock().unwrap_or_else(|e| e.into_inner()).entry(kind.to_string()).or_default() += 1;
    }

    /// The signing keys were read from the database.
    pub fn signing_key_reload(&self) {
        self.signing_key_reloads.fetch_add(1, Ordering::Relaxed);
    }

    /// The widget origins were read from the database.
    pub fn widget_origin_load(&self) {
        self.widget_origin_loads.fetch_add(1, Ordering::Relaxed);
    }

    /// `n` audit records were dropped: the queue stayed full, or storage refused their batch.
    pub fn audit_dropped(&self, n: u64) {
        self.audit_dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP switchboard_http_requests_total HTTP requests answered.\n# TYPE switchboard_http_requests_total counter\n");
        for ((m, r, s), n) in self.requests.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            out.push_str(&format!(
                "switchboard_http_requests_total{{method=\"{m}\",route=\"{r}\",status=\"{s}\"}} {n}\n"
            ));
        }
        out.push_str("# HELP switchboard_executions_total Connector operations executed.\n# TYPE switchboard_executions_total counter\n");
        for ((c, o), n) in self.executions.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            out.push_str(&format!("switchboard_executions_total{{connector=\"{c}\",outcome=\"{o}\"}} {n}\n"));
        }
        out.push_str("# HELP switchboard_execution_duration_ms Time spent executing operations.\n# TYPE switchboard_execution_duration_ms summary\n");
        out.push_str(&format!(
            "switchboard_execution_duration_ms_sum {}\n",
            self.execution_ms_sum.load(Ordering::Relaxed)
        ));
        out.push_str(&format!(
            "switchboard_execution_duration_ms_count {}\n",
            self.execution_count.load(Ordering::Relaxed)
        ));
        out.push_str(
            "# HELP switchboard_tokens_issued_total Tokens issued.\n# TYPE switchboard_tokens_issued_total counter\n",
        );
        for (k, n) in self.tokens_issued.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            out.push_str(&format!("switchboard_tokens_issued_total{{kind=\"{k}\"}} {n}\n"));
        }
        out.push_str("# HELP switchboard_signing_key_reloads_total Reads of the signing keys from the database.\n# TYPE switchboard_signing_key_reloads_total counter\n");
        out.push_str(&format!(
            "switchboard_signing_key_reloads_total {}\n",
            self.signing_key_reloads.load(Ordering::Relaxed)
        ));
        out.push_str("# HELP switchboard_widget_origin_loads_total Reads of the registered widget origins from the database.\n# TYPE switchboard_widget_origin_loads_total counter\n");
        out.push_str(&format!(
            "switchboard_widget_origin_loads_total {}\n",
            self.widget_origin_loads.load(Ordering::Relaxed)
        ));
        out.push_str("# HELP switchboard_connections_open HTTP connections being served.\n# TYPE switchboard_connections_open gauge\n");
        out.push_str(&format!("switchboard_connections_open {}\n", self.connections_open.load(Ordering::Relaxed)));
        let threads = self.serving_threads.lock().unwrap_or_else(|e| e.into_inner());
        if !threads.is_empty() {
            out.push_str("# HELP switchboard_serving_thread_connections Connections each serving thread serves.\n# TYPE switchboard_serving_thread_connections gauge\n");
            for (i, live) in threads.iter().enumerate() {
                let n = live.load(Ordering::Relaxed);
                out.push_str(&format!("switchboard_serving_thread_connections{{thread=\"{i}\"}} {n}\n"));
            }
        }
        drop(threads);
        out.push_str("# HELP switchboard_connection_timeouts_total Connections closed for a slow request head or a long idle spell.\n# TYPE switchboard_connection_timeouts_total counter\n");
        out.push_str(&format!(
            "switchboard_connection_timeouts_total{{phase=\"header\"}} {}\n",
            self.header_timeouts.load(Ordering::Relaxed)
        ));
        out.push_str(&format!(
            "switchboard_connection_timeouts_total{{phase=\"idle\"}} {}\n",
            self.idle_timeouts.load(Ordering::Relaxed)
        ));
        out.push_str("# HELP switchboard_audit_dropped_total Audit records not written (queue full past the wait, or storage refused them).\n# TYPE switchboard_audit_dropped_total counter\n");
        out.push_str(&format!("switchboard_audit_dropped_total {}\n", self.audit_dropped.load(Ordering::Relaxed)));
        out
    }
}
