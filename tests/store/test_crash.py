"""Crash test: a writer process is SIGKILLed at random moments; every write it acknowledged must
survive, byte for byte, and the index must be consistent."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio

from mox.store import Store

from crash_writer import content

HERE = Path(__file__).parent


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL of a child process: POSIX only")
def test_sigkill_keeps_acknowledged_writes(tmp_path, logs):
    data = tmp_path / "data"
    s = Store(data)
    s.create_account("mox")
    s.close()
    rng = random.Random(os.environ.get("MOX_CRASH_SEED", time.time_ns()))
    acked: dict[int, int] = {}  # n -> uid
    seen: set[int] = set()
    for rnd in range(6):
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "crash_writer.py"), str(data), str(rnd * 1_000_000), "4"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            first = proc.stdout.readline()  # running and writing
            assert first.startswith(b"A "), proc.stderr.read().decode()
            time.sleep(rng.uniform(0.0, 0.4))
            proc.send_signal(signal.SIGKILL)
            rest = proc.stdout.read()
        finally:
            proc.kill()
            proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        lines = (first + rest).split(b"\n")
        if not (first + rest).endswith(b"\n"):
            lines = lines[:-1]  # killed while printing: not counted as acknowledged
        for line in lines:
            if not line:
                continue
            kind, n, uid = line.decode().split()
            if kind == "A":
                acked[int(n)] = int(uid)
            else:
                seen.add(int(n))
        with Store(data, check_consistency_on_close=True) as store:
            acc = store.open_account("mox")
            inbox = acc.mailbox("Inbox").id
            assert acc.check_consistency() == []
            for n, uid in acked.items():
                m = acc.message(inbox, uid)
                assert m is not None, f"acknowledged message {n} (uid {uid}) lost in round {rnd}"
                assert acc.read_message(m) == content(n)
                if n in seen:
                    assert r"\Seen" in m.flags
            assert len(acc.messages(inbox)) >= len(acked)
            acc.close()
    assert len(acked) > 6  # the writer made progress in the rounds
    print(f"{len(acked)} acknowledged; " + str(logs.getvalue().count("journal tail cut off")) + " torn tails")


CRASH_AFTER_FILE = """
import os, sys
import trio
from mox.store import Store
from mox.store.account import Account

def die(self, *args, **kw):  # the message file is placed, its transaction not written
    os._exit(77)

async def main():
    store = Store(sys.argv[1], fsync=True)
    acc = store.open_account("mox")
    Account._transact_applied = die
    await acc.deliver("Inbox", b"Subject: lost\\r\\n\\r\\nnot acknowledged\\r\\n")

trio.run(main)
"""


def test_crash_after_a_clean_close_leaves_no_stray_file(tmp_path):
    """Files are placed before their transaction. An account whose journal ends with the
    clean-close marker (closed cleanly, then opened again) must not keep that marker once a file
    is placed: a crash then leaves a file that the next open has to find and remove."""
    d = tmp_path / "data"
    store = Store(d, fsync=True)
    store.create_account("mox")
    acc = store.open_account("mox")
    trio.run(acc.deliver, "Inbox", b"Subject: kept\r\n\r\nacknowledged\r\n")
    acc.close()  # clean: the journal ends with the marker
    store.close()

    p = subprocess.run([sys.executable, "-c", CRASH_AFTER_FILE, str(d)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 77, p.stderr

    store = Store(d, fsync=True, check_consistency_on_close=True)
    acc = store.open_account("mox")
    assert acc.check_consistency() == []
    assert [m.uid for m in acc.messages(acc.mailbox("Inbox").id)] == [1]
    acc.close()
    store.close()
