"""Random sequences of writes (hypothesis): after every step the index is consistent, and a
reopen (journal replay, with or without snapshot) gives back exactly the same state."""

from __future__ import annotations

import tempfile

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from storetest import msg

from mox.store import Store, StoreError

NAMES = ["Inbox", "Archive", "a", "a/b", "c"]
FLAGS = [r"\Seen", r"\Deleted", r"\Flagged", "$Junk", "kw1", "KW2"]

op = st.one_of(
    st.tuples(st.just("deliver"), st.sampled_from(NAMES), st.lists(st.sampled_from(FLAGS), max_size=3)),
    st.tuples(
        st.just("flags"),
        st.sampled_from(NAMES),
        st.lists(st.integers(1, 8), max_size=4),
        st.sampled_from(["add", "remove", "replace"]),
        st.lists(st.sampled_from(FLAGS), max_size=3),
    ),
    st.tuples(st.just("expunge"), st.sampled_from(NAMES), st.lists(st.integers(1, 8), max_size=4)),
    st.tuples(st.sampled_from(["copy", "move"]), st.sampled_from(NAMES), st.lists(st.integers(1, 8), max_size=4), st.sampled_from(NAMES)),
    st.tuples(st.just("create"), st.sampled_from(NAMES)),
    st.tuples(st.just("delete"), st.sampled_from(NAMES)),
    st.tuples(st.just("rename"), st.sampled_from(NAMES), st.sampled_from(NAMES + ["x/y"])),
    st.tuples(st.just("subscribe"), st.sampled_from(NAMES), st.booleans()),
    st.tuples(st.sampled_from(["snapshot", "reopen"])),
)


def state(acc):
    mbs = acc.mailboxes()
    return (
        mbs,
        {mb.id: acc.messages(mb.id) for mb in mbs},
        {mb.id: acc.expunged_uids(mb.id, 0) for mb in mbs},
        acc.disk_usage(),
        acc.highest_modseq(),
    )


def run(acc, o) -> None:
    kind = o[0]
    mb = acc.mailbox(o[1]) if len(o) > 1 and isinstance(o[1], str) else None
    if kind == "deliver":
        acc.deliver_sync(o[1], msg(len(o[2])), flags=o[2])
    elif kind == "flags" and mb:
        acc.store_flags_sync(mb.id, o[2], o[3], o[4])
    elif kind == "expunge" and mb:
        acc.expunge_sync(mb.id, o[2])
    elif kind in ("copy", "move") and mb and acc.mailbox(o[3]):
        getattr(acc, f"{kind}_sync")(mb.id, o[2], acc.mailbox(o[3]).id)
    elif kind == "create":
        acc.create_mailbox_sync(o[1])
    elif kind == "delete":
        acc.delete_mailbox_sync(o[1])
    elif kind == "rename":
        acc.rename_mailbox_sync(o[1], o[2])
    elif kind == "subscribe":
        acc.set_subscribed_sync(o[1], o[2])
    elif kind == "snapshot":
        acc.snapshot()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=5, max_size=40))
def test_random_operations(ops):
    with tempfile.TemporaryDirectory() as d:
        store = Store(d, fsync=False, check_consistency_on_close=True)
        store.create_account("mox")
        acc = store.open_account("mox")
        acc.create_mailbox_sync("a/b")
        done: list[str] = []
        try:
            for o in ops:
                if o[0] == "reopen":
                    before = state(acc)
                    acc.close()
                    acc = store.open_account("mox")
                    assert state(acc) == before
                    continue
                pre = state(acc)
                try:
                    run(acc, o)
                except StoreError:
                    assert state(acc) == pre  # refused (no such mailbox, exists, ...): no change
                else:
                    done.append(o[0])
                assert acc.check_consistency() == [], o
            before = state(acc)
            acc.close()
            acc = store.open_account("mox")
            assert state(acc) == before
            event(f"{len(done)} of {len(ops)} operations applied")
        finally:
            acc.close()
            store.close()
