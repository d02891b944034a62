"""Opening an account's index: the snapshot, then the journal's transactions after it.

A torn or corrupt journal tail (a crash during an unacknowledged write) is cut off and logged; a
journal whose header is incomplete is started anew. Without a clean-close marker at the end of
the journal (a crash), message files that no record refers to are removed.
"""

from __future__ import annotations

from pathlib import Path

from mox.store import layout
from mox.store.errors import StoreError
from mox.store.holding import HeldRemovals
from mox.store.index import JOURNAL_MAGIC, JournalWriter, create_journal, read_snapshot, scan_journal
from mox.store.schema import Closed


class Recovery(HeldRemovals):
    """Loading the index from disk."""

    def _load(self) -> None:
        self.files.remove_temporary()
        data, problem, valid_end, clean, marker_at = self._replay()
        jpath = self.path / layout.JOURNAL_NAME
        self._durable_seq = self._synced_seq = self._seq
        if valid_end < len(JOURNAL_MAGIC):
            # No usable header (torn while being created): start an empty journal.
            self._log.warn("journal header incomplete, journal restarted", dropped_bytes=len(data))
            create_journal(jpath, self.files.tmp_path("journal"), b"", fsync=self.store.fsync)
            self._journal = JournalWriter(jpath, fsync=self.store.fsync)
        else:
            self._journal = JournalWriter(jpath, fsync=self.store.fsync)
            if problem is not None or valid_end < len(data):
                self._log.warn(
                    "journal tail cut off",
                    reason=problem,
                    valid_bytes=valid_end,
                    dropped_bytes=len(data) - valid_end,
                    seq=self._seq,
                )
                self._journal.truncate(valid_end)
        self._clean_at = self._seq if clean and problem is None else -1
        self._clean_marker_at = marker_at
        if not clean or problem is not None:
            # Not closed cleanly: files of uncommitted writes, or of expunged messages whose
            # removal was interrupted, may be left. Nothing refers to them.
            strays = self._stray_files()
            for p in strays:
                p.unlink(missing_ok=True)
            if strays:
                self._log.info("removed stray message files", count=len(strays))

    def _replay(self) -> tuple[bytes, str | None, int, bool, int]:
        """Load the snapshot and the journal's transactions after it into the (empty) index.
        Returns the journal bytes, why reading stopped early (None: it did not), the offset up
        to which the journal is valid, whether it ends with a clean-close marker, and the offset
        at which that marker starts."""
        snap_path = self.path / layout.SNAPSHOT_NAME
        snap = read_snapshot(snap_path)
        if snap is not None:
            self._snapshot_size = snap_path.stat().st_size
            self._load_snapshot(snap)
        jpath = self.path / layout.JOURNAL_NAME
        try:
            with open(jpath, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            if snap is None:
                raise StoreError(f"account {self.name!r} has no index") from None
            data = b""
        scan = scan_journal(data)
        valid_end = scan.valid_end
        problem = scan.problem
        prev_end = len(JOURNAL_MAGIC)
        clean = False
        marker_at = -1
        for txn, end in scan.txns:
            if isinstance(txn, Closed):
                clean = True
                marker_at = prev_end
                prev_end = end
                continue
            clean = False
            if txn.seq <= self._seq:
                prev_end = end
                continue  # already in the snapshot
            if txn.seq != self._seq + 1:
                problem = f"transaction sequence gap: {self._seq} then {txn.seq}"
                valid_end = prev_end
                break
            for rec in txn.records:
                self._apply(rec)
            for k in txn.keys:
                self._keys[k.key] = k
            self._seq = txn.seq
            self._next_id = max(self._next_id, txn.next_id)
            self._last_modseq = max(self._last_modseq, txn.last_modseq)
            self._next_uidvalidity = max(self._next_uidvalidity, txn.next_uidvalidity)
            prev_end = end
        return data, problem, valid_end, clean, marker_at

    def _stray_files(self) -> list[Path]:
        """Files under msg/ that belong to no message (and to no write in progress)."""

        def needed(id: int) -> bool:
            m = self._by_id.get(id)
            return (m is not None and not m.expunged) or id in self._inflight or self._still_needed(id)

        return self.files.strays(needed)

    def _leave_clean_locked(self) -> None:
        """Before a message file is placed: files go to disk before their transaction, so while
        the journal still ends with the clean-close marker a crash would leave the file where
        no open looks for strays. The marker is cut off first (durably), once per open."""
        if self._clean_at == -1:
            return
        if self._clean_at == self._seq and self._journal is not None and self._clean_marker_at >= 0:
            self._journal.truncate(self._clean_marker_at)
        self._clean_at = -1
