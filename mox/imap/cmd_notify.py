"""NOTIFY (authenticated state): RFC 5465, as mox v0.0.15+ does it.

``NOTIFY SET [STATUS] (filter events) ...`` replaces which events the session hears of, for
which mailboxes; ``NOTIFY NONE`` asks for none. Until a session's first NOTIFY it hears of the
selected mailbox only, at the end of commands and during IDLE, and of mailbox and subscription
changes (the behaviour before this extension, ``Session.notify`` is None).

With a setting (``Notify``):

- Message events (MessageNew, MessageExpunge, FlagChange) of the selected mailbox are told only
  when a SELECTED or SELECTED-DELAYED group asks for them (RFC 5465 6.1: no such group is
  "SELECTED NONE"), as EXISTS with a FETCH (UID FLAGS, or the attributes the MessageNew event
  names, RFC 5465 5.2), EXPUNGE/VANISHED (5.3) and FETCH (UID FLAGS) (5.1). Without such a
  group the session's view of the mailbox stays as it is (the NONE "snapshot", RFC 5465 5):
  new messages do not enter it and expunged ones keep their numbers (a FETCH of them returns
  nothing, RFC 2180 4.1.2), as mox; a new SELECT shows the mailbox as it is.
- SELECTED: those responses are also written between commands, when they happen (RFC 5465
  6.1.1; during FETCH, STORE and SEARCH expunges still wait until the command is done, RFC
  9051 7.5.1). SELECTED-DELAYED: they wait for the end of a command, or go out at once during
  IDLE (RFC 5465 6.1.2; as mox, new messages and flag changes wait too).
- Message events of other mailboxes are told as STATUS (RFC 5465 5.1-5.3): MessageNew and
  MessageExpunge as (UIDNEXT MESSAGES [HIGHESTMODSEQ] UNSEEN), FlagChange as (UIDVALIDITY
  [HIGHESTMODSEQ] UNSEEN); HIGHESTMODSEQ when CONDSTORE or QRESYNC is enabled; UNSEEN is not
  required, mox sends it and clients want it. One STATUS per mailbox per transaction.
- MailboxName (RFC 5465 5.4): LIST for a created mailbox, ``\\NonExistent`` for a deleted one,
  OLDNAME for a renamed one (matched on either name). SubscriptionChange (5.5): LIST with
  ``\\Subscribed`` if and only if subscribed (and ``\\NonExistent`` for a name that is no
  mailbox). MailboxMetadataChange and ServerMetadataChange (5.6, 5.7): ``* METADATA mailbox
  entry`` without the value ("" for the server's entries).
- Events of this session's own commands are not told (RFC 5465 5: SHOULD omit; the store does
  not broadcast a change to the session that made it).
- Groups are tried in order; the first whose mailboxes match and whose events include the
  event's kind wins, a matching group with NONE ends the search (as mox).
- Overflow (RFC 5465 5.8): more than ``MAX_PENDING`` changes waiting at once, or more than
  ``MAX_DELAYED`` held for SELECTED-DELAYED, end the setting: ``* OK [NOTIFICATIONOVERFLOW]``
  and then as after NOTIFY NONE.
- BADEVENT (RFC 5465 3.1): an event we don't support (AnnotationChange: there are no message
  annotations; unknown ones) is ``NO [BADEVENT (the events we support)]``. MessageNew without
  MessageExpunge or the other way round, FlagChange without them, non-message events with
  SELECTED/SELECTED-DELAYED, and two selected groups are ``BAD`` (RFC 5465 5, 6.1).
- STATUS (RFC 5465 3.1): ``NOTIFY SET STATUS`` answers with a STATUS (MESSAGES UIDNEXT
  UIDVALIDITY UNSEEN [HIGHESTMODSEQ]) for every mailbox but the selected one that the new
  setting would tell of new messages.
- RFC 5465 7: ``SEARCH/SORT RETURN (UPDATE (fetch-att ...))`` (contexts.py): a new message that
  enters an UPDATE context's result comes with a FETCH of those attributes, before the ADDTO.
- NOTIFY SET is an implicit NOOP (RFC 5465 3.1): what waited for the selected mailbox goes out
  (under the setting that was in force) before the new setting takes over.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mox.store.mailbox_names import normalize_mailbox_name

from .errors import BadCommand, CommandFailed
from .responses import CodeWord, Response, UntaggedList, UntaggedMetadata, UntaggedResult, UntaggedStatus
from .types import Command, NotifyEvent, NotifyGroup

if TYPE_CHECKING:
    from .session import Selected, Session

#: The events we can tell of, in the BADEVENT response code (RFC 5465 3.1: all of them).
SUPPORTED_EVENTS = (
    "MessageNew", "MessageExpunge", "FlagChange", "MailboxName", "SubscriptionChange", "MailboxMetadataChange",
    "ServerMetadataChange",
)
#: RFC 5465 8 message-event: the only ones allowed with SELECTED/SELECTED-DELAYED.
MESSAGE_EVENTS = frozenset(("MessageNew", "MessageExpunge", "FlagChange", "AnnotationChange"))
SELECTED_FILTERS = frozenset(("selected", "selected-delayed"))

#: Changes waiting for a session at once before its setting ends in NOTIFICATIONOVERFLOW
#: (mox: 10000); tests lower it.
MAX_PENDING = 10_000
#: Changes of the selected mailbox held for SELECTED-DELAYED before that overflow (mox: 1000).
MAX_DELAYED = 1_000


class Notify:
    """A session's NOTIFY setting: its event groups, with mailbox names as the store has them.
    No groups is NOTIFY NONE."""

    def __init__(self, groups: tuple[NotifyGroup, ...] = ()) -> None:
        self.groups = groups
        self.selected = next((g for g in groups if g.filter in SELECTED_FILTERS), None)

    @property
    def delayed(self) -> bool:
        """The selected mailbox's events wait for a command (SELECTED-DELAYED)."""
        return self.selected is not None and self.selected.filter == "selected-delayed"

    def selected_event(self, kind: str) -> NotifyEvent | None:
        """The event of the selected group for a message event of the selected mailbox."""
        if self.selected is None:
            return None
        return next((e for e in self.selected.events if e.name == kind), None)

    @property
    def pushes(self) -> bool:
        """Whether anything is to be told (a writer between commands is needed)."""
        return any(g.events for g in self.groups)

    def match(self, m: Matcher, mailbox_id: int, name: str, kind: str) -> NotifyEvent | None:
        """The event a change of ``kind`` to mailbox ``name`` (id 0: no mailbox, or the
        server) is told with, or None (RFC 5465 6; the search as mox's)."""
        sel = m.s.selected
        is_selected = sel is not None and mailbox_id != 0 and mailbox_id == sel.mailbox_id
        for g in self.groups:
            if g.filter in SELECTED_FILTERS:
                if not is_selected or kind not in MESSAGE_EVENTS:
                    continue
                return next((e for e in g.events if e.name == kind), None)
            if is_selected and kind in MESSAGE_EVENTS:
                continue  # RFC 5465 6.1: only the selected filters speak for the selected mailbox
            if not m.matches(g, name):
                continue
            if not g.events:
                return None  # NONE: nothing for these mailboxes
            ev = next((e for e in g.events if e.name == kind), None)
            if ev is not None:
                return ev
        return None


