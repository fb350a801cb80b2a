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
from collections.abc import Callable
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
        self.measured: set[str] = set()
        self.carried: set[str] = set()
        self.carried_from = ""

    def note_cmd(self, section: str, cmd: list[str]) -> None:
        line = " ".join(shlex.quote(str(c)) for c in cmd)
        line = re.sub(r"http://127\.0\.0\.1:\d+", "http://127.0.0.1:PORT", line)
        if self.a.kotlin_cp:
            line = line.replace(shlex.quote(self.a.kotlin_cp), "$KOTLIN_CP")
        # The cargo target directory as its variable, wherever this run's was (the default is
        # `$HOME/.cache/switchboard-target`), so a command reads the same from any machine.
        line = line.replace(str(self.bin.parent), "$CARGO_TARGET_DIR")
        # and the repository's own files by their path in it (the commands run from its root)
        line = line.replace(str(ROOT) + "/", "")
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
    if impl == "node-js-alone":
        return ["node", HERE / "node_bench.mjs", mode, "--pkg", a.node_pkg, "--base-url", base, *extra, "--js-alone"]
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
            "warmup": warmup,
        }
    return out


def bench_local(ctx: Ctx) -> None:
    # 5,000 warm-up calls: with 50, the JVM's JIT compilers were still at work during the timed
    # calls (2.3 ms of CPU per 1 ms call); with 1,000, its C2 compiler still took a third of the
    # process's CPU over the next thousands of calls (benches/PROFILE.md, section 5). Every client
    # gets the same warm-up. Five rounds: on a shared two-core virtual machine one client's round
    # can take a third longer than its next; the median of five moves less than that of three.
    calls, warmup, rounds = (20, 5, 1) if ctx.tiny else (500, 5000, 5)
    fake, base = start_fake(ctx, 30)
    impls = [i for i in LOCAL_IMPLS if i != "kotlin" or ctx.a.kotlin_cp]
    ctx.results["local"] = local_costs(ctx, "local", base, calls, warmup, rounds, impls)
    # Each client's call in parts, interleaved round by round: for Rust, core's passes over the
    # page (the records split out, the tree, serde_json's own check of the text); for Python
    # and Node, the native call, the making of the page's objects, and the language's own floor
    # for those objects (PROFILE.md, sections 1 to 3: where the 1.3x bounds lie).
    splits: dict[str, list[dict[str, Any]]] = {impl: [] for impl in PARTS}
    for _ in range(rounds):
        for impl, runs in splits.items():
            runs.append(ctx.run_json("local", impl_cmd(ctx, impl, "parts", base, ["--calls", str(calls), "--warmup", str(warmup)])))
    for impl, runs in splits.items():
        ctx.results["local"][impl]["parts"] = {k: med([r[k] for r in runs]) for k in PARTS[impl]}
    ctx.stop(fake)


#: What `bench-rust parts`, `py_bench.py parts` and `node_bench.mjs parts` measure, by client.
PARTS = {
    "rust": ["call_us", "text_call_us", "spawned_text_call_us", "spawned_caller_cpu_us", "spawned_runtime_cpu_us",
             "refused_call_us", "spawned_refused_call_us", "walk_us", "tree_us", "serde_check_us", "page_bytes"],
    "python": ["call_us", "native_call_us", "started_us", "awaited_us", "take_us", "marshal_loads_us",
               "pickle_loads_us", "json_loads_us", "python_cpu_us", "runtime_cpu_us", "refused_call_us"],
    "node": ["call_us", "native_call_us", "take_us", "json_parse_us", "structured_clone_us", "js_cpu_us", "runtime_cpu_us",
             "other_cpu_us", "refused_call_us"],
}


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
    # Five rounds of a few seconds each: with two rounds of 1,000 calls (0.1-0.4 s) a level's
    # median moved by half between runs on this machine, more than any difference between levels.
    rounds = 1 if ctx.tiny else 5
    # "node-js-alone": V8 with no Switchboard, no I/O, the same page parsed per call (node_bench.mjs).
    impls = ["python", "node", "node-js-alone", "reference"]
    fake, base = start_fake(ctx, 30)
    out: dict[str, dict[str, Any]] = {i: {} for i in impls}
    for level in levels:
        runs: dict[str, list[dict[str, Any]]] = {i: [] for i in impls}
        for _ in range(rounds):
            for impl in impls:
                if ctx.tiny:
                    # 1,000 in flight needs 1,000 calls; the reference's take long, so it stops at 100.
                    calls = max(10, level if impl != "reference" else min(level, 100))
                    warmup = 5
                else:
                    # Twenty calls per task for ours at 1,000 in flight: a run of three per task is
                    # about half a second, mostly the ramp up and down (PROFILE.md, section 3).
                    calls = max(400, 2 * level) if impl == "reference" else max(5000, 20 * level)
                    # Untimed, at the same concurrency, the same for every client: the pool's
                    # connections opened and the JITs warm, as in a long-running service.
                    warmup = max(200, level)
                extra = ["--inflight", str(level), "--calls", str(calls), "--warmup", str(warmup)]
                cmd = impl_cmd(ctx, impl, "concurrency", base, extra)
                runs[impl].append(ctx.run_json("concurrency", cmd, REF_ENV))
        for impl, rs in runs.items():
            out[impl][str(level)] = {
                "calls_per_s": med([x["calls_per_s"] for x in rs]),
                "lowest": min(x["calls_per_s"] for x in rs),
                "highest": max(x["calls_per_s"] for x in rs),
                "rounds": len(rs),
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
    return parse_wrk(p.stdout)


def parse_wrk(text: str) -> dict[str, Any]:
    """`wrk --latency`'s report: requests/s, non-2xx answers, socket errors, and the latency
    distribution's percentiles in µs (`p50_us` ... `p99_us`)."""
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out: dict[str, Any] = {
        "rps": float(m[1]) if m else 0.0,
        "non_2xx": int(non2xx[1]) if non2xx else 0,
        "socket_errors": sum(int(x) for x in sock.groups()) if sock else 0,
    }
    scale = {"us": 1.0, "ms": 1e3, "s": 1e6}
    for pct, value, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M):
        out[f"p{pct}_us"] = round(float(value) * scale[unit])
    return out


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


def start_proxy(ctx: Ctx, upstream: str, per_core: bool = False) -> tuple[subprocess.Popen[bytes], str]:
    """bench-proxy: the engine's stack (tokio, axum/hyper, core's NetClient, mimalloc) as a bare reverse
    proxy to the fake, `/pass/...` unread and `/check/...` with the body checked as JSON; with
    `per_core`, a single-threaded runtime per core instead of one multi-thread runtime."""
    cmd = [ctx.bin / "bench-proxy", "--upstream", upstream] + (["--per-core"] if per_core else [])
    ctx.note_cmd("engine", cmd)
    p = ctx.spawn(cmd)
    addr = read_line(p, r"^listening on ").split()[-1]
    return p, f"http://{addr}"


def engine_cmd(ctx: Ctx, data_dir: Path, db_url: str | None, env_extra: dict[str, str] | None = None) -> tuple[list[Any], dict[str, str]]:
    cmd: list[Any] = [ctx.bin / "switchboard", "serve", "--bind", "127.0.0.1:0", "--data-dir", data_dir,
                      "--egress-allow", "127.0.0.1", "--rate-limit", "1000000000", "--rate-burst", "1000000000"]
    env = {"SWITCHBOARD_LOG": "warn", **(env_extra or {})}
    if db_url:
        cmd += ["--database-url", db_url]
        env["SWITCHBOARD_MASTER_KEY"] = "ab" * 32
    return cmd, env


