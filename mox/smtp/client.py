"""A small blocking SMTP client (RFC 5321): used by ``mox sendmail``, tools and tests.

    with Client.connect("127.0.0.1", 1587, tls="starttls", tls_context=ctx) as c:
        c.auth("mox@localhost", "moxmoxmox")
        c.deliver("mox@localhost", ["other@example.com"], data)

TLS modes: ``"immediate"`` (submissions, RFC 8314), ``"starttls"`` (required), ``"opportunistic"``
(STARTTLS when offered; without ``tls_context`` the certificate is not verified), ``"none"``.
AUTH with every mechanism of :mod:`mox.auth.sasl` (SCRAM, CRAM-MD5, PLAIN, LOGIN, EXTERNAL). ``deliver`` pipelines MAIL/RCPT/DATA when PIPELINING is offered and uses
BDAT with CHUNKING when asked. Errors raise :class:`SMTPError` with code, enhanced code,
permanent, command and the reply lines.
"""

from __future__ import annotations

import base64
import socket
import ssl
from dataclasses import dataclass, field
from typing import Any

from mox.auth import sasl


class SMTPError(Exception):
    def __init__(self, code: int, secode: str, command: str, lines: list[str]) -> None:
        self.code = code
        self.secode = secode
        self.command = command
        self.lines = lines
        text = " / ".join(lines)
        super().__init__(f"{command or 'smtp'}: {text}" if lines else command)

    @property
    def permanent(self) -> bool:
        return self.code >= 500

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


class ProtocolError(SMTPError):
    """The server sent something that is not a valid reply (or closed the connection)."""

    def __init__(self, msg: str, command: str = "") -> None:
        super().__init__(0, "", command, [msg])

    @property
    def permanent(self) -> bool:
        return False


@dataclass
class Reply:
    code: int
    secode: str
    lines: list[str] = field(default_factory=list)  # texts without code, enhanced code stripped

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _xtext(s: str) -> str:
    return "".join(chr(b) if 33 <= b <= 126 and b not in (43, 61) else f"+{b:02X}" for b in s.encode("utf-8"))


