"""The config files in mox's sconf format: what localserve writes at first start, errors with
file, line and field that stop start-up, and the one-time conversion of a JSON config dir."""

from __future__ import annotations

import base64
import hashlib
import imaplib
import io
import json
import os
import smtplib
import ssl
import sys
from pathlib import Path

import msgspec
import pytest
import trio
from cryptography.hazmat.primitives import serialization

from mox import config as mconfig
from mox import localserve, mlog
from mox.dkim import dnsrecords
from mox.dkim.keys import load_key_file
from mox.store import Store
from mox.testing import LocalServer

from ..conftest import run_mox


def test_localserve_writes_mox_files(tmp_path: Path) -> None:
    d = tmp_path / "ls"
    localserve.write_localserve_config(d)
    mox_conf = (d / "mox.conf").read_text(encoding="utf-8")
    domains_conf = (d / "domains.conf").read_text(encoding="utf-8")
    note = "# NOTE: This config file is in 'sconf' format. Indent with tabs. Comments must be\n"
    assert mox_conf.startswith(note) and domains_conf.startswith(note)
    for text in (
        "\nDataDir: .\n",
        "\nHostname: localhost\n",
        "\nPedantic: true\n",
        "\nAdminPasswordFile: adminpasswd\n",
        "\nListeners:\n\tlocal:\n",
        "\t\tIPs:\n\t\t\t- 127.0.0.1\n\t\t\t- ::1\n",
        "\t\t\t\t-\n\n\t\t\t\t\t# Certificate including intermediate CA certificates, in PEM format.\n\t\t\t\t\tCertFile: localhost.crt\n",
        "\t\tSMTP:\n\t\t\tEnabled: true\n\n\t\t\t# Default 25. (optional)\n\t\t\tPort: 1025\n",
        "\t\tIMAPS:\n\t\t\tEnabled: true\n",
        "\t\tWebAPIHTTP:\n\t\t\tEnabled: true\n",
        "\t\tMetricsHTTP:\n\t\t\tEnabled: true\n\n\t\t\t# (optional)\n\t\t\tPort: 1081\n",
        "\nPostmaster:\n\n\t# Account for postmaster messages.\n\tAccount: mox\n",
    ):
        assert text in mox_conf, text
    for text in (
        "\nDomains:\n\tlocalhost:\n",
        "\t\tLocalpartCatchallSeparator: +\n",
        "\t\t\t\tlocalserve:\n",
        "\t\t\t\t\tExpiration: 72h\n",
        "\nAccounts:\n\tmox:\n",
        "\t\tKeepRetiredMessagePeriod: 72h0m0s\n",
        "\t\tKeepRetiredWebhookPeriod: 72h0m0s\n",
        "\t\tDestinations:\n\t\t\tmox@localhost: nil\n",
        "\t\tNoFirstTimeSenderDelay: true\n",
    ):
        assert text in domains_conf, text
    extra = (d / "extra.conf").read_text(encoding="utf-8")
    assert "\nLimits:\n" in extra and "\tConnectionsPerMinute:\n\t\t- 100000\n" in extra
    config = localserve.load_localserve_config(d)
    assert config.ports == mconfig.localserve_ports()
    assert config.no_require_starttls and config.localserve
    assert config.limits == mconfig.LOCALSERVE_LIMITS
    assert config.accounts["mox"].addresses == ["mox@localhost"]
    assert config.accounts["mox"].keep_retired_message_period == 72 * 3600


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_account_webhook_fields_as_mox_writes_them(tmp_path: Path) -> None:
    """mox's per-account webhook settings (config.Account OutgoingWebhook, IncomingWebhook,
    KeepRetiredMessagePeriod, KeepRetiredWebhookPeriod) parse in domains.conf."""
    d = tmp_path / "ls"
    localserve.write_localserve_config(d)
    _edit(d / "domains.conf", "\t\tNoFirstTimeSenderDelay: true\n",
          "\t\tNoFirstTimeSenderDelay: true\n"
          "\t\tOutgoingWebhook:\n\t\t\tURL: http://127.0.0.1:8080/out\n\t\t\tAuthorization: Basic dXNlcjpwYXNz\n"
          "\t\t\tEvents:\n\t\t\t\t- delivered\n\t\t\t\t- failed\n"
          "\t\tIncomingWebhook:\n\t\t\tURL: https://example.org/in\n")
    _edit(d / "domains.conf", "KeepRetiredWebhookPeriod: 72h0m0s", "KeepRetiredWebhookPeriod: 1h30m")
    acc = mconfig.load_config(d).accounts["mox"]
    assert acc.outgoing_webhook == mconfig.OutgoingWebhook(
        url="http://127.0.0.1:8080/out", authorization="Basic dXNlcjpwYXNz", events=["delivered", "failed"])
    assert acc.incoming_webhook == mconfig.IncomingWebhook(url="https://example.org/in")
    assert (acc.keep_retired_message_seconds, acc.keep_retired_webhook_seconds) == (72 * 3600, 5400)
    # Written back as mox writes them.
    text = mconfig.encode(mconfig.read_domains(d)).decode()
    assert "\t\tOutgoingWebhook:\n\n\t\t\t# URL to POST webhooks.\n\t\t\tURL: http://127.0.0.1:8080/out\n" in text
    assert "\t\tKeepRetiredWebhookPeriod: 1h30m0s\n" in text
    # A misspelled event or a URL that is not http(s) stops loading at its line.
    _edit(d / "domains.conf", "\t\t\t\t- failed\n", "\t\t\t\t- failure\n")
    with pytest.raises(mconfig.ConfigError) as exc:
        mconfig.load_config(d)
    assert str(exc.value) == (f"{d / 'domains.conf'}:{_line_of(d / 'domains.conf', 'OutgoingWebhook:')}: "
                              "Accounts.mox.OutgoingWebhook: unknown outgoing webhook event 'failure', known: "
                              "delivered, suppressed, delayed, failed, relayed, expanded, canceled, unrecognized")
    _edit(d / "domains.conf", "\t\t\t\t- failure\n", "\t\t\t\t- failed\n")
    _edit(d / "domains.conf", "URL: https://example.org/in", "URL: ftp://example.org/in")
    with pytest.raises(mconfig.ConfigError, match=r"IncomingWebhook: parsing webhook url 'ftp://example.org/in'"):
        mconfig.load_config(d)


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    "name, old, new, needle, message",
    [
        # Misspelled top-level fields.
        ("mox.conf", "\nHostname: localhost\n", "\nHostnmae: localhost\n", "Hostnmae",
         "unknown key 'Hostnmae', did you mean 'Hostname'?"),
        ("domains.conf", "\nAccounts:\n", "\nAcounts:\n", "Acounts:", "unknown key 'Acounts', did you mean 'Accounts'?"),
        ("extra.conf", "\nLimits:\n", "\nLimit:\n", "Limit:", "unknown key 'Limit', did you mean 'Limits'?"),
        # Nested fields.
        ("mox.conf", "\t\t\t# Default 25. (optional)\n\t\t\tPort: 1025\n", "\t\t\tPrt: 1025\n", "Prt:",
         "Listeners.local.SMTP: unknown key 'Prt', did you mean 'Port'?"),
        ("domains.conf", "\t\tNoFirstTimeSenderDelay: true\n", "\t\tNoFirstTimeSenderDelays: true\n",
         "NoFirstTimeSenderDelays", "Accounts.mox: unknown key 'NoFirstTimeSenderDelays'"),
        ("domains.conf", "\t\t\t\t\tExpiration: 72h\n", "\t\t\t\t\tExpiry: 72h\n", "Expiry",
         "Domains.localhost.DKIM.Selectors.localserve: unknown key 'Expiry'"),
        # A field of mox this implementation does not have.
        ("domains.conf", "\t\tNoFirstTimeSenderDelay: true\n", "\t\tNoCustomPassword: true\n", "NoCustomPassword",
         "Accounts.mox: key 'NoCustomPassword' is a setting of mox that this implementation does not have"),
        # Wrong indenting: a tab too many, spaces instead of a tab, a nested value on its key's line.
        ("mox.conf", "\nHostname: localhost\n", "\n\tHostname: localhost\n", "Hostname",
         "key 'Hostname' indented too far"),
        ("domains.conf", "\t\tNoFirstTimeSenderDelay: true\n", "\t\t\tNoFirstTimeSenderDelay: true\n",
         "NoFirstTimeSenderDelay", "Accounts.mox: key 'NoFirstTimeSenderDelay' indented too far"),
        ("mox.conf", "\t\t\t- 127.0.0.1\n", "        - 127.0.0.1\n", "        - 127.0.0.1",
         "Listeners.local.IPs: expected indent (a value on the next line, one more tab), saw '        - 127.0.0.1'"),
        ("mox.conf", "\nPostmaster:\n", "\nPostmaster: mox\n", "Postmaster: mox",
         "Postmaster: expected the value on the next lines, indented one more tab, saw 'mox'"),
        # Wrong types.
        ("mox.conf", "\nPedantic: true\n", "\nPedantic: yes\n", "Pedantic", "Pedantic: bad boolean value 'yes' (true or false)"),
        ("mox.conf", "\t\t\tPort: 1025\n", "\t\t\tPort: 25a\n", "Port: 25a", "Listeners.local.SMTP.Port: bad integer value '25a'"),
        ("domains.conf", "\t\tKeepRetiredMessagePeriod: 72h0m0s\n", "\t\tKeepRetiredMessagePeriod: 3 days\n",
         "KeepRetiredMessagePeriod", "Accounts.mox.KeepRetiredMessagePeriod: bad duration '3 days'"),
        ("extra.conf", "\tSlowWriteMax: 2s\n", "\tSlowWriteMax: 2 s\n", "SlowWriteMax", "Limits.SlowWriteMax: bad duration '2 s'"),
        # Values that do not fit.
        ("mox.conf", "\t\t\t- 127.0.0.1\n", "\t\t\t- 127.0.0.300\n", "\tlocal:", "invalid ip address '127.0.0.300'"),
        ("mox.conf", "\nLogLevel: info\n", "\nLogLevel: loud\n", "DataDir:", "unknown log level 'loud'"),
        ("domains.conf", "\t\t\tmox@localhost: nil\n", "\t\t\tmox@example.org: nil\n", "DataDir:",
         "address 'mox@example.org' of account 'mox' is not in a configured domain"),
    ],
)
def test_errors_stop_startup(tmp_path: Path, name: str, old: str, new: str, needle: str, message: str) -> None:
    d = tmp_path / "ls"
    localserve.write_localserve_config(d)
    path = d / name
    _edit(path, old, new)
    with pytest.raises(mconfig.ConfigError) as exc:
        mconfig.load_config(d)
    text = str(exc.value)
    if needle == "DataDir:":
        assert text.startswith(f"{path}:"), text  # a check of the whole file: at its top-level key
    else:
        assert text.startswith(f"{path}:{_line_of(path, needle)}: "), text
    assert message in text


