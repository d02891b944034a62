"""The trio driver: one task per connection, reading bytes into the sans-IO protocol, running one
command at a time and writing responses.

Invariants:
- Commands never run concurrently on one connection; untagged responses queued by a command (and
  changes from other sessions) are written before its tagged reply.
- Every read and write has a deadline (``TIMEOUTS``); a read timeout ends with ``* BYE`` and a
  reason, never a silent close (RFC 9051 7.1.5; mox ``imapserver/server.go`` closes silently).
- No exception escapes ``handle_connection``; a bug in a command gives ``NO [SERVERBUG]`` and a
  logged traceback, and the connection goes on.
- Memory per connection is bounded: an APPEND message literal (once authenticated) goes to a
  temporary file of the store as it arrives, through a buffer of at most ``UPLOAD_BUFFER``
  bytes; the store renames that file into place. ``peak_buffered`` records the most input
  held in memory at once (protocol buffers plus that buffer), logged when the connection ends.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from mox import mlog
from mox.ci import hooks as ci
from mox.limits.peer import peer_ip

from . import (
    cmd_append,
    cmd_auth,
    cmd_copymove,
    cmd_esearch,
    cmd_fetch,
    cmd_idle,
    cmd_mailbox,
    cmd_metadata,
    cmd_notify,
    cmd_search,
    cmd_select,
    cmd_sort,
    cmd_store,
    response_write,
    wire,
)
from .compress import DeflateStream
from .errors import BadCommand, Bye, CommandFailed, ReadTimeout, ServerBug
from .parse import ANY_STATE, AUTHENTICATED, NOT_AUTHENTICATED, SELECTED
from .protocol import (
    MAX_LITERAL,
    NEED_DATA,
    AppendData,
    AppendLiteral,
    BadSyntax,
    EndOfStream,
    Fatal,
    ImapServerConnection,
    Line,
    NeedLiteral,
    NotImap,
)
from mox.store import Upload
from mox.store import errors as E
from mox.context import ServerContext

from .responses import (
    Code,
    CodeCapability,
    CodeMetadata,
    CodeOther,
    CodeWord,
    Continuation,
    Response,
    Tagged,
    UntaggedBye,
    UntaggedPreauth,
    UntaggedResult,
)
from .session import Done, Session, State, append_limit
from .types import Command, MessageLiteral

# Deadlines in seconds (mox imapserver/server.go); tests may lower them.
TIMEOUTS = {
    "read_preauth": 30.0,
    "read_auth": 30 * 60.0,
    "literal": 30.0,
    "write_preauth": 30.0,
    "write_auth": 5 * 60.0,
    "tls_handshake": 30.0,
}

# One handler per command; it returns the tagged OK's text, or Done(code, text).
HANDLERS: dict[str, Callable[[Session, Command], Awaitable[str | Done]]] = {
    "CAPABILITY": cmd_auth.cmd_capability,
    "NOOP": cmd_auth.cmd_noop,
    "LOGOUT": cmd_auth.cmd_logout,
    "ID": cmd_auth.cmd_id,
    "STARTTLS": cmd_auth.cmd_starttls,
    "LOGIN": cmd_auth.cmd_login,
    "AUTHENTICATE": cmd_auth.cmd_authenticate,
    "ENABLE": cmd_auth.cmd_enable,
    "COMPRESS": cmd_auth.cmd_compress,
    "SELECT": cmd_select.cmd_select,
    "EXAMINE": cmd_select.cmd_select,
    "CREATE": cmd_mailbox.cmd_create,
    "DELETE": cmd_mailbox.cmd_delete,
    "RENAME": cmd_mailbox.cmd_rename,
    "SUBSCRIBE": cmd_mailbox.cmd_subscribe,
    "UNSUBSCRIBE": cmd_mailbox.cmd_subscribe,
    "LIST": cmd_mailbox.cmd_list,
    "LSUB": cmd_mailbox.cmd_lsub,
    "NAMESPACE": cmd_mailbox.cmd_namespace,
    "STATUS": cmd_mailbox.cmd_status,
    "GETQUOTAROOT": cmd_mailbox.cmd_getquotaroot,
    "GETQUOTA": cmd_mailbox.cmd_getquota,
    "GETMETADATA": cmd_metadata.cmd_getmetadata,
    "SETMETADATA": cmd_metadata.cmd_setmetadata,
    "APPEND": cmd_append.cmd_append,
    "REPLACE": cmd_append.cmd_replace,
    "IDLE": cmd_idle.cmd_idle,
    "CHECK": cmd_select.cmd_check,
    "CLOSE": cmd_select.cmd_close,
    "UNSELECT": cmd_select.cmd_unselect,
    "EXPUNGE": cmd_select.cmd_expunge,
    "SEARCH": cmd_search.cmd_search,
    "SORT": cmd_sort.cmd_sort,
    "THREAD": cmd_sort.cmd_thread,
    "CANCELUPDATE": cmd_search.cmd_cancelupdate,
    "ESEARCH": cmd_esearch.cmd_esearch,
    "NOTIFY": cmd_notify.cmd_notify,
    "FETCH": cmd_fetch.cmd_fetch,
    "STORE": cmd_store.cmd_store,
    "COPY": cmd_copymove.cmd_copy,
    "MOVE": cmd_copymove.cmd_move,
}

UPLOAD_BUFFER = 256 * 1024  # APPEND data collected before one write to the upload file

# Commands during which expunges of other sessions are held back (RFC 9051 7.5.1; RFC 5256:
# "Untagged EXPUNGE responses are not permitted while the server is responding to a SORT
# command", THREAD alike).
NO_EXPUNGE_COMMANDS = {"FETCH", "STORE", "SEARCH", "SORT", "THREAD", "ESEARCH"}


class Connection:
    """One client connection: stream I/O around a Session."""

    ci: Any = None  # mox.ci.hooks.ImapHooks in localserve (fault rules, profile, transcript)

    def __init__(self, ctx: ServerContext, stream: trio.abc.Stream, log: mlog.Logger, *, tls: bool) -> None:
        self.ctx = ctx
        self.stream = stream
        self.log = log
        self.max_append = append_limit(ctx)  # also advertised as APPENDLIMIT
        self.proto = ImapServerConnection(max_append=self.max_append)
        self.session = Session(ctx, self, log, tls=tls)
        self.start_tls = False
        self.start_compress = False  # COMPRESS DEFLATE answered: wrap the stream next
        self.compressing = False
        self.uploads: list[Upload] = []  # the APPEND message literals of the command, in order
        self._upload_buf = bytearray()
        self.peak_buffered = 0
        # The NOTIFY pusher (_push_between) and the wait for a command it writes during.
        self._pusher_running = False
        self._between = False
        self._wake_pusher = trio.Event()
        self._push_lock = trio.Lock()
        self._push_failed: BaseException | None = None
        self._between_scope: trio.CancelScope | None = None  # that wait (the pusher ends it on failure)
        self._read_scope: trio.CancelScope | None = None  # the wait for the next command without NOTIFY

    # -- I/O

    def _authenticated(self) -> bool:
        return self.session.state in (State.AUTHENTICATED, State.SELECTED)

    async def write(self, data: bytes, kind: str = "text") -> None:
        if not data:
            return
        if self.log.enabled("trace"):
            # Text up to the first literal is logged as protocol text; literal contents and what
            # follows only at tracedata (message data, mlog decides).
            m = wire.LITERAL_ANNOUNCEMENT.search(data)
            text, rest = (data, b"") if m is None else (data[: m.end() - 2], data[m.end() :])
            for line in text.rstrip(b"\r\n").split(b"\r\n"):
                self.log.trace_line("S:", line[:1000], kind=kind)
            if rest:
                self.log.trace_line("S:", rest[:2000], kind="data")
        timeout = TIMEOUTS["write_auth" if self._authenticated() else "write_preauth"]
        # A plain cancel scope, as trio.fail_after makes one (without its generator wrapper:
        # this runs for every response).
        with trio.CancelScope(relative_deadline=timeout) as cs:
            await self.stream.send_all(data)
        if cs.cancelled_caught:
            raise trio.TooSlowError

    async def send(self, r: Response) -> None:
        """Write one response now (greeting, BYE, continuation requests, the tagged reply)."""
        await self.write(response_write.serialize(r, utf8=self.session.utf8))

    async def next_event(self, timeout: float | None = None, *, between: bool = False) -> object:
        # Before login APPEND can't succeed: its message literal gets the limit of any other
        # literal, so an unauthenticated client can't make us buffer a huge message.
        self.proto.max_append = self.max_append if self._authenticated() else MAX_LITERAL
        self.proto.stream_append = self._authenticated()
        while True:
            ev = self.proto.next_event()
            if ev is not NEED_DATA:
                return ev
            if timeout is None:
                if self.proto.in_command():
                    t = TIMEOUTS["literal"]
                else:
                    t = TIMEOUTS["read_auth" if self._authenticated() else "read_preauth"]
            else:
                t = timeout
            data: bytes | bytearray
            if between and self._pusher_running and not self.proto.in_command():
                data = await self._receive_between(t)
            else:
                waiting = between and not self.proto.in_command()
                if waiting and (bye := self.session.overflow_text()) is not None:
                    raise Bye(bye)
                with trio.CancelScope(relative_deadline=t) as cs:  # trio.move_on_after(t)
                    # Waiting for a command: an overflow of the session's changes ends it now.
                    self._read_scope = cs if waiting else None
                    try:
                        data = await self.stream.receive_some(65536)
                    finally:
                        self._read_scope = None
                if cs.cancelled_caught:
                    if waiting and (bye := self.session.overflow_text()) is not None:
                        raise Bye(bye)
                    if cs.deadline > trio.current_time():
                        continue  # woken by an overflow that NOTIFY tells with the next command
                    raise ReadTimeout()
            self.proto.receive_data(data)
            self.peak_buffered = max(self.peak_buffered, self.proto.buffered() + len(self._upload_buf))

    def wake_overflow(self) -> None:
        """The session's queue of changes overflowed (changes.py, in the trio thread): a wait
        for the next command ends, the session gets its BYE."""
        if self._read_scope is not None:
            self._read_scope.cancel()

    def _pushing(self) -> bool:
        """NOTIFY asks to be told of changes as they happen (RFC 5465 3: also when no command is
        in progress)."""
        n = self.session.notify
        return n is not None and n.pushes and self.session.sub is not None

    async def _receive_between(self, timeout: float) -> bytes:
        """Wait for the client's next command while the pusher (``_push_between``) writes what
        NOTIFY asks to be told. Once data arrives a push in progress is finished first."""
        if (bye := self.session.overflow_text()) is not None:
            raise Bye(bye)
        self._between = True
        self._wake_pusher.set()
        try:
            with trio.CancelScope(relative_deadline=timeout) as cs:
                self._between_scope = cs
                data = bytes(await self.stream.receive_some(65536))
        finally:
            self._between = False
            self._between_scope = None
        if self._push_lock.locked():
            async with self._push_lock:
                pass  # a push that started before the data came is written in full
        if self._push_failed is not None:
            raise self._push_failed
        if (bye := self.session.overflow_text()) is not None:
            raise Bye(bye)
        if cs.cancelled_caught:
            raise ReadTimeout()
        return data

    async def _push_between(self) -> None:
        """The task that writes NOTIFY's changes between commands (one per connection while a
        NOTIFY setting needs it, instead of a task for every wait). It writes only while the
        connection waits for a command, under ``_push_lock``; a write is shielded, so it is
        never cut in half. A failed write ends the wait for the command with its error."""
        s = self.session
        while True:
            if not self._between:
                self._wake_pusher = trio.Event()
                await self._wake_pusher.wait()
                continue
            sub = s.sub
            if sub is None or sub.closed:
                await trio.sleep_forever()
            async with self._push_lock:
                if self._between:
                    with trio.CancelScope(shield=True):
                        try:
                            s.apply_changes(push=True)
                        except Exception as e:  # a bug here must not end the connection
                            self.log.unexpected("applying notify changes", e)
                        else:
                            await s.remove_released_files()
                            out = s.take_output()
                            if out:
                                try:
                                    await self.write(out)
                                except (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError) as e:
                                    self._push_failed = e
                                    if self._between_scope is not None:
                                        self._between_scope.cancel()
                                    return
                    if s.overflow_text() is not None:
                        # Fell behind again after NOTIFICATIONOVERFLOW: the wait ends with BYE.
                        if self._between_scope is not None:
                            self._between_scope.cancel()
                        return
            await sub.wait()

    async def _serve_notifying(self) -> bool:
        """Serve commands with the pusher running, as long as NOTIFY needs it. True when the
        connection is to end."""
        failed: list[Exception] = []
        ended = False
        self._push_failed = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._push_between)
            self._pusher_running = True
            try:
                while self._pushing():
                    if await self._serve_one():
                        ended = True
                        break
            except Exception as e:  # raised below as itself, not in the nursery's exception group
                failed.append(e)
            finally:
                self._pusher_running = False
                nursery.cancel_scope.cancel()
        if failed:
            raise failed[0]
        return ended

    # -- APPEND message literals

    async def _upload_start(self, ev: AppendLiteral) -> None:
        await self._upload_flush()  # what is buffered belongs to the previous literal
        acc = self.session.acc
        assert acc is not None  # streaming is on only once authenticated
        self.uploads.append(acc.new_upload())
        if ev.sync:
            await self.send(Continuation())

    async def _upload_data(self, data: bytes) -> None:
        self._upload_buf += data
        if len(self._upload_buf) >= UPLOAD_BUFFER:
            await self._upload_flush()

    async def _upload_flush(self) -> None:
        if self.uploads and self._upload_buf:
            data, self._upload_buf = bytes(self._upload_buf), bytearray()
            await trio.to_thread.run_sync(self.uploads[-1].write, data)

    def _take_uploads(self, cmd: Command) -> None:
        """Put the uploads in place of the streamed literals of an APPEND, in their order."""
        todo = list(self.uploads)

        def take(v: Any) -> Any:
            if isinstance(v, MessageLiteral):
                if not todo:
                    raise ServerBug("more streamed literals than uploads")
                return todo.pop(0)
            return v

        for m in cmd.args.get("messages") or ():
            m.data = take(m.data)
            if m.catenate is not None:
                m.catenate = [(kind, take(v)) for kind, v in m.catenate]

    def discard_upload(self) -> None:
        """Remove the uploads' files unless they became messages (after any command, error, close)."""
        self._upload_buf = bytearray()
        uploads, self.uploads = self.uploads, []
        for up in uploads:
            up.discard()

    async def read_line(self, kind: str = "text") -> bytes:
        """A raw line (AUTHENTICATE continuation, IDLE's DONE)."""
        self.proto.set_line_mode(True)
        try:
            ev = await self.next_event()
        finally:
            self.proto.set_line_mode(False)
        if isinstance(ev, Line):
            self.log.trace_line("C:", ev.data, kind=kind)
            return ev.data
        if isinstance(ev, Fatal):
            raise Bye(ev.text)
        raise Bye("connection closed")

    # -- the connection

    async def run(self) -> None:
        s = self.session
        if self.ctx.shutting_down.is_set():
            await self.send(UntaggedBye(None, "mox shutting down"))
            return
        key = s.tls_key
        if key is not None and not key.no_imap_preauth and not self.ctx.config.login_disabled(key.account):
            # RFC 9051 7.1.4 (PREAUTH); mox imapserver/server.go: implicit TLS with a registered
            # client certificate starts authenticated (not for an account whose login is disabled).
            s.login(key.account, key.login_address)
            s.log.info("authenticated", username=key.login_address, mechanism="tls client certificate preauth")
            caps = CodeCapability(s.capability_names())
            await self.send(UntaggedPreauth(caps, f"mox imap welcomes {key.login_address}"))
        else:
            await self.send(UntaggedResult("OK", CodeCapability(s.capability_names()), "mox imap"))
        try:
            await self._serve_commands()
        except ReadTimeout:
            await self.send(UntaggedBye(None, "inactive, closing connection"))
        except Bye as e:
            await self.send(UntaggedBye(None, e.text))

    async def _serve_commands(self) -> None:
        while True:
            if self._pushing():
                if await self._serve_notifying():
                    return
            elif await self._serve_one():
                return

    async def _serve_one(self) -> bool:
        """Read and answer one command (or literal, or bad line); True when the connection is to end."""
        s = self.session
        ev = await self.next_event(between=True)
        if isinstance(ev, Command):
            if self.ctx.shutting_down.is_set():
                # RFC 9051 7.1.5: BYE when the server is shutting down.
                await self.send(UntaggedBye(None, "mox shutting down"))
                return True
            await self.command(ev)
            if s.state == State.LOGOUT:
                return True
            if self.start_tls:
                self.start_tls = False
                await self._starttls()
            if self.start_compress:
                self._start_compress()
        elif isinstance(ev, NeedLiteral):
            await self.send(Continuation())
        elif isinstance(ev, AppendLiteral):
            await self._upload_start(ev)
        elif isinstance(ev, AppendData):
            await self._upload_data(ev.data)
        elif isinstance(ev, BadSyntax):
            self.discard_upload()
            code = _code(ev.code)
            await self.send(Tagged(ev.tag, "BAD", code, _text(ev.text, code)))
        elif isinstance(ev, NotImap):
            await self.send(UntaggedBye(None, "please try again speaking imap"))
            return True
        elif isinstance(ev, Fatal):
            await self.send(UntaggedBye(None, ev.text))
            return True
        elif isinstance(ev, EndOfStream):
            return True
        return False

    def _start_compress(self) -> None:
        # RFC 4978 4: everything after the tagged OK is compressed, both ways; bytes already read
        # past the command were the client's first compressed data.
        self.start_compress = False
        self.compressing = True
        deflate = DeflateStream(self.stream)
        self.stream = deflate
        self.proto.replace_buffered(deflate.inflate)
        self.log.debug("deflate compression active")

    async def _starttls(self) -> None:
        # RFC 9051 6.2.1: data received before the TLS negotiation is discarded.
        self.proto = ImapServerConnection(max_append=self.max_append)
        self.proto.ncommands = 1
        ssl_stream = trio.SSLStream(self.stream, self.ctx.server_tls(), server_side=True)
        with trio.fail_after(TIMEOUTS["tls_handshake"]):
            await ssl_stream.do_handshake()
        self.stream = ssl_stream
        self.session.tls = True
        # After STARTTLS the certificate's identity is remembered; the client still has to
        # AUTHENTICATE EXTERNAL (RFC 4422 appendix A).
        identify_client(self.ctx, ssl_stream, self.session)
        self.log.debug("tls handshake done after starttls")

    async def command(self, cmd: Command) -> None:
        s = self.session
        name = cmd.name
        full = ("UID " if cmd.uid else "") + name
        if self.log.enabled("trace"):
            raw = self.proto.last_command
            first = raw.split(b"\r\n", 1)[0]
            if name in ("LOGIN", "AUTHENTICATE"):
                self.log.trace_line("C:", f"{cmd.tag} {full} ", kind="text")
                self.log.trace_line("C:", raw, kind="auth")
            else:
                self.log.trace_line("C:", first[:2000], kind="text")
                if len(first) < len(raw):
                    self.log.trace_line("C:", raw[len(first) : len(first) + 2000], kind="data")
        if (bye := s.overflow_text()) is not None:
            raise Bye(bye)  # not run: the session fell too far behind other sessions' changes
        s.current_command = full
        t0 = time.monotonic()
        tagged: Tagged
        try:
            if self.ci is not None:
                cmd = await self.ci.command(cmd)
            if not _allowed(s.state, name):
                raise CommandFailed(f"{full} not allowed in this connection state")
            # NOTIFY applies them itself, under the setting in force (cmd_notify.py).
            if s.selected is not None and name not in ("SELECT", "EXAMINE", "NOTIFY"):
                # New messages and flag changes first, so the command can refer to them;
                # expunges wait until after the command (they renumber messages).
                s.apply_changes(allow_expunge=False)
            if s.selected is not None and s.selected.deleted and name in SELECTED - {"CLOSE", "UNSELECT", "CHECK"}:
                raise CommandFailed("selected mailbox has been deleted", "NONEXISTENT")
            if s.uidonly:
                _check_uidonly(cmd)
            if self.uploads:
                await self._upload_flush()
                self._take_uploads(cmd)
            done = await HANDLERS[name](s, cmd)
            if isinstance(done, Done):
                tagged = Tagged(cmd.tag, "OK", done.code, done.text)
            else:
                tagged = Tagged(cmd.tag, "OK", None, done)
        except BadCommand as e:
            code = _code(e.code)
            tagged = Tagged(cmd.tag, "BAD", code, _text(e.text, code))
        except CommandFailed as e:
            code = _code(e.code)
            tagged = Tagged(cmd.tag, "NO", code, _text(e.text, code))
        except (Bye, ReadTimeout):
            raise
        except (trio.Cancelled, trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError):
            raise
        except Exception as e:
            mapped = _store_error(e)
            if mapped is not None:
                mcode, mtext = mapped
                if mcode == CodeWord("UNAVAILABLE"):
                    self.log.warn("command failed, disk full", command=full, err=str(e))
                tagged = Tagged(cmd.tag, "NO", mcode, _text(mtext, mcode))
            else:
                cid = self.log.unexpected("unhandled error in command", e, command=full)
                text = e.text if isinstance(e, ServerBug) else "error processing command"
                tagged = Tagged(cmd.tag, "NO", CodeWord("SERVERBUG"), f"{text} (cid {cid})")
        if s.state != State.LOGOUT:
            try:
                s.apply_changes(allow_expunge=name not in NO_EXPUNGE_COMMANDS)
            except Exception as e:  # never lose the tagged reply over a broadcast problem
                self.log.unexpected("applying changes", e)
        self.discard_upload()
        self.ctx.metrics.imap_command.observe(time.monotonic() - t0, full.lower(), _metric_result(tagged))
        await self.write(s.take_output() + response_write.serialize(tagged, utf8=s.utf8))
        # Files of removed messages nobody shows any more go after the reply: their removal
        # waits for the fsync of the expunge (docs/durability.md), which the reply need not.
        await s.remove_released_files()


