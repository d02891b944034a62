"""A real full filesystem: localserve on a small tmpfs that is filled up (Linux; needs a mount
namespace: root, or unprivileged user namespaces). The simulated full disk of test_diskfull.py
covers every write; this checks the same answers against a real ENOSPC."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def _unshare() -> list[str] | None:
    """The command prefix for a private mount namespace, or None where there is none."""
    if sys.platform != "linux" or shutil.which("unshare") is None or shutil.which("mount") is None:
        return None
    prefix = ["unshare", "-m", "--propagation", "private"] if os.geteuid() == 0 else ["unshare", "-r", "-m"]
    try:
        ok = subprocess.run([*prefix, "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return prefix if ok else None


UNSHARE = _unshare()


@pytest.mark.skipif(UNSHARE is None, reason="needs Linux with mount namespaces (root or user namespaces)")
def test_tmpfs_full(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
    assert UNSHARE is not None
    p = subprocess.run(
        [*UNSHARE, sys.executable, str(HERE / "diskfull_tmpfs_child.py"), str(mnt)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert p.returncode == 0, p.stdout + p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["filled"] > 0
    assert out["smtp"][0] == 452 and out["smtp"][1].startswith("4.3.1"), out
    assert out["append"][0] == "NO" and out["append"][1].startswith("[UNAVAILABLE]"), out
    # COPY hard-links the file and appends a short frame, which may still fit into the journal's
    # last, partly used page: OK is right then; otherwise the same NO as APPEND.
    assert out["copy"][0] == "OK" or out["copy"][1].startswith("[UNAVAILABLE]"), out
    assert out["noop"] == "OK"
    assert out["ids_full"] == ["<tmpfs-1@example.org>"]  # nothing half-stored
    assert out["tmp_full"] == []
    assert (out["append_after"], out["copy_after"]) == ("OK", "OK")
    assert out["ids_after"] == ["<tmpfs-1@example.org>", "<tmpfs-2@example.org>", "<tmpfs-3@example.org>"]
    assert out["consistent"]
    assert not list(mnt.iterdir())  # the mount was private to the child
