"""Configuration: the two files in a config dir and the `Config` the servers read.

A config dir holds ``mox.conf`` (static: hostname, data dir, listeners, TLS, limits) and
``domains.conf`` (dynamic: domains and accounts). Both are JSON, decoded with msgspec into the
``StaticConfig`` and ``DomainsConfig`` structs below, with unknown fields rejected so a typo is an
error instead of a silently ignored setting. Relative paths are relative to the config dir.

``load_config(config_dir)`` combines both into one frozen ``Config``: the value servers get as
``ctx.config`` (fields listed in docs/architecture.md).
"""

from __future__ import annotations

import ipaddress
import os
import unicodedata
from pathlib import Path

import msgspec

MOX_CONF = "mox.conf"
DOMAINS_CONF = "domains.conf"

#: Services and their standard ports; localserve uses these + 1000.
STANDARD_PORTS = {
    "smtp": 25,
    "submission": 587,
    "submissions": 465,
    "imap": 143,
    "imaps": 993,
    "http": 80,
    "https": 443,
}
SERVICES = tuple(STANDARD_PORTS)


class ConfigError(Exception):
    """A config file is missing, unreadable or invalid; the message says which and why."""


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(s: str) -> float:
    """Seconds in a duration written as mox (Go) writes them: "72h", "1h30m", "90s", "1.5h".
    Raises ValueError."""
    import re

    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|ms|s|m|h)", s)
    if not s or "".join(n + u for n, u in parts) != s:
        raise ValueError(f"invalid duration {s!r} (examples: 72h, 1h30m, 90s)")
    return sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


