"""Configuration: the files in a config dir and the `Config` the servers read.

A config dir holds, in mox's sconf format (``mox.config.sconf``; indent with tabs, see README "Config
files"), with mox's field names so that mox's documentation applies:

- ``mox.conf`` (``StaticConfig``, mox's config.Static): hostname, data dir, listeners, TLS;
- ``domains.conf`` (``DomainsConfig``, mox's config.Dynamic): domains, accounts, aliases, DKIM;
- ``extra.conf`` (``ExtraConfig``, optional): settings this implementation has and mox does not
  (connection limits, timeouts, queue retry delays, web limits), names in mox's style. Keeping
  them apart leaves mox.conf and domains.conf readable by mox itself.

Unknown or misspelled fields, wrong types and wrong indenting stop loading with the file, line
and field (``ConfigError``). Fields of mox that this implementation does not have are listed per
struct (``__sconf_unsupported__``) and named as such. Relative paths are relative to the config
dir. A config dir written by earlier versions (JSON) is converted once (``mox.config.convert``).

The package: ``base`` (file names, ports, mox's field names, ``Base``), one module per file
(``static`` for mox.conf, ``domains`` for domains.conf, ``extra`` for extra.conf), ``resolved``
(``Config``, ``load_config``), ``files`` (reading, writing, editing), ``sconf`` (the file format)
and ``convert`` (JSON config dirs of earlier versions). Every public name of the first five is
re-exported here: ``from mox import config``, ``config.<name>``.

``load_config(config_dir)`` combines the files into one frozen ``Config``: the value servers get
as ``ctx.config`` (fields listed in docs/architecture.md). Domains and accounts in it are the
domains.conf structs themselves.
"""

from __future__ import annotations

from mox.config.base import (
    Base,
    ConfigError,
    DOMAINS_CONF,
    EXTRA_CONF,
    MOX_CONF,
    mox_name,
    SCONF_NOTE,
    Seconds,
    SERVICES,
    STANDARD_PORTS,
    WEB_PATHS,
)
from mox.config.extra import (
    ExtraConfig,
    Limits,
    LOCALSERVE_LIMITS,
)
from mox.config.static import (
    CA,
    GlobalTLS,
    IMAPService,
    IMAPSService,
    KeyCert,
    Listener,
    ListenerTLS,
    PortService,
    Postmaster,
    SMTPService,
    StaticConfig,
    SubmissionService,
    SubmissionsService,
    WebService,
)
from mox.config.domains import (
    AccountConfig,
    Alias,
    AutomaticJunkFlags,
    Canonicalization,
    Destination,
    DKIMConfig,
    DKIMSelector,
    DomainConfig,
    DomainsConfig,
    IncomingWebhook,
    JunkFilter,
    LOGIN_DISABLED_MAX,
    OUTGOING_WEBHOOK_EVENTS,
    OutgoingWebhook,
    Ruleset,
)
from mox.config.resolved import (
    check_dkim_keys,
    Config,
    DEFAULT_MAX_FIRST_TIME_RECIPIENTS_PER_DAY,
    DEFAULT_MAX_OUTGOING_MESSAGES_PER_DAY,
    load_config,
    localserve_ports,
    resolve,
    with_domains,
    with_ports,
)
from mox.config.files import (
    default_localserve_dir,
    edit_file,
    encode,
    parse_file,
    read_domains,
    read_extra,
    read_static,
    static_path,
    user_config_dir,
    write_config,
    write_domains,
    write_file,
)

__all__ = [
    "AccountConfig",
    "Alias",
    "AutomaticJunkFlags",
    "Base",
    "CA",
    "Canonicalization",
    "check_dkim_keys",
    "Config",
    "ConfigError",
    "default_localserve_dir",
    "DEFAULT_MAX_FIRST_TIME_RECIPIENTS_PER_DAY",
    "DEFAULT_MAX_OUTGOING_MESSAGES_PER_DAY",
    "Destination",
    "DKIMConfig",
    "DKIMSelector",
    "DomainConfig",
    "DOMAINS_CONF",
    "DomainsConfig",
    "edit_file",
    "encode",
    "EXTRA_CONF",
    "ExtraConfig",
    "GlobalTLS",
    "IMAPService",
    "IMAPSService",
    "IncomingWebhook",
    "JunkFilter",
    "KeyCert",
    "Limits",
    "Listener",
    "ListenerTLS",
    "load_config",
    "LOCALSERVE_LIMITS",
    "localserve_ports",
    "LOGIN_DISABLED_MAX",
    "MOX_CONF",
    "mox_name",
    "OUTGOING_WEBHOOK_EVENTS",
    "OutgoingWebhook",
    "parse_file",
    "PortService",
    "Postmaster",
    "read_domains",
    "read_extra",
    "read_static",
    "resolve",
    "Ruleset",
    "SCONF_NOTE",
    "Seconds",
    "SERVICES",
    "SMTPService",
    "STANDARD_PORTS",
    "StaticConfig",
    "SubmissionService",
    "SubmissionsService",
    "user_config_dir",
    "WEB_PATHS",
    "WebService",
    "with_domains",
    "with_ports",
    "write_config",
    "write_domains",
    "write_file",
]
