#!/usr/bin/env bash
# The MCP server against a second real client, the MCP inspector's CLI (npm
# @modelcontextprotocol/inspector, `--cli` mode): installs it from the npm registry into
# $HOME/.cache/switchboard-mcp-inspector with `npm ci` from tests/mcp-inspector's lockfile
# (every transitive version pinned; reinstalled only when the lockfile changes), then runs
# tests/mcp-inspector/*.test.mjs with `node --test`. No install, no test: a failed install fails
# this script, it is never skipped.
#   The switchboard and fake-upstream binaries come from SWITCHBOARD_BIN_DIR, else they are built
#   (ci profile).
# Usage: bash scripts/test-mcp-inspector.sh [node --test args]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

step() { printf '\n== %s\n' "$*"; }

export npm_config_cache="${npm_config_cache:-$HOME/.cache/npm}"
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
DIR="${SWITCHBOARD_MCP_INSPECTOR_DIR:-$HOME/.cache/switchboard-mcp-inspector}"
CLI="$DIR/node_modules/@modelcontextprotocol/inspector/cli/build/cli.js"

step "MCP inspector CLI ($DIR)"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "mcp inspector: FAILED: node and npm are needed (Node 20 or newer)" >&2
  exit 1
fi
mkdir -p "$DIR"
if [ ! -f "$CLI" ] || ! cmp -s tests/mcp-inspector/package-lock.json "$DIR/package-lock.json"; then
  cp tests/mcp-inspector/package.json tests/mcp-inspector/package-lock.json "$DIR/"
  # The package declares Node >= 22.7.5; its CLI mode runs on Node 20 (what this machine has),
  # which npm only warns about.
  if ! (cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error); then
    rm -f "$DIR/package-lock.json"
    echo "mcp inspector: FAILED: npm ci of @modelcontextprotocol/inspector did not install (is the npm registry reachable?)" >&2
    exit 1
  fi
fi
if [ ! -f "$CLI" ]; then
  echo "mcp inspector: FAILED: $CLI is missing after the install" >&2
  exit 1
fi
echo "inspector $(node -p "require('$DIR/node_modules/@modelcontextprotocol/inspector/package.json').version") at $CLI"

if [ -z "${SWITCHBOARD_BIN_DIR:-}" ]; then
  step "test binaries: switchboard (engine) and fake-upstream"
  cargo build --profile ci -p switchboard-engine -p fake-upstream
  export SWITCHBOARD_BIN_DIR="$CARGO_TARGET_DIR/ci"
fi

step "node --test tests/mcp-inspector"
if [ "$#" -eq 0 ]; then
  set -- tests/mcp-inspector/*.test.mjs
fi
MCP_INSPECTOR="$CLI" node --test "$@"
