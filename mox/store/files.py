"""An account's message files: ``<account>/msg/<dir>/<id>``, written once and never changed.

A new message file is written to the data directory's ``tmp/``, fsynced, renamed into place and
its directory fsynced (``place``); an APPEND literal streamed to an ``Upload`` is renamed into
place the same way (``place_upload``); a copy gets a hard link to the original's file, or a
copy of it where links are not possible (``link``). Files are removed only by the account once
no record and no session needs them (``remove``); ``strays`` lists the ones nothing refers to.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from mox import mlog
from mox.store import layout
from mox.store.errors import MessageGone
from mox.store.filecache import CACHE

if TYPE_CHECKING:
    from mox.store.memindex import AccountOwner


#: Flags for reading a message file with os.open: binary on Windows (no newline translation).
_O_READ = os.O_RDONLY | getattr(os, "O_BINARY", 0)


class NewMessage(NamedTuple):
    """A message to store (``Writes.deliver_many_sync``): its data (bytes or an ``Upload``),
    flags and internal date (unix seconds; None: now)."""

    data: bytes | Upload
    flags: tuple[str, ...] = ()
    received: float | None = None


class Upload:
    """A message being received in parts (an IMAP APPEND literal), written to a temporary file as
    it arrives (see ``Account.new_upload``). ``write`` blocks (call it from a worker thread);
    a failed write (e.g. ENOSPC) is kept in ``error``, later data is dropped, and delivering
    the upload raises it. ``discard`` removes the file unless it became a message."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0
        self.error: OSError | None = None
        self.placed = False
        self._f: io.FileIO | None = None
        try:
            self._f = open(path, "wb", buffering=0)
        except OSError as e:  # e.g. a full disk: the data is taken and dropped, delivery fails
            self.error = e

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.error is not None or self._f is None or self._f.closed:
            self.size += len(data)
            return
        try:
            layout.write_all(self._f, data, self.path)
        except OSError as e:
            self.error = e
            self._f.close()
            layout.remove_quietly(self.path)
        self.size += len(data)

    def finish(self, *, fsync: bool = True) -> None:
        """Close the file after the last write (fsynced); raises the error of a failed write."""
        if self.error is not None:
            raise self.error
        if self._f is not None and not self._f.closed:
            try:
                if fsync:
                    os.fsync(self._f.fileno())
            finally:
                self._f.close()

    def read(self) -> bytes:
        with open(self.path, "rb") as f:
            return f.read()

    def discard(self) -> None:
        if self._f is not None and not self._f.closed:
            self._f.close()
        if not self.placed:
            layout.remove_quietly(self.path)


