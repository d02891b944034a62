"""`mox config dnsrecords DOMAIN`: the DNS records to create for a domain, as mox prints them."""

from __future__ import annotations

from pathlib import Path

import click

from mox.cli.common import UserError
from mox.cli.common import dir_option


@click.command("dnsrecords")
@dir_option
@click.argument("domain")
def dnsrecords(dir_: Path | None, domain: str) -> None:
    """Prints annotated DNS records as zone file that should be created for the domain.

    The zone file can be imported into existing DNS software. You should review the DNS
    records, especially if your domain previously/currently has email configured. Reads the
    config of -dir (default: the localserve dir); needs no running mox.
    """
    from mox.dkim import KeyFileError
    from mox.dkim.dnsrecords import domain_records

    d = domain.strip().lower().rstrip(".")
    if not d or any(c.isspace() or c in "@/\\;\"" for c in d) or ".." in d:
        raise UserError(f"parsing domain {domain!r}: invalid domain name")
    from mox.cli.common import load_config

    config = load_config(dir_)
    if d not in config.domains:
        raise UserError("unknown domain")
    try:
        records = domain_records(config, d)
    except KeyFileError as e:
        raise UserError(f"records: {e}") from None
    click.echo("\n".join(records))

