"""Webmail compose: the message a form makes, and ``Submit`` (queued like SMTP submission).

``POST /webmail/api/Submit`` takes multipart/form-data (fields from (one of the account's
addresses, or an alias it may send as), to, cc, bcc, subject, body, mode reply/forward with
ref_mailbox and ref_uid, quote_html ("yes": the message gets an HTML alternative with the
referenced message's HTML quoted, mox.web.quotehtml), draft_id (removed once sent), send_at
(Unix time: schedule send), requiretls (""/yes/no, RFC 8689), files) and queues the message (the
queue keeps the Sent copy).

JSON methods here: MessageCompose (drafts), MessageFindMessageID (the message a reopened draft
replies to or forwards), CompleteRecipient, Settings, SettingsSave.
"""

from __future__ import annotations

import email.message
import email.policy
import email.utils
import re
import time
from typing import Any

import msgspec
import trio

from mox.message.thread import BadMessageID, message_id_canonical
from mox.queue import fromid
from mox.store import settings
from mox.web import quotehtml
from mox.web.mailview import cid_map, decode_header_value, first_body, parse, part_text
from mox.web.router import HTTPError, Request
from mox.web.session import Session
from mox.web.submit import submission_prefix
from mox.web.webmail import API, _read, open_account
from mox.context import ServerContext


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
    forward: bytes | None = None, bcc: list[tuple[str, str]] | None = None, tls_required_no: bool = False,
    html: str | None = None,
) -> tuple[bytes, str]:
    """The message bytes (CRLF) and its Message-ID. ``bcc`` only for drafts (a sent message
    never shows its Bcc); ``html``: a text/html alternative of ``body``."""
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
    if tls_required_no:  # RequireTLS "no": deliver even without verified TLS (RFC 8689 5)
        msg["TLS-Required"] = "No"
    msg.set_content(body.replace("\r\n", "\n"))
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for f in files:
        maintype, _, subtype = (f.content_type or "application/octet-stream").partition("/")
        if not subtype or "\n" in f.content_type:
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(f.data, maintype=maintype, subtype=subtype, filename=f.filename or "attachment")
    if forward is not None:
        inner = email.message_from_bytes(forward, policy=email.policy.SMTP)
        msg.add_attachment(inner, filename="forwarded.eml")
    return msg.as_bytes(policy=email.policy.SMTP), mid


async def submit(ctx: ServerContext, req: Request, s: Session) -> dict[str, Any]:
    form = req.form()

    def field(name: str) -> str:
        return (form.get(name) or [""])[0]

    to = _recipients("to", field("to"))
    cc = _recipients("cc", field("cc"))
    bcc = _recipients("bcc", field("bcc"))
    rcpts = [a for _, a in to + cc + bcc]
    if not rcpts:
        raise HTTPError(400, "user:badRequest", "no recipients")
    from_addr = _from_address(ctx, s, field("from"))
    send_at = _send_at(field("send_at"))
    requiretls = field("requiretls")
    if requiretls not in ("", "yes", "no"):
        raise HTTPError(400, "user:badRequest", "requiretls must be empty, yes or no")
    in_reply_to = references = None
    forward = None
    html = None
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
        if ref is not None and mode in ("reply", "forward") and field("quote_html") == "yes":
            html = await trio.to_thread.run_sync(_quoted_html, _read(acc, ref), field("body"), mode)
        subject = re.sub(r"[\r\n]+", " ", field("subject"))
        try:
            data, mid = compose(
                from_addr=email.utils.formataddr((_display_name(ctx, s, from_addr), from_addr)), to=to, cc=cc,
                subject=subject, body=field("body"), files=req.files(), hostname=ctx.config.hostname,
                in_reply_to=in_reply_to, references=references, forward=forward,
                tls_required_no=requiretls == "no", html=html,
            )  # fmt: skip
        except (ValueError, TypeError, LookupError) as e:  # header values the email package refuses
            raise HTTPError(400, "user:badRequest", f"cannot compose message: {e}") from None
        if len(data) > ctx.config.max_message_size:
            raise HTTPError(413, "user:tooLarge", "message larger than the maximum message size")
        if ctx.config.domain_disabled(from_addr.rpartition("@")[2]):
            # mox webmail/api.go MessageSubmit.
            raise HTTPError(400, "user:error", "checking domain: message/transaction involving temporarily disabled domain")
        # The account's daily limits, as SMTP submission; mox's errors (webmail/api.go).
        msglimit, rcptlimit = ctx.queue.send_limit_reached(s.account_name(), rcpts)
        if msglimit is not None:
            raise HTTPError(400, "user:error", "checking outgoing rate: message limit reached")
        if rcptlimit is not None:
            raise HTTPError(400, "user:error", "checking outgoing rate: recipient limit reached")
        data = await submission_prefix(ctx, from_addr, rcpts, data) + data
        # Schedule send: held in the queue until then (as SMTP FUTURERELEASE, RFC 4865).
        # mox webmail MessageSubmit: a login in FromIDLoginAddresses gets a unique MAIL FROM per recipient.
        lp, _, dom = from_addr.rpartition("@")
        from_ids = fromid.mail_froms(ctx.config, s.account_name(), s.address or "", lp, dom, len(rcpts))
        ids = await ctx.queue.add(
            s.account_name(), from_addr, rcpts, data, hold_until=send_at, require_tls=requiretls == "yes" or None, from_ids=from_ids
        )
        if ref is not None and mode in ("reply", "forward"):
            flag = "\\Answered" if mode == "reply" else "$Forwarded"
            await acc.store_flags(ref.mailbox_id, [ref.uid], "add", [flag])
        if draft is not None:  # sent: the draft goes (mox MessageSubmit with DraftMessageID)
            await _remove_draft(acc, draft)
    return {"message_id": mid, "queued": ids, "time": time.time(), "send_at": send_at}


