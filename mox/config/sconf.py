"""sconf: the config file format of mox (github.com/mjl-/sconf), read and written for msgspec types.

The format, as mox's config files use it:

- The top level is a struct: lines ``Key: value``. Keys are the exact field names (``Hostname``),
  an unknown or repeated key is an error, and a field without a default is required.
- Nested values (structs, maps, lists) start on the next line, indented by one more tab; list
  items start with ``-``. Maps have free-form keys; the value ``nil`` is the zero value.
- Basic values run to the end of the line, after one space: strings are neither quoted nor
  escaped, booleans are ``true``/``false``, durations are Go's (``72h0m0s``, ``90s``).
- Lines whose first non-blank character is ``#`` are comments; empty lines are ignored.

Parsing is guided by the msgspec type (``msgspec.inspect``): field names are the encode names
(``rename`` on the Struct), and per-field metadata comes from ``Annotated[T, field(...)]``:
``doc`` (the comment ``describe`` writes) and ``duration`` (a float of seconds written as a Go
duration). Every error names the file, the line and what is wrong (``SconfError``); values are
built bottom-up with ``msgspec.convert``, so a Struct's ``__post_init__`` check is reported at
the line of its key.

``write(value)`` writes a file without comments and without optional fields that have their
default (sconf ``Write``), ``write(value, docs=True)`` with comments (``WriteDocs``, as mox's
localserve writes its files), and ``describe(type)`` an example file with every field
(``Describe``, what ``mox config describe-static`` prints).
"""

from __future__ import annotations

import math
import re
from typing import Any

import msgspec
import msgspec.inspect as mi

__all__ = ["Problems", "SconfError", "describe", "field", "format_duration", "parse", "parse_duration", "write"]


class SconfError(ValueError):
    """A config file that cannot be parsed into its type: ``path:line: message``. ``errors``:
    each problem as such a line (more than one when a Struct's check found several, see
    Problems); ``str()`` is them one per line."""

    def __init__(self, path: str, line: int, message: str, *, more: tuple[str, ...] = ()) -> None:
        self.path = path
        self.line = line
        self.message = message
        at = f"{path}:{line}: " if path else f"line {line}: "
        self.errors = [at + message, *(at + m for m in more)]
        super().__init__("\n".join(self.errors))


class Problems(ValueError):
    """Raised by a Struct's ``__post_init__`` for all the problems its check found at once (a
    check across fields, such as the addresses of all accounts): each is reported on its own."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def field(doc: str = "", *, duration: bool = False) -> msgspec.Meta:
    """Metadata for a field: ``x: Annotated[int, sconf.field("what x does")] = 0``."""
    extra: dict[str, Any] = {"doc": doc}
    if duration:
        extra["duration"] = True
    return msgspec.Meta(extra=extra)


# Go's time.ParseDuration / Duration.String, the form of durations in mox's config files.
_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")


def parse_duration(s: str) -> float:
    """Seconds in a Go duration ("72h", "1h30m", "1.5s", "-2m", "0"). Raises ValueError."""
    body = s[1:] if s[:1] in "+-" else s
    if body == "0":
        return 0.0
    parts = _DURATION_RE.findall(body)
    if not body or "".join(n + u for n, u in parts) != body:
        raise ValueError(f"invalid duration {s!r} (examples: 72h, 1h30m, 90s)")
    total = sum(float(n) * _UNITS[u] for n, u in parts)
    return -total if s.startswith("-") else total


def format_duration(seconds: float) -> str:
    """A duration as Go's Duration.String writes it: "72h0m0s", "1m30s", "1.5s", "500ms", "0s"."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("\u00b5s", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + _frac(ns, size) + unit
    h, rest = divmod(ns, 3600 * 1_000_000_000)
    m, rest = divmod(rest, 60 * 1_000_000_000)
    s = _frac(rest, 1_000_000_000)
    if h:
        return f"{sign}{h}h{m}m{s}s"
    if m:
        return f"{sign}{m}m{s}s"
    return f"{sign}{s}s"


def _frac(n: int, unit: int) -> str:
    whole, frac = divmod(n, unit)
    if not frac:
        return str(whole)
    digits = str(frac).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"


# Type information, with the field metadata unwrapped.


