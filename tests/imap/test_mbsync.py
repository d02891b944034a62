"""An independent client: mbsync (isync) syncs the Inbox to a local Maildir and back.

Changes on both sides: flags set in the Maildir (file name suffix) reach the server, a message
trashed locally is expunged on the server, a message added locally is appended, and flag changes
and deliveries on the server reach the Maildir.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

MBSYNC = shutil.which("mbsync")
pytestmark = pytest.mark.skipif(
    MBSYNC is None, reason="mbsync not found on PATH (Debian package isync; installed by .ci/run)"
)


def message(subject: str) -> bytes:
    return (
        f"From: mox@localhost\r\nTo: mox@localhost\r\nSubject: {subject}\r\n"
        f"Message-Id: <{subject}@localhost>\r\n\r\nbody of {subject}\r\n"
    ).encode()


def write_config(tmp: Path, imap) -> Path:
    cfg = tmp / "mbsyncrc"
    (tmp / "mail").mkdir(exist_ok=True)
    cfg.write_text(
        f"""IMAPAccount mox
Host localhost
Port {imap.ports["imaps"]}
User mox@localhost
Pass moxmoxmox
SSLType IMAPS
CertificateFile {imap.cert_file}
AuthMechs PLAIN LOGIN

IMAPStore remote
Account mox

MaildirStore local
Path {tmp / "mail"}/

Channel inbox
Far :remote:INBOX
Near :local:inbox
Create Near
Sync All
Expunge Both
SyncState *
""",
        encoding="utf-8",
    )
    return cfg


def run_mbsync(cfg: Path, tmp: Path) -> None:
    env = dict(os.environ, HOME=str(tmp))
    res = subprocess.run(
        [MBSYNC, "-c", str(cfg), "-V", "inbox"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp,
    )
    assert res.returncode == 0, f"mbsync failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"


def local_messages(maildir: Path) -> dict[bytes, str]:
    """Subject line -> Maildir flags (the letters after ":2,"; "" for new/)."""
    out = {}
    for sub in ("new", "cur"):
        for f in (maildir / sub).iterdir():
            data = f.read_bytes()
            subject = [line for line in data.splitlines() if line.startswith(b"Subject: ")][0][9:]
            out[subject] = f.name.split(":2,", 1)[1] if ":2," in f.name else ""
    return out


def set_local_flags(maildir: Path, subject: bytes, flags: str) -> None:
    for sub in ("new", "cur"):
        for f in (maildir / sub).iterdir():
            if b"Subject: " + subject + b"\n" in f.read_bytes():
                base = f.name.split(":2,", 1)[0]
                f.rename(maildir / "cur" / f"{base}:2,{flags}")
                return
    raise AssertionError(f"no local message {subject!r}")


def server_messages(imap) -> dict[bytes, tuple[str, ...]]:
    acc = imap.account
    inbox = acc.mailbox("Inbox")
    out = {}
    for m in acc.messages(inbox.id):
        data = acc.read_message(m)
        subject = [line for line in data.split(b"\r\n") if line.startswith(b"Subject: ")][0][9:]
        out[subject] = tuple(sorted(m.flags))
    return out


def test_mbsync_roundtrip(imap, tmp_path):
    imap.start()
    imap.deliver(message("a"), flags=[r"\Seen"])
    imap.deliver(message("b"))
    cfg = write_config(tmp_path, imap)
    maildir = tmp_path / "mail" / "inbox"

    run_mbsync(cfg, tmp_path)
    assert local_messages(maildir) == {b"a": "S", b"b": ""}

    # Local changes: b flagged and read, a trashed (expunged on both sides), c added.
    set_local_flags(maildir, b"b", "FS")
    set_local_flags(maildir, b"a", "ST")
    # Maildir files have bare LF line endings; mbsync sends CRLF.
    (maildir / "new" / "1700000000.c.localhost").write_bytes(message("c").replace(b"\r\n", b"\n"))
    # Server changes: d delivered.
    imap.deliver(message("d"))

    run_mbsync(cfg, tmp_path)
    assert server_messages(imap) == {
        b"b": (r"\Flagged", r"\Seen"),
        b"c": (),
        b"d": (),
    }
    assert local_messages(maildir) == {b"b": "FS", b"c": "", b"d": ""}
    inbox = imap.account.mailbox("Inbox")
    bodies = [imap.account.read_message(m) for m in imap.account.messages(inbox.id)]
    # mbsync adds an X-TUID header to messages it uploads (to find them again).
    uploaded = [re.sub(rb"X-TUID: [^\r]+\r\n", b"", b) for b in bodies if b"Subject: c\r\n" in b]
    assert uploaded == [message("c")]

    # A flag change on the server, through IMAP, reaches the Maildir.
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    tc.transact("ok", r"uid store 2 -flags.silent (\Flagged)")  # b
    tc.transact("ok", r"uid store 3 +flags.silent (\Answered)")  # d
    tc.transact("ok", "logout")

    run_mbsync(cfg, tmp_path)
    assert local_messages(maildir) == {b"b": "S", b"c": "", b"d": "R"}
    assert server_messages(imap) == {b"b": (r"\Seen",), b"c": (), b"d": (r"\Answered",)}


def test_mbsync_all_mailboxes(imap, tmp_path):
    """Patterns *: every mailbox, hierarchy included, created on the far side from local folders."""
    imap.start()
    imap.deliver(message("inbox1"))
    imap.run(imap.account.create_mailbox, "Lists/mox")
    imap.deliver(message("list1"), mailbox="Lists/mox")
    cfg = tmp_path / "mbsyncrc"
    (tmp_path / "mail").mkdir()
    cfg.write_text(
        f"""IMAPAccount mox
