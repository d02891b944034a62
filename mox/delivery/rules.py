"""Delivery rulesets (pure): which ruleset of a destination a message matches, as mox's
``store.MessageRuleset`` (store/account.go) decides it.

A ruleset matches when all its conditions do: ``SMTPMailFromRegexp`` against the SMTP MAIL FROM
address, ``MsgFromRegexp`` against the single address of the From header, ``VerifiedDomain``
against the SPF- (EHLO or MAIL FROM) or DKIM-verified domains (or a subdomain of them), and each
``HeadersRegexp`` pair against some header field (name and value lower-cased, value trimmed).
Regular expressions match a substring. The first matching ruleset wins.
"""

from __future__ import annotations

import functools
import re

import msgspec

from mox.config import Config, Destination, Ruleset
from mox.message.header import parse_address_list, split_header


class MessageInfo(msgspec.Struct, frozen=True):
    """What rulesets and junk analysis look at besides the header."""

    mail_from: str = ""  # SMTP MAIL FROM, "" for the null sender
    ehlo_domain: str = ""
    ehlo_validated: bool = False
    mail_from_domain: str = ""
    mail_from_validated: bool = False
    dkim_domains: tuple[str, ...] = ()  # domains of passing DKIM signatures


@functools.lru_cache(maxsize=512)
def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def headers_of(data: bytes) -> list[tuple[str, str]]:
    """The message's header fields as (lower-case name, lower-case trimmed value)."""
    fields, _, _ = split_header(data, 0, len(data))
    return [(f.lname, f.value().strip().lower()) for f in fields]


def msg_from(headers: list[tuple[str, str]]) -> str | None:
    """The single From address as ``localpart@domain`` (mox: MsgFromLocalpart@MsgFromDomain)."""
    for name, value in headers:
        if name == "from":
            addrs = [a for a in parse_address_list(value) if a.host is not None]
            if len(addrs) == 1 and addrs[0].mailbox is not None:
                return f"{addrs[0].mailbox}@{addrs[0].host}".lower()
            return None
    return None


def _verified(rs: Ruleset, info: MessageInfo) -> bool:
    d = rs.verified_domain.lower().rstrip(".")

    def match(s: str) -> bool:
        s = s.lower()
        return s == d or s.endswith("." + d)

    return (
        (info.ehlo_validated and match(info.ehlo_domain))
        or (info.mail_from_validated and match(info.mail_from_domain))
        or any(match(x) for x in info.dkim_domains)
    )


def matches(rs: Ruleset, info: MessageInfo, headers: list[tuple[str, str]]) -> bool:
    if rs.smtp_mail_from_regexp and not _re(rs.smtp_mail_from_regexp).search(info.mail_from):
        return False
    if rs.msg_from_regexp:
        f = msg_from(headers)
        if f is None or not _re(rs.msg_from_regexp).search(f):
            return False
    if rs.verified_domain and not _verified(rs, info):
        return False
    for k, v in rs.headers_regexp.items():
        kr, vr = _re(k), _re(v)
        if not any(kr.search(name) and vr.search(value) for name, value in headers):
            return False
    return True


def message_ruleset(dest: Destination, info: MessageInfo, data: bytes) -> Ruleset | None:
    """The first ruleset of ``dest`` that the message matches, or None."""
    if not dest.rulesets:
        return None
    headers = headers_of(data)
    for rs in dest.rulesets:
        if matches(rs, info, headers):
            return rs
    return None


_DEFAULT = Destination()


def destination(config: Config, account: str, address: str) -> Destination:
    """The destination settings of ``address`` (an address of ``account``, or in localserve any
    address, which then uses those of the account's first address, as mox's localserve does
    for unknown addresses); the catch-all separator's tag is ignored."""
    acc = config.accounts.get(account)
    if acc is None:
        return _DEFAULT
    lp, _, dom = address.rpartition("@")
    sep = config.catchall_separator
    if sep and sep in lp:
        lp = lp.split(sep, 1)[0]
    canonical = f"{lp}@{dom}".lower()
    for a, d in acc.destinations.items():
        if a.lower() == canonical:
            return d
    if any(a.lower() == canonical for a in acc.addresses):
        return _DEFAULT
    first = acc.addresses[0].lower() if acc.addresses else ""
    for a, d in acc.destinations.items():
        if a.lower() == first:
            return d
    return _DEFAULT
