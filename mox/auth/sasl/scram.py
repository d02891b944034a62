"""SCRAM primitives shared by the server and client mechanisms (RFC 5802)."""

from __future__ import annotations

import hashlib
import hmac

from mox.auth.sasl.errors import MalformedResponse

SCRAM_HASHES = {"SHA-1": ("sha1", "SHA-1"), "SHA-256": ("sha256", "SHA-256")}


def hmac_digest(hash_name: str, key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hash_name).digest()


def hash_digest(hash_name: str, data: bytes) -> bytes:
    return hashlib.new(hash_name, data).digest()


def xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b))


def saslname_decode(s: str) -> str:
    # RFC 5802 5.1: "," is =2C, "=" is =3D; any other "=" is invalid.
    out = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "=":
            esc = s[i : i + 3]
            if esc == "=2C":
                out.append(",")
            elif esc == "=3D":
                out.append("=")
            else:
                raise MalformedResponse("scram: invalid escape in name")
            i += 3
            continue
        if c == ",":
            raise MalformedResponse("scram: unescaped comma in name")
        out.append(c)
        i += 1
    return "".join(out)


def saslname_encode(s: str) -> str:
    return s.replace("=", "=3D").replace(",", "=2C")


def printable_nonce(s: str) -> bool:
    return bool(s) and all(0x21 <= ord(c) <= 0x7E and c != "," for c in s)

