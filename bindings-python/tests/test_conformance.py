"""The cross-language conformance suite, Python side.

Every scenario of ``tests/conformance/*.yaml`` (format: ``tests/conformance/README.md``; the
reference runner is ``engine/tests/conformance.rs``) runs here as one pytest test, through the
public Python SDK: ``LocalExecutor`` and the typed connectors (``describe``), ``Workspace``,
``HostedExecutor`` and ``connect``. One fake upstream and one engine (SQLite, ``--egress-allow
127.0.0.1``, a rate limit that never triggers) are started for the module; the fake is reset
before every scenario and each scenario gets a workspace of its own.

The files are parsed and checked when the module is collected: a file that does not parse, or a
scenario with an unknown key, method, argument, expectation, capability, error code or
placeholder, fails the module before anything runs. ``CONFORMANCE_FILTER=text`` runs only the
scenarios whose name contains ``text``; ``CONFORMANCE_DIR`` reads the files from elsewhere.

How the neutral methods map onto the Python SDK (SDK.md):

- ``local.*``: ``LocalExecutor(connector, credentials, config, timeout=...)``, built on first use;
  ``local.describe`` is ``describe()`` of the typed connector class of that slug.
- ``workspace.*``: ``Workspace(workspace_name=..., client_id=..., client_secret=..., base_url=...)``.
  ``create_connector`` returns the new id (SDK.md); the value compared is then
  ``find_connector(connector_id=id)``. ``get_connector`` returns an executor; its value is
  ``connector_info()`` (the lookup runs in that step).
- ``executor.*``: a saved executor, ``HostedExecutor(connector_id=...)`` or
  ``HostedExecutor(workspace_name=..., connector_definition_id=...)``.
- ``connect``: ``connect(slug, workspace_name=..., connector_id=...)`` (a typed connector running
  through the engine, saved for later steps). Its value is the connector it resolves to:
  ``connector_info()`` when the typed connector offers it, else the same lookup through
  ``HostedExecutor`` (the typed connector itself resolves lazily, on first use).
- Errors are ``SwitchboardError`` subclasses, compared by ``.code``, ``.message``,
  ``.status_code``, ``.retry_after`` and ``.request_id``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

try:
    import yaml
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "the conformance runner needs PyYAML (installed with langchain-core from requirements-test.txt)"
    ) from e

import switchboard
from switchboard import HostedExecutor, LocalExecutor, SwitchboardError, Workspace, connect
from switchboard.connectors import CONNECTORS

from .conftest import Lines, binary, child_env, stop

#: The scenario files (``CONFORMANCE_DIR`` overrides, e.g. to try a new file).
CONFORMANCE_DIR = Path(os.environ.get("CONFORMANCE_DIR") or Path(__file__).resolve().parents[2] / "tests" / "conformance")

#: Optional SDK surface a scenario may need (README "Capabilities"): all known ones, and
#: whether the Python SDK has them. ``LocalExecutor(..., timeout=)`` and
#: ``HostedExecutor/Workspace(..., timeout=)`` give both.
KNOWN_CAPABILITIES = ("local_timeout", "hosted_timeout")
PYTHON_CAPABILITIES = {"local_timeout", "hosted_timeout"}

#: The fake's API prefixes, usable as ``{fake.<slug>}``.
APIS = ("github", "stripe", "hubspot", "gong", "linear")

#: ``fake_upstream::creds``, lower-cased (tests/fake-upstream/src/lib.rs).
CREDS = {
    "github_token": "ghp_fake_valid_token_0001",
    "stripe_key": "sk_test_fake_valid_0001",
    "hubspot_private_app": "pat-na1-fake-valid-0001",
    "gong_access_key": "gong-access-key-0001",
    "gong_access_secret": "gong-access-secret-0001",
    "linear_api_key": "lin_api_fake_valid_0001",
    "oauth_client_id": "fake-client-id",
    "oauth_client_secret": "fake-client-secret",
    "oauth_initial_refresh_token": "rt-initial-0001",
    "oauth_expired_access_token": "at-expired-0000",
}

#: The longest a single step may take before the scenario fails.
STEP_LIMIT = 60.0

# --------------------------------------------------------------------------- YAML (1.2 core schema)


class _Loader(yaml.SafeLoader):
    """A safe loader with YAML 1.2 core-schema scalars (as serde's YAML parser): ``on``, ``yes``,
    ``no`` stay strings, no sexagesimal numbers or timestamps; duplicate keys are an error."""


_Loader.yaml_implicit_resolvers = {}
for _tag, _regexp, _first in [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
]:
    _Loader.add_implicit_resolver(_tag, re.compile(_regexp), list(_first))


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    v = str(loader.construct_scalar(node))
    if v.startswith("0o"):
        return int(v[2:], 8)
    if v.startswith("0x"):
        return int(v[2:], 16)
    return int(v)


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise yaml.constructor.ConstructorError(
                None, None, f"a key must be a string, got {key!r}", key_node.start_mark
            )
        if key in out:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        out[key] = loader.construct_object(value_node, deep=True)
    return out


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)


class Malformed(Exception):
    """A scenario file that cannot be run."""


def parse(text: str) -> dict[str, Any]:
    """A file's document, checked against the format's structure (unknown keys, types)."""
    try:
        doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as e:
        raise Malformed(f"malformed: {e}") from None
    problems: list[str] = []
    _check_struct(doc, FILE_SHAPE, "", problems)
    if problems:
        raise Malformed("malformed: " + "; ".join(problems))
    return doc


# --------------------------------------------------------------------------- the format's structure
# A shape is a type name ("str", "bool", "uint", "number", "any", "map" = an object of anything),
# ("list", shape), ("dict", shape) = an object with that shape as values, or a struct:
# {"fields": {name: shape}, "required": {names}}.

EXPECT_ERROR_SHAPE: dict[str, Any] = {
    "fields": {
        "code": "str",
        "message_contains": "str",
        "message_excludes": ("list", "str"),
        "status_code": "uint",
        "retry_after": "number",
        "request_id": "bool",
    },
    "required": {"code"},
}
EXPECT_SHAPE: dict[str, Any] = {
    "fields": {
        "error": EXPECT_ERROR_SHAPE,
        "data": "any",
        "data_equals": "any",
        "absent": ("list", "str"),
        "data_len": "uint",
        "meta": "any",
        "pages": "uint",
        "total": "uint",
        "page_lengths": ("list", "uint"),
        "records": "any",
        "value": "any",
        "count": "uint",
        "contains": ("list", "str"),
    },
    "required": set(),
}
STEP_SHAPE: dict[str, Any] = {
    "fields": {
        "call": "str",
        "on": "str",
        "args": "map",
        "client": {"fields": {"client_id": "str", "client_secret": "str", "timeout_ms": "uint"}, "required": set()},
        "save_as": "str",
        "expect": EXPECT_SHAPE,
    },
    "required": {"call"},
}
LOCAL_SHAPE: dict[str, Any] = {
    "fields": {
        "connector": "str",
        "credentials": "any",
        "config": "any",
        "options": {"fields": {"timeout_ms": "uint"}, "required": set()},
    },
    "required": {"connector", "credentials"},
}
SETUP_SHAPE: dict[str, Any] = {
    "fields": {"engine": "bool", "faults": ("list", "any"), "oauth": ("list", "any"), "connectors": ("list", "map")},
    "required": set(),
}
SCENARIO_SHAPE: dict[str, Any] = {
    "fields": {
        "name": "str",
        "description": "str",
        "requires": ("list", "str"),
        "setup": SETUP_SHAPE,
        "local": ("dict", LOCAL_SHAPE),
        "steps": ("list", STEP_SHAPE),
    },
    "required": {"name", "steps"},
}
FILE_SHAPE: dict[str, Any] = {
    "fields": {"description": "str", "scenarios": ("list", SCENARIO_SHAPE)},
    "required": {"scenarios"},
}


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_struct(v: Any, shape: Any, at: str, problems: list[str]) -> None:
    where = at or "the document"
    if isinstance(shape, dict):
        if not isinstance(v, dict):
            problems.append(f"{where}: expected an object, got {_short(v)}")
            return
        fields: dict[str, Any] = shape["fields"]
        for k, x in v.items():
            if k not in fields:
                problems.append(f"{where}: unknown field `{k}` (expected one of {', '.join(fields)})")
            elif x is not None:  # null is absent, as serde's Option
                _check_struct(x, fields[k], f"{at}.{k}" if at else k, problems)
        for k in sorted(shape["required"]):
            if v.get(k) is None:
                problems.append(f"{where}: missing field `{k}`")
        return
    if isinstance(shape, tuple):
        kind, inner = shape
        if kind == "list":
            if not isinstance(v, list):
                problems.append(f"{where}: expected a list, got {_short(v)}")
                return
            for i, x in enumerate(v):
                _check_struct(x, inner, f"{at}[{i}]", problems)
        else:
            if not isinstance(v, dict):
                problems.append(f"{where}: expected an object, got {_short(v)}")
                return
            for k, x in v.items():
                _check_struct(x, inner, f"{at}.{k}", problems)
        return
    ok = {
        "str": isinstance(v, str),
        "bool": isinstance(v, bool),
        "uint": isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "number": _is_num(v),
        "map": isinstance(v, dict),
        "any": True,
    }[shape]
    if not ok:
        problems.append(f"{where}: expected {shape}, got {_short(v)}")


# --------------------------------------------------------------------------- the methods


@dataclass(frozen=True)
class Method:
    target: str  # "local" | "workspace" | "executor" | "none"
    required: tuple[str, ...]
    optional: tuple[str, ...]
    expect: tuple[str, ...]  # result keys `expect` may use besides `error`
    saves: str  # "nothing" | "id" | "executor"
    hosted: bool


EXEC_ARGS = ("params", "select_fields", "exclude_fields", "skip_truncation")
TARGET_ARGS = ("connector_id", "workspace_name", "connector_definition_id")
EXEC_EXPECT = ("data", "data_equals", "absent", "data_len", "meta")
PAGES_EXPECT = ("pages", "total", "page_lengths", "records")
VALUE_EXPECT = ("value", "count")

METHODS: dict[str, Method] = {
    "local.execute": Method("local", ("entity", "action"), EXEC_ARGS, EXEC_EXPECT, "nothing", False),
    "local.paginate": Method("local", ("entity", "action"), EXEC_ARGS, PAGES_EXPECT, "nothing", False),
    "local.check": Method("local", (), (), VALUE_EXPECT, "nothing", False),
    "local.describe": Method("local", (), (), ("contains",), "nothing", False),
    "workspace.create_connector": Method(
        "workspace",
        ("connector_type", "credentials"),
        ("name", "replication_config", "config", "workspace_name"),
        VALUE_EXPECT,
        "id",
        True,
    ),
    "workspace.list_connectors": Method("workspace", (), ("workspace_name",), VALUE_EXPECT, "nothing", True),
    "workspace.get_connector": Method(
        "workspace", (), ("connector_id", "name", "workspace_name"), VALUE_EXPECT, "executor", True
    ),
    "workspace.delete_connector": Method("workspace", ("connector_id",), ("workspace_name",), (), "nothing", True),
    "executor.execute": Method("executor", ("entity", "action"), EXEC_ARGS + TARGET_ARGS, EXEC_EXPECT, "nothing", True),
    "executor.paginate": Method(
        "executor", ("entity", "action"), EXEC_ARGS + TARGET_ARGS, PAGES_EXPECT, "nothing", True
    ),
    "executor.check": Method("executor", (), TARGET_ARGS, VALUE_EXPECT, "nothing", True),
    "connect": Method("none", ("slug",), ("workspace_name", "connector_id"), VALUE_EXPECT, "executor", True),
    "fake.oauth": Method("none", ("api",), (), VALUE_EXPECT, "nothing", False),
    "fake.requests": Method("none", (), ("prefix",), VALUE_EXPECT, "nothing", False),
}

CREATE_CONNECTOR_KEYS = ("save_as", "connector_type", "credentials", "name", "replication_config", "config")
RESULT_KEYS = (
    "data",
    "data_equals",
    "absent",
    "data_len",
    "meta",
    "pages",
    "total",
    "page_lengths",
    "records",
    "value",
    "count",
    "contains",
)


def expect_keys(expect: dict[str, Any]) -> list[str]:
    """The result keys (not ``error``) an expectation uses (``absent`` and ``contains`` only
    when not empty, as the Rust runner's defaulted lists)."""
    return [
        k
        for k in RESULT_KEYS
        if expect.get(k) is not None and not (k in ("absent", "contains") and expect[k] == [])
    ]


# --------------------------------------------------------------------------- placeholders


def tokens(s: str) -> list[tuple[int, int, str]]:
    """The ``{name}`` tokens of ``s``: a letter or ``_``, then letters, digits, ``_ . :``."""
    out: list[tuple[int, int, str]] = []
    start = 0
    while True:
        open_ = s.find("{", start)
        if open_ < 0:
            break
        close = s.find("}", open_)
        if close < 0:
            break
        inner = s[open_ + 1 : close]
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.:]*", inner):
            out.append((open_, close + 1, inner))
            start = close + 1
        else:
            start = open_ + 1
    return out


def placeholders_in(v: Any, out: list[str]) -> None:
    if isinstance(v, str):
        out.extend(name for _, _, name in tokens(v))
    elif isinstance(v, list):
        for x in v:
            placeholders_in(x, out)
    elif isinstance(v, dict):
        for x in v.values():
            placeholders_in(x, out)


def repeat_count(name: str) -> int | None:
    if not name.startswith("repeat:"):
        return None
    n = name[len("repeat:") :]
    return int(n) if n.isdigit() else None


def builtin_placeholder(name: str) -> bool:
    return (
        name in ("fake", "fake_localhost", "closed", "workspace")
        or (name.startswith("fake.") and name[len("fake.") :] in APIS)
        or (name.startswith("creds.") and name[len("creds.") :] in CREDS)
        or repeat_count(name) is not None
    )


# --------------------------------------------------------------------------- checking


def validate(files: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Every problem of the scenarios in ``files``, without running anything."""
    problems: list[str] = []
    names: dict[str, str] = {}
    for file, doc in files:
        if not doc["scenarios"]:
            problems.append(f"{file}: no scenarios")
        for sc in doc["scenarios"]:
            at = f"{file}: {sc['name']!r}"
            if not sc["name"].strip():
                problems.append(f"{file}: a scenario without a name")
            if sc["name"] in names:
                problems.append(f"{at}: the name is also used in {names[sc['name']]}")
            names.setdefault(sc["name"], file)
            problems.extend(f"{at}: {p}" for p in validate_scenario(sc))
    return problems


def _q(s: str) -> str:
    return json.dumps(s)


def validate_scenario(sc: dict[str, Any]) -> list[str]:
    p: list[str] = []
    requires: list[str] = sc.get("requires") or []
    for r in requires:
        if r not in KNOWN_CAPABILITIES:
            p.append(f"unknown capability {_q(r)} (known: {', '.join(KNOWN_CAPABILITIES)})")
    setup: dict[str, Any] = sc.get("setup") or {}
    local: dict[str, Any] = sc.get("local") or {}
    steps: list[dict[str, Any]] = sc["steps"]
    engine = bool(setup.get("engine"))
    if not steps:
        p.append("no steps")
    ids: set[str] = set()
    executors: set[str] = set()
    connectors: list[dict[str, Any]] = setup.get("connectors") or []
    if connectors and not engine:
        p.append("setup.connectors needs setup.engine: true")
    for i, c in enumerate(connectors):
        for k in c:
            if k not in CREATE_CONNECTOR_KEYS:
                p.append(f"setup.connectors[{i}]: unknown key {_q(k)}")
        for k in ("save_as", "connector_type", "credentials"):
            if k not in c:
                p.append(f"setup.connectors[{i}]: {k} is required")
        if isinstance(c.get("save_as"), str):
            ids.add(c["save_as"])
    for name, h in local.items():
        if (h.get("options") or {}).get("timeout_ms") is not None and "local_timeout" not in requires:
            p.append(f"local.{name}.options.timeout_ms needs requires: [local_timeout]")
    for i, step in enumerate(steps):
        at = f"step {i + 1} ({step['call']})"
        m = METHODS.get(step["call"])
        if m is None:
            p.append(f"{at}: unknown method (known: {', '.join(METHODS)})")
            continue
        args: dict[str, Any] = step.get("args") or {}
        on: str | None = step.get("on")
        if m.hosted and not engine:
            p.append(f"{at}: a hosted method needs setup.engine: true")
        for k in args:
            if k not in m.required and k not in m.optional:
                p.append(f"{at}: unknown argument {_q(k)}")
        for k in m.required:
            if k not in args:
                p.append(f"{at}: argument {_q(k)} is required")
        if m.target == "local":
            if on is None:
                p.append(f"{at}: `on` must name a local handle")
            elif on not in local:
                p.append(f"{at}: no local handle {_q(on)}")
        elif m.target == "executor":
            if on is not None:
                if on not in executors:
                    p.append(f"{at}: no executor {_q(on)} saved by an earlier get_connector or connect")
                if any(k in args for k in TARGET_ARGS):
                    p.append(f"{at}: `on` and {' / '.join(TARGET_ARGS)} exclude each other")
            else:
                by_id = "connector_id" in args
                by_def = "connector_definition_id" in args
                if by_id == by_def:
                    p.append(
                        f"{at}: name the executor with `on`, connector_id, or workspace_name + connector_definition_id"
                    )
                if by_id and "workspace_name" in args:
                    p.append(f"{at}: workspace_name goes with connector_definition_id, not connector_id")
        elif on is not None:
            p.append(f"{at}: `on` is not used by this method")
        if step["call"] == "workspace.get_connector" and ("connector_id" in args) == ("name" in args):
            p.append(f"{at}: give exactly one of connector_id and name")
        client: dict[str, Any] | None = step.get("client")
        if client is not None:
            if not m.hosted:
                p.append(f"{at}: `client` is only for hosted methods")
            if client.get("timeout_ms") is not None and "hosted_timeout" not in requires:
                p.append(f"{at}: client.timeout_ms needs requires: [hosted_timeout]")
        save_as: str | None = step.get("save_as")
        if save_as is not None:
            if m.saves == "nothing":
                p.append(f"{at}: this method saves nothing")
            elif m.saves == "id":
                ids.add(save_as)
            else:
                executors.add(save_as)
        expect: dict[str, Any] = step.get("expect") or {}
        for k in expect_keys(expect):
            if k not in m.expect:
                p.append(f"{at}: expect.{k} does not apply to this method (it takes {', '.join(m.expect)})")
        err = expect.get("error")
        if err is not None:
            if err["code"] not in switchboard.ERROR_CODES:
                p.append(f"{at}: unknown error code {_q(err['code'])}")
            if expect_keys(expect):
                p.append(f"{at}: expect.error excludes result expectations")
    used: list[str] = []
    for v in (setup.get("faults") or []) + (setup.get("oauth") or []) + connectors:
        placeholders_in(v, used)
    for h in local.values():
        placeholders_in(h["credentials"], used)
        placeholders_in(h.get("config"), used)
    for s in steps:
        placeholders_in(s.get("args") or {}, used)
        over: dict[str, Any] = s.get("client") or {}
        placeholders_in([over.get("client_id"), over.get("client_secret")], used)
        expect = s.get("expect") or {}
        placeholders_in([expect.get(k) for k in ("data", "data_equals", "meta", "records", "value")], used)
        err = expect.get("error") or {}
        placeholders_in([err.get("message_contains"), err.get("message_excludes")], used)
    for name in used:
        if not builtin_placeholder(name) and name not in ids:
            p.append(f"unknown placeholder {{{name}}}")
    return p


def load_dir(d: Path) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """Every ``*.yaml`` file of ``d``, parsed; unreadable or unparsable files are problems."""
    files: list[tuple[str, dict[str, Any]]] = []
    problems: list[str] = []
    paths = sorted(p for p in d.iterdir() if p.suffix in (".yaml", ".yml"))
    if not paths:
        problems.append(f"no scenario files in {d}")
    for path in paths:
        try:
            files.append((path.name, parse(path.read_text())))
        except (OSError, Malformed) as e:
            problems.append(f"{path.name}: {e}")
    return files, problems


def _load_all() -> list[dict[str, Any]]:
    files, problems = load_dir(CONFORMANCE_DIR)
    problems.extend(validate(files))
    if problems:
        # Fails the module at collection: a malformed scenario must not be half run.
        raise AssertionError(f"{len(problems)} problem(s) in tests/conformance:\n  " + "\n  ".join(problems))
    return [sc for _, doc in files for sc in doc["scenarios"]]


ALL_SCENARIOS = _load_all()
INDEX = {sc["name"]: i for i, sc in enumerate(ALL_SCENARIOS)}
FILTER = os.environ.get("CONFORMANCE_FILTER") or None
SELECTED = [sc for sc in ALL_SCENARIOS if FILTER is None or FILTER in sc["name"]]
if not SELECTED:
    raise AssertionError(f"no scenario to run (CONFORMANCE_FILTER={FILTER!r})")

#: Outcomes, for the final count.
RAN: list[str] = []
SKIPPED: list[str] = []

# --------------------------------------------------------------------------- the world


@dataclass
class EngineProc:
    url: str
    client_id: str
    client_secret: str


@dataclass
class World:
    fake: str  # http://127.0.0.1:PORT
    closed: str  # http://127.0.0.1:PORT where nothing listens
    engine: EngineProc | None

    def control(self, method: str, path: str, body: Any = None) -> Any:
        """A control call to the fake; anything but 2xx is a runner problem."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.fake}{path}", data=data, method=method)
        if data is not None:
            req.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                text = resp.read().decode()
        except urllib.error.HTTPError as e:
            raise RunnerError(f"{method} {path} answered {e.code}: {e.read().decode(errors='replace')}") from None
        except OSError as e:
            raise RunnerError(f"{method} {path}: {e}") from None
        try:
            return json.loads(text) if text else None
        except ValueError:
            return None


def _start(args: list[str], log: Path) -> tuple[subprocess.Popen[str], Lines]:
    with log.open("w") as err:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True, env=child_env())
    return proc, Lines(proc, log)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    procs: list[subprocess.Popen[str]] = []
    data_dir: str | None = None
    try:
        proc, lines = _start(
            [binary("fake-upstream"), "--bind", "127.0.0.1:0"], tmp_path_factory.mktemp("conf-fake") / "stderr.log"
        )
        procs.append(proc)
        while True:
            line = lines.next()
            if "listening on " in line:
                addr = line.split("listening on ", 1)[1].strip()
                break
        fake = addr if addr.startswith("http") else f"http://{addr}"
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
        s.close()
        engine: EngineProc | None = None
        if any((sc.get("setup") or {}).get("engine") for sc in SELECTED):
            data_dir = tempfile.mkdtemp(prefix="switchboard-py-conformance-")
            proc, lines = _start(
                [
                    binary("switchboard"),
                    "serve",
                    "--bind",
                    "127.0.0.1:0",
                    "--data-dir",
                    data_dir,
                    "--egress-allow",
                    "127.0.0.1",
                    "--rate-limit",
                    "10000",
                    "--rate-burst",
                    "10000",
                ],
                tmp_path_factory.mktemp("conf-engine") / "stderr.log",
            )
            procs.append(proc)
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
            engine = EngineProc(url=url, client_id=first["client_id"], client_secret=first["client_secret"])
        yield World(fake=fake, closed=closed, engine=engine)
    finally:
        for proc in reversed(procs):
            stop(proc)
        if data_dir is not None:
            shutil.rmtree(data_dir, ignore_errors=True)


