"""A full disk while localserve runs (simulated in the store's and queue's write layer): SMTP
answers ``452 4.3.1``, IMAP APPEND/COPY ``NO [UNAVAILABLE]``, the webapi 507 with a JSON error;
nothing acknowledged is lost, nothing half-written stays visible, the store is consistent, and
once space is freed everything works again without a restart.

The same on a real, small filesystem: ``test_diskfull_tmpfs.py``."""

from __future__ import annotations

import imaplib
import io
import json
import smtplib
import sys
import time
from pathlib import Path

import pytest

from mox import mlog
from mox.testing import LocalServer
from tests.diskspace import DiskSpace
from tests.web.conftest import Client

AUTH = ("mox@localhost", "moxmoxmox")


def message(n: int, size: int = 100) -> bytes:
    return (
        f"From: <mox@localhost>\r\nTo: <mox@localhost>\r\nSubject: full {n}\r\n"
        f"Message-ID: <full-{n}@example.org>\r\n\r\n".encode()
        + (b"x" * 70 + b"\r\n") * (size // 72 + 1)
    )


# The full disk itself is logged at error level (an admin's problem); the server fixture checks
# that nothing else was.
pytestmark = pytest.mark.allow_server_errors


@pytest.fixture
def server(tmp_path):
    buf = io.StringIO()
    mlog.set_output(buf)
    try:
        with LocalServer(tmp_path / "data", allow_server_errors=True) as srv:
            srv.logs = buf
            yield srv
        # Leaving LocalServer ran the consistency check of every account (it raises otherwise).
    finally:
        mlog.set_output(sys.stderr)
    assert error_lines(srv) == []


def error_lines(srv) -> list[str]:
    """Error log lines other than the full disk itself (which is an admin's problem: logged)."""
    return [ln for ln in srv.errors if "disk full" not in ln]


def inbox_message_ids(srv, account: str = "mox") -> list[str]:
    acc = srv.store.open_account(account)
    try:
        out = []
        for m in acc.messages(acc.mailbox("Inbox").id):
            for line in acc.read_message(m).split(b"\r\n"):
                if line.lower().startswith(b"message-id:"):
                    out.append(line.split(b":", 1)[1].strip().decode())
        return out
    finally:
        acc.close()


def strays(srv) -> list[str]:
    """Files a failed write could have left: temporary files, queue files no entry uses."""
    d = Path(srv.dir)
    tmp = [p.name for p in (d / "tmp").iterdir()]
    used = {e.file for e in srv.ctx.queue.list()}
    queue = [p.name for p in (d / "queue" / "msg").iterdir() if p.name not in used]
    return tmp + queue


def wait_for(cond, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_smtp_delivery_disk_full(server):
    with DiskSpace() as disk, smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30) as c:
        c.ehlo("localhost")
        disk.free = 0
        c.mail("sender@example.org")
        c.rcpt("mox@localhost")
        code, text = c.data(message(1))
        assert (code, text.split(b" ", 1)[0]) == (452, b"4.3.1"), (code, text)
        assert disk.refused > 0
        assert inbox_message_ids(server) == [] and strays(server) == []
        c.noop()  # the connection goes on
        disk.free = None  # space freed: the client's retry works, no restart
        c.sendmail("sender@example.org", ["mox@localhost"], message(1))
    assert inbox_message_ids(server) == ["<full-1@example.org>"]
    assert error_lines(server) == []


def test_smtp_delivery_torn_journal(server):
    """The message file fits but the journal record does not: cut off, rolled back, 452."""
    data = message(2, 3000)
    account_journal = lambda p: p.name == "index.journal" and "accounts" in p.parts  # noqa: E731
    with DiskSpace(only=account_journal) as disk, smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30) as c:
        c.ehlo("localhost")
        c.mail("sender@example.org")
        c.rcpt("mox@localhost")
        disk.free = 20  # 20 bytes of the frame reach the journal
        code, text = c.data(data)
        assert disk.refused == 1
        assert code == 452 and text.startswith(b"4.3.1"), (code, text)
        assert inbox_message_ids(server) == [] and strays(server) == []
        disk.free = None
        c.sendmail("sender@example.org", ["mox@localhost"], data)
    assert inbox_message_ids(server) == ["<full-2@example.org>"]


