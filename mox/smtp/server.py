"""SMTP server driver (trio): delivery (1025), submission (1587) and submissions (1465).

Invariants:
- One task per connection, owned by the listener's handler nursery; every read has a deadline
  (idle timeout -> ``421 4.4.2 idle timeout`` and close), nothing escapes ``handle_connection``.
- The protocol lives in :mod:`mox.smtp.protocol`; this module does I/O, TLS, authentication
  and the localserve failure simulation (mox ``mox-/localserve.go``); what becomes of a complete
  message (the queue for a submission, the accounts for a delivery) is :mod:`mox.smtp.deliver`'s,
  storing into an account :func:`mox.delivery.deliver.deliver_to_store`.
- Replies are buffered and flushed before each read, so pipelined commands get one write.
- Submission always goes through the queue (durable before ``250``); incoming delivery on 1025
  goes straight to the store (durable before ``250``).
"""

from __future__ import annotations

import re
import socket
import time
from typing import Any

import trio

from mox import __version__, mlog
from mox.ci import hooks as ci
from mox.auth import sasl
from mox.limits import slowmode
from mox.limits.peer import local_ip, peer_ip
from mox.auth.authenticator import hash_runner
from mox.smtp import codes as c
from mox.smtp import failsim
from mox.smtp.address import Address
from mox.smtp import checks, deliver
from mox.smtp.protocol import (
    NEED_DATA,
    ChunkReceived,
    Command,
    ConnectionClosed,
    DataRejected,
    LineTooLong,
    MessageComplete,
    NotSmtp,
    Reply,
    ReplyError,
    ServerConnection,
    State,
    error,
    fail,
)
from mox.context import ServerContext

DEFAULT_IDLE_TIMEOUT = 30.0  # mox: 30 s per read between commands
DEFAULT_DATA_TIMEOUT = 30 * 60.0  # mox: 30 minutes for the DATA phase
_ECODE = re.compile(rb"[245]\.\d{1,3}\.\d{1,3}")  # RFC 3463 enhanced status code


_Closed = ConnectionClosed  # the connection is done (peer closed, final reply, I/O failed, dropped)


def direct_socket(stream: trio.abc.Stream) -> socket.socket | None:
    """The socket under a plain TCP connection (trio's SocketStream in the SlowStream that
    ``serve`` wraps every connection in), which the driver reads and writes directly while
    the connection is not slow: a reply is sent without a trip through the scheduler, a read
    waits for the socket and then reads it (trio's layers add a checkpoint, a conflict
    detector and a translation of errors to each). None for other streams (TLS, throttled,
    in-memory), which are used through their methods."""
    if not isinstance(stream, slowmode.SlowStream) or not isinstance(stream.transport_stream, trio.SocketStream):
        return None
    sock = getattr(stream.transport_stream.socket, "_sock", None)  # trio's wrapped socket.socket
    return sock if isinstance(sock, socket.socket) else None


async def _receive(sock: socket.socket) -> bytes:
    """What the socket has (b"" at its end), waiting until it has something."""
    try:
        data = sock.recv(65536)
    except BlockingIOError:
        pass
    else:
        await trio.lowlevel.checkpoint()  # data was there at once (pipelining): others run too
        return data
    while True:
        await trio.lowlevel.wait_readable(sock)
        try:
            return sock.recv(65536)
        except BlockingIOError:
            continue


