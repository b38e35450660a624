"""Atom feed: "publishing" adds an entry to the channel's public feed, served by Beffroi itself (feed.py).

Nothing crosses a network, so nothing can be ambiguous: the entry exists as soon as the publication is recorded
as published, and its id is derived from the publication (the same on every retry).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import ClassVar

import httpx
from asgiref.sync import sync_to_async
from django.conf import settings
from django.urls import reverse

from beffroi.core.ratelimit import Rate
from beffroi.networks.atom.capabilities import CAPABILITIES
from beffroi.networks.base import ChannelAccess, ErrorKind, Published, PublishError, PublishJob, RemotePost
from beffroi.networks.capabilities import Capabilities

ENTRY_NAMESPACE = uuid.UUID("6f1d3a52-2b7e-4c1e-9a55-3b0f2d9c8e01")


def entry_id(idempotency_key: str) -> str:
    return f"urn:uuid:{uuid.uuid5(ENTRY_NAMESPACE, idempotency_key)}"


def feed_url(feed_token: str) -> str:
    return settings.BASE_URL + reverse("atom_feed", args=[feed_token])


class AtomConnector:
    network: ClassVar[str] = "atom"
    capabilities: ClassVar[Capabilities] = CAPABILITIES
    supports_idempotency_key = True  # the entry id is derived from the publication: a re-send is the same entry
    idempotency_window: ClassVar[timedelta] = timedelta(days=36500)
    max_concurrency: ClassVar[int] = 1000

    def network_budget(self, job: PublishJob) -> tuple[str, Rate] | None:
        return None

    async def publish(self, http: httpx.AsyncClient, job: PublishJob) -> Published:
        token = job.config.get("feed_token")
        if not token:
            raise PublishError(ErrorKind.PERMANENT, "This feed has no public address: reconnect it.", code="no_feed")
        identifier = entry_id(job.idempotency_key)
        url = f"{feed_url(token)}#{identifier.rsplit(':', 1)[1]}"
        return Published(remote_id=identifier, url=url, request=f"Atom entry {identifier}", response_status=None)

    async def recent_posts(self, http: httpx.AsyncClient, access: ChannelAccess) -> list[RemotePost]:
        # Not thread-sensitive: a pool thread that closes its own connection (the worker never holds one here).
        return await sync_to_async(_entries, thread_sensitive=False)(access.channel_id)

    async def delete(self, http: httpx.AsyncClient, access: ChannelAccess, remote_id: str) -> None:
        # The feed lists published publications: marking the publication deleted removes the entry.
        return None


def _entries(channel_id: int) -> list[RemotePost]:
    from django.db import connection

    from beffroi.publishing.models import Publication
    from beffroi.publishing.states import State

    try:
        rows = Publication.objects.filter(channel_id=channel_id, state=State.PUBLISHED).order_by("-published_at")
        return [
            RemotePost(remote_id=p.remote_id, url=p.remote_url, text=p.post.text, created_at=p.published_at)
            for p in rows.select_related("post")[:40]
        ]
    finally:
        connection.close()
