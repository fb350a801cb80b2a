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

step "PostgreSQL on loopback for the engine tests"
source scripts/postgres.sh
trap stop_test_postgres EXIT

step "rust tests: core runtime, connector cases, CLI, engine on SQLite and PostgreSQL"
cargo test --workspace --profile ci --no-fail-fast
