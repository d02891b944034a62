"""Child of test_crash_points.py: localserve in this process, dying (``os._exit``, as a SIGKILL
would: no cleanup, no flush) at one chosen step of a submission's way through the queue.

    python crash_points_child.py DATA_DIR crash POINT RECIPIENT
    python crash_points_child.py DATA_DIR finish

``crash`` submits one message to RECIPIENT and dies at POINT; ``finish`` starts localserve on
the same directory, waits until the queue is empty and prints one JSON line: for the main
account and the recipient's per-address view, the Message-IDs in Inbox (DSNs included).
"""

from __future__ import annotations

import json
import os
import smtplib
import sys
import threading
import time
from pathlib import Path

from mox.queue.store import QueueStore
from mox.store.account import Account
from mox.testing import LocalServer

DIE = 77


def die(point: str) -> None:
    sys.stdout.write(f"died at {point}\n")
    sys.stdout.flush()
    os._exit(DIE)


def install(point: str) -> None:
    """Patch the step named ``point`` to end the process right before or after it."""
    write_message = QueueStore.write_message
    write_journal = QueueStore.write_journal
    transact = Account._transact_applied

    def qs_write_message(self, name, data):
        write_message(self, name, data)
        if point == "queue-file":  # message file written, no journal record
            die(point)

    def qs_write_journal(self, puts=(), updates=(), removes=(), sent=()):
        write_journal(self, puts, updates, removes, sent)
        if point == "queue-put" and puts:  # durable in the queue, no 250 sent yet
            die(point)
        if point == "queue-remove" and removes:  # delivered and dequeued
            die(point)

    def acc_transact(self, records, changes, origin, keys=(), **kw):
        keyed = [k.key for k in keys]
        view = self.name.startswith("view-")
        dsn = any("-dsn-" in k for k in keyed)
        step = ("dsn" if dsn else "view" if view else "main") if keyed else None
        if step is not None and point == f"{step}-file":  # file in place, transaction not durable
            die(point)
        transact(self, records, changes, origin, keys, **kw)
        if step is not None and point == f"{step}-txn":  # durable, queue entry not yet removed
            die(point)

    QueueStore.write_message = qs_write_message
    QueueStore.write_journal = qs_write_journal
    Account._transact_applied = acc_transact


def message() -> bytes:
    return (
        b"From: <mox@localhost>\r\nTo: <rcpt@example.org>\r\nSubject: crash point\r\n"
        b"Message-ID: <crash-point@example.org>\r\n\r\nhello\r\n"
    )


def crash(data_dir: str, point: str, rcpt: str) -> None:
    install(point)
    srv = LocalServer(Path(data_dir), check_consistency=False)
    srv.__enter__()
    try:
        with smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=30) as c:
            c.ehlo("localhost")
            c.login("mox@localhost", "moxmoxmox")
            c.sendmail("mox@localhost", [rcpt], message())
    except (OSError, smtplib.SMTPException):
        pass
    # Wait for the queue to reach the point (the process ends there).
    threading.Event().wait(30)
    print("point never reached")
    sys.exit(1)


def message_ids(srv: LocalServer, account: str) -> list[str]:
    if account not in srv.store.account_names():
        return []
    acc = srv.store.open_account(account)
    try:
        ids = []
        for m in acc.messages(acc.mailbox("Inbox").id):
            head = acc.read_message(m).split(b"\r\n\r\n", 1)[0]
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"message-id:"):
                    mid = line.split(b":", 1)[1].strip().decode()
                    ids.append("dsn" if mid.startswith("<dsn") or b"multipart/report" in head else mid)
        return sorted(ids)
    finally:
        acc.close()


def finish(data_dir: str, view: str) -> None:
    with LocalServer(Path(data_dir)) as srv:  # consistency checked at exit
        deadline = time.monotonic() + 30
        while srv.ctx.queue.list() and time.monotonic() < deadline:
            time.sleep(0.05)
        queued = len(srv.ctx.queue.list())
        out = {"queued": queued, "main": message_ids(srv, "mox"), "view": message_ids(srv, view)}
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[2] == "crash":
        crash(sys.argv[1], sys.argv[3], sys.argv[4])
    else:
        finish(sys.argv[1], sys.argv[3])
