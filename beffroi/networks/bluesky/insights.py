"""Bluesky statistics: what the AppView counts, read through the account's PDS (which forwards `app.bsky.*` calls
to the AppView, as bsky.social does), over the sync's httpx.Client.

Bluesky has no reach, no views, no daily history and no audience data: only levels read now. Each run reads
- the profile (`app.bsky.actor.getProfile`): the follower count, stored by the sync as today's value, so the
  follower curve builds up day by day;
- the account's own posts since `plan.posts_since` (`app.bsky.feed.getAuthorFeed`, reposts left out) and the known
  posts that are due (`app.bsky.feed.getPosts`, 25 at a time): likeCount, replyCount, repostCount + quoteCount,
  bookmarkCount where the AppView gives it;
- the notifications since `plan.engagements_since` (`app.bsky.notification.listNotifications`, reasons like,
  repost, reply, quote): one dated engagement each, keyed by the like/repost/post record's URI so re-reading never
  counts twice.

Sessions: an app-password session whose access token expired is refreshed (refreshSession, else createSession with
the stored app password); an OAuth session with the refresh grant (DPoP). The new session goes back in
`batch.renewed_credentials` — and on the exception when the run fails afterwards, since the old refresh token may
already be spent.

`PUBLIC_READER` reads someone else's public account (watched pages) from a public AppView without logging in
(`config["server"]`, https://public.api.bsky.app by default).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
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
from beffroi.networks.bluesky import oauth
from beffroi.networks.bluesky.connector import (
    TOKEN_ERRORS,
    Session,
    _error_of,
    _token_refused,
    parse_time,
    post_url,
)

NETWORK = "bluesky"
PUBLIC_API = "https://public.api.bsky.app"
PAGE_SIZE = 100  # the most getAuthorFeed and listNotifications give per page
GET_POSTS_BATCH = 25  # the most getPosts takes at once
# Bounds per run (a channel with more catches up on the next runs for posts; older notifications are not kept).
MAX_FEED_PAGES = 20
MAX_NOTIFICATION_PAGES = 50
# Notification reasons that are engagement with the channel's content, and the kind each is stored as.
ENGAGEMENT_KINDS = {"like": "like", "repost": "share", "reply": "reply", "quote": "quote"}
# A post's record time is written by the poster's app: trusted unless it is later than when the AppView saw it.
CLOCK_SKEW = timedelta(minutes=5)
RENEW_AHEAD = timedelta(seconds=30)

NO_REACH = "Bluesky gives no reach: it does not count who saw a post."
NO_VIEWS = "Bluesky gives no views: it does not count how often a post was seen."
NO_AUDIENCE = "Bluesky gives no audience breakdown (age, gender, places, languages) nor online hours."
MISSING = {
    Metric.REACH: NO_REACH,
    Metric.VIEWS: NO_VIEWS,
    Metric.INTERACTIONS: "Bluesky gives no daily total of interactions; each post's likes, replies and reposts "
    "are counted instead.",
    Metric.FOLLOWS: "Bluesky gives no daily count of new followers; the follower count is read each day instead.",
    Metric.UNFOLLOWS: "Bluesky gives no count of people who stopped following.",
}


# --------------------------------------------------------------------------------------------------------------
# Reading answers
# --------------------------------------------------------------------------------------------------------------


def post_type(post: dict[str, Any]) -> PostType:
    """From the post view's embed (pictures, video, link card; a quote with media counts as that media), else a
    link facet in the text, else text."""
    embed = post.get("embed") or {}
    kind = str(embed.get("$type") or "")
    if kind.startswith("app.bsky.embed.recordWithMedia"):
        embed = embed.get("media") or {}
        kind = str(embed.get("$type") or "")
    if kind.startswith("app.bsky.embed.images"):
        return PostType.PHOTO
    if kind.startswith("app.bsky.embed.video"):
        return PostType.VIDEO
    if kind.startswith("app.bsky.embed.external"):
        return PostType.LINK
    for facet in (post.get("record") or {}).get("facets") or []:
        for feature in facet.get("features") or []:
            if str(feature.get("$type") or "").endswith("#link"):
                return PostType.LINK
    return PostType.TEXT


def post_values(post: dict[str, Any]) -> tuple[dict[PostMetric, int], dict[PostMetric, Unavailable]]:
    """A post view's public counts as Beffroi's measures; reach and views are not on Bluesky."""
    values = {
        PostMetric.LIKES: int(post.get("likeCount") or 0),
        PostMetric.COMMENTS: int(post.get("replyCount") or 0),
        # A quote spreads the post to the quoter's followers, as a repost does.
        PostMetric.SHARES: int(post.get("repostCount") or 0) + int(post.get("quoteCount") or 0),
    }
    unavailable = {
        PostMetric.REACH: Unavailable(Reason.NOT_ON_NETWORK, NO_REACH),
        PostMetric.VIEWS: Unavailable(Reason.NOT_ON_NETWORK, NO_VIEWS),
    }
    if "bookmarkCount" in post:  # AppViews since late 2025 count saves (bookmarks)
        values[PostMetric.SAVES] = int(post.get("bookmarkCount") or 0)
    else:
        unavailable[PostMetric.SAVES] = Unavailable(Reason.NOT_ON_NETWORK, "This Bluesky server does not count saves.")
    values[PostMetric.INTERACTIONS] = sum(values.values())
    return values, unavailable


def published_at(post: dict[str, Any]) -> datetime | None:
    """The post's own time (its record's createdAt), unless later than when the AppView indexed it."""
    created = parse_time((post.get("record") or {}).get("createdAt"))
    indexed = parse_time(post.get("indexedAt"))
    if created is None or (indexed is not None and created > indexed + CLOCK_SKEW):
        return indexed
    return created


def _handle_of(post: dict[str, Any], fallback: str) -> str:
    return str((post.get("author") or {}).get("handle") or fallback)


def post_stats(post: dict[str, Any], handle: str) -> PostStats | None:
    moment = published_at(post)
    if moment is None:
        return None
    values, unavailable = post_values(post)
    uri = str(post["uri"])
    return PostStats(
        remote_id=uri,
        published_at=moment,
        post_type=post_type(post),
        url=post_url(_handle_of(post, handle), uri),
        text=str((post.get("record") or {}).get("text") or ""),
        values=values,
        unavailable=unavailable,
    )


def engagement(notification: dict[str, Any]) -> Engagement | None:
    """One notification as a dated engagement with the channel's post (None for other reasons)."""
    kind = ENGAGEMENT_KINDS.get(str(notification.get("reason") or ""))
    if kind is None or not notification.get("uri"):
        return None
    record = notification.get("record") or {}
    indexed = parse_time(notification.get("indexedAt"))
    created = parse_time(record.get("createdAt"))
    moment = created if created is not None and (indexed is None or created <= indexed + CLOCK_SKEW) else indexed
    if moment is None:
        return None
    subject = notification.get("reasonSubject") or ""
    if not subject:  # older AppViews: the liked or reposted post, the replied-to or quoted post
        subject = (
            (record.get("subject") or {}).get("uri")
            or ((record.get("reply") or {}).get("parent") or {}).get("uri")
            or ((record.get("embed") or {}).get("record") or {}).get("uri")
            or ""
        )
    return Engagement(remote_id=str(notification["uri"]), kind=kind, occurred_at=moment, post_remote_id=str(subject))


