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
//! At exit the runtime is shut down by an `atexit` hook ([`shutdown_runtime`]), before the
//! interpreter begins finalizing: a worker thread that touched Python after that point (to
//! complete an asyncio future, or to drop a Python object) would crash the process.
//!
//! Pooled HTTP connections belong to the runtime that opened them, so the HTTP client is per
//! runtime too: each runtime's worker threads carry their process's client in a thread-local
//! set when the thread starts, and [`ProcessHttp`] sends through it.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3_async_runtimes::generic::{ContextExt, Runtime};
use pyo3_async_runtimes::TaskLocals;
use switchboard_core::http::{HttpClient, HttpRequest, HttpResponse, ReqwestClient, TransportError};
use tokio::runtime::Handle;

/// How long the exit hook waits for in-flight tasks (a task waiting for the GIL finishes
/// quickly once the hook releases it; a stuck `on_token_refresh` callback is the slow case).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

struct ProcessRuntime {
    pid: u32,
    handle: Handle,
    /// The runtime itself, until the exit hook shuts it down.
    runtime: Option<tokio::runtime::Runtime>,
    /// Set by the exit hook: no new work starts in this process after it.
    closed: bool,
}

static RUNTIME: Mutex<Option<ProcessRuntime>> = Mutex::new(None);

thread_local! {
    static HTTP: RefCell<Option<Arc<dyn HttpClient>>> = const { RefCell::new(None) };
}

tokio::task_local! {
    static LOCALS: TaskLocals;
}

fn slot() -> std::sync::MutexGuard<'static, Option<ProcessRuntime>> {
    RUNTIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn closed_error() -> PyErr {
    PyRuntimeError::new_err("switchboard's runtime has shut down: the interpreter is exiting")
}

/// This process's runtime handle, built on first use (and again in a fork child). After the
/// exit hook ran, the handle of the stopped runtime: a task spawned on it is dropped at once.
fn handle() -> PyResult<Handle> {
    if let Ok(h) = Handle::try_current() {
        return Ok(h); // a task of our runtime spawning more work
    }
    let pid = std::process::id();
    let mut slot = slot();
    if let Some(rt) = slot.as_ref().filter(|rt| rt.pid == pid) {
        return Ok(rt.handle.clone());
    }
    if let Some(inherited) = slot.take() {
        // A fork child: the parent's worker threads do not exist here, so its runtime must
        // never be dropped (that would join them).
        std::mem::forget(inherited);
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
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start the tokio runtime: {e}")))?;
    let handle = rt.handle().clone();
    *slot = Some(ProcessRuntime { pid, handle: handle.clone(), runtime: Some(rt), closed: false });
    Ok(handle)
}

/// Drops `value` on a runtime thread, off the Python thread; here when the runtime has stopped
/// (a task spawned on a stopped runtime is dropped at once, with what it holds).
pub fn drop_off_thread<T: Send + 'static>(value: T) {
    match handle() {
        Ok(h) => drop(h.spawn(async move { drop(value) })),
        Err(_) => drop(value),
    }
}

/// The handle for new work from Python: an error once the exit hook has run.
fn open_handle() -> PyResult<Handle> {
    let pid = std::process::id();
    if slot().as_ref().is_some_and(|rt| rt.pid == pid && rt.closed) {
        return Err(closed_error());
    }
    handle()
}

/// The exit hook, registered with `atexit` when the module loads: it runs after the
/// interpreter joined its non-daemon threads and before finalization begins. It stops new
/// work, then shuts the runtime down with the GIL released, so a task that is completing an
/// asyncio future (which needs the GIL) can finish, and every worker thread has exited before
/// the interpreter starts tearing down. Tasks still pending are dropped; the Python objects
/// they hold go to pyo3's deferred reference pool, touching nothing.
#[pyfunction]
pub fn shutdown_runtime(py: Python<'_>) {
    let pid = std::process::id();
    let runtime = {
        let mut slot = slot();
        match slot.as_mut() {
            Some(rt) if rt.pid == pid => {
                rt.closed = true;
                rt.runtime.take()
            }
            _ => None,
        }
    };
    if let Some(rt) = runtime {
        py.detach(move || rt.shutdown_timeout(SHUTDOWN_GRACE));
    }
}

/// The pid whose runtime serves this process, starting it if needed (for fork tests).
#[pyfunction]
pub fn runtime_pid() -> PyResult<u32> {
    open_handle()?;
    Ok(slot().as_ref().map(|r| r.pid).unwrap_or_default())
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
    open_handle()?;
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
