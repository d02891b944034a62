"""aiosmtpd as the fallback SMTP peer, for machines where Postfix cannot run (not Debian, Windows).

Runs in its own interpreter (one that can import aiosmtpd: `pip install aiosmtpd`) on a free port
on 127.0.0.1, accepting every recipient without authentication and writing each message into a
maildir in a temp dir (file fsync, then rename into new/) before answering 250, so its replies
mean what mox's and Postfix's mean: the message is on disk.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import moxserver, util

_SERVER = r'''
import asyncio, os, sys, time, itertools
from aiosmtpd.controller import Controller

root, port = sys.argv[1], int(sys.argv[2])
for d in ("tmp", "new", "cur"):
    os.makedirs(os.path.join(root, d), exist_ok=True)
seq = itertools.count()

def store(data):
    name = f"{time.time():.6f}.{os.getpid()}_{next(seq)}.bench"
    tmp = os.path.join(root, "tmp", name)
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, os.path.join(root, "new", name))

class Handler:
    async def handle_DATA(self, server, session, envelope):
        await asyncio.get_running_loop().run_in_executor(None, store, envelope.original_content)
        return "250 2.0.0 stored"

c = Controller(Handler(), hostname="127.0.0.1", port=port, data_size_limit=20 * 1024 * 1024)
c.start()
print("ready", flush=True)
try:
    sys.stdin.read()
finally:
    c.stop()
'''


def _python() -> str | None:
    for py in (sys.executable, moxserver.python()):
        ok = subprocess.run([py, "-c", "import aiosmtpd"], capture_output=True, check=False)
        if ok.returncode == 0:
            return py
    return None


def version() -> str:
    py = _python()
    if not py:
        return "not installed"
    out = subprocess.run([py, "-c", "import aiosmtpd; print(aiosmtpd.__version__)"], capture_output=True,
                         text=True, check=False)
    return f"aiosmtpd {out.stdout.strip()}"


@contextlib.contextmanager
def running():
    """Start aiosmtpd; yields (port, description). Stops it and removes the temp dir."""
    py = _python()
    if not py:
        raise RuntimeError("aiosmtpd not importable (pip install aiosmtpd)")
    root = Path(tempfile.mkdtemp(prefix="bench-aiosmtpd-"))
    port = util.free_port()
    proc = subprocess.Popen([py, "-c", _SERVER, str(root / "maildir"), str(port)], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL)
    try:
        util.wait_port(port, proc=proc)
        yield port, version()
    finally:
        try:
            proc.stdin.close()
            proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            util.stop_process(proc)
        shutil.rmtree(root, ignore_errors=True)
