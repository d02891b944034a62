"""``domains.conf`` (``DomainsConfig``, mox's config.Dynamic): domains, accounts and their
destinations, aliases, DKIM selectors, rulesets, junk filter and webhook settings."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any

import msgspec

from mox.config.base import Base, SCONF_NOTE
from mox.config.sconf import Problems, field, parse_duration


class Canonicalization(Base, kw_only=True, frozen=True):
    """How a DKIM signature canonicalizes (RFC 6376 3.4): "relaxed" tolerates changes in
    whitespace (and header case) in transit, "simple" none."""

    header_relaxed: Annotated[bool, field("If set, some modifications to the headers (mostly whitespace) are allowed.")]
    body_relaxed: Annotated[bool, field("If set, some whitespace modifications to the message body are allowed.")]


class DKIMSelector(Base, kw_only=True, frozen=True):
    """A DKIM key (mox config.Selector). The public key is published at
    ``<selector>._domainkey.<domain>`` (see ``mox config dnsrecords``)."""

    #: "sha256" (default when empty) or the old, not recommended, "sha1" (RSA only).
    hash: Annotated[str, field("sha256 (default) or (older, not recommended) sha1.")] = ""
    canonicalization: Canonicalization = msgspec.field(
        default_factory=lambda: Canonicalization(header_relaxed=False, body_relaxed=False))
    #: Header fields to sign; empty: mox's default set (From, To, Cc, Bcc, Reply-To,
    #: References, In-Reply-To, Subject, Date, Message-Id, Content-Type).
    headers: Annotated[list[str], field(
        "Headers to sign with DKIM. If empty, a reasonable default set of headers is selected.")] = []
    #: Do not "oversign": allow more fields of the signed names to be added later.
    dont_seal_headers: Annotated[bool, field(
        "If set, don't prevent duplicate headers from being added. Not recommended.")] = False
    #: How long a signature is valid, as a duration such as "72h"; empty: no expiration.
    expiration: Annotated[str, field(
        "Period a signature is valid after signing, as duration, e.g. 72h. The period should be enough "
        "for delivery at the final destination, potentially with several hops/relays. In the order of "
        "days at least.")] = ""
    #: An RSA or ed25519 private key file in PKCS #8 PEM form, relative to the config dir.
    private_key_file: Annotated[str, field("Either an RSA or ed25519 private key file in PKCS8 PEM form.")]

    def __post_init__(self) -> None:
        if self.hash not in ("", "sha256", "sha1"):
            raise ValueError(f"unsupported hash {self.hash!r}, use sha256")
        if self.expiration:
            parse_duration(self.expiration)
        if self.headers and not any(h.lower() == "from" for h in self.headers):
            raise ValueError("From-field must always be DKIM-signed")  # RFC 6376 5.4

    @property
    def hash_effective(self) -> str:
        return self.hash or "sha256"

    @property
    def expiration_seconds(self) -> int:
        return int(parse_duration(self.expiration)) if self.expiration else 0


class DKIMConfig(Base, kw_only=True, frozen=True):
    """The DKIM keys of a domain, and which of them sign outgoing messages."""

    selectors: Annotated[dict[str, DKIMSelector], field(
        "Emails can be DKIM signed. Config parameters are per selector. A DNS record must be created "
        "for each selector. Add the name to Sign to use the selector for signing messages.")]
    sign: Annotated[list[str], field("List of selectors that emails will be signed with.")] = []

    def __post_init__(self) -> None:
        for name in self.selectors:
            # A selector is a DNS name below _domainkey (RFC 6376 3.1).
            if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*", name):
                raise ValueError(f"invalid dkim selector name {name!r}")
        for name in self.sign:
            if name not in self.selectors:
                raise ValueError(f"unknown selector {name} for signing")


class Alias(Base, kw_only=True, frozen=True):
    """An address that delivers to the member addresses (mox config.Alias, a simple list)."""

    addresses: Annotated[list[str], field(
        "Expanded addresses to deliver to. These must be addresses of local accounts. A member that is "
        "also an explicit recipient in the SMTP transaction gets the message once. If the address in "
        "the message From header is a member, that member does not get the message.")]
    post_public: Annotated[bool, field(
        "If true, anyone can send messages to the list. Otherwise only members, based on message From "
        "address, which is assumed to be DMARC-like-verified.")] = False
    list_members: Annotated[bool, field("If true, members can see addresses of members.")] = False
    allow_msg_from: Annotated[bool, field(
        "If true, members are allowed to send messages with this alias address in the message From "
        "header.")] = False


def _compile(pattern: str, what: str) -> Any:
    try:
        return re.compile(pattern)
    except re.error as e:
        raise ValueError(f"invalid {what} {pattern!r}: {e}") from None


class Ruleset(Base, kw_only=True, frozen=True):
    """A delivery rule of a destination (mox config.Ruleset): when all of its conditions match,
    the message goes to ``Mailbox``. Regular expressions match a substring (anchor them with ^
    and $); header names and values are lower-cased and values trimmed before matching.
    ``IsForward``, ``ListAllowDomain`` and ``AcceptRejectsToMailbox`` change only the junk
    analysis of matching messages."""

    smtp_mail_from_regexp: Annotated[str, field(
        "Matches if this regular expression matches (a substring of) the SMTP MAIL FROM address (not "
        "the message From-header). E.g. '^user@example\\.org$'.")] = ""
    msg_from_regexp: Annotated[str, field(
        "Matches if this regular expression matches (a substring of) the single address in the message "
        "From header.")] = ""
    verified_domain: Annotated[str, field(
        "Matches if this domain matches an SPF- and/or DKIM-verified (sub)domain.")] = ""
    headers_regexp: Annotated[dict[str, str], field(
        "Matches if these header field/value regular expressions all match (substrings of) the message "
        "headers. Header fields and valuees are converted to lower case before matching. Whitespace is "
        "trimmed from the value before matching.")] = {}
    is_forward: Annotated[bool, field(
        "Influences spam filtering only, this option does not change whether a message matches this "
        "ruleset. Can only be used together with SMTPMailFromRegexp and VerifiedDomain. The message is "
        "analyzed as if sent by the forwarding domain.")] = False
    list_allow_domain: Annotated[str, field(
        "Influences spam filtering only. Messages from this verified domain (a mailing list) are accepted "
        "without junk analysis.")] = ""
    accept_rejects_to_mailbox: Annotated[str, field(
        "Influences spam filtering only. Messages that would be rejected as junk are accepted into this "
        "mailbox, marked read.")] = ""
    mailbox: Annotated[str, field("Mailbox to deliver to if this ruleset matches.")] = ""
    comment: Annotated[str, field("Free-form comments.")] = ""

    def __post_init__(self) -> None:
        # mox config/config.go checks of a ruleset.
        if not self.mailbox:
            raise ValueError("ruleset: Mailbox is required")
        if not (self.smtp_mail_from_regexp or self.msg_from_regexp or self.verified_domain or self.headers_regexp):
            raise ValueError("ruleset must have at least one rule")
        if self.is_forward and (not self.smtp_mail_from_regexp or not self.verified_domain):
            raise ValueError("ruleset: IsForward requires SMTPMailFromRegexp and VerifiedDomain")
        if self.is_forward and self.list_allow_domain:
            raise ValueError("ruleset: cannot have both IsForward and ListAllowDomain")
        if self.smtp_mail_from_regexp:
            _compile(self.smtp_mail_from_regexp, "SMTPMailFromRegexp")
        if self.msg_from_regexp:
            _compile(self.msg_from_regexp, "MsgFromRegexp")
        for k, v in self.headers_regexp.items():
            _compile(k, "HeadersRegexp header")
            _compile(v, "HeadersRegexp value")


class AutomaticJunkFlags(Base, kw_only=True, frozen=True):
    """$Junk/$NotJunk set by the mailbox a message is delivered, moved or copied to (mox
    config.AutomaticJunkFlags): matched in the order junk, neutral, not junk against the
    lower-cased mailbox name; with two of the three regexps set, the third matches the rest."""

    enabled: Annotated[bool, field(
        "If enabled, junk/nonjunk flags will be set automatically if they match some of the regular "
        "expressions. When two of the three mailbox regular expressions are set, the remaining one will "
        "match all unmatched messages.")] = False
    junk_mailbox_regexp: Annotated[str, field("Example: ^(junk|spam).")] = ""
    neutral_mailbox_regexp: Annotated[str, field("Example: ^(inbox|neutral|postmaster|dmarc|tlsrpt|rejects).")] = ""
    not_junk_mailbox_regexp: Annotated[str, field("Example: .* or an empty string.")] = ""

    def __post_init__(self) -> None:
        for what, v in (
            ("JunkMailboxRegexp", self.junk_mailbox_regexp),
            ("NeutralMailboxRegexp", self.neutral_mailbox_regexp),
            ("NotJunkMailboxRegexp", self.not_junk_mailbox_regexp),
        ):
            if v:
                _compile(v, what)


class JunkFilter(Base, kw_only=True, frozen=True):
    """The account's Bayesian junk filter (mox config.JunkFilter with junk.Params inline).
    ``Reject`` (ours, written only when set): refuse a junk message during SMTP (mox's behaviour,
    with a copy in the RejectsMailbox); without it a junk message is delivered to the Junk
    mailbox, so nothing is refused in localserve unless configured."""

    threshold: Annotated[float, field(
        "Approximate spaminess score between 0 and 1 above which emails are rejected as spam. Each "
        "delivery attempt adds a little noise to make it slightly harder for spammers to identify words "
        "that strongly indicate non-spaminess and use it to bypass the filter. E.g. 0.95.")] = 0.95
    onegrams: Annotated[bool, field("Track ham/spam ranking for single words.")] = False
    twograms: Annotated[bool, field("Track ham/spam ranking for each two consecutive words.")] = False
    threegrams: Annotated[bool, field("Track ham/spam ranking for each three consecutive words.")] = False
    max_power: Annotated[float, field(
        "Maximum power a word (combination) can have. If spaminess is 0.99, and max power is 0.1, "
        "spaminess of the word will be set to 0.9. Similar for ham words.")] = 0.01
    top_words: Annotated[int, field("Number of most spammy/hammy words to use for calculating probability. E.g. 10.")] = 10
    ignore_words: Annotated[float, field(
        "Ignore words that are this much away from 0.5 haminess/spaminess. E.g. 0.1, causing word (combinations) "
        "of 0.4 to 0.6 to be ignored.")] = 0.1
    rare_words: Annotated[int, field(
        "Occurrences in word database until a word is considered rare and its influence in calculating "
        "probability reduced. E.g. 1 or 2.")] = 2
    reject: Annotated[bool, field(
        "Ours, not mox's: refuse junk during SMTP (451) and keep a copy in the rejects mailbox; without it "
        "junk is delivered to the Junk mailbox.")] = False

    def __post_init__(self) -> None:
        if not 0 <= self.threshold <= 1:
            raise ValueError("JunkFilter: Threshold must be between 0 and 1")
        if not (self.onegrams or self.twograms or self.threegrams):
            raise ValueError("JunkFilter: at least one of Onegrams, Twograms, Threegrams must be set")
        if not 0 <= self.max_power < 0.5 or self.top_words <= 0 or self.rare_words < 0:
            raise ValueError("JunkFilter: MaxPower must be in [0, 0.5), TopWords > 0, RareWords >= 0")


class DomainConfig(Base, kw_only=True, frozen=True):
    __sconf_unsupported__ = (
        "ClientSettingsDomain", "LocalpartCaseSensitive", "DMARC", "MTASTS", "TLSRPT", "Routes",
    )
    disabled: Annotated[bool, field(
        "Disabled domains stay configured (addresses at them can still be added to accounts), "
        "but: incoming SMTP deliveries for them are refused with temporary error 450 4.2.1 "
        "(localserve delivers them to its catch-all account, as mox's localserve); submissions "
        "(SMTP, webapi, webmail) with a From address at them are refused with temporary error "
        "451 4.3.0. Useful before and during migrations.")] = False
    description: Annotated[str, field("Free-form description of domain.")] = ""
    localpart_catchall_separator: Annotated[str, field(
        "If not empty, only the string before the separator is used to for email delivery decisions. "
        "For example, if set to \"+\", you+anything@example.com will be delivered to you@example.com.")] = ""
    localpart_catchall_separators: Annotated[list[str], field(
        "Similar to LocalpartCatchallSeparator, but in case multiple are needed. For example both \"+\" "
        "and \"-\". Only of one LocalpartCatchallSeparator or LocalpartCatchallSeparators can be set.")] = []
    dkim: Annotated[DKIMConfig, field(
        "With DKIM signing, a domain is taking responsibility for (content of) emails it sends.")] = msgspec.field(
        default_factory=lambda: DKIMConfig(selectors={}))
    aliases: Annotated[dict[str, "Alias"], field(
        "Aliases that cause messages to be delivered to one or more locally configured addresses. Keys "
        "are localparts (encoded, as they appear in email addresses).")] = {}

    def __post_init__(self) -> None:
        if self.localpart_catchall_separator and self.localpart_catchall_separators:
            raise ValueError("only one of LocalpartCatchallSeparator and LocalpartCatchallSeparators can be set")
        for sep in self.catchall_separators:
            if not sep or "@" in sep:
                raise ValueError(f"invalid localpart catchall separator {sep!r}")

    @property
    def catchall_separators(self) -> list[str]:
        if self.localpart_catchall_separator:
            return [self.localpart_catchall_separator]
        return list(self.localpart_catchall_separators)

    @property
    def catchall_separator(self) -> str:
        """The first separator, "" for none."""
        seps = self.catchall_separators
        return seps[0] if seps else ""


class Destination(Base, kw_only=True, frozen=True):
    """An address's delivery settings (mox config.Destination): the mailbox when no ruleset
    matches (default Inbox), the rulesets (first match wins) and the display name."""

    __sconf_unsupported__ = ("SMTPError", "MessageAuthRequiredSMTPError")
    mailbox: Annotated[str, field("Mailbox to deliver to. Default: Inbox.")] = ""
    rulesets: Annotated[list[Ruleset], field(
        "Delivery rules based on message and SMTP transaction. You may want to match each mailing list "
        "by SMTP MailFrom address, VerifiedDomain and/or List-ID headers (typically <listname.example.org> "
        "if the list address is listname@example.org), delivering them to their own mailbox.")] = []
    full_name: Annotated[str, field(
        "Full name to use in message From header when composing messages coming from this address with "
        "webmail.")] = ""


#: Outgoing webhook events (mox webhook.OutgoingEvent).
OUTGOING_WEBHOOK_EVENTS = ("delivered", "suppressed", "delayed", "failed", "relayed", "expanded", "canceled", "unrecognized")


class OutgoingWebhook(Base, kw_only=True, frozen=True):
    url: Annotated[str, field("URL to POST webhooks.")]
    authorization: Annotated[str, field("If not empty, value of Authorization header to add to HTTP requests.")] = ""
    events: Annotated[list[str], field(
        "Events to send outgoing delivery notifications for. If absent, all events are sent. Valid "
        "values: delivered, suppressed, delayed, failed, relayed, expanded, canceled, unrecognized.")] = []

    def __post_init__(self) -> None:
        _check_webhook_url(self.url)
        for ev in self.events:
            if ev not in OUTGOING_WEBHOOK_EVENTS:
                raise ValueError(f"unknown outgoing webhook event {ev!r}, known: {', '.join(OUTGOING_WEBHOOK_EVENTS)}")


class IncomingWebhook(Base, kw_only=True, frozen=True):
    url: Annotated[str, field("URL to POST webhooks to for incoming deliveries over SMTP.")]
    authorization: Annotated[str, field("If not empty, value of Authorization header to add to HTTP requests.")] = ""

    def __post_init__(self) -> None:
        _check_webhook_url(self.url)


def _check_webhook_url(url: str) -> None:
    from urllib.parse import urlsplit

    try:
        u = urlsplit(url)
        u.port  # noqa: B018 - raises for a bad port
    except ValueError as e:
        raise ValueError(f"parsing webhook url {url!r}: {e}") from None
    if u.scheme not in ("http", "https") or not u.hostname:
        raise ValueError(f"parsing webhook url {url!r}: scheme must be http or https, with a host")


#: Login refused for disabled accounts: at most this many characters, printable ASCII (mox
#: mox-/config.go: the message goes into IMAP and SMTP responses).
LOGIN_DISABLED_MAX = 256


class AccountConfig(Base, kw_only=True, frozen=True):
    """An account in domains.conf (mox config.Account, the fields this implementation has)."""

    __sconf_unsupported__ = (
        "SubjectPass", "NoCustomPassword", "Routes",
    )
    outgoing_webhook: Annotated[OutgoingWebhook | None, field("Webhooks for events about outgoing deliveries.")] = None
    incoming_webhook: Annotated[IncomingWebhook | None, field(
        "Webhooks for events about incoming deliveries over SMTP.")] = None
    from_id_login_addresses: Annotated[list[str], field(
        "Login addresses that cause outgoing email to be sent with SMTP MAIL FROM addresses with a unique "
        "id after the localpart catchall separator (which must be enabled when addresses are specified "
        "here). Any delivery status notifications (DSN, e.g. for bounces), can be related to the original "
        "message and recipient with unique id's. For submission, the id from the SMTP MAIL FROM command is "
        "used if present, and a unique id is generated otherwise.")] = []
    keep_retired_message_period: Annotated[float, field(
        "Period to keep messages retired from the queue (delivered or failed) around. E.g. 168h (1 week).",
        duration=True)] = 0.0
    keep_retired_webhook_period: Annotated[float, field(
        "Period to keep webhooks retired from the queue (delivered or failed) around. E.g. 168h (1 week).",
        duration=True)] = 0.0
    login_disabled: Annotated[str, field(
        "If non-empty, login attempts on all protocols (e.g. SMTP/IMAP, web interfaces) is rejected with "
        "this error message. Incoming deliveries for addresses of this account are still accepted.")] = ""
    domain: Annotated[str, field("Default domain for account.")] = ""
    full_name: Annotated[str, field(
        "Full name, for use in message From header when sending messages with webmail. An address's "
        "Destination FullName overrides it.")] = ""
    description: Annotated[str, field("Free form description, e.g. full name or alternative contact info.")] = ""
    destinations: Annotated[dict[str, Destination], field(
        "Destinations, keys are email addresses (with IDNA domains). All destinations are allowed for "
        "logging in with IMAP/SMTP/webmail. If no destinations are configured, the account can not login.")] = {}
    #: Bytes of message files; 0: the default (mox.conf QuotaMessageSize), negative: unlimited.
    quota_message_size: Annotated[int, field(
        "Default maximum total message size in bytes for the account, overriding any globally configured "
        "default maximum size if non-zero. A negative value can be used to have no limit in case there "
        "is a limit by default.")] = 0
    #: Recipients of messages submitted (SMTP submission, webapi, webmail) in a 24-hour window;
    #: over it 451 4.7.1. 0 means mox's default 1000; negative (ours): no limit.
    max_outgoing_messages_per_day: Annotated[int, field(
        "Maximum number of outgoing messages for this account in a 24 hour window. Default 1000; a "
        "negative value: no limit.")] = 0
    #: First-time recipients in a 24-hour window; 0 means mox's default 200; negative (ours): no limit.
    max_first_time_recipients_per_day: Annotated[int, field(
        "Maximum number of first-time recipients in outgoing messages for this account in a 24 hour "
        "window. Default 200; a negative value: no limit.")] = 0
    no_first_time_sender_delay: Annotated[bool, field(
        "Do not delay SMTP connections from a first-time sender. This implementation never delays them.")] = False
    rejects_mailbox: Annotated[str, field(
        "Mail that looks like spam will be rejected, but a copy can be stored temporarily in a mailbox, "
        "e.g. Rejects. If mail isn't coming in when you expect, you can look there. The mail still isn't "
        "accepted, so the remote mail server may retry (hopefully, if legitimate), or give up (hopefully, "
        "if indeed a spammer). Messages are automatically removed from this mailbox, so do not set it to "
        "a mailbox that has messages you want to keep.")] = ""
    keep_rejects: Annotated[bool, field(
        "Don't automatically delete mail in the RejectsMailbox listed above. This can be useful, e.g. for "
        "future spam training.")] = False
    automatic_junk_flags: Annotated[AutomaticJunkFlags, field(
        "Automatically set $Junk and $NotJunk flags based on mailbox messages are delivered/moved/copied "
        "to. Email clients typically have too limited functionality to conveniently set these flags, "
        "especially $NonJunk, but they can all move messages to a different mailbox, so this helps them.")] = (
        msgspec.field(default_factory=AutomaticJunkFlags))
    junk_filter: Annotated[JunkFilter | None, field(
        "Content-based filtering, using the junk-status of individual messages to rank words in such "
        "messages as spam or ham. It is recommended you always set the applicable (non)-junk status on "
        "messages, and that you do not empty your Trash because those messages contain valuable ham/spam "
        "training information.")] = None

    def __post_init__(self) -> None:
        if len(self.login_disabled) > LOGIN_DISABLED_MAX:
            raise ValueError(f"LoginDisabled: message must be at most {LOGIN_DISABLED_MAX} characters")
        if any(c < " " or c >= "\x7f" for c in self.login_disabled):
            raise ValueError("LoginDisabled: message cannot contain control characters including newlines, and must be ascii-only")
        if self.keep_retired_message_period < 0 or self.keep_retired_webhook_period < 0:
            raise ValueError("KeepRetired periods cannot be negative")

    @property
    def addresses(self) -> list[str]:
        """The account's addresses: its Destinations' keys."""
        return list(self.destinations)

    @property
    def quota(self) -> int:
        return self.quota_message_size

    @property
    def keep_retired_message_seconds(self) -> float:
        return self.keep_retired_message_period

    @property
    def keep_retired_webhook_seconds(self) -> float:
        return self.keep_retired_webhook_period

    def display_name(self, address: str) -> str:
        """The name to send from ``address`` with (its destination's, else the account's)."""
        for a, d in self.destinations.items():
            if a.lower() == address.lower() and d.full_name:
                return d.full_name
        return self.full_name

    @classmethod
    def with_addresses(cls, addresses: list[str], **kw: Any) -> AccountConfig:
        """An account with these destinations (each delivering to its Inbox)."""
        return cls(destinations={a: Destination() for a in addresses}, **kw)


class DomainsConfig(Base, kw_only=True, frozen=True):
    """The contents of domains.conf (mox's config.Dynamic, the fields this implementation has)."""

    __sconf_unsupported__ = ("WebDomainRedirects", "WebHandlers", "Routes", "MonitorDNSBLs")
    domains: Annotated[dict[str, DomainConfig], field(
        SCONF_NOTE + "Domains for which email is accepted. For internationalized domains, use their IDNA "
        "names in UTF-8.")]
    accounts: Annotated[dict[str, AccountConfig], field(
        "Accounts represent mox users, each with a password and email address(es) to which email can be "
        "delivered (possibly at different domains). Each account has its own on-disk directory holding "
        "its messages and index database. An account name is not an email address.")]

    def __post_init__(self) -> None:
        # Every problem, not only the first: mox's config test lists them all (mox-/config.go
        # prepareDynamicConfig gathers its errors the same way).
        problems = self.problems()
        if problems:
            raise Problems(problems)

    def problems(self) -> list[str]:
        """What does not fit together across domains, accounts and aliases, one line each."""
        from mox.names import account_name_problem

        out: list[str] = []
        for name in self.domains:
            if not name or name != name.strip() or "@" in name or name.lower() != name:
                out.append(f"invalid domain name {name!r} (lower case, no @)")
        owner: dict[str, str] = {}
        for name, acc in self.accounts.items():
            problem = account_name_problem(name) if name else "empty name"
            if problem is not None or unicodedata.normalize("NFC", name) != name:
                out.append(f"invalid account name {name!r}: {problem or 'not in NFC form'}")
            for addr in acc.destinations:
                local, sep, domain = addr.rpartition("@")
                if not sep or domain.lower() not in self.domains:
                    out.append(f"address {addr!r} of account {name!r} is not in a configured domain")
                    continue
                key = addr.lower()
                if key in owner:
                    out.append(f"address {addr!r} is used by accounts {owner[key]!r} and {name!r}")
                    continue
                owner[key] = name
        for name, acc in self.accounts.items():
            # mox-/config.go: a fromid login address is one of the account's addresses, at a
            # domain with a catchall separator (the fromid goes after it).
            for a in acc.from_id_login_addresses:
                lp, at, domain = a.rpartition("@")
                dom = self.domains.get(domain.lower())
                if not at or not lp:
                    out.append(f"account {name!r}: invalid fromid login address {a!r}")
                elif dom is None:
                    out.append(f"account {name!r}: unknown domain in fromid login address {a!r}")
                elif not dom.catchall_separators:
                    out.append(f"account {name!r}: localpart catchall separator not configured for domain for fromid login address {a!r}")
                elif owner.get(a.lower()) != name:
                    out.append(f"account {name!r}: fromid login address {a!r} does not match its destination addresses")
        for dname, dom in self.domains.items():
            for lp, alias in dom.aliases.items():
                where = f"domain {dname}: alias {lp}"
                if not lp or "@" in lp:
                    out.append(f"{where}: invalid localpart")
                    continue
                if any(sep in lp for sep in dom.catchall_separators):
                    out.append(f"{where}: alias contains localpart catchall separator")
                if f"{lp}@{dname}".lower() in owner:
                    out.append(f"{where}: alias {lp}@{dname} already present as regular address")
                if not alias.addresses:
                    out.append(f"{where}: needs at least one destination address")
                seen: set[str] = set()
                for a in alias.addresses:
                    if a.lower() not in owner:
                        out.append(f"{where}: references non-existent address {a!r}")
                    elif a.lower() in seen:
                        out.append(f"{where}: duplicate address {a!r}")
                    seen.add(a.lower())
        return out
