"""Checks the full-text search of a built mdBook site (BOOK_DIR).

mdBook's search is a box on every page and an index (`searchindex.js`, or `searchindex-HASH.js`
with hashed file names) its script loads. This checks that:

- the index exists, once, and decodes (the JSON mdBook wraps in a `JSON.parse('...')` call);
- every page of the book (every HTML file but the print view, the 404 page and the table of
  contents) has the search box and names that index file as the one to load;
- every page is in the index, and words of each page find it: for every page, one word of its
  title leads through the index's title terms to one of the page's entries; and a word of every
  page's text leads through the body terms to it (elasticlunr stems words, so a term is looked
  for as a stem: a prefix of the word);
- the index's entries hold the pages' text (the result teasers come from it).

Prints `search: N pages, M words found` or each fault, and exits 1 on a fault.

Usage: python3 tests/docs/check_search.py BOOK_DIR
"""

from __future__ import annotations

import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

NOT_CHAPTERS = {"print.html", "404.html", "toc.html"}
PREFIX = "window.search = Object.assign(window.search, JSON.parse('"
SUFFIX = "'));"
WORD = re.compile(r"[a-z]{5,}")


class Page(HTMLParser):
    """The search box, the index script a page loads, and its main text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.search_box = False
        self.index_js: str | None = None
        self.text: list[str] = []
        self._main = 0
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "input" and a.get("id") == "mdbook-searchbar":
            self.search_box = True
        if tag == "main":
            self._main += 1
        if tag in ("script", "style", "pre", "code"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "main":
            self._main -= 1
        if tag in ("script", "style", "pre", "code"):
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data: str) -> None:
        m = re.search(r'path_to_searchindex_js\s*=\s*"([^"]+)"', data)
        if m:
            self.index_js = m.group(1)
        if self._main and not self._skip:
            self.text.append(data)


def load_index(path: Path) -> dict[str, Any]:
    text = path.read_text()
    if not (text.startswith(PREFIX) and text.rstrip().endswith(SUFFIX)):
        raise SystemExit(f"{path.name}: not the search index mdBook writes")
    body = text[len(PREFIX) : len(text.rstrip()) - len(SUFFIX)]
    # mdBook escapes `\` and `'` to fit the JSON in a '...' string: undo it.
    index: dict[str, Any] = json.loads(re.sub(r"\\(.)", lambda m: m.group(1), body, flags=re.S))
    return index


def docs_of(trie: dict[str, Any], word: str) -> set[str]:
    """The entries a word finds: those of the longest index term that is a prefix of it (the
    word's stem), at least 4 letters long."""
    node: dict[str, Any] = trie
    found: set[str] = set()
    for i, ch in enumerate(word):
        child: dict[str, Any] | None = node.get(ch)
        if child is None:
            break
        node = child
        docs: dict[str, Any] = node.get("docs") or {}
        if i >= 3 and docs:
            found = set(docs)
    return found


def main() -> int:
    if len(sys.argv) != 2:
        raise SystemExit("usage: check_search.py BOOK_DIR")
    root = Path(sys.argv[1]).resolve()
    faults: list[str] = []
    indexes = sorted(root.glob("searchindex*.js"))
    if len(indexes) != 1:
        raise SystemExit(f"expected one searchindex*.js in {root}, found {[p.name for p in indexes]}: "
                         "is mdBook built with its `search` feature?")
    index = load_index(indexes[0])
    urls: list[str] = index["doc_urls"]
    fields: dict[str, Any] = index["index"]["index"]
    stored: dict[str, dict[str, str]] = index["index"]["documentStore"]["docs"]
    entries: dict[str, set[str]] = {}
    for ref, url in enumerate(urls):
        entries.setdefault(url.partition("#")[0], set()).add(str(ref))

    pages = [p for p in sorted(root.rglob("*.html")) if p.relative_to(root).as_posix() not in NOT_CHAPTERS]
    if not pages:
        raise SystemExit(f"no HTML under {root}: build the book first")
    words = 0
    for path in pages:
        rel = path.relative_to(root).as_posix()
        page = Page()
        page.feed(path.read_text(errors="replace"))
        if not page.search_box:
            faults.append(f"{rel}: no search box")
        if page.index_js is None or (path.parent / page.index_js).resolve() != indexes[0]:
            faults.append(f"{rel}: loads {page.index_js!r}, not {indexes[0].name}")
        mine = entries.get(rel, set())
        if not mine:
            faults.append(f"{rel}: not in the search index")
            continue
        if not any(stored.get(ref, {}).get("body", "").strip() for ref in mine):
            faults.append(f"{rel}: the index holds none of its text")
        titles = [w for ref in mine for w in WORD.findall(stored.get(ref, {}).get("title", "").lower())]
        if not any(docs_of(fields["title"]["root"], w) & mine for w in titles):
            faults.append(f"{rel}: no word of its titles {titles[:5]} finds it")
        else:
            words += 1
        body = WORD.findall(" ".join(page.text).lower())
        if not any(docs_of(fields["body"]["root"], w) & mine for w in body[:200]):
            faults.append(f"{rel}: no word of its text finds it")
        else:
            words += 1

    for f in faults:
        print(f"FAULT: {f}")
    print(f"search: {len(pages)} pages, {words} words found, {len(faults)} faults ({indexes[0].name})")
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main())
