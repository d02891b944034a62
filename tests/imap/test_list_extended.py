"""LIST-EXTENDED (RFC 5258): the examples of its section 5, each on the example's mailbox tree.

Differences from the RFC's text that are ours by design: the inbox is listed as ``Inbox`` without
``\\Marked \\NoInferiors`` (we keep no \\Marked state and the inbox may have children); every
mailbox's parents exist (CREATE makes them), so example 9's "qux2" exists (unsubscribed) and
example 11 (a server with missing hierarchy levels) has no counterpart; REMOTE selects no remote
mailboxes (there are none). Attributes come in one order: \\Subscribed, \\NonExistent,
\\HasChildren/\\HasNoChildren, then a special use.
"""

from __future__ import annotations

DEFAULTS = ["Archive", "Drafts", "Junk", "Sent", "Trash"]


def tree(imap, create: list[str], subscribed: list[str], keep: tuple[str, ...] = ()):
    """A connection on an account holding Inbox and ``create`` (with their parents), and exactly
    the subscriptions ``subscribed`` (names that are no mailbox included)."""
    tc = imap.connect()
    for name in DEFAULTS:
        if name not in keep:
            tc.transact("ok", f"delete {name}")
    for name in create:
        tc.transact("ok", f"create {name}")
    names = {"Inbox", *DEFAULTS}
    for name in create:
        parts = name.split("/")
        names.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    for name in sorted(names - set(subscribed)):
        tc.transact("ok", f"unsubscribe {name}")
    for name in subscribed:
        tc.transact("ok", f"subscribe {name}")
    tc.transact("ok", 'LSUB "" "*"')
    tc.expect_untagged(*[f'* LSUB () "/" {name}' for name in subscribed])
    return tc


def lines(*items: str) -> list[str]:
    return [f"* LIST {item}" for item in items]


def test_rfc5258_examples_1_to_6(imap):
    tc = tree(
        imap,
        ["Fruit/Apple", "Fruit/Banana", "Tofu", "Vegetable/Broccoli", "Vegetable/Corn"],
        ["Inbox", "Fruit/Banana", "Fruit/Peach", "Vegetable", "Vegetable/Broccoli"],
    )
    # 1: the complete hierarchy.
    tc.transact("ok", 'LIST "" "*"')
    tc.expect_untagged(*lines(
        '() "/" Fruit', '() "/" Fruit/Apple', '() "/" Fruit/Banana', '() "/" Inbox', '() "/" Tofu',
        '() "/" Vegetable', '() "/" Vegetable/Broccoli', '() "/" Vegetable/Corn',
    ))
    # 2: subscribed names; "Fruit/Peach" is subscribed but does not exist.
    subscribed = lines(
        '(\\Subscribed) "/" Fruit/Banana', '(\\Subscribed \\NonExistent) "/" Fruit/Peach', '(\\Subscribed) "/" Inbox',
        '(\\Subscribed) "/" Vegetable', '(\\Subscribed) "/" Vegetable/Broccoli',
    )
    tc.transact("ok", 'LIST (SUBSCRIBED) "" "*"')
    tc.expect_untagged(*subscribed)
    # 3: CHILDREN.
    children = lines(
        '(\\HasChildren) "/" Fruit', '(\\HasNoChildren) "/" Inbox', '(\\HasNoChildren) "/" Tofu',
        '(\\HasChildren) "/" Vegetable',
    )
    tc.transact("ok", 'LIST () "" "%" RETURN (CHILDREN)')
    tc.expect_untagged(*children)
    # 4 and 5: REMOTE adds nothing here (no remote mailboxes).
    tc.transact("ok", 'LIST (REMOTE) "" "%" RETURN (CHILDREN)')
    tc.expect_untagged(*children)
    tc.transact("ok", 'LIST (REMOTE SUBSCRIBED) "" "*"')
    tc.expect_untagged(*subscribed)
    # 6: subscription state of the mailboxes; "Fruit/Peach" is no mailbox, so it is not listed.
    tc.transact("ok", 'LIST (REMOTE) "" "*" RETURN (SUBSCRIBED)')
    tc.expect_untagged(*lines(
        '() "/" Fruit', '() "/" Fruit/Apple', '(\\Subscribed) "/" Fruit/Banana', '(\\Subscribed) "/" Inbox',
        '() "/" Tofu', '(\\Subscribed) "/" Vegetable', '(\\Subscribed) "/" Vegetable/Broccoli', '() "/" Vegetable/Corn',
    ))
    # Both return options together; and SUBSCRIBED selection with CHILDREN (attributes are
    # computed accurately, RFC 5258 3.2: also for the name that is no mailbox).
    tc.transact("ok", 'LIST "" "%" RETURN (CHILDREN SUBSCRIBED)')
    tc.expect_untagged(*lines(
        '(\\HasChildren) "/" Fruit', '(\\Subscribed \\HasNoChildren) "/" Inbox', '(\\HasNoChildren) "/" Tofu',
        '(\\Subscribed \\HasChildren) "/" Vegetable',
    ))
    tc.transact("ok", 'LIST (SUBSCRIBED) "" "*" RETURN (CHILDREN)')
    tc.expect_untagged(*lines(
        '(\\Subscribed \\HasNoChildren) "/" Fruit/Banana', '(\\Subscribed \\NonExistent \\HasNoChildren) "/" Fruit/Peach',
        '(\\Subscribed \\HasNoChildren) "/" Inbox', '(\\Subscribed \\HasChildren) "/" Vegetable',
        '(\\Subscribed \\HasNoChildren) "/" Vegetable/Broccoli',
    ))
    # RECURSIVEMATCH alone is refused (RFC 5258 3.1).
    tc.transact("bad", 'LIST (RECURSIVEMATCH) "" "%"')
    tc.transact("bad", 'LIST (REMOTE RECURSIVEMATCH) "" "%"')


