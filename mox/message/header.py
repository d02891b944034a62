"""Header field helpers: splitting a header section, unfolding, RFC 2047 encoded words, RFC 5322
addresses and dates, and Content-Type style parameter lists with RFC 2231 decoding.

Everything here is lenient: odd input gives a best-effort value, never an exception.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import email.utils
import re
import urllib.parse

from mox.message.part import Address

# A field name is printable US-ASCII except colon (RFC 5322 2.2). We also refuse space so that a
# line like "hello world: x" in a body without header is not taken for a field.
_FIELD_NAME = re.compile(rb"[!-9;-~]+")
_FOLD = re.compile(r"\r?\n(?=[ \t])")


class HeaderField:
    """One header field as found in the message: ``name`` as written (str), ``start``..``end`` the
    byte range of the whole field including folded lines and the final line ending, and ``raw``
    the value bytes after the colon (still folded)."""

    __slots__ = ("name", "lname", "start", "end", "_data", "_value_start")

    def __init__(self, name: str, start: int, end: int, data: bytes, value_start: int):
        self.name = name
        self.lname = name.lower()
        self.start = start
        self.end = end
        self._data = data
        self._value_start = value_start

    @property
    def raw(self) -> bytes:
        return self._data[self._value_start : self.end]

    def value(self) -> str:
        """The unfolded value (RFC 5322 2.2.3) with surrounding whitespace removed; 8-bit bytes
        are read as UTF-8 (RFC 6532), invalid sequences replaced."""
        return unfold(self.raw.decode("utf-8", errors="replace"))


def unfold(value: str) -> str:
    """Remove the line breaks of folded header lines (RFC 5322 2.2.3) and trim the ends."""
    if "\n" in value:
        value = _FOLD.sub("", value)
        value = value.replace("\r", "").replace("\n", "")
    return value.strip()


def split_header(data: bytes, start: int, end: int) -> tuple[list[HeaderField], int, bool]:
    """Split the header section at ``data[start:end]`` (RFC 5322 2.2) into fields.

    Returns (fields, body_start, separated). ``body_start`` is the offset just past the blank line
    ending the header. Lenient: a line that is neither a field nor a continuation ends the header
    without a separator (the line starts the body), as does the end of the data; ``separated`` is
    False in those cases.
    """
    fields: list[HeaderField] = []
    pos = start
    cur: HeaderField | None = None
    while pos < end:
        nl = data.find(b"\n", pos, end)
        line_end = end if nl < 0 else nl + 1
        line = data[pos : nl if nl >= 0 else end]
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line:
            return fields, line_end, True
        c = line[0]
        if c == 0x20 or c == 0x09:
            if cur is not None:
                cur.end = line_end
                pos = line_end
                continue
            return fields, pos, False
        colon = line.find(b":")
        if colon <= 0:
            return fields, pos, False
        name = line[:colon].rstrip(b" \t")
        if not _FIELD_NAME.fullmatch(name):
            return fields, pos, False
        cur = HeaderField(name.decode("ascii"), pos, line_end, data, pos + colon + 1)
        fields.append(cur)
        pos = line_end
    return fields, end, False


def first_value(fields: list[HeaderField], lname: str) -> str | None:
    """The unfolded value of the first field named ``lname`` (lower-case), or None."""
    for f in fields:
        if f.lname == lname:
            return f.value()
    return None


# RFC 2047 encoded words. Whitespace between two adjacent encoded words is dropped (RFC 2047 6.2).
_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=")
_EW_GAP = re.compile(r"(\?=)[ \t\r\n]+(?==\?[^?\s]+\?[bBqQ]\?)")


def _charset_decode(raw: bytes, charset: str) -> str:
    try:
        return raw.decode(charset, errors="replace")
    except (LookupError, ValueError, TypeError):
        return raw.decode("utf-8", errors="replace")


def _decode_word(m: re.Match[str]) -> str:
    charset, enc, text = m.group(1), m.group(2), m.group(3)
    try:
        if enc in "bB":
            text = text.rstrip("=")
            raw = base64.b64decode(text + "=" * (-len(text) % 4))
        else:
            raw = binascii.a2b_qp(text.replace("_", " ").encode("ascii", errors="replace"))
    except (ValueError, binascii.Error):
        return m.group(0)
    return _charset_decode(raw, charset)


def decode_header_value(value: str | bytes) -> str:
    """Decode RFC 2047 encoded words (``=?charset?B|Q?...?=``) in an unstructured header value
    (RFC 2047 section 6). Bytes are read as UTF-8 first (RFC 6532). Words that fail to decode are
    left as written; unknown charsets fall back to UTF-8 with replacement characters."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if "=?" not in value:
        return value
    value = _EW_GAP.sub(r"\1", value)
    return _ENCODED_WORD.sub(_decode_word, value)


