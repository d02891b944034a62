"""The queue's own durable store: ``<data>/queue/``.

Layout::

    queue/msg/<file>        message files (one per submission, shared by its recipients), never changed
    queue/index.journal     append-only JSON lines: {"op": "put", "entry": {...}} / {"op": "remove", "id": N}
                            / {"op": "sent", "account": A, "rcpt": R, "t": T} (a submitted recipient,
                            for the daily limits: kept 24 h, and each recipient's first one for good)
                            / {"op": "next", "id": N} (written by compaction: ids are never reused)

Durability (as the account store): the message file is written to a temp name, fsynced, renamed
and its directory fsynced (skipped on Windows; once per journal write for all new files), then the
journal record is appended and fsynced;
only then does the caller answer ``250``. On open the journal is replayed (a torn last line, from a
crash mid-append, is dropped) and rewritten compacted through a temp file + rename.

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
import math
import os
import time
from pathlib import Path

import msgspec

from mox import mlog
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
    #: RFC 8689 REQUIRETLS: True when the submitter required it (SMTP REQUIRETLS, webmail's
    #: RequireTLS "yes"); None: the default policy (mox's RequireTLS *bool).
    require_tls: bool | None = None
    #: Held by the admin (mox's Msg.Hold): not delivered until released.
    hold: bool = False
    #: mox's per-message transport name; "" is the default (local delivery in localserve).
    transport: str = ""


class _Record(msgspec.Struct, kw_only=True, omit_defaults=True):
    op: str  # "put" (new entry) | "update" (only if the entry still exists) | "remove" | "sent" | "next"
    entry: Entry | None = None
    id: int = 0
    account: str = ""  # "sent"
    t: float = 0.0  # "sent"
    rcpt: str = ""  # "sent": the recipient (canonical); "" in records from before recipients were kept
    token: str = ""  # "next": the queue's incarnation (delivery keys)


#: How long "sent" records are kept (the daily outgoing limits look back 24 hours). Beyond that,
#: the first record of each recipient stays (for "first-time recipient"), as mox keeps its
#: store.Outgoing records.
SENT_KEEP = 24 * 3600

#: (time, account, recipient) of one submitted recipient, the unit of mox's daily limits.
Sent = tuple[float, str, str]


_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder(_Record)


class QueueStore:
    """Synchronous; the Queue calls it from a worker thread for the fsyncs."""

    def __init__(self, data_dir: Path | str, *, fsync: bool = True) -> None:
        self.dir = Path(data_dir) / "queue"
        self.msg_dir = self.dir / "msg"
        self.journal_path = self.dir / "index.journal"
        self.fsync = fsync
        self.log = mlog.get_logger("queue")
        self.msg_dir.mkdir(parents=True, exist_ok=True)
        self.entries: dict[int, Entry] = {}
        self.next_id = 1
        self.token = ""
        #: Each recipient submitted in the last SENT_KEEP seconds, oldest first.
        self.sent: collections.deque[Sent] = collections.deque()
        #: (account, recipient) -> when it was first submitted to, ever (mox: first-time recipients).
        self.first_sent: dict[tuple[str, str], float] = {}
        self._load()
        self._journal = open(self.journal_path, "ab", buffering=0)
        self._journal_size = self._journal.seek(0, os.SEEK_END)
        self._broken = False

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
                if rec.op == "put" and rec.entry is not None:
                    self.entries[rec.entry.id] = rec.entry
                    self.next_id = max(self.next_id, rec.entry.id + 1)
                elif rec.op == "next":
                    self.next_id = max(self.next_id, rec.id)
                    self.token = self.token or rec.token
                elif rec.op == "sent":
                    self._add_sent([(rec.t, rec.account, rec.rcpt)])
                elif rec.op == "update" and rec.entry is not None and rec.entry.id in self.entries:
                    self.entries[rec.entry.id] = rec.entry
                elif rec.op == "remove":
                    self.entries.pop(rec.id, None)
        if self.entries:
            self.next_id = max(self.next_id, max(self.entries) + 1)
        self.sent = collections.deque(sorted(self.sent))
        self.prune_sent(time.time() - SENT_KEEP)
        # Files no entry references (crash between file write and journal record) are removed.
        used = {e.file for e in self.entries.values()}
        for p in self.msg_dir.iterdir():
            if p.name not in used:
                try:
                    p.unlink()
                except OSError:
                    pass
        for name in used:
            if name.isdigit():
                self.next_id = max(self.next_id, int(name) + 1)
        had_token = bool(self.token)
        if not had_token:
            self.token = os.urandom(6).hex()
        # Compact: rewrite the live entries through a temp file.
        tmp = self.dir / "index.journal.tmp"
        lines = [_enc.encode(_Record(op="next", id=self.next_id, token=self.token))]
        # The window's records, and the first record of each recipient from before the window.
        window_start = self.sent[0][0] if self.sent else math.inf
        lines += [
            _enc.encode(_Record(op="sent", account=a, rcpt=r, t=first))
            for (a, r), first in sorted(self.first_sent.items(), key=lambda kv: kv[1])
            if first < window_start
        ]
        lines += [_enc.encode(_Record(op="sent", account=a, rcpt=r, t=t)) for t, a, r in self.sent]
        lines += [_enc.encode(_Record(op="put", entry=e)) for e in sorted(self.entries.values(), key=lambda e: e.id)]
        try:
            with open(tmp, "wb", buffering=0) as f:
                write_all(f, b"".join(line + b"\n" for line in lines), tmp)
                if self.fsync:
                    os.fsync(f.fileno())
            os.replace(tmp, self.journal_path)
        except OSError as e:
            remove_quietly(tmp)
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
            return
        if self.fsync:
            fsync_dir(self.dir)

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
        self._journal.close()

    def allocate_ids(self, n: int) -> list[int]:
        ids = list(range(self.next_id, self.next_id + n))
        self.next_id += n
        return ids

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
        return (self.msg_dir / entry.file).read_bytes()

    def write_journal(self, puts: list[Entry] = (), updates: list[Entry] = (), removes: list[int] = (), sent: list[Sent] = ()) -> None:  # type: ignore[assignment]
        """Append and fsync the records (one writer at a time; the Queue group-commits)."""
        records = (
            [_Record(op="put", entry=e) for e in puts]
            + [_Record(op="update", entry=e) for e in updates]
            + [_Record(op="remove", id=i) for i in removes]
            + [_Record(op="sent", account=a, rcpt=r, t=t) for t, a, r in sent]
        )
        if not records:
            return
        if self._broken:
            raise OSError("queue journal unusable after an earlier failure; restart mox")
        if puts and self.fsync:
            fsync_dir(self.msg_dir)  # new message files' names are durable before their records
        data = b"".join(_enc.encode(r) + b"\n" for r in records)
        try:
            write_all(self._journal, data, self.journal_path)
            if self.fsync:
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

    def remove_message_file(self, name: str) -> None:
        """Remove a message file no entry refers to (its records could not be written)."""
        if not any(e.file == name for e in self.entries.values()):
            remove_quietly(self.msg_dir / name)

    def _add_sent(self, sent: list[Sent]) -> None:
        self.sent.extend(sent)
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
        window = [r for t, a, r in self.sent if a == account and t > since]
        n = len(window) + len(recipients)
        if msgmax is not None and n > msgmax:
            return msgmax, None
        # As mox: first-time recipients are only counted once there are enough messages.
        if rcptmax is None or n < rcptmax:
            return None, None
        firsttime = sum(1 for r in recipients if (account, r) not in self.first_sent)
        firsttime += sum(1 for r in set(window) if r and self.first_sent.get((account, r), -math.inf) > since)
        if firsttime > rcptmax:
            return None, rcptmax
        return None, None

    def prune_sent(self, before: float) -> None:
        while self.sent and self.sent[0][0] < before:
            self.sent.popleft()

    def apply(self, puts: list[Entry] = (), updates: list[Entry] = (), removes: list[int] = (), sent: list[Sent] = ()) -> None:  # type: ignore[assignment]
        """Apply committed records to the in-memory state; delete files nothing references."""
        self._add_sent(sent)
        if sent:
            self.prune_sent(sent[0][0] - SENT_KEEP)  # bounded memory while no limit asks
        for e in puts:
            self.entries[e.id] = e
        for e in updates:
            if e.id in self.entries:
                self.entries[e.id] = e
        files = {self.entries.pop(i).file for i in removes if i in self.entries}
        if files:
            still = {e.file for e in self.entries.values()}
            for name in files - still:
                try:
                    (self.msg_dir / name).unlink()
                except OSError:
                    pass

    def put(self, entries: list[Entry]) -> None:
        """New entries, or replaced ones (synchronous: write, fsync, apply)."""
        self.write_journal(puts=entries)
        self.apply(puts=entries)

    def update(self, entries: list[Entry]) -> None:
        entries = [e for e in entries if e.id in self.entries]
        self.write_journal(updates=entries)
        self.apply(updates=entries)

    def remove(self, ids: list[int]) -> None:
        ids = [i for i in ids if i in self.entries]
        self.write_journal(removes=ids)
        self.apply(removes=ids)
