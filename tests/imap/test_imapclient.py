"""An independent client: the ``imapclient`` package runs a scenario with IDLE and CONDSTORE."""

from __future__ import annotations

import datetime
import time

from imapclient import DELETED, FLAGGED, RECENT, SEEN, IMAPClient

MSG1 = (
    b"From: Mox <mox@localhost>\r\n"
    b"To: mox@localhost\r\n"
    b"Subject: first\r\n"
    b"Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
    b"Message-Id: <first@localhost>\r\n"
    b"\r\n"
    b"hello\r\n"
)
MSG2 = b"From: other@localhost\r\nTo: mox@localhost\r\nSubject: second\r\n\r\nworld\r\n"


def client(imap, **kwargs) -> IMAPClient:
    c = IMAPClient("127.0.0.1", port=imap.ports["imap"], ssl=False, timeout=10, **kwargs)
    c.login("mox@localhost", "moxmoxmox")
    return c


def idle_until(c: IMAPClient, want, deadline: float = 10.0) -> list:
    """IDLE pushes until ``want(responses)`` holds (pushes may arrive in several reads)."""
    got: list = []
    end = time.monotonic() + deadline
    while not want(got):
        left = end - time.monotonic()
        assert left > 0, f"no matching IDLE push, got {got!r}"
        got += c.idle_check(timeout=left)
    return got


def test_imapclient_scenario(imap):
    imap.start()
    c = client(imap)
    for cap in ("IDLE", "CONDSTORE", "UIDPLUS", "MOVE", "ENABLE", "LITERAL+"):
        assert c.has_capability(cap), cap

    assert {name for _, _, name in c.list_folders()} == {"Inbox", "Archive", "Drafts", "Junk", "Sent", "Trash"}
    c.create_folder("Lists/mox")  # the parent is created too
    assert {name for _, _, name in c.list_folders(pattern="Lists*")} == {"Lists", "Lists/mox"}
    assert c.folder_exists("Lists/mox") and not c.folder_exists("Lists/other")

    info = c.select_folder("Inbox")
    assert info[b"EXISTS"] == 0
    assert info[b"UIDNEXT"] == 1
    assert info[b"READ-WRITE"] is True
    uidvalidity = info[b"UIDVALIDITY"]

    when = datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.timezone.utc)
    res = c.append("Inbox", MSG1, flags=[SEEN], msg_time=when)
    assert res.startswith(b"[APPENDUID %d 1]" % uidvalidity), res
    c.append("Inbox", MSG2)

    got = c.fetch([1, 2], ["FLAGS", "RFC822.SIZE", "INTERNALDATE", "ENVELOPE", "BODY.PEEK[]"])
    assert sorted(got) == [1, 2]
    one = got[1]
    assert one[b"FLAGS"] == (SEEN, RECENT)  # this session is the first to see them (RFC 3501 2.3.2)
    assert one[b"RFC822.SIZE"] == len(MSG1)
    assert one[b"BODY[]"] == MSG1
    assert one[b"INTERNALDATE"].replace(tzinfo=None) == datetime.datetime(2023, 11, 14, 22, 13, 20)
    env = one[b"ENVELOPE"]
    assert env.subject == b"first"
    assert env.message_id == b"<first@localhost>"
    assert [(a.name, a.mailbox, a.host) for a in env.from_] == [(b"Mox", b"mox", b"localhost")]
    assert got[2][b"FLAGS"] == (RECENT,)
    assert got[2][b"BODY[]"] == MSG2

    assert c.search(["UNSEEN"]) == [2]
    assert c.search(["SUBJECT", "second"]) == [2]
    assert c.add_flags([2], [FLAGGED, b"$todo"]) == {2: (FLAGGED, b"$todo", RECENT)}
    assert c.remove_flags([2], [b"$todo"]) == {2: (FLAGGED, RECENT)}
    assert c.get_flags([1, 2]) == {1: (SEEN, RECENT), 2: (FLAGGED, RECENT)}
    assert c.search(["FLAGGED"]) == [2]

    c.copy([1], "Lists/mox")
    assert c.folder_status("Lists/mox", ["MESSAGES"]) == {b"MESSAGES": 1}
    c.move([2], "Archive")
    assert c.search(["ALL"]) == [1]
    assert c.folder_status("Archive", ["MESSAGES", "UIDNEXT"]) == {b"MESSAGES": 1, b"UIDNEXT": 2}

    c.delete_messages([1])
    c.expunge([1])  # UID EXPUNGE (UIDPLUS)
    assert c.search(["ALL"]) == []
    c.logout()

    assert [m.uid for m in imap.account.messages(imap.account.mailbox("Archive").id)] == [1]
    assert [m.flags for m in imap.account.messages(imap.account.mailbox("Archive").id)] == [(r"\Flagged",)]
    assert imap.account.messages(imap.account.mailbox("Inbox").id) == []
    assert len(imap.account.messages(imap.account.mailbox("Lists/mox").id)) == 1


