"""Statistics of an Instagram professional account: daily account insights, each post's insights, follower
demographics, followers online by hour, and comment times — read through the Graph API on either host
(graph.instagram.com or graph.facebook.com), never touching the database (the sync stores the batch).

Instagram's account metrics come in two kinds since v22: a few daily time series (`reach`, `follower_count`)
and "total value" metrics (`views`, `total_interactions`, `follows_and_unfollows`) that add up a range, so a
daily value costs one request per day — asked only for the last 30 days, as Meta keeps `follower_count` and
`online_followers`. Older days keep their reach; their other values stay "not collected", never zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from beffroi.insights.base import (
    Engagement,
    MetricName,
    OnlineDay,
    PostStats,
    Progress,
    SyncPlan,
    Unavailable,
)
from beffroi.insights.metrics import Dimension, Metric, PostMetric, PostType, Reason
from beffroi.networks.graph.client import INSTAGRAM_HOST
from beffroi.networks.graph.insights import (
    PACIFIC,
    Followers,
    GraphCallError,
    GraphInsightsReader,
    GraphRun,
    InsightsGraph,
    aware,
    breakdown,
    is_empty,
    lifetime_value,
    refused,
    series,
    series_of_maps,
    since_until,
    whole,
    windows,
)

LABEL = "Instagram"
SERIES_WINDOW_DAYS = 30  # Instagram answers at most 30 days per since/until query
RECENT_DAYS = 30  # follower_count and online_followers only go back 30 days; per-day totals are asked as far
ENGAGEMENT_LOOK_BACK = timedelta(days=14)
ENGAGEMENT_POSTS = 25
MEDIA_FIELDS = "id,caption,media_type,media_product_type,permalink,timestamp,like_count,comments_count"


@dataclass(frozen=True)
class HowToRead:
    """How a metric name is asked: a daily time series, or a total asked once per day."""

    kind: str  # "series" | "daily_total"
    recent_only: bool = False  # Meta keeps only the last RECENT_DAYS days
    breakdown: str = ""


HOW = {
    "reach": HowToRead("series"),
    "impressions": HowToRead("series"),
    "follower_count": HowToRead("series", recent_only=True),
    "views": HowToRead("daily_total", recent_only=True),
    "total_interactions": HowToRead("daily_total", recent_only=True),
    "follows_and_unfollows": HowToRead("daily_total", recent_only=True, breakdown="follow_type"),
}
# The part of a follow_type breakdown each measure keeps.
FOLLOW_TYPE = {Metric.FOLLOWS: "FOLLOWER", Metric.UNFOLLOWS: "NON_FOLLOWER"}

ACCOUNT_METRICS: dict[Metric, tuple[MetricName, ...]] = {
    Metric.REACH: (MetricName("reach", note="unique accounts that saw the account's content that day"),),
    Metric.VIEWS: (
        MetricName("impressions", until_version="v22.0", deprecated_on="2025-04-21", note="removed in 2025"),
        MetricName("views", note="the replacement (total_value only: one request per day)"),
    ),
    Metric.INTERACTIONS: (MetricName("total_interactions", note="likes, comments, shares, saves and replies"),),
    # No daily history of the follower count: the account's `followers_count` is read as a level each run.
    Metric.FOLLOWERS: (MetricName("followers_count", note="the account's field, read each day"),),
    Metric.FOLLOWS: (MetricName("follower_count", note="new followers each day, last 30 days only"),),
    Metric.UNFOLLOWS: (MetricName("follows_and_unfollows", note="the NON_FOLLOWER part of its follow_type breakdown"),),
}

MEDIA_INSIGHTS: dict[PostMetric, tuple[MetricName, ...]] = {
    PostMetric.VIEWS: (
        MetricName("impressions", until_version="v22.0", deprecated_on="2025-04-21"),
        MetricName("views", note="the replacement of impressions and plays"),
    ),
    PostMetric.REACH: (MetricName("reach"),),
    PostMetric.SHARES: (MetricName("shares"),),
    PostMetric.SAVES: (MetricName("saved"),),
    PostMetric.INTERACTIONS: (MetricName("total_interactions"),),
}
# Asked as insights only when the media's own count is missing (hidden like counts, stories).
LIKES_INSIGHT = (MetricName("likes"),)
COMMENTS_INSIGHT = (MetricName("comments"),)
STORY_REPLIES = (MetricName("replies", note="a story's answers count as its comments"),)
NOT_FOR_STORIES = {
    PostMetric.LIKES: Unavailable(Reason.NOT_ON_NETWORK, "Instagram stories have no likes count."),
    PostMetric.SAVES: Unavailable(Reason.NOT_ON_NETWORK, "Instagram does not count saves of stories."),
}

DEMOGRAPHICS = (MetricName("follower_demographics", note="top 45 groups; needs 100 followers"),)
BREAKDOWNS = {Dimension.AGE_GENDER: "age,gender", Dimension.COUNTRY: "country", Dimension.CITY: "city"}
NO_LANGUAGE = Unavailable(
    Reason.NOT_ON_NETWORK, "Instagram gives its followers' age, gender, country and city, not their language."
)
ONLINE = (MetricName("online_followers", note="followers online per hour, Pacific time, last 30 days"),)


def post_type_of(item: dict[str, Any]) -> PostType:
    product = str(item.get("media_product_type") or "").upper()
    media = str(item.get("media_type") or "").upper()
    if product == "STORY":
        return PostType.STORY
    if product == "REELS":
        return PostType.REEL
    if media == "CAROUSEL_ALBUM":
        return PostType.CAROUSEL
    if media == "VIDEO":
        return PostType.VIDEO
    return PostType.PHOTO


class _Run(GraphRun):
    """One sync run of one Instagram account."""

    label = LABEL
    owner_words = "the account"
    posts_edge = "media"
    post_fields = MEDIA_FIELDS
    created_field = "timestamp"
    page_size = "50"
    look_back = ENGAGEMENT_LOOK_BACK

    def __init__(self, graph: InsightsGraph, owner_id: str, plan: SyncPlan, progress: Progress) -> None:
        super().__init__(graph, owner_id, plan, progress)
        self.recent_from = plan.today - timedelta(days=RECENT_DAYS)
        self._totals: dict[tuple[str, date], dict[str, Any]] = {}

    def read_profile(self) -> None:
        try:
            account = self.graph.get(self.owner_id, {"fields": "followers_count,media_count"})
        except GraphCallError as error:
            raise refused(error, "the account", LABEL) from error
        self.followers = Followers(whole(account.get("followers_count")))
        if self.followers.count is not None:
            self.batch.followers_now = self.followers.count
            self.batch.metric_status[Metric.FOLLOWERS] = "followers_count"
        else:
            self.batch.metric_status[Metric.FOLLOWERS] = Unavailable(
                Reason.NO_PERMISSION, "Instagram did not give the account's followers_count."
            )

    # Daily account measures ---------------------------------------------------------------------------------

    def account_metrics(self, first: date, last: date) -> None:
        metrics = [metric for metric in ACCOUNT_METRICS if metric != Metric.FOLLOWERS]
        for done, metric in enumerate(metrics):
            self.progress("account metrics", done, len(metrics))
            names = [name for name in ACCOUNT_METRICS[metric] if self._asked(name.name, first, last)]
            if not names:
                continue  # days older than Meta keeps for this measure: its status stays as it was
            read = self.names.read(names, lambda name, m=metric: self._daily(m, name, first, last), scope="user")
            self.keep_days(metric, read, first, last)
        self.progress("account metrics", len(metrics), len(metrics))

    def _asked(self, name: str, first: date, last: date) -> bool:
        how = HOW.get(name)
        return how is not None and (not how.recent_only or last >= self.recent_from)

    def _daily(self, metric: Metric, name: str, first: date, last: date) -> dict[date, int]:
        how = HOW[name]
        if how.recent_only:
            first = max(first, self.recent_from)
        found: dict[date, int] = {}
        if how.kind == "series":
            for start, end in windows(first, last, SERIES_WINDOW_DAYS):
                body = self.graph.get(
                    f"{self.owner_id}/insights", {"metric": name, "period": "day", **since_until(start, end)}
                )
                found.update(series(body, name))
            return found
        day = first
        while day <= last:
            body = self._total(name, day, how.breakdown)
            if how.breakdown:
                parts = {dims.get(how.breakdown): value for dims, value in breakdown(body, name)}
                value = parts.get(FOLLOW_TYPE.get(metric, ""))
                if value is None and lifetime_value(body, name) is not None:
                    value = 0  # Meta gave the day's total and lists only the parts that happened
            else:
                value = None if is_empty(body, name) else lifetime_value(body, name)
            if value is not None:
                found[day] = value
            day += timedelta(days=1)
        return found

    def _total(self, name: str, day: date, by: str) -> dict[str, Any]:
        """One day's total of a total_value metric (kept: follows and unfollows share one answer)."""
        key = (name, day)
        if key not in self._totals:
            params = {"metric": name, "period": "day", "metric_type": "total_value", **since_until(day, day)}
            if by:
                params["breakdown"] = by
            self._totals[key] = self.graph.get(f"{self.owner_id}/insights", params)
        return self._totals[key]

    # Posts ------------------------------------------------------------------------------------------------

    def more_posts(self, since: datetime) -> list[dict[str, Any]]:
        """Stories are not in /media; those of the last 24 hours are in /stories."""
        stories = []
        try:
            for item in self.graph.pages(f"{self.owner_id}/stories", {"fields": MEDIA_FIELDS}, max_pages=2):
                created = aware(item.get("timestamp"))
                if created is not None and created >= since:
                    stories.append({**item, "media_product_type": "STORY", "_created": created})
        except GraphCallError:
            pass  # stories are not shown to the app: the feed's posts are still measured
        return stories

    def post_stats(self, item: dict[str, Any]) -> PostStats:
        remote_id = str(item["id"])
        kind = post_type_of(item)
        stats = PostStats(
            remote_id=remote_id,
            published_at=item["_created"],
            post_type=kind,
            url=str(item.get("permalink") or ""),
            text=str(item.get("caption") or ""),
        )
        story = kind == PostType.STORY
        asked: dict[PostMetric, Sequence[MetricName]] = dict(MEDIA_INSIGHTS)
        if story:
            stats.unavailable.update(NOT_FOR_STORIES)
            asked.pop(PostMetric.SAVES)
            asked[PostMetric.COMMENTS] = STORY_REPLIES
        else:
            for metric, field, names in (
                (PostMetric.LIKES, "like_count", LIKES_INSIGHT),
                (PostMetric.COMMENTS, "comments_count", COMMENTS_INSIGHT),
            ):
                value = whole(item.get(field))
                if value is None:
                    asked[metric] = names  # hidden by the account, or not given: ask the insight instead
                else:
                    stats.values[metric] = value
        withheld: Unavailable | None = None
        for metric, names in asked.items():
            if withheld is not None:
                stats.unavailable[metric] = withheld
                continue
            read = self.names.read(
                names, lambda name: self._media_insight(remote_id, name), scope="story" if story else "media"
            )
            if isinstance(read, Unavailable):
                stats.unavailable[metric] = read
                if read.reason == Reason.NOT_ENOUGH_VIEWERS:
                    withheld = read  # "(#10) Not enough viewers": every other insight of the post would say so
            elif read[1] is None:
                stats.unavailable[metric] = self.followers.empty_answer(read[0])
            else:
                stats.values[metric] = read[1]
        return stats

    def _media_insight(self, remote_id: str, name: str) -> int | None:
        body = self.graph.get(f"{remote_id}/insights", {"metric": name})
        return None if is_empty(body, name) else lifetime_value(body, name)

    # Audience ---------------------------------------------------------------------------------------------

    def audience(self) -> None:
        total = len(BREAKDOWNS)
        for done, (dimension, by) in enumerate(BREAKDOWNS.items()):
            self.progress("audience", done, total)
            read = self.names.read(DEMOGRAPHICS, lambda name, by=by: self._demographics(name, by), scope="user")
            self.keep_audience(dimension, read, "follower demographics")
        self.batch.audience[Dimension.LANGUAGE] = NO_LANGUAGE
        self.progress("audience", total, total)

    def _demographics(self, name: str, by: str) -> dict[str, int]:
        body = self.graph.get(
            f"{self.owner_id}/insights",
            {"metric": name, "period": "lifetime", "metric_type": "total_value", "breakdown": by},
        )
        counts: dict[str, int] = {}
        for dims, value in breakdown(body, name):
            if by == "age,gender":
                if "age" not in dims or "gender" not in dims:
                    continue
                key = f"{dims['gender'].upper()}.{dims['age']}"  # "F.25-34", as the audience views read it
            else:
                key = dims.get(by, "")
            if key:
                counts[key] = counts.get(key, 0) + value
        return counts

    # Followers online by hour -----------------------------------------------------------------------------

    def online(self, days: Sequence[date]) -> None:
        wanted = sorted(day for day in days if day >= self.recent_from)
        if not wanted:
            return
        self.progress("online followers", 0, 1)
        read = self.names.read(ONLINE, lambda name: self._online(name, wanted[0], wanted[-1]), scope="user")
        if isinstance(read, Unavailable):
            self.batch.online = read
        elif not read[1]:
            self.batch.online = self.followers.empty_answer("online followers") if self.followers.too_few else []
        else:
            found = read[1]
            self.batch.online = [
                OnlineDay(day, PACIFIC, tuple(whole(found[day].get(str(hour))) for hour in range(24)))
                for day in wanted
                if day in found
            ]
        self.progress("online followers", 1, 1)

    def _online(self, name: str, first: date, last: date) -> dict[date, dict[str, Any]]:
        found: dict[date, dict[str, Any]] = {}
        for start, end in windows(first, last, SERIES_WINDOW_DAYS):
            body = self.graph.get(
                f"{self.owner_id}/insights", {"metric": name, "period": "lifetime", **since_until(start, end)}
            )
            found.update(series_of_maps(body, name))
        return found

    # Comment times ----------------------------------------------------------------------------------------

    def engagements(self, listed: Sequence[dict[str, Any]], since: datetime) -> None:
        young = since - ENGAGEMENT_LOOK_BACK
        commented = [
            item for item in listed if item["_created"] >= young and (whole(item.get("comments_count")) or 0) > 0
        ][:ENGAGEMENT_POSTS]
        for done, item in enumerate(commented):
            self.progress("engagements", done, len(commented))
            media_id = str(item["id"])
            try:
                for comment in self.graph.pages(
                    f"{media_id}/comments", {"fields": "id,timestamp", "limit": "50"}, max_pages=5
                ):
                    created = aware(comment.get("timestamp"))
                    if created is not None and created >= since and comment.get("id"):
                        self.batch.engagements.append(
                            Engagement(str(comment["id"]), "comment", created, post_remote_id=media_id)
                        )
            except GraphCallError:
                continue  # comments hidden from the app or the media gone: its times are simply not known
        if commented:
            self.progress("engagements", len(commented), len(commented))


class InstagramInsightsReader(GraphInsightsReader):
    network = "instagram"
    label = LABEL
    account_metrics = ACCOUNT_METRICS
    default_host = INSTAGRAM_HOST
    id_key = "ig_user_id"
    account_kind = "an account"
    no_id = "The channel does not say which Instagram account it is: reconnect it."
    run = _Run


READER = InstagramInsightsReader()
# Reading other people's accounts goes through Meta's public-content features (Page Public Content Access, and App
# Review of Business Discovery), granted only after a business verification and review that a self-hosted tool for
# associations does not get: no watched Instagram accounts.
PUBLIC_READER = None
