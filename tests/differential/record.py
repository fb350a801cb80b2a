"""Records the reference runtime's HTTP requests for every operation of every spec it ships.

Runs in an environment where the reference SDK (``airbyte-agent-sdk``) is installed (made by
``scripts/test-differential.sh``, never the project's own). For every spec file in the package,
for every operation, it builds inputs from the spec alone (params from each parameter's
example, enum, format or type; credentials per auth option; a fixed access token for OAuth so
no side refreshes), runs the reference's ``LocalExecutor`` with its HTTP client's base URL
pointed at a capturing server, and writes one JSON recording: the cases (inputs) and the
requests the reference sent for each. ``replay.py`` then runs our runtime on the same cases.

Usage: python record.py OUT.json
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

os.environ.setdefault("AIRBYTE_TELEMETRY_MODE", "disabled")

try:
    import yaml  # a dependency of the reference SDK
except ImportError:  # replay.py imports this module's constants only
    yaml = None

sys.path.insert(0, str(Path(__file__).parent))
from capture import CaptureServer  # noqa: E402

METHODS = ("get", "post", "put", "patch", "delete")
#: The access token both runtimes send for OAuth options (no refresh on either side).
ACCESS_TOKEN = "diff-access-token"


def resolve(spec: dict[str, Any], node: Any, depth: int = 0) -> Any:
    """``node`` with a local ``$ref`` followed (one level per call; schemas recurse)."""
    while isinstance(node, dict) and "$ref" in node and depth < 20:
        target: Any = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        node, depth = target, depth + 1
    return node


def sample(spec: dict[str, Any], schema: Any, name: str, example: Any = None, depth: int = 0) -> Any:
    """A value for one parameter or property, from its example, enum, format or type."""
    schema = resolve(spec, schema) or {}
    if example is not None and example != "":
        return example
    for key in ("example", "const", "default"):
        if schema.get(key) not in (None, "") and not (key == "default" and schema.get("type") == "object"):
            return schema[key]
    if schema.get("examples"):
        return schema["examples"][0]
    if schema.get("enum"):
        return next((v for v in schema["enum"] if v is not None), schema["enum"][0])
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            options = [resolve(spec, s) for s in schema[key]]
            options = [s for s in options if s.get("type") != "null"] or options
            return sample(spec, options[0], name, depth=depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    fmt = schema.get("format", "")
    if kind == "integer":
        low, high = schema.get("minimum", 2), schema.get("maximum")
        return min(max(2, low), high) if high is not None else max(2, low)
    if kind == "number":
        return 2.5
    if kind == "boolean":
        return True
    if kind == "array":
        return [sample(spec, schema.get("items", {"type": "string"}), name, depth=depth + 1)]
    if kind == "object" or "properties" in schema:
        if depth > 3:
            return {}
        props = schema.get("properties") or {}
        required = schema.get("required") or list(props)[:2]
        out = {k: sample(spec, props[k], k, depth=depth + 1) for k in required if k in props}
        return out or {"key": "value"}
    if fmt == "byte":
        return "aGVsbG8gd29ybGQ="  # base64 of "hello world"
    if fmt == "date-time":
        return "2024-01-15T10:00:00Z"
    if fmt == "date":
        return "2024-01-15"
    if fmt == "email":
        return "user@example.com"
    if fmt in ("uri", "url"):
        return "https://example.com/item"
    return f"{name}-1"


def body_schema(spec: dict[str, Any], op: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    body = resolve(spec, op.get("requestBody"))
    if not isinstance(body, dict):
        return None, {}
    for media, content in (body.get("content") or {}).items():
        return media, resolve(spec, (content or {}).get("schema")) or {}
    return None, {}


def operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every operation's entity, action and sample params (all documented ones, and the
    required ones alone as a fallback)."""
    out = []
    for path, item in (spec.get("paths") or {}).items():
        item = resolve(spec, item)
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, dict) or "x-airbyte-entity" not in op:
                continue
            every: dict[str, Any] = {}
            required: dict[str, Any] = {}
            for p in list(item.get("parameters") or []) + list(op.get("parameters") or []):
                p = resolve(spec, p)
                if not isinstance(p, dict) or p.get("in") not in ("path", "query", "header"):
                    continue
                schema = resolve(spec, p.get("schema")) or {}
                if p["name"] == "fields" and p.get("example") is None and schema.get("example") is None:
                    # A GraphQL field selection: a made-up name would break the document on the
                    # reference's side; the spec's default selection is what both sides send.
                    continue
                value = sample(spec, p.get("schema"), p["name"], p.get("example"))
                every[p["name"]] = value
                if p.get("required") or p.get("in") == "path":
                    required[p["name"]] = value
            _, schema = body_schema(spec, op)
            schema = resolve(spec, schema)
            props = schema.get("properties") or {}
            for name, prop in props.items():
                prop = resolve(spec, prop)
                if prop.get("readOnly"):
                    continue
                value = sample(spec, prop, name)
                every[name] = value
                if name in (schema.get("required") or []):
                    required[name] = value
            out.append(
                {
                    "entity": op["x-airbyte-entity"],
                    "action": op.get("x-airbyte-action", method),
                    "method": method.upper(),
                    "path": path,
                    "variants": [every] if every == required else [every, required],
                }
            )
    return out