# Commands that take message sequence numbers: with UIDONLY only their UID form (RFC 9586 3.2).
SEQUENCE_COMMANDS = {"SEARCH", "FETCH", "STORE", "COPY", "MOVE", "REPLACE", "SORT", "THREAD"}


def _check_uidonly(cmd: Command) -> None:
    """RFC 9586 3.2: with UIDONLY enabled, a message sequence number anywhere is ``BAD
    [UIDREQUIRED]``: a command's sequence set, a search key, QRESYNC's sequence match data."""
    if cmd.name in SEQUENCE_COMMANDS and not cmd.uid:
        raise BadCommand(f"{cmd.name} takes message sequence numbers: use UID {cmd.name} with UIDONLY", "UIDREQUIRED")
    key = cmd.args.get("key")
    if cmd.name in ("SEARCH", "ESEARCH", "SORT", "THREAD") and key is not None and _has_seqset(key):
        raise BadCommand("message sequence numbers in a search with UIDONLY", "UIDREQUIRED")
    qr = cmd.args.get("qresync")
    if cmd.name in ("SELECT", "EXAMINE") and qr and qr.get("seq_match") is not None:
        raise BadCommand("sequence match data with UIDONLY", "UIDREQUIRED")


def _has_seqset(key: Any) -> bool:
    if key.op == "SEQSET" and not (key.numset is not None and key.numset.search_result):
        return True
    return any(_has_seqset(k) for k in key.children)


