"""SORT, THREAD and SEARCH/SORT PARTIAL on one big mailbox: mox against Dovecot, same client code,
measured in the same run.

Both servers get the same 10,000 generated messages (``--messages``), appended in the same order
with the same internal dates over one connection (pipelined with LITERAL+): conversations with
reply chains (References, truncated References, In-Reply-To only), Re:/Fwd:/[list] subject
prefixes, encoded words, a third of the messages \\Seen. Then each operation runs for
``--seconds`` on one connection per client (1 and 4 clients), commands one after the other over
the whole mailbox; the unit is commands per second. The first command of each kind on a fresh
connection is timed separately ("first"): it includes building whatever the server caches
(mox: sort values and thread fields per message; Dovecot: its index cache).

Each answer is also compared between the servers (column "same"): the SORT orders and SEARCH
results must be equal; THREAD may differ where Dovecot's threading does its own thing (the count
of differing threads is shown). mox runs with ``-imap-profile full`` (the default ``mox`` profile
has no SORT or THREAD, as mox itself). Dovecot 2.3 has neither RFC 9394's ranges counted from the
end nor PARTIAL in SORT RETURN; those rows are mox only.

Usage: python3 bench/bench_sortthread.py [--servers mox,dovecot] [--clients 1,4] [--seconds 5]
       [--messages 10000] [--repeat 1] [--quick] [--smoke] [--ops sort_subject,thread_references]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_imap import Client, ImapError  # noqa: E402
from peers import util  # noqa: E402

BOX = "Threads"
T0 = 1764547200  # 1 Dec 2025 00:00 UTC

# (name, command, label)
OPS = [
    ("sort_arrival", "SORT (ARRIVAL) UTF-8 ALL", "SORT (ARRIVAL) ALL"),
    ("sort_subject", "SORT (SUBJECT) UTF-8 ALL", "SORT (SUBJECT) ALL"),
    ("sort_date", "SORT (REVERSE DATE) UTF-8 ALL", "SORT (REVERSE DATE) ALL"),
    ("sort_from", "SORT (FROM) UTF-8 ALL", "SORT (FROM) ALL"),
    ("sort_displayfrom", "SORT (DISPLAYFROM) UTF-8 ALL", "SORT (DISPLAYFROM) ALL"),
    ("sort_multi", "SORT (TO REVERSE SIZE) UTF-8 UNSEEN", "SORT (TO REVERSE SIZE) UNSEEN"),
    ("sort_partial", "UID SORT RETURN (PARTIAL 1:50) (REVERSE DATE) UTF-8 ALL",
     "UID SORT RETURN (PARTIAL 1:50) (REVERSE DATE) ALL"),
    ("thread_references", "THREAD REFERENCES UTF-8 ALL", "THREAD REFERENCES ALL"),
    ("thread_refs", "THREAD REFS UTF-8 ALL", "THREAD REFS ALL"),
    ("thread_orderedsubject", "THREAD ORDEREDSUBJECT UTF-8 ALL", "THREAD ORDEREDSUBJECT ALL"),
    ("search_partial", "UID SEARCH RETURN (PARTIAL 1:50) UNSEEN", "UID SEARCH RETURN (PARTIAL 1:50) UNSEEN"),
    ("search_partial_end", "UID SEARCH RETURN (PARTIAL -1:-50) ALL", "UID SEARCH RETURN (PARTIAL -1:-50) ALL"),
]

TOPICS = (["quarterly numbers", "build broken again", "Release 2.0 planning", "lunch on friday", "Café menu",
           "Straße closed", "offsite agenda", "printer on floor 3", "budget review", "Budget Review",
           "ñandú sightings", "status update", "[draft] proposal", "question about the API"]
          + [f"project {i} kickoff" for i in range(400)])
PEOPLE = ["Alice Archer <alice@example.org>", "bob@example.com", "=?utf-8?q?=C3=89lodie?= <elodie@example.net>",
          "Zoë Zed <zoe@example.org>", '"Smith, John" <jsmith@example.com>', "Carl <carl@example.org>",
          "dan@example.net", "Émile <emile@example.org>", "Mallory <mallory@example.com>"]
PREFIXES = ["Re: ", "RE: ", "Re: Re: ", "Fwd: ", "[list] Re: ", "re:", "Re[2]: ", "Fw: "]


def generate(n: int, seed: int = 5256) -> list[tuple[bytes, int, bool]]:
    """(message, internal date as unix seconds, \\Seen) in append order."""
    rng = random.Random(seed)
    made: list[dict] = []
    out = []
    for i in range(n):
        mid = f"<{i}.{rng.randrange(10**6)}@bench.example>"
        if made and rng.random() < 0.7:
            parent = rng.choice(made[-300:])
            chain = parent["chain"] + [parent["mid"]]
            topic = parent["topic"]
            subject = rng.choice(PREFIXES) + topic
            date = parent["date"] + rng.randrange(60, 2 * 86400)
            kind = rng.random()
            if kind < 0.7:
                refs, irt = " ".join(chain[-20:]), chain[-1]
            elif kind < 0.85:
                refs, irt = " ".join(chain[-2:]), chain[-1]
            else:
                refs, irt = "", chain[-1]
        else:
            chain, topic = [], rng.choice(TOPICS)
            subject = rng.choice(["", "", "[list] "]) + topic
            date = T0 + i * 300 + rng.randrange(-600, 600)
            refs = irt = ""
        made.append({"mid": mid, "chain": chain, "topic": topic, "date": date})
        if rng.random() < 0.08:
            import email.header
            subject = email.header.Header(subject, "utf-8", maxlinelen=998).encode()
        h = [f"From: {rng.choice(PEOPLE)}", f"To: {rng.choice(PEOPLE)}"]
        if rng.random() < 0.3:
            h.append(f"Cc: {rng.choice(PEOPLE)}")
        h.append(f"Subject: {subject}")
        off = rng.choice([0, 60, -300, 330])
        t = time.gmtime(date + off * 60)
        h.append(time.strftime("Date: %a, %d %b %Y %H:%M:%S ", t) + f"{'+' if off >= 0 else '-'}"
                 f"{abs(off) // 60:02d}{abs(off) % 60:02d}")
        h.append(f"Message-ID: {mid}")
        if refs:
            h.append(f"References: {refs}")
        if irt:
            h.append(f"In-Reply-To: {irt}")
        body = "\r\n".join("lorem ipsum dolor sit amet " * rng.randrange(1, 4) for _ in range(rng.randrange(3, 30)))
        data = ("\r\n".join(h) + "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                + body + "\r\n").encode()
        out.append((data, date + rng.randrange(1, 300), rng.random() < 0.33))
    return out


def fill(port: int, msgs: list[tuple[bytes, int, bool]], batch: int = 100) -> None:
    """Append ``msgs`` in order over one connection, ``batch`` commands in flight (LITERAL+)."""
    c = Client(port)
    c.login()
    c.command(f"CREATE {BOX}")
    for start in range(0, len(msgs), batch):
        tags = []
        out = bytearray()
        for i, (data, received, seen) in enumerate(msgs[start:start + batch], start):
            tag = f"f{i}"
            tags.append(tag.encode())
            date = time.strftime("%d-%b-%Y %H:%M:%S +0000", time.gmtime(received))
            flags = "(\\Seen) " if seen else ""
            out += f'{tag} APPEND {BOX} {flags}"{date}" {{{len(data)}+}}\r\n'.encode() + data + b"\r\n"
        c.sock.sendall(out)
        pending = set(tags)
        while pending:
            resp = c._read_response()
            tag = resp.split(b" ", 1)[0]
            if tag in pending:
                if not resp.split(b" ", 2)[1].upper() == b"OK":
                    raise ImapError(f"APPEND: {resp[:200]!r}")
                pending.discard(tag)
    c.close()


def _answer(untagged: list[bytes]) -> bytes:
    """The result of a SORT/THREAD/SEARCH, without the tag an ESEARCH carries."""
    for r in untagged:
        if r.startswith((b"* SORT", b"* THREAD", b"* SEARCH", b"* ESEARCH")):
            return re.sub(rb'^\* ESEARCH \(TAG "[^"]*"\)', b"* ESEARCH", r.rstrip(b"\r\n"))
    raise ImapError(f"no result in {untagged[:3]!r}")


def worker(barrier, port: int, command: str, seconds: float) -> dict:
    c = Client(port)
    c.login()
    c.command(f"EXAMINE {BOX}")
    barrier.wait(timeout=600)
    t0 = time.time()
    deadline = time.monotonic() + seconds
    cmds = 0
    answer = b""
    while cmds == 0 or time.monotonic() < deadline:
        answer = _answer(c.command(command))
        cmds += 1
    t1 = time.time()
    c.close()
    return {"cmds": cmds, "t0": t0, "t1": t1, "digest": hashlib.sha256(answer).hexdigest()}


def first_call(port: int, command: str) -> tuple[float, bytes]:
    """Seconds for ``command`` as the first command on a fresh connection, and its answer."""
    c = Client(port)
    c.login()
    c.command(f"EXAMINE {BOX}")
    t = time.perf_counter()
    try:
        answer = _answer(c.command(command))
    finally:
        elapsed = time.perf_counter() - t
        c.close()
    return elapsed, answer


def _threads(answer: bytes) -> list[bytes]:
    """The top-level threads of a THREAD answer, each as its text."""
    body = answer[len(b"* THREAD"):].strip()
    out, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        if ch == ord("("):
            if depth == 0:
                start = i
            depth += 1
        elif ch == ord(")"):
            depth -= 1
            if depth == 0:
                out.append(body[start:i + 1])
    return out


def compare(op: str, answers: dict[str, bytes]) -> str:
    if len(answers) < 2:
        return "-"
    a, b = answers.get("mox"), answers.get("dovecot")
    if a is None or b is None:
        return "-"
    if a == b:
        return "yes"
    if op.startswith("thread"):
        ta, tb = _threads(a), _threads(b)
        differ = len(set(ta) ^ set(tb))
        return f"no: {differ} of {len(ta)}+{len(tb)} threads differ"
    return "no"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--servers", default="mox,dovecot")
    p.add_argument("--clients", default="1,4", help="client counts, comma separated")
    p.add_argument("--seconds", type=float, default=5.0, help="time per measurement")
    p.add_argument("--messages", type=int, default=10000)
    p.add_argument("--repeat", type=int, default=1, help="measure each row this many times, report the median")
    p.add_argument("--quick", action="store_true", help="1,000 messages, 2 s, 1 client")
    p.add_argument("--smoke", action="store_true", help="mox only, the smallest sizes, one command or message per measurement: shows that the script "
                        "still runs against the current code (CI runs it); the numbers measure nothing")
    p.add_argument("--ops", default="", help="only these, comma separated: " + ",".join(o for o, _, _ in OPS))
    args = p.parse_args(argv)
    util.exit_cleanly_on_sigterm()
    if args.quick:
        args.messages, args.seconds, args.clients = 1000, 2.0, "1"
    if args.smoke:
        args.servers, args.messages, args.seconds, args.clients, args.repeat = "mox", 30, 0.0, "1", 1
        print("smoke run (mox only, smallest sizes): the numbers measure nothing", flush=True)
    clients = [int(x) for x in args.clients.split(",")]
    ops = [o for o in OPS if not args.ops or o[0] in args.ops.split(",")]
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    log(f"generating {args.messages} messages")
    msgs = generate(args.messages)
    notes: dict[str, str] = {}
    versions: dict[str, str] = {}
    ports: dict[str, int] = {}
    results: dict[tuple[str, str, int], float] = {}
    firsts: dict[tuple[str, str], float] = {}
    answers: dict[str, dict[str, bytes]] = {o: {} for o, _, _ in OPS}
    with contextlib.ExitStack() as stack:
        for name in servers:
            log(f"{name}: starting")
            try:
                if name == "mox":
                    from peers import moxserver
                    mports, versions[name] = stack.enter_context(moxserver.running(extra=("-imap-profile", "full")))
                    ports[name] = mports["imap"]
                elif name == "dovecot":
                    from peers import dovecot
                    ports[name], versions[name] = stack.enter_context(dovecot.running())
                else:
                    raise SystemExit(f"unknown server {name}")
                t = time.monotonic()
                fill(ports[name], msgs)
                log(f"{name}: {len(msgs)} messages appended in {time.monotonic() - t:.1f}s")
            except Exception as e:  # report and go on with the other server
                notes[name] = f"not measured: {type(e).__name__}: {e}"
                log(f"{name}: {notes[name]}")
                ports.pop(name, None)
        k = 0
        for op, command, label in ops:
            unsupported: set[str] = set()
            for name, port in ports.items():
                try:
                    firsts[(op, name)], answers[op][name] = first_call(port, command)
                except ImapError as e:
                    unsupported.add(name)
                    log(f"  {name} {label}: not supported: {str(e)[-160:]}")
            for n in clients:
                rates: dict[str, list[float]] = {}
                for _ in range(args.repeat):
                    order = list(ports) if k % 2 == 0 else list(reversed(ports))
                    k += 1
                    for name in order:
                        if name in unsupported:
                            continue
                        rs = util.run_parallel(worker, [(ports[name], command, args.seconds) for _ in range(n)])
                        elapsed = max(r["t1"] for r in rs) - min(r["t0"] for r in rs)
                        rate = sum(r["cmds"] for r in rs) / elapsed
                        rates.setdefault(name, []).append(rate)
                        log(f"  {name} {label} clients={n}: {rate:.2f} cmds/s")
                for name, rs in rates.items():
                    results[(op, name, n)] = util.median(rs)

    print(f"SORT/THREAD/PARTIAL on a mailbox of {args.messages} messages, {args.seconds:g}s per measurement, "
          f"median of {args.repeat}")
    for name in servers:
        print(f"  {name}: {versions.get(name, '?')}{'; ' + notes[name] if name in notes else ''}")
    rows = []
    for op, command, label in ops:
        for n in clients:
            rows.append({"op": f"{label}, {n} client{'s' if n > 1 else ''}", "unit": "cmds/s",
                         "mox": results.get((op, "mox", n)), "peer": results.get((op, "dovecot", n)),
                         "mox_note": "n/m"})
    util.print_table("", rows, "dovecot")
    print()
    print("| operation | first on a new connection, mox | first, dovecot | same answer |")
    print("|---|---:|---:|---|")
    for op, command, label in ops:
        fm, fd = firsts.get((op, "mox")), firsts.get((op, "dovecot"))
        print(f"| {label} | {f'{fm * 1000:.0f} ms' if fm is not None else '-'} | "
              f"{f'{fd * 1000:.0f} ms' if fd is not None else 'not supported'} | {compare(op, answers[op])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
