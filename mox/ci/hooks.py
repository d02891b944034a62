"""Test and CI features of localserve, wired into the servers (trio side).

The SMTP and IMAP drivers call the hooks here (a few one-line calls); the decisions live in
sans-IO modules: :mod:`mox.ci.faults` (fault rules), :mod:`mox.ci.transcript` (session recording),
:mod:`mox.ci.lint`, :mod:`mox.imap.profiles`. Nothing here is active outside localserve.

Settings (per server): ``<data>/ci.json`` when present (written by ``mox localserve`` flags and
``mox.testing.LocalServer(ci=...)``), else environment variables: ``MOX_SHARED_PASSWORD``
(default ``moxmoxmox``), ``MOX_IMAP_PROFILE``, ``MOX_DETERMINISTIC`` (``1`` or a fixed time as
unix seconds/RFC 3339), ``MOX_PRELOAD``, ``MOX_EXPORT_ON_EXIT``.

Per-address views ("per-test inboxes"): every message delivered into account ``mox`` (except
Sent/Drafts) is also delivered, in the same step, into a per-address account for each envelope
recipient (``view-<address>``, created on first use). Logging in over IMAP as any address
with the shared password opens that account: a real account, so UIDs, UIDVALIDITY, flags and
IDLE behave as for any account, and workers never see each other's mail. Deleting in a view
leaves account ``mox`` untouched and the other way round.

Views are bounded: at most ``views_max`` (``MOX_VIEWS_MAX``, default 1000, and never more than
the open-files limit allows at two handles each) are open at once. A view is in use while an
SMTP transaction has its address as a recipient (RCPT to the end of the transaction), while a
delivery writes to it, and while an IMAP session is logged in to it. Views not in use are
closed: the least recently used one when room is needed, and any that nobody used for
``VIEW_IDLE`` seconds whenever a view is opened. With every open view in use, a new address
gets ``452 4.5.3`` at RCPT (RFC 5321 4.5.3.1.10, RFC 3463 X.5.3: the client sends the other
recipients later) and ``NO [LIMIT]`` at IMAP login (RFC 5530); the queue retries.
"""

from __future__ import annotations

import collections
import datetime
import email.utils
import hashlib
import hmac
import itertools
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mox.store.schema import Message

import trio

from mox.ci import faults as F
from mox import mlog
from mox.smtp.received import format_date as received_date
from mox.ci.transcript import RecordingLogger, TranscriptStore
from mox.context import ServerContext

SHARED_PASSWORD = "moxmoxmox"
VIEW_PREFIX = "view-"
MAIN_ACCOUNT = "mox"
DEFAULT_FIXED_TIME = 946684800.0  # 2000-01-01T00:00:00Z
CI_FILE = "ci.json"
DEFAULT_VIEWS_MAX = 1000
VIEW_IDLE = 60.0  # seconds after which a view nobody uses is closed
_FILES_RESERVED = 256  # open-file handles kept for listeners, connections and accounts


class ViewLimit(Exception):
    """Every per-address view that may be open at once is in use."""

log = mlog.get_logger("localserve")


