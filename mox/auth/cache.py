"""Recently verified passwords, so a client that logs in again does not pay for scrypt again.

As Dovecot's authentication cache (``auth_cache_ttl``) and mox's (``store/account.go``,
``authCache``): a successful PLAIN/LOGIN check of an account's password is remembered for a short
time, and the next check of the same password for the same account is answered from memory.
What is kept is never the password: an entry is HMAC-SHA256, under a key drawn at random when the
process starts (never written anywhere), of the account name, the account's stored scrypt salt and
hash, and the PRECIS-prepared password. Nothing about it reaches the disk, so the stored hash
stays as strong as it is.

- Only successes are kept: a wrong password always costs a full hash (an attacker gains nothing
  in speed), and an unknown account never has an entry.
- An entry lives ``ttl`` seconds from the check that made it (not renewed by hits), and at most
  ``max_entries`` are kept (the least recently used go first): the time an old secret stays
  usable in memory is bounded.
- ``invalidate(account)`` drops an account's entries; the store calls it when a password is
  set, the admin code when login is disabled or the account removed. Since the stored salt and
  hash are part of the key, a password changed behind this process's back (another process
  wrote the account while it was closed here) does not match an old entry either.

Thread-safe: checks run in worker threads (password hashing never runs on the event loop).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

#: Seconds a verified password is remembered (Dovecot's default auth_cache_ttl is an hour,
#: mox clears its cache every 15 minutes; shorter here: a CI job's logins come in bursts).
DEFAULT_TTL = 300.0
#: Entries kept at most (one per account and password that logged in recently).
DEFAULT_MAX_ENTRIES = 1024


class AuthCache:
    def __init__(
        self,
        *,
        ttl: float = DEFAULT_TTL,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._key = os.urandom(32)
        self._lock = threading.Lock()
        #: entry digest -> (account, expiry on ``clock``); oldest use first.
        self._entries: OrderedDict[bytes, tuple[str, float]] = OrderedDict()
        #: Counters (tests, metrics): answered from memory, not found, entries dropped by
        #: invalidate().
        self.hits = 0
        self.misses = 0
        self.invalidated = 0

    def _digest(self, account: str, stored: bytes, prepared_password: bytes) -> bytes:
        a = account.encode("utf-8", "surrogatepass")
        # Length-prefixed fields: no two different inputs make the same message.
        msg = b"".join(len(f).to_bytes(4, "big") + f for f in (a, stored, prepared_password))
        return hmac.new(self._key, msg, hashlib.sha256).digest()

    def check(self, account: str, stored: bytes, prepared_password: bytes) -> bool:
        """Whether this password was verified for this account (with this stored hash)
        within the last ``ttl`` seconds."""
        if self.ttl <= 0 or self.max_entries <= 0:
            return False
        d = self._digest(account, stored, prepared_password)
        now = self._clock()
        with self._lock:
            entry = self._entries.get(d)
            if entry is not None and entry[1] > now:
                self._entries.move_to_end(d)
                self.hits += 1
                return True
            if entry is not None:
                del self._entries[d]
            self.misses += 1
            return False

    def add(self, account: str, stored: bytes, prepared_password: bytes) -> None:
        """Remember a password that was just verified by hashing it."""
        if self.ttl <= 0 or self.max_entries <= 0:
            return
        d = self._digest(account, stored, prepared_password)
        now = self._clock()
        with self._lock:
            self._entries[d] = (account, now + self.ttl)
            self._entries.move_to_end(d)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            # Expired entries are dropped as they are met; sweep the oldest few here too, so an
            # idle cache does not keep them until max_entries is reached.
            for key in [k for k, (_, exp) in itertools.islice(self._entries.items(), 8) if exp <= now]:
                del self._entries[key]

    def invalidate(self, account: str) -> None:
        """Forget every verified password of ``account`` (password set, login disabled,
        account removed)."""
        with self._lock:
            drop = [d for d, (acc, _) in self._entries.items() if acc == account]
            for d in drop:
                del self._entries[d]
            self.invalidated += len(drop)

    def clear(self) -> None:
        with self._lock:
            self.invalidated += len(self._entries)
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
