"""Webmail compose: the message a form makes, and ``Submit`` (queued like SMTP submission).

``POST /webmail/api/Submit`` takes multipart/form-data (fields to, cc, bcc, subject, body,
mode reply/forward with ref_mailbox and ref_uid, files) and queues the message (the queue keeps
the Sent copy).
"""

from __future__ import annotations

import email.message
import email.policy
import email.utils
import re
import time
from typing import Any

from mox.web.mailview import parse
from mox.web.router import HTTPError, Request
from mox.web.session import Session
from mox.web.submit import submission_prefix
from mox.web.webmail import API, _read, open_account


def _recipients(field: str, value: str, *, lenient: bool = False) -> list[tuple[str, str]]:
    """Addresses of a form field; ``lenient`` (a draft being typed) skips unfinished ones."""
    out = []
    for name, addr in email.utils.getaddresses([re.sub(r"[\r\n]+", " ", value)]):
        if not addr:
            continue
        lp, at, dom = addr.rpartition("@")
        if not at or not lp or not dom or any(c in addr for c in " <>,\r\n"):
            if lenient:
                continue
            raise HTTPError(400, "user:badAddress", f"invalid address in {field}: {addr!r}")
        out.append((name, addr))
    return out


def compose(
    *, from_addr: str, to: list[tuple[str, str]], cc: list[tuple[str, str]], subject: str, body: str,
    files: list[Any], hostname: str, in_reply_to: str | None = None, references: str | None = None,
    forward: bytes | None = None, bcc: list[tuple[str, str]] | None = None,
) -> tuple[bytes, str]:
    """The message bytes (CRLF) and its Message-ID. ``bcc`` only for drafts (a sent message
    never shows its Bcc)."""
    msg = email.message.EmailMessage(policy=email.policy.SMTP)
    msg["From"] = from_addr
    if to:
        msg["To"] = ", ".join(email.utils.formataddr(a) for a in to)
    if cc:
        msg["Cc"] = ", ".join(email.utils.formataddr(a) for a in cc)
    if bcc:
        msg["Bcc"] = ", ".join(email.utils.formataddr(a) for a in bcc)
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    mid = email.utils.make_msgid(domain=hostname)
    msg["Message-ID"] = mid
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = ((references or "") + " " + in_reply_to).strip()
    msg["User-Agent"] = "mox webmail"
    msg.set_content(body.replace("\r\n", "\n"))
    for f in files:
        maintype, _, subtype = (f.content_type or "application/octet-stream").partition("/")
        if not subtype or "\n" in f.content_type:
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(f.data, maintype=maintype, subtype=subtype, filename=f.filename or "attachment")
    if forward is not None:
        inner = email.message_from_bytes(forward, policy=email.policy.SMTP)
        msg.add_attachment(inner, filename="forwarded.eml")
    return msg.as_bytes(policy=email.policy.SMTP), mid


async def submit(ctx: Any, req: Request, s: Session) -> dict[str, Any]:
    form = req.form()

    def field(name: str) -> str:
        return (form.get(name) or [""])[0]

    to = _recipients("to", field("to"))
    cc = _recipients("cc", field("cc"))
    bcc = _recipients("bcc", field("bcc"))
    rcpts = [a for _, a in to + cc + bcc]
    if not rcpts:
        raise HTTPError(400, "user:badRequest", "no recipients")
    from_addr = s.address or ""
    in_reply_to = references = None
    forward = None
    with open_account(ctx, s.account) as acc:
        draft = _draft(acc, field("draft_id"))
        ref_mb, ref_uid = field("ref_mailbox"), field("ref_uid")
        ref = None
        if ref_mb and ref_uid:
            try:
                ref = acc.message(int(ref_mb), int(ref_uid))
            except ValueError:
                raise HTTPError(400, "user:badRequest", "ref_mailbox and ref_uid must be integers") from None
            if ref is None:
                raise HTTPError(404, "user:notFound", "referenced message not found")
        mode = field("mode")
        if ref is not None and mode == "reply":
            env = ref.part.envelope
            in_reply_to = env.message_id if env else None
            hdrs = parse(_read(acc, ref))
            references = str(hdrs.get("References") or "") or None
        elif ref is not None and mode == "forward":
            forward = _read(acc, ref)
        elif draft is not None:  # a reopened draft of a reply keeps its place in the thread
            hdrs = parse(_read(acc, draft)[: draft.part.body_start])
            in_reply_to = str(hdrs.get("In-Reply-To") or "") or None
            references = " ".join(str(hdrs.get("References") or "").split()[:-1]) or None
        subject = re.sub(r"[\r\n]+", " ", field("subject"))
        try:
            data, mid = compose(
                from_addr=from_addr, to=to, cc=cc, subject=subject, body=field("body"),
                files=req.files(), hostname=ctx.config.hostname, in_reply_to=in_reply_to,
                references=references, forward=forward,
            )
        except (ValueError, TypeError, LookupError) as e:  # header values the email package refuses
            raise HTTPError(400, "user:badRequest", f"cannot compose message: {e}") from None
        if len(data) > ctx.config.max_message_size:
            raise HTTPError(413, "user:tooLarge", "message larger than the maximum message size")
        # The account's daily limits, as SMTP submission; mox's errors (webmail/api.go).
        msglimit, rcptlimit = ctx.queue.send_limit_reached(s.account, rcpts)
        if msglimit is not None:
            raise HTTPError(400, "user:error", "checking outgoing rate: message limit reached")
        if rcptlimit is not None:
            raise HTTPError(400, "user:error", "checking outgoing rate: recipient limit reached")
        data = await submission_prefix(ctx, from_addr, rcpts, data) + data
        ids = await ctx.queue.add(s.account, from_addr, rcpts, data)
        if ref is not None and mode in ("reply", "forward"):
            flag = "\\Answered" if mode == "reply" else "$Forwarded"
            await acc.store_flags(ref.mailbox_id, [ref.uid], "add", [flag])
        if draft is not None:  # sent: the draft goes (mox MessageSubmit with DraftMessageID)
            await _remove_draft(acc, draft)
    return {"message_id": mid, "queued": ids, "time": time.time()}


