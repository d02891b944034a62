"""``mox verifydata DIR``: check a data dir (typically a backup) while no mox runs on it (mox
verifydata.go): every account's index can be read and is consistent (counts, uids, modseqs,
each message's file present with its size, no stray files), and every queued message has its
file. ``fix`` moves stray message files out of the way, to ``<dir>/moved/``.

Opening an account replays its journal, as a start of mox would.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from mox.store import layout


class Result:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []


def _move_away(data_dir: Path, p: Path, res: Result) -> None:
    dst = data_dir / "moved" / p.relative_to(data_dir)
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(p, dst)
    res.warnings.append(f"moved {p.relative_to(data_dir).as_posix()} to {dst.relative_to(data_dir).as_posix()}")


def _verify_accounts(data_dir: Path, fix: bool, res: Result) -> None:
    from mox.store import Store

    adir = layout.accounts_dir(data_dir)
    if not adir.is_dir():
        res.errors.append("accounts: directory missing")
        return
    store = Store(data_dir, fsync=True)
    try:
        names = store.account_names()
        for e in sorted(adir.iterdir()):
            if e.name not in names:
                res.warnings.append(f"accounts/{e.name}: unrecognized file in accounts directory, ignoring")
        for name in names:
            try:
                acc = store.open_account(name)
            except Exception as e:  # noqa: BLE001 - a damaged index is what we report
                res.errors.append(f"accounts/{name}: opening account index: {e}")
                continue
            try:
                for p in acc.check_consistency():
                    if fix and p.startswith("stray file "):
                        _move_away(data_dir, acc.path / p.removeprefix("stray file "), res)
                    else:
                        res.errors.append(f"accounts/{name}: {p}")
            finally:
                acc.close()
    finally:
        store.close()


def _verify_queue(data_dir: Path, fix: bool, res: Result) -> None:
    """Read the queue journal without changing it: which entries are live, and their files."""
    from mox.queue.store import _Record

    qdir = data_dir / "queue"
    journal = qdir / "index.journal"
    if not journal.exists():
        return
    dec = msgspec.json.Decoder(_Record)
    files: dict[int, str] = {}
    lines = journal.read_bytes().split(b"\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = dec.decode(line)
        except msgspec.DecodeError as e:
            if i == len(lines) - 1:
                res.warnings.append("queue/index.journal: torn last record (a crash during a write), skipped")
            else:
                res.errors.append(f"queue/index.journal: record {i + 1}: {e}")
            continue
        if rec.op in ("put", "update") and rec.entry is not None:
            if rec.op == "put" or rec.entry.id in files:
                files[rec.entry.id] = rec.entry.file
        elif rec.op == "remove":
            files.pop(rec.id, None)
    used = set(files.values())
    msg_dir = qdir / "msg"
    for qid, name in sorted(files.items()):
        if not (msg_dir / name).is_file():
            res.errors.append(f"queue: message {qid}: file msg/{name} missing")
    if msg_dir.is_dir():
        for p in sorted(msg_dir.iterdir()):
            if p.name not in used:
                if fix:
                    _move_away(data_dir, p, res)
                else:
                    res.warnings.append(f"queue/msg/{p.name}: unrecognized file in queue directory, ignoring")


def verify(data_dir: Path, *, fix: bool = False) -> Result:
    res = Result()
    _verify_accounts(data_dir, fix, res)
    _verify_queue(data_dir, fix, res)
    return res
