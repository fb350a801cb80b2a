#!/usr/bin/env bash
# Runs every test of the project, in every language, from one build.
# Usage: bash scripts/test.sh   (from anywhere; installs what it needs on a fresh machine)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

LOG_DIR="$(mktemp -d)"
step() { printf '\n== %s\n' "$*"; }

step "format check"
cargo fmt --all -- --check

step "clippy (warnings are errors)"
cargo clippy --workspace --all-targets --profile ci -- -D warnings

step "PostgreSQL on loopback for the engine tests"
source scripts/postgres.sh
trap stop_test_postgres EXIT

step "rust tests: core runtime, connector cases, CLI, engine on SQLite and PostgreSQL, conformance"
cargo test --workspace --profile ci --no-fail-fast 2>&1 | tee "$LOG_DIR/rust.log"

step "the binaries the other languages' tests start (engine, fake upstream, conformance kit)"
# `cargo test` builds a package's binaries only for its own integration tests: on a cold cache
# fake-upstream's is not among them.
cargo build --profile ci --bins -p switchboard-engine -p fake-upstream -p conformance-kit

step "python: package, generated code check, pyright, pytest (incl. the conformance runner)"
# The engine and fake-upstream binaries the Python tests start come from the ci build above.
SWITCHBOARD_BIN_DIR="$CARGO_TARGET_DIR/ci" bash scripts/test-python.sh 2>&1 | tee "$LOG_DIR/python.log"

step "differential: the reference runtime's requests vs ours, every operation of its 56 specs"
if bash scripts/test-differential.sh > "$LOG_DIR/differential.log" 2>&1; then
  echo "differential: passed"; tail -n 1 "$LOG_DIR/differential.log"
else
  cat "$LOG_DIR/differential.log"; echo "differential: FAILED"
fi

step "node: npm install (ci profile), native.d.ts and packed-package checks, node --test (typed usage, conformance)"
SWITCHBOARD_BIN_DIR="$CARGO_TARGET_DIR/ci" bash scripts/test-node.sh 2>&1 | tee "$LOG_DIR/node.log"

step "mcp inspector: the MCP server driven by the inspector CLI from npm (stdio local and hosted, /mcp)"
SWITCHBOARD_BIN_DIR="$CARGO_TARGET_DIR/ci" bash scripts/test-mcp-inspector.sh 2>&1 | tee "$LOG_DIR/mcp-inspector.log"

step "kotlin: the UniFFI binding (Swift drift check, JUnit on the JVM)"
SWITCHBOARD_BIN_DIR="$CARGO_TARGET_DIR/ci" bash scripts/test-kotlin.sh 2>&1 | tee "$LOG_DIR/kotlin.log"

step "docs: the mdBook site built, every link checked, every quick-start block run against a real engine"
SWITCHBOARD_BIN_DIR="$CARGO_TARGET_DIR/ci" bash scripts/test-docs.sh > "$LOG_DIR/docs.log" 2>&1 || true
grep -E "^docs: " "$LOG_DIR/docs.log" || tail -n 40 "$LOG_DIR/docs.log"

step "browser: the auth widget and the OAuth consent in headless Chromium (Playwright), axe-core"
SWITCHBOARD_BIN_DIR="$CARGO_TARGET_DIR/ci" bash scripts/test-browser.sh > "$LOG_DIR/browser.log" 2>&1 || true
grep -E "^browser: |^# (pass|fail) " "$LOG_DIR/browser.log" || tail -n 40 "$LOG_DIR/browser.log"

step "deploy: the Dockerfile linted (not built: no container runtime here), the systemd unit verified, the example config loaded"
SWITCHBOARD_BIN_DIR="$CARGO_TARGET_DIR/ci" bash scripts/lint-deploy.sh > "$LOG_DIR/deploy.log" 2>&1 || true
grep -E "^deploy: " "$LOG_DIR/deploy.log" || tail -n 40 "$LOG_DIR/deploy.log"

step "dist: every package built (ci profile), installed with no cargo on PATH and smoke-tested against a real engine"
bash scripts/test-dist.sh > "$LOG_DIR/dist.log" 2>&1 || true
grep -E "^(ok|FAILED): |^dist: " "$LOG_DIR/dist.log" || tail -n 40 "$LOG_DIR/dist.log"

step "benchmarks: the harness once with tiny counts on the ci builds (it must not rot; no time is asserted)"
if bash benches/run.sh --tiny > "$LOG_DIR/bench.log" 2>&1; then
  echo "benchmarks: passed"; tail -n 2 "$LOG_DIR/bench.log"
else
  tail -n 40 "$LOG_DIR/bench.log"; echo "benchmarks: FAILED"
fi

# One closing line over every language's runner.
python3 - "$LOG_DIR" <<'PY'
import re, sys, pathlib
d = pathlib.Path(sys.argv[1])
passed = failed = skipped = 0
for m in re.finditer(r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", (d / "rust.log").read_text()):
    passed += int(m[1]); failed += int(m[2]); skipped += int(m[3])
py = (d / "python.log").read_text()
for line in py.splitlines():
    if re.search(r"=+ .*(passed|failed).* in [\d.]+s", line):
        for n, what in re.findall(r"(\d+) (passed|failed|skipped|errors?)", line):
            if what == "passed": passed += int(n)
            elif what == "skipped": skipped += int(n)
            else: failed += int(n)
for what, n in re.findall(r"^# (pass|fail|skipped|cancelled) (\d+)$", (d / "node.log").read_text(), re.M):
    if what == "pass": passed += int(n)
    elif what == "skipped": skipped += int(n)
    else: failed += int(n)
inspector = re.findall(r"^# (pass|fail|skipped|cancelled) (\d+)$", (d / "mcp-inspector.log").read_text(), re.M)
if not inspector:
    failed += 1  # the inspector step ran no test
for what, n in inspector:
    if what == "pass": passed += int(n)
    elif what == "skipped": skipped += int(n)
    else: failed += int(n)
for m in re.finditer(r"^kotlin: (\d+) passed, (\d+) failed, (\d+) skipped$", (d / "kotlin.log").read_text(), re.M):
    passed += int(m[1]); failed += int(m[2]); skipped += int(m[3])
for name in ["dist", "docs", "browser", "deploy"]:
    m = re.search(rf"^{name}: (\d+) passed, (\d+) failed$", (d / f"{name}.log").read_text(), re.M)
    if m:
        passed += int(m[1]); failed += int(m[2])
    else:
        failed += 1  # the step did not finish
diff = (d / "differential.log").read_text()
if re.search(r"^differential: the reference's files and our own specs both match$", diff, re.M):
    passed += 1
else:
    failed += 1
if re.search(r"^\[bench\] wrote ", (d / "bench.log").read_text(), re.M):
    passed += 1
else:
    failed += 1
print(f"total: {passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
PY
