"""Child of test_crash_points.py: localserve in this process, dying (``os._exit``, as a SIGKILL
would: no cleanup, no flush) at one chosen step of a submission's way through the queue.

    python crash_points_child.py DATA_DIR crash POINT RECIPIENT [WEBHOOK_URL]
    python crash_points_child.py DATA_DIR finish VIEW

``crash`` submits one message to RECIPIENT and dies at POINT (with WEBHOOK_URL as account mox's
outgoing webhook); ``finish`` starts localserve on the same directory, waits until the queue, the
webhook queue and the Sent copies still to be stored are empty (waiting webhooks are made due at
once) and prints one JSON line: for the main account and the recipient's per-address view, the
Message-IDs in Inbox (DSNs included), those in the main account's Sent, and the retired webhooks.
"""

from __future__ import annotations

import json
import os
import smtplib
import sys
import threading
import time
from pathlib import Path

import trio

from mox.queue.hooks import HookFilter
from mox.queue.sentcopy import SentCopies
from mox.queue.store import Changes, QueueStore
from mox.store.account import Account
from mox.testing import LocalServer

DIE = 77
#: Set once the client has the 250 of its submission.
ACKED = threading.Event()


def die(point: str) -> None:
    sys.stdout.write(f"died at {point}\n")
    sys.stdout.flush()
    os._exit(DIE)


def install(point: str) -> None:
    """Patch the step named ``point`` to end the process right before or after it."""
    write_message = QueueStore.write_message
    write_journal = QueueStore.write_journal
    transact = Account._transact_applied
    store_one = SentCopies._store_one

    def qs_write_message(self, name, data):
        write_message(self, name, data)
        if point == "queue-file":  # message file written, no journal record
            die(point)

    def qs_write_journal(self, ch=None, **kw):
        write_journal(self, ch, **kw)
        ch = ch if ch is not None else Changes(**kw)
        if point == "queue-put" and ch.puts:  # durable in the queue, no 250 sent yet
            die(point)
        if point == "queue-remove" and ch.removes:  # delivered and dequeued
            die(point)
        if point == "hook-put" and ch.hooks:  # retired with its webhook, nothing posted yet
            die(point)
        if point == "hook-attempt" and any(h.results and h.results[-1].error == "delivering..." for h in ch.hook_updates):
            die(point)  # the attempt is durable, the POST not made

    def acc_transact(self, records, changes, origin, keys=(), **kw):
        keyed = [k.key for k in keys]
        view = self.name.startswith("view-")
        dsn = any("-dsn-" in k for k in keyed)
        sent = any(k.endswith("-sent") for k in keyed)
        step = ("dsn" if dsn else "sent" if sent else "view" if view else "main") if keyed else None
        if step is not None and point == f"{step}-file":  # file in place, transaction not durable
            die(point)
        transact(self, records, changes, origin, keys, **kw)
        if step is not None and point == f"{step}-txn":  # durable, queue entry not yet removed
            die(point)

    remove_files = QueueStore.remove_files

    def qs_remove_files(self, paths):
        if point == "queue-unlink" and paths:  # dequeued, its file not removed yet
            die(point)
        remove_files(self, paths)

    async def sent_store_one(self, c, file, done, retry):
        if point == "sent-250":  # the client has its 250, the Sent copy is not stored yet
            await trio.to_thread.run_sync(ACKED.wait)
            die(point)
        await store_one(self, c, file, done, retry)

    QueueStore.write_message = qs_write_message
    SentCopies._store_one = sent_store_one
    QueueStore.write_journal = qs_write_journal
    QueueStore.remove_files = qs_remove_files
    Account._transact_applied = acc_transact


def message() -> bytes:
    return (
        b"From: <mox@localhost>\r\nTo: <rcpt@example.org>\r\nSubject: crash point\r\n"
        b"Message-ID: <crash-point@example.org>\r\n\r\nhello\r\n"
    )


def crash(data_dir: str, point: str, rcpt: str, webhook_url: str = "") -> None:
    install(point)
    srv = LocalServer(Path(data_dir), check_consistency=False)
    srv.__enter__()
    if webhook_url:
        from mox import config as mconfig
        from mox.admin import provision

        srv.run_sync_in_server(
            lambda: provision.account_save(srv.ctx, "mox", outgoing_webhook=mconfig.OutgoingWebhook(url=webhook_url))
        )
    try:
        with smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=30) as c:
            c.ehlo("localhost")
            c.login("mox@localhost", "moxmoxmox")
            c.sendmail("mox@localhost", [rcpt], message())
            ACKED.set()
    except (OSError, smtplib.SMTPException):
        pass
    # Wait for the queue to reach the point (the process ends there).
    threading.Event().wait(30)
    print("point never reached")
    sys.exit(1)


def message_ids(srv: LocalServer, account: str, mailbox: str = "Inbox") -> list[str]:
    if account not in srv.store.account_names():
        return []
    acc = srv.store.open_account(account)
    try:
        ids = []
        for m in acc.messages(acc.mailbox(mailbox).id):
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
        q = srv.ctx.queue
        busy = lambda: q.list() or q.store.hooks or q.store.sent_copies or q.store.unsynced or q.store.pending_removals  # noqa: E731
        while busy() and time.monotonic() < deadline:
            # A webhook whose attempt was under way waits a minute (as mox): now instead.
            if q.store.hooks:
                srv.run_in_server(q.hooks.schedule, HookFilter(), 0.0, from_now=True)
            time.sleep(0.05)
        queued = len(q.list()) + len(q.store.hooks) + len(q.store.sent_copies)
        hooks = sorted((h.outgoing_event, h.attempts, h.success) for h in q.store.hooks_retired.values())
        stray = sorted(p.name for p in q.store.msg_dir.iterdir())  # message files nothing queues
        out = {
            "queued": queued, "main": message_ids(srv, "mox"), "view": message_ids(srv, view),
            "sent": message_ids(srv, "mox", "Sent"), "hooks": hooks, "stray": stray,
        }  # fmt: skip
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[2] == "crash":
        crash(sys.argv[1], sys.argv[3], sys.argv[4], *sys.argv[5:])
    else:
        finish(sys.argv[1], sys.argv[3])
