"""Every control channel command, by name: the one table the server answers from.

Each handler is ``async def handler(ctx, conn)`` (see :mod:`mox.ctl`); the CLI commands that send
them live in ``mox/cli/`` (``mox stop``, ``mox queue list``, ``mox config account add``, ...).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping

from mox.ctl.server import Handler


class Commands(MutableMapping[str, Handler]):
    """name -> handler, from a table of name -> (module, function): a handler's module is imported
    when the command is first called (the server's start does not import the admin modules); a
    module that fails to import fails that command with its traceback in the log. Handlers set
    by name (tests) take the place of the table's."""

    def __init__(self, table: dict[str, tuple[str, str]]) -> None:
        self._table = dict(table)
        self._handlers: dict[str, Handler] = {}

    def __getitem__(self, name: str) -> Handler:
        handler = self._handlers.get(name)
        if handler is None:
            module, function = self._table[name]
            handler = getattr(importlib.import_module(module), function)
            self._handlers[name] = handler
        return handler

    def __setitem__(self, name: str, handler: Handler) -> None:
        self._handlers[name] = handler

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise KeyError(name)
        self._handlers.pop(name, None)
        self._table.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._handlers or name in self._table

    def __iter__(self) -> Iterator[str]:
        return iter({**self._table, **self._handlers})

    def __len__(self) -> int:
        return len({**self._table, **self._handlers})


_TABLE: dict[str, tuple[str, str]] = {
    # The server itself (mox.ctl.server).
    "stop": ("mox.ctl.server", "cmd_stop"),
    "loglevels": ("mox.ctl.server", "cmd_loglevels"),
    "setloglevels": ("mox.ctl.server", "cmd_setloglevels"),
    # The delivery queue (mox.queue.ctl).
    "queuelist": ("mox.queue.ctl", "cmd_queuelist"),
    "queueholdset": ("mox.queue.ctl", "cmd_queueholdset"),
    "queueschedule": ("mox.queue.ctl", "cmd_queueschedule"),
    "queuefail": ("mox.queue.ctl", "cmd_queuefail"),
    "queuedrop": ("mox.queue.ctl", "cmd_queuedrop"),
    "queuedump": ("mox.queue.ctl", "cmd_queuedump"),
    "queueretiredlist": ("mox.queue.ctl", "cmd_queueretiredlist"),
    "queueretiredprint": ("mox.queue.ctl", "cmd_queueretiredprint"),
    "queueholdruleslist": ("mox.queue.ctl", "cmd_queueholdruleslist"),
    "queueholdrulesadd": ("mox.queue.ctl", "cmd_queueholdrulesadd"),
    "queueholdrulesremove": ("mox.queue.ctl", "cmd_queueholdrulesremove"),
    # Webhooks and the suppression list (mox.queue.ctl).
    "queuehooklist": ("mox.queue.ctl", "cmd_queuehooklist"),
    "queuehookschedule": ("mox.queue.ctl", "cmd_queuehookschedule"),
    "queuehookcancel": ("mox.queue.ctl", "cmd_queuehookcancel"),
    "queuehookprint": ("mox.queue.ctl", "cmd_queuehookprint"),
    "queuehookretiredlist": ("mox.queue.ctl", "cmd_queuehookretiredlist"),
    "queuehookretiredprint": ("mox.queue.ctl", "cmd_queuehookretiredprint"),
    "queuesuppresslist": ("mox.queue.ctl", "cmd_queuesuppresslist"),
    "queuesuppressadd": ("mox.queue.ctl", "cmd_queuesuppressadd"),
    "queuesuppressremove": ("mox.queue.ctl", "cmd_queuesuppressremove"),
    "queuesuppresslookup": ("mox.queue.ctl", "cmd_queuesuppresslookup"),
    # Accounts and addresses (mox.admin.provision).
    "setaccountpassword": ("mox.admin.provision", "cmd_setaccountpassword"),
    "accountadd": ("mox.admin.provision", "cmd_accountadd"),
    "accountrm": ("mox.admin.provision", "cmd_accountrm"),
    "addressadd": ("mox.admin.provision", "cmd_addressadd"),
    "addressrm": ("mox.admin.provision", "cmd_addressrm"),
    "accountlist": ("mox.admin.provision", "cmd_accountlist"),
    "accountdisabled": ("mox.admin.provision", "cmd_accountdisabled"),
    # Domains and aliases (mox.admin.provision).
    "domainadd": ("mox.admin.provision", "cmd_domainadd"),
    "domainrm": ("mox.admin.provision", "cmd_domainrm"),
    "domaindisabled": ("mox.admin.provision", "cmd_domaindisabled"),
    "aliaslist": ("mox.admin.provision", "cmd_aliaslist"),
    "aliasprint": ("mox.admin.provision", "cmd_aliasprint"),
    "aliasadd": ("mox.admin.provision", "cmd_aliasadd"),
    "aliasupdate": ("mox.admin.provision", "cmd_aliasupdate"),
    "aliasrm": ("mox.admin.provision", "cmd_aliasrm"),
    "aliasaddaddr": ("mox.admin.provision", "cmd_aliasaddaddr"),
    "aliasrmaddr": ("mox.admin.provision", "cmd_aliasrmaddr"),
    # A message straight into an account (mox.admin.deliver).
    "deliver": ("mox.admin.deliver", "cmd_deliver"),
    # The log lines of one connection (mox.admin.cid).
    "cid": ("mox.admin.cid", "cmd_cid"),
    # Import, export and backup (mox.admin.transfer).
    "importmaildir": ("mox.admin.transfer", "cmd_importmaildir"),
    "importmbox": ("mox.admin.transfer", "cmd_importmbox"),
    "export": ("mox.admin.transfer", "cmd_export"),
    "backup": ("mox.admin.transfer", "cmd_backup"),
    # Threads (mox.admin.threads).
    "reassignthreads": ("mox.admin.threads", "cmd_reassignthreads"),
    # The junk filter (mox.admin.junk).
    "retrain": ("mox.admin.junk", "cmd_retrain"),
    # TLS public keys of client certificates (mox.auth.tlspubkey).
    "tlspubkeylist": ("mox.auth.tlspubkey", "cmd_tlspubkeylist"),
    "tlspubkeyget": ("mox.auth.tlspubkey", "cmd_tlspubkeyget"),
    "tlspubkeyadd": ("mox.auth.tlspubkey", "cmd_tlspubkeyadd"),
    "tlspubkeyrm": ("mox.auth.tlspubkey", "cmd_tlspubkeyrm"),
}

COMMANDS: Commands = Commands(_TABLE)
