"""`beffroi bench insights`: how fast the statistics pages' computations answer over years of stored data.

Run inside a throwaway database by the `bench` command (`--inner`). It builds one organisation with channels of
four networks in national, regional and local page groups, years of daily measures, posts with their readings
(snapshots), audience breakdowns, Instagram's hourly online counts and dated interactions; then it times, server
side, the overview (organisation, one group, one channel), the audience, the heatmap and the best time, and the
overview page through Django's test client when it is built. It also loads the same daily measures into DuckDB
and times the overview's aggregate there, for comparison. Everything is seeded: the same sizes give the same rows.
"""

from __future__ import annotations

import csv
import math
import os
import platform
import random
import statistics
import tempfile
import time
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from beffroi.insights.metrics import Dimension, Metric, PostType, Reason

ZONE = "Europe/Paris"  # the organisation's and the viewer's zone
META_ZONE = "America/Los_Angeles"  # Meta counts its hours and days in Pacific time
TARGET_P95_MS = 300.0
OVERVIEW_DAYS = 28
HEATMAP_DAYS = 90
AUDIENCE_EVERY_DAYS = 7  # as the sync reads it
BATCH = 10_000

NETWORKS = ("facebook", "instagram", "bluesky", "mastodon")
META = frozenset({"facebook", "instagram"})
# Bluesky and Mastodon give a follower count and nothing else per day.
FOLLOWERS_ONLY = (Metric.FOLLOWERS,)
# A post's readings: often in its first two days, then daily (the sync's rhythm), at most this many.
SNAPSHOT_HOURS = (6, 12, 18, 24, 30, 36, 42, 48, 72, 96)
POST_TYPES = {
    "facebook": (PostType.PHOTO, PostType.LINK, PostType.VIDEO, PostType.TEXT),
    "instagram": (PostType.PHOTO, PostType.CAROUSEL, PostType.REEL, PostType.STORY),
    "bluesky": (PostType.TEXT, PostType.PHOTO),
    "mastodon": (PostType.TEXT, PostType.PHOTO),
}
# When people are active, by local hour in France (a weight per hour, 0 to 23).
ACTIVITY = (1, 1, 1, 1, 1, 2, 4, 7, 9, 8, 8, 10, 14, 12, 9, 8, 9, 12, 16, 18, 17, 13, 7, 3)
_ACTIVITY_CUMULATIVE = tuple(sum(ACTIVITY[: hour + 1]) for hour in range(24))  # rng.choices is faster with these
HOURS = range(24)
AGE_BANDS = ("13-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
COUNTRIES = ("FR", "BE", "CH", "CA", "MA", "DZ", "TN", "SN", "CI", "ES", "DE", "IT", "GB", "US", "PT")
CITIES = tuple(
    f"{name}, France"
    for name in (
        "Paris",
        "Lyon",
        "Marseille",
        "Lille",
        "Valenciennes",
        "Toulouse",
        "Nantes",
        "Bordeaux",
        "Rennes",
        "Strasbourg",
        "Montpellier",
        "Grenoble",
        "Dijon",
        "Angers",
        "Nîmes",
        "Reims",
        "Le Havre",
        "Brest",
        "Tours",
        "Amiens",
        "Limoges",
        "Metz",
        "Besançon",
        "Orléans",
        "Rouen",
        "Caen",
        "Nancy",
        "Roubaix",
        "Tourcoing",
        "Avignon",
    )
)
LANGUAGES = ("fr_FR", "en_US", "en_GB", "ar_AR", "es_ES", "pt_PT", "de_DE", "it_IT", "nl_NL", "fr_CA")


@dataclass(frozen=True)
class Sizes:
    channels: int = 100
    days: int = 3 * 365
    snapshots: int = 500_000
    events: int = 300_000
    online_days: int = HEATMAP_DAYS
    requests: int = 30
    seed: int = 42


@dataclass
class Built:
    """What the timed computations need from the loaded data."""

    user: Any
    membership: Any
    slug: str
    channels: list[Any]
    region: Any  # a regional group (with local groups below it)
    busy: Any  # the channel with many posts and interactions (Facebook: its heatmap is from interactions)
    instagram: Any  # a channel with hourly online counts
    counts: dict[str, int] = field(default_factory=dict)
    load_s: dict[str, float] = field(default_factory=dict)


# Loading -------------------------------------------------------------------------------------------------------


def _stamp(moment: datetime) -> Any:
    """A UTC instant as the database takes it in a raw insert: SQLite stores Django's naive UTC text."""
    if connection.vendor == "sqlite":
        return str(moment.astimezone(UTC).replace(tzinfo=None))
    return moment


def _day(day: date) -> Any:
    return day.isoformat() if connection.vendor == "sqlite" else day


def insert_rows(model, fields: list[str], rows: Iterable[tuple]) -> int:
    """Raw bulk insert of many rows (COPY on PostgreSQL, executemany in one transaction on SQLite): model
    instances and generated SQL would cost more than the database does. Values must already be in the
    database's form (see _stamp, _day); the table must have no JSON column."""
    meta = model._meta
    quote = connection.ops.quote_name
    columns = ", ".join(quote(meta.get_field(name).column) for name in fields)
    table = quote(meta.db_table)
    count = 0
    connection.ensure_connection()
    if connection.vendor == "postgresql":
        with (
            transaction.atomic(),
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
                count += 1
        return count
    sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"  # noqa: S608 — model names
    with transaction.atomic(), connection.cursor() as cursor:
        batch: list[tuple] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= BATCH:
                cursor.executemany(sql, batch)
                count += len(batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
            count += len(batch)
    return count


def _tenancy(sizes: Sizes, rng: random.Random):
    """One organisation: a national group, regions below it, local groups below them; channels spread over the
    four networks and the three levels (a few national pages, some regional ones, most local)."""
    from beffroi.accounts.models import User
    from beffroi.channels.models import Channel
    from beffroi.organisations.models import Membership, Organisation, PageGroup
    from beffroi.organisations.roles import Role

    suffix = f"{os.getpid()}-{rng.randrange(10**6)}"
    organisation = Organisation.objects.create(
        name="Insights benchmark", slug=f"bench-insights-{suffix}", time_zone=ZONE
    )
    national = PageGroup.objects.create(organisation=organisation, name="National", level=PageGroup.Level.NATIONAL)
    region_count = max(1, min(6, sizes.channels // 16))
    regions = [
        PageGroup.objects.create(
            organisation=organisation, name=f"Region {n + 1}", level=PageGroup.Level.REGIONAL, parent=national
        )
        for n in range(region_count)
    ]
    locals_ = [
        PageGroup.objects.create(
            organisation=organisation,
            name=f"Local {r + 1}.{n + 1}",
            level=PageGroup.Level.LOCAL,
            parent=region,
        )
        for r, region in enumerate(regions)
        for n in range(4)
    ]
    regional_count = min(4 * region_count, max(0, sizes.channels - 4))
    channels = []
    for n in range(sizes.channels):
        network = NETWORKS[n % len(NETWORKS)]
        if n < 4:
            group = national
        elif n < 4 + regional_count:
            group = regions[(n - 4) // 4 % region_count]
        else:
            group = locals_[(n - 4 - regional_count) % len(locals_)]
        # A few overseas pages keep their own zone (the overview and best time must follow it).
        zone = "America/Martinique" if n % 33 == 32 else ("Indian/Reunion" if n % 47 == 46 else "")
        channels.append(
            Channel(
                organisation=organisation,
                group=group,
                network=network,
                display_name=f"{group.name} {network} {n}",
                remote_id=f"bench-{n}",
                time_zone=zone,
            )
        )
    channels = Channel.objects.bulk_create(channels)
    for channel in channels:
        channel.organisation = organisation  # best time reads the organisation's zone
    user = User.objects.create_user(f"bench-insights-{suffix}@example.org", "bench-insights-pw", full_name="Bench")
    membership = Membership.objects.create(organisation=organisation, user=user, role=Role.ADMIN)
    return user, membership, regions[0], channels


def _base_followers(channel, rng: random.Random) -> int:
    level = channel.group.level if channel.group else 3
    base = {1: 40_000, 2: 8_000, 3: 1_500}[level]
    return int(base * rng.uniform(0.5, 1.5))


def _daily_rows(channels, bases: dict[int, int], first: date, days: int, rng: random.Random) -> Iterator[tuple]:
    """Per channel and day what its network gives: Meta every measure, Bluesky and Mastodon followers only."""
    now = _stamp(timezone.now())
    for channel in channels:
        base = bases[channel.pk]
        followers = base
        meta = channel.network in META
        for offset in range(days):
            day = first + timedelta(days=offset)
            stored_day = _day(day)
            weekday = 1.2 if day.weekday() < 5 else 0.8
            follows = int(base * 0.002 * rng.uniform(0.2, 1.8)) + rng.randrange(3)
            unfollows = int(follows * rng.uniform(0.2, 0.6))
            followers += follows - unfollows
            yield (channel.pk, Metric.FOLLOWERS.value, stored_day, followers, now, False)
            if not meta:
                continue
            reach = int(followers * 0.08 * weekday * rng.lognormvariate(0, 0.35))
            yield (channel.pk, Metric.REACH.value, stored_day, reach, now, False)
            yield (channel.pk, Metric.VIEWS.value, stored_day, int(reach * rng.uniform(1.3, 2.5)), now, False)
            yield (channel.pk, Metric.INTERACTIONS.value, stored_day, int(reach * rng.uniform(0.02, 0.06)), now, False)
            yield (channel.pk, Metric.FOLLOWS.value, stored_day, follows, now, False)
            yield (channel.pk, Metric.UNFOLLOWS.value, stored_day, unfollows, now, False)


def _metric_statuses(channels) -> int:
    from beffroi.insights.models import MetricStatus

    rows = []
    for channel in channels:
        for metric in Metric:
            if channel.network in META:
                rows.append(MetricStatus(channel=channel, metric=metric.value, source_name=f"page_{metric.value}"))
            elif metric in FOLLOWERS_ONLY:
                rows.append(MetricStatus(channel=channel, metric=metric.value, source_name="followersCount"))
            else:
                rows.append(
                    MetricStatus(
                        channel=channel,
                        metric=metric.value,
                        unavailable_reason=Reason.NOT_ON_NETWORK.value,
                        detail=f"{channel.network} gives no {metric.value}",
                    )
                )
    return len(MetricStatus.objects.bulk_create(rows, batch_size=2000))


def _post_plan(channels, busy, sizes: Sizes, start: datetime, now: datetime, rng: random.Random):
    """Posts until the snapshots reach the wanted count: (channel, published_at, readings, final values).
    The busy channel has 8 % of the posts; the others share the rest."""
    others = [c for c in channels if c.pk != busy.pk] or [busy]
    span = (now - start).total_seconds()
    plan, total = [], 0
    while total < sizes.snapshots:
        channel = busy if rng.random() < 0.08 else rng.choice(others)
        # Published at a plausible local hour (the best time has something to find).
        day = start + timedelta(seconds=rng.uniform(0, span))
        hour = rng.choices(HOURS, cum_weights=_ACTIVITY_CUMULATIVE)[0]
        published = day.astimezone(zoneinfo.ZoneInfo(ZONE)).replace(hour=hour, minute=rng.randrange(60))
        published = min(published.astimezone(UTC), now - timedelta(hours=1))
        readings = [h for h in SNAPSHOT_HOURS if published + timedelta(hours=h) <= now] or [0]
        readings = readings[: sizes.snapshots - total]
        total += len(readings)
        likes = int(rng.lognormvariate(3.5, 1.0) * (1.5 if 11 <= hour <= 13 or 18 <= hour <= 20 else 1.0))
        comments, shares = int(likes * rng.uniform(0.05, 0.3)), int(likes * rng.uniform(0.02, 0.2))
        saves = int(likes * rng.uniform(0.0, 0.1)) if channel.network == "instagram" else None
        final = {"likes": likes, "comments": comments, "shares": shares, "saves": saves}
        final["interactions"] = likes + comments + shares + (saves or 0)
        if channel.network in META:
            final["reach"] = int(likes * rng.uniform(15, 60))
            final["views"] = int(final["reach"] * rng.uniform(1.2, 2.0))
        else:
            final["reach"] = final["views"] = None
        plan.append((channel, published, readings, final))
    return plan


def _growth(hours: int) -> float:
    """Share of a post's lifetime numbers reached `hours` after it went out."""
    return 1 - math.exp(-max(hours, 1) / 12)


def _posts(plan, rng: random.Random) -> list:
    from beffroi.insights.models import ChannelPost

    now = timezone.now()
    posts = []
    for n, (channel, published, readings, final) in enumerate(plan):
        share = _growth(readings[-1]) / _growth(SNAPSHOT_HOURS[-1])
        latest = {key: (round(value * share) if value is not None else None) for key, value in final.items()}
        posts.append(
            ChannelPost(
                channel=channel,
                remote_id=f"post-{n}",
                text=f"Benchmark post {n}",
                post_type=rng.choice(POST_TYPES[channel.network]).value,
                published_at=published,
                unavailable={} if channel.network in META else {"views": "not_on_network", "reach": "not_on_network"},
                metrics_read_at=published + timedelta(hours=readings[-1]),
                next_read_at=now + timedelta(days=1),
                **latest,
            )
        )
    return ChannelPost.objects.bulk_create(posts, batch_size=2000)


def _snapshot_rows(posts, plan) -> Iterator[tuple]:
    last = _growth(SNAPSHOT_HOURS[-1])
    for post, (_channel, published, readings, final) in zip(posts, plan, strict=True):
        for hours in readings:
            share = _growth(hours) / last
            values = [None if final[k] is None else round(final[k] * share) for k in _SNAPSHOT_VALUES]
            yield (post.pk, _stamp(published + timedelta(hours=hours)), *values)


_SNAPSHOT_VALUES = ("views", "reach", "likes", "comments", "shares", "saves", "interactions")


def _event_rows(channels, busy, count: int, today: date, rng: random.Random) -> Iterator[tuple]:
    """Dated interactions over the last year, at the hours people are active in France (a fifth on the busy
    channel, the rest spread over every channel)."""
    paris = zoneinfo.ZoneInfo(ZONE)
    kinds = ("like", "like", "like", "comment", "share")
    for n in range(count):
        channel = busy if rng.random() < 0.2 else channels[rng.randrange(len(channels))]
        day = today - timedelta(days=rng.randrange(1, 366))
        hour = rng.choices(HOURS, cum_weights=_ACTIVITY_CUMULATIVE)[0]
        local = datetime(day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60), tzinfo=paris)
        yield (channel.pk, None, f"e{n}", rng.choice(kinds), _stamp(local.astimezone(UTC)), False)


def _online_hours(channels, bases: dict[int, int], days: int, now: datetime, rng: random.Random) -> int:
    """Instagram's followers online per hour, in Pacific time, for the last `days` days."""
    from beffroi.insights.models import OnlineHours

    rows = []
    la_today = now.astimezone(zoneinfo.ZoneInfo(META_ZONE)).date()
    for channel in channels:
        if channel.network != "instagram":
            continue
        for offset in range(1, days + 1):
            day = la_today - timedelta(days=offset)
            # Paris is 8 or 9 hours ahead of Los Angeles: the French evening is the Pacific morning.
            hours = [
                int(bases[channel.pk] * 0.01 * ACTIVITY[(hour + 9) % 24] * rng.uniform(0.8, 1.2)) for hour in range(24)
            ]
            rows.append(OnlineHours(channel=channel, day=day, zone=META_ZONE, hours=hours))
    OnlineHours.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def _counts_for(dimension: Dimension, people: int, rng: random.Random) -> dict[str, int]:
    if dimension is Dimension.AGE_GENDER:
        keys = [f"{g}.{band}" for g in ("F", "M") for band in AGE_BANDS] + ["U.25-34", "U.35-44"]
    elif dimension is Dimension.COUNTRY:
        keys = list(COUNTRIES)
    elif dimension is Dimension.CITY:
        keys = list(CITIES)
    else:
        keys = list(LANGUAGES)
    weights = [rng.paretovariate(1.2) for _ in keys]
    total = sum(weights)
    return {key: max(1, int(people * weight / total)) for key, weight in zip(keys, weights, strict=True)}


def _audience(channels, bases: dict[int, int], first: date, today: date, rng: random.Random) -> int:
    """A weekly reading of the four breakdowns for each Meta page (history kept); two small pages withheld
    (under 100 followers); Bluesky and Mastodon say they have none."""
    from beffroi.insights.models import AudienceBreakdown

    rows: list[AudienceBreakdown] = []
    meta = [c for c in channels if c.network in META]
    withheld = {c.pk for c in meta[-2:]} if len(meta) > 10 else set()
    readings = [first + timedelta(days=d) for d in range(0, (today - first).days, AUDIENCE_EVERY_DAYS)]
    count = 0
    for channel in channels:
        for dimension in Dimension:
            if channel.network not in META:
                rows.append(
                    AudienceBreakdown(
                        channel=channel,
                        dimension=dimension.value,
                        taken_on=today - timedelta(days=1),
                        unavailable_reason=Reason.NOT_ON_NETWORK.value,
                    )
                )
                continue
            for taken_on in readings:
                if channel.pk in withheld:
                    row = AudienceBreakdown(
                        channel=channel,
                        dimension=dimension.value,
                        taken_on=taken_on,
                        unavailable_reason=Reason.TOO_FEW_FOLLOWERS.value,
                        detail="(#100) Not enough followers",
                    )
                else:
                    people = bases[channel.pk] + (taken_on - first).days * bases[channel.pk] // 1000
                    row = AudienceBreakdown(
                        channel=channel,
                        dimension=dimension.value,
                        taken_on=taken_on,
                        counts=_counts_for(dimension, people, rng),
                    )
                rows.append(row)
        if len(rows) >= 2000:
            count += len(AudienceBreakdown.objects.bulk_create(rows))
            rows = []
    count += len(AudienceBreakdown.objects.bulk_create(rows))
    return count


def load(sizes: Sizes, log: Callable[[str], None]) -> Built:
    from beffroi.insights.models import DailyMetric, EngagementEvent, PostSnapshot

    rng = random.Random(sizes.seed)  # noqa: S311 — repeatable test data, not secrets
    # Everything is placed relative to the start of today in Paris: the same seed on the same day gives the
    # same rows (from the current time, the last posts' readings, and so every later draw, would shift).
    today = timezone.now().astimezone(zoneinfo.ZoneInfo(ZONE)).date()
    now = datetime.combine(today, datetime.min.time(), zoneinfo.ZoneInfo(ZONE)).astimezone(UTC)
    first = today - timedelta(days=sizes.days)  # the days stored: first … yesterday
    timings: dict[str, float] = {}
    counts: dict[str, int] = {}

    def step(name: str, work: Callable[[], int]) -> None:
        started = time.perf_counter()
        counts[name] = work()
        timings[name] = round(time.perf_counter() - started, 2)
        log(f"  {name}: {counts[name]:,} rows in {timings[name]:.1f} s")

    log(f"Loading {sizes.channels} channels, {sizes.days} days, {sizes.snapshots:,} post snapshots…")
    started = time.perf_counter()
    user, membership, region, channels = _tenancy(sizes, rng)
    bases = {channel.pk: _base_followers(channel, rng) for channel in channels}
    busy = channels[0]  # the national Facebook page
    instagram = next((c for c in channels if c.network == "instagram"), busy)
    step(
        "daily_metrics",
        lambda: insert_rows(
            DailyMetric,
            ["channel", "metric", "day", "value", "collected_at", "is_demo"],
            _daily_rows(channels, bases, first, sizes.days, rng),
        ),
    )
    step("metric_statuses", lambda: _metric_statuses(channels))
    plan = _post_plan(channels, busy, sizes, datetime.combine(first, datetime.min.time(), UTC), now, rng)
    posts: list = []

    def load_posts() -> int:
        posts.extend(_posts(plan, rng))
        return len(posts)

    step("posts", load_posts)
    step(
        "post_snapshots",
        lambda: insert_rows(
            PostSnapshot,
            ["post", "taken_at", *_SNAPSHOT_VALUES],
            _snapshot_rows(posts, plan),
        ),
    )
    step(
        "engagement_events",
        lambda: insert_rows(
            EngagementEvent,
            ["channel", "post", "remote_id", "kind", "occurred_at", "is_demo"],
            _event_rows(channels, busy, sizes.events, today, rng),
        ),
    )
    step("online_hours", lambda: _online_hours(channels, bases, sizes.online_days, now, rng))
    step("audience_breakdowns", lambda: _audience(channels, bases, first, today, rng))
    timings["total"] = round(time.perf_counter() - started, 2)
    # A bulk-loaded table has no planner statistics yet; a live database's are kept by autovacuum.
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    timings["analyze"] = round(time.perf_counter() - started, 2)
    log(f"Loaded in {timings['total']:.1f} s, ANALYZE {timings['analyze']:.1f} s")
    return Built(user, membership, membership.organisation.slug, channels, region, busy, instagram, counts, timings)


# Stand-in readers ------------------------------------------------------------------------------------------------


@dataclass
class _StandInReader:
    """What the overview and audience ask of a network's reader (which measures it gives), for networks whose
    `insights.py` is not written yet: without it every channel would be skipped as "no statistics"."""

    network: str
    account_metrics: dict
    reporting_zone: str = "UTC"
    history_days: int | None = None

    def missing_reason(self, metric: Metric):
        from beffroi.insights.base import Unavailable

        return Unavailable(Reason.NOT_ON_NETWORK, f"{self.network} gives no {metric}")


@contextmanager
def readers_for_every_network() -> Iterator[list[str]]:
    """Adds stand-in readers for the benchmark's networks that have none yet; removes them afterwards."""
    from beffroi.networks.registry import insights_readers

    readers = insights_readers()
    added = []
    for network in NETWORKS:
        if readers.get(network) is None:
            metrics = Metric if network in META else FOLLOWERS_ONLY
            zone = META_ZONE if network in META else "UTC"
            readers[network] = _StandInReader(network, {m: () for m in metrics}, zone, 730 if network in META else None)
            added.append(network)
    try:
        yield added
    finally:
        for network in added:
            readers.pop(network, None)


# Timing -----------------------------------------------------------------------------------------------------------


def percentile(values: list[float], pct: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 3)
    return round(statistics.quantiles(values, n=100, method="inclusive")[pct - 1], 3)


def summary(durations_ms: list[float]) -> dict[str, float | None]:
    return {
        "p50": percentile(durations_ms, 50),
        "p95": percentile(durations_ms, 95),
        "max": round(max(durations_ms), 3) if durations_ms else None,
    }


def timed(work: Callable[[], Any], requests: int) -> tuple[dict[str, float | None], Any]:
    """One warm-up call (caches, first query plans), then `requests` timed calls."""
    result = work()
    durations = []
    for _ in range(requests):
        started = time.perf_counter()
        result = work()
        durations.append((time.perf_counter() - started) * 1000)
    return summary(durations), result


def computations(built: Built) -> dict[str, Callable[[], Any]]:
    """The service calls the statistics pages make, by name."""
    from beffroi.channels.models import Channel
    from beffroi.insights.audience import breakdown, pyramid
    from beffroi.insights.best_time import best_time
    from beffroi.insights.heatmap import heatmap_for
    from beffroi.insights.overview import measures, overview
    from beffroi.insights.periods import last_days
    from beffroi.insights.scope import scope_for

    today = timezone.now().astimezone(zoneinfo.ZoneInfo(ZONE)).date()
    period = last_days(today, OVERVIEW_DAYS)
    since = today - timedelta(days=HEATMAP_DAYS)
    membership = built.membership
    all_ids = [channel.pk for channel in built.channels]
    busy = Channel.objects.select_related("organisation").get(pk=built.busy.pk)

    def audience():
        scope = scope_for(membership)
        found = {dimension: breakdown(scope, dimension) for dimension in Dimension}
        return found, pyramid(found[Dimension.AGE_GENDER])

    return {
        "overview_organisation": lambda: overview(scope_for(membership), period, ZONE),
        "overview_group": lambda: overview(scope_for(membership, group_id=built.region.pk), period, ZONE),
        "overview_channel": lambda: overview(scope_for(membership, channel_id=built.busy.pk), period, ZONE),
        # The overview's database part alone: the aggregate DuckDB is compared with.
        "overview_measures_organisation": lambda: measures(all_ids, period),
        "audience_organisation": audience,
        "heatmap_organisation": lambda: heatmap_for(all_ids, ZONE, since, today),
        "heatmap_instagram_channel": lambda: heatmap_for([built.instagram.pk], ZONE, since, today),
        "heatmap_engagements_channel": lambda: heatmap_for([built.busy.pk], ZONE, since, today),
        "best_time_channel": lambda: best_time(busy),
    }


def _describe(results: dict[str, Any]) -> dict[str, Any]:
    """A few facts about what was computed, so a run that measured nothing shows it."""
    facts: dict[str, Any] = {}
    if (found := results.get("overview_organisation")) is not None:
        facts["overview_rows"] = len(found.rows)
        facts["overview_reach"] = found.figures["reach"].value
        facts["overview_reach_channels"] = found.figures["reach"].channels_counted
        facts["overview_followers"] = found.figures["followers"].value
        facts["overview_posts"] = found.figures["posts"].value
    if (found := results.get("audience_organisation")) is not None:
        breakdowns, _pyramid = found
        facts["audience_channels"] = breakdowns[Dimension.AGE_GENDER].channels_counted
        facts["audience_people"] = breakdowns[Dimension.AGE_GENDER].total
    for name in ("heatmap_organisation", "heatmap_instagram_channel", "heatmap_engagements_channel"):
        if (found := results.get(name)) is not None:
            facts[f"{name}_basis"] = f"{found.basis}:{found.sample}"
    if (found := results.get("best_time_channel")) is not None:
        facts["best_time_posts"] = found.posts_sample
        facts["best_time_confidence"] = found.confidence
        facts["best_time_basis"] = f"{found.activity_basis}:{found.activity_sample}"
    return facts


def _test_client(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def pages(built: Built, requests: int) -> tuple[dict[str, Any], str]:
    """The statistics pages through Django's test client (middleware, tenancy, the computation, the template)."""
    from django.conf import settings
    from django.test.utils import override_settings

    # The throwaway database has no collected static files: plain static URLs, as in the tests. The test client
    # calls itself "testserver". (Not setup_test_environment(): its instrumented templates would be timed too.)
    plain = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    with override_settings(STORAGES=plain, ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"]):
        return _pages(built, requests)


def _pages(built: Built, requests: int) -> tuple[dict[str, Any], str]:
    from django.urls import NoReverseMatch, reverse

    client = _test_client(built.user)
    group, busy, instagram = built.region.pk, built.busy.pk, built.instagram.pk
    # (URL name, parameters): each must answer 200.
    cases = {
        "overview_organisation_page": ("insights", {"days": OVERVIEW_DAYS}),
        "overview_group_page": ("insights", {"days": OVERVIEW_DAYS, "group": group}),
        "overview_channel_page": ("insights", {"days": OVERVIEW_DAYS, "channel": busy}),
        "audience_organisation_page": ("insights_audience", {}),
        "heatmap_organisation_page": ("insights_online", {"days": HEATMAP_DAYS}),
        "heatmap_instagram_channel_page": ("insights_online", {"days": HEATMAP_DAYS, "channel": instagram}),
        "best_time_channel_page": ("insights_best_time", {"channel": busy}),
    }
    found: dict[str, Any] = {}
    skipped: list[str] = []
    for name, (url_name, params) in cases.items():
        try:
            url = reverse(url_name, kwargs={"slug": built.slug})
        except NoReverseMatch:
            skipped.append(f"{name}: no page named {url_name}")
            continue
        response = client.get(url, params)
        if response.status_code != 200:
            skipped.append(f"{name}: {url} answered {response.status_code}")
            continue

        def get(url=url, params=params):
            response = client.get(url, params)
            assert response.status_code == 200
            return response

        found[name], _response = timed(get, requests)
    return found, "; ".join(skipped) if skipped else "every page timed"


# DuckDB -------------------------------------------------------------------------------------------------------

DUCKDB_OVERVIEW = """
SELECT channel_id, metric,
       sum(value) FILTER (WHERE day >= $current_start) AS current,
       count(*) FILTER (WHERE day >= $current_start) AS current_days,
       sum(value) FILTER (WHERE day <= $previous_end) AS previous,
       count(*) FILTER (WHERE day <= $previous_end) AS previous_days,
       arg_max(value, day) FILTER (WHERE day >= $current_start) AS current_last,
       arg_max(value, day) FILTER (WHERE day <= $previous_end) AS previous_last
FROM daily
WHERE list_contains($channels, channel_id) AND day BETWEEN $previous_start AND $current_end
GROUP BY channel_id, metric
"""


def duckdb_overview(built: Built, requests: int, ours_p95: dict[str, float | None]) -> dict[str, Any]:
    """Loads the same daily measures into DuckDB (exported as CSV: extensions cannot be downloaded here) and
    times the overview's aggregate there: per channel and measure the sums and day counts of both periods, and
    the last value (followers) of each."""
    import duckdb

    from beffroi.insights.metrics import LEVELS
    from beffroi.insights.models import DailyMetric
    from beffroi.insights.overview import measures
    from beffroi.insights.periods import last_days

    today = timezone.now().astimezone(zoneinfo.ZoneInfo(ZONE)).date()
    period = last_days(today, OVERVIEW_DAYS)
    previous = period.previous()
    channel_ids = [channel.pk for channel in built.channels]
    meta = DailyMetric._meta
    quote = connection.ops.quote_name
    columns = ", ".join(quote(meta.get_field(name).column) for name in ("channel", "metric", "day", "value"))
    with tempfile.TemporaryDirectory(prefix="beffroi-duckdb-") as folder:
        path = os.path.join(folder, "daily.csv")
        started = time.perf_counter()
        rows = 0
        with open(path, "w", newline="") as out, connection.cursor() as cursor:
            cursor.execute(f"SELECT {columns} FROM {quote(meta.db_table)}")  # noqa: S608 — names from the model
            writer = csv.writer(out)
            while chunk := cursor.fetchmany(BATCH):
                writer.writerows(chunk)
                rows += len(chunk)
        export_s = time.perf_counter() - started
        started = time.perf_counter()
        duck = duckdb.connect()
        duck.execute(
            "CREATE TABLE daily AS SELECT * FROM read_csv(?, header = false, columns = "
            "{'channel_id': 'BIGINT', 'metric': 'VARCHAR', 'day': 'DATE', 'value': 'BIGINT'})",
            [path],
        )
        load_s = time.perf_counter() - started
    params = {
        "channels": channel_ids,
        "current_start": period.start,
        "current_end": period.end,
        "previous_start": previous.start,
        "previous_end": previous.end,
    }
    figures, found = timed(lambda: duck.execute(DUCKDB_OVERVIEW, params).fetchall(), requests)
    # The same numbers as ours, or the comparison means nothing.
    ours = measures(channel_ids, period)
    levels = {str(level) for level in LEVELS}
    theirs = {}
    for channel_id, metric, current, current_days, prev, previous_days, current_last, previous_last in found:
        if metric in levels:
            theirs[channel_id, metric] = (current_last, previous_last, current_days, previous_days)
        else:
            theirs[channel_id, metric] = (current, prev, current_days, previous_days)
    mine = {
        (channel_id, metric): (m.current, m.previous, m.current_days, m.previous_days)
        for channel_id, by_metric in ours.items()
        for metric, m in by_metric.items()
        if m.current_days or m.previous_days  # not the "unavailable" entries, which have no rows
    }
    threads = duck.execute("SELECT current_setting('threads')").fetchone()[0]
    duck.close()

    def ratio(ours_ms: float | None) -> float | None:
        return round(ours_ms / figures["p95"], 1) if ours_ms and figures["p95"] else None

    return {
        "version": duckdb.__version__,
        "threads": threads,
        "rows": rows,
        "export_s": round(export_s, 2),
        "load_s": round(load_s, 2),
        **figures,
        "matches_ours": mine == theirs,
        # Ours over DuckDB's p95: the same aggregate (our three queries), then the whole overview service.
        "ratio_p95_measures": ratio(ours_p95.get("overview_measures_organisation")),
        "ratio_p95_overview": ratio(ours_p95.get("overview_organisation")),
    }


# The run --------------------------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    import django

    facts: dict[str, Any] = {
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "database": connection.vendor,
    }
    if connection.vendor == "sqlite":
        import sqlite3

        facts["database_version"] = sqlite3.sqlite_version
    else:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            facts["database_version"] = cursor.fetchone()[0]
    if hasattr(os, "getloadavg"):
        facts["load_average_1min"] = round(os.getloadavg()[0], 2)  # other work on the machine skews the timings
    try:
        with open("/proc/meminfo") as meminfo:
            facts["memory_gib"] = round(int(meminfo.readline().split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return facts


def run(sizes: Sizes, log: Callable[[str], None], profile: str | None = None) -> dict[str, Any]:
    """Loads, times, compares; returns the figures (the command prints them as one JSON line)."""
    built = load(sizes, log)
    with readers_for_every_network() as stand_ins:
        log(f"Timing the computations ({sizes.requests} requests each)…")
        calls = computations(built)
        timings: dict[str, dict[str, float | None]] = {}
        results: dict[str, Any] = {}
        for name, work in calls.items():
            timings[name], results[name] = timed(work, sizes.requests)
            log(f"  {name}: p50 {timings[name]['p50']} ms, p95 {timings[name]['p95']} ms")
        if profile:
            _profile(calls, profile, log)
        page_timings, page_note = pages(built, sizes.requests)
    log("DuckDB…")
    try:
        duck = duckdb_overview(built, sizes.requests, {name: figures["p95"] for name, figures in timings.items()})
    except ImportError:
        duck = {"skipped": 'DuckDB is not installed: pip install -e ".[bench]"'}
    everything = {**timings, **page_timings}
    over = sorted(name for name, figures in everything.items() if (figures["p95"] or 0) > TARGET_P95_MS)
    return {
        "benchmark": "insights",
        "database": connection.vendor,
        "sizes": {
            "channels": sizes.channels,
            "days": sizes.days,
            "requests": sizes.requests,
            "seed": sizes.seed,
            **built.counts,
        },
        "load_s": built.load_s,
        "ms": timings,
        "page_ms": page_timings or None,
        "page_note": page_note,
        "target_p95_ms": TARGET_P95_MS,
        "over_target": over,
        "facts": _describe(results),
        "stand_in_readers": stand_ins,
        "duckdb": duck,
        "machine": machine(),
    }


def _profile(calls: dict[str, Callable[[], Any]], name: str, log: Callable[[str], None]) -> None:
    """One call of a computation under pyinstrument (pip install pyinstrument), printed on standard error."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        log("--profile needs pyinstrument (pip install pyinstrument)")
        return
    for target in [n for n in calls if name in ("all", n)]:
        profiler = Profiler(interval=0.0005)
        with profiler:
            calls[target]()
        log(profiler.output_text(unicode=True, color=False, show_all=False))