# --------------------------------------------------------------------------------------------------------------
# XRPC with the channel's session (synchronous: the sync runs in a worker thread)
# --------------------------------------------------------------------------------------------------------------


def _rate_limited(response: httpx.Response, what: str) -> RateLimited:
    # Bluesky sends `ratelimit-reset` in epoch seconds (parse_retry_after reads it after Retry-After).
    return RateLimited(parse_retry_after(response) or 60.0, f"Bluesky asked us to slow down ({what}).")


def _failed(response: httpx.Response, what: str, *, needs_reconnection: bool = False) -> SyncFailed:
    name, message = _error_of(response)
    detail = f"Bluesky answered {response.status_code} to {what}: {redact(message)[:300]}"
    return SyncFailed(detail, needs_reconnection=needs_reconnection)


class ChannelClient:
    """XRPC calls with one channel's session: renewed when its access token expired or was refused."""

    def __init__(self, access: ChannelAccess, http: httpx.Client) -> None:
        self.access = access
        self.http = http
        self.session = Session.from_access(access)
        self.nonces = oauth.NonceStore()
        self.calls = 0
        self.renewed = False

    def renewed_credentials(self) -> dict[str, Any] | None:
        return self.session.credentials(self.access) if self.renewed else None

    def _send(
        self, method: str, nsid: str, *, token: str | None, params: Any = None, body: Any = None, url: str = ""
    ) -> httpx.Response:
        url = url or f"{self.session.service}/xrpc/{nsid}"
        self.calls += 1
        try:
            if token and self.session.oauth and self.session.dpop_jwk:
                extra: dict[str, Any] = {"json": body} if body is not None else {}
                return oauth.dpop_request(
                    self.http,
                    method,
                    url,
                    self.session.dpop_jwk,
                    self.nonces,
                    access_token=token,
                    params=params,
                    **extra,
                )
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            if method == "GET":
                return self.http.get(url, params=params, headers=headers)
            return self.http.post(url, json=body, headers=headers)
        except httpx.TransportError as error:
            raise SyncFailed(f"Bluesky could not be reached ({nsid}: {type(error).__name__}).") from error

    def get(self, nsid: str, params: dict[str, Any]) -> dict[str, Any]:
        """A read with the access token; the session is renewed (once) when the token is expired or refused."""
        expiry = self.session.expiry()
        if not self.session.access_jwt or (expiry is not None and expiry <= datetime.now(UTC) + RENEW_AHEAD):
            self._renew()
        response = self._send("GET", nsid, token=self.session.access_jwt, params=params)
        if _token_refused(response):
            self._renew()
            response = self._send("GET", nsid, token=self.session.access_jwt, params=params)
            if _token_refused(response):
                raise _failed(response, nsid, needs_reconnection=True)
        return self._json(response, nsid)

    def _json(self, response: httpx.Response, nsid: str) -> dict[str, Any]:
        if response.status_code == 429:
            raise _rate_limited(response, nsid)
        if response.status_code in (401, 403) or _error_of(response)[0] in TOKEN_ERRORS:
            raise _failed(response, nsid, needs_reconnection=True)
        if response.status_code != 200:
            raise _failed(response, nsid)
        try:
            body = response.json()
        except ValueError as error:
            raise SyncFailed(f"Bluesky's answer to {nsid} is not JSON.") from error
        if not isinstance(body, dict):
            raise SyncFailed(f"Bluesky's answer to {nsid} is not an object.")
        return body

    # Sessions ----------------------------------------------------------------------------------------------

    def _renew(self) -> None:
        if self.session.oauth:
            self._renew_oauth()
            return
        session = self.session
        if session.refresh_jwt:
            nsid = "com.atproto.server.refreshSession"
            response = self._send("POST", nsid, token=session.refresh_jwt)
            if response.status_code == 200:
                self._keep(response.json())
                return
            if response.status_code == 429:
                raise _rate_limited(response, nsid)
            if response.status_code >= 500:
                raise _failed(response, nsid)
        # The refresh token is dead too (expired, revoked): a new session from the app password.
        identifier = self.access.credentials.get("identifier") or session.handle or session.did
        password = self.access.credentials.get("app_password")
        if not (identifier and password):
            raise SyncFailed(
                "Bluesky ended the channel's session and no app password is stored: reconnect the channel.",
                needs_reconnection=True,
            )
        nsid = "com.atproto.server.createSession"
        response = self._send("POST", nsid, token=None, body={"identifier": identifier, "password": password})
        if response.status_code == 200:
            self._keep(response.json())
            return
        if response.status_code == 429:
            raise _rate_limited(response, nsid)
        raise _failed(response, nsid, needs_reconnection=response.status_code in (400, 401, 403))

    def _keep(self, body: dict[str, Any]) -> None:
        session = self.session
        self.session = Session(
            service=session.service,
            did=str(body.get("did") or session.did),
            handle=str(body.get("handle") or session.handle),
            access_jwt=str(body["accessJwt"]),
            refresh_jwt=str(body.get("refreshJwt") or session.refresh_jwt),
        )
        self.renewed = True

    def _renew_oauth(self) -> None:
        session = self.session
        what = "the OAuth refresh"
        if not (session.refresh_jwt and session.dpop_jwk and session.token_endpoint and session.client_id):
            raise SyncFailed(
                "The channel's Bluesky OAuth session is incomplete: reconnect it.", needs_reconnection=True
            )
        self.calls += 1
        try:
            response = oauth.dpop_request(
                self.http,
                "POST",
                session.token_endpoint,
                session.dpop_jwk,
                self.nonces,
                data=oauth.refresh_form(refresh_token=session.refresh_jwt, client_id=session.client_id),
            )
        except httpx.TransportError as error:
            raise SyncFailed(f"Bluesky could not be reached ({what}: {type(error).__name__}).") from error
        if response.status_code == 429:
            raise _rate_limited(response, what)
        if response.status_code >= 500:
            raise _failed(response, what)
        try:
            tokens = oauth.parse_tokens(response)
        except oauth.OAuthError as error:
            # invalid_grant (revoked, expired, already used), invalid_client…: only a person can fix it.
            raise _failed(response, what, needs_reconnection=True) from error
        if tokens.sub and tokens.sub != session.did:
            raise SyncFailed("Bluesky renewed the session for another account: reconnect.", needs_reconnection=True)
        self.session = replace(
            session,
            access_jwt=tokens.access_token,
            refresh_jwt=tokens.refresh_token or session.refresh_jwt,
            expires_at=tokens.expires_at,
            scope=tokens.scope or session.scope,
        )
        self.renewed = True


