"""HTTP plumbing of the network simulator: a small HTTP/1.1 server on raw asyncio, the knobs, the record of every
post, the statistics and the control API under `/_sim/`.

Why raw asyncio rather than ASGI: it is several times faster than uvicorn with h11 and needs no extra dependency,
and it can do what ASGI cannot — close a connection without sending a single byte (`drop_after_commit_rate`).

Handlers are plain synchronous functions `(request) -> Response`; the simulated latency and stalls are timers on
the event loop (`call_later`), so no task is created per request and the loop is never blocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qsl

# Limits that keep a misbehaving client from eating the memory of a test machine.
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024
# Above this much unread data while a request is being answered, stop reading from that connection.
PAUSE_READING_BYTES = 1024 * 1024


# --------------------------------------------------------------------------------------------------------------
# Knobs
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Knobs:
    """Everything that shapes how the simulated networks behave. All can change while the server runs."""

    latency_ms: float = 0.0  # delay before answering every API call
    jitter_ms: float = 0.0  # latency varies uniformly within ± jitter_ms
    error_rate: float = 0.0  # fraction of publish calls answered 503 before anything is stored
    timeout_after_commit_rate: float = 0.0  # fraction of publish calls stored, then answered after stall_s
    drop_after_commit_rate: float = 0.0  # fraction of publish calls stored, then the connection closed unanswered
    stall_s: float = 30.0
    rate_limit: int | None = None  # requests per rate_window_s per token; None = unlimited
    rate_window_s: float = 300.0
    max_characters: int = 500
    idempotency_ttl_s: float = 3600.0  # how long a network remembers an Idempotency-Key
    media_processing_s: float = 0.0  # how long an uploaded video stays "processing" (202, then 206)
    # The Nth API call of each account, counted from when this knob is set, answers 500 without doing anything
    # (a failure halfway through a run of reads); None = never.
    fail_nth_call: int | None = None
    seed: int | None = None
    revoked_tokens: set[str] = field(default_factory=set)
    # Per-account knobs, by account name (Mastodon: the username): {"alice": {"error_rate": 1.0}}.
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)


KNOB_NAMES = frozenset(f.name for f in dataclasses.fields(Knobs))
# What an account may override (the rest is instance-wide).
ACCOUNT_KNOB_NAMES = KNOB_NAMES - {"seed", "revoked_tokens", "overrides"}
_RATES = ("error_rate", "timeout_after_commit_rate", "drop_after_commit_rate")


def _checked(name: str, value: Any) -> Any:
    """The value a knob takes, or ValueError (so the control API can answer 400 instead of breaking later)."""
    if name in _RATES:
        value = float(value)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1")
    elif name in ("latency_ms", "jitter_ms", "stall_s", "rate_window_s", "idempotency_ttl_s", "media_processing_s"):
        value = float(value)
        if value < 0 or (name == "rate_window_s" and value == 0):
            raise ValueError(f"{name} must be positive")
    elif name in ("rate_limit", "seed", "fail_nth_call"):
        value = None if value is None else int(value)
        if name == "rate_limit" and value is not None and value < 0:
            raise ValueError("rate_limit must be 0 or more (or null for unlimited)")
        if name == "fail_nth_call" and value is not None and value < 1:
            raise ValueError("fail_nth_call must be 1 or more (or null for never)")
    elif name == "max_characters":
        value = int(value)
        if value < 1:
            raise ValueError("max_characters must be at least 1")
    elif name == "revoked_tokens":
        if isinstance(value, str):
            raise ValueError("revoked_tokens is a list of tokens")
        value = {str(token) for token in value}
    elif name == "overrides":
        if not isinstance(value, dict):
            raise ValueError("overrides maps an account name to knobs")
        checked: dict[str, dict[str, Any]] = {}
        for account, knobs in value.items():
            if not isinstance(knobs, dict):
                raise ValueError(f"overrides[{account!r}] must be an object of knobs")
            unknown = set(knobs) - ACCOUNT_KNOB_NAMES
            if unknown:
                raise ValueError(f"knobs that cannot be set per account: {', '.join(sorted(unknown))}")
            checked[str(account)] = {key: _checked(key, item) for key, item in knobs.items()}
        value = checked
    return value


def knobs_as_json(knobs: Knobs) -> dict[str, Any]:
    data = dataclasses.asdict(knobs)
    data["revoked_tokens"] = sorted(knobs.revoked_tokens)
    return data


# --------------------------------------------------------------------------------------------------------------
# Requests and responses
# --------------------------------------------------------------------------------------------------------------


class Request:
    """One parsed HTTP request. Header names are lower-case; a repeated header's values are joined with ", "."""

    __slots__ = (
        "method",
        "path",
        "query_string",
        "headers",
        "body",
        "received_at",
        "route",
        "path_params",
        "account",
        "knobs",
        "_query",
    )

    def __init__(self, method: str, path: str, query_string: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.path = path
        self.query_string = query_string
        self.headers = headers
        self.body = body
        self.received_at = time.time()
        self.route: Route | None = None
        self.path_params: dict[str, str] = {}
        self.account: str | None = None  # the account name knobs are looked up by
        self.knobs: Knobs | None = None
        self._query: list[tuple[str, str]] | None = None

    def query_pairs(self) -> list[tuple[str, str]]:
        if self._query is None:
            self._query = parse_qsl(self.query_string, keep_blank_values=True)
        return self._query

    def query(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.query_pairs():
            if key == name:
                return value
        return default

    def bearer_token(self) -> str | None:
        value = self.headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return token.strip() or None

    def json(self) -> Any:
        return json.loads(self.body or b"null")


class Response:
    """What a handler answers. `stall_s` delays the answer; `drop` closes the connection without one."""

    __slots__ = ("status", "body", "headers", "stall_s", "drop", "content_type")

    def __init__(
        self,
        status: int = 200,
        body: bytes = b"",
        headers: Sequence[tuple[str, str]] = (),
        *,
        content_type: str = "application/json; charset=utf-8",
        stall_s: float = 0.0,
        drop: bool = False,
    ) -> None:
        self.status = status
        self.body = body
        self.headers = list(headers)
        self.content_type = content_type
        self.stall_s = stall_s
        self.drop = drop


def json_response(data: Any, status: int = 200, headers: Sequence[tuple[str, str]] = ()) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(status, body, headers)


def error_response(status: int, message: str, headers: Sequence[tuple[str, str]] = ()) -> Response:
    return json_response({"error": message}, status, headers)


def iso_time(moment: float, digits: int = 3) -> str:
    """ISO 8601 UTC with `digits` decimals and a Z, as Mastodon writes times: 2026-11-22T10:00:00.000Z."""
    whole = int(moment)
    fraction = int((moment - whole) * 10**digits)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{fraction:0{digits}d}Z"


# --------------------------------------------------------------------------------------------------------------
# Routing
# --------------------------------------------------------------------------------------------------------------

Handler = Callable[[Request], Response]


@dataclass(slots=True)
class Route:
    method: str
    pattern: str  # "/api/v1/statuses/:id"
    handler: Handler
    network: Network | None  # None: the control API (no latency, not counted)
    label: str = ""
    regex: re.Pattern[str] | None = None

    def __post_init__(self) -> None:
        self.label = f"{self.method} {self.pattern}"
        if ":" in self.pattern:
            source = re.sub(r":(\w+)", r"(?P<\1>[^/]+)", self.pattern)
            self.regex = re.compile(f"^{source}$")


class Router:
    def __init__(self) -> None:
        self._static: dict[tuple[str, str], Route] = {}
        self._dynamic: list[Route] = []
        self._paths: set[str] = set()

    def add(self, route: Route) -> None:
        if route.regex is None:
            self._static[(route.method, route.pattern)] = route
            self._paths.add(route.pattern)
        else:
            self._dynamic.append(route)

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """(route, path parameters, whether the path exists for another method)."""
        route = self._static.get((method, path))
        if route is not None:
            return route, {}, True
        other_method = path in self._paths
        for candidate in self._dynamic:
            found = candidate.regex.match(path)  # type: ignore[union-attr]
            if found:
                if candidate.method == method:
                    return candidate, found.groupdict(), True
                other_method = True
        return None, {}, other_method


class Network:
    """A simulated network: its routes, its state, and how a request names the account knobs apply to."""

    name: str = ""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator

    def routes(self) -> Iterable[tuple[str, str, Handler]]:
        """(method, pattern, handler); a pattern may hold `:name` segments."""
        return ()

    def account_for(self, request: Request) -> str | None:
        """The account name per-account knobs are looked up by (called before the simulated latency)."""
        return None

    def reset(self) -> None:
        """Forgets every post, key and counter (the knobs stay)."""

    def stats(self) -> dict[str, Any]:
        return {}


# --------------------------------------------------------------------------------------------------------------
# The record of posts
# --------------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class PostRecord:
    """One post a network stored: what tests count to prove nothing is lost and nothing is sent twice."""

    id: str
    network: str
    account: str
    account_id: str
    text: str
    idempotency_key: str | None
    received_at: float
    created_at: float
    url: str = ""
    fault: str | None = None  # "stall" or "drop": stored, but the client got no answer in time
    deleted: bool = False
    deleted_at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "network": self.network,
            "account": self.account,
            "account_id": self.account_id,
            "text": self.text,
            "idempotency_key": self.idempotency_key,
            "received_at": iso_time(self.received_at),
            "created_at": iso_time(self.created_at),
            "url": self.url,
            "fault": self.fault,
            "deleted": self.deleted,
            "deleted_at": iso_time(self.deleted_at) if self.deleted_at is not None else None,
            **self.extra,
        }


# --------------------------------------------------------------------------------------------------------------
# The simulator: state, knobs, dispatch (no I/O here)
# --------------------------------------------------------------------------------------------------------------


def default_networks() -> list[type[Network]]:
    from beffroi.simulator.bluesky import BlueskyNetwork
    from beffroi.simulator.graph import GraphNetwork
    from beffroi.simulator.mastodon import MastodonNetwork

    return [MastodonNetwork, BlueskyNetwork, GraphNetwork]


class Simulator:
    """The state of every simulated network. Thread-safe: tests read it from their own thread."""

    def __init__(self, networks: Sequence[type[Network]] | None = None, **knobs: Any) -> None:
        self._lock = threading.RLock()
        self.knobs = Knobs()
        self.public_url = "http://127.0.0.1"  # set by the server once it listens
        self._account_knobs: dict[str, Knobs] = {}
        self.calls_by_account: Counter[str | None] = Counter()
        self.random = random.Random()  # noqa: S311 — simulation, not security
        self.configure(**knobs)
        if "seed" not in knobs:
            self.random.seed(None)
        self.router = Router()
        self.networks: list[Network] = [cls(self) for cls in (networks or default_networks())]
        for network in self.networks:
            for method, pattern, handler in network.routes():
                self.router.add(Route(method, pattern, handler, network))
        for method, pattern, handler in self._control_routes():
            self.router.add(Route(method, pattern, handler, None))
        self.connections_open = 0
        self.connections_total = 0
        self.connections_peak = 0
        self._reset_records()

    # Knobs ----------------------------------------------------------------------------------------------------

    def configure(self, **knobs: Any) -> Knobs:
        """Changes the given knobs (others keep their value). Raises ValueError/TypeError on a bad one."""
        unknown = set(knobs) - KNOB_NAMES
        if unknown:
            raise TypeError(f"unknown knobs: {', '.join(sorted(unknown))}")
        checked = {name: _checked(name, value) for name, value in knobs.items()}
        with self._lock:
            if "fail_nth_call" in checked or "overrides" in checked:
                self.calls_by_account = Counter()  # fail_nth_call counts from here
            self.knobs = dataclasses.replace(self.knobs, **checked)
            self._account_knobs = {
                account: dataclasses.replace(self.knobs, **values) for account, values in self.knobs.overrides.items()
            }
            if "seed" in checked:
                self.random.seed(checked["seed"])
            return self.knobs

    def knobs_for(self, account: str | None) -> Knobs:
        if account is None:
            return self.knobs
        return self._account_knobs.get(account, self.knobs)

    # Records --------------------------------------------------------------------------------------------------

    def _reset_records(self) -> None:
        self.records: list[PostRecord] = []
        self._records_by_id: dict[tuple[str, str], PostRecord] = {}
        self._text_counts: Counter[tuple[str, str, str]] = Counter()
        self.duplicates = 0
        self.requests: dict[str, Counter[str]] = {}
        self.injected: Counter[str] = Counter()
        self.calls_by_account = Counter()
        self.started_at = time.time()

    def reset(self) -> None:
        """Forgets posts, keys and counters; the knobs stay, and the random sequence restarts from the seed."""
        with self._lock:
            self._reset_records()
            for network in self.networks:
                network.reset()
            self.random.seed(self.knobs.seed)

    def record_post(self, record: PostRecord) -> PostRecord:
        """Called by a network when it stores a post. Counts duplicates: same (network, account, text)."""
        key = (record.network, record.account, record.text)
        self._text_counts[key] += 1
        if self._text_counts[key] > 1:
            self.duplicates += 1
        self.records.append(record)
        self._records_by_id[(record.network, record.id)] = record
        return record

    def record_for(self, network: str, post_id: str) -> PostRecord | None:
        return self._records_by_id.get((network, post_id))

    def inject(self, fault: str) -> None:
        self.injected[fault] += 1

    def chance(self, rate: float) -> bool:
        """True with probability `rate`. Always draws, so the sequence does not depend on the knobs."""
        return self.random.random() < rate

    def posts(self) -> list[dict[str, Any]]:
        with self._lock:
            return [record.as_json() for record in self.records]

    def stats(self) -> dict[str, Any]:
        with self._lock:
            deleted = sum(1 for record in self.records if record.deleted)
            requests = {label: dict(sorted(counts.items())) for label, counts in sorted(self.requests.items())}
            return {
                "posts": len(self.records),  # every post stored, deleted ones included
                "posts_live": len(self.records) - deleted,
                "posts_deleted": deleted,
                "duplicates": self.duplicates,
                "duplicate_groups": sum(1 for count in self._text_counts.values() if count > 1),
                "requests": requests,
                "requests_total": sum(sum(counts.values()) for counts in self.requests.values()),
                "injected": dict(self.injected),  # errors, stalls, drops, rate limits
                "connections": {
                    "open": self.connections_open,
                    "total": self.connections_total,
                    "peak": self.connections_peak,
                },
                "networks": {network.name: network.stats() for network in self.networks},
                "uptime_s": round(time.time() - self.started_at, 3),
            }

    # Dispatch -------------------------------------------------------------------------------------------------

    def prepare(self, request: Request) -> float:
        """Routes the request and returns the simulated latency (seconds) before it is answered."""
        route, params, _ = self.router.match(request.method, request.path)
        request.route = route
        request.path_params = params
        if route is None or route.network is None:
            return 0.0
        account = route.network.account_for(request)
        knobs = self.knobs_for(account)
        request.account = account
        request.knobs = knobs
        delay_ms = knobs.latency_ms
        if knobs.jitter_ms:
            delay_ms += self.random.uniform(-knobs.jitter_ms, knobs.jitter_ms)
        return max(0.0, delay_ms / 1000.0)

    def respond(self, request: Request) -> Response:
        """Answers a prepared request. A fully received request is processed even if its client has gone,
        as a real server would."""
        with self._lock:
            route = request.route
            if route is None:
                _, _, other_method = self.router.match(request.method, request.path)
                status, message = (405, "Method Not Allowed") if other_method else (404, "Not Found")
                response = error_response(status, message)
                if not request.path.startswith("/_sim/"):  # a connector calling a path we do not simulate
                    self.requests.setdefault(f"{request.method} (unknown path)", Counter())[str(response.status)] += 1
                return response
            if request.knobs is None:
                request.knobs = self.knobs
            failing = False
            if route.network is not None:
                self.calls_by_account[request.account] += 1
                failing = self.calls_by_account[request.account] == request.knobs.fail_nth_call
            if failing:
                self.inject("failed_call")
                response = error_response(500, "We're sorry, but something went wrong on our end.")
            else:
                try:
                    response = route.handler(request)
                except Exception as error:  # a bug in a handler: say so in the answer, keep serving
                    response = error_response(500, f"simulator error: {type(error).__name__}: {error}")
            if route.network is not None:
                outcome = "drop" if response.drop else str(response.status)
                counts = self.requests.get(route.label)
                if counts is None:
                    counts = self.requests[route.label] = Counter()
                counts[outcome] += 1
            return response

    # Control API ----------------------------------------------------------------------------------------------

    def _control_routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", "/_sim/posts", lambda request: json_response([r.as_json() for r in self.records])),
            ("GET", "/_sim/stats", lambda request: json_response(self.stats())),
            ("GET", "/_sim/config", lambda request: json_response(knobs_as_json(self.knobs))),
            ("POST", "/_sim/config", self._control_configure),
            ("POST", "/_sim/reset", self._control_reset),
            ("GET", "/_sim/health", lambda request: json_response({"ok": True})),
        ]

    def _control_configure(self, request: Request) -> Response:
        try:
            knobs = request.json()
            if not isinstance(knobs, dict):
                raise ValueError("send a JSON object of knobs")
            self.configure(**knobs)
        except (ValueError, TypeError) as error:
            return error_response(400, str(error))
        return json_response(knobs_as_json(self.knobs))

    def _control_reset(self, request: Request) -> Response:
        self.reset()
        return json_response({"ok": True})


