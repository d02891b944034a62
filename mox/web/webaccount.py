"""Account page (``/account/``, mox ``webaccount/account.go``): password, TLS public keys, export and import.

Routes (``account`` session; POSTs need the CSRF header, or the ``csrf`` form field for the
export form):

- ``GET /account/``: the page (static files under ``/account/static/``).
- ``POST /account/api/<Method>`` with a JSON object: ``Account`` (name, addresses, usage,
  mailboxes), ``SetPassword`` ``{password}`` (PRECIS OpaqueString, at least 8 bytes; logs out
  every web session of the account, as mox), ``TLSPubKeyList``, ``TLSPubKeyAdd`` ``{pem, name,
  login_address, no_imap_preauth}`` (a certificate in PEM; only its public key matters),
  ``TLSPubKeyRemove`` ``{fingerprint}``; webhooks and the suppression list as mox's account
  page (webaccount/account.go): ``OutgoingWebhookSave`` ``{url, authorization, events}`` and
  ``IncomingWebhookSave`` ``{url, authorization}`` (empty url: no webhook; written to
  domains.conf), ``OutgoingWebhookTest`` / ``IncomingWebhookTest`` ``{url, authorization, data}``
  (one POST of ``data``, a webhook.Outgoing/Incoming payload, to the URL from the server, with
  30 s at most; answers ``{code, response, error}``), ``KeepRetiredPeriodsSave``
  ``{keep_retired_message_period, keep_retired_webhook_period}`` (durations such as "72h"),
  ``SuppressionList``, ``SuppressionAdd`` ``{address, manual, reason}``, ``SuppressionRemove``
  ``{address}``. ``Account`` includes the webhooks, periods and suppressions. Full name,
  destinations and rulesets, junk filter and signature: mox.web.account_settings.
- ``POST /account/export`` (form: ``format`` maildir|mbox, ``archive`` zip|tgz, ``csrf``, and
  ``mailbox`` fields to export only those mailboxes with their submailboxes): the account as a
  download, written to a temporary file and streamed.
- ``POST /account/import`` (multipart: ``file``, optional ``mailbox``): a zip or tgz with
  Maildir directories (``cur``/``new``) and/or ``*.mbox`` files, or one plain mbox file. The
  import runs in the background; the answer is ``{"id"}`` and ``GET /account/importprogress/{id}``
  streams its progress as JSON lines (``{"mailbox", "messages", "done", "error", "problems"}``),
  the last one with ``done`` true.
"""

from __future__ import annotations

import io
import itertools
import os
import re
import shutil
import tarfile
import tempfile
import threading
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import trio

from mox.config import OUTGOING_WEBHOOK_EVENTS, IncomingWebhook, OutgoingWebhook
from mox.web import account_settings
from mox.auth import precis
from mox.config.sconf import format_duration, parse_duration
from mox.web.router import HTTPError, Request, Response, Router, json_response, static_response
from mox.web.session import require_session, session_guard
from mox.web.webmail import open_account
from mox.context import ServerContext

if TYPE_CHECKING:
    from mox.serve import ServerContext

_encoder = msgspec.json.Encoder()
KIND = "account"


# API.


async def api_account(ctx: ServerContext, req: Request, s: Any, obj: dict[str, Any]) -> Any:
    with open_account(ctx, s.account) as acc:
        boxes = acc.mailboxes()
        conf = ctx.config.accounts.get(s.account)
        return {
            "account": s.account,
            "address": s.address,
            "addresses": ctx.auth.addresses(s.account),
            "disk_usage": acc.disk_usage(),
            "mailboxes": len(boxes),
            "mailbox_names": [mb.name for mb in boxes],
            "messages": sum(mb.total for mb in boxes),
            "outgoing_webhook": _outgoing_json(conf.outgoing_webhook) if conf and conf.outgoing_webhook else None,
            "incoming_webhook": _incoming_json(conf.incoming_webhook) if conf and conf.incoming_webhook else None,
            "keep_retired_message_period": _period(conf.keep_retired_message_period) if conf else "",
            "keep_retired_webhook_period": _period(conf.keep_retired_webhook_period) if conf else "",
            "events": list(OUTGOING_WEBHOOK_EVENTS),
            "suppressions": _suppressions(ctx, s.account),
            "aliases": _aliases(ctx, s.account),
        }


# Webhooks and the suppression list (mox webaccount/account.go).


def _outgoing_json(h: OutgoingWebhook) -> dict[str, Any]:
    return {"url": h.url, "authorization": h.authorization, "events": list(h.events)}


