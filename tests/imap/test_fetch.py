"""FETCH and UID FETCH (RFC 9051 6.4.5, RFC 3516 BINARY): every attribute, byte-exact."""

import base64

SIMPLE = (
    b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
    b"From: Alice <alice@example.org>\r\n"
    b"To: bob@example.com, \"Carol C\" <carol@example.com>\r\n"
    b"Subject: hello\r\n"
    b"Message-ID: <m1@example.org>\r\n"
    b"\r\n"
    b"line one\r\n"
    b"line two\r\n"
)

NESTED = (
    b"From: x@example.org\r\n"
    b"Subject: nested\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n'
    b"\r\n"
    b"preamble\r\n"
    b"--b1\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"first part\r\n"
    b"--b1\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b'Content-Disposition: attachment; filename="a.bin"\r\n'
    b"\r\n"
    + base64.b64encode(b"a\x00b") + b"\r\n"
    b"--b1\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"Subject: inner\r\n"
    b"From: in@example.org\r\n"
    b"\r\n"
    b"inner body\r\n"
    b"--b1--\r\n"
)


def setup(imap):
    imap.start()
    m1 = imap.deliver(SIMPLE, received=1704103200.0)
    m2 = imap.deliver(NESTED, received=1704103200.0)
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    return tc, m1, m2


def test_fetch_simple_attributes(imap):
    tc, m1, m2 = setup(imap)
    tc.transact("ok", "fetch 1 (uid flags internaldate rfc822.size)")
    tc.expect_untagged(f'* 1 FETCH (UID 1 FLAGS (\\Recent) INTERNALDATE " 1-Jan-2024 10:00:00 +0000" RFC822.SIZE {len(SIMPLE)})')
    tc.transact("ok", "fetch 1 envelope")
    tc.expect_untagged(
        '* 1 FETCH (ENVELOPE ("Mon, 1 Jan 2024 10:00:00 +0000" "hello" (("Alice" NIL "alice" "example.org")) '
        '(("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) '
        '((NIL NIL "bob" "example.com")("Carol C" NIL "carol" "example.com")) NIL NIL NIL "<m1@example.org>"))'
    )
    tc.transact("ok", "fetch 1 bodystructure")
    tc.expect_untagged('* 1 FETCH (BODYSTRUCTURE ("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 20 2 NIL NIL NIL NIL))')
    tc.transact("ok", "fetch 1 body")
    tc.expect_untagged('* 1 FETCH (BODY ("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 20 2))')
    tc.transact("ok", "uid fetch 1 fast")
    tc.expect_untagged(f'* 1 FETCH (UID 1 FLAGS (\\Recent) INTERNALDATE " 1-Jan-2024 10:00:00 +0000" RFC822.SIZE {len(SIMPLE)})')
    tc.transact("ok", "fetch 1:* modseq")
    tc.expect_untagged(
        f"* OK [HIGHESTMODSEQ {m2.modseq}] x",  # MODSEQ enabled CONDSTORE (RFC 7162 3.1)
        f"* 1 FETCH (MODSEQ ({m1.modseq}))",
        f"* 2 FETCH (MODSEQ ({m2.modseq}))",
    )


def raw_fetch(tc, line):
    """Send a command and return the raw response bytes up to the tagged line."""
    tag = tc.conn.next_tag()
    tc.write_line(f"{tag} {line}")
    out = b""
    while True:
        ln = tc.conn.read_line() + b"\r\n"
        out += ln
        if ln.endswith(b"}\r\n"):
            n = int(ln[ln.rindex(b"{") + 1 : -3])
            while len(tc.conn.buf) < n:
                tc.conn._recv()
            out += bytes(tc.conn.buf[:n])
            del tc.conn.buf[:n]
            continue
        if ln.startswith(tag.encode() + b" "):
            return out


