"""What a message submitted through the web (webapi Send, webmail) gets on top before it is
queued, as mox adds it (webapisrv/server.go Send, webmail/api.go MessageSubmit): a Received
field without "via"/"with" (no protocol is registered for web submission) that hides the client,
and the DKIM signatures of the From domain."""

from __future__ import annotations

import functools
import time

import trio

from mox import dkim, mlog
from mox.ci import hooks as ci
from mox.dkim import local as dkim_local
from mox.smtp.received import received
from mox.context import ServerContext

log = mlog.get_logger("webapi")


async def submission_prefix(ctx: ServerContext, from_addr: str, rcpts: list[str], data: bytes) -> bytes:
    """Received and DKIM-Signature fields for ``data`` from ``from_addr`` (an address of the
    submitting account); the Received field names the recipient when there is one."""
    host = ctx.config.hostname
    now = ci.fixed_time(ctx) or time.time()
    recv = received(
        from_=host, by=host, via=None, id_=mlog.new_cid(), date=now, for_=rcpts[0] if len(rcpts) == 1 else None
    )
    local, _, domain = from_addr.rpartition("@")
    try:
        sigs = await trio.to_thread.run_sync(
            functools.partial(dkim_local.sign_message, ctx.config, local, domain, data, now=now)
        )
    except (dkim.SignError, dkim.MalformedHeader, dkim.KeyFileError) as e:
        log.error("dkim sign for domain", domain=domain, err=str(e))
        sigs = b""
    return recv + sigs
