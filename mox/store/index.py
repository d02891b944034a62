"""The on-disk index: an append-only journal of transactions plus a periodic snapshot.

File formats (all integers little-endian):

- ``index.journal``: ``JOURNAL_MAGIC`` (8 bytes, the last byte is the format version), then
  frames. A frame is ``length:u32 crc32:u32 payload``, the payload a msgpack-encoded
  :class:`~mox.store.schema.Txn` (or the :class:`~mox.store.schema.Closed` marker of a clean
  close). A frame is acknowledged only after the journal was fsynced with
  it, so at most the unacknowledged tail can be torn by a crash: at open a short, oversized,
  checksum-failing or undecodable frame ends the journal, and it is cut off there (and logged).
- ``index.snapshot``: ``SNAPSHOT_MAGIC`` then a single frame holding a
  :class:`~mox.store.schema.Snapshot`. Written to ``<data>/tmp``, fsynced, renamed into place and
  the directory fsynced; only then is the journal restarted (an empty journal is written the same
  way). Journal transactions with ``seq`` at or below the snapshot's are skipped on load, so a
  crash between the two renames loses nothing.
"""

from __future__ import annotations

import gc
import os
import struct
import zlib
from pathlib import Path

import msgspec

from mox.store.errors import StoreError
from mox.store.layout import SECRET_MODE, fsync_dir, fsync_file, write_all, write_file_durable
from mox.store.schema import Closed, Frame, Snapshot, Txn

JOURNAL_MAGIC = b"MOXJRNL\x01"
SNAPSHOT_MAGIC = b"MOXSNAP\x01"
FRAME_HEADER = struct.Struct("<II")
MAX_FRAME = 1 << 30

_encoder = msgspec.msgpack.Encoder()
_frame_decoder = msgspec.msgpack.Decoder(Frame)
_snapshot_decoder = msgspec.msgpack.Decoder(Snapshot)


def frame(payload: bytes) -> bytes:
    return FRAME_HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def encode_txn(txn: Txn | Closed) -> bytes:
    return frame(_encoder.encode(txn))


class JournalScan(msgspec.Struct):
    """Result of reading a journal: the transactions with the byte offset where each ends, the
    offset up to which the file is valid, its size, and why reading stopped early (or None)."""

    txns: list[tuple[Txn | Closed, int]]
    valid_end: int
    size: int
    problem: str | None


def scan_journal(data: bytes) -> JournalScan:
    """Parse journal bytes (whole file). Never raises for damaged content."""
    size = len(data)
    if size < len(JOURNAL_MAGIC):
        # A journal torn while being created: the header itself is incomplete.
        return JournalScan([], 0, size, "incomplete header" if size else None)
    if data[: len(JOURNAL_MAGIC)] != JOURNAL_MAGIC:
        raise StoreError("index.journal: bad magic or unsupported format version")
    start = len(JOURNAL_MAGIC)
    scan = scan_frames(memoryview(data)[start:], _frame_decoder)
    txns: list[tuple[Txn | Closed, int]] = [(txn, start + end) for txn, end in scan.frames]
    return JournalScan(txns, start + scan.valid_end, size, scan.problem)


class FrameScan(msgspec.Struct):
    """Frames read from a file's bytes after its magic: (value, offset where it ends), the
    offset up to which they are valid, and why reading stopped early (or None)."""

    frames: list
    valid_end: int
    problem: str | None


def scan_frames(data: bytes | memoryview, decoder: msgspec.msgpack.Decoder) -> FrameScan:
    """Decode ``length crc payload`` frames (this module's format) with ``decoder``; stops at a
    torn, oversized, checksum-failing or undecodable frame. Never raises for damaged content."""
    off, size, out, problem = 0, len(data), [], None
    mv = memoryview(data)
    while off < size:
        if size - off < FRAME_HEADER.size:
            problem = "torn frame header"
            break
        n, crc = FRAME_HEADER.unpack_from(data, off)
        start = off + FRAME_HEADER.size
        if n > MAX_FRAME or start + n > size:
            problem = "torn frame"
            break
        payload = mv[start : start + n]
        if zlib.crc32(payload) != crc:
            problem = "checksum mismatch"
            break
        try:
            value = decoder.decode(payload)
        except msgspec.DecodeError as e:
            problem = f"undecodable record: {e}"
            break
        off = start + n
        out.append((value, off))
    return FrameScan(out, off, problem)


