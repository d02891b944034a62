"""The admin page's queue (mox webadmin: QueueList, QueueHoldSet, QueueNextAttemptSet,
QueueFail, QueueDrop, QueueHoldRuleList/Add/Remove), added to ``POST /admin/api/<Method>``:

- ``Queue`` -> ``{"queue": [...entries]}``: each entry with its next attempt (Unix time), its
  transport ("" is the default: delivered locally in localserve), hold and RequireTLS;
- ``QueueDrop`` / ``QueueFail`` ``{ids}`` (``ids`` omitted or null means all), ``QueueHoldSet``
  ``{ids, hold}`` (a held entry is not delivered until released, mox's hold),
  ``QueueNextAttemptSet`` ``{ids, minutes}`` (from now);
- ``QueueHoldRuleList`` -> ``{"rules": [{ID, Account, SenderDomainStr, RecipientDomainStr,
  description}]}``; ``QueueHoldRuleAdd`` ``{rule: {Account, SenderDomainStr,
  RecipientDomainStr}}`` (each optional; queued messages the rule matches are held too, as
  ``mox queue holdrules add``) -> ``{rule, held, rules}``; ``QueueHoldRuleRemove`` ``{id}`` ->
  ``{rules}`` (held messages stay held);
- ``QueueRetired`` -> ``{"retired": [...], "total"}``: messages that left the queue (delivered,
  failed, dropped), kept for their account's KeepRetiredMessagePeriod, newest first (read-only;
  mox's admin page lists retired messages too).
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from mox.context import ServerContext
from mox.queue import holdrules
from mox.web.router import HTTPError


def _queue_entries(ctx: ServerContext) -> list[dict[str, Any]]:
    return [msgspec.to_builtins(e) for e in ctx.queue.list()]


def _ids(obj: dict[str, Any]) -> list[int] | None:
    ids = obj.get("ids")
    if ids is None:
        return None
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise HTTPError(400, "user:badRequest", "field 'ids' must be a list of integers or null")
    return ids


async def api_queue(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    return {"queue": _queue_entries(ctx)}


async def api_queue_drop(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    dropped = await ctx.queue.drop(_ids(obj))
    return {"ids": dropped, "queue": _queue_entries(ctx)}


async def api_queue_fail(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    failed = await ctx.queue.fail(_ids(obj))
    return {"ids": failed, "queue": _queue_entries(ctx)}


async def api_queue_hold_set(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    hold = obj.get("hold")
    if not isinstance(hold, bool):
        raise HTTPError(400, "user:badRequest", "field 'hold' must be true or false")
    changed = await ctx.queue.set_hold(_ids(obj), hold)
    return {"ids": changed, "queue": _queue_entries(ctx)}


async def api_queue_next_attempt_set(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    minutes = obj.get("minutes")
    if not isinstance(minutes, (int, float)) or isinstance(minutes, bool) or not 0 <= minutes <= 60 * 24 * 365:
        raise HTTPError(400, "user:badRequest", "field 'minutes' must be a number of minutes from now (0 to a year)")
    changed = await ctx.queue.set_next_attempt(_ids(obj), time.time() + minutes * 60)
    return {"ids": changed, "queue": _queue_entries(ctx)}


def _rule(r: holdrules.HoldRule) -> dict[str, Any]:
    return {**msgspec.to_builtins(r), "description": r.describe().partition(": ")[2]}


def _rules(ctx: ServerContext) -> list[dict[str, Any]]:
    return [_rule(r) for r in ctx.queue.holdrules.list()]


async def api_hold_rule_list(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    return {"rules": _rules(ctx)}


class _NewRule(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="pascal"):
    account: str = ""
    sender_domain_str: str = ""
    recipient_domain_str: str = ""


async def api_hold_rule_add(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    try:
        new = msgspec.convert(obj.get("rule") or {}, type=_NewRule)
    except msgspec.ValidationError as e:
        raise HTTPError(400, "user:badRequest", f"bad hold rule: {e}") from None
    try:
        rule, held = await holdrules.add_rule(ctx.queue, new.account.strip(), new.sender_domain_str, new.recipient_domain_str)
    except holdrules.HoldRuleError as e:
        raise HTTPError(400, "user:badRequest", str(e)) from None
    return {"rule": _rule(rule), "held": held, "rules": _rules(ctx)}


async def api_hold_rule_remove(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    rule_id = obj.get("id")
    if not isinstance(rule_id, int) or isinstance(rule_id, bool):
        raise HTTPError(400, "user:badRequest", "field 'id' must be an integer")
    try:
        await holdrules.remove_rule(ctx.queue, rule_id)
    except holdrules.HoldRuleError as e:
        raise HTTPError(404, "user:notFound", str(e)) from None
    return {"rules": _rules(ctx)}


#: At most this many retired messages in one answer (the newest).
RETIRED_MAX = 1000


async def api_queue_retired(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    """The retired messages, newest activity first, at most RETIRED_MAX; ``total`` says how
    many there are."""
    from mox.queue.control import RetiredFilter, select_retired

    items = select_retired(ctx.queue, RetiredFilter(max=RETIRED_MAX))
    return {
        "retired": [
            {
                "id": m.id, "account": m.sender_account, "mail_from": m.mail_from, "recipient": m.recipient,
                "queued": m.queued, "last_activity": m.last_activity, "keep_until": m.keep_until,
                "attempts": m.attempts, "success": m.success, "last_error": m.results[-1].error if m.results else "",
            }
            for m in items
        ],
        "total": len(ctx.queue.store.retired),
    }


API = {
    "Queue": api_queue,
    "QueueDrop": api_queue_drop,
    "QueueFail": api_queue_fail,
    "QueueHoldSet": api_queue_hold_set,
    "QueueNextAttemptSet": api_queue_next_attempt_set,
    "QueueHoldRuleList": api_hold_rule_list,
    "QueueHoldRuleAdd": api_hold_rule_add,
    "QueueHoldRuleRemove": api_hold_rule_remove,
    "QueueRetired": api_queue_retired,
}
