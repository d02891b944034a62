"""Control-channel commands for the queue: ``queuelist``, ``queuedrop``, ``queuefail``.

``queuelist``: server answers ``ok``, then a stream with one line per entry (mox's columns: id,
queued time, from, to, next attempt, attempts, last error), ``(none)`` when empty.
``queuedrop`` / ``queuefail``: one JSON filter line (``{}`` for all, ``{"ids": [1, 2]}``); server
answers ``ok`` then a stream with ``N message(s) dropped|failed``.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from mox.ctl import CtlError


def _fmt_time(t: float | None) -> str:
    if t is None:
        return "-"
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_entry(e: Any) -> str:
    last = f", last error {e.last_error!r}" if e.last_error else ""
    return (
        f"{e.id} {_fmt_time(e.queued)} from <{e.mail_from}> to <{e.recipient}> "
        f"next {_fmt_time(e.next_attempt)} attempts {e.attempts}{last}"
    )


def _queue(ctx: Any) -> Any:
    q = getattr(ctx, "queue", None)
    if q is None:
        raise CtlError("queue not running")
    return q


async def _read_filter(conn: Any) -> list[int] | None:
    line = await conn.read_line()
    try:
        f = json.loads(line or "{}")
    except ValueError:
        raise CtlError("bad filter json") from None
    if not isinstance(f, dict) or set(f) - {"ids"}:
        raise CtlError('filter must be an object with optional "ids"')
    ids = f.get("ids")
    if ids is None:
        return None
    if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
        raise CtlError('"ids" must be a list of integers')
    return ids


async def cmd_queuelist(ctx: Any, conn: Any) -> None:
    q = _queue(ctx)
    await conn.write_line("ok")
    lines = [format_entry(e) for e in q.list()] or ["(none)"]
    await conn.write_stream(("\n".join(lines) + "\n").encode("utf-8"))


async def cmd_queuedrop(ctx: Any, conn: Any) -> None:
    ids = await _read_filter(conn)
    n = len(await _queue(ctx).drop(ids))
    await conn.write_line("ok")
    await conn.write_stream(f"{n} message(s) dropped\n".encode())


async def cmd_queuefail(ctx: Any, conn: Any) -> None:
    ids = await _read_filter(conn)
    n = len(await _queue(ctx).fail(ids))
    await conn.write_line("ok")
    await conn.write_stream(f"{n} message(s) failed\n".encode())