def test_fetch_body_sections_byte_exact(imap):
    tc, m1, m2 = setup(imap)
    hdr = SIMPLE[: SIMPLE.index(b"\r\n\r\n") + 4]
    body = SIMPLE[len(hdr) :]
    got = raw_fetch(tc, "fetch 1 (body.peek[header] body.peek[text] body.peek[]<0.4>)")
    assert got.startswith(
        b"* 1 FETCH (BODY[HEADER] {%d}\r\n" % len(hdr) + hdr
        + b" BODY[TEXT] {%d}\r\n" % len(body) + body + b" BODY[]<0> {4}\r\nDate)\r\n"
    )
    got = raw_fetch(tc, "fetch 1 (body.peek[header.fields (subject FROM)])")
    fields = b"From: Alice <alice@example.org>\r\nSubject: hello\r\n\r\n"
    assert got.startswith(b"* 1 FETCH (BODY[HEADER.FIELDS (subject FROM)] {%d}\r\n" % len(fields) + fields + b")\r\n")
    got = raw_fetch(tc, "fetch 2 (body.peek[1] body.peek[1.mime] body.peek[3.header] body.peek[3.text] body.peek[9])")
    assert got.startswith(
        b"* 2 FETCH (BODY[1] {10}\r\nfirst part"
        b" BODY[1.MIME] {43}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        b" BODY[3.HEADER] {40}\r\nSubject: inner\r\nFrom: in@example.org\r\n\r\n"
        b" BODY[3.TEXT] {10}\r\ninner body"
        b" BODY[9] {0}\r\n)\r\n"
    )
    # No \Seen was set by the PEEKs.
    tc.transact("ok", "fetch 1:2 flags")
    tc.expect_untagged("* 1 FETCH (FLAGS (\\Recent))", "* 2 FETCH (FLAGS (\\Recent))")


def test_fetch_rfc822_forms_and_macros(imap):
    tc, m1, m2 = setup(imap)
    hdr = SIMPLE[: SIMPLE.index(b"\r\n\r\n") + 4]
    body = SIMPLE[len(hdr) :]
    env = (
        'ENVELOPE ("Mon, 1 Jan 2024 10:00:00 +0000" "hello" (("Alice" NIL "alice" "example.org")) '
        '(("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) '
        '((NIL NIL "bob" "example.com")("Carol C" NIL "carol" "example.com")) NIL NIL NIL "<m1@example.org>")'
    )
    fast = f'INTERNALDATE " 1-Jan-2024 10:00:00 +0000" RFC822.SIZE {len(SIMPLE)}'
    tc.transact("ok", "fetch 1 all")
    tc.expect_untagged(f"* 1 FETCH (FLAGS (\\Recent) {fast} {env})")
    tc.transact("ok", "fetch 1 full")
    tc.expect_untagged(f'* 1 FETCH (FLAGS (\\Recent) {fast} {env} BODY ("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 20 2))')
    # RFC822.HEADER is a peek; RFC822.TEXT sets \Seen (RFC 3501 6.4.5), reported after the data.
    got = raw_fetch(tc, "fetch 1 (rfc822.header rfc822.text)")
    assert got.startswith(
        b"* 1 FETCH (RFC822.HEADER {%d}\r\n" % len(hdr) + hdr
        + b" RFC822.TEXT {%d}\r\n" % len(body) + body + b" FLAGS (\\Seen \\Recent))\r\n"
    )
    got = raw_fetch(tc, "fetch 1 rfc822")  # already \Seen: no FLAGS
    assert got.startswith(b"* 1 FETCH (RFC822 {%d}\r\n" % len(SIMPLE) + SIMPLE + b")\r\n")
    got = raw_fetch(tc, "fetch 1 body.peek[header.fields.not (subject FROM date)]")
    rest = b'To: bob@example.com, "Carol C" <carol@example.com>\r\nMessage-ID: <m1@example.org>\r\n\r\n'
    assert got.startswith(
        b"* 1 FETCH (BODY[HEADER.FIELDS.NOT (subject FROM date)] {%d}\r\n" % len(rest) + rest + b")\r\n"
    )


