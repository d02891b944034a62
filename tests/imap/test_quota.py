"""GETQUOTAROOT and GETQUOTA (RFC 9208): one root "" per account, STORAGE only with a quota."""

MSG = b"Subject: x\r\n\r\n" + b"x" * 2000 + b"\r\n"


def test_quota_unlimited(imap):
    tc = imap.connect()
    tc.transact("ok", "getquotaroot inbox")
    tc.expect_untagged('* QUOTAROOT Inbox ""')
    tc.transact("ok", "getquotaroot nonexistent")  # the mailbox need not exist
    tc.expect_untagged('* QUOTAROOT nonexistent ""')
    tc.transact("ok", 'getquota ""')
    tc.expect_no_untagged()
    tc.transact("no", "getquota other")
    tc.transact("bad", "getquota")


def test_quota_limited(imap):
    imap.start(quota=10 * 1024)
    imap.deliver(MSG)
    tc = imap.connect()
    tc.transact("ok", "getquotaroot inbox")
    tc.expect_untagged('* QUOTAROOT Inbox ""', '* QUOTA "" (STORAGE 2 10)')
    tc.transact("ok", 'getquota ""')
    tc.expect_untagged('* QUOTA "" (STORAGE 2 10)')
    tc.transact("ok", "select inbox")
    for _ in range(4):  # 5 messages of ~2 KiB fit in 10 KiB, a 6th does not
        tc.transact("ok", "copy 1 Archive")
    tc.transact("no", "copy 1 Archive")
    tc.expect_code("OVERQUOTA")
