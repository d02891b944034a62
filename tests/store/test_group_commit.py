"""Group commit: concurrent writers share one journal fsync; changes arrive in commit order."""

from __future__ import annotations

import threading
import time

import pytest
import trio
from storetest import msg

from mox.store import ChangeAddUID
from mox.store.index import JOURNAL_MAGIC, scan_journal


@pytest.mark.trio
async def test_concurrent_writers_share_fsync(acc):
    n = 24
    batches: list[int] = []
    real_append = acc._journal.append
    all_queued = threading.Event()

    def append(data: bytes, *, sync: bool = True) -> None:
        assert sync  # deliveries wait for the fsync
        batches.append(len(scan_journal(JOURNAL_MAGIC + data).txns))
        if len(batches) == 1:
            # Hold the first flush until every other writer has queued its transaction.
            deadline = time.monotonic() + 10
            while len(acc._pending) < n - 1 and time.monotonic() < deadline:
                time.sleep(0.001)
            all_queued.set()
        real_append(data, sync=sync)

    acc._journal.append = append
    sub = acc.subscribe()
    results = []

    async def one(i: int) -> None:
        results.append((i, await acc.deliver("Inbox", msg(i))))

    async with trio.open_nursery() as nursery:
        for i in range(n):
            nursery.start_soon(one, i)
    assert all_queued.is_set()
    assert batches == [1, n - 1]  # 24 writes, 2 journal writes + fsyncs
    inbox = acc.mailbox("Inbox").id
    assert sorted(m.uid for _, m in results) == list(range(1, n + 1))
    for i, m in results:
        assert acc.read_message(acc.message(inbox, m.uid)) == msg(i)
    adds = [c for c in sub.pending() if isinstance(c, ChangeAddUID)]
    assert [c.uid for c in adds] == list(range(1, n + 1))  # commit order
    assert [c.modseq for c in adds] == list(range(2, n + 2))
    assert acc.check_consistency() == []


@pytest.mark.trio
async def test_many_writers_mixed_operations(store):
    acc = store.open_account("mox")
    await acc.create_mailbox("Other")
    inbox = acc.mailbox("Inbox").id
    other = acc.mailbox("Other").id
    sub = acc.subscribe()

    async def worker(w: int) -> None:
        for i in range(6):
            m = await acc.deliver("Inbox", msg(w * 100 + i), flags=[f"w{w}"])
            await acc.store_flags(inbox, [m.uid], "add", [r"\Seen"])
            if i % 2:
                await acc.move(inbox, [m.uid], other)
            elif i % 3 == 0:
                await acc.expunge(inbox, [m.uid])

    async with trio.open_nursery() as nursery:
        for w in range(8):
            nursery.start_soon(worker, w)
    assert acc.check_consistency() == []
    mbi, mbo = acc.mailbox_by_id(inbox), acc.mailbox_by_id(other)
    assert (mbi.total, mbo.total) == (8 * 2, 8 * 3)
    assert mbi.keywords == tuple(f"w{w}" for w in range(8))
    # Changes of one mailbox arrive with ascending modseqs (commit order).
    modseqs = [c.modseq for c in sub.pending() if hasattr(c, "modseq") and getattr(c, "mailbox_id", None) == inbox]
    assert modseqs == sorted(modseqs)
    before = (acc.mailboxes(), acc.messages(inbox), acc.messages(other), acc.expunged_uids(inbox, 0))
    acc.close()
    acc = store.open_account("mox")
    assert (acc.mailboxes(), acc.messages(inbox), acc.messages(other), acc.expunged_uids(inbox, 0)) == before
    acc.close()


@pytest.mark.trio
async def test_concurrent_deliveries_share_directory_fsync(acc, monkeypatch):
    # Each delivery fsyncs its own message file; the directory entries of a whole batch are
    # made durable by the flusher with one fsync of the directory, before the journal records.
    from mox.store import layout

    await acc.deliver("Inbox", msg(0))  # the message directory exists
    events: list[str] = []
    real_fsync_dir, real_append = layout.fsync_dir, acc._journal.append
    monkeypatch.setattr(layout, "fsync_dir", lambda p: (events.append("dir"), real_fsync_dir(p))[1])

    def append(data: bytes, *, sync: bool = True) -> None:
        events.append(f"journal {len(scan_journal(JOURNAL_MAGIC + data).txns)}")
        real_append(data, sync=sync)

    acc._journal.append = append
    n = 16
    async with trio.open_nursery() as nursery:
        for i in range(1, n + 1):
            nursery.start_soon(acc.deliver, "Inbox", msg(i))
    journal = [e for e in events if e.startswith("journal")]
    assert sum(int(e.split()[1]) for e in journal) == n
    # One directory fsync right before each journal write, none per delivery.
    assert events == [x for e in journal for x in ("dir", e)]
    assert acc.check_consistency() == []
