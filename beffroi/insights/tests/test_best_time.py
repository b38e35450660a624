"""Best time to post: ranked slots from the audience's activity and the channel's own posts."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest

from beffroi.insights.best_time import best_time, composer_hint, confidence_for
from beffroi.insights.models import ChannelPost, EngagementEvent

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
PARIS = zoneinfo.ZoneInfo("Europe/Paris")
TUE, THU = 1, 3


def post_at(channel, local_hour_utc: datetime, interactions: int, n: int):
    ChannelPost.objects.create(
        channel=channel, remote_id=f"p{n}", post_type="photo", published_at=local_hour_utc, interactions=interactions
    )


def test_no_data_gives_no_slots_and_says_so(tenant_a):
    found = best_time(tenant_a.channel, NOW)
    assert found.slots == [] and found.confidence == "none"
    assert found.basis() == "no statistics yet"
    assert composer_hint([tenant_a.channel], NOW) == []


def test_posts_that_did_well_at_an_hour_rank_it_first_in_the_channels_zone(tenant_a):
    channel = tenant_a.channel  # Europe/Paris (the organisation's zone)
    # Twelve Tuesdays at 18:00 Paris with 100 interactions; Thursdays 09:00 with 10. (Wall-clock arithmetic:
    # the weeks before 25 October are summer time, 16:00 UTC — still 18:00 in Paris.)
    for week in range(12):
        tuesday = datetime(2026, 11, 17, 18, tzinfo=PARIS) - timedelta(weeks=week)
        thursday = datetime(2026, 11, 19, 9, tzinfo=PARIS) - timedelta(weeks=week)
        post_at(channel, tuesday, 100, week)
        post_at(channel, thursday, 10, 100 + week)
    found = best_time(channel, NOW)
    first = found.slots[0]
    assert (first.weekday, first.hour, first.posts) == (TUE, 18, 12)
    # Median of all posts is 55; the Tuesday slot's 12 posts weigh 12/15 at ×1.82, the rest is the neutral 1.
    expected_factor = 12 / 15 * (100 / 55) + 3 / 15 * 1.0
    assert first.factor == pytest.approx(expected_factor)
    assert first.expected_interactions == pytest.approx(55 * expected_factor)
    assert [(slot.weekday, slot.hour) for slot in found.slots] == [(TUE, 18), (THU, 9)]  # only slots with evidence
    assert found.slots[1].factor == pytest.approx(12 / 15 * (10 / 55) + 3 / 15)
    assert found.confidence == "medium"  # 24 posts, no activity stored
    assert "24 posts" in found.basis()
    assert found.notes  # ranked by posts only, said


def test_audience_activity_alone_ranks_hours_when_there_are_no_posts(tenant_a):
    channel = tenant_a.channel
    base = datetime(2026, 11, 19, 20, 30, tzinfo=PARIS)  # Thursday 20:30 Paris
    for n in range(60):
        EngagementEvent.objects.create(
            channel=channel, remote_id=f"l{n}", kind="like", occurred_at=base - timedelta(weeks=n % 8)
        )
    for n in range(20):
        EngagementEvent.objects.create(
            channel=channel, remote_id=f"m{n}", kind="like", occurred_at=base - timedelta(hours=10, weeks=n % 8)
        )
    found = best_time(channel, NOW)
    assert (found.slots[0].weekday, found.slots[0].hour) == (THU, 20)
    assert found.slots[0].expected_interactions is None  # no posts: no expectation in interactions
    assert found.activity_basis == "engagements" and found.activity_sample == 80
    assert found.confidence == "medium"
    hint = composer_hint([channel], NOW)[0]
    assert hint["zone"] == "Europe/Paris" and hint["slots"][0].endswith("20:00")
    assert "80 interactions" in hint["basis"]


def test_confidence_grows_with_the_evidence():
    assert confidence_for(0, 0) == "none"
    assert confidence_for(3, 10) == "low"
    assert confidence_for(10, 0) == "medium"
    assert confidence_for(30, 200) == "high"
