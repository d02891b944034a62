"""Who is calling, and from where: the access rules every web endpoint relies on.

**Local callers.** A request is *local* when its peer address (the TCP connection, never a
header) is ``127.0.0.1`` or ``::1`` (also as ``::ffff:127.0.0.1``) and it carries no header a
proxy adds (``Forwarded``, ``X-Forwarded-For``, ``X-Forwarded-Host``, ``X-Forwarded-Proto``,
``X-Real-IP``, ``Via``, ...): a reverse proxy on the same machine forwards other people's
requests, so they do not count as local. Other 127.x.y.z source addresses are not local either
(a client only has them when it binds one on purpose; loopback connections to a server on
127.0.0.2 come from 127.0.0.1 on Linux). Only local callers use the test API without
credentials.

**Host header.** From a loopback peer the Host must name ``localhost`` (or ``*.localhost``),
the configured hostname, or a loopback or unspecified IP address (``127.0.0.1``, ``[::1]``,
``0.0.0.0``; any port), else 421: a web page that makes its own name resolve to 127.0.0.1
(DNS rebinding) cannot reach the APIs that trust loopback. Other peers use the server under
any name (a container service name, a LAN address) and authenticate.

**Cross-site requests.** Browsers send requests to localhost from any page a developer opens;
a form or ``fetch(..., {mode: "no-cors"})`` needs no preflight. Every request that can change
something (any method but GET, HEAD and OPTIONS) is refused with 403 when the browser marks it
as coming from elsewhere: ``Sec-Fetch-Site`` other than ``same-origin`` or ``none``, or an
``Origin`` (including ``null``) that does not name this server's host and port (those of the
Host header). curl, Python and other non-browser clients send neither header.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from mox.web.router import HTTPError, Request

#: Headers that mean a proxy forwarded the request (RFC 7239 Forwarded, RFC 9110 7.6.3 Via and
#: the de-facto X-Forwarded-* / X-Real-IP family).
PROXY_HEADERS = frozenset(
    {
        "forwarded",
        "via",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-forwarded-server",
        "x-real-ip",
        "x-client-ip",
        "true-client-ip",
        "cf-connecting-ip",
        "x-proxyuser-ip",
    }
)

_LOCAL_PEERS = frozenset({ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")})

#: Methods that only read (RFC 9110 9.2.1 safe methods); everything else can change state.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _ip(s: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        addr = ipaddress.ip_address(s.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def is_loopback_peer(remote_ip: str) -> bool:
    """Whether the connection comes from 127.0.0.1 or ::1 (see the module docstring)."""
    return _ip(remote_ip) in _LOCAL_PEERS


def proxied(headers: list[tuple[str, str]]) -> bool:
    return any(k in PROXY_HEADERS for k, _ in headers)


def is_local(req: Request) -> bool:
    """A local caller: loopback peer and no proxy headers."""
    return is_loopback_peer(req.remote_ip) and not proxied(req.headers)


def _split_host(host: str) -> tuple[str, int | None] | None:
    """(lower-case name or IP without brackets, port or None) of a Host value; None if malformed."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return None
        name, rest = host[1:end], host[end + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port_s = rest[1:] if rest else ""
    elif host.count(":") == 1:
        name, port_s = host.split(":", 1)
    elif ":" in host:
        name, port_s = host, ""  # a bare IPv6 address
    else:
        name, port_s = host, ""
    port = None
    if port_s:
        if not port_s.isdigit() or len(port_s) > 5:
            return None
        port = int(port_s)
    return name.rstrip("."), port


def host_allowed(remote_ip: str, host: str | None, hostname: str) -> bool:
    """Whether a request from ``remote_ip`` may name ``host`` (see the module docstring)."""
    addr = _ip(remote_ip)
    if addr is None or not addr.is_loopback:
        return True
    if host is None:
        return True  # HTTP/1.0 without Host: no name was resolved
    got = _split_host(host)
    if got is None:
        return False
    name, _ = got
    if name in ("localhost", hostname.lower().rstrip(".")) or name.endswith(".localhost"):
        return True
    ip = _ip(name)
    return ip is not None and (ip.is_loopback or ip.is_unspecified)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def cross_site_problem(req: Request) -> str | None:
    """Why a state-changing request looks like a browser's cross-site request, or None."""
    if req.method in SAFE_METHODS:
        return None
    site = (req.header("sec-fetch-site") or "").strip().lower()
    if site and site not in ("same-origin", "none"):
        return f"cross-site request refused (Sec-Fetch-Site: {site})"
    origin = req.header("origin")
    if origin is None:
        return None
    origin = origin.strip()
    if origin.lower() == "null":
        return "cross-site request refused (Origin: null)"
    u = urllib.parse.urlsplit(origin)
    try:
        o_port = u.port or _DEFAULT_PORTS.get(u.scheme.lower())
    except ValueError:
        return "cross-site request refused (malformed Origin)"
    host = _split_host(req.header("host") or "")
    if host is None or u.hostname is None:
        return "cross-site request refused (Origin does not match Host)"
    h_name, h_port = host
    h_port = h_port or (443 if req.tls else 80)
    if (u.hostname.lower().rstrip("."), o_port) != (h_name, h_port):
        return f"cross-site request refused (Origin {origin} is not this server)"
    return None


def check_cross_site(req: Request) -> None:
    """HTTPError 403 for a state-changing request a browser marks as cross-site."""
    problem = cross_site_problem(req)
    if problem is not None:
        raise HTTPError(403, "user:crossSite", problem)


def basic_credentials(req: Request) -> tuple[str, str] | None:
    """(username, password) from an ``Authorization: Basic`` header (RFC 7617), or None when
    there is none; HTTPError 401 when it is malformed."""
    auth = req.header("authorization")
    if auth is None:
        return None
    scheme, _, cred = auth.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(cred.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        user, sep, password = "", "", ""
    if not sep:
        raise HTTPError(401, "user:noAuth", "malformed basic authentication")
    return user, password


@dataclass(frozen=True)
class Caller:
    """Who calls the test API: ``local`` (loopback, no credentials) and ``admin`` (basic auth
    as ``admin`` with the admin password) may do everything; ``account`` (an address and its
    account's password) and ``view`` (an address with the shared password: a per-address view)
    see only ``accounts``."""

    kind: str
    accounts: frozenset[str] = field(default_factory=frozenset)
    #: The account meant when a request names none.
    account: str | None = None
    address: str | None = None

    @property
    def unrestricted(self) -> bool:
        return self.kind in ("local", "admin")

    def may_see(self, account: str) -> bool:
        return self.unrestricted or account in self.accounts


def caller(req: Request) -> Caller:
    """The caller a guard put on the request (HTTPError 500 if no guard ran: a wiring bug)."""
    got = req.principal
    if not isinstance(got, Caller):
        raise HTTPError(500, "server:error", "request was not authenticated")
    return got
