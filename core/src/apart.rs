//! Work too long to run on a single-threaded runtime's own thread: reading or writing a long
//! answer. On the engine's serving threads (a single-threaded runtime each, every connection
//! of the thread on it) such work would hold the thread's other connections for as long.

use tokio::runtime::{Handle, RuntimeFlavor};

/// A body or answer at least this long is read or written on one of a single-threaded
/// runtime's blocking threads. Reading a page of 10,000 GitHub issues (8 MB) took about half
/// of the engine's 15-20 ms of CPU for that execute (`benches/PROFILE.md`, section 4); at
/// about 1 ms per MB, this length takes some 0.25 ms, well above the cost of the hand-over (a
/// thread's wake-up there and back).
pub const LONG_BYTES: usize = 256 * 1024;

/// The runtime to hand work on `len` bytes to, when it should leave the thread that runs the
/// call: `len` is at least [`LONG_BYTES`] and the current runtime is single-threaded. On a
/// multi-threaded runtime (the bindings', the engine's shared one) it stays: the other workers
/// take the tasks queued behind it, and handing a 10,000-record page over cost a local call 12%
/// more CPU and a quarter more peak memory (the records built on one thread and freed on
/// another).
pub(crate) fn runtime_to_leave_for(len: usize) -> Option<Handle> {
    if len < LONG_BYTES {
        return None;
    }
    let handle = Handle::try_current().ok()?;
    (handle.runtime_flavor() == RuntimeFlavor::CurrentThread).then_some(handle)
}

/// `f`'s result, computed on one of `handle`'s blocking threads. A panic in `f` continues
/// here; the runtime shutting down meanwhile is an error (`f` may not have run).
pub(crate) async fn on_a_blocking_thread<T: Send + 'static>(
    handle: Handle,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, RuntimeStopped> {
    match handle.spawn_blocking(f).await {
        Ok(done) => Ok(done),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(RuntimeStopped),
    }
}

/// The runtime shut down before work handed to its blocking threads ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RuntimeStopped;

impl std::fmt::Display for RuntimeStopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the runtime stopped while a long answer was being read or written")
    }
}
