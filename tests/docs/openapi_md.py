"""Renders the engine's OpenAPI document as markdown pages for the book.

The document is the one a running engine serves at ``/api/v1/openapi.json`` (``--url``), or, by
default, the one a throwaway ``switchboard serve`` from ``SWITCHBOARD_BIN_DIR`` serves. Nothing
here is a hand-kept copy: every route, parameter, body and schema on the pages comes from the
document.

Writes into OUT_DIR: ``index.md`` (every route, one table), one page per group of routes,
``schemas.md`` (every component schema), ``openapi.json`` (the document itself, linked from the
pages) and ``summary.md`` (the SUMMARY.md lines of the pages, for scripts/test-docs.sh).

Usage: python3 tests/docs/openapi_md.py OUT_DIR [--url ENGINE_URL]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.request
from pathlib import Path
from typing import Any, cast

# tests/processes.py: the engine and fake processes every Python harness shares.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import processes  # noqa: E402

METHODS = ("get", "post", "put", "patch", "delete", "options", "head", "trace")

# Page of a route, by the first rule whose pattern matches its path. A route no rule names lands
# on "Other routes", so a new route is never left out of the book.
GROUPS: list[tuple[str, str, str, str]] = [
    (
        "tokens",
        "Tokens",
        r"token",
        "Client credentials for an application token, and application tokens for scoped and widget tokens.",
    ),
    (
        "connectors",
        "Connectors and execution",
        r"/connectors|/integrations/sources",
        "Create, list, read, update and delete a workspace's connectors; run their operations and checks.",
    ),
    (
        "catalog",
        "Catalog and workspaces",
        r"/definitions|/icons|/templates|/workspaces",
        "What this engine can run, what each connector needs, and the organization's workspaces.",
    ),
    (
        "oauth",
        "OAuth",
        r"/oauth/",
        "An organization's OAuth clients per connector type, and the authorization flow that stores an end "
        "user's tokens.",
    ),
    ("widget", "Widget", r"^/widget", "The embeddable widget's page and assets."),
    ("mcp", "MCP", r"^/mcp", "The Model Context Protocol over streamable HTTP."),
    (
        "operations",
        "Operations",
        r"^/healthz|^/readyz|^/metrics|openapi\.json",
        "Liveness, readiness, metrics and this document; no token needed.",
    ),
]
OTHER = ("other", "Other routes", "", "Routes no other page names.")


def fetch(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url.rstrip('/')}/api/v1/openapi.json", timeout=30) as resp:
        doc: dict[str, Any] = json.load(resp)
    return doc


def served_document() -> dict[str, Any]:
    engine = processes.start_engine()
    try:
        return fetch(engine.url)
    finally:
        engine.stop()


def cell(text: str) -> str:
    """Text for one markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def anchor(text: str) -> str:
    """The id mdBook gives a heading: lower case, spaces to dashes, other punctuation dropped."""
    out: list[str] = []
    for ch in text.strip().lower():
        if ch.isalnum() or ch in "-_":
            out.append(ch)
        elif ch.isspace():
            out.append("-")
    return "".join(out)


def as_object(value: Any) -> dict[str, Any] | None:
    """`value` when it is a JSON object."""
    return cast("dict[str, Any]", value) if isinstance(value, dict) else None


def as_list(value: Any) -> list[Any]:
    return cast("list[Any]", value) if isinstance(value, list) else []


def schema_text(value: Any, link_prefix: str) -> str:
    """A short inline rendering of a schema: a link for a $ref, `type` otherwise."""
    schema = as_object(value)
    if schema is None:
        return "any"
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return f"[`{name}`]({link_prefix}#{anchor(name)})"
    for key in ("oneOf", "anyOf"):
        if key in schema:
            parts = [schema_text(s, link_prefix) for s in as_list(schema[key])]
            return " or ".join(p for p in parts if p)
    if "allOf" in schema:
        return " and ".join(schema_text(s, link_prefix) for s in as_list(schema["allOf"]))
    t: Any = schema.get("type", "any")
    types = as_list(t) or [t]
    rendered: list[str] = []
    for one in types:
        if one == "array":
            rendered.append(f"array of {schema_text(schema.get('items'), link_prefix)}")
        elif one == "null":
            rendered.append("null")
        else:
            rendered.append(f"`{one}`")
    text = " or ".join(rendered)
    if "enum" in schema:
        text += ": " + ", ".join(f"`{json.dumps(v)}`" for v in as_list(schema["enum"]))
    if "format" in schema:
        text += f" ({schema['format']})"
    return text


def group_of(path: str) -> tuple[str, str, str, str]:
    for group in GROUPS:
        if re.search(group[2], path):
            return group
    return OTHER


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    ops: list[tuple[str, str, dict[str, Any]]] = []
    paths: dict[str, dict[str, Any]] = doc.get("paths", {})
    for path, item in paths.items():
        for method in METHODS:
            if method in item:
                ops.append((path, method, item[method]))
    return ops


def title(path: str, method: str) -> str:
    return f"{method.upper()} {path}"


def token_text(op: dict[str, Any], doc: dict[str, Any]) -> str:
    security = op.get("security", doc.get("security"))
    if not security:
        return "none"
    schemes = sorted({name for req in security for name in req})
    return ", ".join(f"`{s}`" for s in schemes) + " (`Authorization: Bearer <token>`)"


