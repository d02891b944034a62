"""The command grammar (RFC 9051 9): each command parsed whole, plus syntax errors."""

import calendar

import pytest

from mox.imap.errors import BadCommand
from mox.imap.parse import parse_command
from mox.imap.types import FetchAtt, NumRange, NumSet, SearchKey, Section
from mox.imap.wire import sequence_set


def p(line: bytes):
    return parse_command(line)


def test_simple_commands():
    for name in ["CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "NAMESPACE", "IDLE", "CHECK", "CLOSE", "UNSELECT", "EXPUNGE"]:
        c = p(b"a1 " + name.lower().encode())
        assert (c.tag, c.name, c.uid, c.args) == ("a1", name, False, {})
    with pytest.raises(BadCommand):
        p(b"a1 noop extra")


def test_unknown_command():
    with pytest.raises(BadCommand) as e:
        p(b"a1 SETQUOTA x")
    assert e.value.text == 'SETQUOTA unrecognized syntax/command: unknown command "SETQUOTA"'
    with pytest.raises(BadCommand):
        p(b"a1 UID NOOP")


def test_tag():
    with pytest.raises(BadCommand):
        p(b"a+1 noop")  # "+" not allowed in a tag
    with pytest.raises(BadCommand):
        p(b" noop")
    assert p(b"a]1 noop").tag == "a]1"


def test_login_strings():
    c = p(b'a LOGIN "mox@localhost" {9}\r\nmoxmoxmox')
    assert c.args == {"user": "mox@localhost", "password": "moxmoxmox"}
    c = p(b'a login "a\\"b\\\\c" {2+}\r\nxy')
    assert c.args == {"user": 'a"b\\c', "password": "xy"}
    for bad in [b'a login "x', b"a login x", b'a login "a\\x" y', b"a login {5}\r\nab", b"a login ~{1}\r\nx y"]:
        with pytest.raises(BadCommand):
            p(bad)


def test_authenticate():
    assert p(b"a AUTHENTICATE plain").args == {"mechanism": "PLAIN", "initial": None}
    assert p(b"a authenticate PLAIN AG1veABtb3g=").args == {"mechanism": "PLAIN", "initial": "AG1veABtb3g="}
    assert p(b"a authenticate PLAIN =").args["initial"] == "="
    with pytest.raises(BadCommand):
        p(b"a authenticate PLAIN !!")


def test_id_enable():
    assert p(b'a ID ("name" "x" "version" NIL)').args == {"params": {"name": "x", "version": None}}
    assert p(b"a id nil").args == {"params": {}}
    assert p(b"a enable condstore qresync").args == {"capabilities": ["CONDSTORE", "QRESYNC"]}
    with pytest.raises(BadCommand):
        p(b"a enable")


def test_select():
    assert p(b"a select inbox").args == {"mailbox": "inbox", "condstore": False, "qresync": None}
    assert p(b"a examine Inbox (condstore)").args["condstore"]
    q = p(b"a select x (QRESYNC (67890007 20050715194045000 41,43:211,214:541 (1:3 1,4:5)))").args["qresync"]
    assert q["uidvalidity"] == 67890007 and q["modseq"] == 20050715194045000
    assert q["known_uids"] == NumSet((NumRange(41), NumRange(43, 211, False), NumRange(214, 541, False)))
    assert q["seq_match"] == (NumSet((NumRange(1, 3, False),)), NumSet((NumRange(1), NumRange(4, 5, False))))
    q = p(b"a select x (QRESYNC (1 2))").args["qresync"]
    assert (q["known_uids"], q["seq_match"]) == (None, None)
    with pytest.raises(BadCommand):
        p(b"a select x (bogus)")


def test_mailbox_commands():
    assert p(b'a create "a b"').args == {"mailbox": "a b", "use": []}
    assert p(b"a create x (USE (\\Archive))").args == {"mailbox": "x", "use": ["\\Archive"]}
    assert p(b"a rename a b").args == {"src": "a", "dst": "b"}
    assert p(b"a delete a").args == {"mailbox": "a"}
    assert p(b"a status inbox (messages uidnext highestmodseq)").args == {
        "mailbox": "inbox",
        "items": ["MESSAGES", "UIDNEXT", "HIGHESTMODSEQ"],
    }
    with pytest.raises(BadCommand):
        p(b"a status inbox (bogus)")
    with pytest.raises(BadCommand):
        p(b"a status inbox ()")
    with pytest.raises(BadCommand):
        p(b"a create")


def test_list():
    lc = p(b'a list "" *').args["list"]
    assert (lc.reference, lc.patterns, lc.extended) == ("", ("*",), False)
    lc = p(b'a list (subscribed recursivematch) "" ("a*" %) return (children status (messages unseen))').args["list"]
    assert lc.select_opts == ("SUBSCRIBED", "RECURSIVEMATCH")
    assert lc.patterns == ("a*", "%")
    assert lc.return_opts == ("CHILDREN", "STATUS")
    assert lc.status_items == ("MESSAGES", "UNSEEN")
    with pytest.raises(BadCommand):
        p(b'a list (recursivematch) "" *')
    with pytest.raises(BadCommand):
        p(b'a list "" * return (bogus)')
    assert p(b"a lsub \"\" Inbox/%").args["list"].patterns == ("Inbox/%",)


def test_append():
    c = p(b'a append inbox (\\Seen $label) " 1-Jan-2024 10:00:00 +0100" {5}\r\nhello')
    assert c.args["messages"][0].flags == ("\\Seen", "$label")
    assert c.args["messages"][0].date == calendar.timegm((2024, 1, 1, 9, 0, 0, 0, 0, 0))
    assert c.args["messages"][0].data == b"hello"
    # A one-digit day without the padding space is accepted too (lenient, clients send it).
    assert p(b'a append inbox "1-Jan-2024 10:00:00 +0100" {1}\r\nx').args["messages"][0].date == calendar.timegm((2024, 1, 1, 9, 0, 0, 0, 0, 0))
    c = p(b"a append inbox UTF8 (~{3}\r\na\x00b)")
    assert (c.args["messages"][0].data, c.args["messages"][0].utf8) == (b"a\x00b", True)
    assert p(b"a append inbox ~{1+}\r\nx").args["messages"][0].data == b"x"
    for bad in [b"a append inbox", b'a append inbox "bad-date" {1}\r\nx', b"a append inbox (\\*) {1}\r\nx"]:
        with pytest.raises(BadCommand):
            p(bad)


def test_sequence_sets():
    ns = p(b"a fetch 1,2:4,*,5:* flags").args["numset"]
    assert ns.select([1, 2, 3, 4, 5, 6]) == [1, 2, 3, 4, 5, 6]
    assert p(b"a fetch 3:2 flags").args["numset"].select([1, 2, 3, 4]) == [2, 3]
    assert p(b"a fetch * flags").args["numset"].select([4, 9]) == [9]
    assert p(b"a uid fetch $ flags").args["numset"].search_result
    for bad in [b"a fetch 0 flags", b"a fetch 1: flags", b"a fetch ,1 flags", b"a fetch 1,,2 flags"]:
        with pytest.raises(BadCommand):
            p(bad)
    assert sequence_set([5, 1, 2, 3, 7, 8]) == "1:3,5,7:8"


def test_fetch():
    c = p(b"a uid fetch 1:* (flags body.peek[1.2.header.fields (from to)]<0.10> binary[1] binary.size[] modseq) (changedsince 5 vanished)")
    assert c.uid and c.name == "FETCH"
    assert c.args["atts"] == [
        FetchAtt("FLAGS"),
        FetchAtt("BODY", Section((1, 2), "HEADER.FIELDS", ("from", "to")), (0, 10), peek=True),
        FetchAtt("BINARY", Section((1,))),
        FetchAtt("BINARY.SIZE", Section()),
        FetchAtt("MODSEQ"),
    ]
    assert (c.args["changedsince"], c.args["vanished"]) == (5, True)
    assert [a.name for a in p(b"a fetch 1 all").args["atts"]] == ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"]
    assert [a.name for a in p(b"a fetch 1 fast").args["atts"]] == ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]
    assert p(b"a fetch 1 full").args["atts"][-1] == FetchAtt("BODY")
    assert p(b"a fetch 1 body[]").args["atts"] == [FetchAtt("BODY", Section())]
    assert p(b"a fetch 1 body[2.mime]").args["atts"] == [FetchAtt("BODY", Section((2,), "MIME"))]
    assert p(b"a fetch 1 body[text]").args["atts"] == [FetchAtt("BODY", Section((), "TEXT"))]
    assert p(b"a fetch 1 rfc822.header").args["atts"] == [FetchAtt("RFC822.HEADER")]
    for bad in [b"a fetch 1 bogus", b"a fetch 1 body[mime]", b"a fetch 1 body[1.]", b"a fetch 1 body[1header]",
                b"a fetch 1 body.peek", b"a fetch 1 body[]<1.0>", b"a fetch 1 (flags", b"a fetch 1 flags (bogus)"]:
        with pytest.raises(BadCommand):
            p(bad)


