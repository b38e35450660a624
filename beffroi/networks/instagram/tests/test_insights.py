"""Instagram statistics: through the real sync against the Graph simulator (backfill, posts of every type, online
followers, demographics, deprecated names, an account under 100 followers, rate limits, a failure halfway), then
against recorded answers replayed exactly."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from django.utils import timezone

from beffroi.insights.base import SyncPlan, Unavailable
from beffroi.insights.metrics import Metric, PostMetric, PostType, Reason
from beffroi.insights.models import AudienceBreakdown, ChannelPost, EngagementEvent, InsightsSync, OnlineHours
from beffroi.insights.sync import sync_channel_now
from beffroi.networks.base import ChannelAccess
from beffroi.networks.graph.insights import since_until
from beffroi.networks.graph.tests.insights_support import (
    NOTHING,
    channel,
    days,
    every_day,
    network_of,
    run_once,
    status,
    stored_counts,
)
from beffroi.networks.graph.tests.replay import Expect, Replay, load, meta_error
from beffroi.networks.instagram.insights import READER
from beffroi.networks.registry import insights_reader_for, public_reader_for
from beffroi.simulator import SimulatorServer
from beffroi.simulator.graph import (
    GraphNetwork,
    audience_counts,
    daily_value,
    followers_of,
    online_hours,
    pacific_today,
    post_value,
)

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).parent / "fixtures"
V = "/v24.0"
NOT_ENOUGH_VIEWERS = "(#10) Not enough viewers for the media to show insights"
# Daily measures read one day at a time (total_value) or kept 30 days by Meta, and where their numbers come from.
RECENT = {
    Metric.VIEWS: ("views", "views"),
    Metric.INTERACTIONS: ("total_interactions", "total_interactions"),
    Metric.FOLLOWS: ("follower_count", "follows"),
    Metric.UNFOLLOWS: ("follows_and_unfollows", "unfollows"),
}


@pytest.fixture(autouse=True)
def graph_version(settings):
    settings.BEFFROI_GRAPH_API_VERSION = "v24.0"


@pytest.fixture
def graph():
    with SimulatorServer(networks=[GraphNetwork]) as server:
        yield server


def seed_posts(server: SimulatorServer, name: str = "alice") -> dict[str, str]:
    simulated = network_of(server)
    ids = {
        kind: simulated.seed_post(name, "instagram", kind, age_s=5 * 3600, text=f"Légende {kind}")
        for kind in ("image", "carousel", "reel", "story")
    }
    ids["small"] = simulated.seed_post(name, "instagram", "image", age_s=7 * 3600, text="Peu vu", few_viewers=True)
    return ids


def test_the_registry_finds_the_reader_and_no_public_reader():
    assert insights_reader_for("instagram") is READER
    assert READER.reporting_zone == "America/Los_Angeles" and READER.history_days == 730
    assert set(READER.account_metrics) == set(Metric)
    assert public_reader_for("instagram") is None  # Meta grants Page Public Content Access to no such app


# Through the real sync, against the simulator ------------------------------------------------------------------


def test_an_account_is_backfilled_with_its_posts_online_hours_audience_and_comments(tenant_a, graph):
    ids = seed_posts(graph)
    account = channel(tenant_a, "instagram", graph.url)
    with httpx.Client() as http:
        assert sync_channel_now(account, http) == InsightsSync.Status.IDLE
    today = pacific_today()
    two_years = every_day(today - timedelta(days=730), today - timedelta(days=1))
    last_30 = every_day(today - timedelta(days=30), today - timedelta(days=1))
    assert status(account, Metric.REACH).source_name == "reach"
    assert days(account, Metric.REACH) == {day: daily_value("alice", "reach", day) for day in two_years}
    for metric, (name, source) in RECENT.items():
        assert status(account, metric).source_name == name
        assert days(account, metric) == {day: daily_value("alice", source, day) for day in last_30}
    assert status(account, Metric.FOLLOWERS).source_name == "followers_count"
    assert days(account, Metric.FOLLOWERS) == {today: followers_of("alice", "instagram")}

    posts = {post.remote_id: post for post in ChannelPost.objects.filter(channel=account)}
    assert {kind: posts[ids[kind]].post_type for kind in ids} == {
        "image": PostType.PHOTO,
        "carousel": PostType.CAROUSEL,
        "reel": PostType.REEL,
        "story": PostType.STORY,
        "small": PostType.PHOTO,
    }
    for kind in ("image", "carousel", "reel"):
        post, remote_id = posts[ids[kind]], ids[kind]
        assert post.likes == post_value(remote_id, "likes")
        assert post.comments == EngagementEvent.objects.filter(post=post).count()  # every comment dated once
        assert (post.views, post.reach) == (post_value(remote_id, "views"), post_value(remote_id, "reach"))
        assert (post.shares, post.saves) == (post_value(remote_id, "shares"), post_value(remote_id, "saved"))
        assert post.interactions == post.likes + post.comments + post.shares + post.saves
        assert post.unavailable == {} and post.text == f"Légende {kind}"
    story = posts[ids["story"]]
    assert story.comments == post_value(ids["story"], "replies") and story.views == post_value(ids["story"], "views")
    assert story.likes is None and story.saves is None
    assert story.unavailable == {"likes": "not_on_network", "saves": "not_on_network"}
    small = posts[ids["small"]]
    assert small.likes == post_value(ids["small"], "likes") and small.views is None and small.reach is None
    assert small.unavailable == {
        metric: "not_enough_viewers" for metric in ("views", "reach", "shares", "saves", "interactions")
    }
    assert EngagementEvent.objects.filter(channel=account).count() > 0

    online = {row.day: row for row in OnlineHours.objects.filter(channel=account)}
    assert sorted(online) == every_day(today - timedelta(days=28), today - timedelta(days=1))
    for day, row in online.items():
        assert row.zone == "America/Los_Angeles" and row.hours == online_hours("alice", day)

    audience = {row.dimension: row for row in AudienceBreakdown.objects.filter(channel=account)}
    assert audience["age_gender"].counts == audience_counts("alice", "instagram", "age,gender")
    assert audience["age_gender"].counts["F.25-34"] > 0
    assert audience["country"].counts == audience_counts("alice", "instagram", "country")
    assert audience["city"].counts == audience_counts("alice", "instagram", "city")
    assert audience["language"].unavailable_reason == "not_on_network" and audience["language"].counts == {}


def test_impressions_refused_early_falls_back_to_views_and_the_other_measures_are_kept(tenant_a, graph, settings):
    # On 1 March 2025 with API v21, `impressions` was announced until 2025-04-21, so it is asked first; this
    # account already answers "(#100) metric[0] must be one of the following values: …".
    settings.BEFFROI_GRAPH_API_VERSION = "v21.0"
    account = channel(tenant_a, "instagram", graph.url)
    with httpx.Client() as http:
        outcome, sync = run_once(
            account, http, datetime(2025, 3, 1, 19, tzinfo=UTC), stored=(date(2025, 2, 1), date(2025, 2, 20))
        )
    assert outcome == InsightsSync.Status.IDLE
    window = every_day(date(2025, 2, 17), date(2025, 2, 28))
    assert status(account, Metric.VIEWS).source_name == "views"
    assert days(account, Metric.VIEWS) == {day: daily_value("alice", "views", day) for day in window}
    assert days(account, Metric.REACH) == {day: daily_value("alice", "reach", day) for day in window}
    assert days(account, Metric.UNFOLLOWS) == {day: daily_value("alice", "unfollows", day) for day in window}
    assert sync.days_until == date(2025, 2, 28)


def test_an_account_under_100_followers_is_stored_as_withheld_never_as_zero(tenant_a, graph):
    account = channel(tenant_a, "instagram", graph.url, name="fewalice")
    with httpx.Client() as http:
        assert sync_channel_now(account, http) == InsightsSync.Status.IDLE
    for metric in (Metric.FOLLOWS, Metric.UNFOLLOWS):
        withheld = status(account, metric)
        assert withheld.unavailable_reason == "too_few_followers"
        assert "fewer than 100 followers (this one has 37)" in withheld.detail
        assert days(account, metric) == {}
    # What Meta still gives is kept: reach, and the follower count itself.
    assert status(account, Metric.REACH).source_name == "reach" and len(days(account, Metric.REACH)) == 730
    assert days(account, Metric.FOLLOWERS) == {pacific_today(): 37}
    audience = {
        row.dimension: (row.unavailable_reason, row.counts) for row in AudienceBreakdown.objects.filter(channel=account)
    }
    assert audience == {
        "age_gender": ("too_few_followers", {}),
        "country": ("too_few_followers", {}),
        "city": ("too_few_followers", {}),
        "language": ("not_on_network", {}),
    }
    assert not OnlineHours.objects.filter(channel=account).exists()


def test_a_rate_limit_stores_nothing_and_the_sync_waits(tenant_a, graph):
    seed_posts(graph)
    account = channel(tenant_a, "instagram", graph.url)
    graph.configure(rate_limit=6, rate_window_s=3600)
    before = timezone.now()
    with httpx.Client() as http:
        assert sync_channel_now(account, http) == InsightsSync.Status.WAITING
        sync = InsightsSync.objects.get(channel=account)
        assert before + timedelta(seconds=60) <= sync.next_run_at <= timezone.now() + timedelta(hours=1)
        assert stored_counts(account) == NOTHING

        graph.configure(rate_limit=None)
        assert sync_channel_now(account, http) == InsightsSync.Status.IDLE
    assert stored_counts(account)["posts"] == 5 and stored_counts(account)["online"] == 28


@pytest.mark.parametrize(
    "failure",
    [{"fail_call": 5}, {"fail_when": "metric=online_followers"}],  # during reach; after posts and demographics
    ids=["fifth-call", "after-posts-and-audience"],
)
def test_a_failure_halfway_stores_nothing_and_the_next_run_stores_everything(tenant_a, graph, failure):
    seed_posts(graph)
    account = channel(tenant_a, "instagram", graph.url)
    network_of(graph).configure_insights(**failure)
    with httpx.Client() as http:
        assert sync_channel_now(account, http) == InsightsSync.Status.FAILED
        assert stored_counts(account) == NOTHING
        assert InsightsSync.objects.get(channel=account).audience_read_on is None

        assert sync_channel_now(account, http) == InsightsSync.Status.IDLE
    stored = stored_counts(account)
    assert stored["posts"] == 5 and stored["audience"] == 4 and stored["online"] == 28
    assert stored["daily"] == 730 + 4 * 30 + 1 and stored["engagements"] > 0


# Recorded and written answers, replayed exactly ------------------------------------------------------------------

IG = "17841406338772941"  # the account of the recorded media list


def plan(**given) -> SyncPlan:
    values = {"channel_id": 1, "today": date(2017, 5, 5), "days_from": None, "days_until": None, "posts_since": None}
    return SyncPlan(**{**values, **given})


def read(replay: Replay, the_plan: SyncPlan):
    access = ChannelAccess(
        1, "instagram", {"ig_user_id": IG, "api_host": "https://graph.facebook.com"}, {"access_token": "t"}
    )
    with replay.client() as http:
        batch = READER.read(access, http, the_plan, lambda *step: None)
    replay.assert_done()
    return batch


def total(name: str, value: int, parts: dict[str, int] | None = None) -> dict:
    """A total_value answer in Meta's documented shape (written for these tests)."""
    found: dict = {"value": value}
    if parts is not None:
        found["breakdowns"] = [
            {
                "dimension_keys": ["follow_type"],
                "results": [{"dimension_values": [k], "value": v} for k, v in parts.items()],
            }
        ]
    return {"data": [{"name": name, "period": "day", "total_value": found, "id": f"{IG}/insights/{name}/day"}]}


