"""The admin password uses the accounts' scheme (PRECIS OpaqueString, then scrypt); a password
file still in the old PBKDF2-SHA256 form is accepted and rewritten at the next successful login."""

from __future__ import annotations

import base64
import hashlib
import os

from mox.auth import password as pwmod
from mox.localserve import ADMIN_PASSWORD
from mox.testing import LocalServer
from tests.web.conftest import Client


def old_pbkdf2_line(password: str, iterations: int = 1000) -> str:
    """The admin password file's old form, computed here with hashlib alone."""
    salt = os.urandom(16)
    h = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"pbkdf2-sha256${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(h).decode()}\n"


def admin_login(srv: LocalServer, password: str) -> int:
    c = Client(srv.ports["http"])
    try:
        return c.post("/admin/login", json_body={"password": password}).status
    finally:
        c.close()


def test_password_line_is_the_account_scheme() -> None:
    line = pwmod.encode_password_line("ne\u0301w\u00a0admin password")
    scheme, n, r, p, salt, h = line.split("$")
    assert (scheme, int(n), int(r), int(p)) == ("scrypt", pwmod.SCRYPT_N, pwmod.SCRYPT_R, pwmod.SCRYPT_P)
    # The same scrypt over the same PRECIS preparation as an account password.
    prepared = pwmod.prepare_password("ne\u0301w\u00a0admin password")
    assert prepared == "n\u00e9w admin password".encode()
    assert hashlib.scrypt(prepared, salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32) == base64.b64decode(h)
    assert pwmod.check_password_line(line, "n\u00e9w admin password") == (True, False)
    assert pwmod.check_password_line(line, "new admin password") == (False, False)
    assert pwmod.check_password_line(line, "\u0007bad") == (False, False)  # PRECIS refuses it
    for broken in ("", "scrypt$1$2", "scrypt$x$8$1$AA==$AA==", "md5$abc", "pbkdf2-sha256$1$!!$AA=="):
        assert pwmod.check_password_line(broken, "n\u00e9w admin password") == (False, False)


def test_localserve_writes_the_scrypt_form(tmp_path) -> None:
    with LocalServer(tmp_path / "data") as srv:
        stored = (srv.dir / "adminpasswd").read_text(encoding="utf-8")
        assert stored.startswith("scrypt$") and stored.endswith("\n")
        assert pwmod.check_password_line(stored, ADMIN_PASSWORD) == (True, False)
        assert admin_login(srv, ADMIN_PASSWORD) == 200


def test_old_pbkdf2_file_accepted_and_rewritten_at_login(tmp_path) -> None:
    with LocalServer(tmp_path / "data") as srv:
        path = srv.dir / "adminpasswd"
        old = old_pbkdf2_line("old admin password")
        path.write_text(old, encoding="utf-8")

        # A wrong password fails and leaves the old file as it is.
        assert admin_login(srv, "wrong password") == 403
        assert path.read_text(encoding="utf-8") == old

        # The right one logs in; the file is now in the accounts' scheme for the same password.
        assert admin_login(srv, "old admin password") == 200
        new = path.read_text(encoding="utf-8")
        assert new != old and new.startswith("scrypt$")
        assert pwmod.check_password_line(new, "old admin password") == (True, False)
        assert not pwmod.check_password_line(new, "wrong password").ok

        # Logging in again works from the new form and does not rewrite it.
        assert admin_login(srv, "old admin password") == 200
        assert path.read_text(encoding="utf-8") == new
        assert admin_login(srv, "wrong password") == 403


def test_old_pbkdf2_file_of_a_precis_prepared_password(tmp_path) -> None:
    # `mox setadminpassword` hashed the PRECIS-prepared password: the unprepared spelling of it
    # logs in too, and the rewrite keeps it working.
    with LocalServer(tmp_path / "data") as srv:
        path = srv.dir / "adminpasswd"
        path.write_text(old_pbkdf2_line("n\u00e9w admin password"), encoding="utf-8")
        assert admin_login(srv, "ne\u0301w\u00a0admin password") == 200
        assert path.read_text(encoding="utf-8").startswith("scrypt$")
        assert admin_login(srv, "n\u00e9w admin password") == 200
