"""The local queue: durable store, delivery with retries, DSNs; its ctl commands are in mox.queue.ctl."""

from mox.queue.dsn import RecipientStatus, compose_dsn
from mox.queue.errors import DeliveryError
from mox.queue.queue import Queue
from mox.queue.store import Entry, QueueStore

__all__ = ["DeliveryError", "Entry", "Queue", "QueueStore", "RecipientStatus", "compose_dsn"]
