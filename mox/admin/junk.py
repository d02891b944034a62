"""`mox retrain [account]` on the server side (mox ctl.go "retrain"): a new junk filter trained
from the junk flags of all messages."""

from __future__ import annotations

from typing import Any

from mox.context import ServerContext


async def cmd_retrain(ctx: ServerContext, conn: Any) -> None:
    """> "retrain", > account or empty (all accounts), < "ok" or error."""
    import trio

    from mox.store import AccountNotFound, StoreError

    account = await conn.read_line()
    names = [account] if account else sorted(ctx.config.accounts)

    def work() -> None:
        for name in names:
            try:
                acc = ctx.store.open_account(name)
            except (AccountNotFound, ValueError):
                raise StoreError(f"open account: account {name!r} not found") from None
            try:
                acc.junk_retrain_sync()
            finally:
                acc.close()

    try:
        await trio.to_thread.run_sync(work)
    except StoreError as e:
        await conn.write_line(str(e).replace("\n", " "))
        return
    await conn.write_line("ok")
