"""Facebook Page statistics: through the real sync against the Graph simulator (backfill, deprecated names, a Page
under 100 followers, rate limits, a failure halfway), then against recorded answers replayed exactly."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from django.utils import timezone

from beffroi.channels.models import Channel
from beffroi.insights.base import SyncFailed, SyncPlan, Unavailable
from beffroi.insights.metrics import Metric, PostMetric, PostType, Reason
from beffroi.insights.models import AudienceBreakdown, ChannelPost, EngagementEvent, InsightsSync, OnlineHours
from beffroi.insights.sync import sync_channel_now
from beffroi.networks.base import ChannelAccess
from beffroi.networks.facebook.insights import READER
from beffroi.networks.graph.insights import pacific_midnight
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
from beffroi.networks.registry import insights_reader_for, public_reader_for
from beffroi.simulator import SimulatorServer
from beffroi.simulator.graph import (
    REMOVED_METRICS,
    GraphNetwork,
    audience_counts,
    daily_value,
    follows_level,
    pacific_today,
    post_value,
)

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).parent / "fixtures"
V = "/v24.0"
INVALID = "(#100) The value must be a valid insights metric"
# A Page's posts of every type, and the type Beffroi files each under.
POST_TYPES = {
    "text": PostType.TEXT,
    "photo": PostType.PHOTO,
    "album": PostType.CAROUSEL,
    "video": PostType.VIDEO,
    "reel": PostType.REEL,
    "link": PostType.LINK,
}
TODAYS_NAMES = {
    Metric.REACH: "page_total_media_view_unique",
    Metric.VIEWS: "page_media_view",
    Metric.INTERACTIONS: "page_post_engagements",
    Metric.FOLLOWS: "page_daily_follows_unique",
    Metric.UNFOLLOWS: "page_daily_unfollows_unique",
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
    return {
        kind: simulated.seed_post(name, "facebook", kind, age_s=3 * 86400, text=f"Post {kind}") for kind in POST_TYPES
    }


def test_the_registry_finds_the_reader_and_no_public_reader():
    assert insights_reader_for("facebook") is READER
    assert READER.reporting_zone == "America/Los_Angeles" and READER.history_days == 730
    assert set(READER.account_metrics) == set(Metric)
    assert public_reader_for("facebook") is None  # Meta grants Page Public Content Access to no such app


# Through the real sync, against the simulator ------------------------------------------------------------------


def test_a_page_is_backfilled_over_two_years_of_pacific_days_with_its_posts_audience_and_comments(tenant_a, graph):
    ids = seed_posts(graph)
    page = channel(tenant_a, "facebook", graph.url)
    with httpx.Client() as http:
        assert sync_channel_now(page, http) == InsightsSync.Status.IDLE
    today = pacific_today()
    two_years = every_day(today - timedelta(days=730), today - timedelta(days=1))
    for metric, name in TODAYS_NAMES.items():
        assert status(page, metric).source_name == name  # removed names are not even asked any more
        assert days(page, metric) == {day: daily_value("alice", name, day) for day in two_years}
    assert status(page, Metric.FOLLOWERS).source_name == "page_follows"
    assert days(page, Metric.FOLLOWERS) == {day: follows_level("alice", day, today) for day in two_years}
    sync = InsightsSync.objects.get(channel=page)
    assert (sync.days_from, sync.days_until) == (two_years[0], two_years[-1])
    assert sync.next_run_at > timezone.now() + timedelta(hours=5) and sync.progress == {} and sync.calls > 60

    posts = {post.remote_id: post for post in ChannelPost.objects.filter(channel=page)}
    assert {posts[remote_id].post_type for remote_id in ids.values()} == set(POST_TYPES.values())
    for kind, remote_id in ids.items():
        post = posts[remote_id]
        assert post.post_type == POST_TYPES[kind] and post.text == f"Post {kind}"
        assert post.likes == post_value(remote_id, "reactions")
        assert post.shares == post_value(remote_id, "share_count")
        assert post.comments == EngagementEvent.objects.filter(post=post, kind="comment").count()  # each comment dated
        assert post.interactions == post.likes + post.comments + post.shares
        assert post.views == post_value(remote_id, "post_media_view")
        assert post.reach == post_value(remote_id, "post_total_media_view_unique")
        assert post.saves is None and post.unavailable == {"saves": "not_on_network"}
        assert post.snapshots.count() == 1
    assert EngagementEvent.objects.filter(channel=page).count() == sum(post.comments for post in posts.values()) > 0

    audience = {row.dimension: row for row in AudienceBreakdown.objects.filter(channel=page)}
    assert audience["country"].counts == audience_counts("alice", "facebook", "country")
    assert (
        audience["city"].counts["Valenciennes, Hauts-de-France"]
        == audience_counts("alice", "facebook", "city")["Valenciennes, Hauts-de-France"]
    )
    for removed in ("age_gender", "language"):
        assert audience[removed].unavailable_reason == "deprecated" and audience[removed].counts == {}
    assert "2024-03-14" in audience["age_gender"].detail
    assert not OnlineHours.objects.filter(channel=page).exists()  # Pages have no "when your fans are online" now


def test_a_name_meta_removed_early_falls_back_to_its_replacement_and_the_other_measures_are_kept(tenant_a, graph):
    # On 1 October 2025, page_impressions, page_fans… were announced until 2025-11-15 and the reach family until
    # 2026-06-15, so they are asked first; this Page already answers "(#100) … valid insights metric" for them.
    # It refuses page_daily_unfollows_unique as well: no name is left for unfollows.
    network_of(graph).configure_insights(removed_metrics=REMOVED_METRICS | {"page_daily_unfollows_unique"})
    page = channel(tenant_a, "facebook", graph.url)
    with httpx.Client() as http:
        outcome, sync = run_once(
            page, http, datetime(2025, 10, 1, 19, tzinfo=UTC), stored=(date(2025, 9, 1), date(2025, 9, 20))
        )
    assert outcome == InsightsSync.Status.IDLE
    window = every_day(date(2025, 9, 17), date(2025, 9, 30))  # the last days again, then up to yesterday
    for metric, name in TODAYS_NAMES.items():
        if metric == Metric.UNFOLLOWS:
            continue
        assert status(page, metric).source_name == name
        assert days(page, metric) == {day: daily_value("alice", name, day) for day in window}
    assert days(page, Metric.FOLLOWERS) == {day: follows_level("alice", day) for day in window}
    unfollows = status(page, Metric.UNFOLLOWS)
    assert unfollows.unavailable_reason == "deprecated" and days(page, Metric.UNFOLLOWS) == {}
    assert f"page_fan_removes_unique: {INVALID}" in unfollows.detail
    assert f"page_daily_unfollows_unique: {INVALID}" in unfollows.detail
    assert sync.days_until == date(2025, 9, 30)


def test_a_page_under_100_followers_is_stored_as_withheld_never_as_zero(tenant_a, graph):
    page = channel(tenant_a, "facebook", graph.url, name="fewalice")
    with httpx.Client() as http:
        assert sync_channel_now(page, http) == InsightsSync.Status.IDLE
    for metric in Metric:
        withheld = status(page, metric)
        assert withheld.unavailable_reason == "too_few_followers", metric
        assert "fewer than 100 followers (this one has 42)" in withheld.detail
    assert stored_counts(page)["daily"] == 0
    audience = {row.dimension: row for row in AudienceBreakdown.objects.filter(channel=page)}
    assert {dimension: row.unavailable_reason for dimension, row in audience.items()} == {
        "country": "too_few_followers",
        "city": "too_few_followers",
        "age_gender": "deprecated",
        "language": "deprecated",
    }
    assert all(row.counts == {} for row in audience.values())


def test_a_rate_limit_stores_nothing_and_the_sync_waits_as_meta_says(tenant_a, graph):
    seed_posts(graph)
    page = channel(tenant_a, "facebook", graph.url)
    graph.configure(rate_limit=4, rate_window_s=3600)  # the fifth call answers (#4) with the BUC usage header
    before = timezone.now()
    with httpx.Client() as http:
        assert sync_channel_now(page, http) == InsightsSync.Status.WAITING
        sync = InsightsSync.objects.get(channel=page)
        assert (
            sync.status == InsightsSync.Status.WAITING and "(#4) Application request limit reached" in sync.last_error
        )
        assert before + timedelta(seconds=60) <= sync.next_run_at <= timezone.now() + timedelta(hours=1)
        assert stored_counts(page) == NOTHING and sync.days_until is None

        graph.configure(rate_limit=None)
        assert sync_channel_now(page, http) == InsightsSync.Status.IDLE
    assert stored_counts(page)["daily"] == 6 * 730 and stored_counts(page)["posts"] == 6


@pytest.mark.parametrize(
    "failure",
    [{"fail_call": 5}, {"fail_when": "metric=page_follows_city"}],  # during the daily metrics; after the posts
    ids=["fifth-call", "after-posts-and-countries"],
)
def test_a_failure_halfway_stores_nothing_and_the_next_run_stores_everything(tenant_a, graph, failure):
    seed_posts(graph)
    page = channel(tenant_a, "facebook", graph.url)
    network_of(graph).configure_insights(**failure)
    with httpx.Client() as http:
        assert sync_channel_now(page, http) == InsightsSync.Status.FAILED
        sync = InsightsSync.objects.get(channel=page)
        assert sync.failures == 1 and "temporary error" in sync.last_error and sync.days_until is None
        assert stored_counts(page) == NOTHING

        assert sync_channel_now(page, http) == InsightsSync.Status.IDLE
    stored = stored_counts(page)
    # Six measures and whether followers online per hour are given (Facebook: removed).
    assert stored["daily"] == 6 * 730 and stored["statuses"] == 7 and stored["posts"] == 6
    assert stored["audience"] == 4 and stored["engagements"] > 0


def test_a_post_deleted_on_facebook_keeps_its_history_and_is_no_longer_asked(tenant_a, graph):
    ids = seed_posts(graph)
    page = channel(tenant_a, "facebook", graph.url)
    with httpx.Client() as http:
        assert sync_channel_now(page, http) == InsightsSync.Status.IDLE
        network_of(graph).items[ids["photo"]].deleted = True
        ChannelPost.objects.filter(channel=page).update(next_read_at=timezone.now() - timedelta(minutes=1))
        assert sync_channel_now(page, http) == InsightsSync.Status.IDLE
    gone = ChannelPost.objects.get(channel=page, remote_id=ids["photo"])
    assert gone.next_read_at is None and gone.snapshots.count() == 1
    assert gone.likes == post_value(ids["photo"], "reactions")  # what was read before stays
    kept = ChannelPost.objects.get(channel=page, remote_id=ids["text"])
    assert kept.next_read_at > timezone.now() and kept.metrics_read_at > gone.metrics_read_at  # read again


# Recorded and written answers, replayed exactly ------------------------------------------------------------------

PAGE = "19292868552"  # the Page of the recorded feed


def plan(**given) -> SyncPlan:
    values = {
        "channel_id": 1,
        "today": date(2026, 11, 22),
        "days_from": None,
        "days_until": None,
        "posts_since": None,
    }
    return SyncPlan(**{**values, **given})


def access(page_id: str = PAGE) -> ChannelAccess:
    return ChannelAccess(
        1, "facebook", {"page_id": page_id, "api_host": "https://graph.facebook.com"}, {"access_token": "t"}
    )


def daily(name: str, node: str, values: dict[str, int]) -> dict:
    """A Page insight by day, in Meta's documented shape (written for these tests: nothing recorded holds one)."""
    return {
        "data": [
            {
                "name": name,
                "period": "day",
                "values": [{"value": value, "end_time": end} for end, value in values.items()],
                "title": name,
                "id": f"{node}/insights/{name}/day",
            }
        ]
    }


