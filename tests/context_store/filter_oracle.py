#!/usr/bin/env python3
"""An independent evaluation of the context store's filter language (docs/context-store.md),
written from the documented semantics, not from the engine's SQL.

Usage: filter_oracle.py RECORDS.json CASES.json
  RECORDS.json: a list of records (objects with an "id").
  CASES.json:   a list of queries ({"filter": ..., "sort": [...]}).
Prints a JSON list: for each query, the ids of the matching records in the order the engine must
answer them (the sort keys, then id ascending).
"""

import json
import re
import sys

MISSING = object()


def get(record, path):
    cur = record
    for key in path.split("."):
        if isinstance(cur, dict) and key in cur:
            cur = cur[key]
        else:
            return MISSING
    return cur


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def typed_eq(v, x):
    if x is None:
        return v is MISSING or v is None
    if isinstance(x, bool):
        return v is x
    if is_num(x):
        return is_num(v) and v == x
    if isinstance(x, str):
        return isinstance(v, str) and v == x
    raise ValueError(f"not a scalar: {x!r}")


def typed_cmp(v, x, op):
    if is_num(x):
        ok = is_num(v)
    else:
        ok = isinstance(v, str)
    if not ok:
        return False
    return {"gt": v > x, "gte": v >= x, "lt": v < x, "lte": v <= x}[op]


def words(s):
    return re.findall(r"[^\W_]+", s.lower())


def levenshtein(a, b):
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def fuzzy_word(q, w):
    if w.startswith(q):
        return True
    if len(q) < 4:
        return False
    return levenshtein(q, w) <= (1 if len(q) < 8 else 2)


def like_regex(pattern):
    out = []
    for ch in pattern.lower():
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


def text(op, v, x):
    if not isinstance(v, str):
        return False
    lv, lx = v.lower(), x.lower()
    if op == "contains":
        return lx in lv
    if op == "startswith":
        return lv.startswith(lx)
    if op == "endswith":
        return lv.endswith(lx)
    if op == "like":
        return like_regex(x).fullmatch(lv) is not None
    if op == "keyword":
        have = set(words(v))
        return any(w in have for w in words(x))
    if op == "fuzzy":
        have = words(v)
        want = words(x)
        return bool(want) and all(any(fuzzy_word(q, w) for w in have) for q in want)
    raise ValueError(op)


def matches(cond, record):
    results = []
    for op, arg in cond.items():
        if op == "and":
            results.append(all(matches(c, record) for c in arg))
        elif op == "or":
            results.append(any(matches(c, record) for c in arg))
        elif op == "not":
            results.append(not matches(arg, record))
        else:
            for field, x in arg.items():
                v = get(record, field)
                if op == "eq":
                    r = typed_eq(v, x)
                elif op == "neq":
                    r = not typed_eq(v, x)
                elif op in ("gt", "gte", "lt", "lte"):
                    r = typed_cmp(v, x, op)
                elif op == "in":
                    r = any(typed_eq(v, i) for i in x)
                elif op in ("contains", "startswith", "endswith", "like", "fuzzy", "keyword"):
                    r = text(op, v, x)
                elif op == "array_contains":
                    r = isinstance(v, list) and any(typed_eq(e, x) for e in v if e is not MISSING)
                elif op == "any":
                    r = isinstance(v, list) and any(isinstance(e, dict) and matches(x, e) for e in v)
                else:
                    raise ValueError(f"unknown operator {op}")
                results.append(r)
    return all(results)


def sort_key(v):
    """SQLite's order of json_extract values: NULL, numbers (booleans as 0/1), text (objects and
    arrays as their JSON text)."""
    if v is MISSING or v is None:
        return (0, 0)
    if isinstance(v, bool):
        return (1, int(v))
    if is_num(v):
        return (1, v)
    if isinstance(v, str):
        return (2, v.encode("utf-8"))
    return (2, json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def main():
    records = json.load(open(sys.argv[1]))
    cases = json.load(open(sys.argv[2]))
    out = []
    for q in cases:
        hits = [r for r in records if "filter" not in q or matches(q["filter"], r)]
        hits.sort(key=lambda r: r["id"])
        for key in reversed(q.get("sort", [])):
            (field, direction), = key.items()
            hits.sort(key=lambda r: sort_key(get(r, field)), reverse=direction == "desc")
        out.append([r["id"] for r in hits])
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
