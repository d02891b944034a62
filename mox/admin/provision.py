"""Accounts, addresses, domains and aliases of a running mox (mox ``main.go``, ``ctl.go``,
``admin/admin.go``; quota: ``store/account.go``).

Changes go to domains.conf (temporary file + rename) and take effect at once: ``ctx.config`` is
replaced by a copy with the new accounts and ``ctx.auth`` by a new Authenticator over it (the
servers read both through ctx for every use), keeping the shared limiter.

Control channel commands (in mox.ctl.commands' table; mox's names and parameter lines, each answered
``ok`` or one error line):

- ``setaccountpassword``: account, password (PRECIS OpaqueString, at least 8 bytes);
- ``accountadd``: account, address (the account is created in the store when new);
- ``accountrm``: account (removed from the config with its TLS public keys and web sessions; its
  message data stays in the data dir);
- ``addressadd``: address, account; ``addressrm``: address (an account keeps one address);
- ``accountlist`` (streamed: one account a line, ``\t(disabled)`` when its login is disabled);
  ``accountdisabled``: account, message ("" enables login again);
- ``domainadd``: disabled ("true"/"false"), domain, account, localpart; ``domainrm``: domain;
  ``domaindisabled``: domain, "true"/"false";
- ``aliaslist``: domain; ``aliasprint``: address (both streamed); ``aliasadd``: address, the
  alias as JSON; ``aliasupdate``: address, postpublic, listmembers, allowmsgfrom ("" keeps);
  ``aliasrm``: address; ``aliasaddaddr`` / ``aliasrmaddr``: address, JSON list of addresses.

The admin page (mox.web.webadmin) calls the same functions, so both refuse the same changes
with the same messages; ``AccountError.kind`` tells the page which HTTP status to answer.

An account's quota and daily send limits are read from the config (``Config.account_quota``,
``Config.send_limits``).
"""

from __future__ import annotations

from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from mox import mlog
from mox.auth import tlspubkey
from mox.context import ServerContext

if TYPE_CHECKING:
    from mox.config import AccountConfig, Alias, DKIMConfig, DomainConfig, DomainsConfig
    from mox.ctl.server import CtlConn

log = mlog.get_logger("accounts")

#: Characters never allowed in an address given on the command line.
_BAD_ADDRESS_CHARS = " <>,;\"\r\n\t\\"


class AccountError(Exception):
    """A change was refused; the text is for the user (one line). ``kind`` says why:
    ``badRequest`` (invalid input), ``notFound`` (unknown account or address), ``exists`` (the
    account or address is taken), ``badPassword``, or ``server`` (domains.conf not written)."""

    def __init__(self, message: str, kind: str = "badRequest") -> None:
        super().__init__(message)
        self.kind = kind


def normalize_address(ctx: ServerContext, address: str) -> str:
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


def _address_owner(ctx: ServerContext, address: str) -> str | None:
    """The account that has address configured (exactly, case-insensitively), else None."""
    norm = ctx.auth.normalize_address(address)
    for name, acc in ctx.config.accounts.items():
        for a in acc.addresses:
            if a.lower() == address.lower() or (norm is not None and ctx.auth.normalize_address(a) == norm):
                return name
    return None


def apply_domains(ctx: ServerContext, domains: Any) -> None:
    """Validate, write domains.conf atomically, switch ctx.config and ctx.auth to it (the
    change is live for every new command and delivery)."""
    from mox import config as cfgmod
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
            raise AccountError(f"writing {cfgmod.DOMAINS_CONF}: {e.strerror or e}", "server") from None
    ctx.set_config(cfgmod.with_domains(ctx.config, domains))


def apply_accounts(ctx: ServerContext, accounts: dict[str, Any]) -> None:
    """Like apply_domains, with other accounts."""
    try:
        # Replacing runs the checks of domains.conf on the whole (addresses, fromid logins).
        domains = msgspec.structs.replace(ctx.config.domains_file(), accounts=dict(accounts))
    except (ValueError, TypeError) as e:
        raise AccountError(str(e)) from None
    apply_domains(ctx, domains)


