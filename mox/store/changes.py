"""Change records broadcast to the sessions of an account, and the subscriber that receives them.

Changes are delivered only after the transaction that made them is durable, in commit order,
to every subscriber except the one passed as ``origin`` to the write (the session that made the
change and answers its own client). IMAP turns them into EXISTS/FETCH/EXPUNGE/VANISHED and LIST
responses (mox ``store/state.go``).

Removed messages and the sessions that still show them: a subscriber that shows a mailbox to a
client (an IMAP session with it selected) sets ``hold_mailbox`` through ``Account.select_view``.
A removal from that mailbox (``ChangeRemoveUIDs``, ``ChangeRemoveMailbox``) is then *held* by the
subscriber: the message files stay, and the records as they were before the removal stay
readable with ``Account.removed_message``, until the subscriber calls ``release(change)`` (after
telling its client) or closes. A client may fetch any message it has not been told is expunged
(RFC 9051 7.4.1, RFC 2180 4.1); the files go once the last holder is done (mox and Dovecot keep
them the same way).

``mark`` is the account's modseq as of the last transaction whose changes this subscriber has
been given (also those it made itself): every change with a modseq up to ``mark`` is in what
``drain()`` returned so far. The index can be ahead of that (transactions applied but still being
made durable); a session that shows a client values read from the index uses ``mark`` to tell
which of the changes still to come it has already shown.

Bounded queues (a session that does not read, e.g. selected but idle without IDLE, must not grow
without limit while other sessions work): a subscriber with ``all_mailboxes=False`` (an IMAP
session without NOTIFY events to tell) is only given the changes of the mailbox it shows and
those of mailboxes themselves (created, removed, renamed, subscriptions); the rest would be
dropped on arrival. When the queue reaches ``COMPACT_AT`` entries (and then twice what the last
compaction left), and when more than ``COMPACT_DRAINED`` are drained at once, it is compacted as
a session applying it would see it: the flags of one message collapse to the latest change; a
message added and removed while queued is dropped; removals from one mailbox merge into one (at
the place of the last; held removals stay held, by the merged change); counts and keywords of a
mailbox collapse to the latest. What is left costs ``weight()`` (an entry 1, a removed UID
1/16); past ``MAX_QUEUED`` the subscriber *overflows*: the queue is dropped, ``overflowed`` is
set, waiters wake (and ``on_overflow`` is called in the trio thread), and until
``clear_overflow()`` nothing more is queued or held. The owner tells its client it
fell behind: an IMAP session ends with BYE, one with NOTIFY gets NOTIFICATIONOVERFLOW (RFC 5465
5.8), the webmail's live connection closes (its page reconnects and reloads); a new connection
(or SELECT) starts from the index, which needs none of the dropped changes. (mox queues every
change for a session, store/state.go, and bounds only what NOTIFY waits for; Dovecot queues
none and syncs a session's view from its index instead.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import msgspec
import trio

from mox.store.schema import Mailbox


class ChangeAddUID(msgspec.Struct, frozen=True):
    mailbox_id: int
    uid: int
    modseq: int
    flags: tuple[str, ...]


class ChangeRemoveUIDs(msgspec.Struct, frozen=True):
    mailbox_id: int
    uids: list[int]
    modseq: int
    message_ids: tuple[int, ...] = ()  # of the removed messages, for holding their files


class ChangeFlags(msgspec.Struct, frozen=True):
    mailbox_id: int
    uid: int
    modseq: int
    flags: tuple[str, ...]


class ChangeAddMailbox(msgspec.Struct, frozen=True):
    mailbox: Mailbox


class ChangeRemoveMailbox(msgspec.Struct, frozen=True):
    mailbox_id: int
    name: str
    message_ids: tuple[int, ...] = ()  # of the messages it had, for holding their files


class ChangeRenameMailbox(msgspec.Struct, frozen=True):
    mailbox_id: int
    old_name: str
    new_name: str


class ChangeSubscription(msgspec.Struct, frozen=True):
    name: str
    subscribed: bool


class ChangeMailboxCounts(msgspec.Struct, frozen=True):
    mailbox: Mailbox


class ChangeMailboxKeywords(msgspec.Struct, frozen=True):
    mailbox_id: int
    keywords: tuple[str, ...]


class ChangeThread(msgspec.Struct, frozen=True):
    """Thread settings of messages changed (mox's ChangeThread): muted, collapsed. Not shown
    over IMAP; the webmail shows it."""

    message_ids: tuple[int, ...]
    muted: bool
    collapsed: bool


class ChangeMailboxSpecialUse(msgspec.Struct, frozen=True):
    """A mailbox's special use changed (mox's ChangeMailboxSpecialUse); the new mailbox record."""

    mailbox: Mailbox


class ChangeAnnotation(msgspec.Struct, frozen=True):
    """A metadata entry (IMAP METADATA, RFC 5464) was set or removed (mox's ChangeAnnotation):
    of a mailbox, or of the account with ``mailbox_id`` 0 and ``mailbox_name`` "". IMAP NOTIFY
    tells of it without the value (RFC 5465 5.6, 5.7)."""

    mailbox_id: int
    mailbox_name: str
    key: str


Change = (
    ChangeAddUID
    | ChangeRemoveUIDs
    | ChangeFlags
    | ChangeAddMailbox
    | ChangeRemoveMailbox
    | ChangeRenameMailbox
    | ChangeSubscription
    | ChangeMailboxCounts
    | ChangeMailboxKeywords
    | ChangeThread
    | ChangeMailboxSpecialUse
    | ChangeAnnotation
)


HOLDING = (ChangeRemoveUIDs, ChangeRemoveMailbox)

#: Queue length at which a subscriber's queue is first compacted (module docstring).
COMPACT_AT = 1024
#: A longer queue is compacted when drained too (the session then tells its client less).
COMPACT_DRAINED = 64
#: The weight of a compacted queue past which the subscriber overflows; tests lower it.
MAX_QUEUED = 20_000
#: Removed UIDs that weigh as much as one queued change.
UIDS_PER_ENTRY = 16
#: What a session that fell too far behind is told before it is disconnected (IMAP BYE).
OVERFLOW_TEXT = "too many changes by other sessions waiting for this session, reconnect to resynchronize"

_MAILBOX_CHANGES = (ChangeAddMailbox, ChangeRemoveMailbox, ChangeRenameMailbox, ChangeSubscription)


def _concerns(ch: object, mailbox_id: int | None) -> bool:
    """Whether a subscriber that shows only ``mailbox_id`` (or none) needs the change."""
    if isinstance(ch, _MAILBOX_CHANGES):
        return True
    if isinstance(ch, (ChangeAddUID, ChangeRemoveUIDs, ChangeFlags, ChangeMailboxKeywords)):
        return ch.mailbox_id == mailbox_id
    return False


def weight(changes: list) -> int:
    """What a queue of changes counts against MAX_QUEUED: its entries, and its removed UIDs."""
    uids = sum(len(ch.uids) for ch in changes if isinstance(ch, ChangeRemoveUIDs))
    return len(changes) + uids // UIDS_PER_ENTRY


def compact(changes: list, held: dict[int, object]) -> list:
    """The changes as a session applying them in order would see them, in fewer entries (module
    docstring). ``held`` (id -> change) is updated for removals merged into a new change."""
    out: list = []
    later: set[tuple[int, int]] = set()  # (mailbox, uid) with a later flags change or removal
    removed: set[tuple[int, int]] = set()
    merged: dict[tuple[int, bool], list] = {}  # (mailbox, held) -> [slot, parts]
    latest: set[tuple[type, int]] = set()
    for ch in reversed(changes):
        if isinstance(ch, ChangeFlags):
            k = (ch.mailbox_id, ch.uid)
            if k in later:
                continue
            later.add(k)
        elif isinstance(ch, ChangeAddUID):
            if (ch.mailbox_id, ch.uid) in removed:
                continue  # added and removed while waiting: the session need not hear of it
        elif isinstance(ch, ChangeRemoveUIDs):
            for uid in ch.uids:
                later.add((ch.mailbox_id, uid))
                removed.add((ch.mailbox_id, uid))
            key = (ch.mailbox_id, id(ch) in held)
            m = merged.get(key)
            if m is not None:
                m[1].append(ch)  # merged into the later one: nothing in between needs it first
                continue
            merged[key] = [len(out), [ch]]
        elif isinstance(ch, ChangeMailboxCounts):
            if (ChangeMailboxCounts, ch.mailbox.id) in latest:
                continue
            latest.add((ChangeMailboxCounts, ch.mailbox.id))
        elif isinstance(ch, ChangeMailboxKeywords):
            if (ChangeMailboxKeywords, ch.mailbox_id) in latest:
                continue
            latest.add((ChangeMailboxKeywords, ch.mailbox_id))
        out.append(ch)
    for (mailbox_id, is_held), (slot, parts) in merged.items():
        if len(parts) == 1:
            continue
        uids = sorted({u for p in parts for u in p.uids})
        mids = tuple(mid for p in reversed(parts) for mid in p.message_ids)
        one = ChangeRemoveUIDs(mailbox_id, uids, max(p.modseq for p in parts), mids)
        if is_held:
            for p in parts:
                held.pop(id(p), None)
            held[id(one)] = one
        out[slot] = one
    out.reverse()
    return out


class ChangeSubscriber:
    """What ``Account.subscribe()`` returns: a queue of changes for one session.

    ``pending()`` drains without blocking (``drain()`` also returns ``mark``); ``await wait()``
    returns when something is pending (or the queue overflowed); ``release(change)`` gives back
    a held removal (module docstring); ``close()`` unsubscribes and releases what it held.
    Thread-safe: commits happen in worker threads, and the waiting trio task is woken through
    its run's token (captured at ``subscribe()``). ``size()`` and ``peak`` tell how long the
    queue is and was at most.
    """

    def __init__(self, account, *, all_mailboxes: bool = True) -> None:
        self._account = account
        self._lock = threading.Lock()
        self._items: list = []
        self._event: trio.Event | None = None
        self.closed = False
        self.mark = 0
        #: False: only the changes of ``hold_mailbox`` and of mailboxes themselves are queued.
        self.all_mailboxes = all_mailboxes
        # Set by Account.select_view / unselect_view under the account's lock.
        self.hold_mailbox: int | None = None
        self._held: dict[int, object] = {}  # id(change) -> held removal
        self._compact_at = COMPACT_AT
        self.peak = 0  # the longest the queue was
        self.overflowed = False
        #: Called in the trio thread when the queue overflows (e.g. to end a read of a command).
        self.on_overflow: Callable[[], None] | None = None
        try:
            self._token: trio.lowlevel.TrioToken | None = trio.lowlevel.current_trio_token()
        except RuntimeError:
            self._token = None

    def _push(self, changes: list, mark: int, held: list) -> bool:
        """Called by the account, under its lock, for every durable transaction; False when it
        holds none of ``held`` (closed, or overflowed)."""
        overflow = False
        with self._lock:
            if self.closed:
                return False
            self.mark = max(self.mark, mark)
            if self.overflowed:
                return False
            for ch in held:
                self._held[id(ch)] = ch
            if not self.all_mailboxes:
                changes = [ch for ch in changes if _concerns(ch, self.hold_mailbox)]
            if not changes:
                return True
            self._items.extend(changes)
            if len(self._items) >= self._compact_at:
                self._items = compact(self._items, self._held)
                if weight(self._items) > MAX_QUEUED:
                    self._items = []
                    self.overflowed = overflow = True
                # Twice what is left, so compaction costs O(1) per change; near the bound
                # every time the bound is passed again.
                self._compact_at = max(COMPACT_AT, min(2 * len(self._items), MAX_QUEUED + 1))
            self.peak = max(self.peak, len(self._items))
            ev, self._event = self._event, None
        self._wake(ev)
        if overflow and self.on_overflow is not None and self._token is not None:
            try:
                self._token.run_sync_soon(self.on_overflow)
            except trio.RunFinishedError:
                pass
        return True

    def _wake(self, ev: trio.Event | None) -> None:
        if ev is not None and self._token is not None:
            try:
                self._token.run_sync_soon(ev.set)
            except trio.RunFinishedError:
                pass

    def size(self) -> int:
        """The number of changes waiting."""
        with self._lock:
            return len(self._items)

    def clear_overflow(self) -> None:
        """The owner told its client it fell behind (and resynchronized): queue again."""
        with self._lock:
            self.overflowed = False
            self._compact_at = COMPACT_AT

    def pending(self) -> list:
        return self.drain()[0]

    def drain(self) -> tuple[list, int]:
        """The pending changes (compacted when many) and ``mark`` as of them."""
        with self._lock:
            items, self._items = self._items, []
            if len(items) > COMPACT_DRAINED:
                items = compact(items, self._held)
            self._compact_at = COMPACT_AT
            return items, self.mark

    def requeue(self, changes: list) -> None:
        """Put drained changes back in front of the pending ones (Account.select_view, under
        the account's lock: nothing is pushed meanwhile)."""
        if changes:
            with self._lock:
                self._items[:0] = changes

    def compact(self, changes: list) -> list:
        """Changes drained earlier and kept by the owner (an IMAP session's expunges deferred
        during FETCH, STORE and SEARCH), compacted as the queue is; held removals stay held."""
        with self._lock:
            return compact(changes, self._held)

    def holding(self) -> int:
        """How many removals it holds."""
        with self._lock:
            return len(self._held)

    def holds(self, change: object) -> bool:
        with self._lock:
            return id(change) in self._held

    def release(self, change: object) -> None:
        """Done with a removal: its client was told (or never showed the messages)."""
        with self._lock:
            ch = self._held.pop(id(change), None)
        if ch is not None:
            self._account._release([ch])

    def release_held(self) -> None:
        """Give back every held removal (the client will not be told of them)."""
        self._account._release(self._take_held())

    def _take_held(self) -> list:
        with self._lock:
            held = list(self._held.values())
            self._held.clear()
        return held

    async def wait(self) -> None:
        with self._lock:
            if self._items or self.closed or self.overflowed:
                return
            if self._token is None:
                self._token = trio.lowlevel.current_trio_token()
            if self._event is None:
                self._event = trio.Event()
            ev = self._event
        await ev.wait()

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            ev, self._event = self._event, None
        self._wake(ev)
        self._account._unsubscribe(self)
        self._account._release(self._take_held())

    def __enter__(self) -> ChangeSubscriber:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