def lifetime(name: str, node: str, value: int) -> dict:
    return {
        "data": [
            {"name": name, "period": "lifetime", "values": [{"value": value}], "id": f"{node}/insights/{name}/lifetime"}
        ]
    }


def read(replay: Replay, the_plan: SyncPlan, page_id: str = PAGE):
    steps: list[tuple[str, int, int]] = []
    with replay.client() as http:
        batch = READER.read(access(page_id), http, the_plan, lambda *step: steps.append(step))
    replay.assert_done()
    return batch, steps


def test_recorded_posts_give_their_types_and_counts_and_a_refused_name_is_not_asked_again():
    feed = load(FIXTURES, "feeds_default_fields_p1.json")
    ids = [item["id"] for item in feed["data"]]
    expected = [
        Expect("GET", f"{V}/{PAGE}", {"id": PAGE, "followers_count": 5600000}),
        Expect("GET", f"{V}/{PAGE}/posts", feed),
        # Meta's `next` address (another version, /feed): followed on the same host; its first post is older.
        Expect("GET", f"/v10.0/{PAGE}/feed", load(FIXTURES, "feeds_default_fields_p2.json")),
        Expect("GET", f"{V}/{ids[0]}/insights", meta_error(100, INVALID), status=400),
    ]
    for n, remote_id in enumerate(ids):
        expected.append(Expect("GET", f"{V}/{remote_id}/insights", lifetime("post_media_view", remote_id, 1000 + n)))
        expected.append(
            Expect("GET", f"{V}/{remote_id}/insights", lifetime("post_impressions_unique", remote_id, 500 + n))
        )
    replay = Replay(*expected)
    # October 2025: post_impressions was announced until 2025-11-15; this Page refuses it already.
    batch, steps = read(replay, plan(today=date(2025, 10, 1), posts_since=datetime(2021, 6, 30, tzinfo=UTC)))
    assert replay.params(1)["fields"].startswith("id,created_time,message,permalink_url,status_type,attachments")
    assert replay.params(1)["since"] == str(int(datetime(2021, 6, 30, tzinfo=UTC).timestamp()))
    assert replay.params(3) == {"metric": "post_impressions", "period": "lifetime"}
    assert replay.params(4)["metric"] == "post_media_view" and replay.params(5)["metric"] == "post_impressions_unique"
    assert [post.post_type for post in batch.posts] == [
        PostType.PHOTO,
        PostType.LINK,
        PostType.PHOTO,
        PostType.PHOTO,
        PostType.VIDEO,
    ]
    assert [post.values[PostMetric.LIKES] for post in batch.posts] == [125, 131, 143, 178, 179]
    assert [post.values[PostMetric.COMMENTS] for post in batch.posts] == [13, 17, 15, 23, 49]
    assert [post.values[PostMetric.SHARES] for post in batch.posts] == [10, 6, 15, 16, 15]
    assert [post.values[PostMetric.INTERACTIONS] for post in batch.posts] == [148, 154, 173, 217, 243]
    assert [post.values[PostMetric.VIEWS] for post in batch.posts] == [1000, 1001, 1002, 1003, 1004]
    assert [post.values[PostMetric.REACH] for post in batch.posts] == [500, 501, 502, 503, 504]
    first = batch.posts[0]
    assert first.published_at == datetime(2021, 7, 9, 19, 9, 52, tzinfo=UTC)
    assert first.url == "https://www.facebook.com/19292868552/posts/10158349356748553/"
    assert first.unavailable[PostMetric.SAVES].reason == Reason.NOT_ON_NETWORK
    assert ("posts", 5, 5) in steps and batch.calls == len(expected)


