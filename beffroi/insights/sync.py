"""Collecting statistics: level-triggered, resumable, rate-limit aware, one transaction per run.

Each run looks at what is stored for a channel (which days, which posts, when the audience was last read) and
asks the network's reader for what is missing or due — so a run that failed, a worker that died or a channel that
was offline for a month all catch up the same way. What a run read is stored in one transaction; a failure
halfway stores nothing, and the next run asks again for the same things.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
import zoneinfo
from datetime import date, datetime, timedelta

import httpx
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from beffroi.channels.models import Channel
from beffroi.insights.base import InsightsReader, RateLimited, SyncBatch, SyncFailed, SyncPlan, Unavailable
from beffroi.insights.metrics import ONLINE_HOURS, Metric, PostMetric
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
from beffroi.networks.base import ChannelAccess
from beffroi.networks.registry import insights_reader_for

log = logging.getLogger(__name__)

WINDOW_DAYS = 90  # Meta answers at most 90 days per since/until query; one window per run
RECENT_DAYS_REREAD = 3  # daily values settle within 48 h: the last days are read again on each run
FIRST_BACKFILL_DAYS = 730  # how far back the first sync reaches (Meta keeps two years)
POSTS_FIRST_LOOK_BACK = timedelta(days=90)
POSTS_PER_RUN = 100
AUDIENCE_EVERY = timedelta(days=7)
ONLINE_DAYS_BACK = 28
ENGAGEMENTS_FIRST_LOOK_BACK = timedelta(days=30)
EVERY = timedelta(hours=6)  # a channel that is up to date is looked at again after this
LEASE = timedelta(minutes=10)
MAX_BACKOFF = timedelta(hours=6)
SNAPSHOT_AT_MOST_EVERY = timedelta(hours=1)


def next_post_read(published_at: datetime, now: datetime) -> datetime | None:
    """Often while a post is young, then less: its numbers move mostly in the first days."""
    age = now - published_at
    if age < timedelta(days=2):
        return now + timedelta(hours=6)
    if age < timedelta(days=7):
        return now + timedelta(days=1)
    if age < timedelta(days=30):
        return now + timedelta(days=7)
    if age < timedelta(days=365):
        return now + timedelta(days=30)
    return now + timedelta(days=180)


def reporting_today(reader: InsightsReader, now: datetime) -> date:
    zone = zoneinfo.ZoneInfo(reader.reporting_zone or "UTC")
    return now.astimezone(zone).date()


def plan_for(channel: Channel, sync: InsightsSync, reader: InsightsReader, now: datetime) -> SyncPlan:
    """What is due for this channel, from what is stored."""
    today = reporting_today(reader, now)
    yesterday = today - timedelta(days=1)
    days_from = days_until = None
    if reader.history_days is not None and reader.account_metrics:
        if sync.days_until is None:
            days_from = today - timedelta(days=min(reader.history_days, FIRST_BACKFILL_DAYS))
        else:
            # Re-read the last few days (late, settling values), then go on where the stored days stop.
            days_from = max(sync.days_from or sync.days_until, sync.days_until - timedelta(days=RECENT_DAYS_REREAD))
        days_until = min(days_from + timedelta(days=WINDOW_DAYS - 1), yesterday)
        if days_until < days_from:
            days_from = days_until = None
    due_posts = tuple(
        ChannelPost.objects.filter(channel=channel, next_read_at__lte=now)
        .order_by("next_read_at")
        .values_list("remote_id", flat=True)[:POSTS_PER_RUN]
    )
    posts_since = (sync.posts_listed_at - timedelta(days=1)) if sync.posts_listed_at else now - POSTS_FIRST_LOOK_BACK
    audience = sync.audience_read_on is None or sync.audience_read_on <= today - AUDIENCE_EVERY
    stored_online = set(
        OnlineHours.objects.filter(channel=channel, day__gte=today - timedelta(days=ONLINE_DAYS_BACK)).values_list(
            "day", flat=True
        )
    )
    online_days = tuple(
        day for offset in range(ONLINE_DAYS_BACK, 0, -1) if (day := today - timedelta(days=offset)) not in stored_online
    )
    return SyncPlan(
        channel_id=channel.pk,
        today=today,
        days_from=days_from,
        days_until=days_until,
        posts_since=posts_since,
        post_ids=due_posts,
        audience=audience,
        online_days=online_days,
        engagements_since=sync.engagements_until or now - ENGAGEMENTS_FIRST_LOOK_BACK,
    )


def caught_up(plan: SyncPlan, sync: InsightsSync) -> bool:
    """True when this run's window reached yesterday (else the next run follows at once: backfill)."""
    return plan.days_until is None or plan.days_until >= plan.today - timedelta(days=1)


