"""Publishing to a Facebook Page through the Graph API: `/feed` for text and links, `/photos` for one picture or
unpublished uploads attached to a `/feed` post, `/videos` for a video; native scheduling with
`scheduled_publish_time`; an optional first comment; read-back of `/feed` for reconciliation; delete.

Graph has no idempotency key: after an ambiguous outcome the engine must read the Page back before sending again.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
from django.utils import timezone

from beffroi.core.ratelimit import Rate
from beffroi.networks.base import (
    ChannelAccess,
    ErrorKind,
    MediaItem,
    Published,
    PublishError,
    PublishJob,
    RemotePost,
)
from beffroi.networks.capabilities import Capabilities
from beffroi.networks.facebook.capabilities import CAPABILITIES
from beffroi.networks.graph.client import FACEBOOK_HOST, AsyncGraph, host_for, media_file, parse_time

LABEL = "Facebook"
VIDEO_HOST = "https://graph-video.facebook.com"  # Meta's host for video uploads
FEED_FIELDS = "id,message,created_time,permalink_url"
SCHEDULE_MIN, SCHEDULE_MAX = CAPABILITIES.native_scheduling or (timedelta(minutes=10), timedelta(days=30))


def is_public(item: MediaItem) -> bool:
    return item.url.startswith("https://")


class FacebookConnector:
    network: ClassVar[str] = "facebook"
    capabilities: ClassVar[Capabilities] = CAPABILITIES
    # Pages are limited per Page (business use case), not per app: the per-channel rate is the useful bound.
    max_concurrency: ClassVar[int] = 200
    idempotency_window: ClassVar[timedelta] = timedelta(0)
    supports_idempotency_key = False  # Graph has none

    def network_budget(self, job: PublishJob) -> tuple[str, Rate] | None:
        return None

    def _graph(self, http: httpx.AsyncClient, access: ChannelAccess) -> AsyncGraph:
        return AsyncGraph(
            http,
            host=host_for(access.config, FACEBOOK_HOST),
            token=str(access.credentials.get("access_token", "")),
            label=LABEL,
        )

    def _video_host(self, access: ChannelAccess) -> str:
        # Tests and the simulator point api_host elsewhere: videos then go there too.
        return str(access.config.get("video_host") or access.config.get("api_host") or VIDEO_HOST)

    @staticmethod
    def _page_id(access: ChannelAccess) -> str:
        page_id = str(access.config.get("page_id") or "")
        if not page_id:
            raise PublishError(
                ErrorKind.PERMANENT, "The channel does not say which Page it is: reconnect it.", code="no_page_id"
            )
        return page_id

    # Publishing ----------------------------------------------------------------------------------------------

    async def publish(self, http: httpx.AsyncClient, job: PublishJob) -> Published:
        page_id = self._page_id(job)
        schedule = self._schedule(job)  # refused before any call when out of Meta's window
        graph = self._graph(http, job)
        images = [item for item in job.media if item.kind == "image"]
        videos = [item for item in job.media if item.kind == "video"]
        if videos and (len(videos) > 1 or images):
            raise PublishError(
                ErrorKind.PERMANENT,
                "A Facebook post holds either pictures or one video, not both.",
                code="mixed_media",
            )
        if len(images) > CAPABILITIES.max_media:
            raise PublishError(
                ErrorKind.PERMANENT,
                f"A Facebook post holds at most {CAPABILITIES.max_media} pictures.",
                code="too_many_media",
            )
        if videos:
            body = await self._video(graph, job, page_id, videos[0], schedule)
            object_id = str(body["id"])
            remote_id = object_id
            url = f"https://www.facebook.com/{page_id}/videos/{object_id}"
        elif len(images) == 1:
            body = await self._photo(graph, job, page_id, images[0], schedule)
            object_id = remote_id = str(body.get("post_id") or body["id"])
            url = f"https://www.facebook.com/{remote_id}"
        else:
            data: dict[str, Any] = {}
            if job.text:
                data["message"] = job.text
            link = str(job.options.get("link") or "")
            if link:
                data["link"] = link
            if images:
                ids = [await self._unpublished_photo(graph, page_id, item, schedule) for item in images]
                data["attached_media"] = json.dumps([{"media_fbid": media_id} for media_id in ids])
            data.update(schedule)
            body = await graph.call("POST", f"{page_id}/feed", data=data, publishes=True)
            object_id = remote_id = str(body["id"])
            url = f"https://www.facebook.com/{remote_id}"
        report: dict[str, Any] = {"post": body}
        if schedule:
            report["scheduled_publish_time"] = schedule["scheduled_publish_time"]
        first_comment = str(job.options.get("first_comment") or "").strip()
        if first_comment:
            report["first_comment"] = await self._first_comment(graph, object_id, first_comment)
        return Published(
            remote_id=remote_id,
            url=url,
            request=graph.trail,
            response_status=200,
            response=json.dumps(report, ensure_ascii=False)[:2000],
        )

    def _schedule(self, job: PublishJob) -> dict[str, Any]:
        if not job.options.get("native_schedule"):
            return {}
        if job.due_at is None:
            raise PublishError(
                ErrorKind.PERMANENT,
                "Facebook scheduling needs a publication time.",
                code="schedule_missing_time",
            )
        ahead = job.due_at - timezone.now()
        if not SCHEDULE_MIN <= ahead <= SCHEDULE_MAX:
            raise PublishError(
                ErrorKind.PERMANENT,
                "Facebook can hold a post until its time only from 10 minutes to 30 days ahead: choose another time "
                "or let Beffroi publish it at its time.",
                code="schedule_out_of_range",
            )
        return {"published": "false", "scheduled_publish_time": str(int(job.due_at.timestamp()))}

    async def _photo(
        self, graph: AsyncGraph, job: PublishJob, page_id: str, item: MediaItem, schedule: dict[str, Any]
    ) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if job.text:
            data["caption"] = job.text
        if item.alt_text:
            data["alt_text_custom"] = item.alt_text
        data.update(schedule)
        return await self._send_media(graph, f"{page_id}/photos", item, data, "url", publishes=True)

    async def _unpublished_photo(
        self, graph: AsyncGraph, page_id: str, item: MediaItem, schedule: dict[str, Any]
    ) -> str:
        # Not visible until attached to a post: a failure here published nothing.
        data: dict[str, Any] = {"published": "false"}
        if schedule:
            data["temporary"] = "true"  # Meta keeps an unpublished photo for a scheduled post only when told so
        if item.alt_text:
            data["alt_text_custom"] = item.alt_text
        body = await self._send_media(graph, f"{page_id}/photos", item, data, "url", publishes=False)
        return str(body["id"])

    async def _video(
        self, graph: AsyncGraph, job: PublishJob, page_id: str, item: MediaItem, schedule: dict[str, Any]
    ) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if job.text:
            data["description"] = job.text
        data.update(schedule)
        return await self._send_media(
            graph, f"{page_id}/videos", item, data, "file_url", publishes=True, host=self._video_host(job)
        )

    async def _send_media(
        self,
        graph: AsyncGraph,
        path: str,
        item: MediaItem,
        data: dict[str, Any],
        url_param: str,
        *,
        publishes: bool,
        host: str | None = None,
    ) -> dict[str, Any]:
        """Meta fetches a public URL itself; otherwise the file is sent as multipart `source`."""
        if is_public(item):
            return await graph.call("POST", path, data={url_param: item.url, **data}, publishes=publishes, host=host)
        if not item.path:
            raise PublishError(
                ErrorKind.PERMANENT, "A picture or video of this post has no file to send.", code="media_missing"
            )
        try:
            part = media_file(item.path, item.mime_type)
        except OSError as error:
            raise PublishError(
                ErrorKind.PERMANENT, "A picture or video of this post cannot be read on this server.", code="media_io"
            ) from error
        with contextlib.closing(part[1]):
            return await graph.call("POST", path, data=data, files={"source": part}, publishes=publishes, host=host)

    async def _first_comment(self, graph: AsyncGraph, object_id: str, text: str) -> dict[str, Any]:
        """The first comment never fails the post: what happened is reported with it."""
        try:
            body = await graph.call("POST", f"{object_id}/comments", data={"message": text}, publishes=True)
        except PublishError as error:
            return {"ok": False, "kind": str(error.kind), "code": error.code, "message": error.message}
        return {"ok": True, "id": str(body.get("id", ""))}

    # Reading back, deleting --------------------------------------------------------------------------------

    async def recent_posts(self, http: httpx.AsyncClient, job: ChannelAccess) -> list[RemotePost]:
        page_id = self._page_id(job)
        graph = self._graph(http, job)
        body = await graph.call("GET", f"{page_id}/feed", params={"fields": FEED_FIELDS, "limit": "25"})
        posts = [self._remote_post(item) for item in body.get("data", [])]
        options = getattr(job, "options", None) or {}
        if options.get("native_schedule"):
            # A post Meta holds until its time is not in the feed yet.
            body = await graph.call("GET", f"{page_id}/scheduled_posts", params={"fields": FEED_FIELDS, "limit": "25"})
            posts = [self._remote_post(item) for item in body.get("data", [])] + posts
        posts.sort(key=lambda post: post.created_at or datetime.min.replace(tzinfo=UTC), reverse=True)
        return posts

    @staticmethod
    def _remote_post(item: dict[str, Any]) -> RemotePost:
        remote_id = str(item.get("id", ""))
        return RemotePost(
            remote_id=remote_id,
            url=str(item.get("permalink_url") or f"https://www.facebook.com/{remote_id}"),
            text=str(item.get("message") or ""),
            created_at=parse_time(item.get("created_time")),
        )

    async def delete(self, http: httpx.AsyncClient, access: ChannelAccess, remote_id: str) -> None:
        graph = self._graph(http, access)
        try:
            body = await graph.call("DELETE", remote_id, publishes=True)
        except PublishError as error:
            if error.extra.get("graph_code") == 100 and error.extra.get("graph_subcode") == 33:
                return  # already gone: what was asked is done
            raise
        if body.get("success") is False:
            raise PublishError(
                ErrorKind.PERMANENT, "Facebook did not delete the post.", code="not_deleted", request=graph.trail
            )
