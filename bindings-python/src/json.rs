//! JSON across the boundary. Inbound (params, credentials, settings) comes as JSON text the
//! facade wrote; results go out as Python objects parsed here from core's JSON text, on the
//! Python thread when the facade reads them ([`Outcome`]): one pass, with no tree in between
//! and no `json.loads` in the facade (benches/PROFILE.md, section 2).

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};
use rustc_hash::FxHashMap;
use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Serialize;
use serde_json::Value;
use switchboard_core::sdk::{ResultText, ResultView};

use crate::error::{invalid, to_py};

/// Parses JSON text from the facade into a core type; a mismatch is a `validation` error.
pub fn arg<T: DeserializeOwned>(what: &str, text: &str) -> PyResult<T> {
    serde_json::from_str(text).map_err(|e| invalid(what, e))
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

/// Dot paths (`select_fields`, `exclude_fields`) from any iterable of `str`; `None` is none.
pub fn paths(what: &str, value: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<String>> {
    let Some(value) = value.filter(|v| !v.is_none()) else { return Ok(Vec::new()) };
    if value.is_instance_of::<PyString>() {
        return Err(to_py(switchboard_core::Error::validation(
            "select_fields and exclude_fields are lists of dot paths".to_string(),
        )));
    }
    value.try_iter()?.map(|p| p?.extract::<String>().map_err(|e| invalid(what, e))).collect()
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
        let mut b = Build { py, ids: FxHashMap::default(), names: Vec::new(), top: NONE, failed: None };
        let d = PyDict::new(py);
        d.set_item(intern!(py, "success"), result.success)?;
        let shape = record.as_ref().map_or(Shape::Plain, Shape::Records);
        d.set_item(intern!(py, "data"), b.parse(&result.data, shape)?)?;
        d.set_item(intern!(py, "error"), &result.error)?;
        d.set_item(intern!(py, "meta"), b.parse(&meta, Shape::Plain)?)?;
        Ok(d.into_any())
    }
}

/// Builds the Python objects of one result. Each distinct key is made once and shared by every
/// object that has it (the records of a page share theirs), as `json.loads` does: one string
/// and one hash per name instead of one per record. The records of a page list their keys in
/// the same order, so each key is first compared with the one that followed the previous key
/// last time ([`Name`]), and looked up by hash only when that guess is wrong.
struct Build<'py, 'a> {
    py: Python<'py>,
    /// The index in `names` of each distinct key.
    ids: FxHashMap<&'a str, usize>,
    names: Vec<Name<'py, 'a>>,
    /// The guessed first key of an object that is not a key's value (a list item, the root).
    top: usize,
    /// The Python error that stopped a parse (serde's error type cannot carry it).
    failed: Option<PyErr>,
}

/// No key (a guess not made yet, or an object that is not a key's value).
const NONE: usize = usize::MAX;

/// Where the guess for the next key of an object is kept.
#[derive(Clone, Copy)]
enum Slot {
    /// The first key of an object that is the value of this key (`NONE`: of no key).
    Child(usize),
    /// The key after this one.
    Next(usize),
}

/// One distinct key, with the guesses that follow it.
struct Name<'py, 'a> {
    text: &'a str,
    string: Bound<'py, PyString>,
    /// The key read after this one in the same object, last time.
    next: usize,
    /// The first key of the object (or of the objects of the list) that was this key's value.
    child: usize,
}

/// Which objects of the data are built as instances of the record class.
#[derive(Clone, Copy)]
enum Shape<'r, 'py> {
    Plain,
    /// This object, or each object of this list.
    Records(&'r Bound<'py, PyType>),
    /// This object.
    Record(&'r Bound<'py, PyType>),
}

impl<'py, 'a> Build<'py, 'a> {
    /// The index of key `k`, `guess` tried first.
    fn key(&mut self, k: &'a str, guess: usize) -> usize {
        if self.names.get(guess).is_some_and(|n| n.text == k) {
            return guess;
        }
        let (py, names) = (self.py, &mut self.names);
        *self.ids.entry(k).or_insert_with(|| {
            names.push(Name { text: k, string: PyString::new(py, k), next: NONE, child: NONE });
            names.len() - 1
        })
    }

    /// The guess kept at `slot`.
    fn guess(&mut self, slot: Slot) -> &mut usize {
        match slot {
            Slot::Child(at) if at != NONE => &mut self.names[at].child,
            Slot::Next(at) => &mut self.names[at].next,
            Slot::Child(_) => &mut self.top,
        }
    }

    /// The Python objects of JSON text, without a tree in between.
    fn parse(&mut self, text: &'a str, shape: Shape<'_, 'py>) -> PyResult<Bound<'py, PyAny>> {
        let mut de = serde_json::Deserializer::from_str(text);
        let parsed = Node { b: self, shape, parent: NONE }.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
        parsed.map_err(|e| {
            self.failed
                .take()
                .unwrap_or_else(|| to_py(switchboard_core::Error::internal(format!("cannot read a result: {e}"))))
        })
    }

    /// Keeps a Python error for [`Build::parse`] and stops the parse.
    fn check<T, E: de::Error>(&mut self, r: PyResult<T>) -> Result<T, E> {
        r.map_err(|e| {
            self.failed = Some(e);
            E::custom("a Python error")
        })
    }
}

/// One JSON value of the text being parsed, built as a Python object as serde reads it.
struct Node<'b, 'r, 'py, 'a> {
    b: &'b mut Build<'py, 'a>,
    shape: Shape<'r, 'py>,
    /// The key whose value this is (or, for a list's items, the list's key); `NONE` if none.
    parent: usize,
}

impl<'b, 'r, 'py, 'a> DeserializeSeed<'a> for Node<'b, 'r, 'py, 'a> {
    type Value = Bound<'py, PyAny>;

    fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'b, 'r, 'py, 'a> Visitor<'a> for Node<'b, 'r, 'py, 'a> {
    type Value = Bound<'py, PyAny>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(self.b.py.None().into_bound(self.b.py))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(PyBool::new(self.b.py, v).to_owned().into_any())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        let r = v.into_pyobject(self.b.py).map(|o| o.into_any());
        self.b.check(r.map_err(PyErr::from))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        let r = v.into_pyobject(self.b.py).map(|o| o.into_any());
        self.b.check(r.map_err(PyErr::from))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(PyFloat::new(self.b.py, v).into_any())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(PyString::new(self.b.py, v).into_any())
    }

    fn visit_seq<A: SeqAccess<'a>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let shape = match self.shape {
            Shape::Records(cls) => Shape::Record(cls),
            _ => Shape::Plain,
        };
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(Node { b: &mut *self.b, shape, parent: self.parent })? {
            items.push(item);
        }
        let list = PyList::new(self.b.py, items).map(Bound::into_any);
        self.b.check(list)
    }

    fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let dict = match self.shape {
            Shape::Records(cls) | Shape::Record(cls) => {
                let made = cls.call0().and_then(|o| o.cast_into::<PyDict>().map_err(PyErr::from));
                self.b.check(made)?
            }
            Shape::Plain => PyDict::new(self.b.py),
        };
        let mut slot = Slot::Child(self.parent);
        loop {
            let guess = *self.b.guess(slot);
            let Some(key) = map.next_key_seed(Key { b: &mut *self.b, guess })? else { break };
            match key {
                KeyOf::Name(id) => {
                    if id != guess {
                        *self.b.guess(slot) = id;
                    }
                    let value = map.next_value_seed(Node { b: &mut *self.b, shape: Shape::Plain, parent: id })?;
                    let set = dict.set_item(&self.b.names[id].string, value);
                    self.b.check(set)?;
                    slot = Slot::Next(id);
                }
                KeyOf::Escaped(string) => {
                    let value = map.next_value_seed(Node { b: &mut *self.b, shape: Shape::Plain, parent: NONE })?;
                    self.b.check(dict.set_item(string, value))?;
                }
            }
        }
        Ok(dict.into_any())
    }
}

/// An object's key: shared through [`Build::key`] when the text holds it unescaped.
struct Key<'b, 'py, 'a> {
    b: &'b mut Build<'py, 'a>,
    guess: usize,
}

/// A key read: a shared name's index, or a key written with escapes, made for this object.
enum KeyOf<'py> {
    Name(usize),
    Escaped(Bound<'py, PyString>),
}

impl<'b, 'py, 'a> DeserializeSeed<'a> for Key<'b, 'py, 'a> {
    type Value = KeyOf<'py>;

    fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'b, 'py, 'a> Visitor<'a> for Key<'b, 'py, 'a> {
    type Value = KeyOf<'py>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'a str) -> Result<Self::Value, E> {
        Ok(KeyOf::Name(self.b.key(v, self.guess)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(KeyOf::Escaped(PyString::new(self.b.py, v)))
    }
}