class Conn:
    ci: Any = None  # mox.ci.hooks.SmtpHooks in localserve (fault rules, transcript)

    def __init__(self, ctx: ServerContext, stream: trio.abc.Stream, *, submission: bool, implicit_tls: bool) -> None:
        self.ctx = ctx
        self.view_holds: list[Any] = []  # per-address views of this transaction's recipients
        self._view_tx: Any = None
        self.stream = stream
        self.submission = submission
        #: mox's "kind" label of the SMTP metrics.
        self.metric_kind = "submit" if submission else "deliver"
        self.last_code = self.last_ecode = ""
        self.cid = mlog.connection_cid()
        self.log = mlog.get_logger("smtpserver").with_(cid=self.cid)
        self.out = bytearray()
        self.idle_timeout = ctx.config.smtp_idle_timeout
        self.data_timeout = ctx.config.smtp_data_timeout
        self.proto = ServerConnection(
            hostname=ctx.config.hostname,
            submission=submission,
            tls=False,
            tls_available=ctx.tls is not None and not implicit_tls,
            require_tls_for_auth=not ctx.config.no_require_starttls,
            max_message_size=ctx.config.max_message_size or 104857600,
            rcpt_max=ctx.config.smtp_rcpt_max,
            version=__version__,
        )
        self.implicit_tls = implicit_tls
        self.channel_bindings: dict[str, bytes] = {}
        self.tls_identity: tuple[str, str] | None = None
        self.update_mechanisms()
        self.remote_ip = peer_ip(stream) or ""
        self.local_ip = local_ip(stream) or ""
        #: The stream whose socket ``_sock`` is, and its slow mode (see ``direct_socket``).
        self._plain = stream
        self._sock = direct_socket(stream)
        self._slow = stream.mode if isinstance(stream, slowmode.SlowStream) else None

    # --- I/O ----------------------------------------------------------------------------------

    def reply(self, r: Reply) -> None:
        b = r.to_bytes(self.cid)
        self.write(b)

    def write(self, b: bytes) -> None:
        for line in b.split(b"\r\n")[:-1]:
            self.log.trace_line("LS:", line)
        if len(b) >= 3 and b[:3].isdigit():
            # For the command metric: the code and enhanced code of the last reply line.
            last = b.rstrip(b"\r\n").rsplit(b"\r\n", 1)[-1]
            words = last[4:].split(b" ", 1)
            self.last_code = last[:3].decode("ascii")
            self.last_ecode = words[0].decode("ascii", "replace") if _ECODE.fullmatch(words[0]) else ""
        self.out += b

    def direct(self) -> socket.socket | None:
        """The socket to use directly now: the connection is plain TCP (no TLS or throttle
        since) and not slow."""
        if self._sock is None or self.stream is not self._plain or (self._slow is not None and self._slow.slow):
            return None
        return self._sock

    async def flush(self) -> None:
        if not self.out:
            return
        data = bytes(self.out)
        self.out.clear()
        sock = self.direct()
        if sock is not None:
            # The usual reply fits the socket's buffer: sent now, no wait and no timeout needed.
            try:
                n = sock.send(data)
            except BlockingIOError:
                n = 0
            except OSError as e:
                raise _Closed(f"write: {e}") from None
            if n == len(data):
                return
            data = data[n:]
        try:
            with trio.fail_after(max(self.idle_timeout, 30.0)):
                await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError, OSError) as e:
            raise _Closed(f"write: {e}") from None

    async def read_more(self, timeout: float) -> None:
        await self.flush()
        between_commands = self.proto.state not in (State.READ_DATA, State.READ_BDAT)
        if between_commands and self.ctx.shutting_down.is_set():
            self.write(b"421 4.3.2 shutting down\r\n")
            await self.flush()
            raise _Closed("shutting down")
        sock = self.direct()
        data: bytes | bytearray = b""
        # One scope for the read's deadline and, between commands, the stop request (a
        # shutdown is answered at once there: the stream is closed right after, so cancelling
        # the read cannot leave it half-used).
        with trio.CancelScope(deadline=trio.current_time() + timeout) as cs:
            if between_commands:
                self.ctx.stop_scopes.add(cs)
            try:
                if sock is not None:
                    data = await _receive(sock)
                else:
                    data = await self.stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as e:
                raise _Closed(f"read: {e!r}") from None
            finally:
                if between_commands:
                    self.ctx.stop_scopes.discard(cs)
        if cs.cancelled_caught:
            if between_commands and self.ctx.shutting_down.is_set():
                self.write(b"421 4.3.2 shutting down\r\n")
                await self.flush()
                raise _Closed("shutting down")
            # Do better than mox, which closes silently (smtpserver/server.go).
            self.write(b"421 4.4.2 idle timeout\r\n")
            await self.flush()
            raise _Closed("idle timeout")
        if not data:
            raise _Closed("peer closed connection")
        self.proto.receive_data(data)

    async def next_event(self) -> Any:
        while True:
            ev = self.proto.next_event()
            if ev is not NEED_DATA:
                return ev
            await self.read_more(self.idle_timeout)

    async def read_message_event(self) -> Any:
        """The DATA/BDAT outcome; each read has the idle timeout, the whole phase
        ``data_timeout`` (mox: 30 s per read, 30 minutes in total)."""
        with trio.move_on_after(self.data_timeout) as cs:
            return await self.next_event()
        assert cs.cancelled_caught
        self.write(b"421 4.4.2 timeout reading message data\r\n")
        await self.flush()
        raise _Closed("data timeout")

    async def read_auth_line(self) -> bytes:
        await self.flush()
        ev = await self.next_event()
        if isinstance(ev, LineTooLong):
            raise fail(c.C500_BAD_SYNTAX, c.SE_PROTO_OTHER, "line too long, smtp max is 512, we reached 2048", close=True)
        assert isinstance(ev, Command)
        self.log.trace_line("RC:", ev.line, kind="auth")
        return ev.line

    # --- main loop ----------------------------------------------------------------------------

    async def run(self) -> None:
        if self.implicit_tls:
            await self.start_tls()
        if self.ctx.shutting_down.is_set():
            self.write(b"421 4.3.2 shutting down\r\n")
            await self.flush()
            return
        if self.ci is not None:
            await self.ci.stage("connect")
        self.reply(self.proto.greeting())
        while True:
            ev = await self.next_event()
            if isinstance(ev, NotSmtp):
                self.reply(Reply(c.C500_BAD_SYNTAX, c.SE_PROTO_SYNTAX, "please try again speaking smtp"))
                await self.flush()
                return
            if isinstance(ev, LineTooLong):
                self.reply(Reply(c.C500_BAD_SYNTAX, c.SE_PROTO_OTHER, "line too long, smtp max is 512, we reached 2048"))
                await self.flush()
                return
            if not isinstance(ev, Command):  # pragma: no cover - protocol invariant
                raise AssertionError(f"unexpected event {ev!r}")
            if ev.verb == "AUTH":
                self.log.trace_line("RC:", ev.line[:5] + b"...", kind="text")
                self.log.trace_line("RC:", ev.line, kind="auth")
            else:
                self.log.trace_line("RC:", ev.line)
            if self.ctx.shutting_down.is_set():
                self.write(b"421 4.3.2 shutting down\r\n")
                await self.flush()
                return
            t0 = time.monotonic()
            self.last_code = self.last_ecode = ""
            try:
                close = await self.command(ev)
            except ReplyError as e:
                self.reply(e.reply)
                close = e.reply.close
            # mox smtpserver: command duration with its reply codes, per kind of connection.
            cmd = ev.verb.lower() if hasattr(self, "cmd_" + ev.verb.lower()) and ev.verb.isalpha() else "(unknown)"
            self.ctx.metrics.smtp_command.observe(
                time.monotonic() - t0, self.metric_kind, cmd, self.last_code, self.last_ecode
            )
            if close:
                await self.flush()
                return

    async def command(self, cmd: Command) -> bool:
        fn = getattr(self, "cmd_" + cmd.verb.lower(), None) if cmd.verb.isalpha() else None
        if (b"\x00" in cmd.line or b"\r" in cmd.line) and self.proto.ncommands > 0:
            # RFC 5321 2.3.8: no bare CR in a command line (nor NUL, never valid in a command);
            # said plainly instead of "unknown command" or a parse error about a character.
            self.proto.note_command()
            raise fail(c.C500_BAD_SYNTAX, c.SE_PROTO_SYNTAX, "bad syntax: NUL or bare CR in command line")
        if fn is None:
            if not self.proto.note_command():
                # RFC 5321 4.2.4 / mox: a first line that is not SMTP likely is another protocol.
                self.reply(Reply(c.C500_BAD_SYNTAX, c.SE_PROTO_SYNTAX, "please try again speaking smtp"))
                return True
            raise fail(c.C500_BAD_SYNTAX, c.SE_PROTO_BAD_CMD_OR_SEQ, "unknown command")
        self.proto.note_command()
        if self.ci is not None:
            await self.ci.command(cmd.verb, cmd.args)
        return bool(await fn(cmd.args))

    # --- commands -----------------------------------------------------------------------------

    async def cmd_ehlo(self, args: str) -> None:
        self.write(self.proto.ehlo(args, extended=True, now=time.time()))

    async def cmd_helo(self, args: str) -> None:
        self.write(self.proto.ehlo(args, extended=False, now=time.time()))

    async def cmd_starttls(self, args: str) -> None:
        self.reply(self.proto.starttls(args))
        await self.flush()
        n = self.proto.buffered()
        if n:
            self.log.info("discarding plaintext data sent after starttls", bytes=n)
        await self.start_tls()
        self.proto.tls_started()

    async def start_tls(self) -> None:
        ssl_stream = trio.SSLStream(self.stream, self.ctx.server_tls(), server_side=True)
        try:
            with trio.fail_after(self.idle_timeout):
                await ssl_stream.do_handshake()
        except (trio.BrokenResourceError, trio.TooSlowError, OSError) as e:
            raise _Closed(f"tls handshake: {e}") from None
        self.stream = ssl_stream
        self.proto.tls = True
        self.channel_bindings = sasl.channel_bindings(ssl_stream)
        self.tls_identity = None
        if self.submission:
            try:
                from mox.auth import tlspubkey

                key = tlspubkey.identify_ssl(self.ctx.config.data_dir, ssl_stream, self.ctx.auth)
            except Exception as e:  # a broken key file must not take the connection down
                self.log.unexpected("identifying tls client certificate", e)
                key = None
            if key is not None and key.account in self.ctx.config.accounts and \
                    self.ctx.config.accounts[key.account].login_disabled:
                self.log.info("account login disabled, tls client certificate not used", account=key.account)
                key = None
            if key is not None:
                self.tls_identity = (key.account, key.login_address)
                # mox smtpserver/server.go: no AUTH needed after the handshake, the connection is authenticated.
                self.proto.account, self.proto.username = key.account, key.login_address
                self.log.info("tls client certificate", account=key.account, fingerprint=key.fingerprint)
        self.update_mechanisms()

    async def cmd_auth(self, args: str) -> None:
        # RFC 4954; mechanisms from mox.auth.sasl (mox smtpserver/server.go).
        mech_name, initial = self.proto.auth_begin(args)
        verifier = sasl.StoreVerifier(self.ctx.auth, self.ctx.store, self.tls_identity)
        try:
            mech = sasl.server_mechanism(
                mech_name,
                verifier,
                hostname=self.ctx.config.hostname,
                channel_bindings=self.channel_bindings,
            )
        except sasl.UnknownMechanism:
            raise fail(c.C504_PARAM_NOT_IMPL, c.SE_PROTO_BAD_PARAMS, f"mechanism {mech_name} not supported") from None

        async def send_challenge(data: bytes) -> None:
            self.write(b"334 " + sasl.encode_challenge(data) + b"\r\n")

        await slowmode.before_auth_attempt()  # after repeated failures on this connection
        try:
            ok = await sasl.serve_exchange(
                mech,
                initial,
                send_challenge=send_challenge,
                read_response=self.read_auth_line,
                run_sync=hash_runner(self.ctx.limiter),
                limiter=self.ctx.limiter,
                ip=self.remote_ip or None,
            )
        except sasl.TooManyAuthFailures:
            raise fail(c.C421_SERVICE_UNAVAIL, c.SE_POL_OTHER, "too many auth failures", close=True) from None
        except sasl.Aborted:
            raise fail(c.C501_BAD_PARAM_SYNTAX, c.SE_PROTO_OTHER, "authentication aborted") from None
        except sasl.MalformedResponse as e:
            raise fail(c.C501_BAD_PARAM_SYNTAX, c.SE_PROTO_BAD_PARAMS, str(e)) from None
        except sasl.AuthorizationFailed as e:
            self.log.info("authentication failed", username=e.username, mechanism=mech_name)
            raise fail(c.C535_AUTH_BAD_CREDS, c.SE_POL_AUTH_BAD_CREDS, "cannot assume other role") from None
        except sasl.SaslError as e:
            self.log.info("authentication failed", username=e.username, mechanism=mech_name, err=str(e))
            if isinstance(e, sasl.ChannelBindingMismatch):  # 5.7.7: message integrity, as mox
                raise fail(c.C535_AUTH_BAD_CREDS, "7.7", "channel bindings do not match, potential mitm") from None
            if isinstance(e, sasl.OtherAccountThanCertificate):
                msg = "authentication failed, tls client certificate public key belongs to another account"
                raise fail(c.C535_AUTH_BAD_CREDS, c.SE_POL_AUTH_BAD_CREDS, msg) from None
            raise fail(c.C535_AUTH_BAD_CREDS, c.SE_POL_AUTH_BAD_CREDS, "bad user/pass") from None
        disabled = self.ctx.config.accounts.get(ok.account)
        if disabled is not None and disabled.login_disabled:
            # mox smtpserver/server.go: 525 5.7.13 after the credentials were verified.
            self.log.info("account login disabled", username=ok.username)
            raise fail(c.C525_ACCOUNT_DISABLED, c.SE_POL_ACCOUNT_DISABLED,
                       f"login disabled for account: {disabled.login_disabled}")
        self.log.info("authenticated", username=ok.username, account=ok.account, mechanism=mech_name)
        self.reply(self.proto.auth_succeeded(ok.account, ok.username))

    def update_mechanisms(self) -> None:
        """What AUTH offers on this connection (mox.auth.sasl decides: -PLUS needs a channel binding,
        EXTERNAL a registered client certificate); EXTERNAL first, as mox."""
        names = sasl.server_mechanism_names(
            tls=self.proto.tls,
            channel_binding=bool(self.channel_bindings),
            require_tls_for_plain=self.proto.require_tls_for_auth,
            client_cert=self.tls_identity is not None,
        )
        if "EXTERNAL" in names:
            names.remove("EXTERNAL")
            if self.tls_identity is not None:
                names.insert(0, "EXTERNAL")
        self.proto.mechanisms = names

    async def cmd_mail(self, args: str) -> None:
        mf = self.proto.parse_mail(args, now=time.time())
        if self.submission:
            # mox smtpserver/server.go: MAIL FROM must belong to the authenticated account, or be
            # an alias with AllowMsgFrom that the account is a member of; an address at a
            # disabled domain is a temporary error (mox-/lookup.go AllowMsgFrom).
            if mf.path is not None and self.ctx.config.domain_disabled(mf.path.domain):
                self.log.info("submission with smtp mail from of disabled domain", domain=mf.path.domain)
                raise fail(c.C451_LOCAL_ERROR, c.SE_SYS_OTHER, "domain of smtp mail from is temporarily disabled")
            if mf.path is None or not self.allow_from(str(mf.path)):
                raise fail(c.C550_MAILBOX_UNAVAIL, c.SE_POL_DELIVERY_UNAUTH, "must match authenticated user")
        elif mf.path is not None and mf.path.domain == "":
            raise fail(c.C550_MAILBOX_UNAVAIL, c.SE_POL_OTHER, "domain name required")
        if mf.path is not None and failsim.stage(mf.path.localpart) == "mailfrom":
            await self.simulate(failsim.special_code(mf.path.localpart), "timing out command due to special localpart")
        self.reply(self.proto.accept_mail())

    def allow_from(self, addr: str) -> bool:
        """Whether the logged-in account may send as addr (its own, or an alias with
        AllowMsgFrom it is a member of)."""
        account = self.proto.account
        return account is not None and self.ctx.auth.allow_msg_from(account, addr)

    def is_alias(self, addr: Address) -> bool:
        """Whether addr is an alias (domains.conf Aliases)."""
        domain = addr.domain or self.ctx.config.hostname
        return self.ctx.config.alias(addr.localpart, domain) is not None

    async def simulate(self, code: int | str | None, timeout_text: str, *, timeout_se: str = c.SE_SYS_OTHER) -> None:
        if code is None:
            return
        if code == failsim.TIMEOUT:
            self.log.info("timing out due to special localpart")
            await self.flush()
            await trio.sleep(self.ctx.config.failure_timeout)
            raise fail(c.C451_LOCAL_ERROR, timeout_se, timeout_text)
        assert isinstance(code, int)
        self.log.info("failure due to special localpart", code=code)
        raise fail(code, c.SE_OTHER, failsim.failure_text(code))

    async def cmd_rcpt(self, args: str) -> None:
        rt = self.proto.parse_rcpt(args)
        addr = rt.path
        dest = None
        if not self.submission and not self.ctx.config.localserve and self.ctx.config.domain_disabled(addr.domain):
            # mox smtpserver/server.go (localserve delivers to its catch-all account instead).
            self.log.info("smtp recipient for temporarily disabled domain", domain=addr.domain)
            raise fail(c.C450_MAILBOX_UNAVAIL, c.SE_MAILBOX_DISABLED, "recipient domain temporarily disabled")
        if not self.submission and not self.is_alias(addr):
            dest = self.lookup(addr)
            if dest is None:
                raise fail(c.C550_MAILBOX_UNAVAIL, c.SE_ADDR_UNKNOWN_DEST_MAILBOX, "no such user")
        if failsim.stage(addr.localpart) == "rcptto":
            await self.simulate(failsim.special_code(addr.localpart), "timing out command due to special localpart")
        if not self.submission and dest is not None:
            self._hold_view(addr, dest)
        self.reply(self.proto.accept_rcpt(rt))

    def _hold_view(self, addr: Address, dest: tuple[str, str]) -> None:
        """localserve: keep the recipient's per-address view open until the transaction ends
        (mox.ci.hooks: bounded number of open views)."""
        if self.proto.tx is not self._view_tx:  # a new transaction: the old one's views are free
            self.release_views()
            self._view_tx = self.proto.tx
        try:
            acc = ci.hold_view(self.ctx, str(addr), dest)
        except ci.ViewLimit as e:
            # RFC 5321 4.5.3.1.10: 452 for too many recipients, the client sends the rest later.
            self.log.info("per-address view limit reached", address=str(addr), err=str(e))
            raise fail(c.C452_STORAGE_FULL, c.SE_PROTO_TOO_MANY_RCPTS, "too many per-address views in use, try again later") from None
        if acc is not None:
            self.view_holds.append(acc)

    def release_views(self) -> None:
        holds, self.view_holds = self.view_holds, []
        for acc in holds:
            acc.close()

    def lookup(self, addr: Address) -> tuple[str, str] | None:
        """(account, mailbox) for a recipient, None for an unknown address (a bug in the lookup
        is not an unknown address: it reaches the connection's unexpected-error handling)."""
        domain = addr.domain or self.ctx.config.hostname
        return self.ctx.auth.lookup_destination(addr.localpart, domain)

    async def cmd_data(self, args: str) -> None:
        self.reply(self.proto.data(args))
        ev = await self.read_message_event()
        await self._message_event(ev)

    async def cmd_bdat(self, args: str) -> None:
        self.proto.bdat(args)
        ev = await self.read_message_event()
        await self._message_event(ev)

    async def _message_event(self, ev: Any) -> None:
        if isinstance(ev, DataRejected):
            self.log.trace_line("RC:", b"(message data)", kind="data")
            raise ReplyError(ev.reply)
        if isinstance(ev, ChunkReceived):
            self.reply(Reply(c.C250_COMPLETED, c.SE_OTHER, f"chunk received, {ev.size} octets so far"))
            return
        assert isinstance(ev, MessageComplete), ev
        self.log.trace_line("RC:", ev.data[:4096], kind="data")
        try:
            await self._deliver(ev.data)
        finally:
            self.proto.transaction_done()
            self.release_views()

    async def _deliver(self, data: bytes) -> None:
        tx = self.proto.tx
        if self.ci is not None:
            await self.ci.stage("data_end", data=data)
            self.ci.message_received(data)
        checks.check_data(data, submission=self.submission, tx_8bit=tx.body in ("8BITMIME", "BINARYMIME"), smtputf8=tx.smtputf8)
        if self.submission:
            await deliver.submit(self, data)
        else:
            await deliver.deliver(self, data)

    async def cmd_rset(self, args: str) -> None:
        self.reply(self.proto.rset(args))

    async def cmd_vrfy(self, args: str) -> None:
        # RFC 5321 3.5.3: 252 when we won't verify.
        raise fail(c.C252_WITHOUT_VRFY, c.SE_POL_OTHER, "no verify but will try delivery")

    async def cmd_expn(self, args: str) -> None:
        raise fail(c.C252_WITHOUT_VRFY, c.SE_POL_OTHER, "no expand but will try delivery")

    async def cmd_help(self, args: str) -> None:
        self.reply(Reply(c.C214_HELP, c.SE_OTHER, "see rfc 5321 (smtp)"))

    async def cmd_noop(self, args: str) -> None:
        self.reply(Reply(c.C250_COMPLETED, c.SE_OTHER, "alrighty"))

    async def cmd_quit(self, args: str) -> bool:
        if args.strip():
            raise fail(c.C501_BAD_PARAM_SYNTAX, c.SE_PROTO_SYNTAX, "bad syntax: no parameters allowed")
        self.reply(Reply(c.C221_CLOSING, c.SE_OTHER, "okay thanks bye"))
        return True


