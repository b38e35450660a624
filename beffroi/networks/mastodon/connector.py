"""Publishing to a Mastodon instance over httpx (async): media through POST /api/v2/media (waiting for a 202 to
finish processing), the status through POST /api/v1/statuses with an Idempotency-Key, later parts of a thread as
replies, read-back for reconciliation with GET /api/v1/accounts/:id/statuses, and deletion."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import httpx

from beffroi.core.logging import redact
from beffroi.core.ratelimit import Rate
from beffroi.networks.base import (
    ChannelAccess,
    ErrorKind,
    MediaItem,
    Published,
    PublishError,
    PublishJob,
    RemotePost,
    classify_transport_error,
    parse_retry_after,
)
from beffroi.networks.capabilities import Capabilities
from beffroi.networks.mastodon.capabilities import CAPABILITIES

VISIBILITIES = ("public", "unlisted", "private", "direct")
# Waiting for a 202 media to be processed: first pause, then doubled up to the cap, within the whole bound.
MEDIA_POLL_FIRST_S = 0.5
MEDIA_POLL_MAX_S = 5.0


def _excerpt(response: httpx.Response) -> str:
    return redact(response.text[:500])


def _error_message(response: httpx.Response) -> str:
    """The instance's own words ({"error": …}), else the HTTP reason (a proxy's HTML page says nothing useful)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])
    return response.reason_phrase or f"HTTP {response.status_code}"


