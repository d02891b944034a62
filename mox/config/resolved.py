"""``Config``: the files combined into the one frozen value the servers read as ``ctx.config``
(absolute paths, one listener), with ``resolve``/``load_config`` that make it and the helpers that
derive copies (other domains, other ports)."""

from __future__ import annotations

from pathlib import Path

import msgspec

from mox.config.base import ConfigError, DOMAINS_CONF, STANDARD_PORTS
from mox.config.domains import AccountConfig, Alias, DomainConfig, DomainsConfig
from mox.config.extra import ExtraConfig, Limits
from mox.config.files import read_domains, read_extra, read_static, static_path
from mox.config.static import StaticConfig


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




def resolve(
    config_dir: Path, static: StaticConfig, domains: DomainsConfig, extra: ExtraConfig | None = None,
    static_file: Path | None = None,
) -> Config:
    """Combine the files into a Config with absolute paths; raises ConfigError with every
    setting that does not fit together. ``static_file``: the static config's path when it is not
    config_dir's mox.conf (for the messages)."""
    config_dir = Path(config_dir).absolute()
    extra = extra if extra is not None else ExtraConfig()

    def path(p: str) -> str:
        return str((config_dir / p).absolute())

    static_name = static_path(config_dir, static_file)
    problems: list[str] = []
    lname, listener = next(iter(static.listeners.items()))
    where = f"{static_name}: Listeners.{lname}"
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
        problems.append(f"{where}: {e}")
    tls = listener.tls
    key_cert = tls.key_certs[0] if tls is not None and tls.key_certs else None
    if key_cert is None and any(s in ports for s in ("submissions", "imaps", "https")):
        problems.append(f"{where}: TLS.KeyCerts needed for Submissions, IMAPS and HTTPS")
    nrs = {svc.no_require_starttls for svc in (listener.submission, listener.imap) if svc.enabled}
    if len(nrs) > 1:
        problems.append(f"{where}: NoRequireSTARTTLS must be the same for Submission and IMAP in this implementation")
    pm = static.postmaster
    if pm.account not in domains.accounts:
        problems.append(f"{static_name}: Postmaster: account {pm.account!r} does not exist in {DOMAINS_CONF}")
    if problems:
        raise ConfigError(*problems)
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


def load_config(config_dir: Path, static_file: Path | None = None) -> Config:
    """Read mox.conf (or ``static_file``, any name: mox's -config), domains.conf and extra.conf
    from config_dir; raises ConfigError with every problem found (as mox's config test lists
    them): each file is read even when another has errors, and the settings across files are
    checked once all three could be read."""
    config_dir = Path(config_dir)
    problems: list[str] = []
    static = domains = extra = None
    try:
        static = read_static(config_dir, static_file)
    except ConfigError as e:
        if not static_path(config_dir, static_file).exists():
            raise  # not a config dir at all: the other files' absence says nothing more
        problems.extend(e.errors)
    try:
        domains = read_domains(config_dir)
    except ConfigError as e:
        problems.extend(e.errors)
    try:
        extra = read_extra(config_dir)
    except ConfigError as e:
        problems.extend(e.errors)
    if static is None or domains is None or extra is None:
        raise ConfigError(*problems)
    config = resolve(config_dir, static, domains, extra, static_file)
    check_dkim_keys(config)
    return config


def check_dkim_keys(config: Config) -> None:
    """Every DKIM selector's private key file can be read and fits its settings (mox checks the
    same when loading its config); raises ConfigError naming domains.conf, domain and selector
    of each one that does not."""
    from mox.dkim.keys import KeyFileError, key_file_algorithm

    problems = []
    for dname, dom in config.domains.items():
        for sname, sel in dom.dkim.selectors.items():
            where = f"{Path(config.config_dir) / DOMAINS_CONF}: domain {dname}: selector {sname}"
            try:
                kind = key_file_algorithm(Path(config.config_dir) / sel.private_key_file)
            except KeyFileError as e:
                problems.append(f"{where}: {e}")
                continue
            if kind == "ed25519" and sel.hash_effective != "sha256":
                # RFC 8463 3: ed25519-sha256 only.
                problems.append(f"{where}: hash algorithm {sel.hash!r} is not supported with ed25519, only sha256 is")
    if problems:
        raise ConfigError(*problems)


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
