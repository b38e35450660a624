"""Mastodon statistics: the reader against recorded answers of a real instance (cassettes/SOURCE.md), and the whole
sync against the simulator for what was never recorded (favourites, boosts, replies and follows by other accounts
with their notifications, 429 with X-RateLimit-Reset, a 500 on the third call, a revoked token)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from django.utils import timezone

from beffroi.channels.models import Channel
from beffroi.insights.base import SyncFailed, SyncPlan
from beffroi.insights.metrics import Dimension, Metric, PostMetric, PostType, Reason
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
from beffroi.networks.base import ChannelAccess
from beffroi.networks.mastodon.insights import PUBLIC_READER, READER, engagement, plain_text, post_type
from beffroi.networks.mastodon.tests.replay import Replay, recorded
from beffroi.networks.registry import insights_reader_for, public_reader_for
from beffroi.simulator import SimulatorServer

INSTANCE = "https://mastodon.example"
ACCOUNT_ID = "117440810532227399"  # mastodonpy_test, the recorded account
OTHER_ACCOUNT_ID = "117440810673731823"  # mastodonpy_test_2
RECORDED_SINCE = datetime(2026, 10, 1, tzinfo=UTC)  # before every recording (14 October 2026)
QUOTE = "test_status_post_with_quote.yaml"
REBLOG = "test_status_reblog_unreblog.yaml"
FAVOURITE = "test_status_fav_unfav.yaml"
PAGES = "test_get_pagination_info.yaml"
MENTIONS = "test_notifications_mentions_only.yaml"
LOOKUP = "test_account_lookup.yaml"


def plan(**changes) -> SyncPlan:
    values = {
        "channel_id": 1,
        "today": datetime.now(UTC).date(),
        "days_from": None,
        "days_until": None,
        "posts_since": RECORDED_SINCE,
        "audience": True,
        "engagements_since": RECORDED_SINCE,
    }
    return SyncPlan(**{**values, **changes})


def access(base: str = INSTANCE, token: str = "secret-token") -> ChannelAccess:
    return ChannelAccess(1, "mastodon", {"instance_url": base, "account_id": ACCOUNT_ID}, {"access_token": token})


def answer(data, *, check=None):
    """An answer made of recorded objects (a page the instance would give), checking the request if asked."""

    def respond(request: httpx.Request) -> httpx.Response:
        if check is not None:
            check(request)
        return httpx.Response(200, json=data)

    return respond


@pytest.fixture
def replay():
    replay = Replay()
    yield replay
    assert not replay.unexpected, f"requests nothing answered: {replay.unexpected}"


def no_progress(step: str, done: int, total: int) -> None:
    pass


# Recorded answers ----------------------------------------------------------------------------------------------


def test_the_registry_loads_both_readers():
    assert insights_reader_for("mastodon") is READER
    assert public_reader_for("mastodon") is PUBLIC_READER
    assert READER.history_days is None and set(READER.account_metrics) == {Metric.FOLLOWERS}
    assert READER.missing_reason(Metric.VIEWS).reason == Reason.NOT_ON_NETWORK


def test_recorded_statuses_counts_followers_and_notifications(replay):
    boost = recorded(REBLOG, "POST", "/api/v1/statuses/117440831307448422/reblog").json()
    quoting = recorded(QUOTE, "POST", "/api/v1/statuses", index=1).json()
    quoted = quoting["quote"]["quoted_status"]  # as the instance shows it inside the quote: quotes_count 1
    video = recorded("test_media_post[True].yaml", "POST", "/api/v1/statuses").json()
    favourited = recorded(FAVOURITE, "POST", "/api/v1/statuses/117440831328347550/favourite").json()
    statuses_path = f"/api/v1/accounts/{ACCOUNT_ID}/statuses"
    asked: list[httpx.QueryParams] = []

    replay.add("GET", "/api/v1/accounts/verify_credentials", recorded("test_verify_credentials.yaml", "GET", "/api"))
    replay.add("GET", statuses_path, recorded(PAGES, "GET", statuses_path))  # five toots
    replay.add("GET", statuses_path, answer([boost, quoting, video], check=lambda r: asked.append(r.url.params)))
    replay.add("GET", statuses_path, answer([], check=lambda r: asked.append(r.url.params)))
    replay.add("GET", f"/api/v1/statuses/{quoted['id']}", answer(quoted))
    replay.add("GET", f"/api/v1/statuses/{favourited['id']}", answer(favourited))
    replay.add("GET", "/api/v1/statuses/1", recorded(LOOKUP, "GET", "/api/v1/accounts/lookup", status=404))
    replay.add("GET", "/api/v1/notifications", recorded(MENTIONS, "GET", "/api/v1/notifications"))
    replay.add("GET", "/api/v1/notifications", answer([]))
    steps: list[str] = []

    with replay.sync_client() as http:
        batch = READER.read(
            access(),
            http,
            plan(post_ids=(quoted["id"], favourited["id"], "1")),
            lambda step, done, total: steps.append(step),
        )

    assert steps == ["profile", "posts", "engagements", "done"]
    assert batch.followers_now == 0 and batch.metric_status == {Metric.FOLLOWERS: "followers_count"}
    assert batch.calls == 9
    # Pages follow each other by max_id = the last status read; boosts are left out on the instance's side too.
    assert asked[0]["max_id"] == "117440825713716397" and asked[1]["max_id"] == video["id"]
    assert asked[0]["exclude_reblogs"] == "true"
    posts = {post.remote_id: post for post in batch.posts}
    assert boost["id"] not in posts  # the account's boost of a status is not a post
    assert len(posts) == 9  # five toots, the quoting post, the video, and the two due ones
    assert batch.gone_post_ids == ["1"]  # answered 404: deleted since, no longer asked for
    assert posts[quoted["id"]].values[PostMetric.SHARES] == 1  # a quote counts as a share
    assert posts[favourited["id"]].values == {
        PostMetric.LIKES: 1,
        PostMetric.COMMENTS: 0,
        PostMetric.SHARES: 0,
        PostMetric.INTERACTIONS: 1,
    }
    assert posts[video["id"]].post_type == PostType.VIDEO
    assert posts[quoting["id"]].post_type == PostType.TEXT  # the "RE: link" of a quote is not a shared link
    assert posts[quoting["id"]].text == "yoooooooo"
    assert posts["117440825732605932"].text == "Toot number 9!"
    assert posts["117440825732605932"].url == "http://localhost:3000/@mastodonpy_test/117440825732605932"
    assert set(posts[video["id"]].unavailable) == {PostMetric.REACH, PostMetric.VIEWS, PostMetric.SAVES}
    assert {why.reason for why in posts[video["id"]].unavailable.values()} == {Reason.NOT_ON_NETWORK}
    # The recorded notification is a mention in admin's own post, not a reply to one of ours: no engagement.
    assert batch.engagements == []
    assert set(batch.audience) == set(Dimension)
    assert all(why.reason == Reason.NOT_ON_NETWORK for why in batch.audience.values())


def test_recorded_notifications_as_engagements():
    mention = recorded(MENTIONS, "GET", "/api/v1/notifications").json()[0]
    assert engagement(mention, ACCOUNT_ID) is None  # "@mastodonpy_test hello!" replies to nothing
    # The recorded reply (by mastodonpy_test, to mastodonpy_test_2's toot) as its mention notification would
    # reach mastodonpy_test_2: a reply to that toot, at the notification's time.
    reply = recorded("test_status_reply.yaml", "POST", "/api/v1/statuses", index=1).json()
    found = engagement({**mention, "id": "99", "status": reply}, OTHER_ACCOUNT_ID)
    assert (found.remote_id, found.kind, found.post_remote_id) == ("99", "reply", reply["in_reply_to_id"])
    assert found.occurred_at == datetime(2026, 10, 14, 19, 5, 29, 322000, tzinfo=UTC)
    # A quote (Mastodon 4.5) is about the quoted status.
    quoting = recorded(QUOTE, "POST", "/api/v1/statuses", index=1).json()
    found = engagement({**mention, "id": "100", "type": "quote", "status": quoting}, ACCOUNT_ID)
    assert (found.kind, found.post_remote_id) == ("quote", quoting["quote"]["quoted_status"]["id"])
    assert engagement({**mention, "type": "follow", "status": None}, ACCOUNT_ID) is None


def test_post_types_and_text_from_recorded_html():
    mention = recorded(MENTIONS, "POST", "/api/v1/statuses").json()
    assert post_type(mention) == PostType.TEXT  # a mention is a link, but not a shared one
    assert plain_text(mention["content"]) == "@mastodonpy_test hello!"
    assert post_type({"content": '<p>Lire <a href="https://example.org/">example.org</a></p>'}) == PostType.LINK
    assert post_type({"media_attachments": [{"type": "image"}], "content": ""}) == PostType.PHOTO
    assert plain_text("<p>Un<br />deux</p><p>trois &amp; quatre</p>") == "Un\ndeux\n\ntrois & quatre"


def test_a_revoked_token_asks_for_reconnection(replay):
    refused = recorded("test_unauthed_home_tl_throws.yaml", "GET", "/api/v1/timelines/home")
    replay.add("GET", "/api/v1/accounts/verify_credentials", refused)
    with replay.sync_client() as http, pytest.raises(SyncFailed) as failed:
        READER.read(access(), http, plan(), no_progress)
    assert failed.value.needs_reconnection and "The access token is invalid" in failed.value.detail


def test_a_watched_account_from_recorded_answers(replay):
    replay.add("GET", "/api/v1/accounts/lookup", recorded(LOOKUP, "GET", "/api/v1/accounts/lookup", index=1))
    statuses_path = f"/api/v1/accounts/{ACCOUNT_ID}/statuses"
    replay.add("GET", statuses_path, recorded(PAGES, "GET", statuses_path))
    with replay.sync_client() as http:
        profile = PUBLIC_READER.read_public(http, "mastodonpy_test", config={"server": INSTANCE}, limit=3)
    assert (profile.remote_id, profile.handle, profile.followers) == (ACCOUNT_ID, "mastodonpy_test", 0)
    assert profile.url == "http://localhost:3000/@mastodonpy_test" and profile.display_name == "John Lennon"
    assert [post.text for post in profile.posts] == ["Toot number 9!", "Toot number 8!", "Toot number 7!"]
    assert profile.posts[0].values[PostMetric.LIKES] == 0
    lookup, _statuses = replay.seen
    assert "authorization" not in lookup.headers  # a public read: no token sent anywhere

    replay.add("GET", "/api/v1/accounts/lookup", recorded(LOOKUP, "GET", "/api/v1/accounts/lookup", status=404))
    with replay.sync_client() as http, pytest.raises(SyncFailed, match="does not know"):
        PUBLIC_READER.read_public(http, "kljadklajsdkljlkjlkjlkjasdasd", config={"server": INSTANCE}, limit=3)


# The whole sync against the simulator --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server():
    with SimulatorServer() as server:
        yield server


@pytest.fixture
def sim(server):
    server.reset()
    server.configure(rate_limit=None, fail_nth_call=None, revoked_tokens=set(), overrides={}, error_rate=0.0)
    return server


class Mastodon:
    """Accounts acting on the simulated instance through its API, as people do in their apps."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=10)

    def call(self, method: str, path: str, token: str, **kwargs) -> dict:
        response = self.http.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, token: str, text: str, **fields) -> dict:
        return self.call("POST", "/api/v1/statuses", token, data={"status": text, **fields})

    def account(self, token: str) -> dict:
        return self.call("GET", "/api/v1/accounts/verify_credentials", token)


