"""The webhook queue: composing, scheduling and delivering webhooks (mox ``queue/hook.go``).

Invariants:
- A webhook is durable before anyone relies on it: its payload file, then its journal record,
  in the same journal append as the change that caused it (a message retired, an entry
  updated after a failed attempt) -- see :mod:`mox.queue.store`. After a crash or ``kill -9``
  every webhook whose cause became durable is still there and is delivered after the restart
  (at least once: a call in flight when the process died is made again).
- Before each attempt the webhook's attempt count, next attempt and a "delivering..." result
  are made durable (as mox), so a webhook whose call crashes the server is not retried at once.
- Retry schedule (mox ``hookIntervals``): after the 1st attempt 1 min, then 2, 4, 7.5, 15, 30 min,
  1, 2, 4, 8 and 16 h, each with +-1 % jitter; after the 12th failed attempt it is retired as a
  failure. Only ``200 OK`` is success.
- At most :data:`MAX_CONCURRENT` calls at once, and one at a time per URL (in queue order).
- A new outgoing webhook for a queue message supersedes a waiting one for the same message: the
  older is retired with ``SupersededByID`` (a "delayed" followed by "failed": only "failed" is
  sent once the first could not be delivered yet).
- Retired webhooks are kept for the account's ``keep_retired_webhook_period`` (72 h in
  localserve, nothing when not set; a week for an account that is gone), then removed.
- Time: :meth:`HookQueue.now` follows trio's clock, so a test can run the server on a frozen
  clock and move it by hours; with the real clock it is the wall clock.

Changes to webhook records happen under one lock (:attr:`HookQueue.lock`): a delivery that
finishes, a cancel and a new superseding webhook never interleave.
"""

from __future__ import annotations

import builtins
import datetime
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec
import trio

from mox import mlog, webhook
from mox.queue import hookpost
from mox.queue.records import Hook, HookResult, HookRetired, MsgRetired, retire_hook
from mox.queue.store import Changes, Entry
from mox.webhook import mox_name

if TYPE_CHECKING:
    from mox.queue.queue import Queue

#: Seconds to wait after attempt N (mox hookIntervals); after the last, twice the last one.
HOOK_INTERVALS = (60.0, 120.0, 240.0, 450.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 57600.0)
MAX_CONCURRENT = 10
#: Retired webhooks of an account no longer in the config are kept this long (mox).
DEFAULT_KEEP = 7 * 24 * 3600.0
#: How often retired webhooks and messages past their period are removed (mox: hourly).
CLEANUP_INTERVAL = 3600.0
RESULT_DELIVERING = "delivering..."
EVENTS = ("incoming", *webhook.OUTGOING_EVENTS)


class HookFilterError(ValueError):
    """A filter or sort the user gave cannot be applied; the text says why."""


class HookFilter(msgspec.Struct, rename=mox_name, kw_only=True, omit_defaults=True):
    """Which webhooks a command applies to; empty fields match everything (mox queue.HookFilter).
    ``submitted``/``next_attempt``/``last_activity``: ``<DURATION`` or ``>DURATION`` relative to
    now (``<-1h``: before an hour ago), or ``<now``/``>now``."""

    max: int = 0
    ids: list[int] = []
    account: str = ""
    submitted: str = ""
    next_attempt: str = ""  # queued webhooks
    last_activity: str = ""  # retired webhooks
    event: str = ""  # an outgoing event or "incoming"


class HookSort(msgspec.Struct, rename=mox_name, kw_only=True, omit_defaults=True):
    """``field``: "NextAttempt" (default) or "Submitted" (also "Queued", what mox's command line
    sends); for retired webhooks "LastActivity" (default) or "Submitted"."""

    field: str = ""
    asc: bool = False




def parse_go_duration(s: str) -> float:
    """Seconds in a Go duration, sign allowed: "-1h30m", "90s", "0"."""
    from mox.config.sconf import parse_duration

    return parse_duration(s.strip())


