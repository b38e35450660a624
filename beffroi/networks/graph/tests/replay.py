"""Replaying Graph API answers in tests: an httpx.MockTransport that expects an exact sequence of requests and
fails the test on any other one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest


def load(folder: Path, name: str) -> Any:
    return json.loads((folder / name).read_text(encoding="utf-8"))


def meta_error(code: int, message: str, subcode: int | None = None, **more: Any) -> dict[str, Any]:
    """An error body in Meta's documented shape (written for these tests, not recorded)."""
    error: dict[str, Any] = {"message": message, "type": more.pop("type", "OAuthException"), "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error.update(more)
    error["fbtrace_id"] = "AbCdEfGhIjKlMnOpQrStUvW"
    return {"error": error}


@dataclass
class Expect:
    method: str
    path: str  # the URL's path: "/v24.0/123/feed"
    json: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    host: str | None = None  # checked when given
    raises: type[Exception] | None = None  # a transport failure instead of an answer


def params_of(request: httpx.Request) -> dict[str, Any]:
    """Query and body parameters of a request; a multipart file appears as {"filename", "size", "type"}."""
    params: dict[str, Any] = dict(request.url.params.multi_items())
    content_type = request.headers.get("content-type", "")
    body = request.read()
    if "multipart/form-data" in content_type:
        message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
        for part in message.iter_parts():  # type: ignore[attr-defined]
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if part.get_filename():
                params[name] = {"filename": part.get_filename(), "size": len(payload), "type": part.get_content_type()}
            else:
                params[name] = payload.decode()
    elif body:
        params.update(parse_qsl(body.decode(), keep_blank_values=True))
    return params


class Replay:
    def __init__(self, *expected: Expect) -> None:
        self.expected = list(expected)
        self.requests: list[httpx.Request] = []
        self.unexpected: list[str] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.expected:
            self.unexpected.append(f"{request.method} {request.url}")
            pytest.fail(f"unexpected request: {request.method} {request.url}")
        expect = self.expected.pop(0)
        if (request.method, request.url.path) != (expect.method, expect.path) or (
            expect.host and request.url.host != expect.host
        ):
            self.unexpected.append(f"{request.method} {request.url}")
            pytest.fail(f"expected {expect.method} {expect.path}, got {request.method} {request.url}")
        if expect.raises is not None:
            raise expect.raises("simulated", request=request)
        return httpx.Response(expect.status, json=expect.json, headers=expect.headers)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    def params(self, index: int) -> dict[str, Any]:
        return params_of(self.requests[index])

    def assert_done(self) -> None:
        assert not self.unexpected, self.unexpected
        assert not self.expected, f"requests not made: {[(e.method, e.path) for e in self.expected]}"

    def run(self, call: Callable[[httpx.AsyncClient], Any]) -> Any:
        """Runs `call(client)` (a coroutine function) on a client answering from this replay."""

        async def main():
            async with httpx.AsyncClient(transport=self.transport) as client:
                return await call(client)

        return asyncio.run(main())

    def client(self) -> httpx.Client:
        return httpx.Client(transport=self.transport)