# --------------------------------------------------------------------------------------------------------------
# HTTP/1.1 over asyncio
# --------------------------------------------------------------------------------------------------------------

_REASONS = {status.value: status.phrase for status in HTTPStatus}


class _DateCache:
    """The Date header, formatted at most once a second."""

    second = -1
    value = b""

    @classmethod
    def get(cls) -> bytes:
        now = int(time.time())
        if now != cls.second:
            cls.second = now
            cls.value = formatdate(now, usegmt=True).encode()
        return cls.value


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class HttpConnection(asyncio.Protocol):
    """One client connection: keep-alive, requests answered one at a time and in order (pipelining works)."""

    def __init__(self, simulator: Simulator, connections: set[HttpConnection]) -> None:
        self.simulator = simulator
        self.connections = connections
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.busy = False  # a request is being answered
        self.closed = False
        self.paused = False
        self.parsing = False
        self.continue_sent = False
        self.latency_timer: asyncio.TimerHandle | None = None  # survives the client leaving
        self.stall_timer: asyncio.TimerHandle | None = None  # cancelled when the client leaves

    # asyncio callbacks ----------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.connections.add(self)
        simulator = self.simulator
        simulator.connections_open += 1
        simulator.connections_total += 1
        simulator.connections_peak = max(simulator.connections_peak, simulator.connections_open)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed:
            return
        self.closed = True
        self.connections.discard(self)
        self.simulator.connections_open -= 1
        # A stalled answer nobody waits for any more. A request still in its latency is processed anyway:
        # it was fully received, and a real server does not notice that its client has gone.
        if self.stall_timer is not None:
            self.stall_timer.cancel()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self._next_requests()
        elif len(self.buffer) > PAUSE_READING_BYTES and not self.paused and self.transport:
            self.paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool | None:
        # The client is done sending; let an answer in progress go out, then close.
        if not self.busy and self.transport:
            self.transport.close()
        return True

    # Requests -------------------------------------------------------------------------------------------------

    def _next_requests(self) -> None:
        if self.parsing:
            return
        self.parsing = True
        try:
            while not self.busy and not self.closed and self.buffer:
                try:
                    parsed = self._parse()
                except _BadRequest as error:
                    self._write(error_response(error.status, str(error)), keep_alive=False)
                    return
                if parsed is None:
                    return
                request, keep_alive = parsed
                self.busy = True
                delay = self.simulator.prepare(request)
                if delay > 0:
                    self.latency_timer = self.loop.call_later(delay, self._respond, request, keep_alive)
                else:
                    self._respond(request, keep_alive)
        finally:
            self.parsing = False

    def _parse(self) -> tuple[Request, bool] | None:
        buffer = self.buffer
        while buffer[:2] == b"\r\n":  # tolerated before a request line (RFC 9112 §2.2)
            del buffer[:2]
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > MAX_HEAD_BYTES:
                raise _BadRequest(431, "Request Header Fields Too Large")
            return None
        lines = buffer[:end].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest(400, "Bad Request")
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon:
                raise _BadRequest(400, "Bad Request")
            name = name.strip().lower()
            value = value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        body_start = end + 4
        if "chunked" in headers.get("transfer-encoding", "").lower():
            decoded = _dechunk(buffer, body_start)
            if decoded is None:
                self._maybe_continue(headers)
                return None
            body, consumed = decoded
        else:
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                raise _BadRequest(400, "Bad Content-Length") from None
            if length < 0 or length > MAX_BODY_BYTES:
                raise _BadRequest(413, "Content Too Large")
            if len(buffer) - body_start < length:
                self._maybe_continue(headers)
                return None
            body = bytes(buffer[body_start : body_start + length])
            consumed = body_start + length
        del buffer[:consumed]
        self.continue_sent = False
        connection = headers.get("connection", "").lower()
        keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
        path, _, query_string = target.partition("?")
        return Request(method, path, query_string, headers, body), keep_alive

    def _maybe_continue(self, headers: dict[str, str]) -> None:
        if not self.continue_sent and headers.get("expect", "").lower() == "100-continue" and self.transport:
            self.continue_sent = True
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _respond(self, request: Request, keep_alive: bool) -> None:
        self.latency_timer = None
        response = self.simulator.respond(request)
        if self.closed:
            return
        if response.drop:
            # Stored, then the line goes dead: the client gets no byte of an answer.
            self.transport.close()  # type: ignore[union-attr]
            return
        if response.stall_s > 0:
            self.stall_timer = self.loop.call_later(response.stall_s, self._write, response, keep_alive)
            return
        self._write(response, keep_alive)

    def _write(self, response: Response, keep_alive: bool) -> None:
        self.stall_timer = None
        if self.closed or self.transport is None:
            return
        head = [
            f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Unknown')}\r\n".encode(),
            b"Date: ",
            _DateCache.get(),
            f"\r\nContent-Type: {response.content_type}\r\nContent-Length: {len(response.body)}\r\n".encode(),
        ]
        if response.headers:
            head.append("".join(f"{name}: {value}\r\n" for name, value in response.headers).encode("latin-1"))
        if not keep_alive:
            head.append(b"Connection: close\r\n")
        head.append(b"\r\n")
        head.append(response.body)
        self.transport.write(b"".join(head))
        if not keep_alive:
            self.transport.close()
            return
        self.busy = False
        if self.paused:
            self.paused = False
            self.transport.resume_reading()
        if self.buffer:
            self._next_requests()

    def abort(self) -> None:
        for timer in (self.latency_timer, self.stall_timer):
            if timer is not None:
                timer.cancel()
        if self.transport is not None:
            self.transport.abort()


