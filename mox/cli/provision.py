"""`mox setaccountpassword`, `mox config account add|rm|list|disable|enable`, `mox config
address add|rm`, `mox config domain add|rm|disable|enable`, `mox config alias list|print|add|update|rm|addaddr|rmaddr`
(mox ``main.go``): they change the running mox over the control channel (mox.admin.provision),
which rewrites domains.conf; a change is live at once."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mox.cli.common import ctl_client
from mox.cli.common import dir_option as _dir_option


def _client(dir_: Path | None):  # noqa: ANN202
    return ctl_client(dir_, timeout=60)


def _call(dir_: Path | None, command: str, *lines: str) -> None:
    with _client(dir_) as c:
        c.call(command, *lines)


def read_new_password() -> str:
    """Twice from the terminal (both must match); otherwise the first line of stdin, any length."""
    from mox.cli.common import UserError

    stdin = sys.stdin
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


@account.command("list")
@_dir_option
def account_list(dir_: Path | None) -> None:
    """List all accounts, one a line, "(disabled)" after a tab when login is disabled."""
    with _client(dir_) as c:
        for line in c.call("accountlist", stream=True):
            click.echo(line)


@account.command("disable")
@_dir_option
@click.argument("account_name", metavar="ACCOUNT")
@click.argument("message")
def account_disable(dir_: Path | None, account_name: str, message: str) -> None:
    """Disable login for ACCOUNT, showing MESSAGE to users when they try to log in.

    Incoming email is still accepted for the account, and queued email from the account is still
    delivered. No new login sessions are possible. MESSAGE must be non-empty, ASCII without
    control characters, at most 256 characters: it is used in SMTP and IMAP responses.
    """
    from mox.cli.common import UserError

    if message == "":
        raise UserError("message must be non-empty")
    _call(dir_, "accountdisabled", account_name, message)
    click.echo("account disabled")


@account.command("enable")
@_dir_option
@click.argument("account_name", metavar="ACCOUNT")
def account_enable(dir_: Path | None, account_name: str) -> None:
    """Enable login again for ACCOUNT."""
    _call(dir_, "accountdisabled", account_name, "")
    click.echo("account enabled")


@click.group("domain")
def domain() -> None:
    """Add, remove, disable or enable domains of the running mox."""


@domain.command("add")
@_dir_option
@click.option("-disabled", "--disabled", is_flag=True, help="disable the new domain")
@click.argument("domain_", metavar="DOMAIN")
@click.argument("account_name", metavar="ACCOUNT")
@click.argument("localpart", required=False, default="")
def domain_add(dir_: Path | None, disabled: bool, domain_: str, account_name: str, localpart: str) -> None:
    """Add DOMAIN; ACCOUNT receives its postmaster address.

    LOCALPART must be given if and only if ACCOUNT does not exist yet: the new account gets
    LOCALPART@DOMAIN. The domain gets catchall separator "+" and two new RSA DKIM keys. With
    -disabled it is added disabled: submissions from it are refused, incoming mail for it too
    (localserve delivers that to its catch-all account), but it can be configured further.
    """
    _call(dir_, "domainadd", "true" if disabled else "false", domain_, account_name, localpart)
    d = domain_.strip().lower()
    click.echo(f"domain added, remember to add dns records, see:\n\nmox config dnsrecords {d}\nmox config dnscheck {d}")


@domain.command("disable")
@_dir_option
@click.argument("domain_", metavar="DOMAIN")
def domain_disable(dir_: Path | None, domain_: str) -> None:
    """Disable DOMAIN: messages from and to it are refused with a temporary error (localserve
    delivers incoming mail for it to its catch-all account)."""
    _call(dir_, "domaindisabled", domain_, "true")
    click.echo("domain disabled")


@domain.command("enable")
@_dir_option
@click.argument("domain_", metavar="DOMAIN")
def domain_enable(dir_: Path | None, domain_: str) -> None:
    """Enable DOMAIN again: messages involving it are accepted again."""
    _call(dir_, "domaindisabled", domain_, "false")


@domain.command("rm")
@_dir_option
@click.argument("domain_", metavar="DOMAIN")
def domain_rm(dir_: Path | None, domain_: str) -> None:
    """Remove DOMAIN. Incoming email for it is rejected afterwards."""
    _call(dir_, "domainrm", domain_)
    click.echo(f"domain removed, remember to remove dns records for {domain_.strip().lower()}")


@click.group("alias")
def alias() -> None:
    """Aliases (lists): addresses that deliver to the accounts of their member addresses."""


@alias.command("list")
@_dir_option
@click.argument("domain_", metavar="DOMAIN")
def alias_list(dir_: Path | None, domain_: str) -> None:
    """Show the aliases (lists) of DOMAIN."""
    with _client(dir_) as c:
        for line in c.call("aliaslist", domain_, stream=True):
            click.echo(line)


@alias.command("print")
@_dir_option
@click.argument("address_", metavar="ALIAS")
def alias_print(dir_: Path | None, address_: str) -> None:
    """Print the settings and members of ALIAS."""
    with _client(dir_) as c:
        for line in c.call("aliasprint", address_, stream=True):
            click.echo(line)


@alias.command("add")
@_dir_option
@click.argument("address_", metavar="ALIAS@DOMAIN")
@click.argument("members", metavar="RCPT@DOMAIN...", nargs=-1, required=True)
def alias_add(dir_: Path | None, address_: str, members: tuple[str, ...]) -> None:
    """Add a new alias (list) with one or more member addresses and public posting enabled.

    An alias delivers incoming email to the accounts of its members. To give an account another
    address, add the address to the account instead.
    """
    import msgspec

    body = msgspec.json.encode({"Addresses": list(members), "PostPublic": True}).decode()
    _call(dir_, "aliasadd", address_, body)


@alias.command("update")
@_dir_option
@click.option("-postpublic", "--postpublic", default="", metavar="false|true",
              help="whether anyone or only list members can post")
@click.option("-listmembers", "--listmembers", default="", metavar="false|true",
              help="whether list members can list members")
@click.option("-allowmsgfrom", "--allowmsgfrom", default="", metavar="false|true",
              help="whether alias address can be used in message from header")
@click.argument("address_", metavar="ALIAS@DOMAIN")
def alias_update(dir_: Path | None, postpublic: str, listmembers: str, allowmsgfrom: str, address_: str) -> None:
    """Update the settings of an alias (list); settings not given stay."""
    _call(dir_, "aliasupdate", address_, postpublic, listmembers, allowmsgfrom)


@alias.command("rm")
@_dir_option
@click.argument("address_", metavar="ALIAS@DOMAIN")
def alias_rm(dir_: Path | None, address_: str) -> None:
    """Remove an alias (list)."""
    _call(dir_, "aliasrm", address_)


@alias.command("addaddr")
@_dir_option
@click.argument("address_", metavar="ALIAS@DOMAIN")
@click.argument("members", metavar="RCPT@DOMAIN...", nargs=-1, required=True)
def alias_addaddr(dir_: Path | None, address_: str, members: tuple[str, ...]) -> None:
    """Add member addresses to an alias (list)."""
    import msgspec

    _call(dir_, "aliasaddaddr", address_, msgspec.json.encode(list(members)).decode())


@alias.command("rmaddr")
@_dir_option
@click.argument("address_", metavar="ALIAS@DOMAIN")
@click.argument("members", metavar="RCPT@DOMAIN...", nargs=-1, required=True)
def alias_rmaddr(dir_: Path | None, address_: str, members: tuple[str, ...]) -> None:
    """Remove member addresses from an alias (list)."""
    import msgspec

    _call(dir_, "aliasrmaddr", address_, msgspec.json.encode(list(members)).decode())


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

