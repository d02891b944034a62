"""MULTISEARCH (RFC 7377): the ESEARCH command over several mailboxes. The RFC's example
(section 2: mailboxes and subtree-one) and the other source options, RETURN options, no
response for a mailbox without matches, the selected mailbox by default, and the refusals:
SAVE or sequence numbers with other mailboxes, no mailbox selected."""

from __future__ import annotations

from mox.imap.responses import UntaggedEsearch

PETER = b"From: Peter Pan <peter@neverland.example>\r\nSubject: hi\r\n\r\nx\r\n"
OTHER = b"From: Wendy <wendy@example.org>\r\nSubject: hi\r\n\r\ny\r\n"


def setup(imap):
    tc = imap.connect()
    for name in ("folder1", "folder2/salmon", "folder2/salmon/deep", "folder2/trout", "Inbox/sub"):
        tc.transact("ok", f"create {name}")
    for mailbox, msgs in {
        "folder1": [PETER, OTHER, PETER],
        "folder2": [PETER],
        "folder2/salmon": [OTHER, PETER],
        "folder2/salmon/deep": [PETER],
        "folder2/trout": [OTHER],
        "Inbox": [PETER],
        "Inbox/sub": [PETER, PETER],
    }.items():
        for m in msgs:
            imap.deliver(m, mailbox=mailbox)
    return tc


def uv(imap, name):
    return imap.account.mailbox(name).uidvalidity


def test_advertised(imap):
    tc = imap.connect()
    tc.transact("ok", "capability")
    assert "MULTISEARCH" in tc.untagged[0][1].decode().split()


def test_rfc7377_example(imap):
    tc = setup(imap)
    tc.transact("ok", 'ESEARCH IN (mailboxes "folder1" subtree-one "folder2") from "Peter Pan"')
    t = tc.result.tag
    # folder2/trout has no match: no response for it; folder2/salmon/deep is two levels down.
    tc.expect_untagged(
        UntaggedEsearch(tag=t, uid=True, all="1,3", mailbox="folder1", uidvalidity=uv(imap, "folder1")),
        UntaggedEsearch(tag=t, uid=True, all="1", mailbox="folder2", uidvalidity=uv(imap, "folder2")),
        UntaggedEsearch(tag=t, uid=True, all="2", mailbox="folder2/salmon", uidvalidity=uv(imap, "folder2/salmon")),
    )
    assert tc.untagged[0][1] == (
        f'* ESEARCH (TAG "{t}" MAILBOX "folder1" UIDVALIDITY {uv(imap, "folder1")}) UID ALL 1,3'.encode()
    )


def test_sources_and_return(imap):
    tc = setup(imap)
    tc.transact("ok", "ESEARCH IN (subtree folder2) RETURN (MIN MAX COUNT) FROM peter")
    t = tc.result.tag
    tc.expect_untagged(
        UntaggedEsearch(tag=t, uid=True, min=1, max=1, count=1, mailbox="folder2", uidvalidity=uv(imap, "folder2")),
        UntaggedEsearch(tag=t, uid=True, min=2, max=2, count=1, mailbox="folder2/salmon", uidvalidity=uv(imap, "folder2/salmon")),
        UntaggedEsearch(tag=t, uid=True, min=1, max=1, count=1, mailbox="folder2/salmon/deep",
                        uidvalidity=uv(imap, "folder2/salmon/deep")),
    )
    tc.transact("ok", "ESEARCH IN (inboxes) RETURN (COUNT) FROM peter")
    t = tc.result.tag
    tc.expect_untagged(
        UntaggedEsearch(tag=t, uid=True, count=1, mailbox="Inbox", uidvalidity=uv(imap, "Inbox")),
        UntaggedEsearch(tag=t, uid=True, count=2, mailbox="Inbox/sub", uidvalidity=uv(imap, "Inbox/sub")),
    )
    # personal: every mailbox; overlapping sources name a mailbox once.
    tc.transact("ok", "ESEARCH IN (personal mailboxes (folder1 Inbox) subscribed) RETURN (COUNT) FROM wendy")
    counts = {r.mailbox: r.count for r, _ in tc.untagged}
    assert counts == {"folder1": 1, "folder2/salmon": 1, "folder2/trout": 1}
    tc.transact("ok", "unsubscribe folder2/trout")
    tc.transact("ok", "ESEARCH IN (subscribed) RETURN (COUNT) FROM wendy")
    assert {r.mailbox for r, _ in tc.untagged} == {"folder1", "folder2/salmon"}
    # A mailbox that does not exist selects nothing.
    tc.transact("ok", "ESEARCH IN (mailboxes nosuchbox) ALL")
    tc.expect_no_untagged()
    tc.transact("ok", "ESEARCH IN (mailboxes folder1) RETURN () UID 2:*")
    tc.expect_untagged(UntaggedEsearch(tag=tc.result.tag, uid=True, all="2:3", mailbox="folder1",
                                       uidvalidity=uv(imap, "folder1")))


def test_selected(imap):
    tc = setup(imap)
    tc.transact("bad", "ESEARCH FROM peter")  # nothing selected: no default mailbox
    tc.transact("bad", "ESEARCH IN (selected) FROM peter")
    tc.transact("ok", "select folder1")
    tc.transact("ok", "ESEARCH FROM peter")
    t = tc.result.tag
    tc.expect_untagged(UntaggedEsearch(tag=t, uid=True, all="1,3", mailbox="folder1", uidvalidity=uv(imap, "folder1")))
    # SAVE and sequence numbers work on the selected mailbox alone.
    tc.transact("ok", "ESEARCH IN (selected) RETURN (SAVE) FROM peter")
    tc.expect_no_untagged()
    tc.transact("ok", "UID SEARCH UID $")
    tc.expect_untagged("* SEARCH 1 3")
    tc.transact("ok", "ESEARCH 2:3 FROM peter")
    tc.expect_untagged(UntaggedEsearch(tag=tc.result.tag, uid=True, all="3", mailbox="folder1",
                                       uidvalidity=uv(imap, "folder1")))
    tc.transact("bad", "ESEARCH IN (personal) RETURN (SAVE) FROM peter")
    tc.transact("bad", "ESEARCH IN (mailboxes folder1 folder2) 1:2")
    tc.transact("bad", "ESEARCH IN (personal) UID $")
    for bad in ("ESEARCH IN () ALL", "ESEARCH IN (bogus) ALL", "ESEARCH IN (subtree) ALL", "ESEARCH IN (personal)",
                "ESEARCH RETURN (PARTIAL) ALL", "ESEARCH IN (personal) RETURN (MIN"):
        tc.transact("bad", bad)
    tc.transact("no", "ESEARCH CHARSET KOI8-R ALL")
