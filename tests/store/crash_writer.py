"""Child process of test_crash.py: delivers a stream of messages with several concurrent writers
and prints one line per acknowledged write, until it is killed.

    python crash_writer.py DATA_DIR FIRST WRITERS

``A n uid`` means message n was delivered to Inbox with that uid; ``F n uid`` means \\Seen was
set on it. A line is printed only after the store returned, so it was durable by then.
"""

from __future__ import annotations

import sys

import trio

from mox.store import Store


def content(n: int) -> bytes:
    body = ("line %d " % n) * (1 + (n * 37) % 700)
    return f"From: crash@mox.example\r\nSubject: crash {n}\r\nX-N: {n}\r\n\r\n{body}\r\n".encode()


async def main(data_dir: str, first: int, writers: int) -> None:
    store = Store(data_dir, fsync=True, snapshot_threshold=16 << 10)
    acc = store.open_account("mox")
    inbox = acc.mailbox("Inbox").id
    out = sys.stdout

    async def writer(w: int) -> None:
        n = first + w
        while True:
            m = await acc.deliver("Inbox", content(n))
            out.write(f"A {n} {m.uid}\n")
            out.flush()
            if n % 3 == 0:
                await acc.store_flags(inbox, [m.uid], "add", [r"\Seen"])
                out.write(f"F {n} {m.uid}\n")
                out.flush()
            n += writers

    async with trio.open_nursery() as nursery:
        for w in range(writers):
            nursery.start_soon(writer, w)


if __name__ == "__main__":
    trio.run(main, sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
