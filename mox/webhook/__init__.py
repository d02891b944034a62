"""Webhook payloads, as mox's ``webhook`` package defines them (pure: no trio, no store).

Two kinds of JSON bodies are POSTed to an account's webhook URLs (mox ``webhook/webhook.go``):

- :class:`Outgoing`: an event about a message the account submitted (``Event`` one of
  :data:`OUTGOING_EVENTS`), with the queue message id, the submitter's Message-ID and Subject,
  the SMTP codes of a failure and the ``Extra`` the submitter attached.
- :class:`Incoming`: a message delivered to the account over SMTP, with its addresses, text and
  HTML (each at most 1 MiB, ``\\n`` line endings), MIME :class:`Structure` and :class:`IncomingMeta`.

Field names are mox's (``QueueMsgID``, ``SMTPEnhancedCode``, ``DKIMVerifiedDomains``): Python
attributes are snake_case and :func:`mox_name` spells them as mox does. Times are RFC 3339 strings
(:func:`rfc3339`), as Go writes a ``time.Time``. Receivers must ignore fields they do not know.
"""

from __future__ import annotations

import dataclasses
import datetime
import email.utils
import re
from dataclasses import dataclass

import msgspec

from mox.message import decode_header_value, headers as message_headers, parse_address_list
from mox.message.part import Address, Part
from mox.message.sections import decoded_or_raw, part_text

#: Format of the payloads, ``Version`` in each (mox: currently 0).
VERSION = 0

#: Events of outgoing deliveries (mox webhook.OutgoingEvent), in mox's order.
OUTGOING_EVENTS = ("delivered", "suppressed", "delayed", "failed", "relayed", "expanded", "canceled", "unrecognized")

#: Text and HTML in an Incoming payload are cut at this many bytes (mox: 1 MiB).
MAX_TEXT = 1024 * 1024

_ACRONYMS = {"id": "ID", "ids": "IDs", "smtp": "SMTP", "html": "HTML", "dkim": "DKIM", "ip": "IP", "url": "URL", "cc": "CC", "bcc": "BCC", "dsn": "DSN"}


def mox_name(field: str) -> str:
    """mox's (Go's) name for a snake_case field: ``queue_msg_id`` -> ``QueueMsgID``."""
    return "".join(_ACRONYMS.get(w, w.capitalize()) for w in field.split("_"))


def rfc3339(t: float | datetime.datetime) -> str:
    """A time as Go's ``time.Time`` marshals to JSON (RFC 3339 with up to nanoseconds, trailing
    zeros removed): unix seconds in UTC with ``Z``; a datetime in its own offset."""
    if not isinstance(t, datetime.datetime):
        t = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    s = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        s += f".{t.microsecond:06d}".rstrip("0")
    off = t.utcoffset() or datetime.timedelta(0)
    if off == datetime.timedelta(0):
        return s + "Z"
    sign = "+" if off >= datetime.timedelta(0) else "-"
    minutes = abs(int(off.total_seconds())) // 60
    return f"{s}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


class _Payload(msgspec.Struct, rename=mox_name, kw_only=True):
    pass


class NameAddress(_Payload, kw_only=True):
    name: str = ""
    address: str = ""


class Structure(_Payload, kw_only=True):
    """The MIME structure of a message (mox webhook.Structure)."""

    content_type: str  # lower case, e.g. text/plain
    content_type_params: dict[str, str]  # lower-case keys, values as written
    content_id: str = ""  # with <>, or empty
    content_disposition: str = ""  # lower case, without parameters; empty when absent
    filename: str = ""  # from Content-Disposition filename or Content-Type name, decoded
    decoded_size: int = 0  # after undoing the content-transfer-encoding; 0 for a multipart
    parts: list[Structure] = []


class Outgoing(_Payload, kw_only=True):
    """An event about an outgoing delivery (mox webhook.Outgoing)."""

    version: int = VERSION
    event: str  # one of OUTGOING_EVENTS
    dsn: bool = False  # triggered by an incoming delivery status notification
    suppressing: bool = False  # this failure put the recipient on the suppression list
    queue_msg_id: int = 0
    from_id: str = ""
    message_id: str = ""  # with <>
    subject: str = ""
    webhook_queued: str = ""  # RFC 3339
    smtp_code: int = 0  # for errors, e.g. 451, 550
    smtp_enhanced_code: str = ""  # for errors, e.g. 5.1.1
    error: str = ""
    extra: dict[str, str] = {}


class IncomingMeta(_Payload, kw_only=True):
    msg_id: int = 0  # the message's id in the account (webapi MsgID)
    mail_from: str = ""
    mail_from_validated: bool = False
    msg_from_validated: bool = False
    rcpt_to: str = ""
    dkim_verified_domains: list[str] = []
    remote_ip: str = ""
    received: str = ""  # RFC 3339
    mailbox_name: str = ""
    automated: bool = False