def wait_healthy(url: str) -> None:
    """Waits until the engine at `url` answers /healthz."""
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.002)


def fresh_pg_db(ctx: Ctx, template: str = "") -> str:
    """A new database on the benchmark's server (a copy of `template`'s when given); its URL."""
    name = "sb_bench_" + secrets.token_hex(4)
    server = ctx.a.pg_url.rsplit("/", 1)[0]
    psql(ctx, ctx.a.pg_url, f"CREATE DATABASE {name}" + (f" TEMPLATE {template.rsplit('/', 1)[1]}" if template else ""))
    return f"{server}/{name}"


def start_engine(ctx: Ctx, store: str, env_extra: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str, dict[str, Any], float, float]:
    """A fresh engine (fresh store), `env_extra` added to its environment; returns it, its URL,
    its first application, and the times from spawn to its `listening` line and to its first
    /healthz answer, in ms."""
    data_dir = ctx.work / f"data-{secrets.token_hex(4)}"
    db_url = fresh_pg_db(ctx) if store == "postgres" else None
    cmd, env = engine_cmd(ctx, data_dir, db_url, env_extra)
    ctx.note_cmd(f"engine_{store}", [c if not str(c).startswith("postgres://") else "postgres://...fresh-db" for c in cmd])
    t0 = time.perf_counter()
    p = ctx.spawn(cmd, env)
    first = json.loads(read_line(p, r"first_application"))["first_application"]
    url = json.loads(read_line(p, r"listening"))["listening"]
    t_listen = (time.perf_counter() - t0) * 1e3
    wait_healthy(url)
    t_health = (time.perf_counter() - t0) * 1e3
    return p, url, first, t_listen, t_health


def engine_setup(url: str, first: dict[str, Any], fake: str, workspace: str = "bench") -> tuple[str, str]:
    app = http_json(f"{url}/api/v1/applications/token", {"client_id": first["client_id"], "client_secret": first["client_secret"]})["access_token"]
    scoped = http_json(f"{url}/api/v1/embedded/scoped-token", {"workspace_name": workspace}, app)["token"]
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
    proxy, pbase = start_proxy(ctx, fbase)
    _, cbase = start_proxy(ctx, fbase, per_core=True)
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
        {"name": "rust proxy", "url": f"{pbase}/pass/graphql", "body": GRAPHQL_BODY, "headers": {"authorization": "Bearer ghp_bench_token_0001"}},
        {"name": "rust proxy, JSON checked", "url": f"{pbase}/check/graphql", "body": GRAPHQL_BODY, "headers": {"authorization": "Bearer ghp_bench_token_0001"}},
        {"name": "rust proxy, JSON checked, a runtime per core", "url": f"{cbase}/check/graphql", "body": GRAPHQL_BODY, "headers": {"authorization": "Bearer ghp_bench_token_0001"}},
        {"name": "engine", "url": execute, "body": EXECUTE_BODY, "headers": {"authorization": f"Bearer {scoped}"}},
    ]))
    lat = ctx.run_json(section, [ctx.bin / "bench-rust", "latency", "--targets", targets, "--rounds", str(lat_rounds),
                                 "--per-round", str(per_round), "--warmup", str(warm)])
    res["latency"] = lat
    log(f"{section}: latency done")

    eng_script = wrk_script(ctx, f"execute-{store}", EXECUTE_BODY, {"authorization": f"Bearer {scoped}"})
    gql_script = wrk_script(ctx, "graphql", GRAPHQL_BODY, {"authorization": "Bearer ghp_bench_token_0001"})
    runs: dict[str, list[dict[str, Any]]] = {"engine": [], "nginx": [], "proxy": [], "proxy_check": [], "proxy_check_per_core": []}
    for _ in range(wrk_rounds):
        runs["engine"].append(wrk(ctx, section, execute, eng_script, conns, wrk_secs))
        runs["nginx"].append(wrk(ctx, section, f"{nbase}/graphql", gql_script, conns, wrk_secs))
        runs["proxy"].append(wrk(ctx, section, f"{pbase}/pass/graphql", gql_script, conns, wrk_secs))
        runs["proxy_check"].append(wrk(ctx, section, f"{pbase}/check/graphql", gql_script, conns, wrk_secs))
        runs["proxy_check_per_core"].append(wrk(ctx, section, f"{cbase}/check/graphql", gql_script, conns, wrk_secs))
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
    ctx.stop(proxy)
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
        elif ctx.a.profile == "ci":  # unoptimised builds: a tenth of the calls (10,000 records take seconds each)
            calls, warmup = {30: (50, 5), 1000: (10, 2), 10000: (3, 1)}[n]
        else:
            calls, warmup = {30: (200, 20), 1000: (50, 5), 10000: (10, 2)}[n]
        fake, base = start_fake(ctx, n)
        out[str(n)] = local_costs(ctx, "growth", base, calls, warmup, 1 if ctx.tiny else 2, impls)
        ctx.stop(fake)
    ctx.results["growth"] = out
    growth_engine_records(ctx, counts)
    growth_specs_loaded(ctx)
    growth_tenants(ctx, "sqlite")
    if ctx.a.pg_url:
        growth_tenants(ctx, "postgres")


def growth_engine_records(ctx: Ctx, counts: list[int]) -> None:
    """Engine latency (SQLite store) with 30, 1,000 and 10,000 records per page: one engine, one
    connector per page size, each against a bench-fake of that size; direct and through the
    engine, interleaved."""
    section = "growth"
    rounds, per_round, warm = (1, 3, 1) if ctx.tiny else (3, 5, 1) if ctx.a.profile == "ci" else (5, 40, 10)
    fakes = [start_fake(ctx, n) for n in counts]
    p, url, first, _, _ = start_engine(ctx, "sqlite")
    targets = []
    for n, (_, fbase) in zip(counts, fakes):
        scoped, execute = engine_setup(url, first, fbase, workspace=f"records-{n}")
        targets.append({"name": f"direct {n}", "url": f"{fbase}/graphql", "body": GRAPHQL_BODY,
                        "headers": {"authorization": "Bearer ghp_bench_token_0001"}})
        targets.append({"name": f"engine {n}", "url": execute, "body": EXECUTE_BODY, "headers": {"authorization": f"Bearer {scoped}"}})
    tfile = ctx.work / "targets-growth-records.json"
    tfile.write_text(json.dumps(targets))
    lat = ctx.run_json(section, [ctx.bin / "bench-rust", "latency", "--targets", tfile, "--rounds", str(rounds),
                                 "--per-round", str(per_round), "--warmup", str(warm)], timeout=1800)
    void_check(ctx, "growth (records)", lat)
    ctx.results["growth_engine"] = {"counts": counts, "latency": lat, "rounds": rounds, "per_round": per_round}
    ctx.stop(p)
    for fp, _ in fakes:
        ctx.stop(fp)
    log("growth: engine latency by record count done")


