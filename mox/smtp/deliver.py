"""What the SMTP server does with a complete message (the connection driver, ``server.py``,
hands it over after DATA or the last BDAT): a submission goes into the queue with our Received
field, the added Message-ID/Date and DKIM signatures (RFC 6409, mox smtpserver submit); an
incoming message goes into each recipient's account with Delivered-To, Return-Path,
Authentication-Results and Received (RFC 5321 4.4, mox smtpserver deliver), then its incoming
webhooks are queued. Errors are ``SMTPFail`` replies (``protocol.fail``) the driver writes.
"""

from __future__ import annotations

import datetime
import functools
import time
from typing import TYPE_CHECKING, Any

import trio

from mox import dkim
from mox.auth.authenticator import AliasRefused
from mox.ci import hooks as ci
from mox.delivery import rules
from mox.delivery.deliver import Rejected, classification_applies, classify_sync, deliver_local
from mox.delivery.rules import MessageInfo
from mox.dkim import local as dkim_local
from mox.message import add_missing_headers
from mox.queue import fromid
from mox.smtp import checks
from mox.smtp import codes as c
from mox.smtp import failsim
from mox.smtp.address import Address
from mox.smtp.parse import orcpt_address
from mox.smtp.protocol import Reply, fail
from mox.smtp.received import address_literal, received, return_path, submission_authres, tls_comment, with_protocol
from mox.store import DiskFull, OverQuota

if TYPE_CHECKING:
    from mox.smtp.server import Conn


def received_field(conn: Conn, recipients: list[Address], *, now: float) -> bytes:
    """Our Received field in mox's form (mox.smtp.received): submission hides the client,
    delivery names its EHLO, reverse name and address."""
    tx = conn.proto.tx
    host = conn.ctx.config.hostname
    if conn.submission:
        from_ = host
    else:
        literal = address_literal(conn.remote_ip)
        name = dkim_local.iprev_name(conn.remote_ip)
        helo = conn.proto.ehlo_domain or literal
        from_ = f"{helo} ({name + ' ' if name and name != helo else ''}{literal})"
    return received(
        from_=from_,
        by=f"{host} ({address_literal(conn.local_ip)})",
        with_=with_protocol(
            smtputf8=tx.smtputf8, ehlo=conn.proto.extended, tls=conn.proto.tls, authenticated=conn.proto.account is not None
        ),
        requiretls=tx.requiretls,
        id_=conn.cid,
        tls=tls_comment(conn.stream) if conn.proto.tls else None,
        for_=str(recipients[0]) if len(recipients) == 1 else None,
        date=now,
    )


async def submit(conn: Conn, data: bytes) -> None:
    """A submitted message (RFC 6409) into the queue, durable before the 250 (mox smtpserver
    submit)."""
    tx = conn.proto.tx
    account = conn.proto.account
    assert account is not None
    # mox smtpserver submit: one From address, of the account or an alias it may use; no Return-Path.
    from_addr = checks.check_submission(data, conn.allow_from)
    from_domain = from_addr.rpartition("@")[2]
    if conn.ctx.config.domain_disabled(from_domain):
        conn.log.info("submission with message from address of disabled domain", domain=from_domain)
        raise fail(c.C451_LOCAL_ERROR, c.SE_SYS_OTHER, "domain of message from header is temporarily disabled")
    extra = checks.mox_extra(data)
    # mox smtpserver/server.go (localserve): every recipient is checked before queueing; the
    # first trigger fails all.
    for rcpt in tx.recipients:
        if failsim.stage(rcpt.localpart) == "data":
            await conn.simulate(failsim.special_code(rcpt.localpart), "timing out submission due to special localpart")
    _check_send_limits(conn, account, [str(r) for r in tx.recipients])
    from_ids = _from_ids(conn, account)
    # RFC 6409 8.2, 8.3: Message-ID and Date added when missing.
    host = conn.ctx.config.hostname
    now = ci.fixed_time(conn.ctx) or time.time()
    full = add_missing_headers(data, hostname=host, now=datetime.datetime.now(datetime.timezone.utc))
    added = full[: len(full) - len(data)]
    # mox smtpserver submit: Received, the added Message-ID/Date, the DKIM signatures of the
    # From domain, Authentication-Results with the auth method (RFC 8601 2.7.4).
    sigs = await _dkim_sign(conn, full, from_addr, now)
    msg = received_field(conn, tx.recipients, now=now) + added + sigs + submission_authres(host, str(tx.mail_from or "")) + data
    dsn_options = {
        "ret": tx.ret,
        "envid": tx.envid,
        "recipients": [
            {"notify": p.get("NOTIFY"), "orcpt": orcpt_address(p.get("ORCPT"))} for p in tx.rcpt_params
        ],
        "smtputf8": tx.smtputf8,
    }
    try:
        ids = await conn.ctx.queue.add(
            account,
            str(tx.mail_from) if tx.mail_from else "",
            [str(r) for r in tx.recipients],
            msg,
            dsn_options=dsn_options,
            hold_until=tx.hold_until,
            session=conn.cid,
            extra=extra,
            require_tls=True if tx.requiretls else None,
            future_release_request=_future_release_request(tx.hold_until),
            from_ids=from_ids,
            wait_sent=False,  # the Sent copy is promised with the entries and stored after the 250
        )
    except DiskFull as e:
        # RFC 3463 X.3.1 "mail system full", transient: the client retries (as mox).
        conn.log.warn("queueing message failed, disk full", err=str(e))
        raise fail(c.C452_STORAGE_FULL, c.SE_SYS_STORAGE_FULL, "mail system full, try again later") from None
    except Exception as e:
        conn.ctx.metrics.smtp_submission.inc("queueerror")
        conn.log.unexpected("queueing message failed", e)
        raise fail(c.C451_LOCAL_ERROR, c.SE_SYS_OTHER, "error delivering message") from None
    conn.log.info("message submitted", account=account, ids=",".join(map(str, ids)), size=len(msg))
    conn.ctx.metrics.smtp_submission.inc("ok")
    conn.reply(Reply(c.C250_COMPLETED, c.SE_MAILBOX_OTHER, "it is done"))


