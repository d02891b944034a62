"""Removed messages that sessions still show ("holding", see changes.py).

A message expunged or moved away stays readable, its record as before the removal and its file,
until every session that selected its mailbox when the removal was broadcast has told its client
(or unselected): ``_removed`` keeps the records, ``_removed_refs`` the number of holders. Files
nobody holds any more go to ``_unlink`` and are removed after the command that released them
(``remove_released_files``, from a worker thread). A clean close releases everything.

With a junk filter, the file of a removed message is also kept until the filter has untrained
it (``_junk_holds``; junk_training.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from mox.store.changes import ChangeSubscriber
from mox.store.memindex import IndexState
from mox.store.schema import Mailbox, Message

if TYPE_CHECKING:
    from mox.junk import Params
    from mox.store.junk import AccountSettings


class HeldRemovals(IndexState):
    """Removals held for the sessions that still show the messages."""

    def _keep_removed_locked(self, msgs: Iterable[Message]) -> tuple[int, ...]:
        """Keep the records (and files) of messages being removed until their removal has been
        broadcast and released by every holder; returns their ids for the change."""
        ids = []
        for m in msgs:
            self._removed[m.id] = m
            self._removed_uid[(m.mailbox_id, m.uid)] = m.id
            ids.append(m.id)
        if ids and self._junk_params() is not None:
            self._junk_holds.update(ids)  # untrained after the commit (junk_training.py)
        return tuple(ids)

    def _forget_removed_locked(self, id: int) -> None:
        m = self._removed.pop(id, None)
        self._removed_refs.pop(id, None)
        if m is None:
            return
        if self._removed_uid.get((m.mailbox_id, m.uid)) == id:
            del self._removed_uid[(m.mailbox_id, m.uid)]
        if id in self._junk_holds:
            self._junk_deferred.add(id)
        else:
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
        return (
            id in self._removed or id in self._unlinking or id in self._unlink or id in self._junk_holds
            or id in self._junk_deferred
        )  # fmt: skip

    def _junk_release_locked(self, ids: Iterable[int]) -> None:
        """Files held for untraining that are not needed for that any more."""
        for id in ids:
            self._junk_holds.discard(id)
            if id in self._junk_deferred:
                self._junk_deferred.discard(id)
                self._unlink.append(id)

    def settings(self) -> AccountSettings | None:
        """The account's junk settings from the store's owner (None: none configured)."""
        fn = getattr(self.store, "settings", None)
        return fn(self.name) if fn is not None else None

    def _junk_params(self) -> Params | None:
        s = self.settings()
        return s.junk_filter if s is not None else None

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
            self.files.remove(ids)
        finally:
            with self._cond:
                self._unlinking.difference_update(ids)

    def select_view(
        self, mailbox_id: int, sub: ChangeSubscriber, keep: Callable[[object], bool] | None = None
    ) -> tuple[Mailbox, list[Message], int]:
        """A session selects a mailbox: the mailbox, its messages and the account's modseq, all
        as of one moment, while the subscriber's pending changes (reflected in that listing) are
        dropped, what it held is released, and from now on it holds removals from this mailbox.
        Changes with a modseq up to the returned one are in the listing. Pending changes for
        which ``keep`` says True stay pending (what the session tells of other mailboxes)."""
        with self._cond:
            mb = self._mailbox_by_id_locked(mailbox_id)
            msgs = list(self._live[mailbox_id].values())
            modseq = self._last_modseq
            pending, _ = sub.drain()
            if keep is not None:
                sub.requeue([c for c in pending if keep(c)])
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
