"""SASL errors: each tells the IMAP and SMTP drivers what the client sees (see the
package docstring's table)."""

from __future__ import annotations


class SaslError(Exception):
    """An exchange ended unsuccessfully. Attributes tell drivers what to answer."""

    imap_status = "NO"
    imap_code: str | None = "AUTHENTICATIONFAILED"
    smtp_code = 535
    smtp_ecode = "5.7.8"
    #: whether the failed-auth limiter counts it
    counts_as_failure = True

    def __init__(self, message: str, *, username: str = "") -> None:
        super().__init__(message)
        self.username = username


class AuthenticationFailed(SaslError):
    """Bad credentials, unknown user."""


class ChannelBindingMismatch(AuthenticationFailed):
    """SCRAM channel binding data does not match the connection (potential mitm)."""


class OtherAccountThanCertificate(AuthenticationFailed):
    """Credentials of another account than the connection's TLS client certificate."""


class SecretUnavailable(AuthenticationFailed):
    """The account has no stored secret for this mechanism (password set before it existed)."""

    counts_as_failure = False


class AuthorizationFailed(SaslError):
    """Authenticated, but the requested authorization identity is not allowed."""

    imap_code = "AUTHORIZATIONFAILED"


class Aborted(SaslError):
    """The client sent ``*``."""

    imap_status = "BAD"
    imap_code = None
    smtp_code = 501
    smtp_ecode = "5.0.0"
    counts_as_failure = False


class MalformedResponse(SaslError):
    """The client broke the mechanism's syntax."""

    imap_status = "BAD"
    imap_code = None
    smtp_code = 501
    smtp_ecode = "5.5.4"


class UnknownMechanism(SaslError):
    imap_code = None
    smtp_code = 504
    smtp_ecode = "5.5.4"
    counts_as_failure = False


class TooManyAuthFailures(SaslError):
    """The remote IP is over its failed-authentication limit: refused without checking
    (IMAP ``* BYE too many auth failures``, SMTP ``421 4.7.0 too many auth failures``; the
    drivers close the connection)."""

    imap_status = "BYE"
    imap_code = None
    smtp_code = 421
    smtp_ecode = "4.7.0"
    counts_as_failure = False


class ClientError(Exception):
    """Client side: the server's messages are wrong (e.g. a bad SCRAM server signature)."""

