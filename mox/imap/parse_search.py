"""The SEARCH key grammar (RFC 9051 6.4.4 and 9 search-key; RFC 4731 and RFC 5267 return options;
RFC 5032 WITHIN; RFC 7162 MODSEQ; RFC 8514 SAVEDATE) and the SORT criteria (RFC 5256, RFC 5957):
the rules SEARCH, ESEARCH, SORT and THREAD share. ``parse.py``'s ``Parser`` combines them with the
other commands' grammars.
"""

from __future__ import annotations

from . import wire
from .errors import BadCommand
from .grammar import Grammar
from .types import FetchAtt, PartialRange, SearchKey, SortCriterion

SEARCH_SIMPLE = {
    "ALL", "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "NEW", "OLD", "RECENT", "SEEN", "UNANSWERED",
    "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN",
    "SAVEDATESUPPORTED",  # RFC 8514 4
}
SEARCH_STRING = {"BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"}
SEARCH_DATE = {
    "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE",
    "SAVEDBEFORE", "SAVEDON", "SAVEDSINCE",  # RFC 8514 4
}
# RFC 5256 sort-key, RFC 5957 DISPLAYFROM/DISPLAYTO.
SORT_KEYS = {"ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO"}
# RFC 4731 (MIN MAX ALL COUNT), RFC 5182 (SAVE), RFC 5267 (CONTEXT UPDATE PARTIAL).
SEARCH_RETURN_OPTS = {"MIN", "MAX", "ALL", "COUNT", "SAVE", "CONTEXT", "UPDATE", "PARTIAL"}

_KEY_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-")


