"""Child of test_diskfull_tmpfs.py, run in its own mount namespace (``unshare -m``): mounts a
small tmpfs, runs localserve on it, fills the filesystem for real and prints one JSON line with
what the clients saw. The mount disappears with the process.

    python diskfull_tmpfs_child.py MOUNTPOINT
"""

from __future__ import annotations

import imaplib
import json
import smtplib
import subprocess
import sys
import time
from pathlib import Path

from mox.testing import LocalServer


def message(n: int) -> bytes:
    return (
        f"From: <mox@localhost>\r\nTo: <mox@localhost>\r\nSubject: tmpfs {n}\r\n"
        f"Message-ID: <tmpfs-{n}@example.org>\r\n\r\n".encode() + (b"t" * 70 + b"\r\n") * 200
    )


def fill(path: Path) -> int:
    """Write until the filesystem has no byte left."""
    n = 0
    with open(path, "wb", buffering=0) as f:
        for chunk in (1 << 16, 1 << 12, 1):
            try:
                while True:
                    n += f.write(b"\0" * chunk)
            except OSError:
                pass
    return n


def message_ids(srv: LocalServer) -> list[str]:
    acc = srv.store.open_account("mox")
    try:
        return [
            line.split(b":", 1)[1].strip().decode()
            for m in acc.messages(acc.mailbox("Inbox").id)
            for line in acc.read_message(m).split(b"\r\n")
            if line.lower().startswith(b"message-id:")
        ]
    finally:
        acc.close()


def main(mnt: str) -> None:
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt], check=True)
    out: dict = {}
    with LocalServer(Path(mnt) / "data") as srv:
        ports = srv.ports
        smtp = smtplib.SMTP("127.0.0.1", ports["smtp"], timeout=30)
        smtp.ehlo("localhost")
        smtp.sendmail("sender@example.org", ["mox@localhost"], message(1))
        imap = imaplib.IMAP4("127.0.0.1", ports["imap"], timeout=30)
        imap.login("mox@localhost", "moxmoxmox")
        imap.select("Inbox")

        filler = Path(mnt) / "filler"
        out["filled"] = fill(filler)
        smtp.mail("sender@example.org")
        smtp.rcpt("mox@localhost")
        code, text = smtp.data(message(2))
        out["smtp"] = [code, text.decode()]
        typ, data = imap.append("Inbox", None, None, message(3))
        out["append"] = [typ, data[0].decode()]
        typ, data = imap.copy("1", "Archive")
        out["copy"] = [typ, data[0].decode()]
        out["noop"] = imap.noop()[0]
        out["ids_full"] = message_ids(srv)
        out["tmp_full"] = sorted(p.name for p in (Path(srv.dir) / "tmp").iterdir())

        filler.unlink()  # space freed: no restart
        smtp.sendmail("sender@example.org", ["mox@localhost"], message(2))
        out["append_after"] = imap.append("Inbox", None, None, message(3))[0]
        out["copy_after"] = imap.copy("1", "Archive")[0]
        out["ids_after"] = message_ids(srv)
        imap.logout()
        smtp.quit()
        time.sleep(0.1)
    # Leaving LocalServer ran the consistency check (it raises when the store is inconsistent).
    out["consistent"] = True
    print(json.dumps(out, default=repr))


if __name__ == "__main__":
    main(sys.argv[1])
