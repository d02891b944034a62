"""The local delivery queue: submissions wait here until delivered, retried or bounced.

Invariants:
- ``add`` is durable before it returns (message file and journal record fsynced, see
  :mod:`mox.queue.store`); the SMTP server answers ``250`` only after that.
- One :class:`~mox.queue.store.Entry` per recipient; ``serve`` delivers due entries to the local
  store (no DNS: localserve resolves every address through ``ctx.auth.lookup_destination``).
- Temporary failures are retried after ``retry_delays`` (short in localserve, configurable via
  ``config.queue_retry_delays``); after the last one, or on a permanent failure, the entry is
  removed and a DSN (RFC 3464) goes to the submitting account's Inbox unless NOTIFY says not to.
- Local parts beginning with ``queue`` and carrying a failure trigger (the banner's
  promise mox's ``localserve.go`` makes and never implemented) fail here, not at SMTP time.
- The copy for the sender's Sent mailbox is promised in the same journal append as the entries
  and stored after the ``250`` (:mod:`mox.queue.sentcopy`; exactly once, also across a crash).
- Exactly once: each delivery (and each DSN) carries a key naming the entry (``<token>-<id>``);
  the store records it in the transaction that adds the message, so an entry delivered just
  before a crash, whose removal never became durable, is not delivered again when it is
  retried after the restart (the store skips it).
- A full disk (``DiskFull``) is not the recipient's fault: the attempt is not counted and the
  entry is retried every ``DISK_FULL_RETRY`` seconds until there is space.
- An entry whose delivery ends (delivered, failed, canceled) is *retired* (mox queue retireMsgs):
  kept as a MsgRetired for the account's ``keep_retired_message_period``, and an outgoing webhook
  for its event is queued (:mod:`mox.queue.hooks`) -- in the same journal append as the removal.
  A temporary failure queues a "delayed" webhook with the entry's update.
- The suppression list (:mod:`mox.queue.suppression`): a recipient on the sending account's list
  fails at once, event "suppressed", with a DSN (as mox); a permanent failure with mox's codes,
  or a third failure in a row, adds the recipient.
- Time: :meth:`Queue.now`, the wall clock; on a test's frozen trio clock it follows that clock,
  so tests can move the queue and its webhooks on by hours.
"""

from __future__ import annotations

import builtins
import math
import sys
import time
from typing import Any

import msgspec
import trio

from mox import mlog, webhook
from mox.ci import hooks as ci
from mox.queue import suppression as sup
from mox.queue.dsn import RecipientStatus, compose_dsn
from mox.queue.errors import DeliveryError, SuppressedError
from mox.queue.holdrules import HoldRules
from mox.queue.hooks import HookQueue, go_quote
from mox.queue.records import MsgResult, MsgRetired, Suppression, retired_record
from mox.queue.sentcopy import SentCopies
from mox.queue.store import Changes, Entry, QueueStore, Sent, SentCopy
from mox.smtp import failsim
from mox.store import DiskFull
from mox.store.layout import is_disk_full
from mox.context import ServerContext

MAX_CONCURRENT = 8
DISK_FULL_RETRY = 1.0  # seconds between attempts while the disk is full
#: At most this long (seconds) a journal append made without its own fsync waits for one.
SYNC_DELAY = 1.0


def canonical_recipient(address: str) -> str:
    """The recipient as the daily limits count it: the local part as given, the domain in lower
    case (mox counts ``rcpt.Addr.XString(true)``: unicode domain, which its parser lower-cases)."""
    lp, at, domain = address.rpartition("@")
    return f"{lp}@{domain.lower()}" if at else address


