"""Publishing to an Instagram professional account: the Content Publishing API's container flow.

    content_publishing_limit (quota left?) → POST /{ig-user-id}/media (a container per picture or video; a
    carousel container over its children) → GET /{container-id}?fields=status_code until FINISHED →
    POST /{ig-user-id}/media_publish?creation_id=… (the only call that makes anything public)

Instagram downloads every picture and video itself from a public HTTPS address, so a post whose media have no such
address is refused before any call. Works on both hosts: graph.instagram.com (Instagram Login) and
graph.facebook.com (an account linked to a Facebook Page), from the channel's `api_host`.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, ClassVar

import httpx

from beffroi.core.ratelimit import Rate
from beffroi.networks.base import ChannelAccess, ErrorKind, MediaItem, Published, PublishError, PublishJob, RemotePost
from beffroi.networks.capabilities import Capabilities
from beffroi.networks.graph.client import INSTAGRAM_HOST, INSTAGRAM_SUBCODES, AsyncGraph, host_for, parse_time
from beffroi.networks.instagram.capabilities import CAPABILITIES

LABEL = "Instagram"
KINDS = ("feed", "reel", "story")
MAX_CAROUSEL = 10
MEDIA_FIELDS = "id,caption,timestamp,permalink"
# Waits between container status checks (seconds): pictures are usually ready at once, videos take a while.
IMAGE_POLL_DELAYS = (1.0, 1.0, 2.0, 3.0, 5.0, 8.0, 10.0, 10.0, 10.0, 10.0)  # ≈ 1 minute
VIDEO_POLL_DELAYS = (3.0, 5.0, 10.0, 15.0, 15.0, 20.0, *(30.0,) * 8)  # ≈ 5 minutes
# Meta's default publishing quota (read at run time before each post; this only spreads a burst locally).
DAILY_POSTS = 100

NOT_PUBLIC = (
    "Instagram downloads pictures and videos from a public HTTPS address, and this post's media have none: set "
    "BEFFROI_PUBLIC_MEDIA_URL to the https:// address where this Beffroi's media are reachable from the internet."
)
CANNOT_DELETE = (
    "Instagram does not let other apps delete a post: delete it in the Instagram app (… menu on the post, Delete)."
)


class InstagramConnector:
    network: ClassVar[str] = "instagram"
    capabilities: ClassVar[Capabilities] = CAPABILITIES
    # Each publish holds its slot while Instagram processes the media (up to minutes for a reel).
    max_concurrency: ClassVar[int] = 200
    idempotency_window: ClassVar[timedelta] = timedelta(0)
    supports_idempotency_key = False  # Graph has none

    def can_read_back(self, job: PublishJob) -> bool:
        """Stories have no caption and are not listed in /media: an ambiguous story cannot be checked, so it is
        never re-sent blindly (a person looks instead)."""
        return job.options.get("instagram_kind") != "story"

    def __init__(
        self,
        *,
        image_poll_delays: Sequence[float] = IMAGE_POLL_DELAYS,
        video_poll_delays: Sequence[float] = VIDEO_POLL_DELAYS,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.image_poll_delays = tuple(image_poll_delays)
        self.video_poll_delays = tuple(video_poll_delays)
        self._sleep = sleep

    def network_budget(self, job: PublishJob) -> tuple[str, Rate] | None:
        return f"instagram:{job.config.get('ig_user_id', job.channel_id)}", Rate(DAILY_POSTS, 86400.0)

    def _graph(self, http: httpx.AsyncClient, access: ChannelAccess) -> AsyncGraph:
        return AsyncGraph(
            http,
            host=host_for(access.config, INSTAGRAM_HOST),
            token=str(access.credentials.get("access_token", "")),
            label=LABEL,
        )

    @staticmethod
    def _user_id(access: ChannelAccess) -> str:
        user_id = str(access.config.get("ig_user_id") or "")
        if not user_id:
            raise PublishError(
                ErrorKind.PERMANENT,
                "The channel does not say which Instagram account it is: reconnect it.",
                code="no_ig_user_id",
            )
        return user_id

    # Publishing ----------------------------------------------------------------------------------------------

    async def publish(self, http: httpx.AsyncClient, job: PublishJob) -> Published:
        user_id = self._user_id(job)
        kind = self._check(job)  # refused before any call
        graph = self._graph(http, job)
        await self._check_quota(graph, user_id)
        media = job.media
        if kind == "story":
            container = await self._container(graph, user_id, self._media_params(media[0], story=True))
        elif kind == "reel":
            params = {"media_type": "REELS", "video_url": media[0].url, **self._caption(job)}
            container = await self._container(graph, user_id, params)
        elif len(media) == 1:
            container = await self._container(graph, user_id, {**self._media_params(media[0]), **self._caption(job)})
        else:
            children = []
            for item in media:
                child = {"is_carousel_item": "true", **self._media_params(item, carousel=True)}
                children.append(await self._container(graph, user_id, child))
            params = {"media_type": "CAROUSEL", "children": ",".join(children), **self._caption(job)}
            container = await self._container(graph, user_id, params, video=False)
        body = await graph.call("POST", f"{user_id}/media_publish", data={"creation_id": container}, publishes=True)
        media_id = str(body["id"])
        report: dict[str, Any] = {"post": body, "kind": kind, "container": container}
        url = await self._permalink(graph, media_id)
        first_comment = str(job.options.get("first_comment") or "").strip()
        if first_comment and kind != "story":  # stories take no comments
            report["first_comment"] = await self._first_comment(graph, media_id, first_comment)
        return Published(
            remote_id=media_id,
            url=url,
            request=graph.trail,
            response_status=200,
            response=json.dumps(report, ensure_ascii=False)[:2000],
        )

    def _check(self, job: PublishJob) -> str:
        """The kind of post (feed, reel or story), or PublishError when Instagram cannot take it."""
        media = job.media

        def refuse(code: str, message: str) -> PublishError:
            return PublishError(ErrorKind.PERMANENT, message, code=code)

        if not media:
            raise refuse("media_required", "Instagram needs a picture or a video.")
        if any(not item.url.startswith("https://") for item in media):
            raise refuse("media_not_public", NOT_PUBLIC)
        kind = str(job.options.get("instagram_kind") or "feed")
        if kind not in KINDS:
            raise refuse("unknown_kind", f"Unknown kind of Instagram post: {kind} (feed, reel or story).")
        if kind == "feed" and len(media) == 1 and media[0].kind == "video":
            kind = "reel"  # every single video is published as a reel
        if kind == "story" and len(media) != 1:
            raise refuse("story_one_media", "An Instagram story holds one picture or one video.")
        if kind == "reel" and (len(media) != 1 or media[0].kind != "video"):
            raise refuse("reel_one_video", "An Instagram reel is one video.")
        if len(media) > MAX_CAROUSEL:
            raise refuse("too_many_media", f"An Instagram carousel holds at most {MAX_CAROUSEL} pictures or videos.")
        return kind

    @staticmethod
    def _caption(job: PublishJob) -> dict[str, str]:
        return {"caption": job.text} if job.text else {}

    @staticmethod
    def _media_params(item: MediaItem, *, story: bool = False, carousel: bool = False) -> dict[str, str]:
        if item.kind == "video":
            media_type = "STORIES" if story else "VIDEO" if carousel else "REELS"
            return {"media_type": media_type, "video_url": item.url}
        params = {"image_url": item.url}
        if story:
            params["media_type"] = "STORIES"
        elif item.alt_text:
            params["alt_text"] = item.alt_text  # feed pictures only
        return params

    async def _check_quota(self, graph: AsyncGraph, user_id: str) -> None:
        body = await graph.call("GET", f"{user_id}/content_publishing_limit", params={"fields": "quota_usage,config"})
        entries = body.get("data") or []
        if not entries:
            return
        usage = entries[0].get("quota_usage")
        total = (entries[0].get("config") or {}).get("quota_total")
        if isinstance(usage, int) and isinstance(total, int) and usage >= total:
            raise PublishError(
                ErrorKind.RETRYABLE,
                f"Instagram's limit of {total} posts per 24 hours is reached for this account: the post goes out "
                "later.",
                code="publishing_limit",
                retry_after=3600.0,
                request=graph.trail,
                response_status=200,
                response=json.dumps(body)[:500],
            )

    async def _container(
        self, graph: AsyncGraph, user_id: str, params: dict[str, str], *, video: bool | None = None
    ) -> str:
        """Creates a container and waits until Instagram has processed it. Nothing is public yet: every failure
        here is safe to retry (a new container is made; an abandoned one expires after 24 hours)."""
        body = await graph.call("POST", f"{user_id}/media", data=params, publishes=False)
        container = str(body["id"])
        is_video = "video_url" in params if video is None else video
        await self._wait(graph, container, self.video_poll_delays if is_video else self.image_poll_delays)
        return container

    async def _wait(self, graph: AsyncGraph, container: str, delays: Sequence[float]) -> None:
        for delay in (0.0, *delays):
            if delay:
                await self._sleep(delay)
            body = await graph.call("GET", container, params={"fields": "status_code,status"})
            status_code = str(body.get("status_code") or "")
            if status_code in ("FINISHED", "PUBLISHED"):
                return
            if status_code == "ERROR":
                raise self._container_error(graph, str(body.get("status") or ""), body)
            if status_code == "EXPIRED":
                raise PublishError(
                    ErrorKind.RETRYABLE,
                    "Instagram let the prepared media expire; nothing was published: trying again later.",
                    code="container_expired",
                    request=graph.trail,
                )
        raise PublishError(
            ErrorKind.RETRYABLE,
            "Instagram is still processing the media; nothing was published: trying again later.",
            code="media_processing_slow",
            retry_after=300.0,
            request=graph.trail,
        )

    @staticmethod
    def _container_error(graph: AsyncGraph, status: str, body: dict[str, Any]) -> PublishError:
        found = re.search(r"\b(2207\d{3})\b", status)
        known = INSTAGRAM_SUBCODES.get(int(found.group(1))) if found else None
        if known is not None and known[0] == ErrorKind.PERMANENT:
            code, message = known[1], known[2]
        else:
            code, message = "media_error", "Instagram could not process the media"
            message += f" ({status})." if status else "."
        return PublishError(
            ErrorKind.PERMANENT,
            message,
            code=code,
            request=graph.trail,
            response_status=200,
            response=json.dumps(body)[:500],
        )

    async def _permalink(self, graph: AsyncGraph, media_id: str) -> str:
        try:
            body = await graph.call("GET", media_id, params={"fields": "permalink"})
        except PublishError:
            return ""  # published all the same: the address is only a convenience
        return str(body.get("permalink") or "")

    async def _first_comment(self, graph: AsyncGraph, media_id: str, text: str) -> dict[str, Any]:
        """The first comment never fails the post: what happened is reported with it."""
        try:
            body = await graph.call("POST", f"{media_id}/comments", data={"message": text}, publishes=True)
        except PublishError as error:
            return {"ok": False, "kind": str(error.kind), "code": error.code, "message": error.message}
        return {"ok": True, "id": str(body.get("id", ""))}

    # Reading back, deleting --------------------------------------------------------------------------------

    async def recent_posts(self, http: httpx.AsyncClient, job: ChannelAccess) -> list[RemotePost]:
        user_id = self._user_id(job)
        graph = self._graph(http, job)
        body = await graph.call("GET", f"{user_id}/media", params={"fields": MEDIA_FIELDS, "limit": "25"})
        return [
            RemotePost(
                remote_id=str(item.get("id", "")),
                url=str(item.get("permalink") or ""),
                text=str(item.get("caption") or ""),
                created_at=parse_time(item.get("timestamp")),
            )
            for item in body.get("data", [])
        ]

    async def delete(self, http: httpx.AsyncClient, access: ChannelAccess, remote_id: str) -> None:
        raise PublishError(ErrorKind.PERMANENT, CANNOT_DELETE, code="delete_not_supported")
