"""CATENATE (RFC 4469): a message for APPEND (or REPLACE) put together from TEXT parts (literals
the client sends) and URL parts (IMAP URLs, RFC 5092, of messages or their sections in this
account, with URL-PARTIAL's ;PARTIAL=, RFC 5550). The result goes to a new upload file of the
store, written in a worker thread, never held whole in memory; a URL part is read as FETCH
reads a section. A URL that names nothing we can give is ``NO [BADURL url]`` (RFC 4469 6)."""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

import trio

from mox.message import sections
from mox.store import DiskFull, MessageGone, Upload, layout

from . import fetch, utf7
from .errors import BadCommand, CommandFailed
from .parse_fetch import FetchGrammar
from .session import Session, append_limit

# RFC 5092 3: imapurl = "imap://" iserver ipath-query / a path absolute on the server
# ("/" enc-mailbox ...) / relative to the selected mailbox (";UID=..."). iserver = [iuserinfo
# "@"] host [":" port].
_ABSOLUTE = re.compile(r"(?i)^imap://(?:([^/]*)@)?[^/@]*(/.*)$")
_MAILBOX_PART = re.compile(r"(?i)^/([^;]*)(?:;UIDVALIDITY=([1-9][0-9]*))?(/.*)$")
_MESSAGE_PART = re.compile(
    r"(?i)^/?;UID=([1-9][0-9]*)(?:/;SECTION=([^/]*))?(?:/;PARTIAL=([0-9]+)(?:\.([1-9][0-9]*))?)?$"
)


def _badurl(url: str, why: str) -> CommandFailed:
    # url-resp-text (RFC 4469 6) is text without "]".
    return CommandFailed(f"bad url: {why}", "BADURL " + url.replace("]", "%5D").replace("\r", "").replace("\n", ""))


def _resolve(s: Session, url: str) -> tuple[Any, bytes]:
    """The bytes an IMAP URL stands for: (message, data)."""
    path = url
    m = _ABSOLUTE.match(url)
    if m is not None:
        user, path = m.group(1), m.group(2)
        if user is not None:
            user = urllib.parse.unquote(user.split(";", 1)[0])
            if user.lower() != (s.username or "").lower():
                raise _badurl(url, "url of another user")
    mb = None
    uidvalidity = None
    mm = _MAILBOX_PART.match(path)
    if mm is not None and not path.startswith("/;"):
        raw = urllib.parse.unquote(mm.group(1))
        uidvalidity = int(mm.group(2)) if mm.group(2) else None
        rest = mm.group(3)
        # RFC 5092 3: mailbox names are UTF-8 in URLs; clients still send modified UTF-7.
        name = s.mailbox_in(raw) if s.utf8 or "&" not in raw else _from_utf7(s, raw)
        mb = s.acc.mailbox(name)
        if mb is None:
            raise _badurl(url, "no such mailbox")
    else:
        rest = path
        if s.selected is None:
            raise _badurl(url, "relative url without a selected mailbox")
        mb = s.acc.mailbox_by_id(s.selected.mailbox_id)
        if mb is None:
            raise _badurl(url, "selected mailbox is gone")
    if uidvalidity is not None and uidvalidity != mb.uidvalidity:
        raise _badurl(url, "uidvalidity does not match")
    pm = _MESSAGE_PART.match(rest)
    if pm is None:
        raise _badurl(url, "expected ;UID=n with an optional ;SECTION= and ;PARTIAL=")
    msg = s.acc.message(mb.id, int(pm.group(1)))
    if msg is None:
        raise _badurl(url, "no such message")
    try:
        data = s.acc.read_message(msg)
    except MessageGone:
        raise _badurl(url, "no such message") from None
    if pm.group(2) is not None:
        sec_text = urllib.parse.unquote(pm.group(2))
        p = FetchGrammar(b"[" + sec_text.encode("utf-8") + b"]")
        try:
            section = p.parse_section()
            p.expect_end()
        except BadCommand:
            raise _badurl(url, "bad section") from None
        root = msg.part
        if section.part and root is not None and sections.find_part(root, list(section.part)) is None:
            raise _badurl(url, "no such section")
        data = fetch.section_bytes(data, root, section)
    if pm.group(3) is not None:
        off = int(pm.group(3))
        n = int(pm.group(4)) if pm.group(4) else len(data)
        data = data[off : off + n]
    return msg, data


def _from_utf7(s: Session, raw: str) -> str:
    try:
        return s.mailbox_in(utf7.decode(raw)) if not s.utf8 else raw
    except utf7.Utf7Error:
        return raw


async def build(s: Session, parts: list[tuple[str, Any]]) -> Upload:
    """The message of a CATENATE: a new upload holding the parts in order. TEXT parts are bytes
    or (streamed) uploads, URL parts are resolved (BADURL when they can't be)."""
    pieces: list[bytes | Upload] = []
    total = 0
    for kind, v in parts:
        if kind == "URL":
            _, data = _resolve(s, v)
            pieces.append(data)
            total += len(data)
        else:
            pieces.append(v)
            total += v.size if isinstance(v, Upload) else len(v)
        if total > append_limit(s.ctx):
            raise CommandFailed("catenated message too large", "TOOBIG")
    up: Upload = s.acc.new_upload()

    def write() -> None:
        for p in pieces:
            if isinstance(p, Upload):
                p.finish(fsync=False)
                with open(p.path, "rb") as f:
                    while chunk := f.read(1 << 20):
                        up.write(chunk)
            else:
                up.write(p)

    # The caller's connection discards it after the command unless it became a message.
    s.conn.uploads.append(up)
    try:
        await trio.to_thread.run_sync(write)
    except OSError as e:
        up.discard()
        if layout.is_disk_full(e):
            raise DiskFull(f"disk full: {e.strerror}") from e
        raise
    return up
