#!/usr/bin/env bash
# Installs each artifact of scripts/dist.sh the way a user does, with no cargo or rustc on PATH,
# and runs a smoke test of each against the fake upstream and a real `switchboard serve` started
# from the packaged binary: a fresh Python venv from the wheel (and one from the sdist's name
# check), a scratch npm project from the tarball, a scratch Maven project depending on the jar
# from the local repository. Prints `dist: N passed, M failed` (scripts/test.sh counts it).
#
#   bash scripts/test-dist.sh                 builds dist/ with the ci profile first
#   DIST_DIR=dist bash scripts/test-dist.sh --no-build   tests an existing dist/ (e.g. release)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
ROOT="$PWD"

BUILD=1
[ "${1:-}" = "--no-build" ] && BUILD=0
export DIST_DIR="${DIST_DIR:-$CARGO_TARGET_DIR/dist-ci}"
step() { printf '\n== %s\n' "$*"; }

if [ "$BUILD" = 1 ]; then
  bash scripts/dist.sh --profile ci
  EXPECT_PROFILE=ci
else
  EXPECT_PROFILE="${EXPECT_PROFILE:-release}"
fi
export EXPECT_PROFILE
VERSION="$(bash scripts/version.sh)"
cargo build --profile ci -p fake-upstream
FAKE_BIN="$CARGO_TARGET_DIR/ci/fake-upstream"

WORK="$(mktemp -d)"
cleanup() { kill "${FAKE_PID:-}" "${ENGINE_PID:-}" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
wait_for() { for _ in $(seq 150); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "timed out waiting for $1" >&2; cat "$1" >&2; exit 1; }

# A PATH a user without Rust has: every directory holding cargo, rustc or rustup left out.
CLEAN_PATH=""
IFS=: read -ra dirs <<< "$PATH"
for d in "${dirs[@]}"; do
  if [ -x "$d/cargo" ] || [ -x "$d/rustc" ] || [ -x "$d/rustup" ]; then continue; fi
  CLEAN_PATH="${CLEAN_PATH:+$CLEAN_PATH:}$d"
done
USER_ENV=(env -u CARGO_TARGET_DIR -u RUSTUP_HOME -u CARGO_HOME PATH="$CLEAN_PATH")
user() { "${USER_ENV[@]}" "$@"; }
if user bash -c 'command -v cargo || command -v rustc'; then
  echo "cargo is still reachable on the clean PATH" >&2
  exit 1
fi

step "the packaged switchboard binary serves, on its embedded SQLite"
tar -C "$WORK" -xzf "$DIST_DIR/switchboard-$VERSION-x86_64-linux.tar.gz"
SB="$WORK/switchboard-$VERSION/switchboard"
"$FAKE_BIN" --bind 127.0.0.1:0 > "$WORK/fake.out" & FAKE_PID=$!
wait_for "$WORK/fake.out" listening
export FAKE="http://$(sed -n 's/^listening on //p' "$WORK/fake.out")"
# Not through `user`: a function sent to the background runs in a subshell, and `$!` would be
# that subshell's pid, not the engine's (the cleanup then left the engine running). `env` execs
# the engine in its own process, so `$!` is the engine.
"${USER_ENV[@]}" "$SB" serve --bind 127.0.0.1:0 --data-dir "$WORK/data" --egress-allow 127.0.0.1 \
  > "$WORK/engine.out" 2> "$WORK/engine.log" & ENGINE_PID=$!
wait_for "$WORK/engine.out" listening
first() { head -n 1 "$WORK/engine.out" | python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
export CLIENT_ID="$(first '["first_application"]["client_id"]')"
export CLIENT_SECRET="$(first '["first_application"]["client_secret"]')"
export API="$(python3 -c 'import json,sys; print(next(json.loads(l)["listening"] for l in open(sys.argv[1]) if "listening" in l))' "$WORK/engine.out")"
echo "engine $(user "$SB" --version) at $API"

passed=0
failed=0
smoke() {
  local name="$1"; shift
  step "$name"
  if "$@"; then
    passed=$((passed + 1)); echo "ok: $name"
  else
    failed=$((failed + 1)); echo "FAILED: $name"
  fi
}

python_wheel() {
  user python3 -m venv "$WORK/venv" \
    && user "$WORK/venv/bin/python" -m pip install -q --no-index "$DIST_DIR"/switchboard_connectors-"$VERSION"-cp310-abi3-*.whl \
    && (cd "$WORK" && user "$WORK/venv/bin/python" "$ROOT/tests/dist/smoke.py")
}
python_sdist() {
  # The sdist must hold what a build needs (the crates and the facade); building it needs cargo,
  # so here it is only unpacked and checked.
  local listing
  listing="$(tar -tzf "$DIST_DIR/switchboard_connectors-$VERSION.tar.gz")" \
    && for f in pyproject.toml bindings-python/Cargo.toml core/Cargo.toml core/specs-index.json core/src/fingerprint.rs bindings-python/python/switchboard/__init__.py connectors/github.yaml; do
      grep -q "^switchboard_connectors-$VERSION/$f$" <<< "$listing" || { echo "the sdist lacks $f" >&2; return 1; }
    done
}
node_package() {
  mkdir -p "$WORK/app" && cp "$ROOT/tests/dist/smoke.mjs" "$WORK/app/" \
    && (cd "$WORK/app" && echo '{"name": "app", "private": true, "type": "module"}' > package.json \
      && user npm install --silent --no-audit --no-fund "$DIST_DIR/switchboard-connectors-$VERSION.tgz" \
      && user node smoke.mjs)
}
kotlin_jar() {
  cp -r "$ROOT/tests/dist/kotlin" "$WORK/kt" \
    && (cd "$WORK/kt" && user mvn -q -B -Dstyle.color=never -Ddist.repo="file://$DIST_DIR/maven" -Dswitchboard.version="$VERSION" compile \
      && user mvn -q -B -Dstyle.color=never -Ddist.repo="file://$DIST_DIR/maven" -Dswitchboard.version="$VERSION" \
        dependency:build-classpath -Dmdep.outputFile=cp.txt >/dev/null \
      && user java -cp "target/classes:$(cat cp.txt)" dev.switchboard.smoke.SmokeKt)
}
smoke "python: a fresh venv from the wheel" python_wheel
smoke "python: the sdist holds the sources" python_sdist
smoke "node: a scratch project from the npm tarball" node_package
smoke "kotlin: a scratch Maven project on the jar from the local repository" kotlin_jar

if grep -q "$CLIENT_SECRET" "$WORK/engine.log"; then
  echo "the client secret reached the engine's log" >&2
  failed=$((failed + 1))
fi
echo "dist: $passed passed, $failed failed"
[ "$failed" = 0 ]
