"""The webapi, version 0, as mox has it (mox ``webapi/webapi.go``, ``webapisrv/server.go``): ``/webapi/v0/``.

- HTTP basic auth with an account address and password; failures count in the shared limiter.
- ``POST /webapi/v0/<Method>`` with a form field ``request`` holding JSON, urlencoded or
  multipart/form-data (multipart file fields ``alternativefile``, ``inlinefile`` and
  ``attachedfile`` for Send).
- Success: 200 with a JSON object (MessageRawGet/MessagePartGet: the bytes). Errors: 400 with
  ``{"Code": ..., "Message": ...}``; codes ``protocol`` (bad request shape), ``user``,
  ``notFound``, ``badAddress``, ``server``. Bad credentials: 401 with the same shape.
- ``GET /webapi/v0/`` lists the methods; ``GET /webapi/v0/<Method>`` shows an example form.
- Message ids (``MsgID``) are the store's account-unique message ids.

The parsed-message helpers the test API shares are in :mod:`mox.web.parsed`.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import email.message
import email.policy
import email.utils
import html
import mimetypes
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec
import trio

import mox
from mox import webhook
from mox.message import decode_body, decode_header_value, headers as message_headers
from mox.message.part import Address, Part
from mox.queue import fromid
from mox.store.errors import MessageGone
from mox.web import sanitize
from mox.web.parsed import content_type, filename, param
from mox.web.submit import submission_prefix
from mox.web.router import Request, Response, Router, html_response, json_response, redirect
from mox.context import ServerContext

if TYPE_CHECKING:
    from mox.queue.queue import Queue

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


def _request_json(req: Request, fields: tuple[str, ...]) -> dict[str, Any]:
    """The JSON request of a method call, keys spelled as in ``fields``: as mox (Go's JSON)
    field names match case-insensitively, and an unknown field is a protocol error."""
    from mox.web.router import HTTPError

    try:
        form = req.form()
    except HTTPError as e:
        raise WebapiError("protocol", e.message) from None
    vals = form.get("request")
    if not vals or not vals[0]:
        raise WebapiError("protocol", "missing form field \"request\" with the JSON request")
    try:
        obj = msgspec.json.decode(vals[0].encode("utf-8"))
    except msgspec.DecodeError as e:
        raise WebapiError("protocol", f"malformed JSON in \"request\": {e}") from None
    if not isinstance(obj, dict):
        raise WebapiError("protocol", "request must be a JSON object")
    known = {f.lower(): f for f in fields}
    out: dict[str, Any] = {}
    for k, v in obj.items():
        name = known.get(k.lower())
        if name is None:
            raise WebapiError("protocol", f'parsing request: json: unknown field "{k}"')
        out[name] = v
    return out


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
        raise WebapiError("messageNotFound", "message not found")  # mox webapisrv xmessageGet
    return m


def _read(acc: Any, m: Any) -> bytes:
    """The message file; messageNotFound when the message was expunged since it was looked up."""
    try:
        return acc.read_message(m)
    except MessageGone:
        raise WebapiError("messageNotFound", "message not found") from None


# Methods.


def _lower_flags(flags: tuple[str, ...] | list[str]) -> list[str]:
    """Flags as mox's webapi shows them: system flags and keywords in lower case (``\\seen``)."""
    return [f.lower() for f in flags]


def _references(data: bytes, part: Part) -> list[str]:
    """The References words, with In-Reply-To in front when it is not among them (mox
    webapisrv MessageGet)."""
    refs: list[str] = []
    for name, value in message_headers(data, part, top=True):
        if name.lower() == "references":
            refs.extend(w for w in value.replace("\t", " ").split(" ") if w)
    env = part.envelope
    irt = (env.in_reply_to or "") if env else ""
    if irt and irt not in refs:
        refs.insert(0, irt)
    return refs


async def m_message_get(ctx: ServerContext, account: str, address: str, obj: dict[str, Any], req: Request) -> Response:
    with _Account(ctx, account) as acc:
        m = _message(acc, _msgid(obj))
        data = _read(acc, m)
        mb = acc.mailbox_by_id(m.mailbox_id)
    part = m.part
    env = part.envelope

    def addrs(lst: list[Address] | None) -> list[dict[str, str]]:
        return msgspec.to_builtins(webhook.name_addresses(lst or []))

    text, html_text = webhook.readable_parts(data, part)
    message = {
        "From": addrs(env.from_ if env else None),
        "To": addrs(env.to if env else None),
        "CC": addrs(env.cc if env else None),
        "BCC": addrs(env.bcc if env else None),
        "ReplyTo": msgspec.to_builtins(webhook.reply_to(data, part)),
        "MessageID": (env.message_id or "") if env else "",
        "References": _references(data, part),
        "Date": webhook.message_date(part),
        "Subject": decode_header_value(env.subject) if env and env.subject else "",
        "Text": text,
        "HTML": html_text,
    }
    trace = webhook.trace_meta(data, part)
    meta = {
        "Size": m.size,
        "DSN": part.media_type == "MULTIPART" and part.media_subtype == "REPORT" and param(part, "report-type") == "delivery-status",
        "Flags": _lower_flags(m.flags),
        "MailFrom": trace.mail_from,
        "MailFromValidated": trace.mail_from_validated,
        "RcptTo": trace.rcpt_to,
        "MsgFrom": message["From"][0]["Address"] if message["From"] else "",
        "MsgFromValidated": trace.msg_from_validated,
        "DKIMVerifiedDomains": trace.dkim_verified_domains,
        "RemoteIP": trace.remote_ip,
        "MailboxName": mb.name if mb else "",
    }
    structure = msgspec.to_builtins(webhook.structure(data, part))
    return json_response({"Message": message, "Structure": structure, "Meta": meta})


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
    for n, i in enumerate(path):
        if p.media_type != "MULTIPART" or not 0 <= i < len(p.parts):
            raise WebapiError("partNotFound", f"part {i} at index {n} not found")
        p = p.parts[i]
    if p.media_type == "MULTIPART":
        raise WebapiError("user", "part is a multipart, not a leaf part")
    try:
        body = decode_body(data, p)
    except Exception:  # noqa: BLE001
        raise WebapiError("user", f"unknown content-transfer-encoding {p.content_transfer_encoding}") from None
    ctype = content_type(p)
    cs = param(p, "charset")
    if cs and "\r" not in cs and "\n" not in cs and '"' not in cs:
        ctype += f"; charset={cs}"
    # A text/html part would otherwise run its scripts in mox's origin.
    return Response(200, sanitize.content_headers(ctype, filename=filename(p) or None), body)


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
            raise WebapiError("user", "looking up mailbox name: not found")  # mox webops MessageMove
        if mb.id == m.mailbox_id:
            raise WebapiError("user", f"moving message: message {m.id} already in destination mailbox")
        await acc.move(m.mailbox_id, [m.uid], mb.id)
    return json_response({})


# The suppression list.


def _suppression_json(x: Any) -> dict[str, Any]:
    from mox.queue.records import to_json

    return to_json(x)


def _email_address(obj: dict[str, Any]) -> str:
    addr = _field(obj, "EmailAddress", str, default="")
    try:
        from mox.queue.suppression import normalize

        return normalize(addr)
    except ValueError as e:
        raise WebapiError("badAddress", f"parsing address {addr!r}: {str(e).split(': ', 1)[-1]}") from None


def _queue(ctx: ServerContext) -> Queue:
    return ctx.queue


async def m_suppression_list(ctx: ServerContext, account: str, address: str, obj: dict[str, Any], req: Request) -> Response:
    return json_response({"Suppressions": [_suppression_json(x) for x in _queue(ctx).suppression_list(account)]})


async def m_suppression_add(ctx: ServerContext, account: str, address: str, obj: dict[str, Any], req: Request) -> Response:
    from mox.queue.suppression import SuppressionError

    addr = _email_address(obj)
    manual = _field(obj, "Manual", bool, default=False)
    reason = _field(obj, "Reason", str, default="")
    try:
        await _queue(ctx).suppression_add(account, addr, manual=manual, reason=reason)
    except SuppressionError as e:
        raise WebapiError("user", str(e)) from None
    return json_response({})


async def m_suppression_remove(ctx: ServerContext, account: str, address: str, obj: dict[str, Any], req: Request) -> Response:
    from mox.queue.suppression import SuppressionError

    addr = _email_address(obj)
    try:
        await _queue(ctx).suppression_remove(account, addr)
    except SuppressionError as e:
        raise WebapiError("user", str(e)) from None
    return json_response({})


async def m_suppression_present(ctx: ServerContext, account: str, address: str, obj: dict[str, Any], req: Request) -> Response:
    addr = _email_address(obj)
    return json_response({"Present": _queue(ctx).suppression_lookup(account, addr) is not None})


# Send.


def _check_control(s: str) -> str:
    """mox xcheckcontrol: no control characters in header values."""
    if any(ord(c) < 0x20 for c in s):
        raise WebapiError("user", "checking header values: control characters not allowed")
    return s


def _check_address(addr: Any) -> str:
    from mox.smtp.address import AddressError, parse_address

    if not isinstance(addr, str):
        raise WebapiError("protocol", "address must be a string")
    try:
        parse_address(addr)
    except AddressError as e:
        raise WebapiError("badAddress", f"parsing address {addr!r}: {e}") from None
    return addr


def _name_addrs(obj: dict[str, Any], field: str) -> list[tuple[str, str]]:
    out = []
    for na in _field(obj, field, list, default=[]):
        if not isinstance(na, dict) or set(k.lower() for k in na) - {"name", "address"}:
            raise WebapiError("protocol", f"field {field}: expected list of {{Name, Address}}")
        na = {k.lower(): v for k, v in na.items()}
        name = na.get("name") or ""
        if not isinstance(name, str):
            raise WebapiError("protocol", f"field {field}: Name must be a string")
        out.append((_check_control(name), _check_address(na.get("address") or "")))
    return out


def _format(addrs: list[tuple[str, str]]) -> str:
    return ", ".join(email.utils.formataddr(na, charset="utf-8") for na in addrs)


FILE_FIELDS = ("Name", "ContentType", "ContentID", "Data")


def _files(obj: dict[str, Any], field: str, form_field: str, req: Request) -> list[tuple[str, str, str, bytes]]:
    """(name, content type, content id, data) of the files of ``field`` (JSON, base64 Data)
    and of the multipart form field ``form_field`` (mox: alternativefile, inlinefile,
    attachedfile)."""
    out = []
    for f in _field(obj, field, list, default=[]):
        if not isinstance(f, dict):
            raise WebapiError("protocol", f"field {field}: expected list of files")
        known = {k.lower(): k for k in FILE_FIELDS}
        unknown = [k for k in f if k.lower() not in known]
        if unknown:
            raise WebapiError("protocol", f'parsing request: json: unknown field "{unknown[0]}"')
        f = {known[k.lower()]: v for k, v in f.items()}
        if not all(isinstance(f.get(k) or "", str) for k in FILE_FIELDS):
            raise WebapiError("protocol", f"field {field}: Name, ContentType, ContentID and Data must be strings")
        try:
            data = base64.b64decode(f.get("Data") or "", validate=True)
        except (binascii.Error, ValueError):
            raise WebapiError("user", "parsing attachment as base64: illegal base64 data") from None
        cid = _check_control(f.get("ContentID") or "")
        out.append((_check_control(f.get("Name") or ""), _check_control(f.get("ContentType") or ""), cid, data))
    for ff in req.files() if (req.header("content-type") or "").lower().startswith("multipart/") else []:
        if ff.field == form_field:
            out.append((ff.filename, ff.content_type, "", ff.data))
    return out


def _sniff(data: bytes) -> str | None:
    """A content type from the first bytes, for files without one (mox uses Go's
    http.DetectContentType)."""
    sigs = (
        (b"%PDF-", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"PK\x03\x04", "application/zip"),
        (b"\x1f\x8b\x08", "application/x-gzip"),
    )
    for sig, ct in sigs:
        if data.startswith(sig):
            return ct
    return None


def _maintype(name: str, ctype: str, data: bytes) -> tuple[str, str]:
    ctype = ctype or mimetypes.guess_type(name)[0] or _sniff(data[:512]) or "application/octet-stream"
    main, _, sub = ctype.partition("/")
    return (main or "application").lower().strip(), (sub.split(";")[0].strip() or "octet-stream").lower()


def _file_part(policy: email.policy.Policy, how: str, name: str, ctype: str, cid: str, data: bytes) -> email.message.MIMEPart:
    """A file as mox adds it: base64, disposition inline (alternative and inline files) or
    attachment, with its filename and Content-ID."""
    main, sub = _maintype(name, ctype, data)
    p = email.message.MIMEPart(policy=policy)
    p.set_content(data, main, sub, disposition="attachment" if how == "attachment" else "inline", filename=name or None, cid=cid or None)
    return p


def _multipart(policy: email.policy.Policy, subtype: str, parts: list[email.message.MIMEPart]) -> email.message.MIMEPart:
    m = email.message.MIMEPart(policy=policy)
    m["Content-Type"] = f"multipart/{subtype}"
    for p in parts:
        m.attach(p)
    return m


SEND_FIELDS = (
    "From", "To", "CC", "BCC", "ReplyTo", "MessageID", "References", "Date", "Subject", "Text", "HTML",
    "Extra", "Headers", "AlternativeFiles", "InlineFiles", "AttachedFiles", "RequireTLS", "FutureRelease", "SaveSent",
)


def _parse_time(value: str, field: str) -> datetime.datetime:
    try:
        t = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise WebapiError("protocol", f"field {field}: invalid RFC 3339 time {value!r}") from None
    return t if t.tzinfo else t.replace(tzinfo=datetime.timezone.utc)


def compose(
    from_: tuple[str, str],
    obj: dict[str, Any],
    req: Request,
    hostname: str,
) -> tuple[bytes, str, list[str], bytes]:
    """(message bytes, Message-ID, recipients in order To, CC, BCC, the Bcc field for the Sent
    copy) for a Send request. MIME structure as mox builds it: multipart/mixed (attached files)
    around multipart/related (inline files) around multipart/alternative (text, HTML and
    alternative files)."""
    to, cc, bcc = _name_addrs(obj, "To"), _name_addrs(obj, "CC"), _name_addrs(obj, "BCC")
    reply_to = _name_addrs(obj, "ReplyTo")
    rcpts = [a for _, a in to + cc + bcc]
    subject = _check_control(_field(obj, "Subject", str, default=""))
    text = _field(obj, "Text", str, default="")
    htmltext = _field(obj, "HTML", str, default="")
    msgid = _field(obj, "MessageID", str, default="") or f"<{secrets.token_urlsafe(18)}@{hostname}>"
    if not (msgid.startswith("<") and msgid.endswith(">")):
        raise WebapiError("malformedMessageID", "missing <> in message-id")
    _check_control(msgid)
    refs = _field(obj, "References", list, default=[])
    if not all(isinstance(r, str) for r in refs):
        raise WebapiError("protocol", "field References: expected list of strings")
    for r in refs:
        _check_control(r)
    date_s = _field(obj, "Date", str, default="")
    date = _parse_time(date_s, "Date") if date_s else datetime.datetime.now(datetime.timezone.utc)
    extra_headers = _field(obj, "Headers", list, default=[])
    for h in extra_headers:
        if not (isinstance(h, list) and len(h) == 2 and all(isinstance(x, str) for x in h)):
            raise WebapiError("protocol", "field Headers: expected list of [name, value]")
        _check_control(h[0])
        _check_control(h[1])
        if not h[0] or any(c in ": " or ord(c) > 126 for c in h[0]):
            raise WebapiError("user", f"invalid header {h[0]!r}")

    utf8 = any(ord(c) > 127 for c in f"{from_}{to}{cc}{reply_to}")
    msg = email.message.EmailMessage(policy=email.policy.SMTPUTF8 if utf8 else email.policy.SMTP)
    msg["From"] = _format([from_])
    if reply_to:
        msg["Reply-To"] = _format(reply_to)
    if to:
        msg["To"] = _format(to)
    if cc:
        msg["Cc"] = _format(cc)
    if subject:
        msg["Subject"] = subject
    msg["Date"] = email.utils.format_datetime(date)
    msg["Message-ID"] = msgid
    if refs:
        msg["References"] = " ".join(refs)
        msg["In-Reply-To"] = refs[-1]
    have_agent = False
    for name, value in extra_headers:
        have_agent = have_agent or name.lower() in ("user-agent", "x-mailer")
        msg[name] = value
    if not have_agent:
        msg["User-Agent"] = f"mox/{mox.__version__}"
    alternative = _files(obj, "AlternativeFiles", "alternativefile", req)
    inline = _files(obj, "InlineFiles", "inlinefile", req)
    attached = _files(obj, "AttachedFiles", "attachedfile", req)
    # mox's MIME structure (webapisrv Send): multipart/mixed (attached files) around
    # multipart/related (inline files) around multipart/alternative (text, HTML, alternative
    # files); a level is left out when it would hold one part.
    pol = msg.policy
    leaves = []
    for subtype, body in (("plain", text), ("html", htmltext)):
        if body:
            part = email.message.MIMEPart(policy=pol)
            part.set_content(body, subtype=subtype)
            leaves.append(part)
    leaves += [_file_part(pol, "alternative", *f) for f in alternative]
    node = _multipart(pol, "alternative", leaves) if len(leaves) > 1 else leaves[0]
    if inline:
        node = _multipart(pol, "related", [node, *(_file_part(pol, "inline", *f) for f in inline)])
    if attached:
        node = _multipart(pol, "mixed", [node, *(_file_part(pol, "attachment", *f) for f in attached)])
    if node.is_multipart():
        msg["MIME-Version"] = "1.0"
        msg["Content-Type"] = node["Content-Type"]
        msg.set_payload(node.get_payload())
    else:  # one text part: the message's own body
        msg.set_content(text or htmltext, subtype="plain" if text else "html")
    bcc_field = f"Bcc: {_format(bcc)}\r\n".encode("utf-8") if bcc else b""
    return msg.as_bytes(), msgid, rcpts, bcc_field


#: Furthest FutureRelease (mox queue.FutureReleaseIntervalMax: 60 days).
FUTURE_RELEASE_MAX = 60 * 24 * 3600


async def m_send(ctx: ServerContext, account: str, address: str, obj: dict[str, Any], req: Request) -> Response:
    # mox webapisrv Send: its checks in its order, with its error codes.
    if not _field(obj, "Text", str, default="") and not _field(obj, "HTML", str, default=""):
        raise WebapiError("missingBody", "at least text or html body required")
    from_list = _name_addrs(obj, "From")
    if len(from_list) > 1:
        raise WebapiError("multipleFrom", "multiple from-addresses not allowed")
    name, addr = from_list[0] if from_list else ("", address)
    if ctx.auth.account_for_address(addr) != account:
        raise WebapiError("badFrom", "from-address not configured for account")
    if ctx.config.domain_disabled(addr.rpartition("@")[2]):
        # mox webapisrv/server.go Send.
        raise WebapiError("domainDisabled", "domain of from-address is temporarily disabled")
    to_cc_bcc = [a for f in ("To", "CC", "BCC") for a in _field(obj, f, list, default=[])]
    if not to_cc_bcc:
        raise WebapiError("noRecipients", "no recipients")
    data, msgid, rcpts, bcc_field = compose((name, addr), obj, req, ctx.config.hostname)
    # The account's daily limits, as SMTP submission; mox's codes (webapisrv/server.go).
    msglimit, rcptlimit = ctx.queue.send_limit_reached(account, rcpts)
    if msglimit is not None:
        raise WebapiError("messageLimitReached", "outgoing message rate limit reached")
    if rcptlimit is not None:
        raise WebapiError("recipientLimitReached", "outgoing new recipient rate limit reached")
    if len(data) > ctx.config.max_message_size:
        raise WebapiError("messageTooLarge", "message too large")
    extra = _field(obj, "Extra", dict, default={})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in extra.items()):
        raise WebapiError("protocol", "field Extra: expected object with string values")
    require_tls = _field(obj, "RequireTLS", bool, default=None)
    save_sent = _field(obj, "SaveSent", bool, default=False)
    future = _field(obj, "FutureRelease", str, default="")
    hold_until = None
    future_request = ""
    if future:
        t = _parse_time(future, "FutureRelease")
        hold_until = t.timestamp()
        if hold_until - time.time() > FUTURE_RELEASE_MAX:
            raise WebapiError("user", "scheduling delivery: date/time can not be further than 1440h0m0s in the future")
        future_request = "until;" + t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    prefix = await submission_prefix(ctx, addr, rcpts, data)
    # mox webapisrv Send: a login in FromIDLoginAddresses gets a unique MAIL FROM per recipient.
    lp, _, dom = addr.rpartition("@")
    from_ids = fromid.mail_froms(ctx.config, account, address, lp, dom, len(rcpts))
    ids = await ctx.queue.add(
        account,
        addr,
        rcpts,
        prefix + data,
        from_ids=from_ids,
        hold_until=hold_until,
        extra=extra,
        require_tls=require_tls,
        future_release_request=future_request,
        save_sent=save_sent,
        sent_prefix=bcc_field,
    )
    given = [a for f in ("To", "CC", "BCC") for a in _name_addrs(obj, f)]
    return json_response(
        {
            "MessageID": msgid,
            "Submissions": [
                {"Address": a, "QueueMsgID": qid, "FromID": from_ids[i][1] if from_ids else ""}
                for i, ((_, a), qid) in enumerate(zip(given, ids))
            ],
        }
    )


