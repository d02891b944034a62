"""Messages as the webmail shows them: RFC 2047 header text, the text to show, the leaf parts
and attachments, inline images (cid: URLs) and the header list. Parsing uses Python's email
package with a policy that never raises on defects (mail content is hostile)."""

from __future__ import annotations

import base64
import email
import email.header
import email.message
import email.policy
import re
from typing import Any

CID_PART_MAX = 2 * 1024 * 1024
CID_TOTAL_MAX = 10 * 1024 * 1024

_policy = email.policy.default.clone(raise_on_defect=False)


def decode_header_value(value: str | None) -> str:
    """RFC 2047 decoded header text; never raises."""
    if not value:
        return ""
    if "=?" not in value:
        return value
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except Exception:  # noqa: BLE001 - odd encodings: show what we have
        return value


def parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=_policy)


def part_bytes(part: email.message.Message) -> bytes:
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], email.message.Message):
            try:
                return inner[0].as_bytes()
            except Exception:  # noqa: BLE001
                return b""
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001
        return b""
    return payload if isinstance(payload, bytes) else b""


def part_text(part: email.message.Message) -> str:
    data = part_bytes(part)
    charset = part.get_content_charset() or "utf-8"
    try:
        text = data.decode(charset, "replace")
    except LookupError:
        text = data.decode("utf-8", "replace")
    return text.replace("\r\n", "\n")


def leaves(msg: email.message.Message) -> list[tuple[int, email.message.Message]]:
    """The leaf parts with their index in walk order (the index names a part in URLs). An
    attached message (message/rfc822) is one leaf; its own parts are not listed."""
    out: list[tuple[int, email.message.Message]] = []
    counter = 0

    def visit(p: email.message.Message) -> None:
        nonlocal counter
        index = counter
        counter += 1
        if p.get_content_type() == "message/rfc822" and index != 0:
            out.append((index, p))
        elif p.is_multipart():
            for child in p.get_payload():
                if isinstance(child, email.message.Message):
                    visit(child)
        else:
            out.append((index, p))

    visit(msg)
    return out


def _is_attachment(i: int, p: email.message.Message) -> bool:
    if (p.get_content_disposition() or "").lower() == "attachment" or p.get_filename():
        return True
    return i != 0 and p.get_content_maintype() != "text"


def attachments(msg: email.message.Message) -> list[dict[str, Any]]:
    out = []
    for i, p in leaves(msg):
        if _is_attachment(i, p):
            out.append(
                {
                    "index": i,
                    "filename": p.get_filename() or f"part{i}",
                    "content_type": p.get_content_type(),
                    "size": len(part_bytes(p)),
                }
            )
    return out


def first_body(msg: email.message.Message, subtype: str) -> email.message.Message | None:
    for i, p in leaves(msg):
        if p.get_content_type() == f"text/{subtype}" and (p.get_content_disposition() or "") != "attachment":
            return p
    return None


def text_of(msg: email.message.Message) -> str:
    """The text to show: text/plain preferred, else the HTML's text, else empty."""
    p = first_body(msg, "plain")
    if p is not None:
        return part_text(p)
    h = first_body(msg, "html")
    if h is not None:
        import html

        import nh3

        txt = html.unescape(nh3.clean(part_text(h), tags=set()))
        return re.sub(r"\n{3,}", "\n\n", txt).strip() + "\n"
    return ""


def cid_map(msg: email.message.Message) -> dict[str, str]:
    out: dict[str, str] = {}
    total = 0
    for _, p in leaves(msg):
        cid = p.get("Content-ID")
        if not cid or p.get_content_maintype() != "image":
            continue
        data = part_bytes(p)
        if len(data) > CID_PART_MAX or total + len(data) > CID_TOTAL_MAX:
            continue
        total += len(data)
        out[str(cid).strip().strip("<>")] = f"data:{p.get_content_type()};base64," + base64.b64encode(data).decode()
    return out


def headers_of(msg: email.message.Message) -> list[list[str]]:
    out = []
    for k, v in msg.raw_items():
        out.append([k, decode_header_value(re.sub(r"\r?\n[ \t]", " ", str(v)))])
    return out


