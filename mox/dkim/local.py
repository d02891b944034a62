"""DKIM and message authentication for a mox without DNS (localserve): the keys and records
come from the configuration, never from the network.

- :func:`sign_message`: the DKIM-Signature fields for a submitted message, with the selectors
  the From domain's config lists under ``sign`` (mox-/dkimsign.go).
- :func:`local_lookup`: key records for the selectors of configured domains, as they would be
  published (``mox config dnsrecords``); a signature by any other domain cannot be checked
  without DNS and gets ``temperror``.
- :func:`incoming_headers`: the ``Authentication-Results`` and ``Received-SPF`` fields for a
  message arriving by SMTP (or handed from the queue), as mox's smtpserver writes them for
  localserve: iprev pass for loopback clients; dkim checked against the local keys; spf
  against the record mox assumes for its own domains from loopback
  (``v=spf1 ip4:127.0.0.1/8 ip6:::1 ~all``), otherwise none; dmarc none (no DMARC record is
  looked up).
"""

from __future__ import annotations

import base64
import functools
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mox.dkim.authres import AuthMethod, AuthProp, AuthResults, ReceivedSPF
from mox.dkim.canon import MalformedHeader, parse_headers
from mox.dkim.core import DEFAULT_HEADERS, KeyLookupError, Lookup, Result, Selector, Status, default_policy, sign, verify
from mox.dkim.keys import KeyFileError, key_algorithm, load_key_file
from mox.dkim.record import Record, public_key_bytes

if TYPE_CHECKING:
    from typing import Any

    from mox.config import Config, DKIMSelector, DomainConfig

#: What mox's localserve assumes as SPF record of its own domains for clients on loopback.
LOCAL_SPF_RECORD = "v=spf1 ip4:127.0.0.1/8 ip6:::1 ~all"
NO_DNS = "no dns in localserve"


def _domain_config(config: Config, domain: str) -> DomainConfig | None:
    return config.domains.get(domain.lower().rstrip("."))


def _key(config: Config, sel: DKIMSelector) -> Any:
    """The selector's private key (ed25519 or RSA), from its file (cached)."""
    return load_key_file(Path(config.config_dir) / sel.private_key_file)


def selectors(config: Config, domain: str) -> list[Selector]:
    """The selectors that sign for ``domain`` (its config's ``sign`` list, in order)."""
    dc = _domain_config(config, domain)
    if dc is None:
        return []
    out = []
    for name in dc.dkim.sign:
        sel = dc.dkim.selectors[name]
        out.append(
            Selector(
                selector=name,
                private_key=_key(config, sel),
                hash=sel.hash_effective,
                header_relaxed=sel.canonicalization.header_relaxed,
                body_relaxed=sel.canonicalization.body_relaxed,
                headers=tuple(sel.headers) if sel.headers else DEFAULT_HEADERS,
                seal_headers=not sel.dont_seal_headers,
                expiration=sel.expiration_seconds,
            )
        )
    return out


def sign_message(config: Config, localpart: str | None, domain: str, message: bytes, *, now: float) -> bytes:
    """DKIM-Signature fields to put on top of ``message`` (empty when the domain signs with no
    key). Raises mox.dkim.SignError / MalformedHeader for a message that cannot be signed."""
    sels = selectors(config, domain)
    if not sels:
        return b""
    return sign(localpart, domain.lower(), sels, message, now=now).encode("utf-8")


def key_record(config: Config, sel: DKIMSelector) -> Record:
    """The TXT record to publish for a selector (mox admin/dnsrecords.go): v=DKIM1, h= the
    hash, k= for ed25519, p= the public key."""
    key = _key(config, sel)
    kind = key_algorithm(key)
    return Record(hashes=[sel.hash_effective], key=kind, pubkey=public_key_bytes(key.public_key()))


