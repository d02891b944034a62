"""The store's per-account junk settings from the config (mox.store.junk.AccountSettings),
compiled once per config object (the admin page replaces ``ctx.config`` on changes)."""

from __future__ import annotations

import re
import threading
from typing import Any

from mox.config import AccountConfig, Config
from mox.junk import Params
from mox.store.junk import AccountSettings
from mox.context import ServerContext

# The settings of the config seen last (a new config object means the config changed).
_cache: list[Any] = [None, {}]
_lock = threading.Lock()


def filter_params(acc: AccountConfig) -> Params | None:
    jf = acc.junk_filter
    if jf is None:
        return None
    return Params(
        onegrams=jf.onegrams, twograms=jf.twograms, threegrams=jf.threegrams, max_power=jf.max_power,
        top_words=jf.top_words, ignore_words=jf.ignore_words, rare_words=jf.rare_words,
    )  # fmt: skip


def _settings(acc: AccountConfig) -> AccountSettings | None:
    ajf = acc.automatic_junk_flags
    params = filter_params(acc)
    if not ajf.enabled and params is None:
        return None

    def rx(s: str) -> re.Pattern[str] | None:
        return re.compile(s) if s else None

    return AccountSettings(
        ajf.enabled, rx(ajf.junk_mailbox_regexp), rx(ajf.neutral_mailbox_regexp), rx(ajf.not_junk_mailbox_regexp), params
    )


def account_settings(config: Config, account: str) -> AccountSettings | None:
    with _lock:
        if _cache[0] is not config:
            _cache[:] = [config, {}]
        per = _cache[1]
        if account not in per:
            acc = config.accounts.get(account)
            per[account] = _settings(acc) if acc is not None else None
        return per[account]


def store_settings(ctx: ServerContext):
    """The function for ``Store.settings``: reads ``ctx.config`` at each call."""
    return lambda account: account_settings(ctx.config, account)
