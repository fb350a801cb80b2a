"""Two engine builds side by side under wrk: executes/s and the CPU each spends per execute.

Each run starts a fresh `bench-fake` and a fresh engine (fresh store) from one build's directory,
runs `wrk` against the execute route for the given time, and reads the engine's CPU from
`/proc/<pid>/task/*/stat` around it: all its threads, and the SQLite worker thread alone; on
PostgreSQL also the server's CPU, summed over its processes. Runs alternate A B A B ... Uses
`benches/run.py`'s set-up, so the engine, the fake and the request are the harness's.

    python3 benches/engine_ab.py --a DIR --b DIR [--seconds 30] [--rounds 3] [--store sqlite]
    # --store postgres needs --pg-url (an admin URL of a server on loopback) and --psql
    python3 benches/engine_ab.py --a DIR --b DIR --latency [--rounds 10]
    # both engines up at once on one fake; execute latency at one request in flight, the two
    # engines and the fake itself interleaved by bench-rust (300 requests per target a round)

    python3 benches/engine_ab.py --a DIR [--b DIR] --mixed [--seconds 10] [--rounds 3] [--heavy 1]
    # each build with serving threads (the default) and with the shared runtime
    # (SWITCHBOARD_SERVING_THREADS=0), alternated: light executes (30 records) at 8 connections
    # while --heavy connections keep asking for 10,000-record pages; light and heavy
    # requests/s and the light ones' latency percentiles

Each line of output is one run, as JSON.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import time
from pathlib import Path

import run


def cpu_ticks(pid: int) -> dict[str, int]:
    """Clock ticks of user + system time by thread name of `pid`, and of every `postgres`
    process under the name `postgres`."""
    tasks = glob.glob(f"/proc/{pid}/task/*")
    for proc in glob.glob("/proc/[0-9]*"):
        try:
            if Path(proc, "comm").read_text().strip() == "postgres":
                tasks.append(proc)
        except OSError:
            pass
    out: dict[str, int] = {}
    for task in tasks:
        try:
            name = Path(task, "comm").read_text().strip()
            fields = Path(task, "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # a thread or process that ended meanwhile
            continue
        out[name] = out.get(name, 0) + int(fields[11]) + int(fields[12])
    return out


def harness(a: argparse.Namespace, bin_dir: str) -> run.Ctx:
    """`benches/run.py`'s context (full counts) for the build in `bin_dir`."""
    return run.Ctx(argparse.Namespace(tiny=False, bin_dir=bin_dir, kotlin_cp=None, pg_url=a.pg_url, psql=a.psql))


def one_run(a: argparse.Namespace, bin_dir: str) -> dict[str, float]:
    ctx = harness(a, bin_dir)
    try:
        _, fake = run.start_fake(ctx, 30)
        engine, url, first, _, _ = run.start_engine(ctx, a.store)
        scoped, execute = run.engine_setup(url, first, fake)
        script = run.wrk_script(ctx, "execute", run.EXECUTE_BODY, {"authorization": f"Bearer {scoped}"})
        before = cpu_ticks(engine.pid)
        w = run.wrk(ctx, "engine_ab", execute, script, conns=32, secs=a.seconds)
        after = cpu_ticks(engine.pid)
    finally:
        ctx.cleanup()
    spent = {k: v - before.get(k, 0) for k, v in after.items()}
    per = 1e6 / os.sysconf("SC_CLK_TCK") / (w["rps"] * a.seconds)  # µs per tick per execute
    return {
        "executes_per_s": round(w["rps"]),
        "non_2xx": w["non_2xx"],
        "socket_errors": w["socket_errors"],
        "engine_cpu_us": round(per * sum(v for k, v in spent.items() if k != "postgres"), 1),
        "sqlite_worker_cpu_us": round(per * sum(v for k, v in spent.items() if k.startswith("sqlx-sqlite")), 1),
        "postgres_cpu_us": round(per * spent.get("postgres", 0), 1),
    }


