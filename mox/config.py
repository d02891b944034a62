"""Configuration: the files in a config dir and the `Config` the servers read.

A config dir holds, in mox's sconf format (``mox.sconf``; indent with tabs, see README "Config
files"), with mox's field names so that mox's documentation applies:

- ``mox.conf`` (``StaticConfig``, mox's config.Static): hostname, data dir, listeners, TLS;
- ``domains.conf`` (``DomainsConfig``, mox's config.Dynamic): domains, accounts, aliases, DKIM;
- ``extra.conf`` (``ExtraConfig``, optional): settings this implementation has and mox does not
  (connection limits, timeouts, queue retry delays, web limits), names in mox's style. Keeping
  them apart leaves mox.conf and domains.conf readable by mox itself.

Unknown or misspelled fields, wrong types and wrong indenting stop loading with the file, line
and field (``ConfigError``). Fields of mox that this implementation does not have are listed per
struct (``__sconf_unsupported__``) and named as such. Relative paths are relative to the config
dir. A config dir written by earlier versions (JSON) is converted once (``mox.configconvert``).

``load_config(config_dir)`` combines the files into one frozen ``Config``: the value servers get
as ``ctx.config`` (fields listed in docs/architecture.md). Domains and accounts in it are the
domains.conf structs themselves.
"""

from __future__ import annotations

import ipaddress
import os
import re
import unicodedata
from pathlib import Path
from typing import Annotated, Any

import msgspec

from mox import sconf
from mox.sconf import field, parse_duration

MOX_CONF = "mox.conf"
DOMAINS_CONF = "domains.conf"
EXTRA_CONF = "extra.conf"

#: Services and their standard ports; localserve uses these + 1000.
STANDARD_PORTS = {
    "smtp": 25,
    "submission": 587,
    "submissions": 465,
    "imap": 143,
    "imaps": 993,
    "http": 80,
    "https": 443,
    "metrics": 81,  # mox's localserve: MetricsHTTP on 1081
}
SERVICES = tuple(STANDARD_PORTS)

#: Paths of the web interfaces (mox's defaults; these are the paths this implementation serves).
WEB_PATHS = {"account": "/account/", "admin": "/admin/", "webmail": "/webmail/", "webapi": "/webapi/"}

#: The first comment of mox.conf and domains.conf, as mox writes it.
SCONF_NOTE = (
    "NOTE: This config file is in 'sconf' format. Indent with tabs. Comments must be on their own "
    "line, they don't end a line. Do not escape or quote strings. Details: "
    "https://pkg.go.dev/github.com/mjl-/sconf.\n\n\n"
)


class ConfigError(Exception):
    """A config file is missing, unreadable or invalid; the message says which and why."""


# Field names in the files are mox's: the Python name's words capitalized, with mox's acronyms.
_ACRONYMS = {
    "ip": "IP", "ips": "IPs", "nat": "NAT", "nated": "NATed", "smtp": "SMTP", "imap": "IMAP", "imaps": "IMAPS",
    "http": "HTTP", "https": "HTTPS", "tls": "TLS", "starttls": "STARTTLS", "dkim": "DKIM", "ca": "CA", "url": "URL",
    "api": "API", "webapi": "WebAPI", "id": "ID", "acme": "ACME", "dnsbls": "DNSBLs", "mtasts": "MTASTS",
    "ci": "CI", "imapprofile": "IMAPProfile",
}


def mox_name(name: str) -> str:
    """``smtp_max_message_size`` -> ``SMTPMaxMessageSize`` (the field's name in the files)."""
    return "".join(_ACRONYMS.get(w, w[:1].upper() + w[1:]) for w in name.split("_"))


# Every subclass repeats frozen=True: msgspec inherits it, type checkers do not.
class Base(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True, rename=mox_name):
    pass


def _duration_check(value: str, what: str) -> None:
    if value:
        try:
            parse_duration(value)
        except ValueError:
            raise ValueError(f"{what}: invalid duration {value!r} (examples: 72h, 30m)") from None


Seconds = Annotated[float, field("", duration=True)]


# extra.conf


