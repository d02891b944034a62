"""Paths from the web: static files and uploaded archives are checked with Windows' rules too
(mox.names), so /static/common/D:/secret.txt cannot reach another drive on Windows, and an
archive member cannot land outside the import folder."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from mox.web import router
from tests.web.test_account_admin import login


@pytest.fixture
def static_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The static root replaced by a directory with names a Windows server would resolve
    elsewhere (on Linux they are ordinary names, so only the check keeps them out)."""
    root = tmp_path / "static"
    (root / "common" / "D:").mkdir(parents=True)
    (root / "common" / "D:" / "secret.txt").write_text("secret on another drive", encoding="utf-8")
    (root / "common" / "con").write_text("the console device", encoding="utf-8")
    (root / "common" / "nul.txt").write_text("the null device", encoding="utf-8")
    (root / "common" / "x.txt:stream").write_text("an alternate data stream", encoding="utf-8")
    (root / "common" / "trail.").write_text("windows drops the dot", encoding="utf-8")
    (root / "common" / "ok.js").write_text("'use strict';", encoding="utf-8")
    monkeypatch.setattr(router, "_static_root", lambda: root)
    monkeypatch.setattr(router, "_static_cache", {})
    return root


def test_static_refuses_windows_special_paths(client: Any, static_root: Path) -> None:
    c = client()
    assert c.get("/static/common/ok.js").status == 200
    for path in (
        "/static/common/D:/secret.txt",
        "/static/common/D%3A/secret.txt",
        "/static/common/d:/secret.txt",
        "/static/common/con",
        "/static/common/CON",
        "/static/common/nul.txt",
        "/static/common/x.txt:stream",
        "/static/common/trail.",
        "/static/common/..%5Ccommon%5Cok.js",
    ):
        r = c.get(path)
        assert (r.status, r.json()["code"]) == (404, "user:notFound"), path


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_import_archive_member_names(server: Any, client: Any, tmp_path: Path) -> None:
    """Members with a drive, "..", a device name or a stream are skipped; a directory named as
    an export names it ("Work%3A2024") becomes the mailbox "Work:2024"."""
    import json
    import time

    c = client()
    csrf = login(c, "account")
    msg = b"From: a@example.org\r\nSubject: imported\r\n\r\nhi\r\n"
    data = _zip(
        {
            "Work%3A2024/cur/1.eml:2,S": msg,
            "Work%3A2024/new/.keep": b"",
            "C:/evil/cur/1.eml": msg,
            "../escape/cur/1.eml": msg,
            "a/con/cur/1.eml": msg,
            "b/x.mbox:stream": b"From x\n" + msg,
        }
    )
    body = (
        b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"m.zip\"\r\n"
        b"Content-Type: application/zip\r\n\r\n" + data + b"\r\n"
        b"--b\r\nContent-Disposition: form-data; name=\"mailbox\"\r\n\r\n\r\n--b--\r\n"
    )
    r = c.post("/account/import", body, headers={"Content-Type": "multipart/form-data; boundary=b", "x-mox-csrf": csrf})
    assert r.status == 200, r.body
    job = r.json()["id"]
    deadline = time.monotonic() + 20
    while True:
        state = json.loads(c.get(f"/account/importprogress/{job}").body.splitlines()[-1])
        if state.get("done"):
            break
        assert time.monotonic() < deadline, state
        time.sleep(0.05)
    assert state.get("error") is None, state
    acc = server.store.open_account("mox")
    try:
        names = {mb.name for mb in acc.mailboxes()}
        assert "Work:2024" in names
        assert not any("evil" in n or "escape" in n or "con" in n.split("/") for n in names), names
        mb = acc.mailbox("Work:2024")
        assert [acc.read_message(m) for m in acc.messages(mb.id)] == [msg]
    finally:
        acc.close()
    assert not (Path(server.dir).parent / "escape").exists()
