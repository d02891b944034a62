"""Reading, writing and editing the config files (sconf, with each field's comment as mox writes
new files), and the per-user config dir where localserve keeps its own."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec

from mox.config import sconf
from mox.config.base import ConfigError, DOMAINS_CONF, EXTRA_CONF, MOX_CONF
from mox.config.domains import DomainsConfig
from mox.config.extra import ExtraConfig
from mox.config.static import StaticConfig


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
        raise ConfigError(*e.errors) from None


def static_path(config_dir: Path, static_file: Path | None = None) -> Path:
    """The static config file: ``static_file`` (mox's -config names it, by any name; the other
    files are beside it), else mox.conf in config_dir."""
    return Path(static_file) if static_file is not None else Path(config_dir) / MOX_CONF


def read_static(config_dir: Path, static_file: Path | None = None) -> StaticConfig:
    static: StaticConfig = parse_file(static_path(config_dir, static_file), StaticConfig)
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


def write_file(path: Path, data: bytes, *, secret: bool = False, durable: bool = True) -> None:
    """Write a config file atomically (temp file + rename), created with mode 0660, or 0600 for
    a ``secret`` (private key, password hash), where the platform has modes. ``durable``: on
    disk (fsync) before returning; off only for a directory that is thrown away at exit
    (``localserve -ephemeral``)."""
    from mox.store.layout import SECRET_MODE, write_file_durable

    write_file_durable(Path(path), path.with_name(path.name + ".tmp"), data, fsync=durable,
                       mode=SECRET_MODE if secret else 0o660)


def encode(value: msgspec.Struct) -> bytes:
    """A config file's text in sconf, with the comments of each field (as mox writes new files)."""
    return sconf.write(value, docs=True).encode("utf-8")


def write_domains(config_dir: Path, domains: DomainsConfig, *, durable: bool = True) -> None:
    write_file(Path(config_dir) / DOMAINS_CONF, encode(domains), durable=durable)


def write_config(
    config_dir: Path, static: StaticConfig, domains: DomainsConfig, extra: ExtraConfig | None = None, *,
    durable: bool = True,
) -> None:
    config_dir = Path(config_dir)
    write_file(config_dir / MOX_CONF, encode(static), durable=durable)
    write_domains(config_dir, domains, durable=durable)
    if extra is not None:
        write_file(config_dir / EXTRA_CONF, encode(extra), durable=durable)


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