def _metric_result(tagged: Tagged) -> str:
    """The result label of mox's IMAP command metric (imapserver/server.go)."""
    if tagged.status == "OK":
        return "ok"
    if tagged.status == "BAD":
        return "badsyntax"
    if isinstance(tagged.code, CodeWord) and tagged.code.word == "SERVERBUG":
        return "servererror"
    return "usererror"


def _code(code: str | None) -> Code | None:
    """The response code of a refusal: ``"TRYCREATE"``, or a code with its arguments as text
    (``"BADCHARSET (US-ASCII UTF-8)"``)."""
    if not code:
        return None
    word, _, arg = code.partition(" ")
    return CodeOther(word, arg) if arg else CodeWord(word)


def _text(text: str, code: Code | None) -> str:
    """Response text (RFC 9051 9 resp-text): one line, and without a code it must not start
    with "[" (a client would read a response code)."""
    text = text.replace("\r", " ").replace("\n", " ") or "error"
    if code is None and text.startswith("["):
        text = "error: " + text
    return text


def _allowed(state: State, name: str) -> bool:
    # RFC 9051 6 (mox imapserver/server.go lets any known command run when selected): strict per-state tables.
    if name in ANY_STATE:
        return True
    if name in NOT_AUTHENTICATED:
        return state == State.NOT_AUTHENTICATED
    if name in AUTHENTICATED:
        return state in (State.AUTHENTICATED, State.SELECTED)
    if name in SELECTED:
        return state == State.SELECTED
    return False


