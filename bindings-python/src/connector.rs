//! Mirrors `switchboard_core::connector`: the local connector handle.

use pyo3::prelude::*;
use switchboard_core::{Connector as CoreConnector, ConnectorOptions, ExecuteOptions, Registry};

use crate::auth::PyTokenSink;
use crate::error::{invalid, to_py};
use crate::paginate::PageIterator;
use crate::runtime::{future_into_py, ProcessHttp};

/// Parses JSON text from the facade.
pub fn json_arg(what: &str, text: &str) -> PyResult<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| invalid(what, e))
}

/// Parses `ExecuteOptions` from the facade.
pub fn options_arg(text: &str) -> PyResult<ExecuteOptions> {
    serde_json::from_str(text).map_err(|e| invalid("options", e))
}

/// JSON text of a core value for the facade.
pub fn to_json<T: serde::Serialize>(v: &T) -> PyResult<String> {
    serde_json::to_string(v)
        .map_err(|e| to_py(switchboard_core::Error::internal(format!("cannot encode a result: {e}"))))
}

/// One connector with one set of credentials (local mode). Cheap to share across tasks.
#[pyclass(module = "switchboard._native", frozen)]
pub struct Connector {
    inner: CoreConnector,
}

#[pymethods]
impl Connector {
    /// `Connector(slug, credentials_json, config_json, on_token_refresh=None, timeout=None)`.
    #[new]
    #[pyo3(signature = (slug, credentials, config, on_token_refresh=None, timeout=None))]
    fn new(
        slug: &str,
        credentials: &str,
        config: &str,
        on_token_refresh: Option<Py<PyAny>>,
        timeout: Option<f64>,
    ) -> PyResult<Self> {
        let spec = Registry::shared().and_then(|r| r.get(slug)).map_err(to_py)?;
        let mut options = ConnectorOptions { http: Some(ProcessHttp::shared()), ..ConnectorOptions::default() };
        options.token_sink = on_token_refresh.map(PyTokenSink::shared);
        if let Some(t) = timeout {
            options.timeout = std::time::Duration::try_from_secs_f64(t).map_err(|e| invalid("timeout", e))?;
        }
        let inner =
            CoreConnector::new(spec, json_arg("credentials", credentials)?, json_arg("config", config)?, options)
                .map_err(to_py)?;
        Ok(Self { inner })
    }

    /// The connector's slug.
    #[getter]
    fn slug(&self) -> String {
        self.inner.spec().slug.clone()
    }

    /// Runs one operation; resolves to the result as JSON text (`{"data", "meta"}`).
    fn execute<'py>(
        &self,
        py: Python<'py>,
        entity: String,
        action: String,
        params: &str,
        options: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (c, params, options) = (self.inner.clone(), json_arg("params", params)?, options_arg(options)?);
        future_into_py(py, async move {
            let r = c.execute(&entity, &action, params, &options).await.map_err(to_py)?;
            to_json(&r)
        })
    }

    /// Runs the check operation; resolves to the check result as JSON text.
    fn check<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let c = self.inner.clone();
        future_into_py(py, async move { to_json(&c.check().await) })
    }

    /// An async iterator over every page of an operation.
    fn paginate(&self, entity: &str, action: &str, params: &str, options: &str) -> PyResult<PageIterator> {
        let stream = self.inner.paginate(entity, action, json_arg("params", params)?, options_arg(options)?);
        Ok(PageIterator::new(Box::pin(stream)))
    }

    fn __repr__(&self) -> String {
        format!("Connector({:?})", self.inner.spec().slug)
    }
}
