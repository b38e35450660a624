"""Publishing to a Mastodon instance: POST /api/v1/statuses with an Idempotency-Key, read-back for
reconciliation with GET /api/v1/accounts/:id/statuses."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

import httpx

from beffroi.core.logging import redact
from beffroi.core.ratelimit import Rate
from beffroi.networks.base import (
    ErrorKind,
    Published,
    PublishError,
    PublishJob,
    RemotePost,
    classify_transport_error,
    parse_retry_after,
)
from beffroi.networks.capabilities import Capabilities
from beffroi.networks.mastodon.capabilities import CAPABILITIES


def _excerpt(response: httpx.Response) -> str:
    return redact(response.text[:500])


def _error_message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error") or response.reason_phrase)
    except ValueError:
        return response.reason_phrase or f"HTTP {response.status_code}"


class MastodonConnector:
    network: ClassVar[str] = "mastodon"
    capabilities: ClassVar[Capabilities] = CAPABILITIES
    max_concurrency: ClassVar[int] = 1000
    # Mastodon keeps idempotency keys about an hour: past that, re-sending with the same key is no longer safe.
    idempotency_window: ClassVar[timedelta] = timedelta(hours=1)

    def __init__(self, *, use_idempotency_key: bool = True) -> None:
        # Off only in tests that play a network without idempotency keys.
        self.supports_idempotency_key = use_idempotency_key

    def network_budget(self, job: PublishJob) -> tuple[str, Rate] | None:
        # Mastodon limits each client address to 7,500 API calls per 5 minutes per instance (default config).
        return f"mastodon:{self._base(job)}", Rate(7500, 300.0)

    def _base(self, job: PublishJob) -> str:
        return str(job.config.get("instance_url", "")).rstrip("/")

    def _headers(self, job: PublishJob) -> dict[str, str]:
        return {"Authorization": f"Bearer {job.credentials.get('access_token', '')}"}

    async def publish(self, http: httpx.AsyncClient, job: PublishJob) -> Published:
        url = f"{self._base(job)}/api/v1/statuses"
        key = f" Idempotency-Key: {job.idempotency_key}" if self.supports_idempotency_key else ""
        request_summary = f"POST {url}{key} ({len(job.text)} characters)"
        headers = self._headers(job)
        if self.supports_idempotency_key:
            headers["Idempotency-Key"] = job.idempotency_key
        try:
            response = await http.post(url, data={"status": job.text, "visibility": "public"}, headers=headers)
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
        if status == 429:
            raise PublishError(
                ErrorKind.RETRYABLE,
                "The instance asked us to slow down (rate limit).",
                code="rate_limited",
                retry_after=parse_retry_after(response) or 60.0,
                **common,
            )
        if status == 401:
            raise PublishError(
                ErrorKind.PERMANENT,
                f"The instance refused the authorisation ({_error_message(response)}): reconnect the channel.",
                code="unauthorised",
                needs_reconnection=True,
                **common,
            )
        if status in (403, 404, 410, 422) or 400 <= status < 500:
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

    async def recent_posts(self, http: httpx.AsyncClient, job: PublishJob) -> list[RemotePost]:
        base = self._base(job)
        account_id = job.config.get("account_id")
        if not account_id:
            response = await http.get(f"{base}/api/v1/accounts/verify_credentials", headers=self._headers(job))
            response.raise_for_status()
            account_id = response.json()["id"]
        response = await http.get(
            f"{base}/api/v1/accounts/{account_id}/statuses",
            params={"limit": 40, "exclude_replies": "false"},
            headers=self._headers(job),
        )
        response.raise_for_status()
        return [
            RemotePost(
                remote_id=str(item["id"]),
                url=item.get("url") or item.get("uri") or "",
                text=item.get("content", ""),
                created_at=datetime.fromisoformat(item["created_at"].replace("Z", "+00:00"))
                if item.get("created_at")
                else None,
            )
            for item in response.json()
        ]
