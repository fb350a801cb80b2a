//! Mirrors `switchboard_core::hosted`: the engine client and a workspace. Settings and targets
//! arrive as the JSON of core's `ClientSettings` and `Target`, whose aliases and environment
//! fallbacks core applies; the token cache is core's too.

use pyo3::prelude::*;
use switchboard_core::hosted::{self as core, ConnectorLookup, NewConnector};
use switchboard_core::sdk::{self, ClientSettings, Target};

use crate::auth::PyTokenProvider;
use crate::error::to_py;
use crate::executor::Executor;
use crate::json;
use crate::runtime::future_into_py;

/// An authenticated connection to an engine. Never shows its secret.
#[pyclass(module = "switchboard._native", frozen)]
pub struct HostedClient {
    pub(crate) inner: core::HostedClient,
}

#[pymethods]
impl HostedClient {
    /// A client from `ClientSettings` JSON, with an optional `token_provider` callable
    /// (`(rejected_token_or_none) -> token`, sync or async) instead of client credentials.
    #[new]
    #[pyo3(signature = (settings, token_provider=None))]
    fn new(settings: &str, token_provider: Option<Py<PyAny>>) -> PyResult<Self> {
        let settings: ClientSettings = json::arg("settings", settings)?;
        let http = Some(sdk::process::ProcessHttp::shared());
        let inner = match token_provider {
            Some(p) => settings.client_with_provider(PyTokenProvider::shared(p), http),
            None => settings.client(http),
        };
        Ok(Self { inner: inner.map_err(to_py)? })
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
    ConnectorLookup::from_args(connector_id, name).map_err(to_py)
}

/// One end customer's workspace.
#[pyclass(module = "switchboard._native", frozen)]
pub struct Workspace {
    inner: core::Workspace,
}

#[pymethods]
impl Workspace {
    /// The workspace a `Target` JSON names (`workspace_name`, `external_user_id` or the
    /// environment), or a scoped client's own.
    #[new]
    fn new(client: &HostedClient, target: &str) -> PyResult<Self> {
        let target: Target = json::arg("target", target)?;
        let name = target.workspace().map_err(to_py)?;
        Ok(Self { inner: core::Workspace::for_client(client.inner.clone(), name).map_err(to_py)? })
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

    /// Stores a connector (`NewConnector` JSON); resolves to its `ConnectorInfo` JSON.
    fn create_connector<'py>(&self, py: Python<'py>, new: &str) -> PyResult<Bound<'py, PyAny>> {
        let (ws, new) = (self.inner.clone(), json::arg::<NewConnector>("connector", new)?);
        future_into_py(py, async move { json::text(&ws.create_connector(new).await.map_err(to_py)?) })
    }

    /// Resolves to the workspace's connectors as a JSON list of `ConnectorInfo`.
    fn list_connectors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let ws = self.inner.clone();
        future_into_py(py, async move { json::text(&ws.list_connectors().await.map_err(to_py)?) })
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
        future_into_py(py, async move { json::text(&ws.find_connector(&lookup).await.map_err(to_py)?) })
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
            let hosted = ws.get_connector(&lookup).await.map_err(to_py)?;
            Ok(Executor::new(sdk::Executor::from(hosted)))
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
