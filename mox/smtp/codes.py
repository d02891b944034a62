"""SMTP reply codes (RFC 5321 4.2.3) and enhanced status codes (RFC 3463, RFC 5248).

Enhanced codes are kept without their class digit (``"5.1"`` is subject 5, detail 1); the
class (2, 4 or 5) comes from the reply code, so one name serves both temporary and permanent
replies: ``enhanced(451, SE_SYS_OTHER) == "4.3.0"``.
"""

from __future__ import annotations

# RFC 5321 4.2.3
C211_SYSTEM_STATUS = 211
C214_HELP = 214
C220_SERVICE_READY = 220
C221_CLOSING = 221
C235_AUTH_SUCCESS = 235  # RFC 4954 6
C250_COMPLETED = 250
C251_USER_NOT_LOCAL_WILL_FORWARD = 251
C252_WITHOUT_VRFY = 252
C334_CONTINUE_AUTH = 334  # RFC 4954 4
C354_START_DATA = 354
C421_SERVICE_UNAVAIL = 421
C432_PASSWORD_TRANSITION_NEEDED = 432
C450_MAILBOX_UNAVAIL = 450
C451_LOCAL_ERROR = 451
C452_STORAGE_FULL = 452
C454_TEMP_AUTH_FAIL = 454
C455_BAD_PARAMS = 455
C500_BAD_SYNTAX = 500
C501_BAD_PARAM_SYNTAX = 501
C502_CMD_NOT_IMPL = 502
C503_BAD_CMD_SEQ = 503
C504_PARAM_NOT_IMPL = 504
C521_HOST_NO_MAIL = 521
C523_ENCRYPTION_NEEDED = 523
C530_SECURITY_REQUIRED = 530  # RFC 3207 4, RFC 4954 6
C534_AUTH_MECH_WEAK = 534
C525_ACCOUNT_DISABLED = 525  # RFC 5248 2.4 (7.13)
C535_AUTH_BAD_CREDS = 535
C538_ENC_REQ_FOR_AUTH = 538
C550_MAILBOX_UNAVAIL = 550
C551_USER_NOT_LOCAL = 551
C552_MAILBOX_FULL = 552
C553_BAD_MAILBOX_NAME = 553
C554_TRANSACTION_FAILED = 554
C555_UNRECOGNIZED_ADDR_PARAMS = 555

# RFC 3463 3: subject.detail, class digit from the reply code.
SE_OTHER = "0.0"
SE_ADDR_OTHER = "1.0"
SE_ADDR_UNKNOWN_DEST_MAILBOX = "1.1"
SE_ADDR_UNKNOWN_SYSTEM = "1.2"
SE_ADDR_MAILBOX_SYNTAX = "1.3"
SE_ADDR_DEST_VALID = "1.5"
SE_ADDR_SENDER_SYNTAX = "1.7"
SE_MAILBOX_OTHER = "2.0"
SE_MAILBOX_DISABLED = "2.1"
SE_MAILBOX_FULL = "2.2"
SE_MAILBOX_MSG_LIMIT_EXCEEDED = "2.3"
SE_SYS_OTHER = "3.0"
SE_SYS_STORAGE_FULL = "3.1"
SE_SYS_NOT_ACCEPTING = "3.2"
SE_SYS_NOT_SUPPORTED = "3.3"
SE_SYS_MSG_LIMIT_EXCEEDED = "3.4"
SE_NET_OTHER = "4.0"
SE_NET_NO_ANSWER = "4.1"
SE_NET_BAD_CONN = "4.2"
SE_NET_LOOP = "4.6"
SE_PROTO_OTHER = "5.0"
SE_PROTO_BAD_CMD_OR_SEQ = "5.1"
SE_PROTO_SYNTAX = "5.2"
SE_PROTO_TOO_MANY_RCPTS = "5.3"
SE_PROTO_BAD_PARAMS = "5.4"
SE_PROTO_AUTH_EXCHANGE_TOO_LONG = "5.6"
SE_MSG_OTHER = "6.0"
SE_MSG_MEDIA_UNSUPPORTED = "6.1"
SE_MSG_NON_ASCII_ADDR_NOT_PERMITTED = "6.7"
SE_POL_OTHER = "7.0"
SE_POL_DELIVERY_UNAUTH = "7.1"
SE_POL_AUTH_BAD_CREDS = "7.8"
SE_POL_ACCOUNT_DISABLED = "7.13"  # RFC 5248 2.4
SE_POL_EXPN_PROHIBITED = "7.2"  # RFC 3463 3.8: mailing list expansion prohibited
SE_POL_ENC_NEEDED = "7.10"
SE_POL_ENC_REQ_FOR_AUTH = "7.11"


def enhanced(code: int, se: str) -> str:
    """The full enhanced status code for reply ``code``: ``enhanced(550, "7.1") == "5.7.1"``."""
    return f"{code // 100}.{se}" if se else ""


def format_reply(code: int, se: str, text: str, *, max_len: int = 510) -> bytes:
    """Serialise a reply; long texts wrap at spaces into ``NNN-`` lines, ``\\n`` splits lines.

    RFC 5321 4.2.1 (multi-line replies), 4.5.3.1.5 (512 octets per reply line).
    """
    ecode = enhanced(code, se)
    prefix_len = 4 + (len(ecode) + 1 if ecode else 0)
    out: list[str] = []
    for line in text.split("\n"):
        while prefix_len + len(line) > max_len:
            e = max_len - prefix_len
            cut = line.rfind(" ", 0, e)
            if cut <= 0:
                cut = e
            out.append(line[:cut])
            line = line[cut:].lstrip(" ")
        out.append(line)
    lines = []
    for i, line in enumerate(out):
        sep = " " if i == len(out) - 1 else "-"
        middle = f"{ecode} " if ecode else ""
        lines.append(f"{code}{sep}{middle}{line}\r\n")
    # Texts may quote client input, which can hold undecodable bytes (lone surrogates).
    return "".join(lines).encode("utf-8", "replace")
