"""Transcripts for each SMTP command: replies and enhanced codes as mox gives them (``smtpserver/server.go``)."""

from __future__ import annotations

import base64

ADDRESS = "mox@localhost"
PASSWORD = "moxmoxmox"
MSG = (
    "From: <mox@localhost>\r\n"
    "To: <other@example.com>\r\n"
    "Subject: test\r\n"
    "Message-ID: <test1@localhost>\r\n"
    "Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n"
    "\r\n"
    "hello\r\n"
)


def ehlo_lines(submission: bool, tls: bool, auth: str = "AUTH SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN") -> list[str]:
    lines = ["250-localhost", "250-PIPELINING", "250-SIZE 104857600"]
    lines.append("250-REQUIRETLS" if tls else "250-STARTTLS")
    if submission:
        lines.append("250-" + auth)
        lines.append("FUTURERELEASE")
    lines += ["250-ENHANCEDSTATUSCODES", "250-8BITMIME", "250-BINARYMIME", "250-CHUNKING", "250-DSN", "250-LIMITS RCPTMAX=1000", "250 SMTPUTF8"]
    return lines


def check_ehlo(got: list[str], expected: list[str]) -> None:
    assert len(got) == len(expected), got
    for g, e in zip(got, expected, strict=True):
        if e == "FUTURERELEASE":
            assert g.startswith("250-FUTURERELEASE 5184000 ") and g.endswith("Z"), g
        else:
            assert g == e


def test_ehlo_submission(smtp):
    tc = smtp.connect(ehlo=False)
    check_ehlo(tc.ehlo(), ehlo_lines(True, False))


def test_ehlo_delivery(smtp):
    tc = smtp.connect(submission=False, ehlo=False)
    check_ehlo(tc.ehlo(), ehlo_lines(False, False))
    tc.starttls()
    check_ehlo(tc.ehlo(), ehlo_lines(False, True))


def test_ehlo_submissions_implicit_tls(smtp):
    tc = smtp.connect(tls=True, ehlo=False)
    check_ehlo(tc.ehlo(), ehlo_lines(True, True))


def test_ehlo_auth_requires_tls(smtp):
    smtp.start(no_require_starttls=False)
    tc = smtp.connect(ehlo=False)
    check_ehlo(tc.ehlo(), ehlo_lines(True, False, auth="AUTH "))
    tc.transact("AUTH PLAIN AHRlc3QAdGVzdA==", "538 5.7.11 authentication requires tls (ID)")
    tc.starttls()
    check_ehlo(tc.ehlo(), ehlo_lines(True, True))
    tc.login()


def test_helo(smtp):
    tc = smtp.connect(ehlo=False)
    tc.transact("HELO client.example", "250 localhost")
    tc.transact("HELO", "501 5.5.2 bad syntax: expected one domain or address literal (ID)")
    tc.transact("EHLO a b", "501 5.5.2 bad syntax: expected one domain or address literal (ID)")


def test_simple_commands(smtp):
    tc = smtp.connect(ehlo=False)
    tc.transact("NOOP", "250 2.0.0 alrighty")
    tc.transact("HELP", "214 2.0.0 see rfc 5321 (smtp)")
    tc.transact("VRFY mox", "252 2.7.0 no verify but will try delivery (ID)")
    tc.transact("EXPN list", "252 2.7.0 no expand but will try delivery (ID)")
    tc.transact("RSET", "250 2.0.0 all clear")
    tc.transact("RSET x", "501 5.5.2 bad syntax: no parameters allowed (ID)")
    tc.transact("BOGUS", "500 5.5.1 unknown command (ID)")
    tc.transact("QUIT", "221 2.0.0 okay thanks bye")
    tc.expect_closed()


def test_sequence_errors(smtp):
    tc = smtp.connect(ehlo=False)
    tc.transact("MAIL FROM:<mox@localhost>", "503 5.5.1 no ehlo/helo yet (ID)")
    tc.transact("RCPT TO:<a@localhost>", "503 5.5.1 no ehlo/helo yet (ID)")
    tc.transact("DATA", "503 5.5.1 no ehlo/helo yet (ID)")
    tc.transact("AUTH PLAIN", "503 5.5.1 no ehlo/helo yet (ID)")
    tc.ehlo()
    tc.transact("MAIL FROM:<mox@localhost>", "530 5.7.0 authentication required (ID)")
    tc.login()
    tc.transact("AUTH PLAIN", "503 5.5.1 already authenticated (ID)")
    tc.transact("RCPT TO:<a@localhost>", "503 5.5.1 missing MAIL FROM (ID)")
    tc.transact("DATA", "503 5.5.1 missing MAIL FROM (ID)")
    tc.transact("MAIL FROM:<mox@localhost>", "250 2.1.0 looking good")
    tc.transact("MAIL FROM:<mox@localhost>", "503 5.5.1 already have MAIL (ID)")
    tc.transact("DATA", "503 5.5.1 missing RCPT TO (ID)")
    tc.transact("STARTTLS", "503 5.5.1 cannot starttls after authentication (ID)")
    tc.transact("RSET", "250 2.0.0 all clear")
    tc.transact("MAIL FROM:<mox@localhost>", "250 2.1.0 looking good")


