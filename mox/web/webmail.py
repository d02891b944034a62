"""Webmail (``/webmail/``, mox ``webmail/webmail.go``): a single page in plain JavaScript plus a JSON API.

Routes (all need a ``webmail`` session, see mox.web.session; POSTs need the CSRF header):

- ``GET /webmail/``: the page (static files under ``/webmail/static/``).
- ``POST /webmail/api/<Method>`` with a JSON object: Mailboxes, Messages (a page of a mailbox,
  newest first, optionally filtered by a search query), Message (headers, text, attachments;
  marks it read), FlagsAdd, FlagsRemove, Move, Delete (to Trash, or expunge in Trash),
  MailboxCreate, MailboxRename, MailboxDelete. ``POST /webmail/api/Submit`` takes
  multipart/form-data (fields to, cc, bcc, subject, body, replyto/forward references, files)
  and queues the message like SMTP submission (the queue keeps the Sent copy).
  Answers: 200 with the result object, or ``{"code", "message"}`` with 4xx.
- ``GET /webmail/msg/{mailbox}/{uid}/{view}``: ``text`` / ``html`` / ``htmlexternal`` (documents
  for the sandboxed iframe, strict CSP: mox.web.sanitize), ``raw`` (source as text/plain),
  ``part/{n}`` would not fit the segment count, so attachments are ``/webmail/part/{mailbox}/{uid}/{n}``.
- ``GET /webmail/ws`` (WebSocket, mox.web.live): change notifications for live updates.

Search query syntax (``Messages`` with ``query``): words are free text (subject, addresses and
text body, case-insensitive); ``from:x``, ``to:x`` (To and Cc), ``subject:x``; flags with
``is:unread``, ``is:read``, ``is:flagged``, ``is:unflagged``, ``is:answered``, ``is:draft`` and
``flag:<keyword>``; ``"quoted words"`` stay together. All terms must match.
"""

from __future__ import annotations

import base64
import email
import email.header
import email.message
import email.policy
import email.utils
import re
import shlex
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mox.serve import ServerContext
    from mox.store.schema import Message

from mox.store.errors import MessageGone
from mox.web import sanitize
from mox.web.submit import submission_prefix
from mox.web.router import HTTPError, Request, Response, Router, json_response, static_response
from mox.web.session import Session, require_session

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
CID_PART_MAX = 2 * 1024 * 1024
CID_TOTAL_MAX = 10 * 1024 * 1024
SYSTEM_FLAGS = ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")
_FLAG_KEYWORD = re.compile(r"^(\\(Seen|Answered|Flagged|Deleted|Draft)|\$?[A-Za-z0-9_.-]{1,64})$")

_policy = email.policy.default.clone(raise_on_defect=False)


# Helpers shared with account.py / live.py.


@contextmanager
def open_account(ctx: Any, name: str | None) -> Iterator[Any]:
    if not name:
        raise HTTPError(403, "user:noAuth", "no account for this session")
    acc = ctx.store.open_account(name)
    try:
        yield acc
    finally:
        acc.close()


def decode_header_value(value: str | None) -> str:
    """RFC 2047 decoded header text; never raises."""
    if not value:
        return ""
    if "=?" not in value:
        return value
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except Exception:  # noqa: BLE001 - odd encodings: show what we have
        return value


def _addr(a: Any) -> dict[str, str]:
    address = f"{a.mailbox or ''}@{a.host}" if a.host is not None else ""
    return {"name": decode_header_value(a.name), "address": address}


def _addrs(lst: list[Any] | None) -> list[dict[str, str]]:
    return [_addr(a) for a in lst or [] if a.host is not None]


def _has_attachments(part: Any) -> bool:
    if part.parts:
        return any(_has_attachments(p) for p in part.parts) if part.media_type == "MULTIPART" else False
    if (part.disposition or "").upper() == "ATTACHMENT":
        return True
    return part.media_type not in ("TEXT", "MULTIPART")


