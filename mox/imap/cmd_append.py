"""APPEND (authenticated state): RFC 9051 6.3.12; RFC 4315 APPENDUID; RFC 3516/6855 literal8
and UTF8; RFC 9208 OVERQUOTA. A missing mailbox gives ``NO [TRYCREATE]``."""

from __future__ import annotations

from mox.store import Upload

from . import contexts
from .cmd_mailbox import account_quota
from .cmd_store import check_flags
from .errors import CommandFailed
from .responses import CodeAppendUID, UntaggedExists
from .session import Done, Session
from .types import Command


async def cmd_append(s: Session, cmd: Command) -> Done:
    args = cmd.args
    name = s.mailbox_in(args["mailbox"])
    mb = s.acc.mailbox(name)
    if mb is None:
        raise CommandFailed("mailbox does not exist", "TRYCREATE")
    flags = check_flags(args["flags"])
    # Once authenticated, the message literal was streamed to an Upload (a file of the store);
    # the driver discards the upload after the command when it did not become a message.
    data: bytes | Upload = args["message"]
    size = data.size if isinstance(data, Upload) else len(data)
    quota = account_quota(s)
    if quota > 0 and s.acc.disk_usage() + size > quota:
        raise CommandFailed("account over quota", "OVERQUOTA")
    if isinstance(data, Upload):
        msg = await s.acc.deliver_upload(mb.name, data, flags=flags, received=args["date"], origin=s.sub)
    else:
        msg = await s.acc.deliver(mb.name, data, flags=flags, received=args["date"], origin=s.sub)
    sel = s.selected
    if sel is not None and sel.mailbox_id == mb.id and not sel.seq(msg.uid):
        # Messages with lower UIDs that other sessions added are announced first, so the new
        # message comes last and no sequence number changes meaning (RFC 9051 2.3.1.1): their
        # changes were queued for us before our write became durable. Later changes wait.
        s.apply_changes(allow_expunge=False, before=msg.createseq)
        sel.uids.append(msg.uid)
        sel.uids.sort()
        s._check_keywords(list(msg.flags))
        s.note_new([msg.uid])  # \Recent for us, as for the next session otherwise (RFC 3501 6.3.11)
        s.send(UntaggedExists(len(sel.uids)))
        s.report_recent()
        contexts.messages_added(s, [msg.uid])  # RFC 5267 4.3.3: after the EXISTS
    return Done(CodeAppendUID(mb.uidvalidity, str(msg.uid)), "appended")
