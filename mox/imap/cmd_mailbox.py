"""Mailbox commands (authenticated state): CREATE DELETE RENAME SUBSCRIBE UNSUBSCRIBE LIST LSUB
NAMESPACE STATUS GETQUOTAROOT GETQUOTA.

RFC 9051 6.3; RFC 5258 LIST-EXTENDED; RFC 5819 LIST-STATUS; RFC 6154 SPECIAL-USE; RFC 9208 QUOTA.
The hierarchy separator is "/"; the inbox is stored and listed as ``Inbox``
(RFC 9051 5.1; mox ``store/account.go``).
"""

from __future__ import annotations

from typing import Any

from . import utf7
from .errors import CommandFailed
from .responses import (
    NamespaceDescr,
    QuotaResource,
    UntaggedList,
    UntaggedLsub,
    UntaggedNamespace,
    UntaggedQuota,
    UntaggedQuotaroot,
    UntaggedStatus,
)
from .session import Session, append_limit
from .types import Command

SPECIAL_USE = ("\\Archive", "\\Drafts", "\\Junk", "\\Sent", "\\Trash")


def _client_modseq(m: int) -> int:
    return max(m, 1)


async def cmd_create(s: Session, cmd: Command) -> str:
    # RFC 9051 6.3.4: parents are created too; mox subscribes new mailboxes. A trailing "/"
    # only declares that children will follow: it is ignored, the name is created without it.
    orig = cmd.args["mailbox"]
    name = s.mailbox_in(orig.rstrip("/"))
    s.check_mailbox_name(name)
    if name == "Inbox" or s.acc.mailbox(name) is not None:
        raise CommandFailed("mailbox already exists", "ALREADYEXISTS")
    special = None
    for use in cmd.args["use"]:
        # RFC 6154 3: CREATE with USE.
        canon = {u.lower(): u for u in SPECIAL_USE}.get(use.lower())
        if canon is None or special is not None:
            raise CommandFailed("unsupported special-use attribute", "USEATTR")
        special = canon
    created = await s.acc.create_mailbox(name, special_use=special, origin=s.sub)
    for mb in created:
        flags = ("\\Subscribed",) if mb.subscribed else ()
        oldname = None
        inbox = name == "Inbox" or name.startswith("Inbox/")
        if mb.name == name and orig != name and "IMAP4REV2" in s.enabled and not inbox:
            # The name created differs from the one asked for: tell an IMAP4rev2 client
            # (RFC 9051 6.3.4, OLDNAME as mox sends it). IMAP4rev2 names are UTF-8.
            oldname = orig
        s.send(UntaggedList(flags, "/", mb.name, oldname=oldname))
    return "CREATE done"


async def cmd_delete(s: Session, cmd: Command) -> str:
    # RFC 9051 6.3.5: only leaf mailboxes (mox); Inbox can't be deleted.
    name = s.mailbox_in(cmd.args["mailbox"])
    if name == "Inbox":
        raise CommandFailed("cannot delete inbox", "CANNOT")
    mb = s.xmailbox(name)
    await s.acc.delete_mailbox(name, origin=s.sub)
    if s.selected is not None and s.selected.mailbox_id == mb.id:
        s.selected.deleted = True
    return "DELETE done"


async def cmd_rename(s: Session, cmd: Command) -> str:
    # RFC 9051 6.3.6: children move along; renaming Inbox moves its messages.
    src = s.mailbox_in(cmd.args["src"])
    dst = s.mailbox_in(cmd.args["dst"])
    s.check_mailbox_name(dst)
    s.xmailbox(src)
    if dst == "Inbox" or s.acc.mailbox(dst) is not None:
        raise CommandFailed("destination mailbox already exists", "ALREADYEXISTS")
    await s.acc.rename_mailbox(src, dst, origin=s.sub)
    if s.selected is not None:
        mb = s.acc.mailbox_by_id(s.selected.mailbox_id)
        if mb is not None:
            s.selected.name = mb.name
    return "RENAME done"


