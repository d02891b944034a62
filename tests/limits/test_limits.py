"""Connection and authentication limits of a running mox, with small limits (mox
``mox-/limitauth.go``, ``ratelimit/``): the (N+1)th connection gets `* BYE` / `421` with mox's
wording, failed logins are shared by IMAP and SMTP, a success resets the per-address counter,
and from the 3rd failed login a connection is slow (mox.limits.slowmode)."""

from __future__ import annotations

import base64
import json
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from mox import config as mconfig
from mox import localserve
from mox.testing import LocalServer

BYE_CONCURRENT = b"* BYE too many open connections from your ip or network\r\n"
BYE_RATE = b"* BYE connection rate from your ip or network too high, slow down please\r\n"
BYE_AUTH = b"* BYE too many auth failures\r\n"

# Generous defaults so only the limit under test can trigger, small per-connection delays.
BASE = {
    "connections_per_minute": [1000, 1000, 1000],
    "concurrent_connections": [1000, 1000, 1000],
    "auth_failures_per_minute": [1000, 1000, 1000],
    "auth_failures_per_day": [1000, 1000, 1000],
    "slow_after_auth_failures": 3,
    "slow_read_delay": 0.01,
    "slow_write_delay": 0.0005,
    "slow_write_max": 0.2,
    "auth_attempt_delay": 0.01,
}


def server_with_limits(d: Path, **limits) -> LocalServer:
    localserve.prepare(d, port_base=0)
    mconfig.edit_file(d, mconfig.EXTRA_CONF, lambda x: x.update(Limits={mconfig.mox_name(k): v for k, v in {**BASE, **limits}.items()}))
    return LocalServer(d)


class Conn:
    """A line-oriented client on a raw socket."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.f = self.sock.makefile("rb")

    def line(self) -> bytes:
        return self.f.readline()

    def send(self, line: str) -> None:
        self.sock.sendall(line.encode("utf-8") + b"\r\n")

    def imap(self, line: str) -> bytes:
        """Send an IMAP command, return its tagged response line (untagged ones are skipped)."""
        self.send(line)
        while True:
            resp = self.line()
            if not resp.startswith(b"* "):
                return resp

    def smtp_reply(self) -> bytes:
        """The last line of a (multi-line) SMTP reply, without mox's connection id " (cid)"."""
        while True:
            resp = self.line()
            if resp[3:4] != b"-":
                return re.sub(rb" \([0-9a-z]+\)\r\n$", b"\r\n", resp)

    def smtp(self, line: str) -> bytes:
        self.send(line)
        return self.smtp_reply()

    def eof(self) -> bool:
        return self.f.read() == b""

    def close(self) -> None:
        self.f.close()
        self.sock.close()


def imap_greeting_ok(c: Conn) -> None:
    assert c.line().startswith(b"* OK [CAPABILITY ")


def open_imap(srv) -> Conn:
    c = Conn(srv.ports["imap"])
    imap_greeting_ok(c)
    return c


def open_submission(srv) -> Conn:
    c = Conn(srv.ports["submission"])
    assert c.smtp_reply().startswith(b"220 ")
    assert c.smtp("EHLO client.example").startswith(b"250 ")
    return c


def wait_until_closed(srv: LocalServer, n: int) -> None:
    deadline = time.monotonic() + 10
    while srv.ctx.limiter.open_connections("127.0.0.1") > n:
        assert time.monotonic() < deadline, "server did not notice closed connections"
        time.sleep(0.01)


def auth_plain(address: str, password: str) -> str:
    return "AUTH PLAIN " + base64.b64encode(f"\0{address}\0{password}".encode("utf-8")).decode("ascii")


LOGIN_FAILED = b"NO [AUTHENTICATIONFAILED] login failed\r\n"
SMTP_FAILED = b"535 5.7.8 bad user/pass\r\n"
SMTP_OK = b"235 2.7.0 nice\r\n"


def login_ok(resp: bytes, tag: str) -> bool:
    return resp.startswith(tag.encode() + b" OK [CAPABILITY ") and resp.endswith(b"] login done\r\n")


def test_concurrent_connections(tmp_path):
    with server_with_limits(tmp_path / "d", concurrent_connections=[2, 100, 100]) as srv:
        a, b = Conn(srv.ports["imap"]), Conn(srv.ports["smtp"])
        imap_greeting_ok(a)
        assert b.line().startswith(b"220 ")
        # The limit counts connections to all services of the IP class.
        c = Conn(srv.ports["imap"])
        assert (c.line(), c.eof()) == (BYE_CONCURRENT, True)
        d = Conn(srv.ports["smtp"])
        assert (d.line(), d.eof()) == (b"421 4.7.0 too many open connections from your ip or network\r\n", True)
        assert a.imap("x logout") == b"x OK LOGOUT done\r\n"
        a.close()
        wait_until_closed(srv, 1)
        e = open_imap(srv)
        for x in (b, c, d, e):
            x.close()


