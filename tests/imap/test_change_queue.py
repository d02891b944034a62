"""A session that does not read keeps a bounded queue of other sessions' changes
(mox/store/changes.py): compacted while it waits, and past its bound the session ends with BYE
(or, with NOTIFY, NOTIFICATIONOVERFLOW). Sizes are read through the store's API
(``Account.subscribers()``, ``size()``, ``peak``), never timed."""

from __future__ import annotations

from typing import Any

import pytest

from mox.imap import responses as r
from mox.imap.session import DEFERRED_COMPACT
from mox.store import changes as C

MSG = b"Subject: x\r\n\r\nbody\r\n"


def _sub_of(imap: Any, before: list[Any]) -> Any:
    """The subscription a connection made since ``before`` was listed."""
    new = [s for s in imap.account.subscribers() if s not in before]
    assert len(new) == 1
    return new[0]


def _connect_selected(imap: Any, *enable: str, tls: bool = False) -> tuple[Any, Any]:
    before = imap.account.subscribers()
    tc = imap.connect(tls=tls)
    for e in enable:
        tc.transact("ok", f"enable {e}")
    tc.transact("ok", "select inbox")
    return tc, _sub_of(imap, before)


class View:
    """What a client knows of the selected mailbox, from the responses it was sent."""

    def __init__(self, uids: list[int], flags: dict[int, tuple[str, ...]], modseq: dict[int, int]) -> None:
        self.uids = uids
        self.flags = flags
        self.modseq = modseq

    def apply(self, untagged: list[tuple[Any, bytes]]) -> None:
        for resp, _ in untagged:
            if isinstance(resp, r.UntaggedExpunge):
                uid = self.uids.pop(resp.seq - 1)
                self.flags.pop(uid, None)
                self.modseq.pop(uid, None)
            elif isinstance(resp, r.UntaggedExists):
                assert resp.count >= len(self.uids), "EXISTS shrank without EXPUNGE"
                self.uids += [0] * (resp.count - len(self.uids))
            elif isinstance(resp, r.UntaggedFetch):
                attrs = {type(a): a for a in resp.attrs}
                uid = attrs[r.FetchUID].uid
                if self.uids[resp.seq - 1] == 0:
                    self.uids[resp.seq - 1] = uid
                assert self.uids[resp.seq - 1] == uid
                self.flags[uid] = tuple(f for f in attrs[r.FetchFlags].flags if f != "\\Recent")
                if r.FetchModSeq in attrs:
                    ms = attrs[r.FetchModSeq].modseq
                    assert ms >= self.modseq.get(uid, 0), "MODSEQ went back"
                    self.modseq[uid] = ms

    def check(self, imap: Any, mailbox_id: int) -> None:
        msgs = sorted(imap.account.messages(mailbox_id), key=lambda m: m.uid)
        assert self.uids == [m.uid for m in msgs]
        assert {u: set(f) for u, f in self.flags.items()} == {m.uid: set(m.flags) for m in msgs}
        assert self.modseq == {m.uid: m.modseq for m in msgs}


def _view(tc: Any) -> View:
    tc.transact("ok", "fetch 1:* (uid flags modseq)")
    v = View([], {}, {})
    for resp, _ in tc.untagged:
        if isinstance(resp, r.UntaggedFetch):
            v.uids.append(0)
    v.apply(tc.untagged)
    return v


def test_idle_session_flag_changes_collapse(imap):
    """100,000 flag changes on 100 messages while a selected session sends nothing: its queue
    never holds more than the compaction threshold and one transaction, and its next NOOP
    shows every message's latest flags and MODSEQ."""
    for _ in range(100):
        imap.deliver(MSG)
    idle, sub = _connect_selected(imap, "condstore")
    view = _view(idle)
    other = imap.connect()
    unselected_before = imap.account.subscribers()
    unselected = imap.connect()  # authenticated only: no message changes are queued for it
    unselected_sub = _sub_of(imap, unselected_before)
    other.transact("ok", "select inbox")
    for i in range(1000):
        other.transact("ok", f"store 1:100 {'+' if i % 2 == 0 else '-'}flags.silent (\\Seen $Label{i % 7})")
    assert sub.peak <= C.COMPACT_AT + 100
    assert sub.size() <= C.COMPACT_AT + 100
    assert unselected_sub.peak == 0
    mailbox_id = imap.account.mailbox("Inbox").id
    idle.transact("ok", "noop")
    fetches = [resp for resp, _ in idle.untagged if isinstance(resp, r.UntaggedFetch)]
    assert len(fetches) == 100  # one per message, its latest state
    view.apply(idle.untagged)
    view.check(imap, mailbox_id)
    unselected.transact("ok", "noop")
    unselected.expect_no_untagged()