def test_error_stops_localserve(tmp_path: Path) -> None:
    """`mox localserve` prints the file, line and field, and exits 1."""
    d = tmp_path / "ls"
    localserve.write_localserve_config(d)
    _edit(d / "domains.conf", "\t\tNoFirstTimeSenderDelay: true\n", "\t\tNoFirstTimeSenderDelai: true\n")
    r = run_mox("localserve", "-dir", str(d), "-port-base", "0")
    line = _line_of(d / "domains.conf", "NoFirstTimeSenderDelai")
    assert r.returncode == 1
    assert r.stderr == (
        "mox: loading mox localserve config (hint: when creating a new config with -dir, the directory must not yet "
        f"exist): {d / 'domains.conf'}:{line}: Accounts.mox: unknown key 'NoFirstTimeSenderDelai', did you mean "
        "'NoFirstTimeSenderDelay'?\n"
    )


# A config dir as the previous (JSON) version wrote it, with a second account and settings
# beyond localserve's defaults.
JSON_MOX_CONF = {
    "listener": {
        "ips": ["127.0.0.1"],
        "ports": {"smtp": 1025, "submission": 1587, "submissions": 1465, "imap": 1143, "imaps": 1993, "http": 1080,
                  "https": 1443},
        "no_require_starttls": True,
    },
    "data_dir": ".",
    "hostname": "localhost",
    "log_level": "info",
    "localserve": True,
    "admin_password_file": "adminpasswd",
    "tls": {"cert_file": "localhost.crt", "key_file": "localhost.key"},
    "max_message_size": 2000000,
    "quota_message_size": 5000000,
    "failure_timeout": 7.0,
    "limits": {
        "connections_per_minute": [100000, 300000, 900000],
        "concurrent_connections": [10000, 30000, 90000],
        "auth_failures_per_minute": [10000, 30000, 90000],
        "auth_failures_per_day": [1000000, 3000000, 9000000],
        "slow_after_auth_failures": 4,
        "slow_read_delay": 1.0,
        "slow_write_delay": 1.0,
        "slow_write_max": 2.0,
        "auth_attempt_delay": 0.5,
        "concurrent_password_hashes": 3,
    },
    "smtp_idle_timeout": 31.0,
    "smtp_data_timeout": 1801.0,
    "smtp_rcpt_max": 77,
    "queue_retry_delays": [0.25, 1.0],
    "web_max_request_body": 12345678,
    "web_request_deadline": 301.0,
}
JSON_DOMAINS_CONF = {
    "domains": {
        "localhost": {
            "catchall_separator": "+",
            "dkim": {
                "selectors": {
                    "localserve": {
                        "private_key_file": "dkim.localserve.privatekey.pkcs8.pem",
                        "hash": "",
                        "canonicalization": {"header_relaxed": True, "body_relaxed": True},
                        "headers": [],
                        "dont_seal_headers": False,
                        "expiration": "72h",
                    }
                },
                "sign": ["localserve"],
            },
        },
        "example.org": {"catchall_separator": "-"},
    },
    "accounts": {
        "mox": {"addresses": ["mox@localhost"], "quota": 0, "max_outgoing_messages_per_day": -1,
                "max_first_time_recipients_per_day": -1},
        "alice": {"addresses": ["alice@localhost", "alice@example.org"], "quota": 900000,
                  "max_outgoing_messages_per_day": 10, "max_first_time_recipients_per_day": 5},
    },
}


