"""The local queue: durable store, delivery with retries, DSNs and its ctl commands."""

from mox.queue import ctl as _ctl  # noqa: F401  (registers queuelist/queuedrop/queuefail)
from mox.queue.dsn import RecipientStatus, compose_dsn
from mox.queue.queue import DeliveryError, Queue
from mox.queue.store import Entry, QueueStore

__all__ = ["DeliveryError", "Entry", "Queue", "QueueStore", "RecipientStatus", "compose_dsn"]
