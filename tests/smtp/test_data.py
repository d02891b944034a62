"""DATA, BDAT, pipelining, limits and connection-level behaviour (RFC 5321, 2920,
3030; mox ``smtpserver/server.go``)."""

from __future__ import annotations

import socket
import time


MSG = (
    b"From: <mox@localhost>\r\n"
    b"To: <other@example.com>\r\n"
    b"Subject: test\r\n"
    b"Message-ID: <t@localhost>\r\n"
    b"Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n"
    b"\r\n"
    b"hello\r\n"
)


def start_tx(tc, rcpt="other@example.com"):
    tc.transact("MAIL FROM:<mox@localhost>", "250 2.1.0 looking good")
    tc.transact(f"RCPT TO:<{rcpt}>", "250 2.1.0 now on the list")


def test_pipelining(smtp):
    tc = smtp.connect(ehlo=False)
    # RFC 2920: the whole transaction in one write; replies come in order.
    import base64

    auth = base64.b64encode(b"\0mox@localhost\0moxmoxmox").decode()
    tc.write(
        (
            "EHLO client.example\r\n"
            f"AUTH PLAIN {auth}\r\n"
            "MAIL FROM:<mox@localhost>\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
        ).encode()
    )
    assert tc.read_reply()[0] == "250-localhost"
    tc.expect("235 2.7.0 nice")
    tc.expect("250 2.1.0 looking good")
    tc.expect("250 2.1.0 now on the list")
    tc.expect("250 2.1.0 now on the list")
    tc.expect("354 see you at the bare dot")
    tc.write(MSG + b".\r\nNOOP\r\nQUIT\r\n")
    tc.expect("250 2.2.0 it is done")
    tc.expect("250 2.0.0 alrighty")
    tc.expect("221 2.0.0 okay thanks bye")
    assert len(smtp.wait_messages("Inbox", 2)) == 2


def test_dot_stuffing(smtp):
    tc = smtp.connect(submission=False)
    start_tx(tc)
    tc.transact("DATA", "354 see you at the bare dot")
    tc.write(b"Subject: dots\r\n\r\n..\r\n...x\r\n.y\r\n. \r\n.\r\n")
    tc.expect("250 2.2.0 it is done")
    m = smtp.messages("Inbox")[0]
    assert m.endswith(b"Subject: dots\r\n\r\n.\r\n..x\r\ny\r\n \r\n")


def test_bare_lf_rejected(smtp):
    tc = smtp.connect(submission=False)
    start_tx(tc)
    tc.transact("DATA", "354 see you at the bare dot")
    # A smuggling attempt: "\n.\r\n" must not end the data, the transaction is rejected.
    tc.write(b"Subject: x\r\n\r\nbody\n.\r\nMAIL FROM:<evil@example.com>\r\n.\r\n")
    tc.expect("500 5.5.2 invalid bare \\r or \\n, may be smtp smuggling (ID)")
    start_tx(tc)
    tc.transact("DATA", "354 see you at the bare dot")
    tc.write(b"Subject: x\r\n\r\nbare\rcr\r\n.\r\n")
    tc.expect("500 5.5.2 invalid bare \\r or \\n, may be smtp smuggling (ID)")
    tc.transact("NOOP", "250 2.0.0 alrighty")
    assert smtp.messages("Inbox") == []


def test_size_limits(smtp):
    smtp.start(max_message_size=1000)
    tc = smtp.connect(submission=False, ehlo=False)
    assert "250-SIZE 1000" in tc.ehlo()
    tc.transact("MAIL FROM:<a@example.com> SIZE=1001", "552 5.3.4 message too large (ID)")
    tc.transact("MAIL FROM:<a@example.com> SIZE=1000", "250 2.1.0 looking good")
    tc.transact("RCPT TO:<b@example.com>", "250 2.1.0 now on the list")
    tc.transact("DATA", "354 see you at the bare dot")
    tc.write(b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 20 + b".\r\n")
    tc.expect("552 5.3.4 message too large (ID)")
    # The connection stays in sync and usable.
    tc.transact("MAIL FROM:<a@example.com>", "250 2.1.0 looking good")
    tc.transact("RCPT TO:<b@example.com>", "250 2.1.0 now on the list")
    tc.transact("DATA", "354 see you at the bare dot")
    tc.write(b"Subject: small\r\n\r\nok\r\n.\r\n")
    tc.expect("250 2.2.0 it is done")
    assert len(smtp.messages("Inbox")) == 1
    # BDAT: one chunk over the limit, or chunks that add up to more; the bytes are consumed.
    tc.transact("MAIL FROM:<a@example.com>", "250 2.1.0 looking good")
    tc.transact("RCPT TO:<b@example.com>", "250 2.1.0 now on the list")
    tc.write(b"BDAT 1001 LAST\r\n" + b"x" * 1001)
    tc.expect("552 5.3.4 message too large (ID)")
    tc.transact("MAIL FROM:<a@example.com>", "250 2.1.0 looking good")
    tc.transact("RCPT TO:<b@example.com>", "250 2.1.0 now on the list")
    tc.write(b"BDAT 600\r\n" + b"x" * 600)
    tc.expect("250 2.0.0 chunk received, 600 octets so far")
    tc.write(b"BDAT 600 LAST\r\n" + b"x" * 600)
    tc.expect("552 5.3.4 message too large (ID)")
    tc.transact("NOOP", "250 2.0.0 alrighty")
    tc.transact("DATA", "503 5.5.1 missing MAIL FROM (ID)")
    assert len(smtp.messages("Inbox")) == 1


