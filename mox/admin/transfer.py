"""Import, export and backup (``mox import``, ``mox export``, ``mox backup``; mox ``import.go``,
``export.go``, ``backup.go``).

Export (``export_account``) writes one directory per mailbox, named like the mailbox (``/`` in a
name makes subdirectories; characters a file name cannot have on Windows, such as ``:``, become
``%XX``, see mox.names, and import turns them back):

- **Maildir**: ``<dst>/<mailbox>/{cur,new,tmp}``; every message goes to ``cur`` as
  ``<received>.<id>.mox:2,<flags>``, with the info part always present (``S`` is \\Seen, so a
  message need not sit in ``new`` to be unseen). Flags: ``D`` \\Draft, ``F`` \\Flagged, ``R``
  \\Answered, ``S`` \\Seen, ``T`` \\Deleted; other keywords (``$Forwarded``, ``$Junk``, own
  keywords) as letters ``a``-``z`` listed in ``<mailbox>/dovecot-keywords`` (``0 $Forwarded``),
  at most 26 per mailbox as Dovecot. **On Windows** ``:`` cannot be in a file name: the info
  separator is ``;`` (``...mox;2,FS``), as Dovecot on Windows; import accepts both.
  Lines end in LF in the files (CRLF in the store).
- **mbox** (mboxrd): ``<dst>/<mailbox>.mbox``; each message starts with
  ``From mox <asctime UTC>``, then our flag headers ``Status: R`` (\\Seen), ``X-Status:``
  (``A`` answered, ``F`` flagged, ``T`` draft, ``D`` deleted) and ``X-Keywords:`` (comma
  separated), then the message with LF line ends and every line matching ``^>*From `` escaped by
  one more ``>``, then an empty line.

Import (``read_maildir``, ``read_mbox``) reverses that: CRLF line ends again, flags from file
names / dovecot-keywords or from Status/X-Status/X-Keywords headers (Dovecot and mutt write them
too). Our flag headers directly after the ``From`` line are removed again, so export then import
gives the same bytes for messages with CRLF line ends (what SMTP and IMAP deliver). Lines with
bare LF become CRLF (the store keeps CRLF); an mbox message without final newline gets one.

Backup (``backup``): a consistent copy of the data dir. Per account the index files are copied
while the account's lock is held and no journal write is in flight, and message files are
hard-linked (copied when linking fails, e.g. across file systems or on FAT). Then the queue
directory, ``auth.json`` and the config files at the top of the data dir are copied; the queue
copy is not synchronised with queue writes (a message queued during the backup may be missing).

Control channel commands (in mox.ctl.commands' table): ``importmaildir`` / ``importmbox`` (account, mailbox,
path; the server opens the path), ``export`` (format, destination, account, mailbox or empty)
and ``backup`` (destination); each answers ``ok`` and a stream of summary lines.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from mox import mlog
from mox.context import ServerContext

log = mlog.get_logger("ctl")

FORMATS = ("maildir", "mbox")
MAILDIR_FLAGS = ((r"\Draft", "D"), (r"\Flagged", "F"), (r"\Answered", "R"), (r"\Seen", "S"), (r"\Deleted", "T"))
_LETTER_FLAG = {letter: flag for flag, letter in MAILDIR_FLAGS}
_SYSTEM = {flag for flag, _ in MAILDIR_FLAGS}
_FLAG_HEADERS = (b"status:", b"x-status:", b"x-keywords:")
_ESCAPED_FROM = re.compile(rb"^>*From ")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class TransferError(Exception):
    """A user-facing error (bad path, unknown mailbox or format, existing destination)."""


@dataclass
class ImportedMessage:
    data: bytes
    flags: list[str]
    received: float | None
    source: str  # file name, or "path:line" for mbox


@dataclass
class Summary:
    mailboxes: int = 0
    messages: int = 0
    problems: list[str] = field(default_factory=list)

    def lines(self, verb: str) -> list[str]:
        out = [f"{verb} {self.messages} message(s) in {self.mailboxes} mailbox(es)"]
        out += [f"warning: {p}" for p in self.problems]
        return out


def info_separator() -> str:
    """``:`` in Maildir file names, ``;`` on Windows (where ``:`` is not allowed)."""
    return ";" if os.name == "nt" else ":"


# Line ends.


def crlf_to_lf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


def lf_to_crlf(data: bytes) -> bytes:
    """Every line end becomes CRLF (existing CRLF stays)."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)


