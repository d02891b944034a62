"""Message lint: what a strict receiver would say about a message, as a report for tests.

:func:`lint_message` never raises; it returns findings with an ``id``, a ``severity``
(``error`` a strict receiver rejects or mangles it, ``warning`` it is likely to cause trouble,
``info``) and a message. ``body_8bit`` / ``smtputf8`` are what the SMTP transaction declared
(``BODY=8BITMIME``/``BINARYMIME``, ``SMTPUTF8``), or None when unknown (a message linted on its
own).
"""

from __future__ import annotations

import re
from typing import Any

MAX_LINE = 998  # RFC 5322 2.1.1, without CRLF

_DKIM_H = re.compile(r"(?:^|;)\s*h\s*=\s*([^;]*)", re.IGNORECASE)
_URI = re.compile(r"<([^<>]*)>")


def _header(data: bytes) -> tuple[bytes, list[tuple[str, str]]]:
    """(raw header, [(lower-case name, unfolded value)]); tolerant of bare LF."""
    m = re.search(rb"\r?\n\r?\n", data)
    head = data[: m.start()] if m else data
    fields: list[tuple[str, str]] = []
    for raw in re.split(rb"\r?\n", head):
        if raw[:1] in (b" ", b"\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + " " + raw.strip().decode("utf-8", "replace"))
            continue
        bname, colon, bvalue = raw.partition(b":")
        if colon:
            fields.append((bname.strip().decode("ascii", "replace").lower(), bvalue.strip().decode("utf-8", "replace")))
    return head, fields


def lint_message(data: bytes, *, body_8bit: bool | None = None, smtputf8: bool | None = None) -> dict[str, Any]:
    findings: list[dict[str, Any]] = []

    def add(id: str, severity: str, message: str) -> None:
        findings.append({"id": id, "severity": severity, "message": message})

    # Line endings and lengths (RFC 5322 2.1.1, 2.3; RFC 5321 4.5.3.1.6).
    bare_lf = len(re.findall(rb"(?<!\r)\n", data))
    if bare_lf:
        add("bare-lf", "error", f"{bare_lf} bare LF line ending(s) (without CR); SMTP requires CRLF")
    bare_cr = len(re.findall(rb"\r(?!\n)", data))
    if bare_cr:
        add("bare-cr", "error", f"{bare_cr} bare CR(s) not followed by LF")
    long_lines = [i + 1 for i, line in enumerate(re.split(rb"\r?\n", data)) if len(line) > MAX_LINE]
    if long_lines:
        add("line-too-long", "error", f"{len(long_lines)} line(s) over {MAX_LINE} octets, first at line {long_lines[0]}")

    head, fields = _header(data)
    names = [n for n, _ in fields]

    # 8-bit and internationalised addresses (RFC 6152, RFC 6531/6532).
    if any(b >= 0x80 for b in data):
        if body_8bit is False and not smtputf8:
            add("8bit-without-8bitmime", "error", "8-bit data sent without BODY=8BITMIME (or SMTPUTF8)")
        elif body_8bit is None:
            add("8bit", "info", "message has 8-bit data: needs 8BITMIME (or SMTPUTF8) to be sent")
    if any(b >= 0x80 for b in head):
        addr_fields = ("from", "to", "cc", "bcc", "reply-to", "sender", "return-path")
        if any(n in addr_fields and any(ord(ch) > 127 for ch in v) for n, v in fields):
            sev = "error" if smtputf8 is False else "info"
            add("needs-smtputf8", sev, "non-ASCII address in the header: needs SMTPUTF8" + (" (not declared)" if smtputf8 is False else ""))
        elif smtputf8 is False:
            add("8bit-header", "warning", "raw 8-bit header text without SMTPUTF8 (use RFC 2047 encoded-words)")

    # Required and single fields (RFC 5322 3.6).
    for name, label, sev in (("date", "Date", "error"), ("from", "From", "error"), ("message-id", "Message-ID", "warning")):
        n = names.count(name)
        if n == 0:
            add(f"missing-{name}", sev, f"no {label} header field")
        elif n > 1:
            add(f"multiple-{name}", "error", f"{n} {label} header fields (at most one allowed)")
    for name, label in (("subject", "Subject"), ("to", "To"), ("cc", "Cc"), ("reply-to", "Reply-To")):
        if names.count(name) > 1:
            add(f"multiple-{name}", "error", f"{names.count(name)} {label} header fields (at most one allowed)")

    # MIME structure, with the pedantic checks SMTP delivery uses.
    try:
        from mox.message import MalformedMessage, check_message

        try:
            check_message(data)
        except MalformedMessage as e:
            add("malformed-mime", "error", f"malformed message: {e.reason}")
    except Exception as e:  # never fail the report over the checker
        add("check-failed", "warning", f"message check failed: {e!r}")

    # List-Unsubscribe (RFC 2369) and one-click (RFC 8058).
    lu = [v for n, v in fields if n == "list-unsubscribe"]
    lup = [v for n, v in fields if n == "list-unsubscribe-post"]
    uris: list[str] = []
    if lu:
        uris = _URI.findall(" ".join(lu))
        if not uris:
            add("list-unsubscribe-syntax", "error", "List-Unsubscribe has no <URI> (RFC 2369 3.1)")
        for u in uris:
            if not u.lower().startswith(("https:", "http:", "mailto:")):
                add("list-unsubscribe-scheme", "warning", f"List-Unsubscribe URI {u!r} is not https:, http: or mailto:")
    if lup:
        if not lu:
            add("one-click-without-list-unsubscribe", "error", "List-Unsubscribe-Post without List-Unsubscribe (RFC 8058 3.1)")
        if len(lup) > 1 or lup[0].strip() != "List-Unsubscribe=One-Click":
            add("one-click-post-value", "error", "List-Unsubscribe-Post must be exactly 'List-Unsubscribe=One-Click' (RFC 8058 3.1)")
        if lu and not any(u.lower().startswith("https:") for u in uris):
            add("one-click-needs-https", "error", "one-click unsubscribe needs an https URI in List-Unsubscribe (RFC 8058 3.1)")
        signed = False
        for fname, v in fields:
            if fname == "dkim-signature":
                m = _DKIM_H.search(v)
                hs = {h.strip().lower() for h in (m.group(1).split(":") if m else [])}
                if {"list-unsubscribe", "list-unsubscribe-post"} <= hs:
                    signed = True
        if not signed:
            add("one-click-not-signed", "warning", "no DKIM-Signature covering List-Unsubscribe and List-Unsubscribe-Post (RFC 8058 4)")
    elif lu and any(u.lower().startswith("https:") for u in uris):
        add("one-click-missing", "info", "https List-Unsubscribe without List-Unsubscribe-Post: no RFC 8058 one-click")

    errors = sum(1 for f in findings if f["severity"] == "error")
    warnings = sum(1 for f in findings if f["severity"] == "warning")
    return {"ok": errors == 0, "errors": errors, "warnings": warnings, "findings": findings}
