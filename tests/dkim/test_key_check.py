"""Checking a DKIM key file when the config is loaded: key_file_algorithm accepts and refuses
exactly what parsing the key with cryptography does (same kind, same error), but reads mox's own
PKCS #8 files without cryptography, so a server start loads no cryptography for its DKIM keys."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from mox.dkim.keys import KeyFileError, key_algorithm, key_file_algorithm, make_ed25519_key, make_rsa_key, parse_private_key

from tests.conftest import mox_env

ROOT = Path(__file__).resolve().parents[2]


def _pem(key, fmt=serialization.PrivateFormat.PKCS8) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def _prime(start: int) -> int:
    n = start | 1
    while not all(pow(a, n - 1, n) == 1 for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)):
        n += 2
    return n


def _small_rsa() -> rsa.RSAPrivateKey:
    """A 512-bit RSA key (cryptography no longer generates keys that small)."""
    p, q, e = _prime(2**255 + 2**254 + 2**253 + 12345), _prime(2**255 + 2**254 + 2**252 + 777), 65537
    d = pow(e, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(e, p * q)
    )
    return numbers.private_key()


@functools.cache
def _variants() -> dict[str, bytes]:
    ed = make_ed25519_key("sel", "example.org")
    rsa2048 = make_rsa_key("sel", "example.org")
    lines = ed.decode().splitlines()
    b64 = lines[3]
    return {
        "ed25519 as mox writes it": ed,
        "ed25519 without note": _pem(ed25519.Ed25519PrivateKey.generate()),
        "ed25519 with crlf": ed.replace(b"\n", b"\r\n"),
        "rsa 2048 as mox writes it": rsa2048,
        "rsa 1024": _pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
        "rsa 512 (too small)": _pem(_small_rsa()),
        "rsa pkcs1": _pem(rsa.generate_private_key(public_exponent=65537, key_size=1024), serialization.PrivateFormat.TraditionalOpenSSL),
        "ec p-256 (unsupported)": _pem(ec.generate_private_key(ec.SECP256R1())),
        "no pem block": b"hello\n",
        "empty": b"",
        "bad base64": ed.replace(b64.encode(), b"!!!!" + b64[4:].encode()),
        "truncated der": ed.replace(b64.encode(), b64[:-8].encode()),
        "ed25519 seed of 31 bytes": b"-----BEGIN PRIVATE KEY-----\nMC0CAQAwBQYDK2VwBCEEH" + b"A" * 40 + b"\n-----END PRIVATE KEY-----\n",
        "text before the block": b"some words\n" + ed,
    }


def _reference(data: bytes) -> str:
    """What the check was before: parse with cryptography, then the kind."""
    try:
        return key_algorithm(parse_private_key(data))
    except KeyFileError as e:
        return f"error: {e}"


def _checked(path: Path) -> str:
    try:
        return key_file_algorithm(path)
    except KeyFileError as e:
        return f"error: {e}"


VARIANTS = [
    "ed25519 as mox writes it", "ed25519 without note", "ed25519 with crlf", "rsa 2048 as mox writes it", "rsa 1024",
    "rsa 512 (too small)", "rsa pkcs1", "ec p-256 (unsupported)", "no pem block", "empty", "bad base64",
    "truncated der", "ed25519 seed of 31 bytes", "text before the block",
]  # fmt: skip


def test_the_variants_are_all_checked() -> None:
    assert sorted(VARIANTS) == sorted(_variants())


@pytest.mark.parametrize("name", VARIANTS)
def test_the_check_agrees_with_parsing_the_key(tmp_path: Path, name: str) -> None:
    data = _variants()[name]
    path = tmp_path / "key.pem"
    path.write_bytes(data)
    assert _checked(path) == _reference(data)


def test_the_kinds_and_errors() -> None:
    v = _variants()
    assert _reference(v["ed25519 as mox writes it"]) == "ed25519"
    assert _reference(v["rsa 2048 as mox writes it"]) == "rsa"
    assert _reference(v["rsa 512 (too small)"]) == "error: rsa keys should be >= 1024 bits, is 512 bits"
    assert _reference(v["no pem block"]) == "error: decoding pem: no pem block found"
    assert _reference(v["ec p-256 (unsupported)"]).startswith("error: unsupported private key type")


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match=r"^reading private key: No such file or directory: "):
        key_file_algorithm(tmp_path / "missing.pem")


def test_the_ed25519_key_written_without_cryptography_is_the_seed() -> None:
    seed = bytes(range(32))
    key = parse_private_key(make_ed25519_key(seed=seed))
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    assert key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()) == seed


def test_checking_mox_key_files_loads_no_cryptography(tmp_path: Path) -> None:
    (tmp_path / "ed.pem").write_bytes(make_ed25519_key("sel", "example.org"))
    (tmp_path / "rsa.pem").write_bytes(make_rsa_key("sel", "example.org"))
    script = (
        "import sys; from mox.dkim.keys import key_file_algorithm, make_ed25519_key; "
        f"kinds = [key_file_algorithm(p) for p in {[str(tmp_path / 'ed.pem'), str(tmp_path / 'rsa.pem')]!r}]; "
        "make_ed25519_key('a', 'b'); "
        "print(kinds, sorted(m for m in sys.modules if m.startswith('cryptography')))"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, env=mox_env(), timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['ed25519', 'rsa'] []"
