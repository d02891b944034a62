"""Junk filter training after concurrent writes: writers combine (one of them trains what the
others queued and saves once), and when every write has returned, every message is trained the
way its flags say."""

from __future__ import annotations

import threading

from mox.junk import Params
from mox.store import Store
from mox.store.junk import AccountSettings


def msg(i: int, words: str) -> bytes:
    return f"From: a@example.org\r\nSubject: m{i}\r\n\r\n{words} number{i}\r\n".encode()


def test_concurrent_deliveries_all_trained(data_dir) -> None:
    store = Store(data_dir, fsync=True, check_consistency_on_close=True)
    store.settings = lambda name: AccountSettings(junk_filter=Params())
    store.create_account("mox")
    acc = store.open_account("mox")
    try:
        ids: list[int] = []
        errors: list[BaseException] = []

        def writer(k: int) -> None:
            try:
                for i in range(8):
                    n = k * 100 + i
                    spam = n % 2 == 0
                    m = acc.deliver_sync(
                        "Junk" if spam else "Inbox", msg(n, "casino prize" if spam else "meeting agenda"),
                        flags=["$Junk"] if spam else ["$NotJunk"],
                    )
                    ids.append(m.id)
            except BaseException as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=writer, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        jf = acc.junk_filter()
        assert jf is not None
        want = {id: acc.message_by_id(id).flags for id in ids}  # type: ignore[union-attr]
        assert {id: jf.trained.get(id) for id in ids} == {id: "$Junk" in f for id, f in want.items()}
        assert (jf.spams, jf.hams) == (24, 24)

        # Expunging untrains (the filter held the files for it); the files are gone afterwards.
        inbox = acc.mailbox("Inbox")
        assert inbox is not None
        uids = [m.uid for m in acc.messages(inbox.id)]
        acc.expunge_sync(inbox.id, uids)
        assert jf.hams == 0 and jf.spams == 24
        assert not any(acc.files.path(id).exists() for id in ids if "$Junk" not in want[id])
    finally:
        acc.close()
        store.close()


def test_training_not_fsynced_and_retrained_after_lost_frames(data_dir, monkeypatch) -> None:
    """Training a delivery appends to the filter's journal without an fsync (untraining a
    removed message keeps its fsync: the file goes after it); frames a crash of the machine
    takes off the journal's end are trained again when the account opens the filter."""
    import os

    from mox.store import index

    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else "?")
        real_fsync(fd)

    monkeypatch.setattr(index.os, "fsync", fsync)
    store = Store(data_dir, fsync=True, check_consistency_on_close=True)
    store.settings = lambda name: AccountSettings(junk_filter=Params())
    store.create_account("mox")
    acc = store.open_account("mox")
    try:
        acc.junk_filter()  # created (its files fsynced)
        synced.clear()
        kept = acc.deliver_sync("Inbox", msg(1, "meeting agenda"), flags=["$NotJunk"])
        gone = acc.deliver_sync("Junk", msg(2, "casino prize"), flags=["$Junk"])
        if os.path.exists("/proc/self/fd"):
            assert [p for p in synced if p.endswith(".journal") and "junk" in p] == []
            assert any(p.endswith("index.journal") for p in synced)  # the deliveries themselves
        junk = acc.mailbox("Junk")
        assert junk is not None
        synced.clear()
        acc.expunge_sync(junk.id, [gone.uid])
        if os.path.exists("/proc/self/fd"):
            assert [p for p in synced if "junkfilter" in p] != []
    finally:
        acc.close()
    # The machine crashed: the journal's frames after its magic never reached the disk.
    [journal] = data_dir.rglob("junkfilter.db.journal")
    from mox.junk.filter import JOURNAL_MAGIC

    journal.write_bytes(JOURNAL_MAGIC)
    acc = store.open_account("mox")
    try:
        jf = acc.junk_filter()
        assert jf is not None
        assert jf.trained == {kept.id: False}
        assert (jf.hams, jf.spams) == (1, 0)
    finally:
        acc.close()
        store.close()