# --------------------------------------------------------------------------- running


class RunnerError(Exception):
    """A problem of the runner or the scenario, not an SDK outcome."""


@dataclass
class Exec:
    data: Any
    meta: Any


@dataclass
class Pages:
    pages: list[Exec]


@dataclass
class Value:
    value: Any


@dataclass
class Text:
    text: str


Outcome = Exec | Pages | Value | Text


def text(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def _fields(args: dict[str, Any], k: str) -> list[str] | None:
    v = args.get(k)
    if v is None:
        return None
    if not isinstance(v, list):
        raise RunnerError(f"{k} must be a list, got {_short(v)}")
    return [text(x) for x in v]


def _info(c: Any) -> dict[str, Any]:
    """A ``ConnectorInfo`` as the neutral connector object."""
    assert isinstance(c, switchboard.ConnectorInfo), f"expected a ConnectorInfo, got {c!r}"
    return dataclasses.asdict(c)


@dataclass
class LocalHandle:
    executor: LocalExecutor | None
    error: SwitchboardError | None
    credentials: Any
    config: Any
    timeout: float | None


@dataclass
class Run:
    world: World
    sc: dict[str, Any]
    workspace: str
    ids: dict[str, str] = field(default_factory=lambda: {})
    executors: dict[str, Any] = field(default_factory=lambda: {})
    locals: dict[str, LocalHandle] = field(default_factory=lambda: {})

    # ----------------------------------------------------------------- placeholders

    def fill(self, v: Any) -> Any:
        if isinstance(v, str):
            return self.fill_str(v)
        if isinstance(v, list):
            return [self.fill(x) for x in v]
        if isinstance(v, dict):
            return {k: self.fill(x) for k, x in v.items()}
        return v

    def fill_str(self, s: str) -> str:
        out: list[str] = []
        last = 0
        for start, end, name in tokens(s):
            out.append(s[last:start])
            out.append(self.resolve(name))
            last = end
        out.append(s[last:])
        return "".join(out)

    def resolve(self, name: str) -> str:
        w = self.world
        if name.startswith("fake.") and name[len("fake.") :] in APIS:
            return f"{w.fake}/{name[len('fake.'):]}"
        if name.startswith("creds.") and name[len("creds.") :] in CREDS:
            return CREDS[name[len("creds.") :]]
        n = repeat_count(name)
        if n is not None:
            return "x" * n
        if name == "fake":
            return w.fake
        if name == "fake_localhost":
            return w.fake.replace("127.0.0.1", "localhost", 1)
        if name == "closed":
            return w.closed
        if name == "workspace":
            return self.workspace
        if name in self.ids:
            return self.ids[name]
        raise RunnerError(f"placeholder {{{name}}} has no value (was the step saving it skipped?)")

    # ----------------------------------------------------------------- SDK objects

    def client(self, over: dict[str, Any] | None) -> dict[str, Any]:
        """Keyword arguments for ``Workspace`` / ``HostedExecutor`` / ``connect``."""
        e = self.world.engine
        if e is None:
            raise RunnerError("no engine in this run")
        kw: dict[str, Any] = {"client_id": e.client_id, "client_secret": e.client_secret, "base_url": e.url}
        if over:
            if over.get("client_id") is not None:
                kw["client_id"] = self.fill_str(over["client_id"])
            if over.get("client_secret") is not None:
                kw["client_secret"] = self.fill_str(over["client_secret"])
            if over.get("timeout_ms") is not None:
                kw["timeout"] = over["timeout_ms"] / 1000
        return kw

    def local(self, name: str) -> LocalHandle:
        """The local handle ``name``, built on first use; a construction error is kept."""
        if name in self.locals:
            return self.locals[name]
        h = (self.sc.get("local") or {}).get(name)
        if h is None:
            raise RunnerError(f"no local handle {name!r}")
        credentials = self.fill(h["credentials"])
        config = self.fill(h["config"]) if h.get("config") is not None else {}
        ms = (h.get("options") or {}).get("timeout_ms")
        timeout = ms / 1000 if ms is not None else None
        try:
            ex = LocalExecutor(h["connector"], credentials, config, timeout=timeout)
            built = LocalHandle(ex, None, credentials, config, timeout)
        except SwitchboardError as e:
            built = LocalHandle(None, e, credentials, config, timeout)
        self.locals[name] = built
        return built

    def hosted_executor(self, step: dict[str, Any], args: dict[str, Any]) -> Any:
        on = step.get("on")
        if on is not None:
            if on not in self.executors:
                raise RunnerError(f"no executor {on!r} (did the step saving it fail?)")
            return self.executors[on]
        client = self.client(step.get("client"))
        if "connector_id" in args:
            return HostedExecutor(connector_id=text(args["connector_id"]), **client)
        return HostedExecutor(
            workspace_name=text(args.get("workspace_name", self.workspace)),
            connector_definition_id=text(args.get("connector_definition_id", "")),
            **client,
        )

    # ----------------------------------------------------------------- steps

    async def step(self, step: dict[str, Any]) -> Outcome | SwitchboardError:
        """Runs one step: its outcome, or the SDK's typed error. Other exceptions propagate."""
        try:
            return await self._step(step)
        except SwitchboardError as e:
            return e

    async def _step(self, step: dict[str, Any]) -> Outcome:
        call: str = step["call"]
        m = METHODS.get(call)
        if m is None:
            raise RunnerError(f"unknown method {call}")
        args: dict[str, Any] = self.fill(step.get("args") or {})
        entity = text(args.get("entity", ""))
        action = text(args.get("action", ""))
        params = args.get("params", {})
        opts: dict[str, Any] = {
            "select_fields": _fields(args, "select_fields"),
            "exclude_fields": _fields(args, "exclude_fields"),
            "skip_truncation": bool(args.get("skip_truncation", False)),
        }
        if m.target == "local":
            h = self.local(step["on"])
            if h.error is not None:
                raise h.error
            ex = h.executor
            assert ex is not None
            if call == "local.execute":
                r = await ex.execute(entity, action, params, **opts)
                return Exec(r.data, r.meta)
            if call == "local.paginate":
                return Pages([Exec(p.data, p.meta) async for p in ex.paginate(entity, action, params, **opts)])
            if call == "local.check":
                return Value(await ex.check())
            # describe: the typed connector of the handle's slug, built like the handle.
            typed = CONNECTORS[ex.slug](h.credentials, h.config, timeout=h.timeout)
            return Text(typed.describe())
        if m.target == "workspace":
            ws_name = text(args.get("workspace_name", self.workspace))
            ws = Workspace(workspace_name=ws_name, **self.client(step.get("client")))
            if call == "workspace.create_connector":
                cid = await ws.create_connector(
                    connector_type=text(args["connector_type"]),
                    credentials=args["credentials"],
                    name=text(args["name"]) if "name" in args else None,
                    replication_config=args.get("replication_config"),
                    config=args.get("config"),
                )
                if not isinstance(cid, str) or not cid:
                    raise RunnerError(f"create_connector returned {cid!r}, not a connector id")
                if step.get("save_as") is not None:
                    self.ids[step["save_as"]] = cid
                try:
                    info = await ws.find_connector(connector_id=cid)
                except SwitchboardError as e:
                    raise RunnerError(f"create_connector returned {cid}, but find_connector failed: {e!r}") from e
                return Value(_info(info))
            if call == "workspace.list_connectors":
                return Value([_info(c) for c in await ws.list_connectors()])
            if call == "workspace.get_connector":
                if "connector_id" in args:
                    ex = await ws.get_connector(connector_id=text(args["connector_id"]))
                else:
                    ex = await ws.get_connector(name=text(args.get("name", "")))
                info = await ex.connector_info()
                if step.get("save_as") is not None:
                    self.executors[step["save_as"]] = ex
                return Value(_info(info))
            await ws.delete_connector(text(args.get("connector_id", "")))
            return Value(None)
        if m.target == "executor":
            ex = self.hosted_executor(step, args)
            if call == "executor.execute":
                r = await ex.execute(entity, action, params=params, **opts)
                return Exec(r.data, r.meta)
            if call == "executor.check":
                return Value(await ex.check())
            return Pages([Exec(p.data, p.meta) async for p in ex.paginate(entity, action, params, **opts)])
        if call == "connect":
            client = self.client(step.get("client"))
            slug = text(args["slug"])
            ws_name = text(args.get("workspace_name", self.workspace))
            cid = text(args["connector_id"]) if "connector_id" in args else None
            conn = connect(slug, workspace_name=ws_name, connector_id=cid, **client)
            info = await self.resolved(conn, client, ws_name, slug, cid)
            if step.get("save_as") is not None:
                self.executors[step["save_as"]] = conn
            return Value(_info(info))
        if call == "fake.oauth":
            return Value(self.world.control("GET", f"/_control/oauth/{text(args['api'])}"))
        # fake.requests
        all_: list[dict[str, Any]] = self.world.control("GET", "/_control/requests") or []
        prefix = f"/{text(args['prefix'])}/" if "prefix" in args else None
        return Value(
            [
                {
                    "method": r.get("method"),
                    "path": r.get("path"),
                    "query_string": r.get("query_string"),
                    "body": r.get("body_parsed"),
                }
                for r in all_
                if prefix is None or str(r.get("path", "")).startswith(prefix)
            ]
        )

    async def resolved(
        self, conn: Any, client: dict[str, Any], workspace_name: str, slug: str, connector_id: str | None
    ) -> switchboard.ConnectorInfo:
        """The connector ``connect`` resolves to, looked up now (README: ``connect`` resolves
        when called, so ``not_found`` / ``conflict`` come from that step)."""
        info = getattr(conn, "connector_info", None)
        if info is not None:
            return await info()
        # The typed connector resolves lazily and exposes no connector_info(): the same lookup
        # (slug in the workspace, or the id) through the public HostedExecutor.
        if connector_id is not None:
            ex = HostedExecutor(connector_id=connector_id, **client)
        else:
            ex = HostedExecutor(workspace_name=workspace_name, connector_definition_id=slug, **client)
        return await ex.connector_info()

    async def setup(self) -> None:
        """Resets the fake, injects faults and OAuth settings, creates the setup connectors."""
        setup: dict[str, Any] = self.sc.get("setup") or {}
        self.world.control("POST", "/_control/reset")
        for f in setup.get("faults") or []:
            self.world.control("POST", "/_control/faults", self.fill(f))
        for o in setup.get("oauth") or []:
            self.world.control("POST", "/_control/oauth", self.fill(o))
        for c in setup.get("connectors") or []:
            args: dict[str, Any] = self.fill(c)
            try:
                ws = Workspace(workspace_name=self.workspace, **self.client(None))
                cid = await ws.create_connector(
                    connector_type=text(args["connector_type"]),
                    credentials=args["credentials"],
                    name=text(args["name"]) if "name" in args else None,
                    replication_config=args.get("replication_config"),
                    config=args.get("config"),
                )
            except SwitchboardError as e:
                raise RunnerError(f"create_connector: {e!r}") from e
            self.ids[text(args["save_as"])] = cid


# --------------------------------------------------------------------------- comparing


def _short(v: Any) -> str:
    try:
        s = json.dumps(v)
    except (TypeError, ValueError):
        s = repr(v)
    return s if len(s) <= 300 else s[:300] + "..."


def _same_scalar(e: Any, a: Any) -> bool:
    if _is_num(e) or _is_num(a):
        return _is_num(e) and _is_num(a) and float(e) == float(a)
    if isinstance(e, bool) or isinstance(a, bool):
        return isinstance(e, bool) and isinstance(a, bool) and e is a
    if isinstance(e, (dict, list)) or isinstance(a, (dict, list)):
        return False
    return bool(e == a)


def subset(expected: Any, actual: Any, at: str, errs: list[str]) -> None:
    """``expected`` is a subset of ``actual``: objects by keys, lists of the same length element
    by element, numbers by value, other scalars equal (as ``core/tests/cases.rs``)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for k, ev in expected.items():
            if k in actual:
                subset(ev, actual[k], f"{at}.{k}", errs)
            else:
                errs.append(f"{at}.{k}: missing (expected {_short(ev)})")
    elif isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            errs.append(f"{at}: expected {len(expected)} items, got {len(actual)}: {_short(actual)}")
            return
        for i, (ev, av) in enumerate(zip(expected, actual)):
            subset(ev, av, f"{at}[{i}]", errs)
    elif not _same_scalar(expected, actual):
        errs.append(f"{at}: expected {_short(expected)}, got {_short(actual)}")


def equal(a: Any, b: Any) -> bool:
    errs: list[str] = []
    subset(a, b, "", errs)
    subset(b, a, "", errs)
    return not errs


_MISSING = object()


def lookup(v: Any, path: str) -> Any:
    """The value at a dot path of ``v``, or ``_MISSING``."""
    cur = v
    for key in path.split("."):
        if not isinstance(cur, dict) or key not in cur:
            return _MISSING
        cur = cur[key]
    return cur


def check_error(run: Run, exp: dict[str, Any], got: SwitchboardError, errs: list[str]) -> None:
    code = getattr(got, "code", None)
    message = str(getattr(got, "message", got))
    if code != exp["code"]:
        errs.append(f"expected error {exp['code']}, got {code}: {message} ({type(got).__name__})")
        return
    if exp.get("message_contains") is not None:
        t = run.fill_str(exp["message_contains"])
        if t not in message:
            errs.append(f"error message should contain {t!r}: {message}")
    for t in exp.get("message_excludes") or []:
        t = run.fill_str(t)
        if t in message:
            errs.append(f"error message must not contain {t!r}: {message}")
    if exp.get("status_code") is not None and got.status_code != exp["status_code"]:
        errs.append(f"status_code: expected {exp['status_code']}, got {got.status_code!r}")
    if exp.get("request_id") is not None:
        has = bool(got.request_id)
        if has != exp["request_id"]:
            errs.append(f"request_id: expected {'one' if exp['request_id'] else 'none'}, got {got.request_id!r}")
    if exp.get("retry_after") is not None:
        r = got.retry_after
        if r is None or float(r) != float(exp["retry_after"]):
            errs.append(f"retry_after: expected {exp['retry_after']}, got {r!r}")


def check_outcome(run: Run, exp: dict[str, Any], got: Outcome | SwitchboardError) -> list[str]:
    errs: list[str] = []
    err = exp.get("error")
    if err is not None:
        if isinstance(got, SwitchboardError):
            check_error(run, err, got, errs)
            return errs
        return [f"expected error {err['code']}, but the call succeeded: {_short(dataclasses.asdict(got))}"]
    if isinstance(got, SwitchboardError):
        return [f"unexpected error {got.code} (status {got.status_code!r}): {got.message} ({type(got).__name__})"]

    def fill(k: str) -> Any:
        return run.fill(exp[k]) if exp.get(k) is not None else None

    if isinstance(got, Exec):
        if exp.get("data_len") is not None:
            n = len(got.data) if isinstance(got.data, list) else None
            if n != exp["data_len"]:
                errs.append(f"data_len: expected {exp['data_len']}, got {n}")
        if (d := fill("data")) is not None:
            subset(d, got.data, "data", errs)
        if (d := fill("data_equals")) is not None and not equal(d, got.data):
            errs.append(f"data: expected exactly {_short(d)}, got {_short(got.data)}")
        records = got.data if isinstance(got.data, list) else [got.data]
        for path in exp.get("absent") or []:
            for i, rec in enumerate(records):
                if lookup(rec, path) is not _MISSING:
                    errs.append(f"data record {i}: {path} should be absent: {_short(rec)}")
        if (mt := fill("meta")) is not None:
            subset(mt, got.meta if isinstance(got.meta, dict) else {}, "meta", errs)
    elif isinstance(got, Pages):
        lengths = [len(p.data) if isinstance(p.data, list) else 0 for p in got.pages]
        if exp.get("pages") is not None and len(got.pages) != exp["pages"]:
            errs.append(f"pages: expected {exp['pages']}, got {len(got.pages)} (lengths {lengths})")
        if exp.get("total") is not None and sum(lengths) != exp["total"]:
            errs.append(f"total: expected {exp['total']} records, got {sum(lengths)} (lengths {lengths})")
        if exp.get("page_lengths") is not None and exp["page_lengths"] != lengths:
            errs.append(f"page_lengths: expected {exp['page_lengths']}, got {lengths}")
        if (rec := fill("records")) is not None:
            every = [r for p in got.pages if isinstance(p.data, list) for r in p.data]
            subset(rec, every, "records", errs)
    elif isinstance(got, Value):
        if exp.get("count") is not None:
            n = len(got.value) if isinstance(got.value, list) else None
            if n != exp["count"]:
                errs.append(f"count: expected {exp['count']}, got {n}: {_short(got.value)}")
        if (v := fill("value")) is not None:
            subset(v, got.value, "value", errs)
    else:
        for c in exp.get("contains") or []:
            if c not in got.text:
                errs.append(f"the text should contain {c!r}")
    return errs


async def run_scenario(world: World, sc: dict[str, Any]) -> list[str]:
    """Runs one scenario; the problems found, empty when it passed."""
    run = Run(world=world, sc=sc, workspace=f"conformance-{INDEX[sc['name']]:03d}")
    try:
        await run.setup()
    except RunnerError as e:
        return [f"setup: {e}"]
    for i, step in enumerate(sc["steps"]):
        at = f"step {i + 1} ({step['call']})"
        try:
            got = await asyncio.wait_for(run.step(step), STEP_LIMIT)
        except asyncio.TimeoutError:
            return [f"{at}: no answer within {STEP_LIMIT:.0f} s"]
        except RunnerError as e:
            return [f"{at}: {e}"]
        except Exception as e:  # anything but a typed SwitchboardError is a failure of its own
            raise AssertionError(f"{at}: raised {type(e).__name__} instead of a SwitchboardError: {e!r}") from e
        try:
            errs = check_outcome(run, step.get("expect") or {}, got)
        except RunnerError as e:
            return [f"{at}: {e}"]
        if errs:
            return [f"{at}: {e}" for e in errs]
    return []


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("name", [sc["name"] for sc in SELECTED])
async def test_scenario(name: str, world: World) -> None:
    sc = ALL_SCENARIOS[INDEX[name]]
    missing = [r for r in sc.get("requires") or [] if r not in PYTHON_CAPABILITIES]
    if missing:
        SKIPPED.append(name)
        pytest.skip(f"needs {', '.join(missing)}, which the Python SDK lacks")
    RAN.append(name)
    errs = await run_scenario(world, sc)
    if errs:
        pytest.fail(f"scenario {name!r} failed:\n  " + "\n  ".join(errs), pytrace=False)


def test_malformed_scenarios_are_rejected() -> None:
    """The checker rejects what a runner could not run: bad YAML, unknown keys, methods,
    arguments, expectations, placeholders, capabilities, error codes; duplicate names."""

    def problems(text_: str) -> str:
        try:
            doc = parse(text_)
        except Malformed as e:
            return str(e)
        return "\n".join(validate([("t.yaml", doc)]))

    ok = """
scenarios:
  - name: fine
    local: {gh: {connector: github, credentials: {personal_access_token: "{creds.github_token}"}, config: {base_url: "{fake.github}"}}}
    steps:
      - {call: local.execute, on: gh, args: {entity: issues, action: list, params: {owner: octo, repo: hello}}, expect: {data_len: 5}}
"""
    assert problems(ok) == ""
    cases = [
        (ok.replace("local.execute", "local.run"), "unknown method"),
        (ok.replace("data_len: 5", "pages: 5"), "expect.pages does not apply"),
        (ok.replace("expect:", "expected:"), "unknown field"),
        (ok.replace("entity: issues, ", ""), '"entity" is required'),
        (ok.replace("action: list", "action: list, limit: 3"), 'unknown argument "limit"'),
        (ok.replace("on: gh", "on: nope"), "no local handle"),
        (ok.replace("{fake.github}", "{fake.jira}"), "unknown placeholder {fake.jira}"),
        (ok.replace("expect: {data_len: 5}", "expect: {error: {code: oops}}"), "unknown error code"),
        (ok.replace("name: fine", "name: fine\n    requires: [teleport]"), "unknown capability"),
        (ok.replace("call: local.execute, on: gh", "call: executor.execute"), "needs setup.engine"),
        (ok + ok.replace("scenarios:\n", ""), "also used"),
        (ok.replace("data_len: 5", "data_len: five"), "expected uint"),
        (ok.replace("name: fine", "name: fine\n    name: again"), "duplicate key"),
        ("scenarios: [", "malformed"),
    ]
    for yaml_text, want in cases:
        got = problems(yaml_text)
        assert want in got, f"expected a problem containing {want!r}, got {got!r} for:\n{yaml_text}"
    # YAML 1.1 booleans stay strings (`on: gh` is the key "on").
    assert parse(ok)["scenarios"][0]["steps"][0]["on"] == "gh"


def test_at_least_40_scenarios_ran() -> None:
    """Runs last: most of the suite must have run, not been skipped or deselected."""
    if FILTER is not None:
        pytest.skip(f"CONFORMANCE_FILTER={FILTER!r} selects {len(SELECTED)} scenarios")
    assert len(ALL_SCENARIOS) >= 40, f"only {len(ALL_SCENARIOS)} scenarios in tests/conformance"
    assert len(RAN) >= 40, f"only {len(RAN)} scenarios ran ({len(SKIPPED)} skipped: {SKIPPED})"
