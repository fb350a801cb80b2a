//! One executor over local and hosted mode. A binding holds an [`Executor`] and forwards
//! `execute`, `paginate` and `check` to it with one [`ExecuteRequest`]; which mode runs, and how
//! a hosted target is found, is decided here.

use std::sync::Arc;

use futures::stream::{BoxStream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth::TokenSink;
use crate::connector::{Connector, ConnectorOptions};
use crate::error::{Error, Result};
use crate::execution::{CheckResult, ExecuteOptions, ExecutionResult, JsonData, JsonExecution};
use crate::hosted::{ConnectorInfo, HostedClient, HostedExecutor};
use crate::http::{Bounded, HttpClient, NetClient};
use crate::registry::Registry;
use crate::sdk::settings::{seconds, ResolvedTarget, Target};
use crate::tools::bound_output;
use crate::wire::{StoreStatus, SyncRequest, SyncStarted};

/// What a `context_store_sync` call asks beyond starting the syncs; the default starts them
/// in `auto` mode and leaves their schedules as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncOptions {
    /// Also schedule a sync of each entity this often (seconds, 60 to 31,622,400; the engine
    /// refuses anything else with `details.reason` `invalid_schedule`).
    pub every_seconds: Option<i64>,
    /// Remove the entities' schedules (not together with `every_seconds`).
    pub unschedule: bool,
    /// `auto` (the default: incremental when the entity allows it and its last full sync is
    /// recent enough), `full` (with reconciliation: records gone at the provider are deleted) or
    /// `incremental`.
    pub mode: Option<String>,
    /// With `auto`, the age of the last full sync (seconds) from which a full sync runs instead
    /// of an incremental one; kept per entity (default a day).
    pub full_every_seconds: Option<i64>,
}

impl SyncOptions {
    /// The engine's request; refuses `every_seconds` together with `unschedule`.
    pub fn request(self, entities: Vec<String>) -> Result<SyncRequest> {
        let every_seconds = match (self.every_seconds, self.unschedule) {
            (Some(_), true) => {
                return Err(Error::validation(
                    "every_seconds schedules the entities and unschedule removes their schedules: give one or the \
                     other",
                )
                .with_details(json!({"reason": "invalid_schedule"})))
            }
            (Some(n), false) => Some(Some(n)),
            (None, true) => Some(None),
            (None, false) => None,
        };
        Ok(SyncRequest { entities, every_seconds, mode: self.mode, full_every_seconds: self.full_every_seconds })
    }
}

/// One call of an operation, as every binding passes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecuteRequest {
    /// `issues`.
    pub entity: String,
    /// `list`.
    pub action: String,
    /// The operation's params (a JSON object; `null` is `{}`).
    pub params: Value,
    /// Keep only these dot paths of each record.
    pub select_fields: Vec<String>,
    /// Drop these dot paths from each record.
    pub exclude_fields: Vec<String>,
    /// Return long text in list results whole.
    pub skip_truncation: bool,
    /// Why the agent makes the call (hosted mode sends it to the engine), at most 512
    /// characters.
    pub intent: Option<String>,
}

impl ExecuteRequest {
    /// A request for `entity` / `action` with `params`.
    pub fn new(entity: impl Into<String>, action: impl Into<String>, params: Value) -> Self {
        Self { entity: entity.into(), action: action.into(), params, ..Self::default() }
    }

    fn split(self) -> (String, String, Value, ExecuteOptions) {
        let params = if self.params.is_null() { json!({}) } else { self.params };
        let options = ExecuteOptions {
            select_fields: self.select_fields,
            exclude_fields: self.exclude_fields,
            skip_truncation: self.skip_truncation,
            intent: self.intent,
        };
        (self.entity, self.action, params, options)
    }
}

/// A local connector: which one, and the credentials the caller holds.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalSettings {
    /// Slug, display name or definition id.
    pub connector: String,
    pub credentials: Value,
    pub config: Value,
    /// Seconds allowed for one upstream exchange (default 30).
    pub timeout: Option<f64>,
    /// At most this many of the connector's requests in progress at once (a positive whole
    /// number); more wait for a turn within their timeout. Within the process's own limit per
    /// origin ([`crate::http::EXCHANGES_PER_ORIGIN`], or `SWITCHBOARD_EXCHANGES_PER_ORIGIN`),
    /// which applies as well. Default: that limit alone.
    pub max_concurrent_requests: Option<u64>,
}

