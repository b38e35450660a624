"""The statistics sync: level-triggered backfill, one transaction per run, rate limits, unavailable measures."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from django.utils import timezone

from beffroi.channels.models import Channel
from beffroi.insights.base import (
    Engagement,
    OnlineDay,
    PostStats,
    RateLimited,
    SyncBatch,
    SyncFailed,
    Unavailable,
)
from beffroi.insights.metrics import Dimension, Metric, PostMetric, PostType, Reason
from beffroi.insights.models import (
    AudienceBreakdown,
    ChannelPost,
    DailyMetric,
    EngagementEvent,
    InsightsSync,
    MetricStatus,
    OnlineHours,
    PostSnapshot,
)
from beffroi.insights.sync import claim_due, ensure_sync_rows, next_post_read, run_sync, sync_channel_now

pytestmark = pytest.mark.django_db


def daily_batch(plan) -> SyncBatch:
    """Every day of the asked window, reach = the day of the month (easy to check)."""
    batch = SyncBatch(calls=3)
    day = plan.days_from
    while day and day <= plan.days_until:
        batch.days[Metric.REACH, day] = day.day
        day += timedelta(days=1)
    batch.metric_status[Metric.REACH] = "page_total_media_view_unique"
    batch.metric_status[Metric.VIEWS] = Unavailable(
        Reason.DEPRECATED, "(#100) The value must be a valid insights metric"
    )
    return batch


def claim(channel) -> InsightsSync:
    """This channel's sync, leased as a worker would (other channels are left alone)."""
    ensure_sync_rows()
    InsightsSync.objects.exclude(channel=channel).update(next_run_at=None)
    (sync,) = claim_due("worker-1")
    assert sync.channel_id == channel.pk
    return sync


@pytest.fixture
def http():
    with httpx.Client() as client:
        yield client


def test_first_sync_backfills_two_years_in_windows_of_90_days_then_keeps_up(tenant_a, fake_readers, http):
    reader = fake_readers["facebook"]
    reader.batches = [daily_batch] * 20
    sync_channel_now(tenant_a.channel, http)
    windows = [(plan.days_from, plan.days_until) for plan in reader.plans]
    today = timezone.now().date()
    assert windows[0][0] == today - timedelta(days=730)
    assert all((until - start).days <= 89 for start, until in windows)
    assert windows[-1][1] == today - timedelta(days=1)
    # Each window starts where the stored days stop (re-reading the last 3 settling days), so no day is skipped.
    for (_, until), (start, _) in zip(windows, windows[1:], strict=False):
        assert until - timedelta(days=3) <= start <= until + timedelta(days=1)
    stored = set(DailyMetric.objects.filter(channel=tenant_a.channel, metric="reach").values_list("day", flat=True))
    assert len(stored) == 730
    sync = InsightsSync.objects.get(channel=tenant_a.channel)
    assert sync.status == InsightsSync.Status.IDLE and sync.next_run_at > timezone.now() + timedelta(hours=5)
    assert sync.calls == 3 * len(windows)
    # The measure that failed is recorded as unavailable, with the network's words; the working one by its name.
    status = {s.metric: s for s in MetricStatus.objects.filter(channel=tenant_a.channel)}
    assert status["reach"].source_name == "page_total_media_view_unique" and status["reach"].available
    assert status["views"].unavailable_reason == Reason.DEPRECATED and "(#100)" in status["views"].detail
    assert not DailyMetric.objects.filter(metric="views").exists()


def test_a_rate_limit_stores_nothing_and_waits(tenant_a, fake_readers, http):
    fake_readers["facebook"].batches = [RateLimited(900, "(#4) Application request limit reached")]
    sync = claim(tenant_a.channel)
    before = timezone.now()
    assert run_sync(sync, http) == InsightsSync.Status.WAITING
    sync.refresh_from_db()
    assert sync.next_run_at >= before + timedelta(seconds=899)
    assert sync.lease_until is None and "(#4)" in sync.last_error
    assert not DailyMetric.objects.exists() and not MetricStatus.objects.exists()


