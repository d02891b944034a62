"""Shared helpers for the benchmark scripts (stdlib only)."""

from __future__ import annotations

import multiprocessing
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path


def exit_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt, so servers we started are stopped and temp dirs
    removed when the benchmark is terminated (SIGINT may be ignored in a background job)."""
    import signal

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def median(values: list[float]) -> float:
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    """Wait until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")
            time.sleep(0.05)


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Terminate a server we started, killing it if it does not exit in time."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


def apt_install(package: str, binary: str) -> str | None:
    """Path of `binary`, installing the Debian `package` first when it is missing and we can.

    Returns None when the binary is not there and cannot be installed (not Debian, not root).
    Services the package starts are stopped again: the benchmark runs its own instance.
    """
    found = shutil.which(binary) or (Path("/usr/sbin") / binary if (Path("/usr/sbin") / binary).exists() else None)
    if found:
        return str(found)
    if not shutil.which("apt-get") or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if package == "postfix":
        # Install without a system configuration, so nothing listens on port 25.
        subprocess.run(["debconf-set-selections"], input=b"postfix postfix/main_mailer_type select No configuration\n",
                       check=False)
    print(f"installing {package} with apt-get ...", file=sys.stderr)
    subprocess.run(["apt-get", "install", "-y", "-q", package], env=env, check=False,
                   stdout=subprocess.DEVNULL)
    service = {"dovecot-imapd": "dovecot", "postfix": "postfix"}.get(package)
    if service and shutil.which("service"):
        subprocess.run(["service", service, "stop"], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    found = shutil.which(binary) or (Path("/usr/sbin") / binary if (Path("/usr/sbin") / binary).exists() else None)
    return str(found) if found else None


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid``, its live descendants and the
    children it has waited for (Linux /proc; 0 elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    stats: dict[int, list[str]] = {}
    try:
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    raw = Path(f"/proc/{d}/stat").read_text(encoding="ascii", errors="replace")
                except OSError:
                    continue
                stats[int(d)] = raw[raw.rindex(")") + 2:].split()
    except OSError:
        return 0.0
    children: dict[int, list[int]] = {}
    for p, f in stats.items():
        children.setdefault(int(f[1]), []).append(p)
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        f = stats.get(p)
        if f is None:
            continue
        total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])  # utime stime cutime cstime
        todo.extend(children.get(p, []))
    return total / tick


def apt_install_program(package: str, path: Path) -> bool:
    """Whether ``path`` (a program of the Debian ``package``, not on PATH) exists, installing the
    package first when it is missing and we can (as apt_install)."""
    if path.exists():
        return True
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        print(f"installing {package} with apt-get ...", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-q", package], env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
                       check=False, stdout=subprocess.DEVNULL)
    return path.exists()


def _child(index, target, barrier, results, args):
    try:
        results.put((index, target(barrier, *args), None))
    except BaseException:  # reported to the parent, which raises
        import traceback
        results.put((index, None, traceback.format_exc()))
        try:
            barrier.abort()
        except Exception:
            pass


def run_parallel(target, args_list: list[tuple], timeout: float = 600.0) -> list:
    """Run `target(barrier, *args)` in one client process per args; returns results in order.

    Processes are spawned (works on Windows too), so the client side is not serialised by one
    interpreter's lock, and a single client pays the same costs as several. Each target does its
    setup (connect, log in), then calls `barrier.wait()` so all clients start measuring together.
    """
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(args_list))
    results = ctx.Queue()
    procs = [ctx.Process(target=_child, args=(i, target, barrier, results, args), daemon=True)
             for i, args in enumerate(args_list)]
    for p in procs:
        p.start()
    out: dict[int, object] = {}
    errors = []
    try:
        for _ in procs:
            i, value, err = results.get(timeout=timeout)
            if err:
                errors.append(err)
            out[i] = value
    finally:
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.terminate()
                p.join()
    if errors:
        print(errors[0], file=sys.stderr)
        last = [line for line in errors[0].splitlines() if line.strip()][-1]
        raise RuntimeError(f"client failed: {last}")
    return [out[i] for i in range(len(args_list))]


def fmt_rate(v: float | None) -> str:
    if v is None:
        return "-"
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def print_table(title: str, rows: list[dict], peer_name: str, file=None) -> None:
    """Print rows {op, unit, mox, peer, mox_note} as a fixed-width table with the mox/peer ratio."""
    file = file or sys.stdout
    head = ["operation", "unit", "mox", peer_name, "mox/" + peer_name]
    lines = []
    for r in rows:
        mox = r.get("mox")
        peer = r.get("peer")
        ratio = f"{mox / peer:.3f}" if mox and peer else "-"
        mox_s = fmt_rate(mox) if mox is not None else r.get("mox_note", "-")
        lines.append([r["op"], r["unit"], mox_s, fmt_rate(peer), ratio])
    widths = [max(len(h), *(len(l[i]) for l in lines)) if lines else len(h) for i, h in enumerate(head)]
    print(title, file=file)
    print("| " + " | ".join(h.ljust(widths[i]) for i, h in enumerate(head)) + " |", file=file)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|", file=file)
    for l in lines:
        print("| " + " | ".join(l[i].ljust(widths[i]) if i < 2 else l[i].rjust(widths[i])
                               for i in range(len(head))) + " |", file=file)
    file.flush()


def fsync_latency_ms(n: int = 30) -> float:
    """Median time to create, write (4 KB) and fsync a file in the temp dir: what one durable
    message write costs on this disk at this moment."""
    import tempfile
    times = []
    with tempfile.TemporaryDirectory(prefix="bench-fsync-") as d:
        for i in range(n):
            t = time.perf_counter()
            with open(Path(d) / f"f{i}", "wb") as f:
                f.write(b"x" * 4096)
                f.flush()
                os.fsync(f.fileno())
            times.append(time.perf_counter() - t)
    return median(times) * 1000


def machine_description() -> list[str]:
    """Lines describing the machine: cores, CPU, memory, disk, OS, Python."""
    lines = [f"cores: {os.cpu_count()}"]
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    lines.append(f"cpu: {cpu}")
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal"):
                kb = int(line.split()[1])
                lines.append(f"memory: {kb / 1024 / 1024:.1f} GiB")
                break
    except OSError:
        pass
    import tempfile
    tmp = tempfile.gettempdir()
    du = shutil.disk_usage(tmp)
    fs = ""
    try:
        best = ""
        for line in Path("/proc/mounts").read_text(encoding="utf-8").splitlines():
            dev, mnt, kind = line.split()[:3]
            if tmp.startswith(mnt) and len(mnt) > len(best):
                best, fs = mnt, f"{dev} ({kind})"
    except OSError:
        pass
    lines.append(f"disk for {tmp}: {fs} {du.total / 2**30:.0f} GiB; "
                 f"write+fsync of a new 4 KB file: {fsync_latency_ms():.2f} ms (median of 30)")
    lines.append(f"os: {platform.platform()}")
    lines.append(f"python: {platform.python_implementation()} {sys.version.split()[0]}")
    return lines
