"""`mox deliver ADDRESS < message`: deliver a message straight into the account of a configured
address of a running mox, without SMTP and the queue (mox main.go cmdDeliver)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mox.cli.common import ctl_client
from mox.cli.common import dir_option as _dir_option


@click.command("deliver")
@_dir_option
@click.argument("address")
def deliver(dir_: Path | None, address: str) -> None:
    """Deliver the message on standard input to ADDRESS, into its account's Inbox."""
    data = sys.stdin.buffer.read()
    with ctl_client(dir_, timeout=60) as c:
        c.call("deliver", address)
        c.write_stream(data)
        line = c.read_line()
    if line != "ok":
        from mox.cli import UserError

        raise UserError(f"deliver: {line}")
    click.echo("message delivered")
