"""The admin page's account details and the running config (mox webadmin: Account,
SetPassword, SetAccountLimits, aliases, domains), added to
``POST /admin/api/<Method>``:

- ``Account`` ``{account}`` -> ``{name, addresses, full_name, quota, messages, mailboxes,
  disk_usage, destinations, max_outgoing_messages_per_day, max_first_time_recipients_per_day}``;
- ``SetPassword`` ``{account, password}`` (PRECIS OpaqueString, at least 8 bytes; the account's
  web sessions end, as mox);
- ``SetAccountLimits`` ``{account, quota, max_outgoing_messages_per_day,
  max_first_time_recipients_per_day}`` (each optional; quota in bytes: 0 the default, negative
  unlimited; limits: 0 mox's default, negative none);
- ``Aliases`` -> ``{aliases: [{address, Addresses, PostPublic, ListMembers, AllowMsgFrom}]}``,
  ``AliasSave`` ``{address, alias}`` (add or change; members must be addresses of accounts),
  ``AliasRemove`` ``{address}`` (mox's aliases: a message to the alias goes to the members);
- ``Domains`` -> ``{domains: [{domain, catchall_separators, dkim_selectors, dkim_sign, aliases,
  addresses}]}``, ``DomainAdd`` ``{domain, account, localpart}``, ``DomainRemove`` ``{domain}``;
- ``AccountDisabled`` ``{account, message}``: logins refused with message ("" enables).
"""

from __future__ import annotations

from typing import Any

import msgspec

from mox import config as cfgmod
from mox.admin import provision
from mox.web.router import HTTPError
from mox.context import ServerContext


#: AccountError.kind -> HTTP status of the answer.
_ERROR_STATUS = {"badRequest": 400, "badPassword": 400, "notFound": 404, "exists": 409, "server": 500}


def refused(e: provision.AccountError) -> HTTPError:
    """The HTTP error for a change mox.admin.provision refused: the CLI's message, a status by
    its kind (400, 404 unknown account or address, 409 in use, 500 domains.conf not written)."""
    prefix = "server" if e.kind == "server" else "user"
    return HTTPError(_ERROR_STATUS.get(e.kind, 400), f"{prefix}:{e.kind}", str(e))


def _account(ctx: ServerContext, obj: dict[str, Any]) -> tuple[str, Any]:
    name = obj.get("account")
    acc = ctx.config.accounts.get(name) if isinstance(name, str) else None
    if not isinstance(name, str) or acc is None:
        raise HTTPError(404, "user:notFound", "no such account")
    return name, acc