class Limits(Base, kw_only=True, frozen=True):
    """Connection and authentication limits per IP class (narrow, middle, wide).

    IP classes are IPv4 /32, /26, /21 and IPv6 /64, /48, /32 (as mox). Defaults are mox's;
    localserve writes much higher values so parallel test suites on 127.0.0.1 never hit them.
    """

    connections_per_minute: Annotated[tuple[int, int, int], field(
        "New connections per minute from one IP class: IPv4 /32, /26 and /21, IPv6 /64, /48 and /32 "
        "(as mox's fixed limits). Over it, a connection is closed at once.")] = (300, 900, 2700)
    concurrent_connections: Annotated[tuple[int, int, int], field(
        "Connections open at once per IP class (same three classes).")] = (30, 90, 270)
    auth_failures_per_minute: Annotated[tuple[int, int, int], field(
        "Failed authentications per minute per IP class; over it, logins are refused.")] = (10, 30, 90)
    auth_failures_per_day: Annotated[tuple[int, int, int], field(
        "Failed authentications per day per IP class.")] = (50, 150, 450)
    #: Per connection (mox.limits.slowmode): slow mode from this many failed authentications (0: never),
    #: then seconds before each read, seconds per written byte, and at most this many seconds of
    #: slow writing per write (the rest goes at once).
    slow_after_auth_failures: Annotated[int, field(
        "Per connection: from this many failed authentications on, reads are delayed and writes "
        "slowed, as mox does. 0: never.")] = 3
    slow_read_delay: Annotated[float, field("Slow mode: delay before each read.", duration=True)] = 1.0
    slow_write_delay: Annotated[float, field("Slow mode: delay per written byte.", duration=True)] = 1.0
    slow_write_max: Annotated[float, field(
        "Slow mode: at most this much delay per write, the rest is written at once.", duration=True)] = 28.0
    #: Per connection: seconds times (failures - slow_after_auth_failures) before each attempt.
    auth_attempt_delay: Annotated[float, field(
        "Per connection: delay before an authentication attempt, times the failures beyond "
        "SlowAfterAuthFailures.", duration=True)] = 1.0
    #: Password hashes (scrypt and SCRAM's PBKDF2, in worker threads) running at once for IMAP, SMTP and web
    #: together; 0: one per CPU. More logins wait their turn instead of starving the machine.
    concurrent_password_hashes: Annotated[int, field(
        "Password hashes computed at once (IMAP, SMTP and web together); more logins wait their "
        "turn. 0: one per CPU.")] = 0


LOCALSERVE_LIMITS = Limits(
    connections_per_minute=(100_000, 300_000, 900_000),
    concurrent_connections=(10_000, 30_000, 90_000),
    auth_failures_per_minute=(10_000, 30_000, 90_000),
    auth_failures_per_day=(1_000_000, 3_000_000, 9_000_000),
    # A test that fails logins on one connection is slowed (reads as mox), but a slow write
    # never takes more than 2 s.
    slow_write_max=2.0,
)


class ExtraConfig(Base, kw_only=True, frozen=True):
    """The contents of extra.conf: settings of this implementation that mox does not have."""

    limits: Annotated[Limits, field(
        "NOTE: This file holds the settings of this implementation of mox that Go mox does not have; "
        "mox.conf and domains.conf hold mox's own. Same 'sconf' format: indent with tabs, comments "
        "on their own line, strings not quoted.\n\n\n"
        "Limits on connections and authentication failures per IP class, and slow mode for "
        "connections with failed logins.")] = Limits()
    failure_timeout: Annotated[float, field(
        "How long a recipient whose localpart ends in \"timeout\" gets no answer (localserve).",
        duration=True)] = 3600.0
    smtp_idle_timeout: Annotated[float, field(
        "SMTP: silence between commands before the connection is closed with 421 4.4.2.", duration=True)] = 30.0
    smtp_data_timeout: Annotated[float, field("SMTP: time for a whole DATA or BDAT phase.", duration=True)] = 1800.0
    smtp_rcpt_max: Annotated[int, field(
        "SMTP: recipients per transaction (EHLO LIMITS RCPTMAX); over it 452 4.5.3.")] = 1000
    queue_retry_delays: Annotated[tuple[Seconds, ...], field(
        "Queue: delays between delivery attempts after a temporary failure; after the last, a "
        "delivery failure notice (DSN) goes to the sender.")] = (0.5, 1.0, 2.0)
    web_max_request_body: Annotated[int, field(
        "Web: largest upload (account import) in bytes; larger requests get 413. Other requests "
        "have smaller limits of their own.")] = 10 * 1024 * 1024
    web_request_deadline: Annotated[float, field(
        "Web: time from a request's first byte until its head and body are complete (else 408).",
        duration=True)] = 300.0


# mox.conf


class CA(Base, kw_only=True, frozen=True):
    additional_to_system: bool = False
    cert_files: list[str] = []


class GlobalTLS(Base, kw_only=True, frozen=True):
    ca: Annotated[CA | None, field()] = None


class KeyCert(Base, kw_only=True, frozen=True):
    cert_file: Annotated[str, field("Certificate including intermediate CA certificates, in PEM format.")]
    key_file: Annotated[str, field("Private key for the certificate, in PEM format (PKCS #8, PKCS #1 or EC).")]