def _incoming_json(h: IncomingWebhook) -> dict[str, Any]:
    return {"url": h.url, "authorization": h.authorization}


def _str(obj: dict[str, Any], name: str) -> str:
    v = obj.get(name) or ""
    if not isinstance(v, str):
        raise HTTPError(400, "user:badRequest", f"field {name!r} must be a string")
    return v


def _save_account(ctx: ServerContext, account: str, **changes: Any) -> None:
    from mox.admin import provision

    try:
        provision.account_save(ctx, account, **changes)
    except provision.AccountError as e:
        raise HTTPError(400, "user:badConfig", str(e)) from None


async def api_outgoing_webhook_save(ctx: ServerContext, req: Request, s: Any, obj: dict[str, Any]) -> Any:
    url = _str(obj, "url").strip()
    events = obj.get("events") or []
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        raise HTTPError(400, "user:badRequest", "field 'events' must be a list of strings")
    try:
        hook = OutgoingWebhook(url=url, authorization=_str(obj, "authorization"), events=events) if url else None
    except ValueError as e:
        raise HTTPError(400, "user:badConfig", str(e)) from None
    _save_account(ctx, s.account, outgoing_webhook=hook)
    return {}


async def api_incoming_webhook_save(ctx: ServerContext, req: Request, s: Any, obj: dict[str, Any]) -> Any:
    url = _str(obj, "url").strip()
    try:
        hook = IncomingWebhook(url=url, authorization=_str(obj, "authorization")) if url else None
    except ValueError as e:
        raise HTTPError(400, "user:badConfig", str(e)) from None
    _save_account(ctx, s.account, incoming_webhook=hook)
    return {}


def _period(seconds: float) -> str:
    return format_duration(seconds) if seconds else ""


def _parse_period(obj: dict[str, Any], name: str) -> float:
    """A keep period from the page: a duration such as "72h", or empty for none."""
    v = _str(obj, name).strip()
    try:
        return parse_duration(v) if v else 0.0
    except ValueError as e:
        raise HTTPError(400, "user:badConfig", f"{name}: {e}") from None


async def api_keep_retired_periods_save(ctx: ServerContext, req: Request, s: Any, obj: dict[str, Any]) -> Any:
    _save_account(
        ctx,
        s.account,
        keep_retired_message_period=_parse_period(obj, "keep_retired_message_period"),
        keep_retired_webhook_period=_parse_period(obj, "keep_retired_webhook_period"),
    )
    return {}


#: Seconds a test call from the account page may take.
WEBHOOK_TEST_TIMEOUT = 30.0


async def _webhook_test(ctx: ServerContext, s: Any, obj: dict[str, Any], typ: type) -> Any:
    """One POST of the given example payload to the URL (mox OutgoingWebhookTest,
    IncomingWebhookTest): the server makes the request, so the account can reach whatever the
    server reaches (README, security notes); a session with CSRF token is needed."""
    from mox import webhook
    from mox.queue import hookpost

    url = _str(obj, "url").strip()
    try:
        hookpost.check_url(url)
    except hookpost.URLError as e:
        raise HTTPError(400, "user:badRequest", str(e)) from None
    try:
        data = obj.get("data")
        if data is None:  # an example, as mox's page fills in
            data = {"Event": "delivered"} if typ is webhook.Outgoing else {"Structure": {"ContentType": "text/plain", "ContentTypeParams": {}}, "Meta": {}}
        payload: webhook.Outgoing | webhook.Incoming = msgspec.convert(data, typ)
    except msgspec.ValidationError as e:
        raise HTTPError(400, "user:badRequest", f"data: {e}") from None
    t0 = trio.current_time()
    res = await hookpost.post(
        url, _str(obj, "authorization"), webhook.encode(payload), hook_id=1, attempt=1, timeout=WEBHOOK_TEST_TIMEOUT
    )
    # mox webaccount calls queue.HookPost, which counts the call in the webhook metrics.
    ctx.metrics.webhook_result(res.code, trio.current_time() - t0)
    ctx.log.info("webhook test call from the account page", account=s.account, url=url, code=res.code, err=res.error)
    return {"code": res.code, "response": res.response, "error": res.error}


async def api_outgoing_webhook_test(ctx: ServerContext, req: Request, s: Any, obj: dict[str, Any]) -> Any:
    from mox.webhook import Outgoing

    return await _webhook_test(ctx, s, obj, Outgoing)