def _store_error(e: Exception) -> tuple[CodeWord | CodeMetadata, str] | None:
    """The tagged NO for an error of the store that a client can cause or must hear about."""
    if isinstance(e, E.MailboxNotFound):
        return CodeWord("NONEXISTENT"), "mailbox does not exist"
    if isinstance(e, E.MailboxExists):
        return CodeWord("ALREADYEXISTS"), "mailbox already exists"
    if isinstance(e, E.MailboxHasChildren):
        return CodeWord("HASCHILDREN"), "mailbox has children"
    if isinstance(e, E.OverQuota):
        return CodeWord("OVERQUOTA"), "account over quota"
    if isinstance(e, E.DiskFull):
        # RFC 5530 3: UNAVAILABLE, "temporary failure because a subsystem is down": the disk
        # is full, nothing was stored and the same command works once space is freed. Not
        # OVERQUOTA (the user's quota is not the problem, deleting their mail may not help;
        # Dovecot uses it anyway) and not SERVERBUG (no bug). SMTP says 452 4.3.1 alike.
        return CodeWord("UNAVAILABLE"), "mail storage full, try again later"
    if isinstance(e, E.InvalidMailboxName):
        return CodeWord("CANNOT"), str(e)
    if isinstance(e, E.MetadataTooMany):
        return CodeMetadata("TOOMANY"), str(e)  # RFC 5464 4.3
    if isinstance(e, E.MetadataTooLarge):
        return CodeMetadata("MAXSIZE", e.limit), str(e)
    if isinstance(e, E.InvalidFlag):
        return CodeWord("CLIENTBUG"), str(e)
    return None