#: How far ahead a message may be scheduled (mox's FUTURERELEASE limit: 60 days, RFC 4865 4).
MAX_SCHEDULE = 60 * 24 * 3600


def _send_at(v: str) -> float | None:
    """The schedule-send time (Unix seconds) of the form, None to send now."""
    if not v:
        return None
    try:
        t = float(v)
    except ValueError:
        raise HTTPError(400, "user:badRequest", "send_at must be a Unix time in seconds") from None
    now = time.time()
    if t != t or t > now + MAX_SCHEDULE:
        raise HTTPError(400, "user:badRequest", "send_at must be within 60 days")
    return t if t > now else None


def _quoted_html(original: bytes, body: str, mode: str) -> str | None:
    """The HTML alternative quoting the referenced message's HTML part; None when it has none
    (or the body no longer holds the quote)."""
    parsed = parse(original)
    h = first_body(parsed, "html")
    if h is None:
        return None
    return quotehtml.html_body(body, part_text(h), mode, cid_map(parsed))


def _account_config(ctx: ServerContext, s: Session) -> Any:
    acc = ctx.config.accounts.get(s.account or "")
    if acc is None:
        raise HTTPError(403, "user:noAuth", "no account for this session")
    return acc


def from_addresses(ctx: ServerContext, s: Session) -> list[dict[str, Any]]:
    """The addresses the account may use as From, each with its display name: its own (the
    destination's FullName, else the account's), then the aliases it is a member of that allow
    it (mox's AllowMsgFrom; ``alias`` true)."""
    conf = _account_config(ctx, s)
    out: list[dict[str, Any]] = [{"address": a, "name": conf.display_name(a), "alias": False} for a in conf.addresses]
    own = {a.lower() for a in conf.addresses}
    for addr, _member, alias in ctx.auth.aliases_of(s.account or ""):
        if alias.allow_msg_from and addr.lower() not in own:
            out.append({"address": addr, "name": conf.full_name, "alias": True})
    return out


def _from_address(ctx: ServerContext, s: Session, v: str) -> str:
    """The From address picked in the form: one of from_addresses (default: the login
    address); as SMTP submission checks it (mox-/lookup.go AllowMsgFrom)."""
    if not v:
        return s.address or ""
    for a in from_addresses(ctx, s):
        if a["address"].lower() == v.strip().lower():
            return str(a["address"])
    raise HTTPError(400, "user:badRequest", f"{v!r} is not an address of this account or an alias it may send as")


def _display_name(ctx: ServerContext, s: Session, address: str) -> str:
    return _account_config(ctx, s).display_name(address)


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


