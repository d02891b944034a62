"""Webmail (``/webmail/``, mox ``webmail/webmail.go``, ``webmail/api.go``): a single page in plain
JavaScript plus a JSON API, modelled on mox's webmail (its method names where they exist).

Routes (all need a ``webmail`` session, see mox.web.session; POSTs need the CSRF header):

- ``GET /webmail/``: the page (static files under ``/webmail/static/``).
- ``POST /webmail/api/<Method>`` with a JSON object: Mailboxes, Messages (a page of a mailbox or
  a search, newest first, optionally as threads with previews), Message (headers, text,
  attachments; marks it read), FlagsAdd, FlagsRemove, Move, Delete (to Trash, or expunge in
  Trash), MailboxCreate, MailboxRename, MailboxDelete (with submailboxes), MailboxEmpty,
  MailboxSetSpecialUse, ThreadCollapse, ThreadMute,
  MessageCompose (a draft), MessageFindMessageID (what a reopened draft answers; both mox.web.compose). ``POST /webmail/api/Submit`` (mox.web.compose) takes multipart/form-data and queues the message like
  SMTP submission. Answers: 200 with the result object, or ``{"code", "message"}`` with 4xx.
- ``GET /webmail/msg/{mailbox}/{uid}/{view}``: ``text`` / ``html`` / ``htmlexternal`` (documents
  for the sandboxed iframe, strict CSP: mox.web.sanitize), ``raw`` (source as text/plain),
  ``part/{n}`` would not fit the segment count, so attachments are ``/webmail/part/{mailbox}/{uid}/{n}``.
- ``GET /webmail/ws`` (WebSocket, mox.web.live): change notifications for live updates.

The search syntax is mox's (mox.web.mailsearch).
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mox.store.schema import Message

from mox.store.errors import MessageGone
from mox.web import sanitize
from mox.web.mailsearch import Query, attachment_type
from mox.web.mailview import (
    attachments, cid_map, decode_header_value, first_body, headers_of, leaves, parse, part_bytes, part_text, text_of,
)  # fmt: skip
from mox.web.router import HTTPError, Request, Response, Router, json_response, static_response
from mox.web.session import Session, require_session
from mox.context import ServerContext

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
SYSTEM_FLAGS = ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")
_FLAG_KEYWORD = re.compile(r"^(\\(Seen|Answered|Flagged|Deleted|Draft)|\$?[A-Za-z0-9_.-]{1,64})$")


# Helpers shared with account.py / live.py.


@contextmanager
def open_account(ctx: ServerContext, name: str | None) -> Iterator[Any]:
    if not name:
        raise HTTPError(403, "user:noAuth", "no account for this session")
    acc = ctx.store.open_account(name)
    try:
        yield acc
    finally:
        acc.close()


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


def _attachment_types(part: Any, out: list[str]) -> list[str]:
    """Kinds (mox.web.mailsearch.attachment_type) of the message's attachments, each once."""
    if part.parts and part.media_type == "MULTIPART":
        for p in part.parts:
            _attachment_types(p, out)
    elif (part.disposition or "").upper() == "ATTACHMENT" or part.media_type not in ("TEXT", "MULTIPART"):
        params = dict((k.lower(), v) for k, v in [*part.params, *part.disposition_params])
        kind = attachment_type(f"{part.media_type}/{part.media_subtype}", params.get("filename") or params.get("name") or "")
        if kind and kind not in out:
            out.append(kind)
    return out


def summary(msg: Any) -> dict[str, Any]:
    """What the message list shows of one message. ``preview`` is filled by ``with_previews``
    (it may need the message file)."""
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
        "attachment_types": _attachment_types(part, []),
        "preview": msg.preview,
        # Threads (mox.store.threads): the thread, parents from closest to root, settings.
        "thread_id": msg.thread_id,
        "thread_parent_ids": list(msg.thread_parent_ids),
        "thread_missing_link": msg.thread_missing_link,
        "thread_muted": msg.thread_muted,
        "thread_collapsed": msg.thread_collapsed,
    }