class ListenerTLS(Base, kw_only=True, frozen=True):
    __sconf_unsupported__ = ("ACME", "HostPrivateKeyFiles")
    key_certs: Annotated[list[KeyCert], field(
        "Keys and certificates for this listener. This implementation uses the first.")] = []
    min_version: Annotated[str, field("Minimum TLS version: TLSv1.2 (default) or TLSv1.3.")] = ""

    def __post_init__(self) -> None:
        if self.min_version not in ("", "TLSv1.2", "TLSv1.3"):
            raise ValueError(f"unknown TLS MinVersion {self.min_version!r}, known: TLSv1.2, TLSv1.3")


class SMTPService(Base, kw_only=True, frozen=True):
    __sconf_unsupported__ = ("NoSTARTTLS", "RequireSTARTTLS", "NoRequireTLS", "DNSBLs", "FirstTimeSenderDelay", "TLSSessionTicketsDisabled")
    enabled: bool
    port: Annotated[int, field("Default 25.")] = 0


class SubmissionService(Base, kw_only=True, frozen=True):
    enabled: bool
    port: Annotated[int, field("Default 587.")] = 0
    no_require_starttls: Annotated[bool, field(
        "Do not require STARTTLS: passwords may be sent without encryption. Not recommended outside "
        "localhost.")] = False


class SubmissionsService(Base, kw_only=True, frozen=True):
    __sconf_unsupported__ = ("EnabledOnHTTPS",)
    enabled: bool
    port: Annotated[int, field("Default 465.")] = 0


class IMAPService(Base, kw_only=True, frozen=True):
    enabled: bool
    port: Annotated[int, field("Default 143.")] = 0
    no_require_starttls: Annotated[bool, field(
        "Enable this only when the connection is otherwise encrypted, or on localhost.")] = False


class IMAPSService(Base, kw_only=True, frozen=True):
    __sconf_unsupported__ = ("EnabledOnHTTPS",)
    enabled: bool
    port: Annotated[int, field("Default 993.")] = 0


class WebService(Base, kw_only=True, frozen=True):
    enabled: bool
    port: Annotated[int, field(
        "Default 80 for HTTP and 443 for HTTPS. This implementation serves all web interfaces of a "
        "listener on one HTTP and one HTTPS port.")] = 0
    path: Annotated[str, field(
        "Path to serve requests on; only the default path of each interface is supported: "
        "/account/, /admin/, /webmail/, /webapi/.")] = ""
    forwarded: Annotated[bool, field(
        "If set, X-Forwarded-* headers are used for the remote IP address (not supported, must be "
        "false).")] = False

    def __post_init__(self) -> None:
        if self.forwarded:
            raise ValueError("Forwarded is not supported by this implementation")


class PortService(Base, kw_only=True, frozen=True):
    enabled: bool
    port: int = 0


