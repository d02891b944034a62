"""Helpers for the tests of the test and CI features (per-test inboxes, fault rules, transcripts,
lint, IMAP profiles, fixtures, deterministic mode).

Every test talks to a real localserve (``mox_server`` from mox's pytest plugin, on free ports of
127.0.0.1) over real sockets: raw SMTP/IMAP lines with :class:`Line` clients, the test API with
``mox_server.api``.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest

from mox.testing import MoxServer

_ID = re.compile(r" \([0-9a-f]+\)$")


class Closed(Exception):
    """The server closed the connection."""


class Line:
    """A line-based client over a socket: ``send`` a line, ``line()`` reads one,
    ``reply()`` reads a whole SMTP reply (multi-line joined by newlines, mox's trailing
    connection id on errors removed)."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, line: str | bytes) -> None:
        self.sock.sendall((line.encode() if isinstance(line, str) else line) + b"\r\n")

    def line(self) -> str:
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise Closed(f"connection closed; pending {self.buf!r}")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self) -> str:
        lines = [self.line()]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self.line())
        lines[-1] = _ID.sub("", lines[-1])
        return "\n".join(lines)

    def cmd(self, line: str) -> str:
        self.send(line)
        return self.reply()

    def closed(self) -> bool:
        """True when the server closed the connection (EOF) without sending anything more."""
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            return True
        self.buf += data
        return data == b""

    def close(self) -> None:
        self.sock.close()


def smtp(srv: MoxServer, port: str = "smtp", *, ehlo: str | None = "client.example") -> Line:
    c = Line(srv.ports[port])
    assert c.reply() == "220 localhost ESMTP mox " + _version()
    if ehlo is not None:
        assert c.cmd(f"EHLO {ehlo}").startswith("250-localhost")
    return c


def _version() -> str:
    from mox import __version__

    return __version__


def imap(srv: MoxServer, user: str | None = None, password: str | None = None) -> Line:
    c = Line(srv.ports["imap"])
    assert c.line().startswith("* OK [CAPABILITY ")
    if user is not None:
        c.send(f"a0 LOGIN {user} {password or srv.shared_password}")
        assert c.line().startswith("a0 OK ")
    return c


def message(to: str = "rcpt@example.org", subject: str = "test", frm: str = "sender@example.org", extra: str = "") -> bytes:
    return (
        f"From: <{frm}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\n"
        f"Message-ID: <{subject.replace(' ', '-')}@example.org>\r\n{extra}\r\nhello\r\n"
    ).encode()


def deliver(srv: MoxServer, rcpts: list[str], data: bytes, *, frm: str = "sender@example.org") -> None:
    """One transaction on port 25, every step checked."""
    c = smtp(srv)
    try:
        assert c.cmd(f"MAIL FROM:<{frm}>") == "250 2.1.0 looking good"
        for r in rcpts:
            assert c.cmd(f"RCPT TO:<{r}>") == "250 2.1.0 now on the list"
        assert c.cmd("DATA") == "354 see you at the bare dot"
        c.sock.sendall(data + b".\r\n")
        assert c.reply() == "250 2.2.0 it is done"
        assert c.cmd("QUIT") == "221 2.0.0 okay thanks bye"
    finally:
        c.close()


@pytest.fixture
def srv(mox_server: MoxServer) -> Iterator[MoxServer]:
    yield mox_server
