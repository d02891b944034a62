"""Per-account webmail settings (mox's store.Settings: signature, quoting, show HTML, ...), kept
as ``settings.json`` in the account directory: written durably (temporary file, fsync,
rename), read on each use. The webmail's SettingsSave and the account page change them."""

from __future__ import annotations

import threading
from pathlib import Path

import msgspec

from mox.store import layout

SETTINGS_NAME = "settings.json"
QUOTING = ("default", "bottom", "top")
MAX_SIGNATURE = 16 * 1024


class Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    """mox's store.Settings, the fields the webmail uses."""

    signature: str = ""
    #: Reply quoting: "default" and "bottom" put the reply below the quoted text, "top" above.
    quoting: str = "default"
    #: Open HTML messages as HTML when they have a text part too.
    show_html: bool = False
    #: Hide the keyboard shortcuts hints.
    no_show_shortcuts: bool = False
    #: Header fields shown above a message beside From/To/Cc/Date.
    show_headers: list[str] = []

    def check(self) -> str | None:
        """Why these settings are refused, or None."""
        if self.quoting not in QUOTING:
            return f"quoting must be one of {', '.join(QUOTING)}"
        if len(self.signature.encode("utf-8")) > MAX_SIGNATURE:
            return f"signature larger than {MAX_SIGNATURE} bytes"
        if len(self.show_headers) > 50 or any(not h or len(h) > 100 or ":" in h for h in self.show_headers):
            return "show_headers: at most 50 header names without ':'"
        return None


_lock = threading.Lock()


def load(account_dir: Path) -> Settings:
    """The account's settings; the defaults when none were saved (or the file is damaged)."""
    try:
        data = (account_dir / SETTINGS_NAME).read_bytes()
    except FileNotFoundError:
        return Settings()
    try:
        return msgspec.json.decode(data, type=Settings)
    except msgspec.DecodeError:
        return Settings()


def save(account_dir: Path, settings: Settings, *, fsync: bool = True) -> None:
    """Replace the account's settings durably (blocking: fsyncs)."""
    with _lock:
        path = account_dir / SETTINGS_NAME
        layout.write_file_durable(path, path.with_suffix(".json.tmp"), msgspec.json.encode(settings), fsync=fsync)