class JournalWriter:
    """Appends frames to ``index.journal``; ``append`` returns after the data is durable (with
    ``sync=False`` once the operating system has it: a crash of the process loses nothing, a
    crash of the machine may, until ``sync``).

    A failed append cuts the file back to where it was, so the journal still ends with the last
    durable frame and later appends follow it (a full disk is survivable). When even that
    fails, ``broken`` is set and the journal must not be written again in this process.
    """

    def __init__(self, path: Path, *, fsync: bool) -> None:
        self.path = path
        self._fsync = fsync
        self._f = open(path, "r+b", buffering=0)
        self.size = self._f.seek(0, os.SEEK_END)
        self.broken = False

    def truncate(self, size: int) -> None:
        self._f.truncate(size)
        self._f.seek(size)
        if self._fsync:
            os.fsync(self._f.fileno())
        self.size = size

    def append(self, data: bytes, *, sync: bool = True) -> None:
        if self.broken:
            raise StoreError("journal unusable after an earlier failure")
        try:
            write_all(self._f, data, self.path)
            if self._fsync and sync:
                os.fsync(self._f.fileno())
        except BaseException:
            try:
                self.truncate(self.size)
            except BaseException:
                self.broken = True
            raise
        self.size += len(data)

    def sync(self) -> None:
        """Make everything appended durable (fsync)."""
        if self.broken:
            raise StoreError("journal unusable after an earlier failure")
        if self._fsync:
            os.fsync(self._f.fileno())

    def restart(self, tmp_path: Path) -> None:
        """Replace the journal by an empty one (after a snapshot made its content redundant).
        When the new file cannot be written, the old journal stays in place and in use."""
        create_journal(self.path, tmp_path, b"", fsync=self._fsync)
        old = self._f
        try:
            self._f = open(self.path, "r+b", buffering=0)
        except BaseException:
            self.broken = True  # the open handle is of the replaced file: appends would be lost
            raise
        old.close()
        self.size = self._f.seek(0, os.SEEK_END)

    def close(self) -> None:
        self._f.close()


def create_journal(path: Path, tmp_path: Path, frames: bytes, *, fsync: bool) -> None:
    write_file_durable(path, tmp_path, JOURNAL_MAGIC + frames, fsync=fsync, mode=SECRET_MODE)


def encode_snapshot(snap: Snapshot) -> bytes:
    return SNAPSHOT_MAGIC + frame(_encoder.encode(snap))


def write_snapshot(path: Path, tmp_path: Path, data: bytes, *, fsync: bool) -> None:
    write_file_durable(path, tmp_path, data, fsync=fsync, mode=SECRET_MODE)


def read_snapshot(path: Path) -> Snapshot | None:
    """The snapshot, or None when there is none. A damaged snapshot raises StoreError: it was
    written atomically, so damage means the disk lost data and a person must look."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    if data[: len(SNAPSHOT_MAGIC)] != SNAPSHOT_MAGIC:
        raise StoreError(f"{path.name}: bad magic or unsupported format version")
    off = len(SNAPSHOT_MAGIC)
    if len(data) < off + FRAME_HEADER.size:
        raise StoreError(f"{path.name}: truncated")
    n, crc = FRAME_HEADER.unpack_from(data, off)
    payload = memoryview(data)[off + FRAME_HEADER.size :]
    if len(payload) != n or zlib.crc32(payload) != crc:
        raise StoreError(f"{path.name}: truncated or checksum mismatch")
    # Decoding creates one object per message and field; pause the cyclic GC meanwhile, or it runs
    # many full passes over the growing heap (several times slower for 100,000 messages).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _snapshot_decoder.decode(payload)
    except msgspec.DecodeError as e:
        raise StoreError(f"{path.name}: undecodable: {e}") from e
    finally:
        if was_enabled:
            gc.enable()


__all__ = [
    "JOURNAL_MAGIC",
    "SNAPSHOT_MAGIC",
    "JournalScan",
    "JournalWriter",
    "create_journal",
    "encode_snapshot",
    "encode_txn",
    "fsync_dir",
    "fsync_file",
    "frame",
    "read_snapshot",
    "scan_frames",
    "scan_journal",
    "write_snapshot",
]
