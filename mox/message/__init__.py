"""MIME message parsing (pure: no trio, no store).

- :func:`parse_message` builds the :class:`Part` tree with byte offsets, used by the store's index
  and IMAP FETCH/BODYSTRUCTURE.
- :func:`check_message` applies the pedantic checks SMTP uses (``554 5.6.0 malformed message``).
- Section helpers serve exact byte ranges for IMAP ``BODY[...]`` (RFC 9051 6.4.5).
"""

from mox.message.check import REASON_NO_BODY, MalformedMessage, check_message
from mox.message.header import decode_header_value, parse_address_list, parse_date
from mox.message.parse import parse_message
from mox.message.part import Address, Envelope, Part
from mox.message.sections import (
    UnknownEncoding,
    add_missing_headers,
    body_bytes,
    decode_body,
    find_part,
    header_bytes,
    header_fields,
    headers,
    mime_header_bytes,
    text_bytes,
    text_for_search,
)

__all__ = [
    "REASON_NO_BODY",
    "Address",
    "Envelope",
    "MalformedMessage",
    "Part",
    "UnknownEncoding",
    "add_missing_headers",
    "body_bytes",
    "check_message",
    "decode_body",
    "decode_header_value",
    "find_part",
    "header_bytes",
    "header_fields",
    "headers",
    "mime_header_bytes",
    "parse_address_list",
    "parse_date",
    "parse_message",
    "text_bytes",
    "text_for_search",
]
