"""Mailbox names in the store: the default mailboxes, ``Inbox`` in any case, and the rules a new
name must follow (RFC 9051 5.1 and the store's own: no empty hierarchy levels, control
characters, wildcards or leading "#", NFC, and a name that is a valid directory name on Windows,
since exports make directories of them)."""

from __future__ import annotations

import unicodedata

from mox.store.errors import InvalidMailboxName

DEFAULT_MAILBOXES = (
    ("Inbox", None),
    ("Archive", r"\Archive"),
    ("Drafts", r"\Drafts"),
    ("Junk", r"\Junk"),
    ("Sent", r"\Sent"),
    ("Trash", r"\Trash"),
)


def normalize_mailbox_name(name: str) -> str:
    """``INBOX`` in any case, also as the first level (``inbox/x``), becomes ``Inbox``."""
    if name.lower() == "inbox":
        return "Inbox"
    if name[:6].lower() == "inbox/":
        return "Inbox/" + name[6:]
    return name


def check_mailbox_name(name: str) -> str:
    """Normalise and validate a mailbox name for creating or renaming; raises InvalidMailboxName."""
    name = normalize_mailbox_name(name)
    if not name:
        raise InvalidMailboxName("empty mailbox name")
    if name.startswith("/") or name.endswith("/") or "//" in name:
        raise InvalidMailboxName(f"empty hierarchy level in mailbox name {name!r}")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in name):
        raise InvalidMailboxName("control character in mailbox name")
    if "%" in name or "*" in name:
        raise InvalidMailboxName("wildcard in mailbox name")
    if name.startswith("#"):
        raise InvalidMailboxName("mailbox name cannot start with #")
    if unicodedata.normalize("NFC", name) != name:
        raise InvalidMailboxName("mailbox name not in NFC form")
    # Mailbox names become directory names in exports: no backslash, drive or device name.
    from mox.names import mailbox_name_problem

    problem = mailbox_name_problem(name)
    if problem is not None:
        raise InvalidMailboxName(problem)
    return name
