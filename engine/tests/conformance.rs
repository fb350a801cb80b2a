//! The cross-language conformance suite, Rust side.
//!
//! Every scenario of `tests/conformance/*.yaml` (format: `tests/conformance/README.md`) runs
//! here through the public surface the SDKs mirror: local connectors ([`Connector`],
//! `paginate`, `check`, [`describe`]) and the hosted client ([`Workspace`], [`HostedExecutor`],
//! [`connect`]). One fake upstream and one engine (in process, on SQLite, `--egress-allow
//! 127.0.0.1`) serve the whole run; the fake is reset before every scenario and each scenario
//! gets a workspace of its own, so what one scenario creates never shows in another.
//!
//! The files are checked before anything runs: a file that does not parse, or a scenario with an
//! unknown method, argument, expectation, capability or placeholder fails the run. Then every
//! scenario runs and the test fails listing each failing scenario with what differed.
//! `CONFORMANCE_FILTER=text` runs only the scenarios whose name contains `text`.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use fake_upstream::{creds, FakeUpstream};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use switchboard_core::describe::describe;
use switchboard_core::{
    connect, Connector, ConnectorLookup, ConnectorOptions, Error, ErrorCode, ExecuteOptions, ExecutionResult,
    HostedClient, HostedConfig, HostedExecutor, NewConnector, Registry, Workspace,
};

/// Optional SDK surface a scenario may need; a runner whose SDK lacks one skips the scenario.
/// This runner has them all.
const CAPABILITIES: [&str; 2] = ["local_timeout", "hosted_timeout"];

/// The fake's API prefixes, usable as `{fake.<slug>}`.
const APIS: [&str; 5] = ["github", "stripe", "hubspot", "gong", "linear"];

/// The longest a single step may take before the scenario fails.
const STEP_LIMIT: Duration = Duration::from_secs(60);

// ------------------------------------------------------------------------------- the format

/// One `tests/conformance/*.yaml` file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    scenarios: Vec<Scenario>,
}

/// One scenario: setup, local handles, steps.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    name: String,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    requires: Vec<String>,
    #[serde(default)]
    setup: Setup,
    #[serde(default)]
    local: BTreeMap<String, LocalHandle>,
    steps: Vec<Step>,
}

/// What exists before the first step.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Setup {
    /// The scenario talks to the engine.
    #[serde(default)]
    engine: bool,
    /// Bodies for `POST /_control/faults`, in order.
    #[serde(default)]
    faults: Vec<Value>,
    /// Bodies for `POST /_control/oauth`, in order.
    #[serde(default)]
    oauth: Vec<Value>,
    /// Connectors created in the scenario's workspace: `create_connector` args plus `save_as`.
    #[serde(default)]
    connectors: Vec<Map<String, Value>>,
}

/// A local connector handle, built when a step first uses it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LocalHandle {
    connector: String,
    credentials: Value,
    #[serde(default)]
    config: Option<Value>,
    #[serde(default)]
    options: LocalOptions,
}

/// Optional construction options of a local handle.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LocalOptions {
    /// Time allowed for one upstream exchange (capability `local_timeout`).
    timeout_ms: Option<u64>,
}

/// One SDK call and what must come back.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    call: String,
    #[serde(default)]
    on: Option<String>,
    #[serde(default)]
    args: Map<String, Value>,
    #[serde(default)]
    client: Option<ClientOverride>,
    #[serde(default)]
    save_as: Option<String>,
    #[serde(default)]
    expect: Expect,
}

/// Client credentials or timeout other than the runner's own, for one hosted step.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientOverride {
    client_id: Option<String>,
    client_secret: Option<String>,
    /// Time allowed for one call to the engine (capability `hosted_timeout`).
    timeout_ms: Option<u64>,
}

/// What a step must return. Every key is optional; with no `error`, the step must succeed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    error: Option<ExpectError>,
    data: Option<Value>,
    data_equals: Option<Value>,
    #[serde(default)]
    absent: Vec<String>,
    data_len: Option<usize>,
    meta: Option<Value>,
    pages: Option<usize>,
    total: Option<usize>,
    page_lengths: Option<Vec<usize>>,
    records: Option<Value>,
    value: Option<Value>,
    count: Option<usize>,
    #[serde(default)]
    contains: Vec<String>,
}

impl Expect {
    /// The result keys (not `error`) this expectation uses.
    fn keys(&self) -> Vec<&'static str> {
        let mut k = Vec::new();
        let mut add = |used: bool, name: &'static str| {
            if used {
                k.push(name);
            }
        };
        add(self.data.is_some(), "data");
        add(self.data_equals.is_some(), "data_equals");
        add(!self.absent.is_empty(), "absent");
        add(self.data_len.is_some(), "data_len");
        add(self.meta.is_some(), "meta");
        add(self.pages.is_some(), "pages");
        add(self.total.is_some(), "total");
        add(self.page_lengths.is_some(), "page_lengths");
        add(self.records.is_some(), "records");
        add(self.value.is_some(), "value");
        add(self.count.is_some(), "count");
        add(!self.contains.is_empty(), "contains");
        k
    }
}

/// The typed error a step must raise.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectError {
    code: String,
    message_contains: Option<String>,
    #[serde(default)]
    message_excludes: Vec<String>,
    status_code: Option<u16>,
    retry_after: Option<f64>,
    /// The error carries a request id (`true`) or carries none (`false`).
    request_id: Option<bool>,
}

// ------------------------------------------------------------------------------- the methods

/// Which object a method is called on.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    /// A local handle named by `on`.
    Local,
    /// A `Workspace` (`args.workspace_name`, default the scenario's).
    Workspace,
    /// A hosted executor: `on` (saved by `get_connector` / `connect`), `args.connector_id`, or
    /// `args.workspace_name` + `args.connector_definition_id`.
    Executor,
    /// A free function or the fake's control API.
    None,
}

