"""`mox config describe-static|describe-domains|describe-extra|test|example`: the config files
without a running mox (mox main.go cmdConfigDescribe*, cmdConfigTest, cmdConfigExample)."""

from __future__ import annotations

import click

from mox.cli.common import load_config


@click.command("describe-static")
def describe_static() -> None:
    """Print an annotated empty configuration for use as mox.conf.

    mox.conf is read at start only: after changes, restart mox. The printed file needs changes
    to be valid, e.g. it contains unfinished list items.
    """
    from mox import config as mconfig
    from mox.config import sconf

    click.echo(sconf.describe(mconfig.StaticConfig), nl=False)


@click.command("describe-domains")
def describe_domains() -> None:
    """Print an annotated empty configuration for use as domains.conf.

    domains.conf holds the domains and accounts with their addresses and aliases. The admin web
    interface and the `mox config` commands change it while mox runs. Like describe-static's,
    the printed file needs changes to be valid.
    """
    from mox import config as mconfig
    from mox.config import sconf

    click.echo(sconf.describe(mconfig.DomainsConfig), nl=False)


@click.command("describe-extra")
def describe_extra() -> None:
    """Print an annotated configuration for use as extra.conf: the settings of this
    implementation that Go mox does not have (limits, timeouts), with their defaults.

    extra.conf is optional; without it the defaults apply. It is read at start only.
    """
    from mox import config as mconfig
    from mox.config import sconf

    click.echo(sconf.describe(mconfig.ExtraConfig), nl=False)


@click.command("test")
def test() -> None:
    """Parse and validate the configuration files (of -config, default the localserve dir).

    Exits with status 0 and prints "config OK" when valid; otherwise prints every error found,
    one per line with file and line, and exits with status 1.
    """
    load_config()
    click.echo("config OK")


def _examples() -> dict[str, str]:
    from mox import config as mconfig
    from mox.config import sconf

    def indent(text: str, n: int) -> str:
        return "".join("\t" * n + line if line.strip() else line for line in text.splitlines(keepends=True))

    alias = mconfig.DomainConfig(
        localpart_catchall_separator="+",
        aliases={"team": mconfig.Alias(addresses=["alice@example.com", "bob@example.com"], list_members=True)},
    )
    account = mconfig.AccountConfig(
        destinations={"alice@example.com": mconfig.Destination()},
        outgoing_webhook=mconfig.OutgoingWebhook(url="http://localhost:8080/outgoing", authorization="Basic dXNlcjpwYXNz",
                                                 events=["delivered", "failed"]),
        incoming_webhook=mconfig.IncomingWebhook(url="http://localhost:8080/incoming"),
        keep_retired_message_period=7 * 24 * 3600.0,
        keep_retired_webhook_period=7 * 24 * 3600.0,
    )
    disabled = mconfig.AccountConfig(destinations={"bob@example.com": mconfig.Destination()},
                                     login_disabled="account moved, see the intranet")
    limits = mconfig.ExtraConfig(limits=mconfig.LOCALSERVE_LIMITS, smtp_rcpt_max=50, queue_retry_delays=(1.0, 5.0, 30.0))
    return {
        "alias": "# Snippet for domains.conf, an alias (list) team@example.com delivering to two accounts'\n"
                 "# addresses; members may list the members (see also: mox config alias):\n\n"
                 "Domains:\n\texample.com:\n" + indent(sconf.write(alias, docs=True), 2),
        "webhooks": "# Snippet for domains.conf, an account with outgoing and incoming webhooks, keeping\n"
                    "# retired messages and webhooks for a week:\n\n"
                    "Accounts:\n\talice:\n" + indent(sconf.write(account, docs=True), 2),
        "logindisabled": "# Snippet for domains.conf, an account that cannot log in (see also: mox config\n"
                         "# account disable):\n\n"
                         "Accounts:\n\tbob:\n" + indent(sconf.write(disabled, docs=True), 2),
        "extra": "# An extra.conf, with localserve's high connection limits, at most 50 recipients per\n"
                 "# SMTP transaction and slower queue retries:\n\n" + sconf.write(limits, docs=True),
    }


@click.command("example")
@click.argument("name", required=False)
def example(name: str | None) -> None:
    """List available config examples, or print example NAME."""
    from mox.cli.common import UserError

    examples = _examples()
    if name is None:
        for n in examples:
            click.echo(n)
        return
    if name not in examples:
        raise UserError("not found")
    click.echo(examples[name], nl=False)
