"""Unknown users fail exactly like known users with a wrong password: the same reply and the
same hash work (counted, not timed), for PLAIN, LOGIN, CRAM-MD5 and SCRAM (mox.auth.sasl, used by IMAP
and SMTP) and for the password logins of the web side (mox.auth.authenticator.Authenticator)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from mox.auth import sasl
from mox.auth import password as pwmod
from mox.auth.sasl import scram

from .conftest import PASSWORD


class HashCounter:
    """Counts the expensive primitives: scrypt (PLAIN/LOGIN/web), the CRAM-MD5 HMAC and the
    SCRAM HMACs, from any thread."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        for mod, name in ((pwmod, "_scrypt"), (pwmod, "hmac_md5_from_states"), (scram, "hmac_digest")):
            real = getattr(mod, name)
            monkeypatch.setattr(mod, name, self._wrap(name, real))

    def _wrap(self, name: str, real: Any) -> Any:
        def counted(*args: Any, **kw: Any) -> Any:
            with self.lock:
                self.counts[name] += 1
            return real(*args, **kw)

        return counted

    def take(self) -> dict[str, int]:
        with self.lock:
            out = dict(self.counts)
            self.counts.clear()
        return out


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[HashCounter]:
    yield HashCounter(monkeypatch)


def attempt(verifier: Any, mech: str, username: str, password: str) -> tuple[str, str, list[tuple[str, bytes]]]:
    """(exception class, message, transcript) of a failing exchange."""
    server = sasl.server_mechanism(mech, verifier(), hostname="mox.example")
    client = sasl.client_mechanism(mech, username, password)
    ex = sasl.Exchange(client, server)
    with pytest.raises(sasl.AuthenticationFailed) as e:
        ex.run()
    return type(e.value).__name__, str(e.value), ex.transcript


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_same_failure_and_work(verifier: Any, hashes: HashCounter, mech: str) -> None:
    known = attempt(verifier, mech, "mox@localhost", "wrong password")
    known_work = hashes.take()
    unknown = attempt(verifier, mech, "nobody@localhost", "wrong password")
    unknown_work = hashes.take()
    assert known[:2] == unknown[:2]
    assert known_work == unknown_work and sum(known_work.values()) > 0, (known_work, unknown_work)
    # The same number of round trips: an unknown SCRAM user also gets a server-first message.
    assert [who for who, _ in known[2]] == [who for who, _ in unknown[2]]


@pytest.mark.parametrize("mech", ["SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_scram_unknown_user_salt_is_stable(verifier: Any, mech: str) -> None:
    """The made-up salt is the same at every attempt (a real user's salt does not change), and
    the iteration count is the one real users have."""

    def server_first(user: str) -> dict[str, str]:
        server = sasl.server_mechanism(mech, verifier())
        client = sasl.client_mechanism(mech, user, "x")
        step = server.start(client.initial_response())
        assert isinstance(step, sasl.Challenge)
        return dict(kv.split("=", 1) for kv in step.data.decode().split(","))

    a, b = server_first("nobody@localhost"), server_first("nobody@localhost")
    assert a["s"] == b["s"] and a["r"] != b["r"]
    assert server_first("somebody-else@localhost")["s"] != a["s"]
    assert a["i"] == server_first("mox@localhost")["i"]


def test_authenticator_login(accounts: Any, hashes: HashCounter) -> None:
    auth, _store = accounts
    assert auth.login("mox@localhost", "wrong password") is None
    known = hashes.take()
    assert auth.login("nobody@localhost", "wrong password") is None
    unknown = hashes.take()
    assert known == unknown == {"_scrypt": 1}
    assert auth.login("mox@localhost", PASSWORD) == "mox"
    assert hashes.take() == {"_scrypt": 1}


def test_account_without_password(tmp_path: Any, hashes: HashCounter) -> None:
    from mox.store import Store

    with Store(tmp_path / "d", fsync=False) as store:
        store.create_account("nopw")
        acc = store.open_account("nopw")
        try:
            assert acc.check_password("anything") is False
        finally:
            acc.close()
    assert hashes.take() == {"_scrypt": 1}
