"""`mox dkim gened25519|genrsa|txt|sign|verify`, as mox's commands of those names (main.go).

All work offline. mox's `dkim verify` looks key records up in DNS; we never do DNS, so the
records come from ``-txt`` (one record for every signature), ``-records`` (a zone file, e.g. what
`mox config dnsrecords` prints) or, for the rest, the DKIM keys of the mox config in ``-dir``
(default: the localserve dir) when there is one.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mox.cli.common import UserError
from mox.cli.common import dir_option

if TYPE_CHECKING:
    from mox.config import Config
    from mox.dkim import Lookup


def _out(data: bytes) -> None:
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def go_quote(s: str) -> str:
    """A string quoted as Go's %q does (strconv.Quote), as mox prints status and record."""
    out = ['"']
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif c.isprintable():
            out.append(c)
        elif ord(c) < 0x100:
            out.append(f"\\x{ord(c):02x}")
        elif ord(c) < 0x10000:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    out.append('"')
    return "".join(out)


def _load_config(dir_: Path | None) -> Config:
    from mox.cli.common import load_config

    return load_config(dir_)


@click.group("dkim")
def dkim_group() -> None:
    """DKIM keys, records, signing and verifying (offline)."""


@dkim_group.command("gened25519")
def gened25519() -> None:
    """Generate a new ed25519 key for use with DKIM.

    Ed25519 keys are much smaller than RSA keys of comparable cryptographic strength. This is
    convenient because of maximum DNS message sizes. At the time of writing, not many mail
    servers appear to support ed25519 DKIM keys though, so it is recommended to sign messages
    with both RSA and ed25519 keys.

    Writes the key to stdout, e.g. >$selector._domainkey.$domain.ed25519.privatekey.pkcs8.pem
    """
    from mox.dkim import make_ed25519_key

    _out(make_ed25519_key())


@dkim_group.command("genrsa")
def genrsa() -> None:
    """Generate a new 2048 bit RSA private key for use with DKIM.

    The generated file is in PEM format, and has a comment it is generated for use with DKIM,
    by mox. Writes the key to stdout, e.g. >$selector._domainkey.$domain.rsa2048.privatekey.pkcs8.pem
    """
    from mox.dkim import make_rsa_key

    _out(make_rsa_key())


@dkim_group.command("txt")
def txt() -> None:
    """Print a DKIM DNS TXT record with the public key derived from the private key read from stdin.

    The DNS should be configured as a TXT record at $selector._domainkey.$domain.
    Reads the key from stdin, e.g. <$selector._domainkey.$domain.key.pkcs8.pem
    """
    from mox.dkim import KeyFileError, Record, parse_private_key
    from mox.dkim.keys import key_algorithm
    from mox.dkim.record import public_key_bytes

    try:
        key = parse_private_key(sys.stdin.buffer.read())
    except KeyFileError as e:
        raise UserError(f"reading dkim private key from stdin: {e}") from None
    r = Record(hashes=["sha256"], flags=["s"], key=key_algorithm(key), pubkey=public_key_bytes(key.public_key()))
    record = r.text()
    line = "<selector>._domainkey.<your.domain.> TXT "
    while record:
        line += f'"{record[:100]}" '
        record = record[100:]
    click.echo(line)