def _unwrap(t: Any) -> tuple[Any, dict[str, Any]]:
    extra: dict[str, Any] = {}
    while isinstance(t, mi.Metadata):
        extra.update(t.extra or {})
        t = t.type
    return t, extra


def _optional_inner(t: Any) -> Any | None:
    """The X of ``X | None``, else None."""
    if isinstance(t, mi.UnionType):
        rest = [x for x in t.types if not isinstance(x, mi.NoneType)]
        if len(rest) == 1 and len(rest) < len(t.types):
            return rest[0]
    return None


def _type_name(t: Any) -> str:
    t, extra = _unwrap(t)
    inner = _optional_inner(t)
    if inner is not None:
        return _type_name(inner)
    if extra.get("duration"):
        return "duration"
    names: dict[type, str] = {
        mi.StrType: "string", mi.IntType: "integer", mi.BoolType: "boolean", mi.FloatType: "number",
        mi.ListType: "list", mi.TupleType: "list", mi.VarTupleType: "list", mi.DictType: "map",
        mi.StructType: "struct",
    }
    return names.get(type(t), "value")


def _has_default(f: mi.Field) -> bool:
    return not f.required


def _default(f: mi.Field) -> Any:
    if f.default_factory is not msgspec.NODEFAULT:
        return f.default_factory()
    return f.default


# Parsing.


