#!/usr/bin/env bash
# Builds the Python package and runs its checks and tests:
#   a venv under $HOME/.cache/switchboard-venv (reused; override with SWITCHBOARD_VENV),
#   the pinned test requirements, `pip install .` (maturin; the workspace's ci profile through
#   MATURIN_PEP517_ARGS unless SWITCHBOARD_PY_PROFILE=release; the shared CARGO_TARGET_DIR), the engine, fake-upstream and conformance-kit binaries (debug profile; or set
#   SWITCHBOARD_BIN_DIR to a directory that already holds them), the generated-code check,
#   pyright (strict) and pytest.
# Usage: bash scripts/test-python.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

step() { printf '\n== %s\n' "$*"; }

VENV="${SWITCHBOARD_VENV:-$HOME/.cache/switchboard-venv}"
PYTHON="${PYTHON:-python3}"

# A user's `pip install .` builds the release profile; tests build the faster ci profile.
PY_PROFILE="${SWITCHBOARD_PY_PROFILE:-ci}"
export MATURIN_PEP517_ARGS="--profile $PY_PROFILE"
export SWITCHBOARD_EXPECT_PROFILE="$PY_PROFILE"

step "python venv ($VENV)"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "$PYTHON is older than 3.10: set PYTHON to a newer interpreter" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$VENV/bin/python" -m pip install -q -r bindings-python/requirements-test.txt

step "pip install . into a fresh virtual environment (what a user does)"
FRESH="$(mktemp -d)"
trap 'rm -rf "$FRESH"' EXIT
"$PYTHON" -m venv "$FRESH/venv"
"$FRESH/venv/bin/python" -m pip install -q .
"$FRESH/venv/bin/python" -c 'import switchboard, switchboard.connectors, switchboard.sync; print("fresh venv imports switchboard", switchboard.__name__, len(switchboard.ERROR_CODES), "error codes")'

step "pip install . into the test venv (maturin, profile $PY_PROFILE)"
"$VENV/bin/python" -m pip install -q --force-reinstall --no-deps .

if [ -z "${SWITCHBOARD_BIN_DIR:-}" ]; then
  step "test binaries: switchboard (engine), fake-upstream and conformance-kit"
  cargo build -p switchboard-engine -p fake-upstream -p conformance-kit
  export SWITCHBOARD_BIN_DIR="$CARGO_TARGET_DIR/debug"
fi

step "generated connectors are up to date"
PYTHON="$VENV/bin/python" bash scripts/check-generated.sh

step "pyright (strict): the package and tests/typed_usage.py"
"$VENV/bin/pyright" --pythonpath "$VENV/bin/python"

step "pytest"
"$VENV/bin/python" -m pytest bindings-python/tests "$@"
