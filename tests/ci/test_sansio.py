"""The decision modules of the test and CI features are sans-IO: importing them brings in neither
trio nor the store."""

from __future__ import annotations

import subprocess
import sys


def test_decision_modules_import_neither_trio_nor_the_store() -> None:
    code = (
        "import sys\n"
        "import mox.ci.faults, mox.ci.transcript, mox.ci.lint, mox.imap.profiles\n"
        "print(sorted(m for m in sys.modules if m == 'trio' or m.startswith('mox.store')))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, encoding="utf-8", timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "[]\n"
