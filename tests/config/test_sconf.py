"""The sconf format (mox's config files): parsing with line numbers, writing, describing."""

from __future__ import annotations

from typing import Annotated

import msgspec
import pytest

from mox.config import sconf
from mox.config.sconf import SconfError, field


def _name(n: str) -> str:
    return "".join(w.capitalize() for w in n.split("_"))


class Inner(msgspec.Struct, rename=_name, forbid_unknown_fields=True, kw_only=True, frozen=True):
    a: Annotated[int, field("the A-field")]
    b: bool = False
    c: str = ""

    def __post_init__(self) -> None:
        if self.a < 0:
            raise ValueError("A cannot be negative")


class Top(msgspec.Struct, rename=_name, forbid_unknown_fields=True, kw_only=True, frozen=True):
    __sconf_unsupported__ = ("Legacy",)
    string_key: Annotated[str, field("comment for stringKey")] = ""
    int_key: int
    period: Annotated[float, field("a duration", duration=True)] = 0.0
    inner: Inner | None = None
    strings: list[str] = []
    nested: list[Inner] = []
    by_name: dict[str, Inner] = {}
    ratio: float = 0.5


GOOD = """# a comment
StringKey: value with  spaces: and colons
IntKey: 123
Period: 1h30m

Inner:
\t# comment inside
\tA: 321
\tB: true
Strings:
\t- blah
\t-
Nested:
\t-
\t\tA: 1
\t-
\t\tA: 2
\t\tC: hoi
ByName:
\tx.y:
\t\tA: 3
\tempty: nil
Ratio: 0.25
"""


def test_parse_good() -> None:
    v = sconf.parse(GOOD, Top, path="t.conf")
    assert v == Top(
        string_key="value with  spaces: and colons",
        int_key=123,
        period=5400.0,
        inner=Inner(a=321, b=True),
        strings=["blah", ""],
        nested=[Inner(a=1), Inner(a=2, c="hoi")],
        by_name={"x.y": Inner(a=3), "empty": Inner(a=0)},
        ratio=0.25,
    )
    # Writing and parsing again gives the same value; CRLF line ends read the same.
    assert sconf.parse(sconf.write(v), Top) == v
    assert sconf.parse(sconf.write(v, docs=True), Top) == v
    assert sconf.parse(GOOD.replace("\n", "\r\n"), Top) == v


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("IntKey: 1\nIntKye: 2\n", 2, "unknown key 'IntKye', did you mean 'IntKey'?"),
        ("IntKey: 1\nLegacy: 2\n", 2, "key 'Legacy' is a setting of mox that this implementation does not have"),
        ("IntKey: 1\nInner:\n\tA: 1\n\tD: 2\n", 4, "Inner: unknown key 'D'"),
        ("IntKey: 1\nNested:\n\t-\n\t\tA: 1\n\t\tX: 1\n", 5, "Nested[0]: unknown key 'X'"),
        ("IntKey: 1\nByName:\n\tk:\n\t\tZ: 1\n", 4, "ByName.k: unknown key 'Z'"),
        ("IntKey: x\n", 1, "IntKey: bad integer value 'x'"),
        ("IntKey: 1\nRatio: many\n", 2, "Ratio: bad number value 'many'"),
        ("IntKey: 1\nInner:\n\tA: 1\n\tB: yes\n", 4, "Inner.B: bad boolean value 'yes' (true or false)"),
        ("IntKey: 1\nPeriod: 3 days\n", 2, "Period: bad duration '3 days'"),
        ("IntKey: 1\nInner: 5\n", 2, "Inner: expected the value on the next lines, indented one more tab"),
        ("IntKey: 1\nInner:\nA: 1\n", 3, "expected indent (a value on the next line, one more tab), saw 'A: 1'"),
        ("IntKey: 1\nInner:\n", 2, "expected indented value on next line, found end of file"),
        ("IntKey: 1\nInner:\n\t\tA: 1\n", 3, "Inner: key 'A' indented too far"),
        ("IntKey: 1\nInner:\n    A: 1\n", 3, "expected indent"),
        ("IntKey: 1\nInner:\n\tA: 1\n\t    B: true\n", 4, "Inner: key 'B' indented too far"),
        ("\tIntKey: 1\n", 1, "key 'IntKey' indented too far"),
        ("IntKey: 1\nStrings:\n\tblah\n", 3, "Strings: expected list item, a line starting with '\\t-', saw '\\tblah'"),
        ("IntKey: 1\nStrings:\n\t-blah\n", 3, "Strings: missing space after -"),
        ("IntKey: 1\nIntKey: 2\n", 2, "duplicate key 'IntKey'"),
        ("IntKey:1\n", 1, "missing space after colon in struct"),
        ("IntKey 1\n", 1, "missing colon for struct key/value on non-empty line 'IntKey 1'"),
        ("IntKey: 1\n\t\n", 2, "missing colon for struct key/value on non-empty line '\\t' (perhaps stray whitespace)"),
        ("StringKey: x\n", 1, "missing required key 'IntKey'"),
        ("IntKey: 1\nInner:\n\tB: true\n", 2, "Inner: missing required key 'A'"),
        ("IntKey: 1\nInner:\n\tA: -1\n", 2, "Inner: A cannot be negative"),
    ],
)
def test_parse_errors(text: str, line: int, message: str) -> None:
    with pytest.raises(SconfError) as exc:
        sconf.parse(text, Top, path="t.conf")
    assert exc.value.line == line, str(exc.value)
    assert message in exc.value.message, str(exc.value)
    assert str(exc.value).startswith(f"t.conf:{line}: ")