def test_imapclient_idle(imap):
    imap.start()
    watcher = client(imap)
    assert watcher.select_folder("Inbox")[b"EXISTS"] == 0
    watcher.idle()

    actor = client(imap)
    actor.append("Inbox", MSG1)
    pushes = idle_until(watcher, lambda got: (1, b"EXISTS") in got)
    assert (1, b"EXISTS") in pushes

    # A delivery through the store (as SMTP would) is pushed too.
    imap.deliver(MSG2)
    idle_until(watcher, lambda got: (2, b"EXISTS") in got)

    # Flag changes by another session arrive as FETCH with the new flags.
    actor.select_folder("Inbox")
    actor.add_flags([1], [SEEN])
    pushes = idle_until(watcher, lambda got: any(p[:2] == (1, b"FETCH") for p in got))
    fetch = [p for p in pushes if p[:2] == (1, b"FETCH")][0][2]
    assert fetch[fetch.index(b"FLAGS") + 1] == (SEEN, RECENT)  # the watcher saw it first

    # An expunge elsewhere.
    actor.add_flags([2], [DELETED])
    actor.expunge()
    idle_until(watcher, lambda got: (2, b"EXPUNGE") in got)

    text, _ = watcher.idle_done()
    assert watcher.search(["ALL"]) == [1]
    watcher.logout()
    actor.logout()


def test_imapclient_condstore(imap):
    imap.start()
    c = client(imap)
    assert c.enable("CONDSTORE") == [b"CONDSTORE"]
    c.append("Inbox", MSG1)
    c.append("Inbox", MSG2)
    info = c.select_folder("Inbox")
    highest = info[b"HIGHESTMODSEQ"]
    assert highest > 0

    got = c.fetch([1, 2], ["FLAGS", "MODSEQ"])
    modseqs = {uid: got[uid][b"MODSEQ"][0] for uid in got}
    assert max(modseqs.values()) == highest

    # Nothing changed since the highest modseq.
    assert c.fetch([1, 2], ["FLAGS"], modifiers=[f"CHANGEDSINCE {highest}"]) == {}

    c.add_flags([2], [FLAGGED])
    changed = c.fetch([1, 2], ["FLAGS"], modifiers=[f"CHANGEDSINCE {highest}"])
    assert list(changed) == [2]
    assert changed[2][b"FLAGS"] == (FLAGGED, RECENT)
    new_modseq = changed[2][b"MODSEQ"][0]
    assert new_modseq > highest

    status = c.folder_status("Inbox", ["HIGHESTMODSEQ", "MESSAGES"])
    assert status == {b"HIGHESTMODSEQ": new_modseq, b"MESSAGES": 2}
    assert c.search(["MODSEQ", str(highest + 1)]) == [2]
    c.logout()


def test_imapclient_extras(imap):
    imap.start()
    c = IMAPClient("localhost", port=imap.ports["imap"], ssl=False, timeout=10)
    c.starttls(imap.client_tls_context())
    c.login("mox@localhost", "moxmoxmox")
    from mox import __version__

    assert c.id_({"name": "imapclient-test"}) == ((b"name", b"mox", b"version", __version__.encode()),)

    ns = c.namespace()
    assert (ns.personal, ns.other, ns.shared) == (((("", "/"),)), None, None)

    # Non-ASCII mailbox names travel as modified UTF-7 (imapclient encodes and decodes them).
    c.create_folder("Entwürfe/Ästhetik")
    names = {name for _, _, name in c.list_folders(pattern="Entw*")}
    assert names == {"Entwürfe", "Entwürfe/Ästhetik"}
    c.rename_folder("Entwürfe/Ästhetik", "Entwürfe/Ethik")
    assert {name for _, _, name in c.list_folders(pattern="Entw*")} == {"Entwürfe", "Entwürfe/Ethik"}

    c.append("Entwürfe/Ethik", "Subject: Grüße\r\n\r\nschön\r\n".encode())
    # (SELECT answers with a LIST of the selected mailbox, as IMAP4rev2 requires; imaplib keeps
    # it and imapclient's next list_folders() would include it: see docs/notes.)
    c.select_folder("Entwürfe/Ethik")
    assert c.search(["SUBJECT", "Grüße"], charset="UTF-8") == [1]
    assert c.search(["BODY", "schön"], charset="UTF-8") == [1]
    assert c.search(["BODY", "nicht"], charset="UTF-8") == []

    roots = c.get_quota_root("Inbox")
    assert roots[0].mailbox == "Inbox"
    c.unselect_folder()
    c.logout()


def test_imapclient_sort_and_thread(imap):
    # imapclient's sort() and thread() (UID SORT / UID THREAD by default) against our SORT and
    # THREAD (RFC 5256); the messages of test_sort.py, whose orders Dovecot 2.3 gives too.
    from tests.imap.test_sort import MSGS

    imap.start()
    for i, m in enumerate(MSGS):
        imap.deliver(m, received=1704200000.0 + 100 * i)
    c = client(imap)
    assert c.has_capability("SORT") and c.has_capability("THREAD=REFERENCES")
    c.select_folder("Inbox")
    assert c.sort(["SUBJECT"]) == [4, 5, 1, 2, 3]
    assert c.sort(["REVERSE", "DATE"], ["UNDELETED"]) == [4, 1, 2, 5, 3]
    assert c.sort("DISPLAYFROM", "ALL", charset="US-ASCII") == [2, 4, 5, 3, 1]
    assert c.thread() == ((3,), (2, 1), (5,), (4,))  # REFERENCES: "Re: hello" under "hello"
    assert c.thread(algorithm="REFS") == ((3,), (2,), (5,), (1,), (4,))
    assert c.thread(algorithm="ORDEREDSUBJECT", criteria=["SUBJECT", "hello"]) == ((2, 1),)
    c.logout()
