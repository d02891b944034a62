"""Localserve's limits never get in the way of a parallel test suite on 127.0.0.1: hundreds of
concurrent connections, a fast connection rate and many failed logins are all fine (mox's
defaults would refuse the 31st connection and the 11th failed login in a minute)."""

from __future__ import annotations

import socket

from mox.testing import LocalServer


def test_many_connections_and_failures_from_localhost():
    with LocalServer() as srv:
        conns = []
        try:
            for i in range(200):
                port = srv.ports["imap"] if i % 4 else srv.ports["submission"]
                s = socket.create_connection(("127.0.0.1", port), timeout=60)
                conns.append((s, s.makefile("rb")))
            # 100 failed logins, two per connection (the third would make that connection slow),
            # sent as soon as the connection is greeted: an IMAP connection that says nothing for
            # 30 seconds before login is closed (BYE inactive), and the server is given the whole
            # batch at once rather than one login at a time.
            for i, (s, f) in enumerate(conns):
                greeting = f.readline()
                assert greeting.startswith(b"* OK [CAPABILITY " if i % 4 else b"220 "), (i, greeting)
                if i % 4 == 1:
                    s.sendall(f"a LOGIN mox@localhost wrong{i}\r\nb LOGIN mox@localhost wrong{i}\r\n".encode())
            for i in range(50):
                s, f = conns[4 * i + 1]
                for tag in ("a", "b"):
                    assert f.readline() == f"{tag} NO [AUTHENTICATIONFAILED] login failed\r\n".encode()
            s = socket.create_connection(("127.0.0.1", srv.ports["imap"]), timeout=60)
            f = s.makefile("rb")
            conns.append((s, f))
            assert f.readline().startswith(b"* OK [CAPABILITY ")
            s.sendall(f"c LOGIN {srv.address} {srv.password}\r\n".encode())
            line = f.readline()
            assert line.startswith(b"c OK [CAPABILITY ") and line.endswith(b"] login done\r\n"), line
        finally:
            for s, f in conns:
                f.close()
                s.close()
