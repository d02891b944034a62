"""FETCH attribute values (RFC 9051 7.5.2): ENVELOPE, BODY/BODYSTRUCTURE, sections and partials.

Pure functions over the message bytes and its parsed ``Part`` tree. ENVELOPE and BODYSTRUCTURE
are built as ``responses`` values and written by ``response_write`` (the strings as for a client
without UTF-8, so the bytes can be cached and shared by every session); the other attributes are
written by ``cmd_fetch`` through ``response_write.fetch_attr``.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from mox.message import sections
from mox.message.part import Address, Envelope, Part

from . import response_write
from . import responses as R
from .types import Section

if TYPE_CHECKING:
    from mox.store.schema import Message


def _addresses(addrs: list[Address]) -> tuple[R.Address, ...]:
    return tuple(R.Address(a.name, a.adl, a.mailbox, a.host) for a in addrs)


def envelope_value(env: Envelope | None) -> R.Envelope:
    if env is None:
        return R.Envelope(None, None)
    return R.Envelope(
        env.date,
        env.subject,
        _addresses(env.from_),
        _addresses(env.sender),
        _addresses(env.reply_to),
        _addresses(env.to),
        _addresses(env.cc),
        _addresses(env.bcc),
        env.in_reply_to,
        env.message_id,
    )


def _params(params: list[tuple[str, str]]) -> tuple[tuple[str, str], ...] | None:
    if not params:
        return None
    return tuple((k.upper(), v) for k, v in params)


def _params_ext(params: list[tuple[str, str]]) -> tuple[str, ...] | None:
    # The same list as extension data (body-fld-param as a flat list of strings).
    p = _params(params)
    return None if p is None else tuple(x for kv in p for x in kv)


def _disposition(p: Part) -> tuple[Any, ...] | None:
    if not p.disposition:
        return None
    return (p.disposition.upper(), _params_ext(p.disposition_params))


def _language(p: Part) -> Any:
    if not p.language:
        return None
    if len(p.language) == 1:
        return p.language[0]
    return tuple(p.language)


# RFC 9051 requires 1 or more parts in a multipart: one without any is described as an empty
# text part.
_EMPTY_PART = R.BodyTypeText("TEXT", "PLAIN", R.BodyFields(None, None, None, "7BIT", 0), 0)


def body_value(p: Part, extensible: bool) -> Any:
    """BODY (non-extensible) or BODYSTRUCTURE (extensible) of a part, RFC 9051 7.5.2."""
    if p.media_type == "MULTIPART":
        children = tuple(body_value(c, extensible) for c in p.parts) or (_EMPTY_PART,)
        ext: tuple[Any, ...] = ()
        if extensible:
            ext = (_params_ext(p.params), _disposition(p), _language(p), p.location)
        return R.BodyTypeMpart(children, p.media_subtype, ext)
    fields = R.BodyFields(
        _params(p.params), p.content_id, p.content_description, p.content_transfer_encoding, p.body_end - p.body_start
    )
    ext = (p.content_md5, _disposition(p), _language(p), p.location) if extensible else ()
    if p.media_type == "MESSAGE" and p.media_subtype in ("RFC822", "GLOBAL") and p.parts:
        child = p.parts[0]
        return R.BodyTypeMsg(
            p.media_type,
            p.media_subtype,
            fields,
            envelope_value(child.envelope),
            body_value(child, extensible),
            p.body_lines,
            ext,
        )
    if p.media_type == "TEXT":
        return R.BodyTypeText(p.media_type, p.media_subtype, fields, p.body_lines, ext)
    return R.BodyTypeBasic(p.media_type, p.media_subtype, fields, ext)


def envelope(env: Envelope | None) -> bytes:
    return response_write.envelope(envelope_value(env), utf8=False)


def bodystructure(p: Part, extensible: bool) -> bytes:
    return response_write.body(body_value(p, extensible), utf8=False)


# ENVELOPE, BODYSTRUCTURE and BODY of recently fetched messages, keyed by the msgpack encoding of
# their MIME part (which is all they depend on), bounded by size: a client fetching them again
# (or a message copied elsewhere) costs neither decoding the part nor building the response.
RENDER_CACHE_MAX = 16 << 20
class _Rendered:
    """The cached ENVELOPE, BODYSTRUCTURE and BODY of one part encoding, with their size."""

    __slots__ = ("size", "views")

    def __init__(self) -> None:
        self.size = 0
        self.views: list[bytes | None] = [None, None, None]


_render_cache: dict[bytes, _Rendered] = {}  # part encoding -> its rendered views
_render_cache_size = 0


def rendered(msg: Message, which: int) -> bytes:
    """ENVELOPE (0), BODYSTRUCTURE (1) or BODY (2) of a stored message, as the functions above
    make them from ``msg.part``."""
    global _render_cache_size
    key = bytes(msg.part_raw)
    entry = _render_cache.get(key)
    if entry is None:
        entry = _Rendered()
        if len(key) * 4 <= RENDER_CACHE_MAX:
            while _render_cache and _render_cache_size + len(key) * 4 > RENDER_CACHE_MAX:
                _render_cache_size -= _render_cache.pop(next(iter(_render_cache))).size
            _render_cache[key] = entry
    v = entry.views[which]
    if v is None:
        part = msg.part
        if which == 0:
            v = envelope(part.envelope if part else None)
        else:
            assert part is not None, "a tombstone is never fetched"
            v = bodystructure(part, which == 1)
        entry.views[which] = v
        if _render_cache.get(key) is entry:
            add = len(v) + 100 + (len(key) if entry.size == 0 else 0)
            entry.size += add
            _render_cache_size += add
    return v


@functools.lru_cache(maxsize=256)
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
