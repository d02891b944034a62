"""Admin page (``/admin/``, a small part of mox ``webadmin/admin.go``): accounts and addresses, the
queue, log levels. Log in with the admin password (``moxadmin`` in localserve).

``POST /admin/api/<Method>`` with a JSON object (``admin`` session, CSRF header):

- ``Accounts`` -> ``{"accounts": [{"name", "addresses", "messages", "disk_usage"}], "domains"}``;
- ``AccountAdd`` ``{account, address, password?}``: creates the account in the store and adds it
  to domains.conf; ``AccountRemove`` ``{account}``: removes it from domains.conf, logs out its
  sessions and removes its TLS public keys; its message data stays on disk (never lost by a
  click; remove the directory by hand);
- ``AddressAdd`` ``{address, account}``, ``AddressRemove`` ``{address}`` (an account keeps at
  least one address);
- ``Queue`` -> ``{"queue": [...entries]}``, ``QueueDrop`` / ``QueueFail`` ``{ids}`` (``ids``
  omitted or null means all), ``QueueHoldSet`` ``{ids, hold}`` (a held entry is not delivered
  until released, mox's hold), ``QueueNextAttemptSet`` ``{ids, minutes}`` (from now);
- ``LogLevels`` -> ``{"levels": {"": default, pkg: level}, "known": [...]}``, ``LogLevelSet``
  ``{pkg, level}`` (pkg "" sets the default; level "" unsets a package);
- ``Account``, ``SetPassword``, ``SetAccountLimits``, ``Config``: mox.web.admin_accounts.

Config changes are written to domains.conf (temporary file + rename) and take effect at once:
``ctx.config`` is replaced by a copy with the new accounts and ``ctx.auth`` by a new
Authenticator over it (modules read both through ctx for every use).
"""

from __future__ import annotations

from typing import Any

import msgspec

from mox import mlog
from mox.auth import tlspubkey
from mox.web import admin_accounts
from mox.web.router import HTTPError, Request, Response, Router, json_response, static_response
from mox.web.session import require_session
from mox.context import ServerContext

KIND = "admin"
KNOWN_PACKAGES = ("imapserver", "smtpserver", "store", "queue", "serve", "localserve", "ctl", "http", "auth")


def _accounts(ctx: ServerContext) -> Any:
    out = []
    for name, acc_cfg in sorted(ctx.config.accounts.items()):
        messages = usage = 0
        try:
            acc = ctx.store.open_account(name)
            try:
                messages = sum(mb.total for mb in acc.mailboxes())
                usage = acc.disk_usage()
            finally:
                acc.close()
        except Exception:  # noqa: BLE001 - listing must not fail on one broken account
            pass
        out.append({"name": name, "addresses": list(acc_cfg.addresses), "messages": messages, "disk_usage": usage})
    return {"accounts": out, "domains": sorted(ctx.config.domains)}


def _apply_accounts(ctx: ServerContext, accounts: dict[str, Any]) -> None:
    """Validate, write domains.conf, and switch ctx.config / ctx.auth to the new accounts."""
    from mox.admin.provision import AccountError, apply_accounts

    try:
        apply_accounts(ctx, accounts)
    except AccountError as e:
        raise HTTPError(400, "user:badRequest", str(e)) from None


def _address(ctx: ServerContext, obj: dict[str, Any]) -> str:
    addr = obj.get("address")
    if not isinstance(addr, str) or not addr.strip():
        raise HTTPError(400, "user:badRequest", "field 'address' must be an email address")
    addr = addr.strip()
    lp, at, domain = addr.rpartition("@")
    if not at or not lp or not domain or any(c in addr for c in " <>,;\r\n\t"):
        raise HTTPError(400, "user:badRequest", f"invalid address {addr!r}")
    if domain.lower() not in ctx.config.domains:
        raise HTTPError(400, "user:badRequest", f"domain {domain!r} is not configured ({', '.join(sorted(ctx.config.domains))})")
    return f"{lp}@{domain.lower()}"


