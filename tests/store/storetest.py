"""Helpers shared by the store tests."""

from __future__ import annotations


def msg(n: int, body: str = "hello") -> bytes:
    return (
        f"From: a@mox.example\r\nTo: mox@localhost\r\nSubject: test {n}\r\n"
        f"Message-Id: <{n}@mox.example>\r\n\r\n{body} {n}\r\n"
    ).encode()
