""" "When your audience is online": a day × hour grid in the viewer's time zone.

Two sources, each labelled with its basis and sample size on the page:
- the network's own hourly counts (Instagram `online_followers`), reported in the local hours of a zone
  (Meta counts in Pacific time — the training decks tell people to "add 9 hours" by hand; Beffroi converts);
- the channel's stored engagement timestamps (likes, comments, reposts), which are instants in UTC.

Converting hours between zones is done day by day with real instants, so daylight-saving changes on either side
are exact: on the day the source zone springs forward, its missing hour is skipped (the network cannot have
counted it); on the day it falls back, its repeated hour is taken as the first one (the network gives one value);
a viewer hour that two source hours fall into averages them.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.utils.translation import gettext as _

from beffroi.insights.models import EngagementEvent, OnlineHours

DAYS = 7
HOURS = 24


@dataclass
class Heatmap:
    """grid[weekday][hour] — weekday 0 = Monday, hours of the viewer's zone."""

    zone: str
    basis: str  # "online_followers" | "engagements" | "none"
    grid: list[list[float | None]]
    sample: int  # days of hourly counts, or number of interactions
    unit: str  # what a cell means, for people
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.sample == 0

    def peak(self) -> tuple[int, int] | None:
        cells = [(v, d, h) for d, row in enumerate(self.grid) for h, v in enumerate(row) if v is not None]
        if not cells:
            return None
        _value, day, hour = max(cells)
        return day, hour


def local_hour_instant(day: date, hour: int, zone: zoneinfo.ZoneInfo) -> datetime | None:
    """The instant at which local hour `hour` of `day` starts in `zone`; None when that hour does not exist
    (the spring-forward gap). A repeated hour (fall-back) is its first occurrence."""
    naive = datetime.combine(day, time(hour))
    candidate = naive.replace(tzinfo=zone, fold=0)
    # A wall time in the gap does not survive a round trip through UTC.
    if candidate.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        return None
    return candidate


def online_grid(days: Iterable[tuple[date, str, list[int | None]]], viewer_zone: str) -> Heatmap:
    """Average followers online per viewer weekday and hour, from per-day hourly counts in a source zone."""
    viewer = zoneinfo.ZoneInfo(viewer_zone)
    sums = [[0.0] * HOURS for _ in range(DAYS)]
    counts = [[0] * HOURS for _ in range(DAYS)]
    skipped = 0
    sample = 0
    zones = set()
    # Where each source hour of a day lands for the viewer (weekday, hour), or None in a DST gap: worked out once
    # per day and zone, not once per channel (an organisation's channels report the same days).
    cells: dict[tuple[date, str], list[tuple[int, int] | None]] = {}
    for day, zone_name, hours in days:
        zones.add(zone_name)
        sample += 1
        targets = cells.get((day, zone_name))
        if targets is None:
            source = zoneinfo.ZoneInfo(zone_name)
            targets = []
            for hour in range(HOURS):
                instant = local_hour_instant(day, hour, source)
                local = instant.astimezone(viewer) if instant is not None else None
                targets.append((local.weekday(), local.hour) if local is not None else None)
            cells[day, zone_name] = targets
        for hour, value in enumerate(hours[:HOURS]):
            if value is None:
                continue
            target = targets[hour]
            if target is None:
                skipped += 1
                continue
            weekday, viewer_hour = target
            sums[weekday][viewer_hour] += value
            counts[weekday][viewer_hour] += 1
    grid = [[sums[d][h] / counts[d][h] if counts[d][h] else None for h in range(HOURS)] for d in range(DAYS)]
    notes = []
    if zones:
        notes.append(
            _("The network counts in %(zones)s time; shown here in %(viewer)s time.")
            % {"zones": ", ".join(sorted(zones)), "viewer": viewer_zone}
        )
    if skipped:
        notes.append(
            _("%(count)s hourly values fell in a daylight-saving gap of the network's zone and were left out.")
            % {"count": skipped}
        )
    return Heatmap(viewer_zone, "online_followers", grid, sample, _("followers online (average)"), notes)


def engagement_grid(moments: Iterable[datetime], viewer_zone: str) -> Heatmap:
    """Share of interactions (%) per viewer weekday and hour, from stored instants."""
    viewer = zoneinfo.ZoneInfo(viewer_zone)
    counts = [[0] * HOURS for _ in range(DAYS)]
    total = 0
    for moment in moments:
        local = moment.astimezone(viewer)
        counts[local.weekday()][local.hour] += 1
        total += 1
    grid = [[(counts[d][h] / total * 100) if total else None for h in range(HOURS)] for d in range(DAYS)]
    return Heatmap(viewer_zone, "engagements", grid, total, _("share of interactions (%)"))


def heatmap_for(channel_ids: list[int], viewer_zone: str, since: date, until: date) -> Heatmap:
    """The network's hourly counts when there are some, else the stored interactions; else an empty grid."""
    online = list(
        OnlineHours.objects.filter(channel_id__in=channel_ids, day__gte=since, day__lte=until)
        .order_by("day")
        .values_list("day", "zone", "hours")
    )
    withheld = _online_withheld(channel_ids)
    if online:
        heatmap = online_grid(online, viewer_zone)
        if withheld:
            heatmap.notes.append(_("Not included (no hourly counts): %s.") % withheld)
        return heatmap
    start = datetime.combine(since, time(), UTC)
    end = datetime.combine(until + timedelta(days=1), time(), UTC)
    moments = EngagementEvent.objects.filter(
        channel_id__in=channel_ids, occurred_at__gte=start, occurred_at__lt=end
    ).values_list("occurred_at", flat=True)
    heatmap = engagement_grid(moments.iterator(chunk_size=5000), viewer_zone)
    if withheld:
        heatmap.notes.append(_("The networks give no followers online per hour here: %s.") % withheld)
    if heatmap.empty:
        heatmap.basis = "none"
    return heatmap


def _online_withheld(channel_ids: list[int]) -> str:
    """The channels whose network withholds followers online per hour, each with its reason, for the notes."""
    from beffroi.insights.metrics import ONLINE_HOURS, REASON_LABELS, Reason
    from beffroi.insights.models import MetricStatus

    rows = (
        MetricStatus.objects.filter(channel_id__in=channel_ids, metric=ONLINE_HOURS)
        .exclude(unavailable_reason="")
        .select_related("channel")
        .order_by("channel__display_name")
    )
    return "; ".join(f"{row.channel.display_name} — {REASON_LABELS[Reason(row.unavailable_reason)]}" for row in rows)
