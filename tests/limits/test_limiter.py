"""mox.limits.limiter with a fake clock: per-day auth failures, wider IP classes (IPv4 and IPv6), and
the housekeeping task in a nursery (virtual time)."""

from __future__ import annotations

import trio
import trio.testing

from mox.config import Limits
from mox.limits.limiter import REASON_CONCURRENT, Limiter


def test_auth_failures_per_day_outlast_the_minute():
    now = [0.0]
    lim = Limiter(Limits(auth_failures_per_minute=(100, 100, 100), auth_failures_per_day=(3, 100, 100)), clock=lambda: now[0])
    for _ in range(3):
        assert lim.auth_allowed("192.0.2.1")
        lim.auth_failed("192.0.2.1")
        now[0] += 120  # a new minute each time
    assert not lim.auth_allowed("192.0.2.1")
    assert lim.auth_allowed("192.0.2.2")  # the /32 class is per address
    now[0] += 24 * 3600
    assert lim.auth_allowed("192.0.2.1")


def test_middle_class_and_success_resets_only_the_address():
    lim = Limiter(Limits(auth_failures_per_minute=(100, 4, 100)))
    for ip in ("2001:db8:0:1::1", "2001:db8:0:2::1", "2001:db8:0:3::1"):  # other /64s, one /48
        lim.auth_failed(ip)
    lim.auth_failed("2001:db8:0:1::2")  # same /64 as the first
    assert not lim.auth_allowed("2001:db8:0:9::1")  # the /48 has 4 failures
    assert lim.auth_allowed("2001:db8:1::1")  # another /48
    lim.auth_succeeded("2001:db8:0:1::1")  # resets its /64, not the /48
    assert not lim.auth_allowed("2001:db8:0:1::1")


def test_concurrent_per_middle_class():
    lim = Limiter(Limits(concurrent_connections=(10, 2, 100)))
    assert lim.connection_allowed("198.51.100.1") is None
    assert lim.connection_allowed("198.51.100.2") is None
    assert lim.connection_allowed("198.51.100.3") == REASON_CONCURRENT  # same /26
    assert lim.connection_allowed("198.51.100.200") is None  # other /26, same /21
    lim.connection_done("198.51.100.1")
    assert lim.connection_allowed("198.51.100.3") is None


def test_housekeeping_task():
    async def main():
        lim = Limiter(Limits(), clock=trio.current_time)
        async with trio.open_nursery() as nursery:
            await nursery.start(lim.serve_housekeeping)
            lim.auth_failed("192.0.2.1")
            assert lim.size() == 6  # 3 classes x (minute, day)
            await trio.sleep(61)
            assert lim.size() == 3  # the minute windows are gone
            await trio.sleep(24 * 3600)
            assert lim.size() == 0
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_password_hashes_at_once_default_to_the_cpus_at_most_four(monkeypatch):
    # Each scrypt holds 16 MiB while it runs: a many-core machine still hashes at most four at
    # once by default (64 MiB); a configured number is taken as it is.
    import os

    for cpus, want in ((1, 1), (2, 2), (64, 4), (None, 2)):
        monkeypatch.setattr(os, "cpu_count", lambda cpus=cpus: cpus)
        assert Limiter(Limits()).password_hashes.total_tokens == want
    assert Limiter(Limits(concurrent_password_hashes=16)).password_hashes.total_tokens == 16


def test_ip_classes_are_remembered_per_address():
    from mox.limits.limiter import ip_classes

    ip_classes.cache_clear()
    assert ip_classes("192.0.2.77") == ("192.0.2.77/32", "192.0.2.64/26", "192.0.0.0/21")
    assert ip_classes("::ffff:192.0.2.77") == ("192.0.2.77/32", "192.0.2.64/26", "192.0.0.0/21")
    assert ip_classes("2001:db8:1:2::5") == ("2001:db8:1:2::/64", "2001:db8:1::/48", "2001:db8::/32")
    for _ in range(3):
        ip_classes("192.0.2.77")
    info = ip_classes.cache_info()
    assert (info.hits, info.misses) == (3, 3) and info.maxsize == 4096
