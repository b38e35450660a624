"""Reading Meta's statistics (Facebook Pages and Instagram): what both readers share.

- `InsightsGraph`: Graph calls that stop the whole run where the run must stop (rate limit → `RateLimited`,
  revoked token → `SyncFailed(needs_reconnection=True)`, Meta down → `SyncFailed`) and hand every other refusal
  back with Meta's own error, so one metric's refusal never breaks the others.
- `NameChooser`: tries the names of one measure in order (`MetricName`, configuration per API version); a name
  Meta answers "(#100) The value must be a valid insights metric" for is remembered for the run and the next
  name is tried. Each name is asked in its own request: Meta rejects a whole request for one invalid metric.
- Meta's days: a daily value's `end_time` is the end of that day in Pacific time (midnight, 07:00 or 08:00 UTC);
  `day_of_end_time` turns it back into the day it counts.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from beffroi.insights.base import (
    MetricName,
    PostStats,
    Progress,
    RateLimited,
    SyncBatch,
    SyncFailed,
    SyncPlan,
    Unavailable,
)
from beffroi.insights.metrics import Dimension, Metric, Reason
from beffroi.networks.base import ChannelAccess, PublishError
from beffroi.networks.graph.client import GraphError, SyncGraph, _body, classify, host_for, parse_time

PACIFIC = "America/Los_Angeles"  # Meta counts days and hours in Pacific time, DST included
PACIFIC_ZONE = zoneinfo.ZoneInfo(PACIFIC)
HISTORY_DAYS = 730  # Meta keeps two years of insights
FEW_FOLLOWERS = 100  # under this, Meta withholds demographics, follower counts and online followers

T = TypeVar("T")

# Meta's words for a metric name it does not (or no longer) know, in the forms Facebook and Instagram use.
INVALID_METRIC_WORDS = (
    "valid insights metric",
    "must be one of the following values",
    "no longer supported",
    "has been deprecated",
    "is deprecated",
)
TOO_FEW_FOLLOWERS_WORDS = ("100 followers", "fewer than 100", "not enough followers")
NOT_ENOUGH_VIEWERS_WORDS = ("not enough viewers", "not enough users")


class GraphCallError(Exception):
    """Meta refused one call in a way that concerns only what was asked (a metric, a post), not the run."""

    def __init__(self, error: GraphError, status: int) -> None:
        super().__init__(error.words)
        self.error = error
        self.status = status

    @property
    def not_found(self) -> bool:
        """The object is gone (a deleted post): Meta's (#100) with subcode 33, or (#803)."""
        return (self.error.code == 100 and self.error.subcode == 33) or self.error.code == 803


class InsightsGraph(SyncGraph):
    """Graph GETs for the statistics sync: counts its calls, stops the run on rate limits, revoked tokens and
    server errors, and raises `GraphCallError` (with Meta's whole error) for anything else."""

    def __init__(self, http: httpx.Client, **kwargs: Any) -> None:
        super().__init__(http, **kwargs)
        self.calls = 0

    def _handle(self, response: httpx.Response, publishes: bool) -> dict[str, Any]:
        self.calls += 1
        body = _body(response)
        if response.is_success and "error" not in body:
            return body
        classified = classify(response, publishes=False, label=self.label, request=self.trail)
        error = GraphError.from_response(response) or GraphError(message=response.reason_phrase or "")
        detail = f"{self.label}: {error.words}"
        if classified.code == "rate_limited":
            raise RateLimited(classified.retry_after or 60.0, detail)
        if error.code in (190, 102):
            # The token itself is refused: nothing can be read until a person reconnects the channel.
            raise SyncFailed(classified.message, needs_reconnection=True)
        if classified.code == "server_error" or response.status_code >= 500:
            raise SyncFailed(f"{self.label} answered with a temporary error ({error.words}); trying again later.")
        raise GraphCallError(error, response.status_code)

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            return self.call("GET", path, params=params)
        except PublishError as failure:  # a transport failure (the answers were handled in _handle)
            self.calls += 1
            raise SyncFailed(failure.message) from failure

    def pages(self, path: str, params: dict[str, Any], *, max_pages: int = 10) -> Iterator[dict[str, Any]]:
        """Every item of an edge, following Meta's `paging.next` (on the same host only: it carries a token)."""
        body = self.get(path, params)
        for _ in range(max_pages):
            yield from (item for item in body.get("data") or [] if isinstance(item, dict))
            following = str((body.get("paging") or {}).get("next") or "")
            if not following or urlsplit(following).netloc != urlsplit(self.host).netloc:
                return
            body = self.get(following)


def refused(error: GraphCallError, what: str, label: str) -> SyncFailed:
    """Meta refused something the whole run needs (the account, its list of posts): the run stops, with Meta's
    words, and is tried again later (a missing permission shows until the channel is reconnected)."""
    return SyncFailed(f"{label} refused to show {what}: {error.error.words}")