def _read_message(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise UserError(f"open message: {e.strerror or e}: {path}") from None


@dkim_group.command("sign")
@dir_option
@click.argument("message")
def sign(dir_: Path | None, message: str) -> None:
    """Sign a message, adding DKIM-Signature headers based on the domain in the From header.

    The message is parsed, the domain looked up in the configuration files (of -dir, default
    the localserve dir), and DKIM-Signature headers generated. The message is printed with the
    DKIM-Signature headers prepended.
    """
    from mox import dkim
    from mox.dkim.local import sign_message
    from mox.message import parse_address_list
    from mox.message.header import split_header

    data = _read_message(message)
    fields, _, _ = split_header(data, 0, len(data))
    froms = [a for f in fields if f.lname == "from" for a in parse_address_list(f.value()) if a.host is not None]
    if len(froms) != 1:
        raise UserError(f"found {len(froms)} from headers, need exactly 1")
    localpart, domain = froms[0].mailbox or "", (froms[0].host or "").lower()
    if not domain:
        raise UserError("parsing domain of address in from-header: empty domain")
    config = _load_config(dir_)
    if domain not in config.domains:
        raise UserError(f"domain {domain} not configured")
    try:
        headers = sign_message(config, localpart, domain, data, now=time.time())
    except (dkim.SignError, dkim.MalformedHeader, dkim.KeyFileError) as e:
        raise UserError(f"signing message with dkim: {e}") from None
    if not headers:
        raise UserError(f"no DKIM configured for domain {domain}")
    _out(headers + data)


def _lookup(txt_record: str | None, records_file: Path | None, dir_: Path | None) -> Lookup:
    from mox.config import ConfigError
    from mox.dkim import KeyLookupError, Status
    from mox.dkim.dnsrecords import zone_txt_records
    from mox.dkim.local import local_lookup

    zone: dict[str, list[str]] = {}
    if records_file is not None:
        try:
            zone = zone_txt_records(records_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as e:
            raise UserError(f"reading records file: {e}") from None
    local = None
    if txt_record is None:
        try:
            local = local_lookup(_load_config(dir_))
        except ConfigError:
            local = None  # no config there: only the given records count

    def lookup(selector: str, domain: str) -> Sequence[str]:
        if txt_record is not None:
            return [txt_record]
        name = f"{selector}._domainkey.{domain}.".lower()
        if name in zone:
            return zone[name]
        if local is not None:
            return local(selector, domain)
        raise KeyLookupError(
            Status.TEMPERROR, f"dkim: lookup of dkim dns record: {name}: no record given (-txt, -records) and no dns lookups"
        )

    return lookup


@dkim_group.command("verify")
@click.option("-txt", "--txt", "txt_record", default=None, metavar="RECORD",
              help="DKIM TXT record to verify every signature with, e.g. 'v=DKIM1;k=ed25519;p=...' "
              "(for several keys use -records).")
@click.option("-records", "--records", "records_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="zone file with the TXT records at <selector>._domainkey.<domain> (as `mox config dnsrecords` prints).")
@dir_option
@click.argument("message")
def verify(txt_record: str | None, records_file: Path | None, dir_: Path | None, message: str) -> None:
    """Verify the DKIM signatures in a message and print the results.

    The message is parsed, and the DKIM-Signature headers are validated. Validation of older
    messages may fail because the DNS records have been removed or changed by now, or because
    the signature header may have specified an expiration time that was passed.

    Key records are never looked up in DNS: they come from -txt, -records, or the DKIM keys of
    the mox config in -dir (default: the localserve dir).
    """
    from mox import dkim
    from mox.dkim.sig import SigError

    data = _read_message(message)
    lookup = _lookup(txt_record, records_file, dir_)
    try:
        results = dkim.verify(data, lookup, now=time.time(), ignore_test_mode=True)
    except dkim.MalformedHeader as e:
        raise UserError(f"dkim verify: dkim: mail message header is malformed: {e}") from None
    out = []
    for r in results:
        sigh = ""
        if r.sig is None:
            click.echo("warning: could not parse signature", err=True)
        else:
            try:
                sigh = r.sig.header()
            except SigError as e:
                click.echo(f"warning: packing signature: {e}", err=True)
        record = ""
        if r.record is None:
            click.echo("warning: missing DNS record", err=True)
        else:
            record = r.record.text()
        err = r.err or "<nil>"
        out.append(f"status {go_quote(str(r.status))}, err {err}\nrecord {go_quote(record)}\nheader {sigh}\n")
    _out("".join(out).encode("utf-8"))
