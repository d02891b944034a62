"""An account: its in-memory index, the write path with group commit, and change broadcast.

``Account`` is built in layers, one module per concern, each a class on top of the one before:

- ``memindex.py`` ``IndexState``: every attribute of the account, and the in-memory index with
  ``_apply`` (the one place that changes it).
- ``holding.py`` ``HeldRemovals``: records and files of removed messages that sessions still show.
- ``recovery.py`` ``Recovery``: loading snapshot and journal at open, cutting a torn tail,
  removing stray files after a crash.
- ``commit.py`` ``Commit``: group commit, broadcast, the full-disk undo, snapshots.
- ``junk_training.py`` ``JunkTraining``: the junk filter, trained from the messages' flags.
- ``writes.py`` ``Writes``: the write operations (``*_sync``).
- ``thread_writes.py`` ``ThreadWrites``: thread settings, reassigning threads, previews.
- ``consistency.py`` ``Consistency``: the consistency check.
- here: opening and closing, the read methods, subscriptions, and the async facade.

Beside them, owned by the account: ``files.py`` (``MessageFiles``, ``Upload``: placing, linking
and removing message files), ``lock.py`` (``AccountLock``: one opener per account directory) and
``mailbox_names.py`` (name rules).

Invariants (keep them true when changing these modules):

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
  kept ``DELIVERY_KEY_KEEP`` (commit.py) seconds (pruned when a snapshot is written).
- The synchronous ``*_sync`` methods block (file and journal fsyncs); the async methods run them
  with ``trio.to_thread.run_sync``, so fsyncs never block the trio thread.
"""

from __future__ import annotations

import functools
import gc
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import trio

from mox import mlog
from mox.auth.password import dummy_record, verify_password
from mox.store import layout
from mox.store.changes import ChangeSubscriber
from mox.store.commit import Pending
from mox.store.consistency import Consistency
from mox.store.errors import DiskFull, Inconsistent
from mox.store.files import MessageFiles, NewMessage, Upload
from mox.store.index import JOURNAL_MAGIC, JournalWriter, encode_txn
from mox.store.lock import AccountLock
from mox.store.mailbox_names import check_mailbox_name, normalize_mailbox_name
from mox.store.memindex import AccountOwner
from mox.store.schema import Annotation, Closed, CramMD5State, Mailbox, Message, ScramSecret
from mox.store.thread_writes import ThreadWrites

__all__ = ["Account", "AccountOwner", "Upload", "check_mailbox_name", "normalize_mailbox_name"]


