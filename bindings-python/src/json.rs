//! JSON across the boundary. Inbound (params, credentials, settings) comes as JSON text the
//! facade wrote; results go out as Python objects built here, with the GIL the completion holds
//! anyway: cheaper than JSON text and `json.loads` in the facade (benches/PROFILE.md, section 2).

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyList, PyString};
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

/// A result handed to Python as a dict `{success, data, error, meta}` of plain objects.
pub struct View(pub ResultView);

impl<'py> IntoPyObject<'py> for View {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let d = PyDict::new(py);
        d.set_item("success", self.0.success)?;
        d.set_item("data", object(py, &self.0.data)?)?;
        d.set_item("error", self.0.error)?;
        let meta = PyDict::new(py);
        for (k, v) in &self.0.meta {
            meta.set_item(k, object(py, v)?)?;
        }
        d.set_item("meta", meta)?;
        Ok(d.into_any())
    }
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
