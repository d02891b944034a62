"""The sans-IO layer on its own: framing, DATA/BDAT decoding, state checks, addresses, parsing.

Inputs are fed whole and one byte at a time (h11's idea); the events must be the same.
"""

from __future__ import annotations

import pytest

from mox.smtp import codes as c
from mox.smtp.address import Address, AddressError, parse_address, parse_path
from mox.smtp.parse import ParseError, parse_mail_from, parse_rcpt_to, parse_params, xtext_decode, xtext_encode
from mox.smtp.protocol import (
    NEED_DATA,
    ChunkReceived,
    Command,
    DataRejected,
    LineTooLong,
    MessageComplete,
    ReplyError,
    ServerConnection,
    State,
)


def events(proto: ServerConnection, data: bytes, *, bytewise: bool, on_command=None) -> list:
    out = []
    chunks = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    for ch in chunks:
        proto.receive_data(ch)
        while (ev := proto.next_event()) is not NEED_DATA:
            out.append(ev)
            if on_command is not None and isinstance(ev, Command):
                on_command(proto, ev)
            if isinstance(ev, LineTooLong):
                return out
    return out


def new(**kw) -> ServerConnection:
    kw.setdefault("hostname", "localhost")
    kw.setdefault("submission", False)
    return ServerConnection(**kw)


def drive(proto: ServerConnection, ev: Command) -> None:
    """A minimal driver: accept every command that the protocol accepts."""
    try:
        if ev.verb == "EHLO":
            proto.ehlo(ev.args, extended=True, now=0)
        elif ev.verb == "MAIL":
            proto.parse_mail(ev.args, now=0)
            proto.accept_mail()
        elif ev.verb == "RCPT":
            proto.accept_rcpt(proto.parse_rcpt(ev.args))
        elif ev.verb == "DATA":
            proto.data(ev.args)
        elif ev.verb == "BDAT":
            proto.bdat(ev.args)
    except ReplyError:
        pass


SESSION = (
    b"EHLO x.example\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nDATA\r\n"
    b"Subject: s\r\n\r\n..one\r\ntwo\r\n.\r\n"
    b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nBDAT 4\r\nab\r\nBDAT 3 LAST\r\nc\r\n"
    b"QUIT\r\n"
)


@pytest.mark.parametrize("bytewise", [False, True])
def test_session_events(bytewise):
    def on_cmd(proto, ev):
        drive(proto, ev)
        if isinstance(ev, Command) and ev.verb == "QUIT":
            pass

    proto = new()
    evs = []
    chunks = [SESSION[i : i + 1] for i in range(len(SESSION))] if bytewise else [SESSION]
    for ch in chunks:
        proto.receive_data(ch)
        while (ev := proto.next_event()) is not NEED_DATA:
            evs.append(ev)
            if isinstance(ev, Command):
                drive(proto, ev)
            elif isinstance(ev, MessageComplete):
                proto.transaction_done()
    kinds = [(type(e).__name__, getattr(e, "verb", None)) for e in evs]
    assert kinds == [
        ("Command", "EHLO"), ("Command", "MAIL"), ("Command", "RCPT"), ("Command", "DATA"),
        ("MessageComplete", None),
        ("Command", "MAIL"), ("Command", "RCPT"), ("Command", "BDAT"), ("ChunkReceived", None),
        ("Command", "BDAT"), ("MessageComplete", None), ("Command", "QUIT"),
    ]
    assert evs[4] == MessageComplete(b"Subject: s\r\n\r\n.one\r\ntwo\r\n")
    assert evs[8] == ChunkReceived(4)
    assert evs[10] == MessageComplete(b"ab\r\nc\r\n")
    assert proto.state == State.AWAIT_MAIL


@pytest.mark.parametrize("bytewise", [False, True])
@pytest.mark.parametrize(
    "body,expect",
    [
        (b"a\nb\r\n.\r\n", "bare"),
        (b"a\rb\r\n.\r\n", "bare"),
        (b"a\r\n.\n.\r\n.\r\n", "bare"),  # "\n.\r\n" after a bare LF does not end the data...
        (b"ok\r\n.\r\n", "ok"),
        (b"x" * 200 + b"\r\n.\r\n", "large"),
    ],
)
def test_data_decoding(bytewise, body, expect):
    proto = new(max_message_size=100)
    evs = events(proto, b"EHLO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n" + body + b"NOOP\r\n", bytewise=bytewise, on_command=drive)
    last = [e for e in evs if not isinstance(e, Command)]
    assert len(last) == 1
    if expect == "ok":
        assert last[0] == MessageComplete(b"ok\r\n")
    elif expect == "bare":
        assert isinstance(last[0], DataRejected) and last[0].reply.code == 500
    else:
        assert isinstance(last[0], DataRejected) and (last[0].reply.code, last[0].reply.se) == (552, "3.4")
    assert isinstance(evs[-1], Command) and evs[-1].verb == "NOOP"  # ...and the stream stays in sync


