//! Mirrors `switchboard_core::sdk::TextPages`: the page stream as a Python async iterator.

use std::sync::Arc;

use futures::StreamExt;
use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use switchboard_core::sdk::TextPages;

use crate::error::to_py;
use crate::json;
use crate::runtime::future_into_py;

/// `async for page in it`: each page as an `Outcome`; a failure raises once
/// and ends the iteration.
#[pyclass(module = "switchboard._native", frozen)]
pub struct PageIterator {
    pages: Arc<tokio::sync::Mutex<TextPages>>,
}

impl PageIterator {
    /// Wraps a core page stream.
    pub fn new(pages: TextPages) -> Self {
        Self { pages: Arc::new(tokio::sync::Mutex::new(pages)) }
    }
}

#[pymethods]
impl PageIterator {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let pages = self.pages.clone();
        future_into_py(py, async move {
            match pages.lock().await.next().await {
                Some(Ok(page)) => Ok(json::Outcome::text(page)),
                Some(Err(e)) => Err(to_py(e)),
                None => Err(PyStopAsyncIteration::new_err(())),
            }
        })
    }
}
