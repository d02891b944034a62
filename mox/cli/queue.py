"""`mox queue list|hold|unhold|schedule|fail|drop|dump` and `mox queue holdrules
list|add|remove`: the local queue of a running mox, over the control channel, with mox's
commands, filter flags and output (mox queue.go)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from mox.cli.common import ctl_client
from mox.cli.common import dir_option as _dir_option


def _client(dir_: Path | None):  # noqa: ANN202
    return ctl_client(dir_, timeout=30)


def _ids_flag(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int]:
    if not value:
        return []
    try:
        return [int(x) for x in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"{value!r}: want a comma-separated list of message IDs") from None


def _hold_flag(ctx: click.Context, param: click.Parameter, value: str | None) -> bool | None:
    if value is None:
        return None
    if value not in ("true", "false"):
        raise click.BadParameter(f"bad value {value!r}, want true or false")
    return value == "true"


def _queue_filter_flags(*, sort: bool = False):  # noqa: ANN202
    """mox's filter flags (queue.go flagFilterSort), and with ``sort`` its sort flags."""
    opts = [
        click.option("-ids", "--ids", "ids", callback=_ids_flag, default=None, help="comma-separated list of message IDs"),
        click.option("-n", "--n", "max_", type=int, default=0, help="number of messages to return"),
        click.option("-account", "--account", default="", help="account that queued the message"),
        click.option("-from", "--from", "from_", default="",
                     help='from address of message, use "@example.com" to match all messages for a domain'),
        click.option("-to", "--to", "to", default="",
                     help='recipient address of message, use "@example.com" to match all messages for a domain'),
        click.option("-submitted", "--submitted", default="",
                     help='filter by time of submission relative to now, value must start with "<" (before now) or ">" (after now)'),
        click.option("-nextattempt", "--nextattempt", default="",
                     help='filter by time of next delivery attempt relative to now, value must start with "<" (before now) or ">" (after now)'),
        click.option("-transport", "--transport", default=None,
                     help="transport to use for messages, empty string sets the default behaviour"),
        click.option("-hold", "--hold", callback=_hold_flag, default=None,
                     help="true or false, whether to match only messages that are (not) on hold"),
    ]
    if sort:
        opts += [
            click.option("-sort", "--sort", type=click.Choice(["nextattempt", "queued"]), default="nextattempt",
                         help='field to sort by, "nextattempt" (default) or "queued"'),
            click.option("-asc", "--asc", is_flag=True, help="sort ascending instead of descending (default)"),
        ]

    def deco(f):  # noqa: ANN001, ANN202
        for o in reversed(opts):
            f = o(f)
        return f

    return deco


def _filter_json(kw: dict[str, object], extra_ids: tuple[int, ...] = ()) -> str:
    """The filter line of the queue ctl commands (mox's queue.Filter as JSON)."""
    f: dict[str, object] = {}
    ids = list(kw.pop("ids") or []) + list(extra_ids)  # type: ignore[call-overload]
    if ids:
        f["IDs"] = ids
    for flag, name in (("max_", "Max"), ("account", "Account"), ("from_", "From"), ("to", "To"),
                       ("submitted", "Submitted"), ("nextattempt", "NextAttempt")):
        if kw.get(flag):
            f[name] = kw[flag]
    if kw.get("hold") is not None:
        f["Hold"] = kw["hold"]
    if kw.get("transport") is not None:
        f["Transport"] = kw["transport"]
    return json.dumps(f)


def _count_call(dir_: Path | None, command: str, *lines: str) -> str:
    with _client(dir_) as c:
        c.call(command, *lines)
        return c.read_line()


@click.group("queue")
def queue() -> None:
    """List and manage the outgoing queue of a running mox."""


@queue.command("list")
@_dir_option
@_queue_filter_flags(sort=True)
def list_(dir_: Path | None, sort: str, asc: bool, **kw: object) -> None:
    """List matching messages in the delivery queue.

    Prints the message with its ID, last and next delivery attempts, last error.
    """
    s = json.dumps({"Field": "Queued" if sort == "queued" else "NextAttempt", "Asc": asc})
    with _client(dir_) as c:
        for line in c.call("queuelist", _filter_json(kw), s, stream=True):
            click.echo(line)


@queue.command("hold")
@_dir_option
@_queue_filter_flags()
def hold(dir_: Path | None, **kw: object) -> None:
    """Mark matching messages on hold.

    Messages that are on hold are not delivered until marked as off hold again, or otherwise
    handled by the admin.
    """
    click.echo(f"{_count_call(dir_, 'queueholdset', _filter_json(kw), 'true')} messages changed")