def test_rfc5258_example_7(imap):
    tc = tree(imap, ["Sent/March2004", "Sent/December2003", "Sent/August2004"], ["Inbox"], keep=("Drafts", "Sent"))
    tc.transact("ok", 'LIST "" ("INBOX" "Drafts" "Sent/%")')
    tc.expect_untagged(*lines(
        '() "/" Inbox', '(\\Drafts) "/" Drafts', '() "/" Sent/August2004', '() "/" Sent/December2003',
        '() "/" Sent/March2004',
    ))


def test_rfc5258_example_8(imap):
    tc = tree(imap, ["Foo/Bar", "Foo/Baz", "Moo"], ["Foo/Baz"])
    tc.transact("ok", 'LIST "" "*"')
    tc.expect_untagged(*lines('() "/" Foo', '() "/" Foo/Bar', '() "/" Foo/Baz', '() "/" Inbox', '() "/" Moo'))
    tc.transact("ok", 'LIST "" "%" RETURN (CHILDREN)')
    tc.expect_untagged(*lines('(\\HasChildren) "/" Foo', '(\\HasNoChildren) "/" Inbox', '(\\HasNoChildren) "/" Moo'))
    # A) only "Foo/Baz" is subscribed.
    tc.transact("ok", 'LIST (SUBSCRIBED) "" "*"')
    tc.expect_untagged('* LIST (\\Subscribed) "/" Foo/Baz')
    tc.transact("ok", 'LIST (SUBSCRIBED) "" "%"')
    tc.expect_no_untagged()
    tc.transact("ok", 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
    tc.expect_untagged('* LIST () "/" Foo ("CHILDINFO" ("SUBSCRIBED"))')
    # A1) "Foo" subscribed too.
    tc.transact("ok", "SUBSCRIBE Foo")
    tc.transact("ok", 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
    tc.expect_untagged('* LIST (\\Subscribed) "/" Foo ("CHILDINFO" ("SUBSCRIBED"))')
    # A2) a parent that is no mailbox: here "Zoo", parent of the subscribed name "Zoo/Baz".
    tc.transact("ok", "UNSUBSCRIBE Foo")
    tc.transact("ok", "UNSUBSCRIBE Foo/Baz")
    tc.transact("ok", "SUBSCRIBE Zoo/Baz")
    tc.transact("ok", 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
    tc.expect_untagged('* LIST (\\NonExistent) "/" Zoo ("CHILDINFO" ("SUBSCRIBED"))')
    # B) nothing subscribed: nothing, although "Foo" has children.
    tc.transact("ok", "UNSUBSCRIBE Zoo/Baz")
    tc.transact("ok", 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
    tc.expect_no_untagged()
    # C) "Foo" and "Moo" subscribed: Foo has children, none of them subscribed.
    tc.transact("ok", "SUBSCRIBE Foo")
    tc.transact("ok", "SUBSCRIBE Moo")
    tc.transact("ok", 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%" RETURN (CHILDREN)')
    tc.expect_untagged('* LIST (\\Subscribed \\HasChildren) "/" Foo', '* LIST (\\Subscribed \\HasNoChildren) "/" Moo')


def test_rfc5258_example_9(imap):
    subscribed = ["foo2/bar1", "foo2/bar2", "baz2/bar2", "baz2/bar22", "baz2/bar222", "eps2", "eps2/mamba", "qux2/bar2"]
    tc = tree(
        imap,
        ["foo2/bar1", "foo2/bar2", "baz2/bar2", "baz2/bar22", "baz2/bar222", "eps2/mamba", "qux2/bar2"],
        subscribed,
    )
    tc.transact("ok", 'LIST (SUBSCRIBED) "" "*"')
    tc.expect_untagged(*[f'* LIST (\\Subscribed) "/" {n}' for n in subscribed])
    # CHILDINFO whether or not the children match the pattern; for a name that doesn't meet the
    # criteria itself only when a child that does is not listed (RFC 5258 3.5): "baz2" and "qux2"
    # are not listed, exactly as the RFC's first answer.
    tc.transact("ok", 'LIST (RECURSIVEMATCH SUBSCRIBED) "" "*2"')
    tc.expect_untagged(*lines(
        '() "/" foo2 ("CHILDINFO" ("SUBSCRIBED"))', '(\\Subscribed) "/" foo2/bar2', '(\\Subscribed) "/" baz2/bar2',
        '(\\Subscribed) "/" baz2/bar22', '(\\Subscribed) "/" baz2/bar222',
        '(\\Subscribed) "/" eps2 ("CHILDINFO" ("SUBSCRIBED"))', '(\\Subscribed) "/" qux2/bar2',
    ))
    # With "*" the RFC also shows "foo2" and "baz2" with their redundant CHILDINFO, which its
    # section 3.5 says a server SHOULD suppress (all their subscribed children are listed); we
    # follow that SHOULD, as Dovecot does. "eps2" meets the criteria and keeps its CHILDINFO.
    tc.transact("ok", 'LIST (RECURSIVEMATCH SUBSCRIBED) "" "*"')
    tc.expect_untagged(*lines(
        '(\\Subscribed) "/" foo2/bar1', '(\\Subscribed) "/" foo2/bar2', '(\\Subscribed) "/" baz2/bar2',
        '(\\Subscribed) "/" baz2/bar22', '(\\Subscribed) "/" baz2/bar222',
        '(\\Subscribed) "/" eps2 ("CHILDINFO" ("SUBSCRIBED"))', '(\\Subscribed) "/" eps2/mamba',
        '(\\Subscribed) "/" qux2/bar2',
    ))
    tc.transact("ok", 'LIST (RECURSIVEMATCH SUBSCRIBED) "" "%"')
    tc.expect_untagged(*lines(
        '() "/" baz2 ("CHILDINFO" ("SUBSCRIBED"))', '(\\Subscribed) "/" eps2 ("CHILDINFO" ("SUBSCRIBED"))',
        '() "/" foo2 ("CHILDINFO" ("SUBSCRIBED"))', '() "/" qux2 ("CHILDINFO" ("SUBSCRIBED"))',
    ))


def test_rfc5258_example_10(imap):
    tc = tree(imap, ["foo"], ["foo/bar"])
    tc.transact("ok", 'LIST "" ("foo" "foo/*")')
    tc.expect_untagged('* LIST () "/" foo')
    tc.transact("ok", 'LIST (SUBSCRIBED) "" "foo/*"')
    tc.expect_untagged('* LIST (\\Subscribed \\NonExistent) "/" foo/bar')
    # CHILDINFO does not imply \HasChildren.
    tc.transact("ok", 'LIST (SUBSCRIBED RECURSIVEMATCH) "" foo RETURN (CHILDREN)')
    tc.expect_untagged('* LIST (\\HasNoChildren) "/" foo ("CHILDINFO" ("SUBSCRIBED"))')


def test_special_use_selection_with_recursivematch(imap):
    # RFC 6154 5 with RFC 5258 3.5: CHILDINFO names the base selection option.
    tc = imap.connect()
    tc.transact("ok", "create Archive/2024")
    tc.transact("ok", "create Old/Junkmail (USE (\\Junk))")
    tc.transact("ok", 'LIST (SPECIAL-USE RECURSIVEMATCH) "" "%"')
    tc.expect_untagged(*lines(
        '(\\Archive) "/" Archive', '(\\Drafts) "/" Drafts', '(\\Junk) "/" Junk',
        '() "/" Old ("CHILDINFO" ("SPECIAL-USE"))', '(\\Sent) "/" Sent', '(\\Trash) "/" Trash',
    ))
