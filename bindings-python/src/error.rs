//! Mirrors `switchboard_core::error`: one native exception, [`NativeError`], carrying every
//! field of a core [`Error`]. The facade (`switchboard/errors.py`) turns it into the typed
//! hierarchy by `code`. Core messages never carry a secret, so neither does this exception.

use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use switchboard_core::{Error, ErrorCode};

/// A Switchboard failure as the native module raises it: `code`, `message`, `status_code`,
/// `request_id`, `retry_after` and `details` (JSON text). The public API raises the typed
/// subclasses of `switchboard.SwitchboardError` instead.
#[pyclass(extends = PyException, module = "switchboard._native", frozen, get_all)]
pub struct NativeError {
    code: String,
    message: String,
    status_code: Option<u16>,
    request_id: Option<String>,
    retry_after: Option<f64>,
    details: Option<String>,
}

#[pymethods]
impl NativeError {
    #[new]
    #[pyo3(signature = (code, message, status_code=None, request_id=None, retry_after=None, details=None))]
    fn new(
        code: String,
        message: String,
        status_code: Option<u16>,
        request_id: Option<String>,
        retry_after: Option<f64>,
        details: Option<String>,
    ) -> Self {
        Self { code, message, status_code, request_id, retry_after, details }
    }

    fn __str__(&self) -> String {
        format!("{}: {}", self.code, self.message)
    }
}

/// The core error as a Python exception (built lazily: no GIL needed here).
pub fn to_py(e: Error) -> PyErr {
    let details = e.details.as_ref().map(|d| d.to_string());
    PyErr::new::<NativeError, _>((e.code.as_str(), e.message, e.status_code, e.request_id, e.retry_after, details))
}

/// A bad argument from Python (e.g. JSON that does not parse) as a `validation` error.
pub fn invalid(what: &str, e: impl std::fmt::Display) -> PyErr {
    to_py(Error::validation(format!("{what}: {e}")))
}

/// Every public error code, in core's stable order (`ErrorCode::ALL`).
#[pyfunction]
pub fn error_codes() -> Vec<&'static str> {
    ErrorCode::ALL.iter().map(|c| c.as_str()).collect()
}
