"""COMPRESS=DEFLATE (RFC 4978): after the tagged OK both directions are raw deflate. The cases
that kept mox from advertising it: a client that flushes with partial flushes, or whose
compressed data arrives one byte at a time, must get its answers without the server waiting
for more; commands with literals and IDLE work through it; and mbsync syncs through it."""

from __future__ import annotations

import os
import socket
import subprocess
import zlib

import pytest

from tests.imap.test_mbsync import MBSYNC, local_messages, message, write_config


class DeflateClient:
    """An imaplib-style client: lines over a socket, with deflate from COMPRESS on."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.c: zlib._Compress | None = None
        self.d: zlib._Decompress | None = None
        assert self.line().startswith(b"* OK ")

    def send(self, data: bytes, *, flush: int = zlib.Z_SYNC_FLUSH, bytewise: bool = False) -> None:
        if self.c is not None:
            data = self.c.compress(data) + self.c.flush(flush)
        if bytewise:
            for i in range(len(data)):
                self.sock.sendall(data[i : i + 1])
        else:
            self.sock.sendall(data)

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            raw = self.sock.recv(65536)
            assert raw, "connection closed"
            self.buf += self.d.decompress(raw) if self.d is not None else raw
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def until(self, tag: bytes) -> list[bytes]:
        lines = []
        while True:
            ln = self.line()
            lines.append(ln)
            if ln.startswith(tag + b" "):
                return lines

    def compress(self) -> bytes:
        self.send(b"z1 COMPRESS DEFLATE\r\n")
        result = self.until(b"z1")[-1]
        self.c = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        self.d = zlib.decompressobj(-15)
        return result


def login(imap) -> DeflateClient:
    imap.start()
    c = DeflateClient(imap.ports["imap"])
    c.send(b"a1 LOGIN mox@localhost moxmoxmox\r\n")
    assert c.until(b"a1")[-1].startswith(b"a1 OK ")
    return c


def test_advertised_and_state(imap):
    tc = imap.connect(login=False)
    tc.transact("ok", "capability")
    assert "COMPRESS=DEFLATE" in tc.untagged[0][1].decode().split()
    tc.transact("no", "COMPRESS DEFLATE")  # authenticated state only
    tc.transact("ok", "login mox@localhost moxmoxmox")
    tc.transact("bad", "COMPRESS BOGUS")
    tc.transact("bad", "COMPRESS")


def test_deflate_session(imap):
    c = login(imap)
    assert c.compress() == b"z1 OK DEFLATE active"
    c.send(b"a2 NOOP\r\n")
    assert c.until(b"a2") == [b"a2 OK NOOP done"]
    # RFC 4978 3: once active, never again.
    c.send(b"a3 COMPRESS DEFLATE\r\n")
    assert c.until(b"a3")[-1].startswith(b"a3 NO [COMPRESSIONACTIVE]")
    # Partial flushes, and compressed data arriving one byte at a time: each answer comes
    # without the server waiting for more input.
    c.send(b"a4 SELECT Inbox\r\n", flush=zlib.Z_PARTIAL_FLUSH, bytewise=True)
    assert c.until(b"a4")[-1].startswith(b"a4 OK [READ-WRITE]")
    msg = b"Subject: big\r\n\r\n" + b"0123456789" * 30000 + b"\r\n"
    c.send(b"a5 APPEND Inbox {%d+}\r\n" % len(msg) + msg + b"\r\n", flush=zlib.Z_PARTIAL_FLUSH)
    lines = c.until(b"a5")
    assert lines[-1].startswith(b"a5 OK [APPENDUID ") and b"* 1 EXISTS" in lines
    c.send(b"a6 UID FETCH 1 (BODY.PEEK[])\r\n")
    lines = c.until(b"a6")
    assert lines[0] == b"* 1 FETCH (UID 1 BODY[] {%d}" % len(msg)
    # IDLE: a delivery is pushed through the compressed stream.
    c.send(b"a7 IDLE\r\n", bytewise=True)
    assert c.line() == b"+ waiting"
    imap.deliver(b"Subject: new\r\n\r\nx\r\n")
    assert c.line() == b"* 2 EXISTS"
    c.send(b"DONE\r\n", flush=zlib.Z_PARTIAL_FLUSH)
    assert c.until(b"a7")[-1] == b"a7 OK IDLE done"
    c.send(b"a8 LOGOUT\r\n")
    assert c.until(b"a8")[-1] == b"a8 OK LOGOUT done"


def test_bad_deflate_data_ends_connection(imap):
    c = login(imap)
    assert c.compress() == b"z1 OK DEFLATE active"
    c.sock.sendall(b"\xff\xff\xff\xff garbage")  # not a deflate stream
    with pytest.raises((AssertionError, ConnectionError, zlib.error)):
        c.line()  # the server closes the connection
    assert imap.account.check_consistency() == []


@pytest.mark.skipif(MBSYNC is None, reason="mbsync not found on PATH (Debian package isync; installed by .ci/run)")
def test_mbsync_through_compression(imap, tmp_path):
    imap.start()
    imap.deliver(message("one"))
    imap.deliver(message("two"))
    cfg = write_config(tmp_path, imap)
    res = subprocess.run(
        [MBSYNC, "-c", str(cfg), "-V", "-D", "inbox"], capture_output=True, text=True, timeout=60,
        env=dict(os.environ, HOME=str(tmp_path)), cwd=tmp_path,
    )
    assert res.returncode == 0, f"mbsync failed:\n{res.stdout}\n{res.stderr}"
    # mbsync (isync 1.4, built with zlib) asks for compression when it is offered.
    assert "COMPRESS DEFLATE" in res.stdout + res.stderr
    assert "deflate compression active" in "\n".join(imap.log.lines)
    assert sorted(local_messages(tmp_path / "mail" / "inbox")) == [b"one", b"two"]
