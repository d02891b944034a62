"""Commands that talk to a running mox over its control channel: `stop`, `loglevels`."""

from __future__ import annotations

from pathlib import Path

import click

from mox.cli.common import ctl_client
from mox.cli.common import dir_option as _dir_option


def _client(dir_: Path | None):  # noqa: ANN202
    return ctl_client(dir_, timeout=30)

from mox import mlog


@click.command("stop")
@_dir_option
def stop(dir_: Path | None) -> None:
    """Shut down a running mox gracefully (3s for existing connections)."""
    with _client(dir_) as c:
        c._sock.settimeout(None)
        c.call("stop")
        c.wait_closed()
    click.echo("mox stopped")


@click.command("loglevels")
@_dir_option
@click.argument("level", required=False)
@click.argument("pkg", required=False)
def loglevels(dir_: Path | None, level: str | None, pkg: str | None) -> None:
    """Print the log levels of a running mox, or set LEVEL (for package PKG, or the default).

    An empty LEVEL ("") removes the level of PKG. Levels: tracedata traceauth trace debug info
    warn error fatal print.
    """
    if level is not None and level != "" and level not in mlog.LEVELS:
        raise click.UsageError(f"unknown log level {level!r}, known: {' '.join(mlog.LEVELS)}")
    with _client(dir_) as c:
        if level is None:
            for line in c.call("loglevels", stream=True):
                click.echo(line)
        else:
            c.call("setloglevels", pkg or "", level)