def account_save(ctx: ServerContext, name: str, **changes: Any) -> None:
    """Change fields of an account's config (e.g. its webhooks), written to domains.conf at once
    (mox admin.AccountSave)."""
    cur = ctx.config.accounts.get(name)
    if cur is None:
        raise AccountError(f"unknown account {name!r}")
    try:
        new = msgspec.structs.replace(cur, **changes)
    except (ValueError, TypeError) as e:
        raise AccountError(str(e)) from None
    apply_accounts(ctx, {**ctx.config.accounts, name: new})
    log.info("account config changed", account=name, fields=",".join(sorted(changes)))


def account_add(ctx: ServerContext, name: str, address: str) -> None:
    from mox import config as cfgmod
    from mox.store import StoreError

    name = _check_account_name(name)
    address = normalize_address(ctx, address)
    if name in ctx.config.accounts:
        raise AccountError(f"account {name!r} already exists", "exists")
    owner = _address_owner(ctx, address)
    if owner is not None:
        raise AccountError(f"address {address!r} already in use by account {owner!r}", "exists")
    if ctx.config.alias(*_split(address)) is not None:
        raise AccountError(f"address {address!r} is an alias", "exists")
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


def _aliases_with_member(ctx: ServerContext, addresses: list[str]) -> list[str]:
    low = {a.lower() for a in addresses}
    return [f"{lp}@{d}" for d, dom in ctx.config.domains.items() for lp, al in dom.aliases.items()
            if any(m.lower() in low for m in al.addresses)]


def account_rm(ctx: ServerContext, name: str) -> None:
    if name not in ctx.config.accounts:
        raise AccountError(f"unknown account {name!r}", "notFound")
    if len(ctx.config.accounts) == 1:
        raise AccountError("cannot remove the last account")
    if ctx.config.postmaster[0] == name:
        raise AccountError(f"account {name!r} is the postmaster account (mox.conf Postmaster)")
    used = _aliases_with_member(ctx, ctx.config.accounts[name].addresses)
    if used:
        raise AccountError(f"addresses of account {name!r} are members of aliases {', '.join(used)}; remove them there first")
    apply_accounts(ctx, {k: v for k, v in ctx.config.accounts.items() if k != name})
    if ctx.serving_web:
        ctx.web.sessions.remove_account(name)
    tlspubkey.keys_for(ctx.config.data_dir).remove_account(name)
    ctx.store.auth_cache.invalidate(name)  # no login from a remembered password either
    log.info("account removed (message data kept in the data dir)", account=name)


def address_add(ctx: ServerContext, address: str, name: str) -> None:
    from mox import config as cfgmod

    cur = ctx.config.accounts.get(name)
    if cur is None:
        raise AccountError(f"unknown account {name!r}", "notFound")
    address = normalize_address(ctx, address)
    owner = _address_owner(ctx, address)
    if owner is not None:
        raise AccountError(f"address {address!r} already in use by account {owner!r}", "exists")
    if ctx.config.alias(*_split(address)) is not None:
        raise AccountError(f"address {address!r} is an alias", "exists")
    accounts = dict(ctx.config.accounts)
    accounts[name] = msgspec.structs.replace(cur, destinations={**cur.destinations, address: cfgmod.Destination()})
    apply_accounts(ctx, accounts)
    log.info("address added", account=name, address=address)


def address_rm(ctx: ServerContext, address: str) -> str:
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
    raise AccountError(f"unknown address {address!r}", "notFound")


def check_new_password(password: str) -> str:
    """The PRECIS-prepared password, or AccountError (kind ``badPassword``) saying why it is
    refused (not an OpaqueString, shorter than 8 bytes)."""
    from mox.auth import precis

    try:
        return precis.check_new_password(password)
    except ValueError as e:
        raise AccountError(str(e), "badPassword") from None


