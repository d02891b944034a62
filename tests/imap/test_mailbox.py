"""CREATE DELETE RENAME SUBSCRIBE UNSUBSCRIBE LIST LSUB NAMESPACE STATUS (RFC 9051 6.3)."""


def test_create(imap):
    tc = imap.connect()
    tc2 = imap.connect()  # observer session
    tc.transact("no", "create inbox")  # INBOX always exists (RFC 9051 6.3.4)
    tc.expect_code("ALREADYEXISTS")
    tc.transact("no", "create Archive")
    tc.expect_code("ALREADYEXISTS")
    tc.transact("no", "create bad//name")
    tc.expect_code("CANNOT")
    tc.transact("no", "create /lead")
    tc.transact("bad", "create")
    tc.transact("ok", "create inbox/a/c")
    tc.expect_untagged('* LIST (\\Subscribed) "/" Inbox/a', '* LIST (\\Subscribed) "/" Inbox/a/c')
    tc2.transact("ok", "noop")
    tc2.expect_untagged('* LIST (\\Subscribed) "/" Inbox/a', '* LIST (\\Subscribed) "/" Inbox/a/c')
    tc.transact("ok", 'create "a b" (use (\\Archive))')
    tc.expect_untagged('* LIST (\\Subscribed) "/" "a b"')
    tc.transact("ok", 'list "" "a b"')
    tc.expect_untagged('* LIST (\\Archive) "/" "a b"')
    tc.transact("no", "create x (use (\\Bogus))")
    tc.expect_code("USEATTR")
    # A trailing hierarchy delimiter only declares that children will follow: it is ignored
    # (RFC 9051 6.3.4); an IMAP4rev2 client is told the name asked for with OLDNAME.
    tc.transact("ok", "create d1/")
    tc.expect_untagged('* LIST (\\Subscribed) "/" d1')
    tc.transact("no", "create Archive/")
    tc.expect_code("ALREADYEXISTS")
    tc.transact("no", "create inbox/")
    tc.expect_code("ALREADYEXISTS")
    tc.transact("no", "create /")
    tc.expect_code("CANNOT")
    tc.transact("ok", "enable imap4rev2")
    tc.transact("ok", "create d2/d3/")
    tc.expect_untagged('* LIST (\\Subscribed) "/" d2', '* LIST (\\Subscribed) "/" d2/d3 ("OLDNAME" ("d2/d3/"))')
    tc.transact("ok", 'list "" d*')
    tc.expect_untagged('* LIST () "/" d1', '* LIST () "/" d2', '* LIST () "/" d2/d3')


def test_create_utf7_and_utf8(imap):
    tc = imap.connect()
    tc.transact("ok", "create Entw&APw-rfe")
    tc.expect_untagged('* LIST (\\Subscribed) "/" Entw&APw-rfe')
    assert imap.account.mailbox("Entwürfe") is not None
    tc.transact("no", "create &bad")  # invalid modified UTF-7: no such name can exist
    tc.expect_code("CANNOT")
    tc.transact("ok", "enable utf8=accept")
    tc.transact("ok", 'create "Ünïcode"')
    tc.expect_untagged('* LIST (\\Subscribed) "/" "Ünïcode"')
    tc.transact("ok", 'list "" "Entw*"')
    tc.expect_untagged('* LIST () "/" "Entwürfe"')


def test_delete(imap):
    tc = imap.connect()
    tc2 = imap.connect()
    tc2.transact("ok", "enable imap4rev2")
    tc.transact("no", "delete inbox")
    tc.transact("no", "delete nonexistent")
    tc.expect_code("NONEXISTENT")
    tc.transact("ok", "create a/b")
    tc.transact("no", "delete a")  # has children
    tc.expect_code("HASCHILDREN")
    tc2.transact("ok", "noop")
    tc.transact("ok", "delete a/b")
    tc.expect_no_untagged()
    tc2.transact("ok", "noop")
    tc2.expect_untagged('* LIST (\\NonExistent) "/" a/b')
    tc.transact("ok", "delete a")
    tc.transact("bad", "delete")


