//! JSON across the boundary. Inbound (params, credentials, settings) comes as JSON text the
//! facade wrote; results go out as Python objects parsed here from core's JSON text, on the
//! Python thread when the facade reads them ([`Outcome`]): one pass of core's
//! [`switchboard_core::sdk::tree`], with no tree in between and no `json.loads` in the facade
//! (benches/PROFILE.md, section 2).

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use switchboard_core::sdk::tree::{Builder, Failed, Reader};
use switchboard_core::sdk::{ResultText, ResultView};

use crate::error::to_py;

/// Parses JSON text from the facade into a core type (`sdk::arg`: a mismatch is a `validation`
/// error).
pub fn arg<T: DeserializeOwned>(what: &str, text: &str) -> PyResult<T> {
    switchboard_core::sdk::arg(what, text).map_err(to_py)
}

/// A call's params as core takes them, read from the caller's objects as `json.dumps` writes
/// them. Exact `dict`s with `str` keys, `list`s, `tuple`s, `str`, `int`, `float`, `bool` and
/// `None` are read here (no JSON text in between: a few µs a call); anything else (a subclass,
/// another key type, a number JSON cannot hold, nesting deeper than 64) goes through
/// `json.dumps` itself, so Python's rules and messages apply unchanged. What it cannot write is
/// a `validation` error.
pub fn params(value: &Bound<'_, PyAny>) -> PyResult<Value> {
    if let Some(v) = plain(value, 0) {
        return Ok(v);
    }
    let py = value.py();
    let text = py.import(intern!(py, "json"))?.call_method1(intern!(py, "dumps"), (value,)).map_err(|e| {
        if e.is_instance_of::<PyTypeError>(py) || e.is_instance_of::<PyValueError>(py) {
            to_py(switchboard_core::Error::validation(format!("params must be JSON-serializable: {}", e.value(py))))
        } else {
            e
        }
    })?;
    arg("params", text.extract::<&str>()?)
}

/// `value` as JSON when it is made of JSON's own types only (see [`params`]).
fn plain(value: &Bound<'_, PyAny>, depth: usize) -> Option<Value> {
    if depth > 64 {
        return None;
    }
    if value.is_none() {
        Some(Value::Null)
    } else if let Ok(s) = value.cast_exact::<PyString>() {
        s.to_str().ok().map(|s| Value::String(s.to_owned()))
    } else if let Ok(b) = value.cast_exact::<PyBool>() {
        Some(Value::Bool(b.is_true()))
    } else if let Ok(i) = value.cast_exact::<PyInt>() {
        i.extract::<i64>().map(Value::from).or_else(|_| i.extract::<u64>().map(Value::from)).ok()
    } else if let Ok(f) = value.cast_exact::<PyFloat>() {
        serde_json::Number::from_f64(f.value()).map(Value::Number)
    } else if let Ok(d) = value.cast_exact::<PyDict>() {
        let mut map = serde_json::Map::with_capacity(d.len());
        for (k, v) in d.iter() {
            map.insert(k.cast_exact::<PyString>().ok()?.to_str().ok()?.to_owned(), plain(&v, depth + 1)?);
        }
        Some(Value::Object(map))
    } else if let Ok(l) = value.cast_exact::<PyList>() {
        l.iter().map(|v| plain(&v, depth + 1)).collect::<Option<_>>().map(Value::Array)
    } else if let Ok(t) = value.cast_exact::<PyTuple>() {
        t.iter().map(|v| plain(&v, depth + 1)).collect::<Option<_>>().map(Value::Array)
    } else {
        None
    }
}

/// A name (`entity`, `action`) as text: anything but a `str` of Unicode text is a `validation`
/// error naming the argument, as core's are.
pub fn name(what: &str, value: &Bound<'_, PyAny>) -> PyResult<String> {
    text_of(what, value, "a string, e.g. \"issues\"")
}

/// `value` as a string (an `intent`), or a `validation` error.
pub fn string(what: &str, value: &Bound<'_, PyAny>) -> PyResult<String> {
    text_of(what, value, "a string")
}

/// `value` as text, or a `validation` error saying `what` must be `wanted` (or Unicode text).
fn text_of(what: &str, value: &Bound<'_, PyAny>, wanted: &str) -> PyResult<String> {
    let s = value
        .cast::<PyString>()
        .map_err(|_| to_py(switchboard_core::Error::validation(format!("{what} must be {wanted}"))))?;
    s.to_str().map(str::to_owned).map_err(|_| to_py(switchboard_core::sdk::not_unicode(what)))
}

