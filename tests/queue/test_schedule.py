"""The queue's default retry schedule, on a frozen clock.

README ("Special addresses"): temporary failures in the queue are retried after 0.5 s, 1 s and
2 s, then a DSN arrives in the sender's Inbox. So a message to ``queue451@...`` is tried at 0,
0.5, 1.5 and 3.5 s after it was queued, and the DSN comes with the 4th failure. Those numbers are
written here from that sentence, not read from the code.

The whole localserve runs on a ``trio.testing.MockClock`` that stands still; the queue's wall
clock (``time.time`` in mox.queue.queue, which it stores in the journal) is tied to it, so the
test moves both on to each next attempt the entry announces and reads the attempts' times off
the queue entry: an attempt made early or late shows there.
"""

from __future__ import annotations

import email
import email.policy
import smtplib
import time
from typing import Any

import trio.testing

from mox.queue import queue as queue_mod
from mox.testing import LocalServer

BASE = 1_800_000_000.0  # the queue's wall clock at virtual time 0

MESSAGE = (
    b"From: <mox@localhost>\r\nTo: <queue451@example.org>\r\nSubject: retried\r\n"
    b"Message-ID: <retried@localhost>\r\n\r\nhello\r\n"
)


def test_default_retry_schedule_then_dsn(tmp_path, monkeypatch):
    clock = trio.testing.MockClock()

    class QueueTime:
        @staticmethod
        def time() -> float:
            return BASE + clock.current_time()

    monkeypatch.setattr(queue_mod, "time", QueueTime)
    with LocalServer(tmp_path / "d", clock=clock) as srv:
        with smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=30) as s:
            s.login(srv.address, srv.password)
            s.sendmail("mox@localhost", ["queue451@example.org"], MESSAGE)

        def state() -> tuple[list[Any], list[str]]:
            entries = srv.ctx.queue.list()
            acc = srv.store.open_account("mox")
            try:
                subjects = [_subject(acc.read_message(m)) for m in acc.messages(acc.mailbox("Inbox").id)]
            finally:
                acc.close()
            return entries, subjects

        # The clock is moved on to exactly the next attempt the entry announces (other timers of
        # the server must not push it past that); the attempt's own time is then read back.
        attempts: dict[int, tuple[float | None, float]] = {}
        wall = time.monotonic() + 60  # only for a broken queue: progress here is by events
        while True:
            assert time.monotonic() < wall, f"no DSN; attempts so far {attempts}"
            entries, subjects = srv.run_sync_in_server(state)
            for e in entries:
                last = None if e.last_attempt is None else round(e.last_attempt - e.queued, 6)
                attempts[e.attempts] = (last, round(e.next_attempt - e.queued, 6))
            if not entries and subjects:
                break
            ahead = entries[0].next_attempt - QueueTime.time() if entries else 0.0
            if ahead > 0:
                srv.jump(ahead)
            else:
                time.sleep(0.002)
        # (attempts so far: time of the last one, time of the next one), in seconds after queueing.
        # The first attempt may be over before the test looks, so the state before it is optional.
        assert attempts.pop(0, (None, 0.0)) == (None, 0.0)
        assert attempts == {1: (0.0, 0.5), 2: (0.5, 1.5), 3: (1.5, 3.5)}
        assert round(clock.current_time(), 6) == 3.5  # the 4th attempt failed for good: the DSN
        assert subjects == ["mail delivery failed"]


def _subject(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    return str(msg["Subject"])
