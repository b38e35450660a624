"""What each network accepts, declared as data.

Every network folder has a `capabilities.py` with one `CAPABILITIES` value; the validator (`validation.py`),
`beffroi check`, the API and the composer all read it, so a limit is written in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum


class Unit(StrEnum):
    """How a network counts text length."""

    GRAPHEMES = "graphemes"  # what a person sees as one character: 👍🏽 and é (e + accent) are one each
    CHARACTERS = "characters"  # Unicode code points
    UTF16 = "utf16"  # UTF-16 code units (JavaScript's length): an emoji outside the BMP counts 2
    BYTES = "bytes"  # UTF-8 bytes


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"


class Feature(StrEnum):
    """What Beffroi can do on a network through its API (later issues fill metrics, inbox and moderation)."""

    PUBLISH = "publish"
    READ_BACK = "read_back"  # read recent posts back (reconciliation after an ambiguous outcome)
    DELETE = "delete"
    POST_METRICS = "post_metrics"
    ACCOUNT_METRICS = "account_metrics"
    AUDIENCE = "audience"
    COMMENTS = "comments"
    MENTIONS = "mentions"
    MESSAGES = "messages"
    HIDE_COMMENTS = "hide_comments"
    DELETE_COMMENTS = "delete_comments"
    BAN = "ban"


class Auth(StrEnum):
    OAUTH = "oauth"
    APP_PASSWORD = "app_password"
    NONE = "none"  # nothing to connect (the Atom feed)


@dataclass(frozen=True)
class MediaRule:
    """Limits for one kind of media on one network."""

    kind: MediaKind
    mime_types: tuple[str, ...]
    max_bytes: int
    min_width: int | None = None
    min_height: int | None = None
    max_width: int | None = None
    max_height: int | None = None
    # Width ÷ height, inclusive: Instagram feed images 4:5 (0.8) to 1.91:1.
    min_aspect: float | None = None
    max_aspect: float | None = None
    min_duration_s: float | None = None
    max_duration_s: float | None = None


@dataclass(frozen=True)
class Capabilities:
    network: str
    label: str
    text_limit: int
    text_unit: Unit
    text_byte_limit: int | None = None  # a second limit in UTF-8 bytes (Bluesky: 3,000)
    url_length: int | None = None  # every URL counts as this many characters (Mastodon: 23)
    remote_mentions_count_as_local: bool = False  # Mastodon: @user@domain counts as @user
    text_limit_is_per_channel: bool = False  # Mastodon: each instance sets its own, read from its configuration
    requires_media: bool = False  # Instagram: no text-only posts
    media: tuple[MediaRule, ...] = ()
    max_media: int = 0
    mixes_media_kinds: bool = False  # images and a video in one post
    max_videos: int = 1
    alt_text_limit: int | None = None  # None: no alt text on this network
    max_hashtags: int | None = None
    max_mentions: int | None = None
    content_warning: bool = False
    polls: bool = False
    threads: bool = False  # a post can be a thread of several parts
    first_comment: bool = False
    reply_controls: bool = False
    link_card: bool = False  # a link preview can be attached
    visibilities: tuple[str, ...] = ()
    # Native scheduling window (min, max ahead), when the network can hold a post until its time itself.
    native_scheduling: tuple[timedelta, timedelta] | None = None
    media_needs_public_url: bool = False  # the network fetches media from a public HTTPS address
    auth: tuple[Auth, ...] = (Auth.OAUTH,)
    features: frozenset[Feature] = field(default_factory=frozenset)
    # Advice from the training decks and the networks' guides: warnings, never errors.
    video_advice_square: bool = False

    def rule_for(self, kind: MediaKind) -> MediaRule | None:
        return next((rule for rule in self.media if rule.kind == kind), None)

    def supports(self, feature: Feature) -> bool:
        return feature in self.features

    def as_json(self) -> dict:
        """The capabilities as the API and the composer see them."""
        return {
            "network": self.network,
            "label": self.label,
            "text_limit": self.text_limit,
            "text_unit": str(self.text_unit),
            "text_byte_limit": self.text_byte_limit,
            "url_length": self.url_length,
            "text_limit_is_per_channel": self.text_limit_is_per_channel,
            "requires_media": self.requires_media,
            "max_media": self.max_media,
            "media": [
                {
                    "kind": str(rule.kind),
                    "mime_types": list(rule.mime_types),
                    "max_bytes": rule.max_bytes,
                    "min_aspect": rule.min_aspect,
                    "max_aspect": rule.max_aspect,
                    "min_duration_s": rule.min_duration_s,
                    "max_duration_s": rule.max_duration_s,
                }
                for rule in self.media
            ],
            "alt_text_limit": self.alt_text_limit,
            "max_hashtags": self.max_hashtags,
            "max_mentions": self.max_mentions,
            "content_warning": self.content_warning,
            "polls": self.polls,
            "threads": self.threads,
            "first_comment": self.first_comment,
            "reply_controls": self.reply_controls,
            "visibilities": list(self.visibilities),
            "native_scheduling": (
                [int(self.native_scheduling[0].total_seconds()), int(self.native_scheduling[1].total_seconds())]
                if self.native_scheduling
                else None
            ),
            "media_needs_public_url": self.media_needs_public_url,
            "auth": [str(a) for a in self.auth],
            "features": sorted(str(f) for f in self.features),
        }


MB = 1024 * 1024