def test_store():
    c = p(b"a store 1:2 +flags.silent (\\Seen $Custom)")
    assert c.args == {"numset": c.args["numset"], "mode": "add", "silent": True, "flags": ["\\Seen", "$Custom"], "unchangedsince": None}
    c = p(b"a uid store 1 (unchangedsince 12) -flags \\Deleted \\Seen")
    assert (c.args["mode"], c.args["flags"], c.args["unchangedsince"]) == ("remove", ["\\Deleted", "\\Seen"], 12)
    assert p(b"a store 1 flags ()").args["flags"] == []
    with pytest.raises(BadCommand):
        p(b"a store 1 +flagz (\\Seen)")


def test_search():
    k = p(b"a search charset utf-8 or from {2}\r\nab not seen").args
    assert k["charset"] == "UTF-8"
    assert k["key"] == SearchKey("AND", children=(
        SearchKey("OR", children=(SearchKey("FROM", text="ab"), SearchKey("NOT", children=(SearchKey("SEEN"),)))),
    )) or k["key"] == SearchKey("OR", children=(SearchKey("FROM", text="ab"), SearchKey("NOT", children=(SearchKey("SEEN"),))))
    k = p(b'a uid search return (min max count all save) (since 1-Feb-2024 larger 10) uid 1:* header subject "x" modseq 3 $').args
    assert k["return_opts"] == ["MIN", "MAX", "COUNT", "ALL", "SAVE"]
    keys = k["key"].children
    assert keys[0] == SearchKey("AND", children=(SearchKey("SINCE", date=(2024, 2, 1)), SearchKey("LARGER", number=10)))
    assert keys[2] == SearchKey("HEADER", field="subject", text="x")
    assert keys[3] == SearchKey("MODSEQ", number=3)
    assert keys[4].numset.search_result
    assert p(b'a search modseq "/flags/\\\\draft" all 7').args["key"] == SearchKey("MODSEQ", number=7)
    for bad in [b"a search", b"a search bogus", b"a search since 31-Feb-2024", b"a search or seen", b"a search return (bogus) all",
                b"a search (seen", b"a search larger x"]:
        with pytest.raises(BadCommand):
            p(bad)


