"""Why a delivery attempt of a queued message failed: an SMTP reply (code and enhanced code) or
a reason without one (a suppressed recipient), and whether the queue tries again (RFC 5321
4.2.1: 4xx temporary, 5xx permanent; mox queue's smtpclient.Error)."""

from __future__ import annotations


class DeliveryError(Exception):
    """A failed delivery attempt: SMTP ``code`` and full enhanced code ``ecode`` ("5.1.1"), or
    code 0 for a failure without SMTP reply (e.g. a suppressed recipient), then ``permanent``
    says whether it is retried."""

    def __init__(self, code: int, ecode: str, text: str, *, permanent: bool | None = None) -> None:
        super().__init__(f"{code} {ecode} {text}" if code else text)
        self.code = code
        self.ecode = ecode
        self.text = text
        self._permanent = permanent

    @property
    def permanent(self) -> bool:
        return self._permanent if self._permanent is not None else self.code >= 500

    @property
    def secode(self) -> str:
        """The enhanced code without its class digit ("1.1"), as mox's webhooks carry it."""
        return self.ecode.split(".", 1)[1] if "." in self.ecode else ""


class SuppressedError(DeliveryError):
    def __init__(self, recipient: str) -> None:
        # mox queue deliver: smtpclient.Error{Permanent: true, Err: errSuppressed}
        super().__init__(0, "", f"not delivering to recipient address {recipient}: address is on suppression list", permanent=True)
