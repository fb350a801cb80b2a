//! The scenario files (`tests/conformance/*.yaml`, format in its README): parsing, the methods
//! a step may call, and every check the README promises before anything runs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use fake_upstream::creds;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use switchboard_core::ErrorCode;

/// Optional SDK surface a scenario may need (README "Capabilities").
pub const CAPABILITIES: [&str; 3] = ["local_timeout", "hosted_timeout", "local_max_concurrent_requests"];

/// The fake's API prefixes, usable as `{fake.<slug>}`.
pub const APIS: [&str; 5] = ["github", "stripe", "hubspot", "gong", "linear"];

/// One `tests/conformance/*.yaml` file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    #[serde(default)]
    pub description: Option<String>,
    pub scenarios: Vec<Scenario>,
}

/// One scenario: setup, local handles, steps.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub requires: Vec<String>,
    #[serde(default)]
    pub setup: Setup,
    #[serde(default)]
    pub local: BTreeMap<String, LocalHandle>,
    pub steps: Vec<Step>,
}

/// What exists before the first step.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setup {
    #[serde(default)]
    pub engine: bool,
    /// Bodies for `POST /_control/faults`, in order.
    #[serde(default)]
    pub faults: Vec<Value>,
    /// Bodies for `POST /_control/oauth`, in order.
    #[serde(default)]
    pub oauth: Vec<Value>,
    /// `create_connector` args plus `save_as`, created in the scenario's workspace.
    #[serde(default)]
    pub connectors: Vec<Map<String, Value>>,
}

/// A local connector handle, built by the runner when a step first uses it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalHandle {
    pub connector: String,
    pub credentials: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
    #[serde(default)]
    pub options: LocalOptions,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalOptions {
    /// Time allowed for one upstream exchange (capability `local_timeout`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// At most this many of the handle's requests in progress at once (capability
    /// `local_max_concurrent_requests`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrent_requests: Option<u64>,
}

/// One call and what must come back.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub call: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub args: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientOverride>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub save_as: Option<String>,
    #[serde(default)]
    pub expect: Expect,
}

/// Client credentials or a time limit other than the run's, for one hosted step.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientOverride {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Capability `hosted_timeout`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// What a step must return; with no `error`, the step must succeed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ExpectError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_equals: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub absent: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_len: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_lengths: Option<Vec<usize>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contains: Vec<String>,
}

impl Expect {
    /// The result keys (not `error`) this expectation uses.
    pub fn keys(&self) -> Vec<&'static str> {
        [
            (self.data.is_some(), "data"),
            (self.data_equals.is_some(), "data_equals"),
            (!self.absent.is_empty(), "absent"),
            (self.data_len.is_some(), "data_len"),
            (self.meta.is_some(), "meta"),
            (self.pages.is_some(), "pages"),
            (self.total.is_some(), "total"),
            (self.page_lengths.is_some(), "page_lengths"),
            (self.records.is_some(), "records"),
            (self.value.is_some(), "value"),
            (self.count.is_some(), "count"),
            (!self.contains.is_empty(), "contains"),
        ]
        .into_iter()
        .filter_map(|(used, k)| used.then_some(k))
        .collect()
    }

    /// Every value whose strings may hold placeholders.
    pub fn templated(&self) -> Vec<Value> {
        let mut v: Vec<Value> = [&self.data, &self.data_equals, &self.meta, &self.records, &self.value]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        if let Some(e) = &self.error {
            v.extend(e.message_contains.iter().chain(&e.message_excludes).map(|t| json!(t)));
        }
        v
    }
}

/// The typed error a step must raise.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectError {
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_contains: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub message_excludes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<f64>,
    /// The error carries a non-empty request id (`true`) or none (`false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<bool>,
}

// ------------------------------------------------------------------------------- the methods

