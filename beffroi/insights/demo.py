"""Two years of plausible, deterministic statistics for the demo channels, so every statistics page has content.

Everything written here is flagged `is_demo=True` (the pages then say "demo data"), and follows what each network
really gives, as the sync would store it:
- Facebook Pages: reach, views, interactions, followers, new followers and unfollows per day; countries and cities
  (Meta removed age × gender and languages: stored as unavailable, with the reason); under 100 followers, no
  audience at all (Meta withholds it);
- Instagram: the same daily measures, age × gender, countries and cities, and followers online per hour in Pacific
  time (America/Los_Angeles local hours, as Meta reports them; the heatmap converts);
- Bluesky and Mastodon: followers only (no reach, no views, no audience), posts with likes, replies and reposts;
- other networks: nothing (they have no statistics reader).
Posts of every type with their readings over their lifetime, and dated interactions for the last months.

Deterministic: each channel draws from its own seeded generator (seed + channel handle), and dates count back from
`today`. Idempotent: a channel that already has demo statistics is left alone.
"""

from __future__ import annotations

import math
import random
import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection, transaction
from django.utils import timezone

from beffroi.channels.models import Channel
from beffroi.insights.heatmap import local_hour_instant
from beffroi.insights.metrics import Dimension, Metric, PostMetric, PostType, Reason
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
from beffroi.networks.registry import Network
from beffroi.organisations.models import Organisation, PageGroup

SEED = "beffroi-demo-statistics"
DEMO_DAYS = 730
EVENTS_DAYS = 120  # dated interactions are generated for the posts of the last months (the heatmap's window)
AUDIENCE_EVERY_DAYS = 28
PACIFIC = "America/Los_Angeles"
BATCH = 2000


@dataclass(frozen=True)
class Profile:
    """What a network gives, as its reader would store it (names as in beffroi/networks/<network>/insights.py)."""

    metrics: dict[Metric, str]  # measure → the network's name for it
    missing: dict[Metric, tuple[Reason, str]]
    audience: dict[Dimension, tuple[Reason, str] | str]  # a name (available) or why not
    post_types: tuple[tuple[PostType, float], ...]
    post_metrics: frozenset[PostMetric]
    followers: int  # typical followers of a local page
    posts_per_week: float
    online: bool = False
    audience_needs: int = 100  # Meta withholds breakdowns under 100 followers
    extra: dict[str, str] = field(default_factory=dict)


NOT_ON_NETWORK = (Reason.NOT_ON_NETWORK, "")
FEDIVERSE_MISSING = {
    Metric.REACH: NOT_ON_NETWORK,
    Metric.VIEWS: NOT_ON_NETWORK,
    Metric.INTERACTIONS: NOT_ON_NETWORK,
    Metric.FOLLOWS: NOT_ON_NETWORK,
    Metric.UNFOLLOWS: NOT_ON_NETWORK,
}
FEDIVERSE_AUDIENCE = {dimension: NOT_ON_NETWORK for dimension in Dimension}
FEDIVERSE_POST_METRICS = frozenset({PostMetric.LIKES, PostMetric.COMMENTS, PostMetric.SHARES, PostMetric.INTERACTIONS})