/// What `save_as` keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Saves {
    Nothing,
    /// A string usable as `{name}` (a connector id).
    Id,
    /// An executor usable as `on: name`.
    Executor,
}

/// One method a step may call.
struct Method {
    name: &'static str,
    target: Target,
    required: &'static [&'static str],
    optional: &'static [&'static str],
    /// Result keys `expect` may use besides `error`.
    expect: &'static [&'static str],
    saves: Saves,
    hosted: bool,
}

const EXEC_ARGS: &[&str] = &["params", "select_fields", "exclude_fields", "skip_truncation"];
const EXEC_TARGET_ARGS: &[&str] = &[
    "params",
    "select_fields",
    "exclude_fields",
    "skip_truncation",
    "connector_id",
    "workspace_name",
    "connector_definition_id",
];
const TARGET_ARGS: &[&str] = &["connector_id", "workspace_name", "connector_definition_id"];
const EXEC_EXPECT: &[&str] = &["data", "data_equals", "absent", "data_len", "meta"];
const PAGES_EXPECT: &[&str] = &["pages", "total", "page_lengths", "records"];
const VALUE_EXPECT: &[&str] = &["value", "count"];

const METHODS: &[Method] = &[
    Method {
        name: "local.execute",
        target: Target::Local,
        required: &["entity", "action"],
        optional: EXEC_ARGS,
        expect: EXEC_EXPECT,
        saves: Saves::Nothing,
        hosted: false,
    },
    Method {
        name: "local.paginate",
        target: Target::Local,
        required: &["entity", "action"],
        optional: EXEC_ARGS,
        expect: PAGES_EXPECT,
        saves: Saves::Nothing,
        hosted: false,
    },
    Method {
        name: "local.check",
        target: Target::Local,
        required: &[],
        optional: &[],
        expect: VALUE_EXPECT,
        saves: Saves::Nothing,
        hosted: false,
    },
    Method {
        name: "local.describe",
        target: Target::Local,
        required: &[],
        optional: &[],
        expect: &["contains"],
        saves: Saves::Nothing,
        hosted: false,
    },
    Method {
        name: "workspace.create_connector",
        target: Target::Workspace,
        required: &["connector_type", "credentials"],
        optional: &["name", "replication_config", "config", "workspace_name"],
        expect: VALUE_EXPECT,
        saves: Saves::Id,
        hosted: true,
    },
    Method {
        name: "workspace.list_connectors",
        target: Target::Workspace,
        required: &[],
        optional: &["workspace_name"],
        expect: VALUE_EXPECT,
        saves: Saves::Nothing,
        hosted: true,
    },
    Method {
        name: "workspace.get_connector",
        target: Target::Workspace,
        required: &[],
        optional: &["connector_id", "name", "workspace_name"],
        expect: VALUE_EXPECT,
        saves: Saves::Executor,
        hosted: true,
    },
    Method {
        name: "workspace.delete_connector",
        target: Target::Workspace,
        required: &["connector_id"],
        optional: &["workspace_name"],
        expect: &[],
        saves: Saves::Nothing,
        hosted: true,
    },
    Method {
        name: "executor.execute",
        target: Target::Executor,
        required: &["entity", "action"],
        optional: EXEC_TARGET_ARGS,
        expect: EXEC_EXPECT,
        saves: Saves::Nothing,
        hosted: true,
    },
    Method {
        name: "executor.paginate",
        target: Target::Executor,
        required: &["entity", "action"],
        optional: EXEC_TARGET_ARGS,
        expect: PAGES_EXPECT,
        saves: Saves::Nothing,
        hosted: true,
    },
    Method {
        name: "executor.check",
        target: Target::Executor,
        required: &[],
        optional: TARGET_ARGS,
        expect: VALUE_EXPECT,
        saves: Saves::Nothing,
        hosted: true,
    },
    Method {
        name: "connect",
        target: Target::None,
        required: &["slug"],
        optional: &["workspace_name", "connector_id"],
        expect: VALUE_EXPECT,
        saves: Saves::Executor,
        hosted: true,
    },
    Method {
        name: "fake.oauth",
        target: Target::None,
        required: &["api"],
        optional: &[],
        expect: VALUE_EXPECT,
        saves: Saves::Nothing,
        hosted: false,
    },
    Method {
        name: "fake.requests",
        target: Target::None,
        required: &[],
        optional: &["prefix"],
        expect: VALUE_EXPECT,
        saves: Saves::Nothing,
        hosted: false,
    },
];

fn method(name: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.name == name)
}

const CREATE_CONNECTOR_KEYS: &[&str] =
    &["save_as", "connector_type", "credentials", "name", "replication_config", "config"];

// ------------------------------------------------------------------------------- loading and checking

fn conformance_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance")
}

/// A parsed file with its name, for messages.
struct Loaded {
    file: String,
    doc: ScenarioFile,
}

