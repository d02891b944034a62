"""The webmail's search: mox's search bar syntax (webmail/webmail.ts parseSearch, matched as
webmail/view.go does), parsed and matched on the server.

A query is tokens separated by spaces or tabs; ``"double quoted"`` text stays one token (``""``
is a quote inside), a leading ``-`` negates a token, ``tag:value`` sets a field. There is no
invalid syntax: a token that is not a known tag (or has a bad value) is a word.

- words: in the subject, the From/To/Cc addresses and the text of the message;
- ``f:``/``from:``, ``t:``/``to:`` (To, Cc and Bcc), ``s:``/``subject:``, ``l:``/``label:``
  (a keyword or flag: ``l:$Forwarded``, ``l:\\Flagged``);
- ``mb:``/``mailbox:NAME`` only that mailbox (``mb:`` alone: every mailbox); ``submb:`` with
  its submailboxes. Without a mailbox a search covers every mailbox except Trash, Junk and the
  rejects mailbox (as mox);
- ``start:``/``end:`` received on or after / before the end of a date (``2024-01-31``, with
  ``T15:04`` a moment in UTC, or only a time: today);
- ``a:``/``attachments:`` ``none``, ``any``, ``image``, ``pdf``, ``archive`` (``zip``),
  ``spreadsheet``, ``document``, ``presentation``;
- ``h:``/``header:NAME:VALUE`` a header field whose value contains VALUE (any value when empty);
- ``minsize:``/``maxsize:`` with ``b``, ``kb``/``k``, ``mb``/``m``, ``gb``/``g``;
- ours beside mox's: ``is:unread``, ``is:read``, ``is:flagged``, ``is:unflagged``,
  ``is:answered``, ``is:draft`` (a bad ``is:`` value is a 400 ``user:badQuery``) and ``flag:X``
  (as ``l:X``).

Negated (``-``): words, from, to, subject and label; ``-a:`` is a word, as mox.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mox.web.router import HTTPError

ATTACHMENT_TYPES = ("none", "any", "image", "pdf", "archive", "zip", "spreadsheet", "document", "presentation")

# mox webmail/view.go attachmentTypes: by media type and file name extension.
_TYPE_BY_MEDIA = {
    "application/pdf": "pdf",
    "application/zip": "archive",
    "application/x-rar-compressed": "archive",
    "application/vnd.oasis.opendocument.spreadsheet": "spreadsheet",
    "application/vnd.ms-excel": "spreadsheet",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "spreadsheet",
    "application/vnd.oasis.opendocument.text": "document",
    "application/msword": "document",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "document",
    "application/vnd.oasis.opendocument.presentation": "presentation",
    "application/vnd.ms-powerpoint": "presentation",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "presentation",
}
_TYPE_BY_EXT = {
    ".png": "image", ".jpg": "image", ".jpeg": "image", ".gif": "image", ".ico": "image", ".svg": "image",
    ".webp": "image", ".tif": "image", ".tiff": "image", ".bmp": "image", ".pdf": "pdf",
    ".zip": "archive", ".tar": "archive", ".tgz": "archive", ".tar.gz": "archive", ".tbz2": "archive",
    ".tar.bz2": "archive", ".tar.lz": "archive", ".tlz": "archive", ".tar.xz": "archive", ".txz": "archive",
    ".tar.zst": "archive", ".tar.lz4": "archive", ".7z": "archive", ".rar": "archive",
    ".ods": "spreadsheet", ".xls": "spreadsheet", ".xlsx": "spreadsheet",
    ".odt": "document", ".doc": "document", ".docx": "document",
    ".odp": "presentation", ".ppt": "presentation", ".pptx": "presentation",
}  # fmt: skip


def attachment_type(media_type: str, filename: str) -> str:
    """One attachment's kind for icons and ``a:`` (image, pdf, archive, spreadsheet, document,
    presentation, or "" for anything else)."""
    mt = media_type.lower()
    if mt.startswith("image/"):
        return "image"
    if mt in _TYPE_BY_MEDIA:
        return _TYPE_BY_MEDIA[mt]
    name = filename.lower()
    for ext in sorted(_TYPE_BY_EXT, key=len, reverse=True):
        if name.endswith(ext):
            return _TYPE_BY_EXT[ext]
    return ""


@dataclass
class Token:
    negated: bool
    tag: str
    quoted: bool
    value: str


def tokens(s: str) -> list[Token]:
    """Split a search bar text into tokens (mox's parseSearchTokens: all input is valid, a final
    closing quote is implicit)."""
    out: list[Token] = []
    neg = quoted = quote_end = t_quoted = False
    t = ""

    def add() -> None:
        nonlocal neg, quoted, quote_end, t_quoted, t
        if t and (t_quoted or ":" not in t):
            out.append(Token(neg, "", t_quoted, t))
        elif t:
            tag, _, rest = t.partition(":")
            out.append(Token(neg, tag, t_quoted, rest))
        t, neg, quoted, quote_end, t_quoted = "", False, False, False, False

    for c in s:
        if quote_end:
            if c == '"':
                t += '"'
                quote_end = False
                continue
            # The quote closed the token (mox drops the character after it; we read it).
            add()
        if quoted and c == '"':
            quote_end = True
        elif c == '"':
            quoted = True
            if not t:
                t_quoted = True
        elif not quoted and c in " \t":
            add()
        elif c == "-" and not t and not t_quoted and not neg:
            neg = True
        else:
            t += c
    add()
    return out


def parse_size(s: str) -> int | None:
    m = re.fullmatch(r"\s*([0-9]+)\s*([a-zA-Z]*)\s*", s)
    if not m:
        return None
    n, suffix = int(m.group(1)), m.group(2).lower()
    units = {"b": 0, "kb": 1, "mb": 2, "gb": 3, "k": 1, "m": 2, "g": 3}
    if suffix not in units:
        return None
    return n * 1024 ** units[suffix]


def _pad_date(d: str) -> str:
    parts = d.split("-")
    if len(parts) == 3:
        parts = [parts[0], parts[1].zfill(2), parts[2].zfill(2)]
    return "-".join(parts)


def parse_datetime(s: str, start: bool, now: datetime.datetime | None = None) -> float | None:
    """``start:``/``end:`` values as a UTC timestamp: a date (an end date means the end of that
    day), a date and time, or a time today. None when it is neither."""
    utc = datetime.timezone.utc
    try:
        if "T" in s:
            d, _, tm = s.partition("T")
            dt = datetime.datetime.fromisoformat(_pad_date(d) + "T" + tm)
            return (dt if dt.tzinfo else dt.replace(tzinfo=utc)).timestamp()
        try:
            day = datetime.date.fromisoformat(_pad_date(s))
        except ValueError:
            clock = datetime.time.fromisoformat(s)
            today = (now or datetime.datetime.now(utc)).date()
            return datetime.datetime.combine(today, clock, tzinfo=utc).timestamp()
        dt = datetime.datetime.combine(day, datetime.time(), tzinfo=utc)
        if not start:
            dt += datetime.timedelta(days=1)
        return dt.timestamp()
    except ValueError:
        return None


_IS = {
    "unread": ("\\Seen", False), "read": ("\\Seen", True), "seen": ("\\Seen", True),
    "flagged": ("\\Flagged", True), "unflagged": ("\\Flagged", False),
    "answered": ("\\Answered", True), "draft": ("\\Draft", True),
}  # fmt: skip


@dataclass
class Terms:
    """What one side (positive or negated) of a query asks."""

    words: list[str] = field(default_factory=list)
    from_: list[str] = field(default_factory=list)
    to: list[str] = field(default_factory=list)
    subject: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.words or self.from_ or self.to or self.subject or self.labels)


def _label(v: str) -> str:
    return v if v.startswith("\\") else v.lower()


class Query:
    """A parsed search (see the module docstring); ``matches(msg, keys, body)``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = Terms()
        self.neg = Terms()
        self.mailbox: str | None = None  # a name; "" every mailbox; None the default scope
        self.submailboxes = False
        self.oldest: float | None = None
        self.newest: float | None = None
        self.attachments = ""
        self.headers: list[tuple[str, str]] = []
        self.size_min = 0
        self.size_max = 0
        self.flags_set: list[str] = []
        self.flags_unset: list[str] = []
        for t in tokens(text):
            self._add(t)

    def _add(self, t: Token) -> None:
        tag, v = t.tag.lower(), t.value
        f = self.neg if t.negated else self.pos
        if not t.negated:
            if tag in ("mb", "mailbox"):
                self.mailbox = v
                return
            if tag == "submb":
                self.submailboxes = True
                return
            if tag in ("start", "end"):
                ts = parse_datetime(v, tag == "start")
                if ts is not None:
                    if tag == "start":
                        self.oldest = ts
                    else:
                        self.newest = ts
                    return
            elif tag in ("a", "attachments") and v in ATTACHMENT_TYPES:
                self.attachments = "archive" if v == "zip" else v
                return
            elif tag in ("h", "header"):
                k, _, hv = v.partition(":")
                self.headers.append((k.lower(), hv.lower()))
                return
            elif tag in ("minsize", "maxsize"):
                size = parse_size(v)
                if size is not None:
                    if tag == "minsize":
                        self.size_min = size
                    else:
                        self.size_max = size
                    return
            elif tag == "is" and v:
                if v.lower() not in _IS:
                    raise HTTPError(400, "user:badQuery", f"unknown is:{v} ({', '.join(_IS)})")
                flag, want = _IS[v.lower()]
                (self.flags_set if want else self.flags_unset).append(flag)
                return
        if tag in ("f", "from") and v:
            f.from_.append(v.lower())
        elif tag in ("t", "to") and v:
            f.to.append(v.lower())
        elif tag in ("s", "subject") and v:
            f.subject.append(v.lower())
        elif tag in ("l", "label", "flag") and v:
            f.labels.append(_label(v))
        elif tag or v:
            f.words.append(((tag + ":") if tag else "").lower() + v.lower())

    def empty(self) -> bool:
        return (
            self.pos.empty() and self.neg.empty() and self.mailbox is None and not self.submailboxes
            and self.oldest is None and self.newest is None and not self.attachments and not self.headers
            and not self.size_min and not self.size_max and not self.flags_set and not self.flags_unset
        )  # fmt: skip

    def needs_text(self) -> bool:
        """Whether matching may read message files (words)."""
        return bool(self.pos.words or self.neg.words)

    def mailbox_ids(self, mailboxes: Iterable[Any], rejects: str | None) -> set[int] | None:
        """The mailboxes in scope given the mailbox list; None when a named mailbox does not
        exist."""
        mbs = list(mailboxes)
        if self.mailbox is None:
            skip = {"\\Trash", "\\Junk"}
            return {mb.id for mb in mbs if mb.special_use not in skip and mb.name != rejects}
        if self.mailbox == "":
            return {mb.id for mb in mbs}
        name = self.mailbox.lower()
        found = [mb for mb in mbs if mb.name.lower() == name]
        if not found:
            return None
        ids = {found[0].id}
        if self.submailboxes:
            prefix = found[0].name.lower() + "/"
            ids |= {mb.id for mb in mbs if mb.name.lower().startswith(prefix)}
        return ids

    def matches(self, msg: Any, keys: Callable[[], dict[str, Any]], text: Callable[[list[str]], set[str]]) -> bool:
        """Whether ``msg`` (a store record) matches. ``keys()`` gives the lower-case "subject",
        "from", "to" strings, "headers" (name -> values) and "attachments" (kinds) of the
        message; ``text(words)`` the words found in its text. Both are called only when needed."""
        flags = set(msg.flags)
        lflags = {f if f.startswith("\\") else f.lower() for f in flags}
        if any(f not in flags for f in self.flags_set) or any(f in flags for f in self.flags_unset):
            return False
        if any(lb not in lflags for lb in self.pos.labels) or any(lb in lflags for lb in self.neg.labels):
            return False
        if self.oldest is not None and msg.received < self.oldest:
            return False
        if self.newest is not None and msg.received >= self.newest:
            return False
        if self.size_min and msg.size < self.size_min:
            return False
        if self.size_max and msg.size > self.size_max:
            return False
        need_keys = (
            self.attachments or self.headers or self.pos.from_ or self.pos.to or self.pos.subject or self.neg.from_
            or self.neg.to or self.neg.subject or self.pos.words or self.neg.words
        )  # fmt: skip
        if not need_keys:
            return True
        k = keys()
        if self.attachments:
            kinds = k["attachments"]
            if self.attachments == "none" and kinds:
                return False
            if self.attachments == "any" and not kinds:
                return False
            if self.attachments not in ("none", "any") and self.attachments not in kinds:
                return False
        for name, want in self.headers:
            values = k["headers"].get(name)
            if values is None or (want and not any(want in v for v in values)):
                return False
        for field_name, pos, neg in (("from", self.pos.from_, self.neg.from_), ("to", self.pos.to, self.neg.to),
                                     ("subject", self.pos.subject, self.neg.subject)):  # fmt: skip
            if any(v not in k[field_name] for v in pos) or any(v in k[field_name] for v in neg):
                return False
        if self.pos.words or self.neg.words:
            hay = " ".join([k["subject"], k["from"], k["to"]])
            missing = [w for w in self.pos.words if w not in hay]
            neg_left = [w for w in self.neg.words if w not in hay]
            if len(neg_left) < len(self.neg.words):
                return False
            if missing or neg_left:
                found = text(missing + neg_left)
                if any(w not in found for w in missing) or any(w in found for w in neg_left):
                    return False
        return True
