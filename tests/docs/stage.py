"""Assembles the book's source outside the clone, for `mdbook build`.

The pages stay where the repository keeps them (docs/*.md; SECURITY.md and connectors/README.md
are pulled in by `{{#include}}` pages), so links in them are written for readers of the
repository. This script copies them into STAGE/src and rewrites each relative link by what it
points at:

- a page of the book (a docs/ page, or a file a page includes whole) -> that page in the book;
- any other file of the repository -> the file in the repository's web view (`--repo-url`, else
  SWITCHBOARD_DOCS_REPO_URL, then `/blob/main/PATH`), which the staged book.toml also names as
  the site's `git-repository-url`. With neither (the project has no public address yet) such a
  link becomes its text, naming the file: "text (`PATH` in the repository)";
- anything else is left alone, so the link check reports it.

It also checks that every page of docs/ is in docs/SUMMARY.md (mdBook leaves a page it does not
list out of the site) and in the tables of docs/README.md.

Files named by `{{#include}}` are copied beside the staged pages at the same relative path
(markdown ones with their links rewritten for the page that includes them), so mdBook resolves
them, anchors included. The engine API pages (tests/docs/openapi_md.py) are generated into
STAGE/src/api-reference/ and listed in the staged SUMMARY.md under the line that links
`api-reference/index.md`.

Usage: python3 tests/docs/stage.py STAGE [--openapi-url URL] [--repo-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import posixpath
import re
import shutil
import sys
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import openapi_md  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DOCS = "docs"
API_DIR = "api-reference"

INCLUDE = re.compile(r"\{\{#(include|rustdoc_include)\s+([^\s}]+)\s*\}\}")
# Inline links and images `](target)` or `](target "title")`, and reference definitions.
INLINE = re.compile(r"(\]\()([^)\s]+)((?:\s+\"[^\"]*\")?\))")
REFDEF = re.compile(r"^(\s{0,3}\[[^\]]+\]:\s+)(\S+)", re.M)
# A whole inline link (not an image): `[text](target)` or `[text](target "title")`.
LINK = re.compile(r"(?<!!)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(\s*)(```|~~~)")


class Stager:
    def __init__(self, stage: Path, repo_url: str | None) -> None:
        self.stage = stage
        self.src = stage / "src"
        self.repo_url = repo_url.rstrip("/") if repo_url else None
        # Repository path of a book page -> its path under src/.
        self.pages: dict[str, str] = {}
        for page in sorted((REPO / DOCS).glob("*.md")):
            # mdBook renders a README.md as index.html but leaves links to it as README.html:
            # the index page is staged as index.md, so links to it resolve.
            self.pages[f"{DOCS}/{page.name}"] = "index.md" if page.name == "README.md" else page.name
        # Markdown files included whole by a page belong to that page.
        for repo_path, src_path in list(self.pages.items()):
            for kind, target in INCLUDE.findall((REPO / repo_path).read_text()):
                if kind == "include" and target.endswith(".md") and ":" not in target:
                    self.pages.setdefault(posixpath.normpath(posixpath.join(DOCS, target)), src_path)

    def rewrite_target(self, target: str, origin: str, host: str) -> str:
        """`target` written in repository file `origin`, as it must read in book page `host`."""
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith(("#", "/")):
            return target
        path, sep, frag = target.partition("#")
        if not path:
            return target
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(origin), path))
        if resolved in self.pages:
            rel = posixpath.relpath(self.pages[resolved], posixpath.dirname(host) or ".")
            return rel + sep + frag
        on_disk = REPO / resolved
        if self.repo_url and not resolved.startswith("..") and on_disk.exists():
            kind = "tree" if on_disk.is_dir() else "blob"
            return f"{self.repo_url}/{kind}/main/{resolved}" + sep + frag
        return target

    def repository_file(self, target: str, origin: str) -> str | None:
        """The repository path of a file `target` (written in `origin`) names that is no page
        of the book, else `None`."""
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith(("#", "/")):
            return None
        path = target.partition("#")[0]
        if not path:
            return None
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(origin), path))
        if resolved in self.pages or resolved.startswith("..") or not (REPO / resolved).exists():
            return None
        return resolved

    def unlink(self, m: re.Match[str], origin: str) -> str:
        """A link to a repository file, without a repository address to link: its text, naming
        the file unless the text does."""
        text, target = m.group(1), m.group(2)
        path = self.repository_file(target, origin)
        if path is None:
            return m.group(0)
        if path in text.replace("`", "") or path.rstrip("/") + "/" == text.strip("`"):
            return text
        return f"{text} (`{path}` in the repository)"

    def rewrite(self, text: str, origin: str, host: str) -> str:
        out: list[str] = []
        fence: str | None = None
        for line in text.splitlines(keepends=True):
            m = FENCE.match(line)
            if m:
                if fence is None:
                    fence = m.group(2)
                elif m.group(2) == fence:
                    fence = None
                out.append(line)
                continue
            if fence is None:
                if self.repo_url is None:
                    line = LINK.sub(lambda m: self.unlink(m, origin), line)
                line = INLINE.sub(
                    lambda m: m.group(1) + self.rewrite_target(m.group(2), origin, host) + m.group(3), line
                )
                line = REFDEF.sub(lambda m: m.group(1) + self.rewrite_target(m.group(2), origin, host), line)
            out.append(line)
        return "".join(out)

    def stage_includes(self, text: str, origin: str, host: str) -> None:
        for kind, target in INCLUDE.findall(text):
            file_part = target.split(":", 1)[0]
            source = posixpath.normpath(posixpath.join(posixpath.dirname(origin), file_part))
            if source.startswith("..") or not (REPO / source).is_file():
                raise SystemExit(f"{origin}: {{{{#{kind} {target}}}}} names no file of the repository")
            dest = (self.src / posixpath.dirname(host) / file_part).resolve()
            if not dest.is_relative_to(self.stage.resolve()):
                raise SystemExit(f"{origin}: {{{{#{kind} {target}}}}} reaches outside the book")
            dest.parent.mkdir(parents=True, exist_ok=True)
            body = (REPO / source).read_text()
            if source.endswith(".md"):
                body = self.rewrite(body, source, host)
            dest.write_text(body)

    def run(self, openapi_url: str | None) -> None:
        if self.stage.exists():
            shutil.rmtree(self.stage)
        self.src.mkdir(parents=True)
        book = (REPO / "book.toml").read_text()
        if self.repo_url:
            # The site links the repository (the icon in its menu bar).
            book = book.replace("[output.html]\n", f"[output.html]\ngit-repository-url = {json.dumps(self.repo_url)}\n", 1)
            if tomllib.loads(book).get("output", {}).get("html", {}).get("git-repository-url") != self.repo_url:
                raise SystemExit("book.toml has no [output.html] table to name the repository in")
        (self.stage / "book.toml").write_text(book)
        for repo_path, src_path in self.pages.items():
            if not repo_path.startswith(f"{DOCS}/") or posixpath.dirname(repo_path) != DOCS:
                continue
            text = (REPO / repo_path).read_text()
            self.stage_includes(text, repo_path, src_path)
            (self.src / src_path).write_text(self.rewrite(text, repo_path, src_path))

        doc = openapi_md.fetch(openapi_url) if openapi_url else openapi_md.served_document()
        openapi_md.render(doc, self.src / API_DIR)
        entries = (self.src / API_DIR / "summary.md").read_text().splitlines()
        (self.src / API_DIR / "summary.md").unlink()
        summary = (self.src / "SUMMARY.md").read_text().splitlines()
        anchor_line = next(
            (i for i, line in enumerate(summary) if f"]({API_DIR}/index.md)" in line),
            None,
        )
        if anchor_line is None:
            raise SystemExit(f"docs/SUMMARY.md has no entry for {API_DIR}/index.md")
        indent = summary[anchor_line][: len(summary[anchor_line]) - len(summary[anchor_line].lstrip())]
        generated = [
            f"{indent}    - {entry.replace('](', f']({API_DIR}/', 1)}" for entry in entries if entry.startswith("[")
        ]
        summary[anchor_line + 1 : anchor_line + 1] = generated
        (self.src / "SUMMARY.md").write_text("\n".join(summary) + "\n")
        print(f"stage: {len(self.pages)} pages and included files -> {self.src}")


def unlisted_pages() -> list[str]:
    """The pages of docs/ that docs/SUMMARY.md or the tables of docs/README.md do not link."""
    summary = (REPO / DOCS / "SUMMARY.md").read_text()
    readme = (REPO / DOCS / "README.md").read_text()

    def linked_in(text: str) -> set[str]:
        return {t.partition("#")[0] for t in re.findall(r"\]\(([^)\s]+)", text)}

    in_summary, in_readme = linked_in(summary), linked_in(readme)
    missing: list[str] = []
    for page in sorted((REPO / DOCS).glob("*.md")):
        if page.name in ("SUMMARY.md", "README.md"):
            continue
        if page.name not in in_summary:
            missing.append(f"{DOCS}/{page.name} is not in {DOCS}/SUMMARY.md")
        if page.name not in in_readme:
            missing.append(f"{DOCS}/{page.name} is not in the tables of {DOCS}/README.md")
    return missing


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("stage", type=Path)
    ap.add_argument("--openapi-url", help="a running engine (default: start one from SWITCHBOARD_BIN_DIR)")
    ap.add_argument("--repo-url", default=os.environ.get("SWITCHBOARD_DOCS_REPO_URL") or None,
                    help="the repository's web address (default: SWITCHBOARD_DOCS_REPO_URL; none: files "
                         "of the repository are named, not linked)")
    args = ap.parse_args()
    missing = unlisted_pages()
    if missing:
        raise SystemExit("\n".join(missing))
    os.umask(0o022)
    Stager(args.stage, args.repo_url).run(args.openapi_url)


if __name__ == "__main__":
    main()
