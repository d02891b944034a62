"""Per-connection IMAP state: authentication state, selected mailbox, enabled extensions, and the
untagged responses waiting to be written.

Invariants (RFC 9051 2.3.1.2, 7.5.1; mox ``store/state.go``):
- ``Selected.uids`` is this session's view of the mailbox: message sequence number n is
  ``uids[n-1]``. It only changes when this session tells its client (EXISTS, EXPUNGE, VANISHED),
  and it is always in ascending UID order: before a command adds its own new message to the view,
  the changes waiting for the session are applied, since a message with a lower UID may be
  among them (RFC 9051 2.3.1.1).
- Changes from other sessions arrive through the account subscription and are applied before a
  tagged reply; during FETCH, STORE and SEARCH expunges are deferred so sequence numbers stay put
  (RFC 9051 7.5.1). A message the client has not been told is expunged can still be fetched:
  the session holds the removal (store/changes.py), so the record as it was and its file stay
  until the session has sent the EXPUNGE (RFC 9051 7.4.1, RFC 2180 4.1).
- Our own changes are not broadcast back to us (``origin=self.sub``); commands update the session
  view themselves.
- ``Selected.recent`` holds the messages that are \\Recent in this session (RFC 3501 2.3.2): the
  ones it was the first to be told of. Every message enters the view through ``note_new`` (the
  SELECT listing, EXISTS for other sessions' messages, our own APPEND/COPY/MOVE into the
  selected mailbox); a read-write session claims them in the store, so exactly one session gets
  each; EXAMINE only looks at what nobody claimed yet (RFC 3501 6.3.2). Sessions that enabled
  IMAP4rev2 neither see nor claim \\Recent (RFC 9051 removed it).
- A message's flags and MODSEQ never go back for the client (RFC 7162 3.1). The index the
  commands read can be ahead of the changes still queued for the session (transactions being
  made durable), and a session's own writes are ahead of other sessions' changes that were made
  before them but are delivered after. So a queued change whose MODSEQ is at most what the
  session already showed for that message (``Selected.shown``, or ``Selected.floor`` for the
  SELECT listing) is old news and is dropped; ``mark`` (changes.py) says which shown values can
  still be overtaken.
- UPDATE contexts (RFC 5267, ``contexts.py``) hear of every change to the view where the client
  does: new messages after their EXISTS, flag changes with the FETCH that shows them (or, for
  old news, with the index's state), expunges before the EXPUNGE/VANISHED. They end with the
  selection.
"""

from __future__ import annotations

import enum
import time
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
import trio

from mox import mlog
from mox.ci import hooks as ci
from mox.auth import sasl
from mox.context import ServerContext

from . import cmd_notify, contexts, response_write, utf7
from .response_write import fetch_flags, fetch_response
from .cmd_notify import Notify, NotifyRouter, message_change_of
from .errors import BadCommand, CommandFailed
from .responses import (
    Code,
    CodeHighestModSeq,
    CodeInProgress,
    FetchUID,
    Response,
    UntaggedExists,
    UntaggedExpunge,
    UntaggedFlags,
    UntaggedList,
    UntaggedRecent,
    UntaggedResult,
    UntaggedVanished,
)
from .types import KNOWN_KEYWORDS, SYSTEM_FLAGS, NumSet
from .wire import sequence_set

if TYPE_CHECKING:
    from .server import Connection

