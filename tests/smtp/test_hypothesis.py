"""Random SMTP sessions against a real server: never a crash, a hang or a traceback to the client;
every reply line is a well-formed SMTP reply line."""

from __future__ import annotations

import re
import socket

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

COMMANDS = [
    "EHLO x.example", "HELO x", "EHLO", "MAIL FROM:<mox@localhost>", "MAIL FROM:<>", "MAIL FROM:<a@b> SIZE=99999999999",
    "MAIL FROM:<a@b> BODY=BINARYMIME", "RCPT TO:<a@b>", 'RCPT TO:<"x y"@b> NOTIFY=FAILURE', "RCPT TO:<rcptto451@b>",
    "RCPT TO:<queuepermerror@b>", "RCPT TO:<timeout@b>", "DATA", "BDAT 3", "BDAT 0 LAST", "BDAT x", "RSET", "NOOP", "HELP",
    "VRFY x", "EXPN x", "AUTH PLAIN", "AUTH PLAIN AG1veEBsb2NhbGhvc3QAbW94bW94bW94", "AUTH LOGIN", "*", "STARTTLS",
    "Subject: x", "", ".", "..", "MAIL FROM:<ü@b> SMTPUTF8", "RCPT TO:<ü@b>",
]

_utf8 = lambda s: s.encode("utf-8")  # noqa: E731
line = st.one_of(
    st.sampled_from(COMMANDS).map(_utf8),
    st.text(min_size=0, max_size=40).map(_utf8),
    st.binary(min_size=0, max_size=40),  # also invalid UTF-8
    st.tuples(st.sampled_from(["MAIL FROM:<", "RCPT TO:<", "EHLO ", "AUTH PLAIN "]), st.binary(max_size=20), st.sampled_from([b">", b"@x>", b"> SMTPUTF8", b""])).map(
        lambda t: t[0].encode() + t[1] + t[2]
    ),
)
REPLY = re.compile(rb"^\d{3}([ -].*)?$")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(lines=st.lists(line, min_size=1, max_size=12), submission=st.booleans(), sep=st.sampled_from([b"\r\n", b"\n"]))
def test_random_sessions(smtp, lines, submission, sep):
    if smtp.server is None:
        smtp.start(smtp_idle_timeout=0.5, failure_timeout=0.01)
    port = smtp.ports["submission" if submission else "smtp"]
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        data = sep.join(lines) + b"\r\n\r\n.\r\nQUIT\r\n"
        try:
            s.sendall(data)
        except OSError:
            pass  # the server may already have closed (first line not SMTP)
        got = b""
        while True:
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                break
            if not d:
                break
            got += d
    finally:
        s.close()
    assert got.startswith(b"220 localhost ESMTP mox ")
    assert got.endswith(b"\r\n")
    for reply_line in got[:-2].split(b"\r\n"):
        assert REPLY.match(reply_line), reply_line
    assert b"Traceback" not in got and b"internal error" not in got
    assert not smtp.errors
