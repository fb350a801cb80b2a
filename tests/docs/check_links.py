"""Checks every link of a built mdBook site (the HTML under BOOK_DIR).

For every `href` and `src` of every HTML file: a relative link must name a file of the site, and
its `#fragment`, if any, an `id` (or `<a name>`) of that page; `<base href>` is honoured.
External links (http, https, mailto) cannot be checked without a network: they are listed, once
each, with the pages using them. `javascript:` and `data:` URLs are skipped.

Prints every broken link with the page it is on, then
`links: N checked, M broken, E external (listed above)`; exits 1 when a link is broken.

Usage: python3 tests/docs/check_links.py BOOK_DIR
"""

from __future__ import annotations

import sys
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

SKIP_SCHEMES = {"javascript", "data"}
EXTERNAL_SCHEMES = {"http", "https", "mailto", "ftp"}


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.base: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v for k, v in attrs if v is not None}
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and "name" in a:
            self.ids.add(a["name"])
        if tag == "base" and "href" in a:
            self.base = a["href"]
        for attr in ("href", "src"):
            if attr in a and tag != "base":
                self.links.append(a[attr])


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(errors="replace"))
    return page


def main() -> int:
    if len(sys.argv) != 2:
        raise SystemExit("usage: check_links.py BOOK_DIR")
    root = Path(sys.argv[1]).resolve()
    pages = {p: parse(p) for p in sorted(root.rglob("*.html"))}
    if not pages:
        raise SystemExit(f"no HTML under {root}: build the book first")

    checked = 0
    broken: list[str] = []
    external: dict[str, set[str]] = defaultdict(set)
    for path, page in pages.items():
        where = path.relative_to(root).as_posix()
        for link in page.links:
            link = link.strip()
            if not link:
                continue
            scheme = urlsplit(link).scheme.lower()
            if scheme in SKIP_SCHEMES:
                continue
            if scheme in EXTERNAL_SCHEMES or link.startswith("//"):
                external[link].add(where)
                continue
            if scheme:
                broken.append(f"{where}: {link}: unknown scheme")
                continue
            checked += 1
            target, fragment = urldefrag(link)
            target = unquote(urlsplit(target).path)
            if page.base is not None and page.base.startswith("/"):
                base_dir = root / page.base.lstrip("/")
            else:
                base_dir = path.parent
            if not target:
                dest = path
            elif target.startswith("/"):
                dest = root / target.lstrip("/")
            else:
                dest = base_dir / target
            dest = Path(str(dest.resolve()))
            if dest.is_dir():
                dest = dest / "index.html"
            if not dest.is_relative_to(root):
                broken.append(f"{where}: {link}: points outside the site")
                continue
            if not dest.exists():
                broken.append(f"{where}: {link}: no such file")
                continue
            if fragment and dest.suffix == ".html":
                ids = pages[dest].ids if dest in pages else parse(dest).ids
                if unquote(fragment) not in ids:
                    broken.append(f"{where}: {link}: no #{fragment} on {dest.relative_to(root).as_posix()}")

    for link in sorted(external):
        users = sorted(external[link])
        more = f" and {len(users) - 3} more" if len(users) > 3 else ""
        print(f"  external {link} (on {', '.join(users[:3])}{more})")
    for b in broken:
        print(f"  BROKEN {b}")
    print(
        f"links: {checked} checked on {len(pages)} pages, {len(broken)} broken, "
        f"{len(external)} external (listed above)"
    )
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