def _time_filter(spec: str, now: float, what: str) -> Callable[[float], bool]:
    """A predicate for "<DURATION"/">DURATION" relative to now (mox applyTime)."""
    s = spec.strip()
    if not s or s[0] not in "<>":
        raise HookFilterError(f'applying filter for {what}: must start with "<" for before or ">" for after a duration')
    rest = s[1:].strip()
    try:
        t = now if rest == "now" else now + parse_go_duration(rest)
    except ValueError as e:
        raise HookFilterError(f"applying filter for {what}: parsing duration {spec!r}: {e}") from None
    return (lambda v: v < t) if s[0] == "<" else (lambda v: v > t)


def _select(items: list[Any], f: HookFilter, now: float, *, time_field: str, time_name: str) -> list[Any]:
    if f.event and f.event not in EVENTS:
        raise HookFilterError(f"unknown event {f.event!r}, known: {', '.join(EVENTS)}")
    preds: list[Callable[[Any], bool]] = []
    if f.ids:
        ids = set(f.ids)
        preds.append(lambda h: h.id in ids)
    if f.account:
        preds.append(lambda h: h.account == f.account)
    if f.event:
        preds.append(lambda h: h.event == f.event)
    if f.submitted:
        p1 = _time_filter(f.submitted, now, "submitted")
        preds.append(lambda h: p1(h.submitted))
    spec = getattr(f, time_field)
    if spec:
        p2 = _time_filter(spec, now, time_name)
        field = {"next_attempt": "next_attempt", "last_activity": "last_activity"}[time_field]
        preds.append(lambda h: p2(getattr(h, field)))
    return [h for h in items if all(p(h) for p in preds)]


def _sorted(items: list[Any], s: HookSort, default: str, max_: int) -> list[Any]:
    names = {"NextAttempt": "next_attempt", "LastActivity": "last_activity", "Submitted": "submitted", "Queued": "submitted"}
    field = s.field or default
    if field not in names or (field in ("NextAttempt", "LastActivity") and field != default):
        raise HookFilterError(f"unknown sort order field {s.field!r}")
    attr = names[field]
    out = sorted(items, key=lambda h: (getattr(h, attr), h.id), reverse=not s.asc)
    return out[:max_] if max_ > 0 else out


def backoff(attempts: int) -> float:
    """Seconds until the next attempt after ``attempts`` earlier ones (mox hookDeliver), with
    +-1 % jitter."""
    d = HOOK_INTERVALS[attempts] if attempts < len(HOOK_INTERVALS) else HOOK_INTERVALS[-1] * 2
    return d + d * (random.randrange(200) - 100) / 10000


