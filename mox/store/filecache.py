"""A bounded cache of small message files, shared by every account of the process.

Message files are written once and never changed (files.py), so the bytes read for one FETCH
can serve the next without asking the file system again: a FETCH of ten ~2 KB messages cost
thirty system calls (open, read, close) on the event loop. Only files up to ``max_file`` bytes
are kept, at most ``limit`` bytes in all; the least recently used go first. Entries are keyed by
the file's path. ``MessageFiles`` drops an entry before it removes, places or links a file of
that path, so a cached file never outlives its file (a removed message reads as MessageGone).

Thread-safe: files are read on the event loop and in worker threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

#: Bytes of message data kept at most (all accounts together) and the largest file kept.
LIMIT = 6 << 20
MAX_FILE = 32 << 10


class FileCache:
    def __init__(self, limit: int = LIMIT, max_file: int = MAX_FILE) -> None:
        self.limit = limit
        self.max_file = max_file
        self.size = 0  # bytes held now
        self._data: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: str) -> bytes | None:
        # Without the lock: each OrderedDict operation is atomic; an entry removed between the
        # two only makes move_to_end fail.
        data = self._data.get(path)
        if data is not None:
            try:
                self._data.move_to_end(path)
            except KeyError:
                pass
        return data

    def put(self, path: str, data: bytes) -> None:
        n = len(data)
        if n > self.max_file or n > self.limit:
            return
        with self._lock:
            old = self._data.pop(path, None)
            if old is not None:
                self.size -= len(old)
            self._data[path] = data
            self.size += n
            while self.size > self.limit:
                _, gone = self._data.popitem(last=False)
                self.size -= len(gone)

    def drop(self, path: str) -> None:
        with self._lock:
            old = self._data.pop(path, None)
            if old is not None:
                self.size -= len(old)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.size = 0

    def __len__(self) -> int:
        return len(self._data)


#: The process's cache (MessageFiles.read).
CACHE = FileCache()
