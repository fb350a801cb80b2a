//! How a finished `execute` or page of `paginate` reaches JavaScript: one threadsafe function
//! for every call of a JavaScript thread, where napi's `async fn` makes one per call. Making and
//! closing that function (a libuv handle, an async resource, cleanup hooks), and the lock
//! napi's promise holds while the runtime thread hands the result over (the JavaScript thread,
//! already woken, sleeps on it), were about 5% of the JavaScript thread's samples, and napi's
//! `async fn` spawns a second task per call to watch for panics (benches/PROFILE.md, section
//! 3). The facade (`ts/call.ts`) numbers its calls, keeps their promises, and keeps the event
//! loop alive while any is running; this module starts a call and sends its id back with the
//! `Outcome` or the error.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode, UnknownReturnValue};
use napi_derive::napi;

use crate::error::to_js;
use crate::executor::Outcome;

/// What a finished call sends: its id and its outcome (none: a page stream's end) or error.
type Done = (u32, Result<Option<Outcome>>);
/// `settle(id, outcome, error)`, exactly one of the two set (`FnArgs`: three arguments, not an
/// array).
type Args = FnArgs<(u32, Option<Outcome>, Option<Error>)>;
/// Weak: it never keeps the event loop alive; the facade does while calls are running.
type SettleFn = ThreadsafeFunction<Done, UnknownReturnValue, Args, Status, false, true>;

/// The facade's `settle` callback, as every call of its JavaScript thread answers it.
#[napi]
pub struct Settler {
    settle: Arc<SettleFn>,
}

#[napi]
impl Settler {
    #[napi(constructor, ts_args_type = "settle: (id: number, outcome: Outcome | null, error: Error | null) => void")]
    pub fn new(settle: Function<Args, UnknownReturnValue>) -> Result<Self> {
        let settle =
            settle.build_threadsafe_function::<Done>().callee_handled::<false>().weak::<true>().build_callback(
                |ctx| {
                    let (id, done) = ctx.value;
                    Ok(match done {
                        Ok(outcome) => (id, outcome, None),
                        Err(e) => (id, None, Some(e)),
                    }
                    .into())
                },
            )?;
        Ok(Self { settle: Arc::new(settle) })
    }
}

impl Settler {
    /// Runs `call` on the runtime; its result (a panic becomes an `internal` error) goes to the
    /// facade's `settle` with `id`. If the JavaScript thread is gone by then, it is dropped.
    pub(crate) fn start<F>(&self, id: u32, call: F)
    where
        F: Future<Output = Result<Option<Outcome>>> + Send + 'static,
    {
        let settle = Arc::clone(&self.settle);
        napi::bindgen_prelude::spawn(async move {
            let done = AssertUnwindSafe(call)
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(to_js(switchboard_core::Error::internal("the call panicked"))));
            // NonBlocking: the queue has no limit, so the call never waits for the JS thread.
            let _ = settle.call((id, done), ThreadsafeFunctionCallMode::NonBlocking);
        });
    }
}
