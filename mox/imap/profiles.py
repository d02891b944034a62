"""IMAP capability profiles (``mox localserve -imap-profile NAME``), for testing mail clients
against server variety. Sans-IO: no trio, no store.

- ``mox``: everything mox offers (IMAP4rev2 and the extensions in ``BASE_CAPABILITIES``).
- ``dovecot``: what a Dovecot 2.3 server typically advertises of what we implement: IMAP4rev1
  only (no IMAP4rev2, no UTF8=ACCEPT), no SCRAM/CRAM-MD5, no STATUS=SIZE/APPENDLIMIT.
- ``minimal-rev1``: bare RFC 3501: ``IMAP4rev1`` and ``AUTH=PLAIN`` (plus STARTTLS/LOGINDISABLED
  as the connection needs) and nothing else.

A command of an extension the profile leaves out answers ``BAD`` (as a server without it would
answer an unknown command or argument), and ENABLE only enables what the profile advertises.
"""

from __future__ import annotations

from typing import Any

PROFILES = ("mox", "dovecot", "minimal-rev1")

#: Capabilities each profile keeps (None: all). STARTTLS, LOGINDISABLED and AUTH=PLAIN follow the
#: connection and are always kept when present.
_KEEP: dict[str, set[str] | None] = {
    "mox": None,
    "dovecot": {
        "IMAP4REV1", "SASL-IR", "ID", "ENABLE", "IDLE", "LITERAL+", "UNSELECT", "UIDPLUS", "ESEARCH",
        "SEARCHRES", "MOVE", "CONDSTORE", "QRESYNC", "SPECIAL-USE", "LIST-EXTENDED", "LIST-STATUS",
        "BINARY", "NAMESPACE", "QUOTA", "QUOTA=RES-STORAGE",
    },
    "minimal-rev1": {"IMAP4REV1"},
}
_ALWAYS = {"STARTTLS", "LOGINDISABLED", "AUTH=PLAIN"}

#: Command -> the capability it needs.
_COMMAND_CAP = {
    "ENABLE": "ENABLE",
    "ID": "ID",
    "IDLE": "IDLE",
    "UNSELECT": "UNSELECT",
    "MOVE": "MOVE",
    "NAMESPACE": "NAMESPACE",
    "GETQUOTA": "QUOTA",
    "GETQUOTAROOT": "QUOTA",
}


class ProfileError(ValueError):
    pass


def check_profile(name: str) -> str:
    if name not in PROFILES:
        raise ProfileError(f"unknown imap profile {name!r}, choose from {', '.join(PROFILES)}")
    return name


def capabilities(profile: str, caps: str) -> str:
    """``caps`` (the full capability string of a session) filtered for ``profile``."""
    keep = _KEEP.get(profile)
    if keep is None:
        return caps
    return " ".join(c for c in caps.split() if c.upper() in keep or c.upper() in _ALWAYS)


def has(profile: str, cap: str) -> bool:
    keep = _KEEP.get(profile)
    return keep is None or cap.upper() in keep or cap.upper() in _ALWAYS


def check_command(profile: str, name: str, uid: bool, args: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    """(BAD text when the profile does not offer this command or argument, replacement args or
    None)."""
    if _KEEP.get(profile) is None:
        return None, None
    need = _COMMAND_CAP.get(name)
    if need is not None and not has(profile, need):
        return f"unknown command {name} (extension {need} not offered)", None
    if uid and name in ("EXPUNGE",) and not has(profile, "UIDPLUS"):
        return "UID EXPUNGE needs UIDPLUS (not offered)", None
    if name == "AUTHENTICATE":
        mech = str(args.get("mechanism", "")).upper()
        if not has(profile, "AUTH=" + mech):
            return f"mechanism {mech} not offered", None
        if args.get("initial") is not None and not has(profile, "SASL-IR"):
            return "initial response needs SASL-IR (not offered)", None
    if name in ("SELECT", "EXAMINE"):
        if args.get("condstore") and not has(profile, "CONDSTORE"):
            return "CONDSTORE parameter not offered", None
        if args.get("qresync") and not has(profile, "QRESYNC"):
            return "QRESYNC parameter not offered", None
    if name == "FETCH" and (args.get("changedsince") is not None or args.get("vanished")) and not has(profile, "CONDSTORE"):
        return "CHANGEDSINCE needs CONDSTORE (not offered)", None
    if name == "STORE" and args.get("unchangedsince") is not None and not has(profile, "CONDSTORE"):
        return "UNCHANGEDSINCE needs CONDSTORE (not offered)", None
    if name == "SEARCH" and args.get("return_opts") is not None and not has(profile, "ESEARCH"):
        return "SEARCH RETURN needs ESEARCH (not offered)", None
    if name == "STATUS":
        items = [str(i).upper() for i in args.get("items") or ()]
        if "SIZE" in items and not has(profile, "STATUS=SIZE"):
            return "STATUS SIZE not offered", None
        if "HIGHESTMODSEQ" in items and not has(profile, "CONDSTORE"):
            return "STATUS HIGHESTMODSEQ needs CONDSTORE (not offered)", None
        if "DELETED" in items and not has(profile, "IMAP4REV2"):
            return "STATUS DELETED needs IMAP4rev2 (not offered)", None
    if name == "ENABLE":
        caps = [c for c in args.get("capabilities") or () if has(profile, str(c))]
        return None, dict(args, capabilities=caps)
    return None, None