def summary(msg: Any) -> dict[str, Any]:
    """What the message list shows of one message."""
    part = msg.part  # decoded from the stored record on each access: once here
    env = part.envelope
    return {
        "mailbox": msg.mailbox_id,
        "uid": msg.uid,
        "id": msg.id,
        "subject": decode_header_value(env.subject if env else None),
        "from": _addrs(env.from_ if env else None),
        "to": _addrs(env.to if env else None),
        "cc": _addrs(env.cc if env else None),
        "date": env.date if env else None,
        "received": msg.received,
        "flags": list(msg.flags),
        "size": msg.size,
        "attachments": _has_attachments(part),
    }


def mailbox_info(mb: Any) -> dict[str, Any]:
    return {
        "id": mb.id,
        "name": mb.name,
        "special_use": mb.special_use,
        "total": mb.total,
        "unread": mb.unseen,
        "size": mb.size,
    }


# Message parsing for display.


def parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=_policy)  # type: ignore[return-value]


def part_bytes(part: email.message.Message) -> bytes:
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], email.message.Message):
            try:
                return inner[0].as_bytes()
            except Exception:  # noqa: BLE001
                return b""
    try:
        return part.get_payload(decode=True) or b""
    except Exception:  # noqa: BLE001
        return b""


def part_text(part: email.message.Message) -> str:
    data = part_bytes(part)
    charset = part.get_content_charset() or "utf-8"
    try:
        text = data.decode(charset, "replace")
    except LookupError:
        text = data.decode("utf-8", "replace")
    return text.replace("\r\n", "\n")


def leaves(msg: email.message.Message) -> list[tuple[int, email.message.Message]]:
    """The leaf parts with their index in walk order (the index names a part in URLs). An
    attached message (message/rfc822) is one leaf; its own parts are not listed."""
    out: list[tuple[int, email.message.Message]] = []
    counter = 0

    def visit(p: email.message.Message) -> None:
        nonlocal counter
        index = counter
        counter += 1
        if p.get_content_type() == "message/rfc822" and index != 0:
            out.append((index, p))
        elif p.is_multipart():
            for child in p.get_payload():  # type: ignore[union-attr]
                if isinstance(child, email.message.Message):
                    visit(child)
        else:
            out.append((index, p))

    visit(msg)
    return out


def _is_attachment(i: int, p: email.message.Message) -> bool:
    if (p.get_content_disposition() or "").lower() == "attachment" or p.get_filename():
        return True
    return i != 0 and p.get_content_maintype() != "text"


def attachments(msg: email.message.Message) -> list[dict[str, Any]]:
    out = []
    for i, p in leaves(msg):
        if _is_attachment(i, p):
            out.append(
                {
                    "index": i,
                    "filename": p.get_filename() or f"part{i}",
                    "content_type": p.get_content_type(),
                    "size": len(part_bytes(p)),
                }
            )
    return out


def first_body(msg: email.message.Message, subtype: str) -> email.message.Message | None:
    for i, p in leaves(msg):
        if p.get_content_type() == f"text/{subtype}" and (p.get_content_disposition() or "") != "attachment":
            return p
    return None


def text_of(msg: email.message.Message) -> str:
    """The text to show: text/plain preferred, else the HTML's text, else empty."""
    p = first_body(msg, "plain")
    if p is not None:
        return part_text(p)
    h = first_body(msg, "html")
    if h is not None:
        import html

        import nh3

        txt = html.unescape(nh3.clean(part_text(h), tags=set()))
        return re.sub(r"\n{3,}", "\n\n", txt).strip() + "\n"
    return ""


def cid_map(msg: email.message.Message) -> dict[str, str]:
    out: dict[str, str] = {}
    total = 0
    for _, p in leaves(msg):
        cid = p.get("Content-ID")
        if not cid or p.get_content_maintype() != "image":
            continue
        data = part_bytes(p)
        if len(data) > CID_PART_MAX or total + len(data) > CID_TOTAL_MAX:
            continue
        total += len(data)
        out[str(cid).strip().strip("<>")] = f"data:{p.get_content_type()};base64," + base64.b64encode(data).decode()
    return out


def headers_of(msg: email.message.Message) -> list[list[str]]:
    out = []
    for k, v in msg.raw_items():
        out.append([k, decode_header_value(re.sub(r"\r?\n[ \t]", " ", str(v)))])
    return out


# Search.


