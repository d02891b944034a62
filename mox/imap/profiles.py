"""IMAP capability profiles (``mox localserve -imap-profile NAME``), for testing mail clients
against server variety. Sans-IO: no trio, no store.

- ``mox`` (the default): what mox itself (v0.0.17) advertises, of what we implement: everything
  in ``BASE_CAPABILITIES`` but the extensions mox does not have (``NOT_IN_MOX``).
- ``full``: everything we implement (``BASE_CAPABILITIES``, as ``mox serve`` advertises it): mox's
  extensions plus the ones mox does not have but Dovecot offers and clients use: SORT,
  SORT=DISPLAY, THREAD (ORDEREDSUBJECT, REFERENCES, REFS), ESORT, CONTEXT=SEARCH, CONTEXT=SORT,
  PARTIAL, CATENATE and URL-PARTIAL. A client under test sees the most a server can offer it.
- ``dovecot``: what a Dovecot 2.3 server typically advertises of what we implement: IMAP4rev1
  only (no IMAP4rev2, no UTF8=ACCEPT), no SCRAM/CRAM-MD5, no APPENDLIMIT; SORT and THREAD, ESORT
  and CONTEXT=SEARCH but not CONTEXT=SORT or PARTIAL. Dovecot 2.3.19 with its default
  configuration advertises (after login) "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT
  SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL
  CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC
  ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY
  PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY", plus SPECIAL-USE and QUOTA where
  configured, as usual.
- ``minimal-rev1``: bare RFC 3501: ``IMAP4rev1`` and ``AUTH=PLAIN`` (plus STARTTLS/LOGINDISABLED
  as the connection needs) and nothing else.

A command of an extension the profile leaves out answers ``BAD`` (as a server without it would
answer an unknown command or argument), and ENABLE only enables what the profile advertises.
"""

from __future__ import annotations

import functools
from typing import Any

PROFILES = ("mox", "full", "dovecot", "minimal-rev1")
DEFAULT_PROFILE = "mox"

#: Extensions we implement that mox (v0.0.17) does not advertise (mox imapserver/server.go).
NOT_IN_MOX = frozenset((
    "SORT", "SORT=DISPLAY", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES", "THREAD=REFS", "ESORT",
    "CONTEXT=SEARCH", "CONTEXT=SORT", "PARTIAL", "CATENATE", "URL-PARTIAL", "COMPRESS=DEFLATE",
))

#: Capabilities each profile keeps (None: all), or for ``mox`` all but NOT_IN_MOX. STARTTLS,
#: LOGINDISABLED and AUTH=PLAIN follow the connection and are always kept when present.
_KEEP: dict[str, set[str] | None] = {
    "full": None,
    "dovecot": {
        "IMAP4REV1", "SASL-IR", "ID", "ENABLE", "IDLE", "LITERAL+", "UNSELECT", "UIDPLUS", "ESEARCH",
        "SEARCHRES", "MOVE", "CONDSTORE", "QRESYNC", "SPECIAL-USE", "LIST-EXTENDED", "LIST-STATUS",
        "BINARY", "NAMESPACE", "QUOTA", "QUOTA=RES-STORAGE",
        "SORT", "SORT=DISPLAY", "THREAD=REFERENCES", "THREAD=REFS", "THREAD=ORDEREDSUBJECT", "ESORT",
        "CONTEXT=SEARCH", "WITHIN", "MULTIAPPEND", "SAVEDATE", "CATENATE", "URL-PARTIAL", "STATUS=SIZE",
        "PREVIEW", "NOTIFY",
    },
    "minimal-rev1": {"IMAP4REV1"},
}
_DROP: dict[str, frozenset[str]] = {"mox": NOT_IN_MOX}
_ALWAYS = {"STARTTLS", "LOGINDISABLED", "AUTH=PLAIN"}

