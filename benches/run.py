"""Runs every benchmark of issue 14 and writes the results table (benches/run.sh calls it).

Everything a comparison compares runs in one run, interleaved (A B C A B C ...), each figure is a
median over the rounds, and ratios are taken between medians of the same run. Nothing here
asserts a time: a run is only void when a target answered something other than 2xx.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

GRAPHQL_BODY = json.dumps({
    "query": (
        "query ListIssues($owner: String!, $name: String!, $first: Int!, $after: String, $states: [IssueState!]) "
        "{ repository(owner: $owner, name: $name) { issues(first: $first, after: $after, states: $states, "
        "orderBy: {field: CREATED_AT, direction: DESC}) { totalCount pageInfo { hasNextPage endCursor } "
        "nodes { id databaseId number title body state stateReason url locked createdAt updatedAt closedAt "
        "author { login } assignees(first: 10) { nodes { login } } labels(first: 10) { nodes { name color } } "
        "milestone { number title } comments { totalCount } } } } }"
    ),
    "variables": {"owner": "octo", "name": "hello", "first": 30},
})
EXECUTE_BODY = json.dumps({"entity": "issues", "action": "list", "params": {"owner": "octo", "repo": "hello", "per_page": 30}})


def log(*a: Any) -> None:
    print("[bench]", *a, file=sys.stderr, flush=True)


class Ctx:
    def __init__(self, a: argparse.Namespace) -> None:
        self.a = a
        self.tiny: bool = a.tiny
        self.bin = Path(a.bin_dir)
        self.work = Path(tempfile.mkdtemp(prefix="switchboard-bench-"))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.void: list[str] = []
        self.failed: list[str] = []
        self.results: dict[str, Any] = {}
        self.commands: dict[str, list[str]] = {}

    def note_cmd(self, section: str, cmd: list[str]) -> None:
        line = " ".join(shlex.quote(str(c)) for c in cmd)
        line = re.sub(r"http://127\.0\.0\.1:\d+", "http://127.0.0.1:PORT", line)
        if self.a.kotlin_cp:
            line = line.replace(shlex.quote(self.a.kotlin_cp), "$KOTLIN_CP")
        line = line.replace(str(self.work), "$WORK").replace(str(Path.home()), "$HOME")
        lst = self.commands.setdefault(section, [])
        if line not in lst:
            lst.append(line)

    def run_json(self, section: str, cmd: list[str], env: dict[str, str] | None = None, timeout: float = 900) -> dict[str, Any]:
        self.note_cmd(section, cmd)
        p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{p.stderr[-3000:]}")
        return json.loads(p.stdout.strip().splitlines()[-1])

    def spawn(self, cmd: list[str], env: dict[str, str] | None = None, stdout: Any = subprocess.PIPE) -> subprocess.Popen[bytes]:
        p = subprocess.Popen([str(c) for c in cmd], stdout=stdout, stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})})
        self.procs.append(p)
        return p

    def stop(self, p: subprocess.Popen[bytes]) -> None:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p in self.procs:
            self.procs.remove(p)

    def cleanup(self) -> None:
        for p in list(self.procs):
            self.stop(p)
        shutil.rmtree(self.work, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def read_line(p: subprocess.Popen[bytes], pattern: str, timeout: float = 60) -> str:
    assert p.stdout is not None
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = p.stdout.readline().decode()
        if not line:
            if p.poll() is not None:
                raise RuntimeError(f"process exited ({p.returncode}) before printing {pattern!r}")
            continue
        if re.search(pattern, line):
            return line
    raise RuntimeError(f"timed out waiting for {pattern!r}")


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def start_fake(ctx: Ctx, records: int, workers: int = 1) -> tuple[subprocess.Popen[bytes], str]:
    cmd = [ctx.bin / "bench-fake", "--records", str(records), "--workers", str(workers)]
    ctx.note_cmd("fake", cmd)
    p = ctx.spawn(cmd)
    addr = read_line(p, r"^listening on ").split()[-1]
    return p, f"http://{addr}"


# ------------------------------------------------------------------ local mode, cost per call

def impl_cmd(ctx: Ctx, impl: str, mode: str, base: str, extra: list[str]) -> list[Any]:
    a = ctx.a
    if impl == "rust":
        return [ctx.bin / "bench-rust", mode, "--base-url", base, *extra]
    if impl == "python":
        return [a.py_ours, HERE / "py_bench.py", mode, "--impl", "ours", "--base-url", base, *extra]
    if impl == "node":
        return ["node", HERE / "node_bench.mjs", mode, "--pkg", a.node_pkg, "--base-url", base, *extra]
    if impl == "reference":
        return [a.py_ref, HERE / "py_bench.py", mode, "--impl", "ref", "--base-url", base, *extra]
    if impl == "httpx":
        return [a.py_ref, HERE / "py_bench.py", mode, "--impl", "httpx", "--base-url", base, *extra]
    if impl == "kotlin":
        return ["java", f"-Djna.library.path={a.kotlin_lib}", "-cp", a.kotlin_cp, "dev.switchboard.bench.BenchKt", "--base-url", base, *extra]
    raise ValueError(impl)


LOCAL_IMPLS = ["rust", "python", "node", "kotlin", "reference", "httpx"]
REF_ENV = {"AIRBYTE_TELEMETRY_MODE": "disabled"}


def local_costs(ctx: Ctx, section: str, base: str, calls: int, warmup: int, rounds: int, impls: list[str]) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {i: [] for i in impls}
    for r in range(rounds):
        for impl in impls:
            cmd = impl_cmd(ctx, impl, "local", base, ["--calls", str(calls), "--warmup", str(warmup)])
            runs[impl].append(ctx.run_json(section, cmd, REF_ENV))
        log(f"{section}: round {r + 1}/{rounds} done")
    out: dict[str, Any] = {}
    for impl, rs in runs.items():
        out[impl] = {
            "wall_median_us": med([x["wall_median_us"] for x in rs]),
            "wall_mean_us": med([x["wall_mean_us"] for x in rs]),
            "cpu_per_call_us": med([x["cpu_per_call_us"] for x in rs]),
            "peak_rss_kb": med([x["peak_rss_kb"] for x in rs]),
            "records": rs[-1]["records"],
            "rounds": len(rs),
            "calls": calls,
        }
    return out


def bench_local(ctx: Ctx) -> None:
    calls, warmup, rounds = (20, 5, 1) if ctx.tiny else (500, 50, 3)
    fake, base = start_fake(ctx, 30)
    impls = [i for i in LOCAL_IMPLS if i != "kotlin" or ctx.a.kotlin_cp]
    ctx.results["local"] = local_costs(ctx, "local", base, calls, warmup, rounds, impls)
    ctx.stop(fake)


# ------------------------------------------------------------------ import / require time

def bench_import(ctx: Ctx) -> None:
    rounds = 2 if ctx.tiny else 10
    a = ctx.a
    cmds = {
        "python": [a.py_ours, HERE / "py_bench.py", "import", "--impl", "ours"],
        "reference": [a.py_ref, HERE / "py_bench.py", "import", "--impl", "ref"],
        "node": ["node", HERE / "node_bench.mjs", "import", "--pkg", a.node_pkg],
    }
    for cmd in cmds.values():  # one discarded run each: byte-code caches and the page cache
        ctx.run_json("import", cmd, REF_ENV)
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in cmds}
    for _ in range(rounds):
        for k, cmd in cmds.items():
            runs[k].append(ctx.run_json("import", cmd, REF_ENV))
    ctx.results["import"] = {
        k: {"package_ms": med([x["package_ms"] for x in v]), "github_connector_ms": med([x["github_connector_ms"] for x in v]), "rounds": rounds}
        for k, v in runs.items()
    }


# ------------------------------------------------------------------ concurrency

def bench_concurrency(ctx: Ctx) -> None:
    levels = [1, 10, 100, 1000]
    rounds = 1 if ctx.tiny else 2
    impls = ["python", "node", "reference"]
    fake, base = start_fake(ctx, 30)
    out: dict[str, dict[str, Any]] = {i: {} for i in impls}
    for level in levels:
        runs: dict[str, list[dict[str, Any]]] = {i: [] for i in impls}
        for _ in range(rounds):
            for impl in impls:
                if ctx.tiny:
                    # 1,000 in flight needs 1,000 calls; the reference's take long, so it stops at 100.
                    calls = max(10, level if impl != "reference" else min(level, 100))
                else:
                    calls = max(200, 2 * level) if impl == "reference" else max(1000, 3 * level)
                cmd = impl_cmd(ctx, impl, "concurrency", base, ["--inflight", str(level), "--calls", str(calls)])
                runs[impl].append(ctx.run_json("concurrency", cmd, REF_ENV))
        for impl, rs in runs.items():
            out[impl][str(level)] = {
                "calls_per_s": med([x["calls_per_s"] for x in rs]),
                "errors": sum(x["errors"] for x in rs),
                "ok": sum(x["ok"] for x in rs),
                "first_error": next((x["first_error"] for x in rs if x["first_error"]), ""),
                "peak_rss_kb": max(x["peak_rss_kb"] for x in rs),
            }
        log(f"concurrency: {level} in flight done")
    ctx.stop(fake)
    ctx.results["concurrency"] = out


# ------------------------------------------------------------------ fake upstream speed

def wrk(ctx: Ctx, section: str, url: str, script: Path, conns: int, secs: int, threads: int = 2) -> dict[str, Any]:
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{secs}s", "--latency", "-s", str(script), url]
    ctx.note_cmd(section, cmd)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=secs + 60)
    text = p.stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return {
        "rps": float(m[1]) if m else 0.0,
        "non_2xx": int(non2xx[1]) if non2xx else 0,
        "socket_errors": sum(int(x) for x in sock.groups()) if sock else 0,
    }


def wrk_script(ctx: Ctx, name: str, body: str, headers: dict[str, str]) -> Path:
    lines = ['wrk.method = "POST"', 'wrk.headers["content-type"] = "application/json"']
    lines += [f'wrk.headers["{k}"] = {json.dumps(v)}' for k, v in headers.items()]
    lines.append(f"wrk.body = {json.dumps(body)}")
    path = ctx.work / f"{name}.lua"
    path.write_text("\n".join(lines) + "\n")
    return path


def bench_fake_speed(ctx: Ctx) -> None:
    """The bench fake against the test suite's fake-upstream: why the benchmark has its own."""
    rounds, secs = (1, 1) if ctx.tiny else (3, 3)
    fake, base = start_fake(ctx, 30)
    cmd = [ctx.bin / "fake-upstream", "--bind", "127.0.0.1:0"]
    ctx.note_cmd("fake_speed", cmd)
    tf = ctx.spawn(cmd)
    tbase = "http://" + read_line(tf, r"^listening on ").split()[-1]
    script = wrk_script(ctx, "fake", GRAPHQL_BODY, {"authorization": "Bearer ghp_fake_valid_token_0001"})
    runs: dict[str, list[dict[str, Any]]] = {"bench-fake": [], "tests/fake-upstream": []}
    for _ in range(rounds):
        runs["bench-fake"].append(wrk(ctx, "fake_speed", f"{base}/graphql", script, 8, secs, 1))
        runs["tests/fake-upstream"].append(wrk(ctx, "fake_speed", f"{tbase}/github/graphql", script, 8, secs, 1))
    ctx.stop(fake)
    ctx.stop(tf)
    ctx.results["fake_speed"] = {k: {"rps": med([x["rps"] for x in v]), "non_2xx": sum(x["non_2xx"] for x in v)} for k, v in runs.items()}


