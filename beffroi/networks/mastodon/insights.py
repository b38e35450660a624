"""Mastodon statistics: the public counts an instance keeps, read with the channel's token over the sync's
httpx.Client.

Mastodon has no reach, no views, no daily history and no audience data (only instance admins see instance-wide
measures). Each run reads
- the account (`GET /api/v1/accounts/verify_credentials`): `followers_count`, stored by the sync as today's value,
  so the follower curve builds up day by day;
- the account's own statuses since `plan.posts_since` (`GET /api/v1/accounts/:id/statuses`, boosts and replies to
  other people left out, direct messages too) and the known statuses that are due (`GET /api/v1/statuses/:id`):
  favourites_count, replies_count, reblogs_count + quotes_count (Mastodon 4.5);
- the notifications since `plan.engagements_since` (`GET /api/v1/notifications`, types favourite, reblog, mention,
  quote; a mention counts only when it replies to one of the account's statuses): one dated engagement each, keyed
  by the notification id so re-reading never counts twice.

Pages are followed with `max_id` set to the last id read (the Link header is not followed: it could name another
host). A 429 means waiting until `X-RateLimit-Reset`; a 401 (revoked token) or 403 (a scope missing, e.g. a channel
connected before `read:notifications` was asked) means reconnecting.

`PUBLIC_READER` reads someone else's public account (watched pages) from its instance without a token
(`GET /api/v1/accounts/lookup`, then its public statuses).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

import httpx

from beffroi.core.logging import redact
from beffroi.insights.base import (
    Engagement,
    MetricName,
    PostStats,
    Progress,
    RateLimited,
    SyncBatch,
    SyncFailed,
    SyncPlan,
    Unavailable,
    WatchedPost,
    WatchedProfile,
)
from beffroi.insights.metrics import Dimension, Metric, PostMetric, PostType, Reason
from beffroi.networks.base import ChannelAccess, parse_retry_after

NETWORK = "mastodon"
STATUSES_PAGE = 40  # the most GET /api/v1/accounts/:id/statuses gives
NOTIFICATIONS_PAGE = 80  # the most GET /api/v1/notifications gives
# Bounds per run (a channel with more catches up on the next runs for posts; older notifications are not kept).
MAX_STATUS_PAGES = 25
MAX_NOTIFICATION_PAGES = 50
MAX_DUE_POSTS = 100  # one call each: well within 300 calls per 5 minutes
ENGAGEMENT_TYPES = ("favourite", "reblog", "mention", "quote")

NO_REACH = "Mastodon gives no reach: it does not count who saw a post."
NO_VIEWS = "Mastodon gives no views: it does not count how often a post was seen."
NO_AUDIENCE = "Mastodon gives no audience breakdown (age, gender, places, languages) nor online hours."
NO_SAVES = "Mastodon keeps bookmarks private: it gives no count of saves."
MISSING = {
    Metric.REACH: NO_REACH,
    Metric.VIEWS: NO_VIEWS,
    Metric.INTERACTIONS: "Mastodon gives no daily total of interactions; each post's favourites, replies and boosts "
    "are counted instead.",
    Metric.FOLLOWS: "Mastodon gives no daily count of new followers; the follower count is read each day instead.",
    Metric.UNFOLLOWS: "Mastodon gives no count of people who stopped following.",
}

_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_PARAGRAPH_END = re.compile(r"</p>\s*", re.IGNORECASE)
_ANCHOR = re.compile(r"<a\s[^>]*>", re.IGNORECASE)
# Mastodon 4.5 puts "RE: <link to the quoted post>" in a paragraph of its own: not a link the author shared.
_QUOTE_INLINE = re.compile(r'<p class="quote-inline">.*?</p>', re.IGNORECASE | re.DOTALL)


# --------------------------------------------------------------------------------------------------------------
# Reading answers
# --------------------------------------------------------------------------------------------------------------


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def plain_text(content: str) -> str:
    """A status's HTML as the text people read (paragraphs and line breaks kept)."""
    text = _QUOTE_INLINE.sub("", content or "")
    text = _BREAK.sub("\n", text)
    text = _PARAGRAPH_END.sub("\n\n", text)
    return html.unescape(_TAG.sub("", text)).strip()


