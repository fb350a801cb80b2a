//! `switchboard._native`: the private native module of the Python package `switchboard`.
//!
//! A thin mirror of `switchboard_core::sdk`, one Rust module per core module: [`executor`]
//! (the one executor over local and hosted mode), [`hosted`] (engine client and workspace),
//! [`paginate`] (the async page iterator), [`auth`] (`on_token_refresh` as a core
//! `TokenSink`), [`error`] (one native exception carrying the core error's fields), [`tools`]
//! (descriptions, tool schemas and the codegen model) and [`runtime`] (the one tokio runtime
//! and HTTP client per process).
//!
//! JSON values (params, credentials, settings, error details) cross the boundary as JSON text
//! ([`json`]); a result's data comes from core as JSON text too and is parsed here, straight
//! into Python objects ([`json::Outcome`]). The typed facade in `python/switchboard` wraps them
//! and turns the native exception into the typed exception hierarchy. Nothing here is meant to
//! be imported directly.

use pyo3::prelude::*;

mod auth;
mod error;
mod executor;
mod hosted;
mod json;
mod paginate;
mod runtime;
mod tools;

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // False in the test builds (profile ci); a user's `pip install .` builds release.
    m.add("__optimized__", !cfg!(debug_assertions))?;
    m.add("NativeError", m.py().get_type::<error::NativeError>())?;
    m.add_function(wrap_pyfunction!(error::error_codes, m)?)?;
    m.add_function(wrap_pyfunction!(error::error_categories, m)?)?;
    m.add_function(wrap_pyfunction!(error::error_classes, m)?)?;
    m.add_class::<executor::Executor>()?;
    m.add_class::<paginate::PageIterator>()?;
    m.add_class::<json::Outcome>()?;
    m.add_class::<hosted::HostedClient>()?;
    m.add_class::<hosted::Workspace>()?;
    m.add_function(wrap_pyfunction!(tools::codegen_model, m)?)?;
    m.add_function(wrap_pyfunction!(tools::data_types_model, m)?)?;
    m.add_function(wrap_pyfunction!(tools::connector_slug, m)?)?;
    m.add_function(wrap_pyfunction!(tools::describe, m)?)?;
    m.add_function(wrap_pyfunction!(tools::tool_schema, m)?)?;
    m.add_function(wrap_pyfunction!(tools::operation_tools, m)?)?;
    m.add_function(wrap_pyfunction!(tools::find_operation_tool, m)?)?;
    m.add_function(wrap_pyfunction!(tools::tool_output, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::runtime_pid, m)?)?;
    // Stop every runtime thread before the interpreter finalizes (see `runtime`).
    let shutdown = wrap_pyfunction!(runtime::shutdown_runtime, m)?;
    m.py().import("atexit")?.call_method1("register", (&shutdown,))?;
    m.add_function(shutdown)?;
    Ok(())
}

/// mimalloc for this module's Rust allocations, as in the engine and the other bindings: fewer
/// instructions per call than glibc malloc (benches/PROFILE.md, section 2).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
