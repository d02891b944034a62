"""Authentication and address resolution for the servers (``ctx.auth``).

Addresses are normalised before any lookup (reference 7.1): the local part is NFC-normalised
and compared case-insensitively, the domain is lower-cased, and a catch-all separator (``+`` in
localserve) cuts the local part, so ``mox+tag@LOCALHOST`` is ``mox@localhost``.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from mox import mlog
from mox.config import Config


class Authenticator:
    def __init__(self, config: Config, store: Any) -> None:
        self.config = config
        self.store = store
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

    def login(self, address: str, password: str) -> str | None:
        """The account name when address + password are valid, else None.

        Only configured addresses log in (not an account name on its own), as mox.
        """
        account = self.account_for_address(address)
        if account is None:
            self.log.debug("login for unknown address")
            return None
        acc = self.store.open_account(account)
        try:
            ok = acc.check_password(password)
        finally:
            acc.close()
        return account if ok else None

    def lookup_destination(self, localpart: str, domain: str) -> tuple[str, str] | None:
        """Where a message for localpart@domain is delivered: (account, mailbox), or None.

        In localserve every address, at any domain, goes to account mox's Inbox (reference 1.9).
        """
        if self.config.localserve:
            account = self.account_for_address(f"{localpart}@{domain}")
            if account is not None:
                return account, "Inbox"
            first = next(iter(self.config.accounts), None)
            return (first, "Inbox") if first is not None else None
        account = self.account_for_address(f"{localpart}@{domain}")
        if account is None:
            return None
        return account, "Inbox"
