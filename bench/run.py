"""Run the benchmarks: every bench/bench_*.py (or a chosen subset), one after the other.

    python3 bench/run.py                 # all of them
    python3 bench/run.py imap smtp       # bench_imap.py and bench_smtp.py only
    python3 bench/run.py --list
    python3 bench/run.py smtp -- --quick # arguments after -- go to each benchmark

Each benchmark starts its own servers (mox localserve and a peer on 127.0.0.1) and prints a table
with mox's numbers, the peer's and their ratio. The machine is described first, since numbers
only mean something next to the machine they were measured on. Benchmarks are never run by CI
(only each script's --smoke, which measures nothing).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from peers import util  # noqa: E402


def available() -> dict[str, Path]:
    return {p.stem.removeprefix("bench_"): p for p in sorted(HERE.glob("bench_*.py"))}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", help="benchmarks to run (default: all), e.g. imap smtp store")
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = p.parse_args(argv)
    util.exit_cleanly_on_sigterm()
    benches = available()
    if args.list:
        for name, path in benches.items():
            print(f"{name}\t{path.name}")
        return 0
    names = args.names or list(benches)
    unknown = [n for n in names if n.removeprefix("bench_").removesuffix(".py") not in benches]
    if unknown:
        p.error(f"unknown benchmark(s) {', '.join(unknown)}; have {', '.join(benches)}")
    print("machine:")
    for line in util.machine_description():
        print(f"  {line}")
    print(flush=True)
    # An interpreter that can import mox (the repo's venv when this one cannot), so benchmarks
    # that use mox's modules directly (bench_store.py) run too.
    from peers import moxserver
    python = moxserver.python()
    print(f"benchmarks run with {python}\n", flush=True)
    failed = []
    for name in names:
        name = name.removeprefix("bench_").removesuffix(".py")
        print(f"== {name} ({benches[name].name}) ==", flush=True)
        t0 = time.monotonic()
        proc = subprocess.Popen([python, str(benches[name]), *extra])
        try:
            rc = proc.wait()
        except KeyboardInterrupt:
            # Let the benchmark stop its servers and remove its temp dirs.
            proc.terminate()
            proc.wait()
            raise
        print(f"== {name}: exit {rc}, {time.monotonic() - t0:.0f}s ==\n", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
