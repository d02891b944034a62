"""The admin page's view of the running server (mox webadmin: ConfigFiles, LogLevels,
LogLevelSet, LogLevelRemove, LookupCid), added to ``POST /admin/api/<Method>``:

- ``Config`` -> ``{files: {"mox.conf": text, "domains.conf": text}}``: the running config,
  read-only. domains.conf is the one in effect (written from memory, as every change through
  the admin page, the account page or the CLI writes it); mox.conf is the file the server
  started with, parsed and written again. Secrets are left out: values of fields such as a
  webhook's ``Authorization`` read ``(hidden)``; password hashes are never in these files (the
  admin password's is in the file ``AdminPasswordFile`` names, the accounts' in their stores).
- ``LogLevels`` -> ``{"levels": {"": default, pkg: level}, "known": [...], "all": [...]}``,
  ``LogLevelSet`` ``{pkg, level}`` (pkg "" sets the default; level "" unsets a package),
  ``LogLevelRemove`` ``{pkg}``: the levels of the running process, as mox's admin page (not
  written to mox.conf).
- ``LookupCid`` ``{cid}`` -> ``{cid, lines}``: the log lines the server still holds for a
  connection (``mox cid``: the id of a Received header field is the connection's cid).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec

from mox import config as cfgmod
from mox import mlog
from mox.context import ServerContext
from mox.web.router import HTTPError

KNOWN_PACKAGES = ("imapserver", "smtpserver", "store", "queue", "serve", "localserve", "ctl", "http", "auth", "junk", "webapi")

#: Config fields whose values are secrets (by their name in the file; a "...File" field names a
#: file and is shown).
_SECRET = re.compile(r"(password|authorization|secret|token)$", re.I)
HIDDEN = "(hidden)"


def redact(value: Any) -> Any:
    """A copy of a config struct with the values of secret fields replaced by ``(hidden)``."""
    if isinstance(value, msgspec.Struct):
        changes = {}
        for f in msgspec.structs.fields(value):
            v = getattr(value, f.name)
            if _SECRET.search(f.encode_name) and isinstance(v, str) and v:
                changes[f.name] = HIDDEN
            else:
                new = redact(v)
                if new is not v:
                    changes[f.name] = new
        return msgspec.structs.replace(value, **changes) if changes else value
    if isinstance(value, dict):
        out = {k: redact(v) for k, v in value.items()}
        return out if any(out[k] is not value[k] for k in value) else value
    if isinstance(value, list):
        items = [redact(v) for v in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    return value


def config_files(ctx: ServerContext) -> dict[str, str]:
    """The running config as files, secrets hidden (see the module doc)."""
    files = {}
    try:
        static = cfgmod.read_static(Path(ctx.config.config_dir))
        files[cfgmod.MOX_CONF] = cfgmod.encode(redact(static)).decode("utf-8")
    except cfgmod.ConfigError as e:
        files[cfgmod.MOX_CONF] = f"# cannot be shown: {e}\n"
    files[cfgmod.DOMAINS_CONF] = cfgmod.encode(redact(ctx.config.domains_file())).decode("utf-8")
    return files


async def api_config(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    import trio

    return {"files": await trio.to_thread.run_sync(config_files, ctx)}


async def api_loglevels(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    return {"levels": mlog.levels(), "known": list(KNOWN_PACKAGES), "all": list(mlog.LEVELS)}


def _pkg(obj: dict[str, Any]) -> str:
    pkg = obj.get("pkg", "")
    if not isinstance(pkg, str) or len(pkg) > 64 or not re.fullmatch(r"[a-z0-9_-]*", pkg):
        raise HTTPError(400, "user:badRequest", "field 'pkg' must be a package name")
    return pkg


async def api_loglevel_set(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    pkg, level = _pkg(obj), obj.get("level")
    if not isinstance(level, str):
        raise HTTPError(400, "user:badRequest", "field 'level' must be a string")
    try:
        mlog.set_level(level, pkg)
    except ValueError as e:
        raise HTTPError(400, "user:badRequest", str(e)) from None
    ctx.log.info("log level changed through the admin page", package=pkg or "(default)", newlevel=level or "(unset)")
    return await api_loglevels(ctx, {})


async def api_loglevel_remove(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    """{pkg}: the package logs at the default level again (mox LogLevelRemove)."""
    pkg = _pkg(obj)
    if not pkg:
        raise HTTPError(400, "user:badRequest", "the default level cannot be removed")
    return await api_loglevel_set(ctx, {"pkg": pkg, "level": ""})


_CID = re.compile(r"[0-9a-f]{1,32}")


async def api_lookup_cid(ctx: ServerContext, obj: dict[str, Any]) -> Any:
    """{cid}: the id of a Received header field (or of a log line) -> that connection's log
    lines still held (the last lines written with a cid, at the running log level)."""
    cid = obj.get("cid")
    cid = cid.strip().lower() if isinstance(cid, str) else ""
    if not _CID.fullmatch(cid):
        raise HTTPError(400, "user:badRequest", "received id to cid: invalid id (a hexadecimal connection id)")
    return {"cid": cid, "lines": mlog.recent_lines(cid)}


API = {
    "Config": api_config,
    "LogLevels": api_loglevels,
    "LogLevelSet": api_loglevel_set,
    "LogLevelRemove": api_loglevel_remove,
    "LookupCid": api_lookup_cid,
}
