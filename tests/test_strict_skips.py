"""--strict-skips (tests/strict_skips.py): in CI a skip for a missing tool fails; platform skips pass."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TESTS = '''
import pytest

def test_runs():
    pass

@pytest.mark.skipif(True, reason="swaks not installed")
def test_needs_a_tool():
    pass

@pytest.mark.skipif(True, reason="no AF_UNIX on Windows")
def test_platform_limit():
    pass

def test_skips_inside():
    pytest.skip("mbsync not found on PATH")

@pytest.mark.xfail(reason="known")
def test_expected_failure():
    assert False
'''

MODULE_SKIP = '''
import pytest

pytest.skip("chromium is not installed", allow_module_level=True)

def test_never_collected():
    pass
'''


def _pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.strict_skips", "-p", "no:cacheprovider", "-q", "-rfEs",
         *args],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120,
    )


def test_without_the_option_skips_are_skips(tmp_path):
    (tmp_path / "test_a.py").write_text(TESTS, encoding="utf-8")
    (tmp_path / "test_b.py").write_text(MODULE_SKIP, encoding="utf-8")
    r = _pytest(tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[-1].startswith("1 passed, 4 skipped, 1 xfailed"), r.stdout


def test_strict_skips_fail_tool_skips_and_keep_platform_skips(tmp_path):
    (tmp_path / "test_a.py").write_text(TESTS, encoding="utf-8")
    r = _pytest(tmp_path, "--strict-skips")
    assert r.returncode == 1, r.stdout + r.stderr
    # A skipif mark acts in setup, so that one is an error; pytest.skip() in the test a failure.
    assert r.stdout.splitlines()[-1].startswith("1 failed, 1 passed, 1 skipped, 1 xfailed, 1 error"), r.stdout
    assert "ERROR test_a.py::test_needs_a_tool" in r.stdout
    assert "FAILED test_a.py::test_skips_inside" in r.stdout
    assert "skipped under --strict-skips: swaks not installed\n" in r.stdout
    assert "skipped under --strict-skips: mbsync not found on PATH\n" in r.stdout
    assert "SKIPPED [1] test_a.py:11: no AF_UNIX on Windows" in r.stdout


def test_strict_skips_fail_a_module_skipped_whole(tmp_path):
    (tmp_path / "test_b.py").write_text(MODULE_SKIP, encoding="utf-8")
    r = _pytest(tmp_path, "--strict-skips")
    assert r.returncode != 0, r.stdout + r.stderr
    assert "skipped under --strict-skips: chromium is not installed" in r.stdout, r.stdout
