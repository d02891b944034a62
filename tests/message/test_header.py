"""Header value helpers: RFC 2047 encoded words, RFC 5322 addresses and dates."""

import datetime

from mox.message import Address, decode_header_value, parse_address_list, parse_date


def test_encoded_words():
    # RFC 2047 8 examples: whitespace between adjacent encoded words disappears.
    assert decode_header_value("=?ISO-8859-1?Q?a?=") == "a"
    assert decode_header_value("=?ISO-8859-1?Q?a?= b") == "a b"
    assert decode_header_value("=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=") == "ab"
    assert decode_header_value("=?ISO-8859-1?Q?a?=\r\n  =?ISO-8859-1?Q?b?=") == "ab"
    assert decode_header_value("=?ISO-8859-1?Q?a_b?=") == "a b"
    assert decode_header_value("=?utf-8?b?4oKsIDEw?=") == "\u20ac 10"
    assert decode_header_value("=?UTF-8*en?Q?caf=C3=A9?=") == "caf\u00e9"  # RFC 2231 5 language
    assert decode_header_value(b"caf\xc3\xa9") == "caf\u00e9"  # RFC 6532 raw UTF-8


def test_encoded_words_lenient():
    assert decode_header_value("=?x-unknown?q?abc?=") == "abc"
    assert decode_header_value("=?utf-8?b?not base64?=") == "=?utf-8?b?not base64?="
    assert decode_header_value("plain =? text") == "plain =? text"


def test_address_list():
    assert parse_address_list("a@example.org") == [Address(None, None, "a", "example.org")]
    assert parse_address_list('"Last, First" <f@example.org>, x@y (Comment Name)') == [
        Address("Last, First", None, "f", "example.org"),
        Address("Comment Name", None, "x", "y"),
    ]
    assert parse_address_list('"quoted \\"local\\""@example.org') == [
        Address(None, None, 'quoted "local"', "example.org")
    ]
    assert parse_address_list("=?utf-8?q?J=C3=B6rg?= <j@example.org>") == [
        Address("=?utf-8?q?J=C3=B6rg?=", None, "j", "example.org")
    ]
    assert parse_address_list("nodomain") == [Address(None, None, "nodomain", "")]
    assert parse_address_list("") == []
    assert parse_address_list(",,, ") == []


def test_group_syntax():
    # RFC 9051 7.5.2: group start (NIL NIL "name" NIL), group end (NIL NIL NIL NIL).
    assert parse_address_list("Friends: a@x, \"B\" <b@y>; , c@z") == [
        Address(None, None, "Friends", None),
        Address(None, None, "a", "x"),
        Address("B", None, "b", "y"),
        Address(None, None, None, None),
        Address(None, None, "c", "z"),
    ]
    # Unterminated group is closed at the end.
    assert parse_address_list("G: a@x") == [
        Address(None, None, "G", None),
        Address(None, None, "a", "x"),
        Address(None, None, None, None),
    ]


def test_parse_date():
    utc = datetime.timezone.utc
    assert parse_date("Thu, 26 Nov 2026 16:00:00 +0100") == datetime.datetime(
        2026, 11, 26, 15, 0, tzinfo=utc
    )
    assert parse_date("26 Nov 2026 16:00 GMT") == datetime.datetime(2026, 11, 26, 16, 0, tzinfo=utc)
    assert parse_date("Thu, 26 Nov 2026 16:00:00 -0000 (no zone)") == datetime.datetime(
        2026, 11, 26, 16, 0, tzinfo=utc
    )
    assert parse_date("yesterday") is None
    assert parse_date("") is None
    assert parse_date(None) is None


def test_address_list_obsolete_and_odd_forms():
    assert parse_address_list("John Q. Public <jqp@example.org>") == [
        Address("John Q. Public", None, "jqp", "example.org")
    ]
    # RFC 5322 A.5: comments everywhere.
    assert parse_address_list("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>") == [
        Address("Pete", None, "pete", "silly.test")
    ]
    assert parse_address_list("a@[192.0.2.1]") == [Address(None, None, "a", "[192.0.2.1]")]
    assert parse_address_list("x@y; z@w") == [Address(None, None, "x", "y"), Address(None, None, "z", "w")]
    assert parse_address_list("<a@b") == [Address(None, None, "a", "b")]
    assert parse_address_list('"" <a@b>, <>') == [Address(None, None, "a", "b")]
