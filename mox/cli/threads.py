"""`mox reassignthreads [account]` (mox main.go cmdReassignthreads): through the running mox, or
on the data dir directly when none runs."""

from __future__ import annotations

from pathlib import Path

import click

from mox.cli.common import dir_option

_HELP = """Reassign message threads.

For all accounts, or optionally only the specified account.

Threading for all messages in an account is first reset, and new base subject and normalized
message-id saved with the message. Then all messages are evaluated and matched against their
parents/ancestors.

Messages are matched based on the References header, with a fall-back to an In-Reply-To header,
and if neither is present/valid, based only on base subject.

A message is only linked to a parent/ancestor if their base subject is the same. Uses the
running mox when there is one, else opens the data dir.
"""


@click.command("reassignthreads", help=_HELP)
@dir_option
@click.argument("account", required=False, default="")
def reassignthreads(dir_: Path | None, account: str) -> None:
    from mox.cli.common import ctl_client
    from mox.ctl import CtlNotRunning

    try:
        with ctl_client(dir_, timeout=None) as c:
            for line in c.call("reassignthreads", account, stream=True):
                click.echo(line)
        return
    except CtlNotRunning:
        pass
    _direct(dir_, account)


def _direct(dir_: Path | None, account: str) -> None:
    from mox.admin.threads import reassign_threads
    from mox.config import default_localserve_dir
    from mox.store import AccountNotFound, Store, StoreError

    data_dir = dir_ if dir_ is not None else default_localserve_dir()
    if not (data_dir / "accounts").is_dir():
        raise click.ClickException(f"no mox data dir at {data_dir}")
    store = Store(data_dir)
    try:
        names = [account] if account else store.account_names()
        reassign_threads(store, names, click.echo, all_accounts=not account)
    except (AccountNotFound, ValueError):
        raise click.ClickException(f"open account: account {account!r} not found") from None
    except StoreError as e:
        raise click.ClickException(str(e)) from None
    finally:
        store.close()

