"""Messages as the webapi and the test API show them: decoded headers, the first text/plain
and text/html parts, attachments with their 0-based part paths (mox webapi.Message,
webops.ReadableParts)."""

from __future__ import annotations

from typing import Any

from mox.message import decode_header_value, headers as message_headers
from mox.message.part import Address, Part
from mox.message.sections import decoded_or_raw, part_text


def param(part: Part, name: str) -> str | None:
    for k, v in part.params:
        if k == name:
            return v
    return None


def filename(part: Part) -> str:
    for k, v in part.disposition_params:
        if k == "filename":
            return decode_header_value(v)
    name = param(part, "name")
    return decode_header_value(name) if name else ""


def walk_parts(part: Part, path: tuple[int, ...] = ()) -> list[tuple[tuple[int, ...], Part]]:
    """Every leaf part with its 0-based path (multipart children; message/rfc822 is a leaf)."""
    if part.media_type == "MULTIPART":
        out: list[tuple[tuple[int, ...], Part]] = []
        for i, child in enumerate(part.parts):
            out.extend(walk_parts(child, path + (i,)))
        return out
    return [(path, part)]


def content_type(part: Part) -> str:
    return f"{part.media_type}/{part.media_subtype}".lower()


def parsed_message(data: bytes, part: Part) -> dict[str, Any]:
    """Headers (decoded), first text/plain and text/html, and attachments of a message."""
    text: str | None = None
    htmltext: str | None = None
    attachments: list[dict[str, Any]] = []
    for path, p in walk_parts(part):
        ctype = content_type(p)
        is_attachment = p.disposition == "ATTACHMENT" or (bool(filename(p)) and not ctype.startswith("text/"))
        if ctype == "text/plain" and text is None and not is_attachment:
            text = part_text(data, p)
        elif ctype == "text/html" and htmltext is None and not is_attachment:
            htmltext = part_text(data, p)
        else:
            size = len(decoded_or_raw(data, p))
            attachments.append(
                {
                    "PartPath": list(path),
                    "Filename": filename(p),
                    "ContentType": ctype,
                    "ContentID": p.content_id or "",
                    "Size": size,
                }
            )
    hdrs = [(name, decode_header_value(value)) for name, value in message_headers(data, part)]
    return {"Headers": hdrs, "Text": text or "", "HTML": htmltext or "", "Attachments": attachments}


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
