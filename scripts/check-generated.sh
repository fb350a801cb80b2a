#!/usr/bin/env bash
# Regenerates the generated Python modules (bindings-python/generate.py: the typed connectors,
# the blocking facade, the exception classes and core's data types) into a temporary directory
# and fails when they differ from the committed ones in bindings-python/python/switchboard
# (connectors/, _blocking.py, _errors.py, _data.py).
# Needs the package installed (the generator reads the specs from its native module):
# PYTHON defaults to the venv of scripts/test-python.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$HOME/.cache/switchboard-venv/bin/python}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" bindings-python/generate.py --out "$tmp" >/dev/null
pkg=bindings-python/python/switchboard
if ! diff -ru -x __pycache__ "$pkg/connectors" "$tmp/connectors" \
  || ! diff -u "$pkg/_blocking.py" "$tmp/_blocking.py" || ! diff -u "$pkg/_errors.py" "$tmp/_errors.py" \
  || ! diff -u "$pkg/_data.py" "$tmp/_data.py"; then
  echo "the generated Python modules are stale: run \`$PYTHON bindings-python/generate.py\` and commit the result" >&2
  exit 1
fi
echo "generated Python modules are up to date"
