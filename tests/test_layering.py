"""The protocol layers are sans-IO (STYLE.md, docs/architecture.md): the parsers, state machines,
writers and checks of mox.imap, mox.smtp, mox.message and mox.dkim import neither trio nor the
store, and mox.message (the MIME layer under both protocols) imports neither protocol.

Every module of these packages is listed here as sans-IO or as a driver, so a new module must be
placed on one side (trio's test_exports.py is the precedent)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import mox

SANS_IO = {
    "mox.imap": [
        "mox.imap", "mox.imap.errors", "mox.imap.fetch", "mox.imap.grammar", "mox.imap.parse", "mox.imap.parse_fetch",
        "mox.imap.parse_search", "mox.imap.profiles",
        "mox.imap.protocol", "mox.imap.response_fetch", "mox.imap.response_parse", "mox.imap.response_reader",
        "mox.imap.response_write", "mox.imap.responses",
        "mox.imap.search", "mox.imap.types", "mox.imap.utf7", "mox.imap.wire",
        "mox.imap.sort", "mox.imap.thread", "mox.imap.contexts",
    ],
    "mox.smtp": [
        "mox.smtp", "mox.smtp.address", "mox.smtp.checks", "mox.smtp.codes", "mox.smtp.failsim", "mox.smtp.parse",
        "mox.smtp.protocol", "mox.smtp.received",
    ],
    "mox.message": [
        "mox.message", "mox.message.check", "mox.message.header", "mox.message.headerwriter", "mox.message.parse",
        "mox.message.moxjson", "mox.message.part", "mox.message.preview", "mox.message.sections", "mox.message.subject",
        "mox.message.thread",
    ],
    "mox.dkim": [
        "mox.dkim", "mox.dkim.authres", "mox.dkim.canon", "mox.dkim.core", "mox.dkim.dnsrecords", "mox.dkim.keys",
        "mox.dkim.local", "mox.dkim.record", "mox.dkim.sig",
    ],
}  # fmt: skip

# Modules that do I/O: the trio drivers and command handlers, and the blocking clients.
DRIVERS = {
    "mox.imap": [
        "mox.imap.client", "mox.imap.cmd_append", "mox.imap.cmd_auth", "mox.imap.cmd_copymove", "mox.imap.cmd_fetch",
        "mox.imap.cmd_idle", "mox.imap.cmd_mailbox", "mox.imap.cmd_search", "mox.imap.cmd_select",
        "mox.imap.cmd_store", "mox.imap.server", "mox.imap.session", "mox.imap.cmd_sort",
        "mox.imap.cmd_esearch", "mox.imap.cmd_metadata", "mox.imap.cmd_notify", "mox.imap.catenate", "mox.imap.compress",
    ],
    "mox.smtp": ["mox.smtp.client", "mox.smtp.deliver", "mox.smtp.server"],
    "mox.message": [],
    "mox.dkim": [],
}  # fmt: skip

# Imports each module in turn in a fresh interpreter and says, per module, what forbidden modules
# it brought in (a module is charged with what appeared while it was imported).
_PROBE = """
import importlib, json, sys
forbidden = tuple(sys.argv[2].split(","))
out = {}
for name in sys.argv[1].split(","):
    before = set(sys.modules)
    importlib.import_module(name)
    new = sorted(m for m in set(sys.modules) - before if any(m == f or m.startswith(f + ".") for f in forbidden))
    out[name] = new
print(json.dumps(out))
"""


def probe(modules: list[str], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    r = subprocess.run(
        [sys.executable, "-c", _PROBE, ",".join(modules), ",".join(forbidden)],
        capture_output=True, text=True, encoding="utf-8", timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("package", sorted(SANS_IO))
def test_sans_io_modules_import_neither_trio_nor_the_store(package: str) -> None:
    found = probe(SANS_IO[package], ("trio", "mox.store"))
    assert {m: v for m, v in found.items() if v} == {}
    assert list(found) == SANS_IO[package]


def test_message_layer_imports_no_protocol() -> None:
    found = probe(SANS_IO["mox.message"], ("trio", "mox.store", "mox.imap", "mox.smtp"))
    assert {m: v for m, v in found.items() if v} == {}


def test_imap_response_modules_open_no_sockets() -> None:
    # What a user of the response values and their parser and writer gets: no network at all.
    mods = [
        "mox.imap.wire", "mox.imap.responses", "mox.imap.response_reader", "mox.imap.response_fetch",
        "mox.imap.response_parse", "mox.imap.response_write",
    ]  # fmt: skip
    found = probe(mods, ("trio", "mox.store", "socket", "ssl"))
    assert {m: v for m, v in found.items() if v} == {}


def test_drivers_do_io() -> None:
    # The other side of the line is real: the drivers do bring in trio (the blocking clients
    # use plain sockets).
    found = probe(["mox.imap.server", "mox.smtp.server"], ("trio",))
    assert "trio" in found["mox.imap.server"]


@pytest.mark.parametrize("package", sorted(SANS_IO))
def test_every_module_is_placed(package: str) -> None:
    root = Path(mox.__file__).parent / package.split(".")[1]
    modules = {package if p.stem == "__init__" else f"{package}.{p.stem}" for p in root.glob("*.py")}
    assert modules == set(SANS_IO[package]) | set(DRIVERS[package])
    assert not set(SANS_IO[package]) & set(DRIVERS[package])