class Query:
    def __init__(self, text: str) -> None:
        self.words: list[str] = []
        self.fields: list[tuple[str, str]] = []
        self.flags_set: list[str] = []
        self.flags_unset: list[str] = []
        try:
            tokens = shlex.split(text)
        except ValueError:
            tokens = text.split()
        for t in tokens:
            key, sep, val = t.partition(":")
            key = key.lower()
            if sep and key in ("from", "to", "subject") and val:
                self.fields.append((key, val.lower()))
            elif sep and key == "is" and val:
                self._is(val.lower())
            elif sep and key == "flag" and val:
                self.flags_set.append(val if val.startswith("\\") else val.lower())
            elif t:
                self.words.append(t.lower())

    def _is(self, v: str) -> None:
        table = {
            "unread": ("\\Seen", False), "read": ("\\Seen", True), "seen": ("\\Seen", True),
            "flagged": ("\\Flagged", True), "unflagged": ("\\Flagged", False),
            "answered": ("\\Answered", True), "draft": ("\\Draft", True),
        }
        if v not in table:
            raise HTTPError(400, "user:badQuery", f"unknown is:{v} (unread, read, flagged, unflagged, answered, draft)")
        flag, want = table[v]
        (self.flags_set if want else self.flags_unset).append(flag)

    def empty(self) -> bool:
        return not (self.words or self.fields or self.flags_set or self.flags_unset)

    def matches(self, acc: Any, msg: Any) -> bool:
        flags = set(msg.flags)
        if any(f not in flags for f in self.flags_set) or any(f in flags for f in self.flags_unset):
            return False
        if not (self.fields or self.words):
            return True
        keys = _search_keys(acc, msg)
        for key, val in self.fields:
            if val not in keys[key]:
                return False
        if self.words:
            hay = " ".join([keys["subject"], keys["from"], keys["to"]])
            missing = [w for w in self.words if w not in hay]
            if missing and not _body_contains(acc, msg, missing):
                return False
        return True


# Lower-case subject, from and to+cc per message, for search without decoding each stored record
# again: a stored message's headers never change, so they are kept per account by message id.
_SEARCH_KEYS: weakref.WeakKeyDictionary[Any, dict[int, dict[str, str]]] = weakref.WeakKeyDictionary()
_SEARCH_KEYS_MAX = 500_000


def _search_keys(acc: Any, msg: Any) -> dict[str, str]:
    cache = _SEARCH_KEYS.get(acc)
    if cache is None:
        cache = _SEARCH_KEYS[acc] = {}
    keys = cache.get(msg.id)
    if keys is None:
        summ = summary(msg)

        def addrs(lst: list[dict[str, str]]) -> str:
            return " ".join(f"{a['name']} <{a['address']}>" for a in lst).lower()

        keys = {"subject": summ["subject"].lower(), "from": addrs(summ["from"]), "to": addrs(summ["to"] + summ["cc"])}
        if len(cache) >= _SEARCH_KEYS_MAX:
            cache.clear()
        cache[msg.id] = keys
    return keys


def _plain_encoded(part: Any) -> bool:
    """True when no part is base64 or quoted-printable (the raw bytes are the text)."""
    if part.parts:
        return all(_plain_encoded(p) for p in part.parts)
    return part.content_transfer_encoding in ("7BIT", "8BIT", "BINARY")


def _body_contains(acc: Any, msg: Any, words: list[str]) -> bool:
    """Whether the message text has every word (lower case). Messages without transfer encoding
    are searched as raw bytes (fast path); others are parsed and decoded."""
    try:
        data = acc.read_message(msg)
    except OSError:
        return False
    if _plain_encoded(msg.part):
        body = data[msg.part.body_start :].decode("utf-8", "replace").lower()
        if all(w in body for w in words):
            return True
        if data[msg.part.body_start :].isascii():
            return False
    body = text_of(parse(data)).lower()
    return all(w in body for w in words)


# API.


def _int(obj: dict[str, Any], name: str, default: int | None = None) -> int:
    v = obj.get(name, default)
    if not isinstance(v, int) or isinstance(v, bool):
        raise HTTPError(400, "user:badRequest", f"field {name!r} must be an integer")
    return v


