"""Request bodies: authentication comes from the headers first (401/403 before a body is read),
each endpoint has its own body limit (413 with a JSON reason), and a whole request must arrive
within an overall deadline (a client that drips bytes gets 408; the deadline does not restart
with every read)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from tests.web.conftest import REMOTE


def head_only(port: int, head: bytes, *, source: str | None = None, timeout: float = 10) -> tuple[str, dict[str, str], bytes]:
    """Send only a request head (the announced body never follows) and read the answer: a
    server that waited for the body would time this out."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0) if source else None)
    try:
        s.sendall(head)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            assert chunk, f"closed without an answer: {data!r}"
            data += chunk
        head_s, _, body = data.partition(b"\r\n\r\n")
        lines = head_s.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        n = int(headers.get("content-length", "0"))
        while len(body) < n:
            chunk = s.recv(65536)
            assert chunk
            body += chunk
        return lines[0], headers, body
    finally:
        s.close()


def test_unauthenticated_send_answered_before_body(server: Any) -> None:
    """The 150 MB body is never read: the 401 comes from the head alone."""
    st, headers, body = head_only(
        server.ports["http"],
        b"POST /webapi/v0/Send HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 150000000\r\n\r\n",
    )
    assert st == "HTTP/1.1 401 Unauthorized"
    assert json.loads(body) == {"Code": "user", "Message": "missing http basic authentication"}
    assert headers["www-authenticate"] == 'Basic realm="mox webapi"'
    assert headers["connection"] == "close"
    # Wrong credentials: the same, after the password check.
    st, _, body = head_only(
        server.ports["http"],
        b"POST /webapi/v0/Send HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic bW94QGxvY2FsaG9zdDp3cm9uZw==\r\n"
        b"Content-Length: 150000000\r\n\r\n",
    )
    assert (st, json.loads(body)["Message"]) == ("HTTP/1.1 401 Unauthorized", "bad credentials")


@pytest.mark.parametrize(
    "path,status,code",
    [
        ("/webmail/api/Submit", 403, "user:noAuth"),
        ("/account/import", 403, "user:noAuth"),
        ("/admin/api/AccountAdd", 403, "user:noAuth"),
        ("/webmail/logout", 403, "user:noAuth"),
        ("/nonexistent", 404, "user:notFound"),
        ("/readyz", 405, "user:methodNotAllowed"),
    ],
)
def test_other_refusals_before_body(server: Any, path: str, status: int, code: str) -> None:
    st, headers, body = head_only(
        server.ports["http"], f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 150000000\r\n\r\n".encode()
    )
    assert st.startswith(f"HTTP/1.1 {status} ") and json.loads(body)["code"] == code
    assert headers["connection"] == "close"


def test_test_api_remote_answered_before_body(server: Any) -> None:
    st, _, body = head_only(
        server.ports["http"],
        b"POST /api/v1/faults HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 150000000\r\n\r\n",
        source=REMOTE,
    )
    assert (st, json.loads(body)["code"]) == ("HTTP/1.1 401 Unauthorized", "user:noAuth")


def test_body_limits_per_endpoint(server: Any) -> None:
    auth = "Authorization: Basic bW94QGxvY2FsaG9zdDptb3htb3htb3g=\r\n"  # mox@localhost:moxmoxmox
    port = server.ports["http"]
    send_limit = server.ctx.config.max_message_size * 4 // 3 + 1024 * 1024
    cases = [
        (f"POST /webapi/v0/Send HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Length: {send_limit + 1}\r\n\r\n", send_limit),
        (f"POST /webapi/v0/MessageGet HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Length: 2000000\r\n\r\n", 1024 * 1024),
        ("POST /webmail/login HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n", 65536),
        ("POST /api/v1/faults HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\n\r\n", 1024 * 1024),
    ]
    for head, limit in cases:
        st, headers, body = head_only(port, head.encode())
        assert st == "HTTP/1.1 413 Content Too Large", head
        n = head.split("Content-Length: ")[1].split("\r\n")[0]
        assert json.loads(body) == {"code": "user:tooLarge", "message": f"request body of {n} bytes exceeds limit of {limit} bytes"}
        assert headers["connection"] == "close"


@pytest.fixture
def short_deadline(server: Any) -> Iterator[float]:
    """web_request_deadline set to 1 second for this test (the server reads ctx.config per use)."""
    deadline = 1.0
    thread = server._thread
    old = server.ctx.config

    def set_config(cfg: Any) -> None:
        server.ctx.config = cfg

    thread.run_sync_in_server(set_config, msgspec.structs.replace(old, web_request_deadline=deadline))
    try:
        yield deadline
    finally:
        thread.run_sync_in_server(
            set_config, msgspec.structs.replace(server.ctx.config, web_request_deadline=old.web_request_deadline)
        )


def test_slow_drip_body_hits_overall_deadline(server: Any, short_deadline: float) -> None:
    """A byte every 50 ms keeps every single read short, but the whole request must be in
    within the deadline: 408, and not before the deadline."""
    import threading

    body = json.dumps({"username": "mox@localhost", "password": "x" * 400}).encode()
    s = socket.create_connection(("127.0.0.1", server.ports["http"]), timeout=10)
    answer = bytearray()
    answered = threading.Event()

    def read() -> None:  # reads everything at once, so a reset after the answer loses nothing
        try:
            while chunk := s.recv(65536):
                answer.extend(chunk)
                answered.set()
        except OSError:
            pass
        answered.set()

    reader = threading.Thread(target=read, daemon=True)
    try:
        start = time.monotonic()
        s.sendall(b"POST /webmail/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
        reader.start()
        for b in body:
            if answered.wait(0.05):
                break
            try:
                s.sendall(bytes([b]))
            except OSError:
                break
        assert answered.wait(10)
        elapsed = time.monotonic() - start
        reader.join(10)
    finally:
        s.close()
    assert bytes(answer).startswith(b"HTTP/1.1 408 Request Timeout"), bytes(answer)
    assert b'"message":"request not complete within 1 seconds"' in answer
    assert elapsed >= short_deadline  # a lower bound only: the server did not give up early