/// Reads and parses every `*.yaml` file of `dir`; unreadable or unparsable files are problems.
fn load_dir(dir: &Path) -> (Vec<Loaded>, Vec<String>) {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    paths.retain(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"));
    paths.sort();
    let mut loaded = Vec::new();
    let mut problems = Vec::new();
    for p in paths {
        let file = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match std::fs::read_to_string(&p) {
            Ok(text) => match parse(&text) {
                Ok(doc) => loaded.push(Loaded { file, doc }),
                Err(e) => problems.push(format!("{file}: {e}")),
            },
            Err(e) => problems.push(format!("{file}: {e}")),
        }
    }
    (loaded, problems)
}

fn parse(text: &str) -> Result<ScenarioFile, String> {
    serde_norway::from_str(text).map_err(|e| format!("malformed: {e}"))
}

/// Every problem of the scenarios in `files`, without running anything.
fn validate(files: &[Loaded]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut names: HashMap<&str, &str> = HashMap::new();
    for f in files {
        if f.doc.scenarios.is_empty() {
            problems.push(format!("{}: no scenarios", f.file));
        }
        for sc in &f.doc.scenarios {
            let at = format!("{}: {:?}", f.file, sc.name);
            if sc.name.trim().is_empty() {
                problems.push(format!("{}: a scenario without a name", f.file));
            }
            if let Some(other) = names.insert(&sc.name, &f.file) {
                problems.push(format!("{at}: the name is also used in {other}"));
            }
            for p in validate_scenario(sc) {
                problems.push(format!("{at}: {p}"));
            }
        }
    }
    problems
}

fn validate_scenario(sc: &Scenario) -> Vec<String> {
    let mut p = Vec::new();
    for r in &sc.requires {
        if !CAPABILITIES.contains(&r.as_str()) {
            p.push(format!("unknown capability {r:?} (known: {})", CAPABILITIES.join(", ")));
        }
    }
    let requires = |cap: &str| sc.requires.iter().any(|r| r == cap);
    if sc.steps.is_empty() {
        p.push("no steps".into());
    }
    // Names saved by setup and steps: ids are placeholders, executors are `on` targets.
    let mut ids: HashSet<String> = HashSet::new();
    let mut executors: HashSet<String> = HashSet::new();
    if !sc.setup.connectors.is_empty() && !sc.setup.engine {
        p.push("setup.connectors needs setup.engine: true".into());
    }
    for (i, c) in sc.setup.connectors.iter().enumerate() {
        for k in c.keys() {
            if !CREATE_CONNECTOR_KEYS.contains(&k.as_str()) {
                p.push(format!("setup.connectors[{i}]: unknown key {k:?}"));
            }
        }
        for k in ["save_as", "connector_type", "credentials"] {
            if !c.contains_key(k) {
                p.push(format!("setup.connectors[{i}]: {k} is required"));
            }
        }
        if let Some(v) = c.get("save_as").and_then(Value::as_str) {
            ids.insert(v.to_string());
        }
    }
    for (name, h) in &sc.local {
        if h.options.timeout_ms.is_some() && !requires("local_timeout") {
            p.push(format!("local.{name}.options.timeout_ms needs requires: [local_timeout]"));
        }
    }
    for (i, step) in sc.steps.iter().enumerate() {
        let at = format!("step {} ({})", i + 1, step.call);
        let Some(m) = method(&step.call) else {
            p.push(format!(
                "{at}: unknown method (known: {})",
                METHODS.iter().map(|m| m.name).collect::<Vec<_>>().join(", ")
            ));
            continue;
        };
        if m.hosted && !sc.setup.engine {
            p.push(format!("{at}: a hosted method needs setup.engine: true"));
        }
        for k in step.args.keys() {
            if !m.required.contains(&k.as_str()) && !m.optional.contains(&k.as_str()) {
                p.push(format!("{at}: unknown argument {k:?}"));
            }
        }
        for k in m.required {
            if !step.args.contains_key(*k) {
                p.push(format!("{at}: argument {k:?} is required"));
            }
        }
        match (m.target, &step.on) {
            (Target::Local, Some(on)) if !sc.local.contains_key(on) => p.push(format!("{at}: no local handle {on:?}")),
            (Target::Local, None) => p.push(format!("{at}: `on` must name a local handle")),
            (Target::Executor, Some(on)) => {
                if !executors.contains(on) {
                    p.push(format!("{at}: no executor {on:?} saved by an earlier get_connector or connect"));
                }
                if TARGET_ARGS.iter().any(|k| step.args.contains_key(*k)) {
                    p.push(format!("{at}: `on` and {} exclude each other", TARGET_ARGS.join(" / ")));
                }
            }
            (Target::Executor, None) => {
                let by_id = step.args.contains_key("connector_id");
                let by_def = step.args.contains_key("connector_definition_id");
                if by_id == by_def {
                    p.push(format!(
                        "{at}: name the executor with `on`, connector_id, or workspace_name + connector_definition_id"
                    ));
                }
                if by_id && step.args.contains_key("workspace_name") {
                    p.push(format!("{at}: workspace_name goes with connector_definition_id, not connector_id"));
                }
            }
            (Target::Workspace | Target::None, Some(_)) => p.push(format!("{at}: `on` is not used by this method")),
            _ => {}
        }
        if step.call == "workspace.get_connector"
            && step.args.contains_key("connector_id") == step.args.contains_key("name")
        {
            p.push(format!("{at}: give exactly one of connector_id and name"));
        }
        if let Some(c) = &step.client {
            if !m.hosted {
                p.push(format!("{at}: `client` is only for hosted methods"));
            }
            if c.timeout_ms.is_some() && !requires("hosted_timeout") {
                p.push(format!("{at}: client.timeout_ms needs requires: [hosted_timeout]"));
            }
        }
        match (m.saves, &step.save_as) {
            (Saves::Nothing, Some(_)) => p.push(format!("{at}: this method saves nothing")),
            (Saves::Id, Some(v)) => {
                ids.insert(v.clone());
            }
            (Saves::Executor, Some(v)) => {
                executors.insert(v.clone());
            }
            _ => {}
        }
        for k in step.expect.keys() {
            if !m.expect.contains(&k) {
                p.push(format!("{at}: expect.{k} does not apply to this method (it takes {})", m.expect.join(", ")));
            }
        }
        if let Some(e) = &step.expect.error {
            if ErrorCode::parse(&e.code).is_none() {
                p.push(format!("{at}: unknown error code {:?}", e.code));
            }
            if !step.expect.keys().is_empty() {
                p.push(format!("{at}: expect.error excludes result expectations"));
            }
        }
    }
    // Placeholders must be built in or saved ids.
    let mut used = Vec::new();
    for v in sc.setup.faults.iter().chain(&sc.setup.oauth) {
        placeholders_in(v, &mut used);
    }
    for c in &sc.setup.connectors {
        placeholders_in(&Value::Object(c.clone()), &mut used);
    }
    for h in sc.local.values() {
        placeholders_in(&h.credentials, &mut used);
        if let Some(c) = &h.config {
            placeholders_in(c, &mut used);
        }
    }
    for s in &sc.steps {
        placeholders_in(&Value::Object(s.args.clone()), &mut used);
        if let Some(c) = &s.client {
            for v in [&c.client_id, &c.client_secret].into_iter().flatten() {
                placeholders_in(&json!(v), &mut used);
            }
        }
        for v in [&s.expect.data, &s.expect.data_equals, &s.expect.meta, &s.expect.records, &s.expect.value]
            .into_iter()
            .flatten()
        {
            placeholders_in(v, &mut used);
        }
        if let Some(e) = &s.expect.error {
            for t in e.message_contains.iter().chain(&e.message_excludes) {
                placeholders_in(&json!(t), &mut used);
            }
        }
    }
    for name in used {
        if !builtin_placeholder(&name) && !ids.contains(&name) {
            p.push(format!("unknown placeholder {{{name}}}"));
        }
    }
    p
}

// ------------------------------------------------------------------------------- placeholders

/// The `{name}` tokens of `s`: a letter or `_`, then letters, digits, `_`, `.`, `:`.
fn tokens(s: &str) -> Vec<(usize, usize, &str)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = s[from..].find('{').map(|i| i + from) {
        let Some(close) = s[open..].find('}').map(|i| i + open) else { break };
        let inner = &s[open + 1..close];
        let ok = inner.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && inner.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':'));
        if ok {
            out.push((open, close + 1, inner));
            from = close + 1;
        } else {
            from = open + 1;
        }
    }
    out
}