async def set_password(ctx: ServerContext, name: str, password: str) -> None:
    from mox.store import AccountNotFound

    if name not in ctx.config.accounts:
        raise AccountError(f"unknown account {name!r}", "notFound")
    prepared = check_new_password(password)
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


async def _run(conn: Any, fn: Any, *args: Any, what: str = "") -> None:
    """Run fn; an AccountError becomes the command's error line, after ``what`` (mox's context
    such as "adding alias") when given."""
    from mox.ctl import CtlError

    try:
        result = fn(*args)
        if hasattr(result, "__await__"):
            await result
    except AccountError as e:
        raise CtlError(f"{what}: {e}" if what else str(e)) from None
    await conn.write_line("ok")


async def cmd_setaccountpassword(ctx: ServerContext, conn: Any) -> None:
    name = await conn.read_line()
    password = await conn.read_line()
    await _run(conn, set_password, ctx, name, password)


async def cmd_accountadd(ctx: ServerContext, conn: Any) -> None:
    name = await conn.read_line()
    address = await conn.read_line()
    await _run(conn, account_add, ctx, name, address)


async def cmd_accountrm(ctx: ServerContext, conn: Any) -> None:
    name = await conn.read_line()
    await _run(conn, account_rm, ctx, name)


async def cmd_addressadd(ctx: ServerContext, conn: Any) -> None:
    address = await conn.read_line()
    name = await conn.read_line()
    await _run(conn, address_add, ctx, address, name)


async def cmd_addressrm(ctx: ServerContext, conn: Any) -> None:
    address = await conn.read_line()
    await _run(conn, address_rm, ctx, address)


# Domains, aliases and disabled accounts (mox admin/admin.go: DomainAdd, DomainRemove, Alias*,
# and ctl.go accountlist/accountdisabled). Each change is validated as a whole, written to
# domains.conf and live at once.


def _domains_file(domains: dict[str, DomainConfig], accounts: dict[str, AccountConfig]) -> DomainsConfig:
    """A domains.conf value; its checks (addresses, aliases) failing are the user's error."""
    from mox import config as cfgmod

    try:
        return cfgmod.DomainsConfig(domains=domains, accounts=accounts)
    except (ValueError, TypeError) as e:
        raise AccountError(str(e)) from None


def _domain_name(ctx: ServerContext, domain: str, *, exists: bool = True) -> str:
    d = domain.strip().lower().rstrip(".")
    if not d or any(c.isspace() or c in "@/\\;\"<>," for c in d) or ".." in d or d.startswith("."):
        raise AccountError(f"parsing domain {domain!r}: invalid domain name")
    if exists and d not in ctx.config.domains:
        raise AccountError("no such domain")
    return d


async def domain_add(ctx: ServerContext, domain: str, account: str, localpart: str, disabled: bool = False) -> None:
    """Add a domain; the account gets postmaster@domain (mox: the account is the domain's
    postmaster). A new account is made with localpart@domain; localpart must be given if and
    only if the account does not exist yet. As mox's MakeDomainConfig: catchall separator "+"
    and two new RSA DKIM keys, selectors <year>a (signing) and <year>b, in the config dir's
    dkim/ (generated in a worker thread)."""
    from mox import config as cfgmod
    from mox.store import StoreError

    d = _domain_name(ctx, domain, exists=False)
    if d in ctx.config.domains:
        raise AccountError("domain already present")
    if not account:
        raise AccountError("account name is empty")
    accounts = dict(ctx.config.accounts)
    cur = accounts.get(account)
    if cur is not None and localpart:
        raise AccountError("account already exists (leave localpart empty when using an existing account)")
    if cur is None and not localpart:
        raise AccountError("account does not yet exist (specify a localpart)")
    if cur is None:
        _check_account_name(account)
        accounts[account] = cfgmod.AccountConfig.with_addresses([f"{localpart}@{d}"], domain=d)
    elif account != ctx.config.postmaster[0]:
        pm = f"postmaster@{d}"
        accounts[account] = msgspec.structs.replace(cur, destinations={**cur.destinations, pm: cfgmod.Destination()})
    domains = dict(ctx.config.domains)
    domains[d] = cfgmod.DomainConfig(localpart_catchall_separator="+")
    _domains_file(domains, accounts)  # the checks, before keys are made
    written: list[Path] = []
    try:
        dkim = await _new_dkim_keys(ctx, d, written)
        domains[d] = cfgmod.DomainConfig(disabled=disabled, localpart_catchall_separator="+", dkim=dkim)
        new = _domains_file(domains, accounts)
        if cur is None:
            try:
                if account not in ctx.store.account_names():
                    ctx.store.create_account(account)
            except (StoreError, ValueError, OSError) as e:
                raise AccountError(f"creating account {account!r}: {e}") from None
        apply_domains(ctx, new)
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        raise
    log.info("domain added", domain=d, account=account, disabled=disabled)


