"""Post performance: by type and network, top and bottom posts, engagement rate, each post's lifetime curve."""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Avg, Count, Sum
from django.utils.translation import gettext_lazy as _

from beffroi.insights.metrics import POST_TYPE_LABELS, Metric, PostType
from beffroi.insights.models import ChannelPost, DailyMetric, PostSnapshot
from beffroi.insights.periods import Period
from beffroi.insights.scope import Scope

SORTS = ("published_at", "interactions", "reach", "views", "likes", "comments", "shares", "engagement_rate")


@dataclass
class PostRow:
    post: ChannelPost
    engagement_rate: float | None  # % of interactions per person reached (or per view, or per follower)
    rate_basis: str  # "reach" | "views" | "followers" | ""

    def __getattr__(self, name: str):
        return getattr(self.post, name)


@dataclass
class TypeRow:
    network: str
    post_type: str
    label: str
    posts: int
    interactions_avg: float | None
    reach_avg: float | None
    views_avg: float | None
    interactions_total: int | None


def period_bounds(period: Period, zone_name: str) -> tuple[datetime, datetime]:
    zone = zoneinfo.ZoneInfo(zone_name)
    return (
        datetime.combine(period.start, time(), zone),
        datetime.combine(period.end + timedelta(days=1), time(), zone),
    )


def posts_in(scope: Scope, period: Period, zone_name: str):
    start, end = period_bounds(period, zone_name)
    return ChannelPost.objects.filter(channel__in=scope.channels, published_at__gte=start, published_at__lt=end)


def engagement_rate(post: ChannelPost, followers: int | None) -> tuple[float | None, str]:
    """Interactions per person reached; where the network gives no reach, per view; else per follower."""
    if post.interactions is None:
        return None, ""
    for denominator, basis in ((post.reach, "reach"), (post.views, "views"), (followers, "followers")):
        if denominator:
            return post.interactions / denominator * 100, basis
    return None, ""


def followers_on(channel_ids: list[int], until: date) -> dict[int, list[tuple[date, int]]]:
    """Stored follower counts per channel, oldest first (for per-follower rates)."""
    found: dict[int, list[tuple[date, int]]] = defaultdict(list)
    for channel_id, day, value in (
        DailyMetric.objects.filter(channel_id__in=channel_ids, metric=str(Metric.FOLLOWERS), day__lte=until)
        .order_by("channel_id", "day")
        .values_list("channel_id", "day", "value")
    ):
        found[channel_id].append((day, value))
    return found


def _followers_at(history: list[tuple[date, int]], day: date) -> int | None:
    best = None
    for stored_day, value in history:
        if stored_day > day:
            break
        best = value
    return best if best is not None else (history[0][1] if history else None)


def post_rows(scope: Scope, period: Period, zone_name: str, *, sort: str = "interactions", descending=True):
    posts = list(posts_in(scope, period, zone_name).select_related("channel", "publication"))
    history = (
        followers_on(scope.channel_ids, period.end) if any(p.reach is None and p.views is None for p in posts) else {}
    )
    rows = []
    for post in posts:
        rate, basis = engagement_rate(post, _followers_at(history.get(post.channel_id, []), post.published_at.date()))
        rows.append(PostRow(post, rate, basis))
    if sort not in SORTS:
        sort = "interactions"

    def value(row: PostRow):
        return row.engagement_rate if sort == "engagement_rate" else getattr(row.post, sort)

    # Unknown values always go last, whichever the direction.
    known = sorted((r for r in rows if value(r) is not None), key=value, reverse=descending)
    rows = known + [r for r in rows if value(r) is None]
    return rows


def top_and_bottom(rows: list[PostRow], count: int = 5) -> tuple[list[PostRow], list[PostRow]]:
    known = sorted(
        (r for r in rows if r.post.interactions is not None), key=lambda r: r.post.interactions, reverse=True
    )
    top = known[:count]
    bottom = [r for r in reversed(known[-count:]) if r not in top] if len(known) > count else []
    return top, bottom


def by_type(scope: Scope, period: Period, zone_name: str) -> list[TypeRow]:
    rows = (
        posts_in(scope, period, zone_name)
        .values("channel__network", "post_type")
        .annotate(
            posts=Count("id"),
            interactions_avg=Avg("interactions"),
            reach_avg=Avg("reach"),
            views_avg=Avg("views"),
            interactions_total=Sum("interactions"),
        )
        .order_by("channel__network", "-posts")
    )
    return [
        TypeRow(
            row["channel__network"],
            row["post_type"],
            str(POST_TYPE_LABELS.get(PostType(row["post_type"]), row["post_type"])),
            row["posts"],
            row["interactions_avg"],
            row["reach_avg"],
            row["views_avg"],
            row["interactions_total"],
        )
        for row in rows
    ]


def lifetime_curve(post: ChannelPost) -> list[dict]:
    """The post's measures at each reading, with hours since publication."""
    return [
        {
            "hours": round((snapshot.taken_at - post.published_at).total_seconds() / 3600, 1),
            "taken_at": snapshot.taken_at,
            "interactions": snapshot.interactions,
            "reach": snapshot.reach,
            "views": snapshot.views,
            "likes": snapshot.likes,
            "comments": snapshot.comments,
            "shares": snapshot.shares,
        }
        for snapshot in PostSnapshot.objects.filter(post=post).order_by("taken_at")
    ]


RATE_BASIS_LABELS = {
    "reach": _("per person reached"),
    "views": _("per view"),
    "followers": _("per follower"),
}
