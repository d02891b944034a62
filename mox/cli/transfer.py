"""`mox import maildir|mbox`, `mox export maildir|mbox`, `mox backup` (mox ``main.go``).

import and backup go through the running mox (control channel): the server reads the source /
writes the backup, so paths are made absolute here first. export goes through the running mox
when there is one, else it opens the data dir itself. Formats are described in mox.admin.transfer.
"""

from __future__ import annotations

from pathlib import Path

import click

_dir_option = click.option(
    "-dir", "--dir", "dir_", type=click.Path(path_type=Path), default=None,
    help="data dir of mox (default: the localserve dir).",
)


def _data_dir(dir_: Path | None) -> Path:
    from mox.cli.common import data_dir

    return data_dir(dir_)


def _call_stream(dir_: Path | None, command: str, *lines: str) -> None:
    from mox.ctl import CtlClient

    with CtlClient(_data_dir(dir_), timeout=None) as c:
        for line in c.call(command, *lines, stream=True):
            click.echo(line)


@click.group("import")
def import_() -> None:
    """Import messages from a Maildir or mbox into a mailbox of an account of the running mox."""


def _import_command(fmt: str, what: str) -> click.Command:
    @click.command(fmt, help=(
        f"Import the messages of {what} PATH into MAILBOX (created when missing) of ACCOUNT. "
        "Flags and keywords are taken from Maildir file names and dovecot-keywords, or from mbox "
        "Status/X-Status/X-Keywords headers; line ends become CRLF. Needs a running mox, which "
        "reads PATH."
    ))
    @_dir_option
    @click.argument("account")
    @click.argument("mailbox")
    @click.argument("path", type=click.Path(path_type=Path))
    def cmd(dir_: Path | None, account: str, mailbox: str, path: Path) -> None:
        if not path.exists():
            raise click.ClickException(f"no such file or directory: {path}")
        _call_stream(dir_, f"import{fmt}", account, mailbox, str(path.resolve()))

    return cmd


import_.add_command(_import_command("maildir", "the Maildir directory"))
import_.add_command(_import_command("mbox", "the mbox file"))


@click.group("export")
def export() -> None:
    """Export the mailboxes of an account to Maildirs or mbox files."""


def _export_command(fmt: str) -> click.Command:
    layout = (
        "DST/<mailbox>/{cur,new,tmp} with flags in the file names ('<time>.<id>.mox:2,FS'; on "
        "Windows ';2,' since ':' is not allowed in file names) and keywords in dovecot-keywords"
        if fmt == "maildir"
        else "DST/<mailbox>.mbox (mboxrd) with flags in Status, X-Status and X-Keywords headers"
    )

    @click.command(fmt, help=(
        f"Export all mailboxes of ACCOUNT, or only MAILBOX, as {layout}. Existing files are never "
        "overwritten. Uses the running mox when there is one, else opens the data dir."
    ))
    @_dir_option
    @click.argument("dst", type=click.Path(path_type=Path))
    @click.argument("account")
    @click.argument("mailbox", required=False, default="")
    def cmd(dir_: Path | None, dst: Path, account: str, mailbox: str) -> None:
        from mox.ctl import CtlNotRunning

        try:
            _call_stream(dir_, "export", fmt, str(dst.resolve()), account, mailbox)
            return
        except CtlNotRunning:
            pass
        _export_direct(_data_dir(dir_), fmt, dst, account, mailbox)

    return cmd


def _export_direct(data_dir: Path, fmt: str, dst: Path, account: str, mailbox: str) -> None:
    from mox.store import AccountNotFound, Store, StoreError
    from mox.admin.transfer import TransferError, export_account

    if not (data_dir / "accounts").is_dir():
        raise click.ClickException(f"no mox data dir at {data_dir}")
    store = Store(data_dir, fsync=False)
    try:
        try:
            acc = store.open_account(account)
        except (AccountNotFound, ValueError):
            raise click.ClickException(f"unknown account {account!r}") from None
        try:
            summary = export_account(acc, dst, fmt, mailbox or None)
        except (TransferError, StoreError) as e:
            raise click.ClickException(str(e)) from None
        except OSError as e:
            raise click.ClickException(f"writing export: {e}") from None
        finally:
            acc.close()
    finally:
        store.close()
    for line in summary.lines("exported"):
        click.echo(line)


export.add_command(_export_command("maildir"))
export.add_command(_export_command("mbox"))


@click.command("backup")
@_dir_option
@click.argument("dest_dir", type=click.Path(path_type=Path))
def backup(dir_: Path | None, dest_dir: Path) -> None:
    """Write a consistent copy of the running mox's data dir to DEST_DIR (which must not exist
    or be empty): account indexes and message files (hard-linked where possible), the queue,
    TLS public keys and the config files in the data dir."""
    _call_stream(dir_, "backup", str(dest_dir.resolve()))