fn placeholders_in(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.extend(tokens(s).into_iter().map(|(_, _, n)| n.to_string())),
        Value::Array(a) => a.iter().for_each(|x| placeholders_in(x, out)),
        Value::Object(m) => m.values().for_each(|x| placeholders_in(x, out)),
        _ => {}
    }
}

fn credential(name: &str) -> Option<&'static str> {
    Some(match name {
        "github_token" => creds::GITHUB_TOKEN,
        "stripe_key" => creds::STRIPE_KEY,
        "hubspot_private_app" => creds::HUBSPOT_PRIVATE_APP,
        "gong_access_key" => creds::GONG_ACCESS_KEY,
        "gong_access_secret" => creds::GONG_ACCESS_SECRET,
        "linear_api_key" => creds::LINEAR_API_KEY,
        "oauth_client_id" => creds::OAUTH_CLIENT_ID,
        "oauth_client_secret" => creds::OAUTH_CLIENT_SECRET,
        "oauth_initial_refresh_token" => creds::OAUTH_INITIAL_REFRESH_TOKEN,
        "oauth_expired_access_token" => creds::OAUTH_EXPIRED_ACCESS_TOKEN,
        _ => return None,
    })
}

fn repeat_count(name: &str) -> Option<usize> {
    name.strip_prefix("repeat:")?.parse().ok()
}

fn builtin_placeholder(name: &str) -> bool {
    matches!(name, "fake" | "fake_localhost" | "closed" | "workspace")
        || name.strip_prefix("fake.").is_some_and(|a| APIS.contains(&a))
        || name.strip_prefix("creds.").and_then(credential).is_some()
        || repeat_count(name).is_some()
}

// ------------------------------------------------------------------------------- the world

/// What serves every scenario of one run.
struct World {
    fake: FakeUpstream,
    /// `http://127.0.0.1:PORT` of the fake.
    fake_base: String,
    /// `http://127.0.0.1:PORT` where nothing listens.
    closed: String,
    engine: Option<common::Engine>,
    /// The hosted client with the engine's first application, shared by every hosted step.
    client: Option<HostedClient>,
    http: reqwest::Client,
}

impl World {
    async fn start(with_engine: bool) -> World {
        let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("cannot start the fake upstream: {e}"));
        let fake_base = format!("http://{}", fake.addr);
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
            let port = l.local_addr().unwrap_or_else(|e| panic!("{e}")).port();
            format!("http://127.0.0.1:{port}")
        };
        let engine = if with_engine { common::start(common::Backend::Sqlite, |_| {}).await } else { None };
        let client = engine.as_ref().map(|e| {
            hosted_client(&e.base, &e.app.client_id, &e.app.client_secret, None)
                .unwrap_or_else(|e| panic!("hosted client: {e}"))
        });
        World { fake, fake_base, closed, engine, client, http: common::client() }
    }

    /// A control call to the fake; anything but 2xx is an error.
    async fn control(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.fake_base);
        let rb = match method {
            "GET" => self.http.get(&url),
            _ => self.http.post(&url),
        };
        let rb = match body {
            Some(b) => rb.json(b),
            None => rb,
        };
        let resp = rb.send().await.map_err(|e| format!("{method} {path}: {e}"))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(format!("{method} {path} answered {status}: {text}"));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn hosted_client(
    base: &str,
    client_id: &str,
    client_secret: &str,
    timeout: Option<Duration>,
) -> Result<HostedClient, Error> {
    HostedClient::new(HostedConfig {
        base_url: Some(base.to_string()),
        client_id: Some(client_id.to_string()),
        client_secret: Some(client_secret.to_string()),
        timeout,
        ..HostedConfig::default()
    })
}

// ------------------------------------------------------------------------------- running

/// What a step returned.
enum Outcome {
    /// `execute`: records and meta.
    Exec(ExecutionResult),
    /// `paginate`: every page.
    Pages(Vec<ExecutionResult>),
    /// Anything else as JSON (a check result, connector infos, the fake's answers).
    Value(Value),
    /// `describe`.
    Text(String),
}