/// Dot paths (`select_fields`, `exclude_fields`) from any iterable of `str`; `None` is none.
pub fn paths(what: &str, value: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<String>> {
    let Some(value) = value.filter(|v| !v.is_none()) else { return Ok(Vec::new()) };
    if value.is_instance_of::<PyString>() {
        return Err(to_py(switchboard_core::Error::validation(
            "select_fields and exclude_fields are lists of dot paths".to_string(),
        )));
    }
    let wanted = "a list of dot paths, e.g. [\"title\", \"user.login\"]";
    let items =
        value.try_iter().map_err(|_| to_py(switchboard_core::Error::validation(format!("{what} must be {wanted}"))))?;
    items.map(|p| text_of(what, &p?, wanted)).collect()
}

/// JSON text of a core value for the facade.
pub fn text<T: Serialize>(v: &T) -> PyResult<String> {
    serde_json::to_string(v)
        .map_err(|e| to_py(switchboard_core::Error::internal(format!("cannot encode a result: {e}"))))
}

/// A result kept in Rust until the awaiting coroutine reads it. The runtime thread that
/// completes a call only hands this small object over: core's result with its data as JSON
/// text ([`switchboard_core::sdk::Executor::execute_text`]: a local list page's records are the
/// API's own text, never parsed into a tree). [`Outcome::take`] parses it straight into Python
/// objects on the Python thread, when the facade reads the result. Built at completion, every
/// finished but not yet resumed call of a busy event loop held its records as young Python
/// containers, which the cyclic GC traversed again and again (a quarter of the CPU at 1,000
/// in flight: benches/PROFILE.md, section 2).
#[pyclass(module = "switchboard._native")]
pub struct Outcome(Option<ResultText>);

impl Outcome {
    /// Wraps a core result whose data is JSON text.
    pub fn text(result: ResultText) -> Self {
        Self(Some(result))
    }

    /// Wraps a core result whose data is a tree (a health check's).
    pub fn new(view: impl Into<ResultView>) -> Self {
        Self::text(view.into().into())
    }
}

#[pymethods]
impl Outcome {
    /// The result as a dict `{success, data, error, meta}` of plain objects, once. With
    /// `record` (a `dict` subclass), the records of `data` (each object of a list, or the one
    /// object) are built as instances of it instead of being copied into it afterwards.
    #[pyo3(signature = (record=None))]
    fn take<'py>(&mut self, py: Python<'py>, record: Option<Bound<'py, PyType>>) -> PyResult<Bound<'py, PyAny>> {
        let result = self
            .0
            .take()
            .ok_or_else(|| to_py(switchboard_core::Error::internal("a result was read twice".to_string())))?;
        // The meta (the cursor, a total) is small: written out, it is parsed like the data.
        let meta = text(&result.meta)?;
        let mut reader = Reader::new(Objects { py, record: record.as_ref() });
        let d = PyDict::new(py);
        d.set_item(intern!(py, "success"), result.success)?;
        d.set_item(intern!(py, "data"), read(&mut reader, &result.data, record.is_some())?)?;
        d.set_item(intern!(py, "error"), &result.error)?;
        d.set_item(intern!(py, "meta"), read(&mut reader, &meta, false)?)?;
        Ok(d.into_any())
    }
}

/// The Python objects of JSON text (core's [`Reader`]: one pass, keys shared).
fn read<'a, 'py>(
    reader: &mut Reader<'a, Objects<'py, '_>>,
    text: &'a str,
    records: bool,
) -> PyResult<Bound<'py, PyAny>> {
    reader.parse(text, records).map_err(|e| match e {
        Failed::Builder(e) => e,
        Failed::Text(e) => to_py(switchboard_core::Error::internal(format!("cannot read a result: {e}"))),
    })
}

/// Python's own objects for core's [`Reader`]; with a record class, the records are made as
/// instances of it.
struct Objects<'py, 'r> {
    py: Python<'py>,
    record: Option<&'r Bound<'py, PyType>>,
}

impl<'py> Builder for Objects<'py, '_> {
    type Value = Bound<'py, PyAny>;
    type Key = Bound<'py, PyString>;
    type Object = Bound<'py, PyDict>;
    type Error = PyErr;

    fn null(&mut self) -> PyResult<Self::Value> {
        Ok(self.py.None().into_bound(self.py))
    }

    fn bool(&mut self, v: bool) -> PyResult<Self::Value> {
        Ok(PyBool::new(self.py, v).to_owned().into_any())
    }

    fn int(&mut self, v: i64) -> PyResult<Self::Value> {
        Ok(v.into_pyobject(self.py)?.into_any())
    }

    fn uint(&mut self, v: u64) -> PyResult<Self::Value> {
        Ok(v.into_pyobject(self.py)?.into_any())
    }

    fn float(&mut self, v: f64) -> PyResult<Self::Value> {
        Ok(PyFloat::new(self.py, v).into_any())
    }

    fn string(&mut self, v: &str) -> PyResult<Self::Value> {
        Ok(PyString::new(self.py, v).into_any())
    }

    fn list(&mut self, items: Vec<Self::Value>) -> PyResult<Self::Value> {
        Ok(PyList::new(self.py, items)?.into_any())
    }

    fn object(&mut self, record: bool) -> PyResult<Self::Object> {
        match self.record.filter(|_| record) {
            Some(cls) => Ok(cls.call0()?.cast_into::<PyDict>()?),
            None => Ok(PyDict::new(self.py)),
        }
    }

    fn key(&mut self, k: &str) -> PyResult<Self::Key> {
        Ok(PyString::new(self.py, k))
    }

    fn insert(&mut self, object: &mut Self::Object, key: &Self::Key, value: Self::Value) -> PyResult<()> {
        object.set_item(key, value)
    }

    fn finish(&mut self, object: Self::Object) -> PyResult<Self::Value> {
        Ok(object.into_any())
    }
}
