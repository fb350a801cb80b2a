"""The Python side of the benchmarks (benches/run.py drives it; it prints one JSON object).

  py_bench.py local       --impl ours|ref|httpx --base-url URL [--calls 500] [--warmup 50]
  py_bench.py concurrency --impl ours|ref|httpx --base-url URL --inflight N --calls TOTAL
  py_bench.py import      --impl ours|ref
  py_bench.py burst       --impl ours|ref|httpx --base-url URL --calls N
  py_bench.py parts       --impl ours --base-url URL [--calls 3000] [--warmup 500]

`burst` starts N calls at once and reports the wall time, the errors, the process's open
descriptors afterwards and whether it can still open a file (run it under `ulimit -n 1024`).

`parts` splits our call in two, on the same calls: the native call up to its `Outcome` (core's
work, the HTTP exchange and the asyncio hand-off) and `Outcome.take` (the Python objects of the
page), each a median; beside them CPython's own floors for those objects: `marshal.loads` and
`pickle.loads` of the same records (objects made from a binary form, nothing to parse) and
`json.loads` of their JSON text. It also reports the CPU per whole call of the interpreter's
thread and of the runtime's threads (from /proc/self/task/*/schedstat), and the round trip of a
call that core refuses on the runtime before any request (an unknown entity): the hand-off
alone, as `bench-rust parts` times it from Rust.

`ours` is this project's package (`switchboard`), `ref` the reference SDK (`airbyte_agent_sdk`,
its GitHub connector, telemetry off, its HTTP client's base_url pointed at the fake), `httpx` the
floor: the same GraphQL request with a bare `httpx.AsyncClient`, records read from the JSON.
Every implementation runs GitHub `issues list` for octo/hello, 30 per page.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
from typing import Any, Awaitable, Callable

os.environ.setdefault("AIRBYTE_TELEMETRY_MODE", "disabled")
os.environ.setdefault("DO_NOT_TRACK", "1")

PARAMS: dict[str, Any] = {"owner": "octo", "repo": "hello", "per_page": 30}
TOKEN = "ghp_bench_token_0001"
QUERY = (
    "query ListIssues($owner: String!, $name: String!, $first: Int!, $after: String, $states: [IssueState!]) "
    "{ repository(owner: $owner, name: $name) { issues(first: $first, after: $after, states: $states, "
    "orderBy: {field: CREATED_AT, direction: DESC}) { totalCount pageInfo { hasNextPage endCursor } "
    "nodes { id databaseId number title body state stateReason url locked createdAt updatedAt closedAt "
    "author { login } assignees(first: 10) { nodes { login } } labels(first: 10) { nodes { name color } } "
    "milestone { number title } comments { totalCount } } } } }"
)


def peak_rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def make_call(impl: str, base_url: str) -> tuple[Callable[[], Awaitable[int]], Callable[[], Awaitable[None]]]:
    """A coroutine function doing one `issues list` call (returning the record count), and a closer."""
    if impl == "ours":
        from switchboard.connectors import GithubConnector

        gh = GithubConnector(credentials={"personal_access_token": TOKEN}, config={"base_url": base_url})

        async def call() -> int:
            res = await gh.issues.list(**PARAMS)
            return len(res.data)

        async def close() -> None:
            return None

        return call, close
    if impl == "ref":
        from airbyte_agent_sdk.connectors.github import GithubConnector as RefConnector
        from airbyte_agent_sdk.connectors.github.models import GithubPersonalAccessTokenAuthConfig

        ref = RefConnector(auth_config=GithubPersonalAccessTokenAuthConfig(token=TOKEN))
        ref._executor.http_client.base_url = base_url  # type: ignore[attr-defined]

        async def call() -> int:
            res = await ref.issues.list(**PARAMS)
            return len(res.data)

        async def close() -> None:
            await ref._executor.http_client.close()  # type: ignore[attr-defined]

        return call, close
    if impl == "httpx":
        import httpx

        client = httpx.AsyncClient(
            base_url=base_url,
            headers={"authorization": f"Bearer {TOKEN}"},
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
            timeout=60,
        )
        body = {"query": QUERY, "variables": {"owner": "octo", "name": "hello", "first": 30}}

        async def call() -> int:
            r = await client.post("/graphql", json=body)
            r.raise_for_status()
            return len(r.json()["data"]["repository"]["issues"]["nodes"])

        return call, client.aclose
    raise SystemExit(f"unknown impl {impl}")


async def local(impl: str, base_url: str, calls: int, warmup: int) -> dict[str, Any]:
    call, close = make_call(impl, base_url)
    for _ in range(warmup):
        await call()
    walls: list[int] = []
    records = 0
    cpu0 = time.process_time_ns()
    t0 = time.perf_counter_ns()
    for _ in range(calls):
        t = time.perf_counter_ns()
        records = await call()
        walls.append(time.perf_counter_ns() - t)
    total = time.perf_counter_ns() - t0
    cpu = time.process_time_ns() - cpu0
    await close()
    walls.sort()
    return {
        "calls": calls,
        "records": records,
        "wall_median_us": walls[len(walls) // 2] / 1e3,
        "wall_mean_us": total / calls / 1e3,
        "cpu_per_call_us": cpu / calls / 1e3,
        "peak_rss_kb": peak_rss_kb(),
    }


async def concurrency(impl: str, base_url: str, inflight: int, calls: int, warmup: int) -> dict[str, Any]:
    """`calls` calls by `inflight` workers, timed, after `warmup` calls by as many workers
    (untimed: they open the connections and warm the caches, as a long-running service has)."""
    call, close = make_call(impl, base_url)
    ok = errors = 0
    first_error = ""

    async def run(total: int) -> None:
        remaining = total

        async def worker() -> None:
            nonlocal remaining, ok, errors, first_error
            while remaining > 0:
                remaining -= 1
                try:
                    await call()
                    ok += 1
                except Exception as e:  # counted, not fatal: errors are a result here
                    errors += 1
                    first_error = first_error or f"{type(e).__name__}: {e}"[:200]

        await asyncio.gather(*(worker() for _ in range(inflight)))

    await run(warmup)
    warm_errors, ok = errors, 0
    t0 = time.perf_counter()
    await run(calls)
    wall = time.perf_counter() - t0
    await close()
    return {"inflight": inflight, "ok": ok, "errors": errors, "warmup_errors": warm_errors,
            "first_error": first_error, "calls_per_s": ok / wall, "wall_s": wall, "peak_rss_kb": peak_rss_kb()}


async def burst(impl: str, base_url: str, calls: int) -> dict[str, Any]:
    """`calls` calls started at once; then what the process holds (no warm-up, no close)."""
    call, _ = make_call(impl, base_url)

    async def one() -> str:
        try:
            await call()
            return ""
        except Exception as e:  # counted, not fatal
            return f"{type(e).__name__}: {e}"[:200]

    t0 = time.perf_counter()
    outcomes = await asyncio.gather(*(one() for _ in range(calls)))
    wall = time.perf_counter() - t0
    errors = [o for o in outcomes if o]
    try:
        descriptors: int | str = len(os.listdir("/proc/self/fd"))
        with open("/proc/self/status"):
            pass
        can_open = True
    except OSError as e:
        descriptors, can_open = f"{e}", False
    return {"calls": calls, "wall_s": wall, "errors": len(errors), "first_error": errors[0] if errors else "",
            "open_descriptors": descriptors, "can_open_a_file": can_open}


def thread_cpu_ns() -> tuple[int, int]:
    """CPU time of this thread (the interpreter's) and of the process's other threads, ns."""
    here, others = 0, 0
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                ns = int(f.read().split()[0])
        except OSError:
            continue  # a thread that ended meanwhile
        if int(tid) == threading.get_native_id():
            here += ns
        else:
            others += ns
    return here, others


async def parts(base_url: str, calls: int, warmup: int) -> dict[str, Any]:
    import marshal
    import pickle
    import statistics

    from switchboard import _native  # pyright: ignore[reportPrivateUsage]
    from switchboard.connectors import GithubConnector

    gh = GithubConnector(credentials={"personal_access_token": TOKEN}, config={"base_url": base_url})
    record = gh._record("issues", "list")  # pyright: ignore[reportPrivateUsage]
    for _ in range(warmup):
        await gh.issues.list(**PARAMS)
    native: list[int] = []
    take: list[int] = []
    whole: list[int] = []
    # The native call in two: the native method up to the future it returns (pyo3, the request
    # read from the arguments, the future, the spawn onto the runtime), and the await (the
    # runtime's work, the result's way back, the event loop and the coroutine).
    started: list[int] = []
    awaited: list[int] = []
    value: Any = None
    for _ in range(calls):
        t0 = time.perf_counter_ns()
        await gh.issues.list(**PARAMS)
        t1 = time.perf_counter_ns()
        future = gh._handle.execute("issues", "list", PARAMS)  # pyright: ignore[reportPrivateUsage]
        tb = time.perf_counter_ns()
        outcome = await future
        t2 = time.perf_counter_ns()
        value = outcome.take(record)
        t3 = time.perf_counter_ns()
        whole.append(t1 - t0)
        native.append(t2 - t1)
        started.append(tb - t1)
        awaited.append(t2 - tb)
        take.append(t3 - t2)
    records = [dict(r) for r in value["data"]]
    packed, marshalled, text = pickle.dumps(records, protocol=5), marshal.dumps(records), json.dumps(records)
    # Whose CPU a whole call takes: this thread's (the interpreter's) and the runtime's.
    python0, runtime0 = thread_cpu_ns()
    for _ in range(calls):
        await gh.issues.list(**PARAMS)
    python1, runtime1 = thread_cpu_ns()
    # A call that core refuses on the runtime before any request (an unknown entity): the
    # hand-off alone, as `bench-rust parts` times it from Rust.
    async def refused() -> None:
        try:
            await gh._handle.execute("no_such_entity", "list", {})  # pyright: ignore[reportPrivateUsage]
        except _native.NativeError as e:
            if e.args[0] != "validation":
                raise
        else:
            raise AssertionError("a call of an unknown entity succeeded")

    for _ in range(warmup):
        await refused()
    refused_times: list[int] = []
    for _ in range(calls):
        t = time.perf_counter_ns()
        await refused()
        refused_times.append(time.perf_counter_ns() - t)

    def median_us(f: Callable[[], object]) -> float:
        times: list[int] = []
        for _ in range(calls):
            t = time.perf_counter_ns()
            f()
            times.append(time.perf_counter_ns() - t)
        return statistics.median(times) / 1e3

    return {
        "calls": calls,
        "records": len(records),
        "call_us": statistics.median(whole) / 1e3,
        "native_call_us": statistics.median(native) / 1e3,
        "started_us": statistics.median(started) / 1e3,
        "awaited_us": statistics.median(awaited) / 1e3,
        "take_us": statistics.median(take) / 1e3,
        "python_cpu_us": (python1 - python0) / calls / 1e3,
        "runtime_cpu_us": (runtime1 - runtime0) / calls / 1e3,
        "refused_call_us": statistics.median(refused_times) / 1e3,
        "marshal_loads_us": median_us(lambda: marshal.loads(marshalled)),
        "pickle_loads_us": median_us(lambda: pickle.loads(packed)),
        "json_loads_us": median_us(lambda: json.loads(text)),
    }


def import_time(impl: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    if impl == "ours":
        import switchboard  # noqa: F401

        t1 = time.perf_counter()
        from switchboard.connectors import GithubConnector  # noqa: F401
    else:
        import airbyte_agent_sdk  # noqa: F401

        t1 = time.perf_counter()
        from airbyte_agent_sdk.connectors.github import GithubConnector  # noqa: F401,F811
    t2 = time.perf_counter()
    return {"package_ms": (t1 - t0) * 1e3, "github_connector_ms": (t2 - t0) * 1e3}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["local", "concurrency", "import", "burst", "parts"])
    p.add_argument("--impl", required=True, choices=["ours", "ref", "httpx"])
    p.add_argument("--base-url", default="")
    p.add_argument("--calls", type=int, default=500)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--inflight", type=int, default=1)
    a = p.parse_args()
    if a.mode == "import":
        out = import_time(a.impl)
    elif a.mode == "burst":
        out = asyncio.run(burst(a.impl, a.base_url, a.calls))
    elif a.mode == "parts":
        out = asyncio.run(parts(a.base_url, a.calls, a.warmup))
    elif a.mode == "local":
        out = asyncio.run(local(a.impl, a.base_url, a.calls, a.warmup))
    else:
        out = asyncio.run(concurrency(a.impl, a.base_url, a.inflight, a.calls, a.warmup))
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