class SearchGrammar(Grammar):
    """search-key, search return options and sort criteria, on top of the basic rules."""

    def maybe_search_return_opts(self) -> tuple[list[str] | None, PartialRange | None]:
        """RFC 4466 search-return-opts (``RETURN (...)`` and the space after it), or None.
        Options: RFC 4731 MIN MAX ALL COUNT, RFC 5182 SAVE, RFC 5267 CONTEXT UPDATE and
        ``PARTIAL range`` (RFC 9394), which excludes ALL (RFC 5267 4.4)."""
        if not self.take(b"RETURN ("):
            return None, None
        opts: list[str] = []
        partial: PartialRange | None = None
        if not self.take(b")"):
            while True:
                w = self.parse_atom().upper()
                if w not in SEARCH_RETURN_OPTS:
                    raise BadCommand(f"unknown search return option {w!r}")
                if w == "PARTIAL":
                    if partial is not None:
                        raise BadCommand("PARTIAL given twice")
                    self.sp()
                    partial = self.parse_partial_range()
                if w not in opts:
                    opts.append(w)
                if w == "UPDATE" and self.peek(b" ("):
                    # RFC 5465 7: UPDATE may name FETCH attributes for messages that are new
                    # to the result: modifier-update = "UPDATE" ["(" fetch-att *(SP fetch-att) ")"].
                    self.sp()
                    self.update_atts = self.parse_update_fetch_atts()
                if self.take(b")"):
                    break
                self.sp()
        if partial is not None and "ALL" in opts:
            raise BadCommand("PARTIAL conflicts with ALL")  # RFC 5267 4.4, RFC 9394 3.1
        self.sp()
        return opts, partial

    #: The FETCH attributes of ``UPDATE (...)`` (RFC 5465 7), set by maybe_search_return_opts.
    update_atts: tuple[FetchAtt, ...] = ()

    def parse_update_fetch_atts(self) -> tuple[FetchAtt, ...]:
        """``"(" fetch-att *(SP fetch-att) ")"`` (the command parser knows fetch-att)."""
        raise self.error("no FETCH attributes here")

    def parse_search_criteria(self, charset: str | None) -> SearchKey:
        """One or more search keys (RFC 9051 9 search), as one key: AND of several."""
        keys = [self.parse_search_key(charset)]
        while self.take(b" "):
            keys.append(self.parse_search_key(charset))
        return keys[0] if len(keys) == 1 else SearchKey("AND", children=tuple(keys))

    def parse_charset(self) -> str:
        # RFC 5256 5: charset = atom / quoted (we also take a literal, as SEARCH CHARSET does).
        return self.parse_astring().upper()

    def parse_sort_criteria(self) -> tuple[SortCriterion, ...]:
        # sort-criteria = "(" sort-criterion *(SP sort-criterion) ")"
        # sort-criterion = ["REVERSE" SP] sort-key
        self.expect(b"(", "sort criteria list")
        out: list[SortCriterion] = []
        while True:
            w = self.parse_atom().upper()
            reverse = w == "REVERSE"
            if reverse:
                self.expect(b" ", "sort key after REVERSE")
                w = self.parse_atom().upper()
            if w not in SORT_KEYS:
                raise BadCommand(f"unknown sort key {w!r}")
            out.append(SortCriterion(w, reverse))
            if self.take(b")"):
                return tuple(out)
            self.sp()

    def _search_text(self, charset: str | None) -> str:
        b = self.parse_astring_bytes()
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError:
            raise BadCommand("invalid utf-8 in search string") from None

    def parse_astring_bytes(self) -> bytes:
        if self.peek(b'"') or self.peek(b"{"):
            return self.parse_string()
        a = self._run(wire.ASTRING_CHARS)
        if not a:
            raise self.error("expected astring")
        return a

    def parse_search_key(self, charset: str | None, depth: int = 0) -> SearchKey:
        if depth > 100:
            raise BadCommand("search key nested too deeply")
        if self.take(b"("):
            keys = [self.parse_search_key(charset, depth + 1)]
            while self.take(b" "):
                keys.append(self.parse_search_key(charset, depth + 1))
            self.expect(b")")
            return SearchKey("AND", children=tuple(keys))
        c = self.data[self.pos : self.pos + 1]
        if c == b"$" or c == b"*" or (c and 0x31 <= c[0] <= 0x39):
            return SearchKey("SEQSET", numset=self.parse_sequence_set())
        w = self._run(_KEY_CHARS).decode().upper()
        if not w:
            raise self.error("expected search key")
        if w in SEARCH_SIMPLE:
            return SearchKey(w)
        if w in SEARCH_STRING:
            self.sp()
            return SearchKey(w, text=self._search_text(charset))
        if w in SEARCH_DATE:
            self.sp()
            return SearchKey(w, date=self.parse_date())
        if w in ("KEYWORD", "UNKEYWORD"):
            self.sp()
            return SearchKey(w, text=self.parse_flag())
        if w == "HEADER":
            self.sp()
            field = self.parse_astring()
            self.sp()
            return SearchKey(w, field=field, text=self._search_text(charset))
        if w in ("LARGER", "SMALLER"):
            self.sp()
            return SearchKey(w, number=self.parse_number64())  # RFC 9051 6.4.4: number64
        if w in ("OLDER", "YOUNGER"):
            # RFC 5032 4: "OLDER" SP interval / "YOUNGER" SP interval; interval = nz-number
            self.sp()
            return SearchKey(w, number=self.parse_nz_number())
        if w == "UID":
            self.sp()
            return SearchKey(w, numset=self.parse_sequence_set())
        if w == "NOT":
            self.sp()
            return SearchKey(w, children=(self.parse_search_key(charset, depth + 1),))
        if w == "OR":
            self.sp()
            a = self.parse_search_key(charset, depth + 1)
            self.sp()
            b = self.parse_search_key(charset, depth + 1)
            return SearchKey(w, children=(a, b))
        if w == "MODSEQ":
            # RFC 7162 3.1.5: "MODSEQ" [SP entry-name SP entry-type-req] SP mod-sequence-valzer
            self.sp()
            if self.peek(b'"'):
                self.parse_quoted()
                self.sp()
                t = self.parse_atom().lower()
                if t not in ("priv", "shared", "all"):
                    raise self.error("bad entry-type")
                self.sp()
            return SearchKey(w, number=self.parse_mod_sequence_value())
        raise BadCommand(f"unknown search key {w!r}")
