"""`_native.pyi` describes the native module exactly: the same functions, classes and methods
(a small stubtest: pyright trusts the stub, so a stale one would hide errors)."""

from __future__ import annotations

import ast
from pathlib import Path

from switchboard import _native

STUB = Path(__file__).resolve().parents[1] / "python" / "switchboard" / "_native.pyi"


def stub_names() -> dict[str, set[str] | None]:
    """Top-level names of the stub; for classes, their method and property names."""
    out: dict[str, set[str] | None] = {}
    for node in ast.parse(STUB.read_text()).body:
        if isinstance(node, ast.ClassDef):
            out[node.name] = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
        elif isinstance(node, ast.FunctionDef):
            out[node.name] = None
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = None
    return out


def test_the_stub_matches_the_native_module() -> None:
    stub = stub_names()
    native = {n for n in dir(_native) if not n.startswith("_") or n in ("__version__", "__optimized__")}
    assert set(stub) == native
    for name, members in stub.items():
        if members is None or name == "NativeError":
            continue
        cls = getattr(_native, name)
        actual = {m for m in vars(cls) if not m.startswith("_") or m in ("__aiter__", "__anext__", "__init__")}
        if "__init__" in members:
            actual.add("__init__")  # pyo3's #[new] is __new__; the stub spells it __init__
        assert members == actual, name
