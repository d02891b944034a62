"""Unique MAIL FROM addresses per recipient ("fromid", mox's FromIDLoginAddresses): a message
submitted with a login address the account lists in FromIDLoginAddresses goes out with
``localpart<sep>ID@domain`` as MAIL FROM, ``sep`` the domain's first catchall separator and ID
unique per recipient (16 random bytes, base64url, as mox), so a DSN names the message and
recipient it is about; the queue keeps the ID (``Entry.from_id``, in the webhooks). SMTP
submission keeps an ID the client put after the separator (for one recipient only); webmail and
the webapi always make one (mox smtpserver, webmail/api.go, webapisrv)."""

from __future__ import annotations

import base64
import secrets

from mox.config import Config


class FromIDError(ValueError):
    """A client-chosen fromid with more than one recipient."""


def new_id() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()


def mail_froms(
    config: Config, account: str, login: str, localpart: str, domain: str, recipients: int, *, keep_given: bool = False
) -> list[tuple[str, str]] | None:
    """(MAIL FROM, fromid) per recipient when ``login`` is one of the account's
    FromIDLoginAddresses, else None. ``keep_given``: an ID already after the separator in
    ``localpart`` is used (FromIDError for more than one recipient)."""
    conf = config.accounts.get(account)
    if conf is None or login.lower() not in (a.lower() for a in conf.from_id_login_addresses):
        return None
    dom = config.domains.get(domain.lower())
    seps = dom.catchall_separators if dom is not None else []
    if not seps:
        return None
    base, sep, given = localpart.partition(seps[0])
    if not keep_given:
        given = ""
    if given and recipients > 1:
        raise FromIDError("cannot send to multiple recipients with chosen fromid")
    out = []
    for _ in range(recipients):
        fid = given or new_id()
        out.append((f"{base}{seps[0]}{fid}@{domain}", fid))
    return out
