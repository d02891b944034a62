"""The submission's copy in Sent is stored after the 250: the queue records the promise of the
copy with the entries (durable before the 250) and stores it afterwards, exactly once, also
when the server stops before it did (mox.queue.sentcopy). The kill -9 cases are in
tests/queue/test_crash_points.py (points sent-250, sent-file, sent-txn) and tests/test_crash.py."""

from __future__ import annotations

import threading

import pytest
import trio

from mox.queue.sentcopy import SentCopies
from tests.smtp.test_queue import submit


@pytest.fixture
def held(monkeypatch):
    """Sent copies wait until the event is set (the server answers meanwhile)."""
    release = threading.Event()
    store_one = SentCopies._store_one

    async def held_store_one(self, c, file, done, retry):
        await trio.to_thread.run_sync(release.wait, abandon_on_cancel=True)
        await store_one(self, c, file, done, retry)

    monkeypatch.setattr(SentCopies, "_store_one", held_store_one)
    return release


def sent_records(smtp):
    return smtp.server.run_sync_in_server(lambda: sorted(smtp.ctx.queue.store.sent_copies))


def test_sent_copy_after_the_250(smtp, held):
    tc = smtp.connect(login=True)
    submit(tc, ["mox@localhost"])
    # The 250 came while the copy waits: it is promised in the queue, not in Sent yet; the
    # message itself is delivered meanwhile.
    assert len(smtp.wait_messages("Inbox", 1)) == 1
    assert smtp.wait_queue_empty() == []
    assert smtp.messages("Sent") == []
    [cid] = sent_records(smtp)
    # The queue file stays for the copy although the entry is delivered.
    assert [p.name for p in (smtp.data_dir / "queue" / "msg").iterdir()] == [str(cid)]
    held.set()
    [sent] = smtp.wait_messages("Sent", 1)
    assert sent.endswith(b"\r\nhello\r\n")
    assert sent.startswith(b"Received: from localhost by localhost")
    tc.transact("NOOP", "250 2.0.0 alrighty")
    # Its record is removed with the file once the copy is stored.
    assert smtp.wait_queue_settled() == []
    assert list((smtp.data_dir / "queue" / "msg").iterdir()) == []
    assert len(smtp.messages("Sent")) == 1


def test_sent_copy_stored_after_restart(smtp, held):
    """The server stops between the 250 and the copy: the next start stores it, once."""
    tc = smtp.connect(login=True)
    submit(tc, ["mox@localhost", "other@example.com"])
    assert len(sent_records(smtp)) == 1
    smtp.restart()  # held.set() never came: nothing stored before the stop
    assert smtp.messages("Sent") == []
    held.set()
    [sent] = smtp.wait_messages("Sent", 1)
    assert sent.endswith(b"\r\nhello\r\n")
    assert smtp.wait_queue_empty() == []
    assert smtp.wait_queue_settled() == []
    # A second restart stores nothing again.
    smtp.restart()
    tc = smtp.connect(login=True)
    tc.transact("NOOP", "250 2.0.0 alrighty")
    assert len(smtp.messages("Sent")) == 1


def test_no_sent_copy_without_sent_mailbox(smtp):
    """Without a Sent mailbox there is no copy, and the promise is dropped all the same."""
    smtp.start()

    async def delete_sent():
        acc = smtp.store.open_account("mox")
        try:
            await acc.delete_mailbox("Sent")
        finally:
            acc.close()

    smtp.server.run_in_server(delete_sent)
    tc = smtp.connect(login=True)
    submit(tc, ["mox@localhost"])
    assert len(smtp.wait_messages("Inbox", 1)) == 1
    assert smtp.wait_queue_empty() == []
    assert smtp.wait_queue_settled() == []
    assert list((smtp.data_dir / "queue" / "msg").iterdir()) == []
