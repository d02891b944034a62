"""Pieces shared by the command modules: the global settings, user errors, and the control
channel client of the commands that talk to a running mox."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from mox.config import Config
    from mox.ctl import CtlClient

class App:
    """Global settings, passed to commands as ``ctx.obj``."""

    def __init__(self, loglevel: str | None, checkconsistency: bool, config: Path | None = None) -> None:
        self.loglevel = loglevel
        self.checkconsistency = checkconsistency
        #: -config FILE / $MOXCONF: the static config file (mox.conf, by any name) of the mox to
        #: talk to (its dir holds the other config files); None: the default localserve dir.
        self.config = config


class UserError(click.ClickException):
    """An error a user caused or can fix; printed as one line."""


class DashArgCommand(click.Command):
    """A command whose positional arguments may start with "-" (a TLS key fingerprint is
    base64url, so one in 64 starts with "-"): from the first token that is not one of the
    command's own options, everything is an argument, as if "--" preceded it. Options still
    come first, as with mox's Go flag parsing."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        params = {n: p for p in self.get_params(ctx) for n in (*p.opts, *p.secondary_opts)}
        out: list[str] = []
        i = 0
        while i < len(args):
            a = args[i]
            if a == "--":
                out.extend(args[i:])
                break
            if not a.startswith("-") or a == "-":
                out.append(a)
                i += 1
                continue
            p = params.get(a.split("=", 1)[0])
            if p is None:
                out.extend(["--", *args[i:]])
                break
            out.append(a)
            takes_value = isinstance(p, click.Option) and not p.is_flag and not p.count
            if takes_value and "=" not in a and i + 1 < len(args):
                out.append(args[i + 1])
                i += 1
            i += 1
        return super().parse_args(ctx, out)


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
    """The config dir: ``-dir`` when given, else the directory of the ``-config`` file (by any
    name, as mox: domains.conf is looked up beside it, main.go), else the localserve dir."""
    from mox.config import default_localserve_dir

    if dir_ is not None:
        return dir_
    cf = config_file()
    if cf is None:
        return default_localserve_dir()
    if not cf.is_file():
        raise UserError(f"-config {cf}: no such file")
    return cf.parent


def static_file(dir_: Path | None = None) -> Path | None:
    """The static config file that ``-config`` names, when it decides the config (no ``-dir``);
    None: mox.conf in config_dir()."""
    return config_file() if dir_ is None else None


def load_config(dir_: Path | None = None) -> Config:
    """The config of config_dir(dir_), its static file as static_file(dir_) says."""
    from mox.config import load_config as load

    return load(config_dir(dir_), static_file(dir_))


def data_dir(dir_: Path | None = None) -> Path:
    """The data dir: ``-dir`` when given, else DataDir of the ``-config`` file (relative to its
    directory), else the localserve dir (there config and data dir are one)."""
    if dir_ is not None or config_file() is None:
        return config_dir(dir_)
    from mox import config as mconfig

    d = config_dir()
    return (d / mconfig.read_static(d, static_file()).data_dir).resolve()


def ctl_client(dir_: Path | None, *, timeout: float | None = 30) -> CtlClient:
    """A control-channel client for the data dir of the running mox: ``-dir``, else the one
    ``-config`` names, else the localserve dir."""
    from mox.ctl import CtlClient

    return CtlClient(data_dir(dir_), timeout=timeout)