class Matcher:
    """Mailbox filters of one batch of changes, with what they look up cached."""

    def __init__(self, s: Session) -> None:
        self.s = s
        self._subscribed: set[str] | None = None
        self._inboxes: set[str] | None = None

    def matches(self, g: NotifyGroup, name: str) -> bool:
        f = g.filter
        if f == "personal":  # RFC 5465 6.2: all of the user's mailboxes
            return True
        if f == "inboxes":  # RFC 5465 6.3
            return name == "Inbox" or name.startswith("Inbox/") or name in self.inboxes()
        if f == "subscribed":  # RFC 5465 6.4
            if self._subscribed is None:
                self._subscribed = set(self.s.acc.subscriptions())
            return name in self._subscribed
        if f == "subtree":  # RFC 5465 6.5
            return any(name == n or name.startswith(n + "/") for n in g.mailboxes)
        if f == "subtree-one":  # RFC 7377 6: the mailbox and its children
            return any(name == n or (name.startswith(n + "/") and "/" not in name[len(n) + 1 :]) for n in g.mailboxes)
        if f == "mailboxes":  # RFC 5465 6.6: exactly these, no wildcards
            return name in g.mailboxes
        return False

    def inboxes(self) -> set[str]:
        """RFC 5465 6.3: mailboxes mail may be delivered to: the destinations' mailboxes and
        their rulesets' (not the mailing list ones), as mox (imapserver/notify.go); Inbox and
        below it always."""
        if self._inboxes is None:
            names: set[str] = set()
            accounts = getattr(self.s.ctx.config, "accounts", None) or {}
            acc_cfg = accounts.get(self.s.account_name) if self.s.account_name else None
            for dest in getattr(acc_cfg, "destinations", {}).values():
                if dest.mailbox:
                    names.add(normalize_mailbox_name(dest.mailbox))
                for rs in dest.rulesets:
                    if not rs.list_allow_domain:
                        names.add(normalize_mailbox_name(rs.mailbox))
            self._inboxes = names
        return self._inboxes


