"""A submission's copy in the sender's Sent mailbox, stored after the ``250``.

The queue entries of a submission are the durable record of the message before the ``250``;
in the same journal append the queue records a :class:`~mox.queue.store.SentCopy`, the promise
of the Sent copy (docs/durability.md). The copy itself is written afterwards by :class:`SentCopies`
(part of the queue's ``serve``): everything pending is taken at once and stored concurrently, so
the copies of concurrent submissions share the account's journal fsync, directory fsync and junk
filter save (group commit, mox.store.commit), and their records are removed in one queue append.

Exactly once: each copy is stored with the delivery key ``<queue key of its first entry>-sent``,
which the account records in the transaction that adds the copy. A restart (after ``kill -9``)
finds the records whose removal never became durable and stores their copies: a copy stored
before the crash is skipped by its key (never twice), one not stored yet is stored now (never
lost). The queue file stays until the copy is stored, also when the entries are delivered first.

A failure to store the copy is only logged (the message itself is queued; mox's submission keeps
no Sent copy at all); a full disk is retried every ``DISK_FULL_RETRY`` seconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from mox import mlog
from mox.queue.store import Changes, SentCopy
from mox.store import DiskFull

if TYPE_CHECKING:
    from mox.queue.queue import Queue

#: Seconds between attempts while the disk is full.
DISK_FULL_RETRY = 1.0
#: The messages of pending copies are kept in memory up to this many bytes in all (the copy is
#: then stored without reading the queue file back); beyond it, and after a restart, the file is read.
MEMORY_MAX = 16 * 1024 * 1024


class SentCopies:
    """Stores the pending Sent copies of a Queue."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue
        self.log = mlog.get_logger("queue")
        self._wake = trio.Event()
        self._inflight: set[int] = set()
        self._waiters: dict[int, trio.Event] = {}
        self._data: dict[int, bytes] = {}  # copy id -> the queue file's content, see MEMORY_MAX
        self._data_size = 0

    def keep(self, copy: SentCopy, data: bytes) -> None:
        """The queue file's content of a copy just promised, so storing it reads no file (unless
        the writer took the copy already)."""
        pending = copy.id in self.queue.store.sent_copies and copy.id not in self._inflight
        if pending and self._data_size + len(data) <= MEMORY_MAX:
            self._data[copy.id] = data
            self._data_size += len(data)

    def key(self, copy: SentCopy) -> str:
        return f"queue-{self.queue.store.token}-{copy.id}-sent"

    def wake(self) -> None:
        self._wake.set()

    async def wait(self, copy_id: int) -> None:
        """Until the copy ``copy_id`` is stored (or given up); for callers that answer only
        after it (the web interfaces). Wakes the writer."""
        if copy_id not in self.queue.store.sent_copies:
            return
        ev = self._waiters.setdefault(copy_id, trio.Event())
        self._wake.set()
        await ev.wait()

    async def wait_all(self) -> None:
        """Until every copy promised so far is stored (or given up)."""
        for copy_id in sorted(self.queue.store.sent_copies):
            await self.wait(copy_id)

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Store pending copies until cancelled: at start the ones a previous run left."""
        async with trio.open_nursery() as nursery:
            task_status.started()
            while True:
                self._wake = trio.Event()
                todo = [c for c in self.queue.store.sent_copies.values() if c.id not in self._inflight]
                if todo:
                    self._inflight.update(c.id for c in todo)
                    nursery.start_soon(self._store_batch, todo)
                await self._wake.wait()

    async def _store_batch(self, copies: list[SentCopy]) -> None:
        mlog.start_connection()  # the batch's log lines have their own id
        done: list[int] = []
        retry: list[int] = []
        try:
            # The batch's files (those not in memory) in one worker-thread hop.
            files: dict[str, bytes | OSError] = {c.file: self._data[c.id] for c in copies if c.id in self._data}
            unread = [c for c in copies if c.file not in files]
            if unread:
                files.update(await trio.to_thread.run_sync(self._read_files, unread))
            async with trio.open_nursery() as nursery:
                for c in copies:
                    nursery.start_soon(self._store_one, c, files.get(c.file), done, retry)
            if done:
                # No fsync of its own: a record a crash of the machine brings back is stored
                # again, which its key makes a no-op (mox.queue.store).
                await self.queue.commit(Changes(sent_copies_done=done), sync=False)
        finally:
            self._inflight.difference_update(c.id for c in copies)
            for i in done:
                data = self._data.pop(i, None)
                if data is not None:
                    self._data_size -= len(data)
                ev = self._waiters.pop(i, None)
                if ev is not None:
                    ev.set()
        if retry:
            await trio.sleep(DISK_FULL_RETRY)
            self._wake.set()

    def _read_files(self, copies: list[SentCopy]) -> dict[str, bytes | OSError]:
        out: dict[str, bytes | OSError] = {}
        for c in copies:
            try:
                out[c.file] = self.queue.store.read_file(c.file)
            except OSError as e:
                out[c.file] = e
        return out

    async def _store_one(self, c: SentCopy, file: bytes | OSError | None, done: list[int], retry: list[int]) -> None:
        from mox.delivery.deliver import deliver_to_store

        ctx = self.queue.ctx
        try:
            acc = ctx.store.open_account(c.account)
            try:
                has_sent = acc.mailbox("Sent") is not None
            finally:
                acc.close()
            if has_sent:
                if not isinstance(file, bytes):
                    raise file or OSError(f"queue file {c.file} not read")
                data = c.prefix + file
                await deliver_to_store(ctx, c.account, "Sent", data, flags=("\\Seen",), key=self.key(c), session=c.session)
        except DiskFull as e:
            self.log.warn("storing copy in sent mailbox: disk full, will retry", account=c.account, err=str(e))
            retry.append(c.id)
            return
        except Exception as e:  # the message is queued; a missing Sent copy is only logged
            self.log.unexpected("storing copy in sent mailbox", e, account=c.account)
        done.append(c.id)