impl std::fmt::Debug for LocalSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSettings").field("connector", &self.connector).finish_non_exhaustive()
    }
}

/// What a binding plugs into a local connector: its HTTP seam (e.g. one client per runtime)
/// and its `on_token_refresh` callback.
#[derive(Clone, Default)]
pub struct Hooks {
    pub http: Option<Arc<dyn HttpClient>>,
    pub token_sink: Option<Arc<dyn TokenSink>>,
}

#[derive(Clone)]
enum Mode {
    Local(Connector),
    Hosted(HostedExecutor),
}

/// Runs operations locally or through the engine. Cheap to clone.
#[derive(Clone)]
pub struct Executor {
    mode: Mode,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.mode {
            Mode::Local(c) => write!(f, "Executor(local {:?})", c.spec().slug),
            Mode::Hosted(_) => write!(f, "Executor(hosted)"),
        }
    }
}

/// A stream of pages; a failure is its last item.
pub type Pages = BoxStream<'static, Result<ExecutionResult>>;

/// [`Pages`] as JSON text ([`Executor::paginate_text`]).
pub type TextPages = BoxStream<'static, Result<ResultText>>;

impl Executor {
    /// A connector running in this process with the caller's credentials.
    pub fn local(settings: LocalSettings, hooks: Hooks) -> Result<Self> {
        let spec = Registry::shared()?.get(&settings.connector)?;
        let mut options = ConnectorOptions { http: hooks.http, token_sink: hooks.token_sink, ..Default::default() };
        if let Some(n) = settings.max_concurrent_requests {
            let n = usize::try_from(n).ok().filter(|n| *n > 0).ok_or_else(|| {
                Error::validation(format!("max_concurrent_requests must be a positive whole number, not {n}"))
                    .with_details(json!({"param": "max_concurrent_requests"}))
            })?;
            let http = options.http.take().unwrap_or_else(NetClient::shared);
            options.http = Some(Arc::new(Bounded::new(http, n)));
        }
        if let Some(t) = seconds("timeout", settings.timeout)? {
            options.timeout = t;
        }
        let credentials = if settings.credentials.is_null() { json!({}) } else { settings.credentials };
        let config = if settings.config.is_null() { json!({}) } else { settings.config };
        Ok(Self { mode: Mode::Local(Connector::new(spec, credentials, config, options)?) })
    }

    /// A typed connector's executor: local with credentials, else through the engine (see
    /// [`ConnectorSettings`](crate::sdk::ConnectorSettings)); `provider` supplies the engine
    /// token when the app holds no client secret.
    pub fn open(
        settings: crate::sdk::ConnectorSettings,
        hooks: Hooks,
        provider: Option<Arc<dyn crate::hosted::TokenProvider>>,
    ) -> Result<Self> {
        match settings.mode()? {
            crate::sdk::ConnectorMode::Local(local) => Self::local(local, hooks),
            crate::sdk::ConnectorMode::Hosted(client, target) => {
                let client = match provider {
                    Some(p) => client.client_with_provider(p, hooks.http)?,
                    None => client.client(hooks.http)?,
                };
                Self::hosted(client, &target)
            }
        }
    }

    /// A connector stored in the engine, found by `target`'s rules (a lookup by type runs on
    /// first use and is cached).
    pub fn hosted(client: HostedClient, target: &Target) -> Result<Self> {
        let executor = match target.resolve(client.is_scoped())? {
            ResolvedTarget::Id(id) => HostedExecutor::by_id(client, id),
            ResolvedTarget::Lookup { workspace_name, connector_type } => {
                HostedExecutor::by_definition(client, workspace_name, &connector_type)?
            }
        };
        Ok(Self::from(executor))
    }

    /// How many application tokens the engine client fetched (0 in local mode).
    pub fn token_fetches(&self) -> u64 {
        match &self.mode {
            Mode::Local(_) => 0,
            Mode::Hosted(h) => h.client().token_fetches(),
        }
    }

    /// Whether operations run through the engine.
    pub fn is_hosted(&self) -> bool {
        matches!(self.mode, Mode::Hosted(_))
    }

