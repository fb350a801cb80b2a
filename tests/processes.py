"""The processes Python-driven checks run against: the fake upstream APIs (tests/fake-upstream)
and a real `switchboard serve` on a fresh SQLite directory, each a child process of the Rust
binaries.

One helper for every Python harness of the repository: the Python package's tests
(bindings-python/tests/conftest.py wraps these in pytest fixtures) and the documentation checks
(tests/docs/, run by scripts/test-docs.sh). Standard library only, so the documentation checks
need no virtual environment.

The binaries come from ``SWITCHBOARD_BIN_DIR``, else ``$CARGO_TARGET_DIR/debug``, else
``~/.cache/switchboard-target/debug``.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The fake's credentials (tests/fake-upstream/src/lib.rs, module `creds`).
GITHUB_TOKEN = "ghp_fake_valid_token_0001"
STRIPE_KEY = "sk_test_fake_valid_0001"
HUBSPOT_PRIVATE_APP = "pat-na1-fake-valid-0001"
OAUTH_CLIENT_ID = "fake-client-id"
OAUTH_CLIENT_SECRET = "fake-client-secret"
OAUTH_INITIAL_REFRESH_TOKEN = "rt-initial-0001"
OAUTH_EXPIRED_ACCESS_TOKEN = "at-expired-0000"

#: How to build what `binary` looks for.
BUILD = "cargo build -p switchboard-engine -p fake-upstream -p conformance-kit"


class MissingBinary(RuntimeError):
    """A binary `binary` looked for is not built."""


def bin_dir() -> Path:
    if d := os.environ.get("SWITCHBOARD_BIN_DIR"):
        return Path(d)
    target = os.environ.get("CARGO_TARGET_DIR") or str(Path.home() / ".cache" / "switchboard-target")
    return Path(target) / "debug"


def binary(name: str) -> str:
    """The path of binary `name` in `bin_dir()`; `MissingBinary` when it is not there."""
    path = bin_dir() / name
    if not path.exists():
        raise MissingBinary(f"{path} is missing: run `{BUILD}` (or set SWITCHBOARD_BIN_DIR)")
    return str(path)


def child_env() -> dict[str, str]:
    """The environment of a child process, without any SWITCHBOARD_* setting of the caller (a
    database URL or master key from elsewhere must not leak into a throwaway engine)."""
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
    """Terminates `proc`, killing it if it has not ended 10 s later."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def spawn(args: list[str], log: Path) -> tuple[subprocess.Popen[str], Lines]:
    """Starts `args` with `child_env()`, stderr into `log`, stdout read line by line."""
    with log.open("w") as err:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True, env=child_env())
    return proc, Lines(proc, log)


def http_json(method: str, url: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        text = resp.read().decode()
    return json.loads(text) if text else None


def log_file(name: str) -> Path:
    """A fresh file for a child's stderr, under the system's temporary directory."""
    fd, path = tempfile.mkstemp(prefix=f"switchboard-{name}-", suffix=".log")
    os.close(fd)
    return Path(path)


@dataclass
class Fake:
    """The fake upstream APIs (tests/fake-upstream) and their control endpoints."""

    url: str
    proc: subprocess.Popen[str] | None = None
    #: A stderr log `start_fake` made, removed by `stop`.
    own_log: Path | None = None

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

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
        if self.own_log is not None:
            self.own_log.unlink(missing_ok=True)


def start_fake(log: Path | None = None) -> Fake:
    """The fake upstream on a free loopback port; its stderr goes to `log` (a fresh temporary
    file when not given)."""
    args = [binary("fake-upstream"), "--bind", "127.0.0.1:0"]
    path = log if log is not None else log_file("fake")
    proc, lines = spawn(args, path)
    fake = Fake("", proc, None if log is not None else path)
    try:
        while True:
            line = lines.next()
            if "listening on " in line:
                addr = line.split("listening on ", 1)[1].strip()
                fake.url = addr if addr.startswith("http") else f"http://{addr}"
                return fake
    except BaseException:
        fake.stop()
        raise


@dataclass
class Engine:
    """A `switchboard serve` process on SQLite, with its first application's credentials."""

    url: str
    client_id: str
    client_secret: str
    organization_id: str
    data_dir: str = ""
    proc: subprocess.Popen[str] | None = None
    #: A stderr log `start_engine` made, removed by `stop`.
    own_log: Path | None = None

    def client(self) -> dict[str, str]:
        """Keyword arguments for ``Workspace`` / ``HostedExecutor`` / ``connect``."""
        return {"client_id": self.client_id, "client_secret": self.client_secret, "base_url": self.url}

    def stop(self) -> None:
        """Stops the engine and removes its data directory."""
        if self.proc is not None:
            stop(self.proc)
        if self.data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        if self.own_log is not None:
            self.own_log.unlink(missing_ok=True)


def start_engine(*extra: str, log: Path | None = None) -> Engine:
    """`switchboard serve` on a free loopback port and a fresh SQLite data directory, with
    `extra` flags; its stderr goes to `log` (a fresh temporary file when not given). Returns once
    it listens, with its first application's client credentials."""
    exe = binary("switchboard")
    data_dir = tempfile.mkdtemp(prefix="switchboard-engine-")
    args = [exe, "serve", "--bind", "127.0.0.1:0", "--data-dir", data_dir, *extra]
    path = log if log is not None else log_file("engine")
    own_log = None if log is not None else path
    try:
        proc, lines = spawn(args, path)
    except BaseException:
        shutil.rmtree(data_dir, ignore_errors=True)
        if own_log is not None:
            own_log.unlink(missing_ok=True)
        raise
    engine = Engine("", "", "", "", data_dir, proc, own_log)
    try:
        first: dict[str, str] | None = None
        while True:
            line = lines.next().strip()
            if not line.startswith("{"):
                continue
            msg = json.loads(line)
            first = msg.get("first_application", first)
            if "listening" in msg:
                if first is None:
                    raise RuntimeError("the engine printed no first application")
                engine.url = msg["listening"]
                engine.client_id = first["client_id"]
                engine.client_secret = first["client_secret"]
                engine.organization_id = first.get("organization_id", "")
                return engine
    except BaseException:
        engine.stop()
        raise
