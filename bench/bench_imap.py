"""IMAP throughput: mox against Dovecot, same client code, measured in the same run.

Each operation runs with 1 and 4 client processes (plain sockets, one connection each), all logged
in as mox@localhost. The messages are generated deterministically, so both servers end up with
the same mailbox contents and SEARCH must find the same number of messages on both (checked).

Operations (unit in the table):
  APPEND ~2 KB / ~100 KB   messages appended per second (synchronizing literals, no LITERAL+)
  FETCH BODY.PEEK[]        messages fetched per second (FETCH of 10-message windows; 100 KB: 1)
  FETCH ENVELOPE BODYSTRUCTURE  messages per second (windows of 100)
  SEARCH TEXT / HEADER / UNSEEN  commands per second over the whole mailbox (--messages, 2000)
                           (TEXT and HEADER look for words in a few of the messages)
  STORE +FLAGS/-FLAGS      messages changed per second (windows of 100, \\Flagged on and off)

Usage: python3 bench/bench_imap.py [--servers mox,dovecot] [--clients 1,4] [--seconds 6]
       [--messages 2000] [--repeat 1] [--quick] [--smoke]
"""

from __future__ import annotations

import argparse
import contextlib
import random
import re
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import util  # noqa: E402

ADDRESS = "mox@localhost"
PASSWORD = "moxmoxmox"
NEEDLE = "zebracorn"
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november "
         "oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu meeting "
         "budget release server mailbox invoice schedule report weekly draft review").split()


# ---------------------------------------------------------------- messages


def small_message(i: int) -> tuple[bytes, bool]:
    """Message number i (~2 KB) and whether it is appended as \\Seen."""
    rng = random.Random(i)
    subject = f"Report {i}" if i % 10 == 0 else f"Meeting about {rng.choice(WORDS)} {i}"
    lines = []
    while sum(len(x) + 2 for x in lines) < 1400:
        lines.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 12))))
    if i % 40 == 7:
        lines.insert(rng.randint(0, len(lines)), f"the {NEEDLE} is here")
    text = "\r\n".join(lines) + "\r\n"
    head = (f"From: Sender {i % 17} <sender{i % 17}@example.org>\r\n"
            f"To: mox@localhost\r\n"
            f"Subject: {subject}\r\n"
            f"Date: Thu, 26 Nov 2026 12:{i % 60:02d}:00 +0000\r\n"
            f"Message-ID: <bench-{i}@example.org>\r\n"
            "MIME-Version: 1.0\r\n")
    if i % 4 == 0:
        att = bytes(rng.getrandbits(8) for _ in range(300))
        import base64
        b64 = base64.encodebytes(att).decode().replace("\n", "\r\n")
        body = (head + 'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
                "--b1\r\nContent-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n"
                "--b2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text +
                "--b2\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>" + lines[0] + "</p>\r\n"
                "--b2--\r\n"
                "--b1\r\nContent-Type: application/octet-stream; name=\"data.bin\"\r\n"
                "Content-Transfer-Encoding: base64\r\n"
                "Content-Disposition: attachment; filename=\"data.bin\"\r\n\r\n" + b64 +
                "--b1--\r\n")
    else:
        body = head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text
    return body.encode(), i % 3 == 0


def big_message(i: int) -> bytes:
    """Message number i of ~100 KB: text part and a base64 attachment."""
    import base64
    rng = random.Random(100000 + i)
    att = rng.randbytes(72 * 1024)
    b64 = base64.encodebytes(att).decode().replace("\n", "\r\n")
    return ("From: Big Sender <big@example.org>\r\nTo: mox@localhost\r\n"
            f"Subject: Big attachment {i}\r\nDate: Thu, 26 Nov 2026 13:00:00 +0000\r\n"
            f"Message-ID: <bench-big-{i}@example.org>\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="big"\r\n\r\n'
            "--big\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n"
            "--big\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
            "\r\n" + b64 + "--big--\r\n").encode()


# ---------------------------------------------------------------- client

_LITERAL = re.compile(rb"\{(\d+)\}\r\n$")


class ImapError(Exception):
    pass


