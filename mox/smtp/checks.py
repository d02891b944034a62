"""What the SMTP server checks in a message before it takes it (sans-IO: bytes in, a
``ReplyError`` with the reply out; no trio, no store).

mox's localserve is pedantic (mox smtpserver/server.go): a message must parse as RFC 5322 with
valid MIME (``mox.message.check_message``); submission requires a header and a body section,
8-bit data only with BODY=8BITMIME/BINARYMIME or SMTPUTF8, exactly one From address that
belongs to the authenticated account, and no Return-Path; an internationalized address in an
address field needs SMTPUTF8 (RFC 6531 3.4, RFC 6532 3.2).
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from typing import TYPE_CHECKING

from mox.message import MalformedMessage, check_message, parse_message
from mox.smtp import codes as c
from mox.smtp.protocol import fail

if TYPE_CHECKING:
    from email.message import Message


def check_data(data: bytes, *, submission: bool, tx_8bit: bool, smtputf8: bool) -> None:
    """Pedantic checks of a message before accepting it (DATA/BDAT, delivery and submission)."""
    if submission and b"\r\n\r\n" not in data and not data.startswith(b"\r\n"):
        raise fail(c.C554_TRANSACTION_FAILED, c.SE_MSG_OTHER, "message requires both header and body section")
    if submission and not (tx_8bit or smtputf8) and not data.isascii():
        raise fail(c.C500_BAD_SYNTAX, c.SE_MSG_OTHER, "message with non-us-ascii requires 8bitmime extension")
    try:
        check_message(data)
    except MalformedMessage as e:
        raise fail(c.C554_TRANSACTION_FAILED, c.SE_MSG_OTHER, e.smtp_text) from None
    if not smtputf8 and headers_need_smtputf8(data):
        # RFC 6531 3.4 / RFC 6532: internationalized addresses need SMTPUTF8 (mox, pedantic).
        raise fail(c.C550_MAILBOX_UNAVAIL, c.SE_MSG_OTHER, "smtputf8 extension is required but was not added to the MAIL command")


def parse_header(data: bytes) -> Message:
    """The message header as the stdlib parses it (compat32: values as they are)."""
    # email.policy (with the header registry) at the first message, not at every start.
    import email.parser
    import email.policy

    end = data.find(b"\r\n\r\n")
    head = data if end < 0 else data[: end + 4]
    return email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)


def check_submission(data: bytes, belongs: Callable[[str], bool]) -> str:
    """The checks of a submitted message's header (mox smtpserver submit): exactly one From
    address, ``belongs`` to the authenticated account, and no Return-Path (added on delivery).
    Returns the From address."""
    hdr = parse_header(data)
    try:
        from_addrs = email.utils.getaddresses([str(v) for v in hdr.get_all("From") or []])
    except Exception:  # stdlib parser on hostile input: treat as unparseable
        from_addrs = []
    if len(from_addrs) != 1 or not from_addrs[0][1]:
        raise fail(c.C550_MAILBOX_UNAVAIL, c.SE_MSG_OTHER, "cannot parse header or From address: need exactly one From address")
    from_addr = from_addrs[0][1]
    if not belongs(from_addr):
        raise fail(c.C550_MAILBOX_UNAVAIL, c.SE_POL_DELIVERY_UNAUTH, "message from address must belong to authenticated user")
    if hdr.get("Return-Path") is not None:
        raise fail(c.C550_MAILBOX_UNAVAIL, c.SE_MSG_OTHER, "message should not have Return-Path header")
    return from_addr


def message_from(data: bytes) -> str | None:
    """The single address in the message's From header, else None (for an alias's posting
    rules, mox smtpserver)."""
    try:
        addrs = email.utils.getaddresses([str(v) for v in parse_header(data).get_all("From") or []])
    except Exception:  # stdlib parser on hostile input: no usable From
        return None
    return addrs[0][1] if len(addrs) == 1 and addrs[0][1] else None


def _canonical_header_name(name: str) -> str:
    """Go's textproto.CanonicalMIMEHeaderKey: each dash-separated word with a capital first
    letter, the rest lower case; names with characters other than letters, digits and dashes
    stay as they are."""
    if not name or any(not (ch.isascii() and (ch.isalnum() or ch == "-")) for ch in name):
        return name
    return "-".join(w[:1].upper() + w[1:].lower() for w in name.split("-"))


def mox_extra(data: bytes) -> dict[str, str]:
    """The ``X-Mox-Extra-<key>: <value>`` fields of a submitted message as the queue's Extra
    (mox smtpserver submit): keys canonicalized, each at most once (else ``554 5.6.0``). The
    fields stay in the message, as in mox."""
    hdr = parse_header(data)
    extra: dict[str, str] = {}
    for name in dict.fromkeys(str(n).lower() for n in hdr.keys()):
        key = _canonical_header_name(name)
        if not key.startswith("X-Mox-Extra-") or len(key) == len("X-Mox-Extra-"):
            continue
        k = key[len("X-Mox-Extra-") :]
        values = hdr.get_all(name) or []
        if k in extra or len(values) > 1:
            raise fail(c.C554_TRANSACTION_FAILED, c.SE_MSG_OTHER, f"duplicate x-mox-extra- key {k!r}")
        extra[k] = str(values[-1]).strip()
    return extra


ADDRESS_FIELDS = (
    b"from", b"sender", b"reply-to", b"to", b"cc", b"bcc", b"resent-from", b"resent-sender", b"resent-to",
    b"resent-cc", b"resent-bcc", b"return-path", b"delivered-to",
)  # fmt: skip


def headers_need_smtputf8(data: bytes) -> bool:
    """Whether an address field in the header of the message or of one of its MIME parts has
    non-ASCII bytes: an internationalized address (RFC 6532 3.2) needs SMTPUTF8. mox checks
    every header field; raw UTF-8 in e.g. a Subject with BODY=8BITMIME is common enough that we
    accept it (the pedantic checks already require valid UTF-8 there)."""
    if data.isascii():
        return False
    try:
        part = parse_message(data)
    except Exception:  # lenient parser; be safe on anything unexpected
        return False
    stack = [part]
    while stack:
        p = stack.pop()
        head = data[p.header_start : p.body_start]
        if not head.isascii():
            name = b""
            for line in head.split(b"\r\n"):
                if line[:1] not in (b" ", b"\t"):
                    name = line.split(b":", 1)[0].strip().lower()
                if name in ADDRESS_FIELDS and not line.isascii():
                    return True
        stack.extend(p.parts or ())
    return False
