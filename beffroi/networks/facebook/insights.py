"""Statistics of a Facebook Page: daily Page insights, each post's counts and insights, audience by country and
city, and comment times — read through the Graph API, never touching the database (the sync stores the batch).

Meta pruned Page insights in three waves (2024-03-14, 2025-11-15, v26 / 2026-06-15): every measure lists its
names, oldest first, each with the API versions and the day it stops; the reader keeps the first one Meta
accepts and falls back to the next when Meta answers "(#100) The value must be a valid insights metric".
The old name comes first while it is valid so a series stays comparable with what is stored; its replacement
takes over on the announced day, or earlier if Meta removes it early.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from beffroi.insights.base import (
    Engagement,
    MetricName,
    PostStats,
    Unavailable,
)
from beffroi.insights.metrics import Dimension, Metric, PostMetric, PostType, Reason
from beffroi.networks.graph.client import FACEBOOK_HOST
from beffroi.networks.graph.insights import (
    Followers,
    GraphCallError,
    GraphInsightsReader,
    GraphRun,
    aware,
    is_empty,
    lifetime_value,
    refused,
    series,
    series_of_maps,
    since_until,
    whole,
    windows,
)

LABEL = "Facebook"
WINDOW_DAYS = 90  # Meta answers at most 90 days (93 with its rounding) per since/until query
ENGAGEMENT_LOOK_BACK = timedelta(days=14)  # posts that young still get comments worth dating
ENGAGEMENT_POSTS = 25  # posts whose comments are read per run
POST_COUNTS = "reactions.summary(true).limit(0),comments.summary(true).limit(0),shares"
POST_FIELDS = f"id,created_time,message,permalink_url,status_type,attachments{{media_type,type}},{POST_COUNTS}"

# Daily Page measures (period=day). Dates are Meta's announcements (see networks.md §2).
ACCOUNT_METRICS: dict[Metric, tuple[MetricName, ...]] = {
    Metric.REACH: (
        MetricName(
            "page_impressions_unique",
            until_version="v26.0",
            deprecated_on="2026-06-15",
            note="reach family removed with v26, and from every version by 2026-06-15",
        ),
        MetricName("page_total_media_view_unique", note="the replacement: unique people who viewed the Page's media"),
    ),
    Metric.VIEWS: (
        MetricName("page_impressions", deprecated_on="2025-11-15", note="removed with the 'impressions' wave"),
        MetricName("page_media_view", note="the replacement: times the Page's media were viewed"),
    ),
    Metric.INTERACTIONS: (MetricName("page_post_engagements", note="reactions, comments, shares and clicks"),),
    Metric.FOLLOWERS: (
        MetricName("page_fans", deprecated_on="2025-11-15", note="'page fans' (likes) removed"),
        MetricName("page_follows", note="the replacement: followers of the Page at the end of each day"),
    ),
    Metric.FOLLOWS: (
        MetricName("page_fan_adds_unique", deprecated_on="2025-11-15", note="new Page likes, removed"),
        MetricName("page_daily_follows_unique", note="new followers that day (still valid in 2026)"),
    ),
    Metric.UNFOLLOWS: (
        MetricName("page_fan_removes_unique", deprecated_on="2025-11-15", note="Page unlikes, removed"),
        MetricName(
            "page_daily_unfollows_unique",
            note="in Meta's metric list but not among the names verified in 2026: tried, and shown as removed if "
            "Meta refuses it",
        ),
    ),
}

# Lifetime measures of one post (`/{post-id}/insights?period=lifetime`).
POST_INSIGHTS: dict[PostMetric, tuple[MetricName, ...]] = {
    PostMetric.VIEWS: (
        MetricName("post_impressions", deprecated_on="2025-11-15", note="removed with the 'impressions' wave"),
        MetricName("post_media_view", note="the replacement"),
    ),
    PostMetric.REACH: (
        MetricName("post_impressions_unique", until_version="v26.0", deprecated_on="2026-06-15"),
        MetricName("post_total_media_view_unique", note="the replacement"),
    ),
}

# Audience (period=lifetime: one map per day, the newest is kept).
AUDIENCE_METRICS: dict[Dimension, tuple[MetricName, ...]] = {
    Dimension.COUNTRY: (
        MetricName("page_fans_country", deprecated_on="2025-11-15"),
        MetricName(
            "page_follows_country",
            note="listed as removed in 2024 yet documented as page_fans_country's replacement in 2025",
        ),
    ),
    Dimension.CITY: (
        MetricName("page_fans_city", deprecated_on="2025-11-15"),
        MetricName("page_follows_city", note="as page_follows_country"),
    ),
}
REMOVED_AUDIENCE = {
    Dimension.AGE_GENDER: Unavailable(
        Reason.DEPRECATED,
        "Meta removed the Page audience by age and gender (page_fans_gender_age, page_follows_gender_age) on "
        "2024-03-14, with no replacement.",
    ),
    Dimension.LANGUAGE: Unavailable(
        Reason.DEPRECATED,
        "Meta removed the Page audience by language (page_fans_locale) on 2025-11-15, with no replacement.",
    ),
}
NO_ONLINE = Unavailable(
    Reason.DEPRECATED,
    "Meta removed 'when your fans are online' for Pages (page_fans_online) with the 'page fans' metrics; the hours "
    "can be estimated from the dates of comments instead.",
)

# Meta's attachment types and status types → Beffroi's post types.
ATTACHMENT_TYPES = {
    "album": PostType.CAROUSEL,
    "photo": PostType.PHOTO,
    "cover_photo": PostType.PHOTO,
    "profile_media": PostType.PHOTO,
    "video": PostType.VIDEO,
    "video_inline": PostType.VIDEO,
    "video_autoplay": PostType.VIDEO,
    "video_direct_response": PostType.VIDEO,
    "animated_image_video": PostType.VIDEO,
    "reel": PostType.REEL,
    "share": PostType.LINK,
    "link": PostType.LINK,
    "animated_image_share": PostType.LINK,
    "native_templates": PostType.LINK,
}
STATUS_TYPES = {
    "added_photos": PostType.PHOTO,
    "added_video": PostType.VIDEO,
    "shared_story": PostType.LINK,
    "mobile_status_update": PostType.TEXT,
    "wall_post": PostType.TEXT,
    "created_note": PostType.TEXT,
}


def post_type_of(item: dict[str, Any]) -> PostType:
    """From the post's first attachment (its kind of media), else its status type; plain text otherwise."""
    url = str(item.get("permalink_url") or "")
    if "/reel/" in url:
        return PostType.REEL
    attachments = (item.get("attachments") or {}).get("data") or []
    if attachments and isinstance(attachments[0], dict):
        first = attachments[0]
        for key in (str(first.get("type") or ""), str(first.get("media_type") or "")):
            if key in ATTACHMENT_TYPES:
                return ATTACHMENT_TYPES[key]
    return STATUS_TYPES.get(str(item.get("status_type") or ""), PostType.TEXT)