class Client:
    """A minimal IMAP client: one command at a time, responses as raw bytes."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rfile = self.sock.makefile("rb", buffering=256 * 1024)
        self.n = 0
        greeting = self.rfile.readline()
        if not greeting.startswith(b"* OK"):
            raise ImapError(f"greeting: {greeting!r}")

    def _read_response(self) -> bytes:
        """One full response line, with any literals inlined."""
        parts = []
        while True:
            line = self.rfile.readline()
            if not line:
                raise ImapError("connection closed")
            parts.append(line)
            m = _LITERAL.search(line)
            if not m:
                return b"".join(parts)
            parts.append(self.rfile.read(int(m.group(1))))

    def command(self, line: str, literal: bytes | None = None) -> list[bytes]:
        """Run a command; returns its untagged responses. Raises unless the result is OK."""
        self.n += 1
        tag = f"b{self.n}".encode()
        if literal is None:
            self.sock.sendall(tag + b" " + line.encode() + b"\r\n")
        else:
            self.sock.sendall(tag + b" " + line.encode() + b" {%d}\r\n" % len(literal))
            while True:
                resp = self._read_response()
                if resp.startswith(b"+"):
                    break
                if resp.startswith(tag + b" "):
                    raise ImapError(f"{line}: {resp[:200]!r}")
            self.sock.sendall(literal + b"\r\n")
        untagged = []
        while True:
            resp = self._read_response()
            if resp.startswith(tag + b" "):
                if not resp[len(tag) + 1:].upper().startswith(b"OK"):
                    raise ImapError(f"{line}: {resp[:200]!r}")
                return untagged
            untagged.append(resp)

    def login(self) -> None:
        self.command(f'LOGIN "{ADDRESS}" "{PASSWORD}"')

    def close(self) -> None:
        try:
            self.command("LOGOUT")
        except (OSError, ImapError):
            pass
        self.sock.close()


def _fetch_count(untagged: list[bytes]) -> int:
    return sum(1 for r in untagged if re.match(rb"\* \d+ FETCH ", r))


def _search_hits(untagged: list[bytes]) -> int:
    for r in untagged:
        if r.startswith(b"* SEARCH"):
            return len(r.split()) - 2
    raise ImapError("no SEARCH response")


# ---------------------------------------------------------------- workers (run in client processes)


def worker(barrier, port: int, op: str, index: int, nclients: int, count: int, seconds: float,
           total: int, server_pid: int = 0) -> dict:
    """Log in, prepare, wait for the others, then run `op` for at most `count` operations or
    `seconds`. Returns units done, commands, timings, a check value and, with `server_pid`, the
    server's CPU seconds (its process tree) when this client started and ended."""
    c = Client(port)
    c.login()
    rng = random.Random(index * 7919 + nclients)
    if op.startswith("append"):
        box = "Bench" if op == "append_small" else "Big"
        # Each client appends its own slice of message numbers; see main() for `total`.
        first = total + index * count
        msgs = []
        for i in range(first, first + count):
            if op == "append_small":
                data, seen = small_message(i)
                msgs.append((f"APPEND {box} (\\Seen)" if seen else f"APPEND {box}", data))
            else:
                msgs.append((f"APPEND {box}", big_message(i)))
    else:
        box = "Big" if op == "fetch_big" else "Bench"
        untagged = c.command(f"SELECT {box}")
        exists = max(int(m.group(1)) for r in untagged if (m := re.match(rb"\* (\d+) EXISTS", r)))
    barrier.wait(timeout=300)
    server0 = util.process_tree_cpu(server_pid) if server_pid else None
    t0 = time.time()
    cpu0 = time.process_time()
    deadline = time.monotonic() + seconds
    units = cmds = 0
    check = None
    while cmds < count and (cmds == 0 or time.monotonic() < deadline):
        if op.startswith("append"):
            line, data = msgs[cmds]
            c.command(line, data)
            n = 1
        elif op == "fetch_full":
            a = rng.randint(1, exists - 9)
            n = _fetch_count(c.command(f"FETCH {a}:{a + 9} BODY.PEEK[]"))
            if n != 10:
                raise ImapError(f"fetched {n} of 10")
        elif op == "fetch_big":
            a = rng.randint(1, exists)
            n = _fetch_count(c.command(f"FETCH {a} BODY.PEEK[]"))
            if n != 1:
                raise ImapError(f"fetched {n} of 1")
        elif op == "fetch_envelope":
            a = rng.randint(1, exists - 99)
            n = _fetch_count(c.command(f"FETCH {a}:{a + 99} (ENVELOPE BODYSTRUCTURE)"))
            if n != 100:
                raise ImapError(f"fetched {n} of 100")
        elif op.startswith("search"):
            key = {"search_text": f"TEXT {NEEDLE}", "search_header": 'HEADER Subject "Report"',
                   "search_unseen": "UNSEEN"}[op]
            check = _search_hits(c.command(f"SEARCH {key}"))
            n = 1
        elif op == "store":
            a = rng.randint(1, exists - 99)
            sign = "+" if cmds % 2 == 0 else "-"
            c.command(f"STORE {a}:{a + 99} {sign}FLAGS.SILENT (\\Flagged)")
            n = 100
        else:
            raise ValueError(op)
        units += n
        cmds += 1
    t1 = time.time()
    cpu = time.process_time() - cpu0
    server1 = util.process_tree_cpu(server_pid) if server_pid else None
    c.close()
    return {"units": units, "cmds": cmds, "t0": t0, "t1": t1, "check": check, "cpu": cpu,
            "server0": server0, "server1": server1}


