//! The Rust side of the benchmarks (benches/run.sh drives it; it prints one JSON object).
//!
//! - `local`: our pure-Rust client, core's `Connector` for GitHub in local mode, pointed at the
//!   bench fake: `--warmup` calls, then `--calls` sequential `issues list` calls, each timed;
//!   reports the median and mean wall time per call, the CPU time per call (every thread of the
//!   process, from /proc/self/task/*/schedstat) and the peak RSS (VmHWM). With `--specs DIR`
//!   the connector comes from a registry of that directory's specs only, every one parsed at
//!   load (the growth section's "connectors loaded"); the load time and the RSS after it are
//!   reported too.
//! - `parts`: the same calls as `local`; the bindings' call (`sdk::Executor::execute_text`: the
//!   exchange and the page's records kept as the API's text, no tree), timed alike, also
//!   spawned onto the runtime's worker from this thread as a binding's call is (with the CPU
//!   per call of this thread and of the runtime's), a call core refuses before any request (an
//!   unknown entity: the hand-off alone) in place and spawned; and, timed
//!   apart on the page those calls read (fetched from the fake once): core's one pass over its
//!   text that splits out the records (`extract::split_records`: the engine's and every
//!   binding's path), core's parse of it into a tree (`extract::parse_json`: this client's
//!   path) and serde_json's own check of the same text (`IgnoredAny`: what reading it at all
//!   costs); medians of `--calls` each.
//! - `latency`: sequential HTTP requests (keep-alive, one in flight) to several targets named in
//!   a JSON file (`[{"name", "url", "body", "headers", "method"?}]`, POST unless `"method": "GET"`),
//!   interleaved in rounds (A B C A B C ...);
//!   reports p50, p99 and the count of non-2xx answers per target.

use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use switchboard_core::sdk::{ExecuteRequest, Executor, Hooks, LocalSettings, ResultText};
use switchboard_core::{Connector, ConnectorOptions, ExecuteOptions, Registry};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Cost per call of core's connector in local mode.
    Local {
        #[command(flatten)]
        run: Calls,
        /// A directory of specs to load (eagerly) instead of the built-in registry.
        #[arg(long)]
        specs: Option<std::path::PathBuf>,
    },
    /// Local mode's call, the bindings' call from Rust, and core's passes over the page.
    Parts(Calls),
    /// Latency of sequential requests to several targets, interleaved.
    Latency {
        /// JSON file: [{"name", "url", "body", "headers": {..}}].
        #[arg(long)]
        targets: String,
        #[arg(long, default_value_t = 10)]
        rounds: usize,
        /// Requests per target per round.
        #[arg(long, default_value_t = 200)]
        per_round: usize,
        #[arg(long, default_value_t = 100)]
        warmup: usize,
    },
}

/// Sequential calls against the fake: how many, after how many untimed ones.
#[derive(clap::Args)]
struct Calls {
    /// The fake's GitHub base URL.
    #[arg(long)]
    base_url: String,
    #[arg(long, default_value_t = 500)]
    calls: usize,
    #[arg(long, default_value_t = 50)]
    warmup: usize,
}

type Failure = Box<dyn std::error::Error>;

/// CPU time of every live thread of this process, in nanoseconds.
fn process_cpu_ns() -> u64 {
    let (main, others) = thread_cpu_ns();
    main + others
}

/// CPU time of this process's main thread and of all its other live threads, in nanoseconds
/// (from /proc/self/task/*/schedstat).
fn thread_cpu_ns() -> (u64, u64) {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else { return (0, 0) };
    let main = std::process::id().to_string();
    dir.flatten().fold((0, 0), |(m, o), t| {
        let ns = std::fs::read_to_string(t.path().join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()))
            .unwrap_or(0);
        if t.file_name().to_str() == Some(main.as_str()) {
            (m + ns, o)
        } else {
            (m, o + ns)
        }
    })
}

/// Peak resident set size of this process, in KiB.
fn peak_rss_kb() -> u64 {
    status_kb("VmHWM:")
}

