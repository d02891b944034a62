"""The Store: the data directory and its accounts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from mox import mlog
from mox.auth.cache import AuthCache
from mox.store import layout
from mox.store.account import Account
from mox.store.mailbox_names import DEFAULT_MAILBOXES
from mox.store.errors import AccountExists, AccountNotFound, DiskFull, Inconsistent, StoreError
from mox.store.index import create_journal, encode_txn
from mox.store.junk import AccountSettings
from mox.store.schema import Mailbox, Txn


class Store:
    """The message store under ``data_dir``.

    - ``fsync``: make every write durable before it returns (turn off only for throwaway data).
    - ``check_consistency_on_close``: run ``Account.check_consistency`` when an account closes and
      raise :class:`~mox.store.Inconsistent` on problems (tests turn it on).
    - ``quota``: bytes per account (0: unlimited); ``Account.quota`` overrides it per account.
    - ``snapshot_threshold``: journal size after which a snapshot is written (or a quarter of the
      previous snapshot's size if larger, so snapshot cost stays proportional to writes).
    - ``snapshot_on_close``: journal size above which closing an account writes a snapshot.
    - ``settings``: per-account junk flags and junk filter settings (mox.store.junk).
    """

    def __init__(
        self,
        data_dir: str | Path,
        fsync: bool = True,
        check_consistency_on_close: bool = False,
        *,
        quota: int = 0,
        snapshot_threshold: int = 4 << 20,
        snapshot_on_close: int = 256 << 10,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.fsync = fsync
        self.check_consistency_on_close = check_consistency_on_close
        self.quota = quota
        #: account name -> its junk settings (mox.store.junk.AccountSettings) or None; set by
        #: the server from its config. None: no junk flags, no junk filter.
        self.settings: Callable[[str], AccountSettings | None] | None = None
        self.snapshot_threshold = snapshot_threshold
        self.snapshot_on_close = snapshot_on_close
        #: Recently verified login passwords (mox.auth.cache), for Account.check_password.
        self.auth_cache = AuthCache()
        self._log = mlog.get_logger("store")
        self._lock = threading.Lock()
        self._accounts: dict[str, Account] = {}
        self._closed = False
        layout.accounts_dir(self.data_dir).mkdir(parents=True, exist_ok=True)
        layout.tmp_dir(self.data_dir).mkdir(parents=True, exist_ok=True)

    def account_names(self) -> list[str]:
        d = layout.accounts_dir(self.data_dir)
        return sorted(p.name for p in d.iterdir() if p.is_dir() and self._has_index(p))

    @staticmethod
    def _has_index(p: Path) -> bool:
        return (p / layout.JOURNAL_NAME).exists() or (p / layout.SNAPSHOT_NAME).exists()

    def create_account(self, name: str) -> None:
        """Create an account with the default mailboxes (Inbox, and Archive, Drafts, Junk, Sent,
        Trash with their special-use flags), all subscribed and sharing one UIDVALIDITY."""
        layout.validate_account_name(name)
        path = layout.account_dir(self.data_dir, name)
        with self._lock:
            if self._has_index(path):
                raise AccountExists(f"account {name!r} exists")
            (path / layout.MSG_DIR).mkdir(parents=True, exist_ok=True)
            if self.fsync:
                layout.fsync_dir(path)
                layout.fsync_dir(path.parent)
            uidvalidity = max(int(time.time()) >> 1, 1)
            mailboxes = [
                Mailbox(i + 1, n, uidvalidity, special_use=su, subscribed=True)
                for i, (n, su) in enumerate(DEFAULT_MAILBOXES)
            ]
            txn = Txn(1, len(mailboxes) + 1, 1, uidvalidity + 1, list(mailboxes))
            tmp = layout.tmp_dir(self.data_dir) / f"store-{name}-create-{time.time_ns()}"
            try:
                create_journal(path / layout.JOURNAL_NAME, tmp, encode_txn(txn), fsync=self.fsync)
            except OSError as e:
                if layout.is_disk_full(e):  # no journal: the account does not exist yet
                    raise DiskFull(f"creating account {name!r}: disk full: {e.strerror}") from e
                raise
        self._log.info("account created", account=name)

    def open_account(self, name: str) -> Account:
        """The account, shared between callers: each open needs a ``close()``."""
        with self._lock:
            if self._closed:
                raise StoreError("store is closed")
            acc = self._accounts.get(name)
            if acc is None:
                layout.validate_account_name(name)
                path = layout.account_dir(self.data_dir, name)
                if not self._has_index(path):
                    raise AccountNotFound(f"no account {name!r}")
                acc = Account(self, name)
                acc._open()
                self._accounts[name] = acc
            acc._refs += 1
            return acc

    def _release(self, acc: Account) -> None:
        # Closing happens under the lock, so a concurrent open_account waits for it instead of
        # finding the account directory still locked.
        with self._lock:
            if self._accounts.get(acc.name) is not acc:
                return
            acc._refs -= 1
            if acc._refs > 0:
                return
            del self._accounts[acc.name]
            acc._close_now()

    def open_accounts(self) -> list[str]:
        with self._lock:
            return sorted(self._accounts)

    def close(self) -> None:
        """Close all accounts (also those with references left, which are logged)."""
        with self._lock:
            self._closed = True
            accs = list(self._accounts.values())
            self._accounts.clear()
        errors: list[Inconsistent] = []
        for acc in accs:
            if acc._refs > 0:
                self._log.debug("closing account with references left", account=acc.name, refs=acc._refs)
            try:
                acc._close_now()
            except Inconsistent as e:
                errors.append(e)
        if errors:
            raise errors[0]

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
