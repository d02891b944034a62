"""Email addresses as SMTP carries them: RFC 5321 4.1.2 paths, RFC 6531 (SMTPUTF8) addresses.

``parse_path(s, smtputf8=...)`` parses ``<local@domain>`` (with optional source route, which is
ignored as RFC 5321 C allows) and returns the path and the unparsed rest. Local parts are kept
as their decoded value (quotes removed) in Unicode NFC; ``Address.__str__`` quotes again when the
value is not a dot-atom.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from dataclasses import dataclass

# RFC 5322 3.2.3 atext
_ATEXT_SPECIALS = set("!#$%&'*+-/=?^_`{|}~")
MAX_LOCALPART_OCTETS = 64  # RFC 5321 4.5.3.1.1
MAX_DOMAIN_OCTETS = 255  # RFC 5321 4.5.3.1.2


class AddressError(ValueError):
    """The text is not a valid address or path; ``non_ascii`` when it needs SMTPUTF8."""

    def __init__(self, msg: str, *, non_ascii: bool = False) -> None:
        super().__init__(msg)
        self.non_ascii = non_ascii


def _is_utf8_char(c: str) -> bool:
    """A non-ASCII character that came from valid UTF-8 (lines are decoded with surrogateescape,
    so invalid bytes show up as lone surrogates) and is not a control character."""
    return not ("\ud800" <= c <= "\udfff") and c.isprintable()


def _is_atext(c: str, smtputf8: bool) -> bool:
    if c.isascii():
        return c.isalnum() or c in _ATEXT_SPECIALS
    return smtputf8 and _is_utf8_char(c)  # RFC 6531 3.3: UTF8-non-ascii in atext


def _is_qtext(c: str, smtputf8: bool) -> bool:
    # RFC 5321 4.1.2 qtextSMTP: %d32-33 / %d35-91 / %d93-126
    if c.isascii():
        o = ord(c)
        return 32 <= o <= 126 and c not in '"\\'
    return smtputf8 and _is_utf8_char(c)


def is_dot_atom(s: str) -> bool:
    if s == "" or s.startswith(".") or s.endswith(".") or ".." in s:
        return False
    return all(c == "." or _is_atext(c, True) for c in s)


@dataclass(frozen=True)
class Address:
    """``localpart@domain``; domain lower-cased (ASCII) and without trailing dot."""

    localpart: str
    domain: str

    def __str__(self) -> str:
        lp = self.localpart
        if not is_dot_atom(lp):
            lp = '"' + lp.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return f"{lp}@{self.domain}"

    def is_ascii(self) -> bool:
        return self.localpart.isascii() and self.domain.isascii()


class _Reader:
    def __init__(self, s: str, smtputf8: bool) -> None:
        self.s = s
        self.o = 0
        self.smtputf8 = smtputf8

    def peek(self) -> str:
        return self.s[self.o] if self.o < len(self.s) else ""

    def take(self, t: str) -> bool:
        if self.s.startswith(t, self.o):
            self.o += len(t)
            return True
        return False

    def expect(self, t: str) -> None:
        if not self.take(t):
            raise AddressError(f"expected {t!r} at offset {self.o}")

    def non_ascii_error(self) -> AddressError:
        return AddressError("non-ascii address not permitted without smtputf8", non_ascii=True)

    def parse_localpart(self) -> str:
        """RFC 5321 4.1.2 Local-part = Dot-string / Quoted-string."""
        if self.take('"'):
            out = []
            while True:
                c = self.peek()
                if c == "":
                    raise AddressError("unterminated quoted local part")
                if c == '"':
                    self.o += 1
                    break
                if c == "\\":
                    self.o += 1
                    c = self.peek()
                    if c == "" or not (c.isascii() and 32 <= ord(c) <= 126):
                        raise AddressError("invalid quoted-pair in local part")
                    out.append(c)
                    self.o += 1
                    continue
                if not _is_qtext(c, self.smtputf8):
                    if not c.isascii():
                        raise self.non_ascii_error()
                    raise AddressError(f"invalid character {c!r} in quoted local part")
                out.append(c)
                self.o += 1
            lp = "".join(out)
        else:
            start = self.o
            while True:
                n = 0
                while (c := self.peek()) != "" and _is_atext(c, self.smtputf8):
                    self.o += 1
                    n += 1
                c = self.peek()
                if c and not c.isascii() and not self.smtputf8 and _is_utf8_char(c):
                    raise self.non_ascii_error()
                if n == 0:
                    raise AddressError("empty atom in local part")
                if not self.take("."):
                    break
            lp = self.s[start : self.o]
        lp = unicodedata.normalize("NFC", lp)
        if len(lp.encode("utf-8")) > MAX_LOCALPART_OCTETS:
            raise AddressError("local part longer than 64 octets")
        return lp

    def parse_domain(self) -> str:
        """RFC 5321 4.1.2 Domain / address-literal; U-labels with SMTPUTF8 (RFC 6531 3.3)."""
        if self.take("["):
            end = self.s.find("]", self.o)
            if end < 0:
                raise AddressError("unterminated address literal")
            lit = self.s[self.o : end]
            self.o = end + 1
            try:
                if lit[:5].lower() == "ipv6:":
                    ipaddress.IPv6Address(lit[5:])
                else:
                    ipaddress.IPv4Address(lit)
            except ValueError:
                raise AddressError(f"invalid address literal {lit!r}") from None
            return f"[{lit}]"
        start = self.o
        while True:
            n = 0
            while (c := self.peek()) != "" and ((c.isascii() and (c.isalnum() or c == "-")) or (not c.isascii() and _is_utf8_char(c))):
                if not c.isascii() and not self.smtputf8:
                    raise self.non_ascii_error()
                self.o += 1
                n += 1
            label = self.s[self.o - n : self.o]
            if n == 0 or label.startswith("-") or label.endswith("-"):
                raise AddressError("invalid domain label")
            if len(label.encode("utf-8")) > 63:
                raise AddressError("domain label too long")
            if not self.take("."):
                break
        d = self.s[start : self.o]
        if len(d.encode("utf-8")) > MAX_DOMAIN_OCTETS:
            raise AddressError("domain too long")
        return unicodedata.normalize("NFC", d).lower()

    def parse_mailbox(self) -> Address:
        lp = self.parse_localpart()
        self.expect("@")
        return Address(lp, self.parse_domain())


def parse_path(s: str, *, smtputf8: bool = False, allow_null: bool = False) -> tuple[Address | None, str]:
    """Parse a Reverse-path (``allow_null``) or Forward-path at the start of ``s``.

    Returns (address or None for ``<>``, rest of ``s``). RFC 5321 4.1.2; A-d-l source routes are
    parsed and ignored (RFC 5321 C).
    """
    r = _Reader(s, smtputf8)
    r.expect("<")
    if allow_null and r.take(">"):
        return None, s[r.o :]
    if r.peek() == "@":
        # A-d-l = At-domain *( "," At-domain ) ":"
        while True:
            r.expect("@")
            r.parse_domain()
            if not r.take(","):
                break
        r.expect(":")
    addr = r.parse_mailbox()
    r.expect(">")
    return addr, s[r.o :]


def parse_address(s: str, *, smtputf8: bool = True) -> Address:
    """Parse a bare ``local@domain`` (no angle brackets), e.g. from config or the command line."""
    r = _Reader(s, smtputf8)
    a = r.parse_mailbox()
    if r.o != len(s):
        raise AddressError(f"trailing text after address: {s[r.o:]!r}")
    return a