def test_connection_rate(tmp_path):
    with server_with_limits(tmp_path / "d", connections_per_minute=[3, 100, 100]) as srv:
        for port in (srv.ports["imap"], srv.ports["imap"], srv.ports["smtp"]):
            c = Conn(port)
            assert c.line()[:4] in (b"* OK", b"220 ")
            c.close()
        c = Conn(srv.ports["imap"])
        assert (c.line(), c.eof()) == (BYE_RATE, True)
        c = Conn(srv.ports["smtp"])
        assert (c.line(), c.eof()) == (b"421 4.7.0 connection rate from your ip or network too high, slow down please\r\n", True)


def web_login(srv, password: str) -> int:
    body = urllib.parse.urlencode({"username": "mox@localhost", "password": password}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{srv.ports['http']}/webmail/login", data=body, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


def test_auth_failures_shared_and_reset_by_success(tmp_path, monkeypatch):
    from mox.web import session

    monkeypatch.setattr(session, "FAILED_LOGIN_DELAY", 0.01)  # 1 s per failed web login otherwise
    # No slow mode here: only the per-IP failure counter is under test.
    with server_with_limits(tmp_path / "d", auth_failures_per_minute=[3, 100, 100], slow_after_auth_failures=0) as srv:
        c = open_imap(srv)
        s = open_submission(srv)
        assert c.imap("a login mox@localhost wrong1") == b"a " + LOGIN_FAILED
        assert s.smtp(auth_plain("mox@localhost", "wrong2")) == SMTP_FAILED
        # Two failures, then a success: the counter of 127.0.0.1 starts again.
        assert login_ok(c.imap("b login mox@localhost moxmoxmox"), "b")
        assert s.smtp(auth_plain("mox@localhost", "wrong3")) == SMTP_FAILED
        assert web_login(srv, "wrong4") == 403  # web logins count too
        d = open_imap(srv)  # 2 failures since the success: still allowed
        assert d.imap("c login mox@localhost wrong5") == b"c " + LOGIN_FAILED
        # The third failure since the success: new connections are refused, and attempts on open
        # connections too.
        e = Conn(srv.ports["imap"])
        assert (e.line(), e.eof()) == (BYE_AUTH, True)
        f = Conn(srv.ports["submission"])
        assert (f.line(), f.eof()) == (b"421 4.7.0 too many auth failures\r\n", True)
        assert d.imap("d login mox@localhost moxmoxmox") == b"d " + LOGIN_FAILED
        for x in (c, s, d, e, f):
            x.close()


def test_imap_slow_mode(tmp_path):
    with server_with_limits(tmp_path / "d") as srv:
        lim = srv.ctx.limiter
        c = open_imap(srv)
        assert c.imap("a login mox@localhost wrong") == b"a " + LOGIN_FAILED
        assert c.imap("b authenticate plain " + auth_plain("mox@localhost", "wrong").split()[-1]) == (
            b"b NO [AUTHENTICATIONFAILED] bad credentials\r\n"
        )
        assert c.imap("c noop") == b"c OK NOOP done\r\n"
        assert (lim.slowed_connections, lim.slowed_reads) == (0, 0)
        # The third failure makes this connection slow: a delay before each read from now on.
        assert c.imap("d login mox@localhost wrong") == b"d " + LOGIN_FAILED
        assert c.imap("e noop") == b"e OK NOOP done\r\n"
        assert lim.slowed_connections == 1
        assert lim.slowed_reads >= 1
        # Other connections are not slow.
        o = open_imap(srv)
        n = lim.slowed_reads
        assert o.imap("a noop") == b"a OK NOOP done\r\n"
        assert lim.slowed_reads == n
        # A fourth failure (after the per-attempt delay), then a success ends slow mode.
        assert c.imap("f login mox@localhost wrong") == b"f " + LOGIN_FAILED
        assert login_ok(c.imap("g login mox@localhost moxmoxmox"), "g")
        n = lim.slowed_reads
        for tag in "hij":
            assert c.imap(f"{tag} noop") == f"{tag} OK NOOP done\r\n".encode()
        assert lim.slowed_reads == n
        c.close()
        o.close()


def test_smtp_slow_mode(tmp_path):
    with server_with_limits(tmp_path / "d") as srv:
        lim = srv.ctx.limiter
        s = open_submission(srv)
        for _ in range(2):
            assert s.smtp(auth_plain("mox@localhost", "wrong")) == SMTP_FAILED
        assert s.smtp("NOOP") == b"250 2.0.0 alrighty\r\n"
        assert (lim.slowed_connections, lim.slowed_reads) == (0, 0)
        assert s.smtp(auth_plain("mox@localhost", "wrong")) == SMTP_FAILED
        assert s.smtp("NOOP") == b"250 2.0.0 alrighty\r\n"
        assert (lim.slowed_connections, lim.slowed_reads >= 1) == (1, True)
        assert s.smtp(auth_plain("mox@localhost", "moxmoxmox")) == SMTP_OK
        n = lim.slowed_reads
        assert s.smtp("NOOP") == b"250 2.0.0 alrighty\r\n"
        assert s.smtp("NOOP") == b"250 2.0.0 alrighty\r\n"
        assert lim.slowed_reads == n
        s.close()