/// Which object a method is called on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A local handle named by `on`.
    Local,
    /// A `Workspace`.
    Workspace,
    /// A hosted executor: `on` (saved by `get_connector` / `connect`), `args.connector_id`, or
    /// `args.connector_definition_id` (+ `args.workspace_name`).
    Executor,
    /// `connect`, a free function.
    Function,
    /// The fake's control API (`fake.*`): the kit runs these itself.
    Fake,
}

/// What `save_as` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saves {
    Nothing,
    /// The connector's id, as `{name}`.
    Id,
    /// An executor, as `on: name` (kept by the runner).
    Executor,
}

/// What the value of a method is, for the expectations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `{data, meta}`.
    Exec,
    /// `[{data, meta}, ...]`.
    Pages,
    /// A string.
    Text,
    /// Anything else.
    Value,
}

/// One method a step may call.
#[derive(Debug)]
pub struct Method {
    pub name: &'static str,
    pub target: Target,
    pub required: &'static [&'static str],
    pub optional: &'static [&'static str],
    pub shape: Shape,
    pub saves: Saves,
    pub hosted: bool,
}

impl Method {
    /// The result keys `expect` may use besides `error`.
    pub fn expect_keys(&self) -> &'static [&'static str] {
        match self.shape {
            Shape::Exec => &["data", "data_equals", "absent", "data_len", "meta"],
            Shape::Pages => &["pages", "total", "page_lengths", "records"],
            Shape::Text => &["contains"],
            Shape::Value if self.name == "workspace.delete_connector" => &[],
            Shape::Value => &["value", "count"],
        }
    }
}

pub const EXEC_ARGS: &[&str] = &["params", "select_fields", "exclude_fields", "skip_truncation"];
pub const TARGET_ARGS: &[&str] = &["connector_id", "workspace_name", "connector_definition_id"];
const EXEC_TARGET_ARGS: &[&str] = &[
    "params",
    "select_fields",
    "exclude_fields",
    "skip_truncation",
    "connector_id",
    "workspace_name",
    "connector_definition_id",
];
const CREATE_ARGS: &[&str] = &["name", "replication_config", "config", "workspace_name"];

const fn m(
    name: &'static str,
    target: Target,
    required: &'static [&'static str],
    optional: &'static [&'static str],
    shape: Shape,
    saves: Saves,
) -> Method {
    let hosted = matches!(target, Target::Workspace | Target::Executor | Target::Function);
    Method { name, target, required, optional, shape, saves, hosted }
}

pub const METHODS: &[Method] = &[
    m("local.execute", Target::Local, &["entity", "action"], EXEC_ARGS, Shape::Exec, Saves::Nothing),
    m("local.paginate", Target::Local, &["entity", "action"], EXEC_ARGS, Shape::Pages, Saves::Nothing),
    m("local.check", Target::Local, &[], &[], Shape::Value, Saves::Nothing),
    m("local.describe", Target::Local, &[], &[], Shape::Text, Saves::Nothing),
    m(
        "workspace.create_connector",
        Target::Workspace,
        &["connector_type", "credentials"],
        CREATE_ARGS,
        Shape::Value,
        Saves::Id,
    ),
    m("workspace.list_connectors", Target::Workspace, &[], &["workspace_name"], Shape::Value, Saves::Nothing),
    m(
        "workspace.get_connector",
        Target::Workspace,
        &[],
        &["connector_id", "name", "workspace_name"],
        Shape::Value,
        Saves::Executor,
    ),
    m(
        "workspace.delete_connector",
        Target::Workspace,
        &["connector_id"],
        &["workspace_name"],
        Shape::Value,
        Saves::Nothing,
    ),
    m("executor.execute", Target::Executor, &["entity", "action"], EXEC_TARGET_ARGS, Shape::Exec, Saves::Nothing),
    m("executor.paginate", Target::Executor, &["entity", "action"], EXEC_TARGET_ARGS, Shape::Pages, Saves::Nothing),
    m("executor.check", Target::Executor, &[], TARGET_ARGS, Shape::Value, Saves::Nothing),
    m("connect", Target::Function, &["slug"], &["workspace_name", "connector_id"], Shape::Value, Saves::Executor),
    m("fake.oauth", Target::Fake, &["api"], &[], Shape::Value, Saves::Nothing),
    m("fake.requests", Target::Fake, &[], &["prefix"], Shape::Value, Saves::Nothing),
];

