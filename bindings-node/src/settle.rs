//! How a finished `execute` or page of `paginate` reaches JavaScript: one threadsafe function
//! for every call of a JavaScript thread, where napi's `async fn` makes one per call. Making and
//! closing that function (a libuv handle, an async resource, cleanup hooks), and the lock
//! napi's promise holds while the runtime thread hands the result over (the JavaScript thread,
//! already woken, sleeps on it), were about 5% of the JavaScript thread's samples, and napi's
//! `async fn` spawns a second task per call to watch for panics (benches/PROFILE.md, section
//! 3). The facade (`ts/call.ts`) numbers its calls and keeps their promises; this module starts
//! a call, keeps the event loop alive while any is running, and sends its id back with the
//! `Outcome` or the error.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
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
/// Weak: it never keeps the event loop alive by itself ([`Hold`] does while calls run).
type SettleFn = ThreadsafeFunction<Done, UnknownReturnValue, Args, Status, false, true>;
/// A strong threadsafe function that is never called: its reference keeps the event loop alive.
type KeepFn = ThreadsafeFunction<(), UnknownReturnValue, (), Status, false, false>;

/// The facade's `settle` callback, as every call of its JavaScript thread answers it.
#[napi]
pub struct Settler {
    settle: Arc<SettleFn>,
    hold: Rc<Hold>,
}

/// How many calls are running on this JavaScript thread, and what keeps the event loop alive
/// while any is (as a pending promise of napi's `async fn` did). Touched on that thread only:
/// when a call starts and in `settle`'s callback.
struct Hold {
    running: Cell<u32>,
    keep: RefCell<KeepFn>,
}

// napi-rs deprecates `refer`/`unref` in favour of cloning a threadsafe function, which counts
// threads, not the event loop's reference; toggling that reference is what is wanted here.
#[allow(deprecated)]
impl Hold {
    fn new(keep: KeepFn, env: &Env) -> Result<Self> {
        let hold = Self { running: Cell::new(0), keep: RefCell::new(keep) };
        hold.keep.borrow_mut().unref(env)?;
        Ok(hold)
    }

    /// A call starts: the first one holds the event loop.
    fn start(&self, env: &Env) -> Result<()> {
        if self.running.get() == 0 {
            self.keep.borrow_mut().refer(env)?;
        }
        self.running.set(self.running.get() + 1);
        Ok(())
    }

    /// A call settles: the last one lets the event loop go. (`unref` fails only on a function
    /// its environment has closed, which holds nothing any more.)
    fn settled(&self, env: &Env) {
        self.running.set(self.running.get().saturating_sub(1));
        if self.running.get() == 0 {
            let _ = self.keep.borrow_mut().unref(env);
        }
    }
}

#[napi]
impl Settler {
    #[napi(constructor, ts_args_type = "settle: (id: number, outcome: Outcome | null, error: Error | null) => void")]
    pub fn new(env: Env, settle: Function<Args, UnknownReturnValue>) -> Result<Self> {
        let keep = settle.build_threadsafe_function::<()>().callee_handled::<false>().build_callback(|_| Ok(()))?;
        let hold = Rc::new(Hold::new(keep, &env)?);
        let held = Rc::clone(&hold);
        let settle =
            settle.build_threadsafe_function::<Done>().callee_handled::<false>().weak::<true>().build_callback(
                move |ctx| {
                    held.settled(&ctx.env);
                    let (id, done) = ctx.value;
                    Ok(match done {
                        Ok(outcome) => (id, outcome, None),
                        Err(e) => (id, None, Some(e)),
                    }
                    .into())
                },
            )?;
        Ok(Self { settle: Arc::new(settle), hold })
    }
}

impl Settler {
    /// Runs `call` on the runtime; its result (a panic becomes an `internal` error) goes to the
    /// facade's `settle` with `id`, and the event loop stays alive until it has. If the
    /// JavaScript thread's environment is gone by then, the result is dropped.
    pub(crate) fn start<F>(&self, env: &Env, id: u32, call: F) -> Result<()>
    where
        F: Future<Output = Result<Option<Outcome>>> + Send + 'static,
    {
        self.hold.start(env)?;
        let settle = Arc::clone(&self.settle);
        napi::bindgen_prelude::spawn(async move {
            let done = AssertUnwindSafe(call)
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| Err(to_js(switchboard_core::sdk::wake::panicked(&*panic))));
            // NonBlocking: the queue has no limit, so this never waits for the JavaScript thread;
            // it fails only when the environment is closing, when there is no one to answer.
            let _ = settle.call((id, done), ThreadsafeFunctionCallMode::NonBlocking);
        });
        Ok(())
    }
}