def test_idle_session_sees_correct_state_after_churn(imap, monkeypatch):
    """Messages added, flagged, expunged while a session waits, its queue compacted many
    times (a low threshold): the responses to its next NOOP turn its view into the mailbox as
    it is, and removed messages' files are gone once it was told."""
    monkeypatch.setattr(C, "COMPACT_AT", 16)
    for _ in range(10):
        imap.deliver(MSG)
    idle, sub = _connect_selected(imap, "condstore")
    view = _view(idle)
    other = imap.connect()
    other.transact("ok", "select inbox")
    for i in range(60):
        other.transact("ok", "append inbox ", MSG)
        other.transact("ok", f"store {1 + i % 5}:* +flags.silent (k{i % 3})")
        if i % 4 == 3:
            other.transact("ok", f"store {1 + i % 7},{3 + i % 5} +flags.silent (\\Deleted)")
            other.transact("ok", "expunge")
    # Compacted: at most twice what one change per message leaves, and one transaction (of
    # more than 2,000 changes made, to at most 70 messages).
    assert sub.peak <= 3 * 70
    mailbox_id = imap.account.mailbox("Inbox").id
    idle.transact("ok", "noop")
    view.apply(idle.untagged)
    view.check(imap, mailbox_id)
    told = set(view.uids)
    for uid in range(1, max(told) + 1):
        if uid not in told:  # expunged, and the idle session was told: nothing held any more
            assert imap.account.removed_message(mailbox_id, uid) is None


def test_deferred_expunges_merge(imap):
    """A session that only FETCHes never hears of expunges (RFC 9051 7.5.1); what it holds for
    them merges into one removal instead of one per EXPUNGE of the other session, and its next
    NOOP tells them all."""
    for _ in range(60):
        imap.deliver(MSG)
    fetcher, sub = _connect_selected(imap)
    other = imap.connect()
    other.transact("ok", "select inbox")
    for i in range(30):
        other.transact("ok", f"uid store {2 * i + 1} +flags.silent (\\Deleted)")
        other.transact("ok", "expunge")
        fetcher.transact("ok", "fetch 1 flags")
    assert sub.holding() <= DEFERRED_COMPACT + 1  # not 30
    fetcher.transact("ok", "noop")
    assert [resp.seq for resp, _ in fetcher.untagged if isinstance(resp, r.UntaggedExpunge)] == list(range(1, 31))
    assert sub.holding() == 0
    fetcher.transact("ok", "fetch 1:* uid")
    assert [resp.attrs[0].uid for resp, _ in fetcher.untagged] == list(range(2, 61, 2))


@pytest.mark.parametrize("tls", [False, True])
def test_idle_session_overflow_ends_with_bye(imap, monkeypatch, tls):
    """Past its bound a waiting session is told why and disconnected at once; the session
    making the changes goes on, and nothing stays held for the one that left."""
    monkeypatch.setattr(C, "COMPACT_AT", 8)
    monkeypatch.setattr(C, "MAX_QUEUED", 50)
    for _ in range(200):
        imap.deliver(MSG)
    idle, sub = _connect_selected(imap, tls=tls)
    other = imap.connect()
    other.transact("ok", "select inbox")
    other.transact("ok", "store 1:10 +flags.silent (\\Deleted)")
    other.transact("ok", "expunge")  # held for the idle session, which was not told yet
    other.transact("ok", "store 1:* +flags.silent (\\Seen)")  # 190 messages: past the bound
    assert idle.read_line() == f"* BYE {C.OVERFLOW_TEXT}"
    idle.expect_closed()
    assert sub.size() == 0
    imap.wait_until(lambda: sub.closed, "the idle session's subscription closed")
    other.transact("ok", "noop")
    assert imap.account.removed_message(imap.account.mailbox("Inbox").id, 1) is None