PROFILES: dict[str, Profile] = {
    Network.FACEBOOK: Profile(
        metrics={
            Metric.REACH: "page_total_media_view_unique",
            Metric.VIEWS: "page_media_view",
            Metric.INTERACTIONS: "page_post_engagements",
            Metric.FOLLOWERS: "page_follows",
            Metric.FOLLOWS: "page_daily_follows_unique",
            Metric.UNFOLLOWS: "page_daily_unfollows_unique",
        },
        missing={},
        audience={
            Dimension.COUNTRY: "page_follows_country",
            Dimension.CITY: "page_follows_city",
            Dimension.AGE_GENDER: (Reason.DEPRECATED, "page_fans_gender_age was removed on 14 March 2024."),
            Dimension.LANGUAGE: (Reason.DEPRECATED, "page_fans_locale was removed on 15 November 2025."),
        },
        post_types=(
            (PostType.PHOTO, 0.4),
            (PostType.LINK, 0.18),
            (PostType.VIDEO, 0.14),
            (PostType.TEXT, 0.1),
            (PostType.REEL, 0.12),
            (PostType.CAROUSEL, 0.06),
        ),
        post_metrics=frozenset(set(PostMetric) - {PostMetric.SAVES}),
        followers=1400,
        posts_per_week=3.0,
    ),
    Network.INSTAGRAM: Profile(
        metrics={
            Metric.REACH: "reach",
            Metric.VIEWS: "views",
            Metric.INTERACTIONS: "total_interactions",
            Metric.FOLLOWERS: "followers_count",
            Metric.FOLLOWS: "follower_count",
            Metric.UNFOLLOWS: "follows_and_unfollows",
        },
        missing={},
        audience={
            Dimension.AGE_GENDER: "follower_demographics",
            Dimension.COUNTRY: "follower_demographics",
            Dimension.CITY: "follower_demographics",
            Dimension.LANGUAGE: (Reason.NOT_ON_NETWORK, "Instagram gives no language breakdown."),
        },
        post_types=(
            (PostType.PHOTO, 0.32),
            (PostType.CAROUSEL, 0.24),
            (PostType.REEL, 0.3),
            (PostType.STORY, 0.14),
        ),
        post_metrics=frozenset(PostMetric),
        followers=800,
        posts_per_week=2.5,
        online=True,
    ),
    Network.MASTODON: Profile(
        metrics={Metric.FOLLOWERS: "followers_count"},
        missing=FEDIVERSE_MISSING,
        audience=FEDIVERSE_AUDIENCE,
        post_types=((PostType.TEXT, 0.5), (PostType.PHOTO, 0.4), (PostType.LINK, 0.1)),
        post_metrics=FEDIVERSE_POST_METRICS,
        followers=190,
        posts_per_week=2.0,
    ),
    Network.BLUESKY: Profile(
        metrics={Metric.FOLLOWERS: "followersCount"},
        missing=FEDIVERSE_MISSING,
        audience=FEDIVERSE_AUDIENCE,
        post_types=((PostType.TEXT, 0.45), (PostType.PHOTO, 0.45), (PostType.LINK, 0.1)),
        post_metrics=FEDIVERSE_POST_METRICS,
        followers=260,
        posts_per_week=2.0,
    ),
}

# How a post type does against a photo (reels travel furthest; stories and plain text the least).
TYPE_REACH = {
    PostType.REEL: 1.9,
    PostType.VIDEO: 1.3,
    PostType.CAROUSEL: 1.2,
    PostType.PHOTO: 1.0,
    PostType.LINK: 0.7,
    PostType.TEXT: 0.6,
    PostType.STORY: 0.45,
}
POST_HOURS = ((9, 1.0), (10, 1.2), (11, 1.2), (12, 1.4), (14, 0.8), (17, 1.2), (18, 1.6), (19, 1.3), (20, 0.8))

TEXTS = {
    "fr": [
        "Atelier numérique gratuit jeudi à 14 h : créer sa boîte mail, faire ses démarches en ligne. #inclusion",
        "Retour en images sur la fête de quartier : merci aux bénévoles !",
        "Les inscriptions à l'aide aux devoirs sont ouvertes : rendez-vous à l'accueil.",
        "Atelier cuisine du monde : on a préparé des samoussas ! #cuisine #partage",
        "Permanence numérique tous les mardis de 14 h à 17 h : démarches en ligne, mails, CV.",
        "Soirée jeux de société vendredi 19 h, entrée libre. #jeux",
        "Sortie familles à la mer : il reste quelques places, inscrivez-vous vite.",
        "Assemblée générale du réseau : merci à toutes et tous d'être venus si nombreux.",
        "Les coulisses de l'atelier couture du mercredi. #couture #faitmain",
        "Café des parents jeudi 9 h : le thème sera le sommeil des petits.",
        "Vidéo : trois minutes pour comprendre l'accompagnement scolaire. #CLAS",
        "Appel à bénévoles pour la fête de fin d'année : écrivez-nous !",
        "Programme des vacances : ateliers, sorties et stages pour tous les âges.",
        "Le jardin partagé a donné ses premières tomates : venez les goûter samedi.",
        "Bravo aux jeunes du chantier éducatif qui ont repeint la salle polyvalente !",
        "Nouveau : une permanence d'écrivain public chaque lundi matin.",
        "Concert des ateliers musique samedi 18 h au centre.",
        "Repair café ce samedi : on répare ensemble petits appareils et vélos.",
        "Semaine bleue : marche, loto et après-midi dansant avec nos aînés.",
        "Portrait : Fatima, bénévole depuis dix ans à l'accueil du centre.",
    ],
    "quebec": [
        "Le Relais pour la vie revient en juin : inscrivez votre équipe dès maintenant !",
        "Merci aux bénévoles de la Campagne de la jonquille : un geste d'espoir.",
        "Vous avez des questions sur le cancer ? Notre ligne d'information est là pour vous.",
        "Dépistage du cancer colorectal : parlez-en à votre médecin dès 50 ans.",
        "Hébergement Jean-Marie-Côté : un chez-soi pour les personnes en traitement loin de chez elles.",
        "Témoignage : Martine raconte son parcours et l'aide reçue pendant ses traitements.",
        "Transport bénévole vers les traitements : nous recrutons des chauffeurs.",
        "Chaque don finance la recherche et le soutien aux personnes touchées par le cancer.",
        "Soleil : protégez-vous entre 11 h et 15 h, même par temps nuageux.",
        "Merci à nos partenaires de la Montérégie pour leur soutien cette année !",
        "Cessation tabagique : des ressources gratuites pour vous accompagner.",
        "Conférence en ligne jeudi : bien s'alimenter pendant les traitements.",
    ],
}

