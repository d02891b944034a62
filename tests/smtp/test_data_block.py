"""DATA is decoded a block of lines at a time (bytes.find/replace, not a loop per line): the
events must equal those of the straightforward line-by-line reading of RFC 5321 4.5.2, for any
content and any way the bytes arrive."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mox.smtp import codes as c
from mox.smtp.protocol import NEED_DATA, DataRejected, MessageComplete, ServerConnection, error

HEAD = b"EHLO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"


def reference(data: bytes, max_size: int) -> list:
    """Line by line: the events of one DATA transaction and the bytes left after it."""
    msg = bytearray()
    size = 0
    bad = large = False
    prev_crlf = True
    pos = 0
    while True:
        i = data.find(b"\n", pos)
        if i < 0:
            return [None, data[pos:]]
        line = data[pos : i + 1]
        pos = i + 1
        crlf = line.endswith(b"\r\n")
        if line == b".\r\n" and prev_crlf:
            break
        if not crlf or b"\r" in line[:-2]:
            bad = True
        prev_crlf = crlf
        if line.startswith(b"."):
            line = line[1:]
        size += len(line)
        if size > max_size:
            large = True
        elif not large and not bad:
            msg += line
    if bad:
        ev = DataRejected(error(c.C500_BAD_SYNTAX, c.SE_PROTO_SYNTAX, "invalid bare \\r or \\n, may be smtp smuggling"))
    elif large:
        ev = DataRejected(error(c.C552_MAILBOX_FULL, c.SE_SYS_MSG_LIMIT_EXCEEDED, "message too large"))
    else:
        ev = MessageComplete(bytes(msg))
    return [ev, data[pos:]]


def run(body: bytes, cuts: list[int], max_size: int) -> list:
    proto = ServerConnection(hostname="localhost", submission=False, max_message_size=max_size)
    proto.receive_data(HEAD)
    while (ev := proto.next_event()) is not NEED_DATA:
        if ev.verb == "EHLO":
            proto.ehlo(ev.args, extended=True, now=0)
        elif ev.verb == "MAIL":
            proto.parse_mail(ev.args, now=0)
            proto.accept_mail()
        elif ev.verb == "RCPT":
            proto.accept_rcpt(proto.parse_rcpt(ev.args))
        elif ev.verb == "DATA":
            proto.data(ev.args)
    bounds = [0] + sorted(set(x % (len(body) + 1) for x in cuts)) + [len(body)]
    for a, b in zip(bounds, bounds[1:]):
        proto.receive_data(body[a:b])
        ev = proto.next_event()
        if ev is not NEED_DATA:
            return [ev, bytes(proto._buf[proto._pos :]) + body[b:]]
    return [None, bytes(proto._buf[proto._pos :])]


pieces = st.sampled_from([b"a", b"hello world", b".", b"..", b"\r\n", b"\r", b"\n", b".\r\n", b"\r\n.\r\n",
                          b"\r\n..\r\n", b"x\n.\r\n", b"\r\r\n", b"NOOP\r\n", b"\x00\xff"])


@settings(max_examples=400, deadline=None)
@given(st.lists(pieces, max_size=30), st.lists(st.integers(min_value=0, max_value=10_000), max_size=6),
       st.sampled_from([10, 40, 1 << 20]))
def test_block_decoding_equals_line_by_line(parts, cuts, max_size):
    body = b"".join(parts) + b"\r\n.\r\nNOOP\r\n"
    assert run(body, cuts, max_size) == reference(body, max_size)


def test_examples():
    # Dot-stuffing; the first "." line ends the data, what follows stays for the command reader.
    ev, rest = run(b"..a\r\nb\r\n.\r\n.\r\nNOOP\r\n", [], 1 << 20)
    assert ev == MessageComplete(b".a\r\nb\r\n")
    assert rest == b".\r\nNOOP\r\n"
    # "." after a bare LF does not end the data, and the bare LF poisons it.
    ev, rest = run(b"a\n.\r\nb\r\n.\r\n", [3], 1 << 20)
    assert isinstance(ev, DataRejected) and ev.reply.code == 500
    assert rest == b""
    # Byte by byte gives the same as whole.
    body = b"x\r\n..y\r\n.\r\n"
    assert run(body, list(range(len(body))), 1 << 20) == [MessageComplete(b"x\r\n.y\r\n"), b""]