def _check(groups: tuple[NotifyGroup, ...]) -> None:
    """RFC 5465 3.1, 5, 6.1: BADEVENT first (as mox), then the rules whose breach is BAD."""
    for g in groups:
        for e in g.events:
            if e.name not in SUPPORTED_EVENTS:
                raise CommandFailed(f"unsupported event {e.name}", "BADEVENT (" + " ".join(SUPPORTED_EVENTS) + ")")
    selected = 0
    for g in groups:
        names = {e.name for e in g.events}
        if ("MessageNew" in names) != ("MessageExpunge" in names):
            raise BadCommand("MessageNew and MessageExpunge must be given together")  # RFC 5465 5
        if "FlagChange" in names and "MessageNew" not in names:
            raise BadCommand("FlagChange needs MessageNew and MessageExpunge")  # RFC 5465 5
        if len(names) != len(g.events):
            raise BadCommand("an event is given twice")
        if g.filter in SELECTED_FILTERS:
            selected += 1
            if names - MESSAGE_EVENTS:
                raise BadCommand(f"{g.filter} only takes message events")  # RFC 5465 6.1
    if selected > 1:
        raise BadCommand("only one of selected and selected-delayed")  # RFC 5465 6.1


async def cmd_notify(s: Session, cmd: Command) -> str:
    groups: tuple[NotifyGroup, ...] | None = cmd.args["groups"]
    if groups is None:
        # NOTIFY NONE: what waited for SELECTED-DELAYED is not told any more.
        s.set_notify(Notify())
        return "NOTIFY done"
    _check(groups)
    named = tuple(
        NotifyGroup(g.filter, tuple(normalize_mailbox_name(s.mailbox_in(n)) for n in g.mailboxes), g.events) for g in groups
    )
    if any(a.name == "MODSEQ" for g in named for e in g.events for a in e.fetch_atts):
        s.enable_condstore()  # RFC 7162 3.1: a CONDSTORE enabling command
    # RFC 5465 3.1: an implicit NOOP, under the setting in force until now.
    s.apply_changes()
    n = Notify(named)
    s.set_notify(n)
    if cmd.args["status"]:
        m = Matcher(s)
        sel = s.selected
        for mb in s.acc.mailboxes():
            if sel is not None and mb.id == sel.mailbox_id:
                continue
            if n.match(m, mb.id, mb.name, "MessageNew") is None:
                continue
            attrs: dict[str, int | None] = {
                "MESSAGES": mb.total + mb.deleted, "UIDNEXT": mb.uidnext, "UIDVALIDITY": mb.uidvalidity,
                "UNSEEN": mb.unseen,
            }  # fmt: skip
            if s.condstore or s.qresync:
                attrs["HIGHESTMODSEQ"] = max(mb.highest_modseq, 1)
            s.send(UntaggedStatus(mb.name, attrs))
    return "NOTIFY done"


def overflow_response() -> UntaggedResult:
    # RFC 5465 5.8
    return UntaggedResult("OK", CodeWord("NOTIFICATIONOVERFLOW"), "out of sync after too many pending changes")


def status_attrs(s: Session, mb: Any, kinds: set[str]) -> dict[str, int | None]:
    """The STATUS items telling of events of ``kinds`` in another mailbox (RFC 5465 5.1-5.3)."""
    attrs: dict[str, int | None] = {}
    if kinds & {"MessageNew", "MessageExpunge"}:
        attrs["UIDNEXT"] = mb.uidnext
        attrs["MESSAGES"] = mb.total + mb.deleted
    if "FlagChange" in kinds:
        attrs["UIDVALIDITY"] = mb.uidvalidity
    if s.condstore or s.qresync:
        attrs["HIGHESTMODSEQ"] = max(mb.highest_modseq, 1)
    attrs["UNSEEN"] = mb.unseen
    return attrs


def message_change_of(ch: Any, mailbox_id: int) -> bool:
    """A change to messages (or keywords) of the mailbox (what NOTIFY's message events tell of)."""
    import mox.store.changes as C  # cheaper per call than "from mox.store import changes"

    return (
        isinstance(ch, (C.ChangeAddUID, C.ChangeRemoveUIDs, C.ChangeFlags, C.ChangeMailboxKeywords))
        and ch.mailbox_id == mailbox_id
    )