def test_fetch_nested_parts_and_partials(imap):
    tc, m1, m2 = setup(imap)
    inner = b"Subject: inner\r\nFrom: in@example.org\r\n\r\ninner body"
    got = raw_fetch(tc, "fetch 2 (body.peek[3] body.peek[3.1] body.peek[2.mime] binary.size[3])")
    mime2 = (
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="a.bin"\r\n\r\n'
    )
    # Part 3 is a message/rfc822: 3 is the whole inner message, 3.1 its (single-part) body.
    assert got.startswith(
        b"* 2 FETCH (BODY[3] {%d}\r\n" % len(inner) + inner
        + b" BODY[3.1] {10}\r\ninner body"
        + b" BODY[2.MIME] {%d}\r\n" % len(mime2) + mime2
        + b" BINARY.SIZE[3] %d)\r\n" % len(inner)
    )
    # Partial fetches: the origin is echoed, the length is cut at the end of the data, and an
    # origin beyond the end gives an empty string (RFC 9051 6.4.5).
    got = raw_fetch(tc, "fetch 2 (body.peek[]<200.20> body.peek[1]<3.100> body.peek[1]<100.5>)")
    assert got.startswith(
        b"* 2 FETCH (BODY[]<200> {20}\r\n" + NESTED[200:220]
        + b" BODY[1]<3> {7}\r\nst part BODY[1]<100> {0}\r\n)\r\n"
    )
    tc.transact("bad", "fetch 2 body.peek[0]")  # part numbers start at 1
    tc.transact("bad", "fetch 2 body.peek[1.bogus]")
    tc.transact("bad", "fetch 2 body.peek[]<1>")  # a partial needs origin and length
    tc.transact("ok", "fetch 1:2 flags")  # no \Seen from any of the PEEKs
    tc.expect_untagged("* 1 FETCH (FLAGS (\\Recent))", "* 2 FETCH (FLAGS (\\Recent))")



FWD_HEADER = b"From: a@example.org\r\nSubject: fwd\r\nMIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n"
FWD_INNER = b"From: x@example.net\r\nSubject: inner\r\n\r\ninner body\r\n"
DIGEST = (
    b"Subject: digest\r\nMIME-Version: 1.0\r\nContent-Type: multipart/digest; boundary=d\r\n\r\n"
    b"--d\r\n\r\nFrom: a@example.org\r\nSubject: one\r\n\r\nbody one\r\n"
    b"--d\r\n\r\nSubject: two\r\n\r\nbody two\r\n--d--\r\n"
)


def lit(name, data):
    return name + b" {%d}\r\n" % len(data) + data


def test_fetch_text_of_message_rfc822_body(imap):
    # RFC 9051 6.4.5: HEADER and TEXT without a part number are the top-level message's: for a
    # message whose body is a message/rfc822, TEXT is everything after the top-level header,
    # the embedded header included; "1.HEADER"/"1.TEXT" are the embedded message's. The answers
    # are byte for byte Dovecot's.
    imap.start()
    imap.deliver(FWD_HEADER + FWD_INNER)
    imap.deliver(DIGEST)
    tc = imap.connect()
    tc.transact("ok", "examine inbox")
    got = raw_fetch(
        tc,
        "fetch 1 (body[header] body[text] body[header.fields (SUBJECT)] rfc822.header rfc822.text body[1] "
        "body[1.header] body[1.text] body[1.mime] body[1.header.fields (SUBJECT)] body[1.1] body[2])",
    )
    assert got.startswith(
        b"* 1 FETCH ("
        + lit(b"BODY[HEADER]", FWD_HEADER)
        + lit(b" BODY[TEXT]", FWD_INNER)
        + lit(b" BODY[HEADER.FIELDS (SUBJECT)]", b"Subject: fwd\r\n\r\n")
        + lit(b" RFC822.HEADER", FWD_HEADER)
        + lit(b" RFC822.TEXT", FWD_INNER)
        + lit(b" BODY[1]", FWD_INNER)
        + lit(b" BODY[1.HEADER]", b"From: x@example.net\r\nSubject: inner\r\n\r\n")
        + lit(b" BODY[1.TEXT]", b"inner body\r\n")
        + lit(b" BODY[1.MIME]", FWD_HEADER)
        + lit(b" BODY[1.HEADER.FIELDS (SUBJECT)]", b"Subject: inner\r\n\r\n")
        + lit(b" BODY[1.1]", b"inner body\r\n")
        + lit(b" BODY[2]", b"")
        + b")\r\n"
    ), got
    # multipart/digest: its parts are message/rfc822 by default (RFC 2046 5.1.5).
    one = b"From: a@example.org\r\nSubject: one\r\n\r\nbody one"
    got = raw_fetch(
        tc,
        "fetch 2 (body[text] body[1] body[1.header] body[1.text] body[1.mime] body[2.header.fields (SUBJECT)] "
        "body[2.text] body[1.1] body[1.1.mime] binary[1] binary.size[2])",
    )
    assert got.startswith(
        b"* 2 FETCH ("
        + lit(b"BODY[TEXT]", DIGEST[DIGEST.index(b"--d"):])
        + lit(b" BODY[1]", one)
        + lit(b" BODY[1.HEADER]", b"From: a@example.org\r\nSubject: one\r\n\r\n")
        + lit(b" BODY[1.TEXT]", b"body one")
        + lit(b" BODY[1.MIME]", b"\r\n")
        + lit(b" BODY[2.HEADER.FIELDS (SUBJECT)]", b"Subject: two\r\n\r\n")
        + lit(b" BODY[2.TEXT]", b"body two")
        + lit(b" BODY[1.1]", b"body one")
        + lit(b" BODY[1.1.MIME]", b"From: a@example.org\r\nSubject: one\r\n\r\n")
        + lit(b" BINARY[1]", one)
        + b" BINARY.SIZE[2] 24)\r\n"
    ), got
    # Header search keys look at the message's own header, not the embedded one (RFC 9051
    # 6.4.4); TEXT and BODY search the body, which holds the embedded message.
    for crit, want in [
        ("subject fwd", "1"), ("subject inner", ""), ("from x@example.net", ""), ("from a@example.org", "1"),
        ("header subject inner", ""), ("text inner", "1"), ("body inner", "1"), ("subject digest", "2"),
    ]:
        tc.transact("ok", f"search {crit}")
        tc.expect_untagged(f"* SEARCH {want}".rstrip())

