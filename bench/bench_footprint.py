"""Footprint and logins: start to ready, resident memory, and login/logout churn against Dovecot.

Rows (mox runs as `python -m mox -loglevel error localserve -ephemeral -port-base 0`, a new data
dir each start, as in bench/peers/moxserver.py):

- start to ready: from process start until localserve's ready file appears (wall clock), and the
  CPU time (user + system) the process used until then; median of `--starts` starts after one
  unmeasured start that fills the bytecode cache (PYTHONDONTWRITEBYTECODE is removed from the
  server's environment: a real installation has its .pyc files).
- restart to ready: the same, for a start on an existing data dir (created by one unmeasured
  start before), as `mox localserve` in a developer's dir; and its RSS idle.
- RSS idle: resident set size one second after ready.
- RSS after 1,000 messages delivered and fetched: `--messages` ~4 KB messages delivered on the
  SMTP port (10 connections, one message per connection, as a mail client or a CI job sends
  them), then all of them fetched with BODY.PEEK[] over IMAP (in batches of 100), then RSS.
- RSS after 1,000 clients log in at once: `--logins` IMAP connections open and greeted, then every
  one sends LOGIN before any answer is read; RSS when all are logged in, and the peak (VmHWM)
  reached meanwhile; then all log out and the RSS is read once more.
- login/logout churn: `--clients` client processes, each connecting, logging in (LOGIN) and out
  (LOGOUT) in a loop for `--seconds`; logins per second, against Dovecot (its passwd file holds
  the password as {PLAIN}: a Dovecot login costs no password hash), and mox's CPU time per login
  (user + system of the server process, Linux).

Memory is read from /proc (Linux; elsewhere the rows show "-"). Dovecot's processes share
memory, so only the churn row has a peer; RSS rows compare with the targets of the performance
work (bench/README.md).

Usage: python3 bench/bench_footprint.py [--rows start,restart,idle,messages,logins,churn] [--starts 5]
       [--messages 1000] [--logins 1000] [--clients 4] [--seconds 8] [--repeat 1] [--quick] [--smoke]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import dovecot, moxserver, util  # noqa: E402

ADDRESS = moxserver.ADDRESS
PASSWORD = moxserver.PASSWORD
ROWS = ("start", "restart", "idle", "messages", "logins", "churn")


# ---------------------------------------------------------------- measuring a process


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process in kB (Linux), else empty."""
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return {}
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(VmRSS|VmHWM):\s+(\d+) kB", text, re.M)}


def proc_cpu(pid: int) -> float | None:
    """User + system CPU seconds a process used so far (Linux), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def mb(kb: int | None) -> str:
    return "-" if kb is None else f"{kb / 1024:.1f}"


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


@contextlib.contextmanager
def mox_process(timeout: float = 120.0, data_dir: Path | None = None):
    """mox localserve (-ephemeral, or on ``data_dir``); yields (Popen, ports, seconds to ready,
    CPU seconds at ready)."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-footprint-"))
    ready = tmp / "ready.json"
    where = ["-ephemeral"] if data_dir is None else ["-dir", str(data_dir)]
    cmd = [moxserver.python(), "-m", "mox", "-loglevel", "error", "localserve", *where, "-port-base", "0",
           "-ready-file", str(ready)]
    errlog = open(tmp / "stderr.log", "wb")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errlog, stdin=subprocess.DEVNULL, cwd=tmp,
                            env=server_env())
    try:
        while not ready.exists():
            if proc.poll() is not None or time.perf_counter() - t0 > timeout:
                raise RuntimeError("mox localserve did not become ready: "
                                   + (tmp / "stderr.log").read_text(encoding="utf-8", errors="replace")[-500:])
            time.sleep(0.002)
        elapsed = time.perf_counter() - t0
        cpu = proc_cpu(proc.pid)
        while True:
            try:
                ports = json.loads(ready.read_text(encoding="utf-8"))
                break
            except ValueError:
                time.sleep(0.01)  # partially written
        yield proc, ports, elapsed, cpu
    finally:
        util.stop_process(proc)
        errlog.close()
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- IMAP on plain sockets


class Imap:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=300)
        self.rfile = self.sock.makefile("rb")
        self.n = 0
        greeting = self.rfile.readline()
        if not greeting.startswith(b"* OK"):
            raise RuntimeError(f"greeting {greeting[:100]!r}")

    def send(self, line: str) -> bytes:
        self.n += 1
        tag = b"f%d" % self.n
        self.sock.sendall(tag + b" " + line.encode() + b"\r\n")
        return tag

    def wait(self, tag: bytes) -> int:
        """Read until the tagged response; returns the bytes of literals read meanwhile."""
        got = 0
        while True:
            line = self.rfile.readline()
            if not line:
                raise RuntimeError("connection closed")
            m = re.search(rb"\{(\d+)\}\r\n$", line)
            if m:
                got += len(self.rfile.read(int(m.group(1))))
                continue
            if line.startswith(tag + b" "):
                if not line[len(tag) + 1:].startswith(b"OK"):
                    raise RuntimeError(f"{line[:200]!r}")
                return got

    def command(self, line: str) -> int:
        return self.wait(self.send(line))

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError):
            self.command("LOGOUT")
        self.sock.close()


