"""The webapi, version 0, as mox has it (mox ``webapi/webapi.go``, ``webapisrv/server.go``): ``/webapi/v0/``.

- HTTP basic auth with an account address and password; failures count in the shared limiter.
- ``POST /webapi/v0/<Method>`` with a form field ``request`` holding JSON, urlencoded or
  multipart/form-data (multipart file fields ``inlinefile`` and ``attachedfile`` for Send).
- Success: 200 with a JSON object (MessageRawGet/MessagePartGet: the bytes). Errors: 400 with
  ``{"Code": ..., "Message": ...}``; codes ``protocol`` (bad request shape), ``user``,
  ``notFound``, ``badAddress``, ``server``. Bad credentials: 401 with the same shape.
- ``GET /webapi/v0/`` lists the methods; ``GET /webapi/v0/<Method>`` shows an example form.
- Message ids (``MsgID``) are the store's account-unique message ids.

The parsed-message helpers (:func:`parsed_message`, :func:`structure`) are shared with the test API.
"""

from __future__ import annotations

import base64
import binascii
import email.message
import email.policy
import email.utils
import html
import mimetypes
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from mox.message import decode_body, decode_header_value, headers as message_headers
from mox.message.part import Address, Part
from mox.store.errors import MessageGone
from mox.web import sanitize
from mox.web.submit import submission_prefix
from mox.web.router import Request, Response, Router, html_response, json_response, redirect
from mox.context import ServerContext

BASE = "/webapi/v0/"
MAX_TEXT = 1024 * 1024  # Text/HTML in MessageGet truncated to 1 MiB, as mox.

FLAG_SPECIALS = set('(){%*"\\] ')
SYSTEM_FLAGS = ("\\seen", "\\answered", "\\flagged", "\\deleted", "\\draft")


class WebapiError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _error(e: WebapiError, headers: list[tuple[str, str]] | None = None) -> Response:
    return json_response({"Code": e.code, "Message": e.message}, e.status, headers or [])


# Parsed messages (shared with the test API).


def _param(part: Part, name: str) -> str | None:
    for k, v in part.params:
        if k == name:
            return v
    return None


def part_text(data: bytes, part: Part) -> str:
    """The decoded text of a text/* part, from its charset (utf-8 when unknown)."""
    try:
        raw = decode_body(data, part)
    except Exception:  # noqa: BLE001 - unknown transfer encoding: the raw body
        raw = data[part.body_start : part.body_end]
    cs = (_param(part, "charset") or "utf-8").strip().lower()
    if cs in ("us-ascii", "ascii", ""):
        cs = "utf-8"
    try:
        return raw.decode(cs, errors="replace")
    except LookupError:
        return raw.decode("utf-8", errors="replace")


def _filename(part: Part) -> str:
    for k, v in part.disposition_params:
        if k == "filename":
            return decode_header_value(v)
    name = _param(part, "name")
    return decode_header_value(name) if name else ""


def walk_parts(part: Part, path: tuple[int, ...] = ()) -> list[tuple[tuple[int, ...], Part]]:
    """Every leaf part with its 0-based path (multipart children; message/rfc822 is a leaf)."""
    if part.media_type == "MULTIPART":
        out: list[tuple[tuple[int, ...], Part]] = []
        for i, child in enumerate(part.parts):
            out.extend(walk_parts(child, path + (i,)))
        return out
    return [(path, part)]


def _content_type(part: Part) -> str:
    return f"{part.media_type}/{part.media_subtype}".lower()