def _old_admin_line(password: str) -> str:
    """The admin password file line of the previous version: PBKDF2-SHA256 (still accepted)."""
    salt = os.urandom(16)
    h = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, 1000)
    return f"pbkdf2-sha256$1000${base64.b64encode(salt).decode()}${base64.b64encode(h).decode()}"


def _json_dir(d: Path, mox_conf: dict, domains_conf: dict) -> None:
    """Keys, certificate, admin password and accounts with passwords as the previous version
    made them, and its JSON config files."""
    d.mkdir(parents=True)
    localserve.generate_certificate(d / localserve.CERT_FILE, d / localserve.KEY_FILE)
    localserve.write_dkim_key(d)

    (d / "adminpasswd").write_text(_old_admin_line("moxadmin") + "\n", encoding="ascii")
    (d / "mox.conf").write_text(json.dumps(mox_conf, indent=2) + "\n", encoding="utf-8")
    (d / "domains.conf").write_text(json.dumps(domains_conf, indent=2) + "\n", encoding="utf-8")
    with Store(d, fsync=False) as store:
        for name, pw in (("mox", "moxmoxmox"), ("alice", "alice's password")):
            if name in domains_conf["accounts"]:
                store.create_account(name)
                acc = store.open_account(name)
                try:
                    trio.run(acc.set_password, pw)
                finally:
                    acc.close()