/// One scenario in progress.
struct Run<'w> {
    world: &'w World,
    workspace: String,
    ids: HashMap<String, String>,
    executors: HashMap<String, HostedExecutor>,
    locals: HashMap<String, Result<Connector, Error>>,
}

impl Run<'_> {
    /// Replaces every placeholder in the strings of `v`.
    fn fill(&self, v: &Value) -> Result<Value, String> {
        Ok(match v {
            Value::String(s) => Value::String(self.fill_str(s)?),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.fill(x)).collect::<Result<_, _>>()?),
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, x)| Ok((k.clone(), self.fill(x)?))).collect::<Result<_, String>>()?)
            }
            other => other.clone(),
        })
    }

    fn fill_str(&self, s: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut last = 0;
        for (start, end, name) in tokens(s) {
            out.push_str(&s[last..start]);
            out.push_str(&self.resolve(name)?);
            last = end;
        }
        out.push_str(&s[last..]);
        Ok(out)
    }

    fn resolve(&self, name: &str) -> Result<String, String> {
        let w = self.world;
        if let Some(api) = name.strip_prefix("fake.") {
            if APIS.contains(&api) {
                return Ok(w.fake.base_url(api));
            }
        }
        if let Some(c) = name.strip_prefix("creds.").and_then(credential) {
            return Ok(c.to_string());
        }
        if let Some(n) = repeat_count(name) {
            return Ok("x".repeat(n));
        }
        match name {
            "fake" => Ok(w.fake_base.clone()),
            "fake_localhost" => Ok(format!("http://localhost:{}", w.fake.addr.port())),
            "closed" => Ok(w.closed.clone()),
            "workspace" => Ok(self.workspace.clone()),
            _ => self
                .ids
                .get(name)
                .cloned()
                .ok_or_else(|| format!("placeholder {{{name}}} has no value (was the step saving it skipped?)")),
        }
    }

    fn client(&self, over: Option<&ClientOverride>) -> Result<HostedClient, String> {
        let w = self.world;
        let (Some(engine), Some(shared)) = (&w.engine, &w.client) else {
            return Err("no engine in this run".into());
        };
        match over {
            None => Ok(shared.clone()),
            Some(o) => {
                let id = match &o.client_id {
                    Some(v) => self.fill_str(v)?,
                    None => engine.app.client_id.clone(),
                };
                let secret = match &o.client_secret {
                    Some(v) => self.fill_str(v)?,
                    None => engine.app.client_secret.clone(),
                };
                hosted_client(&engine.base, &id, &secret, o.timeout_ms.map(Duration::from_millis))
                    .map_err(|e| format!("hosted client: {e}"))
            }
        }
    }

    /// The local handle `name`, built on first use; a construction error is the step's error.
    fn local(
        &mut self,
        name: &str,
        handles: &BTreeMap<String, LocalHandle>,
    ) -> Result<Result<Connector, Error>, String> {
        if let Some(c) = self.locals.get(name) {
            return Ok(c.clone());
        }
        let h = handles.get(name).ok_or_else(|| format!("no local handle {name:?}"))?;
        let credentials = self.fill(&h.credentials)?;
        let config = match &h.config {
            Some(c) => self.fill(c)?,
            None => json!({}),
        };
        let mut options = ConnectorOptions::default();
        if let Some(ms) = h.options.timeout_ms {
            options.timeout = Duration::from_millis(ms);
        }
        let built = Registry::builtin()
            .and_then(|r| r.get(&h.connector))
            .and_then(|spec| Connector::new(spec, credentials, config, options));
        self.locals.insert(name.to_string(), built.clone());
        Ok(built)
    }

    fn workspace(&self, client: HostedClient, args: &Map<String, Value>) -> Result<Workspace, Error> {
        let name = args.get("workspace_name").and_then(Value::as_str).unwrap_or(&self.workspace).to_string();
        Workspace::new(client, name)
    }

    fn executor(
        &self,
        client: HostedClient,
        step: &Step,
        args: &Map<String, Value>,
    ) -> Result<Result<HostedExecutor, Error>, String> {
        if let Some(on) = &step.on {
            return self
                .executors
                .get(on)
                .cloned()
                .map(Ok)
                .ok_or_else(|| format!("no executor {on:?} (did the step saving it fail?)"));
        }
        if let Some(id) = args.get("connector_id") {
            return Ok(Ok(HostedExecutor::by_id(client, text(id))));
        }
        let ws = args.get("workspace_name").map(text).unwrap_or_else(|| self.workspace.clone());
        let def = args.get("connector_definition_id").map(text).unwrap_or_default();
        Ok(HostedExecutor::by_definition(client, ws, &def))
    }

    /// Runs one step; `Err(String)` is a runner problem, `Ok(Err(Error))` the SDK's typed error.
    async fn step(&mut self, sc: &Scenario, step: &Step) -> Result<Result<Outcome, Error>, String> {
        let m = method(&step.call).ok_or_else(|| format!("unknown method {}", step.call))?;
        let args = match self.fill(&Value::Object(step.args.clone()))? {
            Value::Object(a) => a,
            _ => Map::new(),
        };
        let entity = args.get("entity").map(text).unwrap_or_default();
        let action = args.get("action").map(text).unwrap_or_default();
        let params = args.get("params").cloned().unwrap_or_else(|| json!({}));
        let options = execute_options(&args)?;
        match m.target {
            Target::Local => {
                let on = step.on.clone().unwrap_or_default();
                let c = match self.local(&on, &sc.local)? {
                    Ok(c) => c,
                    Err(e) => return Ok(Err(e)),
                };
                Ok(match m.name {
                    "local.execute" => c.execute(&entity, &action, params, &options).await.map(Outcome::Exec),
                    "local.paginate" => collect_pages(c.paginate(&entity, &action, params, options)).await,
                    "local.check" => Ok(Outcome::Value(to_json(&c.check().await))),
                    _ => Ok(Outcome::Text(describe(c.spec()))),
                })
            }
            Target::Workspace => {
                let ws = match self.workspace(self.client(step.client.as_ref())?, &args) {
                    Ok(ws) => ws,
                    Err(e) => return Ok(Err(e)),
                };
                Ok(match m.name {
                    "workspace.create_connector" => {
                        let r = ws.create_connector(new_connector(&args)).await;
                        if let (Ok(info), Some(v)) = (&r, &step.save_as) {
                            self.ids.insert(v.clone(), info.id.clone());
                        }
                        r.map(|i| Outcome::Value(to_json(&i)))
                    }
                    "workspace.list_connectors" => ws.list_connectors().await.map(|l| Outcome::Value(to_json(&l))),
                    "workspace.get_connector" => {
                        let lookup = match (args.get("connector_id"), args.get("name")) {
                            (Some(id), _) => ConnectorLookup::Id(text(id)),
                            (None, n) => ConnectorLookup::Name(n.map(text).unwrap_or_default()),
                        };
                        self.save_executor(step, ws.get_connector(&lookup).await).await
                    }
                    _ => ws
                        .delete_connector(&args.get("connector_id").map(text).unwrap_or_default())
                        .await
                        .map(|()| Outcome::Value(Value::Null)),
                })
            }
            Target::Executor => {
                let ex = match self.executor(self.client(step.client.as_ref())?, step, &args)? {
                    Ok(ex) => ex,
                    Err(e) => return Ok(Err(e)),
                };
                Ok(match m.name {
                    "executor.execute" => ex.execute(&entity, &action, params, &options).await.map(Outcome::Exec),
                    "executor.check" => ex.check().await.map(|c| Outcome::Value(to_json(&c))),
                    _ => match ex.paginate(&entity, &action, params, options).await {
                        Ok(stream) => collect_pages(stream).await,
                        Err(e) => Err(e),
                    },
                })
            }
            Target::None => match m.name {
                "connect" => {
                    let client = self.client(step.client.as_ref())?;
                    let slug = args.get("slug").map(text).unwrap_or_default();
                    let ws = args.get("workspace_name").map(text).unwrap_or_else(|| self.workspace.clone());
                    let id = args.get("connector_id").map(text);
                    let r = connect(client, &slug, &ws, id.as_deref()).await;
                    Ok(self.save_executor(step, r).await)
                }
                "fake.oauth" => {
                    let api = args.get("api").map(text).unwrap_or_default();
                    Ok(Ok(Outcome::Value(self.world.control("GET", &format!("/_control/oauth/{api}"), None).await?)))
                }
                _ => {
                    let all = self.world.control("GET", "/_control/requests", None).await?;
                    let prefix = args.get("prefix").map(|p| format!("/{}/", text(p)));
                    let list: Vec<Value> = all
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|r| prefix.as_ref().is_none_or(|p| r.get("path").and_then(Value::as_str).is_some_and(|path| path.starts_with(p))))
                        .map(|r| json!({"method": r["method"], "path": r["path"], "query_string": r["query_string"], "body": r["body_parsed"]}))
                        .collect();
                    Ok(Ok(Outcome::Value(Value::Array(list))))
                }
            },
        }
    }

    /// Keeps an executor under `save_as`; its value is the connector it resolved to.
    async fn save_executor(&mut self, step: &Step, r: Result<HostedExecutor, Error>) -> Result<Outcome, Error> {
        let ex = r?;
        let info = ex.connector().await?;
        if let Some(v) = &step.save_as {
            self.executors.insert(v.clone(), ex);
        }
        Ok(Outcome::Value(to_json(&info)))
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or_else(|e| panic!("cannot serialize a result: {e}"))
}

