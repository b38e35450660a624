"""The overview's figures, % changes and roll-ups, checked against a plain recomputation from the raw rows."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from django.http import Http404
from django.utils import translation

from beffroi.channels.models import Channel
from beffroi.insights.metrics import Metric, Reason
from beffroi.insights.models import ChannelPost, DailyMetric, MetricStatus
from beffroi.insights.overview import NET_FOLLOWS, POSTS, overview, percent_change
from beffroi.insights.periods import Period, last_days, period_from_params
from beffroi.insights.scope import scope_for
from beffroi.organisations.models import Membership

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 22)
PERIOD = last_days(TODAY, 28)


def test_periods_compare_with_the_days_just_before():
    assert Period(date(2026, 10, 25), date(2026, 11, 21)) == PERIOD
    assert PERIOD.previous() == Period(date(2026, 9, 27), date(2026, 10, 24))
    assert period_from_params({"days": "7"}, TODAY) == (Period(date(2026, 11, 15), date(2026, 11, 21)), "7")
    assert period_from_params({"start": "2026-01-01", "end": "2026-01-31"}, TODAY)[0].days == 31
    # Nonsense falls back to 28 days rather than failing.
    assert period_from_params({"days": "13"}, TODAY)[1] == "28"
    assert period_from_params({"start": "2026-02-30", "end": "x"}, TODAY)[1] == "28"
    assert period_from_params({"start": "2026-03-01", "end": "2026-02-01"}, TODAY)[1] == "28"


def test_percent_change_is_only_given_against_a_non_zero_previous_value():
    assert percent_change(150, 100) == 50
    assert percent_change(50, 100) == -50
    assert percent_change(10, 0) is None
    assert percent_change(None, 10) is None


def _fill(channel, metric, days, rng, low=0, high=1000):
    rows = {day: rng.randint(low, high) for day in days}
    DailyMetric.objects.bulk_create(
        [DailyMetric(channel=channel, metric=str(metric), day=day, value=value) for day, value in rows.items()]
    )
    return rows


@pytest.fixture
def network_of_pages(tenant_a, fake_readers):
    """Six Facebook pages over three levels, and a Mastodon account that gives followers only."""
    t = tenant_a
    Channel.objects.filter(organisation=t.organisation).delete()
    groups = [t.national, t.regional, t.regional, t.local, t.local, t.other_local]
    pages = [
        Channel.objects.create(
            organisation=t.organisation, group=group, network="facebook", display_name=f"Page {n}", remote_id=f"p{n}"
        )
        for n, group in enumerate(groups)
    ]
    mastodon = Channel.objects.create(
        organisation=t.organisation, group=t.local, network="mastodon", display_name="Toots", remote_id="m1"
    )
    rng = random.Random(20261122)
    both = PERIOD.previous().dates() + PERIOD.dates()
    raw = {}
    for page in pages:
        for metric in (Metric.REACH, Metric.VIEWS, Metric.INTERACTIONS, Metric.FOLLOWS, Metric.UNFOLLOWS):
            raw[page.pk, metric] = _fill(page, metric, both, rng)
        raw[page.pk, Metric.FOLLOWERS] = _fill(page, Metric.FOLLOWERS, both, rng, 1000, 5000)
    raw[mastodon.pk, Metric.FOLLOWERS] = _fill(mastodon, Metric.FOLLOWERS, both, rng, 100, 200)
    MetricStatus.objects.create(channel=mastodon, metric="reach", unavailable_reason=Reason.NOT_ON_NETWORK)
    return t, pages, mastodon, raw


def _expected_flow(raw, channel_ids, metric, period):
    return sum(
        value for pk in channel_ids for day, value in raw[pk, metric].items() if period.start <= day <= period.end
    )


def _expected_level(raw, channel_ids, period):
    return sum(
        raw[pk, Metric.FOLLOWERS][max(d for d in raw[pk, Metric.FOLLOWERS] if d <= period.end)] for pk in channel_ids
    )


def test_organisation_figures_match_a_recomputation_from_the_raw_rows(network_of_pages):
    t, pages, mastodon, raw = network_of_pages
    scope = scope_for(Membership.objects.get(user=t.member("admin")))
    result = overview(scope, PERIOD, "Europe/Paris")
    ids = [p.pk for p in pages]
    previous = PERIOD.previous()
    for metric in (Metric.REACH, Metric.VIEWS, Metric.INTERACTIONS):
        figure = result.figures[str(metric)]
        current, before = _expected_flow(raw, ids, metric, PERIOD), _expected_flow(raw, ids, metric, previous)
        assert (figure.value, figure.previous) == (current, before)
        assert figure.change_pct == pytest.approx((current - before) / before * 100)
        assert figure.channels_counted == 6
    # Reach: the Mastodon account is named as left out, with the network's reason; never counted as zero.
    reach = result.figures["reach"]
    assert [gap.channel for gap in reach.gaps] == ["Toots (Mastodon)"]
    assert "does not give" in reach.gaps[0].reason
    assert "counts twice" in " ".join(reach.notes)
    # Followers are a level: the last value of each period, Mastodon included (it gives followers).
    followers = result.figures["followers"]
    all_ids = [*ids, mastodon.pk]
    assert followers.value == _expected_level(raw, all_ids, PERIOD)
    assert followers.previous == _expected_level(raw, all_ids, previous)
    assert "Compared with the previous 28 days" in followers.comparison
    # Net follows: Mastodon gives no follows per day, so the page says which basis it used.
    net = result.figures[NET_FOLLOWS]
    assert net.value is not None


def test_net_follows_are_follows_minus_unfollows_when_every_page_gives_both(network_of_pages):
    t, pages, mastodon, raw = network_of_pages
    mastodon.delete()
    scope = scope_for(Membership.objects.get(user=t.member("admin")))
    net = overview(scope, PERIOD, "Europe/Paris").figures[NET_FOLLOWS]
    ids = [p.pk for p in pages]
    expected = _expected_flow(raw, ids, Metric.FOLLOWS, PERIOD) - _expected_flow(raw, ids, Metric.UNFOLLOWS, PERIOD)
    before = _expected_flow(raw, ids, Metric.FOLLOWS, PERIOD.previous()) - _expected_flow(
        raw, ids, Metric.UNFOLLOWS, PERIOD.previous()
    )
    assert (net.value, net.previous) == (expected, before)
    assert net.change_pct == pytest.approx((expected - before) / abs(before) * 100)


def test_net_follows_fall_back_on_the_change_in_followers(network_of_pages):
    t, pages, mastodon, raw = network_of_pages
    scope = scope_for(Membership.objects.get(user=t.member("admin")), channel_id=mastodon.pk)
    net = overview(scope, PERIOD, "Europe/Paris").figures[NET_FOLLOWS]
    followers = raw[mastodon.pk, Metric.FOLLOWERS]
    assert net.value == followers[PERIOD.end] - followers[PERIOD.previous().end]
    assert net.change_pct is None
    assert "follower counts" in net.notes[0]


def test_roll_ups_add_up_each_level_and_group_independently(network_of_pages):
    t, pages, mastodon, raw = network_of_pages
    scope = scope_for(Membership.objects.get(user=t.member("admin")))
    with translation.override("en"):
        rows = {row.label: row for row in overview(scope, PERIOD, "Europe/Paris").rows}
    by_level = {1: [pages[0]], 2: [pages[1], pages[2]], 3: [pages[3], pages[4], pages[5]]}
    for level, label in ((1, "National"), (2, "Regional"), (3, "Local")):
        row = next((r for name, r in rows.items() if name.startswith(label)), None)
        assert row is not None, list(rows)
        ids = [p.pk for p in by_level[level]]
        assert row.figures["interactions"].value == _expected_flow(raw, ids, Metric.INTERACTIONS, PERIOD)
    # The regional group includes its local sub-groups (and the Mastodon account in one of them).
    regional = rows[t.regional.path_label()]
    ids = [p.pk for p in pages[1:]]
    assert regional.figures["views"].value == _expected_flow(raw, ids, Metric.VIEWS, PERIOD)
    assert regional.figures["followers"].value == _expected_level(raw, [*ids, mastodon.pk], PERIOD)
    channel_row = rows[str(pages[4])]
    assert channel_row.figures["reach"].value == _expected_flow(raw, [pages[4].pk], Metric.REACH, PERIOD)
    # Group and channel rows add up to the organisation.
    total = sum(rows[str(p)].figures["reach"].value for p in pages)
    assert total == overview(scope, PERIOD, "Europe/Paris").figures["reach"].value


def test_a_missing_day_withholds_the_comparison_and_says_why(network_of_pages):
    t, pages, mastodon, raw = network_of_pages
    DailyMetric.objects.filter(channel=pages[2], metric="views", day=PERIOD.previous().start).delete()
    scope = scope_for(Membership.objects.get(user=t.member("admin")))
    views = overview(scope, PERIOD, "Europe/Paris").figures["views"]
    assert views.value == _expected_flow(raw, [p.pk for p in pages], Metric.VIEWS, PERIOD)
    assert views.change_pct is None and views.previous is None
    assert "not collected" in views.comparison
    assert "Page 2 (Facebook): 28 of 28 days, previous period 27" in views.notes[0]


def test_a_previous_period_of_zero_gives_no_percentage(tenant_a, fake_readers):
    channel = tenant_a.channel
    for day in PERIOD.previous().dates():
        DailyMetric.objects.create(channel=channel, metric="interactions", day=day, value=0)
    for day in PERIOD.dates():
        DailyMetric.objects.create(channel=channel, metric="interactions", day=day, value=3)
    scope = scope_for(Membership.objects.get(user=tenant_a.member("admin")), channel_id=channel.pk)
    figure = overview(scope, PERIOD, "Europe/Paris").figures["interactions"]
    assert (figure.value, figure.previous, figure.change_pct) == (84, 0, None)
    assert "had none" in figure.comparison


def test_nothing_stored_is_unavailable_never_zero(tenant_a, fake_readers):
    scope = scope_for(Membership.objects.get(user=tenant_a.member("admin")), channel_id=tenant_a.channel.pk)
    figure = overview(scope, PERIOD, "Europe/Paris").figures["reach"]
    assert figure.value is None and not figure.available
    assert figure.gaps[0].reason.startswith("Not collected")


def test_posts_published_are_counted_by_days_of_the_viewers_zone(tenant_a, fake_readers):
    channel = tenant_a.channel
    # 23:30 UTC on the period's last day is already the next day in Paris: outside the period there.
    for n, moment in enumerate(
        [
            datetime(2026, 11, 21, 22, 30, tzinfo=UTC),  # 23:30 Paris, inside
            datetime(2026, 11, 21, 23, 30, tzinfo=UTC),  # 00:30 on the 22nd in Paris, outside
            datetime(2026, 10, 24, 21, 0, tzinfo=UTC),  # previous period
        ]
    ):
        ChannelPost.objects.create(channel=channel, remote_id=f"x{n}", post_type="text", published_at=moment)
    scope = scope_for(Membership.objects.get(user=tenant_a.member("admin")), channel_id=channel.pk)
    posts = overview(scope, PERIOD, "Europe/Paris").figures[POSTS]
    assert (posts.value, posts.previous) == (1, 1)
    posts_utc = overview(scope, PERIOD, "UTC").figures[POSTS]
    assert posts_utc.value == 2


def test_a_scoped_member_only_sees_the_channels_of_their_groups(tenant_a, tenant_b, fake_readers):
    membership = Membership.objects.get(user=tenant_a.member("editor"))
    membership.groups.set([tenant_a.local])
    scope = scope_for(membership)
    assert scope.channel_ids == [tenant_a.channel.pk]
    for foreign in (tenant_a.other_channel, tenant_b.channel):
        with pytest.raises(Http404):
            scope_for(membership, channel_id=foreign.pk)
    with pytest.raises(Http404):
        scope_for(membership, group_id=tenant_b.local.pk)


def test_series_give_each_days_total_and_leave_missing_days_empty(network_of_pages):
    t, pages, mastodon, raw = network_of_pages
    DailyMetric.objects.filter(metric="reach", day=PERIOD.end).delete()
    scope = scope_for(Membership.objects.get(user=t.member("admin")))
    series = dict(overview(scope, PERIOD, "Europe/Paris").figures["reach"].series)
    first = PERIOD.start
    assert series[first] == sum(raw[p.pk, Metric.REACH][first] for p in pages)
    assert series[PERIOD.end] is None
    assert len(series) == 28 and min(series) == first and max(series) == first + timedelta(days=27)
