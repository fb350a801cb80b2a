"""Schemathesis against a real engine: every operation of /api/v1/openapi.json, generated
requests with an application token, no 5xx answer and every answer as the document declares.

The engine is a `switchboard serve` process of its own (the shared one's 3 s application
tokens would expire mid-run), on SQLite, with the rate limits raised out of the way.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from .conftest import Lines, binary, child_env, http_json, stop

#: Generated cases per operation: enough to reach every branch of the handlers' parsing, small
#: enough that the whole run stays well under a minute and a half.
MAX_EXAMPLES = 20


class Served:
    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.cases = 0
        self.operations: set[str] = set()
        self.statuses: dict[int, int] = {}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data_dir = tempfile.mkdtemp(prefix="switchboard-schemathesis-")
    log = tmp_path_factory.mktemp("schemathesis-engine") / "stderr.log"
    limits = ["--rate-limit", "--rate-burst", "--token-rate-limit", "--token-rate-burst"]
    limits += ["--token-address-rate-limit", "--token-address-rate-burst"]
    args = [binary("switchboard"), "serve", "--bind", "127.0.0.1:0", "--data-dir", data_dir]
    args += ["--egress-allow", "127.0.0.1"]
    for flag in limits:
        args += [flag, "100000"]
    with log.open("w") as err:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True, env=child_env())
    try:
        lines = Lines(proc, log)
        first: dict[str, str] | None = None
        url: str | None = None
        while url is None:
            line = lines.next().strip()
            if line.startswith("{"):
                msg = json.loads(line)
                first = msg.get("first_application", first)
                url = msg.get("listening")
        assert first is not None, "the engine printed no first application"
        creds = {"client_id": first["client_id"], "client_secret": first["client_secret"]}
        token: str = http_json("POST", f"{url}/api/v1/applications/token", creds)["access_token"]
        s = Served(url, token)
        yield s
        print(f"\nschemathesis: {s.cases} cases over {len(s.operations)} operations, statuses {dict(sorted(s.statuses.items()))}")
        assert s.cases > 0
    finally:
        stop(proc)
        shutil.rmtree(data_dir, ignore_errors=True)
        _print_5xx_log(log)


def _print_5xx_log(log: Path) -> None:
    """The engine's error lines, so a 5xx found here can be traced."""
    if log.exists():
        errors = [ln for ln in log.read_text(errors="replace").splitlines() if '"ERROR"' in ln]
        if errors:
            print("engine errors:\n" + "\n".join(errors[-20:]))


@pytest.mark.timeout(150)
def test_no_server_error_and_answers_match_the_schema(served: Served) -> None:
    # Schemathesis's own pytest integration (lazy schemas from fixtures) does not run on this
    # pytest, so each operation's strategy drives a plain Hypothesis test here.
    api = schemathesis.openapi.from_url(f"{served.url}/api/v1/openapi.json")
    headers = {"authorization": f"Bearer {served.token}"}
    failures: list[str] = []
    for result in api.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=timedelta(seconds=5),
            suppress_health_check=list(HealthCheck),
            database=None,
            phases=[Phase.explicit, Phase.generate],
        )
        def run(case: Any) -> None:
            served.cases += 1
            served.operations.add(f"{case.method} {case.path}")
            response = case.call_and_validate(
                base_url=served.url,
                headers=headers,
                checks=[not_a_server_error, response_schema_conformance],
                timeout=10,
            )
            served.statuses[response.status_code] = served.statuses.get(response.status_code, 0) + 1

        try:
            run()
        except Exception as e:  # every operation runs; the failures are listed at the end
            failures.append(f"{operation.method.upper()} {operation.path}: {e}")
    assert not failures, "\n\n".join(failures)
