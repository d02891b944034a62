"""The sans-IO connection: events for whole input and for input fed one byte at a time."""

import pytest

from mox.imap.protocol import (
    MAX_LINE,
    NEED_DATA,
    BadSyntax,
    EndOfStream,
    Fatal,
    ImapServerConnection,
    Line,
    NeedLiteral,
    NotImap,
)


def events(conn, data: bytes, *, bytewise: bool):
    """Feed data (whole or byte by byte) and collect every event."""
    out = []
    chunks = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    for chunk in chunks:
        conn.receive_data(chunk)
        while True:
            ev = conn.next_event()
            if ev is NEED_DATA:
                break
            out.append(ev)
    return out


def summary(evs):
    res = []
    for e in evs:
        if hasattr(e, "name") and hasattr(e, "args"):
            res.append(("cmd", e.tag, e.name))
        else:
            res.append(e)
    return res


@pytest.mark.parametrize("bytewise", [False, True])
def test_pipelined_commands_and_literals(bytewise):
    data = (
        b"a1 CAPABILITY\r\n"
        b"a2 LOGIN {3}\r\nmox {9+}\r\nmoxmoxmox\r\n"
        b"a3 APPEND Inbox (\\Seen) ~{5}\r\nab\x00cd\r\n"
        b"a4 bogus\r\n"
        b"a5 fetch 1 (flags\r\n"
    )
    conn = ImapServerConnection()
    evs = events(conn, data, bytewise=bytewise)
    assert summary(evs) == [
        ("cmd", "a1", "CAPABILITY"),
        NeedLiteral("a2", 3),
        ("cmd", "a2", "LOGIN"),
        NeedLiteral("a3", 5),
        ("cmd", "a3", "APPEND"),
        BadSyntax("a4", 'BOGUS unrecognized syntax/command: unknown command "BOGUS"'),
        BadSyntax("a5", "expected space (at end of line)"),
    ]
    assert evs[2].args == {"user": "mox", "password": "moxmoxmox"}
    assert evs[4].args["messages"][0].data == b"ab\x00cd"
    conn.receive_data(b"")
    assert conn.next_event() == EndOfStream()


def test_first_line_not_imap():
    conn = ImapServerConnection()
    assert events(conn, b"GET / HTTP/1.0\r\n", bytewise=False) == [NotImap()]
    conn = ImapServerConnection()
    assert events(conn, b"\x16\x03\x01\x00\r\n", bytewise=False) == [NotImap()]
    # After a first valid command, a bad line is a plain BAD.
    conn = ImapServerConnection()
    evs = events(conn, b"a noop\r\nGET / HTTP/1.0\r\n", bytewise=False)
    assert isinstance(evs[1], BadSyntax) and evs[1].tag == "GET"


def test_literal_limits():
    conn = ImapServerConnection()
    # Sync literal too big: tagged BAD [TOOBIG], the client doesn't send the data, next command works.
    evs = events(conn, b"a noop\r\nb login {200000}\r\nc noop\r\n", bytewise=False)
    assert summary(evs) == [("cmd", "a", "NOOP"), BadSyntax("b", "literal too big", "TOOBIG"), ("cmd", "c", "NOOP")]
    # Non-sync literal too big: fatal, the data is already on its way.
    evs = events(conn, b"d login {200000+}\r\n", bytewise=False)
    assert evs == [Fatal("[ALERT] literal too big")]
    # APPEND's message is exempt up to max_append.
    conn = ImapServerConnection(max_append=10)
    evs = events(conn, b"a append inbox {10}\r\n0123456789\r\nb append inbox {11}\r\n", bytewise=False)
    assert summary(evs) == [NeedLiteral("a", 10), ("cmd", "a", "APPEND"), BadSyntax("b", "literal too big", "TOOBIG")]


