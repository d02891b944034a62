"""localserve failure simulation by local part (mox ``mox-/localserve.go``), on both ports and in the queue."""

from __future__ import annotations

import email
import email.policy

import pytest

MSG = (
    b"From: <mox@localhost>\r\n"
    b"To: <x@example.com>\r\n"
    b"Subject: test\r\n"
    b"Message-ID: <t@localhost>\r\n"
    b"Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n"
    b"\r\n"
    b"hello\r\n"
)


def submit(tc, rcpts, expect_data):
    tc.transact("MAIL FROM:<mox@localhost>", "250 2.1.0 looking good")
    for r in rcpts:
        tc.transact(f"RCPT TO:<{r}>", "250 2.1.0 now on the list")
    tc.transact("DATA", "354 see you at the bare dot")
    tc.write(MSG + b".\r\n")
    tc.expect(expect_data)


@pytest.mark.parametrize(
    "localpart,reply",
    [
        ("temperror", "451 4.0.0 failure with code 451 due to special localpart (ID)"),
        ("xpermerror", "550 5.0.0 failure with code 550 due to special localpart (ID)"),
        ("bob421", "421 4.0.0 failure with code 421 due to special localpart (ID)"),
        ("bob554", "554 5.0.0 failure with code 554 due to special localpart (ID)"),
        ("x600", "600 6.0.0 failure with code 600 due to special localpart (ID)"),
    ],
)
def test_submission_data_stage(smtp, localpart, reply):
    tc = smtp.connect(login=True)
    submit(tc, ["ok@example.com", f"{localpart}@example.com"], reply)
    assert smtp.messages("Inbox") == []
    assert smtp.server.run_sync_in_server(smtp.ctx.queue.list) == []


def test_out_of_range_codes_deliver_normally(smtp):
    tc = smtp.connect(login=True)
    submit(tc, ["x399@example.com", "x601@example.com"], "250 2.2.0 it is done")
    assert len(smtp.wait_messages("Inbox", 2)) == 2


def test_rcptto_stage(smtp):
    tc = smtp.connect(login=True)
    tc.transact("MAIL FROM:<mox@localhost>", "250 2.1.0 looking good")
    tc.transact("RCPT TO:<rcpttotemperror@example.com>", "451 4.0.0 failure with code 451 due to special localpart (ID)")
    tc.transact("RCPT TO:<rcptto550@example.com>", "550 5.0.0 failure with code 550 due to special localpart (ID)")
    tc.transact("RCPT TO:<rcptto@example.com>", "250 2.1.0 now on the list")


def test_mailfrom_stage_on_delivery_port(smtp):
    tc = smtp.connect(submission=False)
    tc.transact("MAIL FROM:<mailfrompermerror@example.com>", "550 5.0.0 failure with code 550 due to special localpart (ID)")
    tc.transact("MAIL FROM:<mailfrom452@example.com>", "452 4.0.0 failure with code 452 due to special localpart (ID)")
    tc.transact("MAIL FROM:<mailfrom@example.com>", "250 2.1.0 looking good")


def test_timeouts(smtp):
    smtp.start(failure_timeout=0.05)
    tc = smtp.connect(submission=False)
    tc.transact("MAIL FROM:<mailfromtimeout@example.com>", "451 4.3.0 timing out command due to special localpart (ID)")
    tc.transact("MAIL FROM:<a@example.com>", "250 2.1.0 looking good")
    tc.transact("RCPT TO:<rcpttotimeout@example.com>", "451 4.3.0 timing out command due to special localpart (ID)")
    tc.transact("RCPT TO:<timeout@example.com>", "250 2.1.0 now on the list")
    tc.transact("DATA", "354 see you at the bare dot")
    tc.write(MSG + b".\r\n")
    tc.expect("451 4.0.0 timing out delivery due to special localpart (ID)")
    ts = smtp.connect(login=True)
    submit(ts, ["timeout@example.com"], "451 4.3.0 timing out submission due to special localpart (ID)")