def _dechunk(buffer: bytearray, start: int) -> tuple[bytes, int] | None:
    """Decodes a chunked body from buffer[start:]: (body, bytes consumed), or None while incomplete."""
    body = bytearray()
    position = start
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        try:
            size = int(bytes(buffer[position:line_end]).split(b";")[0].strip(), 16)
        except ValueError:
            raise _BadRequest(400, "Bad chunk size") from None
        position = line_end + 2
        if size == 0:
            # Trailers, then an empty line.
            while True:
                line_end = buffer.find(b"\r\n", position)
                if line_end < 0:
                    return None
                empty = line_end == position
                position = line_end + 2
                if empty:
                    return bytes(body), position
        if len(buffer) < position + size + 2:
            return None
        body += buffer[position : position + size]
        if len(body) > MAX_BODY_BYTES:
            raise _BadRequest(413, "Content Too Large")
        position += size + 2


def new_event_loop(use_uvloop: bool = False) -> asyncio.AbstractEventLoop:
    """The standard event loop, or uvloop's when asked. The standard one is the default: uvloop uses a quarter
    less CPU per request here, but sometimes accepts a burst of new connections a second late, which would show
    up as lateness in benchmarks."""
    if use_uvloop:
        import uvloop  # type: ignore[import-not-found]  # optional: installed by whoever asks for it

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