def _str(obj: dict[str, Any], name: str) -> str:
    v = obj.get(name)
    if not isinstance(v, str) or not v:
        raise HTTPError(400, "user:badRequest", f"field {name!r} must be a non-empty string")
    return v


def _uids(obj: dict[str, Any]) -> list[int]:
    v = obj.get("uids")
    if not isinstance(v, list) or not v or not all(isinstance(u, int) and not isinstance(u, bool) and u > 0 for u in v):
        raise HTTPError(400, "user:badRequest", "field 'uids' must be a non-empty list of positive integers")
    return v


def _flags(obj: dict[str, Any]) -> list[str]:
    v = obj.get("flags")
    if not isinstance(v, list) or not v or not all(isinstance(f, str) and _FLAG_KEYWORD.match(f) for f in v):
        raise HTTPError(400, "user:badRequest", "field 'flags' must be a non-empty list of flags/keywords")
    return v


def _mailbox(acc: Any, obj: dict[str, Any], field: str = "mailbox") -> Any:
    mb = acc.mailbox_by_id(_int(obj, field))
    if mb is None:
        raise HTTPError(404, "user:notFound", "no such mailbox")
    return mb


def _message(acc: Any, mailbox_id: int, uid: int) -> Any:
    m = acc.message(mailbox_id, uid)
    if m is None:
        raise HTTPError(404, "user:notFound", "no such message")
    return m


def _read(acc: Any, m: Any) -> bytes:
    """The message file; 404 when the message was expunged (by IMAP, say) since it was looked up."""
    try:
        return acc.read_message(m)
    except MessageGone:
        raise HTTPError(404, "user:notFound", "message was expunged") from None


