"""One opener per account directory: another ``Store`` in this process or another process is
refused (flock on the directory on POSIX; a byte lock on ``account.lock`` on Windows, which has
no flock; and a set of the directories open in this process, which flock alone does not cover on
Windows)."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from mox.store.errors import StoreError

if sys.platform == "win32":
    import msvcrt

    fcntl = None
else:
    import fcntl

    msvcrt = None

# Windows has no flock: the first byte of this file in the account dir is locked instead.
LOCK_NAME = "account.lock"

# Account directories open in this process (flock alone does not cover Windows).
_open_paths: set[str] = set()
_open_paths_lock = threading.Lock()


class AccountLock:
    """The lock of one account directory, held from ``acquire`` until ``release``."""

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.name = name
        self._fd: int | None = None
        self._key: str | None = None

    def _in_use(self) -> StoreError:
        return StoreError(f"account {self.name!r} is in use by another process or Store")

    def acquire(self) -> None:
        """Take the lock, or raise StoreError when the account is open elsewhere."""
        key = os.path.realpath(self.path)
        with _open_paths_lock:
            if key in _open_paths:
                raise self._in_use()
            _open_paths.add(key)
        self._key = key
        if fcntl is None:
            self._acquire_windows()
            return
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            self.release()
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            self.release()
            raise self._in_use() from e
        self._fd = fd

    def _acquire_windows(self) -> None:
        if msvcrt is None:
            return
        try:
            fd = os.open(self.path / LOCK_NAME, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
        except OSError:
            self.release()
            raise
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # byte 0; fails at once when another handle holds it
        except OSError as e:
            os.close(fd)
            self.release()
            raise self._in_use() from e
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            if fcntl is None and msvcrt is not None:
                try:  # unlock explicitly: Windows releases a lock of a closed handle only eventually
                    os.lseek(self._fd, 0, os.SEEK_SET)
                    msvcrt.locking(self._fd, msvcrt.LK_UNLCK, 1)
                except OSError:
                    pass
            os.close(self._fd)  # closing releases the flock
            self._fd = None
        if self._key is not None:
            with _open_paths_lock:
                _open_paths.discard(self._key)
            self._key = None
