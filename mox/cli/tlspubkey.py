"""`mox config tlspubkey list/get/add/rm/gen`: TLS client certificate public keys (mox ``main.go``).

list/get/add/rm talk to the running mox over the control channel; gen is standalone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from mox.cli.common import DashArgCommand, ctl_client
from mox.cli.common import dir_option as _dir_option


def _client(dir_: Path | None):  # noqa: ANN202
    return ctl_client(dir_, timeout=30)


@click.group("tlspubkey")
def tlspubkey() -> None:
    """TLS client certificates whose public key authenticates an account (IMAP PREAUTH on
    IMAPS, AUTHENTICATE/AUTH EXTERNAL, SMTP submission). Only the public key counts: no CA,
    expiry or name checks."""


@tlspubkey.command("list")
@_dir_option
@click.argument("account", required=False)
def list_(dir_: Path | None, account: str | None) -> None:
    """List the registered TLS public keys, of ACCOUNT or of all accounts."""
    with _client(dir_) as c:
        lines = c.call("tlspubkeylist", account or "", stream=True)
    keys = [json.loads(line) for line in lines if line]
    click.echo(f"# fingerprint, type, name, account, login address, no imap preauth ({len(keys)})")
    for k in keys:
        click.echo(
            "\t".join(
                [k["fingerprint"], k["type"], k["name"], k["account"], k["login_address"], str(k["no_imap_preauth"]).lower()]
            )
        )


@tlspubkey.command("get", cls=DashArgCommand)
@_dir_option
@click.argument("fingerprint")
def get(dir_: Path | None, fingerprint: str) -> None:
    """Show the TLS public key with FINGERPRINT and its certificate."""
    with _client(dir_) as c:
        lines = c.call("tlspubkeyget", fingerprint, stream=True)
    k = json.loads("\n".join(lines))
    for label, field in (
        ("fingerprint", "fingerprint"), ("type", "type"), ("name", "name"), ("account", "account"),
        ("login address", "login_address"), ("no imap preauth", "no_imap_preauth"), ("created", "created"),
    ):
        v = k[field]
        click.echo(f"{label}: {str(v).lower() if isinstance(v, bool) else v}")
    click.echo("")
    click.echo(k["certificate_pem"], nl=False)


@tlspubkey.command("add")
@_dir_option
@click.option("-no-imap-preauth", "--no-imap-preauth", "no_imap_preauth", is_flag=True,
              help="on IMAPS, greet with OK instead of PREAUTH; the client must AUTHENTICATE EXTERNAL.")
@click.argument("address")
@click.argument("name", required=False, default="")
def add(dir_: Path | None, no_imap_preauth: bool, address: str, name: str) -> None:
    """Register the public key of the PEM certificate read from stdin for the account of
    ADDRESS, which becomes the login address. NAME defaults to the certificate's CN (or its
    serial). Prints the fingerprint."""
    from mox.auth.tlspubkey import TLSPubKeyError, parse_certificate

    data = sys.stdin.buffer.read()
    try:
        parse_certificate(data)  # a clear error before talking to the server
    except TLSPubKeyError as e:
        raise click.ClickException(f"{e} (give the certificate in PEM on stdin)") from None
    with _client(dir_) as c:
        c.write_line("tlspubkeyadd")
        c.write_line(address)
        c.write_line(name)
        c.write_line("true" if no_imap_preauth else "false")
        c.write_stream(data)
        from mox.ctl import CtlError

        resp = c.read_line()
        if resp != "ok":
            raise CtlError(resp)
        fp = c.read_line()
    click.echo(fp)


@tlspubkey.command("rm", cls=DashArgCommand)
@_dir_option
@click.argument("fingerprint")
def rm(dir_: Path | None, fingerprint: str) -> None:
    """Remove the TLS public key with FINGERPRINT."""
    with _client(dir_) as c:
        c.call("tlspubkeyrm", fingerprint)


@tlspubkey.command("gen")
@click.argument("stem")
def gen(stem: str) -> None:
    """Generate an ed25519 private key and a minimal self-signed certificate for it: writes
    STEM.<YYYYmmddHHMM>.ed25519privatekey.pkcs8.pem, .certificate.pem and
    .ed25519privatekey-certificate.pem (both, for clients that want one file). Prints the
    private key seed (raw-url-base64, for mox sendmail's ClientAuthEd25519PrivateKey) and the
    fingerprint on stderr. Register the key with `mox config tlspubkey add ADDRESS < ...certificate.pem`."""
    from mox.auth.tlspubkey import TLSPubKeyError, generate

    try:
        g = generate(stem)
    except TLSPubKeyError as e:
        raise click.ClickException(str(e)) from None
    for p in (g.private_key_path, g.certificate_path, g.combined_path):
        click.echo(f"wrote {p}", err=True)
    click.echo(f"ed25519 private key as raw-url-base64: {g.seed}", err=True)
    click.echo(f"fingerprint: {g.fingerprint}", err=True)
    sys.stderr.flush()

