#!/usr/bin/env bash
# Start-up and per-execute cost of the `switchboard` binary, in instructions (callgrind), plus
# peak RSS (/usr/bin/time -v). Instruction counts, unlike wall time, do not move when other
# processes share the machine, so a before/after pair is comparable on a busy box.
#
#   benches/startup.sh                          # builds the ci profile, measures it
#   benches/startup.sh --bin /tmp/before/switchboard --fake /path/bench-fake --executes 200
#   benches/startup.sh --only describe,serve   # a subset (describe, list, serve, execute, catalog,
#                                              # python)
#   benches/startup.sh --only python --pythonpath DIR   # DIR/switchboard: the package to measure
#
# Measures:
#   describe   `switchboard connectors github` (one describe, no storage)
#   list       `switchboard connectors` (lists every built-in connector from the build-time
#              index: parses none)
#   serve-new  `switchboard serve` on a fresh data dir up to its first /healthz answer, then
#              SIGTERM (includes the first-start bootstrap: an Argon2 hash of the first secret)
#   serve      the same engine started again on that data dir (no bootstrap)
#   execute    instructions per `POST .../connectors/{id}/execute` (GitHub issues list against
#              benches' bench-fake, 30 records): after 20 warm-up calls the counters are zeroed
#              (callgrind_control -z), N calls run from one keep-alive client, then dumped
#   catalog    (only when asked) a fresh engine's first connector catalog answers: after
#              start-up the counters are zeroed, then one `GET /api/v1/integrations/definitions/
#              sources` (public) is dumped, then one `GET .../templates/sources` (application
#              token); each with the inclusive cost of `parse_spec` (0 when no spec is parsed)
#   python     (only when asked) `import switchboard; from switchboard.connectors import
#              GithubConnector` and one local `issues.list` against bench-fake, in the venv's
#              Python ($HOME/.cache/switchboard-venv, or --python), the package from --pythonpath
#              when given (e.g. a copy of the installed one with another _native.abi3.so)
# For each, callgrind's total and, where it applies, the inclusive cost of `parse_spec`.
# Needs valgrind, python3, and (without --bin) cargo.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="" FAKE="" EXECUTES=200 OUT="" ONLY="describe,list,serve,execute"
PY="$HOME/.cache/switchboard-venv/bin/python" PYPATH=""
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN="$2"; shift 2 ;;
    --fake) FAKE="$2"; shift 2 ;;
    --executes) EXECUTES="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --python) PY="$2"; shift 2 ;;
    --pythonpath) PYPATH="$2"; shift 2 ;;
    -h|--help) sed -n 2,25p "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

if [ -z "$BIN" ] || [ -z "$FAKE" ]; then
  source scripts/env.sh
  # mimalloc's C code at -O3 as in a release build (the ci profile compiles C at -O0, which
  # would charge the allocator for the profile rather than for itself).
  cargo build --profile ci --config 'profile.ci.package.libmimalloc-sys.opt-level=3' \
    -p switchboard-engine --bin switchboard -p switchboard-benches --bin bench-fake >&2
  BIN="${BIN:-$CARGO_TARGET_DIR/ci/switchboard}"
  FAKE="${FAKE:-$CARGO_TARGET_DIR/ci/bench-fake}"
fi
OUT="${OUT:-$(mktemp -d /tmp/sb-startup.XXXXXX)}"
mkdir -p "$OUT"

exec python3 - "$BIN" "$FAKE" "$EXECUTES" "$OUT" "$ONLY" "$PY" "$PYPATH" <<'PY'
import http.client, json, os, re, secrets, signal, subprocess, sys, time
from pathlib import Path

BIN, FAKE, N, OUT = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
ONLY = set(sys.argv[5].split(","))
PYTHON, PYPATH = sys.argv[6], sys.argv[7]
# A throwaway key for the throwaway data dir; never printed.
ENV = dict(os.environ, SWITCHBOARD_MASTER_KEY=secrets.token_hex(32), SWITCHBOARD_LOG="warn")
ENV.pop("SWITCHBOARD_SPECS", None)
CG = ["valgrind", "--tool=callgrind", "--dump-instr=no"]


def log(*a):
    print("[startup]", *a, file=sys.stderr, flush=True)


def total(out_file):
    """Instructions (Ir) in a callgrind output file."""
    for line in Path(out_file).read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise SystemExit(f"no totals in {out_file}")


def inclusive(out_file, symbol):
    """Inclusive Ir of the first function whose line contains `symbol` (0 if none ran)."""
    text = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(out_file)],
                          capture_output=True, text=True, check=True).stdout
    for line in text.splitlines():
        if symbol in line:
            m = re.match(r"\s*([\d,]+)", line)
            if m:
                return int(m.group(1).replace(",", ""))
    return 0


def max_rss_kb(time_output):
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", time_output)
    return int(m.group(1)) if m else 0


