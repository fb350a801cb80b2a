//! JSON across the boundary. Inbound (params, credentials, settings) comes as JSON text the
//! facade wrote; results go out as Python objects built here, on the Python thread when the facade reads them
//! ([`Outcome`]): cheaper than JSON text and `json.loads` in the facade (benches/PROFILE.md,
//! section 2).

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyList, PyString, PyType};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use switchboard_core::sdk::ResultView;

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

/// A result kept in Rust until the awaiting coroutine reads it. The runtime thread that
/// completes a call only hands this small object over; the dict and the records are built by
/// [`Outcome::take`] on the Python thread, when the facade reads the result. Built at
/// completion, every finished but not yet resumed call of a busy event loop held its records
/// as young Python containers, which the cyclic GC traversed again and again (a quarter of the
/// CPU at 1,000 in flight: benches/PROFILE.md, section 2).
#[pyclass(module = "switchboard._native")]
pub struct Outcome(Option<ResultView>);

impl Outcome {
    /// Wraps a core result.
    pub fn new(view: impl Into<ResultView>) -> Self {
        Self(Some(view.into()))
    }
}

#[pymethods]
impl Outcome {
    /// The result as a dict `{success, data, error, meta}` of plain objects, once. With
    /// `record` (a `dict` subclass), the records of `data` (each object of a list, or the one
    /// object) are built as instances of it instead of being copied into it afterwards.
    #[pyo3(signature = (record=None))]
    fn take<'py>(&mut self, py: Python<'py>, record: Option<Bound<'py, PyType>>) -> PyResult<Bound<'py, PyAny>> {
        let view = self
            .0
            .take()
            .ok_or_else(|| to_py(switchboard_core::Error::internal("a result was read twice".to_string())))?;
        let d = PyDict::new(py);
        d.set_item("success", view.success)?;
        let data = match (&record, &view.data) {
            (Some(cls), Value::Array(items)) => {
                let list = PyList::empty(py);
                for item in items {
                    list.append(match item {
                        Value::Object(map) => instance(py, cls, map)?,
                        other => object(py, other)?,
                    })?;
                }
                list.into_any()
            }
            (Some(cls), Value::Object(map)) => instance(py, cls, map)?,
            (_, other) => object(py, other)?,
        };
        d.set_item("data", data)?;
        d.set_item("error", view.error)?;
        let meta = PyDict::new(py);
        for (k, v) in &view.meta {
            meta.set_item(k, object(py, v)?)?;
        }
        d.set_item("meta", meta)?;
        Ok(d.into_any())
    }
}

/// An instance of the `dict` subclass `cls` holding `map`.
fn instance<'py>(
    py: Python<'py>,
    cls: &Bound<'py, PyType>,
    map: &serde_json::Map<String, Value>,
) -> PyResult<Bound<'py, PyAny>> {
    let obj = cls.call0()?;
    let dict = obj.cast::<PyDict>()?;
    for (k, item) in map {
        dict.set_item(k, object(py, item)?)?;
    }
    Ok(obj)
}

/// The Python object of a JSON value: dict, list, str, int, float, bool or None.
fn object<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(object(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, item) in map {
                dict.set_item(k, object(py, item)?)?;
            }
            dict.into_any()
        }
    })
}