def test_first_line_not_smtp(smtp):
    tc = smtp.connect(ehlo=False)
    tc.transact("GET / HTTP/1.0", "500 5.5.2 please try again speaking smtp")
    tc.expect_closed()


def test_auth_on_delivery_port(smtp):
    tc = smtp.connect(submission=False)
    tc.transact("AUTH PLAIN", "503 5.5.1 authentication only allowed on submission ports (ID)")


def test_auth_plain_and_login(smtp):
    tc = smtp.connect()
    tc.transact("AUTH PLAIN", "334 ")
    tc.transact(base64.b64encode(f"\0{ADDRESS}\0wrong".encode()), "535 5.7.8 bad user/pass (ID)")
    tc.transact("AUTH PLAIN *", "501 5.5.0 authentication aborted (ID)")
    tc.transact("AUTH PLAIN", "334 ")
    tc.transact("*", "501 5.5.0 authentication aborted (ID)")
    tc.transact("AUTH PLAIN !!!", "501 5.5.2 invalid base64: Only base64 data is allowed (ID)")
    tc.transact("AUTH PLAIN " + base64.b64encode(b"a\0b").decode(), "501 5.5.4 auth data should have 3 nul-separated tokens, got 2 (ID)")
    tc.transact("AUTH CRAM-MD6", "504 5.5.4 mechanism CRAM-MD6 not supported (ID)")
    tc.transact("AUTH", "501 5.5.2 bad syntax: expected mechanism and optional initial response (ID)")
    tc.transact("AUTH LOGIN", "334 VXNlcm5hbWU6")
    tc.transact(base64.b64encode(ADDRESS.encode()), "334 UGFzc3dvcmQ6")
    tc.transact(base64.b64encode(PASSWORD.encode()), "235 2.7.0 nice")

    tc2 = smtp.connect()
    tc2.transact("AUTH LOGIN " + base64.b64encode(ADDRESS.encode()).decode(), "334 UGFzc3dvcmQ6")
    tc2.transact(base64.b64encode(PASSWORD.encode()), "235 2.7.0 nice")
    tc3 = smtp.connect()
    tc3.transact("AUTH PLAIN " + base64.b64encode(f"other@localhost\0{ADDRESS}\0{PASSWORD}".encode()).decode(), "535 5.7.8 cannot assume other role (ID)")
    # Catch-all form of the address logs in too (NFC, separator).
    tc3.transact("AUTH PLAIN " + base64.b64encode(f"\0mox+x@localhost\0{PASSWORD}".encode()).decode(), "235 2.7.0 nice")


def test_starttls(smtp):
    tc = smtp.connect(submission=False)
    tc.transact("STARTTLS x", "501 5.5.2 bad syntax: no parameters allowed (ID)")
    tc.starttls()
    tc.transact("MAIL FROM:<a@example.com>", "503 5.5.1 no ehlo/helo yet (ID)")
    tc.ehlo()
    tc.transact("STARTTLS", "503 5.5.1 already speaking tls (ID)")
    tc2 = smtp.connect(tls=True)
    tc2.transact("STARTTLS", "503 5.5.1 already speaking tls (ID)")


def test_submit_message(smtp):
    tc = smtp.connect(login=True)
    tc.transact("MAIL FROM:<mox@localhost>", "250 2.1.0 looking good")
    tc.transact("RCPT TO:<other@example.com>", "250 2.1.0 now on the list")
    tc.transact("DATA", "354 see you at the bare dot")
    tc.write((MSG + "..dot line\r\n.\r\n").encode())
    tc.expect("250 2.2.0 it is done")
    msgs = smtp.wait_messages("Inbox", 1)
    assert len(msgs) == 1
    assert msgs[0].endswith(b"hello\r\n.dot line\r\n")
    # mox's form: submission hides the client; the auth method on a line of its own.
    assert b"\r\nReceived: from localhost by localhost ([127.0.0.1]) via tcp with ESMTPA id" in msgs[0]
    assert b"\r\nAuthentication-Results: localhost;\r\n\tauth=pass smtp.mailfrom=mox@localhost\r\n" in msgs[0]
    sent = smtp.wait_messages("Sent", 1)
    assert len(sent) == 1 and sent[0].endswith(b"hello\r\n.dot line\r\n")