class Listener(Base, kw_only=True, frozen=True):
    __sconf_unsupported__ = ("NATIPs", "IPsNATed", "PprofHTTP", "AutoconfigHTTPS", "MTASTSHTTPS")
    ips: Annotated[list[str], field(
        "IP addresses to listen on, e.g. 127.0.0.1 and ::1; 0.0.0.0 and :: listen on all addresses.")]
    hostname: Annotated[str, field("If empty, the global Hostname is used.")] = ""
    tls: Annotated[ListenerTLS | None, field("For SMTP/IMAP STARTTLS, direct TLS and HTTPS connections.")] = None
    smtp_max_message_size: Annotated[int, field(
        "Maximum size in bytes for incoming and outgoing messages. Default is 100MB.")] = 0
    smtp: Annotated[SMTPService, field(
        "SMTP for receiving email (localserve: accepts all, with its failure-simulation rules).")] = SMTPService(enabled=False)
    submission: Annotated[SubmissionService, field(
        "SMTP for submitting email, e.g. by email applications. Starts out in plain text, can be "
        "upgraded to TLS with STARTTLS.")] = SubmissionService(enabled=False)
    submissions: Annotated[SubmissionsService, field(
        "SMTP over TLS for submitting email. Requires a TLS config.")] = SubmissionsService(enabled=False)
    imap: Annotated[IMAPService, field(
        "IMAP for reading email. Starts out in plain text, can be upgraded to TLS with STARTTLS.")] = IMAPService(enabled=False)
    imaps: Annotated[IMAPSService, field("IMAP over TLS. Requires a TLS config.")] = IMAPSService(enabled=False)
    account_http: Annotated[WebService, field(
        "Account web interface, for users to change their account. Default path /account/.")] = WebService(enabled=False)
    account_https: Annotated[WebService, field("Account web interface over HTTPS. Requires a TLS config.")] = WebService(enabled=False)
    admin_http: Annotated[WebService, field("Admin web interface. Default path /admin/.")] = WebService(enabled=False)
    admin_https: Annotated[WebService, field("Admin web interface over HTTPS. Requires a TLS config.")] = WebService(enabled=False)
    webmail_http: Annotated[WebService, field("Webmail client. Default path /webmail/.")] = WebService(enabled=False)
    webmail_https: Annotated[WebService, field("Webmail over HTTPS. Requires a TLS config.")] = WebService(enabled=False)
    web_api_http: Annotated[WebService, field("WebAPI over plain HTTP. Default path /webapi/.")] = WebService(enabled=False)
    web_api_https: Annotated[WebService, field(
        "WebAPI, a simple HTTP/JSON-based API for email, over HTTPS. Requires a TLS config.")] = WebService(enabled=False)
    metrics_http: Annotated[PortService, field(
        "Serve prometheus metrics, for monitoring. You should not enable this on a public IP. Default "
        "port 8010; localserve: 1081.")] = PortService(enabled=False)
    webserver_http: Annotated[PortService, field(
        "Webserver for WebHandlers. Accepted as mox writes it for localserve; this implementation "
        "has no WebHandlers, the port must be the web interfaces' port when set.")] = PortService(enabled=False)
    webserver_https: Annotated[PortService, field(
        "Like WebserverHTTP, for HTTPS.")] = PortService(enabled=False)

    def __post_init__(self) -> None:
        if not self.ips:
            raise ValueError("IPs: at least one IP address is needed")
        for ip in self.ips:
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                raise ValueError(f"invalid ip address {ip!r}") from None
        for name in ("smtp", "submission", "submissions", "imap", "imaps", "account_http", "account_https",
                     "admin_http", "admin_https", "webmail_http", "webmail_https", "web_api_http", "web_api_https",
                     "metrics_http", "webserver_http", "webserver_https"):
            port = getattr(self, name).port
            if not 0 <= port <= 65535:
                raise ValueError(f"{mox_name(name)}: port {port} out of range")

    def web_port(self, https: bool) -> int | None:
        """The one port of the enabled web interfaces over HTTP (or HTTPS), None when none is
        enabled; raises ValueError when they differ."""
        suffix = "https" if https else "http"
        default = 443 if https else 80
        ports = set()
        for name, path in WEB_PATHS.items():
            attr = ("web_api" if name == "webapi" else name) + "_" + suffix
            svc: WebService = getattr(self, attr)
            if not svc.enabled:
                continue
            if svc.path not in ("", path) and not (name == "admin" and svc.path == "/admin/"):
                raise ValueError(f"{mox_name(attr)}: Path {svc.path!r} not supported, only {path}")
            ports.add(svc.port or default)
        ws: PortService = getattr(self, "webserver_" + suffix)
        if ws.enabled and ports and (ws.port or default) not in ports:
            raise ValueError(f"Webserver{suffix.upper()}: port must be that of the web interfaces")
        if len(ports) > 1:
            raise ValueError(f"web interfaces over {suffix.upper()} on different ports {sorted(ports)}: this "
                             "implementation serves them all on one port")
        return ports.pop() if ports else None


class Postmaster(Base, kw_only=True, frozen=True):
    account: Annotated[str, field("Account for postmaster messages.")]
    mailbox: Annotated[str, field("E.g. Postmaster or Inbox.")]


