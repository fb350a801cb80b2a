#!/usr/bin/env bash
# The differential test (issue 13): the reference runtime and ours run every operation of every
# spec the reference SDK ships, against a capturing server; their HTTP requests must be
# identical, except the differences listed with their reasons in
# tests/differential/expected-differences.json (explained in docs/reference-differences.md).
#
#   - The reference SDK (airbyte-agent-sdk, pinned below) is installed from PyPI into its own
#     venv under $HOME/.cache, never into the project; its spec files are read in place.
#   - Its requests are recorded once per reference version and recorder source
#     ($HOME/.cache/switchboard-reference/recording-*.json; about 3 minutes), then replayed
#     through our Python package (local mode) on every run (about a minute).
#
# Needs our package installed in the test venv (scripts/test-python.sh does that).
# With no arguments it runs twice: the reference's files, then our own specs in connectors/
# (`--builtin`, deliberate differences in tests/differential/expected-differences-builtin.json).
# Usage: bash scripts/test-differential.sh [--builtin] [--report FILE] [--only SLUG ...]
set -euo pipefail
cd "$(dirname "$0")/.."

REFERENCE_VERSION="0.1.380"
PYTHON="${PYTHON:-python3}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}"
REF_VENV="$CACHE/switchboard-reference-venv-$REFERENCE_VERSION"
OUR_PYTHON="${SWITCHBOARD_VENV:-$CACHE/switchboard-venv}/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1

if [ ! -x "$REF_VENV/bin/python" ] || ! "$REF_VENV/bin/python" -c 'import airbyte_agent_sdk' 2>/dev/null; then
  echo "installing the reference SDK (airbyte-agent-sdk==$REFERENCE_VERSION) into $REF_VENV"
  rm -rf "$REF_VENV"
  "$PYTHON" -m venv "$REF_VENV"
  "$REF_VENV/bin/python" -m pip install -q "airbyte-agent-sdk==$REFERENCE_VERSION"
fi

key="$(cat tests/differential/record.py tests/differential/capture.py | sha256sum | cut -c1-16)"
recording="$CACHE/switchboard-reference/recording-$REFERENCE_VERSION-$key.json"
if [ ! -s "$recording" ]; then
  mkdir -p "$(dirname "$recording")"
  echo "recording the reference's requests into $recording"
  AIRBYTE_TELEMETRY_MODE=disabled "$REF_VENV/bin/python" tests/differential/record.py "$recording.tmp" 2>/dev/null
  mv "$recording.tmp" "$recording"
fi

if [ "$#" -gt 0 ]; then
  exec "$OUR_PYTHON" tests/differential/replay.py "$recording" "$@"
fi
# Both runs: the reference's own files through our runtime, then our specs (connectors/) for the
# same operations, each against its listing of deliberate differences.
echo "== the reference's spec files, run by our runtime"
"$OUR_PYTHON" tests/differential/replay.py "$recording"
echo "== our own specs (connectors/), for the same operations"
"$OUR_PYTHON" tests/differential/replay.py "$recording" --builtin
echo "differential: the reference's files and our own specs both match"
