"""A fast Stripe-shaped fake for the context-store benchmark (benches/run.py starts it).

`GET /v1/customers?limit=L&starting_after=ID` pages over N customers (`--records N`), in id
order, with Stripe's `has_more`. The pages of 100 (the size the engine's sync asks for) are
rendered before the fake says it is listening, any other page on first request; all are then
served from memory (keep-alive, HTTP/1.1), so the fake costs little next to the engine. Prints `listening on 127.0.0.1:PORT` when ready.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

FIRST = ["John", "Jane", "Jonathan", "Maria", "Zoë", "Ahmed", "Li", "Teodora"]
LAST = ["Smith", "Smyth", "García", "Müller", "O'Brien", "Nguyen", "Brown", "Kowalski"]
DOMAINS = ["acme.com", "example.org", "globex.io", "initech.net"]
CITIES = ["Paris", "Berlin", "New York", "São Paulo", "Tokyo"]
WORDS = ["premium", "customer", "enterprise", "trial", "billing-issue", "vip", "churn", "renewal", "zürich", "q3"]


def mix(i: int, k: int) -> int:
    z = (i * 0x9E3779B97F4A7C15 + k * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return z ^ (z >> 31)


def record(i: int) -> dict:
    first, last = FIRST[mix(i, 1) % 8], LAST[mix(i, 2) % 8]
    r: dict = {"id": f"cus_{i:06d}", "object": "customer", "created": 1_600_000_000 + i * 37, "livemode": False}
    r["name"] = None if mix(i, 3) % 10 == 0 else f"{first} {last}"
    r["email"] = f"{first.lower()}.{last.lower()}{i}@{DOMAINS[mix(i, 5) % 4]}" if mix(i, 4) % 9 else None
    r["balance"] = int(mix(i, 7) % 2000) - 1000
    r["currency"] = ["usd", "eur", "gbp", None][mix(i, 8) % 4]
    r["delinquent"] = [True, False, None][mix(i, 9) % 3]
    r["description"] = " ".join(WORDS[mix(i, 20 + k) % len(WORDS)] for k in range(2 + mix(i, 10) % 4))
    r["shipping"] = {"name": f"{first} {last}", "address": {"city": CITIES[mix(i, 13) % 5]}} if mix(i, 11) % 3 else None
    r["metadata"] = {"tier": ["gold", "silver", "bronze"][mix(i, 14) % 3]}
    return r


class Pages:
    def __init__(self, total: int) -> None:
        self.total = total
        self.cache: dict[tuple[int, int], bytes] = {}
        self.lock = threading.Lock()
        self.served = 0

    def page(self, after: int, limit: int) -> bytes:
        key = (after, limit)
        with self.lock:
            self.served += 1
            body = self.cache.get(key)
        if body is None:
            hi = min(self.total, after + limit)
            data = [record(i) for i in range(after + 1, hi + 1)]
            body = json.dumps({"object": "list", "url": "/v1/customers", "has_more": hi < self.total, "data": data}).encode()
            with self.lock:
                self.cache[key] = body
        return body


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--records", type=int, required=True)
    a = p.parse_args()
    pages = Pages(a.records)
    for after in range(0, a.records, 100):
        pages.page(after, 100)
    pages.served = 0

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:  # noqa: N802
            u = urlsplit(self.path)
            if u.path != "/v1/customers":
                self.send_response(404)
                self.send_header("content-length", "0")
                self.end_headers()
                return
            q = parse_qs(u.query)
            limit = max(1, min(100, int(q.get("limit", ["10"])[0])))
            after_id = q.get("starting_after", ["cus_000000"])[0]
            after = int(after_id.removeprefix("cus_")) if after_id.startswith("cus_") else 0
            body = pages.page(after, limit)
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print(f"listening on 127.0.0.1:{srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
