"""The DKIM-Signature header field (RFC 6376 3.5): parsing and writing.

Writing follows mox (dkim/sig.go): tags in the order v d s i a c l q t x h z bh b, folded at
about 76 characters, the signature wrapped anywhere. Parsing is strict about the tags it knows
and ignores unknown ones (RFC 6376 3.2).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

from mox.message.headerwriter import HeaderWriter


class SigError(ValueError):
    """A DKIM-Signature field that cannot be used (a permanent error, RFC 6376 6.1.1)."""


_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_FWS = " \t\r\n"
_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_FIELD_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 2.2: printable US-ASCII except ":"
_DOMAIN = re.compile(r"[^\s.;@\[\]]+(\.[^\s.;@\[\]]+)*")
# atext (RFC 5322 3.2.3) plus any non-ASCII (RFC 6532 3.2), written as the ASCII characters it
# excludes: a class with a range up to U+10FFFF costs milliseconds to compile.
_ATEXT = r"""[^\x00-\x20"(),.:;<>@\[\\\]\x7f]"""
_ATOM = re.compile(_ATEXT + "+")
_DOT_ATOM = re.compile(f"{_ATEXT}+(\\.{_ATEXT}+)*")


@dataclass
class Identity:
    """The i= agent or user identifier: an optional local part and a domain (RFC 6376 3.5)."""

    localpart: str | None
    domain: str

    def __str__(self) -> str:
        if self.localpart is None:
            return "@" + self.domain
        return localpart_string(self.localpart) + "@" + self.domain


@dataclass
class Sig:
    """A parsed DKIM-Signature. Strings compare case-insensitively. -1 means "not set"."""

    version: int = 1
    algorithm_sign: str = ""  # "rsa" or "ed25519"
    algorithm_hash: str = ""  # "sha256" (or the old "sha1")
    signature: bytes = b""
    body_hash: bytes = b""
    domain: str = ""
    signed_headers: list[str] = field(default_factory=list)
    selector: str = ""
    canonicalization: str = "simple/simple"
    length: int = -1
    identity: Identity | None = None
    query_methods: list[str] = field(default_factory=list)
    sign_time: int = -1
    expire_time: int = -1
    copied_headers: list[str] = field(default_factory=list)

    @property
    def algorithm(self) -> str:
        return f"{self.algorithm_sign}-{self.algorithm_hash}"

    def canon(self) -> tuple[bool, bool]:
        """(header relaxed, body relaxed); "simple" alone is "simple/simple", "relaxed" alone
        is "relaxed/simple" (RFC 6376 3.5 c=). Raises SigError for unknown values."""
        head, _, body = self.canonicalization.lower().partition("/")
        body = body or "simple"
        if head not in ("simple", "relaxed"):
            raise SigError(f"dkim: unknown canonicalization: header canonicalization {self.canonicalization!r}")
        if body not in ("simple", "relaxed"):
            raise SigError(f"dkim: unknown canonicalization: body canonicalization {self.canonicalization!r}")
        return head == "relaxed", body == "relaxed"

    def header(self) -> str:
        """The DKIM-Signature field including name and final CRLF (b= empty when
        ``signature`` is)."""
        w = HeaderWriter()
        w.add("", f"DKIM-Signature: v={self.version};")
        w.add(" ", f"d={self.domain};")
        w.add(" ", f"s={self.selector};")
        if self.identity is not None:
            w.add(" ", f"i={self.identity};")
        w.add(" ", f"a={self.algorithm};")
        c = self.canonicalization
        if c and c.lower() not in ("simple", "simple/simple"):
            w.add(" ", f"c={c};")
        if self.length >= 0:
            w.add(" ", f"l={self.length};")
        if self.query_methods and not (len(self.query_methods) == 1 and self.query_methods[0].lower() == "dns/txt"):
            w.add(" ", f"q={':'.join(self.query_methods)};")
        if self.sign_time >= 0:
            w.add(" ", f"t={self.sign_time};")
        if self.expire_time >= 0:
            w.add(" ", f"x={self.expire_time};")
        for i, name in enumerate(self.signed_headers):
            v = ("h=" if i == 0 else "") + name + (":" if i < len(self.signed_headers) - 1 else ";")
            w.add(" " if i == 0 else "", v)
        for i, hv in enumerate(self.copied_headers):
            name, colon, value = hv.partition(":")
            if not colon:
                raise SigError(f"invalid header in copied headers (z=): {hv!r}")
            v = ("z=" if i == 0 else "") + name + ":" + _qp_header_value(value)
            v += "|" if i < len(self.copied_headers) - 1 else ";"
            w.add(" " if i == 0 else "", v)
        w.add(" ", f"bh={base64.b64encode(self.body_hash).decode('ascii')};")
        w.add(" ", "b=")
        if self.signature:
            w.add_wrap(base64.b64encode(self.signature).decode("ascii"), text=False)
        return w.string()


def localpart_string(lp: str) -> str:
    """A local part as written in an address: dot-atom, else a quoted string (RFC 5321 4.1.2)."""
    if _DOT_ATOM.fullmatch(lp):
        return lp
    return '"' + lp.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _qp_header_value(s: str) -> str:
    """dkim-quoted-printable for z= values (RFC 6376 2.11); also encodes "|" and ":"."""
    out = []
    for b in s.encode("utf-8"):
        if 0x20 < b < 0x7F and b not in b";=|:":
            out.append(chr(b))
        else:
            out.append(f"={b:02X}")
    return "".join(out)


def _strip_fws(s: str) -> str:
    return "".join(c for c in s if c not in _FWS)


def _b64(s: str, what: str) -> bytes:
    v = _strip_fws(s)
    if not _B64.fullmatch(v):
        raise SigError(f"dkim: invalid base64 in {what}=")
    try:
        return base64.b64decode(v, validate=True)
    except binascii.Error as e:
        raise SigError(f"dkim: invalid base64 in {what}=: {e}") from None


def _domain(s: str, what: str) -> str:
    v = s.strip(_FWS)
    if not v or not _DOMAIN.fullmatch(v):
        raise SigError(f"dkim: invalid domain in {what}=: {v!r}")
    return v


def _number(s: str, what: str, maxdigits: int) -> int:
    v = s.strip(_FWS)
    if not v.isdigit() or not v.isascii() or len(v) > maxdigits:
        raise SigError(f"dkim: invalid number in {what}=: {v!r}")
    return int(v)


def _copied_header(z: str) -> str:
    """A z= entry, "name:value" with the value in dkim-quoted-printable (RFC 6376 2.11, 3.5),
    decoded."""
    name, colon, value = _strip_fws(z).partition(":")
    if not colon or not _FIELD_NAME.fullmatch(name):
        raise SigError(f"dkim: invalid copied header (z=): {z.strip(_FWS)!r}")
    out = bytearray()
    i = 0
    raw = value.encode("utf-8")
    while i < len(raw):
        if raw[i : i + 1] == b"=":
            h = raw[i + 1 : i + 3]
            if len(h) != 2 or not all(c in b"0123456789ABCDEFabcdef" for c in h):
                raise SigError(f"dkim: invalid quoted-printable in copied header (z=): {z.strip(_FWS)!r}")
            out.append(int(h, 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return name + ":" + out.decode("utf-8", "replace")


def _identity(s: str) -> Identity:
    v = s.strip(_FWS)
    if v.startswith('"'):
        # A quoted local part (RFC 5321 4.1.2); a quoted "@" or ";" is part of it.
        i = 1
        lp = []
        while i < len(v) and v[i] != '"':
            if v[i] == "\\" and i + 1 < len(v):
                i += 1
            lp.append(v[i])
            i += 1
        if i >= len(v) or v[i + 1 : i + 2] != "@":
            raise SigError(f"dkim: invalid identity (i=): {v!r}")
        return Identity("".join(lp), _domain(v[i + 2 :], "i"))
    local, at, dom = v.rpartition("@")
    if not at:
        raise SigError(f"dkim: invalid identity (i=): {v!r}")
    if local and not _DOT_ATOM.fullmatch(local):
        raise SigError(f"dkim: invalid identity (i=) local part: {local!r}")
    return Identity(local if local else None, _domain(dom, "i"))


def _scan_value(text: str, pos: int, quoted: bool) -> int:
    """The end of a tag value starting at ``pos``: the next ";" (outside a quoted string when
    ``quoted``) or the end of the text."""
    i = pos
    inq = False
    while i < len(text):
        c = text[i]
        if quoted and c == '"':
            inq = not inq
        elif quoted and inq and c == "\\":
            i += 1
        elif c == ";" and not inq:
            return i
        i += 1
    return i


def parse_signature(raw: bytes) -> tuple[Sig, bytes]:
    """Parse a DKIM-Signature field as found in the message (ending in CRLF).

    Returns the signature and the field as it is hashed: without the final CRLF and with the
    value of b= (including surrounding whitespace) removed (RFC 6376 3.5 b=, 3.7).
    """
    if not raw.endswith(b"\r\n"):
        raise SigError("dkim: missing crlf at end")
    try:
        text = raw[:-2].decode("utf-8")
    except UnicodeDecodeError:
        raise SigError("dkim: invalid utf-8 in DKIM-Signature") from None
    name, colon, _ = text.partition(":")
    if not colon or name.rstrip(" \t").lower() != "dkim-signature":
        raise SigError("dkim: not DKIM-Signature header")
    pos = len(name) + 1
    tags: dict[str, str] = {}
    b_span: tuple[int, int] | None = None
    while True:
        while pos < len(text) and text[pos] in _FWS:
            pos += 1
        if pos >= len(text):
            break
        m = _TAG_NAME.match(text, pos)
        if m is None:
            raise SigError(f"dkim: expected tag name at {text[pos:pos + 20]!r}")
        tag = m.group(0)
        pos = m.end()
        while pos < len(text) and text[pos] in _FWS:
            pos += 1
        if text[pos : pos + 1] != "=":
            raise SigError(f"dkim: expected '=' after tag {tag!r}")
        pos += 1
        end = _scan_value(text, pos, quoted=tag == "i")
        if tag in tags:
            # RFC 6376 3.2: a tag appears at most once.
            raise SigError(f"dkim: duplicate tag: {tag!r}")
        tags[tag] = text[pos:end]
        if tag == "b":
            b_span = (pos, end)
        pos = end + 1
    for req in ("v", "a", "b", "bh", "d", "h", "s"):
        # RFC 6376 6.1.1: required tags.
        if req not in tags:
            raise SigError(f"dkim: missing required tag: {req!r}")
    sig = Sig()
    v = tags["v"].strip(_FWS)
    if v != "1":
        raise SigError(f"dkim: unknown version: {v!r}")
    sign_alg, dash, hash_alg = tags["a"].strip(_FWS).partition("-")
    if not dash or not sign_alg or not hash_alg:
        raise SigError(f"dkim: invalid algorithm (a=): {tags['a'].strip(_FWS)!r}")
    sig.algorithm_sign, sig.algorithm_hash = sign_alg, hash_alg
    sig.signature = _b64(tags["b"], "b")
    sig.body_hash = _b64(tags["bh"], "bh")
    sig.domain = _domain(tags["d"], "d")
    names = [n.strip(_FWS) for n in tags["h"].split(":")]
    if not names or not all(_FIELD_NAME.fullmatch(n) for n in names):
        raise SigError(f"dkim: invalid signed header fields (h=): {tags['h'].strip(_FWS)!r}")
    sig.signed_headers = names
    sig.selector = _domain(tags["s"], "s")
    if "c" in tags:
        c = _strip_fws(tags["c"])
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9\-]*(/[A-Za-z][A-Za-z0-9\-]*)?", c):
            raise SigError(f"dkim: invalid canonicalization (c=): {c!r}")
        sig.canonicalization = c
    if "i" in tags:
        sig.identity = _identity(tags["i"])
    if "l" in tags:
        sig.length = _number(tags["l"], "l", 76)
    if "q" in tags:
        sig.query_methods = [q.strip(_FWS) for q in tags["q"].split(":")]
    if "t" in tags:
        sig.sign_time = _number(tags["t"], "t", 12)
    if "x" in tags:
        sig.expire_time = _number(tags["x"], "x", 12)
    if "z" in tags:
        sig.copied_headers = [_copied_header(z) for z in tags["z"].split("|")]
    h = sig.algorithm_hash.lower()
    if h == "sha1" and len(sig.body_hash) != 20:
        raise SigError(f"dkim: bad body hash size given algorithm: got {len(sig.body_hash)} bytes, must be 20 for sha1")
    if h == "sha256" and len(sig.body_hash) != 32:
        raise SigError(f"dkim: bad body hash size given algorithm: got {len(sig.body_hash)} bytes, must be 32 for sha256")
    if sig.sign_time >= 0 and sig.expire_time >= 0 and sig.sign_time >= sig.expire_time:
        # RFC 6376 3.5 x=: must be greater than t=.
        raise SigError("dkim: signature timestamp (t=) must be before signature expiration (x=)")
    if sig.identity is not None:
        idom, dom = sig.identity.domain.lower(), sig.domain.lower()
        if idom != dom and not idom.endswith("." + dom):
            # RFC 6376 3.5 i=: the domain must be the same as, or a subdomain of, d=.
            raise SigError(f"dkim: identity domain (i=) not under domain (d=): {idom!r} not under {dom!r}")
    assert b_span is not None
    hashed = text[: b_span[0]] + text[b_span[1] :]
    return sig, hashed.encode("utf-8")