def refusal_of(error: GraphError) -> Unavailable | None:
    """Why a refused metric is unavailable, or None when Meta does not know the name (try the next one)."""
    words = error.words
    lower = (error.message + " " + error.user_message).lower()
    if any(part in lower for part in NOT_ENOUGH_VIEWERS_WORDS):
        return Unavailable(Reason.NOT_ENOUGH_VIEWERS, words)
    if any(part in lower for part in TOO_FEW_FOLLOWERS_WORDS):
        return Unavailable(Reason.TOO_FEW_FOLLOWERS, words)
    if error.code == 100 and any(part in lower for part in INVALID_METRIC_WORDS):
        return None
    if error.code == 10 or (error.code is not None and 200 <= error.code <= 299):
        return Unavailable(Reason.NO_PERMISSION, words)
    # Anything else (a bad period, a range Meta refuses): not collected this time, asked again next run.
    return Unavailable(Reason.NOT_COLLECTED, words)


class NameChooser:
    """Picks, per measure, the first name Meta accepts among those valid for the API version and the day."""

    def __init__(self, version: str, today: date) -> None:
        self.version = version
        self.today = today
        self.refused: dict[tuple[str, str], str] = {}  # (scope, name) → Meta's words, for this run

    def valid(self, names: Sequence[MetricName]) -> list[MetricName]:
        return [name for name in names if name.valid_for(self.version, self.today)]

    def read(
        self, names: Sequence[MetricName], fetch: Callable[[str], T], *, scope: str = ""
    ) -> tuple[str, T] | Unavailable:
        """(name used, what `fetch(name)` read), or why the measure is unavailable."""
        valid = self.valid(names)
        if not valid:
            known = ", ".join(f"{n.name} (removed {n.deprecated_on or n.until_version})" for n in names) or "none"
            return Unavailable(
                Reason.DEPRECATED, f"Meta offers no name for this measure on Graph API {self.version}: {known}."
            )
        tried: list[str] = []
        for name in valid:
            key = (scope, name.name)
            if key in self.refused:
                tried.append(f"{name.name}: {self.refused[key]}")
                continue
            try:
                return name.name, fetch(name.name)
            except GraphCallError as error:
                why = refusal_of(error.error)
                if why is not None:
                    return why
                self.refused[key] = error.error.words
                tried.append(f"{name.name}: {error.error.words}")
        return Unavailable(Reason.DEPRECATED, "Meta refused every name of this measure: " + "; ".join(tried))


# Meta's days --------------------------------------------------------------------------------------------------


def pacific_midnight(day: date) -> int:
    """The Unix time of 00:00 Pacific on `day` (Meta's day boundary), for since/until."""
    return int(datetime.combine(day, time(0), PACIFIC_ZONE).timestamp())


def day_of_end_time(value: Any) -> date | None:
    """The day a daily value counts, from its `end_time` (the end of that day in Pacific time).

    Rounded to the nearest Pacific midnight, so both forms Meta has used (local midnight, 07:00 or 08:00 UTC
    with DST; or 07:00 UTC all year) give the same day."""
    moment = parse_time(value)
    if moment is None:
        return None
    local = moment.astimezone(PACIFIC_ZONE) + timedelta(hours=12)
    return local.date() - timedelta(days=1)


def windows(first: date, last: date, size: int) -> list[tuple[date, date]]:
    """[first, last] cut into runs of at most `size` days."""
    found = []
    start = first
    while start <= last:
        end = min(start + timedelta(days=size - 1), last)
        found.append((start, end))
        start = end + timedelta(days=1)
    return found


def since_until(first: date, last: date) -> dict[str, str]:
    """since/until asking Meta for the days first..last (until is the end of the last day)."""
    return {"since": str(pacific_midnight(first)), "until": str(pacific_midnight(last + timedelta(days=1)))}


# Meta's answers -----------------------------------------------------------------------------------------------


