"""Converting a config dir written by earlier versions (JSON) to mox's sconf files, once.

Earlier versions wrote ``mox.conf`` and ``domains.conf`` as JSON with snake_case fields. At start,
``convert_json_config(dir)`` turns them into mox.conf, domains.conf and extra.conf in sconf (see
mox.config), keeping the JSON files beside them as ``mox.conf.json`` and ``domains.conf.json``,
and logs one line. Every setting carries over; keys, certificates, the admin password and the
accounts' data are files of their own and stay as they are. Formats handled:

- the current JSON format (listener ``ports`` per service, ``limits``, per-account daily limits,
  per-domain ``dkim``);
- the earlier one with a global ``max_outgoing_messages_per_day`` in mox.conf (0: no limit),
  which becomes each account's MaxOutgoingMessagesPerDay unless the account has its own.

A field this code does not know stops the conversion with the file and field named, and changes
nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from mox import config as mconfig
from mox import mlog

log = mlog.get_logger("config")

_STATIC_FIELDS = {
    "listener", "data_dir", "hostname", "log_level", "localserve", "admin_password_file", "tls",
    "max_message_size", "quota_message_size", "failure_timeout", "limits", "smtp_idle_timeout",
    "smtp_data_timeout", "smtp_rcpt_max", "queue_retry_delays", "web_max_request_body",
    "web_request_deadline", "max_outgoing_messages_per_day",
}
_LISTENER_FIELDS = {"ips", "ports", "no_require_starttls"}
_DOMAINS_FIELDS = {"domains", "accounts"}
_DOMAIN_FIELDS = {"catchall_separator", "dkim"}
_ACCOUNT_FIELDS = {"addresses", "quota", "max_outgoing_messages_per_day", "max_first_time_recipients_per_day"}
_EXTRA_FIELDS = ("failure_timeout", "smtp_idle_timeout", "smtp_data_timeout", "smtp_rcpt_max",
                 "queue_retry_delays", "web_max_request_body", "web_request_deadline")


def is_json_config(config_dir: Path) -> bool:
    """Whether mox.conf in config_dir is in the earlier JSON format."""
    try:
        with open(Path(config_dir) / mconfig.MOX_CONF, "rb") as f:
            return f.read(4096).lstrip().startswith(b"{")
    except OSError:
        return False


def _load(path: Path) -> dict[str, Any]:
    try:
        v = msgspec.json.decode(path.read_bytes())
    except OSError as e:
        raise mconfig.ConfigError(f"{path}: {e.strerror or e}") from None
    except msgspec.DecodeError as e:
        raise mconfig.ConfigError(f"{path}: converting from JSON: {e}") from None
    if not isinstance(v, dict):
        raise mconfig.ConfigError(f"{path}: converting from JSON: not an object")
    return v


def _check(path: Path, where: str, d: Any, known: set[str]) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise mconfig.ConfigError(f"{path}: converting from JSON: {where}: not an object")
    unknown = sorted(set(d) - known)
    if unknown:
        raise mconfig.ConfigError(f"{path}: converting from JSON: {where}: unknown field {unknown[0]!r}")
    return d


def convert(static_json: dict[str, Any], domains_json: dict[str, Any], *, static_path: Path, domains_path: Path) -> tuple[
        mconfig.StaticConfig, mconfig.DomainsConfig, mconfig.ExtraConfig]:
    """The sconf structs for the JSON contents; raises ConfigError."""
    st = _check(static_path, "top level", static_json, _STATIC_FIELDS)
    lst = _check(static_path, "listener", st.get("listener"), _LISTENER_FIELDS)
    dm = _check(domains_path, "top level", domains_json, _DOMAINS_FIELDS)
    try:
        ports: dict[str, int] = dict(lst.get("ports") or {})
        nrs = bool(lst.get("no_require_starttls", False))
        tls = st.get("tls")
        web = {kind: ports[kind] for kind in ("http", "https") if kind in ports}

        def websvc(kind: str, path: str | None) -> mconfig.WebService:
            if kind not in web:
                return mconfig.WebService(enabled=False)
            return mconfig.WebService(enabled=True, port=web[kind], path=path or "")

        def svc(cls: Any, name: str, **kw: Any) -> Any:
            return cls(enabled=True, port=ports[name], **kw) if name in ports else cls(enabled=False, **kw)

        listener = mconfig.Listener(
            ips=list(lst.get("ips") or []),
            tls=mconfig.ListenerTLS(key_certs=[mconfig.KeyCert(cert_file=tls["cert_file"], key_file=tls["key_file"])])
            if tls else None,
            smtp_max_message_size=int(st.get("max_message_size", 104857600)),
            smtp=svc(mconfig.SMTPService, "smtp"),
            submission=svc(mconfig.SubmissionService, "submission", no_require_starttls=nrs),
            submissions=svc(mconfig.SubmissionsService, "submissions"),
            imap=svc(mconfig.IMAPService, "imap", no_require_starttls=nrs),
            imaps=svc(mconfig.IMAPSService, "imaps"),
            account_http=websvc("http", "/account/"),
            account_https=websvc("https", "/account/"),
            webmail_http=websvc("http", "/webmail/"),
            webmail_https=websvc("https", "/webmail/"),
            web_api_http=websvc("http", "/webapi/"),
            web_api_https=websvc("https", "/webapi/"),
            admin_http=websvc("http", None),
            admin_https=websvc("https", None),
        )
        accounts_json = dm.get("accounts") or {}
        old_global_limit = st.get("max_outgoing_messages_per_day")
        accounts: dict[str, mconfig.AccountConfig] = {}
        for name, a in accounts_json.items():
            a = _check(domains_path, f"accounts.{name}", a, _ACCOUNT_FIELDS)
            per_day = int(a.get("max_outgoing_messages_per_day", 0))
            if per_day == 0 and old_global_limit is not None:
                # The earlier global limit: 0 meant no limit.
                per_day = int(old_global_limit) if int(old_global_limit) > 0 else -1
            accounts[name] = mconfig.AccountConfig.with_addresses(
                list(a.get("addresses") or []),
                quota_message_size=int(a.get("quota", 0)),
                max_outgoing_messages_per_day=per_day,
                max_first_time_recipients_per_day=int(a.get("max_first_time_recipients_per_day", 0)),
            )
        domains: dict[str, mconfig.DomainConfig] = {}
        for name, d in (dm.get("domains") or {}).items():
            d = _check(domains_path, f"domains.{name}", d, _DOMAIN_FIELDS)
            dkim = _dkim(d.get("dkim") or {"selectors": {}})
            domains[name] = mconfig.DomainConfig(
                # The earlier default separator was "+".
                localpart_catchall_separator=d.get("catchall_separator", "+"),
                dkim=dkim,
            )
        postmaster = "mox" if "mox" in accounts else (sorted(accounts)[0] if accounts else "")
        static = mconfig.StaticConfig(
            data_dir=st.get("data_dir", "."),
            log_level=st.get("log_level", "info"),
            hostname=st.get("hostname", "localhost"),
            admin_password_file=st.get("admin_password_file", "adminpasswd"),
            pedantic=bool(st.get("localserve", False)),
            listeners={"local": listener},
            postmaster=mconfig.Postmaster(account=postmaster, mailbox="Inbox"),
            quota_message_size=int(st.get("quota_message_size", 0)),
        )
        limits = _limits(st.get("limits") or {})
        extra = mconfig.ExtraConfig(limits=limits, **{k: st[k] for k in _EXTRA_FIELDS if k in st})
        return static, mconfig.DomainsConfig(domains=domains, accounts=accounts), extra
    except mconfig.ConfigError:
        raise
    except (KeyError, TypeError, ValueError, msgspec.ValidationError) as e:
        raise mconfig.ConfigError(f"{static_path}: converting from JSON: {e}") from None


def _dkim(d: dict[str, Any]) -> mconfig.DKIMConfig:
    """The JSON dkim (snake_case names, the same structure) as DKIMConfig."""

    def rename(v: Any) -> Any:
        if isinstance(v, dict):
            return {mconfig.mox_name(k): rename(x) for k, x in v.items()}
        return v

    selectors = {name: rename(sel) for name, sel in (d.get("selectors") or {}).items()}
    return msgspec.convert({"Selectors": selectors, "Sign": d.get("sign") or []}, mconfig.DKIMConfig)


def _limits(d: dict[str, Any]) -> mconfig.Limits:
    """The JSON limits (snake_case names) as Limits."""
    fields = {f.name for f in msgspec.structs.fields(mconfig.Limits)}
    unknown = sorted(set(d) - fields)
    if unknown:
        raise ValueError(f"limits: unknown field {unknown[0]!r}")
    kw: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
    return mconfig.Limits(**kw)


def convert_json_config(config_dir: Path) -> bool:
    """Convert a JSON config dir to sconf files (once); True when it converted."""
    d = Path(config_dir)
    if not is_json_config(d):
        return False
    static_path, domains_path = d / mconfig.MOX_CONF, d / mconfig.DOMAINS_CONF
    domains_json = d / (mconfig.DOMAINS_CONF + ".json")
    # After an interrupted conversion, domains.conf may be sconf already; its JSON is kept.
    domains_src = domains_json if domains_json.exists() else domains_path
    static, domains, extra = convert(_load(static_path), _load(domains_src), static_path=static_path,
                                     domains_path=domains_src)
    texts = {name: mconfig.encode(v) for name, v in
             ((mconfig.MOX_CONF, static), (mconfig.DOMAINS_CONF, domains), (mconfig.EXTRA_CONF, extra))}
    # Order for crash safety: the JSON kept first, mox.conf (whose JSON marks an unconverted
    # dir) replaced last.
    if not domains_json.exists():
        mconfig.write_file(domains_json, domains_path.read_bytes())
    mconfig.write_file(d / (mconfig.MOX_CONF + ".json"), static_path.read_bytes())
    for name in (mconfig.EXTRA_CONF, mconfig.DOMAINS_CONF, mconfig.MOX_CONF):
        mconfig.write_file(d / name, texts[name])
    log.info("converted config files from json to sconf format", dir=str(d),
             kept=f"{mconfig.MOX_CONF}.json {mconfig.DOMAINS_CONF}.json")
    return True
