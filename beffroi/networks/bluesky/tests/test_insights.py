"""Bluesky statistics against a real local network with an AppView (conftest.py: `bsky_network`).

Account A publishes through Beffroi's connector; B and C like, repost, quote, reply and follow with their own
records on the same PDS; the AppView counts them and notifies A, exactly as on bsky.app. What a real network cannot
be made to do on cue (a 429, a 500 on the third call) is injected by an HTTP transport in front of it: every other
answer is the network's own.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from django.utils import timezone
from PIL import Image

from beffroi.channels.models import Channel
from beffroi.insights.base import SyncFailed
from beffroi.insights.metrics import Dimension, Metric, PostType, Reason
from beffroi.insights.models import (
    AudienceBreakdown,
    ChannelPost,
    DailyMetric,
    EngagementEvent,
    InsightsSync,
    MetricStatus,
    PostSnapshot,
)
from beffroi.insights.sync import sync_channel_now
from beffroi.networks.base import MediaItem, PublishJob
from beffroi.networks.bluesky.connector import BlueskyConnector, jwt_expiry
from beffroi.networks.bluesky.insights import PUBLIC_READER, READER
from beffroi.networks.registry import insights_reader_for, public_reader_for

pytestmark = pytest.mark.django_db


# Acting on the network ---------------------------------------------------------------------------------------


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def create(account, collection: str, record: dict) -> dict:
    """A record in the account's repository (what the Bluesky app writes when someone likes, reposts…)."""
    response = httpx.post(
        account.pds.xrpc("com.atproto.repo.createRecord"),
        json={"repo": account.did, "collection": collection, "record": {"createdAt": now_iso(), **record}},
        headers={"Authorization": f"Bearer {account.access_jwt}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def ref(post: dict) -> dict:
    return {"uri": post["uri"], "cid": post["cid"]}


def like(account, post: dict) -> dict:
    return create(account, "app.bsky.feed.like", {"subject": ref(post)})


def repost(account, post: dict) -> dict:
    return create(account, "app.bsky.feed.repost", {"subject": ref(post)})


def reply(account, post: dict, text: str = "Bravo !") -> dict:
    return create(account, "app.bsky.feed.post", {"text": text, "reply": {"root": ref(post), "parent": ref(post)}})


def quote(account, post: dict, text: str = "À lire") -> dict:
    return create(
        account, "app.bsky.feed.post", {"text": text, "embed": {"$type": "app.bsky.embed.record", "record": ref(post)}}
    )


def delete_record(account, uri: str) -> None:
    _did, collection, rkey = uri.removeprefix("at://").split("/")
    response = httpx.post(
        account.pds.xrpc("com.atproto.repo.deleteRecord"),
        json={"repo": account.did, "collection": collection, "rkey": rkey},
        headers={"Authorization": f"Bearer {account.access_jwt}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text


def follow(account, other) -> dict:
    return create(account, "app.bsky.graph.follow", {"subject": other.did})


def app_password_session(account) -> dict:
    """The credentials Beffroi keeps for a channel connected with an app password."""
    response = httpx.post(
        account.pds.xrpc("com.atproto.server.createSession"),
        json={"identifier": account.handle, "password": account.app_password},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return {
        "identifier": account.handle,
        "app_password": account.app_password,
        "access_jwt": body["accessJwt"],
        "refresh_jwt": body["refreshJwt"],
        "did": body["did"],
        "service": account.pds.url,
    }


def publish(account, credentials: dict, text: str, media: list[MediaItem] | None = None) -> dict:
    """A post of A, published by Beffroi's connector as the publishing engine would."""
    now = datetime.now(UTC)
    job = PublishJob(
        channel_id=10_000 + int(time.time_ns() % 1_000_000),
        network="bluesky",
        config={"handle": account.handle, "did": account.did, "service": account.pds.url},
        credentials=credentials,
        publication_id=1,
        fence=1,
        attempt=1,
        text=text,
        idempotency_key=f"insights-{time.time_ns()}",
        due_at=now,
        claimed_at=now,
        media=media or [],
    )

    async def run():
        async with httpx.AsyncClient(timeout=30) as http:
            return await BlueskyConnector().publish(http, job)

    published = asyncio.run(run())
    record = account.pds.get_record(published.remote_id).json()
    return {"uri": record["uri"], "cid": record["cid"]}


def picture(path: Path) -> MediaItem:
    Image.new("RGB", (64, 48), (200, 120, 30)).save(path, "PNG")
    return MediaItem("image", "image/png", path.stat().st_size, path=str(path), width=64, height=48, alt_text="Un pré")


def channel_for(tenant, account, credentials: dict) -> Channel:
    channel = Channel.objects.create(
        organisation=tenant.organisation,
        group=tenant.local,
        network="bluesky",
        display_name="Centre social (Bluesky)",
        handle=account.handle,
        remote_id=account.did,
        config={"service": account.pds.url, "did": account.did, "handle": account.handle},
    )
    channel.credentials = credentials
    channel.save()
    return channel


class FaultyTransport(httpx.BaseTransport):
    """The real network, except the `fail_on`-th request, answered by `answer` without reaching it."""

    def __init__(self, fail_on: int, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self.inner = httpx.HTTPTransport()
        self.fail_on = fail_on
        self.answer = answer
        self.requests: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.url.path)
        if len(self.requests) == self.fail_on:
            return self.answer(request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def nothing_stored(channel: Channel) -> bool:
    return not (
        ChannelPost.objects.filter(channel=channel).exists()
        or DailyMetric.objects.filter(channel=channel).exists()
        or EngagementEvent.objects.filter(channel=channel).exists()
        or MetricStatus.objects.filter(channel=channel).exists()
        or AudienceBreakdown.objects.filter(channel=channel).exists()
    )


@pytest.fixture
def http():
    with httpx.Client(timeout=30) as client:
        yield client


@pytest.fixture
def scene(bsky_network, tenant_a, tmp_path):
    """A publishes a post with a link and a post with a picture; B and C react; A reposts and replies to others
    (neither is one of A's posts); B and C follow A."""
    a, b, c = (bsky_network.create_account(name) for name in ("a", "b", "c"))
    credentials = app_password_session(a)
    started = datetime.now(UTC) - timedelta(seconds=1)
    link_post = publish(a, credentials, "Notre programme d'automne : https://example.org/automne")
    photo_post = publish(a, credentials, "La fête du quartier", [picture(tmp_path / "fete.png")])
    like(b, link_post)
    like(c, link_post)
    repost(b, link_post)
    quote(c, link_post)
    reply(c, link_post)
    like(b, photo_post)
    other = create(b, "app.bsky.feed.post", {"text": "Un post de B"})
    repost(a, other)  # A's repost of B's post: not a post of A's channel
    reply(a, other, "Merci B")  # A's reply to someone else: a conversation, not a post of the channel
    follow(b, a)
    follow(c, a)
    bsky_network.process_all()
    return {
        "a": a,
        "b": b,
        "c": c,
        "link_post": link_post,
        "photo_post": photo_post,
        "other": other,
        "channel": channel_for(tenant_a, a, credentials),
        "started": started,
    }


# The reader and the registry ---------------------------------------------------------------------------------


def test_the_registry_loads_both_readers():
    assert insights_reader_for("bluesky") is READER
    assert public_reader_for("bluesky") is PUBLIC_READER
    assert READER.history_days is None
    assert set(READER.account_metrics) == {Metric.FOLLOWERS}
    reason = READER.missing_reason(Metric.REACH)
    assert reason.reason == Reason.NOT_ON_NETWORK and "no reach" in reason.detail


# A full sync against the AppView -----------------------------------------------------------------------------


def test_sync_stores_counts_followers_and_engagement_times_and_never_counts_twice(scene, bsky_network, http):
    channel = scene["channel"]
    assert sync_channel_now(channel, http) == InsightsSync.Status.IDLE
    sync = InsightsSync.objects.get(channel=channel)
    assert sync.last_error == "" and sync.calls == 3 and sync.next_run_at > timezone.now()

    posts = {post.remote_id: post for post in ChannelPost.objects.filter(channel=channel)}
    # Only A's own posts: the repost of B's post and the reply to B are not posts of the channel.
    assert set(posts) == {scene["link_post"]["uri"], scene["photo_post"]["uri"]}
    link_post = posts[scene["link_post"]["uri"]]
    assert (link_post.likes, link_post.comments, link_post.shares) == (2, 1, 2)  # shares: B's repost + C's quote
    assert link_post.saves == 0 and link_post.interactions == 5
    assert link_post.post_type == PostType.LINK
    assert link_post.url.startswith(f"https://bsky.app/profile/{scene['a'].handle}/post/")
    assert "automne" in link_post.text
    # Reach and views: not available, with the reason — never zero.
    assert link_post.reach is None and link_post.views is None
    assert link_post.unavailable == {"reach": Reason.NOT_ON_NETWORK, "views": Reason.NOT_ON_NETWORK}
    photo_post = posts[scene["photo_post"]["uri"]]
    assert (photo_post.likes, photo_post.comments, photo_post.shares, photo_post.post_type) == (1, 0, 0, "photo")

    # Followers read now, stored as today's value (the history builds up day by day).
    followers = DailyMetric.objects.get(channel=channel, metric=Metric.FOLLOWERS)
    assert followers.value == 2 and followers.day == timezone.now().date()
    statuses = {status.metric: status for status in MetricStatus.objects.filter(channel=channel)}
    assert statuses[Metric.FOLLOWERS].source_name == "followersCount"
    for metric in (Metric.REACH, Metric.VIEWS, Metric.INTERACTIONS, Metric.FOLLOWS, Metric.UNFOLLOWS):
        assert statuses[metric].unavailable_reason == Reason.NOT_ON_NETWORK, metric
    assert "no reach" in statuses[Metric.REACH].detail
    assert not DailyMetric.objects.filter(channel=channel, metric=Metric.REACH).exists()
    audience = AudienceBreakdown.objects.filter(channel=channel)
    assert {row.dimension for row in audience} == {str(dimension) for dimension in Dimension}
    assert {row.unavailable_reason for row in audience} == {Reason.NOT_ON_NETWORK}

    # One dated event per like, repost, quote and reply, tied to the post it is about.
    events = list(EngagementEvent.objects.filter(channel=channel).select_related("post"))
    assert Counter(event.kind for event in events) == {"like": 3, "share": 1, "quote": 1, "reply": 1}
    assert Counter(event.post.remote_id for event in events) == {
        scene["link_post"]["uri"]: 5,
        scene["photo_post"]["uri"]: 1,
    }
    after = datetime.now(UTC)
    assert all(scene["started"] <= event.occurred_at <= after for event in events)
    likes_of_b = {event.remote_id for event in events if event.remote_id.startswith(f"at://{scene['b'].did}/")}
    assert any("/app.bsky.feed.like/" in uri for uri in likes_of_b)

    # Later: one more like. Read again from further back than the last run, every notification comes again —
    # and each is stored once.
    like(scene["c"], scene["photo_post"])
    bsky_network.process_all()
    InsightsSync.objects.filter(channel=channel).update(engagements_until=scene["started"] - timedelta(hours=1))
    assert sync_channel_now(channel, http) == InsightsSync.Status.IDLE
    assert EngagementEvent.objects.filter(channel=channel).count() == 7
    photo_post.refresh_from_db()
    assert photo_post.likes == 2
    assert PostSnapshot.objects.filter(post=photo_post).count() == 2  # its curve: 1 like, then 2
    assert DailyMetric.objects.filter(channel=channel, metric=Metric.FOLLOWERS).count() == 1

    # A deletes the photo post: when it is next due, getPosts no longer has it, its reads end (else it would stay
    # due for ever) and its numbers stay.
    delete_record(scene["a"], scene["photo_post"]["uri"])
    bsky_network.process_all()
    ChannelPost.objects.filter(pk=photo_post.pk).update(next_read_at=timezone.now() - timedelta(minutes=1))
    assert sync_channel_now(channel, http) == InsightsSync.Status.IDLE
    photo_post.refresh_from_db()
    assert photo_post.next_read_at is None and photo_post.likes == 2


def test_an_expired_access_token_is_renewed_and_the_new_session_stored(scene, http):
    channel = scene["channel"]
    credentials = channel.credentials
    # A token the PDS no longer accepts: the reader refreshes the session (refreshSession) and goes on.
    channel.credentials = {**credentials, "access_jwt": "not-a-valid-token"}
    channel.save()
    assert sync_channel_now(channel, http) == InsightsSync.Status.IDLE
    channel.refresh_from_db()
    stored = channel.credentials
    assert stored["access_jwt"] not in ("not-a-valid-token", credentials["access_jwt"])
    assert jwt_expiry(stored["access_jwt"]) > datetime.now(UTC)
    assert stored["refresh_jwt"] != credentials["refresh_jwt"]  # rotated by the PDS
    assert stored["app_password"] == credentials["app_password"]
    assert ChannelPost.objects.filter(channel=channel).count() == 2
    assert channel.status == Channel.Status.ACTIVE


def test_a_session_renewed_before_a_failure_is_kept(scene, http):
    """The refresh token is spent once the session is renewed: the new one is stored even though the run failed
    and nothing else of it is, so the next run goes on without a person reconnecting."""
    channel = scene["channel"]
    credentials = channel.credentials
    channel.credentials = {**credentials, "access_jwt": "not-a-valid-token"}
    channel.save()

    def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"error": "InternalServerError", "message": "Internal Server Error"})

    # getProfile (refused), refreshSession, getProfile, then the posts answer 500.
    transport = FaultyTransport(4, broken)
    with httpx.Client(transport=transport, timeout=30) as faulty:
        assert sync_channel_now(channel, faulty) == InsightsSync.Status.FAILED
    assert transport.requests[1] == "/xrpc/com.atproto.server.refreshSession"
    assert nothing_stored(channel)
    channel.refresh_from_db()
    renewed = channel.credentials
    assert renewed["refresh_jwt"] != credentials["refresh_jwt"] and renewed["access_jwt"] != "not-a-valid-token"

    assert sync_channel_now(channel, http) == InsightsSync.Status.IDLE
    channel.refresh_from_db()
    assert channel.credentials["access_jwt"] == renewed["access_jwt"]  # still valid: not renewed again
    assert ChannelPost.objects.filter(channel=channel).count() == 2


def test_a_revoked_app_password_asks_for_reconnection(scene, http):
    channel = scene["channel"]
    scene["a"].revoke_app_password()  # ends the sessions made with it, too
    channel.credentials = {**channel.credentials, "access_jwt": "not-a-valid-token"}
    channel.save()
    assert sync_channel_now(channel, http) == InsightsSync.Status.FAILED
    channel.refresh_from_db()
    assert channel.status == Channel.Status.NEEDS_RECONNECTION
    assert nothing_stored(channel)


def test_a_rate_limit_stores_nothing_and_waits_for_the_reset(scene):
    channel = scene["channel"]
    reset = int(time.time()) + 600

    def limited(request: httpx.Request) -> httpx.Response:
        headers = {"ratelimit-limit": "3000", "ratelimit-remaining": "0", "ratelimit-reset": str(reset)}
        return httpx.Response(
            429, json={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}, headers=headers
        )

    transport = FaultyTransport(2, limited)
    with httpx.Client(transport=transport, timeout=30) as http:
        before = timezone.now()
        assert sync_channel_now(channel, http) == InsightsSync.Status.WAITING
    sync = InsightsSync.objects.get(channel=channel)
    assert sync.status == InsightsSync.Status.WAITING
    assert before + timedelta(seconds=590) <= sync.next_run_at <= before + timedelta(seconds=610)
    assert "slow down" in sync.last_error
    assert nothing_stored(channel)


def test_a_failure_halfway_stores_nothing_and_the_next_run_stores_everything(scene, http):
    channel = scene["channel"]

    def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"error": "InternalServerError", "message": "Internal Server Error"})

    transport = FaultyTransport(3, broken)  # profile, first page of posts, then the 500
    with httpx.Client(transport=transport, timeout=30) as faulty:
        assert sync_channel_now(channel, faulty) == InsightsSync.Status.FAILED
    assert len(transport.requests) == 3
    sync = InsightsSync.objects.get(channel=channel)
    assert sync.failures == 1 and "500" in sync.last_error
    assert nothing_stored(channel)

    assert sync_channel_now(channel, http) == InsightsSync.Status.IDLE
    assert ChannelPost.objects.filter(channel=channel).count() == 2
    assert DailyMetric.objects.get(channel=channel, metric=Metric.FOLLOWERS).value == 2
    assert EngagementEvent.objects.filter(channel=channel).count() == 6
    assert MetricStatus.objects.get(channel=channel, metric=Metric.REACH).unavailable_reason == Reason.NOT_ON_NETWORK


# Watched pages -----------------------------------------------------------------------------------------------


def test_a_watched_account_is_read_from_the_appview_without_logging_in(scene, bsky_network, http):
    a = scene["a"]
    profile = PUBLIC_READER.read_public(http, a.handle, config={"server": bsky_network.appview_url}, limit=10)
    assert (profile.remote_id, profile.handle, profile.followers) == (a.did, a.handle, 2)
    assert profile.url == f"https://bsky.app/profile/{a.handle}"
    # A's own posts only: not the repost of B's post, not the reply to B.
    by_uri = {post.remote_id: post for post in profile.posts}
    assert set(by_uri) == {scene["link_post"]["uri"], scene["photo_post"]["uri"]}
    link_post = by_uri[scene["link_post"]["uri"]]
    assert (link_post.values["likes"], link_post.values["comments"], link_post.values["shares"]) == (2, 1, 2)
    assert link_post.post_type == PostType.LINK and link_post.published_at <= datetime.now(UTC)
    assert by_uri[scene["photo_post"]["uri"]].post_type == PostType.PHOTO

    assert len(PUBLIC_READER.read_public(http, a.did, config={"server": bsky_network.appview_url}, limit=1).posts) == 1

    with pytest.raises(SyncFailed, match="does not know the account"):
        PUBLIC_READER.read_public(http, "nobody-here.test", config={"server": bsky_network.appview_url}, limit=5)
    # A PDS answers app.bsky.* reads only for its logged-in users: said, not hidden.
    with pytest.raises(SyncFailed, match="401"):
        PUBLIC_READER.read_public(http, a.handle, config={"server": bsky_network.url}, limit=5)
