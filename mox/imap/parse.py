"""The IMAP command grammar (RFC 9051 9 and RFC 3501 9, plus extensions), one method per ABNF rule:
each command's arguments here; the basic rules are ``grammar.py``'s, the FETCH attributes
``parse_fetch.py``'s and the SEARCH keys and SORT criteria ``parse_search.py``'s.

``parse_command(data)`` takes one complete command as it arrived on the wire, literals included
(``{n}`` / ``{n+}`` / ``~{n}`` followed by CRLF and n bytes; the protocol layer collected them),
without the final CRLF, and returns a ``types.Command`` or raises ``BadCommand``.

Extensions: LITERAL+ (RFC 7888), MULTIAPPEND (RFC 3502), CATENATE (RFC 4469), REPLACE (RFC 8508), BINARY (RFC 3516), CONDSTORE/QRESYNC (RFC 7162), ESEARCH
(RFC 4731), SEARCHRES (RFC 5182), LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819),
SPECIAL-USE (RFC 6154), WITHIN (RFC 5032), SAVEDATE (RFC 8514), PREVIEW (RFC 8970), MULTISEARCH (RFC 7377), COMPRESS (RFC 4978), METADATA
(RFC 5464, RFC 9590), ID (RFC 2971), ENABLE (RFC 5161), QUOTA (RFC 9208), UTF8=ACCEPT (RFC 6855),
NOTIFY (RFC 5465), SORT and THREAD (RFC 5256, RFC 5957 DISPLAYFROM/DISPLAYTO), ESORT and CONTEXT (RFC 5267: SORT
RETURN, CONTEXT/UPDATE/PARTIAL return options, CANCELUPDATE), PARTIAL (RFC 9394).
"""

from __future__ import annotations

from typing import Any

from .errors import BadCommand
from .grammar import MessageLiteralHere
from .parse_fetch import FetchGrammar
from .parse_search import SearchGrammar
from .types import AppendMessage, Command, FetchAtt, ListCommand, NotifyEvent, NotifyGroup, NumSet, PartialRange, SearchKey

# Commands and the state table (RFC 9051 6, 6.1-6.4).
ANY_STATE = {"CAPABILITY", "NOOP", "LOGOUT", "ID"}
NOT_AUTHENTICATED = {"STARTTLS", "AUTHENTICATE", "LOGIN"}
AUTHENTICATED = {
    "ENABLE", "SELECT", "EXAMINE", "CREATE", "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE",
    "LIST", "LSUB", "NAMESPACE", "STATUS", "APPEND", "IDLE", "GETQUOTAROOT", "GETQUOTA",
    "GETMETADATA", "SETMETADATA", "ESEARCH", "COMPRESS", "NOTIFY",
}
SELECTED = {
    "CHECK", "CLOSE", "UNSELECT", "EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY", "MOVE", "SORT", "THREAD",
    "CANCELUPDATE", "REPLACE",
}
UID_COMMANDS = {"EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY", "MOVE", "SORT", "THREAD", "REPLACE"}
KNOWN_COMMANDS = ANY_STATE | NOT_AUTHENTICATED | AUTHENTICATED | SELECTED | {"UID"}

STATUS_ITEMS = {
    "MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "RECENT", "APPENDLIMIT",
    "HIGHESTMODSEQ", "DELETED-STORAGE",
}
THREAD_ALGORITHMS = {"ORDEREDSUBJECT", "REFERENCES", "REFS"}
# RFC 5465 8: the events by their lower-case name, spelled as the RFC does.
NOTIFY_EVENTS = {
    e.lower(): e
    for e in (
        "MessageNew", "MessageExpunge", "FlagChange", "AnnotationChange", "MailboxName", "SubscriptionChange",
        "MailboxMetadataChange", "ServerMetadataChange",
    )
}


#: The FETCH attribute lists of recent commands by their bytes (a client sends the same few).
_FETCH_ATTS: dict[bytes, tuple[FetchAtt, ...]] = {}


