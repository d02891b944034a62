"""`mox message parse FILE`: a message's parsed MIME structure as mox prints it (JSON of mox's
message.Part, main.go cmdMessageParse). Works offline, no running mox needed."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("message")
def message() -> None:
    """Work with message files."""


@message.command("parse")
@click.option("-smtputf8", "--smtputf8", is_flag=True, help="check if message needs smtputf8.")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def parse(smtputf8: bool, file: Path) -> None:
    """Parse message FILE, print its JSON representation."""
    from mox.message.moxjson import message_json, needs_smtputf8

    try:
        data = file.read_bytes()
    except OSError as e:
        from mox.cli import UserError

        raise UserError(f"open: {e.strerror}: {file}") from None
    click.echo(message_json(data), nl=False)
    if smtputf8:
        click.echo(f"message needs smtputf8: {str(needs_smtputf8(data)).lower()}")
