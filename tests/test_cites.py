"""Rules in code and docs cite a source a reader can open: an RFC section (``RFC 9051 6.3.4``) or
a file of mox's source (``mox imapserver/server.go``), or text brought into ``docs/``. Section
numbers of a behaviour document that lives outside this repository ("reference 3.7", "§ 3.7") mean
nothing to a reader of the repository, so none may come back."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Where cites live: the code, the tests, the docs and the other files of the repository.
SCANNED = ["mox", "tests", "docs", "bench", "examples", ".ci", "README.md", "build.py", "Justfile", "pyproject.toml"]
TEXT_SUFFIXES = {".py", ".md", ".txt", ".rst", ".js", ".html", ".css", ".toml", ".yml", ".yaml", ".sh", ".json", ""}

FORBIDDEN = [
    # "reference 3.7", "Reference 10", "mox reference 1.10", "reference section 4", across a line break too
    re.compile(r"\breference\s+(?:section\s+)?\d+(?:\.\d+)*\b", re.IGNORECASE),
    # "ref 3.7", "ref. 3.7"
    re.compile(r"\bref\.?\s+\d+\.\d+", re.IGNORECASE),
    # the outside document by name
    re.compile(r"mox-behaviou?r", re.IGNORECASE),
    # "§ 3.7" that is not an RFC's section ("RFC 5321 § 4.1" is fine)
    re.compile(r"(?<!RFC \d{4} )(?<!RFC \d{3} )§\s*\d"),
]


def _files() -> list[Path]:
    out: list[Path] = []
    for name in SCANNED:
        p = ROOT / name
        if p.is_file():
            out.append(p)
        elif p.is_dir():
            out.extend(
                f for f in p.rglob("*")
                if f.is_file() and f.suffix in TEXT_SUFFIXES and "__pycache__" not in f.parts
                and ".venv" not in f.parts and "node_modules" not in f.parts
            )
    return sorted(out)


def find_cites(text: str) -> list[str]:
    """Every forbidden cite in ``text``, as the matched words."""
    return [m.group(0) for rx in FORBIDDEN for m in rx.finditer(text)]


def test_the_patterns_catch_each_spelling():
    bad = [
        "limits (reference 3.8, 4.7).", "# Reference 4.4: no AUTH", "(mox reference 1.10)", "quirk (reference 10)",
        "limits (reference\n3.7)", "see ref. 3.7", "see ref 3.7", "as in § 3.7", "(mox-behaviour section 6)",
        "(mox-behavior 2.1)",
    ]
    for s in bad:
        assert find_cites(s), s
    good = [
        "# RFC 9051 6.3.4", "(mox imapserver/server.go)", "RFC 5321 § 4.1.1", "holds a reference to the view",
        "references()", "the References header", "reference counted",
    ]
    for s in good:
        assert find_cites(s) == [], s


def test_no_cite_of_an_outside_document():
    files = _files()
    assert any(f.name == "server.py" and f.parent.name == "imap" for f in files)  # the scan sees the code
    me = Path(__file__).resolve()
    found = []
    for f in files:
        if f.resolve() == me:
            continue
        text = f.read_bytes().decode("utf-8", errors="replace")
        for cite in find_cites(text):
            found.append(f"{f.relative_to(ROOT)}: {cite!r}")
    assert found == []
