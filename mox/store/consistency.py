"""The consistency check: counts recalculated from the messages, records against their mailboxes
and the account's counters, files against the records (sizes, strays). Run by the tests after
each test and, when the store asks for it, at close."""

from __future__ import annotations

import os

from mox.store import layout
from mox.store.memindex import with_counts
from mox.store.recovery import Recovery
from mox.store.schema import Mailbox, Message, keywords_of


class Consistency(Recovery):
    """The consistency check (``check_consistency``)."""

    def check_consistency(self) -> list[str]:
        """Problems found by recalculating counts and checking records and files; [] when fine."""
        problems: list[str] = []
        with self._cond:
            usage = 0
            for mb in self._mailboxes.values():
                if mb.uidvalidity >= self._next_uidvalidity:
                    problems.append(f"mailbox {mb.name!r}: uidvalidity {mb.uidvalidity} >= next {self._next_uidvalidity}")
                if self._by_name.get(mb.name) != mb.id:
                    problems.append(f"mailbox {mb.name!r}: name index wrong")
                if "/" in mb.name and mb.name.rsplit("/", 1)[0] not in self._by_name:
                    problems.append(f"mailbox {mb.name!r}: parent missing")
                c = Mailbox(mb.id, mb.name, mb.uidvalidity, keywords=())
                kws: set[str] = set()
                hm = 0
                for uid, m in self._live[mb.id].items():
                    c = with_counts(c, m.flags, m.size, 1)
                    kws.update(keywords_of(m.flags))
                    hm = max(hm, m.modseq)
                    problems.extend(self._check_message(mb, uid, m))
                    usage += m.size
                for uid, m in self._tombs[mb.id].items():
                    hm = max(hm, m.modseq)
                    problems.extend(self._check_message(mb, uid, m))
                counts = (mb.total, mb.deleted, mb.unread, mb.unseen, mb.size)
                want = (c.total, c.deleted, c.unread, c.unseen, c.size)
                if counts != want:
                    problems.append(
                        f"mailbox {mb.name!r}: counts (total, deleted, unread, unseen, size) {counts} != recalculated {want}"
                    )
                if not kws.issubset(mb.keywords):
                    problems.append(f"mailbox {mb.name!r}: keywords {mb.keywords} miss {sorted(kws - set(mb.keywords))}")
                if mb.first_recent_uid > mb.uidnext:
                    problems.append(f"mailbox {mb.name!r}: first recent uid {mb.first_recent_uid} > uidnext {mb.uidnext}")
                if mb.highest_modseq < hm:
                    problems.append(f"mailbox {mb.name!r}: highest_modseq {mb.highest_modseq} < {hm}")
            if usage != self._disk_usage:
                problems.append(f"disk usage {self._disk_usage} != sum of message sizes {usage}")
            for name in sorted(self._subs & set(self._by_name)):
                problems.append(f"subscription of {name!r} kept apart from its mailbox")
            for p in self._stray_files():
                problems.append(f"stray file {p.relative_to(self.path).as_posix()}")
            n = sum(len(d) for d in self._live.values()) + sum(len(d) for d in self._tombs.values())
            if n != len(self._by_id):
                problems.append(f"{len(self._by_id)} messages by id, {n} in mailboxes")
        return problems

    def _check_message(self, mb: Mailbox, uid: int, m: Message) -> list[str]:
        p = []
        where = f"message {m.id} (mailbox {mb.name!r} uid {uid})"
        if m.uid != uid or m.mailbox_id != mb.id or self._by_id.get(m.id) is not m:
            p.append(f"{where}: indexed wrongly")
        if not 0 < m.createseq <= m.modseq <= self._last_modseq:
            p.append(f"{where}: createseq {m.createseq} modseq {m.modseq} last {self._last_modseq}")
        if m.uid >= mb.uidnext:
            p.append(f"{where}: uid >= uidnext {mb.uidnext}")
        if m.id >= self._next_id:
            p.append(f"{where}: id >= next id {self._next_id}")
        if not m.expunged and not m.thread_id:
            p.append(f"{where}: no thread id")
        if m.id in m.thread_parent_ids:
            p.append(f"{where}: its own thread parent")
        if not m.expunged:
            try:
                st = os.stat(layout.message_path(self.path, m.id))
            except FileNotFoundError:
                p.append(f"{where}: file missing")
            else:
                if st.st_size != m.size:
                    p.append(f"{where}: file size {st.st_size} != {m.size}")
        return p
