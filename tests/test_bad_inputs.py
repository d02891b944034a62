"""A catalogue of bad inputs over IMAP, SMTP, HTTP and the control channel, against one running
localserve over real sockets. Each case sends its input and checks the answer is the clear
protocol error it should be; then that the connection goes on where the protocol allows (a
following NOOP, or request, is answered) or is closed where it must be; that the stored mail is
intact (the same messages, byte for byte, with the same flags); and that nothing was logged at
error level. Leaving the server runs the store's consistency check.

The table in docs/bad-inputs.md is generated from CASES (``test_catalogue_documented`` keeps it
in step): after changing a case, run ``.venv/bin/python tests/test_bad_inputs.py``.
"""

from __future__ import annotations

import io
import re
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "bad-inputs.md"
TIMEOUT = 15.0
LOGIN = b"p1 LOGIN mox@localhost moxmoxmox\r\n"
AUTH_PLAIN = b"AUTH PLAIN AG1veEBsb2NhbGhvc3QAbW94bW94bW94\r\n"
HTTP_OK = b"GET /readyz HTTP/1.1\r\nHost: localhost\r\n\r\n"
TLS_HELLO_START = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x11" * 20  # a ClientHello, cut off


@dataclass(frozen=True)
class Case:
    name: str  # the test id
    proto: str  # where it is sent: see SETUP
    input: str  # what is sent, for the table
    send: tuple[bytes, ...]  # the bytes, in separate writes
    expect: str  # regular expression the answer must contain
    answer: str  # the expected answer, for the table
    then: str = "continues"  # "continues" (the next command works) or "closed"
    slow: float = 0.0  # seconds to wait between the writes (slowloris)


def C(name, proto, input, send, expect, answer, then="continues", slow=0.0) -> Case:  # noqa: N802
    return Case(name, proto, input, tuple(send) if isinstance(send, (list, tuple)) else (send,), expect, answer, then, slow)


LONG = b"x" * (70 * 1024)