Method = Callable[[Any, str, str, dict[str, Any], Request], Awaitable[Response]]

#: mox v0.0.15's webapi methods (webapi.Methods): handler, request fields, example request.
METHODS: dict[str, tuple[Method, tuple[str, ...], str]] = {
    "Send": (m_send, SEND_FIELDS, '{"To": [{"Address": "mox@localhost"}], "Subject": "hi", "Text": "hello"}'),
    "SuppressionList": (m_suppression_list, (), "{}"),
    "SuppressionAdd": (m_suppression_add, ("EmailAddress", "Manual", "Reason"), '{"EmailAddress": "bob@example.org", "Manual": true, "Reason": "unsubscribed"}'),
    "SuppressionRemove": (m_suppression_remove, ("EmailAddress",), '{"EmailAddress": "bob@example.org"}'),
    "SuppressionPresent": (m_suppression_present, ("EmailAddress",), '{"EmailAddress": "bob@example.org"}'),
    "MessageGet": (m_message_get, ("MsgID",), '{"MsgID": 1}'),
    "MessageRawGet": (m_message_raw_get, ("MsgID",), '{"MsgID": 1}'),
    "MessagePartGet": (m_message_part_get, ("MsgID", "PartPath"), '{"MsgID": 1, "PartPath": [0]}'),
    "MessageDelete": (m_message_delete, ("MsgID",), '{"MsgID": 1}'),
    "MessageFlagsAdd": (m_message_flags_add, ("MsgID", "Flags"), '{"MsgID": 1, "Flags": ["\\\\Seen", "custom"]}'),
    "MessageFlagsRemove": (m_message_flags_remove, ("MsgID", "Flags"), '{"MsgID": 1, "Flags": ["\\\\Seen"]}'),
    "MessageMove": (m_message_move, ("MsgID", "DestMailboxName"), '{"MsgID": 1, "DestMailboxName": "Archive"}'),
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
        example = html.escape(entry[2])
        return html_response(
            f"<!doctype html><html><head><meta charset=utf-8><title>{name} - mox webapi</title></head><body>"
            f"<h1>{name}</h1><form method=post><textarea name=request rows=10 cols=80>{example}</textarea>"
            "<br><button type=submit>Call</button></form></body></html>\n"
        )
    try:
        if entry is None:
            raise WebapiError("notFound", f"unknown method {name!r}", 404)
        account, address = req.principal if req.principal is not None else await _authenticate(ctx, req)
        obj = _request_json(req, entry[1])
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