/// A `/proc/self/status` field in KiB.
fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn local(base_url: &str, calls: usize, warmup: usize, specs: Option<&std::path::Path>) -> Result<Value, Failure> {
    let rss0 = status_kb("VmRSS:");
    let t = Instant::now();
    let registry = match specs {
        Some(dir) => {
            let mut r = Registry::default();
            r.load_dir(dir)?;
            if let Some(bad) = r.rejected().first() {
                return Err(format!("spec {} not loaded: {}", bad.file, bad.error.message).into());
            }
            r
        }
        None => Registry::builtin()?.clone(),
    };
    let registry_load_ms = t.elapsed().as_secs_f64() * 1e3;
    let rss_after_load_kb = status_kb("VmRSS:");
    let specs_loaded = registry.slugs().count();
    let spec = registry.get("github")?;
    let gh = Connector::new(
        spec,
        json!({"personal_access_token": "ghp_bench_token_0001"}),
        json!({"base_url": base_url}),
        ConnectorOptions::default(),
    )?;
    let opts = ExecuteOptions::default();
    let params = json!({"owner": "octo", "repo": "hello", "per_page": 30});
    let mut records = 0;
    for _ in 0..warmup {
        gh.execute("issues", "list", params.clone(), &opts).await?;
    }
    let mut walls = Vec::with_capacity(calls);
    let cpu0 = process_cpu_ns();
    let t0 = Instant::now();
    for _ in 0..calls {
        let t = Instant::now();
        let res = gh.execute("issues", "list", params.clone(), &opts).await?;
        walls.push(t.elapsed().as_nanos() as u64);
        records = res.data.as_array().map_or(0, Vec::len);
    }
    let total = t0.elapsed().as_nanos() as u64;
    let cpu = process_cpu_ns().saturating_sub(cpu0);
    walls.sort_unstable();
    Ok(json!({
        "calls": calls,
        "records": records,
        "wall_median_us": percentile(&walls, 0.5) as f64 / 1e3,
        "wall_mean_us": total as f64 / calls.max(1) as f64 / 1e3,
        "cpu_per_call_us": cpu as f64 / calls.max(1) as f64 / 1e3,
        "peak_rss_kb": peak_rss_kb(),
        "specs_loaded": specs_loaded,
        "registry_load_ms": registry_load_ms,
        "registry_rss_kb": rss_after_load_kb.saturating_sub(rss0),
    }))
}

/// The median of `calls` timings of `f`, in microseconds.
fn median_us<T>(calls: usize, mut f: impl FnMut() -> T) -> f64 {
    let mut times: Vec<u64> = (0..calls.max(1))
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_nanos() as u64
        })
        .collect();
    times.sort_unstable();
    percentile(&times, 0.5) as f64 / 1e3
}

/// [`median_us`] of an awaited call; its first failure ends the measure.
async fn median_us_async<T, E, Fut>(calls: usize, mut f: impl FnMut() -> Fut) -> Result<f64, Failure>
where
    Fut: std::future::Future<Output = Result<T, E>>,
    E: Into<Failure>,
{
    let mut times = Vec::with_capacity(calls.max(1));
    for _ in 0..calls.max(1) {
        let t = Instant::now();
        std::hint::black_box(f().await.map_err(Into::into)?);
        times.push(t.elapsed().as_nanos() as u64);
    }
    times.sort_unstable();
    Ok(percentile(&times, 0.5) as f64 / 1e3)
}

/// `execute_text` spawned onto the runtime's worker and awaited from this thread, as a
/// binding's call hops from the language's thread onto the runtime and back.
async fn spawned_text(ex: Executor, req: ExecuteRequest) -> Result<switchboard_core::Result<ResultText>, Failure> {
    Ok(tokio::spawn(async move { ex.execute_text(req).await }).await?)
}

