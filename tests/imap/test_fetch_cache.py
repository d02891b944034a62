"""ENVELOPE/BODYSTRUCTURE/BODY come from a cache keyed by the message's encoded MIME part: the
bytes must equal those built from the part, on first and later fetches and after eviction."""

from __future__ import annotations

from mox.imap import fetch

from .test_search_compiled import MESSAGES


def direct(m):
    part = m.part
    return [fetch.envelope(part.envelope if part else None), fetch.bodystructure(part, True), fetch.bodystructure(part, False)]


def test_rendered_equals_direct(imap, monkeypatch):
    imap.start()
    for data, flags, received in MESSAGES:
        imap.deliver(data, flags=flags, received=received)
    acc = imap.account
    msgs = acc.messages(acc.mailbox("Inbox").id)
    monkeypatch.setattr(fetch, "_render_cache", {})
    monkeypatch.setattr(fetch, "_render_cache_size", 0)
    for _ in range(2):
        for m in msgs:
            assert [fetch.rendered(m, w) for w in (0, 1, 2)] == direct(m)
    assert fetch._render_cache_size == sum(e.size for e in fetch._render_cache.values()) > 0
    # A tiny bound: entries are evicted, answers stay the same.
    monkeypatch.setattr(fetch, "RENDER_CACHE_MAX", 3000)
    monkeypatch.setattr(fetch, "_render_cache", {})
    monkeypatch.setattr(fetch, "_render_cache_size", 0)
    for _ in range(2):
        for m in msgs:
            assert [fetch.rendered(m, w) for w in (1, 0, 2)] == [direct(m)[w] for w in (1, 0, 2)]
    assert len(fetch._render_cache) < len(msgs)


def test_fetch_twice_same_bytes(imap):
    imap.start()
    for data, flags, received in MESSAGES:
        imap.deliver(data, flags=flags, received=received)
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    tc.transact("ok", "fetch 1:* (envelope bodystructure body)")
    first = [raw for _, raw in tc.untagged]
    tc.transact("ok", "fetch 1:* (envelope bodystructure body)")
    assert [raw for _, raw in tc.untagged] == first
    assert len(first) == len(MESSAGES)
    assert b'ENVELOPE ("Mon, 1 Jan 2024 10:00:00 +0000" "Report for January" (("Alice" NIL "alice" "example.org"))' in first[0]
