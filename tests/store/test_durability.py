"""The order of durable steps of a delivery: file fsync, rename, directory fsync, journal fsync,
and only then the change broadcast and the return."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import trio
from storetest import msg

from mox.store import layout


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
