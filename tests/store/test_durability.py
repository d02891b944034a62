"""The order of durable steps of a delivery: file fsync, rename, directory fsync, journal fsync,
and only then the change broadcast and the return. Flag changes and expunges: written before the
return, fsynced after (docs/durability.md)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
import trio
from storetest import msg

from mox.store import commit, layout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="names fds through /proc/self/fd")
def test_deliver_durable_steps_in_order(acc, monkeypatch):
    events: list[tuple[str, str]] = []
    base = acc.store.data_dir

    def rel(p) -> str:
        return Path(p).relative_to(base).as_posix()

    real_fsync, real_replace, real_fsync_dir = os.fsync, os.replace, layout.fsync_dir

    def fsync(fd):
        path = os.readlink(f"/proc/self/fd/{fd}")
        if not os.path.isdir(path):  # directories are recorded by fsync_dir
            events.append(("fsync", rel(path)))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("rename", f"{rel(src).split('-')[0]} -> {rel(dst)}"))
        real_replace(src, dst)

    def fsync_dir(p):
        events.append(("fsync dir", rel(p)))
        real_fsync_dir(p)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(layout, "fsync_dir", fsync_dir)
    sub = acc.subscribe()
    real_push = sub._push
    sub._push = lambda changes, *a: (events.append(("broadcast", type(changes[0]).__name__)), real_push(changes, *a))[1]

    m = trio.run(lambda: acc.deliver("Inbox", msg(1)))
    events.append(("returned", str(m.uid)))
    tmp = [e for e in events if e[0] == "fsync" and e[1].startswith("tmp/")]
    assert len(tmp) == 1
    assert events == [
        ("fsync dir", "accounts/mox/msg"),  # the new directory msg/0
        tmp[0],  # tmp/store-mox-<id>-<pid>-<random>
        ("rename", f"tmp/store -> accounts/mox/msg/0/{m.id}"),
        ("fsync dir", "accounts/mox/msg/0"),
        ("fsync", "accounts/mox/index.journal"),
        ("broadcast", "ChangeAddUID"),
        ("returned", "1"),
    ]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="names fds through /proc/self/fd")
def test_flags_and_expunge_written_before_return_fsynced_after(acc, monkeypatch):
    # docs/durability.md: a flag change or an expunge is in the journal file when the call
    # returns (a killed process loses nothing), its fsync comes with the next new message or
    # from the timer within SYNC_DELAY; a removed message's file goes only after that fsync.
    m1 = trio.run(lambda: acc.deliver("Inbox", msg(1)))
    m2 = trio.run(lambda: acc.deliver("Inbox", msg(2)))
    inbox = acc.mailbox("Inbox").id
    jpath = acc.path / layout.JOURNAL_NAME
    events: list[str] = []
    real_fsync, real_unlink = os.fsync, Path.unlink

    def fsync(fd):
        if os.readlink(f"/proc/self/fd/{fd}") == str(jpath):
            events.append("journal fsync")
        real_fsync(fd)

    def unlink(self, *a, **kw):
        events.append(f"unlink {self.name}")
        real_unlink(self, *a, **kw)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(Path, "unlink", unlink)
    monkeypatch.setattr(commit, "SYNC_DELAY", 3600.0)  # only the next synced write fsyncs here
    size = jpath.stat().st_size
    acc.store_flags_sync(inbox, [m1.uid], "add", [r"\Flagged"])
    assert events == []
    assert jpath.stat().st_size > size  # written: a new process reading the file finds it
    # Nobody shows the mailbox, so the file goes at once, after the removal's fsync. (An IMAP
    # session that shows it removes it after its reply: test_concurrency.py.)
    acc.expunge_sync(inbox, [m2.uid])
    assert events == ["journal fsync", f"unlink {m2.id}"]
    assert not acc.message_path(m2).exists()

    # A new message's fsync covers a flag change written before it.
    events.clear()
    acc.store_flags_sync(inbox, [m1.uid], "add", [r"\Seen"])
    trio.run(lambda: acc.deliver("Inbox", msg(3)))
    assert events.count("journal fsync") == 1
    assert acc._synced_seq == acc._durable_seq


def test_flag_change_fsynced_by_timer(acc, monkeypatch):
    monkeypatch.setattr(commit, "SYNC_DELAY", 0.01)
    m = trio.run(lambda: acc.deliver("Inbox", msg(1)))
    acc.store_flags_sync(acc.mailbox("Inbox").id, [m.uid], "add", [r"\Flagged"])
    assert acc._synced_seq < acc._durable_seq
    deadline = time.monotonic() + 30
    while acc._synced_seq < acc._durable_seq and time.monotonic() < deadline:
        time.sleep(0.005)
    assert acc._synced_seq == acc._durable_seq
