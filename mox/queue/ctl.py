"""Control-channel commands for the queue, as mox's ctl.go: ``queuelist``, ``queueholdset``,
``queueschedule``, ``queuefail``, ``queuedrop``, ``queuedump`` and ``queueholdruleslist|add|
remove``. Filters and sorts are one JSON line each with mox's field names
(:mod:`mox.queue.control`); counts come back as one line after ``ok``, lists as a stream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from mox.ctl import CtlError
from mox.context import ServerContext
from mox.queue import holdrules
from mox.queue.control import Filter, Sort, format_entry, parse_duration, select
from mox.queue.queue import Queue

if TYPE_CHECKING:
    from mox.ctl.server import CtlConn


def _queue(ctx: ServerContext) -> Queue:
    return ctx.queue


async def _read_filter(conn: CtlConn) -> Filter:
    line = await conn.read_line()
    try:
        return msgspec.json.decode((line or "{}").encode("utf-8"), type=Filter)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise CtlError(f"bad filter json: {e}") from None


async def _read_sort(conn: CtlConn) -> Sort:
    line = await conn.read_line()
    try:
        return msgspec.json.decode((line or "{}").encode("utf-8"), type=Sort)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise CtlError(f"bad sort json: {e}") from None


async def cmd_queuelist(ctx: ServerContext, conn: CtlConn) -> None:
    """> queuelist, > filter, > sort, < ok, < stream ("messages:", a line each or "(none)")."""
    f = await _read_filter(conn)
    s = await _read_sort(conn)
    q = _queue(ctx)
    entries = select(q, f, s)
    now = q.store_now()
    lines = ["messages:", *(format_entry(e, now) for e in entries)] + ([] if entries else ["(none)"])
    await conn.write_line("ok")
    await conn.write_stream(("\n".join(lines) + "\n").encode("utf-8"))


async def cmd_queueholdset(ctx: ServerContext, conn: CtlConn) -> None:
    """> queueholdset, > filter, > "true"|"false", < ok, < count."""
    f = await _read_filter(conn)
    hold = (await conn.read_line()) == "true"
    q = _queue(ctx)
    changed = await q.set_hold([e.id for e in select(q, f)], hold)
    q.log.info("queue hold set by admin", hold=hold, count=len(changed))
    await conn.write_line("ok")
    await conn.write_line(str(len(changed)))


async def cmd_queueschedule(ctx: ServerContext, conn: CtlConn) -> None:
    """> queueschedule, > filter, > "yes" (relative to now) or "", > duration, < ok, < count."""
    f = await _read_filter(conn)
    relnow = await conn.read_line()
    dur = await conn.read_line()
    try:
        d = parse_duration(dur)
    except ValueError as e:
        raise CtlError(f"parsing duration for next delivery attempt: {e}") from None
    q = _queue(ctx)
    now = q.store_now()
    sel = [msgspec.structs.replace(e, next_attempt=(now + d) if relnow else e.next_attempt + d) for e in select(q, f)]
    await q.update(sel)
    await conn.write_line("ok")
    await conn.write_line(str(len(sel)))


async def cmd_queuefail(ctx: ServerContext, conn: CtlConn) -> None:
    """> queuefail, > filter, < ok, < count. A DSN goes to each sender, as after a permanent failure."""
    f = await _read_filter(conn)
    q = _queue(ctx)
    n = len(await q.fail([e.id for e in select(q, f)]))
    await conn.write_line("ok")
    await conn.write_line(str(n))


async def cmd_queuedrop(ctx: ServerContext, conn: CtlConn) -> None:
    """> queuedrop, > filter, < ok, < count. Removed without delivery and without DSN."""
    f = await _read_filter(conn)
    q = _queue(ctx)
    n = len(await q.drop([e.id for e in select(q, f)]))
    await conn.write_line("ok")
    await conn.write_line(str(n))


async def cmd_queuedump(ctx: ServerContext, conn: CtlConn) -> None:
    """> queuedump, > id, < ok, < stream (the message as it will be delivered)."""
    import trio

    idstr = await conn.read_line()
    try:
        qid = int(idstr)
    except ValueError:
        raise CtlError(f'parsing id: strconv.ParseInt: parsing "{idstr}": invalid syntax') from None
    q = _queue(ctx)
    e = q.store.entries.get(qid)
    if e is None:
        raise CtlError("opening message: message not found")
    data = await trio.to_thread.run_sync(q.store.read_message, e)
    await conn.write_line("ok")
    await conn.write_stream(data)


async def cmd_queueholdruleslist(ctx: ServerContext, conn: CtlConn) -> None:
    rules = _queue(ctx).holdrules.list()
    lines = ["hold rules:", *(r.describe() for r in rules)] + ([] if rules else ["(none)"])
    await conn.write_line("ok")
    await conn.write_stream(("\n".join(lines) + "\n").encode("utf-8"))


async def cmd_queueholdrulesadd(ctx: ServerContext, conn: CtlConn) -> None:
    """> queueholdrulesadd, > account, > sender domain, > recipient domain, < ok. Queued
    messages that match are put on hold too (mox HoldRuleAdd)."""
    account = await conn.read_line()
    sender = await conn.read_line()
    rcpt = await conn.read_line()
    try:
        await holdrules.add_rule(_queue(ctx), account, sender, rcpt)
    except holdrules.HoldRuleError as e:
        raise CtlError(str(e)) from None
    await conn.write_line("ok")


async def cmd_queueholdrulesremove(ctx: ServerContext, conn: CtlConn) -> None:
    """> queueholdrulesremove, > id, < ok. Messages on hold stay on hold (as mox)."""
    idstr = await conn.read_line()
    try:
        rid = int(idstr)
    except ValueError:
        raise CtlError(f'parsing id: strconv.ParseInt: parsing "{idstr}": invalid syntax') from None
    try:
        await holdrules.remove_rule(_queue(ctx), rid)
    except holdrules.HoldRuleError as e:
        raise CtlError(str(e)) from None
    await conn.write_line("ok")