def latency(a: argparse.Namespace) -> None:
    """Both builds' engines at once, one fake: added latency of execute, interleaved."""
    ctx = harness(a, a.b)
    try:
        _, fake = run.start_fake(ctx, 30)
        targets = [{"name": "direct", "url": f"{fake}/graphql", "body": run.GRAPHQL_BODY,
                    "headers": {"authorization": "Bearer ghp_bench_token_0001"}}]
        for label, bin_dir in (("A", a.a), ("B", a.b)):
            ctx.bin = Path(bin_dir)
            _, url, first, _, _ = run.start_engine(ctx, a.store)
            scoped, execute = run.engine_setup(url, first, fake)
            targets.append({"name": label, "url": execute, "body": run.EXECUTE_BODY,
                            "headers": {"authorization": f"Bearer {scoped}"}})
        ctx.bin = Path(a.b)
        tfile = ctx.work / "targets-ab.json"
        tfile.write_text(json.dumps(targets))
        lat = ctx.run_json("engine_ab", [ctx.bin / "bench-rust", "latency", "--targets", tfile, "--rounds",
                                         str(a.rounds), "--per-round", "300", "--warmup", "200"])
    finally:
        ctx.cleanup()
    print(json.dumps(lat), flush=True)


def mixed_run(a: argparse.Namespace, bin_dir: str, serving: str) -> dict[str, object]:
    """One engine of the build in `bin_dir` with `SWITCHBOARD_SERVING_THREADS=serving` ("" for
    the default): light executes under wrk while heavy ones run beside them on their own
    connections."""
    ctx = harness(a, bin_dir)
    try:
        _, light_fake = run.start_fake(ctx, 30)
        _, heavy_fake = run.start_fake(ctx, a.heavy_records)
        env = {"SWITCHBOARD_SERVING_THREADS": serving} if serving else {}
        _, url, first, _, _ = run.start_engine(ctx, a.store, env)
        light_token, light = run.engine_setup(url, first, light_fake)
        heavy_token, heavy = run.engine_setup(url, first, heavy_fake, workspace="heavy")
        light_script = run.wrk_script(ctx, "light", run.EXECUTE_BODY, {"authorization": f"Bearer {light_token}"})
        heavy_script = run.wrk_script(ctx, "heavy", run.EXECUTE_BODY, {"authorization": f"Bearer {heavy_token}"})
        # The heavy connections first, so they are on their threads before the light ones come;
        # they run a second longer on each side.
        heavy_cmd = ["wrk", "-t1", f"-c{a.heavy}", f"-d{a.seconds + 2}s", "--latency", "-s", str(heavy_script), heavy]
        ctx.note_cmd("engine_mixed", heavy_cmd)
        background = subprocess.Popen(heavy_cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        time.sleep(1)
        w = run.wrk(ctx, "engine_mixed", light, light_script, conns=8, secs=a.seconds, threads=1)
        h = run.parse_wrk(background.communicate(timeout=a.seconds + 60)[0])
    finally:
        ctx.cleanup()
    return {
        "light_per_s": round(w["rps"]),
        **{f"light_{k}": v for k, v in w.items() if k.startswith("p")},
        "heavy_per_s": round(h["rps"], 1),
        "heavy_p50_us": h.get("p50_us"),
        "non_2xx": w["non_2xx"] + h["non_2xx"],
        "socket_errors": w["socket_errors"] + h["socket_errors"],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--a", required=True, help="directory of build A's switchboard and bench-fake")
    p.add_argument("--b", help="directory of build B's (optional with --mixed)")
    p.add_argument("--seconds", type=int, default=30)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--pg-url", default="")
    p.add_argument("--psql", default="psql")
    p.add_argument("--latency", action="store_true", help="latency at one request in flight instead of wrk")
    p.add_argument("--mixed", action="store_true",
                   help="serving threads against the shared runtime under light and heavy executes")
    p.add_argument("--heavy", type=int, default=1, help="--mixed: connections asking for the heavy pages")
    p.add_argument("--heavy-records", type=int, default=10_000, help="--mixed: records of a heavy page")
    a = p.parse_args()
    if a.mixed:
        builds = [("A", a.a)] + ([("B", a.b)] if a.b else [])
        for round_no in range(1, a.rounds + 1):
            for build, bin_dir in builds:
                for label, serving in (("serving threads", ""), ("shared runtime", "0")):
                    run_ = mixed_run(a, bin_dir, serving)
                    print(json.dumps({"round": round_no, "build": build, "engine": label, **run_}), flush=True)
        return
    if not a.b:
        p.error("--b is required")
    if a.latency:
        latency(a)
        return
    for round_no in range(1, a.rounds + 1):
        for label, bin_dir in (("A", a.a), ("B", a.b)):
            print(json.dumps({"round": round_no, "build": label, **one_run(a, bin_dir)}), flush=True)


if __name__ == "__main__":
    main()
