"""Account operations: every write with the exact Change records other sessions get, counts and
the consistency check after each."""

from __future__ import annotations

import threading

import msgspec
import pytest
from storetest import msg

from mox.store import (
    AccountExists,
    AccountNotFound,
    ChangeAddMailbox,
    ChangeAddUID,
    ChangeFlags,
    ChangeMailboxCounts,
    ChangeMailboxKeywords,
    ChangeRemoveMailbox,
    ChangeRemoveUIDs,
    ChangeRenameMailbox,
    ChangeSubscription,
    InvalidFlag,
    InvalidMailboxName,
    MailboxExists,
    MailboxHasChildren,
    MailboxNotFound,
    MessageGone,
    OverQuota,
    Store,
    StoreError,
)

def counts(mb):
    return dict(total=mb.total, deleted=mb.deleted, unread=mb.unread, unseen=mb.unseen, size=mb.size)


def consistent(acc):
    assert acc.check_consistency() == []


def test_create_account_defaults(store):
    assert store.account_names() == ["mox"]
    with pytest.raises(AccountExists):
        store.create_account("mox")
    with pytest.raises(AccountNotFound):
        store.open_account("nobody")
    with pytest.raises(StoreError):
        store.create_account("../x")
    acc = store.open_account("mox")
    assert store.open_account("mox") is acc  # shared
    names = [(mb.name, mb.special_use, mb.subscribed) for mb in acc.mailboxes()]
    assert names == [
        ("Archive", r"\Archive", True),
        ("Drafts", r"\Drafts", True),
        ("Inbox", None, True),
        ("Junk", r"\Junk", True),
        ("Sent", r"\Sent", True),
        ("Trash", r"\Trash", True),
    ]
    assert len({mb.uidvalidity for mb in acc.mailboxes()}) == 1
    assert acc.mailbox("INBOX").name == "Inbox"
    assert acc.mailbox("iNbOx").id == acc.mailbox("Inbox").id
    assert acc.mailbox("inbox2") is None
    assert acc.disk_usage() == 0
    consistent(acc)
    acc.close()
    acc.close()


@pytest.mark.trio
async def test_deliver(acc):
    sub = acc.subscribe()
    inbox = acc.mailbox("Inbox")
    data = msg(1)
    m = await acc.deliver("inbox", data, flags=[r"\seen", "$junk", "MyKeyword"], received=1000.5)
    assert (m.mailbox_id, m.uid, m.modseq, m.createseq, m.size, m.received) == (inbox.id, 1, 2, 2, len(data), 1000.5)
    assert m.flags == (r"\Seen", "$Junk", "mykeyword")
    assert not m.expunged
    assert acc.read_message(m) == data
    assert m.part.envelope.subject == "test 1"
    assert m.part.body_end == len(data)
    rel = acc.message_path(m).relative_to(acc.path)
    assert rel.parts == ("msg", "0", str(m.id))
    ib = acc.mailbox("Inbox")
    assert (ib.uidnext, ib.keywords, ib.highest_modseq) == (2, ("mykeyword",), 2)
    assert counts(ib) == dict(total=1, deleted=0, unread=0, unseen=0, size=len(data))
    assert sub.pending() == [
        ChangeAddUID(inbox.id, 1, 2, (r"\Seen", "$Junk", "mykeyword")),
        ChangeMailboxCounts(ib),
        ChangeMailboxKeywords(inbox.id, ("mykeyword",)),
    ]
    m2 = await acc.deliver("Inbox", msg(2), origin=sub)  # origin does not hear its own change
    assert (m2.uid, m2.modseq) == (2, 3)
    assert sub.pending() == []
    assert acc.disk_usage() == len(data) + len(msg(2))
    assert [x.uid for x in acc.messages(inbox.id)] == [1, 2]
    assert acc.message(inbox.id, 2) == m2
    assert len({m2, acc.message(inbox.id, 2)}) == 1  # hashable, equal by value
    with pytest.raises(MailboxNotFound):
        await acc.deliver("Nope", msg(3))
    with pytest.raises(InvalidFlag):
        await acc.deliver("Inbox", msg(3), flags=[r"\Recent"])
    consistent(acc)


