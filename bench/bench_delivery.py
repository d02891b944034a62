"""Delivery throughput: mox's SMTP port against Dovecot's LMTP, and mox's submission port against
Dovecot's submission service, same client code, measured in the same run.

Rows:
- delivery: `--messages` (1,000) ~4 KB messages over `--connections` (10) client processes, a new
  connection for every message (greeting, EHLO/LHLO, MAIL, RCPT, DATA, QUIT), as an MTA hands
  mail to the final store. mox: localserve's SMTP port, delivering into the account's Inbox
  (durable before the 250). Dovecot: its LMTP service, delivering into a maildir (Dovecot's
  default `mail_fsync = optimized`: the message file is fsynced before the 250).
- submission: `--submissions` (300) ~4 KB messages over `--submission-connections` (5)
  connections, each authenticated once (AUTH PLAIN) and kept open. mox: localserve's submission
  port (the message in its queue before the 250, a copy in Sent, delivered afterwards). Dovecot:
  its submission service, relaying each message to a Postfix instance (the Postfix peer) before
  its own 250 (Dovecot has no queue of its own; Postfix fsyncs the message into its queue).

The client is a minimal SMTP/LMTP client on plain sockets (one process per connection), so the
client's own cost is small next to the servers'; each process reports the CPU it used. Each
server's own CPU time per message (its process tree's user + system time, Linux) is reported
too: unlike the rates, it hardly moves with the machine's load.

Usage: python3 bench/bench_delivery.py [--rows delivery,submission] [--repeat 1] [--quick] [--smoke]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import util  # noqa: E402

ADDRESS = "mox@localhost"
PASSWORD = "moxmoxmox"
SENDER = "bench@example.org"
SIZE = 4 * 1024


def message(worker: int, i: int, sender: str) -> bytes:
    """A ~4 KB plain text message, dot-stuffed and ending in the DATA terminator."""
    head = (f"From: Bench <{sender}>\r\nTo: <{ADDRESS}>\r\nSubject: delivery {worker}-{i}\r\n"
            f"Date: Thu, 26 Nov 2026 12:00:00 +0000\r\nMessage-ID: <dl-{worker}-{i}-{time.time_ns()}@localhost>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima".split()
    lines = []
    n = len(head)
    k = worker * 7919 + i
    while n < SIZE - 80:
        line = " ".join(words[(k + j * 5) % len(words)] for j in range(10))
        k += 3
        lines.append(line)
        n += len(line) + 2
    return head.encode() + "\r\n".join(lines).encode() + b"\r\n.\r\n"


class Client:
    """Just enough of an SMTP/LMTP client: one command, one (possibly multi-line) reply."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def reply(self, want: str) -> bytes:
        lines = []
        while True:
            i = self.buf.find(b"\r\n")
            if i < 0:
                data = self.sock.recv(65536)
                if not data:
                    raise RuntimeError(f"connection closed, expected {want}; got {lines!r}")
                self.buf += data
                continue
            line, self.buf = self.buf[:i], self.buf[i + 2:]
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                break
        if not lines[-1].startswith(want.encode()):
            raise RuntimeError(f"expected {want}, got {lines!r}")
        return lines[-1]

    def cmd(self, line: bytes | str, want: str) -> bytes:
        self.sock.sendall(line.encode() + b"\r\n" if isinstance(line, str) else line)
        return self.reply(want)

    def close(self) -> None:
        self.sock.close()


def deliver_worker(barrier, port: int, lmtp: bool, index: int, count: int) -> dict:
    """Deliver `count` messages, each on a new connection."""
    msgs = [message(index, i, SENDER) for i in range(count)]
    barrier.wait(timeout=300)
    t0 = time.time()
    cpu0 = time.process_time()
    for data in msgs:
        c = Client(port)
        c.reply("220")
        c.cmd(("LHLO" if lmtp else "EHLO") + " bench.localhost", "250")
        c.cmd(f"MAIL FROM:<{SENDER}>", "250")
        c.cmd(f"RCPT TO:<{ADDRESS}>", "250")
        c.cmd("DATA", "354")
        c.cmd(data, "250")  # LMTP: one reply per recipient, one recipient
        c.cmd("QUIT", "221")
        c.close()
    return {"sent": count, "t0": t0, "t1": time.time(), "cpu": time.process_time() - cpu0}


def submit_worker(barrier, port: int, index: int, count: int) -> dict:
    """Authenticate once, then submit `count` messages on that connection."""
    c = Client(port)
    c.reply("220")
    c.cmd("EHLO bench.localhost", "250")
    token = base64.b64encode(f"\0{ADDRESS}\0{PASSWORD}".encode()).decode()
    c.cmd(f"AUTH PLAIN {token}", "235")
    msgs = [message(index, i, ADDRESS) for i in range(count)]
    barrier.wait(timeout=300)
    t0 = time.time()
    cpu0 = time.process_time()
    for data in msgs:
        c.cmd(f"MAIL FROM:<{ADDRESS}>", "250")
        c.cmd(f"RCPT TO:<{ADDRESS}>", "250")
        c.cmd("DATA", "354")
        c.cmd(data, "250")
    t1 = time.time()
    cpu = time.process_time() - cpu0
    c.cmd("QUIT", "221")
    c.close()
    return {"sent": count, "t0": t0, "t1": t1, "cpu": cpu}


