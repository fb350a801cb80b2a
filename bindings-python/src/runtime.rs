//! The one tokio runtime and the one HTTP client of the process, made fork-safe.
//!
//! `pyo3_async_runtimes::tokio` keeps its runtime in a `OnceLock` that a forked child inherits
//! with no worker threads (threads do not survive `fork()`), so every call in the child would
//! hang. This module keeps its own runtime, created lazily *per process*: the runtime is
//! recorded with the pid that built it, and a process whose pid differs (a fork child) builds
//! its own on first use; the parent's is abandoned, never dropped (dropping would join threads
//! that do not exist in the child). [`future_into_py`] turns a call into an asyncio future on
//! it; results reach their futures through the event loop's own thread ([`Inbox`]).
//!
//! The lock around that record is only taken by Python threads holding the GIL (tasks on the
//! runtime spawn through their own handle), and `os.fork()` runs with the GIL held, so a child
//! never inherits the lock held by a vanished thread.
//!
//! At exit the runtime is stopped by an `atexit` hook ([`shutdown_runtime`]), before the
//! interpreter begins finalizing: a thread that touched Python after that point (to complete
//! an asyncio future, or to drop a Python object) would crash the process. Runtime workers
//! never take the GIL; only the threads the user's callbacks run on do, and the hook waits for
//! them.
//!
//! Pooled HTTP connections belong to the runtime that opened them, so the HTTP client is per
//! runtime too: each runtime's worker threads carry their process's client in a thread-local
//! set when the thread starts, and [`ProcessHttp`] sends through it.

use std::cell::RefCell;
use std::future::Future;
#[cfg(not(target_os = "linux"))]
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
#[cfg(not(target_os = "linux"))]
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
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
use switchboard_core::http::{HttpClient, HttpRequest, HttpResponse, NetClient, TransportError};
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
    let http: Arc<dyn HttpClient> = match NetClient::new() {
        Ok(c) => Arc::new(c),
        Err(_) => NetClient::shared(), // a client that reports the failure on each call
    };
    let rt = switchboard_core::sdk::runtime_builder()
        .on_thread_start(move || HTTP.with(|h| *h.borrow_mut() = Some(http.clone())))
        .build()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start the tokio runtime: {e}")))?;
    let handle = rt.handle().clone();
    *slot = Some(ProcessRuntime { pid, handle: handle.clone(), runtime: Some(rt), closed: false });
    Ok(handle)
}

/// The handle for new work from Python, and this process's pid: an error once the exit hook
/// has run.
fn open_runtime() -> PyResult<(Handle, u32)> {
    let pid = std::process::id();
    if !matches!(slot().as_ref(), Some(rt) if rt.pid == pid) {
        handle()?; // the first call in this process
    }
    match slot().as_ref() {
        Some(rt) if rt.pid == pid && !rt.closed => Ok((rt.handle.clone(), pid)),
        _ => Err(closed_error()),
    }
}

/// The exit hook, registered with `atexit` when the module loads: it runs after the
/// interpreter joined its non-daemon threads and before finalization begins. It stops new
/// work, then shuts the runtime down with the GIL released, so a callback of the user's that
/// is running (which needs the GIL) can finish, and every worker thread has exited before the
/// interpreter starts tearing down. Tasks still pending are dropped; the Python objects they
/// hold go to pyo3's deferred reference pool, touching nothing. Last, with the GIL, this
/// thread's inbox lets go of its loop and of the results nobody collected.
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
    py.detach(move || {
        if let Some(rt) = runtime {
            rt.shutdown_timeout(SHUTDOWN_GRACE);
        }
    });
    if let Some((inbox, event_loop)) = INBOX.with(|cell| cell.borrow_mut().take()) {
        if inbox.pid == pid {
            drop(std::mem::take(&mut *inbox.queue.lock().unwrap_or_else(|e| e.into_inner())));
            drop(event_loop);
        } else {
            std::mem::forget((inbox, event_loop));
        }
    }
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
/// call's own task catches the panic) and without a thread taking the GIL to complete the
/// future: the task leaves its result in the calling thread's [`Inbox`] and wakes the event
/// loop through the inbox's bell, and the loop completes the future itself. Must be called
/// on the thread running the event loop (every native async method is). Cancelling the asyncio
/// future drops the call.
pub fn future_into_py<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let (handle, pid) = open_runtime()?;
    let locals = TaskLocals::with_running_loop(py)?.copy_context(py)?;
    let event_loop = locals.event_loop(py);
    let inbox = Inbox::for_loop(&event_loop, pid)?;
    let py_fut = event_loop.call_method0(intern!(py, "create_future"))?;
    let (cancel_tx, cancel_rx) = oneshot::channel::<()>();
    py_fut.call_method1(intern!(py, "add_done_callback"), (OnDone(Some(cancel_tx)),))?;
    let future = py_fut.clone().unbind();
    let event_loop = event_loop.unbind();
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
        inbox.post(Delivery { event_loop, future, value });
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

