"""The subset of Meta's Graph API that Beffroi's Facebook and Instagram connectors use, with Meta's shapes and
errors: Page feed, photos, videos, comments and delete; Instagram media containers (IN_PROGRESS for a configurable
time), media_publish, content_publishing_limit; the OAuth token exchanges and /me/accounts.

Both hosts (graph.facebook.com, graph.instagram.com) are served on the same paths (`/{version}/…`), so a channel
whose `api_host` is the simulator's address works whichever way it was connected.

Tokens (Bearer header or `access_token` parameter): `tok-alice` (long-lived) and `short-alice` act for the person
"alice", who manages one Page and the Instagram account linked to it (ids derived from the name, stable across
runs). `expired-…` answers Meta's 190/463, `revoked-…` (or a token in the `revoked_tokens` knob) 190/458.
Authorization codes are `code-alice`.

Knobs: latency, per-token rate limits (Meta's code 4 with an `X-Business-Use-Case-Usage` header), and
`error_rate`, `timeout_after_commit_rate`, `drop_after_commit_rate` on the calls that make something public
(`/feed`, published `/photos`, `/videos`, `media_publish`). Not on unpublished uploads or containers: invisible,
they are not where exactly-once is at stake. A media URL containing "unsupported" gives a container in ERROR.

Statistics, in Meta's shapes with deterministic numbers (module functions `daily_value`, `follows_level`,
`audience_counts`, `online_hours`, `post_value`, `followers_of` say what any answer holds): Page and Instagram
account insights (`/{id}/insights`, daily values ending at the next Pacific midnight, 93 / 30 days at most per
query), post and media insights, `/{page-id}/posts` with reaction/comment/share counts, `/{ig-user-id}/stories`,
`/{id}/comments` with their times, `followers_count` on the Page and account. Metric names Meta removed by late
2026 answer "(#100) The value must be a valid insights metric" (Instagram: "metric[0] must be one of …"); an
account whose name starts with "few" has fewer than 100 followers (Meta then gives an empty data set for Page
insights, follower counts, demographics and online followers); a media seeded with `few_viewers` answers
"(#10) Not enough viewers". `configure_insights()` sets the removed names and one 500 (code 2) on the Nth call or
on a given call; the `rate_limit` knob gives Meta's code 4 with `X-Business-Use-Case-Usage`. `seed_post()` puts
posts of every type on a Page or account.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl, urlencode

from beffroi.simulator.server import Handler, Network, PostRecord, Request, Response, json_response

VERSION_RE = re.compile(r"^v\d+\.\d+$")
MESSAGE_LIMIT = 63206
CAPTION_LIMIT = 2200
MAX_CAROUSEL = 10
SCHEDULE_MIN_S, SCHEDULE_MAX_S = 10 * 60, 30 * 86400
LONG_LIVED_S = 5183944  # what Meta answers for a 60-day token
UNSUPPORTED = (
    "Unsupported {method} request. Object with ID '{id}' does not exist, cannot be loaded due to missing "
    "permissions, or does not support this operation. Please read the Graph API documentation at "
    "https://developers.facebook.com/docs/graph-api"
)
FALSE_VALUES = {"false", "0", ""}


def _number(name: str, prefix: str, digits: int) -> str:
    value = int.from_bytes(hashlib.blake2b(f"{prefix}:{name}".encode(), digest_size=8).digest(), "big")
    return prefix + str(value % 10**digits).zfill(digits)


def page_id_for(name: str) -> str:
    return _number(name, "1", 14)


def ig_user_id_for(name: str) -> str:
    return _number(name, "178414", 11)


def user_id_for(name: str) -> str:
    return _number(name, "10", 14)


def name_for(token: str) -> str:
    for prefix in ("tok-", "short-", "expired-", "revoked-"):
        if token.startswith(prefix):
            return token[len(prefix) :] or "_"
    return re.sub(r"[^\w-]", "_", token) or "_"


def graph_time(moment: float) -> str:
    """Graph's time format: 2026-11-22T10:00:00+0000."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(moment))


def requested_fields(value: str | None, default: tuple[str, ...]) -> list[str]:
    """Top-level names of a `fields` parameter: "id,instagram_business_account{id,username}" → id, instagram_…"""
    if not value:
        return list(default)
    names, depth, current = [], 0, ""
    for char in value:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "," and depth == 0:
            names.append(current.strip())
            current = ""
            continue
        if depth == 0 and char not in "{}":
            current += char
    names.append(current.strip())
    return [name for name in names if name]