def _pages(fetch: Any, nsid: str, params: dict[str, Any], key: str, max_pages: int) -> Iterator[list[dict[str, Any]]]:
    """Pages of a cursor-paginated listing, newest first; the caller stops when it has read far enough back."""
    cursor = None
    for _page in range(max_pages):
        body = fetch(nsid, {**params, **({"cursor": cursor} if cursor else {})})
        items = [item for item in body.get(key) or [] if isinstance(item, dict)]
        yield items
        cursor = body.get("cursor")
        if not cursor or not items:
            return


# --------------------------------------------------------------------------------------------------------------
# The readers
# --------------------------------------------------------------------------------------------------------------


class BlueskyInsights:
    network: ClassVar[str] = NETWORK
    account_metrics: ClassVar[dict[Metric, Sequence[MetricName]]] = {
        Metric.FOLLOWERS: (MetricName("followersCount", note="app.bsky.actor.getProfile, read now"),)
    }
    reporting_zone: ClassVar[str] = ""  # UTC
    history_days: ClassVar[int | None] = None  # no daily history: levels read now

    def missing_reason(self, metric: Metric) -> Unavailable:
        return Unavailable(Reason.NOT_ON_NETWORK, MISSING.get(metric, f"Bluesky gives no {metric}."))

    def read(self, access: ChannelAccess, http: httpx.Client, plan: SyncPlan, progress: Progress) -> SyncBatch:
        client = ChannelClient(access, http)
        try:
            batch = self._read(client, plan, progress)
        except (RateLimited, SyncFailed) as error:
            error.renewed_credentials = client.renewed_credentials()
            raise
        except (httpx.HTTPError, KeyError, TypeError, ValueError) as error:
            failure = SyncFailed(f"Bluesky's answer could not be read ({type(error).__name__}: {error}).")
            failure.renewed_credentials = client.renewed_credentials()
            raise failure from error
        batch.calls = client.calls
        batch.renewed_credentials = client.renewed_credentials()
        return batch

    def _read(self, client: ChannelClient, plan: SyncPlan, progress: Progress) -> SyncBatch:
        steps = 3
        batch = SyncBatch()
        progress("profile", 0, steps)
        did = client.session.did or str(client.access.config.get("did") or "")
        if not did:
            raise SyncFailed("The channel has no Bluesky account id (DID): reconnect it.", needs_reconnection=True)
        profile = client.get("app.bsky.actor.getProfile", {"actor": did})
        handle = str(profile.get("handle") or client.session.handle)
        if profile.get("followersCount") is not None:
            batch.followers_now = int(profile["followersCount"])
            batch.metric_status[Metric.FOLLOWERS] = "followersCount"
        if plan.audience:
            for dimension in Dimension:
                batch.audience[dimension] = Unavailable(Reason.NOT_ON_NETWORK, NO_AUDIENCE)
        batch.online = Unavailable(Reason.NOT_ON_NETWORK, NO_AUDIENCE)

        progress("posts", 1, steps)
        posts: dict[str, PostStats] = {}
        if plan.posts_since is not None:
            params = {"actor": did, "filter": "posts_and_author_threads", "limit": PAGE_SIZE}
            for items in _pages(client.get, "app.bsky.feed.getAuthorFeed", params, "feed", MAX_FEED_PAGES):
                reached_older = False
                for item in items:
                    post = item.get("post") or {}
                    if item.get("reason") or (post.get("author") or {}).get("did") != did:
                        continue  # a repost (of someone else's post, or a re-share of our own) is not a post
                    stats = post_stats(post, handle)
                    if stats is None:
                        continue
                    if stats.published_at < plan.posts_since:
                        reached_older = True
                        continue
                    posts[stats.remote_id] = stats
                if reached_older:
                    break
        wanted = [uri for uri in plan.post_ids if uri not in posts]
        for start in range(0, len(wanted), GET_POSTS_BATCH):
            asked = wanted[start : start + GET_POSTS_BATCH]
            body = client.get("app.bsky.feed.getPosts", {"uris": asked})
            answered = set()
            for post in body.get("posts") or []:
                stats = post_stats(post, handle) if isinstance(post, dict) else None
                if stats is not None:
                    posts[stats.remote_id] = stats
                if isinstance(post, dict):
                    answered.add(str(post.get("uri") or ""))
            # getPosts leaves out the posts it does not have (deleted, or taken down).
            batch.gone_post_ids.extend(uri for uri in asked if uri not in answered)
        batch.posts = sorted(posts.values(), key=lambda stats: stats.published_at)

        progress("engagements", 2, steps)
        if plan.engagements_since is not None:
            seen: set[str] = set()
            params = {"limit": PAGE_SIZE, "reasons": sorted(ENGAGEMENT_KINDS)}
            for items in _pages(
                client.get, "app.bsky.notification.listNotifications", params, "notifications", MAX_NOTIFICATION_PAGES
            ):
                reached_older = False
                for notification in items:
                    indexed = parse_time(notification.get("indexedAt"))
                    if indexed is not None and indexed < plan.engagements_since:
                        reached_older = True
                        continue
                    found = engagement(notification)
                    if found is not None and found.remote_id not in seen:
                        seen.add(found.remote_id)
                        batch.engagements.append(found)
                if reached_older:
                    break
        progress("done", steps, steps)
        return batch