class MessageFiles:
    """The message files of one account (``dir`` is the account directory)."""

    def __init__(self, owner: AccountOwner, name: str, dir: Path, log: mlog.Logger) -> None:
        self.owner = owner  # its data_dir and fsync setting
        self.name = name
        self.dir = dir
        self._log = log
        self._dirs_made: set[str] = set()
        # Reads build the path as a string: a FETCH reads many small files, and pathlib's joins
        # cost more than the open and read themselves.
        self._msg_prefix = os.path.join(os.fspath(dir), layout.MSG_DIR)

    def tmp_path(self, what: str) -> Path:
        """A new path in the data directory's ``tmp/`` for this account (``store-<account>-*``:
        what a crash leaves there is removed when the account opens)."""
        return layout.tmp_dir(self.owner.data_dir) / f"store-{self.name}-{what}-{os.getpid()}-{os.urandom(4).hex()}"

    def remove_temporary(self) -> None:
        """Remove this account's files in ``tmp/`` (left by a crash; nothing refers to them)."""
        for p in layout.tmp_dir(self.owner.data_dir).glob(f"store-{self.name}-*"):
            p.unlink(missing_ok=True)

    def path(self, id: int) -> Path:
        return layout.message_path(self.dir, id)

    def _path_str(self, id: int) -> str:
        return f"{self._msg_prefix}{os.sep}{id >> layout.FILES_PER_DIR_SHIFT:x}{os.sep}{id}"  # layout.message_path

    def read(self, id: int, size: int = 0) -> bytes:
        """The file of message ``id``, byte for byte; MessageGone if it was removed. ``size``:
        the expected size (the record's), so one read usually gets it all. Small files come
        from the process's bounded cache after their first read (filecache.py)."""
        path = self._path_str(id)
        data = CACHE.get(path)
        if data is not None:
            return data
        try:
            fd = os.open(path, _O_READ)
        except FileNotFoundError as e:
            raise MessageGone(f"message {id} is gone (expunged)") from e
        try:
            first = os.read(fd, size + 1 if size > 0 else 1 << 16)
            if not first:
                return first
            parts = [first]
            while chunk := os.read(fd, 1 << 16):
                parts.append(chunk)
            data = first if len(parts) == 1 else b"".join(parts)
        finally:
            os.close(fd)
        CACHE.put(path, data)
        return data

    def _forget(self, id: int) -> None:
        """Before a file of this path is placed, linked or removed: no cached bytes outlive it."""
        CACHE.drop(self._path_str(id))

    def _ensure_dir(self, id: int) -> Path:
        sub = layout.msg_subdir(id)
        d = self.dir / layout.MSG_DIR / sub
        if sub not in self._dirs_made:
            if not d.is_dir():
                d.mkdir(parents=True, exist_ok=True)
                if self.owner.fsync:
                    layout.fsync_dir(d.parent)
            self._dirs_made.add(sub)
        return d

    def place(self, id: int, data: bytes, *, sync_dir: bool = True) -> Path:
        """Write a new message file durably (tmp, fsync, rename, directory fsync; without
        ``sync_dir`` the caller fsyncs the directory, see ``Commit``). Returns the directory."""
        d = self._ensure_dir(id)
        self._forget(id)
        layout.write_file_durable(d / str(id), self.tmp_path(str(id)), data, fsync=self.owner.fsync, sync_dir=sync_dir)
        return d

    def place_upload(self, id: int, upload: Upload, *, sync_dir: bool = True) -> Path:
        """Rename a finished upload into place as message ``id`` and fsync the directory (as
        ``place``). Returns the directory."""
        d = self._ensure_dir(id)
        self._forget(id)
        os.replace(upload.path, d / str(id))
        upload.placed = True
        if self.owner.fsync and sync_dir:
            layout.fsync_dir(d)
        return d

    def link(self, pairs: list[tuple[int, int]]) -> set[int]:
        """Give message ``dst`` the file of message ``src`` for each pair: a hard link, or a copy
        where links are not possible; then fsync the directories. Returns the sources whose file
        was gone (the message was removed meanwhile and nobody held it)."""
        dirs: set[Path] = set()
        missing: set[int] = set()
        for src, dst in pairs:
            d = self._ensure_dir(dst)
            sp = layout.message_path(self.dir, src)
            dp = d / str(dst)
            self._forget(dst)
            dp.unlink(missing_ok=True)  # left over from a crashed, uncommitted write
            try:
                os.link(sp, dp)
            except FileNotFoundError:
                missing.add(src)
                continue
            except OSError as e:
                if layout.is_disk_full(e):
                    raise
                try:
                    layout.copy_file_durable(sp, dp, self.tmp_path(str(dst)), fsync=self.owner.fsync)
                except FileNotFoundError:
                    missing.add(src)
                    continue
            dirs.add(d)
        if self.owner.fsync:
            for d in dirs:
                layout.fsync_dir(d)
        return missing

    def remove(self, ids: Iterable[int]) -> None:
        for id in ids:
            self._forget(id)
            try:
                layout.message_path(self.dir, id).unlink(missing_ok=True)
            except OSError as e:
                self._log.error("removing message file", id=id, err=repr(e))

    def strays(self, needed: Callable[[int], bool]) -> list[Path]:
        """Files under msg/ that are no message file the account ``needed``, or in the wrong
        directory."""
        strays: list[Path] = []
        try:
            subdirs = list(os.scandir(self.dir / layout.MSG_DIR))
        except FileNotFoundError:
            return strays
        for d in subdirs:
            if not d.is_dir():
                strays.append(Path(d.path))
                continue
            for e in os.scandir(d.path):
                try:
                    id = int(e.name)
                except ValueError:
                    strays.append(Path(e.path))
                    continue
                if not needed(id) or layout.msg_subdir(id) != d.name:
                    strays.append(Path(e.path))
        return strays
