"""What `pip install .` builds: the release profile for users; tests opt into the ci profile."""

from __future__ import annotations

import os
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
