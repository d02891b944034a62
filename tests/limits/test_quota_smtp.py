"""SMTP delivery over quota: `452 4.2.2 account storage full` (RFC 3463 4.2.2; mox ``smtpserver/server.go``)."""

from __future__ import annotations

import re
import smtplib

import pytest

from .test_quota import MSG_1500, server_with_quota, usage


def test_smtp_quota(tmp_path):
    with server_with_quota(tmp_path / "d", account_quota=2600) as srv:
        with smtplib.SMTP("127.0.0.1", srv.ports["smtp"]) as s:
            s.ehlo("client.example")
            assert s.sendmail("a@example.org", ["mox@localhost"], MSG_1500) == {}
            used = usage(srv)
            # With the trace fields (Return-Path, Authentication-Results, Received-SPF, Received).
            assert 1500 < used <= 2600
            with pytest.raises(smtplib.SMTPDataError) as e:
                s.sendmail("a@example.org", ["mox@localhost"], MSG_1500)
            text = re.sub(rb" \([0-9a-z]+\)$", b"", e.value.smtp_error)  # without mox's connection id
            assert (e.value.smtp_code, text) == (452, b"4.2.2 account storage full")
            assert s.noop()[0] == 250  # the connection stays usable
        assert usage(srv) == used
