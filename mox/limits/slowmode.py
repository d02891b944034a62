"""Per-connection slow mode and the per-attempt delay after failed authentications
(mox ``imapserver/server.go``, ``smtpserver/server.go``).

On its ``slow_after_auth_failures``-th failed authentication (mox: the 3rd) a connection turns
slow: ``slow_read_delay`` seconds before each read (mox: 1 s) and writes one byte per
``slow_write_delay`` seconds (mox: 1 s), the rest at once when a write has taken
``slow_write_max`` seconds (mox writes the rest when its 30 s write deadline is within 2 s). From
the next attempt on, each attempt first waits ``(failures - N) * auth_attempt_delay`` seconds. A
successful authentication ends both. All values come from ``mox.config.Limits``; tests use small
ones.

How it is wired: ``serve`` wraps every IMAP and SMTP connection's stream in a ``SlowStream`` and
makes its ``SlowMode`` the connection task's current one (a context variable, so it follows the
task into worker threads). ``Limiter.auth_failed`` / ``auth_succeeded`` (called by every login
path: ``Authenticator.login``, ``sasl.serve_exchange``, the IMAP SCRAM/CRAM-MD5 outcome) update
the current SlowMode, so the protocol servers need no bookkeeping of their own; a server may
``await before_auth_attempt()`` to apply the per-attempt delay.
"""

from __future__ import annotations

import contextvars
from typing import Any

import trio

from mox import mlog
from mox.config import Limits

log = mlog.get_logger("serve")

_current: contextvars.ContextVar[SlowMode | None] = contextvars.ContextVar("mox_slowmode", default=None)


class SlowMode:
    """The failed-authentication state of one connection."""

    def __init__(self, limits: Limits, stats: Any = None) -> None:
        self.threshold = limits.slow_after_auth_failures
        self.read_delay = float(limits.slow_read_delay)
        self.write_delay = float(limits.slow_write_delay)
        self.write_max = float(limits.slow_write_max)
        self.attempt_delay = float(limits.auth_attempt_delay)
        #: object with ``slowed_reads`` / ``slowed_connections`` counters (the Limiter), or None.
        self.stats = stats
        self.failures = 0
        self.slow = False

    def auth_failed(self) -> None:
        self.failures += 1
        if not self.slow and self.threshold > 0 and self.failures >= self.threshold:
            self.slow = True
            if self.stats is not None:
                self.stats.slowed_connections += 1
            log.debug("connection now in slow mode", failures=self.failures)

    def auth_succeeded(self) -> None:
        self.failures = 0
        self.slow = False

    def attempt_delay_seconds(self) -> float:
        if self.threshold <= 0:
            return 0.0
        return max(0, self.failures - self.threshold) * self.attempt_delay

    async def before_read(self) -> bool:
        """Sleep before a read when slow; whether it did."""
        if self.slow and self.read_delay > 0:
            await trio.sleep(self.read_delay)
            return True
        return False


def current() -> SlowMode | None:
    """The SlowMode of the connection this task serves, if any."""
    return _current.get()


def set_current(mode: SlowMode | None) -> None:
    """Make mode the current task's SlowMode (serve does this per connection task)."""
    _current.set(mode)


def auth_failed() -> None:
    mode = _current.get()
    if mode is not None:
        mode.auth_failed()


def auth_succeeded() -> None:
    mode = _current.get()
    if mode is not None:
        mode.auth_succeeded()


async def before_auth_attempt() -> None:
    """Sleep the per-attempt delay of the current connection (0 until past the threshold)."""
    mode = _current.get()
    if mode is not None:
        delay = mode.attempt_delay_seconds()
        if delay > 0:
            await trio.sleep(delay)


class SlowStream(trio.abc.HalfCloseableStream):
    """A stream that is slow to read and write while its SlowMode is slow. Other attributes
    (``socket``, ``setsockopt``) are those of the wrapped stream."""

    def __init__(self, stream: trio.abc.Stream, mode: SlowMode) -> None:
        self.transport_stream = stream
        self.mode = mode

    def __getattr__(self, name: str) -> Any:
        if name in ("transport_stream", "mode"):
            raise AttributeError(name)
        return getattr(self.transport_stream, name)

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        slowed = await self.mode.before_read()
        data = await self.transport_stream.receive_some(max_bytes)
        if slowed and data and self.mode.stats is not None:
            self.mode.stats.slowed_reads += 1  # counted when data arrives: tests can rely on it
        return data

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        mode = self.mode
        if not mode.slow or mode.write_delay <= 0:
            await self.transport_stream.send_all(data)
            return
        view = memoryview(data)
        deadline = trio.current_time() + mode.write_max
        i = 0
        while i < len(view) and trio.current_time() < deadline:
            await self.transport_stream.send_all(view[i : i + 1])
            i += 1
            await trio.sleep(mode.write_delay)
        if i < len(view):
            await self.transport_stream.send_all(view[i:])

    async def wait_send_all_might_not_block(self) -> None:
        await self.transport_stream.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        if isinstance(self.transport_stream, trio.abc.HalfCloseableStream):
            await self.transport_stream.send_eof()

    async def aclose(self) -> None:
        await self.transport_stream.aclose()
