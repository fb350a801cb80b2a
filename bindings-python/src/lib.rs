//! `switchboard._native`: the private native module of the Python package `switchboard`.
//!
//! A thin mirror of `switchboard-core`, one Rust module per core module: [`connector`] (local
//! handles), [`hosted`] (engine client, workspace, executor, `connect`), [`paginate`] (the
//! async page iterator), [`auth`] (`on_token_refresh` as a core `TokenSink`), [`error`] (one
//! native exception carrying the core error's fields), [`tools`] (descriptions and tool
//! schemas for agents) and [`runtime`] (the one tokio runtime and HTTP client per process).
//!
//! JSON values (params, results, credentials, error details) cross the boundary as JSON text;
//! the typed facade in `python/switchboard` turns them into dicts and lists, and the native
//! exception into the typed exception hierarchy. Nothing here is meant to be imported directly.

use pyo3::prelude::*;

mod auth;
mod connector;
mod error;
mod hosted;
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
    m.add_class::<connector::Connector>()?;
    m.add_class::<paginate::PageIterator>()?;
    m.add_class::<hosted::HostedClient>()?;
    m.add_class::<hosted::Workspace>()?;
    m.add_class::<hosted::HostedExecutor>()?;
    m.add_function(wrap_pyfunction!(tools::connector_summaries, m)?)?;
    m.add_function(wrap_pyfunction!(tools::describe, m)?)?;
    m.add_function(wrap_pyfunction!(tools::tool_schema, m)?)?;
    m.add_function(wrap_pyfunction!(tools::operation_tools, m)?)?;
    m.add_function(wrap_pyfunction!(tools::find_operation_tool, m)?)?;
    m.add_function(wrap_pyfunction!(tools::bound_output, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::runtime_pid, m)?)?;
    // Stop every runtime thread before the interpreter finalizes (see `runtime`).
    let shutdown = wrap_pyfunction!(runtime::shutdown_runtime, m)?;
    m.py().import("atexit")?.call_method1("register", (&shutdown,))?;
    m.add_function(shutdown)?;
    Ok(())
}
