"""mox.testing.LocalServer: a server error (an error-level log line: an unhandled exception, a
server bug) fails the test that used the server, whether the server is its own or shared."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from mox.testing import LocalServer, ServerErrors

ROOT = Path(__file__).resolve().parents[2]


async def _broken(ctx, req):
    raise RuntimeError("a bug in the server")


def _provoke(srv: LocalServer) -> None:
    srv.ctx.web.router.add("/test/broken", _broken)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"http://127.0.0.1:{srv.ports['http']}/test/broken", timeout=10)
    assert e.value.code == 500


@pytest.mark.allow_server_errors
def test_leaving_the_block_raises_on_error_lines(tmp_path):
    with pytest.raises(ServerErrors) as e:
        with LocalServer(tmp_path / "a") as srv:
            _provoke(srv)
    assert str(e.value).startswith("server logged errors:\n  error: unhandled error in web handler; pkg=http; cid=")
    # Opted out: no exception, the lines are kept.
    with LocalServer(tmp_path / "b", allow_server_errors=True) as srv:
        _provoke(srv)
    assert [line.split(";")[0] for line in srv.errors] == ["error: unhandled error in web handler"]


@pytest.mark.allow_server_errors
def test_error_lines_are_caught_whatever_the_log_level(tmp_path):
    from mox import mlog

    saved = mlog.levels()
    mlog.set_level("print")  # nothing of error level is printed
    try:
        with LocalServer(tmp_path / "a", allow_server_errors=True) as srv:
            _provoke(srv)
    finally:
        mlog.set_level(saved[""])
    assert len(srv.errors) == 1


SHARED = '''
import urllib.error
import urllib.request

import pytest

from mox.testing import LocalServer


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with LocalServer(tmp_path_factory.mktemp("shared") / "data") as srv:
        yield srv


async def broken(ctx, req):
    raise RuntimeError("a bug in the server")


def provoke(srv):
    srv.ctx.web.router.add("/test/broken", broken)
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{srv.ports['http']}/test/broken", timeout=10)
    except urllib.error.HTTPError as e:
        assert e.code == 500


def test_provokes(server):
    provoke(server)


def test_clean_after_it(server):
    with urllib.request.urlopen(f"http://127.0.0.1:{server.ports['http']}/readyz", timeout=10) as r:
        assert r.status == 200


@pytest.mark.allow_server_errors
def test_provokes_on_purpose(server):
    provoke(server)
'''


def test_our_harness_fails_the_test_during_which_a_shared_server_logged_an_error(tmp_path):
    (tmp_path / "test_shared.py").write_text(SHARED, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rE", "-p", "no:cacheprovider", "-p", "tests.conftest", "test_shared.py"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1].startswith("3 passed, 1 error"), proc.stdout
    assert "ERROR test_shared.py::test_provokes - Failed: mox server logged errors:" in proc.stdout, proc.stdout