@pytest.fixture
def scene(sim, tenant_a):
    """Alice's channel: a post with a link and one with a picture; Bob and Carol favourite, boost, reply and follow;
    Alice boosts Bob and answers him (neither is a post of her channel)."""
    instance = Mastodon(sim.url)
    started = datetime.now(UTC) - timedelta(seconds=1)
    alice = instance.account("tok-alice")
    link_post = instance.post("tok-alice", "Notre programme d'automne : https://example.org/automne")
    photo_post = instance.post("tok-alice", "La fête du quartier", **{"media_ids[]": "900"})
    for token in ("tok-bob", "tok-carol"):
        instance.call("POST", f"/api/v1/statuses/{link_post['id']}/favourite", token)
        instance.call("POST", f"/api/v1/accounts/{alice['id']}/follow", token)
    instance.call("POST", f"/api/v1/statuses/{link_post['id']}/reblog", "tok-bob")
    instance.post("tok-carol", "Bravo !", in_reply_to_id=link_post["id"])
    instance.call("POST", f"/api/v1/statuses/{photo_post['id']}/favourite", "tok-bob")
    instance.call("POST", f"/api/v1/statuses/{photo_post['id']}/favourite", "tok-alice")  # her own: no notification
    bobs = instance.post("tok-bob", "Un post de Bob")
    instance.call("POST", f"/api/v1/statuses/{bobs['id']}/reblog", "tok-alice")
    instance.post("tok-alice", "Merci Bob", in_reply_to_id=bobs["id"])
    channel = Channel.objects.create(
        organisation=tenant_a.organisation,
        group=tenant_a.local,
        network="mastodon",
        display_name="Centre social (Mastodon)",
        handle="@alice@simulator",
        remote_id=alice["id"],
        config={"instance_url": sim.url, "account_id": alice["id"]},
    )
    # The channel reads with its own token (its rate-limit window is its own; it names the same account).
    channel.credentials = {"access_token": "alice"}
    channel.save()
    yield {
        "instance": instance,
        "channel": channel,
        "alice": alice,
        "link_post": link_post,
        "photo_post": photo_post,
        "started": started,
    }
    instance.http.close()