def entry(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The `data` entry of one metric (by its name; the only entry when Meta renamed it in the answer)."""
    data = [item for item in body.get("data") or [] if isinstance(item, dict)]
    for item in data:
        if item.get("name") == name:
            return item
    return data[0] if len(data) == 1 and "name" not in data[0] else None


def _number(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def series(body: dict[str, Any], name: str) -> dict[date, int]:
    """A daily time series: {day: value}; days Meta gave no number for are left out (never zero)."""
    found: dict[date, int] = {}
    for value in (entry(body, name) or {}).get("values") or []:
        day = day_of_end_time(value.get("end_time")) if isinstance(value, dict) else None
        number = _number(value.get("value")) if isinstance(value, dict) else None
        if day is not None and number is not None:
            found[day] = number
    return found


def series_of_maps(body: dict[str, Any], name: str) -> dict[date, dict[str, Any]]:
    """A daily series whose values are maps (online followers by hour, followers by country)."""
    found: dict[date, dict[str, Any]] = {}
    for value in (entry(body, name) or {}).get("values") or []:
        if not isinstance(value, dict) or not isinstance(value.get("value"), dict):
            continue
        day = day_of_end_time(value.get("end_time"))
        if day is not None and value["value"]:
            found[day] = value["value"]
    return found


def lifetime_value(body: dict[str, Any], name: str) -> int | None:
    """A post's lifetime value (`values[0].value`) or a total (`total_value.value`)."""
    item = entry(body, name) or {}
    total = item.get("total_value")
    if isinstance(total, dict) and _number(total.get("value")) is not None:
        return _number(total.get("value"))
    values = item.get("values") or []
    return _number(values[-1].get("value")) if values and isinstance(values[-1], dict) else None


def breakdown(body: dict[str, Any], name: str) -> list[tuple[dict[str, str], int]]:
    """A total_value breakdown: [({dimension key: value}, number)]."""
    found = []
    total = (entry(body, name) or {}).get("total_value") or {}
    for part in total.get("breakdowns") or [] if isinstance(total, dict) else []:
        keys = [str(key) for key in part.get("dimension_keys") or []]
        for result in part.get("results") or []:
            number = _number(result.get("value"))
            values = [str(value) for value in result.get("dimension_values") or []]
            if number is not None and len(values) == len(keys):
                found.append((dict(zip(keys, values, strict=True)), number))
    return found


def is_empty(body: dict[str, Any], name: str) -> bool:
    """Meta's answer when it has (or shows) nothing: no entry, no values, no total — "instead of 0"."""
    item = entry(body, name)
    if item is None:
        return True
    total = item.get("total_value")
    if isinstance(total, dict) and (total.get("value") is not None or total.get("breakdowns")):
        return False
    return not any(isinstance(v, dict) and v.get("value") not in (None, {}) for v in item.get("values") or [])


def aware(value: Any) -> datetime | None:
    moment = parse_time(value)
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


@dataclass(frozen=True)
class Followers:
    """The account's follower count now, when Meta gave it: decides whether an empty answer means "too few"."""

    count: int | None

    @property
    def too_few(self) -> bool:
        return self.count is not None and self.count < FEW_FOLLOWERS

    def empty_answer(self, what: str) -> Unavailable:
        """Why Meta gave nothing: under 100 followers it withholds such data; otherwise nothing for now."""
        if self.too_few:
            return Unavailable(
                Reason.TOO_FEW_FOLLOWERS,
                f"Meta gave no {what}: it withholds it for accounts with fewer than {FEW_FOLLOWERS} followers "
                f"(this one has {self.count}).",
            )
        return Unavailable(Reason.NOT_COLLECTED, f"Meta gave no {what} this time.")


def whole(value: Any) -> int | None:
    """A count Meta gave as a field (`followers_count`, `like_count`): an int, or None when it gave none."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# One sync run --------------------------------------------------------------------------------------------------


class GraphRun:
    """One sync run of one Meta account (a Facebook Page or an Instagram account): the steps both networks take
    alike. Each network's run says how it reads the profile, its daily measures, audience and comment times."""

    label: str  # "Facebook", "Instagram": in messages
    owner_words: str  # "the Page", "the account": in messages
    posts_edge: str  # the account's list of posts: "posts" or "media"
    post_fields: str
    created_field: str  # the field holding a post's creation time
    page_size: str
    look_back: timedelta  # posts this young still get comments worth dating

    def __init__(self, graph: InsightsGraph, owner_id: str, plan: SyncPlan, progress: Progress) -> None:
        self.graph = graph
        self.owner_id = owner_id
        self.plan = plan
        self.progress = progress
        self.batch = SyncBatch()
        self.names = NameChooser(graph.version, plan.today)
        self.followers = Followers(None)

    def read(self) -> None:
        self.read_profile()
        if self.plan.days_from is not None and self.plan.days_until is not None:
            self.account_metrics(self.plan.days_from, self.plan.days_until)
        listed = self.list_posts()
        self.posts(listed)
        if self.plan.audience:
            self.audience()
        if self.plan.online_days:
            self.online(self.plan.online_days)
        if self.plan.engagements_since is not None:
            self.engagements(listed, self.plan.engagements_since)

    def read_profile(self) -> None:
        raise NotImplementedError

    def account_metrics(self, first: date, last: date) -> None:
        raise NotImplementedError

    def audience(self) -> None:
        raise NotImplementedError

    def online(self, days: Sequence[date]) -> None:
        raise NotImplementedError

    def engagements(self, listed: Sequence[dict[str, Any]], since: datetime) -> None:
        raise NotImplementedError

    def post_stats(self, item: dict[str, Any]) -> PostStats:
        raise NotImplementedError

    def keep_days(
        self, metric: Metric, read: tuple[str, dict[date, int]] | Unavailable, first: date, last: date
    ) -> None:
        """Stores one daily measure as read by `NameChooser`: its values, or why there are none."""
        if isinstance(read, Unavailable):
            self.batch.metric_status[metric] = read
            return
        name, days = read
        if not days and self.followers.too_few:
            self.batch.metric_status[metric] = self.followers.empty_answer(name)
            return
        self.batch.metric_status[metric] = name
        for day, value in days.items():
            if first <= day <= last:
                self.batch.days[metric, day] = value

    def keep_audience(
        self, dimension: Dimension, read: tuple[str, dict[str, int]] | Unavailable, what: str = ""
    ) -> None:
        if isinstance(read, Unavailable):
            self.batch.audience[dimension] = read
        elif not read[1]:
            self.batch.audience[dimension] = self.followers.empty_answer(what or read[0])
        else:
            self.batch.audience[dimension] = read[1]

    # Posts ------------------------------------------------------------------------------------------------

    def list_posts(self) -> list[dict[str, Any]]:
        """The account's posts since the earliest moment this run needs (new posts, and recent ones for comments)."""
        starts = [moment for moment in (self.plan.posts_since,) if moment is not None]
        if self.plan.engagements_since is not None:
            starts.append(self.plan.engagements_since - self.look_back)
        if not starts:
            return []
        since = min(starts)
        self.progress("posts", 0, 0)
        params = {"fields": self.post_fields, "since": str(int(since.timestamp())), "limit": self.page_size}
        listed = []
        try:
            for item in self.graph.pages(f"{self.owner_id}/{self.posts_edge}", params):
                created = aware(item.get(self.created_field))
                if created is None:
                    continue
                if created < since:
                    break  # newest first: the rest is older
                listed.append({**item, "_created": created})
        except GraphCallError as error:
            raise refused(error, f"{self.owner_words}'s posts", self.label) from error
        return listed + self.more_posts(since)

    def more_posts(self, since: datetime) -> list[dict[str, Any]]:
        """Posts the list above leaves out (Instagram's stories)."""
        return []

    def posts(self, listed: list[dict[str, Any]]) -> None:
        """Measures the new posts, and the older ones the plan asks about again (fetched one by one)."""
        wanted = [
            item
            for item in listed
            if (self.plan.posts_since is not None and item["_created"] >= self.plan.posts_since)
            or str(item.get("id")) in self.plan.post_ids
        ]
        seen = {str(item.get("id")) for item in wanted}
        for remote_id in self.plan.post_ids:
            if remote_id in seen:
                continue
            try:
                item = self.graph.get(remote_id, {"fields": self.post_fields})
            except GraphCallError as error:
                if error.not_found:
                    self.batch.gone_post_ids.append(remote_id)  # deleted on the network: kept, no longer asked
                continue  # refused for another reason: asked again next run, without holding up the rest
            created = aware(item.get(self.created_field))
            if created is not None:
                wanted.append({**item, "_created": created})
                seen.add(remote_id)
        for done, item in enumerate(wanted):
            self.progress("posts", done, len(wanted))
            self.batch.posts.append(self.post_stats(item))
        if wanted:
            self.progress("posts", len(wanted), len(wanted))


class GraphInsightsReader:
    """The reader of one Meta network: builds the Graph client from the channel and runs its `GraphRun`."""

    network: str
    label: str
    default_host: str
    id_key: str  # where the channel's config keeps the account's id
    account_kind: str  # "a Page", "an account": in messages
    no_id: str  # what to say when the channel does not name its account
    run: type[GraphRun]
    reporting_zone = PACIFIC
    history_days = HISTORY_DAYS

    def missing_reason(self, metric: Metric) -> Unavailable:
        return Unavailable(Reason.NOT_ON_NETWORK, f"{self.label} gives no {metric} for {self.account_kind}.")

    def read(self, access: ChannelAccess, http: httpx.Client, plan: SyncPlan, progress: Progress) -> SyncBatch:
        owner_id = str(access.config.get(self.id_key) or "")
        if not owner_id:
            # As the connector: said, not flagged (demo channels have no account; publishing is not held for it).
            raise SyncFailed(self.no_id)
        graph = InsightsGraph(
            http,
            host=host_for(access.config, self.default_host),
            token=str(access.credentials.get("access_token", "")),
            label=self.label,
        )
        run = self.run(graph, owner_id, plan, progress)
        run.read()
        run.batch.calls = graph.calls
        return run.batch
