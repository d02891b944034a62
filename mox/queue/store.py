"""The queue's own durable store: ``<data>/queue/``.

Layout::

    queue/msg/<file>        message files (one per submission, shared by its recipients), never changed
    queue/hook/<id>         the JSON payload of webhook <id>, written before its record, removed
                            with the last record (queued or retired) that names it
    queue/index.journal     append-only JSON lines: {"op": "put", "entry": {...}} / {"op": "remove", "id": N}
                            / {"op": "sent", "account": A, "rcpt": R, "t": T} (a submitted recipient,
                            for the daily limits: kept 24 h, and each recipient's first one for good)
                            / {"op": "next", "id": N, "hooknext": N, "supnext": N} (written by compaction: ids
                            are never reused)
                            / {"op": "retired", "retired": {...}} / {"op": "retiredremove", "id": N}
                            (messages whose delivery ended, kept for the account's period)
                            / {"op": "hook", "hook": {...}} / {"op": "hookupdate", "hook": {...}} / {"op": "hookremove", "id": N}
                            / {"op": "hookretired", "hookretired": {...}} / {"op": "hookretiredremove", "id": N}
                            / {"op": "suppress", "suppression": {...}} / {"op": "suppressremove", "id": N}
                            / {"op": "sentcopy", "sentcopy": {...}} / {"op": "sentcopydone", "id": N}
                            (a submission's copy for the Sent mailbox, still to be stored: it is
                            put with the entries, before the 250, and written after it)

The records of one change (a message retired with its webhook and a new suppression) are one
append and one fsync: after a crash either all of them count or none.

A change the queue can redo after a crash of the machine (an entry's removal after its keyed
delivery, a Sent copy's record after the keyed copy: the delivery keys make the redo store
nothing twice) may be appended without its own fsync (``sync=False``): it is fsynced with the
next fsynced append, or by the Queue's timer ``SYNC_DELAY`` later. Files its records stop
referring to are removed only after that fsync, by the next journal write's worker thread (or
the timer's; ``defer_removal``), so a record a crash of the machine brings back never lacks its
file and no file is removed on the event loop.

Durability (as the account store): the message file is written to a temp name, fsynced, renamed
and its directory fsynced (skipped on Windows; once per journal write for all new files), then the
journal record is appended and fsynced;
only then does the caller answer ``250``. On open the journal is replayed (a torn last line, from a
crash mid-append, is dropped) and rewritten compacted through a temp file + rename; while
running it is compacted the same way once it holds many more records than live ones.

A full disk (ENOSPC/EDQUOT): a message file that cannot be written is removed again; a journal
append that fails is cut back to the last complete line (so later appends never follow a torn
one) and nothing of it is applied; a compaction at open that cannot be written leaves the old
journal in place. Writes succeed again once space is freed. Should cutting back fail too, the
journal is marked broken and refuses appends until a restart.

The journal's first record carries a random ``token`` naming this queue's incarnation: delivery
keys (``<token>-<id>``) stay unique even if the queue directory is removed and ids restart.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import os
import time
from pathlib import Path

import msgspec

from mox import mlog
from mox.queue.records import Hook, HookRetired, MsgResult, MsgRetired, Suppression
from mox.store.layout import fsync_dir, is_disk_full, remove_quietly, write_all


class Entry(msgspec.Struct, kw_only=True):
    """One recipient of one queued message (mox also queues per recipient)."""

    id: int
    account: str  # submitting account
    mail_from: str  # "" for the null reverse path
    recipient: str
    file: str  # name in queue/msg/
    size: int
    queued: float
    next_attempt: float
    attempts: int = 0
    last_attempt: float | None = None
    last_error: str = ""
    hold_until: float | None = None
    notify: str | None = None  # RFC 3461 NOTIFY, e.g. "FAILURE,DELAY"
    orcpt: str | None = None
    ret: str | None = None  # FULL or HDRS
    envid: str | None = None
    smtputf8: bool = False
    #: The SMTP session that submitted it (its transcript; recorded with the delivered copies).
    session: str | None = None
    #: Message-ID (with <>) and Subject of the message, for webhooks (mox Msg).
    message_id: str = ""
    subject: str = ""
    #: Submitter's metadata, echoed in webhooks (webapi Extra, X-Mox-Extra-* headers).
    extra: dict[str, str] = {}
    #: Unique id in the MAIL FROM local part, to match DSNs (mox FromID); "" when not used.
    from_id: str = ""
    #: REQUIRETLS (True), TLS-Required: No (False), or the default (None) (RFC 8689).
    require_tls: bool | None = None
    #: FUTURERELEASE as requested, "until;<time>" or "for;<seconds>" (RFC 4865), for DSNs.
    future_release_request: str = ""
    #: Held by the admin (mox's Msg.Hold): not delivered until released.
    hold: bool = False
    #: mox's per-message transport name; "" is the default (local delivery in localserve).
    transport: str = ""
    results: list[MsgResult] = []


class SentCopy(msgspec.Struct, kw_only=True):
    """A submission's copy for the sender's Sent mailbox, to be stored after the 250: the
    durable promise that it will be (once; its delivery key names ``id``). The message is the
    queue file ``file`` with ``prefix`` (e.g. a Bcc field) in front; the file stays until the
    copy is stored, also when the entries are delivered before that."""

    id: int  # the first entry id of the submission
    account: str
    file: str
    prefix: bytes = b""
    session: str | None = None


class _Record(msgspec.Struct, kw_only=True, omit_defaults=True):
    op: str
    entry: Entry | None = None
    id: int = 0
    account: str = ""  # "sent"
    t: float = 0.0  # "sent"
    rcpt: str = ""  # "sent": the recipient (canonical); "" in records from before recipients were kept
    token: str = ""  # "next": the queue's incarnation (delivery keys)
    hook: Hook | None = None
    hooknext: int = 0  # "next": next webhook id
    supnext: int = 0  # "next": next suppression id
    retired: MsgRetired | None = None
    hookretired: HookRetired | None = None
    suppression: Suppression | None = None
    sentcopy: SentCopy | None = None


#: How long "sent" records are kept (the daily outgoing limits look back 24 hours). Beyond that,
#: the first record of each recipient stays (for "first-time recipient"), as mox keeps its
#: store.Outgoing records.
SENT_KEEP = 24 * 3600

#: (time, account, recipient) of one submitted recipient, the unit of mox's daily limits.
Sent = tuple[float, str, str]

#: While running, the journal is rewritten when it has this many records more than live ones,
#: and at least as many again as live ones.
COMPACT_AFTER = 20000


@dataclasses.dataclass
class Changes:
    """Records to make durable together (one journal append) and then apply."""

    puts: list[Entry] = dataclasses.field(default_factory=list)
    updates: list[Entry] = dataclasses.field(default_factory=list)  # only if the entry still exists
    removes: list[int] = dataclasses.field(default_factory=list)
    sent: list[Sent] = dataclasses.field(default_factory=list)
    retired: list[MsgRetired] = dataclasses.field(default_factory=list)
    retired_removes: list[int] = dataclasses.field(default_factory=list)
    hooks: list[Hook] = dataclasses.field(default_factory=list)  # new or replaced
    hook_updates: list[Hook] = dataclasses.field(default_factory=list)  # only if the hook still exists
    hook_removes: list[int] = dataclasses.field(default_factory=list)
    hooks_retired: list[HookRetired] = dataclasses.field(default_factory=list)  # new or replaced
    hook_retired_removes: list[int] = dataclasses.field(default_factory=list)
    suppressions: list[Suppression] = dataclasses.field(default_factory=list)
    suppression_removes: list[int] = dataclasses.field(default_factory=list)
    sent_copies: list[SentCopy] = dataclasses.field(default_factory=list)
    sent_copies_done: list[int] = dataclasses.field(default_factory=list)

    def extend(self, other: Changes) -> None:
        for f in dataclasses.fields(self):
            getattr(self, f.name).extend(getattr(other, f.name))

    def records(self) -> list[_Record]:
        return (
            [_Record(op="put", entry=e) for e in self.puts]
            + [_Record(op="update", entry=e) for e in self.updates]
            + [_Record(op="remove", id=i) for i in self.removes]
            + [_Record(op="sent", account=a, rcpt=r, t=t) for t, a, r in self.sent]
            + [_Record(op="retired", retired=r) for r in self.retired]
            + [_Record(op="retiredremove", id=i) for i in self.retired_removes]
            + [_Record(op="hook", hook=h) for h in self.hooks]
            + [_Record(op="hookupdate", hook=h) for h in self.hook_updates]
            + [_Record(op="hookretired", hookretired=h) for h in self.hooks_retired]
            + [_Record(op="hookremove", id=i) for i in self.hook_removes]
            + [_Record(op="hookretiredremove", id=i) for i in self.hook_retired_removes]
            + [_Record(op="suppress", suppression=x) for x in self.suppressions]
            + [_Record(op="suppressremove", id=i) for i in self.suppression_removes]
            + [_Record(op="sentcopy", sentcopy=c) for c in self.sent_copies]
            + [_Record(op="sentcopydone", id=i) for i in self.sent_copies_done]
        )


_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder(_Record)


class QueueStore:
    """Synchronous; the Queue calls it from a worker thread for the fsyncs."""

    def __init__(self, data_dir: Path | str, *, fsync: bool = True) -> None:
        self.dir = Path(data_dir) / "queue"
        self.msg_dir = self.dir / "msg"
        self.hook_dir = self.dir / "hook"
        self.journal_path = self.dir / "index.journal"
        self.fsync = fsync
        self.log = mlog.get_logger("queue")
        self.msg_dir.mkdir(parents=True, exist_ok=True)
        self.hook_dir.mkdir(parents=True, exist_ok=True)
        self.entries: dict[int, Entry] = {}
        self.retired: dict[int, MsgRetired] = {}
        self.hooks: dict[int, Hook] = {}
        self.hooks_retired: dict[int, HookRetired] = {}
        self.suppressions: dict[int, Suppression] = {}
        #: Copies for Sent mailboxes still to be stored, by SentCopy.id.
        self.sent_copies: dict[int, SentCopy] = {}
        self.next_id = 1
        self.next_hook_id = 1
        self.next_sup_id = 1
        self.token = ""
        #: Each recipient submitted in the last SENT_KEEP seconds, oldest first.
        self.sent: collections.deque[Sent] = collections.deque()
        #: The same per account, (time, recipient), in commit order: the limits look at one account.
        self._sent_of: dict[str, collections.deque[tuple[float, str]]] = {}
        #: (account, recipient) -> when it was first submitted to, ever (mox: first-time recipients).
        self.first_sent: dict[tuple[str, str], float] = {}
        self._records = 0  # records in the journal file
        self.unsynced = False  # records appended without fsync since the last fsync
        self._unlink_after_sync: list[Path] = []
        self._load()
        self._journal = open(self.journal_path, "ab", buffering=0)
        self._journal_size = self._journal.seek(0, os.SEEK_END)
        self._broken = False

    def _live(self) -> int:
        return (
            len(self.entries) + len(self.retired) + len(self.hooks) + len(self.hooks_retired) + len(self.suppressions)
            + len(self.sent) + len(self.sent_copies)
        )  # fmt: skip

    def _replay(self, rec: _Record) -> None:
        if rec.op == "put" and rec.entry is not None:
            self.entries[rec.entry.id] = rec.entry
            self.next_id = max(self.next_id, rec.entry.id + 1)
        elif rec.op == "next":
            self.next_id = max(self.next_id, rec.id)
            self.next_hook_id = max(self.next_hook_id, rec.hooknext)
            self.next_sup_id = max(self.next_sup_id, rec.supnext)
            self.token = self.token or rec.token
        elif rec.op == "sent":
            self._add_sent([(rec.t, rec.account, rec.rcpt)])
        elif rec.op == "update" and rec.entry is not None and rec.entry.id in self.entries:
            self.entries[rec.entry.id] = rec.entry
        elif rec.op == "remove":
            self.entries.pop(rec.id, None)
        else:
            self._apply_other(rec)

    def _apply_other(self, rec: _Record) -> None:
        if rec.op == "retired" and rec.retired is not None:
            self.retired[rec.retired.id] = rec.retired
            self.next_id = max(self.next_id, rec.retired.id + 1)
        elif rec.op == "retiredremove":
            self.retired.pop(rec.id, None)
        elif rec.op == "hook" and rec.hook is not None:
            self.hooks[rec.hook.id] = rec.hook
            self.next_hook_id = max(self.next_hook_id, rec.hook.id + 1)
        elif rec.op == "hookupdate" and rec.hook is not None and rec.hook.id in self.hooks:
            self.hooks[rec.hook.id] = rec.hook
        elif rec.op == "hookremove":
            self.hooks.pop(rec.id, None)
        elif rec.op == "hookretired" and rec.hookretired is not None:
            self.hooks_retired[rec.hookretired.id] = rec.hookretired
            self.next_hook_id = max(self.next_hook_id, rec.hookretired.id + 1)
        elif rec.op == "hookretiredremove":
            self.hooks_retired.pop(rec.id, None)
        elif rec.op == "suppress" and rec.suppression is not None:
            self.suppressions[rec.suppression.id] = rec.suppression
            self.next_sup_id = max(self.next_sup_id, rec.suppression.id + 1)
        elif rec.op == "suppressremove":
            self.suppressions.pop(rec.id, None)
        elif rec.op == "sentcopy" and rec.sentcopy is not None:
            self.sent_copies[rec.sentcopy.id] = rec.sentcopy
        elif rec.op == "sentcopydone":
            self.sent_copies.pop(rec.id, None)

    def _load(self) -> None:
        if self.journal_path.exists():
            data = self.journal_path.read_bytes()
            for line in data.split(b"\n"):
                if not line.strip():
                    continue
                try:
                    rec = _dec.decode(line)
                except msgspec.DecodeError:
                    continue  # torn or damaged record: a crash during append
                self._replay(rec)
        if self.entries:
            self.next_id = max(self.next_id, max(self.entries) + 1)
        self.sent = collections.deque(sorted(self.sent))
        self._sent_of = {}
        for t, a, r in self.sent:
            self._sent_of.setdefault(a, collections.deque()).append((t, r))
        self.prune_sent(time.time() - SENT_KEEP)
        # Files no entry references (crash between file write and journal record) are removed.
        used = self._used_files()
        for p in self.msg_dir.iterdir():
            if p.name not in used:
                try:
                    p.unlink()
                except OSError:
                    pass
        for name in used:
            if name.isdigit():
                self.next_id = max(self.next_id, int(name) + 1)
        payloads = {str(i) for i in self.hooks} | {str(i) for i in self.hooks_retired}
        for p in self.hook_dir.iterdir():
            if p.name not in payloads:
                remove_quietly(p)
        had_token = bool(self.token)
        if not had_token:
            self.token = os.urandom(6).hex()
        lines = self._compacted()
        try:
            self._rewrite(lines)
        except OSError as e:
            if not is_disk_full(e):
                raise
            # The old journal is complete (a torn last line is skipped when read) and stays.
            self.log.warn("disk full: queue journal not compacted", err=str(e))
            self._cut_torn_tail()
            if not had_token:  # best effort, so the token survives a restart
                try:
                    with open(self.journal_path, "ab", buffering=0) as f:
                        write_all(f, lines[0] + b"\n", self.journal_path)
                except OSError:
                    self._cut_torn_tail()

    def _compacted(self) -> list[bytes]:
        """The live state as journal lines."""
        lines = [_enc.encode(_Record(op="next", id=self.next_id, token=self.token, hooknext=self.next_hook_id, supnext=self.next_sup_id))]
        # The window's records, and the first record of each recipient from before the window.
        window_start = self.sent[0][0] if self.sent else math.inf
        lines += [
            _enc.encode(_Record(op="sent", account=a, rcpt=r, t=first))
            for (a, r), first in sorted(self.first_sent.items(), key=lambda kv: kv[1])
            if first < window_start
        ]
        lines += [_enc.encode(_Record(op="sent", account=a, rcpt=r, t=t)) for t, a, r in self.sent]
        lines += [_enc.encode(_Record(op="put", entry=e)) for e in sorted(self.entries.values(), key=lambda e: e.id)]
        lines += [_enc.encode(_Record(op="retired", retired=r)) for _, r in sorted(self.retired.items())]
        lines += [_enc.encode(_Record(op="hook", hook=h)) for _, h in sorted(self.hooks.items())]
        lines += [_enc.encode(_Record(op="hookretired", hookretired=h)) for _, h in sorted(self.hooks_retired.items())]
        lines += [_enc.encode(_Record(op="suppress", suppression=x)) for _, x in sorted(self.suppressions.items())]
        lines += [_enc.encode(_Record(op="sentcopy", sentcopy=c)) for _, c in sorted(self.sent_copies.items())]
        return lines

    def _used_files(self) -> set[str]:
        """The message files that entries or Sent copies still to be stored refer to."""
        return {e.file for e in self.entries.values()} | {c.file for c in self.sent_copies.values()}

    def _rewrite(self, lines: list[bytes]) -> None:
        """Replace the journal by ``lines`` through a temp file + rename (raises OSError; the
        old journal then stays)."""
        tmp = self.dir / "index.journal.tmp"
        try:
            with open(tmp, "wb", buffering=0) as f:
                write_all(f, b"".join(line + b"\n" for line in lines), tmp)
                if self.fsync:
                    os.fsync(f.fileno())
            os.replace(tmp, self.journal_path)
        except OSError:
            remove_quietly(tmp)
            raise
        if self.fsync:
            fsync_dir(self.dir)
        self._records = len(lines)
        self._synced()

    def maybe_compact(self) -> None:
        """Rewrite the journal while running when it is mostly dead records (from a worker
        thread, between journal writes; the Queue's committer calls it)."""
        live = self._live()
        if self._records - live < max(COMPACT_AFTER, live):
            return
        try:
            self._rewrite(self._compacted())
        except OSError as e:
            self.log.warn("queue journal not compacted", err=str(e))
            self._records = live  # try again after as many new records
            return
        self._journal.close()
        self._journal = open(self.journal_path, "ab", buffering=0)
        self._journal_size = self._journal.seek(0, os.SEEK_END)

    def _cut_torn_tail(self) -> None:
        """Remove a torn last line (a crash during an append), so appends start on a new line."""
        try:
            with open(self.journal_path, "r+b") as f:
                data = f.read()
                end = data.rfind(b"\n") + 1
                if end < len(data):
                    f.truncate(end)
        except FileNotFoundError:
            pass

    def close(self) -> None:
        if (self.unsynced or self._unlink_after_sync) and not self._broken:
            try:
                if self.fsync:
                    os.fsync(self._journal.fileno())
                self._synced()
            except OSError as e:  # the files stay: strays the next open removes
                self.log.warn("queue journal: fsync at close failed", err=repr(e))
        self._journal.close()

    def allocate_ids(self, n: int) -> list[int]:
        ids = list(range(self.next_id, self.next_id + n))
        self.next_id += n
        return ids

    def allocate_hook_id(self) -> int:
        self.next_hook_id += 1
        return self.next_hook_id - 1

    def allocate_suppression_id(self) -> int:
        self.next_sup_id += 1
        return self.next_sup_id - 1

    def write_message(self, name: str, data: bytes) -> None:
        tmp = self.msg_dir / (name + ".tmp")
        try:
            with open(tmp, "wb", buffering=0) as f:
                write_all(f, data, tmp)
                if self.fsync:
                    os.fsync(f.fileno())
            os.replace(tmp, self.msg_dir / name)
        except BaseException:
            remove_quietly(tmp)
            raise
        # The directory is fsynced by the next write_journal with puts, once for all files
        # written since (the record is only written after that).

    def read_message(self, entry: Entry) -> bytes:
        return self.read_file(entry.file)

    def read_file(self, name: str) -> bytes:
        with open(os.path.join(self.msg_dir, name), "rb") as f:
            return f.read()

    def write_payload(self, hook_id: int, payload: bytes) -> None:
        """The payload file of a webhook, durable (with the next journal write that puts hooks)
        before its record."""
        path = self.hook_dir / str(hook_id)
        tmp = self.hook_dir / f"{hook_id}.tmp"
        try:
            with open(tmp, "wb", buffering=0) as f:
                write_all(f, payload, tmp)
                if self.fsync:
                    os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            remove_quietly(tmp)
            raise

    def read_payload(self, hook_id: int) -> bytes:
        return (self.hook_dir / str(hook_id)).read_bytes()

    def write_journal(self, ch: Changes | None = None, /, *, sync: bool = True, **lists: list) -> None:
        """Append and fsync the records (one writer at a time; the Queue group-commits); with
        ``sync`` false the fsync is left to a later call (see the module doc). ``lists``: the
        fields of a Changes, for callers without one."""
        ch = ch if ch is not None else Changes(**lists)
        records = ch.records()
        if not records:
            if sync and (self.unsynced or self._unlink_after_sync):
                if self.fsync and self.unsynced:
                    os.fsync(self._journal.fileno())
                self._synced()
            return
        if self._broken:
            raise OSError("queue journal unusable after an earlier failure; restart mox")
        if ch.puts and self.fsync:
            fsync_dir(self.msg_dir)  # new message files' names are durable before their records
        if ch.hooks and self.fsync:
            fsync_dir(self.hook_dir)
        data = b"".join(_enc.encode(r) + b"\n" for r in records)
        try:
            write_all(self._journal, data, self.journal_path)
            if self.fsync and sync:
                os.fsync(self._journal.fileno())
        except BaseException:
            # Cut the torn records off: a line appended after a torn one would be unreadable.
            try:
                self._journal.truncate(self._journal_size)
                self._journal.seek(self._journal_size)
                if self.fsync:
                    os.fsync(self._journal.fileno())
            except OSError as e:
                self._broken = True
                self.log.error("queue journal: cutting back a failed append failed", err=repr(e))
            raise
        self._journal_size += len(data)
        self._records += len(records)
        if sync:
            self._synced()
        else:
            self.unsynced = True

    def _synced(self) -> None:
        """Everything appended is fsynced: the files waiting for that go."""
        self.unsynced = False
        paths = list(self._unlink_after_sync)
        if paths:
            self.remove_files(paths)
            del self._unlink_after_sync[: len(paths)]  # after the removal: pending_removals until then

    def defer_removal(self, paths: list[Path]) -> None:
        """Files no record refers to any more, removed (``remove_files``) by the next journal
        write once it is fsynced: in its worker thread, not on the event loop (the Queue's timer
        makes one when nothing else comes)."""
        self._unlink_after_sync.extend(paths)

    @property
    def pending_removals(self) -> bool:
        return bool(self._unlink_after_sync)

    def remove_message_file(self, name: str) -> None:
        """Remove a message file no record refers to (its records could not be written)."""
        if name not in self._used_files():
            remove_quietly(self.msg_dir / name)

    def remove_payload_file(self, hook_id: int) -> None:
        """Remove a payload file no record refers to (its records could not be written)."""
        if hook_id not in self.hooks and hook_id not in self.hooks_retired:
            remove_quietly(self.hook_dir / str(hook_id))

    def _add_sent(self, sent: list[Sent]) -> None:
        self.sent.extend(sent)
        for t, account, rcpt in sent:
            self._sent_of.setdefault(account, collections.deque()).append((t, rcpt))
        for t, account, rcpt in sent:
            if rcpt and t < self.first_sent.get((account, rcpt), math.inf):
                self.first_sent[(account, rcpt)] = t

    def send_limit_reached(self, account: str, recipients: list[str], msgmax: int | None, rcptmax: int | None, now: float) -> tuple[int | None, int | None]:
        """Whether submitting to ``recipients`` now would exceed the account's 24-hour limits, as
        mox's Account.SendLimitReached (store/account.go): (msgmax, None) when the recipients of
        the last 24 hours plus these would be more than ``msgmax``; (None, rcptmax) when more than
        ``rcptmax`` of them are first-time recipients (never submitted to before that time);
        (None, None) when allowed. ``None`` as a limit: no limit."""
        since = now - SENT_KEEP
        self.prune_sent(since)
        mine = self._sent_of.get(account)
        while mine and mine[0][0] <= since:
            mine.popleft()
        n = len(mine or ()) + len(recipients)
        if msgmax is not None and n > msgmax:
            return msgmax, None
        # As mox: first-time recipients are only counted once there are enough messages.
        if rcptmax is None or n < rcptmax:
            return None, None
        firsttime = sum(1 for r in recipients if (account, r) not in self.first_sent)
        window = {r for _, r in mine or ()}
        firsttime += sum(1 for r in window if r and self.first_sent.get((account, r), -math.inf) > since)
        if firsttime > rcptmax:
            return None, rcptmax
        return None, None

    def prune_sent(self, before: float) -> None:
        while self.sent and self.sent[0][0] < before:
            t, account, rcpt = self.sent.popleft()
            mine = self._sent_of.get(account)
            if mine and mine[0] == (t, rcpt):
                mine.popleft()

    def apply(self, ch: Changes | None = None, /, **lists: list) -> list[Path]:
        """Apply committed records to the in-memory state; returns the message and payload
        files nothing references any more, for ``remove_files`` (the Queue calls it in a worker
        thread; a crash before that leaves them for the next open to remove)."""
        ch = ch if ch is not None else Changes(**lists)
        gone_files: list[Path] = []
        self._add_sent(ch.sent)
        if ch.sent:
            self.prune_sent(ch.sent[0][0] - SENT_KEEP)  # bounded memory while no limit asks
        for e in ch.puts:
            self.entries[e.id] = e
        for e in ch.updates:
            if e.id in self.entries:
                self.entries[e.id] = e
        for c in ch.sent_copies:
            self.sent_copies[c.id] = c
        files = {self.entries.pop(i).file for i in ch.removes if i in self.entries}
        files |= {self.sent_copies.pop(i).file for i in ch.sent_copies_done if i in self.sent_copies}
        if files:
            still = self._used_files()
            gone_files += [self.msg_dir / name for name in sorted(files - still)]
        for r in ch.retired:
            self.retired[r.id] = r
        for i in ch.retired_removes:
            self.retired.pop(i, None)
        for h in ch.hooks:
            self.hooks[h.id] = h
        for h in ch.hook_updates:
            if h.id in self.hooks:
                self.hooks[h.id] = h
        for hr in ch.hooks_retired:
            self.hooks_retired[hr.id] = hr
        gone = []
        for i in ch.hook_removes:
            if self.hooks.pop(i, None) is not None:
                gone.append(i)
        for i in ch.hook_retired_removes:
            if self.hooks_retired.pop(i, None) is not None:
                gone.append(i)
        for i in gone:
            if i not in self.hooks and i not in self.hooks_retired:
                gone_files.append(self.hook_dir / str(i))
        for x in ch.suppressions:
            self.suppressions[x.id] = x
        for i in ch.suppression_removes:
            self.suppressions.pop(i, None)
        return gone_files

    def remove_files(self, paths: list[Path]) -> None:
        """Remove files that ``apply`` found unreferenced (blocking: from a worker thread)."""
        for path in paths:
            remove_quietly(path)

    def put(self, entries: list[Entry]) -> None:
        """New entries, or replaced ones (synchronous: write, fsync, apply)."""
        self.write_journal(puts=entries)
        self.remove_files(self.apply(puts=entries))

    def update(self, entries: list[Entry]) -> None:
        entries = [e for e in entries if e.id in self.entries]
        self.write_journal(updates=entries)
        self.remove_files(self.apply(updates=entries))

    def remove(self, ids: list[int]) -> None:
        ids = [i for i in ids if i in self.entries]
        self.write_journal(removes=ids)
        self.remove_files(self.apply(removes=ids))