async def cmd_subscribe(s: Session, cmd: Command) -> str:
    # RFC 9051 6.3.7: the name need not exist (it is listed \NonExistent by LIST (SUBSCRIBED));
    # RFC 9051 6.3.8: unsubscribing a name that isn't subscribed changes nothing. Names no
    # mailbox could have are refused (NO [CANNOT]).
    name = s.mailbox_in(cmd.args["mailbox"])
    s.check_mailbox_name(name)
    await s.acc.set_subscribed(name, cmd.name == "SUBSCRIBE", origin=s.sub)
    return f"{cmd.name} done"


class _Patterns:
    """RFC 9051 6.3.9: reference and pattern concatenated; "*" matches anything, "%" anything
    but the hierarchy separator; INBOX matches case-insensitively. Matching is a linear-time
    dynamic program (no regular expressions: patterns with many wildcards must not backtrack)."""

    def __init__(self, s: Session, reference: str, patterns: tuple[str, ...]) -> None:
        self.patterns: list[str] = []
        for pat in patterns:
            full = reference + pat
            if not s.utf8:
                try:
                    full = utf7.decode(full)
                except utf7.Utf7Error:
                    pass
            if full[:5].upper() == "INBOX" and (len(full) == 5 or full[5] in "/*%"):
                full = "Inbox" + full[5:]
            self.patterns.append(full)

    def match(self, name: str) -> bool:
        return any(_wildmatch(p, name) for p in self.patterns)


def _wildmatch(pat: str, name: str) -> bool:
    # reach[j]: pattern prefix processed so far matches name[:j].
    reach = [True] + [False] * len(name)
    for c in pat:
        nxt = [False] * (len(name) + 1)
        if c == "*":
            # Any run of characters: reachable at j if reachable at some i <= j.
            for j in range(len(name) + 1):
                nxt[j] = reach[j] or (j > 0 and nxt[j - 1])
        elif c == "%":
            # Any run of characters without "/".
            for j in range(len(name) + 1):
                nxt[j] = reach[j] or (j > 0 and name[j - 1] != "/" and nxt[j - 1])
        else:
            for j in range(1, len(name) + 1):
                nxt[j] = reach[j - 1] and name[j - 1] == c
        reach = nxt
        if not any(reach):
            return False
    return reach[len(name)]


