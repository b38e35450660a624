"""Meta's Graph API over plain httpx: one version setting, overridable hosts, and Meta's errors turned into the
engine's three kinds of failure.

Meta answers errors as `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id", …}}`. What matters
for exactly-once publishing is whether a failed call may still have made something public: a timeout or a 5xx on
`POST /{page-id}/feed` or `POST /{ig-user-id}/media_publish` may have published (AMBIGUOUS), while the same answer
on a read, an unpublished photo upload or an Instagram container (invisible until published) changed nothing
anyone can see (RETRYABLE). Callers say which with `publishes=`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from beffroi.core.logging import redact
from beffroi.networks.base import ErrorKind, PublishError, classify_transport_error, parse_retry_after

FACEBOOK_HOST = "https://graph.facebook.com"
INSTAGRAM_HOST = "https://graph.instagram.com"
DEFAULT_VERSION = "v24.0"

# Parameters whose values never appear in a request summary (their names do).
SECRET_PARAMS = frozenset(
    {"access_token", "client_secret", "code", "code_verifier", "fb_exchange_token", "input_token", "appsecret_proof"}
)
# Parameters summarised by their length: people's words need not be copied into every attempt's record.
TEXT_PARAMS = frozenset({"message", "caption", "description", "alt_text", "alt_text_custom"})

# Throttling codes: app (4), user (17), Page (32), custom (613), application limit (341), business use cases.
RATE_LIMIT_CODES = frozenset({4, 17, 32, 341, 613, *range(80001, 80015)})
# Meta's "unknown error" / "service temporarily unavailable" (and Instagram's -1/-2 variants).
SERVER_ERROR_CODES = frozenset({1, 2, -1, -2})
RECONNECT_SUBCODES = {
    463: ("token_expired", "The {label} authorisation has expired: reconnect the channel."),
    467: ("token_invalid", "The {label} authorisation is no longer valid: reconnect the channel."),
    460: (
        "password_changed",
        "The {label} authorisation stopped working because the account's password changed: reconnect the channel.",
    ),
    458: (
        "app_removed",
        "Beffroi was removed from the apps this {label} account allows: reconnect the channel.",
    ),
    464: (
        "account_unconfirmed",
        "The {label} account must be confirmed (or unlocked) in {label} before Beffroi can use it: "
        "confirm it, then reconnect the channel.",
    ),
}
# Instagram's own subcodes (Content Publishing API), by kind and with a message people can act on.
INSTAGRAM_SUBCODES: dict[int, tuple[ErrorKind, str, str]] = {
    2207042: (
        ErrorKind.RETRYABLE,
        "publishing_limit",
        "Instagram's limit of posts per 24 hours is reached for this account: the post goes out later.",
    ),
    2207027: (
        ErrorKind.RETRYABLE,
        "media_not_ready",
        "Instagram has not finished processing the media yet; nothing was published: trying again later.",
    ),
    2207003: (
        ErrorKind.RETRYABLE,
        "media_download_slow",
        "Instagram took too long to download the media from its public address: trying again later.",
    ),
    2207032: (
        ErrorKind.RETRYABLE,
        "media_creation_failed",
        "Instagram could not prepare the media; nothing was published: trying again later.",
    ),
    2207006: (
        ErrorKind.RETRYABLE,
        "container_expired",
        "Instagram no longer has the prepared media; nothing was published: trying again later.",
    ),
    2207008: (
        ErrorKind.RETRYABLE,
        "container_expired",
        "Instagram no longer has the prepared media; nothing was published: trying again later.",
    ),
    2207052: (
        ErrorKind.PERMANENT,
        "media_fetch_failed",
        "Instagram could not download the media from its address: check that the instance's media address "
        "(BEFFROI_PUBLIC_MEDIA_URL) is public and reachable from the internet.",
    ),
    2207026: (
        ErrorKind.PERMANENT,
        "unsupported_video",
        "Instagram does not accept this video's format: use an MP4 or MOV file (H.264 video, AAC sound).",
    ),
    2207004: (
        ErrorKind.PERMANENT,
        "media_too_large",
        "The picture is too large for Instagram (at most 8 MB).",
    ),
    2207005: (
        ErrorKind.PERMANENT,
        "unsupported_media_type",
        "Instagram does not accept this type of file (pictures must be JPEG).",
    ),
    2207009: (
        ErrorKind.PERMANENT,
        "aspect_ratio",
        "Instagram does not accept the picture's width/height ratio (from 4:5 to 1.91:1): crop it.",
    ),
    2207010: (
        ErrorKind.PERMANENT,
        "caption_too_long",
        "The caption is too long for Instagram (at most 2,200 characters, 30 hashtags and 20 mentions).",
    ),
    2207050: (
        ErrorKind.PERMANENT,
        "account_restricted",
        "Instagram does not let this account publish at the moment (inactive or restricted): check the account "
        "in the Instagram app.",
    ),
}


def api_version() -> str:
    """The Graph API version every call uses: one setting, moved forward when Meta retires a version."""
    from django.conf import settings

    return str(getattr(settings, "BEFFROI_GRAPH_API_VERSION", DEFAULT_VERSION) or DEFAULT_VERSION)


def normalise_host(host: str) -> str:
    host = host.strip().rstrip("/")
    if host and "://" not in host:
        host = f"https://{host}"
    return host


def host_for(config: dict[str, Any], default: str) -> str:
    """The channel's API host: Meta's unless the channel's config says otherwise (tests, the simulator)."""
    return normalise_host(str(config.get("api_host") or default))


