//! JSON text across the boundary: params, records, credentials and settings go in and out as
//! JSON text, which the facade turns into dicts and lists (`pythonize` has no pyo3 0.30 release).

use pyo3::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{invalid, to_py};

/// Parses JSON text from the facade into a core type; a mismatch is a `validation` error.
pub fn arg<T: DeserializeOwned>(what: &str, text: &str) -> PyResult<T> {
    serde_json::from_str(text).map_err(|e| invalid(what, e))
}

/// JSON text of a core value for the facade.
pub fn text<T: Serialize>(v: &T) -> PyResult<String> {
    serde_json::to_string(v)
        .map_err(|e| to_py(switchboard_core::Error::internal(format!("cannot encode a result: {e}"))))
}