def parsed_message(data: bytes, part: Part) -> dict[str, Any]:
    """Headers (decoded), first text/plain and text/html, and attachments of a message."""
    text: str | None = None
    htmltext: str | None = None
    attachments: list[dict[str, Any]] = []
    for path, p in walk_parts(part):
        ctype = _content_type(p)
        is_attachment = p.disposition == "ATTACHMENT" or (bool(_filename(p)) and not ctype.startswith("text/"))
        if ctype == "text/plain" and text is None and not is_attachment:
            text = part_text(data, p)
        elif ctype == "text/html" and htmltext is None and not is_attachment:
            htmltext = part_text(data, p)
        else:
            try:
                size = len(decode_body(data, p))
            except Exception:  # noqa: BLE001
                size = p.body_end - p.body_start
            attachments.append(
                {
                    "PartPath": list(path),
                    "Filename": _filename(p),
                    "ContentType": ctype,
                    "ContentID": p.content_id or "",
                    "Size": size,
                }
            )
    hdrs = [(name, decode_header_value(value)) for name, value in message_headers(data, part)]
    return {"Headers": hdrs, "Text": text or "", "HTML": htmltext or "", "Attachments": attachments}


def structure(data: bytes, part: Part) -> dict[str, Any]:
    """The MIME structure as mox's webhook.Structure."""
    try:
        size = len(decode_body(data, part)) if part.media_type != "MULTIPART" else 0
    except Exception:  # noqa: BLE001
        size = part.body_end - part.body_start
    return {
        "ContentType": _content_type(part),
        "ContentTypeParams": {k: v for k, v in part.params},
        "ContentID": part.content_id or "",
        "DecodedSize": size,
        "Parts": [structure(data, p) for p in part.parts] if part.media_type == "MULTIPART" else [],
    }


def address_string(a: Address) -> str:
    if a.mailbox is None or a.host is None:
        return ""
    return f"{a.mailbox}@{a.host}"


def name_addresses(addrs: list[Address]) -> list[dict[str, str]]:
    return [
        {"Name": decode_header_value(a.name) if a.name else "", "Address": address_string(a)}
        for a in addrs
        if a.host is not None
    ]


# Auth and request decoding.