def test_json_config_converted_once(tmp_path: Path) -> None:
    d = tmp_path / "old"
    _json_dir(d, JSON_MOX_CONF, JSON_DOMAINS_CONF)
    before = {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}
    out = io.StringIO()
    mlog.set_output(out)
    try:
        config, new = localserve.prepare(d, port_base=0)
        assert not new
        converted = out.getvalue()
        # Once: the next start reads the sconf files and logs nothing about conversion.
        after = (d / "mox.conf").read_bytes()
        config2, _ = localserve.prepare(d, port_base=0)
    finally:
        mlog.set_output(sys.stderr)
    assert out.getvalue() == converted
    assert (d / "mox.conf").read_bytes() == after and config2 == config
    assert converted == f"info: converted config files from json to sconf format; pkg=config; dir={d}; kept=\"mox.conf.json domains.conf.json\"\n"
    # The JSON is kept; keys, certificate and admin password are untouched.
    assert (d / "mox.conf.json").read_bytes() == before["mox.conf"]
    assert (d / "domains.conf.json").read_bytes() == before["domains.conf"]
    for name in ("localhost.crt", "localhost.key", "dkim.localserve.privatekey.pkcs8.pem", "adminpasswd"):
        assert (d / name).read_bytes() == before[name]
    # Every setting carried over.
    assert config.max_message_size == 2000000 and config.quota == 5000000
    assert config.failure_timeout == 7.0 and config.smtp_rcpt_max == 77
    assert (config.smtp_idle_timeout, config.smtp_data_timeout) == (31.0, 1801.0)
    assert config.queue_retry_delays == (0.25, 1.0)
    assert (config.web_max_request_body, config.web_request_deadline) == (12345678, 301.0)
    assert msgspec.json.decode(msgspec.json.encode(config.limits)) == {mconfig.mox_name(k): v for k, v in JSON_MOX_CONF["limits"].items()}
    assert config.ips == ["127.0.0.1"] and config.no_require_starttls
    alice = config.accounts["alice"]
    assert sorted(alice.addresses) == ["alice@example.org", "alice@localhost"]
    assert (alice.quota_message_size, alice.max_outgoing_messages_per_day, alice.max_first_time_recipients_per_day) == (
        900000, 10, 5)
    assert config.domains["example.org"].catchall_separator == "-"
    assert config.domains["localhost"].dkim.selectors["localserve"].canonicalization.header_relaxed
    assert config.tls_cert_file == str(d / "localhost.crt")
    assert config.admin_password_file == str(d / "adminpasswd")
    # The converted dir serves: passwords work, DKIM signs with the kept key.
    with LocalServer(d) as srv:
        c = imaplib.IMAP4("127.0.0.1", srv.ports["imap"])
        assert c.login("alice@example.org", "alice's password")[0] == "OK"
        c.logout()
        ctx = ssl.create_default_context(cafile=str(d / "localhost.crt"))
        c2 = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=ctx)
        assert c2.login("mox@localhost", "moxmoxmox")[0] == "OK"
        c2.logout()
        records = "\n".join(dnsrecords.domain_records(srv.ctx.config, "localhost"))
        pub = load_key_file(d / localserve.DKIM_KEY_FILE).public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        assert f"p={base64.b64encode(pub).decode()}" in records
        with smtplib.SMTP("127.0.0.1", srv.ports["submission"]) as s:
            s.login("alice@localhost", "alice's password")
            s.sendmail("alice@localhost", ["mox@localhost"], b"From: alice@localhost\r\nTo: mox@localhost\r\nSubject: hi\r\n\r\nconverted\r\n")


