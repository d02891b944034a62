from __future__ import annotations

import io
import sys

import pytest

from mox import mlog
from mox.store import Store


@pytest.fixture
def logs():
    """Captured mox log lines (store package at debug)."""
    buf = io.StringIO()
    mlog.set_output(buf)
    mlog.set_level("debug", "store")
    try:
        yield buf
    finally:
        mlog.set_level("", "store")
        mlog.set_output(sys.stderr)


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def store(data_dir, logs):
    """A store with account "mox"; fsync on (the durability tests need it, it is cheap here) and
    the consistency check at close."""
    s = Store(data_dir, fsync=True, check_consistency_on_close=True)
    s.create_account("mox")
    yield s
    s.close()


@pytest.fixture
def acc(store):
    a = store.open_account("mox")
    yield a
    a.close()
