"""Modified UTF-7 for mailbox names (RFC 3501 5.1.3), used unless UTF8=ACCEPT/IMAP4rev2 is enabled."""

from __future__ import annotations

import base64


class Utf7Error(ValueError):
    pass


def encode(s: str) -> str:
    """Encode a mailbox name to modified UTF-7."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            b = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(b).decode("ascii").rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for c in s:
        if 0x20 <= ord(c) <= 0x7E:
            flush()
            out.append("&-" if c == "&" else c)
        else:
            pending.append(c)
    flush()
    return "".join(out)


def decode(s: str) -> str:
    """Decode a modified UTF-7 mailbox name; raises Utf7Error for invalid input."""
    out: list[str] = []
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if ord(c) < 0x20 or ord(c) > 0x7E:
            raise Utf7Error("non-ascii character in modified utf-7")
        if c != "&":
            out.append(c)
            i += 1
            continue
        j = s.find("-", i + 1)
        if j < 0:
            raise Utf7Error("unterminated modified utf-7 sequence")
        if j == i + 1:
            out.append("&")
            i = j + 1
            continue
        b64 = s[i + 1 : j].replace(",", "/")
        if any(not (ch.isalnum() or ch in "+/") for ch in b64) or len(b64) % 4 == 1:
            raise Utf7Error("invalid base64 in modified utf-7")
        try:
            raw = base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=True)
        except ValueError as e:
            raise Utf7Error("invalid base64 in modified utf-7") from e
        if len(raw) % 2 != 0 or not raw:
            raise Utf7Error("odd number of bytes in modified utf-7")
        try:
            text = raw.decode("utf-16-be")
        except UnicodeDecodeError as e:
            raise Utf7Error("invalid utf-16 in modified utf-7") from e
        if any(0x20 <= ord(ch) <= 0x7E for ch in text):
            raise Utf7Error("printable ascii encoded in modified utf-7")
        out.append(text)
        i = j + 1
    res = "".join(out)
    if encode(res) != s:
        raise Utf7Error("non-canonical modified utf-7")
    return res
