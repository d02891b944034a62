"""The base subject of a message (RFC 5256 2.1), as IMAP SORT and THREAD compare it.

``base_subject(value)`` takes a Subject field's value (unfolded, RFC 2047 encoded words still in
it) and returns ``(base, reply_or_forward)``. It follows the seven steps of RFC 5256 2.1 in
order; the grammar it removes (RFC 5256 5) is, with whitespace already packed to single spaces:

    subj-trailer = "(fwd)" / WSP
    subj-leader  = (*subj-blob subj-refwd) / WSP
    subj-refwd   = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
    subj-blob    = "[" *BLOBCHAR "]" *WSP          ; BLOBCHAR: anything but "[" and "]"
    subj-fwd-hdr = "[fwd:"   subj-fwd-trl = "]"

Literal text in ABNF is case-insensitive (RFC 5234 2.3), for ASCII letters only. The result keeps
its case: comparing base subjects is the collation's job (RFC 5255 4.2: "the pre-processing
necessary to extract the base subject text ... occurs prior to the application of a
comparator"). ``reply_or_forward`` is the REFERENCES threading flag (RFC 5256 3, "A message is
considered to be a reply or forward if the base subject extraction rules, applied to the
original subject, remove any of the following: a subj-refwd, a "(fwd)" subj-trailer, or a
subj-fwd-hdr and subj-fwd-trl").
"""

from __future__ import annotations

import re

from mox.message.header import decode_header_value

# (1) tabs, line breaks (continuations) and runs of them become one space.
_WHITESPACE = re.compile(r"[ \t\r\n]+")
# (3) subj-leader: blobs then a subj-refwd; group 1 is set when it is a subj-refwd.
_LEADER = re.compile(r"(?ai)( |(?:\[[^\[\]]*\] ?)*(?:re|fwd?) ?(?:\[[^\[\]]*\] ?)?:)")
# (4) a subj-blob at the start.
_BLOB = re.compile(r"\[[^\[\]]*\] ?")


def base_subject(value: str | None) -> tuple[str, bool]:
    """(base subject, whether the extraction removed a reply/forward marker); see the module
    docstring. ``None`` (no Subject field) is the empty subject."""
    if not value:
        return "", False
    # (1) RFC 2047 encoded words to text, tabs and continuations to space, runs of spaces to one.
    s = _WHITESPACE.sub(" ", decode_header_value(value))
    reply = False
    while True:
        # (2) Remove trailing subj-trailer ("(fwd)" or WSP) until none is left.
        end = len(s)
        while end:
            if s[end - 1] == " ":
                end -= 1
            elif end >= 5 and s[end - 5 : end].lower() == "(fwd)":
                end -= 5
                reply = True
            else:
                break
        s = s[:end]
        # (3) Remove a subj-leader; (4) remove a subj-blob if a non-empty subj-base remains;
        # (5) repeat both until neither matches.
        while True:
            found = False
            m = _LEADER.match(s)
            if m is not None:
                if m.group(1) != " ":
                    reply = True
                s = s[m.end() :]
                found = True
            m = _BLOB.match(s)
            if m is not None and m.end() < len(s):
                # Step (2) removed trailing whitespace, so what is left has a non-WSP character.
                s = s[m.end() :]
                found = True
            if not found:
                break
        # (6) "[fwd:" ... "]" around the whole text: remove both and start again at (2).
        if len(s) >= 6 and s[:5].lower() == "[fwd:" and s[-1] == "]":
            s = s[5:-1]
            reply = True
            continue
        # (7) What is left is the base subject.
        return s, reply
