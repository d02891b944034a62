"""Every control channel command, by name: the one table the server answers from.

Each handler is ``async def handler(ctx, conn)`` (see :mod:`mox.ctl`); the CLI commands that send
them live in ``mox/cli/`` (``mox stop``, ``mox queue list``, ``mox config account add``, ...).
"""

from __future__ import annotations

from mox.admin import cid, deliver, junk, provision, threads, transfer
from mox.auth import tlspubkey
from mox.ctl import server
from mox.ctl.server import Handler
from mox.queue import ctl as queue_ctl

COMMANDS: dict[str, Handler] = {
    # The server itself (mox.ctl.server).
    "stop": server.cmd_stop,
    "loglevels": server.cmd_loglevels,
    "setloglevels": server.cmd_setloglevels,
    # The delivery queue (mox.queue.ctl).
    "queuelist": queue_ctl.cmd_queuelist,
    "queueholdset": queue_ctl.cmd_queueholdset,
    "queueschedule": queue_ctl.cmd_queueschedule,
    "queuefail": queue_ctl.cmd_queuefail,
    "queuedrop": queue_ctl.cmd_queuedrop,
    "queuedump": queue_ctl.cmd_queuedump,
    "queueretiredlist": queue_ctl.cmd_queueretiredlist,
    "queueretiredprint": queue_ctl.cmd_queueretiredprint,
    "queueholdruleslist": queue_ctl.cmd_queueholdruleslist,
    "queueholdrulesadd": queue_ctl.cmd_queueholdrulesadd,
    "queueholdrulesremove": queue_ctl.cmd_queueholdrulesremove,
    # Webhooks and the suppression list (mox.queue.ctl).
    "queuehooklist": queue_ctl.cmd_queuehooklist,
    "queuehookschedule": queue_ctl.cmd_queuehookschedule,
    "queuehookcancel": queue_ctl.cmd_queuehookcancel,
    "queuehookprint": queue_ctl.cmd_queuehookprint,
    "queuehookretiredlist": queue_ctl.cmd_queuehookretiredlist,
    "queuehookretiredprint": queue_ctl.cmd_queuehookretiredprint,
    "queuesuppresslist": queue_ctl.cmd_queuesuppresslist,
    "queuesuppressadd": queue_ctl.cmd_queuesuppressadd,
    "queuesuppressremove": queue_ctl.cmd_queuesuppressremove,
    "queuesuppresslookup": queue_ctl.cmd_queuesuppresslookup,
    # Accounts and addresses (mox.admin.provision).
    "setaccountpassword": provision.cmd_setaccountpassword,
    "accountadd": provision.cmd_accountadd,
    "accountrm": provision.cmd_accountrm,
    "addressadd": provision.cmd_addressadd,
    "addressrm": provision.cmd_addressrm,
    "accountlist": provision.cmd_accountlist,
    "accountdisabled": provision.cmd_accountdisabled,
    # Domains and aliases (mox.admin.provision).
    "domainadd": provision.cmd_domainadd,
    "domainrm": provision.cmd_domainrm,
    "domaindisabled": provision.cmd_domaindisabled,
    "aliaslist": provision.cmd_aliaslist,
    "aliasprint": provision.cmd_aliasprint,
    "aliasadd": provision.cmd_aliasadd,
    "aliasupdate": provision.cmd_aliasupdate,
    "aliasrm": provision.cmd_aliasrm,
    "aliasaddaddr": provision.cmd_aliasaddaddr,
    "aliasrmaddr": provision.cmd_aliasrmaddr,
    # A message straight into an account (mox.admin.deliver).
    "deliver": deliver.cmd_deliver,
    # The log lines of one connection (mox.admin.cid).
    "cid": cid.cmd_cid,
    # Import, export and backup (mox.admin.transfer).
    "importmaildir": transfer.cmd_importmaildir,
    "importmbox": transfer.cmd_importmbox,
    "export": transfer.cmd_export,
    "backup": transfer.cmd_backup,
    # Threads (mox.admin.threads).
    "reassignthreads": threads.cmd_reassignthreads,
    # The junk filter (mox.admin.junk).
    "retrain": junk.cmd_retrain,
    # TLS public keys of client certificates (mox.auth.tlspubkey).
    "tlspubkeylist": tlspubkey.cmd_tlspubkeylist,
    "tlspubkeyget": tlspubkey.cmd_tlspubkeyget,
    "tlspubkeyadd": tlspubkey.cmd_tlspubkeyadd,
    "tlspubkeyrm": tlspubkey.cmd_tlspubkeyrm,
}