Host localhost
Port {imap.ports["imap"]}
User mox@localhost
Pass moxmoxmox
SSLType STARTTLS
CertificateFile {imap.cert_file}
AuthMechs PLAIN

IMAPStore remote
Account mox

MaildirStore local
Path {tmp_path / "mail"}/
Inbox {tmp_path / "mail" / "INBOX"}
SubFolders Verbatim

Channel all
Far :remote:
Near :local:
Patterns *
Create Both
Sync All
SyncState *
""",
        encoding="utf-8",
    )
    env = dict(os.environ, HOME=str(tmp_path))

    def sync() -> None:
        res = subprocess.run([MBSYNC, "-c", str(cfg), "-a"], capture_output=True, text=True, timeout=60,
                             env=env, cwd=tmp_path)
        assert res.returncode == 0, f"mbsync failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"

    sync()
    mail = tmp_path / "mail"
    assert local_messages(mail / "INBOX") == {b"inbox1": ""}
    assert local_messages(mail / "Lists" / "mox") == {b"list1": ""}
    for name in ("Archive", "Drafts", "Junk", "Sent", "Trash"):
        assert local_messages(mail / name) == {}

    # A new local folder is created on the server, with its message.
    for sub in ("cur", "new", "tmp"):
        (mail / "Projects" / sub).mkdir(parents=True)
    (mail / "Projects" / "new" / "1700000000.p.localhost").write_bytes(message("project"))
    sync()
    projects = imap.account.mailbox("Projects")
    assert projects is not None
    data = [imap.account.read_message(m) for m in imap.account.messages(projects.id)]
    assert [re.sub(rb"X-TUID: [^\r]+\r\n", b"", d) for d in data] == [message("project")]


def test_mbsync_default_auth(imap, tmp_path):
    """mbsync with its default AuthMechs (*) picks the strongest advertised mechanism (SCRAM);
    every advertised mechanism must work (findings #1)."""
    imap.start()
    imap.deliver(message("a"))
    cfg = write_config(tmp_path, imap)
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("AuthMechs PLAIN LOGIN\n", ""), encoding="utf-8")
    run_mbsync(cfg, tmp_path)
    assert local_messages(tmp_path / "mail" / "inbox") == {b"a": ""}
