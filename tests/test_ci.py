"""CI runs what README.md tells a developer to run (the whole suite, slow tests and examples/
included), only stricter, and the plain `pytest` leaves out exactly the slow tests."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _readme_test_command() -> list[str]:
    text = (ROOT / "README.md").read_text("utf-8")
    m = re.search(r"^# run the whole test suite.*\n(.+)$", text, re.M)
    assert m, "README has no whole-test-suite command"
    return shlex.split(m.group(1).split("&&")[-1])


def test_ci_runs_the_readme_test_command_with_strict_options():
    readme = _readme_test_command()
    assert readme == [".venv/bin/python", "-m", "pytest", "-q", "--slow"]
    ci = (ROOT / ".ci" / "run").read_text("utf-8")
    runs = [shlex.split(line.split("||")[0]) for line in ci.splitlines() if "-m pytest" in line]
    assert runs == [[*readme, "--strict-skips", "--min-pythons", "2"]]
    # The tools whose tests would otherwise be skipped are installed first; the Windows smoke test
    # (`just test-windows`) runs when wine64 is installable, before the suite.
    assert "apt-get install -y isync swaks chromium" in ci
    assert ci.index("bash tools/wine/smoke.sh") < ci.index("-m pytest")
    justfile = (ROOT / "Justfile").read_text("utf-8")
    assert "exec bash tools/wine/smoke.sh" in justfile.split("test-windows")[1]


#: A collection of the whole suite takes 10 s of CPU; on a loaded machine 40 s or more of wall time.
COLLECT_TIMEOUT = 300


def _collected(*args: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=COLLECT_TIMEOUT,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return {line for line in out.stdout.splitlines() if "::" in line}


# Two collections: the test's own deadline is theirs (the suite's 120 s was hit under load).
@pytest.mark.timeout(2 * COLLECT_TIMEOUT + 30)
def test_slow_option_adds_the_slow_tests_and_examples_are_in_the_suite():
    plain, whole = _collected(), _collected("--slow")
    slow = whole - plain
    assert plain < whole
    assert "tests/test_pyz.py::test_pyz_roundtrip" in slow
    assert "tests/test_build.py::test_round_trip_on_every_python_found" in slow
    assert {t for t in plain if t.startswith("examples/")} == {
        "examples/signup/test_welcome.py::test_welcome_mail_arrives",
        "examples/signup/test_welcome.py::test_each_test_starts_with_an_empty_inbox",
    }
