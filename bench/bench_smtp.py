"""SMTP throughput: mox against Postfix (or aiosmtpd), same client code, measured in the same run.

Messages per second over 1 and 8 connections, ~2 KB and ~1 MB messages, one message per
MAIL/RCPT/DATA transaction on a kept-open connection (Python's smtplib, one client process per
connection). A message counts when the server answered 250 to its DATA.

mox: `localserve`'s SMTP port (delivery to mox@localhost, no authentication) by default, or its
submission port with AUTH PLAIN (`--mox-service submission`). Postfix: smtpd from a throwaway
configuration on a free port, accepting mail from 127.0.0.0/8 without authentication and
delivering it to a maildir with virtual(8); after each measurement the script also waits until
Postfix has delivered everything and logs that end-to-end rate. aiosmtpd (`--peer aiosmtpd`) is the
fallback peer where Postfix cannot run; it writes each message to a maildir.

Then the same measurements once more with Postfix's smtp-source (a C load generator from the
postfix package) as the client against both servers, to show how much the Python client itself
limits the rates (`--no-smtp-source` skips this).

Usage: python3 bench/bench_smtp.py [--servers mox,postfix] [--connections 1,8] [--seconds 6]
       [--peer postfix|aiosmtpd] [--mox-service smtp|submission] [--repeat 1] [--quick] [--smoke]
"""

from __future__ import annotations

import argparse
import contextlib
import base64
import random
import shutil
import smtplib
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import util  # noqa: E402

ADDRESS = "mox@localhost"
PASSWORD = "moxmoxmox"
SENDER = "bench@localhost"

SIZES = {"small": 2 * 1024, "large": 1024 * 1024}