def post_type(status: dict[str, Any]) -> PostType:
    """From the attachments (a video, an animated GIF or a sound → video; pictures → photo), else a link card or a
    link in the text (mentions and hashtags are links too, told apart by their class), else text."""
    kinds = {str(media.get("type") or "") for media in status.get("media_attachments") or []}
    if kinds & {"video", "gifv", "audio"}:
        return PostType.VIDEO
    if "image" in kinds:
        return PostType.PHOTO
    if status.get("card"):
        return PostType.LINK
    content = _QUOTE_INLINE.sub("", str(status.get("content") or ""))
    for anchor in _ANCHOR.findall(content):
        if "mention" not in anchor and "hashtag" not in anchor:
            return PostType.LINK
    return PostType.TEXT


def post_values(status: dict[str, Any]) -> tuple[dict[PostMetric, int], dict[PostMetric, Unavailable]]:
    values = {
        PostMetric.LIKES: int(status.get("favourites_count") or 0),
        PostMetric.COMMENTS: int(status.get("replies_count") or 0),
        # A quote (Mastodon 4.5) spreads the post to the quoter's followers, as a boost does.
        PostMetric.SHARES: int(status.get("reblogs_count") or 0) + int(status.get("quotes_count") or 0),
    }
    values[PostMetric.INTERACTIONS] = sum(values.values())
    unavailable = {
        PostMetric.REACH: Unavailable(Reason.NOT_ON_NETWORK, NO_REACH),
        PostMetric.VIEWS: Unavailable(Reason.NOT_ON_NETWORK, NO_VIEWS),
        PostMetric.SAVES: Unavailable(Reason.NOT_ON_NETWORK, NO_SAVES),
    }
    return values, unavailable


def own_post(status: dict[str, Any], account_id: str) -> bool:
    """A status that is one of the account's posts: not a boost, not a direct message, not a reply to someone
    else (the later parts of the account's own threads are posts)."""
    if status.get("reblog") or status.get("visibility") == "direct":
        return False
    if str((status.get("account") or {}).get("id") or account_id) != account_id:
        return False
    replied_to = status.get("in_reply_to_account_id")
    return replied_to in (None, "") or str(replied_to) == account_id


def post_stats(status: dict[str, Any]) -> PostStats | None:
    moment = parse_time(status.get("created_at"))
    if moment is None or not status.get("id"):
        return None
    values, unavailable = post_values(status)
    return PostStats(
        remote_id=str(status["id"]),
        published_at=moment,
        post_type=post_type(status),
        url=str(status.get("url") or status.get("uri") or ""),
        text=plain_text(str(status.get("content") or "")),
        values=values,
        unavailable=unavailable,
    )


def engagement(notification: dict[str, Any], account_id: str) -> Engagement | None:
    """One notification as a dated engagement with the account's content (None for anything else: follows,
    mentions that reply to nothing of the account's…)."""
    kind = str(notification.get("type") or "")
    status = notification.get("status") or {}
    moment = parse_time(notification.get("created_at"))
    if moment is None or not notification.get("id") or not isinstance(status, dict):
        return None
    if kind in ("favourite", "reblog"):
        # The notification's status is the account's own one that was favourited or boosted.
        return Engagement(
            remote_id=str(notification["id"]),
            kind="like" if kind == "favourite" else "share",
            occurred_at=moment,
            post_remote_id=str(status.get("id") or ""),
        )
    if kind == "mention":
        if str(status.get("in_reply_to_account_id") or "") != account_id:
            return None  # a mention in someone's own post: not about one of the account's statuses
        return Engagement(
            remote_id=str(notification["id"]),
            kind="reply",
            occurred_at=moment,
            post_remote_id=str(status.get("in_reply_to_id") or ""),
        )
    if kind == "quote":
        quoted = ((status.get("quote") or {}).get("quoted_status") or {}).get("id") or ""
        return Engagement(
            remote_id=str(notification["id"]), kind="quote", occurred_at=moment, post_remote_id=str(quoted)
        )
    return None


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("error"):
        return redact(str(body["error"]))[:300]
    return response.reason_phrase or f"HTTP {response.status_code}"


# --------------------------------------------------------------------------------------------------------------
# Calls
# --------------------------------------------------------------------------------------------------------------