def test_not_utf8() -> None:
    with pytest.raises(SconfError, match=r"^t.conf:2: not valid UTF-8$"):
        sconf.parse(b"IntKey: 1\nStringKey: \xff\n", Top, path="t.conf")


class Opt(msgspec.Struct, rename=_name, kw_only=True):
    x: int = 0


class M(msgspec.Struct, rename=_name, kw_only=True):
    m: dict[str, Opt]


class W(msgspec.Struct, rename=_name, kw_only=True):
    x: Annotated[int, field(("word " * 30).strip())] = 0


def test_write_skips_defaults_and_writes_nil() -> None:
    v = Top(int_key=5, by_name={"b": Inner(a=0), "a": Inner(a=2)})
    assert sconf.write(v) == "IntKey: 5\nByName:\n\ta:\n\t\tA: 2\n\tb:\n\t\tA: 0\n"
    # A struct with only optional fields at their defaults is written as nil.
    assert sconf.write(M(m={"k": Opt()})) == "M:\n\tk: nil\n"
    assert sconf.parse("M:\n\tk: nil\n", M) == M(m={"k": Opt()})


def test_describe_as_sconf() -> None:
    """Every field with its comment, "(optional)" for fields with a default, placeholders for
    lists and maps, zero values; comments wrapped at 80 characters as sconf does."""
    text = sconf.describe(Top)
    assert text.startswith("# comment for stringKey (optional)\nStringKey: \nIntKey: 0\n\n# a duration (optional)\nPeriod: 0s\n")
    assert "\n# (optional)\nInner:\n\n\t# the A-field\n\tA: 0\n\n\t# (optional)\n\tB: false\n" in text
    assert "\n# (optional)\nStrings:\n\t- \n" in text
    assert "\n# (optional)\nByName:\n\tx:\n\n\t\t# the A-field\n\t\tA: 0\n" in text
    assert text.endswith("\n# (optional)\nRatio: 0.500000\n")


def test_comment_wrapping() -> None:
    text = sconf.describe(W)
    lines = text.splitlines()
    assert lines[0] == "# " + " ".join(["word"] * 16)  # 79 characters, a 17th word would pass 80
    assert lines[1] == "# " + " ".join(["word"] * 14) + " (optional)"
    assert all(len(line) <= 82 for line in lines)
    assert lines[-1] == "X: 0"


@pytest.mark.parametrize(
    "s, seconds, canonical",
    [
        ("72h", 259200.0, "72h0m0s"),
        ("1h30m", 5400.0, "1h30m0s"),
        ("90s", 90.0, "1m30s"),
        ("1.5s", 1.5, "1.5s"),
        ("500ms", 0.5, "500ms"),
        ("0", 0.0, "0s"),
        ("0s", 0.0, "0s"),
        ("-2m", -120.0, "-2m0s"),
        ("2us", 2e-6, "2\u00b5s"),
    ],
)
def test_durations(s: str, seconds: float, canonical: str) -> None:
    assert sconf.parse_duration(s) == pytest.approx(seconds)
    assert sconf.format_duration(seconds) == canonical
    assert sconf.parse_duration(canonical) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "1", "h", "1d", "1h 30m", "--1s"])
def test_bad_durations(bad: str) -> None:
    with pytest.raises(ValueError):
        sconf.parse_duration(bad)