# ------------------------------------------------------------------ the engine

def http_json(url: str, body: dict[str, Any], token: str | None = None) -> Any:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def start_nginx(ctx: Ctx, upstream: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    d = ctx.work / "nginx"
    d.mkdir(exist_ok=True)
    host_port = upstream.removeprefix("http://")
    conf = d / "nginx.conf"
    conf.write_text(f"""
daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  upstream fake {{ server {host_port}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    keepalive_requests 1000000;
    location / {{
      proxy_pass http://fake;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering on;
    }}
  }}
}}
""")
    cmd = ["nginx", "-e", str(d / "error.log"), "-p", str(d), "-c", str(conf)]
    ctx.note_cmd("engine", cmd)
    p = ctx.spawn(cmd, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return p, url
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nginx did not start: " + (d / "error.log").read_text()[-2000:])


def engine_cmd(ctx: Ctx, data_dir: Path, db_url: str | None) -> tuple[list[Any], dict[str, str]]:
    cmd: list[Any] = [ctx.bin / "switchboard", "serve", "--bind", "127.0.0.1:0", "--data-dir", data_dir,
                      "--egress-allow", "127.0.0.1", "--rate-limit", "1000000000", "--rate-burst", "1000000000"]
    env = {"SWITCHBOARD_LOG": "warn"}
    if db_url:
        cmd += ["--database-url", db_url]
        env["SWITCHBOARD_MASTER_KEY"] = "ab" * 32
    return cmd, env


def fresh_pg_db(ctx: Ctx) -> str:
    name = "sb_bench_" + secrets.token_hex(4)
    base = ctx.a.pg_url
    subprocess.run([ctx.a.psql, base, "-q", "-c", f"create database {name}"], check=True, capture_output=True)
    return base.rsplit("/", 1)[0] + "/" + name


def start_engine(ctx: Ctx, store: str) -> tuple[subprocess.Popen[bytes], str, dict[str, Any], float, float]:
    """A fresh engine (fresh store); returns it, its URL, its first application, and the times
    from spawn to its `listening` line and to its first /healthz answer, in ms."""
    data_dir = ctx.work / f"data-{secrets.token_hex(4)}"
    db_url = fresh_pg_db(ctx) if store == "postgres" else None
    cmd, env = engine_cmd(ctx, data_dir, db_url)
    ctx.note_cmd(f"engine_{store}", [c if not str(c).startswith("postgres://") else "postgres://...fresh-db" for c in cmd])
    t0 = time.perf_counter()
    p = ctx.spawn(cmd, env)
    first = json.loads(read_line(p, r"first_application"))["first_application"]
    url = json.loads(read_line(p, r"listening"))["listening"]
    t_listen = (time.perf_counter() - t0) * 1e3
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=5) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.002)
    t_health = (time.perf_counter() - t0) * 1e3
    return p, url, first, t_listen, t_health


