"""STORE and UID STORE (selected state): RFC 9051 6.4.6; RFC 7162 3.1.3 UNCHANGEDSINCE/[MODIFIED].

Keywords are stored lower-case (mox's known keywords keep their case); a new keyword makes the
session send an updated FLAGS response.
"""

from __future__ import annotations

from typing import Any

from . import contexts
from .errors import BadCommand, CommandFailed
from .responses import CodeModified, FetchFlags, FetchModSeq, FetchUID, UntaggedFetch, UntaggedUIDFetch
from .session import Done, Session
from .types import SYSTEM_FLAGS, Command, canonical_flag
from .wire import sequence_set


def check_flags(flags: list[str]) -> list[str]:
    out: list[str] = []
    system = {f.lower() for f in SYSTEM_FLAGS}
    for f in flags:
        if f.startswith("\\"):
            if f.lower() == "\\recent":
                continue  # RFC 3501: \Recent can't be changed by the client
            if f.lower() not in system:
                raise BadCommand(f"unknown system flag {f}")
        c = canonical_flag(f)
        if c not in out:
            out.append(c)
    return out


async def cmd_store(s: Session, cmd: Command) -> str | Done:
    sel = s.xselected()
    args = cmd.args
    if sel.readonly:
        raise CommandFailed("mailbox open in read-only mode", "READ-ONLY")
    flags = check_flags(args["flags"])
    unchangedsince = args["unchangedsince"]
    if unchangedsince is not None:
        s.enable_condstore()
    uids = s.resolve_numset(args["numset"], cmd.uid)
    uids = [u for u in uids if (m := s.acc.message(sel.mailbox_id, u)) is not None and not m.expunged]
    failed: list[int] = []
    changed_uids: set[int] = set()
    if uids:
        # A client's UNCHANGEDSINCE 0 fails for every message; modseq 1 means "never changed" (0).
        changed, failed = await s.acc.store_flags(
            sel.mailbox_id, uids, args["mode"], flags, unchangedsince=unchangedsince, origin=s.sub
        )
        changed_uids = {m.uid for m in changed}
        s._check_keywords([f for m in changed for f in m.flags])
    failed_set = set(failed)
    for uid in uids:
        if uid in failed_set:
            continue
        # With CONDSTORE, .SILENT still reports the new MODSEQ of changed messages (RFC 7162 3.1.3).
        if args["silent"] and not (s.condstore and uid in changed_uids):
            continue
        m = s.message(uid)
        seq = sel.seq(uid)
        if m is None or not seq:
            continue
        attrs: list[Any] = []
        if cmd.uid:
            attrs.append(FetchUID(uid))
        if not args["silent"]:
            attrs.append(FetchFlags(s.flags_out(uid, m.flags)))
        if s.condstore:
            attrs.append(FetchModSeq(max(m.modseq, 1)))
        s.shown(uid, m.modseq)
        # RFC 9586 3.3: UIDFETCH with UIDONLY (its UID attribute kept, so the list is never empty).
        s.send(UntaggedUIDFetch(uid, tuple(attrs)) if s.uidonly else UntaggedFetch(seq, tuple(attrs)))
    for uid in sorted(changed_uids):
        # RFC 5267 4.3: update contexts hear of our own flag changes too.
        if (m := s.message(uid)) is not None and sel.seq(uid):
            contexts.message_changed(s, m)
    if failed:
        # RFC 7162 3.1.3: the client learns the current flags of messages that failed the test.
        for uid in failed:
            m = s.message(uid)
            seq = sel.seq(uid)
            if m is not None and seq:
                s.shown(uid, m.modseq)
                s.send_flags(seq, uid, m.flags, m.modseq)
        nums = failed if cmd.uid else [sel.seq(u) for u in failed if sel.seq(u)]
        return Done(CodeModified(sequence_set(nums)), "conditional store did not modify all")
    return "STORE done"