def _account_name(obj: dict[str, Any], *, new: bool = False) -> str:
    name = obj.get("account")
    if not isinstance(name, str) or not name.strip():
        raise HTTPError(400, "user:badRequest", "field 'account' must be a non-empty string")
    if new:
        from mox.names import account_name_problem

        problem = account_name_problem(name.strip())
        if problem is not None:
            raise HTTPError(400, "user:badRequest", f"invalid account name {name.strip()!r}: {problem}")
    return name.strip()


async def api_accounts(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    return _accounts(ctx)


async def api_account_add(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    from mox import config as cfgmod
    from mox.store import StoreError

    name = _account_name(obj, new=True)
    addr = _address(ctx, obj)
    if name in ctx.config.accounts:
        raise HTTPError(409, "user:exists", f"account {name!r} exists")
    if ctx.auth.account_for_address(addr) is not None:
        raise HTTPError(409, "user:exists", f"address {addr!r} is already in use")
    password = obj.get("password") or ""
    if not isinstance(password, str):
        raise HTTPError(400, "user:badRequest", "field 'password' must be a string")
    if password:
        from mox.auth import precis

        try:
            password = precis.check_new_password(password)
        except ValueError as e:
            raise HTTPError(400, "user:badPassword", str(e)) from None
    try:
        if name not in ctx.store.account_names():
            ctx.store.create_account(name)
    except (StoreError, ValueError) as e:
        raise HTTPError(400, "user:badRequest", f"creating account: {e}") from None
    accounts = dict(ctx.config.accounts)
    accounts[name] = cfgmod.AccountConfig.with_addresses([addr])
    _apply_accounts(ctx, accounts)
    if password:
        acc = ctx.store.open_account(name)
        try:
            await acc.set_password(password)
        finally:
            acc.close()
    ctx.log.info("account added through the admin page", account=name, address=addr)
    return _accounts(ctx)


async def api_account_remove(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    name = _account_name(obj)
    if name not in ctx.config.accounts:
        raise HTTPError(404, "user:notFound", f"no account {name!r}")
    if len(ctx.config.accounts) == 1:
        raise HTTPError(400, "user:badRequest", "cannot remove the last account")
    accounts = {k: v for k, v in ctx.config.accounts.items() if k != name}
    _apply_accounts(ctx, accounts)
    ctx.web.sessions.remove_account(name)
    tlspubkey.keys_for(ctx.config.data_dir).remove_account(name)
    ctx.log.info("account removed through the admin page (data kept on disk)", account=name)
    return _accounts(ctx)


async def api_address_add(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    from mox import config as cfgmod

    name = _account_name(obj)
    addr = _address(ctx, obj)
    cur = ctx.config.accounts.get(name)
    if cur is None:
        raise HTTPError(404, "user:notFound", f"no account {name!r}")
    if ctx.auth.account_for_address(addr) is not None:
        raise HTTPError(409, "user:exists", f"address {addr!r} is already in use")
    accounts = dict(ctx.config.accounts)
    accounts[name] = msgspec.structs.replace(cur, destinations={**cur.destinations, addr: cfgmod.Destination()})
    _apply_accounts(ctx, accounts)
    return _accounts(ctx)


async def api_address_remove(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    addr = obj.get("address")
    if not isinstance(addr, str):
        raise HTTPError(400, "user:badRequest", "field 'address' must be a string")
    for name, cur in ctx.config.accounts.items():
        rest = {a: d for a, d in cur.destinations.items() if a.lower() != addr.strip().lower()}
        if len(rest) != len(cur.destinations):
            if not rest:
                raise HTTPError(400, "user:badRequest", "an account keeps at least one address; remove the account instead")
            accounts = dict(ctx.config.accounts)
            accounts[name] = msgspec.structs.replace(cur, destinations=rest)
            _apply_accounts(ctx, accounts)
            return _accounts(ctx)
    raise HTTPError(404, "user:notFound", f"no address {addr!r}")


def _queue_entries(ctx: ServerContext) -> list[dict[str, Any]]:
    return [msgspec.to_builtins(e) for e in ctx.queue.list()]


def _ids(obj: dict[str, Any]) -> list[int] | None:
    ids = obj.get("ids")
    if ids is None:
        return None
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise HTTPError(400, "user:badRequest", "field 'ids' must be a list of integers or null")
    return ids


async def api_queue(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    return {"queue": _queue_entries(ctx)}


async def api_queue_drop(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    dropped = await ctx.queue.drop(_ids(obj))
    return {"ids": dropped, "queue": _queue_entries(ctx)}


async def api_queue_fail(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    failed = await ctx.queue.fail(_ids(obj))
    return {"ids": failed, "queue": _queue_entries(ctx)}


async def api_queue_hold_set(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    hold = obj.get("hold")
    if not isinstance(hold, bool):
        raise HTTPError(400, "user:badRequest", "field 'hold' must be true or false")
    changed = await ctx.queue.set_hold(_ids(obj), hold)
    return {"ids": changed, "queue": _queue_entries(ctx)}


async def api_queue_next_attempt_set(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    import time

    minutes = obj.get("minutes")
    if not isinstance(minutes, (int, float)) or isinstance(minutes, bool) or not 0 <= minutes <= 60 * 24 * 365:
        raise HTTPError(400, "user:badRequest", "field 'minutes' must be a number of minutes from now (0 to a year)")
    changed = await ctx.queue.set_next_attempt(_ids(obj), time.time() + minutes * 60)
    return {"ids": changed, "queue": _queue_entries(ctx)}


async def api_loglevels(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    return {"levels": mlog.levels(), "known": list(KNOWN_PACKAGES), "all": list(mlog.LEVELS)}


async def api_loglevel_set(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    pkg, level = obj.get("pkg", ""), obj.get("level")
    if not isinstance(pkg, str) or not isinstance(level, str):
        raise HTTPError(400, "user:badRequest", "fields 'pkg' and 'level' must be strings")
    try:
        mlog.set_level(level, pkg)
    except ValueError as e:
        raise HTTPError(400, "user:badRequest", str(e)) from None
    ctx.log.info("log level changed through the admin page", package=pkg or "(default)", newlevel=level or "(unset)")
    return await api_loglevels(ctx, {})


API = {
    "Accounts": api_accounts,
    "AccountAdd": api_account_add,
    "AccountRemove": api_account_remove,
    "AddressAdd": api_address_add,
    "AddressRemove": api_address_remove,
    "Queue": api_queue,
    "QueueDrop": api_queue_drop,
    "QueueFail": api_queue_fail,
    "QueueHoldSet": api_queue_hold_set,
    "QueueNextAttemptSet": api_queue_next_attempt_set,
    "LogLevels": api_loglevels,
    "LogLevelSet": api_loglevel_set,
    **admin_accounts.API,  # account details, password, limits, the config files
}


async def api(ctx: ServerContext, req: Request) -> Response:
    require_session(req, KIND)
    fn = API.get(req.params["method"])
    if fn is None:
        raise HTTPError(404, "user:notFound", f"unknown method {req.params['method']!r}")
    obj = req.json() if req.body.strip() else {}
    if not isinstance(obj, dict):
        raise HTTPError(400, "user:badRequest", "request must be a JSON object")
    return json_response(await fn(ctx, obj))


async def page(ctx: ServerContext, req: Request) -> Response:
    if req.path != "/admin/":
        raise HTTPError(404, "user:notFound", f"no such path: {req.path}")
    return static_response(req, "admin/index.html")


def register(router: Router) -> None:
    router.add("/admin/", page, methods=("GET",))
    router.add_static("/admin/static/", "admin")
    router.add("/admin/api/{method}", api, methods=("POST",))