class InstanceClient:
    """GETs on one instance, with the channel's token (or none, for public reads)."""

    def __init__(self, http: httpx.Client, base: str, token: str = "") -> None:
        self.http = http
        self.base = base.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.calls = 0

    def get(self, path: str, params: Any = None, *, missing_ok: bool = False) -> Any:
        """The answer's JSON; None for a 404 when `missing_ok` (a deleted status)."""
        self.calls += 1
        try:
            response = self.http.get(f"{self.base}{path}", params=params, headers=self.headers)
        except httpx.TransportError as error:
            raise SyncFailed(f"The instance could not be reached ({path}: {type(error).__name__}).") from error
        status = response.status_code
        if status == 429:
            retry_after = parse_retry_after(response) or 60.0  # X-RateLimit-Reset, an ISO time
            raise RateLimited(retry_after, f"The instance asked us to slow down ({path}).")
        if status == 401 and not self.headers:
            raise SyncFailed(f"The instance lets no one read {path} without logging in ({_message(response)}).")
        if status == 401:
            raise SyncFailed(
                f"The instance refused the authorisation ({_message(response)}): reconnect the channel.",
                needs_reconnection=True,
            )
        if status == 403 and self.headers:
            raise SyncFailed(
                f"The instance refused to read {path} ({_message(response)}): reconnect the channel to allow it.",
                needs_reconnection=True,
            )
        if status in (404, 410) and missing_ok:
            return None
        if status != 200:
            raise SyncFailed(f"The instance answered {status} to {path}: {_message(response)}")
        try:
            return response.json()
        except ValueError as error:
            raise SyncFailed(f"The instance's answer to {path} is not JSON.") from error


def _list(answer: Any, path: str) -> list[dict[str, Any]]:
    if not isinstance(answer, list):
        raise SyncFailed(f"The instance's answer to {path} is not a list.")
    return [item for item in answer if isinstance(item, dict)]


# --------------------------------------------------------------------------------------------------------------
# The readers
# --------------------------------------------------------------------------------------------------------------


class MastodonInsights:
    network: ClassVar[str] = NETWORK
    account_metrics: ClassVar[dict[Metric, Sequence[MetricName]]] = {
        Metric.FOLLOWERS: (MetricName("followers_count", note="GET /api/v1/accounts/verify_credentials, read now"),)
    }
    reporting_zone: ClassVar[str] = ""  # UTC
    history_days: ClassVar[int | None] = None  # no daily history: levels read now

    def missing_reason(self, metric: Metric) -> Unavailable:
        return Unavailable(Reason.NOT_ON_NETWORK, MISSING.get(metric, f"Mastodon gives no {metric}."))

    def read(self, access: ChannelAccess, http: httpx.Client, plan: SyncPlan, progress: Progress) -> SyncBatch:
        base = str(access.config.get("instance_url") or "")
        token = str(access.credentials.get("access_token") or "")
        if not base or not token:
            raise SyncFailed("The channel has no instance address or token: reconnect it.", needs_reconnection=True)
        client = InstanceClient(http, base, token)
        try:
            batch = self._read(client, plan, progress)
        except (httpx.HTTPError, KeyError, TypeError, ValueError) as error:
            raise SyncFailed(f"The instance's answer could not be read ({type(error).__name__}: {error}).") from error
        batch.calls = client.calls
        return batch

    def _read(self, client: InstanceClient, plan: SyncPlan, progress: Progress) -> SyncBatch:
        steps = 3
        batch = SyncBatch()
        progress("profile", 0, steps)
        account = client.get("/api/v1/accounts/verify_credentials")
        if not isinstance(account, dict) or not account.get("id"):
            raise SyncFailed("The instance did not say which account the token belongs to.")
        account_id = str(account["id"])
        if account.get("followers_count") is not None:
            batch.followers_now = int(account["followers_count"])
            batch.metric_status[Metric.FOLLOWERS] = "followers_count"
        if plan.audience:
            for dimension in Dimension:
                batch.audience[dimension] = Unavailable(Reason.NOT_ON_NETWORK, NO_AUDIENCE)
        batch.online = Unavailable(Reason.NOT_ON_NETWORK, NO_AUDIENCE)

        progress("posts", 1, steps)
        posts: dict[str, PostStats] = {}
        if plan.posts_since is not None:
            path = f"/api/v1/accounts/{account_id}/statuses"
            # exclude_replies keeps the account's own threads on Mastodon (replies to itself are not "replies").
            params: dict[str, Any] = {"limit": STATUSES_PAGE, "exclude_reblogs": "true", "exclude_replies": "true"}
            for _page in range(MAX_STATUS_PAGES):
                page = _list(client.get(path, params), path)
                if not page:
                    break
                reached_older = False
                for status in page:
                    stats = post_stats(status) if own_post(status, account_id) else None
                    if stats is None:
                        continue
                    if stats.published_at < plan.posts_since:
                        reached_older = True
                        continue
                    posts[stats.remote_id] = stats
                if reached_older:
                    break
                params = {**params, "max_id": str(page[-1]["id"])}
        for remote_id in [remote_id for remote_id in plan.post_ids if remote_id not in posts][:MAX_DUE_POSTS]:
            status = client.get(f"/api/v1/statuses/{remote_id}", missing_ok=True)
            if status is None:  # 404 or 410: deleted since
                batch.gone_post_ids.append(remote_id)
                continue
            stats = post_stats(status) if isinstance(status, dict) else None
            if stats is not None:
                posts[stats.remote_id] = stats
        batch.posts = sorted(posts.values(), key=lambda stats: stats.published_at)

        progress("engagements", 2, steps)
        if plan.engagements_since is not None:
            path = "/api/v1/notifications"
            query: list[tuple[str, str]] = [("limit", str(NOTIFICATIONS_PAGE))]
            query += [("types[]", kind) for kind in ENGAGEMENT_TYPES]
            seen: set[str] = set()
            max_id = ""
            for _page in range(MAX_NOTIFICATION_PAGES):
                page = _list(client.get(path, query + ([("max_id", max_id)] if max_id else [])), path)
                if not page:
                    break
                reached_older = False
                for notification in page:
                    moment = parse_time(notification.get("created_at"))
                    if moment is not None and moment < plan.engagements_since:
                        reached_older = True
                        continue
                    found = engagement(notification, account_id)
                    if found is not None and found.remote_id not in seen:
                        seen.add(found.remote_id)
                        batch.engagements.append(found)
                if reached_older:
                    break
                max_id = str(page[-1]["id"])
        progress("done", steps, steps)
        return batch


