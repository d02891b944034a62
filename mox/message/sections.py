"""Serving parts of a parsed message: IMAP sections (RFC 9051 6.4.5), decoded bodies (RFC 2045 6,
RFC 3516 BINARY), header fields for SEARCH and text for SEARCH BODY/TEXT (RFC 9051 6.4.4).

All functions take the message bytes and a :class:`Part` from :func:`parse_message` on those
same bytes; they slice, they never parse the whole message again.
"""

from __future__ import annotations

import binascii
import datetime
import email.utils
import re
import secrets
from collections.abc import Iterable

from mox.message.header import decode_header_value, split_header
from mox.message.part import Part


class UnknownEncoding(ValueError):
    """The part's Content-Transfer-Encoding is not one we can decode (IMAP answers
    ``NO [UNKNOWN-CTE]``, RFC 3516 4.3). ``args[0]`` is the encoding, upper-case."""


def _is_message(part: Part) -> bool:
    return part.media_type == "MESSAGE" and part.media_subtype in ("RFC822", "GLOBAL") and bool(part.parts)


def _message_of(part: Part, top: bool = False) -> Part:
    """The message whose header/text a section refers to: the embedded message for a
    message/rfc822 part (RFC 9051 6.4.5: "2.HEADER" is the header of the message in part 2).
    With ``top`` the section has no part number: it is about the message itself, also when that
    message's body is a message/rfc822 (its TEXT is then the whole embedded message)."""
    return part.parts[0] if not top and _is_message(part) else part


def find_part(root: Part, path: list[int]) -> Part | None:
    """The part for an IMAP section part number (RFC 9051 6.4.5), or None if it does not exist.

    ``[]`` is the whole message. A non-multipart message has a single part, 1: its body (the
    returned Part is the message itself). The parts of a message/rfc822 part continue into the
    embedded message: with part 2 being message/rfc822, "2.1" is part 1 of the message inside.
    """
    cur = root
    is_message = True  # cur is a message (root, or child of message/rfc822), not a body part.
    for n in path:
        if n < 1:
            return None
        if not is_message and _is_message(cur):
            cur, is_message = cur.parts[0], True
        if cur.media_type == "MULTIPART":
            if n > len(cur.parts):
                return None
            cur = cur.parts[n - 1]
        elif n != 1 or not is_message:
            return None
        is_message = False
    return cur


def header_bytes(data: bytes, part: Part, *, top: bool = False) -> bytes:
    """RFC 9051 6.4.5 ``HEADER``: the message header including the blank line ending it. For a
    message/rfc822 part this is the header of the embedded message (not with ``top``, see
    :func:`_message_of`)."""
    m = _message_of(part, top)
    return data[m.header_start : m.body_start]


def text_bytes(data: bytes, part: Part, *, top: bool = False) -> bytes:
    """RFC 9051 6.4.5 ``TEXT``: the message body without its header. For a message/rfc822 part,
    the body of the embedded message (not with ``top``: everything after the top-level header,
    the embedded message's header included)."""
    m = _message_of(part, top)
    return data[m.body_start : m.body_end]


def body_bytes(data: bytes, part: Part) -> bytes:
    """The raw (still transfer-encoded) body of a part: IMAP ``BODY[1.2]`` (RFC 9051 6.4.5). For a
    message/rfc822 part this is the whole embedded message."""
    return data[part.body_start : part.body_end]


def mime_header_bytes(data: bytes, part: Part) -> bytes:
    """RFC 9051 6.4.5 ``MIME``: the part's own MIME header including the blank line ending it."""
    return data[part.header_start : part.body_start]


def _names(names: Iterable[str | bytes]) -> set[str]:
    out: set[str] = set()
    for n in names:
        if isinstance(n, bytes):
            n = n.decode("ascii", errors="replace")
        out.add(n.lower())
    return out


def header_fields(
    data: bytes, part: Part, names: Iterable[str | bytes], *, exclude: bool = False, not_: bool | None = None, top: bool = False
) -> bytes:
    """RFC 9051 6.4.5 ``HEADER.FIELDS (names)`` / ``HEADER.FIELDS.NOT`` (``exclude=True``; ``not_``
    is accepted as an alias): the matching fields of the message header, byte for byte as in the
    message (folded lines kept), followed by the blank line that ends a header, ``\\r\\n``.
    Names compare case-insensitively. For a message/rfc822 part the embedded message is used
    (not with ``top``)."""
    if not_ is not None:
        exclude = not_
    m = _message_of(part, top)
    wanted = _names(names)
    fields, _, _ = split_header(data, m.header_start, m.body_start)
    out = [data[f.start : f.end] for f in fields if (f.lname in wanted) != exclude]
    for i, b in enumerate(out):
        if not b.endswith(b"\n"):
            out[i] = b + b"\r\n"
    out.append(b"\r\n")
    return b"".join(out)


def headers(data: bytes, part: Part, *, top: bool = False) -> list[tuple[str, str]]:
    """The header fields of the message (embedded message for message/rfc822, not with ``top``)
    as (name as written, unfolded value) pairs in order (RFC 5322 2.2.3). Values are not RFC 2047
    decoded; see :func:`decode_header_value`."""
    m = _message_of(part, top)
    fields, _, _ = split_header(data, m.header_start, m.body_start)
    return [(f.name, f.value()) for f in fields]


