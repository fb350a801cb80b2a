#!/usr/bin/env bash
# Regenerates the typed Python connectors (bindings-python/generate.py) into a temporary
# directory and fails when they differ from the committed ones in
# bindings-python/python/switchboard/connectors.
# Needs the package installed (the generator reads the specs from its native module):
# PYTHON defaults to the venv of scripts/test-python.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$HOME/.cache/switchboard-venv/bin/python}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" bindings-python/generate.py --out "$tmp" >/dev/null
if ! diff -ru -x __pycache__ bindings-python/python/switchboard/connectors "$tmp/connectors"; then
  echo "the generated Python connectors are stale: run \`$PYTHON bindings-python/generate.py\` and commit the result" >&2
  exit 1
fi
echo "generated Python connectors are up to date"
