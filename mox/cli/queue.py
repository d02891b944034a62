"""`mox queue list|hold|unhold|schedule|fail|drop|dump`, `mox queue retired list|print`,
`mox queue holdrules list|add|remove`,
`mox queue webhook ...` and `mox queue suppress ...`: the queue, webhook queue and suppression list
of a running mox, over the control channel, with mox's commands, filter flags and output (mox
queue.go)."""

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


_RELATIVE = 'relative to now, value must start with "<" (before now) or ">" (after now)'


def _time_option(name: str, what: str, *dest: str):  # noqa: ANN202
    return click.option(f"-{name}", f"--{name}", *dest, default="", help=f"filter by time of {what} {_RELATIVE}")


def _address_options() -> list:
    """-from and -to of the message filters (queue.go flagFilterSort, flagRetiredFilterSort)."""
    return [
        click.option("-from", "--from", "from_", default="",
                     help='from address of message, use "@example.com" to match all messages for a domain'),
        click.option("-to", "--to", "to", default="",
                     help='recipient address of message, use "@example.com" to match all messages for a domain'),
    ]


def _sort_options(default: str) -> list:
    return [
        click.option("-sort", "--sort", type=click.Choice([default, "queued"]), default=default,
                     help=f'field to sort by, "{default}" (default) or "queued"'),
        click.option("-asc", "--asc", is_flag=True, help="sort ascending instead of descending (default)"),
    ]


def _options(opts: list):  # noqa: ANN202
    """A decorator adding ``opts`` in their order."""

    def deco(f):  # noqa: ANN001, ANN202
        for o in reversed(opts):
            f = o(f)
        return f

    return deco


def _hold_flag(ctx: click.Context, param: click.Parameter, value: str | None) -> bool | None:
    if value is None:
        return None
    if value not in ("true", "false"):
        raise click.BadParameter(f"bad value {value!r}, want true or false")
    return value == "true"


def _queue_filter_flags(*, sort: bool = False):  # noqa: ANN202
    """mox's filter flags (queue.go flagFilterSort), and with ``sort`` its sort flags."""
    return _options([
        click.option("-ids", "--ids", "ids", callback=_ids_flag, default=None, help="comma-separated list of message IDs"),
        click.option("-n", "--n", "max_", type=int, default=0, help="number of messages to return"),
        click.option("-account", "--account", default="", help="account that queued the message"),
        *_address_options(),
        _time_option("submitted", "submission"),
        _time_option("nextattempt", "next delivery attempt"),
        click.option("-transport", "--transport", default=None,
                     help="transport to use for messages, empty string sets the default behaviour"),
        click.option("-hold", "--hold", callback=_hold_flag, default=None,
                     help="true or false, whether to match only messages that are (not) on hold"),
        *(_sort_options("nextattempt") if sort else []),
    ])


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


# Retired messages (mox queue.go cmdQueueRetiredList, cmdQueueRetiredPrint, flagRetiredFilterSort).


def _result_flag(ctx: click.Context, param: click.Parameter, value: str | None) -> bool | None:
    if value is None:
        return None
    if value not in ("success", "failure"):
        raise click.BadParameter(f'bad argument "{value}", need success or failure')
    return value == "success"


def _retired_filter_flags(*, sort: bool = False):  # noqa: ANN202
    """mox's filter flags for retired messages (queue.go flagRetiredFilterSort)."""
    return _options([
        click.option("-ids", "--ids", "ids", callback=_ids_flag, default=None, help="comma-separated list of retired message IDs"),
        click.option("-n", "--n", "max_", type=int, default=0, help="number of messages to return"),
        click.option("-account", "--account", default="", help="account that queued the message"),
        *_address_options(),
        _time_option("submitted", "submission"),
        _time_option("lastactivity", "last activity"),
        click.option("-transport", "--transport", default=None,
                     help="transport to use for messages, empty string sets the default behaviour"),
        click.option("-result", "--result", callback=_result_flag, default=None,
                     help='"success" or "failure" as result of delivery'),
        *(_sort_options("lastactivity") if sort else []),
    ])


@queue.group("retired")
def retired() -> None:
    """Messages that left the queue (delivered, failed, canceled), kept for the account's
    KeepRetiredMessagePeriod."""


