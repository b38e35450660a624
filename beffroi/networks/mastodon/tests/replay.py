"""Replays the recorded Mastodon answers in ./cassettes (see SOURCE.md) through an httpx.MockTransport.

Each request is answered with the first unused recorded answer for the same method and path (the host and the
query are ignored: the recordings were made on localhost:3000); an optional body check narrows the choice. A
request nothing answers is an error raised in the code under test and kept in `unexpected`, which the fixture
asserts empty at the end, so swallowing it does not hide it. Requests received are kept to assert what the
instance was sent (form fields, multipart parts, headers).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import yaml

CASSETTES = Path(__file__).parent / "cassettes"


@dataclass
class Recorded:
    method: str
    path: str
    status: int
    headers: list[tuple[str, str]]
    body: str
    request_body: Any = None

    def json(self) -> Any:
        return json.loads(self.body)

    def response(self, request: httpx.Request) -> httpx.Response:
        headers = [
            (name, value) for name, value in self.headers if name.lower() not in ("content-length", "content-encoding")
        ]
        return httpx.Response(self.status, headers=headers, content=self.body.encode(), request=request)


@cache
def _load(name: str) -> tuple[Recorded, ...]:
    data = yaml.safe_load((CASSETTES / name).read_text())
    found = []
    for interaction in data["interactions"]:
        request, response = interaction["request"], interaction["response"]
        headers = [(key, value) for key, values in response["headers"].items() for value in values]
        found.append(
            Recorded(
                method=request["method"],
                path=urlsplit(request["uri"]).path.rstrip("/"),
                status=response["status"]["code"],
                headers=headers,
                body=response["body"]["string"],
                request_body=request["body"],
            )
        )
    return tuple(found)


def recorded(cassette: str, method: str, path_prefix: str, *, status: int | None = None, index: int = 0) -> Recorded:
    """One recorded exchange of a cassette: the `index`-th with this method, path prefix (and status)."""
    matches = [
        item
        for item in _load(cassette)
        if item.method == method and item.path.startswith(path_prefix) and (status is None or item.status == status)
    ]
    return matches[index]


@dataclass
class Seen:
    """A request the instance received."""

    method: str
    path: str
    headers: httpx.Headers
    content: bytes

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.content.decode(), keep_blank_values=True)

    def multipart(self) -> dict[str, bytes]:
        """Multipart parts by name (files included), enough to check what an upload carried."""
        boundary = self.headers["content-type"].split("boundary=")[1].encode()
        parts: dict[str, bytes] = {}
        for part in self.content.split(b"--" + boundary)[1:-1]:
            head, _, value = part.strip(b"\r\n").partition(b"\r\n\r\n")
            name = head.split(b'name="')[1].split(b'"')[0].decode()
            parts[name] = value
        return parts


@dataclass
class Expected:
    method: str
    path: str  # exact, or a prefix ending with "*"
    answer: Recorded | Callable[[httpx.Request], httpx.Response]
    body_check: Callable[[bytes], bool] | None = None
    repeat: bool = False

    def matches(self, request: httpx.Request, path: str) -> bool:
        if request.method != self.method:
            return False
        same_path = path.startswith(self.path[:-1]) if self.path.endswith("*") else path == self.path
        return same_path and (self.body_check is None or self.body_check(request.content))


@dataclass
class Replay:
    expected: list[Expected] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def add(
        self,
        method: str,
        path: str,
        answer: Recorded | Callable[[httpx.Request], httpx.Response],
        *,
        body_check: Callable[[bytes], bool] | None = None,
        repeat: bool = False,
    ) -> Replay:
        self.expected.append(Expected(method, path, answer, body_check, repeat))
        return self

    def cassette(self, name: str, *, only: tuple[str, ...] = ()) -> Replay:
        """Every exchange of a cassette, in order, each answered once (`only`: those whose path starts so)."""
        for item in _load(name):
            if not only or any(item.path.startswith(prefix) for prefix in only):
                self.add(item.method, item.path, item)
        return self

    def handle(self, request: httpx.Request) -> httpx.Response:
        request.read()
        path = request.url.path.rstrip("/")
        self.seen.append(Seen(request.method, path, request.headers, request.content))
        for index, expected in enumerate(self.expected):
            if expected.matches(request, path):
                if not expected.repeat:
                    del self.expected[index]
                answer = expected.answer
                return answer.response(request) if isinstance(answer, Recorded) else answer(request)
        self.unexpected.append(f"{request.method} {request.url}")
        raise AssertionError(f"unexpected request: {request.method} {request.url}")

    def requests(self, method: str, path_prefix: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.method == method and seen.path.startswith(path_prefix)]

    def sync_client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))

    def async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))
