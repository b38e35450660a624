"""Post performance: engagement rate and its basis, sorting, types, top and bottom, lifetime curve."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from beffroi.insights.models import ChannelPost, DailyMetric, PostSnapshot
from beffroi.insights.performance import by_type, lifetime_curve, post_rows, top_and_bottom
from beffroi.insights.periods import Period
from beffroi.insights.scope import scope_for
from beffroi.organisations.models import Membership

pytestmark = pytest.mark.django_db
PERIOD = Period(date(2026, 11, 1), date(2026, 11, 21))


@pytest.fixture
def posts(tenant_a):
    at = datetime(2026, 11, 10, 12, tzinfo=UTC)
    facebook, mastodon = tenant_a.channel, tenant_a.other_channel
    made = [
        ChannelPost.objects.create(
            channel=facebook, remote_id="a", post_type="photo", published_at=at, reach=1000, views=2500, interactions=50
        ),
        ChannelPost.objects.create(
            channel=facebook, remote_id="b", post_type="video", published_at=at, reach=None, views=400, interactions=20
        ),
        ChannelPost.objects.create(channel=mastodon, remote_id="c", post_type="text", published_at=at, interactions=9),
        ChannelPost.objects.create(
            channel=facebook, remote_id="d", post_type="photo", published_at=at, reach=200, interactions=None
        ),
        ChannelPost.objects.create(
            channel=facebook,
            remote_id="old",
            post_type="photo",
            published_at=at - timedelta(days=60),
            reach=5,
            interactions=5,
        ),
    ]
    DailyMetric.objects.create(channel=mastodon, metric="followers", day=date(2026, 11, 9), value=300)
    return tenant_a, made


def test_engagement_rate_uses_reach_else_views_else_followers_and_says_which(posts):
    tenant, _ = posts
    rows = {
        r.post.remote_id: r
        for r in post_rows(scope_for(Membership.objects.get(user=tenant.member("admin"))), PERIOD, "Europe/Paris")
    }
    assert "old" not in rows
    assert (rows["a"].engagement_rate, rows["a"].rate_basis) == (5.0, "reach")
    assert (rows["b"].engagement_rate, rows["b"].rate_basis) == (5.0, "views")
    assert (rows["c"].engagement_rate, rows["c"].rate_basis) == (3.0, "followers")
    assert rows["d"].engagement_rate is None  # no interactions given: no rate, not zero


def test_sorting_puts_unknown_values_last_in_both_directions(posts):
    tenant, _ = posts
    scope = scope_for(Membership.objects.get(user=tenant.member("admin")))
    down = [r.post.remote_id for r in post_rows(scope, PERIOD, "Europe/Paris", sort="interactions")]
    up = [r.post.remote_id for r in post_rows(scope, PERIOD, "Europe/Paris", sort="interactions", descending=False)]
    assert down == ["a", "b", "c", "d"] and up == ["c", "b", "a", "d"]
    top, bottom = top_and_bottom(post_rows(scope, PERIOD, "Europe/Paris"), count=2)
    assert [r.post.remote_id for r in top] == ["a", "b"] and [r.post.remote_id for r in bottom] == ["c"]


def test_types_are_averaged_per_network_over_the_posts_that_have_the_value(posts):
    tenant, _ = posts
    rows = {
        (r.network, r.post_type): r
        for r in by_type(scope_for(Membership.objects.get(user=tenant.member("admin"))), PERIOD, "Europe/Paris")
    }
    photo = rows["facebook", "photo"]
    assert (photo.posts, photo.interactions_avg, photo.reach_avg) == (2, 50, 600)
    assert rows["mastodon", "text"].reach_avg is None


def test_a_posts_lifetime_curve_lists_its_readings_in_order(posts):
    _, made = posts
    post = made[0]
    for hours, value in ((30, 40), (6, 12)):
        PostSnapshot.objects.create(post=post, taken_at=post.published_at + timedelta(hours=hours), interactions=value)
    curve = lifetime_curve(post)
    assert [(point["hours"], point["interactions"]) for point in curve] == [(6.0, 12), (30.0, 40)]