@pytest.fixture
def http():
    with httpx.Client(timeout=10) as client:
        yield client


def nothing_stored(channel: Channel) -> bool:
    return not (
        ChannelPost.objects.filter(channel=channel).exists()
        or DailyMetric.objects.filter(channel=channel).exists()
        or EngagementEvent.objects.filter(channel=channel).exists()
        or MetricStatus.objects.filter(channel=channel).exists()
        or AudienceBreakdown.objects.filter(channel=channel).exists()
    )


@pytest.mark.django_db
def test_sync_stores_counts_followers_and_engagement_times_and_never_counts_twice(scene, sim, http):
    channel = scene["channel"]
    assert sync_channel_now(channel, http) == InsightsSync.Status.IDLE
    sync = InsightsSync.objects.get(channel=channel)
    assert sync.last_error == "" and sync.calls == 5  # account, 2 pages of statuses, 2 of notifications

    posts = {post.remote_id: post for post in ChannelPost.objects.filter(channel=channel)}
    assert set(posts) == {scene["link_post"]["id"], scene["photo_post"]["id"]}
    link_post = posts[scene["link_post"]["id"]]
    assert (link_post.likes, link_post.comments, link_post.shares, link_post.interactions) == (2, 1, 1, 4)
    assert link_post.post_type == PostType.LINK and link_post.text.startswith("Notre programme")
    assert link_post.url == scene["link_post"]["url"]
    assert link_post.reach is None and link_post.views is None and link_post.saves is None
    assert link_post.unavailable == {"reach": "not_on_network", "views": "not_on_network", "saves": "not_on_network"}
    photo_post = posts[scene["photo_post"]["id"]]
    assert (photo_post.likes, photo_post.post_type) == (2, PostType.PHOTO)  # Bob's favourite and Alice's own

    followers = DailyMetric.objects.get(channel=channel, metric=Metric.FOLLOWERS)
    assert followers.value == 2 and followers.day == timezone.now().date()
    statuses = {status.metric: status for status in MetricStatus.objects.filter(channel=channel)}
    assert statuses[Metric.FOLLOWERS].source_name == "followers_count"
    assert statuses[Metric.REACH].unavailable_reason == Reason.NOT_ON_NETWORK
    assert "no reach" in statuses[Metric.REACH].detail
    assert {row.unavailable_reason for row in AudienceBreakdown.objects.filter(channel=channel)} == {
        Reason.NOT_ON_NETWORK
    }

    events = list(EngagementEvent.objects.filter(channel=channel).select_related("post"))
    assert Counter(event.kind for event in events) == {"like": 3, "share": 1, "reply": 1}
    assert Counter(event.post.remote_id for event in events) == {
        scene["link_post"]["id"]: 4,
        scene["photo_post"]["id"]: 1,
    }
    assert all(scene["started"] <= event.occurred_at <= datetime.now(UTC) for event in events)

    # One more favourite; the notifications are read again from before the first run: each is stored once.
    scene["instance"].call("POST", f"/api/v1/statuses/{scene['photo_post']['id']}/favourite", "tok-carol")
    InsightsSync.objects.filter(channel=channel).update(engagements_until=scene["started"] - timedelta(hours=1))
    assert sync_channel_now(channel, http) == InsightsSync.Status.IDLE
    assert EngagementEvent.objects.filter(channel=channel).count() == 6
    photo_post.refresh_from_db()
    assert photo_post.likes == 3
    assert PostSnapshot.objects.filter(post=photo_post).count() == 2

    # Alice deletes the link post: when it is next due, the 404 ends its reads (else it would stay due for ever)
    # and its numbers stay.
    scene["instance"].call("DELETE", f"/api/v1/statuses/{scene['link_post']['id']}", "tok-alice")
    ChannelPost.objects.filter(pk=link_post.pk).update(next_read_at=timezone.now() - timedelta(minutes=1))
    assert sync_channel_now(channel, http) == InsightsSync.Status.IDLE
    link_post.refresh_from_db()
    assert link_post.next_read_at is None and link_post.likes == 2