_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/]+")


def _decode_base64(body: bytes) -> bytes:
    try:
        return binascii.a2b_base64(body)
    except binascii.Error:
        pass
    # Lenient: drop junk and broken padding, decode what can be decoded.
    s = _B64_JUNK.sub(b"", body)
    if len(s) % 4 == 1:
        s = s[:-1]
    s += b"=" * (-len(s) % 4)
    try:
        return binascii.a2b_base64(s)
    except binascii.Error:
        return b""


def decoded_or_raw(data: bytes, part: Part) -> bytes:
    """The part's body decoded as :func:`decode_body` does, or as it is in the message when its
    transfer encoding is unknown (what a reader is shown; RFC 2045 6.4: an unrecognized encoding
    is treated as application/octet-stream)."""
    try:
        return decode_body(data, part)
    except UnknownEncoding:
        return data[part.body_start : part.body_end]


def part_text(data: bytes, part: Part) -> str:
    """The text of a text/* part: its body decoded (:func:`decoded_or_raw`) in its charset, UTF-8
    for ASCII, a missing charset or an unknown one; undecodable bytes replaced."""
    return _charset_text(decoded_or_raw(data, part), _param(part, "charset"))


def decode_body(data: bytes, part: Part) -> bytes:
    """The part's body with its Content-Transfer-Encoding removed (RFC 2045 6; IMAP BINARY,
    RFC 3516). 7BIT, 8BIT and BINARY are returned as is; BASE64 and QUOTED-PRINTABLE are decoded
    leniently. Raises :class:`UnknownEncoding` for any other encoding (RFC 3516 4.3)."""
    body = data[part.body_start : part.body_end]
    cte = part.content_transfer_encoding
    if cte in ("7BIT", "8BIT", "BINARY", ""):
        return body
    if cte == "BASE64":
        return _decode_base64(body)
    if cte == "QUOTED-PRINTABLE":
        return decode_quoted_printable(body)
    raise UnknownEncoding(cte)


# RFC 2045 6.7, in one left-to-right pass: "=XX" is an octet (lower-case hex accepted, rule 1's
# robustness note); "=" ending a line, optionally followed by transport-added whitespace, is a
# soft line break (rules 3 and 5), also at the very end; whitespace ending a line was added in
# transport and is deleted (rule 3), while whitespace before a soft break is data. Any other "="
# is kept as is (note 2 after the rules).
_QP = re.compile(rb"=([0-9A-Fa-f]{2})|=[ \t]*(?:\r?\n|\Z)|[ \t]+(?=\r?\n|\Z)")


def _qp_octet(m: re.Match[bytes]) -> bytes:
    h = m.group(1)
    return bytes((int(h, 16),)) if h is not None else b""


def decode_quoted_printable(body: bytes) -> bytes:
    """A quoted-printable body decoded exactly as RFC 2045 6.7 describes (see ``_QP``); hard line
    breaks are kept as they are in the message."""
    return _QP.sub(_qp_octet, body)


def _charset_text(raw: bytes, charset: str | None) -> str:
    cs = (charset or "us-ascii").strip().lower()
    if cs in ("us-ascii", "ascii", ""):
        cs = "utf-8"  # Mislabelled 8-bit text is common; ASCII is a subset anyway.
    try:
        return raw.decode(cs, errors="replace")
    except (LookupError, ValueError, TypeError):
        return raw.decode("utf-8", errors="replace")


def _param(part: Part, name: str) -> str | None:
    for k, v in part.params:
        if k == name:
            return v
    return None


def text_for_search(data: bytes, part: Part) -> str:
    """The decoded text of the text/* parts in and under ``part``, converted from their charset
    (RFC 9051 6.4.4 SEARCH BODY/TEXT compare against decoded text). Embedded messages add their
    header fields (RFC 2047 decoded) and their text. Other media types are skipped."""
    out: list[str] = []

    def walk(p: Part) -> None:
        if p.media_type == "MULTIPART":
            for c in p.parts:
                walk(c)
        elif _is_message(p):
            m = p.parts[0]
            for name, value in headers(data, m):
                out.append(f"{name}: {decode_header_value(value)}")
            walk(m)
        elif p.media_type == "TEXT":
            out.append(part_text(data, p))

    walk(part)
    return "\n".join(out)


def add_missing_headers(data: bytes, *, hostname: str, now: datetime.datetime) -> bytes:
    """Prepend ``Message-ID`` and ``Date`` fields when the message header lacks them, as a
    submission server does (RFC 6409 8.2 and 8.3; RFC 5322 3.6 requires Date, recommends
    Message-ID). ``now`` without timezone is taken as UTC. Returns the (possibly same) message."""
    fields, _, _ = split_header(data, 0, len(data))
    have = {f.lname for f in fields}
    add = []
    if "message-id" not in have:
        add.append(f"Message-ID: <{secrets.token_urlsafe(18)}@{hostname}>\r\n")
    if "date" not in have:
        if now.tzinfo is None:
            now = now.replace(tzinfo=datetime.timezone.utc)
        add.append(f"Date: {email.utils.format_datetime(now)}\r\n")
    if not add:
        return data
    return "".join(add).encode("ascii") + data