def pick(data: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    return {name: data[name] for name in fields if name in data and data[name] is not None}


# Insights: deterministic numbers ------------------------------------------------------------------------------
#
# Every number is a function of the account name (or post id), the metric and the day, so a test computes what
# it expects with the same functions. Meta's days are Pacific days: a daily value's `end_time` is the next
# Pacific midnight, written in UTC ("2026-11-21T08:00:00+0000").

PACIFIC = zoneinfo.ZoneInfo("America/Los_Angeles")
FEW_PREFIX = "few"  # accounts whose name starts with this have fewer than 100 followers
INSIGHTS_HISTORY_DAYS = 730
# Names Meta no longer knows on Graph API v24 in late 2026 (networks.md §2, §3): asking answers (#100).
REMOVED_METRICS = frozenset(
    {
        "page_impressions",
        "page_impressions_unique",
        "page_impressions_paid",
        "page_impressions_organic_unique",
        "page_fans",
        "page_fans_country",
        "page_fans_city",
        "page_fans_locale",
        "page_fans_gender_age",
        "page_fan_adds",
        "page_fan_adds_unique",
        "page_fan_removes",
        "page_fan_removes_unique",
        "page_fans_online",
        "page_fans_online_per_day",
        "page_engaged_users",
        "page_follows_gender_age",
        "post_impressions",
        "post_impressions_unique",
        "post_impressions_paid",
        "post_impressions_organic",
        "post_engaged_users",
        "impressions",
        "plays",
        "profile_views",
        "website_clicks",
        "audience_city",
        "audience_country",
        "audience_gender_age",
        "audience_locale",
    }
)
PAGE_DAILY = {  # name: (low, high) of a day's value
    "page_media_view": (300, 3000),
    "page_total_media_view_unique": (100, 1200),
    "page_post_engagements": (5, 300),
    "page_daily_follows": (0, 20),
    "page_daily_follows_unique": (0, 15),
    "page_daily_unfollows_unique": (0, 6),
    "page_views_total": (10, 200),
    "page_total_actions": (0, 30),
    "page_video_views": (0, 500),
}
PAGE_LEVELS = {"page_follows"}
PAGE_MAPS = {"page_follows_country", "page_follows_city"}
USER_DAILY = {  # Instagram account metrics: (low, high) of a day's value
    "reach": (50, 900),
    "views": (200, 4000),
    "total_interactions": (3, 250),
    "accounts_engaged": (2, 120),
    "likes": (2, 200),
    "comments": (0, 30),
    "shares": (0, 20),
    "saves": (0, 25),
    "replies": (0, 10),
    "profile_links_taps": (0, 15),
    "follows": (0, 14),
    "unfollows": (0, 5),
}
USER_TOTAL_ONLY = frozenset(
    {
        "views",
        "total_interactions",
        "accounts_engaged",
        "likes",
        "comments",
        "shares",
        "saves",
        "replies",
        "profile_links_taps",
        "follows_and_unfollows",
        "follower_demographics",
        "engaged_audience_demographics",
    }
)
USER_METRICS = frozenset({"reach", "follower_count", "online_followers"} | USER_TOTAL_ONLY)
# Instagram holds these back for accounts under 100 followers ("an empty data set").
WITHHELD_UNDER_100 = frozenset({"follower_count", "online_followers", "follower_demographics", "follows_and_unfollows"})
POST_METRICS = {"post_media_view": (80, 4000), "post_total_media_view_unique": (40, 2000), "post_clicks": (0, 200)}
MEDIA_METRICS = frozenset({"views", "reach", "likes", "comments", "shares", "saved", "total_interactions", "follows"})
STORY_METRICS = frozenset({"views", "reach", "shares", "total_interactions", "replies", "navigation", "follows"})
AGES = ("13-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
GENDERS = ("F", "M", "U")
COUNTRIES = ("FR", "BE", "CH", "CA", "MA", "SN", "US")
CITIES = (
    "Paris, Île-de-France",
    "Lyon, Auvergne-Rhône-Alpes",
    "Lille, Hauts-de-France",
    "Valenciennes, Hauts-de-France",
    "Marseille, Provence-Alpes-Côte d'Azur",
    "Bruxelles, Bruxelles-Capitale",
)
INVALID_INSIGHTS_METRIC = "(#100) The value must be a valid insights metric"
NOT_ENOUGH_VIEWERS = "(#10) Not enough viewers for the media to show insights"


def number(*parts: Any, low: int = 0, high: int = 100) -> int:
    """A deterministic integer in [low, high] for these parts."""
    key = ":".join(str(part) for part in parts).encode()
    value = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")
    return low + value % (high - low + 1)


def pacific_today(moment: float | None = None) -> date:
    return datetime.fromtimestamp(time.time() if moment is None else moment, PACIFIC).date()


def pacific_midnight(day: date) -> float:
    return datetime.combine(day, dt_time(0), PACIFIC).timestamp()


def followers_of(name: str, network: str) -> int:
    """Followers of the person's Page (network "facebook") or Instagram account now."""
    if name.startswith(FEW_PREFIX):
        return 42 if network == "facebook" else 37
    return 1200 + number(name, network, "followers", high=3800)


def daily_value(name: str, metric: str, day: date) -> int:
    """One day's value of an account metric (Page or Instagram), by the network's metric name."""
    low, high = PAGE_DAILY.get(metric) or USER_DAILY.get(metric) or (0, 100)
    return number(name, metric, day.isoformat(), low=low, high=high)


def follows_level(name: str, day: date, today: date | None = None) -> int:
    """page_follows at the end of `day`: the Page's followers now, a few fewer each day back."""
    today = today or pacific_today()
    return max(0, followers_of(name, "facebook") - max(0, (today - day).days) // 3)


def audience_counts(name: str, network: str, by: str) -> dict[str, int]:
    """Followers by "age,gender" ("F.25-34"), "country" or "city" (Meta leaves empty groups out)."""
    if by == "age,gender":
        keys = [f"{gender}.{age}" for age in AGES for gender in GENDERS]
    else:
        keys = list(COUNTRIES if by == "country" else CITIES)
    return {key: number(name, network, by, key, low=1, high=400) for key in keys}


def online_hours(name: str, day: date) -> list[int]:
    """Followers online in each Pacific hour of `day` (more in the evening, as everywhere)."""
    return [
        number(name, "online", day.isoformat(), hour, low=10, high=60) + (40 if 9 <= hour <= 13 else 0)
        for hour in range(24)
    ]


MEDIA_RANGES = {
    "views": (60, 3000),
    "reach": (30, 1500),
    "likes": (0, 200),
    "shares": (0, 40),
    "saved": (0, 40),
    "replies": (0, 10),
    "follows": (0, 8),
    "navigation": (0, 100),
    "reactions": (0, 150),  # a Facebook post's reactions
    "share_count": (0, 12),  # a Facebook post's shares (0: Meta leaves `shares` out)
}


def post_value(item_id: str, metric: str) -> int:
    """A post's (or Instagram media's) lifetime value of one metric."""
    low, high = POST_METRICS.get(metric) or MEDIA_RANGES.get(metric) or (0, 60)
    return number(item_id, metric, low=low, high=high)


def _moment(value: Any) -> float | None:
    """since/until: a Unix time, or a date (its Pacific midnight)."""
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        pass
    try:
        return pacific_midnight(date.fromisoformat(str(value)[:10]))
    except ValueError:
        return None


def base_field(name: str) -> str:
    """ "reactions.summary(true).limit(0)" → "reactions"."""
    return name.split(".", 1)[0].split("{", 1)[0]


@dataclass(slots=True)
class Person:
    name: str
    user_id: str
    page_id: str
    ig_user_id: str


@dataclass(slots=True)
class Item:
    """Anything with a Graph id: a Page post, photo, video, comment, Instagram container or media."""

    id: str
    kind: str  # post, photo, video, comment, container, media
    owner: str  # the person's name
    network: str  # facebook, instagram
    created_at: float
    text: str = ""
    published: bool = True
    scheduled_at: float | None = None
    deleted: bool = False
    url: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)
    ready_at: float = 0.0  # containers: IN_PROGRESS until then
    status_code: str = "FINISHED"
    status: str = ""
    post_id: str = ""  # a photo's or video's feed post
    record: PostRecord | None = None


class GraphNetwork(Network):
    name = "graph"
    # Seconds an Instagram container stays IN_PROGRESS (videos take longer, as on Instagram).
    image_processing_s: float = 0.0
    video_processing_s: float = 0.0
    publishing_quota: int = 100  # Instagram posts per account per 24 hours

    def __init__(self, simulator: Any) -> None:
        super().__init__(simulator)
        # Statistics knobs (see configure_insights); they stay across reset().
        self.removed_metrics: set[str] = set(REMOVED_METRICS)
        self.fail_call: int | None = None
        self.fail_when: str | None = None
        self.reset()

    def reset(self) -> None:
        self.items: dict[str, Item] = {}
        self.people: dict[str, Person] = {}
        self.windows: dict[str, list[int]] = {}
        self.last_id = 0
        self.traces = 0
        self.comments = 0
        self.containers = 0
        self.calls_seen = 0

    def stats(self) -> dict[str, Any]:
        return {"people": len(self.people), "containers": self.containers, "comments": self.comments}

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [(method, pattern, self._counting(handler)) for method, pattern, handler in self._routes()]

    def _routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("POST", "/oauth/access_token", self.instagram_code),
            ("GET", "/access_token", self.instagram_exchange),
            ("GET", "/refresh_access_token", self.instagram_refresh),
            ("GET", "/:version/oauth/access_token", self.facebook_token),
            ("GET", "/:version/:node/accounts", self.accounts),
            ("POST", "/:version/:node/feed", self.post_feed),
            ("GET", "/:version/:node/feed", self.read_feed),
            ("GET", "/:version/:node/scheduled_posts", self.read_scheduled),
            ("POST", "/:version/:node/photos", self.post_photo),
            ("POST", "/:version/:node/videos", self.post_video),
            ("POST", "/:version/:node/comments", self.post_comment),
            ("POST", "/:version/:node/media", self.create_container),
            ("GET", "/:version/:node/media", self.read_media),
            ("POST", "/:version/:node/media_publish", self.media_publish),
            ("GET", "/:version/:node/content_publishing_limit", self.publishing_limit),
            ("GET", "/:version/:node/insights", self.read_insights),
            ("GET", "/:version/:node/posts", self.read_posts),
            ("GET", "/:version/:node/published_posts", self.read_posts),
            ("GET", "/:version/:node/comments", self.read_comments),
            ("GET", "/:version/:node/stories", self.read_stories),
            ("GET", "/:version/:node", self.read_node),
            ("DELETE", "/:version/:node", self.delete_node),
        ]

    # Plumbing --------------------------------------------------------------------------------------------------

    def _token(self, request: Request, params: dict[str, Any] | None = None) -> str | None:
        token = request.bearer_token()
        if token:
            return token
        if params is not None and params.get("access_token"):
            return str(params["access_token"])
        return request.query("access_token")

    def account_for(self, request: Request) -> str | None:
        token = self._token(request)
        return name_for(token) if token else None

    def _person(self, name: str) -> Person:
        person = self.people.get(name)
        if person is None:
            person = self.people[name] = Person(name, user_id_for(name), page_id_for(name), ig_user_id_for(name))
        return person

    def _next_id(self) -> str:
        self.last_id += 1
        return str(122100000000000000 + self.last_id)

    def error(
        self,
        status: int,
        message: str,
        code: int,
        subcode: int | None = None,
        *,
        kind: str = "OAuthException",
        headers: list[tuple[str, str]] | None = None,
        transient: bool = False,
        user_message: str = "",
    ) -> Response:
        self.traces += 1
        error: dict[str, Any] = {"message": message, "type": kind, "code": code}
        if subcode is not None:
            error["error_subcode"] = subcode
        if transient:
            error["is_transient"] = True
        if user_message:
            error["error_user_title"] = "Error"
            error["error_user_msg"] = user_message
        error["fbtrace_id"] = "A" + hashlib.sha1(str(self.traces).encode(), usedforsecurity=False).hexdigest()[:22]
        return json_response({"error": error}, status, headers or [])

    def _params(self, request: Request) -> tuple[dict[str, Any], dict[str, bytes]]:
        """Query and body parameters (form, multipart or JSON), and uploaded files."""
        params: dict[str, Any] = dict(request.query_pairs())
        files: dict[str, bytes] = {}
        if not request.body:
            return params, files
        content_type = request.headers.get("content-type", "")
        if "multipart/form-data" in content_type:
            head = f"Content-Type: {content_type}\r\n\r\n".encode()
            message = BytesParser(policy=HTTP).parsebytes(head + request.body)
            for part in message.iter_parts():  # type: ignore[attr-defined]
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True) or b""
                if part.get_filename():
                    files[str(name)] = payload
                else:
                    params[str(name)] = payload.decode("utf-8", "replace")
        elif "json" in content_type:
            try:
                data = request.json()
            except ValueError:
                data = None
            if isinstance(data, dict):
                params.update(data)
        else:
            params.update(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        return params, files

    def _rate_limit(self, request: Request, token: str) -> Response | None:
        knobs = request.knobs
        if knobs is None or knobs.rate_limit is None:
            return None
        now = time.time()
        window = int(now // knobs.rate_window_s)
        entry = self.windows.get(token)
        if entry is None or entry[0] != window:
            entry = self.windows[token] = [window, 0]
        entry[1] += 1
        if entry[1] <= knobs.rate_limit:
            return None
        self.simulator.inject("rate_limited")
        minutes = max(1, int(-(-((window + 1) * knobs.rate_window_s - now) // 60)))
        usage = {
            page_id_for(name_for(token)): [
                {
                    "type": "pages",
                    "call_count": 100,
                    "total_cputime": 12,
                    "total_time": 15,
                    "estimated_time_to_regain_access": minutes,
                }
            ]
        }
        return self.error(
            400,
            "(#4) Application request limit reached",
            4,
            transient=True,
            headers=[("X-Business-Use-Case-Usage", json.dumps(usage, separators=(",", ":")))],
        )

    def _auth(self, request: Request, params: dict[str, Any]) -> Person | Response:
        token = self._token(request, params)
        if not token:
            return self.error(
                400, "An active access token must be used to query information about the current user.", 2500
            )
        if token.startswith("expired-"):
            return self.error(
                400,
                "Error validating access token: Session has expired on Friday, 20-Nov-26 09:00:00 PST. The current "
                "time is Sunday, 22-Nov-26 10:00:00 PST.",
                190,
                463,
                headers=[("WWW-Authenticate", 'OAuth "Facebook Platform" "invalid_token" "Session has expired"')],
            )
        if token.startswith("revoked-") or token in self.simulator.knobs.revoked_tokens:
            return self.error(
                400, "Error validating access token: The user has not authorized application 1234567890.", 190, 458
            )
        limited = self._rate_limit(request, token)
        if limited is not None:
            return limited
        return self._person(request.account or name_for(token))

    def _guard(self, request: Request, owner: str | None = None) -> tuple[Person, dict, dict] | Response:
        """Version, token, rate limit, and (for an edge of a node) that the node is the person's Page or account."""
        version = request.path_params.get("version")
        if version is not None and not VERSION_RE.match(version):
            # Not a Graph path (another simulated network's, unknown to it): a plain 404.
            return self.error(404, f"Unknown path components: /{version}", 2500)
        params, files = self._params(request)
        person = self._auth(request, params)
        if isinstance(person, Response):
            return person
        node = request.path_params.get("node")
        if owner is not None and node not in ("me", getattr(person, owner)):
            return self.error(400, UNSUPPORTED.format(method=request.method.lower(), id=node), 100, 33)
        return person, params, files

    def _faults(self, request: Request) -> Response | None:
        """Before storing: an overloaded front answers Meta's transient error and nothing is stored."""
        knobs = request.knobs or self.simulator.knobs
        if self.simulator.chance(knobs.error_rate):
            self.simulator.inject("error")
            return self.error(
                503, "An unexpected error has occurred. Please retry your request later.", 2, transient=True
            )
        return None

    def _stored(self, request: Request, item: Item, person: Person, body: dict[str, Any], extra: dict) -> Response:
        """Records a post that is now public (or scheduled), then maybe loses the answer."""
        knobs = request.knobs or self.simulator.knobs
        roll = self.simulator.random.random()
        fault = None
        if roll < knobs.drop_after_commit_rate:
            fault = "drop"
        elif roll < knobs.drop_after_commit_rate + knobs.timeout_after_commit_rate:
            fault = "stall"
        item.record = self.simulator.record_post(
            PostRecord(
                id=item.post_id or item.id,
                network=item.network,
                account=person.name,
                account_id=person.page_id if item.network == "facebook" else person.ig_user_id,
                text=item.text,
                idempotency_key=None,
                received_at=request.received_at,
                created_at=item.created_at,
                url=item.url,
                fault=fault,
                extra=extra,
            )
        )
        if fault == "drop":
            self.simulator.inject("drop")
            return Response(drop=True)
        response = json_response(body)
        if fault == "stall":
            self.simulator.inject("stall")
            response.stall_s = knobs.stall_s
        return response

    @staticmethod
    def _flag(params: dict[str, Any], name: str, default: bool = True) -> bool:
        value = params.get(name)
        if value is None:
            return default
        return str(value).strip().lower() not in FALSE_VALUES

    def _schedule(self, params: dict[str, Any], now: float) -> tuple[bool, float | None] | Response:
        published = self._flag(params, "published")
        raw = params.get("scheduled_publish_time")
        if raw in (None, ""):
            return published, None
        try:
            at = float(raw)
        except (TypeError, ValueError):
            return self.error(400, "(#100) The specified scheduled publish time is invalid.", 100)
        if published:
            return self.error(400, "(#100) Cannot specify a scheduled publish time on a published post", 100)
        if not SCHEDULE_MIN_S <= at - now <= SCHEDULE_MAX_S:
            return self.error(400, "(#100) The specified scheduled publish time is invalid.", 100)
        return False, at

    # OAuth -----------------------------------------------------------------------------------------------------

    def facebook_token(self, request: Request) -> Response:
        params, _ = self._params(request)
        for required in ("client_id", "client_secret"):
            if not params.get(required):
                return self.error(400, f"Missing {required} parameter.", 101)
        if params.get("grant_type") == "fb_exchange_token":
            token = str(params.get("fb_exchange_token") or "")
            if not token.startswith(("short-", "tok-")):
                return self.error(400, "Invalid OAuth access token - Cannot parse access token", 190)
            return json_response(
                {"access_token": f"tok-{name_for(token)}", "token_type": "bearer", "expires_in": LONG_LIVED_S}
            )
        code = str(params.get("code") or "")
        if not params.get("redirect_uri"):
            return self.error(400, "Missing redirect_uri parameter.", 191)
        if not code.startswith("code-"):
            return self.error(400, "Invalid verification code format.", 100, 36008)
        return json_response({"access_token": f"short-{code[5:]}", "token_type": "bearer", "expires_in": 5183})

    def accounts(self, request: Request) -> Response:
        guarded = self._guard(request)
        if isinstance(guarded, Response):
            return guarded
        person, params, _ = guarded
        if request.path_params["node"] not in ("me", person.user_id):
            return self.error(400, UNSUPPORTED.format(method="get", id=request.path_params["node"]), 100, 33)
        fields = requested_fields(params.get("fields"), ("id", "name", "access_token", "category", "tasks"))
        page = {
            "id": person.page_id,
            "name": f"{person.name.title()} Page",
            "access_token": f"tok-{person.name}",
            "category": "Community",
            "tasks": ["ANALYZE", "ADVERTISE", "MESSAGING", "MODERATE", "CREATE_CONTENT", "MANAGE"],
            "instagram_business_account": {
                "id": person.ig_user_id,
                "username": person.name,
                "name": person.name.title(),
            },
        }
        return json_response({"data": [pick(page, fields)], "paging": {"cursors": {"before": "QVFI", "after": "QVFI"}}})

    def instagram_code(self, request: Request) -> Response:
        params, _ = self._params(request)
        for required in ("client_id", "client_secret", "grant_type", "redirect_uri", "code"):
            if not params.get(required):
                return self.error(400, f"Missing required parameter: {required}", 100, kind="IGApiException")
        code = str(params["code"])
        if not code.startswith("code-"):
            return self.error(
                400,
                "Error validating verification code. Please make sure your redirect_uri is identical.",
                100,
                kind="IGApiException",
            )
        name = code[5:]
        return json_response({"access_token": f"short-{name}", "user_id": int(ig_user_id_for(name))})

    def instagram_exchange(self, request: Request) -> Response:
        params, _ = self._params(request)
        token = str(params.get("access_token") or "")
        if params.get("grant_type") != "ig_exchange_token" or not params.get("client_secret"):
            return self.error(400, "Unsupported request - method type: get", 100, kind="IGApiException")
        if not token.startswith(("short-", "tok-")):
            return self.error(400, "Invalid OAuth access token - Cannot parse access token", 190)
        return json_response(
            {"access_token": f"tok-{name_for(token)}", "token_type": "bearer", "expires_in": LONG_LIVED_S}
        )

    def instagram_refresh(self, request: Request) -> Response:
        params, _ = self._params(request)
        token = str(params.get("access_token") or "")
        if params.get("grant_type") != "ig_refresh_token" or not token.startswith("tok-"):
            return self.error(400, "Invalid OAuth access token - Cannot parse access token", 190)
        return json_response({"access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED_S})

    # Facebook Pages --------------------------------------------------------------------------------------------

    def _page_post(self, person: Person, text: str, now: float, *, published: bool, scheduled_at: float | None):
        post_number = self._next_id()
        post_id = f"{person.page_id}_{post_number}"
        item = Item(
            id=post_id,
            kind="post",
            owner=person.name,
            network="facebook",
            created_at=now,
            text=text,
            published=published,
            scheduled_at=scheduled_at,
            url=f"https://www.facebook.com/{person.page_id}/posts/{post_number}",
            post_id=post_id,
        )
        self.items[post_id] = item
        return item

    def post_feed(self, request: Request) -> Response:
        guarded = self._guard(request, "page_id")
        if isinstance(guarded, Response):
            return guarded
        person, params, _ = guarded
        now = time.time()
        schedule = self._schedule(params, now)
        if isinstance(schedule, Response):
            return schedule
        published, scheduled_at = schedule
        message = str(params.get("message") or "")
        link = str(params.get("link") or "")
        attached = self._attached_media(params)
        if isinstance(attached, Response):
            return attached
        if not message and not link and not attached:
            return self.error(400, "(#100) Missing message or attachment", 100)
        if len(message) > MESSAGE_LIMIT:
            return self.error(400, "(#100) Param message must be at most 63206 characters long.", 100)
        photos = []
        for index, media_id in enumerate(attached):
            photo = self.items.get(media_id)
            if photo is None or photo.kind != "photo" or photo.owner != person.name or photo.published:
                return self.error(400, f"(#100) param attached_media[{index}] must be a valid unpublished photo", 100)
            if scheduled_at is not None and not self._flag(photo.params, "temporary", False):
                return self.error(
                    400, "(#100) Photos attached to a scheduled post must be uploaded with temporary=true", 100
                )
            photos.append(photo)
        faulted = self._faults(request)
        if faulted is not None:
            return faulted
        item = self._page_post(person, message, now, published=published, scheduled_at=scheduled_at)
        item.params = {"link": link}
        item.children = [photo.id for photo in photos]
        for photo in photos:
            photo.post_id = item.id
        kind = "album" if photos else "link" if link else "text"
        extra = {"kind": kind, "link": link or None, "media": [p.params.get("media") for p in photos]}
        if scheduled_at is not None:
            extra["scheduled_publish_time"] = int(scheduled_at)
        return self._stored(request, item, person, {"id": item.id}, extra)

    def _attached_media(self, params: dict[str, Any]) -> list[str] | Response:
        raw = params.get("attached_media")
        entries: list[Any] = []
        if raw not in (None, ""):
            try:
                entries = json.loads(raw) if isinstance(raw, str) else list(raw)
            except ValueError:
                return self.error(400, "(#100) param attached_media must be an array.", 100)
        else:
            indexed = sorted(
                (int(found.group(1)), value)
                for key, value in params.items()
                if (found := re.fullmatch(r"attached_media\[(\d+)\]", key))
            )
            for _, value in indexed:
                try:
                    entries.append(json.loads(value))
                except ValueError:
                    return self.error(400, "(#100) param attached_media must be an array.", 100)
        ids = []
        for entry in entries:
            if not isinstance(entry, dict) or not entry.get("media_fbid"):
                return self.error(400, "(#100) param attached_media must be an array of {media_fbid}.", 100)
            ids.append(str(entry["media_fbid"]))
        return ids

    @staticmethod
    def _source(params: dict[str, Any], files: dict[str, bytes], url_param: str) -> str | None:
        if files.get("source") is not None:
            return f"upload:{len(files['source'])} bytes"
        url = str(params.get(url_param) or "")
        return url or None

    def post_photo(self, request: Request) -> Response:
        guarded = self._guard(request, "page_id")
        if isinstance(guarded, Response):
            return guarded
        person, params, files = guarded
        now = time.time()
        media = self._source(params, files, "url")
        if media is None:
            return self.error(400, "(#324) Requires upload file", 324)
        if not media.startswith(("upload:", "http://", "https://")):
            return self.error(400, "(#100) url should represent a valid URL", 100)
        schedule = self._schedule(params, now)
        if isinstance(schedule, Response):
            return schedule
        published, scheduled_at = schedule
        caption = str(params.get("caption") or params.get("message") or "")
        stored_params = {"media": media, "alt_text_custom": params.get("alt_text_custom")}
        if not published and scheduled_at is None:
            # An unpublished upload, to attach to a post: nothing public, not a post.
            photo = Item(self._next_id(), "photo", person.name, "facebook", now, published=False, params=stored_params)
            photo.params["temporary"] = params.get("temporary")
            self.items[photo.id] = photo
            return json_response({"id": photo.id})
        faulted = self._faults(request)
        if faulted is not None:
            return faulted
        photo = Item(self._next_id(), "photo", person.name, "facebook", now, text=caption, params=stored_params)
        self.items[photo.id] = photo
        post = self._page_post(person, caption, now, published=published, scheduled_at=scheduled_at)
        post.children = [photo.id]
        photo.post_id = post.id
        extra = {"kind": "photo", "media": [media], "alt_text": params.get("alt_text_custom")}
        if scheduled_at is not None:
            extra["scheduled_publish_time"] = int(scheduled_at)
        return self._stored(request, post, person, {"id": photo.id, "post_id": post.id}, extra)

    def post_video(self, request: Request) -> Response:
        guarded = self._guard(request, "page_id")
        if isinstance(guarded, Response):
            return guarded
        person, params, files = guarded
        now = time.time()
        media = self._source(params, files, "file_url")
        if media is None:
            return self.error(400, "(#100) Must specify either file_url or source", 100)
        schedule = self._schedule(params, now)
        if isinstance(schedule, Response):
            return schedule
        published, scheduled_at = schedule
        faulted = self._faults(request)
        if faulted is not None:
            return faulted
        description = str(params.get("description") or "")
        video = Item(self._next_id(), "video", person.name, "facebook", now, text=description, params={"media": media})
        self.items[video.id] = video
        post = self._page_post(person, description, now, published=published, scheduled_at=scheduled_at)
        post.children = [video.id]
        video.post_id = post.id
        post.url = video.url = f"https://www.facebook.com/{person.page_id}/videos/{video.id}"
        extra = {"kind": "video", "media": [media], "video_id": video.id}
        if scheduled_at is not None:
            extra["scheduled_publish_time"] = int(scheduled_at)
        return self._stored(request, post, person, {"id": video.id}, extra)

    def post_comment(self, request: Request) -> Response:
        guarded = self._guard(request)
        if isinstance(guarded, Response):
            return guarded
        person, params, _ = guarded
        target = self.items.get(request.path_params["node"])
        if target is None or target.deleted or target.kind not in ("post", "photo", "video", "media"):
            return self.error(400, UNSUPPORTED.format(method="post", id=request.path_params["node"]), 100, 33)
        message = str(params.get("message") or "")
        if not message:
            return self.error(400, "(#100) Missing message or attachment", 100)
        self.comments += 1
        number = self._next_id()
        comment_id = f"{target.id}_{number}" if target.network == "facebook" else number
        self.items[comment_id] = Item(comment_id, "comment", person.name, target.network, time.time(), text=message)
        target.params.setdefault("comments", []).append(comment_id)
        return json_response({"id": comment_id})

    def _feed(self, request: Request, scheduled: bool) -> Response:
        guarded = self._guard(request, "page_id")
        if isinstance(guarded, Response):
            return guarded
        person, params, _ = guarded
        now = time.time()
        fields = requested_fields(params.get("fields"), ("id", "message", "created_time"))
        try:
            limit = max(1, min(100, int(params.get("limit") or 25)))
        except ValueError:
            limit = 25
        posts = []
        for item in reversed(self.items.values()):  # newest first (insertion order)
            if item.kind != "post" or item.owner != person.name or item.deleted:
                continue
            waiting = item.scheduled_at is not None and item.scheduled_at > now
            if scheduled != waiting or (not scheduled and not item.published and item.scheduled_at is None):
                continue
            data = {
                "id": item.id,
                "message": item.text or None,
                "created_time": graph_time(item.scheduled_at if item.scheduled_at and not waiting else item.created_at),
                "permalink_url": item.url,
                "scheduled_publish_time": int(item.scheduled_at) if item.scheduled_at else None,
                "is_published": not waiting,
            }
            posts.append(pick(data, fields))
            if len(posts) == limit:
                break
        return json_response({"data": posts, "paging": {"cursors": {"before": "QVFI", "after": "QVFI"}}})

    def read_feed(self, request: Request) -> Response:
        return self._feed(request, scheduled=False)

    def read_scheduled(self, request: Request) -> Response:
        return self._feed(request, scheduled=True)

    # Instagram -------------------------------------------------------------------------------------------------

    def create_container(self, request: Request) -> Response:
        guarded = self._guard(request, "ig_user_id")
        if isinstance(guarded, Response):
            return guarded
        person, params, _ = guarded
        now = time.time()
        media_type = str(params.get("media_type") or "IMAGE").upper()
        caption = str(params.get("caption") or "")
        if len(caption) > CAPTION_LIMIT:
            return self.error(400, "The caption is too long.", 100, 2207010, kind="IGApiException")
        children: list[str] = []
        url = ""
        if media_type == "CAROUSEL":
            children = [child for child in str(params.get("children") or "").split(",") if child]
            if not 2 <= len(children) <= MAX_CAROUSEL:
                return self.error(400, "(#100) The carousel must have between 2 and 10 children.", 100)
            for child_id in children:
                child = self.items.get(child_id)
                if child is None or child.kind != "container" or not child.params.get("is_carousel_item"):
                    return self.error(400, f"(#100) Param children[{child_id}] is not a valid carousel item", 100)
                if child.owner != person.name or self._status(child, now) != "FINISHED":
                    return self.error(400, "(#9007) Media is not ready for publishing", 9007, 2207027)
        elif media_type in ("REELS", "VIDEO", "STORIES") and params.get("video_url"):
            url = str(params["video_url"])
        elif media_type in ("IMAGE", "STORIES"):
            url = str(params.get("image_url") or "")
            if not url:
                return self.error(400, "(#100) The parameter image_url is required.", 100)
        else:
            return self.error(400, "(#100) The parameter video_url is required.", 100)
        if url and not url.startswith(("https://", "http://")):
            return self.error(
                400,
                "Media download has failed. The media URI doesn't meet our requirements.",
                9004,
                2207052,
                kind="IGApiException",
                user_message="The media could not be fetched from this URI: " + url,
            )
        is_video = "video_url" in params
        knobs = request.knobs or self.simulator.knobs
        # A shared `media_processing_s` knob (when the server has one) also slows video containers down.
        video_delay = max(self.video_processing_s, float(getattr(knobs, "media_processing_s", 0.0) or 0.0))
        delay = video_delay if is_video else self.image_processing_s
        container = Item(
            self._next_id(),
            "container",
            person.name,
            "instagram",
            now,
            text=caption,
            params={
                "media_type": media_type,
                "url": url,
                "is_carousel_item": self._flag(params, "is_carousel_item", False),
                "alt_text": params.get("alt_text"),
                "video": is_video,
            },
            children=children,
            ready_at=now + delay,
        )
        if "unsupported" in url:
            container.status_code = "ERROR"
            container.status = "Error: Media upload has failed with error code 2207026"
        self.items[container.id] = container
        self.containers += 1
        return json_response({"id": container.id})

    @staticmethod
    def _status(container: Item, now: float) -> str:
        if container.status_code != "FINISHED":
            return container.status_code  # ERROR, PUBLISHED
        return "IN_PROGRESS" if now < container.ready_at else "FINISHED"

    def media_publish(self, request: Request) -> Response:
        guarded = self._guard(request, "ig_user_id")
        if isinstance(guarded, Response):
            return guarded
        person, params, _ = guarded
        now = time.time()
        container = self.items.get(str(params.get("creation_id") or ""))
        if container is None or container.kind != "container" or container.owner != person.name:
            return self.error(400, "(#100) Param creation_id must be a valid media container id", 100, 2207008)
        status = self._status(container, now)
        if status == "PUBLISHED":
            return self.error(400, "(#9007) The media has already been published", 9007, 2207006)
        if status != "FINISHED":
            return self.error(
                400,
                "Media ID is not available",
                9007,
                2207027,
                kind="IGApiException",
                user_message="The media is not ready for publishing, please wait for a moment",
            )
        published_today = sum(
            1
            for item in self.items.values()
            if item.kind == "media" and item.owner == person.name and item.created_at > now - 86400
        )
        if published_today >= self.publishing_quota:
            return self.error(
                400,
                "Application request limit reached",
                9,
                2207042,
                kind="IGApiException",
                user_message="The maximum number of posts that were allowed to be published has been reached.",
            )
        faulted = self._faults(request)
        if faulted is not None:
            return faulted
        container.status_code = "PUBLISHED"
        media_id = str(int(self._next_id()) + 17800000000000000)
        kind = {"REELS": "reel", "STORIES": "story", "CAROUSEL": "carousel"}.get(
            container.params["media_type"], "image"
        )
        shortcode = hashlib.blake2b(media_id.encode(), digest_size=8).hexdigest()[:11]
        media = Item(
            media_id,
            "media",
            person.name,
            "instagram",
            now,
            text=container.text,
            url=f"https://www.instagram.com/{'stories/' + person.name + '/' if kind == 'story' else 'p/'}{shortcode}/",
            params={"kind": kind, "container": container.id},
            children=container.children,
        )
        self.items[media_id] = media
        children = [self.items[child] for child in container.children]
        extra = {
            "kind": kind,
            "container_id": container.id,
            "media": [child.params["url"] for child in children] or [container.params["url"]],
            "alt_text": [child.params.get("alt_text") for child in children] or [container.params.get("alt_text")],
        }
        return self._stored(request, media, person, {"id": media_id}, extra)

    def publishing_limit(self, request: Request) -> Response:
        guarded = self._guard(request, "ig_user_id")
        if isinstance(guarded, Response):
            return guarded
        person, params, _ = guarded
        now = time.time()
        used = sum(
            1
            for item in self.items.values()
            if item.kind == "media" and item.owner == person.name and item.created_at > now - 86400
        )
        data = {"quota_usage": used, "config": {"quota_total": self.publishing_quota, "quota_duration": 86400}}
        return json_response({"data": [pick(data, requested_fields(params.get("fields"), ("quota_usage",)))]})

    def read_media(self, request: Request) -> Response:
        guarded = self._guard(request, "ig_user_id")
        if isinstance(guarded, Response):
            return guarded
        person, params, _ = guarded
        fields = requested_fields(params.get("fields"), ("id",))
        since, until = _moment(params.get("since")), _moment(params.get("until"))
        found = []
        for item in sorted(self.items.values(), key=lambda media: media.created_at, reverse=True):
            if item.kind != "media" or item.owner != person.name or item.params.get("kind") == "story":
                continue  # stories are not in /media (they are in /stories)
            if (since is not None and item.created_at < since) or (until is not None and item.created_at > until):
                continue
            found.append(pick(self._media_json(item), fields))
        return self._paged(request, found, params)

    def _media_json(self, item: Item) -> dict[str, Any]:
        kind = item.params["kind"]
        media_type = {"carousel": "CAROUSEL_ALBUM", "reel": "VIDEO", "video": "VIDEO", "story": "IMAGE"}.get(
            kind, "IMAGE"
        )
        counts = self._media_counts(item)
        return {
            "id": item.id,
            "caption": item.text or None,
            "media_type": media_type,
            "media_product_type": {"reel": "REELS", "story": "STORY"}.get(kind, "FEED"),
            "permalink": item.url,
            "timestamp": graph_time(item.created_at),
            "like_count": counts.get("likes"),
            "comments_count": counts.get("comments"),
        }

    # Insights --------------------------------------------------------------------------------------------------

    def configure_insights(
        self,
        *,
        removed_metrics: set[str] | None = None,
        fail_call: int | None = None,
        fail_when: str | None = None,
    ) -> None:
        """Knobs of the statistics endpoints: the metric names answered "(#100) … valid insights metric" (default:
        those Meta removed by late 2026), and one failure (500, Meta's code 2) on the Nth call from now
        (`fail_call`) or on the first call whose path and query contain `fail_when` (e.g. "metric=page_follows")."""
        if removed_metrics is not None:
            self.removed_metrics = set(removed_metrics)
        self.fail_call = fail_call
        self.fail_when = fail_when
        self.calls_seen = 0

    def _counting(self, handler: Handler) -> Handler:
        def counted(request: Request) -> Response:
            self.calls_seen += 1
            by_count = self.fail_call is not None and self.calls_seen >= self.fail_call
            by_call = bool(self.fail_when) and self.fail_when in f"{request.path}?{request.query_string}"
            if by_count or by_call:
                self.fail_call = self.fail_when = None  # once: the next run gets through
                self.simulator.inject("error")
                return self.error(
                    500, "An unexpected error has occurred. Please retry your request later.", 2, transient=True
                )
            return handler(request)

        return counted

    def seed_post(
        self,
        name: str,
        network: str,
        kind: str,
        *,
        age_s: float = 3600.0,
        text: str = "",
        few_viewers: bool = False,
    ) -> str:
        """A post already on the Page or account (for statistics tests and benchmarks), `age_s` seconds old.
        Facebook kinds: text, photo, album, video, reel, link; Instagram: image, carousel, reel, video, story."""
        person = self._person(name)
        created = time.time() - age_s
        if network == "facebook":
            item = self._page_post(person, text, created, published=True, scheduled_at=None)
            item.params["post_kind"] = kind
            if kind == "reel":
                item.url = f"https://www.facebook.com/reel/{item.id.split('_')[-1]}"
            return item.id
        media_id = str(int(self._next_id()) + 17800000000000000)
        shortcode = hashlib.blake2b(media_id.encode(), digest_size=8).hexdigest()[:11]
        self.items[media_id] = Item(
            media_id,
            "media",
            person.name,
            "instagram",
            created,
            text=text,
            url=f"https://www.instagram.com/{'stories/' + name + '/' if kind == 'story' else 'p/'}{shortcode}/",
            params={"kind": kind, "few_viewers": few_viewers},
        )
        return media_id

    def _insight(self, node: str, name: str, period: str, **shape: Any) -> dict[str, Any]:
        return {
            "name": name,
            "period": period,
            **shape,
            "title": name.replace("_", " ").capitalize(),
            "description": "Simulated by Beffroi's Graph simulator.",
            "id": f"{node}/insights/{name}/{period}",
        }

    def _days(self, params: dict[str, Any], max_days: int) -> list[date] | Response:
        """The Pacific days whose end (the next midnight) falls in (since, until], completed and within the
        two years Meta keeps. Without since/until Meta answers the last two days."""
        now = time.time()
        until = _moment(params.get("until")) or now
        since = _moment(params.get("since"))
        if since is None:
            since = until - 2 * 86400
        if until - since > max_days * 86400 + 3600:  # an hour of slack for a DST change
            if max_days >= 90:
                return self.error(
                    400, "(#100) There cannot be more than 93 days (8035200 s) between since and until", 100
                )
            return self.error(
                400, f"(#100) The range between since and until cannot exceed {max_days} days (simulated)", 100
            )
        today = pacific_today(now)
        days = []
        day = pacific_today(since)
        while True:
            end = pacific_midnight(day + timedelta(days=1))
            if end > until or end > now:
                break
            if end > since and day >= today - timedelta(days=INSIGHTS_HISTORY_DAYS):
                days.append(day)
            day += timedelta(days=1)
        return days

    @staticmethod
    def _end_time(day: date) -> str:
        return graph_time(pacific_midnight(day + timedelta(days=1)))

    def read_insights(self, request: Request) -> Response:
        guarded = self._guard(request)
        if isinstance(guarded, Response):
            return guarded
        person, params, _ = guarded
        node = request.path_params["node"]
        metrics = [name for name in str(params.get("metric") or "").split(",") if name]
        if not metrics:
            return self.error(400, "(#100) The parameter metric is required", 100)
        if node == person.page_id:
            return self._page_insights(person, metrics, params)
        if node == person.ig_user_id:
            return self._user_insights(person, metrics, params)
        item = self.items.get(node)
        if item is None or item.deleted or item.owner != person.name or item.kind not in ("post", "media"):
            return self.error(400, UNSUPPORTED.format(method="get", id=node), 100, 33)
        if item.kind == "post":
            return self._post_insights(item, metrics)
        return self._media_insights(item, metrics)

    def _page_insights(self, person: Person, metrics: list[str], params: dict[str, Any]) -> Response:
        for name in metrics:
            if name in self.removed_metrics or name not in PAGE_DAILY.keys() | PAGE_LEVELS | PAGE_MAPS:
                return self.error(400, INVALID_INSIGHTS_METRIC, 100)
        days = self._days(params, 90)
        if isinstance(days, Response):
            return days
        if person.name.startswith(FEW_PREFIX):
            return json_response({"data": []})  # Page insights need 100 followers: "an empty data set"
        period = str(params.get("period") or "day")
        today = pacific_today()
        data = []
        for name in metrics:
            if name in PAGE_MAPS:
                by = "country" if name.endswith("country") else "city"
                counts = audience_counts(person.name, "facebook", by)
                values = [{"value": counts, "end_time": self._end_time(day)} for day in days]
            elif name in PAGE_LEVELS:
                values = [
                    {"value": follows_level(person.name, day, today), "end_time": self._end_time(day)} for day in days
                ]
            else:
                values = [
                    {"value": daily_value(person.name, name, day), "end_time": self._end_time(day)} for day in days
                ]
            data.append(self._insight(person.page_id, name, period, values=values))
        return json_response({"data": data})

    def _user_insights(self, person: Person, metrics: list[str], params: dict[str, Any]) -> Response:
        for name in metrics:
            if name in self.removed_metrics or name not in USER_METRICS:
                return self.error(
                    400, f"(#100) metric[0] must be one of the following values: {', '.join(sorted(USER_METRICS))}", 100
                )
        total_value = params.get("metric_type") == "total_value"
        needing = [name for name in metrics if name in USER_TOTAL_ONLY and not total_value]
        if needing:
            return self.error(
                400,
                f"(#100) The following metrics ({', '.join(needing)}) should be specified with parameter "
                "metric_type=total_value",
                100,
            )
        few = person.name.startswith(FEW_PREFIX)
        recent_from = pacific_today() - timedelta(days=30)
        data = []
        for name in metrics:
            if few and name in WITHHELD_UNDER_100:
                continue  # Meta: "not available on accounts with fewer than 100 followers" (an empty data set)
            if name == "follower_demographics" or name == "engaged_audience_demographics":
                by = str(params.get("breakdown") or "")
                if by not in ("age", "gender", "country", "city", "age,gender", "gender,age"):
                    return self.error(400, "(#100) The parameter breakdown is required for this metric", 100)
                data.append(self._demographics(person, name, by))
                continue
            days = self._days(params, 30)
            if isinstance(days, Response):
                return days
            if name in ("follower_count", "online_followers"):
                days = [day for day in days if day >= recent_from]
            if not days:
                continue
            if name == "online_followers":
                values = [
                    {
                        "value": {str(hour): count for hour, count in enumerate(online_hours(person.name, day))},
                        "end_time": self._end_time(day),
                    }
                    for day in days
                ]
                data.append(self._insight(person.ig_user_id, name, "lifetime", values=values))
            elif name == "follows_and_unfollows":
                parts = [
                    (kind, sum(daily_value(person.name, source, day) for day in days))
                    for kind, source in (("FOLLOWER", "follows"), ("NON_FOLLOWER", "unfollows"))
                ]
                results = [{"dimension_values": [kind], "value": value} for kind, value in parts if value]
                total = {"value": sum(value for _, value in parts)}
                if params.get("breakdown") == "follow_type":
                    total["breakdowns"] = [{"dimension_keys": ["follow_type"], "results": results}]
                data.append(self._insight(person.ig_user_id, name, "day", total_value=total))
            elif total_value:
                source = "follows" if name == "follower_count" else name
                total = sum(daily_value(person.name, source, day) for day in days)
                data.append(self._insight(person.ig_user_id, name, "day", total_value={"value": total}))
            else:
                source = "follows" if name == "follower_count" else name
                values = [
                    {"value": daily_value(person.name, source, day), "end_time": self._end_time(day)} for day in days
                ]
                data.append(self._insight(person.ig_user_id, name, "day", values=values))
        return json_response({"data": data})

    def _demographics(self, person: Person, name: str, by: str) -> dict[str, Any]:
        if by in ("age,gender", "gender,age"):
            keys = by.split(",")
            results = []
            for key, value in audience_counts(person.name, "instagram", "age,gender").items():
                gender, age = key.split(".")
                found = {"age": age, "gender": gender}
                results.append({"dimension_values": [found[k] for k in keys], "value": value})
        else:
            keys = [by]
            counts: dict[str, int] = {}
            if by in ("country", "city"):
                counts = audience_counts(person.name, "instagram", by)
            else:  # one of age or gender alone: added up from the pairs
                for key, value in audience_counts(person.name, "instagram", "age,gender").items():
                    gender, age = key.split(".")
                    part = age if by == "age" else gender
                    counts[part] = counts.get(part, 0) + value
            results = [{"dimension_values": [key], "value": value} for key, value in counts.items()]
        return self._insight(
            person.ig_user_id,
            name,
            "lifetime",
            total_value={"breakdowns": [{"dimension_keys": keys, "results": results}]},
        )

    def _post_insights(self, item: Item, metrics: list[str]) -> Response:
        for name in metrics:
            if name in self.removed_metrics or name not in POST_METRICS:
                return self.error(400, INVALID_INSIGHTS_METRIC, 100)
        data = [
            self._insight(item.id, name, "lifetime", values=[{"value": post_value(item.id, name)}]) for name in metrics
        ]
        return json_response({"data": data})

    def _media_insights(self, item: Item, metrics: list[str]) -> Response:
        story = item.params.get("kind") == "story"
        valid = STORY_METRICS if story else MEDIA_METRICS
        for name in metrics:
            if name in self.removed_metrics or name not in valid:
                return self.error(
                    400, f"(#100) metric[0] must be one of the following values: {', '.join(sorted(valid))}", 100
                )
        if item.params.get("few_viewers"):
            return self.error(400, NOT_ENOUGH_VIEWERS, 10)
        counts = self._media_counts(item)
        data = []
        for name in metrics:
            if name in counts:
                value = counts[name]
            elif name == "total_interactions" and story:
                value = post_value(item.id, "shares") + post_value(item.id, "replies")
            elif name == "total_interactions":
                value = (
                    counts["likes"] + counts["comments"] + post_value(item.id, "shares") + post_value(item.id, "saved")
                )
            else:
                value = post_value(item.id, name)
            data.append(self._insight(item.id, name, "lifetime", values=[{"value": value}]))
        return json_response({"data": data})

    def _media_counts(self, item: Item) -> dict[str, int]:
        if item.params.get("kind") == "story":
            return {}
        return {"likes": post_value(item.id, "likes"), "comments": len(self._comments_of(item))}

    def _comments_of(self, item: Item) -> list[tuple[str, float]]:
        """(id, created_at) of an item's comments: those written through the API, and a few made up from its id,
        a while after the post (only those already in the past)."""
        now = time.time()
        found = []
        for comment_id in item.params.get("comments", []):
            comment = self.items.get(comment_id)
            if comment is not None and not comment.deleted:
                found.append((comment.id, comment.created_at))
        for k in range(number(item.id, "comment_count", high=4)):
            at = item.created_at + (k + 1) * 1800 * number(item.id, "comment_gap", k, low=1, high=5)
            if at <= now:
                found.append((f"{item.id}_{k + 1:03d}9" if item.network == "facebook" else f"{item.id}{k + 1:02d}", at))
        found.sort(key=lambda pair: pair[1])
        return found

    def _paged(self, request: Request, rows: list[dict[str, Any]], params: dict[str, Any]) -> Response:
        """One page of an edge, with Meta's cursors and a `next` address while more remain."""
        try:
            limit = max(1, min(100, int(params.get("limit") or 25)))
        except ValueError:
            limit = 25
        try:
            offset = max(0, int(str(params.get("after") or "0")))
        except ValueError:
            offset = 0
        page = rows[offset : offset + limit]
        paging: dict[str, Any] = {"cursors": {"before": str(offset), "after": str(offset + len(page))}}
        if offset + limit < len(rows):
            query = [(k, v) for k, v in request.query_pairs() if k not in ("after", "access_token")]
            query.append(("after", str(offset + limit)))
            paging["next"] = f"{self.simulator.public_url}{request.path}?{urlencode(query)}"
        return json_response({"data": page, "paging": paging})

    def read_comments(self, request: Request) -> Response:
        guarded = self._guard(request)
        if isinstance(guarded, Response):
            return guarded
        person, params, _ = guarded
        node = request.path_params["node"]
        item = self.items.get(node)
        if item is None or item.deleted or item.owner != person.name or item.kind not in ("post", "media"):
            return self.error(400, UNSUPPORTED.format(method="get", id=node), 100, 33)
        fields = requested_fields(params.get("fields"), ("id", "message", "created_time"))
        since = _moment(params.get("since"))
        rows = []
        for comment_id, at in self._comments_of(item):
            if since is not None and at < since:
                continue
            text = self.items[comment_id].text if comment_id in self.items else "Merci !"
            data = {
                "id": comment_id,
                "created_time": graph_time(at),
                "timestamp": graph_time(at),
                "message": text,
                "text": text,
            }
            rows.append(pick(data, fields))
        if params.get("order") == "reverse_chronological" or item.network == "instagram":
            rows.reverse()  # Instagram lists the newest first
        return self._paged(request, rows, params)

    def _post_json(self, item: Item) -> dict[str, Any]:
        """A Page post with the fields the statistics read: type, attachments, reaction/comment/share counts."""
        kind = item.params.get("post_kind") or self._fb_kind(item)
        attachment = {
            "photo": {"media_type": "photo", "type": "photo"},
            "album": {"media_type": "album", "type": "album"},
            "video": {"media_type": "video", "type": "video_inline"},
            "reel": {"media_type": "video", "type": "video_inline"},
            "link": {"media_type": "link", "type": "share"},
        }.get(kind)
        shares = post_value(item.id, "share_count")
        return {
            "id": item.id,
            "message": item.text or None,
            "created_time": graph_time(item.created_at),
            "permalink_url": item.url,
            "status_type": {
                "photo": "added_photos",
                "album": "added_photos",
                "video": "added_video",
                "reel": "added_video",
                "link": "shared_story",
            }.get(kind, "mobile_status_update"),
            "attachments": {"data": [attachment]} if attachment else None,
            "reactions": {
                "data": [],
                "summary": {"total_count": post_value(item.id, "reactions"), "viewer_reaction": "NONE"},
            },
            "comments": {
                "data": [],
                "summary": {"order": "ranked", "total_count": len(self._comments_of(item)), "can_comment": True},
            },
            "shares": {"count": shares} if shares else None,  # Meta leaves `shares` out when there are none
        }

    def _fb_kind(self, item: Item) -> str:
        children = [self.items[child] for child in item.children if child in self.items]
        if any(child.kind == "video" for child in children):
            return "video"
        if len(children) > 1:
            return "album"
        if children:
            return "photo"
        return "link" if item.params.get("link") else "text"

    def read_posts(self, request: Request) -> Response:
        guarded = self._guard(request, "page_id")
        if isinstance(guarded, Response):
            return guarded
        person, params, _ = guarded
        now = time.time()
        since, until = _moment(params.get("since")), _moment(params.get("until"))
        raw_fields = requested_fields(params.get("fields"), ("id", "message", "created_time"))
        fields = [base_field(name) for name in raw_fields]
        rows = []
        for item in sorted(self.items.values(), key=lambda found: found.created_at, reverse=True):
            if item.kind != "post" or item.owner != person.name or item.deleted:
                continue
            if (
                item.scheduled_at is not None
                and item.scheduled_at > now
                or (not item.published and item.scheduled_at is None)
            ):
                continue
            if (since is not None and item.created_at < since) or (until is not None and item.created_at > until):
                continue
            rows.append(pick(self._post_json(item), fields))
        return self._paged(request, rows, params)

    def read_stories(self, request: Request) -> Response:
        guarded = self._guard(request, "ig_user_id")
        if isinstance(guarded, Response):
            return guarded
        person, params, _ = guarded
        fields = requested_fields(params.get("fields"), ("id",))
        now = time.time()
        rows = [
            pick(self._media_json(item), fields)
            for item in sorted(self.items.values(), key=lambda found: found.created_at, reverse=True)
            if item.kind == "media"
            and item.owner == person.name
            and item.params.get("kind") == "story"
            and item.created_at > now - 86400
        ]
        return self._paged(request, rows, params)

    # Any node --------------------------------------------------------------------------------------------------

    def read_node(self, request: Request) -> Response:
        node = request.path_params["node"]
        if node == "debug_token":
            return self._debug_token(request)
        guarded = self._guard(request)
        if isinstance(guarded, Response):
            return guarded
        person, params, _ = guarded
        now = time.time()
        if node in ("me", person.ig_user_id, person.user_id):
            data = {
                "id": person.ig_user_id if node == person.ig_user_id else person.user_id,
                "user_id": person.ig_user_id,
                "username": person.name,
                "name": person.name.title(),
                "account_type": "BUSINESS",
                "followers_count": followers_of(person.name, "instagram"),
                "media_count": sum(1 for i in self.items.values() if i.kind == "media" and i.owner == person.name),
            }
            return json_response(pick(data, requested_fields(params.get("fields"), ("id", "name"))))
        if node == person.page_id:
            followers = followers_of(person.name, "facebook")
            data = {
                "id": person.page_id,
                "name": f"{person.name.title()} Page",
                "followers_count": followers,
                "fan_count": followers - followers // 20,
            }
            return json_response(pick(data, requested_fields(params.get("fields"), ("id", "name"))))
        item = self.items.get(node)
        if item is None or item.deleted or item.owner != person.name:
            return self.error(400, UNSUPPORTED.format(method="get", id=node), 100, 33)
        if item.kind == "container":
            status_code = self._status(item, now)
            status = item.status or {
                "FINISHED": "Finished: Media has been uploaded and it is ready to be published.",
                "IN_PROGRESS": "In Progress: Media is still being processed.",
                "PUBLISHED": "Published: Media has been published.",
            }.get(status_code, "")
            data = {"id": item.id, "status_code": status_code, "status": status}
            return json_response(pick(data, requested_fields(params.get("fields"), ("id",))))
        if item.kind == "media":
            return json_response(pick(self._media_json(item), requested_fields(params.get("fields"), ("id",))))
        data = {
            "id": item.id,
            "message": item.text or None,
            "created_time": graph_time(item.created_at),
            "permalink_url": item.url,
        }
        if item.kind == "post":
            data = self._post_json(item)  # with its type and counts (reactions.summary(true), …)
        fields = requested_fields(params.get("fields"), ("id", "message", "created_time"))
        return json_response(pick(data, [base_field(name) for name in fields]))

    def _debug_token(self, request: Request) -> Response:
        params, _ = self._params(request)
        token = str(params.get("input_token") or "")
        if "|" not in str(params.get("access_token") or ""):
            return self.error(400, "(#100) You must provide an app access token, or a user access token", 100)
        now = int(time.time())
        name = name_for(token)
        return json_response(
            {
                "data": {
                    "app_id": str(params["access_token"]).split("|")[0],
                    "type": "USER",
                    "application": "Beffroi",
                    "data_access_expires_at": now + 90 * 86400,
                    "expires_at": now + LONG_LIVED_S,
                    "is_valid": token.startswith("tok-"),
                    "scopes": ["pages_show_list", "pages_read_engagement", "pages_manage_posts"],
                    "user_id": user_id_for(name),
                }
            }
        )

    def delete_node(self, request: Request) -> Response:
        guarded = self._guard(request)
        if isinstance(guarded, Response):
            return guarded
        person, _, _ = guarded
        node = request.path_params["node"]
        item = self.items.get(node)
        if item is None or item.deleted or item.owner != person.name or item.network != "facebook":
            return self.error(400, UNSUPPORTED.format(method="delete", id=node), 100, 33)
        targets = [item]
        if item.post_id and item.post_id in self.items:
            targets.append(self.items[item.post_id])  # deleting a photo or video deletes its post
        for target in targets:
            target.deleted = True
            record = target.record
            if record is not None:
                record.deleted = True
                record.deleted_at = time.time()
        return json_response({"success": True})
