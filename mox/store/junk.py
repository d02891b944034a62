"""Junk flags and junk filter training in the store, as mox's store does them (store/account.go
JunkFlagsForMailbox, store/train.go).

- A message delivered, copied or moved to a mailbox gets ``$Junk``/``$NotJunk`` by that mailbox:
  the \\Junk special-use mailbox makes it junk; with automatic junk flags on, the lower-cased
  mailbox name is matched against the junk, neutral and not-junk regexps in that order (neutral
  clears both flags); with two of them set, the third matches every other mailbox.
- The account's junk filter is trained from the flags: a message with ``$Junk`` and without
  ``$NotJunk`` counts as spam, the reverse as ham, anything else not at all. The filter records
  how each message is trained; after every write the messages it touched are retrained where
  their flags say otherwise (``Account._junk_sync``), removed messages are untrained (their
  files are kept until then).

``Store.settings(account) -> AccountSettings | None`` tells the store an account's settings; the
server sets it from the config (mox.delivery.settings).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from mox.junk import Params


class AccountSettings(NamedTuple):
    automatic_junk_flags: bool = False
    junk_mailbox: re.Pattern[str] | None = None
    neutral_mailbox: re.Pattern[str] | None = None
    not_junk_mailbox: re.Pattern[str] | None = None
    junk_filter: Params | None = None


def junk_state(flags: tuple[str, ...]) -> bool | None:
    """How a message with these flags is trained: True junk, False not junk, None not at all."""
    junk = "$Junk" in flags
    if junk == ("$NotJunk" in flags):
        return None
    return junk


def flags_for_mailbox(flags: tuple[str, ...], name: str, special_use: str | None, s: AccountSettings | None) -> tuple[str, ...]:
    """The flags of a message put into mailbox ``name`` (mox Message.JunkFlagsForMailbox);
    ``flags`` are normalized and stay so."""
    junk: bool | None = None  # None: leave the flags as they are
    if special_use == "\\Junk":
        junk = True
    elif s is not None and s.automatic_junk_flags:
        lname = name.lower()
        j, n, nj = s.junk_mailbox, s.neutral_mailbox, s.not_junk_mailbox
        if j is not None and j.search(lname):
            junk = True
        elif n is not None and n.search(lname):
            return tuple(f for f in flags if f not in ("$Junk", "$NotJunk"))
        elif nj is not None and nj.search(lname):
            junk = False
        elif j is None and n is not None and nj is not None:
            junk = True
        elif j is not None and n is None and nj is not None:
            return tuple(f for f in flags if f not in ("$Junk", "$NotJunk"))
        elif j is not None and n is not None and nj is None:
            junk = False
    if junk is None:
        return flags
    from mox.store.schema import normalize_flags

    keep = [f for f in flags if f not in ("$Junk", "$NotJunk")]
    return normalize_flags([*keep, "$Junk" if junk else "$NotJunk"])