def test_a_failure_halfway_through_storing_leaves_nothing_of_the_run(tenant_a, fake_readers, http):
    def half_bad(plan):
        batch = daily_batch(plan)
        batch.posts.append(PostStats("p1", datetime(2026, 11, 1, tzinfo=UTC), PostType.PHOTO, values={}))
        # A post without a date cannot be stored: the run fails after its daily values were written.
        batch.posts.append(PostStats("p2", None, PostType.PHOTO, values={}))  # type: ignore[arg-type]
        return batch

    fake_readers["facebook"].batches = [half_bad]
    sync = claim(tenant_a.channel)
    assert run_sync(sync, http) == InsightsSync.Status.FAILED
    assert not DailyMetric.objects.exists()
    assert not ChannelPost.objects.exists() and not MetricStatus.objects.exists()
    sync.refresh_from_db()
    assert sync.days_until is None and sync.failures == 1 and sync.status == InsightsSync.Status.FAILED
    # The next run asks for the same window again and stores it.
    fake_readers["facebook"].batches = [daily_batch]
    sync.next_run_at = timezone.now()
    sync.save()
    assert run_sync(sync, http) == InsightsSync.Status.IDLE
    assert DailyMetric.objects.count() == 90


def test_a_revoked_authorisation_asks_for_reconnection(tenant_a, fake_readers, http):
    fake_readers["facebook"].batches = [SyncFailed("Error validating access token", needs_reconnection=True)]
    run_sync(claim(tenant_a.channel), http)
    tenant_a.channel.refresh_from_db()
    assert tenant_a.channel.status == Channel.Status.NEEDS_RECONNECTION
    assert "access token" in tenant_a.channel.status_reason


def test_networks_without_history_store_todays_follower_count_and_say_what_they_lack(tenant_a, fake_readers, http):
    reader = fake_readers["mastodon"]
    reader.batches = [SyncBatch(followers_now=321, metric_status={Metric.FOLLOWERS: "followers_count"})]
    sync_channel_now(tenant_a.other_channel, http)
    assert reader.plans[0].days_from is None
    row = DailyMetric.objects.get(channel=tenant_a.other_channel)
    assert (row.metric, row.value, row.day) == ("followers", 321, reader.plans[0].today)
    missing = dict(
        MetricStatus.objects.filter(channel=tenant_a.other_channel)
        .exclude(unavailable_reason="")
        .values_list("metric", "unavailable_reason")
    )
    assert set(missing) == {"reach", "views", "interactions", "follows", "unfollows"}
    assert set(missing.values()) == {Reason.NOT_ON_NETWORK}


def test_posts_are_read_often_when_young_then_less(tenant_a, fake_readers, http):
    now = timezone.now()
    assert next_post_read(now - timedelta(hours=3), now) == now + timedelta(hours=6)
    assert next_post_read(now - timedelta(days=3), now) == now + timedelta(days=1)
    assert next_post_read(now - timedelta(days=10), now) == now + timedelta(days=7)
    assert next_post_read(now - timedelta(days=100), now) == now + timedelta(days=30)

    from beffroi.publishing.models import Post, Publication

    post = Post.objects.create(organisation=tenant_a.organisation, text="Bonjour")
    publication = Publication.objects.create(
        post=post, channel=tenant_a.channel, remote_id="123_456", state="published"
    )
    published = now - timedelta(hours=5)

    def with_posts(values):
        def batch(plan):
            result = daily_batch(plan)
            result.posts = [
                PostStats(
                    "123_456",
                    published,
                    PostType.VIDEO,
                    url="https://facebook.com/123_456",
                    text="Bonjour",
                    values=values,
                    unavailable={PostMetric.SAVES: Unavailable(Reason.NOT_ON_NETWORK)},
                )
            ]
            return result

        return batch

    fake_readers["facebook"].batches = [with_posts({PostMetric.LIKES: 4, PostMetric.INTERACTIONS: 5})] * 10
    sync_channel_now(tenant_a.channel, http)
    stored = ChannelPost.objects.get()
    assert (stored.likes, stored.interactions, stored.saves, stored.publication_id) == (4, 5, None, publication.pk)
    assert stored.unavailable == {"saves": "not_on_network"}
    assert stored.next_read_at == stored.metrics_read_at + timedelta(hours=6)
    # Due again: the next run asks for it by id, and a second snapshot keeps the curve.
    ChannelPost.objects.update(next_read_at=timezone.now() - timedelta(minutes=1))
    InsightsSync.objects.update(next_run_at=timezone.now())
    fake_readers["facebook"].batches = [with_posts({PostMetric.LIKES: 9, PostMetric.INTERACTIONS: 12})]
    sync_channel_now(tenant_a.channel, http)
    assert fake_readers["facebook"].plans[-1].post_ids == ("123_456",)
    assert ChannelPost.objects.get().likes == 9
    assert list(PostSnapshot.objects.order_by("taken_at").values_list("interactions", flat=True)) == [5, 12]


