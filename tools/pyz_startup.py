#!/usr/bin/env python3
"""Measure the pyz: size per target, first-run and warm start, localserve time-to-ready.

    python3 tools/pyz_startup.py [--dist dist] [--python PY ...] [--runs 5]

Needs built archives (`python3 build.py --all`). Start times are wall-clock medians of `--runs`
runs of `mox version` with an empty (first run) or filled (warm) cache dir in MOX_PYZ_CACHE; the
baseline is the same command from the installed package in this interpreter's environment. Time
to ready is from process start until localserve's ready file appears. Results go to stdout as a
Markdown table; for bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    return time.perf_counter() - t


def time_to_ready(cmd: list[str], env: dict[str, str], tmp: Path) -> float:
    ready = tmp / f"ready-{time.monotonic_ns()}.json"
    t = time.perf_counter()
    proc = subprocess.Popen([*cmd, "localserve", "-ephemeral", "-port-base", "0", "-ready-file", str(ready)],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not ready.exists():
            if proc.poll() is not None or time.perf_counter() - t > 120:
                raise RuntimeError("localserve did not become ready")
            time.sleep(0.005)
        return time.perf_counter() - t
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dist", type=Path, default=ROOT / "dist")
    ap.add_argument("--python", action="append", help="interpreter(s) to measure (default: this one)")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    pythons = args.python or [sys.executable]

    print("| archive | size |\n|---|---|")
    for p in sorted(args.dist.glob("mox-*.pyz")):
        print(f"| {p.name} | {p.stat().st_size / 1e6:.1f} MB |")
    print()

    pyz = args.dist / "mox.pyz"
    print("| python | installed (venv), warm | pyz first run | pyz warm | localserve ready: installed | localserve ready: pyz |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for py in pythons:
            version = subprocess.run([py, "-c", "import platform; print(platform.python_version())"],
                                     capture_output=True, text=True, check=True).stdout.strip()
            env = dict(os.environ)
            firsts = []
            for i in range(args.runs):
                env["MOX_PYZ_CACHE"] = str(tmp / f"cache-{version}-{i}")
                firsts.append(timed([py, "-I", str(pyz), "version"], env))
            warm = [timed([py, "-I", str(pyz), "version"], env) for _ in range(args.runs)]
            installed = "n/a"
            ready_inst = "n/a"
            if Path(py).resolve() == Path(sys.executable).resolve():
                base = [timed([py, "-m", "mox", "version"], env) for _ in range(args.runs)]
                installed = f"{statistics.median(base):.2f} s"
                ready_inst = f"{statistics.median(time_to_ready([py, '-m', 'mox'], env, tmp) for _ in range(3)):.2f} s"
            ready_pyz = statistics.median(time_to_ready([py, "-I", str(pyz)], env, tmp) for _ in range(3))
            print(f"| {version} | {installed} | {statistics.median(firsts):.2f} s | {statistics.median(warm):.2f} s "
                  f"| {ready_inst} | {ready_pyz:.2f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