@pytest.mark.django_db
def test_a_rate_limit_stores_nothing_and_waits_for_the_reset(scene, sim, http):
    channel = scene["channel"]
    sim.configure(rate_limit=1, rate_window_s=3600)  # the channel's second call is refused
    before = timezone.now()
    assert sync_channel_now(channel, http) == InsightsSync.Status.WAITING
    sync = InsightsSync.objects.get(channel=channel)
    window_end = datetime.fromtimestamp((before.timestamp() // 3600 + 1) * 3600, UTC)
    # Waits until the window's reset (X-RateLimit-Reset / Retry-After), at least a minute.
    assert max(window_end, before + timedelta(seconds=60)) - timedelta(seconds=2) <= sync.next_run_at
    assert sync.next_run_at <= max(window_end, before + timedelta(seconds=60)) + timedelta(seconds=2)
    assert "slow down" in sync.last_error
    assert nothing_stored(channel)
    assert sim.stats()["injected"]["rate_limited"] == 1


@pytest.mark.django_db
def test_a_failure_halfway_stores_nothing_and_the_next_run_stores_everything(scene, sim, http):
    channel = scene["channel"]
    sim.configure(overrides={"alice": {"fail_nth_call": 3}})  # account, first page of statuses, then a 500
    assert sync_channel_now(channel, http) == InsightsSync.Status.FAILED
    sync = InsightsSync.objects.get(channel=channel)
    assert sync.failures == 1 and "500" in sync.last_error
    assert nothing_stored(channel)
    assert sim.stats()["injected"]["failed_call"] == 1

    sim.configure(overrides={})
    assert sync_channel_now(channel, http) == InsightsSync.Status.IDLE
    assert ChannelPost.objects.filter(channel=channel).count() == 2
    assert DailyMetric.objects.get(channel=channel, metric=Metric.FOLLOWERS).value == 2
    assert EngagementEvent.objects.filter(channel=channel).count() == 5
    assert InsightsSync.objects.get(channel=channel).failures == 0


@pytest.mark.django_db
def test_a_revoked_token_marks_the_channel_for_reconnection(scene, sim, http):
    channel = scene["channel"]
    sim.configure(revoked_tokens={"alice"})
    assert sync_channel_now(channel, http) == InsightsSync.Status.FAILED
    channel.refresh_from_db()
    assert channel.status == Channel.Status.NEEDS_RECONNECTION
    assert nothing_stored(channel)


def test_a_watched_account_on_the_simulator(scene, sim, http):
    profile = PUBLIC_READER.read_public(http, "alice", config={"server": sim.url}, limit=10)
    assert (profile.remote_id, profile.followers) == (scene["alice"]["id"], 2)
    # Her posts only: not her boost of Bob's post, not her answer to Bob.
    by_id = {post.remote_id: post for post in profile.posts}
    assert set(by_id) == {scene["link_post"]["id"], scene["photo_post"]["id"]}
    link_post = by_id[scene["link_post"]["id"]]
    assert (link_post.values[PostMetric.LIKES], link_post.values[PostMetric.SHARES]) == (2, 1)
    assert link_post.post_type == PostType.LINK


def test_the_simulator_answers_notifications_in_mastodons_shape(scene, sim):
    recorded_notification = recorded(MENTIONS, "GET", "/api/v1/notifications").json()[0]
    response = scene["instance"].http.get(
        "/api/v1/notifications",
        params=[("types[]", "favourite"), ("limit", "2")],
        headers={"Authorization": "Bearer tok-alice"},
    )
    assert response.status_code == 200
    page = response.json()
    assert [item["type"] for item in page] == ["favourite", "favourite"]
    assert set(recorded_notification) - set(page[0]) == set()  # every field a real instance sends
    assert set(recorded_notification["status"]) - set(page[0]["status"]) <= {
        "quotes_count",  # Mastodon 4.5 fields the simulated 4.3 instance does not have
        "quote",
        "quote_approval",
        "tagged_collections",
    }
    assert int(page[0]["id"]) > int(page[1]["id"])  # newest first
    assert f"max_id={page[1]['id']}" in response.headers["link"]
    older = scene["instance"].http.get(
        "/api/v1/notifications",
        params=[("types[]", "favourite"), ("max_id", page[1]["id"])],
        headers={"Authorization": "Bearer tok-alice"},
    )
    assert [item["type"] for item in older.json()] == ["favourite"]
