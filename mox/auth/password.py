"""Stored login secrets (mox ``store/account.go``, ``Password``): no plain password is kept.

- PLAIN/LOGIN: a salted scrypt hash (memory-hard, ~50 ms), compared in constant time.
- SCRAM-SHA-1 (8192 iterations) and SCRAM-SHA-256 (4096 iterations): salt and SaltedPassword
  (RFC 5802 3), enough for a server to verify a SCRAM exchange.
- CRAM-MD5 (RFC 2195): HMAC-MD5's inner and outer MD5 states after absorbing key XOR ipad and
  key XOR opad (RFC 2104). hashlib cannot export or resume an MD5 state, so a small MD5
  implementation below computes the one-block states and finishes the HMAC from them.

Passwords are prepared with PRECIS OpaqueString (RFC 8265, mox.auth.precis) before use: non-ASCII spaces become
U+0020 and the string is NFC-normalised (``"te\\u0301st \\u00a0"`` -> ``"tést  "``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import os
import struct
import threading
from typing import TYPE_CHECKING, NamedTuple

import msgspec

from mox.auth import precis

if TYPE_CHECKING:
    from mox.auth.cache import AuthCache

SCRYPT_N = 1 << 14
#: The scrypt cost for a password that is published, not secret: localserve's default account
#: and admin passwords, printed at every start and in the documentation. A slow hash protects
#: a secret against someone who got the stored hash; a published password has nothing to
#: protect, so its hash need not cost 16 MiB and ~50 ms (at every localserve start, which
#: hashes both). Any password set later (`mox setaccountpassword`, the account page) gets
#: SCRYPT_N.
PUBLISHED_SCRYPT_N = 1 << 10
SCRYPT_R = 8
SCRYPT_P = 1
SCRAM_SHA1_ITERATIONS = 8192
SCRAM_SHA256_ITERATIONS = 4096


def prepare_password(password: str) -> bytes:
    """PRECIS OpaqueString preparation (RFC 8265 4.2, ``mox.auth.precis``), UTF-8 encoded. Raises
    ``PrecisError`` (a ValueError) for a string the profile refuses."""
    return precis.opaque_string(password).encode("utf-8")


class HashStats:
    """scrypt computations of this process: how many ran, how many run now, and the most that
    ran at once (tests check the authentication cache and the hash limit by these)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.hashes = 0
        self.running = 0
        self.peak_running = 0

    def reset_peak(self) -> None:
        with self._lock:
            self.peak_running = self.running

    def _start(self) -> None:
        with self._lock:
            self.hashes += 1
            self.running += 1
            self.peak_running = max(self.peak_running, self.running)

    def _end(self) -> None:
        with self._lock:
            self.running -= 1


stats = HashStats()


