#!/usr/bin/env bash
# Instructions per call of core's connector (`bench-rust local`: GitHub `issues list` over
# GraphQL against `bench-fake`), counted by callgrind, so a loaded machine does not skew them.
#
# Each count is the difference between two whole runs that differ only in their number of
# calls (N and 3N, after the same warm-up), divided by 2N: start-up, the registry, the warm-up
# and the exit cancel out, and every thread of the process is counted (the connection's task
# too). The fake runs natively, outside valgrind.
#
#   benches/percall.sh BENCH_RUST [BENCH_FAKE]        # 30 and 1,000 records per page
#   RECORDS="30" CALLS=100 benches/percall.sh OLD/bench-rust NEW/bench-rust ...
#
# Several BENCH_RUST binaries may be given (before/after builds); BENCH_FAKE is taken from the
# first one's directory unless $BENCH_FAKE names it. Prints one line per binary and page size.
set -euo pipefail

if [ $# -lt 1 ]; then
  sed -n '2,15p' "$0" >&2
  exit 2
fi
command -v valgrind >/dev/null || { echo "valgrind is missing (apt-get install -y valgrind)" >&2; exit 2; }
fake="${BENCH_FAKE:-$(dirname "$1")/bench-fake}"
records="${RECORDS:-30 1000}"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

for n in $records; do
  "$fake" --records "$n" >"$work/fake-$n.out" 2>&1 &
  pids+=("$!")
done
for n in $records; do
  for _ in $(seq 50); do grep -q listening "$work/fake-$n.out" && break; sleep 0.1; done
done

# Total instructions of one run of BIN against the fake serving N records, CALLS calls.
total() {
  local bin="$1" n="$2" calls="$3" url
  url="http://$(awk '/listening on/ {print $3}' "$work/fake-$n.out")"
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
    "$bin" local --base-url "$url" --calls "$calls" --warmup 10 >"$work/run.json" 2>"$work/run.err"
  grep -q "\"records\":$n," "$work/run.json" || { echo "$bin: unexpected answer: $(cat "$work/run.json")" >&2; exit 1; }
  sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$work/run.err"
}

for n in $records; do
  # About the same instructions per run at every page size.
  calls="${CALLS:-$(( n >= 1000 ? 10 : 100 ))}"
  for bin in "$@"; do
    a="$(total "$bin" "$n" "$calls")"
    b="$(total "$bin" "$n" $(( 3 * calls )))"
    echo "records=$n bin=$bin calls=$calls/$(( 3 * calls )) Ir_per_call=$(( (b - a) / (2 * calls) ))"
  done
done
