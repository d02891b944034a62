"""Who may use the test API (README "Test API", mox.web.access), over real sockets.

A client connecting from 127.0.0.3 plays a caller on another machine: for mox only 127.0.0.1 and
::1 are loopback callers (this machine has no other interface; Linux routes all of 127/8 to lo,
so binding the client socket is enough). Loopback callers without credentials may do everything,
as before; everyone else needs basic auth and sees only their own account (and the per-address
views of their own addresses), and fault rules, transcripts, reset and the CI settings only with
the admin password. A loopback request that went through a proxy counts as remote."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.web.conftest import REMOTE, Client, smtp_deliver, wait_one
from tests.web.test_account_admin import ADMIN_PASSWORD, new_account, tag


def msg(to: str, subject: str) -> bytes:
    return f"From: <app@example.org>\r\nTo: <{to}>\r\nSubject: {subject}\r\n\r\nbody {subject}\r\n".encode()


@pytest.fixture
def remote(server: Any) -> Any:
    clients: list[Client] = []

    def make() -> Client:
        c = Client(server.ports["http"], source=REMOTE)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def other(server: Any, client: Any) -> dict[str, Any]:
    """A second account with one message, and a message for account mox (the catch-all)."""
    name, address = new_account(client, password="other password")
    t = tag()
    smtp_deliver(server, [address], msg(address, f"for-other-{t}"))
    smtp_deliver(server, [f"stranger-{t}@example.org"], msg(f"stranger-{t}@example.org", f"for-mox-{t}"))
    c = client()
    mine = wait_one(c, f"account={name}&subject=for-other-{t}")
    theirs = wait_one(c, f"subject=for-mox-{t}")
    return {"name": name, "address": address, "auth": (address, "other password"), "mine": mine, "theirs": theirs, "t": t}


def test_remote_needs_credentials_loopback_does_not(client: Any, remote: Any) -> None:
    r = remote().get("/api/v1/messages")
    assert (r.status, r.json()["code"]) == (401, "user:noAuth")
    assert r.header("WWW-Authenticate") == 'Basic realm="mox test api"'
    assert remote().get("/api/v1/messages", auth=("mox@localhost", "wrong")).status == 401
    assert client().get("/api/v1/messages").status == 200  # loopback, no credentials
    # A loopback connection carrying proxy headers is someone else's request, forwarded.
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP", "Via"):
        r = client().get("/api/v1/messages", headers={header: "for=192.0.2.7"})
        assert r.status == 401, header


def test_remote_account_sees_only_its_own(server: Any, remote: Any, other: dict[str, Any]) -> None:
    c = remote()
    auth = other["auth"]
    got = c.get("/api/v1/messages", auth=auth).json()  # no account=: the caller's own
    assert [m["id"] for m in got["messages"]] == [other["mine"]["id"]]
    for path in ("/api/v1/messages?account=mox", "/api/v1/wait?account=mox&timeout=0",
                 f"/api/v1/messages/{other['theirs']['id']}?account=mox", "/api/v1/messages?account=nosuch"):
        r = c.get(path, auth=auth)
        assert (r.status, r.json()["code"]) == (403, "user:forbidden"), path
    # Message ids are per account: an id of account mox's message names, if anything, a message
    # of the caller's own account; mox's message is never shown.
    theirs = other["theirs"]["id"]
    for path in (f"/api/v1/messages/{theirs}", f"/api/v1/messages/{theirs}/raw", f"/api/v1/messages/{theirs}/parts/0",
                 f"/api/v1/messages/{theirs}/transcript", f"/api/v1/messages/{theirs}/lint", "/api/v1/messages/999999"):
        r = c.get(path, auth=auth)
        assert f"for-mox-{other['t']}".encode() not in r.body, path
        assert r.status in (200, 404), path
    assert c.request("DELETE", "/api/v1/messages?account=mox", auth=auth).status == 403
    # Deleting "everything" deletes the caller's mail only.
    assert c.request("DELETE", "/api/v1/messages", auth=auth).json() == {"deleted": 1}
    acc = server.store.open_account("mox")
    try:
        assert acc.message_by_id(theirs) is not None and not acc.message_by_id(theirs).expunged
    finally:
        acc.close()


def test_remote_account_cannot_reach_admin_endpoints(server: Any, remote: Any, client: Any, other: dict[str, Any]) -> None:
    c = remote()
    auth = other["auth"]
    for method, path, body in (
        ("POST", "/api/v1/reset", None),
        ("GET", "/api/v1/faults", None),
        ("POST", "/api/v1/faults", {"stage": "rcpt", "action": "reply", "code": 451, "text": "x"}),
        ("DELETE", "/api/v1/faults", None),
        ("GET", "/api/v1/faults/1", None),
        ("GET", "/api/v1/transcripts", None),
        ("GET", "/api/v1/transcripts/abc", None),
        ("GET", "/api/v1/ci", None),
    ):
        r = c.request(method, path, auth=auth, json_body=body)
        assert (r.status, r.json()["code"]) == (403, "user:forbidden"), (method, path)
        assert b"moxmoxmox" not in r.body
    # Nothing was reset: account mox's message is still there.
    assert client().get(f"/api/v1/messages/{other['theirs']['id']}").status == 200
    # The admin password opens them from anywhere.
    admin = ("admin", ADMIN_PASSWORD)
    assert c.get("/api/v1/ci", auth=admin).json()["shared_password"] == "moxmoxmox"
    assert c.get("/api/v1/transcripts", auth=admin).status == 200
    assert c.get("/api/v1/messages", auth=admin).status == 200
    assert c.get("/api/v1/ci", auth=("admin", "wrong")).status == 401


def test_remote_view_caller(server: Any, remote: Any, client: Any) -> None:
    """An address without account, with the shared password: its per-address view only."""
    t = tag()
    carol, dave = f"carol-{t}@example.org", f"dave-{t}@example.org"
    smtp_deliver(server, [carol], msg(carol, f"to-carol-{t}"))
    smtp_deliver(server, [dave], msg(dave, f"to-dave-{t}"))
    wait_one(client(), f"subject=to-dave-{t}")
    c = remote()
    auth = (carol, "moxmoxmox")
    got = c.get("/api/v1/wait?timeout=10", auth=auth).json()
    assert [m["subject"] for m in got["messages"]] == [f"to-carol-{t}"]
    assert c.get("/api/v1/messages?account=mox", auth=auth).status == 403
    assert c.get(f"/api/v1/messages?account=view-{dave}", auth=auth).status == 403
    assert c.get("/api/v1/inboxes", auth=auth).json() == {"inboxes": [{"account": f"view-{carol}", "messages": 1}]}
    assert c.request("DELETE", f"/api/v1/inboxes/{dave}", auth=auth).status == 403
    # Clearing its own inbox removes the view's copy, not account mox's.
    assert c.request("DELETE", f"/api/v1/inboxes/{carol}", auth=auth).json() == {"deleted": 1}
    assert client().get(f"/api/v1/messages?to={carol}").json()["total"] == 1
    # A wrong shared password is just wrong credentials.
    assert c.get("/api/v1/messages", auth=(carol, "moxmoxmoy")).status == 401


def test_remote_mox_account_does_not_see_views(server: Any, remote: Any, client: Any) -> None:
    t = tag()
    erin = f"erin-{t}@example.org"
    smtp_deliver(server, [erin], msg(erin, f"to-erin-{t}"))
    wait_one(client(), f"subject=to-erin-{t}")
    c = remote()
    auth = ("mox@localhost", "moxmoxmox")
    assert c.get(f"/api/v1/messages?subject=to-erin-{t}", auth=auth).json()["total"] == 1  # its own account
    assert c.get(f"/api/v1/messages?account=view-{erin}", auth=auth).status == 403
    assert all(not i["account"].startswith("view-") for i in c.get("/api/v1/inboxes", auth=auth).json()["inboxes"])


def test_loopback_keeps_full_access(client: Any, other: dict[str, Any]) -> None:
    c = client()
    assert c.get(f"/api/v1/messages?account={other['name']}").json()["total"] == 1
    assert c.get("/api/v1/ci").json()["shared_password"] == "moxmoxmox"
    r = c.post("/api/v1/faults", json_body={"stage": "rcpt", "recipient": "nobody@x.example", "action": "reply",
                                             "code": 451, "text": "x", "owner": "access-test"})
    assert r.status == 201
    assert c.request("DELETE", "/api/v1/faults?owner=access-test").json() == {"deleted": 1}


@pytest.mark.parametrize(
    "host,ok",
    [
        ("localhost", True),
        ("localhost:1080", True),
        ("app.localhost", True),
        ("127.0.0.1:1080", True),
        ("127.0.0.2", True),
        ("[::1]:1080", True),
        ("0.0.0.0:1080", True),
        ("evil.example", False),
        ("localhost.evil.example", False),
        ("10.1.2.3", False),  # a loopback peer naming another address: not how a local client connects
        ("192.168.0.1:1080", False),
        ("[::1", False),
    ],
)
def test_dns_rebinding_host_check(server: Any, host: str, ok: bool) -> None:
    from tests.web.conftest import raw_exchange

    raw = raw_exchange(server.ports["http"], f"GET /api/v1/messages HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    status = raw.split(b"\r\n", 1)[0]
    if ok:
        assert status == b"HTTP/1.1 200 OK", raw
    else:
        assert status == b"HTTP/1.1 421 Misdirected Request", raw
        body = raw.split(b"\r\n\r\n", 1)[1]
        assert json.loads(body)["code"] == "user:badHost"


def test_mail_services_same_from_other_addresses(server: Any, remote: Any) -> None:
    """What README's security notes say of other addresses: no loopback privilege in the mail
    services either way: SMTP 1025 takes mail from anyone, IMAP takes the well-known passwords."""
    import smtplib
    import socket

    t = tag()
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30, source_address=(REMOTE, 0)) as s:
        assert s.sendmail("x@example.org", [f"far-{t}@example.org"], msg(f"far-{t}@example.org", f"far {t}")) == {}
    with socket.create_connection(("127.0.0.1", server.ports["imap"]), timeout=30, source_address=(REMOTE, 0)) as s:
        f = s.makefile("rb")
        assert f.readline().startswith(b"* OK ")
        s.sendall(f"a1 LOGIN far-{t}@example.org moxmoxmox\r\n".encode())
        assert f.readline().startswith(b"a1 OK ")
        s.sendall(b"a2 SELECT INBOX\r\n")
        lines = [f.readline()]
        while not lines[-1].startswith(b"a2 "):
            lines.append(f.readline())
        assert b"* 1 EXISTS\r\n" in lines and lines[-1].startswith(b"a2 OK ")
