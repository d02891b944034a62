"""The certificate of a new localserve dir, and the user's cached copy of it.

Every new localserve dir needs a self-signed certificate for localhost (mox.localserve). Making
one loads cryptography (about 10 MB of memory and 40 ms at every start of a new dir: each
``-ephemeral`` start, each test server). So the certificate for the default addresses (localhost,
127.0.0.1, ::1) is kept in the user's cache dir (``<cache>/mox/localserve-certificate.pem``: the
private key, mode 0600, and the certificate) and copied into each new dir while it is valid for
at least REUSE_MARGIN more; otherwise a new one is made and cached. A dir with ``-ip`` gets its
own. The cache is an optimisation only: when it cannot be read or written, the dir gets a new
certificate as before.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from mox import mlog

#: A cached certificate is used while it is valid for at least this long (seconds).
REUSE_MARGIN = 30 * 86400
CACHE_NAME = "localserve-certificate.pem"
_KEY = (b"-----BEGIN PRIVATE KEY-----", b"-----END PRIVATE KEY-----")
_CERT = (b"-----BEGIN CERTIFICATE-----", b"-----END CERTIFICATE-----")

log = mlog.get_logger("localserve")


def user_cache_dir() -> Path | None:
    """The per-user cache dir, as Go's os.UserCacheDir; None when it cannot be determined."""
    if sys.platform == "win32":
        d = os.environ.get("LocalAppData")
        return Path(d) if d else None
    home = os.environ.get("HOME")
    if sys.platform == "darwin":
        return Path(home) / "Library" / "Caches" if home else None
    d = os.environ.get("XDG_CACHE_HOME")
    if d and os.path.isabs(d):
        return Path(d)
    return Path(home) / ".cache" if home else None


def cache_file() -> Path | None:
    d = user_cache_dir()
    return d / "mox" / CACHE_NAME if d is not None else None


def _block(data: bytes, markers: tuple[bytes, bytes]) -> bytes | None:
    begin, end = markers
    i = data.find(begin)
    j = data.find(end, i)
    if i < 0 or j < 0:
        return None
    return data[i : j + len(end)] + b"\n"


def read_cached(path: Path, now: float | None = None) -> tuple[bytes, bytes] | None:
    """(private key PEM, certificate PEM) of the cached certificate when it is there, whole and
    valid for at least REUSE_MARGIN more; else None."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    not_after = None
    for line in data.splitlines():
        if line.startswith(b"# not-after: "):
            try:
                not_after = int(line.removeprefix(b"# not-after: "))
            except ValueError:
                return None
    key, cert = _block(data, _KEY), _block(data, _CERT)
    if not_after is None or key is None or cert is None:
        return None
    if not_after - (time.time() if now is None else now) < REUSE_MARGIN:
        return None
    return key, cert


def write_cached(path: Path, key_pem: bytes, cert_pem: bytes, not_after: int) -> None:
    """Keep a certificate in the cache (one file, replaced whole, mode 0600); OSError when the
    cache dir cannot be written."""
    key, cert = _block(key_pem, _KEY), _block(cert_pem, _CERT)
    if key is None or cert is None:
        raise ValueError("not a PEM private key and certificate")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = (
        b"# mox localserve: the self-signed certificate for localhost, 127.0.0.1 and ::1 that new\n"
        b"# localserve dirs get a copy of; removing this file is harmless.\n"
        + f"# not-after: {not_after}\n".encode("ascii") + key + cert
    )
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".certificate-", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def certificate_for_new_dir(ip: str | None) -> tuple[bytes, bytes]:
    """(private key PEM, certificate PEM) for a new localserve dir: the cached one for the default
    addresses while valid, else a new one (cached when ``ip`` is None)."""
    from mox.localserve import make_certificate

    path = cache_file() if ip is None else None
    if path is not None:
        cached = read_cached(path)
        if cached is not None:
            return cached
    key_pem, cert_pem, not_after = make_certificate([ip] if ip else None)
    if path is not None:
        try:
            write_cached(path, key_pem, cert_pem, not_after)
        except OSError as e:
            log.debug("localserve certificate not cached", path=str(path), err=str(e))
    return key_pem, cert_pem
