"""Drive an ASGI app with a body that streams in chunks, counting how much of it was read.

httpx's ASGITransport hands the app the whole body at once; these tests need to see how far
into a body the app got before it answered.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message


@dataclass
class Streamed:
    status: int = 0
    body: bytes = b""
    chunks_read: int = 0
    bytes_read: int = 0
    headers: dict[str, str] = field(default_factory=dict)


async def stream_request(
    app: ASGIApp,
    method: str,
    path: str,
    chunks: Iterable[bytes],
    headers: dict[str, str] | None = None,
) -> Streamed:
    """Send `chunks` as the body of one request; the answer and how many chunks were read."""
    result = Streamed()
    pending: Iterator[bytes] = iter(chunks)
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    done = False

    async def receive() -> Message:
        nonlocal done
        if done:
            return {"type": "http.disconnect"}
        chunk = next(pending, None)
        if chunk is None:
            done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        result.chunks_read += 1
        result.bytes_read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            result.status = message["status"]
            result.headers = {k.decode(): v.decode() for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            result.body += message.get("body", b"")

    await app(scope, receive, send)
    return result


def chunks_of(size: int, count: int) -> Iterator[bytes]:
    """`count` chunks of `size` bytes each, made lazily (never all held at once)."""
    chunk = b"x" * size
    for _ in range(count):
        yield chunk
