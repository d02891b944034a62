"""A full disk (ENOSPC) at every write of the store: the write fails with DiskFull, nothing of it
stays visible (no message, no file, no journal frame), the index stays consistent, and the same
open account takes writes again once space is freed, without a reopen."""

from __future__ import annotations

import os
import threading
import time

import pytest

from mox.store import DiskFull, Store, layout
from mox.store import commit as commit_mod
from tests.diskspace import DiskSpace

from storetest import msg


def files_of(acc) -> set[str]:
    root = acc.path / layout.MSG_DIR
    return {f"{d.name}/{f.name}" for d in root.iterdir() for f in d.iterdir()} if root.exists() else set()


def state_of(acc) -> tuple:
    """What a client could see: mailboxes with counts, and every message's uid and flags."""
    boxes = tuple((mb.name, mb.total, mb.unseen, mb.size) for mb in acc.mailboxes())
    msgs = tuple((m.mailbox_id, m.uid, m.flags) for mb in acc.mailboxes() for m in acc.messages(mb.id))
    return boxes, msgs, tuple(acc.subscriptions())


def tmp_files(data_dir) -> list[str]:
    return sorted(p.name for p in layout.tmp_dir(data_dir).iterdir())


def test_message_file_write_fails(acc, data_dir):
    acc.deliver_sync("Inbox", msg(1))
    before, files = state_of(acc), files_of(acc)
    with DiskSpace() as disk:
        disk.free = 100  # the message file is torn after 100 bytes
        with pytest.raises(DiskFull):
            acc.deliver_sync("Inbox", msg(2, "x" * 1000))
        assert disk.refused == 1
        assert state_of(acc) == before
        assert files_of(acc) == files
        assert tmp_files(data_dir) == []  # the torn temporary file is gone too
        assert acc.check_consistency() == []
        disk.free = None  # space freed: the same account object writes again
        m = acc.deliver_sync("Inbox", msg(3))
    assert acc.read_message(m) == msg(3)
    assert acc.check_consistency() == []


def test_journal_write_fails_after_message_file(acc, store, data_dir, logs):
    inbox = acc.mailbox("Inbox").id
    m1 = acc.deliver_sync("Inbox", msg(1))
    before, files = state_of(acc), files_of(acc)
    journal = acc.path / layout.JOURNAL_NAME
    jsize = journal.stat().st_size
    # Room for the message file, then 10 bytes of the journal frame: a torn frame.
    data = msg(2, "y" * 500)
    with DiskSpace() as disk:
        disk.free = len(data) + 10
        with pytest.raises(DiskFull):
            acc.deliver_sync("Inbox", data)
        assert journal.stat().st_size == jsize  # the torn frame was cut off
        assert state_of(acc) == before
        assert files_of(acc) == files  # the new message file was removed
        assert acc.check_consistency() == []
        assert "disk full: journal write failed" in logs.getvalue()
        disk.free = None
        m3 = acc.deliver_sync("Inbox", msg(3))
    # The UID the failed delivery had is not handed out again (a session may have seen it).
    assert m3.uid == m1.uid + 2
    assert [m.uid for m in acc.messages(inbox)] == [m1.uid, m3.uid]
    acc.close()
    acc2 = store.open_account("mox")  # what is on disk is what we saw
    assert [m.uid for m in acc2.messages(inbox)] == [m1.uid, m3.uid]
    assert acc2.check_consistency() == []
    acc2.close()
    store.open_account("mox")  # for the fixture's close


def test_every_other_write_fails_cleanly(acc):
    """Each kind of write, with no space at all: DiskFull and nothing changed."""
    inbox = acc.mailbox("Inbox").id
    archive = acc.mailbox("Archive").id
    for n in range(3):
        acc.deliver_sync("Inbox", msg(n))
    uids = [m.uid for m in acc.messages(inbox)]
    before, files = state_of(acc), files_of(acc)
    writes = [
        lambda: acc.store_flags_sync(inbox, uids, "add", [r"\Seen"]),
        lambda: acc.expunge_sync(inbox, uids[:1]),
        lambda: acc.copy_sync(inbox, uids, archive),
        lambda: acc.move_sync(inbox, uids, archive),
        lambda: acc.create_mailbox_sync("new/child"),
        lambda: acc.rename_mailbox_sync("Archive", "Old"),
        lambda: acc.rename_mailbox_sync("Inbox", "Saved"),
        lambda: acc.set_subscribed_sync("Junk", False),
        lambda: acc.set_subscribed_sync("ghost", True),  # a name that is no mailbox
        lambda: acc.delete_mailbox_sync("Junk"),
        lambda: acc.set_password_sync("secret"),
    ]
    with DiskSpace(0):
        for w in writes:
            with pytest.raises(DiskFull):
                w()
            assert state_of(acc) == before
            assert files_of(acc) == files
            assert acc.check_consistency() == []
    for w in writes:  # and each works once there is space
        w()
    assert acc.check_consistency() == []