# Capabilities as mox v0.0.17 (imapserver/server.go, in its order), plus NAMESPACE, then the ones
# mox does not have (profiles.NOT_IN_MOX; the "mox" profile leaves them out): SORT and THREAD
# (RFC 5256, RFC 5957 SORT=DISPLAY, THREAD=REFS of draft-ietf-morg-inthread), ESORT and CONTEXT
# (RFC 5267), PARTIAL (RFC 9394), CATENATE (RFC 4469) with URL-PARTIAL (RFC 5550). No
# I18NLEVEL=1 (RFC 5255): SORT and THREAD collate with i;unicode-casemap as it requires, but
# SEARCH matches with Python's case folding. The AUTH=...-PLUS entries are dropped on connections
# without a checkable channel binding (Session.capabilities). APPENDLIMIT gets the limit APPEND
# enforces (RFC 7889 2: the largest message the server accepts; mox advertises 2^63-1 whatever it
# enforces, we say what we do).
BASE_CAPABILITIES = (
    "IMAP4rev2 IMAP4rev1 ENABLE LITERAL+ IDLE SASL-IR BINARY UNSELECT UIDPLUS ESEARCH SEARCHRES MOVE "
    "UTF8=ACCEPT LIST-EXTENDED SPECIAL-USE CREATE-SPECIAL-USE LIST-STATUS AUTH=SCRAM-SHA-256-PLUS AUTH=SCRAM-SHA-256 "
    "AUTH=SCRAM-SHA-1-PLUS AUTH=SCRAM-SHA-1 AUTH=CRAM-MD5 ID APPENDLIMIT CONDSTORE "
    "QRESYNC STATUS=SIZE QUOTA QUOTA=RES-STORAGE METADATA SAVEDATE WITHIN NAMESPACE LIST-METADATA "
    "MULTIAPPEND REPLACE PREVIEW INPROGRESS MULTISEARCH NOTIFY UIDONLY COMPRESS=DEFLATE "
    "SORT SORT=DISPLAY THREAD=ORDEREDSUBJECT THREAD=REFERENCES THREAD=REFS ESORT CONTEXT=SEARCH "
    "CONTEXT=SORT PARTIAL CATENATE URL-PARTIAL"
)


#: The flags always in ``* FLAGS`` (send_mailbox_flags), lower case.
_FIXED_FLAGS = frozenset(f.lower() for f in SYSTEM_FLAGS + KNOWN_KEYWORDS)


def append_limit(ctx: ServerContext) -> int:
    """The most APPEND takes in one command, all its messages together (RFC 7889, RFC 3502): 1 GiB,
    or the configured maximum message size when that is larger. The protocol layer refuses a
    larger message literal with ``[TOOBIG]`` before reading it."""
    return max(ctx.config.max_message_size, 1 << 30)


# Per connection, after more than 3 failed authentications each further attempt waits
# (failures - 3) x this many seconds before credentials are checked (mox imapserver/server.go).
AUTH_FAILURE_DELAY = 1.0


#: Expunges deferred during FETCH, STORE and SEARCH (RFC 9051 7.5.1) beyond which their removals
#: are merged (session.py's _apply).
DEFERRED_COMPACT = 16

#: Seconds between INPROGRESS responses of a long command (RFC 9585; mox: 1 s); tests lower it.
INPROGRESS_INTERVAL = 1.0


class Progress:
    """RFC 9585: a command working through ``goal`` items tells the client how far it got, in
    ``* OK [INPROGRESS ("tag" n goal)]`` written at once (not queued), at most every
    INPROGRESS_INTERVAL seconds. ``await step(n)`` now and then (it checks the clock). A tag with "]" can't be
    quoted in a response code unambiguously: NIL then (as mox)."""

    def __init__(self, s: Session, tag: str, goal: int | None) -> None:
        self.s = s
        self.tag = None if "]" in tag else tag
        self.goal = goal or None  # nz-number / nil
        self.last = time.monotonic()

    async def step(self, done: int) -> None:
        """``done`` items are done; tell the client if the interval has passed."""
        now = time.monotonic()
        if now - self.last >= INPROGRESS_INTERVAL:
            self.last = now
            r = UntaggedResult("OK", CodeInProgress(self.tag, done, self.goal), "still searching")
            await self.s.conn.write(response_write.serialize(r, utf8=self.s.utf8))


class Done(NamedTuple):
    """A command's tagged OK with a response code (a handler returns this, or just the text)."""

    code: Code
    text: str


class State(enum.Enum):
    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


class Selected:
    """The selected mailbox as this session sees it."""

    def __init__(
        self, mailbox_id: int, name: str, readonly: bool, uids: list[int], keywords: tuple[str, ...], floor: int = 0
    ) -> None:
        self.mailbox_id = mailbox_id
        self.name = name
        self.readonly = readonly
        self.uids = uids
        self.keywords = set(keywords)
        self.deferred: list[Any] = []  # ChangeRemoveUIDs held back during FETCH/STORE/SEARCH
        self.deleted = False  # the mailbox was deleted (by any session) while selected
        self.recent: set[int] = set()  # uids \Recent in this session (RFC 3501 2.3.2)
        self.recent_told = 0  # the count of the last RECENT response
        self.floor = floor  # the listing at SELECT has every change up to this modseq
        self.shown: dict[int, int] = {}  # uid -> modseq shown from the index, ahead of the queue

    def seq(self, uid: int) -> int:
        """Sequence number of uid, or 0."""
        import bisect

        i = bisect.bisect_left(self.uids, uid)
        if i < len(self.uids) and self.uids[i] == uid:
            return i + 1
        return 0

    def remove(self, uid: int) -> int:
        s = self.seq(uid)
        if s:
            del self.uids[s - 1]
        self.recent.discard(uid)
        return s


