//! Running a plan with one language's runner: the fake (in process), each scenario's setup, the
//! `fake.*` steps, a shuffled order, the time limit of a step, and the report.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use fake_upstream::FakeUpstream;
use serde_json::{json, Value};

use super::check::{check, short, Outcome};
use super::format::{method, Saves, Target};
use super::plan::{resolve, text, workspaces_of, Call, Engine, Plan, PlannedScenario, PlannedStep, Vars};

/// One language's interpreter of calls. It holds, per scenario, the local handles it built
/// and the executors saved by `save_as`; everything else is the kit's.
pub trait Runner {
    /// A scenario begins: forget the handles and executors of the previous one.
    fn begin(&mut self, scenario: &str) -> Result<(), String>;
    /// Makes one call with the language's SDK. `Err` means the runner cannot go on: the run
    /// stops and the scenarios not run yet fail.
    fn call(&mut self, call: &Call) -> impl Future<Output = Result<Outcome, String>>;
}

/// The order scenarios run in unless `CONFORMANCE_SEED` says otherwise.
pub const DEFAULT_SEED: u64 = 1;

/// How a run goes.
#[derive(Debug, Clone)]
pub struct Options {
    /// `rust`, `python`, ...: the report's name for the runner.
    pub language: String,
    /// The capabilities the runner's SDK has (README "Capabilities"); a scenario needing
    /// another is reported as skipped.
    pub capabilities: Vec<String>,
    /// Scenarios run in an order shuffled with this seed, so none can lean on another.
    pub seed: u64,
    /// The longest one call may take.
    pub step_limit: Duration,
}

impl Options {
    /// Options for `language`, the seed from `CONFORMANCE_SEED`.
    pub fn new(language: &str, capabilities: &[&str]) -> Options {
        Options {
            language: language.into(),
            capabilities: capabilities.iter().map(|c| c.to_string()).collect(),
            seed: std::env::var("CONFORMANCE_SEED").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(DEFAULT_SEED),
            step_limit: Duration::from_secs(60),
        }
    }
}

/// `0..n` shuffled by `seed` (Fisher-Yates over splitmix64: the same order everywhere).
pub fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        v.swap(i, (next() % (i as u64 + 1)) as usize);
    }
    v
}

// ------------------------------------------------------------------------------- the world

/// What serves every scenario of a run: the fake in this process, a closed port, the engine.
pub struct World {
    _fake: FakeUpstream,
    /// `http://127.0.0.1:PORT` of the fake.
    pub fake_url: String,
    /// `http://127.0.0.1:PORT` where nothing listens.
    pub closed: String,
    pub engine: Option<Engine>,
    http: reqwest::Client,
}

impl World {
    /// Starts the fake; `engine` is the one hosted steps call.
    pub async fn start(engine: Option<Engine>) -> Result<World, String> {
        let fake = FakeUpstream::start().await.map_err(|e| format!("cannot start the fake upstream: {e}"))?;
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| format!("http://127.0.0.1:{}", a.port()))
            .map_err(|e| format!("cannot find a closed port: {e}"))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(World { fake_url: format!("http://{}", fake.addr), _fake: fake, closed, engine, http })
    }

    /// A control call to the fake; anything but 2xx is an error.
    async fn control(&self, post: Option<&Value>, path: &str) -> Result<Value, String> {
        let url = format!("{}{path}", self.fake_url);
        let rb = match post {
            Some(body) => self.http.post(&url).json(body),
            None => self.http.get(&url),
        };
        let what = format!("{} {path}", if post.is_some() { "POST" } else { "GET" });
        let resp = rb.send().await.map_err(|e| format!("{what}: {e}"))?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(format!("{what} answered {status}: {body}"));
        }
        Ok(serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// Resets the fake, then injects the scenario's faults and OAuth settings.
    async fn setup(&self, sc: &PlannedScenario, vars: &Vars) -> Result<(), String> {
        self.control(Some(&json!({})), "/_control/reset").await?;
        for f in &sc.faults {
            self.control(Some(&vars.fill(f)?), "/_control/faults").await?;
        }
        for o in &sc.oauth {
            self.control(Some(&vars.fill(o)?), "/_control/oauth").await?;
        }
        Ok(())
    }

    /// `fake.oauth` and `fake.requests`, which read the fake's control API.
    async fn fake_step(&self, step: &PlannedStep, vars: &Vars) -> Result<Value, String> {
        let args = vars.fill(&Value::Object(step.step.args.clone()))?;
        if step.step.call == "fake.oauth" {
            return self
                .control(None, &format!("/_control/oauth/{}", args.get("api").map(text).unwrap_or_default()))
                .await;
        }
        let prefix = args.get("prefix").map(|p| format!("/{}/", text(p)));
        let all = self.control(None, "/_control/requests").await?;
        let list = all.as_array().into_iter().flatten().filter(|r| {
            prefix
                .as_ref()
                .is_none_or(|p| r.get("path").and_then(Value::as_str).is_some_and(|path| path.starts_with(p)))
        });
        let keep = |r: &Value| json!({"method": r["method"], "path": r["path"], "query_string": r["query_string"], "body": r["body_parsed"]});
        Ok(Value::Array(list.map(keep).collect()))
    }
}

