"""IMAP section helpers (RFC 9051 6.4.5), decoding (RFC 2045 6), search text and submission
headers: exact bytes for nested parts."""

import datetime

import pytest

from mox.message import (
    UnknownEncoding,
    add_missing_headers,
    body_bytes,
    decode_body,
    find_part,
    header_bytes,
    header_fields,
    headers,
    mime_header_bytes,
    parse_message,
    text_bytes,
    text_for_search,
)

NESTED = (
    b"From: a@example.org\r\n"
    b"Subject: outer\r\n"
    b"Content-Type: multipart/mixed; boundary=o\r\n"
    b"\r\n"
    b"--o\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"caf=E9 =\r\n"
    b"au lait\r\n"
    b"--o\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"Subject: inner\r\n"
    b"Content-Type: multipart/alternative; boundary=i\r\n"
    b"\r\n"
    b"--i\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"inner text\r\n"
    b"--i\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"PHA+aMOpPC9wPg==\r\n"
    b"--i--\r\n"
    b"--o\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"Subject: simple\r\n"
    b"\r\n"
    b"simple body\r\n"
    b"--o--\r\n"
)


def sections(data, root, path):
    p = find_part(root, path)
    assert p is not None, path
    return p


def test_find_part_numbering():
    root = parse_message(NESTED)
    assert find_part(root, []) is root
    assert body_bytes(NESTED, sections(NESTED, root, [1])) == b"caf=E9 =\r\nau lait"
    # Part 2 is message/rfc822: its body is the whole embedded message.
    two = sections(NESTED, root, [2])
    assert body_bytes(NESTED, two).startswith(b"Subject: inner\r\n")
    assert body_bytes(NESTED, two).endswith(b"--i--")
    # 2.1 and 2.2 continue into the embedded multipart.
    assert body_bytes(NESTED, sections(NESTED, root, [2, 1])) == b"inner text"
    assert body_bytes(NESTED, sections(NESTED, root, [2, 2])) == b"PHA+aMOpPC9wPg=="
    # 3.1: the body of a non-multipart embedded message.
    assert body_bytes(NESTED, sections(NESTED, root, [3, 1])) == b"simple body"
    for missing in ([0], [4], [1, 1], [2, 3], [3, 2], [2, 1, 1]):
        assert find_part(root, missing) is None, missing


def test_find_part_single_part_message():
    data = b"Subject: x\r\n\r\nbody\r\n"
    root = parse_message(data)
    assert body_bytes(data, find_part(root, [1])) == b"body\r\n"
    assert find_part(root, [2]) is None
    assert find_part(root, [1, 1]) is None


