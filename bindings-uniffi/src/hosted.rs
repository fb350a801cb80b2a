//! Mirrors `switchboard_core::hosted`: the engine client and a workspace. Settings and targets
//! arrive as the JSON of core's `ClientSettings` and `Target` (core applies aliases and
//! environment fallbacks); connectors leave as [`ConnectorInfo`] records.

use std::sync::Arc;

use switchboard_core::hosted::{self as core, ConnectorInfo, ConnectorLookup, NewConnector};
use switchboard_core::sdk::{self, ClientSettings, Target};

use crate::auth::{Provider, TokenProvider};
use crate::error::SwitchboardException;
use crate::executor::Executor;
use crate::json;

type Result<T> = std::result::Result<T, SwitchboardException>;

// Core's `ConnectorInfo` exposed as it is: this `remote` definition mirrors it field for field
// (the build fails if they differ) and UniFFI converts core's own values.

/// A stored connector as the engine describes it (never its credentials).
#[uniffi::remote(Record)]
pub struct ConnectorInfo {
    pub id: String,
    pub name: String,
    /// The type's display name (`GitHub`).
    pub connector_type: String,
    /// The type's slug (`github`).
    pub slug: String,
    pub definition_id: String,
    pub workspace_name: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// An authenticated connection to an engine; its application token is cached and renewed
/// once for every executor and workspace that shares it.
#[derive(uniffi::Object)]
pub struct HostedClient {
    pub(crate) inner: core::HostedClient,
}

#[uniffi::export]
impl HostedClient {
    /// A client from `ClientSettings` JSON (`{"base_url", "client_id", "client_secret", ...}`).
    #[uniffi::constructor]
    pub fn new(settings_json: String) -> Result<Arc<Self>> {
        let settings: ClientSettings = json::arg("settings", &settings_json)?;
        Ok(Arc::new(Self { inner: settings.client(None)? }))
    }

    /// A client from `ClientSettings` JSON whose token comes from the app's `provider` (a
    /// scoped token minted by the app's backend) instead of a client secret.
    #[uniffi::constructor]
    pub fn with_token_provider(settings_json: String, provider: Arc<dyn TokenProvider>) -> Result<Arc<Self>> {
        let settings: ClientSettings = json::arg("settings", &settings_json)?;
        Ok(Arc::new(Self { inner: settings.client_with_provider(Provider::shared(provider), None)? }))
    }

    /// The engine's base URL.
    pub fn base_url(&self) -> String {
        self.inner.base_url().to_string()
    }

    /// How many application tokens this client fetched.
    pub fn token_fetches(&self) -> u64 {
        self.inner.token_fetches()
    }
}

/// One end customer's workspace in the engine.
#[derive(uniffi::Object)]
pub struct Workspace {
    inner: core::Workspace,
}

#[uniffi::export(async_runtime = "tokio")]
impl Workspace {
    /// The workspace a `Target` JSON names (`workspace_name`, `external_user_id` or the
    /// environment), or a scoped client's own.
    #[uniffi::constructor]
    pub fn new(client: Arc<HostedClient>, target_json: String) -> Result<Arc<Self>> {
        let target: Target = json::arg("target", &target_json)?;
        let inner = core::Workspace::for_client(client.inner.clone(), target.workspace()?)?;
        Ok(Arc::new(Self { inner }))
    }

    /// The workspace's name.
    pub fn name(&self) -> String {
        self.inner.name().to_string()
    }

    /// Stores a connector (`NewConnector` JSON).
    pub async fn create_connector(&self, connector_json: String) -> Result<ConnectorInfo> {
        let new: NewConnector = json::arg("connector", &connector_json)?;
        Ok(self.inner.create_connector(new).await?)
    }

    /// The workspace's connectors.
    pub async fn list_connectors(&self) -> Result<Vec<ConnectorInfo>> {
        Ok(self.inner.list_connectors().await?)
    }

    /// The one connector matching exactly one of `connector_id` or `name` (a type or a
    /// connector name).
    pub async fn find_connector(&self, connector_id: Option<String>, name: Option<String>) -> Result<ConnectorInfo> {
        let lookup = ConnectorLookup::from_args(connector_id, name)?;
        Ok(self.inner.find_connector(&lookup).await?)
    }

    /// An executor for the one connector matching exactly one of `connector_id` or `name`.
    pub async fn get_connector(&self, connector_id: Option<String>, name: Option<String>) -> Result<Arc<Executor>> {
        let lookup = ConnectorLookup::from_args(connector_id, name)?;
        Ok(Executor::new(sdk::Executor::from(self.inner.get_connector(&lookup).await?)))
    }

    /// Deletes a connector and its stored credentials.
    pub async fn delete_connector(&self, connector_id: String) -> Result<()> {
        Ok(self.inner.delete_connector(&connector_id).await?)
    }
}
