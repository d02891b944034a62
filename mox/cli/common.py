"""Pieces shared by the command modules that talk to a running mox over the control channel."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from mox.ctl import CtlClient

dir_option = click.option(
    "-dir", "--dir", "dir_", type=click.Path(path_type=Path), default=None,
    help="data dir of the running mox (default: the localserve dir).",
)


def ctl_client(dir_: Path | None, *, timeout: float = 30) -> CtlClient:
    """A control-channel client for the data dir (default: the localserve dir)."""
    from mox.config import default_localserve_dir
    from mox.ctl import CtlClient

    return CtlClient(dir_ if dir_ is not None else default_localserve_dir(), timeout=timeout)


def config_group() -> click.Group:
    """The shared `mox config` group, created by whichever command module asks first."""
    from mox.cli import cli

    group = cli.commands.get("config")
    if isinstance(group, click.Group):
        return group

    @click.group("config")
    def config() -> None:
        """Change the configuration of a running mox (accounts, addresses, TLS public keys)."""

    cli.add_command(config)
    return config