def test_deliver_before_visible(acc):
    """before_visible gets the new message's record before it is applied, while the account's
    lock keeps every reader out (what mox.ci links to the message is in place when it can be
    found); it is not called when a keyed delivery stores nothing; when it raises, nothing is
    stored."""
    inbox = acc.mailbox("Inbox")
    seen = []

    def reader_could_enter() -> bool:
        got: list[bool] = []

        def probe() -> None:
            got.append(acc._cond.acquire(blocking=False))
            if got[0]:
                acc._cond.release()

        t = threading.Thread(target=probe)
        t.start()
        t.join()
        return got[0]

    def before_visible(m):
        seen.append((m.id, m.uid, m.id in acc._by_id, reader_could_enter()))

    m = acc.deliver_sync("Inbox", msg(1), before_visible=before_visible)
    assert seen == [(m.id, 1, False, False)]
    m2 = acc.deliver_once_sync("Inbox", msg(2), "key-2", before_visible=before_visible)
    assert seen[1:] == [(m2.id, 2, False, False)]
    assert acc.deliver_once_sync("Inbox", msg(2), "key-2", before_visible=before_visible) is None
    assert len(seen) == 2

    def refuse(m):
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError):
        acc.deliver_sync("Inbox", msg(3), before_visible=refuse)
    assert [x.uid for x in acc.messages(inbox.id)] == [1, 2]
    assert sorted(p.name for p in (acc.path / "msg").rglob("*") if p.is_file()) == sorted([str(m.id), str(m2.id)])
    consistent(acc)


@pytest.mark.trio
async def test_store_flags(acc):
    inbox = acc.mailbox("Inbox").id
    for i in range(3):
        await acc.deliver("Inbox", msg(i))
    sub = acc.subscribe()
    changed, failed = await acc.store_flags(inbox, [1, 2, 9], "add", [r"\Seen", "Work"])
    assert failed == []
    assert [(m.uid, m.modseq, m.flags) for m in changed] == [(1, 5, (r"\Seen", "work")), (2, 5, (r"\Seen", "work"))]
    mb = acc.mailbox_by_id(inbox)
    assert counts(mb) == dict(total=3, deleted=0, unread=1, unseen=1, size=mb.size)
    assert (mb.keywords, mb.highest_modseq) == (("work",), 5)
    assert sub.pending() == [
        ChangeFlags(inbox, 1, 5, (r"\Seen", "work")),
        ChangeFlags(inbox, 2, 5, (r"\Seen", "work")),
        ChangeMailboxCounts(mb),
        ChangeMailboxKeywords(inbox, ("work",)),
    ]
    # Nothing changes: no modseq, no changes.
    changed, failed = await acc.store_flags(inbox, [1], "add", [r"\Seen"])
    assert (changed, failed, sub.pending()) == ([], [], [])
    # UNCHANGEDSINCE (RFC 7162 3.1.3): uid 1 has modseq 5, uid 3 has modseq 4.
    changed, failed = await acc.store_flags(inbox, [1, 3], "replace", [r"\Deleted"], unchangedsince=4)
    assert failed == [1]
    assert [(m.uid, m.modseq, m.flags) for m in changed] == [(3, 6, (r"\Deleted",))]
    mb = acc.mailbox_by_id(inbox)
    assert counts(mb) == dict(total=2, deleted=1, unread=0, unseen=1, size=mb.size)
    assert sub.pending() == [ChangeFlags(inbox, 3, 6, (r"\Deleted",)), ChangeMailboxCounts(mb)]
    changed, _ = await acc.store_flags(inbox, [1, 2], "remove", ["WORK"])
    assert [m.flags for m in changed] == [(r"\Seen",), (r"\Seen",)]
    assert acc.mailbox_by_id(inbox).keywords == ("work",)  # the keyword set only grows
    with pytest.raises(ValueError):
        await acc.store_flags(inbox, [1], "toggle", [r"\Seen"])
    consistent(acc)