thread_local! {
    /// This thread's inbox, and the event loop its bell was last registered with.
    static INBOX: RefCell<Option<(Arc<Inbox>, Py<PyAny>)>> = const { RefCell::new(None) };
}

/// Where results wait for the event loops of one thread (there is one per thread that calls
/// into this module from a running loop), with the bell that wakes them.
///
/// Runtime workers never take the GIL: a worker waiting for it would stall every task on it,
/// and one taking it after the interpreter began finalizing would crash the process. So a
/// finished call does not complete its asyncio future itself, nor hand it to a thread that
/// would take the GIL to do so (one thread per result, as `spawn_blocking` did, or one
/// completer thread per process, as this module had: a second thread hop and GIL hand-over on
/// every call). It leaves the result here and rings the bell that the loop watches
/// (`loop.add_reader`); the loop, woken, runs [`Drain`] on its own thread, which completes every
/// future waiting. The bell is rung only when no ring is pending, so a burst of results costs
/// one wake-up.
struct Inbox {
    /// The process that made the bell: a fork child makes its own.
    pid: u32,
    queue: Mutex<Vec<Delivery>>,
    /// The bell was rung and the loop has not drained since.
    signaled: AtomicBool,
    bell: Bell,
}

/// What wakes the event loop: on Linux an eventfd (a counter in the kernel: ringing it is one
/// small write with nothing to allocate, where a socket queues a buffer for every byte);
/// elsewhere a socket pair.
#[cfg(target_os = "linux")]
struct Bell(std::os::fd::OwnedFd);

#[cfg(target_os = "linux")]
impl Bell {
    fn new() -> std::io::Result<Self> {
        use rustix::event::{eventfd, EventfdFlags};
        Ok(Self(eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?))
    }

    /// The descriptor the loop watches.
    fn fd(&self) -> i32 {
        self.0.as_raw_fd()
    }

    fn ring(&self) {
        // Fails only when the counter would overflow: the loop has a wake-up pending anyway.
        let _ = rustix::io::write(&self.0, &1u64.to_ne_bytes());
    }

    /// Takes every ring (resets the counter; nothing to take is fine).
    fn silence(&self) {
        let _ = rustix::io::read(&self.0, &mut [0u8; 8]);
    }
}

#[cfg(not(target_os = "linux"))]
struct Bell {
    ring: UnixStream,
    watched: UnixStream,
}

#[cfg(not(target_os = "linux"))]
impl Bell {
    fn new() -> std::io::Result<Self> {
        let (ring, watched) = UnixStream::pair()?;
        ring.set_nonblocking(true)?;
        watched.set_nonblocking(true)?;
        Ok(Self { ring, watched })
    }

    fn fd(&self) -> i32 {
        self.watched.as_raw_fd()
    }

    fn ring(&self) {
        // WouldBlock means the socket is full of unread bytes: the loop will wake anyway.
        let _ = (&self.ring).write(&[1]);
    }

    fn silence(&self) {
        let mut bytes = [0u8; 64];
        loop {
            match (&self.watched).read(&mut bytes) {
                Ok(n) if n == bytes.len() => continue,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                _ => break, // fewer bytes than asked (all there were), or WouldBlock: drained
            }
        }
    }
}