class Base(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    pass


class Limits(Base):
    """Connection and authentication limits per IP class (narrow, middle, wide).

    IP classes are IPv4 /32, /26, /21 and IPv6 /64, /48, /32 (as mox). Defaults are mox's;
    localserve writes much higher values so parallel test suites on 127.0.0.1 never hit them.
    """

    connections_per_minute: tuple[int, int, int] = (300, 900, 2700)
    concurrent_connections: tuple[int, int, int] = (30, 90, 270)
    auth_failures_per_minute: tuple[int, int, int] = (10, 30, 90)
    auth_failures_per_day: tuple[int, int, int] = (50, 150, 450)
    #: Per connection (mox.limits.slowmode): slow mode from this many failed authentications (0: never),
    #: then seconds before each read, seconds per written byte, and at most this many seconds of
    #: slow writing per write (the rest goes at once).
    slow_after_auth_failures: int = 3
    slow_read_delay: float = 1.0
    slow_write_delay: float = 1.0
    slow_write_max: float = 28.0
    #: Per connection: seconds times (failures - slow_after_auth_failures) before each attempt.
    auth_attempt_delay: float = 1.0
    #: Password hashes (scrypt/PBKDF2, in worker threads) running at once for IMAP, SMTP and web
    #: together; 0: one per CPU. More logins wait their turn instead of starving the machine.
    concurrent_password_hashes: int = 0


LOCALSERVE_LIMITS = Limits(
    connections_per_minute=(100_000, 300_000, 900_000),
    concurrent_connections=(10_000, 30_000, 90_000),
    auth_failures_per_minute=(10_000, 30_000, 90_000),
    auth_failures_per_day=(1_000_000, 3_000_000, 9_000_000),
    # A test that fails logins on one connection is slowed (reads as mox), but a slow write
    # never takes more than 2 s.
    slow_write_max=2.0,
)


class TLSConfig(Base):
    cert_file: str
    key_file: str


class ListenerConfig(Base):
    ips: list[str]
    #: service name (see SERVICES) -> port; a service not listed is not served.
    ports: dict[str, int]
    no_require_starttls: bool = False

    def __post_init__(self) -> None:
        for ip in self.ips:
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                raise ValueError(f"invalid ip address {ip!r}") from None
        for name, port in self.ports.items():
            if name not in STANDARD_PORTS:
                raise ValueError(f"unknown service {name!r}, known: {', '.join(SERVICES)}")
            if not 0 <= port <= 65535:
                raise ValueError(f"port {port} for {name} out of range")


class StaticConfig(Base):
    """The contents of mox.conf."""

    listener: ListenerConfig
    data_dir: str = "."
    hostname: str = "localhost"
    log_level: str = "info"
    localserve: bool = False
    admin_password_file: str = "adminpasswd"
    tls: TLSConfig | None = None
    max_message_size: int = 104857600
    #: Default quota in bytes of message files per account (mox's QuotaMessageSize); 0: none.
    quota_message_size: int = 0
    failure_timeout: float = 3600.0
    limits: Limits = Limits()
    #: SMTP: seconds of silence between commands before ``421 4.4.2``; seconds for a whole DATA phase.
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


class Canonicalization(Base):
    """How a DKIM signature canonicalizes (RFC 6376 3.4): "relaxed" tolerates changes in
    whitespace (and header case) in transit, "simple" none."""

    header_relaxed: bool = False
    body_relaxed: bool = False


class DKIMSelector(Base):
    """A DKIM key (mox config.Selector). The public key is published at
    ``<selector>._domainkey.<domain>`` (see ``mox config dnsrecords``)."""

    #: An RSA or ed25519 private key file in PKCS #8 PEM form, relative to the config dir.
    private_key_file: str
    #: "sha256" (default when empty) or the old, not recommended, "sha1" (RSA only).
    hash: str = ""
    canonicalization: Canonicalization = msgspec.field(default_factory=Canonicalization)
    #: Header fields to sign; empty: mox's default set (From, To, Cc, Bcc, Reply-To,
    #: References, In-Reply-To, Subject, Date, Message-Id, Content-Type).
    headers: list[str] = []
    #: Do not "oversign": allow more fields of the signed names to be added later.
    dont_seal_headers: bool = False
    #: How long a signature is valid, as a duration such as "72h"; empty: no expiration.
    expiration: str = ""

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


class DKIMConfig(Base):
    """The DKIM keys of a domain, and which of them sign outgoing messages."""

    selectors: dict[str, DKIMSelector] = {}
    sign: list[str] = []

    def __post_init__(self) -> None:
        import re

        for name in self.selectors:
            # A selector is a DNS name below _domainkey (RFC 6376 3.1).
            if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*", name):
                raise ValueError(f"invalid dkim selector name {name!r}")
        for name in self.sign:
            if name not in self.selectors:
                raise ValueError(f"unknown selector {name} for signing")


class DomainConfig(Base):
    catchall_separator: str = "+"
    dkim: DKIMConfig = msgspec.field(default_factory=DKIMConfig)


class AccountConfig(Base):
    addresses: list[str]
    #: Bytes of message files; 0: the default (mox.conf quota_message_size), negative: unlimited.
    quota: int = 0
    #: Recipients of messages submitted (SMTP submission, webapi, webmail) in a 24-hour window;
    #: over it 451 4.7.1. mox's MaxOutgoingMessagesPerDay: 0 means mox's default 1000; negative
    #: (ours): no limit.
    max_outgoing_messages_per_day: int = 0
    #: First-time recipients in a 24-hour window; mox's MaxFirstTimeRecipientsPerDay: 0 means mox's
    #: default 200; negative (ours): no limit.
    max_first_time_recipients_per_day: int = 0


class DomainsConfig(Base):
    """The contents of domains.conf."""

    domains: dict[str, DomainConfig]
    accounts: dict[str, AccountConfig]

    def __post_init__(self) -> None:
        from mox.names import account_name_problem

        for name, acc in self.accounts.items():
            problem = account_name_problem(name) if name else "empty name"
            if problem is not None or unicodedata.normalize("NFC", name) != name:
                raise ValueError(f"invalid account name {name!r}: {problem or 'not in NFC form'}")
            for addr in acc.addresses:
                _, sep, domain = addr.rpartition("@")
                if not sep or domain.lower() not in self.domains:
                    raise ValueError(f"address {addr!r} of account {name!r} is not in a configured domain")


#: mox's defaults when an account sets no daily limits (store/account.go SendLimitReached).
DEFAULT_MAX_OUTGOING_MESSAGES_PER_DAY = 1000
DEFAULT_MAX_FIRST_TIME_RECIPIENTS_PER_DAY = 200


class Config(Base):
    """Everything the servers read, resolved: absolute paths, one listener."""

    hostname: str = "localhost"
    config_dir: str = "."
    data_dir: str = "."
    log_level: str = "info"
    localserve: bool = False
    #: AUTH/LOGIN allowed without TLS (localserve: True).
    no_require_starttls: bool = False
    max_message_size: int = 104857600
    #: Default bytes per account (mox.conf quota_message_size), 0 = unlimited; an account's own
    #: ``quota`` overrides it (account_quota).
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
    limits: Limits = Limits()
    #: SMTP: seconds of silence between commands before ``421 4.4.2``; seconds for a whole DATA phase.
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
        ``quota`` when set (negative: unlimited), else the server default ``quota`` (mox.conf
        ``quota_message_size``)."""
        acc_cfg = self.accounts.get(account) if account else None
        q = acc_cfg.quota if acc_cfg is not None else 0
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

    @property
    def config_path(self) -> Path:
        return Path(self.config_dir)


_json_encoder = msgspec.json.Encoder()


def encode_json(value: object) -> bytes:
    """Readable JSON for config files: indented, ending in a newline."""
    return msgspec.json.format(_json_encoder.encode(value), indent=2) + b"\n"


def _read(path: Path, typ: type) -> object:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror or e}") from None
    try:
        return msgspec.json.decode(data, type=typ)
    except (msgspec.ValidationError, msgspec.DecodeError) as e:
        raise ConfigError(f"{path}: {e}") from None


def read_static(config_dir: Path) -> StaticConfig:
    return _read(Path(config_dir) / MOX_CONF, StaticConfig)  # type: ignore[return-value]


def read_domains(config_dir: Path) -> DomainsConfig:
    return _read(Path(config_dir) / DOMAINS_CONF, DomainsConfig)  # type: ignore[return-value]


def write_file(path: Path, data: bytes, *, secret: bool = False) -> None:
    """Write a config file atomically (temp file + rename), created with mode 0660, or 0600 for
    a ``secret`` (private key, password hash), where the platform has modes."""
    from mox.store.layout import SECRET_MODE, write_file_durable

    write_file_durable(Path(path), path.with_name(path.name + ".tmp"), data, fsync=True,
                       mode=SECRET_MODE if secret else 0o660)


def write_config(config_dir: Path, static: StaticConfig, domains: DomainsConfig) -> None:
    config_dir = Path(config_dir)
    write_file(config_dir / MOX_CONF, encode_json(static))
    write_file(config_dir / DOMAINS_CONF, encode_json(domains))


def resolve(config_dir: Path, static: StaticConfig, domains: DomainsConfig) -> Config:
    """Combine both files into a Config with absolute paths."""
    config_dir = Path(config_dir).absolute()

    def path(p: str | None) -> str | None:
        if p is None:
            return None
        return str((config_dir / p).absolute())

    seps = {d.catchall_separator for d in domains.domains.values()}
    return Config(
        hostname=static.hostname,
        config_dir=str(config_dir),
        data_dir=str(Path(path(static.data_dir) or config_dir).resolve()),
        log_level=static.log_level,
        localserve=static.localserve,
        no_require_starttls=static.listener.no_require_starttls,
        max_message_size=static.max_message_size,
        quota=max(static.quota_message_size, 0),
        catchall_separator=seps.pop() if len(seps) == 1 else "+",
        domains=dict(domains.domains),
        accounts=dict(domains.accounts),
        ports=dict(static.listener.ports),
        ips=list(static.listener.ips),
        failure_timeout=static.failure_timeout,
        tls_cert_file=path(static.tls.cert_file) if static.tls else None,
        tls_key_file=path(static.tls.key_file) if static.tls else None,
        admin_password_file=path(static.admin_password_file),
        limits=static.limits,
        smtp_idle_timeout=static.smtp_idle_timeout,
        smtp_data_timeout=static.smtp_data_timeout,
        smtp_rcpt_max=static.smtp_rcpt_max,
        queue_retry_delays=static.queue_retry_delays,
        web_max_request_body=static.web_max_request_body,
        web_request_deadline=static.web_request_deadline,
    )


def load_config(config_dir: Path) -> Config:
    """Read mox.conf and domains.conf from config_dir; raises ConfigError."""
    config = resolve(Path(config_dir), read_static(Path(config_dir)), read_domains(Path(config_dir)))
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
