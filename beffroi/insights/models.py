"""Statistics, kept forever. A value is only ever a number a network gave (or a sum of such numbers);
what a network did not give is recorded as unavailable with its reason, never as zero."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from beffroi.channels.models import Channel
from beffroi.insights.metrics import ONLINE_HOURS, Dimension, Metric, PostMetric, PostType, Reason
from beffroi.organisations.models import Organisation, PageGroup

METRIC_CHOICES = [(m.value, m.value) for m in Metric]
STATUS_CHOICES = [*METRIC_CHOICES, (ONLINE_HOURS, ONLINE_HOURS)]
REASON_CHOICES = [(r.value, r.value) for r in Reason]


class DailyMetric(models.Model):
    """One account measure of one channel for one day (the day in the network's reporting zone)."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="daily_metrics")
    metric = models.CharField(max_length=16, choices=METRIC_CHOICES)
    day = models.DateField()
    value = models.BigIntegerField()
    collected_at = models.DateTimeField(auto_now=True)
    is_demo = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "metric", "day"], name="one_value_per_day")]
        # The overview reads one metric of many channels over a date range.
        indexes = [
            models.Index(fields=["metric", "day", "channel"], name="daily_metric_range"),
            # Every statistics page asks whether it shows demo figures: without this (tiny, demo rows only) index
            # that question reads every row of the scope's channels when the answer is no.
            models.Index(fields=["channel"], condition=models.Q(is_demo=True), name="daily_metric_demo"),
        ]


class MetricStatus(models.Model):
    """Per channel and measure: which network name gives it, or why it is unavailable (updated by each sync)."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="metric_statuses")
    metric = models.CharField(max_length=16, choices=STATUS_CHOICES)
    source_name = models.CharField(max_length=100, blank=True)  # the network's metric name in use
    unavailable_reason = models.CharField(max_length=24, choices=REASON_CHOICES, blank=True)
    detail = models.CharField(max_length=500, blank=True)  # the network's words
    checked_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "metric"], name="one_status_per_metric")]

    @property
    def available(self) -> bool:
        return not self.unavailable_reason


class PostMeasures(models.Model):
    """A post's lifetime measures (PostMetric), each None where the network did not give it."""

    views = models.BigIntegerField(null=True)
    reach = models.BigIntegerField(null=True)
    likes = models.BigIntegerField(null=True)
    comments = models.BigIntegerField(null=True)
    shares = models.BigIntegerField(null=True)
    saves = models.BigIntegerField(null=True)
    interactions = models.BigIntegerField(null=True)

    class Meta:
        abstract = True


class ChannelPost(PostMeasures):
    """A post on a channel as the network shows it (published by Beffroi or not), with its latest measures.

    The latest values are copied here from the newest snapshot so rankings and type averages read one row per
    post; the snapshots keep the post's lifetime curve.
    """

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="insight_posts")
    publication = models.ForeignKey(
        "publishing.Publication", on_delete=models.SET_NULL, null=True, blank=True, related_name="insight_posts"
    )
    remote_id = models.CharField(max_length=255)
    url = models.URLField(max_length=2000, blank=True)
    text = models.TextField(blank=True)
    post_type = models.CharField(max_length=12, choices=[(t.value, t.value) for t in PostType])
    published_at = models.DateTimeField()
    # {post metric: reason} for the measures the network withheld on the latest read.
    unavailable = models.JSONField(default=dict, blank=True)
    metrics_read_at = models.DateTimeField(null=True, blank=True)
    next_read_at = models.DateTimeField(null=True, blank=True)
    is_demo = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "remote_id"], name="one_insight_post")]
        indexes = [
            models.Index(fields=["channel", "published_at"], name="insight_post_time"),
            models.Index(fields=["next_read_at"], name="insight_post_due"),
            models.Index(fields=["channel"], condition=models.Q(is_demo=True), name="insight_post_demo"),
        ]

    def value(self, metric: PostMetric) -> int | None:
        return getattr(self, metric.value)


class PostSnapshot(PostMeasures):
    """A post's lifetime measures at one moment (often in its first days, then less)."""

    post = models.ForeignKey(ChannelPost, on_delete=models.CASCADE, related_name="snapshots")
    taken_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["post", "taken_at"], name="one_snapshot_per_moment")]