class Incoming(_Payload, kw_only=True):
    """A message delivered over SMTP (mox webhook.Incoming)."""

    version: int = VERSION
    from_: list[NameAddress] = msgspec.field(default_factory=list, name="From")
    to: list[NameAddress] = []
    cc: list[NameAddress] = []
    bcc: list[NameAddress] = []
    reply_to: list[NameAddress] = []
    subject: str = ""
    message_id: str = ""
    in_reply_to: str = ""
    references: list[str] = []
    date: str | None = None  # RFC 3339, the Date header's own offset; null without a valid Date
    text: str = ""
    html: str = ""
    structure: Structure
    meta: IncomingMeta


_encoder = msgspec.json.Encoder()


def encode(payload: Outgoing | Incoming) -> bytes:
    return _encoder.encode(payload)


# Building payloads from a parsed message.


def _param(pairs: list[tuple[str, str]], name: str) -> str | None:
    for k, v in pairs:
        if k == name:
            return v
    return None


def filename(part: Part) -> str:
    """The part's file name: Content-Disposition ``filename``, else Content-Type ``name``, RFC
    2047 decoded (mox message.Part.DispositionFilename)."""
    name = _param(part.disposition_params, "filename") or _param(part.params, "name") or ""
    return decode_header_value(name) if name else ""


def structure(data: bytes, part: Part) -> Structure:
    """The :class:`Structure` of ``part`` (mox queue.PartStructure). A message/rfc822 part is a
    leaf, as in mox."""
    multipart = part.media_type == "MULTIPART"
    size = 0
    if not multipart:
        size = len(decoded_or_raw(data, part))
    return Structure(
        content_type=f"{part.media_type}/{part.media_subtype}".lower(),
        content_type_params={k.lower(): v for k, v in part.params},
        content_id=part.content_id or "",
        content_disposition=(part.disposition or "").lower(),
        filename=filename(part),
        decoded_size=size,
        parts=[structure(data, p) for p in part.parts] if multipart else [],
    )


def name_addresses(addrs: list[Address]) -> list[NameAddress]:
    """Envelope addresses as mox gives them: decoded display name, ``local@domain``; group
    markers left out."""
    return [
        NameAddress(name=decode_header_value(a.name) if a.name else "", address=f"{a.mailbox}@{a.host}")
        for a in addrs
        if a.host is not None and a.mailbox is not None
    ]


def readable_parts(data: bytes, part: Part, max_size: int = MAX_TEXT) -> tuple[str, str]:
    """(text, html): the first text/plain and text/html parts that are not attachments, with
    ``\\n`` line endings, each cut to ``max_size`` bytes (mox webops.ReadableParts)."""
    found: dict[str, str] = {}
    stack = [part]
    while stack:
        p = stack.pop(0)
        if p.media_type == "MULTIPART":
            stack[0:0] = list(p.parts)
            continue
        if p.media_type != "TEXT" or p.disposition == "ATTACHMENT":
            continue
        kind = p.media_subtype.lower()
        if kind in ("plain", "html") and kind not in found:
            s = part_text(data, p).replace("\r\n", "\n")
            b = s.encode("utf-8")
            if len(b) > max_size:
                s = b[:max_size].decode("utf-8", errors="ignore")
            found[kind] = s
    return found.get("plain", ""), found.get("html", "")


def _header_values(data: bytes, part: Part, name: str) -> list[str]:
    return [v for k, v in message_headers(data, part, top=True) if k.lower() == name]


def reply_to(data: bytes, part: Part) -> list[NameAddress]:
    """The Reply-To addresses as written (the IMAP envelope's reply-to defaults to From; mox's
    webhook and webapi leave it empty when the header is absent)."""
    values = _header_values(data, part, "reply-to")
    return name_addresses(parse_address_list(values[0])) if values else []


def references(data: bytes, part: Part) -> list[str]:
    """Message-ids of the References header fields, each with <> (mox message.ReferencedIDs)."""
    out: list[str] = []
    for v in _header_values(data, part, "references"):
        for w in v.replace("\t", " ").split():
            w = w.strip()
            if w.startswith("<") and w.endswith(">") and len(w) > 2:
                out.append(w)
    return out


def is_automated(data: bytes, part: Part, mail_from: str) -> bool:
    """Whether a message should not get automated replies (mox queue isAutomated): the null
    reverse path, mailing-list fields, Precedence, Auto-Submitted other than ``no``, or a report."""
    if mail_from == "":
        return True
    if part.media_type == "MULTIPART" and part.media_subtype == "REPORT":
        return True
    names: dict[str, str] = {}
    for k, v in message_headers(data, part, top=True):
        names.setdefault(k.lower(), v)
    if any(names.get(k, "").strip() for k in ("list-id", "list-unsubscribe", "list-unsubscribe-post", "precedence")):
        return True
    auto = names.get("auto-submitted", "").strip()
    return bool(auto) and auto.lower() != "no"


def message_date(part: Part) -> str | None:
    env = part.envelope
    if env is None or not env.date:
        return None
    try:
        return rfc3339(email.utils.parsedate_to_datetime(env.date))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


