"""The control channel's framing, shared by both sides (the protocol is described in
:mod:`mox.ctl`): lines end in ``\\n`` and are at most MAX_LINE bytes, streams go in chunks of at
most CHUNK bytes."""


from __future__ import annotations

from pathlib import Path

BANNER = "ctlv0"
MAX_LINE = 1024 * 1024
CHUNK = 64 * 1024


class CtlError(Exception):
    """A command failed; the text is what the other side sees."""


class CtlNotRunning(CtlError):
    """No mox is listening on the control channel of that data dir."""


class CtlProtocolError(CtlError):
    """The other side broke the ctl protocol (or closed the connection early)."""


def ctl_paths(data_dir: Path) -> tuple[Path, Path]:
    """(unix socket path, ctl.json path) for a data dir."""
    d = Path(data_dir)
    return d / "ctl", d / "ctl.json"


def take_line(buf: bytearray) -> str | None:
    """Remove and return the first complete line of ``buf`` (without its newline), or None when
    none is complete yet; a line longer than MAX_LINE is a protocol error."""
    i = buf.find(b"\n")
    if i >= 0:
        line = bytes(buf[:i])
        del buf[: i + 1]
        return line.decode("utf-8", "replace")
    if len(buf) > MAX_LINE:
        raise CtlProtocolError("line too long")
    return None


