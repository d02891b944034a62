"""The account page's settings (mox webaccount: AccountSaveFullName, DestinationSave, and the
junk filter and signature beside them): methods added to ``POST /account/api/<Method>``.

- ``Settings`` -> ``{full_name, destinations, junk, settings}``: the account's display name,
  per address its destination (``{Mailbox, FullName, Rulesets}`` with mox's field names; every
  address of the account is listed), its junk settings (``{RejectsMailbox, KeepRejects,
  AutomaticJunkFlags, JunkFilter}``) and its webmail settings (signature, ...).
- ``AccountSaveFullName`` ``{full_name}``.
- ``DestinationSave`` ``{address, destination}``: an address's default mailbox, display name and
  rulesets (checked as the config checks them: a ruleset needs a rule and a mailbox, valid
  regexps, ...).
- ``FromIDLoginAddressesSave`` ``{addresses}``: login addresses whose SMTP submissions get a
  unique MAIL FROM per recipient (mox's FromIDLoginAddresses).
- ``JunkSettingsSave`` ``{junk}``: rejects mailbox, automatic junk flags, junk filter (null: none).
- ``JunkRetrain``: a new junk filter trained from the messages' junk flags (as ``mox retrain``).
- ``SettingsSave`` ``{settings}``: the webmail settings (signature, quoting, show HTML).
- ``TLSPubKeyUpdate`` ``{fingerprint, name, login_address, no_imap_preauth}``.

Config changes are written to domains.conf and take effect at once (mox.admin.provision).
"""

from __future__ import annotations

from typing import Any

import msgspec
import trio

from mox import config as cfgmod
from mox.admin import provision
from mox.store import StoreError
from mox.store import settings as webmail_settings
from mox.web.router import HTTPError, Request
from mox.context import ServerContext

MAX_FULL_NAME = 200


class JunkSettings(cfgmod.Base, frozen=True):
    """The junk part of an account's config, as the page edits it (mox's field names)."""

    rejects_mailbox: str = msgspec.field(name="RejectsMailbox", default="")
    keep_rejects: bool = msgspec.field(name="KeepRejects", default=False)
    automatic_junk_flags: cfgmod.AutomaticJunkFlags = msgspec.field(
        name="AutomaticJunkFlags", default_factory=cfgmod.AutomaticJunkFlags
    )
    junk_filter: cfgmod.JunkFilter | None = msgspec.field(name="JunkFilter", default=None)


def _conf(ctx: ServerContext, s: Any) -> cfgmod.AccountConfig:
    acc = ctx.config.accounts.get(s.account or "")
    if acc is None:
        raise HTTPError(403, "user:noAuth", "no account for this session")
    return acc


def _save(ctx: ServerContext, s: Any, **changes: Any) -> None:
    try:
        provision.account_save(ctx, s.account, **changes)
    except provision.AccountError as e:
        raise HTTPError(400, "user:badRequest", str(e)) from None


def _convert(value: Any, typ: type, what: str) -> Any:
    try:
        return msgspec.convert(value, type=typ, from_attributes=False)
    except (msgspec.ValidationError, ValueError, TypeError) as e:
        raise HTTPError(400, "user:badRequest", f"bad {what}: {e}") from None


def _single_line(v: Any, name: str, limit: int = MAX_FULL_NAME) -> str:
    if not isinstance(v, str) or len(v) > limit or any(c in v for c in "\r\n\0"):
        raise HTTPError(400, "user:badRequest", f"field {name!r} must be one line of at most {limit} characters")
    return v.strip()


async def api_settings(ctx: ServerContext, req: Request, s: Any, obj: dict[str, Any]) -> Any:
    conf = _conf(ctx, s)
    dests = {a: msgspec.to_builtins(conf.destinations.get(a) or _dest_for(conf, a)) for a in conf.addresses}
    junk = JunkSettings(
        rejects_mailbox=conf.rejects_mailbox, keep_rejects=conf.keep_rejects,
        automatic_junk_flags=conf.automatic_junk_flags, junk_filter=conf.junk_filter,
    )  # fmt: skip
    st = await trio.to_thread.run_sync(webmail_settings.load, _account_dir(ctx, s))
    return {
        "full_name": conf.full_name,
        "destinations": dests,
        "junk": msgspec.to_builtins(junk),
        "settings": msgspec.to_builtins(st),
        "from_id_login_addresses": list(conf.from_id_login_addresses),
    }


def _dest_for(conf: cfgmod.AccountConfig, address: str) -> cfgmod.Destination:
    for a, d in conf.destinations.items():
        if a.lower() == address.lower():
            return d
    return cfgmod.Destination()


def _account_dir(ctx: ServerContext, s: Any) -> Any:
    from mox.store import layout

    return layout.account_dir(ctx.store.data_dir, s.account)


async def api_save_full_name(ctx: ServerContext, req: Request, s: Any, obj: dict[str, Any]) -> Any:
    name = _single_line(obj.get("full_name"), "full_name")
    _save(ctx, s, full_name=name)
    return {"full_name": name}


