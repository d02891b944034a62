"""The authentication cache (mox.auth.cache): a password verified a short while ago logs in again
without another scrypt, on every protocol; setting a password, disabling login or removing the
account forgets it; failures are never remembered; what is kept is a keyed hash, not the
password. Shown by counters (scrypt computations, cache hits), never by timing."""

from __future__ import annotations

import base64
import imaplib
import smtplib
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from mox.auth import password as pwmod
from mox.auth.cache import AuthCache
from mox.testing import LocalServer

from ..conftest import run_mox

ADDRESS = "mox@localhost"
PASSWORD = "moxmoxmox"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cache_remembers_only_the_exact_credentials() -> None:
    c = AuthCache(ttl=60, max_entries=10)
    stored = b"salt" + b"hash"
    assert not c.check("mox", stored, b"secret")
    c.add("mox", stored, b"secret")
    assert c.check("mox", stored, b"secret")
    assert not c.check("mox", stored, b"Secret")  # another password
    assert not c.check("other", stored, b"secret")  # another account
    assert not c.check("mox", b"salt2hash2", b"secret")  # the password was set again elsewhere
    assert (c.hits, c.misses) == (1, 4)


def test_cache_keeps_a_keyed_hash_not_the_password() -> None:
    c = AuthCache()
    c.add("mox", b"stored", b"a distinctive password")
    (digest, (account, _)), = c._entries.items()
    assert account == "mox" and len(digest) == 32 and b"distinctive" not in digest
    # Another process (another key) cannot recognise the entry.
    other = AuthCache()
    assert other._digest("mox", b"stored", b"a distinctive password") != digest


def test_cache_entries_expire_and_are_bounded() -> None:
    clock = Clock()
    c = AuthCache(ttl=60, max_entries=3, clock=clock)
    c.add("mox", b"s", b"pw")
    clock.now += 59
    assert c.check("mox", b"s", b"pw")  # a hit does not extend the entry's life
    clock.now += 1
    assert not c.check("mox", b"s", b"pw")
    assert len(c) == 0
    for i in range(5):
        c.add("mox", b"s", b"pw%d" % i)
    assert len(c) == 3
    assert not c.check("mox", b"s", b"pw0") and not c.check("mox", b"s", b"pw1")
    assert c.check("mox", b"s", b"pw4")


def test_invalidate_drops_only_that_account() -> None:
    c = AuthCache()
    c.add("mox", b"s", b"pw1")
    c.add("mox", b"s", b"pw2")
    c.add("other", b"s", b"pw1")
    c.invalidate("mox")
    assert c.invalidated == 2
    assert not c.check("mox", b"s", b"pw1") and not c.check("mox", b"s", b"pw2")
    assert c.check("other", b"s", b"pw1")


def test_a_zero_ttl_turns_the_cache_off() -> None:
    c = AuthCache(ttl=0)
    c.add("mox", b"s", b"pw")
    assert not c.check("mox", b"s", b"pw") and len(c) == 0


# The server: IMAP LOGIN and AUTHENTICATE, SMTP AUTH and the web share one cache.


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer() as srv:
        yield srv


@pytest.fixture
def fresh(server: LocalServer) -> Iterator[AuthCache]:
    """The server's cache, emptied, with the hit counter at zero."""
    cache = server.store.auth_cache
    cache.clear()
    cache.hits = cache.misses = 0
    yield cache


def imap_login(srv: LocalServer, password: str = PASSWORD, address: str = ADDRESS) -> str:
    with imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=30) as c:
        try:
            typ, _ = c.login(address, password)
        except imaplib.IMAP4.error as e:
            return str(e)
        c.logout()
        return typ


def imap_authenticate_plain(srv: LocalServer, password: str = PASSWORD) -> str:
    with imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=30) as c:
        typ, _ = c.authenticate("PLAIN", lambda _: f"\0{ADDRESS}\0{password}".encode())
        c.logout()
        return typ


def smtp_auth_plain(srv: LocalServer, password: str = PASSWORD) -> int:
    with smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=30) as s:
        s.ehlo("client.example")
        code, _ = s.docmd("AUTH", "PLAIN " + base64.b64encode(f"\0{ADDRESS}\0{password}".encode()).decode())
        return code


def hashes_during(fn: Any, *args: Any) -> tuple[Any, int]:
    before = pwmod.stats.hashes
    result = fn(*args)
    return result, pwmod.stats.hashes - before