def test_copy_move_expunge():
    assert p(b"a copy 1:3 Archive").args["mailbox"] == "Archive"
    c = p(b"a uid move 4 Trash")
    assert (c.uid, c.name) == (True, "MOVE")
    assert p(b"a uid expunge 1:2").args["numset"] == NumSet((NumRange(1, 2, False),))
    with pytest.raises(BadCommand):
        p(b"a uid expunge")
    with pytest.raises(BadCommand):
        p(b"a copy 1")


def test_quota():
    assert p(b"a getquotaroot inbox").args == {"mailbox": "inbox"}
    assert p(b'a getquota ""').args == {"root": ""}


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_TOKENS = [b"a ", b"FETCH", b"SEARCH", b"STORE", b"APPEND", b"LIST", b"SELECT", b"UID ", b" ", b"(", b")",
           b"[", b"]", b"<", b">", b"{", b"}", b"~", b"+", b"\r\n", b'"', b"\\", b"1:*", b"$", b"*", b"0", b"9" * 25,
           b"BODY[", b"HEADER.FIELDS", b"OR", b"NOT", b"CHARSET", b"RETURN", b"\xff", b"\x00", b"{3}\r\nabc"]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=80), st.lists(st.sampled_from(_TOKENS), max_size=15).map(b"".join)))
