"""`mox reassignthreads`: match all messages of accounts to their threads anew (mox ctl.go
"reassignthreads"), through the control channel of a running mox or on a data dir directly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mox import mlog
from mox.context import ServerContext

log = mlog.get_logger("store")


def reassign_threads(store: Any, accounts: list[str], say: Callable[[str], None], *, all_accounts: bool) -> None:
    """Reassign the threads of ``accounts`` (blocking), writing mox's progress lines to ``say``
    (with a line per account when ``all_accounts``). Raises store errors (AccountNotFound for an
    unknown account)."""
    for i, name in enumerate(accounts):
        if all_accounts:
            say(("\n" if i > 0 else "") + f"Reassigning threads for account {name}...")
        acc = store.open_account(name)
        try:
            n, changed = acc.reassign_threads_sync(say)
        finally:
            acc.close()
        log.info("threads reassigned", account=name, messages=n, changed=changed)
        say(
            'Threads reassigned. You should invalidate messages stored at imap clients with the "mox '
            'bumpuidvalidity account [mailbox]" command.'
        )


async def cmd_reassignthreads(ctx: ServerContext, conn: Any) -> None:
    """> "reassignthreads", > account or empty (all accounts), < "ok" or error, < stream."""
    import trio

    from mox.store import AccountNotFound, StoreError

    account = await conn.read_line()
    if account:
        names = [account]
        if account not in ctx.store.account_names():
            await conn.write_line(f"open account: account {account!r} not found")
            return
    else:
        names = sorted(ctx.config.accounts)
    lines: list[str] = []
    try:
        await trio.to_thread.run_sync(lambda: reassign_threads(ctx.store, names, lines.append, all_accounts=not account))
    except (AccountNotFound, StoreError) as e:
        await conn.write_line(str(e).replace("\n", " "))
        return
    await conn.write_line("ok")
    await conn.write_stream("".join(line + "\n" for line in lines).encode("utf-8"))