@pytest.mark.trio
async def test_expunge(acc):
    inbox = acc.mailbox("Inbox").id
    ms = [await acc.deliver("Inbox", msg(i)) for i in range(3)]
    sub = acc.subscribe()
    assert await acc.expunge(inbox, [1, 3, 7]) == [1, 3]
    mb = acc.mailbox_by_id(inbox)
    assert sub.pending() == [ChangeRemoveUIDs(inbox, [1, 3], 5, (ms[0].id, ms[2].id)), ChangeMailboxCounts(mb)]
    assert counts(mb) == dict(total=1, deleted=0, unread=1, unseen=1, size=ms[1].size)
    assert [m.uid for m in acc.messages(inbox)] == [2]
    assert acc.message(inbox, 1) is None
    assert acc.expunged_uids(inbox, 0) == [1, 3]
    assert acc.expunged_uids(inbox, 5) == []
    assert not acc.message_path(ms[0]).exists()  # removed after the commit
    with pytest.raises(MessageGone):  # a session that still shows it
        acc.read_message(ms[0])
    assert acc.message_path(ms[1]).exists()
    assert acc.disk_usage() == ms[1].size
    assert mb.highest_modseq == 5
    assert await acc.expunge(inbox, [1]) == []
    assert sub.pending() == []
    consistent(acc)


@pytest.mark.trio
async def test_copy_and_move(acc):
    inbox = acc.mailbox("Inbox").id
    archive = acc.mailbox("Archive").id
    for i in range(3):
        await acc.deliver("Inbox", msg(i), flags=[r"\Flagged", "kw"] if i == 1 else [])
    sub = acc.subscribe()
    assert await acc.copy(inbox, [2, 3], archive) == [(2, 1), (3, 2)]
    arch = acc.mailbox_by_id(archive)
    assert sub.pending() == [
        ChangeAddUID(archive, 1, 5, (r"\Flagged", "kw")),
        ChangeAddUID(archive, 2, 5, ()),
        ChangeMailboxCounts(arch),
        ChangeMailboxKeywords(archive, ("kw",)),
    ]
    copied = acc.message(archive, 1)
    assert copied.flags == (r"\Flagged", "kw")  # COPY keeps flags
    assert copied.createseq == 5
    assert acc.read_message(copied) == acc.read_message(acc.message(inbox, 2))
    assert copied.received == acc.message(inbox, 2).received
    size = acc.disk_usage()
    moved = (acc.message(inbox, 1).id, acc.message(inbox, 2).id)
    assert await acc.move(inbox, [1, 2], archive) == [(1, 3), (2, 4)]
    ib = acc.mailbox_by_id(inbox)
    arch = acc.mailbox_by_id(archive)
    assert sub.pending() == [
        ChangeRemoveUIDs(inbox, [1, 2], 6, moved),
        ChangeMailboxCounts(ib),
        ChangeAddUID(archive, 3, 6, ()),
        ChangeAddUID(archive, 4, 6, (r"\Flagged", "kw")),
        ChangeMailboxCounts(arch),
    ]
    assert acc.disk_usage() == size  # a move does not change usage
    assert acc.expunged_uids(inbox, 0) == [1, 2]
    assert [m.uid for m in acc.messages(inbox)] == [3]
    assert counts(arch)["total"] == 4
    assert await acc.copy(inbox, [99], archive) == []
    with pytest.raises(MailboxNotFound):
        await acc.copy(inbox, [3], 12345)
    consistent(acc)


@pytest.mark.trio
async def test_create_mailbox(acc):
    sub = acc.subscribe()
    created = await acc.create_mailbox("inbox/a/b")
    assert [(mb.name, mb.subscribed, mb.uidnext) for mb in created] == [("Inbox/a", True, 1), ("Inbox/a/b", True, 1)]
    assert sub.pending() == [ChangeAddMailbox(created[0]), ChangeAddMailbox(created[1])]
    uvs = {mb.uidvalidity for mb in acc.mailboxes()}
    assert len(uvs) == 3  # defaults share one, each new one gets its own
    assert (await acc.create_mailbox("Lists", special_use=r"\Archive"))[0].special_use == r"\Archive"
    with pytest.raises(MailboxExists):
        await acc.create_mailbox("INBOX")
    with pytest.raises(MailboxExists):
        await acc.create_mailbox("Inbox/a")
    for bad in ["", "a//b", "/a", "a/", "a\x01", "a*", "%", "#x"]:
        with pytest.raises(InvalidMailboxName):
            await acc.create_mailbox(bad)
    consistent(acc)


