#!/usr/bin/env bash
# The main job: builds `switchboard`, starts the fake upstream APIs on loopback (there is no
# internet here; against the real APIs, drop --config and pass real credentials) and runs
# connector operations in local mode, the way an agent developer would.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

cargo build --profile ci -p switchboard-engine -p fake-upstream
BIN="$CARGO_TARGET_DIR/ci"

"$BIN/fake-upstream" --bind 127.0.0.1:0 > /tmp/switchboard-fake.$$ &
FAKE_PID=$!
trap 'kill $FAKE_PID 2>/dev/null || true; rm -f /tmp/switchboard-fake.$$' EXIT
for _ in $(seq 50); do grep -q listening /tmp/switchboard-fake.$$ 2>/dev/null && break; sleep 0.1; done
ADDR=$(sed -n 's/^listening on //p' /tmp/switchboard-fake.$$)
echo "fake upstream APIs on http://$ADDR"

run() { echo; echo "\$ switchboard $*"; "$BIN/switchboard" "$@"; }

run connectors
run connectors stripe | head -n 20
run exec github issues list --params '{"owner":"octo","repo":"hello","per_page":2}' \
  --credentials '{"personal_access_token":"ghp_fake_valid_token_0001"}' \
  --config "{\"base_url\":\"http://$ADDR/github\"}"
run exec stripe customers list --params '{"limit":2}' --select-fields id,email \
  --credentials '{"api_key":"sk_test_fake_valid_0001"}' \
  --config "{\"base_url\":\"http://$ADDR/stripe\"}"
echo; echo "# a typed error an agent can act on (missing param, nothing sent upstream):"
run exec stripe customers get --params '{}' \
  --credentials '{"api_key":"sk_test_fake_valid_0001"}' \
  --config "{\"base_url\":\"http://$ADDR/stripe\"}" || true