#: Command -> the capability it needs.
_COMMAND_CAP = {
    "SORT": "SORT",
    "CANCELUPDATE": "CONTEXT=SEARCH",  # or CONTEXT=SORT, see check_command
    "ENABLE": "ENABLE",
    "ID": "ID",
    "IDLE": "IDLE",
    "UNSELECT": "UNSELECT",
    "MOVE": "MOVE",
    "REPLACE": "REPLACE",
    "GETMETADATA": "METADATA",
    "ESEARCH": "MULTISEARCH",
    "COMPRESS": "COMPRESS=DEFLATE",
    "NOTIFY": "NOTIFY",
    "SETMETADATA": "METADATA",
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


@functools.lru_cache(maxsize=64)
def capabilities(profile: str, caps: str) -> str:
    """``caps`` (the full capability string of a session) filtered for ``profile``. Asked at
    every greeting and login; the few combinations a server has are remembered."""
    return " ".join(c for c in caps.split() if has(profile, c))


def has(profile: str, cap: str) -> bool:
    c = cap.upper()
    if c in _DROP.get(profile, ()):
        return False
    keep = _KEEP.get(profile)
    return keep is None or c in keep or c in _ALWAYS


def check_command(profile: str, name: str, uid: bool, args: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    """(BAD text when the profile does not offer this command or argument, replacement args or
    None)."""
    if _KEEP.get(profile) is None and profile not in _DROP:
        return None, None
    if name == "CANCELUPDATE" and (has(profile, "CONTEXT=SEARCH") or has(profile, "CONTEXT=SORT")):
        return None, None
    need = _COMMAND_CAP.get(name)
    if need is not None and not has(profile, need):
        return f"unknown command {name} (extension {need} not offered)", None
    bad = _check_sort_thread(profile, name, uid, args)
    if bad is not None:
        return bad, None
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
    if name == "SEARCH" and not has(profile, "WITHIN") and {"OLDER", "YOUNGER"} & _search_ops(args.get("key")):
        return "OLDER/YOUNGER need WITHIN (not offered)", None
    saved_keys = {"SAVEDBEFORE", "SAVEDON", "SAVEDSINCE", "SAVEDATESUPPORTED"}
    if name == "SEARCH" and not has(profile, "SAVEDATE") and saved_keys & _search_ops(args.get("key")):
        return "SAVED* search keys need SAVEDATE (not offered)", None
    if name == "FETCH" and not has(profile, "PREVIEW") and any(a.name == "PREVIEW" for a in args.get("atts") or ()):
        return "FETCH PREVIEW needs PREVIEW (not offered)", None
    if name == "FETCH" and not has(profile, "SAVEDATE") and any(a.name == "SAVEDATE" for a in args.get("atts") or ()):
        return "FETCH SAVEDATE needs SAVEDATE (not offered)", None
    if name == "LIST" and getattr(args.get("list"), "metadata", False) and not has(profile, "LIST-METADATA"):
        return "LIST RETURN (METADATA) needs LIST-METADATA (not offered)", None
    if name in ("APPEND", "REPLACE") and any(m.catenate is not None for m in args.get("messages") or ()):
        if not has(profile, "CATENATE"):
            return "CATENATE not offered", None
    if name == "APPEND" and len(args.get("messages") or ()) > 1 and not has(profile, "MULTIAPPEND"):
        return "APPEND of several messages needs MULTIAPPEND (not offered)", None
    if name == "ENABLE":
        caps = [c for c in args.get("capabilities") or () if has(profile, str(c))]
        return None, dict(args, capabilities=caps)
    return None, None


def _check_sort_thread(profile: str, name: str, uid: bool, args: dict[str, Any]) -> str | None:
    """The arguments of SORT/THREAD/SEARCH/UID FETCH that need RFC 5256/5957/5267/9394."""
    if name == "THREAD":
        alg = str(args.get("algorithm", "")).upper()
        if not has(profile, "THREAD=" + alg):
            return f"unknown command THREAD {alg} (extension THREAD={alg} not offered)"
    if name == "SORT":
        if any(c.key in ("DISPLAYFROM", "DISPLAYTO") for c in args.get("criteria") or ()):
            if not has(profile, "SORT=DISPLAY"):
                return "DISPLAYFROM/DISPLAYTO need SORT=DISPLAY (not offered)"
    if name in ("SEARCH", "SORT"):
        ret = args.get("return_opts")
        context = "CONTEXT=SEARCH" if name == "SEARCH" else "CONTEXT=SORT"
        if name == "SORT" and ret is not None and not has(profile, "ESORT"):
            return "SORT RETURN needs ESORT (not offered)"
        if ret is not None and ({"CONTEXT", "UPDATE"} & set(ret)) and not has(profile, context):
            return f"CONTEXT/UPDATE need {context} (not offered)"
        partial = args.get("partial")
        if partial is not None:
            # RFC 5267 4.4 brought PARTIAL with CONTEXT=*; RFC 9394 added ranges from the end.
            if not has(profile, "PARTIAL") and (partial.from_end or not has(profile, context)):
                return "PARTIAL range not offered"
    if name == "FETCH" and args.get("partial") is not None and not has(profile, "PARTIAL"):
        return "PARTIAL fetch modifier needs PARTIAL (not offered)"
    return None


def _search_ops(key: Any) -> set[str]:
    """The operators in a search key tree (types.SearchKey)."""
    ops: set[str] = set()
    todo = [key] if key is not None else []
    while todo:
        k = todo.pop()
        ops.add(k.op)
        todo.extend(k.children)
    return ops
