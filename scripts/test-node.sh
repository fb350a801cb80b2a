#!/usr/bin/env bash
# Builds the Node package and runs its checks and tests:
#   `npm install` at the repository root (installs @napi-rs/cli, typescript and the test
#   libraries, then its `prepare` script builds bindings-node: napi build into
#   bindings-node/switchboard.node + ts/native.d.ts, then tsc into bindings-node/dist), with the
#   workspace's ci profile unless SWITCHBOARD_NODE_PROFILE=release (what a user's `npm install`
#   builds), in the shared CARGO_TARGET_DIR; the generated native.d.ts must equal the committed
#   one; the package as `npm pack` ships it loads in a fresh project (require and import); the
#   engine, fake-upstream and conformance-kit binaries (ci profile; or set SWITCHBOARD_BIN_DIR);
#   then `node --test` (the typed connectors and typed_usage.ts under tsc --strict are tests).
# Usage: bash scripts/test-node.sh [node --test args, e.g. bindings-node/tests/local.test.mjs]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

step() { printf '\n== %s\n' "$*"; }

export npm_config_cache="${npm_config_cache:-$HOME/.cache/npm}"
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
NODE_PROFILE="${SWITCHBOARD_NODE_PROFILE:-ci}"
export SWITCHBOARD_NODE_PROFILE="$NODE_PROFILE"
export SWITCHBOARD_EXPECT_PROFILE="$NODE_PROFILE"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

step "npm install (builds bindings-node, profile $NODE_PROFILE)"
cp bindings-node/ts/native.d.ts "$tmp/native.d.ts"
npm install
if ! diff -u "$tmp/native.d.ts" bindings-node/ts/native.d.ts; then
  echo "bindings-node/ts/native.d.ts is stale: commit the one \`npm install\` generated" >&2
  exit 1
fi

step "the packed package loads in a fresh project (CommonJS and ESM)"
npm pack --silent --pack-destination "$tmp" >/dev/null
mkdir "$tmp/app"
(cd "$tmp/app" && echo '{"name": "app", "private": true}' >package.json \
  && npm install --silent --no-save "$tmp"/switchboard-connectors-*.tgz \
  && node -e 'const s = require("switchboard-connectors"); console.log("require:", s.ERROR_CODES.length, "error codes")' \
  && node --input-type=module -e 'import { GithubConnector } from "switchboard-connectors"; console.log("import:", GithubConnector.slug)')

if [ -z "${SWITCHBOARD_BIN_DIR:-}" ]; then
  step "test binaries: switchboard (engine), fake-upstream and conformance-kit"
  cargo build --profile ci -p switchboard-engine -p fake-upstream -p conformance-kit
  export SWITCHBOARD_BIN_DIR="$CARGO_TARGET_DIR/ci"
fi

step "node --test"
if [ "$#" -eq 0 ]; then
  set -- bindings-node/tests/*.test.mjs
fi
node --test "$@"
