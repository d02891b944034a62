"""Threads: matching messages to the thread of the message they reply to, as mox does
(``store/threads.go``), at delivery and when reassigning all threads of an account.

A message's thread is found, in order: through another message with the same Message-ID; the
Message-IDs of References (else In-Reply-To), from the direct parent backwards, whose message has
the same base subject (not required for a DSN); and, for a message without any reference whose
subject marks a response ("Re:", "Fwd:"), the most recent message with the same base subject
that was delivered to the same mailbox at most 4 weeks before (1 day after). A message without a
match starts its own thread: its thread id is its own id.

Everything here works on the account's in-memory index under the account lock; reading header
fields from the message data (``prepare``) happens before, outside the lock.
"""

from __future__ import annotations

import msgspec

from mox.message.header import decode_header_value, split_header
from mox.message.part import Part
from mox.message.thread import BadMessageID, message_id_canonical, referenced_ids, thread_subject
from mox.store.schema import Message, MessageMeta, meta_of

replace = msgspec.structs.replace

#: Subject-only matching looks this far back and ahead from the new message's received time.
SUBJECT_BACK = 4 * 7 * 24 * 3600
SUBJECT_AHEAD = 24 * 3600


class ThreadPrep(msgspec.Struct, frozen=True):
    """What matching needs from a message's header."""

    message_id: str
    subject_base: str
    is_response: bool
    references: list[str]  # canonical referenced Message-IDs, oldest first
    is_dsn: bool


def is_dsn(part: Part) -> bool:
    """A delivery status notification (RFC 3464 2; RFC 6533 for the global form)."""
    if part.media_type != "MULTIPART" or part.media_subtype != "REPORT":
        return False
    rt = next((v for k, v in part.params if k == "report-type"), "").lower()
    return rt in ("delivery-status", "global-delivery-status")


def prepare(data: bytes, part: Part) -> ThreadPrep:
    """Read the threading values of a message (mox's Message.PrepareThreading and the
    References/In-Reply-To fields)."""
    fields, _, _ = split_header(data, part.header_start, part.body_start)
    refs: list[str] = []
    irt: list[str] = []
    msgid = ""
    subject: str | None = None
    for f in fields:
        if f.lname == "references":
            refs.append(f.value())
        elif f.lname == "in-reply-to":
            irt.append(f.value())
        elif f.lname == "message-id" and not msgid:
            try:
                msgid, _ = message_id_canonical(f.value())
            except BadMessageID:
                pass
        elif f.lname == "subject" and subject is None:
            subject = f.value()
    base, resp = thread_subject(decode_header_value(subject)) if subject is not None else ("", False)
    return ThreadPrep(msgid, base, resp, referenced_ids(refs, irt), is_dsn(part))


class ThreadIndex:
    """Lookups of live messages by canonical Message-ID, base subject and thread id."""

    def __init__(self) -> None:
        self.by_msgid: dict[str, list[int]] = {}
        self.by_subject: dict[str, list[int]] = {}
        self.by_thread: dict[int, set[int]] = {}

    def add(self, m: Message) -> None:
        if m.message_id:
            _insert(self.by_msgid.setdefault(m.message_id, []), m.id)
        if m.subject_base:
            _insert(self.by_subject.setdefault(m.subject_base, []), m.id)
        if m.thread_id:
            self.by_thread.setdefault(m.thread_id, set()).add(m.id)

    def remove(self, m: Message) -> None:
        for d, k in ((self.by_msgid, m.message_id), (self.by_subject, m.subject_base)):
            ids = d.get(k) if k else None
            if ids is not None and m.id in ids:
                ids.remove(m.id)
                if not ids:
                    del d[k]
        s = self.by_thread.get(m.thread_id)
        if s is not None:
            s.discard(m.id)
            if not s:
                del self.by_thread[m.thread_id]


def _insert(ids: list[int], id: int) -> None:
    if not ids or ids[-1] < id:
        ids.append(id)
    elif id not in ids:
        ids.append(id)
        ids.sort()


def assign_parent(m: Message, pm: Message, *, update_seen: bool) -> Message:
    """``m`` as a child of ``pm`` (mox assignParent): its thread, ancestors and settings; \\Seen
    when the thread is muted and ``update_seen``."""
    parents = (pm.id, *pm.thread_parent_ids) if m.id not in pm.thread_parent_ids else (pm.id,)
    flags = m.flags
    if update_seen and pm.thread_muted and "\\Seen" not in flags:
        flags = ("\\Seen", *flags)  # \Seen sorts first (schema.normalize_flags)
    return replace(
        m,
        thread_id=pm.thread_id,
        thread_parent_ids=parents,
        thread_missing_link=m.thread_missing_link or (bool(m.message_id) and m.message_id == pm.message_id),
        thread_muted=pm.thread_muted,
        thread_collapsed=pm.thread_collapsed,
        flags=flags,
    )


