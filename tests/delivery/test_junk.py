"""The junk filter against a running localserve (mox's localserve settings: automatic junk flags,
a Bayesian filter on words, threshold 0.95): messages put in Junk are trained as spam, those
put in Archive as ham; a new message like the spam goes to Junk, one like the ham to Inbox.
`mox retrain` rebuilds the filter through the control channel; `mox junk train|check|test|analyze`
work on directories of messages."""

from __future__ import annotations

import random
from pathlib import Path

from mox.testing import LocalServer

from ..conftest import run_mox
from .conftest import imap, mailbox_flags, smtp_send, subjects

SPAM_WORDS = "cheap pills casino winner prize claim bitcoin lottery urgent offer viagra discount".split()
HAM_WORDS = "meeting project schedule review agenda notes team budget report quarter release plan".split()


def text(words: list[str], rnd: random.Random, n: int = 40) -> str:
    return " ".join(rnd.choice(words) for _ in range(n))


def msg(subject: str, body: str) -> bytes:
    return f"From: someone@example.org\r\nTo: mox@localhost\r\nSubject: {subject}\r\n\r\n{body}\r\n".encode()


def append_all(srv, mailbox: str, msgs: list[bytes]) -> None:
    c = imap(srv)
    try:
        for m in msgs:
            typ, data = c.append(mailbox, None, None, m)
            assert typ == "OK", data
    finally:
        c.logout()


def test_junk_filter_trained_from_mailboxes(tmp_path: Path) -> None:
    rnd = random.Random(1)
    with LocalServer(dir=tmp_path / "data") as srv:
        # Added to Junk: trained as spam; to Archive: as ham. mox's filter needs 50 hams before
        # its verdicts count.
        append_all(srv, "Junk", [msg(f"spam {i}", text(SPAM_WORDS, rnd)) for i in range(20)])
        append_all(srv, "Archive", [msg(f"ham {i}", text(HAM_WORDS, rnd)) for i in range(50)])
        # The mailboxes set the flags the filter learns from (mox's localserve regexps).
        assert all(f >= {"$Junk"} and "$NotJunk" not in f for f in mailbox_flags(srv, "Junk").values())
        assert all(f >= {"$NotJunk"} and "$Junk" not in f for f in mailbox_flags(srv, "Archive").values())

        smtp_send(srv, msg("spam twin", text(SPAM_WORDS, rnd)))
        smtp_send(srv, msg("ham twin", text(HAM_WORDS, rnd)))
        assert "spam twin" in subjects(srv, "Junk")
        assert subjects(srv, "Inbox") == ["ham twin"]
        # Delivered to Junk, the twin is marked junk too; nothing went to Rejects (localserve
        # classifies, it does not refuse).
        assert mailbox_flags(srv, "Junk")["spam twin"] >= {"$Junk"}
        assert subjects(srv, "Rejects") == []

        # mox retrain: a new filter from the flags, through the control channel.
        r = run_mox("retrain", "-dir", str(srv.dir), "mox")
        assert (r.returncode, r.stderr) == (0, "")
        r = run_mox("retrain", "-dir", str(srv.dir), "nobody")
        assert r.returncode == 1 and "not found" in r.stderr
        smtp_send(srv, msg("spam after retrain", text(SPAM_WORDS, rnd)))
        assert "spam after retrain" in subjects(srv, "Junk")