def domain_disabled(ctx: ServerContext, domain: str, disabled: bool) -> None:
    """Disable or enable a domain (mox admin.DomainSave of Disabled): see DomainConfig.disabled."""
    d = _domain_name(ctx, domain)
    domains = dict(ctx.config.domains)
    domains[d] = msgspec.structs.replace(domains[d], disabled=disabled)
    apply_domains(ctx, _domains_file(domains, dict(ctx.config.accounts)))
    log.info("domain disabled" if disabled else "domain enabled", domain=d)


async def _new_dkim_keys(ctx: ServerContext, domain: str, written: list[Path]) -> DKIMConfig:
    """Two new RSA DKIM keys for a new domain, written below the config dir (paths appended to
    ``written``), as mox's admin.MakeDomainConfig names them."""
    import time

    import trio

    from mox import config as cfgmod
    from mox.dkim.keys import make_rsa_key

    now = time.gmtime()
    year, stamp = time.strftime("%Y", now), time.strftime("%Y%m%dT%H%M%S", now)
    selectors: dict[str, cfgmod.DKIMSelector] = {}
    for sel in (year + "a", year + "b"):
        pem = await trio.to_thread.run_sync(make_rsa_key, sel, domain)
        rel = f"dkim/{sel}._domainkey.{domain}.{stamp}.rsa2048.privatekey.pkcs8.pem"
        path = Path(ctx.config.config_dir) / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            cfgmod.write_file(path, pem, secret=True)
        except OSError as e:
            raise AccountError(f"writing dkim key: {e.strerror or e}") from None
        written.append(path)
        # RFC 6376 3.5 x=: mox's 72h expiration.
        selectors[sel] = cfgmod.DKIMSelector(expiration="72h", private_key_file=rel)
    return cfgmod.DKIMConfig(selectors=selectors, sign=[year + "a"])


def domain_rm(ctx: ServerContext, domain: str) -> None:
    """Remove a domain. Like mox, refused while a TLS public key logs in with an address at
    it; addresses of accounts at the domain must be removed first (domains.conf would refer
    to a domain that does not exist)."""
    from mox import config as cfgmod

    d = _domain_name(ctx, domain)
    from mox.auth import tlspubkey

    for key in tlspubkey.keys_for(ctx.config.data_dir).list(None):
        if key.login_address.lower().endswith("@" + d):
            raise AccountError(f"domain is still referenced in tls public key by login address {key.login_address!r} "
                               f"of account {key.account!r}, change or remove it first")
    for name, acc in ctx.config.accounts.items():
        used = [a for a in acc.addresses if a.lower().endswith("@" + d)]
        if used:
            raise AccountError(f"domain is still used by address {used[0]!r} of account {name!r}, remove it first")
    removed = ctx.config.domains[d]
    domains = {k: v for k, v in ctx.config.domains.items() if k != d}
    apply_domains(ctx, _domains_file(domains, dict(ctx.config.accounts)))
    _move_away_keys(ctx, removed, domains)
    log.info("domain removed", domain=d)


