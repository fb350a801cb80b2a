//! The one tokio runtime and the one HTTP client of the process, made fork-safe.
//!
//! `pyo3_async_runtimes::tokio` keeps its runtime in a `OnceLock` that a forked child inherits
//! with no worker threads (threads do not survive `fork()`), so every call in the child would
//! hang. This module keeps its own runtime, created lazily *per process*: the runtime is
//! recorded with the pid that built it, and a process whose pid differs (a fork child) builds
//! its own on first use; the parent's is abandoned, never dropped (dropping would join threads
//! that do not exist in the child). [`future_into_py`] turns a call into an asyncio future on
//! it; results reach their futures through one completer thread per process ([`Completer`]).
//!
//! The lock around that record is only taken by Python threads holding the GIL (tasks on the
//! runtime spawn through their own handle), and `os.fork()` runs with the GIL held, so a child
//! never inherits the lock held by a vanished thread.
//!
//! At exit the runtime and the completer are stopped by an `atexit` hook ([`shutdown_runtime`]),
//! before the interpreter begins finalizing: a thread that touched Python after that point (to
//! complete an asyncio future, or to drop a Python object) would crash the process.
//!
//! Pooled HTTP connections belong to the runtime that opened them, so the HTTP client is per
//! runtime too: each runtime's worker threads carry their process's client in a thread-local
//! set when the thread starts, and [`ProcessHttp`] sends through it.

use std::cell::RefCell;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use futures::channel::oneshot;
use futures::future::{BoxFuture, Either};
use futures::FutureExt;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::{intern, IntoPyObjectExt};
use pyo3_async_runtimes::err::RustPanic;
use pyo3_async_runtimes::TaskLocals;
use std::panic::AssertUnwindSafe;
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
    /// This process's completer thread, until the exit hook stops it.
    completer: Option<Completer>,
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
    let completer = Completer::start()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start switchboard's completer thread: {e}")))?;
    *slot = Some(ProcessRuntime {
        pid,
        handle: handle.clone(),
        runtime: Some(rt),
        closed: false,
        completer: Some(completer),
    });
    Ok(handle)
}

/// The handle and the completer for new work from Python: an error once the exit hook has run.
fn open_runtime() -> PyResult<(Handle, mpsc::Sender<Delivery>)> {
    let handle = handle()?;
    let pid = std::process::id();
    match slot().as_ref() {
        Some(rt) if rt.pid == pid && !rt.closed => {
            rt.completer.as_ref().map(|c| (handle, c.tx.clone())).ok_or_else(closed_error)
        }
        _ => Err(closed_error()),
    }
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
    let (runtime, completer) = {
        let mut slot = slot();
        match slot.as_mut() {
            Some(rt) if rt.pid == pid => {
                rt.closed = true;
                (rt.runtime.take(), rt.completer.take())
            }
            _ => (None, None),
        }
    };
    py.detach(move || {
        if let Some(rt) = runtime {
            rt.shutdown_timeout(SHUTDOWN_GRACE);
        }
        if let Some(c) = completer {
            c.stop();
        }
    });
}

/// The pid whose runtime serves this process, starting it if needed (for fork tests).
#[pyfunction]
pub fn runtime_pid() -> PyResult<u32> {
    open_runtime()?;
    Ok(slot().as_ref().map(|r| r.pid).unwrap_or_default())
}

/// Runs `fut` on this process's runtime and returns an asyncio future for it. Never blocks.
///
/// What `pyo3_async_runtimes::generic::future_into_py` does, with one task instead of two (it
/// spawns a task that spawns the call and awaits its join handle to report a panic; here the
/// call's own task catches the panic) and one completer thread instead of a blocking-pool
/// thread per result. Cancelling the asyncio future drops the call.
pub fn future_into_py<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let (handle, deliveries) = open_runtime()?;
    let locals = match task_locals() {
        Some(locals) => locals,
        None => TaskLocals::with_running_loop(py)?.copy_context(py)?,
    };
    let py_fut = locals.event_loop(py).call_method0(intern!(py, "create_future"))?;
    let (cancel_tx, cancel_rx) = oneshot::channel::<()>();
    py_fut.call_method1(intern!(py, "add_done_callback"), (OnDone(Some(cancel_tx)),))?;
    let future = py_fut.clone().unbind();
    let event_loop = locals.event_loop(py).unbind();
    handle.spawn(async move {
        let mut call = Box::pin(LOCALS.scope(locals, AssertUnwindSafe(fut).catch_unwind()));
        let outcome = match futures::future::select(call.as_mut(), cancel_rx).await {
            Either::Left((outcome, _)) => outcome,
            Either::Right((Ok(()), _)) => return, // cancelled: the call is dropped, nothing to deliver
            Either::Right((Err(_), _)) => call.await, // the future was dropped uncancelled: finish
        };
        let result = outcome.unwrap_or_else(|panic| {
            Err(RustPanic::new_err(format!("rust future panicked: {}", panic_message(&panic))))
        });
        let value: IntoValue = Box::new(move |py: Python<'_>| result.and_then(|v| v.into_py_any(py)));
        let _ = deliveries.send(Delivery { event_loop, future, value });
    });
    Ok(py_fut)
}

