"""Every benchmark script still runs against the current code: each one's ``--smoke`` run (mox
only, the smallest sizes, one command or message per measurement) starts its servers, goes
through every row and prints its table with a number for mox in each row. A smoke run measures
nothing; the benchmarks themselves never run in CI (bench/README.md). Marked slow: CI runs it
with the rest of ``--slow``. The seven runs go at once (most of their time is waiting for
servers to start), and a run that neither ends nor fails within HANG seconds counts as hung."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
HANG = 300

#: The lines each script's smoke run must print: a result row with a number for mox. The table
#: scripts (mox's column third: ``| operation | unit | mox | peer | ratio |``) are also checked
#: row by row: no row may say ``n/m`` (not measured) or ``-`` for mox.
NUMBER = r"[\d,]+(?:\.\d+)?"
TABLE = {"bench_delivery", "bench_imap", "bench_smtp", "bench_sortthread"}
ROWS = {
    "bench_delivery": [rf"^\| 2 x 4 KB, 1 connections, new connection per message .* \| msgs/s \| +{NUMBER} \|",
                       rf"^\| submission, 2 x 4 KB, 1 authenticated connections +\| msgs/s \| +{NUMBER} \|"],
    "bench_imap": [rf"^\| APPEND ~2 KB, 1 client +\| msgs/s \| +{NUMBER} \|",
                   rf"^\| STORE \+/-FLAGS x100, 1 client +\| msgs/s \| +{NUMBER} \|"],
    "bench_smtp": [rf"^\| ~2 KB messages, 1 connection +\| msgs/s \| +{NUMBER} \|",
                   rf"^\| ~1 MB messages, 1 connection +\| msgs/s \| +{NUMBER} \|"],
    "bench_sortthread": [rf"^\| THREAD REFERENCES ALL, 1 client +\| cmds/s \| +{NUMBER} \|"],
    "bench_footprint": [rf"^start to ready, wall \(ms\) +{NUMBER} ",
                        rf"^restart to ready \(existing dir\), wall \(ms\) +{NUMBER} ",
                        rf"^login/logout churn, 1 clients \(logins/s\) +{NUMBER}  Dovecot not run$"],
    "bench_store": [rf"^open 50 messages from snapshot: {NUMBER} ms",
                    rf"^deliver, fsync on , 8 writer\(s\): {NUMBER} msg/s$"],
    "bench_web": [rf"^\| webmail: open one \(Message\) \| {NUMBER} \| {NUMBER} \|$",
                  rf"^\| webapi MessageGet \| {NUMBER} \| {NUMBER} \|$"],
}


def table_rows(out: str) -> list[list[str]]:
    """The result rows of the fixed-width tables (bench/peers/util.py print_table)."""
    rows = []
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 5 and cells[0] != "operation":
            rows.append(cells)
    return rows


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="the benchmark scripts are Linux tools (/proc, apt peers)")
def test_every_bench_script_runs_its_smoke(tmp_path: Path) -> None:
    scripts = sorted(p.stem for p in BENCH.glob("bench_*.py"))
    assert scripts == sorted(ROWS), "each benchmark script needs its smoke rows here"
    procs = {}
    for name in scripts:
        err = open(tmp_path / f"{name}.err", "wb")
        procs[name] = subprocess.Popen([sys.executable, str(BENCH / f"{name}.py"), "--smoke"], cwd=tmp_path,
                                       stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
        err.close()
    problems = []
    for name, proc in procs.items():
        try:
            out, _ = proc.communicate(timeout=HANG)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            problems.append(f"{name}: still running after {HANG} s")
            continue
        text = out.decode("utf-8", "replace")
        err_tail = (tmp_path / f"{name}.err").read_text(encoding="utf-8", errors="replace")[-1500:]
        if proc.returncode != 0:
            problems.append(f"{name}: exit code {proc.returncode}\n{text[-1500:]}\n{err_tail}")
            continue
        if not text.startswith("smoke run ("):
            problems.append(f"{name}: no smoke note first:\n{text[:300]}")
        lines = text.splitlines()
        for pattern in ROWS[name]:
            if not any(re.search(pattern, line) for line in lines):
                problems.append(f"{name}: no line matches {pattern!r}:\n{text}")
        if name in TABLE:
            rows = table_rows(text)
            unmeasured = [r[0] for r in rows if not re.fullmatch(NUMBER, r[2])]
            if not rows or unmeasured:
                problems.append(f"{name}: rows without a number for mox: {unmeasured or 'no rows'}\n{text}\n{err_tail}")
    assert problems == [], "\n\n".join(problems)
