"""A minimal keep-alive HTTP/1.1 load generator on raw asyncio, for the simulator's own tests.

httpx's connection pool spends CPU in proportion to its size on every request (httpcore's
`_assign_requests_to_connections`): with hundreds of connections in one client it, not the server, is what gets
measured. This client costs a few tens of microseconds a request.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit


@dataclass
class LoadResult:
    requests: int
    elapsed_s: float
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s else 0.0

    def percentile(self, pct: float) -> float:
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))] if ordered else 0.0


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    start = lower.index(b"content-length:") + 15
    length = int(lower[start : lower.index(b"\r\n", start)])
    await reader.readexactly(length)
    return status


async def post_statuses(
    url: str, total: int, connections: int, accounts: int, *, text: str = "Load post", token_prefix: str = "tok-a"
) -> LoadResult:
    """POSTs `total` statuses over `connections` keep-alive connections, spread over `accounts` tokens."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    result = LoadResult(requests=total, elapsed_s=0.0)
    counter = iter(range(total))

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for number in counter:  # shared: each connection takes the next post
                body = f"status={quote(f'{text} {number}')}&visibility=public".encode()
                writer.write(
                    b"POST /api/v1/statuses HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s%d\r\n"
                    b"Idempotency-Key: load-%d\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                    b"Content-Length: %d\r\n\r\n%s"
                    % (host.encode(), port, token_prefix.encode(), number % accounts, number, len(body), body)
                )
                sent = time.monotonic()
                status = await _read_response(reader)
                result.latencies_s.append(time.monotonic() - sent)
                result.statuses[status] += 1
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(connection() for _ in range(connections)))
    result.elapsed_s = time.monotonic() - started
    return result
