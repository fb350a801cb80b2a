//! Mirrors `switchboard_core::sdk::Executor`: one handle for local and hosted mode, and
//! `connect`. Settings, targets and requests arrive as the JSON of core's own structs; results
//! leave as [`ResultView`] records.

use std::sync::Arc;

use serde_json::Value;
use switchboard_core::sdk::{self, ConnectorSettings, ExecuteRequest, Hooks, LocalSettings, Target};
use switchboard_core::Error;

use crate::auth::{Provider, Sink, TokenProvider, TokenRefreshListener};
use crate::error::SwitchboardException;
use crate::hosted::{ConnectorInfo, HostedClient};
use crate::json;
use crate::paginate::Pages;

type Result<T> = std::result::Result<T, SwitchboardException>;

/// Core's `ResultView`: one operation's outcome. `data` (the records) and `meta` stay JSON
/// text; `cursor` is `meta.pagination.cursor` (as text), the next page's cursor if any.
#[derive(uniffi::Record)]
pub struct ResultView {
    pub success: bool,
    pub data_json: String,
    pub error: Option<String>,
    pub meta_json: String,
    pub cursor: Option<String>,
}

impl From<sdk::ResultView> for ResultView {
    fn from(v: sdk::ResultView) -> Self {
        let cursor = match v.meta.get("pagination").and_then(|p| p.get("cursor")) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
        };
        let meta_json = Value::Object(v.meta).to_string();
        Self { success: v.success, data_json: v.data.to_string(), error: v.error, meta_json, cursor }
    }
}

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
        open(settings, token_provider, on_token_refresh)
    }

    /// A connector stored in the engine, from `Target` JSON (`connector_id`, or a workspace
    /// and a connector type).
    #[uniffi::constructor]
    pub fn hosted(client: Arc<HostedClient>, target_json: String) -> Result<Arc<Self>> {
        let target: Target = json::arg("target", &target_json)?;
        Ok(Self::new(sdk::Executor::hosted(client.inner.clone(), &target)?))
    }

    /// Runs one `ExecuteRequest` (JSON: `{"entity", "action", "params", ...}`).
    pub async fn execute(&self, request_json: String) -> Result<ResultView> {
        let request: ExecuteRequest = json::arg("request", &request_json)?;
        Ok(sdk::ResultView::from(self.inner.execute(request).await?).into())
    }

    /// Every page of an `ExecuteRequest` (JSON), following the connector's cursor.
    pub fn paginate(&self, request_json: String) -> Result<Arc<Pages>> {
        let request: ExecuteRequest = json::arg("request", &request_json)?;
        Ok(Arc::new(Pages::new(self.inner.paginate(request))))
    }

    /// Runs the health check (`success` when healthy, the check's fields as `data`).
    pub async fn check(&self) -> Result<ResultView> {
        Ok(sdk::ResultView::from(self.inner.check().await?).into())
    }

    /// The stored connector; `None` in local mode.
    pub async fn connector_info(&self) -> Result<Option<ConnectorInfo>> {
        Ok(self.inner.connector_info().await?.map(Into::into))
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

fn open(
    settings: ConnectorSettings,
    token_provider: Option<Arc<dyn TokenProvider>>,
    on_token_refresh: Option<Arc<dyn TokenRefreshListener>>,
) -> Result<Arc<Executor>> {
    let provider = token_provider.map(Provider::shared);
    Ok(Executor::new(sdk::Executor::open(settings, hooks(on_token_refresh), provider)?))
}

/// The executor of the connector `slug` names (a slug, display name or definition id, resolved
/// by core: an unknown one is a `Configuration` error), opened as [`Executor::open`] does with
/// `ConnectorSettings` JSON that leaves `connector` out: without credentials it runs through
/// the engine on the one connector of that type in the workspace (or `connector_id`). The
/// typed connectors' `connect(...)` call this.
#[uniffi::export(default(settings_json = "{}", token_provider = None, on_token_refresh = None))]
pub fn connect(
    slug: String,
    settings_json: String,
    token_provider: Option<Arc<dyn TokenProvider>>,
    on_token_refresh: Option<Arc<dyn TokenRefreshListener>>,
) -> Result<Arc<Executor>> {
    let settings: ConnectorSettings = json::arg("settings", &settings_json)?;
    if !settings.connector.is_empty() {
        return Err(Error::validation("settings: connect takes the connector as its slug, not as `connector`").into());
    }
    open(ConnectorSettings { connector: sdk::connector_slug(&slug)?, ..settings }, token_provider, on_token_refresh)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The next page's cursor comes out of `meta.pagination`, a number as its text; `meta`
    /// keeps it too.
    #[test]
    fn result_view_lifts_the_cursor() {
        let view = |cursor: Value| {
            let meta = json!({"pagination": {"cursor": cursor}}).as_object().cloned().unwrap_or_default();
            ResultView::from(sdk::ResultView { success: true, data: json!([{"id": 1}]), error: None, meta })
        };
        let page = view(json!("c2"));
        assert_eq!((page.cursor.as_deref(), page.data_json.as_str()), (Some("c2"), r#"[{"id":1}]"#));
        assert_eq!(page.meta_json, r#"{"pagination":{"cursor":"c2"}}"#);
        assert_eq!(view(json!(20)).cursor.as_deref(), Some("20"));
        assert_eq!(view(Value::Null).cursor, None);
    }
}
