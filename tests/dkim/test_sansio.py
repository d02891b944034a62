"""mox.dkim is sans-IO: importing it (and the Received writer) brings in neither trio nor the
store, and signing, verifying and writing the authentication fields need neither."""

from __future__ import annotations

import subprocess
import sys


def test_dkim_imports_neither_trio_nor_the_store() -> None:
    code = (
        "import sys\n"
        "import mox.dkim, mox.dkim.local, mox.dkim.dnsrecords, mox.dkim.authres, mox.smtp.received, mox.message.headerwriter\n"
        "print(sorted(m for m in sys.modules if m == 'trio' or m.startswith('trio.') or m.startswith('mox.store')))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, encoding="utf-8", timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "[]\n"
