"""Names and paths are checked for POSIX and Windows on every platform (mox.names): account and
mailbox names, static file paths, archive members and exports never reach outside their
directory, another drive, an alternate data stream or a device, whatever the server runs on.
The Windows reading of each path is checked with PureWindowsPath."""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mox import names
from mox.admin import transfer
from mox.store import InvalidMailboxName, Store, StoreError

DEVICE_NAMES = [
    "CON", "con", "Con.txt", "PRN", "aux.eml", "NUL", "nul.tar.gz", "COM1", "com9.x", "LPT1", "lpt0",
    "COM\u00b9", "lpt\u00b2.txt", "CONIN$", "conout$.log", "NUL ", "nul .txt", "COM1 .eml",
]
BAD_FILE_NAMES = [
    "", ".", "..", "a/b", "a\\b", "D:", "C:x", "a:b", "file.txt:stream", "a<b", "a>b", 'a"b', "a|b",
    "a?b", "a*b", "x\x00y", "x\ny", "tab\there", "del\x7f", "dot.", "space ", "dots...", "x" * 256,
] + DEVICE_NAMES
GOOD_FILE_NAMES = ["Inbox", "a.b", ".hidden", "con-artist", "CONSOLE", "com10", "lpt", "nulls.txt", "ü€", "a b"]


def windows_stays_inside(base: str, parts: tuple[str, ...]) -> bool:
    b = PureWindowsPath(base)
    p = b.joinpath(*parts)
    return p.drive == b.drive and p.is_relative_to(b) and len(p.parts) == len(b.parts) + len(parts)


@pytest.mark.parametrize("name", BAD_FILE_NAMES)
def test_bad_file_names_refused(name):
    assert names.file_name_problem(name) is not None
    with pytest.raises(names.InvalidName):
        names.check_file_name(name)
    with pytest.raises(names.InvalidName):
        names.join_inside(Path("base"), "ok", name)


@pytest.mark.parametrize("name", GOOD_FILE_NAMES)
def test_good_file_names(name):
    assert names.check_file_name(name) == name
    assert windows_stays_inside("C:/data", (name,))
    assert PurePosixPath(name).parts == (name,)


@pytest.mark.parametrize("name", DEVICE_NAMES)
def test_device_names(name):
    assert names.is_device_name(name)
    assert names.account_name_problem(name) is not None


def test_naive_windows_join_escapes_and_ours_does_not():
    # What the checks are for: on Windows, joining "D:" switches drive, "con" is the console.
    assert str(PureWindowsPath("C:/mox/static/common") / "D:" / "secret.txt") == "D:secret.txt"
    assert PureWindowsPath("C:/mox/static") / "\\" / "x" == PureWindowsPath("C:/x")
    for rel in ("D:/secret.txt", "..\\..\\x", "con", "a/b:stream", "nul.txt/x", "x/"):
        assert names.static_parts(rel) is None, rel
    assert names.static_parts("dom.js") == ("dom.js",)
    assert names.static_parts("sub/file.css") == ("sub", "file.css")


@pytest.mark.parametrize(
    "member,want",
    [
        ("Inbox/cur/1.eml", ("Inbox", "cur", "1.eml")),
        ("./a//b\\c", ("a", "b", "c")),
        ("/etc/passwd", None),
        ("\\windows\\system32", None),
        ("C:\\evil.txt", None),
        ("C:evil.txt", None),
        ("../x", None),
        ("a/../../x", None),
        ("a\\..\\x", None),
        ("a/con/b", None),
        ("a/NUL.eml", None),
        ("a/b:stream", None),
        ("a/trailing./b", None),
        ("", None),
    ],
)
def test_archive_member_names(member, want):
    assert names.member_parts(member) == want
    if want is not None:
        assert windows_stays_inside("C:/import", want)


@given(st.text(min_size=1, max_size=40))
@settings(max_examples=300, deadline=None)
def test_file_name_for_is_valid_everywhere_and_reversible(text):
    f = names.file_name_for(text)
    assert names.file_name_problem(f) is None
    assert names.name_from_file(f) == text
    assert windows_stays_inside("C:/export", (f,))
    assert PurePosixPath("/export", f).parent == PurePosixPath("/export")


