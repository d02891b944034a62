"""Crash safety: a localserve receiving a stream of SMTP messages is killed (SIGKILL) at random
moments, several rounds. After a restart every message that got a 250 is there, byte for byte,
none is there twice, every submission that got a 250 has exactly one copy in Sent (stored after
the 250: mox.queue.sentcopy), and the store is consistent.

Each message has its own Message-ID and is sent once (a message whose 250 was lost is not sent
again), so two copies can only come from the server: e.g. the queue delivering again a message
whose local delivery finished just before the kill, before its queue entry was removed.
``MOX_CRASH_ROUNDS`` sets the number of rounds (default 6; the deterministic crash points of
each step are in tests/queue/test_crash_points.py)."""

from __future__ import annotations

import imaplib
import os
import random
import smtplib
import threading
import time

from mox import config as mconfig
from mox.serve import open_store
from tests.conftest import run_mox

ROUNDS = int(os.environ.get("MOX_CRASH_ROUNDS", "6"))


def make_message(rnd: random.Random, r: int, i: int) -> bytes:
    size = rnd.choice([10, 200, 5000, 60000, 300000])
    line = b"".join(bytes([rnd.randrange(0x61, 0x7B)]) for _ in range(70))
    body = (line + b"\r\n") * (size // 72 + 1)
    return (
        b"From: <mox@localhost>\r\n"
        b"To: <mox@localhost>\r\n"
        + f"Subject: crash round {r} message {i}\r\n".encode()
        + f"Message-ID: <crash-{r}-{i}@example.org>\r\n".encode()
        + b"\r\n"
        + body
    )


def send_until_killed(info: dict, rnd: random.Random, r: int, acked: dict[str, bytes],
                      first_ack: threading.Event, submitted: set[str]) -> None:
    """Send messages until the server dies: over SMTP (delivered before the 250) and over
    submission (queued durably before the 250, delivered by the queue, also after a restart).
    `first_ack` is set after the first 250 of the round."""
    i = 0
    try:
        while True:
            submission = rnd.random() < 0.5
            with smtplib.SMTP("127.0.0.1", info["submission" if submission else "smtp"], timeout=20) as c:
                c.ehlo("localhost")
                if submission:
                    c.login("mox@localhost", "moxmoxmox")
                sender = "mox@localhost" if submission else "sender@example.org"
                for _ in range(rnd.randrange(1, 20)):
                    msg = make_message(rnd, r, i)
                    c.sendmail(sender, ["mox@localhost"], msg)  # raises unless 250
                    acked[f"<crash-{r}-{i}@example.org>"] = msg
                    if submission:
                        submitted.add(f"<crash-{r}-{i}@example.org>")
                    first_ack.set()
                    i += 1
    except (OSError, smtplib.SMTPException):
        return  # killed mid-conversation: expected


def sent_copies(info: dict, want: set[str]) -> dict[str, int]:
    """Message-ID -> copies in Sent, once every one of ``want`` is there (or after 30 s)."""
    deadline = time.monotonic() + 30
    with imaplib.IMAP4("127.0.0.1", info["imap"], timeout=30) as imap:
        imap.login("mox@localhost", "moxmoxmox")
        while True:
            typ, data = imap.select("Sent", readonly=True)
            assert typ == "OK"
            copies: dict[str, int] = {}
            if int(data[0]):
                typ, data = imap.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
                assert typ == "OK"
                for item in data:
                    if isinstance(item, tuple):
                        mid = item[1].split(b":", 1)[1].strip().decode()
                        copies[mid] = copies.get(mid, 0) + 1
            if want <= set(copies) or time.monotonic() > deadline:
                return copies
            time.sleep(0.1)


def test_kill_while_receiving(tmp_path, mox_process):
    d = tmp_path / "d"
    seed = int.from_bytes(os.urandom(4), "big")
    rnd = random.Random(seed)
    acked: dict[str, bytes] = {}
    submitted: set[str] = set()
    for r in range(ROUNDS):
        p = mox_process("localserve", "-dir", str(d), "-port-base", "0")
        info = p.wait_ready()
        before = len(acked)
        # The kill comes at a random moment of the stream, counted from the round's first 250 (on a
        # loaded machine a fixed delay from start-up could fall before any message was accepted).
        first_ack = threading.Event()
        delay = rnd.uniform(0.0, 1.2)

        def kill_later(p=p, first_ack=first_ack, delay=delay) -> None:
            first_ack.wait(60)
            time.sleep(delay)
            p.proc.kill()

        killer = threading.Thread(target=kill_later)
        killer.start()
        send_until_killed(info, rnd, r, acked, first_ack, submitted)
        killer.join()
        p.kill()
        assert len(acked) > before, f"no message accepted in round {r} (seed {seed}):\n{p.log()}"

    # Restart: everything acknowledged is there, byte for byte.
    p = mox_process("-checkconsistency", "localserve", "-dir", str(d), "-port-base", "0")
    info = p.wait_ready()
    found: dict[str, bytes] = {}
    copies: dict[str, int] = {}
    with imaplib.IMAP4("127.0.0.1", info["imap"], timeout=30) as imap:
        imap.login("mox@localhost", "moxmoxmox")
        deadline = time.monotonic() + 30  # queued submissions are delivered after the restart
        seen = 0
        queue_empty = False
        while True:
            typ, data = imap.select("Inbox", readonly=True)
            assert typ == "OK"
            n = int(data[0])
            typ, data = imap.fetch(f"{seen + 1}:{n}", "(BODY.PEEK[])") if n > seen else ("OK", [])
            assert typ == "OK"
            seen = n
            for item in data:
                if isinstance(item, tuple):
                    raw = item[1]
                    for line in raw.split(b"\r\n"):
                        if line.lower().startswith(b"message-id: "):
                            mid = line[12:].decode()
                            found[mid] = raw
                            copies[mid] = copies.get(mid, 0) + 1
                            break
            if queue_empty or time.monotonic() > deadline:
                break  # the fetch above came after the queue was empty: nothing more arrives
            if all(mid in found for mid in acked):
                r = run_mox("queue", "list", "-dir", str(d))
                queue_empty = r.returncode == 0 and r.stdout == "messages:\n(none)\n"
            if not queue_empty:
                time.sleep(0.1)
    twice = sorted(mid for mid, n in copies.items() if n > 1)
    print(
        f"seed {seed}: {len(acked)} messages acknowledged over {ROUNDS} rounds, {len(found)} found, "
        f"{len(twice)} more than once"
    )
    missing = [mid for mid in acked if mid not in found]
    assert not missing, f"seed {seed}: {len(missing)} acknowledged messages lost: {missing[:5]}"
    assert not twice, f"seed {seed}: {len(twice)} messages delivered more than once: {twice[:5]}"
    changed = [mid for mid, msg in acked.items() if not found[mid].endswith(msg)]
    assert not changed, f"seed {seed}: messages differ: {changed[:5]}"
    sent = sent_copies(info, submitted)
    missing = sorted(submitted - set(sent))
    assert not missing, f"seed {seed}: {len(missing)} acknowledged submissions without Sent copy: {missing[:5]}"
    twice = sorted(mid for mid, n in sent.items() if n > 1)
    assert not twice, f"seed {seed}: {len(twice)} submissions with more than one Sent copy: {twice[:5]}"
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