def test_submission_from_checks(smtp):
    tc = smtp.connect(login=True)
    tc.transact("MAIL FROM:<other@localhost>", "550 5.7.1 must match authenticated user (ID)")
    tc.transact("MAIL FROM:<>", "550 5.7.1 must match authenticated user (ID)")
    tc.transact("MAIL FROM:<mox@localhost>", "250 2.1.0 looking good")
    tc.transact("RCPT TO:<other@example.com>", "250 2.1.0 now on the list")
    tc.transact("DATA", "354 see you at the bare dot")
    tc.write(MSG.replace("From: <mox@localhost>", "From: <other@localhost>").encode() + b".\r\n")
    tc.expect("550 5.7.1 message from address must belong to authenticated user (ID)")
    # The transaction was reset.
    tc.transact("RCPT TO:<other@example.com>", "503 5.5.1 missing MAIL FROM (ID)")


def test_submission_adds_headers(smtp):
    tc = smtp.connect(login=True)
    tc.transact("MAIL FROM:<mox@localhost>", "250 2.1.0 looking good")
    tc.transact("RCPT TO:<other@example.com>", "250 2.1.0 now on the list")
    tc.transact("DATA", "354 see you at the bare dot")
    tc.write(b"From: mox@localhost\r\nSubject: x\r\n\r\nbody\r\n.\r\n")
    tc.expect("250 2.2.0 it is done")
    m = smtp.wait_messages("Inbox", 1)[0]
    head = m.split(b"\r\n\r\n")[0]
    assert b"\r\nMessage-ID: <" in head and b"\r\nDate: " in head


def test_malformed_message(smtp):
    tc = smtp.connect(login=True)
    tc.transact("MAIL FROM:<mox@localhost>", "250 2.1.0 looking good")
    tc.transact("RCPT TO:<other@example.com>", "250 2.1.0 now on the list")
    tc.transact("DATA", "354 see you at the bare dot")
    tc.write(b"From: mox@localhost\r\nSubject: no body separation\r\n.\r\n")
    tc.expect("554 5.6.0 message requires both header and body section (ID)")
    tc.transact("MAIL FROM:<mox@localhost>", "250 2.1.0 looking good")
    tc.transact("RCPT TO:<other@example.com>", "250 2.1.0 now on the list")
    tc.transact("DATA", "354 see you at the bare dot")
    tc.write(b"From: mox@localhost\r\nContent-Type: multipart/mixed\r\n\r\nbody\r\n.\r\n")
    reply = tc.read_reply()
    assert reply[0].startswith("554 5.6.0 malformed message: "), reply


def test_delivery_port(smtp):
    tc = smtp.connect(submission=False)
    tc.transact("MAIL FROM:<sender@example.org>", "250 2.1.0 looking good")
    tc.transact("RCPT TO:<anyone@example.com>", "250 2.1.0 now on the list")
    tc.transact('RCPT TO:<"a b"@localhost>', "250 2.1.0 now on the list")
    tc.transact('RCPT TO:<""@localhost>', "250 2.1.0 now on the list")
    tc.transact("DATA", "354 see you at the bare dot")
    tc.write(b"From: sender@example.org\r\nSubject: hi\r\n\r\nbody\r\n.\r\n")
    tc.expect("250 2.2.0 it is done")
    msgs = smtp.messages("Inbox")
    assert len(msgs) == 1  # one delivery per account mailbox
    # mox's order: Return-Path, Authentication-Results, Received-SPF, Received (Delivered-To
    # only names a single recipient).
    head = msgs[0].split(b"\r\n\r\n", 1)[0].decode()
    names = [line.split(":", 1)[0] for line in head.split("\r\n") if not line.startswith(("\t", " "))]
    assert names == ["Return-Path", "Authentication-Results", "Received-SPF", "Received", "From", "Subject"]
    assert msgs[0].startswith(b"Return-Path: <sender@example.org>\r\n")
    assert "\r\nReceived: from client.example (localhost [127.0.0.1]) by localhost ([127.0.0.1]) via tcp with ESMTP id" in head.replace("\r\n\t", " ")


