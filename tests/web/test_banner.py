"""The localserve banner's web lines (mox ``localserve.go``): every interface on both ports, and the
webapi lines say "webapi" (mox prints "webmail" there: a copy/paste slip we do not repeat)."""

from __future__ import annotations

from pathlib import Path

from mox import localserve


def test_banner_web_lines(tmp_path: Path) -> None:
    config = localserve.config_for_tests(tmp_path / "data")
    ports = {"smtp": 1025, "http": 1080, "https": 1443}
    text = localserve.banner(config, ports, new=True, ports_note="")
    lines = [line for line in text.splitlines() if "://localhost:1" in line and "/" in line.split("://", 1)[1]]
    web = [" ".join(line.split()) for line in lines if ":1080/" in line or ":1443/" in line]
    assert web == [
        "https://localhost:1443/account/ - account https (email mox@localhost, password moxmoxmox)",
        "http://localhost:1080/account/ - account http (without tls)",
        "https://localhost:1443/webmail/ - webmail https (email mox@localhost, password moxmoxmox)",
        "http://localhost:1080/webmail/ - webmail http (without tls)",
        "https://localhost:1443/webapi/ - webapi https (email mox@localhost, password moxmoxmox)",
        "http://localhost:1080/webapi/ - webapi http (without tls)",
        "https://localhost:1443/admin/ - admin https (password moxadmin)",
        "http://localhost:1080/admin/ - admin http (without tls)",
    ]
    assert "not part of this version" not in text
    # Without HTTP ports the banner says the web interfaces are absent.
    assert "the web interfaces (account, webmail, webapi, admin) are not part of this version yet" in localserve.banner(
        config, {"smtp": 1025}, new=True, ports_note=""
    )