async fn parts(base_url: &str, calls: usize, warmup: usize) -> Result<Value, Failure> {
    let call = local(base_url, calls, warmup, None).await?;
    // The bindings' call: `sdk::Executor::execute_text`, the records kept as the API's text.
    let settings = LocalSettings {
        connector: "github".into(),
        credentials: json!({"personal_access_token": "ghp_bench_token_0001"}),
        config: json!({"base_url": base_url}),
        ..LocalSettings::default()
    };
    let executor = Executor::local(settings, Hooks::default())?;
    let request = ExecuteRequest::new("issues", "list", json!({"owner": "octo", "repo": "hello", "per_page": 30}));
    for _ in 0..warmup {
        executor.execute_text(request.clone()).await?;
    }
    let text_call_us = median_us_async(calls, || executor.execute_text(request.clone())).await?;
    let spawned = || {
        let (ex, req) = (executor.clone(), request.clone());
        async move { spawned_text(ex, req).await?.map_err(Failure::from) }
    };
    let spawned_text_call_us = median_us_async(calls, spawned).await?;
    // Whose CPU that takes: this thread's (the caller's, as the language's thread in a binding)
    // and the runtime's worker's, per call.
    let (main0, others0) = thread_cpu_ns();
    for _ in 0..calls.max(1) {
        spawned().await?;
    }
    let (main1, others1) = thread_cpu_ns();
    let per_call_us = |ns: u64| ns as f64 / calls.max(1) as f64 / 1e3;
    // A call that core refuses on the runtime before any request is made (an unknown entity):
    // the hand-off alone, in place and spawned, beside each binding's refused call.
    let refused_request = ExecuteRequest::new("no_such_entity", "list", json!({}));
    let refused = |spawn: bool| {
        let (ex, req) = (executor.clone(), refused_request.clone());
        async move {
            let outcome = if spawn { spawned_text(ex, req).await? } else { ex.execute_text(req).await };
            match outcome {
                Err(e) if e.code == switchboard_core::ErrorCode::Validation => Ok(()),
                Err(e) => Err(Failure::from(format!("the refused call failed otherwise: {e}"))),
                Ok(_) => Err(Failure::from("a call of an unknown entity succeeded")),
            }
        }
    };
    for _ in 0..warmup {
        refused(true).await?;
    }
    let refused_call_us = median_us_async(calls, || refused(false)).await?;
    let spawned_refused_call_us = median_us_async(calls, || refused(true)).await?;
    // The page the connector read: the fake answers every `POST /graphql` with it.
    let page = reqwest::Client::new()
        .post(format!("{base_url}/graphql"))
        .header("authorization", "Bearer ghp_bench_token_0001")
        .body(r#"{"query":"query ListIssues { repository { issues { nodes { id } } } }"}"#)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    let path: Vec<String> = ["data", "repository", "issues", "nodes"].map(String::from).to_vec();
    let (_, records) = switchboard_core::extract::split_records(&page, &path).ok_or("the page did not split")?;
    let walk_us = median_us(calls, || switchboard_core::extract::split_records(&page, &path));
    let tree_us = median_us(calls, || switchboard_core::extract::parse_json(&page));
    let serde_check_us = median_us(calls, || serde_json::from_slice::<serde::de::IgnoredAny>(&page));
    Ok(json!({
        "calls": calls,
        "page_bytes": page.len(),
        "records": records.len(),
        "call_us": call["wall_median_us"],
        "text_call_us": text_call_us,
        "spawned_text_call_us": spawned_text_call_us,
        "spawned_caller_cpu_us": per_call_us(main1 - main0),
        "spawned_runtime_cpu_us": per_call_us(others1 - others0),
        "refused_call_us": refused_call_us,
        "spawned_refused_call_us": spawned_refused_call_us,
        "walk_us": walk_us,
        "tree_us": tree_us,
        "serde_check_us": serde_check_us,
    }))
}

struct Target {
    name: String,
    url: String,
    body: String,
    headers: Vec<(String, String)>,
    /// `GET` when the target says so, `POST` (with the body) otherwise.
    get: bool,
}

async fn latency(targets: &str, rounds: usize, per_round: usize, warmup: usize) -> Result<Value, Failure> {
    let spec: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(targets)?)?;
    let targets: Vec<Target> = spec
        .iter()
        .map(|t| Target {
            name: t["name"].as_str().unwrap_or_default().to_string(),
            url: t["url"].as_str().unwrap_or_default().to_string(),
            body: t["body"].as_str().unwrap_or_default().to_string(),
            headers: t["headers"]
                .as_object()
                .map(|h| h.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
                .unwrap_or_default(),
            get: t["method"].as_str().is_some_and(|m| m.eq_ignore_ascii_case("get")),
        })
        .collect();
    // One client (one keep-alive connection pool) per target, so a target never waits for a
    // connection another one holds.
    let clients: Vec<reqwest::Client> = targets
        .iter()
        .map(|_| reqwest::Client::builder().pool_max_idle_per_host(4).timeout(Duration::from_secs(30)).build())
        .collect::<Result<_, _>>()?;
    let send = |i: usize| {
        let t = &targets[i];
        let mut req = if t.get {
            clients[i].get(&t.url)
        } else {
            clients[i].post(&t.url).header("content-type", "application/json").body(t.body.clone())
        };
        for (k, v) in &t.headers {
            req = req.header(k, v);
        }
        async move {
            let res = req.send().await?;
            let ok = res.status().is_success();
            let _ = res.bytes().await?;
            Ok::<bool, reqwest::Error>(ok)
        }
    };
    let mut lat: Vec<Vec<u64>> = vec![Vec::new(); targets.len()];
    let mut bad = vec![0u64; targets.len()];
    let mut errors = vec![0u64; targets.len()];
    for (i, bad) in bad.iter_mut().enumerate() {
        for _ in 0..warmup {
            if !send(i).await.unwrap_or(false) {
                *bad += 1;
            }
        }
    }
    for _ in 0..rounds {
        for i in 0..targets.len() {
            for _ in 0..per_round {
                let t = Instant::now();
                match send(i).await {
                    Ok(true) => lat[i].push(t.elapsed().as_nanos() as u64),
                    Ok(false) => bad[i] += 1,
                    Err(_) => errors[i] += 1,
                }
            }
        }
    }
    let mut out = serde_json::Map::new();
    for (i, t) in targets.iter().enumerate() {
        lat[i].sort_unstable();
        out.insert(
            t.name.clone(),
            json!({
                "requests": lat[i].len(),
                "p50_us": percentile(&lat[i], 0.5) as f64 / 1e3,
                "p99_us": percentile(&lat[i], 0.99) as f64 / 1e3,
                "non_2xx": bad[i],
                "errors": errors[i],
            }),
        );
    }
    Ok(Value::Object(out))
}

/// mimalloc, as the engine and the bindings use: the client they are compared with allocates
/// the same way.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Failure> {
    let cli = Cli::parse();
    // One worker thread: the clients measured in the other languages run their I/O on a small
    // runtime too, and the machine has two cores shared with the fake.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let out = rt.block_on(async {
        match cli.command {
            Command::Local { run, specs } => local(&run.base_url, run.calls, run.warmup, specs.as_deref()).await,
            Command::Parts(run) => parts(&run.base_url, run.calls, run.warmup).await,
            Command::Latency { targets, rounds, per_round, warmup } => {
                latency(&targets, rounds, per_round, warmup).await
            }
        }
    })?;
    println!("{out}");
    Ok(())
}