def test_rename(imap):
    tc = imap.connect()
    tc2 = imap.connect()
    tc.transact("ok", "create a/b/c")
    tc.transact("no", "rename nonexistent x")
    tc.expect_code("NONEXISTENT")
    tc.transact("no", "rename a Archive")
    tc.expect_code("ALREADYEXISTS")
    tc2.transact("ok", "noop")
    tc.transact("ok", "rename a x/y")
    tc.expect_no_untagged()
    tc.transact("ok", 'list "" x*')
    tc.expect_untagged('* LIST () "/" x', '* LIST () "/" x/y', '* LIST () "/" x/y/b', '* LIST () "/" x/y/b/c')
    tc2.transact("ok", "noop")
    tc2.expect_untagged_some('* LIST () "/" x/y')
    tc2.transact("ok", "enable imap4rev2")
    tc.transact("ok", "rename x/y z")
    tc2.transact("ok", "noop")  # IMAP4rev2 clients learn the old name (RFC 9051 7.3.1 OLDNAME)
    tc2.expect_untagged_some('* LIST () "/" z ("OLDNAME" ("x/y"))')
    tc.transact("bad", "rename a")


def test_list(imap):
    tc = imap.connect()
    tc.transact("ok", 'list "" ""')  # RFC 9051 6.3.9 (its example; Dovecot the same)
    tc.expect_untagged('* LIST (\\Noselect) "/" ""')
    tc.transact("ok", 'list "" *')
    tc.expect_untagged(
        '* LIST (\\Archive) "/" Archive',
        '* LIST (\\Drafts) "/" Drafts',
        '* LIST () "/" Inbox',
        '* LIST (\\Junk) "/" Junk',
        '* LIST (\\Sent) "/" Sent',
        '* LIST (\\Trash) "/" Trash',
    )
    tc.transact("ok", "create Inbox/sub")
    tc.transact("ok", 'list "" INBOX')
    tc.expect_untagged('* LIST () "/" Inbox')
    tc.transact("ok", 'list "" inbox/%')
    tc.expect_untagged('* LIST () "/" Inbox/sub')
    tc.transact("ok", 'list "inbox/" %')
    tc.expect_untagged('* LIST () "/" Inbox/sub')
    tc.transact("ok", 'list "" %')
    assert len(tc.untagged) == 6
    tc.transact("ok", "unsubscribe Junk")
    tc.transact("ok", 'list (subscribed) "" ("Inbox*" Junk) return (children)')
    tc.expect_untagged('* LIST (\\Subscribed \\HasChildren) "/" Inbox', '* LIST (\\Subscribed \\HasNoChildren) "/" Inbox/sub')
    tc.transact("ok", 'list (subscribed recursivematch) "" % return (subscribed)')
    tc.expect_untagged_some('* LIST (\\Subscribed) "/" Inbox ("CHILDINFO" ("SUBSCRIBED"))')
    tc.transact("ok", 'list "" Junk return (subscribed special-use)')
    tc.expect_untagged('* LIST (\\Junk) "/" Junk')
    tc.transact("ok", 'list "" Inbox return (status (messages uidnext unseen))')
    tc.expect_untagged('* LIST () "/" Inbox', "* STATUS Inbox (MESSAGES 0 UIDNEXT 1 UNSEEN 0)")
    tc.transact("ok", 'list (special-use) "" *')  # RFC 6154 selection option
    tc.expect_untagged(
        '* LIST (\\Archive) "/" Archive',
        '* LIST (\\Drafts) "/" Drafts',
        '* LIST (\\Junk) "/" Junk',
        '* LIST (\\Sent) "/" Sent',
        '* LIST (\\Trash) "/" Trash',
    )
    tc.transact("bad", 'list (bogus) "" *')
    tc.transact("bad", 'list "" * return (bogus)')
    tc.transact("bad", "list")