def _raise_for_throttle_or_authorisation(
    response: httpx.Response, common: dict[str, Any], *, limit: str = "rate limit"
) -> None:
    """429 and 401 mean the same for every call: slow down (nothing was done), or reconnect the channel."""
    if response.status_code == 429:
        raise PublishError(
            ErrorKind.RETRYABLE,
            f"The instance asked us to slow down ({limit}).",
            code="rate_limited",
            retry_after=parse_retry_after(response) or 60.0,
            **common,
        )
    if response.status_code == 401:
        raise PublishError(
            ErrorKind.PERMANENT,
            f"The instance refused the authorisation ({_error_message(response)}): reconnect the channel.",
            code="unauthorised",
            needs_reconnection=True,
            **common,
        )


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _true(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true", "yes", "on")


class MastodonConnector:
    network: ClassVar[str] = "mastodon"
    capabilities: ClassVar[Capabilities] = CAPABILITIES
    max_concurrency: ClassVar[int] = 1000
    # Mastodon keeps idempotency keys about an hour: past that, re-sending with the same key is no longer safe.
    idempotency_window: ClassVar[timedelta] = timedelta(hours=1)

    def __init__(
        self,
        *,
        use_idempotency_key: bool = True,
        media_wait_s: float = 60.0,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        # Off only in tests that play a network without idempotency keys.
        self.supports_idempotency_key = use_idempotency_key
        # How long a publish waits for uploaded videos to be processed before giving up (nothing posted yet).
        self.media_wait_s = media_wait_s
        self._sleep = sleep

    def network_budget(self, job: PublishJob) -> tuple[str, Rate] | None:
        # Mastodon limits each client address to 7,500 API calls per 5 minutes per instance (default config).
        return f"mastodon:{self._base(job)}", Rate(7500, 300.0)

    def _base(self, access: ChannelAccess) -> str:
        return str(access.config.get("instance_url", "")).rstrip("/")

    def _headers(self, access: ChannelAccess) -> dict[str, str]:
        return {"Authorization": f"Bearer {access.credentials.get('access_token', '')}"}

    # Publishing ------------------------------------------------------------------------------------------------

    async def publish(self, http: httpx.AsyncClient, job: PublishJob) -> Published:
        options = job.options or {}
        visibility = str(options.get("visibility") or "public")
        if visibility not in VISIBILITIES:
            raise PublishError(
                ErrorKind.PERMANENT, f"Unknown Mastodon visibility: {visibility}.", code="invalid_visibility"
            )
        # Media first: a failure here leaves nothing published, so it is always safe to try again.
        media_ids = [await self._upload(http, job, item) for item in job.media]
        fields = self._status_fields(job.text, options, visibility, media_ids=media_ids, with_poll=True)
        head = await self._post_status(http, job, fields, job.idempotency_key)
        parts = [str(text) for text in options.get("thread") or [] if str(text).strip()]
        published_ids = [head.remote_id]
        previous = head.remote_id
        for number, text in enumerate(parts, start=2):
            fields = self._status_fields(text, options, visibility, reply_to=previous)
            try:
                part = await self._post_status(http, job, fields, f"{job.idempotency_key}-{number}")
            except PublishError as error:
                raise self._thread_incomplete(error, head, published_ids, number, len(parts) + 1) from error
            published_ids.append(part.remote_id)
            previous = part.remote_id
        if parts:
            head.request += f" + {len(parts)} replies (thread)"
        return head

    def _status_fields(
        self,
        text: str,
        options: dict[str, Any],
        visibility: str,
        *,
        media_ids: list[str] | None = None,
        with_poll: bool = False,
        reply_to: str | None = None,
    ) -> dict[str, str | list[str]]:
        """Form fields as Rails reads them (media_ids[], poll[options][]); the same CW and language on every part
        of a thread, the poll and the media only on the first."""
        fields: dict[str, str | list[str]] = {"status": text, "visibility": visibility}
        warning = str(options.get("content_warning") or "").strip()
        if warning:
            fields["spoiler_text"] = warning
        if _true(options.get("sensitive")):
            fields["sensitive"] = "true"
        if options.get("language"):
            fields["language"] = str(options["language"])
        if media_ids:
            fields["media_ids[]"] = media_ids
        poll = options.get("poll")
        if with_poll and isinstance(poll, dict) and poll.get("options"):
            fields["poll[options][]"] = [str(option) for option in poll["options"]]
            fields["poll[expires_in]"] = str(int(poll.get("expires_in") or 86400))
            fields["poll[multiple]"] = "true" if _true(poll.get("multiple")) else "false"
            if _true(poll.get("hide_totals")):
                fields["poll[hide_totals]"] = "true"
        if reply_to:
            fields["in_reply_to_id"] = reply_to
        return fields

    async def _post_status(
        self, http: httpx.AsyncClient, job: PublishJob, fields: dict[str, str | list[str]], key: str
    ) -> Published:
        url = f"{self._base(job)}/api/v1/statuses"
        key_note = f" Idempotency-Key: {key}" if self.supports_idempotency_key else ""
        media_note = f", {len(fields['media_ids[]'])} media" if "media_ids[]" in fields else ""
        request_summary = f"POST {url}{key_note} ({len(str(fields['status']))} characters{media_note})"
        headers = self._headers(job)
        if self.supports_idempotency_key:
            headers["Idempotency-Key"] = key
        try:
            response = await http.post(url, data=fields, headers=headers)
        except httpx.TransportError as exc:
            kind = classify_transport_error(exc)
            message = (
                "The instance could not be reached; nothing was sent."
                if kind == ErrorKind.RETRYABLE
                else "The instance did not answer in time; the post may or may not be published."
            )
            raise PublishError(kind, message, code=type(exc).__name__, request=request_summary) from exc
        status = response.status_code
        if status == 200:
            body = response.json()
            return Published(
                remote_id=str(body["id"]),
                url=body.get("url") or body.get("uri") or "",
                request=request_summary,
                response_status=status,
                response=response.text[:300],  # a status: no secret in it, no need to scan it
            )
        common = {"request": request_summary, "response_status": status, "response": _excerpt(response)}
        _raise_for_throttle_or_authorisation(response, common)
        if status == 422 and "not finished processing" in _error_message(response):
            # Refused before anything was stored: a media is still being processed (its 202 wait was cut short).
            raise PublishError(
                ErrorKind.RETRYABLE,
                "The instance is still processing a media file; nothing was published yet.",
                code="media_processing",
                retry_after=30.0,
                **common,
            )
        if 400 <= status < 500:
            raise PublishError(
                ErrorKind.PERMANENT,
                f"The instance refused the post: {_error_message(response)}",
                code=str(status),
                **common,
            )
        # 5xx: an overloaded proxy or a failure inside the instance. The Idempotency-Key makes a re-send safe,
        # but the post may exist: treat as ambiguous so it is read back first.
        raise PublishError(
            ErrorKind.AMBIGUOUS,
            f"The instance answered with an error ({status}); the post may or may not be published.",
            code=str(status),
            **common,
        )

    def _thread_incomplete(
        self, error: PublishError, head: Published, published_ids: list[str], number: int, total: int
    ) -> PublishError:
        """A later part of a thread failed while the first post exists. With idempotency keys, doing the whole
        job again is safe (every part already sent answers with itself), so transient failures stay retryable;
        otherwise the failure is final and says which post exists, so nothing is sent twice."""
        extra = {"remote_id": head.remote_id, "url": head.url, "published_ids": list(published_ids)}
        if self.supports_idempotency_key and error.kind != ErrorKind.PERMANENT:
            kind, message = (
                ErrorKind.RETRYABLE,
                f"Part {number} of {total} of the thread could not be sent yet ({error.message}); the thread "
                "is resumed where it stopped.",
            )
        else:
            kind, message = (
                ErrorKind.PERMANENT,
                f"The thread is incomplete: its first {len(published_ids)} of {total} posts are published "
                f"({head.url or head.remote_id}) but part {number} failed: {error.message}",
            )
        return PublishError(
            kind,
            message,
            code="thread_incomplete",
            retry_after=error.retry_after,
            needs_reconnection=error.needs_reconnection,
            request=error.request,
            response_status=error.response_status,
            response=error.response,
            extra=extra,
        )

    # Media -----------------------------------------------------------------------------------------------------

    async def _upload(self, http: httpx.AsyncClient, job: PublishJob, item: MediaItem) -> str:
        """Uploads one file and waits until the instance has processed it; its media id. Nothing is published
        yet, so every transient failure here is RETRYABLE (an orphan upload is cleaned up by the instance)."""
        url = f"{self._base(job)}/api/v2/media"
        name = Path(item.path).name or "upload"
        request_summary = f"POST {url} ({name}, {item.mime_type}, {item.size} bytes)"
        try:
            content = await asyncio.to_thread(Path(item.path).read_bytes)
        except OSError as exc:
            raise PublishError(
                ErrorKind.PERMANENT,
                f"The file {name} cannot be read on this server ({exc.strerror or exc}).",
                code="media_unreadable",
            ) from exc
        data = {"description": item.alt_text} if item.alt_text else {}
        try:
            response = await http.post(
                url, files={"file": (name, content, item.mime_type)}, data=data, headers=self._headers(job)
            )
        except httpx.TransportError as exc:
            raise PublishError(
                ErrorKind.RETRYABLE,
                f"The file {name} could not be sent to the instance; nothing was published.",
                code=type(exc).__name__,
                request=request_summary,
            ) from exc
        status = response.status_code
        common = {"request": request_summary, "response_status": status, "response": _excerpt(response)}
        if status in (200, 202):
            body = response.json()
            media_id = str(body["id"])
            if status == 200 and body.get("url"):
                return media_id
            return await self._wait_for_media(http, job, media_id, name, common)
        self._raise_for_media(response, name, common)
        raise AssertionError("unreachable")

    def _raise_for_media(self, response: httpx.Response, name: str, common: dict[str, Any]) -> None:
        status = response.status_code
        _raise_for_throttle_or_authorisation(response, common, limit="media upload rate limit")
        if status == 413:
            raise PublishError(
                ErrorKind.PERMANENT,
                f"The file {name} is too big for this instance.",
                code="media_too_big",
                **common,
            )
        if status == 422:
            raise PublishError(
                ErrorKind.PERMANENT,
                f"The instance refused the file {name}: {_error_message(response)}",
                code="media_refused",
                **common,
            )
        if 400 <= status < 500:
            raise PublishError(
                ErrorKind.PERMANENT,
                f"The instance refused the file {name}: {_error_message(response)}",
                code=str(status),
                **common,
            )
        raise PublishError(
            ErrorKind.RETRYABLE,
            f"The instance failed while receiving the file {name} ({status}); nothing was published.",
            code=str(status),
            **common,
        )

    async def _wait_for_media(
        self, http: httpx.AsyncClient, job: PublishJob, media_id: str, name: str, common: dict[str, Any]
    ) -> str:
        """Polls GET /api/v1/media/:id (206 or no url: still processing) with back-off, within media_wait_s."""
        url = f"{self._base(job)}/api/v1/media/{media_id}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.media_wait_s
        pause = MEDIA_POLL_FIRST_S
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise PublishError(
                    ErrorKind.RETRYABLE,
                    f"The instance is still processing the file {name}; nothing was published yet.",
                    code="media_processing",
                    retry_after=30.0,
                    **common,
                )
            await self._sleep(min(pause, remaining))
            pause = min(pause * 2, MEDIA_POLL_MAX_S)
            try:
                response = await http.get(url, headers=self._headers(job))
            except httpx.TransportError:
                continue  # a read: asking again is harmless
            if response.status_code == 200 and response.json().get("url"):
                return media_id
            if response.status_code in (200, 206) or response.status_code >= 500:
                continue
            if response.status_code == 422:  # processing failed on the instance
                raise PublishError(
                    ErrorKind.PERMANENT,
                    f"The instance could not process the file {name}: {_error_message(response)}",
                    code="media_refused",
                    request=f"GET {url}",
                    response_status=422,
                    response=_excerpt(response),
                )
            self._raise_for_media(response, name, {**common, "response_status": response.status_code})

    # Reading back and deleting ---------------------------------------------------------------------------------

    async def recent_posts(self, http: httpx.AsyncClient, job: ChannelAccess) -> list[RemotePost]:
        base = self._base(job)
        account_id = job.config.get("account_id")
        if not account_id:
            response = await http.get(f"{base}/api/v1/accounts/verify_credentials", headers=self._headers(job))
            response.raise_for_status()
            account_id = response.json()["id"]
        response = await http.get(
            f"{base}/api/v1/accounts/{account_id}/statuses",
            params={"limit": 40, "exclude_replies": "false", "exclude_reblogs": "true"},
            headers=self._headers(job),
        )
        response.raise_for_status()
        return [
            RemotePost(
                remote_id=str(item["id"]),
                url=item.get("url") or item.get("uri") or "",
                text=item.get("content", ""),
                created_at=_parse_time(item.get("created_at")),
            )
            for item in response.json()
            if not item.get("reblog")
        ]

    async def delete(self, http: httpx.AsyncClient, access: ChannelAccess, remote_id: str) -> None:
        """DELETE /api/v1/statuses/:id. Deleting twice is harmless (the second answers 404, "already gone"), so
        every transient failure is RETRYABLE."""
        url = f"{self._base(access)}/api/v1/statuses/{remote_id}"
        request_summary = f"DELETE {url}"
        try:
            response = await http.delete(url, headers=self._headers(access))
        except httpx.TransportError as exc:
            raise PublishError(
                ErrorKind.RETRYABLE,
                "The instance could not be reached to delete the post.",
                code=type(exc).__name__,
                request=request_summary,
            ) from exc
        status = response.status_code
        if status in (200, 404, 410):
            return
        common = {"request": request_summary, "response_status": status, "response": _excerpt(response)}
        _raise_for_throttle_or_authorisation(response, common)
        if 400 <= status < 500:
            raise PublishError(
                ErrorKind.PERMANENT,
                f"The instance refused to delete the post: {_error_message(response)}",
                code=str(status),
                **common,
            )
        raise PublishError(
            ErrorKind.RETRYABLE,
            f"The instance answered with an error ({status}) while deleting the post.",
            code=str(status),
            **common,
        )
