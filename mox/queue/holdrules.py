"""Hold rules (mox queue.HoldRule): a message submitted to the queue that matches a rule is put
on hold instead of being delivered. Kept in ``<data>/queue/holdrules.json``, written to a
temporary file, fsynced and renamed, so a crash leaves the old or the new rules.

A rule has an account, a sender domain and a recipient domain, each optional; a message
matches when every field the rule sets matches (mox matches new messages when *any* set field
matches but existing ones when all do: here both use "all"). A rule with no field matches every
message.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from mox.store.layout import fsync_dir, remove_quietly, write_all

if TYPE_CHECKING:
    from mox.queue.queue import Queue


class HoldRule(msgspec.Struct, kw_only=True, frozen=True, rename="pascal"):
    id: int = msgspec.field(name="ID")
    account: str = ""
    sender_domain_str: str = ""  # lower case
    recipient_domain_str: str = ""

    def all(self) -> bool:
        return not (self.account or self.sender_domain_str or self.recipient_domain_str)

    def matches(self, account: str, mail_from: str, recipient: str) -> bool:
        def domain(addr: str) -> str:
            return addr.rpartition("@")[2].lower()

        return (
            (not self.account or self.account == account)
            and (not self.sender_domain_str or self.sender_domain_str == domain(mail_from))
            and (not self.recipient_domain_str or self.recipient_domain_str == domain(recipient))
        )

    def describe(self) -> str:
        """As mox lists a rule (ctl.go queueholdruleslist), with the recipient domain named as such."""
        elems = []
        if self.account:
            elems.append(f'account "{self.account}"')
        if self.sender_domain_str:
            elems.append(f'sender domain "{self.sender_domain_str}"')
        if self.recipient_domain_str:
            elems.append(f'recipient domain "{self.recipient_domain_str}"')
        return f"id {self.id}: " + (", ".join(elems) if elems else "all messages")


class _File(msgspec.Struct):
    next_id: int = 1
    rules: list[HoldRule] = []


class HoldRules:
    """The rules of one queue; synchronous (small file, rarely written)."""

    def __init__(self, queue_dir: Path, *, fsync: bool = True) -> None:
        self.path = Path(queue_dir) / "holdrules.json"
        self.fsync = fsync
        self._f = _File()
        if self.path.exists():
            self._f = msgspec.json.decode(self.path.read_bytes(), type=_File)

    def list(self) -> list[HoldRule]:
        return list(self._f.rules)

    def matches(self, account: str, mail_from: str, recipient: str) -> bool:
        return any(r.matches(account, mail_from, recipient) for r in self._f.rules)

    def add(self, account: str, sender_domain: str, recipient_domain: str) -> HoldRule:
        rule = HoldRule(
            id=self._f.next_id,
            account=account,
            sender_domain_str=sender_domain.lower().rstrip("."),
            recipient_domain_str=recipient_domain.lower().rstrip("."),
        )
        self._write(_File(next_id=rule.id + 1, rules=[*self._f.rules, rule]))
        return rule

    def remove(self, id: int) -> bool:
        rules = [r for r in self._f.rules if r.id != id]
        if len(rules) == len(self._f.rules):
            return False
        self._write(_File(next_id=self._f.next_id, rules=rules))
        return True

    def _write(self, f: _File) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            with open(tmp, "wb", buffering=0) as out:
                write_all(out, msgspec.json.encode(f) + b"\n", tmp)
                if self.fsync:
                    os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            remove_quietly(tmp)
            raise
        if self.fsync:
            fsync_dir(self.path.parent)
        self._f = f


class HoldRuleError(ValueError):
    """A rule that cannot be added or removed; the message says why (as mox's)."""


def parse_domain(s: str, what: str) -> str:
    """A rule's domain, lower case without a trailing dot ("" for any); HoldRuleError when it is
    not a domain name."""
    s = s.strip().lower().rstrip(".")
    if s and (any(c.isspace() or c in "@/\\;\",<>" for c in s) or ".." in s or s.startswith(".")):
        raise HoldRuleError(f"parsing {what} domain: invalid domain {s!r}")
    return s


async def add_rule(q: Queue, account: str, sender_domain: str, recipient_domain: str) -> tuple[HoldRule, int]:
    """Add a rule and put the queued messages it matches on hold (mox queue HoldRuleAdd), for the
    control channel and the admin page. Returns the rule and how many messages it held."""
    import trio

    sender = parse_domain(sender_domain, "sender")
    rcpt = parse_domain(recipient_domain, "recipient")
    if account and account not in q.ctx.config.accounts:
        raise HoldRuleError(f"add hold rule: unknown account {account!r}")
    rule = await trio.to_thread.run_sync(q.holdrules.add, account, sender, rcpt)
    sel = [msgspec.structs.replace(e, hold=True) for e in q.list() if not e.hold and rule.matches(e.account, e.mail_from, e.recipient)]
    await q.update(sel)
    q.log.info("hold rule added", rule=rule.describe(), held=len(sel))
    return rule, len(sel)


async def remove_rule(q: Queue, rule_id: int) -> None:
    """Remove a rule; messages on hold stay on hold (as mox)."""
    import trio

    if not await trio.to_thread.run_sync(q.holdrules.remove, rule_id):
        raise HoldRuleError("remove hold rule: not found")
    q.log.info("hold rule removed", id=rule_id)
