"""The `mox` command line: a click group with one module per command group.

mox spells flags with one dash (``-dir``); the usual two-dash form (``--dir``) works too. Global
flags go before the subcommand: ``mox -loglevel debug localserve``.

Every command is in the table below (``COMMANDS``, and ``CONFIG_COMMANDS`` under ``mox config``),
defined in the module of its command group (``mox/cli/<group>.py``), which is imported when the
command is run or listed: a server start (``mox localserve``) does not import the others. User
errors end in one line ``mox: <message>`` and exit code 1 (2 for usage errors), never a
traceback; a bug (an exception that is neither) is shown with its traceback.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import click

from mox import mlog
from mox.cli.common import App, UserError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "-help", "--help"], "max_content_width": 100}


class LazyGroup(click.Group):
    """A click group whose commands are named in a table, name -> (module in mox.cli, attribute),
    and imported at first use."""

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, tuple[str, str]] = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            module, attr = self.lazy[cmd_name]
            command = getattr(importlib.import_module(f"mox.cli.{module}"), attr)
            if not isinstance(command, click.Command) or command.name != cmd_name:
                raise TypeError(f"mox.cli.{module}.{attr} is not the command {cmd_name!r}")
            self.add_command(command)
        return self.commands.get(cmd_name)


#: ``mox config <command>``: name -> (module in mox.cli, attribute).
CONFIG_COMMANDS: dict[str, tuple[str, str]] = {
    "describe-static": ("configfiles", "describe_static"),
    "describe-domains": ("configfiles", "describe_domains"),
    "describe-extra": ("configfiles", "describe_extra"),
    "test": ("configfiles", "test"),
    "example": ("configfiles", "example"),
    "account": ("provision", "account"),
    "address": ("provision", "address"),
    "domain": ("provision", "domain"),
    "alias": ("provision", "alias"),
    "tlspubkey": ("tlspubkey", "tlspubkey"),
    "dnsrecords": ("dnsrecords", "dnsrecords"),
}

#: ``mox <command>`` (and ``mox config``, below): name -> (module in mox.cli, attribute).
COMMANDS: dict[str, tuple[str, str]] = {
    "localserve": ("localserve", "localserve"),
    "stop": ("ctl", "stop"),
    "loglevels": ("ctl", "loglevels"),
    "sendmail": ("sendmail", "sendmail"),
    "queue": ("queue", "queue"),
    "version": ("version", "version"),
    "help": ("version", "help_"),
    "import": ("transfer", "import_"),
    "export": ("transfer", "export"),
    "backup": ("transfer", "backup"),
    "setaccountpassword": ("provision", "setaccountpassword"),
    "setadminpassword": ("admin", "setadminpassword"),
    "dkim": ("dkim", "dkim_group"),
    "reassignthreads": ("threads", "reassignthreads"),
    "junk": ("junk", "junk"),
    "retrain": ("junk", "retrain"),
    "deliver": ("deliver", "deliver"),
    "webapi": ("webapi", "webapi"),
    "message": ("message", "message"),
    "verifydata": ("verifydata", "verifydata"),
    "clientconfig": ("clientconfig", "clientconfig"),
    "cid": ("cid", "cid"),
}


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings=CONTEXT_SETTINGS, invoke_without_command=True)
@click.option(
    "-config",
    "--config",
    "config",
    type=click.Path(path_type=Path),
    envvar="MOXCONF",
    default=None,
    help="configuration file mox.conf, the other config files are in the same directory (default: "
    "$MOXCONF, else the localserve dir). Commands talk to the mox running from it.",
)
@click.option(
    "-loglevel",
    "--loglevel",
    type=click.Choice(list(mlog.LEVELS)),
    default=None,
    help="log level (default info; trace levels log protocol lines, passwords only at traceauth).",
)
@click.option(
    "-checkconsistency",
    "--checkconsistency",
    is_flag=True,
    help="check the consistency of the store when closing accounts.",
)
@click.pass_context
def cli(ctx: click.Context, config: Path | None, loglevel: str | None, checkconsistency: bool) -> None:
    """mox: a mail server in one file. `mox localserve` runs a private mail setup on localhost."""
    if loglevel is not None:
        mlog.set_level(loglevel)
    ctx.obj = App(loglevel, checkconsistency, config)
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


@click.group("config", cls=LazyGroup, lazy=CONFIG_COMMANDS)
def config() -> None:
    """The configuration: describe and test the config files, change a running mox
    (accounts, addresses, domains, aliases, TLS public keys)."""


cli.add_command(config)


def _user_error_types() -> tuple[type[BaseException], ...]:
    from mox.config import ConfigError
    from mox.ctl import CtlError
    from mox.localserve import LocalserveError
    from mox.serve import ListenError

    return (ConfigError, CtlError, LocalserveError, ListenError)


def _leaf(e: BaseException) -> BaseException:
    """The single exception inside (nested) exception groups, as trio raises them."""
    while isinstance(e, BaseExceptionGroup) and len(e.exceptions) == 1:
        e = e.exceptions[0]
    return e


def _fail(msg: str, code: int = 1) -> None:
    click.echo(f"mox: {msg}", err=True)
    sys.exit(code)


def _fail_all(errors: list[str]) -> None:
    """Several problems (a config with more than one error): each on its own line, after
    "multiple errors:" (mox main.go, config test)."""
    if len(errors) == 1:
        _fail(errors[0])
    click.echo("".join(f"mox: {line}\n" for line in ["multiple errors:", *errors]), err=True, nl=False)
    sys.exit(1)


def main(argv: list[str] | None = None) -> Any:
    try:
        return cli.main(args=argv, prog_name="mox", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.Abort:
        _fail("aborted")
    except click.UsageError as e:
        message = e.format_message()
        if isinstance(e, click.NoSuchOption) and e.option_name and len(e.option_name) == 2:
            # "-bogus" is first tried as a long option, then as short "-b": name the whole word
            # (click's suggestions, if any, follow its message).
            args = sys.argv[1:] if argv is None else argv
            word = next((a for a in args if a.startswith(e.option_name)), e.option_name)
            message = f"no such option: {word.split('=', 1)[0]}" + message.removeprefix(e.message)
        hint = ""
        if e.ctx is not None and e.ctx.command_path != "mox":
            hint = f" (see: mox help {e.ctx.command_path.removeprefix('mox ')})"
        elif e.ctx is not None:
            hint = " (see: mox help)"
        _fail(message + hint, e.exit_code)
    except click.ClickException as e:
        _fail(e.format_message(), e.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except BaseException as e:  # noqa: BLE001
        leaf = _leaf(e)
        if isinstance(leaf, KeyboardInterrupt):
            sys.exit(130)
        if isinstance(leaf, SystemExit):
            raise leaf from None
        if isinstance(leaf, _user_error_types()):
            from mox.config import ConfigError

            _fail_all(leaf.errors if isinstance(leaf, ConfigError) and leaf.errors else [str(leaf)])
        if isinstance(leaf, OSError) and leaf.strerror:
            # Environment problems (permissions, disk full, missing files): one line, no traceback.
            _fail(f"{leaf.strerror}: {leaf.filename}" if leaf.filename else leaf.strerror)
        raise