def measure(worker, args_list: list[tuple]) -> dict:
    results = util.run_parallel(worker, args_list)
    sent = sum(r["sent"] for r in results)
    t0 = min(r["t0"] for r in results)
    t1 = max(r["t1"] for r in results)
    return {"rate": sent / (t1 - t0), "sent": sent, "elapsed": t1 - t0,
            "client_cores": sum(r["cpu"] for r in results) / (t1 - t0)}


def split(total: int, n: int) -> list[int]:
    return [total // n + (1 if i < total % n else 0) for i in range(n)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--servers", default="mox,dovecot")
    p.add_argument("--rows", default="delivery,submission")
    p.add_argument("--messages", type=int, default=1000, help="delivery: messages in all")
    p.add_argument("--connections", type=int, default=10, help="delivery: client processes")
    p.add_argument("--submissions", type=int, default=300, help="submission: messages in all")
    p.add_argument("--submission-connections", type=int, default=5)
    p.add_argument("--repeat", type=int, default=1,
                   help="measure each row this many times (servers alternating), report the median")
    p.add_argument("--quick", action="store_true", help="small counts, for trying the harness")
    p.add_argument("--smoke", action="store_true", help="mox only, the smallest sizes, one command or message per measurement: shows that the script "
                        "still runs against the current code (CI runs it); the numbers measure nothing")
    args = p.parse_args(argv)
    util.exit_cleanly_on_sigterm()
    if args.quick:
        args.messages, args.submissions = 100, 50
    if args.smoke:
        args.servers, args.repeat = "mox", 1
        args.messages, args.connections, args.submissions, args.submission_connections = 2, 1, 2, 1
        print("smoke run (mox only, smallest sizes): the numbers measure nothing", flush=True)
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    log(f"load average: {' '.join(Path('/proc/loadavg').read_text().split()[:3]) if Path('/proc/loadavg').exists() else '?'}")
    versions: dict[str, str] = {}
    # server -> row -> (port, lmtp)
    targets: dict[str, dict[str, tuple[int, bool]]] = {s: {} for s in servers}
    pids: dict[str, int] = {}
    with contextlib.ExitStack() as stack:
        if "mox" in servers:
            from peers import moxserver
            ports, versions["mox"] = stack.enter_context(moxserver.running())
            targets["mox"] = {"delivery": (ports["smtp"], False), "submission": (ports["submission"], False)}
            pids["mox"] = ports.get("pid", 0)
        if "dovecot" in servers:
            from peers import dovecot
            relay = 0
            if "submission" in rows:
                from peers import postfix
                relay, pversion, _ = stack.enter_context(postfix.running())
            _, versions["dovecot"], extra = stack.enter_context(
                dovecot.running(lmtp="delivery" in rows, submission_relay=relay))
            if relay:
                versions["dovecot"] += f" (submission relaying to {pversion})"
            if "lmtp" in extra:
                targets["dovecot"]["delivery"] = (extra["lmtp"], True)
            if "submission" in extra:
                targets["dovecot"]["submission"] = (extra["submission"], False)
            pids["dovecot"] = extra["pid"]  # the Postfix relay's CPU is not counted
        results: dict[tuple[str, str], list[dict]] = {}
        k = 0
        for row in rows:
            for rep in range(args.repeat):
                order = servers if k % 2 == 0 else list(reversed(servers))
                k += 1
                for name in order:
                    port, lmtp = targets[name][row]
                    cpu0 = util.process_tree_cpu(pids[name]) if pids.get(name) else 0.0
                    if row == "delivery":
                        r = measure(deliver_worker, [(port, lmtp, i, n) for i, n in
                                                     enumerate(split(args.messages, args.connections))])
                    else:
                        r = measure(submit_worker, [(port, i, n) for i, n in
                                                    enumerate(split(args.submissions, args.submission_connections))])
                    if pids.get(name):
                        r["cpu_ms"] = (util.process_tree_cpu(pids[name]) - cpu0) * 1000 / r["sent"]
                    results.setdefault((name, row), []).append(r)
                    log(f"  {name} {row}: {r['rate']:.1f} msgs/s ({r['sent']} in {r['elapsed']:.2f}s, "
                        + (f"server CPU {r['cpu_ms']:.2f} ms/msg, " if "cpu_ms" in r else "")
                        + f"clients used {r['client_cores']:.2f} cores; load "
                        f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])})")
    print(f"Delivery throughput, median of {args.repeat}")
    for name in servers:
        print(f"  {name}: {versions.get(name, '?')}")
    labels = {"delivery": f"{args.messages} x 4 KB, {args.connections} connections, new connection per message"
                          " (mox SMTP port / Dovecot LMTP)",
              "submission": f"submission, {args.submissions} x 4 KB, {args.submission_connections} authenticated"
                            " connections"}
    table = []
    for row in rows:
        mox = results.get(("mox", row))
        dov = results.get(("dovecot", row))
        table.append({"op": labels[row], "unit": "msgs/s",
                      "mox": util.median([r["rate"] for r in mox]) if mox else None,
                      "peer": util.median([r["rate"] for r in dov]) if dov else None})
    util.print_table("", table, "dovecot")
    print("Server CPU time per message (ms, user + system of the server's processes; median):")
    for row in rows:
        cpu = {name: util.median([r["cpu_ms"] for r in results.get((name, row), []) if "cpu_ms" in r] or [0.0])
               for name in servers}
        print(f"  {row}: " + ", ".join(f"{name} {v:.2f}" for name, v in cpu.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