def read_json_line(p, key, timeout=600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            raise SystemExit(f"process ended before printing {key}")
        try:
            v = json.loads(line)
        except ValueError:
            continue
        if key in v:
            return v[key]
    raise SystemExit(f"timed out waiting for {key}")


def wait_health(url, timeout=600):
    host = url.split("//", 1)[1]
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection(host, timeout=30)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.01)
    raise SystemExit("no /healthz answer")


def serve_cmd(data_dir):
    return [BIN, "serve", "--bind", "127.0.0.1:0", "--data-dir", str(data_dir), "--egress-allow", "127.0.0.1",
            "--rate-limit", "1000000000", "--rate-burst", "1000000000"]


def children(pid):
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


results = {}

# (a) one describe, and the full listing
for name, args in [("describe", ["connectors", "github"]), ("list", ["connectors"])]:
    if name not in ONLY:
        continue
    out = OUT / f"{name}.cg"
    subprocess.run(CG + [f"--callgrind-out-file={out}", "--log-file=/dev/null", BIN, *args],
                   env=ENV, stdout=subprocess.DEVNULL, check=True)
    t = subprocess.run(["/usr/bin/time", "-v", BIN, *args], env=ENV, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, check=True)
    results[name] = {"instructions": total(out), "parse_spec": inclusive(out, "spec::load::parse_spec "),
                     "max_rss_kb": max_rss_kb(t.stderr)}
    log(name, results[name])


# (b) engine cold start to the first /healthz: a fresh data dir, then a restart on it
def serve_once(data_dir, out):
    p = subprocess.Popen(CG + [f"--callgrind-out-file={out}", "--log-file=/dev/null", *serve_cmd(data_dir)],
                         env=ENV, stdout=subprocess.PIPE, text=True)
    wait_health(read_json_line(p, "listening"))
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=600)
    return {"instructions": total(out), "parse_spec": inclusive(out, "spec::load::parse_spec ")}


