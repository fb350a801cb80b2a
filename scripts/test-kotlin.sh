#!/usr/bin/env bash
# Builds the UniFFI binding and runs its Kotlin tests on the JVM:
#   the cdylib (libswitchboard_uniffi.so) and uniffi-bindgen (the workspace's, same uniffi
#   version) with the ci profile, the Kotlin sources generated from the cdylib (library mode)
#   into bindings-uniffi/kotlin/target/generated-sources/uniffi (not committed), the engine,
#   fake-upstream and conformance-kit binaries (or set SWITCHBOARD_BIN_DIR to a directory that
#   already holds them),
#   the check that the committed Swift sources (bindings-uniffi/swift) and typed Kotlin connectors
#   (kotlin-connectors, from core's codegen model) match the library, then
#   `mvn test` (offline when ~/.m2 already has everything, else online once to fill it).
# Usage: bash scripts/test-kotlin.sh [extra mvn args, e.g. -Dtest=LocalTest]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

step() { printf '\n== %s\n' "$*"; }

if ! command -v mvn >/dev/null 2>&1 || ! command -v javac >/dev/null 2>&1; then
  step "JDK and Maven (Debian packages)"
  apt-get update -qq && apt-get install -y -qq openjdk-17-jdk-headless maven >/dev/null
fi

PROFILE_DIR="$CARGO_TARGET_DIR/ci"
PACKAGES=(-p switchboard-uniffi -p uniffi-bindgen)
if [ -z "${SWITCHBOARD_BIN_DIR:-}" ]; then
  # The engine, the fake and the conformance kit in the same cargo call: one feature set, core
  # compiled once.
  PACKAGES+=(-p switchboard-engine -p fake-upstream -p conformance-kit)
  export SWITCHBOARD_BIN_DIR="$PROFILE_DIR"
fi
step "cargo build --profile ci: the cdylib, kotlin-connectors, uniffi-bindgen (and the engine, fake-upstream and conformance-kit binaries)"
cargo build --profile ci "${PACKAGES[@]}"

KOTLIN_DIR=bindings-uniffi/kotlin
GENERATED="$KOTLIN_DIR/target/generated-sources/uniffi"
step "uniffi-bindgen: Kotlin from $PROFILE_DIR/libswitchboard_uniffi.so"
rm -rf "$GENERATED"
"$PROFILE_DIR/uniffi-bindgen" generate --no-format --library "$PROFILE_DIR/libswitchboard_uniffi.so" \
  --language kotlin --out-dir "$GENERATED"

# Swift cannot be built here (no toolchain); its generated sources are committed, so a change to
# the exported surface must regenerate them: SWITCHBOARD_UPDATE_SWIFT=1 writes them.
SWIFT_DIR=bindings-uniffi/swift
step "uniffi-bindgen: Swift sources and module map are up to date ($SWIFT_DIR)"
SWIFT_NEW="$(mktemp -d)"
"$PROFILE_DIR/uniffi-bindgen" generate --no-format --library "$PROFILE_DIR/libswitchboard_uniffi.so" \
  --language swift --out-dir "$SWIFT_NEW" >/dev/null
if [ "${SWITCHBOARD_UPDATE_SWIFT:-}" = 1 ]; then
  mkdir -p "$SWIFT_DIR" && cp "$SWIFT_NEW"/* "$SWIFT_DIR"/
elif ! diff -r "$SWIFT_NEW" "$SWIFT_DIR" >/dev/null; then
  diff -ru "$SWIFT_DIR" "$SWIFT_NEW" | head -40 || true
  echo "the generated Swift drifted from $SWIFT_DIR: run SWITCHBOARD_UPDATE_SWIFT=1 bash scripts/test-kotlin.sh" >&2
  rm -rf "$SWIFT_NEW"
  exit 1
fi
rm -rf "$SWIFT_NEW"

# The typed connectors are generated from core's codegen model and committed (so a reader sees
# them and Maven compiles them): regenerate and fail on drift; SWITCHBOARD_UPDATE_CONNECTORS=1
# writes them. SWITCHBOARD_SPECS would add connectors of the machine's own: not here.
CONNECTORS_DIR="$KOTLIN_DIR/src/main/kotlin/dev/switchboard/connectors"
step "kotlin-connectors: the typed connectors are up to date ($CONNECTORS_DIR)"
CONNECTORS_NEW="$(mktemp -d)"
env -u SWITCHBOARD_SPECS "$PROFILE_DIR/kotlin-connectors" "$CONNECTORS_NEW"
if [ "${SWITCHBOARD_UPDATE_CONNECTORS:-}" = 1 ]; then
  rm -rf "$CONNECTORS_DIR" && mkdir -p "$CONNECTORS_DIR" && cp "$CONNECTORS_NEW"/* "$CONNECTORS_DIR"/
elif ! diff -r "$CONNECTORS_NEW" "$CONNECTORS_DIR" >/dev/null; then
  diff -ru "$CONNECTORS_DIR" "$CONNECTORS_NEW" | head -40 || true
  echo "the typed connectors drifted from $CONNECTORS_DIR: run SWITCHBOARD_UPDATE_CONNECTORS=1 bash scripts/test-kotlin.sh" >&2
  rm -rf "$CONNECTORS_NEW"
  exit 1
fi
rm -rf "$CONNECTORS_NEW"

step "mvn test (JUnit on the JVM; JNA loads the library from $PROFILE_DIR)"
rm -rf "$KOTLIN_DIR/target/surefire-reports"
MVN_ARGS=(-B -q -Dstyle.color=never -f "$KOTLIN_DIR/pom.xml" "-Dnative.dir=$PROFILE_DIR" "-Dbin.dir=$SWITCHBOARD_BIN_DIR" test "$@")
LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
status=0
mvn -o "${MVN_ARGS[@]}" >"$LOG" 2>&1 || status=$?
if [ "$status" -ne 0 ] && grep -qE "offline mode|has not been downloaded|Cannot access .* in offline" "$LOG"; then
  echo "(the Maven cache lacks an artifact: resolving online once)"
  status=0
  mvn "${MVN_ARGS[@]}" >"$LOG" 2>&1 || status=$?
fi
cat "$LOG"
[ -z "$(tail -c1 "$LOG")" ] || echo # Maven may end without a newline; the summary needs its own line

# One closing line from the Surefire reports (-q hides Maven's own summary on success).
python3 - "$KOTLIN_DIR/target/surefire-reports" <<'PY'
import pathlib, re, sys
tests = failed = skipped = 0
for f in pathlib.Path(sys.argv[1]).glob("TEST-*.xml"):
    head = f.read_text(errors="replace")[:2000]
    m = lambda k: int(re.search(rf'\b{k}="(\d+)"', head)[1])
    tests += m("tests"); failed += m("failures") + m("errors"); skipped += m("skipped")
print(f"kotlin: {tests - failed - skipped} passed, {failed} failed, {skipped} skipped")
PY
exit "$status"