class HookQueue:
    """The webhooks of a Queue: part of it, sharing its store and journal."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue
        self.store = queue.store
        self.log = mlog.get_logger("queue")
        self.lock = trio.Lock()
        self._wake = trio.Event()
        self._busy: set[str] = set()  # URLs with a call in flight

    # --- time -------------------------------------------------------------------------------

    def now(self) -> float:
        return self.queue.now()

    # --- configuration ----------------------------------------------------------------------

    def _account(self, account: str) -> Any:
        return self.queue.ctx.config.accounts.get(account)

    def keep_period(self, account: str) -> float:
        acc = self._account(account)
        return acc.keep_retired_webhook_period if acc is not None else DEFAULT_KEEP

    # --- composing ----------------------------------------------------------------------------

    def outgoing(
        self,
        e: Entry | MsgRetired,
        event: str,
        *,
        suppressing: bool = False,
        code: int = 0,
        secode: str = "",
        error: str = "",
        dsn: bool = False,
    ) -> tuple[Hook, bytes] | None:
        """The webhook for an event about a queued message, when the sending account has an
        outgoing webhook for that event (mox hookCompose)."""
        account = e.account if isinstance(e, Entry) else e.sender_account
        acc = self._account(account)
        ow = acc.outgoing_webhook if acc is not None else None
        if ow is None or (ow.events and event not in ow.events):
            return None
        now = self.now()
        payload = webhook.Outgoing(
            event=event,
            dsn=dsn,
            suppressing=suppressing,
            queue_msg_id=e.id,
            from_id=e.from_id,
            message_id=e.message_id,
            subject=e.subject,
            webhook_queued=webhook.rfc3339(now),
            smtp_code=code,
            smtp_enhanced_code=f"{code // 100}.{secode}" if secode else "",
            error=error,
            extra=dict(e.extra),
        )
        h = Hook(
            id=self.store.allocate_hook_id(),
            queue_msg_id=e.id,
            from_id=e.from_id,
            message_id=e.message_id,
            subject=e.subject,
            extra=dict(e.extra),
            account=account,
            url=ow.url,
            authorization=ow.authorization,
            outgoing_event=event,
            submitted=now,
            next_attempt=now,
        )
        return h, webhook.encode(payload)

    def incoming(self, account: str, payload: webhook.Incoming) -> tuple[Hook, bytes] | None:
        """The webhook for a message delivered to ``account`` over SMTP, when it has an
        incoming webhook."""
        acc = self._account(account)
        iw = acc.incoming_webhook if acc is not None else None
        if iw is None:
            return None
        now = self.now()
        h = Hook(
            id=self.store.allocate_hook_id(),
            message_id=payload.message_id,
            subject=payload.subject,
            account=account,
            url=iw.url,
            authorization=iw.authorization,
            is_incoming=True,
            submitted=now,
            next_attempt=now,
        )
        return h, webhook.encode(payload)

    async def write_payloads(self, hooks: list[tuple[Hook, bytes]]) -> None:
        for h, payload in hooks:
            await trio.to_thread.run_sync(self.store.write_payload, h.id, payload)

    def insert_changes(self, hooks: list[Hook], ch: Changes) -> None:
        """Add new ``hooks`` to ``ch``, retiring the waiting webhook each supersedes (mox
        hookInsert). Call with :attr:`lock` held, and commit before releasing it."""
        now = self.now()
        superseded: set[int] = set()
        for h in hooks:
            ch.hooks.append(h)
            if h.queue_msg_id == 0:
                continue
            for old in list(self.store.hooks.values()) + ch.hooks[:-1]:
                if old.queue_msg_id != h.queue_msg_id or old.id == h.id or old.id in superseded:
                    continue
                superseded.add(old.id)
                keep = self.keep_period(old.account)
                if keep > 0:
                    hr = retire_hook(old, success=False, now=now, keep=keep)
                    ch.hooks_retired.append(msgspec.structs.replace(hr, superseded_by_id=h.id))
                ch.hook_removes.append(old.id)
        if superseded:
            ch.hooks[:] = [x for x in ch.hooks if x.id not in superseded]

    async def add(self, hooks: list[tuple[Hook, bytes]], ch: Changes | None = None, *, sync: bool = True) -> None:
        """Queue ``hooks`` (durable when this returns), together with ``ch``; ``sync``: as
        Queue.commit's."""
        ch = ch if ch is not None else Changes()
        if not hooks:
            await self.queue.commit(ch, sync=sync)
            return
        await self.write_payloads(hooks)
        try:
            async with self.lock:
                self.insert_changes([h for h, _ in hooks], ch)
                await self.queue.commit(ch, sync=sync)
        except BaseException:
            for h, _ in hooks:
                self.store.remove_payload_file(h.id)
            raise
        for h, _ in hooks:
            self.log.debug("queued webhook", webhookid=h.id, msgid=h.queue_msg_id, account=h.account, event=h.event, url=h.url)
        self.kick()

    def kick(self) -> None:
        self._wake.set()

    # --- inspection and admin ----------------------------------------------------------------

    def list(self, f: HookFilter | None = None, s: HookSort | None = None) -> list[Hook]:
        f = f or HookFilter()
        items = _select(list(self.store.hooks.values()), f, self.now(), time_field="next_attempt", time_name="next attempt")
        return _sorted(items, s or HookSort(), "NextAttempt", f.max)

    def retired_list(self, f: HookFilter | None = None, s: HookSort | None = None) -> builtins.list[HookRetired]:
        f = f or HookFilter()
        if f.next_attempt:
            raise HookFilterError("retired webhooks have no next attempt")
        items = _select(list(self.store.hooks_retired.values()), f, self.now(), time_field="last_activity", time_name="last activity")
        return _sorted(items, s or HookSort(), "LastActivity", f.max)

    async def schedule(self, f: HookFilter, seconds: float, *, from_now: bool) -> int:
        """Move the next attempt of matching webhooks by ``seconds``, or set it to now plus
        ``seconds`` (mox HookNextAttemptAdd / HookNextAttemptSet)."""
        async with self.lock:
            now = self.now()
            hooks = self.list(f)
            upd = [msgspec.structs.replace(h, next_attempt=(now if from_now else h.next_attempt) + seconds) for h in hooks]
            await self.queue.commit(Changes(hook_updates=upd))
        self.kick()
        return len(upd)

    async def cancel(self, f: HookFilter) -> int:
        """Retire matching webhooks without further attempts (mox HookCancel)."""
        async with self.lock:
            now = self.now()
            hooks = self.list(f)
            ch = Changes(hook_removes=[h.id for h in hooks])
            for h in hooks:
                keep = self.keep_period(h.account)
                if keep > 0:
                    hr = retire_hook(h, success=False, now=now, keep=keep)
                    hr.results.append(HookResult(start=now, error="canceled by admin"))
                    ch.hooks_retired.append(hr)
            await self.queue.commit(ch)
        for h in hooks:
            self.log.info("canceled webhook", webhookid=h.id, account=h.account, event=h.event)
        self.kick()
        return len(hooks)

    def payload(self, hook_id: int) -> str:
        try:
            return self.store.read_payload(hook_id).decode("utf-8", errors="replace")
        except OSError:
            return ""

    # --- delivery -------------------------------------------------------------------------------

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Deliver due webhooks until cancelled; remove retired records past their period."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._cleanup_loop)
            task_status.started()
            while True:
                self._wake = trio.Event()
                now = self.now()
                waiting = sorted(
                    (h for h in self.store.hooks.values() if h.url not in self._busy), key=lambda h: (h.next_attempt, h.id)
                )
                started: set[str] = set()
                nxt = float("inf")
                for h in waiting:
                    if h.url in started:
                        continue
                    if h.next_attempt > now:
                        nxt = min(nxt, h.next_attempt)
                        continue
                    if len(self._busy) >= MAX_CONCURRENT:
                        break
                    started.add(h.url)
                    self._busy.add(h.url)
                    nursery.start_soon(self._deliver_task, h)
                with trio.move_on_after(max(0.0, nxt - self.now())):
                    await self._wake.wait()

    async def _deliver_task(self, h: Hook) -> None:
        try:
            await self.deliver(h)
        except Exception as e:  # noqa: BLE001 - one webhook's trouble must not stop the queue
            import traceback

            self.log.error("delivering webhook", webhookid=h.id, err=repr(e))
            self.log.debug("traceback", tb=traceback.format_exc())
            await trio.sleep(1)
        finally:
            self._busy.discard(h.url)
            self.kick()

    async def deliver(self, h: Hook) -> None:
        """One attempt to deliver ``h`` (mox hookDeliver)."""
        async with self.lock:
            cur = self.store.hooks.get(h.id)
            if cur is None or cur.next_attempt > self.now():
                return  # canceled, superseded or rescheduled meanwhile
            now = self.now()
            h = msgspec.structs.replace(
                cur,
                attempts=cur.attempts + 1,
                next_attempt=now + backoff(cur.attempts),
                results=[*cur.results, HookResult(start=now, url=cur.url, error=RESULT_DELIVERING)],
            )
            await self.queue.commit(Changes(hook_updates=[h]))
        payload = await trio.to_thread.run_sync(self.store.read_payload, h.id)
        log = self.log.with_(webhookid=h.id, attempt=h.attempts, event=h.event)
        log.debug("delivering webhook", url=h.url)
        t0 = self.now()
        res = await hookpost.post(h.url, h.authorization, payload, hook_id=h.id, attempt=h.attempts)
        result = HookResult(
            start=now, duration=self.now() - t0, url=h.url, success=res.error == "", code=res.code, error=res.error, response=res.response
        )
        # mox queue/hook.go HookPost: each call's duration and HTTP status (or "error").
        self.queue.ctx.metrics.webhook_result(res.code, result.duration)
        h.results[-1] = result
        async with self.lock:
            if h.id not in self.store.hooks:
                await self._superseded_result(h.id, result)
                return
            if res.error and h.attempts <= len(HOOK_INTERVALS):
                log.debug("webhook delivery failed, will try again later", err=res.error, nextattempt=webhook.rfc3339(h.next_attempt))
                await self.queue.commit(Changes(hook_updates=[h]))
                return
            ch = Changes(hook_removes=[h.id])
            keep = self.keep_period(h.account)
            if keep > 0:
                ch.hooks_retired.append(retire_hook(h, success=result.success, now=t0, keep=keep))
            await self.queue.commit(ch)
        if result.success:
            log.debug("webhook delivered", code=res.code)
        else:
            log.info("webhook delivery failed, giving up", err=res.error, attempts=h.attempts)

    async def _superseded_result(self, hook_id: int, result: HookResult) -> None:
        """The webhook was superseded or canceled during its call: the result goes to its
        retired record (mox updateRetiredHook)."""
        hr = self.store.hooks_retired.get(hook_id)
        if hr is None:
            return  # not kept
        result = msgspec.structs.replace(result, error=result.error + "(superseded)")
        await self.queue.commit(Changes(hooks_retired=[msgspec.structs.replace(hr, results=[*hr.results, result])]))

    async def _cleanup_loop(self) -> None:
        """Remove retired webhooks and messages past their keep time: at start, then hourly (as
        mox). No shorter timer: a server on a frozen clock has no deadline but its own work's."""
        while True:
            await self.cleanup()
            await trio.sleep(CLEANUP_INTERVAL)

    async def cleanup(self) -> None:
        now = self.now()
        ch = Changes(
            hook_retired_removes=[h.id for h in self.store.hooks_retired.values() if h.keep_until < now],
            retired_removes=[m.id for m in self.store.retired.values() if m.keep_until < now],
        )
        if ch.hook_retired_removes or ch.retired_removes:
            async with self.lock:
                await self.queue.commit(ch)
            self.log.debug("cleaned up retired webhooks and messages", webhooks=len(ch.hook_retired_removes), messages=len(ch.retired_removes))


