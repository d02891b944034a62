"""Paths inside the data directory and the fsync discipline (see the package docstring)."""

from __future__ import annotations

import os
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


def write_file_durable(path: Path, tmp_path: Path, data: bytes, *, fsync: bool, mode: int | None = None) -> None:
    """Write ``data`` to ``tmp_path``, fsync it, rename it to ``path`` and fsync the directory.
    With ``mode`` (e.g. SECRET_MODE) the file has that mode from its creation on."""
    f = open(create_new_file(tmp_path, mode), "wb") if mode is not None else open(tmp_path, "wb")
    with f:
        f.write(data)
        if fsync:
            fsync_file(f)
    os.replace(tmp_path, path)
    if fsync:
        fsync_dir(path.parent)


def validate_account_name(name: str) -> None:
    """StoreError unless ``name`` is a valid account directory name (mox.names, Windows rules
    on every platform)."""
    from mox.names import account_name_problem
    from mox.store.errors import StoreError

    problem = account_name_problem(name)
    if problem is not None:
        raise StoreError(f"invalid account name {name!r}: {problem}")
