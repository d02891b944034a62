"""Test API endpoints for tests and CI (README "Testing with mox"): fault rules, transcripts,
lint reports, per-address inboxes, reset.

- ``GET/POST/DELETE /api/v1/faults`` (``DELETE ?owner=`` for one test's rules),
  ``GET/DELETE /api/v1/faults/{id}``
- ``GET /api/v1/transcripts?proto=&user=``, ``GET /api/v1/transcripts/{cid}`` (text/plain)
- ``GET /api/v1/messages/{id}/transcript`` (the SMTP session that delivered it)
- ``GET /api/v1/messages/{id}/lint``, ``POST /api/v1/lint`` (body: a raw message)
- ``GET /api/v1/inboxes``, ``DELETE /api/v1/inboxes/{address}``
- ``POST /api/v1/reset``, ``GET /api/v1/ci`` (settings)
- ``GET /webmail/ci/{mailbox}/{uid}/transcript|lint`` (webmail session): the message view's
  Transcript and Lint links

Preload at start and export at exit are mox.ci.fixtures.serve.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mox.store.schema import Message

from mox import mlog
from mox.ci import hooks as ci
from mox.ci.faults import RuleError
from mox.ci.lint import lint_message
from mox.web.router import HTTPError, Request, Response, Router, json_response
from mox.web import access, sanitize
from mox.web.testapi import BASE, _index, _msg_id, require_unrestricted
from mox.context import ServerContext

log = mlog.get_logger("http")


def _state(ctx: ServerContext, req: Request, *, everyone: bool = False) -> ci.State:
    """The CI state; for local and admin callers only unless ``everyone`` (the endpoint then
    limits itself to the caller's accounts)."""
    if not everyone:
        require_unrestricted(req)
    st = ci.state(ctx)
    if st is None:
        raise HTTPError(404, "user:notFound", "only available in localserve")
    return st


async def faults(ctx: ServerContext, req: Request) -> Response:
    st = _state(ctx, req)
    now = time.time()
    if req.method == "POST":
        body = req.json()
        objs = body if isinstance(body, list) else [body]
        try:
            rules = st.faults.add_many(objs, now)
        except RuleError as e:
            raise HTTPError(400, "user:badRule", str(e)) from None
        out = [r.to_json(now) for r in rules]
        return json_response(out if isinstance(body, list) else out[0], 201)
    owner = req.arg("owner")
    if req.method == "DELETE":
        return json_response({"deleted": st.faults.delete(owner=owner)})
    return json_response({"rules": [r.to_json(now) for r in st.faults.list(now, owner)]})


def _rule_id(req: Request) -> int:
    try:
        return int(req.params["id"])
    except ValueError:
        raise HTTPError(400, "user:badParameter", "rule id must be an integer") from None


async def fault(ctx: ServerContext, req: Request) -> Response:
    st = _state(ctx, req)
    rid = _rule_id(req)
    now = time.time()
    r = st.faults.get(rid, now)
    if r is None:
        raise HTTPError(404, "user:notFound", f"no rule {rid}")
    if req.method == "DELETE":
        return json_response({"deleted": st.faults.delete(id=rid)})
    return json_response(r.to_json(now))


async def transcripts(ctx: ServerContext, req: Request) -> Response:
    st = _state(ctx, req)
    proto = req.arg("proto")
    return json_response({"transcripts": st.transcripts.list(proto=proto or None, user=req.arg("user") or None)})


async def transcript(ctx: ServerContext, req: Request) -> Response:
    st = _state(ctx, req)
    text = st.transcripts.get(req.params["cid"])
    if text is None:
        raise HTTPError(404, "user:notFound", f"no transcript {req.params['cid']!r}")
    # Transcripts hold message data: shown as text, sandboxed.
    return Response(200, sanitize.content_headers("text/plain; charset=utf-8", attachment=False), text.encode("utf-8"))


async def _message(ctx: ServerContext, req: Request) -> tuple[str, Message, bytes]:
    """(account, message, bytes) of the request's message, in an account the caller may see."""
    _, ai = await _index(ctx, req)
    mid = _msg_id(req)
    acc = ctx.store.open_account(ai.name)
    try:
        m = acc.message_by_id(mid)
        if m is None or m.expunged:
            raise HTTPError(404, "user:notFound", f"message {mid} not found")
        return ai.name, m, acc.read_message(m)
    finally:
        acc.close()


def _session_of(st: ci.State, account: str, message: Message) -> str | None:
    """The SMTP session that brought the message into the account, as the server recorded it
    at delivery (never from the message's headers: an IMAP APPEND can write any)."""
    return st.transcripts.delivered_by(account, message.id)


async def message_transcript(ctx: ServerContext, req: Request) -> Response:
    st = _state(ctx, req, everyone=True)
    account, m, _ = await _message(ctx, req)
    cid = _session_of(st, account, m)
    text = st.transcripts.get(cid) if cid else None
    if text is None:
        raise HTTPError(404, "user:notFound", "no transcript for this message (not received over SMTP by this server)")
    return Response(
        200,
        [*sanitize.content_headers("text/plain; charset=utf-8", attachment=False), ("X-Mox-Transcript", cid or "")],
        text.encode("utf-8"),
    )


async def message_lint(ctx: ServerContext, req: Request) -> Response:
    st = _state(ctx, req, everyone=True)
    account, m, data = await _message(ctx, req)
    cid = _session_of(st, account, m)
    info = st.tx_info.get(cid or "", {})
    report = lint_message(_strip_trace(data), body_8bit=info.get("body_8bit"), smtputf8=info.get("smtputf8"))
    report["transcript"] = cid if cid and st.transcripts.get(cid) is not None else None
    return json_response(report)


def _strip_trace(data: bytes) -> bytes:
    """The message as the client sent it: without the Received/Return-Path/Delivered-To and
    Authentication-Results fields we put on top."""
    ours = (b"received:", b"return-path:", b"delivered-to:", b"authentication-results:")
    i = 0
    while True:
        j = data.find(b"\r\n", i)
        if j < 0 or not data[i:j].lower().startswith(ours):
            return data[i:]
        i = j + 2
        while data[i : i + 1] in (b" ", b"\t"):
            j = data.find(b"\r\n", i)
            if j < 0:
                return data[i:]
            i = j + 2


async def lint(ctx: ServerContext, req: Request) -> Response:
    _state(ctx, req, everyone=True)  # stateless: a report on the posted message

    def flag(name: str) -> bool | None:
        v = req.arg(name)
        return None if v is None else v.lower() in ("1", "true", "yes")

    return json_response(lint_message(req.body, body_8bit=flag("8bitmime"), smtputf8=flag("smtputf8")))


async def inboxes(ctx: ServerContext, req: Request) -> Response:
    _state(ctx, req, everyone=True)
    caller = access.caller(req)
    out = []
    for name in ctx.store.account_names():
        if ci.is_view(name) and caller.may_see(name):
            acc = ctx.store.open_account(name)
            try:
                mb = acc.mailbox("Inbox")
                out.append({"account": name, "messages": mb.total if mb is not None else 0})
            finally:
                acc.close()
    return json_response({"inboxes": out})


async def _expunge_all(ctx: ServerContext, name: str) -> int:
    acc = ctx.store.open_account(name)
    try:
        n = 0
        for mb in acc.mailboxes():
            uids = [m.uid for m in acc.messages(mb.id)]
            if uids:
                n += len(await acc.expunge(mb.id, uids))
        return n
    finally:
        acc.close()


async def inbox(ctx: ServerContext, req: Request) -> Response:
    """DELETE: clear the view of an address and its messages in account mox (To/Cc/Bcc,
    Delivered-To or single-recipient envelope; Sent and Drafts are left alone)."""
    _state(ctx, req, everyone=True)
    caller = access.caller(req)
    address = req.params["address"].strip().lower()
    n = 0
    name = ci.view_account(address)
    if not caller.may_see(name):
        raise HTTPError(403, "user:forbidden", f"the inbox of {address!r} is not one of yours")
    if name in ctx.store.account_names():
        n += await _expunge_all(ctx, name)
    idx = ctx.web.index
    # The copies in account mox only for callers who may see account mox.
    if idx is not None and ci.MAIN_ACCOUNT in ctx.store.account_names() and caller.may_see(ci.MAIN_ACCOUNT):
        ai = await idx.account(ci.MAIN_ACCOUNT)
        ids = sorted(ai.by_rcpt.get(address, set()))
        acc = ctx.store.open_account(ci.MAIN_ACCOUNT)
        try:
            by_mb: dict[int, list[int]] = {}
            for i in ids:
                s = ai.by_id.get(i)
                if s is not None and s.mailbox_id not in ai.hidden:  # Sent/Drafts stay
                    by_mb.setdefault(s.mailbox_id, []).append(s.uid)
            for mbid, uids in by_mb.items():
                n += len(await acc.expunge(mbid, sorted(uids)))
        finally:
            acc.close()
    return json_response({"deleted": n})


async def reset(ctx: ServerContext, req: Request) -> Response:
    """Every message of every account, all fault rules and transcripts: gone."""
    st = _state(ctx, req)
    # Submissions answered before their Sent copy was stored (mox.queue.sentcopy): stored
    # first, so none appears after the reset.
    await ctx.queue.sent_copies.wait_all()
    n = 0
    for name in ctx.store.account_names():
        n += await _expunge_all(ctx, name)
    rules = st.faults.delete()
    st.transcripts.clear()
    st.tx_info.clear()
    return json_response({"deleted": n, "rules": rules})


async def settings(ctx: ServerContext, req: Request) -> Response:
    return json_response(_state(ctx, req).settings.to_json())


async def webmail_ci(ctx: ServerContext, req: Request) -> Response:
    """``GET /webmail/ci/{mailbox}/{uid}/transcript|lint``: for the webmail message view (needs a
    webmail session; plain text)."""
    from mox.web import sanitize, webmail

    what = req.params["what"]
    if what not in ("transcript", "lint"):
        raise HTTPError(404, "user:notFound", f"unknown view {what!r}")
    s, m, data = webmail.load_message(ctx, req)
    st = ci.state(ctx)
    if st is None:
        raise HTTPError(404, "user:notFound", "only available in localserve")
    cid = _session_of(st, s.account or "", m)
    if what == "transcript":
        text = st.transcripts.get(cid) if cid else None
        if text is None:
            text = "No transcript: this message was not received over SMTP by this server.\n"
    else:
        info = st.tx_info.get(cid or "", {})
        r = lint_message(_strip_trace(data), body_8bit=info.get("body_8bit"), smtputf8=info.get("smtputf8"))
        lines = [f"{'ok' if r['ok'] else 'NOT ok'}: {r['errors']} error(s), {r['warnings']} warning(s)", ""]
        lines += [f"{f['severity']:8} {f['id']}: {f['message']}" for f in r["findings"]]
        text = "\n".join(lines) + "\n"
    return Response(200, [*sanitize.message_headers(), ("Content-Type", "text/plain; charset=utf-8")], text.encode("utf-8"))


def register(router: Router) -> None:
    router.add(BASE + "faults", faults, methods=("GET", "POST", "DELETE"))
    router.add(BASE + "faults/{id}", fault, methods=("GET", "DELETE"))
    router.add(BASE + "transcripts", transcripts, methods=("GET",))
    router.add(BASE + "transcripts/{cid}", transcript, methods=("GET",))
    router.add(BASE + "messages/{id}/transcript", message_transcript, methods=("GET",))
    router.add(BASE + "messages/{id}/lint", message_lint, methods=("GET",))
    router.add(BASE + "lint", lint, methods=("POST",))
    router.set_body_limit(BASE + "lint", lambda ctx: ctx.config.max_message_size + 64 * 1024)
    router.add(BASE + "inboxes", inboxes, methods=("GET",))
    router.add(BASE + "inboxes/{address}", inbox, methods=("DELETE",))
    router.add(BASE + "reset", reset, methods=("POST",))
    router.add(BASE + "ci", settings, methods=("GET",))
    router.add("/webmail/ci/{mailbox}/{uid}/{what}", webmail_ci, methods=("GET",))