async def cmd_list(s: Session, cmd: Command) -> str:
    r"""RFC 9051 6.3.9 with LIST-EXTENDED (RFC 5258), SPECIAL-USE (RFC 6154) and LIST-STATUS (RFC
    5819). Every mailbox's parents exist, so \NonExistent is only said of subscribed names
    without a mailbox and, with RECURSIVEMATCH, of their parents."""
    lc = cmd.args["list"]
    if not lc.extended and lc.reference == "" and lc.patterns == ("",):
        # RFC 9051 6.3.9: the hierarchy delimiter, with the root name "" (RFC 3501 6.3.8's
        # example shows it \Noselect; so does Dovecot).
        s.send(UntaggedList(("\\Noselect",), "/", ""))
        return "LIST done"
    patterns = tuple(p for p in lc.patterns if p != "") if lc.extended else lc.patterns
    if not patterns:
        return "LIST done"
    rx = _Patterns(s, lc.reference, patterns)
    sel_subscribed = "SUBSCRIBED" in lc.select_opts
    sel_special = "SPECIAL-USE" in lc.select_opts
    recursive = "RECURSIVEMATCH" in lc.select_opts
    ret_children = "CHILDREN" in lc.return_opts
    # RFC 5258 3.1: the SUBSCRIBED selection option implies the SUBSCRIBED return option.
    ret_subscribed = sel_subscribed or "SUBSCRIBED" in lc.return_opts
    by_name = {mb.name: mb for mb in s.acc.mailboxes()}
    subscribed = set(s.acc.subscriptions())
    has_child = {mb.name.rsplit("/", 1)[0] for mb in by_name.values() if "/" in mb.name}

    def meets_criteria(name: str) -> bool:
        # RFC 5258 3.1 (and RFC 6154 5): without a selection option every mailbox; with
        # SUBSCRIBED the subscribed names, mailbox or not; with SPECIAL-USE mailboxes that
        # have a special use; both options together: both.
        mb = by_name.get(name)
        if sel_subscribed and name not in subscribed:
            return False
        if sel_special and (mb is None or mb.special_use is None):
            return False
        return mb is not None or sel_subscribed

    names = set(by_name) | (subscribed if sel_subscribed else set())
    chosen = {n for n in names if meets_criteria(n)}
    # RFC 5258 3.5 CHILDINFO (RECURSIVEMATCH): the descendants of a name that meet the criteria.
    below: dict[str, list[str]] = {}
    if recursive:
        for n in chosen:
            parts = n.split("/")
            for i in range(1, len(parts)):
                below.setdefault("/".join(parts[:i]), []).append(n)
        names |= set(below)
    childinfo = (("CHILDINFO", tuple(o for o in ("SUBSCRIBED", "SPECIAL-USE") if o in lc.select_opts)),)
    if lc.status_items and "HIGHESTMODSEQ" in lc.status_items:
        s.enable_condstore()
    for name in sorted(names):
        if not rx.match(name):
            continue
        kids = below.get(name, ())
        if name not in chosen:
            # RFC 5258 3.3 (2B) and 3.5: a name that doesn't meet the criteria is listed only
            # for CHILDINFO, and only when a descendant that meets them is not listed itself
            # (its example 9 shows the same; Dovecot does so).
            if not kids or all(rx.match(k) for k in kids):
                continue
        mb = by_name.get(name)
        flags: list[str] = []
        if ret_subscribed and name in subscribed:
            flags.append("\\Subscribed")
        if mb is None:
            flags.append("\\NonExistent")  # RFC 5258 3.4: implies \Noselect
        if ret_children:
            flags.append("\\HasChildren" if name in has_child else "\\HasNoChildren")
        if mb is not None and mb.special_use:
            flags.append(mb.special_use)
        s.send(UntaggedList(tuple(flags), "/", name, childinfo if kids else ()))
        if lc.status_items and mb is not None:
            s.send(status_response(s, mb, lc.status_items))
        if lc.metadata and mb is not None:
            from .cmd_metadata import list_metadata

            s.send(list_metadata(s, mb, lc.metadata))
    return "LIST done"


async def cmd_lsub(s: Session, cmd: Command) -> str:
    # RFC 3501 6.3.9: the subscribed names matching the pattern, mailbox or not. When "%" hides
    # a subscribed name below an unsubscribed one that matches, that one is returned with
    # \Noselect instead ("foo/bar" subscribed, "foo" not: LSUB "" % gives foo \Noselect).
    lc = cmd.args["list"]
    pattern = lc.patterns[0]
    rx = _Patterns(s, lc.reference, (pattern,))
    wide = _Patterns(s, lc.reference, (pattern.replace("%", "*"),))
    subscribed = s.acc.subscriptions()
    out: dict[str, tuple[str, ...]] = {name: () for name in subscribed if rx.match(name)}
    for name in subscribed:
        if name in out or not wide.match(name):
            continue
        parts = name.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent not in out and parent not in subscribed and rx.match(parent):
                out[parent] = ("\\Noselect",)
    for name in sorted(out):
        s.send(UntaggedLsub(out[name], "/", name))
    return "LSUB done"


async def cmd_namespace(s: Session, cmd: Command) -> str:
    # RFC 9051 6.3.10; RFC 2342
    s.send(UntaggedNamespace(personal=(NamespaceDescr("", "/"),)))
    return "NAMESPACE done"