def test_header_text_mime_of_nested_parts():
    root = parse_message(NESTED)
    assert header_bytes(NESTED, root) == (
        b"From: a@example.org\r\nSubject: outer\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n"
    )
    two = find_part(root, [2])
    assert header_bytes(NESTED, two) == (
        b"Subject: inner\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n"
    )
    assert mime_header_bytes(NESTED, two) == b"Content-Type: message/rfc822\r\n\r\n"
    assert text_bytes(NESTED, two) == (
        b"--i\r\nContent-Type: text/plain\r\n\r\ninner text\r\n--i\r\n"
        b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"PHA+aMOpPC9wPg==\r\n--i--"
    )
    assert mime_header_bytes(NESTED, find_part(root, [2, 2])) == (
        b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    )
    assert mime_header_bytes(NESTED, find_part(root, [1])) == (
        b"Content-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    )
    assert header_bytes(NESTED, find_part(root, [3])) == b"Subject: simple\r\n\r\n"
    assert text_bytes(NESTED, find_part(root, [3])) == b"simple body"


FOLDED = (
    b"Subject: a folded\r\n"
    b" subject\r\n"
    b"To: x@example.org,\r\n"
    b"\ty@example.org\r\n"
    b"X-Other: 1\r\n"
    b"subject: second\r\n"
    b"\r\n"
    b"body\r\n"
)


def test_header_fields_keeps_folding_and_blank_line():
    root = parse_message(FOLDED)
    assert header_fields(FOLDED, root, ["SUBJECT", "to"]) == (
        b"Subject: a folded\r\n subject\r\nTo: x@example.org,\r\n\ty@example.org\r\nsubject: second\r\n\r\n"
    )
    assert header_fields(FOLDED, root, ["subject", "to"], exclude=True) == b"X-Other: 1\r\n\r\n"
    assert header_fields(FOLDED, root, [b"x-other"], not_=True) == (
        b"Subject: a folded\r\n subject\r\nTo: x@example.org,\r\n\ty@example.org\r\nsubject: second\r\n\r\n"
    )
    assert header_fields(FOLDED, root, ["absent"]) == b"\r\n"


def test_header_fields_of_embedded_message():
    root = parse_message(NESTED)
    assert header_fields(NESTED, find_part(root, [2]), ["subject"]) == b"Subject: inner\r\n\r\n"


def test_headers_unfolded():
    root = parse_message(FOLDED)
    assert headers(FOLDED, root) == [
        ("Subject", "a folded subject"),
        ("To", "x@example.org,\ty@example.org"),
        ("X-Other", "1"),
        ("subject", "second"),
    ]


def test_decode_body_each_encoding():
    root = parse_message(NESTED)
    assert decode_body(NESTED, find_part(root, [1])) == b"caf\xe9 au lait"
    assert decode_body(NESTED, find_part(root, [2, 2])) == "<p>h\u00e9</p>".encode()
    assert decode_body(NESTED, find_part(root, [2, 1])) == b"inner text"  # 7bit default
    for cte in (b"8bit", b"binary"):
        data = b"Content-Transfer-Encoding: " + cte + b"\r\n\r\n\xff\x00raw"
        assert decode_body(data, parse_message(data)) == b"\xff\x00raw"
    data = b"Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n"
    with pytest.raises(UnknownEncoding):
        decode_body(data, parse_message(data))


def test_decode_base64_lenient():
    data = b"Content-Transfer-Encoding: base64\r\n\r\naGVs bG8*\r\ngd29y bGQ\r\n"
    assert decode_body(data, parse_message(data)) == b"hello world"


def test_text_for_search():
    root = parse_message(NESTED)
    assert text_for_search(NESTED, find_part(root, [1])) == "caf\u00e9 au lait"
    text = text_for_search(NESTED, root)
    assert text == (
        "caf\u00e9 au lait\n"
        "Subject: inner\n"
        "Content-Type: multipart/alternative; boundary=i\n"
        "inner text\n"
        "<p>h\u00e9</p>\n"
        "Subject: simple\n"
        "simple body"
    )


def test_add_missing_headers():
    now = datetime.datetime(2026, 11, 26, 16, 0, 0, tzinfo=datetime.timezone.utc)
    data = b"Subject: x\r\n\r\nbody\r\n"
    out = add_missing_headers(data, hostname="mox.example", now=now)
    lines = out.split(b"\r\n")
    assert lines[0].startswith(b"Message-ID: <") and lines[0].endswith(b"@mox.example>")
    assert lines[1] == b"Date: Thu, 26 Nov 2026 16:00:00 +0000"
    assert out.endswith(b"\r\n" + data)
    complete = b"Date: Thu, 26 Nov 2026 16:00:00 +0000\r\nMessage-Id: <a@b>\r\n\r\nx"
    assert add_missing_headers(complete, hostname="mox.example", now=now) == complete


def test_text_for_search_odd_charsets():
    for charset in (b"x-unknown", b"\"a\\\x00b\"", b"idna", b"rot13"):
        data = b"Content-Type: text/plain; charset=" + charset + b"\r\n\r\nplain \xc3\xa9\r\n"
        assert text_for_search(data, parse_message(data)).startswith("plain ")


def test_decode_quoted_printable_rfc2045():
    from mox.message.sections import decode_quoted_printable as qp

    # RFC 2045 6.7: rule 1 (=XX, lower-case hex accepted), rules 3 and 5 (trailing whitespace
    # deleted, soft line breaks, whitespace before a soft break kept), note 2 (other "=" kept).
    cases = {
        b"foo   =\r\nbar": b"foo   bar",
        b"trail   \r\nx": b"trail\r\nx",
        b"tab\t\r\nx": b"tab\r\nx",
        b"soft=  \r\nx": b"softx",
        b"a= \t\r\nb": b"ab",
        b"a=3D=41=4a\r\n": b"a=AJ\r\n",
        b"a=zz=4": b"a=zz=4",
        b"a==\r\n41": b"a=41",
        b"end=": b"end",
        b"end   ": b"end",
        b"bare\nlf=\nx \n": b"bare\nlfx\n",
        b"": b"",
    }
    for enc, dec in cases.items():
        assert qp(enc) == dec, enc
