#!/usr/bin/env bash
# The main job: builds `switchboard`, starts the engine on its embedded SQLite default and walks
# through what an agent developer does: get tokens, store an end user's credentials, run
# operations without ever seeing a secret again. There is no internet here, so the third-party
# APIs are the fake upstreams from tests/ on loopback; against the real APIs, leave out
# "config": {"base_url": ...} and the --egress-allow flag.
#
#   bash scripts/demo.sh            walk through, then keep the engine running (Ctrl-C stops it)
#   DEMO_EXIT=1 bash scripts/demo.sh   walk through and stop
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

cargo build --profile ci -p switchboard-engine -p fake-upstream
BIN="$CARGO_TARGET_DIR/ci"
WORK="$(mktemp -d)"
PORT="${SWITCHBOARD_DEMO_PORT:-8080}"
cleanup() { kill "${FAKE_PID:-}" "${ENGINE_PID:-}" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

wait_for() { for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "timed out waiting for $1" >&2; exit 1; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {}, {'d': d}))" "$1"; }
show() { python3 -m json.tool --no-ensure-ascii | head -n "${1:-30}"; }

"$BIN/fake-upstream" --bind 127.0.0.1:0 > "$WORK/fake.out" & FAKE_PID=$!
wait_for "$WORK/fake.out" listening
FAKE="http://$(sed -n 's/^listening on //p' "$WORK/fake.out")"

echo "== 1. start the engine (embedded SQLite in $WORK/data)"
"$BIN/switchboard" serve --bind "127.0.0.1:$PORT" --data-dir "$WORK/data" --egress-allow 127.0.0.1 \
  > "$WORK/engine.out" 2> "$WORK/engine.log" & ENGINE_PID=$!
wait_for "$WORK/engine.out" listening
API="http://127.0.0.1:$PORT"
CLIENT_ID=$(head -n 1 "$WORK/engine.out" | json 'd["first_application"]["client_id"]')
CLIENT_SECRET=$(head -n 1 "$WORK/engine.out" | json 'd["first_application"]["client_secret"]')
echo "engine at $API; first application client_id=$CLIENT_ID (the secret was printed once)"

echo; echo "== 2. application token (client credentials -> 15 minute token)"
APP=$(curl -sf "$API/api/v1/applications/token" -H 'content-type: application/json' \
  -d "{\"client_id\":\"$CLIENT_ID\",\"client_secret\":\"$CLIENT_SECRET\"}" | json 'd["access_token"]')
echo "got an application token (${#APP} chars)"

echo; echo "== 3. a scoped token for one end customer's workspace, 'acme'"
SCOPED=$(curl -sf "$API/api/v1/embedded/scoped-token" -H "authorization: Bearer $APP" \
  -H 'content-type: application/json' -d '{"workspace_name":"acme"}' | json 'd["token"]')

echo; echo "== 4. store acme's GitHub credentials (encrypted at rest) as a connector"
CONNECTOR=$(curl -sf "$API/api/v1/integrations/connectors" -H "authorization: Bearer $SCOPED" \
  -H 'content-type: application/json' -d "{\"connector_type\":\"github\",\"name\":\"acme-gh\",
    \"credentials\":{\"personal_access_token\":\"ghp_fake_valid_token_0001\"},
    \"replication_config\":{\"repositories\":[\"octo/hello\"]},
    \"config\":{\"base_url\":\"$FAKE/github\"}}")
echo "$CONNECTOR" | show
ID=$(echo "$CONNECTOR" | json 'd["id"]')

echo; echo "== 5. the agent executes 'issues list' with no secret in hand"
curl -sf "$API/api/v1/integrations/connectors/$ID/execute" -H "authorization: Bearer $SCOPED" \
  -H 'content-type: application/json' \
  -d '{"entity":"issues","action":"list","params":{"owner":"octo","repo":"hello","per_page":2},"select_fields":["number","title","state"]}' | show 40

echo; echo "== 6. a mistake gets a typed error an LLM can fix itself from"
curl -s "$API/api/v1/integrations/connectors/$ID/execute" -H "authorization: Bearer $SCOPED" \
  -H 'content-type: application/json' -d '{"entity":"issues","action":"list","params":{"owner":"octo"}}' | show

echo; echo "== 7. local mode: the same connector in-process with credentials you hold"
"$BIN/switchboard" exec stripe customers list --params '{"limit":2}' --select-fields id,email \
  --credentials '{"api_key":"sk_test_fake_valid_0001"}' --config "{\"base_url\":\"$FAKE/stripe\"}" | show

echo; echo "== the catalog: $("$BIN/switchboard" connectors --json | json 'len(d)') connectors built in; 'switchboard connectors github' describes one"
if [ "${DEMO_EXIT:-0}" = "1" ] || [ ! -t 0 ]; then exit 0; fi
echo; echo "The engine keeps running at $API (logs: $WORK/engine.log). Ctrl-C stops it."
wait "$ENGINE_PID"