def test_auth_failure_limit(smtp):
    smtp.start(auth_failures_per_minute=(2, 100, 100))
    tc = smtp.connect()
    bad = "AUTH PLAIN " + base64.b64encode(f"\0{ADDRESS}\0wrong".encode()).decode()
    tc.transact(bad, "535 5.7.8 bad user/pass (ID)")
    tc.transact(bad, "535 5.7.8 bad user/pass (ID)")
    tc.transact(bad, "421 4.7.0 too many auth failures (ID)")
    tc.expect_closed()


def test_non_ascii_needs_smtputf8(smtp):
    tc = smtp.connect(submission=False)
    tc.transact("MAIL FROM:<jösé@example.org>", "550 5.6.7 non-ascii address not permitted without smtputf8 (ID)")
    tc.transact("MAIL FROM:<a@example.org>", "250 2.1.0 looking good")
    tc.transact("RCPT TO:<ünï@localhost>", "550 5.6.7 non-ascii address not permitted without smtputf8 (ID)")
    tc.transact("RSET", "250 2.0.0 all clear")
    tc.transact("MAIL FROM:<jösé@example.org> SMTPUTF8", "250 2.1.0 looking good")
    tc.transact("RCPT TO:<ünï@bücher.example>", "250 2.1.0 now on the list")
    tc.transact('RCPT TO:<"ü x"@localhost>', "250 2.1.0 now on the list")


def test_submission_8bit_and_return_path(smtp):
    tc = smtp.connect(login=True)
    tc.transact("MAIL FROM:<mox@localhost>", "250 2.1.0 looking good")
    tc.transact("RCPT TO:<other@example.com>", "250 2.1.0 now on the list")
    tc.transact("DATA", "354 see you at the bare dot")
    tc.write(MSG.replace("hello", "héllo").encode() + b".\r\n")
    tc.expect("500 5.6.0 message with non-us-ascii requires 8bitmime extension (ID)")
    tc.transact("MAIL FROM:<mox@localhost> BODY=8BITMIME", "250 2.1.0 looking good")
    tc.transact("RCPT TO:<other@example.com>", "250 2.1.0 now on the list")
    tc.transact("DATA", "354 see you at the bare dot")
    tc.write(b"Return-Path: <x@y>\r\n" + MSG.encode() + b".\r\n")
    tc.expect("550 5.6.0 message should not have Return-Path header (ID)")
    tc.transact("MAIL FROM:<mox@localhost> BODY=8BITMIME", "250 2.1.0 looking good")
    tc.transact("RCPT TO:<other@example.com>", "250 2.1.0 now on the list")
    tc.transact("DATA", "354 see you at the bare dot")
    tc.write(MSG.replace("hello", "héllo").encode() + b".\r\n")
    tc.expect("250 2.2.0 it is done")


def test_invalid_utf8(smtp):
    tc = smtp.connect(submission=False, ehlo=False)
    tc.transact(b"EHLO \xff\xfe.example", "501 5.5.2 bad syntax: invalid domain '\\udcff\\udcfe.example' (ID)")
    tc.ehlo()
    tc.transact(b"AUTH \xff", "503 5.5.1 authentication only allowed on submission ports (ID)")
    tc.transact(b"MAIL FROM:<a\xff@x.example> SMTPUTF8", "501 5.5.2 bad syntax: invalid utf-8 (ID)")
    tc.transact(b"MAIL FROM:<a@x.example> SMTPUTF8", "250 2.1.0 looking good")
    tc.transact(b"RCPT TO:<\xc3@x.example>", "501 5.5.2 bad syntax: invalid utf-8 (ID)")

    ts = smtp.connect()
    ts.transact(b"AUTH X\xff", "504 5.5.4 mechanism X? not supported (ID)")


def test_utf8_header_needs_smtputf8(smtp):
    tc = smtp.connect(submission=False)
    msg = "From: <jösé@example.org>\r\nSubject: x\r\n\r\nbody\r\n".encode()
    tc.transact("MAIL FROM:<a@example.org> BODY=8BITMIME", "250 2.1.0 looking good")
    tc.transact("RCPT TO:<b@localhost>", "250 2.1.0 now on the list")
    tc.transact("DATA", "354 see you at the bare dot")
    tc.write(msg + b".\r\n")
    tc.expect("550 5.6.0 smtputf8 extension is required but was not added to the MAIL command (ID)")
    tc.transact("MAIL FROM:<a@example.org> BODY=8BITMIME SMTPUTF8", "250 2.1.0 looking good")
    tc.transact("RCPT TO:<b@localhost>", "250 2.1.0 now on the list")
    tc.transact("DATA", "354 see you at the bare dot")
    tc.write(msg + b".\r\n")
    tc.expect("250 2.2.0 it is done")

    # A UTF-8 Subject with 8BITMIME is accepted (mox would want SMTPUTF8 there too).
    tc.transact("MAIL FROM:<a@example.org> BODY=8BITMIME", "250 2.1.0 looking good")
    tc.transact("RCPT TO:<b@localhost>", "250 2.1.0 now on the list")
    tc.transact("DATA", "354 see you at the bare dot")
    tc.write("From: <a@example.org>\r\nSubject: café\r\n\r\nbody\r\n.\r\n".encode())
    tc.expect("250 2.2.0 it is done")


