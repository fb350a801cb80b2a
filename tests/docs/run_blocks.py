"""Runs every code block of the given documentation pages (the quick starts) against a real
`switchboard serve` and the fake upstream APIs, as a reader would run them.

How a fenced block is treated, by its info string (`lang[,marker...]`):

- `sh`, `bash`, `shell`: run. All shell blocks of a page run in one bash session, in order
  (`set -euo pipefail`), so a variable one block sets is there for the next; background jobs
  are stopped at the end. Each block's stdout is kept apart.
- `python`, `py`: each block is one program, run by the venv's Python
  (`$SWITCHBOARD_VENV`, default `$HOME/.cache/switchboard-venv`).
- `js`, `javascript`, `mjs`: each block is one ES module, run by `node`; `switchboard-connectors`
  resolves to the package built in the repository's root (`npm install`).
- marker `output`: what the block before it prints. Every non-empty line must appear, in order,
  as a substring of a line of that block's stdout (`...` lines are skipped); otherwise the block
  before fails.
- marker `ignore`: shown, not run; counted and listed.
- a block that is nothing but `{{#include FILE:ANCHOR}}` lines: code shown from a test source
  that another test script runs (the Kotlin quick start: QuickStartTest.kt, run by
  scripts/test-kotlin.sh). The file must exist under a `src/test/` directory and have each
  anchor; counted and listed, not run here.
- anything else (no language, another language, no marker) fails: every block of a quick start
  either runs or says why not.

Environment of the blocks (the pages say so where it matters):
  GITHUB_TOKEN, GITHUB_API_URL  the fake GitHub's token and base URL (local mode);
  SWITCHBOARD_API_URL, SWITCHBOARD_CLIENT_ID, SWITCHBOARD_CLIENT_SECRET  an engine started here,
      whose GitHub connectors call the fake (`--upstream-base-url`); AIRBYTE_CLIENT_ID and
      AIRBYTE_CLIENT_SECRET the same credentials under the reference product's names;
  SWITCHBOARD_BIND, SWITCHBOARD_UPSTREAM_BASE_URLS, SWITCHBOARD_EGRESS_ALLOW  for a page that
      starts its own `switchboard serve` (a free port; GitHub on the fake);
  PATH  starts with SWITCHBOARD_BIN_DIR, so `switchboard` is the ci-built binary;
  REPO  the repository's root (for pages that use files of the clone).
Each page runs in a fresh temporary directory.

A page none of whose blocks runs (or is included from a test) fails as well. Prints one line
per block and a closing `blocks: N passed, M failed, I ignored, K included ...` line; exits 1
when anything failed.

Usage: python3 tests/docs/run_blocks.py PAGE.md...
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# tests/processes.py: the engine and fake processes every Python harness shares.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import processes  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SHELL = {"sh", "bash", "shell"}
PYTHON = {"python", "py"}
JS = {"js", "javascript", "mjs"}
INCLUDE_LINE = re.compile(r"^\{\{#include\s+([^\s:}]+)(?::([A-Za-z0-9_-]+))?\s*\}\}$")
TIMEOUT = 120


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    markers: set[str]
    text: str
    output: Block | None = None  # the `output` block that follows it
    status: str = "pending"  # passed, failed, ignored, included, output
    why: str = ""
    stdout: str = ""

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO) if self.page.is_relative_to(REPO) else self.page}:{self.line}"


def no_blocks() -> list[Block]:
    return []


@dataclass
class Page:
    path: Path
    blocks: list[Block] = field(default_factory=no_blocks)


def parse(path: Path) -> Page:
    page = Page(path)
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s{0,3})(`{3,}|~{3,})(.*)$", lines[i])
        if not m:
            i += 1
            continue
        fence, info, start = m.group(2), m.group(3).strip(), i + 1
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][len(m.group(1)) :] if lines[i].startswith(m.group(1)) else lines[i])
            i += 1
        i += 1
        parts = [p.strip() for p in info.split(",") if p.strip()]
        lang = parts[0].lower() if parts else ""
        page.blocks.append(Block(path, start, lang, set(parts[1:]), "\n".join(body) + "\n"))
    previous: Block | None = None
    for block in page.blocks:
        if "output" in block.markers:
            block.status = "output"
            if previous is None or previous.status != "pending" or previous.output is not None:
                block.status, block.why = "failed", "an `output` block must follow a block that runs"
            else:
                previous.output = block
        elif "ignore" in block.markers:
            block.status = "ignored"
        previous = block
    return page


def check_include(block: Block) -> None:
    lines = [line.strip() for line in block.text.splitlines() if line.strip()]
    if not lines or not all(INCLUDE_LINE.match(line) for line in lines):
        return
    for line in lines:
        m = INCLUDE_LINE.match(line)
        assert m
        target = (block.page.parent / m.group(1)).resolve()
        if not target.is_file():
            block.status, block.why = "failed", f"{m.group(1)} does not exist"
            return
        if "/src/test/" not in target.as_posix():
            block.status, block.why = "failed", f"{m.group(1)} is not a test source, so nothing runs it"
            return
        anchor = m.group(2)
        if anchor:
            text = target.read_text()
            if f"ANCHOR: {anchor}" not in text or f"ANCHOR_END: {anchor}" not in text:
                block.status, block.why = "failed", f"{m.group(1)} has no ANCHOR {anchor}"
                return
    block.status = "included"
    block.why = ", ".join(line[len("{{#include ") : -2].strip() for line in lines)


def compare_output(block: Block) -> None:
    """Fails `block` when its `output` block's lines are not in its stdout, in order."""
    if block.status != "passed" or block.output is None:
        return
    got = block.stdout.splitlines()
    pos = 0
    for want in block.output.text.splitlines():
        want = want.strip()
        if not want or want == "...":
            continue
        while pos < len(got) and want not in got[pos]:
            pos += 1
        if pos == len(got):
            block.status = "failed"
            block.why = f"its output has no line containing {want!r} (where the page's output block says)"
            return
        pos += 1


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