    /// The local connector's slug (`None` in hosted mode: see [`Executor::connector_info`]).
    pub fn slug(&self) -> Option<String> {
        match &self.mode {
            Mode::Local(c) => Some(c.spec().slug.clone()),
            Mode::Hosted(_) => None,
        }
    }

    /// The stored connector a hosted executor runs (looked up once); `None` in local mode.
    pub async fn connector_info(&self) -> Result<Option<ConnectorInfo>> {
        match &self.mode {
            Mode::Local(_) => Ok(None),
            Mode::Hosted(h) => h.connector().await.map(Some),
        }
    }

    /// Runs one operation. The context store actions ([`HOSTED_ONLY_ACTIONS`]) run on the
    /// engine only: in local mode they fail with [`hosted_only`]'s error.
    pub async fn execute(&self, request: ExecuteRequest) -> Result<ExecutionResult> {
        let (entity, action, params, options) = request.split();
        match &self.mode {
            Mode::Local(_) if is_hosted_only(&action) => Err(hosted_only(&action)),
            Mode::Local(c) => c.execute(&entity, &action, params, &options).await,
            Mode::Hosted(h) => h.execute(&entity, &action, params, &options).await,
        }
    }

    /// [`Self::execute`] for a binding that parses the data from JSON text (every binding:
    /// Node and the JVM parse it themselves, Python's module straight into Python objects): a
    /// local list page's records go from the API's answer to the text without being parsed
    /// into a tree and written out again (see [`Connector::execute_json`]), and so does the
    /// engine's answer in hosted mode; parsed, the text is the data [`Self::execute`] gives.
    pub async fn execute_text(&self, request: ExecuteRequest) -> Result<ResultText> {
        let (entity, action, params, options) = request.split();
        let done = match &self.mode {
            Mode::Local(_) if is_hosted_only(&action) => return Err(hosted_only(&action)),
            Mode::Local(c) => c.execute_json(&entity, &action, params, &options).await?,
            Mode::Hosted(h) => h.execute_json(&entity, &action, params, &options).await?,
        };
        ResultText::of(done)
    }

    /// [`Self::paginate`] with each page as [`Self::execute_text`] gives it.
    pub fn paginate_text(&self, request: ExecuteRequest) -> TextPages {
        let (entity, action, params, options) = request.split();
        let pages = match &self.mode {
            Mode::Local(_) if is_hosted_only(&action) => {
                return futures::stream::iter([Err(hosted_only(&action))]).boxed()
            }
            Mode::Local(c) => c.paginate_json(&entity, &action, params, options).boxed(),
            Mode::Hosted(h) => h.paginate_json(&entity, &action, params, options).boxed(),
        };
        // Fused: a binding may poll again after the end (it gets `None`, never a panic).
        pages.map(|page| page.and_then(ResultText::of)).fuse().boxed()
    }

    /// Every page of an operation, following the connector's cursor.
    pub fn paginate(&self, request: ExecuteRequest) -> Pages {
        let (entity, action, params, options) = request.split();
        match &self.mode {
            Mode::Local(_) if is_hosted_only(&action) => futures::stream::iter([Err(hosted_only(&action))]).boxed(),
            // Fused: a binding may poll again after the end (it gets `None`, never a panic).
            Mode::Local(c) => c.paginate(&entity, &action, params, options).fuse().boxed(),
            Mode::Hosted(h) => h.paginate(&entity, &action, params, options).fuse().boxed(),
        }
    }

    /// Starts syncs of `entities` into the connector's context store (hosted mode only), as
    /// `options` say: the mode, and whether to schedule or unschedule them.
    pub async fn context_store_sync(&self, entities: Vec<String>, options: SyncOptions) -> Result<SyncStarted> {
        let request = options.request(entities)?;
        match &self.mode {
            Mode::Local(_) => Err(hosted_only("context_store_sync")),
            Mode::Hosted(h) => h.context_store_sync(&request).await,
        }
    }

    /// The sync status, progress and counts of each entity of the connector's context store
    /// (hosted mode only).
    pub async fn context_store_status(&self) -> Result<StoreStatus> {
        match &self.mode {
            Mode::Local(_) => Err(hosted_only("context_store_status")),
            Mode::Hosted(h) => h.context_store_status().await,
        }
    }

