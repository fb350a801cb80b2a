"""Programs exit cleanly: short scripts, each in its own interpreter, end with status 0 and the
expected output, never a crash while the interpreter finalizes, and nothing on stderr reports an
exception on the way out (a traceback, an "Exception ignored" from a destructor).

A tokio worker thread that touched Python during finalization (completing an asyncio future,
dropping a Python object) used to kill roughly one hosted run in three with SIGSEGV or SIGABRT.
The runtime is now shut down by an ``atexit`` hook before finalization (``runtime.rs``). A crash
at exit is a race, so one run proves little: every scenario runs many times, 320 scripts in all.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from switchboard.connectors import GithubConnector
from switchboard.hosted import Workspace

from .conftest import GITHUB_TOKEN, Engine, Fake

#: Runs of each scenario.
RUNS = 40

PRELUDE = """
import asyncio, json, os, sys
cfg = json.loads(os.environ["EXIT_TEST"])
CREDS = {"personal_access_token": cfg["token"]}
CONFIG = {"base_url": cfg["github"]}
PARAMS = {"owner": "octo", "repo": "hello"}
HOSTED = dict(client_id=cfg["client_id"], client_secret=cfg["client_secret"], base_url=cfg["engine"])
"""

SCRIPTS: dict[str, str] = {
    "async-local": """
        from switchboard.connectors import GithubConnector
        async def main():
            gh = GithubConnector(credentials=CREDS, config=CONFIG)
            res = await gh.issues.list(**PARAMS)
            print("ok", len(res.data))
        asyncio.run(main())
    """,
    "async-local-close": """
        from switchboard.connectors import GithubConnector
        async def main():
            gh = GithubConnector(credentials=CREDS, config=CONFIG)
            res = await gh.execute("issues", "list", PARAMS)
            gh.close()
            print("ok", len(res.data))
        asyncio.run(main())
    """,
    "async-hosted": """
        from switchboard import HostedExecutor
        async def main():
            ex = HostedExecutor(connector_id=cfg["connector_id"], **HOSTED)
            res = await ex.execute("issues", "list", PARAMS)
            print("ok", len(res.data))
        asyncio.run(main())
    """,
    "async-hosted-close": """
        from switchboard import HostedExecutor
        async def main():
            async with HostedExecutor(connector_id=cfg["connector_id"], **HOSTED) as ex:
                res = await ex.execute("issues", "list", PARAMS)
            print("ok", len(res.data))
        asyncio.run(main())
    """,
    "sync-local": """
        from switchboard.sync import GithubConnector
        gh = GithubConnector(credentials=CREDS, config=CONFIG)
        print("ok", len(gh.issues.list(**PARAMS).data))
    """,
    "sync-hosted-close": """
        from switchboard.sync import HostedExecutor
        ex = HostedExecutor(connector_id=cfg["connector_id"], **HOSTED)
        res = ex.execute("issues", "list", PARAMS)
        ex.close()
        print("ok", len(res.data))
    """,
    # An execute still waiting for its upstream when main() returns: asyncio.run cancels it.
    "async-local-pending": """
        from switchboard.connectors import GithubConnector
        async def main():
            gh = GithubConnector(credentials=CREDS, config={"base_url": cfg["silent"]})
            task = asyncio.ensure_future(gh.issues.list(**PARAMS))
            await asyncio.sleep(0.05)
            print("ok pending", task.done())
        asyncio.run(main())
    """,
    "async-hosted-pending": """
        from switchboard import HostedExecutor
        async def main():
            ex = HostedExecutor(connector_id=cfg["connector_id"], **dict(HOSTED, base_url=cfg["silent"]))
            task = asyncio.ensure_future(ex.execute("issues", "list", PARAMS))
            await asyncio.sleep(0.05)
            print("ok pending", task.done())
        asyncio.run(main())
    """,
}


@pytest.fixture(scope="module")
def silent_url() -> Iterator[str]:
    """A server that accepts connections and never answers, so a request stays in flight."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(512)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    stop.set()
    t.join()
    for c in held:
        c.close()
    srv.close()


def run_script(name: str, env: dict[str, str], tmp: Path) -> tuple[str, int, str, str]:
    path = tmp / f"{name}.py"
    proc = subprocess.run(
        [sys.executable, str(path)], env=env, capture_output=True, text=True, timeout=120
    )
    return name, proc.returncode, proc.stdout, proc.stderr