async def api_incoming_webhook_test(ctx: ServerContext, req: Request, s: Any, obj: dict[str, Any]) -> Any:
    from mox.webhook import Incoming

    return await _webhook_test(ctx, s, obj, Incoming)


def _suppressions(ctx: ServerContext, account: str) -> list[dict[str, Any]]:
    from mox.queue.records import to_json

    return [to_json(x) for x in ctx.queue.suppression_list(account)]


async def api_suppression_list(ctx: ServerContext, req: Request, s: Any, obj: dict[str, Any]) -> Any:
    return {"suppressions": _suppressions(ctx, s.account)}


async def api_suppression_add(ctx: ServerContext, req: Request, s: Any, obj: dict[str, Any]) -> Any:
    from mox.queue.records import to_json
    from mox.queue.suppression import SuppressionError

    try:
        x = await ctx.queue.suppression_add(s.account, _str(obj, "address"), manual=obj.get("manual") is not False, reason=_str(obj, "reason"))
    except SuppressionError as e:
        raise HTTPError(400, "user:badRequest", str(e)) from None
    return {"suppression": to_json(x)}


async def api_suppression_remove(ctx: ServerContext, req: Request, s: Any, obj: dict[str, Any]) -> Any:
    from mox.queue.suppression import SuppressionError

    try:
        await ctx.queue.suppression_remove(s.account, _str(obj, "address"))
    except SuppressionError as e:
        raise HTTPError(400, "user:badRequest", str(e)) from None
    return {}


def _aliases(ctx: ServerContext, account: str) -> list[dict[str, Any]]:
    """The aliases the account is a member of (mox's account page "Aliases/lists"): the
    address the account is subscribed with, who may post, whether it may send as the alias;
    the members only when the alias lets members see them (ListMembers), else null."""
    return [
        {
            "address": addr, "subscription_address": member, "post_public": alias.post_public,
            "list_members": alias.list_members, "allow_msg_from": alias.allow_msg_from,
            "members": list(alias.addresses) if alias.list_members else None,
        }
        for addr, member, alias in ctx.auth.aliases_of(account)
    ]  # fmt: skip


async def api_set_password(ctx: ServerContext, req: Request, s: Any, obj: dict[str, Any]) -> Any:
    password = obj.get("password")
    if not isinstance(password, str):
        raise HTTPError(400, "user:badRequest", "field 'password' must be a string")
    try:
        prepared = precis.check_new_password(password)
    except ValueError as e:
        raise HTTPError(400, "user:badPassword", str(e)) from None
    with open_account(ctx, s.account) as acc:
        await acc.set_password(prepared)
    ctx.web.sessions.remove_account(s.account)
    ctx.log.info("password changed through the account page", account=s.account)
    return {}


def _tlspubkeys(ctx: ServerContext) -> Any:
    from mox.auth import tlspubkey

    return tlspubkey.keys_for(ctx.config.data_dir)


async def api_tlspubkey_list(ctx: ServerContext, req: Request, s: Any, obj: dict[str, Any]) -> Any:
    return {"keys": [k.public() for k in _tlspubkeys(ctx).list(s.account)]}


async def api_tlspubkey_add(ctx: ServerContext, req: Request, s: Any, obj: dict[str, Any]) -> Any:
    from mox.auth import tlspubkey

    pem = obj.get("pem")
    if not isinstance(pem, str) or not pem.strip():
        raise HTTPError(400, "user:badRequest", "field 'pem' must hold a PEM certificate")
    name = obj.get("name") or ""
    login = obj.get("login_address") or s.address
    if not isinstance(name, str) or not isinstance(login, str):
        raise HTTPError(400, "user:badRequest", "fields 'name' and 'login_address' must be strings")
    if ctx.auth.account_for_address(login) != s.account:
        raise HTTPError(400, "user:badRequest", f"login address {login!r} is not an address of this account")
    try:
        cert = tlspubkey.parse_certificate(pem.encode("utf-8"))
        key = tlspubkey.make_record(
            cert, account=s.account, login_address=ctx.auth.normalize_address(login) or login, name=name.strip(),
            no_imap_preauth=bool(obj.get("no_imap_preauth")),
        )
        _tlspubkeys(ctx).add(key)
    except tlspubkey.TLSPubKeyError as e:
        raise HTTPError(400, "user:badCertificate", str(e)) from None
    if ctx.tls is not None:
        tlspubkey.configure_server_context(ctx.tls, ctx.config.data_dir)
    ctx.log.info("tls public key added through the account page", fingerprint=key.fingerprint, account=s.account)
    return {"key": key.public()}


