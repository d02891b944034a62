"""The README's "Testing with mox" section has a Python example per capability, and they run:
the examples are taken from README.md as they are, given working versions of the functions they
leave to the reader (``signup_user``, ``send_with_retries``, ``run_mail_client``,
``send_newsletter``, ``MESSAGE`` and the golden file), and run with pytest in a subprocess."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
CAPABILITIES = [
    "Per-test inboxes", "Fault injection", "Session transcripts", "Message lint",
    "IMAP capability profiles", "Fixtures in and out", "Deterministic mode",
]

PRELUDE = textwrap.dedent(
    '''
    import imaplib, smtplib, socket
    from pathlib import Path
    import pytest
    from mox.testing import MoxServer

    SRV = None
    MESSAGE = (b"From: <mox@localhost>\\r\\nTo: <queuepermerror@localhost>\\r\\nSubject: bounce me\\r\\n"
               b"Date: Thu, 26 Nov 2026 10:00:00 +0000\\r\\nMessage-ID: <golden@localhost>\\r\\n\\r\\nhi\\r\\n")

    @pytest.fixture(autouse=True)
    def _server(request):
        global SRV
        SRV = request.getfixturevalue("mox_server")
        yield

    def signup_user(address, smtp):
        with smtplib.SMTP(*smtp, timeout=30) as c:
            c.login("mox@localhost", "moxmoxmox")
            c.sendmail("mox@localhost", [address], f"From: <mox@localhost>\\r\\nTo: {address}\\r\\nSubject: Welcome\\r\\n\\r\\nhi\\r\\n")

    def send_with_retries(address):
        for attempt in range(1, 6):
            try:
                with SRV.smtp() as c:
                    c.sendmail("mox@localhost", [address], f"From: <mox@localhost>\\r\\nTo: {address}\\r\\nSubject: retried\\r\\n\\r\\nhi\\r\\n")
                break
            except smtplib.SMTPRecipientsRefused as e:
                assert e.recipients[address][0] == 451
        assert attempt == 3  # refused twice, then accepted
        SRV.address_inbox(address).wait(subject="retried")

    def send_newsletter(to):
        SRV.send(to, "News", "this week")

    def _imap_line(s, buf):
        while b"\\r\\n" not in buf[0]:
            data = s.recv(4096)
            if not data:
                return None
            buf[0] += data
        line, buf[0] = buf[0].split(b"\\r\\n", 1)
        return line

    def run_mail_client(address=None, port=None):
        if port is not None:  # a client without extensions: login, select, search
            with imaplib.IMAP4("127.0.0.1", port, timeout=30) as c:
                c.login("mox@localhost", "moxmoxmox")
                assert c.select("INBOX")[0] == "OK"
                assert c.search(None, "ALL")[0] == "OK"
            return
        # IDLE until the server drops us, then reconnect and carry on.
        s = socket.create_connection(("127.0.0.1", SRV.imap_port), timeout=30)
        buf = [b""]
        _imap_line(s, buf)
        for cmd in (f"a1 LOGIN {address} {SRV.shared_password}", "a2 SELECT INBOX"):
            s.sendall(cmd.encode() + b"\\r\\n")
            while not (_imap_line(s, buf) or b"").startswith(cmd[:3].encode()):
                pass
        s.sendall(b"a3 IDLE\\r\\n")
        assert _imap_line(s, buf) == b"+ waiting"
        assert _imap_line(s, buf) is None  # dropped
        s.close()
        with imaplib.IMAP4("127.0.0.1", SRV.imap_port, timeout=30) as c:
            c.login(address, SRV.shared_password)
            assert c.select("INBOX")[0] == "OK"
    '''
)

GOLDEN = textwrap.dedent(
    '''
    import sys
    from pathlib import Path
    from mox.testing import MoxServer
    sys.path.insert(0, ".")
    from test_readme import MESSAGE

    with MoxServer.open(Path(sys.argv[1]), deterministic=True) as srv:
        with srv.smtp() as c:
            c.sendmail("mox@localhost", ["queuepermerror@localhost"], MESSAGE)
        dsn = srv.api("GET", "wait?subject=mail%20delivery%20failed&timeout=20")["messages"][0]
        Path("golden/bounce.eml").write_bytes(srv.api("GET", f"messages/{dsn['id']}/raw", raw=True))
    '''
)


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Testing with mox\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_every_capability_has_a_python_example() -> None:
    parts = re.split(r"\n### ", _section())[1:]
    titles = [p.split("\n", 1)[0] for p in parts]
    assert titles == CAPABILITIES
    for title, part in zip(titles, parts):
        assert "```python\n" in part, title


def test_readme_examples_run(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", _section(), re.S)
    assert len(blocks) == len(CAPABILITIES)
    (tmp_path / "test_readme.py").write_text(PRELUDE + "\n\n" + "\n\n".join(blocks), encoding="utf-8")
    (tmp_path / "tests" / "fixtures" / "mail").mkdir(parents=True)
    (tmp_path / "tests" / "fixtures" / "mail" / "hello.eml").write_bytes(b"From: a@example.org\r\nSubject: fixture\r\n\r\nhi\r\n")
    (tmp_path / "golden").mkdir()
    run = dict(capture_output=True, text=True, encoding="utf-8", timeout=240, cwd=tmp_path)
    # The golden file of the deterministic example, from a first run of its own.
    (tmp_path / "make_golden.py").write_text(GOLDEN, encoding="utf-8")
    r = subprocess.run([sys.executable, "make_golden.py", str(tmp_path / "golden-run")], **run)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "-p", "no:randomly", "test_readme.py"], **run
    )
    assert r.returncode == 0, r.stdout + r.stderr
    passed = re.findall(r"::(test_\w+) PASSED", r.stdout)
    assert sorted(passed) == sorted(re.findall(r"^def (test_\w+)\(", "\n".join(blocks), re.M)) and len(passed) == 8
    # -export-on-exit wrote its artifact when the fixture test's server stopped.
    assert (tmp_path / "artifacts" / "mail" / "EXPORTED").is_file()
