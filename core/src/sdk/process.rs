//! A binding's runtime and HTTP client, made per process: for languages whose programs fork.
//!
//! A forked child inherits the parent's memory but none of its threads: a runtime made before
//! the fork has no workers in the child, so every call there would hang, and dropping it would
//! join threads that do not exist. [`ProcessRuntime`] records the pid that built its runtime; a
//! process whose pid differs (a fork child) builds its own on first use and forgets the
//! parent's, never dropping it.
//!
//! Pooled HTTP connections belong to the runtime that opened them (a child must not talk on
//! the parent's sockets), so the HTTP client is per runtime too: each runtime's worker threads
//! carry their process's client in a thread-local set when the thread starts, and
//! [`ProcessHttp`] sends through it.
//!
//! At exit, the binding [closes](ProcessRuntime::close) the runtime before its language begins
//! tearing down and shuts it down itself (after releasing whatever lock the language's
//! callbacks need, so that one running can finish).

use std::cell::RefCell;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::future::BoxFuture;
use tokio::runtime::{Handle, Runtime};

use super::runtime_builder;
use crate::http::{HttpClient, HttpRequest, HttpResponse, NetClient, TransportError};

/// The runtime of the process using it. Its lock must only be taken by threads a `fork()`
/// cannot interrupt inside it (Python's: they hold the GIL, which `os.fork()` holds too), so a
/// child never inherits it locked by a thread that does not exist there.
pub struct ProcessRuntime {
    slot: Mutex<Slot>,
}

struct Slot {
    /// The runtime of the process that made it last.
    entry: Option<Entry>,
    /// The process whose runtime was closed, whether or not it had started one (so a call
    /// made after the exit hook cannot start a runtime that would outlive it).
    closed_in: Option<u32>,
}

struct Entry {
    pid: u32,
    handle: Handle,
    /// The runtime itself, until [`ProcessRuntime::close`] hands it over.
    runtime: Option<Runtime>,
}

/// Why [`ProcessRuntime::open`] gave no handle.
#[derive(Debug)]
pub enum Unavailable {
    /// [`ProcessRuntime::close`] ran in this process (it is exiting).
    Closed,
    /// The runtime could not start.
    Start(std::io::Error),
}

thread_local! {
    /// The HTTP client of the process runtime this thread works for.
    static HTTP: RefCell<Option<Arc<dyn HttpClient>>> = const { RefCell::new(None) };
}

impl ProcessRuntime {
    pub const fn new() -> Self {
        Self { slot: Mutex::new(Slot { entry: None, closed_in: None }) }
    }

    fn slot(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The handle for new work in this process, and the process's pid. The runtime
    /// ([`runtime_builder`], with its own HTTP client) starts on first use, and again in a fork
    /// child.
    pub fn open(&self) -> Result<(Handle, u32), Unavailable> {
        self.open_in(std::process::id())
    }

    fn open_in(&self, pid: u32) -> Result<(Handle, u32), Unavailable> {
        let mut slot = self.slot();
        if slot.closed_in == Some(pid) {
            return Err(Unavailable::Closed);
        }
        if let Some(e) = slot.entry.as_ref().filter(|e| e.pid == pid) {
            return Ok((e.handle.clone(), pid));
        }
        if let Some(inherited) = slot.entry.take() {
            // A fork child: the parent's worker threads do not exist here, so its runtime must
            // never be dropped (that would join them).
            std::mem::forget(inherited);
        }
        let http: Arc<dyn HttpClient> = match NetClient::new() {
            Ok(c) => Arc::new(c),
            Err(_) => NetClient::shared(), // a client that reports the failure on each call
        };
        let runtime = runtime_builder()
            .on_thread_start(move || HTTP.with(|h| *h.borrow_mut() = Some(http.clone())))
            .build()
            .map_err(Unavailable::Start)?;
        let handle = runtime.handle().clone();
        slot.entry = Some(Entry { pid, handle: handle.clone(), runtime: Some(runtime) });
        Ok((handle, pid))
    }

    /// Stops new work in this process, started or not (later [`ProcessRuntime::open`]s are
    /// `Closed`), and hands over its runtime to be shut down; `None` when this process has
    /// none or it was handed over already.
    pub fn close(&self) -> Option<Runtime> {
        self.close_in(std::process::id())
    }

    fn close_in(&self, pid: u32) -> Option<Runtime> {
        let mut slot = self.slot();
        slot.closed_in = Some(pid);
        slot.entry.as_mut().filter(|e| e.pid == pid).and_then(|e| e.runtime.take())
    }
}

impl Default for ProcessRuntime {
    fn default() -> Self {
        Self::new()
    }
}

/// Sends through the HTTP client of the process runtime whose thread it runs on, so a handle
/// made before a fork never reuses connections of the parent's runtime (elsewhere, through
/// the process-wide [`NetClient::shared`]).
#[derive(Debug)]
pub struct ProcessHttp;

impl ProcessHttp {
    /// The seam as core takes it ([`super::Hooks::http`]).
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The HTTP client a task on `handle` sends through.
    fn client_of(handle: &Handle) -> Option<Arc<dyn HttpClient>> {
        let (tx, rx) = std::sync::mpsc::channel();
        handle.spawn(async move {
            let _ = tx.send(HTTP.with(|h| h.borrow().clone()));
        });
        rx.recv_timeout(std::time::Duration::from_secs(10)).ok().flatten()
    }