async def _authenticate(ctx: ServerContext, req: Request) -> tuple[str, str]:
    """(account, login address) from HTTP basic auth, or WebapiError 401. The password hash runs
    in a worker thread under the shared hash limiter."""
    auth = req.header("authorization") or ""
    scheme, _, cred = auth.partition(" ")
    if scheme.lower() != "basic" or not cred:
        raise WebapiError("user", "missing http basic authentication", 401)
    try:
        username, sep, password = base64.b64decode(cred.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise WebapiError("protocol", "malformed http basic authentication", 401) from None
    if not sep:
        raise WebapiError("protocol", "malformed http basic authentication", 401)
    if not ctx.limiter.auth_allowed(req.remote_ip):
        raise WebapiError("user", "too many authentication failures", 429)
    account = await ctx.auth.login_async(username, password, ip=req.remote_ip)
    if account is None:
        from mox.web import session

        await trio.sleep(session.FAILED_LOGIN_DELAY)
        raise WebapiError("user", "bad credentials", 401)
    if ctx.config.login_disabled(account):
        # mox webapisrv: 401 with this message, after the password was verified.
        raise WebapiError("user", "login is disabled for this account", 401)
    return account, username


async def guard(ctx: ServerContext, req: Request) -> Response | None:
    """Before the body of a method call is read: HTTP basic auth (an unauthenticated client
    gets its 401 without sending a body)."""
    try:
        req.principal = await _authenticate(ctx, req)
    except WebapiError as e:
        name = req.path.removeprefix(BASE)
        if name in METHODS:
            ctx.metrics.webapi_results.inc(name, "badauth" if e.status == 401 else e.code)
        hdrs = [("WWW-Authenticate", 'Basic realm="mox webapi"')] if e.status == 401 else []
        return _error(e, hdrs)
    return None


def _request_json(req: Request) -> dict[str, Any]:
    from mox.web.router import HTTPError

    try:
        form = req.form()
    except HTTPError as e:
        raise WebapiError("protocol", e.message) from None
    vals = form.get("request")
    if not vals:
        raise WebapiError("protocol", "missing form field \"request\" with the JSON request")
    import msgspec

    try:
        obj = msgspec.json.decode(vals[0].encode("utf-8"))
    except msgspec.DecodeError as e:
        raise WebapiError("protocol", f"malformed JSON in \"request\": {e}") from None
    if not isinstance(obj, dict):
        raise WebapiError("protocol", "request must be a JSON object")
    return obj


def _field(obj: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any = None, required: bool = False) -> Any:
    if name not in obj or obj[name] is None:
        if required:
            raise WebapiError("protocol", f"missing field {name}")
        return default
    v = obj[name]
    if isinstance(v, bool) and kind is int:
        raise WebapiError("protocol", f"field {name}: expected {kind.__name__}")
    if not isinstance(v, kind):
        want = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise WebapiError("protocol", f"field {name}: expected {want}")
    return v


def _msgid(obj: dict[str, Any]) -> int:
    return int(_field(obj, "MsgID", int, required=True))


def _flags(obj: dict[str, Any]) -> list[str]:
    flags = _field(obj, "Flags", list, default=[])
    for f in flags:
        if isinstance(f, str) and f.lower() in SYSTEM_FLAGS:
            continue
        if not isinstance(f, str) or not f or any(c in FLAG_SPECIALS or ord(c) < 0x21 or ord(c) > 0x7E for c in f):
            raise WebapiError("user", f"invalid flag {f!r}")
    return flags


class _Account:
    """An open account for one request."""

    def __init__(self, ctx: ServerContext, name: str) -> None:
        self.acc = ctx.store.open_account(name)

    def __enter__(self) -> Any:
        return self.acc

    def __exit__(self, *exc: object) -> None:
        self.acc.close()


def _message(acc: Any, msgid: int) -> Any:
    m = acc.message_by_id(msgid)
    if m is None or m.expunged:
        raise WebapiError("notFound", f"message {msgid} not found")
    return m


def _read(acc: Any, m: Any) -> bytes:
    """The message file; notFound when the message was expunged since it was looked up."""
    try:
        return acc.read_message(m)
    except MessageGone:
        raise WebapiError("notFound", f"message {m.id} not found") from None


# Methods.


async def m_message_get(ctx: ServerContext, account: str, address: str, obj: dict[str, Any], req: Request) -> Response:
    with _Account(ctx, account) as acc:
        m = _message(acc, _msgid(obj))
        data = _read(acc, m)
        mb = acc.mailbox_by_id(m.mailbox_id)
    part = m.part
    env = part.envelope
    parsed = parsed_message(data, part)
    hdr = {k.lower(): v for k, v in reversed(parsed["Headers"])}
    date = email.utils.parsedate_to_datetime(env.date) if env and env.date else None
    refs = (hdr.get("references") or "").split()
    mail_from = (hdr.get("return-path") or "").strip().strip("<>")
    from_list = name_addresses(env.from_) if env else []
    message = {
        "From": from_list,
        "To": name_addresses(env.to) if env else [],
        "CC": name_addresses(env.cc) if env else [],
        "BCC": name_addresses(env.bcc) if env else [],
        "ReplyTo": name_addresses(env.reply_to) if env else [],
        "MessageID": (env.message_id or "") if env else "",
        "References": refs,
        "Date": date.isoformat() if date is not None else None,
        "Subject": decode_header_value(env.subject) if env and env.subject else "",
        "Text": parsed["Text"][:MAX_TEXT],
        "HTML": parsed["HTML"][:MAX_TEXT],
    }
    meta = {
        "Size": m.size,
        "DSN": part.media_type == "MULTIPART" and part.media_subtype == "REPORT" and _param(part, "report-type") == "delivery-status",
        "Flags": list(m.flags),
        "MailFrom": mail_from,
        "MailFromValidated": False,
        "MsgFrom": from_list[0]["Address"] if from_list else "",
        "MsgFromValidated": False,
        "DKIMVerifiedDomains": [],
        "RemoteIP": "",
        "MailboxName": mb.name if mb else "",
    }
    return json_response({"Message": message, "Structure": structure(data, part), "Meta": meta})


async def m_message_raw_get(ctx: ServerContext, account: str, address: str, obj: dict[str, Any], req: Request) -> Response:
    with _Account(ctx, account) as acc:
        data = _read(acc, _message(acc, _msgid(obj)))
    # Message bytes: sandboxed and as an attachment (a browser must not run a message's HTML).
    return Response(200, sanitize.content_headers("text/plain; charset=utf-8"), data)


async def m_message_part_get(ctx: ServerContext, account: str, address: str, obj: dict[str, Any], req: Request) -> Response:
    path = _field(obj, "PartPath", list, default=[])
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in path):
        raise WebapiError("protocol", "field PartPath: expected list of integers")
    with _Account(ctx, account) as acc:
        m = _message(acc, _msgid(obj))
        data = _read(acc, m)
    p = m.part
    for i in path:
        if p.media_type != "MULTIPART" or not 0 <= i < len(p.parts):
            raise WebapiError("notFound", f"no part at path {path}")
        p = p.parts[i]
    if p.media_type == "MULTIPART":
        raise WebapiError("user", "part is a multipart, not a leaf part")
    try:
        body = decode_body(data, p)
    except Exception:  # noqa: BLE001
        raise WebapiError("user", f"unknown content-transfer-encoding {p.content_transfer_encoding}") from None
    ctype = _content_type(p)
    cs = _param(p, "charset")
    if cs and "\r" not in cs and "\n" not in cs and '"' not in cs:
        ctype += f"; charset={cs}"
    # A text/html part would otherwise run its scripts in mox's origin.
    return Response(200, sanitize.content_headers(ctype, filename=_filename(p) or None), body)


