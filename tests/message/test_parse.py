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