    #[test]
    fn one_runtime_per_process_until_it_is_closed() {
        let rt = ProcessRuntime::new();
        let first = rt.open_in(100).map_err(|e| format!("{e:?}"));
        let again = rt.open_in(100).map_err(|e| format!("{e:?}"));
        let (Ok((first, pid)), Ok((again, _))) = (first, again) else { panic!("the runtime did not start") };
        assert_eq!(pid, 100);
        let (a, b) = (client_of(&first), client_of(&again));
        assert!(
            matches!((&a, &b), (Some(a), Some(b)) if Arc::ptr_eq(a, b)),
            "the same runtime, whose threads carry its client"
        );
        assert!(
            a.is_some_and(|a| !Arc::ptr_eq(&a, &NetClient::shared())),
            "the runtime's own client, not the process-wide one"
        );

        let runtime = rt.close_in(100);
        assert!(runtime.is_some(), "close hands the runtime over");
        assert!(matches!(rt.open_in(100), Err(Unavailable::Closed)));
        assert!(rt.close_in(100).is_none(), "handed over once");
        if let Some(r) = runtime {
            r.shutdown_background();
        }
    }

    #[test]
    fn closed_before_any_call_no_runtime_starts() {
        let rt = ProcessRuntime::new();
        assert!(rt.close_in(300).is_none(), "nothing to hand over");
        assert!(matches!(rt.open_in(300), Err(Unavailable::Closed)), "a call after the exit hook starts nothing");
        // A fork child of a closed process is a new process: it may run.
        let child = rt.open_in(301).map(|(h, _)| h).ok();
        assert!(child.as_ref().and_then(client_of).is_some());
        if let Some(r) = rt.close_in(301) {
            r.shutdown_background();
        }
    }

    #[test]
    fn a_fork_child_gets_its_own_runtime_and_client() {
        let rt = ProcessRuntime::new();
        let parent = rt.open_in(200).map(|(h, _)| h).map_err(|e| format!("{e:?}"));
        let child = rt.open_in(201).map(|(h, _)| h).map_err(|e| format!("{e:?}"));
        let (Ok(parent), Ok(child)) = (parent, child) else { panic!("a runtime did not start") };
        let (a, b) = (client_of(&parent), client_of(&child));
        assert!(
            matches!((&a, &b), (Some(a), Some(b)) if !Arc::ptr_eq(a, b)),
            "the child's runtime and client are its own"
        );
        // The parent's entry was forgotten, not dropped: its runtime still runs here (in a real
        // child it would have no threads, and dropping it would wait for them).
        assert!(client_of(&parent).is_some());
        assert!(rt.close_in(200).is_none(), "the parent's entry is gone from the record");
        if let Some(r) = rt.close_in(201) {
            r.shutdown_background();
        }
    }
}