def asctime(t: float) -> str:
    """``Mon Jan  2 15:04:05 2006`` in UTC, as the mbox From line (ANSI C asctime)."""
    tm = time.gmtime(t)
    return f"{_DAYS[tm.tm_wday]} {_MONTHS[tm.tm_mon - 1]} {tm.tm_mday:2d} {tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d} {tm.tm_year}"


def parse_from_line(line: bytes) -> float | None:
    """The time of a ``From sender date`` line (asctime, UTC), or None."""
    import calendar

    words = line.decode("latin-1").split()
    # From <sender> <Day> <Mon> <d> <hh:mm:ss> <yyyy> [...]
    for i in range(2, len(words) - 3):
        if words[i] in _DAYS and words[i + 1] in _MONTHS:
            try:
                day = int(words[i + 2])
                hh, mm, ss = (int(x) for x in words[i + 3].split(":"))
                year = int(words[i + 4])
                return float(calendar.timegm((year, _MONTHS.index(words[i + 1]) + 1, day, hh, mm, ss)))
            except (ValueError, IndexError):
                return None
    return None


# Export.


def _mailbox_path(dst: Path, name: str, suffix: str = "") -> Path:
    """The export path of a mailbox below dst: one directory per level, each level a valid file
    name on every platform (mox.names.file_name_for: ``Work:2024`` -> ``Work%3A2024``), so no
    name reaches outside dst, another drive or a device."""
    from mox.names import InvalidName, file_name_for, join_inside

    levels = [p for p in name.split("/") if p]
    try:
        parts = [file_name_for(p) for p in levels]
        if not parts:
            raise InvalidName("empty mailbox name")
        parts[-1] += suffix
        return join_inside(dst, *parts)
    except InvalidName as e:
        raise TransferError(f"cannot export mailbox with name {name!r}: {e}") from None


def _maildir_name(msg: Any, letters: dict[str, str], sep: str) -> str:
    flags = "".join(letter for flag, letter in MAILDIR_FLAGS if flag in msg.flags)
    flags += "".join(sorted(letters[f] for f in msg.flags if f in letters))
    return f"{int(msg.received)}.{msg.id}.mox{sep}2,{flags}"


def _export_maildir(acc: Any, mb: Any, dst: Path, summary: Summary) -> None:
    box = _mailbox_path(dst, mb.name)
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True, exist_ok=True)
    msgs = acc.messages(mb.id)
    keywords: list[str] = []
    for m in msgs:
        for f in m.flags:
            if f not in _SYSTEM and f not in keywords:
                keywords.append(f)
    if len(keywords) > 26:
        summary.problems.append(f"mailbox {mb.name}: more than 26 keywords, only the first 26 are exported")
        keywords = keywords[:26]
    letters = {kw: chr(ord("a") + i) for i, kw in enumerate(keywords)}
    if keywords:
        (box / "dovecot-keywords").write_text("".join(f"{i} {kw}\n" for i, kw in enumerate(keywords)), encoding="utf-8")
    sep = info_separator()
    for m in msgs:
        try:
            data = acc.read_message(m)
        except OSError as e:
            summary.problems.append(f"mailbox {mb.name} uid {m.uid}: reading message: {e} (skipped)")
            continue
        path = box / "cur" / _maildir_name(m, letters, sep)
        with open(path, "xb") as f:
            f.write(crlf_to_lf(data))
        os.utime(path, (m.received, m.received))
        summary.messages += 1
    summary.mailboxes += 1


def _export_mbox(acc: Any, mb: Any, dst: Path, summary: Summary) -> None:
    path = _mailbox_path(dst, mb.name, ".mbox")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as f:
        for m in acc.messages(mb.id):
            try:
                data = acc.read_message(m)
            except OSError as e:
                summary.problems.append(f"mailbox {mb.name} uid {m.uid}: reading message: {e} (skipped)")
                continue
            f.write(f"From mox {asctime(m.received)}\n".encode())
            f.write(_mbox_flag_headers(m.flags))
            lines = crlf_to_lf(data).split(b"\n")
            if lines and lines[-1] == b"":
                lines.pop()  # the message ended in a newline
            for line in lines:
                if _ESCAPED_FROM.match(line):
                    f.write(b">")
                f.write(line + b"\n")
            f.write(b"\n")
            summary.messages += 1
    summary.mailboxes += 1


