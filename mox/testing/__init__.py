"""Running mox in tests: what a user of mox imports in their own test suite.

- :class:`LocalServer` (:mod:`mox.testing.localserver`): the whole localserve in a background
  thread on free ports; :class:`ServerThread` runs any trio server that way.
- :class:`MoxServer` (:mod:`mox.testing.moxserver`): a LocalServer with helpers to send mail,
  wait for it in the Inbox, and use the test API (faults, per-address inboxes, transcripts).
- :mod:`mox.testing.pytest_plugin`: the ``mox_server`` fixture (entry point ``pytest11``); the
  only module here that needs pytest.
"""

from mox.testing.localserver import LocalServer, ServerErrors, ServerThread
from mox.testing.moxserver import AddressInbox, ApiError, Faults, Inbox, MoxServer, ReceivedMessage

__all__ = [
    "AddressInbox",
    "ApiError",
    "Faults",
    "Inbox",
    "LocalServer",
    "MoxServer",
    "ReceivedMessage",
    "ServerErrors",
    "ServerThread",
]
