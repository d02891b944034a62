"""``--strict-skips``: a skipped test fails the run unless its reason says the platform lacks
something.

Tests that need an outside tool (mbsync from isync, swaks, Chromium) skip when it is missing, so
the suite runs on a bare machine. CI installs every such tool, so there a skip would only hide a
test that never ran: `.ci/run` passes ``--strict-skips``, which turns every skip whose reason is not
in ``PLATFORM_SKIPS`` into a failure naming the reason. A module skipped as a whole fails its
collection the same way.

Loaded by ``tests/conftest.py``; the test of it loads it with ``-p tests.strict_skips``.
"""

from __future__ import annotations

from typing import Any

import pytest

#: Skip reasons that are about the platform, not about something CI forgot to install.
PLATFORM_SKIPS = frozenset(
    {
        "no AF_UNIX on Windows",
        "this host has no ::1",
        "names fds through /proc/self/fd",
        "SIGKILL of a child process: POSIX only",
        "needs Linux with mount namespaces (root or user namespaces)",
        "uses the POSIX errno of a full disk",
        "RLIMIT_NOFILE is POSIX",
        "reads the listening sockets from Linux's /proc",
        "file modes are a POSIX notion",
        "glibc's allocator only (Linux)",
        "the benchmark scripts are Linux tools (/proc, apt peers)",
    }
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--strict-skips",
        action="store_true",
        default=False,
        help="fail on a skip whose reason is not a platform limit (tests/strict_skips.py); CI uses it",
    )


def _reason(longrepr: Any) -> str:
    # A skip's longrepr is (path, lineno, "Skipped: <reason>").
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        text = str(longrepr[2])
    else:
        text = str(longrepr)
    return text.removeprefix("Skipped: ")


def _fail_if_not_allowed(config: pytest.Config, report: Any) -> None:
    if not report.skipped or hasattr(report, "wasxfail") or not config.getoption("strict_skips"):
        return
    reason = _reason(report.longrepr)
    if reason in PLATFORM_SKIPS:
        return
    report.outcome = "failed"
    report.longrepr = (
        f"skipped under --strict-skips: {reason}\n"
        "CI installs the tools the tests use, so this test must run there; a skip that is a platform "
        "limit belongs in PLATFORM_SKIPS (tests/strict_skips.py)"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    _fail_if_not_allowed(item.config, outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    outcome = yield
    _fail_if_not_allowed(collector.config, outcome.get_result())