@pytest.mark.trio
async def test_delete_mailbox(acc):
    await acc.create_mailbox("a/b")
    b = acc.mailbox("a/b")
    m = await acc.deliver("a/b", msg(1))
    await acc.deliver("a/b", msg(2))
    await acc.expunge(b.id, [2])
    sub = acc.subscribe()
    with pytest.raises(MailboxHasChildren):
        await acc.delete_mailbox("a")
    with pytest.raises(StoreError):
        await acc.delete_mailbox("Inbox")
    with pytest.raises(MailboxNotFound):
        await acc.delete_mailbox("nope")
    await acc.delete_mailbox("a/b")
    assert sub.pending() == [ChangeRemoveMailbox(b.id, "a/b", (m.id,))]
    assert acc.mailbox("a/b") is None
    assert acc.messages(b.id) == []
    assert not acc.message_path(m).exists()
    assert acc.disk_usage() == 0
    await acc.delete_mailbox("a")
    assert [mb.name for mb in acc.mailboxes()] == ["Archive", "Drafts", "Inbox", "Junk", "Sent", "Trash"]
    consistent(acc)


@pytest.mark.trio
async def test_rename_mailbox(acc):
    await acc.create_mailbox("a/b/c")
    a, b, c = acc.mailbox("a"), acc.mailbox("a/b"), acc.mailbox("a/b/c")
    await acc.deliver("a/b", msg(1))
    sub = acc.subscribe()
    await acc.rename_mailbox("a", "x/y")
    x = acc.mailbox("x")
    assert sub.pending() == [
        ChangeAddMailbox(x),
        ChangeRenameMailbox(a.id, "a", "x/y"),
        ChangeRenameMailbox(b.id, "a/b", "x/y/b"),
        ChangeRenameMailbox(c.id, "a/b/c", "x/y/b/c"),
    ]
    assert acc.mailbox("a") is None
    moved = acc.mailbox("x/y/b")
    assert (moved.id, moved.uidvalidity, moved.total) == (b.id, b.uidvalidity, 1)
    assert acc.message(b.id, 1) is not None
    with pytest.raises(MailboxExists):
        await acc.rename_mailbox("x", "Archive")
    with pytest.raises(MailboxNotFound):
        await acc.rename_mailbox("a", "q")
    with pytest.raises(InvalidMailboxName):
        await acc.rename_mailbox("x", "x/z")
    consistent(acc)


@pytest.mark.trio
async def test_rename_inbox(acc):
    inbox = acc.mailbox("Inbox")
    await acc.create_mailbox("Inbox/child")
    for i in range(2):
        await acc.deliver("Inbox", msg(i), flags=[r"\Seen"])
    sub = acc.subscribe()
    moved = tuple(m.id for m in acc.messages(inbox.id))
    await acc.rename_mailbox("INBOX", "Old/Mail")
    old, mail = acc.mailbox("Old"), acc.mailbox("Old/Mail")
    ib = acc.mailbox("Inbox")
    assert sub.pending() == [
        ChangeAddMailbox(old),
        ChangeAddMailbox(msgspec.structs.replace(mail, uidnext=1, total=0, unread=0, unseen=0, size=0, highest_modseq=0)),
        ChangeRemoveUIDs(inbox.id, [1, 2], 4, moved),
        ChangeMailboxCounts(ib),
        ChangeAddUID(mail.id, 1, 4, (r"\Seen",)),
        ChangeAddUID(mail.id, 2, 4, (r"\Seen",)),
        ChangeMailboxCounts(mail),
    ]
    assert (ib.id, ib.total, ib.uidnext) == (inbox.id, 0, 3)
    assert (mail.total, mail.uidnext) == (2, 3)
    assert acc.mailbox("Inbox/child") is not None  # children of Inbox stay
    assert acc.read_message(acc.message(mail.id, 2)) == msg(1)
    consistent(acc)


