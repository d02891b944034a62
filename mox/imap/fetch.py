"""FETCH attribute values (RFC 9051 7.5.2): ENVELOPE, BODY/BODYSTRUCTURE, sections and partials.

Pure functions over the message bytes and its parsed ``Part`` tree; literals carry exact byte
counts, BINARY uses literal8 (``~{n}``) when the decoded content contains NUL (RFC 3516 4.2).
"""

from __future__ import annotations

import datetime

from mox.message import sections
from mox.message.part import Address, Envelope, Part

from .session import nstring
from .types import Section

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def internaldate(ts: float) -> bytes:
    d = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
    return f'"{d.day:2d}-{MONTHS[d.month - 1]}-{d.year:04d} {d.hour:02d}:{d.minute:02d}:{d.second:02d} +0000"'.encode()


def literal(data: bytes) -> bytes:
    return b"{%d}\r\n" % len(data) + data


def literal8(data: bytes) -> bytes:
    if b"\x00" in data:
        return b"~{%d}\r\n" % len(data) + data
    return literal(data)


def _addresses(addrs: list[Address]) -> bytes:
    if not addrs:
        return b"NIL"
    return b"(" + b"".join(
        b"(" + b" ".join(nstring(v) for v in (a.name, a.adl, a.mailbox, a.host)) + b")" for a in addrs
    ) + b")"


def envelope(env: Envelope | None) -> bytes:
    if env is None:
        env = Envelope(None, None, [], [], [], [], [], [], None, None)
    return b"(" + b" ".join(
        [
            nstring(env.date),
            nstring(env.subject),
            _addresses(env.from_),
            _addresses(env.sender),
            _addresses(env.reply_to),
            _addresses(env.to),
            _addresses(env.cc),
            _addresses(env.bcc),
            nstring(env.in_reply_to),
            nstring(env.message_id),
        ]
    ) + b")"


def _params(params: list[tuple[str, str]]) -> bytes:
    if not params:
        return b"NIL"
    return b"(" + b" ".join(nstring(k.upper()) + b" " + nstring(v) for k, v in params) + b")"


def _disposition(p: Part) -> bytes:
    if not p.disposition:
        return b"NIL"
    return b"(" + nstring(p.disposition.upper()) + b" " + _params(p.disposition_params) + b")"


def _language(p: Part) -> bytes:
    if not p.language:
        return b"NIL"
    if len(p.language) == 1:
        return nstring(p.language[0])
    return b"(" + b" ".join(nstring(x) for x in p.language) + b")"


def bodystructure(p: Part, extensible: bool) -> bytes:
    """BODY (non-extensible) or BODYSTRUCTURE (extensible) of a part, RFC 9051 7.5.2."""
    if p.media_type == "MULTIPART":
        children = b"".join(bodystructure(c, extensible) for c in p.parts)
        if not children:
            # A multipart without parts: describe it as an empty text part (RFC 9051 requires 1+ parts).
            children = b'("TEXT" "PLAIN" NIL NIL NIL "7BIT" 0 0)'
        out = b"(" + children + b" " + nstring(p.media_subtype)
        if extensible:
            out += b" " + _params(p.params) + b" " + _disposition(p) + b" " + _language(p) + b" " + nstring(p.location)
        return out + b")"
    fields = [
        nstring(p.media_type),
        nstring(p.media_subtype),
        _params(p.params),
        nstring(p.content_id),
        nstring(p.content_description),
        nstring(p.content_transfer_encoding),
        str(p.body_end - p.body_start).encode(),
    ]
    if p.media_type == "MESSAGE" and p.media_subtype in ("RFC822", "GLOBAL") and p.parts:
        child = p.parts[0]
        fields += [envelope(child.envelope), bodystructure(child, extensible), str(p.body_lines).encode()]
    elif p.media_type == "TEXT":
        fields.append(str(p.body_lines).encode())
    if extensible:
        fields += [nstring(p.content_md5), _disposition(p), _language(p), nstring(p.location)]
    return b"(" + b" ".join(fields) + b")"


# ENVELOPE, BODYSTRUCTURE and BODY of recently fetched messages, keyed by the msgpack encoding of
# their MIME part (which is all they depend on), bounded by size: a client fetching them again
# (or a message copied elsewhere) costs neither decoding the part nor building the response.
RENDER_CACHE_MAX = 16 << 20
_render_cache: dict[bytes, list] = {}  # part encoding -> [size, envelope, bodystructure, body]
_render_cache_size = 0


def rendered(msg, which: int) -> bytes:
    """ENVELOPE (0), BODYSTRUCTURE (1) or BODY (2) of a stored message, as the functions above
    make them from ``msg.part``."""
    global _render_cache_size
    key = bytes(msg.part_raw)
    entry = _render_cache.get(key)
    if entry is None:
        entry = [0, None, None, None]
        if len(key) * 4 <= RENDER_CACHE_MAX:
            while _render_cache and _render_cache_size + len(key) * 4 > RENDER_CACHE_MAX:
                _render_cache_size -= _render_cache.pop(next(iter(_render_cache)))[0]
            _render_cache[key] = entry
    v = entry[which + 1]
    if v is None:
        part = msg.part
        if which == 0:
            v = envelope(part.envelope if part else None)
        else:
            v = bodystructure(part, which == 1)
        entry[which + 1] = v
        if _render_cache.get(key) is entry:
            add = len(v) + 100 + (len(key) if entry[0] == 0 else 0)
            entry[0] += add
            _render_cache_size += add
    return v


def section_name(sec: Section) -> str:
    parts = [".".join(str(n) for n in sec.part)] if sec.part else []
    if sec.text:
        t = sec.text
        if sec.fields:
            t += " (" + " ".join(sec.fields) + ")"
        parts.append(t)
    return ".".join(parts)


def section_bytes(data: bytes, root: Part, sec: Section) -> bytes:
    """The bytes of a BODY[section] (RFC 9051 6.4.5); empty for a part that doesn't exist."""
    part = root if not sec.part else sections.find_part(root, list(sec.part))
    if part is None:
        return b""
    if sec.text is None:
        if not sec.part:
            return data
        return sections.body_bytes(data, part)
    if sec.text == "MIME":
        return sections.mime_header_bytes(data, part)
    if sec.part and not (part.media_type == "MESSAGE" and part.parts):
        # HEADER/TEXT of a part only make sense for message/rfc822 parts.
        return b""
    # Without a part number HEADER and TEXT are the top-level message's own: TEXT of a message
    # whose body is a message/rfc822 is the embedded header and body (RFC 9051 6.4.5).
    top = not sec.part
    if sec.text == "HEADER":
        return sections.header_bytes(data, part, top=top)
    if sec.text == "TEXT":
        return sections.text_bytes(data, part, top=top)
    return sections.header_fields(data, part, list(sec.fields), exclude=sec.text == "HEADER.FIELDS.NOT", top=top)


def binary_bytes(data: bytes, root: Part, sec: Section) -> bytes | None:
    """Decoded content for BINARY[part] (RFC 3516); None when the part doesn't exist.
    Raises ``sections.UnknownEncoding``."""
    if not sec.part:
        return data
    part = sections.find_part(root, list(sec.part))
    if part is None:
        return None
    if part.media_type == "MULTIPART" or part.media_type == "MESSAGE":
        return sections.body_bytes(data, part)
    return sections.decode_body(data, part)
