"""The delays after failed logins, measured on the server's clock.

mox's rules (imapserver/server.go, smtpserver/server.go, webauth/webauth.go): on one IMAP or SMTP
connection, from the 4th attempt on the server sleeps (failures - 3) x 1 s before it checks the
credentials; a failed web login (account, webmail, admin pages, webapi basic auth) is answered
after a 1 s delay. The numbers below are those rules, written out, not read from our code.

The whole localserve runs on a frozen trio clock (``trio.testing.MockClock``, rate 0), so the
server can only get past a sleep when the test moves its clock on. ``answer_after_sleeps`` does
that: it waits until the server answers, and each time the server sits on a deadline (a sleep)
it jumps the clock to it and records how long that sleep was. Removing a sleep from the server
leaves it out of the recorded list, so the test fails; no wall-clock time is measured.

Slow mode's per-read and per-byte delays are set to 0 for the login delay tests, and turned on one
at a time by the slow mode test: from the 3rd failure, mox sleeps 1 s before each read and writes
1 byte per second (localserve: the rest at once after 2 s).
"""

from __future__ import annotations

import base64
import json
import select
import socket
import time
from pathlib import Path

import pytest
import trio.testing

from mox import config as mconfig
from mox import localserve
from mox.testing import LocalServer

#: Sleeps longer than this are not a login delay (idle timeouts: 30 s and more).
HORIZON = 10.0


def frozen_server(d: Path, **limits: float) -> LocalServer:
    localserve.prepare(d, port_base=0)
    edit = {"slow_read_delay": 0, "slow_write_delay": 0, **limits}
    mconfig.edit_file(d, mconfig.EXTRA_CONF, lambda x: x["Limits"].update({mconfig.mox_name(k): v for k, v in edit.items()}))
    return LocalServer(d, clock=trio.testing.MockClock())


