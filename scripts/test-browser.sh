#!/usr/bin/env bash
# The embeddable auth widget end to end in headless Chromium: tests/browser/*.test.mjs with
# `node --test`, driving Debian's chromium (/usr/bin/chromium, installed with apt-get when
# missing; playwright-core never downloads a browser) through playwright-core, with axe-core for
# the accessibility check. Both are pinned in tests/browser/package-lock.json and installed with
# `npm ci` into tests/browser/node_modules (again only when the lockfile changes).
#   Builds nothing: the `switchboard` and `fake-upstream` binaries come from SWITCHBOARD_BIN_DIR
#   (default $CARGO_TARGET_DIR/ci; `cargo build --profile ci -p switchboard-engine -p
#   fake-upstream` makes them). Screenshots go to SWITCHBOARD_ARTIFACTS (default
#   ~/.cache/switchboard-artifacts/browser); their paths are printed.
# Prints `browser: N passed, M failed` last and exits non-zero on any failure.
# Usage: bash scripts/test-browser.sh [node --test args]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

step() { printf '\n== %s\n' "$*"; }
fail() {
  echo "browser: FAILED: $*" >&2
  echo "browser: 0 passed, 1 failed"
  exit 1
}

export npm_config_cache="${npm_config_cache:-$HOME/.cache/npm}"
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
export SWITCHBOARD_BIN_DIR="${SWITCHBOARD_BIN_DIR:-$CARGO_TARGET_DIR/ci}"
export SWITCHBOARD_ARTIFACTS="${SWITCHBOARD_ARTIFACTS:-$HOME/.cache/switchboard-artifacts/browser}"
mkdir -p "$SWITCHBOARD_ARTIFACTS"

step "chromium"
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null 2>&1; then
    fail "/usr/bin/chromium is missing and this user cannot apt-get install it"
  fi
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq || fail "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null || fail "apt-get install chromium failed"
fi
/usr/bin/chromium --version 2>/dev/null | tail -1

step "playwright-core and axe-core (npm ci, tests/browser)"
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || fail "node and npm are needed (Node 20 or newer)"
STAMP=tests/browser/node_modules/.installed-lock.json
if [ ! -f "$STAMP" ] || ! cmp -s tests/browser/package-lock.json "$STAMP"; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci in tests/browser did not install"
  cp tests/browser/package-lock.json "$STAMP"
fi
node -p "'playwright-core ' + require('./tests/browser/node_modules/playwright-core/package.json').version + ', axe-core ' + require('./tests/browser/node_modules/axe-core/package.json').version"

step "test binaries ($SWITCHBOARD_BIN_DIR)"
for b in switchboard fake-upstream; do
  [ -x "$SWITCHBOARD_BIN_DIR/$b" ] || fail "$SWITCHBOARD_BIN_DIR/$b is missing: cargo build --profile ci -p switchboard-engine -p fake-upstream"
done

step "node --test tests/browser"
if [ "$#" -eq 0 ]; then
  set -- tests/browser/*.test.mjs
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
node --test --test-reporter=spec "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
passed=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$log" | tail -1)
failed=$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$log" | tail -1)
passed=${passed:-0}
failed=${failed:-0}
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1
fi
echo "browser: $passed passed, $failed failed"
exit "$status"
