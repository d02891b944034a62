"""mox.limits.slowmode on its own: the threshold, the per-attempt delay, slow reads and writes (virtual
time via trio's MockClock, so nothing here really waits)."""

from __future__ import annotations

import trio
import trio.testing

from mox.limits import slowmode
from mox.config import Limits
from mox.limits.limiter import Limiter


class Recorder(trio.abc.HalfCloseableStream):
    """Records each send_all with the (virtual) time it happened; serves canned reads."""

    def __init__(self, reads: list[bytes]) -> None:
        self.sends: list[tuple[float, bytes]] = []
        self.reads = list(reads)
        self.read_times: list[float] = []
        self.socket = "the socket"

    async def send_all(self, data) -> None:
        self.sends.append((trio.current_time(), bytes(data)))

    async def wait_send_all_might_not_block(self) -> None:
        pass

    async def send_eof(self) -> None:
        pass

    async def receive_some(self, max_bytes=None) -> bytes:
        self.read_times.append(trio.current_time())
        return self.reads.pop(0) if self.reads else b""

    async def aclose(self) -> None:
        pass


def run(afn):
    return trio.run(afn, clock=trio.testing.MockClock(autojump_threshold=0))


def test_threshold_and_attempt_delay():
    lim = Limiter(Limits(slow_after_auth_failures=3, auth_attempt_delay=2.0))
    mode = lim.slow_mode()
    delays = []
    for _ in range(5):
        delays.append((mode.slow, mode.attempt_delay_seconds()))
        mode.auth_failed()
    assert delays == [(False, 0.0), (False, 0.0), (False, 0.0), (True, 0.0), (True, 2.0)]
    assert (mode.slow, mode.attempt_delay_seconds(), lim.slowed_connections) == (True, 4.0, 1)
    mode.auth_succeeded()
    assert (mode.slow, mode.failures, mode.attempt_delay_seconds()) == (False, 0, 0.0)
    never = Limiter(Limits(slow_after_auth_failures=0)).slow_mode()
    for _ in range(10):
        never.auth_failed()
    assert (never.slow, never.attempt_delay_seconds()) == (False, 0.0)


def test_limiter_updates_current_connection():
    lim = Limiter(Limits())
    mode = lim.slow_mode()

    async def main():
        slowmode.set_current(mode)
        for _ in range(3):
            # Also from a worker thread, where Authenticator.login runs.
            await trio.to_thread.run_sync(lim.auth_failed, "127.0.0.1")
        assert mode.slow
        lim.auth_succeeded("127.0.0.1")
        assert not mode.slow

    run(main)
    lim.auth_failed("127.0.0.1")  # outside a connection: only the per-IP counters
    assert mode.failures == 0


def test_slow_stream():
    lim = Limiter(Limits(slow_read_delay=1.0, slow_write_delay=0.5, slow_write_max=2.0))
    mode = lim.slow_mode()
    rec = Recorder([b"a", b"b", b"c"])
    s = slowmode.SlowStream(rec, mode)
    assert s.socket == "the socket"  # other attributes come from the wrapped stream

    async def main():
        t0 = trio.current_time()
        await s.send_all(b"fast")
        assert await s.receive_some() == b"a"
        for _ in range(3):
            mode.auth_failed()
        await s.send_all(b"hello world")
        assert await s.receive_some() == b"b"
        mode.auth_succeeded()
        await s.send_all(b"quick")
        assert await s.receive_some() == b"c"
        return t0

    t0 = run(main)
    # Byte by byte every 0.5 s, the rest at once after 2 s.
    assert [(t - t0, d) for t, d in rec.sends] == [
        (0.0, b"fast"), (0.0, b"h"), (0.5, b"e"), (1.0, b"l"), (1.5, b"l"), (2.0, b"o world"), (3.0, b"quick"),
    ]
    assert [t - t0 for t in rec.read_times] == [0.0, 3.0, 3.0]  # 1 s before the slow read
    assert (lim.slowed_connections, lim.slowed_reads) == (1, 1)
