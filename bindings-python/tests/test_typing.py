"""pyright knows every entity, action and param of the typed connectors: misuse is an error."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

MISUSE = textwrap.dedent(
    """
    from switchboard.connectors import GithubConnector, StripeConnector

    async def main() -> None:
        gh = GithubConnector(credentials={})
        await gh.issuez.list(owner="o", repo="r")             # unknown entity
        await gh.issues.lst(owner="o", repo="r")              # unknown action
        await gh.issues.list(owner="o")                       # missing required param
        await gh.issues.list(owner="o", repo="r", colour=1)   # unknown param
        await gh.issues.list(owner="o", repo="r", per_page="many")    # wrong type
        await gh.issues.list(owner="o", repo="r", states=["SOMETIMES"])  # not in the enum
        await StripeConnector(credentials={}).customers.get()  # missing id
        (await gh.issues.list(owner="o", repo="r")).data[0].titel  # unknown record field
        x: int = (await gh.issues.list(owner="o", repo="r")).data[0].title  # wrong record type
    """
)


def pyright() -> str | None:
    exe = Path(sys.executable).parent / "pyright"
    return str(exe) if exe.exists() else shutil.which("pyright")


@pytest.mark.skipif(pyright() is None, reason="pyright is not installed")
def test_pyright_rejects_misuse(tmp_path: Path) -> None:
    (tmp_path / "misuse.py").write_text(MISUSE)
    (tmp_path / "pyrightconfig.json").write_text(json.dumps({"pythonVersion": "3.10"}))
    exe = pyright()
    assert exe is not None
    proc = subprocess.run(
        [exe, "--outputjson", "--pythonpath", sys.executable, str(tmp_path / "misuse.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(proc.stdout)
    errors = [d for d in report["generalDiagnostics"] if d["severity"] == "error"]
    lines = sorted({d["range"]["start"]["line"] for d in errors})
    source = MISUSE.splitlines()
    flagged = [source[i].split("#")[-1].strip() for i in lines]
    assert flagged == [
        "unknown entity",
        "unknown action",
        "missing required param",
        "unknown param",
        "wrong type",
        "not in the enum",
        "missing id",
        "unknown record field",
        "wrong record type",
    ], [d["message"] for d in errors]