async def api_tlspubkey_remove(ctx: ServerContext, req: Request, s: Any, obj: dict[str, Any]) -> Any:
    from mox.auth import tlspubkey

    fp = obj.get("fingerprint")
    keys = _tlspubkeys(ctx)
    key = keys.get(fp) if isinstance(fp, str) else None
    if key is None or key.account != s.account:
        raise HTTPError(404, "user:notFound", "no such tls public key")
    try:
        keys.remove(fp)
    except tlspubkey.TLSPubKeyError as e:
        raise HTTPError(404, "user:notFound", str(e)) from None
    return {}


API = {
    "Account": api_account,
    "SetPassword": api_set_password,
    "TLSPubKeyList": api_tlspubkey_list,
    "TLSPubKeyAdd": api_tlspubkey_add,
    "TLSPubKeyRemove": api_tlspubkey_remove,
    **account_settings.API,  # full name, destinations and rulesets, junk, signature
    "OutgoingWebhookSave": api_outgoing_webhook_save,
    "IncomingWebhookSave": api_incoming_webhook_save,
    "OutgoingWebhookTest": api_outgoing_webhook_test,
    "IncomingWebhookTest": api_incoming_webhook_test,
    "KeepRetiredPeriodsSave": api_keep_retired_periods_save,
    "SuppressionList": api_suppression_list,
    "SuppressionAdd": api_suppression_add,
    "SuppressionRemove": api_suppression_remove,
}


async def api(ctx: ServerContext, req: Request) -> Response:
    s = require_session(req, KIND)
    fn = API.get(req.params["method"])
    if fn is None:
        raise HTTPError(404, "user:notFound", f"unknown method {req.params['method']!r}")
    obj = req.json() if req.body.strip() else {}
    if not isinstance(obj, dict):
        raise HTTPError(400, "user:badRequest", "request must be a JSON object")
    return json_response(await fn(ctx, req, s, obj))


# Export.


def _build_export(acc: Any, fmt: str, archive: str, tmp: Path, mailboxes: list[str]) -> Path:
    """The export archive of all mailboxes, or of the named ones (each with its submailboxes)."""
    from mox.admin import transfer

    tree = tmp / "export"
    if not mailboxes:
        transfer.export_account(acc, tree, fmt)
    else:
        names = {n for n in mailboxes if acc.mailbox(n) is not None}
        names |= {mb.name for mb in acc.mailboxes() for n in list(names) if mb.name.startswith(n + "/")}
        for n in sorted(names):
            transfer.export_account(acc, tree, fmt, n)
    out = tmp / ("export.zip" if archive == "zip" else "export.tgz")
    if archive == "zip":
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for p in sorted(tree.rglob("*")):
                rel = p.relative_to(tree).as_posix()
                if p.is_dir():
                    z.writestr(rel + "/", b"")
                else:
                    z.write(p, rel)
    else:
        with tarfile.open(out, "w:gz") as t:
            for p in sorted(tree.rglob("*")):
                t.add(p, p.relative_to(tree).as_posix(), recursive=False)
    return out


async def export(ctx: ServerContext, req: Request) -> Response:
    s = require_session(req, KIND, csrf=True)
    if (req.header("content-type") or "").startswith("application/json"):
        obj = req.json()
        form = {} if not isinstance(obj, dict) else {
            k: [v] if isinstance(v, str) else [x for x in v if isinstance(x, str)]
            for k, v in obj.items() if isinstance(v, (str, list))
        }  # fmt: skip
    else:
        form = req.form()
    fmt = (form.get("format") or ["maildir"])[0]
    archive = (form.get("archive") or ["zip"])[0]
    if fmt not in ("maildir", "mbox") or archive not in ("zip", "tgz"):
        raise HTTPError(400, "user:badRequest", "format must be maildir or mbox, archive zip or tgz")
    mailboxes = [m for m in form.get("mailbox") or [] if m]
    tmp = Path(tempfile.mkdtemp(prefix="mox-export-"))

    def work() -> Path:
        with open_account(ctx, s.account) as acc:
            missing = [m for m in mailboxes if acc.mailbox(m) is None]
            if missing:
                raise HTTPError(404, "user:notFound", f"no mailbox {missing[0]!r}")
            return _build_export(acc, fmt, archive, tmp, mailboxes)

    try:
        path = await trio.to_thread.run_sync(work)
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    size = path.stat().st_size

    async def chunks() -> AsyncIterator[bytes]:
        try:
            f = await trio.open_file(path, "rb")
            async with f:
                while True:
                    b = await f.read(256 * 1024)
                    if not b:
                        break
                    yield b
        finally:
            await trio.to_thread.run_sync(lambda: shutil.rmtree(tmp, ignore_errors=True))

    name = f"mox-{s.account}-{fmt}.{archive}"
    ctype = "application/zip" if archive == "zip" else "application/gzip"
    headers = [
        ("Content-Type", ctype),
        ("Content-Disposition", f'attachment; filename="{re.sub(r"[^A-Za-z0-9._-]", "_", name)}"'),
        ("X-Export-Size", str(size)),
        ("Cache-Control", "no-store"),
    ]
    return Response(200, headers, chunks())