async def _dkim_sign(conn: Conn, data: bytes, from_addr: str, now: float) -> bytes:
    """DKIM-Signature fields for a submitted message (mox smtpserver submit): by the From
    domain, i= its canonical local part (lower case, catch-all part removed)."""
    local, _, domain = from_addr.rpartition("@")
    sep = conn.ctx.config.catchall_separator
    canonical = local.lower().split(sep, 1)[0] if sep else local.lower()
    try:
        return await trio.to_thread.run_sync(
            functools.partial(dkim_local.sign_message, conn.ctx.config, canonical, domain, data, now=now)
        )
    except (dkim.SignError, dkim.MalformedHeader, dkim.KeyFileError) as e:
        # As mox: the message goes out unsigned, the error is logged.
        conn.log.error("dkim sign for domain", domain=domain, err=str(e))
        return b""


def _from_ids(conn: Conn, account: str) -> list[tuple[str, str]] | None:
    """Per recipient (MAIL FROM, fromid) when the login is one of the account's
    FromIDLoginAddresses (mox.queue.fromid; a fromid the client chose is kept)."""
    tx = conn.proto.tx
    if tx.mail_from is None:
        return None
    try:
        out = fromid.mail_froms(
            conn.ctx.config, account, conn.proto.username or "", tx.mail_from.localpart, tx.mail_from.domain,
            len(tx.recipients), keep_given=True,
        )  # fmt: skip
    except fromid.FromIDError as e:
        # mox smtpserver submit.
        raise fail(c.C554_TRANSACTION_FAILED, c.SE_PROTO_TOO_MANY_RCPTS, str(e)) from None
    # A local part that needs quoting keeps its quotes (smtp.Address formats it).
    return [(str(Address(*mf.rsplit("@", 1))), fid) for mf, fid in out] if out is not None else None


def _check_send_limits(conn: Conn, account: str, recipients: list[str]) -> None:
    # The account's daily limits, with mox's codes and texts (smtpserver/server.go).
    msglimit, rcptlimit = conn.ctx.queue.send_limit_reached(account, recipients)
    if msglimit is not None:
        raise fail(
            c.C451_LOCAL_ERROR,
            c.SE_POL_DELIVERY_UNAUTH,
            f"max number of messages ({msglimit}) over past 24h reached, try increasing per-account setting MaxOutgoingMessagesPerDay",
        )
    if rcptlimit is not None:
        raise fail(
            c.C451_LOCAL_ERROR,
            c.SE_POL_DELIVERY_UNAUTH,
            f"max number of new/first-time recipients ({rcptlimit}) over past 24h reached, try increasing per-account setting MaxFirstTimeRecipientsPerDay",
        )


