"""The blocking facade (``switchboard.sync``) and fork safety of the native runtime."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import switchboard
import switchboard.sync as sbs
from switchboard import _native
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
        out.put((os.getpid(), _native.runtime_pid(), len(res.data), len(sync_res.data)))
    except BaseException as e:  # report, do not hang the parent
        out.put(repr(e))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_child_gets_its_own_runtime(fake: Fake) -> None:
    url = fake.base("github")
    # The parent uses the runtime, the HTTP pool and the sync loop thread first.
    gh = sbs.GithubConnector(credentials={"personal_access_token": GITHUB_TOKEN}, config={"base_url": url})
    assert len(gh.issues.list(owner="octo", repo="hello", per_page=2).data) == 2
    parent_runtime = _native.runtime_pid()
    assert parent_runtime == os.getpid()
    assert threading.active_count() >= 2

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
