"""Paths inside the data directory and the fsync discipline (see the package docstring)."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

JOURNAL_NAME = "index.journal"
SNAPSHOT_NAME = "index.snapshot"
MSG_DIR = "msg"
FILES_PER_DIR_SHIFT = 13  # 8192 message files per directory


def accounts_dir(data_dir: Path) -> Path:
    return data_dir / "accounts"


def tmp_dir(data_dir: Path) -> Path:
    return data_dir / "tmp"


def account_dir(data_dir: Path, name: str) -> Path:
    return accounts_dir(data_dir) / name


def msg_subdir(id: int) -> str:
    """The directory name grouping message ids: ``id >> 13`` in lower-case hex."""
    return format(id >> FILES_PER_DIR_SHIFT, "x")


def message_path(account_path: Path, id: int) -> Path:
    return account_path / MSG_DIR / msg_subdir(id) / str(id)


#: Test hook of the write layer: called before each write of store or queue data with the file's
#: path and the number of bytes; it returns how many of them fit. Fewer stops the write there
#: with ENOSPC, as a full disk does (the first bytes reach the file). None in production.
space_hook: Callable[[Path, int], int] | None = None

_SPACE_ERRNOS = frozenset(e for e in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if e is not None)


def is_disk_full(e: BaseException) -> bool:
    """Whether ``e`` says the disk (or the user's filesystem quota) is full: ENOSPC or EDQUOT
    (Windows' ERROR_DISK_FULL and ERROR_HANDLE_DISK_FULL arrive as ENOSPC)."""
    return isinstance(e, OSError) and e.errno in _SPACE_ERRNOS


def write_all(f, data: bytes | bytearray | memoryview, path: Path) -> None:
    """Write all of ``data`` to the unbuffered binary file ``f`` at its position (a raw write
    may write less than asked). Raises OSError, e.g. ENOSPC, after writing a part."""
    mv = memoryview(data)
    hook = space_hook
    if hook is not None:
        allowed = max(0, min(len(mv), hook(path, len(mv))))
        if allowed < len(mv):
            _write_all(f, mv[:allowed])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    _write_all(f, mv)


def _write_all(f, mv: memoryview) -> None:
    while mv:
        n = f.write(mv)
        if n is None:  # pragma: no cover - only non-blocking files return None
            raise OSError(errno.EAGAIN, "short write", getattr(f, "name", ""))
        mv = mv[n:]


def fsync_file(f) -> None:
    """Flush and fsync an open binary file object."""
    f.flush()
    os.fsync(f.fileno())


def fsync_dir(path: Path) -> None:
    """Make a rename or new entry in directory ``path`` durable. A no-op on Windows, where a
    directory cannot be opened for fsync and NTFS journals metadata itself."""
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: Mode of files holding secrets (private keys, password hashes, tokens): owner only.
SECRET_MODE = 0o600


def create_new_file(path: Path, mode: int) -> int:
    """A file descriptor for a new, empty file at ``path`` created with ``mode`` from the start
    (a leftover file there is removed first, so its mode cannot leak into the new one). On POSIX
    the mode is set exactly afterwards too (the umask may have removed bits; never added)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)
    if os.name != "nt":
        try:
            os.fchmod(fd, mode)
        except OSError:
            os.close(fd)
            raise
    return fd


def write_file_durable(
    path: Path, tmp_path: Path, data: bytes, *, fsync: bool, mode: int | None = None, sync_dir: bool = True
) -> None:
    """Write ``data`` to ``tmp_path``, fsync it, rename it to ``path`` and fsync the directory
    (unless ``sync_dir`` is false: then the caller does, e.g. once for many files). With ``mode``
    (e.g. SECRET_MODE) the file has that mode from its creation on. On failure (e.g. a full
    disk) the temporary file is removed and ``path`` is unchanged."""
    try:
        f = open(create_new_file(tmp_path, mode), "wb", buffering=0) if mode is not None else open(tmp_path, "wb", buffering=0)
        with f:
            write_all(f, data, tmp_path)
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        remove_quietly(tmp_path)
        raise
    if fsync and sync_dir:
        fsync_dir(path.parent)


def copy_file_durable(src: Path, path: Path, tmp_path: Path, *, fsync: bool) -> None:
    """Copy ``src`` to ``path`` through ``tmp_path`` (as write_file_durable, in 1 MiB steps)."""
    try:
        with open(src, "rb") as fi, open(tmp_path, "wb", buffering=0) as fo:
            while chunk := fi.read(1 << 20):
                write_all(fo, chunk, tmp_path)
            if fsync:
                os.fsync(fo.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        remove_quietly(tmp_path)
        raise


def remove_quietly(path: Path) -> None:
    """Remove a file that may not exist; errors other than a missing file are ignored too (used
    when cleaning up after another error, which is the one to report)."""
    try:
        os.unlink(path)
    except OSError:
        pass


def validate_account_name(name: str) -> None:
    """StoreError unless ``name`` is a valid account directory name (mox.names, Windows rules
    on every platform)."""
    from mox.names import account_name_problem
    from mox.store.errors import StoreError

    problem = account_name_problem(name)
    if problem is not None:
        raise StoreError(f"invalid account name {name!r}: {problem}")
