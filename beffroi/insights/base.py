"""The contract between the insights sync and each network's `insights.py`.

A network's reader is asked for what is due (a `SyncPlan`) and answers with everything it read (a `SyncBatch`);
it never touches the database. The sync stores a batch in one transaction, so a failure halfway (a rate limit on
the fifth call, a crash) stores nothing of that run and the next run starts again from the same place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

import httpx

from beffroi.insights.metrics import Dimension, Metric, PostMetric, PostType, Reason
from beffroi.networks.base import ChannelAccess


@dataclass(frozen=True)
class Unavailable:
    """A measure the network did not give, and why (stored and shown, never turned into zero)."""

    reason: Reason
    detail: str = ""  # the network's own words, e.g. "(#10) Not enough viewers for the media to show insights"


@dataclass(frozen=True)
class MetricName:
    """One network metric name that gives a canonical measure, for a range of API versions.

    A reader tries the names of a measure in order and keeps the first one the network accepts: when Meta
    deprecates a name, the next one (its replacement, or the old one on an older API version) is used and the
    refusal is recorded, without breaking any other measure.
    """

    name: str
    from_version: str = ""  # first API version (e.g. "v22.0") where it exists; "" = any
    until_version: str = ""  # first API version where it no longer exists; "" = still valid
    deprecated_on: str = ""  # ISO date Meta removed it from every version, when announced
    note: str = ""

    def valid_for(self, version: str, today: date | None = None) -> bool:
        if self.from_version and _version_key(version) < _version_key(self.from_version):
            return False
        if self.until_version and _version_key(version) >= _version_key(self.until_version):
            return False
        return not (self.deprecated_on and today is not None and today >= date.fromisoformat(self.deprecated_on))


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.lstrip("v").split(".") if part.isdigit())


@dataclass
class PostStats:
    """A post of the channel as the network shows it, with its lifetime measures now."""

    remote_id: str
    published_at: datetime
    post_type: PostType
    url: str = ""
    text: str = ""
    values: dict[PostMetric, int] = field(default_factory=dict)
    unavailable: dict[PostMetric, Unavailable] = field(default_factory=dict)


@dataclass(frozen=True)
class Engagement:
    """One dated interaction (a like, a comment, a repost…) — the raw material of "when your audience is active"."""

    remote_id: str  # unique on the network (the like's or comment's own id), so a re-read never counts twice
    kind: str  # like | comment | share | reply | quote | follow
    occurred_at: datetime  # aware, any zone (stored in UTC)
    post_remote_id: str = ""


@dataclass(frozen=True)
class OnlineDay:
    """Followers online per hour for one day, as the network reports it (Instagram `online_followers`)."""

    day: date  # the day in `zone`
    zone: str  # the IANA zone whose local hours the network counts in (Meta: America/Los_Angeles)
    hours: tuple[int | None, ...]  # 24 values, hour 0 to 23 local; None where the network gave nothing


@dataclass(frozen=True)
class SyncPlan:
    """What is due for one channel in this run, decided by the sync from what is stored (level-triggered)."""

    channel_id: int
    today: date  # in the network's reporting zone
    days_from: date | None  # daily account measures wanted for these days (≤ 90 days per run), or None
    days_until: date | None
    posts_since: datetime | None  # discover posts published since then (None: do not list posts)
    post_ids: tuple[str, ...] = ()  # known posts whose measures are due
    audience: bool = False
    online_days: tuple[date, ...] = ()
    engagements_since: datetime | None = None


@dataclass
class SyncBatch:
    """Everything one run read. `metric_status` says, per measure asked, which name gave it or why none did."""

    days: dict[tuple[Metric, date], int] = field(default_factory=dict)
    metric_status: dict[Metric, Unavailable | str] = field(default_factory=dict)  # str: the network's name used
    followers_now: int | None = None  # a level read today, for networks without daily history
    posts: list[PostStats] = field(default_factory=list)
    # Known posts (asked in `plan.post_ids`) the network no longer has: kept with their history, no longer asked.
    gone_post_ids: list[str] = field(default_factory=list)
    audience: dict[Dimension, dict[str, int] | Unavailable] = field(default_factory=dict)
    online: list[OnlineDay] | Unavailable | None = None
    engagements: list[Engagement] = field(default_factory=list)
    # Calls made, for the progress line and the logs.
    calls: int = 0
    # A session the reader had to renew (Bluesky): stored, encrypted, with the batch.
    renewed_credentials: dict[str, Any] | None = None


class RateLimited(Exception):
    """The network asked to slow down: nothing of this run is stored; the sync waits `retry_after` seconds."""

    def __init__(self, retry_after: float, detail: str = "") -> None:
        super().__init__(detail or f"rate limited, retry after {retry_after:.0f} s")
        self.retry_after = retry_after
        self.detail = detail
        # A session the reader renewed before stopping (Bluesky): kept even though nothing else is, since the
        # old refresh token may already be spent.
        self.renewed_credentials: dict[str, Any] | None = None


class SyncFailed(Exception):
    """Anything else that stops a run (network down, unreadable answer, revoked access). Nothing is stored."""

    def __init__(self, detail: str, *, needs_reconnection: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.needs_reconnection = needs_reconnection
        self.renewed_credentials: dict[str, Any] | None = None  # as on RateLimited


Progress = Callable[[str, int, int], None]  # (step, done, total)


class InsightsReader(Protocol):
    network: str
    # The canonical measures this network can give, with its names for them; a measure absent from here is
    # stored as unavailable with `missing_reason(metric)`.
    account_metrics: dict[Metric, Sequence[MetricName]]
    # The zone the network's daily values and hourly counts are expressed in ("" = UTC).
    reporting_zone: str
    # How many days back the network lets us read daily values (Meta: 2 years), None = no history at all.
    history_days: int | None

    def read(self, access: ChannelAccess, http: httpx.Client, plan: SyncPlan, progress: Progress) -> SyncBatch: ...

    def missing_reason(self, metric: Metric) -> Unavailable: ...


@dataclass
class WatchedPost:
    """A public post of a watched account, with the counts the network shows everyone."""

    remote_id: str
    url: str
    text: str
    published_at: datetime
    post_type: PostType
    values: dict[PostMetric, int] = field(default_factory=dict)


@dataclass
class WatchedProfile:
    remote_id: str
    handle: str
    display_name: str
    url: str
    followers: int | None
    posts: list[WatchedPost] = field(default_factory=list)


class PublicReader(Protocol):
    """Reads a public account of someone else (watched pages), without needing its owner's authorisation."""

    network: str

    def read_public(self, http: httpx.Client, handle: str, *, config: dict[str, Any], limit: int) -> WatchedProfile: ...
