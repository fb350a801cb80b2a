#!/usr/bin/env bash
# One version for every package: the Rust crates (Cargo.toml's [workspace.package]), the Python
# package (pyproject.toml and switchboard.__version__), the npm package (package.json,
# package-lock.json and VERSION in bindings-node/ts/index.ts) and the Kotlin jar
# (bindings-uniffi/kotlin/pom.xml).
#
#   bash scripts/version.sh            prints the version; fails naming every file that disagrees
#   bash scripts/version.sh 0.2.0      sets it everywhere and opens its section in CHANGELOG.md
set -euo pipefail
cd "$(dirname "$0")/.."

python3 - "$@" <<'PY'
import json, re, sys, datetime, pathlib

# (file, pattern whose group 1 is the version): the first match in each file is the one.
PLACES = [
    ("Cargo.toml", r'\[workspace\.package\]\s*\nversion = "([^"]+)"'),
    ("pyproject.toml", r'\[project\][^\[]*?\nversion = "([^"]+)"'),
    ("bindings-python/python/switchboard/__init__.py", r'__version__ = "([^"]+)"'),
    ("package.json", r'"version": "([^"]+)"'),
    ("bindings-node/ts/index.ts", r"export const VERSION = '([^']+)'"),
    ("bindings-uniffi/kotlin/pom.xml", r"<artifactId>switchboard-connectors</artifactId>\s*<version>([^<]+)</version>"),
]
SEMVER = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$")


def found() -> dict[str, str]:
    out = {}
    for path, pattern in PLACES:
        m = re.search(pattern, pathlib.Path(path).read_text())
        if not m:
            sys.exit(f"{path}: no version found (pattern {pattern!r})")
        out[path] = m.group(1)
    lock = json.loads(pathlib.Path("package-lock.json").read_text())
    out["package-lock.json"] = lock["version"]
    out["package-lock.json (packages[''])"] = lock["packages"][""]["version"]
    return out


def check() -> str:
    versions = found()
    distinct = sorted(set(versions.values()))
    if len(distinct) != 1:
        lines = "\n".join(f"  {v:<12} {p}" for p, v in versions.items())
        sys.exit(f"the packages disagree on the version:\n{lines}\nrun: bash scripts/version.sh X.Y.Z")
    return distinct[0]


def bump(new: str) -> None:
    if not SEMVER.match(new):
        sys.exit(f"{new!r} is not a version like 1.2.3 or 1.2.3-rc.1")
    for path, pattern in PLACES:
        p = pathlib.Path(path)
        text = p.read_text()
        m = re.search(pattern, text)
        assert m
        p.write_text(text[: m.start(1)] + new + text[m.end(1) :])
    p = pathlib.Path("package-lock.json")
    lock = json.loads(p.read_text())
    lock["version"] = new
    lock["packages"][""]["version"] = new
    p.write_text(json.dumps(lock, indent=2) + "\n")
    log = pathlib.Path("CHANGELOG.md")
    text = log.read_text()
    if f"## [{new}]" not in text:
        today = datetime.date.today().isoformat()
        # The Unreleased section becomes the new version's; a fresh empty one goes above it.
        text = text.replace("## [Unreleased]", f"## [Unreleased]\n\n## [{new}] - {today}", 1)
        log.write_text(text)


if len(sys.argv) > 1:
    bump(sys.argv[1])
print(check())
PY
