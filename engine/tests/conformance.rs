//! The cross-language conformance suite, Rust side: an interpreter of the kit's calls over the
//! public Rust API the SDKs mirror.
//!
//! The kit (`tests/conformance-kit`) loads and checks `tests/conformance/*.yaml`, runs the fake,
//! sets each scenario up, fills placeholders, checks outcomes and reports; this file only turns
//! each [`kit::Call`] into a call of `switchboard_core`'s binding-facing layer:
//! [`sdk::Executor`] (local handles and hosted executors, built from [`sdk::LocalSettings`],
//! [`sdk::ClientSettings`] and [`sdk::Target`]), [`Workspace`] and [`connect`]. The engine runs
//! in process on SQLite. `CONFORMANCE_FILTER=text` runs the scenarios whose name contains
//! `text`; `CONFORMANCE_SEED=n` shuffles them differently.

mod common;

use conformance_kit as kit;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;

use futures::StreamExt;
use kit::{Call, ErrorOutcome, Outcome};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use switchboard_core::describe::describe;
use switchboard_core::sdk::{self, ClientSettings, ExecuteRequest, Executor, Hooks, LocalSettings};
use switchboard_core::{connect, ConnectorLookup, Error, HostedClient, NewConnector, Registry, Workspace};

/// The capabilities of the Rust SDK: all of them.
const CAPABILITIES: [&str; 3] = ["local_timeout", "hosted_timeout", "local_max_concurrent_requests"];

/// Why a call has no value: the SDK's typed error, or a problem of this runner.
enum Failure {
    Sdk(Error),
    Runner(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Sdk(e)
    }
}

/// One scenario's objects: local handles built on first use (a construction error is kept and
/// is the outcome of every step using the handle) and executors saved by `save_as`.
#[derive(Default)]
struct RustRunner {
    locals: HashMap<String, Result<Executor, Error>>,
    executors: HashMap<String, Executor>,
}

impl kit::Runner for RustRunner {
    fn begin(&mut self, _scenario: &str) -> Result<(), String> {
        self.locals.clear();
        self.executors.clear();
        Ok(())
    }

    async fn call(&mut self, c: &Call) -> Result<Outcome, String> {
        Ok(match self.dispatch(c).await {
            Ok(v) => Outcome::Value(v),
            Err(Failure::Runner(e)) => Outcome::Fail(e),
            Err(Failure::Sdk(e)) => Outcome::Error(ErrorOutcome {
                code: e.code.as_str().to_string(),
                message: e.message,
                status_code: e.status_code,
                retry_after: e.retry_after,
                request_id: e.request_id,
                class: None,
                details: e.details,
            }),
        })
    }
}

/// The group `what` of a call, as the core type it is shaped like.
fn part<T: DeserializeOwned>(what: &str, v: &Option<Value>) -> Result<T, Failure> {
    let v = v.clone().ok_or_else(|| Failure::Runner(format!("the call has no {what}")))?;
    serde_json::from_value(v).map_err(|e| Failure::Runner(format!("{what}: {e}")))
}