def identify_client(ctx: ServerContext, ssl_stream: Any, session: Session) -> None:
    """Note the TLS client certificate, and its registered public key if any (mox ``imapserver/server.go``)."""
    try:
        der = ssl_stream.getpeercert(binary_form=True)
    except (ValueError, AttributeError):
        der = None
    if not der:
        return
    session.client_cert = True
    try:
        from mox.auth import tlspubkey

        session.tls_key = tlspubkey.identify(ctx.config.data_dir, der, ctx.auth)
    except Exception as e:  # a broken key file must not end the connection
        session.log.unexpected("looking up tls client certificate", e)


def _keepalive(stream: Any) -> None:
    """TCP keepalive (mox ``imapserver/server.go``: 5 minutes where the platform lets us set it)."""
    import socket

    try:
        sock = stream.socket
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if hasattr(socket, "TCP_KEEPIDLE"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 300)
    except (AttributeError, OSError):
        pass


async def handle_connection(ctx: ServerContext, stream: trio.SocketStream, *, implicit_tls: bool) -> None:
    """Serve one IMAP connection (architecture.md "Servers"). Never raises."""
    log = mlog.get_logger("imapserver").with_(cid=mlog.connection_cid())
    conn: Connection | None = None
    try:
        remote_ip = peer_ip(stream)
        _keepalive(stream)
        log = log.with_(remote=remote_ip)
        log.debug("new connection", implicit_tls=implicit_tls)
        s: trio.abc.Stream = stream
        if implicit_tls:
            ssl_stream = trio.SSLStream(stream, ctx.server_tls(), server_side=True)
            with trio.fail_after(TIMEOUTS["tls_handshake"]):
                await ssl_stream.do_handshake()
            s = ssl_stream
        conn = Connection(ctx, s, log, tls=implicit_tls)
        ctx.metrics.imap_connection.inc("imaps" if implicit_tls else "imap")
        conn.session.remote_ip = remote_ip
        conn.ci = ci.imap_connection(ctx, conn, remote_ip)
        if conn.ci is not None and not await conn.ci.connect():
            return
        if implicit_tls:
            identify_client(ctx, s, conn.session)
        await conn.run()
    except (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError) as e:
        log.debug("connection ended", err=repr(e))
    except Exception as e:
        # Not in step with the client any more (the bug was outside a command): close.
        log.unexpected("connection failed", e)
    finally:
        if conn is not None:
            conn.discard_upload()
            log.debug("connection closed", peak_buffered=conn.peak_buffered)
            conn.session.close()
            if conn.ci is not None:
                conn.ci.closed()
        with trio.CancelScope(shield=True):
            try:
                with trio.move_on_after(1):
                    await (conn.stream if conn is not None else stream).aclose()
            except Exception:
                pass
