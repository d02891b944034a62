"""Fuzzing the parsers with hypothesis: the IMAP command parser and its sans-IO connection, the SMTP
sans-IO connection with its command and address parsers, and the MIME parser with its helpers.

The property: whatever bytes arrive, the only exception is the protocol's own parse error
(IMAP ``BadCommand``, SMTP ``ReplyError``, MIME ``MalformedMessage``/``UnknownEncoding``), and the
sans-IO layers only hand out their documented events.

Each test runs twice: ``short`` in the normal suite (a few thousand examples, seconds), and
``long`` with 100,000 examples per parser under the ``fuzz`` marker, outside CI's time budget:

    .venv/bin/python -m pytest -m fuzz tests/fuzz -q       # or: just fuzz

``MOX_FUZZ_EXAMPLES`` overrides the long count. Inputs mix random bytes, grammar-aware token
soup and byte-level mutations of valid commands and messages.
"""

from __future__ import annotations

import datetime
import os
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mox.imap.errors import BadCommand
from mox.imap.parse import is_append_message, parse_command, parse_tag_and_name
from mox.imap.wire import literal_at_end
from mox.imap.protocol import (
    NEED_DATA,
    AppendData,
    AppendLiteral,
    BadSyntax,
    EndOfStream,
    Fatal,
    ImapServerConnection,
    Line,
    NeedLiteral,
    NotImap,
)
from mox.imap.types import Command as ImapCommand
from mox.message import (
    MalformedMessage,
    UnknownEncoding,
    add_missing_headers,
    check_message,
    decode_body,
    decode_header_value,
    find_part,
    header_fields,
    headers,
    parse_address_list,
    parse_date,
    parse_message,
    text_for_search,
)
from mox.smtp import parse as smtp_parse
from mox.smtp.address import AddressError, parse_address
from mox.smtp.protocol import (
    NEED_DATA as SMTP_NEED_DATA,
)
from mox.smtp.protocol import (
    ChunkReceived,
    Command as SmtpCommand,
    DataRejected,
    LineTooLong,
    MessageComplete,
    NotSmtp,
    ReplyError,
    ServerConnection,
    State,
)

SHORT = 1000
LONG = int(os.environ.get("MOX_FUZZ_EXAMPLES", "100000"))
RUNS = [
    pytest.param(SHORT, id="short"),
    pytest.param(LONG, id="long", marks=[pytest.mark.fuzz, pytest.mark.timeout(4 * 3600)]),
]


def run(examples: int, strategy, check) -> None:
    """``check`` for ``examples`` hypothesis examples of ``strategy``."""

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(strategy)
    def prop(value) -> None:
        nonlocal calls
        calls += 1
        check(value)

    calls = 0
    prop()
    # Hypothesis stops early when it believes it has seen every input: not here, the count holds.
    assert calls >= examples, f"{calls} examples run, {examples} asked for"


def mutations(corpus: list[bytes]):
    """Byte-level edits of valid inputs: delete, insert, replace, duplicate, truncate."""
    edit = st.tuples(st.integers(0, 4), st.floats(0, 1), st.floats(0, 1), st.binary(min_size=1, max_size=6))

    def apply(t) -> bytes:
        base, edits = t
        d = bytearray(base)
        for op, a, b, blob in edits:
            i = int(a * len(d))
            j = min(len(d), i + int(b * 8) + 1)
            if op == 0:
                del d[i:j]
            elif op == 1:
                d[i:i] = blob
            elif op == 2:
                d[i:j] = blob
            elif op == 3:
                d[i:i] = d[i:j] * 3
            else:
                del d[i:]
        return bytes(d)

    return st.tuples(st.sampled_from(corpus), st.lists(edit, min_size=1, max_size=4)).map(apply)


# --- IMAP -----------------------------------------------------------------------------------

