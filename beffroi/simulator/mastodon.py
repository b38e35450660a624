"""The subset of Mastodon's client API that Beffroi's connector uses, with Mastodon's shapes and error messages.

Fidelity notes (what a real instance does that the connector must cope with):
- `content` is HTML: the text escaped, URLs and hashtags turned into links exactly as Mastodon renders them
  (`<span class="invisible">https://</span>…`), blank lines into paragraphs and single newlines into `<br />`.
- The character limit counts a URL as 23 characters and the spoiler text too; text is stripped first.
- An Idempotency-Key is remembered per account for an hour; the replay answers the first status.
- Rate limits are fixed windows like Rack::Attack's, with X-RateLimit-* headers on every answer.
- Media (POST /api/v2/media, multipart): a picture is processed at once (200 with its `url`); a video or a GIF
  answers 202 with `url: null`, and GET /api/v1/media/:id answers 206 until `media_processing_s` has passed. A
  status naming an unfinished media is refused with Mastodon's 422. Unknown media ids are still accepted (tests
  attach made-up ids), media of another account or already attached are refused.
- Interactions (for the statistics reader): favourites, boosts (a reblog status in the booster's timeline, left
  out with `exclude_reblogs`), replies and follows by other accounts count in `favourites_count`, `reblogs_count`,
  `replies_count` and `followers_count`, and notify the account as Mastodon does (favourite, reblog, mention for a
  reply, follow; small increasing ids, `created_at`; GET /api/v1/notifications filters with types[] and
  exclude_types[] and pages with max_id/since_id/min_id and a Link header). Self-favourites notify no one.
  Accounts can be looked up by name (GET /api/v1/accounts/lookup). Quote posts (Mastodon 4.5) are not simulated.
- OAuth: apps registered with POST /api/v1/apps; GET /oauth/authorize approves at once (as `login_as`, or refuses
  with `deny=1`) and redirects with a code; POST /oauth/token checks the client, the redirect URI and the PKCE
  verifier and answers `tok-<username>`. Validation messages of media and polls follow Mastodon's English
  locale as closely as known; the recorded cassettes in networks/mastodon/tests/cassettes are the reference.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from beffroi.simulator.server import (
    Handler,
    Network,
    PostRecord,
    Request,
    Response,
    error_response,
    iso_time,
    json_response,
)

VISIBILITIES = ("public", "unlisted", "private", "direct")
MAX_MEDIA_ATTACHMENTS = 4
CHARACTERS_RESERVED_PER_URL = 23
DEFAULT_LIMIT, MAX_LIMIT = 20, 40
NOTIFICATIONS_DEFAULT_LIMIT, NOTIFICATIONS_MAX_LIMIT = 40, 80
SUPPORTED_MIME_TYPES = (
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/heic",
    "image/heif",
    "image/webp",
    "image/avif",
    "video/webm",
    "video/mp4",
    "video/quicktime",
)
IMAGE_SIZE_LIMIT = 16 * 1024 * 1024
VIDEO_SIZE_LIMIT = 99 * 1024 * 1024
DESCRIPTION_LIMIT = 1500
POLL_MAX_OPTIONS, POLL_MAX_CHARACTERS_PER_OPTION = 4, 50
POLL_MIN_EXPIRATION, POLL_MAX_EXPIRATION = 300, 2629746
NOT_PROCESSED = "Cannot attach files that have not finished processing. Try again in a moment!"
ACCOUNT_CREATED_AT = "2024-01-01T00:00:00.000Z"  # fixed: the same answers from run to run
# Rails' ActiveModel::Type::Boolean: these are false, any other non-blank value is true.
FALSE_VALUES = {"0", "f", "F", "false", "FALSE", "False", "off", "OFF", "Off"}

# Close enough to twitter-text's URL and Mastodon's hashtag patterns for what connectors send.
URL_RE = re.compile(r"(?<![\w/@.])https?://[^\s<>\"]+", re.IGNORECASE)
URL_TRAILING = ".,:;!?'\""
HASHTAG_RE = re.compile(r"(?<![=/)\w])#(\w*[^\W\d]\w*)")
URL_PREFIX_RE = re.compile(r"^(https?://(www\.)?)", re.IGNORECASE)


def _escape(text: str) -> str:
    # ERB::Util.html_escape, as Mastodon uses: &#39; for the apostrophe.
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def _find_urls(text: str) -> list[tuple[int, int]]:
    spans = []
    for found in URL_RE.finditer(text):
        start, end = found.span()
        url = found.group()
        # Trailing punctuation ends a sentence, not the URL; a closing parenthesis only if unbalanced.
        while url and (url[-1] in URL_TRAILING or (url[-1] == ")" and url.count("(") < url.count(")"))):
            url = url[:-1]
            end -= 1
        if url.index("//") + 2 < len(url):  # something after the scheme
            spans.append((start, end))
    return spans


def _shortened_link(url: str) -> str:
    """TextFormatter.shortened_link: the scheme hidden, the rest cut at 30 characters with an ellipsis."""
    prefix = URL_PREFIX_RE.match(url)
    prefix_text = prefix.group(1) if prefix else ""
    rest = url[len(prefix_text) :]
    display, suffix = rest[:30], rest[30:]
    cutoff = "ellipsis" if len(rest) > 30 else ""
    return (
        f'<a href="{_escape(url)}" target="_blank" rel="nofollow noopener" translate="no">'
        f'<span class="invisible">{_escape(prefix_text)}</span><span class="{cutoff}">{_escape(display)}</span>'
        f'<span class="invisible">{_escape(suffix)}</span></a>'
    )


def render_content(text: str, base_url: str) -> tuple[str, list[str]]:
    """The status HTML Mastodon renders for a plain-text status, and the hashtags found in it."""
    pieces: list[str] = []
    tags: list[str] = []
    position = 0
    url_spans = _find_urls(text)
    entities: list[tuple[int, int, str]] = [(start, end, "url") for start, end in url_spans]
    for found in HASHTAG_RE.finditer(text):
        if not any(start <= found.start() < end for start, end in url_spans):
            entities.append((found.start(), found.end(), "tag"))
    for start, end, kind in sorted(entities):
        pieces.append(_escape(text[position:start]))
        if kind == "url":
            pieces.append(_shortened_link(text[start:end]))
        else:
            name = text[start + 1 : end]
            tags.append(name)
            pieces.append(
                f'<a href="{_escape(base_url)}/tags/{_escape(name)}" class="mention hashtag" rel="tag">'
                f"#<span>{_escape(name)}</span></a>"
            )
        position = end
    pieces.append(_escape(text[position:]))
    return _simple_format("".join(pieces)), tags


def _simple_format(html: str) -> str:
    """Rails' simple_format followed by Mastodon's .delete("\\n")."""
    html = html.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = re.split(r"\n\n+", html)
    while paragraphs and paragraphs[-1] == "":  # Ruby's split drops trailing empty strings
        paragraphs.pop()
    if not paragraphs:
        return "<p></p>"
    formatted = [re.sub(r"([^\n]\n)(?=[^\n])", r"\1<br />", paragraph) for paragraph in paragraphs]
    return "".join(f"<p>{paragraph}</p>" for paragraph in formatted).replace("\n", "")


def grapheme_length(text: str) -> int:
    """Approximately the number of grapheme clusters (what Mastodon counts): combining marks, variation
    selectors, skin tones, zero-width-joined emoji and flag pairs add nothing."""
    if text.isascii():
        return len(text) - text.count("\r\n")
    count = 0
    joined = False
    regional_pending = False
    previous = ""
    for char in text:
        code = ord(char)
        if joined:  # the character after a zero-width joiner belongs to the same cluster
            joined = False
            previous = char
            continue
        if code == 0x200D:
            joined = True
            continue
        if (
            0xFE00 <= code <= 0xFE0F
            or 0x1F3FB <= code <= 0x1F3FF
            or 0xE0020 <= code <= 0xE007F
            or unicodedata.category(char) in ("Mn", "Me", "Mc")
            or (char == "\n" and previous == "\r")
        ):
            previous = char
            continue
        if 0x1F1E6 <= code <= 0x1F1FF:
            regional_pending = not regional_pending
            if not regional_pending:  # the second half of a flag
                previous = char
                continue
        else:
            regional_pending = False
        count += 1
        previous = char
    return count


def countable_length(text: str, spoiler_text: str) -> int:
    """StatusLengthValidator: URLs count 23 characters, the spoiler text counts too."""
    countable = text
    spans = _find_urls(text)
    for start, end in reversed(spans):
        countable = countable[:start] + "x" * CHARACTERS_RESERVED_PER_URL + countable[end:]
    return grapheme_length(spoiler_text + countable)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None or value == "":
        return False
    return str(value) not in FALSE_VALUES


def nest_params(pairs: list[tuple[str, str]], into: dict[str, Any] | None = None) -> dict[str, Any]:
    """Rails-style nesting of form keys: media_ids[]=1 → {"media_ids": ["1"]}, poll[expires_in]=60 → nested."""
    params: dict[str, Any] = {} if into is None else into
    for key, value in pairs:
        if "[" not in key or not key.endswith("]"):
            params[key] = value
            continue
        head, _, rest = key.partition("[")
        parts = [head, *rest[:-1].split("][")]
        node: Any = params
        for index, part in enumerate(parts[:-1]):
            following = parts[index + 1]
            wanted: type = list if following == "" else dict
            child = node.get(part)
            if not isinstance(child, wanted):
                child = node[part] = wanted()
            node = child
            if wanted is list:
                break
        if isinstance(node, list):
            node.append(value)
        else:
            node[parts[-1]] = value
    return params


@dataclass(slots=True)
class UploadedFile:
    filename: str
    content_type: str
    data: bytes


_DISPOSITION_RE = re.compile(r'(\w+)="([^"]*)"')


def parse_multipart(body: bytes, content_type: str) -> list[tuple[str, Any]] | None:
    """multipart/form-data → (name, value) pairs, a file part as an UploadedFile; None when malformed."""
    found = re.search(r'boundary="?([^";]+)"?', content_type)
    if found is None:
        return None
    delimiter = b"--" + found.group(1).encode("latin-1")
    pairs: list[tuple[str, Any]] = []
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):  # the closing delimiter
            break
        part = part.removeprefix(b"\r\n").removesuffix(b"\r\n")
        head, separator, content = part.partition(b"\r\n\r\n")
        if not separator:
            return None
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        attributes = dict(_DISPOSITION_RE.findall(headers.get("content-disposition", "")))
        if "name" not in attributes:
            return None
        if "filename" in attributes:
            file = UploadedFile(
                attributes["filename"], headers.get("content-type", "application/octet-stream"), content
            )
            pairs.append((attributes["name"], file))
        else:
            pairs.append((attributes["name"], content.decode("utf-8", "replace")))
    return pairs


@dataclass(slots=True)
class Media:
    id: str
    account: Account
    kind: str  # image, video, gifv
    mime_type: str
    size: int
    description: str | None
    ready_at: float
    base_url: str
    status_id: int | None = None

    def ready(self, now: float) -> bool:
        return now >= self.ready_at

    def as_json(self, now: float) -> dict[str, Any]:
        extension = self.mime_type.split("/")[-1].replace("jpeg", "jpg").replace("quicktime", "mov")
        path = f"{self.base_url}/system/media_attachments/files/{self.id}"
        if self.kind == "gifv":
            extension = "mp4"  # Mastodon turns GIFs into silent videos
        return {
            "id": self.id,
            "type": self.kind,
            "url": f"{path}/original/file.{extension}" if self.ready(now) else None,
            "preview_url": f"{path}/small/file.jpg",
            "remote_url": None,
            "preview_remote_url": None,
            "text_url": None,
            "meta": {},
            "description": self.description,
            "blurhash": None,
        }


@dataclass(slots=True)
class App:
    id: str
    name: str
    website: str | None
    scopes: list[str]
    redirect_uris: list[str]
    client_id: str
    client_secret: str


@dataclass(slots=True)
class Grant:
    client_id: str
    redirect_uri: str
    scopes: str
    code_challenge: str
    code_challenge_method: str
    username: str
    expires_at: float


def account_id_for(username: str) -> str:
    """Stable across runs and resets: a 56-bit number from the name, as a string like Mastodon's ids."""
    return str(int.from_bytes(hashlib.blake2b(username.encode(), digest_size=7).digest(), "big") or 1)


