"""The overview: reach or views, interactions, followers, net follows and posts, each with an honest % change.

Rules (each is tested against an independent computation):
- A flow (reach, views, interactions, follows) is the sum of the daily values of the period; a level (followers)
  is the last value of the period. Across channels, values are added up — a person reached by two pages counts
  twice, and the page says so.
- A channel whose network does not give a measure is left out of that measure and named, with the reason.
- The % change compares with the previous period of equal length. It is only given when both periods have every
  day of data for every channel included, and when the previous value is not zero; otherwise the page says why.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from django.db.models import Count, Q, Sum
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _

from beffroi.channels.models import Channel
from beffroi.insights.metrics import LEVELS, METRIC_LABELS, REASON_LABELS, Metric, Reason
from beffroi.insights.models import ChannelPost, DailyMetric, MetricStatus
from beffroi.insights.periods import Period
from beffroi.insights.scope import Scope
from beffroi.networks.registry import insights_reader_for
from beffroi.organisations.models import PageGroup

NET_FOLLOWS = "net_follows"
POSTS = "posts"
FIGURES = (Metric.REACH, Metric.VIEWS, Metric.INTERACTIONS, Metric.FOLLOWERS, NET_FOLLOWS, POSTS)


def percent_change(current: int | None, previous: int | None) -> float | None:
    if current is None or previous is None or previous == 0:
        return None
    return (current - previous) / abs(previous) * 100


@dataclass
class ChannelMeasure:
    """One channel, one measure, both periods."""

    current: int | None = None
    previous: int | None = None
    current_days: int = 0
    previous_days: int = 0
    unavailable: Reason | None = None
    detail: str = ""


@dataclass
class Gap:
    channel: str
    reason: str


@dataclass
class Figure:
    key: str
    label: str
    value: int | None
    previous: int | None
    change_pct: float | None
    comparison: str  # what the change compares, or why there is none
    notes: list[str] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)  # channels left out, and why
    channels_counted: int = 0
    series: list[tuple[date, int | None]] = field(default_factory=list)

    @property
    def available(self) -> bool:
        return self.value is not None

    @property
    def direction(self) -> str:
        if self.change_pct is None:
            return "none"
        return "up" if self.change_pct > 0 else "down" if self.change_pct < 0 else "flat"


@dataclass
class RollupRow:
    label: str
    kind: str  # "level" | "group" | "channel"
    figures: dict[str, Figure]
    channel: Channel | None = None
    group: PageGroup | None = None


@dataclass
class Overview:
    scope: Scope
    period: Period
    previous: Period
    figures: dict[str, Figure]
    rows: list[RollupRow]


def measures(channel_ids: list[int], period: Period) -> dict[int, dict[str, ChannelMeasure]]:
    """Per channel and measure: the values of both periods and how many days each has (three queries)."""
    previous = period.previous()
    found: dict[int, dict[str, ChannelMeasure]] = {pk: {} for pk in channel_ids}
    flows = [str(metric) for metric in Metric if metric not in LEVELS]
    rows = (
        DailyMetric.objects.filter(
            channel_id__in=channel_ids, metric__in=flows, day__gte=previous.start, day__lte=period.end
        )
        .values("channel_id", "metric")
        .annotate(
            current=Sum("value", filter=Q(day__gte=period.start)),
            current_days=Count("id", filter=Q(day__gte=period.start)),
            previous=Sum("value", filter=Q(day__lte=previous.end)),
            previous_days=Count("id", filter=Q(day__lte=previous.end)),
        )
    )
    for row in rows:
        found[row["channel_id"]][row["metric"]] = ChannelMeasure(
            current=row["current"] if row["current_days"] else None,
            previous=row["previous"] if row["previous_days"] else None,
            current_days=row["current_days"],
            previous_days=row["previous_days"],
        )
    # Levels: the last value on or before each period's end, within that period.
    for level in LEVELS:
        last: dict[int, dict[str, tuple[date, int]]] = defaultdict(dict)
        days: dict[int, dict[str, int]] = defaultdict(lambda: {"current": 0, "previous": 0})
        for channel_id, day, value in DailyMetric.objects.filter(
            channel_id__in=channel_ids, metric=str(level), day__gte=previous.start, day__lte=period.end
        ).values_list("channel_id", "day", "value"):
            which = "current" if day >= period.start else "previous"
            days[channel_id][which] += 1
            if which not in last[channel_id] or last[channel_id][which][0] < day:
                last[channel_id][which] = (day, value)
        for channel_id in set(last) | set(days):
            found[channel_id][str(level)] = ChannelMeasure(
                current=last[channel_id].get("current", (None, None))[1],
                previous=last[channel_id].get("previous", (None, None))[1],
                current_days=days[channel_id]["current"],
                previous_days=days[channel_id]["previous"],
            )
    for channel_id, metric, reason, detail in (
        MetricStatus.objects.filter(channel_id__in=channel_ids)
        .exclude(unavailable_reason="")
        .values_list("channel_id", "metric", "unavailable_reason", "detail")
    ):
        measure = found[channel_id].setdefault(metric, ChannelMeasure())
        if measure.current is None and measure.previous is None:
            measure.unavailable, measure.detail = Reason(reason), detail
    return found


# A roll-up names the same channels and reasons in hundreds of gaps; translating each time was a third of its time.
@lru_cache(maxsize=64)
def _reason_text(reason: Reason, language: str | None) -> str:
    return str(REASON_LABELS[reason])


@lru_cache(maxsize=64)
def _metric_label(metric: Metric, language: str | None) -> str:
    return str(METRIC_LABELS[metric])


def _name(channel: Channel, language: str | None) -> str:
    """str(channel), remembered on the instance per language (an overview loads its channels afresh)."""
    names = channel.__dict__.setdefault("_insights_names", {})
    if language not in names:
        names[language] = str(channel)
    return names[language]


def _unavailable_reason(channel: Channel, metric: str, measure: ChannelMeasure | None) -> Reason | None:
    if measure is not None and measure.unavailable:
        return measure.unavailable
    reader = insights_reader_for(channel.network)
    if reader is None:
        return Reason.NO_METRICS
    if metric in Metric and Metric(metric) not in reader.account_metrics:
        return reader.missing_reason(Metric(metric)).reason
    return None


def figure_for(
    metric: Metric, channels: list[Channel], found: dict[int, dict[str, ChannelMeasure]], period: Period
) -> Figure:
    """Adds one measure up over channels, keeping track of which channels are missing and why."""
    previous_period = period.previous()
    language = get_language()
    total = previous = 0
    counted, complete = 0, True
    gaps, partial = [], []
    for channel in channels:
        measure = found.get(channel.pk, {}).get(str(metric))
        reason = _unavailable_reason(channel, str(metric), measure)
        if reason is not None:
            gaps.append(Gap(_name(channel, language), _reason_text(reason, language)))
            continue
        if measure is None or measure.current is None:
            gaps.append(Gap(_name(channel, language), _reason_text(Reason.NOT_COLLECTED, language)))
            complete = False
            continue
        counted += 1
        total += measure.current
        previous += measure.previous or 0
        needs = (period.days, previous_period.days) if metric not in LEVELS else (1, 1)
        if measure.current_days < needs[0] or measure.previous_days < needs[1]:
            complete = False
            partial.append(
                _("%(channel)s: %(current)s of %(days)s days, previous period %(previous)s")
                % {
                    "channel": channel,
                    "current": measure.current_days,
                    "days": period.days,
                    "previous": measure.previous_days,
                }
            )
    value = total if counted else None
    prev_value = previous if counted and complete else None
    change = percent_change(value, prev_value) if complete else None
    comparison = _comparison(value, prev_value, complete, previous_period)
    notes = []
    if partial:
        notes.append(_("Incomplete data: %s.") % "; ".join(partial))
    if counted > 1 and metric in (Metric.REACH,):
        notes.append(_("Reach is added up page by page: a person reached by two pages counts twice."))
    return Figure(
        str(metric),
        _metric_label(metric, language),
        value,
        prev_value,
        change,
        comparison,
        notes=notes,
        gaps=gaps,
        channels_counted=counted,
    )


@lru_cache(maxsize=64)
def _period_label(period: Period, language: str | None) -> str:
    """Formatting dates is slow and a roll-up asks for the same label hundreds of times."""
    return period.label()


def _comparison(value: int | None, previous: int | None, complete: bool, previous_period: Period) -> str:
    if value is None:
        return _("Not available for these pages.")
    if not complete:
        return _("No comparison: some days of the two periods were not collected.")
    label = _period_label(previous_period, get_language())
    if previous == 0:
        return _("No comparison: the previous period (%(period)s) had none.") % {"period": label}
    return _("Compared with the previous %(days)s days (%(period)s).") % {
        "days": previous_period.days,
        "period": label,
    }


def net_follows_figure(channels: list[Channel], found: dict[int, dict[str, ChannelMeasure]], period: Period) -> Figure:
    """New followers minus unfollows where the network gives both; else the change in followers over the
    period (first to last stored value). The basis is said on the page."""
    follows = figure_for(Metric.FOLLOWS, channels, found, period)
    unfollows = figure_for(Metric.UNFOLLOWS, channels, found, period)
    label = _("Net follows")
    language = get_language()
    if follows.value is not None and unfollows.value is not None and not follows.gaps and not unfollows.gaps:
        value = follows.value - unfollows.value
        previous = (
            follows.previous - unfollows.previous
            if follows.previous is not None and unfollows.previous is not None
            else None
        )
        change = percent_change(value, previous)
        comparison = (
            follows.comparison if previous else _comparison(value, previous, previous is not None, period.previous())
        )
        return Figure(
            NET_FOLLOWS,
            label,
            value,
            previous,
            change,
            comparison,
            notes=[_("New followers minus unfollows, as the networks count them.")],
            channels_counted=follows.channels_counted,
        )
    # From the followers' levels: last value of the period minus the last value before it.
    total, counted, gaps = 0, 0, []
    for channel in channels:
        measure = found.get(channel.pk, {}).get(str(Metric.FOLLOWERS))
        reason = _unavailable_reason(channel, str(Metric.FOLLOWERS), measure)
        if reason is not None or measure is None or measure.current is None or measure.previous is None:
            gaps.append(Gap(_name(channel, language), _reason_text(reason or Reason.NOT_COLLECTED, language)))
            continue
        counted += 1
        total += measure.current - measure.previous
    return Figure(
        NET_FOLLOWS,
        label,
        total if counted else None,
        None,
        None,
        _("Change in followers between the end of the previous period and the end of this one."),
        notes=[_("Computed from the follower counts: this network does not give follows and unfollows per day.")],
        gaps=gaps,
        channels_counted=counted,
    )


def post_counts(channels: list[Channel], period: Period, zone_name: str) -> dict[int, tuple[int, int]]:
    """Per channel: posts published on the network in the period and in the previous one (days in the viewer's
    zone), as found by the sync — one query for every channel."""
    zone = zoneinfo.ZoneInfo(zone_name)
    previous_period = period.previous()

    def at(day: date) -> datetime:
        return datetime.combine(day, time(), zone)

    start, end, prev_start = at(period.start), at(period.end + timedelta(days=1)), at(previous_period.start)
    rows = (
        ChannelPost.objects.filter(channel__in=channels, published_at__gte=prev_start, published_at__lt=end)
        .values("channel_id")
        .annotate(
            current=Count("id", filter=Q(published_at__gte=start)),
            previous=Count("id", filter=Q(published_at__lt=start)),
        )
    )
    return {row["channel_id"]: (row["current"], row["previous"]) for row in rows}


def posts_figure(channels: list[Channel], counts: dict[int, tuple[int, int]], period: Period) -> Figure:
    with_stats = [c for c in channels if insights_reader_for(c.network) is not None]
    counted = {c.pk for c in with_stats}  # a set: a list's `in` compares model instances one by one
    language = get_language()
    no_metrics = _reason_text(Reason.NO_METRICS, language)
    gaps = [Gap(_name(c, language), no_metrics) for c in channels if c.pk not in counted]
    value = sum(counts.get(c.pk, (0, 0))[0] for c in with_stats) if with_stats else None
    previous = sum(counts.get(c.pk, (0, 0))[1] for c in with_stats) if with_stats else None
    return Figure(
        POSTS,
        _("Posts published"),
        value,
        previous,
        percent_change(value, previous),
        _comparison(value, previous, True, period.previous()),
        gaps=gaps,
        channels_counted=len(with_stats),
    )


def figures_for(
    channels: list[Channel],
    found: dict[int, dict[str, ChannelMeasure]],
    period: Period,
    counts: dict[int, tuple[int, int]],
) -> dict[str, Figure]:
    figures = {
        str(metric): figure_for(metric, channels, found, period)
        for metric in (Metric.REACH, Metric.VIEWS, Metric.INTERACTIONS, Metric.FOLLOWERS)
    }
    figures[NET_FOLLOWS] = net_follows_figure(channels, found, period)
    figures[POSTS] = posts_figure(channels, counts, period)
    return figures


def daily_series(channels: list[Channel], period: Period) -> dict[str, list[tuple[date, int | None]]]:
    """Per measure, the total of each day over the channels (None on a day no channel has a value)."""
    totals: dict[str, dict[date, int]] = defaultdict(dict)
    for metric, day, value in (
        DailyMetric.objects.filter(channel__in=channels, day__gte=period.start, day__lte=period.end)
        .values("metric", "day")
        .annotate(value=Sum("value"))
        .values_list("metric", "day", "value")
    ):
        totals[metric][day] = value
    return {str(metric): [(day, totals[str(metric)].get(day)) for day in period.dates()] for metric in Metric}


def overview(scope: Scope, period: Period, zone_name: str, *, rollups: bool = True) -> Overview:
    channels = scope.channels
    found = measures(scope.channel_ids, period)
    counts = post_counts(channels, period, zone_name)
    figures = figures_for(channels, found, period, counts)
    series = daily_series(channels, period)
    for key, figure in figures.items():
        figure.series = series.get(key, [])
    rows: list[RollupRow] = []
    if rollups and len(channels) > 1:
        rows = rollup_rows(scope, found, period, counts)
    return Overview(scope, period, period.previous(), figures, rows)


def rollup_rows(
    scope: Scope,
    found: dict[int, dict[str, ChannelMeasure]],
    period: Period,
    counts: dict[int, tuple[int, int]],
) -> list[RollupRow]:
    """National, regional and local totals, then each page group (with its sub-groups), then each channel."""
    channels = scope.channels
    groups = list(PageGroup.objects.filter(organisation=scope.organisation).order_by("level", "name"))
    children: dict[int | None, list[int]] = defaultdict(list)
    by_id = {group.pk: group for group in groups}
    for group in groups:
        children[group.parent_id].append(group.pk)
        if group.parent_id in by_id:
            group.parent = by_id[group.parent_id]  # path_label() then needs no query per ancestor

    def subtree_of(root: int) -> set[int]:
        found_ids, stack = set(), [root]
        while stack:
            node = stack.pop()
            found_ids.add(node)
            stack.extend(children[node])
        return found_ids

    by_group: dict[int | None, list[Channel]] = defaultdict(list)
    for channel in channels:
        by_group[channel.group_id].append(channel)
    rows = []
    for level, label in PageGroup.Level.choices:
        level_ids = {g.pk for g in groups if g.level == level}
        members = [c for c in channels if c.group_id in level_ids]
        if members:
            rows.append(
                RollupRow(
                    ngettext("%(level)s (%(count)s page)", "%(level)s (%(count)s pages)", len(members))
                    % {"level": label, "count": len(members)},
                    "level",
                    figures_for(members, found, period, counts),
                )
            )
    for group in groups:
        subtree = subtree_of(group.pk)
        members = [c for c in channels if c.group_id in subtree]
        if members and (scope.group is None or group.pk != scope.group.pk):
            rows.append(
                RollupRow(group.path_label(), "group", figures_for(members, found, period, counts), group=group)
            )
    for channel in channels:
        rows.append(RollupRow(str(channel), "channel", figures_for([channel], found, period, counts), channel=channel))
    return rows
