"""Fixtures in and out: preload ``.eml``/Maildir/mbox files at start, export all mail as Maildir.

Preload (``mox localserve -preload DIR``), into account ``mox``:

- ``DIR/*.eml`` -> Inbox; ``DIR/<name>/*.eml`` -> mailbox ``<name>`` (created when missing);
- a Maildir (a directory with ``cur``/``new``) -> Inbox when it is DIR itself, else the mailbox
  named after its path below DIR; Maildir++ sub-folders ``.A.B`` -> ``A/B``; flags from the
  ``:2,FRS...`` file name suffix;
- ``*.mbox`` files (mboxrd/mboxo, ``From `` separated) -> mailbox named after the file stem
  (``inbox.mbox`` -> Inbox).

Messages are normalised to CRLF line endings. Export (``-export-on-exit DIR``) writes
``DIR/<account>/<mailbox>/{cur,new,tmp}/<id>.<uid>.mox:2,<flags>`` (``;2,`` on Windows), message
bytes unchanged; mailbox levels are made valid file names as ``mox export`` does (mox.names).
Directory names read at preload are mapped back the same way (``Work%3A2024`` -> ``Work:2024``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import trio

from mox import mlog
from mox.names import name_from_file
from mox.context import ServerContext

_FLAG_LETTERS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen", "T": "\\Deleted"}
_LETTER_FOR = {v: k for k, v in _FLAG_LETTERS.items()}


def crlf(data: bytes) -> bytes:
    return re.sub(rb"\r?\n", b"\r\n", data)


def maildir_flags(name: str) -> tuple[str, ...]:
    # The info part follows ":2," (";2," on Windows, where ":" cannot be in a file name).
    sep = ":2," if ":2," in name else ";2,"
    if sep not in name:
        return ()
    letters = name.rsplit(sep, 1)[1]
    return tuple(sorted({_FLAG_LETTERS[ch] for ch in letters if ch in _FLAG_LETTERS} - {"\\Deleted"}))


def split_mbox(data: bytes) -> Iterator[bytes]:
    msg: list[bytes] = []
    started = False
    for line in data.splitlines(keepends=True):
        if line.startswith(b"From "):
            if started and msg:
                yield _unquote(msg)
            msg = []
            started = True
            continue
        if started:
            msg.append(line)
    if started and msg:
        yield _unquote(msg)


def _unquote(lines: list[bytes]) -> bytes:
    out = [re.sub(rb"^>(>*From )", rb"\1", ln) for ln in lines]
    data = b"".join(out)
    if data.endswith(b"\n\n"):
        data = data[:-1]
    return crlf(data)


def _is_maildir(p: Path) -> bool:
    return (p / "cur").is_dir() or (p / "new").is_dir()


def scan(root: Path) -> Iterator[tuple[str, bytes, tuple[str, ...]]]:
    """(mailbox, message, flags) for every message under ``root``, in a stable order."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"preload dir {root} does not exist")

    def maildir(p: Path, mailbox: str) -> Iterator[tuple[str, bytes, tuple[str, ...]]]:
        for sub in ("cur", "new"):
            d = p / sub
            if d.is_dir():
                for f in sorted(d.iterdir()):
                    if f.is_file():
                        yield mailbox, crlf(f.read_bytes()), (maildir_flags(f.name) if sub == "cur" else ())
        for child in sorted(p.iterdir()):
            if child.is_dir() and child.name.startswith(".") and child.name not in (".", "..") and _is_maildir(child):
                name = "/".join(x for x in child.name[1:].split(".") if x)
                yield from maildir(child, name if mailbox == "Inbox" else f"{mailbox}/{name}")

    def walk(p: Path, mailbox: str) -> Iterator[tuple[str, bytes, tuple[str, ...]]]:
        if _is_maildir(p):
            yield from maildir(p, mailbox)
            return
        for f in sorted(p.iterdir()):
            if f.is_file() and f.suffix.lower() == ".eml":
                yield mailbox, crlf(f.read_bytes()), ()
            elif f.is_file() and f.suffix.lower() == ".mbox":
                mb = "Inbox" if f.stem.lower() == "inbox" else name_from_file(f.stem)
                for m in split_mbox(f.read_bytes()):
                    yield mb, m, ()
            elif f.is_dir() and f.name not in ("cur", "new", "tmp"):
                level = name_from_file(f.name)
                sub = level if mailbox == "Inbox" else f"{mailbox}/{level}"
                yield from walk(f, "Inbox" if f.name.lower() == "inbox" and mailbox == "Inbox" else sub)

    yield from walk(root, "Inbox")


async def preload(ctx: ServerContext, root: Path, account: str = "mox") -> int:
    """Deliver everything under ``root`` into ``account``; the number of messages."""
    from mox.delivery.deliver import deliver_to_store

    n = 0
    acc = ctx.store.open_account(account)
    try:
        for mailbox, data, flags in scan(root):
            if acc.mailbox(mailbox) is None:
                await acc.create_mailbox(mailbox)
            mb = acc.mailbox(mailbox)
            await deliver_to_store(ctx, account, mb.name if mb is not None else "Inbox", data, flags=flags)
            n += 1
    finally:
        acc.close()
    return n


def _export_dir(root: Path, account: str, mailbox: str) -> Path:
    """``root/<account>/<level>/...``, each part a valid file name everywhere (mox.names)."""
    from mox.names import file_name_for, join_inside

    return join_inside(root, file_name_for(account), *(file_name_for(p) for p in mailbox.split("/") if p))


def export(store: Any, root: Path) -> int:
    """Write every message of every account as Maildir under ``root``; the number written."""
    from mox.admin.transfer import info_separator

    root = Path(root)
    sep = info_separator()
    n = 0
    for account in store.account_names():
        acc = store.open_account(account)
        try:
            for mb in acc.mailboxes():
                base = _export_dir(root, account, mb.name)
                for sub in ("cur", "new", "tmp"):
                    (base / sub).mkdir(parents=True, exist_ok=True)
                for m in acc.messages(mb.id):
                    letters = "".join(sorted(_LETTER_FOR[f] for f in m.flags if f in _LETTER_FOR))
                    (base / "cur" / f"{m.id}.{m.uid}.mox{sep}2,{letters}").write_bytes(acc.read_message(m))
                    n += 1
        finally:
            acc.close()
    (root / "EXPORTED").write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + "\n", encoding="utf-8")
    return n


async def serve(ctx: ServerContext, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """Preload at start (before the listeners accept); when the server stops, close the
    per-address views and export. Started by mox.web.WebApp."""
    from mox.ci import hooks as ci

    log = mlog.get_logger("http")
    st = ci.state(ctx)
    if st is None:
        task_status.started()
        await trio.sleep_forever()
        return
    if st.settings.preload:
        n = await preload(ctx, Path(st.settings.preload))
        log.print(f"preloaded {n} messages from {st.settings.preload}")
    task_status.started()
    try:
        await trio.sleep_forever()
    finally:
        st.close_views()
        if st.settings.export_on_exit:
            try:
                n = export(ctx.store, Path(st.settings.export_on_exit))
                log.print(f"exported {n} messages to {st.settings.export_on_exit}")
            except Exception as e:
                log.unexpected("export on exit failed", e)
