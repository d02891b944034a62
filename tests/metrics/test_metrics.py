"""The metrics listener (mox's MetricsHTTP, port 1081 in localserve): Prometheus text format,
judged by the Prometheus client library's own parser, with mox's metric names and labels."""

from __future__ import annotations

import http.client
import imaplib
import smtplib
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mox import config as mconfig
from mox.metrics import Metrics, Registry, http_code_label
from mox.testing import LocalServer

from ..conftest import run_mox


def scrape(port: int, path: str = "/metrics") -> tuple[int, str, str]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.getheader("Content-Type") or "", r.read().decode("utf-8")
    finally:
        c.close()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def test_exposition_format():
    r = Registry()
    c = r.counter("t_total", 'A "help"\\ line\nwith newline.', ("a",))
    c.inc('x"y\\z\nw')
    c.inc("plain", by=2.5)
    h = r.histogram("t_seconds", "Durations.", ("cmd",), buckets=(0.1, 1))
    h.observe(0.05, "noop")
    h.observe(0.5, "noop")
    h.observe(5, "noop")
    g = r.gauge("t_hold", "Held.", lambda: 3)
    text = r.exposition().decode("utf-8")
    assert text.endswith("\n")
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    assert fams["t"].type == "counter"
    assert fams["t"].documentation == 'A "help"\\ line\nwith newline.'
    got = {(s.name, tuple(s.labels.items())): s.value for f in fams.values() for s in f.samples}
    assert got[("t_total", (("a", 'x"y\\z\nw'),))] == 1
    assert got[("t_total", (("a", "plain"),))] == 2.5
    assert got[("t_seconds_bucket", (("cmd", "noop"), ("le", "0.1")))] == 1
    assert got[("t_seconds_bucket", (("cmd", "noop"), ("le", "1")))] == 2
    assert got[("t_seconds_bucket", (("cmd", "noop"), ("le", "+Inf")))] == 3
    assert got[("t_seconds_count", (("cmd", "noop"),))] == 3
    assert got[("t_seconds_sum", (("cmd", "noop"),))] == pytest.approx(5.55)
    assert got[("t_hold", ())] == 3
    assert g.value() == 3
    with pytest.raises(ValueError):
        c.inc("a", "b")  # wrong number of labels
    with pytest.raises(ValueError):
        c.inc("a", by=-1)
    with pytest.raises(ValueError):
        r.counter("t_total", "twice")


def test_webhook_result_labels():
    # mox queue/hook.go: known status codes as is, others as "<major>xx", no response "error".
    assert [http_code_label(c) for c in (200, 500, 404, 299, 599, None)] == ["200", "500", "404", "2xx", "5xx", "error"]
    m = Metrics()
    m.webhook_result(200, 0.02)
    m.webhook_result(None, 1.5)
    text = m.exposition().decode("utf-8")
    assert value(text, "mox_webhook_results_total", code="200") == 1
    assert value(text, "mox_webhook_results_total", code="error") == 1
    assert value(text, "mox_webhook_request_duration_seconds_count") == 2


def test_ports():
    # localserve: standard port + 1000, so 1081 as mox's localserve; the offset flags move it too.
    assert mconfig.localserve_ports()["metrics"] == 1081
    assert mconfig.localserve_ports(ports_offset=10)["metrics"] == 1091
    assert mconfig.localserve_ports(port_base=2000)["metrics"] == 2081
    assert mconfig.localserve_ports(port_base=0)["metrics"] == 0


@pytest.fixture(scope="module")
def server():
    with LocalServer() as srv:
        yield srv


