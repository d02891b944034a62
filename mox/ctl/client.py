"""The control channel, client side: blocking sockets, for the CLI and tests (the protocol is
described in :mod:`mox.ctl`)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from mox.ctl.protocol import BANNER, CHUNK, CtlError, CtlNotRunning, CtlProtocolError, ctl_paths, take_line


class CtlClient:
    """A connection to a running mox's control channel.

    ``call(command, *lines)`` sends the command and parameters and returns [] on ``ok``; with
    ``stream=True`` it then reads a stream and returns its text lines. An error line raises
    CtlError with the server's text. Raises CtlNotRunning when no mox serves data_dir.
    """

    def __init__(self, data_dir: Path | str, *, timeout: float | None = None) -> None:
        self.data_dir = Path(data_dir)
        sock_path, json_path = ctl_paths(self.data_dir)
        self._buf = bytearray()
        not_running = CtlNotRunning(f"mox is not running (no control channel at {sock_path})")
        try:
            info = json.loads(json_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            if sock_path.exists() and hasattr(socket, "AF_UNIX"):
                info = {"transport": "unix", "path": str(sock_path)}
            else:
                raise not_running from None
        try:
            if info.get("transport") == "unix":
                if not hasattr(socket, "AF_UNIX"):
                    raise not_running
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self._sock.settimeout(timeout)
                self._sock.connect(str(info.get("path") or sock_path))
            else:
                not_running = CtlNotRunning(
                    f"mox is not running (no control channel at 127.0.0.1:{info.get('port')}, from {json_path})"
                )
                self._sock = socket.create_connection(("127.0.0.1", int(info["port"])), timeout=timeout)
        except CtlNotRunning:
            raise
        except (OSError, KeyError, ValueError, TypeError):
            raise not_running from None
        try:
            banner = self.read_line()
            if banner != BANNER:
                raise CtlProtocolError("ctl protocol mismatch")
            if info.get("transport") != "unix":
                self.write_line(f"token {info.get('token', '')}")
                resp = self.read_line()
                if resp != "ok":
                    raise CtlError(resp)
        except CtlProtocolError as e:
            self.close()
            if str(e) == "connection closed":
                raise not_running from None
            raise
        except (OSError, CtlError):
            self.close()
            raise

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass

    def __enter__(self) -> CtlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fill(self) -> bool:
        try:
            data = self._sock.recv(CHUNK)
        except ConnectionResetError:
            return False
        if not data:
            return False
        self._buf += data
        return True

    def read_line(self) -> str:
        while True:
            line = take_line(self._buf)
            if line is not None:
                return line
            if not self._fill():
                raise CtlProtocolError("connection closed")

    def write_line(self, line: str) -> None:
        if "\n" in line:
            raise ValueError("ctl line contains a newline")
        self._sock.sendall(line.encode("utf-8") + b"\n")

    def write_stream(self, data: bytes) -> None:
        for i in range(0, len(data), CHUNK):
            chunk = data[i : i + CHUNK]
            self._sock.sendall(b"%d\n" % len(chunk) + chunk)
            resp = self.read_line()
            if resp != "ok":
                raise CtlError(resp)
        self.write_line("0")

    def read_stream(self) -> bytes:
        out = bytearray()
        while True:
            line = self.read_line()
            try:
                n = int(line)
            except ValueError:
                raise CtlProtocolError(f"bad chunk size {line!r}") from None
            if n <= 0:
                return bytes(out)
            while len(self._buf) < n:
                if not self._fill():
                    raise CtlProtocolError("connection closed")
            out += self._buf[:n]
            del self._buf[:n]
            self.write_line("ok")

    def call(self, command: str, *lines: str, stream: bool = False) -> list[str]:
        self.write_line(command)
        for line in lines:
            self.write_line(line)
        resp = self.read_line()
        if resp != "ok":
            raise CtlError(resp)
        if not stream:
            return []
        return self.read_stream().decode("utf-8", "replace").splitlines()

    def wait_closed(self) -> None:
        """Block until the server closes the connection (``stop`` uses it)."""
        while self._fill():
            self._buf.clear()


def probe_running(data_dir: Path) -> bool:
    """Whether a mox answers on the control channel of data_dir."""
    try:
        c = CtlClient(data_dir, timeout=2.0)
    except (CtlError, OSError):  # OSError: e.g. the stale port now belongs to something silent
        return False
    c.close()
    return True
