"""GETMETADATA and SETMETADATA (authenticated state): RFC 5464 METADATA, entries of a mailbox or
(mailbox "") of the server, i.e. the account; LIST RETURN (METADATA ...) is RFC 9590's
(cmd_mailbox). /private and /shared entries are both kept, for the account alone (there is no
sharing, as in mox). The account's entries together are limited in number and size (the
store's METADATA_MAX_ENTRIES / METADATA_MAX_SIZE): ``NO [METADATA TOOMANY]`` / ``NO [METADATA
MAXSIZE n]``."""

from __future__ import annotations

from typing import Any

from .errors import CommandFailed
from .responses import CodeMetadata, UntaggedMetadata
from .session import Done, Session
from .types import Command


def _mailbox_id(s: Session, name: str) -> tuple[int, str | None]:
    """(id, store name) of the mailbox a command names; (0, None) for "" (the server)."""
    if name == "":
        return 0, None
    mb = s.xmailbox(s.mailbox_in(name))
    return mb.id, mb.name


def _matches(key: str, wanted: list[str], depth: str) -> bool:
    # RFC 5464 4.2.2: DEPTH 0 is the entry itself, 1 also its children, infinity every
    # descendant.
    for w in wanted:
        if key == w:
            return True
        if depth == "0":
            continue
        prefix = w if w.endswith("/") else w + "/"
        if key.startswith(prefix) and (depth == "INFINITY" or "/" not in key[len(prefix):]):
            return True
    return False


async def cmd_getmetadata(s: Session, cmd: Command) -> str | Done:
    args = cmd.args
    mbid, _ = _mailbox_id(s, args["mailbox"])
    maxsize = args["maxsize"]
    found: list[tuple[str, bytes | None]] = []
    longest = -1
    for a in s.acc.annotations(mbid):
        if not _matches(a.key, args["entries"], args["depth"]):
            continue
        if maxsize is not None and len(a.value) > maxsize:
            # RFC 5464 4.2.1: left out; the tagged OK says the size of the largest one.
            longest = max(longest, len(a.value))
            continue
        found.append((a.key, a.value))
    if found:
        # RFC 5464 4.2: one response with every entry found, none when nothing matched.
        s.send(UntaggedMetadata(args["mailbox"] and _store_name(s, mbid), tuple(found)))
    if longest >= 0:
        return Done(CodeMetadata("LONGENTRIES", longest), "GETMETADATA done")
    return "GETMETADATA done"


def _store_name(s: Session, mbid: int) -> str:
    mb = s.acc.mailbox_by_id(mbid)
    return mb.name if mb is not None else ""


async def cmd_setmetadata(s: Session, cmd: Command) -> str:
    args = cmd.args
    _, name = _mailbox_id(s, args["mailbox"])
    values: list[tuple[str, bytes | None, bool]] = args["values"]
    for key, _, _ in values:
        # RFC 5464 3.2: entries live under /private or /shared; vendor entries name the
        # vendor and at least one more level (/private/vendor/<vendor>/<name>).
        top = key.split("/")
        if len(top) < 3 or top[1] not in ("private", "shared"):
            raise CommandFailed("only /private/... and /shared/... entries can be set")
        if top[2] == "vendor" and len(top) < 5:
            raise CommandFailed("vendor entries need at least 4 levels: /private/vendor/<vendor>/<name>")
    await s.acc.set_annotations(name, values, origin=s.sub)
    return "SETMETADATA done"


def list_metadata(s: Session, mb: Any, entries: tuple[str, ...]) -> UntaggedMetadata:
    """RFC 9590 3: the requested entries of a listed mailbox, NIL for those it does not have
    (as mox)."""
    have = {a.key: a.value for a in s.acc.annotations(mb.id)}
    return UntaggedMetadata(mb.name, tuple((k, have.get(k)) for k in entries))
