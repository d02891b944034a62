"""A message's transcript link is what the server recorded when it stored the message (the SMTP
session that brought it into that account), never the text of its Received header: an IMAP
APPEND naming another session's id shows no transcript, in the test API and in webmail."""

from __future__ import annotations

import http.client
import json
import queue
import smtplib
import threading
from pathlib import Path
from typing import Any

import pytest

from mox.store.account import Account
from mox.testing import MoxServer
from mox.testing import LocalServer

from .conftest import deliver, imap, message


def forged(cid: str, subject: str) -> bytes:
    """A message whose first Received header names session ``cid``, as ours would."""
    return (
        f"Received: from [127.0.0.1] ([127.0.0.1])\r\n\tby localhost ([127.0.0.1])\r\n\twith ESMTP id {cid}\r\n"
        f"\tfor <bob@example.org>; Thu, 26 Nov 2026 10:00:00 +0000\r\n"
    ).encode() + message("bob@example.org", subject)


def append(srv: MoxServer, user: str, data: bytes) -> None:
    c = imap(srv, user)
    c.send(f"a1 APPEND INBOX {{{len(data)}}}")
    assert c.line() == "+ "
    c.sock.sendall(data + b"\r\n")
    assert c.line().startswith("a1 OK [APPENDUID ")
    c.close()


def test_append_cannot_borrow_another_sessions_transcript(srv: MoxServer) -> None:
    # Alice's mail arrives over SMTP: her view's copy links to that session.
    deliver(srv, ["alice@example.org"], message("alice@example.org", "for alice only"))
    a = srv.address_inbox("alice@example.org").wait(subject="for alice only")
    alice_view = "view-alice@example.org"
    r = srv.api("GET", f"messages/{a['id']}/transcript?account={alice_view}", raw=True).decode()
    assert "C:   | Subject: for alice only" in r
    [t] = [t for t in srv.transcripts("smtp") if "alice" in srv.transcript(t["cid"])]
    cid = t["cid"]
    # Bob appends a message claiming that session into his own view (and mox into its Inbox).
    append(srv, "bob@example.org", forged(cid, "forged bob"))
    append(srv, "mox@localhost", forged(cid, "forged mox"))
    b = srv.api("GET", "messages?account=view-bob@example.org&subject=forged%20bob")["messages"][0]
    for account, mid in (("view-bob@example.org", b["id"]),
                         ("mox", srv.api("GET", "messages?subject=forged%20mox")["messages"][0]["id"])):
        status, body = _get(srv, f"/api/v1/messages/{mid}/transcript?account={account}")
        assert status == 404 and "for alice only" not in body, body
        report = srv.api("GET", f"messages/{mid}/lint?account={account}")
        assert report["transcript"] is None


def _get(srv: MoxServer, path: str) -> tuple[int, str]:
    c = http.client.HTTPConnection("127.0.0.1", srv.ports["http"], timeout=30)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        c.close()


