#!/usr/bin/env bash
# Builds everything a user installs, without a Rust toolchain on their side, into dist/:
#
#   switchboard-VERSION-x86_64-linux.tar.gz   the `switchboard` binary (engine, CLI, MCP server)
#   switchboard_connectors-VERSION-cp310-abi3-<platform>.whl and .tar.gz (sdist)
#                                             the Python package (platform tag: what maturin's
#                                             manylinux check allows on this machine)
#   switchboard-connectors-VERSION.tgz         the npm package, with its prebuilt linux-x64 module
#   maven/                                    a Maven repository holding
#                                             io.github.switchboard-connectors:switchboard-connectors:VERSION,
#                                             the Kotlin jar with libswitchboard_uniffi.so inside
#                                             (linux-x86-64/, where JNA looks on the classpath)
#   SHA256SUMS
#
#   bash scripts/dist.sh                 release builds (what users install)
#   bash scripts/dist.sh --profile ci    the same artifacts from the faster ci profile (CI's
#                                        smoke test, scripts/test-dist.sh, uses these)
#   DIST_DIR=/elsewhere bash scripts/dist.sh
#
# Every package carries the one version of scripts/version.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

PROFILE=release
while [ "$#" -gt 0 ]; do
  case "$1" in
    --profile) PROFILE="$2"; shift ;;
    *) echo "usage: bash scripts/dist.sh [--profile release|ci]" >&2; exit 2 ;;
  esac
  shift
done
step() { printf '\n== %s\n' "$*"; }

VERSION="$(bash scripts/version.sh)"
DIST="${DIST_DIR:-$PWD/dist}"
OUT="$CARGO_TARGET_DIR/$PROFILE"
rm -rf "$DIST" && mkdir -p "$DIST"
export npm_config_cache="${npm_config_cache:-$HOME/.cache/npm}"
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

step "cargo build --profile $PROFILE: the switchboard binary, the UniFFI library and uniffi-bindgen"
cargo build --profile "$PROFILE" -p switchboard-engine --bin switchboard -p switchboard-uniffi -p uniffi-bindgen

step "the switchboard binary"
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
mkdir "$STAGE/switchboard-$VERSION"
cp "$OUT/switchboard" README.md CHANGELOG.md SECURITY.md "$STAGE/switchboard-$VERSION/"
tar -C "$STAGE" -czf "$DIST/switchboard-$VERSION-x86_64-linux.tar.gz" "switchboard-$VERSION"

step "the Python wheel and sdist (maturin)"
TOOLS="$HOME/.cache/switchboard-dist-venv"
if [ ! -x "$TOOLS/bin/maturin" ]; then
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/python" -m pip install -q "maturin>=1.9,<2"
fi
"$TOOLS/bin/maturin" build --profile "$PROFILE" --out "$DIST" 2>&1 | grep -v '^\s*Compiling\|^\s*Checking' || true
"$TOOLS/bin/maturin" sdist --out "$DIST" >/dev/null
ls "$DIST"/switchboard_connectors-"$VERSION"-cp310-abi3-*.whl "$DIST"/switchboard_connectors-"$VERSION".tar.gz >/dev/null

step "the npm package (napi build, profile $PROFILE)"
# `npm pack` runs the package's prepare script (the napi build) again: same profile for both.
export SWITCHBOARD_NODE_PROFILE="$PROFILE"
npm install --silent
npm pack --silent --pack-destination "$DIST" >/dev/null
ls "$DIST/switchboard-connectors-$VERSION.tgz" >/dev/null

step "the Kotlin jar with its native library, in a Maven repository"
KOTLIN_DIR=bindings-uniffi/kotlin
GENERATED="$KOTLIN_DIR/target/generated-sources/uniffi"
rm -rf "$GENERATED"
"$OUT/uniffi-bindgen" generate --no-format --library "$OUT/libswitchboard_uniffi.so" --language kotlin --out-dir "$GENERATED"
(cd "$KOTLIN_DIR" && mvn -q -B -Dstyle.color=never -Dmaven.test.skip=true -Dnative.dir="$OUT" package)
JAR="$KOTLIN_DIR/target/switchboard-connectors-$VERSION.jar"
mkdir -p "$STAGE/native/linux-x86-64"
cp "$OUT/libswitchboard_uniffi.so" "$STAGE/native/linux-x86-64/"
jar uf "$JAR" -C "$STAGE/native" linux-x86-64/libswitchboard_uniffi.so
# The published pom: the project's, without the build-time properties that point into cargo's
# target directory.
sed -e '/<native.dir>/d' -e '/<bin.dir>/d' "$KOTLIN_DIR/pom.xml" > "$STAGE/pom.xml"
mvn -q -B -Dstyle.color=never deploy:deploy-file -Dfile="$JAR" -DpomFile="$STAGE/pom.xml" -Durl="file://$DIST/maven" \
  -DrepositoryId=switchboard-dist >/dev/null

(cd "$DIST" && find . -type f ! -name SHA256SUMS | sort | xargs sha256sum > SHA256SUMS)
step "dist/ ($PROFILE profile, version $VERSION)"
(cd "$DIST" && ls -1 *.tar.gz *.whl *.tgz && find maven -name '*.jar')
