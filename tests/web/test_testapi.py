"""The /api/v1 test API over real sockets: list, search, get, raw, delete, and the long-poll wait."""

from __future__ import annotations

import smtplib
import threading
import time
from typing import Any

import pytest

from mox.testing import LocalServer
from mox.web.testapi_extract import find_codes, find_links
from tests.web.conftest import Client, smtp_deliver, wait_one


def message(to: str, subject: str, body: str = "hello", frm: str = "app@example.org", extra: str = "") -> bytes:
    return (f"From: App <{frm}>\r\nTo: {to}\r\nSubject: {subject}\r\n{extra}\r\n{body}\r\n").encode()


def subjects(got: dict) -> list[str]:
    return [m["subject"] for m in got["messages"]]


def test_list_search_paging(client, server):
    c = client()
    for i in range(5):
        smtp_deliver(server, [f"list-{i % 2}@test.example"], message(f"list-{i % 2}@test.example", f"list {i}"))
    wait_one(c, "to=list-0@test.example&subject=list%204")

    got = c.get("/api/v1/messages?to=LIST-0@test.example").json()
    assert (got["total"], got["offset"], got["limit"]) == (3, 0, 50)
    assert subjects(got) == ["list 4", "list 2", "list 0"]  # newest first
    summary = got["messages"][0]
    assert set(summary) == {"id", "mailbox", "received", "from", "to", "cc", "subject", "size", "message_id"}
    assert (summary["mailbox"], summary["from"], summary["to"]) == ("Inbox", "app@example.org", ["list-0@test.example"])

    got = c.get("/api/v1/messages?to=list-0@test.example&limit=2&offset=1").json()
    assert (got["total"], subjects(got)) == (3, ["list 2", "list 0"])
    got = c.get("/api/v1/messages?to=list-0@test.example&offset=10").json()
    assert (got["total"], got["messages"]) == (3, [])

    # Exact recipient match: no substring matches.
    assert c.get("/api/v1/messages?to=list-0@test.exampl").json()["total"] == 0
    assert c.get("/api/v1/messages?to=ist-0@test.example").json()["total"] == 0
    # Subject: case-insensitive substring; from: exact.
    assert subjects(c.get("/api/v1/messages?subject=LIST%203").json()) == ["list 3"]
    got = c.get("/api/v1/messages?from=app@example.org&to=list-1@test.example").json()
    assert subjects(got) == ["list 3", "list 1"]
    assert c.get("/api/v1/messages?from=app@example.co&to=list-1@test.example").json()["total"] == 0
    # since: unix seconds or RFC 3339.
    future = time.time() + 3600
    assert c.get(f"/api/v1/messages?to=list-1@test.example&since={future}").json()["total"] == 0
    assert c.get("/api/v1/messages?to=list-1@test.example&since=2000-01-01T00:00:00Z").json()["total"] == 2


def test_bad_parameters(client):
    c = client()
    r = c.get("/api/v1/messages?limit=abc")
    assert (r.status, r.json()) == (400, {"code": "user:badParameter", "message": "limit: expected an integer, got 'abc'"})
    r = c.get("/api/v1/messages?limit=0")
    assert (r.status, r.json()) == (400, {"code": "user:badParameter", "message": "limit: must be between 1 and 1000"})
    r = c.get("/api/v1/messages?since=yesterday")
    assert r.status == 400
    assert r.json()["message"] == "since: expected unix seconds or RFC 3339 time, got 'yesterday'"
    r = c.get("/api/v1/wait?timeout=-1")
    assert (r.status, r.json()) == (400, {"code": "user:badParameter", "message": "timeout: must be between 0 and 300 seconds"})
    r = c.get("/api/v1/messages/abc")
    assert (r.status, r.json()) == (400, {"code": "user:badParameter", "message": "message id must be an integer, got 'abc'"})
    r = c.get("/api/v1/messages/99999999")
    assert (r.status, r.json()) == (404, {"code": "user:notFound", "message": "message 99999999 not found"})
    r = c.get("/api/v1/nothing")
    assert r.status == 404