def _scrypt(pw: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    # 128 * r * n bytes of memory (16 MiB with the defaults) for the duration of the call.
    stats._start()
    try:
        return hashlib.scrypt(pw, salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=32)
    finally:
        stats._end()


def make_password_record(password: str, *, scrypt_n: int | None = None) -> PasswordRecord:
    """The stored secrets for ``password``; ``scrypt_n`` (default SCRYPT_N) only for a published
    password (PUBLISHED_SCRYPT_N)."""
    n = SCRYPT_N if scrypt_n is None else scrypt_n
    pw = prepare_password(password)
    salt = os.urandom(16)
    s1 = os.urandom(12)
    s256 = os.urandom(12)
    return PasswordRecord(
        scrypt_salt=salt,
        scrypt_n=n,
        scrypt_r=SCRYPT_R,
        scrypt_p=SCRYPT_P,
        scrypt_hash=_scrypt(pw, salt, n, SCRYPT_R, SCRYPT_P),
        scram_sha1=ScramSecret(s1, SCRAM_SHA1_ITERATIONS, hashlib.pbkdf2_hmac("sha1", pw, s1, SCRAM_SHA1_ITERATIONS)),
        scram_sha256=ScramSecret(
            s256, SCRAM_SHA256_ITERATIONS, hashlib.pbkdf2_hmac("sha256", pw, s256, SCRAM_SHA256_ITERATIONS)
        ),
        cram_md5=cram_md5_states(pw),
    )


def dummy_record() -> PasswordRecord:
    """A record no password matches, with the current hash parameters: checking a password
    against it costs what checking a real one costs, so an unknown user (or an account without
    a password) fails as slowly as a wrong password (no user enumeration by timing). Random
    bytes, computed without hashing."""
    return PasswordRecord(
        scrypt_salt=os.urandom(16),
        scrypt_n=SCRYPT_N,
        scrypt_r=SCRYPT_R,
        scrypt_p=SCRYPT_P,
        scrypt_hash=os.urandom(32),
        scram_sha1=ScramSecret(os.urandom(12), SCRAM_SHA1_ITERATIONS, os.urandom(20)),
        scram_sha256=ScramSecret(os.urandom(12), SCRAM_SHA256_ITERATIONS, os.urandom(32)),
        cram_md5=CramMD5State(os.urandom(16), os.urandom(16)),
    )


_FAKE_SALT_KEY = os.urandom(32)


def unknown_user_scram_secret(username: str, hash_name: str) -> ScramSecret:
    """SCRAM values for a user that does not exist (RFC 5802 5.1 suggests this): the salt is
    derived from the name, so it is the same at every attempt (within this process), the
    iterations are ours; the exchange then fails at the proof like a wrong password."""
    sha1 = hash_name.upper().replace("_", "-") in ("SHA-1", "SHA1")
    salt = hmac.new(_FAKE_SALT_KEY, f"{hash_name}\0{username}".encode("utf-8", "surrogatepass"), "sha256").digest()[:12]
    iterations = SCRAM_SHA1_ITERATIONS if sha1 else SCRAM_SHA256_ITERATIONS
    return ScramSecret(salt, iterations, os.urandom(20 if sha1 else 32))


def verify_password(rec: PasswordRecord, password: str, *, cache: AuthCache | None = None, account: str = "") -> bool:
    """Whether ``password`` matches the record (slow by design: run it in a worker thread).
    With ``cache`` (mox.auth.cache), a password verified for ``account`` a short while ago is
    answered without hashing, and a match is remembered."""
    try:
        pw = prepare_password(password)
    except precis.PrecisError:
        return False  # mox store/account.go: a PRECIS failure at login counts as unknown credentials
    stored = rec.scrypt_salt + rec.scrypt_hash
    if cache is not None and cache.check(account, stored, pw):
        return True
    h = _scrypt(pw, rec.scrypt_salt, rec.scrypt_n, rec.scrypt_r, rec.scrypt_p)
    ok = hmac.compare_digest(h, rec.scrypt_hash)
    if ok and cache is not None:
        cache.add(account, stored, pw)
    return ok


# Password files (the admin password, adminpasswd): one text line in the same scheme as the
# accounts' login hash (PRECIS OpaqueString, then scrypt), without SCRAM and CRAM-MD5 secrets
# (the admin logs in only on the web, with the plain password).

#: ``scrypt$<N>$<r>$<p>$<salt base64>$<hash base64>``
PASSWORD_LINE_SCHEME = "scrypt"
#: The admin password's form before it used the account scheme: PBKDF2-SHA256 over the
#: password's UTF-8, ``pbkdf2-sha256$<iterations>$<salt base64>$<hash base64>``. Still accepted;
#: rewritten as a scrypt line at the next successful login.
LEGACY_PBKDF2_SCHEME = "pbkdf2-sha256"


class LineCheck(NamedTuple):
    ok: bool
    #: The line is in the old PBKDF2 form: rewrite it (encode_password_line) after a success.
    outdated: bool


def encode_password_line(password: str, *, scrypt_n: int | None = None) -> str:
    """The password file line for ``password`` (PRECIS-prepared, scrypt with the current
    parameters; ``scrypt_n`` as for make_password_record). Raises PrecisError for a password the
    profile refuses."""
    n = SCRYPT_N if scrypt_n is None else scrypt_n
    pw = prepare_password(password)
    salt = os.urandom(16)
    h = _scrypt(pw, salt, n, SCRYPT_R, SCRYPT_P)
    b64 = lambda b: base64.b64encode(b).decode("ascii")  # noqa: E731
    return f"{PASSWORD_LINE_SCHEME}${n}${SCRYPT_R}${SCRYPT_P}${b64(salt)}${b64(h)}"


def check_password_line(stored: str, password: str) -> LineCheck:
    """Check ``password`` against a password file line (slow by design: run it in a worker
    thread). A line in neither form, or a password PRECIS refuses, does not match."""
    fields = stored.strip().split("$")
    try:
        if fields[0] == PASSWORD_LINE_SCHEME and len(fields) == 6:
            n, r, p = (int(v) for v in fields[1:4])
            salt, want = base64.b64decode(fields[4], validate=True), base64.b64decode(fields[5], validate=True)
            try:
                pw = prepare_password(password)
            except precis.PrecisError:
                return LineCheck(False, False)
            return LineCheck(hmac.compare_digest(_scrypt(pw, salt, n, r, p), want), False)
        if fields[0] == LEGACY_PBKDF2_SCHEME and len(fields) == 4:
            iterations = int(fields[1])
            salt, want = base64.b64decode(fields[2], validate=True), base64.b64decode(fields[3], validate=True)
            # `mox setadminpassword` hashed the PRECIS-prepared password, localserve the
            # password as given: either matches.
            candidates = [password.encode("utf-8")]
            try:
                prepared = prepare_password(password)
            except precis.PrecisError:
                prepared = candidates[0]
            if prepared != candidates[0]:
                candidates.append(prepared)
            ok = any(hmac.compare_digest(hashlib.pbkdf2_hmac("sha256", c, salt, iterations), want) for c in candidates)
            return LineCheck(ok, ok)
    except (ValueError, binascii.Error):
        pass
    return LineCheck(False, False)


# MD5 (RFC 1321), only what HMAC state export needs.
_S = [7, 12, 17, 22] * 4 + [5, 9, 14, 20] * 4 + [4, 11, 16, 23] * 4 + [6, 10, 15, 21] * 4
_K = [int(abs(math.sin(i + 1)) * (1 << 32)) & 0xFFFFFFFF for i in range(64)]
_MD5_INIT = struct.pack("<4I", 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476)
_M32 = 0xFFFFFFFF


def _md5_compress(state: bytes, block: bytes) -> bytes:
    a0, b0, c0, d0 = struct.unpack("<4I", state)
    m = struct.unpack("<16I", block)
    a, b, c, d = a0, b0, c0, d0
    for i in range(64):
        if i < 16:
            f = (b & c) | (~b & d)
            g = i
        elif i < 32:
            f = (d & b) | (~d & c)
            g = (5 * i + 1) % 16
        elif i < 48:
            f = b ^ c ^ d
            g = (3 * i + 5) % 16
        else:
            f = c ^ (b | (~d & _M32))
            g = (7 * i) % 16
        f = (f + a + _K[i] + m[g]) & _M32
        a, d, c = d, c, b
        b = (b + ((f << _S[i]) | (f >> (32 - _S[i])))) & _M32
    return struct.pack("<4I", (a0 + a) & _M32, (b0 + b) & _M32, (c0 + c) & _M32, (d0 + d) & _M32)


def md5_resume(state: bytes, data: bytes, prefix_len: int) -> bytes:
    """The MD5 digest of (prefix + data), given the state after the ``prefix_len`` bytes of prefix
    (a multiple of 64)."""
    total = prefix_len + len(data)
    msg = data + b"\x80" + b"\x00" * ((55 - total) % 64) + struct.pack("<Q", (total * 8) & ((1 << 64) - 1))
    for i in range(0, len(msg), 64):
        state = _md5_compress(state, msg[i : i + 64])
    return state


def cram_md5_states(pw: bytes) -> CramMD5State:
    key = hashlib.md5(pw).digest() if len(pw) > 64 else pw
    key = key.ljust(64, b"\x00")
    ipad = bytes(k ^ 0x36 for k in key)
    opad = bytes(k ^ 0x5C for k in key)
    return CramMD5State(_md5_compress(_MD5_INIT, ipad), _md5_compress(_MD5_INIT, opad))


def hmac_md5_from_states(ipad_state: bytes, opad_state: bytes, message: bytes) -> bytes:
    """HMAC-MD5(key, message) from the stored states; CRAM-MD5 compares its hex form."""
    inner = md5_resume(ipad_state, message, 64)
    return md5_resume(opad_state, inner, 64)


# Index records for the secrets (schema.py re-exports them; msgspec schema-evolution rules apply).


class ScramSecret(msgspec.Struct, frozen=True, array_like=True):
    """RFC 5802 stored values: the client derives SaltedPassword = PBKDF2(password, salt, i)."""

    salt: bytes
    iterations: int
    salted_password: bytes


class CramMD5State(msgspec.Struct, frozen=True, array_like=True):
    """HMAC-MD5 inner and outer MD5 states after absorbing key XOR ipad / key XOR opad (RFC 2195,
    RFC 2104); lets CRAM-MD5 verify without storing the password. See ``password.py``."""

    ipad_state: bytes
    opad_state: bytes

    def hmac(self, message: bytes) -> bytes:
        return hmac_md5_from_states(self.ipad_state, self.opad_state, message)


class PasswordRecord(msgspec.Struct, frozen=True, array_like=True, tag="pw"):
    scrypt_salt: bytes
    scrypt_n: int
    scrypt_r: int
    scrypt_p: int
    scrypt_hash: bytes
    scram_sha1: ScramSecret
    scram_sha256: ScramSecret
    cram_md5: CramMD5State
