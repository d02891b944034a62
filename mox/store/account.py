"""An account: its in-memory index, the write path with group commit, and change broadcast.

Invariants (keep them true when changing this file):

- All index state lives in ``Account`` attributes and is changed only by ``_apply`` (replay and
  live writes use the same code), while holding ``_cond``'s lock.
- A write computes records under the lock, applies them to memory, appends the encoded
  transaction to ``_pending`` and then waits until a flusher wrote and fsynced it. One writer at a
  time is the flusher: it takes every pending transaction, writes them with one fsync while the
  lock is released (group commit), then broadcasts their changes in commit order and wakes all
  waiters. A write method returns only after its transaction is durable.
- Message files are written, fsynced, renamed into place and their directory fsynced *before*
  the transaction that references them is queued; files of expunged messages are removed only
  after the transaction is durable, and only once no session still shows the message
  (``changes.py``, "holding": ``_removed`` keeps the records as before the removal, with the
  number of subscribers holding each; files nobody holds go to ``_unlink``). A clean close
  removes them all; after a crash they are stray files, removed at open.
- Readers see applied state, which can be ahead of the disk by the transactions being flushed.
- A journal write that fails because the disk is full (ENOSPC/EDQUOT) is undone: the journal is
  cut back to its last durable frame, every transaction not yet durable is dropped (their
  writers get :class:`DiskFull`, their new message files are removed) and the index is reloaded
  from disk, exactly as a restart after a crash at that moment would; ids, modseqs and UIDs
  handed out meanwhile are not reused. Writes work again once space is freed. Any other failed
  journal write makes the account refuse further writes (reopen it to recover).
- A delivery with a key (``deliver_once``: the queue's entry id) records the key in the
  transaction that adds the message; a second delivery with that key stores nothing. Keys are
  kept ``DELIVERY_KEY_KEEP`` seconds (pruned when a snapshot is written).
- The synchronous ``*_sync`` methods block (file and journal fsyncs); the async methods run them
  with ``trio.to_thread.run_sync``, so fsyncs never block the trio thread.
"""

from __future__ import annotations

import functools
import gc
import io
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple, Protocol, TypeVar

import msgspec
import trio

from mox import mlog
from mox.store import layout
from mox.store.changes import (
    HOLDING,
    ChangeAddMailbox,
    ChangeAddUID,
    ChangeFlags,
    ChangeMailboxCounts,
    ChangeMailboxKeywords,
    ChangeRemoveMailbox,
    ChangeRemoveUIDs,
    ChangeRenameMailbox,
    ChangeSubscriber,
    ChangeSubscription,
)
from mox.store.errors import (
    DiskFull,
    Inconsistent,
    InvalidMailboxName,
    MailboxExists,
    MailboxHasChildren,
    MailboxNotFound,
    MessageGone,
    OverQuota,
    StoreError,
)
from mox.store.index import (
    JOURNAL_MAGIC,
    JournalWriter,
    create_journal,
    encode_snapshot,
    encode_txn,
    read_snapshot,
    scan_journal,
    write_snapshot,
)
from mox.auth.password import dummy_record, make_password_record, verify_password
from mox.store.schema import (
    NIL,
    SPECIAL_USE,
    Closed,
    CramMD5State,
    DeliveryKey,
    Expunge,
    FlagsUpdate,
    Mailbox,
    MailboxDelete,
    Message,
    MessageDelete,
    PasswordRecord,
    ScramSecret,
    Snapshot,
    SnapshotMailbox,
    Subscription,
    Txn,
    encode_part,
    keywords_of,
    normalize_flags,
)



class AccountOwner(Protocol):
    """What an Account needs from the Store that opened it (kept as a protocol so the account
    module does not import the store module, which imports it)."""

    data_dir: Path
    fsync: bool
    snapshot_threshold: int
    snapshot_on_close: int
    check_consistency_on_close: bool
    quota: int

    def _release(self, acc: Account) -> None: ...

replace = msgspec.structs.replace

#: How long delivery keys are remembered (seconds). A key only matters until the queue has
#: removed its entry, which normally follows the delivery within milliseconds; after a crash,
#: when the queue runs again. 30 days covers any realistic downtime.
DELIVERY_KEY_KEEP = 30 * 24 * 3600

_T = TypeVar("_T")


def _space_errors(fn: Callable[..., _T]) -> Callable[..., _T]:
    """A write method whose full-disk OSError (ENOSPC/EDQUOT from writing a message file, a
    directory, a snapshot) is raised as DiskFull; the method has undone its partial work."""

    @functools.wraps(fn)
    def wrapper(self: Account, *args, **kwargs) -> _T:
        try:
            return fn(self, *args, **kwargs)
        except OSError as e:
            if layout.is_disk_full(e):
                raise DiskFull(f"account {self.name!r}: disk full: {e.strerror}") from e
            raise

    return wrapper