HTML_MAIL = (
    b"From: Shop <noreply@shop.example>\r\n"
    b"To: get@test.example\r\n"
    b"Subject: Confirm your account\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="m"\r\n'
    b"\r\n"
    b"--m\r\n"
    b'Content-Type: multipart/alternative; boundary="a"\r\n'
    b"\r\n"
    b"--a\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Your verification code: 482913\r\n"
    b"Order 20240115 placed on 2024-01-15, call 555-1234.\r\n"
    b"Confirm at https://shop.example/confirm?t=abc.\r\n"
    b"--a\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"\r\n"
    b'<p>Your OTP is <b>7731</b>. <a href="https://shop.example/confirm?t=abc&amp;x=1">confirm</a></p>\r\n'
    b"--a--\r\n"
    b"--m\r\n"
    b"Content-Type: image/png\r\n"
    b'Content-Disposition: attachment; filename="logo.png"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"iVBORw0KGgo=\r\n"
    b"--m--\r\n"
)


def test_get_raw_delete(client, server):
    c = client()
    smtp_deliver(server, ["get@test.example"], HTML_MAIL)
    summary = wait_one(c, "to=get@test.example")
    got = c.get(f"/api/v1/messages/{summary['id']}").json()
    assert got == summary  # wait returns the full details
    assert got["subject"] == "Confirm your account"
    assert got["text"].startswith("Your verification code: 482913\r\n")
    assert got["html"].startswith("<p>Your OTP is <b>7731</b>.")
    assert got["attachments"] == [
        {"part": [1], "filename": "logo.png", "content_type": "image/png", "content_id": "", "size": 8}
    ]
    assert got["links"] == ["https://shop.example/confirm?t=abc", "https://shop.example/confirm?t=abc&x=1"]
    assert got["codes"] == ["482913", "7731"]
    assert ["Subject", "Confirm your account"] in got["headers"]
    assert got["flags"] == []

    r = c.get(f"/api/v1/messages/{summary['id']}/parts/1")
    assert (r.status, r.header("Content-Type"), r.body) == (200, "image/png", b"\x89PNG\r\n\x1a\n")
    r = c.get(f"/api/v1/messages/{summary['id']}/parts/0.1")
    assert (r.status, r.header("Content-Type")) == (200, "text/html")
    assert r.body.startswith(b"<p>Your OTP is")
    r = c.get(f"/api/v1/messages/{summary['id']}/parts/7")
    assert (r.status, r.json()["code"]) == (404, "user:notFound")
    r = c.get(f"/api/v1/messages/{summary['id']}/parts/x")
    assert (r.status, r.json()["code"]) == (400, "user:badParameter")

    r = c.get(f"/api/v1/messages/{summary['id']}/raw")
    assert r.status == 200 and r.header("Content-Type") == "message/rfc822"
    assert r.body.endswith(HTML_MAIL)

    r = c.request("DELETE", f"/api/v1/messages/{summary['id']}")
    assert (r.status, r.json()) == (200, {"deleted": 1})
    assert c.get(f"/api/v1/messages/{summary['id']}").status == 404
    assert c.get("/api/v1/messages?to=get@test.example").json()["total"] == 0


def test_delete_by_recipient_and_all(client, server):
    c = client()
    for rcpt in ("del-a@test.example", "del-a@test.example", "del-b@test.example"):
        smtp_deliver(server, [rcpt], message(rcpt, "del"))
    wait_one(c, "to=del-b@test.example")
    assert c.get("/api/v1/messages?to=del-a@test.example").json()["total"] == 2
    r = c.request("DELETE", "/api/v1/messages?to=del-a@test.example")
    assert r.json() == {"deleted": 2}
    assert c.get("/api/v1/messages?to=del-a@test.example").json()["total"] == 0
    assert c.get("/api/v1/messages?to=del-b@test.example").json()["total"] == 1
    r = c.request("DELETE", "/api/v1/messages")
    assert r.status == 200 and r.json()["deleted"] >= 1
    assert c.get("/api/v1/messages").json() == {"total": 0, "offset": 0, "limit": 50, "messages": []}