class _Parser:
    def __init__(self, text: str, path: str) -> None:
        self.path = path
        self.lines = text.split("\n")
        if self.lines and self.lines[-1] == "":
            self.lines.pop()
        self.pos = 0  # index of the next line to read
        self.lineno = 0  # number of the line in self.line
        self.line: str | None = None  # the current, not yet consumed (rest of a) line
        self.prefix = ""

    def fail(self, msg: str, line: int | None = None) -> SconfError:
        return SconfError(self.path, self.lineno if line is None else line, msg)

    def next(self) -> bool:
        """Whether there is a next line at the current indent (reading lines as needed)."""
        while not self.line:
            if self.pos >= len(self.lines):
                self.line = None
                return False
            s = self.lines[self.pos].removesuffix("\r")
            self.pos += 1
            self.lineno = self.pos
            if s.strip().startswith("#"):
                continue
            self.line = s
        return self.line.startswith(self.prefix)

    def consume(self) -> str:
        s = self.line or ""
        self.line = ""
        return s

    def indent(self, where: str) -> None:
        self.prefix += "\t"
        if not self.next():
            if self.line is None:
                raise self.fail(f"{_in(where)}expected indented value on next line, found end of file")
            raise self.fail(f"{_in(where)}expected indent (a value on the next line, one more tab), saw {self.line!r}")

    def unindent(self) -> None:
        self.prefix = self.prefix[:-1]

    def value(self, t: Any, where: str) -> Any:
        t, extra = _unwrap(t)
        inner = _optional_inner(t)
        if inner is not None:
            return self.value(inner, where)
        if extra.get("duration"):
            s = self.consume()
            try:
                return parse_duration(s)
            except ValueError:
                raise self.fail(f"{where}: bad duration {s!r} (examples: 72h, 30m, 90s)") from None
        if isinstance(t, mi.BoolType):
            s = self.consume()
            if s not in ("true", "false"):
                raise self.fail(f"{where}: bad boolean value {s!r} (true or false)")
            return s == "true"
        if isinstance(t, mi.IntType):
            s = self.consume()
            if not re.fullmatch(r"[+-]?\d+", s):
                raise self.fail(f"{where}: bad integer value {s!r}")
            return int(s)
        if isinstance(t, mi.FloatType):
            s = self.consume()
            try:
                v = float(s)
            except ValueError:
                v = math.nan
            if not math.isfinite(v) or not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", s):
                raise self.fail(f"{where}: bad number value {s!r}")
            return v
        if isinstance(t, mi.StrType):
            return self.consume()
        if isinstance(t, (mi.ListType, mi.VarTupleType, mi.TupleType)):
            return self.list(t, where)
        if isinstance(t, mi.DictType):
            return self.map(t, where)
        if isinstance(t, mi.StructType):
            return self.struct(t, where, self.lineno)
        raise self.fail(f"{where}: cannot parse a value of this type")  # a bug in a config type

    def list(self, t: Any, where: str) -> list[Any]:
        line = self.lineno
        self.check_empty(where)
        self.indent(where)
        out: list[Any] = []
        try:
            while self.next():
                s = self.consume()
                item = self.prefix + "-"
                if not s.startswith(item):
                    raise self.fail(f"{where}: expected list item, a line starting with {item!r}, saw {s!r}")
                s = s[len(item):]
                if s:
                    if not s.startswith(" "):
                        raise self.fail(f"{where}: missing space after -")
                    s = s[1:]
                self.line = s
                elem = t.item_type if not isinstance(t, mi.TupleType) else (t.item_types[len(out)] if len(out) < len(t.item_types) else None)
                if elem is None:
                    raise self.fail(f"{where}: expected {len(t.item_types)} items")
                out.append(self.value(elem, f"{where}[{len(out)}]"))
        finally:
            self.unindent()
        if isinstance(t, mi.TupleType) and len(out) != len(t.item_types):
            raise self.fail(f"{where}: expected {len(t.item_types)} items, got {len(out)}", line)
        return out

    def check_empty(self, where: str) -> None:
        if self.line:
            raise self.fail(f"{where}: expected the value on the next lines, indented one more tab, saw {self.line!r}")

    def key_value(self, kind: str, where: str) -> tuple[str, str]:
        orig = self.consume()
        s = orig[len(self.prefix):]
        k, sep, rest = s.partition(":")
        if not sep:
            more = ""
            if not s.strip():
                more = " (perhaps stray whitespace)"
            elif s.startswith((" ", "\t")):
                more = " (perhaps wrong indenting: too many tabs, or spaces instead of tabs)"
            raise self.fail(f"{where}: missing colon for {kind} key/value on non-empty line {orig!r}{more}")
        if not k:
            raise self.fail(f"{where}: empty key in {kind}")
        if k.startswith((" ", "\t")):
            raise self.fail(f"{where}: key {k.strip()!r} indented too far (wrong indenting: too many tabs, or spaces instead of tabs)")
        if rest and not rest.startswith(" "):
            raise self.fail(f"{where}: missing space after colon in {kind}")
        return k, rest[1:]

    def struct(self, t: mi.StructType, where: str, key_line: int, *, top: bool = False) -> Any:
        if not top:
            self.check_empty(where)
            self.indent(where)
        fields = {f.encode_name: f for f in t.fields}
        seen: dict[str, Any] = {}
        try:
            while self.next():
                k, rest = self.key_value("struct", where)
                f = fields.get(k)
                if f is None and k in getattr(t.cls, "__sconf_unsupported__", ()):
                    raise self.fail(f"{_in(where)}key {k!r} is a setting of mox that this implementation does not have")
                if f is None:
                    import difflib  # only for this error's suggestion

                    close = difflib.get_close_matches(k, list(fields), n=1)
                    hint = f", did you mean {close[0]!r}?" if close else f", known keys: {', '.join(fields)}"
                    if k.strip() != k:
                        hint = " (perhaps stray whitespace in key)"
                    raise self.fail(f"{_in(where)}unknown key {k!r}{hint}")
                if k in seen:
                    raise self.fail(f"{_in(where)}duplicate key {k!r}")
                self.line = rest
                seen[k] = self.value(f.type, _join(where, k))
        finally:
            if not top:
                self.unindent()
        for f in t.fields:
            if f.required and f.encode_name not in seen:
                raise self.fail(f"{_in(where)}missing required key {f.encode_name!r}", None if top else key_line)
        try:
            return msgspec.convert(seen, t.cls)
        except (msgspec.ValidationError, ValueError, TypeError) as e:
            at = f"{where or 'top level'}: "
            if isinstance(e.__cause__, Problems):
                first, *more = e.__cause__.problems
                raise SconfError(self.path, key_line, at + first, more=tuple(at + m for m in more)) from None
            msg = re.sub(r" - at `\$[^`]*`$", "", str(e))
            raise self.fail(at + msg, key_line) from None

    def map(self, t: mi.DictType, where: str) -> dict[str, Any]:
        self.check_empty(where)
        self.indent(where)
        out: dict[str, Any] = {}
        try:
            while self.next():
                k, rest = self.key_value("map", where)
                if k in out:
                    raise self.fail(f"{_in(where)}duplicate key {k!r}")
                if rest == "nil":
                    self.line = ""
                    try:
                        out[k] = _zero(t.value_type)
                    except msgspec.ValidationError as e:
                        raise self.fail(f"{_join(where, k)}: nil not possible: {e}") from None
                else:
                    self.line = rest
                    out[k] = self.value(t.value_type, _join(where, k))
        finally:
            self.unindent()
        return out


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _in(where: str) -> str:
    return f"{where}: " if where else ""