    /// Runs the connector's health check; an unhealthy connector is a result, not an error.
    pub async fn check(&self) -> Result<CheckResult> {
        match &self.mode {
            Mode::Local(c) => Ok(c.check().await),
            Mode::Hosted(h) => h.check().await,
        }
    }
}

/// The actions answered from the engine's context store (cached records), never by a
/// connector running in this process: the reference product's names.
pub const HOSTED_ONLY_ACTIONS: [&str; 2] = ["context_store_search", "context_store_sql_query"];

/// Whether `action` runs on the engine only.
pub fn is_hosted_only(action: &str) -> bool {
    HOSTED_ONLY_ACTIONS.contains(&action)
}

/// The error of a context store call in local mode: a `configuration` error (the executor has
/// to be opened in hosted mode) with `details.reason` `hosted_only`.
pub fn hosted_only(action: &str) -> Error {
    Error::configuration(format!(
        "{action} is only available in hosted mode (the context store lives in the engine): \
         open the connector with client credentials or a scoped token instead of local credentials"
    ))
    .with_details(json!({"reason": "hosted_only", "action": action}))
}

impl From<HostedExecutor> for Executor {
    fn from(h: HostedExecutor) -> Self {
        Self { mode: Mode::Hosted(h) }
    }
}

impl From<Connector> for Executor {
    fn from(c: Connector) -> Self {
        Self { mode: Mode::Local(c) }
    }
}

/// A result as bindings hand it to their languages: `success`, `data`, `error` (the reference's
/// shape) and `meta`, whose `pagination` always carries `cursor` (the next page's, or null on
/// the last page) beside the spec's meta values (e.g. `total_records`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResultView {
    pub success: bool,
    pub data: Value,
    pub error: Option<String>,
    pub meta: serde_json::Map<String, Value>,
}

impl From<ExecutionResult> for ResultView {
    fn from(r: ExecutionResult) -> Self {
        let pagination = r.pagination();
        let mut meta = r.meta;
        meta.insert("pagination".into(), Value::Object(pagination));
        Self { success: true, data: r.data, error: None, meta }
    }
}

/// A [`ResultView`] whose data is JSON text, for a binding whose language parses it (see
/// [`Executor::execute_text`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ResultText {
    pub success: bool,
    /// The data as JSON text.
    pub data: String,
    pub error: Option<String>,
    pub meta: serde_json::Map<String, Value>,
}

impl ResultText {
    /// The text of a result with its data as JSON ([`Connector::execute_json`]).
    fn of(done: JsonExecution) -> Result<Self> {
        let pagination = done.pagination();
        let mut meta = done.meta;
        meta.insert("pagination".into(), Value::Object(pagination));
        Ok(Self { success: true, data: json_text(&done.data)?, error: None, meta })
    }

    /// The next page's cursor as text (a number's digits), or `None` on the last page.
    pub fn cursor(&self) -> Option<String> {
        match self.meta.get("pagination").and_then(|p| p.get("cursor")) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
        }
    }

    /// The whole result as JSON text: what [`ResultView`] serializes to.
    pub fn to_json(&self) -> Result<String> {
        let rest = serde_json::to_string(&Rest { error: &self.error, meta: &self.meta }).map_err(cannot_encode)?;
        let success = if self.success { "true" } else { "false" };
        // `rest` is `{"error":...,"meta":...}`: the data goes in before its first key.
        let mut out = String::with_capacity(self.data.len() + rest.len() + 32);
        out.push_str("{\"success\":");
        out.push_str(success);
        out.push_str(",\"data\":");
        out.push_str(&self.data);
        out.push(',');
        out.push_str(&rest[1..]);
        Ok(out)
    }
}

/// The fields of a [`ResultText`] written after its data.
#[derive(Serialize)]
struct Rest<'a> {
    error: &'a Option<String>,
    meta: &'a serde_json::Map<String, Value>,
}

fn cannot_encode(e: impl std::fmt::Display) -> Error {
    Error::internal(format!("cannot encode a result: {e}"))
}

