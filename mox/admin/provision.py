"""Accounts and addresses of a running mox (mox ``main.go``, ``ctl.go``; quota: ``store/account.go``).

Changes go to domains.conf (temporary file + rename) and take effect at once: ``ctx.config`` is
replaced by a copy with the new accounts and ``ctx.auth`` by a new Authenticator over it (the
servers read both through ctx for every use), keeping the shared limiter.

Control channel commands (in mox.ctl.commands' table; mox's names and parameter lines, each answered
``ok`` or one error line):

- ``setaccountpassword``: account, password (PRECIS OpaqueString, at least 8 bytes);
- ``accountadd``: account, address (the account is created in the store when new);
- ``accountrm``: account (removed from the config with its TLS public keys and web sessions; its
  message data stays in the data dir);
- ``addressadd``: address, account; ``addressrm``: address (an account keeps one address).

An account's quota and daily send limits are read from the config (``Config.account_quota``,
``Config.send_limits``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from mox import mlog

log = mlog.get_logger("accounts")

#: Characters never allowed in an address given on the command line.
_BAD_ADDRESS_CHARS = " <>,;\"\r\n\t\\"


class AccountError(Exception):
    """A change was refused; the text is for the user (one line)."""


def normalize_address(ctx: Any, address: str) -> str:
    """An address for domains.conf: ``localpart@domain`` with a configured, lower-cased domain."""
    address = address.strip()
    lp, at, domain = address.rpartition("@")
    if not at or not lp or not domain or any(c in address for c in _BAD_ADDRESS_CHARS):
        raise AccountError(f"invalid address {address!r}: need localpart@domain")
    domain = domain.lower().rstrip(".")
    if domain not in ctx.config.domains:
        known = ", ".join(sorted(ctx.config.domains)) or "none"
        raise AccountError(f"domain {domain!r} of address {address!r} is not configured (configured: {known})")
    return f"{lp}@{domain}"


def _check_account_name(name: str) -> str:
    from mox.names import account_name_problem

    problem = account_name_problem(name) if name == name.strip() else "leading or trailing space"
    if problem is not None:
        raise AccountError(f"invalid account name {name!r}: {problem}")
    return name


def _address_owner(ctx: Any, address: str) -> str | None:
    """The account that has address configured (exactly, case-insensitively), else None."""
    norm = ctx.auth.normalize_address(address)
    for name, acc in ctx.config.accounts.items():
        for a in acc.addresses:
            if a.lower() == address.lower() or (norm is not None and ctx.auth.normalize_address(a) == norm):
                return name
    return None


def apply_domains(ctx: Any, domains: Any) -> None:
    """Validate, write domains.conf atomically, switch ctx.config and ctx.auth to it (the
    change is live for every new command and delivery)."""
    from mox import config as cfgmod
    from mox.auth.authenticator import Authenticator

    try:
        # Constructing runs the checks of domains.conf (addresses, aliases) on the whole.
        domains = cfgmod.DomainsConfig(domains=dict(domains.domains), accounts=dict(domains.accounts))
        text = cfgmod.encode(domains)
    except (ValueError, TypeError) as e:
        raise AccountError(str(e)) from None
    path = Path(ctx.config.config_dir) / cfgmod.DOMAINS_CONF
    if path.parent.is_dir():
        try:
            cfgmod.write_file(path, text)
        except OSError as e:
            raise AccountError(f"writing {cfgmod.DOMAINS_CONF}: {e.strerror or e}") from None
    ctx.config = cfgmod.with_domains(ctx.config, domains)
    ctx.auth = Authenticator(ctx.config, ctx.store, getattr(ctx, "limiter", None))


def apply_accounts(ctx: Any, accounts: dict[str, Any]) -> None:
    """Like apply_domains, with other accounts."""
    apply_domains(ctx, msgspec.structs.replace(ctx.config.domains_file(), accounts=dict(accounts)))


def account_add(ctx: Any, name: str, address: str) -> None:
    from mox import config as cfgmod
    from mox.store import StoreError

    name = _check_account_name(name)
    address = normalize_address(ctx, address)
    if name in ctx.config.accounts:
        raise AccountError(f"account {name!r} already exists")
    owner = _address_owner(ctx, address)
    if owner is not None:
        raise AccountError(f"address {address!r} already in use by account {owner!r}")
    if ctx.config.alias(*_split(address)) is not None:
        raise AccountError(f"address {address!r} is an alias")
    try:
        if name not in ctx.store.account_names():
            ctx.store.create_account(name)
    except (StoreError, ValueError, OSError) as e:
        raise AccountError(f"creating account {name!r}: {e}") from None
    accounts = dict(ctx.config.accounts)
    accounts[name] = cfgmod.AccountConfig.with_addresses([address])
    apply_accounts(ctx, accounts)
    log.info("account added", account=name, address=address)


def _split(address: str) -> tuple[str, str]:
    lp, _, dom = address.rpartition("@")
    return lp, dom


def _aliases_with_member(ctx: Any, addresses: list[str]) -> list[str]:
    low = {a.lower() for a in addresses}
    return [f"{lp}@{d}" for d, dom in ctx.config.domains.items() for lp, al in dom.aliases.items()
            if any(m.lower() in low for m in al.addresses)]


def account_rm(ctx: Any, name: str) -> None:
    if name not in ctx.config.accounts:
        raise AccountError(f"unknown account {name!r}")
    if len(ctx.config.accounts) == 1:
        raise AccountError("cannot remove the last account")
    if ctx.config.postmaster[0] == name:
        raise AccountError(f"account {name!r} is the postmaster account (mox.conf Postmaster)")
    used = _aliases_with_member(ctx, ctx.config.accounts[name].addresses)
    if used:
        raise AccountError(f"addresses of account {name!r} are members of aliases {', '.join(used)}; remove them there first")
    apply_accounts(ctx, {k: v for k, v in ctx.config.accounts.items() if k != name})
    web = getattr(ctx, "web", None)
    if web is not None and getattr(web, "sessions", None) is not None:
        web.sessions.remove_account(name)
    try:
        from mox.auth import tlspubkey
    except ImportError:  # pragma: no cover - a build without TLS public keys
        tlspubkey = None  # type: ignore[assignment]
    if tlspubkey is not None:
        tlspubkey.keys_for(ctx.config.data_dir).remove_account(name)
    log.info("account removed (message data kept in the data dir)", account=name)


def address_add(ctx: Any, address: str, name: str) -> None:
    from mox import config as cfgmod

    cur = ctx.config.accounts.get(name)
    if cur is None:
        raise AccountError(f"unknown account {name!r}")
    address = normalize_address(ctx, address)
    owner = _address_owner(ctx, address)
    if owner is not None:
        raise AccountError(f"address {address!r} already in use by account {owner!r}")
    if ctx.config.alias(*_split(address)) is not None:
        raise AccountError(f"address {address!r} is an alias")
    accounts = dict(ctx.config.accounts)
    accounts[name] = msgspec.structs.replace(cur, destinations={**cur.destinations, address: cfgmod.Destination()})
    apply_accounts(ctx, accounts)
    log.info("address added", account=name, address=address)


def address_rm(ctx: Any, address: str) -> str:
    """Remove address from its account; returns the account name."""
    address = address.strip()
    for name, cur in ctx.config.accounts.items():
        rest = {a: d for a, d in cur.destinations.items() if a.lower() != address.lower()}
        if len(rest) == len(cur.destinations):
            continue
        if not rest:
            raise AccountError(
                f"address {address!r} is the last address of account {name!r}; remove the account instead"
            )
        used = _aliases_with_member(ctx, [address])
        if used:
            raise AccountError(f"address {address!r} is a member of aliases {', '.join(used)}; remove it there first")
        accounts = dict(ctx.config.accounts)
        accounts[name] = msgspec.structs.replace(cur, destinations=rest)
        apply_accounts(ctx, accounts)
        log.info("address removed", account=name, address=address)
        return name
    raise AccountError(f"unknown address {address!r}")


async def set_password(ctx: Any, name: str, password: str) -> None:
    from mox.auth import precis
    from mox.store import AccountNotFound

    if name not in ctx.config.accounts:
        raise AccountError(f"unknown account {name!r}")
    try:
        prepared = precis.check_new_password(password)
    except ValueError as e:
        raise AccountError(str(e)) from None
    try:
        acc = ctx.store.open_account(name)
    except AccountNotFound:
        raise AccountError(f"account {name!r} has no data in the store") from None
    try:
        await acc.set_password(prepared)
    finally:
        acc.close()
    log.info("account password changed", account=name)


# Control channel handlers.


async def _run(conn: Any, fn: Any, *args: Any) -> None:
    from mox.ctl import CtlError

    try:
        result = fn(*args)
        if hasattr(result, "__await__"):
            await result
    except AccountError as e:
        raise CtlError(str(e)) from None
    await conn.write_line("ok")


async def cmd_setaccountpassword(ctx: Any, conn: Any) -> None:
    name = await conn.read_line()
    password = await conn.read_line()
    await _run(conn, set_password, ctx, name, password)


async def cmd_accountadd(ctx: Any, conn: Any) -> None:
    name = await conn.read_line()
    address = await conn.read_line()
    await _run(conn, account_add, ctx, name, address)


async def cmd_accountrm(ctx: Any, conn: Any) -> None:
    name = await conn.read_line()
    await _run(conn, account_rm, ctx, name)


async def cmd_addressadd(ctx: Any, conn: Any) -> None:
    address = await conn.read_line()
    name = await conn.read_line()
    await _run(conn, address_add, ctx, address, name)


async def cmd_addressrm(ctx: Any, conn: Any) -> None:
    address = await conn.read_line()
    await _run(conn, address_rm, ctx, address)
