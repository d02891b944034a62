"""docs/architecture.md is the map of the code: it must name every package and top-level module
of mox/, every path it names must exist, and its IMAP table must say where each command's
handler is. tests/ mirrors mox/: each test directory is named after a package. No module of mox/
is over MAX_MODULE_LINES lines: one that grows past it is split by concern."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import mox

ROOT = Path(__file__).resolve().parent.parent
MOX = Path(mox.__file__).resolve().parent
DOC = ROOT / "docs" / "architecture.md"

#: The most lines a module of mox/ may have.
MAX_MODULE_LINES = 800

#: Paths the document names that are not in the repository, and why.
NOT_IN_REPO = {
    "mox/_target.py": "build.py writes it into each built pyz only",
    "mox/pyz": "the pyz's unpack directory under the user's cache dir",
}


def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def packages() -> list[str]:
    """Every package directory under mox/, as ``mox/<path>/``."""
    return sorted(
        "mox/" + d.relative_to(MOX).as_posix() + "/"
        for d in MOX.rglob("*")
        if d.is_dir() and (d / "__init__.py").is_file() and "__pycache__" not in d.parts
    )


def _expand(path: str) -> list[str]:
    """``mox/web/{a,b}.py`` -> both paths."""
    m = re.search(r"\{([^{}]*)\}", path)
    if m is None:
        return [path]
    return list(
        itertools.chain.from_iterable(
            _expand(path[: m.start()] + alt + path[m.end() :]) for alt in m.group(1).split(",")
        )
    )


def named_paths(text: str) -> list[str]:
    """The repository paths the document names in backticks (placeholders such as ``<kind>`` and
    ``test_<page>.py`` left out), with ``::test`` suffixes cut."""
    out = []
    for token in re.findall(r"`((?:mox|tests)/[^`\s]*)`", text):
        token = token.split("::")[0]
        if "<" in token or "*" in token or "..." in token:
            continue
        out.extend(_expand(token))
    return out


def test_every_package_is_on_the_map():
    text = doc()
    found = packages()
    assert "mox/imap/" in found and "mox/store/" in found  # the scan sees the packages
    assert [p for p in found if f"`{p}`" not in text] == []


def test_every_top_level_module_is_on_the_map():
    text = doc()
    modules = sorted(f"mox/{p.name}" for p in MOX.glob("*.py") if not p.name.startswith("__"))
    assert "mox/serve.py" in modules
    assert [m for m in modules if f"`{m}`" not in text] == []


def test_every_named_path_exists():
    paths = named_paths(doc())
    assert len(paths) > 50
    assert [p for p in paths if not (ROOT / p).exists() and p not in NOT_IN_REPO] == []


def test_tests_mirror_the_packages():
    pkgs = {p.split("/")[1] for p in packages()}
    dirs = {d.name for d in (ROOT / "tests").iterdir() if d.is_dir() and d.name != "__pycache__"}
    # tests/fuzz runs the parsers of every package for a long time; every other directory is a package's.
    assert sorted(dirs - pkgs - {"fuzz"}) == []


def test_imap_table_names_each_handler():
    from mox.imap.server import HANDLERS

    rows = re.findall(r"^\| `(mox/imap/cmd_\w+\.py)` \| ([A-Z ]+) \| (.*) \|$", doc(), re.MULTILINE)
    table = {cmd: module for module, cmds, _tests in rows for cmd in cmds.split()}
    assert sorted(table) == sorted(HANDLERS)
    for cmd, handler in HANDLERS.items():
        module = "mox/" + handler.__module__.removeprefix("mox.").replace(".", "/") + ".py"
        assert table[cmd] == module, cmd
        assert handler.__name__ == f"cmd_{cmd.lower()}" or cmd in ("EXAMINE", "UNSUBSCRIBE"), cmd
    for _module, _cmds, tests in rows:
        assert named_paths(tests), tests  # each family names its tests


def test_no_module_is_over_max_module_lines():
    lines = {
        p.relative_to(ROOT).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
        for p in MOX.rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert "mox/serve.py" in lines and len(lines) > 100  # the scan sees the modules
    too_long = {path: n for path, n in sorted(lines.items()) if n > MAX_MODULE_LINES}
    assert too_long == {}, f"split by concern (at most {MAX_MODULE_LINES} lines each): {too_long}"