def test_webmail_shows_no_borrowed_transcript(srv: MoxServer) -> None:
    deliver(srv, ["carol@example.org"], message("carol@example.org", "carol secret"))
    srv.address_inbox("carol@example.org").wait(subject="carol secret")
    [t] = [t for t in srv.transcripts("smtp") if "carol secret" in srv.transcript(t["cid"])]
    append(srv, "mox@localhost", forged(t["cid"], "forged webmail"))
    with srv.imap() as client:
        client.select("INBOX")
        typ, data = client.uid("SEARCH", "SUBJECT", '"forged webmail"')
        uid = int(data[0].split()[-1])
    acc = srv.server.store.open_account("mox")
    try:
        mbid = acc.mailbox("Inbox").id
    finally:
        acc.close()
    conn = http.client.HTTPConnection("127.0.0.1", srv.ports["http"], timeout=30)
    conn.request("POST", "/webmail/login", json.dumps({"username": "mox@localhost", "password": "moxmoxmox"}),
                 {"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    cookie = resp.getheader("Set-Cookie").split(";")[0]
    conn.request("GET", f"/webmail/ci/{mbid}/{uid}/transcript", headers={"Cookie": cookie})
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    assert resp.status == 200
    assert text == "No transcript: this message was not received over SMTP by this server.\n"


def test_links_survive_a_restart(tmp_path: Path) -> None:
    """The delivery records are on disk with the transcripts."""
    import smtplib

    d = tmp_path / "data"
    with LocalServer(d) as srv:
        with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=30) as s:
            s.sendmail("s@example.org", ["dan@example.org"], message("dan@example.org", "before restart"))
        srv_api = MoxServer(srv)
        m = srv_api.address_inbox("dan@example.org").wait(subject="before restart")
        before = srv_api.api("GET", f"messages/{m['id']}/transcript", raw=True)
    with LocalServer(d) as srv:
        after = MoxServer(srv).api("GET", f"messages/{m['id']}/transcript", raw=True)
    assert after == before and b"before restart" in after


@pytest.mark.parametrize("port", ["smtp", "submission"])
def test_link_is_in_place_when_the_copy_can_be_found(srv: MoxServer, monkeypatch: pytest.MonkeyPatch, port: str) -> None:
    """The link from a delivered copy to its SMTP session exists before anyone can find the copy
    (README's test_transcript reads the transcript as soon as its wait returns). Every store
    delivery of this message is held right after it returned, the copy visible and durable;
    while it is held, the test finds the copy (the test API's wait, for the Inbox copy of
    account mox) and reads its transcript. Directly on port 25 the copies are the view's and
    mox's Inbox; through submission the queue delivers them and mox's Sent gets one too."""
    subject = f"held on {port}"
    rcpt = f"held-{port}@example.org"
    held: queue.Queue[tuple[str, int, threading.Event]] = queue.Queue()
    lock = threading.Lock()
    releases: list[threading.Event] = []
    done = False  # the test is over: deliveries are no longer held

    def holding(deliver_sync: Any) -> Any:
        def deliver(self: Account, *args: Any, **kw: Any) -> Any:
            m = deliver_sync(self, *args, **kw)
            if m is not None and f"Subject: {subject}".encode() in args[1]:
                with lock:
                    if done:
                        return m
                    release = threading.Event()
                    releases.append(release)
                held.put((self.name, m.id, release))
                release.wait()
            return m

        return deliver

    monkeypatch.setattr(Account, "deliver_sync", holding(Account.deliver_sync))
    monkeypatch.setattr(Account, "deliver_once_sync", holding(Account.deliver_once_sync))

    def send() -> None:
        if port == "submission":
            srv.send(rcpt, subject, "hello")
        else:
            with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=60) as s:
                s.sendmail("sender@example.org", [rcpt], message(rcpt, subject))

    sender = threading.Thread(target=send)
    sender.start()
    seen: list[tuple[str, bool]] = []
    try:
        for _ in range(3 if port == "submission" else 2):
            account, mid, release = held.get(timeout=60)
            if account == "mox" and _mailbox_of(srv, account, mid) == "Inbox":
                assert srv.address_inbox(rcpt).wait(subject=subject)["id"] == mid
            text = srv.api("GET", f"messages/{mid}/transcript?account={account}", raw=True).decode()
            seen.append((account, f"C:   | Subject: {subject}" in text))
            release.set()
    finally:
        with lock:
            done = True
            for release in releases:
                release.set()
        sender.join(60)
    copies = ["mox", "mox", f"view-{rcpt}"] if port == "submission" else ["mox", f"view-{rcpt}"]
    assert sorted(seen) == [(account, True) for account in copies]


def _mailbox_of(srv: MoxServer, account: str, message_id: int) -> str:
    acc = srv.server.store.open_account(account)
    try:
        m = acc.message_by_id(message_id)
        return next(mb.name for mb in acc.mailboxes() if mb.id == m.mailbox_id)
    finally:
        acc.close()