def local_lookup(config: Config) -> Lookup:
    """A key record lookup answered from the configured domains' selectors."""

    def lookup(selector: str, domain: str) -> Sequence[str]:
        dc = _domain_config(config, domain)
        if dc is None:
            raise KeyLookupError(Status.TEMPERROR, f"dkim: lookup of dkim dns record: {selector}._domainkey.{domain}.: {NO_DNS}")
        sel = dc.dkim.selectors.get(selector.lower()) or dc.dkim.selectors.get(selector)
        if sel is None:
            # RFC 6376 6.1.2: no key record for the selector.
            raise KeyLookupError(Status.PERMERROR, f"dkim: no dkim dns record for selector and domain: dns name {selector}._domainkey.{domain}.")
        try:
            return [key_record(config, sel).text()]
        except KeyFileError as e:
            # The key file went missing or bad after start: like a DNS server failing.
            raise KeyLookupError(Status.TEMPERROR, f"dkim: lookup of dkim dns record: {selector}._domainkey.{domain}.: {e}") from None

    return lookup


@functools.lru_cache(maxsize=1024)  # the same few clients connect again and again (immutable results)
def _ip(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        a = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped is not None:
        return a.ipv4_mapped
    return a


def is_loopback(ip: str) -> bool:
    a = _ip(ip)
    return a is not None and a.is_loopback


def iprev_name(ip: str) -> str | None:
    """The verified reverse name of a client: loopback addresses are "localhost" (RFC 6761
    6.3); others are not looked up (no DNS in localserve)."""
    return "localhost" if is_loopback(ip) else None


def _from_domain(message: bytes) -> str | None:
    """The domain of the single From address, else None (mox message.From)."""
    from mox.message import parse_address_list

    try:
        fields, _ = parse_headers(message)
    except MalformedHeader:
        return None
    froms = [f for f in fields if f.lkey == "from"]
    if len(froms) != 1:
        return None
    value = froms[0].raw.split(b":", 1)[1].decode("utf-8", "replace")
    addrs = [a for a in parse_address_list(value) if a.host is not None and a.mailbox is not None]
    if len(addrs) != 1 or not addrs[0].host:
        return None
    return addrs[0].host.lower()


@dataclass
class SPFResult:
    status: str
    domain: str  # the checked domain, "" when there was none
    identity: str  # "mailfrom", "helo" or ""
    received: ReceivedSPF


def check_spf(config: Config, *, remote_ip: str, ehlo: str, mail_from: str, hostname: str) -> SPFResult:
    """SPF (RFC 7208) as mox's localserve evaluates it without DNS: for a configured domain and
    a loopback client against LOCAL_SPF_RECORD, for anything else no record (none)."""
    local, _, mdomain = mail_from.rpartition("@") if mail_from else ("", "", "")
    is_ip_ehlo = ehlo.startswith("[")
    if mdomain:
        identity, domain, sender = "mailfrom", mdomain.lower(), mail_from
        comment = f"domain {domain}"
    elif not is_ip_ehlo and ehlo:
        # RFC 7208 2.3: with an empty MAIL FROM, the HELO identity, as postmaster@helo.
        identity, domain, sender = "helo", ehlo.lower(), f"postmaster@{ehlo.lower()}"
        comment = f"domain {domain}, from ehlo because mailfrom is empty"
    else:
        rec = ReceivedSPF(
            result="none",
            comment="no domain, ehlo is an ip literal and mailfrom is empty",
            client_ip=remote_ip,
            envelope_from=f"@{ehlo.strip('[]')}",
            helo=ehlo.strip("[]"),
            receiver=hostname,
            identity="",
        )
        return SPFResult("none", "", "", rec)
    helo = ehlo.strip("[]") if is_ip_ehlo else ehlo.lower()
    problem = mechanism = ""
    a = _ip(remote_ip)
    if domain in config.domains and a is not None and a.is_loopback:
        status = "pass"
        mechanism = "ip4:127.0.0.1/8" if a.version == 4 else "ip6:::1"
    else:
        status = "none"
        problem = f"spf: lookup of dns record: {domain}.: {NO_DNS}"
    rec = ReceivedSPF(status, comment, remote_ip, sender, helo, hostname, identity, problem=problem, mechanism=mechanism)
    return SPFResult(status, domain, identity, rec)


def dkim_method(r: Result) -> AuthMethod:
    """The Authentication-Results method for one verified signature (mox smtpserver)."""
    props = []
    comment = ""
    if r.sig is not None:
        if r.record is not None and r.record.public_key is not None and r.record.key.lower() == "rsa":
            comment = f"{r.record.public_key.key_size} bit rsa, "
        b = base64.b64encode(r.sig.signature).decode("ascii")[:12]  # RFC 6008 4: header.b, unique prefix
        props = [
            AuthProp("header", "d", r.sig.domain, addr_like=True),
            AuthProp("header", "s", r.sig.selector, addr_like=True),
            AuthProp("header", "a", r.sig.algorithm),
            AuthProp("header", "b", b),
        ]
        if r.sig.identity is not None:
            props.append(AuthProp("header", "i", str(r.sig.identity), addr_like=True))
        comment += "without dnssec"
    return AuthMethod("dkim", str(r.status), comment=comment, reason=r.err, props=props)


@dataclass
class IncomingAuth:
    """The checks of an incoming message: its header fields and what they verified (for
    delivery rulesets: mox's EHLOValidated, MailFromValidated, DKIMDomains)."""

    headers: bytes
    ehlo_domain: str
    ehlo_validated: bool
    mail_from_domain: str
    mail_from_validated: bool
    dkim_domains: tuple[str, ...]


def incoming_headers(
    config: Config,
    message: bytes,
    *,
    remote_ip: str,
    ehlo: str,
    mail_from: str,
    now: float,
    hostname: str | None = None,
) -> bytes:
    """``Authentication-Results`` and ``Received-SPF`` fields for a message received from
    ``remote_ip`` (mox smtpserver deliver: iprev, dkim, spf, dmarc; RFC 8601, RFC 7208 9.1)."""
    return incoming_auth(config, message, remote_ip=remote_ip, ehlo=ehlo, mail_from=mail_from, now=now, hostname=hostname).headers


def incoming_auth(
    config: Config,
    message: bytes,
    *,
    remote_ip: str,
    ehlo: str,
    mail_from: str,
    now: float,
    hostname: str | None = None,
) -> IncomingAuth:
    """As ``incoming_headers``, with the verified domains."""
    host = hostname or config.hostname
    ar = AuthResults(hostname=host)
    if is_loopback(remote_ip):
        # RFC 8601 2.7.3; loopback needs no reverse lookup to be "localhost".
        ar.methods.append(AuthMethod("iprev", "pass", comment="without dnssec", props=[AuthProp("policy", "iprev", str(_ip(remote_ip)))]))
    try:
        results = verify(message, local_lookup(config), now=now, policy=default_policy)
    except MalformedHeader as e:
        ar.methods.append(AuthMethod("dkim", "none", reason=f"dkim: mail message header is malformed: {e}"))
        results = []
    else:
        if not results:
            ar.methods.append(AuthMethod("dkim", "none", reason="no dkim signatures"))
    ar.methods.extend(dkim_method(r) for r in results)
    spf = check_spf(config, remote_ip=remote_ip, ehlo=ehlo, mail_from=mail_from, hostname=host)
    props = [AuthProp("smtp", spf.identity, spf.domain, addr_like=True)] if spf.identity else []
    ar.methods.append(AuthMethod("spf", spf.status, comment="without dnssec", props=props))
    from_domain = _from_domain(message)
    if from_domain is None:
        ar.methods.append(AuthMethod("dmarc", "none"))
    else:
        # RFC 7489 11.2: no DMARC record is looked up without DNS, so the result is none.
        ar.methods.append(AuthMethod("dmarc", "none", comment="without dnssec", props=[AuthProp("header", "from", from_domain, addr_like=True)]))
    dkim_domains = tuple(sorted({r.sig.domain.lower() for r in results if str(r.status) == "pass" and r.sig is not None}))
    return IncomingAuth(
        (ar.header() + spf.received.header()).encode("utf-8"),
        ehlo_domain=ehlo.lower() if not ehlo.startswith("[") else "",
        ehlo_validated=spf.identity == "helo" and spf.status == "pass",
        mail_from_domain=spf.domain if spf.identity == "mailfrom" else "",
        mail_from_validated=spf.identity == "mailfrom" and spf.status == "pass",
        dkim_domains=dkim_domains,
    )