def _move_away_keys(ctx: ServerContext, removed: DomainConfig, domains: dict[str, DomainConfig]) -> None:
    """The DKIM key files of a removed domain that no other domain uses go to an "old" dir
    beside them (mox admin.go moveAwayKeys): nothing is deleted."""
    import os

    base = Path(ctx.config.config_dir)
    used = {os.path.normpath(sel.private_key_file) for dom in domains.values() for sel in dom.dkim.selectors.values()}
    for sel in removed.dkim.selectors.values():
        if os.path.normpath(sel.private_key_file) in used:
            continue
        src = base / sel.private_key_file
        dst = src.parent / "old" / src.name
        try:
            if dst.exists():
                raise FileExistsError(f"{dst} already exists")
            dst.parent.mkdir(parents=True, exist_ok=True)
            src.rename(dst)
        except OSError as e:
            # The domain is gone already; a key file left in place is no harm.
            log.warn("dkim private key file of removed domain not moved", src=str(src), err=str(e))


def _alias_parts(ctx: ServerContext, address: str) -> tuple[str, str, DomainConfig]:
    """(localpart as configured or given, domain, DomainConfig) of an alias address."""
    lp, at, dom = address.strip().rpartition("@")
    if not at or not lp:
        raise AccountError(f"parsing address {address!r}: need localpart@domain")
    d = _domain_name(ctx, dom)
    dc = ctx.config.domains[d]
    for name in dc.aliases:
        if name.lower() == lp.lower():
            return name, d, dc
    return lp, d, dc


def _save_aliases(ctx: ServerContext, d: str, aliases: dict[str, Alias]) -> None:
    from mox import config as cfgmod

    domains = dict(ctx.config.domains)
    domains[d] = msgspec.structs.replace(domains[d], aliases=aliases)
    apply_domains(ctx, _domains_file(domains, dict(ctx.config.accounts)))


def alias_list(ctx: ServerContext, domain: str) -> list[str]:
    d = _domain_name(ctx, domain)
    return [f"{lp}@{d}" for lp in sorted(ctx.config.domains[d].aliases)]


def alias_print(ctx: ServerContext, address: str) -> list[str]:
    """The alias's settings and members, in mox's form."""
    lp, d, dc = _alias_parts(ctx, address)
    alias = dc.aliases.get(lp)
    if alias is None:
        if ctx.auth.account_for_address(address.strip()) is not None:
            raise AccountError("address not an alias")
        raise AccountError("no such address")
    b = lambda v: "true" if v else "false"  # noqa: E731
    return [f"# postpublic {b(alias.post_public)}", f"# listmembers {b(alias.list_members)}",
            f"# allowmsgfrom {b(alias.allow_msg_from)}", "# members:", *alias.addresses]


def alias_add(ctx: ServerContext, address: str, alias: Alias) -> None:
    lp, d, dc = _alias_parts(ctx, address)
    if lp in dc.aliases:
        raise AccountError("alias already present")
    if ctx.auth.account_for_address(f"{lp}@{d}") is not None and _address_owner(ctx, f"{lp}@{d}") is not None:
        raise AccountError(f"alias {lp}@{d} already present as regular address")
    _save_aliases(ctx, d, {**dc.aliases, lp: alias})
    log.info("alias added", alias=f"{lp}@{d}")


def _bool_setting(name: str, value: str, cur: bool) -> bool:
    if value == "":
        return cur
    if value not in ("true", "false"):
        raise AccountError(f"bad value {value!r} for {name}, need true or false")
    return value == "true"


def alias_update(ctx: ServerContext, address: str, postpublic: str, listmembers: str, allowmsgfrom: str) -> None:
    lp, d, dc = _alias_parts(ctx, address)
    alias = dc.aliases.get(lp)
    if alias is None:
        raise AccountError("alias does not exist")
    new = msgspec.structs.replace(
        alias,
        post_public=_bool_setting("postpublic", postpublic, alias.post_public),
        list_members=_bool_setting("listmembers", listmembers, alias.list_members),
        allow_msg_from=_bool_setting("allowmsgfrom", allowmsgfrom, alias.allow_msg_from),
    )
    _save_aliases(ctx, d, {**dc.aliases, lp: new})
    log.info("alias updated", alias=f"{lp}@{d}")


