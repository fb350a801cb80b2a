//! Mirrors `switchboard_core::sdk::Executor`: one handle for local and hosted mode. Requests,
//! settings and targets arrive as the JSON of core's own structs.

use pyo3::prelude::*;
use switchboard_core::sdk::{self, ExecuteRequest, Hooks, LocalSettings, Target};

use crate::auth::PyTokenSink;
use crate::error::to_py;
use crate::hosted::HostedClient;
use crate::json;
use crate::paginate::PageIterator;
use crate::runtime::{future_into_py, ProcessHttp};

/// Runs operations of one connector, locally or through the engine. Cheap to share.
#[pyclass(module = "switchboard._native", frozen)]
pub struct Executor {
    inner: sdk::Executor,
    client: Option<switchboard_core::HostedClient>,
}

impl Executor {
    /// Wraps a core executor (and the engine client it runs on, in hosted mode).
    pub fn new(inner: sdk::Executor, client: Option<switchboard_core::HostedClient>) -> Self {
        Self { inner, client }
    }
}

#[pymethods]
impl Executor {
    /// A local connector from `LocalSettings` JSON, with an optional `on_token_refresh`.
    #[staticmethod]
    #[pyo3(signature = (settings, on_token_refresh=None))]
    fn local(settings: &str, on_token_refresh: Option<Py<PyAny>>) -> PyResult<Self> {
        let hooks = Hooks { http: Some(ProcessHttp::shared()), token_sink: on_token_refresh.map(PyTokenSink::shared) };
        let inner = sdk::Executor::local(json::arg::<LocalSettings>("settings", settings)?, hooks).map_err(to_py)?;
        Ok(Self::new(inner, None))
    }

    /// A stored connector from `Target` JSON (`connector_id`, or workspace and type).
    #[staticmethod]
    fn hosted(client: &HostedClient, target: &str) -> PyResult<Self> {
        let target: Target = json::arg("target", target)?;
        let inner = sdk::Executor::hosted(client.inner.clone(), &target).map_err(to_py)?;
        Ok(Self::new(inner, Some(client.inner.clone())))
    }

    /// The local connector's slug; `None` in hosted mode.
    #[getter]
    fn slug(&self) -> Option<String> {
        self.inner.slug()
    }

    /// Whether operations run through the engine.
    #[getter]
    fn is_hosted(&self) -> bool {
        self.inner.is_hosted()
    }

    /// How many application tokens the engine client fetched (0 in local mode).
    fn token_fetches(&self) -> u64 {
        self.client.as_ref().map_or(0, |c| c.token_fetches())
    }

    /// Resolves to the stored connector's `ConnectorInfo` JSON (`null` in local mode).
    fn connector_info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let ex = self.inner.clone();
        future_into_py(py, async move { json::text(&ex.connector_info().await.map_err(to_py)?) })
    }

    /// Runs one `ExecuteRequest` (JSON); resolves to the result as JSON (`{"data", "meta"}`).
    fn execute<'py>(&self, py: Python<'py>, request: &str) -> PyResult<Bound<'py, PyAny>> {
        let (ex, request) = (self.inner.clone(), json::arg::<ExecuteRequest>("request", request)?);
        future_into_py(py, async move { json::text(&ex.execute(request).await.map_err(to_py)?) })
    }

    /// An async iterator over every page of an `ExecuteRequest` (JSON).
    fn paginate(&self, request: &str) -> PyResult<PageIterator> {
        Ok(PageIterator::new(self.inner.paginate(json::arg("request", request)?)))
    }

    /// Runs the health check; resolves to the check result as JSON.
    fn check<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let ex = self.inner.clone();
        future_into_py(py, async move { json::text(&ex.check().await.map_err(to_py)?) })
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.inner)
    }
}