def test_lsub_subscribe(imap):
    tc = imap.connect()
    tc2 = imap.connect()
    tc.transact("ok", "create a/b")
    tc.transact("ok", "unsubscribe a")
    tc.transact("ok", 'lsub "" a*')
    tc.expect_untagged('* LSUB () "/" a/b')
    tc.transact("ok", 'lsub "" %')
    tc.expect_untagged_some('* LSUB (\\Noselect) "/" a', '* LSUB () "/" Inbox')
    tc2.transact("ok", "noop")
    tc.transact("ok", "subscribe a")
    tc2.transact("ok", "noop")
    tc2.expect_untagged('* LIST (\\Subscribed) "/" a')


def test_subscribe_nonexistent(imap):
    # RFC 9051 6.3.7: SUBSCRIBE needs no mailbox; the name is listed \NonExistent by LIST
    # (SUBSCRIBED) (RFC 5258 3.1) and by LSUB, and stays subscribed when its mailbox is deleted.
    tc = imap.connect()
    tc2 = imap.connect()
    tc.transact("ok", "subscribe nonexistent")
    assert tc.result.text == "SUBSCRIBE done"
    tc.expect_no_untagged()
    tc2.transact("ok", "noop")
    tc2.expect_untagged('* LIST (\\Subscribed \\NonExistent) "/" nonexistent')
    tc.transact("ok", "subscribe nonexistent")  # already: nothing changes
    tc2.transact("ok", "noop")
    tc2.expect_no_untagged()
    tc.transact("ok", 'list (subscribed) "" non*')
    tc.expect_untagged('* LIST (\\Subscribed \\NonExistent) "/" nonexistent')
    tc.transact("ok", 'list "" non*')  # not a mailbox
    tc.expect_no_untagged()
    tc.transact("ok", 'list "" * return (subscribed)')
    assert all("nonexistent" not in raw.decode() for _, raw in tc.untagged)
    tc.transact("ok", 'lsub "" non*')
    tc.expect_untagged('* LSUB () "/" nonexistent')
    tc.transact("no", "select nonexistent")
    tc.transact("ok", "create nonexistent")  # the new mailbox takes the subscription over
    tc.transact("ok", 'list (subscribed) "" non*')
    tc.expect_untagged('* LIST (\\Subscribed) "/" nonexistent')
    tc.transact("ok", "delete nonexistent")  # and deleting it keeps the name subscribed
    tc.transact("ok", 'list (subscribed) "" non* return (children)')
    tc.expect_untagged('* LIST (\\Subscribed \\NonExistent \\HasNoChildren) "/" nonexistent')
    tc.transact("ok", "unsubscribe nonexistent")
    tc.transact("ok", "unsubscribe nonexistent")  # RFC 9051 6.3.8: not subscribed: no change
    tc.transact("ok", 'lsub "" non*')
    tc.expect_no_untagged()
    for bad in ['"a*b"', '"#news"', '""', '"a//b"']:
        tc.transact("no", f"subscribe {bad}")
        tc.expect_code("CANNOT")
    # RFC 3501 6.3.9: "%" hiding a subscribed name below an unsubscribed one that matches: that
    # one is listed with \Noselect, whether it exists or not.
    tc.transact("ok", "subscribe x/y/z")
    tc.transact("ok", "create Archive/sub")
    tc.transact("ok", "unsubscribe Archive")
    tc.transact("ok", 'lsub "" %')
    tc.expect_untagged(
        '* LSUB (\\Noselect) "/" Archive', '* LSUB () "/" Drafts', '* LSUB () "/" Inbox', '* LSUB () "/" Junk',
        '* LSUB () "/" Sent', '* LSUB () "/" Trash', '* LSUB (\\Noselect) "/" x',
    )
    tc.transact("ok", 'lsub "" x/%')
    tc.expect_untagged('* LSUB (\\Noselect) "/" x/y')
    tc.transact("ok", 'lsub "x/" %/%')
    tc.expect_untagged('* LSUB () "/" x/y/z')
    tc.transact("ok", 'lsub "" *')  # "*" hides nothing
    tc.expect_untagged(
        '* LSUB () "/" Archive/sub', '* LSUB () "/" Drafts', '* LSUB () "/" Inbox', '* LSUB () "/" Junk',
        '* LSUB () "/" Sent', '* LSUB () "/" Trash', '* LSUB () "/" x/y/z',
    )
    tc.transact("ok", 'lsub "" "*z"')
    tc.expect_untagged('* LSUB () "/" x/y/z')


