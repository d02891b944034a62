"""`mox setaccountpassword`, `mox config account add/rm`, `mox config address add/rm`
(mox ``main.go``): they change the running mox over the control channel (mox.admin.provision)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mox.cli.common import config_group, ctl_client
from mox.cli.common import dir_option as _dir_option


def _client(dir_: Path | None):  # noqa: ANN202
    return ctl_client(dir_, timeout=60)


def _call(dir_: Path | None, command: str, *lines: str) -> None:
    with _client(dir_) as c:
        c.call(command, *lines)


def read_new_password() -> str:
    """Twice from the terminal (both must match); otherwise the first line of stdin, any length."""
    from mox.cli import UserError

    stdin = click.get_text_stream("stdin")
    if stdin.isatty():
        pw = click.prompt("password", hide_input=True, err=True)
        again = click.prompt("repeat password", hide_input=True, err=True)
        if pw != again:
            raise UserError("passwords do not match")
    else:
        data = sys.stdin.buffer.read()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise UserError("password on stdin is not valid utf-8") from None
        pw = text.split("\n", 1)[0].removesuffix("\r")
    if not pw:
        raise UserError("empty password")
    return pw


@click.command("setaccountpassword")
@_dir_option
@click.argument("account")
def setaccountpassword(dir_: Path | None, account: str) -> None:
    """Set the password of ACCOUNT in the running mox.

    On a terminal the password is asked twice; otherwise the first line of stdin is the password
    (no length limit). It must be at least 8 bytes after PRECIS preparation.
    """
    with _client(dir_) as c:  # fails at once when no mox runs, before asking
        password = read_new_password()
        c.call("setaccountpassword", account, password)


@click.group("account")
def account() -> None:
    """Add or remove accounts of the running mox (domains.conf is rewritten)."""


@account.command("add")
@_dir_option
@click.argument("account_name", metavar="ACCOUNT")
@click.argument("address")
def account_add(dir_: Path | None, account_name: str, address: str) -> None:
    """Add ACCOUNT with its first email ADDRESS (in a configured domain)."""
    _call(dir_, "accountadd", account_name, address)
    click.echo(f'account added, set a password with "mox setaccountpassword {account_name}"')


@account.command("rm")
@_dir_option
@click.argument("account_name", metavar="ACCOUNT")
def account_rm(dir_: Path | None, account_name: str) -> None:
    """Remove ACCOUNT from the configuration (its messages stay in the data dir)."""
    _call(dir_, "accountrm", account_name)
    click.echo("account removed")


@click.group("address")
def address() -> None:
    """Add or remove email addresses of accounts of the running mox."""


@address.command("add")
@_dir_option
@click.argument("address_", metavar="ADDRESS")
@click.argument("account_name", metavar="ACCOUNT")
def address_add(dir_: Path | None, address_: str, account_name: str) -> None:
    """Add email ADDRESS (in a configured domain) to ACCOUNT."""
    _call(dir_, "addressadd", address_, account_name)
    click.echo("address added")


@address.command("rm")
@_dir_option
@click.argument("address_", metavar="ADDRESS")
def address_rm(dir_: Path | None, address_: str) -> None:
    """Remove email ADDRESS from its account (an account keeps at least one address)."""
    _call(dir_, "addressrm", address_)
    click.echo("address removed")


_config = config_group()
_config.add_command(account)
_config.add_command(address)

commands = [setaccountpassword]
