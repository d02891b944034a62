"""Shared test helpers: running `mox` as a subprocess (the README's command form)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests import strict_skips

#: What the pyz smoke test ran on: (version, path) per CPython, for the terminal summary.
PYZ_SMOKE_RAN = pytest.StashKey[list[tuple[str, str]]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    strict_skips.pytest_addoption(parser)
    parser.addoption(
        "--slow",
        action="store_true",
        default=False,
        help="also run the tests marked slow (real pyz builds); without it and without -m they are left out",
    )
    parser.addoption(
        "--min-pythons",
        type=int,
        default=1,
        help="the pyz smoke test (a slow test) fails when it ran on fewer CPythons than this; CI uses 2",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "allow_server_errors: the test provokes an error-level log line of a LocalServer on purpose"
    )


pytest_runtest_makereport = strict_skips.pytest_runtest_makereport
pytest_make_collect_report = strict_skips.pytest_make_collect_report


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The slow tests (real pyz builds, a minute or two) are left out of a plain `pytest`; `--slow`
    (the README's whole-suite command and CI) or any `-m` expression decides instead. The long
    fuzzing runs (a quarter of an hour) run only when a `-m` expression names them."""
    if "fuzz" not in (config.option.markexpr or ""):
        fuzz = [item for item in items if item.get_closest_marker("fuzz") is not None]
        if fuzz:
            config.hook.pytest_deselected(items=fuzz)
            items[:] = [item for item in items if item.get_closest_marker("fuzz") is None]
    if config.getoption("slow") or config.option.markexpr:
        return
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item.get_closest_marker("slow") is None]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    ran = config.stash.get(PYZ_SMOKE_RAN, None)
    if ran is not None:
        terminalreporter.write_line(
            f"pyz smoke test ran on {len(ran)} CPython(s): " + ", ".join(f"{v} ({path})" for v, path in ran)
        )


@pytest.fixture(autouse=True)
def _local_servers_logged_no_errors(request: pytest.FixtureRequest) -> Any:
    """A test fails when a mox.testing.LocalServer (its own or a shared, module-scoped one) logged
    at level error or fatal while it ran: an unhandled exception or a server bug. A test that
    provokes one on purpose is marked ``@pytest.mark.allow_server_errors``. Lines logged between
    tests (a shared server starting) count for the next test: none is lost."""
    from mox.testing import LocalServer

    yield
    errors = [line for srv in list(LocalServer.instances) for line in srv.take_errors()]
    if errors and request.node.get_closest_marker("allow_server_errors") is None:
        pytest.fail("mox server logged errors:\n  " + "\n  ".join(errors), pytrace=False)


MOX = [sys.executable, "-m", "mox"]


def mox_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("MOXCONF", None)
    return env


def run_mox(
    *args: str, cmd: list[str] | None = None, timeout: float = 60, env: dict[str, str] | None = None, **kw
) -> subprocess.CompletedProcess:
    """Run a mox command to completion; text output. ``env``: instead of mox_env()."""
    return subprocess.run(
        [*(cmd or MOX), *args], capture_output=True, text=True, encoding="utf-8", timeout=timeout,
        env=env if env is not None else mox_env(), **kw
    )


class MoxProcess:
    """`mox localserve -port-base 0 -ready-file ...` in a subprocess; stderr goes to a file."""

    def __init__(self, tmp_path: Path, args: list[str], cmd: list[str] | None = None) -> None:
        n = len(list(tmp_path.glob("mox-*.log")))
        self.log_path = tmp_path / f"mox-{n}.log"
        self.ready_path = tmp_path / f"ready-{n}.json"
        self.args = [*(cmd or MOX), *args, "-ready-file", str(self.ready_path)]
        kw = {}
        if sys.platform == "win32":
            kw["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log, env=mox_env(), **kw)
        self.info: dict = {}

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready_path.exists():
                try:
                    self.info = json.loads(self.ready_path.read_text(encoding="utf-8"))
                    return self.info
                except ValueError:
                    pass
            if self.proc.poll() is not None:
                raise AssertionError(f"mox exited with {self.proc.returncode} before ready:\n{self.log()}")
            time.sleep(0.05)
        raise AssertionError(f"mox not ready within {timeout}s:\n{self.log()}")

    def terminate(self) -> None:
        if sys.platform == "win32":
            self.proc.send_signal(signal.CTRL_BREAK_EVENT)
        else:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 30) -> int:
        rc = self.proc.wait(timeout)
        self._log.close()
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        self._log.close()


@pytest.fixture
def mox_process(tmp_path):
    """Factory: mox_process(*args, cmd=None) starts a MoxProcess; all are killed at teardown."""
    procs: list[MoxProcess] = []

    def start(*args: str, cmd: list[str] | None = None) -> MoxProcess:
        p = MoxProcess(tmp_path, list(args), cmd)
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.kill()