class MastodonPublicReader:
    """A public Mastodon account read from its instance without a token (watched pages)."""

    network: ClassVar[str] = NETWORK

    def read_public(self, http: httpx.Client, handle: str, *, config: dict[str, Any], limit: int) -> WatchedProfile:
        base = str(config.get("server") or config.get("instance_url") or "")
        if not base:
            raise SyncFailed("No Mastodon server was given for this account.")
        client = InstanceClient(http, base)
        acct = handle.strip().lstrip("@")
        account = client.get("/api/v1/accounts/lookup", {"acct": acct}, missing_ok=True)
        if not isinstance(account, dict) or not account.get("id"):
            raise SyncFailed(f"The instance does not know the account {acct}.")
        account_id = str(account["id"])
        followers = account.get("followers_count")
        profile = WatchedProfile(
            remote_id=account_id,
            handle=str(account.get("acct") or acct),
            display_name=str(account.get("display_name") or account.get("username") or acct),
            url=str(account.get("url") or ""),
            followers=int(followers) if followers is not None else None,
        )
        path = f"/api/v1/accounts/{account_id}/statuses"
        params: dict[str, Any] = {"limit": STATUSES_PAGE, "exclude_reblogs": "true", "exclude_replies": "true"}
        for _page in range(-(-max(limit, 1) // STATUSES_PAGE) + 1):
            page = _list(client.get(path, params), path)
            if not page:
                break
            for status in page:
                if not own_post(status, account_id) or status.get("visibility") not in ("public", "unlisted"):
                    continue
                moment = parse_time(status.get("created_at"))
                if moment is None or not status.get("id"):
                    continue
                values, _unavailable = post_values(status)
                profile.posts.append(
                    WatchedPost(
                        remote_id=str(status["id"]),
                        url=str(status.get("url") or status.get("uri") or ""),
                        text=plain_text(str(status.get("content") or "")),
                        published_at=moment,
                        post_type=post_type(status),
                        values=values,
                    )
                )
                if len(profile.posts) >= limit:
                    return profile
            params = {**params, "max_id": str(page[-1]["id"])}
        return profile


READER = MastodonInsights()
PUBLIC_READER = MastodonPublicReader()
