"""The message store: accounts, mailboxes, messages, durable writes and change broadcast.

Layout of the data directory::

    <data>/accounts/<name>/msg/<dir>/<id>   message files, written once and never changed;
                                            <dir> is id >> 13 in lower-case hex (8192 per dir),
                                            so message 7 is msg/0/7 and 8192 is msg/1/8192
    <data>/accounts/<name>/index.journal    append-only journal of transactions (index.py)
    <data>/accounts/<name>/index.snapshot   the whole index as of a journal position
    <data>/tmp/                             files being written (store-<account>-* are ours)

The index is loaded into memory when an account opens: the snapshot, then the journal's
transactions after it. A torn or corrupt journal tail (a crash during an unacknowledged write) is
cut off and logged. A clean close ends the journal with a marker; without it (a crash), message
files that no record refers to are removed at open. Ids (messages and mailboxes) are unique within an account and never reused
once committed; modseqs come from one per-account counter whose first value is 2.

Write path (durable before it returns, see ``account.py``): message file to ``tmp/``, fsync,
rename into place, fsync its directory (not on Windows); then the transaction is appended to
the journal and fsynced, with concurrent writers sharing one fsync (group commit); then changes
are broadcast to the other sessions of the account. Expunged messages stay as tombstones (for
QRESYNC VANISHED); their files are removed after the commit.

The core is synchronous and thread-safe (``*_sync`` methods, reads, recovery, consistency); the
async methods run the blocking parts with ``trio.to_thread.run_sync``.
"""

from mox.store.account import Account
from mox.store.files import NewMessage, Upload
from mox.store.mailbox_names import check_mailbox_name, normalize_mailbox_name
from mox.store.changes import (
    Change,
    ChangeAddMailbox,
    ChangeAddUID,
    ChangeFlags,
    ChangeMailboxCounts,
    ChangeMailboxKeywords,
    ChangeRemoveMailbox,
    ChangeRemoveUIDs,
    ChangeRenameMailbox,
    ChangeSubscriber,
    ChangeSubscription,
    ChangeThread,
    ChangeMailboxSpecialUse,
    ChangeAnnotation,
)
from mox.store.errors import (
    AccountExists,
    AccountNotFound,
    DiskFull,
    Inconsistent,
    InvalidFlag,
    InvalidMailboxName,
    MailboxExists,
    MailboxHasChildren,
    MailboxNotFound,
    MessageGone,
    MetadataTooLarge,
    MetadataTooMany,
    OverQuota,
    StoreError,
)
from mox.store.schema import (
    SPECIAL_USE,
    SYSTEM_FLAGS,
    Annotation,
    CramMD5State,
    Mailbox,
    Message,
    ScramSecret,
    normalize_flags,
)
from mox.store.store import Store

__all__ = [
    "SPECIAL_USE",
    "SYSTEM_FLAGS",
    "Account",
    "Annotation",
    "AccountExists",
    "AccountNotFound",
    "Change",
    "ChangeAddMailbox",
    "ChangeAddUID",
    "ChangeFlags",
    "ChangeMailboxCounts",
    "ChangeMailboxKeywords",
    "ChangeRemoveMailbox",
    "ChangeRemoveUIDs",
    "ChangeRenameMailbox",
    "ChangeSubscriber",
    "ChangeSubscription",
    "ChangeThread",
    "ChangeMailboxSpecialUse",
    "ChangeAnnotation",
    "CramMD5State",
    "DiskFull",
    "Inconsistent",
    "InvalidFlag",
    "InvalidMailboxName",
    "Mailbox",
    "MailboxExists",
    "MailboxHasChildren",
    "MailboxNotFound",
    "Message",
    "MessageGone",
    "MetadataTooLarge",
    "MetadataTooMany",
    "OverQuota",
    "ScramSecret",
    "Store",
    "StoreError",
    "NewMessage",
    "Upload",
    "check_mailbox_name",
    "normalize_flags",
    "normalize_mailbox_name",
]
