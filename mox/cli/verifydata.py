"""`mox verifydata DIR`: verify the contents of a data dir, typically of a backup (main.go
cmdVerifydata). Works on the files directly; refuses a dir a mox is running on."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("verifydata")
@click.option("-fix", "--fix", is_flag=True,
              help="fix fixable problems, such as moving away message files not referenced by their index.")
@click.argument("data_dir", metavar="DATA-DIR", type=click.Path(path_type=Path, file_okay=False))
def verifydata(fix: bool, data_dir: Path) -> None:
    """Verify the contents of a data directory, typically of a backup.

    Checks that every account index can be read and is consistent (mailbox counts, UIDs,
    modseqs), that every message has its file with the right size and that there are no
    unreferenced message files, and that every queued message has its file. With -fix,
    unreferenced message files are moved to DATA-DIR/moved/. Exit code 1 when errors are found.
    """
    from mox.cli import UserError
    from mox.admin.verifydata import verify
    from mox.ctl import probe_running

    if not data_dir.is_dir():
        raise UserError(f"{data_dir}: not a directory")
    if probe_running(data_dir):
        raise UserError(f"mox is running with data dir {data_dir}: verify a backup (mox backup), or stop mox first")
    res = verify(data_dir, fix=fix)
    for w in res.warnings:
        click.echo(f"warning: {w}", err=True)
    for e in res.errors:
        click.echo(f"error: {e}", err=True)
    if res.errors:
        raise UserError("errors were found")
    click.echo(f"{data_dir}: OK")
