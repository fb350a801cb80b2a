"""The cross-language conformance suite, Python side: an interpreter of the kit's calls over the
public ``switchboard`` API.

The kit (``tests/conformance-kit``, run here as the ``conformance-kit`` binary) loads and checks
``tests/conformance/*.yaml``, starts the fake and the engine, sets each scenario up, fills the
placeholders, checks every outcome and reports; calls and outcomes are JSON lines on its stdout
and stdin (``tests/conformance/README.md``, "Runners"). This file only turns each call into a
call of the Python SDK: ``LocalExecutor`` (``describe()`` of the typed connector of the same
slug), ``Workspace``, ``HostedExecutor`` and ``connect``. ``CONFORMANCE_FILTER`` and
``CONFORMANCE_SEED`` reach the kit through the environment.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
from typing import Any

import pytest

from switchboard import ConnectorInfo, Executor, HostedExecutor, LocalExecutor, SwitchboardError, Workspace, connect
from switchboard.connectors import CONNECTORS

from .conftest import binary, child_env

#: The optional SDK surface Python has (README "Capabilities"): all of it.
CAPABILITIES = ("local_timeout", "hosted_timeout", "local_max_concurrent_requests")

#: Only so a hung call cannot hang pytest: the kit already fails a step after 60 s.
STEP_LIMIT = 90.0

Msg = dict[str, Any]


def _info(c: ConnectorInfo) -> Msg:
    return dataclasses.asdict(c)


class Interpreter:
    """One scenario's objects: local handles, built on first use (a construction error is kept
    and raised by every step using the handle), and executors saved by ``save_as``."""

    def __init__(self) -> None:
        self.locals: dict[str, LocalExecutor | SwitchboardError] = {}
        self.executors: dict[str, Executor] = {}

    def begin(self) -> None:
        self.locals.clear()
        self.executors.clear()

    async def outcome(self, c: Msg) -> Msg:
        try:
            return {"value": await asyncio.wait_for(self.call(c), STEP_LIMIT)}
        except SwitchboardError as e:
            error = {"code": e.code, "message": e.message, "status_code": e.status_code}
            error |= {"retry_after": e.retry_after, "request_id": e.request_id, "class": type(e).__name__}
            return {"error": error}
        except Exception as e:  # anything but a typed error fails the scenario
            return {"fail": f"raised {type(e).__name__} instead of a SwitchboardError: {e!r}"}

    def local(self, c: Msg) -> LocalExecutor:
        handle = self.locals.get(c["on"])
        if handle is None:
            s = c["local"]
            try:
                handle = LocalExecutor(
                    s["connector"],
                    s["credentials"],
                    s["config"],
                    timeout=s.get("timeout"),
                    max_concurrent_requests=s.get("max_concurrent_requests"),
                )
            except SwitchboardError as e:
                handle = e
            self.locals[c["on"]] = handle
        if isinstance(handle, SwitchboardError):
            raise handle
        return handle

    def save(self, c: Msg, executor: Executor) -> None:
        if c.get("save_as") is not None:
            self.executors[c["save_as"]] = executor

    async def call(self, c: Msg) -> Any:
        call: str = c["call"]
        if call == "local.describe":
            s = c["local"]
            slug = self.local(c).slug
            return CONNECTORS[slug](s["credentials"], s["config"], timeout=s.get("timeout")).describe()
        if call.startswith("local."):
            executor: Executor = self.local(c)
        elif call.startswith("executor."):
            on = c.get("on")
            executor = self.executors[on] if on is not None else HostedExecutor(**c["target"], **c["client"])
        elif call == "connect":
            slug: str = c["slug"]
            conn = connect(slug, workspace_name=c["workspace_name"], connector_id=c.get("connector_id"), **c["client"])
            # connect() resolves lazily; the same lookup through HostedExecutor, now (README).
            by = {"connector_id": c["connector_id"]} if c.get("connector_id") else {"connector_definition_id": slug}
            info = await HostedExecutor(workspace_name=c["workspace_name"], **by, **c["client"]).connector_info()
            self.save(c, conn)
            return _info(info)
        else:
            ws = Workspace(workspace_name=c["workspace_name"], **c["client"])
            if call == "workspace.create_connector":
                return _info(await ws.find_connector(connector_id=await ws.create_connector(**c["connector"])))
            if call == "workspace.list_connectors":
                return [_info(i) for i in await ws.list_connectors()]
            if call == "workspace.get_connector":
                hosted = await ws.get_connector(**c["lookup"])
                info = await hosted.connector_info()
                self.save(c, hosted)
                return _info(info)
            await ws.delete_connector(c["connector_id"])
            return None
        if call.endswith(".execute"):
            r = await executor.execute(**c["request"])
            return {"data": r.data, "meta": r.meta}
        if call.endswith(".paginate"):
            return [{"data": p.data, "meta": p.meta} async for p in executor.paginate(**c["request"])]
        return (await executor.check()).data


@pytest.mark.timeout(1200)
async def test_conformance(capsys: pytest.CaptureFixture[str]) -> None:
    """Every scenario through the Python SDK. The kit fails a scenario this runner does not
    answer; one needing a capability Python lacks is reported as skipped."""
    caps = [arg for cap in CAPABILITIES for arg in ("--capability", cap)]
    cmd = [binary("conformance-kit"), "run", "--language", "python", "--engine-bin", binary("switchboard"), *caps]
    kit = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=child_env())
    assert kit.stdin is not None and kit.stdout is not None
    interpreter = Interpreter()
    done: Msg | None = None
    try:
        for line in kit.stdout:
            msg: Msg = json.loads(line)
            if msg["op"] == "scenario":
                interpreter.begin()
            elif msg["op"] == "step":
                kit.stdin.write(json.dumps(await interpreter.outcome(msg)) + "\n")
                kit.stdin.flush()
            else:
                done = msg
                break
    finally:
        kit.stdin.close()
        code = kit.wait(timeout=60)
    assert done is not None, f"the kit stopped without a report (exit code {code}); its stderr is above"
    with capsys.disabled():
        print(f"\n{done['summary']}")
    assert done["ok"] and code == 0, done["report"]
    if not os.environ.get("CONFORMANCE_FILTER"):
        assert done["passed"] >= 40, done["report"]