// ------------------------------------------------------------------------------- the report

/// How one scenario went.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Passed,
    /// What differed, step by step.
    Failed(Vec<String>),
    /// The scenario needs a capability the runner says it lacks.
    Skipped(String),
    /// The runner stopped before this scenario: a failure.
    NotRun(String),
}

#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub name: String,
    pub file: String,
    pub status: Status,
    pub millis: u128,
}

/// Every scenario of the plan, exactly once, in the order they ran.
#[derive(Debug, Clone)]
pub struct Report {
    pub language: String,
    pub seed: u64,
    pub results: Vec<ScenarioResult>,
}

impl Report {
    /// (passed, failed, skipped); a scenario not run is a failure.
    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |f: fn(&Status) -> bool| self.results.iter().filter(|r| f(&r.status)).count();
        (
            count(|s| *s == Status::Passed),
            count(|s| matches!(s, Status::Failed(_) | Status::NotRun(_))),
            count(|s| matches!(s, Status::Skipped(_))),
        )
    }

    /// Whether every scenario passed or was skipped for a declared missing capability.
    pub fn ok(&self) -> bool {
        self.counts().1 == 0 && !self.results.is_empty()
    }

    /// `python: 63 passed, 0 failed, 1 skipped (seed 1)`.
    pub fn summary(&self) -> String {
        let (p, f, s) = self.counts();
        format!("{}: {p} passed, {f} failed, {s} skipped (conformance, seed {})", self.language, self.seed)
    }

    /// The summary, then what failed and what was skipped.
    pub fn text(&self) -> String {
        let mut out = vec![self.summary()];
        for r in &self.results {
            match &r.status {
                Status::Passed => {}
                Status::Failed(errs) => out.push(format!("FAIL {} / {}:\n    {}", r.file, r.name, errs.join("\n    "))),
                Status::NotRun(why) => out.push(format!("FAIL {} / {}: not run: {why}", r.file, r.name)),
                Status::Skipped(why) => out.push(format!("skip {} / {}: {why}", r.file, r.name)),
            }
        }
        out.join("\n")
    }
}

// ------------------------------------------------------------------------------- running