class NotifyRouter:
    """How a session with a NOTIFY setting tells of changes (cmd_notify.py has the rules):
    ``route(change)`` says True when it took care of the change, False when the session's
    usual handling of the selected mailbox is to apply it."""

    def __init__(self, s: Session, n: Notify, sel: Selected | None, flush_adds: Any) -> None:
        self.s = s
        self.n = n
        self.sel = sel
        self.flush_adds = flush_adds
        self.m = Matcher(s)
        self.status: dict[int, set[str]] = {}  # other mailboxes' events waiting for their counts

    def _send(self, r: Response) -> None:
        self.flush_adds()  # the client hears of things in the order they happened
        self.s.send(r)

    def route(self, ch: Any) -> bool:
        import mox.store.changes as C  # cheaper per call than "from mox.store import changes"

        s, n, sel = self.s, self.n, self.sel
        if isinstance(ch, (C.ChangeAddUID, C.ChangeRemoveUIDs, C.ChangeFlags, C.ChangeMailboxKeywords)):
            kind = (
                "MessageNew" if isinstance(ch, C.ChangeAddUID)
                else "MessageExpunge" if isinstance(ch, C.ChangeRemoveUIDs)
                else "FlagChange"
            )  # fmt: skip
            if sel is not None and ch.mailbox_id == sel.mailbox_id:
                if n.selected_event(kind) is not None:
                    return False  # told as without NOTIFY
                if isinstance(ch, C.ChangeRemoveUIDs):
                    s.sub.release(ch)  # not told: the view keeps the numbers (cmd_notify.py)
                return True
            if isinstance(ch, C.ChangeRemoveUIDs):
                s.sub.release(ch)
            if isinstance(ch, C.ChangeMailboxKeywords):
                return True
            mb = s.acc.mailbox_by_id(ch.mailbox_id)
            if mb is not None and n.match(self.m, mb.id, mb.name, kind) is not None:
                self.status.setdefault(mb.id, set()).add(kind)
            return True
        if isinstance(ch, C.ChangeMailboxCounts):
            kinds = self.status.pop(ch.mailbox.id, None)
            if kinds:
                # The counts as the index has them now, not as of the change: never older than
                # what a STATUS command showed this client (the index can be ahead of the
                # changes still on their way to this session).
                self._send_status(s.acc.mailbox_by_id(ch.mailbox.id) or ch.mailbox, kinds)
            return True
        if isinstance(ch, C.ChangeAddMailbox):
            if n.match(self.m, ch.mailbox.id, ch.mailbox.name, "MailboxName") is not None:
                flags = ("\\Subscribed",) if ch.mailbox.subscribed else ()
                self._send(UntaggedList(flags, "/", ch.mailbox.name))
            return True
        if isinstance(ch, C.ChangeRemoveMailbox):
            if sel is not None and sel.mailbox_id == ch.mailbox_id:
                sel.deleted = True  # commands on it are refused from now on (server.py)
            s.sub.release(ch)
            self.status.pop(ch.mailbox_id, None)
            if n.match(self.m, ch.mailbox_id, ch.name, "MailboxName") is not None:
                self._send(UntaggedList(("\\NonExistent",), "/", ch.name))  # RFC 5465 5.4
            return True
        if isinstance(ch, C.ChangeRenameMailbox):
            if sel is not None and sel.mailbox_id == ch.mailbox_id:
                sel.name = ch.new_name
            if (
                n.match(self.m, ch.mailbox_id, ch.new_name, "MailboxName") is not None
                or n.match(self.m, ch.mailbox_id, ch.old_name, "MailboxName") is not None
            ):
                # RFC 5465 5.4: OLDNAME whatever the client enabled.
                self._send(UntaggedList((), "/", ch.new_name, oldname=ch.old_name))
            return True
        if isinstance(ch, C.ChangeSubscription):
            mb = s.acc.mailbox(ch.name)
            if n.match(self.m, mb.id if mb is not None else 0, ch.name, "SubscriptionChange") is not None:
                # RFC 5465 5.5: \Subscribed if and only if subscribed now.
                attrs: tuple[str, ...] = ("\\Subscribed",) if ch.subscribed else ()
                if mb is None:
                    attrs += ("\\NonExistent",)
                self._send(UntaggedList(attrs, "/", ch.name))
            return True
        if isinstance(ch, C.ChangeAnnotation):
            # RFC 5465 5.6, 5.7: the entry's name, not its value (RFC 5464 4.4.2).
            kind = "ServerMetadataChange" if ch.mailbox_id == 0 else "MailboxMetadataChange"
            if n.match(self.m, ch.mailbox_id, ch.mailbox_name, kind) is not None:
                self._send(UntaggedMetadata(ch.mailbox_name, ((ch.key, None),), values=False))
            return True
        return True  # thread settings, special use: nothing to tell

    def _send_status(self, mb: Any, kinds: set[str]) -> None:
        self._send(UntaggedStatus(mb.name, status_attrs(self.s, mb, kinds)))

    def flush(self) -> None:
        """Events whose mailbox counts did not come in the same batch: told with the counts
        as they are now."""
        for mbid, kinds in list(self.status.items()):
            mb = self.s.acc.mailbox_by_id(mbid)
            if mb is not None:
                self._send_status(mb, kinds)
        self.status.clear()
