//! JSON across the boundary. Inbound (params, credentials, settings) comes as JSON text the
//! facade wrote; results go out as Python objects built here, on the Python thread when the facade reads them
//! ([`Outcome`]): cheaper than JSON text and `json.loads` in the facade (benches/PROFILE.md,
//! section 2).

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyList, PyString, PyType};
use rustc_hash::FxHashMap;
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
        let mut b = Build { py, keys: FxHashMap::default() };
        let d = PyDict::new(py);
        d.set_item(intern!(py, "success"), view.success)?;
        let data = match (&record, &view.data) {
            (Some(cls), Value::Array(items)) => {
                let mut list = Vec::with_capacity(items.len());
                for item in items {
                    list.push(match item {
                        Value::Object(map) => b.instance(cls, map)?,
                        other => b.object(other)?,
                    });
                }
                PyList::new(py, list)?.into_any()
            }
            (Some(cls), Value::Object(map)) => b.instance(cls, map)?,
            (_, other) => b.object(other)?,
        };
        d.set_item(intern!(py, "data"), data)?;
        d.set_item(intern!(py, "error"), &view.error)?;
        let meta = PyDict::new(py);
        for (k, v) in &view.meta {
            meta.set_item(b.key(k), b.object(v)?)?;
        }
        d.set_item(intern!(py, "meta"), meta)?;
        drop(b);
        // Core's tree was allocated on a runtime thread: it is freed there too, off the
        // Python thread (which is what bounds a busy event loop), or here if the runtime is gone.
        crate::runtime::drop_off_thread(view);
        Ok(d.into_any())
    }
}

/// Builds the Python objects of one result. Each distinct key is made once and shared by every
/// object that has it (the records of a page share theirs), as `json.loads` does: one string
/// and one hash per name instead of one per record.
struct Build<'py, 'a> {
    py: Python<'py>,
    keys: FxHashMap<&'a str, Bound<'py, PyString>>,
}

impl<'py, 'a> Build<'py, 'a> {
    fn key(&mut self, k: &'a str) -> Bound<'py, PyString> {
        let py = self.py;
        self.keys.entry(k).or_insert_with(|| PyString::new(py, k)).clone()
    }

    /// An instance of the `dict` subclass `cls` holding `map`.
    fn instance(
        &mut self,
        cls: &Bound<'py, PyType>,
        map: &'a serde_json::Map<String, Value>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let obj = cls.call0()?;
        self.fill(obj.cast::<PyDict>()?, map)?;
        Ok(obj)
    }

    fn fill(&mut self, dict: &Bound<'py, PyDict>, map: &'a serde_json::Map<String, Value>) -> PyResult<()> {
        for (k, item) in map {
            let v = self.object(item)?;
            dict.set_item(self.key(k), v)?;
        }
        Ok(())
    }

    /// The Python object of a JSON value: dict, list, str, int, float, bool or None.
    fn object(&mut self, v: &'a Value) -> PyResult<Bound<'py, PyAny>> {
        let py = self.py;
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
                let mut list = Vec::with_capacity(items.len());
                for item in items {
                    list.push(self.object(item)?);
                }
                PyList::new(py, list)?.into_any()
            }
            Value::Object(map) => {
                let dict = PyDict::new(py);
                self.fill(&dict, map)?;
                dict.into_any()
            }
        })
    }
}
