"""The blocking facade (``switchboard.sync``) and fork safety of the native runtime."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import switchboard
import switchboard.sync as sbs
from switchboard import _native
from switchboard._sync import _own_loop  # pyright: ignore[reportPrivateUsage]
from switchboard.connectors import GithubConnector

from .conftest import GITHUB_TOKEN, STRIPE_KEY, Engine, Fake


def test_sync_typed_connector(fake: Fake) -> None:
    gh = sbs.GithubConnector(credentials={"personal_access_token": GITHUB_TOKEN}, config={"base_url": fake.base("github")})
    res = gh.issues.list(owner="octo", repo="hello", per_page=2)
    assert isinstance(res, switchboard.ExecutionResult)
    assert [i["number"] for i in res.data] == [5, 4]
    pages = list(gh.paginate("issues", "list", {"owner": "octo", "repo": "hello", "per_page": 2}))
    assert [len(p.data) for p in pages] == [2, 2, 1]
    assert gh.check().success
    assert gh.execute(switchboard.ExecutionConfig("repositories", "get", {"owner": "octo", "repo": "hello"})).data["nameWithOwner"] == "octo/hello"
    assert "owner: string, required" in gh.describe()
    assert sbs.GithubConnector.tool_schema()["function"]["name"] == "github_execute"
    for page in gh.paginate("issues", "list", {"owner": "octo", "repo": "hello", "per_page": 2}):
        assert len(page.data) == 2
        break  # leaving early closes the page stream
    with pytest.raises(switchboard.ConnectorValidationError):
        gh.issues.list(owner="octo", repo="hello", per_page=0)
    with pytest.raises(switchboard.ConnectorNotFoundError):
        gh.repositories.get(owner="octo", repo="nope")


def test_sync_local_executor_from_many_threads(fake: Fake) -> None:
    st = sbs.LocalExecutor("stripe", {"api_key": STRIPE_KEY}, {"base_url": fake.base("stripe")})
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: st.execute("customers", "get", {"id": f"cus_{i:04d}"}), range(1, 17)))
    assert [r.data["id"] for r in results] == [f"cus_{i:04d}" for i in range(1, 17)]


def test_sync_hosted(engine: Engine, fake: Fake, workspace_name: str) -> None:
    with sbs.Workspace(workspace_name=workspace_name, **engine.client()) as ws:
        cid = ws.create_connector(
            connector_type="github",
            credentials={"personal_access_token": GITHUB_TOKEN},
            replication_config={"repositories": ["octo/hello"]},
            config={"base_url": fake.base("github")},
        )
        assert [c.id for c in ws.list_connectors()] == [cid]
        ex = ws.get_connector(name="github")
        assert ex.execute("repositories", "get", {"owner": "octo", "repo": "hello"}).data["nameWithOwner"] == "octo/hello"
        assert ex.connector_info().id == cid
        gh = sbs.connect("github", workspace_name=workspace_name, **engine.client())
        assert isinstance(gh, sbs.GithubConnector)
        assert len(gh.issues.list(owner="octo", repo="hello", per_page=2).data) == 2
        with sbs.HostedExecutor(connector_id=cid, **engine.client()) as by_id:
            assert by_id.check().success
            assert by_id.token_fetches() == 1
        ws.delete_connector(cid)
        with pytest.raises(switchboard.ConnectorNotFoundError):
            ws.get_connector(connector_id=cid)


def _sync_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "switchboard-sync"]


def test_sync_calls_run_on_the_calling_threads_own_loop(fake: Fake, tmp_path: Any) -> None:
    """Outside a running loop a blocking call runs on the calling thread (its own loop): in a
    fresh process, calls from the main thread and from 40 short-lived threads start no
    background thread, and every thread's loop is closed when the thread ends (the process holds
    no more epoll instances after the threads than before them, and Python reports no unclosed
    loop)."""
    script = tmp_path / "own_loop.py"
    script.write_text(
        "import gc, os, sys, threading\n"
        "import switchboard.sync as sbs\n"
        "gh = sbs.GithubConnector(credentials={'personal_access_token': sys.argv[2]}, config={'base_url': sys.argv[1]})\n"
        "assert len(gh.issues.list(owner='octo', repo='hello', per_page=2).data) == 2\n"
        "def one(): assert len(gh.issues.list(owner='octo', repo='hello', per_page=1).data) == 1\n"
        "def link(fd):\n"
        "    try: return os.readlink(f'/proc/self/fd/{fd}')\n"
        "    except FileNotFoundError: return ''  # the listing's own descriptor, closed since\n"
        "def epolls():\n"
        "    gc.collect()\n"
        "    return sum(link(fd) == 'anon_inode:[eventpoll]' for fd in os.listdir('/proc/self/fd'))\n"
        "def batch():\n"
        "    ts = [threading.Thread(target=one) for _ in range(20)]\n"
        "    for t in ts: t.start()\n"
        "    for t in ts: t.join()\n"
        "    return epolls()\n"
        "before = epolls()\n"
        "first, second = batch(), batch()\n"
        "names = [t.name for t in threading.enumerate() if t.name == 'switchboard-sync']\n"
        "print(before, first, second, len(names))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-W", "default::ResourceWarning", str(script), fake.base("github"), GITHUB_TOKEN],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    before, first, second, background = map(int, proc.stdout.split())
    assert background == 0
    assert before == first == second, f"epoll instances: {before} before the threads, {first} and {second} after"
    assert "unclosed" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


async def test_sync_inside_a_running_loop_uses_the_background_loop(fake: Fake) -> None:
    """Where a loop is running already (here, the test's), a blocking call cannot run a loop of
    its own on the thread: it runs on the background loop thread and waits for it."""
    gh = sbs.GithubConnector(credentials={"personal_access_token": GITHUB_TOKEN}, config={"base_url": fake.base("github")})
    assert len(gh.issues.list(owner="octo", repo="hello", per_page=2).data) == 2
    assert _sync_threads() == ["switchboard-sync"]


def test_an_interrupted_sync_call_leaves_the_thread_usable(fake: Fake) -> None:
    """Ctrl-C during a blocking call (a SIGALRM handler raising ``KeyboardInterrupt`` here, while
    the upstream holds the answer) reaches the caller; the call is cancelled (it is no longer
    pending once the thread's loop has run again, 1.2 s before its answer would come), and the
    next call on the same thread's loop returns its own result."""
    st = sbs.StripeConnector(credentials={"api_key": STRIPE_KEY}, config={"base_url": fake.base("stripe")})
    assert st.customers.get(id="cus_0001").data["id"] == "cus_0001"
    fake.fault(prefix="stripe", status=200, body={"id": "cus_slow", "object": "customer"}, delay_ms=1500, count=1)

    def interrupt(*_: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(KeyboardInterrupt):
            st.customers.get(id="cus_0002")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert st.customers.get(id="cus_0003").data["id"] == "cus_0003"
    assert [t for t in asyncio.all_tasks(_own_loop()) if not t.done()] == []


async def test_sync_refuses_to_run_on_its_own_loop(fake: Fake) -> None:
    gh = sbs.GithubConnector(credentials={"personal_access_token": GITHUB_TOKEN}, config={"base_url": fake.base("github")})

    async def inside() -> None:
        gh.issues.list(owner="octo", repo="hello")

    with pytest.raises(RuntimeError, match="own event loop"):
        sbs.run(inside())


def _child(url: str, out: Any) -> None:
    """Runs in a fork child: the async API on a fresh loop, then the sync facade."""
    try:
        gh = GithubConnector(credentials={"personal_access_token": GITHUB_TOKEN}, config={"base_url": url})
        res = asyncio.run(gh.issues.list(owner="octo", repo="hello", per_page=2))
        sync_gh = sbs.GithubConnector(credentials={"personal_access_token": GITHUB_TOKEN}, config={"base_url": url})
        sync_res = sync_gh.issues.list(owner="octo", repo="hello", per_page=1)

        async def inside_a_loop() -> int:  # the background loop thread, the child's own
            return len(sync_gh.issues.list(owner="octo", repo="hello", per_page=1).data)

        assert asyncio.run(inside_a_loop()) == 1
        out.put((os.getpid(), _native.runtime_pid(), len(res.data), len(sync_res.data)))
    except BaseException as e:  # report, do not hang the parent
        out.put(repr(e))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_child_gets_its_own_runtime(fake: Fake) -> None:
    url = fake.base("github")
    # The parent uses the runtime, the HTTP pool, its thread's own loop and the background loop
    # thread (a blocking call inside a running loop) first.
    gh = sbs.GithubConnector(credentials={"personal_access_token": GITHUB_TOKEN}, config={"base_url": url})
    assert len(gh.issues.list(owner="octo", repo="hello", per_page=2).data) == 2

    async def inside_a_loop() -> int:
        return len(gh.issues.list(owner="octo", repo="hello", per_page=2).data)

    assert asyncio.run(inside_a_loop()) == 2
    parent_runtime = _native.runtime_pid()
    assert parent_runtime == os.getpid()
    assert _sync_threads() == ["switchboard-sync"]

    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    proc = ctx.Process(target=_child, args=(url, out))
    proc.start()
    try:
        result = out.get(timeout=60)
    finally:
        proc.join(timeout=30)
    assert isinstance(result, tuple), result
    child_pid, child_runtime, n_async, n_sync = result
    assert child_runtime == child_pid != parent_runtime
    assert (n_async, n_sync) == (2, 1)
    assert proc.exitcode == 0
    # The parent still works after the fork.
    assert len(gh.issues.list(owner="octo", repo="hello", per_page=2).data) == 2