def test_wait_is_woken_by_the_delivery_not_by_a_timer(tmp_path):
    """The long-poll answers because the delivery woke it, in this order: the wait blocks on the
    index's change event, the SMTP DATA gets its 250, then the wait answers with the message. The
    server runs on a frozen clock (trio MockClock, never moved on), so no timeout and no polling
    interval can end the wait: only the change notification can. (How fast it answers is measured
    in bench/, not here.)"""
    import trio.testing

    clock = trio.testing.MockClock()  # rate 0: its time stays 0.0 unless jumped
    with LocalServer(tmp_path / "data", clock=clock) as srv:
        answered = threading.Event()
        result: dict[str, Any] = {}

        def waiter() -> None:
            w = Client(srv.ports["http"])
            try:
                result["body"] = w.get("/api/v1/wait?to=wait-fast@test.example&subject=fast&timeout=20").json()
            finally:
                w.close()
                answered.set()

        t = threading.Thread(target=waiter)
        t.start()
        deadline = time.monotonic() + 30  # a bound for a broken server only: the steps are events
        while not _waiting(srv):
            assert time.monotonic() < deadline and not answered.is_set(), result
            time.sleep(0.01)
        with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=30) as s:
            s.ehlo("localhost")
            s.mail("app@example.org")
            s.rcpt("wait-fast@test.example")
            assert not answered.is_set()  # nothing was stored yet
            code, _ = s.data(message("wait-fast@test.example", "fast one"))
            assert code == 250
            assert answered.wait(30), "the wait did not answer after the delivery"
        t.join(30)
        assert [m["subject"] for m in result["body"]["messages"]] == ["fast one"]
        assert clock.current_time() == 0.0  # no server timer could have run (stopping moves it on)


def _waiting(server: Any) -> bool:
    """True when a long-poll waiter sits on the account index's change event."""
    idx = server.ctx.web.index  # the pages and the index are made at the first request
    ai = idx.accounts.get("mox") if idx is not None else None
    return ai is not None and ai.changed.statistics().tasks_waiting > 0


def test_wait_timeout_empty(client):
    c = client()
    start = time.monotonic()
    r = c.get("/api/v1/wait?to=nobody@test.example&timeout=0.3")
    assert (r.status, r.json()) == (200, {"total": 0, "messages": []})
    assert time.monotonic() - start >= 0.3


def test_wait_existing_message_returns_at_once(client, server):
    c = client()
    smtp_deliver(server, ["wait-existing@test.example"], message("wait-existing@test.example", "already here"))
    wait_one(c, "to=wait-existing@test.example")
    got = c.get("/api/v1/wait?to=wait-existing@test.example&timeout=0").json()
    assert [m["subject"] for m in got["messages"]] == ["already here"]


def test_sent_copies_hidden_unless_mailbox_named(client):
    c = client()
    r = c.post(
        "/webapi/v0/Send",
        # SaveSent: mox's webapi keeps a copy in Sent only when asked.
        form={"request": '{"To":[{"Address":"sent-copy@test.example"}],"Subject":"copy","Text":"x","SaveSent":true}'},
        auth=("mox@localhost", "moxmoxmox"),
    )
    assert r.status == 200
    m = wait_one(c, "to=sent-copy@test.example")
    assert m["mailbox"] == "Inbox"
    got = c.get("/api/v1/messages?to=sent-copy@test.example&mailbox=Sent").json()
    assert [(x["mailbox"], x["subject"]) for x in got["messages"]] == [("Sent", "copy")]


