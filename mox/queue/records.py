"""The queue's durable records besides its entries: retired messages, webhooks (queued and
retired) and the suppression list, as mox's queue keeps them (``queue/queue.go`` MsgRetired,
``queue/hook.go`` Hook and HookRetired, ``webapi`` Suppression).

They are stored in the queue's journal (:mod:`mox.queue.store`) and follow msgspec's
schema-evolution rules: new fields get defaults. Field names encode as mox's (``QueueMsgID``);
times are unix seconds here and RFC 3339 in what users see (:func:`to_json`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from mox.queue import suppression as sup
from mox.webhook import mox_name, rfc3339

if TYPE_CHECKING:
    from mox.queue.store import Entry


class _Rec(msgspec.Struct, rename=mox_name, kw_only=True):
    pass


class MsgResult(_Rec, kw_only=True):
    """One delivery attempt of a queued message (mox queue.MsgResult)."""

    start: float
    duration: float = 0.0
    success: bool = False
    code: int = 0
    secode: str = ""  # enhanced code without its class digit, e.g. "1.1"
    error: str = ""


class MsgRetired(_Rec, kw_only=True):
    """A message whose delivery ended (delivered, failed, canceled), kept for the account's
    ``keep_retired_message_period``: for the suppression list's "three failures in a row" and
    for inspection (mox queue.MsgRetired)."""

    id: int
    queued: float
    sender_account: str
    mail_from: str
    from_id: str = ""
    recipient: str
    recipient_address: str  # the recipient as the suppression list compares it: domain lower case
    attempts: int = 0
    last_attempt: float | None = None
    results: list[MsgResult] = []
    size: int = 0
    message_id: str = ""
    subject: str = ""
    require_tls: bool | None = None
    future_release_request: str = ""
    extra: dict[str, str] = {}
    success: bool = False
    last_activity: float
    keep_until: float
    transport: str = ""  # the entry's transport ("" the default)
    smtputf8: bool = msgspec.field(default=False, name="SMTPUTF8")


def retired_record(e: Entry, *, success: bool, now: float, keep: float) -> MsgRetired:
    """The retired record of queue entry ``e`` whose delivery ended now (mox queue: a message
    moves to the retired list when it leaves the queue)."""
    try:
        rcpt = sup.normalize(e.recipient)
    except sup.SuppressionError:
        rcpt = e.recipient
    return MsgRetired(
        id=e.id,
        queued=e.queued,
        sender_account=e.account,
        mail_from=e.mail_from,
        from_id=e.from_id,
        recipient=e.recipient,
        recipient_address=rcpt,
        attempts=e.attempts,
        last_attempt=e.last_attempt,
        results=list(e.results),
        size=e.size,
        message_id=e.message_id,
        subject=e.subject,
        require_tls=e.require_tls,
        future_release_request=e.future_release_request,
        extra=dict(e.extra),
        success=success,
        last_activity=now,
        keep_until=now + keep,
        transport=e.transport,
        smtputf8=e.smtputf8,
    )


class HookResult(_Rec, kw_only=True):
    """One attempt to deliver a webhook (mox queue.HookResult)."""

    start: float
    duration: float = 0.0
    url: str = ""
    success: bool = False
    code: int = 0  # HTTP status; 200 is success
    error: str = ""
    response: str = ""  # at most 512 bytes of the response body


class Hook(_Rec, kw_only=True):
    """A webhook call waiting to be made (mox queue.Hook). Its JSON payload is a file of its own
    (``queue/hook/<id>``), written before the record."""

    id: int
    queue_msg_id: int = 0  # 0 for incoming messages
    from_id: str = ""
    message_id: str = ""
    subject: str = ""
    extra: dict[str, str] = {}
    account: str
    url: str
    authorization: str = ""
    is_incoming: bool = False
    outgoing_event: str = ""  # "" for incoming
    submitted: float
    attempts: int = 0
    next_attempt: float
    results: list[HookResult] = []

    @property
    def event(self) -> str:
        return "incoming" if self.is_incoming else self.outgoing_event


class HookRetired(_Rec, kw_only=True):
    """A webhook that was delivered, failed for good, canceled or superseded, kept for the
    account's ``keep_retired_webhook_period`` (mox queue.HookRetired). The Authorization value
    itself is not kept, only whether there was one."""

    id: int
    queue_msg_id: int = 0
    from_id: str = ""
    message_id: str = ""
    subject: str = ""
    extra: dict[str, str] = {}
    account: str
    url: str
    authorization: bool = False
    is_incoming: bool = False
    outgoing_event: str = ""
    submitted: float
    superseded_by_id: int = 0
    attempts: int = 0
    results: list[HookResult] = []
    success: bool = False
    last_activity: float
    keep_until: float

    @property
    def event(self) -> str:
        return "incoming" if self.is_incoming else self.outgoing_event


def retire_hook(h: Hook, *, success: bool, now: float, keep: float) -> HookRetired:
    return HookRetired(
        id=h.id,
        queue_msg_id=h.queue_msg_id,
        from_id=h.from_id,
        message_id=h.message_id,
        subject=h.subject,
        extra=dict(h.extra),
        account=h.account,
        url=h.url,
        authorization=h.authorization != "",
        is_incoming=h.is_incoming,
        outgoing_event=h.outgoing_event,
        submitted=h.submitted,
        attempts=h.attempts,
        results=list(h.results),
        success=success,
        last_activity=now,
        keep_until=now + keep,
    )


class Suppression(_Rec, kw_only=True):
    """An address the account's messages are not delivered to (mox webapi.Suppression)."""

    id: int
    created: float
    account: str
    base_address: str  # lower case, dots removed, cut at the first "+" or "-"
    original_address: str
    manual: bool = False
    reason: str = ""


_TIME_FIELDS = frozenset(
    {"Start", "Queued", "LastAttempt", "Submitted", "NextAttempt", "LastActivity", "KeepUntil", "Created"}
)


def _convert(v: Any, key: str = "") -> Any:
    if isinstance(v, dict):
        return {k: _convert(x, k) for k, x in v.items()}
    if isinstance(v, list):
        return [_convert(x) for x in v]
    if key in _TIME_FIELDS and isinstance(v, (int, float)):
        return rfc3339(v)
    if key == "Duration" and isinstance(v, (int, float)):
        return int(v * 1e9)  # Go's time.Duration: nanoseconds
    return v


def to_json(rec: msgspec.Struct, **extra: Any) -> dict[str, Any]:
    """The record as mox's JSON shows it: mox's field names, RFC 3339 times, durations in
    nanoseconds; ``extra`` fields (e.g. Payload) added."""
    d = _convert(msgspec.to_builtins(rec))
    d.update(extra)
    return d