def test_recorded_account_insights_give_pacific_days_and_a_removed_metric_is_never_taken_for_its_replacement():
    replay = Replay(
        Expect("GET", f"{V}/{IG}", {"id": IG, "followers_count": 1500, "media_count": 2}),
        # Recorded in 2017: impressions, reach and profile_views by day; only reach is taken from it.
        Expect("GET", f"{V}/{IG}/insights", load(FIXTURES, "user_insights.json")),
        Expect("GET", f"{V}/{IG}/insights", total("views", 210)),
        # Recorded: a `reach` total with breakdowns, as the answer to `views`: not views, so no value.
        Expect("GET", f"{V}/{IG}/insights", load(FIXTURES, "user_insights_new.json")),
        Expect("GET", f"{V}/{IG}/insights", meta_error(10, "(#10) Application does not have permission"), status=400),
        Expect("GET", f"{V}/{IG}/insights", {"data": []}),
        Expect("GET", f"{V}/{IG}/insights", total("follows_and_unfollows", 3, {"FOLLOWER": 3})),
        Expect("GET", f"{V}/{IG}/insights", total("follows_and_unfollows", 5, {"FOLLOWER": 3, "NON_FOLLOWER": 2})),
    )
    first, last = date(2017, 5, 3), date(2017, 5, 4)
    batch = read(replay, plan(days_from=first, days_until=last))
    assert replay.params(1) == {"metric": "reach", "period": "day", **since_until(first, last)}
    assert replay.params(2) == {
        "metric": "views",
        "period": "day",
        "metric_type": "total_value",
        **since_until(first, first),
    }
    assert replay.params(6)["breakdown"] == "follow_type" and replay.params(6)["metric"] == "follows_and_unfollows"
    # "2017-05-04T07:00:00+0000" closes 3 May in Pacific time; the recorded impressions (4, 66) are not views.
    assert batch.days == {
        (Metric.REACH, first): 3,
        (Metric.REACH, last): 36,
        (Metric.VIEWS, first): 210,
        (Metric.UNFOLLOWS, first): 0,  # Meta gave the day's total and only the follows part
        (Metric.UNFOLLOWS, last): 2,
    }
    assert batch.followers_now == 1500 and batch.metric_status[Metric.FOLLOWERS] == "followers_count"
    assert batch.metric_status[Metric.VIEWS] == "views" and batch.metric_status[Metric.FOLLOWS] == "follower_count"
    assert batch.metric_status[Metric.INTERACTIONS] == Unavailable(
        Reason.NO_PERMISSION, "(#10) Application does not have permission"
    )
    assert batch.calls == 8


