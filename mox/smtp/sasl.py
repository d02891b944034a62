"""Server-side SASL mechanisms for SMTP AUTH (RFC 4954), sans-IO.

A mechanism is a small state machine: ``start(initial)`` and ``step(response)`` return either a
:class:`Challenge` (bytes to send base64-encoded in a ``334`` line) or :class:`Credentials` (the
driver then verifies them). New mechanisms (CRAM-MD5, SCRAM-*, EXTERNAL) plug in by adding a class
to ``MECHANISMS``; the driver only knows this interface.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass


class SaslError(ValueError):
    """The client's SASL exchange is malformed (``501``)."""


@dataclass(frozen=True)
class Challenge:
    data: bytes


@dataclass(frozen=True)
class Credentials:
    username: str  # NFC-normalised
    password: str
    authzid: str = ""


def _nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


class Mechanism:
    name = ""

    def start(self, initial: bytes | None) -> Challenge | Credentials:
        raise NotImplementedError

    def step(self, response: bytes) -> Challenge | Credentials:
        raise NotImplementedError


class Plain(Mechanism):
    """RFC 4616: ``authzid NUL authcid NUL passwd``."""

    name = "PLAIN"

    def start(self, initial: bytes | None) -> Challenge | Credentials:
        if initial is None:
            return Challenge(b"")
        return self.step(initial)

    def step(self, response: bytes) -> Challenge | Credentials:
        parts = response.split(b"\0")
        if len(parts) != 3:
            raise SaslError(f"auth data should have 3 nul-separated tokens, got {len(parts)}")
        try:
            authz, user, pw = (p.decode("utf-8") for p in parts)
        except UnicodeDecodeError:
            raise SaslError("auth data is not utf-8") from None
        return Credentials(_nfc(user), pw, _nfc(authz))


class Login(Mechanism):
    """draft-murchison-sasl-login: prompts ``Username:`` then ``Password:``."""

    name = "LOGIN"

    def __init__(self) -> None:
        self.username: str | None = None

    def start(self, initial: bytes | None) -> Challenge | Credentials:
        if initial is not None:
            return self.step(initial)
        return Challenge(b"Username:")

    def step(self, response: bytes) -> Challenge | Credentials:
        try:
            s = response.decode("utf-8")
        except UnicodeDecodeError:
            raise SaslError("auth data is not utf-8") from None
        if self.username is None:
            self.username = _nfc(s)
            return Challenge(b"Password:")
        return Credentials(self.username, s)


MECHANISMS: dict[str, type[Mechanism]] = {"PLAIN": Plain, "LOGIN": Login}
