"""'When your audience is online': hours reported in Pacific time, shown in the viewer's zone across DST changes.

Expected cells are worked out by hand from the published UTC offsets (not with zoneinfo), so the test checks the
conversion independently: Los Angeles is UTC−8 (PST) or UTC−7 (PDT, from 2026-03-08 to 2026-11-01), Paris UTC+1
or UTC+2 (from 2026-03-29 to 2026-10-25), Montreal UTC−5 or UTC−4 (same dates as Los Angeles).
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta

import pytest

from beffroi.insights.heatmap import engagement_grid, heatmap_for, local_hour_instant, online_grid
from beffroi.insights.models import EngagementEvent, OnlineHours

LA = "America/Los_Angeles"
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def one_hour(day: date, hour: int, value: int = 100) -> tuple[date, str, list[int | None]]:
    hours: list[int | None] = [None] * 24
    hours[hour] = value
    return day, LA, hours


def only_cell(grid) -> tuple[int, int, float]:
    cells = [(d, h, v) for d, row in enumerate(grid.grid) for h, v in enumerate(row) if v is not None]
    assert len(cells) == 1, cells
    return cells[0]


@pytest.mark.parametrize(
    ("day", "la_hour", "utc_offset_la", "paris_offset", "montreal_offset", "paris_cell", "montreal_cell"),
    [
        # Winter everywhere: Paris is 9 hours ahead (the decks' "ajoutez 9h"), Montreal 3.
        (date(2026, 1, 14), 9, -8, 1, -5, (WED, 18), (WED, 12)),
        # Los Angeles and Montreal have changed (8 March), Paris not yet (29 March): Paris is only 8 hours ahead.
        (date(2026, 3, 16), 9, -7, 1, -4, (MON, 17), (MON, 12)),
        # Summer everywhere: 9 hours again.
        (date(2026, 7, 1), 9, -7, 2, -4, (WED, 18), (WED, 12)),
        # Paris back to winter (25 October), Los Angeles not yet (1 November): 8 hours.
        (date(2026, 10, 28), 9, -7, 1, -4, (WED, 17), (WED, 12)),
        # Late evening in Los Angeles is already the next day in Paris.
        (date(2026, 1, 14), 20, -8, 1, -5, (THU, 5), (WED, 23)),
    ],
)
def test_hours_move_to_the_viewers_zone_with_each_sides_daylight_saving(
    day, la_hour, utc_offset_la, paris_offset, montreal_offset, paris_cell, montreal_cell
):
    # The independent computation: local LA hour → UTC → viewer, with the offsets written above.
    utc = datetime(day.year, day.month, day.day, la_hour, tzinfo=UTC) - timedelta(hours=utc_offset_la)
    for offset, cell in ((paris_offset, paris_cell), (montreal_offset, montreal_cell)):
        local = utc + timedelta(hours=offset)
        assert (local.weekday(), local.hour) == cell
    assert only_cell(online_grid([one_hour(day, la_hour)], "Europe/Paris"))[:2] == paris_cell
    assert only_cell(online_grid([one_hour(day, la_hour)], "America/Montreal"))[:2] == montreal_cell


def test_the_hour_that_does_not_exist_in_los_angeles_is_left_out_and_said():
    # 8 March 2026: clocks go from 02:00 to 03:00 in Los Angeles; a value for 02:00 cannot be real.
    assert local_hour_instant(date(2026, 3, 8), 2, zoneinfo.ZoneInfo(LA)) is None
    day, zone, hours = date(2026, 3, 8), LA, [10] * 24
    grid = online_grid([(day, zone, hours)], "Europe/Paris")
    filled = sum(1 for row in grid.grid for value in row if value is not None)
    assert filled == 23
    assert any("daylight-saving gap" in note for note in grid.notes)


def test_the_repeated_hour_in_los_angeles_is_taken_as_its_first_occurrence():
    # 1 November 2026: 01:00–02:00 happens twice in Los Angeles; the first is PDT (UTC−7) = 08:00 UTC = 09:00 in
    # Paris (already on winter time), the second would be 10:00.
    assert only_cell(online_grid([one_hour(date(2026, 11, 1), 1)], "Europe/Paris"))[:2] == (SUN, 9)
    # Montreal falls back the same night, at 02:00 local: 08:00 UTC is 03:00 EST (UTC−5) there.
    assert only_cell(online_grid([one_hour(date(2026, 11, 1), 1)], "America/Montreal"))[:2] == (SUN, 3)


def test_two_hours_that_fall_into_the_viewers_repeated_hour_are_averaged():
    # 25 October 2026 in Paris: 02:00 happens twice. Los Angeles 17:00 and 18:00 on Saturday 24 (PDT) are 00:00
    # and 01:00 UTC on the 25th: 02:00 CEST then 02:00 CET in Paris — the same cell, averaged.
    hours: list[int | None] = [None] * 24
    hours[17], hours[18] = 100, 200
    grid = online_grid([(date(2026, 10, 24), LA, hours)], "Europe/Paris")
    assert only_cell(grid) == (SUN, 2, 150.0)


def test_several_days_average_each_cell_and_count_the_days():
    days = [one_hour(date(2026, 1, 7), 9, 100), one_hour(date(2026, 1, 14), 9, 300)]  # two Wednesdays
    grid = online_grid(days, "Europe/Paris")
    assert only_cell(grid) == (WED, 18, 200.0)
    assert grid.sample == 2 and grid.basis == "online_followers"
    assert "America/Los_Angeles" in grid.notes[0] and "Europe/Paris" in grid.notes[0]


def test_interactions_are_placed_in_the_viewers_zone_as_shares():
    moments = [
        datetime(2026, 3, 28, 17, 30, tzinfo=UTC),  # Sat 18:30 in Paris (UTC+1, the day before the change)
        datetime(2026, 3, 29, 17, 30, tzinfo=UTC),  # Sun 19:30 in Paris (UTC+2 from that morning)
        datetime(2026, 3, 29, 17, 45, tzinfo=UTC),
        datetime(2026, 3, 8, 10, 15, tzinfo=UTC),  # Sun 06:15 in Montreal (UTC−4 since 07:00 UTC that day)
    ]
    paris = engagement_grid(moments, "Europe/Paris")
    assert paris.grid[SAT][18] == 25.0 and paris.grid[SUN][19] == 50.0
    assert paris.sample == 4 and paris.basis == "engagements"
    montreal = engagement_grid(moments, "America/Montreal")
    assert montreal.grid[SUN][6] == 25.0


@pytest.mark.django_db
def test_stored_hours_are_preferred_to_interactions_and_read_for_the_period(tenant_a):
    channel = tenant_a.channel
    EngagementEvent.objects.create(
        channel=channel, remote_id="like-1", kind="like", occurred_at=datetime(2026, 1, 14, 17, tzinfo=UTC)
    )
    empty = heatmap_for([channel.pk], "Europe/Paris", date(2026, 1, 1), date(2026, 1, 31))
    assert empty.basis == "engagements" and empty.sample == 1 and empty.grid[WED][18] == 100.0
    hours = [None] * 24
    hours[9] = 42
    OnlineHours.objects.create(channel=channel, day=date(2026, 1, 14), zone=LA, hours=hours)
    OnlineHours.objects.create(channel=channel, day=date(2026, 2, 14), zone=LA, hours=[1] * 24)  # outside
    found = heatmap_for([channel.pk], "Europe/Paris", date(2026, 1, 1), date(2026, 1, 31))
    assert found.basis == "online_followers" and found.sample == 1
    assert only_cell(found) == (WED, 18, 42.0)
    nothing = heatmap_for([channel.pk], "Europe/Paris", date(2025, 1, 1), date(2025, 1, 31))
    assert nothing.basis == "none" and nothing.empty


@pytest.mark.django_db
def test_channels_whose_network_withholds_hourly_counts_are_named_with_the_reason(tenant_a, fake_readers):
    import httpx

    from beffroi.insights.base import SyncBatch, Unavailable
    from beffroi.insights.metrics import Reason
    from beffroi.insights.models import MetricStatus
    from beffroi.insights.sync import sync_channel_now

    fake_readers["facebook"].history_days = None
    fake_readers["facebook"].batches = [SyncBatch(online=Unavailable(Reason.DEPRECATED, "page_fans_online removed"))]
    with httpx.Client() as http:
        sync_channel_now(tenant_a.channel, http)
    status = MetricStatus.objects.get(channel=tenant_a.channel, metric="online_hours")
    assert status.unavailable_reason == Reason.DEPRECATED
    EngagementEvent.objects.create(
        channel=tenant_a.channel, remote_id="c1", kind="comment", occurred_at=datetime(2026, 1, 14, 17, tzinfo=UTC)
    )
    found = heatmap_for([tenant_a.channel.pk], "Europe/Paris", date(2026, 1, 1), date(2026, 1, 31))
    assert found.basis == "engagements"
    assert any("a page — The network removed this measure" in note for note in found.notes)
