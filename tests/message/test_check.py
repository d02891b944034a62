"""check_message: the pedantic checks SMTP applies (554 5.6.0 malformed message: ...)."""

import pytest

from mox.message import REASON_NO_BODY, MalformedMessage, check_message

GOOD = [
    b"Subject: x\r\n\r\nbody\r\n",
    b"Subject: x\r\n\r\n",  # empty body, but separated
    b"Subject: \xe2\x82\xac\r\n\r\n8-bit utf-8 header\r\n",
    (
        b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\npreamble\r\n"
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nx\r\n"
        b"--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\ny\r\n"
        b"--b\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=a\r\n"
        b"\r\naGVsbG8g\r\nd29ybGQ=\r\n"
        b"--b--\r\nepilogue\r\n"
    ),
    b"Subject: x\r\n\r\n" + b"a" * 998 + b"\r\n",
]


@pytest.mark.parametrize("data", GOOD)
def test_accept(data):
    check_message(data)


BAD = [
    (b"Subject: x\r\nno separator", "malformed header line b'no separator'"),
    (b"Subject: x\r\n", REASON_NO_BODY),
    (b"Subject: x\r\n\r\nbare\rcr\r\n", "invalid bare carriage return at offset 18"),
    (b"Subject: x\n\nlf only\n", "invalid bare line feed at offset 10"),
    (b"Subject: x\r\n\r\n" + b"a" * 1001 + b"\r\n", "line too long at offset 14"),
    (b"Subject: \xff\r\n\r\nx\r\n", "header is not valid utf-8"),
    (b"Content-Type: text\r\n\r\nx", "bad content-type: invalid content-type 'text'"),
    (b"Content-Type: text/plain; charset=\"x\r\n\r\nx", "bad content-type: unterminated quoted string"),
    (b"Content-Type: text/plain; a b\r\n\r\nx", "bad content-type: malformed parameter"),
    (b"Content-Disposition: ;x=y\r\n\r\nx", "bad content-disposition: invalid content-disposition ';x=y'"),
    (b"Content-Type: multipart/mixed\r\n\r\nx", "missing/empty boundary content-type parameter"),
    (b"Content-Type: multipart/mixed; boundary=b\r\n\r\nx\r\n", "multipart without boundary lines"),
    (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b--\r\n",
        "first boundary cannot be finishing boundary",
    ),
    (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n",
        "eof without closing boundary",
    ),
    (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n--b--\r\n",
        "part header not ended by empty line in part 1",
    ),
    (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: base64\r\n"
        b"\r\n!!!!\r\n--b--\r\n",
        "invalid base64 content in part 1: Only base64 data is allowed",
    ),
]


@pytest.mark.parametrize(("data", "reason"), BAD)
def test_reject(data, reason):
    with pytest.raises(MalformedMessage) as exc:
        check_message(data)
    assert exc.value.reason == reason


def test_smtp_text():
    assert MalformedMessage(REASON_NO_BODY).smtp_text == "message requires both header and body section"
    assert MalformedMessage("eof without closing boundary").smtp_text == (
        "malformed message: eof without closing boundary"
    )