def parse_date(value: str | None) -> datetime.datetime | None:
    """Parse an RFC 5322 3.3 date-time leniently (obsolete zones, missing weekday or seconds,
    comments). Returns an aware datetime (UTC when the zone is missing or ``-0000``) or None."""
    if not value:
        return None
    value = re.sub(r"\([^()]*\)", " ", value).strip()
    try:
        dt = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt


# --- RFC 5322 3.4 address lists -------------------------------------------------------------

_SPECIALS = '()<>[]:;@\\,."'


def _tokenize(value: str) -> list[tuple[str, str]]:
    """Tokens of a structured header: ("atom", s), ("quoted", s), ("comment", s), ("literal", s)
    and ("special", c). Unterminated constructs run to the end (lenient)."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(value)
    while i < n:
        c = value[i]
        if c in " \t\r\n":
            i += 1
        elif c == '"':
            i += 1
            buf = []
            while i < n and value[i] != '"':
                if value[i] == "\\" and i + 1 < n:
                    i += 1
                if value[i] not in "\r\n":
                    buf.append(value[i])
                i += 1
            out.append(("quoted", "".join(buf)))
            i += 1
        elif c == "(":
            depth, i, buf = 1, i + 1, []
            while i < n and depth:
                ch = value[i]
                if ch == "\\" and i + 1 < n:
                    i += 1
                    buf.append(value[i])
                elif ch == "(":
                    depth += 1
                    buf.append(ch)
                elif ch == ")":
                    depth -= 1
                    if depth:
                        buf.append(ch)
                elif ch not in "\r\n":
                    buf.append(ch)
                i += 1
            out.append(("comment", "".join(buf).strip()))
        elif c == "[":
            j = value.find("]", i)
            j = n if j < 0 else j + 1
            out.append(("literal", value[i:j]))
            i = j
        elif c in _SPECIALS:
            out.append(("special", c))
            i += 1
        else:
            j = i
            while j < n and value[j] not in _SPECIALS and value[j] not in " \t\r\n":
                j += 1
            out.append(("atom", value[i:j]))
            i = j
    return out


def _mailbox(tokens: list[tuple[str, str]]) -> Address | None:
    """One mailbox (RFC 5322 3.4): name-addr or addr-spec, from its tokens."""
    comments = [v for k, v in tokens if k == "comment"]
    toks = [(k, v) for k, v in tokens if k != "comment"]
    if not toks:
        return None
    adl = None
    lt = next((i for i, t in enumerate(toks) if t == ("special", "<")), -1)
    if lt >= 0:
        phrase = toks[:lt]
        gt = next((i for i in range(lt + 1, len(toks)) if toks[i] == ("special", ">")), len(toks))
        spec = toks[lt + 1 : gt]
        colon = next((i for i, t in enumerate(spec) if t == ("special", ":")), -1)
        if colon >= 0:
            # Obsolete source route (RFC 5322 4.4), IMAP's addr-adl.
            adl = "".join(v for _, v in spec[:colon]) or None
            spec = spec[colon + 1 :]
        # Words are joined by one space; obsolete phrases may contain "." (RFC 5322 4.1).
        words = ""
        for k, v in phrase:
            if k == "special" and v == ".":
                words += "."
            elif k != "special":
                words += (" " if words else "") + v
        name = words or None
    else:
        spec = toks
        name = comments[-1] if comments else None
    at = max((i for i, t in enumerate(spec) if t == ("special", "@")), default=-1)
    if at >= 0:
        local = "".join(v for _, v in spec[:at])
        host = "".join(v for _, v in spec[at + 1 :])
    else:
        local = "".join(v for _, v in spec)
        host = ""
    if not local and not host and name is None:
        return None
    return Address(name=name, adl=adl, mailbox=local, host=host)


def parse_address_list(value: str | None) -> list[Address]:
    """Parse an RFC 5322 3.4 address-list (From, To, Cc, ...) into ENVELOPE addresses.

    Groups become the RFC 9051 7.5.2 markers: ``Address(None, None, "group", None)`` before the
    members and ``Address(None, None, None, None)`` after. Display names are unquoted but encoded
    words are kept (IMAP sends them as written). A mailbox without domain gets host ``""``.
    Lenient: garbage is skipped, never raises.
    """
    if not value:
        return []
    out: list[Address] = []
    cur: list[tuple[str, str]] = []
    in_group = False
    angle = False
    for tok in _tokenize(value):
        if tok[0] == "special":
            c = tok[1]
            if c == "<":
                angle = True
            elif c == ">":
                angle = False
            elif c == ":" and not angle and not in_group:
                words = [v for k, v in cur if k in ("atom", "quoted")]
                out.append(Address(None, None, " ".join(words), None))
                in_group = True
                cur = []
                continue
            elif c == ";" and not in_group and not angle:
                c = ","  # Lenient: a stray ";" separates like ",".
            if c == ";" and in_group and not angle:
                a = _mailbox(cur)
                if a is not None:
                    out.append(a)
                out.append(Address(None, None, None, None))
                in_group = False
                cur = []
                continue
            if c == "," and not angle:
                a = _mailbox(cur)
                if a is not None:
                    out.append(a)
                cur = []
                continue
        cur.append(tok)
    a = _mailbox(cur)
    if a is not None:
        out.append(a)
    if in_group:
        out.append(Address(None, None, None, None))
    return out


# --- RFC 5322 3.6.4 message identifiers ------------------------------------------------------

_COMMENT = re.compile(r"\([^()]*\)")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)
_QUOTED_PAIR = re.compile(r"\\(.)", re.S)


def parse_msg_ids(value: str | None) -> list[str]:
    """The valid message identifiers in a Message-ID, In-Reply-To or References value, in order,
    normalized so that differently quoted forms of one identifier are equal (RFC 5256 3:
    ``<"01KF8JCEOCBS0045PS"@xxx.yyy.com>`` and ``<01KF8JCEOCBS0045PS@xxx.yyy.com>`` are the same
    Message ID): without the angle brackets, quoted strings unquoted, comments and folding
    whitespace removed. Valid means ``<left@right>`` with both sides non-empty (RFC 5322 msg-id,
    leniently: obsolete forms are accepted); anything else between them is skipped. Case is
    kept (RFC 5256 3: Message ID comparisons are case-sensitive)."""
    out: list[str] = []
    if not value:
        return out
    i = 0
    while True:
        start = value.find("<", i)
        if start < 0:
            return out
        end = value.find(">", start + 1)
        if end < 0:
            return out
        inner = value.find("<", start + 1, end)
        if inner >= 0:
            i = inner  # "<junk <id@host>": the identifier is the inner one
            continue
        i = end + 1
        content = value[start + 1 : end]
        if "(" in content:
            content = _COMMENT.sub("", content)
        if '"' in content:
            content = _QUOTED.sub(lambda m: _QUOTED_PAIR.sub(r"\1", m.group(1)), content)
        content = "".join(content.split())
        left, at, right = content.rpartition("@")
        if at and left and right:
            out.append(content)


# --- RFC 2045 5.1 / RFC 2183 parameters with RFC 2231 ------------------------------------------

_TSPECIALS = '()<>@,;:\\"/[]?='


class ParamError(ValueError):
    """A Content-Type/Content-Disposition value that does not follow the RFC 2045 grammar."""


def _skip_cfws(s: str, i: int) -> int:
    n = len(s)
    while i < n:
        c = s[i]
        if c in " \t\r\n":
            i += 1
        elif c == "(":
            depth = 1
            i += 1
            while i < n and depth:
                if s[i] == "\\":
                    i += 1
                elif s[i] == "(":
                    depth += 1
                elif s[i] == ")":
                    depth -= 1
                i += 1
        else:
            break
    return i


def _token(s: str, i: int) -> tuple[str, int]:
    j = i
    n = len(s)
    while j < n and s[j] not in _TSPECIALS and s[j] > " " and s[j] != "\x7f":
        j += 1
    return s[i:j], j


def _quoted(s: str, i: int) -> tuple[str, int, bool]:
    """Quoted string starting at s[i] == '"'; returns (value, next index, terminated)."""
    buf = []
    i += 1
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\" and i + 1 < n:
            buf.append(s[i + 1])
            i += 2
            continue
        if c == '"':
            return "".join(buf), i + 1, True
        if c not in "\r\n":
            buf.append(c)
        i += 1
    return "".join(buf), i, False


def parse_params(s: str, i: int, strict: bool) -> list[tuple[str, str]]:
    """Parse ``*(";" parameter)`` from s[i:] (RFC 2045 5.1) and apply RFC 2231 continuations
    and charset/language decoding. Names are lower-cased; the first of duplicate names wins.
    With ``strict`` a syntax error raises ParamError, else the rest is skipped."""
    raw: list[tuple[str, str]] = []
    n = len(s)
    while True:
        i = _skip_cfws(s, i)
        if i >= n:
            break
        if s[i] != ";":
            if strict:
                raise ParamError(f"expected ';' at {s[i:]!r}")
            break
        i = _skip_cfws(s, i + 1)
        if i >= n:
            break  # Trailing semicolon: common, accepted.
        name, i = _token(s, i)
        i = _skip_cfws(s, i)
        if not name or i >= n or s[i] != "=":
            if strict:
                raise ParamError("malformed parameter")
            break
        i = _skip_cfws(s, i + 1)
        if i < n and s[i] == '"':
            value, i, ok = _quoted(s, i)
            if not ok and strict:
                raise ParamError("unterminated quoted string")
        else:
            value, j = _token(s, i)
            k = _skip_cfws(s, j)
            if not value or (k < n and s[k] != ";"):
                # Lenient: take everything up to the next ';' (unquoted spaces or specials, as
                # in the common ``boundary=----=_Part_1``).
                if strict:
                    raise ParamError(f"invalid parameter value at {s[i:]!r}")
                k = s.find(";", i)
                k = n if k < 0 else k
                value, j = s[i:k].strip(), k
            i = j
        raw.append((name.lower(), value))
    return _rfc2231(raw)


def _pct_decode(value: str, charset: str) -> str:
    b = urllib.parse.unquote_to_bytes(value)
    return _charset_decode(b, charset or "utf-8")


def _rfc2231(raw: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """RFC 2231 sections 3 and 4: ``name*0``, ``name*1*``, ``name*=charset'lang'value``."""
    if not any("*" in name for name, _ in raw):
        out: list[tuple[str, str]] = []
        seen: set[str] = set()
        for name, value in raw:
            if name not in seen:
                seen.add(name)
                out.append((name, value))
        return out
    plain: dict[str, str] = {}
    order: list[str] = []
    sections: dict[str, dict[int, tuple[bool, str]]] = {}
    for name, value in raw:
        base, star, rest = name.partition("*")
        if not base:
            continue
        if not star:
            if base not in plain:
                plain[base] = value
                order.append(base)
            continue
        if rest == "":
            idx, encoded = 0, True
        else:
            num, _, enc = rest.partition("*")
            if not num.isdigit() or enc:
                continue  # Not RFC 2231: ignored.
            idx, encoded = int(num), rest.endswith("*")
        if base not in order:
            order.append(base)
        sections.setdefault(base, {}).setdefault(idx, (encoded, value))
    out = []
    for base in order:
        if base in sections:
            secs = sections[base]
            charset = ""
            pieces: list[str] = []
            first = True
            for idx in sorted(secs):
                encoded, value = secs[idx]
                if encoded and first:
                    parts = value.split("'", 2)
                    if len(parts) == 3:
                        charset, value = parts[0], parts[2]
                first = False
                pieces.append(_pct_decode(value, charset) if encoded else value)
            out.append((base, "".join(pieces)))
        else:
            out.append((base, plain[base]))
    return out


def parse_content_type(value: str, strict: bool = False) -> tuple[str, str, list[tuple[str, str]]]:
    """Parse a Content-Type value (RFC 2045 5.1) into (TYPE, SUBTYPE, params), type and subtype
    upper-cased. Raises ParamError when the type/subtype is unusable (even when not strict)."""
    i = _skip_cfws(value, 0)
    mtype, i = _token(value, i)
    i = _skip_cfws(value, i)
    if not mtype or i >= len(value) or value[i] != "/":
        raise ParamError(f"invalid content-type {value!r}")
    i = _skip_cfws(value, i + 1)
    sub, i = _token(value, i)
    if not sub:
        raise ParamError(f"invalid content-type {value!r}")
    return mtype.upper(), sub.upper(), parse_params(value, i, strict)


def parse_disposition(value: str, strict: bool = False) -> tuple[str, list[tuple[str, str]]]:
    """Parse a Content-Disposition value (RFC 2183 2) into (TYPE upper-cased, params)."""
    i = _skip_cfws(value, 0)
    disp, i = _token(value, i)
    if not disp:
        raise ParamError(f"invalid content-disposition {value!r}")
    return disp.upper(), parse_params(value, i, strict)
