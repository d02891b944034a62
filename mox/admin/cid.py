"""``mox cid``, server side: the log lines a running mox still holds for one connection id
(mox.mlog keeps the last lines written that carry a cid).

Protocol::

    > cid
    > cid
    < ok
    < stream (the lines, one per line; empty when none are kept)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mox import mlog

if TYPE_CHECKING:
    from mox.ctl.server import CtlConn
    from mox.serve import ServerContext


async def cmd_cid(ctx: ServerContext, conn: CtlConn) -> None:
    cid = await conn.read_line()
    lines = mlog.recent_lines(cid)
    await conn.write_line("ok")
    await conn.write_stream("".join(line + "\n" for line in lines).encode("utf-8"))
