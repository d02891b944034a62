"""Message lint reports (mox.ci.lint): POST /api/v1/lint and per received message."""

from __future__ import annotations

from mox.testing import MoxServer

from .conftest import deliver, message, smtp


def _ids(report: dict) -> list[tuple[str, str]]:
    return [(f["id"], f["severity"]) for f in report["findings"]]


def test_clean_message(srv: MoxServer) -> None:
    r = srv.api("POST", "lint", message())
    assert r == {"ok": True, "errors": 0, "warnings": 0, "findings": []}


def test_line_endings_lengths_and_headers(srv: MoxServer) -> None:
    data = b"From: a@example.org\nSubject: x\nSubject: y\n\n" + b"x" * 1000 + b"\r\nbare\rcr\r\n"
    r = srv.api("POST", "lint", data)
    assert _ids(r) == [
        ("bare-lf", "error"),
        ("bare-cr", "error"),
        ("line-too-long", "error"),
        ("missing-date", "error"),
        ("missing-message-id", "warning"),
        ("multiple-subject", "error"),
        ("malformed-mime", "error"),
    ]
    assert r["findings"][0]["message"] == "4 bare LF line ending(s) (without CR); SMTP requires CRLF"
    assert r["findings"][2]["message"] == "1 line(s) over 998 octets, first at line 5"


def test_8bit_and_smtputf8(srv: MoxServer) -> None:
    data = message(extra="Content-Type: text/plain; charset=utf-8\r\n").replace(b"hello", "héllo".encode())
    assert _ids(srv.api("POST", "lint", data)) == [("8bit", "info")]
    assert _ids(srv.api("POST", "lint?8bitmime=0&smtputf8=0", data)) == [("8bit-without-8bitmime", "error")]
    assert _ids(srv.api("POST", "lint?8bitmime=1", data)) == []
    intl = message(to="rené@example.org")
    assert _ids(srv.api("POST", "lint?8bitmime=1&smtputf8=0", intl)) == [("needs-smtputf8", "error")]
    assert _ids(srv.api("POST", "lint?8bitmime=1&smtputf8=1", intl)) == [("needs-smtputf8", "info")]


def test_malformed_mime(srv: MoxServer) -> None:
    data = message(extra='MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n')
    r = srv.api("POST", "lint", data)
    assert [f["id"] for f in r["findings"]] == ["malformed-mime"]
    assert r["findings"][0]["message"].startswith("malformed message: ")


def test_list_unsubscribe_one_click(srv: MoxServer) -> None:
    good = "List-Unsubscribe: <https://example.org/u/1>, <mailto:u@example.org>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    signed = good + "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=s; h=from:list-unsubscribe:list-unsubscribe-post; bh=x; b=y\r\n"
    assert _ids(srv.api("POST", "lint", message(extra=signed))) == []
    assert _ids(srv.api("POST", "lint", message(extra=good))) == [("one-click-not-signed", "warning")]
    http_only = "List-Unsubscribe: <http://example.org/u>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    assert _ids(srv.api("POST", "lint", message(extra=http_only))) == [
        ("one-click-needs-https", "error"),
        ("one-click-not-signed", "warning"),
    ]
    assert _ids(srv.api("POST", "lint", message(extra="List-Unsubscribe-Post: yes\r\n"))) == [
        ("one-click-without-list-unsubscribe", "error"),
        ("one-click-post-value", "error"),
        ("one-click-not-signed", "warning"),
    ]
    assert _ids(srv.api("POST", "lint", message(extra="List-Unsubscribe: https://x\r\n"))) == [("list-unsubscribe-syntax", "error")]
    assert _ids(srv.api("POST", "lint", message(extra="List-Unsubscribe: <https://x.example/u>\r\n"))) == [("one-click-missing", "info")]


def test_received_message_lint_uses_the_smtp_transaction(srv: MoxServer) -> None:
    # Port 25 accepts 8-bit data without BODY=8BITMIME (mox is lenient there); lint says so.
    data = message("lint@example.org", "eightbit").replace(b"hello", "grüße".encode())
    c = smtp(srv)
    assert c.cmd("MAIL FROM:<s@example.org>") == "250 2.1.0 looking good"
    assert c.cmd("RCPT TO:<lint@example.org>") == "250 2.1.0 now on the list"
    assert c.cmd("DATA") == "354 see you at the bare dot"
    c.sock.sendall(data + b".\r\n")
    assert c.reply() == "250 2.2.0 it is done"
    c.close()
    deliver(srv, ["lint@example.org"], message("lint@example.org", "plain"))
    by_subject = {m["subject"]: m["id"] for m in srv.address_inbox("lint@example.org").messages()}
    r = srv.lint(by_subject["eightbit"])
    assert _ids(r) == [("8bit-without-8bitmime", "error")]
    assert r["transcript"] is not None
    r = srv.lint(by_subject["plain"])
    assert r["ok"] is True and r["findings"] == []
