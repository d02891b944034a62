"""Fuzzing the server over real sockets (hypothesis): random bytes, IMAP-like token soup and random
valid commands, in each state (not authenticated, authenticated, selected).

For every example: no traceback or ``[SERVERBUG]`` reaches the client, every response parses
strictly, the server answers a following NOOP (or ends the connection, with BYE when it chooses
to) within a few seconds, and nothing is logged at error level. The harness checks the store's
consistency after the test. Examples are bounded so the file runs in seconds.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mox.imap.client import ImapClosed
from mox.imap.response_reader import RemoteProtocolError
from mox.imap.responses import CodeWord, Continuation, Tagged

STATES = ["not_authenticated", "authenticated", "selected"]
FUZZ_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

MULTIPART = (
    b"From: mox@localhost\r\nTo: mox@localhost\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="x"\r\n\r\n'
    b"--x\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
    b"--x\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n"
    b"--x--\r\n"
)


class Session:
    """A reusable connection in one state; logins are slow (password hashing), so the
    authenticated and selected connections live across examples and are re-set each time."""

    def __init__(self, imap, state: str) -> None:
        self.imap = imap
        self.state = state
        self.tc = None

    def get(self):
        for _ in range(2):
            if self.state == "not_authenticated" or self.tc is None or self.tc.conn.closed:
                if self.tc is not None:
                    self.tc.close()
                self.tc = self.imap.connect(login=self.state != "not_authenticated")
            try:
                if self.state == "selected":
                    self.tc.transact("ok", "select inbox")
                elif self.state == "authenticated":
                    self.tc.command("unselect")
                    self.tc.conn.response(check=False)
                return self.tc
            except (ImapClosed, ConnectionError):
                self.tc.conn.closed = True
        raise AssertionError("could not set up a connection")


@pytest.fixture
def sessions(imap):
    imap.timeout = 8
    imap.start()
    imap.set_timeouts(literal=0.3, read_preauth=5.0, read_auth=5.0, tls_handshake=2.0)
    imap.deliver(b"From: mox@localhost\r\nSubject: first\r\n\r\nbody\r\n", flags=[r"\Seen"])
    imap.deliver(MULTIPART)
    imap.deliver(b"Subject: \xe2\x9c\x93 utf8\r\n\r\n8bit \xff body\r\n")
    return {s: Session(imap, s) for s in STATES}


def check_server(imap, what: str) -> None:
    assert not imap.handler_errors, f"{what}: exception escaped the handler:\n{imap.handler_errors[0]}"
    assert not imap.log.errors, f"{what}: server logged an error:\n" + "\n".join(imap.log.errors)


def read_until(tc, tag: str, what: str):
    """Read responses until the tagged one for ``tag``; None if the server closed."""
    try:
        while True:
            resp = tc.conn.read_response()
            if isinstance(resp, Tagged) and resp.code == CodeWord("SERVERBUG"):
                pytest.fail(f"{what}: server bug: {resp!r}")
            if isinstance(resp, Tagged) and resp.tag == tag:
                return resp
    except (ImapClosed, ConnectionError):
        tc.conn.closed = True
        return None
    except TimeoutError:
        pytest.fail(f"{what}: server did not answer (hang)")
    except RemoteProtocolError as e:
        pytest.fail(f"{what}: invalid response from the server: {e}")


# Ends whatever the fuzz data left open: a line, and literals of up to 64 bytes (the padding is
# swallowed by the literal, the rest of it ends the command line).
TRAILER = b"\r\n" + b" " * 64 + b"\r\nfz99 NOOP\r\n"


def throw(imap, tc, data: bytes) -> None:
    """Send data, then a NOOP; the server must answer it or close the connection."""
    what = f"after {data!r}"
    try:
        tc.conn.write(data + TRAILER)
    except (ConnectionError, OSError):
        tc.conn.closed = True
        check_server(imap, what)
        return
    read_until(tc, "fz99", what)
    check_server(imap, what)


TOKENS = [
    b"a1 ", b"LOGIN", b" mox@localhost moxmoxmox", b" ", b"{5}\r\n", b"{3+}\r\n", b"{99999999}\r\n",
    b"~{2}\r\n", b'"', b'"\\', b"(", b")", b"[", b"]", b"<", b">", b"\r\n", b"\n", b"*", b"%", b"\x00",
    b"\xff", b"\xe2\x9c\x93", b"BODY[", b"BODY.PEEK[1.MIME]", b"FETCH", b"UID", b"1:*", b"$", b"0",
    b"4294967296", b"\\Seen", b"SELECT inbox", b"APPEND inbox", b"IDLE", b"DONE", b"AUTHENTICATE PLAIN",
    b"SEARCH", b"STORE", b"+FLAGS", b"CHARSET", b"NIL", b"(CONDSTORE)", b"ENABLE QRESYNC", b"x LIST",
    b"RETURN (", b"COPY", b"MOVE", b"EXPUNGE", b"STATUS", b"CREATE", b"RENAME", b"a/b", b"&Jjo-",
]
token_soup = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12).map(b"".join)


@pytest.mark.parametrize("state", STATES)
def test_fuzz_random_bytes(imap, sessions, state):
    @FUZZ_SETTINGS
    @given(data=st.binary(min_size=1, max_size=300))
    def run(data):
        throw(imap, sessions[state].get(), data)

    run()


@pytest.mark.parametrize("state", STATES)
def test_fuzz_token_soup(imap, sessions, state):
    @FUZZ_SETTINGS
    @given(data=token_soup)
    def run(data):
        throw(imap, sessions[state].get(), data)

    run()


# -- random valid commands

mailbox = st.sampled_from(
    ["inbox", "INBOX", "Archive", "fz", "fz/sub", '"a b"', "Entw&APw-rfe", '""', "nonexistent", "Inbox/x"]
)
seqset = st.sampled_from(["1", "1:*", "*", "2,4:5", "1:2", "$", "100", "3:1"])
flag_list = st.lists(
    st.sampled_from(["\\Seen", "\\Deleted", "\\Flagged", "\\Answered", "\\Draft", "$Junk", "kw", "$Forwarded"]),
    max_size=3,
).map(lambda fl: "(" + " ".join(fl) + ")")
fetch_items = st.sampled_from(
    [
        "ALL", "FAST", "FULL", "(UID FLAGS)", "BODY[]", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]", "BODYSTRUCTURE",
        "ENVELOPE", "BINARY[2]", "BINARY.SIZE[2]", "BINARY.PEEK[1]<0.3>", "RFC822", "RFC822.HEADER",
        "(MODSEQ UID)", "BODY[1.MIME]", "BODY[2]<1.2>", "(UID) (CHANGEDSINCE 1)", "INTERNALDATE", "BODY[TEXT]",
        "(FLAGS) (CHANGEDSINCE 1 VANISHED)", "BODY[3]", "BODY[HEADER.FIELDS.NOT (FROM)]",
    ]
)
search_keys = st.sampled_from(
    [
        "ALL", "UNSEEN", "SUBJECT first", "OR SEEN FLAGGED", "NOT DELETED", "1:3", "UID 1:*", "MODSEQ 1",
        "RETURN (MIN MAX COUNT) ALL", "RETURN (SAVE) SEEN", "CHARSET UTF-8 TEXT hello", "CHARSET KOI8-R ALL",
        "LARGER 10", "SINCE 1-Jan-2020", "HEADER Subject first", "KEYWORD kw", "BODY body", "TEXT \u2713",
        "SENTBEFORE 1-Jan-2100", "$",
    ]
)
status_items = st.sampled_from(
    ["(MESSAGES)", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE HIGHESTMODSEQ RECENT APPENDLIMIT)", "()"]
)
uid = st.sampled_from(["", "UID "])


def _cmd(fmt: str, *strategies):
    return st.tuples(*strategies).map(lambda args: fmt.format(*args))


commands = st.one_of(
    _cmd("SELECT {}", mailbox),
    _cmd("EXAMINE {}", mailbox),
    _cmd("SELECT {} (CONDSTORE)", mailbox),
    _cmd("SELECT inbox (QRESYNC (1 1 1:5))"),
    _cmd("CREATE {}", mailbox),
    _cmd("DELETE {}", mailbox),
    _cmd("RENAME {} {}", mailbox, mailbox),
    _cmd("SUBSCRIBE {}", mailbox),
    _cmd("UNSUBSCRIBE {}", mailbox),
    _cmd("STATUS {} {}", mailbox, status_items),
    _cmd('LIST "" {}', st.sampled_from(["*", "%", "inbox", "fz/*", '""'])),
    _cmd('LIST (SUBSCRIBED) "" * RETURN (CHILDREN SPECIAL-USE STATUS (MESSAGES))'),
    _cmd('LSUB "" *'),
    _cmd("{}FETCH {} {}", uid, seqset, fetch_items),
    _cmd("{}STORE {} {}FLAGS{} {}", uid, seqset, st.sampled_from(["", "+", "-"]), st.sampled_from(["", ".SILENT"]), flag_list),
    _cmd("{}STORE {} (UNCHANGEDSINCE 1) +FLAGS {}", uid, seqset, flag_list),
    _cmd("{}COPY {} {}", uid, seqset, mailbox),
    _cmd("{}MOVE {} {}", uid, seqset, mailbox),
    _cmd("{}SEARCH {}", uid, search_keys),
    _cmd("EXPUNGE"),
    _cmd("UID EXPUNGE {}", seqset),
    _cmd("{}", st.sampled_from(["CLOSE", "UNSELECT", "CHECK", "NOOP", "CAPABILITY", "NAMESPACE", "ID NIL",
                                 'ID ("name" "fuzz")', "GETQUOTAROOT inbox", 'GETQUOTA ""', "LOGIN x y",
                                 "ENABLE CONDSTORE", "ENABLE QRESYNC", "ENABLE UTF8=ACCEPT", "ENABLE IMAP4rev2",
                                 "AUTHENTICATE PLAIN AG1veEBsb2NhbGhvc3QAbW94bW94bW94"])),
)
appends = st.tuples(mailbox, flag_list, st.binary(max_size=200), st.booleans())
actions = st.lists(st.one_of(commands, appends, st.just("IDLE")), min_size=1, max_size=6)


def run_command(imap, tc, action, n: int) -> None:
    tag = f"c{n}"
    what = f"command {action!r}"
    try:
        if action == "IDLE":
            tc.conn.write_line(f"{tag} IDLE")
            resp = tc.conn.read_response()
            while not isinstance(resp, (Continuation, Tagged)):
                resp = tc.conn.read_response()
            if isinstance(resp, Continuation):
                tc.conn.write_line("DONE")
                resp = read_until(tc, tag, what)
        elif isinstance(action, tuple):
            box, flags, msg, literal_plus = action
            tc.conn.literal_plus = literal_plus
            tc.conn._tag = None
            tc.conn.command(f"APPEND {box} {flags} ", msg, tag=tag)
            if tc.conn._early_result is not None:
                resp = tc.conn._early_result
            else:
                resp = read_until(tc, tag, what)
            tc.conn._tag = None
        else:
            tc.conn.write_line(f"{tag} {action}")
            resp = read_until(tc, tag, what)
    except (ImapClosed, ConnectionError):
        tc.conn.closed = True
        resp = None
    except TimeoutError:
        pytest.fail(f"{what}: server did not answer (hang)")
    except RemoteProtocolError as e:
        pytest.fail(f"{what}: invalid response from the server: {e}")
    check_server(imap, what)
    if resp is None:
        # Valid commands never end the connection (LOGOUT is not generated).
        pytest.fail(f"{what}: server closed the connection")
    assert resp.status in ("OK", "NO", "BAD"), resp
    assert resp.code != CodeWord("SERVERBUG"), f"{what}: {resp!r}"


@pytest.mark.parametrize("state", STATES)
def test_fuzz_valid_commands(imap, sessions, state):
    @FUZZ_SETTINGS
    @given(actions=actions)
    def run(actions):
        tc = sessions[state].get()
        for i, action in enumerate(actions):
            run_command(imap, tc, action, i)

    run()


# -- two sessions against a model: each session keeps its view of the mailbox (sequence number
# -> UID and flags) from the untagged responses alone, as a real client does; after every step
# both views must equal the store.


def uid_set(s: str) -> list[int]:
    out: list[int] = []
    for part in s.split(","):
        a, _, b = part.partition(":")
        lo, hi = sorted((int(a), int(b or a)))
        out += range(lo, hi + 1)
    return out


class View:
    def __init__(self, conn) -> None:
        self.conn = conn
        self.qresync = False
        self.uids: list[int | None] = []
        self.flags: dict[int, set[str]] = {}
        # \Recent (RFC 3501 2.3.2) is per session: the uids shown with it, those shown without,
        # and the count of the last RECENT response.
        self.recent: set[int] = set()
        self.not_recent: set[int] = set()
        self.recent_count = 0

    def apply(self, untagged) -> None:
        from mox.imap.responses import (
            FetchFlags,
            FetchUID,
            UntaggedExists,
            UntaggedExpunge,
            UntaggedFetch,
            UntaggedRecent,
            UntaggedVanished,
        )

        for r in untagged:
            if isinstance(r, UntaggedVanished):  # QRESYNC sessions (RFC 7162 3.2.10)
                assert not r.earlier
                gone = set(uid_set(r.uids))
                assert gone <= set(self.uids), f"VANISHED {r.uids} not in view"
                self.uids = [u for u in self.uids if u not in gone]
                for u in gone:
                    self.flags.pop(u, None)
            elif isinstance(r, UntaggedExpunge):
                assert not self.qresync, "EXPUNGE sent with QRESYNC enabled (RFC 7162 3.2.10: VANISHED)"
                assert 1 <= r.seq <= len(self.uids), f"EXPUNGE {r.seq} with {len(self.uids)} messages"
                uid = self.uids.pop(r.seq - 1)
                self.flags.pop(uid, None)
            elif isinstance(r, UntaggedRecent):
                self.recent_count = r.count
            elif isinstance(r, UntaggedExists):
                assert r.count >= len(self.uids), f"EXISTS {r.count} shrinks view of {len(self.uids)}"
                self.uids += [None] * (r.count - len(self.uids))
            elif isinstance(r, UntaggedFetch):
                assert 1 <= r.seq <= len(self.uids), f"FETCH {r.seq} with {len(self.uids)} messages"
                uid = r.attr(FetchUID)
                if uid is not None:
                    assert self.uids[r.seq - 1] in (None, uid.uid), f"seq {r.seq} changed uid"
                    self.uids[r.seq - 1] = uid.uid
                fl = r.attr(FetchFlags)
                if fl is not None:
                    known = self.uids[r.seq - 1]
                    assert known is not None, f"FETCH FLAGS for seq {r.seq} before its UID is known"
                    flags = set(fl.flags)
                    # A message is \Recent in a session from the start or never.
                    if "\\Recent" in flags:
                        assert known not in self.not_recent, f"uid {known} became \\Recent"
                        self.recent.add(known)
                    else:
                        assert known not in self.recent, f"uid {known} lost \\Recent"
                        self.not_recent.add(known)
                    self.flags[known] = flags - {"\\Recent"}

    def run(self, line: str, *parts):
        untagged, result = self.conn.transact(line, *parts, check=False)
        self.apply(untagged)
        return result

    def learn_new(self) -> None:
        missing = [i + 1 for i, u in enumerate(self.uids) if u is None]
        if missing:
            self.run(f"FETCH {missing[0]}:{missing[-1]} (UID FLAGS)")
        assert None not in self.uids


model_actions = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(0, 1), st.sampled_from(["", "(\\Seen) ", "(\\Flagged kw) "])),
        st.tuples(st.just("deliver")),
        st.tuples(st.just("store"), st.integers(0, 1), st.integers(0, 50), st.sampled_from(["+", "-", ""]),
                  st.sampled_from(["\\Seen", "\\Flagged", "kw", "\\Answered"])),
        st.tuples(st.just("expunge"), st.integers(0, 1), st.integers(0, 50)),
        st.tuples(st.just("move"), st.integers(0, 1), st.integers(0, 50)),
        st.tuples(st.just("noop"), st.integers(0, 1)),
        st.tuples(st.just("idle"), st.integers(0, 1)),
    ),
    min_size=1,
    max_size=10,
)


def test_fuzz_two_sessions_model(imap):
    imap.timeout = 8
    views = []
    for i in range(2):
        tc = imap.connect()
        v = View(tc.conn)
        if i == 1:  # the second session gets VANISHED instead of EXPUNGE
            assert v.run("ENABLE QRESYNC").status == "OK"
            v.qresync = True
        assert v.run("SELECT Inbox").status == "OK"
        v.learn_new()
        views.append(v)
    n = [0]

    def pick(v: View, i: int) -> int | None:
        known = [u for u in v.uids if u is not None]
        return known[i % len(known)] if known else None

    @settings(FUZZ_SETTINGS, max_examples=25)
    @given(actions=model_actions)
    def run(actions):
        for action in actions:
            kind = action[0]
            v = views[action[1]] if len(action) > 1 else None
            if kind == "append":
                n[0] += 1
                assert v.run(f"APPEND Inbox {action[2]}", b"Subject: m%d\r\n\r\nx\r\n" % n[0]).status == "OK"
            elif kind == "deliver":
                imap.deliver(b"Subject: delivered\r\n\r\nx\r\n")
            elif kind == "store":
                uid = pick(v, action[2])
                if uid is not None:
                    assert v.run(f"UID STORE {uid} {action[3]}FLAGS ({action[4]})").status == "OK"
            elif kind == "expunge":
                uid = pick(v, action[2])
                if uid is not None:
                    assert v.run(f"UID STORE {uid} +FLAGS.SILENT (\\Deleted)").status == "OK"
                    assert v.run(f"UID EXPUNGE {uid}").status == "OK"
            elif kind == "move":
                uid = pick(v, action[2])
                if uid is not None:
                    assert v.run(f"UID MOVE {uid} Archive").status == "OK"
            elif kind == "idle":
                # A delivery while the session idles is pushed right away (RFC 2177).
                from mox.imap.responses import UntaggedExists

                v.conn.idle()
                imap.deliver(b"Subject: during idle\r\n\r\nx\r\n")
                while True:
                    pushed = v.conn.read_untagged()
                    v.apply([pushed])
                    if isinstance(pushed, UntaggedExists):
                        break
                untagged, result = v.conn.idle_done()
                v.apply(untagged)
                assert result.status == "OK"
            for w in views:
                assert w.run("NOOP").status == "OK"
                w.learn_new()
            check_server(imap, f"after {action!r}")
            acc = imap.account
            msgs = acc.messages(acc.mailbox("Inbox").id)
            want_uids = [m.uid for m in msgs]
            want_flags = {m.uid: set(m.flags) for m in msgs}
            for i, w in enumerate(views):
                assert w.uids == want_uids, f"session {i} after {action!r}"
                seen = {u: f for u, f in w.flags.items() if u in want_flags}
                assert seen == {u: want_flags[u] for u in seen}, f"session {i} flags after {action!r}"
                assert w.recent_count == len(w.recent & set(w.uids)), f"session {i} RECENT after {action!r}"
            # Both sessions select the mailbox read-write (IMAP4rev1) and learn every new message:
            # each is \Recent in exactly one of them (RFC 3501 2.3.2).
            for u in want_uids:
                assert sum(u in w.recent for w in views) == 1, f"uid {u} recent in {[u in w.recent for w in views]}"

    run()