AGE_SHARES = {"13-17": 0.03, "18-24": 0.1, "25-34": 0.24, "35-44": 0.26, "45-54": 0.18, "55-64": 0.12, "65+": 0.07}
GENDER_SHARES = {"F": 0.64, "M": 0.33, "U": 0.03}
COUNTRIES = {
    "fr": {"FR": 0.91, "BE": 0.04, "MA": 0.015, "DZ": 0.012, "ES": 0.008, "GB": 0.007, "CA": 0.005, "DE": 0.003},
    "quebec": {"CA": 0.94, "FR": 0.025, "US": 0.015, "HT": 0.008, "BE": 0.005, "MA": 0.004, "CH": 0.003},
}
CITIES = {
    "fr": {
        "Valenciennes, Hauts-de-France": 0.2,
        "Lille, Hauts-de-France": 0.14,
        "Denain, Hauts-de-France": 0.09,
        "Cambrai, Hauts-de-France": 0.09,
        "Douchy-les-Mines, Hauts-de-France": 0.07,
        "Anzin, Hauts-de-France": 0.06,
        "Douai, Hauts-de-France": 0.06,
        "Saint-Amand-les-Eaux, Hauts-de-France": 0.05,
        "Maubeuge, Hauts-de-France": 0.03,
        "Paris, Île-de-France": 0.03,
        "Roubaix, Hauts-de-France": 0.03,
    },
    "quebec": {
        "Montréal, Québec": 0.34,
        "Québec, Québec": 0.14,
        "Longueuil, Québec": 0.08,
        "Laval, Québec": 0.07,
        "Saint-Jean-sur-Richelieu, Québec": 0.05,
        "Granby, Québec": 0.04,
        "Sherbrooke, Québec": 0.04,
        "Gatineau, Québec": 0.03,
        "Trois-Rivières, Québec": 0.03,
        "Brossard, Québec": 0.03,
    },
}


def _flavour(organisation: Organisation) -> str:
    return "quebec" if organisation.time_zone.startswith("America/") else "fr"


def audience_activity(weekday: int, hour: int) -> float:
    """How many followers are online at a local hour (0..1): evenings, lunch, a calmer weekend morning."""
    shape = [
        0.06, 0.04, 0.03, 0.03, 0.03, 0.05, 0.12, 0.28, 0.36, 0.4, 0.44, 0.48,
        0.62, 0.55, 0.44, 0.42, 0.46, 0.6, 0.72, 0.86, 0.95, 0.82, 0.52, 0.24,
    ]  # fmt: skip
    value = shape[hour]
    if weekday >= 5:  # weekend: later mornings, busier afternoons
        value = value * (0.6 if hour < 10 else 1.1)
    return min(value, 1.0)


def _season(day: date) -> float:
    """Community life slows in summer and at Christmas, and picks up at the rentrée."""
    if day.month in (7, 8):
        return 0.7
    if day.month == 12 and day.day >= 20:
        return 0.75
    if day.month == 9:
        return 1.15
    return 1.0


WEEKDAY_FACTOR = (1.05, 1.08, 1.1, 1.08, 1.0, 0.85, 0.78)


