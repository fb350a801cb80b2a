//! The conformance kit: the half of the cross-language conformance suite that is the same in
//! every language, written once.
//!
//! It loads and checks `tests/conformance/*.yaml` (format: `tests/conformance/README.md`),
//! normalizes them into a [`Plan`], starts the fake upstream, and walks the plan with a
//! [`Runner`]: it resets the fake and injects faults before each scenario, answers the `fake.*`
//! steps itself, fills every placeholder, hands each SDK call to the runner as a [`Call`],
//! checks the runner's [`Outcome`] against the expectations and reports per scenario.
//!
//! A runner is then only an interpreter of calls in its language: the Rust one implements
//! [`Runner`] in process (`engine/tests/conformance.rs`); the others speak the same calls and
//! outcomes as JSON lines over the `conformance-kit run` binary's stdin and stdout.
//!
//! This library uses only crates `switchboard-engine`'s tests already depend on, so the Rust
//! runner compiles it in with `#[path]`.

pub mod check;
pub mod drive;
pub mod format;
pub mod plan;

pub use check::{ErrorOutcome, Outcome};
pub use drive::{run, Options, Report, Runner, Status, World};
pub use format::Suite;
pub use plan::{Call, Engine, Plan};

/// Loads and checks every file of `dir` and plans the scenarios `CONFORMANCE_FILTER` selects
/// (all when unset); the problems found otherwise.
pub fn plan_dir(dir: &std::path::Path) -> Result<Plan, String> {
    let suite =
        Suite::load(dir).map_err(|p| format!("{} problem(s) in {}:\n  {}", p.len(), dir.display(), p.join("\n  ")))?;
    let filter = std::env::var("CONFORMANCE_FILTER").ok().filter(|f| !f.is_empty());
    let plan = Plan::new(&suite, filter.as_deref());
    if plan.scenarios.is_empty() {
        return Err(format!("no scenario to run (CONFORMANCE_FILTER={filter:?})"));
    }
    Ok(plan)
}
