"""Admin page (``/admin/``, part of mox ``webadmin/admin.go``): accounts and addresses, domains,
aliases, the queue and its hold rules, the running config, log levels and the log lines of a
connection. Log in with the admin password (``moxadmin`` in localserve).

``POST /admin/api/<Method>`` with a JSON object (``admin`` session, CSRF header):

- ``Accounts`` -> ``{"accounts": [{"name", "addresses", "messages", "disk_usage"}], "domains"}``;
- ``AccountAdd`` ``{account, address, password?}``: creates the account in the store and adds it
  to domains.conf; ``AccountRemove`` ``{account}``: removes it from domains.conf, logs out its
  sessions and removes its TLS public keys; its message data stays on disk (never lost by a
  click; remove the directory by hand);
- ``AddressAdd`` ``{address, account}``, ``AddressRemove`` ``{address}`` (an account keeps at
  least one address);
- ``Account``, ``SetPassword``, ``SetAccountLimits``, aliases, domains: mox.web.admin_accounts;
- ``Queue`` and its actions, hold rules: mox.web.admin_queue;
- ``Config`` (the running config, secrets hidden), log levels, ``LookupCid``: mox.web.admin_config.

The account methods call mox.admin.provision, as the CLI's commands do: the same checks and
messages (refusals answer 400, 404 for an unknown account or address, 409 for one in use), and
the same effects (domains.conf rewritten, ``ctx.config`` and ``ctx.auth`` replaced at once).
"""

from __future__ import annotations

from typing import Any

from mox.admin import provision
from mox.web import admin_accounts, admin_config, admin_queue
from mox.web.router import HTTPError, Request, Response, Router, json_response, static_response
from mox.web.session import require_session
from mox.context import ServerContext

KIND = "admin"


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


def _string(obj: dict[str, Any], field: str) -> str:
    value = obj.get(field)
    if not isinstance(value, str):
        raise HTTPError(400, "user:badRequest", f"field {field!r} must be a string")
    return value


# The account changes are mox.admin.provision's, as for the CLI (`mox config account add` and
# the others): the same checks, the same messages, the same effects.


async def api_accounts(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    return _accounts(ctx)


async def api_account_add(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    name, address = _string(obj, "account"), _string(obj, "address")
    password = obj.get("password") or ""
    if not isinstance(password, str):
        raise HTTPError(400, "user:badRequest", "field 'password' must be a string")
    try:
        if password:
            provision.check_new_password(password)  # refused before the account exists
        provision.account_add(ctx, name, address)
        if password:
            await provision.set_password(ctx, name, password)
    except provision.AccountError as e:
        raise admin_accounts.refused(e) from None
    return _accounts(ctx)


async def api_account_remove(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    try:
        provision.account_rm(ctx, _string(obj, "account"))
    except provision.AccountError as e:
        raise admin_accounts.refused(e) from None
    return _accounts(ctx)


async def api_address_add(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    try:
        provision.address_add(ctx, _string(obj, "address"), _string(obj, "account"))
    except provision.AccountError as e:
        raise admin_accounts.refused(e) from None
    return _accounts(ctx)


async def api_address_remove(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    try:
        provision.address_rm(ctx, _string(obj, "address"))
    except provision.AccountError as e:
        raise admin_accounts.refused(e) from None
    return _accounts(ctx)


API = {
    "Accounts": api_accounts,
    "AccountAdd": api_account_add,
    "AccountRemove": api_account_remove,
    "AddressAdd": api_address_add,
    "AddressRemove": api_address_remove,
    **admin_accounts.API,  # account details, password, limits, aliases, domains
    **admin_queue.API,  # the queue and its hold rules
    **admin_config.API,  # the running config, log levels, cid lookup
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
