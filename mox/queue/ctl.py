"""Control-channel commands for the queue, as mox's ctl.go: ``queuelist``, ``queueholdset``,
``queueschedule``, ``queuefail``, ``queuedrop``, ``queuedump``, ``queueretiredlist|print`` and
``queueholdruleslist|add|remove``, the webhook queue (``queuehook*``) and the suppression list
(``queuesuppress*``). Filters and sorts are one JSON line each with mox's field names (:mod:`mox.queue.control`,
:mod:`mox.queue.hooks`); counts come back as one line after ``ok``, lists as a stream.
"""

from __future__ import annotations

import datetime
import json
from typing import TYPE_CHECKING, Any

import msgspec

from mox.ctl import CtlError
from mox.context import ServerContext
from mox.queue import holdrules
from mox.queue.control import (
    Filter,
    RetiredFilter,
    RetiredSort,
    Sort,
    format_entry,
    format_retired,
    parse_duration,
    retired_json,
    select,
    select_retired,
)
from mox.queue.queue import Queue

if TYPE_CHECKING:
    from mox.ctl.server import CtlConn
    from mox.queue.hooks import HookQueue


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
    await _write_listing(conn, "messages:", [format_entry(e, now) for e in entries])


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


async def _read_retired_filter(conn: CtlConn) -> RetiredFilter:
    line = await conn.read_line()
    try:
        return msgspec.json.decode((line or "{}").encode("utf-8"), type=RetiredFilter)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise CtlError(f"bad filter json: {e}") from None


async def cmd_queueretiredlist(ctx: ServerContext, conn: CtlConn) -> None:
    """> queueretiredlist, > filter, > sort, < ok, < stream ("retired messages:", a line each
    or "(none)")."""
    f = await _read_retired_filter(conn)
    line = await conn.read_line()
    try:
        s = msgspec.json.decode((line or "{}").encode("utf-8"), type=RetiredSort)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise CtlError(f"bad sort json: {e}") from None
    q = _queue(ctx)
    try:
        items = select_retired(q, f, s)
    except CtlError as e:
        raise CtlError(f"listing retired queue: {e}") from None
    now = q.store_now()
    await _write_listing(conn, "retired messages:", [format_retired(m, now) for m in items])


async def cmd_queueretiredprint(ctx: ServerContext, conn: CtlConn) -> None:
    """> queueretiredprint, > id, < ok, < stream (the retired message as JSON, mox's fields)."""
    idstr = await conn.read_line()
    try:
        rid = int(idstr)
    except ValueError:
        raise CtlError(f'parsing id: strconv.ParseInt: parsing "{idstr}": invalid syntax') from None
    m = _queue(ctx).store.retired.get(rid)
    if m is None:
        raise CtlError("getting retired message: not found")
    await conn.write_line("ok")
    await conn.write_stream(_go_json(retired_json(m)))


async def cmd_queueholdruleslist(ctx: ServerContext, conn: CtlConn) -> None:
    rules = _queue(ctx).holdrules.list()
    await _write_listing(conn, "hold rules:", [r.describe() for r in rules])


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


# Webhooks (mox ctl.go queuehook*): filters and sorts as JSON objects with mox's field names.


def _hooks(ctx: ServerContext) -> HookQueue:
    return _queue(ctx).hooks


async def _read_json(conn: CtlConn, typ: type, what: str) -> Any:
    import msgspec

    line = await conn.read_line()
    try:
        return msgspec.json.decode((line or "{}").encode("utf-8"), type=typ)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise CtlError(f"parsing {what}: {e}") from None


async def _write_listing(conn: CtlConn, title: str, lines: list[str]) -> None:
    """< ok, < stream: a listing as mox's ctl sends it: the title, a line each, or "(none)"."""
    await conn.write_line("ok")
    await conn.write_stream(("\n".join([title, *(lines or ["(none)"])]) + "\n").encode("utf-8"))


def _go_json(obj: Any) -> bytes:
    """JSON as mox's ctl prints records: indented with tabs, a newline at the end."""
    return (json.dumps(obj, indent="\t", ensure_ascii=False) + "\n").encode("utf-8")


async def cmd_queuehooklist(ctx: ServerContext, conn: CtlConn) -> None:
    from mox.queue.hooks import HookFilter, HookFilterError, HookSort, format_hook_line

    f = await _read_json(conn, HookFilter, "filter")
    s = await _read_json(conn, HookSort, "sort")
    hooks = _hooks(ctx)
    try:
        items = hooks.list(f, s)
    except HookFilterError as e:
        raise CtlError(f"listing webhooks: {e}") from None
    now = hooks.now()
    await _write_listing(conn, "webhooks:", [format_hook_line(h, now) for h in items])


async def cmd_queuehookschedule(ctx: ServerContext, conn: CtlConn) -> None:
    from mox.queue.hooks import HookFilter, HookFilterError, parse_go_duration

    f = await _read_json(conn, HookFilter, "filter")
    relnow = await conn.read_line()
    duration = await conn.read_line()
    try:
        seconds = parse_go_duration(duration)
    except ValueError as e:
        raise CtlError(f"parsing duration for next delivery attempt: {e}") from None
    try:
        n = await _hooks(ctx).schedule(f, seconds, from_now=relnow != "")
    except HookFilterError as e:
        raise CtlError(f"setting next delivery attempts in queue: {e}") from None
    await conn.write_line("ok")
    await conn.write_line(str(n))