def test_namespace_status(imap):
    imap.start()
    imap.deliver(b"Subject: x\r\n\r\nhello\r\n", flags=["\\Deleted"])
    imap.deliver(b"Subject: y\r\n\r\nhello\r\n", flags=["\\Seen"])
    tc = imap.connect()
    tc.transact("ok", "namespace")
    tc.expect_untagged('* NAMESPACE (("" "/")) NIL NIL')
    mb = imap.account.mailbox("Inbox")
    # RECENT: two messages no session has taken as \\Recent yet (RFC 3501 6.3.10).
    tc.transact("ok", "status inbox (messages uidnext uidvalidity unseen deleted size recent appendlimit deleted-storage)")
    tc.expect_untagged(
        f"* STATUS Inbox (MESSAGES 2 UIDNEXT 3 UIDVALIDITY {mb.uidvalidity} UNSEEN 1 DELETED 1 SIZE {mb.size} "
        "RECENT 2 APPENDLIMIT 1073741824 DELETED-STORAGE 0)"
    )
    tc.transact("ok", "status inbox (highestmodseq)")
    tc.expect_untagged(f"* STATUS Inbox (HIGHESTMODSEQ {imap.account.messages(mb.id)[-1].modseq})")
    tc.transact("no", "status nonexistent (messages)")
    tc.expect_code("NONEXISTENT")
    tc.transact("bad", "status inbox (bogus)")
    tc.transact("bad", "status inbox")


def test_rename_inbox(imap):
    imap.start()
    imap.deliver(b"Subject: x\r\n\r\nbody\r\n")
    tc = imap.connect()
    tc.transact("ok", "rename inbox Old")
    tc.transact("ok", "status Old (messages)")
    tc.expect_untagged("* STATUS Old (MESSAGES 1)")
    tc.transact("ok", "status inbox (messages)")
    tc.expect_untagged("* STATUS Inbox (MESSAGES 0)")


def test_list_many_wildcards_is_fast(imap):
    # Patterns are matched without backtracking regular expressions.
    tc = imap.connect()
    tc.transact("ok", "create " + "a" * 60)
    tc.transact("ok", 'list "" "' + "*a" * 30 + 'b"')
    tc.expect_no_untagged()
    tc.transact("ok", 'list "" "' + "%a" * 30 + '"')
    tc.expect_untagged('* LIST () "/" ' + "a" * 60)


def test_mailbox_imaplib(imap):
    import imaplib

    imap.start()
    c = imaplib.IMAP4("127.0.0.1", imap.ports["imap"])
    c.login("mox@localhost", "moxmoxmox")
    assert c.create("Projects/2024")[0] == "OK"
    typ, data = c.list('""', "Projects*")
    # imaplib also hands out the LIST responses CREATE sent; ours are the last two.
    assert data[-2:] == [b'() "/" Projects', b'() "/" Projects/2024']
    assert c.rename("Projects", "Old")[0] == "OK"
    assert c.status("Old/2024", "(MESSAGES UIDNEXT)")[1] == [b"Old/2024 (MESSAGES 0 UIDNEXT 1)"]
    assert c.delete("Old/2024")[0] == "OK"
    assert c.delete("Old/2024")[0] == "NO"
    c.logout()