def _pick(rng: random.Random, weighted) -> object:
    items, weights = zip(*weighted, strict=True)
    return rng.choices(items, weights=weights)[0]


def _noisy(rng: random.Random, mean: float) -> int:
    """A count around `mean` (roughly Poisson): never negative."""
    if mean <= 0:
        return 0
    return max(0, round(rng.gauss(mean, math.sqrt(mean))))


@dataclass
class Generated:
    daily: list[tuple[int, str, date, int]] = field(default_factory=list)  # channel, metric, day, value
    statuses: list[MetricStatus] = field(default_factory=list)
    posts: list[tuple[ChannelPost, list[PostSnapshot], list[EngagementEvent]]] = field(default_factory=list)
    breakdowns: list[AudienceBreakdown] = field(default_factory=list)
    online: list[OnlineHours] = field(default_factory=list)


def _followers_base(channel: Channel, profile: Profile, rng: random.Random, groups: dict[int, int]) -> int:
    level = groups.get(channel.group_id or 0, PageGroup.Level.LOCAL)
    scale = {PageGroup.Level.NATIONAL: 3.5, PageGroup.Level.REGIONAL: 1.8}.get(level, 1.0)
    if channel.status == Channel.Status.NEEDS_RECONNECTION:
        scale = 0.04  # a small page: under Meta's 100 followers, its audience is withheld
    return max(40, round(profile.followers * scale * rng.uniform(0.75, 1.3)))


def generate_channel(
    channel: Channel, profile: Profile, today: date, now: datetime, days: int, groups: dict[int, int]
) -> Generated:
    rng = random.Random(f"{SEED}:{channel.organisation.slug}:{channel.network}:{channel.handle}")  # noqa: S311 — demo data
    zone = zoneinfo.ZoneInfo(channel.effective_time_zone)
    flavour = _flavour(channel.organisation)
    out = Generated()
    first = today - timedelta(days=days)
    base = _followers_base(channel, profile, rng, groups)
    followers = round(base * 0.72)
    follows_mean = base * 0.0011
    unfollows_mean = base * 0.0005
    texts = TEXTS[flavour]
    post_number = 0
    followers_by_day: dict[date, int] = {}
    for offset in range(days):
        day = first + timedelta(days=offset)
        season = _season(day)
        weekday = WEEKDAY_FACTOR[day.weekday()]
        # Posts of the day (fewer in summer), each at a plausible local hour.
        posts_today = []
        rate = profile.posts_per_week / 7 * (0.6 if season < 0.8 else 1.0)
        for _n in range(2):
            if rng.random() < rate / 2:
                hour = int(_pick(rng, POST_HOURS))  # type: ignore[arg-type]
                posts_today.append(datetime.combine(day, time(hour, rng.randrange(0, 60, 5)), zone))
        follows = _noisy(rng, follows_mean * season * (1 + 0.6 * len(posts_today)))
        unfollows = _noisy(rng, unfollows_mean)
        followers = max(0, followers + follows - unfollows)
        followers_by_day[day] = followers
        reach = round(followers * (0.09 + 0.22 * len(posts_today)) * season * weekday * math.exp(rng.gauss(0, 0.22)))
        values = {
            Metric.REACH: reach,
            Metric.VIEWS: round(reach * rng.uniform(1.4, 2.1)),
            Metric.INTERACTIONS: round(reach * rng.uniform(0.025, 0.07)),
            Metric.FOLLOWERS: followers,
            Metric.FOLLOWS: follows,
            Metric.UNFOLLOWS: unfollows,
        }
        for metric in profile.metrics:
            out.daily.append((channel.pk, str(metric), day, values[metric]))
        for published_at in posts_today:
            post_number += 1
            out.posts.append(_post(channel, profile, rng, published_at, followers, post_number, texts, now, zone))
    for metric, name in profile.metrics.items():
        out.statuses.append(MetricStatus(channel=channel, metric=str(metric), source_name=name))
    for metric, (reason, detail) in profile.missing.items():
        out.statuses.append(
            MetricStatus(channel=channel, metric=str(metric), unavailable_reason=str(reason), detail=detail)
        )
    # Audience readings every four weeks, the newest yesterday (history is kept).
    reading = today - timedelta(days=1)
    while reading >= first:
        size = followers_by_day.get(reading, followers)
        for dimension, source in profile.audience.items():
            row = AudienceBreakdown(channel=channel, dimension=str(dimension), taken_on=reading, is_demo=True)
            if isinstance(source, tuple):
                row.unavailable_reason, row.detail = str(source[0]), source[1]
            elif size < profile.audience_needs:
                row.unavailable_reason = str(Reason.TOO_FEW_FOLLOWERS)
                row.detail = "Not enough followers: demographics need at least 100."
            else:
                row.counts = _breakdown(dimension, size, rng, flavour, channel)
            out.breakdowns.append(row)
        reading -= timedelta(days=AUDIENCE_EVERY_DAYS)
    if profile.online:
        out.online = _online_days(channel, rng, first, today, followers_by_day, zone)
    return out


