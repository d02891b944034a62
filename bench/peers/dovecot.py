"""Dovecot IMAP server as the IMAP peer, from a throwaway configuration in a temp dir.

With ``lmtp=True`` it also runs its LMTP service (the delivery peer: mail into the same maildir),
with ``submission_relay=PORT`` its submission service (AUTH PLAIN, relaying every message to an
SMTP server on that port, e.g. the Postfix peer, before its 250). Both on free ports on 127.0.0.1;
they need the Debian packages dovecot-lmtpd and dovecot-submissiond.

Nothing system-wide is changed: the configuration, password file, maildirs, sockets and log all
live in the temp dir, the server listens on a free port on 127.0.0.1 only, without TLS. Dovecot's
own defaults are kept otherwise (notably `mail_fsync = optimized`, which fsyncs saved mail).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from . import util

ADDRESS = "mox@localhost"
PASSWORD = "moxmoxmox"


def version() -> str:
    exe = util.apt_install("dovecot-imapd", "dovecot")
    if not exe:
        return "not installed"
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    return "Dovecot " + out.stdout.strip()


def _mail_user() -> tuple[int, int]:
    """uid/gid the mail processes run as: ours, or `nobody` when we are root (Dovecot refuses 0)."""
    uid, gid = os.getuid(), os.getgid()
    if uid == 0:
        import pwd
        pw = pwd.getpwnam("nobody")
        uid, gid = pw.pw_uid, pw.pw_gid
    return uid, gid


def _config(root: Path, port: int, lmtp_port: int = 0, submission_port: int = 0, relay_port: int = 0) -> str:
    uid, gid = _mail_user()
    protocols = "imap" + (" lmtp" if lmtp_port else "") + (" submission" if submission_port else "")
    extra = ""
    if lmtp_port:
        extra += f"""
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
"""
    if submission_port:
        extra += f"""
hostname = localhost
submission_relay_host = 127.0.0.1
submission_relay_port = {relay_port}
submission_relay_trusted = yes
service submission-login {{
  inet_listener submission {{
    address = 127.0.0.1
    port = {submission_port}
  }}
}}
"""
    return f"""\
# Throwaway configuration written by mox's bench/peers/dovecot.py.
protocols = {protocols}
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:{root}/mail/%u
mail_max_userip_connections = 100
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
{extra}"""


@contextlib.contextmanager
def running(*, lmtp: bool = False, submission_relay: int = 0, pids: list[int] | None = None):
    """Start Dovecot; yields (port, description), or with ``lmtp`` / ``submission_relay``
    (port, description, {"lmtp": port, "submission": port}). Stops it and removes the temp dir
    afterwards. ``pids``: the master process's pid is appended to it (its process tree is the
    server, for util.process_tree_cpu)."""
    exe = util.apt_install("dovecot-imapd", "dovecot")
    if not exe:
        raise RuntimeError("dovecot not available (apt-get install dovecot-imapd)")
    for wanted, package, program in ((lmtp, "dovecot-lmtpd", "lmtp"),
                                     (submission_relay, "dovecot-submissiond", "submission")):
        if wanted and not util.apt_install_program(package, Path("/usr/lib/dovecot") / program):
            raise RuntimeError(f"dovecot's {program} not available (apt-get install {package})")
    root = Path(tempfile.mkdtemp(prefix="bench-dovecot-"))
    os.chmod(root, 0o755)  # login and auth processes run as dovecot's own users
    proc = None
    try:
        for d in ("run", "state", "mail", "home"):
            (root / d).mkdir()
        if os.getuid() == 0:
            uid, gid = _mail_user()
            for d in ("mail", "home"):
                os.chown(root / d, uid, gid)
        (root / "passwd").write_text(f"{ADDRESS}:{{PLAIN}}{PASSWORD}::::::\n", encoding="utf-8")
        os.chmod(root / "passwd", 0o644)
        port = util.free_port()
        extra_ports = {}
        if lmtp:
            extra_ports["lmtp"] = util.free_port()
        if submission_relay:
            extra_ports["submission"] = util.free_port()
        conf = root / "dovecot.conf"
        conf.write_text(_config(root, port, extra_ports.get("lmtp", 0), extra_ports.get("submission", 0),
                                submission_relay), encoding="utf-8")
        proc = subprocess.Popen([exe, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                stderr=open(root / "stderr.log", "wb"))
        if pids is not None:
            pids.append(proc.pid)
        try:
            for p in [port, *extra_ports.values()]:
                util.wait_port(p, proc=proc)
        except RuntimeError:
            for name in ("stderr.log", "dovecot.log"):
                p = root / name
                if p.exists():
                    print(p.read_text(encoding="utf-8", errors="replace")[-2000:])
            raise
        if lmtp or submission_relay:
            yield port, version(), {**extra_ports, "pid": proc.pid}
        else:
            yield port, version()
    finally:
        if proc is not None:
            subprocess.run([exe, "-c", str(root / "dovecot.conf"), "stop"], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                util.stop_process(proc)
        shutil.rmtree(root, ignore_errors=True)
