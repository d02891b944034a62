"""Large freed blocks go back to the operating system (glibc), so memory stays bounded.

glibc's malloc serves a request of ``M_MMAP_THRESHOLD`` bytes or more (128 KiB at first) with its
own mmap and unmaps it on free. But the threshold is dynamic: when such a block is freed, the
threshold (and the heap's trim threshold, to twice that) rises to the block's size, up to 32 MiB
(``mallopt(3)``, "M_MMAP_THRESHOLD"). One scrypt (16 MiB of working memory, mox.auth.password)
thus raises it to 16 MiB, and from then on every scrypt's 16 MiB comes from the heap of the arena
of the thread that runs it, and stays there when freed: each worker thread that ever hashed a
password keeps 16 MiB resident (with many logins, one per glibc arena, up to 8 per core).

Setting the threshold once, at start, turns the dynamic adjustment off (``mallopt(3)``): blocks of
``MMAP_THRESHOLD`` or more are then always mapped on their own and returned when freed. Only
glibc on Linux does this; other C libraries and systems are left as they are.
"""

from __future__ import annotations

import os
import sys

#: Blocks of this size or more get their own mapping (Python's small objects come from its own
#: 1 MiB arenas; message data, scrypt's buffer and TLS buffers of this size are transient).
MMAP_THRESHOLD = 1 << 20
#: mallopt(3) parameter number (malloc.h).
_M_MMAP_THRESHOLD = -3


def is_glibc() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        version = os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError):  # the name is unknown to this C library (musl)
        return False
    return bool(version and version.startswith("glibc"))


def return_large_blocks(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes (call it early, before big blocks are
    freed); True when done, False on another C library."""
    if not is_glibc():
        return False
    import ctypes

    libc = ctypes.CDLL(None)  # the C library this process already runs on
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, threshold))
