"""The account's junk filter, trained from the messages' flags (mox store/train.go; the filter
itself is mox.junk, the flag rules mox.store.junk).

A message with ``$Junk`` and without ``$NotJunk`` is trained as spam, the reverse as ham,
anything else not at all. The filter records how it trained each message id; after every write
the messages it touched are retrained where their flags say otherwise (``_junk_sync``), and
removed messages are untrained (their files are kept until then: holding.py). The filter's
files live in the account directory.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from mox.store import layout
from mox.store.commit import Commit, space_errors
from mox.store.errors import StoreError
from mox.store.junk import junk_state

if TYPE_CHECKING:
    from mox.junk import Filter, Result

#: The junk filter's files in the account directory (mox.junk.filter: our format, not mox's).
JUNK_DB_NAME = "junkfilter.db"


class JunkTraining(Commit):
    """The junk filter of the account."""

    def _init_junk(self) -> None:
        self._junk_lock = threading.RLock()
        self._jf = None
        self._junk_holds = set()
        self._junk_deferred = set()
        self._junk_todo = set()  # message ids to train or untrain (_junk_sync)

    def _close_junk(self) -> None:
        """At close: nothing is held for the filter any more; its files are closed."""
        with self._cond:
            self._junk_release_locked(list(self._junk_holds))
        if self._jf is not None:
            try:
                self._jf.close()
            except OSError as e:
                self._log.warn("closing junk filter", err=repr(e))
            self._jf = None

    def _drop_filter(self) -> None:
        """Forget the open filter and its unsaved training (after a failed save)."""
        with self._junk_lock:
            jf, self._jf = self._jf, None
            if jf is None:
                return
            try:
                jf.discard()
                jf.close()
            except OSError as e:
                self._log.warn("junk filter: closing after a failed save", err=str(e))

    def junk_filter(self) -> Filter | None:
        """The account's junk filter (``mox.junk.Filter``), opened (created) on first use and
        brought in line with the messages' flags; None when none is configured. Blocking."""
        params = self._junk_params()
        if params is None:
            return None
        from mox.junk import Filter

        with self._junk_lock:
            if self._jf is not None and self._jf.params == params:
                return self._jf
            if self._jf is not None:
                self._jf.close()
                self._jf = None
            jf = Filter.open_or_create(params, self.path / JUNK_DB_NAME, fsync=self.store.fsync)
            self._jf = jf
            with self._cond:
                live = {m.id for m in self._by_id.values() if not m.expunged and junk_state(m.flags) is not None}
                ids = sorted(set(jf.trained) | live)
            self._junk_train(jf, ids)
            return jf

    def _junk_sync(self, ids: Iterable[int]) -> None:
        """Train or untrain messages whose flags differ from how the filter has them (after a
        write committed); releases the files of removed messages held for this.

        Writers combine: the ids are queued, and whichever writer holds the filter trains
        everything queued and saves once (one journal frame and its fsync for a whole batch of
        concurrent deliveries, instead of one each, in a row). A writer that finds the filter
        busy returns at once: the holder takes its ids before it lets go (it looks again after
        releasing the lock). The training is not part of the write's durability: the filter
        records what it trained and is brought in line with the flags when it is opened."""
        ids = list(ids)
        if not ids:
            return
        with self._cond:
            self._junk_todo.update(ids)
        while True:
            if not self._junk_lock.acquire(blocking=False):
                return  # the holder trains our ids (see above)
            try:
                self._junk_train_queued()
            finally:
                self._junk_lock.release()
            with self._cond:
                if not self._junk_todo:
                    break
        if self._unlink:
            self.remove_released_files()

    def _junk_train_queued(self) -> None:
        """Train the queued ids until none are left (junk lock held)."""
        while True:
            with self._cond:
                todo, self._junk_todo = sorted(self._junk_todo), set()
            if not todo:
                return
            try:
                jf = self.junk_filter()
                if jf is not None:
                    self._junk_train(jf, todo)
            except OSError as e:
                # The write this follows is durable and stays so; the filter catches up when it
                # is opened again (it records what it trained).
                if not layout.is_disk_full(e):
                    raise
                self._log.warn("junk filter: disk full, training later", err=str(e))
                self._drop_filter()
            finally:
                with self._cond:
                    self._junk_release_locked(todo)

    def _junk_train(self, jf: Filter, ids: list[int]) -> None:
        from mox.message import parse_message

        changed = False
        removed = False  # a removed message untrained: its file goes once this is saved
        for id in ids:
            with self._cond:
                m = self._by_id.get(id)
                if m is not None and m.expunged:
                    m = None
            want = junk_state(m.flags) if m is not None else None
            have = jf.trained.get(id)
            if want == have:
                continue
            try:
                with open(layout.message_path(self.path, id), "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                if want is not None:
                    continue  # removed meanwhile; its removal untrains it
                # Removed and its file gone (a crash in between): its words stay counted.
                self._log.info("junk filter: removed message could not be untrained", id=id)
                jf.set_trained(id, None)
                changed = True
                continue
            part = m.part if m is not None else None
            words = jf.words_of(data, part if part is not None else parse_message(data))
            if have is not None:
                jf.untrain(words, ham=not have)
                removed = removed or m is None
            if want is not None:
                jf.train(words, ham=not want)
            jf.set_trained(id, want)
            changed = True
        if changed:
            # Training only: no fsync. The filter records which messages it trained, and a frame
            # that a crash of the machine takes off is trained again when the filter is opened
            # (junk_filter). Untraining a removed message is fsynced: its file goes after this.
            jf.save(sync=removed)

    @space_errors
    def junk_retrain_sync(self) -> tuple[int, int]:
        """A new junk filter trained from all messages' flags (mox ``retrain``); returns (messages,
        trained). Raises StoreError when the account has no junk filter configured."""
        params = self._junk_params()
        if params is None:
            raise StoreError("looking for junk filter: junkfilter: not configured")
        from mox.junk import Filter

        with self._junk_lock:
            if self._jf is not None:
                self._jf.close()
                self._jf = None
            for name in (JUNK_DB_NAME, JUNK_DB_NAME + ".journal"):
                (self.path / name).unlink(missing_ok=True)
            jf = Filter.create(params, self.path / JUNK_DB_NAME, fsync=self.store.fsync)
            with self._cond:
                live = [m for m in self._by_id.values() if not m.expunged]
            ids = sorted(m.id for m in live if junk_state(m.flags) is not None)
            self._junk_train(jf, ids)
            jf.save()
            self._jf = jf
        self._log.info("retrained messages", total=len(live), trained=len(ids))
        return len(live), len(ids)

    @space_errors
    def junk_classify(self, data: bytes) -> Result | None:
        """The junk filter's verdict on a message (``mox.junk.Result``), or None without a
        configured filter. Blocking; DiskFull when the filter cannot be created or brought up
        to date for lack of space."""
        jf = self.junk_filter()
        if jf is None:
            return None
        from mox.message import parse_message

        return jf.classify(data, parse_message(data))