class Session:
    def __init__(self, ctx: ServerContext, conn: Connection, log: mlog.Logger, *, tls: bool) -> None:
        self.ctx = ctx
        #: The connection's driver (mox.imap.server): commands that talk to the client mid-way
        #: (AUTHENTICATE, IDLE, STARTTLS) go through it.
        self.conn = conn
        self.log = log
        self.tls = tls
        self.state = State.NOT_AUTHENTICATED
        self.account_name: str | None = None
        self.username: str | None = None
        self.acc: Any = None
        self.sub: Any = None
        self.selected: Selected | None = None
        self.enabled: set[str] = set()
        self.searchres: list[int] = []  # RFC 5182 "$": uids of the last SEARCH ... SAVE
        self.contexts: dict[str, contexts.UpdateContext] = {}  # RFC 5267 UPDATE contexts by tag
        # Their changes not sent yet: (ADDTO/REMOVEFROM, position, uid) per context tag.
        self.context_pending: dict[str, list[tuple[str, int, int]]] = {}
        self.out = bytearray()  # untagged responses to write before the tagged reply
        self.current_command = ""
        self.remote_ip: str | None = None
        self.tls_key: Any = None  # mox.auth.tlspubkey.TLSPubKey of the client certificate, if registered
        self.client_cert = False  # a client certificate was presented in the TLS handshake
        self.auth_failures = 0
        self.mark = 0  # changes up to this modseq have been applied (changes.py: mark)
        self.carry: list[Any] = []  # changes drained but not applied yet (apply_changes before=, push=)
        #: The NOTIFY setting (RFC 5465, cmd_notify.py); None until the first NOTIFY command.
        self.notify: Notify | None = None

    # -- output

    def send(self, r: Response) -> None:
        """Queue a response (written before the tagged reply), serialized as this session's
        enabled extensions say (UTF-8 names with UTF8=ACCEPT/IMAP4rev2)."""
        self.out += response_write.serialize(r, utf8=self.utf8)

    def send_flags(self, seq: int, uid: int, flags: tuple[str, ...] | list[str], modseq: int | None) -> None:
        """``* seq FETCH (UID uid FLAGS (...) [MODSEQ (n)])``: a message's flags as this session
        shows them, with its MODSEQ when given (RFC 7162 3.2: flag changes with their MODSEQ)."""
        # Written directly, as serialize writes UntaggedFetch(seq, (FetchUID, FetchFlags,
        # FetchModSeq)): every session writes one for each flag change it is told of.
        attrs = [fetch_flags(self.flags_out(uid, flags))]
        if modseq is not None:
            attrs.append(b"MODSEQ (%d)" % max(modseq, 1))
        if self.uidonly:
            # RFC 9586 3.3: with UIDONLY numbered by UID, which then is no attribute (as mox).
            self.out += fetch_response(uid, attrs, uidfetch=True)
        else:
            self.out += fetch_response(seq, [b"UID %d" % uid, *attrs])

    def send_mailbox_flags(self, keywords: list[str]) -> None:
        """``* FLAGS``: the system flags, mox's known keywords and the mailbox's keywords."""
        self.send(UntaggedFlags((*SYSTEM_FLAGS, *KNOWN_KEYWORDS, *keywords)))

    def take_output(self) -> bytes:
        contexts.flush(self)  # RFC 5267 4.3: pending update context changes go out with the rest
        out = bytes(self.out)
        self.out.clear()
        return out

    # -- capabilities and names

    def channel_bindings(self) -> dict[str, bytes]:
        """The SCRAM channel bindings that can be checked on this connection (mox.auth.sasl): tls-unique
        on TLS 1.2, none on TLS 1.3 (no tls-exporter in Python's ssl) or without TLS."""
        if not self.tls:
            return {}
        return sasl.channel_bindings(self.conn.stream)

    def capability_names(self) -> tuple[str, ...]:
        return tuple(self.capabilities().split())

    def capabilities(self) -> str:
        caps = BASE_CAPABILITIES.replace(" APPENDLIMIT ", f" APPENDLIMIT={append_limit(self.ctx)} ")
        if not self.channel_bindings():
            # Advertise -PLUS only where its channel binding can really be checked (mox always
            # does); the rest keeps mox's order (imapserver/server.go).
            caps = " ".join(c for c in caps.split() if not (c.startswith("AUTH=") and c.endswith("-PLUS")))
        if not self.tls and self.ctx.tls is not None:
            caps += " STARTTLS"
        if self.tls or self.ctx.config.no_require_starttls:
            caps += " AUTH=PLAIN"
        else:
            caps += " LOGINDISABLED"
        if self.tls and self.client_cert:
            caps += " AUTH=EXTERNAL"
        return ci.imap_capabilities(self.ctx, caps)

    @property
    def utf8(self) -> bool:
        return bool({"IMAP4REV2", "UTF8=ACCEPT"} & self.enabled)

    @property
    def condstore(self) -> bool:
        return "CONDSTORE" in self.enabled

    @property
    def qresync(self) -> bool:
        return "QRESYNC" in self.enabled

    @property
    def uidonly(self) -> bool:
        """RFC 9586: no message sequence numbers, from the client or to it."""
        return "UIDONLY" in self.enabled

    @property
    def vanished(self) -> bool:
        """Expunges are told as VANISHED (RFC 7162 3.2.10 with QRESYNC; RFC 9586 3.3 with UIDONLY),
        not as EXPUNGE with a sequence number."""
        return "QRESYNC" in self.enabled or "UIDONLY" in self.enabled

    def enable_condstore(self, announce: bool = True) -> None:
        """Enable CONDSTORE (RFC 7162 3.1: also implicitly, by a CONDSTORE enabling command).
        With a mailbox selected the client learns its HIGHESTMODSEQ at that moment."""
        if "CONDSTORE" in self.enabled:
            return
        self.enabled.add("CONDSTORE")
        if announce:
            self.announce_highestmodseq()

    def announce_highestmodseq(self) -> None:
        sel = self.selected
        if sel is None:
            return
        mb = self.acc.mailbox_by_id(sel.mailbox_id)
        hm = mb.highest_modseq if mb is not None else 0
        for m in self.acc.messages(sel.mailbox_id):
            hm = max(hm, m.modseq)
        self.send(UntaggedResult("OK", CodeHighestModSeq(max(hm, 1)), "x"))

    def mailbox_in(self, name: str) -> str:
        """A mailbox name from the client: modified UTF-7 decoded unless UTF-8 is enabled, INBOX in
        any case (also as the first hierarchy level) mapped to the stored ``Inbox``."""
        if not self.utf8:
            try:
                name = utf7.decode(name)
            except utf7.Utf7Error as e:
                # A syntactically valid astring that is no modified UTF-7 (RFC 3501 5.1.3) names
                # no mailbox that can exist: NO, as Dovecot answers, not BAD.
                raise CommandFailed(f"invalid modified utf-7 mailbox name: {e}", "CANNOT") from None
        if name.upper() == "INBOX":
            return "Inbox"
        if name[:6].upper() == "INBOX/":
            return "Inbox/" + name[6:]
        return name

    def check_mailbox_name(self, name: str) -> None:
        """Names for CREATE/RENAME (RFC 9051 5.1), with the store's rules: no empty hierarchy
        levels, control characters, wildcards or leading "#", NFC normalised."""
        from mox.store.mailbox_names import check_mailbox_name
        from mox.store.errors import InvalidMailboxName

        try:
            check_mailbox_name(name)
        except InvalidMailboxName as e:
            raise CommandFailed(f"invalid mailbox name: {e}", "CANNOT") from None

    def xmailbox(self, name: str, *, trycreate: bool = False) -> Any:
        mb = self.acc.mailbox(name)
        if mb is None:
            raise CommandFailed("mailbox does not exist", "TRYCREATE" if trycreate else "NONEXISTENT")
        return mb

    # -- selected mailbox helpers

    def xselected(self) -> Selected:
        assert self.selected is not None
        return self.selected

    def resolve_numset(self, numset: NumSet, uid: bool) -> list[int]:
        """The uids named by a sequence set (message sequence numbers or uids; ``$`` is the saved
        search result). Sequence numbers outside the mailbox are a BAD (RFC 9051 9 seq-number)."""
        sel = self.xselected()
        if numset.search_result:
            known = set(sel.uids)
            return [u for u in self.searchres if u in known]
        if uid:
            return numset.select(sel.uids)
        n = len(sel.uids)
        for r in numset.ranges:
            for v in (r.first, r.last):
                if v is not None and v > n:
                    raise BadCommand("invalid msgseq: message sequence number out of range")
        if n == 0:
            raise BadCommand("invalid msgseq: mailbox is empty")
        uids = sel.uids
        return [uids[i - 1] for i in numset.select_upto(n)]

    # -- \Recent (RFC 3501 2.3.2, 6.3.1, 7.3.2; not in IMAP4rev2)

    @property
    def sees_recent(self) -> bool:
        return "IMAP4REV2" not in self.enabled

    def note_new(self, uids: list[int]) -> None:
        """Messages that just entered the view: those no session took before are \\Recent here.
        A read-write session takes them (Account.claim_recent), so no other session gets them;
        a read-only one only looks (RFC 3501 6.3.2: EXAMINE does not take \\Recent away)."""
        sel = self.selected
        if sel is None or not uids or not self.sees_recent:
            return
        if sel.readonly:
            first = self.acc.first_recent_uid(sel.mailbox_id)
        else:
            first = self.acc.claim_recent(sel.mailbox_id, max(uids))
        sel.recent.update(u for u in uids if u >= first)

    def report_recent(self) -> None:
        """``* n RECENT`` when the number of \\Recent messages changed since the client was last
        told (RFC 3501 7.3.2: with SELECT and when the mailbox size changes; like Dovecot, only
        when the number changed)."""
        sel = self.selected
        if sel is None or not self.sees_recent or len(sel.recent) == sel.recent_told:
            return
        sel.recent_told = len(sel.recent)
        self.send(UntaggedRecent(sel.recent_told))

    def flags_out(self, uid: int, flags: tuple[str, ...] | list[str]) -> tuple[str, ...]:
        """A message's flags for the client: the stored flags, and \\Recent when the message is
        recent in this session (RFC 3501 2.3.2)."""
        sel = self.selected
        if sel is not None and uid in sel.recent:
            return (*flags, "\\Recent")
        return tuple(flags)

    # -- changes from other sessions

    def shown(self, uid: int, modseq: int) -> None:
        """A response showed the client a message's flags and MODSEQ as the index has them now:
        remember it while changes older than that may still be queued for this session."""
        sel = self.selected
        if sel is not None and modseq > max(self.mark, sel.floor) and modseq > sel.shown.get(uid, 0):
            sel.shown[uid] = modseq

    def message(self, uid: int) -> Any:
        """A message of the selected mailbox as this session may show it: live, or removed by
        another session that has not told this client yet (still held, RFC 2180 4.1.1)."""
        sel = self.xselected()
        m = self.acc.message(sel.mailbox_id, uid)
        if m is None:
            m = self.acc.removed_message(sel.mailbox_id, uid)
        return m

    def messages(self, uids: list[int]) -> list[Any]:
        """``message`` of each uid, in order (None where there is none), live ones looked up at once."""
        sel = self.xselected()
        acc = self.acc
        found = acc.messages_by_uid(sel.mailbox_id, uids)
        return [m if m is not None else acc.removed_message(sel.mailbox_id, uid) for uid, m in zip(uids, found)]

    def select_view(self, mailbox_id: int) -> tuple[Any, list[Any], int]:
        """The mailbox and its messages as of one moment, for SELECT (Account.select_view)."""
        keep = None
        if self.notify is not None and self.notify.groups:
            # What NOTIFY tells of other mailboxes is not in the listing: it stays pending.
            from mox.store.changes import ChangeMailboxCounts

            def keep(ch: Any) -> bool:
                if isinstance(ch, ChangeMailboxCounts):
                    return ch.mailbox.id != mailbox_id
                return not message_change_of(ch, mailbox_id)

        mb, msgs, floor = self.acc.select_view(mailbox_id, self.sub, keep)
        self.carry = []  # reflected in the listing, like the changes select_view dropped
        self.mark = floor
        return mb, msgs, floor

    def unselect(self) -> None:
        """Leave the selected mailbox (CLOSE, UNSELECT, a SELECT of another): what the session
        held for it is released."""
        self.selected = None
        self.contexts = {}  # RFC 5267 4.3: updates end when the mailbox is no longer selected
        self.context_pending = {}
        self.state = State.AUTHENTICATED
        if self.sub is not None:
            self.acc.unselect_view(self.sub)

    async def remove_released_files(self) -> None:
        """Files of removed messages that no session shows any more (this one may just have told
        its client) are removed in a worker thread, after the client heard the response (they
        go once their removal is fsynced)."""
        acc = self.acc
        if acc is not None and acc.has_released_files():
            await trio.to_thread.run_sync(acc.remove_released_files)

    def set_notify(self, n: Notify) -> None:
        """A new NOTIFY setting (cmd_notify): with events to tell the session is given every
        change, else only those of the mailbox it shows and of mailboxes (changes.py)."""
        self.notify = n
        if self.sub is not None:
            self.sub.all_mailboxes = n.pushes

    def _notify_overflow(self) -> None:
        """RFC 5465 5.8: tell the client and go on as after NOTIFY NONE."""
        from .cmd_notify import Notify, overflow_response

        self.set_notify(Notify())
        self.send(overflow_response())

    def overflow_text(self) -> str | None:
        """Why the session must end: its queue of other sessions' changes overflowed
        (changes.py) and it can't tell its client as NOTIFY's overflow (the BYE's text)."""
        sub = self.sub
        if sub is None or not sub.overflowed or (self.notify is not None and self.notify.groups):
            return None
        from mox.store.changes import OVERFLOW_TEXT

        return OVERFLOW_TEXT

    def _sub_overflowed(self) -> bool:
        """The queue of changes overflowed: a session with NOTIFY is told NOTIFICATIONOVERFLOW
        and goes on as after NOTIFY NONE (its view of the selected mailbox stays as it is, RFC
        5465 5; whether the mailbox still exists, and its name, are looked up); True for others,
        which end with BYE (overflow_text) before their next command."""
        sel = self.selected
        if self.overflow_text() is not None:
            return True
        self._notify_overflow()
        self.sub.release_held()  # not told under NOTIFY NONE (as NotifyRouter does)
        if sel is not None:
            mb = self.acc.mailbox_by_id(sel.mailbox_id)
            if mb is None:
                sel.deleted = True
            else:
                sel.name = mb.name
        self.sub.clear_overflow()
        return False

    def apply_changes(self, *, allow_expunge: bool = True, before: int | None = None, push: bool = False) -> None:
        """Apply the changes other sessions made (in commit order), queueing the untagged
        responses. Expunges are held back unless ``allow_expunge``. With ``before`` (the modseq
        of the session's own new message) only changes committed before it are applied now, the
        rest come first next time: the client hears of messages in the order they were added.
        ``push``: between commands, for NOTIFY (cmd_notify.py): with SELECTED-DELAYED the
        selected mailbox's message changes wait for the next command."""
        if self.sub is None:
            return
        if self.sub.overflowed and self._sub_overflowed():
            return
        changes, mark = self.sub.drain()
        if self.carry:
            changes = self.carry + changes
            self.carry = []
        sel = self.selected
        if sel is not None and allow_expunge and sel.deferred:
            changes = sel.deferred + changes
            sel.deferred = []
        n = self.notify
        if n is not None and n.groups and len(changes) > cmd_notify.MAX_PENDING:
            self._notify_overflow()
            n = self.notify
        if before is not None:
            for i, ch in enumerate(changes):
                if getattr(ch, "modseq", 0) > before:
                    changes, self.carry = changes[:i], changes[i:]
                    mark = before  # the changes up to it are applied, not more
                    break
        elif push and n is not None and n.delayed and sel is not None:
            held = [ch for ch in changes if message_change_of(ch, sel.mailbox_id)]
            if len(held) > cmd_notify.MAX_DELAYED:
                self._notify_overflow()  # and they are applied as after NOTIFY NONE
            elif held:
                changes = [ch for ch in changes if not message_change_of(ch, sel.mailbox_id)]
                self.carry = held
                seqs = [ch.modseq for ch in held if hasattr(ch, "modseq")]
                if seqs:
                    mark = min(mark, min(seqs) - 1)  # not applied yet
        self.mark = mark
        if sel is not None and sel.shown:
            self._apply(changes, sel, allow_expunge)
            # What was shown is no longer ahead once every change up to it has been applied.
            sel.shown = {u: m for u, m in sel.shown.items() if m > mark}
        elif changes:
            self._apply(changes, sel, allow_expunge)

    def _apply(self, changes: list[Any], sel: Selected | None, allow_expunge: bool) -> None:
        import mox.store.changes as C  # cheaper per call than "from mox.store import changes"

        adds: list[Any] = []
        n = self.notify
        new_event = n.selected_event("MessageNew") if n is not None else None

        def flush_adds() -> None:
            if not adds or sel is None:
                return
            self.note_new([a.uid for a in adds])
            self.send(UntaggedExists(len(sel.uids)))
            self.report_recent()
            for a in adds:
                if new_event is not None and new_event.fetch_atts:
                    self.notify_fetch(sel, a.uid, new_event.fetch_atts)
                else:
                    self.send_flags(sel.seq(a.uid), a.uid, a.flags, a.modseq if self.condstore else None)
            contexts.messages_added(self, [a.uid for a in adds])
            adds.clear()

        notify = NotifyRouter(self, n, sel, flush_adds) if n is not None else None
        for ch in changes:
            if notify is not None and notify.route(ch):
                continue
            if isinstance(ch, C.ChangeAddUID):
                if sel is None or ch.mailbox_id != sel.mailbox_id:
                    continue
                if sel.seq(ch.uid) or ch.modseq <= sel.floor:
                    continue  # in the view already, or added and removed before the SELECT listing
                sel.uids.append(ch.uid)
                if sel.uids and len(sel.uids) > 1 and sel.uids[-2] > ch.uid:
                    sel.uids.sort()
                adds.append(ch)
                self._check_keywords(ch.flags)
                continue
            if isinstance(ch, C.ChangeMailboxCounts):
                continue  # only for NOTIFY/LIST-STATUS clients; nothing to send
            if isinstance(ch, C.ChangeMailboxKeywords):
                if sel is not None and ch.mailbox_id == sel.mailbox_id:
                    self._check_keywords(ch.keywords)
                continue
            flush_adds()
            if isinstance(ch, C.ChangeRemoveUIDs):
                if sel is None or ch.mailbox_id != sel.mailbox_id:
                    self.sub.release(ch)
                    continue
                if not allow_expunge:
                    sel.deferred.append(ch)
                    continue
                self.sub.release(ch)  # the client hears of it below, before it can fetch again
                contexts.messages_removed(self, [u for u in ch.uids if sel.seq(u)])
                vanished: list[int] = []
                for uid in sorted(ch.uids):
                    s = sel.remove(uid)
                    if not s:
                        continue
                    if self.vanished:
                        vanished.append(uid)
                    else:
                        self.send(UntaggedExpunge(s))
                if vanished:
                    self.send(UntaggedVanished(False, sequence_set(vanished)))
            elif isinstance(ch, C.ChangeFlags):
                if sel is None or ch.mailbox_id != sel.mailbox_id:
                    continue
                s = sel.seq(ch.uid)
                if not s:
                    continue  # not in the view
                if ch.modseq <= max(sel.floor, sel.shown.get(ch.uid, 0)):
                    # The client was shown this state or a later one; contexts follow the index.
                    if self.contexts and (m := self.message(ch.uid)) is not None:
                        contexts.message_changed(self, m)
                    continue
                self._check_keywords(ch.flags)
                self.send_flags(s, ch.uid, ch.flags, ch.modseq if self.condstore else None)
                if self.contexts and (m := self.message(ch.uid)) is not None:
                    contexts.message_changed(self, msgspec.structs.replace(m, flags=ch.flags, modseq=ch.modseq))
            elif isinstance(ch, C.ChangeAddMailbox):
                flags = ("\\Subscribed",) if ch.mailbox.subscribed else ()
                self.send(UntaggedList(flags, "/", ch.mailbox.name))
            elif isinstance(ch, C.ChangeRemoveMailbox):
                if sel is not None and sel.mailbox_id == ch.mailbox_id:
                    sel.deleted = True  # commands on it are refused from now on (server.py)
                self.sub.release(ch)
                if "IMAP4REV2" in self.enabled:
                    self.send(UntaggedList(("\\NonExistent",), "/", ch.name))
            elif isinstance(ch, C.ChangeRenameMailbox):
                # RFC 9051 7.3.1: OLDNAME for IMAP4rev2 clients.
                oldname = ch.old_name if "IMAP4REV2" in self.enabled else None
                self.send(UntaggedList((), "/", ch.new_name, oldname=oldname))
                if sel is not None and sel.mailbox_id == ch.mailbox_id:
                    sel.name = ch.new_name
            elif isinstance(ch, C.ChangeSubscription):
                if ch.subscribed:
                    # RFC 5258 3.4: a subscribed name without a mailbox is \NonExistent.
                    attrs = ("\\Subscribed",) if self.acc.mailbox(ch.name) is not None else ("\\Subscribed", "\\NonExistent")
                    self.send(UntaggedList(attrs, "/", ch.name))
        flush_adds()
        if sel is not None and len(sel.deferred) > DEFERRED_COMPACT:
            # A client that only FETCHes, STOREs and SEARCHes never hears of expunges: their
            # removals merge into one per mailbox (changes.py), not one per transaction.
            sel.deferred = self.sub.compact(sel.deferred)
        if notify is not None:
            notify.flush()
        self.report_recent()  # expunged messages may have been \Recent

    def notify_fetch(self, sel: Selected, uid: int, atts: tuple[Any, ...]) -> None:
        """RFC 5465 5.2: the FETCH of a new message with the attributes its MessageNew event
        names (UID first, as it is needed to make sense of it, except with UIDONLY). Attributes
        that would set \\Seen don't (RFC 5465 5.2: the client SHOULD NOT ask for them; mox
        neither). An attribute that can't be made gives an untagged NO and a FETCH of the UID
        alone (as mox)."""
        from mox.store import errors as E

        from .cmd_fetch import message_attrs
        from .response_write import fetch_attr, fetch_response

        m = self.message(uid)
        if m is None:
            return
        out: list[bytes] = []
        if not self.uidonly and not any(a.name == "UID" for a in atts):
            out.append(fetch_attr(FetchUID(uid)))
        previews: dict[int, str] = {}
        if any(a.name == "PREVIEW" for a in atts):
            previews[m.id] = m.preview if m.preview is not None else self.acc.preview(m)
        try:
            if message_attrs(self, m, atts, previews, out):
                self.shown(m.uid, m.modseq)
        except (CommandFailed, E.MessageGone) as e:
            text = e.text if isinstance(e, CommandFailed) else "message is gone"
            self.send(UntaggedResult("NO", None, f"generating notify fetch response: {text}"))
            out = [fetch_attr(FetchUID(uid))]
        seq = sel.seq(uid)
        self.out += fetch_response(uid, out, uidfetch=True) if self.uidonly else fetch_response(seq, out)

    def _check_keywords(self, flags: tuple[str, ...] | list[str]) -> None:
        """Send an updated FLAGS when a keyword appears that the client hasn't seen yet."""
        sel = self.selected
        if sel is None:
            return
        new = [f for f in flags if not f.startswith("\\") and f not in sel.keywords and f.lower() not in _FIXED_FLAGS]
        if not new:
            return
        sel.keywords.update(new)
        kw = sorted(sel.keywords)
        self.send_mailbox_flags(kw)

    # -- login and teardown

    def login(self, account_name: str, username: str) -> None:
        self.account_name = account_name
        self.username = username
        self.acc = self.ctx.store.open_account(account_name)
        self.sub = self.acc.subscribe(all_mailboxes=False)
        self.sub.on_overflow = self.conn.wake_overflow
        self.state = State.AUTHENTICATED
        self.log = self.log.with_(account=account_name)

    def close(self) -> None:
        if self.sub is not None:
            try:
                self.sub.close()
            except Exception as e:  # pragma: no cover
                self.log.unexpected("closing subscription", e)
            self.sub = None
        if self.acc is not None:
            try:
                self.acc.close()
            except Exception as e:  # pragma: no cover
                self.log.unexpected("closing account", e)
            self.acc = None
