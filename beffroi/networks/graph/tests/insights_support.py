"""What the Facebook and Instagram statistics tests share: a Graph simulator, channels pointing at it, the rows a
sync stored, and a Replay-driven run of the real sync."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import httpx

from beffroi.channels.models import Channel
from beffroi.insights.metrics import Metric
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
from beffroi.insights.sync import ensure_sync_rows, run_sync
from beffroi.simulator import SimulatorServer
from beffroi.simulator.graph import GraphNetwork, ig_user_id_for, page_id_for


def network_of(server: SimulatorServer) -> GraphNetwork:
    [found] = [n for n in server.simulator.networks if isinstance(n, GraphNetwork)]
    return found


def channel(tenant, network: str, host: str, name: str = "alice", token: str | None = None) -> Channel:
    """A Page or Instagram account of the simulated person `name`, speaking to `host`."""
    if network == "facebook":
        remote_id = page_id_for(name)
        config = {"page_id": remote_id, "api_host": host}
    else:
        remote_id = ig_user_id_for(name)
        config = {"ig_user_id": remote_id, "api_host": host, "login": "facebook"}
    created = Channel.objects.create(
        organisation=tenant.organisation,
        group=tenant.local,
        network=network,
        display_name=f"{name} {network}",
        remote_id=remote_id,
        config=config,
    )
    created.credentials = {"access_token": token or f"tok-{name}"}
    created.save()
    return created


def days(channel: Channel, metric: Metric) -> dict[date, int]:
    return dict(DailyMetric.objects.filter(channel=channel, metric=str(metric)).values_list("day", "value"))


def status(channel: Channel, metric: Metric) -> MetricStatus:
    return MetricStatus.objects.get(channel=channel, metric=str(metric))


def every_day(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def stored_counts(channel: Channel) -> dict[str, int]:
    """How many rows of each kind the sync stored for a channel."""
    return {
        "daily": DailyMetric.objects.filter(channel=channel).count(),
        "statuses": MetricStatus.objects.filter(channel=channel).count(),
        "posts": ChannelPost.objects.filter(channel=channel).count(),
        "snapshots": PostSnapshot.objects.filter(post__channel=channel).count(),
        "audience": AudienceBreakdown.objects.filter(channel=channel).count(),
        "online": OnlineHours.objects.filter(channel=channel).count(),
        "engagements": EngagementEvent.objects.filter(channel=channel).count(),
    }


NOTHING = {"daily": 0, "statuses": 0, "posts": 0, "snapshots": 0, "audience": 0, "online": 0, "engagements": 0}


def run_once(
    channel: Channel, http: httpx.Client, now: datetime, stored: tuple[date, date] | None = None
) -> tuple[str, InsightsSync]:
    """One run of the real sync for this channel at `now`; `stored`: the days already stored (so the run reads
    the last ones rather than starting the two-year backfill)."""
    ensure_sync_rows(now)
    if stored is not None:
        InsightsSync.objects.filter(channel=channel).update(days_from=stored[0], days_until=stored[1])
    sync = InsightsSync.objects.select_related("channel").get(channel=channel)
    outcome = run_sync(sync, http, now)
    sync.refresh_from_db()
    return outcome, sync
