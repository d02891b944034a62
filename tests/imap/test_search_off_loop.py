"""Search keys that read message files (header keys, BODY, TEXT) are evaluated in worker
threads, a batch of messages per thread hop: while a SEARCH, SORT or MULTISEARCH reads files,
other connections are served. Proved by the order of events with reads that block on an event,
never by timing: with the reads on the event loop, the other connection's NOOP could only be
answered after the reads were released, and the test would fail on the NOOP's timeout."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from mox.imap import cmd_search
from mox.imap import responses as r
from mox.imap import search as search_mod
from mox.store.files import MessageFiles


def mail(n: int) -> bytes:
    subject = f"report {n}" if n % 3 == 0 else f"note {n}"
    body = "needle in a haystack" if n % 4 == 0 else "just hay"
    return f"From: a{n}@localhost\r\nSubject: {subject}\r\nMessage-ID: <m{n}@x>\r\n\r\n{body}\r\n".encode()


class Hold:
    """Blocks the file reads of a worker thread until released; records the order of events."""

    def __init__(self, imap: Any) -> None:
        self.timeout = imap.timeout
        self.events: list[str] = []
        self.reading = threading.Event()
        self.released = threading.Event()
        self.loop_thread: threading.Thread | None = None

    def block(self) -> None:
        if threading.current_thread() is self.loop_thread:
            self.events.append("read on the event loop")
            return
        if not self.reading.is_set():
            self.events.append("reading")
            self.reading.set()
            if not self.released.wait(2 * self.timeout):
                self.events.append("never released")


@pytest.fixture
def held(imap, monkeypatch) -> Hold:
    imap.start()
    h = Hold(imap)

    def find_loop() -> None:
        h.loop_thread = threading.current_thread()

    async def note_thread() -> None:
        find_loop()

    imap.run(note_thread)
    read, prefix = MessageFiles.read, search_mod.header_prefix

    def held_read(self: MessageFiles, id: int, size: int = 0) -> bytes:
        h.block()
        return read(self, id, size)

    def held_prefix(acc: Any, msg: Any, n: int) -> bytes:
        h.block()
        return prefix(acc, msg, n)

    monkeypatch.setattr(MessageFiles, "read", held_read)
    monkeypatch.setattr(search_mod, "header_prefix", held_prefix)
    # Fresh header cache: the header keys read the files.
    monkeypatch.setattr(search_mod, "_header_cache", {})
    monkeypatch.setattr(search_mod, "_header_cache_size", 0)
    return h


@pytest.mark.parametrize(
    ("command", "want"),
    [
        ("uid search body needle", r.UntaggedSearch(tuple(range(4, 301, 4)))),
        ("uid search text needle", r.UntaggedSearch(tuple(range(4, 301, 4)))),
        ("uid search subject report", r.UntaggedSearch(tuple(range(3, 301, 3)))),
        ("uid search header message-id <m7@x>", r.UntaggedSearch((7,))),
        ("uid sort (arrival) utf-8 body needle", r.UntaggedSort(tuple(range(4, 301, 4)))),
    ],
)
def test_file_reads_leave_the_event_loop_free(imap, held, monkeypatch, command, want):
    monkeypatch.setattr(cmd_search, "SEARCH_BATCH", {k: 64 for k in cmd_search.SEARCH_BATCH})
    for n in range(1, 301):
        imap.deliver(mail(n))
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    other = imap.connect()
    tc.command(command)
    assert held.reading.wait(imap.timeout)
    other.transact("ok", "noop")
    held.events.append("noop answered")
    held.released.set()
    tc.response("ok")
    assert held.events == ["reading", "noop answered"]
    tc.expect_untagged(want)


def test_multisearch_file_reads_leave_the_event_loop_free(imap, held):
    for n in range(1, 101):
        imap.deliver(mail(n))
    tc = imap.connect()
    other = imap.connect()
    tc.command("esearch in (personal) return (count) body needle")
    assert held.reading.wait(imap.timeout)
    other.transact("ok", "noop")
    held.events.append("noop answered")
    held.released.set()
    tc.response("ok")
    assert held.events == ["reading", "noop answered"]
    [(resp, _)] = tc.untagged
    assert isinstance(resp, r.UntaggedEsearch) and resp.count == 25 and resp.mailbox == "Inbox"


def test_batches_are_one_hop_each(imap, monkeypatch):
    """One worker thread call per batch of messages, not per message."""
    import trio

    monkeypatch.setattr(cmd_search, "SEARCH_BATCH", {k: 40 for k in cmd_search.SEARCH_BATCH})
    for n in range(1, 101):
        imap.deliver(mail(n))
    hops: list[int] = []
    run_sync = trio.to_thread.run_sync

    async def counting(fn: Any, *args: Any, **kw: Any) -> Any:
        if getattr(fn, "__name__", "") == "run":
            hops.append(len(args[0]))
        return await run_sync(fn, *args, **kw)

    monkeypatch.setattr(cmd_search.trio.to_thread, "run_sync", counting)
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    tc.transact("ok", "uid search body needle")
    tc.expect_untagged(r.UntaggedSearch(tuple(range(4, 101, 4))))
    assert hops == [40, 40, 20]
    tc.transact("ok", "uid search unseen")  # index-only keys: no thread
    assert hops == [40, 40, 20]
