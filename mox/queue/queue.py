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
- The copy for the sender's Sent mailbox is stored when the message is queued.
- Exactly once: each delivery (and each DSN) carries a key naming the entry (``<token>-<id>``);
  the store records it in the transaction that adds the message, so an entry delivered just
  before a crash, whose removal never became durable, is not delivered again when it is
  retried after the restart (the store skips it).
- A full disk (``DiskFull``) is not the recipient's fault: the attempt is not counted and the
  entry is retried every ``DISK_FULL_RETRY`` seconds until there is space.
"""

from __future__ import annotations

import builtins
import math
import time
from typing import Any

import msgspec
import trio

from mox import mlog
from mox.ci import hooks as ci
from mox.queue.dsn import RecipientStatus, compose_dsn
from mox.queue.holdrules import HoldRules
from mox.queue.store import Entry, QueueStore, Sent
from mox.smtp import failsim
from mox.store import DiskFull
from mox.store.layout import is_disk_full
from mox.context import ServerContext

MAX_CONCURRENT = 8
DISK_FULL_RETRY = 1.0  # seconds between attempts while the disk is full


def canonical_recipient(address: str) -> str:
    """The recipient as the daily limits count it: the local part as given, the domain in lower
    case (mox counts ``rcpt.Addr.XString(true)``: unicode domain, which its parser lower-cases)."""
    lp, at, domain = address.rpartition("@")
    return f"{lp}@{domain.lower()}" if at else address


class DeliveryError(Exception):
    def __init__(self, code: int, ecode: str, text: str) -> None:
        super().__init__(f"{code} {ecode} {text}")
        self.code = code
        self.ecode = ecode
        self.text = text

    @property
    def permanent(self) -> bool:
        return self.code >= 500


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
        self._not_before: dict[int, float] = {}  # entry id -> next try while the disk is full
        self.holdrules = HoldRules(self.store.dir, fsync=self.store.fsync)
        self._failed: set[int] = set()  # entries that failed for good in their last attempt (metrics)
        # mox's gauge of messages on hold, read when the metrics are asked for.
        ctx.metrics.queue_hold.func = lambda: sum(1 for e in self.store.entries.values() if e.hold)

    def store_now(self) -> float:
        """The queue's notion of now (unix seconds) for filters and schedules."""
        return time.time()

    def delivery_key(self, e: Entry, what: str = "") -> str:
        """The store's delivery key of an entry (``what``: e.g. "dsn-failed" for its DSN)."""
        return f"queue-{self.store.token}-{e.id}" + (f"-{what}" if what else "")

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
        require_tls: bool | None = None,
    ) -> list[int]:
        """Queue ``data`` for each recipient; durable when this returns. Returns the entry ids.
        ``session``: the SMTP connection id that submitted it (for transcript links);
        ``require_tls``: RFC 8689 REQUIRETLS asked for (recorded on the entries)."""
        if not recipients:
            raise ValueError("no recipients")
        opts = dsn_options or {}
        per_rcpt = list(opts.get("recipients") or [])
        now = time.time()
        ids = self.store.allocate_ids(len(recipients))
        name = str(ids[0])
        entries = []
        for i, (qid, rcpt) in enumerate(zip(ids, recipients, strict=True)):
            p = per_rcpt[i] if i < len(per_rcpt) else {}
            entries.append(
                Entry(
                    id=qid,
                    account=account,
                    mail_from=mail_from,
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
                    require_tls=require_tls,
                    hold=self.holdrules.matches(account, mail_from, rcpt),
                )
            )
        # Message files are written in parallel; journal records are group-committed.
        try:
            await trio.to_thread.run_sync(self.store.write_message, name, data)
            try:
                # "sent": the durable record of each recipient, for the daily limits.
                await self._commit(puts=entries, sent=[(now, account, canonical_recipient(r)) for r in recipients])
            except BaseException:
                self.store.remove_message_file(name)
                raise
        except OSError as e:
            if is_disk_full(e):
                raise DiskFull(f"queue: disk full: {e.strerror}") from e
            raise
        self.log.info("message queued", account=account, ids=",".join(map(str, ids)), size=len(data))
        await self._store_sent_copy(account, data, session)
        self._wake.set()
        return ids

    async def _commit(self, *, puts: list[Entry] = (), updates: list[Entry] = (), removes: list[int] = (), sent: list[Sent] = ()) -> None:  # type: ignore[assignment]
        """Make records durable, then apply them. Concurrent callers share one journal write
        and fsync (group commit): the first becomes the committer for everything pending."""
        c = _Commit(list(puts), list(updates), list(removes), list(sent))
        self._pending.append(c)
        if not self._committing:
            self._committing = True
            try:
                while self._pending:
                    batch, self._pending = self._pending, []
                    puts_ = [e for b in batch for e in b.puts]
                    updates_ = [e for b in batch for e in b.updates]
                    removes_ = [i for b in batch for i in b.removes]
                    sent_ = [x for b in batch for x in b.sent]
                    try:
                        with trio.CancelScope(shield=True):
                            await trio.to_thread.run_sync(self.store.write_journal, puts_, updates_, removes_, sent_)
                    except Exception as err:
                        for b in batch:
                            b.error = err
                            b.done.set()
                        continue
                    self.store.apply(puts_, updates_, removes_, sent_)
                    for b in batch:
                        b.done.set()
            finally:
                self._committing = False
        await c.done.wait()
        if c.error is not None:
            raise c.error

    def send_limit_reached(self, account: str, recipients: list[str]) -> tuple[int | None, int | None]:
        """(msgmax, None) or (None, rcptmax) when submitting to ``recipients`` now would go over
        the account's daily limit of messages or first-time recipients; (None, None) when allowed
        (QueueStore.send_limit_reached; limits from Config.send_limits)."""

        msgmax, rcptmax = self.ctx.config.send_limits(account)
        return self.store.send_limit_reached(
            account, [canonical_recipient(r) for r in recipients], msgmax, rcptmax, time.time()
        )

    async def _store_sent_copy(self, account: str, data: bytes, session: str | None = None) -> None:
        from mox.smtp.server import deliver_to_store

        try:
            acc = self.ctx.store.open_account(account)
            try:
                has_sent = acc.mailbox("Sent") is not None
            finally:
                acc.close()
            if has_sent:
                await deliver_to_store(self.ctx, account, "Sent", data, flags=("\\Seen",), session=session)
        except DiskFull as e:  # the message is queued; the Sent copy did not fit
            self.log.warn("storing copy in sent mailbox: disk full", account=account, err=str(e))
        except Exception as e:  # the message is queued; a missing Sent copy is only logged
            self.log.unexpected("storing copy in sent mailbox", e, account=account)

    # --- inspection and admin (ctl) -------------------------------------------------------------

    def list(self) -> list[Entry]:
        return sorted(self.store.entries.values(), key=lambda e: e.id)

    async def drop(self, ids: builtins.list[int] | None = None) -> builtins.list[int]:
        """Remove entries without delivering and without DSN."""
        sel = [e.id for e in self.list() if ids is None or e.id in ids]
        await self._commit(removes=sel)
        return sel

    async def update(self, entries: builtins.list[Entry]) -> None:
        """Replace entries (hold, next attempt changed by the admin) and reconsider what is due."""
        await self._commit(updates=entries)
        self._wake.set()

    async def fail(self, ids: builtins.list[int] | None = None) -> builtins.list[int]:
        """Fail entries now, sending a DSN as for a permanent delivery failure."""
        sel = [e for e in self.list() if ids is None or e.id in ids]
        for e in sel:
            await self._fail(e, DeliveryError(550, "5.0.0", "delivery failed by admin"))
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
        writes then share group commits)."""
        inflight: set[int] = set()
        limiter = trio.CapacityLimiter(MAX_CONCURRENT)

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
                    self._not_before[e.id] = time.time() + DISK_FULL_RETRY
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

        task_status.started()
        try:
            async with trio.open_nursery() as nursery:
                while True:
                    self._wake = trio.Event()
                    now = time.time()
                    waiting = [e for e in self.list() if e.id not in inflight]
                    for e in waiting:
                        if due(e) <= now:
                            inflight.add(e.id)
                            nursery.start_soon(attempt, e)
                    nxt = min((due(e) for e in waiting if due(e) > now), default=math.inf)
                    with trio.move_on_after(max(0.0, nxt - time.time())):
                        await self._wake.wait()
        finally:
            with trio.CancelScope(shield=True):
                self.store.close()

    async def _attempt(self, e: Entry) -> None:
        now = time.time()
        try:
            stored = await self._deliver(e)
        except (DiskFull, ci.ViewLimit) as err:
            # Not the recipient's fault and not a counted attempt: retry until there is space
            # (or until a per-address view can be opened again).
            self.log.warn("delivery will be retried", id=e.id, err=str(err))
            self._not_before[e.id] = now + DISK_FULL_RETRY
            return
        except DeliveryError as err:
            if err.permanent:
                await self._fail(e, err)
                return
            attempts = e.attempts + 1
            if attempts > len(self.retry_delays):
                await self._fail(e, err, attempts=attempts)
                return
            delay = self.retry_delays[attempts - 1]
            upd = Entry(**{**_asdict(e), "attempts": attempts, "last_attempt": now, "last_error": str(err), "next_attempt": now + delay})
            self.log.info("temporary delivery failure, will retry", id=e.id, attempts=attempts, err=str(err), delay=delay)
            await self._commit(updates=[upd])
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
        if stored:
            self.log.info("message delivered from queue", id=e.id, recipient=e.recipient)
        else:
            self.log.info("message was delivered before, dequeued now", id=e.id, recipient=e.recipient)
        notify = (e.notify or "").upper().split(",")
        if "SUCCESS" in notify and e.mail_from:
            await self._send_dsn(e, RecipientStatus(e.recipient, "delivered", "2.0.0", orcpt=e.orcpt, last_attempt=now))
        await self._commit(removes=[e.id])
        self._not_before.pop(e.id, None)

    async def _attempt_error(self, e: Entry, now: float, msg: str) -> None:
        attempts = e.attempts + 1
        if attempts > len(self.retry_delays):
            await self._fail(e, DeliveryError(451, "4.3.0", "error delivering: " + msg), attempts=attempts)
            return
        upd = Entry(**{**_asdict(e), "attempts": attempts, "last_attempt": now, "last_error": msg, "next_attempt": now + self.retry_delays[attempts - 1]})
        await self._commit(updates=[upd])

    async def _deliver(self, e: Entry) -> bool:
        """Deliver the entry to its local recipient; False when it was delivered before."""
        from mox.delivery.deliver import Rejected, deliver_local
        from mox.delivery.rules import MessageInfo

        lp, domain = _split(e.recipient)
        if failsim.stage(lp) == "queue":
            code = failsim.special_code(lp)
            if code == failsim.TIMEOUT:
                raise DeliveryError(451, "4.0.0", "timing out delivery due to special localpart")
            if isinstance(code, int):
                raise DeliveryError(code, failsim.enhanced_for(code), failsim.failure_text(code))
        if self.ctx.config.alias(lp, domain) is not None:
            return await self._deliver_alias(e, lp, domain)
        dest = self.ctx.auth.lookup_destination(lp, domain)
        if dest is None:
            raise DeliveryError(550, "5.1.1", "no such user")
        account, _ = dest
        data = await trio.to_thread.run_sync(self.store.read_message, e)
        auth = await trio.to_thread.run_sync(self._authres, e.mail_from, data)
        data = self._trace(e) + auth.headers + data
        info = MessageInfo(
            mail_from=e.mail_from, ehlo_domain=auth.ehlo_domain, ehlo_validated=auth.ehlo_validated,
            mail_from_domain=auth.mail_from_domain, mail_from_validated=auth.mail_from_validated,
            dkim_domains=auth.dkim_domains,
        )  # fmt: skip
        try:
            # Rulesets and the junk filter of the recipient's destination (mox's localserve
            # queue delivers through its own SMTP server, which applies them).
            return await deliver_local(
                self.ctx, account, e.recipient, data, info=info, recipients=[e.recipient], key=self.delivery_key(e),
                session=e.session,
            )  # fmt: skip
        except Rejected as r:
            raise DeliveryError(r.code, f"{r.code // 100}.{r.se}", r.text) from None

    async def _deliver_alias(self, e: Entry, lp: str, domain: str) -> bool:
        """An alias recipient: its members' accounts each get the message once, with the
        alias's rules for who may post (mox's localserve queue delivers over SMTP to itself,
        where its smtpserver applies them; see mox.auth.authenticator.alias_destinations).
        False when every copy was delivered before."""
        from mox.auth.authenticator import AliasRefused
        from mox.smtp.checks import message_from
        from mox.smtp.server import deliver_to_store

        raw = await trio.to_thread.run_sync(self.store.read_message, e)
        try:
            dests = self.ctx.auth.alias_destinations(lp, domain, message_from(raw), set()) or []
        except AliasRefused:
            raise DeliveryError(550, "5.7.2", "not allowed to send to destination") from None
        auth = await trio.to_thread.run_sync(self._authres, e.mail_from, raw)
        data = self._trace(e) + auth.headers + raw
        delivered = False
        for account, mailbox in dests:
            key = self.delivery_key(e, "alias-" + account)
            if await deliver_to_store(self.ctx, account, mailbox, data, recipients=[e.recipient], key=key, session=e.session):
                delivered = True
        return delivered

    def _trace(self, e: Entry) -> bytes:
        """Delivered-To (RFC 9228) and Return-Path (RFC 5321 4.4) of a local delivery, in mox's
        order."""
        return f"Delivered-To: {e.recipient}\r\nReturn-Path: <{e.mail_from}>\r\n".encode("utf-8")

    def _authres(self, mail_from: str, data: bytes) -> Any:
        """Authentication-Results and Received-SPF for handing a queued message to a local
        mailbox. mox's localserve queue delivers over SMTP to its own port 1025 from the first
        listener IP with EHLO localhost, and the checks of that delivery are what these fields
        say; here the message goes to the store directly and gets the same checks."""
        from mox.dkim.local import incoming_auth

        config = self.ctx.config
        ips = config.ips or ["127.0.0.1"]
        now = ci.fixed_time(self.ctx) or time.time()
        return incoming_auth(config, data, remote_ip=ips[0], ehlo="localhost", mail_from=mail_from, now=now)

    def _count_attempt(self, e: Entry, seconds: float) -> None:
        """mox's delivery metric: per attempt, its number and result (ok, temperror, permerror);
        an attempt that did not count (a full disk) is not counted here either."""
        after = self.store.entries.get(e.id)
        if after is not None and after.attempts == e.attempts:
            return
        result = "permerror" if e.id in self._failed else "ok" if after is None else "temperror"
        self._failed.discard(e.id)
        self.ctx.metrics.queue_delivery.observe(seconds, str(e.attempts + 1), e.transport, "", result)

    async def _fail(self, e: Entry, err: DeliveryError, *, attempts: int | None = None) -> None:
        self._failed.add(e.id)
        self.log.info("delivery failed permanently", id=e.id, recipient=e.recipient, err=str(err))
        notify = (e.notify or "FAILURE").upper().split(",")
        if "FAILURE" in notify and e.mail_from:
            status = RecipientStatus(
                e.recipient,
                "failed",
                f"5.{err.ecode.split('.', 1)[1]}" if err.code < 500 else err.ecode,
                diagnostic=f"{err.code} {err.ecode} {err.text}",
                orcpt=e.orcpt,
                last_attempt=time.time(),
            )
            await self._send_dsn(e, status)
        await self._commit(removes=[e.id])

    async def _send_dsn(self, e: Entry, status: RecipientStatus) -> None:
        from mox.smtp.server import deliver_to_store

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
    def __init__(self, puts: list[Entry], updates: list[Entry], removes: list[int], sent: list[Sent]) -> None:
        self.puts = puts
        self.updates = updates
        self.removes = removes
        self.sent = sent
        self.done = trio.Event()
        self.error: BaseException | None = None


def _asdict(e: Entry) -> dict[str, Any]:
    return {f: getattr(e, f) for f in e.__struct_fields__}
