//! Mirrors `switchboard_core::sdk::Executor`: one handle for local and hosted mode. Settings,
//! targets and requests arrive as the JSON of core's own structs; results leave as the JSON of
//! core's `ResultView`.

use std::sync::Arc;

use switchboard_core::sdk::{self, ConnectorSettings, ExecuteRequest, Hooks, LocalSettings, ResultView, Target};

use crate::auth::{Provider, Sink, TokenProvider, TokenRefreshListener};
use crate::error::SwitchboardException;
use crate::hosted::HostedClient;
use crate::json;
use crate::paginate::Pages;

type Result<T> = std::result::Result<T, SwitchboardException>;

/// Runs operations of one connector, locally or through the engine. Cheap to share across
/// coroutines and threads.
#[derive(uniffi::Object)]
pub struct Executor {
    inner: sdk::Executor,
}

impl Executor {
    pub(crate) fn new(inner: sdk::Executor) -> Arc<Self> {
        Arc::new(Self { inner })
    }
}

/// Core's hooks with the app's `on_token_refresh`, if any.
fn hooks(on_token_refresh: Option<Arc<dyn TokenRefreshListener>>) -> Hooks {
    Hooks { token_sink: on_token_refresh.map(Sink::shared), ..Hooks::default() }
}

#[uniffi::export(async_runtime = "tokio")]
impl Executor {
    /// A connector running in this process, from `LocalSettings` JSON
    /// (`{"connector", "credentials", "config", "timeout"}`); `on_token_refresh` hears of each
    /// OAuth refresh.
    #[uniffi::constructor(default(on_token_refresh = None))]
    pub fn local(settings_json: String, on_token_refresh: Option<Arc<dyn TokenRefreshListener>>) -> Result<Arc<Self>> {
        let settings: LocalSettings = json::arg("settings", &settings_json)?;
        Ok(Self::new(sdk::Executor::local(settings, hooks(on_token_refresh))?))
    }

    /// A typed connector's executor from `ConnectorSettings` JSON: local with credentials,
    /// else through the engine (core decides), where `token_provider` may supply the token
    /// instead of a client secret; `on_token_refresh` as in [`Executor::local`].
    #[uniffi::constructor(default(token_provider = None, on_token_refresh = None))]
    pub fn open(
        settings_json: String,
        token_provider: Option<Arc<dyn TokenProvider>>,
        on_token_refresh: Option<Arc<dyn TokenRefreshListener>>,
    ) -> Result<Arc<Self>> {
        let settings: ConnectorSettings = json::arg("settings", &settings_json)?;
        let provider = token_provider.map(Provider::shared);
        Ok(Self::new(sdk::Executor::open(settings, hooks(on_token_refresh), provider)?))
    }

    /// A connector stored in the engine, from `Target` JSON (`connector_id`, or a workspace
    /// and a connector type).
    #[uniffi::constructor]
    pub fn hosted(client: Arc<HostedClient>, target_json: String) -> Result<Arc<Self>> {
        let target: Target = json::arg("target", &target_json)?;
        Ok(Self::new(sdk::Executor::hosted(client.inner.clone(), &target)?))
    }

    /// Runs one `ExecuteRequest` (JSON: `{"entity", "action", "params", ...}`); returns the
    /// `ResultView` JSON (`{"success", "data", "error", "meta"}`).
    pub async fn execute(&self, request_json: String) -> Result<String> {
        let request: ExecuteRequest = json::arg("request", &request_json)?;
        json::text(&ResultView::from(self.inner.execute(request).await?))
    }

    /// Every page of an `ExecuteRequest` (JSON), following the connector's cursor.
    pub fn paginate(&self, request_json: String) -> Result<Arc<Pages>> {
        let request: ExecuteRequest = json::arg("request", &request_json)?;
        Ok(Arc::new(Pages::new(self.inner.paginate(request))))
    }

    /// Runs the health check; returns its `ResultView` JSON (`success` when healthy).
    pub async fn check(&self) -> Result<String> {
        json::text(&ResultView::from(self.inner.check().await?))
    }

    /// The stored connector's `ConnectorInfo` JSON; `None` in local mode.
    pub async fn connector_info(&self) -> Result<Option<String>> {
        self.inner.connector_info().await?.map(|info| json::text(&info)).transpose()
    }

    /// The local connector's slug; `None` in hosted mode.
    pub fn slug(&self) -> Option<String> {
        self.inner.slug()
    }

    /// Whether operations run through the engine.
    pub fn is_hosted(&self) -> bool {
        self.inner.is_hosted()
    }

    /// How many application tokens the engine client fetched (0 in local mode).
    pub fn token_fetches(&self) -> u64 {
        self.inner.token_fetches()
    }
}
