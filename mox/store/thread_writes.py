"""Threads and previews of an account's messages (as mox's store/threads.go and the webmail's
ThreadMute/ThreadCollapse): the per-thread settings, reassigning threads, threads for messages
stored before threads existed, and previews made on first use.

Matching a new message to its thread happens at delivery (writes.py, threads.assign); the
thread index lives with the in-memory index (memindex.py); the matching rules are in
threads.py. Thread fields change with ``MessageMeta`` records, without a new modseq (IMAP does
not show them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from mox.store import threads
from mox.store.changes import ChangeThread
from mox.store.commit import Pending, space_errors
from mox.store.errors import MessageGone
from mox.store.index import encode_txn
from mox.store.memindex import replace
from mox.store.schema import Message, MessageMeta, Txn, meta_of
from mox.store.writes import Writes


class ThreadWrites(Writes):
    """Thread settings, reassigning threads and previews."""

    def _thread_setting_sync(self, message_ids: Iterable[int], muted: bool | None, collapsed: bool | None, origin) -> list[Message]:
        """Set muted and/or collapsed (None: unchanged) on the messages and their descendants
        (mox's webmail ThreadMute/ThreadCollapse); returns the messages changed."""
        ids = sorted(set(message_ids))
        if not ids:
            raise ValueError("no messages")
        with self._cond:
            self._check_writable()
            for id in ids:
                m = self._by_id.get(id)
                if m is None or m.expunged:
                    raise MessageGone(f"no message with id {id}")
            records: list[MessageMeta] = []
            for m in threads.thread_members(self._threads, self._by_id, ids):
                nm = replace(
                    m,
                    thread_muted=m.thread_muted if muted is None else muted,
                    thread_collapsed=m.thread_collapsed if collapsed is None else collapsed,
                )
                if nm != m:
                    records.append(meta_of(nm))
            if not records:
                return []
            for r in records:
                self._apply(r)
            changed = [self._by_id[r.id] for r in records]
            changes = [ChangeThread((m.id,), m.thread_muted, m.thread_collapsed) for m in changed]
            self._transact_applied(records, changes, origin, sync=False)  # docs/durability.md
        self._after_commit()
        return changed

    @space_errors
    def set_thread_muted_sync(self, message_ids: Iterable[int], muted: bool, origin=None) -> list[Message]:
        """Mute (or unmute) the threads below the given messages: new messages of a muted thread
        arrive \\Seen. Muting also collapses (mox ThreadMute). Raises MessageGone for an
        unknown or expunged id."""
        return self._thread_setting_sync(message_ids, muted, True if muted else None, origin)

    @space_errors
    def set_thread_collapsed_sync(self, message_ids: Iterable[int], collapsed: bool, origin=None) -> list[Message]:
        """Collapse (or expand) the threads below the given messages (mox ThreadCollapse)."""
        return self._thread_setting_sync(message_ids, None, collapsed, origin)

    def thread_messages(self, thread_id: int) -> list[Message]:
        """The live messages of a thread in any mailbox, ascending id."""
        with self._cond:
            return sorted((self._by_id[i] for i in self._threads.by_thread.get(thread_id, ())), key=lambda m: m.id)

    def messages_with_message_id(self, message_id: str) -> list[Message]:
        """The live messages in any mailbox whose canonical Message-ID is ``message_id``
        (mox.message.thread.message_id_canonical), ascending id."""
        with self._cond:
            return sorted((self._by_id[i] for i in self._threads.by_msgid.get(message_id, ())), key=lambda m: m.id)

    @space_errors
    def reassign_threads_sync(self, progress: Callable[[str], None] | None = None) -> tuple[int, int]:
        """Match every live message to its thread anew, from the Message-ID, References,
        In-Reply-To and Subject fields in its file (mox reassignthreads). Returns (messages,
        messages whose thread fields changed). Flags and modseqs do not change."""
        say = progress or (lambda s: None)
        with self._cond:
            ids = sorted(self._by_id[i].id for i in self._by_id if not self._by_id[i].expunged)
        preps: dict[int, threads.ThreadPrep] = {}
        for id in ids:
            self._prep_into(preps, id)
        say(f"New thread base subject assigned to {len(ids)} message(s), starting to reassign threads...")
        with self._cond:
            self._check_writable()
            live = sorted((m for m in self._by_id.values() if not m.expunged), key=lambda m: m.id)
            for m in live:
                if m.id not in preps:  # delivered meanwhile
                    self._prep_into(preps, m.id)
            changed = threads.reassign(live, preps)
            records = [meta_of(m) for m in changed]
            for r in records:
                self._apply(r)
            if records:
                self._transact_applied(records, [], None)
        if records:
            self._after_commit()
        say(f"assigning threads, done: {len(live)} messages")
        return len(live), len(records)

    def _prep_into(self, preps: dict, id: int) -> None:
        m = self._by_id.get(id)
        if m is None or m.expunged:
            return
        part = m.part
        assert part is not None, "only a tombstone has no part"
        try:
            preps[id] = threads.prepare(self.files.read(m.id), part)
        except MessageGone:
            preps[id] = threads.ThreadPrep("", "", False, [], False)

    def _upgrade_threads(self) -> None:
        """Messages stored before threads existed get theirs (once, at open)."""
        with self._cond:
            todo = any(not m.expunged and not m.thread_id for m in self._by_id.values())
        if todo and self._failed is None:
            n, changed = self.reassign_threads_sync()
            self._log.info("assigned threads to messages stored before threads", messages=n, changed=changed)

    # ------------------------------------------------------------------------------ previews

    def preview(self, msg: Message) -> str:
        """The message's preview (mox message/preview.go; for the webmail and IMAP PREVIEW,
        RFC 8970): stored at delivery; for a message stored before previews existed it is made
        now and stored with the next write (blocking: reads the message file)."""
        if msg.preview is not None:
            return msg.preview
        from mox.message.preview import preview

        part = msg.part
        assert part is not None, "a tombstone has no preview to make"
        pv = preview(self.files.read(msg.id), part)
        with self._cond:
            cur = self._by_id.get(msg.id)
            if cur is not None and not cur.expunged and cur.preview is None and not self._closed and self._failed is None:
                rec = meta_of(replace(cur, preview=pv))
                self._apply(rec)
                # Like a \Recent claim: no fsync of its own (it can be made again).
                self._seq += 1
                txn = Txn(self._seq, self._next_id, self._last_modseq, self._next_uidvalidity, [rec])
                self._pending.append(Pending(self._seq, encode_txn(txn), [], None, [rec], self._last_modseq))
        return pv
