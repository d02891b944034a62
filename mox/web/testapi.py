"""The test API under ``/api/v1/`` (beyond mox; documented in README "Test API").

For automated tests: list and search the messages of an account, get one with its text, HTML,
attachments, links and one-time codes, fetch the raw message, delete all or by recipient, and
**wait** for a message: a long-poll that returns as soon as a matching message is stored.

Index: per account, in memory, one :class:`Summary` per message (id, mailbox, received,
from, recipients, subject), and a map from each recipient address (To, Cc, Bcc, Delivered-To,
lower case) and each From address to message ids. It is built from the store in the background
after start (requests wait for it; listeners do not) and kept current from the store's change
subscription, which also wakes waiters: nothing polls.
Listing the newest 50 of 10,000 messages walks the ids newest first and stops after
offset+limit matches (the total is counted over the candidate set).

Access (mox.web.access; README "Test API"): a local caller (peer 127.0.0.1 or ::1, no proxy
headers) needs no credentials and may do everything. Anyone else authenticates with HTTP basic
auth, checked from the headers before a body is read: as ``admin`` with the admin password (may
do everything), with an address and its account's password (sees that account and the
per-address views of its addresses), or with an address that has no account and the shared
password (sees that address's per-address view). Fault rules, transcripts, reset and the CI
settings are for local callers and admin only. State-changing requests (POST, PUT, PATCH,
DELETE; not the stateless lint) must have a JSON Content-Type or none, so a browser's simple
cross-site request (a form, text/plain) cannot make one.
"""

from __future__ import annotations

import bisect
import datetime
import re
from dataclasses import dataclass
from collections.abc import Iterable
from typing import Any

import trio

from mox import mlog
from mox.ci import hooks as ci
from mox.message import decode_header_value
from mox.message.header import parse_address_list, split_header
from mox.web import access, sanitize
from mox.web.access import Caller
from mox.web.router import HTTPError, Request, Response, Router, json_response
from mox.web.parsed import address_string, parsed_message
from mox.web.testapi_extract import find_codes, find_links
from mox.context import ServerContext

BASE = "/api/v1/"
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
MAX_WAIT = 300.0
DEFAULT_WAIT = 30.0
DEFAULT_ACCOUNT = "mox"
BUILD_BATCH = 1000

log = mlog.get_logger("http")


@dataclass
class Summary:
    id: int
    mailbox_id: int
    uid: int
    received: float
    from_: list[str]
    to: list[str]
    cc: list[str]
    rcpts: set[str]  # to + cc + bcc + delivered-to, lower case
    subject: str
    size: int
    message_id: str
    subject_l: str = ""

    def __post_init__(self) -> None:
        self.subject_l = self.subject.lower()

    def matches(self, q: Query, mailbox_names: dict[int, str]) -> bool:
        if q.to is not None and q.to not in self.rcpts:
            return False
        if q.from_ is not None and q.from_ not in (a.lower() for a in self.from_):
            return False
        if q.subject is not None and q.subject not in self.subject_l:
            return False
        if q.since is not None and self.received < q.since:
            return False
        if q.mailbox is not None and mailbox_names.get(self.mailbox_id, "").lower() != q.mailbox:
            return False
        return True

    def visible(self, q: Query, hidden: set[int]) -> bool:
        return q.mailbox is not None or self.mailbox_id not in hidden


@dataclass
class Query:
    to: str | None = None
    from_: str | None = None
    subject: str | None = None
    since: float | None = None
    mailbox: str | None = None

    @classmethod
    def from_request(cls, req: Request) -> Query:
        def low(name: str) -> str | None:
            v = req.arg(name)
            return v.strip().lower() if v is not None and v.strip() else None

        def addr(name: str) -> str | None:
            # `?to=alice+tag@example.org` typed without %2B arrives as "alice tag@...": an
            # unquoted address has no space, so that space was a plus.
            v = low(name)
            return v.replace(" ", "+") if v is not None and '"' not in v else v

        since = None
        s = req.arg("since")
        if s:
            since = parse_time(s)
        return cls(to=addr("to"), from_=addr("from"), subject=low("subject"), since=since, mailbox=low("mailbox"))

    def empty(self) -> bool:
        return all(v is None for v in (self.to, self.from_, self.subject, self.since, self.mailbox))


