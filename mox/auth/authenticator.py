"""Authentication and address resolution for the servers (``ctx.auth``).

Addresses are normalised before any lookup (RFC 6532 3.1): the local part is NFC-normalised
and compared case-insensitively, the domain is lower-cased, and a catch-all separator (``+`` in
localserve) cuts the local part, so ``mox+tag@LOCALHOST`` is ``mox@localhost``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from mox.limits.limiter import Limiter

_T = TypeVar("_T")

import trio

from mox import mlog
from mox.config import Alias, Config


async def run_password_hash(limiter: Limiter | None, fn: Callable[..., _T], *args: Any) -> _T:
    """``fn(*args)`` in a worker thread: password hashing is slow by design and never runs on
    the event loop. ``limiter`` (``mox.limits.limiter.Limiter``, or None) caps how many hash jobs run
    at once; it is one per server, shared by IMAP, SMTP and the web."""
    cap = limiter.password_hashes if limiter is not None else None
    return await trio.to_thread.run_sync(fn, *args, limiter=cap)


def hash_runner(limiter: Limiter | None) -> Callable[..., Awaitable[Any]]:
    """A ``run_sync`` for mox.auth.sasl.serve_exchange: each step in a worker thread under the shared
    hash limiter."""

    async def run(fn: Callable[..., Any], *args: Any) -> Any:
        return await run_password_hash(limiter, fn, *args)

    return run


class Authenticator:
    def __init__(self, config: Config, store: Any, limiter: Any = None) -> None:
        self.config = config
        self.store = store
        #: mox.limits.limiter.Limiter; with ``login(..., ip=...)`` failures are counted per IP class.
        self.limiter = limiter
        self.log = mlog.get_logger("auth")
        self._addresses: dict[str, str] = {}
        for account, acc in config.accounts.items():
            for addr in acc.addresses:
                norm = self.normalize_address(addr)
                if norm is not None:
                    self._addresses[norm] = account

    def _separator(self, domain: str) -> str:
        d = self.config.domains.get(domain)
        if d is not None:
            return d.catchall_separator
        return self.config.catchall_separator

    def normalize_localpart(self, localpart: str, domain: str) -> str:
        lp = unicodedata.normalize("NFC", localpart).lower()
        sep = self._separator(domain)
        if sep and sep in lp:
            lp = lp.split(sep, 1)[0]
        return lp

    def normalize_address(self, address: str) -> str | None:
        """``local@domain`` in canonical form, or None when it is not an address."""
        if isinstance(address, bytes):
            try:
                address = address.decode("utf-8")
            except UnicodeDecodeError:
                return None
        localpart, at, domain = address.rpartition("@")
        if not at or not localpart or not domain:
            return None
        domain = domain.lower().rstrip(".")
        return f"{self.normalize_localpart(localpart, domain)}@{domain}"

    def account_for_address(self, address: str) -> str | None:
        """The account that owns address (catch-all forms included), else None."""
        norm = self.normalize_address(address)
        if norm is None:
            return None
        return self._addresses.get(norm)

    def addresses(self, account: str) -> list[str]:
        acc = self.config.accounts.get(account)
        return list(acc.addresses) if acc else []

    def login(self, address: str, password: str, *, ip: str | None = None) -> str | None:
        """The account name when address + password are valid, else None.

        Only configured addresses log in (not an account name on its own), as mox. With ``ip``
        (the remote address) and a limiter, an IP over its auth-failure limit is refused
        without checking the password, failures are counted and a success resets the count.
        """
        limiter = self.limiter if ip is not None else None
        if limiter is not None and not limiter.auth_allowed(ip):
            self.log.info("login refused: too many auth failures", ip=ip)
            return None
        account = self.account_for_address(address)
        ok = self._check(account, password)
        return self._count(account if ok else None, ip)

    async def login_async(self, address: str, password: str, *, ip: str | None = None) -> str | None:
        """:meth:`login` with the password hash in a worker thread under the shared hash
        limiter (the event loop keeps serving meanwhile)."""
        limiter = self.limiter if ip is not None else None
        if limiter is not None and not limiter.auth_allowed(ip):
            self.log.info("login refused: too many auth failures", ip=ip)
            return None
        account = self.account_for_address(address)
        ok = await run_password_hash(self.limiter, self._check, account, password)
        return self._count(account if ok else None, ip)

    def _check(self, account: str | None, password: str) -> bool:
        """The password check (slow: scrypt). An unknown address costs the same."""
        if account is None:
            self.log.debug("login for unknown address")
            # As slow as a wrong password for a known address: no user enumeration by timing.
            from mox.auth.password import dummy_record, verify_password

            verify_password(dummy_record(), password)
            return False
        acc = self.store.open_account(account)
        try:
            return bool(acc.check_password(password))
        finally:
            acc.close()

    def _count(self, account: str | None, ip: str | None) -> str | None:
        limiter = self.limiter if ip is not None else None
        if limiter is not None:
            if account is not None:
                limiter.auth_succeeded(ip)
            else:
                limiter.auth_failed(ip)
        return account

    def allow_msg_from(self, account: str, address: str) -> bool:
        """Whether ``account`` may send with ``address`` as message From or MAIL FROM: one of
        its own addresses, or an alias with AllowMsgFrom that has an address of the account
        as member (mox-/lookup.go AllowMsgFrom)."""
        lp, _, domain = address.rpartition("@")
        found = self.config.alias(lp, domain) if lp else None
        if found is not None:
            _, alias = found
            return alias.allow_msg_from and any(self.account_for_address(m) == account for m in alias.addresses)
        return self.account_for_address(address) == account

    def aliases_of(self, account: str) -> list[tuple[str, str, Alias]]:
        """The aliases ``account`` is a member of: (alias address, the member address of the
        account, the alias), sorted by alias address (mox's config.Account Aliases)."""
        out = []
        for d, dom in sorted(self.config.domains.items()):
            for lp, alias in sorted(dom.aliases.items()):
                member = next((m for m in alias.addresses if self.account_for_address(m) == account), None)
                if member is not None:
                    out.append((f"{lp}@{d}", member, alias))
        return out

    def alias_destinations(
        self, localpart: str, domain: str, msg_from: str | None, explicit: set[str]
    ) -> list[tuple[str, str]] | None:
        """For an alias address: the (account, mailbox) of each member to deliver to, else None.

        mox's rules (smtpserver/server.go): a member may always post, the alias address itself
        only with AllowMsgFrom, anyone else only with PostPublic (else ``AliasRefused``); the
        member who sent the message and members that are explicit recipients of the same
        transaction (``explicit``, lower-case addresses) get no copy from the alias.
        """
        found = self.config.alias(localpart, domain)
        if found is None:
            return None
        addr, alias = found
        mf = (msg_from or "").lower()
        members = [m.lower() for m in alias.addresses]
        if mf in members:
            allowed = True
        elif mf == addr.lower():
            allowed = alias.allow_msg_from
        else:
            allowed = alias.post_public
        if not allowed:
            raise AliasRefused(addr)
        out: list[tuple[str, str]] = []
        for m in alias.addresses:
            if m.lower() in explicit or m.lower() == mf:
                continue
            account = self.account_for_address(m)
            if account is not None and (account, "Inbox") not in out:
                out.append((account, "Inbox"))
        return out

    def lookup_destination(self, localpart: str, domain: str) -> tuple[str, str] | None:
        """Where a message for localpart@domain is delivered: (account, mailbox), or None.

        In localserve every address, at any domain, goes to account mox's Inbox (mox
        ``smtpserver/server.go``, its localserve branch); so does an address at a disabled
        domain, which mox's address lookup treats as unknown there (``mox-/lookup.go``).
        """
        disabled = self.config.domain_disabled(domain)
        if self.config.localserve:
            account = None if disabled else self.account_for_address(f"{localpart}@{domain}")
            if account is not None:
                return account, "Inbox"
            first = next(iter(self.config.accounts), None)
            return (first, "Inbox") if first is not None else None
        account = None if disabled else self.account_for_address(f"{localpart}@{domain}")
        if account is None:
            return None
        return account, "Inbox"


class AliasRefused(Exception):
    """The message's From address may not post to the alias (mox: 550 5.7.2 "not allowed to
    send to destination")."""
