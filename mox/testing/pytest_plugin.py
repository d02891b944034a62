"""pytest plugin: a real mail server for your tests (fixture ``mox_server``).

Installed with mox (entry point ``pytest11``, distribution ``mox-mail``), so the fixture is there
as soon as mox is::

    def test_welcome_mail(mox_server):
        signup("alice@example.org", smtp=mox_server.smtp_address,
               login=(mox_server.address, mox_server.password))
        msg = mox_server.inbox.wait_for(to="alice@example.org", subject="Welcome", timeout=10)
        assert "alice" in msg.text

``mox_server`` is a :class:`mox.testing.MoxServer` with a throwaway data dir under pytest's
``tmp_path``. This module needs pytest (pytest is what loads it); ``mox.testing`` itself does not.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from mox.testing.moxserver import MoxServer


def pytest_configure(config: Any) -> None:
    config.addinivalue_line(
        "markers", "mox(**settings): test and CI settings for the mox_server fixture "
        "(imap_profile, deterministic, preload, export_on_exit, shared_password, allow_server_errors)"
    )


@pytest.fixture
def mox_server(tmp_path: Path, request: Any) -> Iterator[MoxServer]:
    """A running mox localserve on free 127.0.0.1 ports with a fresh data dir (see MoxServer).
    ``@pytest.mark.mox(imap_profile="minimal-rev1", ...)`` passes test and CI settings. The
    test errors at teardown when the server logged an error line while it ran (an unhandled
    exception, a server bug); ``@pytest.mark.mox(allow_server_errors=True)`` lets it pass."""
    marker = request.node.get_closest_marker("mox")
    settings = dict(marker.kwargs) if marker is not None else {}
    with MoxServer.open(tmp_path / "mox", **settings) as srv:
        request.node._mox_server = srv
        yield srv


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Generator[None, Any, None]:
    """A failing test that used mox_server gets the SMTP/IMAP session transcripts of its
    server in its report (section "mox session transcripts")."""
    outcome = yield
    report = outcome.get_result()
    srv = getattr(item, "_mox_server", None)
    if srv is None or not report.failed or report.when not in ("call", "setup"):
        return
    try:
        texts = [srv.transcript(t["cid"]) for t in srv.transcripts()]
    except Exception as e:  # the server may be gone; never hide the real failure
        texts = [f"(transcripts unavailable: {e})"]
    if texts:
        report.sections.append(("mox session transcripts", "\n".join(texts)))
