"""The bounded cache of small message files (mox/store/filecache.py): its memory bound, and that
a cached file never outlives its file."""

from __future__ import annotations

import pytest
from storetest import msg

from mox.store import MessageGone
from mox.store.filecache import CACHE, FileCache


def test_bound_holds_least_recently_used_go_first():
    c = FileCache(limit=10_000, max_file=1_000)
    for i in range(100):
        c.put(f"f{i}", bytes([i % 256]) * 900)
        assert c.size <= 10_000 and c.size == 900 * len(c)
    assert len(c) == 11  # 11 x 900 bytes fit in 10,000
    assert c.get("f88") is None and c.get("f89") is not None
    c.get("f89")  # used: now the newest
    c.put("new", b"x" * 900)
    assert c.get("f89") is not None and c.get("f90") is None  # f90 was the oldest
    assert c.size == 11 * 900


def test_large_files_not_kept_and_replacing_counts_once():
    c = FileCache(limit=10_000, max_file=1_000)
    c.put("big", b"x" * 1_001)
    assert c.get("big") is None and c.size == 0
    c.put("a", b"x" * 500)
    c.put("a", b"y" * 700)
    assert c.get("a") == b"y" * 700 and c.size == 700
    c.drop("a")
    c.drop("a")
    assert c.get("a") is None and c.size == 0 and len(c) == 0


def test_process_cache_is_bounded():
    assert 0 < CACHE.limit <= 16 << 20
    assert CACHE.max_file <= CACHE.limit


@pytest.mark.trio
async def test_read_from_cache_then_expunged_file_is_gone(acc):
    inbox = acc.mailbox("Inbox").id
    ms = [await acc.deliver("Inbox", msg(i)) for i in range(2)]
    first = acc.read_message(ms[0])
    assert acc.read_message(ms[0]) is first  # the second read came from the cache
    assert await acc.expunge(inbox, [1]) == [1]
    assert not acc.message_path(ms[0]).exists()
    with pytest.raises(MessageGone):  # not served from the cache after its file went
        acc.read_message(ms[0])
    assert acc.read_message(ms[1]) == acc.message_path(ms[1]).read_bytes()