def username_for(token: str) -> str:
    """`tok-alice` → `alice`; any other token names an account after itself (letters, digits, _ and -)."""
    name = token[4:] if token.startswith("tok-") else token
    return re.sub(r"[^\w-]", "_", name) or "_"


@dataclass(slots=True)
class Account:
    id: str
    username: str
    statuses: list[Status] = field(default_factory=list)  # live ones, oldest first
    status_ids: list[int] = field(default_factory=list)  # their ids, for bisecting
    last_status_at: float | None = None
    followers: set[str] = field(default_factory=set)  # account ids
    following: set[str] = field(default_factory=set)
    notifications: list[Notification] = field(default_factory=list)  # oldest first

    def as_json(self, base_url: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "acct": self.username,
            "display_name": self.username,
            "locked": False,
            "bot": False,
            "discoverable": True,
            "group": False,
            "created_at": ACCOUNT_CREATED_AT,
            "note": "",
            "url": f"{base_url}/@{self.username}",
            "uri": f"{base_url}/users/{self.username}",
            "avatar": f"{base_url}/avatars/original/missing.png",
            "avatar_static": f"{base_url}/avatars/original/missing.png",
            "header": f"{base_url}/headers/original/missing.png",
            "header_static": f"{base_url}/headers/original/missing.png",
            "followers_count": len(self.followers),
            "following_count": len(self.following),
            "statuses_count": len(self.statuses),
            "last_status_at": time.strftime("%Y-%m-%d", time.gmtime(self.last_status_at))
            if self.last_status_at
            else None,
            "emojis": [],
            "fields": [],
        }


