"""The cross-page duplicate guard: the same (or nearly the same) post on two of an organisation's pages of one
network, within a window, reaches the fans of both pages twice — the decks say "évitez en tout temps les
doublons". Found here; the publishing service refuses such a post unless a reason is recorded.

"Nearly the same" survives small edits: case, accents, punctuation, emoji, spacing and links are ignored, and two
texts match when most of their five-letter sequences are shared. The same picture or video also matches.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import regex

from beffroi.channels.models import Channel
from beffroi.networks.text import find_urls, replace_spans
from beffroi.publishing.models import Publication
from beffroi.publishing.states import State

SIMILAR = 0.8  # share of five-letter sequences in common (Jaccard) from which two texts are "the same post"
# States in which a publication is (or will be) in front of the page's fans.
LIVE_STATES = [State.AWAITING_APPROVAL, State.SCHEDULED, State.PUBLISHING, State.PUBLISHED, State.UNKNOWN]
_WORD = regex.compile(r"[\p{L}\p{N}]+")


def words(text: str) -> list[str]:
    """The words that make a post what it is: no links, accents, case, punctuation or emoji."""
    without_links = replace_spans(text, find_urls(text), lambda _span: " ")
    plain = unicodedata.normalize("NFKD", without_links.casefold())
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return _WORD.findall(plain)


SHINGLE = 5  # characters


def _shingles(tokens: list[str]) -> set[str]:
    """Five-letter sequences of the words run together: "14 h" and "14h", "à" and "a" give the same ones."""
    joined = "".join(tokens)
    if len(joined) <= SHINGLE:
        return {joined} if joined else set()
    return {joined[i : i + SHINGLE] for i in range(len(joined) - SHINGLE + 1)}


def similarity(a: str, b: str) -> float:
    first, second = _shingles(words(a)), _shingles(words(b))
    if not first or not second:
        return 0.0
    return len(first & second) / len(first | second)


@dataclass
class Planned:
    """One channel of a post about to be scheduled."""

    channel: Channel
    text: str
    due_at: datetime
    media: frozenset[str] = field(default_factory=frozenset)  # sha256 of its files


@dataclass
class Duplicate:
    channel: Channel  # the channel being planned
    other_channel: Channel
    other_due_at: datetime
    other_publication: Publication | None  # None: another channel of the same post
    same_media: bool
    text_similarity: float


def find_duplicates(organisation, planned: list[Planned], *, exclude_post_id: int | None = None) -> list[Duplicate]:
    hours = organisation.duplicate_window_hours
    if not hours or not planned:
        return []
    window = timedelta(hours=hours)
    found: list[Duplicate] = []
    # Within the post: two pages of one network.
    for index, first in enumerate(planned):
        for second in planned[index + 1 :]:
            if first.channel.network != second.channel.network or abs(first.due_at - second.due_at) > window:
                continue
            duplicate = _compare(first, second.channel, second.text, second.media, second.due_at, None)
            if duplicate:
                found.append(duplicate)
    # Against what is already planned or published on the organisation's other pages of the same network.
    networks = {p.channel.network for p in planned}
    earliest = min(p.due_at for p in planned) - window
    latest = max(p.due_at for p in planned) + window
    existing = (
        Publication.objects.filter(
            channel__organisation=organisation,
            channel__network__in=networks,
            state__in=LIVE_STATES,
            due_at__range=(earliest, latest),
        )
        .select_related("channel", "post")
        .prefetch_related("post__variants", "post__media__media")
    )
    if exclude_post_id is not None:
        existing = existing.exclude(post_id=exclude_post_id)
    for publication in existing:
        other_text = publication.post.text_for(publication.channel_id)
        other_media = frozenset(use.media.sha256 for use in publication.post.media.all())
        for plan in planned:
            if (
                publication.channel_id == plan.channel.pk
                or publication.channel.network != plan.channel.network
                or abs(publication.due_at - plan.due_at) > window
            ):
                continue
            duplicate = _compare(plan, publication.channel, other_text, other_media, publication.due_at, publication)
            if duplicate:
                found.append(duplicate)
    return found


def _compare(
    plan: Planned, other_channel: Channel, other_text: str, other_media: Iterable[str], other_due, publication
) -> Duplicate | None:
    same_media = bool(plan.media & frozenset(other_media))
    score = similarity(plan.text, other_text)
    if score < SIMILAR and not same_media:
        return None
    return Duplicate(plan.channel, other_channel, other_due, publication, same_media, round(score, 2))