def _lookup(index: ThreadIndex, by_id: dict[int, Message], m: Message, message_id: str) -> tuple[Message | None, bool]:
    """The first message with ``message_id`` and the same base subject (any subject for a DSN)
    that has a thread; and whether any message with that id exists (mox lookupThreadMessage)."""
    ids = index.by_msgid.get(message_id, ())
    exists = False
    for id in ids:
        if id == m.id:
            continue
        tm = by_id[id]
        if not m.is_dsn and tm.subject_base != m.subject_base:
            continue
        exists = True
        if tm.thread_id:
            return tm, True
    return None, exists


def _lookup_subject(index: ThreadIndex, by_id: dict[int, Message], m: Message) -> Message | None:
    """The most recently received message with the same base subject, delivered to the same
    mailbox, within the window around ``m``'s received time (mox lookupThreadMessageSubject)."""
    best: Message | None = None
    for id in index.by_subject.get(m.subject_base, ()):
        tm = by_id[id]
        if tm.id == m.id or not tm.thread_id or tm.mailbox_orig_id != m.mailbox_orig_id:
            continue
        if not m.received - SUBJECT_BACK < tm.received < m.received + SUBJECT_AHEAD:
            continue
        if best is None or tm.received > best.received:
            best = tm
    return best


def assign(index: ThreadIndex, by_id: dict[int, Message], m: Message, prep: ThreadPrep) -> Message:
    """``m`` (a new message, not in the index yet) with its thread fields: in an existing thread,
    or its own (thread id = its id). New messages of a muted thread get \\Seen (mox
    assignThread)."""
    m = replace(m, message_id=prep.message_id, subject_base=prep.subject_base, is_dsn=prep.is_dsn)
    if m.message_id:
        for id in index.by_msgid.get(m.message_id, ()):
            em = by_id[id]
            if id != m.id and em.thread_id:
                return assign_parent(m, em, update_seen=True)
    for mid in reversed(prep.references):
        if mid == m.message_id:
            continue
        tm, _ = _lookup(index, by_id, m, mid)
        if tm is not None:
            return assign_parent(m, tm, update_seen=True)
        m = replace(m, thread_missing_link=True)
    if prep.references or not prep.is_response or not m.subject_base:
        return replace(m, thread_id=m.id)
    m = replace(m, thread_missing_link=True)
    tm = _lookup_subject(index, by_id, m)
    if tm is None:
        return replace(m, thread_id=m.id)
    return assign_parent(m, tm, update_seen=True)


