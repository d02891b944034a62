"""Removed messages that a session still shows (store/changes.py, "holding"): an IMAP session may
fetch any message it has not been told is expunged (RFC 9051 7.4.1, RFC 2180 4.1.1), so a
subscriber that shows a mailbox holds removals from it. The record as before the removal and the
file stay until every holder released the removal; then the file goes. A clean close removes what
is left; after a crash the files are strays, removed at open. None of it is an inconsistency."""

from __future__ import annotations

import subprocess
import sys

from storetest import msg

from mox.store import ChangeRemoveMailbox, ChangeRemoveUIDs, Store


def consistent(acc):
    assert acc.check_consistency() == []


def removals(sub):
    return [c for c in sub.pending() if isinstance(c, (ChangeRemoveUIDs, ChangeRemoveMailbox))]


def test_expunged_message_kept_until_released(acc):
    inbox = acc.mailbox("Inbox").id
    m1 = acc.deliver_sync("Inbox", msg(1))
    m2 = acc.deliver_sync("Inbox", msg(2))
    shown = acc.subscribe()  # a session showing Inbox
    mb, listing, modseq = acc.select_view(inbox, shown)
    assert [m.uid for m in listing] == [1, 2] and modseq == m2.modseq and mb.id == inbox
    other = acc.subscribe()  # a session that does not show Inbox (e.g. webmail, IMAP not selected)

    assert acc.expunge_sync(inbox, [1]) == [1]
    assert acc.message(inbox, 1) is None
    assert acc.removed_message(inbox, 1) == m1  # as it was, flags and all
    assert acc.read_message(m1) == msg(1)  # the file is still there
    consistent(acc)  # a kept file is not a stray

    [ch] = removals(shown)
    assert ch == ChangeRemoveUIDs(inbox, [1], ch.modseq, (m1.id,))
    assert shown.holds(ch)
    [ch2] = removals(other)
    assert not other.holds(ch2)  # not showing Inbox: nothing to hold
    other.release(ch2)  # harmless
    assert acc.message_path(m1).exists()

    shown.release(ch)  # told its client
    assert acc.removed_message(inbox, 1) is None
    assert acc.has_released_files()
    consistent(acc)  # queued for removal, not a stray either
    acc.remove_released_files()
    assert not acc.message_path(m1).exists()
    assert acc.message_path(m2).exists()
    shown.release(ch)  # twice is harmless
    consistent(acc)
    shown.close()
    other.close()


def test_every_holder_releases_and_close_releases(acc):
    inbox = acc.mailbox("Inbox").id
    m = acc.deliver_sync("Inbox", msg(1))
    a, b = acc.subscribe(), acc.subscribe()
    acc.select_view(inbox, a)
    acc.select_view(inbox, b)
    acc.expunge_sync(inbox, [1], origin=None)
    [ch] = removals(a)
    a.release(ch)
    acc.remove_released_files()
    assert acc.message_path(m).exists()  # b still shows it
    b.close()  # a session that ends releases what it held
    acc.remove_released_files()
    assert not acc.message_path(m).exists()
    consistent(acc)
    a.close()


def test_origin_and_other_mailboxes_do_not_hold(acc):
    inbox = acc.mailbox("Inbox").id
    archive = acc.mailbox("Archive").id
    m1 = acc.deliver_sync("Inbox", msg(1))
    m2 = acc.deliver_sync("Inbox", msg(2))
    me, elsewhere = acc.subscribe(), acc.subscribe()
    acc.select_view(inbox, me)
    acc.select_view(archive, elsewhere)
    acc.expunge_sync(inbox, [1], origin=me)  # the session expunging tells its client itself
    assert not acc.message_path(m1).exists()
    # Unselecting releases: a move to Archive while `me` shows nothing any more.
    acc.unselect_view(me)
    assert acc.move_sync(inbox, [2], archive) == [(2, 1)]
    assert not acc.message_path(m2).exists()
    consistent(acc)
    me.close()
    elsewhere.close()


def test_selecting_again_releases(acc):
    inbox = acc.mailbox("Inbox").id
    m = acc.deliver_sync("Inbox", msg(1))
    sub = acc.subscribe()
    acc.select_view(inbox, sub)
    acc.expunge_sync(inbox, [1])
    assert acc.message_path(m).exists()
    _, listing, _ = acc.select_view(inbox, sub)  # a new SELECT: the listing has it gone already
    assert listing == [] and sub.pending() == []
    acc.remove_released_files()
    assert not acc.message_path(m).exists()
    consistent(acc)
    sub.close()