@pytest.mark.parametrize("bytewise", [False, True])
def test_line_too_long(bytewise):
    # Command text up to 64 KiB (Dovecot's limit) is accepted; a longer command is answered BAD
    # [TOOBIG] after all of it went by, and the next command works: the rest of the line is
    # skipped, with the data of a LITERAL+ literal announced at its end and the lines after it;
    # a synchronizing literal at its end is not invited (no NeedLiteral).
    assert MAX_LINE == 65536
    big = b"x" * MAX_LINE
    ok_id = b'a ID ("name" "' + b"x" * (MAX_LINE - 40) + b'")\r\n'
    data = (
        ok_id
        + b"b NOOP " + big + b"\r\n"
        + b"c NOOP\r\n"
        + b'd ID ("name" "' + big + b'" "v" {5+}\r\nhello {3+}\r\nabc)\r\n'
        + b"e NOOP\r\n"
        + b'f ID ("n" "' + big + b'" {5}\r\n'
        + b"g LOGIN {3}\r\n"
    )
    conn = ImapServerConnection()
    evs = events(conn, data, bytewise=bytewise)
    too = f"command line too long, the maximum is {MAX_LINE} bytes"
    assert summary(evs) == [
        ("cmd", "a", "ID"),
        BadSyntax("b", too, "TOOBIG"),
        ("cmd", "c", "NOOP"),
        BadSyntax("d", too, "TOOBIG"),
        ("cmd", "e", "NOOP"),
        BadSyntax("f", too, "TOOBIG"),
        NeedLiteral("g", 3),
    ]
    assert len(conn._buf) <= 1  # nothing of the discarded lines is kept
    # A continuation line counts too: the command's text as a whole is limited.
    conn = ImapServerConnection()
    half = b"y" * (MAX_LINE // 2)
    evs = events(conn, b'h ID ("a" "' + half + b'" "b" {1+}\r\nz "c" "' + half + b'")\r\ni NOOP\r\n', bytewise=False)
    assert summary(evs) == [BadSyntax("h", too, "TOOBIG"), ("cmd", "i", "NOOP")]
    # A first line without a tag is not IMAP, however long; in line mode a too long line ends
    # the connection (SASL and IDLE lines have no tag to answer).
    conn = ImapServerConnection()
    assert events(conn, b"\x16\x03" + big + b"\r\n", bytewise=False) == [NotImap()]
    conn = ImapServerConnection()
    assert summary(events(conn, b"a idle\r\n", bytewise=False)) == [("cmd", "a", "IDLE")]
    conn.set_line_mode()
    assert events(conn, big + b"x\r\n", bytewise=False) == [Fatal("line too long")]


def test_line_too_long_memory_bounded():
    # Megabytes without a line end: the connection keeps no more than the limit plus a read.
    conn = ImapServerConnection()
    conn.receive_data(b"a NOOP ")
    assert conn.next_event() is NEED_DATA
    for _ in range(64):
        conn.receive_data(b"x" * 65536)
        assert conn.next_event() is NEED_DATA
        assert len(conn._buf) <= MAX_LINE + 65536
    conn.receive_data(b"\r\nb NOOP\r\n")
    evs = [conn.next_event(), conn.next_event()]
    assert summary(evs) == [
        BadSyntax("a", f"command line too long, the maximum is {MAX_LINE} bytes", "TOOBIG"), ("cmd", "b", "NOOP")
    ]


def test_line_mode_and_eof():
    conn = ImapServerConnection()
    evs = events(conn, b"a idle\r\n", bytewise=False)
    assert summary(evs) == [("cmd", "a", "IDLE")]
    conn.set_line_mode()
    assert events(conn, b"DONE\r\n", bytewise=True) == [Line(b"DONE")]
    conn.set_line_mode(False)
    conn.receive_data(b"b fetch 1 body[] {10}\r\nabc")
    assert conn.next_event() == NeedLiteral("b", 10)
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"")
    assert conn.next_event() == Fatal("connection closed while reading literal")


COMMANDS = [
    b"a CAPABILITY",
    b'a ID ("name" "x" "version" NIL)',
    b"a LOGIN {3}\r\nmox {9+}\r\nmoxmoxmox",
    b"a AUTHENTICATE PLAIN AG1veABtb3g=",
    b"a ENABLE CONDSTORE QRESYNC",
    b"a SELECT inbox (QRESYNC (1 2 1:3 (1:2 1,3)))",
    b"a EXAMINE Inbox (CONDSTORE)",
    b'a CREATE "a b" (USE (\\Archive))',
    b"a RENAME a b",
    b'a LIST (SUBSCRIBED) "" ("a*" %) RETURN (CHILDREN STATUS (MESSAGES))',
    b'a LSUB "" *',
    b"a STATUS inbox (MESSAGES UIDNEXT SIZE)",
    b'a APPEND inbox (\\Seen) " 1-Jan-2024 10:00:00 +0100" ~{3}\r\na\x00b',
    b"a APPEND inbox UTF8 (~{1+}\r\nx)",
    b"a GETQUOTAROOT inbox",
    b"a UID EXPUNGE 1:*",
    b"a UID SEARCH RETURN (MIN SAVE) CHARSET UTF-8 OR FROM {2}\r\nab (SINCE 1-Feb-2024 NOT SEEN) $",
    b"a FETCH 1:* (FLAGS BODY.PEEK[1.2.HEADER.FIELDS (FROM)]<0.10> BINARY[1] BINARY.SIZE[]) (CHANGEDSINCE 1)",
    b"a STORE 1 (UNCHANGEDSINCE 5) +FLAGS.SILENT (\\Seen $x)",
    b"a UID MOVE 1,3 Trash",
    # The rest of the commands, so that every command is fed whole and one byte at a time.
    b"a NOOP",
    b"a LOGOUT",
    b"a STARTTLS",
    b"a DELETE {5}\r\na/b/c",
    b'a SUBSCRIBE "x y"',
    b"a UNSUBSCRIBE x",
    b"a NAMESPACE",
    b"a IDLE",
    b'a GETQUOTA ""',
    b"a CHECK",
    b"a CLOSE",
    b"a UNSELECT",
    b"a EXPUNGE",
    b"a SEARCH RETURN (COUNT) UID 1:* MODSEQ 5 HEADER X-A {1+}\r\nb",
    b"a UID FETCH 1:* (UID MODSEQ) (CHANGEDSINCE 3 VANISHED)",
    b"a UID STORE 1:2 -FLAGS (\\Deleted)",
    b"a COPY 1:* {7}\r\nArchive",
    b"a UID COPY $ Archive",
    b"a MOVE 2 Trash",
]


@pytest.mark.parametrize("cmd", COMMANDS)
def test_commands_whole_and_bytewise(cmd):
    whole = events(ImapServerConnection(), cmd + b"\r\n", bytewise=False)
    byte = events(ImapServerConnection(), cmd + b"\r\n", bytewise=True)
    assert whole == byte
    assert hasattr(whole[-1], "args"), whole  # a parsed Command, after any NeedLiteral
    assert all(isinstance(e, NeedLiteral) for e in whole[:-1])