def test_todays_names_only_each_metric_in_its_own_request_and_one_refusal_breaks_no_other():
    node = "1010"
    replay = Replay(
        Expect("GET", f"{V}/{node}", {"id": node, "followers_count": 1523}),
        # Written in Meta's documented shapes: end_time is the end of the Pacific day (08:00 UTC in November).
        Expect(
            "GET",
            f"{V}/{node}/insights",
            daily(
                "page_total_media_view_unique", node, {"2026-11-21T08:00:00+0000": 410, "2026-11-22T08:00:00+0000": 388}
            ),
        ),
        Expect("GET", f"{V}/{node}/insights", meta_error(100, INVALID), status=400),
        Expect("GET", f"{V}/{node}/insights", meta_error(200, "(#200) Requires read_insights permission"), status=403),
        Expect(
            "GET",
            f"{V}/{node}/insights",
            daily("page_follows", node, {"2026-11-21T08:00:00+0000": 1520, "2026-11-22T08:00:00+0000": 1523}),
        ),
        Expect("GET", f"{V}/{node}/insights", {"data": []}),
        Expect(
            "GET",
            f"{V}/{node}/insights",
            daily("page_daily_unfollows_unique", node, {"2026-11-21T08:00:00+0000": 2, "2026-11-22T08:00:00+0000": 0}),
        ),
    )
    first, last = date(2026, 11, 20), date(2026, 11, 21)
    batch, steps = read(replay, plan(days_from=first, days_until=last), node)
    asked = [replay.params(n) for n in range(1, 7)]
    assert [params["metric"] for params in asked] == [
        "page_total_media_view_unique",
        "page_media_view",
        "page_post_engagements",
        "page_follows",
        "page_daily_follows_unique",
        "page_daily_unfollows_unique",
    ]
    assert all(params["period"] == "day" for params in asked)
    assert (
        asked[0]["since"] == str(pacific_midnight(first)) == str(int(datetime(2026, 11, 20, 8, tzinfo=UTC).timestamp()))
    )
    assert asked[0]["until"] == str(pacific_midnight(date(2026, 11, 22)))
    assert batch.days == {
        (Metric.REACH, first): 410,
        (Metric.REACH, last): 388,
        (Metric.FOLLOWERS, first): 1520,
        (Metric.FOLLOWERS, last): 1523,
        (Metric.UNFOLLOWS, first): 2,
        (Metric.UNFOLLOWS, last): 0,  # a zero Meta gave is a zero
    }
    views = batch.metric_status[Metric.VIEWS]
    assert isinstance(views, Unavailable) and views.reason == Reason.DEPRECATED and INVALID in views.detail
    assert batch.metric_status[Metric.INTERACTIONS] == Unavailable(
        Reason.NO_PERMISSION, "(#200) Requires read_insights permission"
    )
    assert batch.metric_status[Metric.FOLLOWS] == "page_daily_follows_unique"  # nothing for these days, not zero
    assert batch.metric_status[Metric.REACH] == "page_total_media_view_unique"
    assert steps[0] == ("account metrics", 0, 6) and steps[-1] == ("account metrics", 6, 6)