IMAP_VALID = [
    b"a CAPABILITY", b"a NOOP", b"a LOGOUT", b'a ID ("name" "x" "version" NIL)', b"a ID NIL",
    b"a STARTTLS", b"a LOGIN mox@localhost moxmoxmox", b'a LOGIN "mox@localhost" {9}\r\nmoxmoxmox',
    b"a AUTHENTICATE PLAIN AG1veEBsb2NhbGhvc3QAbW94bW94bW94", b"a AUTHENTICATE SCRAM-SHA-256",
    b"a ENABLE UTF8=ACCEPT CONDSTORE QRESYNC", b"a SELECT inbox", b"a SELECT inbox (CONDSTORE)",
    b"a SELECT inbox (QRESYNC (67890007 20050715194045000 41,43:211,214:541))", b"a EXAMINE Archive",
    b"a CREATE a/b/c", b'a CREATE "x" (USE (\\Archive))', b"a DELETE x", b"a RENAME a b", b"a SUBSCRIBE x",
    b"a UNSUBSCRIBE x", b'a LIST "" "*"', b'a LIST "" %', b'a LIST (SUBSCRIBED RECURSIVEMATCH) "" ("*" "x")',
    b'a LIST "" * RETURN (CHILDREN SPECIAL-USE STATUS (MESSAGES UNSEEN))', b'a LSUB "" *', b"a NAMESPACE",
    b"a STATUS inbox (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE HIGHESTMODSEQ)",
    b"a GETQUOTAROOT inbox", b'a GETQUOTA ""', b"a APPEND inbox {5}\r\nhello",
    b'a APPEND inbox (\\Seen $x) " 2-Feb-2024 12:00:00 +0100" {3+}\r\nabc', b"a APPEND inbox ~{3}\r\na\x00b",
    b"a APPEND inbox UTF8 (~{3+}\r\nabc)", b"a IDLE", b"a CHECK", b"a CLOSE", b"a UNSELECT", b"a EXPUNGE",
    b"a UID EXPUNGE 1:5", b"a SEARCH ALL", b"a SEARCH CHARSET UTF-8 SUBJECT {3}\r\n\xc3\xa9x",
    b"a UID SEARCH RETURN (MIN MAX COUNT SAVE) OR (FROM x SEEN) NOT (SINCE 1-Feb-2024 LARGER 10) 1:*",
    b"a SEARCH MODSEQ 5 HEADER subject x UNDELETED $", b"a SEARCH UID 1,3:5,7:* BEFORE 01-Jan-2020",
    b"a FETCH 1:* (FLAGS UID)", b"a FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]<0.100>)",
    b"a UID FETCH 1:* (BODYSTRUCTURE ENVELOPE RFC822.SIZE INTERNALDATE) (CHANGEDSINCE 5 VANISHED)",
    b"a FETCH 1 (BINARY[1.2] BINARY.SIZE[1] BODY[1.MIME] BODY[TEXT] RFC822.HEADER)", b"a FETCH $ ALL",
    b"a STORE 1:3 +FLAGS.SILENT (\\Deleted)", b"a UID STORE 1 (UNCHANGEDSINCE 7) FLAGS ($a $b)",
    b"a COPY 1:* Archive", b"a UID MOVE 4 Trash", b"a UID COPY 1,2 {7}\r\nArchive",
]

IMAP_TOKENS = [
    b"a", b"A1", b"*", b"+", b"UID", b"$", b"NIL", b"(", b")", b"[", b"]", b"<", b">", b".", b",", b":",
    b"\\Seen", b"\\Deleted", b"\\*", b"\\Bogus", b"$Junk", b"inbox", b"INBOX", b"Archive/x", b'"quoted"',
    b'"esc\\"aped\\\\"', b'"\xc3\xa9"', b'"\xff"', b'"', b"\\", b"\x00", b"\r", b"\n", b"\t", b"&Jjo-", b"&AGE",
    b"1", b"0", b"4294967295", b"4294967296", b"99999999999999999999", b"1:*", b"*:1", b"1,2:3,*", b"-1",
    b"{0}\r\n", b"{3}\r\nabc", b"{3+}\r\nab", b"~{2}\r\n\x00\x01", b"{99999999999}\r\n", b"{}", b"{x}\r\n",
    b"BODY[", b"BODY.PEEK[HEADER.FIELDS (", b"BINARY[1.2]", b"<0.10>", b"<5>", b"RFC822", b"ENVELOPE",
    b"FLAGS", b"+FLAGS", b"-FLAGS.SILENT", b"CHARSET", b"UTF-8", b"OR", b"NOT", b"SINCE", b"1-Jan-2020",
    b'" 2-Feb-2024 12:00:00 +0100"', b'"31-Feb-2024 25:61:61 +9999"', b"RETURN", b"MIN", b"SAVE", b"MODSEQ",
    b"CHANGEDSINCE", b"VANISHED", b"UNCHANGEDSINCE", b"QRESYNC", b"CONDSTORE", b"UTF8", b"~", b"%",
]
IMAP_NAMES = sorted(
    {
        b"CAPABILITY", b"NOOP", b"LOGOUT", b"ID", b"STARTTLS", b"AUTHENTICATE", b"LOGIN", b"ENABLE", b"SELECT",
        b"EXAMINE", b"CREATE", b"DELETE", b"RENAME", b"SUBSCRIBE", b"UNSUBSCRIBE", b"LIST", b"LSUB",
        b"NAMESPACE", b"STATUS", b"APPEND", b"IDLE", b"GETQUOTAROOT", b"GETQUOTA", b"CHECK", b"CLOSE",
        b"UNSELECT", b"EXPUNGE", b"SEARCH", b"FETCH", b"STORE", b"COPY", b"MOVE", b"UID FETCH", b"UID SEARCH",
        b"UID STORE", b"UID COPY", b"UID MOVE", b"UID EXPUNGE", b"BOGUS",
    }
)

