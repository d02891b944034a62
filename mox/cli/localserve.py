"""`mox localserve`: run a local mail server for development and tests."""

from __future__ import annotations

from pathlib import Path

import click

from mox.cli.common import App


@click.command("localserve")
@click.option("-dir", "--dir", "dir_", type=click.Path(path_type=Path), default=None,
              help="config and data dir (default: <user config dir>/mox-localserve).")
@click.option("-ip", "--ip", default=None, help="listen on this IP instead of 127.0.0.1 and ::1 (new config only).")
@click.option("-initonly", "--initonly", is_flag=True, help="write the config files and exit.")
@click.option("-ephemeral", "--ephemeral", is_flag=True, help="use a fresh temporary dir, removed at exit.")
@click.option("-port-base", "--port-base", "port_base", type=click.IntRange(0, 65000), default=None,
              help="ports are this + the standard port (default 1000); 0 picks free ports.")
@click.option("-ports-offset", "--ports-offset", "ports_offset", type=click.IntRange(0, 64000), default=None,
              help="add this to the default ports (1025, 1143, ...).")
@click.option("-ready-file", "--ready-file", "ready_file", type=click.Path(path_type=Path), default=None,
              help="write the ready JSON (ports, dir, pid) to this file when listening.")
@click.option("-imap-profile", "--imap-profile", "imap_profile", type=click.Choice(["mox", "full", "dovecot", "minimal-rev1"]),
              default=None, help="advertised IMAP capabilities and the behaviour tied to them (default mox; full adds "
              "SORT/THREAD/ESORT/CONTEXT/PARTIAL, which mox does not have).")
@click.option("-preload", "--preload", type=click.Path(path_type=Path, exists=True, file_okay=False), default=None,
              help="load .eml, Maildir and mbox files from this dir into account mox at start.")
@click.option("-export-on-exit", "--export-on-exit", "export_on_exit", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="write all mail as Maildir into this dir when stopping.")
@click.option("-deterministic", "--deterministic", is_flag=True,
              help="fixed clock and stable ids in mail the server generates (env MOX_DETERMINISTIC).")
@click.option("-shared-password", "--shared-password", "shared_password", default=None,
              help="password for IMAP logins as any address (per-address views; default moxmoxmox).")
@click.pass_obj
def localserve(
    app: App,
    dir_: Path | None,
    ip: str | None,
    initonly: bool,
    ephemeral: bool,
    port_base: int | None,
    ports_offset: int | None,
    ready_file: Path | None,
    imap_profile: str | None = None,
    preload: Path | None = None,
    export_on_exit: Path | None = None,
    deterministic: bool = False,
    shared_password: str | None = None,
) -> None:
    """Local SMTP, submission and IMAP server that accepts all email, for developing and testing.

    Ports are the usual ones + 1000: SMTP 1025, submission 1587, submissions 1465, IMAP 1143,
    IMAPS 1993. Log in as mox@localhost with password moxmoxmox.
    """
    import os

    from mox.localserve import run_localserve

    # Test and CI settings (mox.ci.hooks) travel as environment variables to the server.
    for name, value in (
        ("MOX_IMAP_PROFILE", imap_profile),
        ("MOX_PRELOAD", str(preload.absolute()) if preload else None),
        ("MOX_EXPORT_ON_EXIT", str(export_on_exit.absolute()) if export_on_exit else None),
        ("MOX_DETERMINISTIC", "1" if deterministic else None),
        ("MOX_SHARED_PASSWORD", shared_password),
    ):
        if value is not None:
            os.environ[name] = value

    if port_base is not None and ports_offset is not None:
        raise click.UsageError("use either -port-base or -ports-offset, not both")
    if ephemeral and dir_ is not None:
        raise click.UsageError("use either -dir or -ephemeral, not both")
    run_localserve(
        dir_,
        ip=ip,
        initonly=initonly,
        ephemeral=ephemeral,
        port_base=port_base,
        ports_offset=ports_offset,
        ready_file=ready_file,
        check_consistency=app.checkconsistency,
        loglevel=app.loglevel,
    )
