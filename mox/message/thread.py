"""Values used to match messages into threads (pure).

- :func:`thread_subject`: the base subject of RFC 5256 2.1 (lower-cased, whitespace collapsed,
  ``Re:``/``Fwd:``/``[list]`` leaders and ``(fwd)`` trailers removed) and whether the subject marks
  a response, as mox's ``message/threadsubject.go``.
- :func:`message_id_canonical`: a Message-ID as threading compares it, as mox's
  ``message/messageid.go``: lower-case, without ``<>``, without needless quoting.
- :func:`referenced_ids`: the canonical ids of References (else In-Reply-To), as mox's
  ``message/referencedids.go``; the direct parent is normally last.
"""

from __future__ import annotations

import re

# atext (RFC 5322 3.2.3) plus any non-ASCII (RFC 6532 3.2), written as the ASCII characters it
# excludes: a class with a range up to U+10FFFF costs milliseconds to compile.
_ATEXT = re.compile(r"""[^\x00-\x20"(),.:;<>@\[\\\]\x7f]+""")
_LABEL = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?|[^\x00-\x7f]+)")


class BadMessageID(ValueError):
    """Not a Message-ID (no ``<``, no ``>``, or empty)."""


def _dot_atom(s: str) -> bool:
    return bool(s) and all(_ATEXT.fullmatch(w) for w in s.split("."))


def _domain_ok(d: str) -> bool:
    # A host name as mox's dns.ParseDomain accepts it (ASCII labels of letters, digits and
    # hyphens, or internationalized labels): underscores and IP literals are not.
    d = d.removesuffix(".")
    return bool(d) and len(d) <= 255 and all(_LABEL.fullmatch(lbl) for lbl in d.split("."))


def _canonical_localpart(lp: str) -> str | None:
    """The local part as mox's smtp.Localpart.String() writes it (quoted only when it is no
    dot-atom); None when it is not a valid local part."""
    if lp.startswith('"'):
        if len(lp) < 2 or not lp.endswith('"'):
            return None
        inner, out, i = lp[1:-1], [], 0
        while i < len(inner):
            c = inner[i]
            if c == "\\":
                if i + 1 >= len(inner):
                    return None
                out.append(inner[i + 1])
                i += 2
                continue
            if c == '"':
                return None
            out.append(c)
            i += 1
        value = "".join(out)
    else:
        if not _dot_atom(lp):
            return None
        value = lp
    if _dot_atom(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _canonical_address(s: str) -> str | None:
    """``localpart@host`` with the local part canonically quoted and the host as written; None
    when ``s`` does not parse as an address (mox's smtp.ParseAddress)."""
    if "@" not in s:
        return None
    lp, _, host = s.rpartition("@")
    if not _domain_ok(host):
        return None
    clp = _canonical_localpart(lp)
    if clp is None:
        return None
    return clp + "@" + host


def message_id_canonical(s: str) -> tuple[str, bool]:
    """The canonical form of a Message-ID header value (RFC 5322 3.6.4) and whether it is the raw
    value because it is no ``localpart@domain`` (common: underscores in host names, IP literals,
    no ``@``). Raises :class:`BadMessageID`. As mox, text after ``>`` is allowed when it starts
    with a space (``<id@host> (added by ...)``)."""
    s = s.strip()
    if not s.startswith("<"):
        raise BadMessageID("missing <")
    s, sep, rest = s[1:].partition(">")
    if not sep or (rest and not rest.startswith(" ")):
        raise BadMessageID("missing >")
    s = s.lower()
    if not s:
        raise BadMessageID("empty message-id")
    c = _canonical_address(s)
    if c is None:
        return s, True
    return c, False


def referenced_ids(references: list[str], in_reply_to: list[str]) -> list[str]:
    """Canonical Message-IDs from the References fields, or when they have none, from the first
    In-Reply-To field that has one (RFC 5256 2.2: References first). Entries without ``<``, or
    truncated (a ``<`` before the closing ``>``), are skipped; whitespace inside an id (a line
    folded in the middle) is removed."""
    out: list[str] = []

    def parse1(refs: str) -> str:
        refs = refs.lstrip(" \t\r\n")
        if not refs.startswith("<"):
            i = min((j for j in (refs.find(" "), refs.find(">")) if j >= 0), default=-1)
            return "" if i < 0 else refs[i + 1 :]
        refs = refs[1:]
        i = min((j for j in (refs.find("<"), refs.find(">")) if j >= 0), default=-1)
        if i < 0:
            return ""
        if refs[i] == "<":
            return refs[i:]  # truncated entry
        ref = refs[:i].lower().replace(" ", "").replace("\t", "")
        refs = refs[i + 1 :]
        c = _canonical_address(ref)
        if c is not None:
            ref = c
        if ref:
            out.append(ref)
        return refs

    for refs in references:
        while refs:
            refs = parse1(refs)
    if not out:
        for s in in_reply_to:
            parse1(s)
            if out:
                break
    return out


def _remove_blob(s: str) -> str:
    # RFC 5256 5: blob = "[" *BLOBCHAR "]", followed by *WSP.
    if not s.startswith("["):
        return s
    for i, c in enumerate(s):
        if i == 0:
            continue
        if c == "[":
            return s
        if c == "]":
            return s[i + 1 :].rstrip(" \t")
    return s


def thread_subject(subject: str, allow_null: bool = False) -> tuple[str, bool]:
    """The base subject (RFC 5256 2.1) and whether it is a response (a ``re:``/``fw:``/``fwd:``
    leader or ``(fwd)`` trailer was removed). Without ``allow_null``, a subject with a NUL has
    base subject ""."""
    s: list[str] = []
    for c in subject.lower():
        if c == "\r":
            continue
        if c in " \n\t":  # step 1: runs of whitespace become one space
            if not s or s[-1] != " ":
                s.append(" ")
        else:
            s.append(c)
    t = "".join(s)
    is_response = False

    def remove_leader(t: str) -> str:
        # Step 3: subj-leader = (*subj-blob subj-refwd) / WSP; subj-refwd = ("re" / ("fw" ["d"]))
        # *WSP [subj-blob] ":"
        nonlocal is_response
        if t.startswith((" ", "\t")):
            t = t[1:]
        orig = t
        while True:
            prev = t
            t = _remove_blob(t)
            if t == prev:
                break
        if t.startswith("re"):
            t = t[2:]
        elif t.startswith("fwd"):
            t = t[3:]
        elif t.startswith("fw"):
            t = t[2:]
        else:
            return orig
        t = _remove_blob(t.lstrip(" \t"))
        if not t.startswith(":"):
            return orig
        is_response = True
        return t[1:]

    while True:
        while True:  # step 2: trailing whitespace and "(fwd)" trailers
            prev = t
            t = t.rstrip(" \t")
            if t.endswith("(fwd)"):
                t = t[: -len("(fwd)")]
                is_response = True
            if t == prev:
                break
        while True:  # steps 3 and 4
            prev = t
            t = remove_leader(t)
            nt = _remove_blob(t)
            if nt != "":
                t = nt
            if t == prev:
                break
        if t.startswith("[fwd:") and t.endswith("]"):  # step 5
            t = t[len("[fwd:") : -1]
            is_response = True
            continue
        break
    if not allow_null and "\x00" in t:
        t = ""
    return t, is_response
