"""``mox.conf`` (``StaticConfig``, mox's config.Static): hostname, data dir, listeners and their
services, TLS, the postmaster."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from mox.config.base import Base, mox_name, SCONF_NOTE, WEB_PATHS
from mox.config.sconf import field


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