fn execute_options(args: &Map<String, Value>) -> Result<ExecuteOptions, String> {
    let list = |k: &str| -> Result<Vec<String>, String> {
        match args.get(k) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => Ok(a.iter().map(text).collect()),
            Some(other) => Err(format!("{k} must be a list, got {other}")),
        }
    };
    Ok(ExecuteOptions {
        select_fields: list("select_fields")?,
        exclude_fields: list("exclude_fields")?,
        skip_truncation: args.get("skip_truncation").and_then(Value::as_bool).unwrap_or(false),
    })
}

fn new_connector(args: &Map<String, Value>) -> NewConnector {
    NewConnector {
        connector_type: args.get("connector_type").map(text).unwrap_or_default(),
        name: args.get("name").map(text),
        credentials: args.get("credentials").cloned().unwrap_or(Value::Null),
        replication_config: args.get("replication_config").cloned(),
        config: args.get("config").cloned(),
    }
}

/// Every page of a stream; the first failed page is the outcome.
async fn collect_pages(stream: impl futures::Stream<Item = Result<ExecutionResult, Error>>) -> Result<Outcome, Error> {
    let pages: Vec<_> = stream.collect().await;
    let mut ok = Vec::new();
    for p in pages {
        ok.push(p?);
    }
    Ok(Outcome::Pages(ok))
}

// ------------------------------------------------------------------------------- comparing

/// `expected` is a subset of `actual`: objects by keys, arrays of the same length element-wise,
/// numbers by value, other scalars equal (the semantics of `core/tests/cases.rs`).
fn subset(expected: &Value, actual: &Value, at: &str, errs: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                match a.get(k) {
                    Some(av) => subset(ev, av, &format!("{at}.{k}"), errs),
                    None => errs.push(format!("{at}.{k}: missing (expected {ev})")),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                errs.push(format!("{at}: expected {} items, got {}: {}", e.len(), a.len(), short(actual)));
                return;
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                subset(ev, av, &format!("{at}[{i}]"), errs);
            }
        }
        (Value::Number(e), Value::Number(a)) if e.as_f64() == a.as_f64() => {}
        (e, a) if e == a => {}
        (e, a) => errs.push(format!("{at}: expected {}, got {}", short(e), short(a))),
    }
}