def test_junk_commands(tmp_path: Path) -> None:
    rnd = random.Random(2)
    ham, spam = tmp_path / "ham", tmp_path / "spam"
    ham.mkdir()
    spam.mkdir()
    for i in range(50):  # significant verdicts need 50 hams (mox)
        (ham / f"h{i}.eml").write_bytes(msg(f"ham {i}", text(HAM_WORDS, rnd)))
    for i in range(20):
        (spam / f"s{i}.eml").write_bytes(msg(f"spam {i}", text(SPAM_WORDS, rnd)))
    db, bloom = str(tmp_path / "filter.db"), str(tmp_path / "filter.bloom")
    files = ["-dbpath", db, "-bloompath", bloom, "-one-grams", "-rare-words=0"]
    r = run_mox("junk", "train", *files, str(ham), str(spam))
    assert r.returncode == 0, r.stderr
    assert "print: training done; pkg=junk; hams=50;" in r.stderr and "spams=20;" in r.stderr
    probe = tmp_path / "probe.eml"
    probe.write_bytes(msg("probe", text(SPAM_WORDS, rnd)))
    r = run_mox("junk", "check", *files, str(probe))
    assert r.returncode == 0, r.stderr
    prob, sig = r.stdout.strip().split(", ")
    assert float(prob) > 0.95 and sig == "significant"
    probe.write_bytes(msg("probe", text(HAM_WORDS, rnd)))
    r = run_mox("junk", "check", *files, str(probe))
    assert float(r.stdout.split(",")[0]) < 0.05
    r = run_mox("junk", "test", *files, str(ham), str(spam))
    assert r.returncode == 0, r.stderr
    assert "total ham, ok 50, bad 0" in r.stdout and "total spam, ok 20, bad 0" in r.stdout
    r = run_mox("junk", "analyze", "-dbpath", str(tmp_path / "a.db"), "-bloompath", str(tmp_path / "a.bloom"),
                "-one-grams", "-rare-words=0", "-seed", str(ham), str(spam))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "training done, nham 25, nsent 0, nspam 10" in r.stdout
    r = run_mox("junk", "check", *files, str(tmp_path / "missing.eml"))
    assert r.returncode == 1 and "testing mail" in r.stderr


def test_reject_to_rejects_mailbox(conf_dir: Path) -> None:
    """With Reject on, junk is refused during SMTP (451 4.3.0, as mox) and kept once in the
    rejects mailbox; the same message later accepted leaves it; a ruleset's
    AcceptRejectsToMailbox takes junk it matches into that mailbox instead."""
    import smtplib

    from .conftest import configured

    def change(acc: dict) -> None:
        acc["JunkFilter"] = {**acc["JunkFilter"], "Reject": True}
        acc["Destinations"] = {"mox@localhost": {"Rulesets": [
            {"MsgFromRegexp": "^partner@", "AcceptRejectsToMailbox": "Partner-junk", "Mailbox": "Partner"},
        ]}}  # fmt: skip

    rnd = random.Random(3)
    with configured(conf_dir, change) as srv:
        append_all(srv, "Junk", [msg(f"spam {i}", text(SPAM_WORDS, rnd)) for i in range(20)])
        append_all(srv, "Archive", [msg(f"ham {i}", text(HAM_WORDS, rnd)) for i in range(50)])
        spam = msg("refused", text(SPAM_WORDS, rnd)).replace(b"Subject:", b"Message-ID: <r1@example.org>\r\nSubject:")
        for _ in range(2):  # a retry is stored once
            try:
                smtp_send(srv, spam)
                raise AssertionError("junk accepted")
            except smtplib.SMTPDataError as e:
                assert e.smtp_code == 451 and e.smtp_error.startswith(b"4.3.0 error processing (")  # the cid
        assert subjects(srv, "Rejects") == ["refused"]
        assert mailbox_flags(srv, "Rejects")["refused"] >= {"\\Seen"}
        # The same message accepted later (now trained as ham) leaves Rejects.
        from_partner = msg("partner junk", text(SPAM_WORDS, rnd)).replace(b"From: someone@", b"From: partner@")
        smtp_send(srv, from_partner)
        assert subjects(srv, "Partner-junk") == ["partner junk"]
        assert subjects(srv, "Inbox") == []
        ham = msg("refused", text(HAM_WORDS, rnd)).replace(b"Subject:", b"Message-ID: <r1@example.org>\r\nSubject:")
        smtp_send(srv, ham)
        assert subjects(srv, "Inbox") == ["refused"]
        assert subjects(srv, "Rejects") == []
