"""`mox config describe-static|describe-domains|test|example`, the global `-config FILE` and
`$MOXCONF`, and `mox config domain|alias|account` against a running localserve (mox main.go)."""

from __future__ import annotations

import email.message
import imaplib
import os
import re
import smtplib
import time
from pathlib import Path

import msgspec
import pytest

from mox import config as mconfig
from mox.config import sconf
from mox.dkim.keys import key_algorithm, load_key_file
from mox.testing import LocalServer

from ..conftest import mox_env, run_mox
from tests.web.conftest import Client


@pytest.fixture(scope="module")
def server():
    with LocalServer() as srv:
        yield srv


def mox(srv, *args, input=None):
    """`mox <args>` talking to srv through the global -config flag (mox's way)."""
    return run_mox("-config", str(srv.dir / "mox.conf"), *args, input=input)


def ok(r, stdout=None):
    assert (r.returncode, r.stderr) == (0, ""), r
    if stdout is not None:
        assert r.stdout == stdout
    return r.stdout


def domains_conf(srv) -> dict:
    return msgspec.to_builtins(mconfig.read_domains(srv.dir))


def inbox(srv, account: str) -> list[bytes]:
    """The messages in the account's Inbox, read in the server's thread."""

    def read() -> list[bytes]:
        acc = srv.store.open_account(account)
        try:
            mb = acc.mailbox("Inbox")
            return [acc.read_message(m) for m in acc.messages(mb.id)]
        finally:
            acc.close()

    return srv.run_sync_in_server(read)


def deliver(srv, mail_from: str, rcpts: list[str], subject: str) -> dict:
    """Send to localserve's SMTP port (1025); the refused recipients as smtplib reports them, or
    {"DATA": (code, text without the connection id)}."""
    msg = email.message.EmailMessage()
    msg["From"] = mail_from
    msg["To"] = ", ".join(rcpts)
    msg["Subject"] = subject
    msg.set_content("hi\n")
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"]) as c:
        try:
            return c.send_message(msg, from_addr=mail_from, to_addrs=rcpts)
        except smtplib.SMTPRecipientsRefused as e:
            return e.recipients
        except smtplib.SMTPDataError as e:
            return {"DATA": (e.smtp_code, re.sub(rb" \(\w+\)$", b"", e.smtp_error))}


def subjects(srv, account: str) -> list[str]:
    out = []
    for raw in inbox(srv, account):
        for line in raw.split(b"\r\n"):
            if line.startswith(b"Subject: "):
                out.append(line[len(b"Subject: "):].decode())
    return out


# Offline: the config files.


def test_describe_static_and_domains():
    static = ok(run_mox("config", "describe-static"))
    assert static.startswith("# NOTE: This config file is in 'sconf' format. Indent with tabs.")
    # mox.conf's top-level fields in mox's order and spelling (config.Static).
    top = [line.split(":")[0] for line in static.splitlines() if line[:1].isupper()]
    assert top == ["DataDir", "LogLevel", "PackageLogLevels", "User", "Hostname", "Pedantic", "TLS",
                   "AdminPasswordFile", "Listeners", "Postmaster", "QuotaMessageSize"]
    for text in ("\nListeners:\n\tx:\n", "\t\tIPs:\n\t\t\t- \n", "\t\tSMTP:\n\t\t\tEnabled: false\n",
                 "\t\tWebAPIHTTPS:\n", "\t\t\t\t\tCertFile: \n"):
        assert text in static, text
    domains = ok(run_mox("config", "describe-domains"))
    assert [line.split(":")[0] for line in domains.splitlines() if line[:1].isupper()] == ["Domains", "Accounts"]
    for text in ("\t\tLocalpartCatchallSeparator: \n", "\t\tDKIM:\n", "\t\t\t\t\tPrivateKeyFile: \n",
                 "\t\tAliases:\n\t\t\tx:\n", "\t\t\t\tPostPublic: false\n", "\t\t\t\tAllowMsgFrom: false\n",
                 "\t\tOutgoingWebhook:\n\n", "\t\t\tEvents:\n", "\t\tIncomingWebhook:\n",
                 "\t\tKeepRetiredMessagePeriod: 0s\n", "\t\tKeepRetiredWebhookPeriod: 0s\n",
                 "\t\tLoginDisabled: \n", "\t\tDestinations:\n\t\t\tx:\n", "\t\tQuotaMessageSize: 0\n",
                 "\t\tMaxOutgoingMessagesPerDay: 0\n", "\t\tNoFirstTimeSenderDelay: false\n"):
        assert text in domains, text
    extra = ok(run_mox("config", "describe-extra"))
    assert "\nLimits:\n\n" in extra and "\tConnectionsPerMinute:\n" in extra and "\nQueueRetryDelays:\n" in extra