def engine_setup(url: str, first: dict[str, Any], fake: str) -> tuple[str, str]:
    app = http_json(f"{url}/api/v1/applications/token", {"client_id": first["client_id"], "client_secret": first["client_secret"]})["access_token"]
    scoped = http_json(f"{url}/api/v1/embedded/scoped-token", {"workspace_name": "bench"}, app)["token"]
    conn = http_json(f"{url}/api/v1/integrations/connectors", {
        "connector_type": "github", "name": "bench-gh",
        "credentials": {"personal_access_token": "ghp_bench_token_0001"},
        "replication_config": {"repositories": ["octo/hello"]},
        "config": {"base_url": fake},
    }, scoped)
    return scoped, f"{url}/api/v1/integrations/connectors/{conn['id']}/execute"


def bench_engine(ctx: Ctx, store: str) -> None:
    section = f"engine_{store}"
    starts = 1 if ctx.tiny else 3
    lat_rounds, per_round, warm = (2, 20, 20) if ctx.tiny else (10, 300, 200)
    wrk_rounds, wrk_secs, conns = (1, 1, 32) if ctx.tiny else (3, 5, 32)
    fake, fbase = start_fake(ctx, 30)
    nginx, nbase = start_nginx(ctx, fbase)
    res: dict[str, Any] = {}

    # Cold start: a fresh store each time (migrations and the first application included).
    listen_ms: list[float] = []
    health_ms: list[float] = []
    for _ in range(starts):
        p, url, first, tl, th = start_engine(ctx, store)
        listen_ms.append(tl)
        health_ms.append(th)
        ctx.stop(p)
    res["cold_start_listen_ms"] = med(listen_ms)
    res["cold_start_healthz_ms"] = med(health_ms)

    p, url, first, _, _ = start_engine(ctx, store)
    scoped, execute = engine_setup(url, first, fbase)
    time.sleep(1)
    res["idle_rss_kb"] = rss_kb(p.pid)

    targets = ctx.work / f"targets-{store}.json"
    targets.write_text(json.dumps([
        {"name": "direct", "url": f"{fbase}/graphql", "body": GRAPHQL_BODY, "headers": {"authorization": "Bearer ghp_bench_token_0001"}},
        {"name": "nginx", "url": f"{nbase}/graphql", "body": GRAPHQL_BODY, "headers": {"authorization": "Bearer ghp_bench_token_0001"}},
        {"name": "engine", "url": execute, "body": EXECUTE_BODY, "headers": {"authorization": f"Bearer {scoped}"}},
    ]))
    lat = ctx.run_json(section, [ctx.bin / "bench-rust", "latency", "--targets", targets, "--rounds", str(lat_rounds),
                                 "--per-round", str(per_round), "--warmup", str(warm)])
    res["latency"] = lat
    log(f"{section}: latency done")

    eng_script = wrk_script(ctx, f"execute-{store}", EXECUTE_BODY, {"authorization": f"Bearer {scoped}"})
    gql_script = wrk_script(ctx, "graphql", GRAPHQL_BODY, {"authorization": "Bearer ghp_bench_token_0001"})
    runs: dict[str, list[dict[str, Any]]] = {"engine": [], "nginx": []}
    for _ in range(wrk_rounds):
        runs["engine"].append(wrk(ctx, section, execute, eng_script, conns, wrk_secs))
        runs["nginx"].append(wrk(ctx, section, f"{nbase}/graphql", gql_script, conns, wrk_secs))
    res["wrk"] = {k: {"rps": med([x["rps"] for x in v]), "non_2xx": sum(x["non_2xx"] for x in v),
                      "socket_errors": sum(x["socket_errors"] for x in v), "connections": conns, "seconds": wrk_secs, "rounds": wrk_rounds}
                  for k, v in runs.items()}
    res["rss_after_load_kb"] = rss_kb(p.pid)
    res["peak_rss_kb"] = rss_kb(p.pid, "VmHWM")
    log(f"{section}: wrk done")
    for name, r in {**lat, **{f"wrk {k}": v for k, v in res["wrk"].items()}}.items():
        if r.get("non_2xx") or r.get("errors"):
            ctx.void.append(f"{section} {name}: {r.get('non_2xx', 0)} non-2xx, {r.get('errors', 0)} errors")
    ctx.stop(p)
    ctx.stop(nginx)
    ctx.stop(fake)
    ctx.results[section] = res


