"""The contract every network connector implements, and how publishing outcomes are classified.

The publishing engine only knows this module: a connector turns a `PublishJob` into a `Published` result or
raises `PublishError` saying which of three kinds of failure happened — the engine's safety depends on it:

- RETRYABLE: the network certainly did not act (connection refused, DNS, 429, documented side-effect-free
  5xx). Sent again after a back-off.
- PERMANENT: the network refused (validation, permission, revoked token). Failed with the message; the channel
  is marked "needs reconnection" when the authorisation is the cause.
- AMBIGUOUS: the request may have been acted upon (timeout after sending, connection lost mid-answer). The
  publication becomes "unknown" and is reconciled by reading the channel's recent posts before anything is
  sent again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Protocol

import httpx

from beffroi.core.ratelimit import Rate
from beffroi.networks.capabilities import Capabilities


class ErrorKind(StrEnum):
    RETRYABLE = "retryable"
    PERMANENT = "permanent"
    AMBIGUOUS = "ambiguous"


@dataclass
class MediaItem:
    """One picture or video of a post, as a connector needs it: a local file to upload, or a public URL for
    networks that fetch media themselves (Instagram)."""

    kind: str  # capabilities.MediaKind
    mime_type: str
    size: int
    path: str = ""  # readable file on this host
    url: str = ""  # public HTTPS address of the same file ("" when the instance's media are not public)
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    alt_text: str = ""


@dataclass
class ChannelAccess:
    """How to speak to one channel: enough for publish, read back, delete, refresh."""

    channel_id: int
    network: str
    config: dict[str, Any]  # public settings: instance URL, account/page id, handle, API host…
    credentials: dict[str, Any]  # secrets, decrypted only for the call; never logged


@dataclass
class PublishJob(ChannelAccess):
    """Everything a connector needs, read from the database before the call (no ORM in async code)."""

    publication_id: int
    fence: int
    attempt: int
    text: str
    idempotency_key: str
    due_at: datetime | None
    claimed_at: datetime
    media: list[MediaItem] = field(default_factory=list)
    # Per-network choices of this post: content_warning, visibility, poll, thread (later parts), reply_control,
    # link, first_comment, instagram_kind (feed/reel/story), native_schedule…; a connector ignores what it
    # does not know.
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ConnectedAccount:
    """An account (profile, Page, instance account) a person authorised, ready to become a channel."""

    remote_id: str
    display_name: str
    config: dict[str, Any]
    credentials: dict[str, Any]
    handle: str = ""
    token_expires_at: datetime | None = None


@dataclass
class Published:
    remote_id: str
    url: str = ""
    request: str = ""
    response_status: int | None = None
    response: str = ""


@dataclass
class RemotePost:
    remote_id: str
    url: str
    text: str
    created_at: datetime | None


@dataclass
class PublishError(Exception):
    kind: ErrorKind
    message: str  # for people: clear, in English; translated when shown
    code: str = ""
    retry_after: float | None = None  # seconds the network asked us to wait
    needs_reconnection: bool = False
    request: str = ""
    response_status: int | None = None
    response: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


class ConnectError(ValueError):
    """Connecting a channel failed in a way the person can act on; `message` is English, translated when shown
    (each network's connect.py keeps its messages by `code`)."""

    def __init__(self, code: str, message: str, *, template: str = "", params: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.template = template or message
        self.params = params or {}

    @classmethod
    def of(cls, code: str, template: str, **params: Any) -> ConnectError:
        """From an English template marked with gettext_noop: the message in English (logs, tests) and
        `localized()` in the viewer's language."""
        return cls(code, template % params if params else template, template=template, params=params)

    def localized(self) -> str:
        from django.utils.translation import gettext

        translated = gettext(self.template)
        return translated % self.params if self.params else translated


class Connector(Protocol):
    network: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    # A network-side idempotency key makes re-sending after an ambiguous outcome safe (Mastodon)…
    supports_idempotency_key: bool
    # …for as long as the network remembers the key.
    idempotency_window: ClassVar[timedelta]
    # Simultaneous publishes per process for this network, whatever the channel.
    max_concurrency: ClassVar[int]

    def network_budget(self, job: PublishJob) -> tuple[str, Rate] | None:
        """The shared budget this publish also draws on (an app quota, an instance's per-IP limit), if any."""
        ...

    async def publish(self, http: httpx.AsyncClient, job: PublishJob) -> Published: ...

    async def recent_posts(self, http: httpx.AsyncClient, job: ChannelAccess) -> list[RemotePost]:
        """The channel's latest posts (newest first), for reconciliation: text as the network returns it."""
        ...

    async def delete(self, http: httpx.AsyncClient, access: ChannelAccess, remote_id: str) -> None:
        """Deletes a published post; raises PublishError (PERMANENT where the network cannot)."""
        ...

    # Optional: `refreshed_credentials(access) -> dict | None` — credentials the connector renewed during a call
    # (a refreshed session); the engine stores them, encrypted, with the outcome.


class Connect(Protocol):
    """How a person connects channels of a network (each network folder's `connect.py`). Synchronous: it runs
    in web requests; `http` is injected so tests replay recorded answers."""

    def start(self, *, redirect_uri: str, state: str, form: dict[str, str]) -> tuple[str, dict[str, Any]]:
        """The address to send the person to, and what to keep in their session until they come back."""
        ...

    def finish(
        self, *, redirect_uri: str, params: dict[str, str], kept: dict[str, Any], http: httpx.Client
    ) -> list[ConnectedAccount]:
        """Exchanges the callback's code (or the form's app password) for accounts ready to become channels."""
        ...

    def refresh(self, access: ChannelAccess, http: httpx.Client) -> ConnectedAccount | None:
        """New credentials ahead of expiry where the network allows it (None: nothing to refresh)."""
        ...


def classify_transport_error(error: httpx.TransportError) -> ErrorKind:
    """Which transport failures happened before the request reached the network."""
    if isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)):
        return ErrorKind.RETRYABLE
    # ReadTimeout, WriteTimeout, RemoteProtocolError, ReadError…: the request may have been received.
    return ErrorKind.AMBIGUOUS


def parse_retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait, from Retry-After (seconds or HTTP date) or, failing that, a rate-limit reset header."""
    value = response.headers.get("Retry-After")
    if value is None:
        return _parse_reset(response.headers.get("X-RateLimit-Reset") or response.headers.get("RateLimit-Reset"))
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        from django.utils import timezone

        return max(0.0, (moment - timezone.now()).total_seconds())


def _parse_reset(value: str | None) -> float | None:
    """X-RateLimit-Reset as an ISO time (Mastodon), epoch seconds (X) or seconds from now (IETF draft)."""
    if not value:
        return None
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    try:
        number = float(value)
    except ValueError:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return max(0.0, (moment - now).total_seconds())
    if number > 1_000_000_000:  # an epoch timestamp
        return max(0.0, number - now.timestamp())
    return max(0.0, number)