def test_a_refused_list_of_posts_stops_the_run_with_metas_words():
    # Written in Meta's documented shape: the token lacks the permission to read the Page's posts.
    words = "(#10) This endpoint requires the 'pages_read_engagement' permission"
    replay = Replay(
        Expect("GET", f"{V}/{PAGE}", {"id": PAGE, "followers_count": 5600000}),
        Expect("GET", f"{V}/{PAGE}/posts", meta_error(10, words), status=403),
    )
    with pytest.raises(SyncFailed) as failed:
        read(replay, plan(posts_since=datetime(2026, 11, 1, tzinfo=UTC)))
    assert failed.value.detail == f"Facebook refused to show the Page's posts: {words}"
    assert not failed.value.needs_reconnection


def test_http_429_with_the_business_use_case_header_waits_the_time_meta_gives(tenant_a):
    page = channel(tenant_a, "facebook", "https://graph.facebook.com", name="bob")
    page.config["page_id"] = PAGE
    page.save()
    usage = {PAGE: [{"type": "pages", "call_count": 100, "total_cputime": 20, "estimated_time_to_regain_access": 17}]}
    replay = Replay(
        Expect(
            "GET",
            f"{V}/{PAGE}",
            meta_error(80001, "(#80001) There have been too many calls to this Page account."),
            status=429,
            headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
        )
    )
    now = datetime(2026, 11, 22, 10, tzinfo=UTC)
    with replay.client() as http:
        outcome, sync = run_once(page, http, now)
    replay.assert_done()
    assert outcome == InsightsSync.Status.WAITING and sync.next_run_at == now + timedelta(minutes=17)
    assert stored_counts(page) == NOTHING


def test_a_revoked_token_fails_the_run_and_asks_for_reconnection(tenant_a):
    page = channel(tenant_a, "facebook", "https://graph.facebook.com", name="bob")
    replay = Replay(
        Expect(
            "GET",
            f"{V}/{page.config['page_id']}",
            meta_error(190, "Error validating access token: The session has been invalidated.", 460),
            status=400,
        )
    )
    with replay.client() as http:
        outcome, sync = run_once(page, http, datetime(2026, 11, 22, 10, tzinfo=UTC))
    assert outcome == InsightsSync.Status.FAILED and "reconnect" in sync.last_error
    page.refresh_from_db()
    assert page.status == Channel.Status.NEEDS_RECONNECTION
    assert stored_counts(page) == NOTHING
