"""Testing mail-sending code against a real mail server: the `mox_server` fixture."""

from welcome import send_welcome


def test_welcome_mail_arrives(mox_server):
    msgid = send_welcome(
        "Alice", "alice@example.org",
        smtp=mox_server.smtp_address,
        login=(mox_server.address, mox_server.password),
    )

    msg = mox_server.inbox.wait_for(to="alice@example.org", subject="Welcome", timeout=10)
    assert msg.subject == "Welcome to Example, Alice"
    assert msg.message["Message-ID"] == msgid
    assert "your account alice@example.org is ready." in msg.text


def test_each_test_starts_with_an_empty_inbox(mox_server):
    assert mox_server.inbox.messages() == []
    send_welcome("Bob", "bob@example.org", smtp=mox_server.smtp_address,
                 login=(mox_server.address, mox_server.password))
    send_welcome("Carol", "carol@example.org", smtp=mox_server.smtp_address,
                 login=(mox_server.address, mox_server.password))
    mox_server.inbox.wait_for(to="bob@example.org", timeout=10)
    mox_server.inbox.wait_for(to="carol@example.org", timeout=10)
    assert sorted(m.subject for m in mox_server.inbox.messages()) == [
        "Welcome to Example, Bob", "Welcome to Example, Carol"]

    mox_server.inbox.clear()
    assert mox_server.inbox.messages() == []