def run_shell(blocks: list[Block], env: dict[str, str], cwd: Path) -> None:
    runs = cwd / ".docs-run"
    runs.mkdir()
    script = [
        "set -euo pipefail",
        "trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true' EXIT",
    ]
    for n, block in enumerate(blocks):
        script += [f"{{\n{block.text}\n}} > {runs}/out-{n}", f"echo {n} >> {runs}/done"]
    (runs / "script.sh").write_text("\n".join(script) + "\n")
    try:
        proc = subprocess.run(
            ["bash", str(runs / "script.sh")], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT
        )
        stderr, code = proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as e:
        stderr, code = f"timed out after {TIMEOUT} s\n{e.stderr or ''}", -1
    done: set[str] = set((runs / "done").read_text().split()) if (runs / "done").exists() else set()
    failed_seen = False
    for n, block in enumerate(blocks):
        out = runs / f"out-{n}"
        block.stdout = out.read_text() if out.exists() else ""
        if str(n) in done:
            block.status = "passed"
        elif not failed_seen:
            failed_seen = True
            block.status = "failed"
            block.why = f"exit {code}; stdout ends with:\n{block.stdout[-1000:]}\nstderr ends with:\n{stderr[-2000:]}"
        else:
            block.status, block.why = "failed", "not reached: an earlier block of the page failed"
        compare_output(block)


def run_program(block: Block, argv: list[str], suffix: str, env: dict[str, str], cwd: Path) -> None:
    path = cwd / f"block-{block.line}{suffix}"
    path.write_text(block.text)
    try:
        proc = subprocess.run(
            [*argv, str(path)], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT
        )
    except subprocess.TimeoutExpired:
        block.status, block.why = "failed", f"timed out after {TIMEOUT} s"
        return
    block.stdout = proc.stdout
    if proc.returncode == 0:
        block.status = "passed"
    else:
        block.status = "failed"
        block.why = f"exit {proc.returncode}; stderr ends with:\n{proc.stderr[-2000:]}"
    compare_output(block)


