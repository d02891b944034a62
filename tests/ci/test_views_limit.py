"""Per-address views are bounded (mox.ci.hooks): at most ``views_max`` open at once; views nobody uses
are closed; past the cap a new address gets 452 4.5.3 at RCPT and NO [LIMIT] at IMAP login, and
the queue waits. Without the cap each new recipient kept two file handles open for good (1,000
RCPTs reached EMFILE)."""

from __future__ import annotations

import imaplib
import os
import smtplib
import sys
import time

import pytest

from mox.ci import hooks as ci
from mox.config import ConfigError
from mox.testing import LocalServer

CAP = 3


@pytest.fixture
def srv(tmp_path):
    with LocalServer(tmp_path / "data", ci={"views_max": CAP}) as s:
        yield s


def open_views(srv) -> list[str]:
    return [n for n in srv.store.open_accounts() if ci.is_view(n)]


def message(to: str, subject: str, sender: str = "a@example.org") -> bytes:
    return f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n\r\nhi\r\n".encode()


def view_messages(srv, address: str) -> int:
    name = ci.view_account(address)
    if name not in srv.store.account_names():
        return 0
    acc = srv.store.open_account(name)
    try:
        return len(acc.messages(acc.mailbox("Inbox").id))
    finally:
        acc.close()


def test_rcpt_past_the_cap(srv):
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=30) as c:
        c.ehlo("localhost")
        c.mail("a@example.org")
        for i in range(CAP):
            assert c.rcpt(f"r{i}@example.org")[0] == 250
        code, text = c.rcpt("r-too-many@example.org")  # every open view is in this transaction
        assert (code, text[:5]) == (452, b"4.5.3"), (code, text)
        assert c.rcpt("mox@localhost")[0] == 250  # a configured address needs no view
        assert c.data(message("r0@example.org", "capped"))[0] == 250
        assert [view_messages(srv, f"r{i}@example.org") for i in range(CAP)] == [1] * CAP
        # The transaction is over: its views are idle and make room for new addresses.
        c.sendmail("a@example.org", ["r-too-many@example.org", "s1@example.org", "s2@example.org"], message("x", "next"))
    assert view_messages(srv, "r-too-many@example.org") == 1
    assert len(open_views(srv)) <= CAP


def test_open_views_and_files_bounded(srv):
    fds = lambda: len(os.listdir("/proc/self/fd")) if sys.platform == "linux" else 0  # noqa: E731
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=30) as c:
        c.ehlo("localhost")
        c.sendmail("a@example.org", ["warm@example.org"], message("warm", "warm up"))
        before = fds()
        for n in range(20):
            rcpts = [f"t{n}-{i}@example.org" for i in range(CAP)]
            c.sendmail("a@example.org", rcpts, message(rcpts[0], f"batch {n}"))
            assert len(open_views(srv)) <= CAP
        after = fds()
    # 60 new addresses: without closing idle views that was 120 more open files.
    assert after - before <= 2 * CAP + 4, (before, after)
    assert all(view_messages(srv, f"t{n}-{i}@example.org") == 1 for n in range(20) for i in range(CAP))


def test_idle_views_closed(srv, monkeypatch):
    monkeypatch.setattr(ci, "VIEW_IDLE", 0.0)
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=30) as c:
        c.ehlo("localhost")
        for i in range(5):
            c.sendmail("a@example.org", [f"idle{i}@example.org"], message("x", f"idle {i}"))
            assert len(open_views(srv)) <= 1  # the previous, idle ones were closed


