"""IDLE (authenticated state): RFC 2177 / RFC 9051 6.3.13.

``+ waiting``, then changes from other sessions are written as they happen, until the client
sends ``DONE``. Writes are shielded so a cancel never cuts a response in half.
"""

from __future__ import annotations

import trio

from .errors import BadCommand, Bye, ReadTimeout
from .responses import Continuation
from .session import Session
from .types import Command


async def cmd_idle(s: Session, cmd: Command) -> str:
    await s.conn.send(Continuation("waiting"))
    result: dict[str, object] = {}

    async with trio.open_nursery() as nursery:

        async def read_done() -> None:
            try:
                result["line"] = await s.conn.read_line()
            except ReadTimeout:
                result["timeout"] = True
            except Bye as e:
                result["bye"] = e.text
            except (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError) as e:
                result["broken"] = e  # raised after the nursery, not in an exception group
            nursery.cancel_scope.cancel()

        async def push_changes() -> None:
            try:
                while True:
                    with trio.CancelScope(shield=True):
                        s.apply_changes()
                        await s.remove_released_files()
                        out = s.take_output()
                        if out:
                            await s.conn.write(out)
                    if (bye := s.overflow_text()) is not None:
                        result["bye"] = bye  # fell too far behind other sessions' changes
                        nursery.cancel_scope.cancel()
                        return
                    if s.sub is None:
                        await trio.sleep_forever()
                    await s.sub.wait()
            except (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError) as e:
                result["broken"] = e
                nursery.cancel_scope.cancel()

        async def wait_shutdown() -> None:
            await s.ctx.shutting_down.wait()
            result["bye"] = "mox shutting down"
            nursery.cancel_scope.cancel()

        nursery.start_soon(read_done)
        nursery.start_soon(push_changes)
        nursery.start_soon(wait_shutdown)

    broken = result.get("broken")
    if isinstance(broken, BaseException):
        raise broken  # the connection is gone (handle_connection)
    if "timeout" in result:
        raise Bye("inactive, closing connection")
    if "bye" in result:
        raise Bye(str(result["bye"]))
    line = result.get("line")
    if not isinstance(line, bytes) or line.upper() != b"DONE":
        raise BadCommand("expected DONE to end IDLE")
    return "IDLE done"
