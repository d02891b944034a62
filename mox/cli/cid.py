"""`mox cid ID`: the connection id for an ID from a Received field, and the log lines of that
connection (main.go cmdCid).

mox encrypts the connection id into the Received ID with a key in its data dir and ``mox cid``
decrypts it. Here the Received ID *is* the connection id (a per-process counter, nothing that
needs hiding on a local test server), so the first line printed is the ID itself, as mox prints
the cid; then, when a mox is running on the data dir, the log lines it still holds for that
connection (the last lines written with a cid; only lines at the running log level).
"""

from __future__ import annotations

import re
from pathlib import Path

import click

from mox.cli.common import ctl_client
from mox.cli.common import dir_option as _dir_option

_CID = re.compile(r"[0-9a-f]{1,32}")


@click.command("cid")
@_dir_option
@click.argument("cid")
def cid(dir_: Path | None, cid: str) -> None:
    """Turn an ID from a Received header into a cid, for looking up in logs; print the log lines
    of that connection that the running mox still holds.

    A cid is a connection counter of the running mox. Each log line of a connection contains
    its cid, and the Received header mox adds contains it as "id".
    """
    from mox.cli import UserError
    from mox.ctl import CtlNotRunning

    c = cid.strip().lower()
    if not _CID.fullmatch(c):
        raise UserError(f"received id to cid: invalid id {cid!r} (a hexadecimal connection id)")
    click.echo(c)
    try:
        client = ctl_client(dir_, timeout=30)
    except CtlNotRunning:
        return  # no running mox: only the cid, as mox
    with client:
        for line in client.call("cid", c, stream=True):
            click.echo(line)