def test_fetch_binary(imap):
    tc, m1, m2 = setup(imap)
    got = raw_fetch(tc, "fetch 2 (binary.peek[2] binary.size[2] binary.peek[1]<0.5>)")
    assert got.startswith(b"* 2 FETCH (BINARY[2] ~{3}\r\na\x00b BINARY.SIZE[2] 3 BINARY[1]<0> {5}\r\nfirst)\r\n")
    tc.transact("no", "fetch 2 binary.peek[7]")
    tc.expect_code("NONEXISTENT")



QP = (
    b"Subject: qp\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
    b"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"foo   =\r\nbar trail   \r\nsoft=  \r\nnext=3D=41=4a=zz= \t\r\ntab\t\r\nend=\r\n"
    b"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\r\n"
    b"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nline1\r\nline2=\r\n"
    b"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n\r\n"
    b"--b--\r\n"
)


def test_fetch_binary_quoted_printable(imap):
    # RFC 3516 BINARY decodes the transfer encoding; quoted-printable as RFC 2045 6.7 says:
    # whitespace before a soft line break is data, whitespace ending a line (also after the "="
    # of a soft break) was added in transport and goes, "=XX" is an octet (lower-case hex too),
    # an "=" not followed by hex stays. BINARY.SIZE is the decoded length; an empty part is an
    # empty literal.
    imap.start()
    imap.deliver(QP)
    tc = imap.connect()
    tc.transact("ok", "examine inbox")
    one = b"foo   bar trail\r\nsoftnext=AJ=zztab\r\nend"
    three = b"line1\r\nline2"
    got = raw_fetch(
        tc,
        "fetch 1 (binary.size[1] binary[1] binary[1]<3.10> binary[1]<100.10> binary.size[2] binary[2] "
        "binary[2]<0.5> body[2] binary.size[3] binary[3] binary.peek[3]<3.3> binary.size[4] binary[4])",
    )
    assert got.startswith(
        b"* 1 FETCH (BINARY.SIZE[1] %d" % len(one)
        + lit(b" BINARY[1]", one)
        + lit(b" BINARY[1]<3>", one[3:13])
        + lit(b" BINARY[1]<100>", b"")
        + b" BINARY.SIZE[2] 0"
        + lit(b" BINARY[2]", b"")
        + lit(b" BINARY[2]<0>", b"")
        + lit(b" BODY[2]", b"")
        + b" BINARY.SIZE[3] %d" % len(three)
        + lit(b" BINARY[3]", three)
        + lit(b" BINARY[3]<3>", b"e1\r")
        + b" BINARY.SIZE[4] 0"
        + lit(b" BINARY[4]", b"")
        + b")\r\n"
    ), got
    # A single-part message: BINARY[1] is its decoded body.
    imap.deliver(b"Subject: s\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9 =\r\nau lait  \r\n")
    tc.transact("ok", "noop")
    got = raw_fetch(tc, "fetch 2 (binary.size[1] binary[1])")
    body = "café au lait\r\n".encode()
    assert got.startswith(b"* 2 FETCH (BINARY.SIZE[1] %d" % len(body) + lit(b" BINARY[1]", body) + b")\r\n"), got

