"""Fixtures: the fake upstream APIs and a real engine, each a subprocess of the Rust binaries.

The processes themselves are started by tests/processes.py, the one helper the Python package's
tests and the documentation checks share; this wraps them in pytest fixtures. The binaries come
from ``SWITCHBOARD_BIN_DIR``, else ``$CARGO_TARGET_DIR/debug``, else
``~/.cache/switchboard-target/debug`` (``cargo build -p switchboard-engine -p fake-upstream -p
conformance-kit``).
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
import processes  # noqa: E402
from processes import (  # noqa: E402,F401  (re-exported to the test modules)
    GITHUB_TOKEN,
    HUBSPOT_PRIVATE_APP,
    OAUTH_CLIENT_ID,
    OAUTH_CLIENT_SECRET,
    OAUTH_EXPIRED_ACCESS_TOKEN,
    OAUTH_INITIAL_REFRESH_TOKEN,
    STRIPE_KEY,
    Engine,
    Fake,
    Lines,
    bin_dir,
    child_env,
    http_json,
    stop,
)


def binary(name: str) -> str:
    """The path of a built binary; ends the run (exit 2) when it is not built."""
    try:
        return processes.binary(name)
    except processes.MissingBinary as e:
        pytest.exit(str(e), returncode=2)


@pytest.fixture(scope="session")
def fake_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fake]:
    binary("fake-upstream")
    fake = processes.start_fake(tmp_path_factory.mktemp("fake") / "stderr.log")
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def fake(fake_server: Fake) -> Fake:
    """The fake, reset (data, tokens, faults, recorded requests) before the test."""
    fake_server.reset()
    return fake_server


#: Application token lifetime of the test engine, in seconds (short, to see renewals).
TOKEN_TTL = 3


def serve(tmp_path_factory: pytest.TempPathFactory, *extra: str) -> Iterator[Engine]:
    """Runs `switchboard serve` on a fresh SQLite data directory until the generator closes."""
    binary("switchboard")
    engine = processes.start_engine(
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
        log=tmp_path_factory.mktemp("engine") / "stderr.log",
    )
    try:
        yield engine
    finally:
        engine.stop()


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