@retired.command("list")
@_dir_option
@_retired_filter_flags(sort=True)
def retired_list(dir_: Path | None, ids: list[int], max_: int, account: str, from_: str, to: str, submitted: str,
                 lastactivity: str, transport: str | None, result: bool | None, sort: str, asc: bool) -> None:
    """List matching messages in the retired queue.

    Prints messages with their ID and results.
    """
    f: dict[str, object] = {}
    if ids:
        f["IDs"] = ids
    for name, v in (("Max", max_), ("Account", account), ("From", from_), ("To", to), ("Submitted", submitted),
                    ("LastActivity", lastactivity)):
        if v:
            f[name] = v
    if transport is not None:
        f["Transport"] = transport
    if result is not None:
        f["Success"] = result
    s = {"Field": "Queued" if sort == "queued" else "LastActivity", "Asc": asc}
    with _client(dir_) as c:
        for line in c.call("queueretiredlist", json.dumps(f), json.dumps(s), stream=True):
            click.echo(line)


@retired.command("print")
@_dir_option
@click.argument("id")
def retired_print(dir_: Path | None, id: str) -> None:  # noqa: A002
    """Print a message from the retired queue.

    Prints a JSON representation of the information from the retired queue.
    """
    with _client(dir_) as c:
        for line in c.call("queueretiredprint", id, stream=True):
            click.echo(line)


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


# Webhooks (mox queue.go cmdQueueHook*).

_EVENTS = ("incoming", "delivered", "suppressed", "delayed", "failed", "relayed", "expanded", "canceled", "unrecognized")


def _ids(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int]:
    if not value:
        return []
    try:
        return [int(x) for x in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"{value!r}: comma-separated list of ids") from None


def _filter_flags(*, retired: bool = False, sort: bool = False):  # noqa: ANN202
    """mox's filter (and sort) flags for webhooks."""
    what = "retired webhook" if retired else "webhook"
    return _options([
        click.option("-ids", "--ids", "ids", callback=_ids, default=None, help=f"comma-separated list of {what} IDs"),
        click.option("-n", "--n", "max_", type=int, default=0, help="number of webhooks to return"),
        click.option("-account", "--account", default="", help="account that queued the message/webhook"),
        _time_option("submitted", "submission"),
        click.option("-event", "--event", type=click.Choice(_EVENTS), default=None,
                     help="event this webhook is about: " + ", ".join(_EVENTS)),
        _time_option("lastactivity", "last activity", "timefilter") if retired
        else _time_option("nextattempt", "next delivery attempt", "timefilter"),
        *(_sort_options("lastactivity" if retired else "nextattempt") if sort else []),
    ])


def _hook_filter(ids: list[int], max_: int, account: str, submitted: str, event: str | None, timefilter: str, *, retired: bool) -> str:
    f: dict[str, object] = {}
    if ids:
        f["IDs"] = ids
    if max_:
        f["Max"] = max_
    if account:
        f["Account"] = account
    if submitted:
        f["Submitted"] = submitted
    if event:
        f["Event"] = event
    if timefilter:
        f["LastActivity" if retired else "NextAttempt"] = timefilter
    return json.dumps(f)


def _hook_sort(sort: str, asc: bool) -> str:
    field = {"nextattempt": "NextAttempt", "lastactivity": "LastActivity", "queued": "Submitted"}[sort]
    return json.dumps({"Field": field, "Asc": asc})


@queue.group("webhook")
def webhook() -> None:
    """List, reschedule, cancel and print webhooks in the queue, and retired ones."""


@webhook.command("list")
@_dir_option
@_filter_flags(sort=True)
def hook_list(dir_: Path | None, ids: list[int], max_: int, account: str, submitted: str, event: str | None, timefilter: str, sort: str, asc: bool) -> None:
    """List matching webhooks in the queue.

    Prints list of webhooks, their IDs and basic information.
    """
    with _client(dir_) as c:
        for line in c.call("queuehooklist", _hook_filter(ids, max_, account, submitted, event, timefilter, retired=False), _hook_sort(sort, asc), stream=True):
            click.echo(line)


