"""Crash safety: a localserve receiving a stream of SMTP messages is killed (SIGKILL) at random
moments, several rounds. After a restart every message that got a 250 is there, byte for byte,
and the store is consistent."""

from __future__ import annotations

import imaplib
import os
import random
import smtplib
import threading

from mox import config as mconfig
from mox.serve import open_store

ROUNDS = 4


def make_message(rnd: random.Random, r: int, i: int) -> bytes:
    size = rnd.choice([10, 200, 5000, 60000, 300000])
    line = b"".join(bytes([rnd.randrange(0x61, 0x7B)]) for _ in range(70))
    body = (line + b"\r\n") * (size // 72 + 1)
    return (
        b"From: <sender@example.org>\r\n"
        b"To: <mox@localhost>\r\n"
        + f"Subject: crash round {r} message {i}\r\n".encode()
        + f"Message-ID: <crash-{r}-{i}@example.org>\r\n".encode()
        + b"\r\n"
        + body
    )


def send_until_killed(port: int, rnd: random.Random, r: int, acked: dict[str, bytes]) -> None:
    """Send messages over one SMTP connection (reconnecting as needed) until the server dies."""
    i = 0
    try:
        while True:
            with smtplib.SMTP("127.0.0.1", port, timeout=20) as c:
                c.ehlo("localhost")
                for _ in range(rnd.randrange(1, 20)):
                    msg = make_message(rnd, r, i)
                    c.sendmail("sender@example.org", ["mox@localhost"], msg)  # raises unless 250
                    acked[f"<crash-{r}-{i}@example.org>"] = msg
                    i += 1
    except (OSError, smtplib.SMTPException):
        return  # killed mid-conversation: expected


def test_kill_while_receiving(tmp_path, mox_process):
    d = tmp_path / "d"
    seed = int.from_bytes(os.urandom(4), "big")
    rnd = random.Random(seed)
    acked: dict[str, bytes] = {}
    for r in range(ROUNDS):
        p = mox_process("localserve", "-dir", str(d), "-port-base", "0")
        info = p.wait_ready()
        before = len(acked)
        killer = threading.Timer(rnd.uniform(0.3, 1.5), p.proc.kill)
        killer.start()
        send_until_killed(info["smtp"], rnd, r, acked)
        killer.join()
        p.kill()
        assert len(acked) > before or r > 0, f"no message accepted in round {r} (seed {seed}):\n{p.log()}"

    # Restart: everything acknowledged is there, byte for byte.
    p = mox_process("-checkconsistency", "localserve", "-dir", str(d), "-port-base", "0")
    info = p.wait_ready()
    found: dict[str, bytes] = {}
    with imaplib.IMAP4("127.0.0.1", info["imap"], timeout=30) as imap:
        imap.login("mox@localhost", "moxmoxmox")
        typ, data = imap.select("Inbox", readonly=True)
        assert typ == "OK"
        n = int(data[0])
        typ, data = imap.fetch(f"1:{n}", "(BODY.PEEK[])") if n else ("OK", [])
        assert typ == "OK"
        for item in data:
            if isinstance(item, tuple):
                raw = item[1]
                for line in raw.split(b"\r\n"):
                    if line.lower().startswith(b"message-id: "):
                        found[line[12:].decode()] = raw
                        break
    missing = [mid for mid in acked if mid not in found]
    assert not missing, f"seed {seed}: {len(missing)} acknowledged messages lost: {missing[:5]}"
    changed = [mid for mid, msg in acked.items() if not found[mid].endswith(msg)]
    assert not changed, f"seed {seed}: messages differ: {changed[:5]}"
    p.terminate()
    assert p.wait() == 0, p.log()

    store = open_store(mconfig.load_config(d))
    try:
        acc = store.open_account("mox")
        try:
            assert acc.check_consistency() == []
        finally:
            acc.close()
    finally:
        store.close()