def message_body(size: int) -> bytes:
    """Everything after the per-message headers, about `size` bytes in total with them."""
    rng = random.Random(size)
    if size <= 8 * 1024:
        words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima".split()
        lines, n = [], 0
        while n < size - 400:
            line = " ".join(rng.choice(words) for _ in range(10))
            lines.append(line)
            n += len(line) + 2
        return b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + "\r\n".join(lines).encode() + b"\r\n"
    raw = rng.randbytes((size - 600) * 3 // 4)
    b64 = base64.encodebytes(raw).replace(b"\n", b"\r\n")
    return (b'Content-Type: multipart/mixed; boundary="bb"\r\n\r\n'
            b"--bb\r\nContent-Type: text/plain\r\n\r\nAttached.\r\n"
            b"--bb\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + b64 + b"--bb--\r\n")


def message(body: bytes, worker: int, i: int, sender: str = SENDER) -> bytes:
    return (f"From: Bench <{sender}>\r\nTo: <{ADDRESS}>\r\nSubject: bench {worker}-{i}\r\n"
            f"Date: Thu, 26 Nov 2026 12:00:00 +0000\r\nMessage-ID: <smtp-{worker}-{i}@localhost>\r\n"
            "MIME-Version: 1.0\r\n").encode() + body


def worker(barrier, port: int, size: str, index: int, count: int, seconds: float, auth: bool) -> dict:
    """Connect (and authenticate), wait for the others, then send up to `count` messages or for
    `seconds`. Returns messages sent, bytes and timings."""
    body = message_body(SIZES[size])
    s = smtplib.SMTP("127.0.0.1", port, local_hostname="bench.localhost", timeout=120)
    s.ehlo()
    if auth:
        s.user, s.password = ADDRESS, PASSWORD
        s.auth("PLAIN", s.auth_plain)
    # Submission only accepts the authenticated account's own address as sender.
    sender = ADDRESS if auth else SENDER
    msgs = [message(body, index, i, sender) for i in range(min(count, 50))]
    barrier.wait(timeout=300)
    t0 = time.time()
    cpu0 = time.process_time()
    deadline = time.monotonic() + seconds
    sent = nbytes = 0
    while sent < count and (sent == 0 or time.monotonic() < deadline):
        data = msgs[sent % len(msgs)]
        refused = s.sendmail(sender, [ADDRESS], data)
        if refused:
            raise RuntimeError(f"recipient refused: {refused}")
        sent += 1
        nbytes += len(data)
    t1 = time.time()
    cpu = time.process_time() - cpu0
    s.quit()
    return {"sent": sent, "bytes": nbytes, "t0": t0, "t1": t1, "cpu": cpu}


def measure(port: int, size: str, nconn: int, count: int, seconds: float, auth: bool) -> dict:
    results = util.run_parallel(worker, [(port, size, i, count, seconds, auth) for i in range(nconn)])
    sent = sum(r["sent"] for r in results)
    t0 = min(r["t0"] for r in results)
    t1 = max(r["t1"] for r in results)
    return {"rate": sent / (t1 - t0), "sent": sent, "elapsed": t1 - t0, "t0": t0,
            "mbps": sum(r["bytes"] for r in results) / (t1 - t0) / 2**20,
            # CPU the client processes used, in cores: near 1 per client means the client limits.
            "client_cores": sum(r["cpu"] for r in results) / (t1 - t0)}


def measure_smtp_source(port: int, size: str, nconn: int, total: int) -> dict:
    """Send `total` messages over `nconn` sessions with Postfix's smtp-source (a C client), each
    session kept open (-d). Cross-checks that the Python client is not what limits the rate."""
    t0 = time.time()
    proc = subprocess.run(["smtp-source", "-d", "-s", str(nconn), "-m", str(total), "-l", str(SIZES[size]),
                           "-f", SENDER, "-t", ADDRESS, "-M", "bench.localhost", f"127.0.0.1:{port}"],
                          capture_output=True, text=True, check=False, timeout=600)
    t1 = time.time()
    if proc.returncode != 0:
        raise RuntimeError(f"smtp-source: {proc.stderr.strip()[-300:]}")
    return {"rate": total / (t1 - t0), "sent": total, "elapsed": t1 - t0, "t0": t0,
            "mbps": total * SIZES[size] / (t1 - t0) / 2**20}


def run_all(targets: dict[str, tuple[int, bool]], conns: list[int], args, postfix_root, log):
    """All measurements, servers interleaved per measurement (alternating which goes first) so a
    change in the machine's load hits both alike.

    Returns ({server: {(client, size, n): result}}, failures)."""
    out: dict[str, dict] = {name: {} for name in targets}
    failed: dict[str, str] = {}
    delivered_before = 0
    k = 0
    clients = ["python"] + (["smtp-source"] if args.smtp_source else [])
    for client in clients:
        for size in ("small", "large"):
            for n in conns:
                reps: dict[str, list[dict]] = {name: [] for name in targets}
                for rep in range(args.repeat):
                    order = list(targets) if k % 2 == 0 else list(reversed(targets))
                    k += 1
                    for name in order:
                        if name in failed:
                            continue
                        label = "mox" if name == "mox" else args.peer
                        port, auth = targets[name]
                        if client == "smtp-source" and auth:
                            continue  # smtp-source does not authenticate
                        try:
                            if client == "python":
                                r = measure(port, size, n, count_for(size, n, args.quick), args.seconds, auth)
                            else:
                                # As many messages as the Python client managed in --seconds, so
                                # this takes about as long (bounded).
                                prev = out[name].get(("python", size, n))
                                total = int((prev["rate"] if prev else 10) * args.seconds)
                                total = max(n, min(total, count_for(size, 1, args.quick)))
                                r = measure_smtp_source(port, size, n, total)
                        except Exception as e:
                            failed[name] = f"{client} {size} x{n} failed: {type(e).__name__}: {str(e)[-300:]}"
                            log(f"  {label}: {failed[name]}")
                            continue
                        extra = ""
                        if name == "peer" and postfix_root is not None:
                            # Postfix answers 250 once the message is queued; wait for delivery as
                            # well, so the next measurement does not pay for this one's deliveries.
                            from peers import postfix
                            want = delivered_before + r["sent"]
                            deadline = time.monotonic() + 120
                            while postfix.delivered(postfix_root) < want and time.monotonic() < deadline:
                                time.sleep(0.02)
                            done = time.time()
                            got = postfix.delivered(postfix_root) - delivered_before
                            delivered_before += got
                            r["delivered_rate"] = got / (done - r["t0"])
                            extra = f"; delivered {got} into the maildir at {r['delivered_rate']:.1f}/s"
                        reps[name].append(r)
                        log(f"  {label} [{client}] {size} connections={n}: {r['rate']:.1f} msgs/s, "
                            f"{r['mbps']:.2f} MB/s ({r['sent']} in {r['elapsed']:.2f}s"
                            + (f", clients used {r['client_cores']:.2f} cores" if "client_cores" in r else "")
                            + f"{extra})")
                for name, rs in reps.items():
                    if rs and name not in failed:
                        out[name][(client, size, n)] = {
                            "rate": util.median([r["rate"] for r in rs]),
                            "delivered_rate": util.median([r["delivered_rate"] for r in rs])
                            if "delivered_rate" in rs[0] else None}
    return out, failed


# (size, connections) -> messages per connection at most
def count_for(size: str, nconn: int, quick: bool) -> int:
    total = {"small": 2000, "large": 120}[size]
    if quick:
        total //= 5
    return max(1, total // nconn)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--servers", default="mox,peer", help="mox and/or peer (or the peer's name)")
    p.add_argument("--peer", default="postfix", choices=["postfix", "aiosmtpd"])
    p.add_argument("--connections", default="1,8")
    p.add_argument("--seconds", type=float, default=6.0, help="time limit per measurement")
    p.add_argument("--mox-service", default="smtp", choices=["smtp", "submission"],
                   help="smtp: delivery port, no auth; submission: AUTH PLAIN")
    p.add_argument("--no-smtp-source", dest="smtp_source", action="store_false",
                   help="skip the cross-check with Postfix's smtp-source as the client")
    p.add_argument("--repeat", type=int, default=1,
                   help="measure each row this many times (servers alternating), report the median")
    p.add_argument("--quick", action="store_true", help="small counts, for trying the harness")
    p.add_argument("--smoke", action="store_true", help="mox only, the smallest sizes, one command or message per measurement: shows that the script "
                        "still runs against the current code (CI runs it); the numbers measure nothing")
    args = p.parse_args(argv)
    util.exit_cleanly_on_sigterm()
    if args.smoke:
        args.servers, args.connections, args.seconds, args.repeat, args.smtp_source = "mox", "1", 0.0, 1, False
        print("smoke run (mox only, smallest sizes): the numbers measure nothing", flush=True)
    conns = [int(x) for x in args.connections.split(",")]
    if args.quick:
        args.seconds = 2.0
    servers = []
    for s in args.servers.split(","):
        s = s.strip()
        if s in ("peer", args.peer):
            servers.append("peer")
        elif s == "mox":
            servers.append("mox")
        elif s:
            raise SystemExit(f"unknown server {s}")

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    notes: dict[str, str] = {}
    versions: dict[str, str] = {}
    targets: dict[str, tuple[int, bool]] = {}  # name -> (port, auth)
    postfix_root = None
    with contextlib.ExitStack() as stack:
        for name in servers:
            label = "mox" if name == "mox" else args.peer
            log(f"{label}: starting")
            try:
                if name == "mox":
                    from peers import moxserver
                    ports, versions[name] = stack.enter_context(moxserver.running())
                    targets[name] = (ports[args.mox_service], args.mox_service == "submission")
                elif args.peer == "postfix":
                    from peers import postfix
                    port, versions[name], postfix_root = stack.enter_context(postfix.running())
                    targets[name] = (port, False)
                else:
                    from peers import aiosmtpd_peer
                    port, versions[name] = stack.enter_context(aiosmtpd_peer.running())
                    targets[name] = (port, False)
            except Exception as e:
                notes[name] = f"not measured: {e}"
                log(f"{label}: {notes[name]}")
        if args.smtp_source and not shutil.which("smtp-source"):
            args.smtp_source = False  # it comes with the Debian package postfix
            log("smtp-source not found: cross-check with it skipped")
        results, failed = run_all(targets, conns, args, postfix_root, log)
    for name, why in failed.items():
        notes[name] = f"stopped: {why}"

    print(f"SMTP throughput, {args.seconds:g}s per measurement, median of {args.repeat}; "
          f"mox via its {args.mox_service} port"
          f"{' (AUTH PLAIN)' if args.mox_service == 'submission' else ''}")
    for name in servers:
        label = "mox" if name == "mox" else args.peer
        print(f"  {label}: {versions.get(name, '?')}{'; ' + notes[name] if name in notes else ''}")
    mox_res, peer_res = results.get("mox", {}), results.get("peer", {})
    for client in ["python"] + (["smtp-source"] if args.smtp_source else []):
        rows = []
        for size in ("small", "large"):
            for n in conns:
                mox = mox_res.get((client, size, n))
                peer = peer_res.get((client, size, n))
                rows.append({"op": f"{'~2 KB' if size == 'small' else '~1 MB'} messages, "
                                   f"{n} connection{'s' if n > 1 else ''}",
                             "unit": "msgs/s", "mox": mox["rate"] if mox else None,
                             "peer": peer["rate"] if peer else None, "mox_note": "n/m"})
        title = ("\nclient: Python smtplib, one process per connection" if client == "python" else
                 "\nclient: Postfix's smtp-source (C), cross-check of the client's own cost")
        util.print_table(title, rows, args.peer)
        delivered = {k: r for k, r in peer_res.items() if k[0] == client and r.get("delivered_rate")}
        if delivered:
            print("Postfix answers 250 once a message is queued and delivers it afterwards; counting"
                  " until the last message of a measurement was in the maildir, it delivered (msgs/s):")
            for (_, size, n), r in delivered.items():
                m = mox_res.get((client, size, n))
                print(f"  {'~2 KB' if size == 'small' else '~1 MB'}, {n} connection{'s' if n > 1 else ''}: "
                      f"{r['delivered_rate']:.1f}"
                      + (f" (mox/postfix {m['rate'] / r['delivered_rate']:.3f})" if m else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
