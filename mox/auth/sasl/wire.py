"""What a SASL exchange sends and receives: the mechanism lists, the steps a server mechanism
returns, the base64 helpers for the drivers' continuation lines, and the TLS channel bindings."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from mox.auth.sasl.errors import Aborted, MalformedResponse

# Server mechanisms in the order they are advertised.
SERVER_MECHANISMS = (
    "SCRAM-SHA-256-PLUS",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1-PLUS",
    "SCRAM-SHA-1",
    "CRAM-MD5",
    "PLAIN",
    "LOGIN",
    "EXTERNAL",
)

# Client preference (mox sendmail.go): never LOGIN automatically.
CLIENT_PREFERENCE = (
    "EXTERNAL",
    "SCRAM-SHA-256-PLUS",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1-PLUS",
    "SCRAM-SHA-1",
    "CRAM-MD5",
    "PLAIN",
)


# Steps.


@dataclass(frozen=True)
class Challenge:
    """Send ``data`` to the client (base64 in a continuation) and feed its answer to step()."""

    data: bytes


@dataclass(frozen=True)
class Success:
    account: str
    username: str  # the login address (NFC); for EXTERNAL the key's login address or authz
    mechanism: str
    #: RFC 4422 additional data with success; always empty (SCRAM's server-final goes in a
    #: Challenge, and the client answers it with an empty response, as mox).
    data: bytes = b""


# Wire helpers for drivers.


def decode_response(line: bytes | str) -> bytes:
    """A client's continuation line: ``*`` aborts, else base64 (an empty line is empty data)."""
    if isinstance(line, str):
        line = line.encode("ascii", "replace")
    line = line.strip(b"\r\n")
    if line == b"*":
        raise Aborted("authentication aborted")
    try:
        return base64.b64decode(line, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedResponse("invalid base64 in authentication response") from None


def decode_initial(ir: bytes | str | None) -> bytes | None:
    """A SASL-IR / AUTH initial response: None when absent, ``=`` is empty, ``*`` aborts."""
    if ir is None:
        return None
    if isinstance(ir, str):
        ir = ir.encode("ascii", "replace")
    if ir == b"=":
        return b""
    if ir == b"":
        raise MalformedResponse("empty initial response, use = for empty")
    return decode_response(ir)


def encode_challenge(data: bytes) -> bytes:
    return base64.b64encode(data)


# Channel binding.


def channel_bindings(ssl_object: Any) -> dict[str, bytes]:
    """The channel bindings that can be checked on this TLS connection (server or client side):
    ``{"tls-unique": ...}`` on TLS 1.2 and older, ``{}`` on TLS 1.3 or without TLS."""
    if ssl_object is None:
        return {}
    try:
        version = ssl_object.version()
    except (AttributeError, ValueError):
        return {}
    if version not in ("TLSv1.2", "TLSv1.1", "TLSv1"):
        return {}
    try:
        cb = ssl_object.get_channel_binding("tls-unique")
    except (ValueError, AttributeError):
        return {}
    return {"tls-unique": cb} if cb else {}