def parse_time(value: Any) -> datetime | None:
    """Graph times: "2021-07-04T19:50:58+0000" (or ISO 8601 with a colon, or a Unix timestamp)."""
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    text = str(value)
    for pattern in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z"):
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


# Errors -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GraphError:
    message: str
    type: str = ""
    code: int | None = None
    subcode: int | None = None
    fbtrace_id: str = ""
    user_message: str = ""
    is_transient: bool = False

    @classmethod
    def from_response(cls, response: httpx.Response) -> GraphError | None:
        try:
            body = response.json()
        except ValueError:
            return None
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return None
        return cls(
            message=str(error.get("message") or ""),
            type=str(error.get("type") or ""),
            code=_int(error.get("code")),
            subcode=_int(error.get("error_subcode")),
            fbtrace_id=str(error.get("fbtrace_id") or ""),
            user_message=str(error.get("error_user_msg") or ""),
            is_transient=bool(error.get("is_transient")),
        )

    @property
    def words(self) -> str:
        """Meta's own words, for messages: the one written for people when there is one."""
        return (self.user_message or self.message or "no detail given").strip()


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def usage_retry_after(response: httpx.Response) -> float | None:
    """Seconds until access is regained, from Meta's usage headers (`estimated_time_to_regain_access`, minutes)."""
    minutes: list[float] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            value = node.get("estimated_time_to_regain_access")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                minutes.append(float(value))
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    for header in ("X-Business-Use-Case-Usage", "X-App-Usage", "X-Page-Usage", "X-Ad-Account-Usage"):
        raw = response.headers.get(header)
        if not raw:
            continue
        try:
            walk(json.loads(raw))
        except ValueError:
            continue
    longest = max(minutes, default=0.0)
    return longest * 60.0 if longest > 0 else None


def excerpt(response: httpx.Response) -> str:
    return redact(response.text[:500])


def classify(response: httpx.Response, *, publishes: bool, label: str, request: str = "") -> PublishError:
    """The PublishError for a failed Graph answer. `publishes`: the call may have made something public."""
    status = response.status_code
    error = GraphError.from_response(response) or GraphError(message=response.reason_phrase or f"HTTP {status}")
    common: dict[str, Any] = {
        "request": request,
        "response_status": status,
        "response": excerpt(response),
        "extra": {"graph_code": error.code, "graph_subcode": error.subcode, "fbtrace_id": error.fbtrace_id},
    }
    code = error.code

    def fail(kind: ErrorKind, slug: str, message: str, **more: Any) -> PublishError:
        return PublishError(kind, message.format(label=label, words=error.words), code=slug, **common, **more)

    if code == 190 or code == 102:
        slug, message = RECONNECT_SUBCODES.get(
            error.subcode or 0,
            ("token_invalid", "{label} refused the channel's authorisation ({words}): reconnect the channel."),
        )
        return fail(ErrorKind.PERMANENT, slug, message, needs_reconnection=True)
    if error.subcode in INSTAGRAM_SUBCODES:
        kind, slug, message = INSTAGRAM_SUBCODES[error.subcode]
        retry_after = None
        if kind == ErrorKind.RETRYABLE:
            retry_after = usage_retry_after(response) or (3600.0 if slug == "publishing_limit" else 60.0)
        return fail(kind, slug, message, retry_after=retry_after)
    if status == 429 or code in RATE_LIMIT_CODES:
        retry_after = usage_retry_after(response) or parse_retry_after(response) or 60.0
        return fail(
            ErrorKind.RETRYABLE,
            "rate_limited",
            "{label} asked us to slow down (rate limit): the post goes out a little later.",
            retry_after=retry_after,
        )
    if code == 10 or (code is not None and 200 <= code <= 299):
        return fail(
            ErrorKind.PERMANENT,
            "permission_denied",
            "{label} refused: Beffroi lacks a permission on this account ({words}). Reconnect the channel and "
            "accept every permission asked.",
            needs_reconnection=code != 10,
        )
    if code == 368:
        return fail(
            ErrorKind.PERMANENT,
            "blocked_by_policy",
            "{label} blocked this post as going against its rules ({words}).",
        )
    if code == 506:
        return fail(
            ErrorKind.PERMANENT,
            "duplicate_post",
            "{label} refused a duplicate: the same text was just published on this channel.",
        )
    if status >= 500 or code in SERVER_ERROR_CODES or error.is_transient:
        if publishes:
            return fail(
                ErrorKind.AMBIGUOUS,
                "server_error",
                "{label} answered with an error; the post may or may not be published: checking the channel.",
            )
        return fail(
            ErrorKind.RETRYABLE,
            "server_error",
            "{label} answered with a temporary error; nothing was published: trying again later.",
            retry_after=parse_retry_after(response),
        )
    if code == 100:
        return fail(ErrorKind.PERMANENT, "invalid_parameter", "{label} refused the post: {words}")
    return fail(
        ErrorKind.PERMANENT,
        f"graph_{code}" if code is not None else str(status),
        "{label} refused the request: {words}",
    )


