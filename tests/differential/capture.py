"""A capturing HTTP server for the differential test: it records every request it receives
(method, path, query, headers, body) and answers each with ``200 {}``, so neither runtime
retries or follows a page. Standard library only: it runs in the reference's environment and in
ours."""

from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: CaptureServer

    def _capture(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        self.server.record(
            {
                "method": self.command,
                "path": url.path,
                "query": sorted(parse_qsl(url.query, keep_blank_values=True)),
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": base64.b64encode(body).decode() if body else "",
            }
        )
        payload = b"{}"
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _capture

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class CaptureServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def record(self, request: dict[str, Any]) -> None:
        with self._lock:
            self._requests.append(request)

    def take(self) -> list[dict[str, Any]]:
        """The requests received since the last call."""
        with self._lock:
            out, self._requests = self._requests, []
        return out