class StaticConfig(Base, kw_only=True, frozen=True):
    """The contents of mox.conf (mox's config.Static, the fields this implementation has)."""

    __sconf_unsupported__ = (
        "NoFixPermissions", "CheckUpdates", "ACME", "HostTLSRPT", "InitialMailboxes", "DefaultMailboxes",
        "Transports", "NoOutgoingDMARCReports", "NoOutgoingTLSReports", "OutgoingTLSReportsForAllSuccess",
    )
    data_dir: Annotated[str, field(
        SCONF_NOTE + "Directory where all data is stored, e.g. queue, accounts and messages. If this is "
        "a relative path, it is relative to the directory of mox.conf.")]
    log_level: Annotated[str, field(
        "Default log level, one of: error, info, debug, trace, traceauth, tracedata. Trace logs SMTP "
        "and IMAP protocol transcripts, with traceauth also messages with passwords, and tracedata on "
        "top of that also the full data exchanges (full messages), which can be a large amount of data.")]
    package_log_levels: Annotated[dict[str, str], field(
        "Overrides of log level per package (e.g. queue, smtpserver, imapserver, store, http).")] = {}
    user: Annotated[str, field(
        "User to switch to after binding to all sockets as root. Accepted as mox writes it; this "
        "implementation does not switch users.")] = ""
    hostname: Annotated[str, field("Full hostname of system, e.g. mail.<domain>")]
    pedantic: Annotated[bool, field(
        "In pedantic mode protocol violations (that happen in the wild) for SMTP/IMAP/etc result in "
        "errors instead of accepting such behaviour. localserve is always pedantic.")] = False
    tls: Annotated[GlobalTLS, field(
        "Global TLS configuration, e.g. for additional Certificate Authorities. Accepted as mox writes it; "
        "this implementation makes no outgoing TLS connections.")] = GlobalTLS()
    admin_password_file: Annotated[str, field(
        "File containing hash of admin password, for authentication in the web admin pages.")] = ""
    listeners: Annotated[dict[str, Listener], field(
        "Listeners are groups of IP addresses and services enabled on those IP addresses. This "
        "implementation serves one listener.")]
    postmaster: Annotated[Postmaster, field(
        "Destination for emails delivered to postmaster addresses.")]
    quota_message_size: Annotated[int, field(
        "Default maximum total message size in bytes for each individual account, only applicable if "
        "greater than zero. Can be overridden per account.")] = 0

    def __post_init__(self) -> None:
        from mox import mlog

        for pkg, level in {"": self.log_level, **self.package_log_levels}.items():
            if level not in mlog.LEVELS:
                raise ValueError(f"unknown log level {level!r}{' for package ' + pkg if pkg else ''}, known: {', '.join(mlog.LEVELS)}")
        if not self.hostname:
            raise ValueError("Hostname: must be set")
        if len(self.listeners) != 1:
            raise ValueError(f"Listeners: this implementation serves exactly one listener, found {len(self.listeners)}")


# domains.conf


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
        "FromIDLoginAddresses", "SubjectPass", "NoCustomPassword", "Routes",
    )
    outgoing_webhook: Annotated[OutgoingWebhook | None, field("Webhooks for events about outgoing deliveries.")] = None
    incoming_webhook: Annotated[IncomingWebhook | None, field(
        "Webhooks for events about incoming deliveries over SMTP.")] = None
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
        from mox.names import account_name_problem

        for name in self.domains:
            if not name or name != name.strip() or "@" in name or name.lower() != name:
                raise ValueError(f"invalid domain name {name!r} (lower case, no @)")
        owner: dict[str, str] = {}
        for name, acc in self.accounts.items():
            problem = account_name_problem(name) if name else "empty name"
            if problem is not None or unicodedata.normalize("NFC", name) != name:
                raise ValueError(f"invalid account name {name!r}: {problem or 'not in NFC form'}")
            for addr in acc.destinations:
                local, sep, domain = addr.rpartition("@")
                if not sep or domain.lower() not in self.domains:
                    raise ValueError(f"address {addr!r} of account {name!r} is not in a configured domain")
                key = addr.lower()
                if key in owner:
                    raise ValueError(f"address {addr!r} is used by accounts {owner[key]!r} and {name!r}")
                owner[key] = name
        for dname, dom in self.domains.items():
            for lp, alias in dom.aliases.items():
                where = f"domain {dname}: alias {lp}"
                if not lp or "@" in lp:
                    raise ValueError(f"{where}: invalid localpart")
                if any(sep in lp for sep in dom.catchall_separators):
                    raise ValueError(f"{where}: alias contains localpart catchall separator")
                if f"{lp}@{dname}".lower() in owner:
                    raise ValueError(f"{where}: alias {lp}@{dname} already present as regular address")
                if not alias.addresses:
                    raise ValueError(f"{where}: needs at least one destination address")
                seen: set[str] = set()
                for a in alias.addresses:
                    if a.lower() not in owner:
                        raise ValueError(f"{where}: references non-existent address {a!r}")
                    if a.lower() in seen:
                        raise ValueError(f"{where}: duplicate address {a!r}")
                    seen.add(a.lower())


#: mox's defaults when an account sets no daily limits (store/account.go SendLimitReached).
DEFAULT_MAX_OUTGOING_MESSAGES_PER_DAY = 1000
DEFAULT_MAX_FIRST_TIME_RECIPIENTS_PER_DAY = 200


