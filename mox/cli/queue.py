"""`mox queue list|drop|fail`: the local queue of a running mox, over the control channel."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mox.cli.common import ctl_client
from mox.cli.common import dir_option as _dir_option


def _client(dir_: Path | None):  # noqa: ANN202
    return ctl_client(dir_, timeout=30)


def _filter(ids: tuple[int, ...], all_: bool) -> str:
    if not ids and not all_:
        raise click.UsageError("give message ids, or -all for every queued message")
    return json.dumps({} if all_ else {"ids": list(ids)})


@click.group("queue")
def queue() -> None:
    """List and manage the outgoing queue of a running mox."""


@queue.command("list")
@_dir_option
def list_(dir_: Path | None) -> None:
    """List queued messages: id, queued, from, to, next attempt, attempts, last error."""
    with _client(dir_) as c:
        for line in c.call("queuelist", stream=True):
            click.echo(line)


@queue.command("drop")
@_dir_option
@click.option("-all", "--all", "all_", is_flag=True, help="drop every queued message.")
@click.argument("ids", nargs=-1, type=int)
def drop(dir_: Path | None, all_: bool, ids: tuple[int, ...]) -> None:
    """Remove messages from the queue without delivery and without DSN."""
    f = _filter(ids, all_)
    with _client(dir_) as c:
        for line in c.call("queuedrop", f, stream=True):
            click.echo(line)


@queue.command("fail")
@_dir_option
@click.option("-all", "--all", "all_", is_flag=True, help="fail every queued message.")
@click.argument("ids", nargs=-1, type=int)
def fail(dir_: Path | None, all_: bool, ids: tuple[int, ...]) -> None:
    """Fail messages now: removed from the queue, a DSN goes to the sender."""
    f = _filter(ids, all_)
    with _client(dir_) as c:
        for line in c.call("queuefail", f, stream=True):
            click.echo(line)


commands = [queue]
