"""APPEND (authenticated state): RFC 9051 6.3.12; RFC 3502 MULTIAPPEND (several messages, all
stored or none); RFC 4315 APPENDUID; RFC 3516/6855 literal8 and UTF8; RFC 9208 OVERQUOTA. A
missing mailbox gives ``NO [TRYCREATE]``. A message may be put together with CATENATE (RFC 4469,
catenate.py). REPLACE and UID REPLACE (selected state, RFC 8508):
an APPEND and the expunge of a message of the selected mailbox in one transaction."""

from __future__ import annotations

from mox.store import MessageGone, NewMessage, Upload
from mox.store.schema import Message

from . import catenate, contexts
from .cmd_mailbox import account_quota
from .cmd_store import check_flags
from .errors import BadCommand, CommandFailed
from .cmd_select import selected_highest_modseq, send_removed
from .responses import CodeAppendUID, CodeHighestModSeq, UntaggedExists, UntaggedResult
from .session import Done, Session
from .types import AppendMessage, Command
from .wire import sequence_set


async def cmd_append(s: Session, cmd: Command) -> Done:
    args = cmd.args
    name = s.mailbox_in(args["mailbox"])
    mb = s.acc.mailbox(name)
    if mb is None:
        raise CommandFailed("mailbox does not exist", "TRYCREATE")
    # Every message is checked before any is stored (RFC 3502 6.3.11: if the server cannot
    # append all of them, none are appended).
    news = [await _new_message(s, m) for m in args["messages"]]
    # Once authenticated, message literals were streamed to Uploads (files of the store); the
    # driver discards the uploads after the command when they did not become messages.
    size = sum(m.data.size if isinstance(m.data, Upload) else len(m.data) for m in news)
    quota = account_quota(s)
    if quota > 0 and s.acc.disk_usage() + size > quota:
        raise CommandFailed("account over quota", "OVERQUOTA")
    msgs = await s.acc.deliver_many(mb.name, news, origin=s.sub)
    uids = [m.uid for m in msgs]
    add_to_view(s, mb.id, msgs)
    # RFC 4315 3 (and RFC 3502 6.3.11): APPENDUID with the UIDs of all appended messages.
    return Done(CodeAppendUID(mb.uidvalidity, sequence_set(uids)), "appended")


async def _new_message(s: Session, m: AppendMessage) -> NewMessage:
    flags = tuple(check_flags(list(m.flags)))
    data = m.data
    if m.catenate is not None:
        data = await catenate.build(s, m.catenate)  # RFC 4469
    return NewMessage(data, flags, m.date)


def add_to_view(s: Session, mailbox_id: int, msgs: list[Message], *, report_recent: bool = True) -> None:
    """Messages the session added to a mailbox: when it is the selected one, the client hears
    of them (EXISTS, and \\Recent unless the caller reports it later) at once."""
    sel = s.selected
    if sel is None or sel.mailbox_id != mailbox_id:
        return
    new = [m for m in msgs if not sel.seq(m.uid)]
    if not new:
        return
    # Messages with lower UIDs that other sessions added are announced first, so the new
    # messages come last and no sequence number changes meaning (RFC 9051 2.3.1.1): their
    # changes were queued for us before our write became durable. Later changes wait.
    s.apply_changes(allow_expunge=False, before=min(m.createseq for m in new))
    for m in new:
        sel.uids.append(m.uid)
        s._check_keywords(list(m.flags))
    sel.uids.sort()
    s.note_new([m.uid for m in new])  # \Recent for us, as for the next session otherwise (RFC 3501 6.3.11)
    s.send(UntaggedExists(len(sel.uids)))
    if report_recent:
        s.report_recent()
    contexts.messages_added(s, [m.uid for m in new])  # RFC 5267 4.3.3: after the EXISTS


async def cmd_replace(s: Session, cmd: Command) -> str | Done:
    sel = s.xselected()
    args = cmd.args
    num = args["num"]
    # RFC 8508 3.1: the message by sequence number or (UID REPLACE) UID; "*" is the last one.
    if num is None:
        if not sel.uids:
            raise BadCommand("cannot use * on an empty mailbox")
        uid = sel.uids[-1]
    elif cmd.uid:
        if not sel.seq(num):
            raise CommandFailed("no message with that uid to replace", "NONEXISTENT")
        uid = num
    else:
        if num > len(sel.uids):
            raise BadCommand("invalid msgseq: message sequence number out of range")
        uid = sel.uids[num - 1]
    if sel.readonly:
        raise CommandFailed("mailbox open in read-only mode", "READ-ONLY")
    name = s.mailbox_in(args["mailbox"])
    dst = s.acc.mailbox(name)
    if dst is None:
        raise CommandFailed("mailbox does not exist", "TRYCREATE")  # RFC 8508 3.3, as APPEND
    new = await _new_message(s, args["messages"][0])
    old = s.acc.message(sel.mailbox_id, uid)
    if old is None:
        # Expunged by another session; the client hears of it after this reply (RFC 8508 3.3:
        # the replacement fails, nothing is appended).
        raise CommandFailed("message to be replaced has been expunged", "EXPUNGEISSUED")
    size = new.data.size if isinstance(new.data, Upload) else len(new.data)
    quota = account_quota(s)
    if quota > 0 and s.acc.disk_usage() + size - old.size > quota:
        raise CommandFailed("account over quota", "OVERQUOTA")
    try:
        msgs = await s.acc.deliver_many(dst.name, [new], origin=s.sub, replace=(sel.mailbox_id, uid))
    except MessageGone:
        raise CommandFailed("message to be replaced has been expunged", "EXPUNGEISSUED") from None
    # RFC 8508 3.3: the APPENDUID in an untagged OK before the expunge (RFC 4315 with the tagged
    # response taken by the expunge); EXISTS for a new message in the selected mailbox, then
    # EXPUNGE (or VANISHED with QRESYNC, RFC 8508 3.4 and RFC 7162 3.2.10).
    s.send(UntaggedResult("OK", CodeAppendUID(dst.uidvalidity, str(msgs[0].uid)), "replacement message"))
    add_to_view(s, dst.id, msgs, report_recent=False)
    send_removed(s, sel, [uid])  # and the number of \\Recent messages, if it changed
    if s.qresync:
        return Done(CodeHighestModSeq(selected_highest_modseq(s, sel)), "replaced")
    return "REPLACE done"