@transaction.atomic
def store(channel: Channel, sync: InsightsSync, reader: InsightsReader, plan: SyncPlan, batch: SyncBatch, now):
    """Everything one run read, in one transaction."""
    sync = InsightsSync.objects.select_for_update().get(pk=sync.pk)
    if batch.days:
        DailyMetric.objects.bulk_create(
            [
                DailyMetric(channel=channel, metric=str(metric), day=day, value=value)
                for (metric, day), value in batch.days.items()
            ],
            update_conflicts=True,
            unique_fields=["channel", "metric", "day"],
            update_fields=["value", "collected_at"],
        )
    if batch.followers_now is not None:
        DailyMetric.objects.update_or_create(
            channel=channel, metric=str(Metric.FOLLOWERS), day=plan.today, defaults={"value": batch.followers_now}
        )
    statuses = dict(batch.metric_status)
    for metric in Metric:
        if metric not in reader.account_metrics and metric not in statuses:
            statuses[metric] = reader.missing_reason(metric)
    for metric, status in statuses.items():
        if isinstance(status, Unavailable):
            defaults = {"source_name": "", "unavailable_reason": str(status.reason), "detail": status.detail[:500]}
        else:
            defaults = {"source_name": status, "unavailable_reason": "", "detail": ""}
        MetricStatus.objects.update_or_create(channel=channel, metric=str(metric), defaults=defaults)

    posts_by_remote = _store_posts(channel, batch, now)
    if batch.gone_post_ids:
        # Deleted on the network: otherwise always due, they would take every run's places in the queue.
        ChannelPost.objects.filter(channel=channel, remote_id__in=batch.gone_post_ids).update(next_read_at=None)
    for dimension, counts in batch.audience.items():
        unavailable = counts if isinstance(counts, Unavailable) else None
        AudienceBreakdown.objects.update_or_create(
            channel=channel,
            dimension=str(dimension),
            taken_on=plan.today,
            defaults={
                "counts": {} if unavailable else counts,
                "unavailable_reason": str(unavailable.reason) if unavailable else "",
                "detail": unavailable.detail[:500] if unavailable else "",
            },
        )
    if batch.online is not None:
        # Whether the network gives followers online per hour, recorded like a measure (shown by the heatmap).
        online_status = batch.online if isinstance(batch.online, Unavailable) else None
        MetricStatus.objects.update_or_create(
            channel=channel,
            metric=ONLINE_HOURS,
            defaults={
                "source_name": "" if online_status else "online_followers",
                "unavailable_reason": str(online_status.reason) if online_status else "",
                "detail": online_status.detail[:500] if online_status else "",
            },
        )
    if isinstance(batch.online, list):
        for online in batch.online:
            OnlineHours.objects.update_or_create(
                channel=channel, day=online.day, defaults={"zone": online.zone, "hours": list(online.hours)}
            )
    if batch.engagements:
        missing = {e.post_remote_id for e in batch.engagements if e.post_remote_id} - set(posts_by_remote)
        if missing:
            posts_by_remote.update(
                ChannelPost.objects.filter(channel=channel, remote_id__in=missing).values_list("remote_id", "id")
            )
        EngagementEvent.objects.bulk_create(
            [
                EngagementEvent(
                    channel=channel,
                    post_id=posts_by_remote.get(e.post_remote_id),
                    remote_id=e.remote_id[:255],
                    kind=e.kind,
                    occurred_at=e.occurred_at,
                )
                for e in batch.engagements
            ],
            ignore_conflicts=True,
        )
    if batch.renewed_credentials:
        channel.store_credentials(batch.renewed_credentials)
        channel.save(update_fields=["credentials_encrypted", "updated_at"])

    if plan.days_until is not None:
        sync.days_from = min(filter(None, (sync.days_from, plan.days_from)))
        sync.days_until = max(filter(None, (sync.days_until, plan.days_until)))
    if plan.audience:
        sync.audience_read_on = plan.today
    if plan.posts_since is not None:
        sync.posts_listed_at = now
    sync.engagements_until = now
    sync.status = InsightsSync.Status.IDLE
    sync.next_run_at = now + EVERY if caught_up(plan, sync) else now
    sync.lease_until = None
    sync.lease_owner = ""
    sync.last_success_at = now
    sync.last_error = ""
    sync.failures = 0
    sync.runs += 1
    sync.calls += batch.calls
    sync.progress = {}
    sync.save()
    return sync


