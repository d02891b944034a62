"""PREVIEW (RFC 8970): FETCH PREVIEW gives the store's preview of a message (made at delivery,
mox's algorithm in mox.message.preview), at most 200 characters; PREVIEW (LAZY) the same. The
RFC's example (section 6), a message without text (empty preview), a multipart message, and
bad syntax."""

from __future__ import annotations

from mox.imap.responses import FetchPreview, UntaggedFetch

PLAIN = (
    b"From: Fred <fred@example.org>\r\nSubject: hi\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n"
)
LONG = b"Subject: long\r\n\r\n" + b"word " * 200 + b"\r\n"
ATTACHMENT = (
    b"Subject: file\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
    b"Content-Disposition: attachment; filename=x.bin\r\n\r\nxxxx\r\n"
)


def previews(tc) -> dict[int, str | None]:
    return {r.seq: r.attr(FetchPreview).text for r, _ in tc.untagged if isinstance(r, UntaggedFetch)}


def test_advertised(imap):
    tc = imap.connect()
    tc.transact("ok", "capability")
    assert "PREVIEW" in tc.untagged[0][1].decode().split()


def test_fetch_preview(imap):
    for m in (PLAIN, LONG, ATTACHMENT):
        imap.deliver(m)
    acc = imap.account
    stored = [m.preview for m in acc.messages(acc.mailbox("Inbox").id)]
    tc = imap.connect()
    tc.transact("ok", "examine inbox")
    # RFC 8970 6: "C: A1 FETCH 1 (PREVIEW)" / "S: * 1 FETCH (PREVIEW "Hello Joe, ...")".
    tc.transact("ok", "FETCH 1 (PREVIEW)")
    got = previews(tc)
    assert got[1] == stored[0] and got[1].startswith("Hello Joe, do you think we can meet at 3:30 tomorrow?")
    tc.transact("ok", "FETCH 1:3 (UID PREVIEW (LAZY))")
    got = previews(tc)
    assert got[1] == stored[0]
    assert got[2] == stored[1][:200] and len(got[2]) == 200  # at most 200 characters
    assert got[3] == ""  # no text: an empty preview
    assert tc.untagged[-1][1] == b'* 3 FETCH (UID 3 PREVIEW "")'
    # Previews don't set \Seen.
    tc.transact("ok", "FETCH 1 (FLAGS)")
    tc.expect_untagged("* 1 FETCH (FLAGS (\\Recent))")
    for bad in ("FETCH 1 (PREVIEW (EAGER))", "FETCH 1 (PREVIEW ())", "FETCH 1 PREVIEW (LAZY"):
        tc.transact("bad", bad)