def test_recorded_media_give_their_counts_not_enough_viewers_withholds_a_post_and_comments_are_dated():
    replay = Replay(
        Expect("GET", f"{V}/{IG}", {"id": IG, "followers_count": 1500}),
        Expect("GET", f"{V}/{IG}/media", load(FIXTURES, "medias_p1.json")),
        Expect("GET", f"/v6.0/{IG}/media", load(FIXTURES, "medias_p2.json")),
        Expect("GET", f"{V}/{IG}/stories", {"data": []}),
        # The first post: recorded pre-2025 insights (impressions, reach, saved) answer views, reach, saved.
        Expect("GET", f"{V}/17895731045244887/insights", load(FIXTURES, "media_insights.json")),
        Expect("GET", f"{V}/17895731045244887/insights", load(FIXTURES, "media_insights.json")),
        Expect(
            "GET",
            f"{V}/17895731045244887/insights",
            {"data": [{"name": "shares", "period": "lifetime", "values": [{"value": 1}]}]},
        ),
        Expect("GET", f"{V}/17895731045244887/insights", load(FIXTURES, "media_insights.json")),
        Expect("GET", f"{V}/17895731045244887/insights", load(FIXTURES, "media_insights_new.json")),
        # The second: Meta withholds its insights (error written in Meta's documented shape).
        Expect("GET", f"{V}/17896622936197745/insights", meta_error(10, NOT_ENOUGH_VIEWERS), status=400),
        Expect("GET", f"{V}/17896622936197745/comments", load(FIXTURES, "media_comments_p1.json")),
        Expect("GET", "/v11.0/17846368219941692/comments", load(FIXTURES, "media_comments_p2.json")),
    )
    batch = read(
        replay,
        plan(
            today=date(2021, 8, 14),
            posts_since=datetime(2021, 8, 13, tzinfo=UTC),
            engagements_since=datetime(2020, 6, 1, 10, tzinfo=UTC),
        ),
    )
    assert [replay.params(n)["metric"] for n in range(4, 9)] == [
        "views",
        "reach",
        "shares",
        "saved",
        "total_interactions",
    ]
    first, second = batch.posts
    assert (first.remote_id, first.post_type, first.url) == (
        "17895731045244887",
        PostType.PHOTO,
        "https://www.instagram.com/p/CSgf9BChwVq/",
    )
    assert first.published_at == datetime(2021, 8, 13, 8, 25, 28, tzinfo=UTC)
    assert first.values == {
        PostMetric.LIKES: 0,
        PostMetric.COMMENTS: 0,
        PostMetric.REACH: 5,
        PostMetric.SHARES: 1,
        PostMetric.SAVES: 0,
    }
    # The recorded answer holds impressions, not views: views stays unavailable, never filled from impressions.
    assert {metric: why.reason for metric, why in first.unavailable.items()} == {
        PostMetric.VIEWS: Reason.NOT_COLLECTED,
        PostMetric.INTERACTIONS: Reason.NOT_COLLECTED,
    }
    assert second.values == {PostMetric.LIKES: 2, PostMetric.COMMENTS: 6}
    assert set(second.unavailable) == {
        PostMetric.VIEWS,
        PostMetric.REACH,
        PostMetric.SHARES,
        PostMetric.SAVES,
        PostMetric.INTERACTIONS,
    }
    assert all(why == Unavailable(Reason.NOT_ENOUGH_VIEWERS, NOT_ENOUGH_VIEWERS) for why in second.unavailable.values())
    # Comments since 1 June 2020 10:00 UTC, both pages read; the older page's comments are left out.
    assert [(e.remote_id, e.kind, e.occurred_at, e.post_remote_id) for e in batch.engagements] == [
        ("17858154961981086", "comment", datetime(2020, 6, 1, 10, 56, 52, tzinfo=UTC), "17896622936197745"),
        ("17874875428706419", "comment", datetime(2020, 6, 1, 10, 16, 39, tzinfo=UTC), "17896622936197745"),
    ]


def test_a_rate_limit_without_a_time_to_regain_access_waits_a_minute(tenant_a):
    account = channel(tenant_a, "instagram", "https://graph.facebook.com", name="bob")
    replay = Replay(
        Expect(
            "GET",
            f"{V}/{account.config['ig_user_id']}",
            meta_error(4, "Application request limit reached", type="IGApiException", is_transient=True),
            status=400,
            headers={"X-App-Usage": json.dumps({"call_count": 100, "total_cputime": 25, "total_time": 25})},
        )
    )
    now = datetime(2026, 11, 22, 10, tzinfo=UTC)
    with replay.client() as http:
        outcome, sync = run_once(account, http, now)
    assert outcome == InsightsSync.Status.WAITING and sync.next_run_at == now + timedelta(seconds=60)
    assert "Instagram: Application request limit reached" in sync.last_error
    assert stored_counts(account) == NOTHING
