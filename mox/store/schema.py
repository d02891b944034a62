"""msgspec Structs of the account index: the public ``Mailbox`` and ``Message`` values are also the
records stored in the journal and snapshot.

Schema evolution (msgspec ``schema-evolution.rst``): every record is a tagged, ``array_like``
Struct with an explicit short tag. New fields get a default and go at the end; fields are never
removed, reordered or reused; tags never change. The journal and snapshot files start with a
magic and format version (``index.py``) for changes these rules cannot express.

``Mailbox`` and ``Message`` are ``gc=False`` (they hold no containers that could form cycles), so
100,000 of them do not make the cyclic garbage collector run over and over while an index loads.

Counts, ``uidnext``, ``keywords`` and ``highest_modseq`` of a mailbox are maintained when message
records are applied (``account._State.apply``), so replaying the journal rebuilds them.
"""

from __future__ import annotations

import msgspec

from mox.message.part import Envelope, Part
from mox.auth.password import CramMD5State, PasswordRecord, ScramSecret  # re-exported: index records

SYSTEM_FLAGS = (r"\Seen", r"\Answered", r"\Flagged", r"\Deleted", r"\Draft")
WELL_KNOWN_KEYWORDS = ("$Forwarded", "$Junk", "$NotJunk", "$Phishing", "$MDNSent")
_CANONICAL = {f.lower(): f for f in SYSTEM_FLAGS + WELL_KNOWN_KEYWORDS}
_ORDER = {f: i for i, f in enumerate(SYSTEM_FLAGS + WELL_KNOWN_KEYWORDS)}
SPECIAL_USE = (r"\Archive", r"\Drafts", r"\Junk", r"\Sent", r"\Trash")

_part_decoder = msgspec.msgpack.Decoder(Part)


class _PartHead(msgspec.Struct, array_like=True, gc=False):
    """The leading fields of an encoded :class:`Part` up to its envelope, the rest skipped
    (array_like decoding ignores trailing elements): the envelope without the MIME tree."""

    f0: msgspec.Raw
    f1: msgspec.Raw
    f2: msgspec.Raw
    f3: msgspec.Raw
    f4: msgspec.Raw
    f5: msgspec.Raw
    f6: msgspec.Raw
    f7: msgspec.Raw
    f8: msgspec.Raw
    f9: msgspec.Raw
    f10: msgspec.Raw
    f11: msgspec.Raw
    f12: msgspec.Raw
    f13: msgspec.Raw
    f14: msgspec.Raw
    envelope: Envelope | None = None


assert Part.__struct_fields__.index("envelope") == len(_PartHead.__struct_fields__) - 1
_head_decoder = msgspec.msgpack.Decoder(_PartHead)
_encoder = msgspec.msgpack.Encoder()
NIL = msgspec.Raw(b"\xc0")  # msgpack nil: the part of a tombstone


def _valid_keyword_char(c: str) -> bool:
    # RFC 9051 atom-char minus resp-specials; we also refuse non-ASCII.
    return 0x20 < ord(c) < 0x7F and c not in '(){%*"\\]'


def canonical_flag(flag: str) -> str:
    """The stored spelling of one flag: system flags and well-known keywords in their canonical
    case, other keywords lower-case. Raises InvalidFlag for unknown ``\\`` flags (including
    ``\\Recent``, which cannot be stored) and for characters not allowed in an IMAP atom."""
    from mox.store.errors import InvalidFlag

    c = _CANONICAL.get(flag.lower())
    if c is not None:
        return c
    if flag.startswith("\\"):
        raise InvalidFlag(f"unknown system flag {flag!r}")
    if not flag or not all(_valid_keyword_char(ch) for ch in flag):
        raise InvalidFlag(f"invalid keyword {flag!r}")
    return flag.lower()


def normalize_flags(flags) -> tuple[str, ...]:
    """Canonical, de-duplicated, ordered flags: system flags, well-known keywords, then other
    keywords sorted."""
    s = {canonical_flag(f) for f in flags}
    return tuple(sorted(s, key=lambda f: (_ORDER.get(f, 100), f)))