def main() -> int:
    pages = [parse(Path(p).resolve()) for p in sys.argv[1:]]
    if not pages:
        raise SystemExit("usage: run_blocks.py PAGE.md...")
    venv = Path(os.environ.get("SWITCHBOARD_VENV", Path.home() / ".cache" / "switchboard-venv"))
    python = venv / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{python} is missing: bash scripts/test-python.sh makes the venv")
    if not (REPO / "bindings-node" / "dist").exists():
        raise SystemExit("bindings-node/dist is missing: run `npm install` at the repository root")

    fake = processes.start_fake()
    try:
        engine = processes.start_engine(
            "--upstream-base-url", f"github={fake.base('github')}", "--egress-allow", "127.0.0.1"
        )
    except BaseException:
        fake.stop()
        raise
    try:
        base_env = processes.child_env()
        base_env.pop("SWITCHBOARD_LOG", None)
        base_env.update(
            {
                "PATH": f"{processes.bin_dir()}{os.pathsep}{base_env.get('PATH', '')}",
                "REPO": str(REPO),
                "GITHUB_TOKEN": processes.GITHUB_TOKEN,
                "GITHUB_API_URL": fake.base("github"),
                "SWITCHBOARD_API_URL": engine.url,
                "SWITCHBOARD_CLIENT_ID": engine.client_id,
                "SWITCHBOARD_CLIENT_SECRET": engine.client_secret,
                "AIRBYTE_CLIENT_ID": engine.client_id,
                "AIRBYTE_CLIENT_SECRET": engine.client_secret,
                "SWITCHBOARD_UPSTREAM_BASE_URLS": f"github={fake.base('github')}",
                "SWITCHBOARD_EGRESS_ALLOW": "127.0.0.1",
            }
        )
        for page in pages:
            fake.reset()
            env = dict(base_env, SWITCHBOARD_BIND=f"127.0.0.1:{free_port()}")
            cwd = Path(tempfile.mkdtemp(prefix="switchboard-docs-page-"))
            try:
                (cwd / "node_modules").mkdir()
                (cwd / "node_modules" / "switchboard-connectors").symlink_to(REPO)
                shell: list[Block] = []
                for block in page.blocks:
                    if block.status != "pending":
                        continue
                    if block.lang in SHELL:
                        shell.append(block)
                    elif block.lang in PYTHON:
                        run_program(block, [str(python)], ".py", env, cwd)
                    elif block.lang in JS:
                        run_program(block, ["node"], ".mjs", env, cwd)
                    else:
                        check_include(block)
                        if block.status == "pending":
                            block.status = "failed"
                            block.why = (
                                f"a `{block.lang or 'plain'}` block that neither runs nor is marked "
                                "(`ignore`, `output`) nor includes a test source"
                            )
                if shell:
                    run_shell(shell, env, cwd)
            finally:
                shutil.rmtree(cwd, ignore_errors=True)
    finally:
        engine.stop()
        fake.stop()

    counts = {"passed": 0, "failed": 0, "ignored": 0, "included": 0, "output": 0}
    for page in pages:
        for block in page.blocks:
            counts[block.status] += 1
            if block.status == "output":
                continue
            label = f"{block.lang or 'plain'}{',' + ','.join(sorted(block.markers)) if block.markers else ''}"
            extra = f" ({block.why})" if block.status in ("included",) else ""
            checked = " + output checked" if block.output is not None and block.status == "passed" else ""
            print(f"  {block.status:8} {block.where} [{label}]{checked}{extra}")
            if block.status == "failed":
                print("           " + block.why.replace("\n", "\n           "))
    for page in pages:
        if not any(b.status in ("passed", "included", "failed") for b in page.blocks):  # failed: counted already
            counts["failed"] += 1
            print(f"  failed   {page.path}: no block of the page runs or is included from a test")
    print(
        f"blocks: {counts['passed']} passed, {counts['failed']} failed, {counts['ignored']} ignored, "
        f"{counts['included']} included from tests, {counts['output']} outputs compared"
    )
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
