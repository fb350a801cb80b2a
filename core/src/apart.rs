//! Work too long to run on a runtime's own thread: reading or writing a long answer. On the
//! engine's serving threads (a single-threaded runtime each, every connection of the thread on
//! it) such work would hold the thread's other connections for as long; on a binding's shared
//! runtime it would hold a worker.

/// A body or answer at least this long is read or written on one of the runtime's blocking
/// threads. Reading a page of 10,000 GitHub issues (8 MB) took about half of the engine's
/// 15-20 ms of CPU for that execute (`benches/PROFILE.md`, section 4); at about 1 ms per MB,
/// this length takes some 0.25 ms, well above the cost of the hand-over (a thread's wake-up
/// there and back).
pub const LONG_BYTES: usize = 256 * 1024;

/// `f`'s result, computed on one of the current runtime's blocking threads, or in place
/// outside a runtime. A panic in `f` continues here; a runtime shutting down meanwhile is an
/// error (`f` may not have run).
pub(crate) async fn on_a_blocking_thread<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, RuntimeStopped> {
    let Ok(handle) = tokio::runtime::Handle::try_current() else { return Ok(f()) };
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