def test_audience_online_hours_and_engagements_are_stored_once(tenant_a, fake_readers, http):
    when = datetime(2026, 11, 20, 18, tzinfo=UTC)

    def batch(plan):
        return SyncBatch(
            audience={
                Dimension.COUNTRY: {"FR": 80, "BE": 20},
                Dimension.AGE_GENDER: Unavailable(Reason.TOO_FEW_FOLLOWERS, "fewer than 100 followers"),
            },
            online=[OnlineDay(date(2026, 11, 20), "America/Los_Angeles", tuple(range(24)))],
            engagements=[Engagement("like-1", "like", when), Engagement("like-2", "like", when)],
        )

    reader = fake_readers["instagram"]
    reader.history_days = None
    reader.batches = [batch, batch]
    channel = Channel.objects.create(organisation=tenant_a.organisation, network="instagram", display_name="IG")
    sync_channel_now(channel, http)
    InsightsSync.objects.update(next_run_at=timezone.now(), audience_read_on=None)
    sync_channel_now(channel, http)
    assert reader.plans[0].audience and reader.plans[0].online_days
    country = AudienceBreakdown.objects.get(channel=channel, dimension="country")
    assert country.counts == {"FR": 80, "BE": 20}
    age = AudienceBreakdown.objects.get(channel=channel, dimension="age_gender")
    assert age.counts == {} and age.unavailable_reason == Reason.TOO_FEW_FOLLOWERS
    assert OnlineHours.objects.get(channel=channel).hours[23] == 23
    assert EngagementEvent.objects.filter(channel=channel).count() == 2  # read twice, stored once


def test_two_workers_never_run_the_same_channel(tenant_a, fake_readers):
    first = claim_due("worker-1", limit=10)
    second = claim_due("worker-2", limit=10)
    assert {s.channel_id for s in first} == {tenant_a.channel.pk, tenant_a.other_channel.pk}
    assert second == []


def test_a_channel_type_without_statistics_is_never_due(tenant_a, fake_readers):
    atom = Channel.objects.create(organisation=tenant_a.organisation, network="atom", display_name="Feed")
    claimed = claim_due("w", limit=10)
    assert atom.pk not in {s.channel_id for s in claimed}
    assert InsightsSync.objects.get(channel=atom).status == InsightsSync.Status.UNSUPPORTED


def test_a_session_renewed_by_a_read_that_could_not_be_stored_is_kept(tenant_a, fake_readers, http):
    def renewed_but_bad(plan):
        batch = daily_batch(plan)
        batch.renewed_credentials = {"access_token": "fresh", "refresh_token": "fresh-refresh"}
        batch.posts.append(PostStats("p2", None, PostType.PHOTO, values={}))  # type: ignore[arg-type]
        return batch

    fake_readers["facebook"].batches = [renewed_but_bad]
    assert run_sync(claim(tenant_a.channel), http) == InsightsSync.Status.FAILED
    tenant_a.channel.refresh_from_db()
    assert tenant_a.channel.credentials["refresh_token"] == "fresh-refresh"
    assert not DailyMetric.objects.exists()
