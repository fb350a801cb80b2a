#!/usr/bin/env bash
# The benchmark harness of issue 14, in one command (details: benches/README.md).
#
#   bash benches/run.sh            release builds (what users install), full counts; writes
#                                  BENCHMARKS.md at the repository root (about 20 minutes)
#   bash benches/run.sh --tiny     every benchmark once with tiny counts, on the ci-profile builds
#                                  and the test venv CI already has, so the harness cannot rot;
#                                  writes $BENCH_OUT (default /tmp/switchboard-bench/BENCHMARKS.tiny.md)
#   bash benches/run.sh --only local,import   some sections (fake,local,import,concurrency,sqlite,postgres,growth,
#                                  context-store); the table keeps the other sections of the last run with this
#                                  profile (from its raw results) and says which were carried over
#
# Installs what it lacks on a fresh machine: wrk and nginx (Debian packages), PostgreSQL (through
# scripts/postgres.sh, a throwaway server of its own on loopback), the reference SDK
# (airbyte-agent-sdk, pinned) in a venv under $HOME/.cache. No figure is asserted: the run fails
# only when something breaks or a target answers non-2xx (a void run).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

TINY=0
ONLY=""
while [ "$#" -gt 0 ]; do
  case "$1" in
    --tiny) TINY=1 ;;
    --only) ONLY="$2"; shift ;;
    *) echo "usage: bash benches/run.sh [--tiny] [--only sections]" >&2; exit 2 ;;
  esac
  shift
done

step() { printf '\n== %s\n' "$*" >&2; }
CACHE="${SWITCHBOARD_BENCH_CACHE:-$HOME/.cache/switchboard-bench}"
mkdir -p "$CACHE"
REF_SDK="airbyte-agent-sdk==0.1.380"

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ "${#missing[@]}" -gt 0 ]; then
  step "installing ${missing[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin"

if [ "$TINY" = 1 ]; then
  PROFILE=ci
  PROFILE_FLAG=(--profile ci)
else
  PROFILE=release
  PROFILE_FLAG=(--release)
fi
BIN="$CARGO_TARGET_DIR/$PROFILE"

step "cargo build ${PROFILE_FLAG[*]}: the engine, the bench binaries, fake-upstream, the Node module"
cargo build "${PROFILE_FLAG[@]}" -p switchboard-engine -p switchboard-benches -p fake-upstream -p switchboard-node

step "Python: our package ($PROFILE)"
export PIP_DISABLE_PIP_VERSION_CHECK=1
if [ "$TINY" = 1 ]; then
  # The test venv scripts/test-python.sh fills (ci profile); made here if missing.
  PY_OURS_VENV="${SWITCHBOARD_VENV:-$HOME/.cache/switchboard-venv}"
  if ! "$PY_OURS_VENV/bin/python" -c 'import switchboard' >/dev/null 2>&1; then
    [ -x "$PY_OURS_VENV/bin/python" ] || python3 -m venv "$PY_OURS_VENV"
    MATURIN_PEP517_ARGS="--profile ci" "$PY_OURS_VENV/bin/python" -m pip install -q .
  fi
else
  # What a user gets: `pip install .` (maturin, release profile).
  PY_OURS_VENV="$CACHE/venv-ours"
  [ -x "$PY_OURS_VENV/bin/python" ] || python3 -m venv "$PY_OURS_VENV"
  env -u MATURIN_PEP517_ARGS "$PY_OURS_VENV/bin/python" -m pip install -q --force-reinstall --no-deps .
fi

step "Python: the reference SDK ($REF_SDK) and httpx"
PY_REF_VENV="$CACHE/venv-ref"
[ -x "$PY_REF_VENV/bin/python" ] || python3 -m venv "$PY_REF_VENV"
if ! "$PY_REF_VENV/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("airbyte-agent-sdk") != "0.1.380")' 2>/dev/null; then
  "$PY_REF_VENV/bin/python" -m pip install -q "$REF_SDK" httpx
fi

step "Node: the package as npm would ship it ($PROFILE native module), assembled under $CACHE"
export npm_config_cache="${npm_config_cache:-$HOME/.cache/npm}"
if [ ! -x node_modules/.bin/tsc ]; then
  npm install --ignore-scripts --no-audit --no-fund >/dev/null