def _mbox_flag_headers(flags: tuple[str, ...]) -> bytes:
    out = b""
    if r"\Seen" in flags:
        out += b"Status: R\n"
    xstatus = "".join(c for flag, c in ((r"\Answered", "A"), (r"\Flagged", "F"), (r"\Draft", "T"), (r"\Deleted", "D")) if flag in flags)
    if xstatus:
        out += f"X-Status: {xstatus}\n".encode()
    keywords = [f for f in flags if f not in _SYSTEM]
    if keywords:
        out += ("X-Keywords: " + ", ".join(keywords) + "\n").encode()
    return out


def export_account(acc: Any, dst: Path | str, fmt: str, mailbox: str | None = None) -> Summary:
    """Export all mailboxes of an open account (or only ``mailbox``) to directory dst (created;
    existing files are never overwritten: a clash is an error)."""
    if fmt not in FORMATS:
        raise TransferError(f"unknown format {fmt!r}, use maildir or mbox")
    dst = Path(dst)
    if mailbox:
        mb = acc.mailbox(mailbox)
        if mb is None:
            raise TransferError(f"mailbox {mailbox!r} not found")
        boxes = [mb]
    else:
        boxes = acc.mailboxes()
    dst.mkdir(parents=True, exist_ok=True)
    summary = Summary()
    for mb in boxes:
        try:
            (_export_maildir if fmt == "maildir" else _export_mbox)(acc, mb, dst, summary)
        except FileExistsError as e:
            raise TransferError(f"file exists, not overwriting: {e.filename}") from None
    return summary


# Import.


def _parse_flag_headers(header: bytes, flags: set[str]) -> None:
    name, _, value = header.partition(b":")
    v = value.decode("utf-8", "replace").strip()
    n = name.strip().lower()
    if n == b"status":
        if "R" in v:
            flags.add(r"\Seen")
    elif n == b"x-status":
        for c, flag in (("A", r"\Answered"), ("F", r"\Flagged"), ("T", r"\Draft"), ("D", r"\Deleted")):
            if c in v:
                flags.add(flag)
    elif n == b"x-keywords":
        for kw in re.split(r"[,\s]+", v):
            if kw:
                flags.add(kw)


def _finish_mbox_message(lines: list[bytes], from_line: bytes, source: str) -> ImportedMessage:
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines.pop()  # the empty line before the next From line belongs to the mbox
    flags: set[str] = set()
    # Our own flag headers right after the From line: parsed and removed.
    i = 0
    while i < len(lines) and lines[i].split(b":", 1)[0].strip().lower() + b":" in _FLAG_HEADERS and b":" in lines[i]:
        _parse_flag_headers(lines[i], flags)
        i += 1
    body = lines[i:]
    # Flag headers elsewhere in the header (other tools put them there) count too, and stay.
    for line in body:
        if line in (b"\n", b"\r\n"):
            break
        if line.split(b":", 1)[0].strip().lower() + b":" in _FLAG_HEADERS:
            _parse_flag_headers(line, flags)
    out = []
    for line in body:
        if line.startswith(b">") and _ESCAPED_FROM.match(line):
            line = line[1:]
        if not line.endswith(b"\n"):
            line += b"\n"
        if not line.endswith(b"\r\n"):
            line = line[:-1] + b"\r\n"
        out.append(line)
    return ImportedMessage(b"".join(out), sorted(flags), parse_from_line(from_line), source)


def read_mbox(f: BinaryIO, name: str = "mbox") -> Iterator[ImportedMessage]:
    """Messages of an mbox (mboxrd; mboxo files read fine unless a body line starts with
    ``From ``). Raises TransferError when the file does not start with a From line."""
    from_line: bytes | None = None
    lines: list[bytes] = []
    start = 0
    for lineno, line in enumerate(f, 1):
        if line.startswith(b"From "):
            if from_line is not None:
                yield _finish_mbox_message(lines, from_line, f"{name}:{start}")
            from_line, lines, start = line, [], lineno
            continue
        if from_line is None:
            if line.strip() == b"":
                continue
            raise TransferError(f'{name}:{lineno}: mbox does not start with a "From " line')
        lines.append(line)
    if from_line is not None:
        yield _finish_mbox_message(lines, from_line, f"{name}:{start}")


