//! The plan: every scenario normalized (setup connectors become steps, each local step carries
//! its handle), and the resolution of one planned step into the [`Call`] a runner executes.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::format::{credential, method, repeat_count, tokens, LocalHandle, Saves, Shape, Step, Suite, Target, APIS};

/// The scenarios a run walks, in file order.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub scenarios: Vec<PlannedScenario>,
}

/// One scenario, ready to run.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedScenario {
    /// Position in file order (before any filter): the workspace is `conformance-{index:03}`.
    pub index: usize,
    pub name: String,
    pub file: String,
    /// `{workspace}`: no other scenario of the run uses it.
    pub workspace: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    pub engine: bool,
    /// Bodies POSTed to the fake's `/_control/faults` after its reset.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<Value>,
    /// Bodies POSTed to the fake's `/_control/oauth`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub oauth: Vec<Value>,
    /// The setup connectors (`setup: true`, they must succeed), then the steps.
    pub steps: Vec<PlannedStep>,
}

/// One step of the plan, placeholders not yet filled.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedStep {
    /// A `setup.connectors` entry rather than a step of the file.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub setup: bool,
    #[serde(flatten)]
    pub step: Step,
    /// For `local.*`: the handle `on` names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalHandle>,
}

impl PlannedStep {
    /// `setup connector 1 (...)` or `step 3 (...)`, for messages.
    pub fn label(&self, n: usize) -> String {
        if self.setup {
            format!("setup connector {n}")
        } else {
            format!("step {n} ({})", self.step.call)
        }
    }
}

impl Plan {
    /// The plan of `suite`, keeping the scenarios whose name contains `filter`.
    pub fn new(suite: &Suite, filter: Option<&str>) -> Plan {
        let scenarios = suite
            .scenarios
            .iter()
            .enumerate()
            .filter(|(_, (_, sc))| filter.is_none_or(|f| sc.name.contains(f)))
            .map(|(index, (file, sc))| {
                let mut steps: Vec<PlannedStep> = sc
                    .setup
                    .connectors
                    .iter()
                    .map(|c| {
                        let mut args = c.clone();
                        let save_as = args.remove("save_as").and_then(|v| v.as_str().map(str::to_string));
                        let step = Step {
                            call: "workspace.create_connector".into(),
                            on: None,
                            args,
                            client: None,
                            save_as,
                            expect: Default::default(),
                        };
                        PlannedStep { setup: true, step, local: None }
                    })
                    .collect();
                steps.extend(sc.steps.iter().map(|s| {
                    PlannedStep {
                        setup: false,
                        step: s.clone(),
                        local: s
                            .call
                            .starts_with("local.")
                            .then(|| s.on.as_ref().and_then(|on| sc.local.get(on).cloned()))
                            .flatten(),
                    }
                }));
                PlannedScenario {
                    index,
                    name: sc.name.clone(),
                    file: file.clone(),
                    workspace: format!("conformance-{index:03}"),
                    requires: sc.requires.clone(),
                    engine: sc.setup.engine,
                    faults: sc.setup.faults.clone(),
                    oauth: sc.setup.oauth.clone(),
                    steps,
                }
            })
            .collect();
        Plan { scenarios }
    }

    /// Whether any scenario talks to the engine.
    pub fn needs_engine(&self) -> bool {
        self.scenarios.iter().any(|s| s.engine)
    }
}

/// What a runner executes: one call of its SDK, arguments resolved. The optional groups have
/// the shapes of core's binding-facing types (`switchboard_core::sdk`): `local` is
/// `LocalSettings`, `client` is `ClientSettings`, `target` is `Target`, `request` is
/// `ExecuteRequest`, `connector` is `NewConnector`; times are in seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// The neutral method, e.g. `executor.execute`.
    pub call: String,
    /// The local handle (`local.*`) or the saved executor (`executor.*`) to call it on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<String>,
    /// `get_connector` / `connect`: keep the executor under this name for later `on`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub save_as: Option<String>,
    /// `local.*`: how to build the handle `on` when this scenario first uses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<Value>,
    /// Hosted calls: the engine and the client credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<Value>,
    /// `executor.*` without `on`: `{connector_id}` or `{workspace_name, connector_definition_id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Value>,
    /// `workspace.*` and `connect`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_name: Option<String>,
    /// `*.execute`, `*.paginate`: every field given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Value>,
    /// `workspace.create_connector`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector: Option<Value>,
    /// `workspace.get_connector`: `{connector_id}` or `{name}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup: Option<Value>,
    /// `workspace.delete_connector`; `connect` (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<String>,
    /// `connect`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
}

/// The engine a run talks to, with the client credentials every hosted call uses by default.
#[derive(Debug, Clone)]
pub struct Engine {
    pub base_url: String,
    pub client_id: String,
    pub client_secret: String,
}

/// The values placeholders stand for, in one scenario.
#[derive(Debug, Clone)]
pub struct Vars {
    /// `http://127.0.0.1:PORT` of the fake.
    pub fake: String,
    /// `http://127.0.0.1:PORT` where nothing listens.
    pub closed: String,
    pub workspace: String,
    /// Ids saved by `save_as`.
    pub ids: HashMap<String, String>,
}

