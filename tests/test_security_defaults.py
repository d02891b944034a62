"""The defaults README's security notes start from: localserve listens on loopback only, and
every account, admin and shared password it starts with is the documented one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mox import localserve


def test_new_localserve_config_listens_on_loopback_only(tmp_path: Path) -> None:
    d = tmp_path / "ls"
    localserve.write_localserve_config(d)
    config = localserve.load_localserve_config(d)
    assert config.ips == ["127.0.0.1", "::1"]
    assert config.localserve and config.hostname == "localhost"


def _listening(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on ``port`` (Linux /proc/net/tcp and tcp6)."""
    import ipaddress

    out = set()
    for name, v6 in (("tcp", False), ("tcp6", True)):
        try:
            lines = Path(f"/proc/net/{name}").read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            addr_hex, port_hex = fields[1].split(":")
            if int(port_hex, 16) != port or fields[3] != "0A":  # 0A: LISTEN
                continue
            raw = bytes.fromhex(addr_hex)
            if v6:
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
            else:
                raw = raw[::-1]
            out.add(str(ipaddress.ip_address(raw)))
    return out


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads the listening sockets from Linux's /proc")
def test_running_localserve_listens_on_loopback_only(mox_process: Any) -> None:
    p = mox_process("localserve", "-ephemeral", "-port-base", "0")
    info = p.wait_ready()
    for service in ("smtp", "submission", "submissions", "imap", "imaps", "http", "https"):
        got = _listening(info[service])
        assert got and got <= {"127.0.0.1", "::1"}, (service, got)
