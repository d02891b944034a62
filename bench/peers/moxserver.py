"""mox itself: `python -m mox -loglevel error localserve -ephemeral -port-base 0 -ready-file F`.

The ready file carries the ports of every service (docs/architecture.md, "localserve flags and
readiness"). The account is mox@localhost with password moxmoxmox.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import util

ADDRESS = "mox@localhost"
PASSWORD = "moxmoxmox"
REPO = Path(__file__).resolve().parents[2]


def python() -> str:
    """An interpreter that can import mox: $MOX_BENCH_PYTHON, this one, or the repo's venv."""
    env = os.environ.get("MOX_BENCH_PYTHON")
    if env:
        return env
    candidates = [sys.executable, REPO / ".venv" / "bin" / "python", REPO / ".venv" / "Scripts" / "python.exe"]
    # Checked from a neutral directory: the server runs in a temp dir, where a mox package that is
    # importable only because it sits in the current directory would be missing.
    with tempfile.TemporaryDirectory() as neutral:
        for c in candidates:
            if Path(c).exists():
                ok = subprocess.run([str(c), "-c", "import mox.cli, trio"], capture_output=True,
                                    check=False, cwd=neutral)
                if ok.returncode == 0:
                    return str(c)
    return sys.executable


def version() -> str:
    # The commit of the tree the server runs from (as it is started: from a neutral directory,
    # so $MOX_BENCH_PYTHON may run another checkout than this one).
    with tempfile.TemporaryDirectory() as neutral:
        out = subprocess.run([python(), "-c", "import mox, os; print(mox.__version__); print(os.path.dirname(mox.__file__))"],
                             capture_output=True, text=True, check=False, cwd=neutral)
    lines = out.stdout.split("\n")
    where = Path(lines[1]).parent if len(lines) > 1 and lines[1].strip() else REPO
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         check=False, cwd=where)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "mox"], capture_output=True, text=True,
                           check=False, cwd=where).stdout.strip()
    return (f"mox {lines[0].strip() or '?'} (commit {rev.stdout.strip() or '?'}"
            f"{' + uncommitted changes in mox/' if dirty else ''})")


@contextlib.contextmanager
def running(timeout: float = 60.0, extra: tuple[str, ...] = ()):
    """Start mox localserve (``extra``: more localserve flags, e.g. ``("-imap-profile", "full")``);
    yields (ports dict, description). Raises RuntimeError with the reason when it does not come up
    (the caller reports mox as not measured)."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-mox-"))
    ready = tmp / "ready.json"
    errlog = tmp / "stderr.log"
    # -loglevel is an option of the root command (mox -loglevel error localserve ...).
    cmd = [python(), "-m", "mox", "-loglevel", "error", "localserve", "-ephemeral", "-port-base", "0",
           "-ready-file", str(ready), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(errlog, "wb"), cwd=tmp)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if ready.exists():
                try:
                    ports = json.loads(ready.read_text(encoding="utf-8"))
                    break
                except ValueError:
                    pass  # partially written
            if proc.poll() is not None:
                tail = [l.strip() for l in errlog.read_text(encoding="utf-8", errors="replace").splitlines() if l.strip()][-2:]
                raise RuntimeError(f"mox localserve exited with code {proc.returncode}: " + " / ".join(tail))
            if time.monotonic() > deadline:
                raise RuntimeError(f"mox localserve wrote no ready file within {timeout:.0f}s")
            time.sleep(0.05)
        yield ports, version()
    finally:
        util.stop_process(proc)
        shutil.rmtree(tmp, ignore_errors=True)