# ---------------------------------------------------------------- driver

# (op, label, unit)
OPS = [
    ("append_small", "APPEND ~2 KB", "msgs/s"),
    ("append_big", "APPEND ~100 KB", "msgs/s"),
    ("fetch_full", "FETCH BODY.PEEK[] ~2 KB x10", "msgs/s"),
    ("fetch_big", "FETCH BODY.PEEK[] ~100 KB", "msgs/s"),
    ("fetch_envelope", "FETCH ENVELOPE BODYSTRUCTURE x100", "msgs/s"),
    ("search_text", "SEARCH TEXT", "cmds/s"),
    ("search_header", "SEARCH HEADER Subject", "cmds/s"),
    ("search_unseen", "SEARCH UNSEEN", "cmds/s"),
    ("store", "STORE +/-FLAGS x100", "msgs/s"),
]


def measure(port: int, op: str, nclients: int, count: int, seconds: float, total: int,
            server_pid: int = 0) -> dict:
    results = util.run_parallel(worker, [(port, op, i, nclients, count, seconds, total, server_pid)
                                         for i in range(nclients)])
    units = sum(r["units"] for r in results)
    elapsed = max(r["t1"] for r in results) - min(r["t0"] for r in results)
    checks = {r["check"] for r in results}
    cmds = sum(r["cmds"] for r in results)
    server_ms = None
    if server_pid and cmds:
        # From the first client's start to the last one's end (the logins before are not in it).
        used = max(r["server1"] for r in results) - min(r["server0"] for r in results)
        server_ms = used * 1000 / cmds
    return {"rate": units / elapsed, "units": units, "elapsed": elapsed,
            "check": checks.pop() if len(checks) == 1 else checks,
            "cmds": cmds, "server_ms": server_ms,
            # CPU the client processes used, in cores: near 1 per client means the client limits.
            "client_cores": sum(r["cpu"] for r in results) / elapsed}