def test_concurrent_writers_all_dropped(acc):
    """Transactions queued while the failing journal write is in progress depend on it: they are
    dropped too, their writers get DiskFull, and the index equals the disk again."""
    inbox = acc.mailbox("Inbox").id
    m1 = acc.deliver_sync("Inbox", msg(1))
    before, files = state_of(acc), files_of(acc)
    journal = acc.path / layout.JOURNAL_NAME
    in_append = threading.Event()
    release = threading.Event()

    class Blocking(DiskSpace):
        def __call__(self, path, n):
            if path == journal and not in_append.is_set():
                in_append.set()
                release.wait(10)
                return 0  # full
            return n

    results: dict[str, BaseException | object] = {}

    def run(name, fn):
        try:
            results[name] = fn()
        except BaseException as e:  # collected for the asserts below
            results[name] = e

    with Blocking():
        a = threading.Thread(target=run, args=("deliver", lambda: acc.deliver_sync("Inbox", msg(2))))
        a.start()
        assert in_append.wait(10)
        # These apply to memory (seeing message 2) and queue behind the flusher.
        b = threading.Thread(target=run, args=("flags", lambda: acc.store_flags_sync(inbox, [m1.uid, m1.uid + 1], "add", [r"\Flagged"])))
        c = threading.Thread(target=run, args=("deliver2", lambda: acc.deliver_sync("Inbox", msg(3))))
        b.start()
        c.start()
        deadline = time.monotonic() + 10
        while len(acc._pending) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(acc._pending) == 2
        release.set()
        for t in (a, b, c):
            t.join(10)
    assert all(isinstance(results[k], DiskFull) for k in ("deliver", "flags", "deliver2")), results
    assert state_of(acc) == before
    assert files_of(acc) == files
    assert acc.check_consistency() == []
    m = acc.deliver_sync("Inbox", msg(4))
    assert m.uid == m1.uid + 3  # neither of the dropped deliveries' UIDs is reused
    assert acc.check_consistency() == []


def test_snapshot_fails_writes_succeed(data_dir, logs):
    s = Store(data_dir, check_consistency_on_close=True, snapshot_threshold=2000, snapshot_on_close=1 << 30)
    s.create_account("mox")
    acc = s.open_account("mox")
    snap = acc.path / layout.SNAPSHOT_NAME
    with DiskSpace(0, only=lambda p: "snapshot" in p.name) as disk:
        for n in range(20):  # journal passes the threshold: snapshots are tried and fail
            acc.deliver_sync("Inbox", msg(n, "z" * 200))
        assert disk.refused >= 1
        assert not snap.exists()
        assert "snapshot skipped" in logs.getvalue()
        assert tmp_files(data_dir) == []
        # A failed snapshot is not retried at every write: only after the journal grew again.
        assert disk.refused < 10
        disk.free = None
        for n in range(20, 40):
            acc.deliver_sync("Inbox", msg(n, "z" * 200))
    assert snap.exists()
    assert len(acc.messages(acc.mailbox("Inbox").id)) == 40
    acc.close()
    acc = s.open_account("mox")
    assert len(acc.messages(acc.mailbox("Inbox").id)) == 40
    acc.close()
    s.close()


def test_journal_restart_fails_after_snapshot(data_dir, logs):
    """The snapshot is written, but the new empty journal is not: the old journal stays in use
    (its transactions up to the snapshot are skipped when the account opens)."""
    s = Store(data_dir, check_consistency_on_close=True, snapshot_threshold=1 << 30, snapshot_on_close=1 << 30)
    s.create_account("mox")
    acc = s.open_account("mox")
    for n in range(5):
        acc.deliver_sync("Inbox", msg(n))
    with DiskSpace(0, only=lambda p: "journal" in p.name):
        acc.snapshot()
    assert "journal not restarted" in logs.getvalue()
    for n in range(5, 8):
        acc.deliver_sync("Inbox", msg(n))
    acc.close()
    acc = s.open_account("mox")
    inbox = acc.mailbox("Inbox").id
    assert [acc.read_message(m) for m in acc.messages(inbox)] == [msg(n) for n in range(8)]
    acc.close()
    s.close()


def test_close_with_full_disk(data_dir, logs):
    s = Store(data_dir, check_consistency_on_close=True)
    s.create_account("mox")
    acc = s.open_account("mox")
    acc.deliver_sync("Inbox", msg(1))
    with DiskSpace(0):
        acc.close()  # the clean-close marker cannot be written: logged, not raised
    assert "disk full at close" in logs.getvalue()
    acc = s.open_account("mox")
    assert len(acc.messages(acc.mailbox("Inbox").id)) == 1
    acc.close()
    s.close()


