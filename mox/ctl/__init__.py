"""The control channel: the CLI talks to a running mox over it (``mox stop``, ``mox loglevels``).

Transport: a unix domain socket ``<data>/ctl`` where the platform has AF_UNIX and the path is
short enough, else a listener on 127.0.0.1 with a free port. ``<data>/ctl.json`` (mode 0600) tells
clients which one: ``{"transport": "unix", "path": ...}`` or ``{"transport": "tcp", "port": N,
"token": "..."}``. Over TCP the client proves it may read the data dir by sending the token.

Protocol (mox's ``ctl.go``), every line ends in ``\\n``:

1. The server sends ``ctlv0``. Over TCP the client then sends ``token <token>`` and the server
   answers ``ok`` (or an error line and closes).
2. The client sends a command word on one line, then each parameter on its own line.
3. The server answers ``ok``, or one line of error text.
4. Streams (command output, messages) go as chunks: a line with the byte count, the bytes, then
   the receiver answers ``ok``. A ``0`` line ends the stream (not acknowledged).
5. The connection then takes the next command.

Modules: :mod:`mox.ctl.protocol` (framing and errors, both sides), :mod:`mox.ctl.server` (the
trio side), :mod:`mox.ctl.client` (blocking, for the CLI and tests) and :mod:`mox.ctl.commands`
(the table of every command: name -> ``async def handler(ctx, conn)``). A handler reads its
parameters with ``conn.read_line()``, writes ``ok`` itself, or raises ``CtlError(text)`` which is
sent as the error line.
"""

from mox.ctl.client import CtlClient, probe_running
from mox.ctl.protocol import BANNER, CtlError, CtlNotRunning, CtlProtocolError, ctl_paths

__all__ = ["BANNER", "CtlClient", "CtlError", "CtlNotRunning", "CtlProtocolError", "ctl_paths", "probe_running"]
