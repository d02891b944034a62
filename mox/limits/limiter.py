"""Connection and authentication limits per IP class (mox ``mox-/limitauth.go``,
``ratelimit/ratelimit.go``, ``imapserver/server.go``, ``smtpserver/server.go``).

Every remote IP counts in three classes: IPv4 /32, /26, /21 and IPv6 /64, /48, /32 (narrow,
middle, wide), each with its own limit from ``mox.config.Limits``. Three limiters:

- connection rate: new connections per minute;
- concurrent connections: open now;
- authentication failures per minute and per day, shared by IMAP, SMTP submission and web logins;
  a success resets the narrow class, as mox. Both also update the current connection's slow
  mode (mox.limits.slowmode: slow reads and writes from the 3rd failure on one connection).

Plus one capacity: ``password_hashes``, the password hash jobs running in worker threads at
once (all protocols share it; mox.auth.authenticator.run_password_hash).

Rates are counted in fixed windows (a minute, a day) per class key. ``serve_housekeeping``
expires windows that ended and keys with nothing open, so memory stays bounded.

Servers use it like this::

    reason = ctx.limiter.connection_allowed(ip)   # None, or the reason to refuse
    ...                                           # (serve.py does this for every connection)
    ctx.limiter.connection_done(ip)
    if not ctx.limiter.auth_allowed(ip): ...      # "too many auth failures"
    ctx.limiter.auth_failed(ip) / ctx.limiter.auth_succeeded(ip)
"""

from __future__ import annotations

import functools
import ipaddress
import os
import time
from collections.abc import Callable
from typing import Any

import trio

from mox.limits import slowmode
from mox.config import Limits

MINUTE = 60.0
DAY = 24 * 3600.0

REASON_RATE = "connection rate from your ip or network too high, slow down please"
REASON_CONCURRENT = "too many open connections from your ip or network"
REASON_AUTH = "too many auth failures"

_V4_PREFIXES = (32, 26, 21)
_V6_PREFIXES = (64, 48, 32)


@functools.lru_cache(maxsize=4096)
def ip_classes(ip: str) -> tuple[str, str, str]:
    """The three class keys of an IP address (narrow, middle, wide). Every connection and
    every login asks for them (several times): the last 4,096 addresses are remembered, since
    parsing the address and its three networks was a tenth of a login's time on the event loop."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return (f"?{ip}",) * 3  # not an IP (e.g. a unix socket peer): one key of its own
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    prefixes = _V4_PREFIXES if addr.version == 4 else _V6_PREFIXES
    keys = [str(ipaddress.ip_network(f"{addr}/{p}", strict=False)) for p in prefixes]
    return keys[0], keys[1], keys[2]


class _Window:
    """Counts per key within a fixed time window."""

    def __init__(self, length: float) -> None:
        self.length = length
        self.counts: dict[str, tuple[float, int]] = {}

    def count(self, key: str, now: float) -> int:
        start, n = self.counts.get(key, (now, 0))
        if now - start >= self.length:
            return 0
        return n

    def add(self, key: str, now: float, n: int = 1) -> None:
        start, have = self.counts.get(key, (now, 0))
        if now - start >= self.length:
            start, have = now, 0
        self.counts[key] = (start, have + n)

    def reset(self, key: str) -> None:
        self.counts.pop(key, None)

    def expire(self, now: float) -> None:
        for key in [k for k, (start, _) in self.counts.items() if now - start >= self.length]:
            del self.counts[key]


#: The default cap on password hashes at once: each scrypt holds 16 MiB while it runs
#: (mox.auth.password), so a login flood on a many-core machine stays within 64 MiB; logins
#: beyond it wait their turn (and a password just verified is then answered from
#: mox.auth.cache without hashing).
DEFAULT_MAX_PASSWORD_HASHES = 4


class Limiter:
    def __init__(self, limits: Limits, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._rate = _Window(MINUTE)
        self._auth_minute = _Window(MINUTE)
        self._auth_day = _Window(DAY)
        self._open: dict[str, int] = {}
        #: mox.limits.slowmode counters: connections that turned slow, reads that were delayed.
        self.slowed_connections = 0
        self.slowed_reads = 0
        #: Password hash jobs (worker threads) running at once, for all protocols together
        #: (mox.auth.authenticator.run_password_hash); ``limits.concurrent_password_hashes``, 0: one
        #: per CPU, at most DEFAULT_MAX_PASSWORD_HASHES.
        self.password_hashes = trio.CapacityLimiter(
            limits.concurrent_password_hashes or min(os.cpu_count() or 2, DEFAULT_MAX_PASSWORD_HASHES)
        )

    def slow_mode(self) -> Any:
        """A new per-connection mox.limits.slowmode.SlowMode with these limits."""
        return slowmode.SlowMode(self.limits, self)

    def connection_allowed(self, ip: str) -> str | None:
        """Register a new connection from ip; None when allowed, else the reason for refusing.

        An allowed connection must be ended with ``connection_done(ip)``.
        """
        now = self.clock()
        keys = ip_classes(ip)
        for key, limit in zip(keys, self.limits.connections_per_minute):
            if self._rate.count(key, now) >= limit:
                return REASON_RATE
        for key, limit in zip(keys, self.limits.concurrent_connections):
            if self._open.get(key, 0) >= limit:
                return REASON_CONCURRENT
        for key in keys:
            self._rate.add(key, now)
            self._open[key] = self._open.get(key, 0) + 1
        return None

    def connection_done(self, ip: str) -> None:
        for key in ip_classes(ip):
            n = self._open.get(key, 0) - 1
            if n <= 0:
                self._open.pop(key, None)
            else:
                self._open[key] = n

    def open_connections(self, ip: str) -> int:
        return self._open.get(ip_classes(ip)[0], 0)

    def auth_allowed(self, ip: str) -> bool:
        now = self.clock()
        keys = ip_classes(ip)
        for key, limit in zip(keys, self.limits.auth_failures_per_minute):
            if self._auth_minute.count(key, now) >= limit:
                return False
        for key, limit in zip(keys, self.limits.auth_failures_per_day):
            if self._auth_day.count(key, now) >= limit:
                return False
        return True

    def auth_failed(self, ip: str) -> None:
        slowmode.auth_failed()  # the current connection's slow mode (mox.limits.slowmode)
        now = self.clock()
        for key in ip_classes(ip):
            self._auth_minute.add(key, now)
            self._auth_day.add(key, now)

    def auth_succeeded(self, ip: str) -> None:
        slowmode.auth_succeeded()
        narrow = ip_classes(ip)[0]
        self._auth_minute.reset(narrow)
        self._auth_day.reset(narrow)

    def expire(self) -> None:
        now = self.clock()
        for w in (self._rate, self._auth_minute, self._auth_day):
            w.expire(now)

    def size(self) -> int:
        """Number of tracked entries (for tests and debugging)."""
        return sum(len(w.counts) for w in (self._rate, self._auth_minute, self._auth_day)) + len(self._open)

    async def serve_housekeeping(self, *, interval: float = MINUTE, task_status: Any = None) -> None:
        """Expire old windows every interval, until cancelled."""
        import trio

        if task_status is not None:
            task_status.started()
        while True:
            await trio.sleep(interval)
            self.expire()