@given(st.text(min_size=1, max_size=20))
@settings(max_examples=300, deadline=None)
def test_accepted_names_are_one_component_on_both_platforms(text):
    if names.file_name_problem(text) is None:
        assert PureWindowsPath(text).parts == (text,)
        assert not PureWindowsPath(text).drive and not PureWindowsPath(text).anchor
        assert PurePosixPath(text).parts == (text,)
        assert not names.is_device_name(text)


@pytest.mark.parametrize(
    "mailbox", ["a\\b", "C:stuff", "Archive/D:", "con", "Archive/NUL.txt", "lpt1 .x", "x/com\u00b2"]
)
def test_mailbox_names_refused(tmp_path, mailbox):
    with Store(tmp_path / "data", fsync=False) as store:
        store.create_account("acc")
        acc = store.open_account("acc")
        try:
            with pytest.raises(InvalidMailboxName):
                acc.create_mailbox_sync(mailbox)
            acc.create_mailbox_sync("Lists/ok")
            with pytest.raises(InvalidMailboxName):
                acc.rename_mailbox_sync("Lists/ok", mailbox)
        finally:
            acc.close()


@pytest.mark.parametrize("account", ["CON", "nul.txt", "com1.", "a:b", "x?", "trail ", "LPT9.mbox", ".hidden"])
def test_account_names_refused(tmp_path, account):
    with Store(tmp_path / "data", fsync=False) as store:
        with pytest.raises(StoreError):
            store.create_account(account)
        with pytest.raises(StoreError):
            store.open_account(account)
    assert not (tmp_path / "data" / "accounts" / account).exists()


def test_domains_conf_refuses_device_account_name():
    from mox.config import sconf
    from mox.config import DomainsConfig

    raw = "Domains:\n\tlocalhost: nil\nAccounts:\n\tCON:\n\t\tDestinations:\n\t\t\tx@localhost: nil\n"
    with pytest.raises(sconf.SconfError, match=r"domains.conf:1: top level: invalid account name 'CON': .*reserved device name"):
        sconf.parse(raw, DomainsConfig, path="domains.conf")


HOSTILE_MAILBOXES = ["../../escaped", "a/../../b", "Work:2024", "x?y/z*", "..", "trailing.", "sp ace ", 'q"uote']


def test_export_stays_inside_and_round_trips(tmp_path):
    """Hostile but valid IMAP mailbox names: export writes only below its folder, with names
    valid on Windows too, and mapping the directory names back gives the mailbox names."""
    data = tmp_path / "data"
    with Store(data, fsync=False) as store:
        store.create_account("acc")
        acc = store.open_account("acc")
        try:
            made = []
            for name in HOSTILE_MAILBOXES:
                try:
                    if acc.mailbox(name) is None:
                        acc.create_mailbox_sync(name)
                except InvalidMailboxName:
                    continue  # the store refuses it outright: fine as well
                made.append(name)
                acc.deliver_sync(name, f"Subject: {name}\r\n\r\nx\r\n".encode())
            assert "Work:2024" in made and "../../escaped" in made
            for fmt in ("maildir", "mbox"):
                dst = tmp_path / "out" / fmt
                transfer.export_account(acc, dst, fmt)
                written = [p for p in tmp_path.rglob("*") if p.is_file() and data not in p.parents]
                assert written and all(p.is_relative_to(tmp_path / "out") for p in written), written
                assert not (tmp_path / "escaped").exists() and not (tmp_path / "out" / "escaped").exists()
                for p in dst.rglob("*"):
                    # Maildir file names carry ":2," on POSIX, ";2," on Windows (test_transfer).
                    rel = tuple(x.replace(":2,", ";2,") for x in p.relative_to(dst).parts)
                    assert all(names.file_name_problem(x) is None for x in rel), rel
                    assert windows_stays_inside("C:/out", rel)
            boxes = {"/".join(names.name_from_file(x) for x in p.relative_to(tmp_path / "out" / "maildir").parts)
                     for p in (tmp_path / "out" / "maildir").rglob("cur")}
            assert {b.removesuffix("/cur") for b in boxes} >= set(made)
        finally:
            acc.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "out"]
