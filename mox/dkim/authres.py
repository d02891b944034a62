"""Writing the ``Authentication-Results`` (RFC 8601) and ``Received-SPF`` (RFC 7208 9.1) header
fields in mox's form (message/authresults.go, spf/received.go)::

    Authentication-Results: localhost;
    	iprev=pass (without dnssec) policy.iprev=127.0.0.1;
    	dkim=pass (without dnssec) header.d=localhost header.s=localserve
    	header.a=ed25519-sha256 header.b=abcdefghijkl header.i=mox@localhost;
    	spf=pass (without dnssec) smtp.mailfrom=localhost;
    	dmarc=none (without dnssec) header.from=localhost
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mox.message.headerwriter import HeaderWriter


@dataclass
class AuthProp:
    """``type.property=value`` (e.g. ``smtp.mailfrom=example.org``). ``addr_like`` values
    (local part @ domain, or a domain) may contain "@" unquoted."""

    type: str
    property: str
    value: str
    addr_like: bool = False
    comment: str = ""


@dataclass
class AuthMethod:
    """One method's result, e.g. ``spf=pass (comment) reason="..." smtp.mailfrom=...``."""

    method: str
    result: str
    comment: str = ""
    reason: str = ""
    props: list[AuthProp] = field(default_factory=list)


@dataclass
class AuthResults:
    hostname: str
    comment: str = ""
    methods: list[AuthMethod] = field(default_factory=list)

    def header(self) -> str:
        """The field, possibly folded, ending in CRLF (RFC 8601 2.2)."""
        w = HeaderWriter()
        w.add("", "Authentication-Results:" + _opt_comment(self.comment) + " " + value(self.hostname) + ";")
        for i, m in enumerate(self.methods):
            w.newline()
            tokens = [f"{m.method}={m.result}"]
            if m.comment and (m.reason or m.props):
                tokens.append(f"({m.comment})")
            if m.reason:
                tokens.append("reason=" + value(m.reason))
            for p in m.props:
                tokens.append(f"{p.type}.{p.property}={value(p.value, addr_like=p.addr_like)}{_opt_comment(p.comment)}")
            for j, t in enumerate(tokens):
                if j == len(tokens) - 1 and i < len(self.methods) - 1:
                    t += ";"
                w.add(" " if j > 0 else "", t)
        return w.string()


def _opt_comment(s: str) -> str:
    return f" ({s})" if s else ""


def value(s: str, *, addr_like: bool = False) -> str:
    """A value as token, else as quoted string (RFC 8601 2.2, RFC 2045 5.1 tspecials; UTF-8
    needs no quoting, RFC 6532)."""
    quote = s == ""
    for c in s:
        if c <= " " or c == "\x7f" or (c == "@" and not addr_like) or c in '()<>,;:\\"/[]?= ':
            quote = True
            break
    if not quote:
        return s
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


_ATEXT = "!#$%&'*+-/=?^_`{|}~"


def _spf_value(s: str) -> str:
    """A Received-SPF key-value-pair value: a dot-atom or a quoted string (RFC 7208 9.1)."""
    if s == "":
        return '""'
    for i, c in enumerate(s):
        if c.isascii() and c.isalnum() or ord(c) > 0x7F or c in _ATEXT:
            continue
        if c != "." or i == 0 or i + 1 == len(s):
            out = ['"']
            for ch in s:
                if ch in '"\\':
                    out.append("\\")
                out.append(ch)
            out.append('"')
            return "".join(out)
    return s


@dataclass
class ReceivedSPF:
    """A Received-SPF field (RFC 7208 9.1)."""

    result: str
    comment: str
    client_ip: str
    envelope_from: str
    helo: str
    receiver: str
    identity: str  # "mailfrom" or "helo"
    problem: str = ""
    mechanism: str = ""

    def header(self) -> str:
        w = HeaderWriter()
        w.add("", "Received-SPF: " + self.result)
        if self.comment:
            w.add(" ", f"({self.comment})")
        w.add(" ", f"client-ip={_spf_value(self.client_ip)};")
        w.add(" ", f"envelope-from={_spf_value(self.envelope_from)};")
        w.add(" ", f"helo={_spf_value(self.helo)};")
        if self.problem:
            w.add(" ", f"problem={_spf_value(self.problem[: 77 - len('problem=; ')])};")
        if self.mechanism:
            w.add(" ", f"mechanism={_spf_value(self.mechanism)};")
        w.add(" ", f"receiver={_spf_value(self.receiver)};")
        w.add(" ", f"identity={_spf_value(self.identity)}")
        return w.string()