def login_line() -> str:
    return f'LOGIN "{ADDRESS}" "{PASSWORD}"'


# ---------------------------------------------------------------- rows


def row_start(starts: int) -> list[dict]:
    with mox_process():
        pass  # unmeasured: fills the bytecode cache
    walls, cpus = [], []
    for _ in range(starts):
        with mox_process() as (_, _, elapsed, cpu):
            walls.append(elapsed)
            if cpu is not None:
                cpus.append(cpu)
    out = [{"row": "start to ready, wall (ms)", "value": f"{util.median(walls) * 1000:.0f}",
            "detail": f"min {min(walls) * 1000:.0f}, max {max(walls) * 1000:.0f}, {starts} starts"}]
    if cpus:
        out.append({"row": "start to ready, CPU user+sys (ms)", "value": f"{util.median(cpus) * 1000:.0f}",
                    "detail": f"min {min(cpus) * 1000:.0f}, max {max(cpus) * 1000:.0f}"})
    return out


def row_restart(starts: int) -> list[dict]:
    d = Path(tempfile.mkdtemp(prefix="bench-footprint-dir-")) / "data"
    try:
        with mox_process(data_dir=d):
            pass  # unmeasured: creates the dir, fills the bytecode cache
        walls, cpus, rss = [], [], []
        for _ in range(starts):
            with mox_process(data_dir=d) as (proc, _, elapsed, cpu):
                walls.append(elapsed)
                if cpu is not None:
                    cpus.append(cpu)
                time.sleep(1)
                rss.append(proc_status(proc.pid).get("VmRSS"))
    finally:
        shutil.rmtree(d.parent, ignore_errors=True)
    out = [{"row": "restart to ready (existing dir), wall (ms)", "value": f"{util.median(walls) * 1000:.0f}",
            "detail": f"min {min(walls) * 1000:.0f}, max {max(walls) * 1000:.0f}, {starts} starts"}]
    if cpus:
        out.append({"row": "restart to ready, CPU user+sys (ms)", "value": f"{util.median(cpus) * 1000:.0f}",
                    "detail": f"min {min(cpus) * 1000:.0f}, max {max(cpus) * 1000:.0f}"})
    if all(r is not None for r in rss):
        out.append({"row": "restart: RSS idle (MB)", "value": mb(util.median([r for r in rss if r is not None])),
                    "detail": "1 s after ready"})
    return out


def deliver(port: int, count: int, connections: int = 10) -> None:
    """``count`` ~4 KB messages to mox@localhost, over ``connections`` threads, a new SMTP
    connection per message."""
    body = ("".join(f"line {i:04d} of the message body, with some words to fill it up nicely.\r\n"
                    for i in range(56))).encode()
    errors: list[BaseException] = []

    def work(first: int) -> None:
        try:
            for i in range(first, count, connections):
                msg = (f"From: bench@localhost\r\nTo: {ADDRESS}\r\nSubject: message {i}\r\n"
                       f"Message-ID: <footprint-{i}@localhost>\r\n\r\n").encode() + body
                with smtplib.SMTP("127.0.0.1", port, timeout=120) as s:
                    s.sendmail("bench@localhost", [ADDRESS], msg)
        except BaseException as e:  # reported by the caller
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"delivery failed: {errors[0]!r}")


def row_memory(messages: int, logins: int, rows: set[str]) -> list[dict]:
    out: list[dict] = []
    with mox_process() as (proc, ports, _, _):
        time.sleep(1)
        st = proc_status(proc.pid)
        if "idle" in rows:
            out.append({"row": "RSS idle (MB)", "value": mb(st.get("VmRSS")), "detail": "1 s after ready"})
        if "messages" in rows:
            t = time.perf_counter()
            deliver(ports["smtp"], messages)
            delivered = time.perf_counter() - t
            c = Imap(ports["imap"])
            c.command(login_line())
            c.command("SELECT INBOX")
            got = 0
            for first in range(1, messages + 1, 100):
                got += c.command(f"FETCH {first}:{min(first + 99, messages)} BODY.PEEK[]")
            c.close()
            time.sleep(1)
            st = proc_status(proc.pid)
            out.append({"row": f"RSS after {messages:,} messages delivered and fetched (MB)",
                        "value": mb(st.get("VmRSS")),
                        "detail": f"peak {mb(st.get('VmHWM'))}; delivered in {delivered:.1f} s, "
                                  f"fetched {got / 1e6:.1f} MB"})
        if "logins" in rows:
            before = proc_status(proc.pid).get("VmRSS")
            conns = [Imap(ports["imap"]) for _ in range(logins)]
            t = time.perf_counter()
            tags = [c.send(login_line()) for c in conns]
            for c, tag in zip(conns, tags):
                c.wait(tag)
            took = time.perf_counter() - t
            st = proc_status(proc.pid)
            for c in conns:
                c.close()
            time.sleep(1)
            after = proc_status(proc.pid).get("VmRSS")
            out.append({"row": f"RSS after {logins:,} clients log in at once (MB)", "value": mb(st.get("VmRSS")),
                        "detail": f"peak {mb(st.get('VmHWM'))}; before {mb(before)}, after all logged out "
                                  f"{mb(after)}; all logged in after {took:.1f} s"})
    return out


