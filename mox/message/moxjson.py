"""A parsed message as mox's ``message.Part`` encodes to JSON (``mox message parse``): field
names, order and empty values as Go's encoding/json writes that struct (message/part.go).

Differences from our own :class:`~mox.message.part.Part` that mox's form keeps:

- ``MediaType``/``MediaSubType`` are empty and ``ContentTypeParams`` null when the part has no
  Content-Type field (we default to TEXT/PLAIN for IMAP); ``ContentTransferEncoding`` and the
  other Content-* fields are left out when absent (``omitempty``) and are the first field's
  value as written (unfolded).
- ``BoundaryOffset`` is -1 for a message, else where the part's delimiter line starts.
- ``DecodedSize`` is the size of the decoded body of a leaf part or message/rfc822 part (bare LF
  counted as CRLF in text parts), 0 for a multipart.
- The message inside a message/rfc822 (or message/global) part is ``Message``, parsed from that
  part's decoded body, so its offsets count from the start of the embedded message.
- ``Envelope`` only for messages: the date in RFC 3339 (Go's zero time when missing or
  unparsable), the subject with RFC 2047 words decoded, address lists as Name/User/Host (null
  when the field is missing), In-Reply-To and Message-Id as written.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from mox.message.header import decode_header_value, parse_address_list, parse_date, split_header
from mox.message.parse import parse_message
from mox.message.part import Part
from mox.message.sections import decoded_or_raw

_ZERO_TIME = "0001-01-01T00:00:00Z"


def _header(data: bytes, part: Part) -> dict[str, str]:
    """First value of each field of the part's header (lower-case names), unfolded."""
    fields, _, _ = split_header(data, part.header_start, part.body_start)
    out: dict[str, str] = {}
    for f in fields:
        out.setdefault(f.lname, f.value())
    return out


def _go_time(dt: datetime.datetime | None) -> str:
    if dt is None or dt.year > 9999:
        return _ZERO_TIME
    off = dt.utcoffset() or datetime.timedelta(0)
    s = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if dt.microsecond:
        s += f".{dt.microsecond:06d}".rstrip("0")
    if not off:
        return s + "Z"
    mins = int(off.total_seconds()) // 60
    sign = "+" if mins >= 0 else "-"
    mins = abs(mins)
    return f"{s}{sign}{mins // 60:02d}:{mins % 60:02d}"


def _addresses(value: str | None) -> list[dict[str, str]] | None:
    if not value:
        return None
    out = []
    for a in parse_address_list(value):
        if a.host is None:
            continue  # group start/end marker
        out.append({"Name": decode_header_value(a.name or ""), "User": a.mailbox or "", "Host": (a.host or "").lower()})
    return out or None


def _envelope(h: dict[str, str]) -> dict[str, Any]:
    subject = decode_header_value(h.get("subject", ""))
    return {
        "Date": _go_time(parse_date(h.get("date"))),
        "Subject": subject,
        "From": _addresses(h.get("from")),
        "Sender": _addresses(h.get("sender")),
        "ReplyTo": _addresses(h.get("reply-to")),
        "To": _addresses(h.get("to")),
        "CC": _addresses(h.get("cc")),
        "BCC": _addresses(h.get("bcc")),
        "InReplyTo": h.get("in-reply-to", ""),
        "MessageID": h.get("message-id", ""),
    }


def _line_count(body: bytes) -> int:
    if not body:
        return 0
    return body.count(b"\n") + (0 if body.endswith(b"\n") else 1)


def _boundary_offset(data: bytes, part: Part, parent: Part | None) -> int:
    if parent is None:
        return -1
    boundary = dict(parent.params).get("boundary", "").encode("utf-8", "replace")
    i = data.rfind(b"--" + boundary, parent.body_start, part.header_start)
    return i if i >= 0 else part.header_start


def _decoded_size(data: bytes, part: Part) -> int:
    body = decoded_or_raw(data, part)
    if part.media_type == "TEXT":
        # mox counts a text part's bare LF line ends as CRLF.
        return len(body) + body.count(b"\n") - body.count(b"\r\n")
    return len(body)


def part_json(data: bytes, part: Part, parent: Part | None = None) -> dict[str, Any]:
    h = _header(data, part)
    has_ct = "content-type" in h
    is_multipart = part.media_type == "MULTIPART" and has_ct
    is_message = part.media_type == "MESSAGE" and part.media_subtype in ("RFC822", "GLOBAL")
    d: dict[str, Any] = {
        "BoundaryOffset": _boundary_offset(data, part, parent),
        "HeaderOffset": part.header_start,
        "BodyOffset": part.body_start,
        "EndOffset": part.body_end,
        "RawLineCount": _line_count(data[part.body_start : part.body_end]),
        "DecodedSize": 0 if is_multipart else _decoded_size(data, part),
        "MediaType": part.media_type if has_ct else "",
        "MediaSubType": part.media_subtype if has_ct else "",
        "ContentTypeParams": dict(part.params) if has_ct else None,
    }
    for key, name in (
        ("ContentID", "content-id"),
        ("ContentDescription", "content-description"),
        ("ContentTransferEncoding", "content-transfer-encoding"),
        ("ContentDisposition", "content-disposition"),
        ("ContentMD5", "content-md5"),
        ("ContentLanguage", "content-language"),
        ("ContentLocation", "content-location"),
    ):
        if name in h:
            d[key] = h[name].upper() if key == "ContentTransferEncoding" else h[name]
    if parent is None:
        d["Envelope"] = _envelope(h)
    d["Parts"] = [part_json(data, p, part) for p in part.parts] if is_multipart else None
    d["Message"] = None
    if is_message:
        inner = decoded_or_raw(data, part)
        d["Message"] = part_json(inner, parse_message(inner))
    return d


def message_json(data: bytes) -> str:
    """The JSON mox prints for ``mox message parse``: tab-indented, HTML characters as is, one
    trailing newline."""
    return json.dumps(part_json(data, parse_message(data)), indent="\t", ensure_ascii=False) + "\n"


def needs_smtputf8(data: bytes, part: Part | None = None) -> bool:
    """Whether a header of the message or of one of its parts has non-ASCII bytes (mox
    message.Part.NeedsSMTPUTF8; RFC 6531: such a message needs SMTPUTF8)."""
    if part is None:
        part = parse_message(data)
    if not data[part.header_start : part.body_start].isascii():
        return True
    return any(needs_smtputf8(data, p) for p in part.parts)
