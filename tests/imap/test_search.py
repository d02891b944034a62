"""SEARCH and UID SEARCH (RFC 9051 6.4.4), ESEARCH (RFC 4731), SEARCHRES (RFC 5182), MODSEQ."""

M1 = (
    b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nFrom: Alice <alice@example.org>\r\nTo: bob@example.com\r\n"
    b"Cc: carol@example.com\r\nSubject: Hello World\r\nX-Custom: yes\r\n\r\nThe quick brown fox\r\n"
)
M2 = (
    b"Date: Wed, 10 Jan 2024 10:00:00 +0000\r\nFrom: dave@example.net\r\nTo: bob@example.com\r\n"
    b"Subject: =?utf-8?q?caf=C3=A9?=\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\nna=C3=AFve body text\r\n"
)
M3 = b"From: eve@example.org\r\nSubject: third\r\n\r\n" + b"x" * 500 + b"\r\n"


def setup(imap):
    imap.start()
    imap.deliver(M1, flags=["\\Seen", "$label"], received=1704103200.0)  # 2024-01-01
    imap.deliver(M2, flags=["\\Flagged"], received=1704880800.0)  # 2024-01-10
    imap.deliver(M3, flags=["\\Deleted", "\\Answered", "\\Draft"], received=1705312800.0)  # 2024-01-15
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    return tc


def search(tc, crit, expect):
    tc.transact("ok", f"search {crit}")
    tc.expect_untagged("* SEARCH" + "".join(f" {n}" for n in expect))


def test_search_keys(imap):
    tc = setup(imap)
    cases = {
        "all": [1, 2, 3], "seen": [1], "unseen": [2, 3], "flagged": [2], "unflagged": [1, 3],
        "deleted": [3], "undeleted": [1, 2], "answered": [3], "unanswered": [1, 2], "draft": [3],
        "undraft": [1, 2], "new": [2, 3], "old": [], "recent": [1, 2, 3], "keyword $label": [1],
        "keyword $LABEL": [1], "unkeyword $label": [2, 3], "1,3": [1, 3], "2:*": [2, 3], "*": [3],
        "uid 2": [2], "uid 2:*": [2, 3], "larger 400": [3], "smaller 300": [1, 2],
        "from alice": [1], "from EXAMPLE.ORG": [1, 3], "to bob": [1, 2], "cc carol": [1], "bcc x": [],
        "subject hello": [1], 'subject "café"': [2], "header x-custom yes": [1], 'header x-custom ""': [1],
        "body quick": [1], 'body "naïve"': [2], "text carol": [1], 'text "naïve"': [2],
        "before 10-Jan-2024": [1], "on 10-Jan-2024": [2], "since 10-Jan-2024": [2, 3],
        "sentbefore 2-Jan-2024": [1], "senton 10-Jan-2024": [2], "sentsince 2-Jan-2024": [2],
        "not seen": [2, 3], "or seen flagged": [1, 2], "(seen) (from alice)": [1], "seen from dave": [],
        "not (or 1 2)": [3], 'charset utf-8 subject "café"': [2], "charset utf-8 subject {5+}\r\ncaf\u00e9": [2], "charset us-ascii all": [1, 2, 3],
    }
    for crit, want in cases.items():
        search(tc, crit, want)
    tc.transact("ok", "uid search uid 2:*")
    tc.expect_untagged("* SEARCH 2 3")


def test_search_errors(imap):
    tc = setup(imap)
    tc.transact("no", "search charset iso-8859-1 all")
    tc.expect_code("BADCHARSET")
    tc.transact("bad", "search")
    tc.transact("bad", "search bogus")
    tc.transact("ok", "search 4")  # beyond the last message: matches nothing
    tc.expect_untagged("* SEARCH")
    tc.transact("bad", "search since 32-Jan-2024")
    tc.transact("bad", "search or seen")


