"""Names that end up as file names, and paths built from them: one set of rules for every
platform.

Account names, mailbox names, static file paths, archive members and export paths are checked
here, with Windows' rules applied on every platform (a data dir or an export made on Linux must
be safe on Windows, and a request must not reach another drive because the server happens to run
on Windows). Nothing else in mox decides whether a name is safe as a path.

A **file name** (one path component, :func:`check_file_name`) is valid when it is:

- not empty, not ``.`` or ``..``, at most 255 bytes in UTF-8;
- free of ``/`` and ``\\`` (separators on one platform or the other), of NUL and other control
  characters (U+0000-U+001F, U+007F), and of the characters Windows forbids in names:
  ``< > : " | ? *`` (``:`` is also a drive, ``C:``, and an NTFS alternate data stream,
  ``name:stream``);
- not ending in a dot or a space (Windows drops them, so ``a.`` would be ``a``);
- not a Windows device name, in any case, also with an extension and trailing dots or spaces:
  ``CON``, ``PRN``, ``AUX``, ``NUL``, ``COM0``-``COM9``, ``LPT0``-``LPT9`` (and the superscript
  digits ¹ ² ³), ``CONIN$``, ``CONOUT$`` (``nul.txt`` and ``Com1 .eml`` open the device).
  Microsoft, "Naming Files, Paths, and Namespaces".

**Account names** are file names that do not start with a dot. **Mailbox names** are ``/``
separated levels (the store checks IMAP's own rules); for files each level must not contain
``\\``, start with a drive (``C:``) or be a device name. Other characters Windows refuses
(``:``, ``?``, a trailing dot) are allowed in mailbox names and mapped when a mailbox becomes a
file name (:func:`file_name_for`): ``%`` plus two hex digits, reversible because ``%`` cannot
occur in a mailbox name (an IMAP wildcard).

:func:`join_inside` joins checked components under a base directory, and :func:`member_parts`
turns an archive member name into components (or refuses it).
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath, PureWindowsPath

MAX_NAME_BYTES = 255

#: Characters Windows does not allow in file names (besides separators and control characters).
WINDOWS_FORBIDDEN = '<>:"|?*'

_DEVICE_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{p}{d}" for p in ("COM", "LPT") for d in "0123456789\u00b9\u00b2\u00b3"]
)
_DRIVE = re.compile(r"^[A-Za-z]:")


class InvalidName(ValueError):
    """A name that cannot be used as a file name (or a path that leaves its directory)."""


def is_device_name(name: str) -> bool:
    """Whether Windows opens a device for this file name: the part before the first dot, with
    trailing spaces removed, is a device name (``con``, ``NUL.txt``, ``com1 .eml``, ``lpt²``)."""
    base = name.split(".", 1)[0].rstrip(" ").upper()
    return base in _DEVICE_NAMES


def file_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid file name on every platform, or None when it is."""
    if not name:
        return "empty name"
    if name in (".", ".."):
        return f"{name!r} is not a name"
    if "/" in name or "\\" in name:
        return "path separator in name"
    for c in name:
        if ord(c) < 0x20 or ord(c) == 0x7F:
            return "control character in name"
        if c in WINDOWS_FORBIDDEN:
            return f"character {c!r} not allowed in file names (windows)"
    if name[-1] in ". ":
        return "name ends in a dot or space (windows drops it)"
    if is_device_name(name):
        return f"{name!r} is a reserved device name (windows)"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"name longer than {MAX_NAME_BYTES} bytes"
    return None


def check_file_name(name: str) -> str:
    """``name`` when it is a valid file name on every platform; raises InvalidName."""
    problem = file_name_problem(name)
    if problem is not None:
        raise InvalidName(f"invalid file name {name!r}: {problem}")
    return name


def account_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an account name (a directory below ``accounts/``), or None."""
    if name.startswith("."):
        return "account name starts with a dot"
    return file_name_problem(name)


def check_account_name(name: str) -> str:
    problem = account_name_problem(name)
    if problem is not None:
        raise InvalidName(f"invalid account name {name!r}: {problem}")
    return name


def mailbox_name_problem(name: str) -> str | None:
    """Why a mailbox name is refused for path reasons (levels with ``\\``, a drive or a device
    name), or None. IMAP's own rules (empty levels, wildcards, NFC) are the store's."""
    for level in name.split("/"):
        if "\\" in level:
            return "backslash in mailbox name"
        if _DRIVE.match(level):
            return f"mailbox name level {level!r} starts with a drive letter"
        if level and is_device_name(level):
            return f"mailbox name level {level!r} is a reserved device name (windows)"
    return None


def file_name_for(name: str) -> str:
    """A valid file name for one mailbox level (or other free text without ``%``): characters
    not allowed in file names, ``%`` itself, a trailing dot or space, and the first character of
    a device name become ``%XX`` (UTF-8 bytes in hex). :func:`name_from_file` reverses it."""
    out = []
    for c in name:
        if c == "%" or c in WINDOWS_FORBIDDEN or c in "/\\" or ord(c) < 0x20 or ord(c) == 0x7F:
            out.append("".join(f"%{b:02X}" for b in c.encode("utf-8")))
        else:
            out.append(c)
    s = "".join(out)
    if not s:
        raise InvalidName("empty name")
    if s in (".", ".."):
        s = s.replace(".", "%2E")
    if s[-1] in ". ":
        s = s[:-1] + f"%{ord(s[-1]):02X}"
    if is_device_name(s):
        s = f"%{ord(s[0]):02X}" + s[1:]
    check_file_name(s)
    return s


_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")


def name_from_file(file_name: str) -> str:
    """The name that :func:`file_name_for` mapped to ``file_name`` (other text unchanged)."""
    if "%" not in file_name:
        return file_name
    out = bytearray()
    i = 0
    while i < len(file_name):
        m = _ESCAPE.match(file_name, i) if file_name[i] == "%" else None
        if m is not None:
            out.append(int(m.group(1), 16))
            i += 3
        else:
            out += file_name[i].encode("utf-8", "surrogatepass")
            i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        return file_name


def join_inside(base: Path, *parts: str) -> Path:
    """``base / part / ...`` after checking every part with :func:`check_file_name`; the result
    is below ``base`` whether the parts are read as POSIX or as Windows path components."""
    for p in parts:
        check_file_name(p)
    for flavour in (PurePosixPath, PureWindowsPath):
        rel = flavour(*parts) if parts else flavour()
        if rel.anchor or rel.drive or any(x in ("..", ".") for x in rel.parts) or len(rel.parts) != len(parts):
            raise InvalidName(f"path {'/'.join(parts)!r} would leave its directory")
    return Path(base).joinpath(*parts)


def member_parts(name: str) -> tuple[str, ...] | None:
    """The components of an archive member name (``/`` or ``\\`` separated; empty and ``.``
    components dropped), or None when it is absolute, has a drive, climbs out with ``..`` or
    has a component that is not a valid file name."""
    parts = tuple(p for p in re.split(r"[/\\]", name) if p not in ("", "."))
    if not parts or name.startswith(("/", "\\")):
        return None
    if any(file_name_problem(p) is not None for p in parts):
        return None
    return parts


def static_parts(relpath: str) -> tuple[str, ...] | None:
    """The components of a URL path below a static directory, or None when one is not a valid
    file name (``..``, ``D:``, ``con``, a backslash ...)."""
    parts = tuple(relpath.split("/"))
    if not relpath or any(file_name_problem(p) is not None for p in parts):
        return None
    return parts