def _count(item: dict[str, Any], edge: str) -> int | None:
    """A reaction or comment count (`{edge}.summary(true)` → `summary.total_count`)."""
    summary = (item.get(edge) or {}).get("summary") if isinstance(item.get(edge), dict) else None
    return whole(summary.get("total_count")) if isinstance(summary, dict) else None


class _Run(GraphRun):
    """One sync run of one Page."""

    label = LABEL
    owner_words = "the Page"
    posts_edge = "posts"
    post_fields = POST_FIELDS
    created_field = "created_time"
    page_size = "100"
    look_back = ENGAGEMENT_LOOK_BACK

    def read_profile(self) -> None:
        try:
            page = self.graph.get(self.owner_id, {"fields": "followers_count,fan_count"})
        except GraphCallError as error:
            raise refused(error, "the Page", LABEL) from error
        count = whole(page.get("followers_count"))
        self.followers = Followers(count if count is not None else whole(page.get("fan_count")))

    def online(self, days: Sequence[date]) -> None:
        self.batch.online = NO_ONLINE

    # Daily Page measures ------------------------------------------------------------------------------------

    def account_metrics(self, first: date, last: date) -> None:
        total = len(ACCOUNT_METRICS)
        for done, (metric, names) in enumerate(ACCOUNT_METRICS.items()):
            self.progress("account metrics", done, total)
            read = self.names.read(names, lambda name: self._daily(name, first, last), scope="page")
            self.keep_days(metric, read, first, last)
        self.progress("account metrics", total, total)

    def _daily(self, name: str, first: date, last: date) -> dict[date, int]:
        found: dict[date, int] = {}
        for start, end in windows(first, last, WINDOW_DAYS):
            body = self.graph.get(
                f"{self.owner_id}/insights", {"metric": name, "period": "day", **since_until(start, end)}
            )
            found.update(series(body, name))
        return found

    # Posts ------------------------------------------------------------------------------------------------

    def post_stats(self, item: dict[str, Any]) -> PostStats:
        remote_id = str(item["id"])
        stats = PostStats(
            remote_id=remote_id,
            published_at=item["_created"],
            post_type=post_type_of(item),
            url=str(item.get("permalink_url") or f"https://www.facebook.com/{remote_id}"),
            text=str(item.get("message") or ""),
        )
        counts = {PostMetric.LIKES: _count(item, "reactions"), PostMetric.COMMENTS: _count(item, "comments")}
        shares = item.get("shares")
        if isinstance(shares, dict):
            counts[PostMetric.SHARES] = whole(shares.get("count"))
        else:
            # Meta leaves `shares` out when nobody shared the post — when it answered the fields asked at all.
            counts[PostMetric.SHARES] = 0 if "reactions" in item or "comments" in item else None
        for metric, value in counts.items():
            if value is None:
                stats.unavailable[metric] = Unavailable(Reason.NOT_COLLECTED, "Meta did not give this count.")
            else:
                stats.values[metric] = value
        if all(metric in stats.values for metric in counts):
            stats.values[PostMetric.INTERACTIONS] = sum(stats.values[metric] for metric in counts)
        stats.unavailable[PostMetric.SAVES] = Unavailable(Reason.NOT_ON_NETWORK, "Facebook does not count saves.")
        for metric, names in POST_INSIGHTS.items():
            read = self.names.read(names, lambda name: self._post_insight(remote_id, name), scope="post")
            if isinstance(read, Unavailable):
                stats.unavailable[metric] = read
            elif read[1] is None:
                stats.unavailable[metric] = self.followers.empty_answer(read[0])
            else:
                stats.values[metric] = read[1]
        return stats

    def _post_insight(self, remote_id: str, name: str) -> int | None:
        body = self.graph.get(f"{remote_id}/insights", {"metric": name, "period": "lifetime"})
        return None if is_empty(body, name) else lifetime_value(body, name)

    # Audience ---------------------------------------------------------------------------------------------

    def audience(self) -> None:
        total = len(AUDIENCE_METRICS)
        for done, (dimension, names) in enumerate(AUDIENCE_METRICS.items()):
            self.progress("audience", done, total)
            self.keep_audience(dimension, self.names.read(names, self._audience, scope="page"))
        self.batch.audience.update(REMOVED_AUDIENCE)
        self.progress("audience", total, total)

    def _audience(self, name: str) -> dict[str, int]:
        yesterday = self.plan.today - timedelta(days=1)
        body = self.graph.get(
            f"{self.owner_id}/insights",
            {"metric": name, "period": "lifetime", **since_until(yesterday - timedelta(days=1), yesterday)},
        )
        days = series_of_maps(body, name)
        if not days:
            return {}
        newest = days[max(days)]
        return {str(key): int(value) for key, value in newest.items() if isinstance(value, int)}

    # Comment times ----------------------------------------------------------------------------------------

    def engagements(self, listed: Sequence[dict[str, Any]], since: datetime) -> None:
        young = since - ENGAGEMENT_LOOK_BACK
        commented = [item for item in listed if item["_created"] >= young and (_count(item, "comments") or 0) > 0][
            :ENGAGEMENT_POSTS
        ]
        for done, item in enumerate(commented):
            self.progress("engagements", done, len(commented))
            post_id = str(item["id"])
            params = {
                "fields": "id,created_time",
                "filter": "stream",  # replies too
                "order": "reverse_chronological",
                "since": str(int(since.timestamp())),
                "limit": "100",
            }
            try:
                for comment in self.graph.pages(f"{post_id}/comments", params, max_pages=5):
                    created = aware(comment.get("created_time"))
                    if created is None:
                        continue
                    if created < since:
                        break  # newest first: the rest is older
                    self.batch.engagements.append(
                        Engagement(str(comment.get("id") or ""), "comment", created, post_remote_id=post_id)
                    )
            except GraphCallError:
                continue  # comments hidden from the app or the post gone: its times are simply not known
        if commented:
            self.progress("engagements", len(commented), len(commented))
        self.batch.engagements = [e for e in self.batch.engagements if e.remote_id]


class FacebookInsightsReader(GraphInsightsReader):
    network = "facebook"
    label = LABEL
    account_metrics = ACCOUNT_METRICS
    default_host = FACEBOOK_HOST
    id_key = "page_id"
    account_kind = "a Page"
    no_id = "The channel does not say which Page it is: reconnect it."
    run = _Run


READER = FacebookInsightsReader()
# Reading other people's Pages needs Meta's "Page Public Content Access" feature, which Meta grants only after a
# business verification and review that a self-hosted tool for associations does not get: no watched Pages.
PUBLIC_READER = None