def test_deleted_mailbox_files_kept_for_holders(acc):
    acc.create_mailbox_sync("a")
    box = acc.mailbox("a").id
    m = acc.deliver_sync("a", msg(1))
    sub = acc.subscribe()
    acc.select_view(box, sub)
    acc.delete_mailbox_sync("a")
    assert acc.read_message(m) == msg(1)  # a FETCH of it that was under way still reads it
    consistent(acc)
    [ch] = removals(sub)
    assert ch == ChangeRemoveMailbox(box, "a", (m.id,))
    sub.release(ch)
    acc.remove_released_files()
    assert not acc.message_path(m).exists()
    consistent(acc)
    sub.close()


def test_clean_close_removes_kept_files(tmp_path):
    data = tmp_path / "data"
    with Store(data, check_consistency_on_close=True) as store:
        store.create_account("mox")
        acc = store.open_account("mox")
        inbox = acc.mailbox("Inbox").id
        m = acc.deliver_sync("Inbox", msg(1))
        sub = acc.subscribe()
        acc.select_view(inbox, sub)  # never released: the store closes under it
        acc.expunge_sync(inbox, [1])
        path = acc.message_path(m)
        assert path.exists()
    assert not path.exists()
    with Store(data, check_consistency_on_close=True) as store:
        assert store.open_account("mox").check_consistency() == []


CRASHER = """
import os, sys
from mox.store import Store
store = Store(sys.argv[1])
acc = store.open_account("mox")
inbox = acc.mailbox("Inbox").id
m = acc.deliver_sync("Inbox", b"Subject: x\\r\\n\\r\\nbody\\r\\n")
sub = acc.subscribe()
acc.select_view(inbox, sub)
acc.expunge_sync(inbox, [m.uid])
assert acc.message_path(m).exists()
print(acc.message_path(m), flush=True)
os._exit(0)  # no close: as a crash
"""


def test_crash_leaves_kept_file_removed_at_open(tmp_path, logs):
    data = tmp_path / "data"
    with Store(data) as store:
        store.create_account("mox")
    out = subprocess.run([sys.executable, "-c", CRASHER, str(data)], capture_output=True, text=True, check=True)
    from pathlib import Path

    path = Path(out.stdout.strip())
    assert path.exists()  # the kept file outlived the process
    with Store(data, check_consistency_on_close=True) as store:
        acc = store.open_account("mox")
        assert not path.exists()  # a stray after the crash: removed when the account opened
        assert acc.check_consistency() == []
        acc.close()
    assert "removed stray message files" in logs.getvalue()


def test_copy_keeps_message_whose_flags_changed_meanwhile(acc):
    # The files are linked outside the account's lock; a flag change in that window replaces
    # the message's record. The message must still be copied (and moved), with its new flags.
    inbox = acc.mailbox("Inbox").id
    archive = acc.mailbox("Archive").id
    acc.deliver_sync("Inbox", msg(1))
    acc.deliver_sync("Inbox", msg(2))
    real = acc.files.link

    def link_after_flag_change(pairs):
        acc.store_flags_sync(inbox, [1, 2], "add", [r"\Flagged"])
        return real(pairs)

    acc.files.link = link_after_flag_change
    try:
        assert acc.copy_sync(inbox, [1], archive) == [(1, 1)]
        assert acc.move_sync(inbox, [2], archive) == [(2, 2)]
    finally:
        acc.files.link = real
    assert acc.message(archive, 1).flags == (r"\Flagged",)
    assert acc.message(archive, 2).flags == (r"\Flagged",)
    assert [m.uid for m in acc.messages(inbox)] == [1]
    consistent(acc)


def test_copy_of_message_expunged_while_linking(acc):
    # Expunged (and its file removed: nobody held it) between the copy's look-up and the link:
    # the copy skips it, as any message expunged before the copy commits.
    inbox = acc.mailbox("Inbox").id
    archive = acc.mailbox("Archive").id
    acc.deliver_sync("Inbox", msg(1))
    real = acc.files.link

    def link_after_expunge(pairs):
        acc.expunge_sync(inbox, [1])
        return real(pairs)

    acc.files.link = link_after_expunge
    try:
        assert acc.copy_sync(inbox, [1], archive) == []
    finally:
        acc.files.link = real
    assert acc.messages(archive) == []
    consistent(acc)