@dataclass
class Settings:
    shared_password: str = SHARED_PASSWORD
    imap_profile: str = "mox"  # mox.imap.profiles.DEFAULT_PROFILE
    deterministic: float | None = None  # the fixed clock, unix seconds
    preload: str | None = None
    export_on_exit: str | None = None
    views: bool = True  # per-address IMAP views (MOX_VIEWS=0: off, e.g. for benchmarks)
    views_max: int = DEFAULT_VIEWS_MAX  # views open at once (MOX_VIEWS_MAX)

    @classmethod
    def load(cls, data_dir: Path) -> Settings | None:
        """The settings localserve wrote at start; None when absent (not started as localserve)."""
        try:
            raw = json.loads((Path(data_dir) / CI_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Settings:
        s = cls()
        if raw.get("shared_password"):
            s.shared_password = str(raw["shared_password"])
        if raw.get("imap_profile"):
            from mox.imap.profiles import check_profile

            s.imap_profile = check_profile(str(raw["imap_profile"]))
        s.deterministic = parse_fixed_time(raw.get("deterministic"))
        s.preload = raw.get("preload") or None
        s.export_on_exit = raw.get("export_on_exit") or None
        v = raw.get("views")
        s.views = not (v is False or str(v).strip().lower() in ("0", "false", "no", "off"))
        vm = raw.get("views_max")
        if vm is not None and str(vm).strip() != "":
            try:
                s.views_max = int(str(vm).strip())
            except ValueError:
                raise ValueError(f"views_max: expected a number, got {vm!r}") from None
            if s.views_max < 1:
                raise ValueError(f"views_max: must be at least 1, got {s.views_max}")
        return s

    def to_json(self) -> dict[str, Any]:
        return {
            "shared_password": self.shared_password,
            "imap_profile": self.imap_profile,
            "deterministic": self.deterministic,
            "preload": self.preload,
            "export_on_exit": self.export_on_exit,
            "views": self.views,
            "views_max": self.views_max,
        }


def parse_fixed_time(v: Any) -> float | None:
    """``None``/``""``/``0``/``false``: off; ``1``/``true``: the default fixed time; else unix
    seconds or an RFC 3339 time."""
    if v is None or v is False:
        return None
    if v is True:
        return DEFAULT_FIXED_TIME
    s = str(v).strip().lower()
    if s in ("", "0", "false", "no", "off"):
        return None
    if s in ("1", "true", "yes", "on"):
        return DEFAULT_FIXED_TIME
    try:
        return float(s)
    except ValueError:
        pass
    t = datetime.datetime.fromisoformat(s.upper().replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    return t.timestamp()


def settings_from_env() -> dict[str, Any]:
    env = os.environ
    return {
        "shared_password": env.get("MOX_SHARED_PASSWORD"),
        "imap_profile": env.get("MOX_IMAP_PROFILE"),
        "deterministic": env.get("MOX_DETERMINISTIC"),
        "preload": env.get("MOX_PRELOAD"),
        "export_on_exit": env.get("MOX_EXPORT_ON_EXIT"),
        "views": env.get("MOX_VIEWS"),
        "views_max": env.get("MOX_VIEWS_MAX"),
    }


def deterministic_requested(overrides: dict[str, Any] | None) -> bool:
    """Whether the settings ``init`` will make (environment, then ``overrides``) turn on
    deterministic mode; for what is decided before the server starts (the DKIM key of a new
    config dir). An invalid value counts as off here; ``init`` reports it."""
    v = (overrides or {}).get("deterministic")
    if v is None:
        v = settings_from_env()["deterministic"]
    try:
        return parse_fixed_time(v) is not None
    except ValueError:
        return False


def init(data_dir: Path, overrides: dict[str, Any] | None = None) -> Settings:
    """Called by localserve at start: settings from the environment and ``overrides``
    (validated), written to ``<data>/ci.json`` for the servers."""
    raw = settings_from_env()
    raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        s = Settings.from_dict(raw)
    except ValueError as e:  # shown as one line by the CLI
        from mox.config import ConfigError

        raise ConfigError(f"test and CI settings (MOX_* environment): {e}") from None
    # Paths are checked now, not when they are used (an export that fails at exit is found late).
    problem = None
    if s.preload is not None and not Path(s.preload).is_dir():
        problem = f"preload: {s.preload} is not a directory"
    elif s.export_on_exit is not None and Path(s.export_on_exit).exists() and not Path(s.export_on_exit).is_dir():
        problem = f"export on exit: {s.export_on_exit} exists and is not a directory"
    if problem is not None:
        from mox.config import ConfigError

        raise ConfigError(f"test and CI settings (MOX_* environment): {problem}")
    d = Path(data_dir)
    d.mkdir(parents=True, exist_ok=True)
    from mox.store.layout import SECRET_MODE, write_file_durable

    # It holds the shared password: mode 0600 from the start.
    write_file_durable(d / CI_FILE, d / (CI_FILE + ".tmp"), json.dumps(s.to_json(), indent=1).encode("utf-8"),
                       fsync=False, mode=SECRET_MODE)
    return s


class State:
    """The CI state of one server (``ctx.ci``)."""

    def __init__(self, ctx: ServerContext, settings: Settings) -> None:
        data_dir = Path(ctx.config.data_dir)
        self.settings = settings
        self.faults = F.FaultTable()
        self.transcripts = TranscriptStore(data_dir, deterministic=self.settings.deterministic is not None,
                                           background=_in_worker_thread)
        #: SMTP transaction facts per connection id, for the lint report: cid -> {body, smtputf8}.
        self.tx_info: dict[str, dict[str, Any]] = {}
        self._cids = itertools.count(1)
        #: Open per-address view accounts, least recently used first (reopening replays the
        #: index, so views stay open while there is room), with when each was last used.
        self.view_accounts: collections.OrderedDict[str, Any] = collections.OrderedDict()
        self._view_used: dict[str, float] = {}
        self._view_names: set[str] | None = None
        budget = open_files_budget()
        self.views_cap = settings.views_max if budget is None else max(1, min(settings.views_max, budget // 2))

    def open_view(self, ctx: ServerContext, address: str) -> Any:
        """The open view account of ``address`` (created on first use), owned by this cache:
        whoever keeps using it across a checkpoint takes its own reference
        (``ctx.store.open_account``), which marks it in use. Raises ViewLimit."""
        name = view_account(address)
        now = time.monotonic()
        self._close_idle_views(now, room=False)
        acc = self.view_accounts.get(name)
        if acc is not None:
            self.view_accounts.move_to_end(name)
            self._view_used[name] = now
            return acc
        if len(self.view_accounts) >= self.views_cap:
            self._close_idle_views(now, room=True)
            if len(self.view_accounts) >= self.views_cap:
                raise ViewLimit(f"all {self.views_cap} per-address views that may be open are in use")
        if self._view_names is None:
            self._view_names = {n for n in ctx.store.account_names() if is_view(n)}
        if name not in self._view_names:
            try:
                ctx.store.create_account(name)
            except Exception as e:  # created meanwhile by another session
                if name not in ctx.store.account_names():
                    raise
                log.debug("view account created concurrently", account=name, err=repr(e))
            self._view_names.add(name)
            log.info("per-address view created", address=address, account=name)
        acc = self.view_accounts[name] = ctx.store.open_account(name)
        self._view_used[name] = now
        return acc

    def _close_idle_views(self, now: float, *, room: bool) -> None:
        """Close views nobody else holds a reference to: with ``room``, the least recently used
        one (just enough for one more); else those unused for VIEW_IDLE seconds."""
        for name in list(self.view_accounts):
            acc = self.view_accounts[name]
            if acc.references() > 1:
                continue  # in use (a transaction, a delivery or an IMAP session holds it)
            if not room and now - self._view_used[name] < VIEW_IDLE:
                break  # the rest were used more recently
            del self.view_accounts[name]
            del self._view_used[name]
            acc.close()
            log.debug("per-address view closed", account=name)
            if room and len(self.view_accounts) < self.views_cap:
                return

    def close_views(self) -> None:
        accs = list(self.view_accounts.values())
        self.view_accounts.clear()
        self._view_used.clear()
        for acc in accs:
            acc.close()

    def new_cid(self) -> str:
        return f"d{next(self._cids):x}"

    def now(self) -> float:
        return self.settings.deterministic if self.settings.deterministic is not None else time.time()


def _in_worker_thread(fn: Callable[[], None]) -> None:
    """Run ``fn`` in a thread of trio's cache (the transcript writer); a bug in it is logged."""
    trio.lowlevel.start_thread_soon(fn, _logged, name="mox transcript writer")


def _logged(result: Any) -> None:
    try:
        result.unwrap()
    except Exception as e:  # a bug in the writer: logged as every unexpected error
        log.unexpected("writing transcripts", e)


def open_files_budget() -> int | None:
    """Open-file handles left for per-address views: the process's limit (RLIMIT_NOFILE) minus a
    reserve; None where there is no such limit to respect (Windows)."""
    if os.name == "nt":
        return None
    import resource

    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    return max(2, soft - _FILES_RESERVED)


def raise_open_files_limit() -> None:
    """Raise the soft open-files limit to the hard one (as the Go runtime does for mox), so a
    busy localserve has room for its connections and views. POSIX only; a refusal is logged."""
    if os.name == "nt":
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if sys.platform == "darwin":  # macOS refuses a soft limit above OPEN_MAX
        target = 10240 if hard == resource.RLIM_INFINITY else min(hard, 10240)
    if soft == resource.RLIM_INFINITY or (target != resource.RLIM_INFINITY and soft >= target):
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as e:
        log.debug("raising the open-files limit", err=repr(e))


def state(ctx: ServerContext) -> State | None:
    """The CI state (created on first use), or None when not serving localserve."""
    if not ctx.ci_loaded:
        ctx.ci_loaded = True
        if ctx.config.localserve:
            settings = Settings.load(Path(ctx.config.data_dir))
            if settings is not None:
                ctx.ci = State(ctx, settings)
    return ctx.ci


# --- throttled streams ---------------------------------------------------------------------


class ThrottledStream(trio.abc.Stream):
    """A stream that moves at most ``rate`` bytes per second in each direction."""

    def __init__(self, inner: trio.abc.Stream, rate: int) -> None:
        self.inner = inner
        self.rate = max(1, rate)
        self.socket = getattr(inner, "socket", None)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        data = bytes(data)
        step = max(1, self.rate // 10)
        for i in range(0, len(data), step):
            chunk = data[i : i + step]
            await self.inner.send_all(chunk)
            await trio.sleep(len(chunk) / self.rate)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        n = max(1, min(max_bytes or 65536, self.rate // 10 or 1))
        data = await self.inner.receive_some(n)
        if data:
            await trio.sleep(len(data) / self.rate)
        return data

    async def aclose(self) -> None:
        await self.inner.aclose()


# --- SMTP ----------------------------------------------------------------------------------

_PATH_RE = re.compile(r"<([^<>]*)>")
_SMTP_VERB_STAGE = {"EHLO": "ehlo", "HELO": "ehlo", "STARTTLS": "starttls", "AUTH": "auth", "MAIL": "mail",
                    "RCPT": "rcpt", "DATA": "data", "BDAT": "data"}


class SmtpHooks:
    def __init__(self, st: State, conn: Any) -> None:
        self.st = st
        self.conn = conn
        self.transcript = st.transcripts.start(conn.cid, "smtp", conn.remote_ip)
        conn.log = RecordingLogger(conn.log, self.transcript)

    def _subject(self, stage: str, args: str = "", data: bytes | None = None) -> F.Subject:
        proto = self.conn.proto
        tx = proto.tx
        s = F.Subject()
        s.tokens |= F.ehlo_tokens(proto.ehlo_domain or (args if stage == "ehlo" else ""))
        sender = str(tx.mail_from) if tx.mail_from is not None else None
        rcpts = [str(r) for r in tx.recipients]
        if stage == "mail":
            m = _PATH_RE.search(args)
            sender = m.group(1) if m else None
            rcpts = []
        elif stage == "rcpt":
            m = _PATH_RE.search(args)
            rcpts = [m.group(1)] if m else []
        if stage in ("mail", "rcpt", "data", "data_end"):
            s.sender = sender.lower() if sender else None
            s.recipients = [r.lower() for r in rcpts]
            for a in ([sender] if sender else []) + rcpts:
                s.tokens |= F.address_tokens(a)
        if data is not None:
            s.tokens |= F.header_tokens(data)
        s.user = proto.account
        return s

    async def stage(self, stage: str, args: str = "", data: bytes | None = None) -> None:
        if not self.st.faults.any_rules():
            return None
        rule = self.st.faults.match("smtp", stage, self._subject(stage, args, data), time.time())
        if rule is None:
            return
        from mox.smtp.protocol import ConnectionClosed as _Closed
        from mox.smtp.protocol import fail

        conn = self.conn
        conn.log.info("fault rule fired", rule=rule.id, stage=stage, action=rule.action)
        self.transcript.note(f"fault rule {rule.id} fired at {stage}: {rule.action}")
        if rule.action == "delay":
            await conn.flush()
            await trio.sleep(rule.seconds)
        elif rule.action == "throttle":
            conn.stream = ThrottledStream(conn.stream, rule.rate)
        elif rule.action == "drop":
            conn.out.clear()
            raise _Closed(f"fault rule {rule.id}: drop")
        elif rule.action == "reply":
            se = "0.0"  # enhanced code X.0.0, X from the reply code
            close = stage == "connect" or rule.code == 421
            err = fail(rule.code, se, rule.text, close=close)
            if stage == "connect":
                conn.reply(err.reply)
                await conn.flush()
                raise _Closed(f"fault rule {rule.id}: greeting {rule.code}")
            raise err

    async def command(self, verb: str, args: str) -> None:
        stage = _SMTP_VERB_STAGE.get(verb.upper())
        if stage is None:
            return
        from mox.smtp.protocol import ReplyError

        try:
            await self.stage(stage, args)
        except ReplyError as e:
            if verb.upper() == "BDAT" and not e.reply.close:
                # RFC 3030 2: the chunk follows the command whatever the reply; it is read and
                # dropped (else its bytes would be taken as commands) and the transaction ends.
                self.conn.proto.bdat(args)
                await self.conn.read_message_event()
                self.conn.proto.transaction_done()
            raise

    def message_received(self, data: bytes) -> None:
        tx = self.conn.proto.tx
        info = self.st.tx_info
        info[self.conn.cid] = {"body_8bit": tx.body in ("8BITMIME", "BINARYMIME"), "smtputf8": bool(tx.smtputf8)}
        while len(info) > 10000:
            info.pop(next(iter(info)))

    def closed(self) -> None:
        self.transcript.user = self.conn.proto.account
        self.st.transcripts.finish(self.transcript)


def smtp_connection(ctx: ServerContext, conn: Any) -> SmtpHooks | None:
    st = state(ctx)
    if st is None:
        return None
    if st.settings.deterministic is not None:
        conn.cid = st.new_cid()
        conn.log = mlog.get_logger("smtpserver").with_(cid=conn.cid)
    return SmtpHooks(st, conn)


# --- IMAP ----------------------------------------------------------------------------------


class ImapHooks:
    def __init__(self, st: State, conn: Any, remote: str | None) -> None:
        self.st = st
        self.conn = conn
        cid = str(getattr(conn.log, "fields", {}).get("cid") or mlog.new_cid())
        if st.settings.deterministic is not None:
            cid = st.new_cid()
            conn.log = conn.log.with_(cid=cid)
        self.transcript = st.transcripts.start(cid, "imap", remote)
        conn.log = RecordingLogger(conn.log, self.transcript)

    @property
    def profile(self) -> str:
        return self.st.settings.imap_profile

    def _subject(self, cmd: Any) -> F.Subject:
        s = F.Subject()
        user = getattr(self.conn.session, "username", None)
        if cmd is not None and cmd.name == "LOGIN":
            user = cmd.args.get("user")
        if isinstance(user, bytes):
            user = user.decode("utf-8", "replace")
        if user:
            s.user = str(user).lower()
            s.tokens |= F.address_tokens(s.user)
        return s

    async def connect(self) -> bool:
        """Before the greeting; False: the connection is to be closed without greeting."""
        rule = self.st.faults.match("imap", "connect", F.Subject(), time.time())
        if rule is None:
            return True
        self.transcript.note(f"fault rule {rule.id} fired at connect: {rule.action}")
        if rule.action == "delay":
            await trio.sleep(rule.seconds)
        elif rule.action == "throttle":
            self.conn.stream = ThrottledStream(self.conn.stream, rule.rate)
        elif rule.action in ("bye", "no", "bad"):
            from mox.imap.responses import UntaggedBye

            await self.conn.send(UntaggedBye(None, rule.text))
            return False
        elif rule.action == "drop":
            return False
        return True

    async def command(self, cmd: Any) -> Any:
        """Before running ``cmd``: profile checks and fault rules. Returns the command to run
        (ENABLE may be narrowed by the profile); raises BadCommand/CommandFailed/Bye."""
        import mox.imap.profiles as profiles  # (no "from mox.imap import": see below)
        bad, args = profiles.check_command(self.profile, cmd.name, cmd.uid, cmd.args)
        if bad is not None:
            from mox.imap.errors import BadCommand

            raise BadCommand(bad)
        if args is not None:
            import msgspec

            cmd = msgspec.structs.replace(cmd, args=args)
        if not self.st.faults.any_rules():
            return cmd
        rule = self.st.faults.match("imap", cmd.name.lower(), self._subject(cmd), time.time())
        if rule is None:
            return cmd
        # Imported here, not for every command: "from package import name" runs the import
        # machinery's Python code each time.
        from mox.imap.errors import BadCommand, Bye, CommandFailed
        from mox.imap.responses import Continuation

        self.conn.log.info("fault rule fired", rule=rule.id, command=cmd.name, action=rule.action)
        self.transcript.note(f"fault rule {rule.id} fired at {cmd.name}: {rule.action}")
        if cmd.name == "IDLE" and rule.action in ("drop", "bye"):
            # A dropped IDLE: the client sees the continuation, then the connection dies.
            await self.conn.send(Continuation("waiting"))
            await trio.sleep(rule.seconds)
            if rule.action == "bye":
                raise Bye(rule.text)
            raise trio.BrokenResourceError(f"fault rule {rule.id}: idle dropped")
        if rule.action == "delay":
            await trio.sleep(rule.seconds)
        elif rule.action == "throttle":
            self.conn.stream = ThrottledStream(self.conn.stream, rule.rate)
        elif rule.action == "no":
            raise CommandFailed(rule.text)
        elif rule.action == "bad":
            raise BadCommand(rule.text)
        elif rule.action == "bye":
            raise Bye(rule.text)
        elif rule.action == "drop":
            raise trio.BrokenResourceError(f"fault rule {rule.id}: drop")
        return cmd

    def closed(self) -> None:
        self.transcript.user = getattr(self.conn.session, "username", None)
        self.st.transcripts.finish(self.transcript)


def imap_connection(ctx: ServerContext, conn: Any, remote: str | None) -> ImapHooks | None:
    st = state(ctx)
    if st is None:
        return None
    return ImapHooks(st, conn, remote)


def imap_capabilities(ctx: ServerContext, caps: str) -> str:
    st = state(ctx)
    if st is None:
        return caps
    from mox.imap.profiles import capabilities

    return capabilities(st.settings.imap_profile, caps)


# --- per-address views ---------------------------------------------------------------------


def view_account(address: str) -> str:
    """The account name of the view of ``address`` (lower case; file-name safe everywhere)."""
    a = address.strip().lower()
    safe = re.sub(r"[^a-z0-9._@+=-]", "_", a)[:80]
    if safe != a or safe.endswith("."):
        safe = safe.rstrip(".") + "~" + hashlib.sha256(a.encode("utf-8")).hexdigest()[:10]
    return VIEW_PREFIX + safe


def is_view(account: str) -> bool:
    return account.startswith(VIEW_PREFIX)


_ADDR_RE = re.compile(r"^[^@\s]+@[^@\s]+$")


def ensure_view(ctx: ServerContext, address: str) -> str:
    st = state(ctx)
    assert st is not None
    return str(st.open_view(ctx, address).name)


def shared_password_matches(st: State, password: str) -> bool:
    """Constant-time comparison with the shared password (no timing hint about its prefix)."""
    return hmac.compare_digest(password.encode("utf-8", "surrogatepass"), st.settings.shared_password.encode("utf-8"))


def imap_login(ctx: ServerContext, username: str, password: str) -> str | None:
    """The view account for an IMAP login as any address with the shared password (localserve
    only); None to continue with the normal login. Raises ViewLimit (the session's own
    reference, taken at login, keeps the view in use until logout)."""
    st = state(ctx)
    if st is None or not st.settings.views or not shared_password_matches(st, password):
        return None
    addr = username.strip()
    if not _ADDR_RE.match(addr) or ctx.auth.account_for_address(addr) is not None:
        return None
    return ensure_view(ctx, addr)


_HDR_ADDR = re.compile(r"<([^<>\s]+@[^<>\s]+)>|([^\s<>,;:\"]+@[^\s<>,;:\"]+)")


def envelope_recipients(data: bytes) -> list[str]:
    """Recipients of a stored message when the deliverer didn't say: Delivered-To, else our
    Received "for <x>", else To/Cc."""
    end = data.find(b"\r\n\r\n")
    head = data[: end if end >= 0 else min(len(data), 65536)].decode("utf-8", "replace")
    fields: list[tuple[str, str]] = []
    for line in head.split("\r\n"):
        if line[:1] in (" ", "\t") and fields:
            fields[-1] = (fields[-1][0], fields[-1][1] + " " + line.strip())
        else:
            n, _, v = line.partition(":")
            fields.append((n.strip().lower(), v.strip()))
    dt = [v for n, v in fields if n == "delivered-to"]
    if dt:
        return [v.strip("<> ") for v in dt]
    for n, v in fields:
        if n == "received":
            m = re.search(r"\bfor <([^<>\s]+)>", v)
            if m:
                return [m.group(1)]
            break
    out = []
    for n, v in fields:
        if n in ("to", "cc"):
            for m in _HDR_ADDR.finditer(v):
                out.append(m.group(1) or m.group(2))
    return out


async def deliver_views(
    ctx: ServerContext, account: str, mailbox: str, data: bytes, recipients: list[str] | None, *, key: str | None = None,
    session: str | None = None,
) -> list[tuple[Any, Any]]:
    """Copy a delivery into account mox to the per-address views of its recipients (called
    before the delivery into mox itself); with the queue's delivery ``key`` at most once each.
    Each copy is linked to SMTP ``session`` before it becomes visible (``bind_delivery``).
    Returns the copies stored now, as (view account, message), for ``undo_views``."""
    st = state(ctx)
    if st is None or not st.settings.views or account != MAIN_ACCOUNT or mailbox in ("Sent", "Drafts"):
        return []
    rcpts = recipients if recipients is not None else envelope_recipients(data)
    done: set[str] = set()
    stored: list[tuple[Any, Any]] = []
    for r in rcpts:
        r = r.strip().lower()
        if not _ADDR_RE.match(r) or r in done or ctx.auth.account_for_address(r) is not None:
            continue  # configured addresses log in to their own account
        done.add(r)
        view = ctx.store.open_account(st.open_view(ctx, r).name)  # in use while delivering
        try:
            bind = bind_delivery(ctx, session, view.name)
            m: Message | None
            if key is None:
                m = await view.deliver("Inbox", data, received=st.settings.deterministic, before_visible=bind)
            else:
                m = await view.deliver_once("Inbox", data, key, received=st.settings.deterministic, before_visible=bind)
        finally:
            view.close()
        if m is not None:
            stored.append((view.name, m))
    return stored


async def undo_views(ctx: ServerContext, stored: list[tuple[str, Any]]) -> None:
    """Remove view copies again when the delivery into the main account failed (the sender is
    told to retry; without this the views would get the message twice). Best effort."""
    for name, m in stored:
        try:
            acc = ctx.store.open_account(name)
            try:
                await acc.expunge(m.mailbox_id, [m.uid])
            finally:
                acc.close()
        except Exception as e:  # e.g. still no disk space: the copy stays, and is logged
            log.warn("removing view copy after failed delivery", account=name, err=repr(e))


def hold_view(ctx: ServerContext, address: str, destination: tuple[str, str]) -> Any:
    """For an SMTP recipient on port 1025 whose mail goes to ``destination`` (account,
    mailbox): a reference to its per-address view, which keeps the view in use until the
    caller closes it at the end of the transaction; None when no view is involved. Raises
    ViewLimit."""
    st = state(ctx)
    account, mailbox = destination
    if st is None or not st.settings.views or account != MAIN_ACCOUNT or mailbox in ("Sent", "Drafts"):
        return None
    r = address.strip().lower()
    if not _ADDR_RE.match(r) or ctx.auth.account_for_address(r) is not None:
        return None
    return ctx.store.open_account(st.open_view(ctx, r).name)


def bind_delivery(ctx: ServerContext, session: str | None, account: str) -> Callable[[Message], None] | None:
    """For the store's ``before_visible``: links the message SMTP session ``session`` is
    delivering into ``account`` to that session's transcript before anyone can find the
    message (a test that waited for the message reads its transcript at once); None when
    there is nothing to link. ``record_delivery`` makes the link durable afterwards."""
    st = state(ctx)
    if st is None or not session:
        return None
    transcripts = st.transcripts
    return lambda m: transcripts.bind_delivery(account, m.id, session)


def record_delivery(ctx: ServerContext, session: str | None, account: str, message: Message | None) -> None:
    """Note that SMTP session ``session`` brought ``message`` into ``account`` (for its
    transcript link; mox.ci.transcript), once the message is durable."""
    st = state(ctx)
    if st is None or not session or message is None:
        return
    st.transcripts.record_delivery(account, message.id, session)


def fixed_time(ctx: ServerContext) -> float | None:
    """The fixed clock in deterministic mode (the receive time of deliveries), else None."""
    st = state(ctx)
    return st.settings.deterministic if st is not None else None


def stabilize(ctx: ServerContext, data: bytes) -> bytes:
    """In deterministic mode: our Received header's date and a DSN's Date, Arrival-Date,
    Last-Attempt-Date, Message-ID and boundary get fixed values (the rest of the message is
    already stable when the test's own input is)."""
    st = state(ctx)
    if st is None or st.settings.deterministic is None:
        return data
    fixed = email.utils.formatdate(st.settings.deterministic, localtime=False)
    fixed_received = received_date(st.settings.deterministic)
    host = ctx.config.hostname
    end = data.find(b"\r\n\r\n")
    head, body = (data, b"") if end < 0 else (data[: end + 4], data[end + 4 :])
    text = head.decode("utf-8", "surrogateescape")
    text = _RECEIVED_DATE.sub(lambda m: m.group(1) + fixed_received, text, count=1)
    is_dsn = "multipart/report" in text.lower() and f"postmaster@{host}" in text
    if is_dsn:
        bodys = body.decode("utf-8", "surrogateescape")
        bodys = _RECEIVED_DATE.sub(lambda m: m.group(1) + fixed_received, bodys)
        bodys = re.sub(r"(?m)^(Arrival-Date|Last-Attempt-Date): [^\r\n]*", lambda m: m.group(1) + ": " + fixed, bodys)
        m = re.search(r'boundary="(mox-[0-9a-f]+)"', text)
        old = m.group(1) if m else None
        digest = hashlib.sha256((bodys.replace(old, "") if old else bodys).encode("utf-8", "surrogateescape")).hexdigest()
        if old:
            new = "mox-" + digest[:24]
            text = text.replace(old, new)
            bodys = bodys.replace(old, new)
        text = re.sub(r"(?m)^Date: .*$", "Date: " + fixed, text, count=1)
        text = re.sub(r"(?m)^Message-ID: .*$", f"Message-ID: <dsn-{digest[:20]}@{host}>", text, count=1)
        body = bodys.encode("utf-8", "surrogateescape")
    return text.encode("utf-8", "surrogateescape") + body


_RECEIVED_DATE = re.compile(r"(?m)^(Received: [^\r\n]*(?:\r\n[ \t][^\r\n]*)*?;(?: |\r\n[ \t]))([^\r\n]+)")