@pytest.mark.trio
async def test_subscribed(acc):
    sub = acc.subscribe()
    await acc.set_subscribed("Junk", False)
    assert sub.pending() == [ChangeSubscription("Junk", False)]
    assert not acc.mailbox("Junk").subscribed
    await acc.set_subscribed("Junk", False)
    assert sub.pending() == []
    sub.close()
    await acc.set_subscribed("Junk", True)
    assert sub.pending() == []


@pytest.mark.trio
async def test_subscribed_names_without_mailbox(acc):
    # RFC 9051 6.3.7: a name may be subscribed without a mailbox, and a deleted mailbox stays
    # subscribed; a mailbox created under a subscribed name takes the subscription over.
    sub = acc.subscribe()
    default = ["Archive", "Drafts", "Inbox", "Junk", "Sent", "Trash"]
    await acc.set_subscribed("junk", True)  # names are case-sensitive, except Inbox: no mailbox
    assert sub.pending() == [ChangeSubscription("junk", True)]
    await acc.set_subscribed("junk", True)
    await acc.set_subscribed("never", False)
    assert sub.pending() == []
    assert acc.subscriptions() == sorted(default + ["junk"])
    assert acc.mailbox("junk") is None
    with pytest.raises(InvalidMailboxName):
        await acc.set_subscribed("a*", True)
    await acc.create_mailbox("x/y")
    await acc.set_subscribed("x/y", False)
    await acc.delete_mailbox("x/y")
    await acc.delete_mailbox("x")
    assert acc.subscriptions() == sorted(default + ["junk", "x"])
    await acc.set_subscribed("x", False)
    assert acc.subscriptions() == sorted(default + ["junk"])
    consistent(acc)
    await acc.create_mailbox("junk/sub")
    assert acc.mailbox("junk").subscribed and acc.subscriptions() == sorted(default + ["junk", "junk/sub"])
    await acc.set_subscribed("gone", True)
    await acc.create_mailbox("old")
    await acc.set_subscribed("old", False)
    await acc.rename_mailbox("old", "gone")  # the new name was subscribed: it stays so
    assert acc.mailbox("gone").subscribed and "old" not in acc.subscriptions()
    consistent(acc)
    sub.close()


@pytest.mark.trio
async def test_subscription_wait(acc):
    import trio

    sub = acc.subscribe()
    got = []

    async def waiter():
        await sub.wait()
        got.extend(sub.pending())

    async with trio.open_nursery() as n:
        n.start_soon(waiter)
        await trio.sleep(0)
        await acc.deliver("Inbox", msg(1))
    assert [type(c).__name__ for c in got] == ["ChangeAddUID", "ChangeMailboxCounts"]


@pytest.mark.trio
async def test_quota(data_dir, logs):
    with Store(data_dir, quota=250, check_consistency_on_close=True) as s:
        s.create_account("q")
        acc = s.open_account("q")
        inbox = acc.mailbox("Inbox").id
        await acc.deliver("Inbox", b"x" * 200)
        with pytest.raises(OverQuota):
            await acc.deliver("Inbox", b"y" * 51)
        with pytest.raises(OverQuota):
            await acc.copy(inbox, [1], inbox)
        assert await acc.move(inbox, [1], acc.mailbox("Archive").id) == [(1, 1)]  # usage unchanged
        acc.quota = 0  # per-account override: unlimited
        await acc.deliver("Inbox", b"y" * 500)
        assert acc.disk_usage() == 700
        assert sorted(p.name for p in (data_dir / "tmp").iterdir()) == []
        acc.close()


