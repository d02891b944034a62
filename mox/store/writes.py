"""The account's write operations: delivery, flags, expunge, copy and move, mailboxes,
subscriptions, the password and \\Recent claims.

Each computes its records under the lock, applies them and waits until they are durable
(``Commit._transact_applied``); message files are placed before the transaction that refers to
them is queued, and removed again when it is not. The ``*_sync`` methods block; ``Account``
has the async versions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from mox.auth.password import make_password_record
from mox.store.changes import (
    ChangeAddMailbox,
    ChangeAddUID,
    ChangeAnnotation,
    ChangeFlags,
    ChangeMailboxCounts,
    ChangeMailboxKeywords,
    ChangeMailboxSpecialUse,
    ChangeRemoveMailbox,
    ChangeRemoveUIDs,
    ChangeRenameMailbox,
    ChangeSubscription,
)
from mox.store import threads
from mox.store.commit import Pending, space_errors
from mox.store.errors import (
    InvalidMailboxName,
    MailboxExists,
    MailboxHasChildren,
    MessageGone,
    MetadataTooLarge,
    MetadataTooMany,
    OverQuota,
    StoreError,
)
from mox.store.files import NewMessage, Upload
from mox.store.index import encode_txn
from mox.store.junk import flags_for_mailbox, junk_state
from mox.store.junk_training import JunkTraining
from mox.store.mailbox_names import check_mailbox_name, normalize_mailbox_name
from mox.store.memindex import replace
from mox.store.schema import (
    SPECIAL_USE,
    Annotation,
    DeliveryKey,
    Expunge,
    FlagsUpdate,
    Mailbox,
    MailboxDelete,
    Message,
    MessageDelete,
    Subscription,
    Txn,
    encode_part,
    normalize_flags,
)


#: Metadata entries (IMAP METADATA) an account may have, and their total size (names and
#: values), as mox (imapserver/metadata.go).
METADATA_MAX_ENTRIES = 1000
METADATA_MAX_SIZE = 1000 * 1000


class Writes(JunkTraining):
    """The write operations."""

    def effective_quota(self) -> int:
        return self.store.quota if self.quota is None else self.quota

    def _check_quota_locked(self, extra: int) -> None:
        q = self.effective_quota()
        if q > 0 and self._disk_usage + extra > q:
            raise OverQuota(f"quota of {q} bytes exceeded (usage {self._disk_usage}, adding {extra})")

    @space_errors
    def set_annotations_sync(
        self, mailbox_name: str | None, entries: Sequence[tuple[str, bytes | None, bool]], origin=None
    ) -> None:
        """Set metadata entries (key, value or None to remove, is_string) of a mailbox, or of the
        account with ``mailbox_name`` None, in one transaction. Keys are stored lower-case. The
        account's entries together are limited (METADATA_MAX_ENTRIES, METADATA_MAX_SIZE):
        MetadataTooMany / MetadataTooLarge, and nothing is set."""
        with self._cond:
            self._check_writable()
            mb = None if mailbox_name is None else self._mailbox_locked(mailbox_name)
            mbid = 0 if mb is None else mb.id
            cur = dict(self._annotations.get(mbid, {}))
            records = []
            for key, value, is_string in entries:
                key = key.lower()
                if value is None and key not in cur:
                    continue
                rec = Annotation(mbid, key, value, is_string)
                records.append(rec)
                if value is None:
                    del cur[key]
                else:
                    cur[key] = rec
            if not records:
                return
            n = size = 0
            for id, es in self._annotations.items():
                for a in (cur if id == mbid else es).values():
                    n += 1
                    size += len(a.key) + len(a.value or b"")
            if mbid not in self._annotations:
                n += len(cur)
                size += sum(len(a.key) + len(a.value or b"") for a in cur.values())
            if n > METADATA_MAX_ENTRIES:
                raise MetadataTooMany(f"too many metadata entries, at most {METADATA_MAX_ENTRIES}")
            if size > METADATA_MAX_SIZE:
                raise MetadataTooLarge(f"metadata too large, at most {METADATA_MAX_SIZE} bytes", METADATA_MAX_SIZE)
            for rec in records:
                self._apply(rec)
            changes = [ChangeAnnotation(mbid, "" if mb is None else mb.name, rec.key) for rec in records]
            self._transact_applied(records, changes, origin, sync=False)  # docs/durability.md
        self._after_commit()

    @space_errors
    def set_password_sync(self, password: str, *, scrypt_n: int | None = None) -> None:
        """Set the login password; ``scrypt_n`` only for a published password
        (mox.auth.password.PUBLISHED_SCRYPT_N)."""
        rec = make_password_record(password, scrypt_n=scrypt_n)
        with self._cond:
            self._check_writable()
            self._apply(rec)
            self._transact_applied([rec], [], None)
        # The old password no longer logs in from the authentication cache either.
        self.store.auth_cache.invalidate(self.name)

    @space_errors
    def deliver_sync(
        self, mailbox_name: str, data: bytes, *, flags: Iterable[str] = (), received: float | None = None, origin=None,
        before_visible: Callable[[Message], None] | None = None, reject_hash: bytes | None = None,
    ) -> Message:
        """Store a message. ``before_visible`` is called with its record under the account's
        lock, after every check passed and just before any reader can see the message (keep
        it short; it must not call into the account): what the caller records about the
        message (mox.ci: which SMTP session brought it) is then in place for whoever finds
        it. If it raises, nothing is stored."""
        msgs = self._deliver(
            mailbox_name, [NewMessage(data, tuple(flags), received)], origin, None, before_visible, reject_hash
        )
        assert msgs is not None
        return msgs[0]

    @space_errors
    def deliver_once_sync(
        self, mailbox_name: str, data: bytes, key: str, *, flags: Iterable[str] = (), received: float | None = None,
        before_visible: Callable[[Message], None] | None = None, reject_hash: bytes | None = None,
    ) -> Message | None:
        """Deliver unless a delivery with ``key`` happened before (then store nothing and return
        None). The key is durable in the same transaction as the message: the queue passes its
        entry id, so a retry after a crash between delivery and dequeue delivers nothing twice.
        ``before_visible``: as for deliver_sync (not called when nothing is stored)."""
        if not key:
            raise ValueError("empty delivery key")
        msgs = self._deliver(mailbox_name, [NewMessage(data, tuple(flags), received)], None, key, before_visible, reject_hash)
        return None if msgs is None else msgs[0]

    def new_upload(self) -> Upload:
        """A temporary file for a message arriving in parts (an IMAP APPEND literal), in the
        store's tmp directory (the data directory's filesystem): ``deliver_upload`` renames it
        into place, so the message is written once and never held in memory while it arrives."""
        return Upload(self.files.tmp_path("upload"))

    @space_errors
    def deliver_upload_sync(
        self, mailbox_name: str, upload: Upload, *, flags: Iterable[str] = (), received: float | None = None, origin=None
    ) -> Message:
        """deliver_sync for a message in an Upload; the upload's file becomes the message file.
        Raises DiskFull when writing the upload had failed for a full disk."""
        return self.deliver_many_sync(mailbox_name, [NewMessage(upload, tuple(flags), received)], origin=origin)[0]

    @space_errors
    def deliver_many_sync(
        self, mailbox_name: str, messages: Sequence[NewMessage], *, origin=None,
        replace: tuple[int, int] | None = None,
    ) -> list[Message]:
        """Store several messages in one transaction: all of them or, on any error (a full disk
        while writing one, the quota, a failed upload), none (IMAP MULTIAPPEND, RFC 3502 6.3.11).
        They get consecutive UIDs in their order. ``replace``: (mailbox id, uid) of a message
        expunged in the same transaction (IMAP REPLACE, RFC 8508 3.3); when it is gone by then,
        nothing is stored (MessageGone)."""
        if not messages:
            raise ValueError("no messages")
        for m in messages:
            if isinstance(m.data, Upload):
                m.data.finish(fsync=self.store.fsync)
        msgs = self._deliver(mailbox_name, list(messages), origin, None, replace=replace)
        assert msgs is not None
        return msgs

    def _deliver(
        self, mailbox_name, messages: list[NewMessage], origin, key: str | None,
        before_visible: Callable[[Message], None] | None = None, reject_hash: bytes | None = None,
        replace: tuple[int, int] | None = None,
    ) -> list[Message] | None:
        items = []
        for m in messages:
            data = m.data if isinstance(m.data, Upload) else bytes(m.data)
            received = m.received
            if received is not None and hasattr(received, "timestamp"):
                received = received.timestamp()  # a datetime
            items.append((data, normalize_flags(m.flags), received))
        size = sum(d.size if isinstance(d, Upload) else len(d) for d, _, _ in items)
        with self._cond:
            self._check_writable()
            if key is not None and key in self._keys:
                return None
            mbid = self._mailbox_locked(mailbox_name).id
            self._check_quota_locked(size)
            first = self._next_id
            self._next_id += len(items)
            ids = list(range(first, first + len(items)))
            self._leave_clean_locked()
            self._inflight.update(ids)
        try:
            return self._deliver_placed(ids, mbid, items, size, origin, key, before_visible, reject_hash, replace)
        finally:
            self._inflight.difference_update(ids)

    def _deliver_placed(
        self, ids: list[int], mbid, items: list, size: int, origin, key: str | None,
        before_visible: Callable[[Message], None] | None, reject_hash: bytes | None,
        replace: tuple[int, int] | None,
    ) -> list[Message] | None:
        from mox.message import parse_message
        from mox.message.preview import preview

        queued = False
        placed: list[int] = []
        dirs: set[Path] = set()  # fsynced by the flusher, once for all writers of its batch
        try:
            prepared = []
            for id, (data, _, _) in zip(ids, items):
                # The MIME structure, threading values and preview need the whole message once
                # (briefly, in this worker thread).
                raw = data.read() if isinstance(data, Upload) else data
                part = parse_message(raw)
                prepared.append((encode_part(part), threads.prepare(raw, part), preview(raw, part)))
                del raw
                if isinstance(data, Upload):
                    dirs.add(self.files.place_upload(id, data, sync_dir=False))
                else:
                    dirs.add(self.files.place(id, data, sync_dir=False))
                placed.append(id)
            with self._cond:
                self._check_writable()
                if key is not None and key in self._keys:
                    self.files.remove(ids)  # delivered meanwhile by a concurrent retry
                    return None
                mb = self._mailbox_by_id_locked(mbid)
                gone: Message | None = None
                if replace is not None:
                    self._mailbox_by_id_locked(replace[0])
                    gone = self._live[replace[0]].get(replace[1])
                    if gone is None:
                        raise MessageGone(f"message to replace (uid {replace[1]}) is gone")
                self._check_quota_locked(size - (gone.size if gone is not None else 0))
                modseq = self._next_modseq_locked()
                now = time.time()
                settings = self.settings()
                if before_visible is not None:
                    assert len(ids) == 1, "before_visible with one message"
                records: list = []
                changes: list = []
                if gone is not None:
                    rec = Expunge([gone.id], modseq)
                    self._apply(rec)
                    records.append(rec)
                    held = self._keep_removed_locked([gone])
                    changes.append(ChangeRemoveUIDs(gone.mailbox_id, [gone.uid], modseq, held))
                    changes.append(ChangeMailboxCounts(self._mailboxes[gone.mailbox_id]))
                msgs: list[Message] = []
                for i, (id, (data, nflags, received), (part_raw, prep, pv)) in enumerate(zip(ids, items, prepared)):
                    nflags = flags_for_mailbox(nflags, mb.name, mb.special_use, settings)
                    msg = Message(
                        id, mbid, mb.uidnext + i, modseq, modseq, nflags, data.size if isinstance(data, Upload) else len(data),
                        now if received is None else float(received), False, part_raw,
                        preview=pv, mailbox_orig_id=mbid,
                        is_reject=reject_hash is not None, message_hash=reject_hash or b"",
                        saved=now,  # RFC 8514: saved into its mailbox now
                    )  # fmt: skip
                    # In the thread of the message it replies to (\Seen when that thread is
                    # muted); an earlier message of this transaction counts (applied below).
                    msg = threads.assign(self._threads, self._by_id, msg, prep)
                    if before_visible is not None:
                        before_visible(msg)  # may raise: nothing is applied yet (one message)
                    self._apply(msg)
                    msgs.append(msg)
                    records.append(msg)
                    changes.append(ChangeAddUID(mbid, msg.uid, modseq, msg.flags))
                mb2 = self._mailboxes[mbid]
                changes.append(ChangeMailboxCounts(mb2))
                if mb2.keywords != mb.keywords:
                    changes.append(ChangeMailboxKeywords(mbid, mb2.keywords))
                queued = True
                keys = [DeliveryKey(key, msgs[0].id, now)] if key is not None else []
                self._transact_applied(records, changes, origin, keys, dirs=dirs)
        except BaseException:
            if not queued:
                self.files.remove(placed)
            raise
        junk = [m.id for m in msgs if junk_state(m.flags) is not None]
        if junk:
            self._junk_sync(junk)
        self._after_commit()
        return msgs

    @space_errors
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
                # Always: its highest modseq changed (IMAP NOTIFY's STATUS for FlagChange).
                changes.append(ChangeMailboxCounts(mb2))
                if mb2.keywords != mb.keywords:
                    changes.append(ChangeMailboxKeywords(mailbox_id, mb2.keywords))
                # Flag changes are written before the reply, fsynced shortly after (docs/durability.md).
                self._transact_applied(records, changes, origin, sync=False)
        if updates:
            self._junk_sync([m.id for m in changed])
            self._after_commit()
        return changed, failed

    @space_errors
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
            # Written before the reply, fsynced shortly after; the files are removed only once
            # the removal is fsynced (remove_released_files; docs/durability.md).
            self._transact_applied([rec], changes, origin, sync=False)
        self._junk_sync(ids)
        self._after_commit()
        return removed

    def _copy_sync(
        self, src_id: int, uids: Iterable[int], dst_id: int, origin, *, move: bool, new_mailboxes: Sequence[str] = ()
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
            self._leave_clean_locked()
            self._inflight.update(range(first, first + len(srcs)))
        try:
            return self._copy_placed(src_id, dst_id, srcs, first, origin, move, new_mailboxes)
        finally:
            self._inflight.difference_update(range(first, first + len(srcs)))

    def _copy_placed(self, src_id, dst_id, srcs, first, origin, move, new_mailboxes):
        pairs = [(m.id, first + i) for i, m in enumerate(srcs)]
        queued = False
        try:
            missing = self.files.link(pairs)
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
                self.files.remove(nid for m, (_, nid) in zip(srcs, pairs) if m.id not in copied)
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
                now = time.time()
                mapping: list[tuple[int, int]] = []
                uidnext = dst.uidnext
                adds = []
                settings = self.settings()
                for i, (m, nid) in enumerate(todo):
                    # A copy keeps the thread, its settings and the preview (as mox); the flags
                    # get the junk flags of the destination.
                    flags = flags_for_mailbox(m.flags, dst.name, dst.special_use, settings)
                    # A copy or a moved message is saved into its new mailbox now (RFC 8514 2).
                    nm = replace(
                        m, id=nid, mailbox_id=dst_id, uid=uidnext + i, modseq=modseq, createseq=modseq, flags=flags,
                        saved=now,
                    )  # fmt: skip
                    self._apply(nm)
                    records.append(nm)
                    mapping.append((m.uid, nm.uid))
                    adds.append(ChangeAddUID(dst_id, nm.uid, modseq, nm.flags))
                if move:
                    rec = Expunge([m.id for m, _ in todo], modseq)
                    self._apply(rec)
                    records.append(rec)
                    # Messages below a moved one in its thread refer to its new id.
                    metas = threads.remap_parents(self._threads, self._by_id, {m.id: nid for m, nid in todo})
                    for meta in metas:
                        self._apply(meta)
                    records.extend(metas)
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
                self.files.remove(nid for _, nid in pairs)
            raise
        self._junk_sync([nid for _, nid in todo] + ([m.id for m, _ in todo] if move else []))
        self._after_commit()
        return mapping, created

    @space_errors
    def copy_sync(self, src_mailbox_id: int, uids: Iterable[int], dst_mailbox_id: int, origin=None) -> list[tuple[int, int]]:
        return self._copy_sync(src_mailbox_id, uids, dst_mailbox_id, origin, move=False)[0]

    @space_errors
    def move_sync(self, src_mailbox_id: int, uids: Iterable[int], dst_mailbox_id: int, origin=None) -> list[tuple[int, int]]:
        return self._copy_sync(src_mailbox_id, uids, dst_mailbox_id, origin, move=True)[0]

    @space_errors
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

    @space_errors
    def set_special_use_sync(self, mailbox_id: int, special_use: str | None, origin=None) -> list[Mailbox]:
        """Give a mailbox a special use (RFC 6154), or none; the mailbox that had that use loses
        it, so each use names one mailbox (mox MailboxSetSpecialUse). Returns the changed
        mailboxes."""
        if special_use is not None and special_use not in SPECIAL_USE:
            raise StoreError(f"unknown special-use {special_use!r}")
        with self._cond:
            self._check_writable()
            mb = self._mailbox_by_id_locked(mailbox_id)
            if mb.special_use == special_use:
                return []
            records = [
                replace(m, special_use=None) for m in self._mailboxes.values()
                if special_use is not None and m.special_use == special_use and m.id != mb.id
            ]  # fmt: skip
            records.append(replace(mb, special_use=special_use))
            for r in records:
                self._apply(r)
            self._transact_applied(records, [ChangeMailboxSpecialUse(r) for r in records], origin)
        self._after_commit()
        return records

    @space_errors
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
        self._junk_sync(kept)
        self._after_commit()

    @space_errors
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

    @space_errors
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
            self._transact_applied([rec], [ChangeSubscription(name, subscribed)], origin, sync=False)
        self._after_commit()

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
            self._pending.append(Pending(self._seq, encode_txn(txn), [], None, [rec], self._last_modseq, False))
            return first
