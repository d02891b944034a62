"""Store benchmark: index open time for a large account, and messages stored per second.

    python bench/bench_store.py [--messages 100000] [--deliveries 400] [--dir DIR] [--quick] [--smoke]

1. Open time. An account with ``--messages`` messages (realistic MIME parts from a few sample
   messages, spread over 10 mailboxes, some flagged, 2% expunged tombstones) is written once as a
   snapshot and once as a journal of one transaction per message; then ``open_account`` is timed
   (median of 3). Message files are not written: opening never reads them.
2. Delivery rate. ``Account.deliver`` of small messages, fsync on (durable before return), with 1
   and with 8 concurrent trio tasks, and for reference with fsync off.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import trio

from mox import mlog
from mox.message import parse_message
from mox.store import Store
from mox.store.index import create_journal, encode_txn
from mox.store.schema import Message, Txn, encode_part

SAMPLES = [
    b"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.com>, carol@example.com\r\n"
    b"Subject: Meeting tomorrow\r\nDate: Mon, 2 Jan 2023 10:00:00 +0100\r\n"
    b"Message-ID: <abc123@example.org>\r\n\r\nSee you at 10.\r\n",
    b"From: news@lists.example\r\nTo: subscribers@lists.example\r\nSubject: =?utf-8?q?Newsletter_=E2=9C=93?=\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b1\r\n\r\n"
    b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n"
    b"--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello</p>\r\n--b1--\r\n",
    b"From: bob@example.com\r\nTo: alice@example.org\r\nSubject: Report\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nAttached.\r\n"
    b"--x\r\nContent-Type: application/pdf; name=report.pdf\r\nContent-Transfer-Encoding: base64\r\n"
    b"Content-Disposition: attachment; filename=report.pdf\r\n\r\nJVBERi0xLjQK\r\n--x--\r\n",
]


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    fs = "?"
    try:
        out = subprocess.run(["df", "-T", "."], capture_output=True, text=True, check=True).stdout
        fs = out.splitlines()[1].split()[1]
    except (OSError, subprocess.CalledProcessError, IndexError):
        pass
    return f"nproc={os.cpu_count()}; cpu={cpu}; fs={fs}; python={platform.python_version()}; {platform.system()}"


def build_records(acc, n: int) -> list[Message]:
    parts = [(encode_part(parse_message(s)), len(s)) for s in SAMPLES]
    mailboxes = [mb.id for mb in acc.mailboxes()]
    flags_cycle = [(), (r"\Seen",), (r"\Seen", r"\Answered"), (r"\Flagged", "work"), (r"\Seen", "$Junk")]
    msgs = []
    uid = dict.fromkeys(mailboxes, 1)
    next_id = acc._next_id
    modseq = acc._last_modseq
    now = time.time()
    for i in range(n):
        mbid = mailboxes[i % len(mailboxes)]
        raw, size = parts[i % len(parts)]
        modseq += 1
        msgs.append(Message(next_id + i, mbid, uid[mbid], modseq, modseq, flags_cycle[i % 5], size, now - i, False, raw))
        uid[mbid] += 1
    return msgs


def make_account(store: Store, name: str, n: int, as_journal: bool) -> None:
    store.create_account(name)
    acc = store.open_account(name)
    for i in range(4):
        acc.create_mailbox_sync(f"Folder{i}")
    msgs = build_records(acc, n)
    if as_journal:
        frames = []
        seq = acc._seq
        for m in msgs:
            seq += 1
            frames.append(encode_txn(Txn(seq, m.id + 1, m.modseq, acc._next_uidvalidity, [m])))
        acc.close()
        # Prepend the existing journal (account creation and mailboxes).
        j = acc.path / "index.journal"
        existing = j.read_bytes()[8:]
        create_journal(j, store.data_dir / "tmp" / "bench-journal", existing + b"".join(frames), fsync=False)
        return
    with acc._cond:
        for m in msgs:
            acc._apply(m)
        acc._next_id = msgs[-1].id + 1
        acc._last_modseq = msgs[-1].modseq
    # 2% tombstones, as expunges leave them.
    from mox.store.schema import Expunge

    with acc._cond:
        acc._last_modseq += 1
        acc._apply(Expunge([m.id for m in msgs[::50]], acc._last_modseq))
    acc.snapshot()
    acc.close()


def time_open(store: Store, name: str, runs: int = 3) -> tuple[float, int, int]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        acc = store.open_account(name)
        times.append(time.perf_counter() - t0)
        count = sum(mb.total + mb.deleted for mb in acc.mailboxes())
        acc.close()
    p = store.data_dir / "accounts" / name
    size = sum(f.stat().st_size for f in p.iterdir() if f.is_file())
    return statistics.median(times), count, size


def bench_deliver(data_dir: Path, writers: int, total: int, fsync: bool) -> float:
    store = Store(data_dir, fsync=fsync)
    name = f"deliver{writers}{'f' if fsync else 'n'}"
    store.create_account(name)
    acc = store.open_account(name)
    per = total // writers
    body = SAMPLES[0]

    async def writer() -> None:
        for _ in range(per):
            await acc.deliver("Inbox", body)

    async def main() -> float:
        t0 = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(writers):
                nursery.start_soon(writer)
        return time.perf_counter() - t0

    dt = trio.run(main)
    assert acc.check_consistency() == []
    acc.close()
    store.close()
    return per * writers / dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=100_000, help="messages in the open-time account")
    ap.add_argument("--deliveries", type=int, default=400, help="messages per delivery-rate run")
    ap.add_argument("--dir", help="directory on the filesystem to measure (default: a temp dir)")
    ap.add_argument("--quick", action="store_true", help="20,000 messages and 100 deliveries")
    ap.add_argument("--smoke", action="store_true", help="the smallest sizes, one command or message per measurement: shows that the script "
                        "still runs against the current code (CI runs it); the numbers measure nothing")
    args = ap.parse_args()
    if args.quick:
        args.messages, args.deliveries = 20_000, 100
    if args.smoke:
        args.messages, args.deliveries = 50, 8
        print("smoke run (smallest sizes): the numbers measure nothing", flush=True)
    mlog.set_level("warn", "store")
    base = Path(tempfile.mkdtemp(prefix="bench-store-", dir=args.dir))
    try:
        os.chdir(base)
        print(f"machine: {machine()}")
        store = Store(base / "data", fsync=False, snapshot_on_close=1 << 40)
        for label, as_journal in (("snapshot", False), ("journal", True)):
            t0 = time.perf_counter()
            make_account(store, label, args.messages, as_journal)
            built = time.perf_counter() - t0
            dt, count, size = time_open(store, label)
            print(
                f"open {args.messages} messages from {label}: {dt * 1000:.0f} ms "
                f"(median of 3; {count} live messages; index {size / 1e6:.1f} MB; built in {built:.1f} s)"
            )
        store.close()
        for fsync in (True, False):
            for writers in (1, 8):
                rate = bench_deliver(base / "data", writers, args.deliveries, fsync)
                print(f"deliver, fsync {'on ' if fsync else 'off'}, {writers} writer(s): {rate:.0f} msg/s")
    finally:
        os.chdir("/")
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
