//! `conformance-kit`: checks the scenario files, prints the plan, or runs the suite for a
//! runner in another language that speaks JSON lines on this process's stdin and stdout
//! (protocol: `tests/conformance/README.md`, "Runners").

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use conformance_kit::{plan_dir, run, Call, Engine, Options, Outcome, Runner, Suite, World};
use serde_json::{json, Map, Value};

const DEFAULT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../conformance");

#[derive(Parser)]
#[command(about = "The shared half of the conformance suite (tests/conformance/README.md)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// The scenario files.
    #[arg(long, global = true, env = "CONFORMANCE_DIR", default_value = DEFAULT_DIR)]
    dir: PathBuf,
}

#[derive(Subcommand)]
enum Cmd {
    /// Checks every scenario file (unknown keys, methods, arguments, expectations, codes,
    /// capabilities, placeholders) and says how many scenarios there are.
    Check,
    /// Prints the plan: the scenarios selected by CONFORMANCE_FILTER, normalized, as JSON.
    Plan,
    /// Runs the suite: calls go out on stdout, one JSON line each, and their outcomes come back
    /// on stdin; the report goes to stderr and, last, to stdout as `{"op": "done", ...}`.
    /// CONFORMANCE_FILTER selects scenarios, CONFORMANCE_SEED shuffles them.
    Run {
        /// The runner's name in the report (`python`).
        #[arg(long)]
        language: String,
        /// A capability the runner's SDK has (README "Capabilities"); repeat for several.
        #[arg(long = "capability")]
        capabilities: Vec<String>,
        /// The engine binary (`switchboard`), started when a scenario needs it; default: the
        /// one next to this binary.
        #[arg(long)]
        engine_bin: Option<PathBuf>,
    },
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Check => Suite::load(&cli.dir).map_err(|p| p.join("\n")).map(|s| {
            println!("{} scenarios, all well-formed", s.scenarios.len());
            true
        }),
        Cmd::Plan => plan_dir(&cli.dir).map(|p| {
            println!("{}", serde_json::to_string_pretty(&p).unwrap_or_default());
            true
        }),
        Cmd::Run { language, capabilities, engine_bin } => {
            let caps: Vec<&str> = capabilities.iter().map(String::as_str).collect();
            run_stdio(&cli.dir, Options::new(&language, &caps), engine_bin).await
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("conformance-kit: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run_stdio(dir: &Path, opts: Options, engine_bin: Option<PathBuf>) -> Result<bool, String> {
    let plan = plan_dir(dir)?;
    let engine = match plan.needs_engine() {
        true => Some(EngineProcess::start(&engine_bin.map_or_else(sibling_engine, Ok)?)?),
        false => None,
    };
    let world = World::start(engine.as_ref().map(|e| e.engine.clone())).await?;
    let mut runner = StdioRunner::new();
    let report = run(&plan, &world, &mut runner, &opts).await;
    eprintln!("{}", report.text());
    let (passed, failed, skipped) = report.counts();
    let done = json!({"op": "done", "ok": report.ok(), "passed": passed, "failed": failed, "skipped": skipped,
                      "summary": report.summary(), "report": report.text()});
    // The runner may be gone already; the exit code says the same.
    let _ = runner.send(&done);
    drop(engine);
    Ok(report.ok())
}

// ------------------------------------------------------------------------------- the runner

/// A runner on the other end of stdin and stdout.
struct StdioRunner {
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl StdioRunner {
    fn new() -> Self {
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines().map_while(Result::ok) {
                if !line.trim().is_empty() && tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { lines }
    }

    fn send(&mut self, msg: &Value) -> Result<(), String> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{msg}").and_then(|()| out.flush()).map_err(|e| format!("cannot write to the runner: {e}"))
    }
}

impl Runner for StdioRunner {
    fn begin(&mut self, scenario: &str) -> Result<(), String> {
        self.send(&json!({"op": "scenario", "name": scenario}))
    }

    async fn call(&mut self, call: &Call) -> Result<Outcome, String> {
        let mut msg = Map::new();
        msg.insert("op".into(), json!("step"));
        if let Ok(Value::Object(fields)) = serde_json::to_value(call) {
            msg.extend(fields);
        }
        self.send(&Value::Object(msg))?;
        let line = self.lines.recv().await.ok_or("the runner closed stdin without an outcome")?;
        serde_json::from_str(&line).map_err(|e| format!("not an outcome ({e}): {line}"))
    }
}

// ------------------------------------------------------------------------------- the engine

/// `switchboard` next to this binary (both are in the same cargo target directory).
fn sibling_engine() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    Ok(me.with_file_name(format!("switchboard{}", std::env::consts::EXE_SUFFIX)))
}

/// `switchboard serve` on SQLite in a fresh directory, stopped and removed on drop.
struct EngineProcess {
    child: Child,
    dir: PathBuf,
    engine: Engine,
}

impl EngineProcess {
    fn start(bin: &Path) -> Result<EngineProcess, String> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("conformance-kit-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--bind", "127.0.0.1:0", "--egress-allow", "127.0.0.1"])
            .args(["--rate-limit", "10000", "--rate-burst", "10000"])
            .args(["--token-rate-limit", "10000", "--token-rate-burst", "10000"])
            .args(["--token-address-rate-limit", "10000", "--token-address-rate-burst", "10000", "--data-dir"])
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // A database URL or master key of the caller's must not reach the test engine.
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("SWITCHBOARD_")) {
            cmd.env_remove(k);
        }
        cmd.env("SWITCHBOARD_LOG", "warn");
        let mut child = cmd.spawn().map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let stdout = child.stdout.take();
        let mut proc = EngineProcess {
            child,
            dir,
            engine: Engine { base_url: String::new(), client_id: String::new(), client_secret: String::new() },
        };
        // Lines are read on a thread that keeps draining them after the start.
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        if let Some(out) = stdout {
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while proc.engine.base_url.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line =
                rx.recv_timeout(left).map_err(|_| format!("{} did not start (its log is above)", bin.display()))?;
            let Ok(msg) = serde_json::from_str::<Value>(line.trim()) else { continue };
            let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
            if let Some(first) = msg.get("first_application") {
                proc.engine.client_id = field(first, "client_id");
                proc.engine.client_secret = field(first, "client_secret");
            }
            if msg.get("listening").is_some() {
                proc.engine.base_url = field(&msg, "listening");
            }
        }
        if proc.engine.client_id.is_empty() {
            return Err("the engine printed no first application (is its data directory empty?)".into());
        }
        Ok(proc)
    }
}

impl Drop for EngineProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
