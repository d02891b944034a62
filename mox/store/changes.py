"""Change records broadcast to the sessions of an account, and the subscriber that receives them.

Changes are delivered only after the transaction that made them is durable, in commit order,
to every subscriber except the one passed as ``origin`` to the write (the session that made the
change and answers its own client). IMAP turns them into EXISTS/FETCH/EXPUNGE/VANISHED and LIST
responses (mox ``store/state.go``).
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
)


class ChangeSubscriber:
    """What ``Account.subscribe()`` returns: a queue of changes for one session.

    ``pending()`` drains without blocking; ``await wait()`` returns when something is pending;
    ``close()`` unsubscribes. Thread-safe: commits happen in worker threads, and the waiting
    trio task is woken through its run's token (captured at ``subscribe()``).
    """

    def __init__(self, account) -> None:
        self._account = account
        self._lock = threading.Lock()
        self._items: list = []
        self._event: trio.Event | None = None
        self.closed = False
        try:
            self._token: trio.lowlevel.TrioToken | None = trio.lowlevel.current_trio_token()
        except RuntimeError:
            self._token = None

    def _push(self, changes: list) -> None:
        with self._lock:
            if self.closed:
                return
            self._items.extend(changes)
            ev, self._event = self._event, None
        if ev is not None and self._token is not None:
            try:
                self._token.run_sync_soon(ev.set)
            except trio.RunFinishedError:
                pass

    def pending(self) -> list:
        with self._lock:
            items, self._items = self._items, []
        return items

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

    def __enter__(self) -> ChangeSubscriber:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