def test_create_invalid_names(imap):
    tc = imap.connect()
    tc.transact("ok", "enable utf8=accept")
    # (A trailing "/" is not invalid: it is ignored, RFC 9051 6.3.4; see test_create.)
    for name in ['"#news"', '"a%b"', '"a*"', '"e\u0301"', '"a\x7fb"']:
        tc.transact("no", f"create {name}")
        tc.expect_code("CANNOT")


def test_recreated_mailbox_new_uidvalidity(imap):
    # UIDs are never reused under one UIDVALIDITY (RFC 9051 2.3.1.1): a mailbox created again
    # under a name that was deleted or renamed away gets a new UIDVALIDITY, so sync tools
    # (mbsync, offlineimap) start over instead of mixing up messages.
    tc = imap.connect()

    def status(name):
        tc.transact("ok", f"status {name} (uidvalidity uidnext)")
        mb = imap.account.mailbox(name)
        tc.expect_untagged(f"* STATUS {name} (UIDVALIDITY {mb.uidvalidity} UIDNEXT {mb.uidnext})")
        return mb.uidvalidity

    tc.transact("ok", "create x")
    tc.transact("ok", "append x ", b"Subject: x\r\n\r\nx\r\n")
    v1 = status("x")
    tc.transact("ok", "delete x")
    tc.transact("ok", "create x")
    v2 = status("x")
    tc.transact("ok", "rename x y")
    assert status("y") == v2  # a renamed mailbox keeps its UIDVALIDITY
    tc.transact("ok", "create x")
    v3 = status("x")
    assert len({v1, v2, v3}) == 3


SPECIALS = "!#$&'+,-.:;<=>?@^_`|}"


def test_names_not_modified_utf7(imap):
    # A name with atom-specials that is no valid modified UTF-7 (RFC 3501 5.1.3) is still a
    # syntactically valid astring: commands on it answer NO (as Dovecot), LIST with it as
    # pattern answers normally, and the connection goes on.
    imap.start()
    imap.deliver(b"Subject: x\r\n\r\nx\r\n")
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    for form in ['"' + SPECIALS + '"', SPECIALS, b"" + SPECIALS.encode()]:
        parts = ("select ", form) if isinstance(form, bytes) else (f"select {form}",)
        tc.transact("no", *parts)
        tc.expect_code("CANNOT")
        tc.expect_untagged_some("* OK [CLOSED] x")  # the failed SELECT closed Inbox (RFC 9051 6.3.2)
        tc.transact("no", "fetch 1 flags")  # not selected any more
        tc.transact("ok", "select inbox")
    q = '"' + SPECIALS + '"'
    for cmd in [f"examine {q}", f"status {q} (messages)", f"create {q}", f"delete {q}", f"rename {q} x",
                f"rename Archive {q}", f"subscribe {q}", f"unsubscribe {q}", f"getquotaroot {q}",
                f"copy 1 {q}", f"move 1 {q}"]:
        if cmd.startswith("examine"):
            tc.transact("no", cmd)
            tc.transact("ok", "select inbox")
            continue
        tc.transact("no", cmd)
        tc.expect_code("CANNOT")
    tc.transact("no", f"append {q} ", b"Subject: y\r\n\r\ny\r\n")
    tc.transact("ok", f'list "" {q}')
    tc.expect_no_untagged()
    tc.transact("ok", f'list "" {SPECIALS}')
    tc.expect_no_untagged()
    tc.transact("ok", f'lsub "" {q}')
    tc.expect_no_untagged()
    tc.transact("ok", "noop")
    assert [m.name for m in imap.account.mailboxes()] == ["Archive", "Drafts", "Inbox", "Junk", "Sent", "Trash"]
    # With UTF8=ACCEPT the same name is plain UTF-8: it does not exist, and can be created.
    tc.transact("ok", "enable utf8=accept")
    tc.transact("no", f"select {q}")
    tc.expect_code("NONEXISTENT")
    tc.transact("ok", f"create {q}")
    tc.transact("ok", f"select {q}")