async def m_message_delete(ctx: ServerContext, account: str, address: str, obj: dict[str, Any], req: Request) -> Response:
    with _Account(ctx, account) as acc:
        m = _message(acc, _msgid(obj))
        await acc.expunge(m.mailbox_id, [m.uid])
    return json_response({})


async def _flags_change(ctx: ServerContext, account: str, obj: dict[str, Any], mode: str) -> Response:
    flags = _flags(obj)
    with _Account(ctx, account) as acc:
        m = _message(acc, _msgid(obj))
        if flags:
            await acc.store_flags(m.mailbox_id, [m.uid], mode, flags)
    return json_response({})


async def m_message_flags_add(ctx: ServerContext, account: str, address: str, obj: dict[str, Any], req: Request) -> Response:
    return await _flags_change(ctx, account, obj, "add")


async def m_message_flags_remove(ctx: ServerContext, account: str, address: str, obj: dict[str, Any], req: Request) -> Response:
    return await _flags_change(ctx, account, obj, "remove")


async def m_message_move(ctx: ServerContext, account: str, address: str, obj: dict[str, Any], req: Request) -> Response:
    dest = _field(obj, "DestMailboxName", str, required=True)
    with _Account(ctx, account) as acc:
        m = _message(acc, _msgid(obj))
        mb = acc.mailbox(dest)
        if mb is None:
            raise WebapiError("notFound", f"mailbox {dest!r} not found")
        if mb.id == m.mailbox_id:
            raise WebapiError("user", "message is already in the destination mailbox")
        await acc.move(m.mailbox_id, [m.uid], mb.id)
    return json_response({})


# Send.


def _check_address(addr: Any) -> str:
    if not isinstance(addr, str):
        raise WebapiError("badAddress", "address must be a string")
    local, sep, domain = addr.rpartition("@")
    bad = not sep or not local or not domain or any(c.isspace() or ord(c) < 0x20 or c in "<>,;\"" for c in addr)
    if bad:
        raise WebapiError("badAddress", f"invalid email address {addr!r}")
    return addr


def _name_addrs(obj: dict[str, Any], field: str) -> list[tuple[str, str]]:
    out = []
    for na in _field(obj, field, list, default=[]):
        if not isinstance(na, dict):
            raise WebapiError("protocol", f"field {field}: expected list of {{Name, Address}}")
        name = na.get("Name") or ""
        if not isinstance(name, str) or "\r" in name or "\n" in name:
            raise WebapiError("protocol", f"field {field}: Name must be a string without line breaks")
        out.append((name, _check_address(na.get("Address"))))
    return out