def test_line_too_long(smtp):
    tc = smtp.connect()
    tc.transact("NOOP " + "x" * 3000, "500 5.5.0 line too long, smtp max is 512, we reached 2048")
    tc.expect_closed()


def test_too_many_recipients(smtp):
    tc = smtp.connect(submission=False)
    tc.transact("MAIL FROM:<a@example.com>", "250 2.1.0 looking good")
    tc.write(b"".join(b"RCPT TO:<r%d@example.com>\r\n" % i for i in range(1000)))
    for _ in range(1000):
        tc.expect("250 2.1.0 now on the list")
    tc.transact("RCPT TO:<r1000@example.com>", "452 4.5.3 max of 1000 recipients reached (ID)")


def test_null_sender_single_recipient(smtp):
    tc = smtp.connect(submission=False)
    tc.transact("MAIL FROM:<>", "250 2.1.0 looking good")
    tc.transact("RCPT TO:<a@example.com>", "250 2.1.0 now on the list")
    tc.transact("RCPT TO:<b@example.com>", "452 4.5.3 only one recipient allowed with null reverse address (ID)")


def test_bdat(smtp):
    tc = smtp.connect(submission=False)
    start_tx(tc)
    part1 = b"Subject: chunks\r\n\r\n"
    part2 = b"line one\r\n.line two\r\n"
    tc.write(b"BDAT %d\r\n" % len(part1) + part1)
    tc.expect("250 2.0.0 chunk received, %d octets so far" % len(part1))
    tc.write(b"BDAT %d LAST\r\n" % len(part2) + part2)
    tc.expect("250 2.2.0 it is done")
    assert smtp.messages("Inbox")[0].endswith(part1 + part2)  # no dot-unstuffing in BDAT
    # BDAT out of sequence: the chunk is consumed, then the error.
    tc.write(b"BDAT 5 LAST\r\nhello")
    tc.expect("503 5.5.1 missing MAIL FROM (ID)")
    tc.transact("BDAT x", "501 5.5.2 bad syntax: expected BDAT size [LAST] (ID)")
    tc.expect_closed()


def test_bdat_then_data_and_binarymime(smtp):
    tc = smtp.connect(submission=False)
    start_tx(tc)
    tc.write(b"BDAT 3\r\nabc")
    tc.expect("250 2.0.0 chunk received, 3 octets so far")
    tc.transact("DATA", "503 5.5.1 DATA not allowed with BINARYMIME or after BDAT (ID)")
    tc.transact("RSET", "250 2.0.0 all clear")
    tc.transact("MAIL FROM:<a@example.com> BODY=BINARYMIME", "250 2.1.0 looking good")
    tc.transact("RCPT TO:<b@example.com>", "250 2.1.0 now on the list")
    tc.transact("DATA", "503 5.5.1 DATA not allowed with BINARYMIME or after BDAT (ID)")
    data = b"Subject: bin\r\n\r\n\x00\x01\xff\r\n"
    tc.write(b"BDAT %d LAST\r\n" % len(data) + data)
    tc.expect("250 2.2.0 it is done")


def test_mail_parameters(smtp):
    tc = smtp.connect(submission=False)
    tc.transact("MAIL FROM: <a@example.com>", "501 5.5.2 bad syntax: expected '<' (ID)")
    tc.transact("MAIL FROM:<a@example.com> BODY=8BITMIME BODY=7BIT", "501 5.5.2 bad syntax: duplicate param 'BODY' (ID)")
    tc.transact("MAIL FROM:<a@example.com> BODY=BOGUS", '555 5.5.4 unrecognized parameter "BODY" (ID)')
    tc.transact("MAIL FROM:<a@example.com> XFOO=1", '555 5.3.3 unrecognized parameter "XFOO" (ID)')
    tc.transact("MAIL FROM:<a@example.com> REQUIRETLS", "523 5.7.10 requiretls only allowed on tls-encrypted connections (ID)")
    tc.transact("MAIL FROM:<a@example.com> RET=BOGUS", "501 5.5.4 bad syntax: RET must be FULL or HDRS (ID)")
    # Decoded ENVID/ORCPT values go into DSN header fields: no control characters (no injection).
    tc.transact("MAIL FROM:<a@example.com> ENVID=x+0D+0AX-Evil:+20y", "501 5.5.4 bad syntax: control character in xtext value 'x+0D+0AX-Evil:+20y' (ID)")
    tc.transact("MAIL FROM:<a@example.com> ENVID=x+2", "501 5.5.4 bad syntax: invalid xtext escape in 'x+2' (ID)")
    tc.transact("MAIL FROM:<a@example.com> AUTH=<> RET=HDRS ENVID=abc+2Bdef BODY=8BITMIME SMTPUTF8 SIZE=10", "250 2.1.0 looking good")
    tc.transact("RCPT TO:<b@example.com> ORCPT=rfc822;b+0Aexample.com", "501 5.5.4 bad syntax: control character in xtext value 'b+0Aexample.com' (ID)")
    tc.transact("RCPT TO:<b@example.com> NOTIFY=NEVER,SUCCESS", "501 5.5.4 bad syntax: invalid NOTIFY value (ID)")
    tc.transact("RCPT TO:<b@example.com> ORCPT=bogus", "501 5.5.4 bad syntax: invalid ORCPT value (ID)")
    tc.transact("RCPT TO:<b@example.com> XFOO", '555 5.3.3 unrecognized parameter "XFOO" (ID)')
    tc.transact("RCPT TO:<b@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+40example.com", "250 2.1.0 now on the list")