def test_overflow_during_idle_ends_with_bye(imap, monkeypatch):
    monkeypatch.setattr(C, "COMPACT_AT", 8)
    monkeypatch.setattr(C, "MAX_QUEUED", 50)
    for _ in range(100):
        imap.deliver(MSG)
    idle, sub = _connect_selected(imap)
    idle.command("idle")
    idle.read_line_prefix("+ ")
    other = imap.connect()
    other.transact("ok", "select inbox")
    other.transact("ok", "store 1:* +flags.silent (\\Seen)")  # 100 changes in one transaction
    assert idle.read_line() == f"* BYE {C.OVERFLOW_TEXT}"
    idle.expect_closed()


def test_notify_session_overflow_is_notificationoverflow(imap, monkeypatch):
    """With NOTIFY the session is told NOTIFICATIONOVERFLOW (RFC 5465 5.8) and goes on as after
    NOTIFY NONE."""
    monkeypatch.setattr(C, "COMPACT_AT", 8)
    monkeypatch.setattr(C, "MAX_QUEUED", 50)
    imap.connect().transact("ok", "create other")
    for _ in range(100):
        imap.deliver(MSG, mailbox="other")
    before = imap.account.subscribers()
    n = imap.connect()
    sub = _sub_of(imap, before)
    n.transact("ok", "notify set (personal (MessageNew MessageExpunge FlagChange))")
    other = imap.connect()
    other.transact("ok", "select other")
    other.transact("ok", "store 1:* +flags.silent (\\Seen)")
    line = n.read_line()
    while "NOTIFICATIONOVERFLOW" not in line:
        line = n.read_line()
    assert line.startswith("* OK [NOTIFICATIONOVERFLOW]")
    n.transact("ok", "noop")
    other.transact("ok", "store 1:* -flags.silent (\\Seen)")
    n.transact("ok", "noop")
    n.expect_no_untagged()  # NOTIFY NONE now
    assert not sub.overflowed


@pytest.mark.parametrize("n", [1, 5])
def test_compact_keeps_meaning(n):
    """compact() on a queue: flags collapse to the latest per message, an added and removed
    message disappears, removals of a mailbox merge at the place of the last (held ones stay
    held by the merged change)."""
    q: list[Any] = [C.ChangeAddUID(1, 10, 1, ())]
    for i in range(n):
        q.append(C.ChangeFlags(1, 10, 2 + i, (f"f{i}",)))
    r1 = C.ChangeRemoveUIDs(1, [3], 20, (103,))
    q += [r1, C.ChangeAddUID(1, 11, 21, ()), C.ChangeFlags(1, 4, 22, ("x",))]
    r2 = C.ChangeRemoveUIDs(1, [11, 4], 23, (111, 104))
    q += [r2, C.ChangeAddUID(1, 12, 24, ())]
    held: dict[int, object] = {id(r1): r1, id(r2): r2}
    out = C.compact(q, held)
    merged = C.ChangeRemoveUIDs(1, [3, 4, 11], 23, (103, 111, 104))
    assert out == [C.ChangeAddUID(1, 10, 1, ()), C.ChangeFlags(1, 10, 1 + n, (f"f{n - 1}",)), merged, C.ChangeAddUID(1, 12, 24, ())]
    assert list(held.values()) == [merged] and id(out[2]) in held


def test_notify_without_events_overflow_is_told_with_the_next_command(imap, monkeypatch):
    """A NOTIFY setting that tells nothing between commands (every group NONE): an overflow
    while the session waits for a command does not end it; the next command tells it
    (NOTIFICATIONOVERFLOW)."""
    monkeypatch.setattr(C, "COMPACT_AT", 8)
    monkeypatch.setattr(C, "MAX_QUEUED", 50)
    for _ in range(100):
        imap.deliver(MSG)
    n, sub = _connect_selected(imap)
    n.transact("ok", "notify set (selected none)")
    other = imap.connect()
    other.transact("ok", "select inbox")
    other.transact("ok", "store 1:* +flags.silent (\\Seen)")
    imap.wait_until(lambda: sub.overflowed, "the queue overflowed")
    n.transact("ok", "noop")
    n.expect_untagged_some("* OK [NOTIFICATIONOVERFLOW] out of sync after too many pending changes")
    assert not sub.overflowed
    n.transact("ok", "noop")