imap_soup = st.tuples(
    st.sampled_from([b"a", b"t1", b"*", b"+", b""]),
    st.sampled_from(IMAP_NAMES),
    st.lists(st.tuples(st.sampled_from([b" ", b"", b"  "]), st.one_of(st.sampled_from(IMAP_TOKENS), st.binary(max_size=6))), max_size=12),
).map(lambda t: t[0] + b" " + t[1] + b"".join(sep + tok for sep, tok in t[2]))

# Deep nesting: parenthesised search keys and lists, many levels.
imap_deep = st.tuples(st.sampled_from([b"a SEARCH ", b"a FETCH 1 ", b"a LIST ", b"a STORE 1 FLAGS "]), st.integers(1, 3000), st.booleans()).map(
    lambda t: t[0] + b"(" * t[1] + b"ALL" + (b")" * t[1] if t[2] else b"")
)

imap_inputs = st.one_of(st.binary(max_size=120), imap_soup, imap_deep, mutations(IMAP_VALID))
IMAP_EVENTS = (ImapCommand, NeedLiteral, AppendLiteral, AppendData, BadSyntax, Line, Fatal, NotImap, EndOfStream)


def check_imap(data: bytes) -> None:
    # The command grammar: a Command or BadCommand, nothing else.
    try:
        cmd = parse_command(data)
        assert isinstance(cmd, ImapCommand) and cmd.tag and cmd.name
    except BadCommand as e:
        assert isinstance(e.text, str)
    parse_tag_and_name(data)
    literal_at_end(data)
    is_append_message(data)
    # The sans-IO connection, fed in random pieces, in different states and modes.
    rnd = random.Random(data)
    conn = ImapServerConnection(max_append=rnd.choice([0, 10, 1 << 20]), max_line=rnd.choice([64, 1 << 16]))
    conn.ncommands = rnd.choice([0, 1])
    conn.stream_append = rnd.random() < 0.5
    wire = data + b"\r\n" + rnd.choice([b"", b"DONE\r\n", b"x NOOP\r\n"])
    i = 0
    steps = 0
    while i < len(wire):
        n = rnd.randint(1, 20)
        conn.receive_data(wire[i : i + n])
        i += n
        while (ev := conn.next_event()) is not NEED_DATA:
            assert isinstance(ev, IMAP_EVENTS), ev
            steps += 1
            if isinstance(ev, (Fatal, NotImap)):
                return
            if rnd.random() < 0.1:
                conn.set_line_mode(not conn._line_mode)
            assert steps < 10000
    conn.receive_data(b"")
    while (ev := conn.next_event()) is not NEED_DATA:
        assert isinstance(ev, IMAP_EVENTS), ev
        if isinstance(ev, (Fatal, NotImap, EndOfStream)):
            return
        steps += 1
        assert steps < 10000


@pytest.mark.parametrize("examples", RUNS)
def test_fuzz_imap_parser(examples):
    run(examples, imap_inputs, check_imap)


# --- SMTP -----------------------------------------------------------------------------------

