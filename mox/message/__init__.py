"""MIME message parsing (pure: no trio, no store).

- :func:`parse_message` builds the :class:`Part` tree with byte offsets, used by the store's index
  and IMAP FETCH/BODYSTRUCTURE.
- :func:`check_message` applies the pedantic checks SMTP uses (``554 5.6.0 malformed message``).
- Section helpers serve exact byte ranges for IMAP ``BODY[...]`` (RFC 9051 6.4.5).
"""

from mox.message.header import decode_header_value, parse_address_list, parse_date
from mox.message.parse import parse_message
from mox.message.part import Address, Envelope, Part

__all__ = [
    "Address",
    "Envelope",
    "Part",
    "decode_header_value",
    "parse_address_list",
    "parse_date",
    "parse_message",
]