async def cmd_queuehookcancel(ctx: ServerContext, conn: CtlConn) -> None:
    from mox.queue.hooks import HookFilter, HookFilterError

    f = await _read_json(conn, HookFilter, "filter")
    try:
        n = await _hooks(ctx).cancel(f)
    except HookFilterError as e:
        raise CtlError(f"canceling webhooks in queue: {e}") from None
    await conn.write_line("ok")
    await conn.write_line(str(n))


def _parse_id(s: str) -> int:
    try:
        return int(s)
    except ValueError:
        raise CtlError(f"parsing id: invalid syntax: {s!r}") from None


async def cmd_queuehookprint(ctx: ServerContext, conn: CtlConn) -> None:
    from mox.queue.records import to_json

    hook_id = _parse_id(await conn.read_line())
    hooks = _hooks(ctx)
    h = hooks.store.hooks.get(hook_id)
    if h is None:
        raise CtlError("getting webhook: not found")
    await conn.write_line("ok")
    await conn.write_stream(_go_json(to_json(h, Payload=hooks.payload(h.id))))


async def cmd_queuehookretiredlist(ctx: ServerContext, conn: CtlConn) -> None:
    from mox.queue.hooks import HookFilter, HookFilterError, HookSort, format_retired_line

    f = await _read_json(conn, HookFilter, "filter")
    s = await _read_json(conn, HookSort, "sort")
    hooks = _hooks(ctx)
    try:
        items = hooks.retired_list(f, s)
    except HookFilterError as e:
        raise CtlError(f"listing retired webhooks: {e}") from None
    now = hooks.now()
    await _write_listing(conn, "retired webhooks:", [format_retired_line(h, now) for h in items])


async def cmd_queuehookretiredprint(ctx: ServerContext, conn: CtlConn) -> None:
    from mox.queue.records import to_json

    hook_id = _parse_id(await conn.read_line())
    hooks = _hooks(ctx)
    h = hooks.store.hooks_retired.get(hook_id)
    if h is None:
        raise CtlError("getting retired webhook: not found")
    await conn.write_line("ok")
    await conn.write_stream(_go_json(to_json(h, Payload=hooks.payload(h.id))))


# The suppression list (mox ctl.go queuesuppress*).


def _go_time(t: float) -> str:
    """A time as Go prints a time.Time rounded to seconds, in UTC: "2024-05-01 12:00:00 +0000 UTC"."""
    return datetime.datetime.fromtimestamp(round(t), datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def _check_account(ctx: ServerContext, account: str) -> None:
    if account not in ctx.config.accounts:
        raise CtlError("looking up account: unknown account")


async def cmd_queuesuppresslist(ctx: ServerContext, conn: CtlConn) -> None:
    from mox.queue.hooks import go_quote

    account = await conn.read_line()
    items = _queue(ctx).suppression_list(account)
    lines = [
        "\t".join(
            [go_quote(x.account), go_quote(x.original_address), "Yes" if x.manual else "No", _go_time(x.created), go_quote(x.base_address), go_quote(x.reason)]
        )
        for x in items
    ]
    await _write_listing(conn, "suppressions (account, address, manual, time added, base adddress, reason):", lines)


async def cmd_queuesuppressadd(ctx: ServerContext, conn: CtlConn) -> None:
    from mox.queue.suppression import REASON_CLI, SuppressionError

    account = await conn.read_line()
    address = await conn.read_line()
    _check_account(ctx, account)
    try:
        await _queue(ctx).suppression_add(account, address, manual=True, reason=REASON_CLI)
    except SuppressionError as e:
        raise CtlError(f"adding suppression: {e}") from None
    await conn.write_line("ok")


async def cmd_queuesuppressremove(ctx: ServerContext, conn: CtlConn) -> None:
    from mox.queue.suppression import SuppressionError

    account = await conn.read_line()
    address = await conn.read_line()
    try:
        await _queue(ctx).suppression_remove(account, address)
    except SuppressionError as e:
        raise CtlError(f"removing suppression: {e}") from None
    await conn.write_line("ok")


async def cmd_queuesuppresslookup(ctx: ServerContext, conn: CtlConn) -> None:
    from mox.queue.hooks import go_quote
    from mox.queue.suppression import SuppressionError

    account = await conn.read_line()
    address = await conn.read_line()
    if account:
        _check_account(ctx, account)
    try:
        x = _queue(ctx).suppression_lookup(account, address)
    except SuppressionError as e:
        raise CtlError(str(e)) from None
    await conn.write_line("ok")
    if x is None:
        text = "not present\n"
    else:
        text = (
            f"present\nadded: {_go_time(x.created)}\nmanual: {'yes' if x.manual else 'no'}\n"
            f"base address: {x.base_address}\nreason: {go_quote(x.reason)}\n"
        )
    await conn.write_stream(text.encode("utf-8"))