def auth_options(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """One credentials set per auth option of the spec."""
    schemes = ((spec.get("components") or {}).get("securitySchemes")) or {}
    out = []
    for name, scheme in schemes.items():
        cfg = (scheme or {}).get("x-airbyte-auth-config")
        if not isinstance(cfg, dict):
            continue
        props = cfg.get("properties") or {}
        creds = {}
        for field, prop in props.items():
            prop = prop or {}
            if field == "access_token":
                creds[field] = ACCESS_TOKEN
            elif prop.get("const") is not None:
                creds[field] = prop["const"]
            elif prop.get("enum"):
                creds[field] = prop["enum"][0]
            elif prop.get("default") is not None:
                creds[field] = prop["default"]
            elif prop.get("type") in ("integer", "number"):
                creds[field] = 7
            elif prop.get("type") == "boolean":
                creds[field] = True
            else:
                creds[field] = f"diff-{field.replace('_', '-')}"
        out.append({"scheme": name, "oauth": scheme.get("type") == "oauth2", "credentials": creds})
    return out


def server_config(spec: dict[str, Any]) -> dict[str, str]:
    """A value for every server variable (its default, or a sample)."""
    servers = spec.get("servers") or [{}]
    out = {}
    for var, meta in ((servers[0] or {}).get("variables") or {}).items():
        default = (meta or {}).get("default")
        out[var] = str(default) if default not in (None, "") else f"diff{var}"
    return out


def redirect(url: str, origin: str) -> str:
    """``url`` with its scheme and host replaced by the capturing server's (path kept)."""
    parts, target = urlsplit(url), urlsplit(origin)
    return urlunsplit((target.scheme, target.netloc, parts.path.rstrip("/"), "", ""))


async def run_case(executor: Any, capture: CaptureServer, entity: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
    capture.take()
    try:
        result = await asyncio.wait_for(executor.execute(entity, action, params=params), 20)
        error = None if getattr(result, "success", True) else str(getattr(result, "error", ""))[:300]
        data = getattr(result, "data", None)
        if hasattr(data, "__aiter__"):
            # A download: the request goes out when the stream is read.
            async def drain() -> None:
                async for _ in data:
                    pass

            await asyncio.wait_for(drain(), 20)
    except Exception as e:  # noqa: BLE001  (the reference's failure is part of the record)
        error = f"{type(e).__name__}: {e}"[:300]
    return {"error": error, "requests": capture.take()}


async def record_spec(slug: str, path: Path, capture: CaptureServer) -> dict[str, Any]:
    from airbyte_agent_sdk.executor.local_executor import LocalExecutor
    from pydantic import SecretStr

    spec = yaml.safe_load(path.read_text())
    config = server_config(spec)
    ops = operations(spec)
    options = auth_options(spec) or [{"scheme": None, "oauth": False, "credentials": {}}]
    cases = []
    for index, option in enumerate(options):
        try:
            executor = LocalExecutor(
                config_path=str(path),
                auth_config={k: SecretStr(str(v)) for k, v in option["credentials"].items()},
                auth_scheme=option["scheme"],
                config_values=config,
            )
        except Exception as e:  # noqa: BLE001
            cases.append({"slug": slug, "scheme": option["scheme"], "setup_error": f"{type(e).__name__}: {e}"[:300]})
            continue
        http = executor.http_client
        base = redirect(http.base_url, capture.origin)
        http.base_url = base
        if hasattr(http, "_base_url_template"):
            http._base_url_template = redirect(http._base_url_template, capture.origin)
        if option["oauth"] and isinstance(getattr(http, "secrets", None), dict):
            http.secrets.setdefault("access_token", SecretStr(ACCESS_TOKEN))
        # Every operation with the first option; one operation per further option (its auth).
        for op in ops if index == 0 else ops[:1]:
            outcome: dict[str, Any] = {}
            used: dict[str, Any] = {}
            for params in op["variants"]:
                used = params
                outcome = await run_case(executor, capture, op["entity"], op["action"], dict(params))
                if outcome["requests"]:
                    break
            cases.append(
                {
                    "slug": slug,
                    "scheme": option["scheme"],
                    "oauth": option["oauth"],
                    "credentials": option["credentials"],
                    "config": config,
                    "base_url": base.replace(capture.origin, ""),
                    "entity": op["entity"],
                    "action": op["action"],
                    "params": used,
                    "reference": outcome,
                }
            )
        try:
            await asyncio.wait_for(executor.close(), 10)
        except Exception:  # noqa: BLE001
            pass
    return {"slug": slug, "version": (spec.get("info") or {}).get("version"), "cases": cases}


async def main(out: Path) -> None:
    import airbyte_agent_sdk

    specs = Path(airbyte_agent_sdk.__file__).parent / "specs"
    capture = CaptureServer()
    connectors = []
    for spec_dir in sorted(p for p in specs.iterdir() if (p / "connector.yaml").exists()):
        connectors.append(await record_spec(spec_dir.name, spec_dir / "connector.yaml", capture))
        n = len(connectors[-1]["cases"])
        print(f"recorded {spec_dir.name}: {n} cases", file=sys.stderr)
    version = getattr(airbyte_agent_sdk, "__version__", None)
    out.write_text(json.dumps({"reference": version, "specs": str(specs), "connectors": connectors}, indent=1))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
