"""Uploads: a message written in parts to a temporary file becomes the message file by a rename
(written once, never copied), and is removed again when it does not become a message."""

from __future__ import annotations

import os

import pytest

from mox.store import DiskFull, OverQuota, layout
from tests.diskspace import DiskSpace

from storetest import msg


def tmp_names(data_dir) -> list[str]:
    return sorted(p.name for p in layout.tmp_dir(data_dir).iterdir())


def test_upload_renamed_into_place(acc, data_dir):
    data = msg(1, "x" * 10000)
    up = acc.new_upload()
    for i in range(0, len(data), 999):
        up.write(data[i : i + 999])
    ino = os.stat(up.path).st_ino
    m = acc.deliver_upload_sync("Inbox", up, flags=[r"\Seen"])
    assert acc.read_message(m) == data and m.size == len(data) and m.flags == (r"\Seen",)
    assert os.stat(acc.message_path(m)).st_ino == ino  # the same file: renamed, not copied
    up.discard()  # a no-op now
    assert acc.read_message(m) == data
    assert tmp_names(data_dir) == []


def test_upload_not_delivered_is_removed(acc, data_dir):
    up = acc.new_upload()
    up.write(b"abc")
    assert tmp_names(data_dir) != []
    up.discard()
    assert tmp_names(data_dir) == []


def test_upload_over_quota(acc, data_dir):
    acc.quota = 100
    up = acc.new_upload()
    up.write(msg(1, "y" * 200))
    with pytest.raises(OverQuota):
        acc.deliver_upload_sync("Inbox", up)
    up.discard()
    assert tmp_names(data_dir) == [] and acc.check_consistency() == []


def test_upload_disk_full(acc, data_dir):
    with DiskSpace(50):
        up = acc.new_upload()
        up.write(b"x" * 40)
        up.write(b"y" * 40)  # fills the disk: remembered, the file is gone, later data dropped
        up.write(b"z" * 40)
        assert up.error is not None and up.size == 120
        assert tmp_names(data_dir) == []
    with pytest.raises(DiskFull):
        acc.deliver_upload_sync("Inbox", up)
    up.discard()
    assert acc.messages(acc.mailbox("Inbox").id) == []
    assert acc.check_consistency() == []


def test_upload_file_cannot_be_created(acc, data_dir, monkeypatch):
    """Even creating the file can fail on a full disk: the upload takes (and drops) the data and
    delivering it raises DiskFull."""
    import builtins
    import errno

    real_open = builtins.open

    def full_open(path, mode="r", *a, **kw):
        if "w" in mode and "upload" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_open(path, mode, *a, **kw)

    monkeypatch.setattr(builtins, "open", full_open)
    up = acc.new_upload()
    monkeypatch.undo()
    up.write(b"data")
    with pytest.raises(DiskFull):
        acc.deliver_upload_sync("Inbox", up)
    up.discard()
    assert tmp_names(data_dir) == []
