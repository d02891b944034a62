"""Parsing a message into its MIME tree of :class:`Part` structs with byte offsets.

RFC 5322 (header/body), RFC 2045 (MIME header fields, defaults), RFC 2046 5.1 (multipart
boundaries: the line ending before a delimiter belongs to the delimiter, not to the part), RFC
2046 5.2.1 (message/rfc822), RFC 2231 (parameter continuations), RFC 9051 7.5.2 (ENVELOPE).

Lenient: never raises on message content. Both CRLF and bare LF line endings are accepted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from mox.message.header import (
    HeaderField,
    ParamError,
    first_value,
    parse_address_list,
    parse_content_type,
    parse_disposition,
    split_header,
)
from mox.message.part import Envelope, Part

# Deeper nesting is not parsed further: the part is kept as a leaf (protects the recursion limit).
MAX_DEPTH = 50

_DEFAULT_PARAMS = [("charset", "us-ascii")]
_boundary_cache: dict[bytes, re.Pattern[bytes]] = {}


def _boundary_re(boundary: bytes) -> re.Pattern[bytes]:
    # RFC 2046 5.1.1: "--" boundary, "--" for the close delimiter, transport padding, line end.
    # Like mox we accept anything after the close delimiter or after whitespace following the
    # delimiter, but not other characters: some software uses the boundary plus a suffix for
    # nested parts.
    p = _boundary_cache.get(boundary)
    if p is None:
        if len(_boundary_cache) > 256:
            _boundary_cache.clear()
        p = re.compile(rb"(?m)^--" + re.escape(boundary) + rb"(?:(--)|[ \t]|\r?$)")
        _boundary_cache[boundary] = p
    return p


def delimiters(data: bytes, boundary: bytes, start: int, end: int) -> Iterator[tuple[int, int, bool]]:
    """The delimiter lines of ``boundary`` in data[start:end] as (start, end, close): the same
    matches as ``_boundary_re(boundary).finditer(data, start, end)`` (start/end/group(1)), found
    with bytes.find instead of trying the regexp at every offset (a ~1 MB attachment took ~20 ms)."""
    needle = b"--" + boundary
    n = len(needle)
    i = start
    while True:
        j = data.find(needle, i, end)
        if j < 0:
            return
        i = j + 1
        if j != 0 and data[j - 1] != 0x0A:
            continue  # not at a line start ("^" in multiline mode)
        k = j + n
        if data.startswith(b"--", k, end):
            yield j, k + 2, True
            i = k + 2
        elif k == end or data[k] in (0x20, 0x09, 0x0A):
            me = k + 1 if k < end and data[k] != 0x0A else k
            yield j, me, False
            i = me
        elif data[k] == 0x0D and (k + 1 == end or data[k + 1] == 0x0A):
            yield j, k + 1, False
            i = k + 1


def _envelope(fields: list[HeaderField]) -> Envelope:
    """ENVELOPE (RFC 9051 7.5.2): sender and reply-to default to from."""
    values: dict[str, str] = {}
    for f in fields:
        if f.lname in _ENVELOPE_FIELDS and f.lname not in values:
            values[f.lname] = f.value()
    from_ = parse_address_list(values.get("from"))
    sender = parse_address_list(values.get("sender")) or from_
    reply_to = parse_address_list(values.get("reply-to")) or from_
    return Envelope(
        date=values.get("date") or None,
        subject=values.get("subject"),
        from_=from_,
        sender=sender,
        reply_to=reply_to,
        to=parse_address_list(values.get("to")),
        cc=parse_address_list(values.get("cc")),
        bcc=parse_address_list(values.get("bcc")),
        in_reply_to=values.get("in-reply-to") or None,
        message_id=values.get("message-id") or None,
    )


_ENVELOPE_FIELDS = frozenset(
    ["date", "subject", "from", "sender", "reply-to", "to", "cc", "bcc", "in-reply-to", "message-id"]
)


def _recover_content_type(value: str) -> tuple[str, str, list[tuple[str, str]]]:
    """Type and subtype of an unparsable Content-Type without its parameters, as mox does;
    multipart cannot be recovered (no boundary), so that and garbage become
    application/octet-stream (RFC 2045 5.2 suggests text/plain, but the content is unknown)."""
    t = value.split(";", 1)[0].strip().split("/")
    if len(t) == 2 and all(_TOKEN.fullmatch(x) for x in t) and t[0].upper() != "MULTIPART":
        return t[0].upper(), t[1].upper(), []
    return "APPLICATION", "OCTET-STREAM", []


_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")


def _line_count(data: bytes, start: int, end: int) -> int:
    if end <= start:
        return 0
    n = data.count(b"\n", start, end)
    if data[end - 1] != 0x0A:
        n += 1
    return n


def _parse_part(
    data: bytes, start: int, end: int, *, message: bool, digest: bool, depth: int
) -> Part:
    fields, body_start, _ = split_header(data, start, end)
    ctype = ctype_value = None
    cte = "7BIT"
    kw: dict[str, object] = {}
    for f in fields:
        ln = f.lname
        if not ln.startswith("content-"):
            continue
        if ln == "content-type":
            if ctype_value is None:
                ctype_value = f.value()
        elif ln == "content-transfer-encoding":
            v = f.value()
            if v:
                cte = v.split("(", 1)[0].strip().upper() or "7BIT"
        elif ln == "content-id":
            kw.setdefault("content_id", f.value())
        elif ln == "content-description":
            kw.setdefault("content_description", f.value())
        elif ln == "content-md5":
            kw.setdefault("content_md5", f.value())
        elif ln == "content-disposition":
            if "disposition" not in kw:
                try:
                    kw["disposition"], kw["disposition_params"] = parse_disposition(f.value())
                except ParamError:
                    pass
        elif ln == "content-language":
            if "language" not in kw:
                langs = [t.strip() for t in f.value().split(",")]
                kw["language"] = [t for t in langs if t] or None
        elif ln == "content-location":
            kw.setdefault("location", f.value())

    if ctype_value is not None:
        try:
            mtype, msub, params = parse_content_type(ctype_value)
        except ParamError:
            mtype, msub, params = _recover_content_type(ctype_value)
    elif digest:
        mtype, msub, params = "MESSAGE", "RFC822", []  # RFC 2046 5.1.5
    else:
        mtype, msub, params = "TEXT", "PLAIN", list(_DEFAULT_PARAMS)

    env = _envelope(fields) if message else None
    parts: list[Part] = []
    if depth < MAX_DEPTH:
        if mtype == "MULTIPART":
            boundary = next((v for k, v in params if k == "boundary"), "")
            if boundary:
                parts = _parse_multipart(
                    data, body_start, end, boundary, digest=msub == "DIGEST", depth=depth
                )
        elif mtype == "MESSAGE" and msub in ("RFC822", "GLOBAL") and cte in ("7BIT", "8BIT", "BINARY"):
            parts = [_parse_part(data, body_start, end, message=True, digest=False, depth=depth + 1)]

    return Part(
        header_start=start,
        body_start=body_start,
        body_end=end,
        media_type=mtype,
        media_subtype=msub,
        params=params,
        content_transfer_encoding=cte,
        body_lines=_line_count(data, body_start, end),
        envelope=env,
        parts=parts,
        **kw,  # type: ignore[arg-type]
    )


def _parse_multipart(
    data: bytes, start: int, end: int, boundary: str, *, digest: bool, depth: int
) -> list[Part]:
    """Children of a multipart body at data[start:end] (RFC 2046 5.1.1). The preamble and epilogue
    are skipped. A missing close delimiter ends the last part at ``end`` (lenient)."""
    parts: list[Part] = []
    part_start = -1
    for ms, me, close in delimiters(data, boundary.encode("utf-8", errors="replace"), start, end):
        if part_start >= 0:
            pend = ms
            # The line ending before the delimiter belongs to the delimiter (RFC 2046 5.1.1).
            if pend > part_start and data[pend - 1] == 0x0A:
                pend -= 1
                if pend > part_start and data[pend - 1] == 0x0D:
                    pend -= 1
            parts.append(
                _parse_part(data, part_start, pend, message=False, digest=digest, depth=depth + 1)
            )
        if close:
            return parts
        nl = data.find(b"\n", me, end)
        part_start = end if nl < 0 else nl + 1
    if part_start >= 0:
        parts.append(_parse_part(data, part_start, end, message=False, digest=digest, depth=depth + 1))
    return parts


def parse_message(data: bytes) -> Part:
    """Parse a whole message into its MIME tree (see :class:`Part` for the meaning of offsets).

    The top-level part always has an ``envelope``; so does the child of each message/rfc822 part.
    Never raises for odd input: a missing header/body separator, missing boundaries, bare LF and
    truncated data all give a best-effort structure whose offsets stay within ``data``.
    """
    return _parse_part(bytes(data), 0, len(data), message=True, digest=False, depth=0)


__all__ = ["parse_message"]
