"""The reference SDK's own connector specs load unchanged (issue 13's first point).

The reference package (``airbyte-agent-sdk`` on PyPI, pinned below) is downloaded into the test
cache only, without its dependencies and without installing it; its spec files are read from
the wheel into a temporary directory. Nothing of it enters the repository.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import binary, child_env

REFERENCE = "airbyte-agent-sdk==0.1.380"
WHEEL = "airbyte_agent_sdk-0.1.380-py3-none-any.whl"
#: How many connectors that version ships.
SHIPPED = 56


@pytest.fixture(scope="module")
def reference_specs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "switchboard-reference"
    wheel = cache / WHEEL
    if not wheel.exists():
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", REFERENCE, "-d", str(cache)]
        subprocess.run(cmd, check=True, timeout=300)
    out = tmp_path_factory.mktemp("reference-specs")
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            parts = name.split("/")
            if parts[:2] == ["airbyte_agent_sdk", "specs"] and name.endswith("/connector.yaml"):
                target = out / parts[2] / "connector.yaml"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(z.read(name))
    return out


def listing(specs: Path) -> list[dict[str, object]]:
    out = subprocess.run(
        [binary("switchboard"), "--specs", str(specs), "connectors", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(),
        check=True,
    )
    entries: list[dict[str, object]] = json.loads(out.stdout)
    return entries


def test_every_reference_spec_loads(reference_specs: Path) -> None:
    dirs = sorted(p.name for p in reference_specs.iterdir())
    assert len(dirs) == SHIPPED, dirs
    entries = listing(reference_specs)
    rejected = [e for e in entries if "file" in e]
    assert rejected == [], rejected
    loaded = {str(e["slug"]) for e in entries}
    # Directory names are the reference's slugs; every one is served (ours of the same slug are
    # replaced by the directory's, as documented).
    assert set(dirs) <= loaded, sorted(set(dirs) - loaded)


def test_a_bad_spec_fails_alone_and_is_listed_with_its_reason(reference_specs: Path, tmp_path: Path) -> None:
    mixed = tmp_path / "specs"
    mixed.mkdir()
    for slug in ("greenhouse", "slack"):
        (mixed / slug).mkdir()
        (mixed / slug / "connector.yaml").write_bytes((reference_specs / slug / "connector.yaml").read_bytes())
    (mixed / "broken.yaml").write_text("openapi: 3.1.0\ninfo: {title: Broken}\npaths: {}\n")
    entries = listing(mixed)
    assert {"greenhouse", "slack"} <= {str(e.get("slug")) for e in entries}
    (bad,) = [e for e in entries if "file" in e]
    assert str(bad["file"]).endswith("broken.yaml")
    error = bad["error"]
    assert isinstance(error, dict) and error["code"] == "configuration" and "x-connector-name" in str(error["message"])
    text = subprocess.run(
        [binary("switchboard"), "--specs", str(mixed), "connectors"],
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(),
        check=True,
    ).stdout
    assert "greenhouse" in text and "NOT LOADED" in text and "broken.yaml" in text
