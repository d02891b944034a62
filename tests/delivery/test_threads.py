"""Threads and previews against a running localserve: messages arrive over SMTP (port 1025),
are looked at over IMAP and through the account's store, and `mox reassignthreads` runs
through the control channel and on the data dir."""

from __future__ import annotations

import imaplib
import smtplib

import pytest

from mox.testing import LocalServer

from ..conftest import run_mox


def send(srv, mid: str, subject: str, *, refs: str = "", irt: str = "", body: str = "hi") -> None:
    h = f"From: other@example.org\r\nTo: mox@localhost\r\nSubject: {subject}\r\nMessage-ID: <{mid}>\r\n"
    if refs:
        h += f"References: {refs}\r\n"
    if irt:
        h += f"In-Reply-To: {irt}\r\n"
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"]) as c:
        c.sendmail("other@example.org", ["mox@localhost"], (h + "\r\n" + body + "\r\n").encode())


def inbox(srv):
    def get():
        acc = srv.store.open_account("mox")
        try:
            return acc.messages(acc.mailbox("Inbox").id)
        finally:
            acc.close()

    return srv.run_sync_in_server(get)


def by_msgid(srv) -> dict:
    return {m.message_id: m for m in inbox(srv)}


def imap_flags(srv) -> dict[int, str]:
    c = imaplib.IMAP4("127.0.0.1", srv.ports["imap"])
    try:
        c.login(srv.address, srv.password)
        c.select("Inbox", readonly=True)
        typ, data = c.uid("fetch", "1:*", "(FLAGS)")
        assert typ == "OK"
        out = {}
        for line in data:
            s = line.decode()
            uid = int(s.split("UID ")[1].split()[0].rstrip(")"))
            out[uid] = " ".join(f for f in s.split("FLAGS (")[1].split(")")[0].split() if f != "\\Recent")
        return out
    finally:
        c.logout()


@pytest.fixture
def srv():
    with LocalServer() as s:
        yield s


def test_reply_chain_and_mute(srv):
    send(srv, "1@example.org", "Plans")
    send(srv, "2@example.org", "Re: Plans", refs="<1@example.org>", irt="<1@example.org>")
    send(srv, "3@example.org", "Re: Re: Plans", refs="<1@example.org> <2@example.org>", irt="<2@example.org>")
    m = by_msgid(srv)
    m1, m2, m3 = m["1@example.org"], m["2@example.org"], m["3@example.org"]
    assert m1.thread_id == m2.thread_id == m3.thread_id == m1.id
    assert (m2.thread_parent_ids, m3.thread_parent_ids) == ((m1.id,), (m2.id, m1.id))
    assert not any(x.thread_missing_link for x in (m1, m2, m3))

    # Mute the thread; the next reply arrives \Seen (IMAP sees it so), the one before not.
    def mute():
        acc = srv.store.open_account("mox")
        try:
            acc.set_thread_muted_sync([m1.id], True)
        finally:
            acc.close()

    srv.run_sync_in_server(mute)
    send(srv, "4@example.org", "Re: Plans", refs="<1@example.org> <2@example.org> <3@example.org>")
    send(srv, "5@example.org", "Unrelated")
    m = by_msgid(srv)
    m4, m5 = m["4@example.org"], m["5@example.org"]
    assert (m4.thread_id, m4.thread_muted, m4.thread_collapsed) == (m1.id, True, True)
    flags = imap_flags(srv)
    assert flags[m4.uid] == "\\Seen"
    assert flags[m3.uid] == "" and flags[m5.uid] == ""


def test_subject_only_chain(srv):
    send(srv, "a@example.org", "Weekly report")
    send(srv, "b@example.org", "Re: Weekly report")
    send(srv, "c@example.org", "RE: [team] Re: weekly   report")
    m = by_msgid(srv)
    a, b, c = m["a@example.org"], m["b@example.org"], m["c@example.org"]
    assert a.thread_id == b.thread_id == c.thread_id == a.id
    assert (b.thread_parent_ids, c.thread_parent_ids) == ((a.id,), (b.id, a.id))
    assert b.thread_missing_link and c.thread_missing_link
    assert c.subject_base == "weekly report"


