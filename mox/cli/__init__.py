"""The `mox` command line: a click group with one module per command group.

mox spells flags with one dash (``-dir``); the usual two-dash form (``--dir``) works too. Global
flags go before the subcommand: ``mox -loglevel debug localserve``.

Adding commands: a module named in ``COMMAND_MODULES`` (``mox/cli/<name>.py``) exposes
``commands``, a list of click commands; the root group adds them when the module is present.
User errors end in one line ``mox: <message>`` and exit code 1 (2 for usage errors), never a
traceback.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import click

from mox import mlog

#: Command modules, in help order. Missing modules are skipped.
COMMAND_MODULES = (
    "localserve", "ctl", "sendmail", "queue", "version", "tlspubkey", "transfer", "provision", "admin", "dkim", "dnsrecords",
    "configfiles",
    "threads", "junk",
    "deliver", "webapi", "message", "verifydata", "clientconfig", "cid",
)

CONTEXT_SETTINGS = {"help_option_names": ["-h", "-help", "--help"], "max_content_width": 100}


class App:
    """Global settings, passed to commands as ``ctx.obj``."""

    def __init__(self, loglevel: str | None, checkconsistency: bool, config: Path | None = None) -> None:
        self.loglevel = loglevel
        self.checkconsistency = checkconsistency
        #: -config FILE / $MOXCONF: mox.conf of the mox to talk to (its dir holds the other
        #: config files); None: the default localserve dir.
        self.config = config


class UserError(click.ClickException):
    """An error a user caused or can fix; printed as one line."""


@click.group(context_settings=CONTEXT_SETTINGS, invoke_without_command=True)
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


def _load_commands() -> None:
    for name in COMMAND_MODULES:
        modname = f"{__name__}.{name}"
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as e:
            if e.name == modname:
                continue
            raise
        for command in getattr(mod, "commands", []):
            cli.add_command(command)


_load_commands()


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


def main(argv: list[str] | None = None) -> Any:
    try:
        return cli.main(args=argv, prog_name="mox", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.Abort:
        _fail("aborted")
    except click.UsageError as e:
        if isinstance(e, click.NoSuchOption) and e.option_name and len(e.option_name) == 2:
            # "-bogus" is first tried as a long option, then as short "-b": name the whole word.
            args = sys.argv[1:] if argv is None else argv
            word = next((a for a in args if a.startswith(e.option_name)), e.option_name)
            e.message = f"no such option: {word.split('=', 1)[0]}"
        hint = ""
        if e.ctx is not None and e.ctx.command_path != "mox":
            hint = f" (see: mox help {e.ctx.command_path.removeprefix('mox ')})"
        elif e.ctx is not None:
            hint = " (see: mox help)"
        _fail(e.format_message() + hint, e.exit_code)
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
            _fail(str(leaf))
        if isinstance(leaf, OSError) and leaf.strerror:
            # Environment problems (permissions, disk full, missing files): one line, no traceback.
            _fail(f"{leaf.strerror}: {leaf.filename}" if leaf.filename else leaf.strerror)
        raise
