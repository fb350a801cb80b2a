#!/usr/bin/env bash
# Runs every test of the project, in every language, from one build.
# Usage: bash scripts/test.sh   (from anywhere; installs what it needs on a fresh machine)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

step() { printf '\n== %s\n' "$*"; }

step "format check"
cargo fmt --all -- --check

step "clippy (warnings are errors)"
cargo clippy --workspace --all-targets --profile ci -- -D warnings

step "rust tests: core runtime, connector cases against the fake upstreams, CLI"
cargo test --workspace --profile ci --no-fail-fast