def serve_rss(data_dir):
    p = subprocess.Popen(["/usr/bin/time", "-v", *serve_cmd(data_dir)], env=ENV, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    wait_health(read_json_line(p, "listening"))
    time.sleep(0.5)
    kids = children(p.pid)
    idle_kb = 0
    for k in kids:
        for line in Path(f"/proc/{k}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                idle_kb = int(line.split()[1])
        os.kill(k, signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    return max_rss_kb(err), idle_kb


if "serve" in ONLY:
    data = OUT / "data"
    results["serve-new"] = serve_once(data, OUT / "serve-new.cg")
    results["serve"] = serve_once(data, OUT / "serve.cg")
    rss_data = OUT / "data-rss"
    serve_rss(rss_data)  # first start: bootstrap
    results["serve"]["max_rss_kb"], results["serve"]["idle_rss_kb"] = serve_rss(rss_data)
    log("serve", results["serve-new"], results["serve"])

# (c) instructions per execute through a running engine (callgrind on the engine only)
def measure_executes():
    procs = []
    try:
        fake = subprocess.Popen([FAKE, "--records", "30"], stdout=subprocess.PIPE, text=True)
        procs.append(fake)
        fake_url = "http://" + fake.stdout.readline().split()[-1]
        eng = subprocess.Popen(CG + [f"--callgrind-out-file={OUT / 'execute.cg'}", "--log-file=/dev/null",
                                     *serve_cmd(OUT / "data-exec")], env=ENV, stdout=subprocess.PIPE, text=True)
        procs.append(eng)
        first = read_json_line(eng, "first_application")
        url = read_json_line(eng, "listening")
        wait_health(url)
        conn = http.client.HTTPConnection(url.split("//", 1)[1], timeout=600)

        def call(method, path, body, token=None):
            headers = {"content-type": "application/json"}
            if token:
                headers["authorization"] = f"Bearer {token}"
            conn.request(method, path, json.dumps(body), headers)
            r = conn.getresponse()
            data = r.read()
            if r.status >= 300:
                raise SystemExit(f"{method} {path}: {r.status} {data[:300]!r}")
            return json.loads(data)

        app = call("POST", "/api/v1/applications/token",
                   {"client_id": first["client_id"], "client_secret": first["client_secret"]})["access_token"]
        scoped = call("POST", "/api/v1/embedded/scoped-token", {"workspace_name": "bench"}, app)["token"]
        c = call("POST", "/api/v1/integrations/connectors", {
            "connector_type": "github", "name": "bench-gh",
            "credentials": {"personal_access_token": "ghp_bench_token_0001"},
            "replication_config": {"repositories": ["octo/hello"]},
            "config": {"base_url": fake_url},
        }, scoped)
        path = f"/api/v1/integrations/connectors/{c['id']}/execute"
        body = {"entity": "issues", "action": "list", "params": {"owner": "octo", "repo": "hello", "per_page": 30}}
        for _ in range(20):
            call("POST", path, body, scoped)
        subprocess.run(["callgrind_control", "-z", str(eng.pid)], check=True, stdout=subprocess.DEVNULL)
        for _ in range(N):
            r = call("POST", path, body, scoped)
            if len(r["result"]) != 30:
                raise SystemExit(f"expected 30 records, got {str(r)[:300]}")
        subprocess.run(["callgrind_control", "-d", "executes", str(eng.pid)], check=True, stdout=subprocess.DEVNULL)
        conn.close()
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=600)
    # The dump callgrind_control -d wrote: execute.cg.1 (execute.cg itself is the rest, at exit).
    dump = OUT / "execute.cg.1"
    return {"executes": N, "instructions": total(dump), "per_execute": total(dump) // N}


if "execute" in ONLY:
    results["execute"] = measure_executes()
    log("execute", results["execute"])

# (c2) a fresh engine's first catalog answers: definitions (public), then templates
def measure_catalog():
    eng = subprocess.Popen(CG + [f"--callgrind-out-file={OUT / 'catalog.cg'}", "--log-file=/dev/null",
                                 *serve_cmd(OUT / "data-catalog")], env=ENV, stdout=subprocess.PIPE, text=True)
    try:
        first = read_json_line(eng, "first_application")
        url = read_json_line(eng, "listening")
        wait_health(url)
        conn = http.client.HTTPConnection(url.split("//", 1)[1], timeout=600)

        def get(path, token=None):
            conn.request("GET", path, headers={"authorization": f"Bearer {token}"} if token else {})
            r = conn.getresponse()
            data = r.read()
            if r.status != 200:
                raise SystemExit(f"GET {path}: {r.status} {data[:300]!r}")
            return json.loads(data)

        conn.request("POST", "/api/v1/applications/token", json.dumps(
            {"client_id": first["client_id"], "client_secret": first["client_secret"]}),
            {"content-type": "application/json"})
        r = conn.getresponse()
        app = json.loads(r.read())["access_token"]
        out = {}
        for n, (name, path, token) in enumerate([("definitions", "/api/v1/integrations/definitions/sources", None),
                                                 ("templates", "/api/v1/integrations/templates/sources", app)], 1):
            subprocess.run(["callgrind_control", "-z", str(eng.pid)], check=True, stdout=subprocess.DEVNULL)
            body = get(path, token)
            subprocess.run(["callgrind_control", "-d", name, str(eng.pid)], check=True, stdout=subprocess.DEVNULL)
            listed = len(body.get("definitions", body.get("data", [])))
            dump = OUT / f"catalog.cg.{n}"
            out[name] = {"listed": listed, "instructions": total(dump),
                         "parse_spec": inclusive(dump, "spec::load::parse_spec ")}
        conn.close()
        return out
    finally:
        if eng.poll() is None:
            eng.send_signal(signal.SIGTERM)
            eng.wait(timeout=600)


if "catalog" in ONLY:
    results["catalog"] = measure_catalog()
    log("catalog", results["catalog"])

# (d) a binding's first call: import, one connector, one local execute
PY_ONE = """
import asyncio, sys
from switchboard.connectors import GithubConnector

async def main(base):
    gh = GithubConnector(credentials={"personal_access_token": "ghp_bench_token_0001"}, config={"base_url": base})
    res = await gh.issues.list(owner="octo", repo="hello", per_page=30)
    assert len(res.data) == 30, res

asyncio.run(main(sys.argv[1]))
"""
if "python" in ONLY:
    script = OUT / "py_one.py"
    script.write_text(PY_ONE)
    fake = subprocess.Popen([FAKE, "--records", "30"], stdout=subprocess.PIPE, text=True)
    try:
        base = "http://" + fake.stdout.readline().split()[-1]
        env = dict(ENV, PYTHONDONTWRITEBYTECODE="1")
        if PYPATH:
            env["PYTHONPATH"] = PYPATH
        out = OUT / "python.cg"
        subprocess.run(CG + [f"--callgrind-out-file={out}", "--log-file=/dev/null", PYTHON, str(script), base],
                       env=env, stdout=subprocess.DEVNULL, check=True)
        t = subprocess.run(["/usr/bin/time", "-v", PYTHON, str(script), base], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, check=True)
    finally:
        fake.send_signal(signal.SIGTERM)
        fake.wait(timeout=60)
    results["python"] = {"instructions": total(out), "parse_spec": inclusive(out, "spec::load::parse_spec "),
                         "max_rss_kb": max_rss_kb(t.stderr)}
    log("python", results["python"])

print(json.dumps({"bin": BIN, "results": results}, indent=2))
(OUT / "results.json").write_text(json.dumps(results, indent=2))
log(f"callgrind files and results.json in {OUT}")
PY