def test_esearch_and_searchres(imap):
    tc = setup(imap)
    tc.transact("ok", "search return (min max count all) undeleted")
    tc.expect_untagged(f'* ESEARCH (TAG "{tc.result.tag}") MIN 1 MAX 2 COUNT 2 ALL 1:2')
    tc.transact("ok", "uid search return () all")
    tc.expect_untagged(f'* ESEARCH (TAG "{tc.result.tag}") UID ALL 1:3')
    tc.transact("ok", "search return (count min) keyword bogus")
    tc.expect_untagged(f'* ESEARCH (TAG "{tc.result.tag}") COUNT 0')
    tc.transact("ok", "search return (save) or seen flagged")
    tc.expect_no_untagged()
    tc.transact("ok", "fetch $ uid")
    tc.expect_untagged("* 1 FETCH (UID 1)", "* 2 FETCH (UID 2)")
    tc.transact("ok", "search $")
    tc.expect_untagged("* SEARCH 1 2")
    tc.transact("ok", "search return (save max) all")
    tc.expect_untagged(f'* ESEARCH (TAG "{tc.result.tag}") MAX 3')
    tc.transact("ok", "uid search uid $")
    tc.expect_untagged("* SEARCH 3")
    tc.transact("ok", "enable imap4rev2")
    tc.transact("ok", "search seen")
    tc.expect_untagged(f'* ESEARCH (TAG "{tc.result.tag}") ALL 1')
    tc.transact("ok", "search keyword none")
    tc.expect_untagged(f'* ESEARCH (TAG "{tc.result.tag}")')


def test_search_modseq(imap):
    tc = setup(imap)
    msgs = imap.account.messages(imap.account.mailbox("Inbox").id)
    tc.transact("ok", f"search modseq {msgs[1].modseq}")
    tc.expect_untagged(f"* OK [HIGHESTMODSEQ {msgs[2].modseq}] x", f"* SEARCH 2 3 (MODSEQ {msgs[2].modseq})")
    tc.transact("ok", f"search return (count) modseq {msgs[2].modseq}")
    tc.expect_untagged(f'* ESEARCH (TAG "{tc.result.tag}") COUNT 1 MODSEQ {msgs[2].modseq}')



def test_esearch_modseq_of_returned_message(imap):
    # RFC 4731 3.2 (and RFC 7162 3.1.5): with a single MIN or MAX the MODSEQ result is that
    # message's modseq; MIN and MAX alone give the higher of their two; with ALL or COUNT it is
    # the highest of all matches.
    tc = setup(imap)
    tc.transact("ok", "enable condstore")
    tc.transact("ok", "store 2 +flags (\\Answered)")  # message 2 now has the highest modseq
    ms = [m.modseq for m in imap.account.messages(imap.account.mailbox("Inbox").id)]
    assert ms[1] > ms[2] > ms[0]
    tag = lambda: tc.result.tag  # noqa: E731
    tc.transact("ok", "search return (min) modseq 1")
    tc.expect_untagged(f'* ESEARCH (TAG "{tag()}") MIN 1 MODSEQ {ms[0]}')
    tc.transact("ok", "search return (max) modseq 1")
    tc.expect_untagged(f'* ESEARCH (TAG "{tag()}") MAX 3 MODSEQ {ms[2]}')
    tc.transact("ok", "uid search return (max) modseq 1")
    tc.expect_untagged(f'* ESEARCH (TAG "{tag()}") UID MAX 3 MODSEQ {ms[2]}')
    tc.transact("ok", "search return (min max) modseq 1")
    tc.expect_untagged(f'* ESEARCH (TAG "{tag()}") MIN 1 MAX 3 MODSEQ {ms[2]}')
    tc.transact("ok", "search return (min count) modseq 1")
    tc.expect_untagged(f'* ESEARCH (TAG "{tag()}") MIN 1 COUNT 3 MODSEQ {ms[1]}')
    tc.transact("ok", "search return (all) modseq 1")
    tc.expect_untagged(f'* ESEARCH (TAG "{tag()}") ALL 1:3 MODSEQ {ms[1]}')
    tc.transact("ok", "search return (save min) modseq 1")
    tc.expect_untagged(f'* ESEARCH (TAG "{tag()}") MIN 1 MODSEQ {ms[0]}')
    tc.transact("ok", f"search return (min) modseq {ms[2]}")  # only 2 and 3 match
    tc.expect_untagged(f'* ESEARCH (TAG "{tag()}") MIN 2 MODSEQ {ms[1]}')
    tc.transact("ok", f"search return (min) modseq {ms[1] + 1}")  # no match: no MODSEQ
    tc.expect_untagged(f'* ESEARCH (TAG "{tag()}")')