def test_delivery_port_per_recipient(smtp):
    tc = smtp.connect(submission=False)

    def tx(rcpts):
        tc.transact("MAIL FROM:<a@example.com>", "250 2.1.0 looking good")
        for r in rcpts:
            tc.transact(f"RCPT TO:<{r}>", "250 2.1.0 now on the list")
        tc.transact("DATA", "354 see you at the bare dot")
        tc.write(MSG + b".\r\n")
        return tc.read_reply()

    # All fail with the same code: that code, one line per recipient.
    assert tx(["a451@x.example", "b451@x.example"]) == [
        "451-4.0.0 failure with code 451 due to special localpart",
        "451 4.0.0 failure with code 451 due to special localpart (ID)",
    ]
    # Different codes: 554 listing each, then "multiple errors".
    assert tx(["a451@x.example", "bpermerror@x.example"]) == [
        "554-5.3.0 451 4.0.0 failure with code 451 due to special localpart",
        "554-5.3.0 550 5.0.0 failure with code 550 due to special localpart",
        "554 5.3.0 multiple errors (ID)",
    ]
    assert tx(["a451@x.example", "b452@x.example"])[-1] == "451 4.3.0 multiple errors (ID)"
    # Some succeed: accepted, delivered once.
    assert tx(["ok@x.example", "bpermerror@x.example"]) == ["250 2.2.0 it is done"]
    assert len(smtp.messages("Inbox")) == 1


def _dsn_parts(data: bytes):
    m = email.message_from_bytes(data, policy=email.policy.compat32)
    assert m.get_content_type() == "multipart/report"
    assert m.get_param("report-type") == "delivery-status"
    assert m["From"] == "postmaster <postmaster@localhost>"
    return m, m.get_payload()


@pytest.mark.parametrize(
    "rcpt,status,diag",
    [
        ("queuepermerror@example.com", "5.0.0", "550 5.0.0 failure with code 550 due to special localpart"),
        ("queue554@example.com", "5.0.0", "554 5.0.0 failure with code 554 due to special localpart"),
        ("queue451@example.com", "5.0.0", "451 4.0.0 failure with code 451 due to special localpart"),
        ("queuetemperror@example.com", "5.0.0", "451 4.0.0 failure with code 451 due to special localpart"),
        ("queuetimeout@example.com", "5.0.0", "451 4.0.0 timing out delivery due to special localpart"),
    ],
)
def test_queue_prefix_dsn(smtp, rcpt, status, diag):
    tc = smtp.connect(login=True)
    submit(tc, [rcpt], "250 2.2.0 it is done")
    msgs = smtp.wait_messages("Inbox", 1)
    assert len(msgs) == 1
    m, parts = _dsn_parts(msgs[0])
    assert m["Subject"] == "mail delivery failed"
    assert m["To"] == "<mox@localhost>"
    assert rcpt in parts[0].get_payload()
    ds = parts[1]
    assert ds.get_content_type() == "message/delivery-status"
    text = ds.as_string()
    assert f"Final-Recipient: rfc822; {rcpt}" in text
    assert "Action: failed" in text
    assert f"Status: {status}" in text
    assert f"Diagnostic-Code: smtp; {diag}" in text
    assert parts[2].get_content_type() == "message/rfc822"
    assert b"hello" in msgs[0]
    # The queue is empty again; the sent copy is in Sent.
    assert smtp.wait_queue_empty() == []
    assert len(smtp.wait_messages("Sent", 1)) == 1  # stored after the 250


def test_queue_temporary_failure_is_retried(smtp):
    smtp.start(queue_retry_delays=(1.0, 0.05))  # a wide window in which the entry shows 1 attempt
    tc = smtp.connect(login=True)
    submit(tc, ["queue451@example.com"], "250 2.2.0 it is done")
    # Before the retries run out the entry is still queued, with the error recorded.
    import time

    deadline = time.monotonic() + 5
    while True:
        entries = smtp.server.run_sync_in_server(smtp.ctx.queue.list)
        if entries and entries[0].attempts >= 1 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert entries and entries[0].attempts >= 1
    assert entries[0].last_error == "451 4.0.0 failure with code 451 due to special localpart"
    msgs = smtp.wait_messages("Inbox", 1)
    _, parts = _dsn_parts(msgs[0])
    assert "Action: failed" in parts[1].as_string()