def parse_time(s: str) -> float:
    """Unix seconds, or an RFC 3339 time (``Z`` or an offset; without one UTC)."""
    try:
        return float(s)
    except ValueError:
        pass
    try:
        t = datetime.datetime.fromisoformat(s.strip().replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise HTTPError(400, "user:badParameter", f"since: expected unix seconds or RFC 3339 time, got {s!r}") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    return t.timestamp()


_RECEIVED_FOR = re.compile(r"\bfor <([^<>\s]+@[^<>\s]+)>")


def _addrs(addrs: list[Any]) -> list[str]:
    return [address_string(a) for a in addrs if a.host is not None and a.mailbox is not None]


def _summarize_all(acc: Any, msgs: list[Any]) -> list[Summary]:
    return [summarize(acc, m) for m in msgs]


def _summarize_added(acc: Any, added: list[tuple[int, int]]) -> list[Summary]:
    return _summarize_all(acc, [m for mb, uid in added if (m := acc.message(mb, uid)) is not None and not m.expunged])


def summarize(acc: Any, msg: Any) -> Summary:
    part = msg.part
    env = part.envelope if part is not None else None
    from_ = _addrs(env.from_) if env else []
    to = _addrs(env.to) if env else []
    cc = _addrs(env.cc) if env else []
    rcpts = {a.lower() for a in to + cc + (_addrs(env.bcc) if env else [])}
    # Delivered-To (added by the queue for each local delivery): the envelope recipient.
    try:
        with open(acc.message_path(msg), "rb") as f:
            head = f.read(16384)
        end = head.find(b"\r\n\r\n")
        fields, _, _ = split_header(head, 0, end + 4 if end >= 0 else len(head))
        first_received = True
        for fld in fields:
            lname = fld.name.lower()
            if lname in ("delivered-to", "x-original-to"):
                rcpts.update(a.lower() for a in _addrs(parse_address_list(fld.value())))
            elif lname == "received" and first_received:
                # Our own trace header names the envelope recipient of a single-recipient
                # transaction ("for <rcpt>"), so Bcc recipients on port 25 can be found too.
                first_received = False
                m = _RECEIVED_FOR.search(fld.value())
                if m:
                    rcpts.add(m.group(1).lower())
    except OSError:
        pass
    subject = decode_header_value(env.subject) if env and env.subject else ""
    return Summary(
        id=msg.id,
        mailbox_id=msg.mailbox_id,
        uid=msg.uid,
        received=msg.received,
        from_=from_,
        to=to,
        cc=cc,
        rcpts=rcpts,
        subject=subject,
        size=msg.size,
        message_id=(env.message_id or "") if env else "",
    )


class AccountIndex:
    def __init__(self, name: str) -> None:
        self.name = name
        self.by_id: dict[int, Summary] = {}
        self.ids: list[int] = []  # ascending
        self.by_rcpt: dict[str, set[int]] = {}
        self.by_from: dict[str, set[int]] = {}
        self.mailbox_names: dict[int, str] = {}
        #: Sent and Drafts: left out unless a query names a mailbox (the queue keeps a Sent copy
        #: of every submission, which would otherwise match before the delivered message).
        self.hidden: set[int] = set()
        self.per_mailbox: dict[int, int] = {}
        self.by_uid: dict[tuple[int, int], int] = {}  # (mailbox id, uid) -> message id
        self.changed = trio.Event()
        self.ready = trio.Event()
        #: (mailbox id, uid) of messages added since the last request, summarized when one asks
        #: (TestIndex.account: a delivery does not wait for the test API), under catch_up_lock.
        self.added: list[tuple[int, int]] = []
        self.catch_up_lock = trio.Lock()
        self.acc: Any = None

    def add(self, s: Summary) -> None:
        if s.id in self.by_id:
            self.remove(s.id)
        self.by_id[s.id] = s
        self.by_uid[(s.mailbox_id, s.uid)] = s.id
        self.per_mailbox[s.mailbox_id] = self.per_mailbox.get(s.mailbox_id, 0) + 1
        if not self.ids or s.id > self.ids[-1]:
            self.ids.append(s.id)
        else:
            bisect.insort(self.ids, s.id)
        for r in s.rcpts:
            self.by_rcpt.setdefault(r, set()).add(s.id)
        for a in s.from_:
            self.by_from.setdefault(a.lower(), set()).add(s.id)

    def remove(self, id: int) -> None:
        s = self.by_id.pop(id, None)
        if s is None:
            return
        self.per_mailbox[s.mailbox_id] -= 1
        self.by_uid.pop((s.mailbox_id, s.uid), None)
        i = bisect.bisect_left(self.ids, id)
        if i < len(self.ids) and self.ids[i] == id:
            del self.ids[i]
        for r in s.rcpts:
            ids = self.by_rcpt.get(r)
            if ids is not None:
                ids.discard(id)
                if not ids:
                    del self.by_rcpt[r]
        for a in s.from_:
            ids = self.by_from.get(a.lower())
            if ids is not None:
                ids.discard(id)
                if not ids:
                    del self.by_from[a.lower()]

    def set_mailboxes(self, mailboxes: list[Any]) -> None:
        self.mailbox_names = {mb.id: mb.name for mb in mailboxes}
        self.hidden = {mb.id for mb in mailboxes if mb.special_use in ("\\Sent", "\\Drafts")}

    def notify(self) -> None:
        ev, self.changed = self.changed, trio.Event()
        ev.set()

    def search(self, q: Query, offset: int, limit: int) -> tuple[int, list[Summary]]:
        """(total matches, page newest first)."""
        cands: set[int] | None = None
        if q.to is not None:
            cands = self.by_rcpt.get(q.to, set())
        if q.from_ is not None:
            f = self.by_from.get(q.from_, set())
            cands = f if cands is None else cands & f
        ordered: Iterable[int] = sorted(cands, reverse=True) if cands is not None else reversed(self.ids)
        if q.empty():
            # Newest first, skipping Sent/Drafts; the total from per-mailbox counts.
            total = len(self.ids) - sum(self.per_mailbox.get(mb, 0) for mb in self.hidden)
            page: list[Summary] = []
            skip = offset
            for i in reversed(self.ids):
                s = self.by_id[i]
                if s.mailbox_id in self.hidden:
                    continue
                if skip:
                    skip -= 1
                    continue
                page.append(s)
                if len(page) >= limit:
                    break
            return total, page
        total = 0
        page = []
        for i in ordered:
            s = self.by_id[i]
            if s.visible(q, self.hidden) and s.matches(q, self.mailbox_names):
                if offset <= total < offset + limit:
                    page.append(s)
                total += 1
        return total, page


class TestIndex:
    """The test API's index over every account of the store."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.accounts: dict[str, AccountIndex] = {}
        self.ready = trio.Event()
        self.nursery: trio.Nursery | None = None
        self._starting = trio.Lock()

    async def account(self, name: str) -> AccountIndex:
        """The index of account ``name``, built at its first use."""
        ai = self.accounts.get(name)
        if ai is None:
            async with self._starting:
                if name not in self.accounts:
                    if name not in self.ctx.store.account_names() or self.nursery is None:
                        raise HTTPError(404, "user:notFound", f"no account {name!r}")
                    await self.nursery.start(self.serve_account, name)
            ai = self.accounts[name]
        await ai.ready.wait()  # built in the background after start
        async with ai.catch_up_lock:
            while ai.added:
                added, ai.added = ai.added, []
                for summary in await trio.to_thread.run_sync(_summarize_added, ai.acc, added):
                    m = ai.acc.message(summary.mailbox_id, summary.uid)
                    if m is not None and not m.expunged:  # not expunged meanwhile
                        ai.add(summary)
        return ai

    async def serve_account(self, name: str, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        acc = self.ctx.store.open_account(name)
        try:
            sub = acc.subscribe()  # before reading, so nothing delivered meanwhile is missed
            try:
                ai = AccountIndex(name)
                ai.acc = acc
                self.accounts[name] = ai
                # Listeners do not wait for the index: it is built here, yielding now and then;
                # requests wait for ai.ready. Changes meanwhile queue up in sub and are applied
                # after (adding a message twice replaces it).
                task_status.started()
                await self._build(acc, ai)
                ai.ready.set()
                while True:
                    await sub.wait()
                    if sub.overflowed:
                        # Fell too far behind (store/changes.py): read the index again; what
                        # changes from now on is queued again.
                        sub.clear_overflow()
                        await self._build(acc, ai)
                        ai.notify()
                        continue
                    changes = sub.pending()
                    if sub.closed and not changes:
                        return
                    self.apply(acc, ai, changes)
            finally:
                sub.close()
        finally:
            acc.close()

    async def _build(self, acc: Any, ai: AccountIndex) -> None:
        """Fill the index from the account's messages (what it had is dropped)."""
        for id in list(ai.by_id):
            ai.remove(id)
        ai.set_mailboxes(acc.mailboxes())
        msgs = [m for mb in acc.mailboxes() for m in acc.messages(mb.id)]
        for i in range(0, len(msgs), BUILD_BATCH):
            # Reading message heads and decoding parts: in a worker thread (Message
            # records are immutable, message_path is pure), off the event loop.
            batch = msgs[i : i + BUILD_BATCH]
            summaries = await trio.to_thread.run_sync(_summarize_all, acc, batch)
            for summary in summaries:
                ai.add(summary)

    def apply(self, acc: Any, ai: AccountIndex, changes: list[Any]) -> None:
        from mox.store import changes as ch

        for c in changes:
            if isinstance(c, ch.ChangeAddUID):
                ai.added.append((c.mailbox_id, c.uid))
            elif isinstance(c, ch.ChangeRemoveUIDs):
                if ai.added:
                    ai.added = [a for a in ai.added if a[0] != c.mailbox_id or a[1] not in c.uids]
                for uid in c.uids:
                    id = ai.by_uid.get((c.mailbox_id, uid))
                    if id is not None:
                        ai.remove(id)
            elif isinstance(c, (ch.ChangeAddMailbox, ch.ChangeRenameMailbox, ch.ChangeRemoveMailbox)):
                ai.set_mailboxes(acc.mailboxes())  # renames include children; reread all
        ai.notify()

    async def serve(self, ctx: ServerContext, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            # Each account is indexed at its first use (a server whose test API is not used
            # holds no index, and a view account is opened only when asked for).
            self.nursery = nursery
            self.ready.set()
            task_status.started()
            await trio.sleep_forever()


# Views.


def _iso(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def summary_json(s: Summary, ai: AccountIndex) -> dict[str, Any]:
    return {
        "id": s.id,
        "mailbox": ai.mailbox_names.get(s.mailbox_id, ""),
        "received": _iso(s.received),
        "from": s.from_[0] if s.from_ else "",
        "to": s.to,
        "cc": s.cc,
        "subject": s.subject,
        "size": s.size,
        "message_id": s.message_id,
    }


# Handlers.


_AUTH_HEADERS = [("WWW-Authenticate", 'Basic realm="mox test api"')]


async def resolve_caller(ctx: ServerContext, req: Request) -> Caller:
    """Who calls (module docstring); HTTPError 401 without valid credentials from a non-local
    address. Password hashes run in a worker thread under the shared hash limiter."""
    if access.is_local(req):
        return Caller("local")
    creds = access.basic_credentials(req)
    if creds is None:
        raise HTTPError(401, "user:noAuth", "basic auth required from non-loopback addresses", _AUTH_HEADERS)
    user, password = creds
    ip = req.remote_ip
    if not ctx.limiter.auth_allowed(ip):
        raise HTTPError(429, "user:tooManyAttempts", "too many authentication attempts")
    if user == "admin":
        from mox.web.session import check_admin_password_async

        if await check_admin_password_async(ctx, password):
            ctx.limiter.auth_succeeded(ip)
            return Caller("admin")
        ctx.limiter.auth_failed(ip)
    else:
        try:
            view = ci.imap_login(ctx, user, password)  # an address without account, shared password
        except ci.ViewLimit as e:  # every per-address view that may be open is in use
            raise HTTPError(503, "server:viewLimit", f"{e}, try again later") from None
        if view is not None:
            return Caller("view", frozenset({view}), view, user)
        account = await ctx.auth.login_async(user, password, ip=ip)
        if account is not None and ctx.config.login_disabled(account):
            raise HTTPError(403, "user:loginFailed", f"login disabled for account: {ctx.config.login_disabled(account)}")
        if account is not None:
            views = {ci.view_account(a) for a in ctx.auth.addresses(account)}
            return Caller("account", frozenset({account} | views), account, user)
    from mox.web.session import FAILED_LOGIN_DELAY

    await trio.sleep(FAILED_LOGIN_DELAY)
    raise HTTPError(401, "user:noAuth", "invalid credentials", _AUTH_HEADERS)


async def guard(ctx: ServerContext, req: Request) -> Response | None:
    """For every request under /api/v1/, before its body is read: who calls, and for requests
    that change something, a JSON Content-Type or none. A browser sends a cross-site request
    without asking first (no CORS preflight, which mox never allows) only with a form or text
    type, and with no type only together with an Origin header (refused by mox.web.access)."""
    req.principal = await resolve_caller(ctx, req)
    if req.method not in access.SAFE_METHODS and req.path != BASE + "lint":
        ctype = (req.header("content-type") or "").split(";", 1)[0].strip().lower()
        json_type = ctype == "application/json" or (ctype.startswith("application/") and ctype.endswith("+json"))
        if ctype and not json_type:
            raise HTTPError(
                415,
                "user:badContentType",
                f"{req.method} requests to the test api carry JSON (Content-Type: application/json), not {ctype}",
            )
    return None


def require_unrestricted(req: Request) -> None:
    """HTTPError 403 unless the caller is local or admin (fault rules, transcripts, reset, CI
    settings: they concern every account)."""
    if not access.caller(req).unrestricted:
        raise HTTPError(403, "user:forbidden", "only from loopback (127.0.0.1, ::1) or with the admin password")


def account_name(ctx: ServerContext, req: Request) -> str:
    """The account a request is about: ``account=``, else the caller's own, else (local and
    admin callers) ``mox``, localserve's account, or the only account. HTTPError 403 for an
    account the caller may not see."""
    c = access.caller(req)
    name = req.arg("account")
    if name is not None:
        if not c.may_see(name):
            raise HTTPError(403, "user:forbidden", f"account {name!r} is not one of yours")
        return name
    if c.account is not None:
        return c.account
    names = ctx.store.account_names()
    if DEFAULT_ACCOUNT in names:
        return DEFAULT_ACCOUNT
    if len(names) == 1:
        return names[0]
    raise HTTPError(400, "user:badParameter", "parameter account required (more than one account)")


async def _index(ctx: ServerContext, req: Request) -> tuple[TestIndex, AccountIndex]:
    """The index for the request's account (see :func:`account_name`)."""
    idx: TestIndex | None = ctx.web.index
    if idx is None:
        raise HTTPError(503, "server:unavailable", "test api index not running")
    name = account_name(ctx, req)
    return idx, await idx.account(name)


def _int_arg(req: Request, name: str, default: int, lo: int, hi: int) -> int:
    v = req.arg(name)
    if v is None or v == "":
        return default
    try:
        n = int(v)
    except ValueError:
        raise HTTPError(400, "user:badParameter", f"{name}: expected an integer, got {v!r}") from None
    if not lo <= n <= hi:
        raise HTTPError(400, "user:badParameter", f"{name}: must be between {lo} and {hi}")
    return n


def _msg_id(req: Request) -> int:
    try:
        return int(req.params["id"])
    except ValueError:
        raise HTTPError(400, "user:badParameter", f"message id must be an integer, got {req.params['id']!r}") from None


def _load(ctx: ServerContext, ai: AccountIndex, s: Summary) -> tuple[Any, bytes]:
    """The stored message behind a summary and its bytes; 404 when it is gone."""
    acc = ctx.store.open_account(ai.name)
    try:
        m = acc.message_by_id(s.id)
        if m is None or m.expunged:
            raise HTTPError(404, "user:notFound", f"message {s.id} not found")
        try:
            return m, acc.read_message(m)
        except FileNotFoundError:  # store.MessageGone: expunged meanwhile
            raise HTTPError(404, "user:notFound", f"message {s.id} not found") from None
    finally:
        acc.close()


def message_details(ctx: ServerContext, ai: AccountIndex, s: Summary) -> dict[str, Any]:
    m, data = _load(ctx, ai, s)
    p = parsed_message(data, m.part)
    out = summary_json(s, ai)
    out["flags"] = list(m.flags)
    out["headers"] = [[k, v] for k, v in p["Headers"]]
    out["text"] = p["Text"]
    out["html"] = p["HTML"]
    out["attachments"] = [
        {
            "part": a["PartPath"],
            "filename": a["Filename"],
            "content_type": a["ContentType"],
            "content_id": a["ContentID"],
            "size": a["Size"],
        }
        for a in p["Attachments"]
    ]
    out["links"] = find_links(p["Text"], p["HTML"])
    out["codes"] = find_codes(p["Text"], p["HTML"])
    return out


async def api_index(ctx: ServerContext, req: Request) -> Response:
    if req.path != BASE:
        raise HTTPError(404, "user:notFound", f"no such path: {req.path}")
    return json_response(
        {
            "endpoints": [
                "GET /api/v1/messages?to=&from=&subject=&since=&mailbox=&limit=&offset=",
                "DELETE /api/v1/messages?to=",
                "GET /api/v1/messages/{id}",
                "GET /api/v1/messages/{id}/raw",
                "GET /api/v1/messages/{id}/parts/{path}",
                "DELETE /api/v1/messages/{id}",
                "GET /api/v1/wait?to=&from=&subject=&since=&mailbox=&timeout=&count=",
                "GET /readyz",
            ]
        }
    )


async def list_messages(ctx: ServerContext, req: Request) -> Response:
    _, ai = await _index(ctx, req)
    if req.method == "DELETE":
        return await delete_messages(ctx, req, ai)
    q = Query.from_request(req)
    limit = _int_arg(req, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _int_arg(req, "offset", 0, 0, 10**9)
    total, page = ai.search(q, offset, limit)
    return json_response(
        {"total": total, "offset": offset, "limit": limit, "messages": [summary_json(s, ai) for s in page]}
    )


async def delete_messages(ctx: ServerContext, req: Request, ai: AccountIndex) -> Response:
    q = Query.from_request(req)
    _, victims = ai.search(q, 0, 1 << 62)
    by_mailbox: dict[int, list[int]] = {}
    for s in victims:
        by_mailbox.setdefault(s.mailbox_id, []).append(s.uid)
    n = 0
    acc = ctx.store.open_account(ai.name)
    try:
        for mbid, uids in by_mailbox.items():
            n += len(await acc.expunge(mbid, sorted(uids)))
    finally:
        acc.close()
    for s in victims:
        ai.remove(s.id)
    return json_response({"deleted": n})


def _summary(ai: AccountIndex, req: Request) -> Summary:
    id = _msg_id(req)
    s = ai.by_id.get(id)
    if s is None:
        raise HTTPError(404, "user:notFound", f"message {id} not found")
    return s


async def get_message(ctx: ServerContext, req: Request) -> Response:
    _, ai = await _index(ctx, req)
    s = _summary(ai, req)
    if req.method == "DELETE":
        acc = ctx.store.open_account(ai.name)
        try:
            await acc.expunge(s.mailbox_id, [s.uid])
        finally:
            acc.close()
        ai.remove(s.id)
        return json_response({"deleted": 1})
    return json_response(message_details(ctx, ai, s))


async def get_part(ctx: ServerContext, req: Request) -> Response:
    """One leaf part, decoded, by its path of 0-based indexes ("1", "0.1"; as in attachments)."""
    _, ai = await _index(ctx, req)
    s = _summary(ai, req)
    try:
        path = [int(x) for x in req.params["path"].split(".")]
    except ValueError:
        raise HTTPError(400, "user:badParameter", f"part path must be dot-separated numbers, got {req.params['path']!r}") from None
    m, data = _load(ctx, ai, s)
    p = m.part
    for i in path:
        if p.media_type != "MULTIPART" or not 0 <= i < len(p.parts):
            raise HTTPError(404, "user:notFound", f"no part {req.params['path']} in message {s.id}")
        p = p.parts[i]
    if p.media_type == "MULTIPART":
        raise HTTPError(400, "user:badParameter", "part is a multipart, not a leaf part")
    from mox.message import decode_body

    try:
        body = decode_body(data, p)
    except Exception:  # noqa: BLE001 - unknown transfer encoding
        body = data[p.body_start : p.body_end]
    ctype = f"{p.media_type}/{p.media_subtype}".lower()
    return Response(200, sanitize.content_headers(ctype), body)


async def get_raw(ctx: ServerContext, req: Request) -> Response:
    _, ai = await _index(ctx, req)
    s = _summary(ai, req)
    m, data = _load(ctx, ai, s)
    return Response(200, sanitize.content_headers("message/rfc822", filename=f"{s.id}.eml"), data)


async def wait(ctx: ServerContext, req: Request) -> Response:
    """Long-poll: the matching messages (full details, newest first, at most ``limit``) as soon
    as at least ``count`` exist; ``{"total": <matches so far>, "messages": []}`` when ``timeout``
    seconds pass first."""
    idx, ai = await _index(ctx, req)
    q = Query.from_request(req)
    count = _int_arg(req, "count", 1, 1, 100)
    limit = _int_arg(req, "limit", count, 1, 100)
    t = req.arg("timeout")
    try:
        timeout = float(t) if t else DEFAULT_WAIT
    except ValueError:
        raise HTTPError(400, "user:badParameter", f"timeout: expected seconds, got {t!r}") from None
    if not 0 <= timeout <= MAX_WAIT:
        raise HTTPError(400, "user:badParameter", f"timeout: must be between 0 and {MAX_WAIT:g} seconds")
    changed = ai.changed  # taken before searching: a change after the search wakes us
    with trio.move_on_after(timeout):
        while True:
            total, page = ai.search(q, 0, limit)
            if total >= count and page:
                details = []
                for s in page:
                    try:
                        details.append(message_details(ctx, ai, s))
                    except HTTPError:
                        continue  # removed meanwhile
                if len(details) >= min(count, limit):
                    return json_response({"total": total, "messages": details})
            if ctx.shutting_down.is_set():
                break
            if req.disconnected is not None and req.disconnected.is_set():
                break
            gone = await _wait_first(changed, ctx.shutting_down, req.disconnected)
            if gone is not changed:
                break
            changed = ai.changed  # before catching up: a change after it wakes us again
            await idx.account(ai.name)  # the summaries of what was added
    total, _ = ai.search(q, 0, 1)
    return json_response({"total": total, "messages": []})


async def _wait_first(*events: trio.Event | None) -> trio.Event:
    """Wait until one of the events is set; return it."""
    first: list[trio.Event] = []
    async with trio.open_nursery() as nursery:
        for ev in events:
            if ev is None:
                continue

            async def one(ev: trio.Event = ev) -> None:
                await ev.wait()
                first.append(ev)
                nursery.cancel_scope.cancel()

            nursery.start_soon(one)
    return first[0]


async def serve_background(ctx: ServerContext, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """The index (each account's built at its first use, then kept current); started by
    mox.web.WebApp when it loads the pages."""
    idx = TestIndex(ctx)
    ctx.web.index = idx
    await idx.serve(ctx, task_status=task_status)


def register(router: Router) -> None:
    router.add_guard(BASE, guard)
    router.add(BASE, api_index, methods=("GET",))
    router.add(BASE + "messages", list_messages, methods=("GET", "DELETE"))
    router.add(BASE + "messages/{id}", get_message, methods=("GET", "DELETE"))
    router.add(BASE + "messages/{id}/raw", get_raw, methods=("GET",))
    router.add(BASE + "messages/{id}/parts/{path}", get_part, methods=("GET",))
    router.add(BASE + "wait", wait, methods=("GET",))
