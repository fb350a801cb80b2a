"""What `pip install .` builds: the release profile for users; tests opt into the ci profile."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from switchboard import _native

ROOT = Path(__file__).resolve().parents[2]


def test_pip_install_builds_release_unless_tests_opt_out() -> None:
    if sys.version_info >= (3, 11):
        import tomllib

        maturin = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["maturin"]
        # maturin's PEP 517 backend builds release unless told otherwise.
        assert maturin.get("profile", "release") == "release", maturin
    # scripts/test-python.sh builds with MATURIN_PEP517_ARGS="--profile ci" and says so here.
    expected = os.environ.get("SWITCHBOARD_EXPECT_PROFILE", "release")
    assert _native.__optimized__ == (expected == "release"), (expected, _native.__optimized__)


def test_import_loads_no_connector_module_no_record_module_and_no_asyncio() -> None:
    """``import switchboard`` stays cheap (measured: ~30 ms median under load, see the issue 10
    note): the typed connectors, their record classes and asyncio load on first use only."""
    script = (
        "import sys, switchboard\n"
        "heavy = [m for m in sys.modules if m.startswith('switchboard.connectors.') or m == 'asyncio']\n"
        "print(','.join(sorted(heavy)))\n"
        "from switchboard.connectors import GongConnector\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith('switchboard.connectors.'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    before, after = out.stdout.splitlines()
    assert before == "", f"imported eagerly: {before}"
    assert after == "switchboard.connectors.gong", after