def test_config_example():
    assert ok(run_mox("config", "example")) == "alias\nwebhooks\nlogindisabled\nextra\n"
    text = ok(run_mox("config", "example", "webhooks"))
    assert text.startswith("# Snippet for domains.conf, an account with outgoing and incoming webhooks")
    # The snippet is valid domains.conf once the account's domain exists.
    body = text[text.index("Accounts:"):]
    conf = sconf.parse("Domains:\n\texample.com: nil\n" + body, mconfig.DomainsConfig)
    acc = conf.accounts["alice"]
    assert acc.outgoing_webhook.url == "http://localhost:8080/outgoing"
    assert acc.outgoing_webhook.events == ["delivered", "failed"]
    assert acc.keep_retired_webhook_period == 7 * 24 * 3600
    text = ok(run_mox("config", "example", "alias"))
    conf = sconf.parse(text[text.index("Domains:"):] + "Accounts:\n\ta:\n\t\tDestinations:\n\t\t\talice@example.com: nil\n"
                       "\tb:\n\t\tDestinations:\n\t\t\tbob@example.com: nil\n", mconfig.DomainsConfig)
    assert conf.domains["example.com"].aliases["team"].addresses == ["alice@example.com", "bob@example.com"]
    text = ok(run_mox("config", "example", "extra"))
    assert sconf.parse(text, mconfig.ExtraConfig).smtp_rcpt_max == 50
    r = run_mox("config", "example", "nope")
    assert (r.returncode, r.stdout, r.stderr) == (1, "", "mox: not found\n")


def test_config_test(tmp_path: Path):
    from mox import localserve

    d = tmp_path / "cfg"
    localserve.write_localserve_config(d)
    r = run_mox("-config", str(d / "mox.conf"), "config", "test")
    assert (r.returncode, r.stdout, r.stderr) == (0, "config OK\n", "")
    env = {**mox_env(), "MOXCONF": str(d / "mox.conf")}
    r = run_mox("config", "test", env=env)
    assert (r.returncode, r.stdout, r.stderr) == (0, "config OK\n", "")

    text = (d / "domains.conf").read_text(encoding="utf-8")
    lines = text.split("\n")
    n = next(i for i, line in enumerate(lines) if line == "\t\tNoFirstTimeSenderDelay: true") + 1
    (d / "domains.conf").write_text(text.replace("\t\tNoFirstTimeSenderDelay: true", "\t\tNoFirstTimeSenderDelai: true"),
                                    encoding="utf-8")
    r = run_mox("config", "test", env=env)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == (f"mox: {d / 'domains.conf'}:{n}: Accounts.mox: unknown key 'NoFirstTimeSenderDelai', "
                        "did you mean 'NoFirstTimeSenderDelay'?\n")

    r = run_mox("-config", str(tmp_path / "nope" / "mox.conf"), "config", "test")
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == f"mox: -config {tmp_path / 'nope' / 'mox.conf'}: no such file\n"