@dataclass(slots=True)
class Status:
    id: int
    account: Account
    text: str
    spoiler_text: str
    visibility: str
    sensitive: bool
    language: str | None
    media_ids: list[str]
    in_reply_to: Status | None
    poll: dict[str, Any] | None
    created_at: float
    content: str
    tags: list[str]
    base_url: str
    record: PostRecord | None = None
    deleted: bool = False
    media_json: list[dict[str, Any]] | None = None  # uploaded media as answered; None: made-up ids
    reblog_of: Status | None = None  # a boost: this status only points at another one
    favourited_by: set[str] = field(default_factory=set)  # account ids
    reblogged_by: dict[str, Status] = field(default_factory=dict)  # account id → its reblog status
    replies: list[Status] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{self.base_url}/@{self.account.username}/{self.id}"

    def as_json(self, *, with_source: bool = False) -> dict[str, Any]:
        base = self.base_url
        data: dict[str, Any] = {
            "id": str(self.id),
            "created_at": iso_time(self.created_at),
            "in_reply_to_id": str(self.in_reply_to.id) if self.in_reply_to else None,
            "in_reply_to_account_id": self.in_reply_to.account.id if self.in_reply_to else None,
            "sensitive": self.sensitive,
            "spoiler_text": self.spoiler_text,
            "visibility": self.visibility,
            "language": self.language,
            "uri": f"{base}/users/{self.account.username}/statuses/{self.id}",
            "url": self.url,
            "replies_count": sum(1 for reply in self.replies if not reply.deleted),
            "reblogs_count": sum(1 for boost in self.reblogged_by.values() if not boost.deleted),
            "favourites_count": len(self.favourited_by),
            "edited_at": None,
            "favourited": False,
            "reblogged": False,
            "muted": False,
            "bookmarked": False,
            "pinned": False,
            "content": self.content,
            "filtered": [],
            "reblog": None,
            "application": {"name": "Beffroi simulator", "website": None},
            "account": self.account.as_json(base),
            "media_attachments": self.media_json
            if self.media_json is not None
            else [
                {
                    "id": media_id,
                    "type": "image",
                    "url": f"{base}/system/media_attachments/files/{media_id}/original/image.png",
                    "preview_url": f"{base}/system/media_attachments/files/{media_id}/small/image.png",
                    "remote_url": None,
                    "preview_remote_url": None,
                    "text_url": None,
                    "meta": {},
                    "description": None,
                    "blurhash": None,
                }
                for media_id in self.media_ids
            ],
            "mentions": [],
            "tags": [{"name": tag.lower(), "url": f"{base}/tags/{tag.lower()}"} for tag in self.tags],
            "emojis": [],
            "card": None,
            "poll": self._poll_json(),
        }
        if self.reblog_of is not None:  # a boost carries the boosted status and nothing of its own
            data.update(
                uri=f"{data['uri']}/activity",
                url=None,
                content="",
                media_attachments=[],
                tags=[],
                poll=None,
                reblog=self.reblog_of.as_json(),
            )
        if with_source:  # DELETE answers the source, for "delete and redraft"
            data["text"] = self.text
        return data

    def _poll_json(self) -> dict[str, Any] | None:
        if self.poll is None:
            return None
        expires_in = self.poll.get("expires_in")
        try:
            expires_at = iso_time(self.created_at + float(expires_in)) if expires_in not in (None, "") else None
        except (TypeError, ValueError):
            expires_at = None
        options = self.poll.get("options") or []
        return {
            "id": str(self.id),
            "expires_at": expires_at,
            "expired": False,
            "multiple": _boolean(self.poll.get("multiple")),
            "votes_count": 0,
            "voters_count": 0,
            "voted": False,
            "own_votes": [],
            "options": [{"title": str(option), "votes_count": 0} for option in options],
            "emojis": [],
        }


@dataclass(slots=True)
class Notification:
    id: int
    type: str  # favourite, reblog, mention, follow
    created_at: float
    account: Account  # who did it
    status: Status | None

    def as_json(self, base_url: str) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "type": self.type,
            "created_at": iso_time(self.created_at),
            "group_key": f"ungrouped-{self.id}",
            "account": self.account.as_json(base_url),
            **({"status": self.status.as_json()} if self.status is not None else {}),
        }


