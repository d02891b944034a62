"""CREATE-SPECIAL-USE (RFC 6154 3, 5.2, 5.3): CREATE with a USE parameter, the capability
advertised, the examples of section 5.3 and the edge cases (several attributes, unknown ones,
an empty list, the name already in use)."""

from __future__ import annotations


def test_advertised(imap):
    tc = imap.connect(login=False)
    tc.transact("ok", "capability")
    caps = tc.untagged[0][1].decode().split()
    # mox's order: right after SPECIAL-USE (mox imapserver/server.go).
    assert caps[caps.index("SPECIAL-USE") + 1] == "CREATE-SPECIAL-USE"


def test_rfc6154_examples(imap):
    tc = imap.connect()
    # RFC 6154 5.3: a combination the server does not support is refused, nothing is created.
    tc.transact("no", "CREATE MySpecial (USE (\\Drafts \\Sent))")
    tc.expect_code("USEATTR")
    tc.transact("ok", 'LIST "" MySpecial')
    tc.expect_no_untagged()
    tc.transact("ok", "CREATE MySpecial (USE (\\Drafts))")
    tc.expect_untagged('* LIST (\\Subscribed) "/" MySpecial')
    tc.transact("ok", 'LIST "" MySpecial RETURN (SPECIAL-USE)')
    tc.expect_untagged('* LIST (\\Drafts) "/" MySpecial')
    tc.transact("ok", 'LIST (SPECIAL-USE) "" "*"')
    tc.expect_untagged(
        '* LIST (\\Archive) "/" Archive', '* LIST (\\Drafts) "/" Drafts', '* LIST (\\Junk) "/" Junk',
        '* LIST (\\Drafts) "/" MySpecial', '* LIST (\\Sent) "/" Sent', '* LIST (\\Trash) "/" Trash',
    )


def test_edge_cases(imap):
    tc = imap.connect()
    for attr in ("\\All", "\\Flagged", "\\Important", "\\Bogus", "keyword"):
        tc.transact("no", f"CREATE x (USE ({attr}))")
        tc.expect_code("USEATTR")
    tc.transact("ok", 'LIST "" x')
    tc.expect_no_untagged()
    # Attributes are case-insensitive; they are listed in their canonical case.
    tc.transact("ok", "CREATE a/b (USE (\\aRcHiVe))")
    tc.transact("ok", 'LIST "" a/b RETURN (SPECIAL-USE)')
    tc.expect_untagged('* LIST (\\Archive) "/" a/b')
    tc.transact("ok", 'LIST "" a RETURN (SPECIAL-USE)')
    tc.expect_untagged('* LIST () "/" a')  # the parent CREATE made has no special use
    # An empty USE list is a plain CREATE.
    tc.transact("ok", "CREATE plain (USE ())")
    tc.transact("ok", 'LIST "" plain RETURN (SPECIAL-USE)')
    tc.expect_untagged('* LIST () "/" plain')
    tc.transact("no", "CREATE plain (USE (\\Trash))")
    tc.expect_code("ALREADYEXISTS")
    tc.transact("bad", "CREATE y (USE \\Trash)")
    tc.transact("bad", "CREATE y (BOGUS (\\Trash))")
    # The special use is stored with the mailbox.
    mb = imap.account.mailbox("a/b")
    assert mb is not None and mb.special_use == "\\Archive"