def test_imap_login_past_the_cap(srv):
    sessions = []
    try:
        for i in range(CAP):
            m = imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=30)
            m.login(f"user{i}@example.org", "moxmoxmox")
            sessions.append(m)
        extra = imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=30)
        with pytest.raises(imaplib.IMAP4.error, match=r"\[LIMIT\] too many per-address views in use"):
            extra.login("user-extra@example.org", "moxmoxmox")
        # AUTHENTICATE PLAIN too.
        typ, data = extra._simple_command("AUTHENTICATE", "PLAIN", "AHVzZXIteEBleGFtcGxlLm9yZwBtb3htb3htb3g=")
        assert typ == "NO" and data[0].startswith(b"[LIMIT]"), (typ, data)
        # The connection goes on; a session that logs out frees its view.
        sessions.pop().logout()
        deadline = time.monotonic() + 10
        while True:
            try:
                extra.login("user-extra@example.org", "moxmoxmox")
                break
            except imaplib.IMAP4.error:  # the server may still be closing the logged-out session
                assert time.monotonic() < deadline
                time.sleep(0.05)
        sessions.append(extra)
        assert len(open_views(srv)) <= CAP
    finally:
        for m in sessions:
            m.logout()


def test_queue_waits_for_a_view(srv):
    sessions = []
    try:
        for i in range(CAP):
            m = imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=30)
            m.login(f"busy{i}@example.org", "moxmoxmox")
            sessions.append(m)
        with smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=30) as c:
            c.ehlo("localhost")
            c.login("mox@localhost", "moxmoxmox")
            c.sendmail("mox@localhost", ["later@example.org"], message("later@example.org", "queued", "mox@localhost"))
        [e] = srv.ctx.queue.list()
        deadline = time.monotonic() + 20
        while e.id not in srv.ctx.queue._not_before:  # tried: no view could be opened
            assert time.monotonic() < deadline
            time.sleep(0.02)
        [e] = srv.ctx.queue.list()  # still queued, no attempt used up, no bounce
        assert e.attempts == 0
        sessions.pop().logout()
        deadline = time.monotonic() + 20
        while srv.ctx.queue.list():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert view_messages(srv, "later@example.org") == 1
    finally:
        for m in sessions:
            m.logout()


def test_views_max_setting():
    assert ci.Settings.from_dict({}).views_max == 1000
    assert ci.Settings.from_dict({"views_max": "7"}).views_max == 7
    for bad in ("0", "-1", "many"):
        with pytest.raises(ValueError, match="views_max"):
            ci.Settings.from_dict({"views_max": bad})


def test_views_max_env(tmp_path, monkeypatch):
    monkeypatch.setenv("MOX_VIEWS_MAX", "0")
    with pytest.raises(ConfigError, match="views_max"):
        ci.init(tmp_path)
    monkeypatch.setenv("MOX_VIEWS_MAX", "12")
    assert ci.init(tmp_path).views_max == 12


@pytest.mark.skipif(os.name == "nt", reason="RLIMIT_NOFILE is POSIX")
def test_cap_respects_open_files_limit(monkeypatch):
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda what: (300, 300))
    assert ci.open_files_budget() == 300 - 256


def test_test_api_view_login_past_the_cap(srv):
    """A forwarded (non-loopback) test API call with an address and the shared password opens
    that address's view too: past the cap it gets 503 with a JSON reason."""
    from tests.web.conftest import Client

    sessions = []
    c = Client(srv.ports["http"])
    try:
        for i in range(CAP):
            m = imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=30)
            m.login(f"api{i}@example.org", "moxmoxmox")
            sessions.append(m)
        r = c.get("/api/v1/messages", headers={"X-Forwarded-For": "192.0.2.7"}, auth=("api-extra@example.org", "moxmoxmox"))
        assert r.status == 503 and r.json()["code"] == "server:viewLimit", (r.status, r.body)
        sessions.pop().logout()
        deadline = time.monotonic() + 10
        while (r := c.get("/api/v1/messages", headers={"X-Forwarded-For": "192.0.2.7"},
                          auth=("api-extra@example.org", "moxmoxmox"))).status == 503:  # fmt: skip
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert r.status == 200, r.body
    finally:
        c.close()
        for m in sessions:
            m.logout()