impl Vars {
    /// Replaces every placeholder in the strings of `v`.
    pub fn fill(&self, v: &Value) -> Result<Value, String> {
        Ok(match v {
            Value::String(s) => Value::String(self.fill_str(s)?),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.fill(x)).collect::<Result<_, _>>()?),
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, x)| Ok((k.clone(), self.fill(x)?))).collect::<Result<_, String>>()?)
            }
            other => other.clone(),
        })
    }

    pub fn fill_str(&self, s: &str) -> Result<String, String> {
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
        if let Some(api) = name.strip_prefix("fake.").filter(|a| APIS.contains(a)) {
            return Ok(format!("{}/{api}", self.fake));
        }
        if let Some(c) = name.strip_prefix("creds.").and_then(credential) {
            return Ok(c.to_string());
        }
        if let Some(n) = repeat_count(name) {
            return Ok("x".repeat(n));
        }
        match name {
            "fake" => Ok(self.fake.clone()),
            "fake_localhost" => Ok(self.fake.replacen("127.0.0.1", "localhost", 1)),
            "closed" => Ok(self.closed.clone()),
            "workspace" => Ok(self.workspace.clone()),
            _ => self.ids.get(name).cloned().ok_or_else(|| format!("placeholder {{{name}}} has no value")),
        }
    }
}

/// A string argument as text.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn seconds(ms: Option<u64>) -> Option<Value> {
    ms.map(|ms| json!(ms as f64 / 1000.0))
}

/// Keeps the non-null entries of `pairs` as an object.
fn object(pairs: Vec<(&str, Option<Value>)>) -> Value {
    Value::Object(
        pairs.into_iter().filter_map(|(k, v)| v.filter(|v| !v.is_null()).map(|v| (k.to_string(), v))).collect(),
    )
}

/// The call a runner makes for `step`, placeholders filled from `vars`.
pub fn resolve(step: &PlannedStep, vars: &Vars, engine: Option<&Engine>) -> Result<Call, String> {
    let s = &step.step;
    let m = method(&s.call).ok_or_else(|| format!("unknown method {}", s.call))?;
    let args = match vars.fill(&Value::Object(s.args.clone()))? {
        Value::Object(a) => a,
        _ => Map::new(),
    };
    let arg = |k: &str| args.get(k).cloned();
    let arg_text = |k: &str| args.get(k).map(text);
    let workspace = || Some(arg_text("workspace_name").unwrap_or_else(|| vars.workspace.clone()));
    let mut call = Call {
        call: s.call.clone(),
        on: s.on.clone(),
        save_as: s.save_as.clone().filter(|_| m.saves == Saves::Executor),
        ..Call::default()
    };
    if m.hosted {
        let e = engine.ok_or("a hosted step, but no engine in this run")?;
        let over = s.client.clone().unwrap_or_default();
        let pick =
            |v: &Option<String>, default: &str| v.as_deref().map(|v| vars.fill_str(v)).unwrap_or(Ok(default.into()));
        call.client = Some(object(vec![
            ("base_url", Some(json!(e.base_url))),
            ("client_id", Some(json!(pick(&over.client_id, &e.client_id)?))),
            ("client_secret", Some(json!(pick(&over.client_secret, &e.client_secret)?))),
            ("timeout", seconds(over.timeout_ms)),
        ]));
    }
    match m.target {
        Target::Local => {
            let h = step.local.as_ref().ok_or_else(|| format!("no local handle {:?}", s.on))?;
            call.local = Some(object(vec![
                ("connector", Some(json!(h.connector))),
                ("credentials", Some(vars.fill(&h.credentials)?)),
                ("config", Some(vars.fill(h.config.as_ref().unwrap_or(&json!({})))?)),
                ("timeout", seconds(h.options.timeout_ms)),
                ("max_concurrent_requests", h.options.max_concurrent_requests.map(|n| json!(n))),
            ]));
        }
        Target::Workspace => {
            call.workspace_name = workspace();
            match m.name {
                "workspace.create_connector" => {
                    let keys = ["connector_type", "credentials", "name", "replication_config", "config"];
                    call.connector = Some(object(keys.iter().map(|k| (*k, arg(k))).collect()));
                }
                "workspace.get_connector" => {
                    call.lookup = Some(object(vec![("connector_id", arg("connector_id")), ("name", arg("name"))]));
                }
                "workspace.delete_connector" => call.connector_id = arg_text("connector_id"),
                _ => {}
            }
        }
        Target::Executor if s.on.is_none() => {
            call.target = Some(match arg_text("connector_id") {
                Some(id) => json!({"connector_id": id}),
                None => {
                    json!({"workspace_name": workspace(), "connector_definition_id": arg("connector_definition_id")})
                }
            });
        }
        Target::Executor => {}
        Target::Function => {
            call.slug = arg_text("slug");
            call.workspace_name = workspace();
            call.connector_id = arg_text("connector_id");
        }
        Target::Fake => return Err(format!("{} is run by the kit, not a runner", s.call)),
    }
    if matches!(m.shape, Shape::Exec | Shape::Pages) {
        call.request = Some(json!({
            "entity": arg_text("entity"),
            "action": arg_text("action"),
            "params": arg("params").unwrap_or_else(|| json!({})),
            "select_fields": arg("select_fields").unwrap_or_else(|| json!([])),
            "exclude_fields": arg("exclude_fields").unwrap_or_else(|| json!([])),
            "skip_truncation": arg("skip_truncation").unwrap_or(json!(false)),
        }));
    }
    Ok(call)
}

/// The workspaces a call works in (for the check that no two scenarios share one).
pub fn workspaces_of(call: &Call) -> Vec<String> {
    let from_target = call.target.as_ref().and_then(|t| t.get("workspace_name")).and_then(Value::as_str);
    call.workspace_name.iter().map(String::as_str).chain(from_target).map(str::to_string).collect()
}