fi
NODE_PKG="$CACHE/node-$PROFILE"
rm -rf "$NODE_PKG" && mkdir -p "$NODE_PKG/bindings-node"
cp package.json "$NODE_PKG/"
cp -r bindings-node/esm "$NODE_PKG/bindings-node/"
node_modules/.bin/tsc -p bindings-node/tsconfig.json --outDir "$NODE_PKG/bindings-node/dist"
cp "$BIN/libswitchboard_node.so" "$NODE_PKG/bindings-node/switchboard.node"

KOTLIN_ARGS=()
if command -v mvn >/dev/null 2>&1 && command -v javac >/dev/null 2>&1; then
  step "Kotlin: the UniFFI cdylib ($PROFILE), its generated Kotlin, the bench compiled against it"
  # Its own cargo call: building the UniFFI crate with the engine would switch core's uniffi
  # feature on for the engine too.
  cargo build "${PROFILE_FLAG[@]}" -p switchboard-uniffi -p uniffi-bindgen
  KDIR="$CACHE/kotlin-$PROFILE"
  mkdir -p "$KDIR"
  rm -rf "$KDIR/gen.new"
  "$BIN/uniffi-bindgen" generate --no-format --library "$BIN/libswitchboard_uniffi.so" --language kotlin --out-dir "$KDIR/gen.new" >/dev/null
  # Compiling takes minutes (the generated file is large): only when an input changed.
  KHASH="$(find "$KDIR/gen.new" bindings-uniffi/kotlin/src/main/kotlin benches/kotlin -type f -print0 | sort -z | xargs -0 cat | sha256sum | cut -c1-16)"
  if [ "$(cat "$KDIR/hash" 2>/dev/null)" != "$KHASH" ] || [ ! -f "$KDIR/cp.txt" ]; then
    rm -rf "$KDIR/gen" "$KDIR/classes" && mv "$KDIR/gen.new" "$KDIR/gen"
    MVN=(-q -B -f benches/kotlin/pom.xml "-Dgen.dir=$KDIR/gen" "-Dbench.build.dir=$KDIR" compile dependency:build-classpath "-Dmdep.outputFile=$KDIR/cp.txt")
    mvn -o "${MVN[@]}" >/dev/null 2>&1 || mvn "${MVN[@]}"
    echo "$KHASH" >"$KDIR/hash"
  fi
  rm -rf "$KDIR/gen.new"
  KOTLIN_ARGS=(--kotlin-cp "$KDIR/classes:$(cat "$KDIR/cp.txt")" --kotlin-lib "$BIN")
else
  echo "no JDK/Maven: the Kotlin package is left out (scripts/test-kotlin.sh installs them)" >&2
fi

step "PostgreSQL on loopback (a server of the benchmark's own)"
export SWITCHBOARD_TEST_PG_PORT="${SWITCHBOARD_BENCH_PG_PORT:-55439}"
export SWITCHBOARD_TEST_PG_DIR="${SWITCHBOARD_BENCH_PG_DIR:-/tmp/switchboard-bench-pg}"
source scripts/postgres.sh
trap stop_test_postgres EXIT
PSQL="$(dirname "$SWITCHBOARD_TEST_PG_DUMP")/psql"

if [ "$TINY" = 1 ]; then
  OUT="${BENCH_OUT:-/tmp/switchboard-bench/BENCHMARKS.tiny.md}"
else
  OUT="${BENCH_OUT:-$PWD/BENCHMARKS.md}"
fi
mkdir -p "$(dirname "$OUT")"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

step "benchmarks ($([ "$TINY" = 1 ] && echo tiny || echo full))"
TINY_FLAG=()
[ "$TINY" = 1 ] && TINY_FLAG=(--tiny)
python3 benches/run.py "${TINY_FLAG[@]}" --profile "$PROFILE" --bin-dir "$BIN" \
  --py-ours "$PY_OURS_VENV/bin/python" --py-ref "$PY_REF_VENV/bin/python" --node-pkg "$NODE_PKG" \
  --pg-url "$SWITCHBOARD_TEST_DATABASE_URL" "${KOTLIN_ARGS[@]}" --psql "$PSQL" --out "$OUT" --raw "$CACHE/last-results-$PROFILE.json" \
  --only "$ONLY" --merge "$CACHE/last-results-$PROFILE.json"
echo "results: $OUT (raw: $CACHE/last-results-$PROFILE.json)"