def parse_dovecot_keywords(text: str) -> dict[str, str]:
    """letter -> keyword from a dovecot-keywords file (``<index> <keyword>`` lines)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        idx, _, kw = line.partition(" ")
        try:
            i = int(idx)
        except ValueError:
            continue
        if 0 <= i < 26 and kw.strip():
            out[chr(ord("a") + i)] = kw.strip()
    return out


def _maildir_order(name: str) -> tuple[Any, ...]:
    """Sort key for Maildir file names: numeric dot-separated parts as numbers, so
    ``<received>.<id>.mox`` names come back in export order (``1.10`` after ``1.9``)."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in name.split("."))


def read_maildir(path: Path | str) -> Iterator[ImportedMessage]:
    """Messages of a Maildir (``new`` then ``cur``, each sorted by file name, numbers numerically)."""
    path = Path(path)
    if not (path / "cur").is_dir() and not (path / "new").is_dir():
        raise TransferError(f"{path} is not a maildir (no cur or new directory)")
    try:
        letters = parse_dovecot_keywords((path / "dovecot-keywords").read_text(encoding="utf-8"))
    except FileNotFoundError:
        letters = {}
    for sub in ("new", "cur"):
        d = path / sub
        if not d.is_dir():
            continue
        for p in sorted(d.iterdir(), key=lambda p: _maildir_order(p.name)):
            if not p.is_file() or p.name.startswith("."):
                continue
            flags: list[str] = []
            info = None
            for sep in (":2,", ";2,", "!2,"):
                if sep in p.name:
                    info = p.name.split(sep, 1)[1]
                    break
            for c in info or "":
                if c in _LETTER_FLAG:
                    flags.append(_LETTER_FLAG[c])
                elif c in letters:
                    flags.append(letters[c])
            received: float | None = None
            head = p.name.split(".", 1)[0]
            if head.isdigit():
                received = float(head)
            else:
                received = p.stat().st_mtime
            yield ImportedMessage(lf_to_crlf(p.read_bytes()), flags, received, f"{sub}/{p.name}")


def import_messages(acc: Any, mailbox: str, messages: Iterator[ImportedMessage]) -> Summary:
    """Deliver messages into mailbox of an open account (created, with parents, when missing).
    Blocking: each message is durable before the next. Invalid keywords are skipped (noted)."""
    from mox.store import InvalidFlag, StoreError, normalize_flags

    if acc.mailbox(mailbox) is None:
        try:
            acc.create_mailbox_sync(mailbox)
        except StoreError as e:
            raise TransferError(f"creating mailbox {mailbox!r}: {e}") from None
    summary = Summary(mailboxes=1)
    for m in messages:
        flags = []
        for f in m.flags:
            try:
                normalize_flags([f])
            except InvalidFlag:
                summary.problems.append(f"{m.source}: invalid flag or keyword {f!r} skipped")
                continue
            flags.append(f)
        try:
            acc.deliver_sync(mailbox, m.data, flags=flags, received=m.received)
        except StoreError as e:
            raise TransferError(f"{m.source}: {e} (after importing {summary.messages} message(s))") from None
        summary.messages += 1
    return summary


def import_path(acc: Any, mailbox: str, fmt: str, path: Path | str) -> Summary:
    path = Path(path)
    if fmt == "maildir":
        return import_messages(acc, mailbox, read_maildir(path))
    if fmt == "mbox":
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            raise TransferError(f"no such file: {path}") from None
        except IsADirectoryError:
            raise TransferError(f"{path} is a directory, not an mbox file") from None
        with f:
            return import_messages(acc, mailbox, read_mbox(f, path.name))
    raise TransferError(f"unknown format {fmt!r}, use maildir or mbox")