# Import.


class ImportJob:
    def __init__(self, account: str) -> None:
        self.account = account
        self.lock = threading.Lock()
        self.mailbox = ""
        self.messages = 0
        self.mailboxes = 0
        self.done = False
        self.error: str | None = None
        self.problems: list[str] = []
        self.version = 0

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "mailbox": self.mailbox, "messages": self.messages, "mailboxes": self.mailboxes,
                "done": self.done, "error": self.error, "problems": list(self.problems[:20]),
            }

    def update(self, **kw: Any) -> None:
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, v)
            self.version += 1


MAX_JOBS = 100
_jobs: dict[str, ImportJob] = {}
_job_ids = itertools.count(1)
_nurseries: dict[int, trio.Nursery] = {}


#: Limits for an uploaded archive once extracted (a small zip can unpack to a lot).
MAX_EXTRACTED_BYTES = 2 * 1024 * 1024 * 1024
MAX_EXTRACTED_FILES = 200_000


def _check_extract_limits(sizes: list[int]) -> None:
    from mox.admin import transfer

    if len(sizes) > MAX_EXTRACTED_FILES or sum(sizes) > MAX_EXTRACTED_BYTES:
        raise transfer.TransferError(
            f"archive too large when extracted (at most {MAX_EXTRACTED_FILES} files and "
            f"{MAX_EXTRACTED_BYTES} bytes)"
        )


def _safe_extract(data: bytes, dst: Path) -> bool:
    """Extract a zip or tgz into dst (names with .. or absolute paths skipped); False when data
    is neither. Raises TransferError for archives that unpack too large."""
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = z.infolist()
            _check_extract_limits([i.file_size for i in infos])
            for info in infos:
                _write_member(dst, info.filename, info.is_dir(), lambda info=info: z.read(info))
        return True
    if data[:2] == b"\x1f\x8b" or data[257:262] == b"ustar":
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as t:
            members = [m for m in t.getmembers() if m.isdir() or m.isfile()]
            _check_extract_limits([m.size for m in members])
            for m in members:
                f = t.extractfile(m) if m.isfile() else None
                _write_member(dst, m.name, m.isdir(), lambda f=f: f.read() if f else b"")
        return True
    return False


def _write_member(dst: Path, name: str, is_dir: bool, read: Any) -> None:
    """Write one archive member below dst; skipped when its name is not a safe relative path on
    every platform (absolute, a drive, "..", a device name ...; mox.names)."""
    from mox.names import join_inside, member_parts

    # A Maildir file name's info part ("1.host:2,S") is written with ";2," (as on Windows, where
    # ":" would open an alternate data stream); reading Maildirs accepts both.
    parts = member_parts(re.sub(r":2,([A-Za-z]*)$", r";2,\1", name))
    if parts is None:
        return
    target = join_inside(dst, *parts)
    if is_dir:
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(read())


def _sources(root: Path) -> list[tuple[str, str, Path]]:
    """(format, mailbox, path) for every Maildir and mbox below root."""
    out: list[tuple[str, str, Path]] = []
    from mox.names import name_from_file

    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        # Directory names as an export writes them ("Work%3A2024" is mailbox "Work:2024").
        rel = "/".join(name_from_file(p) for p in d.relative_to(root).parts) or "."
        if "cur" in dirnames or "new" in dirnames:
            out.append(("maildir", rel if rel != "." else "Inbox", d))
            dirnames[:] = [n for n in dirnames if n not in ("cur", "new", "tmp")]
        for fn in sorted(filenames):
            p = d / fn
            if fn.endswith(".mbox") or (not fn.startswith(".") and "." not in fn and _looks_mbox(p)):
                name = (rel + "/" if rel != "." else "") + name_from_file(fn[: -len(".mbox")] if fn.endswith(".mbox") else fn)
                out.append(("mbox", name, p))
        dirnames.sort()
    return out