def test_second_login_is_answered_from_the_cache_on_every_protocol(server: LocalServer, fresh: AuthCache) -> None:
    assert hashes_during(imap_login, server) == ("OK", 1)
    assert hashes_during(imap_login, server) == ("OK", 0)
    assert hashes_during(imap_authenticate_plain, server) == ("OK", 0)
    assert hashes_during(smtp_auth_plain, server) == (235, 0)
    assert fresh.hits == 3 and len(fresh) == 1


def test_failures_are_not_remembered(server: LocalServer, fresh: AuthCache) -> None:
    assert imap_login(server) == "OK"
    for _ in range(2):
        result, hashes = hashes_during(imap_login, server, "wrong password")
        assert "AUTHENTICATIONFAILED" in result and hashes == 1
    assert hashes_during(smtp_auth_plain, server, "wrong password") == (535, 1)
    # An unknown address never has an entry: always the full cost.
    for _ in range(2):
        result, hashes = hashes_during(imap_login, server, "wrong password", "nobody@localhost")
        assert "AUTHENTICATIONFAILED" in result and hashes == 1
    assert len(fresh) == 1 and fresh.hits == 0


def test_password_change_forgets_the_old_password(server: LocalServer, fresh: AuthCache) -> None:
    assert imap_login(server) == "OK" and len(fresh) == 1
    try:
        r = run_mox("setaccountpassword", "-dir", str(server.dir), "mox", input="a new password\n")
        assert (r.returncode, r.stderr) == (0, "")
        assert len(fresh) == 0 and fresh.invalidated >= 1
        result, hashes = hashes_during(imap_login, server)
        assert "AUTHENTICATIONFAILED" in result and hashes == 1
        assert hashes_during(imap_login, server, "a new password") == ("OK", 1)
        assert hashes_during(imap_login, server, "a new password") == ("OK", 0)
    finally:
        r = run_mox("setaccountpassword", "-dir", str(server.dir), "mox", input=PASSWORD + "\n")
        assert r.returncode == 0, r.stderr
    assert imap_login(server) == "OK"


def test_disabling_login_forgets_the_password(server: LocalServer, fresh: AuthCache) -> None:
    assert imap_login(server) == "OK" and len(fresh) == 1
    try:
        r = run_mox("config", "account", "disable", "-dir", str(server.dir), "mox", "moved elsewhere")
        assert (r.returncode, r.stderr) == (0, ""), r
        assert len(fresh) == 0
        result, hashes = hashes_during(imap_login, server)
        assert "login disabled for account: moved elsewhere" in result and hashes == 1
        assert len(fresh) == 1  # the password was right; the account is what refuses
    finally:
        r = run_mox("config", "account", "enable", "-dir", str(server.dir), "mox")
        assert r.returncode == 0, r.stderr
    assert hashes_during(imap_login, server) == ("OK", 0)


def many_at_once(srv: LocalServer, passwords: list[str]) -> list[str]:
    """IMAP logins from one thread per password, all at once; their results."""
    results: list[str] = [""] * len(passwords)
    barrier = threading.Barrier(len(passwords))

    def one(i: int) -> None:
        barrier.wait(30)
        results[i] = imap_login(srv, passwords[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(passwords))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


@pytest.fixture
def two_hashes_at_once(server: LocalServer) -> Iterator[None]:
    limiter = server.ctx.limiter.password_hashes if server.ctx is not None else None
    assert limiter is not None
    old = limiter.total_tokens
    server.run_sync_in_server(setattr, limiter, "total_tokens", 2)
    pwmod.stats.reset_peak()
    try:
        yield
    finally:
        server.run_sync_in_server(setattr, limiter, "total_tokens", old)


def test_many_logins_at_once_hash_at_most_the_limit_at_a_time(server: LocalServer, fresh: AuthCache,
                                                              two_hashes_at_once: None) -> None:
    # Wrong passwords, all different: each costs a hash, never more than two at once.
    results, hashes = hashes_during(many_at_once, server, [f"wrong password {i}" for i in range(12)])
    assert all("AUTHENTICATIONFAILED" in r for r in results) and hashes == 12
    assert 1 <= pwmod.stats.peak_running <= 2


def test_many_logins_at_once_with_the_same_password_hash_it_once_per_slot(server: LocalServer, fresh: AuthCache,
                                                                          two_hashes_at_once: None) -> None:
    # The first logins to get a hash slot verify the password; those that waited for a slot
    # find it verified.
    results, hashes = hashes_during(many_at_once, server, [PASSWORD] * 12)
    assert results == ["OK"] * 12
    assert 1 <= hashes <= 2 and fresh.hits == 12 - hashes
    assert pwmod.stats.peak_running <= 2
