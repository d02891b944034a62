"""SMTP command-line grammar (RFC 5321 4.1.1, 4.1.2) into plain values.

``split_command`` separates the verb; ``parse_mail_from`` / ``parse_rcpt_to`` parse the
arguments of MAIL and RCPT into a path and ESMTP parameters (RFC 5321 4.1.2 Mail-parameters).
Syntax problems raise :class:`ParseError`, which the protocol answers with
``501 5.5.2 bad syntax: ...``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mox.smtp.address import Address, AddressError, parse_path


class ParseError(ValueError):
    """Bad command syntax; ``non_ascii`` when the problem is a UTF-8 address without SMTPUTF8."""

    def __init__(self, msg: str, *, non_ascii: bool = False) -> None:
        super().__init__(msg)
        self.non_ascii = non_ascii


_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")


def split_command(line: str) -> tuple[str, str]:
    """``"MAIL FROM:<a@b>"`` -> ``("MAIL", " FROM:<a@b>")``: upper-cased verb and the rest
    including its leading space (as mox keeps it, so ``" FROM:"`` can be matched exactly)."""
    verb, sp, rest = line.partition(" ")
    return verb.upper(), sp + rest


@dataclass(frozen=True)
class MailFrom:
    path: Address | None  # None is the null reverse-path <>
    params: dict[str, str | None] = field(default_factory=dict)  # upper-cased keys, in order


@dataclass(frozen=True)
class RcptTo:
    path: Address  # "<postmaster>" becomes Address("postmaster", "")
    params: dict[str, str | None] = field(default_factory=dict)


def _path_end(s: str) -> int:
    """Index just past the closing ``>`` of the path at the start of ``s`` (quotes respected)."""
    if not s.startswith("<"):
        raise ParseError("expected '<'")
    inq = False
    i = 1
    while i < len(s):
        c = s[i]
        if inq and c == "\\":
            i += 2
            continue
        if c == '"':
            inq = not inq
        elif c == ">" and not inq:
            return i + 1
        i += 1
    raise ParseError("expected '>'")


def parse_params(s: str) -> dict[str, str | None]:
    """``" SIZE=10 BODY=8BITMIME"`` -> ``{"SIZE": "10", "BODY": "8BITMIME"}``; RFC 5321 4.1.2
    esmtp-param. Duplicates are an error (RFC 1870 6, RFC 6152 ...)."""
    params: dict[str, str | None] = {}
    if s.strip(" ") == "":
        return params
    if not s.startswith(" "):
        raise ParseError(f"expected space before parameters, got {s!r}")
    for tok in s.split(" "):
        if tok == "":
            continue  # tolerate repeated spaces between parameters
        key, eq, value = tok.partition("=")
        if not _KEYWORD.fullmatch(key):
            raise ParseError(f"invalid parameter keyword {key!r}")
        if eq and (value == "" or any(c == "=" or (c.isascii() and not 33 <= ord(c) <= 126) for c in value)):
            raise ParseError(f"invalid value for parameter {key!r}")
        k = key.upper()
        if k in params:
            raise ParseError(f"duplicate param {key!r}")
        params[k] = value if eq else None
    return params


def _parse_path_args(args: str, prefix: str, *, allow_null: bool, smtputf8: bool = False) -> tuple[Address | None, dict[str, str | None]]:
    if not args.upper().startswith(prefix):
        raise ParseError(f"expected {prefix.strip()!r}")
    rest = args[len(prefix) :]
    # RFC 5321 4.1.2: no space after the colon (mox pedantic mode rejects it too).
    if rest.upper() == "<POSTMASTER>" or rest.upper().startswith("<POSTMASTER> "):
        if allow_null:
            raise ParseError("postmaster not allowed as reverse path")
        return Address("postmaster", ""), parse_params(rest[len("<postmaster>") :])
    end = _path_end(rest)
    params = parse_params(rest[end:])
    smtputf8 = smtputf8 or "SMTPUTF8" in params
    try:
        path, tail = parse_path(rest[:end], smtputf8=smtputf8, allow_null=allow_null)
    except AddressError as e:
        raise ParseError(str(e), non_ascii=e.non_ascii) from None
    assert tail == ""
    return path, params


def parse_mail_from(args: str) -> MailFrom:
    """Arguments of MAIL: ``" FROM:<reverse-path> [params]"`` (RFC 5321 4.1.1.2)."""
    path, params = _parse_path_args(args, " FROM:", allow_null=True)
    return MailFrom(path, params)


def parse_rcpt_to(args: str, *, smtputf8: bool = False) -> RcptTo:
    """Arguments of RCPT: ``" TO:<forward-path> [params]"`` (RFC 5321 4.1.1.3); ``smtputf8`` when
    the transaction's MAIL had SMTPUTF8 (RFC 6531 3.4)."""
    path, params = _parse_path_args(args, " TO:", allow_null=False, smtputf8=smtputf8)
    assert path is not None
    return RcptTo(path, params)


def xtext_decode(s: str) -> str:
    """RFC 3461 4: ``+`` HEXCHAR HEXCHAR encodes one octet."""
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c == "+":
            h = s[i + 1 : i + 3]
            if len(h) != 2 or not re.fullmatch(r"[0-9A-F]{2}", h):
                raise ParseError(f"invalid xtext escape in {s!r}")
            out.append(int(h, 16))
            i += 3
            continue
        if not (33 <= ord(c) <= 126) or c == "=":
            raise ParseError(f"invalid xtext character in {s!r}")
        out.append(ord(c))
        i += 1
    return out.decode("utf-8", "replace")


def dsn_xtext_decode(s: str) -> str:
    """An ENVID or ORCPT address (RFC 3461 4.2, 4.4): xtext-decoded, and without control
    characters, since the value is copied into a DSN's header fields (a ``+0D+0A`` would
    inject fields)."""
    v = xtext_decode(s)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in v):
        raise ParseError(f"control character in xtext value {s!r}")
    return v


def orcpt_address(value: str | None) -> str | None:
    """``rfc822;a+40b`` as RCPT gave it -> ``rfc822;a@b`` for the DSN's Original-Recipient
    (RFC 3461 4.2: the field carries the address before xtext encoding; validated at RCPT)."""
    if not value:
        return None
    typ, _, addr = value.partition(";")
    return f"{typ};{dsn_xtext_decode(addr)}"


def xtext_encode(s: str) -> str:
    out = []
    for b in s.encode("utf-8"):
        if 33 <= b <= 126 and b not in (ord("+"), ord("=")):
            out.append(chr(b))
        else:
            out.append(f"+{b:02X}")
    return "".join(out)


# Labels of letters, digits, "-" and any non-ASCII, written as the ASCII characters they exclude
# (a class with a range up to U+10FFFF costs milliseconds to compile).
_DOMAIN_LABELS = re.compile(r"[^\x00-,./:-@\[-`{-\x7f]+(\.[^\x00-,./:-@\[-`{-\x7f]+)*\.?")


def parse_ehlo_domain(args: str) -> str:
    """EHLO/HELO argument: Domain or address-literal (RFC 5321 4.1.1.1); returned as given."""
    a = args.strip(" ")
    if a == "" or " " in a:
        raise ParseError("expected one domain or address literal")
    if a.startswith("["):
        if not a.endswith("]"):
            raise ParseError("invalid address literal")
        return a
    if any("\ud800" <= ch <= "\udfff" or not ch.isprintable() for ch in a) or not _DOMAIN_LABELS.fullmatch(a):
        raise ParseError(f"invalid domain {a!r}")
    return a
