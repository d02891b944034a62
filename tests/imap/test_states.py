"""Every command in every state it is not allowed in (RFC 9051 6; mox's
``imapserver/server.go`` lets any known command run when selected, we do not):
LOGIN/AUTHENTICATE/STARTTLS only before authentication, CHECK only when selected."""

NOT_AUTH_ONLY = ["starttls", "login mox@localhost moxmoxmox", "authenticate plain"]
AUTH = [
    "enable condstore", "select inbox", "examine inbox", "create x", "delete x", "rename x y", "subscribe x",
    "unsubscribe x", 'list "" *', 'lsub "" *', "namespace", "status inbox (messages)", "append inbox {1+}\r\nx",
    "idle", "getquotaroot inbox", 'getquota ""', "notify none",
]
SELECTED = [
    "check", "close", "unselect", "expunge", "uid expunge 1", "search all", "uid search all", "fetch 1 flags",
    "uid fetch 1 flags", "store 1 +flags (\\Seen)", "uid store 1 +flags (\\Seen)", "copy 1 Archive",
    "uid copy 1 Archive", "move 1 Archive", "uid move 1 Archive",
]


def expect_state_error(tc, cmd):
    tc.transact("no", cmd)
    assert tc.result.text.endswith(" not allowed in this connection state"), (cmd, tc.result.text)


def test_not_authenticated(imap):
    tc = imap.connect(login=False)
    for cmd in AUTH + SELECTED:
        expect_state_error(tc, cmd)
    for cmd in ["capability", "noop", 'id nil']:
        tc.transact("ok", cmd)


def test_authenticated(imap):
    tc = imap.connect()
    for cmd in NOT_AUTH_ONLY + SELECTED:
        expect_state_error(tc, cmd)
    for cmd in ["capability", "noop", "id nil", "namespace", 'list "" ""']:
        tc.transact("ok", cmd)


def test_selected(imap):
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    for cmd in NOT_AUTH_ONLY:
        expect_state_error(tc, cmd)
    tc.transact("ok", "check")
    tc.transact("ok", "status inbox (messages)")  # authenticated-state commands also work when selected


def test_logout_ends_everything(imap):
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    tc.transact("ok", "logout")
    tc.expect_untagged("* BYE thanks")
    tc.expect_closed()