async def api_account(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    import trio

    name, conf = _account(ctx, obj)

    def counts() -> tuple[int, int, int]:
        acc = ctx.store.open_account(name)
        try:
            boxes = acc.mailboxes()
            return sum(mb.total for mb in boxes), len(boxes), acc.disk_usage()
        finally:
            acc.close()

    messages, mailboxes, usage = await trio.to_thread.run_sync(counts)
    return {
        "name": name, "addresses": list(conf.addresses), "full_name": conf.full_name, "quota": conf.quota,
        "messages": messages, "mailboxes": mailboxes, "disk_usage": usage,
        "destinations": msgspec.to_builtins(conf.destinations),
        "max_outgoing_messages_per_day": conf.max_outgoing_messages_per_day,
        "max_first_time_recipients_per_day": conf.max_first_time_recipients_per_day,
        "login_disabled": conf.login_disabled,
    }  # fmt: skip


async def api_set_password(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    # As `mox setaccountpassword` (mox.admin.provision.set_password): the same refusals.
    name, password = obj.get("account"), obj.get("password")
    if not isinstance(name, str) or not isinstance(password, str):
        raise HTTPError(400, "user:badRequest", "fields 'account' and 'password' must be strings")
    try:
        await provision.set_password(ctx, name, password)
    except provision.AccountError as e:
        raise refused(e) from None
    ctx.web.sessions.remove_account(name)
    return {}


LIMITS = ("quota", "max_outgoing_messages_per_day", "max_first_time_recipients_per_day")


async def api_set_account_limits(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    name, _ = _account(ctx, obj)
    changes = {}
    for k in LIMITS:
        v = obj.get(k)
        if v is None:
            continue
        if not isinstance(v, int) or isinstance(v, bool):
            raise HTTPError(400, "user:badRequest", f"field {k!r} must be an integer")
        changes["quota_message_size" if k == "quota" else k] = v
    try:
        provision.account_save(ctx, name, **changes)
    except provision.AccountError as e:
        raise HTTPError(400, "user:badRequest", str(e)) from None
    return await api_account(ctx, {"account": name})


def _aliases(ctx: ServerContext) -> list[dict[str, Any]]:
    return [
        {"address": f"{lp}@{d}", **msgspec.to_builtins(alias)}
        for d, dom in sorted(ctx.config.domains.items()) for lp, alias in sorted(dom.aliases.items())
    ]  # fmt: skip


async def api_aliases(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    return {"aliases": _aliases(ctx)}


def _alias_address(obj: dict[str, Any]) -> str:
    address = obj.get("address")
    if not isinstance(address, str) or "@" not in address or any(c in address for c in " <>,;\"\r\n\t"):
        raise HTTPError(400, "user:badRequest", "field 'address' must be an email address")
    return address.strip()


async def api_alias_save(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    """{address, alias: {Addresses, PostPublic, ListMembers, AllowMsgFrom}}: add or change."""
    address = _alias_address(obj)
    try:
        alias = msgspec.convert(obj.get("alias"), type=cfgmod.Alias)
    except (msgspec.ValidationError, ValueError, TypeError) as e:
        raise HTTPError(400, "user:badRequest", f"bad alias: {e}") from None
    try:
        provision.alias_save(ctx, address, alias)
    except provision.AccountError as e:
        raise HTTPError(400, "user:badRequest", str(e)) from None
    return {"aliases": _aliases(ctx)}


async def api_alias_remove(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    try:
        provision.alias_rm(ctx, _alias_address(obj))
    except provision.AccountError as e:
        raise HTTPError(404, "user:notFound", str(e)) from None
    return {"aliases": _aliases(ctx)}


def _domains(ctx: ServerContext) -> list[dict[str, Any]]:
    return [
        {
            "domain": d, "catchall_separators": dom.catchall_separators,
            "dkim_selectors": sorted(dom.dkim.selectors), "dkim_sign": list(dom.dkim.sign),
            "aliases": len(dom.aliases),
            "addresses": sorted(a for acc in ctx.config.accounts.values() for a in acc.addresses if a.lower().endswith("@" + d)),
        }
        for d, dom in sorted(ctx.config.domains.items())
    ]  # fmt: skip


async def api_domains(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    """The domains with their catch-all separators, DKIM selectors, alias count and addresses."""
    return {"domains": _domains(ctx)}


def _str_field(obj: dict[str, Any], name: str) -> str:
    v = obj.get(name, "")
    if not isinstance(v, str) or any(c in v for c in "\r\n\0"):
        raise HTTPError(400, "user:badRequest", f"field {name!r} must be a string")
    return v.strip()


async def api_domain_add(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    """{domain, account, localpart}: add a domain with new DKIM keys (mox's domain add: the
    account gets postmaster@domain, or is made with localpart@domain when new)."""
    try:
        await provision.domain_add(ctx, _str_field(obj, "domain"), _str_field(obj, "account"), _str_field(obj, "localpart"))
    except provision.AccountError as e:
        raise HTTPError(400, "user:badRequest", str(e)) from None
    return {"domains": _domains(ctx)}


async def api_domain_remove(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    """{domain}: remove a domain without addresses (its DKIM keys are moved aside)."""
    try:
        provision.domain_rm(ctx, _str_field(obj, "domain"))
    except provision.AccountError as e:
        raise HTTPError(400, "user:badRequest", str(e)) from None
    return {"domains": _domains(ctx)}


async def api_account_disabled(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    """{account, message}: refuse the account's logins with message ("" enables them again;
    mox's LoginDisabled)."""
    name, _ = _account(ctx, obj)
    try:
        provision.account_disabled(ctx, name, _str_field(obj, "message"))
    except provision.AccountError as e:
        raise HTTPError(400, "user:badRequest", str(e)) from None
    return await api_account(ctx, {"account": name})


API = {
    "Account": api_account,
    "SetPassword": api_set_password,
    "SetAccountLimits": api_set_account_limits,
    "Aliases": api_aliases,
    "AliasSave": api_alias_save,
    "AliasRemove": api_alias_remove,
    "Domains": api_domains,
    "DomainAdd": api_domain_add,
    "DomainRemove": api_domain_remove,
    "AccountDisabled": api_account_disabled,
}
