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
"""

from __future__ import annotations

import threading

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


class ChangeSubscriber:
    """What ``Account.subscribe()`` returns: a queue of changes for one session.

    ``pending()`` drains without blocking (``drain()`` also returns ``mark``); ``await wait()``
    returns when something is pending; ``release(change)`` gives back a held removal (module
    docstring); ``close()`` unsubscribes and releases what it held. Thread-safe: commits happen
    in worker threads, and the waiting trio task is woken through its run's token (captured at
    ``subscribe()``).
    """

    def __init__(self, account) -> None:
        self._account = account
        self._lock = threading.Lock()
        self._items: list = []
        self._event: trio.Event | None = None
        self.closed = False
        self.mark = 0
        # Set by Account.select_view / unselect_view under the account's lock.
        self.hold_mailbox: int | None = None
        self._held: dict[int, object] = {}  # id(change) -> held removal
        try:
            self._token: trio.lowlevel.TrioToken | None = trio.lowlevel.current_trio_token()
        except RuntimeError:
            self._token = None

    def _push(self, changes: list, mark: int, held: list) -> bool:
        """Called by the account, under its lock, for every durable transaction; False when
        closed (then it holds nothing)."""
        with self._lock:
            if self.closed:
                return False
            self.mark = max(self.mark, mark)
            for ch in held:
                self._held[id(ch)] = ch
            if not changes:
                return True
            self._items.extend(changes)
            ev, self._event = self._event, None
        if ev is not None and self._token is not None:
            try:
                self._token.run_sync_soon(ev.set)
            except trio.RunFinishedError:
                pass
        return True

    def pending(self) -> list:
        with self._lock:
            items, self._items = self._items, []
        return items

    def drain(self) -> tuple[list, int]:
        """The pending changes and ``mark`` as of them."""
        with self._lock:
            items, self._items = self._items, []
            return items, self.mark

    def requeue(self, changes: list) -> None:
        """Put drained changes back in front of the pending ones (Account.select_view, under
        the account's lock: nothing is pushed meanwhile)."""
        if changes:
            with self._lock:
                self._items[:0] = changes

    def holds(self, change: object) -> bool:
        with self._lock:
            return id(change) in self._held

    def release(self, change: object) -> None:
        """Done with a removal: its client was told (or never showed the messages)."""
        with self._lock:
            ch = self._held.pop(id(change), None)
        if ch is not None:
            self._account._release([ch])

    def _take_held(self) -> list:
        with self._lock:
            held = list(self._held.values())
            self._held.clear()
        return held

    async def wait(self) -> None:
        with self._lock:
            if self._items or self.closed:
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
        if ev is not None and self._token is not None:
            try:
                self._token.run_sync_soon(ev.set)
            except trio.RunFinishedError:
                pass
        self._account._unsubscribe(self)
        self._account._release(self._take_held())

    def __enter__(self) -> ChangeSubscriber:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