def test_readyz_and_index(client):
    c = client()
    assert c.get("/readyz").json() == {"ready": True}
    assert "GET /api/v1/wait?to=&from=&subject=&since=&mailbox=&timeout=&count=" in c.get("/api/v1/").json()["endpoints"]


@pytest.mark.parametrize(
    "text,codes",
    [
        ("Your code is 123456", ["123456"]),
        ("123456 is your verification code", ["123456"]),
        ("OTP: 0042", ["0042"]),
        ("Order 2024-01-15 at 12:30, total 1234.50", []),
        ("Call 555-1234 today", []),
        ("Your code: 12", []),
        ("Verification code 123456789", []),
        ("see https://x.example/verify/123456", []),
        ("Hello 483920", []),  # no code word nearby
        ("Your login code:\n\n  918273\n", ["918273"]),
        ("Your code is below.\nInvoice 55667788", []),
    ],
)
def test_find_codes(text, codes):
    assert find_codes(text, "") == codes


def test_find_links():
    assert find_links("go to https://a.example/x?y=1.", '<a href="http://b.example/">b</a> <a href="javascript:x">') == [
        "https://a.example/x?y=1",
        "http://b.example/",
    ]


def test_account_added_later(client, server):
    c = client()
    r = c.get("/api/v1/messages?account=nosuch")
    assert (r.status, r.json()) == (404, {"code": "user:notFound", "message": "no account 'nosuch'"})
    thread = server._thread
    thread.run_sync_in_server(server.store.create_account, "other")
    assert c.get("/api/v1/messages?account=other").json()["total"] == 0

    async def deliver() -> None:
        acc = server.store.open_account("other")
        try:
            await acc.deliver("Inbox", message("x@other.example", "for other"))
        finally:
            acc.close()

    thread.run_in_server(deliver)
    got = c.get("/api/v1/wait?account=other&to=x@other.example&timeout=5").json()
    assert [m["subject"] for m in got["messages"]] == ["for other"]
    # Without account=, localserve's account "mox" is meant.
    assert c.get("/api/v1/messages?to=x@other.example").json()["total"] == 0


def test_bcc_recipient_found_by_envelope(client, server):
    """Port 25 has no Delivered-To; the Received header's "for <rcpt>" names the recipient."""
    c = client()
    smtp_deliver(server, ["hidden-bcc@test.example"], message("visible@test.example", "bcc'd"))
    m = wait_one(c, "to=hidden-bcc@test.example")
    assert (m["subject"], m["to"]) == ("bcc'd", ["visible@test.example"])


def test_wait_ends_when_client_leaves(server):
    import socket

    s = socket.create_connection(("127.0.0.1", server.ports["http"]), timeout=10)
    s.sendall(b"GET /api/v1/wait?to=gone@test.example&timeout=60 HTTP/1.1\r\nHost: localhost\r\n\r\n")
    deadline = time.monotonic() + 5
    while _waiting(server) is False:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    ai = server.ctx.web.index.accounts["mox"]
    s.close()
    deadline = time.monotonic() + 5
    while ai.changed.statistics().tasks_waiting:
        assert time.monotonic() < deadline, "long-poll still waiting after the client left"
        time.sleep(0.01)


def test_wait_count(client, server):
    c = client()
    smtp_deliver(server, ["count@test.example"], message("count@test.example", "count 1"))
    r = c.get("/api/v1/wait?to=count@test.example&count=2&timeout=0.2").json()
    assert r == {"total": 1, "messages": []}  # timed out with one of two
    result: dict[str, Any] = {}

    def waiter() -> None:
        w = Client(server.ports["http"])
        try:
            result["body"] = w.get("/api/v1/wait?to=count@test.example&count=2&timeout=20").json()
        finally:
            w.close()

    t = threading.Thread(target=waiter)
    t.start()
    smtp_deliver(server, ["count@test.example"], message("count@test.example", "count 2"))
    t.join(20)
    assert result["body"]["total"] == 2
    assert [m["subject"] for m in result["body"]["messages"]] == ["count 2", "count 1"]