def _looks_mbox(p: Path) -> bool:
    try:
        with open(p, "rb") as f:
            return f.read(5) == b"From "
    except OSError:
        return False


def _run_import(ctx: ServerContext, job: ImportJob, data: bytes, filename: str, mailbox: str) -> None:
    from mox.admin import transfer

    tmp = Path(tempfile.mkdtemp(prefix="mox-import-"))
    try:
        if _safe_extract(data, tmp):
            sources = _sources(tmp)
        else:
            p = tmp / "upload.mbox"
            p.write_bytes(data)
            sources = [("mbox", mailbox or "Imported", p)]
        if not sources:
            raise transfer.TransferError("no Maildir directories or mbox files found in the upload")
        with open_account(ctx, job.account) as acc:
            for fmt, name, path in sources:
                job.update(mailbox=name)

                def counted(it: Any) -> Any:
                    for m in it:
                        yield m
                        job.update(messages=job.messages + 1)

                if fmt == "maildir":
                    msgs = counted(transfer.read_maildir(path))
                    summary = transfer.import_messages(acc, name, msgs)
                else:
                    with open(path, "rb") as f:
                        summary = transfer.import_messages(acc, name, counted(transfer.read_mbox(f, path.name)))
                job.update(mailboxes=job.mailboxes + 1, problems=job.problems + summary.problems)
        job.update(done=True)
    except Exception as e:  # noqa: BLE001 - reported to the user, logged
        ctx.log.info("import through the account page failed", account=job.account, err=str(e))
        job.update(done=True, error=str(e) or type(e).__name__)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def import_upload(ctx: ServerContext, req: Request) -> Response:
    s = require_session(req, KIND)
    files = [f for f in req.files() if f.field == "file"]
    if len(files) != 1:
        raise HTTPError(400, "user:badRequest", "upload exactly one file in field 'file'")
    mailbox = ((req.form().get("mailbox") or [""])[0]).strip()
    nursery = _nurseries.get(id(ctx))
    if nursery is None:
        raise HTTPError(503, "server:notReady", "import service not running")
    job = ImportJob(s.account or "")
    job_id = f"{next(_job_ids)}-{os.urandom(6).hex()}"
    for old in [k for k, j in _jobs.items() if j.done][: max(0, len(_jobs) - MAX_JOBS + 1)]:
        del _jobs[old]  # forget the oldest finished imports
    _jobs[job_id] = job

    async def run() -> None:
        await trio.to_thread.run_sync(_run_import, ctx, job, files[0].data, files[0].filename, mailbox)

    nursery.start_soon(run)
    return json_response({"id": job_id})


async def import_progress(ctx: ServerContext, req: Request) -> Response:
    s = require_session(req, KIND)
    job = _jobs.get(req.params["id"])
    if job is None or job.account != s.account:
        raise HTTPError(404, "user:notFound", "no such import")

    async def lines() -> AsyncIterator[bytes]:
        seen = -1
        while True:
            version = job.version
            if version != seen:
                seen = version
                st = job.state()
                yield _encoder.encode(st) + b"\n"
                if st["done"]:
                    return
            await trio.sleep(0.05)

    return Response(200, [("Content-Type", "application/x-ndjson; charset=utf-8"), ("Cache-Control", "no-store")], lines())


async def serve_background(ctx: ServerContext, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """Owns the import jobs (cancelled with the web app)."""
    async with trio.open_nursery() as nursery:
        _nurseries[id(ctx)] = nursery
        try:
            task_status.started()
            await trio.sleep_forever()
        finally:
            _nurseries.pop(id(ctx), None)


async def page(ctx: ServerContext, req: Request) -> Response:
    if req.path != "/account/":
        raise HTTPError(404, "user:notFound", f"no such path: {req.path}")
    return static_response(req, "account/index.html")


def register(router: Router) -> None:
    router.add("/account/", page, methods=("GET",))
    router.add_static("/account/static/", "account")
    router.add("/account/api/{method}", api, methods=("POST",))
    router.add("/account/export", export, methods=("POST",))
    router.add("/account/import", import_upload, methods=("POST",))
    # A session is needed before a body is read; an upload may be as large as web_max_request_body.
    router.add_guard("/account/export", session_guard(KIND))
    router.add_guard("/account/import", session_guard(KIND))
    router.set_body_limit("/account/import", lambda ctx: ctx.web.max_body)
    router.add("/account/importprogress/{id}", import_progress, methods=("GET",))