def test_config_file_by_any_name(tmp_path: Path):
    """-config names the static config file by any name; domains.conf (and extra.conf) are
    beside it, as mox's main.go looks them up."""
    from mox import localserve

    d = tmp_path / "cfg"
    localserve.write_localserve_config(d)
    (d / "mox.conf").rename(d / "staging.conf")
    r = run_mox("-config", str(d / "staging.conf"), "config", "test")
    assert (r.returncode, r.stdout, r.stderr) == (0, "config OK\n", "")
    r = run_mox("config", "test", env={**mox_env(), "MOXCONF": str(d / "staging.conf")})
    assert (r.returncode, r.stdout, r.stderr) == (0, "config OK\n", "")
    # The file named is the one read: its errors name it.
    text = (d / "staging.conf").read_text(encoding="utf-8")
    (d / "staging.conf").write_text(text.replace("\tAccount: mox\n", "\tAccount: nobody\n"), encoding="utf-8")
    r = run_mox("-config", str(d / "staging.conf"), "config", "test")
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == f"mox: {d / 'staging.conf'}: Postmaster: account 'nobody' does not exist in domains.conf\n"
    r = run_mox("-config", str(d / "staging.conf"), "config", "dnsrecords", "localhost")
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == f"mox: {d / 'staging.conf'}: Postmaster: account 'nobody' does not exist in domains.conf\n"


def test_config_test_reports_every_error(tmp_path: Path):
    """`mox config test` lists every error it finds, one per line after "multiple errors:" (mox
    main.go): each file is read even when another has an error, and all the problems across a
    file's accounts and aliases are listed."""
    from mox import localserve

    d = tmp_path / "cfg"
    localserve.write_localserve_config(d)
    domains = (d / "domains.conf").read_text(encoding="utf-8")
    broken = domains.replace("\t\t\tmox@localhost: nil\n",
                             "\t\t\tmox@localhost: nil\n\t\t\tann@example.net: nil\n\t\t\tbob@example.org: nil\n")
    assert broken != domains
    (d / "domains.conf").write_text(broken, encoding="utf-8")
    (d / "extra.conf").write_text("SMTPRcptMaxx: 5\n", encoding="utf-8")
    r = run_mox("-config", str(d / "mox.conf"), "config", "test")
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == (
        "mox: multiple errors:\n"
        f"mox: {d / 'domains.conf'}:1: top level: address 'ann@example.net' of account 'mox' is not in a configured domain\n"
        f"mox: {d / 'domains.conf'}:1: top level: address 'bob@example.org' of account 'mox' is not in a configured domain\n"
        f"mox: {d / 'extra.conf'}:1: unknown key 'SMTPRcptMaxx', did you mean 'SMTPRcptMax'?\n"
    )

    # The files read; what does not fit across them is listed in full too.
    (d / "domains.conf").write_text(domains, encoding="utf-8")
    (d / "extra.conf").unlink()
    static = (d / "mox.conf").read_text(encoding="utf-8")
    (d / "mox.conf").write_text(
        static.replace("\tAccount: mox\n", "\tAccount: nobody\n").replace("\t\t\tNoRequireSTARTTLS: true\n", "", 1),
        encoding="utf-8",
    )
    r = run_mox("-config", str(d / "mox.conf"), "config", "test")
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == (
        "mox: multiple errors:\n"
        f"mox: {d / 'mox.conf'}: Listeners.local: NoRequireSTARTTLS must be the same for Submission and IMAP in this implementation\n"
        f"mox: {d / 'mox.conf'}: Postmaster: account 'nobody' does not exist in domains.conf\n"
    )


# Against a running localserve, through -config / $MOXCONF.


