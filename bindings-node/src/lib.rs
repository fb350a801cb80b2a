//! Switchboard's Node binding: the private native module (`switchboard.node`) under the
//! TypeScript facade in `ts/`. A thin mirror of `switchboard_core::sdk`, one module per core
//! module: each method clones a handle, converts its arguments, calls core and maps the error.
//! It decides nothing: modes, aliases, environment fallbacks, target rules, error categories
//! and the codegen model are core's. Every network call runs on napi's one tokio runtime (built
//! here, with core's count of workers): `execute` and `paginate`'s pages answer through the
//! facade's `Settler` (`settle`), the rest are `#[napi] async fn`s; pending calls keep the event
//! loop alive only until they settle.

// `cargo clippy --all-targets` checks this crate under cfg(test) too, where napi registers no
// export, so every exported item would read as dead code there.
#![cfg_attr(test, allow(dead_code))]

mod auth;
mod error;
mod executor;
mod hosted;
mod paginate;
mod settle;
mod tools;

/// napi's tokio runtime, with core's count of workers (`sdk::runtime_workers`: one fewer than
/// the cores, so the JavaScript thread keeps one) instead of a worker per core. Built when the
/// module loads, before napi would build its default one; a runtime that cannot start leaves
/// napi's default in place.
#[napi_derive::module_init]
fn init() {
    if let Ok(runtime) = switchboard_core::sdk::runtime_builder().build() {
        napi::bindgen_prelude::create_custom_tokio_runtime(runtime);
    }
}

/// Whether this module was built optimized (the release profile), for the build tests.
#[napi_derive::napi]
pub fn optimized() -> bool {
    !cfg!(debug_assertions)
}

/// What starts the message of a native error (see `error`).
#[napi_derive::napi]
pub const ERROR_PREFIX: &str = error::PREFIX;

/// mimalloc for this module's Rust allocations, as in the engine and the other bindings: fewer
/// instructions per call than glibc malloc (benches/PROFILE.md, section 2).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