def _store_posts(channel: Channel, batch: SyncBatch, now: datetime) -> dict[str, int]:
    if not batch.posts:
        return {}
    from beffroi.publishing.models import Publication

    remote_ids = [post.remote_id for post in batch.posts]
    existing = {p.remote_id: p for p in ChannelPost.objects.filter(channel=channel, remote_id__in=remote_ids)}
    publications = dict(
        Publication.objects.filter(channel=channel, remote_id__in=remote_ids).values_list("remote_id", "id")
    )
    fields = [metric.value for metric in PostMetric]
    snapshots = []
    for stats in batch.posts:
        post = existing.get(stats.remote_id) or ChannelPost(channel=channel, remote_id=stats.remote_id)
        values = {name: stats.values.get(PostMetric(name)) for name in fields}
        # A reading adds a point to the post's curve when something moved, or an hour after the last point
        # (runs that follow each other during a backfill would otherwise repeat the same point).
        changed = post.pk is None or any(getattr(post, name) != value for name, value in values.items())
        stale = post.metrics_read_at is None or now - post.metrics_read_at >= SNAPSHOT_AT_MOST_EVERY
        post.url = stats.url or post.url
        post.text = stats.text or post.text
        post.post_type = str(stats.post_type)
        post.published_at = stats.published_at
        post.publication_id = publications.get(stats.remote_id, post.publication_id)
        for name, value in values.items():
            setattr(post, name, value)
        post.unavailable = {str(metric): str(why.reason) for metric, why in stats.unavailable.items()}
        post.metrics_read_at = now
        post.next_read_at = next_post_read(stats.published_at, now)
        post.save()
        existing[stats.remote_id] = post
        if changed or stale:
            snapshots.append(PostSnapshot(post=post, taken_at=now, **values))
    PostSnapshot.objects.bulk_create(snapshots, ignore_conflicts=True)
    return {remote_id: post.pk for remote_id, post in existing.items()}


def new_owner() -> str:
    return f"insights:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"[:64]


def ensure_sync_rows(now: datetime | None = None) -> int:
    """Every active channel of a network with statistics has its sync row (new channels start at once)."""
    now = now or timezone.now()
    missing = Channel.objects.filter(insights_sync__isnull=True).only("id", "network")
    rows = []
    for channel in missing:
        reader = insights_reader_for(channel.network)
        status = InsightsSync.Status.IDLE if reader else InsightsSync.Status.UNSUPPORTED
        rows.append(InsightsSync(channel=channel, status=status, next_run_at=now if reader else None))
    InsightsSync.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def claim_due(owner: str, limit: int = 10, now: datetime | None = None) -> list[InsightsSync]:
    """Channels whose sync is due, leased to this worker (a compare-and-set per row: portable, and two workers
    never run one channel at once)."""
    now = now or timezone.now()
    ensure_sync_rows(now)
    candidates = list(
        InsightsSync.objects.filter(next_run_at__lte=now, channel__status=Channel.Status.ACTIVE)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .exclude(status=InsightsSync.Status.UNSUPPORTED)
        .order_by("next_run_at")
        .values_list("pk", flat=True)[: limit * 2]
    )
    claimed = []
    for pk in candidates:
        won = (
            InsightsSync.objects.filter(pk=pk, next_run_at__lte=now)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .update(lease_until=now + LEASE, lease_owner=owner, status=InsightsSync.Status.RUNNING)
        )
        if won:
            claimed.append(pk)
        if len(claimed) >= limit:
            break
    return list(InsightsSync.objects.filter(pk__in=claimed).select_related("channel", "channel__organisation"))