@webhook.command("schedule")
@_dir_option
@click.option("-now", "--now", "from_now", is_flag=True, help="schedule for duration relative to current time instead of relative to current next delivery attempt for webhooks")
@_filter_flags()
@click.argument("duration")
def hook_schedule(dir_: Path | None, from_now: bool, ids: list[int], max_: int, account: str, submitted: str, event: str | None, timefilter: str, duration: str) -> None:
    """Change next delivery attempt for matching webhooks.

    The next delivery attempt is adjusted by the duration parameter. If the -now
    flag is set, the new delivery attempt is set to the duration added to the
    current time, instead of added to the current scheduled time.

    Schedule immediate delivery with "mox queue webhook schedule -now 0".
    """
    from mox.queue.hooks import parse_go_duration

    try:
        parse_go_duration(duration)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="duration") from None
    with _client(dir_) as c:
        c.call("queuehookschedule", _hook_filter(ids, max_, account, submitted, event, timefilter, retired=False), "yes" if from_now else "", duration)
        click.echo(f"{c.read_line()} webhook(s) rescheduled")


@webhook.command("cancel")
@_dir_option
@_filter_flags()
def hook_cancel(dir_: Path | None, ids: list[int], max_: int, account: str, submitted: str, event: str | None, timefilter: str) -> None:
    """Fail delivery of matching webhooks."""
    with _client(dir_) as c:
        c.call("queuehookcancel", _hook_filter(ids, max_, account, submitted, event, timefilter, retired=False))
        click.echo(f"{c.read_line()} webhook(s) marked as canceled")


@webhook.command("print")
@_dir_option
@click.argument("id")
def hook_print(dir_: Path | None, id: str) -> None:  # noqa: A002
    """Print details of a webhook from the queue.

    The webhook is printed to stdout as JSON.
    """
    with _client(dir_) as c:
        for line in c.call("queuehookprint", id, stream=True):
            click.echo(line)


@webhook.group("retired")
def hook_retired() -> None:
    """Webhooks that were delivered, failed or canceled, kept for the account's period."""


@hook_retired.command("list")
@_dir_option
@_filter_flags(retired=True, sort=True)
def hook_retired_list(dir_: Path | None, ids: list[int], max_: int, account: str, submitted: str, event: str | None, timefilter: str, sort: str, asc: bool) -> None:
    """List matching webhooks in the retired queue.

    Prints list of retired webhooks, their IDs and basic information.
    """
    with _client(dir_) as c:
        f = _hook_filter(ids, max_, account, submitted, event, timefilter, retired=True)
        for line in c.call("queuehookretiredlist", f, _hook_sort(sort, asc), stream=True):
            click.echo(line)


@hook_retired.command("print")
@_dir_option
@click.argument("id")
def hook_retired_print(dir_: Path | None, id: str) -> None:  # noqa: A002
    """Print details of a webhook from the retired queue.

    The retired webhook is printed to stdout as JSON.
    """
    with _client(dir_) as c:
        for line in c.call("queuehookretiredprint", id, stream=True):
            click.echo(line)


# The suppression list (mox queue.go cmdQueueSuppress*).


@queue.group("suppress")
def suppress() -> None:
    """The suppression list: addresses an account's messages are not delivered to."""


@suppress.command("list")
@_dir_option
@click.option("-account", "--account", default="", help="only show suppression list for this account")
def suppress_list(dir_: Path | None, account: str) -> None:
    """Print addresses in suppression list."""
    with _client(dir_) as c:
        for line in c.call("queuesuppresslist", account, stream=True):
            click.echo(line)


@suppress.command("add")
@_dir_option
@click.argument("account")
@click.argument("address")
def suppress_add(dir_: Path | None, account: str, address: str) -> None:
    """Add address to suppression list for account."""
    with _client(dir_) as c:
        c.call("queuesuppressadd", account, address)


@suppress.command("remove")
@_dir_option
@click.argument("account")
@click.argument("address")
def suppress_remove(dir_: Path | None, account: str, address: str) -> None:
    """Remove address from suppression list for account."""
    with _client(dir_) as c:
        c.call("queuesuppressremove", account, address)


@suppress.command("lookup")
@_dir_option
@click.option("-account", "--account", default="", help="only check address in specified account")
@click.argument("address")
def suppress_lookup(dir_: Path | None, account: str, address: str) -> None:
    """Check if address is present in suppression list, for any or specific account."""
    with _client(dir_) as c:
        for line in c.call("queuesuppresslookup", account, address, stream=True):
            click.echo(line)


commands = [queue]
