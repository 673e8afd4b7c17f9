"""Reading an OTLP/HTTP body safely: size limit enforced before and after decompression."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

from monitor.errors import PayloadError, PayloadTooLarge


async def read_limited(stream: AsyncIterator[bytes], limit: int) -> bytes:
    """Read at most ``limit`` bytes from the request stream, or raise ``PayloadTooLarge``."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo ``Content-Encoding`` (gzip, deflate), never producing more than ``limit`` bytes."""
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("identity", ""):
        return body
    if encoding == "gzip":
        wbits = 16 + zlib.MAX_WBITS
    elif encoding == "deflate":
        wbits = zlib.MAX_WBITS
    else:
        raise PayloadError(f"unsupported Content-Encoding {encoding!r}; use gzip, deflate or none")
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise PayloadError(f"body is not valid {encoding} data: {exc}") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"decompressed body exceeds {limit} bytes")
    if not inflater.eof:
        raise PayloadError(f"truncated {encoding} body")
    return out