def test_submission_disk_full(server):
    with DiskSpace() as disk, smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=30) as c:
        c.ehlo("localhost")
        c.login(*AUTH)
        disk.free = 0
        with pytest.raises(smtplib.SMTPDataError) as ei:
            c.sendmail("mox@localhost", ["mox@localhost"], message(3))
        assert (ei.value.smtp_code, ei.value.smtp_error[:5]) == (452, b"4.3.1")
        assert server.ctx.queue.list() == [] and strays(server) == []
        disk.free = None
        c.sendmail("mox@localhost", ["mox@localhost"], message(3))
    wait_for(lambda: inbox_message_ids(server) == ["<full-3@example.org>"] and not server.ctx.queue.list())


def test_submission_queue_full_no_sent_copy(server):
    """The Sent copy is stored while the message is queued; when queueing fails (its disk is
    full, the account's is not), the client hears 452 and the copy is gone again."""
    queue_only = lambda p: "queue" in p.parts  # noqa: E731 - the account's writes succeed
    with DiskSpace(0, only=queue_only), smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=30) as c:
        c.ehlo("localhost")
        c.login(*AUTH)
        with pytest.raises(smtplib.SMTPDataError) as ei:
            c.sendmail("mox@localhost", ["mox@localhost"], message(5))
        assert (ei.value.smtp_code, ei.value.smtp_error[:5]) == (452, b"4.3.1")
    acc = server.store.open_account("mox")
    try:
        sent = acc.mailbox("Sent")
        assert sent is not None and acc.messages(sent.id) == []
    finally:
        acc.close()
    assert server.ctx.queue.list() == [] and strays(server) == []


def test_queue_waits_for_space(server):
    """Queued durably (250), but the account's disk is full: the queue keeps the message and
    delivers it, once, when space is freed; no attempt is used up, no DSN."""
    acc_only = lambda p: "queue" not in p.parts  # noqa: E731 - the queue's own writes succeed
    with DiskSpace(0, only=acc_only) as disk, smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=30) as c:
        c.ehlo("localhost")
        c.login(*AUTH)
        c.sendmail("mox@localhost", ["mox@localhost"], message(4))  # 250: queued
        wait_for(lambda: disk.refused >= 3)  # tried and retried (the Sent copy fails too: logged)
        [e] = server.ctx.queue.list()
        assert e.attempts == 0
        assert inbox_message_ids(server) == []
        disk.free = None
        wait_for(lambda: not server.ctx.queue.list())
    assert inbox_message_ids(server) == ["<full-4@example.org>"]


def test_imap_append_copy_disk_full(server):
    imap = imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=30)
    try:
        imap.login(*AUTH)
        assert imap.append("Inbox", None, None, message(5))[0] == "OK"
        imap.select("Inbox")
        with DiskSpace() as disk:
            disk.free = 0
            typ, data = imap.append("Inbox", None, None, message(6))
            assert (typ, data[0][:13]) == ("NO", b"[UNAVAILABLE]"), (typ, data)
            typ, data = imap.copy("1", "Archive")
            assert (typ, data[0][:13]) == ("NO", b"[UNAVAILABLE]"), (typ, data)
            assert imap.noop()[0] == "OK"  # the session goes on
            assert strays(server) == []
            disk.free = None
            assert imap.append("Inbox", None, None, message(6))[0] == "OK"
            assert imap.copy("1", "Archive")[0] == "OK"
        assert inbox_message_ids(server) == ["<full-5@example.org>", "<full-6@example.org>"]
        assert imap.select("Archive")[1] == [b"1"]
    finally:
        imap.logout()


def test_webapi_send_disk_full(server):
    c = Client(server.ports["http"])
    try:
        req = {"To": [{"Address": "mox@localhost"}], "Subject": "full 7", "Text": "hello"}
        with DiskSpace(0):
            r = c.post("/webapi/v0/Send", form={"request": json.dumps(req)}, auth=AUTH)
            assert r.status == 507
            assert r.json() == {"Code": "server", "Message": "mail storage full, try again later"}
            assert strays(server) == []
        r = c.post("/webapi/v0/Send", form={"request": json.dumps(req)}, auth=AUTH)
        assert r.status == 200, r.body
    finally:
        c.close()
    wait_for(lambda: not server.ctx.queue.list())