class Client:
    def __init__(self, sock: socket.socket, *, ehlo_hostname: str = "localhost", server_hostname: str = "localhost", tls: str = "opportunistic", tls_context: ssl.SSLContext | None = None, timeout: float = 60.0) -> None:
        self.sock = sock
        self.sock.settimeout(timeout)
        self.buf = b""
        self.ehlo_hostname = ehlo_hostname
        self.server_hostname = server_hostname
        self.tls_context = tls_context
        self.extensions: dict[str, str] = {}
        self.greeting: Reply | None = None
        self.tls = False
        self._mail_ok = False
        if tls == "opportunistic" and tls_context is None:
            # Opportunistic TLS protects against passive listeners only: no certificate checks
            # (as mox's queue does without DANE/MTA-STS).
            self.tls_context = ssl.create_default_context()
            self.tls_context.check_hostname = False
            self.tls_context.verify_mode = ssl.CERT_NONE
        if tls == "immediate":
            self._wrap_tls()
        self.greeting = self._read_reply("greeting")
        if self.greeting.code != 220:
            raise SMTPError(self.greeting.code, self.greeting.secode, "greeting", self.greeting.lines)
        self.hello()
        if tls in ("starttls", "opportunistic") and not self.tls:
            if "STARTTLS" in self.extensions:
                self.starttls()
            elif tls == "starttls":
                raise SMTPError(0, "", "starttls", ["server does not offer STARTTLS"])

    @classmethod
    def connect(cls, host: str, port: int, **kw: object) -> Client:
        timeout = float(kw.get("timeout", 60.0))  # type: ignore[arg-type]
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            return cls(sock, **kw)  # type: ignore[arg-type]
        except BaseException:
            sock.close()
            raise

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- low level ----------------------------------------------------------------------------

    def _wrap_tls(self) -> None:
        ctx = self.tls_context or ssl.create_default_context()
        self.sock = ctx.wrap_socket(self.sock, server_hostname=self.server_hostname)
        self.tls = True

    def write(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _read_line(self, command: str) -> str:
        while b"\n" not in self.buf:
            try:
                d = self.sock.recv(65536)
            except OSError as e:
                raise ProtocolError(f"reading reply: {e}", command) from None
            if not d:
                raise ProtocolError("connection closed by server", command)
            self.buf += d
            if len(self.buf) > 1 << 20:
                raise ProtocolError("reply line too long", command)
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def _read_reply(self, command: str) -> Reply:
        code = None
        lines = []
        secode = ""
        while True:
            line = self._read_line(command)
            if len(line) < 3 or not line[:3].isdigit() or (len(line) > 3 and line[3] not in " -"):
                raise ProtocolError(f"malformed reply line {line!r}", command)
            c = int(line[:3])
            if code is not None and c != code:
                raise ProtocolError(f"reply code changed within multi-line reply: {line!r}", command)
            code = c
            text = line[4:]
            parts = text.split(" ", 1)
            if len(parts[0].split(".")) == 3 and parts[0].split(".")[0] == str(c // 100) and all(p.isdigit() for p in parts[0].split(".")):
                secode = parts[0]
                text = parts[1] if len(parts) > 1 else ""
            lines.append(text)
            if len(line) == 3 or line[3] == " ":
                return Reply(code, secode, lines)

    def command(self, line: str, *, expect: tuple[int, ...] = (250,), name: str = "") -> Reply:
        self.write(line.encode("utf-8") + b"\r\n")
        return self.expect(name or line.split(" ", 1)[0].upper(), expect)

    def expect(self, command: str, codes: tuple[int, ...]) -> Reply:
        r = self._read_reply(command)
        if r.code not in codes:
            raise SMTPError(r.code, r.secode, command, r.lines)
        return r

    # --- commands -----------------------------------------------------------------------------

    def hello(self) -> None:
        try:
            r = self.command(f"EHLO {self.ehlo_hostname}", name="EHLO")
        except SMTPError as e:
            if isinstance(e, ProtocolError) or e.code not in (500, 502):
                raise
            self.command(f"HELO {self.ehlo_hostname}", name="HELO")
            self.extensions = {}
            return
        self.extensions = {}
        for line in r.lines[1:]:
            k, _, v = line.partition(" ")
            self.extensions[k.upper()] = v

    def supports(self, ext: str) -> bool:
        return ext.upper() in self.extensions

    @property
    def rcpt_max(self) -> int | None:
        for word in self.extensions.get("LIMITS", "").split():
            k, _, v = word.partition("=")
            if k.upper() == "RCPTMAX" and v.isdigit():
                return int(v)
        return None

    def starttls(self) -> None:
        self.command("STARTTLS", expect=(220,))
        self._wrap_tls()
        self.hello()

    def auth(self, username: str, password: str, *, mechanism: str | None = None) -> None:
        """RFC 4954 AUTH with a mechanism from :mod:`mox.auth.sasl`: the given one, else the best
        offered in sendmail's order (EXTERNAL, SCRAM-*-PLUS, SCRAM-*, CRAM-MD5, PLAIN; never
        LOGIN automatically)."""
        offered = self.extensions.get("AUTH", "").upper().split()
        cbs = sasl.channel_bindings(self.sock if self.tls else None)
        if mechanism is None:
            mechanism = sasl.choose_client_mechanism(offered, channel_bindings=cbs)
            if mechanism is None:
                raise SMTPError(0, "", "AUTH", [f"no supported auth mechanism offered (offered: {' '.join(offered) or 'none'})"])
        try:
            mech = sasl.client_mechanism(mechanism, username, password, channel_bindings=cbs)
        except sasl.ClientError as e:
            raise SMTPError(0, "", "AUTH", [str(e)]) from None
        ir = mech.initial_response()
        line = f"AUTH {mechanism.upper()}"
        if ir is not None:
            line += " " + (base64.b64encode(ir).decode() if ir else "=")
        self.write(line.encode() + b"\r\n")
        while True:
            r = self._read_reply("AUTH")
            if r.code == 235:
                break
            if r.code != 334:
                raise SMTPError(r.code, r.secode, "AUTH", r.lines)
            try:
                challenge = base64.b64decode(r.lines[0].strip() or b"", validate=True)
                resp = mech.step(challenge)
            except (ValueError, sasl.ClientError) as e:
                self.write(b"*\r\n")
                self._read_reply("AUTH")
                raise SMTPError(0, "", "AUTH", [f"authentication exchange failed: {e}"]) from None
            self.write(base64.b64encode(resp) + b"\r\n")
        if not getattr(mech, "done", True):
            raise SMTPError(0, "", "AUTH", ["server finished authentication without proving the password (scram)"])

    def deliver(self, *args: Any, **kw: Any) -> list[Reply]:
        """Deliver one message; raises SMTPError when MAIL, all RCPTs or the data fail. Returns
        the RCPT replies (a failed recipient is a Reply with its error code). After a failed
        transaction the client sends RSET so the connection can be used again."""
        self._mail_ok = False
        try:
            return self._deliver(*args, **kw)
        except SMTPError as e:
            if self._mail_ok and not isinstance(e, ProtocolError):
                try:
                    self.command("RSET")
                except SMTPError:
                    pass
            raise

    def _deliver(self, mail_from: str, recipients: list[str], data: bytes, *, smtputf8: bool | None = None, eightbit: bool | None = None, chunking: bool = False, dsn: dict[str, str] | None = None, requiretls: bool = False) -> list[Reply]:
        if smtputf8 is None:
            smtputf8 = not (mail_from.isascii() and all(r.isascii() for r in recipients))
        if eightbit is None:
            eightbit = any(b >= 0x80 for b in data)
        params = []
        if self.supports("SIZE"):
            params.append(f"SIZE={len(data)}")
        if eightbit and self.supports("8BITMIME"):
            params.append("BODY=8BITMIME")
        if smtputf8:
            if not self.supports("SMTPUTF8"):
                raise SMTPError(0, "", "MAIL", ["server does not support SMTPUTF8"])
            params.append("SMTPUTF8")
        if requiretls:
            # RFC 8689: only over TLS, and only when the server offers it.
            if not self.tls or not self.supports("REQUIRETLS"):
                raise SMTPError(0, "", "MAIL", ["REQUIRETLS requested but not possible on this connection"])
            params.append("REQUIRETLS")
        if dsn:
            if dsn.get("ret"):
                params.append(f"RET={dsn['ret']}")
            if dsn.get("envid"):
                params.append(f"ENVID={_xtext(dsn['envid'])}")
        rparams = f" NOTIFY={dsn['notify']}" if dsn and dsn.get("notify") else ""
        mail = f"MAIL FROM:<{mail_from}>" + "".join(" " + p for p in params)
        rcpts = [f"RCPT TO:<{r}>{rparams}" for r in recipients]
        pipelining = self.supports("PIPELINING")
        use_bdat = chunking and self.supports("CHUNKING")
        if pipelining:
            lines = [mail] + rcpts + ([] if use_bdat else ["DATA"])
            self.write("".join(line + "\r\n" for line in lines).encode("utf-8"))
            mr = self._read_reply("MAIL")
            rr = [self._read_reply("RCPT") for _ in rcpts]
            dr = None if use_bdat else self._read_reply("DATA")
            if mr.code != 250:
                raise SMTPError(mr.code, mr.secode, "MAIL", mr.lines)
            self._mail_ok = True
            if not any(r.code in (250, 251) for r in rr):
                if dr is not None and dr.code == 354:
                    self.write(b".\r\n")  # RFC 2920 3.1: end the (empty) data we must now send
                    self._read_reply("DATA")
                bad = rr[0]
                raise SMTPError(bad.code, bad.secode, "RCPT", bad.lines)
            if dr is not None and dr.code != 354:
                raise SMTPError(dr.code, dr.secode, "DATA", dr.lines)
        else:
            self.command(mail, name="MAIL")
            self._mail_ok = True
            rr = []
            for line in rcpts:
                self.write(line.encode("utf-8") + b"\r\n")
                rr.append(self._read_reply("RCPT"))
            if not any(r.code in (250, 251) for r in rr):
                bad = rr[0]
                raise SMTPError(bad.code, bad.secode, "RCPT", bad.lines)
            if not use_bdat:
                self.command("DATA", expect=(354,))
        if use_bdat:
            self.write(f"BDAT {len(data)} LAST\r\n".encode() + data)
            self.expect("BDAT", (250,))
        else:
            self.write(dot_stuff(data) + b".\r\n")
            self.expect("DATA", (250,))
        return rr

    def reset(self) -> None:
        self.command("RSET")

    def quit(self) -> None:
        self.command("QUIT", expect=(221,))

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def dot_stuff(data: bytes) -> bytes:
    """RFC 5321 4.5.2: double a leading dot on every line; ensure the data ends in CRLF."""
    if data.startswith(b"."):
        data = b"." + data
    data = data.replace(b"\r\n.", b"\r\n..")
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data