/// `a` equals `b`, numbers by value.
fn equal(a: &Value, b: &Value) -> bool {
    let mut errs = Vec::new();
    subset(a, b, "", &mut errs);
    subset(b, a, "", &mut errs);
    errs.is_empty()
}

/// The value at a dot path of `v`.
fn lookup<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(v, |cur, key| cur.get(key))
}

/// A value shortened for a message.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 300 {
        format!("{}...", &s[..s.char_indices().nth(300).map(|(i, _)| i).unwrap_or(s.len())])
    } else {
        s
    }
}

/// Compares a typed error; placeholders in the message texts are filled first.
fn check_error(run: &Run<'_>, exp: &ExpectError, got: &Error, errs: &mut Vec<String>) -> Result<(), String> {
    if got.code.as_str() != exp.code {
        errs.push(format!("expected error {}, got {}: {}", exp.code, got.code, got.message));
        return Ok(());
    }
    if let Some(t) = &exp.message_contains {
        let t = run.fill_str(t)?;
        if !got.message.contains(t.as_str()) {
            errs.push(format!("error message should contain {t:?}: {}", got.message));
        }
    }
    for t in &exp.message_excludes {
        let t = run.fill_str(t)?;
        if got.message.contains(t.as_str()) {
            errs.push(format!("error message must not contain {t:?}: {}", got.message));
        }
    }
    if let Some(s) = exp.status_code {
        if got.status_code != Some(s) {
            errs.push(format!("status_code: expected {s}, got {:?}", got.status_code));
        }
    }
    if let Some(want) = exp.request_id {
        let has = got.request_id.as_deref().is_some_and(|r| !r.is_empty());
        if has != want {
            errs.push(format!("request_id: expected {}, got {:?}", if want { "one" } else { "none" }, got.request_id));
        }
    }
    if let Some(r) = exp.retry_after {
        if got.retry_after != Some(r) {
            errs.push(format!("retry_after: expected {r}, got {:?}", got.retry_after));
        }
    }
    Ok(())
}