def churn_worker(barrier, port: int, seconds: float) -> int:
    barrier.wait(timeout=120)
    end = time.perf_counter() + seconds
    n = 0
    while n == 0 or time.perf_counter() < end:  # at least one
        c = Imap(port)
        c.command(login_line())
        c.close()
        n += 1
    return n


def churn(port: int, clients: int, seconds: float) -> tuple[float, int]:
    """Logins per second and the number of logins."""
    t = time.perf_counter()
    counts = util.run_parallel(churn_worker, [(port, seconds)] * clients)
    return sum(counts) / (time.perf_counter() - t), sum(counts)


def row_churn(clients: int, seconds: float, repeat: int, peer: bool = True) -> list[dict]:
    """``peer``: against Dovecot too (without: mox's numbers only, as a smoke run)."""
    ours: list[float] = []
    theirs: list[float] = []
    cpu_per_login: list[float] = []
    with mox_process() as (proc, ports, _, _), (dovecot.running() if peer else contextlib.nullcontext((0, ""))) as (dport, _):
        for i in range(repeat):
            # Alternate which server goes first.
            order = [("mox", ports["imap"])] + ([("dovecot", dport)] if peer else [])
            for name, port in (order if i % 2 == 0 else order[::-1]):
                cpu0 = proc_cpu(proc.pid)
                rate, n = churn(port, clients, seconds)
                (ours if name == "mox" else theirs).append(rate)
                cpu1 = proc_cpu(proc.pid)
                if name == "mox" and cpu0 is not None and cpu1 is not None and n:
                    # The clients share the machine's cores with the server: the server's own
                    # CPU time per login moves less with the load than the rate does.
                    cpu_per_login.append((cpu1 - cpu0) / n)
    m = util.median(ours)
    d = util.median(theirs) if theirs else None
    out = [{"row": f"login/logout churn, {clients} clients (logins/s)", "value": f"{m:,.0f}",
            "detail": f"Dovecot {d:,.0f}, mox/Dovecot {m / d:.2f}" if d else "Dovecot not run"}]
    if cpu_per_login:
        out.append({"row": "login/logout churn, mox CPU per login (ms)",
                    "value": f"{util.median(cpu_per_login) * 1000:.2f}",
                    "detail": f"min {min(cpu_per_login) * 1000:.2f}, max {max(cpu_per_login) * 1000:.2f}"})
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", default=",".join(ROWS), help=f"comma separated, of {', '.join(ROWS)}")
    p.add_argument("--starts", type=int, default=5)
    p.add_argument("--messages", type=int, default=1000)
    p.add_argument("--logins", type=int, default=1000)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--repeat", type=int, default=1, help="churn measurements per server (median)")
    p.add_argument("--quick", action="store_true", help="small sizes, for trying the harness")
    p.add_argument("--smoke", action="store_true", help="mox only, the smallest sizes, one command or message per measurement: shows that the script "
                        "still runs against the current code (CI runs it); the numbers measure nothing")
    args = p.parse_args(argv)
    if args.quick:
        args.starts, args.messages, args.logins, args.seconds = 1, 50, 50, 1.0
    if args.smoke:
        args.starts, args.messages, args.logins, args.clients, args.seconds, args.repeat = 1, 2, 2, 1, 0.0, 1
        print("smoke run (mox only, smallest sizes): the numbers measure nothing", flush=True)
    rows = {r.strip() for r in args.rows.split(",") if r.strip()}
    unknown = rows - set(ROWS)
    if unknown:
        p.error(f"unknown rows {', '.join(sorted(unknown))}")
    util.exit_cleanly_on_sigterm()
    print(moxserver.version(), flush=True)
    print(f"load average at start: {' '.join(f'{v:.1f}' for v in os.getloadavg())}", flush=True)
    results: list[dict] = []
    if "start" in rows:
        results += row_start(args.starts)
    if "restart" in rows:
        results += row_restart(args.starts)
    if rows & {"idle", "messages", "logins"}:
        results += row_memory(args.messages, args.logins, rows)
    if "churn" in rows:
        results += row_churn(args.clients, args.seconds, args.repeat, peer=not args.smoke)
    print(f"load average at end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    width = max(len(r["row"]) for r in results)
    for r in results:
        print(f"{r['row']:<{width}}  {r['value']:>8}  {r['detail']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
