"""parse_message: the MIME tree and its exact byte ranges (RFC 2045, RFC 2046, RFC 9051 7.5.2)."""

from mox.message import Address, parse_message


def section(data: bytes, start: int, end: int) -> bytes:
    return data[start:end]


def test_single_part():
    data = b"Subject: hi\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nline 1\r\nline 2\r\n"
    p = parse_message(data)
    assert data[p.header_start : p.body_start] == (
        b"Subject: hi\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    assert data[p.body_start : p.body_end] == b"line 1\r\nline 2\r\n"
    assert (p.media_type, p.media_subtype, p.params) == ("TEXT", "PLAIN", [("charset", "utf-8")])
    assert p.body_lines == 2
    assert p.parts == []
    assert p.envelope is not None and p.envelope.subject == "hi"


def test_defaults_rfc2045():
    # RFC 2045 5.2: no Content-Type means text/plain; charset=us-ascii; no CTE means 7BIT.
    p = parse_message(b"Subject: x\r\n\r\nbody\r\n")
    assert (p.media_type, p.media_subtype, p.params) == ("TEXT", "PLAIN", [("charset", "us-ascii")])
    assert p.content_transfer_encoding == "7BIT"


def test_multipart_with_preamble_and_epilogue():
    data = (
        b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
        b"\r\n"
        b"preamble\r\n"
        b"--b1\r\n"
        b"Content-Type: text/plain\r\n"
        b"\r\n"
        b"first\r\n"
        b"--b1  \r\n"
        b"Content-Type: multipart/alternative; boundary=b2\r\n"
        b"\r\n"
        b"--b2\r\n"
        b"\r\n"
        b"inner one\r\n"
        b"--b2\r\n"
        b"Content-Type: text/html\r\n"
        b"\r\n"
        b"<p>inner two</p>\r\n"
        b"--b2--\r\n"
        b"inner epilogue\r\n"
        b"--b1--\r\n"
        b"epilogue\r\n"
    )
    p = parse_message(data)
    assert (p.media_type, p.media_subtype) == ("MULTIPART", "MIXED")
    assert len(p.parts) == 2
    first, alt = p.parts
    assert data[first.header_start : first.body_start] == b"Content-Type: text/plain\r\n\r\n"
    assert data[first.body_start : first.body_end] == b"first"
    assert first.body_lines == 1
    assert (alt.media_type, alt.media_subtype) == ("MULTIPART", "ALTERNATIVE")
    assert data[alt.body_start : alt.body_end] == (
        b"--b2\r\n\r\ninner one\r\n--b2\r\nContent-Type: text/html\r\n\r\n<p>inner two</p>\r\n"
        b"--b2--\r\ninner epilogue"
    )
    one, two = alt.parts
    assert data[one.header_start : one.body_start] == b"\r\n"
    assert data[one.body_start : one.body_end] == b"inner one"
    assert data[two.header_start : two.body_start] == b"Content-Type: text/html\r\n\r\n"
    assert data[two.body_start : two.body_end] == b"<p>inner two</p>"
    assert (two.media_type, two.media_subtype) == ("TEXT", "HTML")


def test_message_rfc822_inside_multipart():
    data = (
        b"From: a@example.org\r\n"
        b"Content-Type: multipart/mixed; boundary=x\r\n"
        b"\r\n"
        b"--x\r\n"
        b"Content-Type: message/rfc822\r\n"
        b"\r\n"
        b"From: \"Inner Name\" <inner@example.org>\r\n"
        b"Subject: inner\r\n"
        b"\r\n"
        b"inner body\r\n"
        b"--x--\r\n"
    )
    p = parse_message(data)
    (msg,) = p.parts
    assert (msg.media_type, msg.media_subtype) == ("MESSAGE", "RFC822")
    assert msg.envelope is None
    (inner,) = msg.parts
    assert inner.header_start == msg.body_start
    assert data[inner.header_start : inner.body_start] == (
        b"From: \"Inner Name\" <inner@example.org>\r\nSubject: inner\r\n\r\n"
    )
    assert data[inner.body_start : inner.body_end] == b"inner body"
    assert inner.envelope is not None
    assert inner.envelope.subject == "inner"
    assert inner.envelope.from_ == [Address("Inner Name", None, "inner", "example.org")]
    assert msg.body_lines == 4


def test_digest_default_is_message_rfc822():
    # RFC 2046 5.1.5
    data = (
        b"Content-Type: multipart/digest; boundary=d\r\n\r\n"
        b"--d\r\n\r\nSubject: one\r\n\r\nbody one\r\n"
        b"--d\r\nContent-Type: text/plain\r\n\r\nnot a message\r\n"
        b"--d--\r\n"
    )
    p = parse_message(data)
    a, b = p.parts
    assert (a.media_type, a.media_subtype) == ("MESSAGE", "RFC822")
    assert a.parts[0].envelope.subject == "one"
    assert data[a.parts[0].body_start : a.parts[0].body_end] == b"body one"
    assert (b.media_type, b.media_subtype) == ("TEXT", "PLAIN")


def test_lf_only_input():
    data = (
        b"Subject: lf\n"
        b"Content-Type: multipart/mixed; boundary=b\n"
        b"\n"
        b"--b\n"
        b"Content-Type: text/plain\n"
        b"\n"
        b"one\n"
        b"two\n"
        b"--b--\n"
    )
    p = parse_message(data)
    assert data[p.header_start : p.body_start] == (
        b"Subject: lf\nContent-Type: multipart/mixed; boundary=b\n\n"
    )
    (c,) = p.parts
    assert data[c.header_start : c.body_start] == b"Content-Type: text/plain\n\n"
    assert data[c.body_start : c.body_end] == b"one\ntwo"
    assert c.body_lines == 2


def test_missing_close_boundary_ends_last_part_at_end():
    data = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nfirst\r\n--b\r\n\r\nlast\r\n"
    p = parse_message(data)
    assert [data[c.body_start : c.body_end] for c in p.parts] == [b"first", b"last\r\n"]


def test_multipart_without_any_boundary_line_has_no_parts():
    data = b"Content-Type: multipart/mixed; boundary=b\r\n\r\njust text\r\n"
    p = parse_message(data)
    assert (p.media_type, p.parts) == ("MULTIPART", [])
    assert data[p.body_start : p.body_end] == b"just text\r\n"


def test_multipart_without_boundary_parameter_is_a_leaf():
    p = parse_message(b"Content-Type: multipart/mixed\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n")
    assert (p.media_type, p.media_subtype, p.parts) == ("MULTIPART", "MIXED", [])


def test_boundary_with_suffix_is_not_a_delimiter():
    # Some software nests with the same boundary plus a suffix; mox needs whitespace after it.
    data = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--bb\r\ny\r\n--b--\r\n"
    p = parse_message(data)
    (c,) = p.parts
    assert data[c.body_start : c.body_end] == b"x\r\n--bb\r\ny"


def test_truncated_input():
    data = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/pl"
    p = parse_message(data)
    (c,) = p.parts
    assert c.header_start == len(data) - len(b"Content-Type: text/pl")
    assert c.body_start == c.body_end == len(data)
    assert (c.media_type, c.media_subtype) == ("TEXT", "PL")


def test_no_header_body_separator():
    data = b"Subject: x\r\nthis is not a header\r\nmore\r\n"
    p = parse_message(data)
    assert data[p.header_start : p.body_start] == b"Subject: x\r\n"
    assert data[p.body_start : p.body_end] == b"this is not a header\r\nmore\r\n"
    assert p.envelope.subject == "x"

    only_header = b"Subject: y\r\n"
    p = parse_message(only_header)
    assert (p.body_start, p.body_end) == (len(only_header), len(only_header))

    no_header = b"hello\r\n"
    p = parse_message(no_header)
    assert (p.header_start, p.body_start, p.body_end) == (0, 0, len(no_header))


def test_empty_message():
    p = parse_message(b"")
    assert (p.header_start, p.body_start, p.body_end, p.body_lines) == (0, 0, 0, 0)


def test_mime_fields():
    data = (
        b"Content-Type: Application/PDF; NAME=\"a b.pdf\"\r\n"
        b"Content-Transfer-Encoding: Base64\r\n"
        b"Content-ID: <id1@example>\r\n"
        b"Content-Description: the\r\n  description\r\n"
        b"Content-Disposition: attachment;\r\n filename*=utf-8''%E2%82%AC%20rates.pdf\r\n"
        b"Content-Language: en, nl-NL\r\n"
        b"Content-Location: http://example.org/a.pdf\r\n"
        b"Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
        b"\r\n"
        b"AAAA\r\n"
    )
    p = parse_message(data)
    assert (p.media_type, p.media_subtype) == ("APPLICATION", "PDF")
    assert p.params == [("name", "a b.pdf")]
    assert p.content_transfer_encoding == "BASE64"
    assert p.content_id == "<id1@example>"
    assert p.content_description == "the  description"
    assert p.disposition == "ATTACHMENT"
    assert p.disposition_params == [("filename", "\u20ac rates.pdf")]
    assert p.language == ["en", "nl-NL"]
    assert p.location == "http://example.org/a.pdf"
    assert p.content_md5 == "Q2hlY2sgSW50ZWdyaXR5IQ=="


def test_rfc2231_continuations_and_charsets():
    # RFC 2231 3 and 4: numbered sections, encoded sections, charset and language.
    data = (
        b"Content-Type: application/x-stuff;\r\n"
        b" title*0*=us-ascii'en'This%20is%20even%20more%20;\r\n"
        b" title*1*=%2A%2A%2Afun%2A%2A%2A%20;\r\n"
        b" title*2=\"isn't it!\";\r\n"
        b" url*0=\"ftp://\"; url*1=\"cs.utk.edu/pub\";\r\n"
        b" name*=iso-8859-1'nl'caf%E9\r\n"
        b"\r\n"
    )
    p = parse_message(data)
    assert p.params == [
        ("title", "This is even more ***fun*** isn't it!"),
        ("url", "ftp://cs.utk.edu/pub"),
        ("name", "caf\u00e9"),
    ]


def test_invalid_content_type_recovers_type_or_falls_back():
    p = parse_message(b"Content-Type: text/html; charset=\"utf-8\r\n\r\nx")
    assert (p.media_type, p.media_subtype) == ("TEXT", "HTML")
    p = parse_message(b"Content-Type: garbage\r\n\r\nx")
    assert (p.media_type, p.media_subtype, p.params) == ("APPLICATION", "OCTET-STREAM", [])


def test_envelope():
    data = (
        b"Date: Thu, 26 Nov 2026 16:00:00 +0100\r\n"
        b"Subject: =?utf-8?q?caf=C3=A9?=\r\n"
        b"From: \"Mox, User\" <mjl@mox.example>\r\n"
        b"Reply-To: replies@mox.example\r\n"
        b"To: undisclosed-recipients:;\r\n"
        b"Cc: Team: a@example.org, B <b@example.org>;, c@example.org\r\n"
        b"Bcc: <@relay.example:d@example.org>\r\n"
        b"In-Reply-To: <x@y>\r\n"
        b"Message-ID: <m1@mox.example>\r\n"
        b"\r\n"
    )
    env = parse_message(data).envelope
    me = [Address("Mox, User", None, "mjl", "mox.example")]
    assert env.date == "Thu, 26 Nov 2026 16:00:00 +0100"
    assert env.subject == "=?utf-8?q?caf=C3=A9?="  # IMAP sends it undecoded
    assert env.from_ == me
    assert env.sender == me  # RFC 9051 7.5.2: defaults to From
    assert env.reply_to == [Address(None, None, "replies", "mox.example")]
    assert env.to == [Address(None, None, "undisclosed-recipients", None), Address(None, None, None, None)]
    assert env.cc == [
        Address(None, None, "Team", None),
        Address(None, None, "a", "example.org"),
        Address("B", None, "b", "example.org"),
        Address(None, None, None, None),
        Address(None, None, "c", "example.org"),
    ]
    assert env.bcc == [Address(None, "@relay.example", "d", "example.org")]
    assert (env.in_reply_to, env.message_id) == ("<x@y>", "<m1@mox.example>")


def test_deep_nesting_is_cut_off_not_crashing():
    depth = 200
    data = b"".join(b"Content-Type: message/rfc822\r\n\r\n" for _ in range(depth)) + b"Subject: end\r\n\r\nx"
    p = parse_message(data)
    n = 0
    while p.parts:
        p = p.parts[0]
        n += 1
    assert 0 < n < depth


def test_lenient_unquoted_parameter_values():
    data = (
        b"Content-Type: multipart/mixed; boundary=----=_Part_1.2; name=a b.txt\r\n\r\n"
        b"------=_Part_1.2\r\n\r\nx\r\n------=_Part_1.2--\r\n"
    )
    p = parse_message(data)
    assert p.params == [("boundary", "----=_Part_1.2"), ("name", "a b.txt")]
    assert [data[c.body_start : c.body_end] for c in p.parts] == [b"x"]


def test_rfc2231_odd_names_are_ignored():
    p = parse_message(b"Content-Type: text/plain; a*x=1; *0=2; b*1=tail; c=3\r\n\r\n")
    assert p.params == [("b", "tail"), ("c", "3")]
