"""What every config file shares: the file names, the services and their standard ports, the web
paths, mox's field names (``mox_name``), ``ConfigError`` and ``Base``, the struct every file's
structs derive from (unknown fields are errors)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from mox.config.sconf import field


MOX_CONF = "mox.conf"
DOMAINS_CONF = "domains.conf"
EXTRA_CONF = "extra.conf"

#: Services and their standard ports; localserve uses these + 1000.
STANDARD_PORTS = {
    "smtp": 25,
    "submission": 587,
    "submissions": 465,
    "imap": 143,
    "imaps": 993,
    "http": 80,
    "https": 443,
    "metrics": 81,  # mox's localserve: MetricsHTTP on 1081
}
SERVICES = tuple(STANDARD_PORTS)

#: Paths of the web interfaces (mox's defaults; these are the paths this implementation serves).
WEB_PATHS = {"account": "/account/", "admin": "/admin/", "webmail": "/webmail/", "webapi": "/webapi/"}

#: The first comment of mox.conf and domains.conf, as mox writes it.
SCONF_NOTE = (
    "NOTE: This config file is in 'sconf' format. Indent with tabs. Comments must be on their own "
    "line, they don't end a line. Do not escape or quote strings. Details: "
    "https://pkg.go.dev/github.com/mjl-/sconf.\n\n\n"
)


class ConfigError(Exception):
    """A config file is missing, unreadable or invalid; the message says which and why.
    ``errors``: each problem found, one line each (mox's config test lists them all); the
    message is them one per line."""

    def __init__(self, *errors: str) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(errors))


# Field names in the files are mox's: the Python name's words capitalized, with mox's acronyms.
_ACRONYMS = {
    "ip": "IP", "ips": "IPs", "nat": "NAT", "nated": "NATed", "smtp": "SMTP", "imap": "IMAP", "imaps": "IMAPS",
    "http": "HTTP", "https": "HTTPS", "tls": "TLS", "starttls": "STARTTLS", "dkim": "DKIM", "ca": "CA", "url": "URL",
    "api": "API", "webapi": "WebAPI", "id": "ID", "acme": "ACME", "dnsbls": "DNSBLs", "mtasts": "MTASTS",
    "ci": "CI", "imapprofile": "IMAPProfile",
}


def mox_name(name: str) -> str:
    """``smtp_max_message_size`` -> ``SMTPMaxMessageSize`` (the field's name in the files)."""
    return "".join(_ACRONYMS.get(w, w[:1].upper() + w[1:]) for w in name.split("_"))


# Every subclass repeats frozen=True: msgspec inherits it, type checkers do not.
class Base(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True, rename=mox_name):
    pass


Seconds = Annotated[float, field("", duration=True)]