def test_tls_on_plain_port(smtp):
    import socket as _socket
    import ssl as _ssl

    smtp.start()
    sock = _socket.create_connection(("127.0.0.1", smtp.ports["submission"]), timeout=10)
    assert sock.recv(1024).startswith(b"220 localhost ESMTP mox ")
    ctx = _ssl.create_default_context()
    with __import__("pytest").raises((_ssl.SSLError, ConnectionError)):
        ctx.wrap_socket(sock, server_hostname="localhost")  # sends a ClientHello, gets plaintext
    sock.close()
    raw = _socket.create_connection(("127.0.0.1", smtp.ports["smtp"]), timeout=10)
    raw.recv(1024)
    raw.sendall(b"\x16\x03\x01\x00\x10hello")
    assert raw.recv(1024) == b"500 5.5.2 please try again speaking smtp\r\n"
    assert raw.recv(1024) == b""
    raw.close()


def test_catchall_and_nfc_addresses(smtp):
    """``mox+anything@localhost`` belongs to the account (MAIL FROM and From header); a decomposed
    UTF-8 local part is stored NFC-normalised."""
    tc = smtp.connect(login=True)
    tc.transact("MAIL FROM:<mox+newsletter@localhost>", "250 2.1.0 looking good")
    tc.transact("RCPT TO:<other@example.com>", "250 2.1.0 now on the list")
    tc.transact("DATA", "354 see you at the bare dot")
    tc.write(MSG.replace("From: <mox@localhost>", "From: <mox+newsletter@localhost>").encode() + b".\r\n")
    tc.expect("250 2.2.0 it is done")
    assert smtp.wait_messages("Inbox", 1)[0].startswith(b"Delivered-To: other@example.com\r\nReturn-Path: <mox+newsletter@localhost>\r\n")
    td = smtp.connect(submission=False)
    td.transact("MAIL FROM:<a@example.org> SMTPUTF8", "250 2.1.0 looking good")
    td.transact("RCPT TO:<jos\u0065\u0301@localhost>", "250 2.1.0 now on the list")
    td.transact("DATA", "354 see you at the bare dot")
    td.write(b"From: <a@example.org>\r\nSubject: nfc\r\n\r\nbody\r\n.\r\n")
    td.expect("250 2.2.0 it is done")
    stored = smtp.wait_messages("Inbox", 2)[1]
    unfolded = stored.split(b"\r\n\r\n", 1)[0].replace(b"\r\n\t", b" ")
    assert "\r\nReceived: from client.example (localhost [127.0.0.1]) by localhost ([127.0.0.1]) via tcp with UTF8SMTP".encode() in unfolded, stored
    assert " for <jos\u00e9@localhost>; ".encode() in unfolded, stored


def test_address_length_limits(smtp):
    """RFC 5321 4.5.3.1: local parts up to 64 octets, domain labels up to 63."""
    tc = smtp.connect(submission=False)
    tc.transact("MAIL FROM:<" + "a" * 65 + "@example.com>", "501 5.5.2 bad syntax: local part longer than 64 octets (ID)")
    tc.transact("MAIL FROM:<" + "a" * 64 + "@example.com> SMTPUTF8", "250 2.1.0 looking good")
    tc.transact("RCPT TO:<" + "ü" * 33 + "@example.com>", "501 5.5.2 bad syntax: local part longer than 64 octets (ID)")  # 66 octets
    tc.transact("RCPT TO:<" + "b" * 65 + "@example.com>", "501 5.5.2 bad syntax: local part longer than 64 octets (ID)")
    tc.transact("RCPT TO:<b@" + "x" * 64 + ".example>", "501 5.5.2 bad syntax: domain label too long (ID)")
    tc.transact("RCPT TO:<b@" + "x" * 63 + ".example>", "250 2.1.0 now on the list")
