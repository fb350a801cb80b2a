//! The one tokio runtime and the one HTTP client of the process, made fork-safe.
//!
//! `pyo3_async_runtimes::tokio` keeps its runtime in a `OnceLock` that a forked child inherits
//! with no worker threads (threads do not survive `fork()`), so every call in the child would
//! hang. This module implements the generic `pyo3_async_runtimes` runtime traits over a runtime
//! that is created lazily *per process*: the runtime is recorded with the pid that built it, and
//! a process whose pid differs (a fork child) builds its own on first use; the parent's is
//! abandoned, never dropped (dropping would join threads that do not exist in the child).
//!
//! The lock around that record is only taken by Python threads holding the GIL (tasks on the
//! runtime spawn through their own handle), and `os.fork()` runs with the GIL held, so a child
//! never inherits the lock held by a vanished thread.
//!
//! Pooled HTTP connections belong to the runtime that opened them, so the HTTP client is per
//! runtime too: each runtime's worker threads carry their process's client in a thread-local
//! set when the thread starts, and [`ProcessHttp`] sends through it.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use pyo3::prelude::*;
use pyo3_async_runtimes::generic::{ContextExt, Runtime};
use pyo3_async_runtimes::TaskLocals;
use switchboard_core::http::{HttpClient, HttpRequest, HttpResponse, ReqwestClient, TransportError};
use tokio::runtime::Handle;

struct ProcessRuntime {
    pid: u32,
    handle: Handle,
}

static RUNTIME: Mutex<Option<ProcessRuntime>> = Mutex::new(None);

thread_local! {
    static HTTP: RefCell<Option<Arc<dyn HttpClient>>> = const { RefCell::new(None) };
}

tokio::task_local! {
    static LOCALS: TaskLocals;
}

/// This process's runtime, built on first use (and again in a fork child).
fn handle() -> PyResult<Handle> {
    if let Ok(h) = Handle::try_current() {
        return Ok(h); // a task of our runtime spawning more work
    }
    let pid = std::process::id();
    let mut slot = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(rt) = slot.as_ref().filter(|rt| rt.pid == pid) {
        return Ok(rt.handle.clone());
    }
    let http: Arc<dyn HttpClient> = match ReqwestClient::new() {
        Ok(c) => Arc::new(c),
        Err(_) => ReqwestClient::shared(), // a client that reports the failure on each call
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("switchboard")
        .on_thread_start(move || HTTP.with(|h| *h.borrow_mut() = Some(http.clone())))
        .build()
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(format!("cannot start the tokio runtime: {e}")))?;
    // Leaked on purpose: a runtime is never dropped, so a fork child never joins dead threads.
    let rt: &'static tokio::runtime::Runtime = Box::leak(Box::new(rt));
    *slot = Some(ProcessRuntime { pid, handle: rt.handle().clone() });
    Ok(rt.handle().clone())
}

/// The pid whose runtime serves this process, starting it if needed (for fork tests).
#[pyfunction]
pub fn runtime_pid() -> PyResult<u32> {
    handle()?;
    Ok(RUNTIME.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|r| r.pid).unwrap_or_default())
}

/// The `pyo3_async_runtimes` runtime of this module (see the module docs).
pub struct Rt;

impl Runtime for Rt {
    type JoinError = tokio::task::JoinError;
    type JoinHandle = tokio::task::JoinHandle<()>;

    fn spawn<F>(fut: F) -> Self::JoinHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match handle() {
            Ok(h) => h.spawn(fut),
            // `future_into_py` below starts the runtime first, so this is unreachable in practice.
            Err(e) => panic!("{e}"),
        }
    }

    fn spawn_blocking<F>(f: F) -> Self::JoinHandle
    where
        F: FnOnce() + Send + 'static,
    {
        match handle() {
            Ok(h) => h.spawn_blocking(f),
            Err(e) => panic!("{e}"),
        }
    }
}

impl ContextExt for Rt {
    fn scope<F, R>(locals: TaskLocals, fut: F) -> Pin<Box<dyn Future<Output = R> + Send>>
    where
        F: Future<Output = R> + Send + 'static,
    {
        Box::pin(LOCALS.scope(locals, fut))
    }

    fn get_task_locals() -> Option<TaskLocals> {
        LOCALS.try_with(Clone::clone).ok()
    }
}

/// Runs `fut` on this process's runtime and returns an asyncio future for it. Never blocks.
pub fn future_into_py<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    handle()?;
    pyo3_async_runtimes::generic::future_into_py::<Rt, F, T>(py, fut)
}

/// The caller's asyncio task locals, when running inside a future made by [`future_into_py`].
pub fn task_locals() -> Option<TaskLocals> {
    Rt::get_task_locals()
}

/// Sends through the HTTP client of the runtime thread it runs on, so a handle made before a
/// fork never reuses connections of the parent's runtime.
#[derive(Debug)]
pub struct ProcessHttp;

impl ProcessHttp {
    /// The seam as core takes it.
    pub fn shared() -> Arc<dyn HttpClient> {
        Arc::new(ProcessHttp)
    }
}

impl HttpClient for ProcessHttp {
    fn send(&self, req: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let client = HTTP.with(|h| h.borrow().clone()).unwrap_or_else(ReqwestClient::shared);
        Box::pin(async move { client.send(req).await })
    }
}