async def with_previews(acc: Any, msgs: list[Any], summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The summaries with each message's preview (made and stored for older messages)."""
    try:
        previews = await acc.previews(msgs)
    except MessageGone:
        previews = [m.preview or "" for m in msgs]
    for s, pv in zip(summaries, previews, strict=True):
        s["preview"] = pv
    return summaries


def mailbox_info(mb: Any) -> dict[str, Any]:
    return {
        "id": mb.id,
        "name": mb.name,
        "special_use": mb.special_use,
        "total": mb.total,
        "unread": mb.unseen,
        "size": mb.size,
    }


# Search (the syntax: mox.web.mailsearch).


# Lower-case subject, from and to+cc per message, for search without decoding each stored record
# again: a stored message's headers never change, so they are kept per account by message id.
_SEARCH_KEYS: weakref.WeakKeyDictionary[Any, dict[int, dict[str, Any]]] = weakref.WeakKeyDictionary()
_SEARCH_KEYS_MAX = 500_000


def _search_keys(acc: Any, msg: Any) -> dict[str, Any]:
    cache = _SEARCH_KEYS.get(acc)
    if cache is None:
        cache = _SEARCH_KEYS[acc] = {}
    keys = cache.get(msg.id)
    if keys is None:
        summ = summary(msg)

        def addrs(lst: list[dict[str, str]]) -> str:
            return " ".join(f"{a['name']} <{a['address']}>" for a in lst).lower()

        env = msg.part.envelope
        keys = {
            "subject": summ["subject"].lower(), "from": addrs(summ["from"]),
            "to": addrs(summ["to"] + summ["cc"] + _addrs(env.bcc if env else None)),
            "attachments": set(summ["attachment_types"]) | ({"any"} if summ["attachments"] else set()),
        }  # fmt: skip
        if len(cache) >= _SEARCH_KEYS_MAX:
            cache.clear()
        cache[msg.id] = keys
    return keys


def _header_values(acc: Any, msg: Any) -> dict[str, list[str]]:
    """Header field name (lower case) -> decoded values (lower case) of a message."""
    try:
        data = acc.read_message(msg)
    except OSError:
        return {}
    out: dict[str, list[str]] = {}
    for k, v in parse(data[: msg.part.body_start]).raw_items():
        out.setdefault(k.lower(), []).append(decode_header_value(re.sub(r"\r?\n[ \t]", " ", str(v))).lower())
    return out


def matches(acc: Any, query: Query, msg: Any) -> bool:
    def keys() -> dict[str, Any]:
        k = _search_keys(acc, msg)
        if query.headers:
            k = {**k, "headers": _header_values(acc, msg)}
        return k

    return query.matches(msg, keys, lambda words: _body_words(acc, msg, words))


def _plain_encoded(part: Any) -> bool:
    """True when no part is base64 or quoted-printable (the raw bytes are the text)."""
    if part.parts:
        return all(_plain_encoded(p) for p in part.parts)
    return part.content_transfer_encoding in ("7BIT", "8BIT", "BINARY")


def _body_words(acc: Any, msg: Any, words: list[str]) -> set[str]:
    """Which of the words (lower case) the message text has. Messages without transfer encoding
    are searched as raw bytes (fast path); others are parsed and decoded."""
    try:
        data = acc.read_message(msg)
    except OSError:
        return set()
    raw = data[msg.part.body_start :]
    if _plain_encoded(msg.part):
        body = raw.decode("utf-8", "replace").lower()
        found = {w for w in words if w in body}
        if len(found) == len(words) or raw.isascii():
            return found
    body = text_of(parse(data)).lower()
    return {w for w in words if w in body}


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


async def api_mailboxes(ctx: ServerContext, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
    return {"mailboxes": [mailbox_info(mb) for mb in acc.mailboxes()], "address": s.address, "account": s.account}


def _rejects_mailbox(ctx: ServerContext, account: str | None) -> str | None:
    acc = ctx.config.accounts.get(account or "")
    return (acc.rejects_mailbox or None) if acc is not None else None


THREADING = ("off", "on", "unread")


async def api_messages(ctx: ServerContext, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
    """A page of messages, newest first: {mailbox, offset=0, limit=50, query="", threading="off"}.

    ``query`` is mox's search syntax (mox.web.mailsearch); its ``mb:`` picks the mailbox,
    else ``mailbox`` does; without both a search covers all mailboxes but Trash, Junk and the
    rejects mailbox. ``threading`` "on" or "unread" (mox's thread modes) pages over threads
    instead: each thread with a matching message comes with all its messages in any mailbox
    (ascending id; ``match`` says which match the query and mailbox), ``total`` counts threads."""
    offset = _int(obj, "offset", 0)
    limit = _int(obj, "limit", PAGE_SIZE)
    if offset < 0 or not 0 < limit <= MAX_PAGE_SIZE:
        raise HTTPError(400, "user:badRequest", f"offset must be >= 0 and limit 1..{MAX_PAGE_SIZE}")
    q = obj.get("query") or ""
    if not isinstance(q, str):
        raise HTTPError(400, "user:badRequest", "field 'query' must be a string")
    threading = obj.get("threading") or "off"
    if threading not in THREADING:
        raise HTTPError(400, "user:badRequest", "field 'threading' must be off, on or unread")
    query = Query(q)
    if query.mailbox is not None:
        scope = query.mailbox_ids(acc.mailboxes(), None)
        if scope is None:
            raise HTTPError(404, "user:notFound", f"no mailbox {query.mailbox!r}")
    elif obj.get("mailbox") is not None:
        scope = {_mailbox(acc, obj).id}
    elif query.empty():
        raise HTTPError(400, "user:badRequest", "a mailbox or a search query is needed")
    else:
        scope = query.mailbox_ids(acc.mailboxes(), _rejects_mailbox(ctx, s.account)) or set()
    msgs = [m for mbid in scope for m in acc.messages(mbid)]
    msgs.sort(key=lambda m: (m.received, m.id), reverse=True)

    def scan() -> list[Any]:
        return [m for m in msgs if matches(acc, query, m)]

    if query.needs_text() or query.headers:  # may read every message file: not in the event loop
        import trio

        found = await trio.to_thread.run_sync(scan)
    else:
        found = scan()
    if threading == "off":
        page = found[offset : offset + limit]
        out = await with_previews(acc, page, [summary(m) for m in page])
        return {"messages": out, "total": len(found), "offset": offset, "limit": limit, "threading": threading}
    # Threads in the order of their newest matching message.
    order: list[int] = []
    seen: set[int] = set()
    for m in found:
        tid = m.thread_id or -m.id
        if tid not in seen:
            seen.add(tid)
            order.append(tid)
    matched = {m.id for m in found}
    page = []
    for tid in order[offset : offset + limit]:
        page.extend(acc.thread_messages(tid) if tid > 0 else [acc.message_by_id(-tid)])
    page = [m for m in page if m is not None]
    out = await with_previews(acc, page, [summary(m) for m in page])
    for m, summ in zip(page, out, strict=True):
        summ["match"] = m.id in matched
    return {"messages": out, "total": len(order), "offset": offset, "limit": limit, "threading": threading}


async def api_message(ctx: ServerContext, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
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


async def api_flags_add(ctx: ServerContext, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
    return await _flags_op(acc, obj, "add")


async def api_flags_remove(ctx: ServerContext, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
    return await _flags_op(acc, obj, "remove")


async def api_move(ctx: ServerContext, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
    mb = _mailbox(acc, obj)
    dst = acc.mailbox(_str(obj, "to")) if isinstance(obj.get("to"), str) else acc.mailbox_by_id(_int(obj, "to"))
    if dst is None:
        raise HTTPError(404, "user:notFound", "no such destination mailbox")
    if dst.id == mb.id:
        raise HTTPError(400, "user:badRequest", "source and destination mailbox are the same")
    moved = await acc.move(mb.id, _uids(obj), dst.id)
    return {"mailbox": dst.id, "moved": [[a, b] for a, b in moved]}


async def api_delete(ctx: ServerContext, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
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


async def api_mailbox_create(ctx: ServerContext, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
    from mox import store

    try:
        created = await acc.create_mailbox(_mailbox_name(obj))
    except store.StoreError as e:
        raise _store_error(e) from None
    return {"created": [mailbox_info(m) for m in created]}


async def api_mailbox_rename(ctx: ServerContext, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
    from mox import store

    old, new = _mailbox_name(obj, "name"), _mailbox_name(obj, "new")
    if old.lower() == "inbox":
        raise HTTPError(400, "user:badRequest", "the inbox cannot be renamed")
    try:
        await acc.rename_mailbox(old, new)
    except store.StoreError as e:
        raise _store_error(e) from None
    return {}


async def api_mailbox_delete(ctx: ServerContext, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
    """{name}: delete a mailbox, its submailboxes and their messages (deepest first); returns
    the names deleted."""
    from mox import store

    name = _mailbox_name(obj)
    if name.lower() == "inbox":
        raise HTTPError(400, "user:badRequest", "the inbox cannot be deleted")
    mb = acc.mailbox(name)
    if mb is None:
        raise HTTPError(404, "user:notFound", "no such mailbox")
    names = sorted((m.name for m in acc.mailboxes() if m.name.startswith(mb.name + "/")), key=lambda n: -n.count("/"))
    if any(n.lower() == "inbox" or n.lower().startswith("inbox/") for n in names + [mb.name]):
        raise HTTPError(400, "user:badRequest", "the inbox cannot be deleted")
    try:
        for n in [*names, mb.name]:
            await acc.delete_mailbox(n)
    except store.StoreError as e:
        raise _store_error(e) from None
    return {"deleted": [*names, mb.name]}


async def api_mailbox_empty(ctx: ServerContext, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
    """{mailbox}: remove every message of the mailbox for good (mox MailboxEmpty)."""
    mb = _mailbox(acc, obj)
    uids = [m.uid for m in acc.messages(mb.id)]
    removed = await acc.expunge(mb.id, uids) if uids else []
    return {"removed": len(removed)}


async def api_mailbox_set_special_use(ctx: ServerContext, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
    """{mailbox, special_use}: \\Archive, \\Drafts, \\Junk, \\Sent, \\Trash or "" for none;
    the mailbox that had that use loses it (mox MailboxSetSpecialUse)."""
    from mox import store

    mb = _mailbox(acc, obj)
    use = obj.get("special_use")
    if not isinstance(use, str):
        raise HTTPError(400, "user:badRequest", "field 'special_use' must be a string")
    try:
        changed = await acc.set_special_use(mb.id, use or None)
    except store.StoreError as e:
        raise _store_error(e) from None
    return {"changed": [mailbox_info(m) for m in changed]}


def _message_ids(obj: dict[str, Any]) -> list[int]:
    v = obj.get("message_ids")
    if not isinstance(v, list) or not v or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in v):
        raise HTTPError(400, "user:badRequest", "field 'message_ids' must be a non-empty list of positive integers")
    return v


def _bool(obj: dict[str, Any], name: str) -> bool:
    v = obj.get(name)
    if not isinstance(v, bool):
        raise HTTPError(400, "user:badRequest", f"field {name!r} must be true or false")
    return v


async def _thread_setting(acc: Any, obj: dict[str, Any], field: str, fn: Any) -> Any:
    ids, value = _message_ids(obj), _bool(obj, field)
    try:
        changed = await fn(ids, value)
    except MessageGone:
        raise HTTPError(404, "user:notFound", "no such message") from None
    return {"changed": [m.id for m in changed]}


async def api_thread_collapse(ctx: ServerContext, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
    """{message_ids, collapse}: collapse or expand the threads below these messages (mox
    ThreadCollapse: the messages and their descendants)."""
    return await _thread_setting(acc, obj, "collapse", acc.set_thread_collapsed)


async def api_thread_mute(ctx: ServerContext, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
    """{message_ids, mute}: mute (which also collapses) or unmute the threads below these
    messages (mox ThreadMute); new messages of a muted thread arrive read."""
    return await _thread_setting(acc, obj, "mute", acc.set_thread_muted)


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
    "MailboxEmpty": api_mailbox_empty,
    "MailboxSetSpecialUse": api_mailbox_set_special_use,
    "ThreadCollapse": api_thread_collapse,
    "ThreadMute": api_thread_mute,
}


async def api(ctx: ServerContext, req: Request) -> Response:
    s = require_session(req, "webmail")
    method = req.params["method"]
    if method == "Submit":
        from mox.web.compose import submit

        return json_response(await submit(ctx, req, s))
    fn = API.get(method)
    if fn is None:
        raise HTTPError(404, "user:notFound", f"unknown method {method!r}")
    obj = req.json() if req.body.strip() else {}
    if not isinstance(obj, dict):
        raise HTTPError(400, "user:badRequest", "request must be a JSON object")
    with open_account(ctx, s.account) as acc:
        return json_response(await fn(ctx, s, acc, obj))


# Message content views.


def _load(ctx: ServerContext, req: Request) -> tuple[Session, bytes]:
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


async def msg_view(ctx: ServerContext, req: Request) -> Response:
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


async def part_download(ctx: ServerContext, req: Request) -> Response:
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


async def page(ctx: ServerContext, req: Request) -> Response:
    if req.path != "/webmail/":
        raise HTTPError(404, "user:notFound", f"no such path: {req.path}")
    return static_response(req, "webmail/index.html")


def register(router: Router) -> None:
    from mox.web import compose  # noqa: F401  (adds its API methods)

    router.add("/webmail/", page, methods=("GET",))
    router.add_static("/webmail/static/", "webmail")
    router.add("/webmail/api/{method}", api, methods=("POST",))
    # Submit carries a message with its attachments (multipart, not encoded).
    router.set_body_limit("/webmail/api/Submit", lambda ctx: ctx.config.max_message_size + 1024 * 1024)
    router.add("/webmail/msg/{mailbox}/{uid}/{view}", msg_view, methods=("GET",))
    router.add("/webmail/part/{mailbox}/{uid}/{index}", part_download, methods=("GET",))
    # /webmail/ws is registered by mox.web.live, which builds on this module.