# Drafts (mox MessageCompose): the compose form saved to the Drafts mailbox as the user types;
# each save replaces the previous draft, sending removes it.


def drafts_mailbox(acc: Any) -> Any:
    mb = next((m for m in acc.mailboxes() if m.special_use == "\\Drafts"), None)
    return mb if mb is not None else acc.mailbox("Drafts")


def _draft(acc: Any, draft_id: Any) -> Any:
    """The draft message with this id (a str or int; "" or 0: none); 404 when it is not a
    message in the Drafts mailbox."""
    if draft_id in ("", 0, None):
        return None
    try:
        id = int(draft_id)
    except (TypeError, ValueError):
        raise HTTPError(400, "user:badRequest", "draft_id must be an integer") from None
    m = acc.message_by_id(id)
    mb = drafts_mailbox(acc)
    if m is None or m.expunged or mb is None or m.mailbox_id != mb.id:
        raise HTTPError(404, "user:notFound", "no such draft")
    return m


async def _remove_draft(acc: Any, draft: Any) -> None:
    await acc.expunge(draft.mailbox_id, [draft.uid])


async def api_message_compose(ctx: Any, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
    """{to, cc, bcc, subject, body, mode, ref_mailbox, ref_uid, draft_id}: save the compose
    form as a draft (\\Draft, \\Seen) in Drafts, replacing draft ``draft_id``; returns the new
    draft's {id, mailbox, uid}."""

    def field(name: str) -> str:
        v = obj.get(name, "")
        if not isinstance(v, (str, int)) or isinstance(v, bool):
            raise HTTPError(400, "user:badRequest", f"field {name!r} must be a string")
        return str(v)

    mb = drafts_mailbox(acc)
    if mb is None:
        raise HTTPError(404, "user:notFound", "no Drafts mailbox")
    old = _draft(acc, obj.get("draft_id"))
    in_reply_to = references = None
    ref_mb, ref_uid = field("ref_mailbox"), field("ref_uid")
    if field("mode") == "reply" and ref_mb and ref_uid:
        try:
            ref = acc.message(int(ref_mb), int(ref_uid))
        except ValueError:
            raise HTTPError(400, "user:badRequest", "ref_mailbox and ref_uid must be integers") from None
        if ref is not None and ref.part.envelope is not None:
            in_reply_to = ref.part.envelope.message_id
            hdrs = parse(_read(acc, ref)[: ref.part.body_start])
            references = str(hdrs.get("References") or "") or None
    elif old is not None:
        hdrs = parse(_read(acc, old)[: old.part.body_start])
        in_reply_to = str(hdrs.get("In-Reply-To") or "") or None
        references = " ".join(str(hdrs.get("References") or "").split()[:-1]) or None
    try:
        data, _ = compose(
            from_addr=s.address or "", to=_recipients("to", field("to"), lenient=True),
            cc=_recipients("cc", field("cc"), lenient=True), subject=re.sub(r"[\r\n]+", " ", field("subject")),
            body=field("body"), files=[], hostname=ctx.config.hostname, in_reply_to=in_reply_to,
            references=references, bcc=_recipients("bcc", field("bcc"), lenient=True),
        )  # fmt: skip
    except (ValueError, TypeError, LookupError) as e:
        raise HTTPError(400, "user:badRequest", f"cannot compose message: {e}") from None
    if len(data) > ctx.config.max_message_size:
        raise HTTPError(413, "user:tooLarge", "message larger than the maximum message size")
    m = await acc.deliver(mb.name, data, flags=["\\Draft", "\\Seen"])
    if old is not None:
        await _remove_draft(acc, old)
    return {"id": m.id, "mailbox": m.mailbox_id, "uid": m.uid}




API["MessageCompose"] = api_message_compose
