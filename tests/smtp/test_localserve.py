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
