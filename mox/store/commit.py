"""Durable writes: group commit of journal transactions, change broadcast, snapshots.

A write computes its records under the lock, applies them to memory (``_apply``), appends the
encoded transaction to ``_pending`` and waits until a flusher wrote and fsynced it. One writer at
a time is the flusher: it takes every pending transaction, writes them with one fsync while the
lock is released (group commit), then broadcasts their changes in commit order and wakes all
waiters.

What must be fsynced before the caller answers is decided per operation (docs/durability.md):
new mail (deliveries, APPEND, COPY, MOVE), mailboxes, the password and delivery keys wait for the
fsync (``sync=True``); flag changes, expunges, subscriptions, metadata and thread settings wait
only until the journal write is done (``sync=False``): a crash of the process loses none of
them, a crash of the machine may lose the last ``SYNC_DELAY`` seconds of them, never a message.
Their fsync is shared with the next synced write or made by a timer ``SYNC_DELAY`` later.
``_durable_seq`` is the last transaction written to the journal, ``_synced_seq`` the last one
fsynced. A journal write that fails for a full disk drops what is not durable and reloads the
index from disk (``_drop_pending_locked``); any other failure makes the account refuse writes.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple, TypeVar

from mox.store import layout
from mox.store.changes import HOLDING
from mox.store.errors import DiskFull, StoreError
from mox.store.index import encode_snapshot, encode_txn, write_snapshot
from mox.store.memindex import replace
from mox.store.recovery import Recovery
from mox.store.schema import DeliveryKey, Message, Snapshot, SnapshotMailbox, Txn

#: How long delivery keys are remembered (seconds). A key only matters until the queue has
#: removed its entry, which normally follows the delivery within milliseconds; after a crash,
#: when the queue runs again. 30 days covers any realistic downtime.
DELIVERY_KEY_KEEP = 30 * 24 * 3600

#: At most this long (seconds) a transaction written without its own fsync waits for one.
SYNC_DELAY = 1.0

_T = TypeVar("_T")


def space_errors(fn: Callable[..., _T]) -> Callable[..., _T]:
    """A write method whose full-disk OSError (ENOSPC/EDQUOT from writing a message file, a
    directory, a snapshot) is raised as DiskFull; the method has undone its partial work."""

    @functools.wraps(fn)
    def wrapper(self: Commit, *args, **kwargs) -> _T:
        try:
            return fn(self, *args, **kwargs)
        except OSError as e:
            if layout.is_disk_full(e):
                raise DiskFull(f"account {self.name!r}: disk full: {e.strerror}") from e
            raise

    return wrapper


class Pending(NamedTuple):
    """A transaction applied to memory and waiting to be written: its encoded frame, the changes
    to broadcast once written, the session that made it, its records (to undo its new message
    files when it is dropped), the account's modseq after it (the subscribers' mark) and whether
    it needs the fsync before its writer goes on; the directories of its new message files."""

    seq: int
    data: bytes
    changes: list
    origin: object
    records: list
    modseq: int
    sync: bool = True
    dirs: frozenset[Path] = frozenset()  # of its new message files: fsynced before the journal


class Commit(Recovery):
    """Making transactions durable, broadcasting them, writing snapshots."""

    def _check_writable(self) -> None:
        if self._closed:
            raise StoreError(f"account {self.name!r} is closed")
        if self._failed is not None:
            raise StoreError(f"account {self.name!r} index write failed earlier; reopen it") from self._failed

    def _wait_durable_locked(self, seq: int, epoch: int, sync: bool = True) -> None:
        """Wait until transaction ``seq`` is written (and with ``sync`` fsynced), flushing
        what is pending when no other writer does."""
        while True:
            if self._epoch != epoch:
                # Dropped with the others pending when a journal write found the disk full.
                raise DiskFull(f"account {self.name!r}: disk full, nothing stored")
            if (self._synced_seq if sync else self._durable_seq) >= seq:
                return
            if self._failed is not None:
                raise StoreError("index write failed") from self._failed
            if self._flushing:
                self._cond.wait()
                continue
            self._flush_locked(sync)

    def _flush_locked(self, sync: bool = True) -> None:
        self._flushing = True
        batch, self._pending = self._pending, []
        data = b"".join(p.data for p in batch)
        need_sync = sync or any(p.sync for p in batch)
        dirs = {d for p in batch for d in p.dirs}
        err: BaseException | None = None
        self._cond.release()
        try:
            assert self._journal is not None
            # The directory entries of the batch's new message files, one fsync per directory
            # for all its writers, before the records that refer to them.
            if self.store.fsync:
                for d in sorted(dirs):
                    layout.fsync_dir(d)
            if data:
                self._journal.append(data, sync=need_sync)
            elif need_sync:
                self._journal.sync()
        except BaseException as e:
            err = e
        finally:
            self._cond.acquire()
            self._flushing = False
        if err is not None:
            assert self._journal is not None
            if data and layout.is_disk_full(err) and not self._journal.broken:
                self._drop_pending_locked(batch, err)
                raise DiskFull(f"account {self.name!r}: disk full, nothing stored") from err
            self._failed = err
            self._log.error("journal write failed", err=repr(err))
            self._cond.notify_all()
            raise StoreError("index write failed") from err
        if batch:
            self._durable_seq = batch[-1].seq
        if need_sync:
            self._synced_seq = self._durable_seq
        elif self._synced_seq < self._durable_seq and self._sync_timer is None:
            self._sync_timer = threading.Timer(SYNC_DELAY, self._sync_later)
            self._sync_timer.daemon = True
            self._sync_timer.start()
        for p in batch:
            self._broadcast_locked(p.changes, p.origin, p.modseq)
        self._cond.notify_all()

    def _sync_later(self) -> None:
        """The timer's fsync of transactions written without one (see the module doc)."""
        with self._cond:
            self._sync_timer = None
            if self._closed or self._failed is not None or self._synced_seq >= self._durable_seq:
                return
            try:
                self._wait_durable_locked(self._durable_seq, self._epoch)
            except StoreError:
                pass  # logged by the flush; the account refuses writes (or a full disk was handled)

    def remove_released_files(self) -> None:
        """As HeldRemovals', once the removals are fsynced: the files go only after their
        removal is durable (a crash of the machine never finds a record whose file is gone).
        When that fsync fails, the files stay (strays for the next open)."""
        with self._cond:
            if not self._unlink:
                return
            if self._synced_seq < self._durable_seq and not self._closed and self._failed is None:
                try:
                    self._wait_durable_locked(self._durable_seq, self._epoch)
                except StoreError:
                    return  # logged by the flush
        super().remove_released_files()

    def _drop_pending_locked(self, batch: list[Pending], err: BaseException) -> None:
        """After a journal write failed for a full disk (the journal was cut back to its last
        durable frame): drop every transaction not yet durable and reload the index from disk,
        the state a restart at this moment would find. Counters and UIDNEXTs keep their higher
        values, so nothing handed out meanwhile is handed out again."""
        dropped = batch + self._pending
        self._pending = []
        self._epoch += 1
        # Removals in the dropped transactions never happened: their messages are live again
        # after the reload (and keep their files). Broadcast removals are all durable.
        for id in [id for id in self._removed if id not in self._removed_refs]:
            m = self._removed.pop(id)
            if self._removed_uid.get((m.mailbox_id, m.uid)) == id:
                del self._removed_uid[(m.mailbox_id, m.uid)]
        counters = (self._next_id, self._last_modseq, self._next_uidvalidity)
        uidnexts = {mb.id: mb.uidnext for mb in self._mailboxes.values()}
        self._reset_index()
        try:
            _, problem, _, _, _ = self._replay()
        except BaseException as e:
            self._failed = e
            self._log.error("reloading index after full disk failed", err=repr(e))
            self._cond.notify_all()
            raise
        if problem is not None or self._seq != self._durable_seq:
            self._failed = StoreError(f"index on disk unexpected after full disk: {problem}, seq {self._seq}")
            self._log.error("reloading index after full disk", err=str(self._failed))
            self._cond.notify_all()
            raise self._failed
        self._next_id = max(self._next_id, counters[0])
        self._last_modseq = max(self._last_modseq, counters[1])
        self._next_uidvalidity = max(self._next_uidvalidity, counters[2])
        for id, uidnext in uidnexts.items():
            mb = self._mailboxes.get(id)
            if mb is not None and mb.uidnext < uidnext:
                self._mailboxes[id] = replace(mb, uidnext=uidnext)
        added = [
            r.id for p in dropped for r in p.records if isinstance(r, Message) and not r.expunged and r.id not in self._by_id
        ]
        self.files.remove(added)
        # A warning, not an error: handled (nothing lost, the account goes on); the admin
        # must free space, which the protocols report to clients too.
        self._log.warn(
            "disk full: journal write failed, unwritten transactions dropped",
            err=str(err),
            transactions=len(dropped),
            messages=len(added),
            seq=self._seq,
        )
        self._cond.notify_all()

    def _broadcast_locked(self, changes: list, origin, modseq: int) -> None:
        """Give a durable transaction's changes to every subscriber but ``origin`` (every one
        gets the new mark), and count the holders of its removals (changes.py)."""
        holding = [ch for ch in changes if isinstance(ch, HOLDING) and ch.message_ids]
        holders: dict[int, int] = {}
        for sub in self._subscribers:
            if sub is origin:
                sub._push([], modseq, [])
                continue
            held = [ch for ch in holding if sub.hold_mailbox == ch.mailbox_id]
            if sub._push(changes, modseq, held):
                for ch in held:
                    holders[id(ch)] = holders.get(id(ch), 0) + 1
        for ch in holding:
            n = holders.get(id(ch), 0)
            for mid in ch.message_ids:
                if n:
                    self._removed_refs[mid] = n
                else:
                    self._forget_removed_locked(mid)

    def _transact_applied(
        self, records: list, changes: list, origin, keys: list[DeliveryKey] = (), *, sync: bool = True,  # type: ignore[assignment]
        dirs: Iterable[Path] = (),
    ) -> None:
        """Queue records already applied to memory (and delivery keys, applied here) and wait
        until written to the journal and, with ``sync``, fsynced (lock held; see the module
        doc for which operations need the fsync)."""
        self._seq += 1
        txn = Txn(self._seq, self._next_id, self._last_modseq, self._next_uidvalidity, records, list(keys))
        for k in keys:
            self._keys[k.key] = k
        self._pending.append(
            Pending(self._seq, encode_txn(txn), changes, origin, records, self._last_modseq, sync, frozenset(dirs))
        )
        self._wait_durable_locked(txn.seq, self._epoch, sync)

    def _after_commit(self) -> None:
        """Maintenance after a write: files of removed messages nobody shows any more; a
        snapshot when the journal outgrew the last snapshot. The write itself is durable: a
        snapshot failing for a full disk is only logged (the journal stays valid; the next
        attempt waits until it grew by another threshold)."""
        if self._unlink:
            self.remove_released_files()
        j = self._journal
        if j is not None and j.size > max(self.store.snapshot_threshold, self._snapshot_size // 4, self._snapshot_retry_at):
            try:
                self.snapshot()
            except DiskFull as e:
                self._log.warn("snapshot skipped", err=str(e))

    @space_errors
    def snapshot(self) -> None:
        """Write a snapshot of the whole index and restart the journal (blocks writers briefly).
        Called automatically when the journal outgrows ``max(store.snapshot_threshold, last
        snapshot size / 4)`` (bounding both the replay at open and the amortised snapshot cost
        per write), and at close when the journal is larger than ``store.snapshot_on_close``."""
        with self._cond:
            while self._flushing:
                self._cond.wait()
            self._check_writable()
            self._flushing = True
            batch, self._pending = self._pending, []
            try:
                boxes = [
                    SnapshotMailbox(self._mailboxes[i], list(self._live[i].values()), list(self._tombs[i].values()))
                    for i in sorted(self._mailboxes)
                ]
                nmsgs = len(self._by_id)
                cutoff = time.time() - DELIVERY_KEY_KEEP
                self._keys = {k: v for k, v in self._keys.items() if v.t >= cutoff}
                snap = Snapshot(
                    self._seq, self._next_id, self._last_modseq, self._next_uidvalidity, boxes, self._password,
                    list(self._keys.values()),
                    sorted(self._subs),
                    [a for _, e in sorted(self._annotations.items()) for _, a in sorted(e.items())],
                )  # fmt: skip
                data = encode_snapshot(snap)
            except BaseException:
                self._pending = batch + self._pending
                self._flushing = False
                self._cond.notify_all()
                raise
        assert self._journal is not None
        written = False
        err: BaseException | None = None
        try:
            if self.store.fsync:
                for d in sorted({d for p in batch for d in p.dirs}):
                    layout.fsync_dir(d)  # the batch's new files, before the snapshot has them
            write_snapshot(
                self.path / layout.SNAPSHOT_NAME, self.files.tmp_path("snapshot"), data, fsync=self.store.fsync
            )
            written = True
            self._journal.restart(self.files.tmp_path("journal"))
        except BaseException as e:
            err = e
        with self._cond:
            self._flushing = False
            if err is not None and not written and layout.is_disk_full(err):
                # The journal is as it was: its pending transactions are written by the next
                # flusher, and the next snapshot waits until the journal grew some more.
                self._pending = batch + self._pending
                self._snapshot_retry_at = self._journal.size + max(self.store.snapshot_threshold, 0)
                self._cond.notify_all()
                raise DiskFull(f"account {self.name!r}: disk full writing snapshot") from err
            if err is not None and (not written or self._journal.broken):
                self._failed = err
                self._log.error("snapshot failed", err=repr(err))
                self._cond.notify_all()
                raise StoreError("snapshot failed") from err
            # The snapshot is durable and holds the batch. When the journal could not be
            # restarted, the old one stays in use (its transactions up to the snapshot's are
            # skipped at open).
            self._snapshot_size = len(data)
            self._snapshot_retry_at = 0 if err is None else self._journal.size + max(self.store.snapshot_threshold, 0)
            self._clean_at = -1
            self._durable_seq = max(self._durable_seq, snap.seq)
            self._synced_seq = max(self._synced_seq, snap.seq)  # the snapshot was fsynced
            for p in batch:
                self._broadcast_locked(p.changes, p.origin, p.modseq)
            self._cond.notify_all()
        if err is not None:
            self._log.warn("snapshot written, journal not restarted", err=repr(err))
        self._log.debug("snapshot written", seq=snap.seq, bytes=len(data), messages=nmsgs)
