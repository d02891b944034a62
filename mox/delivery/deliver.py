"""Local delivery with rulesets, the junk filter and the rejects mailbox (mox smtpserver
analyze.go, rejects.go and store.Account.DeliverDestination, as far as they apply without DNS
reputation).

For each local recipient: the destination's first matching ruleset picks the mailbox (else the
destination's mailbox, else Inbox); a missing mailbox is created. With a junk filter configured
(and no ruleset with a verified ``ListAllowDomain``), the message is classified; a significant
probability above the threshold makes it junk. Junk goes to the ruleset's
``AcceptRejectsToMailbox`` (marked \\Seen) when it has one; otherwise, when the filter is set to
``Reject``, a copy is kept in the account's rejects mailbox and the delivery fails with mox's
``451 4.3.0 error processing``; otherwise (localserve's default) it is delivered to the Junk
mailbox. A message delivered normally removes an earlier rejected copy with the same
Message-ID from the rejects mailbox.

mox also lowers the threshold to 0.25 for deliveries without TLS or with the recipient not in
To/Cc, and adds random jitter to it; we keep the configured threshold so a local server's
verdicts are predictable.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import trio

from mox import mlog
from mox.ci import hooks as ci
from mox.context import ServerContext
from mox.delivery import rules
from mox.delivery.rules import MessageInfo
from mox.store import InvalidMailboxName, MailboxExists

log = mlog.get_logger("smtpserver")

#: Rejects older than this are removed when a new reject is stored (mox TidyRejectsMailbox).
REJECTS_KEEP = 14 * 24 * 3600
#: At most this many messages in the rejects mailbox; more rejects are not stored.
REJECTS_MAX = 1000


class Rejected(Exception):
    """The delivery is refused: SMTP reply code, enhanced status code without its class digit
    (RFC 3463: "3.0" goes with 451 as 4.3.0), text."""

    def __init__(self, code: int, se: str, text: str) -> None:
        super().__init__(f"{code} {code // 100}.{se} {text}")
        self.code = code
        self.se = se
        self.text = text


def _list_allowed(rs: Any, info: MessageInfo) -> bool:
    if not rs or not rs.list_allow_domain:
        return False
    d = rs.list_allow_domain.lower().rstrip(".")
    return (info.mail_from_validated and info.mail_from_domain == d) or d in info.dkim_domains


def _junk_mailbox(acc: Any) -> str:
    for mb in acc.mailboxes():
        if mb.special_use == "\\Junk":
            return mb.name
    return "Junk"


async def deliver_local(
    ctx: ServerContext,
    account: str,
    rcpt: str,
    data: bytes,
    *,
    info: MessageInfo,
    recipients: list[str] | None = None,
    key: str | None = None,
    session: str | None = None,
    verdict: tuple[Any, str] | None = None,
) -> Any:
    """Deliver to ``account`` for recipient address ``rcpt`` (see the module docstring). Returns
    the stored message, or None when a keyed delivery happened before; raises Rejected,
    OverQuota, DiskFull. ``verdict``: ``classify_sync``'s answer for ``data`` when the caller
    has it already (made in a worker thread it needed anyway), used if the filter applies."""
    config = ctx.config
    acc_cfg = config.accounts.get(account)
    dest = rules.destination(config, account, rcpt)
    rs = rules.message_ruleset(dest, info, data)
    mailbox = rs.mailbox if rs is not None else (dest.mailbox or "Inbox")
    flags: tuple[str, ...] = ()
    junk = False
    jf_cfg = acc_cfg.junk_filter if acc_cfg is not None else None
    if jf_cfg is not None and not _list_allowed(rs, info):
        if verdict is None:
            acc = ctx.store.open_account(account)
            try:
                verdict = await trio.to_thread.run_sync(classify_sync, acc, data)
            finally:
                acc.close()
        result, junk_mailbox = verdict
        if result is not None:
            junk = result.significant and result.probability > jf_cfg.threshold
            log.info(
                "content analyzed", account=account, accept=not junk, contentprob=round(result.probability, 6),
                contentsignificant=result.significant,
            )  # fmt: skip
    if junk:
        if rs is not None and rs.accept_rejects_to_mailbox:
            # mox: accepted into the ruleset's mailbox, \Seen so it draws no attention.
            log.info("accepting reject to configured mailbox due to ruleset", mailbox=rs.accept_rejects_to_mailbox)
            return await deliver_to_store(
                ctx, account, rs.accept_rejects_to_mailbox, data, flags=("\\Seen",), recipients=recipients, key=key,
                session=session, create_mailbox=True, reject_hash=b"",
            )  # fmt: skip
        if jf_cfg is not None and jf_cfg.reject:
            await store_reject(ctx, account, data)
            log.info("incoming message rejected", reason="junk-content", account=account)
            raise Rejected(451, "3.0", "error processing")  # mox: C451LocalErr, SeSys3Other0
        mailbox = junk_mailbox
    ok = await deliver_to_store(
        ctx, account, mailbox, data, flags=flags, recipients=recipients, key=key, session=session, create_mailbox=True
    )
    if ok and not junk and acc_cfg is not None and acc_cfg.rejects_mailbox:
        await remove_rejects(ctx, account, acc_cfg.rejects_mailbox, data)
    return ok


def classification_applies(ctx: ServerContext, account: str, rcpt: str, data: bytes, info: MessageInfo) -> bool:
    """Whether ``deliver_local`` runs the junk filter on this delivery (a filter is configured
    and no ruleset with a verified ListAllowDomain matches)."""
    acc_cfg = ctx.config.accounts.get(account)
    if acc_cfg is None or acc_cfg.junk_filter is None:
        return False
    rs = rules.message_ruleset(rules.destination(ctx.config, account, rcpt), info, data)
    return not _list_allowed(rs, info)


def classify_sync(acc: Any, data: bytes) -> tuple[Any, str]:
    """The junk filter's result for ``data`` (None without a filter) and the account's junk
    mailbox. Blocking: in a worker thread."""
    return acc.junk_classify(data), _junk_mailbox(acc)


def _message_id(data: bytes) -> str:
    from mox.message.header import split_header
    from mox.message.thread import BadMessageID, message_id_canonical

    fields, _, _ = split_header(data, 0, len(data))
    for f in fields:
        if f.lname == "message-id":
            try:
                return message_id_canonical(f.value())[0]
            except BadMessageID:
                return ""
    return ""


async def store_reject(ctx: ServerContext, account: str, data: bytes) -> None:
    """Keep a copy of a refused message in the account's rejects mailbox (mox smtpserver): once
    per Message-ID (or content hash), \\Seen; old rejects are removed first unless KeepRejects,
    and nothing is stored when the mailbox is full."""
    acc_cfg = ctx.config.accounts.get(account)
    if acc_cfg is None or not acc_cfg.rejects_mailbox:
        return
    name = acc_cfg.rejects_mailbox
    msgid = _message_id(data)
    digest = hashlib.sha256(data).digest()
    acc = ctx.store.open_account(account)
    try:
        mb = acc.mailbox(name)
        if mb is not None:
            msgs = acc.messages(mb.id)
            if any((msgid and m.message_id == msgid) or m.message_hash == digest for m in msgs):
                log.info("reject message is already present, ignoring", account=account)
                return
            if not acc_cfg.keep_rejects:
                now = time.time()
                old = [m.uid for m in msgs if m.received < now - REJECTS_KEEP]
                if old:
                    await acc.expunge(mb.id, old)
                if len(msgs) - len(old) >= REJECTS_MAX:
                    log.info("not storing spammy mail to full rejects mailbox", account=account)
                    return
    finally:
        acc.close()
    await deliver_to_store(ctx, account, name, data, flags=("\\Seen",), create_mailbox=True, reject_hash=digest)
    log.info("stored spammy mail in rejects mailbox", account=account, mailbox=name)


async def remove_rejects(ctx: ServerContext, account: str, name: str, data: bytes) -> None:
    """A message was delivered: earlier rejected copies (same Message-ID) leave the rejects
    mailbox (mox RejectsRemove)."""
    acc = ctx.store.open_account(account)
    try:
        mb = acc.mailbox(name)
        if mb is None or mb.total + mb.deleted == 0:
            return
        msgid = _message_id(data)  # only when there are rejects to look at
        if not msgid:
            return
        uids = [m.uid for m in acc.messages(mb.id) if m.message_id == msgid]
        if uids:
            await acc.expunge(mb.id, uids)
            log.info("removed message from rejects mailbox", account=account, count=len(uids))
    finally:
        acc.close()


async def deliver_to_store(
    ctx: ServerContext,
    account: str,
    mailbox: str,
    data: bytes,
    *,
    flags: tuple[str, ...] = (),
    recipients: list[str] | None = None,
    key: str | None = None,
    session: str | None = None,
    create_mailbox: bool = False,
    reject_hash: bytes | None = None,
) -> Any:
    """Deliver ``data`` into ``account``'s ``mailbox`` (durable when this returns; a missing
    mailbox is created with ``create_mailbox``, else Inbox is used); in
    localserve also into the per-address views of the envelope ``recipients`` (mox.ci.hooks), first,
    so whoever sees the message in ``account`` finds it in the views too. With a ``key`` (the
    queue's entry), each account stores the message at most once: None when ``account`` had
    it already (a retry after a crash); otherwise the stored ``Message``. ``session``: the SMTP connection id that brought the
    message, recorded with each stored copy for its transcript link."""
    data = ci.stabilize(ctx, data)
    # The transcript link of each copy is made before the copy becomes visible (before_visible):
    # whoever finds the message can read its transcript at once.
    views = await ci.deliver_views(ctx, account, mailbox, data, recipients, key=key, session=session)
    for view_name, m in views:
        ci.record_delivery(ctx, session, view_name, m)
    acc = ctx.store.open_account(account)
    try:
        acc.quota = ctx.config.account_quota(acc.name)  # the configured quota
        if mailbox != "Inbox" and acc.mailbox(mailbox) is None:
            mailbox = await _ensure_mailbox(acc, mailbox) if create_mailbox else "Inbox"
        bind = ci.bind_delivery(ctx, session, account)
        t = ci.fixed_time(ctx)
        if key is None:
            m = await acc.deliver(mailbox, data, flags=flags, received=t, before_visible=bind, reject_hash=reject_hash)
        else:
            m = await acc.deliver_once(
                mailbox, data, key, flags=flags, received=t, before_visible=bind, reject_hash=reject_hash
            )
        ci.record_delivery(ctx, session, account, m)
        return m
    except BaseException:
        if key is None:  # the sender retries the whole delivery (keyed: the retry skips the views)
            with trio.CancelScope(shield=True):
                await ci.undo_views(ctx, views)
        raise
    finally:
        acc.close()


async def _ensure_mailbox(acc: Any, name: str) -> str:
    """Create a delivery's mailbox when missing (mox MailboxEnsure); Inbox when the name is not
    valid."""
    try:
        mbs = await acc.create_mailbox(name)
    except MailboxExists:
        return name
    except InvalidMailboxName as e:
        log.warn("delivery mailbox name invalid, delivering to Inbox", mailbox=name, err=str(e))
        return "Inbox"
    created: str = mbs[-1].name
    return created