def transport_failure(error: httpx.TransportError, *, publishes: bool, label: str, request: str) -> PublishError:
    kind = classify_transport_error(error)
    if kind == ErrorKind.AMBIGUOUS and not publishes:
        kind = ErrorKind.RETRYABLE  # nothing anyone can see happened: safe to repeat
    if kind == ErrorKind.RETRYABLE:
        message = f"{label} could not be reached or did not answer; nothing was published: trying again later."
    else:
        message = f"{label} did not answer in time; the post may or may not be published: checking the channel."
    return PublishError(kind, message, code=type(error).__name__, request=request)


# Requests -----------------------------------------------------------------------------------------------------


def summarise(
    method: str,
    url: str,
    params: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    files: dict[str, Any] | None = None,
) -> str:
    """One line saying what was asked, for the attempt's record: no token, no secret, no person's text."""
    parts: list[str] = []
    for key, value in {**(params or {}), **(data or {})}.items():
        if key in SECRET_PARAMS:
            continue
        if key in TEXT_PARAMS:
            parts.append(f"{key}: {len(str(value))} characters")
        else:
            shown = str(value)
            parts.append(f"{key}={shown if len(shown) <= 120 else shown[:117] + '…'}")
    for key, value in (files or {}).items():
        name = value[0] if isinstance(value, tuple) else key
        parts.append(f"{key}: file {name}")
    line = f"{method} {url}" + (f" ({', '.join(parts)})" if parts else "")
    return redact(line)


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {"data": body}


class _Graph:
    def __init__(self, *, host: str, token: str = "", label: str, version: str | None = None) -> None:
        self.host = normalise_host(host)
        self.token = token
        self.label = label
        self.version = version or api_version()
        self.summaries: list[str] = []  # every call made, in order, for the attempt's record

    def url(self, path: str, host: str | None = None, *, versioned: bool = True) -> str:
        base = normalise_host(host) if host else self.host
        path = path.lstrip("/")
        return f"{base}/{self.version}/{path}" if versioned else f"{base}/{path}"

    @property
    def trail(self) -> str:
        """Every call so far, repeated ones (status polls) counted rather than copied."""
        steps: list[list[Any]] = []
        for summary in self.summaries:
            if steps and steps[-1][0] == summary:
                steps[-1][1] += 1
            else:
                steps.append([summary, 1])
        return " → ".join(summary if count == 1 else f"{summary} ×{count}" for summary, count in steps)

    def _prepare(self, method, path, params, data, files, host, versioned, authenticate):
        url = path if path.startswith(("http://", "https://")) else self.url(path, host, versioned=versioned)
        headers = {"Authorization": f"Bearer {self.token}"} if authenticate and self.token else {}
        self.summaries.append(summarise(method, url, params, data, files))
        return url, headers

    def _handle(self, response: httpx.Response, publishes: bool) -> dict[str, Any]:
        body = _body(response)
        if response.is_success and "error" not in body:
            return body
        raise classify(response, publishes=publishes, label=self.label, request=self.trail)


class AsyncGraph(_Graph):
    """Graph calls for publishing (async, on the engine's shared client)."""

    def __init__(self, http: httpx.AsyncClient, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.http = http

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        files: dict[str, Any] | None = None,
        publishes: bool = False,
        host: str | None = None,
        versioned: bool = True,
    ) -> dict[str, Any]:
        url, headers = self._prepare(method, path, params, data, files, host, versioned, True)
        try:
            response = await self.http.request(method, url, params=params, data=data, files=files, headers=headers)
        except httpx.TransportError as error:
            raise transport_failure(error, publishes=publishes, label=self.label, request=self.trail) from error
        return self._handle(response, publishes)


class SyncGraph(_Graph):
    """Graph calls for connecting accounts (synchronous: they run in web requests)."""

    def __init__(self, http: httpx.Client, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.http = http

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        host: str | None = None,
        versioned: bool = True,
        authenticate: bool = True,
    ) -> dict[str, Any]:
        url, headers = self._prepare(method, path, params, data, None, host, versioned, authenticate)
        try:
            response = self.http.request(method, url, params=params, data=data, headers=headers)
        except httpx.TransportError as error:
            raise transport_failure(error, publishes=False, label=self.label, request=self.trail) from error
        return self._handle(response, False)


def media_file(path: str, mime_type: str) -> tuple[str, Any, str]:
    """A multipart file part for httpx (the caller closes the file)."""
    return os.path.basename(path), open(path, "rb"), mime_type  # noqa: SIM115 — closed by the caller