# ------------------------------------------------------------------ growth

def bench_growth(ctx: Ctx) -> None:
    counts = [30, 1000] if ctx.tiny else [30, 1000, 10000]
    impls = ["rust", "python", "node", "reference"] + (["kotlin"] if ctx.a.kotlin_cp else [])
    out: dict[str, Any] = {}
    for n in counts:
        if ctx.tiny:
            calls, warmup = 2, 1
        else:
            calls, warmup = {30: (200, 20), 1000: (50, 5), 10000: (10, 2)}[n]
        fake, base = start_fake(ctx, n)
        out[str(n)] = local_costs(ctx, "growth", base, calls, warmup, 1 if ctx.tiny else 2, impls)
        ctx.stop(fake)
    ctx.results["growth"] = out


# ------------------------------------------------------------------ the report

def machine() -> dict[str, str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())[1])  # type: ignore[index]
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "core", "engine", "bindings-python", "bindings-node", "connectors"],
                           capture_output=True, text=True).stdout.strip()
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
        "python": subprocess.run([ctx_py_ours, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True).stdout.strip(),
        "node": subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip(),
    }


ctx_py_ours = sys.executable


def f(x: float, digits: int = 0) -> str:
    if x != x:  # nan
        return "n/a"
    return f"{x:,.{digits}f}"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def report(ctx: Ctx, elapsed: float) -> str:
    r = ctx.results
    m = machine()
    mode = "--tiny (smoke counts: these figures mean nothing)" if ctx.tiny else "full"
    o: list[str] = []
    w = o.append
    w("# Benchmarks\n")
    w("Generated by `bash benches/run.sh` (the harness: [benches/README.md](benches/README.md)); do not edit by hand, "
      "the profiling notes at the end come from `benches/PROFILE.md`.\n")
    w(f"- mode: {mode}; run took {elapsed / 60:.1f} min")
    w(f"- date: {m['date']}; commit {m['commit']}")
    w(f"- machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram']} RAM, Linux {m['kernel']}; Python {m['python']}, Node {m['node']}")
    w(f"- builds: {ctx.a.profile} profile ({ctx.bin})")
    w("- **A shared 2-core machine**: other sessions were building and testing while this ran, and the client, the "
      "fake upstream and the engine share the two cores. Absolute figures are noisy; the ratios, taken between "
      "medians of runs interleaved in the same run (A B C A B C ...), are what to read.")
    w("- Upstream: `bench-fake` (benches/src/bin/bench-fake.rs), GitHub `issues list` as GraphQL v4 (`POST /graphql`) "
      "and REST v3 (`GET /repos/{owner}/{repo}/issues`), answers rendered once at start, HTTP/1.1 keep-alive on loopback, one worker thread.")
    if ctx.failed:
        w("\n**Sections that failed in this run (their figures are missing):**\n")
        for e in ctx.failed:
            w("```\n" + e + "\n```")
    if ctx.void:
        w("\n**VOID RUN: some target answered non-2xx or failed:**\n")
        for v in ctx.void:
            w(f"- {v}")
    w("")

    if "fake_speed" in r:
        fs = r["fake_speed"]
        w("## 0. The fake upstream\n")
        w("Requests/s the fake serves for the `ListIssues` GraphQL call, wrk, 8 connections, one wrk thread, interleaved:\n")
        w("| fake | requests/s | non-2xx |\n| --- | ---: | ---: |")
        for k, v in fs.items():
            w(f"| {k} | {f(v['rps'])} | {v['non_2xx']} |")
        w(f"\nbench-fake serves {ratio(fs['bench-fake']['rps'], fs['tests/fake-upstream']['rps'])} what the test suite's fake does "
          "(which parses every GraphQL document and resolves it against its store, 5 issues), hence a fake of its own.\n")

    if "local" in r:
        lc = r["local"]
        rust = lc["rust"]
        w("## 1. Local mode: cost per call\n")
        w(f"GitHub `issues list` ({lc['rust']['records']} records per page), {lc['rust']['calls']} sequential calls after warm-up, "
          f"one process per client and round, {lc['rust']['rounds']} rounds interleaved; medians over rounds. "
          "Wall: median of the per-call times; CPU: process CPU time (all threads) over the timed calls / calls; "
          "peak RSS: VmHWM of the process at the end.\n")
        w("| client | wall/call (median) µs | wall/call (mean) µs | CPU/call µs | peak RSS MB | wall vs Rust | CPU vs Rust | reference wall / this | reference CPU / this |")
        w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        ref = lc.get("reference")
        for k, v in lc.items():
            w(f"| {k} | {f(v['wall_median_us'])} | {f(v['wall_mean_us'])} | {f(v['cpu_per_call_us'])} | {f(v['peak_rss_kb'] / 1024, 1)} | "
              f"{ratio(v['wall_median_us'], rust['wall_median_us'])} | {ratio(v['cpu_per_call_us'], rust['cpu_per_call_us'])} | "
              f"{ratio(ref['wall_median_us'], v['wall_median_us']) if ref else 'n/a'} | {ratio(ref['cpu_per_call_us'], v['cpu_per_call_us']) if ref else 'n/a'} |")
        w("\nTargets: Python per call at most 1/10 of the reference's CPU and wall (reference / Python at least 10x) and at most "
          "1.3x the pure-Rust client; Node and Kotlin at most 1.3x Rust; peak RSS at most 25 MB (Python). "
          "Python and Node build dicts/objects of the records; Kotlin parses `dataJson` with org.json; "
          "the JVM's CPU includes its JIT and GC threads. " +
          ("" if "kotlin" in lc else "The Kotlin package on the JVM was not measured in this run (no JDK/Maven). ") + "\n")
        if "kotlin" in lc:
            w("`$KOTLIN_CP` is `$HOME/.cache/switchboard-bench/kotlin-<profile>/classes` (benches/kotlin/src/Bench.kt compiled with the "
              "package's Kotlin sources, generated from the benchmarked cdylib) and the Maven classpath (kotlin-stdlib, JNA, coroutines, org.json).\n")
        w("```\n" + "\n".join(ctx.commands.get("local", [])) + "\n```\n")

    if "import" in r:
        im = r["import"]
        w("## 2. Import / require time\n")
        w(f"Fresh process each time, {im['python']['rounds']} rounds interleaved after one discarded run each; time measured "
          "inside the process around the import (interpreter start-up excluded).\n")
        w("| package | import the package ms | up to the GitHub connector class ms | vs reference |")
        w("| --- | ---: | ---: | ---: |")
        for k, v in im.items():
            w(f"| {k} | {f(v['package_ms'], 1)} | {f(v['github_connector_ms'], 1)} | {ratio(v['github_connector_ms'], im['reference']['github_connector_ms'])} |")
        w("\nTarget: Python import at most 50 ms. Python: `import switchboard`, then `from switchboard.connectors import GithubConnector`; "
          "reference: `import airbyte_agent_sdk`, then `from airbyte_agent_sdk.connectors.github import GithubConnector`; "
          "Node: `require('switchboard-connectors')`.\n")
        w("```\n" + "\n".join(ctx.commands.get("import", [])) + "\n```\n")

    if "concurrency" in r:
        cc = r["concurrency"]
        w("## 3. Concurrency\n")
        w("N tasks (asyncio tasks / Promises) in one process, each running `issues list` calls back to back until the "
          "total is done; calls/s over the whole run (median of rounds), errors summed.\n")
        levels = list(next(iter(cc.values())).keys())
        w("| in flight | " + " | ".join(f"{k} calls/s (errors)" for k in cc) + " | python / reference | node / reference |")
        w("| ---: |" + " ---: |" * (len(cc) + 2))
        for lv in levels:
            cells = [f"{f(cc[k][lv]['calls_per_s'])} ({cc[k][lv]['errors']})" for k in cc]
            w(f"| {lv} | " + " | ".join(cells) + f" | {ratio(cc['python'][lv]['calls_per_s'], cc['reference'][lv]['calls_per_s'])} | "
              f"{ratio(cc['node'][lv]['calls_per_s'], cc['reference'][lv]['calls_per_s'])} |")
        errs = [f"{k} at {lv}: {cc[k][lv]['first_error']}" for k in cc for lv in levels if cc[k][lv]["first_error"]]
        if errs:
            w("\nFirst error of each failing run:\n")
            for e in errs:
                w(f"- {e}")
        w("\nTarget: at least 10x the reference's throughput at every level, not falling as concurrency rises.\n")
        w("```\n" + "\n".join(ctx.commands.get("concurrency", [])) + "\n```\n")

    for store in ("sqlite", "postgres"):
        key = f"engine_{store}"
        if key not in r:
            continue
        e = r[key]
        lat = e["latency"]
        w(f"## 4. The engine on {'SQLite' if store == 'sqlite' else 'PostgreSQL'}\n")
        w("Latency: one request in flight, keep-alive, requests interleaved in rounds (direct, nginx, engine, direct, ...): "
          "`direct` is the GraphQL call straight to the fake, `nginx` the same call through an nginx reverse-proxy hop "
          "(keep-alive upstream), `engine` `POST .../connectors/{id}/execute` (a scoped token; the engine then makes the "
          "same GraphQL call to the fake and returns the records).\n")
        w("| path | requests | p50 µs | p99 µs | added p50 µs | added p99 µs | non-2xx |")
        w("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        d = lat["direct"]
        for k, v in lat.items():
            add50 = v["p50_us"] - d["p50_us"]
            add99 = v["p99_us"] - d["p99_us"]
            w(f"| {k} | {v['requests']} | {f(v['p50_us'])} | {f(v['p99_us'])} | {f(add50) if k != 'direct' else ''} | {f(add99) if k != 'direct' else ''} | {v['non_2xx'] + v['errors']} |")
        ww = e["wrk"]
        w(f"\nSustained: wrk, {ww['engine']['connections']} connections, 2 threads, {ww['engine']['seconds']} s per run, "
          f"{ww['engine']['rounds']} runs each interleaved (engine, nginx, ...), median requests/s:\n")
        w("| path | requests/s | non-2xx | socket errors |\n| --- | ---: | ---: | ---: |")
        for k, v in ww.items():
            w(f"| {k} (execute)" if k == "engine" else f"| nginx hop to the fake", )
            o[-1] += f" | {f(v['rps'])} | {v['non_2xx']} | {v['socket_errors']} |"
        w(f"\nEngine / nginx hop: {ratio(ww['engine']['rps'], ww['nginx']['rps'])} (target: at least 0.5x). "
          f"Cold start (fresh store: migrations, first application) to the `listening` line: {f(e['cold_start_listen_ms'])} ms, "
          f"to the first `/healthz` answer: {f(e['cold_start_healthz_ms'])} ms (median of starts). "
          f"RSS idle (after setup): {f(e['idle_rss_kb'] / 1024, 1)} MB; after the load: {f(e['rss_after_load_kb'] / 1024, 1)} MB; "
          f"peak: {f(e['peak_rss_kb'] / 1024, 1)} MB.\n")
        w("Targets: added p50 at most 150 µs, p99 at most 1,000 µs at one request in flight; sustained at least half the nginx hop's. "
          "Rate limits raised for the run (`--rate-limit`/`--rate-burst` 1e9).\n")
        w("```\n" + "\n".join(ctx.commands.get(key, []) + ctx.commands.get("engine", [])) + "\n```\n")

    if "growth" in r:
        g = r["growth"]
        w("## 5. Growth with the record count\n")
        w("Local mode cost per call as the page grows (the fake answers N records whatever `per_page` asks; GitHub caps "
          "pages at 100, so 1,000 and 10,000 are a stress point, not a real page). Median wall per call, µs (CPU per call):\n")
        impls = list(next(iter(g.values())).keys())
        w("| records | " + " | ".join(impls) + " | python / rust | reference / python |")
        w("| ---: |" + " ---: |" * (len(impls) + 2))
        for n, v in g.items():
            cells = [f"{f(v[i]['wall_median_us'])} ({f(v[i]['cpu_per_call_us'])})" for i in impls]
            w(f"| {n} | " + " | ".join(cells) + f" | {ratio(v['python']['wall_median_us'], v['rust']['wall_median_us'])} | "
              f"{ratio(v['reference']['wall_median_us'], v['python']['wall_median_us'])} |")
        w("\n```\n" + "\n".join(ctx.commands.get("growth", [])) + "\n```\n")

    w("## Not measured yet\n")
    if "kotlin" not in r.get("local", {}):
        w("- The Kotlin package on the JVM (cost per call).")
    w("- Kotlin: import time, concurrency and peak RSS against the others (only its cost per call is measured).")
    w("- Scale-out correctness (3 replicas on one PostgreSQL behind nginx, the OAuth single-flight and isolation checks through the balancer).")
    w("- Growth with connectors loaded (5 vs 56) and with tenants stored (10 vs 100,000 connectors); engine latency against the record count.\n")

    prof = HERE / "PROFILE.md"
    if prof.exists() and not ctx.tiny:
        w(prof.read_text())
    return "\n".join(o) + "\n"


def main() -> None:
    global ctx_py_ours
    p = argparse.ArgumentParser()
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--bin-dir", required=True)
    p.add_argument("--profile", required=True)
    p.add_argument("--py-ours", required=True)
    p.add_argument("--py-ref", required=True)
    p.add_argument("--node-pkg", required=True)
    p.add_argument("--pg-url", default="")
    p.add_argument("--kotlin-cp", default="", help="classpath of the compiled Kotlin bench; empty: no Kotlin")
    p.add_argument("--kotlin-lib", default="", help="directory of libswitchboard_uniffi.so")
    p.add_argument("--psql", default="psql")
    p.add_argument("--out", required=True)
    p.add_argument("--raw", required=True, help="where the raw results go, as JSON")
    p.add_argument("--only", default="", help="comma-separated sections: fake,local,import,concurrency,sqlite,postgres,growth")
    a = p.parse_args()
    ctx_py_ours = a.py_ours
    ctx = Ctx(a)
    only = set(filter(None, a.only.split(",")))
    t0 = time.time()
    steps = [("fake", bench_fake_speed), ("local", bench_local), ("import", bench_import), ("concurrency", bench_concurrency),
             ("sqlite", lambda c: bench_engine(c, "sqlite")), ("postgres", lambda c: bench_engine(c, "postgres")),
             ("growth", bench_growth)]
    try:
        for name, fn in steps:
            if only and name not in only:
                continue
            if name == "postgres" and not a.pg_url:
                log("postgres: no --pg-url, skipped")
                continue
            log(f"== {name}")
            t = time.time()
            try:
                fn(ctx)
            except Exception as e:  # one broken section must not lose the others' figures
                log(f"{name} FAILED: {e}")
                ctx.failed.append(f"{name}: {str(e)[-1500:]}")
            log(f"{name} took {time.time() - t:.0f}s")
    finally:
        ctx.cleanup()
    out = Path(a.out)
    out.write_text(report(ctx, time.time() - t0))
    Path(a.raw).write_text(json.dumps({"results": ctx.results, "void": ctx.void, "failed": ctx.failed, "commands": ctx.commands}, indent=1))
    log(f"wrote {out} ({time.time() - t0:.0f}s)")
    if ctx.failed:
        log("FAILED: " + "; ".join(ctx.failed))
        sys.exit(1)
    if ctx.void:
        log("VOID: " + "; ".join(ctx.void))
        sys.exit(2)


if __name__ == "__main__":
    main()
