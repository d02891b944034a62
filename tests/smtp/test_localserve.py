"""The SMTP side of a whole localserve (mox.testing.LocalServer): submission through the queue,
incoming delivery on the smtp port, a DSN for a ``queue451`` recipient, `mox sendmail`."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from mox.smtp.client import Client
from mox.testing import LocalServer


def inbox(srv, mailbox="Inbox"):
    acc = srv.store.open_account("mox")
    try:
        mb = acc.mailbox(mailbox)
        return [acc.read_message(m) for m in acc.messages(mb.id)]
    finally:
        acc.close()


def wait(srv, n, mailbox="Inbox", timeout=15.0):
    deadline = time.monotonic() + timeout
    while len(msgs := inbox(srv, mailbox)) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return msgs


def test_localserve_flow(tmp_path):
    with LocalServer() as srv:
        with Client.connect("127.0.0.1", srv.ports["submission"]) as c:
            c.auth(srv.address, srv.password)
            c.deliver(srv.address, ["someone@example.com", "queue451@example.com"], b"From: mox@localhost\r\nSubject: one\r\n\r\nbody\r\n")
            c.quit()
        with Client.connect("127.0.0.1", srv.ports["smtp"], tls="none") as c:
            c.deliver("stranger@example.org", ["whoever@anywhere.example"], b"From: stranger@example.org\r\nSubject: two\r\n\r\nbody\r\n")
        conf = tmp_path / "moxsubmit.conf"
        conf.write_text(f"Host: 127.0.0.1\nPort: {srv.ports['submission']}\n", encoding="utf-8")
        p = subprocess.run(
            [sys.executable, "-m", "mox", "sendmail", "-t"],
            input=b"To: x@example.com\nSubject: three\n\nbody\n",
            env={**os.environ, "MOXSUBMITCONF": str(conf), "HOME": str(tmp_path)},
            capture_output=True,
            timeout=60,
        )
        assert p.returncode == 0, p.stderr
        msgs = wait(srv, 4)
        subjects = sorted(m.split(b"\r\nSubject: ", 1)[1].split(b"\r\n", 1)[0] for m in msgs)
        # The queue451 retries (0.5 s, 1 s, 2 s in localserve) end in a DSN within seconds.
        assert subjects == [b"mail delivery failed", b"one", b"three", b"two"]
        assert len(wait(srv, 2, "Sent")) == 2


def test_queue_dsn_readable_over_imap():
    """A ``…-queue451`` recipient is accepted at DATA; its retries run out and the DSN is read
    from the sender's Inbox over IMAP, the sent copy from Sent."""
    import email
    import email.policy
    import imaplib
    import smtplib

    with LocalServer() as srv:
        with smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=10) as s:
            s.ehlo("client.example")
            s.login(srv.address, srv.password)
            msg = b"From: <mox@localhost>\r\nTo: <t7-queue451@example.com>\r\nSubject: bounce me\r\n\r\nhello\r\n"
            assert s.sendmail(srv.address, ["t7-queue451@example.com"], msg) == {}
        im = imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=10)
        try:
            assert im.login(srv.address, srv.password)[0] == "OK"
            deadline = time.monotonic() + 15
            while True:
                typ, data = im.select("Inbox", readonly=True)
                assert typ == "OK"
                if int(data[0]) >= 1 or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert data == [b"1"]
            typ, fetched = im.fetch("1", "(BODY.PEEK[])")
            assert typ == "OK"
            dsn = email.message_from_bytes(fetched[0][1], policy=email.policy.compat32)
            assert dsn["Subject"] == "mail delivery failed"
            assert dsn["From"] == "postmaster <postmaster@localhost>"
            assert dsn.get_content_type() == "multipart/report"
            status = dsn.get_payload()[1].as_string()
            assert "Final-Recipient: rfc822; t7-queue451@example.com" in status
            assert "Action: failed" in status
            assert "Diagnostic-Code: smtp; 451 4.0.0 failure with code 451 due to special localpart" in status
            original = dsn.get_payload()[2]
            assert original.get_content_type() == "message/rfc822"
            assert original.get_payload()[0]["Subject"] == "bounce me"
            typ, data = im.select("Sent", readonly=True)
            assert (typ, data) == ("OK", [b"1"])
            im.logout()
        finally:
            try:
                im.shutdown()
            except OSError:
                pass