@queue.command("unhold")
@_dir_option
@_queue_filter_flags()
def unhold(dir_: Path | None, **kw: object) -> None:
    """Mark matching messages off hold.

    Once off hold, messages can be delivered according to their current next delivery attempt.
    See the "queue schedule" command.
    """
    click.echo(f"{_count_call(dir_, 'queueholdset', _filter_json(kw), 'false')} messages changed")


@queue.command("schedule")
@_dir_option
@_queue_filter_flags()
@click.option("-now", "--now", "from_now", is_flag=True,
              help="schedule for duration relative to current time instead of relative to current next delivery attempt for messages")
@click.argument("duration")
def schedule(dir_: Path | None, from_now: bool, duration: str, **kw: object) -> None:
    """Change next delivery attempt for matching messages.

    The next delivery attempt is adjusted by the DURATION parameter (e.g. 1h, -30m, 90s). If the
    -now flag is set, the new delivery attempt is set to the duration added to the current time,
    instead of added to the current scheduled time.

    Schedule immediate delivery with "mox queue schedule -now 0".
    """
    from mox.queue.control import parse_duration

    try:
        parse_duration(duration)
    except ValueError as e:
        raise click.UsageError(f"parsing duration {duration!r}: {e}") from None
    n = _count_call(dir_, "queueschedule", _filter_json(kw), "yes" if from_now else "", duration)
    click.echo(f"{n} message(s) rescheduled")


@queue.command("fail")
@_dir_option
@_queue_filter_flags()
@click.option("-all", "--all", "all_", is_flag=True, hidden=True, help="every queued message (the same as no filter).")
@click.argument("id_args", metavar="[ID]...", nargs=-1, type=int)
def fail(dir_: Path | None, all_: bool, id_args: tuple[int, ...], **kw: object) -> None:
    """Fail delivery of matching messages, delivering DSNs.

    Failing a message is handled similar to how delivery is given up after all delivery attempts
    failed. The DSN (delivery status notification) message contains a line saying the message
    was canceled by the admin. Without filter flags (or IDs), every queued message is failed.
    """
    click.echo(f"{_count_call(dir_, 'queuefail', _filter_json(kw, id_args))} message(s) marked as failed")


@queue.command("drop")
@_dir_option
@_queue_filter_flags()
@click.option("-all", "--all", "all_", is_flag=True, hidden=True, help="every queued message (the same as no filter).")
@click.argument("id_args", metavar="[ID]...", nargs=-1, type=int)
def drop(dir_: Path | None, all_: bool, id_args: tuple[int, ...], **kw: object) -> None:
    """Remove matching messages from the queue.

    Dangerous operation, this completely removes the message. If you want to store the message,
    use "queue dump" before removing. Without filter flags (or IDs), every queued message is
    removed.
    """
    click.echo(f"{_count_call(dir_, 'queuedrop', _filter_json(kw, id_args))} message(s) dropped")


@queue.command("dump")
@_dir_option
@click.argument("id")
def dump(dir_: Path | None, id: str) -> None:
    """Dump a message from the queue.

    The message is printed to stdout and is in standard internet mail format.
    """
    with _client(dir_) as c:
        c.call("queuedump", id)
        data = c.read_stream()
    sys.stdout.buffer.write(data)
    sys.stdout.flush()


@queue.group("holdrules")
def holdrules() -> None:
    """Hold rules: newly submitted messages that match one are put on hold."""


@holdrules.command("list")
@_dir_option
def holdrules_list(dir_: Path | None) -> None:
    """List hold rules for the delivery queue.

    Messages submitted to the queue that match a hold rule will be marked as on hold and not
    scheduled for delivery.
    """
    with _client(dir_) as c:
        for line in c.call("queueholdruleslist", stream=True):
            click.echo(line)


@holdrules.command("add")
@_dir_option
@click.option("-account", "--account", default="", help="account submitting the message")
@click.option("-senderdom", "--senderdom", default="", help="sender domain")
@click.option("-recipientdom", "--recipientdom", default="", help="recipient domain")
def holdrules_add(dir_: Path | None, account: str, senderdom: str, recipientdom: str) -> None:
    """Add hold rule for the delivery queue.

    Add a hold rule to mark matching newly submitted messages as on hold, and matching queued
    messages too. Set the matching rules with the flags; a message matches when all the given
    flags match. Don't specify any flags to match all submitted messages.
    """
    with _client(dir_) as c:
        c.call("queueholdrulesadd", account, senderdom, recipientdom)


@holdrules.command("remove")
@_dir_option
@click.argument("ruleid", type=int)
def holdrules_remove(dir_: Path | None, ruleid: int) -> None:
    """Remove hold rule for the delivery queue.

    Remove a hold rule by its id.
    """
    with _client(dir_) as c:
        c.call("queueholdrulesremove", str(ruleid))

