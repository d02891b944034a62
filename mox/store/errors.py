"""Errors raised by the store. Everything derives from :class:`StoreError`."""

from __future__ import annotations


class StoreError(Exception):
    """Base class for store errors; also raised for a broken or unusable index."""


class AccountNotFound(StoreError):
    pass


class AccountExists(StoreError):
    pass


class MailboxNotFound(StoreError):
    pass


class MailboxExists(StoreError):
    pass


class MailboxHasChildren(StoreError):
    pass


class MessageGone(StoreError, FileNotFoundError):
    """The message file is gone: the message was expunged (or moved) after the caller looked it
    up. Sessions that still show it answer as for an expunged message."""


class InvalidMailboxName(StoreError, ValueError):
    pass


class InvalidFlag(StoreError, ValueError):
    pass


class OverQuota(StoreError):
    """Storing the message(s) would exceed the account's quota (IMAP ``NO [OVERQUOTA]``,
    SMTP ``452 4.2.2``)."""


class DiskFull(StoreError):
    """A write failed because the disk (or the filesystem quota) is full: ENOSPC or EDQUOT.
    Nothing of the operation was stored and the account stays usable: once space is freed,
    writes succeed again. IMAP answers ``NO [UNAVAILABLE]``, SMTP ``452 4.3.1``, HTTP 507."""


class Inconsistent(StoreError):
    """Raised at close by ``Store(check_consistency_on_close=True)`` when the check finds problems."""

    def __init__(self, account: str, problems: list[str]) -> None:
        super().__init__(f"account {account!r} inconsistent: " + "; ".join(problems))
        self.account = account
        self.problems = problems


class MetadataTooMany(StoreError):
    """Setting metadata entries would exceed the number of entries an account may have (IMAP
    ``NO [METADATA TOOMANY]``, RFC 5464 4.3)."""


class MetadataTooLarge(StoreError):
    """Setting metadata entries would exceed the total size an account's entries may have
    (IMAP ``NO [METADATA MAXSIZE n]``, RFC 5464 4.3); ``limit`` is that size."""

    def __init__(self, msg: str, limit: int) -> None:
        super().__init__(msg)
        self.limit = limit
