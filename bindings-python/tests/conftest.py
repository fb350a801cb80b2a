"""Fixtures: the fake upstream APIs and a real engine, each a subprocess of the Rust binaries.

The binaries come from ``SWITCHBOARD_BIN_DIR``, else ``$CARGO_TARGET_DIR/debug``, else
``~/.cache/switchboard-target/debug`` (``cargo build -p switchboard-engine -p fake-upstream -p
conformance-kit``).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import socket
import subprocess
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


def bin_dir() -> Path:
    if d := os.environ.get("SWITCHBOARD_BIN_DIR"):
        return Path(d)
    target = os.environ.get("CARGO_TARGET_DIR") or str(Path.home() / ".cache" / "switchboard-target")
    return Path(target) / "debug"


def binary(name: str) -> str:
    path = bin_dir() / name
    if not path.exists():
        build = "cargo build -p switchboard-engine -p fake-upstream -p conformance-kit"
        pytest.exit(f"{path} is missing: run `{build}`", returncode=2)
    return str(path)


def child_env() -> dict[str, str]:
    """The environment of a child process, without any SWITCHBOARD_* setting of the caller (a
    database URL or master key from elsewhere must not leak into the test engine)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env["SWITCHBOARD_LOG"] = "warn"
    return env


class Lines:
    """Reads a child's stdout lines on a thread, so waiting for one can time out; when the
    child dies or stays silent, the error shows the end of its stderr log."""

    def __init__(self, proc: subprocess.Popen[str], log: Path) -> None:
        self.q: queue.Queue[str | None] = queue.Queue()
        self.proc, self.log = proc, log
        assert proc.stdout is not None
        out = proc.stdout

        def pump() -> None:
            for line in out:
                self.q.put(line)
            self.q.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def next(self, timeout: float = 60) -> str:
        try:
            line = self.q.get(timeout=timeout)
        except queue.Empty:
            line = None
        if line is None:
            tail = self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""
            raise RuntimeError(f"{self.proc.args!r} did not start as expected; its stderr ends with:\n{tail}")
        return line


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def http_json(method: str, url: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        text = resp.read().decode()
    return json.loads(text) if text else None


@dataclass
class Fake:
    """The fake upstream APIs (tests/fake-upstream) and their control endpoints."""

    url: str

    def base(self, slug: str) -> str:
        """An API's base URL on the fake, for ``config={"base_url": ...}``."""
        return f"{self.url}/{slug}"

    def reset(self) -> None:
        http_json("POST", f"{self.url}/_control/reset", {})
        http_json("DELETE", f"{self.url}/_control/requests")

    def fault(self, **fault: Any) -> None:
        http_json("POST", f"{self.url}/_control/faults", fault)

    def oauth(self, api: str) -> dict[str, Any]:
        return http_json("GET", f"{self.url}/_control/oauth/{api}")

    def requests(self, prefix: str | None = None) -> list[dict[str, Any]]:
        reqs: list[dict[str, Any]] = http_json("GET", f"{self.url}/_control/requests")
        if prefix is None:
            return reqs
        return [r for r in reqs if r["path"].startswith(f"/{prefix}/")]


@pytest.fixture(scope="session")
def fake_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fake]:
    log = tmp_path_factory.mktemp("fake") / "stderr.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [binary("fake-upstream"), "--bind", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=child_env(),
        )
    try:
        lines = Lines(proc, log)
        while True:
            line = lines.next()
            if "listening on " in line:
                addr = line.split("listening on ", 1)[1].strip()
                break
        yield Fake(url=addr if addr.startswith("http") else f"http://{addr}")
    finally:
        stop(proc)


@pytest.fixture
def fake(fake_server: Fake) -> Fake:
    """The fake, reset (data, tokens, faults, recorded requests) before the test."""
    fake_server.reset()
    return fake_server


@dataclass
class Engine:
    """A `switchboard serve` process on SQLite, with its first application's credentials."""

    url: str
    client_id: str
    client_secret: str
    organization_id: str

    def client(self) -> dict[str, str]:
        """Keyword arguments for ``Workspace`` / ``HostedExecutor`` / ``connect``."""
        return {"client_id": self.client_id, "client_secret": self.client_secret, "base_url": self.url}


#: Application token lifetime of the test engine, in seconds (short, to see renewals).
TOKEN_TTL = 3


def serve(tmp_path_factory: pytest.TempPathFactory, *extra: str) -> Iterator[Engine]:
    """Runs `switchboard serve` on a fresh SQLite data directory until the generator closes."""
    data_dir = tempfile.mkdtemp(prefix="switchboard-py-engine-")
    log = tmp_path_factory.mktemp("engine") / "stderr.log"
    err = log.open("w")
    proc = subprocess.Popen(
        [
            binary("switchboard"),
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            data_dir,
            "--egress-allow",
            "127.0.0.1",
            "--application-token-ttl",
            str(TOKEN_TTL),
            "--rate-limit",
            "10000",
            "--rate-burst",
            "10000",
            # Many short-lived clients fetch tokens: raise the token endpoint's limits too.
            "--token-rate-limit",
            "10000",
            "--token-rate-burst",
            "10000",
            "--token-address-rate-limit",
            "10000",
            "--token-address-rate-burst",
            "10000",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=err,
        text=True,
        env=child_env(),
    )
    err.close()
    try:
        lines = Lines(proc, log)
        first: dict[str, str] | None = None
        url: str | None = None
        while url is None:
            line = lines.next().strip()
            if not line.startswith("{"):
                continue
            msg = json.loads(line)
            if "first_application" in msg:
                first = msg["first_application"]
            if "listening" in msg:
                url = msg["listening"]
        assert first is not None, "the engine printed no first application"
        yield Engine(
            url=url,
            client_id=first["client_id"],
            client_secret=first["client_secret"],
            organization_id=first["organization_id"],
        )
    finally:
        stop(proc)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    yield from serve(tmp_path_factory)


_workspace_counter = 0


@pytest.fixture
def workspace_name() -> str:
    """A workspace name no other test uses."""
    global _workspace_counter
    _workspace_counter += 1
    return f"py-{os.getpid()}-{_workspace_counter}"


@pytest.fixture
def closed_url() -> str:
    """``http://127.0.0.1:PORT`` where nothing listens."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


# The fake's credentials (tests/fake-upstream/src/lib.rs, module `creds`).
GITHUB_TOKEN = "ghp_fake_valid_token_0001"
STRIPE_KEY = "sk_test_fake_valid_0001"
HUBSPOT_PRIVATE_APP = "pat-na1-fake-valid-0001"
OAUTH_CLIENT_ID = "fake-client-id"
OAUTH_CLIENT_SECRET = "fake-client-secret"
OAUTH_INITIAL_REFRESH_TOKEN = "rt-initial-0001"
OAUTH_EXPIRED_ACCESS_TOKEN = "at-expired-0000"
