"""Pedantic message checks, as SMTP applies them before accepting a message in pedantic mode
(mox: localserve rejects with ``554 5.6.0 malformed message: <reason>``, RFC 6409 8.1/5.2).

:func:`parse_message` stays lenient; :func:`check_message` says what it had to forgive.
"""

from __future__ import annotations

import binascii
import re

from mox.message.header import ParamError, parse_content_type, parse_disposition, split_header
from mox.message.parse import delimiters, parse_message
from mox.message.part import Part

# The reason mox's submission gives when the header/body separator is missing (RFC 6409 8.1).
REASON_NO_BODY = "message requires both header and body section"

_BARE_CR = re.compile(rb"\r(?!\n)")
_BARE_LF = re.compile(rb"(?<!\r)\n")
# mox's pedantic line length limit: 1000 bytes before the LF (RFC 5322 2.1.1 says 998 + CRLF).
_LONG_LINE = re.compile(rb"(?m)^[^\n]{1001}")


class MalformedMessage(ValueError):
    """The message does not pass the pedantic checks. ``reason`` is a short description.

    ``smtp_text`` is the text for the SMTP reply after ``554 5.6.0``: ``malformed message:
    <reason>``, or mox's own wording for a missing header/body separation.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason

    @property
    def smtp_text(self) -> str:
        if self.reason == REASON_NO_BODY:
            return REASON_NO_BODY
        return f"malformed message: {self.reason}"


def check_message(data: bytes) -> None:
    """Raise :class:`MalformedMessage` unless the message is well-formed:

    - lines end in CRLF: no bare CR or bare LF (RFC 5322 2.3, RFC 5321 2.3.8), lines at most
      1000 bytes (RFC 5322 2.1.1, with mox's one byte of slack);
    - the header is made of fields (RFC 5322 2.2) and ends with an empty line before the body
      (RFC 5322 2.1; RFC 6409 8.1), including the headers of MIME parts (RFC 2045 3);
    - 8-bit header bytes are UTF-8 (RFC 6532 3.2);
    - Content-Type and Content-Disposition follow their grammar (RFC 2045 5.1, RFC 2183 2),
      multiparts have a boundary, a first delimiter that is not the close delimiter, and a close
      delimiter (RFC 2046 5.1.1);
    - base64 bodies decode (RFC 2045 6.8).
    """
    data = bytes(data)
    # Counting is much faster than the regexps, which only run to find the offset to report.
    crlf = data.count(b"\r\n")
    if data.count(b"\r") != crlf:
        m = _BARE_CR.search(data)
        raise MalformedMessage(f"invalid bare carriage return at offset {m.start() if m else 0}")
    if data.count(b"\n") != crlf:
        m = _BARE_LF.search(data)
        raise MalformedMessage(f"invalid bare line feed at offset {m.start() if m else 0}")
    if len(data) > 1000 and max(map(len, data.split(b"\n"))) > 1000:
        m = _LONG_LINE.search(data)
        raise MalformedMessage(f"line too long at offset {m.start() if m else 0}")
    root = parse_message(data)
    _check_part(data, root, top=True, path="")


def _where(path: str) -> str:
    return f" in part {path}" if path else ""


def _check_part(data: bytes, part: Part, *, top: bool, path: str) -> None:
    fields, body_start, separated = split_header(data, part.header_start, part.body_end)
    if not separated:
        if body_start < part.body_end:
            nl = data.find(b"\n", body_start, part.body_end)
            line = data[body_start : part.body_end if nl < 0 else nl].rstrip(b"\r")
            raise MalformedMessage(f"malformed header line {line[:60]!r}{_where(path)}")
        if top and not path:
            raise MalformedMessage(REASON_NO_BODY)
        if not top:
            raise MalformedMessage(f"part header not ended by empty line{_where(path)}")
    try:
        data[part.header_start : part.body_start].decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedMessage(f"header is not valid utf-8{_where(path)}") from None
    for f in fields:
        if f.lname == "content-type":
            try:
                parse_content_type(f.value(), strict=True)
            except ParamError as e:
                raise MalformedMessage(f"bad content-type: {e}{_where(path)}") from None
        elif f.lname == "content-disposition":
            try:
                parse_disposition(f.value(), strict=True)
            except ParamError as e:
                raise MalformedMessage(f"bad content-disposition: {e}{_where(path)}") from None

    if part.media_type == "MULTIPART":
        boundary = next((v for k, v in part.params if k == "boundary"), "")
        if not boundary:
            raise MalformedMessage(f"missing/empty boundary content-type parameter{_where(path)}")
        bb = boundary.encode("utf-8", errors="replace")
        delims = [close for _, _, close in delimiters(data, bb, part.body_start, part.body_end)]
        if not delims:
            raise MalformedMessage(f"multipart without boundary lines{_where(path)}")
        if delims[0]:
            raise MalformedMessage(f"first boundary cannot be finishing boundary{_where(path)}")
        if True not in delims:
            raise MalformedMessage(f"eof without closing boundary{_where(path)}")
        for i, child in enumerate(part.parts, 1):
            _check_part(data, child, top=False, path=f"{path}.{i}" if path else str(i))
    elif part.media_type == "MESSAGE" and part.parts:
        # The embedded message is a message of its own (RFC 2046 5.2.1); its header may run to
        # the end of the part when it has no body.
        _check_part(data, part.parts[0], top=True, path=path or "1")
    elif part.content_transfer_encoding == "BASE64":
        body = data[part.body_start : part.body_end].translate(None, b"\r\n \t")
        try:
            binascii.a2b_base64(body, strict_mode=True)
        except binascii.Error as e:
            raise MalformedMessage(f"invalid base64 content{_where(path)}: {e}") from None