class AudienceBreakdown(models.Model):
    """One audience breakdown of a channel as read on one day; older ones are kept (history)."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="audience_breakdowns")
    dimension = models.CharField(max_length=12, choices=[(d.value, d.value) for d in Dimension])
    taken_on = models.DateField()
    counts = models.JSONField(default=dict, blank=True)  # {key: people}
    unavailable_reason = models.CharField(max_length=24, choices=REASON_CHOICES, blank=True)
    detail = models.CharField(max_length=500, blank=True)
    is_demo = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "dimension", "taken_on"], name="one_breakdown_per_day")
        ]


class OnlineHours(models.Model):
    """Followers online per hour for one day, in the zone the network counts in (kept as reported)."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="online_hours")
    day = models.DateField()
    zone = models.CharField(max_length=64)
    hours = models.JSONField()  # 24 values (or null), local hours 0..23 of `day` in `zone`
    is_demo = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "day"], name="one_online_day")]


class EngagementEvent(models.Model):
    """One dated interaction with the channel's content (a like, a comment, a repost…)."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="engagement_events")
    post = models.ForeignKey(ChannelPost, on_delete=models.SET_NULL, null=True, blank=True, related_name="events")
    remote_id = models.CharField(max_length=255)
    kind = models.CharField(max_length=12)
    occurred_at = models.DateTimeField()
    is_demo = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "remote_id"], name="one_engagement_event")]
        indexes = [models.Index(fields=["channel", "occurred_at"], name="engagement_time")]


class InsightsSync(models.Model):
    """Where the statistics sync of one channel stands: what is stored, when it next runs, what it is doing."""

    class Status(models.TextChoices):
        IDLE = "idle", _("Up to date")
        RUNNING = "running", _("Collecting")
        WAITING = "waiting", _("Waiting for the network (rate limit)")
        FAILED = "failed", _("Failed; will try again")
        UNSUPPORTED = "unsupported", _("No statistics for this channel type")

    channel = models.OneToOneField(Channel, on_delete=models.CASCADE, related_name="insights_sync")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.IDLE)
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=64, blank=True)
    # Daily account measures are stored for every day from `days_from` to `days_until` (the reporting zone).
    days_from = models.DateField(null=True, blank=True)
    days_until = models.DateField(null=True, blank=True)
    audience_read_on = models.DateField(null=True, blank=True)
    posts_listed_at = models.DateTimeField(null=True, blank=True)
    engagements_until = models.DateTimeField(null=True, blank=True)
    # Shown on the channel's statistics page: {"step": "...", "done": n, "total": m}.
    progress = models.JSONField(default=dict, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    failures = models.PositiveIntegerField(default=0)
    runs = models.PositiveIntegerField(default=0)
    calls = models.PositiveBigIntegerField(default=0)


class WatchedAccount(models.Model):
    """A public account of a peer or partner an organisation watches (its best posts, for inspiration)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="watched_accounts")
    network = models.CharField(max_length=16)
    handle = models.CharField(_("account"), max_length=255)
    server = models.URLField(_("server"), max_length=500, blank=True)  # Mastodon instance; Bluesky public API
    display_name = models.CharField(max_length=255, blank=True)
    url = models.URLField(max_length=2000, blank=True)
    followers = models.BigIntegerField(null=True)
    remote_id = models.CharField(max_length=255, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["handle"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "network", "handle", "server"], name="watch_once")
        ]


class WatchedPostRecord(models.Model):
    account = models.ForeignKey(WatchedAccount, on_delete=models.CASCADE, related_name="posts")
    remote_id = models.CharField(max_length=255)
    url = models.URLField(max_length=2000, blank=True)
    text = models.TextField(blank=True)
    post_type = models.CharField(max_length=12)
    published_at = models.DateTimeField()
    likes = models.BigIntegerField(null=True)
    comments = models.BigIntegerField(null=True)
    shares = models.BigIntegerField(null=True)
    interactions = models.BigIntegerField(null=True)
    read_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "remote_id"], name="one_watched_post")]


class ReportSubscription(models.Model):
    """A person receives the statistics report of a scope by e-mail every week or month."""

    class Frequency(models.TextChoices):
        WEEKLY = "weekly", _("Every week (Monday)")
        MONTHLY = "monthly", _("Every month (the 1st)")

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="report_subscriptions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="report_subscriptions")
    group = models.ForeignKey(PageGroup, on_delete=models.CASCADE, null=True, blank=True)
    frequency = models.CharField(max_length=8, choices=Frequency.choices, default=Frequency.MONTHLY)
    language = models.CharField(max_length=8, default="fr")
    last_sent_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "user", "group", "frequency"], name="one_subscription")
        ]
