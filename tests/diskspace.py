"""A simulated full disk for the store's and queue's write layer (``mox.store.layout.space_hook``).

    with DiskSpace() as disk:      # unlimited until told otherwise
        disk.free = 0              # every write fails with ENOSPC
        disk.free = 300            # 300 more bytes fit, the write that crosses it stops there
        disk.free = None           # space freed: writes succeed again

``only`` restricts the simulation to paths for which it returns True (e.g. snapshot files).
Every write attempt is counted in ``attempts`` (path, bytes) so tests can see what was tried.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from mox.store import layout


class DiskSpace:
    def __init__(self, free: int | None = None, *, only: Callable[[Path], bool] | None = None) -> None:
        self.free = free
        self.only = only
        self.attempts: list[tuple[Path, int]] = []
        self.refused = 0  # writes that hit the limit
        self._lock = threading.Lock()
        self._prev: Callable[[Path, int], int] | None = None

    def __call__(self, path: Path, n: int) -> int:
        with self._lock:
            self.attempts.append((Path(path), n))
            if self.free is None or (self.only is not None and not self.only(Path(path))):
                return n
            allowed = min(n, self.free)
            self.free -= allowed
            if allowed < n:
                self.refused += 1
            return allowed

    def __enter__(self) -> DiskSpace:
        self._prev = layout.space_hook
        layout.space_hook = self
        return self

    def __exit__(self, *exc: object) -> None:
        layout.space_hook = self._prev
