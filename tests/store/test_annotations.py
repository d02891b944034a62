"""Metadata entries (IMAP METADATA) in the store: set, removed, limited, and kept in the journal
and in snapshots across a reopen; a deleted mailbox's entries go with it."""

from __future__ import annotations

import pytest

from mox.store import MetadataTooLarge, MetadataTooMany, Store, writes


def entries(acc, mbid):
    return [(a.key, a.value, a.is_string) for a in acc.annotations(mbid)]


@pytest.mark.parametrize("snapshot", [False, True])
def test_persisted(tmp_path, snapshot):
    store = Store(tmp_path, fsync=False)
    store.create_account("a")
    acc = store.open_account("a")
    acc.create_mailbox_sync("Box")
    box = acc.mailbox("Box").id
    acc.set_annotations_sync(None, [("/private/Comment", b"server", True)])
    acc.set_annotations_sync("Box", [("/shared/bin", b"\x00\x01", False), ("/private/x", b"x", True)])
    acc.set_annotations_sync("Box", [("/private/x", None, True)])
    if snapshot:
        acc.snapshot()
    acc.close()
    store.close()
    store = Store(tmp_path, fsync=False)
    acc = store.open_account("a")
    assert entries(acc, 0) == [("/private/comment", b"server", True)]
    assert entries(acc, box) == [("/shared/bin", b"\x00\x01", False)]
    acc.delete_mailbox_sync("Box")
    assert entries(acc, box) == []
    assert acc.check_consistency() == []
    acc.close()
    store.close()


def test_limits(tmp_path, monkeypatch):
    monkeypatch.setattr(writes, "METADATA_MAX_ENTRIES", 2)
    monkeypatch.setattr(writes, "METADATA_MAX_SIZE", 20)
    store = Store(tmp_path, fsync=False)
    store.create_account("a")
    acc = store.open_account("a")
    acc.set_annotations_sync(None, [("/private/a", b"1", True)])
    with pytest.raises(MetadataTooMany):
        acc.set_annotations_sync("Inbox", [("/private/b", b"2", True), ("/private/c", b"3", True)])
    with pytest.raises(MetadataTooLarge):
        acc.set_annotations_sync("Inbox", [("/private/b", b"x" * 11, True)])
    assert entries(acc, acc.mailbox("Inbox").id) == []
    acc.close()
    store.close()
