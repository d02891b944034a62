"""The parsed MIME structure of a message, as cached in the store's index and used by IMAP FETCH.

Offsets are byte offsets into the message file, so any section can be served by slicing the file
without parsing it again (RFC 9051 6.4.5 sections: HEADER, TEXT, MIME, part numbers).

These Structs are stored in the account index: follow msgspec's schema-evolution rules (new fields
get defaults and go at the end, never reuse a removed field's position).
"""

from __future__ import annotations

import msgspec


class Address(msgspec.Struct, frozen=True, array_like=True):
    """One address of an ENVELOPE address list (RFC 9051 7.5.2: addr-name addr-adl addr-mailbox
    addr-host). ``host`` is None for group start/end markers (RFC 9051 "group syntax")."""

    name: str | None
    adl: str | None
    mailbox: str | None
    host: str | None


class Envelope(msgspec.Struct, frozen=True, array_like=True):
    """ENVELOPE fields (RFC 9051 7.5.2), header values unfolded but not decoded (as IMAP sends them)."""

    date: str | None
    subject: str | None
    from_: list[Address]
    sender: list[Address]
    reply_to: list[Address]
    to: list[Address]
    cc: list[Address]
    bcc: list[Address]
    in_reply_to: str | None
    message_id: str | None


class Part(msgspec.Struct, frozen=True, array_like=True):
    """One MIME part. The top-level message is a Part too.

    - ``header_start``..``body_start`` is the part's header including the blank line that ends it
      (for a part without that blank line, just its header lines).
    - ``body_start``..``body_end`` is its body. For a part of a multipart the line ending before
      the next delimiter is not included (RFC 2046 5.1.1); a multipart's body includes preamble,
      delimiters and epilogue. The body size for BODYSTRUCTURE is ``body_end - body_start``.
    - ``media_type``/``media_subtype`` are upper-case (``TEXT``/``PLAIN``); defaults per RFC 2045 5.2
      (``text/plain; charset=us-ascii``, or ``message/rfc822`` inside multipart/digest).
    - ``params``: Content-Type parameters as (name lower-case, value) pairs, RFC 2231 decoded.
      An unparsable Content-Type keeps its type/subtype without parameters, or becomes
      ``APPLICATION/OCTET-STREAM`` (as mox does).
    - ``content_transfer_encoding`` is upper-case, ``7BIT`` when absent; ``disposition`` is
      upper-case (``ATTACHMENT``) with its parameters like ``params``; header values (id,
      description, md5, location) are unfolded, not RFC 2047 decoded.
    - ``parts``: children of a multipart; for ``message/rfc822`` (and ``message/global``) exactly
      one child, the embedded message (whose own ``envelope`` is set), whose ``header_start`` is
      this part's ``body_start``. Empty for a multipart without boundary parameter, and for
      message/rfc822 with a base64/quoted-printable encoding (not allowed, RFC 2046 5.2.1).
    - ``body_lines``: number of lines in the body, a last line without line ending included
      (for TEXT/* and MESSAGE/RFC822 in BODYSTRUCTURE).
    - ``envelope``: set on the top-level part and on the child of a message/rfc822 part.
    """

    header_start: int
    body_start: int
    body_end: int
    media_type: str = "TEXT"
    media_subtype: str = "PLAIN"
    params: list[tuple[str, str]] = []
    content_id: str | None = None
    content_description: str | None = None
    content_transfer_encoding: str = "7BIT"
    content_md5: str | None = None
    disposition: str | None = None
    disposition_params: list[tuple[str, str]] = []
    language: list[str] | None = None
    location: str | None = None
    body_lines: int = 0
    envelope: Envelope | None = None
    parts: list[Part] = []