def test_older_json_config_converted(tmp_path: Path) -> None:
    """The JSON format before DKIM signing and per-account daily limits: a global
    max_outgoing_messages_per_day (0: no limit), no dkim, accounts with only addresses."""
    d = tmp_path / "older"
    mox_conf = {k: v for k, v in JSON_MOX_CONF.items() if k not in ("web_request_deadline",)}
    mox_conf["limits"] = {k: v for k, v in JSON_MOX_CONF["limits"].items() if not k.startswith(("slow", "auth_attempt", "concurrent_p"))}
    mox_conf["max_outgoing_messages_per_day"] = 0
    domains_conf = {
        "domains": {"localhost": {"catchall_separator": "+"}},
        "accounts": {"mox": {"addresses": ["mox@localhost"], "quota": 0}},
    }
    _json_dir(d, mox_conf, domains_conf)
    (d / localserve.DKIM_KEY_FILE).unlink()
    config, _ = localserve.prepare(d, port_base=0)
    assert config.accounts["mox"].max_outgoing_messages_per_day == -1  # the old 0: no limit
    assert config.web_request_deadline == 300.0  # default
    assert config.limits.slow_after_auth_failures == 3
    assert config.domains["localhost"].dkim.sign == ["localserve"]  # and a DKIM key, as for any older dir
    assert (d / localserve.DKIM_KEY_FILE).exists()
    with LocalServer(d) as srv:
        c = imaplib.IMAP4("127.0.0.1", srv.ports["imap"])
        assert c.login("mox@localhost", "moxmoxmox")[0] == "OK"
        c.logout()


def test_json_unknown_field_not_converted(tmp_path: Path) -> None:
    d = tmp_path / "bad"
    _json_dir(d, {**JSON_MOX_CONF, "colour": "blue"}, JSON_DOMAINS_CONF)
    before = (d / "mox.conf").read_bytes()
    r = run_mox("localserve", "-dir", str(d), "-port-base", "0")
    assert r.returncode == 1
    assert r.stderr.endswith(f"{d / 'mox.conf'}: converting from JSON: top level: unknown field 'colour'\n")
    assert (d / "mox.conf").read_bytes() == before and not (d / "mox.conf.json").exists()


def test_interrupted_conversion_completes(tmp_path: Path) -> None:
    """A conversion stopped after domains.conf was rewritten: the kept JSON is used again."""
    d = tmp_path / "half"
    _json_dir(d, JSON_MOX_CONF, JSON_DOMAINS_CONF)
    (d / "domains.conf.json").write_bytes((d / "domains.conf").read_bytes())
    (d / "domains.conf").write_text("Domains:\n\tlocalhost: nil\n", encoding="utf-8")  # half-written state
    config, _ = localserve.prepare(d, port_base=0)
    assert sorted(config.accounts) == ["alice", "mox"]


def test_config_of_a_throwaway_dir_is_written_without_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """-ephemeral (and a LocalServer in a temp dir of its own) removes the dir at exit: its new
    config is written whole (temp file and rename) but not fsynced; a kept dir's config is."""
    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    localserve.write_localserve_config(tmp_path / "kept")
    files = sorted(p.name for p in (tmp_path / "kept").iterdir())
    assert len(calls) >= len(files) >= 7, files  # each file, and its directory
    calls.clear()
    localserve.write_localserve_config(tmp_path / "throwaway", durable=False)
    assert sorted(p.name for p in (tmp_path / "throwaway").iterdir()) == files
    assert calls == []
    mconfig.load_config(tmp_path / "throwaway")  # complete and valid
