"""Live updates for webmail over a WebSocket (``GET /webmail/ws?csrf=<token>``).

mox uses Server-Sent Events (mox ``webmail/view.go``); we use a WebSocket (trio-websocket, already a
dependency) with the same idea: the server subscribes to the account's change broadcast and
pushes every committed change, so a message delivered by SMTP shows up without reload.

The connection needs the ``webmailsession`` cookie and the session's CSRF token in the query
(the core already refused a foreign Origin). Messages from the server, JSON text frames:

- ``{"type": "start", "mailboxes": [...]}`` once, the mailbox list with counts;
- ``{"type": "changes", "changes": [...], "mailboxes": [...]}`` after each batch of commits:
  ``changes`` are the store's Change records as objects with a ``kind`` field
  (``ChangeAddUID`` also carries the new message's ``summary``), ``mailboxes`` the current list
  with counts;
- ``{"type": "error", "code", "message"}`` and a close when the session is not valid.

Client messages are ignored except ``{"type": "ping"}``, answered with ``{"type": "pong"}``.
"""

from __future__ import annotations

from typing import Any

import msgspec
import trio

from mox.web.router import HTTPError, Request, Router
from mox.web.session import require_session
from mox.web.webmail import mailbox_info, summary
from mox.context import ServerContext

_encoder = msgspec.json.Encoder()


def _change(acc: Any, c: Any) -> dict[str, Any]:
    d = msgspec.to_builtins(c)
    d = d if isinstance(d, dict) else {"value": d}
    d["kind"] = type(c).__name__
    if d["kind"] == "ChangeAddUID":
        m = acc.message(c.mailbox_id, c.uid)
        d["summary"] = summary(m) if m is not None else None
    return d


async def serve_websocket(ctx: ServerContext, req: Request, ws: Any) -> None:
    import trio_websocket

    try:
        s = require_session(req, "webmail", csrf=False)
        if req.arg("csrf") != s.csrf:
            raise HTTPError(403, "user:badCSRF", "missing or wrong csrf token (query parameter csrf)")
    except HTTPError as e:
        await ws.send_message(_encoder.encode({"type": "error", "code": e.code, "message": e.message}).decode())
        return
    acc = ctx.store.open_account(s.account_name())
    sub = acc.subscribe()

    def mailboxes() -> list[dict[str, Any]]:
        return [mailbox_info(mb) for mb in acc.mailboxes()]

    async def send(obj: Any) -> None:
        await ws.send_message(_encoder.encode(obj).decode())

    try:
        await send({"type": "start", "mailboxes": mailboxes(), "address": s.address})
        async with trio.open_nursery() as nursery:

            async def read() -> None:
                try:
                    while True:
                        msg = await ws.get_message()
                        try:
                            obj = msgspec.json.decode(msg)
                        except (msgspec.DecodeError, TypeError):
                            continue
                        if isinstance(obj, dict) and obj.get("type") == "ping":
                            await send({"type": "pong"})
                except trio_websocket.ConnectionClosed:
                    pass
                nursery.cancel_scope.cancel()

            async def watch_shutdown() -> None:
                await ctx.shutting_down.wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(read)
            nursery.start_soon(watch_shutdown)
            while True:
                await sub.wait()
                if sub.closed or sub.overflowed:
                    # Overflowed: this connection fell too far behind (store/changes.py); the
                    # page reconnects and reloads when it closes.
                    break
                changes = sub.pending()
                if not changes:
                    continue
                out = [_change(acc, c) for c in changes]
                try:
                    await send({"type": "changes", "changes": out, "mailboxes": mailboxes()})
                except trio_websocket.ConnectionClosed:
                    break
            nursery.cancel_scope.cancel()
    finally:
        sub.close()
        acc.close()


def register(router: Router) -> None:
    router.add_websocket("/webmail/ws", serve_websocket)
