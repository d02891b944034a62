"""The fields the SMTP server adds to a message, in mox's form (smtpserver/server.go): the
``Received`` trace field (RFC 5321 4.4), ``Return-Path`` on delivery (RFC 5321 4.4) and, for a
submission, an ``Authentication-Results`` field saying the client authenticated (RFC 8601
2.7.4). ``Received`` looks like this::

    Received: from localhost by localhost ([127.0.0.1]) via tcp with ESMTPSA id d1
    	(TLS1.3 TLS_AES_256_GCM_SHA384) for <rcpt@example.org>; 2 Jan 2006 15:04:05 +0000

Submission hides the client ("from" the server's own name); delivery names the EHLO and the
client's address, with its reverse name when known. Unlike mox, the ";" before the date is also
written when there is no "for" clause (RFC 5321 4.4 Time-stamp-line).
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
from typing import Any

from mox.dkim.authres import AuthMethod, AuthProp, AuthResults
from mox.message.headerwriter import HeaderWriter
from mox.smtp.address import Address

_TLS_VERSIONS = {"TLSv1": "TLS1.0", "TLSv1.1": "TLS1.1", "TLSv1.2": "TLS1.2", "TLSv1.3": "TLS1.3"}


def format_date(t: float) -> str:
    """A date as mox writes it in trace fields: ``2 Jan 2006 15:04:05 +0000`` (UTC; RFC 5322
    3.3 without the optional day of week)."""
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return f"{d.day} {d.strftime('%b %Y %H:%M:%S')} +0000"


@functools.lru_cache(maxsize=1024)  # the same few clients connect again and again
def address_literal(ip: str) -> str:
    """``[192.0.2.1]`` or ``[IPv6:2001:db8::1]`` (RFC 5321 4.1.3)."""
    try:
        a = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return "[unknown]"
    if isinstance(a, ipaddress.IPv6Address):
        if a.ipv4_mapped is not None:
            return f"[{a.ipv4_mapped}]"
        return f"[IPv6:{a}]"
    return f"[{a}]"


def tls_comment(stream: Any) -> list[str]:
    """``(TLS1.3 TLS_AES_128_GCM_SHA256)`` as words, for a TLS stream (trio.SSLStream or
    ssl.SSLObject); empty when the stream has no TLS details."""
    try:
        version = stream.version()
        cipher = stream.cipher()
    except (AttributeError, ValueError):
        return []
    if not version or not cipher:
        return []
    return ["(" + _TLS_VERSIONS.get(version, version), cipher[0] + ")"]


def with_protocol(*, smtputf8: bool, ehlo: bool, tls: bool, authenticated: bool) -> str:
    """The "with" keyword (RFC 3848, RFC 6531 3.7.3): UTF8SMTP, ESMTP or SMTP, then S for TLS
    and A for an authenticated client."""
    w = "UTF8SMTP" if smtputf8 else "ESMTP" if ehlo else "SMTP"
    return w + ("S" if tls else "") + ("A" if authenticated else "")


def received(
    *,
    from_: str,
    by: str,
    id_: str,
    date: float,
    via: str | None = "tcp",
    with_: str | None = None,
    tls: list[str] | None = None,
    for_: str | None = None,
    requiretls: bool = False,
) -> bytes:
    """The Received field, ending in CRLF. ``for_``: the recipient when there is exactly one
    (mox leaves it out for several, so the queued message stays the same for all)."""
    w = HeaderWriter()
    words = ["Received:", "from", from_, "by", by]
    if via:
        words += ["via", via]
    if with_:
        words += ["with", with_ + (" (requiretls)" if requiretls else "")]
    words += ["id", id_]
    w.add(" ", *words)
    tail = list(tls or [])
    if for_:
        tail += ["for", f"<{for_}>"]
    if tail:
        w.add(" ", *tail[:-1], tail[-1] + ";")
    else:
        # RFC 5321 4.4: the date follows a ";".
        w = HeaderWriter()
        w.add(" ", *words[:-1], words[-1] + ";")
    w.add(" ", format_date(date))
    return w.string().encode("utf-8")


def return_path(mail_from: Address | None) -> bytes:
    """``Return-Path: <reverse-path>`` for delivery (RFC 5321 4.4); empty for the null path."""
    return f"Return-Path: <{mail_from or ''}>\r\n".encode("utf-8")


def submission_authres(hostname: str, mail_from: str) -> bytes:
    """The Authentication-Results of a submission: the client authenticated (RFC 8601 2.7.4),
    in mox's form."""
    ar = AuthResults(hostname, methods=[AuthMethod("auth", "pass", props=[AuthProp("smtp", "mailfrom", mail_from, addr_like=True)])])
    return ar.header().encode("utf-8")
