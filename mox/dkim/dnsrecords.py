"""The DNS records to create for a domain, as a zone file with comments, in mox's words and
layout (admin/dnsrecords.go), for ``mox config dnsrecords DOMAIN``.

What applies to a mox without a public listener (localserve): MX, the DKIM key records of the
domain's selectors, SPF with the listener IPs, DMARC ``p=reject``, the MTA-STS note,
autoconfig/autodiscover and the SRV records. DANE (TLSA) and CAA records need a public
listener with ACME, which this mox does not have, so they are never printed.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

from mox.dkim.local import key_record

if TYPE_CHECKING:
    from mox.config import Config


def txt_strings(s: str) -> str:
    """A TXT value as zone file strings: one quoted string up to 100 characters, else a
    parenthesized list of 100-character strings (mox-/txt.go)."""
    if len(s) <= 100:
        return f'"{s}"'
    out = "(\n"
    while s:
        n = min(len(s), 100)
        out += " \t\t" + f'"{s[:n]}"\n'
        s = s[n:]
    return out + "\t)"


def spf_ips(config: Config) -> list[str]:
    """The IPs the SMTP listener sends from (mox-/ip.go DomainSPFIPs): all but unspecified."""
    if "smtp" not in config.ports:
        return []
    out = []
    for ip in config.ips:
        try:
            a = ipaddress.ip_address(ip)
        except ValueError:
            continue
        if not a.is_unspecified:
            out.append(a)
    return [f"ip{a.version}:{a}" for a in out]


def domain_records(config: Config, domain: str) -> list[str]:
    """The lines of the zone file for ``domain`` (lower-case, configured). Raises KeyError for
    an unknown domain and mox.dkim.KeyFileError for an unreadable key."""
    d = domain.lower().rstrip(".")
    dom = config.domains[d]
    h = config.hostname
    records = [
        "; Time To Live of 5 minutes, may be recognized if importing as a zone file.",
        "; Once your setup is working, you may want to increase the TTL.",
        "$TTL 300",
        "",
    ]
    if d != h:
        records += [
            "; For the machine, only needs to be created once, for the first domain added:",
            "; ",
            "; SPF-allow host for itself, resulting in relaxed DMARC pass for (postmaster)",
            "; messages (DSNs) sent from host:",
            f'{h + ".":<{20 + len(d)}} TXT "v=spf1 a -all"',  # RFC 7208 10.1.3
            "",
        ]
    records += [
        "; Deliver email for the domain to this host.",
        f"{d}.                    MX 10 {h}.",
        "",
        "; Outgoing messages will be signed with the first two DKIM keys. The other two",
        "; configured for backup, switching to them is just a config change.",
    ]
    for name in sorted(dom.dkim.selectors):
        txt = key_record(config, dom.dkim.selectors[name]).text()
        if len(txt) > 100:
            records += [
                "; NOTE: The following is a single long record split over several lines for use",
                "; in zone files. When adding through a DNS operator web interface, combine the",
                "; strings into a single string, without ().",
            ]
        records.append(f"{name}._domainkey.{d}.   TXT {txt_strings(txt)}")
    spf = " ".join(["v=spf1", *spf_ips(config), "mx", "~all"])
    records += [
        "",
        "; Specify the MX host is allowed to send for our domain and for itself (for DSNs).",
        "; ~all means softfail for anything else, which is done instead of -all to prevent older",
        "; mail servers from rejecting the message because they never get to looking for a dkim/dmarc pass.",
        f'{d}.                    TXT "{spf}"',
        "",
        "; Emails that fail the DMARC check (without aligned DKIM and without aligned SPF)",
        "; should be rejected, and request reports. If you email through mailing lists that",
        "; strip DKIM-Signature headers and don't rewrite the From header, you may want to",
        "; set the policy to p=none.",
        f'_dmarc.{d}.             TXT "v=DMARC1;p=reject"',
        "",
        "; Note: No MTA-STS to indicate TLS should be used. Either because disabled for the",
        "; domain or because mox.conf does not have a listener with MTA-STS configured.",
        "",
        "; Autoconfig is used by Thunderbird. Autodiscover is (in theory) used by Microsoft.",
        f"autoconfig.{d}.         CNAME {h}.",
        f"_autodiscover._tcp.{d}. SRV 0 1 443 {h}.",
        "",
        "; For secure IMAP and submission autoconfig, point to mail host.",  # RFC 6186, RFC 8314
        f"_imaps._tcp.{d}.        SRV 0 1 993 {h}.",
        f"_submissions._tcp.{d}.  SRV 0 1 465 {h}.",
        "",
        "; Next records specify POP3 and non-TLS ports are not to be used.",
        "; These are optional and safe to leave out (e.g. if you have to click a lot in a",
        "; DNS admin web interface).",
        f"_imap._tcp.{d}.         SRV 0 0 0 .",
        f"_submission._tcp.{d}.   SRV 0 0 0 .",
        f"_pop3._tcp.{d}.         SRV 0 0 0 .",
        f"_pop3s._tcp.{d}.        SRV 0 0 0 .",
    ]
    return records


_TXT_LINE = re.compile(r"^(\S+)\s+(?:\d+\s+)?(?:(?:IN|CH|HS)\s+)?(?:\d+\s+)?TXT\s+(.*)$", re.IGNORECASE)


def zone_txt_records(text: str) -> dict[str, list[str]]:
    """TXT records of a zone file (what ``domain_records`` prints, or one's own): owner name
    (lower-case, with final dot) -> values, the strings of each record joined (RFC 1035 5.1;
    a record may span lines in parentheses). Lines of other types and comments are skipped."""
    out: dict[str, list[str]] = {}
    lines = iter(text.splitlines())
    for line in lines:
        line = _strip_comment(line)
        if not line.strip() or line.startswith(("$", " ", "\t")):
            continue
        while line.count("(") > line.count(")"):
            nxt = next(lines, None)
            if nxt is None:
                break
            line += " " + _strip_comment(nxt)
        m = _TXT_LINE.match(line.strip())
        if m is None:
            continue
        strings = _quoted_strings(m.group(2))
        if strings is None:
            continue
        name = m.group(1).lower()
        out.setdefault(name if name.endswith(".") else name + ".", []).append("".join(strings))
    return out


def _strip_comment(line: str) -> str:
    inq = False
    for i, c in enumerate(line):
        if c == '"' and (i == 0 or line[i - 1] != "\\"):
            inq = not inq
        elif c == ";" and not inq:
            return line[:i]
    return line


def _quoted_strings(s: str) -> list[str] | None:
    out = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == '"':
            j = i + 1
            buf = []
            while j < len(s) and s[j] != '"':
                if s[j] == "\\" and j + 1 < len(s):
                    j += 1
                buf.append(s[j])
                j += 1
            if j >= len(s):
                return None
            out.append("".join(buf))
            i = j + 1
        else:
            i += 1
    return out or None
