"""The account's in-memory index and the state an ``Account`` is made of.

``IndexState`` declares every attribute of an account (the index, the commit machinery, the
removals held for sessions) and holds what changes the index: ``_apply`` applies one record, the
same code for journal replay and live writes, always under ``_cond``'s lock; ``_reset_index``
empties it; ``_load_snapshot`` fills it from a snapshot. The lookups that writers make under the
lock (``*_locked``) are here too.

The account is built in layers, each a module (``account.py`` has the list):
``IndexState`` -> ``HeldRemovals`` (holding.py) -> ``Recovery`` (recovery.py) -> ``Commit``
(commit.py) -> ``Writes`` (writes.py) -> ``Account``, with ``Consistency`` (consistency.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import msgspec

from mox import mlog
from mox.store.errors import MailboxNotFound, StoreError
from mox.store import threads
from mox.store.mailbox_names import normalize_mailbox_name
from mox.store.schema import (
    DeliveryKey,
    Expunge,
    FlagsUpdate,
    Mailbox,
    MailboxDelete,
    Message,
    MessageDelete,
    Annotation,
    MessageMeta,
    PasswordRecord,
    Snapshot,
    Subscription,
    keywords_of,
)

if TYPE_CHECKING:
    from mox.junk import Filter
    from mox.store.changes import ChangeSubscriber
    from mox.store.junk import AccountSettings
    from mox.store.commit import Pending
    from mox.store.files import MessageFiles
    from mox.store.index import JournalWriter
    from mox.store.lock import AccountLock


class AccountOwner(Protocol):
    """What an Account needs from the Store that opened it (kept as a protocol so the account
    modules do not import the store module, which imports them)."""

    data_dir: Path
    fsync: bool
    snapshot_threshold: int
    snapshot_on_close: int
    check_consistency_on_close: bool
    quota: int
    #: account name -> its junk settings (mox.store.junk), or None: no junk flags or filter.
    settings: Callable[[str], AccountSettings | None] | None
    #: Recently verified login passwords (mox.auth.cache).
    auth_cache: AuthCache

    def _release(self, acc: Account) -> None: ...


if TYPE_CHECKING:
    from mox.auth.cache import AuthCache
    from mox.store.account import Account

replace = msgspec.structs.replace


def with_counts(mb: Mailbox, flags: tuple[str, ...], size: int, sign: int) -> Mailbox:
    """The mailbox with a message of these flags and size added (sign 1) or removed (-1)."""
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


def with_keywords(mb: Mailbox, flags: tuple[str, ...]) -> Mailbox:
    kw = keywords_of(flags)
    if not kw or all(k in mb.keywords for k in kw):
        return mb
    return replace(mb, keywords=tuple(sorted(set(mb.keywords).union(kw))))


class IndexState:
    """The state of one account (set by ``Account.__init__``) and the index operations."""

    store: AccountOwner
    name: str
    path: Path
    quota: int | None
    files: MessageFiles
    _log: mlog.Logger
    _cond: threading.Condition
    _lock: AccountLock
    _refs: int
    _closed: bool
    # The index (``_reset_index``).
    _mailboxes: dict[int, Mailbox]
    _by_name: dict[str, int]
    _live: dict[int, dict[int, Message]]
    _tombs: dict[int, dict[int, Message]]
    _by_id: dict[int, Message]
    _password: PasswordRecord | None
    _subs: set[str]
    _seq: int
    _next_id: int
    _last_modseq: int
    _next_uidvalidity: int
    _disk_usage: int
    _keys: dict[str, DeliveryKey]
    _threads: threads.ThreadIndex
    # Commit machinery (commit.py).
    _pending: list[Pending]
    _epoch: int
    _flushing: bool
    _durable_seq: int
    _synced_seq: int
    _sync_timer: threading.Timer | None
    _failed: BaseException | None
    _subscribers: list[ChangeSubscriber]
    _journal: JournalWriter | None
    _snapshot_size: int
    _snapshot_retry_at: int
    _inflight: set[int]
    _clean_at: int
    _clean_marker_at: int
    # Removed messages still shown by some session (holding.py).
    _removed: dict[int, Message]
    _removed_uid: dict[tuple[int, int], int]
    _removed_refs: dict[int, int]
    _unlink: list[int]
    _unlinking: set[int]
    # The junk filter (junk_training.py): opened on first use; removed messages whose files stay
    # until they are untrained, and those of them nobody else needs any more.
    _junk_lock: threading.RLock
    _jf: Filter | None
    _junk_holds: set[int]
    _junk_deferred: set[int]
    _junk_todo: set[int]

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
        self._annotations: dict[int, dict[str, Annotation]] = {}  # mailbox id (0: account) -> key -> entry
        self._seq = 0
        self._next_id = 1
        self._last_modseq = 1  # the first modseq handed out is 2
        self._next_uidvalidity = 1
        self._disk_usage = 0
        self._keys: dict[str, DeliveryKey] = {}
        self._threads = threads.ThreadIndex()  # live messages by Message-ID, base subject, thread

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
            for m in box.messages:
                self._threads.add(m)
            by_id.update({m.id: m for m in box.tombstones})
            usage += mb.size
        self._disk_usage = usage
        self._password = snap.password
        self._keys = {k.key: k for k in snap.keys}
        self._subs = set(snap.subscriptions)
        for a in snap.annotations:
            self._annotations.setdefault(a.mailbox_id, {})[a.key] = a
        self._seq = snap.seq
        self._next_id = snap.next_id
        self._last_modseq = snap.last_modseq
        self._next_uidvalidity = snap.next_uidvalidity

    def _apply(self, rec) -> None:
        """Apply one record to the in-memory index (journal replay and live writes)."""
        if isinstance(rec, Message):
            mb = self._mailboxes[rec.mailbox_id]
            self._by_id[rec.id] = rec
            if rec.expunged:
                self._tombs[rec.mailbox_id][rec.uid] = rec
            else:
                self._live[rec.mailbox_id][rec.uid] = rec
                self._threads.add(rec)
                mb = with_keywords(with_counts(mb, rec.flags, rec.size, 1), rec.flags)
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
            mb = with_counts(mb, old.flags, old.size, -1)
            mb = with_keywords(with_counts(mb, new.flags, new.size, 1), new.flags)
            self._mailboxes[mb.id] = replace(mb, highest_modseq=max(mb.highest_modseq, rec.modseq))
        elif isinstance(rec, Expunge):
            for id in rec.ids:
                old = self._by_id[id]
                del self._live[old.mailbox_id][old.uid]
                self._threads.remove(old)
                # A tombstone keeps what QRESYNC needs, and its thread (as mox's erased messages).
                tomb = Message(
                    old.id, old.mailbox_id, old.uid, rec.modseq, old.createseq, (), 0, old.received, True,
                    thread_id=old.thread_id,
                )  # fmt: skip
                self._by_id[id] = tomb
                self._tombs[old.mailbox_id][old.uid] = tomb
                mb = with_counts(self._mailboxes[old.mailbox_id], old.flags, old.size, -1)
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
                    self._threads.remove(old)
                    self._mailboxes[old.mailbox_id] = with_counts(
                        self._mailboxes[old.mailbox_id], old.flags, old.size, -1
                    )
                    self._disk_usage -= old.size
        elif isinstance(rec, MailboxDelete):
            mb = self._mailboxes.pop(rec.id)
            if self._by_name.get(mb.name) == rec.id:
                del self._by_name[mb.name]
            for m in self._live.pop(rec.id, {}).values():
                del self._by_id[m.id]
                self._threads.remove(m)
                self._disk_usage -= m.size
            for m in self._tombs.pop(rec.id, {}).values():
                del self._by_id[m.id]
            self._annotations.pop(rec.id, None)  # RFC 5464 3.2: a mailbox's entries go with it
        elif isinstance(rec, MessageMeta):
            old = self._by_id[rec.id]
            new = replace(
                old, message_id=rec.message_id, subject_base=rec.subject_base, thread_id=rec.thread_id,
                thread_parent_ids=rec.thread_parent_ids, thread_missing_link=rec.thread_missing_link,
                thread_muted=rec.thread_muted, thread_collapsed=rec.thread_collapsed, preview=rec.preview,
            )  # fmt: skip
            self._by_id[rec.id] = new
            if not old.expunged:
                self._threads.remove(old)
                self._live[old.mailbox_id][old.uid] = new
                self._threads.add(new)
        elif isinstance(rec, Annotation):
            entries = self._annotations.setdefault(rec.mailbox_id, {})
            if rec.value is None:
                entries.pop(rec.key, None)
            else:
                entries[rec.key] = rec
        elif isinstance(rec, PasswordRecord):
            self._password = rec
        elif isinstance(rec, Subscription):
            if rec.subscribed:
                self._subs.add(rec.name)
            else:
                self._subs.discard(rec.name)
        else:  # pragma: no cover
            raise StoreError(f"unknown record {type(rec).__name__}")

    # ------------------------------------------------------------------ lookups under the lock

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

    def _next_modseq_locked(self) -> int:
        self._last_modseq += 1
        return self._last_modseq

    def _new_mailbox_locked(self, name: str, special_use: str | None) -> Mailbox:
        id = self._next_id
        self._next_id += 1
        uv = self._next_uidvalidity
        self._next_uidvalidity += 1
        return Mailbox(id, name, uv, special_use=special_use, subscribed=True)

    def _missing_parents_locked(self, name: str) -> list[str]:
        parts = name.split("/")
        return [p for p in ("/".join(parts[:i]) for i in range(1, len(parts))) if p not in self._by_name]
