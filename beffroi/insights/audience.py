"""Audience: age × gender, countries, cities, languages — the latest breakdown read for each channel."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from django.db.models import Max

from beffroi.insights.metrics import REASON_LABELS, Dimension, Reason
from beffroi.insights.models import AudienceBreakdown
from beffroi.insights.scope import Scope
from beffroi.networks.registry import insights_reader_for

AGE_BANDS = ("13-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
GENDERS = ("F", "M", "U")


@dataclass
class Share:
    key: str
    count: int
    percent: float


@dataclass
class Breakdown:
    dimension: Dimension
    rows: list[Share]
    total: int
    channels_counted: int
    gaps: list[tuple[str, str]] = field(default_factory=list)  # (channel, reason)
    taken_on: str = ""  # the oldest reading included

    @property
    def available(self) -> bool:
        return self.channels_counted > 0


@dataclass
class Pyramid:
    """Age bands × gender, as counts (for the table) and percentages of the whole."""

    bands: list[str]
    counts: dict[str, list[int]]  # gender → count per band
    total: int


def breakdown(scope: Scope, dimension: Dimension, limit: int | None = None) -> Breakdown:
    latest: dict[int, AudienceBreakdown] = {}
    readings = AudienceBreakdown.objects.filter(channel__in=scope.channels, dimension=str(dimension))
    # Only the days that are some channel's latest reading are read: the history (a reading a week, kept forever)
    # stays in the table. A channel's newest row among those is its latest reading.
    latest_days = set(
        readings.values("channel_id").annotate(latest=Max("taken_on")).order_by().values_list("latest", flat=True)
    )
    for row in readings.filter(taken_on__in=latest_days).order_by("channel_id", "-taken_on"):
        latest.setdefault(row.channel_id, row)
    counter: Counter[str] = Counter()
    counted, gaps, dates = 0, [], []
    for channel in scope.channels:
        row = latest.get(channel.pk)
        if row is None:
            reader = insights_reader_for(channel.network)
            reason = Reason.NO_METRICS if reader is None else Reason.NOT_COLLECTED
            gaps.append((str(channel), str(REASON_LABELS[reason])))
            continue
        if row.unavailable_reason:
            gaps.append((str(channel), str(REASON_LABELS[Reason(row.unavailable_reason)])))
            continue
        counted += 1
        dates.append(row.taken_on)
        counter.update({str(key): int(value) for key, value in row.counts.items()})
    total = sum(counter.values())
    rows = [
        Share(key, count, count / total * 100 if total else 0.0)
        for key, count in sorted(counter.items(), key=lambda item: (-item[1], item[0]))
    ]
    if limit is not None:
        rows = rows[:limit]
    return Breakdown(dimension, rows, total, counted, gaps, min(dates).isoformat() if dates else "")


def pyramid(age_gender: Breakdown) -> Pyramid:
    counts = {gender: [0] * len(AGE_BANDS) for gender in GENDERS}
    bands = list(AGE_BANDS)
    for share in age_gender.rows:
        gender, _, band = share.key.partition(".")
        gender = gender if gender in GENDERS else "U"
        if band not in bands:
            bands.append(band)
            for values in counts.values():
                values.append(0)
        counts[gender][bands.index(band)] += share.count
    return Pyramid(bands, counts, age_gender.total)