def _future_release_request(hold_until: float | None) -> str:
    """The FUTURERELEASE of a submission as the queue keeps it for DSNs (RFC 4865 3)."""
    if hold_until is None:
        return ""
    t = datetime.datetime.fromtimestamp(hold_until, datetime.timezone.utc)
    return "until;" + t.strftime("%Y-%m-%dT%H:%M:%SZ")


async def deliver(conn: Conn, data: bytes) -> None:
    """An incoming message into the recipients' accounts, one copy per account and destination,
    durable before the 250 (mox smtpserver deliver); the localserve failure simulation per
    recipient; one reply for all recipients' errors (RFC 5321 3.3, 4.2.5)."""
    tx = conn.proto.tx
    errors: list[tuple[int, str, str]] = []
    targets: dict[tuple[str, int], list[Address]] = {}
    aliases = [r for r in tx.recipients if conn.is_alias(r)]
    msg_from = checks.message_from(data) if aliases else None
    explicit = {str(r).lower() for r in tx.recipients if r not in aliases}
    for rcpt in tx.recipients:
        code = failsim.special_code(rcpt.localpart) if failsim.stage(rcpt.localpart) == "data" else None
        if code == failsim.TIMEOUT:
            await conn.simulate(code, "timing out delivery due to special localpart", timeout_se=c.SE_OTHER)
        if isinstance(code, int):
            conn.ctx.metrics.smtp_delivery.inc("delivererror", "localserve")
            errors.append((code, c.SE_OTHER, failsim.failure_text(code)))
            continue
        if rcpt in aliases:
            # mox smtpserver: the alias's members get the message, per the alias's rules.
            try:
                dests = conn.ctx.auth.alias_destinations(
                    rcpt.localpart, rcpt.domain or conn.ctx.config.hostname, msg_from, explicit
                ) or []
            except AliasRefused:
                conn.log.info("message from address not allowed to post to alias", alias=str(rcpt), msgfrom=msg_from)
                errors.append((c.C550_MAILBOX_UNAVAIL, c.SE_POL_EXPN_PROHIBITED, "not allowed to send to destination"))
                continue
            for account, _ in dests:
                # One copy per account and destination, as for a regular recipient.
                d = rules.destination(conn.ctx.config, account, str(rcpt))
                if rcpt not in targets.setdefault((account, id(d)), []):
                    targets[(account, id(d))].append(rcpt)
            continue
        dest = conn.lookup(rcpt)
        if dest is None:
            conn.ctx.metrics.smtp_delivery.inc("unknownuser", "")
            errors.append((c.C550_MAILBOX_UNAVAIL, c.SE_ADDR_UNKNOWN_DEST_MAILBOX, "no such user"))
            continue
        # One copy per account and destination (address settings: rulesets, mailbox).
        d = rules.destination(conn.ctx.config, dest[0], str(rcpt))
        targets.setdefault((dest[0], id(d)), []).append(rcpt)
    delivered = 0
    now = ci.fixed_time(conn.ctx) or time.time()
    # mox smtpserver deliver: Delivered-To (RFC 9228) for a single recipient, Return-Path,
    # Authentication-Results, Received-SPF (RFC 7208 9.1: before Received), Received.
    heads = {
        key: (
            (f"Delivered-To: {rcpts[0]}\r\n".encode("utf-8") if len(rcpts) == 1 else b"") + return_path(tx.mail_from),
            received_field(conn, rcpts, now=now),
        )
        for key, rcpts in targets.items()
    }
    info = MessageInfo(mail_from=str(tx.mail_from or ""))
    msgs: dict[tuple[str, int], bytes] = {}
    verdicts: dict[tuple[str, int], Any] = {}
    if targets:
        # One worker-thread trip for the CPU work before storing: iprev, DKIM, SPF and DMARC
        # (without DNS: mox.dkim.local), then each account's junk filter verdict.
        info = await trio.to_thread.run_sync(functools.partial(_analyze, conn, data, now, targets, heads, msgs, verdicts))
    for (account, n), rcpts in targets.items():
        msg = msgs[(account, n)]
        try:
            m = await deliver_local(
                conn.ctx, account, str(rcpts[0]), msg, info=info, recipients=[str(r) for r in rcpts], session=conn.cid,
                verdict=verdicts.get((account, n)),
            )
            delivered += 1
            # mox smtpserver: localserve has no junk analysis, every accepted message is this.
            conn.ctx.metrics.smtp_delivery.inc("delivered", "no-bad-signals")
            await _incoming_webhooks(conn, account, m, rcpts)
        except Rejected as e:
            conn.ctx.metrics.smtp_delivery.inc("reject", "")
            for _ in rcpts:
                errors.append((e.code, e.se, e.text))
        except OverQuota:
            # RFC 3463 4.2.2; mox smtpserver/server.go, store/account.go
            conn.log.info("account over quota", account=account)
            for _ in rcpts:
                errors.append((c.C452_STORAGE_FULL, c.SE_MAILBOX_FULL, "account storage full"))
        except DiskFull as e:
            # RFC 3463 X.3.1 "mail system full", transient (mox: 452 4.3.1 for ENOSPC/EDQUOT).
            conn.log.warn("delivering message failed, disk full", account=account, err=str(e))
            for _ in rcpts:
                errors.append((c.C452_STORAGE_FULL, c.SE_SYS_STORAGE_FULL, "mail system full, try again later"))
        except Exception as e:
            conn.log.unexpected("delivering message failed", e, account=account)
            for _ in rcpts:
                errors.append((c.C451_LOCAL_ERROR, c.SE_SYS_OTHER, "error processing"))
    if errors and not delivered:
        e0 = errors[0]
        if all(e[:2] == e0[:2] for e in errors):
            raise fail(e0[0], e0[1], "\n".join(e[2] for e in errors))
        lines = [f"{code} {c.enhanced(code, se)} {text}" for code, se, text in errors]
        major5 = any(code >= 500 for code, _, _ in errors)
        lines.append("multiple errors")
        raise fail(c.C554_TRANSACTION_FAILED if major5 else c.C451_LOCAL_ERROR, c.SE_SYS_OTHER, "\n".join(lines))
    conn.log.info("message delivered", recipients=len(tx.recipients), failed=len(errors))
    conn.reply(Reply(c.C250_COMPLETED, c.SE_MAILBOX_OTHER, "it is done"))


