"""FETCH and UID FETCH (selected state): RFC 9051 6.4.5; RFC 3516 BINARY; RFC 7162 CHANGEDSINCE
and VANISHED; RFC 8514 SAVEDATE; RFC 8970 PREVIEW (the store's previews).

A non-PEEK body fetch sets \\Seen (unless read-only) before the responses are made, and FLAGS is
then included in that message's response.

Every message the client has not been told is expunged gets its data, also one another session
expunged meanwhile (its EXPUNGE waits until after this command, RFC 9051 7.5.1): the session
holds such removals, so the record as it was and the file are still there (RFC 2180 4.1.1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mox.message import Part, sections

from . import contexts, fetch, wire
from .errors import BadCommand, CommandFailed
from .response_write import fetch_attr, fetch_body, fetch_flags, fetch_response
from .responses import (
    FetchBinary,
    FetchBinarySize,
    FetchFlags,
    FetchInternalDate,
    FetchPreview,
    FetchSaveDate,
    FetchModSeq,
    FetchRFC822,
    FetchRFC822Header,
    FetchRFC822Text,
    UntaggedVanished,
)
from .session import Session
from .types import Command, FetchAtt, Section

if TYPE_CHECKING:
    from mox.store.schema import Message


def _sets_seen(a: FetchAtt) -> bool:
    return (a.name in ("BODY", "BINARY") and a.section is not None and not a.peek) or a.name in (
        "RFC822",
        "RFC822.TEXT",
    )


async def cmd_fetch(s: Session, cmd: Command) -> str:
    sel = s.xselected()
    args = cmd.args
    atts: list[FetchAtt] = list(args["atts"])
    changedsince = args["changedsince"]
    if args["vanished"]:
        # RFC 7162 3.2.6
        if not cmd.uid:
            raise BadCommand("VANISHED only allowed with UID FETCH")
        if changedsince is None:
            raise BadCommand("VANISHED requires CHANGEDSINCE")
        if not s.qresync:
            raise BadCommand("QRESYNC must be enabled for VANISHED")
    if changedsince is not None or any(a.name == "MODSEQ" for a in atts):
        s.enable_condstore()  # RFC 7162 3.1: CONDSTORE enabling
    uids = s.resolve_numset(args["numset"], cmd.uid)
    if args["partial"] is not None:
        # RFC 9394 3.3: only the messages at these positions of the set (before CHANGEDSINCE).
        uids = args["partial"].select(uids)
    msgs = []
    for m in s.messages(uids):
        if m is None:
            continue  # never happens for a uid in the view: removals are held until we tell the client
        if changedsince is not None and max(m.modseq, 1) <= changedsince:
            continue
        msgs.append(m)

    if args["vanished"]:
        known = set(uids)
        numset = args["numset"]
        largest = sel.uids[-1] if sel.uids else 0
        gone = [u for u in s.acc.expunged_uids(sel.mailbox_id, changedsince) if u in known or numset.contains(u, max(largest, u))]
        if gone:
            s.send(UntaggedVanished(True, wire.sequence_set(gone)))

    seen_uids: set[int] = set()
    if not sel.readonly and any(_sets_seen(a) for a in atts):
        need = [m.uid for m in msgs if "\\Seen" not in m.flags]
        if need:
            changed, _ = await s.acc.store_flags(sel.mailbox_id, need, "add", ["\\Seen"], origin=s.sub)
            seen_uids = {m.uid for m in changed}
            fresh = {m.uid: m for m in changed}
            msgs = [fresh.get(m.uid, m) for m in msgs]

    # RFC 9586 3.3: with UIDONLY the response is numbered by UID and UID is no implied attribute.
    want_uid = cmd.uid and not s.uidonly and not any(a.name == "UID" for a in atts)
    want_modseq = changedsince is not None and not any(a.name == "MODSEQ" for a in atts)
    previews: dict[int, str] = {}
    if any(a.name == "PREVIEW" for a in atts):
        # RFC 8970: the store's preview, made (once) for messages stored before previews
        # existed, in a worker thread.
        previews = {m.id: pv for m, pv in zip(msgs, await s.acc.previews(msgs))}
    for m in msgs:
        seq = sel.seq(m.uid)
        if not seq:
            continue
        out: list[bytes] = []
        if want_uid:
            out.append(b"UID %d" % m.uid)  # fetch_attr(FetchUID(m.uid))
        state_shown = message_attrs(s, m, atts, previews, out)
        if m.uid in seen_uids and not any(a.name == "FLAGS" for a in atts):
            out.append(fetch_attr(FetchFlags(s.flags_out(m.uid, m.flags))))
            state_shown = True
        # RFC 7162 3.2: flag changes are reported with their MODSEQ.
        seen_modseq = m.uid in seen_uids and s.condstore and not any(a.name == "MODSEQ" for a in atts)
        if want_modseq or seen_modseq:
            out.append(fetch_attr(FetchModSeq(max(m.modseq, 1))))
            state_shown = True
        if state_shown:
            s.shown(m.uid, m.modseq)
        s.out += fetch_response(m.uid, out, uidfetch=True) if s.uidonly else fetch_response(seq, out)
    for m in msgs:
        if m.uid in seen_uids and sel.seq(m.uid):
            contexts.message_changed(s, m)  # RFC 5267 4.3: \Seen set by this FETCH
    return "FETCH done"


def message_attrs(s: Session, m: Message, atts: list[FetchAtt] | tuple[FetchAtt, ...], previews: dict[int, str], out: list[bytes]) -> bool:
    """Append the FETCH attributes ``atts`` of message ``m`` to ``out`` (written with
    ``response_write.fetch_attr``); ``previews`` by message id for PREVIEW. Returns whether
    flags or MODSEQ were shown (Session.shown). Shared by FETCH and NOTIFY's MessageNew
    (cmd_notify)."""
    state_shown = False
    data: bytes | None = None
    root: Part | None = None

    def load_data() -> bytes:
        nonlocal data
        if data is None:
            data = s.acc.read_message(m)  # MessageGone for a tombstone: its file is gone
        return data

    def load() -> tuple[bytes, Part]:
        # The MIME structure is decoded only for a section that needs it (not BODY[]).
        nonlocal root
        d = load_data()
        if root is None:
            root = m.part
            assert root is not None, "a message with a file has a part"
        return d, root

    for a in atts:
        n = a.name
        # The common attributes are written directly (as fetch_attr writes their values).
        if n == "UID":
            out.append(b"UID %d" % m.uid)
        elif n == "FLAGS":
            out.append(fetch_flags(s.flags_out(m.uid, m.flags)))
            state_shown = True
        elif n == "INTERNALDATE":
            out.append(fetch_attr(FetchInternalDate(wire.date_time(m.received))))
        elif n == "PREVIEW":
            # RFC 8970 3: a preview is at most 256 characters (not octets); we send at most 200,
            # as mox.
            out.append(fetch_attr(FetchPreview(previews.get(m.id, "")[:200])))
        elif n == "SAVEDATE":
            # RFC 8514 3: NIL where the save date is not known (messages stored before we
            # kept it, as mox).
            out.append(fetch_attr(FetchSaveDate(wire.date_time(m.saved) if m.saved else None)))
        elif n == "RFC822.SIZE":
            out.append(b"RFC822.SIZE %d" % m.size)
        elif n == "MODSEQ":
            out.append(fetch_attr(FetchModSeq(max(m.modseq, 1))))
            state_shown = True
        elif n == "ENVELOPE":
            out.append(b"ENVELOPE " + fetch.rendered(m, 0))
        elif n == "BODYSTRUCTURE":
            out.append(b"BODYSTRUCTURE " + fetch.rendered(m, 1))
        elif n == "BODY" and a.section is None:
            out.append(b"BODY " + fetch.rendered(m, 2))
        elif n == "RFC822":
            out.append(fetch_attr(FetchRFC822(load_data())))
        elif n == "RFC822.HEADER":
            d, r = load()
            out.append(fetch_attr(FetchRFC822Header(fetch.section_bytes(d, r, Section(text="HEADER")))))
        elif n == "RFC822.TEXT":
            d, r = load()
            out.append(fetch_attr(FetchRFC822Text(fetch.section_bytes(d, r, Section(text="TEXT")))))
        elif n == "BODY" and a.section is not None:
            if not a.section.part and a.section.text is None:
                body = load_data()  # BODY[]: the whole message (RFC 9051 6.4.5)
            else:
                body = fetch.section_bytes(*load(), a.section)
            offset = None
            if a.partial is not None:
                offset, cnt = a.partial
                body = body[offset : offset + cnt]
            out.append(fetch_body(fetch.section_name(a.section), offset, body))
        elif n in ("BINARY", "BINARY.SIZE") and a.section is not None:  # the parser gives BINARY a section
            d, r = load()
            try:
                binary = fetch.binary_bytes(d, r, a.section)
            except sections.UnknownEncoding as e:
                raise CommandFailed(f"unknown content-transfer-encoding {e.args[0]}", "UNKNOWN-CTE") from None
            if binary is None:
                raise CommandFailed("part does not exist", "NONEXISTENT")
            body = binary
            secname = ".".join(str(x) for x in a.section.part)
            if n == "BINARY.SIZE":
                out.append(fetch_attr(FetchBinarySize(secname, len(body))))
            else:
                offset = None
                if a.partial is not None:
                    offset, cnt = a.partial
                    body = body[offset : offset + cnt]
                out.append(fetch_attr(FetchBinary(secname, offset, body)))
    return state_shown
