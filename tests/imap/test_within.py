"""WITHIN (RFC 5032): SEARCH OLDER/YOUNGER with an interval in seconds, counted back from the
moment of the search, on the internal date. The RFC's example (section 3) and edge cases: the
interval's bounds, combinations with other keys, UID SEARCH and ESEARCH, bad intervals."""

from __future__ import annotations

import time

DAY = 86400


def deliver_aged(imap) -> None:
    now = time.time()
    # Ages: 10 days, 4 days, 2 days (seen), 1 hour, just now. Sequence numbers 1..5.
    for age, flags in ((10 * DAY, []), (4 * DAY, []), (2 * DAY, ["\\Seen"]), (3600, []), (0, [])):
        imap.deliver(b"Subject: x\r\n\r\nhello\r\n", received=now - age, flags=flags)


def test_advertised(imap):
    tc = imap.connect()
    tc.transact("ok", "capability")
    assert "WITHIN" in tc.untagged[0][1].decode().split()


def test_rfc5032_example(imap):
    # RFC 5032 3: "C: a1 SEARCH UNSEEN YOUNGER 259200" gives the unseen messages of the last
    # three days.
    deliver_aged(imap)
    tc = imap.connect()
    tc.transact("ok", "examine inbox")
    tc.transact("ok", "SEARCH UNSEEN YOUNGER 259200")
    tc.expect_untagged("* SEARCH 4 5")
    tc.transact("ok", "SEARCH YOUNGER 259200")
    tc.expect_untagged("* SEARCH 3 4 5")
    tc.transact("ok", "SEARCH OLDER 259200")
    tc.expect_untagged("* SEARCH 1 2")
    tc.transact("ok", "UID SEARCH RETURN (COUNT MIN) OLDER 3000")
    tc.expect_untagged('* ESEARCH (TAG "tag1") UID MIN 1 COUNT 4'.replace("tag1", tc.result.tag))


def test_edges(imap):
    deliver_aged(imap)
    tc = imap.connect()
    tc.transact("ok", "examine inbox")
    # A week back: two messages are older; everything is younger than a month; nothing older.
    tc.transact("ok", "SEARCH OLDER 604800")
    tc.expect_untagged("* SEARCH 1")
    tc.transact("ok", "SEARCH YOUNGER 2592000")
    tc.expect_untagged("* SEARCH 1 2 3 4 5")
    tc.transact("ok", "SEARCH OLDER 2592000")
    tc.expect_untagged("* SEARCH")
    # Both together select a window: older than a day, younger than five days.
    tc.transact("ok", "SEARCH OLDER 86400 YOUNGER 432000")
    tc.expect_untagged("* SEARCH 2 3")
    tc.transact("ok", "SEARCH NOT YOUNGER 7200")
    tc.expect_untagged("* SEARCH 1 2 3")
    tc.transact("ok", "SEARCH OR OLDER 604800 YOUNGER 60")
    tc.expect_untagged("* SEARCH 1 5")
    tc.transact("ok", "SEARCH YOUNGER 4294967295")  # the largest nz-number
    tc.expect_untagged("* SEARCH 1 2 3 4 5")
    # interval = nz-number (RFC 5032 4): not zero, not negative, not beyond 32 bits, not absent.
    for bad in ("OLDER 0", "YOUNGER -5", "YOUNGER 4294967296", "OLDER", "OLDER abc", "YOUNGER 1.5"):
        tc.transact("bad", f"SEARCH {bad}")


def test_empty_mailbox(imap):
    tc = imap.connect()
    tc.transact("ok", "examine inbox")
    tc.transact("ok", "SEARCH YOUNGER 1")
    tc.expect_untagged("* SEARCH")