def test_metrics_of_a_running_localserve(server):
    port = server.ports["metrics"]
    assert isinstance(port, int) and port > 0
    status, ctype, before = scrape(port)
    assert (status, ctype) == (200, "text/plain; version=0.0.4; charset=utf-8")
    names = {f.name for f in text_string_to_metric_families(before)}
    assert {
        "mox_smtpserver_connection", "mox_smtpserver_command_duration_seconds", "mox_smtpserver_delivery",
        "mox_smtpserver_submission", "mox_imap_connection", "mox_imap_command_duration_seconds",
        "mox_queue_delivery_duration_seconds", "mox_queue_hold", "mox_webhook_results",
        "mox_webhook_request_duration_seconds",
    } <= names

    with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=30) as s:
        s.login("mox@localhost", "moxmoxmox")
        s.sendmail("mox@localhost", ["mox@localhost"], b"From: mox@localhost\r\nSubject: m\r\n\r\nhi\r\n")
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30) as s:
        s.sendmail("remote@example.org", ["mox@localhost"], b"From: remote@example.org\r\nSubject: m\r\n\r\nhi\r\n")
        code, _ = s.docmd("NOOP")
        assert code == 250
        code, _ = s.docmd("BOGUS")
        assert code == 500
    c = imaplib.IMAP4("127.0.0.1", server.ports["imap"])
    c.login("mox@localhost", "moxmoxmox")
    c.select("Inbox")
    assert c.noop()[0] == "OK"
    c.logout()

    after = scrape(port)[2]

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("mox_smtpserver_connection_total", kind="submit") == 1
    assert delta("mox_smtpserver_connection_total", kind="deliver") == 1
    assert delta("mox_smtpserver_submission_total", result="ok") == 1
    assert delta("mox_smtpserver_delivery_total", result="delivered", reason="no-bad-signals") == 1
    assert delta("mox_smtpserver_command_duration_seconds_count", kind="deliver", cmd="noop", code="250", ecode="2.0.0") == 1
    assert delta("mox_smtpserver_command_duration_seconds_count", kind="deliver", cmd="(unknown)", code="500", ecode="5.5.1") == 1
    assert delta("mox_smtpserver_command_duration_seconds_count", kind="submit", cmd="auth", code="235", ecode="2.7.0") == 1
    assert delta("mox_imap_connection_total", service="imap") == 1
    assert delta("mox_imap_command_duration_seconds_count", cmd="login", result="ok") == 1
    assert delta("mox_imap_command_duration_seconds_count", cmd="noop", result="ok") == 1
    assert delta("mox_imap_command_duration_seconds_count", cmd="select", result="ok") == 1

    # The queue delivered the submission: one attempt, result ok (the queue works on its own
    # time: wait for it).
    labels = {"attempt": "1", "transport": "", "tlsmode": "", "result": "ok"}
    deadline = time.monotonic() + 30
    while delta("mox_queue_delivery_duration_seconds_count", **labels) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
        after = scrape(port)[2]
    assert delta("mox_queue_delivery_duration_seconds_count", **labels) == 1
    # Messages on hold: a gauge read at each scrape.
    assert value(after, "mox_queue_hold") == 0
    assert run_mox("queue", "holdrules", "add", "-dir", str(server.dir)).returncode == 0
    with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=30) as s:
        s.login("mox@localhost", "moxmoxmox")
        s.sendmail("mox@localhost", ["a@example.org", "b@example.org"], b"From: mox@localhost\r\nSubject: h\r\n\r\nhi\r\n")
    assert value(scrape(port)[2], "mox_queue_hold") == 2
    assert run_mox("queue", "drop", "-dir", str(server.dir)).stdout == "2 message(s) dropped\n"
    assert value(scrape(port)[2], "mox_queue_hold") == 0
    assert run_mox("queue", "holdrules", "remove", "-dir", str(server.dir), "1").returncode == 0

    # Only /metrics is served on this port; HEAD works as for every GET route.
    assert scrape(port, "/")[0] == 404
    assert scrape(port, "/account/")[0] == 404
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/metrics", body=b"x")
    assert conn.getresponse().status == 405
    conn.close()


def test_localserve_ready_file_names_the_metrics_port(tmp_path, mox_process):
    p = mox_process("localserve", "-dir", str(tmp_path / "d"), "-port-base", "0")
    info = p.wait_ready()
    assert isinstance(info["metrics"], int) and info["metrics"] > 0
    status, _, text = scrape(info["metrics"])
    assert status == 200
    assert "# TYPE mox_imap_connection_total counter\n" in text
    assert value(text, "mox_imap_connection_total", service="imap") == 0
    assert run_mox("stop", "-dir", str(tmp_path / "d")).returncode == 0
    assert p.wait() == 0


def test_localserve_config_enables_metrics_on_1081(tmp_path):
    # mox.conf as localserve writes it: MetricsHTTP enabled on 1081, so a plain start serves it.
    from mox import localserve

    localserve.write_localserve_config(tmp_path)
    assert "\t\tMetricsHTTP:\n\t\t\tEnabled: true\n" in (tmp_path / "mox.conf").read_text(encoding="utf-8")
    assert localserve.load_localserve_config(tmp_path).ports["metrics"] == 1081