def test_reassignthreads_ctl_and_offline(tmp_path):
    with LocalServer(dir=tmp_path / "data") as srv:
        # The reply arrives before the message it replies to: separate threads at delivery.
        send(srv, "y@example.org", "Re: Topic", refs="<x@example.org>")
        send(srv, "x@example.org", "Topic")
        m = by_msgid(srv)
        assert m["y@example.org"].thread_id == m["y@example.org"].id
        r = run_mox("reassignthreads", "-dir", str(srv.dir), "mox")
        assert (r.returncode, r.stderr) == (0, "")
        assert r.stdout == (
            "New thread base subject assigned to 2 message(s), starting to reassign threads...\n"
            "assigning threads, done: 2 messages\n"
            'Threads reassigned. You should invalidate messages stored at imap clients with the "mox '
            'bumpuidvalidity account [mailbox]" command.\n'
        )
        m = by_msgid(srv)
        x, y = m["x@example.org"], m["y@example.org"]
        assert (y.thread_id, y.thread_parent_ids) == (x.id, (x.id,))
        r = run_mox("reassignthreads", "-dir", str(srv.dir), "nobody")
        assert (r.returncode, r.stdout, r.stderr) == (1, "", "mox: open account: account 'nobody' not found\n")
        send(srv, "z@example.org", "Re: Topic", refs="<w@example.org>")
        send(srv, "w@example.org", "Topic")
    # Offline, all accounts: a line per account first.
    r = run_mox("reassignthreads", "-dir", str(tmp_path / "data"))
    assert (r.returncode, r.stderr) == (0, "info: threads reassigned; pkg=store; account=mox; messages=4; changed=1\n")
    assert r.stdout.startswith("Reassigning threads for account mox...\nNew thread base subject assigned to 4 message(s)")
    with LocalServer(dir=tmp_path / "data") as srv:
        m = by_msgid(srv)
        assert m["z@example.org"].thread_parent_ids == (m["w@example.org"].id,)


def test_previews(srv):
    """Previews stored at delivery, as mox computes them, for text, HTML and multipart."""
    msgs = {
        "p1@example.org": (
            "Content-Type: text/plain\r\n",
            "Sounds good.\r\n\r\nOn Mon, 1 Jan 2024 at 10:00, Bob wrote:\r\n> shall we?\r\n> ok\r\n\r\n-- \r\nAlice\r\n",
            "Sounds good.\n[...]\n",
        ),
        "p2@example.org": (
            "Content-Type: text/html; charset=utf-8\r\n",
            "<html><head><style>p{}</style></head><body><p>Hello <b>there</b></p><div>second&nbsp;line</div>"
            "<blockquote>quoted</blockquote><p>after</p></body></html>\r\n",
            "Hello there\nsecond\u00a0line\n[...]\nafter\n",
        ),
        "p3@example.org": (
            'Content-Type: multipart/alternative; boundary="xx"\r\n',
            "--xx\r\nContent-Type: text/plain\r\n\r\nplain version\r\n--xx\r\nContent-Type: text/html\r\n\r\n"
            "<p>html version</p>\r\n--xx--\r\n",
            "plain version\n",
        ),
        "p4@example.org": (
            'Content-Type: multipart/mixed; boundary="yy"\r\n',
            "--yy\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--yy\r\n"
            "Content-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>caf=C3=A9</p>\r\n--yy--\r\n",
            "caf\u00e9\n",
        ),
    }
    for mid, (ct, body, _) in msgs.items():
        data = f"From: a@example.org\r\nTo: mox@localhost\r\nSubject: p\r\nMessage-ID: <{mid}>\r\nMIME-Version: 1.0\r\n{ct}\r\n{body}"
        with smtplib.SMTP("127.0.0.1", srv.ports["smtp"]) as c:
            c.sendmail("a@example.org", ["mox@localhost"], data.encode())
    got = {k: v.preview for k, v in by_msgid(srv).items()}
    assert got == {mid: want for mid, (_, _, want) in msgs.items()}
