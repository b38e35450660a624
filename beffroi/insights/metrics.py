"""The measures Beffroi keeps, whatever each network calls them, and why one can be missing.

Each network folder's `insights.py` maps these canonical names to its own metric names (per API version);
everything else — storage, roll-ups, % changes, exports — speaks only these.
"""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy as _


class Metric(StrEnum):
    """Daily account measures (one value per channel per day)."""

    REACH = "reach"  # unique people who saw something of the channel that day
    VIEWS = "views"  # times content was seen (Meta's "media views", formerly impressions)
    INTERACTIONS = "interactions"  # reactions, comments, shares, saves… as the network adds them up
    FOLLOWERS = "followers"  # followers at the end of the day (a level, never summed over days)
    FOLLOWS = "follows"  # new followers that day
    UNFOLLOWS = "unfollows"  # people who stopped following that day


# Not a daily measure: the status row saying whether the network gives followers online per hour.
ONLINE_HOURS = "online_hours"

# Levels are read at a moment (the last value of a period); flows are added up over the days of a period.
LEVELS = frozenset({Metric.FOLLOWERS})
FLOWS = frozenset(Metric) - LEVELS

METRIC_LABELS = {
    Metric.REACH: _("People reached"),
    Metric.VIEWS: _("Views"),
    Metric.INTERACTIONS: _("Interactions"),
    Metric.FOLLOWERS: _("Followers"),
    Metric.FOLLOWS: _("New followers"),
    Metric.UNFOLLOWS: _("Unfollows"),
}


class PostMetric(StrEnum):
    """Lifetime measures of one post (a snapshot keeps all of them at one moment)."""

    VIEWS = "views"
    REACH = "reach"
    LIKES = "likes"  # likes, favourites, reactions
    COMMENTS = "comments"  # comments and replies
    SHARES = "shares"  # shares, reposts, boosts, quotes
    SAVES = "saves"
    INTERACTIONS = "interactions"  # the network's own total where it gives one, else likes+comments+shares+saves


class Dimension(StrEnum):
    """Audience breakdowns."""

    AGE_GENDER = "age_gender"  # keys "F.25-34", "M.18-24", "U.65+"
    COUNTRY = "country"  # ISO 3166 alpha-2
    CITY = "city"  # the network's label, e.g. "Lyon, Auvergne-Rhône-Alpes"
    LANGUAGE = "language"  # BCP 47 / locale, e.g. "fr_FR"


DIMENSION_LABELS = {
    Dimension.AGE_GENDER: _("Age and gender"),
    Dimension.COUNTRY: _("Countries"),
    Dimension.CITY: _("Cities"),
    Dimension.LANGUAGE: _("Languages"),
}


class PostType(StrEnum):
    TEXT = "text"
    PHOTO = "photo"
    VIDEO = "video"
    REEL = "reel"
    LINK = "link"
    CAROUSEL = "carousel"
    STORY = "story"


POST_TYPE_LABELS = {
    PostType.TEXT: _("Text"),
    PostType.PHOTO: _("Photo"),
    PostType.VIDEO: _("Video"),
    PostType.REEL: _("Reel"),
    PostType.LINK: _("Link"),
    PostType.CAROUSEL: _("Carousel"),
    PostType.STORY: _("Story"),
}


class Reason(StrEnum):
    """Why a number is not available. Shown to people; never replaced by zero."""

    NOT_ON_NETWORK = "not_on_network"  # the network has no such measure (Bluesky and Mastodon: no reach)
    TOO_FEW_FOLLOWERS = "too_few_followers"  # Meta withholds it under 100 followers
    NOT_ENOUGH_VIEWERS = "not_enough_viewers"  # Instagram: "(#10) Not enough viewers" on a post
    DEPRECATED = "deprecated"  # the network removed the metric and offers no replacement
    NO_PERMISSION = "no_permission"  # the connection lacks the scope (reconnect with insights permission)
    NO_METRICS = "no_metrics"  # the channel type has no statistics at all (Atom feed)
    NOT_COLLECTED = "not_collected"  # Beffroi has not collected it yet for these days


REASON_LABELS = {
    Reason.NOT_ON_NETWORK: _("This network does not give this measure."),
    Reason.TOO_FEW_FOLLOWERS: _("The network withholds it for accounts with fewer than 100 followers."),
    Reason.NOT_ENOUGH_VIEWERS: _("The network withholds it until enough people have seen the post."),
    Reason.DEPRECATED: _("The network removed this measure and offers no replacement."),
    Reason.NO_PERMISSION: _("The connection does not allow reading statistics; reconnect the channel."),
    Reason.NO_METRICS: _("This channel type has no statistics."),
    Reason.NOT_COLLECTED: _("Not collected yet for these days."),
}