def _post(
    channel: Channel,
    profile: Profile,
    rng: random.Random,
    published_at: datetime,
    followers: int,
    number: int,
    texts: list[str],
    now: datetime,
    zone: zoneinfo.ZoneInfo,
) -> tuple[ChannelPost, list[PostSnapshot], list[EngagementEvent]]:
    post_type = PostType(str(_pick(rng, profile.post_types)))
    local_hour = published_at.astimezone(zone)
    timing = 0.7 + 0.6 * audience_activity(local_hour.weekday(), local_hour.hour)
    strength = TYPE_REACH[post_type] * timing * math.exp(rng.gauss(0, 0.45))
    reach = followers * rng.uniform(0.18, 0.45) * strength
    likes = reach * rng.uniform(0.03, 0.065) if PostMetric.REACH in profile.post_metrics else None
    if likes is None:  # Bluesky and Mastodon: counts from the followers, no reach
        likes = followers * rng.uniform(0.02, 0.09) * strength
    final = {
        PostMetric.REACH: reach,
        PostMetric.VIEWS: reach * rng.uniform(1.3, 1.9),
        PostMetric.LIKES: likes,
        PostMetric.COMMENTS: likes * rng.uniform(0.04, 0.16),
        PostMetric.SHARES: likes * rng.uniform(0.05, 0.2),
        PostMetric.SAVES: likes * rng.uniform(0.03, 0.1),
    }
    final = {metric: value for metric, value in final.items() if metric in profile.post_metrics}
    unavailable = {str(m): str(Reason.NOT_ON_NETWORK) for m in PostMetric if m not in profile.post_metrics}
    # Readings: often at first, then less (as the sync reads them); numbers settle like 1 − e^(−t/τ).
    settle_hours = 30.0 if post_type in (PostType.REEL, PostType.VIDEO) else 10.0
    snapshots = []
    values: dict[PostMetric, int | None] = {}
    for hours in (1, 6, 24, 72, 168, 720):
        taken_at = published_at + timedelta(hours=hours, minutes=rng.randrange(0, 50))
        if taken_at > now:
            break
        fraction = 1 - math.exp(-hours / settle_hours)
        values = {metric: round(value * fraction) for metric, value in final.items()}
        interactions = sum(
            values.get(m) or 0 for m in (PostMetric.LIKES, PostMetric.COMMENTS, PostMetric.SHARES, PostMetric.SAVES)
        )
        snapshots.append(
            PostSnapshot(
                taken_at=taken_at,
                views=values.get(PostMetric.VIEWS),
                reach=values.get(PostMetric.REACH),
                likes=values.get(PostMetric.LIKES),
                comments=values.get(PostMetric.COMMENTS),
                shares=values.get(PostMetric.SHARES),
                saves=values.get(PostMetric.SAVES),
                interactions=interactions,
            )
        )
    last = snapshots[-1] if snapshots else None
    post = ChannelPost(
        channel=channel,
        remote_id=f"demo-{channel.pk}-{number}",
        url=f"https://demo.beffroi.example/{channel.network}/{channel.pk}/posts/{number}",
        text=texts[(number * 7 + channel.pk) % len(texts)],
        post_type=str(post_type),
        published_at=published_at,
        views=last.views if last else None,
        reach=last.reach if last else None,
        likes=last.likes if last else None,
        comments=last.comments if last else None,
        shares=last.shares if last else None,
        saves=last.saves if last else None,
        interactions=last.interactions if last else None,
        unavailable=unavailable,
        metrics_read_at=last.taken_at if last else None,
        next_read_at=None,  # demo channels are not collected from a network
        is_demo=True,
    )
    events = []
    if last and now - published_at <= timedelta(days=EVENTS_DAYS):
        kinds = (("like", 0.72), ("comment", 0.13), ("share", 0.15))
        for k in range(min(last.interactions or 0, 45)):
            delay = timedelta(hours=rng.expovariate(1 / (settle_hours * 0.8)))
            moment = published_at + delay
            # People answer when they are online: an interaction at a dead hour is moved to the evening.
            local = moment.astimezone(zone)
            if rng.random() > audience_activity(local.weekday(), local.hour) + 0.25:
                moment = moment.astimezone(zone).replace(hour=rng.choice((12, 18, 19, 20, 21))).astimezone(UTC)
                if moment < published_at:
                    moment += timedelta(days=1)
            if moment > now:
                continue
            events.append(
                EngagementEvent(
                    channel=channel,
                    remote_id=f"{post.remote_id}-{k}",
                    kind=str(_pick(rng, kinds)),
                    occurred_at=moment,
                    is_demo=True,
                )
            )
    return post, snapshots, events