class MastodonNetwork(Network):
    name = "mastodon"

    def __init__(self, simulator: Any) -> None:
        super().__init__(simulator)
        self._usernames: dict[str, str] = {}  # token → username, cached: it is looked up on every request
        self.reset()

    def reset(self) -> None:
        self.accounts: dict[str, Account] = {}  # by id
        self.accounts_by_name: dict[str, Account] = {}
        self.statuses: dict[int, Status] = {}
        self.idempotency: dict[tuple[str, str], tuple[int, float]] = {}  # (account id, key) → (status id, until)
        self.windows: dict[str, list[int]] = {}  # token → [window number, requests in it]
        self.last_id = 0
        self.replays = 0
        self.media: dict[str, Media] = {}
        self.apps: dict[str, App] = {}  # by client_id
        self.grants: dict[str, Grant] = {}  # authorisation codes not yet exchanged
        self.last_notification_id = 0

    def stats(self) -> dict[str, Any]:
        return {
            "accounts": len(self.accounts),
            "idempotent_replays": self.replays,
            "media": len(self.media),
            "apps": len(self.apps),
        }

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("POST", "/api/v1/statuses", self.post_status),
            ("GET", "/api/v1/statuses/:id", self.get_status),
            ("DELETE", "/api/v1/statuses/:id", self.delete_status),
            ("POST", "/api/v1/statuses/:id/favourite", self.favourite),
            ("POST", "/api/v1/statuses/:id/reblog", self.reblog),
            ("GET", "/api/v1/accounts/verify_credentials", self.verify_credentials),
            ("GET", "/api/v1/accounts/lookup", self.lookup_account),
            ("GET", "/api/v1/accounts/:id/statuses", self.account_statuses),
            ("POST", "/api/v1/accounts/:id/follow", self.follow),
            ("GET", "/api/v1/notifications", self.notifications),
            ("GET", "/api/v1/accounts/:id", self.get_account),
            ("GET", "/api/v2/instance", self.instance_v2),
            ("GET", "/api/v1/instance", self.instance_v1),
            ("POST", "/api/v2/media", self.post_media),
            ("GET", "/api/v1/media/:id", self.get_media),
            ("POST", "/api/v1/apps", self.register_app),
            ("GET", "/oauth/authorize", self.authorize),
            ("POST", "/oauth/token", self.token),
        ]

    # Accounts and tokens -----------------------------------------------------------------------------------

    def account_for(self, request: Request) -> str | None:
        token = request.bearer_token()
        if token is None:
            return None
        username = self._usernames.get(token)
        if username is None:
            username = self._usernames[token] = username_for(token)
        return username

    def _account(self, username: str) -> Account:
        account = self.accounts_by_name.get(username)
        if account is None:
            account = Account(account_id_for(username), username)
            self.accounts_by_name[username] = account
            self.accounts[account.id] = account
        return account

    def _authenticate(self, request: Request, *, required: bool) -> Account | Response | None:
        """The token's account; a 401 answer; or None when the token is optional and absent."""
        token = request.bearer_token()
        if token is None:
            if request.headers.get("authorization") or required:
                return error_response(401, "The access token is invalid")
            return None
        if token.startswith("revoked-") or token in self.simulator.knobs.revoked_tokens:
            return error_response(401, "The access token was revoked")
        return self._account(request.account or username_for(token))

    def _rate_limit(self, request: Request) -> tuple[Response | None, list[tuple[str, str]]]:
        """Rack::Attack's fixed windows, per token: (a 429 answer or None, headers for the answer)."""
        knobs = request.knobs
        token = request.bearer_token()
        if knobs is None or knobs.rate_limit is None or token is None:
            return None, []
        period = knobs.rate_window_s
        now = time.time()
        window = int(now // period)
        entry = self.windows.get(token)
        if entry is None or entry[0] != window:
            entry = self.windows[token] = [window, 0]
        entry[1] += 1
        reset_at = (window + 1) * period
        headers = [
            ("X-RateLimit-Limit", str(knobs.rate_limit)),
            ("X-RateLimit-Remaining", str(max(0, knobs.rate_limit - entry[1]))),
            ("X-RateLimit-Reset", iso_time(reset_at, 6)),
        ]
        if entry[1] > knobs.rate_limit:
            self.simulator.inject("rate_limited")
            headers.append(("Retry-After", str(max(1, int(-(-(reset_at - now) // 1))))))
            return error_response(429, "Too many requests", headers), headers
        return None, headers

    def _guard(self, request: Request, *, auth_required: bool) -> tuple[Account | None, Response | None, list]:
        """Rate limit, then authentication: (account, early answer, rate-limit headers)."""
        limited, headers = self._rate_limit(request)
        if limited is not None:
            return None, limited, headers
        account = self._authenticate(request, required=auth_required)
        if isinstance(account, Response):
            account.headers.extend(headers)
            return None, account, headers
        return account, None, headers

    def _params(self, request: Request) -> dict[str, Any] | Response:
        """Query and body parameters merged, as Rails does; JSON or form bodies."""
        params = nest_params(request.query_pairs())
        if request.body:
            content_type = request.headers.get("content-type", "")
            if "json" in content_type:
                try:
                    data = request.json()
                except ValueError:
                    return error_response(400, "Error occurred while parsing request parameters")
                if not isinstance(data, dict):
                    return error_response(400, "Error occurred while parsing request parameters")
                params.update(data)
            elif "multipart/form-data" in content_type:
                pairs = parse_multipart(request.body, content_type)
                if pairs is None:
                    return error_response(400, "Error occurred while parsing request parameters")
                nest_params(pairs, into=params)
            else:
                from urllib.parse import parse_qsl

                nest_params(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True), into=params)
        return params

    # Statuses ----------------------------------------------------------------------------------------------

    def _next_id(self, now: float) -> int:
        # Snowflake-like, as Mastodon's: milliseconds since the epoch << 16, always increasing.
        candidate = int(now * 1000) << 16
        self.last_id = candidate if candidate > self.last_id else self.last_id + 1
        return self.last_id

    def post_status(self, request: Request) -> Response:
        knobs = request.knobs
        assert knobs is not None
        simulator = self.simulator
        # An overloaded proxy answers before the instance sees anything: nothing is stored.
        if simulator.chance(knobs.error_rate):
            simulator.inject("error")
            return error_response(503, "Service unavailable")
        account, early, headers = self._guard(request, auth_required=True)
        if early is not None:
            return early
        assert account is not None
        params = self._params(request)
        if isinstance(params, Response):
            return params
        now = time.time()
        key = request.headers.get("idempotency-key")
        if key:
            remembered = self.idempotency.get((account.id, key))
            if remembered is not None and remembered[1] > now:
                self.replays += 1
                status = self.statuses.get(remembered[0])
                if status is None or status.deleted:
                    return error_response(404, "Record not found", headers)
                return json_response(status.as_json(), 200, headers)
        text = str(params.get("status") or "").strip()
        spoiler_text = str(params.get("spoiler_text") or "").strip()
        media_ids = params.get("media_ids") or []
        if not isinstance(media_ids, list):
            media_ids = [media_ids]
        media_ids = [str(media_id) for media_id in media_ids if str(media_id)]
        if len(media_ids) > MAX_MEDIA_ATTACHMENTS:
            return error_response(422, f"Cannot attach more than {MAX_MEDIA_ATTACHMENTS} files", headers)
        uploaded = self._attachable_media(account, media_ids, now)
        if isinstance(uploaded, Response):
            uploaded.headers.extend(headers)
            return uploaded
        visibility = str(params.get("visibility") or "public")
        if visibility not in VISIBILITIES:
            return error_response(422, "Validation failed: Visibility is not included in the list", headers)
        if not text and not media_ids:
            return error_response(422, "Validation failed: Text can't be blank", headers)
        if countable_length(text, spoiler_text) > knobs.max_characters:
            return error_response(
                422, f"Validation failed: Text character limit of {knobs.max_characters} exceeded", headers
            )
        in_reply_to = None
        reply_id = params.get("in_reply_to_id")
        if reply_id:
            try:
                in_reply_to = self.statuses.get(int(reply_id))
            except (TypeError, ValueError):
                in_reply_to = None
            if in_reply_to is None or in_reply_to.deleted:
                return error_response(404, "The post you are trying to reply to does not appear to exist.", headers)
        poll = params.get("poll")
        if poll is not None:
            refused = self._check_poll(poll)
            if refused is not None:
                return error_response(422, refused, headers)
        language = params.get("language") or None
        status_id = self._next_id(now)
        created_at = (status_id >> 16) / 1000
        content, tags = render_content(text, simulator.public_url)
        status = Status(
            id=status_id,
            account=account,
            text=text,
            spoiler_text=spoiler_text,
            visibility=visibility,
            sensitive=_boolean(params.get("sensitive")) or bool(spoiler_text),
            language=str(language) if language else None,
            media_ids=media_ids,
            in_reply_to=in_reply_to,
            poll=poll if isinstance(poll, dict) else None,
            created_at=created_at,
            content=content,
            tags=tags,
            base_url=simulator.public_url,
        )
        if uploaded:
            status.media_json = [
                media.as_json(now) if media is not None else _made_up_media(media_id, simulator.public_url)
                for media_id, media in zip(media_ids, uploaded, strict=True)
            ]
            for media in uploaded:
                if media is not None:
                    media.status_id = status_id
        self.statuses[status_id] = status
        account.statuses.append(status)
        account.status_ids.append(status_id)
        account.last_status_at = created_at
        if in_reply_to is not None:
            in_reply_to.replies.append(status)
            if in_reply_to.account is not account:  # a reply mentions the author it answers
                self._notify(in_reply_to.account, "mention", account, status, created_at)
        if key:
            self.idempotency[(account.id, key)] = (status_id, now + knobs.idempotency_ttl_s)
        # Stored. Now, maybe, the answer never makes it back in time.
        roll = simulator.random.random()
        fault = None
        if roll < knobs.drop_after_commit_rate:
            fault = "drop"
        elif roll < knobs.drop_after_commit_rate + knobs.timeout_after_commit_rate:
            fault = "stall"
        extra: dict[str, Any] = {
            "visibility": visibility,
            "spoiler_text": spoiler_text,
            "sensitive": status.sensitive,
            "language": status.language,
            "media_ids": media_ids,
            "in_reply_to_id": str(in_reply_to.id) if in_reply_to else None,
            "poll": status.poll,
        }
        status.record = simulator.record_post(
            PostRecord(
                id=str(status_id),
                network=self.name,
                account=account.username,
                account_id=account.id,
                text=text,
                idempotency_key=key or None,
                received_at=request.received_at,
                created_at=created_at,
                url=status.url,
                fault=fault,
                extra=extra,
            )
        )
        if fault == "drop":
            simulator.inject("drop")
            return Response(drop=True)
        response = json_response(status.as_json(), 200, headers)
        if fault == "stall":
            simulator.inject("stall")
            response.stall_s = knobs.stall_s
        return response

    def _find_status(self, request: Request, viewer: Account | None) -> Status | None:
        try:
            status = self.statuses.get(int(request.path_params["id"]))
        except ValueError:
            return None
        if status is None or status.deleted:
            return None
        if status.visibility in ("private", "direct") and status.account is not viewer:
            return None
        return status

    def get_status(self, request: Request) -> Response:
        viewer, early, headers = self._guard(request, auth_required=False)
        if early is not None:
            return early
        status = self._find_status(request, viewer)
        if status is None:
            return error_response(404, "Record not found", headers)
        return json_response(status.as_json(), 200, headers)

    def delete_status(self, request: Request) -> Response:
        viewer, early, headers = self._guard(request, auth_required=True)
        if early is not None:
            return early
        status = self._find_status(request, viewer)
        if status is None or status.account is not viewer:
            return error_response(404, "Record not found", headers)
        status.deleted = True
        account = status.account
        index = bisect.bisect_left(account.status_ids, status.id)
        if index < len(account.status_ids) and account.status_ids[index] == status.id:
            del account.status_ids[index]
            del account.statuses[index]
        if status.record is not None:
            status.record.deleted = True
            status.record.deleted_at = time.time()
        return json_response(status.as_json(with_source=True), 200, headers)

    def _attachable_media(self, account: Account, media_ids: list[str], now: float) -> list[Media | None] | Response:
        """The uploaded media a status names (None for made-up ids), or Mastodon's 422."""
        found = [self.media.get(media_id) for media_id in media_ids]
        missing = [
            media_id
            for media_id, media in zip(media_ids, found, strict=True)
            if media is not None and (media.account is not account or media.status_id is not None)
        ]
        if missing:
            return error_response(422, f"Media {', '.join(missing)} not found or already attached to another post")
        known = [media for media in found if media is not None]
        if any(not media.ready(now) for media in known):
            return error_response(422, NOT_PROCESSED)
        videos = sum(1 for media in known if media.kind != "image")
        if videos and len(media_ids) > 1:
            return error_response(422, "Cannot attach a video to a post that already contains images")
        return found

    def _check_poll(self, poll: Any) -> str | None:
        """Mastodon's PollValidator, as far as a connector can trip it."""
        if not isinstance(poll, dict):
            return "Validation failed: Poll is invalid"
        options = poll.get("options") or []
        if not isinstance(options, list):
            options = [options]
        if len(options) < 2:
            return "Validation failed: Poll options must have more than one item"
        if len(options) > POLL_MAX_OPTIONS:
            return f"Validation failed: Poll options can't contain more than {POLL_MAX_OPTIONS} items"
        if any(len(str(option)) > POLL_MAX_CHARACTERS_PER_OPTION for option in options):
            limit = POLL_MAX_CHARACTERS_PER_OPTION
            return f"Validation failed: Poll options cannot be longer than {limit} characters each"
        try:
            expires_in = float(poll.get("expires_in"))
        except (TypeError, ValueError):
            return "Validation failed: Poll expires at can't be blank"
        if expires_in < POLL_MIN_EXPIRATION:
            return "Validation failed: Poll expires at is too soon"
        if expires_in > POLL_MAX_EXPIRATION:
            return "Validation failed: Poll expires at is too far into the future"
        return None

    # Media -------------------------------------------------------------------------------------------------

    def post_media(self, request: Request) -> Response:
        account, early, headers = self._guard(request, auth_required=True)
        if early is not None:
            return early
        assert account is not None and request.knobs is not None
        params = self._params(request)
        if isinstance(params, Response):
            return params
        upload = params.get("file")
        if not isinstance(upload, UploadedFile):
            return error_response(422, "Validation failed: File can't be blank", headers)
        mime_type = upload.content_type.split(";")[0].strip().lower()
        if mime_type not in SUPPORTED_MIME_TYPES:
            return error_response(422, "Validation failed: File content type is invalid, File is invalid", headers)
        is_image = mime_type.startswith("image/")
        limit = IMAGE_SIZE_LIMIT if is_image else VIDEO_SIZE_LIMIT
        if len(upload.data) > limit:
            return error_response(
                422, f"Validation failed: File file size must be less than {limit // (1024 * 1024)} MB", headers
            )
        description = str(params.get("description") or "") or None
        if description and len(description) > DESCRIPTION_LIMIT:
            return error_response(
                422, f"Validation failed: Description is too long (maximum is {DESCRIPTION_LIMIT} characters)", headers
            )
        now = time.time()
        kind = "gifv" if mime_type == "image/gif" else "image" if is_image else "video"
        # Pictures are processed during the request; videos and GIFs (turned into videos) later.
        delayed = kind != "image"
        media = Media(
            id=str(self._next_id(now)),
            account=account,
            kind=kind,
            mime_type=mime_type,
            size=len(upload.data),
            description=description,
            ready_at=now + request.knobs.media_processing_s if delayed else now,
            base_url=self.simulator.public_url,
        )
        self.media[media.id] = media
        return json_response(media.as_json(now), 202 if delayed else 200, headers)

    def get_media(self, request: Request) -> Response:
        account, early, headers = self._guard(request, auth_required=True)
        if early is not None:
            return early
        media = self.media.get(request.path_params["id"])
        if media is None or media.account is not account:
            return error_response(404, "Record not found", headers)
        now = time.time()
        return json_response(media.as_json(now), 200 if media.ready(now) else 206, headers)

    # OAuth -------------------------------------------------------------------------------------------------

    def register_app(self, request: Request) -> Response:
        params = self._params(request)
        if isinstance(params, Response):
            return params
        name = str(params.get("client_name") or "").strip()
        uris = params.get("redirect_uris") or []
        uris = [str(uri) for uri in uris] if isinstance(uris, list) else str(uris).split()
        if not name:
            return error_response(422, "Validation failed: Application name can't be blank")
        if not uris:
            return error_response(422, "Validation failed: Redirect URI can't be blank")
        scopes = str(params.get("scopes") or "read").split()
        app = App(
            id=str(len(self.apps) + 1),
            name=name,
            website=str(params.get("website") or "") or None,
            scopes=scopes,
            redirect_uris=uris,
            client_id=secrets.token_urlsafe(32),
            client_secret=secrets.token_urlsafe(32),
        )
        self.apps[app.client_id] = app
        return json_response(
            {
                "id": app.id,
                "name": app.name,
                "website": app.website,
                "scopes": app.scopes,
                "redirect_uris": app.redirect_uris,
                "vapid_key": "",
                "redirect_uri": "\n".join(app.redirect_uris),
                "client_id": app.client_id,
                "client_secret": app.client_secret,
                "client_secret_expires_at": 0,
            }
        )

    def authorize(self, request: Request) -> Response:
        """The consent page, approved (or refused with deny=1) at once, as the account `login_as`."""
        app = self.apps.get(request.query("client_id") or "")
        redirect_uri = request.query("redirect_uri") or ""
        if app is None:
            return error_response(401, "Client authentication failed due to unknown client.")
        if redirect_uri not in app.redirect_uris:
            return error_response(400, "The redirect uri included is not valid.")
        state = request.query("state")
        if request.query("deny"):
            answer = {
                "error": "access_denied",
                "error_description": "The resource owner or authorization server denied the request.",
            }
        else:
            code = secrets.token_urlsafe(32)
            self.grants[code] = Grant(
                client_id=app.client_id,
                redirect_uri=redirect_uri,
                scopes=request.query("scope") or "read",
                code_challenge=request.query("code_challenge") or "",
                code_challenge_method=request.query("code_challenge_method") or "plain",
                username=re.sub(r"[^\w-]", "_", request.query("login_as") or "simulated"),
                expires_at=time.time() + 600,
            )
            answer = {"code": code}
        if state is not None:
            answer["state"] = state
        separator = "&" if "?" in redirect_uri else "?"
        location = f"{redirect_uri}{separator}{urlencode(answer)}"
        return Response(302, b"", [("Location", location)], content_type="text/html; charset=utf-8")

    def token(self, request: Request) -> Response:
        params = self._params(request)
        if isinstance(params, Response):
            return params
        if params.get("grant_type") != "authorization_code":
            return json_response(
                {
                    "error": "unsupported_grant_type",
                    "error_description": "The authorization grant type is not supported by the authorization server.",
                },
                400,
            )
        app = self.apps.get(str(params.get("client_id") or ""))
        if app is None or app.client_secret != params.get("client_secret"):
            return json_response(
                {
                    "error": "invalid_client",
                    "error_description": "Client authentication failed due to unknown client, no client "
                    "authentication included, or unsupported authentication method.",
                },
                401,
            )
        grant = self.grants.pop(str(params.get("code") or ""), None)
        if (
            grant is None
            or grant.client_id != app.client_id
            or grant.expires_at < time.time()
            or grant.redirect_uri != params.get("redirect_uri")
            or not _pkce_matches(grant, str(params.get("code_verifier") or ""))
        ):
            return json_response(
                {
                    "error": "invalid_grant",
                    "error_description": "The provided authorization grant is invalid, expired, revoked, does not "
                    "match the redirection URI used in the authorization request, or was issued to another client.",
                },
                400,
            )
        return json_response(
            {
                "access_token": f"tok-{grant.username}",
                "token_type": "Bearer",
                "scope": grant.scopes,
                "created_at": int(time.time()),
            }
        )

    # Accounts ----------------------------------------------------------------------------------------------

    def verify_credentials(self, request: Request) -> Response:
        account, early, headers = self._guard(request, auth_required=True)
        if early is not None:
            return early
        assert account is not None
        data = account.as_json(self.simulator.public_url)
        data["source"] = {
            "privacy": "public",
            "sensitive": False,
            "language": None,
            "note": "",
            "fields": [],
            "follow_requests_count": 0,
        }
        data["role"] = {"id": "-99", "name": "", "permissions": "0", "color": "", "highlighted": False}
        return json_response(data, 200, headers)

    def get_account(self, request: Request) -> Response:
        _, early, headers = self._guard(request, auth_required=False)
        if early is not None:
            return early
        account = self.accounts.get(request.path_params["id"])
        if account is None:
            return error_response(404, "Record not found", headers)
        return json_response(account.as_json(self.simulator.public_url), 200, headers)

    def account_statuses(self, request: Request) -> Response:
        viewer, early, headers = self._guard(request, auth_required=False)
        if early is not None:
            return early
        account = self.accounts.get(request.path_params["id"])
        if account is None:
            return error_response(404, "Record not found", headers)
        try:
            limit = int(request.query("limit") or DEFAULT_LIMIT)
        except ValueError:
            limit = DEFAULT_LIMIT
        limit = max(1, min(MAX_LIMIT, abs(limit)))
        ids = account.status_ids
        high = len(ids)
        low = 0
        max_id, since_id, min_id = (_int(request.query(name)) for name in ("max_id", "since_id", "min_id"))
        if max_id is not None:
            high = bisect.bisect_left(ids, max_id)
        if since_id is not None:
            low = bisect.bisect_right(ids, since_id)
        if min_id is not None:
            low = max(low, bisect.bisect_right(ids, min_id))
        exclude_replies = _boolean(request.query("exclude_replies"))
        exclude_reblogs = _boolean(request.query("exclude_reblogs"))
        only_media = _boolean(request.query("only_media"))
        owner = viewer is account

        def wanted(status: Status) -> bool:
            if not owner and status.visibility not in ("public", "unlisted"):
                return False
            if exclude_replies and status.in_reply_to is not None:
                return False
            if exclude_reblogs and status.reblog_of is not None:
                return False
            return not (only_media and not status.media_ids)

        found: list[Status] = []
        if min_id is not None:  # the page just after min_id, still answered newest first
            for index in range(low, high):
                if wanted(account.statuses[index]):
                    found.append(account.statuses[index])
                    if len(found) == limit:
                        break
            found.reverse()
        else:
            for index in range(high - 1, low - 1, -1):
                if wanted(account.statuses[index]):
                    found.append(account.statuses[index])
                    if len(found) == limit:
                        break
        if found:
            path = f"{self.simulator.public_url}/api/v1/accounts/{account.id}/statuses"
            headers = [
                *headers,
                (
                    "Link",
                    f'<{path}?limit={limit}&max_id={found[-1].id}>; rel="next", '
                    f'<{path}?limit={limit}&min_id={found[0].id}>; rel="prev"',
                ),
            ]
        return json_response([status.as_json() for status in found], 200, headers)

    # Interactions and notifications ------------------------------------------------------------------------

    def _notify(self, account: Account, kind: str, actor: Account, status: Status | None, when: float) -> None:
        self.last_notification_id += 1
        account.notifications.append(Notification(self.last_notification_id, kind, when, actor, status))

    def favourite(self, request: Request) -> Response:
        viewer, early, headers = self._guard(request, auth_required=True)
        if early is not None:
            return early
        assert viewer is not None
        status = self._find_status(request, viewer)
        if status is None:
            return error_response(404, "Record not found", headers)
        status = status.reblog_of or status  # favouriting a boost favourites the boosted status
        if viewer.id not in status.favourited_by:
            status.favourited_by.add(viewer.id)
            if status.account is not viewer:
                self._notify(status.account, "favourite", viewer, status, time.time())
        data = status.as_json()
        data["favourited"] = True
        return json_response(data, 200, headers)

    def reblog(self, request: Request) -> Response:
        viewer, early, headers = self._guard(request, auth_required=True)
        if early is not None:
            return early
        assert viewer is not None
        status = self._find_status(request, viewer)
        if status is None:
            return error_response(404, "Record not found", headers)
        status = status.reblog_of or status
        if status.visibility not in ("public", "unlisted"):
            return error_response(403, "This action is not allowed", headers)
        boost = status.reblogged_by.get(viewer.id)
        if boost is None or boost.deleted:  # boosting twice answers the same boost
            now = time.time()
            boost_id = self._next_id(now)
            boost = Status(
                id=boost_id,
                account=viewer,
                text="",
                spoiler_text="",
                visibility="public",
                sensitive=False,
                language=None,
                media_ids=[],
                in_reply_to=None,
                poll=None,
                created_at=(boost_id >> 16) / 1000,
                content="",
                tags=[],
                base_url=self.simulator.public_url,
                reblog_of=status,
            )
            self.statuses[boost_id] = boost
            viewer.statuses.append(boost)
            viewer.status_ids.append(boost_id)
            status.reblogged_by[viewer.id] = boost
            if status.account is not viewer:
                self._notify(status.account, "reblog", viewer, status, boost.created_at)
        data = boost.as_json()
        data["reblog"]["reblogged"] = True
        return json_response(data, 200, headers)

    def follow(self, request: Request) -> Response:
        viewer, early, headers = self._guard(request, auth_required=True)
        if early is not None:
            return early
        assert viewer is not None
        target = self.accounts.get(request.path_params["id"])
        if target is None:
            return error_response(404, "Record not found", headers)
        if target is viewer:
            return error_response(403, "This action is not allowed", headers)
        if viewer.id not in target.followers:
            target.followers.add(viewer.id)
            viewer.following.add(target.id)
            self._notify(target, "follow", viewer, None, time.time())
        relationship = {
            "id": target.id,
            "following": True,
            "showing_reblogs": True,
            "notifying": False,
            "languages": None,
            "followed_by": target.id in viewer.followers,
            "blocking": False,
            "blocked_by": False,
            "muting": False,
            "muting_notifications": False,
            "requested": False,
            "requested_by": False,
            "domain_blocking": False,
            "endorsed": False,
            "note": "",
        }
        return json_response(relationship, 200, headers)

    def lookup_account(self, request: Request) -> Response:
        _, early, headers = self._guard(request, auth_required=False)
        if early is not None:
            return early
        acct = (request.query("acct") or "").lstrip("@")
        name, _at, domain = acct.partition("@")
        local = self.simulator.public_url.split("://", 1)[-1]
        account = self.accounts_by_name.get(name) if not domain or domain == local else None
        if account is None:
            return error_response(404, "Record not found", headers)
        return json_response(account.as_json(self.simulator.public_url), 200, headers)

    def notifications(self, request: Request) -> Response:
        account, early, headers = self._guard(request, auth_required=True)
        if early is not None:
            return early
        assert account is not None
        types = {value for key, value in request.query_pairs() if key in ("types[]", "types")}
        excluded = {value for key, value in request.query_pairs() if key in ("exclude_types[]", "exclude_types")}
        try:
            limit = int(request.query("limit") or NOTIFICATIONS_DEFAULT_LIMIT)
        except ValueError:
            limit = NOTIFICATIONS_DEFAULT_LIMIT
        limit = max(1, min(NOTIFICATIONS_MAX_LIMIT, abs(limit)))
        max_id, since_id, min_id = (_int(request.query(name)) for name in ("max_id", "since_id", "min_id"))

        def wanted(notification: Notification) -> bool:
            if types and notification.type not in types:
                return False
            if notification.type in excluded:
                return False
            if notification.status is not None and notification.status.deleted:
                return False  # Mastodon removes the notifications of a deleted status
            if max_id is not None and notification.id >= max_id:
                return False
            if since_id is not None and notification.id <= since_id:
                return False
            return min_id is None or notification.id > min_id

        candidates = [notification for notification in account.notifications if wanted(notification)]
        # Newest first; with min_id, the page just after min_id (still answered newest first).
        found = candidates[:limit][::-1] if min_id is not None else candidates[::-1][:limit]
        if found:
            kept = [(key, value) for key, value in request.query_pairs() if key not in ("max_id", "min_id", "since_id")]
            path = f"{self.simulator.public_url}/api/v1/notifications"
            older = urlencode([("max_id", str(found[-1].id)), *kept])
            newer = urlencode([("min_id", str(found[0].id)), *kept])
            headers = [*headers, ("Link", f'<{path}?{older}>; rel="next", <{path}?{newer}>; rel="prev"')]
        base = self.simulator.public_url
        return json_response([notification.as_json(base) for notification in found], 200, headers)

    # Instance ----------------------------------------------------------------------------------------------

    def _configuration(self, request: Request) -> dict[str, Any]:
        knobs = request.knobs or self.simulator.knobs
        return {
            "urls": {"streaming": None},
            "accounts": {"max_featured_tags": 10, "max_pinned_statuses": 5},
            "statuses": {
                "max_characters": knobs.max_characters,
                "max_media_attachments": MAX_MEDIA_ATTACHMENTS,
                "characters_reserved_per_url": CHARACTERS_RESERVED_PER_URL,
            },
            "media_attachments": {
                "supported_mime_types": ["image/jpeg", "image/png", "image/gif", "image/webp", "video/mp4"],
                "image_size_limit": 16777216,
                "image_matrix_limit": 33177600,
                "video_size_limit": 103809024,
                "video_frame_rate_limit": 120,
                "video_matrix_limit": 8294400,
            },
            "polls": {
                "max_options": 4,
                "max_characters_per_option": 50,
                "min_expiration": 300,
                "max_expiration": 2629746,
            },
            "translation": {"enabled": False},
        }

    def instance_v2(self, request: Request) -> Response:
        base = self.simulator.public_url
        domain = base.split("://", 1)[-1]
        return json_response(
            {
                "domain": domain,
                "title": "Beffroi simulator",
                "version": "4.3.0",
                "source_url": "https://github.com/mastodon/mastodon",
                "description": "A simulated Mastodon instance for Beffroi's tests and benchmarks.",
                "usage": {"users": {"active_month": len(self.accounts)}},
                "thumbnail": {"url": f"{base}/packs/media/images/preview.png"},
                "languages": ["en", "fr"],
                "configuration": self._configuration(request),
                "registrations": {"enabled": False, "approval_required": False, "message": None},
                "contact": {"email": "", "account": None},
                "rules": [],
            }
        )

    def instance_v1(self, request: Request) -> Response:
        base = self.simulator.public_url
        return json_response(
            {
                "uri": base.split("://", 1)[-1],
                "title": "Beffroi simulator",
                "short_description": "A simulated Mastodon instance.",
                "description": "",
                "email": "",
                "version": "4.3.0",
                "urls": {"streaming_api": None},
                "stats": {"user_count": len(self.accounts), "status_count": len(self.statuses), "domain_count": 1},
                "languages": ["en", "fr"],
                "registrations": False,
                "approval_required": False,
                "invites_enabled": False,
                "configuration": self._configuration(request),
                "contact_account": None,
                "rules": [],
            }
        )


def _made_up_media(media_id: str, base_url: str) -> dict[str, Any]:
    return {
        "id": media_id,
        "type": "image",
        "url": f"{base_url}/system/media_attachments/files/{media_id}/original/image.png",
        "preview_url": f"{base_url}/system/media_attachments/files/{media_id}/small/image.png",
        "remote_url": None,
        "preview_remote_url": None,
        "text_url": None,
        "meta": {},
        "description": None,
        "blurhash": None,
    }


def _pkce_matches(grant: Grant, verifier: str) -> bool:
    if not grant.code_challenge:
        return True  # no PKCE asked at authorisation
    if grant.code_challenge_method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == grant.code_challenge
    return verifier == grant.code_challenge


def _int(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return None