def keywords_of(flags: tuple[str, ...]) -> list[str]:
    """The keywords of a flag tuple as they appear in a mailbox's keyword list: lower-case, neither
    system flags nor the well-known ``$`` keywords (as mox's mailbox Keywords)."""
    return [f for f in flags if f not in _ORDER]


class Mailbox(msgspec.Struct, frozen=True, array_like=True, gc=False, tag="mb"):
    """A mailbox (and the record that creates, renames or changes it)."""

    id: int
    name: str
    uidvalidity: int
    uidnext: int = 1
    special_use: str | None = None
    subscribed: bool = True
    keywords: tuple[str, ...] = ()
    total: int = 0  # messages without \Deleted
    deleted: int = 0  # messages with \Deleted
    unread: int = 0  # without \Seen and without \Deleted
    unseen: int = 0  # without \Seen (\Deleted included)
    size: int = 0  # bytes of all messages
    highest_modseq: int = 0
    # The lowest UID no session has taken as \Recent yet (RFC 3501 2.3.2); 0 (records from before
    # this field) counts as 1. Advanced by Account.claim_recent.
    first_recent_uid: int = 0


class Message(msgspec.Struct, frozen=True, array_like=True, gc=False, tag="msg"):
    """A message (or, with ``expunged``, its tombstone, kept for QRESYNC VANISHED).

    ``part_raw`` is the msgpack encoding of the :class:`mox.message.Part`, decoded only when
    ``part`` is read: opening an index of 100,000 messages does not build their MIME trees.
    """

    id: int
    mailbox_id: int
    uid: int
    modseq: int
    createseq: int
    flags: tuple[str, ...]
    size: int
    received: float
    expunged: bool = False
    part_raw: msgspec.Raw = NIL
    # Added later (trailing, with defaults: older indexes load, see the module docstring).
    # Threading, as mox's store.Message (store/threads.go): the canonical Message-ID and base
    # subject (RFC 5256 2.1) used for matching; the thread (the id of the message that started
    # it, 0 until assigned), parent ids from the closest parent to the root (they may have been
    # removed since), whether the direct parent was not found, and the per-thread settings
    # muted (new messages of the thread arrive \Seen) and collapsed (for the webmail).
    message_id: str = ""
    subject_base: str = ""
    thread_id: int = 0
    thread_parent_ids: tuple[int, ...] = ()
    thread_missing_link: bool = False
    thread_muted: bool = False
    thread_collapsed: bool = False
    #: The first lines of the text (mox message/preview.go; IMAP PREVIEW, RFC 8970); None: not
    #: made yet (messages stored before previews existed), see Account.preview.
    preview: str | None = None
    #: The mailbox the message was first delivered to (kept on copy and move), for matching
    #: threads by subject only within one mailbox (mox's MailboxOrigID).
    mailbox_orig_id: int = 0
    #: A delivery status notification (RFC 3464): threads match it without its subject.
    is_dsn: bool = False
    #: Delivered to the rejects mailbox (the junk filter or a rule refused it), as mox's IsReject.
    is_reject: bool = False
    #: SHA-256 of a reject without Message-ID, to store each reject once (mox's MessageHash).
    message_hash: bytes = b""
    #: When the message was saved into its mailbox (delivery, APPEND, COPY, MOVE), unix
    #: seconds, for IMAP SAVEDATE (RFC 8514); 0 for messages stored before we kept it (an
    #: index written then decodes with 0: fields are added at the end with a default).
    saved: float = 0.0

    def __hash__(self) -> int:  # msgspec.Raw is not hashable; these fields decide equality
        return hash((self.id, self.modseq, self.flags, self.expunged))

    @property
    def part(self) -> Part | None:
        if self.expunged:
            return None
        return _part_decoder.decode(self.part_raw)

    @property
    def envelope(self) -> Envelope | None:
        """The top-level part's envelope, decoded without the rest of the MIME tree (SORT and
        THREAD read it for every message of a mailbox)."""
        if self.expunged:
            return None
        return _head_decoder.decode(self.part_raw).envelope


def encode_part(part: Part) -> msgspec.Raw:
    return msgspec.Raw(_encoder.encode(part))