def _zero(t: Any) -> Any:
    t, extra = _unwrap(t)
    inner = _optional_inner(t)
    if inner is not None:
        return _zero(inner)
    if extra.get("duration") or isinstance(t, mi.FloatType):
        return 0.0
    if isinstance(t, mi.StructType):
        # Go's zero value: required fields too get theirs.
        return msgspec.convert({f.encode_name: _zero(f.type) for f in t.fields if f.required}, t.cls)
    zeros: dict[type, Any] = {mi.StrType: "", mi.IntType: 0, mi.BoolType: False, mi.DictType: {}}
    return zeros.get(type(t), [])


def parse(text: str | bytes, typ: type, *, path: str = "") -> Any:
    """Parse sconf text into an instance of the msgspec Struct ``typ``; raises SconfError."""
    if isinstance(text, bytes):
        data = text
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            line = data[: e.start].count(b"\n") + 1
            raise SconfError(path, line, "not valid UTF-8") from None
    p = _Parser(text, path)
    t = mi.type_info(typ)
    if not isinstance(t, mi.StructType):
        raise TypeError("top level must be a msgspec Struct")
    return p.struct(t, "", 1, top=True)


# Writing.


class _Writer:
    def __init__(self, *, docs: bool, keep_zero: bool) -> None:
        self.docs = docs
        self.keep_zero = keep_zero
        self.out: list[str] = []
        self.prefix = ""

    def write(self, s: str) -> None:
        self.out.append(s)

    def comment(self, doc: str, optional: bool) -> None:
        s = "" if not self.out else "\n"  # no empty line at the start of a file
        # Two blank lines in a doc separate sections (the first field of a file uses it).
        for si, section in enumerate(doc.split("\n\n\n")):
            if si:
                s += "\n\n\n"
            s += "\n".join(self.prefix + "#" + (" " + line if line else "") for line in section.split("\n"))
        if optional:
            if not doc.endswith(" "):
                s += " "
            s += "(optional)"
        self.write(_reflow(s + "\n", 80))

    def struct(self, t: mi.StructType, v: Any) -> None:
        for f in t.fields:
            ft, extra = _unwrap(f.type)
            optional = _has_default(f)
            fv = _ZERO if v is _ZERO else getattr(v, f.name)
            if fv is _ZERO and not f.required:
                fv = _default(f)
            if not self.keep_zero and optional and fv is not _ZERO and _equal_default(f, fv):
                continue
            if self.docs and (extra.get("doc") or optional):
                self.comment(extra.get("doc", ""), optional)
            self.write(self.prefix + f.encode_name + ":")
            self.value(f.type, fv)

    def value(self, t: Any, v: Any) -> None:
        t, extra = _unwrap(t)
        inner = _optional_inner(t)
        if inner is not None:
            self.value(inner, _ZERO if v is None else v)
            return
        if extra.get("duration"):
            self.write(f" {format_duration(0.0 if v is _ZERO else v)}\n")
        elif isinstance(t, mi.BoolType):
            self.write(" true\n" if v is not _ZERO and v else " false\n")
        elif isinstance(t, mi.IntType):
            self.write(f" {0 if v is _ZERO else int(v)}\n")
        elif isinstance(t, mi.FloatType):
            self.write(f" {0.0 if v is _ZERO else float(v):f}\n")
        elif isinstance(t, mi.StrType):
            s = "" if v is _ZERO else v
            if "\n" in s:
                raise ValueError("sconf cannot write a string with a newline")
            self.write(f" {s}\n")
        elif isinstance(t, (mi.ListType, mi.VarTupleType, mi.TupleType)):
            self.write("\n")
            self.prefix += "\t"
            items = [] if v is _ZERO else list(v)
            if not items:
                if not self.keep_zero:
                    raise ValueError("sconf cannot write an empty list for a required field")
                items = [_ZERO]
            for i, item in enumerate(items):
                self.write(self.prefix + "-")
                if isinstance(t, mi.TupleType):
                    self.value(t.item_types[min(i, len(t.item_types) - 1)], item)
                else:
                    self.value(t.item_type, item)
            self.prefix = self.prefix[:-1]
        elif isinstance(t, mi.DictType):
            self.write("\n")
            self.prefix += "\t"
            d = {} if v is _ZERO else v
            for k in sorted(d):
                self.write(self.prefix + k + ":")
                vt, _ = _unwrap(t.value_type)
                if not self.keep_zero and isinstance(vt, mi.StructType) and _is_empty_struct(vt, d[k]):
                    self.write(" nil\n")
                    continue
                self.value(t.value_type, d[k])
            if not d:
                if not self.keep_zero:
                    raise ValueError("sconf cannot write an empty map for a required field")
                self.write(self.prefix + "x:")
                self.value(t.value_type, _ZERO)
            self.prefix = self.prefix[:-1]
        elif isinstance(t, mi.StructType):
            self.write("\n")
            self.prefix += "\t"
            self.struct(t, v)
            self.prefix = self.prefix[:-1]
        else:
            raise ValueError(f"sconf cannot write a value of type {t!r}")