/// `data` as JSON text, written into a buffer sized for its records once.
fn json_text(data: &JsonData) -> Result<String> {
    let mut out = Vec::with_capacity(data.text_len() + 2);
    serde_json::to_writer(&mut out, data).map_err(cannot_encode)?;
    String::from_utf8(out).map_err(cannot_encode)
}

impl From<ResultView> for ResultText {
    fn from(v: ResultView) -> Self {
        Self { success: v.success, data: v.data.to_string(), error: v.error, meta: v.meta }
    }
}

impl From<CheckResult> for ResultView {
    /// A health check as a result: `success` when healthy, the check's fields as `data`.
    fn from(c: CheckResult) -> Self {
        let error = c.error.as_ref().map(|e| format!("{}: {}", e.code.as_str(), e.message));
        let data = serde_json::to_value(&c).unwrap_or(Value::Null);
        Self { success: c.status == "healthy", data, error, meta: serde_json::Map::new() }
    }
}

/// A result as a model should see it: `{"data", "meta"}` as JSON text of at most `max_chars`
/// characters (long lists lose their last records, long text is cut, and a `_truncated` note
/// says what was cut and how to page on), with `next_page_params` when there is a next page:
/// the params to add to the same call for it (`{"starting_after": "cus_9"}`), which the records
/// may no longer show once `select_fields` trimmed them.
pub fn tool_output(result: &ExecutionResult, max_chars: usize) -> String {
    let mut value = json!({"data": result.data, "meta": result.meta});
    if let Some(next) = &result.next_page {
        value["next_page_params"] = json!({ next.param.as_str(): next.cursor });
    }
    let (bounded, _cut) = bound_output(&value, max_chars);
    bounded.to_string()
}