/// The method called `name`.
pub fn method(name: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.name == name)
}

const CREATE_CONNECTOR_KEYS: &[&str] =
    &["save_as", "connector_type", "credentials", "name", "replication_config", "config"];

// ------------------------------------------------------------------------------- loading

/// The scenarios of a directory, each with its file, in file order.
#[derive(Debug)]
pub struct Suite {
    pub scenarios: Vec<(String, Scenario)>,
}

/// Parses one file's text.
pub fn parse(text: &str) -> Result<ScenarioFile, String> {
    serde_norway::from_str(text).map_err(|e| format!("malformed: {e}"))
}

impl Suite {
    /// Reads, parses and checks every `*.yaml` file of `dir`: every problem, or the suite.
    pub fn load(dir: &Path) -> Result<Suite, Vec<String>> {
        let mut paths: Vec<_> = match std::fs::read_dir(dir) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(e) => return Err(vec![format!("cannot read {}: {e}", dir.display())]),
        };
        paths.retain(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"));
        paths.sort();
        if paths.is_empty() {
            return Err(vec![format!("no scenario files in {}", dir.display())]);
        }
        let mut files = Vec::new();
        let mut problems = Vec::new();
        for p in paths {
            let file = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            match std::fs::read_to_string(&p).map_err(|e| e.to_string()).and_then(|t| parse(&t)) {
                Ok(doc) => files.push((file, doc)),
                Err(e) => problems.push(format!("{file}: {e}")),
            }
        }
        problems.extend(validate(&files));
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Suite {
            scenarios: files
                .into_iter()
                .flat_map(|(f, doc)| doc.scenarios.into_iter().map(move |s| (f.clone(), s)))
                .collect(),
        })
    }
}

// ------------------------------------------------------------------------------- checking