def test_create_account_disk_full(data_dir):
    s = Store(data_dir)
    with DiskSpace(0):
        with pytest.raises(DiskFull):
            s.create_account("other")
    assert "other" not in s.account_names()
    s.create_account("other")
    assert "other" in s.account_names()
    s.close()


def test_journal_broken_when_cut_back_fails(acc, monkeypatch):
    """If even cutting the torn frame off fails, the account refuses writes (as for any other
    journal failure) instead of appending after garbage."""
    journal = acc._journal

    def no_truncate(size):
        raise OSError(5, "I/O error")

    monkeypatch.setattr(journal, "truncate", no_truncate)
    with DiskSpace(0, only=lambda p: p.name == layout.JOURNAL_NAME):
        with pytest.raises(Exception) as ei:
            acc.deliver_sync("Inbox", msg(1))
    assert not isinstance(ei.value, DiskFull)
    assert journal.broken
    monkeypatch.undo()
    with pytest.raises(Exception, match="failed earlier"):
        acc.deliver_sync("Inbox", msg(2))
    # Not consistent by construction (memory is ahead); close without the check.
    acc.store.check_consistency_on_close = False


# --- delivery keys ------------------------------------------------------------------------


def test_deliver_once(acc, store):
    inbox = acc.mailbox("Inbox").id
    m = acc.deliver_once_sync("Inbox", msg(1), "q-1")
    assert m is not None
    assert acc.deliver_once_sync("Inbox", msg(1), "q-1") is None
    assert acc.delivered("q-1") and not acc.delivered("q-2")
    assert len(acc.messages(inbox)) == 1
    # Expunging the message keeps the key: a late retry still delivers nothing.
    acc.expunge_sync(inbox, [m.uid])
    assert acc.deliver_once_sync("Inbox", msg(1), "q-1") is None
    acc.close()
    acc2 = store.open_account("mox")  # from the journal
    assert acc2.delivered("q-1")
    acc2.snapshot()
    acc2.close()
    acc3 = store.open_account("mox")  # from the snapshot
    assert acc3.delivered("q-1")
    assert acc3.deliver_once_sync("Inbox", msg(1), "q-1") is None
    assert len(acc3.messages(inbox)) == 0
    acc3.close()
    store.open_account("mox")


def test_deliver_once_key_failed_delivery_not_recorded(acc):
    with DiskSpace(0):
        with pytest.raises(DiskFull):
            acc.deliver_once_sync("Inbox", msg(1), "q-7")
    assert not acc.delivered("q-7")  # dropped with its transaction
    assert acc.deliver_once_sync("Inbox", msg(1), "q-7") is not None


def test_delivery_keys_pruned_at_snapshot(acc, store, monkeypatch):
    acc.deliver_once_sync("Inbox", msg(1), "old")
    monkeypatch.setattr(commit_mod, "DELIVERY_KEY_KEEP", -60)  # everything is older than that
    acc.snapshot()
    assert not acc.delivered("old")
    acc.close()
    acc2 = store.open_account("mox")
    assert not acc2.delivered("old")
    acc2.close()
    store.open_account("mox")


def test_old_index_records_decode():
    """Journals and snapshots written before delivery keys existed still load (the new fields
    are trailing with defaults), and older readers ignore them."""
    import msgspec

    from mox.store.schema import Frame, Snapshot, Txn

    old_txn = msgspec.msgpack.encode(["txn", 3, 10, 5, 7, []])
    t = msgspec.msgpack.decode(old_txn, type=Frame)
    assert isinstance(t, Txn) and t.keys == []
    old_snap = msgspec.msgpack.encode(["snap", 3, 10, 5, 7, [], None])
    assert msgspec.msgpack.decode(old_snap, type=Snapshot).keys == []

    class OldTxn(msgspec.Struct, array_like=True, tag="txn"):
        seq: int
        next_id: int
        last_modseq: int
        next_uidvalidity: int
        records: list

    from mox.store.schema import DeliveryKey

    new = msgspec.msgpack.encode(Txn(3, 10, 5, 7, [], [DeliveryKey("k", 9, 1.0)]))
    assert msgspec.msgpack.decode(new, type=OldTxn).seq == 3


@pytest.mark.skipif(os.name == "nt", reason="uses the POSIX errno of a full disk")
def test_is_disk_full():
    import errno

    assert layout.is_disk_full(OSError(errno.ENOSPC, "x"))
    assert layout.is_disk_full(OSError(errno.EDQUOT, "x"))
    assert not layout.is_disk_full(OSError(errno.EIO, "x"))
    assert not layout.is_disk_full(ValueError())