async def handle_connection(ctx: ServerContext, stream: trio.abc.Stream, *, submission: bool, implicit_tls: bool) -> None:
    """Serve one SMTP connection until QUIT, error, timeout or peer close. Never raises
    (except trio.Cancelled, which the caller's nursery owns)."""
    conn = Conn(ctx, stream, submission=submission, implicit_tls=implicit_tls)
    ctx.metrics.smtp_connection.inc(conn.metric_kind)
    conn.ci = ci.smtp_connection(ctx, conn)
    conn.log.debug("new connection", remote=conn.remote_ip, submission=submission, tls=implicit_tls)
    try:
        await conn.run()
    except _Closed as e:
        conn.log.debug("connection closed", reason=str(e))
    except trio.Cancelled:
        raise
    except Exception as e:
        # A bug in a command: the connection may be mid-message, so it is not safe to read on.
        # RFC 5321 3.8 / 4.2.3: 421 and close (mox smtpserver/server.go also ends the connection).
        conn.log.unexpected("unhandled error in smtp connection", e)
        try:
            conn.out.clear()
            conn.reply(error(c.C421_SERVICE_UNAVAIL, c.SE_SYS_OTHER, "internal error, closing connection"))
            await conn.flush()
        except (_Closed, trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
    finally:
        conn.release_views()
        if conn.ci is not None:
            conn.ci.closed()
        if conn.direct() is None:  # a plain connection is closed by serve, which owns it
            try:
                with trio.move_on_after(1):
                    await conn.stream.aclose()
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass  # the peer went away first (a TLS close_notify that cannot be sent)