ADDRS = (
    b'From: "Joe Q. Public" <user-from (comment)@ (comment) domain.org> (trailing)\r\n'
    b"To: Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>\r\n"
    b"Cc: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;, =?utf-8?q?J=C3=B6rg?= <jorg@example.de>\r\n"
    b"Bcc: (only a comment) bcc-user@bcc.example (Bcc Name)\r\n"
    b"Subject: addresses\r\n\r\nbody\r\n"
)


def test_search_addresses(imap):
    # FROM/TO/CC/BCC match each address as parsed (RFC 5322 3.4): the decoded display name and
    # the addr-spec with comments and folding whitespace removed ("Name <local@domain>"); a
    # comment after a bare address is its name; a group's name counts. Dovecot matches the
    # same substrings (it only also refuses "Name <addr" across the quote it writes).
    imap.start()
    imap.deliver(ADDRS)
    imap.deliver(b"From: other@example.com\r\nSubject: control\r\n\r\nuser-from comment\r\n")
    tc = imap.connect()
    tc.transact("ok", "examine inbox")
    cases = [
        ("from user-from@domain.org", "1"), ("from <user-from@domain.org>", "1"), ("from user-from", "1"),
        ("from rom@dom", "1"), ("from domain.org", "1"), ('from "Joe Q. Public"', "1"), ("from public", "1"),
        ('from "Public <user-from@domain.org>"', "1"), ("from comment", ""), ("from trailing", ""),
        ('from "user-from (comment)@"', ""), ('from "user-from@ (comment) domain"', ""), ("from other", "2"),
        ("to mary@x.test", "1"), ('to "Mary Smith"', "1"), ('to "Mary Smith <mary@x.test>"', "1"),
        ("to jdoe@example.org", "1"), ('to "Who?"', "1"), ("to one@y", "1"),
        ('to "mary@x.test>, jdoe"', ""),  # a needle never spans two addresses
        ('cc "A Group"', "1"), ('cc "Ed Jones"', "1"), ("cc jdoe@one.test", "1"), ("cc joe@where", "1"),
        ('cc "Jörg <jorg@"', "1"), ("cc J=C3", ""), ('cc "Group:"', ""),
        ("bcc bcc-user@bcc.example", "1"), ('bcc "Bcc Name"', "1"), ('bcc "only a comment"', ""),
        ("to example.com", ""), ("body comment", "2"),
    ]
    for crit, want in cases:
        tc.transact("ok", f"search charset utf-8 {crit}")
        tc.expect_untagged(f"* SEARCH {want}".rstrip())
    tc.transact("ok", "search or from comment cc jorg@example.de")
    tc.expect_untagged("* SEARCH 1")

def test_search_imaplib(imap):
    import imaplib

    setup(imap)
    c = imaplib.IMAP4("127.0.0.1", imap.ports["imap"])
    c.login("mox@localhost", "moxmoxmox")
    c.select("Inbox")
    assert c.search(None, "UNSEEN") == ("OK", [b"2 3"])
    assert c.search("UTF-8", "SUBJECT", '"café"'.encode()) == ("OK", [b"2"])
    assert c.uid("SEARCH", "FROM", "alice") == ("OK", [b"1"])
    c.logout()
