"""Per-test inboxes: the test API by exact recipient, IMAP views per address (mox.ci.hooks)."""

from __future__ import annotations

import imaplib

import pytest

from mox.testing import ApiError, MoxServer

from .conftest import deliver, imap, message


def _subjects(srv: MoxServer, to: str) -> list[str]:
    return sorted(m["subject"] for m in srv.api("GET", f"messages?to={to}")["messages"])


def test_api_filters_and_deletes_by_exact_recipient(srv: MoxServer) -> None:
    deliver(srv, ["a@example.org"], message("a@example.org", "for a"))
    deliver(srv, ["aa@example.org"], message("aa@example.org", "for aa"))
    deliver(srv, ["a@example.org", "b@example.org"], message("a@example.org", "for a and b"))
    assert _subjects(srv, "a@example.org") == ["for a", "for a and b"]
    assert _subjects(srv, "aa@example.org") == ["for aa"]  # not a substring match
    # b is only in the envelope of a two-recipient transaction: its view has the message.
    view = srv.api("GET", "messages?account=view-b@example.org")["messages"]
    assert [m["subject"] for m in view] == ["for a and b"]
    assert srv.api("DELETE", "messages?to=aa@example.org") == {"deleted": 1}
    assert _subjects(srv, "aa@example.org") == []
    assert _subjects(srv, "a@example.org") == ["for a", "for a and b"]


def test_imap_view_per_address(srv: MoxServer) -> None:
    deliver(srv, ["alice@example.org"], message("alice@example.org", "one"))
    deliver(srv, ["bob@example.org"], message("bob@example.org", "two"))
    deliver(srv, ["alice@example.org", "bob@example.org"], message("x@example.org", "three"))

    c = imap(srv, "alice@example.org")
    c.send("a1 SELECT INBOX")
    lines = []
    while not (line := c.line()).startswith("a1 "):
        lines.append(line)
    assert line.startswith("a1 OK [READ-WRITE]")
    assert "* 2 EXISTS" in lines
    uidvalidity = next(x for x in lines if "UIDVALIDITY" in x)
    c.send("a2 UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    got = []
    while not (line := c.line()).startswith("a2 "):
        if line.startswith("Subject:"):
            got.append(line)
    assert got == ["Subject: one", "Subject: three"]
    c.close()

    # Logging in again: same mailbox, same UIDVALIDITY and UIDs.
    c = imap(srv, "alice@example.org")
    c.send("a1 SELECT INBOX")
    lines = []
    while not (line := c.line()).startswith("a1 "):
        lines.append(line)
    assert uidvalidity in lines and "* 2 EXISTS" in lines
    c.close()

    # The mox account sees everything.
    with srv.imap() as m:
        assert m.select("INBOX") == ("OK", [b"3"])

    # Wrong shared password: refused.
    c = imap(srv)
    c.send("a1 LOGIN alice@example.org wrong")
    assert c.line() == "a1 NO [AUTHENTICATIONFAILED] login failed"
    c.close()


def test_view_gets_new_mail_while_idle(srv: MoxServer) -> None:
    c = imap(srv, "carol@example.org")
    c.send("a1 SELECT INBOX")
    while not c.line().startswith("a1 OK"):
        pass
    c.send("a2 IDLE")
    assert c.line() == "+ waiting"
    deliver(srv, ["carol@example.org"], message("carol@example.org", "pushed"))
    assert c.line() == "* 1 EXISTS"
    c.send("DONE")
    while not (line := c.line()).startswith("a2 "):
        pass
    assert line.startswith("a2 OK")
    c.close()


def test_plugin_address_inbox(mox_server: MoxServer) -> None:
    box = mox_server.address_inbox("dave+signup@example.org")
    mox_server.send("dave+signup@example.org", "Welcome", "hi dave")
    mox_server.send("erin@example.org", "Other", "not for dave")
    assert box.wait(subject="Welcome")["subject"] == "Welcome"
    # erin's mail is queued after dave's: wait for it too, before looking at it below.
    assert mox_server.address_inbox("erin@example.org").wait(subject="Other")["subject"] == "Other"
    assert [m["subject"] for m in box.messages()] == ["Welcome"]
    with box.imap() as client:
        assert client.select("INBOX") == ("OK", [b"1"])
        typ, data = client.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert data[0][1] == b"Subject: Welcome\r\n\r\n"
    # Clearing removes the view's copy and the mox account's copy; erin's mail stays.
    assert box.clear() == 2
    assert box.messages() == []
    with box.imap() as client:
        assert client.select("INBOX") == ("OK", [b"0"])
    assert [m["subject"] for m in mox_server.address_inbox("erin@example.org").messages()] == ["Other"]
    assert mox_server.api("GET", "inboxes") == {
        "inboxes": [
            {"account": "view-dave+signup@example.org", "messages": 0},
            {"account": "view-erin@example.org", "messages": 1},
        ]
    }


@pytest.mark.mox(shared_password="s3cret-for-ci")
def test_shared_password_setting(mox_server: MoxServer) -> None:
    mox_server.send("frank@example.org", "hello", "x")
    mox_server.address_inbox("frank@example.org").wait()
    with pytest.raises(imaplib.IMAP4.error):
        with imaplib.IMAP4("127.0.0.1", mox_server.imap_port, timeout=10) as c:
            c.login("frank@example.org", "moxmoxmox")
    with mox_server.address_inbox("frank@example.org").imap() as c:
        assert c.select("INBOX") == ("OK", [b"1"])
    assert mox_server.api("GET", "ci")["shared_password"] == "s3cret-for-ci"


def test_api_errors(srv: MoxServer) -> None:
    with pytest.raises(ApiError) as e:
        srv.api("GET", "faults/abc")
    assert e.value.status == 400
    with pytest.raises(ApiError) as e:
        srv.api("GET", "transcripts/nope")
    assert e.value.status == 404


def test_unencoded_plus_in_an_address_filter(srv: MoxServer) -> None:
    """`?to=a+tag@...` as typed in a shell (the + not written %2B) finds the tagged address: a
    space cannot be in an unquoted address, so form decoding's space was a plus."""
    deliver(srv, ["ci+tag@example.org"], message("ci+tag@example.org", "tagged", frm="me+x@example.org"))
    for q in ("to=ci+tag@example.org", "to=ci%2Btag@example.org", "from=me+x@example.org"):
        assert [m["subject"] for m in srv.api("GET", f"messages?{q}")["messages"]] == ["tagged"], q
    assert [m["subject"] for m in srv.api("GET", "wait?to=ci+tag@example.org&timeout=5")["messages"]] == ["tagged"]
    assert srv.api("GET", "messages?to=ci@example.org")["total"] == 0  # still exact