def test_line_too_long_without_newline():
    proto = new()
    proto.receive_data(b"x" * 2049)
    assert isinstance(proto.next_event(), LineTooLong)
    proto = new()
    proto.receive_data(b"x" * 2048)
    assert proto.next_event() is NEED_DATA


def test_reply_formatting_and_wrapping():
    assert c.format_reply(250, "", "ok") == b"250 ok\r\n"
    assert c.format_reply(550, "7.1", "no") == b"550 5.7.1 no\r\n"
    assert c.format_reply(451, "3.0", "a\nb") == b"451-4.3.0 a\r\n451 4.3.0 b\r\n"
    long = " ".join(["word"] * 200)
    lines = c.format_reply(554, "6.0", long).split(b"\r\n")[:-1]
    assert len(lines) == 2 and all(len(x) <= 510 for x in lines)
    assert lines[0].startswith(b"554-5.6.0 word") and lines[1].startswith(b"554 5.6.0 word")


def test_state_errors():
    proto = new(submission=True)
    with pytest.raises(ReplyError) as e:
        proto.parse_mail(" FROM:<a@b>", now=0)
    assert e.value.reply.text == "no ehlo/helo yet"
    proto.ehlo(" x", extended=True, now=0)
    with pytest.raises(ReplyError) as e:
        proto.parse_mail(" FROM:<a@b>", now=0)
    assert (e.value.reply.code, e.value.reply.se, e.value.reply.text) == (530, "7.0", "authentication required")
    with pytest.raises(ReplyError) as e:
        proto.auth_begin(" PLAIN")
    assert e.value.reply.code == 538  # require_tls_for_auth defaults to True
    assert "AUTH " in proto.ehlo_lines(0)


@pytest.mark.parametrize(
    "text,smtputf8,expect",
    [
        ("<a@b.example>", False, Address("a", "b.example")),
        ("<A.B@EXAMPLE.com>", False, Address("A.B", "example.com")),
        ('<"a b"@localhost>', False, Address("a b", "localhost")),
        ('<""@localhost>', False, Address("", "localhost")),
        ('<"a\\"b"@x>', False, Address('a"b', "x")),
        ("<@r1,@r2:a@b>", False, Address("a", "b")),
        ("<a@[127.0.0.1]>", False, Address("a", "[127.0.0.1]")),
        ("<a@[IPv6:::1]>", False, Address("a", "[IPv6:::1]")),
        ("<jos\u0065\u0301@b>", True, Address("jos\u00e9", "b")),  # NFC
        ("<ünï@bücher.example>", True, Address("ünï", "bücher.example")),
    ],
)
def test_parse_path(text, smtputf8, expect):
    addr, rest = parse_path(text, smtputf8=smtputf8)
    assert addr == expect and rest == ""


@pytest.mark.parametrize(
    "text,non_ascii",
    [("<a@b", False), ("<a..b@c>", False), ("<.a@c>", False), ("<a@-b>", False), ("<a b@c>", False),
     ("<ü@b>", True), ("<a@bü>", True), ("<" + "a" * 65 + "@b>", False), ("<a@[1.2.3]>", False), ('<"a@b>', False)],
)
def test_parse_path_errors(text, non_ascii):
    with pytest.raises(AddressError) as e:
        parse_path(text)
    assert e.value.non_ascii == non_ascii


def test_address_str_quotes():
    assert str(Address("a b", "x")) == '"a b"@x'
    assert str(Address("", "x")) == '""@x'
    assert str(Address('a"b', "x")) == '"a\\"b"@x'
    assert str(Address("ünï", "x")) == "ünï@x"
    assert parse_address('"a b"@x') == Address("a b", "x")


def test_parse_commands():
    mf = parse_mail_from(" FROM:<> SIZE=10 body=8bitmime SMTPUTF8")
    assert mf.path is None and mf.params == {"SIZE": "10", "BODY": "8bitmime", "SMTPUTF8": None}
    assert parse_rcpt_to(" to:<postmaster>").path == Address("postmaster", "")
    assert parse_rcpt_to(" TO:<ü@x>", smtputf8=True).path == Address("ü", "x")
    with pytest.raises(ParseError):
        parse_mail_from(" FROM: <a@b>")
    with pytest.raises(ParseError):
        parse_params(" A=1 a=2")
    with pytest.raises(ParseError):
        parse_params(" =x")
    assert xtext_decode("a+2Bb+3D") == "a+b="
    assert xtext_encode("a+b= é") == "a+2Bb+3D+20+C3+A9"
