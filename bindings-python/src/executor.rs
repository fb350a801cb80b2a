//! Mirrors `switchboard_core::sdk::Executor`: one handle for local and hosted mode. Settings
//! and targets arrive as the JSON of core's own structs; a call's arguments as Python objects.

use pyo3::prelude::*;
use switchboard_core::sdk::{self, ConnectorSettings, ExecuteRequest, Hooks, LocalSettings, Target};

use crate::auth::{PyTokenProvider, PyTokenSink};
use crate::error::to_py;
use crate::hosted::HostedClient;
use crate::json;
use crate::paginate::PageIterator;
use crate::runtime::future_into_py;

/// Runs operations of one connector, locally or through the engine. Cheap to share.
#[pyclass(module = "switchboard._native", frozen)]
pub struct Executor {
    inner: sdk::Executor,
}

impl Executor {
    /// Wraps a core executor.
    pub fn new(inner: sdk::Executor) -> Self {
        Self { inner }
    }
}

fn hooks(on_token_refresh: Option<Py<PyAny>>) -> Hooks {
    Hooks { http: Some(sdk::process::ProcessHttp::shared()), token_sink: on_token_refresh.map(PyTokenSink::shared) }
}

/// Core's request from `execute`'s arguments.
fn request(
    entity: &Bound<'_, PyAny>,
    action: &Bound<'_, PyAny>,
    params: Option<&Bound<'_, PyAny>>,
    select_fields: Option<&Bound<'_, PyAny>>,
    exclude_fields: Option<&Bound<'_, PyAny>>,
    skip_truncation: bool,
    intent: Option<&Bound<'_, PyAny>>,
) -> PyResult<ExecuteRequest> {
    Ok(ExecuteRequest {
        params: params.map(json::params).transpose()?.unwrap_or(serde_json::Value::Null),
        select_fields: json::paths("select_fields", select_fields)?,
        exclude_fields: json::paths("exclude_fields", exclude_fields)?,
        skip_truncation,
        intent: intent.filter(|i| !i.is_none()).map(|i| json::string("intent", i)).transpose()?,
        ..ExecuteRequest::new(json::name("entity", entity)?, json::name("action", action)?, serde_json::Value::Null)
    })
}

#[pymethods]
impl Executor {
    /// A local connector from `LocalSettings` JSON, with an optional `on_token_refresh`.
    #[staticmethod]
    #[pyo3(signature = (settings, on_token_refresh=None))]
    fn local(settings: &str, on_token_refresh: Option<Py<PyAny>>) -> PyResult<Self> {
        let settings = json::arg::<LocalSettings>("settings", settings)?;
        Ok(Self::new(sdk::Executor::local(settings, hooks(on_token_refresh)).map_err(to_py)?))
    }

    /// A typed connector's executor from `ConnectorSettings` JSON: local with credentials,
    /// else through the engine (core decides).
    #[staticmethod]
    #[pyo3(signature = (settings, on_token_refresh=None, token_provider=None))]
    fn open(settings: &str, on_token_refresh: Option<Py<PyAny>>, token_provider: Option<Py<PyAny>>) -> PyResult<Self> {
        let settings = json::arg::<ConnectorSettings>("settings", settings)?;
        let provider = token_provider.map(PyTokenProvider::shared);
        Ok(Self::new(sdk::Executor::open(settings, hooks(on_token_refresh), provider).map_err(to_py)?))
    }

    /// A stored connector from `Target` JSON (`connector_id`, or workspace and type).
    #[staticmethod]
    fn hosted(client: &HostedClient, target: &str) -> PyResult<Self> {
        let target: Target = json::arg("target", target)?;
        Ok(Self::new(sdk::Executor::hosted(client.inner.clone(), &target).map_err(to_py)?))
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
        self.inner.token_fetches()
    }

    /// Resolves to the stored connector's `ConnectorInfo` JSON (`null` in local mode).
    fn connector_info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let ex = self.inner.clone();
        future_into_py(py, async move { json::text(&ex.connector_info().await.map_err(to_py)?) })
    }

    /// Runs one operation (core's `ExecuteRequest`, from the caller's objects); resolves to its
    /// `Outcome`.
    #[pyo3(signature = (entity, action, params=None, select_fields=None, exclude_fields=None, skip_truncation=false, intent=None))]
    #[allow(clippy::too_many_arguments)] // the Python method's seven, beside `self` and the GIL token
    fn execute<'py>(
        &self,
        py: Python<'py>,
        entity: &Bound<'py, PyAny>,
        action: &Bound<'py, PyAny>,
        params: Option<&Bound<'py, PyAny>>,
        select_fields: Option<&Bound<'py, PyAny>>,
        exclude_fields: Option<&Bound<'py, PyAny>>,
        skip_truncation: bool,
        intent: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = request(entity, action, params, select_fields, exclude_fields, skip_truncation, intent)?;
        let ex = self.inner.clone();
        future_into_py(py, async move { Ok(json::Outcome::text(ex.execute_text(request).await.map_err(to_py)?)) })
    }

    /// An async iterator over every page of an operation (arguments as for `execute`).
    #[pyo3(signature = (entity, action, params=None, select_fields=None, exclude_fields=None, skip_truncation=false, intent=None))]
    #[allow(clippy::too_many_arguments)] // the Python method's seven, beside `self`
    fn paginate(
        &self,
        entity: &Bound<'_, PyAny>,
        action: &Bound<'_, PyAny>,
        params: Option<&Bound<'_, PyAny>>,
        select_fields: Option<&Bound<'_, PyAny>>,
        exclude_fields: Option<&Bound<'_, PyAny>>,
        skip_truncation: bool,
        intent: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PageIterator> {
        let request = request(entity, action, params, select_fields, exclude_fields, skip_truncation, intent)?;
        Ok(PageIterator::new(self.inner.paginate_text(request)))
    }

    /// Starts (or resumes) context store syncs of `entities` on the engine as `options` (core's
    /// `SyncOptions` as JSON) say; resolves to core's `SyncStarted` as JSON. Local mode fails
    /// with core's `hosted_only` error before any request.
    fn context_store_sync<'py>(
        &self,
        py: Python<'py>,
        entities: Vec<String>,
        options: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let ex = self.inner.clone();
        let options = json::arg("options", options)?;
        future_into_py(py, async move { json::text(&ex.context_store_sync(entities, options).await.map_err(to_py)?) })
    }

    /// Resolves to core's `StoreStatus` of the connector's context store as JSON (hosted only).
    fn context_store_status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let ex = self.inner.clone();
        future_into_py(py, async move { json::text(&ex.context_store_status().await.map_err(to_py)?) })
    }

    /// Runs the health check; resolves to its `Outcome` (`success` when healthy).
    fn check<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let ex = self.inner.clone();
        future_into_py(py, async move { Ok(json::Outcome::new(ex.check().await.map_err(to_py)?)) })
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.inner)
    }
}