class Upload:
    """A message being received in parts (an IMAP APPEND literal), written to a temporary file as
    it arrives (see ``Account.new_upload``). ``write`` blocks (call it from a worker thread);
    a failed write (e.g. ENOSPC) is kept in ``error``, later data is dropped, and delivering
    the upload raises it. ``discard`` removes the file unless it became a message."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0
        self.error: OSError | None = None
        self.placed = False
        self._f: io.FileIO | None = None
        try:
            self._f = open(path, "wb", buffering=0)
        except OSError as e:  # e.g. a full disk: the data is taken and dropped, delivery fails
            self.error = e

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.error is not None or self._f is None or self._f.closed:
            self.size += len(data)
            return
        try:
            layout.write_all(self._f, data, self.path)
        except OSError as e:
            self.error = e
            self._f.close()
            layout.remove_quietly(self.path)
        self.size += len(data)

    def finish(self, *, fsync: bool = True) -> None:
        """Close the file after the last write (fsynced); raises the error of a failed write."""
        if self.error is not None:
            raise self.error
        if self._f is not None and not self._f.closed:
            try:
                if fsync:
                    os.fsync(self._f.fileno())
            finally:
                self._f.close()

    def read(self) -> bytes:
        with open(self.path, "rb") as f:
            return f.read()

    def discard(self) -> None:
        if self._f is not None and not self._f.closed:
            self._f.close()
        if not self.placed:
            layout.remove_quietly(self.path)


class _Pending(NamedTuple):
    """A transaction applied to memory and waiting to be written: its encoded frame, the changes
    to broadcast once durable, the session that made it, its records (to undo its new message
    files when it is dropped) and the account's modseq after it (the subscribers' mark)."""

    seq: int
    data: bytes
    changes: list
    origin: object
    records: list
    modseq: int

DEFAULT_MAILBOXES = (
    ("Inbox", None),
    ("Archive", r"\Archive"),
    ("Drafts", r"\Drafts"),
    ("Junk", r"\Junk"),
    ("Sent", r"\Sent"),
    ("Trash", r"\Trash"),
)

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
try:
    import msvcrt
except ImportError:  # POSIX
    msvcrt = None  # type: ignore[assignment]

# Windows has no flock: the first byte of this file in the account dir is locked instead.
LOCK_NAME = "account.lock"

# Account directories open in this process (flock alone does not cover Windows).
_open_paths: set[str] = set()
_open_paths_lock = threading.Lock()


def normalize_mailbox_name(name: str) -> str:
    """``INBOX`` in any case, also as the first level (``inbox/x``), becomes ``Inbox``."""
    if name.lower() == "inbox":
        return "Inbox"
    if name[:6].lower() == "inbox/":
        return "Inbox/" + name[6:]
    return name


def check_mailbox_name(name: str) -> str:
    """Normalise and validate a mailbox name for creating or renaming; raises InvalidMailboxName."""
    import unicodedata

    name = normalize_mailbox_name(name)
    if not name:
        raise InvalidMailboxName("empty mailbox name")
    if name.startswith("/") or name.endswith("/") or "//" in name:
        raise InvalidMailboxName(f"empty hierarchy level in mailbox name {name!r}")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in name):
        raise InvalidMailboxName("control character in mailbox name")
    if "%" in name or "*" in name:
        raise InvalidMailboxName("wildcard in mailbox name")
    if name.startswith("#"):
        raise InvalidMailboxName("mailbox name cannot start with #")
    if unicodedata.normalize("NFC", name) != name:
        raise InvalidMailboxName("mailbox name not in NFC form")
    # Mailbox names become directory names in exports: no backslash, drive or device name.
    from mox.names import mailbox_name_problem

    problem = mailbox_name_problem(name)
    if problem is not None:
        raise InvalidMailboxName(problem)
    return name


def _with_counts(mb: Mailbox, flags: tuple[str, ...], size: int, sign: int) -> Mailbox:
    seen = r"\Seen" in flags
    deleted = r"\Deleted" in flags
    return replace(
        mb,
        total=mb.total + (0 if deleted else sign),
        deleted=mb.deleted + (sign if deleted else 0),
        unread=mb.unread + (0 if seen or deleted else sign),
        unseen=mb.unseen + (0 if seen else sign),
        size=mb.size + sign * size,
    )


def _with_keywords(mb: Mailbox, flags: tuple[str, ...]) -> Mailbox:
    kw = keywords_of(flags)
    if not kw or all(k in mb.keywords for k in kw):
        return mb
    return replace(mb, keywords=tuple(sorted(set(mb.keywords).union(kw))))


class Account:
    """One account's index and message files. Get it from ``Store.open_account``; shared and
    reference counted, ``close()`` gives the reference back."""

    def __init__(self, store: AccountOwner, name: str) -> None:
        self.store = store
        self.name = name
        self.path = layout.account_dir(store.data_dir, name)
        self.quota: int | None = None  # bytes; None: the store's quota; 0: unlimited
        self._log = mlog.get_logger("store").with_(account=name)
        self._cond = threading.Condition(threading.Lock())
        self._refs = 0
        self._closed = False
        self._lockfd: int | None = None
        self._lock_key: str | None = None
        self._reset_index()
        # Commit machinery.
        self._pending: list[_Pending] = []
        self._epoch = 0  # raised when pending transactions are dropped (full disk)
        self._flushing = False
        self._durable_seq = 0
        self._failed: BaseException | None = None
        self._subscribers: list[ChangeSubscriber] = []
        self._journal: JournalWriter | None = None
        self._snapshot_size = 0
        self._snapshot_retry_at = 0  # journal size before which a failed snapshot is not retried
        self._dirs_made: set[str] = set()
        self._inflight: set[int] = set()  # ids with a message file placed, not yet committed
        # Removed messages still shown by some session (see changes.py, "holding").
        self._removed: dict[int, Message] = {}  # id -> record as before the removal
        self._removed_uid: dict[tuple[int, int], int] = {}  # (mailbox id, uid) -> id
        self._removed_refs: dict[int, int] = {}  # id -> subscribers holding it (set when broadcast)
        self._unlink: list[int] = []  # ids whose files nobody needs any more
        self._unlinking: set[int] = set()  # ids whose files are being removed
        self._clean_at = -1  # seq at which the journal ends with a Closed marker

    # ----------------------------------------------------------------------------- open/close

    def _open(self) -> None:
        t0 = time.monotonic()
        self._lock_dir()
        # Loading creates an object per message and record: pause the cyclic GC meanwhile (it
        # would otherwise run many passes over the growing heap; see schema.py on gc=False).
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._load()
        except BaseException:
            self._unlock_dir()
            raise
        finally:
            if was_enabled:
                gc.enable()
        self._log.debug(
            "account opened",
            mailboxes=len(self._mailboxes),
            messages=len(self._by_id),
            seq=self._seq,
            duration_ms=round((time.monotonic() - t0) * 1000, 1),
        )

    def _lock_dir(self) -> None:
        """Refuse a second opener of this account: another Store object in this process, or another
        process (flock on the directory on POSIX, a byte lock on ``account.lock`` on Windows)."""
        key = os.path.realpath(self.path)
        with _open_paths_lock:
            if key in _open_paths:
                raise StoreError(f"account {self.name!r} is in use by another process or Store")
            _open_paths.add(key)
        self._lock_key = key
        if fcntl is None:
            self._lock_windows()
            return
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            self._unlock_dir()
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            self._unlock_dir()
            raise StoreError(f"account {self.name!r} is in use by another process or Store") from e
        self._lockfd = fd

    def _lock_windows(self) -> None:
        if msvcrt is None:
            return
        try:
            fd = os.open(self.path / LOCK_NAME, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
        except OSError:
            self._unlock_dir()
            raise
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # byte 0; fails at once when another handle holds it
        except OSError as e:
            os.close(fd)
            self._unlock_dir()
            raise StoreError(f"account {self.name!r} is in use by another process or Store") from e
        self._lockfd = fd

    def _unlock_dir(self) -> None:
        if self._lockfd is not None:
            if fcntl is None and msvcrt is not None:
                try:  # unlock explicitly: Windows releases a lock of a closed handle only eventually
                    os.lseek(self._lockfd, 0, os.SEEK_SET)
                    msvcrt.locking(self._lockfd, msvcrt.LK_UNLCK, 1)
                except OSError:
                    pass
            os.close(self._lockfd)  # closing releases the flock
            self._lockfd = None
        if self._lock_key is not None:
            with _open_paths_lock:
                _open_paths.discard(self._lock_key)
            self._lock_key = None

    def _tmp_path(self, what: str) -> Path:
        return layout.tmp_dir(self.store.data_dir) / f"store-{self.name}-{what}-{os.getpid()}-{os.urandom(4).hex()}"

    def _load(self) -> None:
        for p in layout.tmp_dir(self.store.data_dir).glob(f"store-{self.name}-*"):
            p.unlink(missing_ok=True)  # left by a crash; nothing refers to them
        data, problem, valid_end, clean = self._replay()
        jpath = self.path / layout.JOURNAL_NAME
        self._durable_seq = self._seq
        if valid_end < len(JOURNAL_MAGIC):
            # No usable header (torn while being created): start an empty journal.
            self._log.warn("journal header incomplete, journal restarted", dropped_bytes=len(data))
            create_journal(jpath, self._tmp_path("journal"), b"", fsync=self.store.fsync)
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
        if not clean or problem is not None:
            # Not closed cleanly: files of uncommitted writes, or of expunged messages whose
            # removal was interrupted, may be left. Nothing refers to them.
            strays = self._stray_files()
            for p in strays:
                p.unlink(missing_ok=True)
            if strays:
                self._log.info("removed stray message files", count=len(strays))

    def _replay(self) -> tuple[bytes, str | None, int, bool]:
        """Load the snapshot and the journal's transactions after it into the (empty) index.
        Returns the journal bytes, why reading stopped early (None: it did not), the offset up
        to which the journal is valid, and whether it ends with a clean-close marker."""
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
        for txn, end in scan.txns:
            if isinstance(txn, Closed):
                clean = True
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
        return data, problem, valid_end, clean

    def _reset_index(self) -> None:
        """The empty index: every attribute of the index state is set here (at construction,
        and when a full disk makes the index reload from disk)."""
        self._mailboxes: dict[int, Mailbox] = {}
        self._by_name: dict[str, int] = {}
        self._live: dict[int, dict[int, Message]] = {}
        self._tombs: dict[int, dict[int, Message]] = {}
        self._by_id: dict[int, Message] = {}
        self._password: PasswordRecord | None = None
        self._subs: set[str] = set()  # subscribed names that are no mailbox (schema.Subscription)
        self._seq = 0
        self._next_id = 1
        self._last_modseq = 1  # the first modseq handed out is 2
        self._next_uidvalidity = 1
        self._disk_usage = 0
        self._keys: dict[str, DeliveryKey] = {}

    def _stray_files(self) -> list[Path]:
        """Files under msg/ that belong to no message (and to no write in progress)."""
        strays: list[Path] = []
        try:
            subdirs = list(os.scandir(self.path / layout.MSG_DIR))
        except FileNotFoundError:
            return strays
        for d in subdirs:
            if not d.is_dir():
                strays.append(Path(d.path))
                continue
            for e in os.scandir(d.path):
                try:
                    id = int(e.name)
                except ValueError:
                    strays.append(Path(e.path))
                    continue
                m = self._by_id.get(id)
                unused = (m is None or m.expunged) and id not in self._inflight and not self._still_needed(id)
                if unused or layout.msg_subdir(id) != d.name:
                    strays.append(Path(e.path))
        return strays

    def _load_snapshot(self, snap: Snapshot) -> None:
        by_id = self._by_id
        usage = 0
        for box in snap.mailboxes:
            mb = box.mailbox
            self._mailboxes[mb.id] = mb
            self._by_name[mb.name] = mb.id
            self._live[mb.id] = {m.uid: m for m in box.messages}
            self._tombs[mb.id] = {m.uid: m for m in box.tombstones}
            by_id.update({m.id: m for m in box.messages})
            by_id.update({m.id: m for m in box.tombstones})
            usage += mb.size
        self._disk_usage = usage
        self._password = snap.password
        self._keys = {k.key: k for k in snap.keys}
        self._subs = set(snap.subscriptions)
        self._seq = snap.seq
        self._next_id = snap.next_id
        self._last_modseq = snap.last_modseq
        self._next_uidvalidity = snap.next_uidvalidity

    def references(self) -> int:
        """How many opens of this account are not closed yet (``Store.open_account``)."""
        return self._refs

    def close(self) -> None:
        """Give back a reference; the last one writes a snapshot if the journal grew, runs the
        consistency check when the store asks for it, and closes the files."""
        self.store._release(self)

    def _close_now(self) -> None:
        if self._closed:
            return
        problems: list[str] = []
        try:
            # Nobody shows removed messages any more (sessions closed, or the store is closing).
            # Only removals that were made durable (and broadcast) count: the file of a message
            # whose removal failed to commit is still its file.
            with self._cond:
                for id in list(self._removed_refs):
                    self._forget_removed_locked(id)
            self.remove_released_files()
            if self._failed is None and self._journal is not None:
                try:
                    with self._cond:
                        if self._pending:  # records that wait for no fsync (claim_recent)
                            self._wait_durable_locked(self._seq, self._epoch)
                    if self._journal.size > max(self.store.snapshot_on_close, 0) + len(JOURNAL_MAGIC):
                        self.snapshot()
                    if self._clean_at != self._seq:  # not when the journal already ends so
                        self._journal.append(encode_txn(Closed(self._seq)))
                except (DiskFull, OSError) as e:
                    if not isinstance(e, DiskFull) and not layout.is_disk_full(e):
                        raise
                    # Everything acknowledged is in the journal; without the marker the next
                    # open looks for stray files, as after a crash.
                    self._log.warn("disk full at close, journal left without clean-close marker", err=str(e))
            if self.store.check_consistency_on_close:
                problems = self.check_consistency()
        finally:
            with self._cond:
                self._closed = True
                subs = list(self._subscribers)
            for s in subs:
                s.close()
            if self._journal is not None:
                self._journal.close()
            self._unlock_dir()
        if problems:
            raise Inconsistent(self.name, problems)

    # ------------------------------------------------------------------------------ applying

    def _apply(self, rec) -> None:
        """Apply one record to the in-memory index (journal replay and live writes)."""
        if isinstance(rec, Message):
            mb = self._mailboxes[rec.mailbox_id]
            self._by_id[rec.id] = rec
            if rec.expunged:
                self._tombs[rec.mailbox_id][rec.uid] = rec
            else:
                self._live[rec.mailbox_id][rec.uid] = rec
                mb = _with_keywords(_with_counts(mb, rec.flags, rec.size, 1), rec.flags)
                self._disk_usage += rec.size
            self._mailboxes[mb.id] = replace(
                mb, uidnext=max(mb.uidnext, rec.uid + 1), highest_modseq=max(mb.highest_modseq, rec.modseq)
            )
        elif isinstance(rec, FlagsUpdate):
            old = self._by_id[rec.id]
            new = replace(old, flags=rec.flags, modseq=rec.modseq)
            self._by_id[rec.id] = new
            self._live[old.mailbox_id][old.uid] = new
            mb = self._mailboxes[old.mailbox_id]
            mb = _with_counts(mb, old.flags, old.size, -1)
            mb = _with_keywords(_with_counts(mb, new.flags, new.size, 1), new.flags)
            self._mailboxes[mb.id] = replace(mb, highest_modseq=max(mb.highest_modseq, rec.modseq))
        elif isinstance(rec, Expunge):
            for id in rec.ids:
                old = self._by_id[id]
                del self._live[old.mailbox_id][old.uid]
                tomb = replace(old, expunged=True, modseq=rec.modseq, flags=(), size=0, part_raw=NIL)
                self._by_id[id] = tomb
                self._tombs[old.mailbox_id][old.uid] = tomb
                mb = _with_counts(self._mailboxes[old.mailbox_id], old.flags, old.size, -1)
                self._mailboxes[mb.id] = replace(mb, highest_modseq=max(mb.highest_modseq, rec.modseq))
                self._disk_usage -= old.size
        elif isinstance(rec, Mailbox):
            old_mb = self._mailboxes.get(rec.id)
            if old_mb is not None and self._by_name.get(old_mb.name) == rec.id:
                del self._by_name[old_mb.name]
            self._mailboxes[rec.id] = rec
            self._by_name[rec.name] = rec.id
            self._subs.discard(rec.name)  # the mailbox's own flag holds its subscription now
            self._live.setdefault(rec.id, {})
            self._tombs.setdefault(rec.id, {})
        elif isinstance(rec, MessageDelete):
            for id in rec.ids:
                old = self._by_id.pop(id)
                if old.expunged:
                    del self._tombs[old.mailbox_id][old.uid]
                else:
                    del self._live[old.mailbox_id][old.uid]
                    self._mailboxes[old.mailbox_id] = _with_counts(
                        self._mailboxes[old.mailbox_id], old.flags, old.size, -1
                    )
                    self._disk_usage -= old.size
        elif isinstance(rec, MailboxDelete):
            mb = self._mailboxes.pop(rec.id)
            if self._by_name.get(mb.name) == rec.id:
                del self._by_name[mb.name]
            for m in self._live.pop(rec.id, {}).values():
                del self._by_id[m.id]
                self._disk_usage -= m.size
            for m in self._tombs.pop(rec.id, {}).values():
                del self._by_id[m.id]
        elif isinstance(rec, PasswordRecord):
            self._password = rec
        elif isinstance(rec, Subscription):
            if rec.subscribed:
                self._subs.add(rec.name)
            else:
                self._subs.discard(rec.name)
        else:  # pragma: no cover
            raise StoreError(f"unknown record {type(rec).__name__}")

    # -------------------------------------------------------------------------------- commit

    def _check_writable(self) -> None:
        if self._closed:
            raise StoreError(f"account {self.name!r} is closed")
        if self._failed is not None:
            raise StoreError(f"account {self.name!r} index write failed earlier; reopen it") from self._failed

    def _wait_durable_locked(self, seq: int, epoch: int) -> None:
        while True:
            if self._epoch != epoch:
                # Dropped with the others pending when a journal write found the disk full.
                raise DiskFull(f"account {self.name!r}: disk full, nothing stored")
            if self._durable_seq >= seq:
                return
            if self._failed is not None:
                raise StoreError("index write failed") from self._failed
            if self._flushing:
                self._cond.wait()
                continue
            self._flush_locked()

    def _flush_locked(self) -> None:
        self._flushing = True
        batch, self._pending = self._pending, []
        data = b"".join(p.data for p in batch)
        err: BaseException | None = None
        self._cond.release()
        try:
            assert self._journal is not None
            self._journal.append(data)
        except BaseException as e:
            err = e
        finally:
            self._cond.acquire()
            self._flushing = False
        if err is not None:
            assert self._journal is not None
            if layout.is_disk_full(err) and not self._journal.broken:
                self._drop_pending_locked(batch, err)
                raise DiskFull(f"account {self.name!r}: disk full, nothing stored") from err
            self._failed = err
            self._log.error("journal write failed", err=repr(err))
            self._cond.notify_all()
            raise StoreError("index write failed") from err
        self._durable_seq = batch[-1].seq
        for p in batch:
            self._broadcast_locked(p.changes, p.origin, p.modseq)
        self._cond.notify_all()

    def _drop_pending_locked(self, batch: list[_Pending], err: BaseException) -> None:
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
            _, problem, _, _ = self._replay()
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
        self._remove_files(added)
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

    # ------------------------------------------------------------------ removed, still shown

    def _keep_removed_locked(self, msgs: Iterable[Message]) -> tuple[int, ...]:
        """Keep the records (and files) of messages being removed until their removal has been
        broadcast and released by every holder; returns their ids for the change."""
        ids = []
        for m in msgs:
            self._removed[m.id] = m
            self._removed_uid[(m.mailbox_id, m.uid)] = m.id
            ids.append(m.id)
        return tuple(ids)

    def _forget_removed_locked(self, id: int) -> None:
        m = self._removed.pop(id, None)
        self._removed_refs.pop(id, None)
        if m is None:
            return
        if self._removed_uid.get((m.mailbox_id, m.uid)) == id:
            del self._removed_uid[(m.mailbox_id, m.uid)]
        self._unlink.append(id)

    def _release(self, changes: list) -> None:
        """Holders give back removals (ChangeSubscriber.release/close)."""
        if not changes:
            return
        with self._cond:
            self._release_locked(changes)

    def _release_locked(self, changes: list) -> None:
        for ch in changes:
            for mid in ch.message_ids:
                n = self._removed_refs.get(mid)
                if n is None:
                    continue
                if n > 1:
                    self._removed_refs[mid] = n - 1
                else:
                    self._forget_removed_locked(mid)

    def _still_needed(self, id: int) -> bool:
        """The file of a removed message that is kept for sessions or about to be removed."""
        return id in self._removed or id in self._unlinking or id in self._unlink

    def removed_message(self, mailbox_id: int, uid: int) -> Message | None:
        """A message removed from the mailbox (expunged, moved) that some session still shows:
        its record as before the removal; its file is still readable. None otherwise."""
        with self._cond:
            id = self._removed_uid.get((mailbox_id, uid))
            return None if id is None else self._removed[id]

    def has_released_files(self) -> bool:
        return bool(self._unlink)

    def remove_released_files(self) -> None:
        """Remove the files of removed messages that no session shows any more (blocking: call
        from a worker thread in the server)."""
        with self._cond:
            if not self._unlink:
                return
            ids, self._unlink = self._unlink, []
            self._unlinking.update(ids)
        try:
            self._remove_files(ids)
        finally:
            with self._cond:
                self._unlinking.difference_update(ids)

    def select_view(self, mailbox_id: int, sub: ChangeSubscriber) -> tuple[Mailbox, list[Message], int]:
        """A session selects a mailbox: the mailbox, its messages and the account's modseq, all
        as of one moment, while the subscriber's pending changes (reflected in that listing) are
        dropped, what it held is released, and from now on it holds removals from this mailbox.
        Changes with a modseq up to the returned one are in the listing."""
        with self._cond:
            mb = self._mailbox_by_id_locked(mailbox_id)
            msgs = list(self._live[mailbox_id].values())
            modseq = self._last_modseq
            sub.drain()
            old = sub._take_held()
            sub.hold_mailbox = mailbox_id
            self._release_locked(old)
        return mb, msgs, modseq

    def unselect_view(self, sub: ChangeSubscriber) -> None:
        """The session no longer shows a mailbox: it releases what it held."""
        with self._cond:
            old = sub._take_held()
            sub.hold_mailbox = None
            self._release_locked(old)

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

    @_space_errors
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
            write_snapshot(
                self.path / layout.SNAPSHOT_NAME, self._tmp_path("snapshot"), data, fsync=self.store.fsync
            )
            written = True
            self._journal.restart(self._tmp_path("journal"))
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
            for p in batch:
                self._broadcast_locked(p.changes, p.origin, p.modseq)
            self._cond.notify_all()
        if err is not None:
            self._log.warn("snapshot written, journal not restarted", err=repr(err))
        self._log.debug("snapshot written", seq=snap.seq, bytes=len(data), messages=nmsgs)

    # ---------------------------------------------------------------------------------- files

    def message_path(self, msg: Message) -> Path:
        return layout.message_path(self.path, msg.id)

    def read_message(self, msg: Message) -> bytes:
        """The message file, byte for byte; MessageGone if it was expunged meanwhile."""
        try:
            with open(layout.message_path(self.path, msg.id), "rb") as f:
                return f.read()
        except FileNotFoundError as e:
            raise MessageGone(f"message {msg.id} is gone (expunged)") from e

    def _ensure_dir(self, id: int) -> Path:
        sub = layout.msg_subdir(id)
        d = self.path / layout.MSG_DIR / sub
        if sub not in self._dirs_made:
            if not d.is_dir():
                d.mkdir(parents=True, exist_ok=True)
                if self.store.fsync:
                    layout.fsync_dir(d.parent)
            self._dirs_made.add(sub)
        return d

    def _place_file(self, id: int, data: bytes) -> Path:
        """Write a new message file durably (tmp, fsync, rename, directory fsync)."""
        d = self._ensure_dir(id)
        path = d / str(id)
        layout.write_file_durable(path, self._tmp_path(str(id)), data, fsync=self.store.fsync)
        return path

    def _place_upload(self, id: int, upload: Upload) -> None:
        """Rename a finished upload into place as message ``id`` and fsync the directory."""
        d = self._ensure_dir(id)
        os.replace(upload.path, d / str(id))
        upload.placed = True
        if self.store.fsync:
            layout.fsync_dir(d)

    def _link_files(self, pairs: list[tuple[int, int]]) -> set[int]:
        """Give message ``dst`` the file of message ``src`` for each pair: a hard link, or a copy
        where links are not possible; then fsync the directories. Returns the sources whose file
        was gone (the message was removed meanwhile and nobody held it)."""
        dirs: set[Path] = set()
        missing: set[int] = set()
        for src, dst in pairs:
            d = self._ensure_dir(dst)
            sp = layout.message_path(self.path, src)
            dp = d / str(dst)
            dp.unlink(missing_ok=True)  # left over from a crashed, uncommitted write
            try:
                os.link(sp, dp)
            except FileNotFoundError:
                missing.add(src)
                continue
            except OSError as e:
                if layout.is_disk_full(e):
                    raise
                try:
                    layout.copy_file_durable(sp, dp, self._tmp_path(str(dst)), fsync=self.store.fsync)
                except FileNotFoundError:
                    missing.add(src)
                    continue
            dirs.add(d)
        if self.store.fsync:
            for d in dirs:
                layout.fsync_dir(d)
        return missing

    def _remove_files(self, ids: Iterable[int]) -> None:
        for id in ids:
            try:
                layout.message_path(self.path, id).unlink(missing_ok=True)
            except OSError as e:
                self._log.error("removing message file", id=id, err=repr(e))

    # ---------------------------------------------------------------------------------- reads

    def mailboxes(self) -> list[Mailbox]:
        with self._cond:
            return sorted(self._mailboxes.values(), key=lambda mb: mb.name)

    def mailbox(self, name: str) -> Mailbox | None:
        with self._cond:
            id = self._by_name.get(normalize_mailbox_name(name))
            return None if id is None else self._mailboxes[id]

    def mailbox_by_id(self, id: int) -> Mailbox | None:
        with self._cond:
            return self._mailboxes.get(id)

    def messages(self, mailbox_id: int) -> list[Message]:
        """Messages of a mailbox (not expunged), ascending uid."""
        with self._cond:
            return list(self._live.get(mailbox_id, {}).values())

    def message(self, mailbox_id: int, uid: int) -> Message | None:
        with self._cond:
            return self._live.get(mailbox_id, {}).get(uid)

    def message_by_id(self, id: int) -> Message | None:
        with self._cond:
            return self._by_id.get(id)

    def first_recent_uid(self, mailbox_id: int) -> int:
        """The lowest UID of the mailbox that no session has taken as \\Recent (RFC 3501 2.3.2):
        messages from it on are \\Recent for the next session that selects the mailbox."""
        with self._cond:
            mb = self._mailboxes.get(mailbox_id)
            return max(mb.first_recent_uid, 1) if mb is not None else 1

    def claim_recent(self, mailbox_id: int, last_uid: int) -> int:
        """Take the messages up to ``last_uid`` as \\Recent for one session (RFC 3501 2.3.2:
        exactly one session is the first to be told of a message). Returns the lowest UID the
        caller gets (the messages from it to ``last_uid``; more than ``last_uid`` when another
        session took them all already).

        The claim is made in memory at once, under the account lock, so concurrent sessions
        never both get a message. Its journal record does not wait for an fsync of its own (a
        SELECT and every new message in a selected mailbox claim): it is written with the next
        transaction, a snapshot or the close. After a crash, claims since the last durable write
        are lost and those messages are \\Recent once more, never lost."""
        with self._cond:
            mb = self._mailboxes.get(mailbox_id)
            if mb is None or self._closed or self._failed is not None:
                return last_uid + 1
            first = max(mb.first_recent_uid, 1)
            if first > last_uid:
                return first
            rec = replace(mb, first_recent_uid=last_uid + 1)
            self._apply(rec)
            self._seq += 1
            txn = Txn(self._seq, self._next_id, self._last_modseq, self._next_uidvalidity, [rec])
            self._pending.append(_Pending(self._seq, encode_txn(txn), [], None, [rec], self._last_modseq))
            return first

    def subscriptions(self) -> list[str]:
        """All subscribed names, sorted: subscribed mailboxes and subscribed names that are no
        mailbox (RFC 9051 6.3.7)."""
        with self._cond:
            names = {mb.name for mb in self._mailboxes.values() if mb.subscribed} | self._subs
        return sorted(names)

    def expunged_uids(self, mailbox_id: int, since_modseq: int) -> list[int]:
        """UIDs of tombstones with modseq > since_modseq, ascending (QRESYNC VANISHED)."""
        with self._cond:
            return sorted(uid for uid, m in self._tombs.get(mailbox_id, {}).items() if m.modseq > since_modseq)

    def highest_modseq(self) -> int:
        """The account's last handed-out modseq."""
        with self._cond:
            return self._last_modseq

    def disk_usage(self) -> int:
        with self._cond:
            return self._disk_usage

    def effective_quota(self) -> int:
        return self.store.quota if self.quota is None else self.quota

    def has_password(self) -> bool:
        return self._password is not None

    def check_password(self, password: str) -> bool:
        """Constant-time check of a PLAIN/LOGIN password (slow by design: run it in a thread)."""
        rec = self._password
        if rec is None:
            verify_password(dummy_record(), password)  # as slow as with a password set
            return False
        return verify_password(rec, password)

    def scram_secrets(self, hash_name: str) -> ScramSecret | None:
        """``"SHA-1"`` or ``"SHA-256"``: salt, iterations and SaltedPassword for SCRAM."""
        rec = self._password
        if rec is None:
            return None
        h = hash_name.upper().replace("_", "-")
        if h in ("SHA-1", "SHA1"):
            return rec.scram_sha1
        if h in ("SHA-256", "SHA256"):
            return rec.scram_sha256
        raise ValueError(f"unknown SCRAM hash {hash_name!r}")

    def cram_md5_state(self) -> CramMD5State | None:
        rec = self._password
        return None if rec is None else rec.cram_md5

    def check_consistency(self) -> list[str]:
        """Problems found by recalculating counts and checking records and files; [] when fine."""
        problems: list[str] = []
        with self._cond:
            usage = 0
            for mb in self._mailboxes.values():
                if mb.uidvalidity >= self._next_uidvalidity:
                    problems.append(f"mailbox {mb.name!r}: uidvalidity {mb.uidvalidity} >= next {self._next_uidvalidity}")
                if self._by_name.get(mb.name) != mb.id:
                    problems.append(f"mailbox {mb.name!r}: name index wrong")
                if "/" in mb.name and mb.name.rsplit("/", 1)[0] not in self._by_name:
                    problems.append(f"mailbox {mb.name!r}: parent missing")
                c = Mailbox(mb.id, mb.name, mb.uidvalidity, keywords=())
                kws: set[str] = set()
                hm = 0
                for uid, m in self._live[mb.id].items():
                    c = _with_counts(c, m.flags, m.size, 1)
                    kws.update(keywords_of(m.flags))
                    hm = max(hm, m.modseq)
                    problems.extend(self._check_message(mb, uid, m))
                    usage += m.size
                for uid, m in self._tombs[mb.id].items():
                    hm = max(hm, m.modseq)
                    problems.extend(self._check_message(mb, uid, m))
                counts = (mb.total, mb.deleted, mb.unread, mb.unseen, mb.size)
                want = (c.total, c.deleted, c.unread, c.unseen, c.size)
                if counts != want:
                    problems.append(
                        f"mailbox {mb.name!r}: counts (total, deleted, unread, unseen, size) {counts} != recalculated {want}"
                    )
                if not kws.issubset(mb.keywords):
                    problems.append(f"mailbox {mb.name!r}: keywords {mb.keywords} miss {sorted(kws - set(mb.keywords))}")
                if mb.first_recent_uid > mb.uidnext:
                    problems.append(f"mailbox {mb.name!r}: first recent uid {mb.first_recent_uid} > uidnext {mb.uidnext}")
                if mb.highest_modseq < hm:
                    problems.append(f"mailbox {mb.name!r}: highest_modseq {mb.highest_modseq} < {hm}")
            if usage != self._disk_usage:
                problems.append(f"disk usage {self._disk_usage} != sum of message sizes {usage}")
            for name in sorted(self._subs & set(self._by_name)):
                problems.append(f"subscription of {name!r} kept apart from its mailbox")
            for p in self._stray_files():
                problems.append(f"stray file {p.relative_to(self.path).as_posix()}")
            n = sum(len(d) for d in self._live.values()) + sum(len(d) for d in self._tombs.values())
            if n != len(self._by_id):
                problems.append(f"{len(self._by_id)} messages by id, {n} in mailboxes")
        return problems

    def _check_message(self, mb: Mailbox, uid: int, m: Message) -> list[str]:
        p = []
        where = f"message {m.id} (mailbox {mb.name!r} uid {uid})"
        if m.uid != uid or m.mailbox_id != mb.id or self._by_id.get(m.id) is not m:
            p.append(f"{where}: indexed wrongly")
        if not 0 < m.createseq <= m.modseq <= self._last_modseq:
            p.append(f"{where}: createseq {m.createseq} modseq {m.modseq} last {self._last_modseq}")
        if m.uid >= mb.uidnext:
            p.append(f"{where}: uid >= uidnext {mb.uidnext}")
        if m.id >= self._next_id:
            p.append(f"{where}: id >= next id {self._next_id}")
        if not m.expunged:
            try:
                st = os.stat(layout.message_path(self.path, m.id))
            except FileNotFoundError:
                p.append(f"{where}: file missing")
            else:
                if st.st_size != m.size:
                    p.append(f"{where}: file size {st.st_size} != {m.size}")
        return p

    def subscribe(self) -> ChangeSubscriber:
        """A new change subscription (call from the trio thread that will ``await wait()``)."""
        sub = ChangeSubscriber(self)
        with self._cond:
            self._subscribers.append(sub)
        return sub

    def _unsubscribe(self, sub: ChangeSubscriber) -> None:
        with self._cond:
            try:
                self._subscribers.remove(sub)
            except ValueError:
                pass

    # --------------------------------------------------------------------------------- writes

    def _mailbox_locked(self, name: str) -> Mailbox:
        id = self._by_name.get(normalize_mailbox_name(name))
        if id is None:
            raise MailboxNotFound(f"no mailbox {name!r}")
        return self._mailboxes[id]

    def _mailbox_by_id_locked(self, id: int) -> Mailbox:
        mb = self._mailboxes.get(id)
        if mb is None:
            raise MailboxNotFound(f"no mailbox with id {id}")
        return mb

    def _check_quota_locked(self, extra: int) -> None:
        q = self.effective_quota()
        if q > 0 and self._disk_usage + extra > q:
            raise OverQuota(f"quota of {q} bytes exceeded (usage {self._disk_usage}, adding {extra})")

    def _next_modseq_locked(self) -> int:
        self._last_modseq += 1
        return self._last_modseq

    @_space_errors
    def set_password_sync(self, password: str) -> None:
        rec = make_password_record(password)
        with self._cond:
            self._check_writable()
            self._apply(rec)
            self._transact_applied([rec], [], None)

    @_space_errors
    def deliver_sync(
        self, mailbox_name: str, data: bytes, *, flags: Iterable[str] = (), received: float | None = None, origin=None,
        before_visible: Callable[[Message], None] | None = None,
    ) -> Message:
        """Store a message. ``before_visible`` is called with its record under the account's
        lock, after every check passed and just before any reader can see the message (keep
        it short; it must not call into the account): what the caller records about the
        message (mox.ci: which SMTP session brought it) is then in place for whoever finds
        it. If it raises, nothing is stored."""
        msg = self._deliver(mailbox_name, data, flags, received, origin, None, before_visible)
        assert msg is not None
        return msg

    @_space_errors
    def deliver_once_sync(
        self, mailbox_name: str, data: bytes, key: str, *, flags: Iterable[str] = (), received: float | None = None,
        before_visible: Callable[[Message], None] | None = None,
    ) -> Message | None:
        """Deliver unless a delivery with ``key`` happened before (then store nothing and return
        None). The key is durable in the same transaction as the message: the queue passes its
        entry id, so a retry after a crash between delivery and dequeue delivers nothing twice.
        ``before_visible``: as for deliver_sync (not called when nothing is stored)."""
        if not key:
            raise ValueError("empty delivery key")
        return self._deliver(mailbox_name, data, flags, received, None, key, before_visible)

    def delivered(self, key: str) -> bool:
        """Whether a delivery with ``key`` is recorded."""
        with self._cond:
            return key in self._keys

    def new_upload(self) -> Upload:
        """A temporary file for a message arriving in parts (an IMAP APPEND literal), in the
        store's tmp directory (the data directory's filesystem): ``deliver_upload`` renames it
        into place, so the message is written once and never held in memory while it arrives."""
        return Upload(self._tmp_path("upload"))

    @_space_errors
    def deliver_upload_sync(
        self, mailbox_name: str, upload: Upload, *, flags: Iterable[str] = (), received: float | None = None, origin=None
    ) -> Message:
        """deliver_sync for a message in an Upload; the upload's file becomes the message file.
        Raises DiskFull when writing the upload had failed for a full disk."""
        upload.finish(fsync=self.store.fsync)
        msg = self._deliver(mailbox_name, upload, flags, received, origin, None)
        assert msg is not None
        return msg

    def _deliver(
        self, mailbox_name, data: bytes | Upload, flags, received, origin, key: str | None,
        before_visible: Callable[[Message], None] | None = None,
    ) -> Message | None:
        nflags = normalize_flags(flags)
        if not isinstance(data, Upload):
            data = bytes(data)
        size = data.size if isinstance(data, Upload) else len(data)
        if received is not None and hasattr(received, "timestamp"):
            received = received.timestamp()  # a datetime
        with self._cond:
            self._check_writable()
            if key is not None and key in self._keys:
                return None
            mbid = self._mailbox_locked(mailbox_name).id
            self._check_quota_locked(size)
            id = self._next_id
            self._next_id += 1
            self._inflight.add(id)
        try:
            return self._deliver_placed(id, mbid, data, size, nflags, received, origin, key, before_visible)
        finally:
            self._inflight.discard(id)

    def _deliver_placed(
        self, id, mbid, data: bytes | Upload, size: int, nflags, received, origin, key: str | None,
        before_visible: Callable[[Message], None] | None,
    ) -> Message | None:
        from mox.message import parse_message

        # The MIME structure needs the whole message once (briefly, in this worker thread).
        part_raw = encode_part(parse_message(data.read() if isinstance(data, Upload) else data))
        queued = False
        try:
            if isinstance(data, Upload):
                self._place_upload(id, data)
            else:
                self._place_file(id, data)
            with self._cond:
                self._check_writable()
                if key is not None and key in self._keys:
                    self._remove_files([id])  # delivered meanwhile by a concurrent retry
                    return None
                mb = self._mailbox_by_id_locked(mbid)
                self._check_quota_locked(size)
                modseq = self._next_modseq_locked()
                now = time.time()
                msg = Message(
                    id, mbid, mb.uidnext, modseq, modseq, nflags, size,
                    now if received is None else float(received), False, part_raw,
                )  # fmt: skip
                if before_visible is not None:
                    before_visible(msg)
                self._apply(msg)
                mb2 = self._mailboxes[mbid]
                changes: list = [ChangeAddUID(mbid, msg.uid, modseq, nflags), ChangeMailboxCounts(mb2)]
                if mb2.keywords != mb.keywords:
                    changes.append(ChangeMailboxKeywords(mbid, mb2.keywords))
                queued = True
                keys = [DeliveryKey(key, id, now)] if key is not None else []
                self._transact_applied([msg], changes, origin, keys)
        except BaseException:
            if not queued:
                self._remove_files([id])
            raise
        self._after_commit()
        return msg

    @_space_errors
    def store_flags_sync(
        self,
        mailbox_id: int,
        uids: Iterable[int],
        mode: str,
        flags: Iterable[str],
        *,
        unchangedsince: int | None = None,
        origin=None,
    ) -> tuple[list[Message], list[int]]:
        if mode not in ("add", "remove", "replace"):
            raise ValueError(f"bad mode {mode!r}")
        fl = set(normalize_flags(flags))
        changed: list[Message] = []
        failed: list[int] = []
        with self._cond:
            self._check_writable()
            mb = self._mailbox_by_id_locked(mailbox_id)
            live = self._live[mailbox_id]
            updates: list[tuple[int, tuple[str, ...]]] = []
            for uid in sorted(set(uids)):
                m = live.get(uid)
                if m is None:
                    continue
                if unchangedsince is not None and m.modseq > unchangedsince:
                    failed.append(uid)  # RFC 7162 3.1.3
                    continue
                cur = set(m.flags)
                new = cur | fl if mode == "add" else cur - fl if mode == "remove" else fl
                nf = normalize_flags(new)
                if nf != m.flags:
                    updates.append((m.id, nf))
            if updates:
                modseq = self._next_modseq_locked()
                records = [FlagsUpdate(id, modseq, nf) for id, nf in updates]
                for rec in records:
                    self._apply(rec)
                changed = [self._by_id[id] for id, _ in updates]
                mb2 = self._mailboxes[mailbox_id]
                changes: list = [ChangeFlags(mailbox_id, m.uid, modseq, m.flags) for m in changed]
                if (mb2.total, mb2.deleted, mb2.unread, mb2.unseen) != (mb.total, mb.deleted, mb.unread, mb.unseen):
                    changes.append(ChangeMailboxCounts(mb2))
                if mb2.keywords != mb.keywords:
                    changes.append(ChangeMailboxKeywords(mailbox_id, mb2.keywords))
                self._transact_applied(records, changes, origin)
        if updates:
            self._after_commit()
        return changed, failed

    def _transact_applied(self, records: list, changes: list, origin, keys: list[DeliveryKey] = ()) -> None:  # type: ignore[assignment]
        """Queue records already applied to memory (and delivery keys, applied here) and wait
        until durable (lock held)."""
        self._seq += 1
        txn = Txn(self._seq, self._next_id, self._last_modseq, self._next_uidvalidity, records, list(keys))
        for k in keys:
            self._keys[k.key] = k
        self._pending.append(_Pending(self._seq, encode_txn(txn), changes, origin, records, self._last_modseq))
        self._wait_durable_locked(txn.seq, self._epoch)

    @_space_errors
    def expunge_sync(self, mailbox_id: int, uids: Iterable[int], origin=None) -> list[int]:
        with self._cond:
            self._check_writable()
            self._mailbox_by_id_locked(mailbox_id)
            live = self._live[mailbox_id]
            msgs = [live[uid] for uid in sorted(set(uids)) if uid in live]
            if not msgs:
                return []
            modseq = self._next_modseq_locked()
            rec = Expunge([m.id for m in msgs], modseq)
            self._apply(rec)
            removed = [m.uid for m in msgs]
            ids = self._keep_removed_locked(msgs)
            changes = [
                ChangeRemoveUIDs(mailbox_id, removed, modseq, ids), ChangeMailboxCounts(self._mailboxes[mailbox_id])
            ]
            self._transact_applied([rec], changes, origin)
        self._after_commit()
        return removed

    def _copy_sync(
        self, src_id: int, uids: Iterable[int], dst_id: int, origin, *, move: bool, new_mailboxes: list[str] = ()
    ) -> tuple[list[tuple[int, int]], list[Mailbox]]:
        """Copy or move messages; for an Inbox rename, ``new_mailboxes`` (the destination and its
        missing parents) are created in the same transaction and ``dst_id`` is ignored."""
        uidset = sorted(set(uids))
        with self._cond:
            self._check_writable()
            self._mailbox_by_id_locked(src_id)
            if not new_mailboxes:
                self._mailbox_by_id_locked(dst_id)
            live = self._live[src_id]
            srcs = [live[uid] for uid in uidset if uid in live]
            if not move:
                self._check_quota_locked(sum(m.size for m in srcs))
            first = self._next_id
            self._next_id += len(srcs)
            self._inflight.update(range(first, first + len(srcs)))
        try:
            return self._copy_placed(src_id, dst_id, srcs, first, origin, move, new_mailboxes)
        finally:
            self._inflight.difference_update(range(first, first + len(srcs)))

    def _copy_placed(self, src_id, dst_id, srcs, first, origin, move, new_mailboxes):
        pairs = [(m.id, first + i) for i, m in enumerate(srcs)]
        queued = False
        try:
            missing = self._link_files(pairs)
            with self._cond:
                self._check_writable()
                self._mailbox_by_id_locked(src_id)
                records: list = []
                changes: list = []
                created: list[Mailbox] = []
                # Messages expunged meanwhile are not copied; flags are copied as they are now.
                live = self._live[src_id]
                todo = [(live[m.uid], nid) for m, (_, nid) in zip(srcs, pairs) if m.uid in live and live[m.uid].id == m.id]
                if any(m.id in missing for m, _ in todo):
                    raise MessageGone("file of a message being copied is missing")
                if not move:
                    self._check_quota_locked(sum(m.size for m, _ in todo))
                if new_mailboxes:
                    for name in new_mailboxes:
                        if name in self._by_name:
                            raise MailboxExists(f"mailbox {name!r} exists")
                else:
                    self._mailbox_by_id_locked(dst_id)
                # Nothing below raises before the transaction is queued: memory and journal agree.
                copied = {m.id for m, _ in todo}
                self._remove_files(nid for m, (_, nid) in zip(srcs, pairs) if m.id not in copied)
                for name in new_mailboxes:
                    mb = self._new_mailbox_locked(name, None)
                    self._apply(mb)
                    records.append(mb)
                    created.append(mb)
                    changes.append(ChangeAddMailbox(mb))
                    dst_id = mb.id
                dst = self._mailboxes[dst_id]
                if not todo:
                    if records:
                        queued = True
                        self._transact_applied(records, changes, origin)
                    return [], created
                modseq = self._next_modseq_locked()
                mapping: list[tuple[int, int]] = []
                uidnext = dst.uidnext
                adds = []
                for i, (m, nid) in enumerate(todo):
                    nm = Message(nid, dst_id, uidnext + i, modseq, modseq, m.flags, m.size, m.received, False, m.part_raw)
                    self._apply(nm)
                    records.append(nm)
                    mapping.append((m.uid, nm.uid))
                    adds.append(ChangeAddUID(dst_id, nm.uid, modseq, nm.flags))
                if move:
                    rec = Expunge([m.id for m, _ in todo], modseq)
                    self._apply(rec)
                    records.append(rec)
                    ids = self._keep_removed_locked(m for m, _ in todo)
                    changes.append(ChangeRemoveUIDs(src_id, [m.uid for m, _ in todo], modseq, ids))
                    changes.append(ChangeMailboxCounts(self._mailboxes[src_id]))
                changes.extend(adds)
                dst2 = self._mailboxes[dst_id]
                changes.append(ChangeMailboxCounts(dst2))
                if dst2.keywords != dst.keywords:
                    changes.append(ChangeMailboxKeywords(dst_id, dst2.keywords))
                queued = True
                self._transact_applied(records, changes, origin)
                created = [self._mailboxes.get(mb.id, mb) for mb in created]
        except BaseException:
            if not queued:
                self._remove_files(nid for _, nid in pairs)
            raise
        self._after_commit()
        return mapping, created

    @_space_errors
    def copy_sync(self, src_mailbox_id: int, uids: Iterable[int], dst_mailbox_id: int, origin=None) -> list[tuple[int, int]]:
        return self._copy_sync(src_mailbox_id, uids, dst_mailbox_id, origin, move=False)[0]

    @_space_errors
    def move_sync(self, src_mailbox_id: int, uids: Iterable[int], dst_mailbox_id: int, origin=None) -> list[tuple[int, int]]:
        return self._copy_sync(src_mailbox_id, uids, dst_mailbox_id, origin, move=True)[0]

    def _new_mailbox_locked(self, name: str, special_use: str | None) -> Mailbox:
        id = self._next_id
        self._next_id += 1
        uv = self._next_uidvalidity
        self._next_uidvalidity += 1
        return Mailbox(id, name, uv, special_use=special_use, subscribed=True)

    def _missing_parents_locked(self, name: str) -> list[str]:
        parts = name.split("/")
        return [p for p in ("/".join(parts[:i]) for i in range(1, len(parts))) if p not in self._by_name]

    @_space_errors
    def create_mailbox_sync(self, name: str, *, special_use: str | None = None, origin=None) -> list[Mailbox]:
        """Create a mailbox and its missing parents (subscribed); returns them, parents first."""
        name = check_mailbox_name(name)
        if special_use is not None and special_use not in SPECIAL_USE:
            raise StoreError(f"unknown special-use {special_use!r}")
        with self._cond:
            self._check_writable()
            if name in self._by_name:
                raise MailboxExists(f"mailbox {name!r} exists")
            records = [self._new_mailbox_locked(p, None) for p in self._missing_parents_locked(name)]
            records.append(self._new_mailbox_locked(name, special_use))
            for r in records:
                self._apply(r)
            self._transact_applied(records, [ChangeAddMailbox(mb) for mb in records], origin)
        self._after_commit()
        return records

    @_space_errors
    def delete_mailbox_sync(self, name: str, origin=None) -> None:
        """Delete a mailbox without children, and its messages (records and files)."""
        with self._cond:
            self._check_writable()
            mb = self._mailbox_locked(name)
            if mb.name == "Inbox":
                raise StoreError("cannot delete Inbox")
            prefix = mb.name + "/"
            if any(n.startswith(prefix) for n in self._by_name):
                raise MailboxHasChildren(f"mailbox {mb.name!r} has children")
            ids = [m.id for m in self._live[mb.id].values()] + [m.id for m in self._tombs[mb.id].values()]
            records: list = []
            if ids:
                records.append(MessageDelete(ids))
            records.append(MailboxDelete(mb.id))
            if mb.subscribed:
                # The name stays subscribed (RFC 9051 6.3.7: a server must not remove a name from
                # the subscriptions because its mailbox is gone; Dovecot keeps it too).
                records.append(Subscription(mb.name, True))
            kept = self._keep_removed_locked(self._live[mb.id].values())
            for r in records:
                self._apply(r)
            self._transact_applied(records, [ChangeRemoveMailbox(mb.id, mb.name, kept)], origin)
        self._after_commit()

    @_space_errors
    def rename_mailbox_sync(self, old: str, new: str, origin=None) -> None:
        """Rename a mailbox and its children, creating missing parents of the new name. Renaming
        Inbox moves its messages to a new mailbox and keeps Inbox (RFC 9051 6.3.6)."""
        new = check_mailbox_name(new)
        with self._cond:
            self._check_writable()
            mb = self._mailbox_locked(old)
            if new in self._by_name:
                raise MailboxExists(f"mailbox {new!r} exists")
            if new.startswith(mb.name + "/"):
                raise InvalidMailboxName(f"cannot rename {mb.name!r} to a child of itself")
            if mb.name == "Inbox":
                inbox_id = mb.id
                uids = list(self._live[mb.id])
                names = self._missing_parents_locked(new) + [new]
        if mb.name == "Inbox":
            self._copy_sync(inbox_id, uids, 0, origin, move=True, new_mailboxes=names)
            return
        with self._cond:
            self._check_writable()
            mb = self._mailbox_locked(old)
            if new in self._by_name:
                raise MailboxExists(f"mailbox {new!r} exists")
            records: list = [self._new_mailbox_locked(p, None) for p in self._missing_parents_locked(new)]
            changes: list = [ChangeAddMailbox(r) for r in records]
            prefix = mb.name + "/"
            renames = [mb] + sorted((m for m in self._mailboxes.values() if m.name.startswith(prefix)), key=lambda m: m.name)
            for m in renames:
                nn = new + m.name[len(mb.name) :]
                # A subscription of the new name (without a mailbox until now) is kept.
                records.append(replace(m, name=nn, subscribed=m.subscribed or nn in self._subs))
                changes.append(ChangeRenameMailbox(m.id, m.name, nn))
            for r in records:
                self._apply(r)
            self._transact_applied(records, changes, origin)
        self._after_commit()

    @_space_errors
    def set_subscribed_sync(self, name: str, subscribed: bool, origin=None) -> None:
        """Subscribe or unsubscribe a name; it need not be a mailbox (RFC 9051 6.3.7). Raises
        InvalidMailboxName for a name no mailbox could have. Doing what is already so does
        nothing."""
        with self._cond:
            self._check_writable()
            id = self._by_name.get(normalize_mailbox_name(name))
            rec: Mailbox | Subscription
            if id is not None:
                mb = self._mailboxes[id]
                if mb.subscribed == subscribed:
                    return
                name = mb.name
                rec = replace(mb, subscribed=subscribed)
            else:
                name = check_mailbox_name(name)
                if (name in self._subs) == subscribed:
                    return
                rec = Subscription(name, subscribed)
            self._apply(rec)
            self._transact_applied([rec], [ChangeSubscription(name, subscribed)], origin)
        self._after_commit()

    # ------------------------------------------------------------------------ async facade

    async def _run(self, fn, *args, **kwargs):
        return await trio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))

    async def set_password(self, password: str) -> None:
        await self._run(self.set_password_sync, password)

    async def deliver(
        self, mailbox_name: str, data: bytes, *, flags: Iterable[str] = (), received: float | None = None, origin=None,
        before_visible: Callable[[Message], None] | None = None,
    ) -> Message:
        return await self._run(
            self.deliver_sync, mailbox_name, data, flags=flags, received=received, origin=origin,
            before_visible=before_visible,
        )

    async def deliver_upload(
        self, mailbox_name: str, upload: Upload, *, flags: Iterable[str] = (), received: float | None = None, origin=None
    ) -> Message:
        return await self._run(self.deliver_upload_sync, mailbox_name, upload, flags=flags, received=received, origin=origin)

    async def deliver_once(
        self, mailbox_name: str, data: bytes, key: str, *, flags: Iterable[str] = (), received: float | None = None,
        before_visible: Callable[[Message], None] | None = None,
    ) -> Message | None:
        return await self._run(
            self.deliver_once_sync, mailbox_name, data, key, flags=flags, received=received, before_visible=before_visible
        )

    async def store_flags(
        self, mailbox_id: int, uids: Iterable[int], mode: str, flags: Iterable[str], *,
        unchangedsince: int | None = None, origin=None,
    ) -> tuple[list[Message], list[int]]:  # fmt: skip
        return await self._run(
            self.store_flags_sync, mailbox_id, list(uids), mode, list(flags), unchangedsince=unchangedsince, origin=origin
        )

    async def expunge(self, mailbox_id: int, uids: Iterable[int], origin=None) -> list[int]:
        return await self._run(self.expunge_sync, mailbox_id, list(uids), origin)

    async def copy(self, src_mailbox_id: int, uids: Iterable[int], dst_mailbox_id: int, origin=None) -> list[tuple[int, int]]:
        return await self._run(self.copy_sync, src_mailbox_id, list(uids), dst_mailbox_id, origin)

    async def move(self, src_mailbox_id: int, uids: Iterable[int], dst_mailbox_id: int, origin=None) -> list[tuple[int, int]]:
        return await self._run(self.move_sync, src_mailbox_id, list(uids), dst_mailbox_id, origin)

    async def create_mailbox(self, name: str, *, special_use: str | None = None, origin=None) -> list[Mailbox]:
        return await self._run(self.create_mailbox_sync, name, special_use=special_use, origin=origin)

    async def delete_mailbox(self, name: str, origin=None) -> None:
        await self._run(self.delete_mailbox_sync, name, origin)

    async def rename_mailbox(self, old: str, new: str, origin=None) -> None:
        await self._run(self.rename_mailbox_sync, old, new, origin)

    async def set_subscribed(self, name: str, subscribed: bool, origin=None) -> None:
        await self._run(self.set_subscribed_sync, name, subscribed, origin)
