"""The suppression list's rules, as mox's ``queue/suppression.go`` (pure functions).

An account's messages are not delivered to an address on its suppression list: the queue fails
such a delivery at once (event "suppressed", a DSN to the sender). Addresses are compared by
their *base address*: local part lower-cased, cut at the first ``+`` and then the first ``-``,
dots removed (``John.Doe+news@Example.com`` and ``johndoe-x@example.com`` are both
``johndoe@example.com``).

A permanent delivery failure adds the recipient by itself (not ``manual``) when its SMTP code
says the address will never accept mail (:func:`is_immediate_block`), or when the two messages
to that recipient retired before it failed too ("three consecutive failures").
"""

from __future__ import annotations

from mox.smtp import codes as c
from mox.smtp.address import AddressError, parse_address

#: Reason of suppressions added through the command line (as mox).
REASON_CLI = "added through mox cli"


class SuppressionError(ValueError):
    """An address that cannot be parsed, a duplicate, a missing entry: the text is for users."""


def normalize(address: str) -> str:
    """``local@domain`` with the domain in lower case, as mox's ``smtp.Path.XString(true)``;
    raises SuppressionError for something that is not an address."""
    try:
        a = parse_address(address.strip())
    except AddressError as e:
        raise SuppressionError(f"parsing address {address!r}: {e}") from None
    return str(a)


def base_address(address: str) -> str:
    """The base address mox compares suppressions by (``baseAddress`` in suppression.go)."""
    norm = normalize(address)
    lp, _, domain = norm.rpartition("@")
    if lp.startswith('"') and lp.endswith('"') and len(lp) >= 2:
        lp = lp[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    lp = lp.split("+", 1)[0].split("-", 1)[0].replace(".", "").lower()
    return f"{lp}@{domain}"


#: Reply codes after which mox stops at once (queue/suppression.go isImmedateBlock).
_BLOCK_CODES = frozenset({c.C521_HOST_NO_MAIL, c.C550_MAILBOX_UNAVAIL, c.C551_USER_NOT_LOCAL, c.C553_BAD_MAILBOX_NAME, 556})
#: Enhanced codes (without class) that do the same for any 5xx reply.
_BLOCK_SECODES = frozenset(
    {
        c.SE_ADDR_UNKNOWN_DEST_MAILBOX,  # 1.1 the mailbox does not exist
        c.SE_ADDR_UNKNOWN_SYSTEM,  # 1.2 bad destination domain
        c.SE_ADDR_MAILBOX_SYNTAX,  # 1.3 the remote cannot parse the address
        "1.6",  # destination mailbox moved, no forwarding address
        c.SE_MAILBOX_DISABLED,  # 2.1 mailbox disabled
        c.SE_POL_DELIVERY_UNAUTH,  # 7.1 often: we are on a block list
    }
)


def is_immediate_block(code: int, secode: str) -> bool:
    """Whether a failure with ``code`` and short enhanced code ``secode`` (``"1.1"``) puts the
    recipient on the suppression list at once (mox: no use bothering the remote again)."""
    if code in _BLOCK_CODES:
        return True
    return code // 100 == 5 and secode in _BLOCK_SECODES