@pytest.mark.trio
async def test_password(acc, store):
    assert not acc.has_password()
    assert not acc.check_password("moxmoxmox")
    assert acc.scram_secrets("SHA-256") is None
    await acc.set_password("te\u0301st \u00a0\u2002\u200a")
    assert acc.has_password()
    assert acc.check_password("t\u00e9st    ")  # PRECIS-style: NFC, spaces mapped
    assert not acc.check_password("test")
    s256 = acc.scram_secrets("SHA-256")
    s1 = acc.scram_secrets("SHA-1")
    assert (s1.iterations, s256.iterations, len(s1.salt), len(s256.salt)) == (8192, 4096, 12, 12)
    import hashlib
    import hmac

    pw = "t\u00e9st    ".encode()
    assert s256.salted_password == hashlib.pbkdf2_hmac("sha256", pw, s256.salt, 4096)
    challenge = b"<1896.697170952@postoffice.example.net>"
    assert acc.cram_md5_state().hmac(challenge) == hmac.new(pw, challenge, "md5").digest()
    # No plain password anywhere in the index files.
    for name in ("index.journal", "index.snapshot"):
        p = acc.path / name
        if p.exists():
            assert pw not in p.read_bytes()
    acc.close()
    acc2 = store.open_account("mox")  # reloaded from disk
    assert acc2.check_password("t\u00e9st    ")
    acc2.close()


@pytest.mark.trio
async def test_consistency_check_finds_problems(data_dir, logs):
    from mox.store import Inconsistent

    s = Store(data_dir, check_consistency_on_close=True)
    s.create_account("mox")
    acc = s.open_account("mox")
    m = await acc.deliver("Inbox", msg(1))
    m2 = await acc.deliver("Inbox", msg(2))
    assert acc.check_consistency() == []
    acc.message_path(m).write_bytes(b"short")
    acc.message_path(m2).unlink()
    where = f"message {m.id} (mailbox 'Inbox' uid 1)"
    assert acc.check_consistency() == [
        f"{where}: file size 5 != {m.size}",
        f"message {m2.id} (mailbox 'Inbox' uid 2): file missing",
    ]
    with pytest.raises(Inconsistent) as exc:
        acc.close()
    assert exc.value.problems == acc.check_consistency()
    s.close()


@pytest.mark.trio
async def test_rename_empty_inbox(acc):
    sub = acc.subscribe()
    await acc.rename_mailbox("Inbox", "Saved")
    saved = acc.mailbox("Saved")
    assert sub.pending() == [ChangeAddMailbox(saved)]
    assert (saved.total, saved.uidnext, acc.mailbox("Inbox").total) == (0, 1, 0)
    with pytest.raises(MailboxExists):
        await acc.rename_mailbox("Inbox", "Saved")
    consistent(acc)


@pytest.mark.trio
async def test_claim_recent(store, acc):
    # RFC 3501 2.3.2: each message is \Recent for exactly one session, the first to claim it;
    # claims survive closing the account (they reach the journal with the next write or the
    # close, without an fsync of their own).
    inbox = acc.mailbox("Inbox")
    for i in range(3):
        await acc.deliver("Inbox", msg(i))
    assert acc.first_recent_uid(inbox.id) == 1
    assert acc.claim_recent(inbox.id, 2) == 1  # messages 1 and 2
    assert acc.claim_recent(inbox.id, 2) == 3  # nothing left up to 2
    assert acc.first_recent_uid(inbox.id) == 3
    assert acc.claim_recent(inbox.id, 3) == 3
    assert acc.claim_recent(inbox.id, 3) == 4
    await acc.deliver("Inbox", msg(4))
    await acc.copy(inbox.id, [1], inbox.id)  # a copy is new: uid 5
    assert acc.first_recent_uid(inbox.id) == 4
    consistent(acc)
    acc.close()  # the last claim has not been written by a transaction of its own
    acc = store.open_account("mox")
    assert acc.first_recent_uid(inbox.id) == 4
    assert acc.claim_recent(inbox.id, 5) == 4
    acc.snapshot()
    acc.close()
    acc = store.open_account("mox")
    assert acc.first_recent_uid(inbox.id) == 6
    assert acc.claim_recent(acc.mailbox("Archive").id, 0) == 1  # empty: nothing to claim
    assert acc.claim_recent(12345, 1) == 2  # no such mailbox
    consistent(acc)
