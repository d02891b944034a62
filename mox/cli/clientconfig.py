"""`mox clientconfig DOMAIN`: the settings for email clients of a domain, as mox prints them
(main.go cmdClientConfig, admin/clientconfig.go). Reads the config; needs no running mox."""

from __future__ import annotations

from pathlib import Path

import click

from mox.cli.common import dir_option as _dir_option

_NOTE = """
To prevent authentication mechanism downgrade attempts that may result in
clients sending plain text passwords to a MitM, clients should always be
explicitly configured with the most secure authentication mechanism supported,
the first of: SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS, SCRAM-SHA-256, SCRAM-SHA-1,
CRAM-MD5.
"""

#: Our one listener, as localserve names it in mox.conf.
LISTENER = "local"


def client_configs(config: object, domain: str) -> list[tuple[str, str, int, str, str]]:
    """(protocol, host, port, listener, note) per service clients use, in mox's order:
    submissions, IMAPS, submission, IMAP. Unlike mox (which shows the IMAPS port for plain
    IMAP), each entry has its own port."""
    host = str(getattr(config, "hostname", "localhost"))
    ports: dict[str, int] = dict(getattr(config, "ports", {}))
    tls = bool(getattr(config, "tls_cert_file", None))
    starttls_required = not getattr(config, "no_require_starttls", False)

    def note() -> str:
        if not tls:
            return "plain text, no STARTTLS configured"
        return "STARTTLS required" if starttls_required else "STARTTLS optional"

    out = []
    if "submissions" in ports:
        out.append(("Submission (SMTP)", host, ports["submissions"], LISTENER, "with TLS"))
    if "imaps" in ports:
        out.append(("IMAP", host, ports["imaps"], LISTENER, "with TLS"))
    if "submission" in ports:
        out.append(("Submission (SMTP)", host, ports["submission"], LISTENER, note()))
    if "imap" in ports:
        out.append(("IMAP", host, ports["imap"], LISTENER, note()))
    return out


@click.command("clientconfig")
@_dir_option
@click.argument("domain")
def clientconfig(dir_: Path | None, domain: str) -> None:
    """Print the configuration for email clients for a domain.

    Sending email is typically not done on the SMTP port 25, but on submission ports 465 (with
    TLS) and 587 (without initial TLS, but usually added to the connection with STARTTLS). For
    IMAP, the port with TLS is 993 and without is 143. (localserve: these + 1000.)

    Without TLS/STARTTLS, passwords are sent in clear text, which should only be configured over
    otherwise secured connections, like a VPN.
    """
    from mox.cli import UserError
    from mox.cli.common import load_config

    d = domain.strip().lower().rstrip(".")
    if not d or "@" in d or any(c.isspace() for c in d) or ".." in d:
        raise UserError(f"parsing domain {domain!r}: invalid domain name")
    config = load_config(dir_)
    if d not in config.domains:
        raise UserError("getting client config: unknown domain")
    click.echo(f"{'Protocol':<20} {'Host':<30} {'Port':>5} {'Listener':<15} Note")
    for proto, host, port, listener, note in client_configs(config, d):
        click.echo(f"{proto:<20} {host:<30} {port:>5} {listener:<15} {note}")
    click.echo(_NOTE, nl=False)
