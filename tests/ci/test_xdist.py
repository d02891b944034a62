"""Two parallel pytest-xdist workers share one `mox localserve`: their per-address inboxes and
their fault rules never mix."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

INNER = textwrap.dedent(
    '''
    import json, os, smtplib, time
    from pathlib import Path
    import pytest
    from mox.testing import MoxServer

    SRV = MoxServer.attach(json.loads(os.environ["MOX_READY"]))

    def wait_for_other_worker(worker_id):
        """Until a rule of the other worker is there too, so that both workers' rules coexist
        while they send (True), or the other worker has finished (False; at most 60 s)."""
        other = "gw1" if worker_id == "gw0" else "gw0"
        deadline = time.monotonic() + 60
        d = Path(os.environ["OVERLAP_DIR"])
        while time.monotonic() < deadline:
            if any(r["owner"].startswith(other + "n") for r in SRV.faults.list() if "owner" in r):
                # Keep holding my rule until the other worker has seen one of mine too (or is
                # done), so a fast worker can't let the slower one miss every overlap.
                (d / f"saw-{worker_id}").write_text("", encoding="utf-8")
                while time.monotonic() < deadline:
                    if (d / f"saw-{other}").exists() or (d / f"done-{other}").exists():
                        return True
                    time.sleep(0.05)
                return True
            if (d / f"done-{other}").exists():
                return False
            time.sleep(0.05)
        return False

    def message(to, subject):
        return (f"From: <s@example.org>\\r\\nTo: <{to}>\\r\\nSubject: {subject}\\r\\n"
                "Date: Thu, 26 Nov 2026 10:00:00 +0000\\r\\nMessage-ID: <x@example.org>\\r\\n\\r\\nhi\\r\\n")

    @pytest.mark.parametrize("n", range(6))
    def test_isolated(n, worker_id):
        token = f"{worker_id}n{n}x"
        me = f"user+{token}@example.org"
        # My rule: the first RCPT to me is refused, later ones and everybody else's go through.
        with SRV.faults.add(stage="rcpt", token=token, action="reply", code=451, text=f"for {token}",
                            times=1, owner=token) as rule:
            overlap = wait_for_other_worker(worker_id)
            (Path(os.environ["OVERLAP_DIR"]) / token).write_text(str(int(overlap)), encoding="utf-8")
            with smtplib.SMTP("127.0.0.1", SRV.ports["smtp"], timeout=30) as c:
                c.ehlo("client.example")
                c.mail("s@example.org")
                code, text = c.rcpt(me)
                assert (code, text.split(b" (")[0]) == (451, f"4.0.0 for {token}".encode())
                for i in range(3):
                    c.rset()
                    c.mail("s@example.org")
                    assert c.rcpt(me)[0] == 250
                    assert c.data(message(me, f"{token} #{i}"))[0] == 250
            assert [r["id"] for r in SRV.faults.list() if r.get("owner") == token] == [rule["id"]]
            assert SRV.faults.get(rule["id"])["fired"] == 1
        box = SRV.address_inbox(me)
        box.wait(subject=f"{token} #2", timeout=20)
        assert sorted(m["subject"] for m in box.messages()) == [f"{token} #{i}" for i in range(3)]
        with box.imap() as client:
            typ, data = client.select("INBOX")
            assert (typ, data) == ("OK", [b"3"])
            typ, data = client.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            subjects = sorted(part[1].decode().strip() for part in data if isinstance(part, tuple))
            assert subjects == [f"Subject: {token} #{i}" for i in range(3)]
        print(f"isolated {token}")
    '''
)

INNER_CONFTEST = textwrap.dedent(
    '''
    import os
    from pathlib import Path

    def pytest_sessionfinish(session):
        worker = os.environ.get("PYTEST_XDIST_WORKER")
        if worker:
            (Path(os.environ["OVERLAP_DIR"]) / f"done-{worker}").write_text("", encoding="utf-8")
    '''
)


def test_two_xdist_workers_share_a_server(tmp_path: Path, mox_process) -> None:
    p = mox_process("localserve", "-dir", str(tmp_path / "mox"), "-port-base", "0")
    info = p.wait_ready()
    (tmp_path / "inner").mkdir()
    (tmp_path / "inner" / "test_inner.py").write_text(INNER, encoding="utf-8")
    (tmp_path / "inner" / "conftest.py").write_text(INNER_CONFTEST, encoding="utf-8")
    (tmp_path / "overlap").mkdir()
    env = dict(os.environ, MOX_READY=json.dumps(info), OVERLAP_DIR=str(tmp_path / "overlap"))
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "-v", "-p", "no:cacheprovider", "-p", "no:randomly", "test_inner.py"],
        capture_output=True, text=True, encoding="utf-8", timeout=300, cwd=tmp_path / "inner", env=env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "6 passed" in r.stdout
    workers = set(re.findall(r"\[(gw\d)\] .*PASSED", r.stdout))
    assert workers == {"gw0", "gw1"}, r.stdout
    # The workers really ran side by side: tests of both saw the other's rule while holding theirs.
    seen = {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "overlap").iterdir() if not p.name.startswith(("done-", "saw-"))}
    assert len(seen) == 6
    assert {name[:3] for name, v in seen.items() if v == "1"} == {"gw0", "gw1"}, seen
    # The mox account still sees all of them: 6 tests x 3 messages.
    with urllib.request.urlopen(f"http://127.0.0.1:{info['http']}/api/v1/messages?limit=1", timeout=30) as resp:
        assert json.load(resp)["total"] == 18
    p.terminate()
    assert p.wait() == 0
