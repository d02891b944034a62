"""Postfix as the SMTP peer, from a throwaway configuration directory in a temp dir.

`postfix -c <dir> start-fg` runs a separate instance: its own main.cf/master.cf, queue and data
directories and log file in the temp dir; smtpd listens on a free port on 127.0.0.1 only. Mail
for mox@localhost is accepted from 127.0.0.0/8 without authentication and delivered by virtual(8)
into a maildir in the temp dir. Postfix defaults are kept otherwise (queue files are fsynced
before the 250 reply; `in_flow_delay` may pause smtpd while deliveries lag behind).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from . import util

RECIPIENT = "mox@localhost"


def version() -> str:
    exe = util.apt_install("postfix", "postfix")
    if not exe:
        return "not installed"
    postconf = str(Path(exe).with_name("postconf"))
    out = subprocess.run([postconf, "-d", "-h", "mail_version"], capture_output=True, text=True,
                         check=False)
    return "Postfix " + out.stdout.strip()


def _mail_user() -> tuple[int, int]:
    """uid/gid virtual(8) delivers as (it refuses root): `nobody` when we are root."""
    uid, gid = os.getuid(), os.getgid()
    if uid == 0:
        import pwd
        pw = pwd.getpwnam("nobody")
        uid, gid = pw.pw_uid, pw.pw_gid
    return uid, gid


def _main_cf(root: Path) -> str:
    uid, gid = _mail_user()
    return f"""\
# Throwaway configuration written by mox's bench/peers/postfix.py.
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
maillog_file_prefixes = {root}
maillog_file = {root}/postfix.log
myhostname = bench.localhost
mydomain = localhost
myorigin = localhost
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = permit_mynetworks, reject
alias_maps =
alias_database =
local_recipient_maps =
biff = no
append_dot_mydomain = no
relayhost =
virtual_mailbox_domains = localhost
virtual_mailbox_base = {root}/vmail
virtual_mailbox_maps = texthash:{root}/vmailbox
virtual_minimum_uid = {min(uid, 100) if uid else 1}
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
message_size_limit = 20971520
"""


def _master_cf(port: int) -> str:
    # service type private unpriv chroot wakeup maxproc command; no chroot anywhere.
    rows = [
        (f"127.0.0.1:{port}", "inet", "n", "-", "n", "-", "-", "smtpd"),
        ("cleanup", "unix", "n", "-", "n", "-", "0", "cleanup"),
        ("qmgr", "unix", "n", "-", "n", "300", "1", "qmgr"),
        ("rewrite", "unix", "-", "-", "n", "-", "-", "trivial-rewrite"),
        ("bounce", "unix", "-", "-", "n", "-", "0", "bounce"),
        ("defer", "unix", "-", "-", "n", "-", "0", "bounce"),
        ("trace", "unix", "-", "-", "n", "-", "0", "bounce"),
        ("verify", "unix", "-", "-", "n", "-", "1", "verify"),
        ("flush", "unix", "n", "-", "n", "1000?", "0", "flush"),
        ("proxymap", "unix", "-", "-", "n", "-", "-", "proxymap"),
        ("showq", "unix", "n", "-", "n", "-", "-", "showq"),
        ("error", "unix", "-", "-", "n", "-", "-", "error"),
        ("retry", "unix", "-", "-", "n", "-", "-", "error"),
        ("discard", "unix", "-", "-", "n", "-", "-", "discard"),
        ("smtp", "unix", "-", "-", "n", "-", "-", "smtp"),
        ("local", "unix", "-", "n", "n", "-", "-", "local"),
        ("virtual", "unix", "-", "n", "n", "-", "-", "virtual"),
        ("anvil", "unix", "-", "-", "n", "-", "1", "anvil"),
        ("scache", "unix", "-", "-", "n", "-", "1", "scache"),
        ("postlog", "unix-dgram", "n", "-", "n", "-", "1", "postlogd"),
    ]
    return "# Throwaway configuration written by mox's bench/peers/postfix.py.\n" + "".join(
        "  ".join(r) + "\n" for r in rows)


def delivered(root: Path) -> int:
    """Messages virtual(8) has delivered into the maildir so far."""
    new = root / "vmail" / "mox" / "new"
    try:
        return sum(1 for _ in os.scandir(new))
    except OSError:
        return 0


@contextlib.contextmanager
def running():
    """Start Postfix; yields (port, description, root). Stops it and removes the temp dir."""
    exe = util.apt_install("postfix", "postfix")
    if not exe:
        raise RuntimeError("postfix not available (apt-get install postfix)")
    root = Path(tempfile.mkdtemp(prefix="bench-postfix-"))
    os.chmod(root, 0o755)  # postfix daemons run as the postfix user
    conf = root / "conf"
    proc = None
    try:
        for d in ("conf", "queue", "data", "vmail"):
            (root / d).mkdir()
        if os.getuid() == 0:
            uid, gid = _mail_user()
            os.chown(root / "vmail", uid, gid)
            import pwd
            pf = pwd.getpwnam("postfix")
            os.chown(root / "data", pf.pw_uid, pf.pw_gid)
        (root / "vmailbox").write_text(f"{RECIPIENT} mox/\n", encoding="utf-8")
        port = util.free_port()
        (conf / "main.cf").write_text(_main_cf(root), encoding="utf-8")
        (conf / "master.cf").write_text(_master_cf(port), encoding="utf-8")
        # The Debian package may have no main.cf of its own ("No configuration"); postfix(1) reads
        # only ours with -c.
        err = open(root / "stderr.log", "wb")
        proc = subprocess.Popen([exe, "-c", str(conf), "start-fg"], stdout=err, stderr=err)
        try:
            util.wait_port(port, proc=proc)
        except RuntimeError:
            for name in ("stderr.log", "postfix.log"):
                p = root / name
                if p.exists():
                    print(p.read_text(encoding="utf-8", errors="replace")[-3000:])
            raise
        yield port, version(), root
    finally:
        if proc is not None:
            subprocess.run([exe, "-c", str(conf), "stop"], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                util.stop_process(proc)
            time.sleep(0.2)
        shutil.rmtree(root, ignore_errors=True)
