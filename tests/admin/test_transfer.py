"""`mox export` then `mox import` round trips (mbox and Maildir, flags and keywords, byte-identical
messages), `mox backup`, and their errors, against a running mox (mox ``main.go``)."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from mox.admin import transfer
from mox.store import Store
from mox.testing import LocalServer

from ..conftest import run_mox

MSGS = [
    (
        b"From: a@example.org\r\nTo: mox@localhost\r\nSubject: one\r\n\r\nHello\r\n"
        b"From the start of a line\r\n>From escaped once\r\n>>From twice\r\nFrom\r\n\r\n",
        (r"\Seen", r"\Answered", "$Forwarded", "project-x"),
    ),
    # Not $Junk: localserve's automatic junk flags would clear it in Inbox (as mox).
    (b"Subject: two\r\n\r\nbody\r\n", (r"\Flagged", r"\Draft", r"\Deleted", "$Phishing")),
    (b"Subject: three\r\n\r\nno flags, \xe2\x82\xac\r\n", ()),
]
RECEIVED = 1700000000.0


def _deliver(acc, mailbox="Inbox"):
    for i, (data, flags) in enumerate(MSGS):
        acc.deliver_sync(mailbox, data, flags=flags, received=RECEIVED + i)


def _contents(acc, mailbox):
    mb = acc.mailbox(mailbox)
    return [(acc.read_message(m), m.flags, int(m.received)) for m in acc.messages(mb.id)]


def _strip_junk(rows):
    return [(d, tuple(f for f in fl if f not in ("$Junk", "$NotJunk")), t) for d, fl, t in rows]


@pytest.fixture(scope="module")
def server():
    with LocalServer() as srv:
        acc = srv.store.open_account("mox")
        _deliver(acc)
        acc.close()
        yield srv


def mox(srv, *args):
    i = 2 if args[0] in ("import", "export") else 1
    return run_mox(*args[:i], "-dir", str(srv.dir), *args[i:])


@pytest.mark.parametrize("fmt", ["mbox", "maildir"])
def test_round_trip(server, tmp_path, fmt):
    dst = tmp_path / "export"
    r = mox(server, "export", fmt, str(dst), "mox", "Inbox")
    assert (r.returncode, r.stdout, r.stderr) == (0, "exported 3 message(s) in 1 mailbox(es)\n", "")
    src = dst / ("Inbox.mbox" if fmt == "mbox" else "Inbox")
    r = mox(server, "import", fmt, "mox", f"Imported-{fmt}/sub", str(src))
    assert (r.returncode, r.stdout, r.stderr) == (0, "imported 3 message(s) in 1 mailbox(es)\n", "")
    acc = server.store.open_account("mox")
    try:
        # Flags and keywords round trip; localserve's automatic junk flags (as mox) clear
        # $Junk/$NotJunk in Inbox (a neutral mailbox) and set $NotJunk in other mailboxes.
        imported = _contents(acc, f"Imported-{fmt}/sub")
        assert _strip_junk(imported) == _contents(acc, "Inbox")
        assert all("$NotJunk" in fl and "$Junk" not in fl for _, fl, _ in imported)
        assert [m[0] for m in imported] == [d for d, _ in MSGS]
    finally:
        acc.close()


def test_mbox_format(server, tmp_path):
    r = mox(server, "export", "mbox", str(tmp_path), "mox", "Inbox")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "Inbox.mbox").read_bytes() == (
        b"From mox Tue Nov 14 22:13:20 2023\n"
        b"Status: R\n"
        b"X-Status: A\n"
        b"X-Keywords: $Forwarded, project-x\n"
        b"From: a@example.org\nTo: mox@localhost\nSubject: one\n\nHello\n"
        b">From the start of a line\n>>From escaped once\n>>>From twice\nFrom\n\n"
        b"\n"
        b"From mox Tue Nov 14 22:13:21 2023\n"
        b"X-Status: FTD\n"
        b"X-Keywords: $Phishing\n"
        b"Subject: two\n\nbody\n"
        b"\n"
        b"From mox Tue Nov 14 22:13:22 2023\n"
        b"Subject: three\n\nno flags, \xe2\x82\xac\n"
        b"\n"
    )


def test_maildir_format(server, tmp_path):
    r = mox(server, "export", "maildir", str(tmp_path), "mox", "Inbox")
    assert r.returncode == 0, r.stderr
    box = tmp_path / "Inbox"
    assert sorted(p.name for p in box.iterdir()) == ["cur", "dovecot-keywords", "new", "tmp"]
    assert (box / "dovecot-keywords").read_text(encoding="utf-8") == "0 $Forwarded\n1 project-x\n2 $Phishing\n"
    sep = transfer.info_separator()
    names = sorted(p.name for p in (box / "cur").iterdir())
    ids = [n.split(".")[1] for n in names]
    assert names == [
        f"1700000000.{ids[0]}.mox{sep}2,RSab",
        f"1700000001.{ids[1]}.mox{sep}2,DFTc",
        f"1700000002.{ids[2]}.mox{sep}2,",
    ]
    assert (box / "cur" / names[1]).read_bytes() == b"Subject: two\n\nbody\n"


def test_export_all_mailboxes_direct(tmp_path):
    # Without a running mox, export opens the data dir itself.
    data = tmp_path / "data"
    with Store(data, fsync=False) as store:
        store.create_account("acc")
        acc = store.open_account("acc")
        acc.create_mailbox_sync("Lists/mox")
        _deliver(acc, "Lists/mox")
        acc.close()
    r = run_mox("export", "mbox", "-dir", str(data), str(tmp_path / "out"), "acc")
    assert (r.returncode, r.stdout, r.stderr) == (0, "exported 3 message(s) in 8 mailbox(es)\n", "")
    names = sorted(str(p.relative_to(tmp_path / "out")).replace("\\", "/") for p in (tmp_path / "out").rglob("*.mbox"))
    assert names == ["Archive.mbox", "Drafts.mbox", "Inbox.mbox", "Junk.mbox", "Lists.mbox", "Lists/mox.mbox",
                     "Sent.mbox", "Trash.mbox"]
    # Exporting again into the same place never overwrites.
    r = run_mox("export", "mbox", "-dir", str(data), str(tmp_path / "out"), "acc")
    assert r.returncode == 1 and r.stderr.startswith("mox: file exists, not overwriting: ")
    r = run_mox("export", "maildir", "-dir", str(data), str(tmp_path / "out2"), "nobody")
    assert (r.returncode, r.stderr) == (1, "mox: unknown account 'nobody'\n")
    r = run_mox("export", "maildir", "-dir", str(data), str(tmp_path / "out2"), "acc", "Nope")
    assert (r.returncode, r.stderr) == (1, "mox: mailbox 'Nope' not found\n")
    r = run_mox("export", "maildir", "-dir", str(tmp_path / "nodata"), str(tmp_path / "out2"), "acc")
    assert (r.returncode, r.stderr) == (1, f"mox: no mox data dir at {tmp_path / 'nodata'}\n")


def test_import_errors(server, tmp_path):
    bad = tmp_path / "bad.mbox"
    bad.write_bytes(b"Subject: no from line\n\nx\n")
    r = mox(server, "import", "mbox", "mox", "Inbox", str(bad))
    assert (r.returncode, r.stderr) == (1, 'mox: bad.mbox:1: mbox does not start with a "From " line\n')
    r = mox(server, "import", "mbox", "nobody", "Inbox", str(bad))
    assert (r.returncode, r.stderr) == (1, "mox: unknown account 'nobody'\n")
    r = mox(server, "import", "maildir", "mox", "Inbox", str(tmp_path / "missing"))
    assert (r.returncode, r.stderr) == (1, f"mox: no such file or directory: {tmp_path / 'missing'}\n")
    r = mox(server, "import", "maildir", "mox", "Inbox", str(tmp_path))
    assert (r.returncode, r.stderr) == (1, f"mox: {tmp_path} is not a maildir (no cur or new directory)\n")
    r = mox(server, "import", "mbox", "mox", "Inbox", str(tmp_path))
    assert (r.returncode, r.stderr) == (1, f"mox: {tmp_path} is a directory, not an mbox file\n")
    # Export through the running mox: the same errors.
    r = mox(server, "export", "mbox", str(tmp_path / "x"), "nobody")
    assert (r.returncode, r.stderr) == (1, "mox: unknown account 'nobody'\n")
    r = mox(server, "export", "mbox", str(tmp_path / "x"), "mox", "Nope")
    assert (r.returncode, r.stderr) == (1, "mox: mailbox 'Nope' not found\n")


@pytest.mark.parametrize("cmd", [("import", "mbox", "mox", "Inbox", "."), ("backup", "x")])
def test_not_running(tmp_path, cmd):
    i = 2 if cmd[0] == "import" else 1
    r = run_mox(*cmd[:i], "-dir", str(tmp_path), *cmd[i:])
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == f"mox: mox is not running (no control channel at {tmp_path / 'ctl'})\n"


def test_help():
    from click.testing import CliRunner

    from mox.cli import cli

    for args in (("import", "maildir"), ("import", "mbox"), ("export", "maildir"), ("export", "mbox"), ("backup",)):
        r = CliRunner().invoke(cli, [*args, "--help"], prog_name="mox")
        assert r.exit_code == 0 and r.output.startswith(f"Usage: mox {' '.join(args)} [OPTIONS]"), r.output
    r = CliRunner().invoke(cli, ["export", "maildir", "--help"], prog_name="mox")
    assert "';2,'" in r.output  # the Windows file name convention is documented


def test_backup(server, tmp_path):
    from mox.auth import tlspubkey

    g = tlspubkey.generate(tmp_path / "k")
    r = run_mox("config", "tlspubkey", "add", "-dir", str(server.dir), "mox@localhost",
                input=g.certificate_path.read_text(encoding="utf-8"))
    assert r.returncode == 0, r.stderr
    dst = tmp_path / "backup"
    r = mox(server, "backup", str(dst))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("backup of 1 account(s) with ") and r.stdout.endswith(f" written to {dst}\n")
    assert not (dst / "ctl").exists() and not (dst / "ctl.json").exists()
    assert tlspubkey.TLSPubKeys(dst).get(g.fingerprint) is not None
    live = server.store.open_account("mox")
    try:
        with Store(dst, fsync=False) as copy:
            acc = copy.open_account("mox")
            assert acc.check_consistency() == []
            assert [mb.name for mb in acc.mailboxes()] == [mb.name for mb in live.mailboxes()]
            for mb in live.mailboxes():
                assert _contents(acc, mb.name) == _contents(live, mb.name)
            assert acc.check_password("moxmoxmox")
            acc.close()
    finally:
        live.close()
    r = mox(server, "backup", str(dst))
    assert (r.returncode, r.stderr) == (1, f"mox: destination {dst} exists and is not an empty directory\n")
    r = mox(server, "backup", str(server.dir / "inside"))
    assert (r.returncode, r.stderr) == (1, "mox: destination cannot be inside the data dir\n")


def test_backup_during_deliveries(server, tmp_path):
    # Deliveries and expunges while the backup runs: the copy is consistent whatever it caught.
    import threading

    stop = threading.Event()

    def churn():
        acc = server.store.open_account("mox")
        try:
            if acc.mailbox("Churn") is None:
                acc.create_mailbox_sync("Churn")
            mb = acc.mailbox("Churn")
            while not stop.is_set():
                m = acc.deliver_sync("Churn", b"Subject: churn\r\n\r\nx\r\n")
                acc.expunge_sync(mb.id, [m.uid])
        finally:
            acc.close()

    t = threading.Thread(target=churn)
    t.start()
    try:
        time.sleep(0.2)
        r = mox(server, "backup", str(tmp_path / "b"))
    finally:
        stop.set()
        t.join()
    assert r.returncode == 0, r.stderr
    with Store(tmp_path / "b", fsync=False) as copy:
        acc = copy.open_account("mox")
        assert acc.check_consistency() == []
        acc.close()


def test_readers():
    # Foreign conventions: Dovecot-on-Windows ";2," names, "!2," and headers written by other tools.
    mbox = (
        b"From someone@example.org Mon Jan  2 15:04:05 2006\n"
        b"Subject: x\nStatus: RO\nX-Keywords: Junk $label1\n\n>From here\n\n"
        b"From other Thu Feb 29 00:00:00 2024\nSubject: y\n\nlast line without newline"
    )
    msgs = list(transfer.read_mbox(io.BytesIO(mbox)))
    assert [m.data for m in msgs] == [
        b"Subject: x\r\nStatus: RO\r\nX-Keywords: Junk $label1\r\n\r\nFrom here\r\n",
        b"Subject: y\r\n\r\nlast line without newline\r\n",
    ]
    assert msgs[0].flags == ["$label1", "Junk", r"\Seen"] and msgs[0].received == 1136214245.0
    assert msgs[1].received == 1709164800.0 and msgs[0].source == "mbox:1"


def test_read_maildir_windows_names(tmp_path):
    for sub in ("cur", "new", "tmp"):
        (tmp_path / sub).mkdir()
    (tmp_path / "dovecot-keywords").write_text("0 $Forwarded\n3 later\nbogus line\n", encoding="utf-8")
    (tmp_path / "cur" / "1700000000.1.host;2,Sad").write_bytes(b"A: b\n\nx\n")
    (tmp_path / "cur" / "1700000001.2.host!2,F").write_bytes(b"A: c\r\n\r\ny\r\n")
    (tmp_path / "new" / "1700000002.3.host").write_bytes(b"A: d\n\nz")
    msgs = list(transfer.read_maildir(tmp_path))
    assert [(m.data, m.flags, m.received) for m in msgs] == [
        (b"A: d\r\n\r\nz", [], 1700000002.0),
        (b"A: b\r\n\r\nx\r\n", [r"\Seen", "$Forwarded", "later"], 1700000000.0),
        (b"A: c\r\n\r\ny\r\n", [r"\Flagged"], 1700000001.0),
    ]


def test_asctime():
    assert transfer.asctime(0) == "Thu Jan  1 00:00:00 1970"
    assert transfer.parse_from_line(b"From x " + transfer.asctime(RECEIVED).encode() + b"\n") == RECEIVED
    assert transfer.parse_from_line(b"From x garbage\n") is None


def test_export_windows_separator(server, tmp_path, monkeypatch):
    monkeypatch.setattr(transfer, "info_separator", lambda: ";")
    acc = server.store.open_account("mox")
    try:
        transfer.export_account(acc, tmp_path, "maildir", "Inbox")
        names = sorted(p.name for p in (tmp_path / "Inbox" / "cur").iterdir())
        assert all(";2," in n and ":" not in n for n in names)
        acc.create_mailbox_sync("WinImport") if acc.mailbox("WinImport") is None else None
        transfer.import_messages(acc, "WinImport", transfer.read_maildir(tmp_path / "Inbox"))
        assert _strip_junk(_contents(acc, "WinImport")) == _contents(acc, "Inbox")
    finally:
        acc.close()


def test_import_into_bad_mailbox_and_over_quota(tmp_path):
    with Store(tmp_path / "data", fsync=False) as store:
        store.create_account("acc")
        acc = store.open_account("acc")
        try:
            msgs = [transfer.ImportedMessage(d, list(f), RECEIVED, f"m{i}") for i, (d, f) in enumerate(MSGS)]
            with pytest.raises(transfer.TransferError, match="creating mailbox 'a//b'"):
                transfer.import_messages(acc, "a//b", iter(msgs))
            acc.quota = len(MSGS[0][0]) + 1
            with pytest.raises(transfer.TransferError, match=r"^m1: .*\(after importing 1 message\(s\)\)$"):
                transfer.import_messages(acc, "Inbox", iter(msgs))
            assert len(acc.messages(acc.mailbox("Inbox").id)) == 1
        finally:
            acc.close()


def test_maildir_round_trip_keeps_order(server, tmp_path):
    # Twelve messages received in the same second: file names differ only in the message id
    # (1..12), which must sort as numbers, not as text ("10" before "2").
    acc = server.store.open_account("mox")
    try:
        acc.create_mailbox_sync("Same-second")
        for i in range(12):
            acc.deliver_sync("Same-second", f"Subject: {i}\r\n\r\nbody {i}\r\n".encode(), received=RECEIVED)
    finally:
        acc.close()
    r = mox(server, "export", "maildir", str(tmp_path / "x"), "mox", "Same-second")
    assert (r.returncode, r.stderr) == (0, "")
    r = mox(server, "import", "maildir", "mox", "Same-second-back", str(tmp_path / "x" / "Same-second"))
    assert (r.returncode, r.stdout, r.stderr) == (0, "imported 12 message(s) in 1 mailbox(es)\n", "")
    acc = server.store.open_account("mox")
    try:
        got = [m[0] for m in _contents(acc, "Same-second-back")]
        assert got == [f"Subject: {i}\r\n\r\nbody {i}\r\n".encode() for i in range(12)]
    finally:
        acc.close()


def test_read_maildir_numeric_order(tmp_path):
    cur = tmp_path / "cur"
    cur.mkdir()
    for n in (10, 9, 100, 2):
        (cur / f"1700000000.{n}.mox{transfer.info_separator()}2,S").write_bytes(f"Subject: {n}\n\n".encode())
    got = [m.data for m in transfer.read_maildir(tmp_path)]
    assert got == [f"Subject: {n}\r\n\r\n".encode() for n in (2, 9, 10, 100)]
