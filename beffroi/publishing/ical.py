"""iCalendar feeds (RFC 5545) of an organisation's publications, for Google Calendar, Outlook or Thunderbird.

Each event starts at the wall-clock time chosen in the channel's zone, with that zone's VTIMEZONE in the file,
so a calendar app shows the right local time on both sides of a daylight-saving change.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from icalendar import Calendar, Event, Timezone

from beffroi.channels.models import Channel
from beffroi.organisations.models import descendant_ids
from beffroi.organisations.roles import Action
from beffroi.publishing.models import CalendarFeed, Publication
from beffroi.publishing.states import State

PAST = timedelta(days=90)
FUTURE = timedelta(days=400)
EVENT_LENGTH = timedelta(minutes=15)
SHOWN = [
    State.AWAITING_APPROVAL,
    State.SCHEDULED,
    State.PUBLISHING,
    State.PUBLISHED,
    State.UNKNOWN,
    State.FAILED,
    State.MISSED,
]
ICAL_STATUS = {
    State.AWAITING_APPROVAL: "TENTATIVE",
    State.FAILED: "CANCELLED",
    State.MISSED: "CANCELLED",
}


def feed_publications(feed: CalendarFeed, now: datetime | None = None):
    now = now or timezone.now()
    membership = feed.membership
    channels = Channel.objects.visible_to(membership)
    if feed.group_id is not None:
        channels = channels.filter(group_id__in=descendant_ids(membership.organisation_id, {feed.group_id}))
    return (
        Publication.objects.filter(
            channel__in=channels, state__in=SHOWN, due_at__gte=now - PAST, due_at__lte=now + FUTURE
        )
        .select_related("channel", "post", "channel__organisation")
        .prefetch_related("post__variants")
        .order_by("due_at", "pk")
    )


def build_calendar(feed: CalendarFeed, now: datetime | None = None) -> bytes:
    now = now or timezone.now()
    organisation = feed.membership.organisation
    calendar = Calendar()
    calendar.add("prodid", "-//Beffroi//Publications//FR")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    name = organisation.name if feed.group is None else f"{organisation.name} — {feed.group.name}"
    calendar.add("x-wr-calname", _("Publications: %(name)s") % {"name": name})
    calendar.add("x-wr-timezone", organisation.time_zone)
    host = settings.BASE_URL.split("://", 1)[-1].split("/", 1)[0]
    zones: set[str] = set()
    events = []
    for publication in feed_publications(feed, now):
        channel, post = publication.channel, publication.post
        zone = publication.scheduled_tz or channel.effective_time_zone
        zones.add(zone)
        local = timezone.localtime(publication.due_at, ZoneInfo(zone))
        text = post.text_for(channel.pk)
        event = Event()
        event.add("uid", f"publication-{publication.pk}@{host}")
        event.add("dtstamp", now)
        event.add("last-modified", publication.updated_at)
        event.add("dtstart", local)
        event.add("duration", EVENT_LENGTH)
        first_line = next((line for line in text.splitlines() if line.strip()), "") or _("(picture or video)")
        event.add("summary", f"{channel.get_network_display()} · {channel.display_name} — {first_line[:80]}")
        details = [text, "", f"{_('Status')}: {State(publication.state).label}"]
        if publication.remote_url:
            details.append(publication.remote_url)
        event.add("description", "\n".join(details))
        event.add("status", ICAL_STATUS.get(publication.state, "CONFIRMED"))
        event.add("categories", [channel.get_network_display()])
        link = publication.remote_url or f"{settings.BASE_URL}/o/{organisation.slug}/publications/"
        event.add("url", link)
        events.append(event)
    for zone in sorted(zones):
        calendar.add_component(Timezone.from_tzid(zone))
    for event in events:
        calendar.add_component(event)
    return calendar.to_ical()


def feed_for_token(token: str) -> CalendarFeed | None:
    """The feed, if its person may still see publications in that organisation."""
    feed = (
        CalendarFeed.objects.filter(token=token)
        .select_related("membership__organisation", "membership__user", "group")
        .first()
    )
    if feed is None or not feed.membership.user.is_active or not feed.membership.can(Action.VIEW_PUBLICATIONS):
        return None
    return feed
