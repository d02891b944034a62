"""`mox sendmail`: submit a message read from stdin over SMTP submission (mox ``sendmail.go``).

Configuration as mox's moxsubmit.conf (``Key: value`` lines), from ``-config FILE``, else
``$MOXSUBMITCONF``, else (unlike mox's fixed /etc path) a running localserve: 127.0.0.1:1587,
``mox@localhost`` / ``moxmoxmox``. Fields: LocalHostname, Host, Port, TLS, STARTTLS,
TLSInsecureSkipVerify, Username, Password, AuthMethod, From, DefaultDestination, RequireTLS
(yes: MAIL with REQUIRETLS; no: a ``TLS-Required: No`` header), ClientAuthEd25519PrivateKey or
ClientAuthCertPrivateKeyPEMFile (AUTH EXTERNAL with a TLS client certificate).

Usage: ``mox sendmail [-config FILE] [-Fname] [-t] [ignored sendmail flags] [recipient] < message``.
Line endings become CRLF; From is added when missing, To when missing. On failure the message
is saved under ``~/moxsubmit.failures/`` and the exit code is 1.
"""

from __future__ import annotations

import os
import ssl
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click

from mox.smtp.client import Client, SMTPError


@dataclass
class SubmitConfig:
    local_hostname: str = "localhost"
    host: str = "127.0.0.1"
    port: int = 1587
    tls: bool = False
    starttls: bool = False
    tls_insecure_skip_verify: bool = False
    username: str = "mox@localhost"
    password: str = "moxmoxmox"
    auth_method: str = ""
    from_: str = "mox@localhost"
    default_destination: str = ""
    require_tls: str = ""
    client_auth_ed25519_private_key: str = ""  # raw-url-base64 seed (mox config tlspubkey gen)
    client_auth_cert_private_key_pem_file: str = ""  # key and certificate in one PEM file


_FIELDS = {
    "localhostname": ("local_hostname", str),
    "host": ("host", str),
    "port": ("port", int),
    "tls": ("tls", bool),
    "starttls": ("starttls", bool),
    "tlsinsecureskipverify": ("tls_insecure_skip_verify", bool),
    "username": ("username", str),
    "password": ("password", str),
    "authmethod": ("auth_method", str),
    "from": ("from_", str),
    "defaultdestination": ("default_destination", str),
    "requiretls": ("require_tls", str),
    "clientauthed25519privatekey": ("client_auth_ed25519_private_key", str),
    "clientauthcertprivatekeypemfile": ("client_auth_cert_private_key_pem_file", str),
}


class SendmailError(click.ClickException):
    pass


def parse_config(text: str) -> SubmitConfig:
    cfg = SubmitConfig()
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise SendmailError(f"config line {n}: expected 'Key: value'")
        field = _FIELDS.get(key.strip().lower())
        if field is None:
            raise SendmailError(f"config line {n}: unknown field {key.strip()!r}")
        name, typ = field
        value = value.strip()
        if typ is bool:
            if value.lower() not in ("true", "false"):
                raise SendmailError(f"config line {n}: {key.strip()} must be true or false")
            setattr(cfg, name, value.lower() == "true")
        elif typ is int:
            if not value.isdigit():
                raise SendmailError(f"config line {n}: {key.strip()} must be a number")
            setattr(cfg, name, int(value))
        else:
            setattr(cfg, name, value)
    if cfg.require_tls and cfg.require_tls.lower() not in ("yes", "no", "default"):
        raise SendmailError("RequireTLS must be yes, no or default")
    if cfg.client_auth_ed25519_private_key and cfg.client_auth_cert_private_key_pem_file:
        raise SendmailError("only one of ClientAuthEd25519PrivateKey and ClientAuthCertPrivateKeyPEMFile can be set")
    return cfg


def ed25519_cert_pem(seed_b64: str) -> bytes:
    """Key and a minimal self-signed certificate for a raw-url-base64 ed25519 seed, as one PEM
    (mox identifies a client certificate by its public key only, ``store/tlspubkey.go``)."""
    import base64
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.x509.oid import NameOID

    try:
        seed = base64.urlsafe_b64decode(seed_b64 + "=" * (-len(seed_b64) % 4))
        key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    except ValueError as e:
        raise SendmailError(f"bad ClientAuthEd25519PrivateKey: {e}") from None
    # Deterministic (fixed name, serial and validity; ed25519 signatures are deterministic): the
    # same seed always gives the same certificate, so it can be registered once with
    # `mox config tlspubkey add` (our server trusts registered certificates as TLS anchors).
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mox sendmail")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc))
        .not_valid_after(datetime.datetime(9999, 12, 31, tzinfo=datetime.timezone.utc))
        .sign(key, None)
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()) + cert.public_bytes(
        serialization.Encoding.PEM
    )


def _load_client_cert(tls_ctx: ssl.SSLContext, cfg: SubmitConfig) -> bool:
    if cfg.client_auth_cert_private_key_pem_file:
        try:
            tls_ctx.load_cert_chain(cfg.client_auth_cert_private_key_pem_file)
        except (OSError, ssl.SSLError) as e:
            raise SendmailError(f"loading ClientAuthCertPrivateKeyPEMFile: {e}") from None
        return True
    if cfg.client_auth_ed25519_private_key:
        import tempfile

        pem = ed25519_cert_pem(cfg.client_auth_ed25519_private_key)
        # ssl loads certificates from files only: a private temporary file, removed at once.
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "client.pem"
            path.write_bytes(pem)
            tls_ctx.load_cert_chain(path)
        return True
    return False


def _header_end(data: bytes) -> int:
    if data.startswith(b"\r\n"):
        return 0
    i = data.find(b"\r\n\r\n")
    return -1 if i < 0 else i + 2