def test_parser_only_raises_badcommand(data):
    try:
        parse_command(data)
    except BadCommand:
        pass


def test_select_upto_is_select_of_all_sequence_numbers():
    import random

    rng = random.Random(5)
    for _ in range(500):
        n = rng.randint(0, 30)
        ranges = []
        for _ in range(rng.randint(1, 4)):
            first = rng.choice([None, rng.randint(1, 40)])
            if rng.random() < 0.5:
                ranges.append(NumRange(first))
            else:
                ranges.append(NumRange(first, rng.choice([None, rng.randint(1, 40)]), False))
        ns = NumSet(tuple(ranges))
        assert ns.select_upto(n) == ns.select(list(range(1, n + 1))), (ns, n)


def test_sequence_set_fast_path_is_the_grammar(monkeypatch):
    """parse_sequence_set reads a well-formed range in one regular-expression match; whatever it
    gets (sets, errors, where the cursor stops) is what the rule by rule reading gets."""
    import random
    import re

    from mox.imap import grammar
    from mox.imap.errors import BadCommand
    from mox.imap.grammar import Grammar

    def read(data: bytes) -> tuple[object, int]:
        g = Grammar(data)
        try:
            return g.parse_sequence_set(), g.pos
        except BadCommand as e:
            return ("error", e.text), g.pos

    rng = random.Random(9)
    pieces = [b"1", b"2", b"9", b"0", b"01", b"42", b"4294967295", b"4294967296", b"99999999999", b"*", b":", b",", b"$", b" ", b")", b"x"]
    cases = [b"1:10", b"1,3:*,7", b"*", b"1:", b"1:2:3", b"0", b"01:5", b"4294967296", b"5 BODY[]", b"1,", b"*5"]
    cases += [b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 6))) for _ in range(3000)]
    fast = [read(c) for c in cases]
    monkeypatch.setattr(grammar, "_SEQ_RANGE", re.compile(b"(?!)"))  # never matches: the rules alone
    assert fast == [read(c) for c in cases]


def test_fetch_attributes_parsed_again_are_the_same():
    """The attribute lists of recent FETCH commands are kept by their bytes: the same text gives
    the same attributes, with other sequence sets, after a caller changed its list, and a
    modifier after them is still read."""
    line = b"(FLAGS BODY.PEEK[HEADER.FIELDS (From)]<0.5> UID)"
    first = p(b"a fetch 1:3 " + line).args
    first["atts"].append(FetchAtt("MODSEQ"))  # the caller's list is its own
    again = p(b"b uid fetch 7 " + line).args
    assert again["atts"] == [
        FetchAtt("FLAGS"), FetchAtt("BODY", Section((), "HEADER.FIELDS", ("From",)), (0, 5), peek=True), FetchAtt("UID")
    ]
    assert again["numset"] == NumSet((NumRange(7),))
    with_modifier = p(b"c uid fetch 7 " + line + b" (CHANGEDSINCE 9)").args
    assert with_modifier["atts"] == again["atts"] and with_modifier["changedsince"] == 9
    with pytest.raises(BadCommand):
        p(b"d fetch 1 " + line + b" (bogus)")