async def start_listening(
    simulator: Simulator, host: str, port: int, connections: set[HttpConnection]
) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    # A large backlog: a benchmark opens hundreds of connections at once, and a dropped SYN costs a second.
    server = await loop.create_server(
        lambda: HttpConnection(simulator, connections), host, port, backlog=4096, reuse_address=True
    )
    bound_host, bound_port = server.sockets[0].getsockname()[:2]
    shown_host = host if host not in ("0.0.0.0", "::", "") else "127.0.0.1"  # noqa: S104
    if ":" in shown_host:
        shown_host = f"[{shown_host}]"
    simulator.public_url = f"http://{shown_host}:{bound_port}"
    return server


async def close_listening(server: asyncio.Server, connections: set[HttpConnection]) -> None:
    server.close()
    for connection in list(connections):
        connection.abort()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(server.wait_closed(), 5)


# --------------------------------------------------------------------------------------------------------------
# In a thread of this process
# --------------------------------------------------------------------------------------------------------------


class SimulatorServer:
    """The simulator in a background thread with its own event loop, for tests.

    `posts()`, `stats()`, `configure()` and `reset()` work directly on the state, without HTTP."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        use_uvloop: bool = False,
        networks: Sequence[type[Network]] | None = None,
        **knobs: Any,
    ) -> None:
        self.host = host
        self.port = port
        self.use_uvloop = use_uvloop
        self.simulator = Simulator(networks, **knobs)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[HttpConnection] = set()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        return self.simulator.public_url

    def start(self) -> Self:
        """Returns once the server accepts connections."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = self._loop = new_event_loop(self.use_uvloop)
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(
                    start_listening(self.simulator, self.host, self.port, self._connections)
                )
            except BaseException as error:
                failure.append(error)
                ready.set()
                loop.close()
                return
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(close_listening(self._server, self._connections))
                loop.close()

        self._thread = threading.Thread(target=run, name="beffroi-simulator", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None
        self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def posts(self) -> list[dict[str, Any]]:
        return self.simulator.posts()

    def stats(self) -> dict[str, Any]:
        return self.simulator.stats()

    def configure(self, **knobs: Any) -> dict[str, Any]:
        return knobs_as_json(self.simulator.configure(**knobs))

    def reset(self) -> None:
        self.simulator.reset()


# --------------------------------------------------------------------------------------------------------------
# In a process of its own
# --------------------------------------------------------------------------------------------------------------


class SimulatorProcess:
    """The simulator in a child process (`python -m beffroi.simulator`), so it does not share the GIL with the
    code under test. Its methods go over the control API. The child exits when this process dies."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        use_uvloop: bool = False,
        startup_timeout_s: float = 20.0,
        **knobs: Any,
    ) -> None:
        unknown = set(knobs) - KNOB_NAMES
        if unknown:
            raise TypeError(f"unknown knobs: {', '.join(sorted(unknown))}")
        self.host = host
        self.port = port
        self.use_uvloop = use_uvloop
        self.startup_timeout_s = startup_timeout_s
        self.knobs = knobs
        self.process: subprocess.Popen[bytes] | None = None
        self._url: str | None = None
        self._http: Any = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the simulator is not started")
        return self._url

    def start(self) -> Self:
        if self.process is not None:
            return self
        import httpx

        config = {name: _checked(name, value) for name, value in self.knobs.items()}
        if "revoked_tokens" in config:
            config["revoked_tokens"] = sorted(config["revoked_tokens"])
        command = [sys.executable, "-m", "beffroi.simulator", "--host", self.host, "--port", str(self.port)]
        command += ["--config", json.dumps(config), "--exit-on-stdin-eof", "--quiet"]
        if self.use_uvloop:
            command.append("--uvloop")
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen(  # noqa: S603 — our own module, our own arguments
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        line = _read_line(self.process, self.startup_timeout_s)
        if not line.startswith("http"):
            self._kill()
            raise RuntimeError(f"the simulator process did not start (it said {line!r})")
        self._url = line
        self._http = httpx.Client(base_url=self._url, timeout=60)
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        if self.process is None:
            return
        with contextlib.suppress(OSError):
            self.process.stdin.close()  # type: ignore[union-attr]  # the child exits on end of input
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._kill()
        if self.process.stdout:
            self.process.stdout.close()
        self.process = None

    def _kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        if self._http is None:
            raise RuntimeError("the simulator is not started")
        response = self._http.request(method, path, json=payload)
        if response.status_code == 400:
            raise ValueError(response.json().get("error"))
        response.raise_for_status()
        return response.json()

    def posts(self) -> list[dict[str, Any]]:
        return self._call("GET", "/_sim/posts")

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/_sim/stats")

    def configure(self, **knobs: Any) -> dict[str, Any]:
        if "revoked_tokens" in knobs:
            knobs["revoked_tokens"] = sorted(knobs["revoked_tokens"])
        return self._call("POST", "/_sim/config", knobs)

    def reset(self) -> None:
        self._call("POST", "/_sim/reset", {})


def _read_line(process: subprocess.Popen[bytes], timeout_s: float) -> str:
    """The child's first line of output, within timeout_s."""
    import selectors

    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout_s):
            return ""
    return process.stdout.readline().decode().strip()