fn check_outcome(run: &Run<'_>, exp: &Expect, got: &Result<Outcome, Error>) -> Result<Vec<String>, String> {
    let mut errs = Vec::new();
    let fill = |v: &Option<Value>| v.as_ref().map(|v| run.fill(v)).transpose();
    let outcome = match (&exp.error, got) {
        (Some(e), Err(g)) => {
            check_error(run, e, g, &mut errs)?;
            return Ok(errs);
        }
        (Some(e), Ok(_)) => return Ok(vec![format!("expected error {}, but the call succeeded", e.code)]),
        (None, Err(g)) => {
            return Ok(vec![format!("unexpected error {} (status {:?}): {}", g.code, g.status_code, g.message)]);
        }
        (None, Ok(o)) => o,
    };
    match outcome {
        Outcome::Exec(r) => {
            if let Some(n) = exp.data_len {
                let len = r.data.as_array().map(Vec::len);
                if len != Some(n) {
                    errs.push(format!("data_len: expected {n}, got {len:?}"));
                }
            }
            if let Some(d) = fill(&exp.data)? {
                subset(&d, &r.data, "data", &mut errs);
            }
            if let Some(d) = fill(&exp.data_equals)? {
                if !equal(&d, &r.data) {
                    errs.push(format!("data: expected exactly {}, got {}", short(&d), short(&r.data)));
                }
            }
            let records: Vec<&Value> = match &r.data {
                Value::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            for path in &exp.absent {
                for (i, rec) in records.iter().enumerate() {
                    if lookup(rec, path).is_some() {
                        errs.push(format!("data record {i}: {path} should be absent: {}", short(rec)));
                    }
                }
            }
            if let Some(m) = fill(&exp.meta)? {
                subset(&m, &Value::Object(r.meta.clone()), "meta", &mut errs);
            }
        }
        Outcome::Pages(pages) => {
            let lengths: Vec<usize> = pages.iter().map(|p| p.data.as_array().map(Vec::len).unwrap_or(0)).collect();
            if let Some(n) = exp.pages {
                if pages.len() != n {
                    errs.push(format!("pages: expected {n}, got {} (lengths {lengths:?})", pages.len()));
                }
            }
            if let Some(n) = exp.total {
                let total: usize = lengths.iter().sum();
                if total != n {
                    errs.push(format!("total: expected {n} records, got {total} (lengths {lengths:?})"));
                }
            }
            if let Some(l) = &exp.page_lengths {
                if *l != lengths {
                    errs.push(format!("page_lengths: expected {l:?}, got {lengths:?}"));
                }
            }
            if let Some(rec) = fill(&exp.records)? {
                let all: Vec<Value> =
                    pages.iter().flat_map(|p| p.data.as_array().cloned().unwrap_or_default()).collect();
                subset(&rec, &Value::Array(all), "records", &mut errs);
            }
        }
        Outcome::Value(v) => {
            if let Some(n) = exp.count {
                let len = v.as_array().map(Vec::len);
                if len != Some(n) {
                    errs.push(format!("count: expected {n}, got {len:?}: {}", short(v)));
                }
            }
            if let Some(e) = fill(&exp.value)? {
                subset(&e, v, "value", &mut errs);
            }
        }
        Outcome::Text(t) => {
            for c in &exp.contains {
                if !t.contains(c.as_str()) {
                    errs.push(format!("the text should contain {c:?}"));
                }
            }
        }
    }
    Ok(errs)
}

/// Runs one scenario; the problems found, empty when it passed.
async fn run_scenario(world: &World, sc: &Scenario, index: usize) -> Vec<String> {
    let mut run = Run {
        world,
        workspace: format!("conformance-{index:03}"),
        ids: HashMap::new(),
        executors: HashMap::new(),
        locals: HashMap::new(),
    };
    if let Err(e) = setup(&mut run, sc).await {
        return vec![format!("setup: {e}")];
    }
    for (i, step) in sc.steps.iter().enumerate() {
        let at = format!("step {} ({})", i + 1, step.call);
        let got = match tokio::time::timeout(STEP_LIMIT, run.step(sc, step)).await {
            Err(_) => return vec![format!("{at}: no answer within {STEP_LIMIT:?}")],
            Ok(Err(e)) => return vec![format!("{at}: {e}")],
            Ok(Ok(got)) => got,
        };
        match check_outcome(&run, &step.expect, &got) {
            Err(e) => return vec![format!("{at}: {e}")],
            Ok(errs) if !errs.is_empty() => return errs.into_iter().map(|e| format!("{at}: {e}")).collect(),
            Ok(_) => {}
        }
    }
    Vec::new()
}

/// Resets the fake, injects faults and OAuth settings, creates the setup connectors.
async fn setup(run: &mut Run<'_>, sc: &Scenario) -> Result<(), String> {
    let w = run.world;
    w.control("POST", "/_control/reset", None).await?;
    for f in &sc.setup.faults {
        w.control("POST", "/_control/faults", Some(&run.fill(f)?)).await?;
    }
    for o in &sc.setup.oauth {
        w.control("POST", "/_control/oauth", Some(&run.fill(o)?)).await?;
    }
    for c in &sc.setup.connectors {
        let args = match run.fill(&Value::Object(c.clone()))? {
            Value::Object(a) => a,
            _ => Map::new(),
        };
        let ws = run.workspace(run.client(None)?, &args).map_err(|e| e.to_string())?;
        let info = ws.create_connector(new_connector(&args)).await.map_err(|e| format!("create_connector: {e}"))?;
        if let Some(v) = args.get("save_as") {
            run.ids.insert(text(v), info.id);
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------- tests

/// Runs every scenario of `tests/conformance/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance() {
    let (files, mut problems) = load_dir(&conformance_dir());
    problems.extend(validate(&files));
    assert!(problems.is_empty(), "{} problem(s) in tests/conformance:\n  {}", problems.len(), problems.join("\n  "));
    let filter = std::env::var("CONFORMANCE_FILTER").ok().filter(|f| !f.is_empty());
    let selected: Vec<(&Loaded, &Scenario)> = files
        .iter()
        .flat_map(|f| f.doc.scenarios.iter().map(move |s| (f, s)))
        .filter(|(_, s)| filter.as_ref().is_none_or(|f| s.name.contains(f.as_str())))
        .collect();
    assert!(!selected.is_empty(), "no scenario to run (filter {filter:?})");
    let world = World::start(selected.iter().any(|(_, s)| s.setup.engine)).await;
    let mut failures = Vec::new();
    let mut passed = 0;
    for (index, (file, sc)) in selected.iter().enumerate() {
        let missing: Vec<&String> = sc.requires.iter().filter(|r| !CAPABILITIES.contains(&r.as_str())).collect();
        if !missing.is_empty() {
            eprintln!("skipped {:?}: needs {missing:?}", sc.name);
            continue;
        }
        let started = std::time::Instant::now();
        let errs = run_scenario(&world, sc, index).await;
        eprintln!(
            "{} {:?} ({} ms)",
            if errs.is_empty() { "ok  " } else { "FAIL" },
            sc.name,
            started.elapsed().as_millis()
        );
        if errs.is_empty() {
            passed += 1;
        } else {
            failures.push(format!("{} / {}:\n    {}", file.file, sc.name, errs.join("\n    ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} conformance scenarios failed ({passed} passed):\n{}",
        failures.len(),
        selected.len(),
        failures.join("\n")
    );
    eprintln!("{passed} conformance scenarios passed");
}

/// The checker rejects what a runner could not run: bad YAML, unknown keys, methods, arguments,
/// expectations, placeholders, capabilities; duplicate names.
#[test]
fn malformed_scenarios_are_rejected() {
    let problems = |yaml: &str| -> String {
        match parse(yaml) {
            Err(e) => e,
            Ok(doc) => validate(&[Loaded { file: "t.yaml".into(), doc }]).join("\n"),
        }
    };
    let ok = r#"
scenarios:
  - name: fine
    local: {gh: {connector: github, credentials: {personal_access_token: "{creds.github_token}"}, config: {base_url: "{fake.github}"}}}
    steps:
      - {call: local.execute, on: gh, args: {entity: issues, action: list, params: {owner: octo, repo: hello}}, expect: {data_len: 5}}
"#;
    assert_eq!(problems(ok), "");
    let cases = [
        (ok.replace("local.execute", "local.run"), "unknown method"),
        (ok.replace("data_len: 5", "pages: 5"), "expect.pages does not apply"),
        (ok.replace("expect:", "expected:"), "unknown field"),
        (ok.replace("entity: issues, ", ""), "\"entity\" is required"),
        (ok.replace("action: list", "action: list, limit: 3"), "unknown argument \"limit\""),
        (ok.replace("on: gh", "on: nope"), "no local handle"),
        (ok.replace("{fake.github}", "{fake.jira}"), "unknown placeholder {fake.jira}"),
        (ok.replace("expect: {data_len: 5}", "expect: {error: {code: oops}}"), "unknown error code"),
        (ok.replace("name: fine", "name: fine\n    requires: [teleport]"), "unknown capability"),
        (ok.replace("call: local.execute, on: gh", "call: executor.execute"), "needs setup.engine"),
        (format!("{ok}{}", ok.replace("scenarios:\n", "")), "also used"),
        ("scenarios: [".to_string(), "malformed"),
    ];
    for (yaml, want) in cases {
        let got = problems(&yaml);
        assert!(got.contains(want), "expected a problem containing {want:?}, got {got:?} for:\n{yaml}");
    }
}
