"""APPEND message literals after login are streamed to a file of the store, never held in memory
(memory per connection bounded; the store renames the file into place); their total per command
is limited; other literals of APPEND (a mailbox name) get the normal literal limits."""

from __future__ import annotations

import re
import socket
import time

import pytest

from mox import mlog
from mox.imap.parse import is_append_message, parse_command
from mox.imap.protocol import NEED_DATA, AppendData, AppendLiteral, BadSyntax, ImapServerConnection, NeedLiteral
from mox.imap.server import UPLOAD_BUFFER
from mox.imap.types import MessageLiteral
from tests.diskspace import DiskSpace


def big_message(size: int) -> bytes:
    head = b"From: <a@example.org>\r\nSubject: big\r\n\r\n"
    line = b"0123456789" * 7 + b"\r\n"
    return head + line * ((size - len(head)) // len(line))


def peak_buffered(imap) -> list[int]:
    """peak_buffered of every closed connection, from the server's log."""
    return [int(m.group(1)) for m in re.finditer(r"connection closed.*?peak_buffered=(\d+)", "\n".join(imap.log.lines))]


def wait_closed(imap, n: int = 1) -> None:
    """Until the server logged the end of ``n`` connections (it cleans up before that line)."""
    deadline = time.monotonic() + 10
    while len(peak_buffered(imap)) < n:
        assert time.monotonic() < deadline, "server did not log the connection's end"
        time.sleep(0.02)


def raw(tc, status: str, data: bytes) -> list[str]:
    """Send a whole command as raw bytes (LITERAL+ literals inline), read to its tagged result
    and check its status; returns the untagged lines and then the tagged one."""
    tag = data.split(b" ", 1)[0].decode()
    tc.write(data + b"\r\n")
    lines = []
    while True:
        line = tc.read_line()
        lines.append(line)
        if line.startswith(tag + " "):
            assert line.split(" ")[1] == status.upper(), lines
            return lines


def tmp_files(imap) -> list[str]:
    return sorted(p.name for p in (imap.data_dir / "tmp").iterdir())


# --- sans-IO --------------------------------------------------------------------------------


def test_protocol_streams_message_literal():
    for bytewise in (False, True):
        conn = ImapServerConnection()
        conn.ncommands = 1
        conn.stream_append = True
        data = b"a APPEND Inbox (\\Seen) {10}\r\n0123456789\r\n"
        evs = []
        chunks = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
        for c in chunks:
            conn.receive_data(c)
            while (ev := conn.next_event()) is not NEED_DATA:
                evs.append(ev)
        assert evs[0] == AppendLiteral("a", 10, True)
        assert b"".join(e.data for e in evs if isinstance(e, AppendData)) == b"0123456789"
        cmd = evs[-1]
        assert cmd.name == "APPEND" and cmd.args["messages"][0].data == MessageLiteral(10)
        assert cmd.args["messages"][0].flags == ("\\Seen",)
        assert conn.buffered() == 0


def test_protocol_without_streaming_buffers():
    conn = ImapServerConnection()
    conn.ncommands = 1
    conn.receive_data(b"a APPEND Inbox {3+}\r\nabc\r\n")
    ev = conn.next_event()
    assert ev.args["messages"][0].data == b"abc"


def test_protocol_mailbox_literal_is_not_the_message():
    conn = ImapServerConnection()
    conn.ncommands = 1
    conn.stream_append = True
    conn.receive_data(b"a APPEND {5}\r\n")
    assert conn.next_event() == NeedLiteral("a", 5)  # the mailbox name: buffered, normal limits
    conn.receive_data(b"Inbox {3}\r\n")
    assert conn.next_event() == AppendLiteral("a", 3, True)
    conn.receive_data(b"abc\r\n")
    assert conn.next_event() == AppendData(b"abc")
    cmd = conn.next_event()
    assert (cmd.args["mailbox"], cmd.args["messages"][0].data) == ("Inbox", MessageLiteral(3))
    # A mailbox-name literal larger than any literal may be is refused (it used to be exempt).
    conn.receive_data(b"b APPEND {200000}\r\n")
    assert conn.next_event() == BadSyntax("b", "literal too big", "TOOBIG")


def test_protocol_total_per_command():
    conn = ImapServerConnection(max_append=1000)
    conn.ncommands = 1
    conn.stream_append = True
    conn.receive_data(b"a APPEND Inbox {1001}\r\n")
    assert conn.next_event() == BadSyntax("a", "literal too big", "TOOBIG")
    conn.receive_data(b"b APPEND Inbox {1000}\r\n")
    assert conn.next_event() == AppendLiteral("b", 1000, True)


def test_is_append_message():
    assert is_append_message(b"a APPEND Inbox {5}")
    assert is_append_message(b'a APPEND "x y" (\\Seen) " 1-Jan-2020 00:00:00 +0000" ~{5+}')
    assert is_append_message(b"a APPEND Inbox UTF8 (~{5}")
    assert is_append_message(b"a APPEND {3}\r\nabc {5}")
    assert not is_append_message(b"a APPEND {5}")
    assert not is_append_message(b"a APPEND Inbox junk {5}")
    assert not is_append_message(b"a LOGIN {5}")
    # Parsing: the announcement stays in the text, the data is elsewhere.
    text = b"a APPEND Inbox {5}\r\n"
    cmd = parse_command(text, frozenset({len(text)}))
    assert cmd.args["messages"][0].data == MessageLiteral(5)


# --- over a socket --------------------------------------------------------------------------


def test_large_append_memory_bounded(imap):
    imap.start()  # first: the harness restores the log levels it found at start
    mlog.set_level("debug", "imapserver")  # no trace of the 24 MiB
    size = 24 << 20
    msg = big_message(size)
    tc = imap.connect()
    tc.write_line(f"a1 APPEND Inbox {{{len(msg)}}}")
    assert tc.read_line() == "+ "
    for i in range(0, len(msg), 1 << 20):
        tc.write(msg[i : i + (1 << 20)])
    tc.write(b"\r\n")
    line = tc.read_line()
    assert line.startswith("a1 OK [APPENDUID "), line
    tc.transact("ok", "logout")
    tc.close()
    acc = imap.account
    m = acc.messages(acc.mailbox("Inbox").id)[-1]
    assert m.size == len(msg)
    assert acc.read_message(m) == msg
    assert tmp_files(imap) == []
    wait_closed(imap)
    peaks = peak_buffered(imap)
    assert peaks and max(peaks) < UPLOAD_BUFFER + 2 * 65536 + 4096, peaks
    assert max(peaks) < len(msg) // 50


def test_append_literal_plus_and_utf8_streamed(imap):
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    msg = big_message(300_000)
    assert raw(tc, "ok", f"r1 APPEND inbox ~{{{len(msg)}+}}\r\n".encode() + msg)[0] == "* 1 EXISTS"
    assert raw(tc, "ok", f"r2 APPEND inbox UTF8 (~{{{len(msg)}+}}\r\n".encode() + msg + b")")[0] == "* 2 EXISTS"
    assert raw(tc, "ok", b"r3 APPEND inbox {0+}\r\n")[0] == "* 3 EXISTS"  # an empty message
    tc.transact("ok", "append inbox ", msg)  # synchronizing
    tc.expect_untagged("* 4 EXISTS", "* 4 RECENT")  # appended to the selected mailbox: \\Recent here
    acc = imap.account
    assert [acc.read_message(m) for m in acc.messages(acc.mailbox("Inbox").id)] == [msg, msg, b"", msg]
    assert tmp_files(imap) == []


def test_append_stream_errors_leave_nothing(imap):
    tc = imap.connect()
    msg = big_message(100_000)
    lit = f"{{{len(msg)}+}}\r\n".encode() + msg
    # Junk after the literal: BAD, the file is discarded, the session goes on.
    raw(tc, "bad", b"r1 APPEND inbox " + lit + b" junk")
    # The mailbox does not exist: NO [TRYCREATE] after the data went by.
    assert raw(tc, "no", b"r2 APPEND nosuchbox " + lit)[-1].startswith("r2 NO [TRYCREATE]")
    assert tmp_files(imap) == []
    tc.transact("ok", "noop")
    # The client goes away in the middle of the literal.
    tc.write(b"r3 APPEND Inbox " + lit[:50_000])
    tc.conn.sock.shutdown(socket.SHUT_WR)
    tc.expect_closed()
    wait_closed(imap)
    assert tmp_files(imap) == []
    assert imap.account.messages(imap.account.mailbox("Inbox").id) == []


def test_append_stream_overquota(imap):
    imap.start(quota=50_000)
    tc = imap.connect()
    msg = big_message(100_000)
    assert raw(tc, "no", f"r1 APPEND inbox {{{len(msg)}+}}\r\n".encode() + msg)[-1].startswith("r1 NO [OVERQUOTA]")
    assert tmp_files(imap) == []
    tc.transact("ok", "noop")


def test_append_stream_disk_full(imap):
    tc = imap.connect()
    msg = big_message(600_000)
    lit = f"{{{len(msg)}+}}\r\n".encode() + msg
    with DiskSpace(200_000):  # fills up in the middle of the literal
        assert raw(tc, "no", b"r1 APPEND inbox " + lit)[-1].startswith("r1 NO [UNAVAILABLE]")
        assert tmp_files(imap) == []
    raw(tc, "ok", b"r2 APPEND inbox " + lit)  # space again
    acc = imap.account
    assert [acc.read_message(m) for m in acc.messages(acc.mailbox("Inbox").id)] == [msg]


def test_append_total_limit(imap):
    tc = imap.connect()
    tc.write_line("a1 APPEND Inbox {2000000000}")  # more than max_append (1 GiB at least)
    assert tc.read_line() == "a1 BAD [TOOBIG] literal too big"
    tc.transact("ok", "noop")
    tc.write_line("a2 APPEND {200000}")  # a mailbox-name literal: the normal 100 KiB limit
    assert tc.read_line() == "a2 BAD [TOOBIG] literal too big"
    tc.transact("ok", "noop")


def test_append_limit_is_a_gib_or_the_message_size():
    from types import SimpleNamespace

    from mox.imap.session import append_limit

    def ctx(size: int) -> SimpleNamespace:
        return SimpleNamespace(config=SimpleNamespace(max_message_size=size))

    assert append_limit(ctx(100 << 20)) == 1 << 30
    assert append_limit(ctx(3 << 30)) == 3 << 30


@pytest.mark.parametrize("size", [100 << 20, 3 << 30])
def test_appendlimit_advertises_what_append_enforces(imap, size):
    # RFC 7889 2: APPENDLIMIT=n is the largest message APPEND accepts; one byte more is refused
    # before any of it is sent (the literal is not invited).
    imap.start(max_message_size=size)
    limit = max(size, 1 << 30)
    tc = imap.connect()
    tc.transact("ok", "capability")
    caps = tc.untagged[0][1].decode().split()
    assert f"APPENDLIMIT={limit}" in caps
    tc.transact("ok", "status inbox (appendlimit)")
    tc.expect_untagged(f"* STATUS Inbox (APPENDLIMIT {limit})")
    tc.write_line(f"a1 APPEND Inbox {{{limit + 1}}}")
    assert tc.read_line() == "a1 BAD [TOOBIG] literal too big"
    tc.write_line(f"a2 APPEND Inbox {{{limit}}}")
    assert tc.read_line() == "+ "  # at the limit the literal is invited
