"""`mox setadminpassword` (mox ``main.go``, config files only): rewrites the hashed admin password file
named in mox.conf; no running mox needed (the web login reads the file at each attempt)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("setadminpassword")
@click.option(
    "-dir", "--dir", "dir_", type=click.Path(path_type=Path), default=None,
    help="config dir holding mox.conf (default: the localserve dir).",
)
def setadminpassword(dir_: Path | None) -> None:
    """Set the admin password (web admin login).

    On a terminal the password is asked twice; otherwise the first line of stdin is the password.
    It must be at least 8 bytes after PRECIS preparation; only its hash is written.
    """
    from mox import config as mconfig
    from mox.auth import precis
    from mox.cli.common import UserError
    from mox.cli.provision import read_new_password
    from mox.auth.password import encode_password_line

    from mox.cli.common import config_dir as _config_dir, static_file

    config_dir = _config_dir(dir_)
    static = mconfig.read_static(config_dir, static_file(dir_))
    password = read_new_password()
    try:
        prepared = precis.check_new_password(password)
    except ValueError as e:
        raise UserError(str(e)) from None
    path = Path(config_dir) / (static.admin_password_file or "adminpasswd")
    mconfig.write_file(path, (encode_password_line(prepared) + "\n").encode("ascii"), secret=True)
    click.echo("admin password changed")