async def api_destination_save(ctx: ServerContext, req: Request, s: Any, obj: dict[str, Any]) -> Any:
    conf = _conf(ctx, s)
    address = obj.get("address")
    own = next((a for a in conf.addresses if isinstance(address, str) and a.lower() == address.lower()), None)
    if own is None:
        raise HTTPError(404, "user:notFound", "not an address of this account")
    dest = _convert(obj.get("destination"), cfgmod.Destination, "destination")
    _single_line(dest.full_name, "FullName")
    _single_line(dest.mailbox, "Mailbox")
    # The destinations are the account's addresses (mox): the address keeps its place.
    dests = {a: (dest if a.lower() == own.lower() else d) for a, d in conf.destinations.items()}
    _save(ctx, s, destinations=dests)
    return {"destination": msgspec.to_builtins(dest)}


async def api_from_id_login_addresses_save(ctx: ServerContext, req: Request, s: Any, obj: dict[str, Any]) -> Any:
    """{addresses}: the login addresses whose SMTP submissions get a unique MAIL FROM per
    recipient (mox FromIDLoginAddressesSave); each an address of the account at a domain with
    a catchall separator (checked as the config checks them)."""
    addresses = obj.get("addresses")
    if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses) or len(addresses) > 100:
        raise HTTPError(400, "user:badRequest", "field 'addresses' must be a list of addresses")
    cleaned = [_single_line(a, "addresses") for a in addresses]
    _save(ctx, s, from_id_login_addresses=[a for a in cleaned if a])
    return {"from_id_login_addresses": list(_conf(ctx, s).from_id_login_addresses)}


async def api_junk_settings_save(ctx: ServerContext, req: Request, s: Any, obj: dict[str, Any]) -> Any:
    junk = _convert(obj.get("junk"), JunkSettings, "junk settings")
    _single_line(junk.rejects_mailbox, "RejectsMailbox")
    _save(
        ctx, s, rejects_mailbox=junk.rejects_mailbox, keep_rejects=junk.keep_rejects,
        automatic_junk_flags=junk.automatic_junk_flags, junk_filter=junk.junk_filter,
    )  # fmt: skip
    return {"junk": msgspec.to_builtins(junk)}


async def api_junk_retrain(ctx: ServerContext, req: Request, s: Any, obj: dict[str, Any]) -> Any:
    acc = ctx.store.open_account(s.account)
    try:
        total, trained = await trio.to_thread.run_sync(acc.junk_retrain_sync)
    except StoreError as e:
        raise HTTPError(400, "user:badRequest", str(e)) from None
    finally:
        acc.close()
    return {"messages": total, "trained": trained}


async def api_settings_save(ctx: ServerContext, req: Request, s: Any, obj: dict[str, Any]) -> Any:
    from mox.web.compose import save_settings

    acc = ctx.store.open_account(s.account)
    try:
        st = await save_settings(ctx, acc, obj.get("settings"))
    finally:
        acc.close()
    return {"settings": msgspec.to_builtins(st)}


async def api_tlspubkey_update(ctx: ServerContext, req: Request, s: Any, obj: dict[str, Any]) -> Any:
    """{fingerprint, name, login_address, no_imap_preauth}: rename a key, pick its login address
    among the account's, toggle IMAP preauth (mox TLSPublicKeyUpdate)."""
    from mox.auth import tlspubkey

    fp = obj.get("fingerprint")
    keys = tlspubkey.keys_for(ctx.config.data_dir)
    key = keys.get(fp) if isinstance(fp, str) else None
    if key is None or key.account != s.account:
        raise HTTPError(404, "user:notFound", "no such tls public key")
    name = _single_line(obj.get("name", key.name), "name")
    login = obj.get("login_address", key.login_address)
    if not isinstance(login, str) or ctx.auth.account_for_address(login) != s.account:
        raise HTTPError(400, "user:badRequest", f"login address {login!r} is not an address of this account")
    preauth = obj.get("no_imap_preauth", key.no_imap_preauth)
    if not isinstance(preauth, bool):
        raise HTTPError(400, "user:badRequest", "field 'no_imap_preauth' must be true or false")
    new = msgspec.structs.replace(
        key, name=name or key.name, login_address=ctx.auth.normalize_address(login) or login, no_imap_preauth=preauth
    )
    try:
        keys.update(new)
    except tlspubkey.TLSPubKeyError as e:
        raise HTTPError(404, "user:notFound", str(e)) from None
    return {"key": new.public()}


API = {
    "FromIDLoginAddressesSave": api_from_id_login_addresses_save,
    "Settings": api_settings,
    "AccountSaveFullName": api_save_full_name,
    "DestinationSave": api_destination_save,
    "JunkSettingsSave": api_junk_settings_save,
    "JunkRetrain": api_junk_retrain,
    "SettingsSave": api_settings_save,
    "TLSPubKeyUpdate": api_tlspubkey_update,
}
