"""The demo's statistics: deterministic, idempotent, flagged as demo data, and true to what each network gives."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command

from beffroi.channels.models import Channel
from beffroi.insights.demo import generate_statistics
from beffroi.insights.heatmap import heatmap_for
from beffroi.insights.metrics import Dimension, Metric, Reason
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
from beffroi.organisations.models import Organisation

pytestmark = pytest.mark.django_db
TODAY = date(2026, 11, 22)


@pytest.fixture
def with_instagram(tenant_a):
    return Channel.objects.create(
        organisation=tenant_a.organisation,
        group=tenant_a.national,
        network="instagram",
        display_name="a insta",
        handle="@a",
        remote_id="a-ig",
    )


def digest(channel) -> list:
    return list(
        DailyMetric.objects.filter(channel=channel).order_by("metric", "day").values_list("metric", "day", "value")
    )


def test_same_day_same_numbers_and_a_second_run_adds_nothing(tenant_a):
    generate_statistics(tenant_a.organisation, today=TODAY, days=40)
    first = digest(tenant_a.channel)
    posts = list(ChannelPost.objects.filter(channel=tenant_a.channel).values_list("published_at", "interactions"))
    counts = DailyMetric.objects.count(), ChannelPost.objects.count(), PostSnapshot.objects.count()
    assert generate_statistics(tenant_a.organisation, today=TODAY, days=40) == {}
    assert (DailyMetric.objects.count(), ChannelPost.objects.count(), PostSnapshot.objects.count()) == counts
    for model in (DailyMetric, ChannelPost, MetricStatus, AudienceBreakdown, EngagementEvent, OnlineHours):
        model.objects.all().delete()
    generate_statistics(tenant_a.organisation, today=TODAY, days=40)
    assert digest(tenant_a.channel) == first
    assert (
        list(ChannelPost.objects.filter(channel=tenant_a.channel).values_list("published_at", "interactions")) == posts
    )


def test_each_network_gets_what_it_really_gives(tenant_a, with_instagram):
    generate_statistics(tenant_a.organisation, today=TODAY, days=40)
    facebook, mastodon = tenant_a.channel, tenant_a.other_channel
    assert set(DailyMetric.objects.filter(channel=facebook).values_list("metric", flat=True)) == set(Metric)
    assert set(DailyMetric.objects.filter(channel=mastodon).values_list("metric", flat=True)) == {"followers"}
    assert DailyMetric.objects.filter(channel=facebook).count() == 40 * len(Metric)
    assert DailyMetric.objects.filter(day__gte=TODAY).count() == 0  # today is not over
    reach = MetricStatus.objects.get(channel=mastodon, metric="reach")
    assert reach.unavailable_reason == Reason.NOT_ON_NETWORK
    assert MetricStatus.objects.get(channel=facebook, metric="reach").source_name
    # Audience: Meta removed age × gender for Pages; Instagram gives it; Mastodon gives none.
    latest = AudienceBreakdown.objects.filter(taken_on=TODAY - timedelta(days=1))
    assert latest.get(channel=facebook, dimension=Dimension.AGE_GENDER).unavailable_reason == Reason.DEPRECATED
    assert latest.get(channel=facebook, dimension=Dimension.COUNTRY).counts
    assert latest.get(channel=with_instagram, dimension=Dimension.AGE_GENDER).counts
    assert latest.get(channel=mastodon, dimension=Dimension.CITY).unavailable_reason == Reason.NOT_ON_NETWORK
    # Followers online: Instagram only, in Pacific hours, with the spring-forward hour left empty.
    assert set(OnlineHours.objects.values_list("channel_id", flat=True)) == {with_instagram.pk}
    assert set(OnlineHours.objects.values_list("zone", flat=True)) == {"America/Los_Angeles"}
    # Posts: no reach on Mastodon (unavailable, with the reason), readings over their lifetime.
    toot = ChannelPost.objects.filter(channel=mastodon).first()
    assert toot.reach is None and toot.unavailable["reach"] == Reason.NOT_ON_NETWORK and toot.likes is not None
    post = ChannelPost.objects.filter(channel=facebook, published_at__lt=datetime(2026, 10, 22, tzinfo=UTC)).first()
    snapshots = list(post.snapshots.order_by("taken_at").values_list("interactions", flat=True))
    assert len(snapshots) == 6 and snapshots == sorted(snapshots) and snapshots[-1] == post.interactions
    assert EngagementEvent.objects.filter(channel=facebook).exists()
    # Everything is flagged, and the sync leaves the demo channels alone.
    assert not DailyMetric.objects.filter(is_demo=False).exists()
    assert not ChannelPost.objects.filter(is_demo=False).exists()
    assert InsightsSync.objects.filter(channel=facebook, next_run_at__isnull=True).exists()


def test_the_heatmap_of_the_demo_peaks_in_the_evening_of_the_audience(tenant_a, with_instagram):
    generate_statistics(tenant_a.organisation, today=TODAY, days=40)
    heatmap = heatmap_for([with_instagram.pk], "Europe/Paris", TODAY - timedelta(days=28), TODAY)
    assert heatmap.basis == "online_followers"
    assert 18 <= heatmap.peak()[1] <= 22  # Pacific hours converted back to the Paris evening


def test_the_demo_command_adds_statistics():
    out = io.StringIO()
    call_command("demo", stdout=out)
    assert "Demo statistics:" in out.getvalue()
    bassin = Organisation.objects.get(slug="demo-bassin-minier")
    assert DailyMetric.objects.filter(channel__organisation=bassin, is_demo=True).count() > 20_000
    # Run again (and with --first-run on a demo database): nothing is added.
    before = DailyMetric.objects.count()
    call_command("demo", first_run=True, stdout=io.StringIO())
    assert DailyMetric.objects.count() == before