def _header_values(head: bytes, name: str) -> list[str]:
    out = []
    lname = name.lower().encode()
    lines = head.split(b"\r\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        k, sep, v = line.partition(b":")
        if sep and k.strip().lower() == lname:
            val = v
            while i + 1 < len(lines) and lines[i + 1][:1] in (b" ", b"\t"):
                i += 1
                val += b" " + lines[i].strip()
            out.append(val.decode("utf-8", "replace").strip())
        i += 1
    return out


def prepare_message(raw: bytes, cfg: SubmitConfig, *, full_name: str | None, to: str | None) -> bytes:
    data = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if data and not data.endswith(b"\r\n"):
        data += b"\r\n"
    end = _header_end(data)
    if end < 0:
        # No header/body separation: everything is header if it looks like one, else body.
        data = data + b"\r\n" if data and b":" in data.split(b"\r\n", 1)[0] else b"\r\n" + data
        end = _header_end(data)
    head = data[:end]
    add = []
    if not _header_values(head, "From"):
        add.append(f"From: {full_name} <{cfg.from_}>" if full_name else f"From: <{cfg.from_}>")
    if to and not _header_values(head, "To"):
        add.append(f"To: <{to}>")
    if cfg.require_tls.lower() == "no":
        add.append("TLS-Required: No")
    return "".join(a + "\r\n" for a in add).encode("utf-8") + data


def _save_failure(data: bytes) -> Path | None:
    try:
        d = Path.home() / "moxsubmit.failures"
        d.mkdir(exist_ok=True)
        p = d / f"newmsg.{time.strftime('%Y%m%d-%H%M%S')}.{os.getpid()}"
        p.write_bytes(data)
        return p
    except OSError:
        return None


def _parse_args(args: tuple[str, ...]) -> tuple[str | None, str | None, bool, list[str]]:
    config = None
    full_name = None
    t = False
    rest: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-config", "--config"):
            if i + 1 >= len(args):
                raise click.UsageError("-config needs a file")
            config = args[i + 1]
            i += 2
            continue
        if a.startswith("-config=") or a.startswith("--config="):
            config = a.split("=", 1)[1]
        elif a == "-t":
            t = True
        elif a.startswith("-F"):
            if a == "-F":
                if i + 1 >= len(args):
                    raise click.UsageError("-F needs a name")
                full_name = args[i + 1]
                i += 1
            else:
                full_name = a[2:]
        elif a in ("-f", "-r", "-o", "-B", "-N", "-R", "-V", "-X", "-L", "-p", "-q", "-h", "-O", "-C"):
            i += 1  # sendmail flag with a separate argument: ignored
        elif a.startswith("-"):
            pass  # other sendmail flags (-i, -oi, -odi, -bm, ...) are ignored, as mox does
        else:
            rest.append(a)
        i += 1
    return config, full_name, t, rest


@click.command(
    "sendmail",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False, "help_option_names": ["-help", "--help"]},
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def sendmail(args: tuple[str, ...]) -> None:
    """Submit a message from stdin to a mail server (default: a running localserve)."""
    config_path, full_name, use_to, rcpts = _parse_args(args)
    config_path = config_path or os.environ.get("MOXSUBMITCONF") or None
    if config_path:
        try:
            cfg = parse_config(Path(config_path).read_text(encoding="utf-8"))
        except OSError as e:
            raise SendmailError(f"reading config {config_path}: {e.strerror}") from None
    else:
        cfg = SubmitConfig()
    raw = sys.stdin.buffer.read()
    if use_to:
        if rcpts:
            raise click.UsageError("-t and recipient arguments are mutually exclusive")
        end = _header_end(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
        head = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")[: end if end >= 0 else None]
        tos = _header_values(head, "To")
        import email.utils

        addrs = [a for _, a in email.utils.getaddresses(tos) if a]
        if len(addrs) != 1:
            raise SendmailError(f"-t needs exactly one address in To, found {len(addrs)}")
        rcpt = addrs[0]
    elif len(rcpts) == 1:
        rcpt = rcpts[0]
    elif not rcpts and cfg.default_destination:
        rcpt = cfg.default_destination
    else:
        raise click.UsageError("need exactly one recipient (or -t)")
    data = prepare_message(raw, cfg, full_name=full_name, to=rcpt)
    try:
        submit(cfg, rcpt, data)
    except (SMTPError, OSError) as e:
        saved = _save_failure(data)
        hint = f" (message saved to {saved})" if saved else ""
        raise SendmailError(f"submitting message: {e}{hint}") from None


def submit(cfg: SubmitConfig, rcpt: str, data: bytes) -> None:
    tls_ctx = ssl.create_default_context()
    if cfg.tls_insecure_skip_verify:
        tls_ctx.check_hostname = False
        tls_ctx.verify_mode = ssl.CERT_NONE
    client_cert = _load_client_cert(tls_ctx, cfg)
    if client_cert and not (cfg.tls or cfg.starttls):
        raise SendmailError("a client certificate needs TLS or STARTTLS")
    mode = "immediate" if cfg.tls else ("starttls" if cfg.starttls else "none")
    with Client.connect(cfg.host, cfg.port, ehlo_hostname=cfg.local_hostname, server_hostname=cfg.host, tls=mode, tls_context=tls_ctx) as c:
        mechanism = cfg.auth_method or ("EXTERNAL" if client_cert else None)
        c.auth(cfg.username, cfg.password, mechanism=mechanism)
        c.deliver(cfg.from_, [rcpt], data, requiretls=cfg.require_tls.lower() == "yes")
        c.quit()