def growth_specs_loaded(ctx: Ctx) -> None:
    """Core's connector in local mode from a registry of 5 specs and of all 56, every spec parsed
    at load (`bench-rust local --specs DIR`), interleaved."""
    specs = sorted((ROOT / "connectors").glob("*.yaml"))
    few = [x for x in specs if x.stem == "github"] + [x for x in specs if x.stem != "github"][:4]
    dirs: dict[str, Path] = {}
    for name, chosen in (("5", few), (str(len(specs)), specs)):
        d = ctx.work / f"specs-{name}"
        d.mkdir(exist_ok=True)
        for x in chosen:
            shutil.copy(x, d / x.name)
        dirs[name] = d
    calls, warmup, rounds = (5, 2, 1) if ctx.tiny else (100, 10, 3) if ctx.a.profile == "ci" else (300, 30, 3)
    fake, base = start_fake(ctx, 30)
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in dirs}
    for _ in range(rounds):
        for k, d in dirs.items():
            runs[k].append(ctx.run_json("growth", [ctx.bin / "bench-rust", "local", "--base-url", base, "--calls", str(calls),
                                                   "--warmup", str(warmup), "--specs", d]))
    ctx.stop(fake)
    ctx.results["growth_specs"] = {
        k: {f: med([x[f] for x in rs]) for f in ("wall_median_us", "cpu_per_call_us", "peak_rss_kb", "registry_load_ms", "registry_rss_kb")}
        | {"specs_loaded": rs[-1]["specs_loaded"], "calls": calls, "rounds": rounds, "spec_names": sorted(x.name for x in dirs[k].iterdir()) if k == "5" else []}
        for k, rs in runs.items()
    }
    log("growth: specs loaded done")