def run_sync(sync: InsightsSync, http: httpx.Client, now: datetime | None = None) -> str:
    """One run for one channel (already leased). Returns the new status."""
    now = now or timezone.now()
    channel = sync.channel
    reader = insights_reader_for(channel.network)
    if reader is None:
        InsightsSync.objects.filter(pk=sync.pk).update(
            status=InsightsSync.Status.UNSUPPORTED, next_run_at=None, lease_until=None, lease_owner=""
        )
        return InsightsSync.Status.UNSUPPORTED
    plan = plan_for(channel, sync, reader, now)
    access = ChannelAccess(channel.pk, channel.network, dict(channel.config), channel.credentials)

    def progress(step: str, done: int, total: int) -> None:
        InsightsSync.objects.filter(pk=sync.pk).update(progress={"step": step, "done": done, "total": total})

    batch = None
    try:
        batch = reader.read(access, http, plan, progress)
        store(channel, sync, reader, plan, batch, now)
    except RateLimited as limited:
        _keep_renewed_session(channel, limited)
        wait = timedelta(seconds=max(limited.retry_after, 60))
        InsightsSync.objects.filter(pk=sync.pk).update(
            status=InsightsSync.Status.WAITING,
            next_run_at=now + wait,
            lease_until=None,
            lease_owner="",
            last_error=(limited.detail or str(limited))[:500],
            progress={},
        )
        log.info("insights sync of channel %s rate limited for %ss", channel.pk, int(wait.total_seconds()))
        return InsightsSync.Status.WAITING
    except Exception as error:  # noqa: BLE001 — a failed run (reading or storing) stores nothing; tried again later
        _keep_renewed_session(channel, error, batch)
        detail = error.detail if isinstance(error, SyncFailed) else f"{type(error).__name__}: {error}"
        failures = sync.failures + 1
        backoff = min(timedelta(minutes=5) * 2 ** (failures - 1), MAX_BACKOFF)
        InsightsSync.objects.filter(pk=sync.pk).update(
            status=InsightsSync.Status.FAILED,
            next_run_at=now + backoff,
            lease_until=None,
            lease_owner="",
            last_error=detail[:500],
            failures=failures,
            progress={},
        )
        if isinstance(error, SyncFailed) and error.needs_reconnection:
            from beffroi.channels.health import mark_needs_reconnection

            mark_needs_reconnection(channel, detail)
        log.warning("insights sync of channel %s failed: %s", channel.pk, detail)
        return InsightsSync.Status.FAILED
    return InsightsSync.Status.IDLE


def _keep_renewed_session(channel: Channel, error: Exception, batch: SyncBatch | None = None) -> None:
    """A session the reader renewed before the run stopped is stored all the same: the refresh token it replaced
    may be spent (OAuth refresh tokens are used once), and the next run would need a person to reconnect."""
    # A read that succeeded but could not be stored carries its renewed session in the batch.
    renewed = getattr(error, "renewed_credentials", None) or (batch.renewed_credentials if batch else None)
    if renewed:
        channel.store_credentials(renewed)
        channel.save(update_fields=["credentials_encrypted", "updated_at"])


def sync_due(http: httpx.Client, *, owner: str | None = None, limit: int = 10) -> dict[str, int]:
    """Runs every due channel once (the worker loop calls this). Returns counts by outcome."""
    owner = owner or new_owner()
    outcomes: dict[str, int] = {}
    for sync in claim_due(owner, limit):
        status = run_sync(sync, http)
        outcomes[status] = outcomes.get(status, 0) + 1
    return outcomes


def sync_channel_now(channel: Channel, http: httpx.Client, *, max_runs: int = 40) -> str:
    """Runs a channel's sync until it has caught up (the "collect now" button and the tests)."""
    ensure_sync_rows()
    status = InsightsSync.Status.IDLE
    for _ in range(max_runs):
        now = timezone.now()
        won = (
            InsightsSync.objects.filter(channel=channel)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .update(lease_until=now + LEASE, lease_owner="now", status=InsightsSync.Status.RUNNING)
        )
        if not won:
            break
        sync = InsightsSync.objects.select_related("channel").get(channel=channel)
        status = run_sync(sync, http, now)
        sync.refresh_from_db()
        if status != InsightsSync.Status.IDLE or (sync.next_run_at and sync.next_run_at > now):
            break
    return status
