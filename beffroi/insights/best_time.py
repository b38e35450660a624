"""Best time to post, per channel: ranked weekly slots with expected interactions and a confidence level.

Two kinds of evidence, both from stored data of the channel and both named on the page:
- when its audience is active (the network's online counts, else its stored interactions), as a factor against
  the average hour (×1.4 = 40 % more active than usual);
- how its own posts did by the hour they went out, as the slot's median interactions against the channel's median.
A slot's factor blends the two, trusting the posts more as a slot has more of them (n ÷ (n + 3)); the expected
interactions are the channel's median times that factor. Slots are in the channel's time zone, because the
composer schedules in it.
"""

from __future__ import annotations

import statistics
import zoneinfo
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from beffroi.channels.models import Channel
from beffroi.insights.heatmap import HOURS, heatmap_for
from beffroi.insights.models import ChannelPost

ACTIVITY_DAYS = 90
POSTS_DAYS = 180
PRIOR_POSTS = 3  # a slot's own posts weigh n / (n + 3) against the audience activity
TOP = 5

CONFIDENCE_LABELS = {
    "high": gettext_lazy("high"),
    "medium": gettext_lazy("medium"),
    "low": gettext_lazy("low"),
    "none": gettext_lazy("no data yet"),
}
WEEKDAYS = (
    gettext_lazy("Monday"),
    gettext_lazy("Tuesday"),
    gettext_lazy("Wednesday"),
    gettext_lazy("Thursday"),
    gettext_lazy("Friday"),
    gettext_lazy("Saturday"),
    gettext_lazy("Sunday"),
)


@dataclass
class Slot:
    weekday: int  # 0 = Monday
    hour: int
    factor: float  # against an average slot of this channel
    expected_interactions: float | None
    posts: int  # the channel's posts published in this slot
    activity: float | None  # the audience activity factor alone

    @property
    def label(self) -> str:
        return f"{WEEKDAYS[self.weekday]} {self.hour:02d}:00"


@dataclass
class BestTime:
    channel: Channel
    zone: str
    slots: list[Slot]
    confidence: str
    posts_sample: int
    activity_basis: str  # "online_followers" | "engagements" | "none"
    activity_sample: int
    median_interactions: float | None
    notes: list[str] = field(default_factory=list)

    @property
    def confidence_label(self) -> str:
        return str(CONFIDENCE_LABELS[self.confidence])

    def basis(self) -> str:
        parts = []
        if self.posts_sample:
            parts.append(_("%(count)s posts of this channel") % {"count": self.posts_sample})
        if self.activity_basis == "online_followers":
            parts.append(_("%(count)s days of followers online") % {"count": self.activity_sample})
        elif self.activity_basis == "engagements":
            parts.append(_("%(count)s interactions") % {"count": self.activity_sample})
        return ", ".join(parts) if parts else _("no statistics yet")


def confidence_for(posts: int, activity: int) -> str:
    if posts >= 30 and activity >= 200:
        return "high"
    if posts >= 10 or activity >= 50:
        return "medium"
    if posts or activity:
        return "low"
    return "none"


def best_time(channel: Channel, now=None, top: int = TOP) -> BestTime:
    now = now or timezone.now()
    zone_name = channel.effective_time_zone
    zone = zoneinfo.ZoneInfo(zone_name)
    today = now.astimezone(zone).date()
    heatmap = heatmap_for([channel.pk], zone_name, today - timedelta(days=ACTIVITY_DAYS), today)
    cells = [value for row in heatmap.grid for value in row if value is not None]
    mean = statistics.fmean(cells) if cells else 0.0
    activity = [[(value / mean) if value is not None and mean else None for value in row] for row in heatmap.grid]
    by_slot: dict[tuple[int, int], list[int]] = {}
    interactions = []
    for published_at, value in ChannelPost.objects.filter(
        channel=channel, published_at__gte=now - timedelta(days=POSTS_DAYS), interactions__isnull=False
    ).values_list("published_at", "interactions"):
        local = published_at.astimezone(zone)
        by_slot.setdefault((local.weekday(), local.hour), []).append(value)
        interactions.append(value)
    median = statistics.median(interactions) if interactions else None
    slots = []
    for weekday in range(7):
        for hour in range(HOURS):
            activity_factor = activity[weekday][hour]
            own = by_slot.get((weekday, hour), [])
            factor = activity_factor if activity_factor is not None else (1.0 if own else None)
            if own and median:
                weight = len(own) / (len(own) + PRIOR_POSTS)
                factor = weight * (statistics.median(own) / median) + (1 - weight) * (factor or 1.0)
            if factor is None:
                continue
            expected = median * factor if median is not None else None
            slots.append(Slot(weekday, hour, factor, expected, len(own), activity_factor))
    slots.sort(key=lambda slot: (-slot.factor, -slot.posts, slot.weekday, slot.hour))
    result = BestTime(
        channel,
        zone_name,
        slots[:top],
        confidence_for(len(interactions), heatmap.sample),
        len(interactions),
        heatmap.basis,
        heatmap.sample,
        median,
    )
    if not cells and interactions:
        result.notes.append(_("No audience activity stored yet: ranked by this channel's own posts only."))
    return result


def composer_hint(channels: list[Channel], now=None) -> list[dict]:
    """For the composer, beside the date picker: each channel's best slots and what they are based on."""
    hints = []
    for channel in channels:
        found = best_time(channel, now, top=3)
        if found.confidence == "none":
            continue
        hints.append(
            {
                "channel": str(channel),
                "channel_id": channel.pk,
                "zone": found.zone,
                "slots": [slot.label for slot in found.slots],
                "confidence": found.confidence_label,
                "basis": found.basis(),
            }
        )
    return hints
