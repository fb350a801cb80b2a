"""Replays a recording of the reference runtime (``record.py``) through ours and compares the
HTTP requests, operation by operation.

Our side is our Python package in local mode, with ``SWITCHBOARD_SPECS`` naming the reference's
own spec directory (read in place; ``--builtin`` runs our specs in ``connectors/`` instead),
its ``base_url`` config pointing at a capturing server. Compared, for every request: method, path, query (order-insensitive), body
(JSON and form bodies parsed, anything else as bytes) and every header the reference sends,
except transport headers each HTTP client sets its own way. Runs in the venv where our package is installed.

Every differing operation must be listed in ``expected-differences.json`` beside this file, with
the aspects that differ (``query``, ``body``, ``header <name>``, ...) and the reason
(``docs/reference-differences.md`` explains each); the run fails on a difference not listed
there, on a listed operation that differs in another aspect too, and on a listed one that no
longer differs (so the list stays true).

Usage: python replay.py RECORDING.json [--builtin] [--report REPORT.md] [--only SLUG ...]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

sys.path.insert(0, str(Path(__file__).parent))
from capture import CaptureServer  # noqa: E402
from record import ACCESS_TOKEN  # noqa: E402

HERE = Path(__file__).parent
#: Headers each HTTP client sets its own way; not part of a connector's request.
TRANSPORT = {"host", "content-length", "accept-encoding", "connection", "user-agent", "accept", "transfer-encoding"}


def body_of(request: dict[str, Any]) -> Any:
    raw = base64.b64decode(request["body"]) if request["body"] else b""
    kind = request["headers"].get("content-type", "").split(";")[0].strip()
    if not raw:
        return None
    if kind.endswith("json"):
        try:
            return ("json", json.loads(raw))
        except ValueError:
            pass
    if kind.startswith("multipart/"):
        # Parts compared by their headers and content (JSON parsed); the boundary is random.
        boundary = request["headers"].get("content-type", "").partition("boundary=")[2].strip('"').encode()
        parts = []
        for chunk in raw.split(b"--" + boundary)[1:]:
            if chunk.startswith(b"--"):
                break
            head, _, content = chunk.strip(b"\r\n").partition(b"\r\n\r\n")
            try:
                parsed: Any = json.loads(content)
            except ValueError:
                parsed = content.decode(errors="replace")
            parts.append((head.decode(errors="replace").lower(), parsed))
        return ("multipart", parts)
    if kind == "application/x-www-form-urlencoded":
        return ("form", sorted(parse_qsl(raw.decode(errors="replace"), keep_blank_values=True)))
    return ("bytes", raw.decode(errors="replace"))


def json_diff(a: Any, b: Any, at: str = "$") -> list[str]:
    """The paths where two JSON values differ, each with both sides (short)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                out.append(f"{at}.{k}: {'absent' if k not in a else repr(a[k])[:80]} vs {'absent' if k not in b else repr(b[k])[:80]}")
            else:
                out += json_diff(a[k], b[k], f"{at}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in json_diff(x, y, f"{at}[{i}]")]
    return [] if a == b else [f"{at}: {repr(a)[:120]} vs {repr(b)[:120]}"]


def body_diff(ref: Any, our: Any) -> str:
    if ref and our and ref[0] == our[0] == "json":
        return "; ".join(json_diff(ref[1], our[1]))
    if ref and our and ref[0] == our[0] == "bytes":
        i = next((i for i, (x, y) in enumerate(zip(ref[1], our[1])) if x != y), min(len(ref[1]), len(our[1])))
        return f"bytes differ at {i}: {ref[1][max(0, i - 40):i + 60]!r} vs {our[1][max(0, i - 40):i + 60]!r}"
    return f"{str(ref)[:200]} vs {str(our)[:200]}"


def aspect(line: str) -> str:
    """What a line of ``compare`` is about: ``query``, ``body``, ``header x-y``, ``path``, ..."""
    if line.startswith("request ") and ": " in line and line[8:9].isdigit():
        line = line.split(": ", 1)[1]
    return line.split(":", 1)[0]


def compare(reference: list[dict[str, Any]], ours: list[dict[str, Any]]) -> list[str]:
    """What differs between two request sequences (empty when identical)."""
    if len(reference) != len(ours):
        first = [f"{r['method']} {r['path']}" for r in reference], [f"{r['method']} {r['path']}" for r in ours]
        return [f"request count: reference {len(reference)} {first[0]}, ours {len(ours)} {first[1]}"]
    out = []
    for i, (ref, our) in enumerate(zip(reference, ours)):
        at = f"request {i + 1}: " if len(reference) > 1 else ""
        if ref["method"] != our["method"]:
            out.append(f"{at}method: {ref['method']} vs {our['method']}")
        if ref["path"] != our["path"]:
            out.append(f"{at}path: {ref['path']} vs {our['path']}")
        if Counter(map(tuple, ref["query"])) != Counter(map(tuple, our["query"])):
            out.append(f"{at}query: {ref['query']} vs {our['query']}")
        if body_of(ref) != body_of(our):
            out.append(f"{at}body: {body_diff(body_of(ref), body_of(our))}")
        for name, value in ref["headers"].items():
            if name in TRANSPORT:
                continue
            ours_value = our["headers"].get(name)
            if name == "content-type" and value.startswith("multipart/") and ours_value:
                value, ours_value = value.partition(";")[0], ours_value.partition(";")[0]
            if ours_value != value:
                out.append(f"{at}header {name}: {value!r} vs {ours_value!r}")
    return out


class Ours:
    """Runs cases through our Python package in this process (local mode): one executor per
    connector and credential set, every request sent to one capturing server."""

    def __init__(self) -> None:
        self.capture = CaptureServer()
        self.executors: dict[str, Any] = {}

    async def run(self, case: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        import switchboard

        key = json.dumps([case["slug"], case["credentials"], case["config"], case["base_url"]], sort_keys=True)
        self.capture.take()
        error = None
        try:
            executor = self.executors.get(key)
            if executor is None:
                config = dict(case["config"], base_url=self.capture.origin + case["base_url"])
                credentials = dict(case["credentials"])
                if case.get("oauth"):
                    # The same access token the reference was given, so neither side refreshes.
                    credentials.setdefault("access_token", ACCESS_TOKEN)
                executor = self.executors[key] = switchboard.LocalExecutor(case["slug"], credentials, config)
            await asyncio.wait_for(executor.execute(case["entity"], case["action"], case["params"]), 20)
        except Exception as e:  # noqa: BLE001  (a failure is part of the comparison)
            error = f"{type(e).__name__}: {e}"[-300:]
        return self.capture.take(), error


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("recording", type=Path)
    parser.add_argument("--report", type=Path)
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--builtin", action="store_true", help="run our own specs (connectors/) instead of the reference's files")
    parser.add_argument("--dump-unexpected", type=Path, help="write {key: [aspects]} of every unexpected difference (to draft a listing)")
    args = parser.parse_args()
    recording = json.loads(args.recording.read_text())
    # Our own specs differ from the reference's on purpose in other places than its files do.
    listing_name = "expected-differences-builtin.json" if args.builtin else "expected-differences.json"
    listing = json.loads((HERE / listing_name).read_text())
    expected: dict[str, Any] = {
        key: {"reason": listing["reasons"][entry["reason"]], "aspects": entry["aspects"]}
        for key, entry in listing["differences"].items()
    }
    cases = [
        case
        for connector in recording["connectors"]
        for case in connector["cases"]
        if "setup_error" not in case and (not args.only or case["slug"] in args.only)
    ]
    if not args.builtin:
        # The reference's own files, read in place; they replace our specs of the same slug.
        os.environ["SWITCHBOARD_SPECS"] = recording["specs"]
    ours = Ours()

    async def run_all() -> list[tuple[list[dict[str, Any]], str | None]]:
        return [await ours.run(case) for case in cases]

    results = asyncio.run(run_all())

    per: dict[str, Counter[str]] = defaultdict(Counter)
    drafts: dict[str, list[str]] = {}
    lines: list[str] = []
    unexpected, stale = [], []
    for case, (requests, error) in zip(cases, results):
        key = f"{case['slug']}/{case['entity']}/{case['action']}" + (f"@{case['scheme']}" if case["scheme"] else "")
        reference = case["reference"]["requests"]
        if not reference:
            per[case["slug"]]["no reference request"] += 1
            continue
        diff = compare(reference, requests)
        if not requests and error:
            diff = [f"ours failed: {error}"]
        listed = expected.get(key)
        aspects = set(listed["aspects"]) if listed else set()
        # What differs beyond the aspects listed for this operation.
        rest = [d for d in diff if aspect(d) not in aspects]
        if rest:
            drafts[key] = sorted({aspect(d) for d in diff})
            per[case["slug"]]["different"] += 1
            unexpected.append(f"- `{key}`: " + "; ".join(rest)[:600])
            lines.append(unexpected[-1])
        elif diff:
            per[case["slug"]]["listed difference"] += 1
            lines.append(f"- `{key}` (listed: {listed['reason']}): " + "; ".join(diff)[:300])
        else:
            per[case["slug"]]["identical"] += 1
            if listed:
                stale.append(key)

    total = Counter[str]()
    for c in per.values():
        total.update(c)
    compared = total["identical"] + total["different"] + total["listed difference"]
    report = [
        f"# Differential run: reference {recording.get('reference')} vs ours",
        "",
        f"identical requests: {total['identical']}/{compared} operations "
        f"({total['listed difference']} with a listed, deliberate difference, {total['different']} unexpected; "
        f"{total['no reference request']} where the reference sent nothing)",
        "",
        "| connector | identical | listed difference | unexpected | reference sent nothing |",
        "|---|---|---|---|---|",
    ]
    for slug in sorted(per):
        c = per[slug]
        report.append(
            f"| {slug} | {c['identical']} | {c['listed difference']} | {c['different']} | {c['no reference request']} |"
        )
    report += ["", "## Differences", ""] + lines
    text = "\n".join(report) + "\n"
    if args.report:
        args.report.write_text(text)
    print("\n".join(report[:70]))
    for line in unexpected:
        print(f"unexpected: {line[2:]}")
    print(f"differential: {total['identical']} identical of {compared} compared; {len(unexpected)} unexpected, {len(stale)} stale")
    for key in stale:
        print(f"listed in {listing_name} but now identical: {key}")
    if args.dump_unexpected:
        args.dump_unexpected.write_text(json.dumps(drafts, indent=1, sort_keys=True) + "\n")
    return 1 if unexpected or stale else 0


if __name__ == "__main__":
    sys.exit(main())