/// A caller's bound on [`tool_output`], as a language's integer: it must be positive (JavaScript
/// would wrap -1 to an unbounded 4,294,967,295, Python raise its own `OverflowError`).
pub fn output_limit(max_chars: i64) -> Result<usize> {
    usize::try_from(max_chars).ok().filter(|m| *m > 0).ok_or_else(|| {
        Error::validation(format!("max_chars is {max_chars}: it must be a positive number of characters, e.g. 20000"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn local() -> Result<Executor> {
        let settings = LocalSettings {
            connector: "github".into(),
            credentials: json!({"personal_access_token": "ghp_not_sent_anywhere"}),
            ..Default::default()
        };
        Executor::local(settings, Hooks::default())
    }

    fn assert_hosted_only(e: &Error, action: &str) {
        assert_eq!(e.code, ErrorCode::Configuration, "{e:?}");
        assert!(e.message.contains(action) && e.message.contains("hosted mode"), "{}", e.message);
        assert_eq!(e.details, Some(json!({"reason": "hosted_only", "action": action})));
    }

    /// The next page's params come with the records, also when the records lost the field the
    /// cursor is read from (`select_fields`) or were cut to fit.
    #[test]
    fn tool_output_says_how_to_ask_for_the_next_page() {
        let next = crate::wire::NextPage { param: "starting_after".into(), cursor: json!("cus_9") };
        let records: Vec<Value> = (0..200).map(|i| json!({"email": format!("user{i}@example.com")})).collect();
        let result =
            ExecutionResult { data: Value::Array(records), meta: serde_json::Map::new(), next_page: Some(next) };
        for max_chars in [100_000, 2_000] {
            let out: Value = serde_json::from_str(&tool_output(&result, max_chars)).unwrap_or_default();
            assert_eq!(out["next_page_params"], json!({"starting_after": "cus_9"}), "{max_chars}: {out}");
        }
        let last = ExecutionResult { next_page: None, ..result };
        let out: Value = serde_json::from_str(&tool_output(&last, 100_000)).unwrap_or_default();
        assert!(out.get("next_page_params").is_none(), "{out}");
    }

    #[tokio::test]
    async fn context_store_actions_are_refused_in_local_mode_before_any_request() -> Result<()> {
        let ex = local()?;
        for action in HOSTED_ONLY_ACTIONS {
            let params = json!({"query": {"filter": {"eq": {"state": "open"}}}, "sql": "SELECT 1"});
            let e = ex.execute(ExecuteRequest::new("issues", action, params.clone())).await.err();
            assert_hosted_only(&e.ok_or_else(|| Error::internal("local search succeeded"))?, action);
            let pages: Vec<_> = ex.paginate(ExecuteRequest::new("issues", action, params)).collect().await;
            assert_eq!(pages.len(), 1);
            let first = pages.into_iter().next().and_then(|p| p.err());
            assert_hosted_only(&first.ok_or_else(|| Error::internal("local page succeeded"))?, action);
        }
        let every = SyncOptions { every_seconds: Some(3600), ..Default::default() };
        let sync = ex.context_store_sync(vec!["issues".into()], every).await.err();
        assert_hosted_only(&sync.ok_or_else(|| Error::internal("local sync succeeded"))?, "context_store_sync");
        let status = ex.context_store_status().await.err();
        assert_hosted_only(&status.ok_or_else(|| Error::internal("local status succeeded"))?, "context_store_status");
        // A contradictory request is refused before anything else looks at it.
        let both = SyncOptions { every_seconds: Some(3600), unschedule: true, ..Default::default() };
        let e = ex.context_store_sync(vec!["issues".into()], both).await.err();
        let e = e.ok_or_else(|| Error::internal("a schedule and an unschedule together were taken"))?;
        assert_eq!((e.code, e.details), (ErrorCode::Validation, Some(json!({"reason": "invalid_schedule"}))));
        // Other actions still run through the local connector (and its validation).
        let e = ex.execute(ExecuteRequest::new("issues", "no_such_action", json!({}))).await.err();
        assert_eq!(e.map(|e| e.code), Some(ErrorCode::Validation));
        Ok(())
    }

    /// `max_concurrent_requests`: five calls at once on a connector bounded to 2 reach the API
    /// two at a time and all succeed; another executor has its own bound; 0 and hosted mode are
    /// refused before anything is sent.
    #[tokio::test]
    async fn max_concurrent_requests_bounds_a_local_connector() -> Result<()> {
        let empty_page =
            r#"{"data":{"repository":{"issues":{"nodes":[],"pageInfo":{"hasNextPage":false,"endCursor":null}}}}}"#;
        let server = fake_upstream::holding::Holding::start("application/json", empty_page).await;
        let settings = |n: u64| LocalSettings {
            connector: "github".into(),
            credentials: json!({"personal_access_token": "ghp_not_sent_anywhere"}),
            config: json!({"base_url": server.base}),
            timeout: Some(20.0),
            max_concurrent_requests: Some(n),
        };
        let list = || ExecuteRequest::new("issues", "list", json!({"owner": "octo", "repo": "hello"}));
        let (two, one) =
            (Executor::local(settings(2), Hooks::default())?, Executor::local(settings(1), Hooks::default())?);
        let mut calls: Vec<_> = (0..5)
            .map(|_| {
                let (ex, req) = (two.clone(), list());
                tokio::spawn(async move { ex.execute(req).await })
            })
            .collect();
        server.wait_held(2, std::time::Duration::from_secs(10)).await;
        // Time for a third request to arrive, were the bound not kept.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(server.counts().held, 2);
        calls.push(tokio::spawn(async move { one.execute(list()).await }));
        server.wait_held(3, std::time::Duration::from_secs(10)).await;
        server.release();
        for call in calls {
            let done = call.await.map_err(|e| Error::internal(e.to_string()))??;
            assert_eq!(done.data, json!([]));
        }
        assert_eq!((server.counts().most, server.counts().answered), (3, 6));

        let e = Executor::local(settings(0), Hooks::default()).err();
        let e = e.ok_or_else(|| Error::internal("a bound of 0 was taken"))?;
        assert_eq!(e.code, ErrorCode::Validation);
        assert!(e.message.contains("max_concurrent_requests must be a positive whole number"), "{}", e.message);
        let hosted: crate::sdk::ConnectorSettings = serde_json::from_value(json!({
            "connector": "github", "connector_id": "c1", "client_id": "id", "client_secret": "s",
            "max_concurrent_requests": 3,
        }))
        .map_err(|e| Error::internal(e.to_string()))?;
        let e =
            hosted.mode().err().ok_or_else(|| Error::internal("a hosted connector took max_concurrent_requests"))?;
        assert_eq!(e.code, ErrorCode::Configuration);
        assert!(e.message.contains("max_concurrent_requests goes with credentials"), "{}", e.message);
        Ok(())
    }
}