SMTP_VALID = [
    b"EHLO x.example", b"HELO x", b"EHLO [127.0.0.1]", b"EHLO [IPv6:::1]", b"MAIL FROM:<mox@localhost>",
    b"MAIL FROM:<> BODY=8BITMIME SIZE=100 RET=HDRS ENVID=a+2Bb", b"MAIL FROM:<a@b> SMTPUTF8 REQUIRETLS",
    b"MAIL FROM:<a@b> HOLDFOR=10", b"MAIL FROM:<a@b> HOLDUNTIL=2026-01-01T00:00:00Z", b"MAIL FROM:<a@b> BODY=BINARYMIME",
    b'RCPT TO:<"x y"@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+40b', b"RCPT TO:<postmaster>",
    b"RCPT TO:<a@[127.0.0.1]>", b"RCPT TO:<@relay:a@b>", b"RCPT TO:<\xc3\xa9@b>", b"DATA", b"BDAT 3", b"BDAT 0 LAST",
    b"RSET", b"NOOP", b"HELP", b"VRFY x", b"EXPN x", b"QUIT", b"STARTTLS", b"AUTH PLAIN", b"AUTH PLAIN =",
    b"AUTH PLAIN AG1veEBsb2NhbGhvc3QAbW94bW94bW94", b"AUTH LOGIN", b"AUTH CRAM-MD5", b"*",
]
SMTP_TOKENS = [
    b"MAIL", b"FROM:", b"RCPT", b"TO:", b"<", b">", b"<>", b"@", b"a@b", b'"q"@b', b"[127.0.0.1]", b"[IPv6:::1]",
    b" ", b"=", b"SIZE=", b"99999999999999999999", b"BODY=", b"8BITMIME", b"BINARYMIME", b"SMTPUTF8", b"NOTIFY=",
    b"NEVER", b"DELAY", b"ORCPT=", b"rfc822;", b"+2B", b"+ZZ", b"RET=FULL", b"ENVID=", b"HOLDFOR=", b"HOLDUNTIL=",
    b"REQUIRETLS", b"\x00", b"\r", b"\n", b"\xff", b"\xc3\xa9", b"BDAT", b"LAST", b"AUTH", b"PLAIN", b"=", b"*",
    b"!!!", b"AG1veA==", b".", b"..", b"DATA",
]
smtp_line = st.one_of(
    st.sampled_from(SMTP_VALID),
    st.lists(st.one_of(st.sampled_from(SMTP_TOKENS), st.binary(max_size=4)), max_size=10).map(b"".join),
    st.binary(max_size=60),
    mutations(SMTP_VALID),
)
smtp_inputs = st.tuples(
    st.lists(smtp_line, min_size=1, max_size=10), st.sampled_from([b"\r\n", b"\n", b"\r"]), st.booleans(), st.booleans()
)
SMTP_EVENTS = (SmtpCommand, LineTooLong, NotSmtp, MessageComplete, ChunkReceived, DataRejected)


def smtp_command(conn: ServerConnection, ev: SmtpCommand) -> None:
    """What the driver does with a command, without I/O: the protocol's methods only."""
    verb, args = ev.verb.upper(), ev.args
    conn.note_command()
    if verb in ("EHLO", "HELO"):
        conn.ehlo(args, extended=verb == "EHLO", now=0.0)
    elif verb == "MAIL":
        conn.parse_mail(args, now=1_700_000_000.0)
        conn.accept_mail()
    elif verb == "RCPT":
        conn.accept_rcpt(conn.parse_rcpt(args))
    elif verb == "DATA":
        conn.data(args)
    elif verb == "BDAT":
        conn.bdat(args)
    elif verb == "RSET":
        conn.rset(args)
    elif verb == "STARTTLS":
        conn.starttls(args)
        conn.tls_started()
    elif verb == "AUTH":
        conn.auth_begin(args)