class MessageMeta(msgspec.Struct, frozen=True, array_like=True, tag="meta"):
    """New values of the fields of a live message that IMAP does not show (threading and
    preview): they change without a new modseq (as mox's thread mute/collapse)."""

    id: int
    message_id: str
    subject_base: str
    thread_id: int
    thread_parent_ids: tuple[int, ...]
    thread_missing_link: bool
    thread_muted: bool
    thread_collapsed: bool
    preview: str | None


def meta_of(m: Message) -> MessageMeta:
    return MessageMeta(
        m.id, m.message_id, m.subject_base, m.thread_id, m.thread_parent_ids, m.thread_missing_link,
        m.thread_muted, m.thread_collapsed, m.preview,
    )  # fmt: skip


class MailboxDelete(msgspec.Struct, frozen=True, array_like=True, tag="mbdel"):
    id: int


class FlagsUpdate(msgspec.Struct, frozen=True, array_like=True, tag="fl"):
    id: int
    modseq: int
    flags: tuple[str, ...]


class Expunge(msgspec.Struct, frozen=True, array_like=True, tag="exp"):
    """Messages become tombstones with this modseq; their files are removed after commit."""

    ids: list[int]
    modseq: int


class MessageDelete(msgspec.Struct, frozen=True, array_like=True, tag="msgdel"):
    """Message records (live or tombstone) removed outright, when their mailbox is deleted."""

    ids: list[int]


class Subscription(msgspec.Struct, frozen=True, array_like=True, tag="sub"):
    """A subscription of a name that is no mailbox (RFC 9051 6.3.7: a client may subscribe to a
    name that doesn't exist, and a deleted mailbox stays subscribed), or its end. Subscriptions
    of existing mailboxes are their ``Mailbox.subscribed``; creating a mailbox of a subscribed
    name takes the name's subscription over."""

    name: str
    subscribed: bool


class Annotation(msgspec.Struct, frozen=True, array_like=True, tag="ann"):
    """A metadata entry (IMAP METADATA, RFC 5464) of a mailbox, or of the account (the server
    entries, ``mailbox_id`` 0): its lower-case name (``/private/...`` or ``/shared/...``) and
    value; a value of None removes the entry. ``is_string``: the value was set as a string
    (quoted or literal), not as literal8 binary data."""

    mailbox_id: int
    key: str
    value: bytes | None
    is_string: bool = True


Record = (
    Mailbox | MailboxDelete | Message | FlagsUpdate | Expunge | MessageDelete | PasswordRecord | Subscription
    | MessageMeta | Annotation
)  # fmt: skip


class DeliveryKey(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """A delivery that must happen at most once (a queue entry delivered to this account): the
    caller's key, the message it created and when (unix seconds). Written in the transaction
    that adds the message, so the message and the key are durable together; a retry after a
    crash finds the key and does not deliver again."""

    key: str
    message_id: int
    t: float


class Txn(msgspec.Struct, frozen=True, array_like=True, tag="txn"):
    """One journal frame: a transaction, applied entirely or not at all. ``seq`` counts
    transactions (consecutive); the counters are the values after this transaction.
    ``keys`` was added later (a trailing field with a default: older journals decode, and older
    versions ignore it)."""

    seq: int
    next_id: int
    last_modseq: int
    next_uidvalidity: int
    records: list[Record]
    keys: list[DeliveryKey] = []


class Closed(msgspec.Struct, frozen=True, array_like=True, tag="closed"):
    """Journal marker appended when an account is closed cleanly (after transaction ``seq``).
    When it is the last frame at open, no write can have been interrupted, so the search for
    stray message files is skipped."""

    seq: int


Frame = Txn | Closed


class SnapshotMailbox(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """A mailbox with its messages (ascending uid) and tombstones (ascending uid)."""

    mailbox: Mailbox
    messages: list[Message]
    tombstones: list[Message]


class Snapshot(msgspec.Struct, frozen=True, array_like=True, tag="snap"):
    """The whole index as of transaction ``seq``."""

    seq: int
    next_id: int
    last_modseq: int
    next_uidvalidity: int
    mailboxes: list[SnapshotMailbox]
    password: PasswordRecord | None = None
    keys: list[DeliveryKey] = []  # delivery keys younger than account.DELIVERY_KEY_KEEP
    subscriptions: list[str] = []  # subscribed names that are no mailbox (Subscription records)
    annotations: list[Annotation] = []  # metadata entries (values never None)