def render_operation(path: str, method: str, op: dict[str, Any], doc: dict[str, Any]) -> list[str]:
    schemas = "schemas.md"
    # In a code span: a heading ending in `{id}` would read as mdBook's heading attributes.
    out = [f"## `{title(path, method)}`", ""]
    summary = op.get("summary", "").strip()
    description = op.get("description", "").strip()
    if summary:
        out += [summary, ""]
    if description and description != summary:
        out += [description, ""]
    out += [f"Token: {token_text(op, doc)}. Operation id: `{op.get('operationId', '')}`.", ""]
    params = op.get("parameters", [])
    if params:
        out += ["| parameter | in | required | type | description |", "| --- | --- | --- | --- | --- |"]
        for p in params:
            out.append(
                f"| `{p['name']}` | {p.get('in', '')} | {'yes' if p.get('required') else 'no'} | "
                f"{schema_text(p.get('schema'), schemas)} | {cell(p.get('description', ''))} |"
            )
        out.append("")
    body = op.get("requestBody")
    if body:
        for ctype, content in body.get("content", {}).items():
            required = "required" if body.get("required") else "optional"
            out += [f"Request body ({required}, `{ctype}`): {schema_text(content.get('schema'), schemas)}.", ""]
    responses = op.get("responses", {})
    if responses:
        out += ["| status | meaning | body |", "| --- | --- | --- |"]
        for status, resp in responses.items():
            bodies = [
                f"`{ctype}` {schema_text(c.get('schema'), schemas)}" for ctype, c in resp.get("content", {}).items()
            ]
            out.append(f"| {status} | {cell(resp.get('description', ''))} | {'; '.join(bodies) or 'none'} |")
        out.append("")
    return out


def render_schema(name: str, schema: dict[str, Any]) -> list[str]:
    out = [f"## {name}", ""]
    if schema.get("description"):
        out += [schema["description"].strip(), ""]
    parts = [schema]
    for key in ("allOf", "oneOf", "anyOf"):
        if key in schema:
            out += [f"{'All' if key == 'allOf' else 'One'} of: {schema_text(schema, '')}.", ""]
            parts = [p for p in (as_object(s) for s in as_list(schema[key])) if p is not None]
    for part in parts:
        props = as_object(part.get("properties")) or {}
        if not props:
            continue
        required = {str(r) for r in as_list(part.get("required"))}
        out += ["| field | required | type | description |", "| --- | --- | --- | --- |"]
        for field, fs in props.items():
            desc = str((as_object(fs) or {}).get("description", ""))
            out.append(f"| `{field}` | {'yes' if field in required else 'no'} | {schema_text(fs, '')} | {cell(desc)} |")
        out.append("")
        if part.get("additionalProperties") is False:
            out += ["Unknown fields are refused.", ""]
    if "enum" in schema and "properties" not in schema:
        out += ["Values: " + ", ".join(f"`{json.dumps(v)}`" for v in as_list(schema["enum"])) + ".", ""]
    return out


def render(doc: dict[str, Any], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    info = doc.get("info", {})
    ops = operations(doc)
    if not ops:
        raise SystemExit("the OpenAPI document has no operations")
    pages: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, method, op in ops:
        pages.setdefault(group_of(path)[0], []).append((path, method, op))
    groups = [g for g in [*GROUPS, OTHER] if g[0] in pages]

    written: list[Path] = []
    index = [
        "# Engine API reference",
        "",
        f"Generated from the OpenAPI {doc.get('openapi', '')} document the engine serves at "
        "`/api/v1/openapi.json` (version "
        f"{info.get('version', '?')}; the document itself: [openapi.json](openapi.json)), by "
        "`tests/docs/openapi_md.py` when the book is built. "
        "[The engine's HTTP API](../api.md) explains tokens, tenancy, errors and limits in prose.",
        "",
        info.get("description", ""),
        "",
        "| route | summary | page |",
        "| --- | --- | --- |",
    ]
    for slug, name, _, _ in groups:
        for path, method, op in pages[slug]:
            link = f"{slug}.md#{anchor(title(path, method))}"
            index.append(f"| [`{title(path, method)}`]({link}) | {cell(op.get('summary', ''))} | {name} |")
    index.append("")
    summary_lines: list[str] = []
    for slug, name, _, blurb in groups:
        lines = [f"# {name}", "", blurb, ""]
        for path, method, op in pages[slug]:
            lines += render_operation(path, method, op, doc)
        page = out_dir / f"{slug}.md"
        page.write_text("\n".join(lines))
        written.append(page)
        summary_lines.append(f"[{name}]({slug}.md)")
    schemas: dict[str, dict[str, Any]] = doc.get("components", {}).get("schemas", {})
    lines = ["# Schemas", "", "The bodies the routes take and answer (`core/src/wire.rs`).", ""]
    for name in sorted(schemas):
        lines += render_schema(name, schemas[name])
    (out_dir / "schemas.md").write_text("\n".join(lines))
    written.append(out_dir / "schemas.md")
    summary_lines.append("[Schemas](schemas.md)")
    (out_dir / "index.md").write_text("\n".join(index))
    (out_dir / "openapi.json").write_text(json.dumps(doc, indent=2) + "\n")
    (out_dir / "summary.md").write_text("\n".join(summary_lines) + "\n")
    print(f"openapi: {len(ops)} operations on {len(groups)} pages, {len(schemas)} schemas -> {out_dir}")
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--url", help="a running engine (default: start one from SWITCHBOARD_BIN_DIR)")
    args = ap.parse_args()
    doc = fetch(args.url) if args.url else served_document()
    render(doc, args.out_dir)


if __name__ == "__main__":
    main()