def _split(addr: str) -> tuple[str, str]:
    lp, _, domain = addr.rpartition("@")
    if len(lp) >= 2 and lp.startswith('"') and lp.endswith('"'):
        lp = lp[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return lp, domain


class Queue:
    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.log = mlog.get_logger("queue")
        self.store = QueueStore(ctx.config.data_dir)
        self.retry_delays = tuple(ctx.config.queue_retry_delays)
        self._wake = trio.Event()
        self._pending: list[_Commit] = []
        self._committing = False
        self._nursery: trio.Nursery | None = None  # serve's, for the delayed fsync
        self._sync_timer = False
        self._not_before: dict[int, float] = {}  # entry id -> next try while the disk is full
        self.holdrules = HoldRules(self.store.dir, fsync=self.store.fsync)
        self._failed: set[int] = set()  # entries that failed for good in their last attempt (metrics)
        # mox's gauge of messages on hold, read when the metrics are asked for.
        ctx.metrics.queue_hold.func = lambda: sum(1 for e in self.store.entries.values() if e.hold)
        self._wall0 = time.time()
        self._trio0: float | None = None
        self.hooks = HookQueue(self)
        self.sent_copies = SentCopies(self)

    def store_now(self) -> float:
        """The queue's notion of now (unix seconds) for filters and schedules."""
        return self.now()

    def now(self) -> float:
        """Unix time. On a test's frozen trio clock (trio.testing.MockClock) it is the wall
        clock at the first call plus the trio time passed since, so moving that clock moves the
        queue's time too; otherwise the wall clock."""
        try:
            clock = trio.lowlevel.current_clock()
        except RuntimeError:  # outside trio (tools, tests of the store)
            return time.time()
        testing = sys.modules.get("trio.testing")  # never imported here: it would bring in pytest
        if testing is None or not isinstance(clock, testing.MockClock):
            return time.time()
        t = clock.current_time()
        if self._trio0 is None:
            self._trio0 = t
            self._wall0 = time.time()
        return self._wall0 + (t - self._trio0)

    def delivery_key(self, e: Entry, what: str = "") -> str:
        """The store's delivery key of an entry (``what``: e.g. "dsn-failed" for its DSN)."""
        return f"queue-{self.store.token}-{e.id}" + (f"-{what}" if what else "")

    def _account_config(self, account: str) -> Any:
        return self.ctx.config.accounts.get(account)

    def keep_retired_messages(self, account: str) -> float:
        acc = self._account_config(account)
        return acc.keep_retired_message_period if acc is not None else 7 * 24 * 3600.0

    # --- API for submission -----------------------------------------------------------------

    async def add(
        self,
        account: str,
        mail_from: str,
        recipients: list[str],
        data: bytes,
        *,
        dsn_options: dict[str, Any] | None = None,
        hold_until: float | None = None,
        session: str | None = None,
        extra: dict[str, str] | None = None,
        require_tls: bool | None = None,
        future_release_request: str = "",
        save_sent: bool = True,
        sent_prefix: bytes = b"",
        from_ids: list[tuple[str, str]] | None = None,
        wait_sent: bool = True,
    ) -> list[int]:
        """Queue ``data`` for each recipient; durable when this returns. Returns the entry ids.
        ``session``: the SMTP connection id that submitted it (for transcript links).
        ``from_ids``: per recipient (MAIL FROM, fromid) instead of ``mail_from`` (mox.queue.fromid).
        ``extra``: metadata echoed in the webhooks. ``save_sent``: keep a copy in the Sent
        mailbox, with ``sent_prefix`` (e.g. a Bcc field) in front: promised durably with the
        entries, stored after them (mox.queue.sentcopy); ``wait_sent``: return only once it
        is stored (SMTP submission answers before)."""
        if not recipients:
            raise ValueError("no recipients")
        opts = dsn_options or {}
        per_rcpt = list(opts.get("recipients") or [])
        now = self.now()
        message_id, subject = webhook.message_fields(data)
        ids = self.store.allocate_ids(len(recipients))
        name = str(ids[0])
        entries = []
        froms = from_ids if from_ids is not None else [(mail_from, "")] * len(recipients)
        for i, (qid, rcpt, (rcpt_from, from_id)) in enumerate(zip(ids, recipients, froms, strict=True)):
            p = per_rcpt[i] if i < len(per_rcpt) else {}
            entries.append(
                Entry(
                    id=qid, account=account, mail_from=rcpt_from, from_id=from_id,
                    recipient=rcpt,
                    file=name,
                    size=len(data),
                    queued=now,
                    next_attempt=hold_until or now,
                    hold_until=hold_until,
                    notify=p.get("notify"),
                    orcpt=p.get("orcpt"),
                    ret=opts.get("ret"),
                    envid=opts.get("envid"),
                    smtputf8=bool(opts.get("smtputf8")),
                    session=session,
                    message_id=message_id,
                    subject=subject,
                    extra=dict(extra or {}),
                    require_tls=require_tls,
                    hold=self.holdrules.matches(account, rcpt_from, rcpt),
                    future_release_request=future_release_request,
                )
            )
        # The copy in Sent: promised in the entries' journal append, stored after it.
        copy = SentCopy(id=ids[0], account=account, file=name, prefix=sent_prefix, session=session) if save_sent else None
        await self._queue_message(name, data, entries, now, account, recipients, copy)
        self.log.info("message queued", account=account, ids=",".join(map(str, ids)), size=len(data))
        self._wake.set()
        if copy is not None:
            self.sent_copies.keep(copy, data)
            self.sent_copies.wake()
            if wait_sent:
                await self.sent_copies.wait(copy.id)
        return ids

    async def _queue_message(
        self, name: str, data: bytes, entries: builtins.list[Entry], now: float, account: str,
        recipients: builtins.list[str], copy: SentCopy | None,
    ) -> None:
        # Message files are written in parallel; journal records are group-committed.
        try:
            await trio.to_thread.run_sync(self.store.write_message, name, data)
            try:
                # "sent": the durable record of each recipient, for the daily limits.
                sent = [(now, account, canonical_recipient(r)) for r in recipients]
                await self.commit(Changes(puts=entries, sent=sent, sent_copies=[copy] if copy is not None else []))
            except BaseException:
                self.store.remove_message_file(name)
                raise
        except OSError as e:
            if is_disk_full(e):
                raise DiskFull(f"queue: disk full: {e.strerror}") from e
            raise

    async def commit(self, ch: Changes, *, sync: bool = True) -> None:
        """Make records durable, then apply them. Concurrent callers share one journal write
        and fsync (group commit): the first becomes the committer for everything pending. With
        ``sync`` false (a change a crash of the machine may undo because its redo is keyed, see
        mox.queue.store) the records are written and fsynced with the next fsynced batch or
        SYNC_DELAY later."""
        if self._nursery is None:
            sync = True  # no timer without serve: files are removed by the next write
        c = _Commit(ch, sync)
        self._pending.append(c)
        if not self._committing:
            self._committing = True
            try:
                while self._pending:
                    batch, self._pending = self._pending, []
                    all_ = Changes()
                    for b in batch:
                        all_.extend(b.changes)
                    need_sync = any(b.sync for b in batch)
                    try:
                        with trio.CancelScope(shield=True):
                            # The compaction the last batch made due runs in the same thread hop.
                            await trio.to_thread.run_sync(self._compact_and_write, all_, need_sync)
                    except Exception as err:
                        for b in batch:
                            b.error = err
                            b.done.set()
                        continue
                    # Files nothing refers to go with the next journal write, in its worker
                    # thread (after a crash before that: at the next open).
                    self.store.defer_removal(self.store.apply(all_))
                    for b in batch:
                        b.done.set()
                    pending = self.store.unsynced or self.store.pending_removals
                    if pending and not self._sync_timer and self._nursery is not None:
                        self._sync_timer = True
                        self._nursery.start_soon(self._sync_later)
            finally:
                self._committing = False
        await c.done.wait()
        if c.error is not None:
            raise c.error

    def _compact_and_write(self, ch: Changes, sync: bool) -> None:
        self.store.maybe_compact()  # between journal writes: the state is that of the journal
        self.store.write_journal(ch, sync=sync)

    async def _sync_later(self) -> None:
        """The fsync of appends made without one, unless an fsynced batch came first."""
        try:
            await trio.sleep(SYNC_DELAY)
        finally:
            self._sync_timer = False
        if self.store.unsynced or self.store.pending_removals:
            await self.commit(Changes())

    async def _commit(self, *, puts: list[Entry] = (), updates: list[Entry] = (), removes: list[int] = (), sent: list[Sent] = ()) -> None:  # type: ignore[assignment]
        await self.commit(Changes(puts=list(puts), updates=list(updates), removes=list(removes), sent=list(sent)))

    def send_limit_reached(self, account: str, recipients: list[str]) -> tuple[int | None, int | None]:
        """(msgmax, None) or (None, rcptmax) when submitting to ``recipients`` now would go over
        the account's daily limit of messages or first-time recipients; (None, None) when allowed
        (QueueStore.send_limit_reached; limits from Config.send_limits)."""

        msgmax, rcptmax = self.ctx.config.send_limits(account)
        return self.store.send_limit_reached(
            account, [canonical_recipient(r) for r in recipients], msgmax, rcptmax, self.now()
        )

    # --- the suppression list -----------------------------------------------------------------

    def suppression_list(self, account: str = "") -> list[Suppression]:
        """The account's suppressions (every account's for ""), oldest first."""
        return sorted((x for x in self.store.suppressions.values() if not account or x.account == account), key=lambda x: x.id)

    def suppression_lookup(self, account: str, address: str) -> Suppression | None:
        """The suppression that covers ``address`` for ``account`` (any account for "");
        raises SuppressionError for a malformed address."""
        base = sup.base_address(address)
        for x in self.suppression_list(account):
            if x.base_address == base:
                return x
        return None

    async def suppression_add(self, account: str, address: str, *, manual: bool, reason: str) -> Suppression:
        """Add ``address`` (its base address) for ``account``; SuppressionError when present."""
        base = sup.base_address(address)
        if any(x.account == account and x.base_address == base for x in self.store.suppressions.values()):
            raise sup.SuppressionError(f"address {base} is already on the suppression list")
        x = Suppression(
            id=self.store.allocate_suppression_id(),
            created=self.now(),
            account=account,
            base_address=base,
            original_address=sup.normalize(address),
            manual=manual,
            reason=reason,
        )
        await self.commit(Changes(suppressions=[x]))
        self.log.info("address added to suppression list", account=account, address=x.base_address, manual=manual)
        return x

    async def suppression_remove(self, account: str, address: str) -> None:
        """Remove the suppression covering ``address``; SuppressionError when there is none."""
        base = sup.base_address(address)
        ids = [x.id for x in self.store.suppressions.values() if x.account == account and x.base_address == base]
        if not ids:
            raise sup.SuppressionError(f"address {base} is not on the suppression list")
        await self.commit(Changes(suppression_removes=ids))
        self.log.info("address removed from suppression list", account=account, address=base)

    def _suppression_changes(self, e: Entry, err: DeliveryError, now: float, source: str = "queue") -> list[Suppression]:
        """The suppression a permanent failure adds, if any (mox suppressionProcess)."""
        if err.code == 0:
            return []
        try:
            base = sup.base_address(e.recipient)
            orig = sup.normalize(e.recipient)
        except sup.SuppressionError:
            return []
        if any(x.account == e.account and x.base_address == base for x in self.store.suppressions.values()):
            return []
        if sup.is_immediate_block(err.code, err.secode):
            reason = f"delivery failure from {source} with smtp code {err.code}, enhanced code {go_quote(err.secode)}"
        else:
            # The two messages to this recipient retired before this one failed too.
            earlier = sorted(
                (m for m in self.store.retired.values() if m.recipient_address == orig and m.id != e.id),
                key=lambda m: m.last_activity,
                reverse=True,
            )[:2]
            if len(earlier) < 2 or any(m.success for m in earlier):
                return []
            reason = f"delivery failure from {source} and three consecutive failures"
        x = Suppression(
            id=self.store.allocate_suppression_id(),
            created=now,
            account=e.account,
            base_address=base,
            original_address=orig,
            reason=reason,
        )
        self.log.info("address added to suppression list", account=e.account, address=base, reason=reason)
        return [x]

    # --- inspection and admin (ctl) -------------------------------------------------------------

    def list(self) -> list[Entry]:
        return sorted(self.store.entries.values(), key=lambda e: e.id)

    def retired_list(self) -> builtins.list[MsgRetired]:
        return sorted(self.store.retired.values(), key=lambda m: m.id)

    async def drop(self, ids: builtins.list[int] | None = None) -> builtins.list[int]:
        """Remove entries without delivering and without DSN; retired as "canceled" (mox Drop)."""
        sel = [e for e in self.list() if ids is None or e.id in ids]
        now = self.now()
        for e in sel:
            upd = msgspec.structs.replace(e, results=[*e.results, MsgResult(start=now, error="delivery canceled by admin")])
            await self._retire(upd, "canceled", success=False)
        return [e.id for e in sel]

    async def update(self, entries: builtins.list[Entry]) -> None:
        """Replace entries (hold, next attempt changed by the admin) and reconsider what is due."""
        await self._commit(updates=entries)
        self._wake.set()

    async def fail(self, ids: builtins.list[int] | None = None) -> builtins.list[int]:
        """Fail entries now, sending a DSN as for a permanent delivery failure."""
        sel = [e for e in self.list() if ids is None or e.id in ids]
        for e in sel:
            await self._fail(e, DeliveryError(550, "5.0.0", "delivery failed by admin"), suppress=False)
        self._failed.difference_update(e.id for e in sel)  # not an attempt: not counted
        return [e.id for e in sel]

    async def set_hold(self, ids: builtins.list[int] | None, hold: bool) -> builtins.list[int]:
        """Hold entries (never attempted while held) or release them (mox queue hold/release)."""
        sel = [msgspec.structs.replace(e, hold=hold) for e in self.list() if (ids is None or e.id in ids) and e.hold != hold]
        await self._commit(updates=sel)
        self._wake.set()
        return [e.id for e in sel]

    async def set_next_attempt(self, ids: builtins.list[int] | None, when: float) -> builtins.list[int]:
        """Move the next delivery attempt of entries to ``when`` (mox queue schedule)."""
        sel = [msgspec.structs.replace(e, next_attempt=when) for e in self.list() if ids is None or e.id in ids]
        await self._commit(updates=sel)
        self._wake.set()
        return [e.id for e in sel]

    # --- delivery -----------------------------------------------------------------------------

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Deliver due entries until cancelled, up to ``MAX_CONCURRENT`` at a time (their store
        writes then share group commits); the webhook queue runs alongside."""
        inflight: set[int] = set()
        limiter = trio.CapacityLimiter(MAX_CONCURRENT)
        self.now()  # ties the queue's clock to trio's from here

        async def attempt(e: Entry) -> None:
            mlog.start_connection()  # each delivery attempt has its own id in the log
            try:
                async with limiter:
                    if e.id in self.store.entries:
                        t0 = trio.current_time()
                        await self._attempt(e)
                        self._count_attempt(e, trio.current_time() - t0)
            except (DiskFull, OSError) as err:
                if not isinstance(err, DiskFull) and not is_disk_full(err):
                    self.log.unexpected("queue attempt failed", err, id=e.id)
                    await trio.sleep(1)  # no busy loop while the store is unwell
                else:  # writing the queue's own journal: retried as a full account is
                    self.log.warn("disk full, will retry", id=e.id, err=str(err))
                    self._not_before[e.id] = self.now() + DISK_FULL_RETRY
            except Exception as err:
                self.log.unexpected("queue attempt failed", err, id=e.id)
                await trio.sleep(1)  # no busy loop while the store is unwell
            finally:
                inflight.discard(e.id)
                self._wake.set()

        def due(e: Entry) -> float:
            if e.hold:
                return math.inf  # mox: a message on hold is not delivered until taken off hold
            return max(e.next_attempt, self._not_before.get(e.id, 0.0))

        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await nursery.start(self.hooks.serve)
                await nursery.start(self.sent_copies.serve)
                task_status.started()
                while True:
                    self._wake = trio.Event()
                    now = self.now()
                    waiting = [e for e in self.list() if e.id not in inflight]
                    for e in waiting:
                        if due(e) <= now:
                            inflight.add(e.id)
                            nursery.start_soon(attempt, e)
                    nxt = min((due(e) for e in waiting if due(e) > now), default=math.inf)
                    with trio.move_on_after(max(0.0, nxt - self.now())):
                        await self._wake.wait()
        finally:
            self._nursery = None
            with trio.CancelScope(shield=True):
                self.store.close()

    async def _attempt(self, e: Entry) -> None:
        now = self.now()
        try:
            if self._suppressed(e):
                raise SuppressedError(e.recipient)
            copies = await self._deliver(e)
        except (DiskFull, ci.ViewLimit) as err:
            # Not the recipient's fault and not a counted attempt: retry until there is space
            # (or until a per-address view can be opened again).
            self.log.warn("delivery will be retried", id=e.id, err=str(err))
            self._not_before[e.id] = now + DISK_FULL_RETRY
            return
        except DeliveryError as err:
            attempts = e.attempts + 1
            result = MsgResult(start=now, duration=self.now() - now, code=err.code, secode=err.secode, error=str(err))
            e = msgspec.structs.replace(e, attempts=attempts, last_attempt=now, results=[*e.results, result])
            if err.permanent or attempts > len(self.retry_delays):
                await self._fail(e, err, attempts=attempts)
                return
            delay = self.retry_delays[attempts - 1]
            upd = msgspec.structs.replace(e, last_error=str(err), next_attempt=now + delay)
            self.log.info("temporary delivery failure, will retry", id=e.id, attempts=attempts, err=str(err), delay=delay)
            hook = self.hooks.outgoing(upd, "delayed", code=err.code, secode=err.secode, error=str(err))
            await self.hooks.add([hook] if hook else [], Changes(updates=[upd]))
            if attempts == 1 and "DELAY" in (e.notify or "").upper().split(",") and e.mail_from:
                # RFC 3461 4.1: NOTIFY=DELAY asks for a "delayed" DSN; one, after the first failure.
                await self._send_dsn(
                    e,
                    RecipientStatus(e.recipient, "delayed", err.ecode, diagnostic=str(err), orcpt=e.orcpt, last_attempt=now),
                )
            return
        except Exception as err:
            # A bug (or an unexpected store failure): retried like a temporary failure; what the
            # queue listing and a DSN say names the log line, not our internals.
            self.log.unexpected("delivery error", err, id=e.id)
            await self._attempt_error(e, now, f"internal error (cid {mlog.connection_cid()})")
            return
        if any(m is not None for m, _ in copies):
            self.log.info("message delivered from queue", id=e.id, recipient=e.recipient)
        else:
            self.log.info("message was delivered before, dequeued now", id=e.id, recipient=e.recipient)
        notify = (e.notify or "").upper().split(",")
        if "SUCCESS" in notify and e.mail_from:
            await self._send_dsn(e, RecipientStatus(e.recipient, "delivered", "2.0.0", orcpt=e.orcpt, last_attempt=now))
        e = msgspec.structs.replace(
            e, attempts=e.attempts + 1, last_attempt=now, results=[*e.results, MsgResult(start=now, duration=self.now() - now, success=True)]
        )
        # In localserve the queue hands the message to the recipient's account as mox's
        # localserve does over SMTP on port 1025: that delivery triggers the incoming webhook.
        incoming = []
        for m, account in copies:
            if m is not None:
                incoming += await self.incoming_hooks(account, m, [e.recipient], mail_from=e.mail_from, remote_ip=self._local_ip())
        await self._retire(e, "delivered", success=True, extra_hooks=incoming)
        self._not_before.pop(e.id, None)

    def _suppressed(self, e: Entry) -> bool:
        try:
            base = sup.base_address(e.recipient)
        except sup.SuppressionError:
            return False
        return any(x.account == e.account and x.base_address == base for x in self.store.suppressions.values())

    async def _retire(
        self,
        e: Entry,
        event: str,
        *,
        success: bool,
        code: int = 0,
        secode: str = "",
        suppressions: builtins.list[Suppression] = (),  # type: ignore[assignment]
        extra_hooks: builtins.list[Any] = (),  # type: ignore[assignment]
    ) -> None:
        """Remove the entry, keep it as retired, queue its webhook: one journal append (mox
        retireMsgs)."""
        now = self.now()
        ch = Changes(removes=[e.id], suppressions=list(suppressions))
        keep = self.keep_retired_messages(e.account)
        if keep > 0:
            ch.retired.append(retired_record(e, success=success, now=now, keep=keep))
        last_error = e.results[-1].error if e.results else ""
        hooks = list(extra_hooks)
        hook = self.hooks.outgoing(e, event, suppressing=bool(suppressions), code=code, secode=secode, error=last_error)
        if hook is not None:
            hooks.insert(0, hook)
        # A delivered entry's removal needs no fsync of its own: a crash of the machine that
        # undoes it makes the queue try again, and the delivery key stores nothing twice.
        await self.hooks.add(hooks, ch, sync=success)
        self._not_before.pop(e.id, None)

    def _local_ip(self) -> str:
        ips = self.ctx.config.ips or ["127.0.0.1"]
        return ips[0]

    async def incoming_hooks(
        self, account: str, m: Any, rcpts: builtins.list[str], *, mail_from: str, remote_ip: str, mailbox: str | None = None
    ) -> builtins.list[Any]:
        """Incoming webhooks for message ``m`` just delivered to ``account``, one per envelope
        recipient (mox delivers each recipient's copy and calls queue.Incoming for it); [] when
        the account has no incoming webhook."""
        acc_cfg = self._account_config(account)
        if acc_cfg is None or acc_cfg.incoming_webhook is None:
            return []

        def build() -> list[webhook.Incoming]:
            acc = self.ctx.store.open_account(account)
            try:
                data = acc.read_message(m)
                mb = acc.mailbox_by_id(m.mailbox_id)
            finally:
                acc.close()
            auth = webhook.trace_meta(data, m.part)
            out = []
            for rcpt in rcpts:
                meta = webhook.IncomingMeta(
                    msg_id=m.id,
                    mail_from=mail_from,
                    mail_from_validated=auth.mail_from_validated,
                    msg_from_validated=auth.msg_from_validated,
                    rcpt_to=rcpt,
                    dkim_verified_domains=auth.dkim_verified_domains,
                    remote_ip=remote_ip,
                    received=webhook.rfc3339(m.received),
                    mailbox_name=mailbox or (mb.name if mb else "Inbox"),
                )
                out.append(webhook.incoming(data, m.part, meta))
            return out

        try:
            payloads = await trio.to_thread.run_sync(build)
        except Exception as err:  # noqa: BLE001 - the message is delivered; a missing webhook is logged
            self.log.error("composing incoming webhook", account=account, msgid=m.id, err=repr(err))
            return []
        return [h for p in payloads if (h := self.hooks.incoming(account, p)) is not None]

    async def _attempt_error(self, e: Entry, now: float, msg: str) -> None:
        attempts = e.attempts + 1
        e = msgspec.structs.replace(e, results=[*e.results, MsgResult(start=now, error=msg)])
        if attempts > len(self.retry_delays):
            await self._fail(e, DeliveryError(451, "4.3.0", "error delivering: " + msg), attempts=attempts)
            return
        upd = msgspec.structs.replace(
            e, attempts=attempts, last_attempt=now, last_error=msg, next_attempt=now + self.retry_delays[attempts - 1]
        )
        await self.commit(Changes(updates=[upd]))

    async def _deliver(self, e: Entry) -> builtins.list[tuple[Any, str]]:
        """Deliver the entry to its local recipient: (stored message, or None when it was
        delivered before, and the account) for each copy (an alias has one per member). In
        localserve the recipient is checked as mox's localserve queue, which hands messages to
        its own SMTP server on port 1025, would see it: the failure rules of the special local
        parts apply there (mailfrom, rcptto and data stages), and ours of the ``queue`` prefix."""
        from mox.delivery.deliver import Rejected, deliver_local
        from mox.delivery.rules import MessageInfo

        lp, domain = _split(e.recipient)
        self._simulate(e)
        if self.ctx.config.alias(lp, domain) is not None:
            return await self._deliver_alias(e, lp, domain)
        dest = self.ctx.auth.lookup_destination(lp, domain)
        if dest is None:
            raise DeliveryError(550, "5.1.1", "no such user")
        account, _ = dest
        data, auth = await trio.to_thread.run_sync(self._read_with_authres, e)
        data = self._trace(e) + auth.headers + data
        info = MessageInfo(
            mail_from=e.mail_from, ehlo_domain=auth.ehlo_domain, ehlo_validated=auth.ehlo_validated,
            mail_from_domain=auth.mail_from_domain, mail_from_validated=auth.mail_from_validated,
            dkim_domains=auth.dkim_domains,
        )  # fmt: skip
        try:
            # Rulesets and the junk filter of the recipient's destination (mox's localserve
            # queue delivers through its own SMTP server, which applies them).
            m = await deliver_local(
                self.ctx, account, e.recipient, data, info=info, recipients=[e.recipient], key=self.delivery_key(e),
                session=e.session,
            )  # fmt: skip
        except Rejected as r:
            raise DeliveryError(r.code, f"{r.code // 100}.{r.se}", r.text) from None
        return [(m, account)]

    def _simulate(self, e: Entry) -> None:
        """The failure rules of the special local parts for a queued message (README "Special
        addresses"); submissions over SMTP met the mailfrom/rcptto/data ones already."""
        checks = []
        if e.mail_from:
            slp, _ = _split(e.mail_from)
            if failsim.stage(slp) == "mailfrom":
                checks.append(slp)
        lp, _ = _split(e.recipient)
        if failsim.stage(lp) in ("rcptto", "data", "queue"):
            checks.append(lp)
        for x in checks:
            code = failsim.special_code(x)
            if code == failsim.TIMEOUT:
                raise DeliveryError(451, "4.0.0", "timing out delivery due to special localpart")
            if isinstance(code, int):
                raise DeliveryError(code, failsim.enhanced_for(code), failsim.failure_text(code))

    async def _deliver_alias(self, e: Entry, lp: str, domain: str) -> builtins.list[tuple[Any, str]]:
        """An alias recipient: its members' accounts each get the message once, with the
        alias's rules for who may post (mox's localserve queue delivers over SMTP to itself,
        where its smtpserver applies them; see mox.auth.authenticator.alias_destinations).
        (message or None when delivered before, account) per member."""
        from mox.auth.authenticator import AliasRefused
        from mox.smtp.checks import message_from
        from mox.delivery.deliver import deliver_to_store

        raw = await trio.to_thread.run_sync(self.store.read_message, e)
        try:
            dests = self.ctx.auth.alias_destinations(lp, domain, message_from(raw), set()) or []
        except AliasRefused:
            raise DeliveryError(550, "5.7.2", "not allowed to send to destination") from None
        auth = await trio.to_thread.run_sync(self._authres, e.mail_from, raw)
        data = self._trace(e) + auth.headers + raw
        out = []
        for account, mailbox in dests:
            key = self.delivery_key(e, "alias-" + account)
            m = await deliver_to_store(self.ctx, account, mailbox, data, recipients=[e.recipient], key=key, session=e.session)
            out.append((m, account))
        return out

    def _trace(self, e: Entry) -> bytes:
        """Delivered-To (RFC 9228) and Return-Path (RFC 5321 4.4) of a local delivery, in mox's
        order."""
        return f"Delivered-To: {e.recipient}\r\nReturn-Path: <{e.mail_from}>\r\n".encode("utf-8")

    def _read_with_authres(self, e: Entry) -> tuple[bytes, Any]:
        """The entry's message and its _authres (one worker-thread hop for both)."""
        data = self.store.read_message(e)
        return data, self._authres(e.mail_from, data)

    def _authres(self, mail_from: str, data: bytes) -> Any:
        """Authentication-Results and Received-SPF for handing a queued message to a local
        mailbox. mox's localserve queue delivers over SMTP to its own port 1025 from the first
        listener IP with EHLO localhost, and the checks of that delivery are what these fields
        say; here the message goes to the store directly and gets the same checks."""
        from mox.dkim.local import incoming_auth

        config = self.ctx.config
        now = ci.fixed_time(self.ctx) or time.time()
        return incoming_auth(config, data, remote_ip=self._local_ip(), ehlo="localhost", mail_from=mail_from, now=now)

    def _count_attempt(self, e: Entry, seconds: float) -> None:
        """mox's delivery metric: per attempt, its number and result (ok, temperror, permerror);
        an attempt that did not count (a full disk) is not counted here either."""
        after = self.store.entries.get(e.id)
        if after is not None and after.attempts == e.attempts:
            return
        result = "permerror" if e.id in self._failed else "ok" if after is None else "temperror"
        self._failed.discard(e.id)
        self.ctx.metrics.queue_delivery.observe(seconds, str(e.attempts + 1), e.transport, "", result)

    async def _fail(self, e: Entry, err: DeliveryError, *, attempts: int | None = None, suppress: bool = True) -> None:
        """A permanent failure: DSN to the sender (unless NOTIFY says no), the recipient maybe
        onto the suppression list, the entry retired as "failed" or "suppressed"."""
        self._failed.add(e.id)
        self.log.info("delivery failed permanently", id=e.id, recipient=e.recipient, err=str(err))
        now = self.now()
        if not e.results or e.results[-1].start != now:
            e = msgspec.structs.replace(e, results=[*e.results, MsgResult(start=now, code=err.code, secode=err.secode, error=str(err))])
        notify = (e.notify or "FAILURE").upper().split(",")
        if "FAILURE" in notify and e.mail_from:
            ecode = err.ecode or "5.0.0"
            status = RecipientStatus(
                e.recipient,
                "failed",
                f"5.{ecode.split('.', 1)[1]}" if err.code and err.code < 500 else ecode,
                diagnostic=f"{err.code} {err.ecode} {err.text}" if err.code else err.text,
                orcpt=e.orcpt,
                last_attempt=now,
            )
            await self._send_dsn(e, status)
        event = "suppressed" if isinstance(err, SuppressedError) else "failed"
        sups = self._suppression_changes(e, err, now) if suppress else []
        await self._retire(e, event, success=False, code=err.code, secode=err.secode, suppressions=sups)

    async def _send_dsn(self, e: Entry, status: RecipientStatus) -> None:
        from mox.delivery.deliver import deliver_to_store

        try:
            original = await trio.to_thread.run_sync(self.store.read_message, e)
        except OSError:
            original = b"\r\n"
        hostname = self.ctx.config.hostname
        dsn = compose_dsn(
            hostname=hostname,
            to=e.mail_from,
            original=original,
            statuses=[status],
            arrival=e.queued,
            envid=e.envid,
            ret=e.ret,
            smtputf8=e.smtputf8,
        )
        try:
            key = self.delivery_key(e, f"dsn-{status.action}")
            if await deliver_to_store(self.ctx, e.account, "Inbox", dsn, recipients=[e.mail_from], key=key):
                self.log.info("dsn delivered", id=e.id, account=e.account, action=status.action)
        except DiskFull:
            raise  # the entry stays queued and its DSN is tried again
        except Exception as err:
            self.log.unexpected("delivering dsn failed", err, id=e.id, account=e.account)


class _Commit:
    def __init__(self, changes: Changes, sync: bool = True) -> None:
        self.changes = changes
        self.sync = sync
        self.done = trio.Event()
        self.error: BaseException | None = None