class Conn:
    """A raw client socket; ``send`` returns the sleeps the server did before its answer."""

    def __init__(self, srv: LocalServer, port: int) -> None:
        self.srv = srv
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""

    def _until(self, done, what: str) -> list[float]:
        """Read until done(buf), moving the server's clock through its sleeps; returns them."""
        sleeps: list[float] = []
        wall = time.monotonic() + 30  # only for a broken server: progress here is by events
        while not done(self.buf):
            assert time.monotonic() < wall, f"no {what}; got {self.buf!r}, server sleeps so far {sleeps}"
            # The deadline first, then the socket: a server that sleeps after writing (e.g. before
            # reading the next command) has written before it slept, so its data is seen first.
            d = self.srv.next_deadline()
            if select.select([self.sock], [], [], 0)[0]:
                chunk = self.sock.recv(65536)
                assert chunk, f"connection closed before {what}; got {self.buf!r}"
                self.buf += chunk
                continue
            if d <= HORIZON:
                sleeps.append(round(d, 6))
                self.srv.jump(d)
            else:
                time.sleep(0.002)
        return sleeps

    def answer_after_sleeps(self, end: bytes) -> tuple[bytes, list[float]]:
        """Read through `end`, moving the server's clock through its sleeps."""
        sleeps = self._until(lambda buf: end in buf, repr(end))
        answer, _, self.buf = self.buf.partition(end)
        return answer + end, sleeps

    def http_response(self) -> tuple[bytes, bytes, list[float]]:
        """(status line, body, sleeps) of the next HTTP response (with Content-Length)."""
        head, sleeps = self.answer_after_sleeps(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = int(next(v for k, _, v in (line.partition(b":") for line in lines) if k.lower() == b"content-length"))
        sleeps += self._until(lambda buf: len(buf) >= length, "body")
        body, self.buf = self.buf[:length], self.buf[length:]
        return lines[0], body, sleeps

    def send(self, data: bytes, end: bytes = b"\r\n") -> tuple[bytes, list[float]]:
        self.sock.sendall(data)
        return self.answer_after_sleeps(end)

    def close(self) -> None:
        self.sock.close()


def _imap_last_line(answer: bytes) -> bytes:
    return answer.rsplit(b"\r\n", 2)[-2] + b"\r\n"


def test_imap_failed_logins_wait_failures_minus_3_seconds(tmp_path):
    with frozen_server(tmp_path / "d") as srv:
        c = Conn(srv, srv.ports["imap"])
        c.answer_after_sleeps(b"\r\n")  # greeting
        got = []
        for i in range(1, 8):
            answer, sleeps = c.send(f"a{i} LOGIN mox@localhost wrong{i}\r\n".encode(), end=f"a{i} ".encode())
            rest, _ = c.answer_after_sleeps(b"\r\n")
            assert rest == b"NO [AUTHENTICATIONFAILED] login failed\r\n", (i, rest)
            got.append(sleeps)
        # Attempts 1-4: at once; then 1, 2, 3 s (failures - 3).
        assert got == [[], [], [], [], [1.0], [2.0], [3.0]]
        # A success (after its own delay) starts the count again.
        answer, sleeps = c.send(b"b LOGIN mox@localhost moxmoxmox\r\n", end=b"b OK ")
        assert sleeps == [4.0]
        c.answer_after_sleeps(b"\r\n")
        c.send(b"c LOGOUT\r\n", end=b"c OK")  # back to not authenticated
        c.close()
        c = Conn(srv, srv.ports["imap"])
        c.answer_after_sleeps(b"\r\n")
        for i in range(1, 5):
            _, sleeps = c.send(f"d{i} LOGIN mox@localhost wrong\r\n".encode(), end=f"d{i} NO".encode())
            assert sleeps == [], i
            c.answer_after_sleeps(b"\r\n")
        c.close()


def _auth_plain(user: str, password: str) -> bytes:
    return b"AUTH PLAIN " + base64.b64encode(f"\0{user}\0{password}".encode()) + b"\r\n"


def test_smtp_failed_auths_wait_failures_minus_3_seconds(tmp_path):
    with frozen_server(tmp_path / "d") as srv:
        c = Conn(srv, srv.ports["submission"])
        c.answer_after_sleeps(b"\r\n")  # greeting
        c.send(b"EHLO client.example\r\n", end=b"250 ")
        c.answer_after_sleeps(b"\r\n")
        got = []
        for i in range(1, 8):
            answer, sleeps = c.send(_auth_plain("mox@localhost", f"wrong{i}"))
            assert answer.startswith(b"535 5.7.8 "), (i, answer)
            got.append(sleeps)
        assert got == [[], [], [], [], [1.0], [2.0], [3.0]]
        answer, sleeps = c.send(_auth_plain("mox@localhost", "moxmoxmox"))
        assert answer.startswith(b"235 2.7.0 "), answer
        assert sleeps == [4.0]
        c.close()


def _http_login(path: str, password: str) -> bytes:
    body = json.dumps({"username": "mox@localhost", "password": password}).encode()
    head = f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


@pytest.mark.parametrize("path", ["/webmail/login", "/account/login", "/admin/login"])
def test_web_failed_logins_wait_1_second(tmp_path, path):
    with frozen_server(tmp_path / "d") as srv:
        c = Conn(srv, srv.ports["http"])
        for i in range(3):  # every failure, not only from the 4th
            c.sock.sendall(_http_login(path, password=f"wrong{i}"))
            status, body, sleeps = c.http_response()
            assert (status, json.loads(body)["code"]) == (b"HTTP/1.1 403 Forbidden", "user:loginFailed")
            assert sleeps == [1.0], i
        password = "moxadmin" if path == "/admin/login" else "moxmoxmox"
        c.sock.sendall(_http_login(path, password=password))
        status, _, sleeps = c.http_response()
        assert (status, sleeps) == (b"HTTP/1.1 200 OK", [])
        c.close()


def test_webapi_bad_credentials_wait_1_second(tmp_path):
    with frozen_server(tmp_path / "d") as srv:
        c = Conn(srv, srv.ports["http"])
        for user, password, status in [("mox@localhost", "wrong", 401), ("mox@localhost", "moxmoxmox", 400)]:
            cred = base64.b64encode(f"{user}:{password}".encode()).decode()
            c.sock.sendall(
                f"POST /webapi/v0/Send HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic {cred}\r\n"
                "Content-Length: 0\r\n\r\n".encode()
            )
            line, body, sleeps = c.http_response()
            assert line.startswith(f"HTTP/1.1 {status} ".encode()), (line, body)
            assert sleeps == ([1.0] if status == 401 else []), status
        c.close()


def test_slow_mode_reads_late_and_writes_a_byte_per_second(tmp_path):
    failures = [f"a{i} LOGIN mox@localhost wrong\r\n".encode() for i in range(3)]
    # The read delay: from the 3rd failure on, each read waits 1 s.
    with frozen_server(tmp_path / "r", slow_read_delay=1) as srv:
        c = Conn(srv, srv.ports["imap"])
        c.answer_after_sleeps(b"\r\n")
        for i, line in enumerate(failures[:2]):
            _, sleeps = c.send(line, end=b" NO ")
            assert sleeps == [], i
            c.answer_after_sleeps(b"\r\n")
        _, before = c.send(failures[2], end=b" NO ")
        _, after = c.answer_after_sleeps(b"\r\n")
        _, noop = c.send(b"b NOOP\r\n", end=b"b OK NOOP done\r\n")
        # The server waits for the next command from the moment it answered the 3rd failure, so
        # its read delay may be moved on while the test still reads that answer or only once
        # NOOP is sent; either way NOOP is read only after a 1 s sleep. (That other connections
        # stay fast is test_limits.test_imap_slow_mode's.)
        assert before == [] and 1.0 in after + noop and set(after + noop) == {1.0}, (after, noop)
        c.close()
    # The write delay: 1 byte per second, the rest at once after slow_write_max (2 s in localserve).
    with frozen_server(tmp_path / "w", slow_write_delay=1) as srv:
        c = Conn(srv, srv.ports["imap"])
        c.answer_after_sleeps(b"\r\n")
        for line in failures:
            c.send(line, end=b"\r\n")
        _, sleeps = c.send(b"b NOOP\r\n", end=b"b OK NOOP done\r\n")
        assert sleeps == [1.0, 1.0]
        c.close()