def alias_save(ctx: ServerContext, address: str, alias: Alias) -> None:
    """Add the alias, or replace its members and settings (the admin page's form)."""
    lp, d, dc = _alias_parts(ctx, address)
    if lp not in dc.aliases:
        alias_add(ctx, address, alias)
        return
    _save_aliases(ctx, d, {**dc.aliases, lp: alias})
    log.info("alias changed", alias=f"{lp}@{d}")


def alias_rm(ctx: ServerContext, address: str) -> None:
    lp, d, dc = _alias_parts(ctx, address)
    if lp not in dc.aliases:
        raise AccountError("alias does not exist")
    _save_aliases(ctx, d, {k: v for k, v in dc.aliases.items() if k != lp})
    log.info("alias removed", alias=f"{lp}@{d}")


def alias_addaddr(ctx: ServerContext, address: str, addresses: list[str]) -> None:
    if not addresses:
        raise AccountError("at least one address required")
    lp, d, dc = _alias_parts(ctx, address)
    alias = dc.aliases.get(lp)
    if alias is None:
        raise AccountError("no such alias")
    new = msgspec.structs.replace(alias, addresses=[*alias.addresses, *addresses])
    _save_aliases(ctx, d, {**dc.aliases, lp: new})
    log.info("alias addresses added", alias=f"{lp}@{d}", count=len(addresses))


def alias_rmaddr(ctx: ServerContext, address: str, addresses: list[str]) -> None:
    if not addresses:
        raise AccountError("need at least one address")
    lp, d, dc = _alias_parts(ctx, address)
    alias = dc.aliases.get(lp)
    if alias is None:
        raise AccountError("no such alias")
    missing = [a for a in addresses if a not in alias.addresses]
    if missing:
        raise AccountError(f"address not found: {', '.join(missing)}")
    rest = [a for a in alias.addresses if a not in addresses]
    if not rest:
        raise AccountError(f"alias {lp}@{d} needs at least one destination address; remove the alias instead")
    _save_aliases(ctx, d, {**dc.aliases, lp: msgspec.structs.replace(alias, addresses=rest)})
    log.info("alias addresses removed", alias=f"{lp}@{d}", count=len(addresses))


def account_list(ctx: ServerContext) -> list[str]:
    """Each account, with "\\t(disabled)" when its login is disabled (mox ctl accountlist)."""
    return [name + ("\t(disabled)" if acc.login_disabled else "") for name, acc in sorted(ctx.config.accounts.items())]


def account_disabled(ctx: ServerContext, name: str, message: str) -> None:
    """Disable login for the account with message, or enable it with "" (mox ctl
    accountdisabled). New logins are refused on every protocol and web sessions end; IMAP and
    SMTP connections already logged in stay, as in mox."""
    from mox import config as cfgmod

    cur = ctx.config.accounts.get(name)
    if cur is None:
        raise AccountError("account not found", "notFound")
    try:
        new = cfgmod.AccountConfig(**{**msgspec.structs.asdict(cur), "login_disabled": message})
    except (ValueError, TypeError) as e:
        raise AccountError(str(e)) from None
    apply_accounts(ctx, {**ctx.config.accounts, name: new})
    if message:
        # Logins are refused after the password check anyway; nothing stays remembered either.
        ctx.store.auth_cache.invalidate(name)
    if message and ctx.web is not None and ctx.web.sessions is not None:
        # mox ctl.go accountdisabled: the account's web login sessions end too.
        ctx.web.sessions.remove_account(name)
    log.info("account login disabled" if message else "account login enabled", account=name)