/// Every problem of the scenarios in `files`, without running anything.
pub fn validate(files: &[(String, ScenarioFile)]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut names: HashMap<&str, &str> = HashMap::new();
    for (file, doc) in files {
        if doc.scenarios.is_empty() {
            problems.push(format!("{file}: no scenarios"));
        }
        for sc in &doc.scenarios {
            let at = format!("{file}: {:?}", sc.name);
            if sc.name.trim().is_empty() {
                problems.push(format!("{file}: a scenario without a name"));
            }
            if let Some(other) = names.insert(&sc.name, file) {
                problems.push(format!("{at}: the name is also used in {other}"));
            }
            problems.extend(validate_scenario(sc).into_iter().map(|p| format!("{at}: {p}")));
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
        for k in c.keys().filter(|k| !CREATE_CONNECTOR_KEYS.contains(&k.as_str())) {
            p.push(format!("setup.connectors[{i}]: unknown key {k:?}"));
        }
        for k in ["save_as", "connector_type", "credentials"].into_iter().filter(|k| !c.contains_key(*k)) {
            p.push(format!("setup.connectors[{i}]: {k} is required"));
        }
        if let Some(v) = c.get("save_as").and_then(Value::as_str) {
            ids.insert(v.to_string());
        }
    }
    for (name, h) in &sc.local {
        if h.options.timeout_ms.is_some() && !requires("local_timeout") {
            p.push(format!("local.{name}.options.timeout_ms needs requires: [local_timeout]"));
        }
        if h.options.max_concurrent_requests.is_some() && !requires("local_max_concurrent_requests") {
            p.push(format!(
                "local.{name}.options.max_concurrent_requests needs requires: [local_max_concurrent_requests]"
            ));
        }
    }
    for (i, step) in sc.steps.iter().enumerate() {
        let at = format!("step {} ({})", i + 1, step.call);
        let Some(m) = method(&step.call) else {
            let known: Vec<&str> = METHODS.iter().map(|m| m.name).collect();
            p.push(format!("{at}: unknown method (known: {})", known.join(", ")));
            continue;
        };
        let has = |k: &str| step.args.contains_key(k);
        if m.hosted && !sc.setup.engine {
            p.push(format!("{at}: a hosted method needs setup.engine: true"));
        }
        for k in step.args.keys().filter(|k| !m.required.contains(&k.as_str()) && !m.optional.contains(&k.as_str())) {
            p.push(format!("{at}: unknown argument {k:?}"));
        }
        for k in m.required.iter().filter(|k| !has(k)) {
            p.push(format!("{at}: argument {k:?} is required"));
        }
        // Each scenario works in workspaces of its own, so no order of scenarios can matter.
        if let Some(ws) = step.args.get("workspace_name") {
            if !ws.as_str().is_some_and(|w| w.contains("{workspace}")) {
                p.push(format!(
                    "{at}: workspace_name {ws} must contain {{workspace}} (a scenario uses its own workspaces only)"
                ));
            }
        }
        match (m.target, &step.on) {
            (Target::Local, Some(on)) if !sc.local.contains_key(on) => p.push(format!("{at}: no local handle {on:?}")),
            (Target::Local, None) => p.push(format!("{at}: `on` must name a local handle")),
            (Target::Executor, Some(on)) => {
                if !executors.contains(on) {
                    p.push(format!("{at}: no executor {on:?} saved by an earlier get_connector or connect"));
                }
                if TARGET_ARGS.iter().any(|k| has(k)) {
                    p.push(format!("{at}: `on` and {} exclude each other", TARGET_ARGS.join(" / ")));
                }
            }
            (Target::Executor, None) => {
                if has("connector_id") == has("connector_definition_id") {
                    p.push(format!(
                        "{at}: name the executor with `on`, connector_id, or workspace_name + connector_definition_id"
                    ));
                }
                if has("connector_id") && has("workspace_name") {
                    p.push(format!("{at}: workspace_name goes with connector_definition_id, not connector_id"));
                }
            }
            (Target::Workspace | Target::Function | Target::Fake, Some(_)) => {
                p.push(format!("{at}: `on` is not used by this method"))
            }
            _ => {}
        }
        if step.call == "workspace.get_connector" && has("connector_id") == has("name") {
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
        for k in step.expect.keys().into_iter().filter(|k| !m.expect_keys().contains(k)) {
            p.push(format!("{at}: expect.{k} does not apply to this method (it takes {})", m.expect_keys().join(", ")));
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
        placeholders_in(h.config.as_ref().unwrap_or(&Value::Null), &mut used);
    }
    for s in &sc.steps {
        placeholders_in(&Value::Object(s.args.clone()), &mut used);
        if let Some(c) = &s.client {
            placeholders_in(&json!([c.client_id, c.client_secret]), &mut used);
        }
        placeholders_in(&Value::Array(s.expect.templated()), &mut used);
    }
    for name in used {
        if !builtin_placeholder(&name) && !ids.contains(&name) {
            p.push(format!("unknown placeholder {{{name}}}"));
        }
    }
    p
}

// ------------------------------------------------------------------------------- placeholders

/// The `{name}` tokens of `s` (start, end, name): a letter or `_`, then letters, digits, `_`,
/// `.`, `:`. Other braces are text.
pub fn tokens(s: &str) -> Vec<(usize, usize, &str)> {
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

/// `{creds.NAME}`: a credential constant of the fake.
pub fn credential(name: &str) -> Option<&'static str> {
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

/// `{repeat:N}`: N.
pub fn repeat_count(name: &str) -> Option<usize> {
    name.strip_prefix("repeat:")?.parse().ok()
}

fn builtin_placeholder(name: &str) -> bool {
    matches!(name, "fake" | "fake_localhost" | "closed" | "workspace")
        || name.strip_prefix("fake.").is_some_and(|a| APIS.contains(&a))
        || name.strip_prefix("creds.").and_then(credential).is_some()
        || repeat_count(name).is_some()
}
