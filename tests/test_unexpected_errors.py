"""A bug met while serving is logged the same way by every driver, the client is told in its
protocol's words, and the server goes on.

Each test runs against one localserve (mox.testing.LocalServer: the listeners of mox.serve, the
IMAP, SMTP and HTTP drivers, the queue and the control channel), puts a bug into one place with
monkeypatch, and checks:

- exactly one line at level error, written by ``mox.mlog.Logger.unexpected``:
  ``error: <what>; pkg=<driver>; cid=<connection id>; ...; err=<repr>; trace="Traceback ..."``,
  with the frame that raised in the traceback;
- what the client gets: IMAP ``NO [SERVERBUG]``, SMTP ``421 4.3.0`` (a bug inside a command:
  the connection may be mid-message, so it is closed) or ``451 4.3.0`` (a failed delivery: the
  connection goes on), HTTP 500 with a JSON reason, WebSocket close code 1011, ctl an error line;
- that the connection (where the protocol allows) and the server still serve.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import time
from typing import Any

import pytest

from mox.testing import LocalServer

TIMEOUT = 30
LINE = re.compile(
    r'^error: (?P<msg>[^;]+); pkg=(?P<pkg>[a-z]+); cid=(?P<cid>[0-9a-f]+); (?P<fields>.*)'
    r'err="?(?P<err>.+?)"?; trace="(?P<trace>.*Traceback \(most recent call last\):\\n.*)"$'
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from mox.auth import password as pwmod

    saved = pwmod.SCRYPT_N
    pwmod.SCRYPT_N = 1 << 4  # cheap logins; the account's record keeps this cost
    try:
        with LocalServer(tmp_path_factory.mktemp("unexpected") / "data") as srv:
            yield srv
    finally:
        pwmod.SCRYPT_N = saved


def the_error_line(srv: LocalServer, msg: str, pkg: str, raised_in: str, err: str) -> re.Match[str]:
    """The one error line logged since the last check, parsed; it names the bug and its frame."""
    lines = srv.take_errors()
    assert len(lines) == 1, lines
    m = LINE.match(lines[0])
    assert m is not None, lines[0]
    assert (m["msg"], m["pkg"], m["err"]) == (msg, pkg, err), lines[0]
    assert f"in {raised_in}\\n" in m["trace"], lines[0]
    assert err.replace("('", ": ").rstrip("')") + "\\n" in m["trace"] + "\\n", lines[0]
    return m


# --- IMAP -------------------------------------------------------------------------------------


class Imap:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.f = self.sock.makefile("rb")
        assert self.f.readline().startswith(b"* OK ")

    def transact(self, tag: str, command: str) -> bytes:
        """The tagged response line (untagged lines before it are skipped)."""
        self.sock.sendall(f"{tag} {command}\r\n".encode())
        while True:
            line = self.f.readline()
            assert line, "connection closed"
            if line.startswith(tag.encode() + b" "):
                return line

    def close(self) -> None:
        self.f.close()
        self.sock.close()


def test_imap_command_bug(server, monkeypatch):
    from mox.imap import server as imapserver

    async def broken(s, cmd):
        raise RuntimeError("imap handler bug")

    monkeypatch.setitem(imapserver.HANDLERS, "NAMESPACE", broken)
    c = Imap(server.ports["imap"])
    try:
        assert c.transact("a1", "LOGIN mox@localhost moxmoxmox").startswith(b"a1 OK ")
        # RFC 5530 3: SERVERBUG; no internals reach the client, only the cid of the log line.
        reply = c.transact("a2", "NAMESPACE")
        rm = re.fullmatch(rb"a2 NO \[SERVERBUG\] error processing command \(cid ([0-9a-f]+)\)\r\n", reply)
        assert rm is not None, reply
        assert c.transact("a3", "NOOP").startswith(b"a3 OK ")  # the connection goes on
    finally:
        c.close()
    m = the_error_line(server, "unhandled error in command", "imapserver", "broken", "RuntimeError('imap handler bug')")
    assert m["fields"] == "remote=127.0.0.1; command=NAMESPACE; ", m[0]
    assert m["cid"] == rm[1].decode()  # what the client was told finds the log line
    # The server goes on: a new connection logs in.
    c = Imap(server.ports["imap"])
    try:
        assert c.transact("b1", "LOGIN mox@localhost moxmoxmox").startswith(b"b1 OK ")
    finally:
        c.close()


# --- SMTP -------------------------------------------------------------------------------------


class Smtp:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.f = self.sock.makefile("rb")
        assert self.reply().startswith("220 ")

    def reply(self) -> str:
        lines = []
        while True:
            line = self.f.readline().decode()
            assert line, "connection closed"
            lines.append(line.rstrip("\r\n"))
            if line[3:4] != "-":
                return "\n".join(lines)

    def transact(self, command: str) -> str:
        self.sock.sendall(command.encode() + b"\r\n")
        return self.reply()

    def closed(self) -> bool:
        return self.f.readline() == b""

    def close(self) -> None:
        self.f.close()
        self.sock.close()


def test_smtp_command_bug(server, monkeypatch):
    from mox.smtp import server as smtpserver

    async def broken(self, args):
        raise RuntimeError("smtp handler bug")

    monkeypatch.setattr(smtpserver.Conn, "cmd_vrfy", broken)
    c = Smtp(server.ports["smtp"])
    try:
        assert c.transact("EHLO client.example").startswith("250-")
        reply = c.transact("VRFY mox")
        # RFC 5321 3.8: 421 and close; RFC 3463 4.3.0: other mail system status.
        rm = re.fullmatch(r"421 4\.3\.0 internal error, closing connection \(([0-9a-f]+)\)", reply)
        assert rm is not None, reply
        assert c.closed()
    finally:
        c.close()
    m = the_error_line(server, "unhandled error in smtp connection", "smtpserver", "broken", "RuntimeError('smtp handler bug')")
    assert m["cid"] == rm[1]  # what the client was told finds the log line
    # The server goes on.
    c = Smtp(server.ports["smtp"])
    try:
        assert c.transact("NOOP") == "250 2.0.0 alrighty"
    finally:
        c.close()


def test_smtp_delivery_bug_keeps_the_connection(server, monkeypatch):
    from mox.delivery import deliver

    async def broken(*args, **kw):
        raise RuntimeError("store bug")

    monkeypatch.setattr(deliver, "deliver_to_store", broken)
    c = Smtp(server.ports["smtp"])
    try:
        assert c.transact("EHLO client.example").startswith("250-")
        assert c.transact("MAIL FROM:<someone@example.org>").startswith("250 ")
        assert c.transact("RCPT TO:<mox@localhost>").startswith("250 ")
        assert c.transact("DATA").startswith("354 ")
        msg = "From: <someone@example.org>\r\nTo: <mox@localhost>\r\nSubject: bug\r\n\r\nhi\r\n.\r\n"
        reply = c.transact(msg.removesuffix("\r\n"))
        rm = re.fullmatch(r"451 4\.3\.0 error processing \(([0-9a-f]+)\)", reply)
        assert rm is not None, reply
        assert c.transact("NOOP") == "250 2.0.0 alrighty"  # the connection goes on
        assert c.transact("QUIT").startswith("221 ")
    finally:
        c.close()
    m = the_error_line(server, "delivering message failed", "smtpserver", "broken", "RuntimeError('store bug')")
    assert m["cid"] == rm[1]
    assert m["fields"] == "account=mox; "


# --- HTTP -------------------------------------------------------------------------------------


def test_http_handler_bug(server):
    from mox.web.router import json_response

    async def broken(ctx, req):
        raise RuntimeError("web handler bug")

    async def fine(ctx, req):
        return json_response({"ok": True})

    server.ctx.web.router.add("/test/unexpected/broken", broken)
    server.ctx.web.router.add("/test/unexpected/fine", fine)
    conn = http.client.HTTPConnection("127.0.0.1", server.ports["http"], timeout=TIMEOUT)
    try:
        conn.request("GET", "/test/unexpected/broken", headers={"Host": "localhost"})
        r = conn.getresponse()
        assert (r.status, r.getheader("Content-Type")) == (500, "application/json; charset=utf-8")
        body = json.loads(r.read())
        assert body["code"] == "server:error"
        rm = re.fullmatch(r"internal error \(cid ([0-9a-f]+)\)", body["message"])
        assert rm is not None, body
        # The same keep-alive connection goes on.
        conn.request("GET", "/test/unexpected/fine", headers={"Host": "localhost"})
        r = conn.getresponse()
        assert (r.status, json.loads(r.read())) == (200, {"ok": True})
    finally:
        conn.close()
    m = the_error_line(server, "unhandled error in web handler", "http", "broken", "RuntimeError('web handler bug')")
    assert m["fields"] == "path=/test/unexpected/broken; "
    assert m["cid"] == rm[1]


def test_websocket_handler_bug(server):
    import trio
    import trio_websocket

    async def broken(ctx, req, ws):
        await ws.send_message("hello")
        raise RuntimeError("websocket handler bug")

    server.ctx.web.router.add_websocket("/test/unexpected/ws", broken)
    port = server.ports["http"]

    async def main() -> tuple[str, int | None]:
        async with trio_websocket.open_websocket("127.0.0.1", port, "/test/unexpected/ws", use_ssl=False) as ws:
            first = await ws.get_message()
            with pytest.raises(trio_websocket.ConnectionClosed) as e:
                await ws.get_message()
            return first, e.value.reason.code

    # RFC 6455 7.4.1: 1011, the server met a condition that kept it from going on.
    assert trio.run(main) == ("hello", 1011)
    the_error_line(server, "unhandled error in websocket handler", "http", "broken", "RuntimeError('websocket handler bug')")


# --- the queue ----------------------------------------------------------------------------------


def inbox_count(srv: LocalServer) -> int:
    def count() -> int:
        acc = srv.ctx.store.open_account("mox")
        try:
            mb = acc.mailbox("Inbox")
            return len(acc.messages(mb.id))
        finally:
            acc.close()

    return srv.run_sync_in_server(count)


def test_queue_delivery_bug_is_retried(server, monkeypatch):
    from mox.queue.queue import Queue

    real = Queue._deliver
    calls: list[int] = []

    async def deliver_once_broken(self, e):
        calls.append(e.id)
        if len(calls) == 1:
            raise RuntimeError("queue bug")
        return await real(self, e)

    monkeypatch.setattr(Queue, "_deliver", deliver_once_broken)
    before = inbox_count(server)
    c = Smtp(server.ports["submission"])
    try:
        assert c.transact("EHLO client.example").startswith("250-")
        assert c.transact("AUTH PLAIN AG1veEBsb2NhbGhvc3QAbW94bW94bW94").startswith("235 ")
        assert c.transact("MAIL FROM:<mox@localhost>").startswith("250 ")
        assert c.transact("RCPT TO:<mox@localhost>").startswith("250 ")
        assert c.transact("DATA").startswith("354 ")
        msg = "From: <mox@localhost>\r\nTo: <mox@localhost>\r\nSubject: queued\r\n\r\nhi\r\n."
        assert c.transact(msg).startswith("250 ")  # queued; the bug comes later
    finally:
        c.close()
    # The queue goes on: the retry (after the first of localserve's short retry delays) delivers.
    deadline = time.monotonic() + TIMEOUT
    while inbox_count(server) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert inbox_count(server) == before + 1
    assert len(calls) == 2 and calls[0] == calls[1]
    m = the_error_line(server, "delivery error", "queue", "deliver_once_broken", "RuntimeError('queue bug')")
    assert m["fields"] == f"id={calls[0]}; "


# --- the control channel ------------------------------------------------------------------------


def test_ctl_command_bug(server, monkeypatch):
    from mox import ctl
    from mox.ctl.commands import COMMANDS

    async def broken(ctx, conn):
        raise RuntimeError("ctl handler bug")

    monkeypatch.setitem(COMMANDS, "loglevels", broken)
    with ctl.CtlClient(server.dir, timeout=TIMEOUT) as c:
        with pytest.raises(ctl.CtlError, match=r"^internal error in loglevels: RuntimeError\('ctl handler bug'\)$"):
            c.call("loglevels")
        monkeypatch.undo()
        assert c.call("loglevels", stream=True)  # the same connection goes on
    m = the_error_line(server, "ctl command failed", "ctl", "broken", "RuntimeError('ctl handler bug')")
    assert m["fields"] == "cmd=loglevels; "