CASES: list[Case] = [
    # --- IMAP -----------------------------------------------------------------------------
    C("imap_line_too_long", "imap", "a command line of 70 KiB", [b"a1 NOOP " + LONG + b"\r\n"],
      r"a1 BAD \[TOOBIG\] command line too long", "`a1 BAD [TOOBIG] command line too long, the maximum is 65536 bytes`"),
    C("imap_line_too_long_literal_plus", "imap", "a 70 KiB line ending in a LITERAL+ announcement, then its data",
      [b"a1 LOGIN " + LONG + b" {5+}\r\nabcde\r\n"], r"a1 BAD \[TOOBIG\]", "`a1 BAD [TOOBIG] ...`; the literal's data is skipped"),
    C("imap_literal_too_big", "imap", "`{200000}` (sync literal above 100 KiB)", [b"a1 LOGIN {200000}\r\n"],
      r"a1 BAD \[TOOBIG\] literal too big", "`a1 BAD [TOOBIG] literal too big`, no continuation"),
    C("imap_literal_plus_too_big", "imap", "`{200000+}` (LITERAL+ above 100 KiB)", [b"a1 LOGIN {200000+}\r\n"],
      r"\* BYE \[ALERT\] literal too big", "`* BYE [ALERT] literal too big` (its data cannot be skipped)", "closed"),
    C("imap_literal_20_digits", "imap", "`{99999999999999999999}`", [b"a1 LOGIN {99999999999999999999}\r\n"],
      r"a1 BAD \[TOOBIG\] literal too big", "`a1 BAD [TOOBIG] literal too big`"),
    C("imap_literal_not_a_number", "imap", "`{x}`", [b"a1 SELECT {x}\r\n"], r"a1 BAD expected string", "`a1 BAD expected string (near '{x}')`"),
    C("imap_literal_short", "imap-auth", "a literal announced longer than its data, then the next command",
      [b"a1 SELECT {10}\r\n", b"inbox\r\nx NOOP\r\n"], r"a1 BAD unexpected data",
      "`+`; the next command's first bytes complete the literal: `a1 BAD unexpected data ...`"),
    C("imap_append_literal_junk", "imap-auth", "APPEND literal followed by junk",
      [b"a1 APPEND inbox {3+}\r\nabc junk\r\n"], r"a1 BAD expected literal with message", "`a1 BAD ...`, nothing stored"),
    C("imap_append_mailbox_literal_too_big", "imap-auth", "APPEND with a 200 KB mailbox-name literal",
      [b"a1 APPEND {200000}\r\n"], r"a1 BAD \[TOOBIG\] literal too big", "`a1 BAD [TOOBIG] literal too big`"),
    C("imap_append_too_big", "imap-auth", "APPEND announcing 2 GB", [b"a1 APPEND inbox {2000000000}\r\n"],
      r"a1 BAD \[TOOBIG\] literal too big", "`a1 BAD [TOOBIG] literal too big`"),
    C("imap_nul_in_line", "imap", "NUL in a command line", [b"a1 NOOP\x00\r\n"], r"a1 BAD unexpected data at end of command", "`a1 BAD unexpected data at end of command (near '\\x00')`"),
    C("imap_bare_lf", "imap", "a bare LF inside a line", [b"a1 NOOP\na2 NOOP\r\n"], r"a1 BAD unexpected data at end of command", "`a1 BAD ...` (one line until CRLF)"),
    C("imap_bare_cr", "imap", "a bare CR inside a line", [b"a1 NO\rOP\r\n"], r"a1 BAD NO unrecognized syntax/command", "`a1 BAD NO unrecognized syntax/command: unknown command \"NO\"`"),
    C("imap_empty_line", "imap", "an empty line", [b"\r\n"], r"\* BAD expected tag", "`* BAD expected tag (at end of line)`"),
    C("imap_tag_only", "imap", "a tag without command", [b"a1\r\n"], r"a1 BAD expected space", "`a1 BAD expected space (at end of line)`"),
    C("imap_unknown_command", "imap", "`a1 FROBNICATE`", [b"a1 FROBNICATE\r\n"], r"a1 BAD FROBNICATE unrecognized syntax/command: unknown command", "`a1 BAD ... unknown command`"),
    C("imap_not_imap_first_line", "imap-first", "an HTTP request as first line", [b"GET / HTTP/1.1\r\n\r\n"],
      r"\* BYE please try again speaking imap", "`* BYE please try again speaking imap`", "closed"),
    C("imap_wrong_state", "imap-auth", "FETCH without a selected mailbox", [b"a1 FETCH 1 FLAGS\r\n"],
      r"a1 NO FETCH not allowed in this connection state", "`a1 NO FETCH not allowed in this connection state`"),
    C("imap_invalid_utf8_mailbox", "imap-auth", "SELECT of a mailbox name that is not UTF-8", [b'a1 SELECT "\xff\xfe"\r\n'],
      r"a1 BAD .*utf-8", "`a1 BAD invalid utf-8 ...`"),
    C("imap_invalid_mutf7", "imap-auth", "CREATE `&Jjo` (broken modified UTF-7)", [b'a1 CREATE "&Jjo"\r\n'],
      r"a1 NO \[CANNOT\]", "`a1 NO [CANNOT] ...`"),
    C("imap_mailbox_control_char", "imap-auth", "CREATE a name with a control character", [b'a1 CREATE "a\x01b"\r\n'],
      r"a1 NO \[CANNOT\] ", "`a1 NO [CANNOT] ...`"),
    C("imap_huge_seq_number", "imap-sel", "FETCH 99999999999999999999", [b"a1 FETCH 99999999999999999999 FLAGS\r\n"],
      r"a1 BAD number too large", "`a1 BAD number too large ...`"),
    C("imap_uid_out_of_range", "imap-sel", "UID FETCH 1:4294967296", [b"a1 UID FETCH 1:4294967296 FLAGS\r\n"],
      r"a1 BAD number too large", "`a1 BAD number too large ...` (UIDs are 32-bit)"),
    C("imap_huge_search_size", "imap-sel", "SEARCH LARGER 99999999999999999999", [b"a1 SEARCH LARGER 99999999999999999999\r\n"],
      r"a1 BAD number too large", "`a1 BAD number too large ...` (number64)"),
    C("imap_huge_partial", "imap-sel", "FETCH BODY[]<0.99999999999999999999>", [b"a1 FETCH 1 BODY[]<0.99999999999999999999>\r\n"],
      r"a1 BAD number too large", "`a1 BAD number too large ...`"),
    C("imap_huge_section", "imap-sel", "FETCH BODY.PEEK[99999999999999999999]", [b"a1 FETCH 1 BODY.PEEK[99999999999999999999]\r\n"],
      r"a1 BAD number too large", "`a1 BAD number too large ...`"),
    C("imap_deep_search", "imap-sel", "SEARCH nested 5,000 parentheses deep",
      [b"a1 SEARCH " + b"(" * 5000 + b"ALL" + b")" * 5000 + b"\r\n"], r"a1 BAD .*nested too deeply", "`a1 BAD search key nested too deeply`"),
    C("imap_unbalanced_parens", "imap-sel", "FETCH with an unclosed list", [b"a1 FETCH 1 (FLAGS UID\r\n"], r"a1 BAD expected space", "`a1 BAD expected space (at end of line)`"),
    C("imap_bad_charset", "imap-sel", "SEARCH CHARSET KOI9", [b"a1 SEARCH CHARSET KOI9 ALL\r\n"],
      r"a1 NO \[BADCHARSET", "`a1 NO [BADCHARSET (UTF-8 US-ASCII)] ...`"),
    C("imap_bad_flag", "imap-sel", "STORE with `\\Bogus`", [b"a1 STORE 1 +FLAGS (\\Bogus)\r\n"], r"a1 BAD unknown system flag", "`a1 BAD unknown system flag \\Bogus`"),
    C("imap_bad_date", "imap-auth", "APPEND with 31 February", [b'a1 APPEND inbox "31-Feb-2024 10:00:00 +0000" {3+}\r\nabc\r\n'],
      r"a1 BAD bad date-time", "`a1 BAD ... bad date-time`"),
    C("imap_auth_bad_base64", "imap", "AUTHENTICATE PLAIN with an initial response that is not base64",
      [b"a1 AUTHENTICATE PLAIN !!!!\r\n"], r"a1 BAD .*base64", "`a1 BAD expected base64 initial response ...`"),
    C("imap_auth_bad_base64_continuation", "imap", "AUTHENTICATE PLAIN, then a response that is not base64",
      [b"a1 AUTHENTICATE PLAIN\r\n", b"!!!\r\n"], r"a1 BAD invalid base64", "`+` then `a1 BAD invalid base64 in authentication response`"),
    C("imap_auth_abort", "imap", "AUTHENTICATE PLAIN, then `*`", [b"a1 AUTHENTICATE PLAIN\r\n", b"*\r\n"],
      r"a1 BAD authenticate aborted", "`a1 BAD authenticate aborted by client`"),
    C("imap_auth_plain_nul_fields", "imap", "AUTHENTICATE PLAIN of three NULs", [b"a1 AUTHENTICATE PLAIN AAAA\r\n"],
      r"a1 BAD auth data should have 3 nul-separated tokens", "`a1 BAD auth data should have 3 nul-separated tokens, got 4`"),
    C("imap_login_nul_password", "imap", "LOGIN with a NUL in the password literal", [b"a1 LOGIN mox@localhost {3+}\r\na\x00b\r\n"],
      r"a1 BAD NUL not allowed \(in credentials, not shown\)", "`a1 BAD NUL not allowed (in credentials, not shown)`"),
    C("imap_idle_garbage", "imap-auth", "IDLE, then a line that is not DONE", [b"a1 IDLE\r\n", b"garbage\r\n"],
      r"a1 BAD expected DONE to end IDLE", "`+ waiting`, then `a1 BAD expected DONE to end IDLE`"),
    C("imap_slowloris", "imap", "half a command, then nothing (read timeout lowered to 1 s)", [b"a1 NO"],
      r"\* BYE inactive, closing connection", "`* BYE inactive, closing connection` after the read timeout", "closed"),
    C("imaps_truncated_tls", "imaps", "a ClientHello cut off, then close", [TLS_HELLO_START], r"", "connection closed, nothing logged", "closed"),
    C("imaps_not_tls", "imaps", "plain text on the TLS port", [b"a1 NOOP\r\n"], r"", "connection closed", "closed"),
    # --- SMTP -----------------------------------------------------------------------------
    C("smtp_line_too_long", "smtp", "a 5,000-byte command line", [b"NOOP " + b"x" * 5000 + b"\r\n"],
      r"500 5\.5\.0 line too long", "`500 5.5.0 line too long ...`", "closed"),
    C("smtp_nul_in_line", "smtp", "NUL in a command", [b"NOOP\x00\r\n"], r"500 5\.5\.2 bad syntax: NUL or bare CR in command line", "`500 5.5.2 bad syntax: NUL or bare CR in command line`"),
    C("smtp_bare_cr", "smtp", "a bare CR inside a command", [b"NO\rOP\r\n"], r"500 5\.5\.2 bad syntax: NUL or bare CR in command line", "`500 5.5.2 bad syntax: NUL or bare CR in command line`"),
    C("smtp_unknown_command", "smtp", "`FROBNICATE`", [b"FROBNICATE\r\n"], r"500 5\.5\.1 unknown command", "`500 5.5.1 unknown command`"),
    C("smtp_not_smtp_first_line", "smtp-first", "an HTTP request as first line", [b"GET / HTTP/1.1\r\n"],
      r"500 5\.5\.2 please try again speaking smtp", "`500 5.5.2 please try again speaking smtp`", "closed"),
    C("smtp_tls_on_plain_port", "smtp-first", "a TLS ClientHello on port 1025", [TLS_HELLO_START],
      r"500 5\.5\.2 please try again speaking smtp", "`500 5.5.2 please try again speaking smtp`", "closed"),
    C("smtp_rcpt_before_mail", "smtp", "RCPT without MAIL", [b"RCPT TO:<mox@localhost>\r\n"], r"503 5\.5\.1 missing MAIL FROM", "`503 5.5.1 missing MAIL FROM`"),
    C("smtp_data_before_rcpt", "smtp", "DATA without RCPT", [b"MAIL FROM:<a@example.org>\r\n", b"DATA\r\n"], r"503 5\.5\.1 missing RCPT TO", "`503 5.5.1 missing RCPT TO`"),
    C("smtp_invalid_utf8_address", "smtp", "MAIL FROM with bytes that are not UTF-8", [b"MAIL FROM:<\xff@example.org>\r\n"],
      r"501 5\.5\.2 bad syntax: invalid utf-8", "`501 5.5.2 bad syntax: invalid utf-8`"),
    C("smtp_mail_syntax", "smtp", "`MAIL FROM:a@b` (no brackets)", [b"MAIL FROM:a@b\r\n"], r"501 5\.5\.2 bad syntax: expected \'<\'", "`501 5.5.2 bad syntax: expected '<'`"),
    C("smtp_unknown_mail_param", "smtp", "MAIL FROM with an unknown parameter", [b"MAIL FROM:<a@example.org> FOO=BAR\r\n"],
      r"555 5\.3\.3 unrecognized parameter", "`555 5.3.3 unrecognized parameter \"FOO\"` (as mox)"),
    C("smtp_huge_size", "smtp", "SIZE=99999999999999999999", [b"MAIL FROM:<a@example.org> SIZE=99999999999999999999\r\n"],
      r"552 5\.3\.4 message too large", "`552 5.3.4 message too large`"),
    C("smtp_bad_notify", "smtp", "RCPT NOTIFY=BOGUS", [b"MAIL FROM:<a@example.org>\r\n", b"RCPT TO:<mox@localhost> NOTIFY=BOGUS\r\n"],
      r"501 5\.5\.4 bad syntax: invalid NOTIFY", "`501 5.5.4 bad syntax: invalid NOTIFY value`"),
    C("smtp_bad_orcpt_xtext", "smtp", "RCPT ORCPT with a broken xtext escape",
      [b"MAIL FROM:<a@example.org>\r\n", b"RCPT TO:<mox@localhost> ORCPT=rfc822;a+ZZ\r\n"], r"501 5\.5\.4 .*xtext", "`501 5.5.4 bad syntax: invalid xtext escape ...`"),
    C("smtp_bdat_not_a_number", "smtp", "`BDAT x`", [b"BDAT x\r\n"], r"501 5\.5\.2 bad syntax: expected BDAT size",
      "`501 5.5.2 bad syntax: expected BDAT size [LAST]` (its data cannot be found)", "closed"),
    C("smtp_bdat_too_big", "smtp", "BDAT announcing a chunk far over the maximum message size",
      [b"MAIL FROM:<a@example.org>\r\n", b"RCPT TO:<mox@localhost>\r\n", b"BDAT 999999999999999999\r\n"],
      r"552 5\.3\.4 message too large", "`552 5.3.4 message too large` at once (not after reading it all)", "closed"),
    C("smtp_data_bare_lf", "smtp", "message data with a bare LF",
      [b"MAIL FROM:<a@example.org>\r\nRCPT TO:<mox@localhost>\r\nDATA\r\n", b"Subject: x\n\nbody\r\n.\r\n"],
      r"500 5\.5\.2 invalid bare", "`500 5.5.2 invalid bare \\r or \\n, may be smtp smuggling`"),
    C("smtp_data_invalid_utf8_header", "smtp", "message header that is not UTF-8",
      [b"MAIL FROM:<a@example.org>\r\nRCPT TO:<mox@localhost>\r\nDATA\r\n", b"Subject: \xff\r\n\r\nbody\r\n.\r\n"],
      r"554 5\.6\.0 malformed message: header is not valid utf-8", "`554 5.6.0 malformed message: header is not valid utf-8`"),
    C("smtp_data_line_too_long", "smtp", "message line of 2,000 bytes",
      [b"MAIL FROM:<a@example.org>\r\nRCPT TO:<mox@localhost>\r\nDATA\r\n", b"Subject: x\r\n\r\n" + b"y" * 2000 + b"\r\n.\r\n"],
      r"554 5\.6\.0 malformed message: line too long", "`554 5.6.0 malformed message: line too long ...`"),
    C("smtp_too_many_rcpts", "smtp", "1,001 RCPTs (the limit is 1,000)",
      [b"MAIL FROM:<a@example.org>\r\n" + b"RCPT TO:<mox@localhost>\r\n" * 1001], r"452 4\.5\.3 max of 1000 recipients reached", "`452 4.5.3 ...` for the 1,001st"),
    C("smtp_helo_no_domain", "smtp-first", "`HELO` without a domain", [b"HELO\r\n"], r"501 5\.5\.2 bad syntax: expected one domain", "`501 5.5.2 bad syntax: expected one domain or address literal`"),
    C("smtp_auth_bad_base64", "submission", "AUTH PLAIN with an initial response that is not base64", [b"AUTH PLAIN !!!!\r\n"],
      r"501 5\.5\.2 invalid base64", "`501 5.5.2 invalid base64 ...`"),
    C("smtp_auth_bad_base64_continuation", "submission", "AUTH PLAIN, then a response that is not base64",
      [b"AUTH PLAIN\r\n", b"!!!\r\n"], r"501 5\.5\.4 invalid base64", "`334` then `501 5.5.4 invalid base64 in authentication response`"),
    C("smtp_auth_login_bad_base64", "submission", "AUTH LOGIN, then a username that is not base64",
      [b"AUTH LOGIN\r\n", b"!!!\r\n"], r"501 5\.5\.4 invalid base64", "`334 VXNlcm5hbWU6` then `501 5.5.4 ...`"),
    C("smtp_auth_abort", "submission", "AUTH PLAIN, then `*`", [b"AUTH PLAIN\r\n", b"*\r\n"], r"501 5\.5\.0 authentication aborted",
      "`501 5.5.0 authentication aborted`"),
    C("smtp_auth_unknown_mechanism", "submission", "AUTH FOO", [b"AUTH FOO\r\n"], r"504 5\.5\.4 ", "`504 5.5.4 mechanism FOO not supported`"),
    C("smtp_slowloris", "smtp", "half a command, then nothing (idle timeout lowered to 1 s)", [b"NO"],
      r"421 4\.4\.2 idle timeout", "`421 4.4.2 idle timeout`", "closed"),
    C("submissions_truncated_tls", "submissions", "a ClientHello cut off, then close", [TLS_HELLO_START], r"",
      "connection closed, nothing logged", "closed"),
    # --- HTTP -----------------------------------------------------------------------------
    C("http_bad_request_line", "http", "`GARBAGE`", [b"GARBAGE\r\n\r\n"], r"^HTTP/1\.1 400 .*user:badRequest",
      '400 `{"code":"user:badRequest",...}`', "closed"),
    C("http_unsupported_version", "http", "`HTTP/2.0` request line", [b"GET / HTTP/2.0\r\nHost: localhost\r\n\r\n"],
      r"^HTTP/1\.1 505 .*user:badVersion", '505 `{"code":"user:badVersion",...}`', "closed"),
    C("http_nul_in_header", "http", "NUL in a header value", [b"GET / HTTP/1.1\r\nHost: localhost\r\nX: a\x00b\r\n\r\n"],
      r"^HTTP/1\.1 400 .*user:badRequest", "400 JSON", "closed"),
    C("http_header_too_large", "http", "a 70 KiB header", [b"GET / HTTP/1.1\r\nHost: localhost\r\nX: " + LONG + b"\r\n\r\n"],
      r"^HTTP/1\.1 431 .*user:headerTooLarge", '431 `{"code":"user:headerTooLarge",...}`', "closed"),
    C("http_too_many_headers", "http", "150 header fields",
      [b"GET / HTTP/1.1\r\nHost: localhost\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(150)) + b"\r\n"],
      r"^HTTP/1\.1 431 ", "431 JSON", "closed"),
    C("http_bad_chunk", "http", "chunked body with chunk size `zz`",
      [b"POST /api/v1/lint HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"],
      r"^HTTP/1\.1 400 .*illegal chunk header", "400 JSON (illegal chunk header)", "closed"),
    C("http_content_length_nan", "http", "`Content-Length: abc`", [b"POST /api/v1/lint HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n"],
      r"^HTTP/1\.1 400 .*bad Content-Length", "400 JSON (bad Content-Length)", "closed"),
    C("http_conflicting_content_length", "http", "two different Content-Length headers",
      [b"POST /api/v1/lint HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"],
      r"^HTTP/1\.1 400 .*conflicting Content-Length", "400 JSON (conflicting Content-Length headers)", "closed"),
    C("http_body_too_large", "http", "`Content-Length: 99999999999` on the test API",
      [b"POST /api/v1/lint HTTP/1.1\r\nHost: localhost\r\nContent-Length: 99999999999\r\n\r\n"],
      r"^HTTP/1\.1 413 .*user:tooLarge", '413 `{"code":"user:tooLarge",...}` before reading the body', "closed"),
    C("http_invalid_utf8_path", "http", "path `%ff%fe`", [b"GET /api/v1/%ff%fe HTTP/1.1\r\nHost: localhost\r\n\r\n"],
      r"^HTTP/1\.1 400 .*not valid utf-8", "400 JSON (request target is not valid utf-8)", "closed"),
    C("http_bad_percent_escape", "http", "path with `%zz`", [b"GET /api/v1/messages/%zz HTTP/1.1\r\nHost: localhost\r\n\r\n"],
      r"^HTTP/1\.1 400 .*user:badParameter", "400 JSON"),
    C("http_path_traversal", "http", "`/static/common/../../../etc/passwd`",
      [b"GET /static/common/../../../etc/passwd HTTP/1.1\r\nHost: localhost\r\n\r\n"], r"^HTTP/1\.1 404 .*user:notFound", "404 JSON"),
    C("http_bad_host", "http", "`Host: attacker.example` from loopback", [b"GET /api/v1/messages HTTP/1.1\r\nHost: attacker.example\r\n\r\n"],
      r"^HTTP/1\.1 421 .*user:badHost", '421 `{"code":"user:badHost",...}`', "closed"),
    C("http_bad_query_number", "http", "`?limit=abc`", [b"GET /api/v1/messages?limit=abc HTTP/1.1\r\nHost: localhost\r\n\r\n"],
      r"^HTTP/1\.1 400 .*limit: expected an integer", "400 JSON (limit: expected an integer)"),
    C("http_bad_json", "http", "webapi Send with malformed JSON",
      [b"POST /webapi/v0/Send HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic bW94QGxvY2FsaG9zdDptb3htb3htb3g=\r\n"
       b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 12\r\n\r\nrequest={bad"],
      r'^HTTP/1\.1 400 .*"Code":"protocol","Message":"malformed JSON', '400 `{"Code":"protocol","Message":"malformed JSON ..."}`'),
    C("http_bad_basic_auth", "http", "`Authorization: Basic !!!`",
      [b"POST /webapi/v0/Send HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic !!!\r\nContent-Length: 0\r\n\r\n"],
      r"^HTTP/1\.1 401 .*malformed http basic authentication", "401 JSON (malformed http basic authentication)"),
    C("http_method_not_allowed", "http", "`DELETE /readyz`", [b"DELETE /readyz HTTP/1.1\r\nHost: localhost\r\n\r\n"],
      r"^HTTP/1\.1 405 ", "405 JSON"),
    C("http_slowloris", "http", "half a request head, then nothing (head timeout lowered to 1 s)", [b"GET /readyz HTTP/1.1\r\nHo"],
      r"^HTTP/1\.1 408 ", "408 JSON, then close", "closed"),
    C("https_truncated_tls", "https", "a ClientHello cut off, then close", [TLS_HELLO_START], r"", "connection closed, nothing logged", "closed"),
    # --- control channel ------------------------------------------------------------------
    C("ctl_unknown_command", "ctl", "`frobnicate`", [b"frobnicate\n"], r"^unknown command 'frobnicate'", "`unknown command 'frobnicate'`"),
    C("ctl_invalid_utf8", "ctl", "a command that is not UTF-8", [b"\xff\xfe\n"], r"^unknown command ", "`unknown command '\\ufffd\\ufffd'`"),
    C("ctl_nul", "ctl", "NUL in a command", [b"stop\x00\n"], r"^unknown command 'stop\\x00'", "`unknown command 'stop\\x00'` (the server keeps running)"),
    C("ctl_crlf", "ctl", "`loglevels` ending in CRLF", [b"loglevels\r\n"], r"^unknown command 'loglevels\\r'", "`unknown command 'loglevels\\r'`"),
    C("ctl_line_too_long", "ctl", "a 1.1 MiB line without newline", [b"x" * (1100 * 1024)], r"^line too long", "`line too long`", "closed"),
    C("ctl_bad_log_level", "ctl", "setloglevels with level `loud`", [b"setloglevels\nimapserver\nloud\n"], r"unknown log level", "`unknown log level 'loud'`"),
    C("ctl_bad_account_name", "ctl", "accountadd `../x`", [b"accountadd\n../x\nx@localhost\n"], r"^invalid account name '\.\./x'", "`invalid account name '../x': ...`, no account created"),
    C("ctl_bad_address", "ctl", "addressadd `not an address`", [b"addressadd\nnot an address\nmox\n"], r"^invalid address 'not an address'", "`invalid address 'not an address': need localpart@domain`"),
    C("ctl_unknown_account_password", "ctl", "setaccountpassword for an unknown account", [b"setaccountpassword\nnobody\nsecret\n"],
      r"^unknown account 'nobody'", "`unknown account 'nobody'`"),
    C("ctl_bad_queue_filter", "ctl", "queuedrop with a filter that is not JSON", [b"queuedrop\nnot json\n"], r"^bad filter json",
      "`bad filter json`"),
    C("ctl_bad_stream_chunk", "ctl", "tlspubkeyadd with a stream chunk size that is not a number",
      [b"tlspubkeyadd\nmox@localhost\nkey\nfalse\n", b"abc\n"], r"^bad chunk size 'abc'", "`bad chunk size 'abc'`", "closed"),
    C("ctl_bad_certificate", "ctl", "tlspubkeyadd with a stream that is no certificate",
      [b"tlspubkeyadd\nmox@localhost\nkey\nfalse\n5\nhello", b"0\n"], r"^ok\nparsing certificate: ", "`ok` (stream taken), then `parsing certificate: ...`"),
    C("ctl_eof_mid_command", "ctl", "setloglevels, then close before its parameters", [b"setloglevels\n"], r"", "connection closed quietly", "closed"),
]


# ----------------------------------------------------------------------------------------------


class Wire:
    """A raw connection: send bytes, read until a pattern shows up or the peer closes."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.settimeout(TIMEOUT)
        self.buf = b""
        self.eof = False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _recv(self, timeout: float) -> bool:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def text(self) -> str:
        return self.buf.decode("utf-8", "replace")

    def read_until(self, pattern: str) -> str:
        rx = re.compile(pattern, re.M | re.S)
        deadline = time.monotonic() + TIMEOUT
        while not rx.search(self.text()):
            if self.eof or time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} in {self.text()[-2000:]!r}")
            self._recv(max(0.01, deadline - time.monotonic()))
        got = self.text()
        self.buf = b""
        return got

    def wait_closed(self) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not self.eof:
            assert time.monotonic() < deadline, f"connection not closed; got {self.text()[-500:]!r}"
            self._recv(max(0.01, deadline - time.monotonic()))

    def close(self) -> None:
        self.sock.close()


def connect(srv, proto: str) -> Wire:
    port_name = {"imap": "imap", "imap-first": "imap", "imap-auth": "imap", "imap-sel": "imap", "imaps": "imaps",
                 "smtp": "smtp", "smtp-first": "smtp", "submission": "submission", "submissions": "submissions",
                 "http": "http", "https": "https"}  # fmt: skip
    if proto == "ctl":
        import json

        from mox import ctl

        _, json_path = ctl.ctl_paths(Path(srv.dir))
        info = json.loads(json_path.read_text(encoding="utf-8"))
        if info["transport"] == "unix":
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # type: ignore[attr-defined]
            s.connect(info["path"])
        else:  # Windows: 127.0.0.1 with the token from ctl.json
            s = socket.create_connection(("127.0.0.1", info["port"]), timeout=TIMEOUT)
        w = Wire(s)
        w.read_until(r"^ctlv0\n")
        if info["transport"] != "unix":
            w.send(f"token {info['token']}\n".encode())
            w.read_until(r"^ok\n")
        return w
    w = Wire(socket.create_connection(("127.0.0.1", srv.ports[port_name[proto]]), timeout=TIMEOUT))
    if proto.startswith("imap") and proto != "imaps":
        w.read_until(r"^\* OK ")
        if proto != "imap-first":
            w.send(b"p0 NOOP\r\n")  # not the first command: the first-line rules are past
            w.read_until(r"^p0 OK")
        if proto in ("imap-auth", "imap-sel"):
            w.send(LOGIN)
            w.read_until(r"^p1 OK")
        if proto == "imap-sel":
            w.send(b"p2 SELECT inbox\r\n")
            w.read_until(r"^p2 OK")
    elif proto in ("smtp", "smtp-first", "submission"):
        w.read_until(r"^220 ")
        if proto != "smtp-first":
            w.send(b"EHLO client.example\r\n")
            w.read_until(r"^250 ")
    return w


def still_works(w: Wire, proto: str) -> None:
    if proto.startswith("imap"):
        w.send(b"zz NOOP\r\n")
        w.read_until(r"^zz OK")
    elif proto in ("smtp", "smtp-first", "submission"):
        w.send(b"RSET\r\n")
        w.read_until(r"^250 ")
    elif proto == "http":
        w.send(HTTP_OK)
        w.read_until(r"^HTTP/1\.1 200 .*\{\"ready\":true\}")
    elif proto == "ctl":
        w.send(b"ping\n")
        w.read_until(r"^unknown command 'ping'\n")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    """localserve with a few stored messages, its log captured."""
    import msgspec

    from mox import mlog
    from mox.testing import LocalServer

    buf = io.StringIO()
    mlog.set_output(buf)
    try:
        with LocalServer(tmp_path_factory.mktemp("bad") / "data") as s:
            s.logs = buf
            acc = s.store.open_account("mox")
            try:
                inbox = acc.mailbox("Inbox").id
                for i in range(3):
                    m = acc.deliver_sync("Inbox", f"Subject: canary {i}\r\nFrom: a@example.org\r\n\r\nkeep me {i}\r\n".encode())
                acc.store_flags_sync(inbox, [m.uid], "add", [r"\Flagged"])
            finally:
                acc.close()
            s.canary = stored(s)
            s.ctx.config = msgspec.structs.replace(s.ctx.config, smtp_idle_timeout=1.0)
            yield s
    finally:
        mlog.set_output(sys.stderr)


def stored(srv) -> list[tuple[str, int, tuple[str, ...], bytes]]:
    """Every account's messages: (account, uid, flags, bytes)."""
    out = []
    for name in srv.store.account_names():
        acc = srv.store.open_account(name)
        try:
            for mb in acc.mailboxes():
                for m in acc.messages(mb.id):
                    out.append((f"{name}/{mb.name}", m.uid, m.flags, acc.read_message(m)))
        finally:
            acc.close()
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(srv, case: Case, monkeypatch):
    from mox.imap import server as imapserver
    from mox.web import http as webhttp

    monkeypatch.setitem(imapserver.TIMEOUTS, "read_preauth", 1.0)
    monkeypatch.setattr(webhttp, "HEAD_TIMEOUT", 1.0)
    logged = len(srv.logs.getvalue())
    w = connect(srv, case.proto)
    try:
        for chunk in case.send:
            try:
                w.send(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break  # closed early: the expected answer is already there (or not)
            if case.slow:
                time.sleep(case.slow)
        if case.proto in ("imaps", "submissions", "https"):
            w.sock.shutdown(socket.SHUT_WR)  # a client that gives up in the middle of the handshake
        if case.name == "ctl_eof_mid_command":
            w.sock.shutdown(socket.SHUT_WR)
        if case.expect:
            w.read_until(case.expect)
        if case.then == "closed":
            w.wait_closed()
        else:
            still_works(w, case.proto)
    finally:
        w.close()
    # The stored mail is as it was (the canary messages, and no others), nothing logged at error.
    assert stored(srv) == srv.canary
    time.sleep(0.05)  # let the server finish the connection's log lines
    log = srv.logs.getvalue()[logged:]
    errors = [ln for ln in log.splitlines() if ln.startswith(("error:", "fatal:")) or "Traceback" in ln]
    assert not errors, "\n".join(errors)


def test_catalogue_size():
    protos = {c.proto.split("-")[0].rstrip("s") if c.proto not in ("submission", "submissions") else "smtp" for c in CASES}
    assert len(CASES) >= 60 and {"imap", "smtp", "http", "ctl"} <= protos
    assert len({c.name for c in CASES}) == len(CASES)


def render_table() -> str:
    lines = [
        "# Bad inputs: what mox answers",
        "",
        "Generated from `CASES` in `tests/test_bad_inputs.py` (which checks this file is current); every",
        "row is a test run against a real localserve: the answer, then the connection going on (or",
        "closed where the protocol needs it), the stored mail unchanged and no error in the log.",
        "",
        "| Case | Where | Input | Expected answer | After | Test |",
        "|---|---|---|---|---|---|",
    ]
    where = {"imap": "IMAP", "imap-first": "IMAP, first line", "imap-auth": "IMAP, logged in", "imap-sel": "IMAP, selected",
             "imaps": "IMAPS (993-style)", "smtp": "SMTP 1025", "smtp-first": "SMTP 1025, first line",
             "submission": "submission", "submissions": "submissions (TLS)", "http": "HTTP 1080", "https": "HTTPS",
             "ctl": "control channel"}  # fmt: skip
    for c in CASES:
        cells = [c.name.replace("_", " "), where[c.proto], c.input, c.answer, c.then, f"`test_bad_input[{c.name}]`"]
        lines.append("| " + " | ".join(x.replace("|", "\\|") for x in cells) + " |")
    return "\n".join(lines) + "\n"


def test_catalogue_documented():
    assert DOC.read_text(encoding="utf-8") == render_table(), (
        "docs/bad-inputs.md is out of date: run .venv/bin/python tests/test_bad_inputs.py"
    )


if __name__ == "__main__":
    DOC.write_text(render_table(), encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}: {len(CASES)} cases")