/// Runs every scenario of `plan` with `runner`, in the shuffled order of `opts.seed`.
pub async fn run<R: Runner>(plan: &Plan, world: &World, runner: &mut R, opts: &Options) -> Report {
    let mut results = Vec::new();
    let mut workspaces: HashMap<String, String> = HashMap::new();
    let mut stopped: Option<String> = None;
    eprintln!(
        "conformance ({}): {} scenarios, shuffled with seed {} (CONFORMANCE_SEED)",
        opts.language,
        plan.scenarios.len(),
        opts.seed
    );
    for i in shuffled(plan.scenarios.len(), opts.seed) {
        let sc = &plan.scenarios[i];
        let started = Instant::now();
        let missing: Vec<&str> =
            sc.requires.iter().map(String::as_str).filter(|r| !opts.capabilities.iter().any(|c| c == r)).collect();
        let status = if !missing.is_empty() {
            Status::Skipped(format!("needs {}, which the {} runner lacks", missing.join(", "), opts.language))
        } else if let Some(why) = &stopped {
            Status::NotRun(why.clone())
        } else {
            match run_scenario(sc, world, runner, opts, &mut workspaces).await {
                Ok(errs) if errs.is_empty() => Status::Passed,
                Ok(errs) => Status::Failed(errs),
                Err(errs) => {
                    stopped = Some(format!("the runner stopped during {:?}", sc.name));
                    Status::Failed(errs)
                }
            }
        };
        let tag = match status {
            Status::Passed => "ok  ",
            Status::Skipped(_) => "skip",
            _ => "FAIL",
        };
        eprintln!("{tag} {:?} ({} ms)", sc.name, started.elapsed().as_millis());
        let millis = started.elapsed().as_millis();
        results.push(ScenarioResult { name: sc.name.clone(), file: sc.file.clone(), status, millis });
    }
    Report { language: opts.language.clone(), seed: opts.seed, results }
}

/// Runs one scenario: what differed (empty: it passed), or `Err` with what happened when the
/// runner cannot go on.
async fn run_scenario<R: Runner>(
    sc: &PlannedScenario,
    world: &World,
    runner: &mut R,
    opts: &Options,
    workspaces: &mut HashMap<String, String>,
) -> Result<Vec<String>, Vec<String>> {
    let stop = |why: String| Err(vec![why]);
    if let Err(e) = runner.begin(&sc.name) {
        return stop(format!("the runner stopped: {e}"));
    }
    let mut vars = Vars {
        fake: world.fake_url.clone(),
        closed: world.closed.clone(),
        workspace: sc.workspace.clone(),
        ids: HashMap::new(),
    };
    if let Err(e) = world.setup(sc, &vars).await {
        return Ok(vec![format!("setup: {e}")]);
    }
    let (mut setups, mut steps) = (0, 0);
    for step in &sc.steps {
        let n = if step.setup { &mut setups } else { &mut steps };
        *n += 1;
        let label = step.label(*n);
        let fail = |e: String| Ok(vec![format!("{label}: {e}")]);
        let Some(m) = method(&step.step.call) else { return fail("unknown method".into()) };
        let outcome = if m.target == Target::Fake {
            match world.fake_step(step, &vars).await {
                Ok(v) => Outcome::Value(v),
                Err(e) => return fail(e),
            }
        } else {
            let call = match resolve(step, &vars, world.engine.as_ref()) {
                Ok(c) => c,
                Err(e) => return fail(e),
            };
            for ws in workspaces_of(&call) {
                let owner = workspaces.entry(ws.clone()).or_insert_with(|| sc.name.clone());
                if *owner != sc.name {
                    return fail(format!("workspace {ws:?} is also used by scenario {owner:?}"));
                }
            }
            match tokio::time::timeout(opts.step_limit, runner.call(&call)).await {
                Err(_) => return stop(format!("{label}: no answer within {:?}", opts.step_limit)),
                Ok(Err(e)) => return stop(format!("{label}: the runner stopped: {e}")),
                Ok(Ok(o)) => o,
            }
        };
        // The id is saved first: the step's own expectations may name it.
        if let (Saves::Id, Some(name), Outcome::Value(v)) = (m.saves, &step.step.save_as, &outcome) {
            match v.get("id").and_then(Value::as_str) {
                Some(id) => {
                    vars.ids.insert(name.clone(), id.to_string());
                }
                None => return fail(format!("the value has no id to save as {name:?}: {}", short(v))),
            }
        }
        let errs = check(&step.step.expect, m.shape, &outcome, &vars);
        if !errs.is_empty() {
            return Ok(errs.into_iter().map(|e| format!("{label}: {e}")).collect());
        }
    }
    Ok(Vec::new())
}