# Backup.


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _backup_account(store: Any, name: str, dst_accounts: Path) -> int:
    from mox.store import layout

    acc = store.open_account(name)
    try:
        dst = dst_accounts / name
        (dst / layout.MSG_DIR).mkdir(parents=True)
        n = 0
        # Hold the account's lock: no transaction is applied meanwhile, and once no journal
        # write is in flight the journal on disk matches the applied state; message files
        # referenced by it exist until an expunge is committed, which needs this lock.
        with acc._cond:
            while acc._flushing:
                acc._cond.wait()
            for fname in (layout.SNAPSHOT_NAME, layout.JOURNAL_NAME):
                src = acc.path / fname
                if src.exists():
                    shutil.copyfile(src, dst / fname)
            for sub in sorted((acc.path / layout.MSG_DIR).iterdir()):
                if not sub.is_dir():
                    continue
                (dst / layout.MSG_DIR / sub.name).mkdir()
                for p in sub.iterdir():
                    _link_or_copy(p, dst / layout.MSG_DIR / sub.name / p.name)
                    n += 1
        return n
    finally:
        acc.close()


def backup(store: Any, data_dir: Path | str, dst: Path | str) -> Summary:
    """Copy the data dir to dst (must not exist, or be empty)."""
    data_dir, dst = Path(data_dir), Path(dst)
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise TransferError(f"destination {dst} exists and is not an empty directory")
    if dst.resolve().is_relative_to(data_dir.resolve()):
        raise TransferError("destination cannot be inside the data dir")
    dst.mkdir(parents=True, exist_ok=True)
    summary = Summary()
    for name in store.account_names():
        summary.messages += _backup_account(store, name, dst / "accounts")
        summary.mailboxes += 1
    queue = data_dir / "queue"
    if queue.is_dir():
        shutil.copytree(queue, dst / "queue")
    skip = {"ctl", "ctl.json"}
    for p in sorted(data_dir.iterdir()):
        if p.is_file() and p.name not in skip and not p.name.endswith(".tmp"):
            shutil.copy2(p, dst / p.name)
    return summary


# Control channel commands.


async def _run(fn: Any, *args: Any) -> Any:
    import trio

    return await trio.to_thread.run_sync(fn, *args)


def _open_account(ctx: ServerContext, account: str) -> Any:
    from mox.store import AccountNotFound

    try:
        return ctx.store.open_account(account)
    except (AccountNotFound, ValueError):
        raise TransferError(f"unknown account {account!r}") from None


async def _reply(conn: Any, fn: Any, *args: Any) -> None:
    from mox.store import StoreError

    try:
        lines = await _run(fn, *args)
    except (TransferError, StoreError, OSError) as e:
        await conn.write_line(str(e).replace("\n", " ") or type(e).__name__)
        return
    await conn.write_line("ok")
    await conn.write_stream("".join(line + "\n" for line in lines).encode("utf-8"))


async def _import(ctx: ServerContext, conn: Any, fmt: str) -> None:
    account = await conn.read_line()
    mailbox = await conn.read_line()
    path = await conn.read_line()

    def work() -> list[str]:
        acc = _open_account(ctx, account)
        try:
            summary = import_path(acc, mailbox, fmt, path)
        finally:
            acc.close()
        log.info("imported messages", account=account, mailbox=mailbox, format=fmt, count=summary.messages)
        return summary.lines("imported")

    await _reply(conn, work)


async def cmd_importmaildir(ctx: ServerContext, conn: Any) -> None:
    await _import(ctx, conn, "maildir")


async def cmd_importmbox(ctx: ServerContext, conn: Any) -> None:
    await _import(ctx, conn, "mbox")


async def cmd_export(ctx: ServerContext, conn: Any) -> None:
    fmt = await conn.read_line()
    dst = await conn.read_line()
    account = await conn.read_line()
    mailbox = await conn.read_line()

    def work() -> list[str]:
        acc = _open_account(ctx, account)
        try:
            return export_account(acc, dst, fmt, mailbox or None).lines("exported")
        finally:
            acc.close()

    await _reply(conn, work)


async def cmd_backup(ctx: ServerContext, conn: Any) -> None:
    dst = await conn.read_line()

    def work() -> list[str]:
        s = backup(ctx.store, ctx.config.data_dir, dst)
        log.info("backup done", dst=dst, accounts=s.mailboxes, files=s.messages)
        return [f"backup of {s.mailboxes} account(s) with {s.messages} message file(s) written to {dst}"]

    await _reply(conn, work)
