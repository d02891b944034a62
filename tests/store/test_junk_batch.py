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