def copy_rows(db: Any, table: str, template: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Inserts `rows`, each the template row with some columns replaced."""
    cols = list(template)
    db.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                   [tuple({**template, **r}[c] for c in cols) for r in rows])


def grow_store(data_dir: Path, total: int) -> int:
    """Adds connectors to an engine's SQLite store, straight in SQL, until it holds `total`: each
    in a workspace of its own, ten workspaces per organization, copies of the one real
    connector's row (its sealed credentials included: never opened, since nobody calls them)."""
    import sqlite3
    db = sqlite3.connect(data_dir / "switchboard.db")
    db.row_factory = sqlite3.Row
    tmpl = {t: dict(db.execute(f"SELECT * FROM {t} LIMIT 1").fetchone()) for t in ("organizations", "workspaces", "connectors")}
    have = db.execute("SELECT count(*) FROM connectors").fetchone()[0]
    extra = total - have
    orgs, wss, conns = [], [], []
    for i in range(extra):
        org = f"00000000-0000-4000-8000-{i // 10:012d}"
        if i % 10 == 0:
            orgs.append({"id": org, "name": f"bench-tenant-{i // 10}"})
        ws = f"00000000-0000-4000-9000-{i:012d}"
        wss.append({"id": ws, "organization_id": org, "name": f"bench-ws-{i}"})
        conns.append({"id": f"00000000-0000-4000-a000-{i:012d}", "organization_id": org, "workspace_id": ws, "name": f"bench-conn-{i}"})
    with db:
        copy_rows(db, "organizations", tmpl["organizations"], orgs)
        copy_rows(db, "workspaces", tmpl["workspaces"], wss)
        copy_rows(db, "connectors", tmpl["connectors"], conns)
    n = db.execute("SELECT count(*) FROM connectors").fetchone()[0]
    db.execute("VACUUM")
    db.close()
    return int(n)


def grow_pg_store(ctx: Ctx, db_url: str, total: int) -> int:
    """`grow_store` for a PostgreSQL store: the same rows (each copied from the real one with
    its ids and names replaced), made by `generate_series`."""
    have = int(psql(ctx, db_url, "SELECT count(*) FROM connectors"))
    extra = total - have
    # Every column is TEXT or BIGINT: jsonb_populate_record copies a row and replaces some fields.
    def copy(table: str, fields: str, count: str) -> str:
        return (f"INSERT INTO {table} SELECT (jsonb_populate_record(NULL::{table}, to_jsonb(t) || jsonb_build_object({fields}))).* "
                f"FROM (SELECT * FROM {table} LIMIT 1) t, generate_series(0, {count} - 1) i;")
    pad = "lpad(i::text, 12, '0')"
    org_of = "lpad((i / 10)::text, 12, '0')"
    psql(ctx, db_url, "BEGIN;"
         + copy("organizations", f"'id', '00000000-0000-4000-8000-' || {pad}, 'name', 'bench-tenant-' || i", f"({extra} + 9) / 10")
         + copy("workspaces", f"'id', '00000000-0000-4000-9000-' || {pad}, 'organization_id', '00000000-0000-4000-8000-' || {org_of}, "
                f"'name', 'bench-ws-' || i", str(extra))
         + copy("connectors", f"'id', '00000000-0000-4000-a000-' || {pad}, 'organization_id', '00000000-0000-4000-8000-' || {org_of}, "
                f"'workspace_id', '00000000-0000-4000-9000-' || {pad}, 'name', 'bench-conn-' || i", str(extra))
         + "COMMIT;")
    psql(ctx, db_url, "VACUUM ANALYZE")
    return int(psql(ctx, db_url, "SELECT count(*) FROM connectors"))


def psql(ctx: Ctx, db_url: str, sql: str) -> str:
    p = subprocess.run([ctx.a.psql, db_url, "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"psql failed: {p.stderr[-2000:]}")
    return p.stdout.strip()


def growth_tenants(ctx: Ctx, store: str) -> None:
    """One store set up through the engine (an organization, a workspace, a GitHub connector),
    copied twice and grown in SQL to 10 and to 100,000 connectors; an engine on each copy:
    cold start, execute and list latency (interleaved, both engines up), RSS."""
    sizes = [10, 1000] if ctx.tiny else [10, 100_000]
    rounds, per_round, warm = (1, 3, 1) if ctx.tiny else (5, 100, 30)
    fake, fbase = start_fake(ctx, 30)
    p, url, first, _, _ = start_engine(ctx, store)
    scoped, execute = engine_setup(url, first, fbase)
    args = [str(c) for c in p.args]  # type: ignore[union-attr]
    data_dir = Path(next(c for c in args if c.startswith(str(ctx.work / "data-"))))
    db_url = args[args.index("--database-url") + 1] if store == "postgres" else None
    ctx.stop(p)
    res: dict[str, Any] = {"sizes": sizes, "store": store}
    engines = []
    targets = []
    for n in sizes:
        d = ctx.work / f"tenants-{store}-{n}"
        copy_url = None
        if data_dir.exists():
            shutil.copytree(data_dir, d)
        if db_url:
            copy_url = fresh_pg_db(ctx, template=db_url)
            stored = grow_pg_store(ctx, copy_url, n)
        else:
            stored = grow_store(d, n)
        cmd, env = engine_cmd(ctx, d, copy_url)
        ctx.note_cmd("growth", [c if not str(c).startswith("postgres://") else "postgres://...grown-copy" for c in cmd])
        t0 = time.perf_counter()
        ep = ctx.spawn(cmd, env)
        eurl = json.loads(read_line(ep, r"listening"))["listening"]
        wait_healthy(eurl)
        start_ms = (time.perf_counter() - t0) * 1e3
        engines.append(ep)
        path = execute.removeprefix(url)
        targets.append({"name": f"execute {n}", "url": eurl + path, "body": EXECUTE_BODY, "headers": {"authorization": f"Bearer {scoped}"}})
        targets.append({"name": f"list {n}", "url": eurl + "/api/v1/integrations/connectors", "method": "GET", "body": "",
                        "headers": {"authorization": f"Bearer {scoped}"}})
        res[str(n)] = {"stored": stored, "start_to_healthz_ms": start_ms}
    tfile = ctx.work / f"targets-growth-tenants-{store}.json"
    tfile.write_text(json.dumps(targets))
    lat = ctx.run_json("growth", [ctx.bin / "bench-rust", "latency", "--targets", tfile, "--rounds", str(rounds),
                                  "--per-round", str(per_round), "--warmup", str(warm)], timeout=1800)
    void_check(ctx, f"growth (tenants, {store})", lat)
    for n, ep in zip(sizes, engines):
        res[str(n)]["rss_kb"] = rss_kb(ep.pid)
        ctx.stop(ep)
    res["latency"] = lat
    res["rounds"], res["per_round"] = rounds, per_round
    ctx.stop(fake)
    ctx.results["growth_tenants" if store == "sqlite" else f"growth_tenants_{store}"] = res
    log(f"growth: tenants stored ({store}) done")


def void_check(ctx: Ctx, section: str, lat: dict[str, Any]) -> None:
    for name, r in lat.items():
        if r.get("non_2xx") or r.get("errors"):
            ctx.void.append(f"{section} {name}: {r.get('non_2xx', 0)} non-2xx, {r.get('errors', 0)} errors")


# ------------------------------------------------------------------ the context store

SEARCHES = {
    "eq on id (primary key)": {"query": {"filter": {"eq": {"id": "cus_{mid}"}}}, "limit": 20},
    "eq + range, sorted": {"query": {"filter": {"eq": {"currency": "eur"}, "gte": {"balance": 0}}, "sort": [{"created": "desc"}]}, "limit": 20},
    "contains on email": {"query": {"filter": {"contains": {"email": "globex"}}}, "limit": 20},
    "fuzzy on name": {"query": {"filter": {"fuzzy": {"name": "teodora smyth"}}}, "limit": 20},
    "nested eq (shipping.address.city)": {"query": {"filter": {"eq": {"shipping.address.city": "Tokyo"}}}, "limit": 20},
}


def bench_context_store(ctx: Ctx) -> None:
    """A full sync of a Stripe customers entity through a real engine (SQLite store) from
    benches/stripe_fake.py, then context_store_search latency for a few filter shapes."""
    n = 1000 if ctx.tiny else 100_000
    rounds, per_round, warm = (1, 2, 1) if ctx.tiny else (3, 4, 1) if ctx.a.profile == "ci" else (5, 6, 2)
    cmd = [sys.executable, HERE / "stripe_fake.py", "--records", str(n)]
    ctx.note_cmd("context_store", cmd)
    t = time.perf_counter()
    fake = ctx.spawn(cmd)
    fbase = "http://" + read_line(fake, r"^listening on ", timeout=600).split()[-1]
    log(f"context-store: fake with {n} records ready in {time.perf_counter() - t:.1f}s")
    p, url, first, _, _ = start_engine(ctx, "sqlite")
    app = http_json(f"{url}/api/v1/applications/token", {"client_id": first["client_id"], "client_secret": first["client_secret"]})["access_token"]
    scoped = http_json(f"{url}/api/v1/embedded/scoped-token", {"workspace_name": "bench"}, app)["token"]
    conn = http_json(f"{url}/api/v1/integrations/connectors", {
        "connector_type": "stripe", "name": "bench-stripe", "credentials": {"api_key": "sk_test_bench_context_store"},
        "config": {"base_url": fbase}}, scoped)
    cid = conn["id"]
    t0 = time.perf_counter()
    started = http_json(f"{url}/api/v1/integrations/connectors/{cid}/context-store/sync", {"entities": ["customers"]}, scoped)
    status: dict[str, Any] = {}
    while True:
        req = urllib.request.Request(f"{url}/api/v1/integrations/connectors/{cid}/context-store/status",
                                     headers={"authorization": f"Bearer {scoped}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            status = json.loads(r.read())["entities"][0]
        if status["status"] != "running":
            break
        time.sleep(0.05)
    secs = time.perf_counter() - t0
    if status["status"] != "succeeded" or status.get("record_count") != n:
        raise RuntimeError(f"context-store sync did not store {n} records: {json.dumps(status)[:500]} (start: {started})")
    res: dict[str, Any] = {"records": n, "sync_seconds": secs, "records_per_s": n / secs, "pages": status.get("pages"),
                           "rss_after_sync_kb": rss_kb(p.pid)}
    log(f"context-store: synced {n} records in {secs:.1f}s")
    execute = f"{url}/api/v1/integrations/connectors/{cid}/execute"
    mid = f"{n // 2:06d}"
    # Each shape answers something (a search that matches nothing would measure nothing).
    for name, params in SEARCHES.items():
        body = json.loads(json.dumps(params).replace("{mid}", mid))
        ans = http_json(execute, {"entity": "customers", "action": "context_store_search", "params": body}, scoped)
        got = ans["result"]["data"]
        if not got or (name.startswith("eq on id") and [r["id"] for r in got] != [f"cus_{mid}"]):
            raise RuntimeError(f"context_store_search {name!r} answered {json.dumps(ans)[:300]}")
    targets = [{"name": name, "url": execute, "headers": {"authorization": f"Bearer {scoped}"},
                "body": json.dumps({"entity": "customers", "action": "context_store_search",
                                    "params": json.loads(json.dumps(params).replace("{mid}", mid))})}
               for name, params in SEARCHES.items()]
    tfile = ctx.work / "targets-context-store.json"
    tfile.write_text(json.dumps(targets))
    lat = ctx.run_json("context_store", [ctx.bin / "bench-rust", "latency", "--targets", tfile, "--rounds", str(rounds),
                                         "--per-round", str(per_round), "--warmup", str(warm)], timeout=1800)
    void_check(ctx, "context-store", lat)
    res["search"] = lat
    res["search_bodies"] = {t["name"]: json.loads(t["body"])["params"] for t in targets}
    res["rounds"], res["per_round"] = rounds, per_round
    ctx.stop(p)
    ctx.stop(fake)
    ctx.results["context_store"] = res


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


def from_best(by_level: dict[str, dict[str, Any]]) -> tuple[str, float, float]:
    """A client's concurrency levels: its best level, its calls/s there, and the change (%) from
    there to the last (highest) level."""
    best = max(by_level, key=lambda lv: by_level[lv]["calls_per_s"])
    last = by_level[list(by_level)[-1]]["calls_per_s"]
    return best, by_level[best]["calls_per_s"], (last / by_level[best]["calls_per_s"] - 1) * 100


def targets_table(w: Callable[[str], None], r: dict[str, Any]) -> None:
    """Each target of issue 14 against this run's figure: met or not, and where PROFILE.md says
    what bounds it. Only the sections this table holds are listed."""
    rows: list[tuple[str, str, str, bool]] = []  # target, figure, where the bound is written, met

    def add(target: str, figure: str, where: str, met: bool) -> None:
        rows.append((target, figure, where, met))

    if "local" in r:
        lc = r["local"]
        rust = lc["rust"]
        for k in ("python", "node", "kotlin"):
            if k in lc:
                wr, cr = lc[k]["wall_median_us"] / rust["wall_median_us"], lc[k]["cpu_per_call_us"] / rust["cpu_per_call_us"]
                add(f"{k.capitalize()} per call at most 1.3x the Rust client (wall, CPU)", f"{wr:.2f}x, {cr:.2f}x",
                    {"python": "2", "node": "3", "kotlin": "5"}[k], wr <= 1.3 and cr <= 1.3)
        if "reference" in lc and "python" in lc:
            ref, py = lc["reference"], lc["python"]
            wr, cr = ref["wall_median_us"] / py["wall_median_us"], ref["cpu_per_call_us"] / py["cpu_per_call_us"]
            add("reference / Python per call at least 10x (wall, CPU)", f"{wr:.1f}x, {cr:.1f}x", "2", wr >= 10 and cr >= 10)
        if "python" in lc:
            mb = lc["python"]["peak_rss_kb"] / 1024
            add("Python peak RSS at most 25 MB", f"{mb:.1f} MB", "2", mb <= 25)
    if "import" in r and "python" in r["import"]:
        ms = r["import"]["python"]["github_connector_ms"]
        add("Python import at most 50 ms", f"{ms:.1f} ms", "", ms <= 50)
    if "concurrency" in r and "reference" in r["concurrency"]:
        cc = r["concurrency"]
        levels = list(cc["reference"].keys())
        for k in ("python", "node"):
            if k not in cc:
                continue
            worst = min(cc[k][lv]["calls_per_s"] / cc["reference"][lv]["calls_per_s"] for lv in levels)
            where = "2" if k == "python" else "3"
            add(f"{k.capitalize()} concurrency at least 10x the reference at every level (lowest ratio)", f"{worst:.1f}x", where,
                worst >= 10)
            change = from_best(cc[k])[2]
            add(f"{k.capitalize()} concurrency not falling (best level to {int(levels[-1]):,} in flight)",
                f"{change:+.0f}%", where, change >= 0)
    for key, name in (("engine_sqlite", "SQLite"), ("engine_postgres", "PostgreSQL")):
        if key not in r:
            continue
        lat, ww = r[key]["latency"], r[key]["wrk"]
        add50 = lat["engine"]["p50_us"] - lat["direct"]["p50_us"]
        add99 = lat["engine"]["p99_us"] - lat["direct"]["p99_us"]
        add(f"engine on {name}: added p50 at most 150 µs", f"{add50:,.0f} µs", "4", add50 <= 150)
        add(f"engine on {name}: added p99 at most 1,000 µs", f"{add99:,.0f} µs", "4", add99 <= 1000)
        er = ww["engine"]["rps"] / ww["nginx"]["rps"]
        add(f"engine on {name}: executes/s at least 0.5x the nginx hop's", f"{er:.2f}x", "4", er >= 0.5)
    if not rows:
        return
    w("## Targets in this run\n")
    w("Each target against this run's figure. A single run on this machine is not a verdict: the same builds "
      "have measured on either side of several of these bounds in runs an hour apart (the ratios of earlier runs "
      "are in the headers of the profile sections at the end of this file; what bounds each target not met is "
      "summed up at their start, with the measurements, and told at length in its section).\n")
    w("| target | this run | met | what bounds it |\n| --- | ---: | --- | --- |")
    for target, figure, where, met in rows:
        bound = f"[Profiles: in short](#what-bounds-each-target-not-met-in-short); section {where}"
        w(f"| {target} | {figure} | {'yes' if met else '**no**'} | {bound if where and not met else ''} |")
    w("")


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
    w(f"- builds: {ctx.a.profile} profile (`$CARGO_TARGET_DIR/{ctx.bin.name}` in the commands: the cargo target directory, "
      "`$HOME/.cache/switchboard-target` unless set; the commands run from the repository's root)" + (
        " (the `ci` profile is unoptimised, opt-level 0 for the project's crates: absolute figures are far above a "
        "release build's; read the ratios within a table)" if ctx.a.profile == "ci" and not ctx.tiny else ""))
    if ctx.carried:
        w(f"- **Sections measured in this run** (`--only {ctx.a.only}`): {', '.join(sorted(ctx.measured))}. Carried over unchanged "
          f"from the earlier run ({ctx.carried_from}): {', '.join(sorted(ctx.carried))}; the machine line above is this run's.")
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
    targets_table(w, r)

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
        w(f"GitHub `issues list` ({lc['rust']['records']} records per page), {lc['rust']['calls']} sequential calls after "
          f"{lc['rust'].get('warmup', 'some')} of warm-up, "
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
          "Python and Node build dicts/objects of the records; Kotlin parses `dataJson` with Jackson (`readTree`); "
          "the JVM's CPU includes its JIT and GC threads. " +
          ("" if "kotlin" in lc else "The Kotlin package on the JVM was not measured in this run (no JDK/Maven). ") + "\n")
        rp = rust.get("parts")
        if rp:
            w(f"The Rust client's call beside the bindings' call from Rust (`bench-rust parts`, medians of the rounds), and core's "
              f"passes over the page those calls read (the {f(rp['page_bytes'] / 1024, 1)} KB page fetched from the fake once, "
              "each pass timed apart): the one pass that checks the text and splits out the "
              "records as their own text (`split_records`: the engine's and every binding's path), the parse into a tree "
              "(`parse_json`: the Rust client's path), and serde_json's own check of the same text (`IgnoredAny`, nothing kept: "
              "what reading it at all costs).\n")
            w("| call µs | the bindings' call (`execute_text`) µs | the same, spawned onto the runtime µs | split_records µs | "
              "parse_json µs | serde_json check µs |")
            w("| ---: | ---: | ---: | ---: | ---: | ---: |")
            w(f"| {f(rp['call_us'])} | {f(rp['text_call_us'])} | {f(rp['spawned_text_call_us'])} | {f(rp['walk_us'], 1)} | "
              f"{f(rp['tree_us'], 1)} | {f(rp['serde_check_us'], 1)} |\n")
            w("The bindings' call is the same call from Rust as the Python, Node and Kotlin modules make it (the exchange, the "
              "records split out as their text, no tree); spawned, it also hops from the calling thread onto the runtime's worker "
              "and back, as a binding's call does. What each binding's native call below adds to that is its language's side "
              "of the hand-off.\n")
        pp = lc.get("python", {}).get("parts")
        if pp:
            floor = pp["native_call_us"] + pp["marshal_loads_us"]
            w("Python's call in two (`py_bench.py parts`, the same calls, medians of the rounds): the native call up to its result "
              "(core, the exchange, the hand-off to the event loop) and `take` (the page's Python objects); beside them what "
              "CPython needs to make the same records from a binary form (`marshal.loads`, `pickle.loads`, nothing to parse) and "
              "from their JSON text (`json.loads`).\n")
            w("| call µs | native call µs | take µs | marshal.loads µs | pickle.loads µs | json.loads µs | native call + marshal.loads vs Rust |")
            w("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
            w(f"| {f(pp['call_us'])} | {f(pp['native_call_us'])} | {f(pp['take_us'])} | {f(pp['marshal_loads_us'])} | "
              f"{f(pp['pickle_loads_us'])} | {f(pp['json_loads_us'])} | {ratio(floor, rust['wall_median_us'])} |\n")
            w("The native call in two (medians of each part; they need not add up to the median of the whole): the native "
              f"method up to the future it returns (pyo3, the request read from the arguments, the asyncio future, the spawn onto "
              f"the runtime) {f(pp['started_us'], 1)} µs, and the await (the runtime's work, the "
              f"result's way back, the event loop and the coroutine) {f(pp['awaited_us'])} µs"
              + (f", where the same call spawned onto the runtime from Rust takes {f(rp['spawned_text_call_us'])} µs" if rp else "")
              + ".\n")
            w("The last column is a floor for any package that hands its caller the records as dicts when the result is read: "
              "this package's hand-off plus CPython's cheapest way to make the objects, against the whole Rust client.\n")
        npp = lc.get("node", {}).get("parts")
        if npp:
            floor = npp["native_call_us"] + npp["json_parse_us"]
            w("Node's call likewise (`node_bench.mjs parts`): the native call up to its result, `take()` (the result's data and "
              "meta as JavaScript strings) and `JSON.parse` of them (the page's objects), beside `structuredClone` of the parsed "
              "page (V8 copying the same objects: slower than parsing them).\n")
            w("| call µs | native call µs | take µs | JSON.parse µs | structuredClone µs | native call + JSON.parse vs Rust |")
            w("| ---: | ---: | ---: | ---: | ---: | ---: |")
            w(f"| {f(npp['call_us'])} | {f(npp['native_call_us'])} | {f(npp['take_us'])} | {f(npp['json_parse_us'])} | "
              f"{f(npp['structured_clone_us'])} | {ratio(floor, rust['wall_median_us'])} |\n")
        if rp and pp and npp:
            w("The hand-off alone, and whose CPU a call takes. A call that core refuses on the runtime before any request (an "
              "unknown entity: a `validation` error, the same work in every language) times the round trip from the caller's "
              "thread onto the runtime and back with almost nothing in between; and the CPU per whole call (from "
              "/proc/self/task/*/schedstat, a separate loop of the same calls) is split between the caller's thread (the "
              "interpreter's, V8's, or for Rust the thread that spawns the call and awaits it) and the runtime's worker. For Node "
              "the rest of the process (V8's compiler and collector helpers) is a third column.\n")
            w("| client | refused call µs | caller's thread CPU per call µs | runtime CPU per call µs | rest of the process µs |")
            w("| --- | ---: | ---: | ---: | ---: |")
            w(f"| Rust, `execute_text` spawned | {f(rp['spawned_refused_call_us'], 1)} (in place {f(rp['refused_call_us'], 1)}) | "
              f"{f(rp['spawned_caller_cpu_us'], 1)} | {f(rp['spawned_runtime_cpu_us'], 1)} | |")
            w(f"| Python | {f(pp['refused_call_us'], 1)} | {f(pp['python_cpu_us'], 1)} | {f(pp['runtime_cpu_us'], 1)} | |")
            w(f"| Node | {f(npp['refused_call_us'], 1)} | {f(npp['js_cpu_us'], 1)} | {f(npp['runtime_cpu_us'], 1)} | "
              f"{f(npp['other_cpu_us'], 1)} |\n")
            w("The runtime's work per call is about the same in every client; what a binding adds is on its language's thread: "
              "the hand-off (of which the refused call's round trip is most) and the page's objects (Python's `take`, Node's "
              "`JSON.parse`), where the Rust client builds its tree (PROFILE.md, sections 2 and 3).\n")
        if "kotlin" in lc:
            w("`$KOTLIN_CP` is `$HOME/.cache/switchboard-bench/kotlin-<profile>/classes` (benches/kotlin/src/Bench.kt compiled with the "
              "package's Kotlin sources, generated from the benchmarked cdylib) and the Maven classpath (kotlin-stdlib, JNA, coroutines, Jackson, org.json).\n")
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
        levels = list(next(iter(cc.values())).keys())
        w("N tasks (asyncio tasks / Promises) in one process, each running `issues list` calls back to back until the "
          "total is done; first an untimed warm-up at the same concurrency (max(200, N) calls, every client alike: the "
          "connections opened, the JITs warm), then the timed calls; calls/s over the timed calls: the median of "
          f"{next(iter(cc.values()))[levels[0]].get('rounds', 2)} rounds interleaved (the lowest and highest "
          "round after it), errors (warm-up included) summed.\n")
        w("| in flight | " + " | ".join(f"{k} calls/s (errors) lowest-highest" for k in cc) + " | python / reference | node / reference |")
        w("| ---: |" + " ---: |" * (len(cc) + 2))
        for lv in levels:
            cells = [f"{f(c['calls_per_s'])} ({c['errors']})" + (f" {f(c['lowest'])}-{f(c['highest'])}" if "lowest" in c else "")
                     for c in (cc[k][lv] for k in cc)]
            w(f"| {lv} | " + " | ".join(cells) + f" | {ratio(cc['python'][lv]['calls_per_s'], cc['reference'][lv]['calls_per_s'])} | "
              f"{ratio(cc['node'][lv]['calls_per_s'], cc['reference'][lv]['calls_per_s'])} |")
        w("\nFrom each client's best level to 1,000 in flight: " + "; ".join(
            f"{k} {f(rate)} at {int(level):,} -> {f(cc[k][levels[-1]]['calls_per_s'])} ({change:+.0f}%)"
            for k in cc for level, rate, change in [from_best(cc[k])]) + ".\n")
        errs = [f"{k} at {lv}: {cc[k][lv]['first_error']}" for k in cc for lv in levels if cc[k][lv]["first_error"]]
        if errs:
            w("\nFirst error of each failing run:\n")
            for e in errs:
                w(f"- {e}")
        if "node-js-alone" in cc:
            w("\n`node-js-alone` is no client at all: the same Node workers, each call waiting for the event loop's next "
              "turn and returning `JSON.parse` of the page a real call returned (`node_bench.mjs --js-alone`). It is the "
              "floor of any Node client that hands each caller a parsed page, and it falls between 100 and 1,000 in "
              "flight as the `node` column does: V8's young generation (16 MB semi-spaces by default) collects more "
              "often and more survives each collection (benches/PROFILE.md, section 3).\n")
        w("\nTarget: at least 10x the reference's throughput at every level, not falling as concurrency rises.\n")
        w("```\n" + "\n".join(ctx.commands.get("concurrency", [])) + "\n```\n")

    for store in ("sqlite", "postgres"):
        key = f"engine_{store}"
        if key not in r:
            continue
        e = r[key]
        lat = e["latency"]
        w(f"## 4. The engine on {'SQLite' if store == 'sqlite' else 'PostgreSQL'}\n")
        w("Latency: one request in flight, keep-alive, requests interleaved in rounds (direct, nginx, rust proxy, ..., engine, "
          "direct, ...): `direct` is the GraphQL call straight to the fake, `nginx` the same call through an nginx reverse-proxy "
          "hop (keep-alive upstream), `rust proxy` the same call through `bench-proxy` (benches/src/bin/bench-proxy.rs: the "
          "engine's own stack, tokio with a worker per core, axum over hyper, core's HTTP client (hyper-util's pooled client), mimalloc, as a bare reverse proxy with "
          "no token, storage or connector; `JSON checked` also reads the whole answer once with serde_json before returning "
          "it; `a runtime per core` is `bench-proxy --per-core`: a single-threaded runtime per core, each with its own listening "
          "socket and connection pool, so a request never changes threads), `engine` `POST .../connectors/{id}/execute` (a scoped token; the engine then makes the same GraphQL call to "
          "the fake and returns the records).\n")
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
        labels = {"engine": "engine (execute)", "nginx": "nginx hop to the fake", "proxy": "rust proxy to the fake",
                  "proxy_check": "rust proxy to the fake, JSON checked",
                  "proxy_check_per_core": "rust proxy to the fake, JSON checked, a runtime per core"}
        for k, v in ww.items():
            w(f"| {labels.get(k, k)} | {f(v['rps'])} | {v['non_2xx']} | {v['socket_errors']} |")
        floor = ""
        if "proxy_check" in ww:
            floor = (f"Rust proxy / nginx hop: {ratio(ww['proxy']['rps'], ww['nginx']['rps'])}, JSON checked "
                     f"{ratio(ww['proxy_check']['rps'], ww['nginx']['rps'])}; engine / Rust proxy, JSON checked: "
                     f"{ratio(ww['engine']['rps'], ww['proxy_check']['rps'])}. ")
        if "proxy_check_per_core" in ww:
            floor += (f"The same checking proxy with a runtime per core: {ratio(ww['proxy_check_per_core']['rps'], ww['proxy_check']['rps'])} "
                      "of its requests/s with one multi-thread runtime. ")
        w(f"\nEngine / nginx hop: {ratio(ww['engine']['rps'], ww['nginx']['rps'])} (target: at least 0.5x). {floor}"
          f"Cold start (fresh store: migrations, first application) to the `listening` line: {f(e['cold_start_listen_ms'])} ms, "
          f"to the first `/healthz` answer: {f(e['cold_start_healthz_ms'])} ms (median of starts). "
          f"RSS idle (after setup): {f(e['idle_rss_kb'] / 1024, 1)} MB; after the load: {f(e['rss_after_load_kb'] / 1024, 1)} MB; "
          f"peak: {f(e['peak_rss_kb'] / 1024, 1)} MB.\n")
        w("Targets: added p50 at most 150 µs, p99 at most 1,000 µs at one request in flight; sustained at least half the nginx hop's. "
          "Rate limits raised for the run (`--rate-limit`/`--rate-burst` 1e9).\n")
        w("```\n" + "\n".join(ctx.commands.get(key, []) + ctx.commands.get("engine", [])) + "\n```\n")

    if "growth" in r:
        g = r["growth"]
        w("## 5. Growth: records per page, connectors loaded, tenants stored\n")
        w("### Local mode cost per call with the record count\n")
        w("Local mode cost per call as the page grows (the fake answers N records whatever `per_page` asks; GitHub caps "
          "pages at 100, so 1,000 and 10,000 are a stress point, not a real page). Median wall per call, µs (CPU per call):\n")
        impls = list(next(iter(g.values())).keys())
        w("| records | " + " | ".join(impls) + " | python / rust | reference / python |")
        w("| ---: |" + " ---: |" * (len(impls) + 2))
        for n, v in g.items():
            cells = [f"{f(v[i]['wall_median_us'])} ({f(v[i]['cpu_per_call_us'])})" for i in impls]
            w(f"| {n} | " + " | ".join(cells) + f" | {ratio(v['python']['wall_median_us'], v['rust']['wall_median_us'])} | "
              f"{ratio(v['reference']['wall_median_us'], v['python']['wall_median_us'])} |")
        w("")
    if "growth_engine" in r:
        ge = r["growth_engine"]
        lat = ge["latency"]
        w("### Engine latency with the record count\n")
        w(f"One engine on SQLite, one GitHub connector per page size, each against a bench-fake answering that many records; "
          f"one request in flight, {ge['rounds']} rounds of {ge['per_round']} requests per target, interleaved (direct 30, engine 30, "
          "direct 1,000, ...). `direct`: the GraphQL call straight to the fake; `engine`: `execute` through the engine, which makes "
          "that call and returns the records.\n")
        w("| records | direct p50 µs | direct p99 µs | engine p50 µs | engine p99 µs | added p50 µs | added p50 per record µs | non-2xx |")
        w("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for n in ge["counts"]:
            d, e = lat[f"direct {n}"], lat[f"engine {n}"]
            add = e["p50_us"] - d["p50_us"]
            w(f"| {n:,} | {f(d['p50_us'])} | {f(d['p99_us'])} | {f(e['p50_us'])} | {f(e['p99_us'])} | {f(add)} | {f(add / n, 2)} | "
              f"{d['non_2xx'] + d['errors'] + e['non_2xx'] + e['errors']} |")
        w("")
    if "growth_specs" in r:
        gs = r["growth_specs"]
        keys = list(gs)
        w("### Connectors loaded\n")
        w(f"Core's connector in local mode (`bench-rust local --specs DIR`: a registry of that directory's specs only, every spec "
          f"parsed when loaded), GitHub `issues list` (30 records), {gs[keys[0]]['calls']} calls after warm-up, {gs[keys[0]]['rounds']} "
          f"rounds interleaved; medians. The 5: {', '.join(gs['5']['spec_names']) if gs.get('5') else 'n/a'}.\n")
        w("| specs loaded | registry load ms | RSS added by the load MB | wall/call µs | CPU/call µs | peak RSS MB |")
        w("| ---: | ---: | ---: | ---: | ---: | ---: |")
        for k, v in gs.items():
            w(f"| {v['specs_loaded']} | {f(v['registry_load_ms'], 1)} | {f(v['registry_rss_kb'] / 1024, 1)} | {f(v['wall_median_us'])} | "
              f"{f(v['cpu_per_call_us'])} | {f(v['peak_rss_kb'] / 1024, 1)} |")
        w("\nThe engine and the packages do not parse every spec at start: the built-in registry indexes the specs at build time "
          "and parses one on first use, so the cost of the other specs there is their embedded text. `switchboard serve` always "
          "carries the 56 built-in specs (`--specs` adds to them), so the engine itself cannot be started with 5; this table is the "
          "eager worst case.\n")
    for key, store in (("growth_tenants", "SQLite"), ("growth_tenants_postgres", "PostgreSQL")):
        if key not in r:
            continue
        gt = r[key]
        lat = gt["latency"]
        w(f"### Tenants stored ({store})\n")
        w(f"One {store} store set up through the engine (an organization, a workspace, a GitHub connector), copied and grown "
          f"straight in SQL to {' and '.join(f'{n:,}' for n in gt['sizes'])} connectors (each extra one in a workspace of its own, "
          "ten workspaces per organization, a copy of the real row), then an engine on each copy, both up at once; one request in "
          f"flight, {gt['rounds']} rounds of {gt['per_round']} per target, interleaved. `execute`: the real connector's `issues list` "
          "(30 records); `list`: `GET /api/v1/integrations/connectors` of its workspace (one connector).\n")
        w("| connectors stored | start to /healthz ms | execute p50 µs | execute p99 µs | list p50 µs | list p99 µs | RSS after MB | non-2xx |")
        w("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for n in gt["sizes"]:
            v, e, li = gt[str(n)], lat[f"execute {n}"], lat[f"list {n}"]
            w(f"| {v['stored']:,} | {f(v['start_to_healthz_ms'])} | {f(e['p50_us'])} | {f(e['p99_us'])} | {f(li['p50_us'])} | "
              f"{f(li['p99_us'])} | {f(v['rss_kb'] / 1024, 1)} | {e['non_2xx'] + e['errors'] + li['non_2xx'] + li['errors']} |")
        w("")
    if any(k in r for k in ("growth", "growth_engine", "growth_specs", "growth_tenants", "growth_tenants_postgres")):
        w("```\n" + "\n".join(ctx.commands.get("growth", [])) + "\n```\n")

    w("## 6. Scale-out correctness\n")
    w("Not a figure: a test CI runs, `engine/tests/scale_out.rs` (`cargo test --profile ci -p switchboard-engine --test scale_out`, "
      "PostgreSQL from `scripts/postgres.sh`, nginx from Debian's packages through `scripts/nginx.sh`; under `CI` a missing nginx "
      "or PostgreSQL fails it). Three `switchboard serve` replicas on one PostgreSQL database, nginx on loopback in front "
      "(round-robin, keep-alive upstream, no retry on another replica), the test suite's fake upstream. Through the balancer: "
      "60 concurrent executes on a HubSpot connector whose access token has expired must all answer 200 with exactly one "
      "refresh reaching the fake's token endpoint; a second organization (made with `switchboard admin create-application` on "
      "the same store) gets 404 for the first one's connector (read, execute, delete) through every replica, and neither "
      "organization's connector or workspace list shows the other's; nginx's access log must show every replica serving "
      "executes and isolation checks; no secret may appear in any replica's logs.\n")
    w("**No throughput scaling is reported.** This machine has two cores: three replicas, PostgreSQL, nginx, the fake and "
      "the load generator share them, so requests/s through three replicas would measure contention for those two cores, "
      "not scaling. What the test shows is that the replicas stay correct together (one refresh, no cross-tenant leak), "
      "not that they go faster.\n")

    if "context_store" in r:
        cs = r["context_store"]
        w("## 7. Context store: sync rate and search latency\n")
        w(f"A Stripe `customers` entity of {cs['records']:,} records synced through a real `switchboard serve` (SQLite main store, "
          "the cache a SQLite file under its data dir) from `benches/stripe_fake.py` (pages of 100 rendered before the run, "
          "served from memory): `POST .../context-store/sync`, then the status polled every 50 ms until the sync is done; the "
          "run fails unless the status says `succeeded` with every record stored.\n")
        w(f"- sync: {cs['records']:,} records, {cs.get('pages', 'n/a')} pages, {cs['sync_seconds']:.1f} s: "
          f"**{f(cs['records_per_s'])} records/s**; engine RSS after the sync {f(cs['rss_after_sync_kb'] / 1024, 1)} MB\n")
        w(f"Search: `context_store_search` through the execute route, over HTTP, one request in flight, {cs['rounds']} rounds of "
          f"{cs['per_round']} per shape, interleaved; every shape was first checked to answer records (`eq` on id exactly the one).\n")
        w("| filter shape | params | requests | p50 ms | p99 ms | non-2xx |\n| --- | --- | ---: | ---: | ---: | ---: |")
        for name, v in cs["search"].items():
            w(f"| {name} | `{json.dumps(cs['search_bodies'][name])}` | {v['requests']} | {f(v['p50_us'] / 1e3, 1)} | "
              f"{f(v['p99_us'] / 1e3, 1)} | {v['non_2xx'] + v['errors']} |")
        w("\nUnsorted searches stop once the page (20) is full; a sort makes a full scan of the entity. "
          "docs/context-store.md describes the store and the filter language.\n")
        w("```\n" + "\n".join(ctx.commands.get("context_store", [])) + "\n```\n")

    w("## Not measured yet\n")
    if "kotlin" not in r.get("local", {}):
        w("- The Kotlin package on the JVM (cost per call).")
    w("- Kotlin: import time and concurrency against the others (its cost per call and peak RSS are in section 1).")
    w("- Scale-out throughput (see section 6: two cores cannot show it).")
    if "growth_tenants_postgres" not in r:
        w("- Tenants stored on PostgreSQL (no `--pg-url` in this run).")
    w("- The engine with fewer than its 56 built-in specs (section 5 measures core's registry with 5 and 56).\n")

    prof = HERE / "PROFILE.md"
    if prof.exists() and not ctx.tiny:
        w(prof.read_text())
    return "\n".join(o) + "\n"


def merge_earlier(ctx: Ctx, raw: Path, out: Path, meta: dict[str, Any]) -> None:
    """Keeps the sections of an earlier run (its raw results) that this run did not measure, so
    `--only` updates some sections of the committed table without dropping the others."""
    prev = json.loads(raw.read_text())
    when = "date unknown"
    if out.exists():
        m = re.search(r"^- date: ([^;]+);", out.read_text(), re.M)
        b = re.search(r"^- builds: (\S+) profile", out.read_text(), re.M)
        when = (m[1] if m else when) + (f", {b[1]} profile" if b else "")
    for k, v in prev.get("results", {}).items():
        if k not in ctx.results:
            ctx.results[k] = v
            ctx.carried.add(k)
            meta[k] = prev.get("meta", {}).get(k, {"date": when})
    for k, v in prev.get("commands", {}).items():
        ctx.commands.setdefault(k, v)
    dates = sorted({str(meta[k].get("date")) + (f", {meta[k]['profile']} profile" if meta[k].get("profile") else "") for k in ctx.carried})
    ctx.carried_from = "; ".join(dates) or when


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
    p.add_argument("--only", default="", help="comma-separated sections: fake,local,import,concurrency,sqlite,postgres,growth,context-store")
    p.add_argument("--merge", default="", help="with --only: an earlier run's raw results (JSON) whose other sections the report keeps")
    a = p.parse_args()
    ctx_py_ours = a.py_ours
    ctx = Ctx(a)
    only = set(filter(None, a.only.split(",")))
    t0 = time.time()
    steps = [("fake", bench_fake_speed), ("local", bench_local), ("import", bench_import), ("concurrency", bench_concurrency),
             ("sqlite", lambda c: bench_engine(c, "sqlite")), ("postgres", lambda c: bench_engine(c, "postgres")),
             ("growth", bench_growth), ("context-store", bench_context_store)]
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
    ctx.measured = set(ctx.results)
    meta: dict[str, Any] = {k: {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "profile": a.profile}
                            for k in ctx.results}
    if only and a.merge and Path(a.merge).exists():
        merge_earlier(ctx, Path(a.merge), out, meta)
    out.write_text(report(ctx, time.time() - t0))
    Path(a.raw).write_text(json.dumps({"results": ctx.results, "void": ctx.void, "failed": ctx.failed, "commands": ctx.commands,
                                       "meta": meta}, indent=1))
    log(f"wrote {out} ({time.time() - t0:.0f}s)")
    if ctx.failed:
        log("FAILED: " + "; ".join(ctx.failed))
        sys.exit(1)
    if ctx.void:
        log("VOID: " + "; ".join(ctx.void))
        sys.exit(2)


if __name__ == "__main__":
    main()