def reassign(msgs: list[Message], preps: dict[int, ThreadPrep]) -> list[Message]:
    """All threads of an account computed anew (mox ResetThreading + AssignThreads): ``msgs``
    are the live messages in ascending id order, ``preps`` their header values. Returns the
    messages whose thread fields (or Message-ID, base subject) changed. Muted/collapsed
    settings of thread roots are kept and passed on to their children; flags are not changed."""
    index = ThreadIndex()
    done: dict[int, Message] = {}
    # A message waiting for the parent it references to get a thread: parent Message-ID ->
    # (child id, whether the child misses its direct parent).
    pending: dict[str, list[tuple[int, bool]]] = {}
    reset: dict[int, Message] = {}
    for m in msgs:
        p = preps[m.id]
        reset[m.id] = replace(
            m, message_id=p.message_id, subject_base=p.subject_base, is_dsn=p.is_dsn,
            thread_id=0, thread_parent_ids=(), thread_missing_link=False,
        )  # fmt: skip
    for m in reset.values():
        index.add(m)
    by_id = reset  # lookups see the reset fields, then the assigned ones

    def store(m: Message) -> None:
        index.remove(by_id[m.id])
        by_id[m.id] = m
        index.add(m)
        done[m.id] = m

    def resolve(tm: Message, cyclic: bool) -> None:
        if not tm.message_id:
            return
        for cid, missing in pending.pop(tm.message_id, ()):
            c = by_id[cid]
            if c.thread_id:
                continue  # already resolved (a cycle)
            c = assign_parent(c, tm, update_seen=False)
            store(replace(c, thread_missing_link=missing))
            resolve(by_id[cid], cyclic)

    for m in list(reset.values()):
        p = preps[m.id]
        if by_id[m.id].thread_id:
            continue
        m = by_id[m.id]
        if m.message_id:
            # Another, earlier message with the same Message-ID.
            first = next((i for i in index.by_msgid.get(m.message_id, ()) if i < m.id), None)
            if first is not None:
                em = by_id[first]
                if not em.thread_id:
                    pending.setdefault(em.message_id, []).append((m.id, True))
                else:
                    store(assign_parent(m, em, update_seen=False))
                    resolve(by_id[m.id], False)
                continue
        parked = False
        matched = False
        refs = p.references
        for i in range(len(refs) - 1, -1, -1):
            mid = refs[i]
            if mid == m.message_id:
                continue
            tm, exists = _lookup(index, by_id, m, mid)
            if tm is not None:
                store(assign_parent(m, tm, update_seen=False))
                matched = True
                break
            if exists:
                pending.setdefault(mid, []).append((m.id, i < len(refs) - 1))
                parked = True
                break
        if parked:
            continue
        if not matched:
            if refs or not p.is_response or not m.subject_base:
                store(replace(m, thread_id=m.id, thread_missing_link=bool(refs)))
            else:
                tm = _lookup_subject(index, by_id, m)
                if tm is not None:
                    # Under the thread's root when matched by subject only.
                    store(replace(
                        m, thread_id=tm.thread_id, thread_parent_ids=(tm.thread_id,), thread_missing_link=True,
                        thread_muted=tm.thread_muted, thread_collapsed=tm.thread_collapsed,
                    ))  # fmt: skip
                else:
                    store(replace(m, thread_id=m.id))
        resolve(by_id[m.id], False)

    # What is still pending references its parents in a cycle: the cycle's first message (by
    # Message-ID order) becomes the root, the rest follows.
    parent: dict[str, str] = {}
    for pmid, kids in pending.items():
        for cid, _ in kids:
            kmid = by_id[cid].message_id
            if kmid != pmid and kmid not in parent:
                parent[kmid] = pmid
    for mid in sorted(pending):
        if mid not in pending:
            continue
        seen: set[str] = set()
        while mid in parent and mid not in seen:
            seen.add(mid)
            mid = parent[mid]
        roots = [by_id[i] for i in index.by_msgid.get(mid, ()) if not by_id[i].thread_id]
        if not roots:
            continue
        root = replace(roots[0], thread_id=roots[0].id, thread_parent_ids=(), thread_missing_link=True)
        store(root)
        for r in roots[1:]:
            store(replace(assign_parent(r, root, update_seen=False), thread_missing_link=True))
        resolve(root, True)
    # Anything left (a pending parent that could not be resolved): its own thread.
    for m in list(by_id.values()):
        if not m.thread_id:
            store(replace(m, thread_id=m.id, thread_missing_link=True))
    orig = {m.id: m for m in msgs}
    return [m for id, m in sorted(by_id.items()) if _thread_fields(m) != _thread_fields(orig[id])]


def _thread_fields(m: Message) -> tuple:
    return (m.message_id, m.subject_base, m.thread_id, m.thread_parent_ids, m.thread_missing_link,
            m.thread_muted, m.thread_collapsed)  # fmt: skip


def remap_parents(index: ThreadIndex, by_id: dict[int, Message], mapping: dict[int, int]) -> list[MessageMeta]:
    """After a move gave messages new ids (old -> new in ``mapping``, the new ones applied): the
    new thread fields of live messages that had a moved message as ancestor."""
    out: list[MessageMeta] = []
    tids = sorted({by_id[n].thread_id for n in mapping.values() if n in by_id})
    for tid in tids:
        for id in sorted(index.by_thread.get(tid, ())):
            m = by_id[id]
            if any(p in mapping for p in m.thread_parent_ids):
                parents = tuple(mapping.get(p, p) for p in m.thread_parent_ids)
                out.append(meta_of(replace(m, thread_parent_ids=parents)))
    return out


def thread_members(index: ThreadIndex, by_id: dict[int, Message], ids: list[int]) -> list[Message]:
    """The given live messages and their descendants (the messages of their threads that have
    one of them as ancestor), in id order: what mute and collapse change (mox ThreadMute,
    ThreadCollapse)."""
    want = set(ids)
    tids = {by_id[i].thread_id for i in ids}
    out = []
    for tid in tids:
        for id in index.by_thread.get(tid, ()):
            m = by_id[id]
            if id in want or any(p in want for p in m.thread_parent_ids):
                out.append(m)
    return sorted(out, key=lambda m: m.id)