def test_holdfor_submission(smtp):
    tc = smtp.connect(login=True)
    tc.transact("MAIL FROM:<mox@localhost> HOLDFOR=6000000", "554 5.5.4 future release interval too far in the future (ID)")
    tc.transact("MAIL FROM:<mox@localhost> HOLDUNTIL=2000-01-01T00:00:00Z", "554 5.5.4 requested future release time is in the past (ID)")
    tc.transact("MAIL FROM:<mox@localhost> HOLDFOR=3600", "250 2.1.0 looking good")
    tc.transact("RCPT TO:<other@example.com>", "250 2.1.0 now on the list")
    tc.transact("DATA", "354 see you at the bare dot")
    tc.write(MSG + b".\r\n")
    tc.expect("250 2.2.0 it is done")
    entries = smtp.server.run_sync_in_server(smtp.ctx.queue.list)
    assert len(entries) == 1 and entries[0].next_attempt > time.time() + 3000
    assert smtp.messages("Inbox") == []


def test_idle_timeout(smtp):
    smtp.start(smtp_idle_timeout=0.2)
    tc = smtp.connect(ehlo=False)  # no EHLO: on a loaded machine its reply could race the timer
    tc.expect("421 4.4.2 idle timeout")
    tc.expect_closed()


def test_shutdown(smtp):
    tc = smtp.connect()
    tc2 = smtp.connect(submission=False)
    start_tx(tc2)
    tc2.transact("DATA", "354 see you at the bare dot")
    tc2.write(b"Subject: in progress\r\n\r\n")
    smtp.server.run_sync_in_server(smtp.ctx.request_stop)
    # An idle connection hears about the shutdown at once.
    tc.expect("421 4.3.2 shutting down")
    tc.expect_closed()
    # A message in progress is finished first, then the next command gets the 421.
    tc2.write(b"body\r\n.\r\n")
    tc2.expect("250 2.2.0 it is done")
    tc2.expect("421 4.3.2 shutting down")
    tc2.expect_closed()
    sock = socket.create_connection(("127.0.0.1", smtp.ports["smtp"]), timeout=5)
    assert sock.recv(100) == b"421 4.3.2 shutting down\r\n"
    sock.close()


def test_starttls_discards_plaintext_injection(smtp):
    tc = smtp.connect(submission=False)
    # RFC 3207 4.2 / CVE-2011-0411 style: commands after STARTTLS in the same packet are dropped.
    tc.write(b"STARTTLS\r\nNOOP\r\n")
    tc.expect("220 2.0.0 go! (ID)")
    tc.sock = tc.tls_ctx.wrap_socket(tc.sock, server_hostname="localhost")
    tc.transact("NOOP", "250 2.0.0 alrighty")


def test_data_phase_timeout(smtp):
    smtp.start(smtp_data_timeout=0.5, smtp_idle_timeout=5)
    tc = smtp.connect(submission=False)
    start_tx(tc)
    tc.transact("DATA", "354 see you at the bare dot")
    import time as _time

    # A client trickling data still hits the limit for the whole phase.
    for _ in range(10):
        try:
            tc.write(b"x\r\n")
        except OSError:
            break
        _time.sleep(0.1)
    tc.expect("421 4.4.2 timeout reading message data")
    tc.expect_closed()


def test_tls_handshake_timeout(smtp):
    """A client that never starts its TLS handshake (implicit TLS, or after STARTTLS) is
    disconnected after the idle timeout instead of holding the connection forever."""
    smtp.start(smtp_idle_timeout=0.3)
    s = socket.create_connection(("127.0.0.1", smtp.ports["submissions"]), timeout=10)
    try:
        assert s.recv(100) == b""
    finally:
        s.close()
    tc = smtp.connect(submission=False)
    tc.transact("STARTTLS", "220 2.0.0 go! (ID)")
    tc.expect_closed()
