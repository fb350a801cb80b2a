//! The process's tokio runtime for Python, and the way results get back to asyncio.
//!
//! `pyo3_async_runtimes::tokio` keeps its runtime in a `OnceLock` that a forked child inherits
//! with no worker threads, so every call in the child would hang. This module runs calls on
//! core's [`ProcessRuntime`] instead (one runtime and HTTP client per process, made again in a
//! fork child; its lock is only taken by threads holding the GIL, which `os.fork()` holds too).
//! [`future_into_py`] turns a call into an asyncio future on it; results reach their futures
//! through the event loop's own thread ([`Inbox`]).
//!
//! At exit the runtime is stopped by an `atexit` hook ([`shutdown_runtime`]), before the
//! interpreter begins finalizing: a thread that touched Python after that point (to complete
//! an asyncio future, or to drop a Python object) would crash the process. Runtime workers
//! never take the GIL; only the threads the user's callbacks run on do, and the hook waits for
//! them.

use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::channel::oneshot;
use futures::future::Either;
use futures::FutureExt;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::{intern, IntoPyObjectExt};
use pyo3_async_runtimes::TaskLocals;
use std::panic::AssertUnwindSafe;
use switchboard_core::sdk::process::{ProcessRuntime, Unavailable};
use switchboard_core::sdk::wake;
use tokio::runtime::Handle;

/// How long the exit hook waits for in-flight tasks (a task waiting for the GIL finishes
/// quickly once the hook releases it; a stuck `on_token_refresh` callback is the slow case).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

static RUNTIME: ProcessRuntime = ProcessRuntime::new();

tokio::task_local! {
    static LOCALS: TaskLocals;
}

/// The handle for new work from Python, and this process's pid: an error once the exit hook
/// has run.
fn open_runtime() -> PyResult<(Handle, u32)> {
    RUNTIME.open().map_err(|e| match e {
        Unavailable::Closed => {
            PyRuntimeError::new_err("switchboard's runtime has shut down: the interpreter is exiting")
        }
        Unavailable::Start(e) => PyRuntimeError::new_err(format!("cannot start the tokio runtime: {e}")),
    })
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
    let runtime = RUNTIME.close();
    py.detach(move || {
        if let Some(rt) = runtime {
            rt.shutdown_timeout(SHUTDOWN_GRACE);
        }
    });
    if let Some((inbox, event_loop)) = INBOX.with(|cell| cell.borrow_mut().take()) {
        if inbox.pid == std::process::id() {
            drop(inbox.deliveries.take());
            drop(event_loop);
        } else {
            std::mem::forget((inbox, event_loop));
        }
    }
}

/// The pid whose runtime serves this process, starting it if needed (for fork tests).
#[pyfunction]
pub fn runtime_pid() -> PyResult<u32> {
    Ok(open_runtime()?.1)
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
        let result = outcome.unwrap_or_else(|panic| Err(crate::error::to_py(wake::panicked(&*panic))));
        let value: IntoValue = Box::new(move |py: Python<'_>| result.and_then(|v| v.into_py_any(py)));
        inbox.deliveries.post(Delivery { event_loop, future, value });
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
/// into this module from a running loop): core's [`wake::Inbox`], whose bell the loop watches
/// (`loop.add_reader`); the loop, woken, runs [`Drain`] on its own thread, which completes
/// every future waiting. Runtime workers never take the GIL: a worker waiting for it would
/// stall every task on it, and one taking it after the interpreter began finalizing would crash
/// the process. So a finished call does not complete its asyncio future itself, nor hand it to
/// a thread that would take the GIL to do so (one thread per result, as `spawn_blocking` did,
/// or one completer thread per process, as this module had: a second thread hop and GIL
/// hand-over on every call).
struct Inbox {
    /// The process that made the bell: a fork child makes its own.
    pid: u32,
    deliveries: wake::Inbox<Delivery>,
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
        event_loop.call_method1(intern!(py, "add_reader"), (inbox.deliveries.fd(), Drain(inbox.clone())))?;
        INBOX.with(|cell| *cell.borrow_mut() = Some((inbox.clone(), event_loop.clone().unbind())));
        Ok(inbox)
    }

    fn new(pid: u32) -> PyResult<Self> {
        let deliveries = wake::Inbox::new()
            .map_err(|e| PyRuntimeError::new_err(format!("cannot make switchboard's wake-up descriptor: {e}")))?;
        Ok(Self { pid, deliveries })
    }
}

/// The inbox's reader on the event loop: completes every result waiting.
#[pyclass]
struct Drain(Arc<Inbox>);

#[pymethods]
impl Drain {
    fn __call__(&self, py: Python<'_>) {
        let batch = self.0.deliveries.take();
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
                Err(panic) => eprintln!("switchboard: delivering a result panicked: {}", wake::panic_message(&*panic)),
            }
        }
    }
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
