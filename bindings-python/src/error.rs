//! Mirrors `switchboard_core::error`: one native exception, [`NativeError`], carrying every
//! field of a core [`Error`]. The facade (`switchboard/errors.py`) turns it into the typed
//! hierarchy by `code`. Core messages never carry a secret, so neither does this exception.

use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use switchboard_core::sdk::ErrorCategory;
use switchboard_core::{Error, ErrorCode};

pyo3::create_exception!(
    _native,
    NativeError,
    PyException,
    "A Switchboard failure as the native module raises it. `args` is `(code, message, status_code, \
     request_id, retry_after, details_json)`. The public API raises the typed subclasses of \
     `switchboard.SwitchboardError` instead."
);

/// The core error as a Python exception (built lazily: no GIL needed here).
pub fn to_py(e: Error) -> PyErr {
    let details = e.details.as_ref().map(|d| d.to_string());
    PyErr::new::<NativeError, _>((e.code.as_str(), e.message, e.status_code, e.request_id, e.retry_after, details))
}

/// Every public error code with its category (the exception class it raises), in core's
/// stable order (`ErrorCode::ALL`).
#[pyfunction]
pub fn error_codes() -> Vec<(&'static str, &'static str)> {
    ErrorCode::ALL.iter().map(|c| (c.as_str(), c.category().as_str())).collect()
}

/// Every error category with the category its class extends, if any (`ErrorCategory::parent`).
#[pyfunction]
pub fn error_categories() -> Vec<(&'static str, Option<&'static str>)> {
    ErrorCategory::ALL.iter().map(|c| (c.as_str(), c.parent().map(|p| p.as_str()))).collect()
}

/// Every error category with its exception class name and description (`ErrorCategory::
/// class_name`, `description`), which `generate.py` renders the exception classes from.
#[pyfunction]
pub fn error_classes() -> Vec<(&'static str, &'static str, &'static str)> {
    ErrorCategory::ALL.iter().map(|c| (c.as_str(), c.class_name(), c.description())).collect()
}
