"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 (stdlib, its own threads) that
records each POST and answers with the status codes a test asks for."""

from __future__ import annotations

import http.server
import json
import threading
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class Call:
    path: str
    headers: dict[str, str]  # names lower-case
    body: bytes
    status: int  # what the receiver answered

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class HookReceiver:
    """``statuses``: the answers to give, in order (then ``default``)."""

    def __init__(self, statuses: list[int] | None = None, default: int = 200) -> None:
        self.calls: list[Call] = []
        self.statuses = list(statuses or [])
        self.default = default
        self._cond = threading.Condition()
        recv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with recv._cond:
                    status = recv.statuses.pop(0) if recv.statuses else recv.default
                    recv.calls.append(Call(self.path, {k.lower(): v for k, v in self.headers.items()}, body, status))
                    recv._cond.notify_all()
                reply = b"ok" if status == 200 else b"receiver says no"
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait(self, n: int, timeout: float = 30, path: str | None = None) -> list[Call]:
        """The first ``n`` calls (to ``path``, when given), waiting for them as long as needed
        (``timeout`` only ends a test whose server never calls)."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [c for c in self.calls if path is None or c.path == path]
                if len(got) >= n:
                    return got[:n]
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {n} webhook calls, got {len(got)}: {[c.path for c in self.calls]}")
                self._cond.wait(left)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> HookReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
