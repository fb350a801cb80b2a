//! Mirrors `switchboard_core::sdk::Executor`: one handle for local and hosted mode, and
//! `connect`. Settings, targets and requests arrive as the JSON of core's own structs; results
//! leave as [`ResultView`] records.

use std::sync::Arc;

use serde_json::Value;
use switchboard_core::hosted::ConnectorInfo;
use switchboard_core::sdk::{self, ConnectorSettings, ExecuteRequest, Hooks, LocalSettings, Target};
use switchboard_core::wire::{EntityStatus, StoreStatus, SyncStart, SyncStarted};
use switchboard_core::Error;

use crate::auth::{Provider, Sink, TokenProvider, TokenRefreshListener};
use crate::error::SwitchboardException;
use crate::hosted::HostedClient;
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

impl From<sdk::ResultText> for ResultView {
    fn from(v: sdk::ResultText) -> Self {
        let cursor = v.cursor();
        let meta_json = Value::Object(v.meta).to_string();
        Self { success: v.success, data_json: v.data, error: v.error, meta_json, cursor }
    }
}

impl From<sdk::ResultView> for ResultView {
    fn from(v: sdk::ResultView) -> Self {
        sdk::ResultText::from(v).into()
    }
}

/// A result as a model should see it (core's `sdk::tool_output`): `{data, meta}` as JSON of at
/// most `max_chars` characters; long lists lose their last records and long text is cut, with
/// a `_truncated` note saying what was cut. `max_chars` below 1 is a `Validation` error.
#[uniffi::export(default(max_chars = 20000))]
pub fn tool_output(result: ResultView, max_chars: i64) -> Result<String> {
    let max_chars = sdk::output_limit(max_chars)?;
    // `{data, meta}` as Node's `toToolOutput` sends it (text that is not JSON fails to parse).
    let text = format!("{{\"data\":{},\"meta\":{}}}", result.data_json, result.meta_json);
    Ok(sdk::tool_output(&json::arg("result", &text)?, max_chars))
}

// Core's context store types, exposed as they are: each `remote` definition below mirrors the
// struct in `switchboard_core::wire` field for field (the build fails if they differ), and
// UniFFI converts core's own values, with no copy of them written here.

/// How the sync of one entity started.
#[uniffi::remote(Record)]
pub struct SyncStart {
    pub entity: String,
    /// `started` (a new sync), `resumed` (an interrupted or failed one) or `already_running`.
    pub status: String,
    /// The sync's generation (0 when `already_running`).
    pub generation: i64,
}

/// What `context_store_sync` returns.
#[uniffi::remote(Record)]
pub struct SyncStarted {
    pub entities: Vec<SyncStart>,
}

/// The sync state of one entity of the context store.
#[uniffi::remote(Record)]
pub struct EntityStatus {
    pub entity: String,
    /// `running`, `succeeded`, `failed` or `interrupted`.
    pub status: String,
    /// Bumped by every new full sync.
    pub generation: i64,
    /// Pages committed by the current (or last) sync.
    pub pages: i64,
    /// Records committed by the current (or last) sync.
    pub records_synced: i64,
    /// Records in the cache after the last completed sync.
    pub record_count: i64,
    /// Records the last completed sync deleted (gone at the provider).
    pub deleted: i64,
    pub last_error: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub updated_at: Option<String>,
    /// Seconds between scheduled full syncs; `None` when not scheduled.
    pub every_seconds: Option<i64>,
    /// When the next scheduled sync is due (RFC 3339); `None` when not scheduled.
    pub next_run_at: Option<String>,
    /// The mode of the current (or last) sync: `full` or `incremental`.
    pub mode: Option<String>,
    /// The latest update time (RFC 3339) of the records synced so far (incremental entities).
    pub high_water_mark: Option<String>,
    /// When the last full sync (with reconciliation) finished (RFC 3339).
    pub last_full_sync_at: Option<String>,
    /// The entity's `full_every_seconds`; `None`: the engine's default.
    pub full_every_seconds: Option<i64>,
}

/// What `context_store_status` returns.
#[uniffi::remote(Record)]
pub struct StoreStatus {
    pub entities: Vec<EntityStatus>,
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
    /// (`{"connector", "credentials", "config", "timeout", "max_concurrent_requests"}`);
    /// `on_token_refresh` hears of each OAuth refresh.
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
        Ok(self.inner.execute_text(request).await?.into())
    }

    /// Every page of an `ExecuteRequest` (JSON), following the connector's cursor.
    pub fn paginate(&self, request_json: String) -> Result<Arc<Pages>> {
        let request: ExecuteRequest = json::arg("request", &request_json)?;
        Ok(Arc::new(Pages::new(self.inner.paginate_text(request))))
    }

    /// Runs the health check (`success` when healthy, the check's fields as `data`).
    pub async fn check(&self) -> Result<ResultView> {
        Ok(sdk::ResultView::from(self.inner.check().await?).into())
    }

    /// Starts (or resumes) syncs of `entities` into the connector's context store on the
    /// engine, in the background; with `every_seconds` (60 to 31,622,400) the engine also runs
    /// one that often, and `unschedule` removes their schedules. `mode` is `auto` (the default),
    /// `full` or `incremental`; with `auto`, `full_every_seconds` is the age of the last full
    /// sync from which a full one runs instead of an incremental one. Poll
    /// [`Executor::context_store_status`] for progress. Local mode fails with a `Configuration`
    /// error (`details` reason `hosted_only`) before any request.
    #[uniffi::method(default(every_seconds = None, unschedule = false, mode = None, full_every_seconds = None))]
    pub async fn context_store_sync(
        &self,
        entities: Vec<String>,
        every_seconds: Option<i64>,
        unschedule: bool,
        mode: Option<String>,
        full_every_seconds: Option<i64>,
    ) -> Result<SyncStarted> {
        let options = sdk::SyncOptions { every_seconds, unschedule, mode, full_every_seconds };
        Ok(self.inner.context_store_sync(entities, options).await?)
    }

    /// The sync state of each entity of the connector's context store (hosted mode only).
    pub async fn context_store_status(&self) -> Result<StoreStatus> {
        Ok(self.inner.context_store_status().await?)
    }

    /// The stored connector; `None` in local mode.
    pub async fn connector_info(&self) -> Result<Option<ConnectorInfo>> {
        Ok(self.inner.connector_info().await?)
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

    /// The record carries core's `ResultText` over as it is: data and meta as JSON text, the
    /// cursor as core reads it (a number as its text).
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