def test_dsn_notify_and_ret(smtp):
    tc = smtp.connect(login=True)
    tc.transact("MAIL FROM:<mox@localhost> RET=HDRS ENVID=env+2B1", "250 2.1.0 looking good")
    tc.transact("RCPT TO:<queuepermerror@example.com> NOTIFY=NEVER", "250 2.1.0 now on the list")
    tc.transact("RCPT TO:<queue550@example.com> NOTIFY=FAILURE ORCPT=rfc822;orig+40example.com", "250 2.1.0 now on the list")
    tc.transact("RCPT TO:<fine@example.com> NOTIFY=SUCCESS", "250 2.1.0 now on the list")
    tc.transact("DATA", "354 see you at the bare dot")
    tc.write(MSG + b".\r\n")
    tc.expect("250 2.2.0 it is done")
    msgs = smtp.wait_messages("Inbox", 3)
    assert len(msgs) == 3  # the message to fine@, its success DSN, one failure DSN (not for NEVER)
    dsns = [m for m in msgs if b"multipart/report" in m]
    assert len(dsns) == 2
    raw = {_dsn_parts(d)[0]["Subject"]: d for d in dsns}
    texts = {k: _dsn_parts(d)[1] for k, d in raw.items()}
    failed = texts["mail delivery failed"]
    assert "Original-Envelope-Id: env+1" in failed[1].as_string()
    assert "Original-Recipient: rfc822;orig@example.com" in failed[1].as_string()  # xtext decoded
    assert "Final-Recipient: rfc822; queue550@example.com" in failed[1].as_string()
    assert failed[2].get_content_type() == "text/rfc822-headers"
    assert b"\r\nhello\r\n" not in raw["mail delivery failed"]  # RET=HDRS: header only
    assert b"\r\nhello\r\n" not in raw["mail delivery succeeded"]
    succeeded = texts["mail delivery succeeded"]
    assert "Action: delivered" in succeeded[1].as_string()


def test_dsn_notify_delay(smtp):
    smtp.start(queue_retry_delays=(0.05,))
    tc = smtp.connect(login=True)
    tc.transact("MAIL FROM:<mox@localhost>", "250 2.1.0 looking good")
    tc.transact("RCPT TO:<queue451@example.com> NOTIFY=DELAY,FAILURE", "250 2.1.0 now on the list")
    tc.transact("DATA", "354 see you at the bare dot")
    tc.write(MSG + b".\r\n")
    tc.expect("250 2.2.0 it is done")
    msgs = smtp.wait_messages("Inbox", 2)
    subjects = sorted(_dsn_parts(m)[0]["Subject"] for m in msgs)
    assert subjects == ["mail delivery delayed", "mail delivery failed"]
    delayed = next(m for m in msgs if b"Subject: mail delivery delayed" in m)
    text = _dsn_parts(delayed)[1][1].as_string()
    assert "Action: delayed" in text and "Status: 4.0.0" in text


def test_prefix_after_separator(smtp):
    """Prefixes count after ``-``, ``+``, ``.`` or ``_`` too, for per-test unique addresses."""
    tc = smtp.connect(login=True)
    tc.transact("MAIL FROM:<mox@localhost>", "250 2.1.0 looking good")
    tc.transact("RCPT TO:<t1-rcptto550@example.com>", "550 5.0.0 failure with code 550 due to special localpart (ID)")
    tc.transact("RCPT TO:<mox+rcpttotemperror@localhost>", "451 4.0.0 failure with code 451 due to special localpart (ID)")
    tc.transact("RCPT TO:<t1.queue-rcptto550@example.com>", "250 2.1.0 now on the list")  # first prefix wins: queue
    tc.transact("RCPT TO:<xqueue550@example.com>", "250 2.1.0 now on the list")  # no separator: a DATA trigger
    tc.transact("DATA", "354 see you at the bare dot")
    tc.write(MSG + b".\r\n")
    tc.expect("550 5.0.0 failure with code 550 due to special localpart (ID)")
    submit(tc, ["t2_queuepermerror@example.com"], "250 2.2.0 it is done")
    m, parts = _dsn_parts(smtp.wait_messages("Inbox", 1)[0])
    assert "Final-Recipient: rfc822; t2_queuepermerror@example.com" in parts[1].as_string()
    td = smtp.connect(submission=False)
    td.transact("MAIL FROM:<a-mailfrom421@example.com>", "421 4.0.0 failure with code 421 due to special localpart (ID)")