def status_response(s: Session, mb: Any, items: tuple[str, ...] | list[str]) -> UntaggedStatus:
    # RFC 9051 7.3.4; RFC 8438 SIZE; RFC 7162 HIGHESTMODSEQ; RFC 9208 DELETED-STORAGE
    out: dict[str, int | None] = {}
    for it in items:
        v: int | None
        if it == "MESSAGES":
            v = mb.total + mb.deleted
        elif it == "UIDNEXT":
            v = mb.uidnext
        elif it == "UIDVALIDITY":
            v = mb.uidvalidity
        elif it == "UNSEEN":
            v = mb.unseen
        elif it == "DELETED":
            v = mb.deleted
        elif it == "SIZE":
            v = mb.size
        elif it == "RECENT":
            v = _recent_count(s, mb)
        elif it == "DELETED-STORAGE":
            v = 0
        elif it == "APPENDLIMIT":
            v = append_limit(s.ctx)  # RFC 7889 3: the limit for this mailbox, the global one
        elif it == "HIGHESTMODSEQ":
            hm = mb.highest_modseq
            for m in s.acc.messages(mb.id):
                hm = max(hm, m.modseq)
            v = _client_modseq(hm)
        else:  # the parser only lets known items through
            continue
        out[it] = v
    return UntaggedStatus(mb.name, out)


def _recent_count(s: Session, mb: Any) -> int:
    """STATUS RECENT (RFC 3501 6.3.10): for the selected mailbox this session's \\Recent messages
    (as Dovecot answers), for another the messages no session has taken as \\Recent yet."""
    sel = s.selected
    if sel is not None and sel.mailbox_id == mb.id:
        return len(sel.recent)
    first = s.acc.first_recent_uid(mb.id)
    return sum(1 for m in s.acc.messages(mb.id) if m.uid >= first)


async def cmd_status(s: Session, cmd: Command) -> str:
    # RFC 9051 6.3.11
    name = s.mailbox_in(cmd.args["mailbox"])
    mb = s.xmailbox(name)
    if "HIGHESTMODSEQ" in cmd.args["items"]:
        s.enable_condstore()  # RFC 7162 3.1: a CONDSTORE enabling command
    s.send(status_response(s, mb, cmd.args["items"]))
    return "STATUS done"


def account_quota(s: Session) -> int:
    """The account's quota in bytes, 0 when unlimited (RFC 9208; mox ``store/account.go``): the
    account's configured quota, else the server's default, else what the store enforces."""
    cfg = s.ctx.config
    acc_cfg = cfg.accounts.get(s.account_name) if s.account_name else None
    for q in (acc_cfg.quota if acc_cfg is not None else 0, cfg.quota):
        if q:
            return q if q > 0 else 0
    q = s.acc.effective_quota()
    return q if q > 0 else 0


def _quota_response(s: Session) -> UntaggedQuota | None:
    quota = account_quota(s)
    if quota <= 0:
        return None
    used = s.acc.disk_usage()
    return UntaggedQuota("", (QuotaResource("STORAGE", (used + 1023) // 1024, (quota + 1023) // 1024),))


async def cmd_getquotaroot(s: Session, cmd: Command) -> str:
    # RFC 9208 4.3.1: the mailbox need not exist; one root "" per account.
    raw = cmd.args["mailbox"]
    name = s.mailbox_in(raw)
    s.send(UntaggedQuotaroot(name, ("",)))
    quota = _quota_response(s)
    if quota is not None:
        s.send(quota)
    return "GETQUOTAROOT done"


async def cmd_getquota(s: Session, cmd: Command) -> str:
    # RFC 9208 4.2.1
    if cmd.args["root"] != "":
        raise CommandFailed("unknown quota root", "NONEXISTENT")
    quota = _quota_response(s)
    if quota is not None:
        s.send(quota)
    return "GETQUOTA done"