@dataclass
class TraceMeta:
    """What the trace fields mox put on top of a delivered message say (mox stores them with
    the message; we read them back from its own fields): envelope sender and recipient, the
    client's IP, and the message authentication results."""

    mail_from: str = ""
    rcpt_to: str = ""
    remote_ip: str = ""
    mail_from_validated: bool = False
    msg_from_validated: bool = False
    dkim_verified_domains: list[str] = dataclasses.field(default_factory=list)
    has_trace: bool = False


_RESULT = re.compile(r"^\s*([a-z0-9-]+)\s*=\s*([a-z]+)\b(.*)$", re.I | re.S)
_PROP = re.compile(r"\b([a-z]+\.[a-z-]+)=(\S+)", re.I)


def _aligned(a: str, b: str) -> bool:
    """Relaxed alignment of two domains (RFC 7489 3.1), without the public suffix list: equal,
    or one a subdomain of the other."""
    a, b = a.lower().rstrip("."), b.lower().rstrip(".")
    return bool(a and b) and (a == b or a.endswith("." + b) or b.endswith("." + a))


def trace_meta(data: bytes, part: Part) -> TraceMeta:
    """The :class:`TraceMeta` of a message delivered by mox: from its first Return-Path,
    Delivered-To, Authentication-Results and Received fields (mox puts them on top). A message
    added otherwise (IMAP APPEND) has none of them and gets empty values."""
    fields = message_headers(data, part, top=True)
    first: dict[str, str] = {}
    for name, value in fields:
        first.setdefault(name.lower(), value)
    meta = TraceMeta()
    rp = first.get("return-path")
    if rp is not None:
        meta.has_trace = True
        meta.mail_from = rp.strip().strip("<>").strip()
    meta.rcpt_to = first.get("delivered-to", "").strip()
    rcvd = first.get("received", "")
    if rcvd.lower().startswith("from"):
        m = re.search(r"\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]", rcvd.split(" by ", 1)[0])
        if m:
            meta.remote_ip = m.group(1)
    spf_domain = ""
    dkim: list[str] = []
    dmarc_pass = False
    for method in first.get("authentication-results", "").split(";")[1:]:
        mm = _RESULT.match(method)
        if mm is None:
            continue
        name, result, rest = mm.group(1).lower(), mm.group(2).lower(), mm.group(3)
        props = {k.lower(): v.strip('"') for k, v in _PROP.findall(re.sub(r"\([^)]*\)", " ", rest))}
        if name == "dkim" and result == "pass":
            d = props.get("header.d", "").lower()
            if d and d not in dkim:
                dkim.append(d)
        elif name == "spf" and result == "pass":
            meta.mail_from_validated = True
            spf_domain = props.get("smtp.mailfrom", "").rpartition("@")[2]
        elif name == "dmarc" and result == "pass":
            dmarc_pass = True
    meta.dkim_verified_domains = dkim
    env = part.envelope
    from_domain = (env.from_[0].host or "") if env and env.from_ else ""
    meta.msg_from_validated = dmarc_pass or any(_aligned(from_domain, d) for d in [*dkim, spf_domain])
    return meta


def incoming(data: bytes, part: Part, meta: IncomingMeta) -> Incoming:
    """The Incoming payload of a delivered message (mox queue.Incoming)."""
    env = part.envelope
    text, html = readable_parts(data, part)
    meta = msgspec.structs.replace(meta, automated=is_automated(data, part, meta.mail_from))
    return Incoming(
        from_=name_addresses(env.from_) if env else [],
        to=name_addresses(env.to) if env else [],
        cc=name_addresses(env.cc) if env else [],
        bcc=name_addresses(env.bcc) if env else [],
        reply_to=reply_to(data, part),
        subject=decode_header_value(env.subject) if env and env.subject else "",
        message_id=(env.message_id or "") if env else "",
        in_reply_to=(env.in_reply_to or "") if env else "",
        references=references(data, part),
        date=message_date(part),
        text=text,
        html=html,
        structure=structure(data, part),
        meta=meta,
    )


__all__ = [
    "MAX_TEXT",
    "OUTGOING_EVENTS",
    "VERSION",
    "Incoming",
    "IncomingMeta",
    "NameAddress",
    "Outgoing",
    "Structure",
    "TraceMeta",
    "encode",
    "filename",
    "incoming",
    "is_automated",
    "message_date",
    "message_fields",
    "mox_name",
    "name_addresses",
    "readable_parts",
    "references",
    "reply_to",
    "rfc3339",
    "structure",
    "trace_meta",
]


def message_fields(data: bytes) -> tuple[str, str]:
    """(Message-ID with <>, decoded Subject) from a message's header, as the queue keeps them
    for its webhooks (without parsing the MIME structure)."""
    end = data.find(b"\r\n\r\n")
    head = data if end < 0 else data[: end + 2]
    mid = subject = ""
    name = b""
    values: dict[bytes, bytes] = {}
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and name:
            values[name] += b" " + line.strip()
            continue
        n, sep, v = line.partition(b":")
        name = n.strip().lower() if sep else b""
        if name and name not in values:
            values[name] = v.strip()
    mid = values.get(b"message-id", b"").decode("utf-8", errors="replace").strip()
    subject = decode_header_value(values.get(b"subject", b""))
    return mid, subject