def _format(addrs: list[tuple[str, str]]) -> str:
    return ", ".join(email.utils.formataddr(na, charset="utf-8") for na in addrs)


def _files(obj: dict[str, Any], field: str, form_field: str, req: Request) -> list[tuple[str, str, str, bytes]]:
    out = []
    for f in _field(obj, field, list, default=[]):
        if not isinstance(f, dict):
            raise WebapiError("protocol", f"field {field}: expected list of files")
        try:
            data = base64.b64decode(f.get("Data") or "", validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise WebapiError("protocol", f"field {field}: Data is not valid base64") from None
        out.append((str(f.get("Name") or ""), str(f.get("ContentType") or ""), str(f.get("ContentID") or ""), data))
    for ff in req.files() if (req.header("content-type") or "").lower().startswith("multipart/") else []:
        if ff.field == form_field:
            out.append((ff.filename, ff.content_type, "", ff.data))
    return out


def _maintype(name: str, ctype: str) -> tuple[str, str]:
    ctype = ctype or mimetypes.guess_type(name)[0] or "application/octet-stream"
    main, _, sub = ctype.partition("/")
    return (main or "application").lower(), (sub.split(";")[0].strip() or "octet-stream").lower()


def compose(
    from_: tuple[str, str],
    obj: dict[str, Any],
    req: Request,
    hostname: str,
) -> tuple[bytes, str, list[str]]:
    """(message bytes, Message-ID, recipients in order To, CC, BCC) for a Send request."""
    to, cc, bcc = _name_addrs(obj, "To"), _name_addrs(obj, "CC"), _name_addrs(obj, "BCC")
    reply_to = _name_addrs(obj, "ReplyTo")
    rcpts = [a for _, a in to + cc + bcc]
    if not rcpts:
        raise WebapiError("user", "message needs at least one recipient (To, CC or BCC)")
    subject = _field(obj, "Subject", str, default="")
    text = _field(obj, "Text", str, default="")
    htmltext = _field(obj, "HTML", str, default="")
    if not text and not htmltext:
        raise WebapiError("user", "message needs Text or HTML")
    if "\r" in subject or "\n" in subject:
        raise WebapiError("user", "subject must not contain line breaks")
    msgid = _field(obj, "MessageID", str, default="") or f"<{secrets.token_urlsafe(18)}@{hostname}>"
    if not (msgid.startswith("<") and msgid.endswith(">")) or any(c.isspace() for c in msgid):
        raise WebapiError("user", "MessageID must be of the form <id@domain>")
    refs = _field(obj, "References", list, default=[])
    if not all(isinstance(r, str) and r.startswith("<") and r.endswith(">") and " " not in r for r in refs):
        raise WebapiError("user", "References must be message-ids of the form <id@domain>")
    date_s = _field(obj, "Date", str, default="")
    if date_s:
        import datetime

        try:
            date = datetime.datetime.fromisoformat(date_s.replace("Z", "+00:00"))
        except ValueError:
            raise WebapiError("user", f"invalid Date {date_s!r}, expected RFC 3339") from None
        date_hdr = email.utils.format_datetime(date if date.tzinfo else date.replace(tzinfo=datetime.timezone.utc))
    else:
        date_hdr = email.utils.formatdate(time.time(), localtime=False)
    extra_headers = _field(obj, "Headers", list, default=[])
    for h in extra_headers:
        if not (isinstance(h, list) and len(h) == 2 and all(isinstance(x, str) for x in h)):
            raise WebapiError("protocol", "field Headers: expected list of [name, value]")
        if not h[0] or any(c in ": \r\n" for c in h[0]) or "\r" in h[1] or "\n" in h[1]:
            raise WebapiError("user", f"invalid header {h[0]!r}")

    utf8 = any(ord(c) > 127 for c in f"{from_}{to}{cc}{reply_to}")
    msg = email.message.EmailMessage(policy=email.policy.SMTPUTF8 if utf8 else email.policy.SMTP)
    msg["From"] = _format([from_])
    if to:
        msg["To"] = _format(to)
    if cc:
        msg["Cc"] = _format(cc)
    if reply_to:
        msg["Reply-To"] = _format(reply_to)
    msg["Subject"] = subject
    msg["Date"] = date_hdr
    msg["Message-ID"] = msgid
    if refs:
        msg["References"] = " ".join(refs)
        msg["In-Reply-To"] = refs[-1]
    have_agent = False
    for name, value in extra_headers:
        have_agent = have_agent or name.lower() in ("user-agent", "x-mailer")
        msg[name] = value
    if not have_agent:
        msg["User-Agent"] = "mox/webapi"
    if text and htmltext:
        msg.set_content(text)
        msg.add_alternative(htmltext, subtype="html")
    elif htmltext:
        msg.set_content(htmltext, subtype="html")
    else:
        msg.set_content(text)
    for name, ctype, cid, data in _files(obj, "InlineFiles", "inlinefile", req):
        main, sub = _maintype(name, ctype)
        kw: dict[str, Any] = {"disposition": "inline"}
        if name:
            kw["filename"] = name
        if cid:
            kw["cid"] = cid if cid.startswith("<") else f"<{cid}>"
        msg.add_related(data, main, sub, **kw)
    for name, ctype, _cid, data in _files(obj, "AttachedFiles", "attachedfile", req):
        main, sub = _maintype(name, ctype)
        msg.add_attachment(data, main, sub, filename=name or "file")
    return msg.as_bytes(), msgid, rcpts


async def m_send(ctx: ServerContext, account: str, address: str, obj: dict[str, Any], req: Request) -> Response:
    own = ctx.auth.addresses(account)
    from_list = _name_addrs(obj, "From")
    if len(from_list) > 1:
        raise WebapiError("user", "at most one From address")
    if from_list:
        name, addr = from_list[0]
        if ctx.auth.account_for_address(addr) != account:
            raise WebapiError("user", f"from address {addr!r} does not belong to the account")
    else:
        name, addr = "", address if address in own or not own else own[0]
    if ctx.config.domain_disabled(addr.rpartition("@")[2]):
        # mox webapisrv/server.go Send.
        raise WebapiError("domainDisabled", "domain of from-address is temporarily disabled")
    data, msgid, rcpts = compose((name, addr), obj, req, ctx.config.hostname)
    if len(data) > ctx.config.max_message_size:
        raise WebapiError("user", f"message too large, {len(data)} > {ctx.config.max_message_size} bytes")
    # The account's daily limits, as SMTP submission; mox's codes (webapisrv/server.go).
    msglimit, rcptlimit = ctx.queue.send_limit_reached(account, rcpts)
    if msglimit is not None:
        raise WebapiError("messageLimitReached", "outgoing message rate limit reached")
    if rcptlimit is not None:
        raise WebapiError("recipientLimitReached", "outgoing new recipient rate limit reached")
    future = _field(obj, "FutureRelease", str, default="")
    hold_until = None
    if future:
        import datetime

        try:
            hold_until = datetime.datetime.fromisoformat(future.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise WebapiError("user", f"invalid FutureRelease {future!r}") from None
    _field(obj, "SaveSent", bool, default=False)  # the queue always keeps a copy in Sent
    data = await submission_prefix(ctx, addr, rcpts, data) + data
    ids = await ctx.queue.add(account, addr, rcpts, data, hold_until=hold_until)
    return json_response(
        {
            "MessageID": msgid,
            "Submissions": [{"Address": r, "QueueMsgID": qid, "FromID": ""} for r, qid in zip(rcpts, ids)],
        }
    )


Method = Callable[[Any, str, str, dict[str, Any], Request], Awaitable[Response]]

METHODS: dict[str, tuple[Method, str]] = {
    "Send": (m_send, '{"To": [{"Address": "mox@localhost"}], "Subject": "hi", "Text": "hello"}'),
    "MessageGet": (m_message_get, '{"MsgID": 1}'),
    "MessageRawGet": (m_message_raw_get, '{"MsgID": 1}'),
    "MessagePartGet": (m_message_part_get, '{"MsgID": 1, "PartPath": [0]}'),
    "MessageDelete": (m_message_delete, '{"MsgID": 1}'),
    "MessageFlagsAdd": (m_message_flags_add, '{"MsgID": 1, "Flags": ["\\\\Seen", "custom"]}'),
    "MessageFlagsRemove": (m_message_flags_remove, '{"MsgID": 1, "Flags": ["\\\\Seen"]}'),
    "MessageMove": (m_message_move, '{"MsgID": 1, "DestMailboxName": "Archive"}'),
}


async def index(ctx: ServerContext, req: Request) -> Response:
    items = "\n".join(f'<li><a href="{name}">{name}</a></li>' for name in METHODS)
    return html_response(
        "<!doctype html><html><head><meta charset=utf-8><title>mox webapi v0</title></head><body>"
        "<h1>mox webapi v0</h1><p>POST /webapi/v0/&lt;Method&gt; with form field <code>request</code> "
        "holding JSON, HTTP basic auth with your email address and password.</p>"
        f"<ul>\n{items}\n</ul></body></html>\n"
    )


async def method(ctx: ServerContext, req: Request) -> Response:
    name = req.params["method"]
    entry = METHODS.get(name)
    if req.method in ("GET", "HEAD"):
        if entry is None:
            return _error(WebapiError("notFound", f"unknown method {name!r}", 404))
        example = html.escape(entry[1])
        return html_response(
            f"<!doctype html><html><head><meta charset=utf-8><title>{name} - mox webapi</title></head><body>"
            f"<h1>{name}</h1><form method=post><textarea name=request rows=10 cols=80>{example}</textarea>"
            "<br><button type=submit>Call</button></form></body></html>\n"
        )
    try:
        if entry is None:
            raise WebapiError("notFound", f"unknown method {name!r}", 404)
        account, address = req.principal if req.principal is not None else await _authenticate(ctx, req)
        obj = _request_json(req)
        resp = await entry[0](ctx, account, address, obj, req)
        ctx.metrics.webapi_results.inc(name, "ok")
        return resp
    except WebapiError as e:
        if entry is not None:
            # mox webapisrv: results by method, "badauth" for failed logins, else the error code.
            ctx.metrics.webapi_results.inc(name, "badauth" if e.status == 401 else e.code)
        hdrs = [("WWW-Authenticate", 'Basic realm="mox webapi"')] if e.status == 401 else []
        return _error(e, hdrs)
    except Exception as e:
        from mox.store import DiskFull, StoreError

        if isinstance(e, DiskFull):
            # RFC 4918 11.5: 507 Insufficient Storage, a temporary condition; nothing was stored.
            ctx.log.warn("webapi call failed, disk full", method=name, err=str(e))
            return _error(WebapiError("server", "mail storage full, try again later", 507))
        if isinstance(e, StoreError):
            return _error(WebapiError("user", str(e)))
        raise


async def to_v0(ctx: ServerContext, req: Request) -> Response:
    return redirect(BASE)


def register(router: Router) -> None:
    router.add("/webapi/", to_v0, methods=("GET",))
    router.add(BASE, index, methods=("GET",))
    router.add(BASE + "{method}", method, methods=("GET", "POST"))
    router.add_guard(BASE, guard, methods=("POST",))
    # Send carries a whole message: its attachments base64 in JSON (4/3 of the size) or as
    # multipart files, plus room for the rest of the request. Other methods: the default 1 MiB.
    router.set_body_limit(BASE + "Send", lambda ctx: ctx.config.max_message_size * 4 // 3 + 1024 * 1024)
