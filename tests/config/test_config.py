"""Config files: round trip, strict decoding, port selection, and address normalisation."""

from __future__ import annotations

import pytest

from mox import config as mconfig
from mox.auth.authenticator import Authenticator


def _static(**listener_kw):
    kw = dict(
        ips=["127.0.0.1"],
        tls=mconfig.ListenerTLS(key_certs=[mconfig.KeyCert(cert_file="localhost.crt", key_file="localhost.key")]),
        smtp=mconfig.SMTPService(enabled=True, port=1025),
        imap=mconfig.IMAPService(enabled=True, port=1143, no_require_starttls=True),
    )
    kw.update(listener_kw)
    return mconfig.StaticConfig(
        data_dir=".", log_level="info", hostname="localhost", listeners={"local": mconfig.Listener(**kw)},
        postmaster=mconfig.Postmaster(account="mox", mailbox="Inbox"),
    )


def _write(tmp_path):
    domains = mconfig.DomainsConfig(
        domains={"localhost": mconfig.DomainConfig(localpart_catchall_separator="+")},
        accounts={"mox": mconfig.AccountConfig.with_addresses(["mox@localhost"])},
    )
    mconfig.write_config(tmp_path, _static(), domains)


def test_roundtrip(tmp_path):
    _write(tmp_path)
    c = mconfig.load_config(tmp_path)
    assert c.hostname == "localhost"
    assert c.localserve is False
    assert c.no_require_starttls is True
    assert c.data_path == tmp_path.resolve()
    assert c.tls_cert_file == str(tmp_path.absolute() / "localhost.crt")
    assert c.ports == {"smtp": 1025, "imap": 1143}
    assert c.ips == ["127.0.0.1"]
    assert c.accounts["mox"].addresses == ["mox@localhost"]
    assert c.catchall_separator == "+"
    assert c.max_message_size == 104857600
    assert c.failure_timeout == 3600.0
    assert c.postmaster == ("mox", "Inbox")


def test_errors(tmp_path):
    with pytest.raises(mconfig.ConfigError, match=r"mox.conf: file not found$"):
        mconfig.load_config(tmp_path)
    _write(tmp_path)
    conf = tmp_path / "mox.conf"
    conf.write_text(conf.read_text(encoding="utf-8").replace("Hostname:", "Hostnmae:"), encoding="utf-8")
    with pytest.raises(mconfig.ConfigError, match=r"mox.conf:\d+: unknown key 'Hostnmae', did you mean 'Hostname'\?"):
        mconfig.load_config(tmp_path)
    _write(tmp_path)
    conf.write_text("{", encoding="utf-8")
    with pytest.raises(mconfig.ConfigError, match=r"mox.conf: in JSON"):
        mconfig.load_config(tmp_path)


def test_localserve_ports():
    assert mconfig.localserve_ports() == {
        "smtp": 1025, "submission": 1587, "submissions": 1465, "imap": 1143, "imaps": 1993, "http": 1080, "https": 1443,
        "metrics": 1081,
    }
    assert mconfig.localserve_ports(port_base=0) == dict.fromkeys(mconfig.SERVICES, 0)
    assert mconfig.localserve_ports(port_base=20000)["imap"] == 20143
    assert mconfig.localserve_ports(ports_offset=100)["smtp"] == 1125
    with pytest.raises(ValueError, match="either"):
        mconfig.localserve_ports(port_base=0, ports_offset=1)
    with pytest.raises(ValueError, match="out of range"):
        mconfig.localserve_ports(port_base=65500)


def test_user_config_dir(monkeypatch, tmp_path):
    import sys

    if sys.platform not in ("win32", "darwin"):
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
        assert mconfig.default_localserve_dir() == tmp_path / "mox-localserve"
        monkeypatch.delenv("XDG_CONFIG_HOME")
        monkeypatch.setenv("HOME", str(tmp_path))
        assert mconfig.default_localserve_dir() == tmp_path / ".config" / "mox-localserve"


class FakeAccount:
    def __init__(self, store, name):
        self.store, self.name = store, name

    def check_password(self, password):
        return password == self.store.passwords[self.name]

    def close(self):
        self.store.open_count -= 1


class FakeStore:
    def __init__(self):
        self.passwords = {"mox": "moxmoxmox"}
        self.open_count = 0

    def open_account(self, name):
        self.open_count += 1
        return FakeAccount(self, name)


@pytest.mark.parametrize("localserve", [True, False])
def test_authenticator(tmp_path, localserve):
    _write(tmp_path)
    import msgspec

    c = msgspec.structs.replace(mconfig.load_config(tmp_path), localserve=localserve)
    assert c.localserve is localserve
    store = FakeStore()
    a = Authenticator(c, store)
    assert a.login("mox@localhost", "moxmoxmox") == "mox"
    assert a.login("MOX@LocalHost", "moxmoxmox") == "mox"
    assert a.login("mox+tag@localhost", "moxmoxmox") == "mox"
    assert a.login("mo\u0301x@localhost", "moxmoxmox") is None  # NFD differs from mox (o + accent)
    assert a.login("mox@localhost", "wrong") is None
    assert a.login("mox", "moxmoxmox") is None
    assert a.login("other@localhost", "moxmoxmox") is None
    assert store.open_count == 0
    assert a.account_for_address("mox+x+y@localhost") == "mox"
    assert a.account_for_address("mox@example.org") is None
    assert a.lookup_destination("mox", "localhost") == ("mox", "Inbox")
    if localserve:
        assert a.lookup_destination("anyone", "example.org") == ("mox", "Inbox")
    else:
        assert a.lookup_destination("anyone", "example.org") is None


def test_auth_failure_limit(tmp_path):
    from mox.limits.limiter import Limiter

    _write(tmp_path)
    lim = Limiter(mconfig.Limits(auth_failures_per_minute=(2, 100, 100)))
    a = Authenticator(mconfig.load_config(tmp_path), FakeStore(), lim)
    assert a.login("mox@localhost", "bad", ip="192.0.2.1") is None
    assert a.login("mox@localhost", "moxmoxmox", ip="192.0.2.1") == "mox"  # success resets
    assert a.login("nobody@localhost", "bad", ip="192.0.2.1") is None
    assert a.login("mox@localhost", "bad", ip="192.0.2.1") is None
    # Over the limit: even the right password is refused, for this IP only.
    assert a.login("mox@localhost", "moxmoxmox", ip="192.0.2.1") is None
    assert a.login("mox@localhost", "moxmoxmox", ip="198.51.100.1") == "mox"
    assert a.login("mox@localhost", "moxmoxmox") == "mox"  # no ip: not limited


def test_nfc_address(tmp_path):
    config = mconfig.Config(
        domains={"localhost": mconfig.DomainConfig()},
        accounts={"m": mconfig.AccountConfig.with_addresses(["m\u00f3x@localhost"])},
    )
    a = Authenticator(config, FakeStore())
    assert a.account_for_address("mo\u0301x@LOCALHOST") == "m"  # NFD login finds the NFC address
