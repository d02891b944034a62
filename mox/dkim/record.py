"""DKIM key records: the DNS TXT record at ``<selector>._domainkey.<domain>`` (RFC 6376 3.6.1).

Writing follows mox (dkim/txt.go): only tags that differ from the defaults, in the order
v h k n s t p, separated by ";" without spaces, e.g. ``v=DKIM1;h=sha256;k=ed25519;p=...``.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any


class RecordError(ValueError):
    """A TXT record that is not a usable DKIM record. ``is_dkim``: it claims to be one
    (v=DKIM1, or a known tag), so the error is permanent rather than "not a DKIM record"."""

    def __init__(self, message: str, *, is_dkim: bool) -> None:
        super().__init__(message)
        self.is_dkim = is_dkim


_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_WORD = re.compile(r"[A-Za-z0-9*]([A-Za-z0-9\-]*[A-Za-z0-9])?|\*")
_FWS = " \t\r\n"


@dataclass
class Record:
    """A DKIM key record. Strings compare case-insensitively."""

    version: str = "DKIM1"
    hashes: list[str] = field(default_factory=list)  # h=: allowed hash algorithms; empty: all
    key: str = "rsa"  # k=
    notes: str = ""  # n=
    pubkey: bytes = b""  # p=, DER SubjectPublicKeyInfo (rsa) or the raw 32 bytes (ed25519); empty: revoked
    services: list[str] = field(default_factory=lambda: ["*"])  # s=
    flags: list[str] = field(default_factory=list)  # t=: "y" testing, "s" strict identity domain
    public_key: Any = None  # the parsed key: rsa.RSAPublicKey or ed25519.Ed25519PublicKey

    def service_allowed(self, service: str) -> bool:
        """RFC 6376 3.6.1 s=: "*" or the service (e.g. "email")."""
        return not self.services or any(s == "*" or s.lower() == service.lower() for s in self.services)

    def text(self) -> str:
        """The TXT record value."""
        if self.version != "DKIM1":
            raise ValueError('bad version, must be "DKIM1"')
        parts = ["v=DKIM1"]
        if self.hashes:
            parts.append("h=" + ":".join(self.hashes))
        if self.key and self.key.lower() != "rsa":
            parts.append("k=" + self.key)
        if self.notes:
            parts.append("n=" + _qp_section(self.notes))
        if self.services and not (len(self.services) == 1 and self.services[0] == "*"):
            parts.append("s=" + ":".join(self.services))
        if self.flags:
            parts.append("t=" + ":".join(self.flags))
        pk = self.pubkey
        if not pk and self.public_key is not None:
            pk = public_key_bytes(self.public_key)
        parts.append("p=" + base64.b64encode(pk).decode("ascii"))
        return ";".join(parts)


def public_key_bytes(key: Any) -> bytes:
    """What p= carries for a public key: DER SubjectPublicKeyInfo for RSA (RFC 6376 3.6.1),
    the raw 32-byte key for ed25519 (RFC 8463 4.2)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    if isinstance(key, ed25519.Ed25519PublicKey):
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if isinstance(key, rsa.RSAPublicKey):
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    raise ValueError(f"unknown public key type {type(key).__name__}")


def _qp_section(s: str) -> str:
    out = []
    for i, b in enumerate(s.encode("utf-8")):
        if (i > 0 and b in (0x20, 0x09)) or (0x20 < b < 0x7F and b != 0x3D):
            out.append(chr(b))
        else:
            out.append(f"={b:02X}")
    return "".join(out)


def _words(v: str, tag: str) -> list[str]:
    out = []
    for w in v.split(":"):
        w = w.strip(_FWS)
        if not _WORD.fullmatch(w):
            raise RecordError(f"dkim: invalid value for {tag}=: {v.strip(_FWS)!r}", is_dkim=True)
        out.append(w)
    return out


def parse_record(txt: str) -> Record:
    """Parse a DKIM TXT record. Raises RecordError (see ``is_dkim``)."""
    r = Record()
    seen: list[str] = []
    is_dkim = False
    pos = 0
    while True:
        while pos < len(txt) and txt[pos] in _FWS:
            pos += 1
        if pos >= len(txt):
            break
        m = _TAG_NAME.match(txt, pos)
        if m is None:
            raise RecordError(f"dkim: syntax error in dkim dns record: expected tag at {txt[pos:pos + 20]!r}", is_dkim=is_dkim)
        tag = m.group(0)
        pos = m.end()
        while pos < len(txt) and txt[pos] in _FWS:
            pos += 1
        if txt[pos : pos + 1] != "=":
            raise RecordError(f"dkim: syntax error in dkim dns record: expected '=' after {tag!r}", is_dkim=is_dkim)
        end = txt.find(";", pos + 1)
        end = len(txt) if end < 0 else end
        value = txt[pos + 1 : end].strip(_FWS)
        pos = end + 1
        if tag in seen:
            # RFC 6376 3.2: a tag appears at most once.
            raise RecordError(f"dkim: syntax error in dkim dns record: duplicate tag {tag!r}", is_dkim=is_dkim)
        seen.append(tag)
        if tag == "v":
            # RFC 6376 3.6.1: v= must be "DKIM1" and, when present, the first tag.
            if value != "DKIM1":
                raise RecordError(f"dkim: not a dkim record: version {value!r}", is_dkim=False)
            if len(seen) != 1:
                raise RecordError("dkim: syntax error in dkim dns record: first field must be version", is_dkim=True)
            is_dkim = True
            continue
        is_dkim = True
        if tag == "h":
            r.hashes = _words(value, "h")
        elif tag == "k":
            words = _words(value, "k")
            if len(words) != 1:
                raise RecordError(f"dkim: invalid value for k=: {value!r}", is_dkim=True)
            r.key = words[0]
        elif tag == "n":
            r.notes = value
        elif tag == "p":
            v = "".join(c for c in value if c not in _FWS)
            try:
                r.pubkey = base64.b64decode(v, validate=True)
            except binascii.Error:
                raise RecordError("dkim: syntax error in dkim dns record: bad public key: invalid base64", is_dkim=True) from None
        elif tag == "s":
            r.services = _words(value, "s")
        elif tag == "t":
            r.flags = _words(value, "t")
        # Unknown tags are ignored (RFC 6376 3.6.1).
    if "p" not in seen:
        raise RecordError("dkim: syntax error in dkim dns record: missing field: public key", is_dkim=is_dkim)
    kind = r.key.lower()
    # cryptography is imported here, for a key (not when this module is imported).
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    if kind in ("", "rsa"):
        if r.pubkey:
            try:
                key = serialization.load_der_public_key(r.pubkey)
            except ValueError as e:
                raise RecordError(f"dkim: syntax error in dkim dns record: bad public key: {e}", is_dkim=True) from None
            if not isinstance(key, rsa.RSAPublicKey):
                raise RecordError("dkim: syntax error in dkim dns record: bad public key: need an RSA key", is_dkim=True)
            r.public_key = key
    elif kind == "ed25519":
        if r.pubkey:
            if len(r.pubkey) != 32:
                raise RecordError(f"dkim: syntax error in dkim dns record: bad public key: got {len(r.pubkey)} bytes, need 32", is_dkim=True)
            r.public_key = ed25519.Ed25519PublicKey.from_public_bytes(r.pubkey)
    else:
        raise RecordError(f"dkim: syntax error in dkim dns record: unknown algorithm {r.key!r}", is_dkim=True)
    return r