def test_config_flag_and_moxconf_reach_the_running_server(server, tmp_path: Path):
    # Without -config, commands go to the default localserve dir, where nothing runs.
    env = {**mox_env(), "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "AppData": str(tmp_path)}
    r = run_mox("config", "account", "list", env=env)
    assert r.returncode == 1 and "mox" not in r.stdout
    ok(mox(server, "config", "account", "list"), "mox\n")
    r = run_mox("config", "account", "list", env={**env, "MOXCONF": str(server.dir / "mox.conf")})
    assert (r.returncode, r.stdout, r.stderr) == (0, "mox\n", "")
    # mox -config DIR/mox.conf queue list (mox's example); -dir keeps working.
    assert mox(server, "queue", "list").returncode == 0
    assert ok(run_mox("queue", "list", "-dir", str(server.dir))) == ok(mox(server, "queue", "list"))
    ok(run_mox("config", "account", "list", "-dir", str(server.dir)), "mox\n")
    # Commands reach the data dir named by mox.conf's DataDir (relative to the file).
    cfg = tmp_path / "etc" / "mox"
    cfg.mkdir(parents=True)
    rel = os.path.relpath(server.dir, cfg)
    text = (server.dir / "mox.conf").read_text(encoding="utf-8")
    (cfg / "mox.conf").write_text(text.replace("\nDataDir: .\n", f"\nDataDir: {rel}\n"), encoding="utf-8")
    r = run_mox("-config", str(cfg / "mox.conf"), "config", "account", "list")
    assert (r.returncode, r.stdout, r.stderr) == (0, "mox\n", "")
    # By any name (mox: the other files are beside it).
    (cfg / "mox.conf").rename(cfg / "mail.conf")
    r = run_mox("-config", str(cfg / "mail.conf"), "config", "account", "list")
    assert (r.returncode, r.stdout, r.stderr) == (0, "mox\n", "")
    # The running server's files pass `config test`.
    ok(mox(server, "config", "test"), "config OK\n")
    # -dir wins over -config.
    r = run_mox("-config", str(server.dir / "mox.conf"), "config", "account", "list", "-dir", str(tmp_path))
    assert r.returncode == 1


def test_account_list_disable_enable(server):
    ok(mox(server, "config", "account", "add", "dis", "dis@localhost"))
    ok(mox(server, "setaccountpassword", "dis", input="dis password 123\n"))
    ok(mox(server, "config", "account", "list"), "dis\nmox\n")

    # A web session from before the account is disabled ends with it (as mox).
    web = Client(server.ports["http"])
    r = web.post("/account/login", json_body={"username": "dis@localhost", "password": "dis password 123"})
    assert r.status == 200
    csrf = r.json()["csrf"]
    assert web.post("/account/api/Account", json_body={}, headers={"x-mox-csrf": csrf}).status == 200

    ok(mox(server, "config", "account", "disable", "dis", "moved to the other server"), "account disabled\n")
    assert web.post("/account/api/Account", json_body={}, headers={"x-mox-csrf": csrf}).json()["code"] == "user:noAuth"
    r = web.post("/webmail/login", json_body={"username": "dis@localhost", "password": "dis password 123"})
    assert (r.status, r.json()) == (403, {"code": "user:loginFailed", "message": "login disabled for account: moved to the other server"})
    r = web.post("/webapi/v0/Send", form={"request": '{"To": [{"Address": "a@example.org"}], "Text": "x"}'},
                 auth=("dis@localhost", "dis password 123"))
    assert (r.status, r.json()) == (401, {"Code": "user", "Message": "login is disabled for this account"})
    web.close()
    ok(mox(server, "config", "account", "list"), "dis\t(disabled)\nmox\n")
    assert "\t\tLoginDisabled: moved to the other server\n" in (server.dir / "domains.conf").read_text(encoding="utf-8")
    # IMAP: NO with the message, no AUTHENTICATIONFAILED (the password was right).
    c = imaplib.IMAP4("127.0.0.1", server.ports["imap"])
    with pytest.raises(imaplib.IMAP4.error, match=r"^b?'?login disabled for account: moved to the other server"):
        c.login("dis@localhost", "dis password 123")
    c.logout()
    # SMTP submission: 525 5.7.13 after the credentials were checked.
    with smtplib.SMTP("127.0.0.1", server.ports["submission"]) as s:
        s.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.login("dis@localhost", "dis password 123")
        assert e.value.smtp_code == 525
        assert re.fullmatch(rb"5\.7\.13 login disabled for account: moved to the other server \(\w+\)", e.value.smtp_error)
    # Incoming mail is still accepted.
    assert deliver(server, "x@example.org", ["dis@localhost"], "still delivered") == {}
    assert subjects(server, "dis") == ["still delivered"]

    ok(mox(server, "config", "account", "enable", "dis"), "account enabled\n")
    ok(mox(server, "config", "account", "list"), "dis\nmox\n")
    c = imaplib.IMAP4("127.0.0.1", server.ports["imap"])
    assert c.login("dis@localhost", "dis password 123")[0] == "OK"
    c.logout()

    for args, err in [
        (("disable", "nobody", "msg"), "saving account: account not found"),
        (("disable", "dis", ""), "message must be non-empty"),
        (("disable", "dis", "line\tbreak"),
         "saving account: LoginDisabled: message cannot contain control characters including newlines, and must be ascii-only"),
        (("disable", "dis", "x" * 257), "saving account: LoginDisabled: message must be at most 256 characters"),
    ]:
        r = mox(server, "config", "account", *args)
        assert (r.returncode, r.stdout, r.stderr) == (1, "", f"mox: {err}\n")
    ok(mox(server, "config", "account", "rm", "dis"))


def test_domain_add_rm(server):
    before = subjects(server, "mox")
    r = mox(server, "config", "domain", "add", "Example.ORG", "bob", "bob")
    ok(r, "domain added, remember to add dns records, see:\n\nmox config dnsrecords example.org\nmox config dnscheck example.org\n")
    conf = domains_conf(server)
    # As mox: catchall separator + and two new RSA DKIM keys, signing with <year>a.
    dom = mconfig.read_domains(server.dir).domains["example.org"]
    year = str(time.gmtime().tm_year)
    assert dom.localpart_catchall_separator == "+" and dom.dkim.sign in ([year + "a"], [str(int(year) - 1) + "a"])
    keys = {name: server.dir / sel.private_key_file for name, sel in dom.dkim.selectors.items()}
    assert sorted(keys) == [dom.dkim.sign[0], dom.dkim.sign[0][:-1] + "b"]
    for name, path in keys.items():
        assert path.parent == server.dir / "dkim" and path.name.startswith(f"{name}._domainkey.example.org.")
        assert path.name.endswith(".rsa2048.privatekey.pkcs8.pem")
        assert key_algorithm(load_key_file(path)) == "rsa"
    records = ok(mox(server, "config", "dnsrecords", "example.org"))
    assert re.search(rf"^{dom.dkim.sign[0]}._domainkey.example.org. +TXT \(\n\s+\"v=DKIM1;h=sha256;p=MIIB", records, re.M)
    assert list(conf["Accounts"]["bob"]["Destinations"]) == ["bob@example.org"]
    assert deliver(server, "x@example.net", ["bob@example.org"], "to bob") == {}
    assert subjects(server, "bob") == ["to bob"]

    # An existing account becomes the postmaster of a new domain.
    ok(mox(server, "config", "domain", "add", "second.example", "bob"))
    assert sorted(domains_conf(server)["Accounts"]["bob"]["Destinations"]) == ["bob@example.org", "postmaster@second.example"]

    for args, err in [
        (("add", "example.org", "bob"), "adding domain: domain already present"),
        (("add", "third.example", "newacc"), "adding domain: account does not yet exist (specify a localpart)"),
        (("add", "third.example", "bob", "b2"),
         "adding domain: account already exists (leave localpart empty when using an existing account)"),
        (("add", "bad domain", "bob"), "adding domain: parsing domain 'bad domain': invalid domain name"),
        (("rm", "nope.example"), "removing domain: no such domain"),
        (("rm", "example.org"), "removing domain: domain is still used by address 'bob@example.org' of account 'bob', remove it first"),
    ]:
        before_conf = (server.dir / "domains.conf").read_bytes()
        r = mox(server, "config", "domain", *args)
        assert (r.returncode, r.stdout, r.stderr) == (1, "", f"mox: {err}\n")
        assert (server.dir / "domains.conf").read_bytes() == before_conf

    ok(mox(server, "config", "address", "rm", "postmaster@second.example"))
    ok(mox(server, "config", "domain", "rm", "second.example"), "domain removed, remember to remove dns records for second.example\n")
    ok(mox(server, "config", "account", "rm", "bob"))
    ok(mox(server, "config", "domain", "rm", "example.org"))
    # The removed domain's keys are moved aside, not deleted (as mox).
    for path in keys.values():
        assert not path.exists() and (path.parent / "old" / path.name).is_file()
    assert list(domains_conf(server)["Domains"]) == ["localhost"]
    # localserve delivers every address without an account to account mox.
    assert deliver(server, "x@example.net", ["bob@example.org"], "after rm") == {}
    assert subjects(server, "mox") == before + ["after rm"]


def test_alias_lifecycle_and_delivery(server):
    ok(mox(server, "config", "account", "add", "alice", "alice@localhost"))
    ok(mox(server, "config", "account", "add", "carol", "carol@localhost"))
    ok(mox(server, "config", "alias", "add", "team@localhost", "alice@localhost", "carol@localhost"), "")
    ok(mox(server, "config", "alias", "list", "localhost"), "team@localhost\n")
    ok(mox(server, "config", "alias", "print", "team@localhost"),
       "# postpublic true\n# listmembers false\n# allowmsgfrom false\n# members:\nalice@localhost\ncarol@localhost\n")
    assert ("\t\tAliases:\n\t\t\tteam:\n" in (server.dir / "domains.conf").read_text(encoding="utf-8"))
    assert domains_conf(server)["Domains"]["localhost"]["Aliases"] == {"team": {
        "Addresses": ["alice@localhost", "carol@localhost"], "PostPublic": True, "ListMembers": False, "AllowMsgFrom": False}}

    # Alias addresses deliver to their members' accounts, as mox's lists; catch-all suffix too.
    mox_before = len(inbox(server, "mox"))
    assert deliver(server, "outsider@example.org", ["team+x@localhost"], "to the team") == {}
    assert subjects(server, "alice") == ["to the team"] and subjects(server, "carol") == ["to the team"]
    # A member sending to the list gets no copy; an explicit recipient that is a member gets one.
    assert deliver(server, "alice@localhost", ["team@localhost", "carol@localhost"], "from alice") == {}
    assert subjects(server, "alice") == ["to the team"]
    assert subjects(server, "carol") == ["to the team", "from alice"]
    assert len(inbox(server, "mox")) == mox_before

    # Only members may post once PostPublic is off.
    ok(mox(server, "config", "alias", "update", "team@localhost", "-postpublic", "false", "-listmembers", "true"), "")
    ok(mox(server, "config", "alias", "print", "team@localhost"),
       "# postpublic false\n# listmembers true\n# allowmsgfrom false\n# members:\nalice@localhost\ncarol@localhost\n")
    assert deliver(server, "outsider@example.org", ["team@localhost"], "refused") == {
        "DATA": (550, b"5.7.2 not allowed to send to destination")}
    assert deliver(server, "carol@localhost", ["team@localhost"], "member post") == {}
    assert subjects(server, "alice")[-1] == "member post"

    ok(mox(server, "config", "alias", "addaddr", "team@localhost", "mox@localhost"), "")
    ok(mox(server, "config", "alias", "rmaddr", "team@localhost", "carol@localhost"), "")
    assert domains_conf(server)["Domains"]["localhost"]["Aliases"]["team"]["Addresses"] == ["alice@localhost", "mox@localhost"]
    assert deliver(server, "alice@localhost", ["team@localhost"], "to alice and mox") == {}
    assert subjects(server, "mox")[-1] == "to alice and mox"
    assert subjects(server, "carol") == ["to the team", "from alice"]  # she sent "member post"
    # Submitted mail reaches the alias through the queue, with the same rules.
    msg = email.message.EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "mox@localhost", "team@localhost", "queued to the team"
    msg.set_content("hi\n")
    with smtplib.SMTP("127.0.0.1", server.ports["submission"]) as s:
        s.login(LocalServer.address, LocalServer.password)
        assert s.send_message(msg) == {}
    deadline = time.monotonic() + 30
    while "queued to the team" not in subjects(server, "alice") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert subjects(server, "alice")[-1] == "queued to the team"
    assert "queued to the team" not in subjects(server, "mox")  # the sender is a member

    for args, err in [
        (("add", "team@localhost", "alice@localhost"), "adding alias: alias already present"),
        (("add", "alice@localhost", "carol@localhost"), "adding alias: alias alice@localhost already present as regular address"),
        (("add", "new@localhost", "nobody@localhost"), "adding alias: domain localhost: alias new: references non-existent address 'nobody@localhost'"),
        (("add", "new@nope.example", "alice@localhost"), "adding alias: no such domain"),
        (("update", "team@localhost", "-postpublic", "yes"), "saving alias: bad value 'yes' for postpublic, need true or false"),
        (("update", "nope@localhost"), "saving alias: alias does not exist"),
        (("print", "alice@localhost"), "looking up alias: address not an alias"),
        (("print", "nope@localhost"), "looking up alias: no such address"),
        (("list", "nope.example"), "listing aliases: no such domain"),
        (("addaddr", "team@localhost", "alice@localhost"), "adding addresses to alias: domain localhost: alias team: duplicate address 'alice@localhost'"),
        (("rmaddr", "team@localhost", "carol@localhost"), "removing addresses from alias: address not found: carol@localhost"),
        (("rmaddr", "team@localhost", "alice@localhost", "mox@localhost"),
         "removing addresses from alias: alias team@localhost needs at least one destination address; remove the alias instead"),
        (("rm", "nope@localhost"), "removing alias: alias does not exist"),
    ]:
        before_conf = (server.dir / "domains.conf").read_bytes()
        r = mox(server, "config", "alias", *args)
        assert (r.returncode, r.stdout, r.stderr) == (1, "", f"mox: {err}\n"), args
        assert (server.dir / "domains.conf").read_bytes() == before_conf

    # A member's account cannot be removed while it is in an alias.
    r = mox(server, "config", "account", "rm", "alice")
    assert r.returncode == 1 and "members of aliases team@localhost" in r.stderr
    ok(mox(server, "config", "alias", "rm", "team@localhost"), "")
    ok(mox(server, "config", "alias", "list", "localhost"), "")
    assert domains_conf(server)["Domains"]["localhost"]["Aliases"] == {}
    assert "Aliases:" not in (server.dir / "domains.conf").read_text(encoding="utf-8")
    ok(mox(server, "config", "account", "rm", "alice"))
    ok(mox(server, "config", "account", "rm", "carol"))


def test_alias_allow_msg_from(server):
    """With AllowMsgFrom, members may submit with the alias address as From (mox)."""
    ok(mox(server, "config", "alias", "add", "news@localhost", "mox@localhost"))
    msg = email.message.EmailMessage()
    msg["From"] = "news@localhost"
    msg["To"] = "someone@example.org"
    msg["Subject"] = "from the alias"
    msg.set_content("hi\n")
    with smtplib.SMTP("127.0.0.1", server.ports["submission"]) as s:
        s.login(LocalServer.address, LocalServer.password)
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            s.send_message(msg, from_addr="news@localhost")
        assert e.value.smtp_code == 550
        assert re.fullmatch(rb"5\.7\.1 must match authenticated user \(\w+\)", e.value.smtp_error)
    ok(mox(server, "config", "alias", "update", "news@localhost", "-allowmsgfrom", "true"))
    with smtplib.SMTP("127.0.0.1", server.ports["submission"]) as s:
        s.login(LocalServer.address, LocalServer.password)
        assert s.send_message(msg, from_addr="news@localhost") == {}
    ok(mox(server, "config", "alias", "rm", "news@localhost"))


def test_help_lists_config_commands():
    out = ok(run_mox("help"))
    listed = out[out.index("\nAll commands:\n"):].splitlines()[1:]
    for line in ("config describe-static", "config describe-domains", "config describe-extra", "config test",
                 "config example [NAME]", "config domain add DOMAIN ACCOUNT [LOCALPART]", "config domain rm DOMAIN",
                 "config domain disable DOMAIN", "config domain enable DOMAIN",
                 "config alias list DOMAIN", "config alias print ALIAS", "config alias add ALIAS@DOMAIN RCPT@DOMAIN...",
                 "config alias update ALIAS@DOMAIN", "config alias rm ALIAS@DOMAIN",
                 "config alias addaddr ALIAS@DOMAIN RCPT@DOMAIN...", "config alias rmaddr ALIAS@DOMAIN RCPT@DOMAIN...",
                 "config account list", "config account disable ACCOUNT MESSAGE", "config account enable ACCOUNT",
                 "queue list", "localserve"):
        words = line.split(" ")
        n = 3 if words[0] == "config" and words[1] in ("domain", "alias", "account") else (2 if words[0] in ("config", "queue") else 1)
        want = " ".join(["  mox", *words[:n], "[OPTIONS]", *words[n:]]).rstrip()
        assert want in listed, want
    assert "-config" in out and "$MOXCONF" in out
    r = run_mox("help", "config", "alias", "update")
    assert "-postpublic false|true" in ok(r) and "-allowmsgfrom false|true" in r.stdout


def test_domain_disabled(server):
    """A disabled domain (mox's Domain.Disabled, `domain add -disabled`, `domain disable|enable`):
    submissions from it are refused with a temporary error; localserve delivers mail to it to its
    catch-all account, as mox's localserve."""
    import base64
    import json
    import urllib.error
    import urllib.request

    ok(mox(server, "config", "domain", "add", "-disabled", "off.example", "dave", "dave"))
    assert mconfig.read_domains(server.dir).domains["off.example"].disabled
    assert "\toff.example:\n\n\t\t# " in (server.dir / "domains.conf").read_text(encoding="utf-8")
    ok(mox(server, "setaccountpassword", "dave", input="dave password 123\n"))

    def submit(mail_from: str, header_from: str) -> tuple[int, bytes]:
        msg = email.message.EmailMessage()
        msg["From"] = header_from
        msg["To"] = "someone@example.net"
        msg["Subject"] = "from dave"
        msg.set_content("hi\n")
        with smtplib.SMTP("127.0.0.1", server.ports["submission"]) as s:
            s.login("dave@off.example", "dave password 123")
            try:
                s.send_message(msg, from_addr=mail_from)
            except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as e:
                return e.smtp_code, re.sub(rb" \(\w+\)$", b"", e.smtp_error)
        return 250, b""

    def webapi_send() -> dict:
        body = "request=" + urllib.parse.quote(json.dumps({"To": [{"Address": "someone@example.net"}], "Text": "hi\n"}))
        req = urllib.request.Request(f"http://127.0.0.1:{server.ports['http']}/webapi/v0/Send", data=body.encode(),
                                     headers={"Authorization": "Basic " + base64.b64encode(b"dave@off.example:dave password 123").decode(),
                                              "Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            return json.loads(e.read())

    assert submit("dave@off.example", "dave@off.example") == (451, b"4.3.0 domain of smtp mail from is temporarily disabled")
    assert webapi_send() == {"Code": "domainDisabled", "Message": "domain of from-address is temporarily disabled"}
    # localserve: mail for the disabled domain goes to the catch-all account, as mox's localserve.
    before = len(inbox(server, "mox"))
    assert deliver(server, "x@example.net", ["dave@off.example"], "while disabled") == {}
    assert subjects(server, "mox")[before:] == ["while disabled"] and subjects(server, "dave") == []

    ok(mox(server, "config", "domain", "enable", "off.example"), "")
    assert not mconfig.read_domains(server.dir).domains["off.example"].disabled
    assert submit("dave@off.example", "dave@off.example") == (250, b"")
    assert "MessageID" in webapi_send()
    assert deliver(server, "x@example.net", ["dave@off.example"], "enabled again") == {}
    assert subjects(server, "dave") == ["enabled again"]

    ok(mox(server, "config", "domain", "disable", "off.example"), "domain disabled\n")
    # A From header in the disabled domain with a MAIL FROM elsewhere: refused at DATA.
    ok(mox(server, "config", "address", "add", "dave@localhost", "dave"))
    assert submit("dave@localhost", "dave@off.example") == (451, b"4.3.0 domain of message from header is temporarily disabled")
    r = mox(server, "config", "domain", "disable", "nope.example")
    assert (r.returncode, r.stdout, r.stderr) == (1, "", "mox: saving domain: no such domain\n")

    ok(mox(server, "config", "account", "rm", "dave"))
    ok(mox(server, "config", "domain", "rm", "off.example"))
