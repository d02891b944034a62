"""COMPRESS=DEFLATE (RFC 4978): after the tagged OK of ``COMPRESS DEFLATE`` both directions of the
connection are a raw deflate stream (RFC 1951, no zlib header). ``DeflateStream`` wraps the
connection's stream: what we send is compressed and flushed with a sync flush at each write (RFC
4978 4: the client can decompress a whole response at once); what we receive is decompressed
as it arrives, in whatever pieces the client flushed (a partial flush, or one byte at a time,
must not make us wait for more: the interop problem that kept mox from advertising it). Memory
is bounded: at most ``max_out`` bytes are inflated per read, the rest stays in zlib's buffer of
unconsumed input (a small message cannot inflate into unbounded memory)."""

from __future__ import annotations

import zlib
from typing import Any

import trio


class DeflateStream(trio.abc.Stream):
    def __init__(self, inner: trio.abc.Stream, *, max_out: int = 65536) -> None:
        self.inner = inner
        self.max_out = max_out
        self._c = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        self._d = zlib.decompressobj(-15)

    def __getattr__(self, name: str) -> Any:
        # socket, getpeercert, ...: the wrapped stream's (as SlowStream passes them on).
        return getattr(self.inner, name)

    def inflate(self, data: bytes) -> bytes:
        """Data received before the stream was wrapped (already read from the socket)."""
        try:
            return self._d.decompress(data)
        except zlib.error as e:
            raise trio.BrokenResourceError(f"bad deflate data: {e}") from None

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        out = self._c.compress(bytes(data)) + self._c.flush(zlib.Z_SYNC_FLUSH)
        await self.inner.send_all(out)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        n = min(max_bytes or self.max_out, self.max_out)
        while True:
            try:
                if self._d.unconsumed_tail:
                    out = self._d.decompress(self._d.unconsumed_tail, n)
                else:
                    raw = await self.inner.receive_some(65536)
                    if not raw:
                        return b""
                    out = self._d.decompress(raw, n)
            except zlib.error as e:
                raise trio.BrokenResourceError(f"bad deflate data: {e}") from None
            if out:
                return out
            if self._d.eof:
                return b""  # the client ended the deflate stream: as the end of the connection

    async def aclose(self) -> None:
        await self.inner.aclose()