def run_all(ports: dict[str, int], args, log, pids: dict[str, int] | None = None) -> tuple[dict, dict, int]:
    """All measurements, servers interleaved per measurement (alternating which goes first), so a
    change in the machine's load hits both alike.

    Returns ({server: {(op, nclients): result}}, {server: why it stopped}, searched mailbox size)."""
    out: dict[str, dict] = {name: {} for name in ports}
    pids = pids or {}
    failed: dict[str, str] = {}
    for name, port in ports.items():
        try:
            c = Client(port)
            c.login()
            c.command("CREATE Bench")
            c.command("CREATE Big")
            c.close()
        except (OSError, ImapError) as e:
            failed[name] = f"setup failed: {type(e).__name__}: {e}"
            log(f"  {name}: {failed[name]}")
    small_total = big_total = 0
    k = 0
    for op, label, unit in OPS:
        if args.ops and op not in args.ops.split(","):
            if op == "append_small":  # the searched mailbox is still filled (unmeasured)
                _fill_only(ports, failed, log, "Bench", args.messages, small_message)
            if op == "append_big" and "fetch_big" in args.ops.split(","):
                _fill_only(ports, failed, log, "Big", args.append_big, big_message)
            continue
        for nclients in args.clients:
            reps: dict[str, list[dict]] = {name: [] for name in ports}
            for rep in range(args.repeat):
                if op == "append_small":
                    per = max(1, args.append_small // nclients)
                    total = small_total
                elif op == "append_big":
                    per = max(1, args.append_big // nclients)
                    total = big_total
                else:
                    per, total = 1_000_000, 0
                order = list(ports) if k % 2 == 0 else list(reversed(ports))
                k += 1
                for name in order:
                    if name in failed:
                        continue
                    # APPEND runs a fixed count (so both servers end up with the same messages),
                    # with a generous time limit as a safety net; the rest run for --seconds.
                    seconds = args.seconds * 5 if op.startswith("append") else args.seconds
                    try:
                        r = measure(ports[name], op, nclients, per, seconds, total, pids.get(name, 0))
                    except Exception as e:  # report, go on with the other server
                        failed[name] = f"{label} failed: {type(e).__name__}: {str(e)[-300:]}"
                        log(f"  {name}: {failed[name]}")
                        continue
                    reps[name].append(r)
                    cpu_note = "" if r["server_ms"] is None else f", server CPU {r['server_ms']:.3f} ms/command"
                    log(f"  {name} {label} clients={nclients}: {r['rate']:.1f} {unit} "
                        f"({r['units']} in {r['elapsed']:.2f}s, clients used {r['client_cores']:.2f} cores"
                        f"{cpu_note}{'' if r['check'] is None else ', hits ' + str(r['check'])})")
                # Numbers total .. total + nclients*per were handed out; a client stopped by the
                # time limit leaves holes, which _complete fills so both servers hold the same set.
                if op == "append_small":
                    small_total += nclients * per
                if op == "append_big":
                    big_total += nclients * per
            for name, rs in reps.items():
                if rs and name not in failed:
                    checks = {repr(r["check"]) for r in rs}
                    cpus = [r["server_ms"] for r in rs if r["server_ms"] is not None]
                    out[name][(op, nclients)] = {
                        "rate": util.median([r["rate"] for r in rs]), "rates": [r["rate"] for r in rs],
                        "check": rs[0]["check"] if len(checks) == 1 else checks,
                        "server_ms": util.median(cpus) if cpus else None}
        for name, port in ports.items():
            if name in failed:
                continue
            try:
                if op == "append_small":
                    _complete(port, "Bench", small_total, args.messages, small_message)
                if op == "append_big":
                    _complete(port, "Big", big_total, big_total, big_message)
            except Exception as e:
                failed[name] = f"filling the mailbox failed: {type(e).__name__}: {str(e)[-300:]}"
                log(f"  {name}: {failed[name]}")
    return out, failed, max(small_total, args.messages)


def _fill_only(ports: dict[str, int], failed: dict[str, str], log, box: str, want: int, make) -> None:
    """With --ops leaving out APPEND: fill the mailbox anyway (unmeasured)."""
    for name, port in ports.items():
        if name in failed:
            continue
        try:
            _complete(port, box, 0, want, make)
        except Exception as e:
            failed[name] = f"filling the mailbox failed: {type(e).__name__}: {str(e)[-300:]}"
            log(f"  {name}: {failed[name]}")


def _complete(port: int, box: str, appended_upto: int, want: int, make) -> None:
    """Append every message number below max(appended_upto, want) that the mailbox lacks."""
    c = Client(port)
    c.login()
    untagged = c.command(f"SELECT {box}")
    have = set()
    if any(re.match(rb"\* [1-9]\d* EXISTS", r) for r in untagged):
        for r in c.command("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"):
            m = re.search(rb"<bench-(?:big-)?(\d+)@", r)
            if m:
                have.add(int(m.group(1)))
    c.close()
    target = max(appended_upto, want)
    missing = [i for i in range(target) if i not in have]
    if not missing:
        return
    c = Client(port)
    c.login()
    for i in missing:
        if make is small_message:
            data, seen = small_message(i)
            c.command(f"APPEND {box} (\\Seen)" if seen else f"APPEND {box}", data)
        else:
            c.command(f"APPEND {box}", big_message(i))
    c.close()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--servers", default="mox,dovecot")
    p.add_argument("--clients", default="1,4", help="client counts, comma separated")
    p.add_argument("--seconds", type=float, default=6.0, help="time limit per measurement")
    p.add_argument("--messages", type=int, default=2000,
                   help="~2 KB messages in the searched mailbox at least (APPEND adds to it)")
    p.add_argument("--append-small", type=int, default=300,
                   help="~2 KB messages per APPEND measurement (split over the clients)")
    p.add_argument("--append-big", type=int, default=60,
                   help="~100 KB messages per APPEND measurement (split over the clients)")
    p.add_argument("--repeat", type=int, default=1,
                   help="measure each row this many times (servers alternating), report the median")
    p.add_argument("--quick", action="store_true", help="small sizes, for trying the harness")
    p.add_argument("--smoke", action="store_true", help="mox only, the smallest sizes, one command or message per measurement: shows that the script "
                        "still runs against the current code (CI runs it); the numbers measure nothing")
    p.add_argument("--ops", default="",
                   help="only these operations, comma separated (e.g. search_unseen,fetch_full; "
                        "names: " + ",".join(op for op, _, _ in OPS) + ")")
    args = p.parse_args(argv)
    util.exit_cleanly_on_sigterm()
    args.clients = [int(x) for x in args.clients.split(",")]
    if args.quick:
        args.seconds, args.messages, args.append_small, args.append_big = 2.0, 400, 100, 20
    if args.smoke:
        args.servers, args.clients, args.repeat = "mox", [1], 1
        args.seconds, args.messages, args.append_small, args.append_big = 0.0, 100, 1, 1  # x100 windows
        print("smoke run (mox only, smallest sizes): the numbers measure nothing", flush=True)
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    notes: dict[str, str] = {}
    versions: dict[str, str] = {}
    ports: dict[str, int] = {}
    pids: dict[str, int] = {}
    with contextlib.ExitStack() as stack:
        for name in servers:
            log(f"{name}: starting")
            try:
                if name == "mox":
                    from peers import moxserver
                    mports, versions[name] = stack.enter_context(moxserver.running())
                    ports[name] = mports["imap"]
                    if mports.get("pid"):
                        pids[name] = int(mports["pid"])  # the ready file names the server's pid
                elif name == "dovecot":
                    from peers import dovecot
                    found: list[int] = []
                    ports[name], versions[name] = stack.enter_context(dovecot.running(pids=found))
                    pids[name] = found[0]
                else:
                    raise SystemExit(f"unknown server {name}")
            except Exception as e:  # report and go on with the other server
                notes[name] = f"not measured: {e}"
                log(f"{name}: {notes[name]}")
        results, failed, searched = run_all(ports, args, log, pids)
    for name, why in failed.items():
        notes[name] = f"stopped: {why}"

    rows = []
    mismatches = []
    for op, label, unit in OPS:
        if args.ops and op not in args.ops.split(","):
            continue
        for n in args.clients:
            mox = results.get("mox", {}).get((op, n))
            peer = results.get("dovecot", {}).get((op, n))
            if mox and peer and mox["check"] != peer["check"]:
                mismatches.append(f"{label} clients={n}: mox found {mox['check']}, dovecot {peer['check']}")
            rows.append({"op": f"{label}, {n} client{'s' if n > 1 else ''}", "unit": unit,
                         "mox": mox["rate"] if mox else None, "peer": peer["rate"] if peer else None,
                         "mox_note": "n/m"})
    print(f"IMAP throughput, {args.seconds:g}s per measurement, median of {args.repeat}; "
          f"SEARCH/FETCH/STORE on a mailbox of {searched} ~2 KB messages")
    for name in servers:
        print(f"  {name}: {versions.get(name, '?')}{'; ' + notes[name] if name in notes else ''}")
    util.print_table("", rows, "dovecot")
    cpu_rows = []
    for op, label, unit in OPS:
        for n in args.clients:
            got = {name: results.get(name, {}).get((op, n), {}).get("server_ms") for name in servers}
            if any(v is not None for v in got.values()):
                cpu_rows.append(f"  {label}, {n} client{'s' if n > 1 else ''}: "
                                + ", ".join(f"{name} {v:.3f}" for name, v in got.items() if v is not None))
    if cpu_rows:
        print("Server CPU (user+system of its process tree, /proc) per command, ms (median):")
        print("\n".join(cpu_rows))
    for m in mismatches:
        print(f"WARNING result mismatch: {m}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