def _spread(total: int, shares: dict[str, float], rng: random.Random) -> dict[str, int]:
    weights = {key: share * rng.uniform(0.85, 1.15) for key, share in shares.items()}
    scale = sum(weights.values())
    return {key: round(total * weight / scale) for key, weight in weights.items() if round(total * weight / scale)}


def _breakdown(dimension: Dimension, size: int, rng: random.Random, flavour: str, channel: Channel) -> dict[str, int]:
    if dimension == Dimension.AGE_GENDER:
        counts = {}
        for gender, gender_share in GENDER_SHARES.items():
            for band, count in _spread(round(size * gender_share), AGE_SHARES, rng).items():
                counts[f"{gender}.{band}"] = count
        return counts
    if dimension == Dimension.COUNTRY:
        return _spread(size, COUNTRIES[flavour], rng)
    if dimension == Dimension.CITY:
        cities = dict(CITIES[flavour])
        # A local page's own town weighs more.
        for city in cities:
            if channel.group and city.split(",")[0] == channel.group.name:
                cities[city] *= 3
        return _spread(round(size * 0.82), cities, rng)  # cities cover fewer people (the rest undisclosed)
    return {}


def _online_days(
    channel: Channel,
    rng: random.Random,
    first: date,
    today: date,
    followers_by_day: dict[date, int],
    audience_zone: zoneinfo.ZoneInfo,
) -> list[OnlineHours]:
    """Followers online per local hour of Pacific time (as Meta reports), from an audience living in the
    organisation's zone: the conversion back is the heatmap's job."""
    pacific = zoneinfo.ZoneInfo(PACIFIC)
    rows = []
    day = first
    while day < today:
        followers = followers_by_day.get(day, 0)
        hours: list[int | None] = []
        for hour in range(24):
            instant = local_hour_instant(day, hour, pacific)
            if instant is None:  # the hour the clocks skip in spring: Meta gives nothing for it
                hours.append(None)
                continue
            local = instant.astimezone(audience_zone)
            share = audience_activity(local.weekday(), local.hour) * 0.38
            hours.append(max(0, round(followers * share * rng.uniform(0.88, 1.12))))
        rows.append(OnlineHours(channel=channel, day=day, zone=PACIFIC, hours=hours, is_demo=True))
        day += timedelta(days=1)
    return rows