async def api_mailboxes(ctx: Any, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
    return {"mailboxes": [mailbox_info(mb) for mb in acc.mailboxes()], "address": s.address, "account": s.account}


async def api_messages(ctx: Any, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
    """A page of messages, newest first: {mailbox, offset=0, limit=50, query=""}; mailbox may be
    null with a query to search all mailboxes."""
    offset = _int(obj, "offset", 0)
    limit = _int(obj, "limit", PAGE_SIZE)
    if offset < 0 or not 0 < limit <= MAX_PAGE_SIZE:
        raise HTTPError(400, "user:badRequest", f"offset must be >= 0 and limit 1..{MAX_PAGE_SIZE}")
    q = obj.get("query") or ""
    if not isinstance(q, str):
        raise HTTPError(400, "user:badRequest", "field 'query' must be a string")
    query = Query(q)
    if obj.get("mailbox") is None:
        if query.empty():
            raise HTTPError(400, "user:badRequest", "a mailbox or a search query is needed")
        msgs = [m for mb in acc.mailboxes() for m in acc.messages(mb.id)]
        msgs.sort(key=lambda m: (m.received, m.id), reverse=True)
    else:
        msgs = list(reversed(acc.messages(_mailbox(acc, obj).id)))
    if query.empty():
        total = len(msgs)
        page = [summary(m) for m in msgs[offset : offset + limit]]
    else:

        def scan() -> tuple[list[dict[str, Any]], int]:
            page, total = [], 0
            for m in msgs:
                if query.matches(acc, m):
                    if offset <= total < offset + limit:
                        page.append(summary(m))
                    total += 1
            return page, total

        if query.words:  # may read every message file: not in the event loop
            import trio

            page, total = await trio.to_thread.run_sync(scan)
        else:
            page, total = scan()
    return {"messages": page, "total": total, "offset": offset, "limit": limit}


async def api_message(ctx: Any, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
    mb = _mailbox(acc, obj)
    m = _message(acc, mb.id, _int(obj, "uid"))
    parsed = parse(_read(acc, m))
    html_part = first_body(parsed, "html")
    if obj.get("mark_read", True) and "\\Seen" not in m.flags:
        changed, _ = await acc.store_flags(mb.id, [m.uid], "add", ["\\Seen"])
        if changed:
            m = changed[0]
    return {
        "summary": summary(m),
        "headers": headers_of(parsed),
        "text": text_of(parsed),
        "html": html_part is not None,
        "has_text": first_body(parsed, "plain") is not None,
        "attachments": attachments(parsed),
        "message_id": m.part.envelope.message_id if m.part.envelope else None,
    }


async def _flags_op(acc: Any, obj: dict[str, Any], mode: str) -> Any:
    mb = _mailbox(acc, obj)
    changed, _ = await acc.store_flags(mb.id, _uids(obj), mode, _flags(obj))
    return {"changed": [m.uid for m in changed]}


async def api_flags_add(ctx: Any, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
    return await _flags_op(acc, obj, "add")


async def api_flags_remove(ctx: Any, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
    return await _flags_op(acc, obj, "remove")


async def api_move(ctx: Any, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
    mb = _mailbox(acc, obj)
    dst = acc.mailbox(_str(obj, "to")) if isinstance(obj.get("to"), str) else acc.mailbox_by_id(_int(obj, "to"))
    if dst is None:
        raise HTTPError(404, "user:notFound", "no such destination mailbox")
    if dst.id == mb.id:
        raise HTTPError(400, "user:badRequest", "source and destination mailbox are the same")
    moved = await acc.move(mb.id, _uids(obj), dst.id)
    return {"mailbox": dst.id, "moved": [[a, b] for a, b in moved]}


async def api_delete(ctx: Any, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
    """Move to Trash; in Trash (or without one), remove for good."""
    mb = _mailbox(acc, obj)
    uids = _uids(obj)
    trash = next((x for x in acc.mailboxes() if x.special_use == "\\Trash"), None)
    if trash is None or trash.id == mb.id or obj.get("permanent"):
        removed = await acc.expunge(mb.id, uids)
        return {"removed": removed}
    moved = await acc.move(mb.id, uids, trash.id)
    return {"mailbox": trash.id, "moved": [[a, b] for a, b in moved]}


def _store_error(e: Exception) -> HTTPError:
    from mox import store

    if isinstance(e, store.MailboxNotFound):
        return HTTPError(404, "user:notFound", str(e) or "no such mailbox")
    if isinstance(e, store.MailboxExists):
        return HTTPError(409, "user:exists", str(e) or "mailbox exists")
    if isinstance(e, store.MailboxHasChildren):
        return HTTPError(409, "user:hasChildren", str(e) or "mailbox has children")
    if isinstance(e, store.OverQuota):
        return HTTPError(403, "user:overQuota", str(e) or "over quota")
    return HTTPError(400, "user:error", str(e) or type(e).__name__)


def _mailbox_name(obj: dict[str, Any], field: str = "name") -> str:
    name = _str(obj, field).strip().strip("/")
    if not name or "//" in name or any(ord(c) < 0x20 for c in name) or len(name) > 200:
        raise HTTPError(400, "user:badRequest", "invalid mailbox name")
    return name


async def api_mailbox_create(ctx: Any, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
    from mox import store

    try:
        created = await acc.create_mailbox(_mailbox_name(obj))
    except store.StoreError as e:
        raise _store_error(e) from None
    return {"created": [mailbox_info(m) for m in created]}


async def api_mailbox_rename(ctx: Any, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
    from mox import store

    old, new = _mailbox_name(obj, "name"), _mailbox_name(obj, "new")
    if old.lower() == "inbox":
        raise HTTPError(400, "user:badRequest", "the inbox cannot be renamed")
    try:
        await acc.rename_mailbox(old, new)
    except store.StoreError as e:
        raise _store_error(e) from None
    return {}


async def api_mailbox_delete(ctx: Any, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
    from mox import store

    name = _mailbox_name(obj)
    if name.lower() == "inbox":
        raise HTTPError(400, "user:badRequest", "the inbox cannot be deleted")
    try:
        await acc.delete_mailbox(name)
    except store.StoreError as e:
        raise _store_error(e) from None
    return {}


API = {
    "Mailboxes": api_mailboxes,
    "Messages": api_messages,
    "Message": api_message,
    "FlagsAdd": api_flags_add,
    "FlagsRemove": api_flags_remove,
    "Move": api_move,
    "Delete": api_delete,
    "MailboxCreate": api_mailbox_create,
    "MailboxRename": api_mailbox_rename,
    "MailboxDelete": api_mailbox_delete,
}


async def api(ctx: Any, req: Request) -> Response:
    s = require_session(req, "webmail")
    method = req.params["method"]
    if method == "Submit":
        return json_response(await submit(ctx, req, s))
    fn = API.get(method)
    if fn is None:
        raise HTTPError(404, "user:notFound", f"unknown method {method!r}")
    obj = req.json() if req.body.strip() else {}
    if not isinstance(obj, dict):
        raise HTTPError(400, "user:badRequest", "request must be a JSON object")
    with open_account(ctx, s.account) as acc:
        return json_response(await fn(ctx, s, acc, obj))


# Compose.


def _recipients(field: str, value: str) -> list[tuple[str, str]]:
    out = []
    for name, addr in email.utils.getaddresses([re.sub(r"[\r\n]+", " ", value)]):
        if not addr:
            continue
        lp, at, dom = addr.rpartition("@")
        if not at or not lp or not dom or any(c in addr for c in " <>,\r\n"):
            raise HTTPError(400, "user:badAddress", f"invalid address in {field}: {addr!r}")
        out.append((name, addr))
    return out


def compose(
    *, from_addr: str, to: list[tuple[str, str]], cc: list[tuple[str, str]], subject: str, body: str,
    files: list[Any], hostname: str, in_reply_to: str | None = None, references: str | None = None,
    forward: bytes | None = None,
) -> tuple[bytes, str]:
    """The message bytes (CRLF) and its Message-ID."""
    msg = email.message.EmailMessage(policy=email.policy.SMTP)
    msg["From"] = from_addr
    if to:
        msg["To"] = ", ".join(email.utils.formataddr(a) for a in to)
    if cc:
        msg["Cc"] = ", ".join(email.utils.formataddr(a) for a in cc)
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    mid = email.utils.make_msgid(domain=hostname)
    msg["Message-ID"] = mid
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = ((references or "") + " " + in_reply_to).strip()
    msg["User-Agent"] = "mox webmail"
    msg.set_content(body.replace("\r\n", "\n"))
    for f in files:
        maintype, _, subtype = (f.content_type or "application/octet-stream").partition("/")
        if not subtype or "\n" in f.content_type:
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(f.data, maintype=maintype, subtype=subtype, filename=f.filename or "attachment")
    if forward is not None:
        inner = email.message_from_bytes(forward, policy=email.policy.SMTP)
        msg.add_attachment(inner, filename="forwarded.eml")
    return msg.as_bytes(policy=email.policy.SMTP), mid


async def submit(ctx: Any, req: Request, s: Session) -> dict[str, Any]:
    form = req.form()

    def field(name: str) -> str:
        return (form.get(name) or [""])[0]

    to = _recipients("to", field("to"))
    cc = _recipients("cc", field("cc"))
    bcc = _recipients("bcc", field("bcc"))
    rcpts = [a for _, a in to + cc + bcc]
    if not rcpts:
        raise HTTPError(400, "user:badRequest", "no recipients")
    from_addr = s.address or ""
    in_reply_to = references = None
    forward = None
    with open_account(ctx, s.account) as acc:
        ref_mb, ref_uid = field("ref_mailbox"), field("ref_uid")
        ref = None
        if ref_mb and ref_uid:
            try:
                ref = acc.message(int(ref_mb), int(ref_uid))
            except ValueError:
                raise HTTPError(400, "user:badRequest", "ref_mailbox and ref_uid must be integers") from None
            if ref is None:
                raise HTTPError(404, "user:notFound", "referenced message not found")
        mode = field("mode")
        if ref is not None and mode == "reply":
            env = ref.part.envelope
            in_reply_to = env.message_id if env else None
            hdrs = parse(_read(acc, ref))
            references = str(hdrs.get("References") or "") or None
        elif ref is not None and mode == "forward":
            forward = _read(acc, ref)
        subject = re.sub(r"[\r\n]+", " ", field("subject"))
        try:
            data, mid = compose(
                from_addr=from_addr, to=to, cc=cc, subject=subject, body=field("body"),
                files=req.files(), hostname=ctx.config.hostname, in_reply_to=in_reply_to,
                references=references, forward=forward,
            )
        except (ValueError, TypeError, LookupError) as e:  # header values the email package refuses
            raise HTTPError(400, "user:badRequest", f"cannot compose message: {e}") from None
        if len(data) > ctx.config.max_message_size:
            raise HTTPError(413, "user:tooLarge", "message larger than the maximum message size")
        # The account's daily limits, as SMTP submission; mox's errors (webmail/api.go).
        msglimit, rcptlimit = ctx.queue.send_limit_reached(s.account, rcpts)
        if msglimit is not None:
            raise HTTPError(400, "user:error", "checking outgoing rate: message limit reached")
        if rcptlimit is not None:
            raise HTTPError(400, "user:error", "checking outgoing rate: recipient limit reached")
        data = await submission_prefix(ctx, from_addr, rcpts, data) + data
        ids = await ctx.queue.add(s.account, from_addr, rcpts, data)
        if ref is not None and mode in ("reply", "forward"):
            flag = "\\Answered" if mode == "reply" else "$Forwarded"
            await acc.store_flags(ref.mailbox_id, [ref.uid], "add", [flag])
    return {"message_id": mid, "queued": ids, "time": time.time()}


# Message content views.


def _load(ctx: Any, req: Request) -> tuple[Session, bytes]:
    s, _, data = load_message(ctx, req)
    return s, data


def load_message(ctx: ServerContext, req: Request) -> tuple[Session, Message, bytes]:
    """The session's message named by the path's mailbox and uid: (session, message, bytes)."""
    s = require_session(req, "webmail")
    try:
        mbid, uid = int(req.params["mailbox"]), int(req.params["uid"])
    except ValueError:
        raise HTTPError(404, "user:notFound", "no such message") from None
    with open_account(ctx, s.account) as acc:
        m = _message(acc, mbid, uid)
        return s, m, _read(acc, m)


async def msg_view(ctx: Any, req: Request) -> Response:
    view = req.params["view"]
    if view not in ("text", "html", "htmlexternal", "raw"):
        raise HTTPError(404, "user:notFound", f"unknown view {view!r}")
    _, data = _load(ctx, req)
    if view == "raw":
        return Response(200, [*sanitize.message_headers(), ("Content-Type", "text/plain; charset=utf-8")], data)
    parsed = parse(data)
    external = view == "htmlexternal"
    if view == "text":
        doc = sanitize.text_document(text_of(parsed))
    else:
        h = first_body(parsed, "html")
        if h is None:
            doc = sanitize.text_document(text_of(parsed))
        else:
            doc = sanitize.message_document(sanitize.sanitize_html(part_text(h), allow_external=external, cids=cid_map(parsed)))
    headers = [*sanitize.message_headers(allow_external=external), ("Content-Type", "text/html; charset=utf-8")]
    return Response(200, headers, doc.encode("utf-8"))


async def part_download(ctx: Any, req: Request) -> Response:
    _, data = _load(ctx, req)
    try:
        index = int(req.params["index"])
    except ValueError:
        raise HTTPError(404, "user:notFound", "no such part") from None
    for i, p in leaves(parse(data)):
        if i == index:
            name = p.get_filename() or f"part{i}"
            ctype = p.get_content_type()
            if "\n" in ctype or "\r" in ctype:
                ctype = "application/octet-stream"
            return Response(200, sanitize.content_headers(ctype, filename=name), part_bytes(p))
    raise HTTPError(404, "user:notFound", "no such part")


async def page(ctx: Any, req: Request) -> Response:
    if req.path != "/webmail/":
        raise HTTPError(404, "user:notFound", f"no such path: {req.path}")
    return static_response(req, "webmail/index.html")


def register(router: Router) -> None:
    router.add("/webmail/", page, methods=("GET",))
    router.add_static("/webmail/static/", "webmail")
    router.add("/webmail/api/{method}", api, methods=("POST",))
    # Submit carries a message with its attachments (multipart, not encoded).
    router.set_body_limit("/webmail/api/Submit", lambda ctx: ctx.config.max_message_size + 1024 * 1024)
    router.add("/webmail/msg/{mailbox}/{uid}/{view}", msg_view, methods=("GET",))
    router.add("/webmail/part/{mailbox}/{uid}/{index}", part_download, methods=("GET",))
    # /webmail/ws is registered by mox.web.live, which builds on this module.
