"""APPEND (RFC 9051 6.3.12): flags, keywords, date, APPENDUID, literal8/UTF8, TRYCREATE, OVERQUOTA."""

import calendar
import imaplib

MSG = b"Subject: appended\r\n\r\nbody\r\n"


def test_append(imap):
    tc = imap.connect()
    tc2 = imap.connect()
    tc2.transact("ok", "select inbox")
    uv = imap.account.mailbox("Inbox").uidvalidity
    tc.transact("ok", "append inbox ", MSG)
    tc.expect_code(f"APPENDUID {uv} 1")
    assert tc.result.text == "appended"
    tc.transact("ok", 'append inbox (\\Seen $Custom) " 2-Feb-2024 12:00:00 +0100" ', MSG)
    tc.expect_code(f"APPENDUID {uv} 2")
    m = imap.account.message(imap.account.mailbox("Inbox").id, 2)
    assert m.flags == ("\\Seen", "$custom")
    assert m.received == calendar.timegm((2024, 2, 2, 11, 0, 0))
    assert imap.account.read_message(m) == MSG
    tc2.transact("ok", "noop")
    tc2.expect_untagged(
        "* 2 EXISTS",  # one EXISTS for both new messages
        "* 2 RECENT",  # the selecting session is the first to see them (RFC 3501 2.3.2)
        "* 1 FETCH (UID 1 FLAGS (\\Recent))",
        "* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $Forwarded $Junk $NotJunk $Phishing $MDNSent $custom)",
        "* 2 FETCH (UID 2 FLAGS (\\Seen $custom \\Recent))",
    )
    tc.transact("no", "append nonexistent ", MSG)
    tc.expect_code("TRYCREATE")
    tc.transact("bad", "append inbox (\\Bogus) ", MSG)
    tc.transact("bad", 'append inbox "bad date" ', MSG)
    tc.transact("bad", "append inbox")


def test_append_selected_literal8_utf8(imap):
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    tc.transact("ok", "append inbox ~{5+}\r\na\x00b\r\n")
    tc.expect_untagged("* 1 EXISTS", "* 1 RECENT")  # appended to the selected mailbox: \\Recent here
    tc.transact("ok", "append inbox UTF8 (~{5+}\r\nSub\r\n)")
    tc.expect_untagged("* 2 EXISTS", "* 2 RECENT")
    tc.transact("ok", "uid fetch 1 binary.size[]")
    tc.expect_untagged("* 1 FETCH (UID 1 BINARY.SIZE[] 5)")


def test_append_sync_literal_continuation(imap):
    tc = imap.connect()
    tc.write_line(f"a1 APPEND Inbox {{{len(MSG)}}}")
    assert tc.read_line() == "+ "  # the space is required by some clients
    tc.write(MSG + b"\r\n")
    line = tc.read_line()
    assert line.startswith("a1 OK [APPENDUID ") and line.endswith(" 1] appended")


def test_append_overquota(imap):
    imap.start(quota=100)
    tc = imap.connect()
    tc.transact("ok", "append inbox ", MSG)
    tc.transact("no", "append inbox ", b"Subject: big\r\n\r\n" + b"x" * 200 + b"\r\n")
    tc.expect_code("OVERQUOTA")


def test_append_imaplib(imap):
    imap.start()
    c = imaplib.IMAP4("127.0.0.1", imap.ports["imap"])
    c.login("mox@localhost", "moxmoxmox")
    typ, data = c.append("Inbox", "(\\Flagged)", imaplib.Time2Internaldate(1700000000), MSG)
    assert typ == "OK"
    assert b"APPENDUID" in data[0]
    c.select("Inbox")
    typ, data = c.fetch("1", "(FLAGS BODY.PEEK[])")
    assert typ == "OK" and data[0][1] == MSG and b"\\Flagged" in data[0][0]
    c.logout()


def test_append_empty_and_odd_messages(imap):
    tc = imap.connect()
    tc.transact("ok", "append inbox {0+}\r\n")
    tc.transact("ok", "append inbox ", b"no header, no line end")
    tc.transact("ok", "append inbox ", b"Subject: lf only\n\nbody\n")
    tc.transact("ok", "select inbox")
    tc.transact("ok", "fetch 1:* (rfc822.size bodystructure envelope)")
    assert len(tc.untagged) == 3