def _insert(model, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Plain INSERTs for the big tables: model instances cost more than the database here (tens of thousands of
    rows; the demo must load in seconds)."""
    if not rows:
        return
    quote = connection.ops.quote_name
    names = ", ".join(quote(model._meta.get_field(column).column) for column in columns)
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    per_statement = max(1, 900 // len(columns))  # under SQLite's limit of bound parameters per statement
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            # Table and column names come from the models, values are bound parameters.
            values = ", ".join([placeholders] * len(chunk))
            sql = f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES {values}"  # noqa: S608
            cursor.execute(sql, [value for row in chunk for value in row])


def _store(generated: Generated, now: datetime) -> dict[str, int]:
    _insert(
        DailyMetric,
        ("channel", "metric", "day", "value", "collected_at", "is_demo"),
        [(*row, now, True) for row in generated.daily],
    )
    MetricStatus.objects.bulk_create(generated.statuses, batch_size=BATCH, ignore_conflicts=True)
    posts = [post for post, _snapshots, _events in generated.posts]
    ChannelPost.objects.bulk_create(posts, batch_size=BATCH)
    snapshots, events = [], []
    snapshot_fields = ("post", "taken_at", "views", "reach", "likes", "comments", "shares", "saves", "interactions")
    for post, post_snapshots, post_events in generated.posts:
        for snapshot in post_snapshots:
            snapshot.post_id = post.pk
            snapshots.append(
                tuple(getattr(snapshot, name if name != "post" else "post_id") for name in snapshot_fields)
            )
        for event in post_events:
            events.append((event.channel_id, post.pk, event.remote_id, event.kind, event.occurred_at, True))
    _insert(PostSnapshot, snapshot_fields, snapshots)
    _insert(EngagementEvent, ("channel", "post", "remote_id", "kind", "occurred_at", "is_demo"), events)
    AudienceBreakdown.objects.bulk_create(generated.breakdowns, batch_size=BATCH)
    OnlineHours.objects.bulk_create(generated.online, batch_size=BATCH)
    return {
        "daily": len(generated.daily),
        "posts": len(posts),
        "snapshots": len(snapshots),
        "events": len(events),
        "breakdowns": len(generated.breakdowns),
        "online": len(generated.online),
    }


def has_demo_statistics(channel: Channel) -> bool:
    return (
        DailyMetric.objects.filter(channel=channel, is_demo=True).exists()
        or ChannelPost.objects.filter(channel=channel, is_demo=True).exists()
    )


@transaction.atomic
def generate_statistics(
    organisation: Organisation, *, today: date | None = None, now: datetime | None = None, days: int = DEMO_DAYS
) -> dict[str, int]:
    """Demo statistics for every channel of the organisation whose network has them. Returns row counts."""
    now = now or timezone.now()
    today = today or now.astimezone(zoneinfo.ZoneInfo(organisation.time_zone)).date()
    groups = dict(PageGroup.objects.filter(organisation=organisation).values_list("id", "level"))
    totals: dict[str, int] = {}
    channels = Channel.objects.filter(organisation=organisation).select_related("organisation", "group")
    for channel in channels.order_by("pk"):
        profile = PROFILES.get(channel.network)
        if profile is None:
            InsightsSync.objects.get_or_create(
                channel=channel, defaults={"status": InsightsSync.Status.UNSUPPORTED, "next_run_at": None}
            )
            continue
        if has_demo_statistics(channel):
            continue
        counts = _store(generate_channel(channel, profile, today, now, days, groups), now)
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
        _sync_row(channel, today, now, days, failed=channel.status == Channel.Status.NEEDS_RECONNECTION)
    return totals


def _sync_row(channel: Channel, today: date, now: datetime, days: int, *, failed: bool) -> None:
    """The collection status as a sync would leave it; never due (`next_run_at` empty): the demo's channels are
    not connected to any network, so the background collection leaves them alone."""
    defaults = {
        "status": InsightsSync.Status.FAILED if failed else InsightsSync.Status.IDLE,
        "next_run_at": None,
        "days_from": today - timedelta(days=days),
        "days_until": today - timedelta(days=1),
        "audience_read_on": today - timedelta(days=1),
        "posts_listed_at": now - timedelta(hours=3),
        "last_success_at": now - timedelta(hours=3),
        "last_error": "Demo: the Page's access has expired; reconnect the channel." if failed else "",
        "failures": 1 if failed else 0,
        "runs": days // 90 + 1,
        "progress": {},
    }
    InsightsSync.objects.update_or_create(channel=channel, defaults=defaults)


def load_demo_statistics(*, today: date | None = None, days: int = DEMO_DAYS) -> dict[str, int]:
    """Demo statistics for every demo organisation (idempotent)."""
    totals: dict[str, int] = {}
    for organisation in Organisation.objects.filter(is_demo=True).order_by("pk"):
        for key, value in generate_statistics(organisation, today=today, days=days).items():
            totals[key] = totals.get(key, 0) + value
    return totals


def has_demo_data(channel_ids: list[int]) -> bool:
    """Whether a page showing these channels shows demo figures (it then says so)."""
    return (
        DailyMetric.objects.filter(channel_id__in=channel_ids, is_demo=True).exists()
        or ChannelPost.objects.filter(channel_id__in=channel_ids, is_demo=True).exists()
    )