impl Inbox {
    /// This thread's inbox, registered with `event_loop` (the thread's running loop); `pid`
    /// is this process's.
    fn for_loop(event_loop: &Bound<'_, PyAny>, pid: u32) -> PyResult<Arc<Inbox>> {
        let registered = INBOX.with(|cell| {
            let cell = cell.borrow();
            cell.as_ref()
                .filter(|(inbox, watched_by)| inbox.pid == pid && watched_by.is(event_loop))
                .map(|(i, _)| i.clone())
        });
        if let Some(inbox) = registered {
            return Ok(inbox);
        }
        let inbox = match INBOX.with(|cell| cell.borrow_mut().take()) {
            Some((inbox, _)) if inbox.pid == pid => inbox,
            // Inherited through fork(): its bell is shared with the parent, whose workers
            // ring it; the child leaves it alone (never dropped: its Python objects
            // belong to loops of the parent's).
            Some(inherited) => {
                std::mem::forget(inherited);
                Arc::new(Inbox::new(pid)?)
            }
            None => Arc::new(Inbox::new(pid)?),
        };
        // Registered again on a loop that had it (loops taking turns on one thread) only
        // replaces the loop's reader; the reader holds the inbox, so the bell outlives every
        // loop watching it.
        let py = event_loop.py();
        event_loop.call_method1(intern!(py, "add_reader"), (inbox.bell.fd(), Drain(inbox.clone())))?;
        INBOX.with(|cell| *cell.borrow_mut() = Some((inbox.clone(), event_loop.clone().unbind())));
        Ok(inbox)
    }

    fn new(pid: u32) -> PyResult<Self> {
        let bell = Bell::new()
            .map_err(|e| PyRuntimeError::new_err(format!("cannot make switchboard's wake-up descriptor: {e}")))?;
        Ok(Self { pid, queue: Mutex::new(Vec::new()), signaled: AtomicBool::new(false), bell })
    }

    /// From a runtime worker: leaves the result and wakes the loop unless a wake-up is pending.
    fn post(&self, delivery: Delivery) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).push(delivery);
        if !self.signaled.swap(true, Ordering::SeqCst) {
            self.bell.ring();
        }
    }
}

/// The inbox's reader on the event loop: completes every result waiting.
#[pyclass]
struct Drain(Arc<Inbox>);

#[pymethods]
impl Drain {
    fn __call__(&self, py: Python<'_>) {
        let inbox = &self.0;
        // The order matters: the rings are taken, then the flag is cleared, then the queue is
        // taken. A result posted before the flag is cleared is in the batch taken below; one
        // posted after it rings again, after the silencing above, so the loop wakes again.
        // (Clearing the flag before the silencing could leave it set with no ring pending, and
        // every later result unannounced.)
        inbox.bell.silence();
        inbox.signaled.store(false, Ordering::SeqCst);
        let batch = std::mem::take(&mut *inbox.queue.lock().unwrap_or_else(|e| e.into_inner()));
        let running = pyo3_async_runtimes::get_running_loop(py).ok();
        for d in batch {
            // A panic or an error must not stop the batch: the later results would be lost.
            let delivered = std::panic::catch_unwind(AssertUnwindSafe(|| {
                let future = d.future.into_bound(py);
                let event_loop = d.event_loop.into_bound(py);
                let here = running.as_ref().is_some_and(|r| r.is(&event_loop));
                deliver(&event_loop, here, &future, (d.value)(py))
            }));
            match delivered {
                Ok(Ok(())) => {}
                Ok(Err(e)) => e.print(py),
                Err(panic) => eprintln!("switchboard: delivering a result panicked: {}", panic_message(&panic)),
            }
        }
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("unknown error")
}

/// Completes `future` with `result` unless it was cancelled: at once when its loop is the one
/// running here (`here`), else through that loop's `call_soon_threadsafe` (a loop that once
/// took turns with it on this thread; closed, it has nobody left to complete).
fn deliver(
    event_loop: &Bound<'_, PyAny>,
    here: bool,
    future: &Bound<'_, PyAny>,
    result: PyResult<Py<PyAny>>,
) -> PyResult<()> {
    let py = future.py();
    if cancelled(future)? {
        return Ok(());
    }
    let (complete, value) = match result {
        Ok(v) => (future.getattr(intern!(py, "set_result"))?, v.into_bound(py)),
        Err(e) => (future.getattr(intern!(py, "set_exception"))?, e.into_value(py).into_bound(py).into_any()),
    };
    if here {
        complete.call1((value,))?;
    } else if !event_loop.call_method0(intern!(py, "is_closed"))?.is_truthy()? {
        event_loop.call_method1(intern!(py, "call_soon_threadsafe"), (Complete, future, complete, value))?;
    }
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
        let client = HTTP.with(|h| h.borrow().clone()).unwrap_or_else(NetClient::shared);
        Box::pin(async move { client.send(req).await })
    }
}