class Account(ThreadWrites, Consistency):
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
        self._lock = AccountLock(self.path, name)
        self.files = MessageFiles(store, name, self.path, self._log)
        self._reset_index()
        # Commit machinery (commit.py).
        self._pending: list[Pending] = []
        self._epoch = 0  # raised when pending transactions are dropped (full disk)
        self._flushing = False
        self._durable_seq = 0  # written to the journal
        self._synced_seq = 0  # and fsynced (commit.py)
        self._sync_timer: threading.Timer | None = None
        self._failed: BaseException | None = None
        self._subscribers: list[ChangeSubscriber] = []
        self._journal: JournalWriter | None = None
        self._snapshot_size = 0
        self._snapshot_retry_at = 0  # journal size before which a failed snapshot is not retried
        self._inflight: set[int] = set()  # ids with a message file placed, not yet committed
        # Removed messages still shown by some session (holding.py).
        self._removed: dict[int, Message] = {}  # id -> record as before the removal
        self._removed_uid: dict[tuple[int, int], int] = {}  # (mailbox id, uid) -> id
        self._removed_refs: dict[int, int] = {}  # id -> subscribers holding it (set when broadcast)
        self._unlink: list[int] = []  # ids whose files nobody needs any more
        self._unlinking: set[int] = set()  # ids whose files are being removed
        self._init_junk()  # junk_training.py
        self._clean_at = -1  # seq at which the journal ends with a Closed marker
        self._clean_marker_at = -1  # the offset at which that marker starts

    # ----------------------------------------------------------------------------- open/close

    def _open(self) -> None:
        t0 = time.monotonic()
        self._lock.acquire()
        # Loading creates an object per message and record: pause the cyclic GC meanwhile (it
        # would otherwise run many passes over the growing heap; see schema.py on gc=False).
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._load()
        except BaseException:
            self._lock.release()
            raise
        finally:
            if was_enabled:
                gc.enable()
        try:
            self._upgrade_threads()
        except BaseException:
            self._close_now()
            raise
        self._log.debug(
            "account opened",
            mailboxes=len(self._mailboxes),
            messages=len(self._by_id),
            seq=self._seq,
            duration_ms=round((time.monotonic() - t0) * 1000, 1),
        )

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
            self._close_junk()
            self.remove_released_files()
            if self._failed is None and self._journal is not None:
                try:
                    with self._cond:
                        # Records that wait for no fsync (claim_recent, flags, expunges).
                        if self._pending or self._synced_seq < self._durable_seq:
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
                timer, self._sync_timer = self._sync_timer, None
            if timer is not None:
                timer.cancel()
            for s in subs:
                s.close()
            if self._journal is not None:
                self._journal.close()
            self._lock.release()
        if problems:
            raise Inconsistent(self.name, problems)

    # ---------------------------------------------------------------------------------- reads

    def message_path(self, msg: Message) -> Path:
        return self.files.path(msg.id)

    def read_message(self, msg: Message) -> bytes:
        """The message file, byte for byte; MessageGone if it was expunged meanwhile."""
        return self.files.read(msg.id, msg.size)

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

    def messages_by_uid(self, mailbox_id: int, uids: list[int]) -> list[Message | None]:
        """The live messages of these uids, in their order (None where there is none), looked up
        under the lock once (FETCH of many messages)."""
        with self._cond:
            live = self._live.get(mailbox_id, {})
            return [live.get(uid) for uid in uids]

    def message_by_id(self, id: int) -> Message | None:
        with self._cond:
            return self._by_id.get(id)

    def first_recent_uid(self, mailbox_id: int) -> int:
        """The lowest UID of the mailbox that no session has taken as \\Recent (RFC 3501 2.3.2):
        messages from it on are \\Recent for the next session that selects the mailbox."""
        with self._cond:
            mb = self._mailboxes.get(mailbox_id)
            return max(mb.first_recent_uid, 1) if mb is not None else 1

    def annotations(self, mailbox_id: int) -> list[Annotation]:
        """The metadata entries of a mailbox (``mailbox_id`` 0: of the account), by key."""
        with self._cond:
            return sorted(self._annotations.get(mailbox_id, {}).values(), key=lambda a: a.key)

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

    def delivered(self, key: str) -> bool:
        """Whether a delivery with ``key`` is recorded."""
        with self._cond:
            return key in self._keys

    def has_password(self) -> bool:
        return self._password is not None

    def check_password(self, password: str) -> bool:
        """Constant-time check of a PLAIN/LOGIN password (slow by design: run it in a thread)."""
        rec = self._password
        if rec is None:
            verify_password(dummy_record(), password)  # as slow as with a password set
            return False
        # Recently verified passwords are answered from the store's cache (mox.auth.cache).
        return verify_password(rec, password, cache=self.store.auth_cache, account=self.name)

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

    # -------------------------------------------------------------------------- subscriptions

    def subscribe(self, *, all_mailboxes: bool = True) -> ChangeSubscriber:
        """A new change subscription (call from the trio thread that will ``await wait()``);
        ``all_mailboxes=False``: only changes of the mailbox it shows and of mailboxes themselves
        (changes.py)."""
        sub = ChangeSubscriber(self, all_mailboxes=all_mailboxes)
        with self._cond:
            self._subscribers.append(sub)
        return sub

    def subscribers(self) -> list[ChangeSubscriber]:
        """The open subscriptions, oldest first (their ``size()`` and ``peak`` tell how far
        behind each is)."""
        with self._cond:
            return list(self._subscribers)

    def _unsubscribe(self, sub: ChangeSubscriber) -> None:
        with self._cond:
            try:
                self._subscribers.remove(sub)
            except ValueError:
                pass

    # ------------------------------------------------------------------------ async facade

    async def _run(self, fn, *args, **kwargs):
        return await trio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))

    async def set_password(self, password: str, *, scrypt_n: int | None = None) -> None:
        await self._run(self.set_password_sync, password, scrypt_n=scrypt_n)

    async def deliver(
        self, mailbox_name: str, data: bytes, *, flags: Iterable[str] = (), received: float | None = None, origin=None,
        before_visible: Callable[[Message], None] | None = None, reject_hash: bytes | None = None,
    ) -> Message:
        return await self._run(
            self.deliver_sync, mailbox_name, data, flags=flags, received=received, origin=origin,
            before_visible=before_visible, reject_hash=reject_hash,
        )

    async def deliver_upload(
        self, mailbox_name: str, upload: Upload, *, flags: Iterable[str] = (), received: float | None = None, origin=None
    ) -> Message:
        return await self._run(self.deliver_upload_sync, mailbox_name, upload, flags=flags, received=received, origin=origin)

    async def deliver_many(
        self, mailbox_name: str, messages: Sequence[NewMessage], *, origin=None, replace: tuple[int, int] | None = None
    ) -> list[Message]:
        return await self._run(self.deliver_many_sync, mailbox_name, messages, origin=origin, replace=replace)

    async def deliver_once(
        self, mailbox_name: str, data: bytes, key: str, *, flags: Iterable[str] = (), received: float | None = None,
        before_visible: Callable[[Message], None] | None = None, reject_hash: bytes | None = None,
    ) -> Message | None:
        return await self._run(
            self.deliver_once_sync, mailbox_name, data, key, flags=flags, received=received, before_visible=before_visible,
            reject_hash=reject_hash,
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

    async def set_special_use(self, mailbox_id: int, special_use: str | None, origin=None) -> list[Mailbox]:
        return await self._run(self.set_special_use_sync, mailbox_id, special_use, origin)

    async def delete_mailbox(self, name: str, origin=None) -> None:
        await self._run(self.delete_mailbox_sync, name, origin)

    async def rename_mailbox(self, old: str, new: str, origin=None) -> None:
        await self._run(self.rename_mailbox_sync, old, new, origin)

    async def set_annotations(
        self, mailbox_name: str | None, entries: Sequence[tuple[str, bytes | None, bool]], origin=None
    ) -> None:
        await self._run(self.set_annotations_sync, mailbox_name, entries, origin=origin)

    async def set_subscribed(self, name: str, subscribed: bool, origin=None) -> None:
        await self._run(self.set_subscribed_sync, name, subscribed, origin)

    async def set_thread_muted(self, message_ids: Iterable[int], muted: bool, origin=None) -> list[Message]:
        return await self._run(self.set_thread_muted_sync, list(message_ids), muted, origin)

    async def set_thread_collapsed(self, message_ids: Iterable[int], collapsed: bool, origin=None) -> list[Message]:
        return await self._run(self.set_thread_collapsed_sync, list(message_ids), collapsed, origin)

    async def reassign_threads(self, progress: Callable[[str], None] | None = None) -> tuple[int, int]:
        return await self._run(self.reassign_threads_sync, progress)

    async def previews(self, msgs: Iterable[Message]) -> list[str]:
        """Previews of several messages (see ``preview``), made in a worker thread where needed."""
        msgs = list(msgs)
        if all(m.preview is not None for m in msgs):
            return [m.preview for m in msgs]  # type: ignore[misc]
        return await self._run(lambda: [self.preview(m) for m in msgs])