class BlueskyPublicReader:
    """A public Bluesky account read from a public AppView, without logging in (watched pages)."""

    network: ClassVar[str] = NETWORK

    def read_public(self, http: httpx.Client, handle: str, *, config: dict[str, Any], limit: int) -> WatchedProfile:
        server = str(config.get("server") or config.get("service") or PUBLIC_API).rstrip("/")
        actor = handle.strip().lstrip("@")

        def get(nsid: str, params: dict[str, Any]) -> dict[str, Any]:
            try:
                response = http.get(f"{server}/xrpc/{nsid}", params=params)
            except httpx.TransportError as error:
                raise SyncFailed(f"Bluesky could not be reached ({nsid}: {type(error).__name__}).") from error
            if response.status_code == 429:
                raise _rate_limited(response, nsid)
            if response.status_code == 400 and _error_of(response)[0] in ("InvalidRequest", "ActorNotFound"):
                raise SyncFailed(f"Bluesky does not know the account {actor}.")
            if response.status_code != 200:
                raise _failed(response, nsid)
            try:
                body = response.json()
            except ValueError as error:
                raise SyncFailed(f"Bluesky's answer to {nsid} is not JSON.") from error
            if not isinstance(body, dict):
                raise SyncFailed(f"Bluesky's answer to {nsid} is not an object.")
            return body

        profile = get("app.bsky.actor.getProfile", {"actor": actor})
        did = str(profile.get("did") or "")
        shown_handle = str(profile.get("handle") or actor)
        followers = profile.get("followersCount")
        watched = WatchedProfile(
            remote_id=did,
            handle=shown_handle,
            display_name=str(profile.get("displayName") or shown_handle),
            url=f"https://bsky.app/profile/{shown_handle}",
            followers=int(followers) if followers is not None else None,
        )
        # Full pages: reposts of other accounts' posts are in the feed too and are left out here.
        params = {"actor": did or actor, "filter": "posts_no_replies", "limit": PAGE_SIZE}
        pages = -(-max(limit, 1) // PAGE_SIZE) + 2
        for items in _pages(get, "app.bsky.feed.getAuthorFeed", params, "feed", pages):
            for item in items:
                post = item.get("post") or {}
                if item.get("reason") or (post.get("author") or {}).get("did") != did:
                    continue  # reposts of other accounts' posts
                moment = published_at(post)
                if moment is None or not post.get("uri"):
                    continue
                values, _unavailable = post_values(post)
                watched.posts.append(
                    WatchedPost(
                        remote_id=str(post["uri"]),
                        url=post_url(shown_handle, str(post["uri"])),
                        text=str((post.get("record") or {}).get("text") or ""),
                        published_at=moment,
                        post_type=post_type(post),
                        values=values,
                    )
                )
                if len(watched.posts) >= limit:
                    return watched
        return watched


READER = BlueskyInsights()
PUBLIC_READER = BlueskyPublicReader()