class Config(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Everything the servers read, resolved: absolute paths, one listener. Domains and
    accounts are the domains.conf structs."""

    hostname: str = "localhost"
    config_dir: str = "."
    data_dir: str = "."
    log_level: str = "info"
    #: Per-package log levels (mox.conf PackageLogLevels).
    package_log_levels: dict[str, str] = {}
    localserve: bool = False
    #: AUTH/LOGIN allowed without TLS (localserve: True).
    no_require_starttls: bool = False
    max_message_size: int = 104857600
    #: Default bytes per account (mox.conf QuotaMessageSize), 0 = unlimited; an account's own
    #: QuotaMessageSize overrides it (account_quota).
    quota: int = 0
    catchall_separator: str = "+"
    domains: dict[str, DomainConfig] = {}
    accounts: dict[str, AccountConfig] = {}
    #: service -> port; 0 means "pick a free port".
    ports: dict[str, int] = {}
    ips: list[str] = msgspec.field(default_factory=lambda: ["127.0.0.1", "::1"])
    #: Seconds the ``timeout`` special local part waits before answering.
    failure_timeout: float = 3600.0
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    admin_password_file: str | None = None
    #: mox.conf Postmaster: (account, mailbox).
    postmaster: tuple[str, str] = ("", "")
    limits: Limits = Limits()
    #: SMTP: seconds of silence between commands before ``421 4.4.2``; seconds for a whole DATA phase
    #: (mox: 30 s per read between commands, 30 minutes for DATA).
    smtp_idle_timeout: float = 30.0
    smtp_data_timeout: float = 1800.0
    #: SMTP: recipients per transaction (EHLO ``LIMITS RCPTMAX``; over it ``452 4.5.3``).
    smtp_rcpt_max: int = 1000
    #: Queue: seconds between delivery attempts for temporary failures, then the DSN.
    queue_retry_delays: tuple[float, ...] = (0.5, 1.0, 2.0)
    #: Web: largest upload (account import) in bytes (413 above it); other requests have smaller
    #: limits of their own.
    web_max_request_body: int = 10 * 1024 * 1024
    #: Web: seconds from a request's first byte until its head and body must be complete (408).
    web_request_deadline: float = 300.0

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    def account_quota(self, account: str | None) -> int:
        """Bytes the account may store in message files; 0 means unlimited. The account's
        QuotaMessageSize when set (negative: unlimited), else the server default ``quota``
        (mox.conf QuotaMessageSize)."""
        acc_cfg = self.accounts.get(account) if account else None
        q = acc_cfg.quota_message_size if acc_cfg is not None else 0
        if q == 0:
            q = self.quota
        return q if q > 0 else 0

    def send_limits(self, account: str) -> tuple[int | None, int | None]:
        """The account's (messages, first-time recipients) per 24 hours; None: no limit. 0 in
        the config means mox's default, a negative value no limit."""
        acc_cfg = self.accounts.get(account)

        def limit(v: int, default: int) -> int | None:
            return default if v == 0 else (v if v > 0 else None)

        if acc_cfg is None:
            return DEFAULT_MAX_OUTGOING_MESSAGES_PER_DAY, DEFAULT_MAX_FIRST_TIME_RECIPIENTS_PER_DAY
        return (
            limit(acc_cfg.max_outgoing_messages_per_day, DEFAULT_MAX_OUTGOING_MESSAGES_PER_DAY),
            limit(acc_cfg.max_first_time_recipients_per_day, DEFAULT_MAX_FIRST_TIME_RECIPIENTS_PER_DAY),
        )

    def domain_disabled(self, domain: str) -> bool:
        """Whether the domain is configured and Disabled (domains.conf)."""
        dom = self.domains.get(domain.lower().rstrip("."))
        return dom is not None and dom.disabled

    def login_disabled(self, account: str | None) -> str:
        """The account's LoginDisabled message, "" when it may log in."""
        acc_cfg = self.accounts.get(account) if account else None
        return acc_cfg.login_disabled if acc_cfg is not None else ""

    def alias(self, localpart: str, domain: str) -> tuple[str, Alias] | None:
        """The alias at this address as (address as configured, Alias), else None. Localparts
        compare case-insensitively, without what follows a catchall separator."""
        dom = self.domains.get(domain.lower())
        if dom is None or not dom.aliases:
            return None
        lp = localpart
        for sep in dom.catchall_separators:
            lp = lp.split(sep, 1)[0]
        for name, alias in dom.aliases.items():
            if name.lower() == lp.lower():
                return f"{name}@{domain.lower()}", alias
        return None

    def domains_file(self) -> DomainsConfig:
        """The domains.conf contents of this config."""
        return DomainsConfig(domains=dict(self.domains), accounts=dict(self.accounts))

    @property
    def config_path(self) -> Path:
        return Path(self.config_dir)


def _read_text(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror or e}") from None


def parse_file(path: Path, typ: type, data: bytes | None = None) -> Any:
    """Parse one sconf config file (or ``data`` as if read from it); raises ConfigError with
    ``file:line: message``."""
    if data is None:
        data = _read_text(path)
    if data.lstrip().startswith(b"{"):
        raise ConfigError(f"{path}: in JSON, the format of earlier versions; start mox once to convert it")
    try:
        return sconf.parse(data, typ, path=str(path))
    except sconf.SconfError as e:
        raise ConfigError(str(e)) from None


def read_static(config_dir: Path) -> StaticConfig:
    static: StaticConfig = parse_file(Path(config_dir) / MOX_CONF, StaticConfig)
    return static


def read_domains(config_dir: Path) -> DomainsConfig:
    domains: DomainsConfig = parse_file(Path(config_dir) / DOMAINS_CONF, DomainsConfig)
    return domains


def read_extra(config_dir: Path) -> ExtraConfig:
    """extra.conf; its defaults when the file does not exist."""
    path = Path(config_dir) / EXTRA_CONF
    if not path.exists():
        return ExtraConfig()
    extra: ExtraConfig = parse_file(path, ExtraConfig)
    return extra


def write_file(path: Path, data: bytes, *, secret: bool = False) -> None:
    """Write a config file atomically (temp file + rename), created with mode 0660, or 0600 for
    a ``secret`` (private key, password hash), where the platform has modes."""
    from mox.store.layout import SECRET_MODE, write_file_durable

    write_file_durable(Path(path), path.with_name(path.name + ".tmp"), data, fsync=True,
                       mode=SECRET_MODE if secret else 0o660)


def encode(value: msgspec.Struct) -> bytes:
    """A config file's text in sconf, with the comments of each field (as mox writes new files)."""
    return sconf.write(value, docs=True).encode("utf-8")


def write_domains(config_dir: Path, domains: DomainsConfig) -> None:
    write_file(Path(config_dir) / DOMAINS_CONF, encode(domains))


def write_config(config_dir: Path, static: StaticConfig, domains: DomainsConfig, extra: ExtraConfig | None = None) -> None:
    config_dir = Path(config_dir)
    write_file(config_dir / MOX_CONF, encode(static))
    write_domains(config_dir, domains)
    if extra is not None:
        write_file(config_dir / EXTRA_CONF, encode(extra))


def edit_file(config_dir: Path, name: str, fn: Any) -> None:
    """Change one config file: ``fn`` gets its contents as a dict with mox's field names
    (durations in seconds) and changes it in place; the result is checked and written."""
    typ = {MOX_CONF: StaticConfig, DOMAINS_CONF: DomainsConfig, EXTRA_CONF: ExtraConfig}[name]
    path = Path(config_dir) / name
    value = read_extra(config_dir) if name == EXTRA_CONF else parse_file(path, typ)
    d = msgspec.to_builtins(value)
    fn(d)
    try:
        new = msgspec.convert(d, typ)
    except msgspec.ValidationError as e:
        raise ConfigError(f"{path}: {e}") from None
    write_file(path, encode(new))


def resolve(config_dir: Path, static: StaticConfig, domains: DomainsConfig, extra: ExtraConfig | None = None) -> Config:
    """Combine the files into a Config with absolute paths; raises ConfigError for settings
    that do not fit together."""
    config_dir = Path(config_dir).absolute()
    extra = extra if extra is not None else ExtraConfig()

    def path(p: str) -> str:
        return str((config_dir / p).absolute())

    lname, listener = next(iter(static.listeners.items()))
    where = f"{config_dir / MOX_CONF}: Listeners.{lname}"
    ports: dict[str, int] = {}
    for service, svc in (("smtp", listener.smtp), ("submission", listener.submission),
                         ("submissions", listener.submissions), ("imap", listener.imap), ("imaps", listener.imaps)):
        if svc.enabled:
            ports[service] = svc.port or STANDARD_PORTS[service]
    if listener.metrics_http.enabled:
        ports["metrics"] = listener.metrics_http.port or 8010  # mox's default MetricsHTTP port
    try:
        for https in (False, True):
            port = listener.web_port(https)
            if port is not None:
                ports["https" if https else "http"] = port
    except ValueError as e:
        raise ConfigError(f"{where}: {e}") from None
    tls = listener.tls
    key_cert = tls.key_certs[0] if tls is not None and tls.key_certs else None
    if key_cert is None and any(s in ports for s in ("submissions", "imaps", "https")):
        raise ConfigError(f"{where}: TLS.KeyCerts needed for Submissions, IMAPS and HTTPS")
    nrs = {svc.no_require_starttls for svc in (listener.submission, listener.imap) if svc.enabled}
    if len(nrs) > 1:
        raise ConfigError(f"{where}: NoRequireSTARTTLS must be the same for Submission and IMAP in this implementation")
    pm = static.postmaster
    if pm.account not in domains.accounts:
        raise ConfigError(f"{config_dir / MOX_CONF}: Postmaster: account {pm.account!r} does not exist in {DOMAINS_CONF}")
    seps = {d.catchall_separator for d in domains.domains.values()}
    return Config(
        hostname=listener.hostname or static.hostname,
        config_dir=str(config_dir),
        data_dir=str(Path(path(static.data_dir)).resolve()),
        log_level=static.log_level,
        package_log_levels=dict(static.package_log_levels),
        no_require_starttls=nrs == {True},
        max_message_size=listener.smtp_max_message_size or 104857600,
        quota=max(static.quota_message_size, 0),
        catchall_separator=seps.pop() if len(seps) == 1 else "+",
        domains=dict(domains.domains),
        accounts=dict(domains.accounts),
        ports=ports,
        ips=list(listener.ips),
        failure_timeout=extra.failure_timeout,
        tls_cert_file=path(key_cert.cert_file) if key_cert else None,
        tls_key_file=path(key_cert.key_file) if key_cert else None,
        admin_password_file=path(static.admin_password_file) if static.admin_password_file else None,
        postmaster=(pm.account, pm.mailbox),
        limits=extra.limits,
        smtp_idle_timeout=extra.smtp_idle_timeout,
        smtp_data_timeout=extra.smtp_data_timeout,
        smtp_rcpt_max=extra.smtp_rcpt_max,
        queue_retry_delays=tuple(extra.queue_retry_delays),
        web_max_request_body=extra.web_max_request_body,
        web_request_deadline=extra.web_request_deadline,
    )


def with_domains(config: Config, domains: DomainsConfig) -> Config:
    """A copy of config with other domains and accounts (after a change to domains.conf)."""
    seps = {d.catchall_separator for d in domains.domains.values()}
    return msgspec.structs.replace(
        config, domains=dict(domains.domains), accounts=dict(domains.accounts),
        catchall_separator=seps.pop() if len(seps) == 1 else "+",
    )


def load_config(config_dir: Path) -> Config:
    """Read mox.conf, domains.conf and extra.conf from config_dir; raises ConfigError."""
    config_dir = Path(config_dir)
    config = resolve(config_dir, read_static(config_dir), read_domains(config_dir), read_extra(config_dir))
    check_dkim_keys(config)
    return config


def check_dkim_keys(config: Config) -> None:
    """Every DKIM selector's private key file can be read and fits its settings (mox checks the
    same when loading its config); raises ConfigError naming domains.conf, domain and selector."""
    from mox.dkim.keys import KeyFileError, key_algorithm, load_key_file

    for dname, dom in config.domains.items():
        for sname, sel in dom.dkim.selectors.items():
            where = f"{Path(config.config_dir) / DOMAINS_CONF}: domain {dname}: selector {sname}"
            try:
                key = load_key_file(Path(config.config_dir) / sel.private_key_file)
            except KeyFileError as e:
                raise ConfigError(f"{where}: {e}") from None
            if key_algorithm(key) == "ed25519" and sel.hash_effective != "sha256":
                # RFC 8463 3: ed25519-sha256 only.
                raise ConfigError(f"{where}: hash algorithm {sel.hash!r} is not supported with ed25519, only sha256 is")


def with_ports(config: Config, ports: dict[str, int]) -> Config:
    """A copy of config with other ports (e.g. from -port-base / -ports-offset)."""
    return msgspec.structs.replace(config, ports=dict(ports))


def localserve_ports(*, port_base: int | None = None, ports_offset: int | None = None) -> dict[str, int]:
    """Ports for localserve: standard + 1000 by default; ``port_base`` N gives N + standard
    (0 means free ports for every service); ``ports_offset`` N gives standard + 1000 + N."""
    if port_base is not None and ports_offset is not None:
        raise ValueError("use either -port-base or -ports-offset, not both")
    if port_base == 0:
        return {name: 0 for name in STANDARD_PORTS}
    if port_base is None:
        port_base = 1000 + (ports_offset or 0)
    ports = {name: port_base + p for name, p in STANDARD_PORTS.items()}
    for name, p in ports.items():
        if not 1 <= p <= 65535:
            raise ValueError(f"port {p} for {name} out of range")
    return ports


def user_config_dir() -> Path:
    """The per-user config dir, as Go's os.UserConfigDir (cwd when it cannot be determined)."""
    import sys

    if sys.platform == "win32":
        d = os.environ.get("AppData")
        return Path(d) if d else Path(".")
    if sys.platform == "darwin":
        home = os.environ.get("HOME")
        return Path(home) / "Library" / "Application Support" if home else Path(".")
    d = os.environ.get("XDG_CONFIG_HOME")
    if d and os.path.isabs(d):
        return Path(d)
    home = os.environ.get("HOME")
    return Path(home) / ".config" if home else Path(".")


def default_localserve_dir() -> Path:
    return user_config_dir() / "mox-localserve"