def format_hook_line(h: Hook, now: float) -> str:
    """A line of ``mox queue webhook list`` (mox ctl queuehooklist)."""
    last = h.results[-1] if h.results else None
    last_attempt = _since(now - last.start) if last else ""
    return (
        f"{h.id:5d} {_rfc3339_seconds(h.submitted)} account:{h.account} next {_since(h.next_attempt - now)} "
        f"last {last_attempt} error {go_quote(last.error if last else '')} url {h.url}"
    )


def format_retired_line(h: HookRetired, now: float) -> str:
    """A line of ``mox queue webhook retired list`` (mox ctl queuehookretiredlist)."""
    last = h.results[-1] if h.results else None
    last_attempt = _since(now - last.start) if last else ""
    result = "success" if h.success else "failure"
    return (
        f"{h.id:5d} {_rfc3339_seconds(h.submitted)} {result} account:{h.account} last {last_attempt} "
        f"error {go_quote(last.error if last else '')} url {h.url}"
    )


def _rfc3339_seconds(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _since(seconds: float) -> str:
    """A duration rounded to seconds as Go prints it: "1m0s", "-59s", "0s", "2h3m4s"."""
    n = round(seconds)
    sign = "-" if n < 0 else ""
    n = abs(n)
    h, rem = divmod(n, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{sign}{h}h{m}m{s}s"
    if m:
        return f"{sign}{m}m{s}s"
    return f"{sign}{s}s"


def go_quote(s: str) -> str:
    """Go's %q for printable text: double quotes, backslash escapes."""
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ch == "\x7f":
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'