async def api_message_compose(ctx: ServerContext, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
    """{from, to, cc, bcc, subject, body, mode, ref_mailbox, ref_uid, draft_id}: save the compose
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
    # A reply or forward keeps the message it answers in In-Reply-To and References (mox
    # MessageCompose with ResponseMessageID): a reopened draft finds it again by that.
    if field("mode") in ("reply", "forward") and ref_mb and ref_uid:
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
        from_addr = _from_address(ctx, s, field("from"))
        data, _ = compose(
            from_addr=email.utils.formataddr((_display_name(ctx, s, from_addr), from_addr)), to=_recipients("to", field("to"), lenient=True),
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




async def api_message_find_message_id(ctx: ServerContext, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
    """{message_id}: the message with this Message-ID (mox MessageFindMessageID), used when a
    saved draft is opened again: its In-Reply-To names the message it replies to or forwards.
    ``{id, mailbox, uid}`` of the first such message outside Drafts, ``{id: 0}`` when there is
    none (not an error)."""
    v = obj.get("message_id")
    if not isinstance(v, str) or not v.strip():
        raise HTTPError(400, "user:badRequest", "field 'message_id' must be a non-empty string")
    try:
        canonical, _ = message_id_canonical(v)
    except BadMessageID as e:
        raise HTTPError(400, "user:badRequest", f"parsing message-id: {e}") from None
    drafts = drafts_mailbox(acc)
    for m in acc.messages_with_message_id(canonical):
        if drafts is None or m.mailbox_id != drafts.id:
            return {"id": m.id, "mailbox": m.mailbox_id, "uid": m.uid}
    return {"id": 0}


# Recipient completion (mox CompleteRecipient) and settings (mox SettingsSave).

COMPLETE_MAX = 20


def _correspondents(acc: Any) -> list[tuple[str, str]]:
    """(name, address) of recent correspondents, newest first: recipients of sent messages,
    then senders of received ones (each address once)."""
    sent = {m.id for m in acc.mailboxes() if m.special_use == "\\Sent"}
    msgs = [m for mb in acc.mailboxes() if mb.special_use not in ("\\Junk", "\\Trash") for m in acc.messages(mb.id)]
    msgs.sort(key=lambda m: (m.mailbox_id not in sent, -m.received))
    out: dict[str, tuple[str, str]] = {}
    for m in msgs:
        env = m.part.envelope
        if env is None:
            continue
        lists = [env.to, env.cc, env.bcc] if m.mailbox_id in sent else [env.from_]
        for lst in lists:
            for a in lst or []:
                if a.host is None or not a.mailbox:
                    continue
                addr = f"{a.mailbox}@{a.host}"
                out.setdefault(addr.lower(), (decode_header_value(a.name), addr))
    return list(out.values())


async def api_complete_recipient(ctx: ServerContext, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
    """{search}: up to 20 "Name <address>" of recent correspondents containing the text
    (case-insensitive); ``full`` is false when there were more."""
    search = obj.get("search")
    if not isinstance(search, str) or len(search) > 200:
        raise HTTPError(400, "user:badRequest", "field 'search' must be a string")

    needle = search.lower()
    found = [
        email.utils.formataddr((n, a)) if n else a
        for n, a in await trio.to_thread.run_sync(_correspondents, acc)
        if needle in n.lower() or needle in a.lower()
    ]
    return {"addresses": found[:COMPLETE_MAX], "full": len(found) <= COMPLETE_MAX}


async def api_settings(ctx: ServerContext, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
    """The account's webmail settings and the From addresses it may use (with display names,
    aliases marked)."""

    st = await trio.to_thread.run_sync(settings.load, acc.path)
    return {"settings": msgspec.to_builtins(st), "addresses": from_addresses(ctx, s), "login_address": s.address}


async def save_settings(ctx: ServerContext, acc: Any, value: Any) -> settings.Settings:
    """Check and store settings given as a JSON object (400 on bad fields)."""
    try:
        st = msgspec.convert(value, type=settings.Settings)
    except msgspec.ValidationError as e:
        raise HTTPError(400, "user:badRequest", f"bad settings: {e}") from None
    problem = st.check()
    if problem is not None:
        raise HTTPError(400, "user:badRequest", problem)

    await trio.to_thread.run_sync(lambda: settings.save(acc.path, st, fsync=ctx.store.fsync))
    return st


async def api_settings_save(ctx: ServerContext, s: Session, acc: Any, obj: dict[str, Any]) -> Any:
    """{settings: {signature, quoting, show_html, no_show_shortcuts, show_headers}}."""
    st = await save_settings(ctx, acc, obj.get("settings"))
    return {"settings": msgspec.to_builtins(st)}


API["MessageCompose"] = api_message_compose
API["MessageFindMessageID"] = api_message_find_message_id
API["CompleteRecipient"] = api_complete_recipient
API["Settings"] = api_settings
API["SettingsSave"] = api_settings_save
