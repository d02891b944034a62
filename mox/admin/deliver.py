"""``mox deliver ADDRESS < message`` on the server side: a message delivered straight into the
account of a configured address, without SMTP and without the queue (mox ``ctl.go`` "deliver").

Protocol (mox's)::

    > deliver
    > address
    < ok                  (or an error: address unknown)
    > stream              (the message; bare LF line ends become CRLF, as mox's message writer)
    < ok                  (or an error)
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from mox import mlog
from mox.ctl import CtlError

if TYPE_CHECKING:
    from mox.ctl.server import CtlConn
    from mox.serve import ServerContext

log = mlog.get_logger("ctl")


def _crlf(data: bytes) -> bytes:
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)


async def cmd_deliver(ctx: ServerContext, conn: CtlConn) -> None:
    from mox.delivery.deliver import deliver_to_store
    from mox.store import DiskFull, OverQuota

    address = await conn.read_line()
    # As mox (store.OpenEmail): only a configured address (catch-all forms included), not
    # localserve's "everything goes to account mox" rule for SMTP.
    account = ctx.auth.account_for_address(address)
    if account is None:
        raise CtlError(f"lookup destination address: no account for address {address!r}")
    await conn.write_line("ok")
    limit = ctx.config.max_message_size
    data = _crlf(await conn.read_stream(limit=limit))
    if not data.strip():
        raise CtlError("delivering message: empty message")
    try:
        await deliver_to_store(ctx, account, "Inbox", data, recipients=[address])
    except OverQuota:
        raise CtlError("delivering message: account storage full") from None
    except DiskFull as e:
        raise CtlError(f"delivering message: {e}") from None
    log.info("message delivered through ctl", to=address, account=account)
    await conn.write_line("ok")