def check_smtp(t) -> None:
    lines, sep, submission, tls = t
    conn = ServerConnection(
        hostname="localhost", submission=submission, tls=tls, tls_available=not tls, require_tls_for_auth=False,
        max_message_size=2000, rcpt_max=5,
    )  # fmt: skip
    rnd = random.Random(repr(t))
    wire = sep.join(lines) + b"\r\n.\r\n"
    i = 0
    steps = 0
    while i < len(wire):
        n = rnd.randint(1, 30)
        conn.receive_data(wire[i : i + n])
        i += n
        while (ev := conn.next_event()) is not SMTP_NEED_DATA:
            steps += 1
            assert steps < 10000
            assert isinstance(ev, SMTP_EVENTS), ev
            if isinstance(ev, (LineTooLong, NotSmtp)):
                return
            if isinstance(ev, (MessageComplete, DataRejected)):
                conn.transaction_done()
                continue
            if isinstance(ev, ChunkReceived):
                continue
            try:
                smtp_command(conn, ev)
            except ReplyError as e:
                assert 400 <= e.reply.code < 600
                if e.reply.close:
                    return
            assert conn.state in State
    # The parsers on their own: their documented errors only.
    for line in lines:
        text = line.decode("utf-8", "surrogateescape")
        for fn in (smtp_parse.parse_mail_from, smtp_parse.parse_rcpt_to, smtp_parse.parse_ehlo_domain):
            try:
                fn(text)
            except (smtp_parse.ParseError, AddressError):
                pass
        try:
            smtp_parse.parse_params(text)
            smtp_parse.dsn_xtext_decode(text)
        except smtp_parse.ParseError:
            pass
        for utf8 in (False, True):
            try:
                parse_address(text, smtputf8=utf8)
            except AddressError:
                pass


@pytest.mark.parametrize("examples", RUNS)
def test_fuzz_smtp_parser(examples):
    run(examples, smtp_inputs, check_smtp)


# --- MIME -----------------------------------------------------------------------------------

MIME_FRAGMENTS = [
    b"\r\n", b"\n", b"\r", b"Content-Type: multipart/mixed; boundary=b\r\n",
    b"Content-Type: multipart/alternative; boundary=\"c d\"\r\n", b"Content-Type: multipart/digest; boundary=c\r\n",
    b"Content-Type: message/rfc822\r\n", b"Content-Type: message/global\r\n",
    b"Content-Type: text/plain; charset*0*=utf-8''%E2; charset*1=x\r\n", b"Content-Type: text/html; charset=\"x\r\n",
    b"Content-Transfer-Encoding: base64\r\n", b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Content-Transfer-Encoding: x-uuencode\r\n", b"Content-Disposition: attachment; filename*=utf-8''%FF\r\n",
    b"From: a <b@c>, G: d@e;\r\n", b"To: \"q\\\" x\" <a@[1.2.3.4]>, (comment) x@y\r\n", b"Date: Mon, 32 Foo 99999 25:61\r\n",
    b"--b\r\n", b"--b--\r\n", b"--c d\r\n", b"--c--", b" folded\r\n", b"\tfolded\r\n",
    b"Subject: =?utf-8?q?x=E2?= =?iso-8859-1?b?/w==?= =?bogus?x?y?=\r\n", b"body line\r\n", b"=\r\n", b"=4", b"====",
    b"AAEC\r\n", b"!!\r\n", b"\xff\xfe", b"\x00", b"." * 5, b"x" * 1200,
]
MIME_VALID = [
    b"From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nhello\r\n",
    b"From: a@example.org\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\n"
    b"one\r\n--x\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: multipart/alternative; "
    b"boundary=y\r\n\r\n--y\r\n\r\na\r\n--y\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--y--\r\n--x--\r\n",
    b"Subject: =?utf-8?b?w6k=?=\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: "
    b"quoted-printable\r\n\r\nx=C3=A9 =\r\nsoft\r\n",
]
mime_inputs = st.one_of(
    st.lists(st.one_of(st.sampled_from(MIME_FRAGMENTS), st.binary(max_size=20)), max_size=40).map(b"".join),
    mutations(MIME_VALID),
    st.binary(max_size=300),
)
PATHS = ([], [1], [2], [1, 1], [2, 1], [2, 2], [3], [3, 1], [9999999999])


def check_mime(data: bytes) -> None:
    root = parse_message(data)  # lenient: never raises
    assert 0 <= root.header_start <= root.body_start <= root.body_end <= len(data)
    for path in PATHS:
        p = find_part(root, path)
        if p is None:
            continue
        header_fields(data, p, ["subject", "from"], exclude=False)
        text_for_search(data, p)
        for _, v in headers(data, p):
            decode_header_value(v)
            parse_address_list(v)
            parse_date(v)
        try:
            decode_body(data, p)
        except UnknownEncoding:
            pass
    try:
        check_message(data)
    except MalformedMessage:
        pass
    assert add_missing_headers(data, hostname="mox.example", now=datetime.datetime(2026, 1, 1)).endswith(data)


@pytest.mark.parametrize("examples", RUNS)
def test_fuzz_mime_parser(examples):
    run(examples, mime_inputs, check_mime)