async def _run_stream(conn: CtlConn, fn: Callable[..., list[str]], *args: Any, what: str = "") -> None:
    from mox.ctl import CtlError

    try:
        lines = fn(*args)
    except AccountError as e:
        raise CtlError(f"{what}: {e}" if what else str(e)) from None
    await conn.write_line("ok")
    await conn.write_stream("".join(line + "\n" for line in lines).encode("utf-8"))


def _json_list(text: str) -> list[str]:
    from mox.ctl import CtlError

    try:
        v = msgspec.json.decode(text.encode("utf-8"), type=list[str])
    except msgspec.DecodeError:
        raise CtlError("parsing addresses: expected a json list of strings") from None
    return v


async def cmd_domainadd(ctx: ServerContext, conn: CtlConn) -> None:
    disabled = await conn.read_line()
    domain = await conn.read_line()
    account = await conn.read_line()
    localpart = await conn.read_line()
    await _run(conn, domain_add, ctx, domain, account, localpart, _ctl_bool(disabled, "disabled"), what="adding domain")


def _ctl_bool(value: str, what: str) -> bool:
    from mox.ctl import CtlError

    if value not in ("true", "false"):
        raise CtlError(f"parsing {what} boolean: invalid value {value!r}")
    return value == "true"


async def cmd_domaindisabled(ctx: ServerContext, conn: CtlConn) -> None:
    domain = await conn.read_line()
    disabled = _ctl_bool(await conn.read_line(), "disabled")
    await _run(conn, domain_disabled, ctx, domain, disabled, what="saving domain")


async def cmd_domainrm(ctx: ServerContext, conn: CtlConn) -> None:
    domain = await conn.read_line()
    await _run(conn, domain_rm, ctx, domain, what="removing domain")


async def cmd_aliaslist(ctx: ServerContext, conn: CtlConn) -> None:
    domain = await conn.read_line()
    await _run_stream(conn, alias_list, ctx, domain, what="listing aliases")


async def cmd_aliasprint(ctx: ServerContext, conn: CtlConn) -> None:
    address = await conn.read_line()
    await _run_stream(conn, alias_print, ctx, address, what="looking up alias")


async def cmd_aliasadd(ctx: ServerContext, conn: CtlConn) -> None:
    from mox import config as cfgmod
    from mox.ctl import CtlError

    address = await conn.read_line()
    raw = await conn.read_line()
    try:
        alias = msgspec.json.decode(raw.encode("utf-8"), type=cfgmod.Alias)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise CtlError(f"parsing alias: {e}") from None
    await _run(conn, alias_add, ctx, address, alias, what="adding alias")


async def cmd_aliasupdate(ctx: ServerContext, conn: CtlConn) -> None:
    address = await conn.read_line()
    postpublic = await conn.read_line()
    listmembers = await conn.read_line()
    allowmsgfrom = await conn.read_line()
    await _run(conn, alias_update, ctx, address, postpublic, listmembers, allowmsgfrom, what="saving alias")


async def cmd_aliasrm(ctx: ServerContext, conn: CtlConn) -> None:
    address = await conn.read_line()
    await _run(conn, alias_rm, ctx, address, what="removing alias")


async def cmd_aliasaddaddr(ctx: ServerContext, conn: CtlConn) -> None:
    address = await conn.read_line()
    addresses = _json_list(await conn.read_line())
    await _run(conn, alias_addaddr, ctx, address, addresses, what="adding addresses to alias")


async def cmd_aliasrmaddr(ctx: ServerContext, conn: CtlConn) -> None:
    address = await conn.read_line()
    addresses = _json_list(await conn.read_line())
    await _run(conn, alias_rmaddr, ctx, address, addresses, what="removing addresses from alias")


async def cmd_accountlist(ctx: ServerContext, conn: CtlConn) -> None:
    await _run_stream(conn, account_list, ctx)


async def cmd_accountdisabled(ctx: ServerContext, conn: CtlConn) -> None:
    name = await conn.read_line()
    message = await conn.read_line()
    await _run(conn, account_disabled, ctx, name, message, what="saving account")
