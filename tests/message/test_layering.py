"""mox.message is pure: it imports neither trio nor the store (docs/architecture.md layers)."""

import subprocess
import sys


def test_message_imports_no_trio_or_store():
    code = (
        "import sys, mox.message;"
        "bad = sorted(m for m in sys.modules if m == 'trio' or m.startswith(('trio.', 'mox.store', 'mox.imap', 'mox.smtp')));"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
