"""mox.limits.allocator: on glibc, the memory of a finished password hash goes back to the
system, whichever worker thread ran it (without the fixed threshold each thread's arena keeps
scrypt's 16 MiB). Checked in a fresh interpreter by its resident size, not by timing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mox.limits import allocator

pytestmark = pytest.mark.skipif(not allocator.is_glibc(), reason="glibc's allocator only (Linux)")

CHILD = r"""
import json, re, sys, threading
from mox.auth import password
from mox.limits import allocator

def rss():
    return int(re.search(r"VmRSS:\s+(\d+) kB", open("/proc/self/status").read()).group(1)) * 1024

tuned = allocator.return_large_blocks() if sys.argv[1] == "tuned" else False
password.make_password_record("warm up")  # modules, first hash
before = rss()
for i in range(4):  # one thread each, as trio's worker threads
    t = threading.Thread(target=password.make_password_record, args=(f"password {i}",))
    t.start()
    t.join()
print(json.dumps({"tuned": tuned, "growth": rss() - before}))
"""


def growth(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout)


def test_hash_memory_is_returned_in_every_thread() -> None:
    got = growth("tuned")
    assert got["tuned"] is True
    assert got["growth"] < 8 << 20, got  # not one 16 MiB scrypt buffer kept
    # The same without the fixed threshold keeps at least one buffer: what the setting prevents.
    assert growth("default")["growth"] >= 12 << 20