class _Zero:
    def __repr__(self) -> str:
        return "ZERO"


_ZERO: Any = _Zero()  # "the zero value of the type", for describe


def _equal_default(f: mi.Field, v: Any) -> bool:
    if f.required:
        return False
    d = _default(f)
    if isinstance(v, (list, tuple)) and isinstance(d, (list, tuple)):
        return list(v) == list(d)
    return bool(v == d)


def _is_empty_struct(t: mi.StructType, v: Any) -> bool:
    return all(not f.required and _equal_default(f, getattr(v, f.name)) for f in t.fields)


def _reflow(text: str, width: int) -> str:
    """Join comment lines of one paragraph and wrap them at ``width`` characters of content
    (excluding the indent and ``#``), as sconf formats its comments."""
    out: list[str] = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    i = 0
    while i < len(lines):
        prefix, rest = _split_comment(lines[i])
        i += 1
        if prefix or rest:
            while i < len(lines):
                p2, r2 = _split_comment(lines[i])
                if p2 != prefix or not r2 or not rest or _breaks(r2):
                    break
                rest += " " + r2
                i += 1
        for part in _wrap(rest, width):
            out.append(prefix + part)
    return "\n".join(out) + "\n"


def _split_comment(s: str) -> tuple[str, str]:
    stripped = s.lstrip(" \t")
    prefix = s[: len(s) - len(stripped)]
    if stripped.startswith("#"):
        prefix += "#"
        stripped = stripped[1:]
    rest = stripped.lstrip(" \t")
    return prefix + stripped[: len(stripped) - len(rest)], rest


def _breaks(s: str) -> bool:
    return bool(re.match(r"\d+\. ", s)) or s[:1] < " "


def _wrap(s: str, width: int) -> list[str]:
    if len(s.encode("utf-8")) <= width:
        return [s]
    out: list[str] = []
    line = ""
    for w in s.split(" "):
        if line and len(line.encode("utf-8")) + 1 + len(w.encode("utf-8")) > width:
            out.append(line)
            line = w
            continue
        line = f"{line} {w}" if line else w
    if line:
        out.append(line)
    return out


def write(value: msgspec.Struct, *, docs: bool = False) -> str:
    """The sconf text of a Struct value: every required field, optional fields only when they
    differ from their default; ``docs``: with each field's comment (as mox writes new files)."""
    w = _Writer(docs=docs, keep_zero=False)
    w.struct(mi.type_info(type(value)), value)  # type: ignore[arg-type]
    return "".join(w.out)


def describe(typ: type) -> str:
    """An example file for ``typ``: every field with its comment and default (or zero) value,
    ``x`` as placeholder map key (what ``mox config describe-static`` prints)."""
    w = _Writer(docs=True, keep_zero=True)
    w.struct(mi.type_info(typ), _ZERO)  # type: ignore[arg-type]
    return "".join(w.out)