class Parser(FetchGrammar, SearchGrammar):
    """The commands' grammars (RFC 9051 6 and the extensions'), on top of the basic rules and
    the FETCH attribute (``parse_fetch.py``) and SEARCH key (``parse_search.py``) grammars."""

    # -- commands

    def parse_command(self) -> Command:
        tag = self.parse_tag()
        self.sp()
        name = self.parse_atom().upper()
        if name not in KNOWN_COMMANDS:
            raise BadCommand(f'{name} unrecognized syntax/command: unknown command "{name}"', "unknown")
        uid = False
        if name == "UID":
            self.sp()
            name = self.parse_atom().upper()
            if name not in UID_COMMANDS:
                raise BadCommand(f'UID {name} unrecognized syntax/command: unknown command "{name}"', "unknown")
            uid = True
        self.secret = name in ("LOGIN", "AUTHENTICATE")
        method = getattr(self, "cmd_" + name.lower().replace("-", "_"))
        args = method(uid) or {}
        self.expect_end()
        return Command(tag=tag, name=name, uid=uid, args=args)

    def cmd_capability(self, uid: bool) -> None:
        return None

    cmd_noop = cmd_logout = cmd_starttls = cmd_namespace = cmd_idle = cmd_capability
    cmd_check = cmd_close = cmd_unselect = cmd_capability

    def cmd_expunge(self, uid: bool) -> dict[str, Any] | None:
        # RFC 4315 2.1: UID EXPUNGE sequence-set
        if uid:
            self.sp()
            return {"numset": self.parse_sequence_set()}
        return None

    def cmd_id(self, uid: bool) -> dict[str, Any]:
        # RFC 2971: "ID" SP id-params-list; id-params-list = "(" *(string SP nstring) ")" / nil
        self.sp()
        params: dict[str, str | None] = {}
        if self.take(b"NIL"):
            return {"params": params}
        self.expect(b"(")
        if self.take(b")"):
            return {"params": params}
        while True:
            k = self._text(self.parse_string())
            self.sp()
            params[k] = self.parse_nstring()
            if self.take(b")"):
                return {"params": params}
            self.sp()

    def cmd_login(self, uid: bool) -> dict[str, Any]:
        self.sp()
        user = self.parse_astring()
        self.sp()
        password = self.parse_astring()
        return {"user": user, "password": password}

    def cmd_authenticate(self, uid: bool) -> dict[str, Any]:
        # RFC 9051 6.2.2, RFC 4959 SASL-IR
        self.sp()
        mech = self.parse_atom().upper()
        initial: str | None = None
        if self.take(b" "):
            if self.take(b"="):
                initial = "="
            else:
                b = self._run(frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="))
                if not b:
                    raise self.error("expected base64 initial response")
                initial = b.decode("ascii")
        return {"mechanism": mech, "initial": initial}

    def cmd_enable(self, uid: bool) -> dict[str, Any]:
        caps: list[str] = []
        self.sp()
        caps.append(self.parse_atom().upper())
        while self.take(b" "):
            caps.append(self.parse_atom().upper())
        return {"capabilities": caps}

    def cmd_select(self, uid: bool) -> dict[str, Any]:
        self.sp()
        mailbox = self.parse_mailbox()
        condstore = False
        qresync: dict[str, Any] | None = None
        if self.take(b" ("):
            while True:
                if self.take(b"CONDSTORE"):
                    condstore = True
                elif self.take(b"QRESYNC"):
                    qresync = self.parse_qresync_params()
                else:
                    raise self.error("unknown select parameter")
                if self.take(b")"):
                    break
                self.sp()
        return {"mailbox": mailbox, "condstore": condstore, "qresync": qresync}

    cmd_examine = cmd_select

    def parse_qresync_params(self) -> dict[str, Any]:
        # RFC 7162 3.2.5: "QRESYNC" SP "(" uidvalidity SP mod-sequence-value [SP known-uids]
        #   [SP seq-match-data] ")"; seq-match-data = "(" known-sequence-set SP known-uid-set ")"
        self.sp()
        self.expect(b"(")
        uidvalidity = self.parse_nz_number()
        self.sp()
        modseq = self.parse_mod_sequence_value()
        known_uids: NumSet | None = None
        seq_match: tuple[NumSet, NumSet] | None = None
        if self.take(b" "):
            if not self.peek(b"("):
                known_uids = self.parse_sequence_set()
                if known_uids.search_result:
                    raise self.error("$ not allowed in known-uids")
                if not self.take(b" "):
                    self.expect(b")")
                    return {"uidvalidity": uidvalidity, "modseq": modseq, "known_uids": known_uids, "seq_match": None}
            self.expect(b"(")
            seqs = self.parse_sequence_set()
            self.sp()
            uids = self.parse_sequence_set()
            self.expect(b")")
            seq_match = (seqs, uids)
        self.expect(b")")
        return {"uidvalidity": uidvalidity, "modseq": modseq, "known_uids": known_uids, "seq_match": seq_match}

    def cmd_create(self, uid: bool) -> dict[str, Any]:
        self.sp()
        mailbox = self.parse_mailbox()
        use: list[str] = []
        # RFC 4466 create-params; RFC 6154 "USE" (special-use attributes).
        if self.take(b" ("):
            self.expect(b"USE")
            self.sp()
            use = self.parse_flag_list()
            self.expect(b")")
        return {"mailbox": mailbox, "use": use}

    def cmd_delete(self, uid: bool) -> dict[str, Any]:
        self.sp()
        return {"mailbox": self.parse_mailbox()}

    cmd_subscribe = cmd_unsubscribe = cmd_delete

    def cmd_getquotaroot(self, uid: bool) -> dict[str, Any]:
        self.sp()
        return {"mailbox": self.parse_mailbox()}

    def cmd_getquota(self, uid: bool) -> dict[str, Any]:
        self.sp()
        return {"root": self.parse_astring()}

    def cmd_rename(self, uid: bool) -> dict[str, Any]:
        self.sp()
        src = self.parse_mailbox()
        self.sp()
        dst = self.parse_mailbox()
        return {"src": src, "dst": dst}

    def cmd_lsub(self, uid: bool) -> dict[str, Any]:
        self.sp()
        ref = self.parse_mailbox()
        self.sp()
        pat = self.parse_list_mailbox()
        return {"list": ListCommand(reference=ref, patterns=(pat,))}

    def _opt_words(self) -> list[str]:
        self.expect(b"(")
        words: list[str] = []
        if self.take(b")"):
            return words
        while True:
            words.append(self.parse_atom().upper())
            if self.take(b")"):
                return words
            self.sp()

    def cmd_list(self, uid: bool) -> dict[str, Any]:
        # RFC 5258 list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]
        self.sp()
        extended = False
        select_opts: list[str] = []
        if self.peek(b"("):
            extended = True
            select_opts = self._opt_words()
            for o in select_opts:
                if o not in ("SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"):
                    raise BadCommand(f"unknown list selection option {o!r}")
            if "RECURSIVEMATCH" in select_opts and not ({"SUBSCRIBED", "SPECIAL-USE"} & set(select_opts)):
                raise BadCommand("RECURSIVEMATCH requires another selection option")
            self.sp()
        ref = self.parse_mailbox()
        self.sp()
        patterns: list[str] = []
        if self.take(b"("):
            extended = True
            while True:
                patterns.append(self.parse_list_mailbox())
                if self.take(b")"):
                    break
                self.sp()
        else:
            patterns.append(self.parse_list_mailbox())
        return_opts: list[str] = []
        status_items: list[str] = []
        metadata: list[str] = []
        if self.take(b" RETURN ("):
            extended = True
            if not self.take(b")"):
                while True:
                    w = self.parse_atom().upper()
                    if w == "STATUS":
                        self.sp()
                        status_items = self.parse_status_atts()
                    elif w == "METADATA":
                        # RFC 9590 3: "METADATA" SP "(" entry *(SP entry) ")"
                        self.sp()
                        self.expect(b"(")
                        metadata.append(self.parse_metadata_entry())
                        while self.take(b" "):
                            metadata.append(self.parse_metadata_entry())
                        self.expect(b")")
                    elif w not in ("SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "METADATA"):
                        raise BadCommand(f"unknown list return option {w!r}")
                    return_opts.append(w)
                    if self.take(b")"):
                        break
                    self.sp()
        return {
            "list": ListCommand(
                reference=ref,
                patterns=tuple(patterns),
                select_opts=tuple(select_opts),
                return_opts=tuple(return_opts),
                status_items=tuple(status_items),
                extended=extended,
                metadata=tuple(metadata),
            )
        }

    def parse_status_atts(self) -> list[str]:
        items = self._opt_words()
        if not items:
            raise self.error("expected status attribute")
        for it in items:
            if it not in STATUS_ITEMS:
                raise BadCommand(f"unknown status attribute {it!r}")
        return items

    def cmd_status(self, uid: bool) -> dict[str, Any]:
        self.sp()
        mailbox = self.parse_mailbox()
        self.sp()
        return {"mailbox": mailbox, "items": self.parse_status_atts()}

    def cmd_append(self, uid: bool) -> dict[str, Any]:
        # RFC 9051 6.3.12; RFC 3502 MULTIAPPEND: append = "APPEND" SP mailbox 1*append-message;
        # append-message = append-opts SP append-data; append-opts = [SP flag-list] [SP date-time];
        # append-data = literal / literal8 / "UTF8" SP "(" literal8 ")" (RFC 6855, RFC 3516) /
        # "CATENATE" SP "(" cat-part *(SP cat-part) ")" (RFC 4469).
        self.sp()
        mailbox = self.parse_mailbox()
        messages = [self.parse_append_message()]
        while not self.at_end():
            messages.append(self.parse_append_message())
        return {"mailbox": mailbox, "messages": messages}

    def cmd_compress(self, uid: bool) -> dict[str, Any]:
        # RFC 4978 3: compress = "COMPRESS" SP algorithm; algorithm = "DEFLATE"
        self.sp()
        return {"algorithm": self.parse_atom().upper()}

    def cmd_esearch(self, uid: bool) -> dict[str, Any]:
        # RFC 7377 6: esearch = "ESEARCH" [SP esearch-source-opts] [SP search-return-opts]
        # SP search-program; esearch-source-opts = "IN" SP "(" source-mbox [SP "(" scope-options
        # ")"] ")"; source-mbox = filter-mailboxes *(SP filter-mailboxes) (RFC 5465 filters
        # but selected-delayed). No scope options are defined: none are taken.
        self.sp()
        sources: list[tuple[str, tuple[str, ...]]] = []
        if self.take(b"IN ("):
            while True:
                w = self._run(frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-")).decode().lower()
                if w in ("selected", "inboxes", "personal", "subscribed"):
                    sources.append((w, ()))
                elif w in ("subtree", "subtree-one", "mailboxes"):
                    self.sp()
                    sources.append((w, self.parse_one_or_more_mailbox()))
                else:
                    raise self.error("expected mailbox filter")
                if self.take(b")"):
                    break
                self.sp()
            self.sp()
        return_opts: list[str] = []
        if self.take(b"RETURN ("):
            if not self.take(b")"):
                while True:
                    w = self.parse_atom().upper()
                    if w not in ("MIN", "MAX", "ALL", "COUNT", "SAVE"):
                        raise BadCommand(f"unknown search return option {w!r}")
                    return_opts.append(w)
                    if self.take(b")"):
                        break
                    self.sp()
            self.sp()
        charset: str | None = None
        if self.take(b"CHARSET "):
            charset = self.parse_astring().upper()
            self.sp()
        keys = [self.parse_search_key(charset)]
        while self.take(b" "):
            keys.append(self.parse_search_key(charset))
        key = keys[0] if len(keys) == 1 else SearchKey("AND", children=tuple(keys))
        return {"sources": sources, "return_opts": return_opts, "charset": charset, "key": key}

    # NOTIFY: RFC 5465 8

    def cmd_notify(self, uid: bool) -> dict[str, Any]:
        # notify = "NOTIFY" SP (notify-set / notify-none); notify-none = "NONE";
        # notify-set = "SET" [status-indicator] SP event-groups; status-indicator = SP "STATUS";
        # event-groups = event-group *(SP event-group)
        self.sp()
        if self.take(b"NONE"):
            return {"groups": None, "status": False}
        self.expect(b"SET")
        self.sp()
        status = self.take(b"STATUS ")
        groups = [self.parse_event_group()]
        while self.take(b" "):
            groups.append(self.parse_event_group())
        return {"groups": tuple(groups), "status": status}

    def parse_event_group(self) -> NotifyGroup:
        # event-group = "(" filter-mailboxes SP events ")"; filter-mailboxes =
        # "selected" / "selected-delayed" / "inboxes" / "personal" / "subscribed" /
        # ("subtree" SP one-or-more-mailbox) / ("mailboxes" SP one-or-more-mailbox), and RFC
        # 7377's "subtree-one"; one-or-more-mailbox = mailbox / "(" mailbox *(SP mailbox) ")"
        self.expect(b"(")
        w = self._run(frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-")).decode().lower()
        names: tuple[str, ...] = ()
        if w in ("subtree", "subtree-one", "mailboxes"):
            self.sp()
            names = self.parse_one_or_more_mailbox()
        elif w not in ("selected", "selected-delayed", "inboxes", "personal", "subscribed"):
            raise self.error("expected mailbox filter")
        self.sp()
        # events = ( "(" event *(SP event) ")" ) / "NONE"
        events: list[NotifyEvent] = []
        if not self.take(b"NONE"):
            self.expect(b"(")
            events.append(self.parse_notify_event())
            while self.take(b" "):
                events.append(self.parse_notify_event())
            self.expect(b")")
        self.expect(b")")
        return NotifyGroup(w, names, tuple(events))

    def parse_notify_event(self) -> NotifyEvent:
        # event = message-event / mailbox-event / user-event / event-ext; message-event =
        # ("MessageNew" [SP "(" fetch-att *(SP fetch-att) ")"]) / "MessageExpunge" /
        # "FlagChange" / "AnnotationChange"; event-ext = atom (answered with BADEVENT).
        word = self.parse_atom()
        name = NOTIFY_EVENTS.get(word.lower(), word)
        atts: list[FetchAtt] = []
        if name == "MessageNew" and self.take(b" ("):
            atts.append(self.parse_fetch_att())
            while self.take(b" "):
                atts.append(self.parse_fetch_att())
            self.expect(b")")
        return NotifyEvent(name, tuple(atts))

    # METADATA: RFC 5464 (the grammar of its section 5 with errata 1691/2785)

    def parse_metadata_entry(self) -> str:
        """entry = astring: a slash-separated name (RFC 5464 3.2): no "//", no trailing "/" (but
        "/" alone, for everything with DEPTH infinity, as mox), no "*" or "%", printable ASCII.
        Names are case-insensitive: lower-cased."""
        start = self.pos
        name = self.parse_astring()
        bad = None
        if not name.startswith("/"):
            bad = "entry name must start with /"
        elif "//" in name:
            bad = "entry name must not contain //"
        elif name != "/" and name.endswith("/"):
            bad = "entry name must not end with /"
        elif "*" in name or "%" in name:
            bad = "entry name must not contain * or %"
        elif any(not (0x20 <= ord(c) < 0x7F) for c in name):
            bad = "entry name must be printable ascii"
        if bad is not None:
            self.pos = start
            raise self.error(bad)
        return name.lower()

    def cmd_getmetadata(self, uid: bool) -> dict[str, Any]:
        # getmetadata = "GETMETADATA" [SP getmetadata-options] SP mailbox SP entries;
        # getmetadata-option = "MAXSIZE" SP number / "DEPTH" SP ("0" / "1" / "infinity")
        self.sp()
        maxsize: int | None = None
        depth: str | None = None
        if self.take(b"("):
            while True:
                if self.take(b"MAXSIZE "):
                    if maxsize is not None:
                        raise self.error("MAXSIZE given twice")
                    maxsize = self.parse_number()
                elif self.take(b"DEPTH "):
                    if depth is not None:
                        raise self.error("DEPTH given twice")
                    for d in ("0", "1", "INFINITY"):
                        if self.take(d.encode()):
                            depth = d
                            break
                    else:
                        raise self.error("expected depth 0, 1 or infinity")
                else:
                    raise self.error("expected MAXSIZE or DEPTH")
                if self.take(b")"):
                    break
                self.sp()
            self.sp()
        mailbox = self.parse_mailbox()
        self.sp()
        entries: list[str] = []
        if self.take(b"("):
            entries.append(self.parse_metadata_entry())
            while self.take(b" "):
                entries.append(self.parse_metadata_entry())
            self.expect(b")")
        else:
            entries.append(self.parse_metadata_entry())
        return {"mailbox": mailbox, "maxsize": maxsize, "depth": depth or "0", "entries": entries}

    def cmd_setmetadata(self, uid: bool) -> dict[str, Any]:
        # setmetadata = "SETMETADATA" SP mailbox SP "(" entry-value *(SP entry-value) ")";
        # entry-value = entry SP value; value = nstring / literal8
        self.sp()
        mailbox = self.parse_mailbox()
        self.sp()
        self.expect(b"(")
        values: list[tuple[str, bytes | None, bool]] = []
        while True:
            key = self.parse_metadata_entry()
            self.sp()
            if self.take(b"NIL"):
                values.append((key, None, True))
            elif self.peek(b'"'):
                values.append((key, self.parse_quoted(), True))
            else:
                lit8 = self.peek(b"~")
                v = self.maybe_literal(allow8=True)
                if v is None:
                    raise self.error("expected value: NIL, a string or a literal8")
                values.append((key, v, not lit8))
            if self.take(b")"):
                break
            self.sp()
        return {"mailbox": mailbox, "values": values}

    def cmd_replace(self, uid: bool) -> dict[str, Any]:
        # RFC 8508 6: replace = "REPLACE" SP seq-number SP mailbox append-message (one message;
        # "*" is the last message, RFC 9051 seq-number); UID REPLACE takes a UID.
        self.sp()
        num = self.parse_seq_number()
        self.sp()
        mailbox = self.parse_mailbox()
        return {"num": num, "mailbox": mailbox, "messages": [self.parse_append_message()]}

    def parse_append_message(self) -> AppendMessage:
        self.sp()
        flags: list[str] = []
        date: float | None = None
        if self.peek(b"("):
            flags = self.parse_flag_list()
            self.sp()
        if self.peek(b'"'):
            date = self.parse_date_time()
            self.sp()
        if self.take(b"UTF8 ("):
            data = self.maybe_message_literal()
            if data is None:
                raise self.error("expected literal8")
            self.expect(b")")
            return AppendMessage(tuple(flags), date, data, utf8=True)
        if self.take(b"CATENATE ("):
            parts: list[tuple[str, Any]] = []
            while True:
                if self.take(b"TEXT "):
                    # RFC 4469 5: text-literal = "TEXT" SP literal (a literal8 is taken too, as for
                    # the message itself, RFC 3516 4.4).
                    text = self.maybe_message_literal()
                    if text is None:
                        raise self.error("expected literal")
                    parts.append(("TEXT", text))
                elif self.take(b"URL "):
                    parts.append(("URL", self.parse_astring()))
                else:
                    raise self.error("expected TEXT or URL")
                if self.take(b")"):
                    break
                self.sp()
            return AppendMessage(tuple(flags), date, None, catenate=parts)
        data = self.maybe_message_literal()
        if data is None:
            raise self.error("expected literal with message")
        return AppendMessage(tuple(flags), date, data)

    def cmd_copy(self, uid: bool) -> dict[str, Any]:
        self.sp()
        ns = self.parse_sequence_set()
        self.sp()
        return {"numset": ns, "mailbox": self.parse_mailbox()}

    cmd_move = cmd_copy

    def cmd_store(self, uid: bool) -> dict[str, Any]:
        # RFC 9051 6.4.6; RFC 7162 3.1.3 UNCHANGEDSINCE
        self.sp()
        ns = self.parse_sequence_set()
        self.sp()
        unchangedsince: int | None = None
        if self.take(b"("):
            self.expect(b"UNCHANGEDSINCE")
            self.sp()
            unchangedsince = self.parse_mod_sequence_value()
            self.expect(b")")
            self.sp()
        mode = "replace"
        if self.take(b"+"):
            mode = "add"
        elif self.take(b"-"):
            mode = "remove"
        self.expect(b"FLAGS")
        silent = self.take(b".SILENT")
        self.sp()
        flags: list[str] = []
        if self.peek(b"("):
            flags = self.parse_flag_list()
        else:
            flags.append(self.parse_flag())
            while self.take(b" "):
                flags.append(self.parse_flag())
        return {"numset": ns, "mode": mode, "silent": silent, "flags": flags, "unchangedsince": unchangedsince}

    # FETCH: RFC 9051 6.4.5; RFC 3516 BINARY; RFC 7162 CHANGEDSINCE/VANISHED

    def cmd_fetch(self, uid: bool) -> dict[str, Any]:
        self.sp()
        ns = self.parse_sequence_set()
        self.sp()
        rest = self.data[self.pos :]
        known = _FETCH_ATTS.get(rest)
        if known is not None:  # these attributes, and nothing after them, were parsed before
            self.pos = len(self.data)
            return {"numset": ns, "atts": list(known), "changedsince": None, "vanished": False, "partial": None}
        atts = self.parse_fetch_atts()
        if self.at_end() and len(rest) <= 200:
            if len(_FETCH_ATTS) >= 256:
                _FETCH_ATTS.clear()
            _FETCH_ATTS[rest] = tuple(atts)
        changedsince: int | None = None
        vanished = False
        partial: PartialRange | None = None
        if self.take(b" ("):
            while True:
                if self.take(b"CHANGEDSINCE "):
                    changedsince = self.parse_mod_sequence_value()
                elif self.take(b"VANISHED"):
                    vanished = True
                elif self.take(b"PARTIAL "):
                    # RFC 9394 3.3: a modifier of UID FETCH.
                    if not uid or partial is not None:
                        raise self.error("PARTIAL fetch modifier only once and only with UID FETCH")
                    partial = self.parse_partial_range()
                else:
                    raise self.error("unknown fetch modifier")
                if self.take(b")"):
                    break
                self.sp()
        return {"numset": ns, "atts": atts, "changedsince": changedsince, "vanished": vanished, "partial": partial}

    # SEARCH: RFC 9051 6.4.4; RFC 4731 ESEARCH RETURN; RFC 5182 SAVE; RFC 7162 MODSEQ

    def parse_update_fetch_atts(self) -> tuple[FetchAtt, ...]:
        self.expect(b"(")
        atts = [self.parse_fetch_att()]
        while self.take(b" "):
            atts.append(self.parse_fetch_att())
        self.expect(b")")
        return tuple(atts)

    def cmd_search(self, uid: bool) -> dict[str, Any]:
        self.sp()
        return_opts, partial = self.maybe_search_return_opts()
        charset: str | None = None
        if self.take(b"CHARSET "):
            charset = self.parse_astring().upper()
            self.sp()
        key = self.parse_search_criteria(charset)
        return {"return_opts": return_opts, "partial": partial, "charset": charset, "key": key, "update_atts": self.update_atts}

    # SORT: RFC 5256 BASE.6.4.SORT; RFC 5267 3 extended SORT; RFC 5957 sort keys

    def cmd_sort(self, uid: bool) -> dict[str, Any]:
        self.sp()
        return_opts, partial = self.maybe_search_return_opts()
        criteria = self.parse_sort_criteria()
        self.sp()
        charset = self.parse_charset()
        self.sp()
        key = self.parse_search_criteria(charset)
        return {
            "return_opts": return_opts, "partial": partial, "criteria": criteria, "charset": charset, "key": key,
            "update_atts": self.update_atts,
        }  # fmt: skip

    # THREAD: RFC 5256 BASE.6.4.THREAD

    def cmd_thread(self, uid: bool) -> dict[str, Any]:
        self.sp()
        algorithm = self.parse_atom().upper()
        if algorithm not in THREAD_ALGORITHMS:
            raise BadCommand(f"unknown threading algorithm {algorithm!r}")
        self.sp()
        charset = self.parse_charset()
        self.sp()
        key = self.parse_search_criteria(charset)
        return {"algorithm": algorithm, "charset": charset, "key": key}

    # CANCELUPDATE: RFC 5267 4.3.5, "CANCELUPDATE" 1*(SP quoted)

    def cmd_cancelupdate(self, uid: bool) -> dict[str, Any]:
        tags: list[str] = []
        while self.take(b" "):
            tags.append(self.parse_quoted().decode("utf-8", "replace"))
        if not tags:
            raise self.error("expected quoted tag")
        return {"tags": tags}


def parse_command(data: bytes, streamed: frozenset[int] = frozenset()) -> Command:
    """Parse one complete command (literals inline, no trailing CRLF). ``streamed``: offsets of
    APPEND message literals whose data is not in ``data`` (see ``is_append_message``)."""
    return Parser(data, streamed).parse_command()


def is_append_message(text: bytes, streamed: frozenset[int] = frozenset()) -> bool:
    """Whether ``text``, a command so far that ends in a literal announcement, is an APPEND
    whose announced literal is message data (RFC 9051 6.3.12 ``append = "APPEND" SP mailbox
    [SP flag-list] [SP date-time] SP literal``; RFC 6855 ``"UTF8 (" literal8 ")"``; a further
    message of RFC 3502 MULTIAPPEND; a TEXT part of RFC 4469 CATENATE; the message of RFC 8508
    [UID] REPLACE), not e.g. the mailbox name or a CATENATE URL. ``streamed``: as for ``parse_command`` (earlier messages of the
    command). The protocol layer streams such a literal instead of buffering it."""
    p = Parser(text, streamed)
    p.probe = True
    try:
        p.parse_tag()
        p.sp()
        name = p.parse_atom().upper()
        uid = name == "UID"
        if uid:
            p.sp()
            name = p.parse_atom().upper()
        if name == "APPEND" and not uid:
            p.cmd_append(False)
        elif name == "REPLACE":
            p.cmd_replace(uid)
    except MessageLiteralHere:
        return True
    except BadCommand:
        return False
    return False


def parse_tag_and_name(line: bytes) -> tuple[str | None, str | None]:
    """Best effort tag and upper-case command name of a line, for error replies and limits."""
    p = Parser(line)
    try:
        tag = p.parse_tag()
    except BadCommand:
        return None, None
    if not p.take(b" "):
        return tag, None
    try:
        name = p.parse_atom().upper()
    except BadCommand:
        return tag, None
    if name == "UID" and p.take(b" "):
        try:
            name = p.parse_atom().upper()
        except BadCommand:
            return tag, None
    return tag, name