async def test_short_scripts_exit_cleanly(
    fake: Fake, engine: Engine, silent_url: str, workspace_name: str, tmp_path: Path
) -> None:
    async with Workspace(workspace_name=workspace_name, **engine.client()) as ws:
        connector_id = await ws.create_connector(
            connector_type="github",
            credentials={"personal_access_token": GITHUB_TOKEN},
            replication_config={"repositories": ["octo/hello"]},
            config={"base_url": fake.base("github")},
        )
    cfg = {
        "token": GITHUB_TOKEN,
        "github": fake.base("github"),
        "silent": silent_url,
        "engine": engine.url,
        "client_id": engine.client_id,
        "client_secret": engine.client_secret,
        "connector_id": connector_id,
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env["EXIT_TEST"] = json.dumps(cfg)
    for name, body in SCRIPTS.items():
        (tmp_path / f"{name}.py").write_text(PRELUDE + textwrap.dedent(body))
    jobs = [name for _ in range(RUNS) for name in SCRIPTS]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda n: run_script(n, env, tmp_path), jobs))

    assert len(results) >= 300
    failures: list[str] = []
    for name, code, out, err in results:
        lines = out.splitlines()
        ok = code == 0 and len(lines) == 1 and lines[0].startswith("ok")
        if ok and "pending" in name:
            ok = lines[0] == "ok pending False"
        elif ok:
            ok = int(lines[0].split()[1]) > 0
        if ok and any(m in err for m in ("panicked", "Fatal Python error", "Exception ignored", "Traceback")):
            ok = False
        if not ok:
            failures.append(f"{name}: exit {code}, stdout {out!r}, stderr {err[-600:]!r}")
    by_name = {n: sum(1 for r in results if r[0] == n) for n in SCRIPTS}
    codes = sorted({f"{n}: exit {c}" for n, c, _, _ in results if c != 0})
    assert not failures, f"{len(failures)} of {len(results)} scripts failed ({codes}):\n" + "\n".join(failures[:5])
    assert all(count == RUNS for count in by_name.values()), by_name


@pytest.mark.parametrize("started", [False, True], ids=["runtime-not-started", "runtime-started"])
def test_a_call_after_the_exit_hook_is_refused(fake: Fake, tmp_path: Path, started: bool) -> None:
    """A program's own ``atexit`` function that runs after the module's exit hook (registered
    before the import, so called later) and makes a call gets the shutdown error, whether or
    not the process had started its runtime: no runtime starts after the hook (its threads
    would outlive it into finalization), and the process exits cleanly."""
    script = textwrap.dedent(
        f"""
        import asyncio, atexit

        def call():
            from switchboard.connectors import GithubConnector
            gh = GithubConnector(credentials={{"personal_access_token": "{GITHUB_TOKEN}"}},
                                 config={{"base_url": "{fake.base("github")}"}})
            return asyncio.run(gh.issues.list(owner="octo", repo="hello"))

        def late():
            try:
                call()
                print("ran")
            except RuntimeError as e:
                print("refused:", e)

        atexit.register(late)
        import switchboard  # its exit hook, registered now, runs before late()
        if {started}:
            print("before exit", len(call().data))
        """
    )
    path = tmp_path / "late.py"
    path.write_text(script)
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert lines[-1] == "refused: switchboard's runtime has shut down: the interpreter is exiting", proc.stdout
    assert lines[:-1] == (["before exit 5"] if started else []), proc.stdout
    assert not any(m in proc.stderr for m in ("panicked", "Fatal Python error", "Traceback")), proc.stderr[-2000:]


async def test_cancelling_an_execute_drops_its_request() -> None:
    """Cancelling the task awaiting an execute drops the native call: its upstream connection
    closes at once, instead of staying open until the request times out."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(10)
    loop = asyncio.get_running_loop()
    gh = GithubConnector(
        credentials={"personal_access_token": GITHUB_TOKEN},
        config={"base_url": f"http://127.0.0.1:{srv.getsockname()[1]}"},
    )
    task = asyncio.ensure_future(gh.issues.list(owner="octo", repo="hello"))
    conn, _ = await loop.run_in_executor(None, srv.accept)
    conn.settimeout(10)
    try:
        request = await loop.run_in_executor(None, conn.recv, 65536)
        assert request.startswith(b"POST "), request[:40]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        def rest() -> bytes:
            out = b""
            while chunk := conn.recv(65536):  # b"" once the client closed its side
                out += chunk
            return out

        # A socket.timeout here means the call kept its connection open after the cancel.
        await loop.run_in_executor(None, rest)
    finally:
        conn.close()
        srv.close()
        gh.close()
