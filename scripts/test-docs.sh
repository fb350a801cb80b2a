#!/usr/bin/env bash
# Builds the documentation site and checks it:
#   mdBook (installed once into $HOME/.cache/switchboard-tools with `cargo install --locked`,
#   default features off but `search`: the site's full-text search, no `serve`/`watch`; about
#   4 minutes on 2 cores), the
#   engine and fake-upstream binaries (ci profile; or set SWITCHBOARD_BIN_DIR),
#   the book's source assembled under $HOME/.cache/switchboard-docs/stage (tests/docs/stage.py:
#   docs/, the pages they include, and the engine API reference generated from the OpenAPI
#   document a throwaway `switchboard serve` serves), `mdbook build` into
#   $HOME/.cache/switchboard-docs/book, every link of the built HTML (tests/docs/check_links.py),
#   the site's search (its index holds words of the pages, the pages have the search box),
#   and every code block of the quick starts, "Writing a connector" and "Migrating", run against
#   a real `switchboard serve` and the fake upstream (tests/docs/run_blocks.py).
# SWITCHBOARD_DOCS_REPO_URL (optional): the repository's web address; the site then links it
#   and links files of the repository there. Unset (the project has no public address yet), the
#   site names those files without linking them.
# Needs the Python package in $HOME/.cache/switchboard-venv (scripts/test-python.sh) and the
# Node package built at the repository root (scripts/test-node.sh, or `npm install`); the
# Kotlin quick start's code is QuickStartTest.kt, which scripts/test-kotlin.sh runs.
# Ends with `docs: N passed, M failed` (the build, the link check, each block that ran).
# Usage: bash scripts/test-docs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

step() { printf '\n== %s\n' "$*"; }

MDBOOK_VERSION=0.5.4
TOOLS="${SWITCHBOARD_TOOLS:-$HOME/.cache/switchboard-tools}"
DOCS_OUT="${SWITCHBOARD_DOCS_OUT:-$HOME/.cache/switchboard-docs}"
MDBOOK="$TOOLS/bin/mdbook"
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the clone
export SWITCHBOARD_VENV="${SWITCHBOARD_VENV:-$HOME/.cache/switchboard-venv}"

passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAILED: $*" >&2; }

MDBOOK_FEATURES=search
step "mdBook $MDBOOK_VERSION with $MDBOOK_FEATURES ($MDBOOK)"
# The features are recorded beside the binary: one built without them is rebuilt.
if [ "$("$MDBOOK" --version 2>/dev/null || true)" != "mdbook v$MDBOOK_VERSION" ] \
  || [ "$(cat "$TOOLS/mdbook.features" 2>/dev/null || true)" != "$MDBOOK_FEATURES" ]; then
  # Its own temporary target directory: the tool is not part of the workspace's build.
  time env -u CARGO_TARGET_DIR cargo install mdbook --locked --force --version "$MDBOOK_VERSION" \
    --no-default-features --features "$MDBOOK_FEATURES" --root "$TOOLS"
  echo "$MDBOOK_FEATURES" > "$TOOLS/mdbook.features"
fi
"$MDBOOK" --version

if ! command -v jq >/dev/null 2>&1; then
  step "jq (Debian package; the engine quick start uses it)"
  apt-get update -qq && apt-get install -y -qq jq >/dev/null
fi

if [ -z "${SWITCHBOARD_BIN_DIR:-}" ]; then
  step "cargo build --profile ci: the engine and fake-upstream binaries"
  cargo build --profile ci -p switchboard-engine -p fake-upstream
  export SWITCHBOARD_BIN_DIR="$CARGO_TARGET_DIR/ci"
fi

step "the packages the quick starts import"
"$SWITCHBOARD_VENV/bin/python" -c 'import switchboard' \
  || { echo "the Python package is not in $SWITCHBOARD_VENV: run bash scripts/test-python.sh" >&2; exit 1; }
[ -f bindings-node/dist/index.js ] && [ -f bindings-node/switchboard.node ] \
  || { echo "the Node package is not built: run npm install (or bash scripts/test-node.sh)" >&2; exit 1; }

step "assemble the book's source and generate the API reference ($DOCS_OUT/stage)"
built=0
if python3 tests/docs/stage.py "$DOCS_OUT/stage"; then
  step "mdbook build -> $DOCS_OUT/book"
  rm -rf "$DOCS_OUT/book"
  if (cd "$DOCS_OUT/stage" && "$MDBOOK" build -d "$DOCS_OUT/book"); then
    built=1
    pass
  else
    fail "mdbook build"
  fi
else
  fail "assembling the book's source"
fi

step "links of the built site"
if [ "$built" = 1 ] && python3 tests/docs/check_links.py "$DOCS_OUT/book"; then
  pass
else
  fail "link check"
fi

step "the site's full-text search"
if [ "$built" = 1 ] && python3 tests/docs/check_search.py "$DOCS_OUT/book"; then
  pass
else
  fail "search"
fi

step "code blocks of the quick starts and guides, against a real engine and the fake upstream"
PAGES=(docs/quickstart-*.md docs/writing-a-connector.md docs/migrating.md)
LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
status=0
python3 tests/docs/run_blocks.py "${PAGES[@]}" | tee "$LOG" || status=$?
summary="$(grep '^blocks: ' "$LOG" | tail -1 || true)"
if [[ "$summary" =~ ^blocks:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
  passed=$((passed + BASH_REMATCH[1]))
  failed=$((failed + BASH_REMATCH[2]))
  [ "$status" -eq 0 ] || [ "${BASH_REMATCH[2]}" -gt 0 ] || fail "the block runner exited $status"
else
  fail "the block runner ended without a summary (exit $status)"
fi

echo
echo "site: $DOCS_OUT/book/index.html"
echo "docs: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
