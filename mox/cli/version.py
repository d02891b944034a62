"""`mox version` and `mox help [command ...]`."""

from __future__ import annotations

import platform
import sys

import click


@click.command("version")
def version() -> None:
    """Print the mox version."""
    from mox import __version__

    click.echo(f"mox {__version__}")
    click.echo(f"python {platform.python_version()} {sys.platform}/{platform.machine().lower()}")


@click.command("help")
@click.argument("command", nargs=-1)
@click.pass_context
def help_(ctx: click.Context, command: tuple[str, ...]) -> None:
    """Print help for mox, or for COMMAND. Without COMMAND, every command is listed with its
    arguments, as mox's usage does."""
    root = ctx.find_root()
    if not command:
        click.echo(root.get_help())
        click.echo("\nAll commands:")
        for line in _usage_lines(root.command, root, ["mox"]):
            click.echo("  " + line)
        return
    group = root.command
    parent = root
    path = ["mox"]
    for name in command:
        if not isinstance(group, click.Group):
            raise click.UsageError(f"{' '.join(path)} has no subcommands", ctx=root)
        sub = group.get_command(parent, name)
        if sub is None:
            raise click.UsageError(f"unknown command {' '.join(path[1:] + [name])!r}", ctx=root)
        path.append(name)
        parent = click.Context(sub, info_name=name, parent=parent)
        group = sub
    click.echo(parent.get_help())


def _usage_lines(group: click.Command, parent: click.Context, path: list[str]) -> list[str]:
    """``mox config alias add [OPTIONS] ALIAS@DOMAIN RCPT@DOMAIN...`` for each leaf command."""
    out: list[str] = []
    assert isinstance(group, click.Group)
    for name in group.list_commands(parent):
        sub = group.get_command(parent, name)
        if sub is None or sub.hidden:
            continue
        sctx = click.Context(sub, info_name=name, parent=parent)
        if isinstance(sub, click.Group):
            out.extend(_usage_lines(sub, sctx, [*path, name]))
        else:
            out.append(" ".join([*path, name, *sub.collect_usage_pieces(sctx)]))
    return out
