//! Mirrors `switchboard_core::hosted`: the engine client and a workspace. Settings and targets
//! arrive shaped like core's `ClientSettings` and `Target`, whose aliases and environment
//! fallbacks core applies; the token cache is core's too.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::Value;
use switchboard_core::hosted::{self as core, ConnectorLookup, NewConnector};
use switchboard_core::sdk::{self, ClientSettings, Target};

use crate::auth::{JsTokenProvider, ProviderFn};
use crate::error::{arg, to_js, value};
use crate::executor::Executor;

/// An authenticated connection to an engine. Never shows its secret.
#[napi]
pub struct HostedClient {
    pub(crate) inner: core::HostedClient,
}

#[napi]
impl HostedClient {
    /// A client from `ClientSettings`, with an optional token provider instead of client
    /// credentials.
    #[napi(
        constructor,
        ts_args_type = "settings: string, tokenProvider?: ((rejected: string | null) => Promise<string>) | null"
    )]
    pub fn new(settings: String, token_provider: Option<ProviderFn>) -> Result<Self> {
        let settings: ClientSettings = arg("settings", &settings)?;
        let inner = match token_provider {
            Some(p) => settings.client_with_provider(JsTokenProvider::shared(p), None),
            None => settings.client(None),
        };
        Ok(Self { inner: inner.map_err(to_js)? })
    }

    /// The engine's base URL.
    #[napi(getter)]
    pub fn base_url(&self) -> String {
        self.inner.base_url().to_string()
    }
}

fn lookup(connector_id: Option<String>, name: Option<String>) -> Result<ConnectorLookup> {
    ConnectorLookup::from_args(connector_id, name).map_err(to_js)
}

/// One end customer's workspace.
#[napi]
pub struct Workspace {
    inner: core::Workspace,
}

#[napi]
impl Workspace {
    /// The workspace a `Target` names (`workspace_name`, `external_user_id` or the
    /// environment), or a scoped client's own.
    #[napi(constructor)]
    pub fn new(client: &HostedClient, target: String) -> Result<Self> {
        let name = arg::<Target>("target", &target)?.workspace().map_err(to_js)?;
        Ok(Self { inner: core::Workspace::for_client(client.inner.clone(), name).map_err(to_js)? })
    }

    /// The workspace's name.
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.inner.name().to_string()
    }

    /// How many application tokens the workspace's client fetched.
    #[napi]
    pub fn token_fetches(&self) -> u32 {
        self.inner.client().token_fetches() as u32
    }

    /// Stores a connector (`NewConnector`); resolves to its `ConnectorInfo`.
    #[napi]
    pub async fn create_connector(&self, connector: String) -> Result<Value> {
        let new: NewConnector = arg("connector", &connector)?;
        value(&self.inner.create_connector(new).await.map_err(to_js)?)
    }

    /// Resolves to the workspace's connectors (`ConnectorInfo[]`).
    #[napi]
    pub async fn list_connectors(&self) -> Result<Value> {
        value(&self.inner.list_connectors().await.map_err(to_js)?)
    }

    /// Resolves to the one connector matching (`not_found` / `conflict` otherwise).
    #[napi]
    pub async fn find_connector(&self, connector_id: Option<String>, name: Option<String>) -> Result<Value> {
        let lookup = lookup(connector_id, name)?;
        value(&self.inner.find_connector(&lookup).await.map_err(to_js)?)
    }

    /// Resolves to an executor for the one connector matching.
    #[napi]
    pub async fn get_connector(&self, connector_id: Option<String>, name: Option<String>) -> Result<Executor> {
        let hosted = self.inner.get_connector(&lookup(connector_id, name)?).await.map_err(to_js)?;
        Ok(Executor::new(sdk::Executor::from(hosted)))
    }

    /// Deletes a connector and its stored credentials.
    #[napi]
    pub async fn delete_connector(&self, connector_id: String) -> Result<()> {
        self.inner.delete_connector(&connector_id).await.map_err(to_js)
    }
}
