//! Mirrors `switchboard_core::hosted`: the engine client, a workspace and an executor for one
//! stored connector (the facade's `connect` is `HostedExecutor.by_definition`, which resolves
//! lazily like core's `connect`). The core client fetches and caches the application token;
//! nothing here touches a token.

use futures::TryFutureExt;
use pyo3::prelude::*;
use switchboard_core::hosted::{self as core, ConnectorLookup, HostedConfig, NewConnector};

use crate::connector::{json_arg, options_arg, to_json};
use crate::error::{invalid, to_py};
use crate::paginate::PageIterator;
use crate::runtime::{future_into_py, ProcessHttp};

/// An authenticated connection to an engine; unset arguments fall back to the
/// `SWITCHBOARD_*` environment variables. Never shows its secret.
#[pyclass(module = "switchboard._native", frozen)]
pub struct HostedClient {
    inner: core::HostedClient,
}

#[pymethods]
impl HostedClient {
    #[new]
    #[pyo3(signature = (base_url=None, client_id=None, client_secret=None, organization_id=None, timeout=None))]
    fn new(
        base_url: Option<String>,
        client_id: Option<String>,
        client_secret: Option<String>,
        organization_id: Option<String>,
        timeout: Option<f64>,
    ) -> PyResult<Self> {
        let timeout =
            timeout.map(std::time::Duration::try_from_secs_f64).transpose().map_err(|e| invalid("timeout", e))?;
        let config = HostedConfig {
            base_url,
            client_id,
            client_secret,
            organization_id,
            timeout,
            http: Some(ProcessHttp::shared()),
        };
        Ok(Self { inner: core::HostedClient::new(config).map_err(to_py)? })
    }

    /// The engine's base URL.
    #[getter]
    fn base_url(&self) -> String {
        self.inner.base_url().to_string()
    }

    /// How many application tokens this client fetched.
    fn token_fetches(&self) -> u64 {
        self.inner.token_fetches()
    }

    fn __repr__(&self) -> String {
        format!("HostedClient(base_url={:?})", self.inner.base_url())
    }
}

fn lookup(connector_id: Option<String>, name: Option<String>) -> PyResult<ConnectorLookup> {
    match (connector_id, name) {
        (Some(id), None) => Ok(ConnectorLookup::Id(id)),
        (None, Some(n)) => Ok(ConnectorLookup::Name(n)),
        _ => Err(invalid("connector lookup", "pass exactly one of connector_id or name")),
    }
}

/// One end customer's workspace.
#[pyclass(module = "switchboard._native", frozen)]
pub struct Workspace {
    inner: core::Workspace,
}

#[pymethods]
impl Workspace {
    #[new]
    fn new(client: &HostedClient, name: String) -> PyResult<Self> {
        Ok(Self { inner: core::Workspace::new(client.inner.clone(), name).map_err(to_py)? })
    }

    /// The workspace's name.
    #[getter]
    fn name(&self) -> String {
        self.inner.name().to_string()
    }

    /// How many application tokens the workspace's client fetched.
    fn token_fetches(&self) -> u64 {
        self.inner.client().token_fetches()
    }

    /// Stores a connector (`NewConnector` as JSON); resolves to its `ConnectorInfo` JSON.
    fn create_connector<'py>(&self, py: Python<'py>, new: &str) -> PyResult<Bound<'py, PyAny>> {
        let new: NewConnector = serde_json::from_str(new).map_err(|e| invalid("connector", e))?;
        let ws = self.inner.clone();
        future_into_py(py, async move { to_json(&ws.create_connector(new).await.map_err(to_py)?) })
    }

    /// Resolves to the workspace's connectors as a JSON list of `ConnectorInfo`.
    fn list_connectors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let ws = self.inner.clone();
        future_into_py(py, async move { to_json(&ws.list_connectors().await.map_err(to_py)?) })
    }

    /// Resolves to the one connector matching (`not_found` / `conflict` otherwise), as JSON.
    #[pyo3(signature = (connector_id=None, name=None))]
    fn find_connector<'py>(
        &self,
        py: Python<'py>,
        connector_id: Option<String>,
        name: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (ws, lookup) = (self.inner.clone(), lookup(connector_id, name)?);
        future_into_py(py, async move { to_json(&ws.find_connector(&lookup).await.map_err(to_py)?) })
    }

    /// Resolves to an executor for the one connector matching.
    #[pyo3(signature = (connector_id=None, name=None))]
    fn get_connector<'py>(
        &self,
        py: Python<'py>,
        connector_id: Option<String>,
        name: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (ws, lookup) = (self.inner.clone(), lookup(connector_id, name)?);
        future_into_py(py, async move {
            let inner = ws.get_connector(&lookup).await.map_err(to_py)?;
            Ok(HostedExecutor { inner, client: ws.client().clone() })
        })
    }

    /// Deletes a connector and its stored credentials.
    fn delete_connector<'py>(&self, py: Python<'py>, connector_id: String) -> PyResult<Bound<'py, PyAny>> {
        let ws = self.inner.clone();
        future_into_py(py, async move { ws.delete_connector(&connector_id).await.map_err(to_py) })
    }

    fn __repr__(&self) -> String {
        format!("Workspace({:?})", self.inner.name())
    }
}

/// Runs operations on one stored connector through the engine.
#[pyclass(module = "switchboard._native", frozen)]
pub struct HostedExecutor {
    inner: core::HostedExecutor,
    client: core::HostedClient,
}

#[pymethods]
impl HostedExecutor {
    /// By connector id.
    #[staticmethod]
    fn by_id(client: &HostedClient, connector_id: String) -> Self {
        Self { inner: core::HostedExecutor::by_id(client.inner.clone(), connector_id), client: client.inner.clone() }
    }

    /// By workspace and connector definition id (or slug); the lookup runs once, on first use.
    #[staticmethod]
    fn by_definition(client: &HostedClient, workspace_name: String, definition: &str) -> PyResult<Self> {
        let inner =
            core::HostedExecutor::by_definition(client.inner.clone(), workspace_name, definition).map_err(to_py)?;
        Ok(Self { inner, client: client.inner.clone() })
    }

    /// How many application tokens this executor's client fetched.
    fn token_fetches(&self) -> u64 {
        self.client.token_fetches()
    }

    /// Resolves to the stored connector's `ConnectorInfo` JSON (looked up once).
    fn connector<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let ex = self.inner.clone();
        future_into_py(py, async move { to_json(&ex.connector().await.map_err(to_py)?) })
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
        let (ex, params, options) = (self.inner.clone(), json_arg("params", params)?, options_arg(options)?);
        future_into_py(py, async move {
            let r = ex.execute(&entity, &action, params, &options).await.map_err(to_py)?;
            to_json(&r)
        })
    }

    /// Runs the connector's check on the engine; resolves to the check result as JSON text.
    fn check<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let ex = self.inner.clone();
        future_into_py(py, async move { to_json(&ex.check().await.map_err(to_py)?) })
    }

    /// An async iterator over every page of an operation.
    fn paginate(&self, entity: String, action: String, params: &str, options: &str) -> PyResult<PageIterator> {
        let (ex, params, options) = (self.inner.clone(), json_arg("params", params)?, options_arg(options)?);
        let pages = async move { ex.paginate(&entity, &action, params, options).await }.try_flatten_stream();
        Ok(PageIterator::new(Box::pin(pages)))
    }
}