fn text(what: &str, v: &Option<String>) -> Result<String, Failure> {
    v.clone().ok_or_else(|| Failure::Runner(format!("the call has no {what}")))
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Value, Failure> {
    serde_json::to_value(v).map_err(|e| Failure::Runner(format!("cannot serialize a result: {e}")))
}

fn exec_json(r: &switchboard_core::ExecutionResult) -> Value {
    json!({"data": r.data, "meta": r.meta})
}

/// Every page; the first failed page is the outcome.
async fn pages(stream: sdk::Pages) -> Result<Value, Failure> {
    let mut out = Vec::new();
    for page in stream.collect::<Vec<_>>().await {
        out.push(exec_json(&page?));
    }
    Ok(Value::Array(out))
}

impl RustRunner {
    async fn dispatch(&mut self, c: &Call) -> Result<Value, Failure> {
        let request = || part::<ExecuteRequest>("request", &c.request);
        match c.call.as_str() {
            "local.execute" => Ok(exec_json(&self.local(c)?.execute(request()?).await?)),
            "local.paginate" => pages(self.local(c)?.paginate(request()?)).await,
            "local.check" => to_json(&self.local(c)?.check().await?),
            "local.describe" => {
                let slug = self.local(c)?.slug().unwrap_or_default();
                Ok(Value::String(describe(&*Registry::shared()?.get(&slug)?)))
            }
            "workspace.create_connector" => {
                let new: NewConnector = part("connector", &c.connector)?;
                to_json(&self.workspace(c)?.create_connector(new).await?)
            }
            "workspace.list_connectors" => to_json(&self.workspace(c)?.list_connectors().await?),
            "workspace.get_connector" => {
                let mut lookup: HashMap<String, String> = part("lookup", &c.lookup)?;
                let lookup = ConnectorLookup::from_args(lookup.remove("connector_id"), lookup.remove("name"))?;
                let ex = self.workspace(c)?.get_connector(&lookup).await?;
                self.save(c, ex.into()).await
            }
            "workspace.delete_connector" => {
                self.workspace(c)?.delete_connector(&text("connector_id", &c.connector_id)?).await?;
                Ok(Value::Null)
            }
            "executor.execute" => Ok(exec_json(&self.executor(c)?.execute(request()?).await?)),
            "executor.paginate" => pages(self.executor(c)?.paginate(request()?)).await,
            "executor.check" => to_json(&self.executor(c)?.check().await?),
            "connect" => {
                let (slug, ws) = (text("slug", &c.slug)?, text("workspace_name", &c.workspace_name)?);
                let ex = connect(client(c)?, &slug, &ws, c.connector_id.as_deref()).await?;
                self.save(c, ex.into()).await
            }
            other => Err(Failure::Runner(format!("unknown call {other}"))),
        }
    }

    /// The local handle `on`, built on first use.
    fn local(&mut self, c: &Call) -> Result<Executor, Failure> {
        let built = match self.locals.entry(text("on", &c.on)?) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(Executor::local(part::<LocalSettings>("local", &c.local)?, Hooks::default())),
        };
        built.clone().map_err(Failure::Sdk)
    }

    fn workspace(&self, c: &Call) -> Result<Workspace, Failure> {
        Ok(Workspace::new(client(c)?, text("workspace_name", &c.workspace_name)?)?)
    }

    /// A saved executor (`on`), or one for the call's target.
    fn executor(&self, c: &Call) -> Result<Executor, Failure> {
        match &c.on {
            Some(on) => self.executors.get(on).cloned().ok_or_else(|| Failure::Runner(format!("no executor {on:?}"))),
            None => Ok(Executor::hosted(client(c)?, &part("target", &c.target)?)?),
        }
    }

    /// Resolves the executor now (so not_found / conflict belong to this step) and keeps it.
    async fn save(&mut self, c: &Call, ex: Executor) -> Result<Value, Failure> {
        let info = ex.connector_info().await?;
        if let Some(name) = &c.save_as {
            self.executors.insert(name.clone(), ex);
        }
        to_json(&info)
    }
}

fn client(c: &Call) -> Result<HostedClient, Failure> {
    Ok(part::<ClientSettings>("client", &c.client)?.client(None)?)
}

/// Runs every scenario of `tests/conformance/` through the Rust SDK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance");
    let plan = kit::plan_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    let engine = match plan.needs_engine() {
        true => common::start(common::Backend::Sqlite, |_| {}).await,
        false => None,
    };
    let access = engine.as_ref().map(|e| kit::Engine {
        base_url: e.base.clone(),
        client_id: e.app.client_id.clone(),
        client_secret: e.app.client_secret.clone(),
    });
    let world = kit::World::start(access).await.unwrap_or_else(|e| panic!("{e}"));
    let report = kit::run(&plan, &world, &mut RustRunner::default(), &kit::Options::new("rust", &CAPABILITIES)).await;
    // Past the test harness's capture: the count is worth seeing on every run.
    let _ = writeln!(std::io::stderr(), "{}", report.summary());
    assert!(report.ok(), "{}", report.text());
}