/// Makes a result's Python value, with the GIL.
type IntoValue = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// A result on its way to its asyncio future.
struct Delivery {
    event_loop: Py<PyAny>,
    future: Py<PyAny>,
    value: IntoValue,
}

/// The thread that hands results to their asyncio futures. Runtime workers never take the GIL
/// (a worker waiting for it stalls every task on it), and results do not each wake a thread of
/// their own that waits for the GIL (what `spawn_blocking` did: under load, hundreds of
/// blocking-pool threads queued on the GIL): the completer takes the GIL once for every
/// result that is waiting, up to [`Completer::BATCH`].
struct Completer {
    tx: mpsc::Sender<Delivery>,
    closing: Arc<AtomicBool>,
    exited: mpsc::Receiver<()>,
}

impl Completer {
    const BATCH: usize = 256;

    fn start() -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Delivery>();
        let (exited_tx, exited) = mpsc::channel();
        let closing = Arc::new(AtomicBool::new(false));
        let stop = closing.clone();
        std::thread::Builder::new().name("switchboard-complete".into()).spawn(move || {
            // Attached once for the thread's life, and detached (the GIL released) while it
            // waits: the thread keeps one Python thread state. Attached per batch, CPython made
            // and freed a thread state each time, and with it the frame stack its first Python
            // call maps (an `mmap`/`munmap` per result when calls come one at a time).
            // Only this thread receives: the lock is never contended (`detach` needs a `Sync` receiver).
            let rx = Mutex::new(rx);
            let rx = || rx.lock().unwrap_or_else(|e| e.into_inner());
            Python::attach(|py| loop {
                let first = py.detach(|| loop {
                    match rx().recv_timeout(Duration::from_millis(100)) {
                        Ok(d) => break Some(d),
                        Err(mpsc::RecvTimeoutError::Timeout) if !stop.load(Ordering::Acquire) => continue,
                        Err(_) => break None,
                    }
                });
                // Stopping: the exit hook, which holds the GIL until finalization, released it
                // to wait for this thread, so taking it back above cannot meet a finalizing
                // interpreter; nothing more of Python is touched.
                let Some(first) = first.filter(|_| !stop.load(Ordering::Acquire)) else { break };
                for d in std::iter::once(first).chain(rx().try_iter().take(Self::BATCH - 1)) {
                    // A panic must not end the thread: every later result would be lost.
                    let delivered = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        let future = d.future.into_bound(py);
                        deliver(d.event_loop.bind(py), &future, (d.value)(py))
                    }));
                    match delivered {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => e.print(py),
                        Err(panic) => {
                            eprintln!("switchboard: delivering a result panicked: {}", panic_message(&panic))
                        }
                    }
                }
            });
            let _ = exited_tx.send(());
        })?;
        Ok(Self { tx, closing, exited })
    }

    /// Called by the exit hook with the GIL released, after the runtime stopped: lets a
    /// delivery in progress finish, then waits (bounded) for the thread to end.
    fn stop(self) {
        self.closing.store(true, Ordering::Release);
        drop(self.tx);
        let _ = self.exited.recv_timeout(SHUTDOWN_GRACE);
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("unknown error")
}

/// Completes `future` with `result` from the event loop's thread, unless it was cancelled.
fn deliver(event_loop: &Bound<'_, PyAny>, future: &Bound<'_, PyAny>, result: PyResult<Py<PyAny>>) -> PyResult<()> {
    let py = future.py();
    if cancelled(future)? {
        return Ok(());
    }
    let (complete, value) = match result {
        Ok(v) => (future.getattr(intern!(py, "set_result"))?, v.into_bound(py)),
        Err(e) => (future.getattr(intern!(py, "set_exception"))?, e.into_value(py).into_bound(py).into_any()),
    };
    event_loop.call_method1(intern!(py, "call_soon_threadsafe"), (Complete, future, complete, value))?;
    Ok(())
}

fn cancelled(future: &Bound<'_, PyAny>) -> PyResult<bool> {
    future.call_method0(intern!(future.py(), "cancelled"))?.is_truthy()
}

/// The asyncio future's done callback: when it was cancelled, drops the call.
#[pyclass]
struct OnDone(Option<oneshot::Sender<()>>);

#[pymethods]
impl OnDone {
    fn __call__(&mut self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if cancelled(future)? {
            if let Some(tx) = self.0.take() {
                let _ = tx.send(());
            }
        }
        Ok(())
    }
}

/// Run on the event loop: completes the future unless it was cancelled in the meantime.
#[pyclass]
struct Complete;

#[pymethods]
impl Complete {
    fn __call__(
        &self,
        future: &Bound<'_, PyAny>,
        complete: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        if !cancelled(future)? {
            complete.call1((value,))?;
        }
        Ok(())
    }
}

/// The caller's asyncio task locals, when running inside a future made by [`future_into_py`].
pub fn task_locals() -> Option<TaskLocals> {
    LOCALS.try_with(Clone::clone).ok()
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