def _analyze(
    conn: Conn, data: bytes, now: float, targets: dict[tuple[str, int], list[Address]],
    heads: dict[tuple[str, int], tuple[bytes, bytes]], msgs: dict[tuple[str, int], bytes],
    verdicts: dict[tuple[str, int], Any],
) -> MessageInfo:
    """In a worker thread: the message's authentication results, the message each target gets
    (``msgs``) and, where the junk filter applies, its verdict (``verdicts``, as
    mox.delivery.deliver.classify_sync gives it). Returns what rulesets are matched against."""
    tx = conn.proto.tx
    auth = dkim_local.incoming_auth(
        conn.ctx.config, data, remote_ip=conn.remote_ip, ehlo=conn.proto.ehlo_domain, mail_from=str(tx.mail_from or ""),
        now=now,
    )  # fmt: skip
    info = MessageInfo(
        mail_from=str(tx.mail_from or ""), ehlo_domain=auth.ehlo_domain, ehlo_validated=auth.ehlo_validated,
        mail_from_domain=auth.mail_from_domain, mail_from_validated=auth.mail_from_validated,
        dkim_domains=auth.dkim_domains,
    )  # fmt: skip
    for key, rcpts in targets.items():
        before, received = heads[key]
        msg = msgs[key] = before + auth.headers + received + data
        if classification_applies(conn.ctx, key[0], str(rcpts[0]), msg, info):
            try:
                acc = conn.ctx.store.open_account(key[0])
                try:
                    verdicts[key] = classify_sync(acc, msg)
                finally:
                    acc.close()
            except Exception:  # noqa: BLE001 - not hidden: deliver_local classifies again without
                pass  # a verdict, and its failure (a full disk, a bug) is reported for its recipients
    return info


async def _incoming_webhooks(conn: Conn, account: str, m: Any, rcpts: list[Address]) -> None:
    """Queue the account's incoming webhooks for a delivered message, before the 250 (mox
    smtpserver deliver calls queue.Incoming per delivered recipient)."""
    q = conn.ctx.queue
    if m is None:
        return
    tx = conn.proto.tx
    hooks = await q.incoming_hooks(
        account, m, [str(r) for r in rcpts], mail_from=str(tx.mail_from or ""), remote_ip=conn.remote_ip
    )
    if hooks:
        await q.hooks.add(hooks)
