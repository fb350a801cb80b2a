#!/usr/bin/env bash
# Lints the deploy/ kit (no container runtime or systemd runs here, so nothing is started):
#   - deploy/Dockerfile with dockerfilelint, installed from npm into $HOME/.cache at the version
#     locked in deploy/lint/package-lock.json, plus the recipe's required parts;
#   - deploy/switchboard.service with `systemd-analyze verify` when it exists, plus the required
#     hardening directives;
#   - deploy/switchboard.toml.example with `switchboard serve --print-config` when a built
#     binary is at hand ($SWITCHBOARD_BIN, else the ci build).
# Prints one line per check and a last line `deploy: N passed, M failed`; exits 1 on a failure.
# Usage: bash scripts/lint-deploy.sh
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchboard-target}"

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAILED: $*"; }
skip() { echo "skipped: $*"; }
# `require FILE WHAT REGEX`: one check that FILE has a line matching REGEX.
require() {
  if grep -Eq -- "$3" "$1"; then ok "$(basename "$1"): $2"; else fail "$(basename "$1"): $2 (no line matching $3)"; fi
}

# --- Dockerfile ---------------------------------------------------------------------------------
LINT_DIR="$HOME/.cache/switchboard-deploy-lint"
LINTER="$LINT_DIR/node_modules/.bin/dockerfilelint"
install_linter() {
  mkdir -p "$LINT_DIR" || return 1
  # Reinstall only when the lock changed.
  if [ -x "$LINTER" ] && cmp -s deploy/lint/package-lock.json "$LINT_DIR/package-lock.json"; then
    return 0
  fi
  cp deploy/lint/package.json deploy/lint/package-lock.json "$LINT_DIR/" || return 1
  (cd "$LINT_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}
if ! command -v npm >/dev/null 2>&1; then
  fail "dockerfilelint: npm is not installed"
elif ! install_linter; then
  fail "dockerfilelint: cannot install it from npm (deploy/lint/package-lock.json)"
else
  if out="$("$LINTER" deploy/Dockerfile 2>&1)"; then
    ok "dockerfilelint deploy/Dockerfile"
  else
    echo "$out"
    fail "dockerfilelint deploy/Dockerfile"
  fi
fi
D=deploy/Dockerfile
if [ "$(grep -Ec '^FROM ' "$D")" -ge 2 ]; then ok "Dockerfile: multi-stage"; else fail "Dockerfile: multi-stage (fewer than two FROM)"; fi
require "$D" "release build of the engine" '^RUN cargo build --release .*-p switchboard-engine'
require "$D" "slim Debian runtime" '^FROM debian:[a-z]+-slim'
require "$D" "non-root user" '^USER switchboard'
require "$D" "data volume" '^VOLUME \["/var/lib/switchboard"\]'
require "$D" "exposed port" '^EXPOSE 8080'
require "$D" "health check on /healthz" '/healthz'
if grep -q '^HEALTHCHECK' "$D"; then ok "Dockerfile: HEALTHCHECK"; else fail "Dockerfile: HEALTHCHECK"; fi

# --- systemd unit -------------------------------------------------------------------------------
U=deploy/switchboard.service
require "$U" "ExecStart with the config file" '^ExecStart=/usr/local/bin/switchboard serve --config /etc/switchboard/switchboard.toml$'
for directive in 'User=switchboard' 'StateDirectory=switchboard' 'NoNewPrivileges=yes' 'ProtectSystem=strict' \
  'ProtectHome=yes' 'PrivateTmp=yes' 'ReadWritePaths=/var/lib/switchboard' 'Restart=on-failure' \
  'LoadCredential=master_key:'; do
  require "$U" "$directive" "^$directive"
done
if command -v systemd-analyze >/dev/null 2>&1; then
  # verify checks that ExecStart is executable: point it at a built binary (or /bin/true) in a
  # copy of the unit. Any line it prints (an unknown key, a bad value) is a failure.
  bin="${SWITCHBOARD_BIN:-$CARGO_TARGET_DIR/ci/switchboard}"
  [ -x "$bin" ] || bin=/bin/true
  tmp="$(mktemp -d)"
  sed "s|^ExecStart=/usr/local/bin/switchboard |ExecStart=$bin |" "$U" > "$tmp/switchboard.service"
  out="$(systemd-analyze verify "$tmp/switchboard.service" 2>&1)"
  status=$?
  rm -rf "$tmp"
  if [ $status -eq 0 ] && [ -z "$out" ]; then
    ok "systemd-analyze verify $U (ExecStart checked against $bin)"
  else
    echo "$out"
    fail "systemd-analyze verify $U"
  fi
else
  skip "systemd-analyze verify: systemd-analyze is not installed here (apt-get install systemd)"
fi

# --- example configuration ----------------------------------------------------------------------
bin="${SWITCHBOARD_BIN:-$CARGO_TARGET_DIR/ci/switchboard}"
if [ -x "$bin" ]; then
  if out="$(env -u SWITCHBOARD_CONFIG "$bin" serve --config deploy/switchboard.toml.example --print-config 2>&1)"; then
    ok "switchboard serve --config deploy/switchboard.toml.example --print-config"
  else
    echo "$out"
    fail "switchboard serve --config deploy/switchboard.toml.example --print-config"
  fi
else
  skip "example configuration: no switchboard binary at $bin (engine/tests/config.rs loads it too)"
fi

echo "deploy: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
