"""Pieces shared by the command modules that talk to a running mox over the control channel."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from mox.ctl import CtlClient

dir_option = click.option(
    "-dir", "--dir", "dir_", type=click.Path(path_type=Path), default=None,
    help="data dir of the running mox (default: from -config, else the localserve dir).",
)


def config_file() -> Path | None:
    """The global ``-config FILE`` (or ``$MOXCONF``), None when not given."""
    ctx = click.get_current_context(silent=True)
    app = ctx.find_root().obj if ctx is not None else None
    return getattr(app, "config", None)


def config_dir(dir_: Path | None = None) -> Path:
    """The config dir: ``-dir`` when given, else that of ``-config`` (mox.conf's directory),
    else the localserve dir."""
    from mox.config import MOX_CONF, default_localserve_dir

    if dir_ is not None:
        return dir_
    cf = config_file()
    if cf is None:
        return default_localserve_dir()
    from mox.cli import UserError

    if cf.name != MOX_CONF:
        raise UserError(f"-config {cf}: must name a {MOX_CONF} file (the other config files are beside it)")
    if not cf.is_file():
        raise UserError(f"-config {cf}: no such file")
    return cf.parent


def data_dir(dir_: Path | None = None) -> Path:
    """The data dir: ``-dir`` when given, else DataDir of ``-config``'s mox.conf (relative to
    it), else the localserve dir (there config and data dir are one)."""
    if dir_ is not None or config_file() is None:
        return config_dir(dir_)
    from mox import config as mconfig

    d = config_dir()
    return (d / mconfig.read_static(d).data_dir).resolve()


def ctl_client(dir_: Path | None, *, timeout: float = 30) -> CtlClient:
    """A control-channel client for the data dir of the running mox: ``-dir``, else the one
    ``-config`` names, else the localserve dir."""
    from mox.ctl import CtlClient

    return CtlClient(data_dir(dir_), timeout=timeout)


def config_group() -> click.Group:
    """The shared `mox config` group, created by whichever command module asks first."""
    from mox.cli import cli

    group = cli.commands.get("config")
    if isinstance(group, click.Group):
        return group

    @click.group("config")
    def config() -> None:
        """The configuration: describe and test the config files, change a running mox
        (accounts, addresses, domains, aliases, TLS public keys)."""

    cli.add_command(config)
    return config