def test_fetch_bodystructure_multipart(imap):
    tc, m1, m2 = setup(imap)
    tc.transact("ok", "fetch 2 bodystructure")
    tc.expect_untagged(
        '* 2 FETCH (BODYSTRUCTURE (("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 10 1 NIL NIL NIL NIL)'
        '("APPLICATION" "OCTET-STREAM" NIL NIL NIL "BASE64" 4 NIL ("ATTACHMENT" ("FILENAME" "a.bin")) NIL NIL)'
        '("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 50 (NIL "inner" ((NIL NIL "in" "example.org")) ((NIL NIL "in" "example.org")) '
        '((NIL NIL "in" "example.org")) NIL NIL NIL NIL NIL) ("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 10 1 NIL NIL NIL NIL) 4 NIL NIL NIL NIL)'
        ' "MIXED" ("BOUNDARY" "b1") NIL NIL NIL))'
    )


def test_fetch_sets_seen(imap):
    tc, m1, m2 = setup(imap)
    tc2 = imap.connect()
    tc2.transact("ok", "select inbox")
    tc.transact("ok", "fetch 1 rfc822.header")
    tc.expect_untagged_some()
    assert b"FLAGS" not in tc.untagged[0][1]
    tc.transact("ok", "fetch 1 body[text]")
    assert tc.untagged[0][1].endswith(b" FLAGS (\\Seen \\Recent))")
    tc.transact("ok", "fetch 1 body[text]")  # already seen: no FLAGS
    assert b"FLAGS" not in tc.untagged[0][1]
    tc2.transact("ok", "noop")
    tc2.expect_untagged("* 1 FETCH (UID 1 FLAGS (\\Seen))")
    tc.transact("ok", "examine inbox")
    tc.transact("ok", "fetch 2 rfc822")
    assert b"FLAGS" not in tc.untagged[0][1]  # read-only: \Seen not set


def test_fetch_errors(imap):
    tc, m1, m2 = setup(imap)
    tc.transact("bad", "fetch 3 flags")  # beyond the last message
    tc.transact("bad", "fetch 0 flags")
    tc.transact("bad", "fetch 1 bogus")
    tc.transact("bad", "fetch 1")
    tc.transact("bad", "uid fetch 1 flags (vanished)")
    tc.transact("bad", "fetch 1 flags (changedsince 1 vanished)")
    tc.transact("ok", "uid fetch 10 flags")  # unknown uids are no error
    tc.expect_no_untagged()
    tc.transact("ok", "uid fetch 2:* flags")
    tc.expect_untagged("* 2 FETCH (UID 2 FLAGS (\\Recent))")


def test_fetch_imaplib(imap):
    import imaplib

    imap.start()
    imap.deliver(SIMPLE)
    c = imaplib.IMAP4("127.0.0.1", imap.ports["imap"])
    c.login("mox@localhost", "moxmoxmox")
    c.select("Inbox")
    typ, data = c.fetch("1", "(RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK"
    assert data[0][0] == b"1 (RFC822.SIZE %d BODY[HEADER.FIELDS (SUBJECT)] {18}" % len(SIMPLE)
    assert data[0][1] == b"Subject: hello\r\n\r\n"
    typ, data = c.uid("FETCH", "1", "(BODY[])")
    assert data[0][1] == SIMPLE
    typ, data = c.fetch("1", "(FLAGS)")
    assert data == [b"1 (FLAGS (\\Seen \\Recent))"]
    c.logout()


def test_fetch_8bit_header_as_literal(imap):
    imap.start()
    imap.deliver(b"Subject: \xe2\x9c\x93 done\r\n\r\nbody\r\n")
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    got = raw_fetch(tc, "fetch 1 envelope")
    # Without UTF8=ACCEPT, 8-bit text can't be in a quoted string: a literal carries it.
    assert got.startswith(b"* 1 FETCH (ENVELOPE (NIL {8}\r\n\xe2\x9c\x93 done NIL NIL NIL NIL NIL NIL NIL NIL))\r\n")
